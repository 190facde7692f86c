/**
 * A node's simulated local disk, with the fsync semantics of the `Disk` contract and no kindness
 * beyond it.
 *
 * Model. Files are inodes; a namespace maps paths to inodes. Both exist twice: as the running system
 * sees them (`current`: every operation, synced or not, so reads see everything) and as they would
 * survive a power loss (`durable`). What is not yet durable is kept as ordered lists of unsynced
 * operations: per inode, writes and truncates; per disk, namespace operations (create, remove,
 * rename).
 *   - `file.sync()` makes durable the file's content operations issued before the call, and the
 *     file's creation (its existence, under the name it was created with).
 *   - `syncDirectory(dir)` makes durable every unsynced namespace operation touching `dir`.
 *   - An operation's effect on `current` happens when it is issued (like a write into the page
 *     cache); its promise settles after a random latency, so concurrent operations complete in any
 *     order. A sync takes effect when it completes: a crash before then leaves the data unsynced.
 *
 * Power loss (`powerLoss()`, called by the cluster when a node crashes). Scenarios:
 *   1. Each unsynced namespace operation, in order, is independently kept or lost; one whose
 *      source is gone by then has no effect. Files whose names all vanished are gone. A rename is
 *      kept or lost as a whole, so the target name always survives with the old or the new file.
 *   2. Each unsynced write of a surviving file is independently lost, kept, or torn: kept only up to
 *      a 512-byte sector boundary inside it (a prefix). Each unsynced truncate is kept or lost.
 *      Whatever survives, no byte appears that was not written: a byte is its durable value, a byte
 *      of some write to that offset, or zero where the file grew past bytes that were lost.
 *   3. A process crash without power loss (`SimCluster.crash(id, { kind: 'process' })`) skips all
 *      of this: the page cache survives the process, so the next incarnation reads every write.
 *   4. A failed sync (an injected I/O error) makes nothing durable; the writes stay unsynced, and a
 *      later successful sync makes them durable, as the contract says.
 * Operations issued by a dead incarnation are dropped and never settle (see `process.ts`).
 */

import type { Prng } from './prng.js';
import type { Incarnation } from './process.js';
import { never } from './process.js';
import {
  AssertionError,
  assert,
  copyBytes,
  type Disk,
  type DiskFile,
  type NodeId,
  NorthlightError,
} from './protocol.js';
import type { Scheduler } from './scheduler.js';

export const SECTOR_BYTES = 512;

export interface DiskLatency {
  readonly baseMs: number;
  readonly tailMeanMs: number;
}

export interface SimDiskOptions {
  readonly readLatency: DiskLatency;
  readonly writeLatency: DiskLatency;
  readonly syncLatency: DiskLatency;
  /** open, exists, list, remove, rename, size, close. */
  readonly metadataLatency: DiskLatency;
  /** Probability that a read, write, truncate, sync, open, remove, rename or directory sync fails. */
  readonly ioErrorProbability: number;
  readonly fileBytesMax: number;
  /** Unsynced content operations a disk holds at once; more means a process never syncs. */
  readonly pendingOperationsMax: number;
}

export const DISK_DEFAULTS: SimDiskOptions = {
  readLatency: { baseMs: 0.02, tailMeanMs: 0.03 },
  writeLatency: { baseMs: 0.02, tailMeanMs: 0.03 },
  syncLatency: { baseMs: 0.4, tailMeanMs: 0.6 },
  metadataLatency: { baseMs: 0.01, tailMeanMs: 0.02 },
  ioErrorProbability: 0,
  fileBytesMax: 1024 * 1024 * 1024,
  pendingOperationsMax: 1_000_000,
};

/** Bytes with a size, growing by doubling; bytes past `size` are always zero. */
class ByteContent {
  bytes: Uint8Array;
  size: number;

  constructor(bytes = new Uint8Array(0), size = 0) {
    this.bytes = bytes;
    this.size = size;
  }

