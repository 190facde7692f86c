/**
 * The operator's calls to the Kubernetes API through @kubernetes/client-node 1.4.0, in one place:
 * typed create/get/patch/delete for what a DatabaseCluster owns, the custom resources, Events and
 * the leader Lease. Expected API failures are returned or classified (404 → undefined,
 * 409 → ConflictError, 422 → InvalidError), never swallowed silently.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1NetworkPolicy,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { DATABASE_CLUSTER, GROUP, LEADER_LEASE_NAME, MANAGER, STORAGE_VOLUME, VERSION } from './contract.js';
import type { LeaseRecord, LeaseStore, StoredLease } from './leader-election.js';

/** A write refused because the object changed since it was read (HTTP 409): requeue and read again. */
export class ConflictError extends Error {
  readonly code = 'NL_K8S_CONFLICT';
}

export function statusCode(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code = (error as { code?: unknown; statusCode?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The Status message of an API error, for logs and conditions. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = typeof error.body === 'string' ? safeJson(error.body) : error.body;
    const message = (body as { message?: unknown } | undefined)?.message;
    return `HTTP ${error.code}${typeof message === 'string' ? `: ${message}` : ''}`;
  }
  return (error as Error).message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
}

async function conflictAware<T>(call: Promise<T>, what: string): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (statusCode(error) === 409) throw new ConflictError(`${what}: ${apiMessage(error)}`);
    throw error;
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A custom object as read through CustomObjectsApi (plain JSON). */
export interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export class KubeApi {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly policy: PolicyV1Api;
  readonly networking: NetworkingV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(readonly config: KubeConfig) {
    this.core = config.makeApiClient(CoreV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.policy = config.makeApiClient(PolicyV1Api);
    this.networking = config.makeApiClient(NetworkingV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
  }

  // -- DatabaseClusters and StorageVolumes ---------------------------------------------------------

  listClusters(
    namespace: string,
  ): Promise<{ items: CustomObject[]; metadata?: { resourceVersion?: string } }> {
    const base = { group: GROUP, version: VERSION, plural: DATABASE_CLUSTER.plural };
    return (
      namespace === ''
        ? this.custom.listClusterCustomObject(base)
        : this.custom.listNamespacedCustomObject({ ...base, namespace })
    ) as Promise<{ items: CustomObject[] }>;
  }

  getCluster(namespace: string, name: string): Promise<CustomObject | undefined> {
    return orUndefined(
      this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: DATABASE_CLUSTER.plural,
        namespace,
        name,
      }),
    ) as Promise<CustomObject | undefined>;
  }

  /** A merge patch of metadata (finalizers, annotations) guarded by resourceVersion: 409 if it moved. */
  patchClusterMetadata(
    namespace: string,
    name: string,
    metadata: Record<string, unknown>,
  ): Promise<CustomObject> {
    return conflictAware(
      this.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: DATABASE_CLUSTER.plural,
          namespace,
          name,
          body: { metadata },
        },
        mergePatch,
      ),
      `patch ${DATABASE_CLUSTER.singular} ${namespace}/${name}`,
    ) as Promise<CustomObject>;
  }

  patchClusterStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    resourceVersion: string,
  ): Promise<CustomObject> {
    return conflictAware(
      this.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: DATABASE_CLUSTER.plural,
          namespace,
          name,
          body: { metadata: { resourceVersion }, status },
        },
        mergePatch,
      ),
      `patch the status of ${DATABASE_CLUSTER.singular} ${namespace}/${name}`,
    ) as Promise<CustomObject>;
  }

  getVolume(namespace: string, name: string): Promise<CustomObject | undefined> {
    return orUndefined(
      this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: STORAGE_VOLUME.plural,
        namespace,
        name,
      }),
    ) as Promise<CustomObject | undefined>;
  }

  createVolume(namespace: string, body: CustomObject): Promise<unknown> {
    return this.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: STORAGE_VOLUME.plural,
      namespace,
      body,
    });
  }

  patchVolumeStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<unknown> {
    return this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: STORAGE_VOLUME.plural, namespace, name, body: { status } },
      mergePatch,
    );
  }

  /** Deletes the StorageVolume after dropping its finalizer (the operator put it there). */
  async deleteVolume(namespace: string, name: string): Promise<void> {
    const base = { group: GROUP, version: VERSION, plural: STORAGE_VOLUME.plural, namespace, name };
    const volume = (await this.getVolume(namespace, name)) as CustomObject | undefined;
    if (volume === undefined) return;
    if ((volume.metadata?.finalizers ?? []).length > 0)
      await orUndefined(
        this.custom.patchNamespacedCustomObject(
          { ...base, body: { metadata: { finalizers: null } } },
          mergePatch,
        ),
      );
    await orUndefined(this.custom.deleteNamespacedCustomObject(base));
  }

  // -- owned built-in objects ----------------------------------------------------------------------

  readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefined(this.core.readNamespacedSecret({ namespace, name }));
  }
  createSecret(namespace: string, body: V1Secret): Promise<V1Secret> {
    return this.core.createNamespacedSecret({ namespace, body });
  }
  readService(namespace: string, name: string): Promise<V1Service | undefined> {
    return orUndefined(this.core.readNamespacedService({ namespace, name }));
  }
  createService(namespace: string, body: V1Service): Promise<V1Service> {
    return this.core.createNamespacedService({ namespace, body });
  }
  readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return orUndefined(this.core.readNamespacedPersistentVolumeClaim({ namespace, name }));
  }
  createClaim(namespace: string, body: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    return this.core.createNamespacedPersistentVolumeClaim({ namespace, body });
  }
  createPod(namespace: string, body: V1Pod): Promise<V1Pod> {
    return this.core.createNamespacedPod({ namespace, body });
  }
  async deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<void> {
    await orUndefined(
      this.core.deleteNamespacedPod({
        namespace,
        name,
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      }),
    );
  }
  patchPodLabels(namespace: string, name: string, labels: Record<string, string>): Promise<V1Pod> {
    return this.core.patchNamespacedPod({ namespace, name, body: { metadata: { labels } } }, mergePatch);
  }
  readPdb(namespace: string, name: string): Promise<V1PodDisruptionBudget | undefined> {
    return orUndefined(this.policy.readNamespacedPodDisruptionBudget({ namespace, name }));
  }
  createPdb(namespace: string, body: V1PodDisruptionBudget): Promise<V1PodDisruptionBudget> {
    return this.policy.createNamespacedPodDisruptionBudget({ namespace, body });
  }
  readNetworkPolicy(namespace: string, name: string): Promise<V1NetworkPolicy | undefined> {
    return orUndefined(this.networking.readNamespacedNetworkPolicy({ namespace, name }));
  }
  createNetworkPolicy(namespace: string, body: V1NetworkPolicy): Promise<V1NetworkPolicy> {
    return this.networking.createNamespacedNetworkPolicy({ namespace, body });
  }

  /** Everything of `kind` labelled for this cluster, by name (for the deletion flow). */
  async listOwnedNames(namespace: string, kind: OwnedKind, labelSelector: string): Promise<string[]> {
    const names = (list: { items: { metadata?: { name?: string } }[] }) =>
      list.items.flatMap((item) => (item.metadata?.name === undefined ? [] : [item.metadata.name]));
    switch (kind) {
      case 'pods':
        return names(await this.core.listNamespacedPod({ namespace, labelSelector }));
      case 'services':
        return names(await this.core.listNamespacedService({ namespace, labelSelector }));
      case 'claims':
        return names(await this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }));
      case 'secrets':
        return names(await this.core.listNamespacedSecret({ namespace, labelSelector }));
      case 'pdbs':
        return names(await this.policy.listNamespacedPodDisruptionBudget({ namespace, labelSelector }));
      case 'networkPolicies':
        return names(await this.networking.listNamespacedNetworkPolicy({ namespace, labelSelector }));
    }
  }

  async deleteOwned(namespace: string, kind: OwnedKind, name: string): Promise<void> {
    const call = (() => {
      switch (kind) {
        case 'pods':
          return this.core.deleteNamespacedPod({ namespace, name });
        case 'services':
          return this.core.deleteNamespacedService({ namespace, name });
        case 'claims':
          return this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name });
        case 'secrets':
          return this.core.deleteNamespacedSecret({ namespace, name });
        case 'pdbs':
          return this.policy.deleteNamespacedPodDisruptionBudget({ namespace, name });
        case 'networkPolicies':
          return this.networking.deleteNamespacedNetworkPolicy({ namespace, name });
      }
    })();
    await orUndefined(call as Promise<unknown>);
  }

  /** A Kubernetes Event on the cluster object (kubectl describe shows them). Failures are only logged by the caller. */
  async event(
    cluster: { namespace: string; name: string; uid: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace: cluster.namespace,
      body: {
        metadata: { generateName: `${cluster.name}.`, namespace: cluster.namespace },
        involvedObject: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: DATABASE_CLUSTER.kind,
          name: cluster.name,
          namespace: cluster.namespace,
          uid: cluster.uid,
        },
        reason,
        message: message.slice(0, 1_024),
        type,
        source: { component: MANAGER },
        reportingComponent: MANAGER,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  leaseStore(namespace: string): LeaseStore {
    const name = LEADER_LEASE_NAME;
    const toRecord = (spec: Record<string, unknown> | undefined): LeaseRecord => ({
      holderIdentity: (spec?.holderIdentity as string | undefined) ?? undefined,
      leaseDurationSeconds: (spec?.leaseDurationSeconds as number | undefined) ?? 0,
      acquireTime: dateText(spec?.acquireTime),
      renewTime: dateText(spec?.renewTime),
      leaseTransitions: (spec?.leaseTransitions as number | undefined) ?? 0,
    });
    const toSpec = (record: LeaseRecord) => ({
      ...(record.holderIdentity === undefined ? {} : { holderIdentity: record.holderIdentity }),
      leaseDurationSeconds: record.leaseDurationSeconds,
      ...(record.acquireTime === undefined ? {} : { acquireTime: new Date(record.acquireTime) }),
      ...(record.renewTime === undefined ? {} : { renewTime: new Date(record.renewTime) }),
      leaseTransitions: record.leaseTransitions,
    });
    return {
      get: async (): Promise<StoredLease | undefined> => {
        const lease = await orUndefined(this.coordination.readNamespacedLease({ namespace, name }));
        if (lease === undefined) return undefined;
        return {
          record: toRecord(lease.spec as Record<string, unknown> | undefined),
          resourceVersion: lease.metadata?.resourceVersion ?? '',
        };
      },
      create: async (record) => {
        try {
          await this.coordination.createNamespacedLease({
            namespace,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: toSpec(record),
            },
          });
          return 'ok';
        } catch (error) {
          if (statusCode(error) === 409) return 'conflict';
          throw error;
        }
      },
      update: async (record, resourceVersion) => {
        try {
          await this.coordination.replaceNamespacedLease({
            namespace,
            name,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace, resourceVersion },
              spec: toSpec(record),
            },
          });
          return 'ok';
        } catch (error) {
          if (statusCode(error) === 409) return 'conflict';
          throw error;
        }
      },
    };
  }
}

export type OwnedKind = 'pods' | 'services' | 'claims' | 'secrets' | 'pdbs' | 'networkPolicies';

function dateText(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'string' ? value : undefined;
}
