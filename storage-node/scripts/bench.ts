/**
 * The storage node's append benchmark: the real `StorageNodeCore` on the real disk (protocol's
 * NodeDisk, NodeClock, NodeRandom in a temporary directory), fed by W closed-loop writers, next to a
 * baseline measured in the same run: a naive durable log, the same W writers each appending the same
 * encoded records to one file with node:fs, one `write` + `fdatasync` per batch (no group commit).
 *
 *   npm run bench -w @northlight/storage-node -- [--rounds 5] [--duration-ms 3000] [--writers 1,64]
 *
 * What it proves (or disproves): that group commit makes the node's durable appends at least as
 * fast as the raw baseline at the same writer count (goal: ≥ 0.8 × its MB/s) while an
 * acknowledgement costs no more than the raw write + fdatasync it replaces (goal: ack p99 ≤ 2 × the
 * baseline's p99). The baseline also always runs with one writer: one sequential stream, the disk's
 * floor for an acknowledgement, which every writer count is compared with too (the
 * `…OverSingleStream…` ratios, reported, not goals: with many closed-loop writers on a small machine
 * the node's ack latency is W / throughput, set by its CPU cost per batch, not by the fsync).
 *
 * Transport (`--transport`). By default (`in-process`) the writers share the node's thread and an
 * in-process network hands each message over with `setImmediate`, as a socket read would: the node's
 * own cost is measured, with the writers' encoding and decoding on the same thread. With `tcp` the
 * node listens on 127.0.0.1 with its real `TcpNetworkEndpoint`, and the writers run in a worker
 * thread with their own endpoint, sharing one connection to the node, as the engine (another process)
 * does: the kernel's loopback and the second thread then share this machine's two cores with the
 * node.
 *
 * How: each writer owns one PG and its segment (so its records chain by backlink without
 * coordination), sends one batch, waits for the `append-ack`, records the latency, and repeats.
 * LSNs come from one volume-wide counter, as the engine allocates them, and every batch carries the
 * volume's durable point (the highest LSN below which everything is acknowledged) as its hint.
 * A round runs the baseline at 1 writer and at each writer count, then the core once per writer
 * count, each in a fresh directory; the figures quoted are medians across rounds (the machine is small
 * and noisy), with every round kept.
 *
 * Only the JSON result goes to stdout; progress lines and the core's warnings go to stderr.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  type AppendBatchMessage,
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  assert,
  type Disk,
  type DiskFile,
  decodeMessageFromBytes,
  type Environment,
  encodeMessage,
  encodeRedoRecord,
  isNorthlightError,
  type Logger,
  type LogLevel,
  type Lsn,
  type NetworkEndpoint,
  type NodeId,
  REDO_RECORD_CHECKSUM_BYTES,
  REDO_RECORD_HEADER_BYTES,
  REDO_RUN_HEADER_BYTES,
  type RedoRecord,
  type SegmentId,
  unavailableObjectStore,
} from '@northlight/protocol';
import {
  JsonLineLogger,
  NodeClock,
  NodeDisk,
  NodeRandom,
  StaticPeerDirectory,
  TcpNetworkEndpoint,
} from '@northlight/protocol/io';
import {
  noopStorageMetrics,
  type ResolvedOptions,
  resolveOptions,
  STORAGE_NODE_DEFAULTS,
  type StorageMetrics,
  StorageNodeCore,
  type StorageNodeOptions,
} from '../src/index.js';
import { TestWriter } from '../test/support/history.js';

// ---- configuration ----

/** One record's fixed bytes: header, one run header, CRC. `--record-bytes` includes them. */
const RECORD_OVERHEAD_BYTES = REDO_RECORD_HEADER_BYTES + REDO_RUN_HEADER_BYTES + REDO_RECORD_CHECKSUM_BYTES;
const PAGE_SIZE_BYTES = 4096;
/** Pages of a PG the writers touch (a hot set, so diffs land on a realistic number of pages). */
const HOT_PAGES_PER_PG = 1024;
const WRITERS_MAX = 1024;
const ROUNDS_MAX = 100;
const BATCH_RECORDS_MAX = 256;
/** Random bytes the diff runs are sliced from (incompressible, and cheap to make per record). */
const RANDOM_POOL_BYTES = 1 << 20;
/** Latency samples kept per run at most (a bound on memory: 32 MB; minutes of the fastest run seen). */
const LATENCY_SAMPLES_MAX = 4_000_000;
/** MB is 10^6 bytes. */
const BYTES_PER_MB = 1_000_000;
/** Where the node listens and the writer thread dials (`--transport tcp`). */
const LOOPBACK_HOST = '127.0.0.1';
/** Loading the writer thread (tsx compiles this file and the node's on a cold cache) and listening. */
const WRITER_THREAD_START_TIMEOUT_MS = 60_000;
/** After the window ends, for the batches then in flight to be acknowledged and the tally to arrive. */
const WRITER_THREAD_TALLY_GRACE_MS = 10_000;
/** For the writer thread to exit by itself once it has sent its tally, before it is terminated. */
const WRITER_THREAD_EXIT_TIMEOUT_MS = 5_000;

/**
 * The node's options: the production defaults (what src/main.ts runs with: the defaults, a 4 KiB
 * page) except that the page size is pinned here so `--record-bytes` can be checked against it.
 */
const CORE_OPTIONS: StorageNodeOptions = { pageSizeBytes: PAGE_SIZE_BYTES };
/** Options `--core-option` may not change: the workload is built around them. */
const PINNED_OPTIONS: readonly string[] = ['pageSizeBytes'];

const TRANSPORTS = ['tcp', 'in-process'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** The `network` line of the report's config, for each transport. */
const TRANSPORT_DESCRIPTIONS: Readonly<Record<Transport, string>> = {
  tcp:
    "TCP on 127.0.0.1: the node's TcpNetworkEndpoint; the writers run in a worker thread (their own event loop) " +
    'and share one connection from their own TcpNetworkEndpoint, as the engine does',
  'in-process':
    'in-process, setImmediate per message (as a socket read); frames encoded and decoded with protocol codecs',
};

interface BenchConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly recordBytes: number;
  readonly batchRecords: number;
  readonly writers: readonly number[];
  readonly transport: Transport;
  /** Numeric core options set with --core-option, over the production defaults (for investigations). */
  readonly coreOptions: Readonly<Record<string, number>>;
}

