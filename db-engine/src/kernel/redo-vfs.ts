/**
 * The redo VFS: the file system SQLite runs on, which never writes a page anywhere. Each committed
 * SQLite transaction becomes one group of page-diff redo records (one mini-transaction, MTR), handed
 * to a `GroupSink`; reads are served from the buffer cache (`page-cache.ts`) or, on a miss, from a
 * synchronous `PageSource` (in the engine: the worker blocking on the host thread, see `worker.ts`).
 *
 * The call sequence of one committed write transaction, with the pragmas the session sets
 * (engine-feasibility §3; journal_mode=MEMORY, locking_mode=EXCLUSIVE, cache_spill=OFF, and this VFS
 * reporting SQLITE_IOCAP_BATCH_ATOMIC for the main file):
 *
 *   xFileControl(FCNTL_PRAGMA …)           hint at the first write of the transaction → NOTFOUND
 *   xRead(main, (pgno-1)·4096, 4096) …     SQLite page-cache misses: buffer cache, else PageSource
 *   … statements run; dirty pages stay in SQLite's own cache (no spill) …
 *   xFileControl(BEGIN_ATOMIC_WRITE)       a group opens
 *   xWrite(main, (pgno-1)·4096, 4096) × N  each dirty page once: diff against the cached image, which
 *                                          is then updated in place; the diff is the page's record
 *   xFileControl(COMMIT_ATOMIC_WRITE)      the group is sealed and handed to the sink; 'busy' → the
 *                                          group is undone and SQLITE_BUSY returned: the COMMIT fails,
 *                                          the transaction stays open (§4.5), the session rolls back
 *   xFileControl(FCNTL_SYNC), xSync, xFileControl(COMMIT_PHASETWO)   no-ops
 *
 * ROLLBACK_ATOMIC_WRITE (SQLite abandoning the batch, e.g. after an xWrite error) undoes the group.
 *
 * Invariants:
 *  V1. The cached image of a page is what storage holds after applying every sealed group: the diff
 *      base. A write diffs against it (a page not cached is read from the PageSource first; a page at
 *      or past the committed end of the file diffs against zeros, V4) and then updates it in place.
 *  V2. A group holds at most one record per page, diffed against the page as it was before the group,
 *      so its records apply in any order; records are in first-write order. Pages whose bytes did
 *      not change give no record, and a group without records is not sealed.
 *  V3. A refused or abandoned group leaves no trace: images, cache states and the file size are put
 *      back as they were (undo runs: the before-image bytes under each redo run).
 *  V4. Storage holds zeros past the committed end of the file. It starts true (a volume is zeros until
 *      written) and SQLite only grows the file in commits; when a commit shrinks the database (VACUUM,
 *      incremental vacuum), the in-header size on page 0 drops, and the group also zeroes the pages it
 *      cut off before SQLite's xTruncate, in the same group (so atomically with it).
 *  V5. Never return SQLITE_IOERR from a main-file xWrite or from COMMIT_ATOMIC_WRITE: SQLite would
 *      answer by rewriting the pages outside the bracket (§4.5). Refusals are SQLITE_BUSY, with the
 *      reason kept in `refusal` for the error the session reports.
 *  V6. A main-file xWrite outside the bracket is an alarm (it means a spill or a mode we did not set):
 *      it is counted, buffered as an implicit group, and sealed at xSync as a fallback.
 *
 * A replica (`replica: true`) runs the same VFS read-only on the writer's volume, with three more rules:
 *  R1. It applies only whole MTRs at or below the writer's VDL, in LSN order (`applyRecords`; the host
 *      buffers the stream until the VDL covers it), between requests, never inside one.
 *  R2. A cached image is storage's image of the page at the replica's applied point, and a miss reads
 *      at exactly that point (the host knows each PG's read point for it), so cached and fetched
 *      pages always belong to the same committed state. A record of a page past the committed end is
 *      applied to zeros, storage's image of such a page (V4), so growth costs no reads.
 *  R3. SQLite's own page cache is dropped after every apply (`SqlSession.applyRecords`), so it never
 *      serves an image older than the buffer cache's.
 *
 * Non-main files (statement journals, temp databases; none are opened with journal_mode=MEMORY and
 * temp_store=MEMORY) live in plain memory and are never redo-logged. The "-journal" and "-wal" names
 * SQLite probes do not exist.
 */
