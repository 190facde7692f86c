/**
 * The engine's Prometheus metrics (`northlight_engine_*`, units in the names), on prom-client. Gauges
 * are read at scrape time from the driver's and the kernel's status; counters and histograms are fed
 * by the HTTP layer as requests finish.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KernelStats } from '../kernel/messages.js';
import type { GateStatus } from '../transaction-gate.js';

export interface EngineMetricsSource {
  /** The writer's driver status; a replica has none. */
  driver?(): {
    readonly state: string;
    readonly vcl: bigint | undefined;
    readonly vdl: bigint | undefined;
    readonly lalHeadroom: bigint | undefined;
    readonly pgCount: number;
    readonly groupsWaiting: number;
    readonly batchesInFlight: number;
    readonly bytesSent: number;
    readonly batchesSent: number;
    readonly batchesResent: number;
    readonly shippedByNode: Readonly<
      Record<string, { readonly bytes: number; readonly batches: number; readonly batchesResent: number }>
    >;
    readonly records: number;
    readonly pageReads: number;
    readonly pageReadRetries: number;
    readonly accepting: boolean;
  };
  /** The kernel's counters; undefined before it started. */
  kernel(): Readonly<Record<string, number>> | undefined;
  /** Seconds the last recovery took; undefined before it finished. */
  recoverySeconds(): number | undefined;
  /** A replica's stream state; undefined on the writer. */
  replica?(): {
    readonly appliedLsn: bigint;
    readonly lsnsBehind: bigint;
    readonly streamConnected: boolean;
    readonly applies: number;
    readonly resyncs: number;
    /** It has mounted the volume and answers reads. */
    readonly serving: boolean;
    /** Pages read from storage on cache misses, and reads sent again to another segment. */
    readonly pageReads: number;
    readonly pageReadRetries: number;
  };
  /** The writer's replicas: how many are subscribed now. */
  replicaCount?(): number;
  /** The PostgreSQL endpoint's counters; undefined before it listens. */
  pg?(): PgCounters | undefined;
  /** The transaction gate (transaction-gate.ts). */
  transactions?(): GateStatus;
}

/** What the PostgreSQL endpoint counts (`io/pg-server.ts`). */
export interface PgCounters {
  readonly connectionsOpen: number;
  readonly connectionsTotal: number;
  readonly connectionsRefused: number;
  readonly errorsBySqlstate: ReadonlyMap<string, number>;
}

/** The kernel counters the gauges read (`kernel` of the source), from the kernel's statistics. */
export function kernelGauges(stats: KernelStats | undefined): Readonly<Record<string, number>> | undefined {
  if (stats === undefined) return undefined;
  return {
    // Two levels, one cache to an operator: a page SQLite asks for comes from its own page cache, then
    // from the buffer cache, and only then from storage. The writer's SQLite cache serves nearly all.
    cacheHits: stats.sqliteCacheHits + stats.cache.hits,
    cacheMisses: stats.pagesReadFromSource,
    cacheEvictions: stats.cache.evictions,
    cachePages: stats.cache.sizePages,
    sizePages: stats.sizePages,
    writesOutsideBracket: stats.writesOutsideBracket,
  };
}

/**
 * Reads the running kernel's statistics every `intervalMs` for the gauges (a kernel answers through
 * its worker, so the gauges cannot ask it at scrape time). The timer does not keep the process alive.
 */
export function pollKernelStats(
  kernel: () => { stats(): Promise<KernelStats> } | undefined,
  onStats: (stats: KernelStats) => void,
  intervalMs: number,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    kernel()
      ?.stats()
      .then(onStats)
      .catch(() => {}); // the kernel is being replaced or closed: the next tick reads the new one
  }, intervalMs);
  timer.unref();
  return timer;
}

const COMMIT_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