const DEFAULT_CONFIG: BenchConfig = {
  rounds: 5,
  durationMs: 3000,
  warmupMs: 500,
  recordBytes: 200,
  batchRecords: 1,
  writers: [1, 64],
  transport: 'in-process',
  coreOptions: {},
};

const USAGE = `Usage: npm run bench -w @northlight/storage-node -- [options]

Appends realistic page-diff redo records to a real StorageNodeCore (temporary directory, real
fdatasync) with closed-loop writers, next to a raw node:fs baseline of the same bytes at the same
writer counts (each batch: write + fdatasync, no group commit), and prints one JSON object to stdout
(progress goes to stderr).

Options:
  --rounds N          rounds, each: the baseline at 1 writer and at each count, then the core at each
                      count (default 5, ≤ ${ROUNDS_MAX})
  --duration-ms N     measured time of each run (default 3000, 100…120000)
  --warmup-ms N       unmeasured time before it (default 500)
  --record-bytes N    encoded size of one redo record, header and CRC included
                      (default 200, ${RECORD_OVERHEAD_BYTES + 1}…${RECORD_OVERHEAD_BYTES + PAGE_SIZE_BYTES})
  --batch-records N   records per append batch, all of the writer's PG (default 1, ≤ ${BATCH_RECORDS_MAX})
  --writers LIST      concurrent writer counts, comma-separated (default 1,64, each ≤ ${WRITERS_MAX});
                      the unsuffixed ratios are for 64 writers, or the largest count if 64 is absent
  --transport T       how the writers reach the node (default in-process):
                        in-process: the writers share the node's thread; an in-process network hands
                        each message over with setImmediate
                        tcp: the node's real TcpNetworkEndpoint on 127.0.0.1; the writers run in a
                        worker thread (their own event loop) and share one connection, as the engine does
  --core-option K=V   set a numeric StorageNodeOptions field K (e.g. logPreallocateBytes=16777216) over
                      the production defaults; repeatable; for investigations, reported in config
  --help              this text
`;

class UsageError extends Error {}

function integerFlag(name: string, text: string | undefined, min: number, max: number): number {
  if (text === undefined || text.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(`--${name} must be an integer in ${min}…${max}, not '${text}'`);
  return value;
}

function writersFlag(text: string | undefined): number[] {
  if (text === undefined || text.startsWith('--')) throw new UsageError('--writers needs a value');
  const counts = text.split(',').map((part) => integerFlag('writers', part.trim(), 1, WRITERS_MAX));
  if (new Set(counts).size !== counts.length)
    throw new UsageError(`--writers lists a count twice: '${text}'`);
  return counts.sort((a, b) => a - b);
}

function transportFlag(text: string | undefined): Transport {
  const transport = TRANSPORTS.find((name) => name === text);
  if (transport === undefined)
    throw new UsageError(`--transport must be one of ${TRANSPORTS.join(', ')}, not '${text ?? ''}'`);
  return transport;
}

/** `name=value` for a numeric core option; resolveOptions checks the value as it checks a config file. */
function coreOptionFlag(text: string | undefined): Record<string, number> {
  if (text === undefined || text.startsWith('--')) throw new UsageError('--core-option needs name=value');
  const [name, value, ...rest] = text.split('=');
  const known = Object.entries(STORAGE_NODE_DEFAULTS).some(
    ([key, fallback]) => key === name && typeof fallback === 'number' && !PINNED_OPTIONS.includes(key),
  );
  if (name === undefined || !known || rest.length > 0)
    throw new UsageError(
      `--core-option '${text}': not name=value with a numeric StorageNodeOptions name (not ${PINNED_OPTIONS.join(', ')})`,
    );
  const option = { [name]: Number(value) };
  try {
    resolveOptions({ ...CORE_OPTIONS, ...option });
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    throw new UsageError(`--core-option '${text}': ${error.message}`);
  }
  return option;
}

/** The configuration, or 'help'; throws UsageError for a bad flag. */
function parseArguments(argv: readonly string[]): BenchConfig | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const config: { -readonly [Key in keyof BenchConfig]: BenchConfig[Key] } = { ...DEFAULT_CONFIG };
  for (let index = 0; index < argv.length; index += 2) {
    const flag = argv[index]!;
    const text = argv[index + 1];
    if (flag === '--rounds') config.rounds = integerFlag('rounds', text, 1, ROUNDS_MAX);
    else if (flag === '--duration-ms') config.durationMs = integerFlag('duration-ms', text, 100, 120_000);
    else if (flag === '--warmup-ms') config.warmupMs = integerFlag('warmup-ms', text, 0, 60_000);
    else if (flag === '--record-bytes')
      config.recordBytes = integerFlag(
        'record-bytes',
        text,
        RECORD_OVERHEAD_BYTES + 1,
        RECORD_OVERHEAD_BYTES + PAGE_SIZE_BYTES,
      );
    else if (flag === '--batch-records')
      config.batchRecords = integerFlag('batch-records', text, 1, BATCH_RECORDS_MAX);
    else if (flag === '--writers') config.writers = writersFlag(text);
    else if (flag === '--transport') config.transport = transportFlag(text);
    else if (flag === '--core-option')
      config.coreOptions = { ...config.coreOptions, ...coreOptionFlag(text) };
    else throw new UsageError(`unknown option '${flag}'`);
  }
  return config;
}

/** The options the core runs with: production defaults, the pinned page size, then --core-option. */
function coreOptionsOf(config: BenchConfig): ResolvedOptions {
  return resolveOptions({ ...CORE_OPTIONS, ...config.coreOptions });
}

// ---- the workload: page-diff records of one PG per writer ----

/**
 * Makes the records of every writer. LSNs are volume-wide and dense (one `TestWriter`, as the engine
 * allocates them); each PG's records chain by backlink. `durableHint` is the highest LSN at or below
 * which every record made is acknowledged, the engine's VDL, sent with every batch.
 */
