/**
 * What staging to S3 costs under a steady write load, before and after batching (backup.ts B7): PUTs
 * and bytes uploaded per second, chunks vs manifests, with the old cadence (`backupMaxDelayMs` 0: a
 * chunk and a manifest per segment per tick with anything pending) as the baseline, measured in the
 * same run under the same load as the batched cadence (the default max delay, or `--max-delay-ms`).
 *
 *   node --import tsx storage-node/scripts/bench-backup.ts [--rounds 3] [--duration-ms 60000]
 *        [--segments 32] [--records-per-second 5] [--max-delay-ms 10000]
 *
 * Real parts: a `StorageNodeCore` on the real disk (NodeDisk, NodeClock, NodeRandom, a temporary
 * directory) with the default staging tick (1 s), uploading through `S3ObjectStore` to a real
 * S3-compatible server (s3rver, as the tests and `northlight up` use), one key prefix per run. The
 * load is open-loop, the same in both modes: each of `--segments` segments (one PG each, as a volume
 * written everywhere) gets one record of `--record-bytes` every 1/`--records-per-second` s, each
 * writer starting at a random phase; every batch carries the volume's durable point as its hint.
 * PUTs are counted from the core's metrics hook (one `backupUploaded` call per PUT), only inside the
 * measured window (after a warm-up of one max delay and a tick, so the batched mode is in its steady
 * state). The CPU time of s3rver (from /proc) and of this process (the node, its S3 client and the
 * writers) is reported per second of the window.
 *
 * Rounds alternate the modes (baseline, batched, baseline, …) so that the other work on this shared
 * two-core machine falls on both; the figures quoted are medians across rounds, every round kept.
 * Only the JSON result goes to stdout; progress goes to stderr.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  assert,
  decodeMessageFromBytes,
  type Environment,
  encodeMessage,
  type LogLevel,
  type NetworkEndpoint,
  type NodeId,
  REDO_RECORD_CHECKSUM_BYTES,
  REDO_RECORD_HEADER_BYTES,
  REDO_RUN_HEADER_BYTES,
  type RedoRecord,
  type SegmentId,
} from '@northlight/protocol';
import { JsonLineLogger, NodeClock, NodeDisk, NodeRandom } from '@northlight/protocol/io';
import { noopStorageMetrics, STORAGE_NODE_DEFAULTS, StorageNodeCore } from '../src/index.js';
import { S3ObjectStore } from '../src/io/s3-object-store.js';
import { TestWriter } from '../test/support/history.js';
import { s3rverClientConfig, startS3rver } from '../test/support/s3rver-rig.js';

const PAGE_SIZE_BYTES = 4096;
const RECORD_OVERHEAD_BYTES = REDO_RECORD_HEADER_BYTES + REDO_RUN_HEADER_BYTES + REDO_RECORD_CHECKSUM_BYTES;
const SEGMENTS_MAX = 1024;
const ROUNDS_MAX = 20;
/** Linux clock ticks per second (USER_HZ) of /proc/<pid>/stat's utime and stime. */
const CLOCK_TICKS_PER_SECOND = 100;
const STORAGE_ADDRESS = asNodeId('storage-1');
const WRITER_ADDRESS = asNodeId('writer-1');

interface BenchConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly segments: number;
  readonly recordsPerSecond: number;
  readonly recordBytes: number;
  readonly maxDelayMs: number;
  readonly backupIntervalMs: number;
}

type Mode = 'baseline' | 'batched';
type UploadKind = 'chunk' | 'manifest' | 'base' | 'merged';
type Tally = Record<UploadKind, { puts: number; bytes: number }>;

function parseConfig(argv: readonly string[]): BenchConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string', default: '3' },
      'duration-ms': { type: 'string', default: '60000' },
      segments: { type: 'string', default: '32' },
      'records-per-second': { type: 'string', default: '5' },
      'record-bytes': { type: 'string', default: '200' },
      'max-delay-ms': { type: 'string', default: String(STORAGE_NODE_DEFAULTS.backupMaxDelayMs) },
    },
  });
  const integer = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max)
      throw new Error(`--${name} must be an integer in ${min}…${max}, not '${text}'`);
    return value;
  };
  return {
    rounds: integer('rounds', values.rounds, 1, ROUNDS_MAX),
    durationMs: integer('duration-ms', values['duration-ms'], 1000, 600_000),
    segments: integer('segments', values.segments, 1, SEGMENTS_MAX),
    recordsPerSecond: integer('records-per-second', values['records-per-second'], 1, 1000),
    recordBytes: integer(
      'record-bytes',
      values['record-bytes'],
      RECORD_OVERHEAD_BYTES + 1,
      RECORD_OVERHEAD_BYTES + PAGE_SIZE_BYTES,
    ),
    maxDelayMs: integer('max-delay-ms', values['max-delay-ms'], 1, 300_000),
    backupIntervalMs: 1000, // the process default (DEFAULT_BACKUP_INTERVAL_MS)
  };
}

