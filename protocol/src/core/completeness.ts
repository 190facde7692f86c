/**
 * Completeness and durability points (paper §4.1–4.2).
 *
 * - SCL (segment complete LSN), kept by each segment: the highest LSN below which the segment has
 *   every record of its PG. Records arrive in any order; each names its PG predecessor (backlink),
 *   so the SCL advances along the chain of backlinks and stops at the first missing link.
 * - VCL (volume complete LSN), kept by the writer: LSNs are dense across the volume, so the VCL is
 *   the highest LSN L such that every LSN ≤ L has reached a write quorum of its PG. A gap — an LSN
 *   that never reached quorum — holds the VCL back however many later records are durable.
 * - VDL (volume durable LSN): the highest CPL ≤ VCL. Commits are acknowledged when VDL ≥ commit LSN.
 */
import { AssertionError, assert } from './assert.js';
import { NorthlightError } from './errors.js';
import { COPIES, isWriteQuorum, type QuorumSet, WRITE_QUORUM } from './quorum.js';
import { asLsn, type Lsn, type PgId } from './types.js';

export interface ChainLink {
  readonly lsn: Lsn;
  readonly backlink: Lsn;
}

/**
 * The SCL of one segment, advanced incrementally as records arrive. Records above the SCL wait in
 * a map from backlink to record; the map is bounded (`maxPendingRecords`) because a writer can be
 * at most LAL ahead of the durable point.
 */
export class SegmentCompleteness {
  #scl: Lsn;
  readonly #pendingByBacklink = new Map<Lsn, Lsn>();
  readonly #maxPendingRecords: number;

  constructor(scl: Lsn, maxPendingRecords = 1_000_000) {
    this.#scl = scl;
    this.#maxPendingRecords = maxPendingRecords;
  }

  get scl(): Lsn {
    return this.#scl;
  }

  get pendingCount(): number {
    return this.#pendingByBacklink.size;
  }

  /**
   * Adds a record's link. Returns true if the record is new. A record at or below the SCL, or one
   * already pending, is a duplicate (gossip and retransmission make those common).
   */
  add(link: ChainLink): boolean {
    if (!(link.backlink < link.lsn))
      throw new AssertionError(`backlink ${link.backlink} must be below lsn ${link.lsn}`);
    if (link.lsn <= this.#scl) return false;
    if (link.backlink === this.#scl && this.#pendingByBacklink.size === 0) {
      this.#scl = link.lsn; // the common case: the next record of the chain, nothing held above it
      return true;
    }
    const existing = this.#pendingByBacklink.get(link.backlink);
    if (existing !== undefined) {
      // Two different records claiming the same predecessor would fork the PG's chain: only a
      // writer bug or a record from a fenced epoch could do that, and the caller filters epochs.
      if (!(existing === link.lsn))
        throw new AssertionError(`chain fork: ${existing} and ${link.lsn} both follow ${link.backlink}`);
      return false;
    }
    if (this.#pendingByBacklink.size >= this.#maxPendingRecords) {
      throw new NorthlightError('NL_LSN_ALLOCATION_LIMIT', 'too many records above the SCL', {
        scl: this.#scl,
        pending: this.#pendingByBacklink.size,
      });
    }
    this.#pendingByBacklink.set(link.backlink, link.lsn);
    this.#advance();
    return true;
  }

  #advance(): void {
    for (;;) {
      const next = this.#pendingByBacklink.get(this.#scl);
      if (next === undefined) return;
      this.#pendingByBacklink.delete(this.#scl);
      this.#scl = next;
    }
  }