class Workload {
  readonly #writer = new TestWriter();
  readonly #pool = randomBytes(RANDOM_POOL_BYTES);
  readonly #random = new NodeRandom();
  readonly #runBytes: number;
  readonly #pagesPerPg: number;
  readonly #hotPages: number;
  /** Acknowledged LSNs above the durable point; at most the records of the batches in flight. */
  readonly #ackedAbove = new Set<bigint>();
  readonly #ackedAboveMax: number;
  #durableHint = 0n;

  constructor(
    readonly config: BenchConfig,
    writersMax: number,
  ) {
    this.#runBytes = config.recordBytes - RECORD_OVERHEAD_BYTES;
    this.#pagesPerPg = coreOptionsOf(config).pagesPerPg;
    this.#hotPages = Math.min(HOT_PAGES_PER_PG, this.#pagesPerPg);
    this.#ackedAboveMax = writersMax * config.batchRecords;
  }

  get durableHint(): Lsn {
    return this.#durableHint as Lsn;
  }

  record(pgId: number): RedoRecord {
    const offset = this.#random.nextInt(PAGE_SIZE_BYTES - this.#runBytes + 1);
    const from = this.#random.nextInt(RANDOM_POOL_BYTES - this.#runBytes + 1);
    const pageNo = pgId * this.#pagesPerPg + this.#random.nextInt(this.#hotPages);
    return this.#writer.record(pgId, pageNo, [
      { offset, bytes: this.#pool.subarray(from, from + this.#runBytes) },
    ]);
  }

  batch(pgId: number, segmentId: SegmentId): AppendBatchMessage {
    const records: RedoRecord[] = [];
    for (let index = 0; index < this.config.batchRecords; index++) records.push(this.record(pgId));
    return this.#writer.batch(segmentId, records, this.#durableHint);
  }

  acknowledged(records: readonly RedoRecord[]): void {
    for (const record of records) this.#ackedAbove.add(record.lsn);
    while (this.#ackedAbove.delete(this.#durableHint + 1n)) this.#durableHint++;
    assert(this.#ackedAbove.size <= this.#ackedAboveMax, 'acknowledged LSNs above the VDL pile up');
  }
}

// ---- measurement ----

/** Latencies in milliseconds, bounded (LATENCY_SAMPLES_MAX), and their percentiles. */
class Latencies {
  #samples = new Float64Array(1024);
  #count = 0;

  /** Latencies made of `samples` (another thread's, from `toArray`). */
  static of(samples: Float64Array<ArrayBuffer>): Latencies {
    assert(samples.length <= LATENCY_SAMPLES_MAX, 'more latency samples than LATENCY_SAMPLES_MAX');
    const latencies = new Latencies();
    latencies.#samples = samples;
    latencies.#count = samples.length;
    return latencies;
  }

  /** A copy of the samples, e.g. to transfer to another thread. */
  toArray(): Float64Array<ArrayBuffer> {
    return this.#samples.slice(0, this.#count);
  }

  add(milliseconds: number): void {
    assert(this.#count < LATENCY_SAMPLES_MAX, 'more latency samples than LATENCY_SAMPLES_MAX');
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(Math.min(Math.max(1024, this.#samples.length * 2), LATENCY_SAMPLES_MAX));
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = milliseconds;
  }

  /** Nearest-rank percentiles (p in 0…100) of the samples; NaN when there are none. */
  percentiles(...ps: readonly number[]): number[] {
    const sorted = this.#samples.slice(0, this.#count).sort();
    return ps.map((p) =>
      sorted.length === 0 ? Number.NaN : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!,
    );
  }
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The measured window of a run: [startMs, endMs), after the warmup. */
interface Window {
  readonly startMs: number;
  readonly endMs: number;
}

function windowFrom(config: BenchConfig): Window {
  const startMs = nowMs() + config.warmupMs;
  return { startMs, endMs: startMs + config.durationMs };
}

function inWindow(window: Window, atMs: number): boolean {
  return atMs >= window.startMs && atMs < window.endMs;
}

/** Resolves at `atMs` (hrtime milliseconds). */
function until(atMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, atMs - nowMs())));
}

interface Throughput {
  readonly recordsPerSecond: number;
  readonly mbps: number;
}

function throughput(records: number, bytes: number, durationMs: number): Throughput {
  return {
    recordsPerSecond: records / (durationMs / 1000),
    mbps: bytes / BYTES_PER_MB / (durationMs / 1000),
  };
}

// ---- the baseline: a naive durable log with node:fs ----

interface BaselineRound extends Throughput {
  readonly writesPerSecond: number;
  readonly fsyncP50Ms: number;
  readonly fsyncP99Ms: number;
  readonly fsyncMaxMs: number;
}

/**
 * A naive durable log at W writers: the same closed-loop writers, each with its own PG, but instead
 * of sending a batch to the node each appends the same encoded records itself to one shared file
 * (O_APPEND, so it grows) with one write and one fdatasync, and waits for both: durability without
 * group commit. With one writer this is one strictly sequential append stream, the disk's floor for
 * an acknowledgement; with W it is what W concurrent appenders get from node:fs (libuv's thread pool
 * runs the calls, the kernel orders the fdatasyncs). The latency is that of the write + fdatasync.
 */
async function runBaseline(config: BenchConfig, directory: string, writers: number): Promise<BaselineRound> {
  const workload = new Workload(config, writers);
  const file = await open(join(directory, `raw-${writers}.log`), 'a');
  const latencies = new Latencies();
  let records = 0;
  let bytes = 0;
  let writes = 0;
  const window = windowFrom(config);
  const writer = async (pgId: number): Promise<void> => {
    const segmentId = asSegmentId(`pg${pgId}-s1`);
    // The clock is read before the batch takes its LSNs: a batch made and not appended would leave a
    // hole under the durable point.
    while (nowMs() < window.endMs) {
      const batch = workload.batch(pgId, segmentId);
      const data = Buffer.concat(batch.records.map(encodeRedoRecord));
      const startMs = nowMs();
      await file.write(data);
      await file.datasync();
      const doneMs = nowMs();
      workload.acknowledged(batch.records);
      if (!inWindow(window, doneMs)) continue;
      latencies.add(doneMs - startMs);
      records += batch.records.length;
      bytes += data.length;
      writes++;
    }
  };
  try {
    await Promise.all(Array.from({ length: writers }, (_, pgId) => writer(pgId)));
  } finally {
    await file.close();
  }
  const [p50, p99, max] = latencies.percentiles(50, 99, 100);
  return {
    ...throughput(records, bytes, config.durationMs),
    writesPerSecond: writes / (config.durationMs / 1000),
    fsyncP50Ms: p50!,
    fsyncP99Ms: p99!,
    fsyncMaxMs: max!,
  };
}

// ---- the core, its environment and the in-process network ----

const STORAGE_ADDRESS = asNodeId('storage-1');
const WRITER_ADDRESS = asNodeId('writer-1');

type Handler = (from: NodeId, bytes: Uint8Array) => void;

/**
 * Two endpoints that hand each other the encoded frames in a later turn of the event loop
 * (`setImmediate`), as a socket delivers what it reads. Not a microtask: then a whole round trip
 * (ack, the writer's next batch, the core planning it) would run as one unbroken chain, the node
 * log's write completion would wait behind it before its fdatasync could even be issued, and the
 * benchmark would measure that artefact (it cost a third of the 64-writer throughput when tried).
 */
function endpointPair(): { storage: NetworkEndpoint; writer: NetworkEndpoint } {
  const handlers = new Map<NodeId, Handler>();
  let open = true;
  const endpoint = (address: NodeId): NetworkEndpoint => ({
    address,
    send: (to, bytes) => {
      if (!open) return;
      setImmediate(() => handlers.get(to)?.(address, bytes));
    },
    onMessage: (handler) => void handlers.set(address, handler),
    close: () => {
      open = false;
    },
  });
  return { storage: endpoint(STORAGE_ADDRESS), writer: endpoint(WRITER_ADDRESS) };
}

/** The node has no backup target in the benchmark; nothing in the append path uses one. */
const noObjectStore = unavailableObjectStore('the benchmark has no object store');

/** Warnings and errors go to stderr as JSON lines (and are counted); nothing below WARN is shown. */
class CountingLogger implements Logger {
  readonly #inner = new JsonLineLogger('storage-node', 'warn');
  warnings = 0;
  errors = 0;

  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void {
    if (level === 'warn') this.warnings++;
    if (level === 'error') this.errors++;
    this.#inner.log(level, message, fields);
  }
}

/** Counts what the benchmark reports from the core's metrics hooks. */
class BenchMetrics {
  readonly fsyncs = { log: 0, control: 0, pages: 0 };
  readonly coreLatencies = new Latencies();
  window: Window | undefined;

  readonly hooks: StorageMetrics = {
    ...noopStorageMetrics,
    fsync: (kind) => {
      this.fsyncs[kind]++;
    },
    appendLatencyMs: (milliseconds) => {
      if (this.window !== undefined && inWindow(this.window, nowMs())) this.coreLatencies.add(milliseconds);
    },
  };
}

/** The node log's and control log's own write and fdatasync latencies, in the window. */
class DiskTimings {
  readonly logWrites = new Latencies();
  readonly logSyncs = new Latencies();
  readonly controlSyncs = new Latencies();
  /**
   * Writes of zeros ahead of the write position (node-log N5): background steps, each made durable by
   * the next fdatasync of the file. Told from entries by their first byte: no entry (and no file
   * header) starts with a zero byte.
   */
  preallocationWrites = 0;
  window: Window | undefined;

  record(path: string, operation: 'write' | 'sync', startMs: number, firstByte: number): void {
    const doneMs = nowMs();
    if (this.window === undefined || !inWindow(this.window, doneMs)) return;
    if (path.includes('/log/')) {
      if (operation === 'sync') this.logSyncs.add(doneMs - startMs);
      else if (firstByte === 0) this.preallocationWrites++;
      else this.logWrites.add(doneMs - startMs);
    } else if (path.includes('control') && operation === 'sync') this.controlSyncs.add(doneMs - startMs);
  }
}

/** A Disk that times every write and sync of the files it opens (diagnostics only; no behaviour). */
class TimedDisk implements Disk {
  constructor(
    private readonly inner: Disk,
    private readonly timings: DiskTimings,
  ) {}

  async open(path: string): Promise<DiskFile> {
    const file = await this.inner.open(path);
    const timings = this.timings;
    return {
      path: file.path,
      size: () => file.size(),
      read: (offset, length) => file.read(offset, length),
      write: async (offset, data) => {
        const startMs = nowMs();
        await file.write(offset, data);
        timings.record(path, 'write', startMs, data[0] ?? 0);
      },
      truncate: (size) => file.truncate(size),
      sync: async () => {
        const startMs = nowMs();
        await file.sync();
        timings.record(path, 'sync', startMs, -1);
      },
      close: () => file.close(),
    };
  }

  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }

  list(directory: string): Promise<string[]> {
    return this.inner.list(directory);
  }

  remove(path: string): Promise<void> {
    return this.inner.remove(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  syncDirectory(directory: string): Promise<void> {
    return this.inner.syncDirectory(directory);
  }
}

interface CoreRound extends Throughput {
  readonly batchesPerSecond: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly ackMaxMs: number;
  /** From the batch's arrival in the core to its ack (the core's own `appendLatencyMs`). */
  readonly coreAppendP50Ms: number;
  readonly coreAppendP99Ms: number;
  readonly logFsyncsPerSecond: number;
  readonly controlFsyncsPerSecond: number;
  readonly batchesPerLogFsync: number;
  /** The node log's own write (one per group) and fdatasync, as the Disk saw them. */
  readonly logWriteP50Ms: number;
  readonly logWriteP99Ms: number;
  readonly logFsyncP50Ms: number;
  readonly logFsyncP99Ms: number;
  readonly logFsyncMaxMs: number;
  readonly controlFsyncP99Ms: number;
  readonly preallocationWrites: number;
  /** Share of the window the event loop was busy (1 = the one JS thread was saturated). */
  readonly eventLoopUtilization: number;
  /**
   * The same for the writers' thread: the worker's with `--transport tcp`; with `in-process` the
   * writers share the node's thread, and this equals `eventLoopUtilization`.
   */
  readonly writerEventLoopUtilization: number;
  /** WARN lines the core logged during the run (each is on stderr). */
  readonly coreWarnings: number;
}

/** What the writers saw in the window. */
interface WriterTally {
  records: number;
  bytes: number;
  batches: number;
  readonly latencies: Latencies;
  /** Share of the window the writers' own thread was busy; undefined when it is the node's thread. */
  eventLoopUtilization?: number;
}

async function startCore(
  config: BenchConfig,
  directory: string,
  writers: number,
  metrics: BenchMetrics,
  timings: DiskTimings,
  logger: CountingLogger,
  network: NetworkEndpoint,
): Promise<{ core: StorageNodeCore; segments: SegmentId[] }> {
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network,
    disk: new TimedDisk(new NodeDisk(directory), timings),
    objectStore: noObjectStore,
    log: logger,
  };
  const core = new StorageNodeCore(env, { ...CORE_OPTIONS, ...config.coreOptions, metrics: metrics.hooks });
  await core.start();
  const segments: SegmentId[] = [];
  for (let pgId = 0; pgId < writers; pgId++) {
    const segmentId = asSegmentId(`pg${pgId}-s1`);
    const members = [1, 2, 3, 4, 5, 6].map((member) => asSegmentId(`pg${pgId}-s${member}`));
    const created = await core.createSegment({
      pgId: asPgId(pgId),
      segmentId,
      membershipEpoch: asEpoch(1n),
      members,
    });
    if (!created.ok) throw created.error;
    segments.push(segmentId);
  }
  return { core, segments };
}

/**
 * W closed-loop writers against one core: each sends a batch of its PG, waits for the ack, records
 * the latency, and repeats until the window ends. A rejection is a benchmark bug: it throws.
 */
async function driveWriters(
  workload: Workload,
  endpoint: NetworkEndpoint,
  segments: readonly SegmentId[],
  window: Window,
): Promise<WriterTally> {
  const waiting = new Map<bigint, { resolve: () => void; reject: (error: Error) => void }>();
  endpoint.onMessage((_from, bytes) => {
    const message = decodeMessageFromBytes(bytes);
    assert(
      message.type === 'append-ack' || message.type === 'request-rejected',
      `unexpected reply ${message.type}`,
    );
    const pending = waiting.get(message.requestId);
    assert(pending !== undefined, `reply to unknown request ${message.requestId}`);
    waiting.delete(message.requestId);
    if (message.type === 'append-ack') pending.resolve();
    else pending.reject(new Error(`the core rejected a batch: ${message.code} ${message.message}`));
  });
  const tally: WriterTally = { records: 0, bytes: 0, batches: 0, latencies: new Latencies() };
  const writer = async (pgId: number, segmentId: SegmentId): Promise<void> => {
    while (nowMs() < window.endMs) {
      const batch = workload.batch(pgId, segmentId);
      const acked = new Promise<void>((resolve, reject) => waiting.set(batch.requestId, { resolve, reject }));
      const sentMs = nowMs();
      endpoint.send(STORAGE_ADDRESS, encodeMessage(batch));
      await acked;
      const ackedMs = nowMs();
      workload.acknowledged(batch.records);
      if (!inWindow(window, ackedMs)) continue;
      tally.latencies.add(ackedMs - sentMs);
      tally.batches++;
      tally.records += batch.records.length;
      tally.bytes += workload.config.recordBytes * batch.records.length;
    }
  };
  await Promise.all(segments.map((segmentId, pgId) => writer(pgId, segmentId)));
  return tally;
}

// ---- the writers in a worker thread (--transport tcp) ----

/** What the writer thread is started with (structured-cloned into it). */
interface WriterThreadData {
  readonly config: BenchConfig;
  readonly segments: readonly SegmentId[];
  readonly nodePort: number;
}

/**
 * Main thread → writer thread: the measured window. Its bounds are hrtime milliseconds, one clock for
 * every thread of the process (libuv's uv_hrtime, CLOCK_MONOTONIC), so both sides measure one window.
 */
interface StartMessage {
  readonly type: 'start';
  readonly window: Window;
}

/** Writer thread → main thread: ready for the window, then the tally of it. */
type WriterThreadMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'tally';
      readonly records: number;
      readonly bytes: number;
      readonly batches: number;
      /** The ack latencies in milliseconds (transferred, not copied). */
      readonly latencies: Float64Array<ArrayBuffer>;
      readonly eventLoopUtilization: number;
    };

type WriterThreadMessageOf<Type extends WriterThreadMessage['type']> = Extract<
  WriterThreadMessage,
  { type: Type }
>;

/**
 * The writer thread's entry: it registers tsx's loader, then imports this file, whose last lines see
 * `isMainThread` false and run `writerThread`. The loader must be registered by hand: on Node 20,
 * tsx installs its hooks in the main thread only (the worker inherits `--import tsx` but it does
 * nothing there), and the worker could not import a .ts file.
 */
function writerThreadSource(): string {
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const self = JSON.stringify(import.meta.url);
  return `import(${tsx}).then((tsx) => { tsx.register(); return import(${self}); });`;
}

/**
 * The main thread's handle on the writer thread. Every way the thread can fail ends the run with an
 * error instead of a hang: an uncaught error in it (a rejected batch, an assertion), its exit before
 * the tally, or its silence past a deadline.
 */
class WriterThread implements Writers {
  readonly #worker: Worker;
  readonly #exited: Promise<number>;
  /** Rejects when the thread fails or exits before its tally; never resolves. */
  readonly #failed: Promise<never>;
  #tallied = false;

  private constructor(data: WriterThreadData) {
    this.#worker = new Worker(writerThreadSource(), { eval: true, workerData: data });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#failed = new Promise<never>((_resolve, reject) => {
      this.#worker.on('error', (error: unknown) =>
        reject(new Error(`the writer thread failed: ${describeError(error)}`)),
      );
      this.#worker.once('exit', (code: number) => {
        if (!this.#tallied) reject(new Error(`the writer thread exited (code ${code}) before its tally`));
      });
    });
    // Handled here so that a failure while nobody waits is not an unhandled rejection; `#next` reports it.
    this.#failed.catch(() => {});
  }

  /** Starts the thread and waits until its endpoint listens. */
  static async start(data: WriterThreadData): Promise<WriterThread> {
    const thread = new WriterThread(data);
    try {
      await thread.#next('ready', WRITER_THREAD_START_TIMEOUT_MS, 'while loading and listening');
    } catch (error) {
      await thread.close();
      throw error;
    }
    return thread;
  }

  async run(window: Window): Promise<WriterTally> {
    const start: StartMessage = { type: 'start', window };
    this.#worker.postMessage(start);
    const tally = await this.#next(
      'tally',
      window.endMs - nowMs() + WRITER_THREAD_TALLY_GRACE_MS,
      'after the window: a batch or its ack was lost, or the node stalled',
    );
    return {
      records: tally.records,
      bytes: tally.bytes,
      batches: tally.batches,
      latencies: Latencies.of(tally.latencies),
      eventLoopUtilization: tally.eventLoopUtilization,
    };
  }

  /** Joins the thread, which exits by itself after its tally; terminates it if it has none or lingers. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const lingering = new Promise<'lingering'>((resolve) => {
      timer = setTimeout(() => resolve('lingering'), this.#tallied ? WRITER_THREAD_EXIT_TIMEOUT_MS : 0);
    });
    const outcome = await Promise.race([this.#exited, lingering]);
    clearTimeout(timer);
    if (outcome === 'lingering') await this.#worker.terminate();
  }

  /** The thread's next message, which must be of `type`; rejects if the thread fails or is silent. */
  async #next<Type extends WriterThreadMessage['type']>(
    type: Type,
    timeoutMs: number,
    context: string,
  ): Promise<WriterThreadMessageOf<Type>> {
    let onMessage: ((message: WriterThreadMessage) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<WriterThreadMessageOf<Type>>((resolve, reject) => {
      onMessage = (message) => {
        if (message.type !== type) {
          reject(new Error(`the writer thread sent '${message.type}' where '${type}' was due`));
          return;
        }
        // Set before the thread's 'exit', which follows its last message.
        if (message.type === 'tally') this.#tallied = true;
        resolve(message as WriterThreadMessageOf<Type>);
      };
      this.#worker.once('message', onMessage);
      timer = setTimeout(
        () =>
          reject(
            new Error(`the writer thread sent no '${type}' within ${Math.round(timeoutMs)} ms ${context}`),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([arrived, this.#failed]);
    } finally {
      clearTimeout(timer);
      if (onMessage !== undefined) this.#worker.off('message', onMessage);
    }
  }
}

/** Share of `window` this thread's event loop was busy. */
async function eventLoopUtilizationOver(window: Window): Promise<number> {
  await until(window.startMs);
  const start = performance.eventLoopUtilization();
  await until(window.endMs);
  return performance.eventLoopUtilization(start).utilization;
}

/**
 * The writer thread: its own endpoint, whose one connection to the node all the writers share (as the
 * engine's), then 'ready', the window from the main thread, the writers driven through it exactly as
 * in-process (`driveWriters`), and the tally, with the latency samples transferred rather than copied.
 */
async function writerThread(data: WriterThreadData): Promise<void> {
  const port = parentPort;
  assert(port !== null, 'the writer thread runs in a worker');
  const endpoint = await TcpNetworkEndpoint.listen({
    address: WRITER_ADDRESS,
    listenHost: LOOPBACK_HOST,
    listenPort: 0,
    directory: new StaticPeerDirectory([[STORAGE_ADDRESS, { host: LOOPBACK_HOST, port: data.nodePort }]]),
    logger: new JsonLineLogger('bench-writers', 'warn'),
  });
  let tally: WriterTally;
  let eventLoopUtilization: number;
  try {
    // `once`: the listener is gone after the start, so the port no longer keeps the thread alive.
    const started = new Promise<StartMessage>((resolve) => port.once('message', resolve));
    const ready: WriterThreadMessage = { type: 'ready' };
    port.postMessage(ready);
    const { window } = await started;
    const busy = eventLoopUtilizationOver(window);
    tally = await driveWriters(
      new Workload(data.config, data.segments.length),
      endpoint,
      data.segments,
      window,
    );
    eventLoopUtilization = await busy;
  } finally {
    endpoint.close();
  }
  const latencies = tally.latencies.toArray();
  const message: WriterThreadMessage = {
    type: 'tally',
    records: tally.records,
    bytes: tally.bytes,
    batches: tally.batches,
    latencies,
    eventLoopUtilization,
  };
  port.postMessage(message, [latencies.buffer]);
}

/** Counters read at the window's start and end: the core's fsyncs and the event loop's busy time. */
interface Snapshot {
  readonly fsyncs: Readonly<Record<'log' | 'control' | 'pages', number>>;
  readonly eventLoop: EventLoopUtilization;
}

function snapshot(metrics: BenchMetrics): Snapshot {
  return { fsyncs: { ...metrics.fsyncs }, eventLoop: performance.eventLoopUtilization() };
}

/** The writers of one run, wherever they run. */
interface Writers {
  /** Drives the writers through the window; resolves with what they saw in it. */
  run(window: Window): Promise<WriterTally>;
  /** Stops them and releases what they hold (an endpoint, a thread). */
  close(): Promise<void>;
}

/** The node's network endpoint for the configured transport, and how to start writers that reach it. */
interface BenchTransport {
  readonly node: NetworkEndpoint;
  startWriters(segments: readonly SegmentId[]): Promise<Writers>;
}

async function openTransport(config: BenchConfig, logger: Logger): Promise<BenchTransport> {
  if (config.transport === 'in-process') {
    const { storage, writer } = endpointPair();
    return {
      node: storage,
      startWriters: async (segments) => {
        const workload = new Workload(config, segments.length);
        return {
          run: (window) => driveWriters(workload, writer, segments, window),
          close: async () => writer.close(),
        };
      },
    };
  }
  const node = await TcpNetworkEndpoint.listen({
    address: STORAGE_ADDRESS,
    listenHost: LOOPBACK_HOST,
    listenPort: 0,
    directory: new StaticPeerDirectory(),
    logger,
  });
  return {
    node,
    startWriters: (segments) => WriterThread.start({ config, segments, nodePort: node.listenPort }),
  };
}

/**
 * One run: the core and its segments first, then the writers (with `tcp`, once their thread is up, so
 * that its start-up does not eat the warmup), then the window, measured on both sides.
 */
async function runCore(config: BenchConfig, writers: number, directory: string): Promise<CoreRound> {
  const metrics = new BenchMetrics();
  const timings = new DiskTimings();
  const logger = new CountingLogger();
  const transport = await openTransport(config, logger);
  let core: StorageNodeCore | undefined;
  let writerSide: Writers | undefined;
  let measured: { tally: WriterTally; start: Snapshot; end: Snapshot };
  try {
    const started = await startCore(config, directory, writers, metrics, timings, logger, transport.node);
    core = started.core;
    writerSide = await transport.startWriters(started.segments);
    const window = windowFrom(config);
    metrics.window = window;
    timings.window = window;
    const marks = (async () => {
      await until(window.startMs);
      const start = snapshot(metrics);
      await until(window.endMs);
      return { start, end: snapshot(metrics) };
    })();
    const tally = await writerSide.run(window);
    measured = { tally, ...(await marks) };
  } finally {
    await writerSide?.close();
    await core?.stop();
    transport.node.close();
  }
  if (logger.errors > 0) throw new Error(`the core logged ${logger.errors} ERROR line(s) (stderr)`);
  const { tally, start, end } = measured;
  return { ...coreFigures(config, tally, metrics, timings, start, end), coreWarnings: logger.warnings };
}

function coreFigures(
  config: BenchConfig,
  tally: WriterTally,
  metrics: BenchMetrics,
  timings: DiskTimings,
  start: Snapshot,
  end: Snapshot,
): Omit<CoreRound, 'coreWarnings'> {
  const seconds = config.durationMs / 1000;
  const logFsyncs = end.fsyncs.log - start.fsyncs.log;
  const [ackP50, ackP99, ackMax] = tally.latencies.percentiles(50, 99, 100);
  const [coreP50, coreP99] = metrics.coreLatencies.percentiles(50, 99);
  const [writeP50, writeP99] = timings.logWrites.percentiles(50, 99);
  const [syncP50, syncP99, syncMax] = timings.logSyncs.percentiles(50, 99, 100);
  const [controlP99] = timings.controlSyncs.percentiles(99);
  const eventLoopUtilization = performance.eventLoopUtilization(end.eventLoop, start.eventLoop).utilization;
  return {
    ...throughput(tally.records, tally.bytes, config.durationMs),
    batchesPerSecond: tally.batches / seconds,
    ackP50Ms: ackP50!,
    ackP99Ms: ackP99!,
    ackMaxMs: ackMax!,
    coreAppendP50Ms: coreP50!,
    coreAppendP99Ms: coreP99!,
    logFsyncsPerSecond: logFsyncs / seconds,
    controlFsyncsPerSecond: (end.fsyncs.control - start.fsyncs.control) / seconds,
    batchesPerLogFsync: logFsyncs === 0 ? Number.NaN : tally.batches / logFsyncs,
    logWriteP50Ms: writeP50!,
    logWriteP99Ms: writeP99!,
    logFsyncP50Ms: syncP50!,
    logFsyncP99Ms: syncP99!,
    logFsyncMaxMs: syncMax!,
    controlFsyncP99Ms: controlP99!,
    preallocationWrites: timings.preallocationWrites,
    eventLoopUtilization,
    writerEventLoopUtilization: tally.eventLoopUtilization ?? eventLoopUtilization,
  };
}

// ---- rounds, medians, report ----

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Rounds to `digits` significant decimals for the report (no float noise in the JSON). */
function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

/** Every field's median across rounds, then `perRound` with every round's values. */
function summarize<T extends object>(rounds: readonly T[]): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const key of Object.keys(rounds[0]!) as (keyof T & string)[])
    summary[key] = round(median(rounds.map((entry) => entry[key] as number)));
  summary.perRound = rounds.map((entry) =>
    Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, round(value as number)])),
  );
  return summary;
}

