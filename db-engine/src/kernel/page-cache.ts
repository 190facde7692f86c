/**
 * The engine's buffer cache: the page images exactly as storage holds them, the diff base of every
 * redo record the VFS makes (engine-feasibility §4.11). SQLite keeps its own, decoded page cache in
 * the wasm heap above this one; this cache is what stands between SQLite's `xRead` and a storage read.
 *
 * Pure code, no I/O: the VFS (`redo-vfs.ts`) fills it from storage and writes into it; the host
 * thread drives LSNs and the VDL into it through the worker.
 *
 * An entry is in one of four states:
 *
 *   clean         read from storage, or rolled back to what storage holds: evictable
 *   in-group      written by the transaction now committing (between BEGIN_ATOMIC_WRITE and the seal)
 *   sealed        its newest write is in sealed group `newestGroupSeq`, whose LSNs are not assigned yet
 *   assigned      its newest redo record has LSN `newestLsn`: evictable once `newestLsn ≤ VDL`
 *
 * Invariants:
 *  C1. A page is evicted only when storage can give it back as the cache holds it: clean, or its
 *      newest record's LSN is assigned and ≤ VDL (a read at read point VDL then returns this image).
 *      In-group and sealed pages, and assigned pages above the VDL, are pinned.
 *  C2. Eviction is least-recently-used among evictable pages. A page becomes "used" when it is
 *      inserted, when a lookup hits it while evictable, and when it turns evictable.
 *  C3. The cache never drops a pinned page to honour its capacity: when every page is pinned it grows
 *      past the capacity (counted in `growthsPastCapacity`), and shrinks back as the VDL advances.
 *  C4. Groups are sealed with dense sequence numbers 1, 2, 3… and their LSNs are assigned in that
 *      order, strictly increasing; the VDL never goes back. Breaking any of these is a bug in the
 *      caller and asserted.
 *  C5. A page's LSN is set by the group that wrote it last: when group 7 rewrites a page of group 5,
 *      group 5's LSNs no longer say anything about it (it stays pinned until group 7's LSN ≤ VDL).
 */
import { AssertionError, assert } from '@northlight/protocol';

export interface PageCacheOptions {
  /** Pages the cache holds before it evicts; it grows past this only while pages are pinned (C3). */
  readonly capacityPages: number;
}

/** The part of an entry's state a group's write changes and its rollback restores. */
export interface EntrySnapshot {
  readonly newestGroupSeq: number;
  readonly newestLsn: bigint | undefined;
}

export interface PageCacheStats {
  readonly capacityPages: number;
  readonly sizePages: number;
  readonly peakSizePages: number;
  /** Pages not evictable now (C1). */
  readonly pinnedPages: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  /** Inserts that found the cache full and nothing evictable (C3). */
  readonly growthsPastCapacity: number;
  /** Sealed groups whose LSNs the host has not assigned yet. */
  readonly unassignedGroups: number;
}

/** `newestGroupSeq` of a clean page: nothing of ours is newer than storage's image. */
const NO_GROUP = 0;
/** `newestGroupSeq` of a page written by the group that is committing now. */
const OPEN_GROUP = -1;
const CLEAN: EntrySnapshot = { newestGroupSeq: NO_GROUP, newestLsn: 0n };

interface Entry {
  readonly pageNo: number;
  readonly image: Uint8Array;
  newestGroupSeq: number;
  /** `undefined` until the host assigns the LSN of the newest record (0n for a clean page). */
  newestLsn: bigint | undefined;
}

/** An assigned page waiting for the VDL to pass its LSN. */
interface VdlWaiter {
  readonly lsn: bigint;
  readonly pageNo: number;
}

export class PageCache {
  readonly #capacityPages: number;
  /** Every entry. */
  readonly #entries = new Map<number, Entry>();
  /** The evictable entries, least recently used first (a Map iterates in insertion order). */
  readonly #evictable = new Map<number, Entry>();
  /** Pages of each sealed group whose LSNs are not assigned yet, in seal order (C4). */
  readonly #unassignedGroups = new Map<number, readonly number[]>();
  /** Assigned pages above the VDL, in LSN order; `#waitersHead` is the first not yet released. */
  #vdlWaiters: VdlWaiter[] = [];
  #waitersHead = 0;
  #vdl = 0n;
  #lastSealedSeq = 0;
  #lastAssignedSeq = 0;
  #lastAssignedLsn = 0n;
  #peakSizePages = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #growthsPastCapacity = 0;

