/**
 * The embedded metadata directory (the local platform's default: no Redis): one JSON document,
 * `<dataDirectory>/metadata.json`, in the format of `core/metadata.ts`.
 *
 * A write replaces the file atomically: the new document goes to `metadata.json.tmp`, which is
 * fsynced, renamed over `metadata.json`, and the directory is fsynced. What a crash leaves behind:
 *   1. Before the rename: `metadata.json` is the previous revision, untouched; the temp file is
 *      garbage that no read looks at and the next write truncates.
 *   2. After the rename, before the directory fsync: after a power loss the name points at the old or
 *      the new document, each complete (the temp file was fsynced before the rename). The write never
 *      resolved, so its caller counted on nothing; if the new revision survived, the caller's retry
 *      gets a conflict, re-reads and sees it.
 *   3. After the directory fsync: the write resolved and the new revision is durable.
 * A damaged `metadata.json` is never repaired or overwritten here: reads and writes fail with a
 * corrupt error naming the file, and the way out is a wipe and a rebuild from the storage nodes.
 *
 * Writes are serialized per file across every store instance in this process: each one re-reads the
 * committed revision inside the queue, so of two writes planned from the same revision exactly one
 * wins. Two processes sharing a data directory are not serialized against each other; the local
 * platform runs one control plane per data directory.
 */
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assert, NorthlightError } from '@northlight/protocol';
import {
  decodeMetadataDocument,
  EMPTY_METADATA,
  MAX_METADATA_DOCUMENT_BYTES,
  type MetadataContent,
  type MetadataSnapshot,
  type MetadataStore,
  metadataConflict,
  prepareWrite,
  undecodableMetadata,
} from '../core/metadata.js';

export const METADATA_FILE_NAME = 'metadata.json';
export const METADATA_TEMP_FILE_NAME = 'metadata.json.tmp';
/** Writes (and wipes) waiting for one file; the control plane writes one at a time, so more is a bug. */
export const MAX_QUEUED_WRITES = 64;
/** Indentation of the stored JSON: the file is meant to be read by people too. */
const DOCUMENT_INDENT = 2;

interface WriteQueue {
  tail: Promise<void>;
  length: number;
}

/** By absolute file path, so that two store instances on one directory share a queue. */
const writeQueues = new Map<string, WriteQueue>();

function serialized<T>(path: string, task: () => Promise<T>): Promise<T> {
  let queue = writeQueues.get(path);
  if (queue === undefined) {
    queue = { tail: Promise.resolve(), length: 0 };
    writeQueues.set(path, queue);
  }
  assert(
    queue.length < MAX_QUEUED_WRITES,
    `more than ${MAX_QUEUED_WRITES} metadata writes queued for ${path}`,
  );
  queue.length++;
  const result = queue.tail.then(task);
  const settled = (): void => {
    queue.length--;
    if (queue.length === 0 && writeQueues.get(path) === queue) writeQueues.delete(path);
  };
  queue.tail = result.then(settled, settled);
  return result;
}

function diskError(operation: string, path: string, error: unknown): NorthlightError {
  const reason = error instanceof Error ? error.message : String(error);
  return new NorthlightError('NL_DISK_IO', `metadata directory: ${operation} ${path}: ${reason}`, {
    operation,
    path,
  });
}

async function io<T>(operation: string, path: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw diskError(operation, path, error);
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export class FileMetadataStore implements MetadataStore {
  /** The committed document. */
  readonly path: string;
  readonly #directory: string;
  readonly #tempPath: string;
  #closed = false;

  constructor(dataDirectory: string) {
    this.#directory = resolve(dataDirectory);
    this.path = join(this.#directory, METADATA_FILE_NAME);
    this.#tempPath = join(this.#directory, METADATA_TEMP_FILE_NAME);
  }

  read(): Promise<MetadataSnapshot> {
    assert(!this.#closed, 'metadata store used after close');
    return this.#readCommitted();
  }

  write(expectedRevision: number, next: MetadataContent): Promise<MetadataSnapshot> {
    assert(!this.#closed, 'metadata store used after close');
    assert(
      Number.isSafeInteger(expectedRevision) && expectedRevision >= 0,
      `bad revision ${expectedRevision}`,
    );
    const { snapshot, text } = prepareWrite(expectedRevision + 1, next, DOCUMENT_INDENT);
    return serialized(this.path, async () => {
      const committed = await this.#readCommitted();
      if (committed.revision !== expectedRevision) {
        throw metadataConflict(`file ${this.path}`, expectedRevision, committed.revision);
      }
      await this.#replaceCommitted(`${text}\n`);
      return snapshot;
    });
  }

  wipe(): Promise<void> {
    assert(!this.#closed, 'metadata store used after close');
    return serialized(this.path, async () => {
      await io('remove', this.path, () => rm(this.path, { force: true }));
      await io('remove', this.#tempPath, () => rm(this.#tempPath, { force: true }));
      await this.#syncDirectory();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let writes already queued by this instance finish, so close() means "nothing in flight".
    await serialized(this.path, async () => {});
    this.#closed = true;
  }

  async #readCommitted(): Promise<MetadataSnapshot> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if (isMissing(error)) return EMPTY_METADATA;
      throw diskError('open', this.path, error);
    }
    try {
      const { size } = await io('stat', this.path, () => handle.stat());
      if (size > MAX_METADATA_DOCUMENT_BYTES) {
        throw undecodableMetadata(`file ${this.path}`, {
          reason: `${size} bytes, more than a metadata document may have (${MAX_METADATA_DOCUMENT_BYTES})`,
          newerFormat: false,
        });
      }
      const text = await io('read', this.path, () => handle.readFile('utf8'));
      const decoded = decodeMetadataDocument(text);
      if (!decoded.ok) throw undecodableMetadata(`file ${this.path}`, decoded.error);
      return decoded.value;
    } finally {
      await handle.close();
    }
  }

  /** Scenarios 1-3 of the header. */
  async #replaceCommitted(text: string): Promise<void> {
    await io('create directory', this.#directory, () => mkdir(this.#directory, { recursive: true }));
    const temp = await io('open', this.#tempPath, () => open(this.#tempPath, 'w'));
    try {
      await io('write', this.#tempPath, () => temp.writeFile(text, 'utf8'));
      await io('fsync', this.#tempPath, () => temp.sync());
    } finally {
      await temp.close();
    }
    await io('rename', this.#tempPath, () => rename(this.#tempPath, this.path));
    await this.#syncDirectory();
  }

  /** Makes a rename or removal in the directory durable; nothing to do when it does not exist. */
  async #syncDirectory(): Promise<void> {
    let directory: FileHandle;
    try {
      directory = await open(this.#directory, 'r');
    } catch (error) {
      if (isMissing(error)) return;
      throw diskError('open directory', this.#directory, error);
    }
    try {
      await io('fsync directory', this.#directory, () => directory.sync());
    } finally {
      await directory.close();
    }
  }
}
