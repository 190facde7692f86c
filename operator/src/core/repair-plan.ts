/**
 * Segment repair as a pure plan (paper §2.2: a failed segment is re-replicated in seconds; SIGMOD
 * 2018 §3: membership changes by quorum sets). `planRepairs(observed) → actions`; the control loop
 * executes them against the writer and the storage nodes and journals them in the metadata.
 *
 * A repair replaces the member F on a node that has been unreachable for the grace period by a new
 * segment G on another node of the same zone (so every PG keeps two copies per zone):
 *   begin     membership epoch e+1, quorum set {…F…} + {…G…} (beginReplacement): writes need 4/6 of
 *             both configurations, which the five survivors give, so writes never stop. G is
 *             created empty and fills itself from its peers by gossip (or a peer's S3 backup). The
 *             target LSN is the writer's VDL at the begin: everything acknowledged before G joined.
 *   complete  once G's SCL reaches the target, G is hydrated: epoch e+2, quorum set {…G…} alone.
 *   revert    if F answers again before G is hydrated: epoch e+2, quorum set {…F…} alone, G dropped.
 * Limits: one repair per PG at a time (a second failure in the PG waits for the first to finish),
 * at most `maxPerNode` joining segments per target node and `maxTotal` in the fleet.
 */
import {
  allMembers,
  beginReplacement,
  completeReplacement,
  markHydrated,
  type QuorumSet,
  revertReplacement,
} from '@northlight/protocol';

export interface NodeHealth {
  readonly nodeId: string;
  readonly zone: string;
  /** Its readiness probe answered at the last observation. */
  readonly reachable: boolean;
  /** How long it has not answered (0 when reachable). */
  readonly unreachableForMs: number;
  /** May receive new segments (reachable, not being drained or upgraded). */
  readonly schedulable: boolean;
}

export interface PgMembership {
  readonly pgId: number;
  readonly membershipEpoch: bigint;
  readonly quorumSet: QuorumSet<string>;
  /** Segment → node, for every member of any configuration. */
  readonly nodeOf: Readonly<Record<string, string>>;
}

export interface RepairInFlight {
  readonly id: string;
  /** A repair replaces a member that is gone; a migration (heat-plan.ts) one that is alive. */
  readonly kind?: 'repair' | 'migration';
  readonly pgId: number;
  readonly leavingSegment: string;
  readonly leavingNode: string;
  readonly joiningSegment: string;
  readonly joiningNode: string;
  /** G is hydrated once its SCL reaches this (the PG's head when the repair began). */
  readonly targetLsn: bigint;
}

export interface RepairLimits {
  readonly gracePeriodMs: number;
  readonly maxPerNode: number;
  readonly maxTotal: number;
}

export interface RepairPlanInput {
  readonly nodes: readonly NodeHealth[];
  readonly pgs: readonly PgMembership[];
  readonly inFlight: readonly RepairInFlight[];
  /** Each joining segment's SCL as its node reports it (absent: unknown yet). */
  readonly sclOf: ReadonlyMap<string, bigint>;
  /** Each PG's head now (the highest SCL of its reachable members): the target of repairs that begin. */
  readonly headOf: ReadonlyMap<number, bigint>;
  readonly limits: RepairLimits;
}

export interface MembershipChange {
  readonly pgId: number;
  readonly membershipEpoch: bigint;
  readonly quorumSet: QuorumSet<string>;
  readonly nodeOf: Readonly<Record<string, string>>;
}

export type RepairAction =
  | {
      readonly kind: 'begin';
      readonly repair: RepairInFlight;
      readonly change: MembershipChange;
      readonly reason: string;
    }
  | {
      readonly kind: 'complete';
      readonly repair: RepairInFlight;
      readonly change: MembershipChange;
      readonly reason: string;
    }
  | {
      readonly kind: 'revert';
      readonly repair: RepairInFlight;
      readonly change: MembershipChange;
      readonly reason: string;
    }
  | { readonly kind: 'blocked'; readonly pgId: number; readonly reason: string };

