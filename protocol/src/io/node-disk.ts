/**
 * The real Disk: files under a root directory through `node:fs/promises` (writes excepted: see
 * `NodeDiskFile.write`). `sync()` is fdatasync and
 * `syncDirectory` fsyncs the directory, which is what makes a create or rename durable on Linux.
 * Every failure becomes `NL_DISK_IO` with the path and the operation, so callers branch on one code.
 */
import { writeSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { assert } from '../core/assert.js';
import type { Disk, DiskFile } from '../core/env.js';
import { NorthlightError } from '../core/errors.js';

function diskError(operation: string, path: string, error: unknown): NorthlightError {
  const reason = error instanceof Error ? error.message : String(error);
  return new NorthlightError('NL_DISK_IO', `${operation} ${path}: ${reason}`, { operation, path });
}

async function io<T>(operation: string, path: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw diskError(operation, path, error);
  }
}

class NodeDiskFile implements DiskFile {
  readonly path: string;
  readonly #handle: FileHandle;
  readonly #absolutePath: string;

  constructor(path: string, absolutePath: string, handle: FileHandle) {
    this.path = path;
    this.#absolutePath = absolutePath;
    this.#handle = handle;
  }

  size(): Promise<number> {
    return io('stat', this.#absolutePath, async () => (await this.#handle.stat()).size);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    assert(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0);
    return io('read', this.#absolutePath, async () => {
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await this.#handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    });
  }

  /**
   * A positional write into the kernel's page cache, made synchronously: it copies the bytes and
   * returns (durability is `sync()`'s job, which stays asynchronous). Through the thread pool the same
   * 4 KiB write cost about 30 µs of CPU (a hand-off to a pool thread and back, a promise) against
   * about 2 µs here, and a storage node writes thousands of page images a second: six nodes under the
   * engine benchmark spent 30% less CPU per transaction with this (docs/storage-node.md).
   */
  write(offset: number, data: Uint8Array): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= 0);
    try {
      for (let written = 0; written < data.length; ) {
        const count = writeSync(this.#handle.fd, data, written, data.length - written, offset + written);
        if (count === 0) throw new Error('the write made no progress');
        written += count;
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(diskError('write', this.#absolutePath, error));
    }
  }

  truncate(size: number): Promise<void> {
    return io('truncate', this.#absolutePath, () => this.#handle.truncate(size));
  }

  sync(): Promise<void> {
    return io('fdatasync', this.#absolutePath, () => this.#handle.datasync());
  }

  close(): Promise<void> {
    return io('close', this.#absolutePath, () => this.#handle.close());
  }
}

export class NodeDisk implements Disk {
  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /** Disk paths are relative to the root even when they start with '/' (as the simulator's do). */
  #resolve(path: string): string {
    const absolute = resolve(this.#root, path.replace(/^\/+/, ''));
    assert(
      absolute === this.#root || absolute.startsWith(this.#root + sep),
      `path escapes the disk root: ${path}`,
    );
    return absolute;
  }

  async open(path: string): Promise<DiskFile> {
    const absolute = this.#resolve(path);
    return io('open', absolute, async () => {
      await mkdir(dirname(absolute), { recursive: true });
      const handle = await open(absolute, 'a+').then(async (appendHandle) => {
        // 'a+' creates without truncating; reopen read-write so positional writes are honoured.
        await appendHandle.close();
        return open(absolute, 'r+');
      });
      return new NodeDiskFile(path, absolute, handle);
    });
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(this.#resolve(path));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw diskError('stat', path, error);
    }
  }

  async list(directory: string): Promise<string[]> {
    const absolute = this.#resolve(directory);
    try {
      const entries = await readdir(absolute, { withFileTypes: true });
      return entries
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw diskError('readdir', absolute, error);
    }
  }

  remove(path: string): Promise<void> {
    const absolute = this.#resolve(path);
    return io('remove', absolute, () => rm(absolute, { force: true }));
  }

  rename(from: string, to: string): Promise<void> {
    const source = this.#resolve(from);
    const target = this.#resolve(to);
    return io('rename', source, async () => {
      await mkdir(dirname(target), { recursive: true });
      await rename(source, target);
    });
  }

  syncDirectory(directory: string): Promise<void> {
    const absolute = this.#resolve(directory);
    return io('fsync directory', absolute, async () => {
      const handle = await open(absolute, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /** The absolute path of `path` on this disk, for log lines. */
  describe(path: string): string {
    return join(this.#root, path);
  }
}
