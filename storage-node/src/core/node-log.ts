/**
 * The node log: ONE append-only log for every segment the node hosts, so that one fdatasync covers
 * the batches of many segments at once (group commit across batches and segments). It is a sequence
 * of files (`<data>/log/log-<sequence>.nl`, format in log-format.ts) so that space can be reclaimed:
 * a file none of whose entries is live any more (materialized and GC'd, annulled by a truncation, of
 * a dropped segment, or a duplicate) is deleted.
 *
 * Files are preallocated: zeros are written ahead of the write position and synced, and entries then
 * overwrite them, so an append's fdatasync need not persist a file-size change. The log keeps one
 * extent (`logPreallocateBytes`) of zeros ahead of the write position, extending the file in the
 * background in steps of at most PREALLOCATE_STEP_BYTES_MAX: a step only writes zeros, and the next
 * group's fdatasync makes them durable (only that fdatasync persists a size change). Writing and
 * syncing a whole extent inside the group that needed it, as the log first did, held every writer
 * up for tens of milliseconds; a step adds under a millisecond to the fdatasync it rides on. (A
 * file's zeros cannot be kept off its fdatasyncs altogether: an fdatasync writes back every dirty
 * page of its file.) Replay tells preallocated zeros from entries by the entry magic (log-format.ts).
 *
 * Crash reasoning (N1, N2 are in log-format.ts):
 *  N3. An append resolves only after its bytes AND an fsync issued after them completed, for every
 *      file the group touched; groups are written and synced strictly in order, so when an append
 *      resolves every earlier append is durable too. A failed write or sync fails the log for good
 *      (every append not yet resolved rejects): a later successful sync must never report an append
 *      durable while an earlier one may be missing (fsyncgate). For the same reason every fsync of a
 *      log file is issued by the flush loop, one at a time; the preallocation steps only write: two
 *      fsyncs of one file in flight at once could let one consume the error the other had to see.
 *  N4. Each incarnation appends only to files it created itself; a file of an earlier incarnation is
 *      never written again. So garbage a crash left past an old file's last valid entry (a torn or
 *      kept-but-unacknowledged write) can never be mistaken for, or overwrite, a new entry, and a
 *      rescan of an old file always finds the same entries.
 *  N5. Zeros are durable before any entry is written into them: an entry is laid out only below
 *      `preallocatedEnd`, which moves up to a step's end only once an fsync issued after the step's
 *      write completed has returned (and when the appends outrun the steps, the group writes and
 *      syncs the zeros it needs first). So zeros can never land after, and erase, an entry. A step is
 *      written only past every entry, so it never overwrites one either.
 *  N6. Every entry written is counted live until its owner releases it, so no file is deleted in the
 *      window between an append's completion and the owner indexing its records; a file is deleted
 *      only while no read of it is in flight, and never the file being appended to nor a finished one
 *      still waiting for its group's sync and its truncation. A deletion lost in a crash is harmless:
 *      replay finds only dead entries in the file and deletes it again.
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

/**
 * The most zeros one preallocation step writes. On the development VM an fdatasync of a 7 KB
 * overwrite took 0.5 ms (p50); with 256 KiB of zeros past the end of the file as well, 1.3 ms; with
 * 4 MiB, 16 ms (p99 41 ms).
 */
export const PREALLOCATE_STEP_BYTES_MAX = 256 * 1024;

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
  /** Zeros are durable up to here (only for the file being appended to; N5). */
  preallocatedEnd: number;
  /** Zeros are written, or being written, up to here (only for the file being appended to). */
  zeroEnd: number;
  /** The log moved on to a newer file; this one waits for its last group's sync and truncation (N6). */
  retiring: boolean;
  liveEntries: number;
  liveBytes: number;
}

interface PendingAppend {
  readonly entries: readonly NodeLogEntryInput[];
  readonly bytes: number;
  readonly resolve: (locations: LogLocation[]) => void;
  readonly reject: (error: NorthlightError) => void;
}

/** The entries of a group that go to one file: `bytes` bytes at `start` of the group's buffer. */
interface Piece {
  readonly file: LogFileState;
  readonly offset: number;
  readonly start: number;
  bytes: number;
}

/** Zeros written past the entries of a file; durable once a sync issued after this returns (N5). */
interface PreallocationStep {
  readonly file: LogFileState;
  readonly end: number;
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
  readonly #stepBytes: number;
  readonly #zeros: Uint8Array;
  /** The preallocation step being written, if any. */
  #stepping: Promise<void> | undefined;
  /** A step written and not yet covered by a sync; the next sync makes it durable. */
  #stepWritten: PreallocationStep | undefined;
  /** The flush loop is writing zeros itself (the appends outran the steps): no step meanwhile. */
  #extending = false;
  #closing = false;

