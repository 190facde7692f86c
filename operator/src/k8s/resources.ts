/**
 * The objects a DatabaseCluster owns, as pure functions of its spec (STYLE.md §3): what the
 * reconciler creates and compares against. Nothing here talks to the API server.
 *
 * Every object carries the contract's labels and an ownerReference to the cluster (so a cascading
 * delete would remove them even without the operator; the finalizer makes the order explicit).
 * Data pods are bare pods, not StatefulSets: the operator decides which member runs where, with
 * which role and version, and recreates a lost storage pod on its own PVC.
 */

import { createHash } from 'node:crypto';
import type {
  V1Container,
  V1EnvVar,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1ObjectMeta,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Probe,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { COPIES_PER_ZONE, DEFAULT_TRANSPORT_AUTH_MODE } from '@northlight/protocol';
import {
  type ClusterSpec,
  DEFAULT_STAGING_DELAY_MS,
  formatDurationMs,
  formatSizeBytes,
} from '../core/cluster-spec.js';
import type { EngineRole } from '../core/engine-plan.js';
import type { Topology } from '../core/topology.js';
import {
  ANNOTATIONS,
  API_VERSION,
  APP_NAME,
  COMMANDS,
  type Component,
  DATA_MOUNT_PATH,
  DATABASE_CLUSTER,
  dataClaimName,
  ENGINE_TLS_MOUNT_PATH,
  enginePdbName,
  INTERNAL_SECRET_KEY,
  image,
  internalSecretName,
  LABELS,
  MANAGER,
  memberObjectName,
  OPERATOR_COMPONENT,
  PG_SECRET_KEYS,
  PG_USER,
  POD_IP_ENV,
  PORTS,
  pgSecretName,
  readOnlyServiceName,
  readWriteServiceName,
  STORAGE_VOLUME,
  storagePdbName,
  storageVolumeName,
  TLS_SECRET_KEYS,
  ZONE_LABEL,
} from './contract.js';

/** The member name of the embedded object store (as on the local platform). */
export const OBJECT_STORE_MEMBER = 'object-store';
/** The embedded object store's bucket and fixed credentials (s3rver accepts only these). */
export const EMBEDDED_S3_BUCKET = 'northlight-backups';
export const EMBEDDED_S3_KEY = 'S3RVER';
/** On the PVC: the segment size its data was written with (a change is refused). */
export const SEGMENT_SIZE_ANNOTATION = 'northlight.dev/segment-size-bytes';
/** The claim of an engine or the object store (the storage nodes' claims come from the spec). */
export const DEFAULT_SMALL_CLAIM_SIZE = '1Gi';
/** How long a deleted data pod may drain before SIGKILL. */
export const TERMINATION_GRACE_SECONDS = 30;
const PAGE_SIZE_BYTES = 4_096;

/** The cluster object as the reconciler knows it. */
export interface ClusterRef {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

export interface ClusterContext extends ClusterRef {
  readonly spec: ClusterSpec;
  readonly topology: Topology;
}

export function ownerReference(cluster: ClusterRef): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: DATABASE_CLUSTER.kind,
    name: cluster.name,
    uid: cluster.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function clusterLabels(cluster: string): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.instance]: cluster,
    [LABELS.managedBy]: MANAGER,
    [LABELS.cluster]: cluster,
  };
}

export function memberLabels(cluster: string, component: Component, member: string): Record<string, string> {
  return { ...clusterLabels(cluster), [LABELS.component]: component, [LABELS.member]: member };
}

function metadata(cluster: ClusterRef, name: string, labels: Record<string, string>): V1ObjectMeta {
  return { name, namespace: cluster.namespace, labels, ownerReferences: [ownerReference(cluster)] };
}

// -- the Secret, claims and Services --------------------------------------------------------------

