/**
 * One segment's in-memory state: its durable control state (control-log.ts), the index of the records
 * it holds (LSN → node log location, by page, and the chain of backlinks), its SCL, and its newest
 * page image per page. Pure data structure: no I/O, no clock. The core (storage-node-core.ts) keeps
 * it in step with the disk.
 *
 * What is indexed: every record the segment holds durably with LSN > gcThrough that no truncation
 * annulled. Records at or below `materializedThrough` are covered by page images and never read for a
 * page; they stay indexed (and on disk) only until GC may drop them (`gcThrough`).
 */
import {
  AssertionError,
  assert,
  isTruncated,
  type Lsn,
  SegmentCompleteness,
  type TailEntry,
} from '@northlight/protocol';
import { newSegmentBackup, type SegmentBackup } from './backup.js';
import type { SegmentControlState } from './control-log.js';
import type { LogLocation } from './log-format.js';
import type { PageImageRef } from './page-store.js';
import { RateMeter } from './rate-meter.js';

export interface IndexedRecord {
  readonly lsn: Lsn;
  readonly backlink: Lsn;
  readonly cpl: boolean;
  /** Undefined for a NOOP. */
  readonly pageNo: number | undefined;
  readonly location: LogLocation;
}

/** `active` serves; `silent` answers nothing (its control state may have rotted: a human must look). */
export type SegmentState = 'active' | 'silent';

export function compareLsn(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first element of sorted `values` greater than `limit`. */
export function upperBound(values: readonly bigint[], limit: bigint): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! <= limit) low = middle + 1;
    else high = middle;
  }
  return low;
}

function insertSorted(values: Lsn[], value: Lsn): void {
  if (values.length === 0 || values[values.length - 1]! < value) {
    values.push(value); // the common case: records arrive in LSN order
    return;
  }
  values.splice(upperBound(values, value), 0, value);
}

function removeSorted(values: Lsn[], value: Lsn): void {
  const index = upperBound(values, value) - 1;
  assert(index >= 0 && values[index] === value, `LSN ${value} is not in the list`);
  values.splice(index, 1);
}

/** Progress of a hydration, as `status()` shows it. */
export type SegmentHydration =
  | { readonly source: 'backup'; chunksDone: number; chunksTotal: number }
  | {
      readonly source: 'peer';
      /** Who sends the snapshot (a node or URL, for humans). */
      readonly from: string;
      pagesDone: number;
      readonly pagesTotal: number;
      chunksDone: number;
      readonly chunksTotal: number;
    };

export class Segment {
  readonly control: SegmentControlState;
  state: SegmentState = 'active';
  /** Set once the segment is dropped: in-flight work for it is abandoned. */
  dropped = false;
  readonly #records = new Map<Lsn, IndexedRecord>();
  readonly #sortedLsns: Lsn[] = [];
  readonly #lsnsByPage = new Map<number, Lsn[]>();
  /** backlink → LSN, of indexed records and records being written: the chain, to refuse forks. */
  readonly #successorOf = new Map<Lsn, Lsn>();
  /** Records being written (LSN → backlink), so a retransmission is not written twice. */
  readonly inFlight = new Map<Lsn, Lsn>();
  #completeness: SegmentCompleteness;
  /** The newest durable image of each page (as of an LSN ≤ materializedThrough). */
  readonly pages = new Map<number, PageImageRef>();
  /** Pages whose image failed its CRC: reads of them are refused until a peer repairs them. */
  readonly damagedPages = new Set<number>();
  /** Bytes of node log entries indexed for this segment. */
  logBytes = 0;
  /** Hint or minimum read point changed since they were last written to the control log. */
  controlDirty = false;
  /** The truncation being applied; the next one waits for it (one at a time, toy reasoning 5). */
  truncating: Promise<void> = Promise.resolve();
  readonly appendRate: RateMeter;
  readonly readRate: RateMeter;