export class EngineMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'outcome'>;
  /** HTTP requests refused for want of credentials, by route kind (sql, internal). */
  readonly httpAuthFailures: Counter<'route'>;
  readonly commits: Counter;
  readonly commitLatency: Histogram;
  readonly requestLatency: Histogram<'kind'>;
  /** Writer: from a VDL advance to a replica's feedback that it applied it, per replica. */
  readonly replicaLag: Histogram<'replica'>;

  constructor(source: EngineMetricsSource) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'northlight_engine_requests_total',
      help: 'SQL requests answered, by outcome (ok, sql_error, unavailable, invalid)',
      labelNames: ['outcome'],
      registers,
    });
    this.httpAuthFailures = new Counter({
      name: 'northlight_engine_http_auth_failures_total',
      help: 'HTTP requests refused (401) for missing or wrong credentials, by route kind: sql (POST /v1/sql) or internal (/v1/admin, /v1/replication, /v1/status, /v1/volume)',
      labelNames: ['route'],
      registers,
    });
    this.commits = new Counter({
      name: 'northlight_engine_commits_total',
      help: 'Write transactions acknowledged durable (VDL reached their commit LSN), from HTTP and PostgreSQL clients',
      registers,
    });
    this.commitLatency = new Histogram({
      name: 'northlight_engine_commit_latency_seconds',
      help: "From a commit's submission to the SQL kernel to its durable acknowledgement (HTTP and PostgreSQL clients alike)",
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.requestLatency = new Histogram({
      name: 'northlight_engine_request_latency_seconds',
      help: 'SQL request latency by kind (read, write)',
      labelNames: ['kind'],
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.replicaLag = new Histogram({
      name: 'northlight_replica_lag_seconds',
      help: "Replica visibility lag, measured on the writer: from a VDL advance (the commits it covers can be acknowledged) to the replica's feedback that it applied it",
      labelNames: ['replica'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    // A series that means nothing for this role (the writer's driver on a replica) is not exported at
    // all: prom-client would show an unlabelled gauge that was never set as 0, which reads as a value.
    const writer = source.driver !== undefined;
    const gauge = (
      name: string,
      help: string,
      read: () => number | bigint | undefined,
      present = true,
    ): void => {
      if (!present) return;
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const value = read();
          if (value !== undefined) this.set(Number(value));
        },
      });
    };
    gauge('northlight_engine_vdl', 'Volume durable LSN', () => source.driver?.()?.vdl, writer);
    gauge('northlight_engine_vcl', 'Volume complete LSN', () => source.driver?.()?.vcl, writer);
    gauge(
      'northlight_engine_lal_headroom_lsns',
      'LSNs that may still be allocated before back-pressure (VDL + LAL - last allocated)',
      () => source.driver?.()?.lalHeadroom,
      writer,
    );
    gauge(
      'northlight_engine_serving',
      '1 while the engine serves (the writer: recovered, not fenced; a replica: the volume mounted)',
      () =>
        source.driver !== undefined
          ? source.driver().state === 'serving'
            ? 1
            : 0
          : source.replica?.().serving === true
            ? 1
            : 0,
    );
    gauge(
      'northlight_engine_accepting_writes',
      '1 while storage accepts new commits',
      () => (source.driver === undefined ? undefined : source.driver().accepting ? 1 : 0),
      writer,
    );
    gauge(
      'northlight_replica_applied_lsn',
      'Replica: the VDL its kernel has applied through',
      () => source.replica?.().appliedLsn,
      source.replica !== undefined,
    );
    gauge(
      'northlight_replica_lsns_behind',
      "Replica: LSNs between the writer's VDL it has heard of and what it applied",
      () => source.replica?.().lsnsBehind,
      source.replica !== undefined,
    );
    gauge(
      'northlight_replica_stream_connected',
      "Replica: 1 while the writer's redo stream is connected",
      () => (source.replica === undefined ? undefined : source.replica().streamConnected ? 1 : 0),
      source.replica !== undefined,
    );
    gauge(
      'northlight_replica_resyncs',
      'Replica: restarts from storage after losing the stream',
      () => source.replica?.().resyncs,
      source.replica !== undefined,
    );
    gauge(
      'northlight_engine_replicas',
      'Writer: replicas subscribed to the redo stream',
      () => source.replicaCount?.(),
      writer,
    );
    gauge(
      'northlight_engine_pgs',
      'Protection groups of the volume',
      () => source.driver?.()?.pgCount,
      writer,
    );
    gauge(
      'northlight_engine_groups_waiting',
      'Committed groups not yet durable',
      () => source.driver?.()?.groupsWaiting,
      writer,
    );
    gauge(
      'northlight_engine_batches_in_flight',
      'Append batches sent and not acknowledged',
      () => source.driver?.()?.batchesInFlight,
      writer,
    );
    gauge(
      'northlight_engine_shipped_bytes',
      'Bytes of frames sent to storage (a counter read as a gauge)',
      () => source.driver?.()?.bytesSent,
      writer,
    );
    gauge(
      'northlight_engine_shipped_batches',
      'Append batches sent to storage (a counter read as a gauge)',
      () => source.driver?.()?.batchesSent,
      writer,
    );
    gauge(
      'northlight_engine_resent_batches',
      'Append batches sent again after a resend interval without an answer (a counter read as a gauge)',
      () => source.driver?.()?.batchesResent,
      writer,
    );
    const perNode = (
      name: string,
      help: string,
      read: (shipped: { bytes: number; batches: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['node'],
        registers,
        collect() {
          for (const [node, shipped] of Object.entries(source.driver?.()?.shippedByNode ?? {}))
            this.set({ node }, read(shipped));
        },
      });
    perNode(
      'northlight_engine_shipped_bytes_by_node',
      'Bytes of frames sent to each storage node (a counter read as a gauge)',
      (shipped) => shipped.bytes,
    );
    perNode(
      'northlight_engine_shipped_batches_by_node',
      'Append batches sent to each storage node, re-sends included (a counter read as a gauge)',
      (shipped) => shipped.batches,
    );
    gauge(
      'northlight_engine_redo_records',
      'Redo records allocated (a counter read as a gauge)',
      () => source.driver?.()?.records,
      writer,
    );
    gauge(
      'northlight_engine_page_reads',
      'Pages read from storage on cache misses',
      () => source.driver?.()?.pageReads ?? source.replica?.().pageReads,
    );
    gauge(
      'northlight_engine_page_read_retries',
      'Page reads sent again to another segment',
      () => source.driver?.()?.pageReadRetries ?? source.replica?.().pageReadRetries,
    );
    gauge(
      'northlight_engine_recovery_seconds',
      'Duration of the last crash recovery',
      () => source.recoverySeconds(),
      writer,
    );
    gauge(
      'northlight_engine_pg_connections',
      'PostgreSQL connections open',
      () => source.pg?.()?.connectionsOpen,
    );
    gauge(
      'northlight_engine_pg_connections_accepted',
      'PostgreSQL connections accepted since start (a counter read as a gauge)',
      () => source.pg?.()?.connectionsTotal,
    );
    gauge(
      'northlight_engine_pg_connections_refused',
      'PostgreSQL connections refused at the connection limit (53300; a counter read as a gauge)',
      () => source.pg?.()?.connectionsRefused,
    );
    new Gauge({
      name: 'northlight_engine_pg_errors',
      help: 'ErrorResponses sent to PostgreSQL clients, by SQLSTATE (a counter read as a gauge)',
      labelNames: ['sqlstate'],
      registers,
      collect() {
        for (const [sqlstate, count] of source.pg?.()?.errorsBySqlstate ?? []) this.set({ sqlstate }, count);
      },
    });
    gauge(
      'northlight_engine_writer_waiting_requests',
      'Requests waiting while an interactive transaction holds the SQL writer',
      () => source.transactions?.().waiting,
    );
    gauge(
      'northlight_engine_writer_held_seconds',
      'How long the interactive transaction holding the SQL writer has held it (0 when none does)',
      () => {
        const status = source.transactions?.();
        return status === undefined ? undefined : (status.holder?.heldMs ?? 0) / 1000;
      },
    );
    gauge(
      'northlight_engine_transactions_open',
      'Interactive transactions open (BEGIN without COMMIT or ROLLBACK yet)',
      () => source.transactions?.().transactionsOpen,
    );
    new Gauge({
      name: 'northlight_engine_transactions_ended',
      help: 'Interactive transactions ended, by outcome (committed, rolled_back, idle_timeout; a counter read as a gauge)',
      labelNames: ['outcome'],
      registers,
      collect() {
        const status = source.transactions?.();
        if (status === undefined) return;
        this.set({ outcome: 'committed' }, status.transactionsCommitted);
        this.set({ outcome: 'rolled_back' }, status.transactionsRolledBack - status.transactionsTimedOut);
        this.set({ outcome: 'idle_timeout' }, status.transactionsTimedOut);
      },
    });
    new Gauge({
      name: 'northlight_engine_optimistic_transactions',
      help: 'Optimistic interactive transactions (--pg-transactions optimistic), by event: committed without holding the SQL writer, promoted to holding it (a savepoint, too many statements), serialization_failure (a replay found a changed result: 40001); counters read as a gauge',
      labelNames: ['event'],
      registers,
      collect() {
        const status = source.transactions?.();
        if (status === undefined) return;
        this.set({ event: 'committed' }, status.transactionsCommittedOptimistic);
        this.set({ event: 'promoted' }, status.transactionsPromoted);
        this.set({ event: 'serialization_failure' }, status.serializationFailures);
      },
    });
    for (const [key, name, help] of [
      [
        'cacheHits',
        'northlight_engine_cache_hits',
        "Page requests served from memory: SQLite's page cache or the buffer cache",
      ],
      ['cacheMisses', 'northlight_engine_cache_misses', 'Page requests that went to storage (page reads)'],
      ['cacheEvictions', 'northlight_engine_cache_evictions', 'Pages evicted from the buffer cache'],
      ['cachePages', 'northlight_engine_cache_pages', 'Pages held in the buffer cache'],
      ['sizePages', 'northlight_engine_volume_pages', 'Size of the database in pages'],
      [
        'writesOutsideBracket',
        'northlight_engine_writes_outside_batch',
        'Page writes outside an atomic batch (alarm)',
      ],
    ] as const) {
      gauge(name, help, () => source.kernel()?.[key]);
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
