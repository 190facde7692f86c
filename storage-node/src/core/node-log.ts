/**
 * The node log: ONE append-only log for every segment the node hosts, so that one fdatasync covers
 * the batches of many segments at once (group commit across batches and segments). It is a sequence
 * of files (`<data>/log/log-<sequence>.nl`, format in log-format.ts) so that space can be reclaimed:
 * a file none of whose entries is live any more (materialized and GC'd, annulled by a truncation, of
 * a dropped segment, or a duplicate) is deleted.
 *
 * Files are preallocated in extents: zeros are written ahead of the write position and synced once,
 * and entries then overwrite them, so the fdatasync of an append never has to persist a file-size
 * change. Replay tells preallocated zeros from entries by the entry magic (log-format.ts).
 *
 * Crash reasoning (N1, N2 are in log-format.ts):
 *  N3. An append resolves only after its bytes AND an fsync issued after them completed, for every
 *      file the group touched; groups are written and synced strictly in order, so when an append
 *      resolves every earlier append is durable too. A failed write or sync fails the log for good
 *      (every queued append rejects): a later successful sync must never report an append durable
 *      while an earlier one may be missing (fsyncgate).
 *  N4. Each incarnation appends only to files it created itself; a file of an earlier incarnation is
 *      never written again. So garbage a crash left past an old file's last valid entry (a torn or
 *      kept-but-unacknowledged write) can never be mistaken for, or overwrite, a new entry, and a
 *      rescan of an old file always finds the same entries.
 *  N5. An extent's zeros are written before the entries that overwrite them, and synced on their own
 *      first: the zeros can never land after (and erase) an entry.
 *  N6. Every entry written is counted live until its owner releases it, so no file is deleted in the
 *      window between an append's completion and the owner indexing its records; a file is deleted
 *      only while no read of it is in flight, and never the file being appended to. A deletion lost
 *      in a crash is harmless: replay finds only dead entries in the file and deletes it again.
 *  N7. Replay reads what a crashed PROCESS left in the page cache, synced or not (the machine stayed
 *      up). The new incarnation indexes those records and would acknowledge a retransmission of one as
 *      a duplicate, after an fsync of its OWN file (N4) that does not cover the old one: a power loss
 *      then loses an acknowledged record. So every file is synced when it is replayed, before anything
 *      replayed can be acknowledged. (Found by the power-loss campaign, seed 2, which mixes process
 *      crashes in; pinned by a directed test in append-durability.test.ts.)
 */
import {
  assert,
  type Disk,
  type DiskFile,
  isNorthlightError,
  type Logger,
  NorthlightError,
} from '@northlight/protocol';
import {
  alignedEntryBytes,
  encodeLogFileHeader,
  LOG_FILE_HEADER_BYTES,
  type LogFileScan,
  type LogLocation,
  logFileName,
  parseLogFileName,
  scanLogFile,
  tryDecodeLogEntry,
  writeLogEntry,
} from './log-format.js';
import type { StorageMetrics } from './metrics.js';

export interface NodeLogOptions {
  readonly directory: string;
  readonly logFileBytes: number;
  readonly logPreallocateBytes: number;
  readonly appendQueueBytesMax: number;
}

export interface NodeLogEntryInput {
  readonly segmentNumber: number;
  readonly payload: Uint8Array;
}

interface LogFileState {
  readonly sequence: number;
  readonly path: string;
  readonly file: DiskFile;
  /** Bytes on disk (the last write or truncate we know of). */
  sizeBytes: number;
  /** Next entry offset (only for the file being appended to). */
  writeEnd: number;
  /** Zeros are durable up to here (only for the file being appended to). */
  preallocatedEnd: number;
  liveEntries: number;
  liveBytes: number;
}

interface PendingAppend {
  readonly entries: readonly NodeLogEntryInput[];
  readonly bytes: number;
  readonly resolve: (locations: LogLocation[]) => void;
  readonly reject: (error: NorthlightError) => void;
}

export interface ReplayedFile {
  readonly sequence: number;
  readonly scan: LogFileScan;
}

export class NodeLog {
  readonly #disk: Disk;
  readonly #options: NodeLogOptions;
  readonly #metrics: StorageMetrics;
  readonly #log: Logger;
  readonly #files = new Map<number, LogFileState>();
  #current: LogFileState | undefined;
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #pendingBatches = 0;
  #flushing: Promise<void> | undefined;
  #failure: NorthlightError | undefined;
  readonly #zeros: Uint8Array;

  private constructor(disk: Disk, options: NodeLogOptions, metrics: StorageMetrics, log: Logger) {
    this.#disk = disk;
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
    this.#zeros = new Uint8Array(options.logPreallocateBytes);
  }