  /** The gossip pull in flight (one at a time per segment), and when it was sent. */
  gossipPull: { readonly requestId: bigint; readonly sentMs: number } | undefined;
  /** Peers answered that they garbage-collected past this segment's SCL: records alone cannot fill it. */
  behindPeerGc = false;
  /** Peer snapshots asked for and not finished: the slower catch-up from S3 waits for them. */
  peerHydrationsPending = 0;
  /** Staging to the object store (backup.ts). */
  readonly backup: SegmentBackup = newSegmentBackup();
  /** A hydration in progress: from the object store (restore, catch-up past peers' GC) or a peer's snapshot. */
  hydration: SegmentHydration | undefined;
  /** Page repairs in flight: page → when the read was sent to a peer. */
  readonly pageRepairs = new Map<number, number>();

  /** Off-chain records found and dropped (see `#pruneOffChain`), for the core to release and log. */
  readonly pruned: IndexedRecord[] = [];

  constructor(control: SegmentControlState, rateWindowMs: number) {
    this.control = control;
    this.#completeness = newCompleteness(control);
    this.appendRate = new RateMeter(rateWindowMs);
    this.readRate = new RateMeter(rateWindowMs);
  }

  get key(): string {
    return segmentKey(this.control.pgId, this.control.segmentId);
  }

  get scl(): Lsn {
    return this.#completeness.scl;
  }

  get recordCount(): number {
    return this.#records.size;
  }

  /** Records held above the SCL (behind a gap). */
  get pendingAboveScl(): number {
    return this.#completeness.pendingCount;
  }

  knownGaps(): Lsn[] {
    return this.#completeness.knownGaps();
  }

  get(lsn: Lsn): IndexedRecord | undefined {
    return this.#records.get(lsn);
  }

  has(lsn: Lsn): boolean {
    return this.#records.has(lsn);
  }

  successorOf(backlink: Lsn): Lsn | undefined {
    return this.#successorOf.get(backlink);
  }

  /** Marks a record as being written; its link counts for fork checks from now on. */
  beginWrite(lsn: Lsn, backlink: Lsn): void {
    this.inFlight.set(lsn, backlink);
    this.#successorOf.set(backlink, lsn);
  }

