/**
 * What `kubectl northlight status` prints, from a DatabaseCluster, its StorageVolume and its pods as
 * the API server returns them. Pure: the objects in, text out (plugin.ts does the I/O).
 *
 * Every field is read defensively: the plugin may talk to an older or newer operator, or to a cluster
 * the operator has not reconciled yet, and must still print what there is rather than fail.
 */
import { formatBytes, table } from '../core/cluster-status.js';
import { storageNodeId } from '../core/topology.js';
import { CONDITIONS, LABELS } from '../k8s/contract.js';

export interface Condition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

export interface ClusterObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly generation?: number;
    readonly creationTimestamp?: string;
    readonly deletionTimestamp?: string;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: {
    readonly engine?: {
      readonly version?: string;
      readonly instances?: readonly { readonly name?: string; readonly promotionTier?: number }[];
    };
    readonly storage?: {
      readonly version?: string;
      readonly zones?: readonly { readonly name?: string; readonly nodes?: number }[];
    };
  };
  readonly status?: {
    readonly phase?: string;
    readonly observedGeneration?: number;
    readonly writer?: string;
    readonly readyInstances?: number;
    readonly conditions?: readonly Condition[];
    readonly endpoints?: { readonly readWrite?: string; readonly readOnly?: string };
    readonly lastRequest?: string;
    readonly transport?: string;
  };
}

export interface VolumeObject {
  readonly status?: Readonly<Record<string, unknown>>;
}

