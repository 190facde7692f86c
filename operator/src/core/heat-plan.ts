/**
 * Heat-driven migration as a pure plan (paper §2.3: hot segments are moved off hot nodes). Storage
 * nodes report each segment's heat (records appended plus pages read per second over their rate
 * window); a node's heat is the sum over its segments. When a node's heat exceeds the fleet's median
 * by `factor`, its hottest movable segment is migrated to the coldest node of the same zone that
 * holds no member of that PG — the same membership change as a repair (repair-plan.ts), except that
 * the leaving member is alive: it keeps serving until the joiner is hydrated, and is dropped after.
 *
 * Against thrashing:
 *   - hysteresis: a move must leave the target cooler than the source was (target + segment heat <
 *     source heat), else it would only move the hot spot;
 *   - a floor (`minimumHeat`): below it nothing is hot, whatever the ratio (an idle fleet's noise);
 *   - a cooldown: a node that was the source or target of a migration, and a segment that arrived by
 *     one, are not chosen again for `cooldownMs` (at least the rate window) — no segment moves twice
 *     in the window;
 *   - one migration per hot node per round, at most `maxTotal` repairs and migrations in the fleet;
 *   - a move must be worth it: the segment carries at least `EXCESS_SHARE_MIN` of the source's heat
 *     above the fleet median. Without this, a hot node whose hot segments cannot move this round
 *     (their PG is migrating in another zone, or they would only move the hot spot) gave away a
 *     segment of ~0 ops/s instead: it stayed as hot, and since both it and the cold target were then
 *     in their cooldown, neither could take part in the move that would have helped (the heat test's
 *     "58 58 1 1 ops/s" after its first migration). It waits for a later round instead.
 */
import { allMembers, beginReplacement } from '@northlight/protocol';
import type { MembershipChange, PgMembership, RepairInFlight } from './repair-plan.js';

/**
 * The least share of a hot node's excess heat (over the fleet median) a segment must carry to be
 * moved: a quarter, so that a move always makes a dent (the heat test: segments of 0.1 ops/s against
 * excesses of 10 to 40 ops/s), yet a node of two unequal hot segments may still give the lesser one
 * when the greater would only move the hot spot.
 */
export const EXCESS_SHARE_MIN = 0.25;

/**
 * The storage nodes' rate window (storage-node `rateWindowMs`, 10 s by default; the platforms keep
 * it). A joiner's window starts empty at the begin, so for this long its node reads cooler than it
 * is: the cooldown never ends sooner, whatever `heatCooldown` says (it may be 0s), so that no
 * decision compares a half-filled window with full ones (say, moving a segment back to the node it
 * just left).
 */
export const RATE_WINDOW_MS = 10_000;

export interface HeatNode {
  readonly nodeId: string;
  readonly zone: string;
  readonly schedulable: boolean;
  /** Heat of each segment it hosts, by segment id. */
  readonly segmentHeat: ReadonlyMap<string, number>;
}

export interface HeatPlanInput {
  readonly nodes: readonly HeatNode[];
  readonly pgs: readonly PgMembership[];
  /** Repairs and migrations in flight: their PGs and nodes are left alone. */
  readonly inFlight: readonly RepairInFlight[];
  /** When each node last took part in a migration, and when each segment arrived by one. */
  readonly lastMoveOfNodeMs: ReadonlyMap<string, number>;
  readonly arrivalOfSegmentMs: ReadonlyMap<string, number>;
  readonly nowMs: number;
  readonly factor: number;
  readonly cooldownMs: number;
  readonly minimumHeat: number;
  readonly maxTotal: number;
  /** The PG's head now, the target of the joiner. */
  readonly headOf: ReadonlyMap<number, bigint>;
}

export interface MigrationAction {
  readonly kind: 'migrate';
  readonly repair: RepairInFlight;
  readonly change: MembershipChange;
  readonly reason: string;
}