  /**
   * LSNs known to be missing: predecessors named by pending records that are themselves absent.
   * These are what gossip asks peers for; sorted ascending.
   */
  knownGaps(): Lsn[] {
    const present = new Set<Lsn>(this.#pendingByBacklink.values());
    const gaps: Lsn[] = [];
    for (const backlink of this.#pendingByBacklink.keys()) {
      if (backlink > this.#scl && !present.has(backlink)) gaps.push(backlink);
    }
    return gaps.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** Computes the SCL of a set of links from a starting point in one pass (used by recovery). */
export function completeLsn(start: Lsn, links: Iterable<ChainLink>): Lsn {
  const completeness = new SegmentCompleteness(start, Number.MAX_SAFE_INTEGER);
  for (const link of links) completeness.add(link);
  return completeness.scl;
}

interface PendingRecord {
  readonly pgId: PgId;
  readonly cpl: boolean;
  readonly acknowledgedBy: Set<string>;
  durable: boolean;
}

/**
 * The writer's view of durability: every allocated LSN from VDL+1 up is pending until a write quorum
 * of its PG's current quorum set acknowledges it. Acknowledgements may be per record or cumulative
 * (a segment's SCL covers every record of the PG at or below it), and may arrive in any order,
 * duplicated, or never (the writer re-sends). Bounded by the LSN allocation limit (LAL).
 */
export class DurabilityTracker {
  #vcl: Lsn;
  #vdl: Lsn;
  #lastAllocated: Lsn;
  readonly #pending = new Map<Lsn, PendingRecord>();
  /** Per PG, its pending LSNs ascending (allocation order); entries at or below VCL are dropped lazily. */
  readonly #pendingOfPg = new Map<PgId, Lsn[]>();
  /** Per PG and member, the SCL already applied by `acknowledgeThrough`: each record is visited once. */
  readonly #appliedThrough = new Map<PgId, Map<string, Lsn>>();
  readonly #quorumSetOf: (pgId: PgId) => QuorumSet<string>;
  readonly #writeQuorum: number;

  /** `writeQuorum`: acknowledgements a record needs per configuration (quorum.ts `isWriteQuorum`). */
  constructor(
    durableLsn: Lsn,
    quorumSetOf: (pgId: PgId) => QuorumSet<string>,
    writeQuorum: number = WRITE_QUORUM,
  ) {
    this.#vcl = durableLsn;
    this.#vdl = durableLsn;
    this.#lastAllocated = durableLsn;
    this.#quorumSetOf = quorumSetOf;
    if (!(Number.isInteger(writeQuorum) && writeQuorum >= WRITE_QUORUM && writeQuorum <= COPIES))
      throw new AssertionError(`a write quorum is ${WRITE_QUORUM} … ${COPIES}, not ${writeQuorum}`);
    this.#writeQuorum = writeQuorum;
  }

  get vcl(): Lsn {
    return this.#vcl;
  }

  get vdl(): Lsn {
    return this.#vdl;
  }

  get lastAllocated(): Lsn {
    return this.#lastAllocated;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Registers the next LSN. LSNs are dense: `lsn` must be exactly lastAllocated + 1. */
  register(lsn: Lsn, pgId: PgId, cpl: boolean): void {
    if (!(lsn === this.#lastAllocated + 1n))
      throw new AssertionError(`LSNs are dense: expected ${this.#lastAllocated + 1n}, got ${lsn}`);
    this.#pending.set(lsn, { pgId, cpl, acknowledgedBy: new Set(), durable: false });
    let list = this.#pendingOfPg.get(pgId);
    if (list === undefined) {
      list = [];
      this.#pendingOfPg.set(pgId, list);
    }
    list.push(lsn);
    this.#lastAllocated = lsn;
  }

  /** Segment `member` has made record `lsn` durable. Returns true if VDL advanced. */
  acknowledge(lsn: Lsn, member: string): boolean {
    const record = this.#pending.get(lsn);
    if (record === undefined || record.durable) return false;
    record.acknowledgedBy.add(member);
    this.#evaluate(record);
    return this.#advance();
  }

  /**
   * Segment `member` of `pgId` is complete up to `scl`: every pending record of the PG ≤ scl is durable
   * there. Visits only the PG's pending records above what this member's earlier SCLs covered, so each
   * (record, member) pair costs once however often a segment reports its SCL.
   */
  acknowledgeThrough(pgId: PgId, member: string, scl: Lsn): boolean {
    const list = this.#pendingOfPg.get(pgId);
    let applied = this.#appliedThrough.get(pgId);
    if (applied === undefined) {
      applied = new Map();
      this.#appliedThrough.set(pgId, applied);
    }
    const from = applied.get(member) ?? this.#vcl;
    if (list !== undefined && scl > from) {
      let drop = 0;
      while (drop < list.length && list[drop]! <= this.#vcl) drop++;
      if (drop > 0) list.splice(0, drop); // durable and below VCL: gone from #pending already
      for (let index = upperBoundLsn(list, from); index < list.length && list[index]! <= scl; index++) {
        const record = this.#pending.get(list[index]!);
        if (record === undefined || record.durable) continue;
        record.acknowledgedBy.add(member);
        this.#evaluate(record);
      }
    }
    if (scl > from) applied.set(member, scl);
    return this.#advance();
  }

  /** The PG's quorum set changed (membership change): re-judge its pending records. */
  reevaluate(pgId: PgId): boolean {
    for (const record of this.#pending.values())
      if (record.pgId === pgId && !record.durable) this.#evaluate(record);
    return this.#advance();
  }

  /**
   * `member` left PG `pgId` (a membership change): its acknowledgements of the PG's pending records
   * and its applied SCL are forgotten, so that a segment given the same id later starts from nothing
   * instead of counting for records it may not hold. Call `reevaluate` after.
   */
  forgetMember(pgId: PgId, member: string): void {
    for (const record of this.#pending.values())
      if (record.pgId === pgId && !record.durable) record.acknowledgedBy.delete(member);
    this.#appliedThrough.get(pgId)?.delete(member);
  }

  /** Members of `pgId` that still have to acknowledge `lsn` (for re-sending). */
  isDurable(lsn: Lsn): boolean {
    return lsn <= this.#vcl || this.#pending.get(lsn)?.durable === true;
  }

  #evaluate(record: PendingRecord): void {
    record.durable = isWriteQuorum(this.#quorumSetOf(record.pgId), record.acknowledgedBy, this.#writeQuorum);
  }

  #advance(): boolean {
    const previousVdl = this.#vdl;
    for (;;) {
      const next = asLsn(this.#vcl + 1n);
      const record = this.#pending.get(next);
      if (record === undefined || !record.durable) break;
      this.#pending.delete(next);
      this.#vcl = next;
      if (record.cpl) this.#vdl = next;
    }
    assert(this.#vdl >= previousVdl, 'VDL never goes back');
    return this.#vdl > previousVdl;
  }
}

/** Index of the first element of ascending `values` greater than `limit`. */
function upperBoundLsn(values: readonly Lsn[], limit: bigint): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! <= limit) low = middle + 1;
    else high = middle;
  }
  return low;
}