  clone(): ByteContent {
    return new ByteContent(this.bytes.slice(0, this.size), this.size);
  }

  write(offset: number, data: Uint8Array): void {
    this.reserve(offset + data.length);
    this.bytes.set(data, offset);
    this.size = Math.max(this.size, offset + data.length);
  }

  truncate(size: number): void {
    if (size < this.size) this.bytes.fill(0, size, this.size);
    else this.reserve(size);
    this.size = size;
  }

  read(offset: number, length: number): Uint8Array {
    const end = Math.min(this.size, offset + length);
    // A fresh copy the reader may keep (from a byte slab when small: see `write`).
    return end <= offset ? new Uint8Array(0) : copyBytes(this.bytes, offset, end);
  }

  private reserve(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.bytes.length * 2, 64));
    grown.set(this.bytes.subarray(0, this.size));
    this.bytes = grown;
  }
}

type ContentOperation =
  | { readonly kind: 'write'; readonly sequence: number; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly sequence: number; readonly size: number };

type NamespaceOperation =
  | { readonly kind: 'create'; readonly path: string; readonly inode: Inode }
  | { readonly kind: 'remove'; readonly path: string; readonly inode: Inode }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly inode: Inode };

class Inode {
  current = new ByteContent();
  durable = new ByteContent();
  pending: ContentOperation[] = [];
  sequenceNext = 0;

  constructor(readonly id: number) {}
}

/** What `flipBit` corrupted. */
export interface BitFlip {
  readonly path: string;
  readonly offset: number;
  readonly bit: number;
}

export interface DiskStats {
  reads: number;
  writes: number;
  syncs: number;
  ioErrors: number;
  powerLosses: number;
  writesLost: number;
  writesTorn: number;
  writesKept: number;
  filesVanished: number;
}

export class SimDisk {
  private options: SimDiskOptions;
  private current = new Map<string, Inode>();
  private durable = new Map<string, Inode>();
  private pendingNamespace: NamespaceOperation[] = [];
  private inodeNext = 0;
  private pendingOperations = 0;
  readonly stats: DiskStats = {
    reads: 0,
    writes: 0,
    syncs: 0,
    ioErrors: 0,
    powerLosses: 0,
    writesLost: 0,
    writesTorn: 0,
    writesKept: 0,
    filesVanished: 0,
  };

  constructor(
    readonly nodeId: NodeId,
    private readonly scheduler: Scheduler,
    private readonly random: Prng,
    options: Partial<SimDiskOptions> = {},
  ) {
    this.options = { ...DISK_DEFAULTS, ...options };
  }

  /** The `Disk` an incarnation sees: its calls are dropped once it is dead. */
  view(incarnation: Incarnation): Disk {
    return new SimDiskView(this, incarnation);
  }

  get ioErrorProbability(): number {
    return this.options.ioErrorProbability;
  }

  setIoErrorProbability(probability: number): void {
    assert(probability >= 0 && probability <= 1, `ioErrorProbability must be in [0, 1]: ${probability}`);
    this.options = { ...this.options, ioErrorProbability: probability };
    this.note(`disk ${this.nodeId} io-error-probability ${probability}`);
  }

  setLatency(
    latency: Partial<
      Pick<SimDiskOptions, 'readLatency' | 'writeLatency' | 'syncLatency' | 'metadataLatency'>
    >,
  ): void {
    this.options = { ...this.options, ...latency };
  }

  // ---- observation (tests and checkers; never from simulated processes) ----

  /** Paths of the files that exist now, sorted. */
  paths(): string[] {
    return [...this.current.keys()].sort();
  }

  /** Paths that would exist after a power loss now, sorted. */
  durablePaths(): string[] {
    return [...this.durable.keys()].sort();
  }

  /** A copy of a file's current content (what reads see), or undefined. */
  contentOf(path: string): Uint8Array | undefined {
    const inode = this.current.get(path);
    return inode === undefined ? undefined : inode.current.read(0, inode.current.size);
  }