interface Measured {
  /** The raw baseline by writer count: 1 (the single stream) and every count the core runs with. */
  readonly baseline: Map<number, BaselineRound[]>;
  readonly core: Map<number, CoreRound[]>;
}

/** The writer counts the raw baseline runs at: one stream always, and each of the core's counts. */
function baselineCounts(config: BenchConfig): number[] {
  return [...new Set([1, ...config.writers])].sort((a, b) => a - b);
}

async function measure(config: BenchConfig, root: string): Promise<Measured> {
  const measured: Measured = {
    baseline: new Map(baselineCounts(config).map((count) => [count, []])),
    core: new Map(config.writers.map((count) => [count, []])),
  };
  for (let roundIndex = 1; roundIndex <= config.rounds; roundIndex++) {
    const directory = join(root, `round-${roundIndex}`);
    await mkdir(directory);
    for (const writers of baselineCounts(config)) {
      const baseline = await runBaseline(config, directory, writers);
      measured.baseline.get(writers)!.push(baseline);
      progress(
        `round ${roundIndex}/${config.rounds} raw fs, ${writers} writer(s): ${baseline.mbps.toFixed(3)} MB/s, ` +
          `write+fdatasync p50 ${baseline.fsyncP50Ms.toFixed(3)} ms p99 ${baseline.fsyncP99Ms.toFixed(3)} ms`,
      );
    }
    for (const writers of config.writers) {
      const result = await runCore(config, writers, join(directory, `core-${writers}`));
      measured.core.get(writers)!.push(result);
      progress(
        `round ${roundIndex}/${config.rounds} core, ${writers} writer(s): ${result.mbps.toFixed(3)} MB/s, ` +
          `ack p50 ${result.ackP50Ms.toFixed(3)} ms p99 ${result.ackP99Ms.toFixed(3)} ms, ` +
          `${result.batchesPerLogFsync.toFixed(1)} batches per log fsync, event loop busy ` +
          `${result.eventLoopUtilization.toFixed(2)} (writers' ${result.writerEventLoopUtilization.toFixed(2)})`,
      );
    }
    await rm(directory, { recursive: true, force: true });
  }
  return measured;
}