export function planRepairs(input: RepairPlanInput): RepairAction[] {
  const actions: RepairAction[] = [];
  const nodeById = new Map(input.nodes.map((node) => [node.nodeId, node]));
  const pgById = new Map(input.pgs.map((pg) => [pg.pgId, pg]));
  for (const repair of input.inFlight) {
    const pg = pgById.get(repair.pgId);
    if (pg === undefined) continue;
    const action = progressOf(repair, pg, nodeById, input.sclOf);
    if (action !== undefined) actions.push(action);
  }
  const busyPgs = new Set(input.inFlight.map((repair) => repair.pgId));
  const joiningPerNode = new Map<string, number>();
  for (const repair of input.inFlight)
    joiningPerNode.set(repair.joiningNode, (joiningPerNode.get(repair.joiningNode) ?? 0) + 1);
  let total = input.inFlight.length;
  const segmentsPerNode = countSegments(input.pgs);
  for (const pg of input.pgs) {
    if (busyPgs.has(pg.pgId)) continue;
    const failed = allMembers(pg.quorumSet).find((segment) => {
      const node = nodeById.get(pg.nodeOf[segment] ?? '');
      return node !== undefined && !node.reachable && node.unreachableForMs >= input.limits.gracePeriodMs;
    });
    if (failed === undefined) continue;
    if (total >= input.limits.maxTotal) {
      actions.push({
        kind: 'blocked',
        pgId: pg.pgId,
        reason: `the fleet already runs ${total} repairs (maxConcurrentRepairs)`,
      });
      continue;
    }
    const leavingNode = nodeById.get(pg.nodeOf[failed]!)!;
    const target = chooseTarget(
      pg,
      leavingNode.zone,
      input.nodes,
      joiningPerNode,
      segmentsPerNode,
      input.limits.maxPerNode,
    );
    if (!target.ok) {
      actions.push({ kind: 'blocked', pgId: pg.pgId, reason: target.reason });
      continue;
    }
    const joiningNode = target.nodeId;
    const membershipEpoch = pg.membershipEpoch + 1n;
    const joiningSegment = `pg${pg.pgId}-${joiningNode}-m${membershipEpoch}`;
    const repair: RepairInFlight = {
      id: `repair-pg${pg.pgId}-m${membershipEpoch}`,
      pgId: pg.pgId,
      leavingSegment: failed,
      leavingNode: leavingNode.nodeId,
      joiningSegment,
      joiningNode,
      targetLsn: input.headOf.get(pg.pgId) ?? 0n,
    };
    actions.push({
      kind: 'begin',
      repair,
      change: {
        pgId: pg.pgId,
        membershipEpoch,
        quorumSet: beginReplacement(pg.quorumSet, failed, joiningSegment),
        nodeOf: { ...pg.nodeOf, [joiningSegment]: joiningNode },
      },
      reason: `${leavingNode.nodeId} unreachable for ${Math.round(leavingNode.unreachableForMs / 1000)} s: re-replicating ${failed} of PG ${pg.pgId} to ${joiningNode} (zone ${leavingNode.zone})`,
    });
    joiningPerNode.set(joiningNode, (joiningPerNode.get(joiningNode) ?? 0) + 1);
    segmentsPerNode.set(joiningNode, (segmentsPerNode.get(joiningNode) ?? 0) + 1);
    total++;
  }
  return actions;
}

function progressOf(
  repair: RepairInFlight,
  pg: PgMembership,
  nodeById: ReadonlyMap<string, NodeHealth>,
  sclOf: ReadonlyMap<string, bigint>,
): RepairAction | undefined {
  const scl = sclOf.get(repair.joiningSegment);
  const hydrated = scl !== undefined && scl >= repair.targetLsn;
  const membershipEpoch = pg.membershipEpoch + 1n;
  if (hydrated) {
    const quorumSet = completeReplacement(
      pg.quorumSet.hydrating.includes(repair.joiningSegment)
        ? markHydrated(pg.quorumSet, repair.joiningSegment)
        : pg.quorumSet,
      repair.leavingSegment,
    );
    return {
      kind: 'complete',
      repair,
      change: { pgId: pg.pgId, membershipEpoch, quorumSet, nodeOf: keepNodes(pg.nodeOf, quorumSet) },
      reason: `${repair.joiningSegment} on ${repair.joiningNode} is hydrated (SCL ${scl} ≥ ${repair.targetLsn}): PG ${pg.pgId} drops ${repair.leavingSegment}`,
    };
  }
  // A migration's leaving member is alive by design: only a repair is reverted when it answers again.
  if (repair.kind !== 'migration' && nodeById.get(repair.leavingNode)?.reachable === true) {
    const quorumSet = revertReplacement(pg.quorumSet, repair.joiningSegment);
    return {
      kind: 'revert',
      repair,
      change: { pgId: pg.pgId, membershipEpoch, quorumSet, nodeOf: keepNodes(pg.nodeOf, quorumSet) },
      reason: `${repair.leavingNode} answers again before ${repair.joiningSegment} was hydrated: PG ${pg.pgId} keeps ${repair.leavingSegment}`,
    };
  }
  return undefined;
}

function keepNodes(
  nodeOf: Readonly<Record<string, string>>,
  quorumSet: QuorumSet<string>,
): Record<string, string> {
  return Object.fromEntries(allMembers(quorumSet).map((segment) => [segment, nodeOf[segment]!]));
}

function countSegments(pgs: readonly PgMembership[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const pg of pgs)
    for (const segment of allMembers(pg.quorumSet)) {
      const node = pg.nodeOf[segment];
      if (node !== undefined) counts.set(node, (counts.get(node) ?? 0) + 1);
    }
  return counts;
}

/**
 * A node of `zone` that may take a new segment of `pg`: schedulable, hosting no member of the PG,
 * under its repair limit; the fewest segments, then the name. Otherwise the reason there is none.
 */
function chooseTarget(
  pg: PgMembership,
  zone: string,
  nodes: readonly NodeHealth[],
  joiningPerNode: ReadonlyMap<string, number>,
  segmentsPerNode: ReadonlyMap<string, number>,
  maxPerNode: number,
): { readonly ok: true; readonly nodeId: string } | { readonly ok: false; readonly reason: string } {
  const hosting = new Set(Object.values(pg.nodeOf));
  const inZone = nodes.filter((node) => node.zone === zone && node.schedulable && !hosting.has(node.nodeId));
  if (inZone.length === 0)
    return {
      ok: false,
      reason: `zone ${zone} has no schedulable storage node without a member of PG ${pg.pgId}; add a node to zone ${zone} (or bring the failed one back)`,
    };
  const free = inZone.filter((node) => (joiningPerNode.get(node.nodeId) ?? 0) < maxPerNode);
  if (free.length === 0)
    return {
      ok: false,
      reason: `every candidate node in zone ${zone} already hydrates ${maxPerNode} segment(s) (maxConcurrentRepairsPerNode)`,
    };
  free.sort(
    (a, b) =>
      (segmentsPerNode.get(a.nodeId) ?? 0) - (segmentsPerNode.get(b.nodeId) ?? 0) ||
      (a.nodeId < b.nodeId ? -1 : 1),
  );
  return { ok: true, nodeId: free[0]!.nodeId };
}