  /** A copy of a file's durable content under its durable name, or undefined. */
  durableContentOf(path: string): Uint8Array | undefined {
    const inode = this.durable.get(path);
    return inode === undefined ? undefined : inode.durable.read(0, inode.durable.size);
  }

  /** Sum of the current sizes of every file that has a name. */
  bytesUsed(): number {
    let total = 0;
    for (const inode of new Set(this.current.values())) total += inode.current.size;
    return total;
  }

  /** Unsynced content operations across all files. */
  get unsyncedOperationCount(): number {
    return this.pendingOperations;
  }

  // ---- faults ----

  /**
   * Corrupts one random bit of one random durable byte (of `path`, or of a random file): the medium
   * rotted. The page cache sees it too, unless an unsynced write covers that byte. Returns what was
   * flipped, or undefined if there is no durable byte to flip.
   */
  flipBit(path?: string): BitFlip | undefined {
    const candidates = (path === undefined ? this.durablePaths() : [path]).filter(
      (candidate) => (this.durable.get(candidate)?.durable.size ?? 0) > 0,
    );
    if (candidates.length === 0) return undefined;
    const target = this.random.pick(candidates);
    const inode = this.durable.get(target) as Inode;
    const offset = this.random.nextInt(inode.durable.size);
    const bit = this.random.nextInt(8);
    const mask = 1 << bit;
    inode.durable.bytes[offset] = (inode.durable.bytes[offset] as number) ^ mask;
    const covered = inode.pending.some(
      (operation) =>
        operation.kind === 'write' &&
        operation.offset <= offset &&
        offset < operation.offset + operation.data.length,
    );
    if (!covered && offset < inode.current.size) {
      inode.current.bytes[offset] = (inode.current.bytes[offset] as number) ^ mask;
    }
    this.note(`fault bit-flip ${this.nodeId} ${target}@${offset} bit ${bit}`);
    return { path: target, offset, bit };
  }

  /** The disk is destroyed (the node is replaced): every file is gone. Only while no process runs. */
  wipe(): void {
    this.current = new Map();
    this.durable = new Map();
    this.pendingNamespace = [];
    this.pendingOperations = 0;
    this.note(`disk ${this.nodeId} wiped`);
  }

  /** Applies power-loss semantics to everything unsynced (see the header, scenarios 1 and 2). */
  powerLoss(): void {
    this.stats.powerLosses++;
    for (const operation of this.pendingNamespace) {
      if (this.random.chance(0.5)) applyNamespace(this.durable, operation);
    }
    this.pendingNamespace = [];
    const survivors = new Set(this.durable.values());
    for (const inode of new Set(this.current.values())) {
      if (!survivors.has(inode)) this.stats.filesVanished++;
    }
    for (const inode of survivors) this.recoverContent(inode);
    this.current = new Map(this.durable);
    this.pendingOperations = 0;
    this.note(`disk ${this.nodeId} power-loss files=${this.current.size}`);
  }

  private recoverContent(inode: Inode): void {
    const recovered = inode.durable.clone();
    for (const operation of inode.pending) {
      if (operation.kind === 'truncate') {
        if (this.random.chance(0.5)) recovered.truncate(operation.size);
        continue;
      }
      const kept = this.survivingLength(operation.offset, operation.data.length);
      if (kept > 0) recovered.write(operation.offset, operation.data.subarray(0, kept));
    }
    inode.durable = recovered;
    inode.current = recovered.clone();
    inode.pending = [];
  }

  /** How many leading bytes of an unsynced write survive a power loss: all, none, or up to a sector. */
  private survivingLength(offset: number, length: number): number {
    const outcome = this.random.nextInt(3);
    if (outcome === 0 || length === 0) {
      this.stats.writesLost++;
      return 0;
    }
    const firstBoundary = (Math.floor(offset / SECTOR_BYTES) + 1) * SECTOR_BYTES;
    const end = offset + length;
    if (outcome === 1 || firstBoundary >= end) {
      // A write inside one sector is atomic: kept whole (outcome 2 lands here too).
      this.stats.writesKept++;
      return length;
    }
    const boundaries = Math.ceil((end - firstBoundary) / SECTOR_BYTES);
    this.stats.writesTorn++;
    return firstBoundary + this.random.nextInt(boundaries) * SECTOR_BYTES - offset;
  }