export function pgSecret(cluster: ClusterRef, password: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(cluster, pgSecretName(cluster.name), clusterLabels(cluster.name)),
    type: 'kubernetes.io/basic-auth',
    stringData: { [PG_SECRET_KEYS.username]: PG_USER, [PG_SECRET_KEYS.password]: password },
  };
}

export function internalSecret(cluster: ClusterRef, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(cluster, internalSecretName(cluster.name), clusterLabels(cluster.name)),
    type: 'Opaque',
    stringData: { [INTERNAL_SECRET_KEY]: token },
  };
}

export function dataClaim(
  context: ClusterContext,
  component: Component,
  member: string,
): V1PersistentVolumeClaim {
  // Storage nodes get the spec's claim; engines and the object store keep little (epoch file, volume list).
  const claim = component === 'storage' ? context.spec.storage.volumeClaim : undefined;
  const size = claim === undefined ? DEFAULT_SMALL_CLAIM_SIZE : String(claim.sizeBytes);
  const labels = memberLabels(context.name, component, member);
  const zone = context.topology.storage.find((node) => node.nodeId === member)?.zone;
  if (zone !== undefined) labels[LABELS.zone] = zone;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      ...metadata(context, dataClaimName(context.name, member), labels),
      annotations: { [SEGMENT_SIZE_ANNOTATION]: String(context.spec.storage.segmentSizeBytes) },
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(claim?.storageClassName === undefined ? {} : { storageClassName: claim.storageClassName }),
    },
  };
}

/** One ClusterIP Service per member: a stable address for peers and engines across pod restarts. */
export function memberService(cluster: ClusterRef, component: Component, member: string): V1Service {
  const ports =
    component === 'storage'
      ? [
          { name: 'storage', port: PORTS.storage, targetPort: PORTS.storage },
          { name: 'admin', port: PORTS.storageAdmin, targetPort: PORTS.storageAdmin },
        ]
      : component === 'engine'
        ? [
            { name: 'http', port: PORTS.engineHttp, targetPort: PORTS.engineHttp },
            { name: 'postgres', port: PORTS.enginePg, targetPort: PORTS.enginePg },
          ]
        : [{ name: 's3', port: PORTS.objectStore, targetPort: PORTS.objectStore }];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(
      cluster,
      memberObjectName(cluster.name, member),
      memberLabels(cluster.name, component, member),
    ),
    spec: {
      type: 'ClusterIP',
      selector: { [LABELS.cluster]: cluster.name, [LABELS.member]: member },
      ports: ports.map((port) => ({ ...port, protocol: 'TCP' })),
    },
  };
}

/** `<name>-rw` selects the pod labelled role=writer; `<name>-ro` the replicas. */
export function roleService(cluster: ClusterRef, role: EngineRole): V1Service {
  const name = role === 'writer' ? readWriteServiceName(cluster.name) : readOnlyServiceName(cluster.name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(cluster, name, { ...clusterLabels(cluster.name), [LABELS.component]: 'engine' }),
    spec: {
      type: 'ClusterIP',
      selector: { [LABELS.cluster]: cluster.name, [LABELS.component]: 'engine', [LABELS.role]: role },
      ports: [
        { name: 'postgres', port: PORTS.enginePg, targetPort: PORTS.enginePg, protocol: 'TCP' },
        { name: 'http', port: PORTS.engineHttp, targetPort: PORTS.engineHttp, protocol: 'TCP' },
      ],
    },
  };
}

// -- pods ----------------------------------------------------------------------------------------

/** Addresses of the members' Services (ClusterIPs), by member name. */
export type ServiceAddresses = ReadonlyMap<string, string>;

const podIpEnv: V1EnvVar = { name: POD_IP_ENV, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } };

/**
 * The engine settings a pod is made from besides its version, as one annotation value; undefined for
 * the defaults, so that pods made before the annotation existed match a spec that sets nothing. A pod
 * whose annotation differs is recreated by the rolling upgrade (k8s/cluster-control.ts).
 */