/** In-process endpoints handing frames over in a later turn of the event loop, as a socket would. */
function endpointPair(): { storage: NetworkEndpoint; writer: NetworkEndpoint } {
  const handlers = new Map<NodeId, (from: NodeId, bytes: Uint8Array) => void>();
  let open = true;
  const endpoint = (address: NodeId): NetworkEndpoint => ({
    address,
    send: (to, bytes) => {
      if (open) setImmediate(() => handlers.get(to)?.(address, bytes));
    },
    onMessage: (handler) => void handlers.set(address, handler),
    close: () => {
      open = false;
    },
  });
  return { storage: endpoint(STORAGE_ADDRESS), writer: endpoint(WRITER_ADDRESS) };
}

/** utime + stime of a process, in milliseconds. */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface RunResult {
  readonly mode: Mode;
  readonly seconds: number;
  readonly recordsWritten: number;
  readonly putsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly chunkPutsPerSecond: number;
  readonly chunkBytesPerSecond: number;
  readonly manifestPutsPerSecond: number;
  readonly manifestBytesPerSecond: number;
  readonly basePutsPerSecond: number;
  readonly mergedPutsPerSecond: number;
  readonly s3rverCpuMsPerSecond: number;
  readonly nodeProcessCpuMsPerSecond: number;
  readonly backupLagSecondsMax: number;
  readonly warnings: number;
}

