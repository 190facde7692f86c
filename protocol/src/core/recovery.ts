/**
 * Volume recovery without redo replay (paper §4.3).
 *
 * On start (or failover) the writer takes a new volume epoch, asks a read quorum of every PG for its
 * state, and computes here, purely:
 *   1. H, the highest durable hint any segment holds. Hints are VDLs the previous writer had already
 *      established, so every record ≤ H reached a write quorum and the volume is complete to H.
 *   2. The VCL: from H, walk the dense LSN sequence upward through records that some responding
 *      segment holds, stepping over earlier truncation ranges (their LSNs were annulled, never reused).
 *      Every record that reached a write quorum is held by at least one member of any read quorum
 *      (4 + 3 > 6), so the walk passes every acknowledged record.
 *   3. The VDL: the highest CPL ≤ VCL (or H).
 *   4. A truncation range (VDL, end] under the new epoch, where end ≥ every LSN the old writer can have
 *      allocated: it never allocated past its VDL + LAL, and its VDL ≤ our VCL. It is written to a write
 *      quorum of every PG before the new writer serves, and its LSNs are never reused: the new writer
 *      continues at end + 1, chaining each PG's next record to the PG's last record ≤ VDL (`pgHeads`).
 * A recovery interrupted half-way is simply run again under a newer epoch; ranges carry their epoch.
 *
 * What each segment must report for this to be sound (see `SegmentStateReport`): its SCL, its durable
 * hint, its truncation ranges, and the (lsn, backlink, cpl) of every record it holds above
 * min(durable hint, SCL) — so a record held behind a local gap is still reported.
 */
import { assert } from './assert.js';
import { type ErrorCode, fail, NorthlightError, ok, type Result } from './errors.js';
import { isReadQuorum, type QuorumSet } from './quorum.js';
import { asLsn, type Epoch, type Lsn, type PgId } from './types.js';

export interface TruncationRange {
  /** The volume epoch of the recovery that wrote it. */
  readonly volumeEpoch: Epoch;
  readonly fromExclusive: Lsn;
  readonly toInclusive: Lsn;
}

export interface TailRecord {
  readonly lsn: Lsn;
  readonly backlink: Lsn;
  readonly cpl: boolean;
}

export interface SegmentStateReport<M extends string = string> {
  readonly member: M;
  readonly scl: Lsn;
  readonly durableHint: Lsn;
  readonly truncations: readonly TruncationRange[];
  readonly tail: readonly TailRecord[];
}

export interface PgRecoveryInput<M extends string = string> {
  readonly pgId: PgId;
  readonly quorumSet: QuorumSet<M>;
  readonly reports: readonly SegmentStateReport<M>[];
}

export interface RecoveryPlan {
  readonly vcl: Lsn;
  readonly vdl: Lsn;
  readonly truncation: TruncationRange;
  /** The first LSN the new writer allocates. */
  readonly nextLsn: Lsn;
  /** Per PG, the LSN of its last surviving record (≤ VDL): the backlink of its next record. */
  readonly pgHeads: ReadonlyMap<PgId, Lsn>;
  /**
   * Per PG, the records in (H, VDL] that the new writer must bring to a write quorum before it serves:
   * the walk proves each is held by at least one responding segment, not by four. Without this step a
   * record below the new VDL could live on one copy only, and losing that copy would punch a hole in
   * the durable volume.
   */
  readonly rereplicate: ReadonlyMap<PgId, readonly Lsn[]>;
}

export function isTruncated(lsn: Lsn, ranges: readonly TruncationRange[]): boolean {
  return ranges.some((range) => lsn > range.fromExclusive && lsn <= range.toInclusive);
}

/** Merges the ranges every segment reported, dropping exact duplicates; sorted by start. */
export function collectTruncations(reports: Iterable<SegmentStateReport>): TruncationRange[] {
  const byKey = new Map<string, TruncationRange>();
  for (const report of reports) {
    for (const range of report.truncations) {
      assert(range.fromExclusive < range.toInclusive, 'a truncation range is never empty');
      byKey.set(`${range.volumeEpoch}:${range.fromExclusive}:${range.toInclusive}`, range);
    }
  }
  return [...byKey.values()].sort((a, b) => (a.fromExclusive < b.fromExclusive ? -1 : 1));
}