  private constructor(disk: Disk, options: NodeLogOptions, metrics: StorageMetrics, log: Logger) {
    this.#disk = disk;
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
    this.#stepBytes = Math.min(options.logPreallocateBytes, PREALLOCATE_STEP_BYTES_MAX);
    this.#zeros = new Uint8Array(this.#stepBytes);
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
    stopRequested: () => boolean = () => false,
  ): Promise<NodeLog> {
    const nodeLog = new NodeLog(disk, options, metrics, log);
    const names = await disk.list(options.directory);
    const sequences = names
      .map(parseLogFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((a, b) => a - b);
    for (const sequence of sequences) {
      // A stop leaves the replay incomplete, between files: the caller closes it and never serves it.
      if (stopRequested()) break;
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
        zeroEnd: scan.validEnd,
        retiring: false,
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
    this.#kickStep();
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
      this.#kickFlush();
    });
  }

  #kickFlush(): void {
    if (this.#flushing === undefined && this.#failure === undefined) this.#flushing = this.#flush();
  }

  /** Writes and syncs the queue a group at a time; with nothing queued, syncs a step written meanwhile. */
  async #flush(): Promise<void> {
    while ((this.#queue.length > 0 || this.#stepWritten !== undefined) && this.#failure === undefined) {
      const group = this.#queue;
      this.#queue = [];
      for (const pending of group) this.#queuedBytes -= pending.bytes;
      let locations: LogLocation[][];
      try {
        locations = await this.#writeGroup(group);
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        for (const pending of group) pending.reject(error);
        this.#fail(error);
        break;
      }
      if (this.#failure !== undefined) {
        for (const pending of group) pending.reject(this.#failure);
        break;
      }
      this.#pendingBatches -= group.length;
      this.#metrics.queueDepth(this.#pendingBatches, this.#queuedBytes);
      for (const [index, pending] of group.entries()) pending.resolve(locations[index]!);
    }
    this.#flushing = undefined;
  }

  /**
   * Lays the group out in one buffer (rolling to new files, and writing zeros first if the appends
   * outran the preallocation steps), writes it, syncs every file it touched and the file of a step
   * written meanwhile (N3, N5), and truncates the files it finished.
   */
  async #writeGroup(group: readonly PendingAppend[]): Promise<LogLocation[][]> {
    let groupBytes = 0;
    for (const pending of group) groupBytes += pending.bytes;
    const buffer = new Uint8Array(groupBytes);
    const pieces: Piece[] = [];
    const locations: LogLocation[][] = [];
    const finished: LogFileState[] = [];
    let position = 0;
    for (const pending of group) {
      const placed: LogLocation[] = [];
      for (const entry of pending.entries) {
        const size = alignedEntryBytes(entry.payload.length);
        let file = this.#current!;
        if (file.writeEnd + size > this.#options.logFileBytes && file.writeEnd > LOG_FILE_HEADER_BYTES) {
          finished.push(file);
          file = await this.#roll(file);
        }
        if (file.writeEnd + size > file.preallocatedEnd) await this.#extendNow(file, file.writeEnd + size);
        let piece = pieces.at(-1);
        if (piece === undefined || piece.file !== file) {
          piece = { file, offset: file.writeEnd, start: position, bytes: 0 };
          pieces.push(piece);
        }
        writeLogEntry(buffer, position, entry.segmentNumber, entry.payload);
        piece.bytes += size;
        position += size;
        placed.push({ fileSequence: file.sequence, offset: file.writeEnd, entryBytes: size });
        file.writeEnd += size;
        file.liveEntries++; // N6: live until released
        file.liveBytes += size;
      }
      locations.push(placed);
    }
    for (const piece of pieces) {
      await piece.file.file.write(piece.offset, buffer.subarray(piece.start, piece.start + piece.bytes));
      piece.file.sizeBytes = Math.max(piece.file.sizeBytes, piece.offset + piece.bytes);
    }
    const step = this.#stepWritten; // its write completed: the syncs below cover it (N5)
    const touched = new Set(pieces.map((piece) => piece.file));
    if (step !== undefined) touched.add(step.file);
    if (touched.size === 0) touched.add(this.#current!); // a barrier still waits for a sync's order
    for (const file of touched) {
      await file.file.sync();
      this.#metrics.fsync('log');
    }
    if (step !== undefined) this.#stepSynced(step);
    // A finished file's zeros past its last entry are given back (unsynced: either way a rescan
    // finds the same entries).
    for (const file of finished) {
      await file.file.truncate(file.writeEnd);
      file.sizeBytes = file.writeEnd;
      file.retiring = false;
    }
    this.#kickStep();
    return locations;
  }

  #stepSynced(step: PreallocationStep): void {
    step.file.preallocatedEnd = Math.max(step.file.preallocatedEnd, step.end);
    if (this.#stepWritten === step) this.#stepWritten = undefined;
  }

  /** Moves the appends on to a new file (N4); the old one is truncated once this group is durable. */
  async #roll(file: LogFileState): Promise<LogFileState> {
    file.retiring = true; // no further step for it, and not deleted before its truncation (N6)
    while (this.#stepping !== undefined) await this.#stepping; // its zeros land before the truncation
    const next = await this.#createFile(file.sequence + 1);
    this.#current = next;
    this.#kickStep();
    return next;
  }

  /**
   * The appends outran the preallocation steps: writes zeros through `neededEnd` (at least one step)
   * and syncs them before any entry goes there (N5). Rare; this is the wait the steps exist to avoid.
   */
  async #extendNow(file: LogFileState, neededEnd: number): Promise<void> {
    this.#extending = true;
    try {
      while (this.#stepping !== undefined) await this.#stepping;
      const end = Math.max(neededEnd, Math.min(file.zeroEnd + this.#stepBytes, this.#options.logFileBytes));
      if (end > file.zeroEnd) await this.#writeZeros(file, end);
      const step = this.#stepWritten?.file === file ? this.#stepWritten : undefined;
      await file.file.sync();
      this.#metrics.fsync('log');
      if (step !== undefined) this.#stepSynced(step);
      file.preallocatedEnd = Math.max(file.preallocatedEnd, file.zeroEnd);
    } finally {
      this.#extending = false;
    }
  }

  /** Starts the next preallocation step if the current file has less than an extent of zeros ahead. */
  #kickStep(): void {
    if (this.#stepping !== undefined || this.#stepWritten !== undefined) return; // one step per sync
    if (this.#extending || this.#closing || this.#failure !== undefined) return;
    const file = this.#current;
    if (file === undefined || file.retiring) return;
    const fileBytes = this.#options.logFileBytes;
    if (file.zeroEnd >= Math.min(file.writeEnd + this.#options.logPreallocateBytes, fileBytes)) return;
    const end = Math.min(file.zeroEnd + this.#stepBytes, fileBytes);
    this.#stepping = this.#writeStep(file, end).finally(() => {
      this.#stepping = undefined;
      this.#kickFlush(); // nothing queued: the flush loop syncs the step on its own
    });
  }

  /** A step, in the background: its zeros are written, and the next sync of the file covers them. */
  async #writeStep(file: LogFileState, end: number): Promise<void> {
    try {
      await this.#writeZeros(file, end);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#fail(error);
      return;
    }
    this.#stepWritten = { file, end };
  }

  /** Writes zeros from the file's zero end to `end`, past every entry. */
  async #writeZeros(file: LogFileState, end: number): Promise<void> {
    const start = file.zeroEnd;
    assert(start >= file.writeEnd && end > start, 'preallocated zeros go past every entry');
    file.zeroEnd = end;
    for (let offset = start; offset < end; offset += this.#zeros.length) {
      const length = Math.min(this.#zeros.length, end - offset);
      await file.file.write(
        offset,
        length === this.#zeros.length ? this.#zeros : this.#zeros.subarray(0, length),
      );
    }
    file.sizeBytes = Math.max(file.sizeBytes, end);
  }

  /** Every append not yet resolved rejects, now and from now on (N3). */
  #fail(error: NorthlightError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const pending of this.#queue) pending.reject(error);
    this.#pendingBatches = 0;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#metrics.queueDepth(0, 0);
  }

  /** A new file: its header and a first step of zeros, synced (which makes its name durable too). */
  async #createFile(sequence: number): Promise<LogFileState> {
    assert(!this.#files.has(sequence), `log file ${sequence} exists`);
    const path = `${this.#options.directory}/${logFileName(sequence)}`;
    const file = await this.#disk.open(path);
    const initial = new Uint8Array(Math.min(this.#stepBytes, this.#options.logFileBytes));
    initial.set(encodeLogFileHeader(sequence), 0);
    await file.write(0, initial);
    // Makes the header, the zeros and the file's existence durable (the Disk contract: a synced new
    // file's name is durable).
    await file.sync();
    this.#metrics.fsync('log');
    const state: LogFileState = {
      sequence,
      path,
      file,
      sizeBytes: initial.length,
      writeEnd: LOG_FILE_HEADER_BYTES,
      preallocatedEnd: initial.length,
      zeroEnd: initial.length,
      retiring: false,
      liveEntries: 0,
      liveBytes: 0,
    };
    this.#files.set(sequence, state);
    return state;
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
   * Deletes every file with no live entry except the one being appended to and a finished one not
   * yet truncated (N6). The owner calls it only while no read is pinned (a read may hold a location
   * in a file whose entries were released).
   */
  async deleteDeadFiles(): Promise<number> {
    const dead = [...this.#files.values()].filter(
      (file) => file !== this.#current && !file.retiring && file.liveEntries === 0,
    );
    for (const file of dead) {
      this.#files.delete(file.sequence);
      await file.file.close();
      await this.#disk.remove(file.path);
      this.#log.log('debug', 'deleted node log file', { path: file.path });
    }
    if (dead.length > 0) this.#metrics.logFilesDeleted(dead.length);
    return dead.length;
  }

  /**
   * Stops preallocating, waits for every queued append to be written and synced (or to fail), then
   * closes the files.
   */
  async close(): Promise<void> {
    this.#closing = true;
    while (this.#flushing !== undefined || this.#stepping !== undefined)
      await Promise.all([this.#flushing, this.#stepping]);
    for (const file of this.#files.values()) await file.file.close();
  }
}