  // ---- operations (called through SimDiskView and SimDiskFile) ----

  /**
   * Runs one operation for `incarnation`: `issue` applies its effect now and returns what completes
   * it (run when the promise settles); an injected I/O error skips both and rejects instead.
   */
  operation<T>(
    incarnation: Incarnation,
    name: string,
    path: string,
    latency: DiskLatency,
    failable: boolean,
    issue: () => () => T,
  ): Promise<T> {
    if (!incarnation.alive) return never();
    const delayUs = Math.max(
      1,
      Math.round((latency.baseMs + this.random.exponential(latency.tailMeanMs)) * 1000),
    );
    const label = `disk ${incarnation.label} ${name} ${path}`;
    if (failable && this.random.chance(this.options.ioErrorProbability)) {
      this.stats.ioErrors++;
      this.note(`disk ${incarnation.label} ${name} ${path} EIO`);
      return incarnation.complete(delayUs, `${label} failed`, () => {
        throw new NorthlightError('NL_DISK_IO', `injected I/O error: ${name} ${path}`, {
          node: this.nodeId,
          path,
          operation: name,
        });
      });
    }
    const complete = issue();
    return incarnation.complete(delayUs, label, complete);
  }

  open(path: string): Inode {
    assertPath(path);
    const existing = this.current.get(path);
    if (existing !== undefined) return existing;
    const inode = new Inode(this.inodeNext++);
    this.current.set(path, inode);
    this.pendingNamespace.push({ kind: 'create', path, inode });
    return inode;
  }

  exists(path: string): boolean {
    return this.current.has(path);
  }

  list(directory: string): string[] {
    const normalized = normalizeDirectory(directory);
    const names: string[] = [];
    for (const path of this.current.keys()) {
      if (directoryOf(path) === normalized) names.push(path.slice(normalized.length + 1));
    }
    return names.sort();
  }

  remove(path: string): void {
    const inode = this.current.get(path);
    if (inode === undefined) return;
    this.current.delete(path);
    this.pendingNamespace.push({ kind: 'remove', path, inode });
  }

  rename(from: string, to: string): void {
    assertPath(to);
    const inode = this.current.get(from);
    if (inode === undefined) {
      throw new NorthlightError('NL_DISK_IO', `rename of a missing file: ${from}`, {
        path: from,
        reason: 'ENOENT',
      });
    }
    if (from === to) return;
    this.current.delete(from);
    this.current.set(to, inode);
    this.pendingNamespace.push({ kind: 'rename', from, to, inode });
  }

  /** Completion of `syncDirectory`: the namespace operations touching `directory` become durable. */
  syncDirectory(directory: string): void {
    const normalized = normalizeDirectory(directory);
    this.pendingNamespace = this.pendingNamespace.filter((operation) => {
      if (!touches(operation, normalized)) return true;
      applyNamespace(this.durable, operation);
      return false;
    });
  }

  write(inode: Inode, offset: number, data: Uint8Array): void {
    if (!(Number.isSafeInteger(offset) && offset >= 0))
      throw new AssertionError(`write offset invalid: ${offset}`);
    if (!(offset + data.length <= this.options.fileBytesMax))
      throw new AssertionError(`write past ${this.options.fileBytesMax} bytes`);
    this.stats.writes++;
    // The caller may reuse `data`; the pending write keeps its own copy. `copyBytes` takes small ones
    // from the protocol's byte slabs: a `slice()` per write gave each its own backing store, a
    // measurable cost in a campaign.
    const copy = copyBytes(data);
    inode.current.write(offset, copy);
    this.addPending(inode, { kind: 'write', sequence: inode.sequenceNext++, offset, data: copy });
  }

