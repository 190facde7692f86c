/**
 * The environment a core runs in. Quorum tracking, segment stores, recovery and planners never touch
 * time, randomness, the network, the disk or the object store directly; they receive these
 * interfaces. Real processes get the adapters in `protocol/src/io/`; the simulator (`sim/`) gets
 * seeded, fault-injecting ones. Both must honour the contracts written here — the simulator may be
 * harsher than reality, never kinder.
 */
import { NorthlightError } from './errors.js';
import type { NodeId } from './types.js';

export interface TimerHandle {
  /** Cancels the timer; calling it after the timer fired, or twice, does nothing. */
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin. Never goes back. */
  nowMs(): number;
  /** Milliseconds since the Unix epoch; only for timestamps shown to humans, never for ordering. */
  wallClockMs(): number;
  /** Runs `callback` once, no earlier than `delayMs` from now. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  /** Resolves no earlier than `delayMs` from now. */
  sleep(delayMs: number): Promise<void>;
}

export interface Random {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform integer in [0, maxExclusive); maxExclusive is a positive safe integer ≤ 2^32. */
  nextInt(maxExclusive: number): number;
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** Fills `target` with uniform bytes. */
  fillBytes(target: Uint8Array): void;
}

/**
 * Message-oriented network. Delivery is best effort: a message may be lost, delayed, duplicated or
 * reordered (the real TCP adapter loses messages when a connection breaks and reorders across
 * reconnects). Every protocol above it is idempotent and LSN-ordered, so it tolerates all four.
 */
export interface NetworkEndpoint {
  readonly address: NodeId;
  /** Queues `message` for `to`; never throws for an unreachable peer (the message is just lost). */
  send(to: NodeId, message: Uint8Array): void;
  /** Sets the one receive handler; messages that arrive before it is set are dropped. */
  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void;
  /** Stops sending and receiving; later sends are dropped. */
  close(): void;
}

export interface Network {
  /** Binds `address`; one endpoint per address at a time. */
  bind(address: NodeId): NetworkEndpoint;
}

/**
 * A file on local disk. Writes become durable only after `sync()` resolves: on a crash, writes since
 * the last sync may be lost entirely, kept, or torn (kept only up to some 512-byte sector). Reads see
 * every write made before them, synced or not. Rejections are `NorthlightError`s with `NL_DISK_IO`.
 */
export interface DiskFile {
  readonly path: string;
  size(): Promise<number>;
  /** Reads up to `length` bytes at `offset`; the result is shorter at the end of the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at `offset`, growing the file (with zeros) if needed. */
  write(offset: number, data: Uint8Array): Promise<void>;
  truncate(size: number): Promise<void>;
  /** fdatasync: every write and truncate before this call is durable once it resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface Disk {
  /**
   * Opens `path`, creating it empty if absent. A newly created file's existence is durable once the
   * file has been synced, or once its directory has been synced.
   */
  open(path: string): Promise<DiskFile>;
  exists(path: string): Promise<boolean>;
  /** Names (not paths) of the files directly inside `directory`, sorted. */
  list(directory: string): Promise<string[]>;
  remove(path: string): Promise<void>;
  /** Atomically replaces `to` with `from`; durable once `syncDirectory` of its directory resolves. */
  rename(from: string, to: string): Promise<void>;
  syncDirectory(directory: string): Promise<void>;
}

/**
 * An S3-compatible object store (one bucket). A put is atomic and durable once it resolves; a get
 * returns the whole last-put body or undefined. Rejections are `NL_OBJECT_STORE_UNAVAILABLE`.
 */
export interface ObjectStore {
  put(key: string, body: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** All keys with `prefix`, sorted; implementations page internally. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

/**
 * An object store there is none of: every call rejects with NL_OBJECT_STORE_UNAVAILABLE and `why`
 * (a node with no backup target, an engine, which keeps no objects, a benchmark).
 */
export function unavailableObjectStore(why: string): ObjectStore {
  const refuse = () => Promise.reject(new NorthlightError('NL_OBJECT_STORE_UNAVAILABLE', why));
  return { put: refuse, get: refuse, list: refuse, delete: refuse };
}

/** Everything a core process is given. A process uses nothing else from the outside world. */
export interface Environment {
  readonly clock: Clock;
  readonly random: Random;
  readonly network: NetworkEndpoint;
  readonly disk: Disk;
  readonly objectStore: ObjectStore;
  readonly log: Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured logger. ERROR means a human must look; tests fail on unexpected ERROR lines. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void;
}
