/**
 * The control loop's policy constants, the same on every platform: the local one
 * (io/local-cluster.ts) and Kubernetes (k8s/cluster-control.ts), and the repair policy both hand to
 * the repair executor. Pure (STYLE.md §2).
 */
import type { ClusterSpec } from './cluster-spec.js';

/** A writer running but not ready this long counts as failed: its best replica is promoted. */
export const WRITER_FAILOVER_GRACE_MS = 5_000;
/** How long a fenced writer may take to drain its commits and exit before it is killed. */
export const SWITCHOVER_FENCE_TIMEOUT_MS = 15_000;
/** Below this many records appended plus pages read per second, no node counts as hot. */
export const MIGRATION_MINIMUM_HEAT = 10;
/** Storage nodes restarted together by a rolling upgrade (never two members of one PG). */
export const UPGRADE_BATCH_SIZE_MAX = 4;

/** The repair executor's limits and heat policy, from the spec's `controlPlane` section. */
export function repairPolicyOf(controlPlane: ClusterSpec['controlPlane']): {
  readonly limits: { readonly gracePeriodMs: number; readonly maxPerNode: number; readonly maxTotal: number };
  readonly heat: { readonly factor: number; readonly cooldownMs: number; readonly minimumHeat: number };
  /** Each storage node's hydration bandwidth limit, sent with every hydrate request (0: none). */
  readonly hydrationBytesPerSecond: number;
} {
  return {
    hydrationBytesPerSecond: controlPlane.repairBandwidthPerNodeBytes,
    limits: {
      gracePeriodMs: controlPlane.repairGracePeriodMs,
      maxPerNode: controlPlane.maxConcurrentRepairsPerNode,
      maxTotal: controlPlane.maxConcurrentRepairs,
    },
    heat: {
      factor: controlPlane.heatFactor,
      cooldownMs: controlPlane.heatCooldownMs,
      minimumHeat: MIGRATION_MINIMUM_HEAT,
    },
  };
}
