/**
 * The DatabaseCluster reconciler: one `reconcile(key)` per round, a top-to-bottom list of guarded
 * steps (STYLE.md §3) that each continue, or stop the round with a requeue:
 *
 *   1. read the cluster (gone → forget it); deletionTimestamp set → the deletion flow;
 *   2. the finalizer;
 *   3. validate the spec (invalid → Ready=False/InvalidSpec, nothing touched);
 *   4. refuse unsafe changes (a zone renamed or removed, a storage node that holds data dropped, a
 *      changed segment size: the PVCs say what holds data) → Ready=False/UnsafeSpecChange, and
 *      nothing created or deleted — the control loop keeps running the spec last applied;
 *   5. the Secret, the Services (wait for their ClusterIPs), the PVCs, the budgets and policies,
 *      the StorageVolume;
 *   6. the pods: object store, storage nodes (recreated on their PVC when deleted), then the engines
 *      through the shared failover planner (`planEngines`): writer first, replicas once it serves;
 *   7. the control loop's round (cluster-control.ts): failover, repair, requests, volume status;
 *   8. the status (conditions, phase, writer, endpoints) through the status subresource.
 * A round that changes nothing still requeues after CONTROL_INTERVAL_MS: the control loop is
 * periodic, as on the local platform.
 */