  /**
   * Opens the log directory and scans every file (N1, N2), oldest first, handing each scan to
   * `onFile` before reading the next (so only one file is in memory). Every scanned entry starts live
   * (N6): `onFile` releases those it does not index. Then the caller calls `startAppending`.
   */
  static async open(
    disk: Disk,
    options: NodeLogOptions,
    metrics: StorageMetrics,
    log: Logger,
    onFile: (file: ReplayedFile, nodeLog: NodeLog) => void,
  ): Promise<NodeLog> {
    const nodeLog = new NodeLog(disk, options, metrics, log);
    const names = await disk.list(options.directory);
    const sequences = names
      .map(parseLogFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((a, b) => a - b);
    for (const sequence of sequences) {
      const path = `${options.directory}/${logFileName(sequence)}`;
      const file = await disk.open(path);
      const sizeBytes = await file.size();
      const scan = scanLogFile(await file.read(0, sizeBytes));
      await file.sync(); // N7
      metrics.fsync('log');
      let liveBytes = 0;
      for (const entry of scan.entries) liveBytes += entry.entryBytes;
      nodeLog.#files.set(sequence, {
        sequence,
        path,
        file,
        sizeBytes,
        writeEnd: scan.validEnd,
        preallocatedEnd: scan.validEnd,
        liveEntries: scan.entries.length,
        liveBytes,
      });
      if (!scan.headerValid) log.log('warn', 'node log file header is damaged; scanned anyway', { path });
      onFile({ sequence, scan }, nodeLog);
    }
    return nodeLog;
  }

  /** Starts a fresh file for this incarnation's appends (N4). */
  async startAppending(): Promise<void> {
    assert(this.#current === undefined, 'startAppending twice');
    this.#current = await this.#createFile(this.#lastSequence() + 1);
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get pendingBatches(): number {
    return this.#pendingBatches;
  }

  get fileCount(): number {
    return this.#files.size;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const file of this.#files.values()) total += file.sizeBytes;
    return total;
  }

  get liveBytes(): number {
    let total = 0;
    for (const file of this.#files.values()) total += file.liveBytes;
    return total;
  }

  /** False when `bytes` more would pass the queue limit: the caller refuses the batch (back-pressure). */
  hasRoomFor(bytes: number): boolean {
    return this.#queuedBytes + bytes <= this.#options.appendQueueBytesMax;
  }

  /**
   * Appends entries (possibly none: then it is a barrier that resolves once every earlier append is
   * durable) and resolves with their locations once they are durable (N3).
   */
  append(entries: readonly NodeLogEntryInput[]): Promise<LogLocation[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    assert(this.#current !== undefined, 'append before startAppending');
    let bytes = 0;
    for (const entry of entries) bytes += alignedEntryBytes(entry.payload.length);
    assert(this.hasRoomFor(bytes), 'append past the queue limit: the caller must check hasRoomFor');
    return new Promise((resolve, reject) => {
      this.#queue.push({ entries, bytes, resolve, reject });
      this.#queuedBytes += bytes;
      this.#pendingBatches++;
      this.#metrics.queueDepth(this.#pendingBatches, this.#queuedBytes);
      if (this.#flushing === undefined) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const group = this.#queue;
      this.#queue = [];
      for (const pending of group) this.#queuedBytes -= pending.bytes;
      let locations: LogLocation[][];
      try {
        locations = await this.#writeGroup(group);
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        this.#failure = error;
        for (const pending of [...group, ...this.#queue]) pending.reject(error);
        this.#pendingBatches = 0;
        this.#queue = [];
        this.#queuedBytes = 0;
        break;
      }
      this.#pendingBatches -= group.length;
      this.#metrics.queueDepth(this.#pendingBatches, this.#queuedBytes);
      for (const [index, pending] of group.entries()) pending.resolve(locations[index]!);
    }
    this.#flushing = undefined;
  }

  /** Lays the group out (rolling to new files and extending extents as needed), writes, syncs (N3, N5). */
  async #writeGroup(group: readonly PendingAppend[]): Promise<LogLocation[][]> {
    const pieces: { file: LogFileState; offset: number; chunks: Uint8Array[]; bytes: number }[] = [];
    const locations: LogLocation[][] = [];
    const finished: LogFileState[] = [];
    for (const pending of group) {
      const placed: LogLocation[] = [];
      for (const entry of pending.entries) {
        const size = alignedEntryBytes(entry.payload.length);
        let file = this.#current!;
        if (file.writeEnd + size > this.#options.logFileBytes && file.writeEnd > LOG_FILE_HEADER_BYTES) {
          finished.push(file);
          file = await this.#createFile(file.sequence + 1);
          this.#current = file;
        }
        if (file.writeEnd + size > file.preallocatedEnd) await this.#extend(file, file.writeEnd + size);
        let piece = pieces.at(-1);
        if (piece === undefined || piece.file !== file) {
          piece = { file, offset: file.writeEnd, chunks: [], bytes: 0 };
          pieces.push(piece);
        }
        const chunk = new Uint8Array(size);
        writeLogEntry(chunk, 0, entry.segmentNumber, entry.payload);
        piece.chunks.push(chunk);
        piece.bytes += size;
        placed.push({ fileSequence: file.sequence, offset: file.writeEnd, entryBytes: size });
        file.writeEnd += size;
        file.liveEntries++; // N6: live until released
        file.liveBytes += size;
      }
      locations.push(placed);
    }
    for (const piece of pieces) await piece.file.file.write(piece.offset, concat(piece.chunks, piece.bytes));
    const touched = new Set(pieces.map((piece) => piece.file));
    if (touched.size === 0) touched.add(this.#current!); // a barrier still waits for a sync's order
    for (const file of touched) {
      await file.file.sync();
      this.#metrics.fsync('log');
    }
    // A finished file's unused extent holds only zeros; give the space back (unsynced: either way a
    // rescan finds the same entries).
    for (const file of finished) {
      await file.file.truncate(file.writeEnd);
      file.sizeBytes = file.writeEnd;
    }
    return locations;
  }

  async #createFile(sequence: number): Promise<LogFileState> {
    assert(!this.#files.has(sequence), `log file ${sequence} exists`);
    const path = `${this.#options.directory}/${logFileName(sequence)}`;
    const file = await this.#disk.open(path);
    const extent = new Uint8Array(Math.min(this.#options.logPreallocateBytes, this.#options.logFileBytes));
    extent.set(encodeLogFileHeader(sequence), 0);
    await file.write(0, extent);
    // Makes the header, the zeros and the file's existence durable (the Disk contract: a synced new
    // file's name is durable).
    await file.sync();
    this.#metrics.fsync('log');
    const state: LogFileState = {
      sequence,
      path,
      file,
      sizeBytes: extent.length,
      writeEnd: LOG_FILE_HEADER_BYTES,
      preallocatedEnd: extent.length,
      liveEntries: 0,
      liveBytes: 0,
    };
    this.#files.set(sequence, state);
    return state;
  }

  /** Writes zeros ahead of the write position (at least one extent), then syncs them (N5). */
  async #extend(file: LogFileState, neededEnd: number): Promise<void> {
    let end = file.preallocatedEnd;
    while (end < neededEnd) end += this.#options.logPreallocateBytes;
    for (let offset = file.preallocatedEnd; offset < end; offset += this.#zeros.length) {
      const length = Math.min(this.#zeros.length, end - offset);
      await file.file.write(
        offset,
        length === this.#zeros.length ? this.#zeros : this.#zeros.subarray(0, length),
      );
    }
    await file.file.sync();
    this.#metrics.fsync('log');
    file.preallocatedEnd = end;
    file.sizeBytes = Math.max(file.sizeBytes, end);
  }

  #lastSequence(): number {
    let last = 0;
    for (const sequence of this.#files.keys()) last = Math.max(last, sequence);
    return last;
  }

  /** The payload of the entry at `location`, checked against the entry CRC (NL_DECODE_CHECKSUM). */
  async readEntry(location: LogLocation): Promise<Uint8Array> {
    const file = this.#files.get(location.fileSequence);
    assert(file !== undefined, `read of deleted log file ${location.fileSequence}`);
    const bytes = await file.file.read(location.offset, location.entryBytes);
    const entry = tryDecodeLogEntry(bytes, 0);
    if (entry === undefined || entry.entryBytes !== location.entryBytes) {
      throw new NorthlightError('NL_DECODE_CHECKSUM', 'node log entry failed its CRC32C', {
        fileSequence: location.fileSequence,
        offset: location.offset,
      });
    }
    return entry.payload.slice();
  }

  /** The entry is no longer needed (N6). */
  release(location: LogLocation): void {
    const file = this.#files.get(location.fileSequence);
    assert(file !== undefined && file.liveEntries > 0, `release in log file ${location.fileSequence}`);
    file.liveEntries--;
    file.liveBytes -= location.entryBytes;
  }

  /**
   * Deletes every file with no live entry except the one being appended to (N6). The owner calls it
   * only while no read is pinned (a read may hold a location in a file whose entries were released).
   */
  async deleteDeadFiles(): Promise<number> {
    const dead = [...this.#files.values()].filter((file) => file !== this.#current && file.liveEntries === 0);
    for (const file of dead) {
      this.#files.delete(file.sequence);
      await file.file.close();
      await this.#disk.remove(file.path);
      this.#log.log('debug', 'deleted node log file', { path: file.path });
    }
    if (dead.length > 0) this.#metrics.logFilesDeleted(dead.length);
    return dead.length;
  }

  /** Waits for every queued append to be written and synced (or to fail), then closes the files. */
  async close(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    for (const file of this.#files.values()) await file.file.close();
  }
}

function concat(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const joined = new Uint8Array(bytes);
  let position = 0;
  for (const chunk of chunks) {
    joined.set(chunk, position);
    position += chunk.length;
  }
  return joined;
}
