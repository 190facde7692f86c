/**
 * The control loop of one DatabaseCluster on Kubernetes: what `LocalCluster`'s loop does on the
 * local platform, with pods for processes. Each round (called by the reconciler about once a second):
 *
 *   1. observe: engine and storage pods from the informer cache (phase, Ready condition), each
 *      running engine's /v1/status at its pod IP (applied LSN, whether it serves as writer);
 *   2. requests: the `kubectl northlight` annotations (switchover-to, repair-node), recorded in
 *      status.lastRequest and the last-request annotation;
 *   3. engines: a switchover in progress, else the shared failover planner `planEngines` (writer
 *      failed → promote the best replica; crashed replicas started again), executed on pods: start =
 *      create the pod with its role, stop = delete it, promote = POST /v1/admin/promote, then the
 *      role labels move so that the `-rw` Service follows the writer;
 *   4. storage: the shared `RepairExecutor` re-replicates the segments of nodes unreachable past the
 *      spec's repair grace period (or drained on request), exactly as on the local platform;
 *   5. the StorageVolume's status from the writer's /v1/volume and /v1/status.
 * State kept here (writer, promotion, timers, repairs) is rebuilt from labels and the API after an
 * operator restart; storage nodes hold the truth about epochs and membership.
 */
import type { ObjectCache, V1Pod } from '@kubernetes/client-node';
import { allMembers } from '@northlight/protocol';
import { formatSizeBytes } from '../core/cluster-spec.js';
import {
  buildClusterStatus,
  type ClusterObservation,
  describeTransportView,
  type NodeDiskReport,
  onDiskBytesOf,
  type StorageObservation,
  type TransportAuthReport,
  transportView,
} from '../core/cluster-status.js';
import {
  repairPolicyOf,
  SWITCHOVER_FENCE_TIMEOUT_MS,
  UPGRADE_BATCH_SIZE_MAX,
  WRITER_FAILOVER_GRACE_MS,
} from '../core/control-policy.js';
import {
  type EngineAction,
  type ObservedEngine,
  type ProcessState,
  planEngines,
} from '../core/engine-plan.js';
import type { NodeHealth } from '../core/repair-plan.js';
import { planUpgrade, type UpgradeNode, type UpgradeStep } from '../core/upgrade-plan.js';
import type { ClusterControlMetrics } from '../io/control-metrics.js';
import { engineAuthorization, getJson, OBSERVE_TIMEOUT_MS, postEngineAdmin } from '../io/http-json.js';
import {
  RepairExecutor,
  type StorageSegmentView,
  upgradeHealth,
  type VolumeJsonPg,
} from '../io/repair-executor.js';
import type { HealthSummary } from './conditions.js';
import {
  ANNOTATIONS,
  LABELS,
  memberObjectName,
  PORTS,
  readOnlyServiceName,
  readWriteServiceName,
  storageVolumeName,
} from './contract.js';
import { apiMessage, type CustomObject, type KubeApi, statusCode } from './kube-api.js';
import { type ClusterContext, enginePod, engineSettingsOf, storageSettingsOf } from './resources.js';

/** A storage node recreated by the upgrade and not back after this long is repaired like any other. */
const UPGRADE_RESTART_GRACE_MS = 120_000;
/** planUpgrade compares one target version: members already at their spec version report this. */
const AT_SPEC = 'spec';
/** How often the operator says again that the transport is still in transition. */
const TRANSITION_REMINDER_MS = 60 * 60_000;
/** What the operator says when a roll ends with the transport still in transition (docs/security.md). */
export function transportTransitionReminder(cluster: string): string {
  return `the transport still takes unauthenticated peers (spec.security.transportAuthentication: transition); every pod now runs this build, so set it to required: kubectl patch nldb ${cluster} --type=merge -p '{"spec":{"security":{"transportAuthentication":"required"}}}'`;
}
/** Events kept for status and waiting to be written as Kubernetes Events. */
const EVENTS_PENDING_MAX = 50;
const STATUS_TIMEOUT_MS = 1_000;

export interface ClusterControlOptions {
  readonly api: KubeApi;
  readonly context: ClusterContext;
  readonly controlUrl: string;
  readonly pods: ObjectCache<V1Pod>;
  readonly log: (line: string) => void;
  readonly nowMs: () => number;
  /** The cluster's series in the operator's registry (control-metrics.ts); absent in some tests. */
  readonly metrics?: ClusterControlMetrics;
}

interface PendingEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

interface Switchover {
  readonly from: string;
  readonly to: string;
  fencedAtMs: number | undefined;
}

/** The event of a roll for new settings only: what each recreated component gets, and in what order. */
export function settingsRollMessage(storage: string | undefined, engines: string | undefined): string {
  const parts = [
    ...(storage === undefined ? [] : [`storage nodes zone by zone (${storage})`]),
    ...(engines === undefined ? [] : [`engines, replicas first, then a switchover (${engines})`]),
  ];
  return `recreating pods for new settings: ${parts.join(', then ')}`;
}