  truncate(inode: Inode, size: number): void {
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= this.options.fileBytesMax))
      throw new AssertionError(`truncate size invalid: ${size}`);
    inode.current.truncate(size);
    this.addPending(inode, { kind: 'truncate', sequence: inode.sequenceNext++, size });
  }

  read(inode: Inode, offset: number, length: number): Uint8Array {
    if (!(Number.isSafeInteger(offset) && offset >= 0))
      throw new AssertionError(`read offset invalid: ${offset}`);
    if (!(Number.isSafeInteger(length) && length >= 0))
      throw new AssertionError(`read length invalid: ${length}`);
    this.stats.reads++;
    return inode.current.read(offset, length);
  }

  /** The sequence number a sync issued now covers (every content operation below it). */
  syncMark(inode: Inode): number {
    return inode.sequenceNext;
  }

  /** Completion of `file.sync()`: content operations before `mark` and the file's creation become durable. */
  syncFile(inode: Inode, mark: number): void {
    this.stats.syncs++;
    let flushed = 0;
    for (const operation of inode.pending) {
      if (operation.sequence >= mark) break;
      if (operation.kind === 'write') inode.durable.write(operation.offset, operation.data);
      else inode.durable.truncate(operation.size);
      flushed++;
    }
    if (flushed > 0) {
      inode.pending = inode.pending.slice(flushed);
      this.pendingOperations -= flushed;
    }
    this.pendingNamespace = this.pendingNamespace.filter((operation) => {
      if (operation.kind !== 'create' || operation.inode !== inode) return true;
      applyNamespace(this.durable, operation);
      return false;
    });
  }

  get latencies(): Pick<SimDiskOptions, 'readLatency' | 'writeLatency' | 'syncLatency' | 'metadataLatency'> {
    return this.options;
  }

  private addPending(inode: Inode, operation: ContentOperation): void {
    if (!(this.pendingOperations < this.options.pendingOperationsMax))
      throw new AssertionError(
        `disk ${this.nodeId}: more than ${this.options.pendingOperationsMax} unsynced operations`,
      );
    inode.pending.push(operation);
    this.pendingOperations++;
  }

  private note(text: string): void {
    this.scheduler.trace.record(this.scheduler.nowUs, text);
  }
}

function applyNamespace(namespace: Map<string, Inode>, operation: NamespaceOperation): void {
  switch (operation.kind) {
    case 'create':
      namespace.set(operation.path, operation.inode);
      return;
    case 'remove':
      if (namespace.get(operation.path) === operation.inode) namespace.delete(operation.path);
      return;
    case 'rename':
      // The target entry is written even if the source's creation was lost: the directory entry
      // names the inode, which exists with whatever content survived.
      if (namespace.get(operation.from) === operation.inode) namespace.delete(operation.from);
      namespace.set(operation.to, operation.inode);
      return;
  }
}

function touches(operation: NamespaceOperation, directory: string): boolean {
  if (operation.kind === 'rename') {
    return directoryOf(operation.from) === directory || directoryOf(operation.to) === directory;
  }
  return directoryOf(operation.path) === directory;
}

/** `/data/seg/1.log` → `/data/seg`; a top-level `/a` or `a` → `` (the root). */
export function directoryOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** `/data/` → `/data`; `/`, `.` and `` → `` (the root). */
export function normalizeDirectory(directory: string): string {
  let normalized = directory;
  while (normalized.endsWith('/')) normalized = normalized.slice(0, -1);
  return normalized === '.' ? '' : normalized;
}

function assertPath(path: string): void {
  if (!(path.length > 0 && !path.endsWith('/') && !path.includes('//')))
    throw new AssertionError(`invalid file path: ${JSON.stringify(path)}`);
}