export function engineSettingsOf(spec: ClusterContext['spec']): string | undefined {
  return settingsValue([
    ...(spec.engine.tls === undefined ? [] : [`tls=${spec.engine.tls.secretName}`]),
    ...(spec.engine.transactions === 'serial' ? [] : [`transactions=${spec.engine.transactions}`]),
    ...commonSettings(spec, 'engine'),
  ]);
}

/** The same for a storage node's pod (`ANNOTATIONS.storageSettings`): recreated zone by zone. */
export function storageSettingsOf(spec: ClusterContext['spec']): string | undefined {
  return settingsValue([
    ...(spec.backup.stagingDelayMs === DEFAULT_STAGING_DELAY_MS
      ? []
      : [`stagingDelay=${formatDurationMs(spec.backup.stagingDelayMs)}`]),
    ...commonSettings(spec, 'storage'),
  ]);
}

function settingsValue(settings: readonly string[]): string | undefined {
  return settings.length === 0 ? undefined : settings.join(',');
}

/**
 * What storage and engine pods share: the transport's authentication, and what only a new pod takes
 * (requests and limits, node selector, tolerations, priority class) as a digest, so that a change of
 * any of them reaches running pods in the upgrade's safe order. The template's labels and
 * annotations are left out: they do not change what runs. Keys and tolerations count in any order;
 * quantities count as written (`1Gi` and `1024Mi` are two digests, so rewriting one as the other
 * recreates the pods).
 */
function commonSettings(spec: ClusterContext['spec'], component: 'storage' | 'engine'): string[] {
  const settings: string[] = [];
  if (spec.security.transportAuthentication !== DEFAULT_TRANSPORT_AUTH_MODE)
    settings.push(`transportAuthentication=${spec.security.transportAuthentication}`);
  const { requests, limits } = spec.resources[component];
  const { nodeSelector, tolerations, priorityClassName } = spec.podTemplate;
  const pod = {
    ...(Object.keys(requests).length === 0 ? {} : { requests: sortedEntries(requests) }),
    ...(Object.keys(limits).length === 0 ? {} : { limits: sortedEntries(limits) }),
    ...(Object.keys(nodeSelector).length === 0 ? {} : { nodeSelector: sortedEntries(nodeSelector) }),
    // In any order: the same tolerations written in another order are the same pod.
    ...(tolerations.length === 0
      ? {}
      : { tolerations: tolerations.map((item) => JSON.stringify(sortedEntries(item))).sort() }),
    ...(priorityClassName === undefined ? {} : { priorityClassName }),
  };
  if (Object.keys(pod).length > 0)
    settings.push(
      `pod=${createHash('sha256').update(JSON.stringify(pod)).digest('hex').slice(0, POD_DIGEST_HEX_CHARS)}`,
    );
  return settings;
}

/** 64 bits of SHA-256: enough that two different pod settings never look the same. */
const POD_DIGEST_HEX_CHARS = 16;

