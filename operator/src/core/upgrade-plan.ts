/**
 * The rolling upgrade as a pure plan (paper §5: the fleet is patched one zone at a time, and a PG
 * never loses more than one member to it). `planUpgrade(observed) → next step`; the control loop
 * executes one step at a time and plans again once the cluster has settled.
 *
 * Order:
 *   1. storage nodes, zone by zone (zones in name order). Inside a zone, a batch is a set of nodes
 *      that share no PG, so restarting it takes at most one member of any PG down. A batch starts
 *      only when every member of every PG is healthy (up and caught up), so the batch is the only
 *      thing down; with 2 nodes per zone and every PG on every node, batches are single nodes.
 *   2. read replicas, one at a time (each must be ready and following again before the next);
 *   3. the writer, by a switchover: the best upgraded replica is promoted (the old writer is fenced
 *      first, so nothing is acknowledged twice), and the old writer comes back as a replica on the
 *      new version.
 */

export interface UpgradeNode {
  readonly nodeId: string;
  readonly zone: string;
  readonly version: string | undefined;
  /** Answers its probe and reports every segment it should hold. */
  readonly healthy: boolean;
}

export interface UpgradeEngine {
  readonly name: string;
  readonly role: 'writer' | 'replica';
  readonly promotionTier: number;
  readonly version: string | undefined;
  readonly ready: boolean;
  readonly appliedLsn: bigint | undefined;
}

export interface UpgradeInput {
  readonly targetVersion: string;
  readonly nodes: readonly UpgradeNode[];
  /** Each PG's member nodes (all configurations). */
  readonly pgNodes: readonly (readonly string[])[];
  readonly engines: readonly UpgradeEngine[];
  /** At most this many storage nodes restart at once (a batch never holds two members of one PG). */
  readonly maxBatchSize: number;
}

export type UpgradeStep =
  | {
      readonly kind: 'restart-storage';
      readonly nodeIds: readonly string[];
      readonly zone: string;
      readonly reason: string;
    }
  | { readonly kind: 'restart-replica'; readonly name: string; readonly reason: string }
  | { readonly kind: 'switchover'; readonly from: string; readonly to: string; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'done'; readonly reason: string };

export function planUpgrade(input: UpgradeInput): UpgradeStep {
  const target = input.targetVersion;
  const unhealthy = input.nodes.filter((node) => !node.healthy);
  const pending = input.nodes.filter((node) => node.version !== target);
  if (pending.length > 0) {
    if (unhealthy.length > 0)
      return {
        kind: 'wait',
        reason: `waiting for ${unhealthy.map((node) => node.nodeId).join(', ')} to be healthy before the next batch`,
      };
    return storageBatch(pending, input);
  }
  if (unhealthy.length > 0)
    return {
      kind: 'wait',
      reason: `waiting for ${unhealthy.map((node) => node.nodeId).join(', ')} to be healthy`,
    };
  const notReady = input.engines.filter((engine) => !engine.ready);
  if (notReady.length > 0)
    return {
      kind: 'wait',
      reason: `waiting for ${notReady.map((engine) => engine.name).join(', ')} to be ready`,
    };
  const replica = input.engines.find((engine) => engine.role === 'replica' && engine.version !== target);
  if (replica !== undefined)
    return {
      kind: 'restart-replica',
      name: replica.name,
      reason: `replica ${replica.name} runs ${replica.version ?? 'an unknown version'}`,
    };
  const writer = input.engines.find((engine) => engine.role === 'writer');
  if (writer !== undefined && writer.version !== target) {
    const candidates = input.engines
      .filter(
        (engine) => engine.role === 'replica' && engine.version === target && engine.appliedLsn !== undefined,
      )
      .sort(
        (a, b) =>
          a.promotionTier - b.promotionTier ||
          (a.appliedLsn! > b.appliedLsn! ? -1 : a.appliedLsn! < b.appliedLsn! ? 1 : 0) ||
          (a.name < b.name ? -1 : 1),
      );
    const to = candidates[0];
    if (to === undefined)
      return {
        kind: 'restart-replica',
        name: writer.name,
        reason: `the writer ${writer.name} has no upgraded replica to switch over to; restarting it in place`,
      };
    return {
      kind: 'switchover',
      from: writer.name,
      to: to.name,
      reason: `the writer ${writer.name} runs ${writer.version ?? 'an unknown version'}`,
    };
  }
  return { kind: 'done', reason: `every storage node and engine runs ${target}` };
}

/** The next batch: the first zone (by name) with nodes to upgrade; nodes sharing no PG, by id. */
function storageBatch(pending: readonly UpgradeNode[], input: UpgradeInput): UpgradeStep {
  const zone = [...new Set(pending.map((node) => node.zone))].sort()[0]!;
  const candidates = pending
    .filter((node) => node.zone === zone)
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  const batch: string[] = [];
  const covered = new Set<number>();
  for (const node of candidates) {
    if (batch.length >= input.maxBatchSize) break;
    const pgs = input.pgNodes.flatMap((nodes, index) => (nodes.includes(node.nodeId) ? [index] : []));
    if (pgs.some((pg) => covered.has(pg))) continue;
    batch.push(node.nodeId);
    for (const pg of pgs) covered.add(pg);
  }
  return {
    kind: 'restart-storage',
    nodeIds: batch,
    zone,
    reason: `zone ${zone}: ${batch.join(', ')} share no PG (${pending.length} storage node(s) left to upgrade)`,
  };
}