/** The `Disk` of one incarnation. */
class SimDiskView implements Disk {
  constructor(
    private readonly disk: SimDisk,
    private readonly incarnation: Incarnation,
  ) {}

  open(path: string): Promise<DiskFile> {
    const { metadataLatency } = this.disk.latencies;
    return this.disk.operation(this.incarnation, 'open', path, metadataLatency, true, () => {
      const inode = this.disk.open(path);
      return () => new SimDiskFile(this.disk, this.incarnation, path, inode);
    });
  }

  exists(path: string): Promise<boolean> {
    return this.disk.operation(
      this.incarnation,
      'exists',
      path,
      this.disk.latencies.metadataLatency,
      false,
      () => {
        const exists = this.disk.exists(path);
        return () => exists;
      },
    );
  }

  list(directory: string): Promise<string[]> {
    return this.disk.operation(
      this.incarnation,
      'list',
      directory,
      this.disk.latencies.metadataLatency,
      false,
      () => {
        const names = this.disk.list(directory);
        return () => names;
      },
    );
  }

  remove(path: string): Promise<void> {
    return this.disk.operation(
      this.incarnation,
      'remove',
      path,
      this.disk.latencies.metadataLatency,
      true,
      () => {
        this.disk.remove(path);
        return () => undefined;
      },
    );
  }

  rename(from: string, to: string): Promise<void> {
    const label = `${from}>${to}`;
    return this.disk.operation(
      this.incarnation,
      'rename',
      label,
      this.disk.latencies.metadataLatency,
      true,
      () => {
        try {
          this.disk.rename(from, to);
        } catch (error) {
          return () => {
            throw error;
          };
        }
        return () => undefined;
      },
    );
  }

  syncDirectory(directory: string): Promise<void> {
    return this.disk.operation(
      this.incarnation,
      'sync-dir',
      directory,
      this.disk.latencies.syncLatency,
      true,
      () => {
        return () => this.disk.syncDirectory(directory);
      },
    );
  }
}

/** A file handle of one incarnation. */
class SimDiskFile implements DiskFile {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly incarnation: Incarnation,
    readonly path: string,
    private readonly inode: Inode,
  ) {}

  size(): Promise<number> {
    this.assertOpen('size');
    return this.disk.operation(
      this.incarnation,
      'size',
      this.path,
      this.disk.latencies.metadataLatency,
      false,
      () => {
        const size = this.inode.current.size;
        return () => size;
      },
    );
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    this.assertOpen('read');
    return this.disk.operation(
      this.incarnation,
      'read',
      this.path,
      this.disk.latencies.readLatency,
      true,
      () => {
        const bytes = this.disk.read(this.inode, offset, length);
        return () => bytes;
      },
    );
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    this.assertOpen('write');
    const label = `${this.path}@${offset}+${data.length}`;
    return this.disk.operation(
      this.incarnation,
      'write',
      label,
      this.disk.latencies.writeLatency,
      true,
      () => {
        this.disk.write(this.inode, offset, data);
        return () => undefined;
      },
    );
  }

  truncate(size: number): Promise<void> {
    this.assertOpen('truncate');
    const label = `${this.path}@${size}`;
    return this.disk.operation(
      this.incarnation,
      'truncate',
      label,
      this.disk.latencies.writeLatency,
      true,
      () => {
        this.disk.truncate(this.inode, size);
        return () => undefined;
      },
    );
  }

  sync(): Promise<void> {
    this.assertOpen('sync');
    return this.disk.operation(
      this.incarnation,
      'sync',
      this.path,
      this.disk.latencies.syncLatency,
      true,
      () => {
        const mark = this.disk.syncMark(this.inode);
        return () => this.disk.syncFile(this.inode, mark);
      },
    );
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.disk.operation(
      this.incarnation,
      'close',
      this.path,
      this.disk.latencies.metadataLatency,
      false,
      () => {
        return () => undefined;
      },
    );
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new AssertionError(`${operation} on closed file ${this.path}`);
  }
}