import { randomBytes } from 'node:crypto';
import type {
  ObjectCache,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { formatSpecProblems, validateClusterSpec } from '../core/cluster-spec.js';
import { planTopology } from '../core/topology.js';
import type { ControlMetrics } from '../io/control-metrics.js';
import { ClusterControl, podReady, podTerminated } from './cluster-control.js';
import {
  type Condition,
  conditionsOf,
  mergeConditions,
  type Phase,
  refusedConditions,
} from './conditions.js';
import {
  DATABASE_CLUSTER,
  dataClaimName,
  FINALIZER,
  INTERNAL_SECRET_KEY,
  internalSecretName,
  LABELS,
  MANAGER,
  memberObjectName,
  PG_SECRET_KEYS,
  PORTS,
  pgSecretName,
  readOnlyServiceName,
  readWriteServiceName,
  storageVolumeName,
  TLS_SECRET_KEYS,
} from './contract.js';
import { apiMessage, type CustomObject, type KubeApi, type OwnedKind, statusCode } from './kube-api.js';
import {
  type ClusterContext,
  dataClaim,
  disruptionBudgets,
  internalSecret,
  memberService,
  networkPolicies,
  OBJECT_STORE_MEMBER,
  objectStorePod,
  pgSecret,
  roleService,
  SEGMENT_SIZE_ANNOTATION,
  storagePod,
  storageVolume,
} from './resources.js';

/** Every round of a live cluster is followed by another this much later (the control loop). */
export const CONTROL_INTERVAL_MS = 1_000;
/** Waiting for something the API or the kubelet will do (a ClusterIP, a pod to go away). */
const WAIT_MS = 300;

export interface ReconcileResult {
  /** Reconcile the key again after this long; undefined: only when something changes. */
  readonly requeueAfterMs: number | undefined;
}

export interface ReconcilerOptions {
  readonly api: KubeApi;
  /** The URL engines use for placement (`--placement-url`). */
  readonly controlUrl: string;
  readonly pods: ObjectCache<V1Pod>;
  readonly services: ObjectCache<V1Service>;
  readonly claims: ObjectCache<V1PersistentVolumeClaim>;
  readonly log: (line: string) => void;
  readonly nowMs: () => number;
  /** The control plane's metrics (northlight_control_*), one view per cluster; absent in some tests. */
  readonly metrics?: ControlMetrics;
}

type Step =
  | { readonly kind: 'continue' }
  | { readonly kind: 'stop'; readonly requeueAfterMs: number | undefined };
const proceed: Step = { kind: 'continue' };
const stopAndRequeue = (afterMs: number | undefined): Step => ({ kind: 'stop', requeueAfterMs: afterMs });

export class ClusterReconciler {
  readonly #options: ReconcilerOptions;
  /** The control loop of each cluster, by key: its memory (writer, repairs, timers) across rounds. */
  readonly #controls = new Map<string, ClusterControl>();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
  }

  control(key: string): ClusterControl | undefined {
    return this.#controls.get(key);
  }

  /** Forgets every cluster's in-memory state (leadership lost: a new leader rebuilds it from the API). */
  reset(): void {
    this.#controls.clear();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const object = await this.#options.api.getCluster(namespace, name);
    if (object === undefined) {
      this.#controls.delete(key);
      return { requeueAfterMs: undefined };
    }
    if (object.metadata?.deletionTimestamp !== undefined) return this.#delete(key, object);
    const steps: (() => Promise<Step>)[] = [
      () => this.#ensureFinalizer(object),
      () => this.#applySpec(key, object),
    ];
    for (const step of steps) {
      const result = await step();
      if (result.kind === 'stop') return { requeueAfterMs: result.requeueAfterMs };
    }
    return { requeueAfterMs: CONTROL_INTERVAL_MS };
  }

  async #ensureFinalizer(object: CustomObject): Promise<Step> {
    const finalizers = object.metadata?.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) return proceed;
    const { namespace, name } = refOf(object);
    await this.#options.api.patchClusterMetadata(namespace, name, {
      finalizers: [...finalizers, FINALIZER],
      resourceVersion: object.metadata?.resourceVersion,
    });
    this.#options.log(`${namespace}/${name}: added the finalizer ${FINALIZER}`);
    return stopAndRequeue(0);
  }

  async #applySpec(key: string, object: CustomObject): Promise<Step> {
    const ref = refOf(object);
    const generation = object.metadata?.generation ?? 0;
    const validated = validateClusterSpec(specDocument(object));
    if (!validated.ok) {
      const message = formatSpecProblems(
        `${DATABASE_CLUSTER.singular} ${ref.namespace}/${ref.name}`,
        validated.error,
      );
      await this.#refuse(object, 'InvalidSpec', message, generation);
      return stopAndRequeue(undefined);
    }
    const context: ClusterContext = {
      ...ref,
      spec: validated.value,
      topology: planTopology({
        zones: validated.value.storage.zones,
        engines: validated.value.engine.instances,
      }),
    };
    const control = this.#controlOf(key, context);
    const unsafe = this.#unsafeChange(context);
    if (unsafe !== undefined) {
      await this.#refuse(object, 'UnsafeSpecChange', unsafe, generation);
      // The cluster keeps running what it was given last; nothing is created or deleted.
      if (control.applied !== undefined && control.applied.spec !== context.spec)
        await control.round(object, false);
      return stopAndRequeue(CONTROL_INTERVAL_MS);
    }
    control.apply(context);
    const steps: (() => Promise<Step>)[] = [
      () => this.#ensureSecret(context),
      () => this.#ensureInternalSecret(context, control),
      () => this.#checkTlsSecret(context, control),
      () => this.#ensureServices(context, control),
      () => this.#ensureClaims(context),
      () => this.#ensurePoliciesAndVolume(context),
      () => this.#ensureDataPods(context, control),
    ];
    for (const step of steps) {
      const result = await step();
      if (result.kind === 'stop') {
        await this.#writeStatus(object, control, generation);
        return result;
      }
    }
    await control.round(object, true);
    await this.#writeStatus(object, control, generation);
    return proceed;
  }

  #controlOf(key: string, context: ClusterContext): ClusterControl {
    let control = this.#controls.get(key);
    if (control === undefined) {
      control = new ClusterControl({
        api: this.#options.api,
        context,
        controlUrl: this.#options.controlUrl,
        pods: this.#options.pods,
        log: this.#options.log,
        nowMs: this.#options.nowMs,
        ...(this.#options.metrics === undefined
          ? {}
          : {
              metrics: this.#options.metrics.forCluster({
                cluster: context.name,
                namespace: context.namespace,
              }),
            }),
      });
      this.#controls.set(key, control);
    }
    return control;
  }

  /**
   * Why the spec cannot be applied without losing data, or undefined. The storage PVCs are the record
   * of what holds data: each names its member and zone and the segment size it was written with.
   */
  #unsafeChange(context: ClusterContext): string | undefined {
    const claims = this.#options.claims
      .list(context.namespace)
      .filter(
        (claim) =>
          claim.metadata?.labels?.[LABELS.cluster] === context.name &&
          claim.metadata?.labels?.[LABELS.component] === 'storage',
      );
    const problems: string[] = [];
    const zones = new Set(context.spec.storage.zones.map((zone) => zone.name as string));
    const nodes = new Set(context.topology.storage.map((node) => node.nodeId));
    for (const claim of claims) {
      const member = claim.metadata?.labels?.[LABELS.member] ?? '?';
      const zone = claim.metadata?.labels?.[LABELS.zone] ?? '?';
      if (!zones.has(zone))
        problems.push(
          `zone ${zone} holds data (${claim.metadata?.name}) but is no longer in spec.storage.zones; zones cannot be renamed or removed`,
        );
      else if (!nodes.has(member))
        problems.push(
          `storage node ${member} holds data (${claim.metadata?.name}); spec.storage.zones asks for fewer nodes than hold data`,
        );
      const segmentSize = claim.metadata?.annotations?.[SEGMENT_SIZE_ANNOTATION];
      if (segmentSize !== undefined && segmentSize !== String(context.spec.storage.segmentSizeBytes))
        problems.push(
          `spec.storage.segmentSize is ${context.spec.storage.segmentSizeBytes} bytes but the volume was written with ${segmentSize}; the segment size cannot change`,
        );
    }
    const unique = [...new Set(problems)];
    return unique.length === 0 ? undefined : `refused, nothing was changed: ${unique.join('; ')}`;
  }

  async #refuse(object: CustomObject, reason: string, message: string, generation: number): Promise<void> {
    const { namespace, name, uid } = refOf(object);
    const previous = (object.status?.conditions as Condition[] | undefined) ?? [];
    const ready = previous.find((condition) => condition.type === 'Ready');
    if (ready?.reason !== reason || ready.message !== message) {
      this.#options.log(`${namespace}/${name}: ${reason}: ${message}`);
      await this.#event({ namespace, name, uid }, 'Warning', reason, message);
    }
    const conditions = mergeConditions(
      previous,
      refusedConditions(reason, message),
      new Date(this.#options.nowMs()).toISOString(),
      generation,
    );
    await this.#patchStatusIfChanged(object, {
      observedGeneration: generation,
      conditions,
      phase: 'Invalid' satisfies Phase,
    });
  }

  /**
   * A Secret of the cluster holding a random value generated here once and never logged (24 bytes,
   * base64url): created with `build` when missing, with a Normal event saying what it holds. Returns
   * the Secret as the API has it (undefined only if it cannot be read back).
   */
  async #ensureGeneratedSecret(
    context: ClusterContext,
    name: string,
    build: (value: string) => V1Secret,
    holds: string,
  ): Promise<V1Secret | undefined> {
    const existing = await this.#options.api.readSecret(context.namespace, name);
    if (existing !== undefined) return existing;
    await this.#create(() =>
      this.#options.api.createSecret(context.namespace, build(randomBytes(24).toString('base64url'))),
    );
    await this.#event(context, 'Normal', 'Created', `Secret ${name} with ${holds}`);
    return this.#options.api.readSecret(context.namespace, name);
  }

  /** The PostgreSQL password's Secret; engines read it from the Secret. */
  async #ensureSecret(context: ClusterContext): Promise<Step> {
    await this.#ensureGeneratedSecret(
      context,
      pgSecretName(context.name),
      (password) => pgSecret(context, password),
      `the PostgreSQL credentials (keys ${Object.values(PG_SECRET_KEYS).join(', ')})`,
    );
    return proceed;
  }

  /**
   * The internal token's Secret, generated once like the password; the control loop reads the token
   * from it (after an operator restart too) to call the engines' internal routes. A Secret without a
   * usable token stops the round; the Warning event is recorded once, when the token becomes unusable.
   */
  async #ensureInternalSecret(context: ClusterContext, control: ClusterControl): Promise<Step> {
    const name = internalSecretName(context.name);
    const secret = await this.#ensureGeneratedSecret(
      context,
      name,
      (token) => internalSecret(context, token),
      `the internal token the operator, the engines and the storage nodes use (key ${INTERNAL_SECRET_KEY})`,
    );
    const encoded = secret?.data?.[INTERNAL_SECRET_KEY];
    const token =
      encoded === undefined
        ? secret?.stringData?.[INTERNAL_SECRET_KEY]
        : Buffer.from(encoded, 'base64').toString('utf8');
    if (token === undefined || !/^[\x21-\x7e]{16,1024}$/.test(token)) {
      if (control.internalTokenUsable !== false)
        await this.#event(
          context,
          'Warning',
          'InvalidSecret',
          `Secret ${name} has no usable key ${INTERNAL_SECRET_KEY} (16 to 1,024 printable characters without spaces): delete it and the operator makes a new one`,
        );
      control.internalToken = undefined;
      control.internalTokenUsable = false;
      return stopAndRequeue(CONTROL_INTERVAL_MS);
    }
    control.internalToken = token;
    control.internalTokenUsable = true;
    return proceed;
  }

  /**
   * `spec.engine.tls.secretName` is the user's (cert-manager's) Secret, never made here. When it is
   * missing or lacks a key, engine pods cannot start (their volume waits for it), so the operator says
   * so once, by a Warning event, and carries on: running engines keep the certificate they loaded.
   */
  async #checkTlsSecret(context: ClusterContext, control: ClusterControl): Promise<Step> {
    const tls = context.spec.engine.tls;
    if (tls === undefined) {
      control.tlsSecretProblem = undefined;
      return proceed;
    }
    const secret = await this.#options.api.readSecret(context.namespace, tls.secretName);
    const has = (key: string) =>
      (secret?.data?.[key] ?? secret?.stringData?.[key]) !== undefined &&
      (secret?.data?.[key] ?? secret?.stringData?.[key]) !== '';
    const missing = [TLS_SECRET_KEYS.cert, TLS_SECRET_KEYS.key].filter((key) => !has(key));
    const problem =
      secret === undefined
        ? `Secret ${tls.secretName} (spec.engine.tls.secretName) does not exist; engine pods wait for it. Create it (kubectl create secret tls ${tls.secretName} --cert=… --key=…, or a cert-manager Certificate with secretName ${tls.secretName})`
        : missing.length > 0
          ? `Secret ${tls.secretName} (spec.engine.tls.secretName) has no ${missing.join(' or ')}; engines need a PEM certificate in ${TLS_SECRET_KEYS.cert} and its key in ${TLS_SECRET_KEYS.key}`
          : undefined;
    if (problem !== undefined && problem !== control.tlsSecretProblem) {
      this.#options.log(`${context.namespace}/${context.name}: ${problem}`);
      await this.#event(context, 'Warning', 'TLSSecretNotReady', problem);
    }
    control.tlsSecretProblem = problem;
    return proceed;
  }

  async #ensureServices(context: ClusterContext, control: ClusterControl): Promise<Step> {
    const members: [Parameters<typeof memberService>[1], string][] = [
      ...context.topology.storage.map((node) => ['storage', node.nodeId] as ['storage', string]),
      ...context.topology.engines.map((engine) => ['engine', engine.name] as ['engine', string]),
      ...(context.spec.backup.objectStore.kind === 'embedded'
        ? [['object-store', OBJECT_STORE_MEMBER] as ['object-store', string]]
        : []),
    ];
    const wanted = [
      ...members.map(([component, member]) => memberService(context, component, member)),
      roleService(context, 'writer'),
      roleService(context, 'replica'),
    ];
    const addresses = new Map<string, string>();
    let missing = 0;
    for (const service of wanted) {
      const name = service.metadata!.name!;
      const existing =
        this.#options.services.get(name, context.namespace) ??
        (await this.#options.api.readService(context.namespace, name));
      if (existing === undefined) {
        await this.#create(() => this.#options.api.createService(context.namespace, service));
        missing++;
        continue;
      }
      const ip = existing.spec?.clusterIP;
      if (ip === undefined || ip === '' || ip === 'None') missing++;
      const member = service.metadata!.labels?.[LABELS.member];
      if (member !== undefined && ip !== undefined) addresses.set(member, ip);
      if (name === readWriteServiceName(context.name) && ip !== undefined)
        control.endpoints.readWrite = `${ip}:${PORTS.enginePg}`;
      if (name === readOnlyServiceName(context.name) && ip !== undefined)
        control.endpoints.readOnly = `${ip}:${PORTS.enginePg}`;
    }
    control.addresses = addresses;
    return missing === 0 ? proceed : stopAndRequeue(WAIT_MS);
  }

  async #ensureClaims(context: ClusterContext): Promise<Step> {
    const members: [Parameters<typeof dataClaim>[1], string][] = [
      ...context.topology.storage.map((node) => ['storage', node.nodeId] as ['storage', string]),
      ...context.topology.engines.map((engine) => ['engine', engine.name] as ['engine', string]),
      ...(context.spec.backup.objectStore.kind === 'embedded'
        ? [['object-store', OBJECT_STORE_MEMBER] as ['object-store', string]]
        : []),
    ];
    for (const [component, member] of members) {
      const name = dataClaimName(context.name, member);
      if (this.#options.claims.get(name, context.namespace) !== undefined) continue;
      if ((await this.#options.api.readClaim(context.namespace, name)) !== undefined) continue;
      await this.#create(() =>
        this.#options.api.createClaim(context.namespace, dataClaim(context, component, member)),
      );
    }
    return proceed;
  }

  async #ensurePoliciesAndVolume(context: ClusterContext): Promise<Step> {
    const api = this.#options.api;
    for (const budget of disruptionBudgets(context))
      if ((await api.readPdb(context.namespace, budget.metadata!.name!)) === undefined)
        await this.#create(() => api.createPdb(context.namespace, budget));
    for (const policy of networkPolicies(context))
      if ((await api.readNetworkPolicy(context.namespace, policy.metadata!.name!)) === undefined)
        await this.#create(() => api.createNetworkPolicy(context.namespace, policy));
    if ((await api.getVolume(context.namespace, storageVolumeName(context.name))) === undefined) {
      const volume = storageVolume(context, context.spec);
      await this.#create(() =>
        api.createVolume(context.namespace, {
          ...volume,
          metadata: { ...volume.metadata, finalizers: [FINALIZER] },
        } as unknown as CustomObject),
      );
    }
    return proceed;
  }

  /** The object store and storage pods; engines are the control loop's (failover decides roles). */
  async #ensureDataPods(context: ClusterContext, control: ClusterControl): Promise<Step> {
    const podOf = (member: string) =>
      this.#options.pods.get(memberObjectName(context.name, member), context.namespace);
    if (context.spec.backup.objectStore.kind === 'embedded') {
      const pod = podOf(OBJECT_STORE_MEMBER);
      if (pod === undefined) await control.createMemberPod(OBJECT_STORE_MEMBER, objectStorePod(context));
      else if (podTerminated(pod))
        await this.#options.api.deletePod(context.namespace, pod.metadata!.name!, 0);
    }
    for (const node of context.topology.storage) {
      const pod = podOf(node.nodeId);
      if (pod === undefined) {
        const version = control.versionFor(node.nodeId);
        if (control.hasServed)
          control.note(
            'Normal',
            'RecreatingStoragePod',
            `storage pod for ${node.nodeId} is gone; recreating it on its volume ${dataClaimName(context.name, node.nodeId)}`,
          );
        await control.createMemberPod(
          node.nodeId,
          storagePod(context, node.nodeId, version, control.addresses),
        );
      } else if (podTerminated(pod) && pod.metadata?.deletionTimestamp === undefined) {
        await this.#options.api.deletePod(context.namespace, pod.metadata!.name!, 0);
      }
    }
    // A fresh cluster: the writer recovers the volume, which needs the storage fleet up first.
    if (!control.hasServed) {
      const notReady = context.topology.storage.filter((node) => {
        const pod = podOf(node.nodeId);
        return pod === undefined || !podReady(pod);
      });
      if (notReady.length > 0) {
        control.waiting = `waiting for storage node(s) ${notReady.map((node) => node.nodeId).join(', ')} to be ready`;
        return stopAndRequeue(CONTROL_INTERVAL_MS);
      }
    }
    return proceed;
  }

  /** Creates an object; one that already exists (our cache was behind) is fine. */
  async #create(call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      if (statusCode(error) === 409) return;
      throw error;
    }
  }

  async #event(
    cluster: { namespace: string; name: string; uid: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    try {
      await this.#options.api.event(cluster, type, reason, message);
    } catch (error) {
      this.#options.log(
        `${cluster.namespace}/${cluster.name}: recording event ${reason}: ${apiMessage(error)}`,
      );
    }
  }

  async #writeStatus(object: CustomObject, control: ClusterControl, generation: number): Promise<void> {
    const { phase, conditions } = conditionsOf(control.health());
    const previous = (object.status?.conditions as Condition[] | undefined) ?? [];
    const merged = mergeConditions(
      previous,
      conditions,
      new Date(this.#options.nowMs()).toISOString(),
      generation,
    );
    const ready = merged.find((condition) => condition.type === 'Ready');
    const previousReady = previous.find((condition) => condition.type === 'Ready');
    if (ready?.status !== previousReady?.status)
      control.note(
        ready?.status === 'True' ? 'Normal' : 'Warning',
        ready?.status === 'True' ? 'Ready' : 'NotReady',
        ready?.message ?? '',
      );
    await control.flushEvents();
    await this.#patchStatusIfChanged(object, {
      ...control.statusFields(),
      observedGeneration: generation,
      conditions: merged,
      phase,
    });
  }

  async #patchStatusIfChanged(object: CustomObject, status: Record<string, unknown>): Promise<void> {
    const previous = object.status ?? {};
    const changed = Object.entries(status).some(
      ([field, value]) => JSON.stringify(previous[field]) !== JSON.stringify(value),
    );
    if (!changed) return;
    const { namespace, name } = refOf(object);
    await this.#options.api.patchClusterStatus(
      namespace,
      name,
      status,
      object.metadata?.resourceVersion ?? '',
    );
  }

  // -- deletion ------------------------------------------------------------------------------------

  /**
   * Engines first (they drain commits to storage), then storage and the object store; once no pod is
   * left: Services, budgets, policies, PVCs, the Secret and the StorageVolume; then the finalizer goes
   * and the API server removes the cluster.
   */
  async #delete(key: string, object: CustomObject): Promise<ReconcileResult> {
    const { namespace, name, uid } = refOf(object);
    if (!(object.metadata?.finalizers ?? []).includes(FINALIZER)) return { requeueAfterMs: undefined };
    const api = this.#options.api;
    const selector = (component?: string) =>
      `${LABELS.cluster}=${name},${LABELS.managedBy}=${MANAGER}${component === undefined ? '' : `,${LABELS.component}=${component}`}`;
    for (const component of ['engine', undefined] as const) {
      const pods = await api.listOwnedNames(namespace, 'pods', selector(component));
      if (pods.length > 0) {
        for (const pod of pods) await api.deleteOwned(namespace, 'pods', pod);
        this.#options.log(
          `${namespace}/${name}: deleting: waiting for ${pods.length} pod(s) to stop: ${pods.join(', ')}`,
        );
        return { requeueAfterMs: WAIT_MS };
      }
    }
    const kinds: OwnedKind[] = ['services', 'pdbs', 'networkPolicies', 'claims', 'secrets'];
    for (const kind of kinds)
      for (const owned of await api.listOwnedNames(namespace, kind, selector()))
        await api.deleteOwned(namespace, kind, owned);
    await api.deleteVolume(namespace, storageVolumeName(name));
    await this.#event(
      { namespace, name, uid },
      'Normal',
      'Deleted',
      'every pod, Service, PVC, Secret and the StorageVolume of the cluster are deleted',
    );
    await api.patchClusterMetadata(namespace, name, {
      finalizers: (object.metadata?.finalizers ?? []).filter((finalizer) => finalizer !== FINALIZER),
      resourceVersion: object.metadata?.resourceVersion,
    });
    this.#options.log(`${namespace}/${name}: deleted; finalizer removed`);
    this.#controls.delete(key);
    this.#options.metrics?.removeCluster({ cluster: name, namespace });
    return { requeueAfterMs: undefined };
  }
}

export function clusterKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function refOf(object: CustomObject): { namespace: string; name: string; uid: string } {
  return {
    namespace: object.metadata?.namespace ?? 'default',
    name: object.metadata?.name ?? '',
    uid: object.metadata?.uid ?? '',
  };
}

/**
 * The document `validateClusterSpec` reads: apiVersion, kind, metadata.name and the spec. Server-set
 * metadata (uid, resourceVersion, finalizers…) is not the user's to validate.
 */
export function specDocument(object: CustomObject): unknown {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: object.metadata?.name },
    spec: object.spec,
  };
}
