// Proves the storage metrics registry: each StorageMetricsSink method moves exactly its
// northlight_storage_* series (latencies observed in seconds, counts by bounded label, segment counts
// by state with vanished states reset to 0, the node-wide lag as the largest per-segment lag);
// transport counters are read from the endpoint at scrape time; every line of the exposition parses;
// the naming rules `promtool check metrics` enforces hold (counters end in _total, nothing else does,
// HELP and TYPE for every family), so the three nodejs_active_*_total gauges are gone while their
// by-type siblings stay; default labels reach every series; bad amounts and unbounded labels are
// assertions. (promtool itself is not required by the suite.)
import { AssertionError } from '@northlight/protocol';
import type { TransportCounters } from '@northlight/protocol/io';
import { describe, expect, it } from 'vitest';
import {
  EXCLUDED_DEFAULT_METRICS,
  PrometheusStorageMetrics,
  STORAGE_METRIC_PREFIX,
} from '../src/io/metrics.js';

const samplePattern =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/;

interface Exposition {
  readonly samples: Map<string, number>;
  readonly types: Map<string, string>;
  readonly helps: Set<string>;
}

/** Parses the text format strictly enough to fail on a malformed line. */
function parse(text: string): Exposition {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const help = /^# HELP (\S+) .+$/.exec(line);
    if (help !== null) {
      helps.add(help[1]!);
      continue;
    }
    const sample = samplePattern.exec(line);
    expect(sample, `unparseable line: ${line}`).not.toBeNull();
    // Go's ParseFloat, which Prometheus uses, reads NaN in any case (prom-client writes "Nan").
    const text = sample![3]!;
    expect(text, line).toMatch(/^(?:[+-]?Inf|nan|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/i);
    const infinities: Record<string, number> = { '+Inf': Infinity, Inf: Infinity, '-Inf': -Infinity };
    const value = /^nan$/i.test(text) ? Number.NaN : (infinities[text] ?? Number(text));
    samples.set(`${sample![1]}${sample![2] ?? ''}`, value);
  }
  return { samples, types, helps };
}

function name(suffix: string): string {
  return STORAGE_METRIC_PREFIX + suffix;
}

function zeroCounters(): TransportCounters {
  return {
    sentMessages: 0,
    sentBytes: 0,
    receivedMessages: 0,
    receivedBytes: 0,
    droppedMessages: { queue_full: 0, unknown_peer: 0, endpoint_closed: 0, no_handler: 0 },
    droppedBytes: 0,
    connectAttempts: 0,
    connectFailures: 0,
    outboundConnectionsEstablished: 0,
    inboundConnectionsEstablished: 0,
    inboundConnectionsRefused: 0,
    decodeErrors: 0,
    handshakeErrors: 0,
    authFailures: 0,
    unauthenticatedConnections: 0,
    queuedBytes: 0,
    queuedMessages: 0,
    openConnections: 0,
  };
}

