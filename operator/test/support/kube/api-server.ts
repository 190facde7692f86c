/**
 * A Kubernetes API server stand-in for tests: plain HTTP on 127.0.0.1, in memory, speaking the
 * requests kubectl 1.31/1.32 and @kubernetes/client-node 1.4.0 make (shared/reference
 * infra-feasibility.md §7): discovery, OpenAPI v3, list/watch with resource versions, create, get,
 * update with optimistic concurrency, delete with finalizers, owner-reference garbage collection and
 * namespace termination, JSON/merge/apply patches, the status subresource and CRD validation.
 * README.md beside this file lists what is simplified.
 *
 * The same operations are offered in process (`create`, `get`, `list`, `update`, `remove`,
 * `watchType`) for the test "kubelet" in cluster.ts, which plays the node agents.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  deepEqual,
  deletePath,
  dottedPath,
  fieldsV1,
  isObject,
  type Json,
  type JsonObject,
  jsonPatch,
  leafPaths,
  mergePatch,
  PatchError,
  setPath,
  strategicMergePatch,
  valueAt,
} from './patches.js';
import {
  BUILT_IN_TYPES,
  documentHash,
  groupList,
  groupVersion,
  openApiDocument,
  qualifiedResource,
  type ResourceType,
  resourceList,
  storeKey,
  toTable,
  typesFromDefinition,
} from './resource-types.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { validateCustomResource } from './structural-schema.js';

export type KubeObject = JsonObject & { metadata: JsonObject };
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** How a type is named to the in-process API: its group and plural ('' for core). */
export interface TypeRef {
  group: string;
  plural: string;
}

export const CORE = {
  namespaces: { group: '', plural: 'namespaces' },
  pods: { group: '', plural: 'pods' },
  services: { group: '', plural: 'services' },
  endpoints: { group: '', plural: 'endpoints' },
  persistentVolumeClaims: { group: '', plural: 'persistentvolumeclaims' },
  secrets: { group: '', plural: 'secrets' },
  configMaps: { group: '', plural: 'configmaps' },
  events: { group: '', plural: 'events' },
  nodes: { group: '', plural: 'nodes' },
  customResourceDefinitions: { group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions' },
} as const satisfies Record<string, TypeRef>;

/** Watch events kept for resuming a watch from an older resourceVersion; older ones get 410 Expired. */
export const DEFAULT_MAX_RETAINED_EVENTS = 10_000;
/** Request bodies larger than this are refused (413). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Watches open at once (a limit on everything). */
const MAX_WATCHES = 1_000;
/** A page of a list is at most this long, whatever `limit` asks. */
const MAX_LIST_LIMIT = 10_000;
/** The finalizer of an owner waiting for its dependents (propagationPolicy Foreground). */
const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** How often a followed log (`kubectl logs -f`) looks for new output. */
const LOG_FOLLOW_POLL_MS = 200;
/** Guards the settle loop (GC, namespace and CRD cleanup) against a bug that would loop forever. */
const MAX_SETTLE_ROUNDS = 10_000;
const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** An error the server answers with a `kind: Status` body. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: JsonObject | undefined = undefined,
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

function notFound(type: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(type)} "${name}" not found`, {
    name,
    group: type.group,
    kind: type.plural,
  });
}

function conflict(type: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: type.group, kind: type.plural },
  );
}

function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}

/** DeleteOptions from the query and from the body (client-node sends the query, kubectl the body). */
function deleteOptionsFrom(query: URLSearchParams, body: JsonObject): DeleteOptions {
  const grace = query.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
  const policy = query.get('propagationPolicy') ?? body.propagationPolicy;
  return {
    ...(grace === undefined || grace === null ? {} : { gracePeriodSeconds: Number(grace) }),
    ...(policy === undefined || policy === null
      ? {}
      : { propagationPolicy: policy as NonNullable<DeleteOptions['propagationPolicy']> }),
    ...(isObject(body.preconditions)
      ? { preconditions: body.preconditions as NonNullable<DeleteOptions['preconditions']> }
      : {}),
    dryRun: query.get('dryRun') === 'All' || (Array.isArray(body.dryRun) && body.dryRun.includes('All')),
  };
}

function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function invalid(
  type: ResourceType,
  name: string,
  causes: { field: string; message: string; reason: string }[],
): ApiError {
  const parts = causes.map((cause) => `${cause.field}: ${cause.message}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const qualifiedKind = type.group === '' ? type.kind : `${type.kind}.${type.group}`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    group: type.group,
    kind: type.kind,
    causes: causes as unknown as Json,
  });
}

/** RFC 3339 without fractions, as metadata timestamps are. */
function timestamp(ms = Date.now()): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const NAME_CHARACTERS = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  let suffix = '';
  for (let index = 0; index < 5; index += 1)
    suffix += NAME_CHARACTERS[Math.floor(Math.random() * NAME_CHARACTERS.length)];
  return suffix;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

interface Watcher {
  key: string;
  type: ResourceType;
  namespace: string | undefined;
  matches: (object: KubeObject) => boolean;
  send: (type: string, object: KubeObject) => void;
}

interface StoredEvent {
  resourceVersion: number;
  key: string;
  type: WatchEventType;
  object: KubeObject;
  previous: KubeObject | undefined;
}

interface FieldOwner {
  paths: Set<string>;
  operation: 'Apply' | 'Update';
  subresource: string;
  apiVersion: string;
  time: string;
}

export interface WriteOptions {
  fieldManager?: string;
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  dryRun?: boolean;
  /** Warnings for the response (`Warning:` headers); filled by the server. */
  warnings?: string[];
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ApiServerOptions {
  port?: number;
  /**
   * The second octet of this cluster's loopback addresses: Service ClusterIPs are 127.<subnet>.1.x
   * and the test kubelet gives pods 127.<subnet>.0.x and 127.<subnet>.2+.x. Random by default (16 …
   * 250), so that test clusters running at the same time on one machine do not collide on the fixed
   * ports of contract.ts.
   */
  subnet?: number;
  maxRetainedEvents?: number;
  /** How often an open watch with allowWatchBookmarks gets a BOOKMARK. */
  bookmarkIntervalMs?: number;
  /** The server's reported version; kubectl's dispatcher picks its client by it. */
  minorVersion?: number;
  /** Logs one line per request to stderr (debugging). */
  logRequests?: boolean;
}

/** Serves the log of a pod's container (set by the test kubelet). */
export type PodLogSource = (
  namespace: string,
  name: string,
  container: string | undefined,
) => string | undefined;

export class KubeApiServer {
  readonly #server: Server;
  readonly #options: Required<Omit<ApiServerOptions, 'port'>>;
  /** storeKey → "namespace/name" → object. */
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #byUid = new Map<string, { key: string; id: string }>();
  readonly #owners = new Map<string, Map<string, FieldOwner>>();
  /** Served types: "group/version/plural" → type. */
  readonly #types = new Map<string, ResourceType>();
  readonly #events: StoredEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #inProcessWatchers = new Set<{
    key: string;
    callback: (type: WatchEventType, object: KubeObject) => void;
  }>();
  readonly #responses = new Set<ServerResponse>();
  #resourceVersion = 1;
  #oldestRetained = 1;
  #nextClusterIp = 1;
  #settling = false;
  #port = 0;
  podLogs: PodLogSource | undefined;

