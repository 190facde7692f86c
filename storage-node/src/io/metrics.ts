/**
 * The storage node's Prometheus metrics, on a prom-client registry of their own (never the global
 * one, so two nodes in one test process do not share counters). Names are `northlight_storage_*`,
 * with the unit last (`_seconds`, `_bytes`, `_lsns`) and `_total` on counters only.
 *
 * The core reports through `StorageMetricsSink`, whose methods are named after the metrics; the
 * integrator adapts it to the core's own metrics interface. Transport counters are read from the
 * TCP endpoint at scrape time (`trackTransport`), so the hot path pays nothing for them.
 *
 * Node's default metrics are included with the same prefix, except the three
 * `nodejs_active_{handles,requests,resources}_total` gauges: a gauge named `_total` makes
 * `promtool check metrics` fail (shared/reference/infra-feasibility.md §3), and the same numbers
 * remain available, by type, in `northlight_storage_nodejs_active_{handles,requests,resources}`.
 */
import { assert } from '@northlight/protocol';
import { DROP_REASONS, type TransportCounters } from '@northlight/protocol/io';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const STORAGE_METRIC_PREFIX = 'northlight_storage_';

/** Default-metric gauges whose `_total` suffix breaks the exposition format's naming rule. */
export const EXCLUDED_DEFAULT_METRICS: readonly string[] = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
].map((name) => STORAGE_METRIC_PREFIX + name);

/**
 * Append latency buckets, in seconds: 50 µs to 5 s. An fsync on this project's machines takes about
 * 0.1–0.3 ms and on real disks a few ms; the upper buckets catch a stalled disk.
 */
export const APPEND_LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Page read latency buckets, in seconds: the same 50 µs … 5 s range as appends. */
export const PAGE_READ_LATENCY_BUCKETS_SECONDS: readonly number[] = APPEND_LATENCY_BUCKETS_SECONDS;

/**
 * Label values (segment states, file kinds, error codes, drop reasons) come from small closed sets in
 * the core; more distinct values than this on one label is a bug, not a busy node.
 */
export const MAX_LABEL_VALUES = 32;
/** Segments tracked for the node-wide materialization lag; more means segments are never forgotten. */
export const MAX_TRACKED_SEGMENTS = 100_000;

/** What the storage node reports. Counts and sizes are non-negative; `add*` values are increments. */
export interface StorageMetricsSink {
  /** Time from receiving an append batch to acknowledging it (durable). */
  observeAppendLatencyMs(latencyMs: number): void;
  addAppendedBytes(bytes: number): void;
  addAppendedRecords(records: number): void;
  /** fsyncs of one kind of file (`log` by default; `control`, `pages`…). */
  addFsyncs(fsyncs?: number, file?: string): void;
  /** Append batches received and not yet acknowledged. */
  setAppendQueueDepth(batches: number): void;
  /** Bytes of those batches queued behind the write in flight. */
  setAppendQueueBytes(bytes: number): void;
  addGossipFetchedRecords(records: number): void;
  /** A gossip pull sent to a peer, or a peer's pull served. */
  addGossipPulls(direction: 'sent' | 'served'): void;
  /** A damaged page image replaced by a peer's copy. */
  addRepairedPages(pages: number): void;
  /** One object staged to the object store (one PUT) of `bytes`, by kind of object (chunk, base, manifest). */
  addBackupUploadedBytes(kind: string, bytes: number): void;
  /** The largest (SCL − highest materialized LSN) over this node's segments. */
  setMaterializationLagLsns(lagLsns: number | bigint): void;
  /** One segment's lag; the gauge then shows the largest over the segments reported and not forgotten. */
  setSegmentMaterializationLagLsns(segmentId: string, lagLsns: number | bigint): void;
  /** Stops counting a dropped or migrated segment in the node-wide lag. */
  forgetSegment(segmentId: string): void;
  addMaterializedPages(pages: number): void;
  /** Bytes of log not yet staged to the object store, over this node's segments. */
  setBackupLagBytes(bytes: number): void;
  /** Age of the oldest log byte not yet staged to the object store. */
  setBackupLagSeconds(seconds: number): void;
  /** Segments whose backup names a chunk missing or damaged in the object store. */
  setBackupBrokenSegments(segments: number): void;
  /** The longest a stageable record waits before it is staged (`--backup-max-delay-ms`; 0: every tick). */
  setBackupMaxDelaySeconds(seconds: number): void;
  /** Bytes taken in by hydrations, and seconds they waited for the node's bandwidth limit. */
  addHydration(bytes: number, throttledSeconds: number): void;
  /** The node's hydration bandwidth limit, bytes per second (0: none). */
  setHydrationLimit(bytesPerSecond: number): void;
  addGcReclaimedBytes(bytes: number): void;
  addGcDeletedLogFiles(files: number): void;
  /** Checksum errors found in stored data of one kind (`record` by default; `page`, `log-region`…). */
  addScrubErrors(errors?: number, kind?: string): void;
  /** Requests answered with request-rejected, by error code. */
  addRejectedRequests(code: string, requests?: number): void;
  /** Messages the core dropped without a reply, by reason (the transport counts its own drops). */
  addDroppedMessages(reason: string, messages?: number): void;
  observePageReadLatencyMs(latencyMs: number): void;
  /** Page image cache lookups, by result: hit or miss (read from disk). */
  addPageCacheLookups(result: 'hit' | 'miss', lookups?: number): void;
  /** How many segments are in each state; states missing from `countsByState` are set to 0. */
  setSegmentCounts(countsByState: Readonly<Record<string, number>>): void;
  /** Bytes on disk by file kind (log, pages, control). */
  setDiskBytes(bytesByFile: Readonly<Record<'log' | 'pages' | 'control', number>>): void;
  /** The node's heat: records the writer appended and pages read per second (a 10 s window). */
  setHeat(appendRecordsPerSecond: number, readPagesPerSecond: number): void;
  /** Memory held by the page image cache and the record cache. */
  setCacheBytes(bytesByCache: Readonly<Record<'pages' | 'records', number>>): void;
}