import { FacadeVFS } from '@journeyapps/wa-sqlite/src/FacadeVFS.js';
import * as VFS from '@journeyapps/wa-sqlite/src/VFS.js';
import { AssertionError, assert, copyBytes, type DiffRun } from '@northlight/protocol';
import type { PageCache, PageCacheStats } from './page-cache.js';
import { diffPage } from './page-diff.js';
import type { KernelRefusal } from './sql-errors.js';
import type { SqliteWasm } from './sqlite-wasm.js';

export const PAGE_SIZE_BYTES = 4096;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE_BYTES);

/** Result of a synchronous page read: a failure is reported, never thrown. */
export type PageReadResult =
  | { readonly ok: true; readonly page: Uint8Array }
  | { readonly ok: false; readonly message: string };

/** Where pages the cache does not hold come from: storage, at the current read point. */
export interface PageSource {
  /** Page `pageNo` as storage holds it: 4096 bytes, zeros if never written. The VFS keeps the array. */
  readPage(pageNo: number): PageReadResult;
}

/** One redo record of a group: the runs that turn storage's image of the page into the new one. */
export interface PageRecord {
  readonly pageNo: number;
  readonly runs: readonly DiffRun[];
}

/** One committed transaction's records: one MTR. */
export interface PageGroup {
  /** 1, 2, 3… in seal order. */
  readonly seq: number;
  /** At least one record, one per page, in first-write order. */
  readonly records: readonly PageRecord[];
  /** The database's size in pages once this group applies. */
  readonly sizePages: number;
}

export interface GroupSink {
  /**
   * Takes a sealed group (the arrays may be from shared slabs: copy before transferring). 'busy' when
   * it cannot take it now; the commit then fails and nothing of the group remains (V3).
   */
  seal(group: PageGroup): 'ok' | 'busy';
}

export interface RedoVfsOptions {
  readonly cache: PageCache;
  readonly pageSource: PageSource;
  readonly sink: GroupSink;
  /** A group with more pages is refused (SQLITE_BUSY, reported as "transaction too large"). */
  readonly maxGroupPages: number;
  /** Refuse commits while this many sealed groups still wait for their LSNs (back-pressure). */
  readonly maxUnassignedGroups: number;
  /**
   * Ship every written page whole (one run over the page) instead of its diff: what an engine on
   * replicated block storage sends. For the benchmark's comparison only.
   */
  readonly shipFullPages?: boolean;
  /**
   * A replica's VFS: it never writes (a main-file xWrite is refused with SQLITE_READONLY and counted),
   * page 0 is cached even when zero and pinned, and `applyRecords` brings the cached pages forward
   * with the writer's committed records (R1–R3 in the module comment).
   */
  readonly replica?: boolean;
}

export interface RedoVfsStats {
  readonly cache: PageCacheStats;
  readonly groupsSealed: number;
  readonly groupsRefused: number;
  /** Main-file writes outside BEGIN/COMMIT_ATOMIC_WRITE (V6): should stay 0. */
  readonly writesOutsideBracket: number;
  readonly pagesReadFromSource: number;
  readonly pageReadFailures: number;
  readonly recordsSealed: number;
  /** Bytes in the runs of every sealed record (payload only, no headers). */
  readonly runBytesSealed: number;
  readonly sizePages: number;
  /** Shrinks of the main file not announced by a zeroing group (V4): should stay 0. */
  readonly unexpectedTruncations: number;
  /** Replica: the writer's records applied to cached pages, and those dropped (page not cached). */
  readonly recordsApplied: number;
  readonly recordsDropped: number;
}

/** One page's write in the open group. */
interface PendingWrite {
  runs: DiffRun[];
  /** The before-group bytes under each run, to undo the write in place (V3). */
  undo: DiffRun[];
  readonly previous: ReturnType<PageCache['beginWrite']>['previous'];
}

interface OpenGroup {
  /** In first-write order (V2). */
  readonly writes: Map<number, PendingWrite>;
  /** Opened by BEGIN_ATOMIC_WRITE, or implicitly by a write outside the bracket (V6). */
  readonly bracketed: boolean;
  readonly sizeBytesAtStart: number;
  /** Set when the group zeroed the pages from here on because the commit shrinks the database (V4). */
  zeroedFromPageNo: number | undefined;
}