  private constructor(options: ApiServerOptions) {
    this.#options = {
      subnet: options.subnet ?? 16 + Math.floor(Math.random() * 235),
      maxRetainedEvents: options.maxRetainedEvents ?? DEFAULT_MAX_RETAINED_EVENTS,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5_000,
      minorVersion: options.minorVersion ?? 31,
      logRequests: options.logRequests ?? false,
    };
    for (const type of BUILT_IN_TYPES) this.#types.set(`${type.group}/${type.version}/${type.plural}`, type);
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => this.#fail(response, error));
    });
    for (const name of DEFAULT_NAMESPACES)
      this.create(CORE.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  static async start(options: ApiServerOptions = {}): Promise<KubeApiServer> {
    const server = new KubeApiServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** The second octet of this cluster's loopback addresses (see ApiServerOptions.subnet). */
  get subnet(): number {
    return this.#options.subnet;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Writes a kubeconfig for this server into `directory` and returns its path (§7 of the reference). */
  writeKubeconfig(directory: string, namespace = 'default'): string {
    mkdirSync(directory, { recursive: true });
    const path = join(directory, 'kubeconfig');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{ name: test, cluster: { server: '${this.url}', insecure-skip-tls-verify: true } }]`,
        'users: [{ name: tester, user: { token: test-token } }]',
        `contexts: [{ name: test, context: { cluster: test, user: tester, namespace: ${namespace} } }]`,
        'current-context: test',
        '',
      ].join('\n'),
    );
    return path;
  }

  async stop(): Promise<void> {
    for (const response of this.#responses) response.end();
    this.#watchers.clear();
    this.#inProcessWatchers.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // -- types --------------------------------------------------------------------------------------

  #typeOf(ref: TypeRef): ResourceType {
    for (const type of this.#types.values())
      if (type.group === ref.group && type.plural === ref.plural) return type;
    throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${ref.plural})`);
  }

  #lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.#types.get(`${group}/${version}/${plural}`);
  }

  get types(): ResourceType[] {
    return [...this.#types.values()];
  }

  #store(type: ResourceType): Map<string, KubeObject> {
    const key = storeKey(type);
    let store = this.#objects.get(key);
    if (store === undefined) {
      store = new Map();
      this.#objects.set(key, store);
    }
    return store;
  }

  // -- in-process API --------------------------------------------------------------------------------

  get(ref: TypeRef, namespace: string | undefined, name: string): KubeObject | undefined {
    const type = this.#typeOf(ref);
    const object = this.#store(type).get(`${type.namespaced ? namespace : ''}/${name}`);
    return object === undefined ? undefined : this.#present(object, type);
  }

  list(ref: TypeRef, namespace?: string): KubeObject[] {
    const type = this.#typeOf(ref);
    return [...this.#store(type).values()]
      .filter((object) => namespace === undefined || object.metadata.namespace === namespace)
      .map((object) => this.#present(object, type));
  }

  /** Calls back on every change of a type; returns the function that stops it. */
  watchType(ref: TypeRef, callback: (type: WatchEventType, object: KubeObject) => void): () => void {
    const entry = { key: storeKey(this.#typeOf(ref)), callback };
    this.#inProcessWatchers.add(entry);
    return () => this.#inProcessWatchers.delete(entry);
  }

  #present(object: KubeObject, type: ResourceType): KubeObject {
    const copy = structuredClone(object);
    copy.apiVersion = groupVersion(type);
    copy.kind = type.kind;
    return copy;
  }

  // -- create ------------------------------------------------------------------------------------------

  create(
    ref: TypeRef | ResourceType,
    namespace: string | undefined,
    body: JsonObject,
    options: WriteOptions = {},
    applied?: { manager: string; paths: Set<string> },
  ): KubeObject {
    const type = 'kind' in ref ? ref : this.#typeOf(ref);
    if (!isObject(body.metadata)) body.metadata = {};
    const metadata = body.metadata as JsonObject;
    if (type.namespaced) {
      if (metadata.namespace !== undefined && namespace !== undefined && metadata.namespace !== namespace)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      namespace = (namespace ?? metadata.namespace ?? 'default') as string;
      this.#requireLiveNamespace(namespace);
      metadata.namespace = namespace;
    } else delete metadata.namespace;
    if ((metadata.name === undefined || metadata.name === '') && typeof metadata.generateName === 'string')
      metadata.name = `${metadata.generateName}${randomSuffix()}`;
    const name = metadata.name;
    if (typeof name !== 'string' || name === '')
      throw invalid(type, '', [
        {
          field: 'metadata.name',
          reason: 'FieldValueRequired',
          message: 'Required value: name or generateName is required',
        },
      ]);
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253)
      throw invalid(type, name, [
        {
          field: 'metadata.name',
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
    if (type.kind === 'CustomResourceDefinition') this.#checkDefinition(type, body);
    if (type.kind === 'Pod' && type.group === '') this.#admitPriority(name, body);
    const id = `${type.namespaced ? namespace : ''}/${name}`;
    if (this.#store(type).has(id))
      throw new ApiError(409, 'AlreadyExists', `${qualifiedResource(type)} "${name}" already exists`, {
        name,
        group: type.group,
        kind: type.plural,
      });
    let object = structuredClone(body) as KubeObject;
    object.apiVersion = groupVersion(type);
    object.kind = type.kind;
    if (type.statusSubresource) delete object.status;
    object = this.#validate(type, object, options);
    this.#applyDefaults(type, object, undefined);
    Object.assign(object.metadata, {
      uid: randomUUID(),
      creationTimestamp: timestamp(),
      generation: 1,
    });
    delete object.metadata.deletionTimestamp;
    delete object.metadata.resourceVersion;
    delete object.metadata.managedFields;
    if (options.dryRun === true) return this.#present(object, type);
    this.#recordOwnership(type, object, undefined, options.fieldManager, '', applied);
    this.#commit(type, id, object, 'ADDED', undefined);
    if (type.kind === 'CustomResourceDefinition') this.#register(object);
    return this.#present(object, type);
  }

  #checkDefinition(type: ResourceType, body: JsonObject): void {
    const spec = (isObject(body.spec) ? body.spec : {}) as JsonObject;
    const names = (isObject(spec.names) ? spec.names : {}) as JsonObject;
    const name = String((body.metadata as JsonObject).name);
    const causes: { field: string; reason: string; message: string }[] = [];
    if (typeof names.plural !== 'string' || typeof names.kind !== 'string')
      causes.push({
        field: 'spec.names',
        reason: 'FieldValueRequired',
        message: 'Required value: plural and kind',
      });
    else if (name !== `${names.plural}.${String(spec.group)}`)
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`,
      });
    if (!Array.isArray(spec.versions) || spec.versions.length === 0)
      causes.push({
        field: 'spec.versions',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: null: must have exactly one version marked as storage version',
      });
    if (causes.length > 0) throw invalid(type, name, causes);
  }

  /**
   * The Priority admission plugin (on by default): a pod naming a PriorityClass that does not exist is
   * refused, 403 Forbidden, with the message a real API server gives.
   */
  #admitPriority(name: string, body: JsonObject): void {
    const spec = isObject(body.spec) ? (body.spec as JsonObject) : {};
    const priorityClassName = spec.priorityClassName;
    if (typeof priorityClassName !== 'string' || priorityClassName === '') return;
    if (['system-cluster-critical', 'system-node-critical'].includes(priorityClassName)) return;
    const classes = this.#store(this.#typeOf({ group: 'scheduling.k8s.io', plural: 'priorityclasses' }));
    if (classes.has(`/${priorityClassName}`)) return;
    throw new ApiError(
      403,
      'Forbidden',
      `pods "${name}" is forbidden: no PriorityClass with name ${priorityClassName} was found`,
      { name, kind: 'pods' },
    );
  }

  #requireLiveNamespace(namespace: string): void {
    const found = this.#store(this.#typeOf(CORE.namespaces)).get(`/${namespace}`);
    if (found === undefined)
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, {
        name: namespace,
        kind: 'namespaces',
      });
    if (found.metadata.deletionTimestamp !== undefined)
      throw new ApiError(
        403,
        'Forbidden',
        `unable to create new content in namespace ${namespace} because it is being terminated`,
        { name: namespace, kind: 'namespaces' },
      );
  }

  /** Validation and pruning for custom resources; built-in types are stored as given. */
  #validate(type: ResourceType, object: KubeObject, options: WriteOptions): KubeObject {
    if (type.schema === undefined) return object;
    const result = validateCustomResource(type.schema, object);
    const name = String(object.metadata.name);
    if (result.unknownFields.length > 0) {
      if (options.fieldValidation === 'Strict')
        throw badRequest(
          `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${result.unknownFields
            .map((field) => `unknown field "${field}"`)
            .join(', ')}`,
        );
      if (options.fieldValidation === 'Warn')
        options.warnings?.push(...result.unknownFields.map((field) => `unknown field "${field}"`));
    }
    if (result.causes.length > 0) throw invalid(type, name, result.causes);
    return result.value as KubeObject;
  }

  #applyDefaults(type: ResourceType, object: KubeObject, previous: KubeObject | undefined): void {
    if (type.kind === 'Namespace') {
      object.spec = { finalizers: ['kubernetes'] };
      object.status = (previous?.status as Json) ?? { phase: 'Active' };
    }
    if (type.kind === 'Pod') {
      const spec = (object.spec ?? {}) as JsonObject;
      spec.restartPolicy ??= 'Always';
      spec.terminationGracePeriodSeconds ??= 30;
      spec.dnsPolicy ??= 'ClusterFirst';
      spec.schedulerName ??= 'default-scheduler';
      object.spec = spec;
      if (previous === undefined) object.status = { phase: 'Pending', qosClass: 'BestEffort' };
    }
    if (type.kind === 'Service') this.#defaultService(object, previous);
    if (type.kind === 'PersistentVolumeClaim' && previous === undefined) object.status = { phase: 'Pending' };
    if (type.kind === 'Secret' && isObject(object.stringData)) {
      // The real server folds stringData into base64 data on write.
      const data = (isObject(object.data) ? object.data : {}) as JsonObject;
      for (const [key, value] of Object.entries(object.stringData))
        data[key] = Buffer.from(String(value)).toString('base64');
      object.data = data;
      delete object.stringData;
    }
    if (type.kind === 'CustomResourceDefinition') {
      const names = ((object.spec as JsonObject | undefined)?.names ?? {}) as JsonObject;
      object.status = {
        acceptedNames: names,
        storedVersions: (((object.spec as JsonObject).versions ?? []) as JsonObject[])
          .filter((version) => version.storage === true)
          .map((version) => version.name as Json),
        conditions: [
          {
            type: 'NamesAccepted',
            status: 'True',
            reason: 'NoConflicts',
            message: 'no conflicts found',
            lastTransitionTime: timestamp(),
          },
          {
            type: 'Established',
            status: 'True',
            reason: 'InitialNamesAccepted',
            message: 'the initial names have been accepted',
            lastTransitionTime: timestamp(),
          },
        ],
      };
    }
  }

  /** ClusterIPs come from a loopback range so that the test kube-proxy can listen on them. */
  #defaultService(object: KubeObject, previous: KubeObject | undefined): void {
    const spec = (object.spec ?? {}) as JsonObject;
    object.spec = spec;
    spec.type ??= 'ClusterIP';
    const previousIp = (previous?.spec as JsonObject | undefined)?.clusterIP;
    if (spec.clusterIP === undefined || spec.clusterIP === '') {
      if (previousIp !== undefined) spec.clusterIP = previousIp;
      else {
        if (this.#nextClusterIp > 254)
          throw new ApiError(500, 'InternalError', 'the ClusterIP range is full');
        spec.clusterIP = `127.${this.#options.subnet}.1.${this.#nextClusterIp++}`;
      }
    }
    spec.clusterIPs = [spec.clusterIP];
    spec.sessionAffinity ??= 'None';
    for (const port of (spec.ports ?? []) as JsonObject[]) {
      port.protocol ??= 'TCP';
      port.targetPort ??= port.port as Json;
    }
    if (previous === undefined) object.status = { loadBalancer: {} };
  }

  // -- update ---------------------------------------------------------------------------------------

  /**
   * PUT semantics. `subresource` 'status' changes only status; '' changes everything but status
   * (when the type has a status subresource). A resourceVersion in the body is a precondition.
   */
  update(
    ref: TypeRef | ResourceType,
    body: JsonObject,
    subresource: '' | 'status' = '',
    options: WriteOptions = {},
  ): KubeObject {
    const type = 'kind' in ref ? ref : this.#typeOf(ref);
    const metadata = (isObject(body.metadata) ? body.metadata : {}) as JsonObject;
    const name = String(metadata.name ?? '');
    const id = `${type.namespaced ? String(metadata.namespace ?? 'default') : ''}/${name}`;
    const current = this.#store(type).get(id);
    if (current === undefined) throw notFound(type, name);
    if (metadata.resourceVersion === undefined || metadata.resourceVersion === '') {
      if (type.schema !== undefined)
        throw invalid(type, name, [
          {
            field: 'metadata.resourceVersion',
            reason: 'FieldValueInvalid',
            message: 'Invalid value: 0x0: must be specified for an update',
          },
        ]);
    } else if (metadata.resourceVersion !== current.metadata.resourceVersion) throw conflict(type, name);
    return this.#write(type, id, current, structuredClone(body) as KubeObject, subresource, options);
  }

  /** Common tail of update, patch and apply: subresource rules, validation, generation, commit. */
  #write(
    type: ResourceType,
    id: string,
    current: KubeObject,
    proposed: KubeObject,
    subresource: string,
    options: WriteOptions,
    applied?: { manager: string; paths: Set<string> },
  ): KubeObject {
    let next: KubeObject;
    if (subresource === 'status') {
      next = structuredClone(current);
      if (proposed.status === undefined) delete next.status;
      else next.status = proposed.status;
    } else {
      next = proposed;
      if (!isObject(next.metadata)) next.metadata = {};
      if (type.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = structuredClone(current.status);
      }
      for (const key of [
        'uid',
        'creationTimestamp',
        'namespace',
        'name',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
        'generation',
      ])
        if (current.metadata[key] === undefined) delete next.metadata[key];
        else next.metadata[key] = current.metadata[key] as Json;
      this.#checkFinalizersDuringDeletion(type, current, next);
    }
    next.apiVersion = groupVersion(type);
    next.kind = type.kind;
    next = this.#validate(type, next, options);
    this.#applyDefaults(type, next, current);
    next.metadata.resourceVersion = current.metadata.resourceVersion as Json;
    next.metadata.managedFields = current.metadata.managedFields as Json;
    if (next.metadata.managedFields === undefined) delete next.metadata.managedFields;
    if (this.#specChanged(type, current, next))
      next.metadata.generation = Number(current.metadata.generation ?? 0) + 1;
    if (options.dryRun === true) return this.#present(next, type);
    const sameOwnership =
      applied === undefined ||
      deepEqual(
        [...(this.#owners.get(String(current.metadata.uid))?.get(applied.manager)?.paths ?? [])].sort(),
        [...applied.paths].sort(),
      );
    if (sameOwnership && deepEqual(this.#comparable(next), this.#comparable(current)))
      return this.#present(current, type);
    this.#recordOwnership(type, next, current, options.fieldManager, subresource, applied);
    const finishing =
      next.metadata.deletionTimestamp !== undefined &&
      ((next.metadata.finalizers as Json[] | undefined) ?? []).length === 0;
    if (finishing) {
      this.#removeNow(type, id, next);
      this.#settle();
      return this.#present(next, type);
    }
    this.#commit(type, id, next, 'MODIFIED', current);
    if (type.kind === 'CustomResourceDefinition') this.#register(next);
    return this.#present(next, type);
  }

  #comparable(object: KubeObject): JsonObject {
    const copy = structuredClone(object);
    delete copy.metadata.resourceVersion;
    delete copy.metadata.managedFields;
    return copy;
  }

  /** Objects being deleted may lose finalizers but not gain them (as the real server enforces). */
  #checkFinalizersDuringDeletion(type: ResourceType, current: KubeObject, next: KubeObject): void {
    if (current.metadata.deletionTimestamp === undefined) return;
    const before = new Set((current.metadata.finalizers as string[] | undefined) ?? []);
    const added = ((next.metadata.finalizers as string[] | undefined) ?? []).filter(
      (finalizer) => !before.has(finalizer),
    );
    if (added.length > 0)
      throw new ApiError(
        422,
        'Invalid',
        `${type.kind} "${String(current.metadata.name)}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
      );
  }

  /** metadata.generation counts changes of everything but metadata (and status, with a subresource). */
  #specChanged(type: ResourceType, current: KubeObject, next: KubeObject): boolean {
    const strip = (object: KubeObject): JsonObject => {
      const copy: JsonObject = { ...object };
      delete copy.metadata;
      delete copy.apiVersion;
      delete copy.kind;
      if (type.statusSubresource) delete copy.status;
      return copy;
    };
    return !deepEqual(strip(current), strip(next));
  }

  // -- patch -----------------------------------------------------------------------------------------

  patch(
    ref: TypeRef | ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    patchBody: Json,
    subresource: '' | 'status' = '',
    options: WriteOptions & { force?: boolean } = {},
  ): KubeObject {
    const type = 'kind' in ref ? ref : this.#typeOf(ref);
    const id = `${type.namespaced ? (namespace ?? 'default') : ''}/${name}`;
    const current = this.#store(type).get(id);
    if (contentType === 'application/apply-patch+yaml')
      return this.#apply(type, id, namespace, name, current, patchBody, subresource, options);
    if (current === undefined) throw notFound(type, name);
    let patched: Json;
    try {
      if (contentType === 'application/json-patch+json') patched = jsonPatch(current, patchBody);
      else if (contentType === 'application/merge-patch+json') {
        if (!isObject(patchBody)) throw badRequest('a merge patch must be a JSON object');
        patched = mergePatch(current, patchBody);
      } else if (contentType === 'application/strategic-merge-patch+json' && type.definition === undefined) {
        if (!isObject(patchBody)) throw badRequest('a strategic merge patch must be a JSON object');
        patched = strategicMergePatch(current, patchBody);
      } else
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          // Custom resources have no strategic-merge schema: the real server refuses that patch type for them.
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${
            type.definition === undefined ? ', application/strategic-merge-patch+json' : ''
          }`,
        );
    } catch (error) {
      if (error instanceof PatchError)
        throw new ApiError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: ${error.message}`,
        );
      throw error;
    }
    if (!isObject(patched) || !isObject(patched.metadata))
      throw badRequest('the patch removed the object metadata');
    const result = patched as KubeObject;
    if (result.metadata.resourceVersion !== current.metadata.resourceVersion) throw conflict(type, name);
    if (result.metadata.name !== name)
      throw badRequest('the name of the object does not match the name on the URL');
    return this.#write(type, id, current, result, subresource, options);
  }

  // -- server-side apply ------------------------------------------------------------------------------------

  #apply(
    type: ResourceType,
    id: string,
    namespace: string | undefined,
    name: string,
    current: KubeObject | undefined,
    body: Json,
    subresource: '' | 'status',
    options: WriteOptions & { force?: boolean },
  ): KubeObject {
    const manager = options.fieldManager;
    if (manager === undefined || manager === '')
      throw badRequest(
        'PATCH request must include a fieldManager for apply requests (fieldManager is required for apply patch)',
      );
    if (!isObject(body)) throw badRequest('the applied configuration must be an object');
    if (body.apiVersion === undefined || body.kind === undefined)
      throw badRequest(
        `invalid object type: ${JSON.stringify({ apiVersion: body.apiVersion, kind: body.kind })}`,
      );
    if (body.kind !== type.kind)
      throw badRequest(
        `the kind of the applied configuration (${String(body.kind)}) does not match ${type.kind}`,
      );
    const metadata = (isObject(body.metadata) ? body.metadata : {}) as JsonObject;
    if (metadata.name !== undefined && metadata.name !== name)
      throw badRequest('the name of the object does not match the name on the URL');
    const paths = new Set(this.#ownablePaths(type, body, subresource));
    if (current === undefined) {
      if (subresource === 'status') throw notFound(type, name);
      return this.create(
        type,
        namespace,
        { ...structuredClone(body), metadata: { ...metadata, name } },
        options,
        {
          manager,
          paths,
        },
      );
    }
    if (
      metadata.resourceVersion !== undefined &&
      metadata.resourceVersion !== current.metadata.resourceVersion
    )
      throw conflict(type, name);
    const owners = this.#owners.get(String(current.metadata.uid)) ?? new Map<string, FieldOwner>();
    const conflicts = this.#applyConflicts(owners, manager, paths, current, body);
    if (conflicts.length > 0 && options.force !== true) throw this.#conflictError(type, name, conflicts);
    const next = structuredClone(current);
    const previous = owners.get(manager);
    for (const path of previous?.paths ?? [])
      if (
        !paths.has(path) &&
        ![...owners].some(([other, owner]) => other !== manager && owner.paths.has(path))
      )
        deletePath(next, path);
    for (const path of paths) setPath(next, path, valueAt(body, path) as Json);
    return this.#write(type, id, current, next, subresource, options, { manager, paths });
  }

  #ownablePaths(type: ResourceType, object: Json, subresource: string): string[] {
    const skip = [
      '/apiVersion',
      '/kind',
      '/metadata/name',
      '/metadata/namespace',
      '/metadata/resourceVersion',
      '/metadata/uid',
      '/metadata/generation',
      '/metadata/creationTimestamp',
      '/metadata/managedFields',
      '/metadata/deletionTimestamp',
    ];
    return leafPaths(object).filter((path) => {
      if (skip.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return false;
      const isStatus = path === '/status' || path.startsWith('/status/');
      if (subresource === 'status') return isStatus;
      return !(type.statusSubresource && isStatus);
    });
  }

  #applyConflicts(
    owners: Map<string, FieldOwner>,
    manager: string,
    paths: Set<string>,
    current: KubeObject,
    body: JsonObject,
  ): { manager: string; path: string; apiVersion: string }[] {
    const conflicts: { manager: string; path: string; apiVersion: string }[] = [];
    for (const path of paths)
      for (const [other, owner] of owners) {
        if (other === manager) continue;
        const overlapping = [...owner.paths].find(
          (owned) => owned === path || owned.startsWith(`${path}/`) || path.startsWith(`${owned}/`),
        );
        if (overlapping === undefined) continue;
        if (overlapping === path && deepEqual(valueAt(current, path), valueAt(body, path))) continue;
        conflicts.push({ manager: other, path: overlapping, apiVersion: owner.apiVersion });
      }
    return conflicts;
  }

  #conflictError(
    type: ResourceType,
    name: string,
    conflicts: { manager: string; path: string; apiVersion: string }[],
  ): ApiError {
    const first = conflicts[0]!;
    const count = `${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}`;
    const message =
      conflicts.length === 1
        ? `Apply failed with ${count}: conflict with "${first.manager}" using ${first.apiVersion}: ${dottedPath(first.path)}`
        : `Apply failed with ${count}: ${conflicts
            .map(
              (item) => `conflict with "${item.manager}" using ${item.apiVersion}: ${dottedPath(item.path)}`,
            )
            .join('\n')}`;
    return new ApiError(409, 'Conflict', message, {
      name,
      group: type.group,
      kind: type.plural,
      causes: conflicts.map((item) => ({
        reason: 'FieldManagerConflict',
        message: `conflict with "${item.manager}" using ${item.apiVersion}`,
        field: dottedPath(item.path),
      })),
    });
  }

  /**
   * Field ownership: an apply makes its manager own exactly the applied paths (forcing takes them
   * from others); any other write makes its manager (or "unknown") own the paths it changed and
   * takes them from everybody else, so a later apply of a different value conflicts.
   */
  #recordOwnership(
    type: ResourceType,
    next: KubeObject,
    current: KubeObject | undefined,
    fieldManager: string | undefined,
    subresource: string,
    applied?: { manager: string; paths: Set<string> },
  ): void {
    const uid = String(next.metadata.uid);
    const owners = this.#owners.get(uid) ?? new Map<string, FieldOwner>();
    this.#owners.set(uid, owners);
    if (applied !== undefined) {
      for (const [other, owner] of owners)
        if (other !== applied.manager)
          for (const path of applied.paths)
            if (owner.paths.has(path) && !deepEqual(valueAt(current ?? {}, path), valueAt(next, path)))
              owner.paths.delete(path);
      owners.set(applied.manager, {
        paths: applied.paths,
        operation: 'Apply',
        subresource,
        apiVersion: groupVersion(type),
        time: timestamp(),
      });
    } else {
      const before = new Set(current === undefined ? [] : this.#ownablePaths(type, current, subresource));
      const after = this.#ownablePaths(type, next, subresource);
      const changed = after.filter(
        (path) => !before.has(path) || !deepEqual(valueAt(current!, path), valueAt(next, path)),
      );
      const removed = [...before].filter((path) => !after.includes(path));
      for (const owner of owners.values())
        for (const path of [...changed, ...removed]) owner.paths.delete(path);
      if (changed.length > 0) {
        const manager = fieldManager ?? 'unknown';
        const owner = owners.get(manager) ?? {
          paths: new Set<string>(),
          operation: 'Update' as const,
          subresource,
          apiVersion: groupVersion(type),
          time: timestamp(),
        };
        for (const path of changed) owner.paths.add(path);
        owner.time = timestamp();
        owners.set(manager, owner);
      }
    }
    for (const [manager, owner] of owners) if (owner.paths.size === 0) owners.delete(manager);
    next.metadata.managedFields = this.#managedFields(uid);
  }

  #managedFields(uid: string): Json {
    return [...(this.#owners.get(uid) ?? new Map<string, FieldOwner>())].map(([manager, owner]) => ({
      manager,
      operation: owner.operation,
      apiVersion: owner.apiVersion,
      time: owner.time,
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1(owner.paths),
      ...(owner.subresource === '' ? {} : { subresource: owner.subresource }),
    }));
  }

  // -- delete ----------------------------------------------------------------------------------------

  /**
   * Deletes an object. With finalizers, or a scheduled pod with a grace period, it only gets a
   * deletionTimestamp (MODIFIED); it goes away when the last finalizer is removed or the kubelet
   * deletes it with grace period 0. Dependents are then garbage collected.
   */
  remove(
    ref: TypeRef | ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): KubeObject {
    const type = 'kind' in ref ? ref : this.#typeOf(ref);
    const id = `${type.namespaced ? (namespace ?? 'default') : ''}/${name}`;
    const current = this.#store(type).get(id);
    if (current === undefined) throw notFound(type, name);
    const preconditions = options.preconditions ?? {};
    if (preconditions.uid !== undefined && preconditions.uid !== current.metadata.uid)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${String(current.metadata.uid)}`,
      );
    if (
      preconditions.resourceVersion !== undefined &&
      preconditions.resourceVersion !== current.metadata.resourceVersion
    )
      throw conflict(type, name);
    if (options.dryRun === true) return this.#present(current, type);
    if (options.propagationPolicy === 'Orphan') this.#orphanDependents(String(current.metadata.uid));
    let finalizers = (current.metadata.finalizers as string[] | undefined) ?? [];
    if (options.propagationPolicy === 'Foreground' && current.metadata.deletionTimestamp === undefined) {
      // Foreground cascading deletion: the owner waits, with this finalizer, for its dependents.
      finalizers = [
        ...finalizers.filter((finalizer) => finalizer !== FOREGROUND_FINALIZER),
        FOREGROUND_FINALIZER,
      ];
    }
    const gracefulPod = this.#gracefulPodDeletion(type, current, options);
    const needsTermination = type.kind === 'Namespace' || type.kind === 'CustomResourceDefinition';
    if (finalizers.length > 0 || gracefulPod !== undefined || needsTermination) {
      if (current.metadata.deletionTimestamp !== undefined) return this.#present(current, type);
      const next = structuredClone(current);
      if (finalizers.length > 0) next.metadata.finalizers = finalizers;
      const graceSeconds = gracefulPod ?? 0;
      next.metadata.deletionTimestamp = timestamp(Date.now() + graceSeconds * 1000);
      next.metadata.deletionGracePeriodSeconds = graceSeconds;
      if (type.kind === 'Namespace') next.status = { phase: 'Terminating' };
      if (type.schema !== undefined) next.metadata.generation = Number(current.metadata.generation ?? 0) + 1;
      this.#commit(type, id, next, 'MODIFIED', current);
      this.#settle();
      return this.#present(this.#store(type).get(id) ?? next, type);
    }
    this.#removeNow(type, id, current);
    this.#settle();
    return this.#present(current, type);
  }

  /** A pod bound to a node, deleted with a grace period, waits for its kubelet to kill it. */
  #gracefulPodDeletion(type: ResourceType, pod: KubeObject, options: DeleteOptions): number | undefined {
    if (type.kind !== 'Pod') return undefined;
    const spec = (pod.spec ?? {}) as JsonObject;
    const phase = (pod.status as JsonObject | undefined)?.phase;
    if (spec.nodeName === undefined || phase === 'Succeeded' || phase === 'Failed') return undefined;
    const grace = options.gracePeriodSeconds ?? Number(spec.terminationGracePeriodSeconds ?? 30);
    if (grace <= 0) return undefined;
    return grace;
  }

  #orphanDependents(uid: string): void {
    for (const [key, store] of this.#objects)
      for (const [id, object] of store) {
        const references = (object.metadata.ownerReferences as JsonObject[] | undefined) ?? [];
        if (!references.some((reference) => reference.uid === uid)) continue;
        const type = this.#typeForKey(key);
        const next = structuredClone(object);
        next.metadata.ownerReferences = references.filter((reference) => reference.uid !== uid);
        if ((next.metadata.ownerReferences as Json[]).length === 0) delete next.metadata.ownerReferences;
        this.#commit(type, id, next, 'MODIFIED', object);
      }
  }

  #typeForKey(key: string): ResourceType {
    for (const type of this.#types.values()) if (storeKey(type) === key) return type;
    throw new Error(`no type for ${key}`);
  }

  #removeNow(type: ResourceType, id: string, last: KubeObject): void {
    this.#commit(type, id, last, 'DELETED', this.#store(type).get(id));
  }

  /**
   * Background work a real control plane does after deletions, run to a fixed point: the garbage
   * collector deletes objects whose owners are all gone; terminating namespaces have their content
   * deleted and go away when empty; a deleted CRD takes its custom resources with it.
   */
  #settle(): void {
    if (this.#settling) return;
    this.#settling = true;
    try {
      for (let round = 0; round < MAX_SETTLE_ROUNDS; round += 1) if (!this.#settleOnce()) return;
      throw new Error('the API server did not settle (garbage collection loop)');
    } finally {
      this.#settling = false;
    }
  }

  #settleOnce(): boolean {
    for (const [key, store] of this.#objects)
      for (const object of store.values()) {
        const type = this.#typeForKey(key);
        const metadata = object.metadata;
        const references = (metadata.ownerReferences as JsonObject[] | undefined) ?? [];
        const orphaned =
          references.length > 0 && references.every((reference) => !this.#byUid.has(String(reference.uid)));
        if (orphaned && metadata.deletionTimestamp === undefined) {
          this.remove(type, metadata.namespace as string | undefined, String(metadata.name), {
            propagationPolicy: 'Background',
          });
          return true;
        }
        if (
          metadata.deletionTimestamp !== undefined &&
          ((metadata.finalizers as string[] | undefined) ?? []).includes(FOREGROUND_FINALIZER) &&
          this.#finishForeground(type, object)
        )
          return true;
        if (
          metadata.deletionTimestamp !== undefined &&
          type.kind === 'Namespace' &&
          this.#finishNamespace(object)
        )
          return true;
        if (
          metadata.deletionTimestamp !== undefined &&
          type.kind === 'CustomResourceDefinition' &&
          this.#finishDefinition(object)
        )
          return true;
      }
    return false;
  }

  /**
   * An owner deleted in the foreground: its dependents are deleted (in the foreground too), and the
   * owner's foregroundDeletion finalizer goes once no dependent with blockOwnerDeletion is left.
   */
  #finishForeground(ownerType: ResourceType, owner: KubeObject): boolean {
    const uid = String(owner.metadata.uid);
    let blocking = 0;
    for (const [key, store] of this.#objects)
      for (const object of store.values()) {
        const reference = ((object.metadata.ownerReferences as JsonObject[] | undefined) ?? []).find(
          (entry) => entry.uid === uid,
        );
        if (reference === undefined) continue;
        if (reference.blockOwnerDeletion === true) blocking += 1;
        if (object.metadata.deletionTimestamp === undefined) {
          this.remove(
            this.#typeForKey(key),
            object.metadata.namespace as string | undefined,
            String(object.metadata.name),
            {
              propagationPolicy: 'Foreground',
            },
          );
          return true;
        }
      }
    if (blocking > 0) return false;
    const next = structuredClone(owner);
    next.metadata.finalizers = ((owner.metadata.finalizers as string[]) ?? []).filter(
      (finalizer) => finalizer !== FOREGROUND_FINALIZER,
    );
    if ((next.metadata.finalizers as string[]).length === 0) delete next.metadata.finalizers;
    const id = `${ownerType.namespaced ? String(owner.metadata.namespace) : ''}/${String(owner.metadata.name)}`;
    if (next.metadata.finalizers === undefined) this.#removeNow(ownerType, id, next);
    else this.#commit(ownerType, id, next, 'MODIFIED', owner);
    return true;
  }

  /** Deletes a terminating namespace's content; removes the namespace once it is empty. */
  #finishNamespace(namespace: KubeObject): boolean {
    const name = String(namespace.metadata.name);
    let remaining = 0;
    for (const [key, store] of this.#objects) {
      const type = this.#typeForKey(key);
      if (!type.namespaced) continue;
      for (const object of store.values()) {
        if (object.metadata.namespace !== name) continue;
        remaining += 1;
        if (object.metadata.deletionTimestamp === undefined) {
          this.remove(type, name, String(object.metadata.name));
          return true;
        }
      }
    }
    if (remaining > 0 || ((namespace.metadata.finalizers as Json[] | undefined) ?? []).length > 0)
      return false;
    this.#removeNow(this.#typeOf(CORE.namespaces), `/${name}`, namespace);
    return true;
  }

  #finishDefinition(definition: KubeObject): boolean {
    const types = typesFromDefinition(definition);
    const first = types[0];
    if (first !== undefined) {
      const store = this.#objects.get(storeKey(first));
      for (const object of store?.values() ?? []) {
        if (object.metadata.deletionTimestamp !== undefined) continue;
        this.remove(first, object.metadata.namespace as string | undefined, String(object.metadata.name));
        return true;
      }
      if (store !== undefined && store.size > 0) return false;
    }
    if (((definition.metadata.finalizers as Json[] | undefined) ?? []).length > 0) return false;
    this.#removeNow(
      this.#typeOf(CORE.customResourceDefinitions),
      `/${String(definition.metadata.name)}`,
      definition,
    );
    for (const type of types) this.#types.delete(`${type.group}/${type.version}/${type.plural}`);
    return true;
  }

  /** A CRD (created or updated) registers the custom resource types it serves. */
  #register(definition: KubeObject): void {
    const name = String(definition.metadata.name);
    for (const [key, type] of this.#types) if (type.definition === name) this.#types.delete(key);
    for (const type of typesFromDefinition(definition))
      this.#types.set(`${type.group}/${type.version}/${type.plural}`, type);
  }

  // -- commit and watch fan-out --------------------------------------------------------------------------

  #commit(
    type: ResourceType,
    id: string,
    object: KubeObject,
    event: WatchEventType,
    previous: KubeObject | undefined,
  ): void {
    this.#resourceVersion += 1;
    const resourceVersion = this.#resourceVersion;
    object.metadata.resourceVersion = String(resourceVersion);
    const store = this.#store(type);
    const uid = String(object.metadata.uid);
    if (event === 'DELETED') {
      store.delete(id);
      this.#byUid.delete(uid);
      this.#owners.delete(uid);
    } else {
      store.set(id, object);
      this.#byUid.set(uid, { key: storeKey(type), id });
    }
    const stored: StoredEvent = {
      resourceVersion,
      key: storeKey(type),
      type: event,
      object: structuredClone(object),
      previous,
    };
    this.#events.push(stored);
    if (this.#events.length > this.#options.maxRetainedEvents) {
      const dropped = this.#events.shift()!;
      this.#oldestRetained = dropped.resourceVersion + 1;
    }
    for (const watcher of this.#watchers) if (watcher.key === stored.key) this.#deliver(watcher, stored);
    for (const watcher of this.#inProcessWatchers)
      if (watcher.key === stored.key) watcher.callback(event, this.#present(object, type));
  }

  /** Sends an event as a watcher with a selector sees it: objects moving out of the selection are DELETED. */
  #deliver(watcher: Watcher, event: StoredEvent): void {
    const inScope = (object: KubeObject | undefined): boolean =>
      object !== undefined &&
      (watcher.namespace === undefined || object.metadata.namespace === watcher.namespace) &&
      watcher.matches(object);
    const now = inScope(event.object);
    const before = event.type === 'ADDED' ? false : inScope(event.previous);
    if (event.type === 'DELETED') {
      if (before || now) watcher.send('DELETED', event.object);
      return;
    }
    if (now && before) watcher.send('MODIFIED', event.object);
    else if (now) watcher.send('ADDED', event.object);
    else if (before) watcher.send('DELETED', event.object);
  }

  // -- HTTP ------------------------------------------------------------------------------------------------

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (this.#options.logRequests)
      process.stderr.write(`[kube-api] ${request.method} ${url.pathname}${url.search}\n`);
    const segments = url.pathname.split('/').filter((segment) => segment !== '');
    if (request.method === 'GET' && this.#discovery(url.pathname, segments, response)) return;
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 3) {
      group = '';
      version = segments[1]!;
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 4) {
      group = segments[1]!;
      version = segments[2]!;
      rest = segments.slice(3);
    } else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    let namespace: string | undefined;
    if (
      rest[0] === 'namespaces' &&
      rest.length >= 3 &&
      this.#lookup(group, version, rest[2]!)?.namespaced === true
    ) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = this.#lookup(group, version, rest[0]!);
    if (type === undefined || rest.length > 3)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const name = rest[1];
    const subresource = rest[2] ?? '';
    if (
      subresource !== '' &&
      !(subresource === 'status' && type.statusSubresource) &&
      !(subresource === 'log' && type.kind === 'Pod')
    )
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    await this.#route(request, response, url, type, namespace, name, subresource);
  }

  async #route(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    type: ResourceType,
    namespace: string | undefined,
    name: string | undefined,
    subresource: string,
  ): Promise<void> {
    const query = url.searchParams;
    const warnings: string[] = [];
    const options: WriteOptions & { force?: boolean } = {
      ...(query.get('fieldManager') === null ? {} : { fieldManager: query.get('fieldManager')! }),
      fieldValidation: (query.get('fieldValidation') ?? 'Warn') as 'Strict' | 'Warn' | 'Ignore',
      dryRun: query.get('dryRun') === 'All',
      force: query.get('force') === 'true',
      warnings,
    };
    const send = (code: number, body: Json) => this.#send(response, code, body, warnings);
    const status = subresource === 'status' ? 'status' : '';
    switch (request.method) {
      case 'GET':
        if (name === undefined) {
          if (query.get('watch') === 'true' || query.get('watch') === '1')
            return this.#watch(request, response, type, namespace, query);
          return send(200, this.#listResponse(type, namespace, query, request.headers.accept ?? ''));
        }
        if (subresource === 'log') return this.#log(response, type, namespace, name, query);
        {
          const object = this.get(type, namespace, name);
          if (object === undefined) throw notFound(type, name);
          if (this.#wantsTable(request) && type.kind !== 'CustomResourceDefinition')
            return send(200, toTable(type, [object], Date.now(), query.get('includeObject') === 'Object'));
          return send(200, object);
        }
      case 'POST': {
        if (name !== undefined) throw methodNotAllowed();
        const body = await this.#readObject(request);
        return send(201, this.create(type, namespace, body, options));
      }
      case 'PUT': {
        if (name === undefined) throw methodNotAllowed();
        const body = await this.#readObject(request);
        const metadata = (isObject(body.metadata) ? body.metadata : {}) as JsonObject;
        if (metadata.name !== undefined && metadata.name !== name)
          throw badRequest(
            `the name of the object (${String(metadata.name)}) does not match the name on the URL (${name})`,
          );
        metadata.name = name;
        if (type.namespaced) metadata.namespace ??= namespace ?? 'default';
        body.metadata = metadata;
        return send(200, this.update(type, body, status, options));
      }
      case 'PATCH': {
        if (name === undefined) throw methodNotAllowed();
        const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
        const text = await this.#readText(request);
        const body = this.#parse(text, contentType === 'application/apply-patch+yaml');
        return send(200, this.patch(type, namespace, name, contentType, body, status, options));
      }
      case 'DELETE': {
        const text = await this.#readText(request);
        const body = text.trim() === '' ? {} : (this.#parse(text, false) as JsonObject);
        const deleteOptions = deleteOptionsFrom(query, body);
        if (name === undefined)
          return send(200, this.#deleteCollection(type, namespace, query, deleteOptions));
        return send(200, this.remove(type, namespace, name, deleteOptions));
      }
      default:
        throw methodNotAllowed();
    }
  }

  #wantsTable(request: IncomingMessage): boolean {
    const accept = request.headers.accept ?? '';
    return accept.includes('as=Table');
  }

  #matcher(type: ResourceType, query: URLSearchParams): (object: KubeObject) => boolean {
    try {
      const labels = parseLabelSelector(query.get('labelSelector'));
      const fields = parseFieldSelector(query.get('fieldSelector'), [
        'metadata.name',
        'metadata.namespace',
        ...(type.selectableFields ?? []),
      ]);
      return (object) =>
        labels((object.metadata.labels ?? {}) as Record<string, string>) &&
        fields((field) => {
          const value = valueAt(object, `/${field.replace(/\./g, '/')}`);
          return value === undefined ? '' : String(value);
        });
    } catch (error) {
      if (error instanceof SelectorError) throw badRequest(error.message);
      throw error;
    }
  }

  #selected(type: ResourceType, namespace: string | undefined, query: URLSearchParams): KubeObject[] {
    const matches = this.#matcher(type, query);
    return [...this.#store(type).entries()]
      .filter(
        ([, object]) =>
          (namespace === undefined || object.metadata.namespace === namespace) && matches(object),
      )
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
      .map(([, object]) => this.#present(object, type));
  }

  #listResponse(
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
    accept: string,
  ): JsonObject {
    let items = this.#selected(type, namespace, query);
    const metadata: JsonObject = { resourceVersion: String(this.#resourceVersion) };
    const continueToken = query.get('continue');
    if (continueToken !== null && continueToken !== '') {
      let after: string;
      try {
        after = String(JSON.parse(Buffer.from(continueToken, 'base64url').toString()).after);
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      items = items.filter((object) => this.#idOf(object) > after);
    }
    const limit = Math.min(Number(query.get('limit') ?? 0) || MAX_LIST_LIMIT, MAX_LIST_LIMIT);
    if (items.length > limit) {
      items = items.slice(0, limit);
      metadata.continue = Buffer.from(
        JSON.stringify({ after: this.#idOf(items[items.length - 1]!) }),
      ).toString('base64url');
      metadata.remainingItemCount = this.#selected(type, namespace, query).length - limit;
    }
    if (accept.includes('as=Table') && type.kind !== 'CustomResourceDefinition') {
      const table = toTable(type, items, Date.now(), query.get('includeObject') === 'Object');
      table.metadata = metadata;
      return table;
    }
    return { kind: type.listKind, apiVersion: groupVersion(type), metadata, items };
  }

  #idOf(object: KubeObject): string {
    return `${String(object.metadata.namespace ?? '')}/${String(object.metadata.name)}`;
  }

  #deleteCollection(
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
    options: DeleteOptions,
  ): JsonObject {
    const removed = this.#selected(type, namespace, query).map((object) =>
      this.remove(
        type,
        object.metadata.namespace as string | undefined,
        String(object.metadata.name),
        options,
      ),
    );
    return {
      kind: type.listKind,
      apiVersion: groupVersion(type),
      metadata: { resourceVersion: String(this.#resourceVersion) },
      items: removed,
    };
  }

  #log(
    response: ServerResponse,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    query: URLSearchParams,
  ): void {
    if (this.get(type, namespace, name) === undefined) throw notFound(type, name);
    const text = this.podLogs?.(namespace ?? 'default', name, query.get('container') ?? undefined);
    if (text === undefined)
      throw badRequest(`container logs of pod "${name}" are not available (no kubelet runs it)`);
    const tail = query.get('tailLines');
    const lines = text.split('\n');
    const body = tail === null ? text : lines.slice(-Number(tail) - 1).join('\n');
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    if (query.get('follow') !== 'true') {
      response.end(body);
      return;
    }
    // `kubectl logs -f`: what is there, then what is appended, until the pod goes or the client leaves.
    response.write(body);
    this.#responses.add(response);
    let sent = text.length;
    const timer = setInterval(() => {
      const pod = this.get(type, namespace, name);
      const now = this.podLogs?.(namespace ?? 'default', name, query.get('container') ?? undefined);
      if (pod === undefined || now === undefined) {
        end();
        return;
      }
      if (now.length > sent) response.write(now.slice(sent));
      sent = now.length;
    }, LOG_FOLLOW_POLL_MS);
    const end = () => {
      clearInterval(timer);
      this.#responses.delete(response);
      if (!response.writableEnded) response.end();
    };
    response.on('close', end);
  }

  /**
   * A watch: chunked newline-delimited JSON, headers flushed at once. Without a resourceVersion (or
   * "0") it starts with ADDED events for what exists; with one, it replays the retained events after
   * it, or sends an ERROR event with a 410 Expired Status when they are no longer retained (as the
   * real server does), and the client must list again.
   */
  #watch(
    request: IncomingMessage,
    response: ServerResponse,
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
  ): void {
    if (this.#watchers.size >= MAX_WATCHES)
      throw new ApiError(429, 'TooManyRequests', 'too many open watches');
    const matches = this.#matcher(type, query);
    const table = this.#wantsTable(request);
    const includeObject = query.get('includeObject') === 'Object';
    response.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache',
    });
    response.flushHeaders();
    this.#responses.add(response);
    const write = (eventType: string, object: Json) => {
      response.write(`${JSON.stringify({ type: eventType, object })}\n`);
    };
    const watcher: Watcher = {
      key: storeKey(type),
      type,
      namespace,
      matches,
      send: (eventType, object) => {
        const presented = this.#present(object, type);
        const body = table ? toTable(type, [presented], Date.now(), includeObject) : presented;
        if (table)
          (body as JsonObject).metadata = { resourceVersion: presented.metadata.resourceVersion as Json };
        write(eventType, body);
      },
    };
    const requested = query.get('resourceVersion');
    if (requested === null || requested === '' || requested === '0') {
      for (const object of this.#selected(type, namespace, query)) watcher.send('ADDED', object);
    } else {
      const from = Number(requested);
      if (!Number.isInteger(from)) throw badRequest(`invalid resource version: ${requested}`);
      if (from + 1 < this.#oldestRetained) {
        write(
          'ERROR',
          new ApiError(
            410,
            'Expired',
            `too old resource version: ${from} (${this.#oldestRetained - 1})`,
          ).toStatus(),
        );
        this.#responses.delete(response);
        response.end();
        return;
      }
      for (const event of this.#events)
        if (event.resourceVersion > from && event.key === watcher.key) this.#deliver(watcher, event);
    }
    this.#watchers.add(watcher);
    const timers: NodeJS.Timeout[] = [];
    if (query.get('allowWatchBookmarks') === 'true')
      timers.push(
        setInterval(() => {
          write('BOOKMARK', {
            kind: type.kind,
            apiVersion: groupVersion(type),
            metadata: { resourceVersion: String(this.#resourceVersion) },
          });
        }, this.#options.bookmarkIntervalMs),
      );
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
    const end = () => {
      for (const timer of timers) clearInterval(timer);
      this.#watchers.delete(watcher);
      this.#responses.delete(response);
      if (!response.writableEnded) response.end();
    };
    if (timeoutSeconds > 0) timers.push(setTimeout(end, timeoutSeconds * 1000));
    request.on('close', end);
    response.on('close', end);
  }

  #discovery(path: string, segments: string[], response: ServerResponse): boolean {
    const types = [...this.#types.values()];
    const send = (body: Json) => this.#send(response, 200, body, []);
    if (path === '/version') {
      send({
        major: '1',
        minor: String(this.#options.minorVersion),
        gitVersion: `v1.${this.#options.minorVersion}.0-northlight-test`,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.22.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    } else if (path === '/api') {
      send({
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.#port}` }],
      });
    } else if (path === '/apis') send(groupList(types));
    else if (path === '/api/v1')
      send(
        resourceList(
          types.filter((type) => type.group === ''),
          'v1',
        ),
      );
    else if (segments[0] === 'apis' && segments.length === 3) {
      const matching = types.filter((type) => type.group === segments[1] && type.version === segments[2]);
      if (matching.length === 0)
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      send(resourceList(matching, `${segments[1]}/${segments[2]}`));
    } else if (segments[0] === 'apis' && segments.length === 2) {
      const list = groupList(types.filter((type) => type.group === segments[1]));
      const group = (list.groups as JsonObject[])[0];
      if (group === undefined)
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      send({ kind: 'APIGroup', apiVersion: 'v1', ...group });
    } else if (path === '/openapi/v3') {
      const paths: JsonObject = {};
      for (const [gv, document] of this.#openApiDocuments())
        paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${documentHash(document)}` };
      send({ paths });
    } else if (segments[0] === 'openapi' && segments[1] === 'v3' && segments.length > 2) {
      const document = this.#openApiDocuments().get(segments.slice(2).join('/'));
      if (document === undefined)
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      send(document);
    } else if (path === '/healthz' || path === '/readyz' || path === '/livez') {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end('ok');
    } else return false;
    return true;
  }

  /** "api/v1" / "apis/<group>/<version>" → the OpenAPI v3 document of that group-version. */
  #openApiDocuments(): Map<string, JsonObject> {
    const byGroupVersion = new Map<string, ResourceType[]>();
    for (const type of this.#types.values()) {
      const key = type.group === '' ? 'api/v1' : `apis/${type.group}/${type.version}`;
      byGroupVersion.set(key, [...(byGroupVersion.get(key) ?? []), type]);
    }
    return new Map([...byGroupVersion].map(([key, types]) => [key, openApiDocument(types)]));
  }

  async #readText(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES)
        throw new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  #parse(text: string, yamlAllowed: boolean): Json {
    try {
      return JSON.parse(text) as Json;
    } catch (error) {
      if (yamlAllowed)
        try {
          return parseYaml(text) as Json;
        } catch (yamlError) {
          throw badRequest(`error decoding YAML: ${(yamlError as Error).message}`);
        }
      throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
    }
  }

  async #readObject(request: IncomingMessage): Promise<JsonObject> {
    const body = this.#parse(await this.#readText(request), true);
    if (!isObject(body)) throw badRequest('the request body must be a JSON object');
    return body;
  }

  #send(response: ServerResponse, code: number, body: Json, warnings: string[]): void {
    const headers: Record<string, string | string[]> = { 'Content-Type': 'application/json' };
    if (warnings.length > 0) headers.Warning = warnings.map((warning) => `299 - ${JSON.stringify(warning)}`);
    response.writeHead(code, headers);
    response.end(JSON.stringify(body));
  }

  #fail(response: ServerResponse, error: unknown): void {
    const apiError =
      error instanceof ApiError
        ? error
        : new ApiError(
            500,
            'InternalError',
            `Internal error occurred: ${(error as Error).stack ?? String(error)}`,
          );
    if (!(error instanceof ApiError))
      process.stderr.write(`[kube-api] internal error: ${(error as Error).stack ?? String(error)}\n`);
    if (response.headersSent) {
      response.end();
      return;
    }
    this.#send(response, apiError.code, apiError.toStatus(), []);
  }
}