function sortedEntries(record: object): [string, unknown][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The transport's mode for a member's environment (`NORTHLIGHT_TRANSPORT_AUTH`, `NL_ENGINE_TRANSPORT_AUTH`). */
function transportAuthEnv(spec: ClusterContext['spec'], name: string): V1EnvVar {
  return { name, value: spec.security.transportAuthentication };
}

/** Extra volumes and mounts of a data pod (the engines' TLS Secret). */
interface PodVolumes {
  readonly volumes: readonly V1Volume[];
  readonly mounts: readonly V1VolumeMount[];
  readonly annotations: Readonly<Record<string, string>>;
}

const NO_VOLUMES: PodVolumes = { volumes: [], mounts: [], annotations: {} };

/** A storage pod's extras: only the settings annotation, when the spec sets something. */
function storageVolumes(spec: ClusterContext['spec']): PodVolumes {
  const settings = storageSettingsOf(spec);
  return settings === undefined
    ? NO_VOLUMES
    : { ...NO_VOLUMES, annotations: { [ANNOTATIONS.storageSettings]: settings } };
}

function dataPod(
  context: ClusterContext,
  component: Component,
  member: string,
  version: string,
  container: V1Container,
  extraLabels: Record<string, string>,
  extra: PodVolumes = NO_VOLUMES,
): V1Pod {
  const template = context.spec.podTemplate;
  // The operator's labels win over the template's: a selector cannot be broken from the spec.
  const labels = { ...template.labels, ...memberLabels(context.name, component, member), ...extraLabels };
  labels[LABELS.version] = version;
  const resources =
    component === 'storage' || component === 'engine' ? context.spec.resources[component] : undefined;
  const hasResources =
    resources !== undefined &&
    (Object.keys(resources.requests).length > 0 || Object.keys(resources.limits).length > 0);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...metadata(context, memberObjectName(context.name, member), labels),
      ...(Object.keys(template.annotations).length === 0 && Object.keys(extra.annotations).length === 0
        ? {}
        : { annotations: { ...template.annotations, ...extra.annotations } }),
    },
    spec: {
      restartPolicy: component === 'engine' ? 'Never' : 'Always',
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      ...(Object.keys(template.nodeSelector).length === 0
        ? {}
        : { nodeSelector: { ...template.nodeSelector } }),
      ...(template.tolerations.length === 0
        ? {}
        : { tolerations: template.tolerations.map((toleration) => ({ ...toleration })) as V1Toleration[] }),
      ...(template.priorityClassName === undefined ? {} : { priorityClassName: template.priorityClassName }),
      containers: [
        {
          ...container,
          image: image(version),
          ...(hasResources
            ? {
                resources: {
                  requests: { ...resources.requests },
                  limits: { ...resources.limits },
                } as V1ResourceRequirements,
              }
            : {}),
          volumeMounts: [{ name: 'data', mountPath: DATA_MOUNT_PATH }, ...extra.mounts],
        },
      ],
      volumes: [
        { name: 'data', persistentVolumeClaim: { claimName: dataClaimName(context.name, member) } },
        ...extra.volumes,
      ],
    },
  };
}

function httpReadiness(port: number): V1Probe {
  return { httpGet: { path: '/readyz', port }, periodSeconds: 1, failureThreshold: 3, timeoutSeconds: 1 };
}

function backupArgs(
  context: ClusterContext,
  addresses: ServiceAddresses,
): { args: string[]; env: V1EnvVar[] } {
  const store = context.spec.backup.objectStore;
  if (store.kind === 'embedded') {
    const host = addresses.get(OBJECT_STORE_MEMBER);
    return {
      args: [
        '--s3-endpoint',
        `http://${host}:${PORTS.objectStore}`,
        '--s3-bucket',
        EMBEDDED_S3_BUCKET,
        '--s3-access-key-id',
        EMBEDDED_S3_KEY,
        '--s3-prefix',
        `${context.name}/`,
        '--backup-max-delay-ms',
        String(context.spec.backup.stagingDelayMs),
      ],
      env: [{ name: 'NORTHLIGHT_S3_SECRET_ACCESS_KEY', value: EMBEDDED_S3_KEY }],
    };
  }
  if (store.kind === 's3') {
    const args = [
      ...(store.endpoint === undefined ? [] : ['--s3-endpoint', store.endpoint]),
      '--s3-bucket',
      store.bucket,
      '--s3-region',
      store.region,
      ...(store.prefix === '' ? [] : ['--s3-prefix', store.prefix]),
      '--backup-max-delay-ms',
      String(context.spec.backup.stagingDelayMs),
    ];
    return { args, env: [] };
  }
  return { args: [], env: [] };
}