export function podReady(pod: V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some(
      (condition) => condition.type === 'Ready' && condition.status === 'True',
    )
  );
}

/** The pod's containers will not run again: it must be deleted (and, if wanted, created anew). */
export function podTerminated(pod: V1Pod): boolean {
  return pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';
}

export class ClusterControl {
  readonly #options: ClusterControlOptions;
  applied: ClusterContext | undefined;
  /** Each member's Service ClusterIP (what engines and peers are given). */
  addresses: ReadonlyMap<string, string> = new Map();
  readonly endpoints: { readWrite?: string; readOnly?: string } = {};
  /** What bring-up waits for, while it waits. */
  waiting: string | undefined;
  writer: string;
  promoting: string | undefined;
  /**
   * The cluster's internal token (the Secret `<cluster>-internal`), which the engines' internal routes
   * take; set by the reconciler once the Secret exists. Undefined: no header is sent.
   */
  internalToken: string | undefined;
  /** Whether the Secret's token was usable at the last look (undefined: not looked yet). */
  internalTokenUsable: boolean | undefined;
  /** What is wrong with `spec.engine.tls.secretName` (undefined: nothing, or no TLS): warned once. */
  tlsSecretProblem: string | undefined;
  /** A writer has served once: from then on, missing pods are failures, not bring-up. */
  hasServed = false;
  readonly repairs: RepairExecutor;
  readonly #unreadySinceMs = new Map<string, number>();
  readonly #unreachableSinceMs = new Map<string, number>();
  readonly #appliedLsn = new Map<string, bigint | undefined>();
  readonly #servesAsWriter = new Map<string, boolean>();
  readonly #draining = new Set<string>();
  readonly #pending: PendingEvent[] = [];
  #switchover: Switchover | undefined;
  /** Each PG's head at the previous upgrade round: what a recreated node must reach. */
  #upgradeHeads: Map<number, bigint> | undefined;
  /**
   * Storage nodes the upgrade recreated and since when: not repaired while they come back on their
   * own volumes (a planned restart is not a loss), unless they take longer than UPGRADE_RESTART_GRACE_MS.
   */
  readonly #upgradeRestartedAtMs = new Map<string, number>();
  /** When the transport's open transition was last noted (`TRANSITION_REMINDER_MS`). */
  #transitionNotedAtMs: number | undefined;
  /** Pod creations refused, by member, with the message last noted (`createMemberPod`). */
  readonly #createRefusals = new Map<string, string>();
  /** What the upgrade does or waits for now; undefined when every pod runs its spec version. */
  upgrading: string | undefined;
  /** '<annotation>=<value> at <time>: <outcome>' of the last request taken. */
  #lastRequest: string | undefined;
  #volumeStatus: string | undefined;
  /** The StorageVolume's status last written (the cluster's status repeats its summary). */
  volume:
    | { pgCount: number; volumeEpoch?: number; membershipEpochMax?: number; volumeSizeBytes: number }
    | undefined;
  /** What the last round saw, for the metrics: engines' and storage nodes' statuses, the layouts. */
  readonly #engineStatus = new Map<string, Record<string, unknown> | undefined>();
  #segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]> = new Map();
  /** Each node's files on disk, from the same status report. */
  #diskOf: ReadonlyMap<string, number> = new Map();
  /** Each node's transport authentication, from the same status report. */
  #transportOf: ReadonlyMap<string, TransportAuthReport> = new Map();
  #volumeLayout: { pagesPerPg: number; pgs: VolumeJsonPg[] } | undefined;
  #storageReady: string[] = [];
  #storageNotReady: string[] = [];
  #enginesReady = 0;

  constructor(options: ClusterControlOptions) {
    this.#options = options;
    this.applied = undefined;
    const context = options.context;
    // After an operator restart the writer is the engine pod labelled so; else the topology's first.
    const labelled = context.topology.engines.find(
      (engine) => this.#pod(engine.name, context)?.metadata?.labels?.[LABELS.role] === 'writer',
    );
    this.writer = labelled?.name ?? context.topology.initialWriter;
    this.hasServed = context.topology.engines.some((engine) => this.#pod(engine.name, context) !== undefined);
    this.repairs = new RepairExecutor({
      note: (message) => this.note('Normal', 'Repair', message),
      journal: async () => {},
      nowMs: options.nowMs,
    });
    if (options.metrics !== undefined) this.repairs.attachMetrics(options.metrics);
  }

  get #context(): ClusterContext {
    return this.applied ?? this.#options.context;
  }

  apply(context: ClusterContext): void {
    this.applied = context;
  }

  versionFor(member: string): string {
    const context = this.#context;
    return context.topology.engines.some((engine) => engine.name === member)
      ? context.spec.engine.version
      : context.spec.storage.version;
  }