interface MemoryFile {
  readonly name: string | null;
  data: Uint8Array;
  sizeBytes: number;
}

export class RedoVfs extends FacadeVFS {
  readonly #wasm: SqliteWasm;
  readonly #cache: PageCache;
  readonly #pageSource: PageSource;
  readonly #sink: GroupSink;
  readonly #maxGroupPages: number;
  readonly #maxUnassignedGroups: number;
  readonly #shipFullPages: boolean;
  readonly #replica: boolean;
  #mainFile: number | undefined;
  /** The file size SQLite sees, including the open group's writes. */
  #sizeBytes = 0;
  /** Storage holds zeros at and past this offset (V4): such pages need no read to diff against. */
  #storageZerosFromBytes = 0;
  /** Set by a sealed group that zeroed the pages cut off by a shrinking commit, for xTruncate (V4). */
  #expectedTruncationPageNo: number | undefined;
  #group: OpenGroup | undefined;
  #accepting = true;
  #notAcceptingReason = 'storage is not accepting writes';
  readonly #memoryFiles = new Map<number, MemoryFile>();
  readonly #memoryFilesByName = new Map<string, MemoryFile>();
  #unexpectedTruncations = 0;
  /** Why the last refused operation was refused, for the session's error; cleared by the session. */
  refusal: KernelRefusal | undefined;
  #groupsSealed = 0;
  #groupsRefused = 0;
  #writesOutsideBracket = 0;
  #pagesReadFromSource = 0;
  #pageReadFailures = 0;
  #recordsSealed = 0;
  #runBytesSealed = 0;
  #recordsApplied = 0;
  #recordsDropped = 0;

  constructor(name: string, wasm: SqliteWasm, options: RedoVfsOptions) {
    super(name, wasm);
    assert(
      Number.isInteger(options.maxGroupPages) && options.maxGroupPages >= 1,
      'maxGroupPages must be ≥ 1',
    );
    assert(options.maxUnassignedGroups >= 1, 'maxUnassignedGroups must be ≥ 1');
    this.#wasm = wasm;
    this.#cache = options.cache;
    this.#pageSource = options.pageSource;
    this.#sink = options.sink;
    this.#maxGroupPages = options.maxGroupPages;
    this.#maxUnassignedGroups = options.maxUnassignedGroups;
    this.#shipFullPages = options.shipFullPages === true;
    this.#replica = options.replica === true;
  }