/** A storage node's pod, pinned to its zone, with the same flags as the local platform's. */
export function storagePod(
  context: ClusterContext,
  nodeId: string,
  version: string,
  addresses: ServiceAddresses,
): V1Pod {
  const node = context.topology.storage.find((candidate) => candidate.nodeId === nodeId);
  if (node === undefined) throw new Error(`no storage node ${nodeId} in the topology`);
  const peers = context.topology.storage
    .filter((other) => other.nodeId !== nodeId)
    .map((other) => `${other.nodeId}=${addresses.get(other.nodeId)}:${PORTS.storage}`)
    .join(',');
  const backup = backupArgs(context, addresses);
  const pod = dataPod(
    context,
    'storage',
    nodeId,
    version,
    {
      name: 'storage-node',
      command: [COMMANDS.storageNode],
      args: [
        '--node-id',
        nodeId,
        '--zone',
        node.zone,
        '--data-dir',
        DATA_MOUNT_PATH,
        '--listen-host',
        `$(${POD_IP_ENV})`,
        '--port',
        String(PORTS.storage),
        '--admin-port',
        String(PORTS.storageAdmin),
        '--peers',
        peers,
        '--page-size-bytes',
        String(PAGE_SIZE_BYTES),
        '--segment-size-bytes',
        String(context.spec.storage.segmentSizeBytes),
        // The limit as the pod is created; a later change reaches it with the next hydrate request.
        '--hydration-bytes-per-second',
        String(context.spec.controlPlane.repairBandwidthPerNodeBytes),
        ...backup.args,
      ],
      env: [
        podIpEnv,
        { name: 'NORTHLIGHT_VERSION', value: version },
        // The admin API's bearer token and the transport's key (the engines hold the same).
        {
          name: 'NORTHLIGHT_INTERNAL_TOKEN',
          valueFrom: { secretKeyRef: { name: internalSecretName(context.name), key: INTERNAL_SECRET_KEY } },
        },
        transportAuthEnv(context.spec, 'NORTHLIGHT_TRANSPORT_AUTH'),
        ...backup.env,
      ],
      ports: [
        { name: 'storage', containerPort: PORTS.storage },
        { name: 'admin', containerPort: PORTS.storageAdmin },
      ],
      readinessProbe: httpReadiness(PORTS.storageAdmin),
    },
    { [LABELS.zone]: node.zone },
    storageVolumes(context.spec),
  );
  pod.spec!.affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: [node.zone] }] }],
      },
    },
  };
  return pod;
}

export interface EnginePodInput {
  readonly name: string;
  readonly role: EngineRole;
  readonly version: string;
  /** The writer's name: replicas follow it first, then every other engine. */
  readonly writer: string;
  readonly addresses: ServiceAddresses;
  /** The operator's control API, which places new PGs (`--placement-url`). */
  readonly controlUrl: string;
}