/** One run: a fresh node and prefix, the load for warm-up + window, the window's uploads. */
async function runOnce(
  config: BenchConfig,
  mode: Mode,
  s3: { endpoint: string; bucket: string; pid: number },
  prefix: string,
): Promise<RunResult> {
  const directory = await mkdtemp(join(tmpdir(), 'northlight-bench-backup-'));
  const objectStore = new S3ObjectStore({
    bucket: s3.bucket,
    keyPrefix: prefix,
    clientConfig: s3rverClientConfig(s3.endpoint),
  });
  const network = endpointPair();
  let measuring = false;
  let lagSecondsMax = 0;
  let warnings = 0;
  const tally: Tally = {
    chunk: { puts: 0, bytes: 0 },
    manifest: { puts: 0, bytes: 0 },
    base: { puts: 0, bytes: 0 },
    merged: { puts: 0, bytes: 0 },
  };
  const inner = new JsonLineLogger('storage-node', 'warn');
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network: network.storage,
    disk: new NodeDisk(directory),
    objectStore,
    log: {
      log: (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => {
        if (level === 'warn' || level === 'error') warnings++;
        inner.log(level, message, fields);
      },
    },
  };
  const core = new StorageNodeCore(env, {
    pageSizeBytes: PAGE_SIZE_BYTES,
    backupIntervalMs: config.backupIntervalMs,
    backupMaxDelayMs: mode === 'baseline' ? 0 : config.maxDelayMs,
    metrics: {
      ...noopStorageMetrics,
      backupUploaded: (kind, bytes) => {
        if (!measuring) return;
        tally[kind].puts++;
        tally[kind].bytes += bytes;
      },
      backupLag: (_bytes, seconds) => {
        if (measuring) lagSecondsMax = Math.max(lagSecondsMax, seconds);
      },
    },
  });
  await core.start();
  const segments: SegmentId[] = [];
  for (let pgId = 0; pgId < config.segments; pgId++) {
    const segmentId = asSegmentId(`pg${pgId}-s1`);
    const created = await core.createSegment({
      pgId: asPgId(pgId),
      segmentId,
      membershipEpoch: asEpoch(1n),
      members: [1, 2, 3, 4, 5, 6].map((member) => asSegmentId(`pg${pgId}-s${member}`)),
    });
    if (!created.ok) throw created.error;
    segments.push(segmentId);
  }

  // The load: open loop, one record per segment every period, each writer at a random phase. The
  // durable point follows the acknowledgements (LSNs are volume-wide, as the engine allocates them).
  const writer = new TestWriter();
  const pool = randomBytes(1 << 16);
  const runBytes = config.recordBytes - RECORD_OVERHEAD_BYTES;
  const pagesPerPg = STORAGE_NODE_DEFAULTS.pagesPerPg;
  const ackedAbove = new Set<bigint>();
  let durablePoint = 0n;
  let recordsWritten = 0;
  const inFlight = new Map<bigint, bigint>(); // request id → LSN
  network.writer.onMessage((_from, bytes) => {
    const message = decodeMessageFromBytes(bytes);
    assert(message.type === 'append-ack', `unexpected reply ${message.type}`);
    const lsn = inFlight.get(message.requestId);
    assert(lsn !== undefined, `an ack of unknown request ${message.requestId}`);
    inFlight.delete(message.requestId);
    ackedAbove.add(lsn);
    while (ackedAbove.delete(durablePoint + 1n)) durablePoint++;
  });
  const send = (pgId: number): void => {
    const record: RedoRecord = writer.record(pgId, pgId * pagesPerPg + (recordsWritten % 64), [
      { offset: 0, bytes: pool.subarray(recordsWritten % 1024, (recordsWritten % 1024) + runBytes) },
    ]);
    recordsWritten++;
    const batch = writer.batch(segments[pgId]!, [record], durablePoint);
    inFlight.set(batch.requestId, record.lsn);
    network.writer.send(STORAGE_ADDRESS, encodeMessage(batch));
  };
  const periodMs = 1000 / config.recordsPerSecond;
  const timers: NodeJS.Timeout[] = [];
  for (let pgId = 0; pgId < config.segments; pgId++) {
    const start = setTimeout(
      () => timers.push(setInterval(() => send(pgId), periodMs)),
      Math.random() * periodMs + Math.random() * config.maxDelayMs,
    );
    timers.push(start);
  }
  // Warm-up: every writer started, and the batched mode past its first max delay.
  await sleep(2 * config.maxDelayMs + 2 * config.backupIntervalMs);
  const cpuBefore = { s3rver: cpuMsOf(s3.pid), own: ownCpuMs() };
  const startedMs = performance.now();
  measuring = true;
  await sleep(config.durationMs);
  measuring = false;
  const seconds = (performance.now() - startedMs) / 1000;
  const cpu = { s3rver: cpuMsOf(s3.pid) - cpuBefore.s3rver, own: ownCpuMs() - cpuBefore.own };
  for (const timer of timers) clearTimeout(timer);
  await core.stop();
  objectStore.close();
  await rm(directory, { recursive: true, force: true });
  const perSecond = (value: number) => round(value / seconds);
  const puts = Object.values(tally).reduce((sum, entry) => sum + entry.puts, 0);
  const bytes = Object.values(tally).reduce((sum, entry) => sum + entry.bytes, 0);
  return {
    mode,
    seconds: round(seconds),
    recordsWritten,
    putsPerSecond: perSecond(puts),
    bytesPerSecond: perSecond(bytes),
    chunkPutsPerSecond: perSecond(tally.chunk.puts),
    chunkBytesPerSecond: perSecond(tally.chunk.bytes),
    manifestPutsPerSecond: perSecond(tally.manifest.puts),
    manifestBytesPerSecond: perSecond(tally.manifest.bytes),
    basePutsPerSecond: perSecond(tally.base.puts),
    mergedPutsPerSecond: perSecond(tally.merged.puts),
    s3rverCpuMsPerSecond: perSecond(cpu.s3rver),
    nodeProcessCpuMsPerSecond: perSecond(cpu.own),
    backupLagSecondsMax: round(lagSecondsMax),
    warnings,
  };
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Medians of every numeric field over the runs of one mode. */
function medians(runs: readonly RunResult[]): Record<string, number> {
  const keys = Object.keys(runs[0]!).filter((key) => typeof runs[0]![key as keyof RunResult] === 'number');
  return Object.fromEntries(
    keys.map((key) => [key, round(median(runs.map((run) => run[key as keyof RunResult] as number)))]),
  );
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const s3 = await startS3rver({ bucket: 'bench-backup' });
  assert(s3.pid !== undefined, 's3rver has no pid');
  const runs: RunResult[] = [];
  try {
    for (let round = 0; round < config.rounds; round++) {
      for (const mode of ['baseline', 'batched'] as const) {
        process.stderr.write(`round ${round + 1}/${config.rounds}: ${mode}\n`);
        runs.push(
          await runOnce(
            config,
            mode,
            { endpoint: s3.endpoint, bucket: s3.bucket, pid: s3.pid },
            `r${round}-${mode}/`,
          ),
        );
      }
    }
  } finally {
    await s3.stop();
  }
  const baseline = medians(runs.filter((run) => run.mode === 'baseline'));
  const batched = medians(runs.filter((run) => run.mode === 'batched'));
  const ratio = (key: string) => (baseline[key]! === 0 ? null : round(batched[key]! / baseline[key]!));
  const result = {
    config: {
      ...config,
      load: `${config.segments} segments × ${config.recordsPerSecond} records/s of ${config.recordBytes} bytes, open loop`,
      baseline:
        'backupMaxDelayMs 0: a chunk and a manifest per segment per tick with anything pending (the old cadence)',
      batched: `backupMaxDelayMs ${config.maxDelayMs}, stage at half of backupChunkBytesMax (${STORAGE_NODE_DEFAULTS.backupChunkBytesMax / 2} bytes)`,
      objectStore: 's3rver 3.7.1 in a child process, through S3ObjectStore',
    },
    medians: { baseline, batched },
    ratios: {
      putsPerSecondBatchedOverBaseline: ratio('putsPerSecond'),
      bytesPerSecondBatchedOverBaseline: ratio('bytesPerSecond'),
      manifestPutsPerSecondBatchedOverBaseline: ratio('manifestPutsPerSecond'),
      manifestBytesPerSecondBatchedOverBaseline: ratio('manifestBytesPerSecond'),
      chunkPutsPerSecondBatchedOverBaseline: ratio('chunkPutsPerSecond'),
      s3rverCpuBatchedOverBaseline: ratio('s3rverCpuMsPerSecond'),
    },
    runs,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
