/**
 * The volume as the engine sees it: a sequence of protection groups (PGs), each `pagesPerPg` pages of
 * the volume's page space, each kept by six segments on six storage nodes. Pure data and the two
 * interfaces the engine's core needs from the outside world: where the PGs live (`VolumeDirectory`)
 * and which volume epoch to recover under (`EpochStore`).
 *
 * Page numbers are 0-based over the whole volume (SQLite's page n is the engine's page n − 1);
 * page p lies in PG ⌊p / pagesPerPg⌋. The volume is never pre-sized: a write to a page past the last
 * PG makes the engine add PGs up to it first (`VolumeDirectory.addPg`), in order, so PG ids are dense.
 */
import {
  asPgId,
  assert,
  type Epoch,
  type NodeId,
  type PgId,
  type QuorumSet,
  type SegmentId,
  singleConfiguration,
} from '@northlight/protocol';

/** Where one PG's segments live, and the membership epoch its segments were created under. */
export interface PgPlacement {
  readonly pgId: PgId;
  readonly membershipEpoch: Epoch;
  /** The six segments, in placement order (two per zone). */
  readonly members: readonly SegmentId[];
  /** The storage node hosting each member. */
  readonly nodeOf: ReadonlyMap<SegmentId, NodeId>;
}

export function quorumSetOf(placement: PgPlacement): QuorumSet<SegmentId> {
  return singleConfiguration(placement.members);
}

/**
 * The durable list of the volume's PGs. The local implementation (io/local-directory.ts) keeps it in a
 * file and creates segments through the storage nodes' admin API; the control plane replaces it.
 */
export interface VolumeDirectory {
  readonly pagesPerPg: number;
  /** Every PG of the volume, by id, dense from 0. */
  pgs(): readonly PgPlacement[];
  /**
   * Adds the next PG (id = the current count): creates its six segments and records it durably, in
   * that order, so a PG the list names always has segments. Idempotent across crashes: a PG whose
   * creation was interrupted is completed when it is added again.
   */
  addPg(): Promise<PgPlacement>;
  /**
   * Background upkeep the driver calls now and then (the local directory creates segments whose node
   * was down when their PG was added). Optional.
   */
  maintain?(): Promise<unknown>;
}

/** Hands out volume epochs: each call returns one never returned before, above `atLeastAbove`. */
export interface EpochStore {
  claim(atLeastAbove: Epoch): Promise<Epoch>;
}

export function pgOfPage(pageNo: number, pagesPerPg: number): PgId {
  assert(Number.isInteger(pageNo) && pageNo >= 0, `bad page number ${pageNo}`);
  return asPgId(Math.floor(pageNo / pagesPerPg));
}