describe('PrometheusStorageMetrics', () => {
  it('moves exactly the series each sink method names', async () => {
    const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
    metrics.observeAppendLatencyMs(0.3);
    metrics.observeAppendLatencyMs(40);
    metrics.addAppendedBytes(4_096);
    metrics.addAppendedBytes(57);
    metrics.addAppendedRecords(2);
    metrics.addFsyncs();
    metrics.addFsyncs(2);
    metrics.addFsyncs(1, 'control');
    metrics.setAppendQueueDepth(5);
    metrics.setAppendQueueBytes(70_000);
    metrics.addGossipFetchedRecords(9);
    metrics.addGossipPulls('sent');
    metrics.addGossipPulls('sent');
    metrics.addGossipPulls('served');
    metrics.addRepairedPages(1);
    metrics.setMaterializationLagLsns(12n);
    metrics.addMaterializedPages(6);
    metrics.setBackupLagBytes(1_000_000);
    metrics.setBackupLagSeconds(1.5);
    metrics.setBackupBrokenSegments(1);
    metrics.setBackupMaxDelaySeconds(10);
    metrics.addBackupUploadedBytes('chunk', 4_000);
    metrics.addBackupUploadedBytes('chunk', 1_000);
    metrics.addBackupUploadedBytes('manifest', 300);
    metrics.addHydration(3 * 1024 * 1024, 0.25);
    metrics.setHydrationLimit(32 * 1024 * 1024);
    metrics.addGcReclaimedBytes(8_192);
    metrics.addGcDeletedLogFiles(2);
    metrics.addScrubErrors();
    metrics.addScrubErrors(2, 'page');
    metrics.addRejectedRequests('NL_EPOCH_STALE');
    metrics.addDroppedMessages('unknown-segment', 3);
    metrics.observePageReadLatencyMs(2);
    metrics.setSegmentCounts({ serving: 3, hydrating: 1 });
    metrics.setSegmentCounts({ serving: 4 });
    metrics.addHttpAuthFailure();
    metrics.addHttpAuthFailure();
    const { samples } = parse(await metrics.metricsText());
    expect(Object.fromEntries([...samples].filter(([key]) => !key.includes('_latency_')))).toEqual({
      [name('appended_bytes_total')]: 4_153,
      [name('appended_records_total')]: 2,
      [`${name('fsyncs_total')}{file="log"}`]: 3,
      [`${name('fsyncs_total')}{file="control"}`]: 1,
      [name('append_queue_depth')]: 5,
      [name('append_queue_bytes')]: 70_000,
      [name('gossip_fetched_records_total')]: 9,
      [`${name('gossip_pulls_total')}{direction="sent"}`]: 2,
      [`${name('gossip_pulls_total')}{direction="served"}`]: 1,
      [name('http_auth_failures_total')]: 2,
      [name('repaired_pages_total')]: 1,
      [name('materialization_lag_lsns')]: 12,
      [name('materialized_pages_total')]: 6,
      [name('backup_lag_bytes')]: 1_000_000,
      [name('backup_lag_seconds')]: 1.5,
      [name('backup_broken_segments')]: 1,
      [name('backup_max_delay_seconds')]: 10,
      [`${name('backup_uploads_total')}{kind="chunk"}`]: 2,
      [`${name('backup_uploaded_bytes_total')}{kind="chunk"}`]: 5_000,
      [`${name('backup_uploads_total')}{kind="manifest"}`]: 1,
      [`${name('backup_uploaded_bytes_total')}{kind="manifest"}`]: 300,
      [name('hydration_bytes_total')]: 3 * 1024 * 1024,
      [name('hydration_throttled_seconds_total')]: 0.25,
      [name('hydration_limit_bytes_per_second')]: 32 * 1024 * 1024,
      [name('gc_reclaimed_bytes_total')]: 8_192,
      [name('gc_deleted_log_files_total')]: 2,
      [`${name('scrub_errors_total')}{kind="record"}`]: 1,
      [`${name('scrub_errors_total')}{kind="page"}`]: 2,
      [`${name('rejected_requests_total')}{code="NL_EPOCH_STALE"}`]: 1,
      [`${name('dropped_messages_total')}{reason="unknown-segment"}`]: 3,
      [`${name('segments')}{state="serving"}`]: 4,
      [`${name('segments')}{state="hydrating"}`]: 0,
    });
    expect(samples.get(name('append_latency_seconds_count'))).toBe(2);
    expect(samples.get(name('append_latency_seconds_sum'))).toBeCloseTo(0.0403, 10);
    expect(samples.get(`${name('append_latency_seconds_bucket')}{le="0.0005"}`)).toBe(1);
    expect(samples.get(`${name('append_latency_seconds_bucket')}{le="0.05"}`)).toBe(2);
    expect(samples.get(`${name('page_read_latency_seconds_bucket')}{le="0.0025"}`)).toBe(1);
  });

  it('shows the largest per-segment materialization lag, and forgets dropped segments', async () => {
    const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
    const lag = async () => parse(await metrics.metricsText()).samples.get(name('materialization_lag_lsns'));
    metrics.setSegmentMaterializationLagLsns('pg1-seg1', 40);
    metrics.setSegmentMaterializationLagLsns('pg2-seg1', 7n);
    expect(await lag()).toBe(40);
    metrics.setSegmentMaterializationLagLsns('pg1-seg1', 3);
    expect(await lag()).toBe(7);
    metrics.forgetSegment('pg2-seg1');
    expect(await lag()).toBe(3);
    metrics.forgetSegment('pg1-seg1');
    expect(await lag()).toBe(0);
  });

  it('reads the transport counters at scrape time', async () => {
    const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
    let counters = zeroCounters();
    metrics.trackTransport({ counters: () => counters });
    counters = {
      ...counters,
      sentMessages: 10,
      sentBytes: 680,
      droppedMessages: { ...counters.droppedMessages, queue_full: 4 },
      outboundConnectionsEstablished: 2,
      decodeErrors: 1,
      queuedBytes: 300,
    };
    const { samples } = parse(await metrics.metricsText());
    expect(samples.get(name('transport_sent_messages_total'))).toBe(10);
    expect(samples.get(name('transport_sent_bytes_total'))).toBe(680);
    expect(samples.get(`${name('transport_dropped_messages_total')}{reason="queue_full"}`)).toBe(4);
    expect(samples.get(`${name('transport_dropped_messages_total')}{reason="unknown_peer"}`)).toBe(0);
    expect(samples.get(`${name('transport_established_connections_total')}{direction="outbound"}`)).toBe(2);
    expect(samples.get(name('transport_decode_errors_total'))).toBe(1);
    expect(samples.get(name('transport_send_queue_bytes'))).toBe(300);
    counters = { ...counters, sentMessages: 11 };
    expect(parse(await metrics.metricsText()).samples.get(name('transport_sent_messages_total'))).toBe(11);
    expect(() => metrics.trackTransport({ counters: () => counters })).toThrow(AssertionError);
  });

  it('keeps the naming rules promtool checks, without the three *_active_*_total gauges', async () => {
    const metrics = new PrometheusStorageMetrics({ defaultLabels: { node_id: 'storage-a', zone: 'zone-a' } });
    metrics.trackTransport({ counters: zeroCounters });
    metrics.setSegmentCounts({ serving: 1 });
    const { samples, types, helps } = parse(await metrics.metricsText());
    for (const [family, type] of types) {
      expect(family.startsWith(STORAGE_METRIC_PREFIX), family).toBe(true);
      expect(helps.has(family), `HELP for ${family}`).toBe(true);
      expect(family.endsWith('_total'), `${family} is a ${type}`).toBe(type === 'counter');
    }
    for (const excluded of EXCLUDED_DEFAULT_METRICS) expect(types.has(excluded)).toBe(false);
    expect(types.get(name('nodejs_active_handles'))).toBe('gauge');
    expect(types.get(name('process_cpu_seconds_total'))).toBe('counter');
    for (const required of [
      'append_latency_seconds',
      'appended_bytes_total',
      'appended_records_total',
      'fsyncs_total',
      'append_queue_depth',
      'gossip_fetched_records_total',
      'materialization_lag_lsns',
      'backup_lag_bytes',
      'backup_lag_seconds',
      'backup_broken_segments',
      'backup_max_delay_seconds',
      'hydration_bytes_total',
      'hydration_throttled_seconds_total',
      'hydration_limit_bytes_per_second',
      'gc_reclaimed_bytes_total',
      'scrub_errors_total',
      'segments',
      'transport_sent_bytes_total',
      'transport_decode_errors_total',
    ]) {
      expect(types.has(name(required)), required).toBe(true);
    }
    for (const key of samples.keys()) expect(key, key).toContain('node_id="storage-a"');
  });

  it('runs its scrape hooks before each scrape, for the gauges read off the status', async () => {
    const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
    let scrapes = 0;
    metrics.beforeScrape(() => {
      scrapes++;
      metrics.setSegmentCounts({ active: scrapes, silent: 0 });
      metrics.setDiskBytes({ log: 4096 * scrapes, pages: 8192, control: 128 });
      metrics.setHeat(12.5, 3);
      metrics.setCacheBytes({ pages: 40_960, records: 2048 });
    });
    await metrics.metricsText();
    const { samples } = parse(await metrics.metricsText());
    expect(scrapes).toBe(2);
    expect(samples.get(`${name('segments')}{state="active"}`)).toBe(2);
    expect(samples.get(`${name('disk_bytes')}{file="log"}`)).toBe(8192);
    expect(samples.get(`${name('disk_bytes')}{file="control"}`)).toBe(128);
    expect(samples.get(`${name('heat_ops_per_second')}{kind="append"}`)).toBe(12.5);
    expect(samples.get(`${name('cache_bytes')}{cache="pages"}`)).toBe(40_960);
    expect(() => metrics.setDiskBytes({ log: -1, pages: 0, control: 0 })).toThrow(AssertionError);
  });

  it('asserts on amounts that cannot be right', () => {
    const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
    expect(() => metrics.addAppendedBytes(-1)).toThrow(AssertionError);
    expect(() => metrics.observeAppendLatencyMs(Number.NaN)).toThrow(AssertionError);
    expect(() => metrics.setSegmentCounts({ serving: -2 })).toThrow(AssertionError);
    // A label is a small closed set; an unbounded one (say, a segment id as a reason) is a bug.
    expect(() => {
      for (let index = 0; index < 40; index++) metrics.addDroppedMessages(`reason-${index}`);
    }).toThrow(/more than 32 values/);
  });
});
