/**
 * The operator process's machinery, platform-facing: informers with resync over DatabaseClusters and
 * the pods, Services and PVCs they own; the work queue and its workers; leader election; the control
 * API engines ask for placement; a small /metrics. main.ts parses flags and wires it.
 *
 * Informers: client-node's `makeInformer` (list, then watch from the list's resourceVersion; a 410
 * relists). An informer that fails (the API server went away, a watch was refused) emits `error` and
 * stops; it is started again after INFORMER_RESTART_MS. Every RESYNC_MS every known cluster is queued
 * again, so a missed event costs at most one resync period.
 *
 * Leadership: with leader election on, workers run only while this process holds the Lease; losing
 * it drains the workers and forgets every cluster's in-memory state (a new leader rebuilds it from
 * labels and the API), before any peer can take over (leader-election.ts).
 */
import { hostname } from 'node:os';
import {
  type CoreV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { internalAuthorization } from '@northlight/protocol/io';
import Fastify, { type FastifyInstance } from 'fastify';
import { type FleetNode, placePg } from '../core/placement.js';
import { ControlMetrics } from '../io/control-metrics.js';
import {
  CONTROL_BODY_LIMIT_BYTES,
  observeFleetNode,
  PLACEMENT_USAGE,
  parsePlacementRequest,
} from '../io/placement-api.js';
import { systemClock } from './clock.js';
import { podReady } from './cluster-control.js';
import { ClusterReconciler, clusterKey } from './cluster-reconciler.js';
import { DATABASE_CLUSTER, GROUP, LABELS, MANAGER, PORTS, VERSION } from './contract.js';
import { apiMessage, ConflictError, type CustomObject, KubeApi } from './kube-api.js';
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  LeaderElector,
} from './leader-election.js';
import { WorkQueue } from './work-queue.js';

export const RESYNC_MS = 30_000;
export const INFORMER_RESTART_MS = 1_000;
/** Clusters reconciled at once (each key is serialized by the queue). */
export const WORKERS = 2;
export const QUEUE_CAPACITY = 1_024;
const REQUEUE_BASE_DELAY_MS = 200;
const REQUEUE_MAX_DELAY_MS = 30_000;

export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  /** '' watches every namespace. */
  readonly namespace: string;
  readonly leaderElection: boolean;
  readonly leaseNamespace: string;
  readonly identity: string;
  readonly controlHost: string;
  readonly controlPort: number;
  readonly controlAdvertiseUrl: string;
  /** 0: no metrics listener. */
  readonly metricsPort: number;
  readonly log: (line: string) => void;
}

export function defaultIdentity(): string {
  return `${hostname()}-${process.pid}`;
}