export function nodeHeat(node: HeatNode): number {
  let sum = 0;
  for (const heat of node.segmentHeat.values()) sum += heat;
  return sum;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function planMigrations(input: HeatPlanInput): MigrationAction[] {
  const schedulable = input.nodes.filter((node) => node.schedulable);
  const heatOf = new Map(schedulable.map((node) => [node.nodeId, nodeHeat(node)]));
  const fleetMedian = median([...heatOf.values()]);
  const cooldownMs = Math.max(input.cooldownMs, RATE_WINDOW_MS);
  const cooling = (nodeId: string) =>
    input.nowMs - (input.lastMoveOfNodeMs.get(nodeId) ?? -Infinity) < cooldownMs;
  const busyPgs = new Set(input.inFlight.map((repair) => repair.pgId));
  const busyNodes = new Set(input.inFlight.flatMap((repair) => [repair.leavingNode, repair.joiningNode]));
  const pgById = new Map(input.pgs.map((pg) => [pg.pgId, pg]));
  const pgOfSegment = new Map(
    input.pgs.flatMap((pg) => allMembers(pg.quorumSet).map((segment) => [segment, pg.pgId])),
  );
  let total = input.inFlight.length;
  const actions: MigrationAction[] = [];
  const hot = schedulable
    .filter((node) => {
      const heat = heatOf.get(node.nodeId)!;
      return heat >= input.minimumHeat && heat > input.factor * fleetMedian;
    })
    .sort((a, b) => heatOf.get(b.nodeId)! - heatOf.get(a.nodeId)!);
  for (const source of hot) {
    if (total >= input.maxTotal) break;
    if (cooling(source.nodeId) || busyNodes.has(source.nodeId)) continue;
    const sourceHeat = heatOf.get(source.nodeId)!;
    const worthMoving = EXCESS_SHARE_MIN * (sourceHeat - fleetMedian);
    const segments = [...source.segmentHeat].sort((a, b) => b[1] - a[1]);
    for (const [segmentId, segmentHeat] of segments) {
      // Sorted hottest first: every later segment is as small.
      if (segmentHeat < worthMoving) break;
      const pgId = pgOfSegment.get(segmentId);
      if (pgId === undefined || busyPgs.has(pgId)) continue;
      if (input.nowMs - (input.arrivalOfSegmentMs.get(segmentId) ?? -Infinity) < cooldownMs) continue;
      const pg = pgById.get(pgId)!;
      if (pg.quorumSet.configurations.length !== 1) continue;
      const hosting = new Set(Object.values(pg.nodeOf));
      const target = schedulable
        .filter(
          (node) =>
            node.zone === source.zone &&
            !hosting.has(node.nodeId) &&
            !cooling(node.nodeId) &&
            !busyNodes.has(node.nodeId) &&
            heatOf.get(node.nodeId)! + segmentHeat < sourceHeat,
        )
        .sort((a, b) => heatOf.get(a.nodeId)! - heatOf.get(b.nodeId)! || (a.nodeId < b.nodeId ? -1 : 1))[0];
      if (target === undefined) continue;
      const membershipEpoch = pg.membershipEpoch + 1n;
      const joiningSegment = `pg${pgId}-${target.nodeId}-m${membershipEpoch}`;
      actions.push({
        kind: 'migrate',
        repair: {
          id: `migration-pg${pgId}-m${membershipEpoch}`,
          kind: 'migration',
          pgId,
          leavingSegment: segmentId,
          leavingNode: source.nodeId,
          joiningSegment,
          joiningNode: target.nodeId,
          targetLsn: input.headOf.get(pgId) ?? 0n,
        },
        change: {
          pgId,
          membershipEpoch,
          quorumSet: beginReplacement(pg.quorumSet, segmentId, joiningSegment),
          nodeOf: { ...pg.nodeOf, [joiningSegment]: target.nodeId },
        },
        reason:
          `${source.nodeId} runs at ${sourceHeat.toFixed(1)} ops/s, over ${input.factor} × the fleet median ` +
          `${fleetMedian.toFixed(1)}: moving ${segmentId} (${segmentHeat.toFixed(1)} ops/s) to ${target.nodeId} ` +
          `(${heatOf.get(target.nodeId)!.toFixed(1)} ops/s, zone ${source.zone})`,
      });
      busyPgs.add(pgId);
      busyNodes.add(source.nodeId);
      busyNodes.add(target.nodeId);
      total++;
      break;
    }
  }
  return actions;
}