  /**
   * Replica (R1–R3): applies records of committed MTRs, in LSN order and only whole MTRs at or below
   * the writer's VDL, to the pages the cache holds; a record of a page not cached is dropped (a later
   * miss reads the page from storage at a read point that covers it). Page 0 is pinned, so the size
   * SQLite sees follows the header the writer's commits keep (V4). The caller then makes SQLite drop
   * its own page cache, which may hold the old images.
   */
  applyRecords(records: readonly PageRecord[]): void {
    assert(this.#replica, 'applyRecords on a writer');
    assert(this.#group === undefined, 'applyRecords inside a write group');
    let headerChanged = false;
    // Pages at or past the committed end hold zeros in storage (V4): the first record of such a page (a
    // page the database grows into) applies to zeros instead of costing a storage read at the next
    // miss. Only the first: a page written earlier in this batch and evicted since is not zeros.
    const endPageNo = this.sizePages;
    const touched = new Set<number>();
    for (const record of records) {
      let image = this.#cache.peek(record.pageNo);
      if (image === undefined && record.pageNo >= endPageNo && !touched.has(record.pageNo)) {
        image = new Uint8Array(PAGE_SIZE_BYTES);
        this.#cache.insertClean(record.pageNo, image);
      }
      touched.add(record.pageNo);
      if (image === undefined) {
        this.#recordsDropped++;
        continue;
      }
      for (const run of record.runs) {
        if (!(run.offset >= 0 && run.offset + run.bytes.length <= PAGE_SIZE_BYTES))
          throw new AssertionError(
            `run [${run.offset}, +${run.bytes.length}) of page ${record.pageNo} is outside the page`,
          );
        image.set(run.bytes, run.offset);
      }
      this.#recordsApplied++;
      if (record.pageNo === 0) headerChanged = true;
    }
    if (headerChanged) {
      const pages = headerSizePages(this.#cache.peek(0)!) ?? 0;
      this.#sizeBytes = pages * PAGE_SIZE_BYTES;
      this.#storageZerosFromBytes = this.#sizeBytes;
    }
  }

  /** When false, commits are refused with SQLITE_BUSY (storage unreachable, LSN allocation limit). */
  setAccepting(accepting: boolean, reason?: string): void {
    this.#accepting = accepting;
    if (reason !== undefined) this.#notAcceptingReason = reason;
  }

  get sizePages(): number {
    return Math.ceil(this.#sizeBytes / PAGE_SIZE_BYTES);
  }

  get lastSealedSeq(): number {
    return this.#cache.lastSealedSeq;
  }

  stats(): RedoVfsStats {
    return {
      cache: this.#cache.stats(),
      groupsSealed: this.#groupsSealed,
      groupsRefused: this.#groupsRefused,
      writesOutsideBracket: this.#writesOutsideBracket,
      pagesReadFromSource: this.#pagesReadFromSource,
      pageReadFailures: this.#pageReadFailures,
      recordsSealed: this.#recordsSealed,
      runBytesSealed: this.#runBytesSealed,
      sizePages: this.sizePages,
      unexpectedTruncations: this.#unexpectedTruncations,
      recordsApplied: this.#recordsApplied,
      recordsDropped: this.#recordsDropped,
    };
  }

  // ---- files ----

  override jOpen(filename: string | null, pFile: number, flags: number, pOutFlags: DataView): number {
    if ((flags & VFS.SQLITE_OPEN_MAIN_DB) !== 0) {
      // One database per volume: a second main file (ATTACH, VACUUM INTO) cannot be redo-logged.
      if (this.#mainFile !== undefined) return VFS.SQLITE_CANTOPEN;
      const size = this.#sizeFromHeader();
      if (size === undefined) return VFS.SQLITE_CANTOPEN;
      this.#mainFile = pFile;
      this.#sizeBytes = size;
      this.#storageZerosFromBytes = size;
    } else {
      let file = filename === null ? undefined : this.#memoryFilesByName.get(filename);
      if (file === undefined) {
        file = { name: filename, data: new Uint8Array(0), sizeBytes: 0 };
        if (filename !== null) this.#memoryFilesByName.set(filename, file);
      }
      this.#memoryFiles.set(pFile, file);
    }
    pOutFlags.setInt32(0, flags, true);
    return VFS.SQLITE_OK;
  }

  override jClose(pFile: number): number {
    if (pFile === this.#mainFile) {
      this.#mainFile = undefined;
      return VFS.SQLITE_OK;
    }
    const file = this.#memoryFiles.get(pFile);
    this.#memoryFiles.delete(pFile);
    // Temporary files are anonymous and go away on close; named ones are deleted with xDelete.
    if (file !== undefined && file.name === null) file.data = new Uint8Array(0);
    return VFS.SQLITE_OK;
  }

  override jDelete(filename: string, _syncDir: number): number {
    this.#memoryFilesByName.delete(filename);
    return VFS.SQLITE_OK;
  }

  override jAccess(filename: string, _flags: number, pResOut: DataView): number {
    // "-journal" and "-wal" never exist: the journal is in memory and WAL is not used.
    pResOut.setInt32(0, this.#memoryFilesByName.has(filename) ? 1 : 0, true);
    return VFS.SQLITE_OK;
  }

  override jDeviceCharacteristics(pFile: number): number {
    return pFile === this.#mainFile ? VFS.SQLITE_IOCAP_BATCH_ATOMIC : 0;
  }

  override jFileSize(pFile: number, pSize: DataView): number {
    const size = pFile === this.#mainFile ? this.#sizeBytes : (this.#memoryFiles.get(pFile)?.sizeBytes ?? 0);
    pSize.setBigInt64(0, BigInt(size), true);
    return VFS.SQLITE_OK;
  }

  override jTruncate(pFile: number, size: number): number {
    if (pFile !== this.#mainFile) {
      const file = this.#memoryFiles.get(pFile);
      if (file !== undefined) file.sizeBytes = Math.min(file.sizeBytes, size);
      return VFS.SQLITE_OK;
    }
    // A shrink follows the commit whose group zeroed the pages cut off (V4). The volume itself does
    // not shrink: storage keeps those pages, as zeros. Any other shrink (not expected with our
    // pragmas) is counted, and the pages it cuts off are read before they are diffed again.
    // (A spilled transaction's rollback truncates while its implicit group is open, V6: counted too.)
    if (size < this.#sizeBytes) {
      assert(this.#group?.bracketed !== true, 'xTruncate of the main file inside BEGIN/COMMIT_ATOMIC_WRITE');
      this.#sizeBytes = size;
      const expected = this.#group === undefined && this.#expectedTruncationPageNo === size / PAGE_SIZE_BYTES;
      if (expected) this.#storageZerosFromBytes = size;
      else this.#unexpectedTruncations++;
    }
    this.#expectedTruncationPageNo = undefined;
    return VFS.SQLITE_OK;
  }

  override jSync(pFile: number, _flags: number): number {
    if (pFile !== this.#mainFile || this.#group === undefined) return VFS.SQLITE_OK;
    // Fallback for writes outside the bracket (V6): the sync ends their transaction.
    assert(!this.#group.bracketed, 'xSync inside BEGIN/COMMIT_ATOMIC_WRITE');
    return this.#sealGroup();
  }

  override jLock(_pFile: number, _lockType: number): number {
    return VFS.SQLITE_OK;
  }

  override jUnlock(_pFile: number, _lockType: number): number {
    return VFS.SQLITE_OK;
  }

  override jCheckReservedLock(_pFile: number, pResOut: DataView): number {
    pResOut.setInt32(0, 0, true);
    return VFS.SQLITE_OK;
  }

  override xFileControl(pFile: number, op: number, _pArg: number): number {
    if (pFile !== this.#mainFile) return VFS.SQLITE_NOTFOUND;
    switch (op) {
      case VFS.SQLITE_FCNTL_BEGIN_ATOMIC_WRITE:
        assert(this.#group === undefined, 'BEGIN_ATOMIC_WRITE while a group is open');
        this.#group = this.#openGroup(true);
        return VFS.SQLITE_OK;
      case VFS.SQLITE_FCNTL_COMMIT_ATOMIC_WRITE:
        assert(this.#group?.bracketed === true, 'COMMIT_ATOMIC_WRITE without BEGIN_ATOMIC_WRITE');
        return this.#sealGroup();
      case VFS.SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE:
        // A hint: it also follows a COMMIT_ATOMIC_WRITE we refused, which already undid the group.
        if (this.#group !== undefined) this.#undoGroup();
        return VFS.SQLITE_OK;
    }
    return VFS.SQLITE_NOTFOUND;
  }

  // ---- reads and writes: raw overrides (pointer arguments, no proxy objects on the hot path) ----

  override xRead(pFile: number, pData: number, iAmt: number, offsetLow: number, offsetHigh: number): number {
    const offset = offsetHigh * 2 ** 32 + (offsetLow >>> 0);
    if (pFile !== this.#mainFile) return this.#readMemoryFile(pFile, pData, iAmt, offset);
    if (offset >= this.#sizeBytes) {
      this.#wasm.HEAPU8.fill(0, pData, pData + iAmt);
      return VFS.SQLITE_IOERR_SHORT_READ;
    }
    const pageNo = Math.floor(offset / PAGE_SIZE_BYTES);
    const within = offset - pageNo * PAGE_SIZE_BYTES;
    if (within + iAmt > PAGE_SIZE_BYTES)
      throw new AssertionError(`read of ${iAmt} bytes at ${offset} crosses a page`);
    const page = this.#cache.lookup(pageNo) ?? this.#readFromSource(pageNo);
    if (page === undefined) return VFS.SQLITE_IOERR_READ;
    const heap = this.#wasm.HEAPU8;
    if (within === 0 && iAmt === PAGE_SIZE_BYTES) heap.set(page, pData);
    else heap.set(page.subarray(within, within + iAmt), pData);
    return VFS.SQLITE_OK;
  }

  override xWrite(pFile: number, pData: number, iAmt: number, offsetLow: number, offsetHigh: number): number {
    const offset = offsetHigh * 2 ** 32 + (offsetLow >>> 0);
    if (pFile !== this.#mainFile) return this.#writeMemoryFile(pFile, pData, iAmt, offset);
    if (this.#replica) {
      // query_only keeps SQLite from writing; this is the last line of defence.
      this.#writesOutsideBracket++;
      return VFS.SQLITE_READONLY;
    }
    const pageNo = Math.floor(offset / PAGE_SIZE_BYTES);
    const within = offset - pageNo * PAGE_SIZE_BYTES;
    if (within + iAmt > PAGE_SIZE_BYTES)
      throw new AssertionError(`write of ${iAmt} bytes at ${offset} crosses a page`);
    if (this.#group === undefined) {
      this.#writesOutsideBracket++;
      this.#group = this.#openGroup(false);
    }
    const rc = this.#recordWrite(pageNo, within, this.#wasm.HEAPU8.subarray(pData, pData + iAmt));
    if (rc === VFS.SQLITE_OK) this.#sizeBytes = Math.max(this.#sizeBytes, offset + iAmt);
    return rc;
  }

  #openGroup(bracketed: boolean): OpenGroup {
    this.#expectedTruncationPageNo = undefined;
    return { writes: new Map(), bracketed, sizeBytesAtStart: this.#sizeBytes, zeroedFromPageNo: undefined };
  }

  /** Adds one page write to the open group (V1, V2); SQLITE_BUSY with `refusal` set if it cannot. */
  #recordWrite(pageNo: number, within: number, bytes: Uint8Array): number {
    const group = this.#group!;
    const pending = group.writes.get(pageNo);
    if (pending !== undefined) {
      this.#rewriteInGroup(pageNo, pending, within, bytes);
      return VFS.SQLITE_OK;
    }
    if (group.writes.size >= this.#maxGroupPages) {
      this.refusal = { kind: 'group-too-large', limitPages: this.#maxGroupPages };
      return VFS.SQLITE_BUSY;
    }
    let begun: ReturnType<PageCache['beginWrite']>;
    if (this.#cache.peek(pageNo) !== undefined) begun = this.#cache.beginWrite(pageNo);
    else {
      const base = this.#baseOfUncachedPage(pageNo);
      if (base === undefined) return VFS.SQLITE_BUSY; // a read failure: never IOERR here (V5)
      begun = this.#cache.beginWrite(pageNo, base);
    }
    const image = begun.image;
    const after = within === 0 && bytes.length === PAGE_SIZE_BYTES ? bytes : patched(image, within, bytes);
    const runs = this.#runsOf(image, after);
    const undo = runs.map((run) => beforeBytesOf(image, run));
    image.set(after);
    group.writes.set(pageNo, { runs, undo, previous: begun.previous });
    return VFS.SQLITE_OK;
  }

  /** A page written twice in one group keeps one record, diffed against the before-group image (V2). */
  #rewriteInGroup(pageNo: number, pending: PendingWrite, within: number, bytes: Uint8Array): void {
    const image = this.#cache.peek(pageNo)!;
    const beforeGroup = image.slice();
    for (const run of pending.undo) beforeGroup.set(run.bytes, run.offset);
    image.set(bytes, within);
    pending.runs = this.#runsOf(beforeGroup, image);
    pending.undo = pending.runs.map((run) => beforeBytesOf(beforeGroup, run));
  }

  /** The record's runs: the diff, or (`shipFullPages`) the whole page as one run. */
  #runsOf(before: Uint8Array, after: Uint8Array): DiffRun[] {
    return this.#shipFullPages ? [{ offset: 0, bytes: after.slice() }] : diffPage(before, after);
  }

  /** Storage's image of a page the cache does not hold: zeros past the committed end (V4). */
  #baseOfUncachedPage(pageNo: number): Uint8Array | undefined {
    if (pageNo * PAGE_SIZE_BYTES >= this.#storageZerosFromBytes) return new Uint8Array(PAGE_SIZE_BYTES);
    const result = this.#pageSource.readPage(pageNo);
    this.#pagesReadFromSource++;
    if (!result.ok) {
      this.#pageReadFailures++;
      this.refusal = { kind: 'page-read-failed', pageNo, message: result.message };
      return undefined;
    }
    return checkedPage(pageNo, result.page);
  }

  #readFromSource(pageNo: number): Uint8Array | undefined {
    const result = this.#pageSource.readPage(pageNo);
    this.#pagesReadFromSource++;
    if (!result.ok) {
      this.#pageReadFailures++;
      this.refusal = { kind: 'page-read-failed', pageNo, message: result.message };
      return undefined;
    }
    const page = checkedPage(pageNo, result.page);
    this.#cache.insertClean(pageNo, page);
    return page;
  }

  // ---- sealing and undoing the group ----

  /** COMMIT_ATOMIC_WRITE (or xSync for the fallback): seal the group, or undo it and answer BUSY. */
  #sealGroup(): number {
    const rc = this.#zeroPagesCutOff();
    if (rc !== VFS.SQLITE_OK) {
      this.#undoGroup();
      return rc;
    }
    const group = this.#group!;
    const records: PageRecord[] = [];
    for (const [pageNo, write] of group.writes) {
      if (write.runs.length > 0) records.push({ pageNo, runs: write.runs });
    }
    if (records.length === 0) {
      // Nothing changed (at most zero-filled pages past the end, which storage holds as zeros already):
      // nothing to seal, and the file keeps the size SQLite gave it.
      for (const [pageNo, write] of group.writes) this.#cache.abortWrite(pageNo, write.previous);
      this.#group = undefined;
      return VFS.SQLITE_OK;
    }
    const refusal = this.#refusalToSeal();
    const seq = this.#cache.lastSealedSeq + 1;
    if (refusal !== undefined || this.#sink.seal({ seq, records, sizePages: this.sizePages }) === 'busy') {
      this.refusal = refusal ?? { kind: 'not-accepting', reason: 'the engine refused the group' };
      this.#groupsRefused++;
      this.#undoGroup();
      return VFS.SQLITE_BUSY;
    }
    for (const [pageNo, write] of group.writes) {
      if (write.runs.length === 0) this.#cache.abortWrite(pageNo, write.previous);
    }
    this.#cache.sealGroup(
      seq,
      records.map((record) => record.pageNo),
    );
    this.#group = undefined;
    this.#storageZerosFromBytes = Math.max(this.#storageZerosFromBytes, this.#sizeBytes);
    this.#expectedTruncationPageNo = group.zeroedFromPageNo;
    this.#groupsSealed++;
    this.#recordsSealed += records.length;
    for (const record of records) for (const run of record.runs) this.#runBytesSealed += run.bytes.length;
    return VFS.SQLITE_OK;
  }

  #refusalToSeal(): KernelRefusal | undefined {
    if (!this.#accepting) return { kind: 'not-accepting', reason: this.#notAcceptingReason };
    if (this.#cache.unassignedGroupCount >= this.#maxUnassignedGroups) {
      return {
        kind: 'not-accepting',
        reason: `${this.#cache.unassignedGroupCount} committed groups are still waiting for their LSNs`,
      };
    }
    return undefined;
  }

  /**
   * V4: when page 0's in-header database size drops below the file size, the commit shrinks the
   * database and SQLite will truncate the file after it. The pages cut off are zeroed in this group.
   */
  #zeroPagesCutOff(): number {
    if (!this.#group!.writes.has(0)) return VFS.SQLITE_OK;
    const headerPages = headerSizePages(this.#cache.peek(0)!);
    if (headerPages === undefined) return VFS.SQLITE_OK;
    const filePages = this.sizePages;
    if (headerPages >= filePages) return VFS.SQLITE_OK;
    for (let pageNo = headerPages; pageNo < filePages; pageNo++) {
      const rc = this.#recordWrite(pageNo, 0, ZERO_PAGE);
      if (rc !== VFS.SQLITE_OK) return rc;
    }
    this.#group!.zeroedFromPageNo = headerPages;
    return VFS.SQLITE_OK;
  }

  /** V3: every image, cache state and the file size back to before the group. */
  #undoGroup(): void {
    const group = this.#group!;
    for (const [pageNo, write] of group.writes) {
      const image = this.#cache.peek(pageNo)!;
      for (const run of write.undo) image.set(run.bytes, run.offset);
      this.#cache.abortWrite(pageNo, write.previous);
    }
    this.#group = undefined;
    this.#sizeBytes = group.sizeBytesAtStart;
  }

  // ---- the main file's size at open ----

  /**
   * The file size from page 0's header: the in-header database size (offset 28, big-endian), valid
   * when the change counter (24) equals version-valid-for (92). All zeros: a new, empty database.
   * `undefined` (refusal set) when page 0 cannot be read or is not a database of ours.
   */
  #sizeFromHeader(): number | undefined {
    const result = this.#pageSource.readPage(0);
    this.#pagesReadFromSource++;
    if (!result.ok) {
      this.#pageReadFailures++;
      this.refusal = { kind: 'page-read-failed', pageNo: 0, message: result.message };
      return undefined;
    }
    const page = checkedPage(0, result.page);
    if (page.every((byte) => byte === 0)) {
      if (this.#replica) {
        // The writer's first commit writes page 0: a replica must hold it to see the database grow.
        this.#cache.insertClean(0, page);
        this.#cache.pin(0);
      }
      return 0;
    }
    const pages = headerSizePages(page);
    const pageSize = (page[16]! << 8) | page[17]!;
    if (pages === undefined || pageSize !== PAGE_SIZE_BYTES) {
      this.refusal = {
        kind: 'page-read-failed',
        pageNo: 0,
        message: `page 0 is not the header of a ${PAGE_SIZE_BYTES}-byte-page database written by this engine`,
      };
      return undefined;
    }
    this.#cache.insertClean(0, page);
    if (this.#replica) this.#cache.pin(0);
    return pages * PAGE_SIZE_BYTES;
  }

  // ---- non-main files: plain memory ----

  #readMemoryFile(pFile: number, pData: number, iAmt: number, offset: number): number {
    const file = this.#memoryFiles.get(pFile);
    assert(file !== undefined, `read of unknown file ${pFile}`);
    const heap = this.#wasm.HEAPU8;
    const available = Math.max(0, Math.min(iAmt, file.sizeBytes - offset));
    if (available > 0) heap.set(file.data.subarray(offset, offset + available), pData);
    if (available < iAmt) {
      heap.fill(0, pData + available, pData + iAmt);
      return VFS.SQLITE_IOERR_SHORT_READ;
    }
    return VFS.SQLITE_OK;
  }

  #writeMemoryFile(pFile: number, pData: number, iAmt: number, offset: number): number {
    const file = this.#memoryFiles.get(pFile);
    assert(file !== undefined, `write to unknown file ${pFile}`);
    const end = offset + iAmt;
    if (end > file.data.length) {
      const grown = new Uint8Array(Math.max(end, file.data.length * 2, PAGE_SIZE_BYTES));
      grown.set(file.data.subarray(0, file.sizeBytes));
      file.data = grown;
    }
    file.data.set(this.#wasm.HEAPU8.subarray(pData, pData + iAmt), offset);
    file.sizeBytes = Math.max(file.sizeBytes, end);
    return VFS.SQLITE_OK;
  }
}

/**
 * The database size in pages from a page-0 image, or undefined when the header does not hold a valid
 * one (an all-zero page, or change counter ≠ version-valid-for).
 */
export function headerSizePages(page: Uint8Array): number | undefined {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const changeCounter = view.getUint32(24);
  const versionValidFor = view.getUint32(92);
  const pages = view.getUint32(28);
  if (pages === 0 || changeCounter !== versionValidFor) return undefined;
  return pages;
}

function checkedPage(pageNo: number, page: Uint8Array): Uint8Array {
  if (!(page instanceof Uint8Array) || page.length !== PAGE_SIZE_BYTES) {
    throw new AssertionError(`page source returned ${page?.length} bytes for page ${pageNo}`);
  }
  return page;
}

function patched(image: Uint8Array, within: number, bytes: Uint8Array): Uint8Array {
  const after = image.slice();
  after.set(bytes, within);
  return after;
}

function beforeBytesOf(image: Uint8Array, run: DiffRun): DiffRun {
  return { offset: run.offset, bytes: copyBytes(image, run.offset, run.offset + run.bytes.length) };
}