export class Operator {
  readonly #options: OperatorOptions;
  readonly api: KubeApi;
  /** The control plane's series (northlight_control_*) of every cluster, served at /metrics. */
  readonly controlMetrics = new ControlMetrics();
  readonly reconciler: ClusterReconciler;
  readonly #clusters: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  readonly #pods: Informer<V1Pod> & ObjectCache<V1Pod>;
  readonly #services: Informer<V1Service> & ObjectCache<V1Service>;
  readonly #claims: Informer<V1PersistentVolumeClaim> & ObjectCache<V1PersistentVolumeClaim>;
  #queue: WorkQueue | undefined;
  #workers: Promise<void>[] = [];
  #elector: LeaderElector | undefined;
  #resync: ReturnType<typeof setInterval> | undefined;
  #control: FastifyInstance | undefined;
  #metrics: FastifyInstance | undefined;
  #stopping = false;
  readonly counters = { reconciles: 0, errors: 0, conflicts: 0 };

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.api = new KubeApi(options.kubeConfig);
    const namespace = options.namespace;
    const owned = `${LABELS.managedBy}=${MANAGER}`;
    const core: CoreV1Api = this.api.core;
    const corePath = (plural: string) =>
      namespace === '' ? `/api/v1/${plural}` : `/api/v1/namespaces/${namespace}/${plural}`;
    this.#clusters = makeInformer(
      options.kubeConfig,
      namespace === ''
        ? `/apis/${GROUP}/${VERSION}/${DATABASE_CLUSTER.plural}`
        : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${DATABASE_CLUSTER.plural}`,
      () => this.api.listClusters(namespace) as unknown as Promise<KubernetesListObject<KubernetesObject>>,
    );
    this.#pods = makeInformer(
      options.kubeConfig,
      corePath('pods'),
      () =>
        namespace === ''
          ? core.listPodForAllNamespaces({ labelSelector: owned })
          : core.listNamespacedPod({ namespace, labelSelector: owned }),
      owned,
    );
    this.#services = makeInformer(
      options.kubeConfig,
      corePath('services'),
      () =>
        namespace === ''
          ? core.listServiceForAllNamespaces({ labelSelector: owned })
          : core.listNamespacedService({ namespace, labelSelector: owned }),
      owned,
    );
    this.#claims = makeInformer(
      options.kubeConfig,
      corePath('persistentvolumeclaims'),
      () =>
        namespace === ''
          ? core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: owned })
          : core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: owned }),
      owned,
    );
    this.reconciler = new ClusterReconciler({
      api: this.api,
      controlUrl: options.controlAdvertiseUrl,
      pods: this.#pods,
      services: this.#services,
      claims: this.#claims,
      log: options.log,
      nowMs: () => Date.now(),
      metrics: this.controlMetrics,
    });
  }

  async start(): Promise<void> {
    const log = this.#options.log;
    this.#watch('databaseclusters', this.#clusters, (object) =>
      this.#enqueue(clusterKey(object.metadata?.namespace ?? '', object.metadata?.name ?? '')),
    );
    const owner = (object: KubernetesObject) => {
      const cluster = object.metadata?.labels?.[LABELS.cluster];
      if (cluster !== undefined) this.#enqueue(clusterKey(object.metadata?.namespace ?? '', cluster));
    };
    this.#watch('pods', this.#pods, owner);
    this.#watch('services', this.#services, owner);
    this.#watch('persistentvolumeclaims', this.#claims, owner);
    await Promise.all([
      this.#clusters.start(),
      this.#pods.start(),
      this.#services.start(),
      this.#claims.start(),
    ]);
    this.#control = await this.#startControlApi();
    if (this.#options.metricsPort !== 0) this.#metrics = await this.#startMetrics();
    this.#resync = setInterval(() => {
      for (const object of this.#clusters.list())
        this.#enqueue(clusterKey(object.metadata?.namespace ?? '', object.metadata?.name ?? ''));
    }, RESYNC_MS);
    if (!this.#options.leaderElection) {
      log('leader election off: reconciling');
      this.#startWorkers();
      return;
    }
    this.#elector = new LeaderElector({
      store: this.api.leaseStore(this.#options.leaseNamespace),
      identity: this.#options.identity,
      clock: systemClock,
      leaseDurationMs: DEFAULT_LEASE_DURATION_MS,
      renewDeadlineMs: DEFAULT_RENEW_DEADLINE_MS,
      retryPeriodMs: DEFAULT_RETRY_PERIOD_MS,
      onStartedLeading: () => this.#startWorkers(),
      onStoppedLeading: () => void this.#stopWorkers(),
      log,
    });
    this.#elector.start();
  }

  get leading(): boolean {
    return this.#queue !== undefined;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#resync !== undefined) clearInterval(this.#resync);
    await this.#stopWorkers();
    await this.#elector?.stop();
    await Promise.all([this.#clusters.stop(), this.#pods.stop(), this.#services.stop(), this.#claims.stop()]);
    await this.#control?.close();
    await this.#metrics?.close();
  }

  #watch<T extends KubernetesObject>(
    what: string,
    informer: Informer<T>,
    onChange: (object: T) => void,
  ): void {
    informer.on('add', onChange);
    informer.on('update', onChange);
    informer.on('delete', onChange);
    informer.on('error', (error) => {
      if (this.#stopping) return;
      this.#options.log(`informer ${what}: ${apiMessage(error)}; restarting in ${INFORMER_RESTART_MS} ms`);
      setTimeout(() => {
        if (!this.#stopping)
          informer.start().catch((again: Error) => this.#options.log(`informer ${what}: ${again.message}`));
      }, INFORMER_RESTART_MS).unref();
    });
  }

  #enqueue(key: string): void {
    if (this.#queue !== undefined && !this.#queue.add(key))
      this.#options.log(`work queue full (${QUEUE_CAPACITY}); ${key} waits for the next resync`);
  }

  #startWorkers(): void {
    if (this.#queue !== undefined || this.#stopping) return;
    const queue = new WorkQueue({
      clock: systemClock,
      capacity: QUEUE_CAPACITY,
      baseDelayMs: REQUEUE_BASE_DELAY_MS,
      maxDelayMs: REQUEUE_MAX_DELAY_MS,
    });
    this.#queue = queue;
    this.#workers = Array.from({ length: WORKERS }, () => this.#work(queue));
    for (const object of this.#clusters.list())
      queue.add(clusterKey(object.metadata?.namespace ?? '', object.metadata?.name ?? ''));
  }

  async #stopWorkers(): Promise<void> {
    const queue = this.#queue;
    if (queue === undefined) return;
    this.#queue = undefined;
    queue.shutDown();
    await Promise.all(this.#workers);
    this.#workers = [];
    this.reconciler.reset();
  }

  async #work(queue: WorkQueue): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        this.counters.reconciles++;
        const result = await this.reconciler.reconcile(key);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        const delayMs = queue.addRateLimited(key);
        if (error instanceof ConflictError) {
          this.counters.conflicts++;
          this.#options.log(`${key}: ${error.message}; again in ${delayMs} ms`);
        } else {
          this.counters.errors++;
          this.#options.log(`ERROR ${key}: reconcile failed: ${apiMessage(error)}; again in ${delayMs} ms`);
        }
      } finally {
        queue.done(key);
      }
    }
  }

  // -- the control API (placement) and metrics ----------------------------------------------------

  /**
   * POST /v1/placement, as the local control API serves it: where a writer's next PG goes. The engine's
   * request names no cluster, so the caller is found by its source address among engine pod IPs; with
   * a single cluster that one is meant. Unknown → 503, and the writer places the PG itself.
   */
  async #startControlApi(): Promise<FastifyInstance> {
    const app = Fastify({ logger: false, bodyLimit: CONTROL_BODY_LIMIT_BYTES });
    app.get('/healthz', async () => ({ status: 'alive', leading: this.leading }));
    app.post<{ Body: { pgId?: unknown; pgs?: unknown } }>('/v1/placement', async (request, reply) => {
      const parsed = parsePlacementRequest(request.body);
      if (parsed === undefined)
        return reply.code(400).send({ code: 'NL_REQUEST_INVALID', message: PLACEMENT_USAGE });
      const { pgId, pgs } = parsed;
      const cluster = this.#clusterOfAddress(request.ip);
      if (cluster === undefined)
        return reply.code(503).send({
          code: 'NL_REQUEST_INVALID',
          message: 'no cluster known for this caller; place the PG yourself',
        });
      const internalHeaders = internalAuthorization(
        this.reconciler.control(clusterKey(cluster.namespace, cluster.name))?.internalToken,
      );
      const storagePods = this.#pods
        .list(cluster.namespace)
        .filter(
          (pod) =>
            pod.metadata?.labels?.[LABELS.cluster] === cluster.name &&
            pod.metadata?.labels?.[LABELS.component] === 'storage',
        );
      const fleet: FleetNode[] = await Promise.all(
        storagePods.map((pod) =>
          observeFleetNode(
            {
              nodeId: pod.metadata?.labels?.[LABELS.member] ?? '',
              zone: pod.metadata?.labels?.[LABELS.zone] ?? '',
            },
            podReady(pod),
            pod.status?.podIP === undefined ? undefined : `http://${pod.status.podIP}:${PORTS.storageAdmin}`,
            internalHeaders,
          ),
        ),
      );
      const placed = placePg(fleet, pgs, pgId, cluster.name);
      if (!placed.ok)
        return reply.code(409).send({ code: 'NL_REQUEST_INVALID', message: placed.error.message });
      this.#options.log(
        `${cluster.namespace}/${cluster.name}: placed PG ${pgId} on ${placed.value.join(', ')}`,
      );
      return { pgId, nodes: placed.value };
    });
    await app.listen({ host: this.#options.controlHost, port: this.#options.controlPort });
    return app;
  }

  #clusterOfAddress(address: string): { namespace: string; name: string } | undefined {
    const ip = address.replace(/^::ffff:/, '');
    const pod = this.#pods
      .list()
      .find(
        (candidate) =>
          candidate.status?.podIP === ip && candidate.metadata?.labels?.[LABELS.cluster] !== undefined,
      );
    if (pod !== undefined)
      return { namespace: pod.metadata?.namespace ?? '', name: pod.metadata!.labels![LABELS.cluster]! };
    const clusters = this.#clusters.list() as unknown as readonly CustomObject[];
    if (clusters.length === 1)
      return { namespace: clusters[0]!.metadata?.namespace ?? '', name: clusters[0]!.metadata?.name ?? '' };
    return undefined;
  }

  async #startMetrics(): Promise<FastifyInstance> {
    const app = Fastify({ logger: false });
    app.get('/metrics', async (_request, reply) => {
      const lines = [
        '# HELP northlight_operator_leader 1 while this operator holds the leader Lease (or runs without election).',
        '# TYPE northlight_operator_leader gauge',
        `northlight_operator_leader ${this.leading ? 1 : 0}`,
        '# HELP northlight_operator_reconciles_total Reconcile rounds run.',
        '# TYPE northlight_operator_reconciles_total counter',
        `northlight_operator_reconciles_total ${this.counters.reconciles}`,
        '# HELP northlight_operator_reconcile_errors_total Reconcile rounds that failed (conflicts excluded).',
        '# TYPE northlight_operator_reconcile_errors_total counter',
        `northlight_operator_reconcile_errors_total ${this.counters.errors}`,
        '# HELP northlight_operator_reconcile_conflicts_total Reconcile rounds requeued on a 409 Conflict.',
        '# TYPE northlight_operator_reconcile_conflicts_total counter',
        `northlight_operator_reconcile_conflicts_total ${this.counters.conflicts}`,
        '# HELP northlight_operator_queue_depth Keys waiting in the work queue.',
        '# TYPE northlight_operator_queue_depth gauge',
        `northlight_operator_queue_depth ${this.#queue?.length ?? 0}`,
        '# HELP northlight_operator_clusters DatabaseClusters watched.',
        '# TYPE northlight_operator_clusters gauge',
        `northlight_operator_clusters ${this.#clusters.list().length}`,
      ];
      // The operator's own lines, then the control plane's series of every cluster it runs.
      return reply
        .type('text/plain; version=0.0.4')
        .send(`${lines.join('\n')}\n${await this.controlMetrics.metricsText()}`);
    });
    await app.listen({ host: this.#options.controlHost, port: this.#options.metricsPort });
    return app;
  }
}
