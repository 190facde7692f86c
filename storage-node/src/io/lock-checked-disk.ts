/**
 * The storage node's disk: the real one, cut off for good once the data directory lock is no longer
 * this process's (data-dir-lock.ts, case 12). Another node then serves the directory; anything this
 * one wrote there (a log entry past the other's replay, a control entry at its own stale offset, a
 * page slot the other reuses) would corrupt it.
 *
 * Every operation that changes the directory (open, which may create; write, truncate, sync, remove,
 * rename, directory sync) first asks the lock whether LOCK is still the file this process linked (one
 * stat). A yes is reused for `LOCK_CHECK_REUSE_MS` (1 ms) of the monotonic clock: a materialization
 * step writes thousands of page images in a burst, each a ~2 µs write into the page cache now, and a
 * stat each (a system call and a `Stats` object, ~3 µs) cost more than the writes. The reuse keeps what
 * the check is for (data-dir-lock.ts, case 12a): another node can take the lock over only after this
 * one's heartbeat has been silent for 10 s, so the first write after the freeze finds the last check
 * 10 s old and checks again; at most 1 ms of this process's own running after it wakes (should the
 * clock not count a frozen VM) widens the window the lock already leaves open. Once it is not, or once the
 * process fences the disk itself (the heartbeat found the loss), every operation, reads included, fails
 * with NL_DISK_IO saying why: the core's requests and background work fail typed while the process
 * exits. Closing a file stays allowed: it writes nothing.
 */
import { type Disk, type DiskFile, NorthlightError } from '@northlight/protocol';

/** What the disk needs of the lock: `DataDirLock.isHeld`. */
export interface LockOwnership {
  isHeld(): boolean;
}

/** How long a check that found the lock held is trusted (monotonic milliseconds). */
export const LOCK_CHECK_REUSE_MS = 1;

export class LockCheckedDisk implements Disk {
  readonly #inner: Disk;
  readonly #lock: LockOwnership;
  #fenced: NorthlightError | undefined;
  /** `performance.now()` of the last check that found the lock held. */
  #heldAt = Number.NEGATIVE_INFINITY;

  constructor(inner: Disk, lock: LockOwnership) {
    this.#inner = inner;
    this.#lock = lock;
  }

  /** From now on every operation fails with `why` (NL_DISK_IO). */
  fence(why: string): void {
    this.#fenced ??= new NorthlightError('NL_DISK_IO', why);
  }

  get fenced(): boolean {
    return this.#fenced !== undefined;
  }

  /** Runs `operation` unless fenced; `changes` operations first check the lock (and fence on a loss). */
  run<T>(changes: boolean, operation: () => Promise<T>): Promise<T> {
    if (this.#fenced === undefined && changes) {
      const now = performance.now();
      if (now - this.#heldAt >= LOCK_CHECK_REUSE_MS) {
        if (this.#lock.isHeld()) this.#heldAt = now;
        else
          this.fence(
            'the data directory lock was taken over by another process: this node writes nothing more',
          );
      }
    }
    if (this.#fenced !== undefined) return Promise.reject(this.#fenced);
    return operation();
  }

  open(path: string): Promise<DiskFile> {
    return this.run(true, () => this.#inner.open(path)).then((file) => new LockCheckedFile(this, file));
  }

  exists(path: string): Promise<boolean> {
    return this.run(false, () => this.#inner.exists(path));
  }

  list(directory: string): Promise<string[]> {
    return this.run(false, () => this.#inner.list(directory));
  }

  remove(path: string): Promise<void> {
    return this.run(true, () => this.#inner.remove(path));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(true, () => this.#inner.rename(from, to));
  }

  syncDirectory(directory: string): Promise<void> {
    return this.run(true, () => this.#inner.syncDirectory(directory));
  }
}

class LockCheckedFile implements DiskFile {
  constructor(
    private readonly disk: LockCheckedDisk,
    private readonly inner: DiskFile,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  size(): Promise<number> {
    return this.disk.run(false, () => this.inner.size());
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.disk.run(false, () => this.inner.read(offset, length));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.disk.run(true, () => this.inner.write(offset, data));
  }

  truncate(size: number): Promise<void> {
    return this.disk.run(true, () => this.inner.truncate(size));
  }

  sync(): Promise<void> {
    return this.disk.run(true, () => this.inner.sync());
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
