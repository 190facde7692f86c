/**
 * A storage node core on the simulator's disk, clock and scheduler, without a cluster: the test is
 * the network. `deliver` hands a message to the core as if it arrived from `from`; everything the core
 * sends is decoded into `sent`. `powerLoss()` / `processCrash()` kill the incarnation (its timers and
 * disk completions never run again), apply the disk's crash semantics and start a new core on the same
 * disk, as a restart of the process would.
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  decodeMessageFromBytes,
  type Environment,
  type Epoch,
  encodeMessage,
  type Logger,
  type LogLevel,
  type Lsn,
  type Message,
  type NetworkEndpoint,
  type NodeId,
  type PgId,
  type SegmentId,
} from '@northlight/protocol';
import {
  Incarnation,
  Prng,
  Scheduler,
  SimClock,
  SimCluster,
  SimDisk,
  type SimDiskOptions,
  SimObjectStore,
  Trace,
} from '@northlight/sim';
import { StorageNodeCore, type StorageNodeOptions } from '../../src/index.js';

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

export interface Sent {
  readonly to: NodeId;
  readonly message: Message;
}

/** Options that make tests small and fast: small pages, small log files, no background timers. */
export const TEST_OPTIONS: StorageNodeOptions = {
  pageSizeBytes: 256,
  pagesPerPg: 64,
  logFileBytes: 8192,
  logPreallocateBytes: 4096,
  materializeIntervalMs: 0,
  hintPersistIntervalMs: 5,
  controlLogCompactBytes: 16 * 1024,
};

export const WRITER = asNodeId('w1');

export class CoreRig {
  readonly scheduler = new Scheduler({ trace: new Trace() });
  readonly disk: SimDisk;
  readonly objectStore: SimObjectStore;
  readonly sent: Sent[] = [];
  readonly logs: LogLine[] = [];
  readonly options: StorageNodeOptions;
  readonly #random: Prng;
  #incarnation: Incarnation;
  #handler: ((from: NodeId, bytes: Uint8Array) => void) | undefined;
  core: StorageNodeCore;

  constructor(
    seed = 1,
    options: StorageNodeOptions = TEST_OPTIONS,
    diskOptions: Partial<SimDiskOptions> = {},
  ) {
    this.options = options;
    this.#random = new Prng(seed);
    const nodeId = asNodeId('s1');
    this.disk = new SimDisk(nodeId, this.scheduler, this.#random.fork('disk'), diskOptions);
    this.objectStore = new SimObjectStore(this.scheduler, this.#random.fork('object-store'));
    this.#incarnation = new Incarnation(nodeId, 1, this.scheduler);
    this.core = this.#newCore();
  }

  #newCore(): StorageNodeCore {
    const incarnation = this.#incarnation;
    const endpoint: NetworkEndpoint = {
      address: asNodeId('s1'),
      send: (to, bytes) => {
        if (incarnation.alive) this.sent.push({ to, message: decodeMessageFromBytes(bytes) });
      },
      onMessage: (handler) => {
        this.#handler = handler;
      },
      close: () => {},
    };
    const logs = this.logs;
    const log: Logger = {
      log(level, message, fields) {
        if (incarnation.alive) logs.push({ level, message, fields });
      },
    };
    const env: Environment = {
      clock: new SimClock(this.scheduler, incarnation, 1000, 1_767_225_600_000),
      random: this.#random.fork(`process/${incarnation.number}`),
      network: endpoint,
      disk: this.disk.view(incarnation),
      objectStore: this.objectStore.client(incarnation),
      log,
    };
    return new StorageNodeCore(env, this.options);
  }

  /** Runs the scheduler until `promise` settles, and returns its outcome. */
  async run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    await this.scheduler.runUntil(() => settled, { timeLimitMs: this.scheduler.nowMs() + 600_000 });
    if (!settled) throw new Error('the promise never settled');
    return tracked;
  }

  async runFor(milliseconds: number): Promise<void> {
    await this.scheduler.runUntil(this.scheduler.nowMs() + milliseconds);
  }