/** An engine's pod: role and promotion tier as labels (the -rw/-ro Services select by role). */
export function enginePod(context: ClusterContext, input: EnginePodInput): V1Pod {
  const engine = context.topology.engines.find((candidate) => candidate.name === input.name);
  if (engine === undefined) throw new Error(`no engine ${input.name} in the topology`);
  const storage = context.topology.storage
    .map(
      (node) =>
        `${node.nodeId}=${input.addresses.get(node.nodeId)}:${PORTS.storage}/${PORTS.storageAdmin}@${node.zone}`,
    )
    .join(',');
  const roleArgs: string[] = [];
  if (input.role === 'replica') {
    const others = context.topology.engines.filter(
      (other) => other.name !== input.name && other.name !== input.writer,
    );
    const urls = [input.writer, ...others.map((other) => other.name)].map(
      (name) => `http://${input.addresses.get(name)}:${PORTS.engineHttp}`,
    );
    roleArgs.push('--role', 'replica', '--writer-url', urls.join(','));
  }
  const tls = context.spec.engine.tls;
  const settings = engineSettingsOf(context.spec);
  const annotations = settings === undefined ? {} : { [ANNOTATIONS.engineSettings]: settings };
  const extra: PodVolumes =
    tls === undefined
      ? { ...NO_VOLUMES, annotations }
      : {
          // The kubelet refreshes a Secret volume in place when the Secret changes (cert-manager's
          // renewals); the engine reloads the files when they change.
          volumes: [{ name: 'tls', secret: { secretName: tls.secretName, defaultMode: 0o440 } }],
          mounts: [{ name: 'tls', mountPath: ENGINE_TLS_MOUNT_PATH, readOnly: true }],
          annotations,
        };
  const tlsArgs =
    tls === undefined
      ? []
      : [
          '--pg-tls-cert',
          `${ENGINE_TLS_MOUNT_PATH}/${TLS_SECRET_KEYS.cert}`,
          '--pg-tls-key',
          `${ENGINE_TLS_MOUNT_PATH}/${TLS_SECRET_KEYS.key}`,
        ];
  return dataPod(
    context,
    'engine',
    input.name,
    input.version,
    {
      name: 'engine',
      command: [COMMANDS.engine],
      args: [
        '--node-id',
        input.name,
        '--data-dir',
        DATA_MOUNT_PATH,
        '--listen-host',
        `$(${POD_IP_ENV})`,
        '--http-port',
        String(PORTS.engineHttp),
        '--pg-port',
        String(PORTS.enginePg),
        '--storage',
        storage,
        '--segment-size-bytes',
        String(context.spec.storage.segmentSizeBytes),
        '--cache-pages',
        String(Math.max(16, Math.floor(context.spec.engine.cacheSizeBytes / PAGE_SIZE_BYTES))),
        '--lsn-allocation-limit',
        String(context.spec.engine.lsnAllocationLimit),
        '--pg-transactions',
        context.spec.engine.transactions,
        '--placement-url',
        input.controlUrl,
        ...roleArgs,
        ...tlsArgs,
      ],
      env: [
        podIpEnv,
        { name: 'NORTHLIGHT_VERSION', value: input.version },
        // Through the environment, not argv: other users of a node can read a process's argv.
        { name: 'NL_ENGINE_PG_USER', value: PG_USER },
        {
          name: 'NL_ENGINE_PG_PASSWORD',
          valueFrom: { secretKeyRef: { name: pgSecretName(context.name), key: PG_SECRET_KEYS.password } },
        },
        {
          name: 'NL_ENGINE_INTERNAL_TOKEN',
          valueFrom: { secretKeyRef: { name: internalSecretName(context.name), key: INTERNAL_SECRET_KEY } },
        },
        transportAuthEnv(context.spec, 'NL_ENGINE_TRANSPORT_AUTH'),
      ],
      ports: [
        { name: 'http', containerPort: PORTS.engineHttp },
        { name: 'postgres', containerPort: PORTS.enginePg },
      ],
      readinessProbe: httpReadiness(PORTS.engineHttp),
    },
    { [LABELS.role]: input.role, [LABELS.promotionTier]: String(engine.promotionTier) },
    extra,
  );
}

/** The embedded S3-compatible store (s3rver) for `backup.objectStore: embedded`. */
export function objectStorePod(context: ClusterContext): V1Pod {
  return dataPod(
    context,
    'object-store',
    OBJECT_STORE_MEMBER,
    context.spec.storage.version,
    {
      name: 'object-store',
      command: [COMMANDS.objectStore],
      // operator/src/io/embedded-object-store.ts: s3rver, each object synced before its PUT is answered.
      args: [
        '--address',
        `$(${POD_IP_ENV})`,
        '--port',
        String(PORTS.objectStore),
        '--directory',
        DATA_MOUNT_PATH,
        '--bucket',
        EMBEDDED_S3_BUCKET,
      ],
      env: [podIpEnv],
      ports: [{ name: 's3', containerPort: PORTS.objectStore }],
      readinessProbe: { tcpSocket: { port: PORTS.objectStore }, periodSeconds: 1 },
    },
    {},
  );
}

// -- disruption budgets and network policies ------------------------------------------------------

