/**
 * The control plane's Prometheus metrics (`northlight_control_*`, units last, `_total` on counters
 * only), on a prom-client registry of their own. The local platform's control API serves them at
 * `GET /metrics`; on Kubernetes the operator serves the same registry on its metrics port, one
 * `ClusterControlMetrics` per DatabaseCluster.
 *
 * Every series carries `cluster` and `namespace` labels of its own: one operator watches many
 * clusters, so these cannot come from the scrape target (the operator's PodMonitor must honor the
 * exposed labels; the local platform uses the namespace `local`).
 *
 * Two kinds of values:
 *   - events, counted as they happen: repairs and migrations begun, completed, reverted, failed
 *     steps, hydrations, failovers and switchovers (`RepairMetricsHooks`, `recordFailover`…);
 *   - state, set from what the control loop observes (`observe(ClusterStatus)`): storage nodes
 *     reachable per zone, PGs by health and each PG's healthy members, the writer, workflows in
 *     flight, the rolling upgrade. A member or PG that is gone from the observation loses its series.
 */
import { assert } from '@northlight/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterStatus, PgHealth } from '../core/cluster-status.js';
import { WORKFLOW_KINDS, type WorkflowKind } from '../core/metadata.js';
import type { RepairMetricsHooks } from './repair-executor.js';

export const CONTROL_METRIC_PREFIX = 'northlight_control_';

/** The `namespace` label of a cluster run by the local platform (`northlight up`). */
export const LOCAL_NAMESPACE = 'local';

/** Clusters one registry tracks: an operator with more is misconfigured, not busy. */
export const MAX_CLUSTERS = 1_000;
/** PGs with a series of their own per cluster (a 1 GiB segment size makes this a 16 TiB volume). */
export const MAX_PG_SERIES = 16_384;

/** A workflow takes seconds (an empty segment) to an hour (a full one on a busy node). */
export const REPAIR_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];

export const PG_HEALTHS: readonly PgHealth[] = ['healthy', 'degraded', 'at-risk'];
export const UPGRADE_STATES = ['none', 'running', 'done'] as const;
export type RepairStep = Parameters<RepairMetricsHooks['stepFailed']>[1];
export const REPAIR_STEPS: readonly RepairStep[] = ['create_segment', 'change_writer', 'hydrate'];

export interface ClusterRef {
  readonly cluster: string;
  readonly namespace: string;
}

type ClusterLabels = 'cluster' | 'namespace';

/** The registry's metrics, shared by every cluster's view. */
interface Families {
  readonly repairsStarted: Counter<ClusterLabels | 'kind'>;
  readonly repairsCompleted: Counter<ClusterLabels | 'kind'>;
  readonly repairsReverted: Counter<ClusterLabels | 'kind'>;
  readonly repairFailures: Counter<ClusterLabels | 'kind' | 'step'>;
  readonly repairDuration: Histogram<ClusterLabels | 'kind' | 'outcome'>;
  readonly hydrations: Counter<ClusterLabels | 'outcome'>;
  readonly hydratedBytes: Counter<ClusterLabels>;
  readonly failovers: Counter<ClusterLabels>;
  readonly observationFailures: Counter<ClusterLabels>;
  readonly controlApiAuthFailures: Counter<ClusterLabels>;
  readonly switchovers: Counter<ClusterLabels>;
  readonly workflowsInFlight: Gauge<ClusterLabels | 'kind'>;
  readonly repairsBlocked: Gauge<ClusterLabels>;
  readonly storageNodes: Gauge<ClusterLabels | 'zone' | 'state'>;
  readonly storageNodeUp: Gauge<ClusterLabels | 'member' | 'zone'>;
  readonly storageNodeSegments: Gauge<ClusterLabels | 'member' | 'zone'>;
  readonly storageNodeDiskBytes: Gauge<ClusterLabels | 'member' | 'zone'>;
  readonly storageNodeHeat: Gauge<ClusterLabels | 'member' | 'zone'>;
  readonly pgs: Gauge<ClusterLabels | 'health'>;
  readonly pgMembersHealthy: Gauge<ClusterLabels | 'pg'>;
  readonly writerPresent: Gauge<ClusterLabels>;
  readonly engineUp: Gauge<ClusterLabels | 'member' | 'role'>;
  readonly volumeEpoch: Gauge<ClusterLabels>;
  readonly upgradeState: Gauge<ClusterLabels | 'state'>;
  readonly dataFilesystemAvailableBytes: Gauge<ClusterLabels>;
  readonly dataFilesystemSizeBytes: Gauge<ClusterLabels>;
}

