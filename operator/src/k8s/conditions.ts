/**
 * Status conditions of a DatabaseCluster, pure (STYLE.md §3): what each condition means, derived
 * from one observation, and merged into the previous list so that `lastTransitionTime` moves only
 * when a condition's status changes (metav1.Condition semantics).
 *
 *   Ready        every storage node and engine pod is ready and the writer serves SQL.
 *   Degraded     the cluster serves but something is missing: a storage node or a replica is not
 *                ready, or repairs are blocked. Writes survive a zone; Degraded says how close.
 *   Repairing    a storage node is coming back (pod recreated on its PVC) or segments are being
 *                re-replicated by the repair planner.
 *   Upgrading    a rolling upgrade runs (storage zone by zone, replicas, then a switchover).
 *   FailingOver  the writer failed and a replica is being promoted (or a switchover runs).
 * An invalid or unsafe spec is reported as Ready=False with reason InvalidSpec / UnsafeSpecChange.
 */
import type { ConditionType } from './contract.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration: number;
}

export type DesiredCondition = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Longest message kept in a condition (the API server would accept more; humans would not read it). */
export const CONDITION_MESSAGE_LENGTH_MAX = 1_024;

/**
 * `previous` with each desired condition set: a condition whose status is unchanged keeps its
 * lastTransitionTime (reason and message may still change); others get `nowIso`. Order follows
 * CONDITIONS for the desired ones, then any other previous ones unchanged.
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  nowIso: string,
  generation: number,
): Condition[] {
  const merged: Condition[] = desired.map((next) => {
    const old = previous?.find((condition) => condition.type === next.type);
    return {
      type: next.type,
      status: next.status,
      reason: next.reason,
      message: truncate(next.message),
      lastTransitionTime: old !== undefined && old.status === next.status ? old.lastTransitionTime : nowIso,
      observedGeneration: generation,
    };
  });
  for (const old of previous ?? []) if (!desired.some((next) => next.type === old.type)) merged.push(old);
  return merged;
}

function truncate(message: string): string {
  return message.length <= CONDITION_MESSAGE_LENGTH_MAX
    ? message
    : `${message.slice(0, CONDITION_MESSAGE_LENGTH_MAX - 1)}…`;
}

/** What the control loop saw this round, reduced to what the conditions need. */
export interface HealthSummary {
  readonly storageNodes: number;
  readonly storageReady: number;
  /** Storage nodes not ready now (pods missing, starting or failing). */
  readonly storageNotReady: readonly string[];
  readonly engines: number;
  readonly enginesReady: number;
  readonly writer: string;
  readonly writerReady: boolean;
  /** The instance being promoted, when a failover or switchover runs. */
  readonly promoting: string | undefined;
  readonly repairsInFlight: number;
  readonly repairsBlocked: readonly string[];
  /** The target version while a rolling upgrade runs. */
  readonly upgradingTo: string | undefined;
  /** True while the cluster is first brought up (no writer has served yet). */
  readonly creating: boolean;
}

export type Phase = 'Creating' | 'Ready' | 'Degraded' | 'FailingOver' | 'Upgrading' | 'Invalid' | 'Deleting';

export function conditionsOf(health: HealthSummary): { phase: Phase; conditions: DesiredCondition[] } {
  const failingOver = health.promoting !== undefined;
  const allReady =
    health.writerReady &&
    health.storageReady === health.storageNodes &&
    health.enginesReady === health.engines;
  const degradedBy: string[] = [];
  if (health.storageNotReady.length > 0)
    degradedBy.push(`storage not ready: ${health.storageNotReady.join(', ')}`);
  if (health.enginesReady < health.engines)
    degradedBy.push(`${health.engines - health.enginesReady} of ${health.engines} engine(s) not ready`);
  if (health.repairsBlocked.length > 0)
    degradedBy.push(`repairs blocked: ${health.repairsBlocked.join('; ')}`);
  const degraded = !health.creating && degradedBy.length > 0;
  const repairing = !health.creating && (health.storageNotReady.length > 0 || health.repairsInFlight > 0);
  const conditions: DesiredCondition[] = [
    allReady
      ? {
          type: 'Ready',
          status: 'True',
          reason: 'AllMembersReady',
          message: `writer ${health.writer} serves; ${health.storageReady} storage node(s) and ${health.enginesReady} engine(s) ready`,
        }
      : {
          type: 'Ready',
          status: 'False',
          reason: health.creating ? 'Creating' : failingOver ? 'FailingOver' : 'MembersNotReady',
          message: health.creating
            ? `bringing the cluster up: ${health.storageReady}/${health.storageNodes} storage node(s), ${health.enginesReady}/${health.engines} engine(s) ready`
            : degradedBy.join('; ') || `writer ${health.writer} not ready`,
        },
    degraded
      ? { type: 'Degraded', status: 'True', reason: 'MembersNotReady', message: degradedBy.join('; ') }
      : { type: 'Degraded', status: 'False', reason: 'AsSpecified', message: 'nothing missing' },
    repairing
      ? {
          type: 'Repairing',
          status: 'True',
          reason: health.repairsInFlight > 0 ? 'ReReplicating' : 'StorageNodeRecovering',
          message:
            health.repairsInFlight > 0
              ? `${health.repairsInFlight} segment repair(s) in flight`
              : `waiting for ${health.storageNotReady.join(', ')} to come back on its volume`,
        }
      : { type: 'Repairing', status: 'False', reason: 'NoRepairs', message: 'every storage node is ready' },
    health.upgradingTo !== undefined
      ? {
          type: 'Upgrading',
          status: 'True',
          reason: 'RollingUpgrade',
          message: `upgrading to ${health.upgradingTo}`,
        }
      : { type: 'Upgrading', status: 'False', reason: 'AtSpecVersion', message: 'no upgrade running' },
    failingOver
      ? {
          type: 'FailingOver',
          status: 'True',
          reason: 'Promoting',
          message: `promoting ${health.promoting} to writer`,
        }
      : { type: 'FailingOver', status: 'False', reason: 'WriterServing', message: `writer ${health.writer}` },
  ];
  const phase: Phase = health.creating
    ? 'Creating'
    : failingOver
      ? 'FailingOver'
      : health.upgradingTo !== undefined
        ? 'Upgrading'
        : allReady
          ? 'Ready'
          : 'Degraded';
  return { phase, conditions };
}

/** Ready=False with every other condition Unknown: the spec cannot be applied (InvalidSpec, UnsafeSpecChange). */
export function refusedConditions(reason: string, message: string): DesiredCondition[] {
  return [
    { type: 'Ready', status: 'False', reason, message },
    ...(['Degraded', 'Repairing', 'Upgrading', 'FailingOver'] as const).map((type) => ({
      type,
      status: 'Unknown' as const,
      reason,
      message: 'the spec was not applied',
    })),
  ];
}