  note(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const context = this.#context;
    this.#options.log(`${context.namespace}/${context.name}: ${reason}: ${message}`);
    this.#pending.push({ type, reason, message });
    if (this.#pending.length > EVENTS_PENDING_MAX)
      this.#pending.splice(0, this.#pending.length - EVENTS_PENDING_MAX);
  }

  async flushEvents(): Promise<void> {
    const context = this.#context;
    for (const event of this.#pending.splice(0))
      try {
        await this.#options.api.event(context, event.type, event.reason, event.message);
      } catch (error) {
        this.#options.log(
          `${context.namespace}/${context.name}: recording event ${event.reason}: ${apiMessage(error)}`,
        );
      }
  }

  #pod(member: string, context = this.#context): V1Pod | undefined {
    return this.#options.pods.get(memberObjectName(context.name, member), context.namespace);
  }

  #internalHeaders(): Readonly<Record<string, string>> {
    return this.internalToken === undefined ? {} : engineAuthorization(this.internalToken);
  }

  #podUrl(member: string, port: number): string | undefined {
    const ip = this.#pod(member)?.status?.podIP;
    return ip === undefined || ip === '' ? undefined : `http://${ip}:${port}`;
  }

  // -- one round -----------------------------------------------------------------------------------

  /** One control round; `mayCreate` false while the spec is refused (only failover and repair run). */
  async round(object: CustomObject, mayCreate: boolean): Promise<void> {
    await this.#observe();
    if (mayCreate) await this.#takeRequests(object);
    if (this.#switchover !== undefined) await this.#stepSwitchover(this.#switchover);
    else
      for (const action of planEngines({
        engines: this.#observedEngines(),
        writer: this.writer,
        promoting: this.promoting,
        failoverGraceMs: WRITER_FAILOVER_GRACE_MS,
      }))
        await this.#execute(action, mayCreate);
    await this.#storageRound();
    this.#options.metrics?.observe(buildClusterStatus(this.#observation(), String));
  }

  /** The round's view in the shape the local platform's status and metrics use (cluster-status.ts). */
  #observation(): ClusterObservation {
    const context = this.#context;
    return {
      cluster: context.name,
      dataDir: '',
      endpoints: Object.fromEntries(
        Object.entries(this.endpoints).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
      writer: this.writer,
      promoting: this.promoting,
      storage: context.topology.storage.map((node) => {
        const pod = this.#pod(node.nodeId);
        return {
          nodeId: node.nodeId,
          zone: node.zone,
          process: this.#processOf(pod),
          ready: this.#storageReady.includes(node.nodeId),
          pid: undefined,
          starts: (pod?.status?.containerStatuses ?? []).reduce((sum, c) => sum + c.restartCount, 1),
          version: this.#runningVersion(node.nodeId),
          // The storage node's GET /v1/status: the fields StorageObservation reads are all there.
          segments: this.#segmentsOf.get(node.nodeId) as StorageObservation['segments'],
          onDiskBytes: this.#diskOf.get(node.nodeId),
          transport: this.#transportOf.get(node.nodeId),
        };
      }),
      engines: context.topology.engines.map((engine) => {
        const pod = this.#pod(engine.name);
        const status = this.#engineStatus.get(engine.name);
        return {
          name: engine.name,
          role: engine.name === this.writer ? 'writer' : 'replica',
          promotionTier: engine.promotionTier,
          process: this.#processOf(pod),
          ready: pod !== undefined && podReady(pod),
          pid: undefined,
          url: this.#podUrl(engine.name, PORTS.engineHttp) ?? '',
          version: typeof status?.version === 'string' ? status.version : this.#runningVersion(engine.name),
          status,
        };
      }),
      volume: this.#volumeLayout,
      repairs: this.repairs.view(this.#options.nowMs()),
      upgrade: undefined,
      events: [],
    };
  }

  async #observe(): Promise<void> {
    const context = this.#context;
    const now = this.#options.nowMs();
    this.#storageReady = [];
    this.#storageNotReady = [];
    for (const node of context.topology.storage) {
      const pod = this.#pod(node.nodeId);
      const ready = pod !== undefined && podReady(pod);
      (ready ? this.#storageReady : this.#storageNotReady).push(node.nodeId);
      if (ready) this.#unreachableSinceMs.delete(node.nodeId);
      else if (!this.#unreachableSinceMs.has(node.nodeId)) this.#unreachableSinceMs.set(node.nodeId, now);
    }
    this.#enginesReady = 0;
    await Promise.all(
      context.topology.engines.map(async (engine) => {
        const pod = this.#pod(engine.name);
        const running = pod !== undefined && this.#processOf(pod) === 'running';
        const ready = pod !== undefined && podReady(pod);
        if (ready) this.#enginesReady++;
        if (ready || !running) this.#unreadySinceMs.delete(engine.name);
        else if (!this.#unreadySinceMs.has(engine.name)) this.#unreadySinceMs.set(engine.name, now);
        const url = this.#podUrl(engine.name, PORTS.engineHttp);
        const status =
          running && url !== undefined
            ? await getJson<{ appliedLsn?: string; role?: string; driver?: unknown; version?: string }>(
                `${url}/v1/status`,
                STATUS_TIMEOUT_MS,
                this.#internalHeaders(),
              )
            : undefined;
        this.#engineStatus.set(engine.name, status);
        this.#servesAsWriter.set(engine.name, status?.driver !== undefined && status.role !== 'replica');
        if (engine.name !== this.writer)
          this.#appliedLsn.set(
            engine.name,
            status?.appliedLsn === undefined ? undefined : BigInt(status.appliedLsn),
          );
      }),
    );
    const writerPod = this.#pod(this.writer);
    if (writerPod !== undefined && podReady(writerPod) && this.promoting === undefined) this.hasServed = true;
    if (this.hasServed) this.waiting = undefined;
    // Done once it is ready *as the writer*: until its replica server closes, the engine being promoted
    // still answers its probe as a ready replica.
    const promoting = this.promoting;
    if (promoting !== undefined) {
      const pod = this.#pod(promoting);
      if (pod !== undefined && podReady(pod) && this.#servesAsWriter.get(promoting)) {
        await this.#label(promoting, 'writer');
        this.promoting = undefined;
        this.note(
          'Normal',
          'Promoted',
          `${promoting} is the writer now (recovered the volume under a new epoch); ${readWriteServiceName(context.name)} follows it`,
        );
      }
    }
  }

  #processOf(pod: V1Pod | undefined): ProcessState {
    if (pod === undefined || pod.metadata?.deletionTimestamp !== undefined || podTerminated(pod))
      return 'crashed';
    return 'running';
  }

  #observedEngines(): ObservedEngine[] {
    const now = this.#options.nowMs();
    return this.#context.topology.engines.map((engine) => {
      const pod = this.#pod(engine.name);
      const since = this.#unreadySinceMs.get(engine.name);
      return {
        name: engine.name,
        promotionTier: engine.promotionTier,
        role: engine.name === this.writer ? 'writer' : 'replica',
        process: this.#processOf(pod),
        ready: pod !== undefined && podReady(pod),
        unreadyForMs: since === undefined ? 0 : now - since,
        appliedLsn: engine.name === this.writer ? undefined : this.#appliedLsn.get(engine.name),
      };
    });
  }

  async #execute(action: EngineAction, mayCreate: boolean): Promise<void> {
    const context = this.#context;
    switch (action.kind) {
      case 'wait':
        return;
      case 'stop':
        this.note('Warning', 'StoppingWriter', action.reason);
        await this.#options.api.deletePod(context.namespace, memberObjectName(context.name, action.name), 0);
        return;
      case 'start': {
        if (!mayCreate) return;
        const pod = this.#pod(action.name);
        if (pod !== undefined) {
          // Gone from the process's point of view, but its pod object is still there: delete it first.
          if (pod.metadata?.deletionTimestamp === undefined)
            await this.#options.api.deletePod(context.namespace, pod.metadata!.name!, 0);
          return;
        }
        if (action.role === 'replica' && !this.#writerServes()) return;
        if (this.hasServed || action.role === 'replica') this.note('Normal', 'StartingEngine', action.reason);
        else this.note('Normal', 'Creating', `starting the writer ${action.name} (volume recovery)`);
        await this.#createEngine(action.name, action.role);
        return;
      }
      case 'promote':
        await this.#promote(action.name, action.formerWriter, action.reason, 'failover');
        return;
    }
  }

  #writerServes(): boolean {
    const pod = this.#pod(this.writer);
    return this.promoting === undefined && pod !== undefined && podReady(pod);
  }

  async #createEngine(name: string, role: 'writer' | 'replica'): Promise<void> {
    const context = this.#context;
    const body = enginePod(context, {
      name,
      role,
      version: this.versionFor(name),
      writer: this.writer,
      addresses: this.addresses,
      controlUrl: this.#options.controlUrl,
    });
    await this.createMemberPod(name, body);
  }

  /**
   * Creates a member's pod. A refusal other than "it exists" (a priority class that does not exist, a
   * quota, the API server away) does not stop the round: failover, repair and status go on, the pod is
   * tried again next round, and the refusal is a Warning, once per distinct message.
   */
  async createMemberPod(member: string, body: V1Pod): Promise<boolean> {
    try {
      await this.#options.api.createPod(this.#context.namespace, body);
      this.#createRefusals.delete(member);
      return true;
    } catch (error) {
      if (statusCode(error) === 409) return true;
      const message = apiMessage(error);
      if (this.#createRefusals.get(member) !== message) {
        this.#createRefusals.set(member, message);
        this.note(
          'Warning',
          'PodCreateFailed',
          `creating the pod of ${member} failed: ${message}; it is tried again each round (check spec.podTemplate and spec.resources: a priority class, quota or admission rule may refuse it)`,
        );
      }
      return false;
    }
  }

  async #promote(
    name: string,
    formerWriter: string,
    reason: string,
    kind: 'failover' | 'switchover',
  ): Promise<void> {
    this.note('Warning', 'FailingOver', `${reason}; promoting ${name}`);
    const why = await postEngineAdmin(
      this.#podUrl(name, PORTS.engineHttp),
      'promote',
      this.#internalHeaders(),
    );
    if (why !== undefined) {
      this.note('Warning', 'PromotionFailed', `promoting ${name} failed: ${why}; the next round tries again`);
      return;
    }
    this.promoting = name;
    this.writer = name;
    this.#unreadySinceMs.delete(name);
    if (kind === 'failover') this.#options.metrics?.recordFailover();
    else this.#options.metrics?.recordSwitchover();
    // The old writer leaves the -rw Service at once; the new one joins when it serves as writer.
    await this.#label(formerWriter, 'replica');
  }

  async #label(member: string, role: 'writer' | 'replica'): Promise<void> {
    const context = this.#context;
    const pod = this.#pod(member);
    if (pod === undefined || pod.metadata?.labels?.[LABELS.role] === role) return;
    try {
      await this.#options.api.patchPodLabels(context.namespace, pod.metadata!.name!, { [LABELS.role]: role });
    } catch (error) {
      this.#options.log(
        `${context.namespace}/${context.name}: relabelling ${member} as ${role}: ${apiMessage(error)}`,
      );
    }
  }

  // -- requests from kubectl northlight ------------------------------------------------------------

  async #takeRequests(object: CustomObject): Promise<void> {
    const annotations = object.metadata?.annotations ?? {};
    const context = this.#context;
    for (const annotation of [ANNOTATIONS.switchoverTo, ANNOTATIONS.repairNode]) {
      const value = annotations[annotation];
      if (value === undefined) continue;
      const outcome =
        annotation === ANNOTATIONS.switchoverTo ? this.#requestSwitchover(value) : this.#requestDrain(value);
      const at = new Date(this.#options.nowMs()).toISOString();
      this.#lastRequest = `${annotation}=${value} at ${at}: ${outcome}`;
      this.note(
        outcome.startsWith('refused') ? 'Warning' : 'Normal',
        'Request',
        `${annotation}=${value}: ${outcome}`,
      );
      await this.#options.api.patchClusterMetadata(context.namespace, context.name, {
        annotations: { [annotation]: null, [ANNOTATIONS.lastRequest]: `${annotation}=${value} at ${at}` },
      });
    }
  }

  #requestSwitchover(target: string): string {
    const engines = this.#context.topology.engines.map((engine) => engine.name);
    if (!engines.includes(target))
      return `refused: no engine named ${target}; engines: ${engines.join(', ')}`;
    if (target === this.writer) return `refused: ${target} is already the writer`;
    if (this.promoting !== undefined || this.#switchover !== undefined)
      return 'refused: a failover or switchover is in progress';
    const pod = this.#pod(target);
    if (pod === undefined || !podReady(pod) || !this.#writerServes())
      return `refused: both ${this.writer} and ${target} must be ready`;
    this.#switchover = { from: this.writer, to: target, fencedAtMs: undefined };
    return `accepted: switchover from ${this.writer} to ${target}`;
  }

  #requestDrain(nodeId: string): string {
    const nodes = this.#context.topology.storage.map((node) => node.nodeId);
    if (!nodes.includes(nodeId)) return `refused: no storage node named ${nodeId}`;
    this.#draining.add(nodeId);
    return `accepted: re-replicating the segments of ${nodeId} elsewhere in its zone`;
  }

  /**
   * A planned switchover: fence the writer (it stops taking requests, lets its commits in flight become
   * durable and exits), wait for its pod to end, promote the target; the old writer comes back as a
   * replica through the failover planner (its pod is gone: "crashed" → started as a replica).
   */
  async #stepSwitchover(switchover: Switchover): Promise<void> {
    const context = this.#context;
    if (switchover.fencedAtMs === undefined) {
      const why = await postEngineAdmin(
        this.#podUrl(switchover.from, PORTS.engineHttp),
        'fence',
        this.#internalHeaders(),
      );
      if (why !== undefined) {
        this.note(
          'Warning',
          'SwitchoverFailed',
          `fencing ${switchover.from} failed (${why}); switchover abandoned`,
        );
        this.#switchover = undefined;
        return;
      }
      switchover.fencedAtMs = this.#options.nowMs();
      this.note('Normal', 'Switchover', `${switchover.from} fenced; waiting for it to drain and exit`);
      return;
    }
    const pod = this.#pod(switchover.from);
    const ended = pod === undefined || podTerminated(pod);
    if (!ended && this.#options.nowMs() - switchover.fencedAtMs < SWITCHOVER_FENCE_TIMEOUT_MS) return;
    if (pod !== undefined) await this.#options.api.deletePod(context.namespace, pod.metadata!.name!, 0);
    this.#switchover = undefined;
    await this.#promote(switchover.to, switchover.from, `switchover from ${switchover.from}`, 'switchover');
  }

  // -- storage: repair and the volume's status -----------------------------------------------------

  async #storageRound(): Promise<void> {
    if (!this.#writerServes()) return;
    const context = this.#context;
    const writerUrl = this.#podUrl(this.writer, PORTS.engineHttp);
    if (writerUrl === undefined) return;
    const [volume, status] = await Promise.all([
      getJson<{ pagesPerPg: number; pgs: VolumeJsonPg[] }>(
        `${writerUrl}/v1/volume`,
        OBSERVE_TIMEOUT_MS,
        this.#internalHeaders(),
      ),
      getJson<{ driver?: { vdl?: string; volumeEpoch?: string } }>(
        `${writerUrl}/v1/status`,
        OBSERVE_TIMEOUT_MS,
        this.#internalHeaders(),
      ),
    ]);
    if (volume === undefined || status?.driver?.vdl === undefined) return;
    const now = this.#options.nowMs();
    const nodes: NodeHealth[] = context.topology.storage.map((node) => {
      const draining = this.#draining.has(node.nodeId);
      const ready = this.#storageReady.includes(node.nodeId);
      const restartedAt = this.#upgradeRestartedAtMs.get(node.nodeId);
      if (ready || (restartedAt !== undefined && now - restartedAt > UPGRADE_RESTART_GRACE_MS))
        this.#upgradeRestartedAtMs.delete(node.nodeId);
      // Recreated by the upgrade: down on purpose, coming back on its volume; not a repair yet.
      const since = this.#upgradeRestartedAtMs.has(node.nodeId)
        ? undefined
        : this.#unreachableSinceMs.get(node.nodeId);
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        // A drained node is treated as lost: its segments are re-replicated from their peers.
        reachable: ready && !draining,
        unreachableForMs: draining ? Number.MAX_SAFE_INTEGER : ready || since === undefined ? 0 : now - since,
        schedulable: ready && !draining,
      };
    });
    const segmentsOf = new Map<string, readonly StorageSegmentView[]>();
    const diskOf = new Map<string, number>();
    const transportOf = new Map<string, TransportAuthReport>();
    await Promise.all(
      context.topology.storage
        .filter((node) => this.#storageReady.includes(node.nodeId))
        .map(async (node) => {
          const url = this.#adminUrl(node.nodeId);
          const reported = await getJson<
            { segments: StorageSegmentView[]; transport?: TransportAuthReport } & NodeDiskReport
          >(`${url}/v1/status`, OBSERVE_TIMEOUT_MS, this.#internalHeaders());
          if (reported !== undefined) segmentsOf.set(node.nodeId, reported.segments);
          if (reported?.transport !== undefined) transportOf.set(node.nodeId, reported.transport);
          const onDisk = onDiskBytesOf(reported);
          if (onDisk !== undefined) diskOf.set(node.nodeId, onDisk);
        }),
    );
    const controlPlane = context.spec.controlPlane;
    await this.repairs.step(
      {
        writerUrl,
        internalHeaders: this.#internalHeaders(),
        nodes,
        adminUrlOf: (nodeId) => this.#adminUrl(nodeId),
        segmentsOf,
        ...repairPolicyOf(controlPlane),
      },
      volume,
    );
    this.#segmentsOf = segmentsOf;
    this.#diskOf = diskOf;
    this.#transportOf = transportOf;
    this.#volumeLayout = volume;
    await this.#writeVolumeStatus(volume, status.driver, nodes);
    await this.#upgradeRound(volume, nodes, segmentsOf);
  }

  /** The version label of a member's pod (what it was created with). */
  #runningVersion(member: string): string | undefined {
    return this.#pod(member)?.metadata?.labels?.[LABELS.version];
  }

  /**
   * The rolling upgrade, as on the local platform (`planUpgrade`): storage zone by zone in batches
   * that share no PG, each batch only once every node is up and caught up; then replicas; then a
   * switchover. A member is "at target" when its pod runs the spec's version for its component.
   */
  async #upgradeRound(
    volume: { pgs: VolumeJsonPg[] },
    nodes: readonly NodeHealth[],
    segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>,
  ): Promise<void> {
    const context = this.#context;
    const engineNames = new Set(context.topology.engines.map((engine) => engine.name as string));
    const engineSettings = engineSettingsOf(context.spec);
    const storageSettings = storageSettingsOf(context.spec);
    // At the spec: the pod's version is the spec's for its component, and the pod was made with the
    // spec's settings for its component (a change of spec.engine.tls, .transactions,
    // spec.security.transportAuthentication or the pods' resources recreates them, in order).
    const settingsAtSpec = (member: string) =>
      engineNames.has(member)
        ? this.#pod(member)?.metadata?.annotations?.[ANNOTATIONS.engineSettings] === engineSettings
        : this.#pod(member)?.metadata?.annotations?.[ANNOTATIONS.storageSettings] === storageSettings;
    const atSpec = (member: string) =>
      this.#runningVersion(member) === this.versionFor(member) && settingsAtSpec(member);
    const stale = [...context.topology.storage.map((node) => node.nodeId), ...engineNames].filter(
      (member) => this.#runningVersion(member) !== undefined && !atSpec(member),
    );
    if (stale.length === 0) {
      if (this.upgrading !== undefined) {
        this.note(
          'Normal',
          'Upgraded',
          `every pod runs storage ${context.spec.storage.version}, engines ${context.spec.engine.version}`,
        );
      }
      // The transition is for the upgrade alone: once every pod runs the spec, say what closes it, and
      // again every hour it stays open (also after an operator restart, or without any roll).
      const nowMs = this.#options.nowMs();
      if (context.spec.security.transportAuthentication !== 'transition')
        this.#transitionNotedAtMs = undefined;
      else if (
        this.#transitionNotedAtMs === undefined ||
        nowMs - this.#transitionNotedAtMs >= TRANSITION_REMINDER_MS
      ) {
        this.#transitionNotedAtMs = nowMs;
        this.note('Warning', 'TransportTransition', transportTransitionReminder(context.name));
      }
      this.upgrading = undefined;
      this.#upgradeHeads = undefined;
      return;
    }
    if (this.upgrading === undefined) {
      const settingsOnly = stale.every((member) => this.#runningVersion(member) === this.versionFor(member));
      this.note(
        'Normal',
        'Upgrading',
        settingsOnly
          ? settingsRollMessage(
              stale.some((member) => !engineNames.has(member))
                ? (storageSettings ?? 'the defaults')
                : undefined,
              stale.some((member) => engineNames.has(member))
                ? (engineSettings ?? 'the defaults')
                : undefined,
            )
          : `rolling upgrade to storage ${context.spec.storage.version}, engines ${context.spec.engine.version}: storage zone by zone, then replicas, then a switchover`,
      );
    }
    // Caught up: every segment a node hosts has reached its PG's head of the previous round.
    const health = upgradeHealth(volume.pgs, segmentsOf, this.#upgradeHeads);
    this.#upgradeHeads = health.heads;
    const behind = health.behind;
    const atTarget = (member: string) => (atSpec(member) ? AT_SPEC : 'old');
    const lagging: string[] = [];
    const upgradeNodes: UpgradeNode[] = nodes.map((node) => {
      const why = behind(node);
      if (why !== undefined) lagging.push(why);
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        version: atTarget(node.nodeId),
        healthy: why === undefined,
      };
    });
    const step = planUpgrade({
      targetVersion: AT_SPEC,
      nodes: upgradeNodes,
      pgNodes: health.pgNodes,
      engines: this.#observedEngines().map((engine) => ({
        name: engine.name,
        role: engine.role,
        promotionTier: engine.promotionTier,
        version: atTarget(engine.name),
        ready: engine.ready,
        appliedLsn: engine.appliedLsn,
      })),
      maxBatchSize: UPGRADE_BATCH_SIZE_MAX,
    });
    await this.#executeUpgrade(step);
    if (step.kind === 'wait' && lagging.length > 0) this.upgrading = `${step.reason} (${lagging.join('; ')})`;
  }

  async #executeUpgrade(step: UpgradeStep): Promise<void> {
    const context = this.#context;
    switch (step.kind) {
      case 'wait':
        this.upgrading = step.reason;
        return;
      case 'done':
        this.upgrading = undefined;
        return;
      case 'restart-storage':
        this.upgrading = `recreating ${step.nodeIds.join(', ')} (zone ${step.zone})`;
        this.note('Normal', 'Upgrading', `${this.upgrading}: ${step.reason}`);
        // Deleted pods are recreated by the reconciler on their PVC with the spec's version.
        for (const nodeId of step.nodeIds) {
          this.#upgradeRestartedAtMs.set(nodeId, this.#options.nowMs());
          await this.#options.api.deletePod(context.namespace, memberObjectName(context.name, nodeId));
        }
        this.#upgradeHeads = undefined;
        return;
      case 'restart-replica':
        this.upgrading = `recreating replica ${step.name}`;
        this.note('Normal', 'Upgrading', `${this.upgrading}: ${step.reason}`);
        // The failover planner starts it again as a replica, on the spec's version.
        await this.#options.api.deletePod(context.namespace, memberObjectName(context.name, step.name));
        return;
      case 'switchover':
        this.upgrading = `switchover from ${step.from} to ${step.to}`;
        this.note('Normal', 'Upgrading', `${this.upgrading}: ${step.reason}`);
        if (this.#switchover === undefined && this.promoting === undefined)
          this.#switchover = { from: step.from, to: step.to, fencedAtMs: undefined };
        return;
    }
  }

  #adminUrl(nodeId: string): string {
    return (
      this.#podUrl(nodeId, PORTS.storageAdmin) ?? `http://${this.addresses.get(nodeId)}:${PORTS.storageAdmin}`
    );
  }

  async #writeVolumeStatus(
    volume: { pagesPerPg: number; pgs: VolumeJsonPg[] },
    driver: { vdl?: string; volumeEpoch?: string },
    nodes: readonly NodeHealth[],
  ): Promise<void> {
    const reachable = new Set(nodes.filter((node) => node.reachable).map((node) => node.nodeId));
    const healthyPgs = volume.pgs.filter(
      (pg) =>
        (pg.hydrating ?? []).length === 0 &&
        allMembers({ configurations: pg.configurations ?? [pg.members], hydrating: [] }).every((segment) =>
          reachable.has(pg.nodeOf[segment] ?? ''),
        ),
    ).length;
    const membershipEpochs = volume.pgs.map((pg) => Number(pg.membershipEpoch));
    const volumeSizeBytes = volume.pgs.length * volume.pagesPerPg * 4_096;
    const status = {
      pgCount: volume.pgs.length,
      degradedPgCount: volume.pgs.length - healthyPgs,
      healthy: healthyPgs === volume.pgs.length,
      ...(driver.volumeEpoch === undefined ? {} : { volumeEpoch: Number(driver.volumeEpoch) }),
      ...(membershipEpochs.length === 0 ? {} : { membershipEpochMax: Math.max(...membershipEpochs) }),
      volumeSizeBytes,
      size: formatSizeBytes(volumeSizeBytes),
    };
    this.volume = status;
    const text = JSON.stringify(status);
    if (text === this.#volumeStatus) return;
    const context = this.#context;
    try {
      await this.#options.api.patchVolumeStatus(context.namespace, storageVolumeName(context.name), status);
      this.#volumeStatus = text;
    } catch (error) {
      this.#options.log(`${context.namespace}/${context.name}: StorageVolume status: ${apiMessage(error)}`);
    }
  }

  // -- what the status shows -----------------------------------------------------------------------

  health(): HealthSummary {
    const context = this.#context;
    const writerPod = this.#pod(this.writer);
    return {
      storageNodes: context.topology.storage.length,
      storageReady: this.#storageReady.length,
      storageNotReady: this.#storageNotReady,
      engines: context.topology.engines.length,
      enginesReady: this.#enginesReady,
      writer: this.writer,
      writerReady: writerPod !== undefined && podReady(writerPod) && this.promoting === undefined,
      promoting: this.promoting ?? this.#switchover?.to,
      repairsInFlight: this.repairs.inFlight().length,
      repairsBlocked: this.repairs.blocked,
      upgradingTo:
        this.upgrading === undefined
          ? undefined
          : `storage ${context.spec.storage.version}, engines ${context.spec.engine.version} (${this.upgrading})`,
      creating: !this.hasServed,
    };
  }

  statusFields(): Record<string, unknown> {
    const context = this.#context;
    const zones = context.spec.storage.zones.map((zone) => {
      const nodes = context.topology.storage
        .filter((node) => node.zone === zone.name)
        .map((node) => node.nodeId);
      return {
        name: zone.name as string,
        nodes: nodes.length,
        readyNodes: nodes.filter((node) => this.#storageReady.includes(node)).length,
      };
    });
    return {
      writer: this.writer,
      readyInstances: this.#enginesReady,
      instances: `${this.#enginesReady}/${context.topology.engines.length}`,
      storage: {
        nodes: context.topology.storage.length,
        readyNodes: this.#storageReady.length,
        ready: `${this.#storageReady.length}/${context.topology.storage.length}`,
        zones,
      },
      ...(this.volume === undefined
        ? {}
        : {
            pgCount: this.volume.pgCount,
            volumeSizeBytes: this.volume.volumeSizeBytes,
            ...(this.volume.volumeEpoch === undefined ? {} : { volumeEpoch: this.volume.volumeEpoch }),
            ...(this.volume.membershipEpochMax === undefined
              ? {}
              : { membershipEpochMax: this.volume.membershipEpochMax }),
          }),
      endpoints: {
        readWrite: `${readWriteServiceName(context.name)}.${context.namespace}.svc:${PORTS.enginePg}`,
        readOnly: `${readOnlyServiceName(context.name)}.${context.namespace}.svc:${PORTS.enginePg}`,
      },
      transport: describeTransportView(
        transportView([
          ...context.topology.storage.map((node) => ({
            name: node.nodeId,
            transport: this.#transportOf.get(node.nodeId),
          })),
          ...context.topology.engines.map((engine) => ({
            name: engine.name,
            transport: this.#engineStatus.get(engine.name)?.transport as TransportAuthReport | undefined,
          })),
        ]),
      ),
      ...(this.#lastRequest === undefined ? {} : { lastRequest: this.#lastRequest }),
    };
  }
}