/**
 * Storage: at most COPIES_PER_ZONE (2) storage pods evicted at once. Placement puts at most one
 * segment of a PG on a node and two per zone, so any two nodes down cost a PG at most two of its six
 * copies — exactly what losing a whole zone costs it — and the write quorum (4/6) holds. A PDB cannot
 * say "only within one zone", so this is the zone-loss budget expressed in nodes: a drain may take a
 * zone's worth of quorum at a time, never more.
 * Engines: one at a time, so a drain never takes the writer and its replicas together.
 */
export function disruptionBudgets(cluster: ClusterRef): V1PodDisruptionBudget[] {
  const budget = (name: string, component: Component, maxUnavailable: number): V1PodDisruptionBudget => ({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(cluster, name, { ...clusterLabels(cluster.name), [LABELS.component]: component }),
    spec: {
      maxUnavailable,
      selector: { matchLabels: { [LABELS.cluster]: cluster.name, [LABELS.component]: component } },
    },
  });
  return [
    budget(storagePdbName(cluster.name), 'storage', COPIES_PER_ZONE),
    budget(enginePdbName(cluster.name), 'engine', 1),
  ];
}

function componentSelector(cluster: string, component: Component) {
  return { matchLabels: { [LABELS.cluster]: cluster, [LABELS.component]: component } };
}
/** Operator pods, in any namespace (the chart labels its Deployment's pods so). */
const operatorPeer = {
  namespaceSelector: {},
  podSelector: { matchLabels: { [LABELS.name]: APP_NAME, [LABELS.component]: OPERATOR_COMPONENT } },
};

/**
 * The paper's three networks: clients reach engines only (SQL and HTTP); engines reach storage's
 * data port; storage nodes reach each other (gossip, hydration) and the object store; the operator
 * reaches every admin/HTTP port. Everything else into these pods is denied once a policy selects them.
 */
export function networkPolicies(cluster: ClusterRef): V1NetworkPolicy[] {
  const policy = (
    suffix: string,
    component: Component,
    ingress: V1NetworkPolicyIngressRule[],
  ): V1NetworkPolicy => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(cluster, `${cluster.name}-${suffix}`, {
      ...clusterLabels(cluster.name),
      [LABELS.component]: component,
    }),
    spec: { podSelector: componentSelector(cluster.name, component), policyTypes: ['Ingress'], ingress },
  });
  const tcp = (port: number) => ({ protocol: 'TCP', port });
  const engines = { podSelector: componentSelector(cluster.name, 'engine') };
  const storage = { podSelector: componentSelector(cluster.name, 'storage') };
  return [
    // Clients (any pod, any namespace) → engines' SQL ports; the writer → replicas' redo stream is HTTP too.
    policy('clients-to-engines', 'engine', [{ ports: [tcp(PORTS.enginePg), tcp(PORTS.engineHttp)] }]),
    policy('engines-to-storage', 'storage', [
      { _from: [engines, storage], ports: [tcp(PORTS.storage)] },
      { _from: [engines, storage, operatorPeer], ports: [tcp(PORTS.storageAdmin)] },
    ]),
    policy('storage-to-object-store', 'object-store', [
      { _from: [storage, operatorPeer], ports: [tcp(PORTS.objectStore)] },
    ]),
  ];
}

// -- the StorageVolume ----------------------------------------------------------------------------

export interface VolumeSummary {
  readonly pgCount: number;
  readonly healthyPgs: number;
  readonly volumeEpoch: string | undefined;
  readonly membershipEpochMax: string | undefined;
  readonly volumeSizeBytes: number;
  readonly vdl: string | undefined;
}

export function storageVolume(cluster: ClusterRef, spec: ClusterSpec) {
  return {
    apiVersion: API_VERSION,
    kind: STORAGE_VOLUME.kind,
    metadata: metadata(cluster, storageVolumeName(cluster.name), clusterLabels(cluster.name)),
    spec: { cluster: cluster.name, segmentSize: formatSizeBytes(spec.storage.segmentSizeBytes) },
  };
}