export class ControlMetrics {
  readonly registry = new Registry();
  readonly #families: Families;
  readonly #clusters = new Map<string, ClusterControlMetrics>();

  constructor() {
    const registers = [this.registry];
    const name = (suffix: string): string => CONTROL_METRIC_PREFIX + suffix;
    const counter = <Label extends string>(suffix: string, help: string, labels: readonly Label[]) =>
      new Counter<ClusterLabels | Label>({
        name: name(suffix),
        help,
        labelNames: ['cluster', 'namespace', ...labels],
        registers,
      });
    const gauge = <Label extends string>(suffix: string, help: string, labels: readonly Label[]) =>
      new Gauge<ClusterLabels | Label>({
        name: name(suffix),
        help,
        labelNames: ['cluster', 'namespace', ...labels],
        registers,
      });
    this.#families = {
      repairsStarted: counter(
        'repairs_started_total',
        'Repairs and migrations begun (the writer took the new membership), by kind.',
        ['kind'],
      ),
      repairsCompleted: counter(
        'repairs_completed_total',
        'Repairs and migrations completed: the joiner became a member, by kind.',
        ['kind'],
      ),
      repairsReverted: counter(
        'repairs_reverted_total',
        'Repairs and migrations reverted: the old membership was restored, by kind.',
        ['kind'],
      ),
      repairFailures: counter(
        'repair_failures_total',
        'Workflow steps that failed and are retried next round, by kind and step.',
        ['kind', 'step'],
      ),
      repairDuration: new Histogram({
        name: name('repair_duration_seconds'),
        help: 'From the begin of a repair or migration to its completion or revert.',
        labelNames: ['cluster', 'namespace', 'kind', 'outcome'],
        buckets: [...REPAIR_DURATION_BUCKETS_SECONDS],
        registers,
      }),
      hydrations: counter(
        'hydrations_total',
        "Bulk hydrations from a peer's snapshot (a repair's or migration's joiner, or a member caught up after its peers' GC), by outcome (ok, failed).",
        ['outcome'],
      ),
      hydratedBytes: counter(
        'hydrated_bytes_total',
        'Bytes streamed node to node by successful hydrations.',
        [],
      ),
      failovers: counter(
        'failovers_total',
        'Unplanned failovers: a replica promoted after a writer failed.',
        [],
      ),
      switchovers: counter('switchovers_total', 'Planned switchovers (upgrades, requests).', []),
      observationFailures: counter(
        'observation_failures_total',
        'Observations of the cluster that failed; the state gauges keep the last good one.',
        [],
      ),
      controlApiAuthFailures: counter(
        'api_auth_failures_total',
        "Requests to `northlight up`'s control API refused for want of the cluster's internal token.",
        [],
      ),
      workflowsInFlight: gauge('workflows_in_flight', 'Repairs and migrations in flight, by kind.', ['kind']),
      repairsBlocked: gauge('repairs_blocked', 'PGs that need a repair which cannot start now.', []),
      storageNodes: gauge(
        'storage_nodes',
        'Storage nodes by zone and state (reachable: ready and answering its status).',
        ['zone', 'state'],
      ),
      storageNodeUp: gauge('storage_node_up', '1 while the storage node is ready and answers.', [
        'member',
        'zone',
      ]),
      storageNodeSegments: gauge('storage_node_segments', 'Segments the storage node reports.', [
        'member',
        'zone',
      ]),
      storageNodeDiskBytes: gauge(
        'storage_node_disk_bytes',
        "Bytes on disk of the storage node's segments (log and page images).",
        ['member', 'zone'],
      ),
      storageNodeHeat: gauge(
        'storage_node_heat',
        "The storage node's heat: records appended plus pages read per second, over its segments.",
        ['member', 'zone'],
      ),
      pgs: gauge(
        'pgs',
        'Protection groups by health: healthy (6 members up), degraded (4 or 5), at-risk (fewer than 4).',
        ['health'],
      ),
      pgMembersHealthy: gauge(
        'pg_members_healthy',
        'Members of the PG (of 6) whose node is ready and reports the segment; writes need 4.',
        ['pg'],
      ),
      writerPresent: gauge(
        'writer_present',
        '1 while a writer is ready and not being replaced (no failover or promotion in progress).',
        [],
      ),
      engineUp: gauge('engine_up', '1 while the engine instance is ready, by role.', ['member', 'role']),
      volumeEpoch: gauge(
        'volume_epoch',
        "The writer's volume epoch (bumped by each recovery and failover).",
        [],
      ),
      upgradeState: gauge(
        'upgrade_state',
        'The rolling upgrade: 1 on the current state (none, running, done).',
        ['state'],
      ),
      dataFilesystemAvailableBytes: gauge(
        'data_filesystem_available_bytes',
        "Local platform: bytes available to the cluster's data directory's file system.",
        [],
      ),
      dataFilesystemSizeBytes: gauge(
        'data_filesystem_size_bytes',
        "Local platform: size of the cluster's data directory's file system.",
        [],
      ),
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text a scrape of `/metrics` returns. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** The view of one cluster, created on first use; its event counters start at 0. */
  forCluster(ref: ClusterRef): ClusterControlMetrics {
    checkRef(ref);
    const key = `${ref.namespace}/${ref.cluster}`;
    let view = this.#clusters.get(key);
    if (view === undefined) {
      assert(this.#clusters.size < MAX_CLUSTERS, `more than ${MAX_CLUSTERS} clusters in one registry`);
      view = new ClusterControlMetrics(this.#families, ref);
      this.#clusters.set(key, view);
    }
    return view;
  }

  /** Drops every series of a deleted cluster. */
  removeCluster(ref: ClusterRef): void {
    const key = `${ref.namespace}/${ref.cluster}`;
    this.#clusters.get(key)?.clear();
    this.#clusters.delete(key);
  }
}

function checkRef(ref: ClusterRef): void {
  assert(ref.cluster.length > 0 && ref.cluster.length <= 253, `cluster name: ${JSON.stringify(ref.cluster)}`);
  assert(
    ref.namespace.length > 0 && ref.namespace.length <= 253,
    `namespace: ${JSON.stringify(ref.namespace)}`,
  );
}

/** A gauge whose series are replaced as a whole at each observation: series not set again go away. */
class ObservedSeries<Label extends string> {
  readonly #gauge: Gauge<ClusterLabels | Label>;
  readonly #base: Readonly<Record<ClusterLabels, string>>;
  #previous = new Map<string, Partial<Record<Label, string>>>();

  constructor(gauge: Gauge<ClusterLabels | Label>, base: Readonly<Record<ClusterLabels, string>>) {
    this.#gauge = gauge;
    this.#base = base;
  }

  replace(entries: readonly (readonly [Partial<Record<Label, string>>, number])[]): void {
    const next = new Map<string, Partial<Record<Label, string>>>();
    for (const [labels, value] of entries) {
      assert(Number.isFinite(value), `gauge value ${value}`);
      next.set(JSON.stringify(labels), labels);
      this.#gauge.set({ ...this.#base, ...labels } as never, value);
    }
    for (const [key, labels] of this.#previous)
      if (!next.has(key)) this.#gauge.remove({ ...this.#base, ...labels } as never);
    this.#previous = next;
  }
}

/**
 * One cluster's metrics. Implements the repair executor's hooks; `recordFailover` and
 * `recordSwitchover` are for the control loop that runs them, `observe` for whoever gathers a
 * `ClusterStatus` (the control API at scrape time, the operator each round).
 */
export class ClusterControlMetrics implements RepairMetricsHooks {
  readonly #families: Families;
  readonly #base: Readonly<Record<ClusterLabels, string>>;
  readonly #observed: ObservedSeries<string>[] = [];
  readonly #workflowsInFlight: ObservedSeries<'kind'>;
  readonly #repairsBlocked: ObservedSeries<never>;
  readonly #storageNodes: ObservedSeries<'zone' | 'state'>;
  readonly #storageNodeUp: ObservedSeries<'member' | 'zone'>;
  readonly #storageNodeSegments: ObservedSeries<'member' | 'zone'>;
  readonly #storageNodeDiskBytes: ObservedSeries<'member' | 'zone'>;
  readonly #storageNodeHeat: ObservedSeries<'member' | 'zone'>;
  readonly #pgs: ObservedSeries<'health'>;
  readonly #pgMembersHealthy: ObservedSeries<'pg'>;
  readonly #writerPresent: ObservedSeries<never>;
  readonly #engineUp: ObservedSeries<'member' | 'role'>;
  readonly #volumeEpoch: ObservedSeries<never>;
  readonly #upgradeState: ObservedSeries<'state'>;
  readonly #dataFilesystemAvailable: ObservedSeries<never>;
  readonly #dataFilesystemSize: ObservedSeries<never>;

  constructor(families: Families, ref: ClusterRef) {
    this.#families = families;
    this.#base = { cluster: ref.cluster, namespace: ref.namespace };
    const observed = <Label extends string>(gauge: Gauge<ClusterLabels | Label>): ObservedSeries<Label> => {
      const series = new ObservedSeries<Label>(gauge, this.#base);
      this.#observed.push(series as unknown as ObservedSeries<string>);
      return series;
    };
    this.#workflowsInFlight = observed(families.workflowsInFlight);
    this.#repairsBlocked = observed(families.repairsBlocked);
    this.#storageNodes = observed(families.storageNodes);
    this.#storageNodeUp = observed(families.storageNodeUp);
    this.#storageNodeSegments = observed(families.storageNodeSegments);
    this.#storageNodeDiskBytes = observed(families.storageNodeDiskBytes);
    this.#storageNodeHeat = observed(families.storageNodeHeat);
    this.#pgs = observed(families.pgs);
    this.#pgMembersHealthy = observed(families.pgMembersHealthy);
    this.#writerPresent = observed(families.writerPresent);
    this.#engineUp = observed(families.engineUp);
    this.#volumeEpoch = observed(families.volumeEpoch);
    this.#upgradeState = observed(families.upgradeState);
    this.#dataFilesystemAvailable = observed(families.dataFilesystemAvailableBytes);
    this.#dataFilesystemSize = observed(families.dataFilesystemSizeBytes);
    // Event counters and the duration histogram exist from the start at 0, so `increase()` and
    // alerts see the first event and dashboards show an empty histogram rather than no data.
    const base = this.#base;
    for (const kind of WORKFLOW_KINDS) {
      families.repairsStarted.inc({ ...base, kind }, 0);
      families.repairsCompleted.inc({ ...base, kind }, 0);
      families.repairsReverted.inc({ ...base, kind }, 0);
      for (const step of REPAIR_STEPS) families.repairFailures.inc({ ...base, kind, step }, 0);
      for (const outcome of ['done', 'reverted']) families.repairDuration.zero({ ...base, kind, outcome });
    }
    for (const outcome of ['ok', 'failed']) families.hydrations.inc({ ...base, outcome }, 0);
    families.hydratedBytes.inc(base, 0);
    families.failovers.inc(base, 0);
    families.switchovers.inc(base, 0);
    families.observationFailures.inc(base, 0);
    families.controlApiAuthFailures.inc(base, 0);
  }

  // -- events -------------------------------------------------------------------------------------

  started(kind: WorkflowKind): void {
    this.#families.repairsStarted.inc({ ...this.#base, kind });
  }

  finished(kind: WorkflowKind, outcome: 'done' | 'reverted', durationSeconds: number): void {
    assert(Number.isFinite(durationSeconds) && durationSeconds >= 0, `duration ${durationSeconds}`);
    const family = outcome === 'done' ? this.#families.repairsCompleted : this.#families.repairsReverted;
    family.inc({ ...this.#base, kind });
    this.#families.repairDuration.observe({ ...this.#base, kind, outcome }, durationSeconds);
  }

  stepFailed(kind: WorkflowKind, step: RepairStep): void {
    this.#families.repairFailures.inc({ ...this.#base, kind, step });
  }

  hydrated(outcome: 'ok' | 'failed', bytes: number): void {
    assert(Number.isFinite(bytes) && bytes >= 0, `hydrated bytes ${bytes}`);
    this.#families.hydrations.inc({ ...this.#base, outcome });
    if (outcome === 'ok') this.#families.hydratedBytes.inc(this.#base, bytes);
  }

  /** A replica was promoted because the writer failed (not a planned switchover). */
  recordFailover(): void {
    this.#families.failovers.inc(this.#base);
  }

  /** Gathering the observation failed: the state gauges keep the last good one's values. */
  observationFailed(): void {
    this.#families.observationFailures.inc(this.#base);
  }

  /** A request to the local control API came without the internal token, or with a wrong one. */
  controlApiRefused(): void {
    this.#families.controlApiAuthFailures.inc(this.#base);
  }

  /** A planned switchover finished (an upgrade's last step, or a request). */
  recordSwitchover(): void {
    this.#families.switchovers.inc(this.#base);
  }

  /**
   * Local platform: the data directory's file system, which every local member shares. On
   * Kubernetes each pod has its own volume and kubelet's `kubelet_volume_stats_*` cover it.
   */
  setDataFilesystem(availableBytes: number, sizeBytes: number): void {
    assert(availableBytes >= 0 && sizeBytes >= availableBytes, `file system ${availableBytes}/${sizeBytes}`);
    this.#dataFilesystemAvailable.replace([[{}, availableBytes]]);
    this.#dataFilesystemSize.replace([[{}, sizeBytes]]);
  }

  // -- state --------------------------------------------------------------------------------------

  /** Sets every state gauge from one observation of the cluster. */
  observe(status: ClusterStatus): void {
    const inFlight = new Map<WorkflowKind, number>(WORKFLOW_KINDS.map((kind) => [kind, 0]));
    for (const repair of status.repairs.inFlight) {
      const kind: WorkflowKind = repair.id.startsWith('migration') ? 'migration' : 'repair';
      inFlight.set(kind, (inFlight.get(kind) ?? 0) + 1);
    }
    this.#workflowsInFlight.replace([...inFlight].map(([kind, count]) => [{ kind }, count]));
    this.#repairsBlocked.replace([[{}, status.repairs.blocked.length]]);

    const zones = new Map<string, { reachable: number; unreachable: number }>();
    const nodeEntries: [{ member: string; zone: string }, number][] = [];
    for (const node of status.storage) {
      const reachable = node.ready && node.answered;
      const zone = zones.get(node.zone) ?? { reachable: 0, unreachable: 0 };
      zone[reachable ? 'reachable' : 'unreachable']++;
      zones.set(node.zone, zone);
      nodeEntries.push([{ member: node.nodeId, zone: node.zone }, reachable ? 1 : 0]);
    }
    this.#storageNodes.replace(
      [...zones].flatMap(([zone, counts]) => [
        [{ zone, state: 'reachable' }, counts.reachable] as const,
        [{ zone, state: 'unreachable' }, counts.unreachable] as const,
      ]),
    );
    this.#storageNodeUp.replace(nodeEntries);
    // Segments, disk and heat only for nodes that answered: a silent node's are unknown, not 0.
    const answered = status.storage.filter((node) => node.answered);
    const perNode = (read: (node: (typeof answered)[number]) => number) =>
      answered.map((node) => [{ member: node.nodeId, zone: node.zone }, read(node)] as const);
    this.#storageNodeSegments.replace(perNode((node) => node.segments));
    this.#storageNodeDiskBytes.replace(perNode((node) => node.diskBytes));
    this.#storageNodeHeat.replace(perNode((node) => node.heat));

    const byHealth = new Map<PgHealth, number>(PG_HEALTHS.map((health) => [health, 0]));
    for (const pg of status.pgs) byHealth.set(pg.health, (byHealth.get(pg.health) ?? 0) + 1);
    this.#pgs.replace([...byHealth].map(([health, count]) => [{ health }, count]));
    this.#pgMembersHealthy.replace(
      status.pgs.slice(0, MAX_PG_SERIES).map((pg) => [{ pg: String(pg.pgId) }, pg.healthyMembers]),
    );

    const writer = status.engines.find((engine) => engine.name === status.writer);
    const writerPresent = writer?.ready === true && status.promoting === undefined;
    this.#writerPresent.replace([[{}, writerPresent ? 1 : 0]]);
    this.#engineUp.replace(
      status.engines.map((engine) => [{ member: engine.name, role: engine.role }, engine.ready ? 1 : 0]),
    );
    const epoch = status.volume.volumeEpoch;
    this.#volumeEpoch.replace(epoch !== undefined && /^\d+$/.test(epoch) ? [[{}, Number(epoch)]] : []);
    const upgrade = status.upgrade?.state ?? 'none';
    this.#upgradeState.replace(UPGRADE_STATES.map((state) => [{ state }, state === upgrade ? 1 : 0]));
  }

  /** Removes every series of this cluster (it was deleted). */
  clear(): void {
    for (const series of this.#observed) series.replace([]);
    const families = this.#families;
    const base = this.#base;
    for (const kind of WORKFLOW_KINDS) {
      families.repairsStarted.remove({ ...base, kind });
      families.repairsCompleted.remove({ ...base, kind });
      families.repairsReverted.remove({ ...base, kind });
      for (const step of REPAIR_STEPS) families.repairFailures.remove({ ...base, kind, step });
      for (const outcome of ['done', 'reverted']) families.repairDuration.remove({ ...base, kind, outcome });
    }
    for (const outcome of ['ok', 'failed']) families.hydrations.remove({ ...base, outcome });
    families.hydratedBytes.remove(base);
    families.failovers.remove(base);
    families.switchovers.remove(base);
    families.observationFailures.remove(base);
    families.controlApiAuthFailures.remove(base);
  }
}

const localMetrics = new WeakMap<
  object,
  { readonly registry: ControlMetrics; readonly cluster: ClusterControlMetrics }
>();

/**
 * The local platform's metrics: one registry per running cluster (`LocalCluster`), shared by its
 * control API, which serves and observes it, and its control loop, which records failovers and
 * switchovers through `cluster`.
 */
export function localControlMetrics(owner: { readonly spec: { readonly name: string } }): {
  readonly registry: ControlMetrics;
  readonly cluster: ClusterControlMetrics;
} {
  let metrics = localMetrics.get(owner);
  if (metrics === undefined) {
    const registry = new ControlMetrics();
    metrics = {
      registry,
      cluster: registry.forCluster({ cluster: owner.spec.name, namespace: LOCAL_NAMESPACE }),
    };
    localMetrics.set(owner, metrics);
  }
  return metrics;
}

/**
 * The operator's metrics endpoint on Kubernetes (`PORTS.operatorMetrics`): `GET /metrics` serves
 * the registry, `GET /healthz` answers alive. The caller keeps each cluster's view current
 * (`forCluster(…).observe(…)` every reconcile) and closes the server on shutdown.
 */
export async function startControlMetricsServer(
  metrics: ControlMetrics,
  listen: { readonly host: string; readonly port: number },
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'alive' }));
  app.get('/metrics', async (_request, reply) =>
    reply
      .type(metrics.contentType)
      .header('cache-control', 'no-store')
      .send(await metrics.metricsText()),
  );
  await app.listen({ host: listen.host, port: listen.port });
  return app;
}