function recoveryError(code: ErrorCode, message: string, details: Record<string, string | number | bigint>) {
  return fail(new NorthlightError(code, message, details));
}

export function planRecovery(input: {
  readonly pgs: readonly PgRecoveryInput[];
  readonly newEpoch: Epoch;
  readonly lsnAllocationLimit: bigint;
}): Result<RecoveryPlan> {
  assert(input.lsnAllocationLimit > 0n, 'LAL must be positive');
  assert(input.pgs.length > 0, 'a volume has at least one PG');
  for (const pg of input.pgs) {
    const responded = new Set(pg.reports.map((report) => report.member));
    if (!isReadQuorum(pg.quorumSet, responded)) {
      return recoveryError('NL_QUORUM_LOST', `PG ${pg.pgId} has no read quorum of segment states`, {
        pgId: pg.pgId,
        responded: responded.size,
      });
    }
  }
  const allReports = input.pgs.flatMap((pg) => pg.reports);
  const ranges = collectTruncations(allReports);
  for (const range of ranges) {
    assert(
      range.volumeEpoch < input.newEpoch,
      `a segment holds a truncation of epoch ${range.volumeEpoch} ≥ ours`,
    );
  }
  let hint = 0n;
  let highestSeen = 0n;
  for (const report of allReports) {
    if (report.durableHint > hint) hint = report.durableHint;
  }
  const present = new Map<bigint, TailRecord>();
  for (const report of allReports) {
    for (const record of report.tail) {
      if (record.lsn > highestSeen) highestSeen = record.lsn;
      if (record.lsn > hint && !isTruncated(record.lsn, ranges)) present.set(record.lsn, record);
    }
  }
  const vcl = walkComplete(hint, present, ranges);
  let vdl = hint;
  for (const record of present.values())
    if (record.cpl && record.lsn <= vcl && record.lsn > vdl) vdl = record.lsn;
  for (const range of ranges) if (range.toInclusive > highestSeen) highestSeen = range.toInclusive;
  if (vcl > highestSeen) highestSeen = vcl;
  const end = asLsn(highestSeen + input.lsnAllocationLimit);
  const truncation: TruncationRange = {
    volumeEpoch: input.newEpoch,
    fromExclusive: asLsn(vdl),
    toInclusive: end,
  };
  const pgHeads = new Map<PgId, Lsn>();
  const rereplicate = new Map<PgId, Lsn[]>();
  for (const pg of input.pgs) {
    pgHeads.set(pg.pgId, pgHead(pg, vdl, ranges));
    const lsns = new Set<bigint>();
    for (const report of pg.reports) {
      for (const record of report.tail)
        if (present.has(record.lsn) && record.lsn <= vdl) lsns.add(record.lsn);
    }
    rereplicate.set(pg.pgId, [...lsns].sort((a, b) => (a < b ? -1 : 1)).map(asLsn));
  }
  return ok({ vcl: asLsn(vcl), vdl: asLsn(vdl), truncation, nextLsn: asLsn(end + 1n), pgHeads, rereplicate });
}

function walkComplete(
  hint: bigint,
  present: ReadonlyMap<bigint, TailRecord>,
  ranges: readonly TruncationRange[],
) {
  let vcl = hint;
  for (;;) {
    const next = vcl + 1n;
    const range = ranges.find((r) => next > r.fromExclusive && next <= r.toInclusive);
    if (range !== undefined) {
      vcl = range.toInclusive;
      continue;
    }
    if (!present.has(next)) return vcl;
    vcl = next;
  }
}

/**
 * The PG's last record at or below the VDL. It is either some member's SCL (when that SCL ≤ VDL),
 * a reported tail record, or the backlink of a reported record above the VDL.
 */
function pgHead(pg: PgRecoveryInput, vdl: bigint, ranges: readonly TruncationRange[]): Lsn {
  let head = 0n;
  const consider = (lsn: bigint) => {
    if (lsn <= vdl && lsn > head && !isTruncated(asLsn(lsn), ranges)) head = lsn;
  };
  for (const report of pg.reports) {
    consider(report.scl);
    for (const record of report.tail) {
      consider(record.lsn);
      if (record.lsn > vdl) consider(record.backlink);
    }
  }
  return asLsn(head);
}