  /** The write ended (indexed or not): the link stays only if the record was indexed. */
  endWrite(lsn: Lsn): void {
    const backlink = this.inFlight.get(lsn);
    if (backlink === undefined) return;
    this.inFlight.delete(lsn);
    if (!this.#records.has(lsn) && this.#successorOf.get(backlink) === lsn)
      this.#successorOf.delete(backlink);
  }

  /**
   * Indexes a durable record. Returns false (and indexes nothing) if it is a duplicate, at or below
   * gcThrough, or annulled by the segment's truncations: the caller releases its log entry.
   */
  index(record: IndexedRecord): boolean {
    if (record.lsn <= this.control.gcThrough || this.#records.has(record.lsn)) return false;
    if (isTruncated(record.lsn, this.control.truncations)) return false;
    // A fork (another record already follows this backlink) is refused before writing; on replay a
    // conflicting record (a writer bug that slipped in) is skipped rather than asserted on.
    const successor = this.#successorOf.get(record.backlink);
    if (successor !== undefined && successor !== record.lsn) return false;
    if (record.backlink < this.scl && record.lsn > this.scl) return false;
    this.#records.set(record.lsn, record);
    insertSorted(this.#sortedLsns, record.lsn);
    if (record.pageNo !== undefined) {
      let list = this.#lsnsByPage.get(record.pageNo);
      if (list === undefined) {
        list = [];
        this.#lsnsByPage.set(record.pageNo, list);
      }
      insertSorted(list, record.lsn);
    }
    if (successor === undefined) this.#successorOf.set(record.backlink, record.lsn); // else beginWrite set it
    this.logBytes += record.location.entryBytes;
    const before = this.scl;
    this.#completeness.add(record);
    if (this.scl > before && !this.#extendedByOne(before, record)) this.#pruneOffChain(before, this.scl);
    return true;
  }

  /**
   * The common case of an SCL move, settled in O(1): `record` (just indexed) followed the old SCL and
   * is the new one, and it is the only record held in (before, scl], so nothing can be off the chain.
   */
  #extendedByOne(before: Lsn, record: IndexedRecord): boolean {
    const sorted = this.#sortedLsns;
    return (
      record.backlink === before &&
      this.scl === record.lsn &&
      sorted[sorted.length - 1] === record.lsn &&
      (sorted.length === 1 || sorted[sorted.length - 2]! <= before)
    );
  }

  /**
   * The SCL moved from `from` to `to` along the chain of backlinks. A held record in (from, to] that
   * the chain skipped names a predecessor that is not in this PG: it can only come from a buggy or
   * hostile writer (LSNs are dense and each belongs to one PG), and it must never be applied to a
   * page, so it is dropped (into `pruned`; the core releases its log entry and logs it).
   */
  #pruneOffChain(from: Lsn, to: Lsn): void {
    const chain = new Set<Lsn>();
    for (let lsn = from; lsn < to; ) {
      const next = this.#successorOf.get(lsn);
      if (!(next !== undefined && next > lsn))
        throw new AssertionError(`SCL advanced from ${from} to ${to} without a chain`);
      chain.add(next);
      lsn = next;
    }
    const start = upperBound(this.#sortedLsns, from);
    const end = upperBound(this.#sortedLsns, to);
    if (end - start === chain.size) return;
    for (const lsn of this.#sortedLsns.slice(start, end)) {
      if (!chain.has(lsn)) this.pruned.push(this.unindex(lsn)!);
    }
  }

  /** Removes a record from the index; returns it so the caller can release its log entry. */
  unindex(lsn: Lsn): IndexedRecord | undefined {
    const record = this.#records.get(lsn);
    if (record === undefined) return undefined;
    this.#records.delete(lsn);
    removeSorted(this.#sortedLsns, lsn);
    if (record.pageNo !== undefined) {
      const list = this.#lsnsByPage.get(record.pageNo)!;
      removeSorted(list, lsn);
      if (list.length === 0) this.#lsnsByPage.delete(record.pageNo);
    }
    if (this.#successorOf.get(record.backlink) === lsn) this.#successorOf.delete(record.backlink);
    this.logBytes -= record.location.entryBytes;
    return record;
  }

  /**
   * Removes every record with LSN ≤ `limit` from the index at once (GC) and returns them, ascending,
   * so the caller can release their log entries. The same as `unindex` of each, ascending, in time
   * linear in what is removed and what is held: the held LSNs are sorted, so the removed ones are a
   * prefix of the whole list and of each page's list (one splice each, not one per record).
   */
  unindexThrough(limit: Lsn): IndexedRecord[] {
    const count = upperBound(this.#sortedLsns, limit);
    if (count === 0) return [];
    const removed = this.#sortedLsns.splice(0, count).map((lsn) => this.#records.get(lsn)!);
    const pages = new Set<number>();
    for (const record of removed) {
      this.#records.delete(record.lsn);
      if (record.pageNo !== undefined) pages.add(record.pageNo);
      if (this.#successorOf.get(record.backlink) === record.lsn) this.#successorOf.delete(record.backlink);
      this.logBytes -= record.location.entryBytes;
    }
    for (const pageNo of pages) {
      const list = this.#lsnsByPage.get(pageNo)!;
      list.splice(0, upperBound(list, limit));
      if (list.length === 0) this.#lsnsByPage.delete(pageNo);
    }
    return removed;
  }

  /** Indexed records with LSN ≤ `limit`, ascending. */
  recordsAtOrBelow(limit: Lsn): IndexedRecord[] {
    return this.#sortedLsns
      .slice(0, upperBound(this.#sortedLsns, limit))
      .map((lsn) => this.#records.get(lsn)!);
  }

  /** The highest LSN indexed (chain or above it), or 0 when the segment holds no record. */
  get highestLsn(): Lsn {
    return this.#sortedLsns.at(-1) ?? (0n as Lsn);
  }

  /**
   * Log-entry bytes of the indexed records in (after, through], counted until they reach `max` (the
   * sum returned is then at least `max`): what `recordsBetween` would give, without building the list.
   */
  bytesBetween(after: Lsn, through: Lsn, max: number): number {
    let bytes = 0;
    for (let index = upperBound(this.#sortedLsns, after); index < this.#sortedLsns.length; index++) {
      const lsn = this.#sortedLsns[index]!;
      if (lsn > through || bytes >= max) break;
      bytes += this.#records.get(lsn)!.location.entryBytes;
    }
    return bytes;
  }

  /** Up to `max` indexed records in (after, through], ascending: chain records when through ≤ SCL. */
  recordsBetween(after: Lsn, through: Lsn, max: number): IndexedRecord[] {
    const start = upperBound(this.#sortedLsns, after);
    const end = Math.min(upperBound(this.#sortedLsns, through), start + max);
    return this.#sortedLsns.slice(start, end).map((lsn) => this.#records.get(lsn)!);
  }

  /** The records of `pageNo` in (after, through], ascending: what a read applies over an image. */
  pageRecordsBetween(pageNo: number, after: bigint, through: bigint): IndexedRecord[] {
    const list = this.#lsnsByPage.get(pageNo);
    if (list === undefined) return [];
    return list
      .slice(upperBound(list, after), upperBound(list, through))
      .map((lsn) => this.#records.get(lsn)!);
  }

  /** Every indexed record, ascending (for scrub and drop). */
  allRecords(): IndexedRecord[] {
    return this.#sortedLsns.map((lsn) => this.#records.get(lsn)!);
  }

  /** (lsn, backlink, cpl) of every record above `floor`, ascending: the segment-state tail. */
  tailAbove(floor: Lsn): TailEntry[] {
    return this.#sortedLsns
      .slice(upperBound(this.#sortedLsns, floor))
      .map((lsn) => this.#records.get(lsn)!)
      .map((record) => ({ lsn: record.lsn, backlink: record.backlink, cpl: record.cpl }));
  }

  /**
   * Drops annulled records from the index and recomputes the SCL from materializedThrough (it can go
   * down after a truncation or when a damaged record is dropped). Returns the records dropped.
   */
  rebuild(): IndexedRecord[] {
    const dropped: IndexedRecord[] = [];
    for (const lsn of [...this.#sortedLsns]) {
      if (isTruncated(lsn, this.control.truncations)) dropped.push(this.unindex(lsn)!);
    }
    this.#completeness = newCompleteness(this.control);
    const base = this.scl;
    for (const lsn of this.#sortedLsns) this.#completeness.add(this.#records.get(lsn)!);
    if (this.scl > base) this.#pruneOffChain(base, this.scl);
    return dropped;
  }

  /** Every durable field is at least the GC point; hint and read floor are at least the image point. */
  normalizeAfterReplay(): void {
    const control = this.control;
    if (control.durableHint < control.materializedThrough) control.durableHint = control.materializedThrough;
    if (control.minReadPoint < control.materializedThrough)
      control.minReadPoint = control.materializedThrough;
  }
}

/**
 * The SCL starts at `materializedThrough`: every record at or below it is coalesced into page images
 * (so the segment is complete there even once GC dropped them, or scrub found one rotten), and it is
 * the LSN of a record of the chain (a materialization step always ends on one), so the next record's
 * backlink names it. The bound on records above the SCL is enforced by the core before it writes.
 */
function newCompleteness(control: SegmentControlState): SegmentCompleteness {
  return new SegmentCompleteness(control.materializedThrough, Number.MAX_SAFE_INTEGER);
}

export function segmentKey(pgId: number, segmentId: string): string {
  return `${pgId}/${segmentId}`;
}