const MBPS_GOAL = 0.8;
const ACK_P99_GOAL = 2;

/**
 * The ratios of the medians, unsuffixed for `headline` writers and suffixed with the count for each:
 *  - the goals' ratios compare the core at W writers with the raw baseline at the same W (the same
 *    writers and bytes, durable without group commit);
 *  - `…OverSingleStream…` compare it with the one sequential stream, the disk's floor for one
 *    acknowledgement. With many closed-loop writers on a small machine the core's ack latency is set
 *    by its CPU cost per batch (Little's law: W / throughput), not by the fsync, so this ratio grows
 *    with W; it is reported, not a goal.
 */
function ratiosOf(config: BenchConfig, baselines: Map<number, BaselineRound>, core: Map<number, CoreRound>) {
  const headline = config.writers.includes(64) ? 64 : config.writers.at(-1)!;
  const single = baselines.get(1)!;
  const ratios: Record<string, number> = {};
  const of = (writers: number) => {
    const result = core.get(writers)!;
    const raw = baselines.get(writers)!;
    return {
      mbps: round(result.mbps / raw.mbps),
      ack: round(result.ackP99Ms / raw.fsyncP99Ms),
      singleMbps: round(result.mbps / single.mbps),
      singleAck: round(result.ackP99Ms / single.fsyncP99Ms),
    };
  };
  ratios.appendMBpsOverRawFdatasync = of(headline).mbps;
  ratios.ackP99OverRawFdatasyncP99 = of(headline).ack;
  ratios.appendMBpsOverSingleStream = of(headline).singleMbps;
  ratios.ackP99OverSingleStreamFdatasyncP99 = of(headline).singleAck;
  for (const writers of config.writers) {
    ratios[`appendMBpsOverRawFdatasync${writers}`] = of(writers).mbps;
    ratios[`ackP99OverRawFdatasyncP99${writers}`] = of(writers).ack;
    ratios[`appendMBpsOverSingleStream${writers}`] = of(writers).singleMbps;
    ratios[`ackP99OverSingleStreamFdatasyncP99${writers}`] = of(writers).singleAck;
  }
  const goals = {
    writers: headline,
    against: `the raw baseline at ${headline} writer(s) (baselines["${headline}"])`,
    appendMBpsOverRawFdatasync: { atLeast: MBPS_GOAL, met: of(headline).mbps >= MBPS_GOAL },
    ackP99OverRawFdatasyncP99: { atMost: ACK_P99_GOAL, met: of(headline).ack <= ACK_P99_GOAL },
  };
  return { goals, ratios };
}

