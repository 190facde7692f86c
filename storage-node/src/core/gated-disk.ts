/**
 * A `Disk` wrapper that one loaded `Storage` does all its I/O through, so the core can cut it off.
 *
 * Crash reasoning:
 *  G1. After a disk error the core reloads from disk, as a restart would. The abandoned Storage may
 *      still have work in flight (a group commit, a materialization step writing a page slot). Were it
 *      to go on writing while the new Storage replays and starts appending, two writers could touch
 *      the same log file or page slot. So the old Storage's gate is closed first (`abandon`: every new
 *      operation fails with NL_DISK_IO) and the reload waits until every operation already issued has
 *      settled (`quiesce`) before it reads anything.
 */
import { type Disk, type DiskFile, NorthlightError } from '@northlight/protocol';

export class GatedDisk implements Disk {
  readonly #inner: Disk;
  #abandoned = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(inner: Disk) {
    this.#inner = inner;
  }

  /** Every later operation (through this disk or a file it opened) fails with NL_DISK_IO. */
  abandon(): void {
    this.#abandoned = true;
  }

  /** Resolves once no operation issued through this disk is still in flight. */
  async quiesce(): Promise<void> {
    while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#abandoned) {
      return Promise.reject(
        new NorthlightError('NL_DISK_IO', 'storage abandoned after a disk error; the node is reloading'),
      );
    }
    this.#inFlight++;
    return operation().finally(() => {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  open(path: string): Promise<DiskFile> {
    return this.run(() => this.#inner.open(path)).then((file) => new GatedFile(this, file));
  }

  exists(path: string): Promise<boolean> {
    return this.run(() => this.#inner.exists(path));
  }

  list(directory: string): Promise<string[]> {
    return this.run(() => this.#inner.list(directory));
  }

  remove(path: string): Promise<void> {
    return this.run(() => this.#inner.remove(path));
  }

  rename(from: string, to: string): Promise<void> {
    return this.run(() => this.#inner.rename(from, to));
  }

  syncDirectory(directory: string): Promise<void> {
    return this.run(() => this.#inner.syncDirectory(directory));
  }
}

class GatedFile implements DiskFile {
  constructor(
    private readonly gate: GatedDisk,
    private readonly inner: DiskFile,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  size(): Promise<number> {
    return this.gate.run(() => this.inner.size());
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.gate.run(() => this.inner.read(offset, length));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.gate.run(() => this.inner.write(offset, data));
  }

  truncate(size: number): Promise<void> {
    return this.gate.run(() => this.inner.truncate(size));
  }

  sync(): Promise<void> {
    return this.gate.run(() => this.inner.sync());
  }

  /** Closing is allowed after `abandon`, so the reload can release the old handles. */
  close(): Promise<void> {
    return this.inner.close();
  }
}