  async runUntil(predicate: () => boolean, limitMs = 10_000): Promise<void> {
    await this.scheduler.runUntil(predicate, { timeLimitMs: this.scheduler.nowMs() + limitMs });
    if (!predicate()) throw new Error(`condition not reached within ${limitMs} ms`);
  }

  async start(): Promise<void> {
    await this.run(this.core.start());
  }

  /** Creates a segment with six members (itself and five peers) at membership epoch 1. */
  async createSegment(pgId: number, segmentId = `pg${pgId}-s1`, volumeEpoch = 0n): Promise<SegmentId> {
    const id = asSegmentId(segmentId);
    const members = [id, ...[2, 3, 4, 5, 6].map((n) => asSegmentId(`pg${pgId}-s${n}`))];
    const result = await this.run(
      this.core.createSegment({
        pgId: asPgId(pgId),
        segmentId: id,
        membershipEpoch: asEpoch(1n),
        members,
        volumeEpoch: asEpoch(volumeEpoch),
      }),
    );
    if (!result.ok) throw result.error;
    return id;
  }

  deliver(message: Message | Uint8Array, from: NodeId = WRITER): void {
    const bytes = message instanceof Uint8Array ? message : encodeMessage(message);
    this.#handler?.(from, bytes);
  }

  /** Delivers a request and runs until a reply with its request id arrives (or `limitMs` passes). */
  async request(message: Message & { requestId: bigint }, limitMs = 1000): Promise<Message | undefined> {
    const before = this.sent.length;
    this.deliver(message);
    const reply = () =>
      this.sent
        .slice(before)
        .find((sent) => 'requestId' in sent.message && sent.message.requestId === message.requestId);
    await this.scheduler.runUntil(() => reply() !== undefined, {
      timeLimitMs: this.scheduler.nowMs() + limitMs,
    });
    return reply()?.message;
  }

  /** Crash with power loss: unsynced writes are lost or torn. Then a new incarnation starts (not yet started). */
  powerLoss(): void {
    this.#incarnation.kill();
    this.disk.powerLoss();
    this.#restart();
  }

  /** Process crash: the page cache survives. */
  processCrash(): void {
    this.#incarnation.kill();
    this.#restart();
  }

  /** The machine is replaced: every file is gone. */
  wipe(): void {
    this.#incarnation.kill();
    this.disk.wipe();
    this.#restart();
  }

  #restart(): void {
    this.#handler = undefined;
    this.#incarnation = new Incarnation(asNodeId('s1'), this.#incarnation.number + 1, this.scheduler);
    this.core = this.#newCore();
  }

  get incarnationNumber(): number {
    return this.#incarnation.number;
  }

  /** A snapshot of every file's current content, to prove a refused request changed nothing. */
  snapshotFiles(): Map<string, string> {
    return new Map(
      this.disk.paths().map((path) => [path, Buffer.from(this.disk.contentOf(path)!).toString('hex')]),
    );
  }

  errorLogs(): LogLine[] {
    return this.logs.filter((line) => line.level === 'error');
  }
}

export function lsn(value: number | bigint): Lsn {
  return asLsn(BigInt(value));
}

export function epoch(value: number | bigint): Epoch {
  return asEpoch(BigInt(value));
}

export function pg(value: number): PgId {
  return asPgId(value);
}

/**
 * A one-node simulated cluster whose node `s1` runs a storage node core with `options`, for tests that
 * need the cluster's crash and restart machinery. Returns the cluster and an accessor for the core
 * of the current incarnation.
 */
export function singleCoreCluster(
  seed: number,
  options: StorageNodeOptions,
): { cluster: SimCluster; storage: () => StorageNodeCore } {
  const cluster = new SimCluster({ seed, logLevelMin: 'warn' });
  cluster.addNode({
    id: 's1',
    zone: 'a',
    factory: (env) => {
      const core = new StorageNodeCore(env, options);
      void core.start();
      return core;
    },
  });
  return { cluster, storage: () => cluster.instance<StorageNodeCore>('s1')! };
}