function report(config: BenchConfig, measured: Measured): Record<string, unknown> {
  const baselines: Record<string, unknown> = {};
  const baselineMedians = new Map<number, BaselineRound>();
  for (const [writers, rounds] of measured.baseline) {
    const summary = summarize(rounds);
    baselines[String(writers)] = summary;
    baselineMedians.set(writers, summary as unknown as BaselineRound);
  }
  const results: Record<string, unknown> = {};
  const medians = new Map<number, CoreRound>();
  for (const [writers, rounds] of measured.core) {
    const summary = summarize(rounds);
    results[String(writers)] = summary;
    medians.set(writers, summary as unknown as CoreRound);
  }
  const { goals, ratios } = ratiosOf(config, baselineMedians, medians);
  return {
    benchmark: 'storage-node-append',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      dataDirectory: tmpdir(),
    },
    config: {
      ...config,
      recordPayloadBytes: config.recordBytes - RECORD_OVERHEAD_BYTES,
      record: 'page-diff, one run of random bytes at a random offset of one of 1024 hot pages of the PG',
      writer: 'closed loop: one batch in flight per writer; each writer owns one PG and its segment',
      network: TRANSPORT_DESCRIPTIONS[config.transport],
      baseline:
        'raw node:fs at W writers: the same closed-loop writers and encoded records, each batch appended to one shared O_APPEND file (it grows) with write + fdatasync, no group commit; W = 1 is one sequential stream',
      coreOptions: reportedOptions(config),
      mb: '10^6 bytes of encoded redo records (log framing not counted)',
      quoted: 'medians across rounds; ratios are of the medians',
    },
    baseline: baselines['1'],
    baselines,
    results,
    goals,
    ratios,
  };
}

/** The numeric and boolean options the core ran with (not the metrics sink or the temporary path). */
function reportedOptions(config: BenchConfig): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(coreOptionsOf(config)).filter(([, value]) => ['number', 'boolean'].includes(typeof value)),
  );
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  let config: BenchConfig | 'help';
  try {
    config = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\nrun with --help for every option\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const root = await mkdtemp(join(tmpdir(), 'northlight-bench-'));
  const removeRoot = () => rm(root, { recursive: true, force: true });
  process.once('SIGINT', () => void removeRoot().finally(() => process.exit(130)));
  try {
    progress(`data in ${root}; ${config.rounds} round(s) of ${config.durationMs} ms per run`);
    const measured = await measure(config, root);
    process.stdout.write(`${JSON.stringify(report(config, measured), undefined, 2)}\n`);
    return 0;
  } finally {
    await removeRoot();
  }
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench: ${describeError(error)}\n`);
      process.exit(1);
    },
  );
} else {
  // A failure is left uncaught: it ends the thread, and the main thread's WriterThread reports it.
  void writerThread(workerData as WriterThreadData);
}