export interface PodObject {
  readonly metadata?: { readonly name?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: {
    readonly phase?: string;
    readonly podIP?: string;
    readonly conditions?: readonly { readonly type?: string; readonly status?: string }[];
    readonly containerStatuses?: readonly { readonly restartCount?: number; readonly ready?: boolean }[];
  };
}

/** The condition of `type`, if the operator has set it. */
export function conditionOf(cluster: ClusterObject, type: string): Condition | undefined {
  return cluster.status?.conditions?.find((condition) => condition.type === type);
}

export function isTrue(cluster: ClusterObject, type: string): boolean {
  return conditionOf(cluster, type)?.status === 'True';
}

/** "3m", "2h", "5d": how kubectl writes an age. */
export function age(since: string | undefined, nowMs: number): string {
  if (since === undefined) return '-';
  const ms = nowMs - Date.parse(since);
  if (!Number.isFinite(ms)) return '-';
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/** One line per cluster: what `kubectl northlight status` prints without a cluster name. */
export function formatClusterList(clusters: readonly ClusterObject[], nowMs: number): string {
  if (clusters.length === 0) return 'No DatabaseClusters found.';
  return table(
    ['NAME', 'READY', 'PHASE', 'WRITER', 'INSTANCES', 'STORAGE NODES', 'AGE'],
    clusters.map((cluster) => [
      cluster.metadata?.name ?? '?',
      conditionOf(cluster, 'Ready')?.status ?? 'Unknown',
      cluster.status?.phase ?? '-',
      cluster.status?.writer ?? '-',
      `${cluster.status?.readyInstances ?? 0}/${cluster.spec?.engine?.instances?.length ?? 0}`,
      String(storageNodeCount(cluster)),
      age(cluster.metadata?.creationTimestamp, nowMs),
    ]),
  );
}

function storageNodeCount(cluster: ClusterObject): number {
  return (cluster.spec?.storage?.zones ?? []).reduce((sum, zone) => sum + (zone.nodes ?? 0), 0);
}

/** The detailed view of one cluster. */
export function formatClusterDetail(
  cluster: ClusterObject,
  volume: VolumeObject | undefined,
  pods: readonly PodObject[],
  nowMs: number,
): string {
  const name = cluster.metadata?.name ?? '?';
  const status = cluster.status ?? {};
  const lines: string[] = [];
  const generation = cluster.metadata?.generation;
  const observed = status.observedGeneration;
  lines.push(
    `DatabaseCluster ${name} in namespace ${cluster.metadata?.namespace ?? 'default'}: ${status.phase ?? 'not reconciled yet'}` +
      (cluster.metadata?.deletionTimestamp === undefined ? '' : ' (being deleted)'),
  );
  if (generation !== undefined && observed !== generation)
    lines.push(
      `  the operator has not acted on the latest spec yet (generation ${generation}, observed ${observed ?? 'none'})`,
    );
  lines.push(
    `Writer: ${status.writer ?? '-'}   ready instances: ${status.readyInstances ?? 0}/${cluster.spec?.engine?.instances?.length ?? 0}` +
      `   versions: engine ${cluster.spec?.engine?.version ?? '?'}, storage ${cluster.spec?.storage?.version ?? '?'}`,
  );
  if (status.endpoints !== undefined)
    lines.push(
      `Endpoints: read-write ${status.endpoints.readWrite ?? '-'}   read-only ${status.endpoints.readOnly ?? '-'}`,
    );
  lines.push('', 'Conditions:');
  const known = new Set<string>(CONDITIONS);
  const conditions = [...(status.conditions ?? [])].sort(
    (a, b) => order(a.type, known) - order(b.type, known),
  );
  lines.push(
    conditions.length === 0
      ? '  none yet'
      : table(
          ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
          conditions.map((condition) => [
            condition.type ?? '?',
            condition.status ?? '?',
            condition.reason ?? '',
            age(condition.lastTransitionTime, nowMs),
            condition.message ?? '',
          ]),
        ),
  );
  lines.push('', 'Members:');
  lines.push(
    pods.length === 0
      ? '  no pods'
      : table(
          ['MEMBER', 'COMPONENT', 'ZONE', 'ROLE', 'READY', 'RESTARTS', 'PHASE', 'NODE', 'POD IP'],
          [...pods].sort(byMember).map((pod) => {
            const labels = pod.metadata?.labels ?? {};
            const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
            return [
              labels[LABELS.member] ?? pod.metadata?.name ?? '?',
              labels[LABELS.component] ?? '-',
              labels[LABELS.zone] ?? '-',
              labels[LABELS.role] ?? '-',
              ready?.status === 'True' ? 'yes' : 'no',
              String(
                (pod.status?.containerStatuses ?? []).reduce(
                  (sum, container) => sum + (container.restartCount ?? 0),
                  0,
                ),
              ),
              pod.status?.phase ?? '-',
              pod.spec?.nodeName ?? '-',
              pod.status?.podIP ?? '-',
            ];
          }),
        ),
  );
  const volumeStatus = volume?.status;
  if (volumeStatus !== undefined) {
    lines.push('', 'Volume:');
    for (const [key, value] of Object.entries(volumeStatus)) {
      if (key === 'conditions') continue;
      lines.push(`  ${key}: ${describeValue(key, value)}`);
    }
  }
  if (status.transport !== undefined) lines.push('', `Transport: ${status.transport}`);
  const lastRequest = status.lastRequest;
  if (lastRequest !== undefined) lines.push('', `Last request: ${lastRequest}`);
  return lines.join('\n');
}

function order(type: string | undefined, known: ReadonlySet<string>): number {
  return type !== undefined && known.has(type) ? CONDITIONS.indexOf(type as never) : CONDITIONS.length;
}

function byMember(a: PodObject, b: PodObject): number {
  const key = (pod: PodObject) =>
    `${pod.metadata?.labels?.[LABELS.component] ?? ''}/${pod.metadata?.labels?.[LABELS.member] ?? pod.metadata?.name ?? ''}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}

function describeValue(key: string, value: unknown): string {
  if (typeof value === 'number' && /bytes/i.test(key)) return formatBytes(value);
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** The storage node ids a spec names (topology.ts). */
export function storageMembersOf(cluster: ClusterObject): string[] {
  return (cluster.spec?.storage?.zones ?? []).flatMap((zone) =>
    Array.from({ length: zone.nodes ?? 0 }, (_, index) => storageNodeId(zone.name ?? '?', index + 1)),
  );
}

/**
 * The replica a switchover promotes when none is named: the lowest promotion tier, then the first
 * listed, as the failover planner chooses (engine-plan.ts), never the current writer.
 */
export function switchoverTarget(cluster: ClusterObject): string | undefined {
  const writer = cluster.status?.writer;
  const candidates = (cluster.spec?.engine?.instances ?? []).filter(
    (instance) => instance.name !== undefined && instance.name !== writer,
  );
  let best: { name?: string; promotionTier?: number } | undefined;
  for (const candidate of candidates)
    if (best === undefined || (candidate.promotionTier ?? 1) < (best.promotionTier ?? 1)) best = candidate;
  return best?.name;
}
