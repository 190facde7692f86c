/**
 * An append-only file with group commit: appends queued while a write is in flight are written
 * together, and one fdatasync covers them all. Appends complete strictly in order, so an append is
 * never reported durable while an earlier one could still be missing — which matters after an I/O
 * error: a failed write followed by a successful one would leave a hole that replay stops at, losing
 * the later append that was already acknowledged. After the first error the file is failed for good:
 * every pending and later append rejects, and the owner must reload from disk.
 */
import {
  allocateBytes,
  assert,
  type DiskFile,
  isNorthlightError,
  NorthlightError,
} from '@northlight/protocol';

interface Pending {
  readonly bytes: Uint8Array;
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (error: NorthlightError) => void;
}

/** Bytes queued behind an in-flight write before appends are refused (back-pressure). */
export const APPEND_QUEUE_BYTES_MAX = 16 * 1024 * 1024;

export class AppendFile {
  readonly #file: DiskFile;
  #end: number;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #flushing = false;
  #failure: NorthlightError | undefined;
  /** Skip fdatasync (a planted bug for the checkers' own tests). */
  readonly #skipSync: boolean;

  constructor(file: DiskFile, end: number, options: { skipSync?: boolean } = {}) {
    this.#file = file;
    this.#end = end;
    this.#skipSync = options.skipSync ?? false;
  }

  get end(): number {
    return this.#end;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  append(bytes: Uint8Array, sync: boolean): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#queuedBytes + bytes.length > APPEND_QUEUE_BYTES_MAX) {
      return Promise.reject(
        new NorthlightError('NL_DISK_IO', 'append queue full', { path: this.#file.path }),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ bytes, sync, resolve, reject });
      this.#queuedBytes += bytes.length;
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const group = this.#queue;
      this.#queue = [];
      const size = group.reduce((sum, pending) => sum + pending.bytes.length, 0);
      this.#queuedBytes -= size;
      const joined = join(group);
      try {
        if (size > 0) await this.#file.write(this.#end, joined);
        if (group.some((pending) => pending.sync) && !this.#skipSync) await this.#file.sync();
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        this.#failure = error;
        for (const pending of [...group, ...this.#queue]) pending.reject(error);
        this.#queue = [];
        break;
      }
      this.#end += size;
      for (const pending of group) pending.resolve();
    }
    assert(this.#failure !== undefined || this.#queue.length === 0);
    this.#flushing = false;
  }
}

/**
 * The appends' bytes one after another. A lone append is written as it is: the disk copies what it is
 * given when the write is issued, so nothing aliases it afterwards.
 */
function join(group: readonly Pending[]): Uint8Array {
  if (group.length === 1) return (group[0] as Pending).bytes;
  let size = 0;
  for (const pending of group) size += pending.bytes.length;
  const joined = allocateBytes(size);
  let position = 0;
  for (const pending of group) {
    joined.set(pending.bytes, position);
    position += pending.bytes.length;
  }
  return joined;
}
