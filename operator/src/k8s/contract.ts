/**
 * The Kubernetes contract of northlight: the names, labels, ports, paths and commands that the
 * operator's reconcilers, the Helm chart, the plain manifests, the container image and the test
 * stand-ins (the API server and the "kubelet" that runs pods as local processes) all agree on.
 * Change a value here and every one of them follows; nothing else may spell these strings.
 *
 * Pure constants and name functions (STYLE.md §2).
 */

export const GROUP = 'northlight.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const DATABASE_CLUSTER = {
  kind: 'DatabaseCluster',
  listKind: 'DatabaseClusterList',
  plural: 'databaseclusters',
  singular: 'databasecluster',
  shortNames: ['nldb'],
} as const;

export const STORAGE_VOLUME = {
  kind: 'StorageVolume',
  listKind: 'StorageVolumeList',
  plural: 'storagevolumes',
  singular: 'storagevolume',
  shortNames: ['nlvol'],
} as const;

/** Put on every DatabaseCluster and StorageVolume the operator manages; removed once cleanup is done. */
export const FINALIZER = 'northlight.dev/cleanup';

/** Status condition types of a DatabaseCluster (and, where they apply, of its StorageVolume). */
export const CONDITIONS = ['Ready', 'Degraded', 'Repairing', 'Upgrading', 'FailingOver'] as const;
export type ConditionType = (typeof CONDITIONS)[number];

/** Labels on every object the operator creates. */
export const LABELS = {
  name: 'app.kubernetes.io/name', // always APP_NAME
  instance: 'app.kubernetes.io/instance', // the cluster's name
  component: 'app.kubernetes.io/component', // 'storage' | 'engine' | 'object-store'
  managedBy: 'app.kubernetes.io/managed-by', // always MANAGER
  version: 'app.kubernetes.io/version',
  cluster: 'northlight.dev/cluster', // the cluster's name
  member: 'northlight.dev/member', // storage node id or engine instance name
  zone: 'northlight.dev/zone', // storage nodes: the spec's zone name
  role: 'northlight.dev/role', // engines: 'writer' | 'replica' (the operator moves it on failover)
  promotionTier: 'northlight.dev/promotion-tier',
} as const;
export const APP_NAME = 'northlight';
export const MANAGER = 'northlight-operator';
export type Component = 'storage' | 'engine' | 'object-store';

/** Well-known Kubernetes node label that storage and engine pods are pinned to by node affinity. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Requests from `kubectl northlight` to the operator, as annotations on the DatabaseCluster. */
export const ANNOTATIONS = {
  /** Value: the replica instance to promote in a planned switchover. */
  switchoverTo: 'northlight.dev/switchover-to',
  /** Value: a storage node id whose segments are re-replicated elsewhere in its zone (drain). */
  repairNode: 'northlight.dev/repair-node',
  /** Set by the operator on a request it has taken: '<annotation>=<value> at <ISO time>'. */
  lastRequest: 'northlight.dev/last-request',
  /**
   * On engine pods: the engine settings of the spec the pod was made from, besides its version
   * (`engineSettings`: TLS, transactions, the transport's authentication, the pod's resources and
   * placement). A pod whose value differs from the spec's is recreated by the rolling upgrade,
   * replicas first, then a switchover. Absent: the defaults.
   */
  engineSettings: 'northlight.dev/engine-settings',
  /**
   * On storage pods: the same for storage nodes (`storageSettings`: the transport's authentication and
   * the pod's resources and placement). A pod whose value differs is recreated by the rolling upgrade,
   * zone by zone, never more than one member of a PG at once.
   */
  storageSettings: 'northlight.dev/storage-settings',
} as const;

/** Where an engine pod mounts `spec.engine.tls.secretName` (its keys `tls.crt`, `tls.key`). */
export const ENGINE_TLS_MOUNT_PATH = '/etc/northlight/tls';

/** The one container image; its entry points are the commands below. */
export const IMAGE_REPOSITORY = 'ghcr.io/northlight-dev/northlight';
export function image(version: string): string {
  return `${IMAGE_REPOSITORY}:${version}`;
}

/** Entry points in the image (Dockerfile), and what the test kubelet maps each one to. */
export const COMMANDS = {
  storageNode: 'northlight-storage-node', // storage-node/src/main.ts
  engine: 'northlight-engine', // db-engine/src/main.ts
  operator: 'northlight-operator', // operator/src/k8s/main.ts
  objectStore: 'northlight-object-store', // s3rver, for spec.backup.objectStore: embedded
} as const;

/** Container ports. Every pod listens on its own IP ($(POD_IP)), so the numbers are fixed. */
export const PORTS = {
  storage: 7100, // the binary protocol (engines and peers)
  storageAdmin: 7101, // HTTP: /readyz, /metrics, /v1/status, repair
  engineHttp: 8080, // HTTP: SQL, /readyz, /metrics, /v1/status, admin
  enginePg: 5432, // the PostgreSQL wire protocol
  objectStore: 9000, // the embedded S3-compatible store
  operatorControl: 7400, // the operator's control API (placement for new PGs; status)
  operatorMetrics: 7401,
} as const;

/** Every data pod mounts its PersistentVolumeClaim here. */
export const DATA_MOUNT_PATH = '/var/lib/northlight';
/** The pod's IP, from the downward API (fieldRef status.podIP); processes listen on it. */
export const POD_IP_ENV = 'POD_IP';

/** The Secret the operator creates per cluster with the PostgreSQL credentials (keys below). */
export const PG_SECRET_KEYS = { username: 'username', password: 'password' } as const;
export const PG_USER = 'postgres';
/** The keys of a kubernetes.io/tls Secret (`spec.engine.tls.secretName`). */
export const TLS_SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key' } as const;
export const PG_DATABASE = 'northlight';

// -- names of the objects a cluster owns -------------------------------------------------------

/** Pod, per-member ClusterIP Service (a stable address across pod restarts) and PVC prefix. */
export function memberObjectName(cluster: string, member: string): string {
  return `${cluster}-${member}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}
export function dataClaimName(cluster: string, member: string): string {
  return `${memberObjectName(cluster, member)}-data`;
}
/** Read-write Service: selects the writer's pod. */
export function readWriteServiceName(cluster: string): string {
  return `${cluster}-rw`;
}
/** Read-only Service: selects the replicas' pods. */
export function readOnlyServiceName(cluster: string): string {
  return `${cluster}-ro`;
}
export function pgSecretName(cluster: string): string {
  return `${cluster}-app`;
}
/**
 * The Secret the operator creates per cluster with the internal token (key `INTERNAL_SECRET_KEY`): the
 * engines' internal HTTP routes (/v1/status, /v1/volume, /v1/replication/*, /v1/admin/*) take it as a
 * bearer token; the operator and the engines hold it, applications do not.
 */
export function internalSecretName(cluster: string): string {
  return `${cluster}-internal`;
}
export const INTERNAL_SECRET_KEY = 'token';
/** Optional Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for an `s3` object store. */
export function backupSecretName(cluster: string): string {
  return `${cluster}-backup`;
}
export function storagePdbName(cluster: string): string {
  return `${cluster}-storage`;
}
export function enginePdbName(cluster: string): string {
  return `${cluster}-engine`;
}
export function storageVolumeName(cluster: string): string {
  return cluster;
}
export const LEADER_LEASE_NAME = 'northlight-operator-leader';

/** `app.kubernetes.io/component` of the operator's own pods (the chart's Deployment); NetworkPolicies admit them. */
export const OPERATOR_COMPONENT = 'operator';