/** Anything that can report transport counters (a `TcpNetworkEndpoint`). */
export interface TransportCountersSource {
  counters(): TransportCounters;
}

export interface PrometheusStorageMetricsOptions {
  /** Include Node's process metrics (CPU, memory, event loop, GC). Default true. */
  readonly defaultMetrics?: boolean;
  /** Labels added to every series, e.g. `{ node_id, zone }`. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

function checkAmount(name: string, value: number): number {
  assert(Number.isFinite(value) && value >= 0, `${name} must be a finite non-negative number: ${value}`);
  return value;
}

export class PrometheusStorageMetrics implements StorageMetricsSink {
  readonly registry = new Registry();
  readonly #appendLatency: Histogram;
  readonly #appendedBytes: Counter;
  readonly #appendedRecords: Counter;
  readonly #fsyncs: Counter<'file'>;
  readonly #httpAuthFailures: Counter;
  readonly #appendQueueDepth: Gauge;
  readonly #appendQueueBytes: Gauge;
  readonly #gossipFetchedRecords: Counter;
  readonly #gossipPulls: Counter<'direction'>;
  readonly #repairedPages: Counter;
  readonly #backupUploadedBytes: Counter<'kind'>;
  readonly #backupUploads: Counter<'kind'>;
  readonly #backupMaxDelaySeconds: Gauge;
  readonly #materializationLag: Gauge;
  readonly #segmentLags = new Map<string, number>();
  readonly #materializedPages: Counter;
  readonly #backupLagBytes: Gauge;
  readonly #backupLagSeconds: Gauge;
  readonly #backupBrokenSegments: Gauge;
  readonly #hydrationBytes: Counter;
  readonly #hydrationThrottled: Counter;
  readonly #hydrationLimit: Gauge;
  readonly #gcReclaimedBytes: Counter;
  readonly #gcDeletedLogFiles: Counter;
  readonly #scrubErrors: Counter<'kind'>;
  readonly #rejectedRequests: Counter<'code'>;
  readonly #droppedMessages: Counter<'reason'>;
  readonly #pageReadLatency: Histogram;
  readonly #pageCacheLookups: Counter<'result'>;
  readonly #segments: Gauge<'state'>;
  readonly #diskBytes: Gauge<'file'>;
  readonly #heat: Gauge<'kind'>;
  readonly #cacheBytes: Gauge<'cache'>;
  readonly #beforeScrape: (() => void)[] = [];
  readonly #labelValues = new Map<string, Set<string>>();
  #transportTracked = false;

  constructor(options: PrometheusStorageMetricsOptions = {}) {
    if (options.defaultLabels !== undefined) this.registry.setDefaultLabels({ ...options.defaultLabels });
    const registers = [this.registry];
    const name = (suffix: string): string => STORAGE_METRIC_PREFIX + suffix;
    const counter = (suffix: string, help: string): Counter =>
      new Counter({ name: name(suffix), help, registers });
    const labelled = <Label extends string>(suffix: string, help: string, label: Label): Counter<Label> =>
      new Counter({ name: name(suffix), help, labelNames: [label], registers });
    const gauge = (suffix: string, help: string): Gauge => new Gauge({ name: name(suffix), help, registers });
    const histogram = (suffix: string, help: string, buckets: readonly number[]): Histogram =>
      new Histogram({ name: name(suffix), help, buckets: [...buckets], registers });

    this.#appendLatency = histogram(
      'append_latency_seconds',
      'Time from receiving an append batch to acknowledging it durably.',
      APPEND_LATENCY_BUCKETS_SECONDS,
    );
    this.#appendedBytes = counter('appended_bytes_total', 'Bytes of redo records appended to segment logs.');
    this.#appendedRecords = counter('appended_records_total', 'Redo records appended to segment logs.');
    this.#fsyncs = labelled('fsyncs_total', 'fsync/fdatasync calls, by kind of file.', 'file');
    this.#httpAuthFailures = counter(
      'http_auth_failures_total',
      'Admin API requests refused for a missing or wrong internal token (401).',
    );
    this.#appendQueueDepth = gauge('append_queue_depth', 'Append batches received and not yet acknowledged.');
    this.#appendQueueBytes = gauge(
      'append_queue_bytes',
      'Bytes of append batches queued behind the write in flight.',
    );
    this.#gossipFetchedRecords = counter(
      'gossip_fetched_records_total',
      'Records fetched from PG peers to fill gaps (gossip).',
    );
    this.#gossipPulls = labelled(
      'gossip_pulls_total',
      "Gossip pulls sent to PG peers, and peers' pulls served, by direction.",
      'direction',
    );
    this.#pageCacheLookups = labelled(
      'page_cache_lookups_total',
      "Page image lookups in the page store's image cache, by result (hit, or miss: read from disk).",
      'result',
    );
    this.#repairedPages = counter('repaired_pages_total', "Damaged page images replaced by a peer's copy.");
    this.#backupUploadedBytes = labelled(
      'backup_uploaded_bytes_total',
      'Bytes staged to the object store, by kind of object (chunk, base, manifest; merged: small chunks uploaded again as one).',
      'kind',
    );
    this.#backupUploads = labelled(
      'backup_uploads_total',
      'Objects staged to the object store (PUT requests, each billed), by kind of object (chunk, base, manifest, merged).',
      'kind',
    );
    this.#materializationLag = gauge(
      'materialization_lag_lsns',
      'Largest distance, in LSNs, between a segment SCL and its highest materialized LSN.',
    );
    this.#materializedPages = counter('materialized_pages_total', 'Page images written by materialization.');
    this.#backupLagBytes = gauge('backup_lag_bytes', 'Bytes of log not yet staged to the object store.');
    this.#backupLagSeconds = gauge(
      'backup_lag_seconds',
      'Age of the oldest log byte not yet staged to the object store.',
    );
    this.#backupBrokenSegments = gauge(
      'backup_broken_segments',
      'Segments whose backup names a chunk missing or damaged in the object store (it cannot be restored past it until the next base).',
    );
    this.#backupMaxDelaySeconds = gauge(
      'backup_max_delay_seconds',
      'The longest a stageable log record waits before it is staged to the object store (0: every tick).',
    );
    this.#hydrationBytes = counter(
      'hydration_bytes_total',
      'Bytes taken in by hydrations (peer snapshots and restores from the object store).',
    );
    this.#hydrationThrottled = counter(
      'hydration_throttled_seconds_total',
      "Seconds hydrations waited for the node's hydration bandwidth limit (summed over hydrations).",
    );
    this.#hydrationLimit = gauge(
      'hydration_limit_bytes_per_second',
      "The node's hydration bandwidth limit in bytes per second (0: no limit).",
    );
    this.#gcReclaimedBytes = counter('gc_reclaimed_bytes_total', 'Bytes reclaimed by garbage collection.');
    this.#gcDeletedLogFiles = counter(
      'gc_deleted_log_files_total',
      'Log files deleted because nothing in them was live any more.',
    );
    this.#scrubErrors = labelled(
      'scrub_errors_total',
      'Checksum errors found in stored data (by scrub, read or replay), by kind.',
      'kind',
    );
    this.#rejectedRequests = labelled(
      'rejected_requests_total',
      'Requests answered with request-rejected, by error code.',
      'code',
    );
    this.#droppedMessages = labelled(
      'dropped_messages_total',
      'Messages the core dropped without a reply, by reason.',
      'reason',
    );
    this.#pageReadLatency = histogram(
      'page_read_latency_seconds',
      'Time to serve a page read.',
      PAGE_READ_LATENCY_BUCKETS_SECONDS,
    );
    this.#segments = new Gauge({
      name: name('segments'),
      help: 'Segments on this node, by state.',
      labelNames: ['state'],
      registers,
    });
    this.#diskBytes = new Gauge({
      name: name('disk_bytes'),
      help: 'Bytes the node holds on disk, by file kind (log, pages, control).',
      labelNames: ['file'],
      registers,
    });
    this.#heat = new Gauge({
      name: name('heat_ops_per_second'),
      help: "The node's heat over a 10 s window, by kind: records the writer appended (append), pages read (read).",
      labelNames: ['kind'],
      registers,
    });
    this.#cacheBytes = new Gauge({
      name: name('cache_bytes'),
      help: 'Memory held by the page image cache (pages) and the record cache (records).',
      labelNames: ['cache'],
      registers,
    });
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: STORAGE_METRIC_PREFIX });
      for (const excluded of EXCLUDED_DEFAULT_METRICS) this.registry.removeSingleMetric(excluded);
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Runs `hook` at every scrape, before the text is rendered: for gauges read off the core's status
   * (segments by state, disk bytes, heat, cache bytes) rather than kept up to date on every change.
   */
  beforeScrape(hook: () => void): void {
    this.#beforeScrape.push(hook);
  }