  constructor(options: PageCacheOptions) {
    assert(
      Number.isInteger(options.capacityPages) && options.capacityPages >= 1,
      `page cache capacity must be a positive integer, not ${options.capacityPages}`,
    );
    this.#capacityPages = options.capacityPages;
  }

  get vdl(): bigint {
    return this.#vdl;
  }

  get lastSealedSeq(): number {
    return this.#lastSealedSeq;
  }

  get unassignedGroupCount(): number {
    return this.#unassignedGroups.size;
  }

  /** The cached image (touching it, C2), or undefined on a miss. Counts hits and misses. */
  lookup(pageNo: number): Uint8Array | undefined {
    const entry = this.#entries.get(pageNo);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    if (this.#evictable.delete(pageNo)) this.#evictable.set(pageNo, entry);
    return entry.image;
  }

  /** The cached image without touching it or counting: for the VFS's own bookkeeping. */
  peek(pageNo: number): Uint8Array | undefined {
    return this.#entries.get(pageNo)?.image;
  }

  /**
   * Caches `image`, just read from storage, as a clean page (the cache keeps the array: the caller
   * must not change it). Evicts first, so the new page is never the one evicted.
   */
  insertClean(pageNo: number, image: Uint8Array): void {
    if (this.#entries.has(pageNo)) throw new AssertionError(`page ${pageNo} is cached already`);
    this.#makeRoomForOne();
    const entry: Entry = { pageNo, image, newestGroupSeq: NO_GROUP, newestLsn: 0n };
    this.#entries.set(pageNo, entry);
    this.#evictable.set(pageNo, entry);
    this.#noteSize();
  }

  /**
   * Pins the page for a write of the committing group and returns the state its rollback restores.
   * A page not cached is inserted with `imageIfAbsent` (what storage holds: the diff base), and its
   * rollback leaves it clean. The caller then changes the image in place.
   */
  beginWrite(pageNo: number, imageIfAbsent?: Uint8Array): { image: Uint8Array; previous: EntrySnapshot } {
    let entry = this.#entries.get(pageNo);
    let previous: EntrySnapshot;
    if (entry === undefined) {
      if (imageIfAbsent === undefined)
        throw new AssertionError(`page ${pageNo} is not cached and has no image`);
      this.#makeRoomForOne();
      entry = { pageNo, image: imageIfAbsent, newestGroupSeq: OPEN_GROUP, newestLsn: undefined };
      this.#entries.set(pageNo, entry);
      this.#noteSize();
      previous = CLEAN;
    } else {
      if (entry.newestGroupSeq === OPEN_GROUP)
        throw new AssertionError(`page ${pageNo} is already in the group`);
      previous = { newestGroupSeq: entry.newestGroupSeq, newestLsn: entry.newestLsn };
      this.#evictable.delete(pageNo);
      entry.newestGroupSeq = OPEN_GROUP;
      entry.newestLsn = undefined;
    }
    return { image: entry.image, previous };
  }

  /**
   * Undoes `beginWrite`'s pinning (the caller has restored the image): the group was rolled back,
   * refused, or left this page unchanged.
   */
  abortWrite(pageNo: number, previous: EntrySnapshot): void {
    const entry = this.#entries.get(pageNo);
    if (entry === undefined || entry.newestGroupSeq !== OPEN_GROUP) {
      throw new AssertionError(`page ${pageNo} is not being written`);
    }
    entry.newestGroupSeq = previous.newestGroupSeq;
    entry.newestLsn = previous.newestLsn;
    // An assigned page above the VDL still has its waiter queued (waiters are only dropped at or
    // below the VDL), so only the evictable case needs work here.
    if (this.#isEvictableState(entry)) this.#evictable.set(pageNo, entry);
    this.#shrinkToCapacity();
  }

  /** Marks the committing group's pages as sealed in group `seq` (the next sequence number, C4). */
  sealGroup(seq: number, pageNos: readonly number[]): void {
    assert(seq === this.#lastSealedSeq + 1, `group ${seq} sealed after group ${this.#lastSealedSeq}`);
    assert(pageNos.length > 0, `group ${seq} has no pages`);
    for (const pageNo of pageNos) {
      const entry = this.#entries.get(pageNo);
      if (entry === undefined || entry.newestGroupSeq !== OPEN_GROUP) {
        throw new AssertionError(`page ${pageNo} is not being written`);
      }
      entry.newestGroupSeq = seq;
    }
    this.#unassignedGroups.set(seq, pageNos);
    this.#lastSealedSeq = seq;
  }

  /** The LSNs of group `seq`'s records, one per page in seal order (C4, C5). */
  assignLsns(seq: number, lsns: readonly bigint[]): void {
    const pageNos = this.#unassignedGroups.get(seq);
    assert(
      pageNos !== undefined && seq === this.#lastAssignedSeq + 1,
      `LSNs assigned to group ${seq} after group ${this.#lastAssignedSeq} (last sealed ${this.#lastSealedSeq})`,
    );
    assert(lsns.length === pageNos.length, `group ${seq} has ${pageNos.length} records, not ${lsns.length}`);
    for (let index = 0; index < lsns.length; index++) {
      const lsn = lsns[index]!;
      if (!(lsn > this.#lastAssignedLsn)) {
        throw new AssertionError(`LSN ${lsn} of group ${seq} is not above ${this.#lastAssignedLsn}`);
      }
      this.#lastAssignedLsn = lsn;
      const pageNo = pageNos[index]!;
      const entry = this.#entries.get(pageNo);
      if (entry === undefined)
        throw new AssertionError(`page ${pageNo} of unassigned group ${seq} was evicted`);
      if (entry.newestGroupSeq !== seq) continue; // a later group rewrote it (C5)
      entry.newestLsn = lsn;
      if (lsn <= this.#vdl) this.#evictable.set(pageNo, entry);
      else this.#vdlWaiters.push({ lsn, pageNo });
    }
    this.#unassignedGroups.delete(seq);
    this.#lastAssignedSeq = seq;
    this.#shrinkToCapacity();
  }

  /** Advances the VDL (never back, C4), unpins what it covers and evicts down to the capacity. */
  setVdl(vdl: bigint): void {
    if (!(vdl >= this.#vdl)) throw new AssertionError(`VDL went back from ${this.#vdl} to ${vdl}`);
    this.#vdl = vdl;
    while (this.#waitersHead < this.#vdlWaiters.length) {
      const waiter = this.#vdlWaiters[this.#waitersHead]!;
      if (waiter.lsn > vdl) break;
      this.#waitersHead++;
      const entry = this.#entries.get(waiter.pageNo);
      // Only if the waiter is still the page's newest record (C5) and the page is not in the group.
      if (entry !== undefined && entry.newestLsn === waiter.lsn) this.#evictable.set(waiter.pageNo, entry);
    }
    if (this.#waitersHead > 1024 && this.#waitersHead * 2 > this.#vdlWaiters.length) {
      this.#vdlWaiters = this.#vdlWaiters.slice(this.#waitersHead);
      this.#waitersHead = 0;
    }
    this.#shrinkToCapacity();
  }

  stats(): PageCacheStats {
    return {
      capacityPages: this.#capacityPages,
      sizePages: this.#entries.size,
      peakSizePages: this.#peakSizePages,
      pinnedPages: this.#entries.size - this.#evictable.size,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      growthsPastCapacity: this.#growthsPastCapacity,
      unassignedGroups: this.#unassignedGroups.size,
    };
  }

  /**
   * Keeps a clean cached page for good: it is never evicted (a replica pins page 0, whose header holds
   * the database size, so the records it applies always reach it).
   */
  pin(pageNo: number): void {
    const entry = this.#entries.get(pageNo);
    if (entry === undefined || entry.newestGroupSeq !== NO_GROUP)
      throw new AssertionError(`page ${pageNo} is not a clean cached page`);
    this.#evictable.delete(pageNo);
  }

  /** Whether `pageNo` is cached (for tests and assertions). */
  has(pageNo: number): boolean {
    return this.#entries.has(pageNo);
  }

  /** Whether `pageNo` is cached and evictable now (for tests and assertions). */
  isEvictable(pageNo: number): boolean {
    return this.#evictable.has(pageNo);
  }

  #isEvictableState(entry: Entry): boolean {
    return entry.newestLsn !== undefined && entry.newestLsn <= this.#vdl;
  }

  /** Before an insert: evicts until one more page fits, or counts a growth if nothing can go (C3). */
  #makeRoomForOne(): void {
    while (this.#entries.size >= this.#capacityPages) {
      if (!this.#evictOldest()) {
        this.#growthsPastCapacity++;
        return;
      }
    }
  }

  #shrinkToCapacity(): void {
    while (this.#entries.size > this.#capacityPages && this.#evictOldest()) {}
  }

  #evictOldest(): boolean {
    for (const [pageNo] of this.#evictable) {
      this.#evictable.delete(pageNo);
      this.#entries.delete(pageNo);
      this.#evictions++;
      return true;
    }
    return false;
  }

  #noteSize(): void {
    if (this.#entries.size > this.#peakSizePages) this.#peakSizePages = this.#entries.size;
  }
}