  /** The exposition text a scrape of `/metrics` returns. */
  metricsText(): Promise<string> {
    for (const hook of this.#beforeScrape) hook();
    return this.registry.metrics();
  }

  setDiskBytes(bytesByFile: Readonly<Record<'log' | 'pages' | 'control', number>>): void {
    for (const [file, bytes] of Object.entries(bytesByFile))
      this.#diskBytes.set({ file }, checkAmount(`${file} disk bytes`, bytes));
  }

  setHeat(appendRecordsPerSecond: number, readPagesPerSecond: number): void {
    this.#heat.set({ kind: 'append' }, checkAmount('append heat', appendRecordsPerSecond));
    this.#heat.set({ kind: 'read' }, checkAmount('read heat', readPagesPerSecond));
  }

  setCacheBytes(bytesByCache: Readonly<Record<'pages' | 'records', number>>): void {
    for (const [cache, bytes] of Object.entries(bytesByCache))
      this.#cacheBytes.set({ cache }, checkAmount(`${cache} cache bytes`, bytes));
  }

  observeAppendLatencyMs(latencyMs: number): void {
    this.#appendLatency.observe(checkAmount('append latency', latencyMs) / 1_000);
  }

  addAppendedBytes(bytes: number): void {
    this.#appendedBytes.inc(checkAmount('appended bytes', bytes));
  }

  addAppendedRecords(records: number): void {
    this.#appendedRecords.inc(checkAmount('appended records', records));
  }

  /** One admin request refused for want of the internal token. */
  addHttpAuthFailure(): void {
    this.#httpAuthFailures.inc();
  }

  addFsyncs(fsyncs = 1, file = 'log'): void {
    this.#fsyncs.inc({ file: this.#label('file', file) }, checkAmount('fsyncs', fsyncs));
  }

  setAppendQueueDepth(batches: number): void {
    this.#appendQueueDepth.set(checkAmount('append queue depth', batches));
  }

  setAppendQueueBytes(bytes: number): void {
    this.#appendQueueBytes.set(checkAmount('append queue bytes', bytes));
  }

  addGossipFetchedRecords(records: number): void {
    this.#gossipFetchedRecords.inc(checkAmount('gossip fetched records', records));
  }

  addGossipPulls(direction: 'sent' | 'served'): void {
    this.#gossipPulls.inc({ direction });
  }

  addBackupUploadedBytes(kind: string, bytes: number): void {
    const labels = { kind: this.#label('kind', kind) };
    this.#backupUploadedBytes.inc(labels, checkAmount('backup uploaded bytes', bytes));
    this.#backupUploads.inc(labels);
  }

  addRepairedPages(pages: number): void {
    this.#repairedPages.inc(checkAmount('repaired pages', pages));
  }

  setMaterializationLagLsns(lagLsns: number | bigint): void {
    this.#materializationLag.set(checkAmount('materialization lag', Number(lagLsns)));
  }

  setSegmentMaterializationLagLsns(segmentId: string, lagLsns: number | bigint): void {
    this.#segmentLags.set(segmentId, checkAmount('materialization lag', Number(lagLsns)));
    assert(
      this.#segmentLags.size <= MAX_TRACKED_SEGMENTS,
      `more than ${MAX_TRACKED_SEGMENTS} segments tracked`,
    );
    this.#publishLargestLag();
  }

  forgetSegment(segmentId: string): void {
    if (this.#segmentLags.delete(segmentId)) this.#publishLargestLag();
  }

  /** O(segments) per report; a node holds thousands at most, and lag is reported per materialization. */
  #publishLargestLag(): void {
    let largest = 0;
    for (const lag of this.#segmentLags.values()) largest = Math.max(largest, lag);
    this.#materializationLag.set(largest);
  }

  addMaterializedPages(pages: number): void {
    this.#materializedPages.inc(checkAmount('materialized pages', pages));
  }

  setBackupLagBytes(bytes: number): void {
    this.#backupLagBytes.set(checkAmount('backup lag bytes', bytes));
  }

  setBackupLagSeconds(seconds: number): void {
    this.#backupLagSeconds.set(checkAmount('backup lag seconds', seconds));
  }

  setBackupBrokenSegments(segments: number): void {
    this.#backupBrokenSegments.set(checkAmount('backup broken segments', segments));
  }

  setBackupMaxDelaySeconds(seconds: number): void {
    this.#backupMaxDelaySeconds.set(checkAmount('backup max delay', seconds));
  }

  addHydration(bytes: number, throttledSeconds: number): void {
    this.#hydrationBytes.inc(checkAmount('hydration bytes', bytes));
    this.#hydrationThrottled.inc(checkAmount('hydration throttled seconds', throttledSeconds));
  }

  setHydrationLimit(bytesPerSecond: number): void {
    this.#hydrationLimit.set(checkAmount('hydration limit', bytesPerSecond));
  }

  addGcReclaimedBytes(bytes: number): void {
    this.#gcReclaimedBytes.inc(checkAmount('GC reclaimed bytes', bytes));
  }

  addGcDeletedLogFiles(files: number): void {
    this.#gcDeletedLogFiles.inc(checkAmount('GC deleted log files', files));
  }

  addScrubErrors(errors = 1, kind = 'record'): void {
    this.#scrubErrors.inc({ kind: this.#label('kind', kind) }, checkAmount('scrub errors', errors));
  }

  addRejectedRequests(code: string, requests = 1): void {
    this.#rejectedRequests.inc(
      { code: this.#label('code', code) },
      checkAmount('rejected requests', requests),
    );
  }

  addDroppedMessages(reason: string, messages = 1): void {
    this.#droppedMessages.inc(
      { reason: this.#label('reason', reason) },
      checkAmount('dropped messages', messages),
    );
  }

  observePageReadLatencyMs(latencyMs: number): void {
    this.#pageReadLatency.observe(checkAmount('page read latency', latencyMs) / 1_000);
  }

  addPageCacheLookups(result: 'hit' | 'miss', lookups = 1): void {
    this.#pageCacheLookups.inc({ result }, checkAmount('page cache lookups', lookups));
  }

  setSegmentCounts(countsByState: Readonly<Record<string, number>>): void {
    for (const state of Object.keys(countsByState)) this.#label('state', state);
    for (const state of this.#labelValues.get('state') ?? []) {
      this.#segments.set({ state }, checkAmount(`segments in ${state}`, countsByState[state] ?? 0));
    }
  }

  /** Records `value` among the values seen on `label`, asserting the set stays small; returns it. */
  #label(label: string, value: string): string {
    let values = this.#labelValues.get(label);
    if (values === undefined) {
      values = new Set();
      this.#labelValues.set(label, values);
    }
    values.add(value);
    assert(values.size <= MAX_LABEL_VALUES, `label ${label} has more than ${MAX_LABEL_VALUES} values`);
    return value;
  }

  /**
   * Exposes the transport's counters (messages and bytes sent, received and dropped by reason,
   * connections, decode and handshake errors, queued bytes), read from `source` at each scrape.
   */
  trackTransport(source: TransportCountersSource): void {
    assert(!this.#transportTracked, 'trackTransport called twice');
    this.#transportTracked = true;
    const registers = [this.registry];
    const name = (suffix: string): string => `${STORAGE_METRIC_PREFIX}transport_${suffix}`;
    const fromCounters = (
      suffix: string,
      help: string,
      read: (counters: TransportCounters) => number,
    ): void => {
      new Counter({
        name: name(suffix),
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(source.counters()));
        },
      });
    };
    fromCounters('sent_messages_total', 'Frames handed to a socket.', (c) => c.sentMessages);
    fromCounters('sent_bytes_total', 'Bytes of frames handed to a socket.', (c) => c.sentBytes);
    fromCounters('received_messages_total', 'Frames received and verified.', (c) => c.receivedMessages);
    fromCounters('received_bytes_total', 'Bytes of frames received and verified.', (c) => c.receivedBytes);
    fromCounters('dropped_bytes_total', 'Bytes of messages dropped, for any reason.', (c) => c.droppedBytes);
    fromCounters('connect_attempts_total', 'Outbound dials.', (c) => c.connectAttempts);
    fromCounters(
      'connect_failures_total',
      'Outbound dials that failed before the hellos.',
      (c) => c.connectFailures,
    );
    fromCounters(
      'decode_errors_total',
      'Connections closed because a frame failed to decode.',
      (c) => c.decodeErrors,
    );
    fromCounters(
      'handshake_errors_total',
      'Connections closed for a bad or missing hello.',
      (c) => c.handshakeErrors,
    );
    fromCounters(
      'unauthenticated_connections_total',
      'Connections opened without proof of the internal token (--transport-auth transition: an older build).',
      (c) => c.unauthenticatedConnections,
    );
    fromCounters(
      'auth_failures_total',
      "Connections refused because a side could not prove the cluster's internal token (or had none).",
      (c) => c.authFailures,
    );
    fromCounters(
      'inbound_refused_connections_total',
      'Inbound connections refused at the connection limit.',
      (c) => c.inboundConnectionsRefused,
    );
    new Counter({
      name: name('dropped_messages_total'),
      help: 'Messages dropped: queue_full (oldest dropped at the queue limit), unknown_peer, endpoint_closed, no_handler.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const dropped = source.counters().droppedMessages;
        for (const reason of DROP_REASONS) this.inc({ reason }, dropped[reason]);
      },
    });
    new Counter({
      name: name('established_connections_total'),
      help: 'Connections whose hellos were exchanged, by who opened them.',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        const counters = source.counters();
        this.inc({ direction: 'outbound' }, counters.outboundConnectionsEstablished);
        this.inc({ direction: 'inbound' }, counters.inboundConnectionsEstablished);
      },
    });
    const fromGauge = (suffix: string, help: string, read: (counters: TransportCounters) => number): void => {
      new Gauge({
        name: name(suffix),
        help,
        registers,
        collect() {
          this.set(read(source.counters()));
        },
      });
    };
    fromGauge(
      'send_queue_bytes',
      'Bytes queued for peers and not yet handed to a socket.',
      (c) => c.queuedBytes,
    );
    fromGauge(
      'send_queue_messages',
      'Messages queued for peers and not yet handed to a socket.',
      (c) => c.queuedMessages,
    );
    fromGauge(
      'open_connections',
      'Connections whose hellos were exchanged and that are still open.',
      (c) => c.openConnections,
    );
  }
}
