/**
 * The resource types the test API server serves: the built-in ones the operator and its chart use,
 * and custom resources registered from CustomResourceDefinitions. Also the documents derived from
 * them: discovery (legacy, non-aggregated), OpenAPI v3 (enough for kubectl's field-validation check
 * and for `kubectl explain`-free validation) and server-side Table printing.
 */
import { createHash } from 'node:crypto';
import { isObject, type Json, type JsonObject } from './patches.js';
import type { Schema } from './structural-schema.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  statusSubresource: boolean;
  /** For custom resources: the version's openAPIV3Schema (validation and pruning). */
  schema?: Schema;
  printerColumns?: readonly PrinterColumn[];
  /** Field-selector fields beyond metadata.name / metadata.namespace. */
  selectableFields?: readonly string[];
  /** The CRD that registered it (custom resources only). */
  definition?: string;
}

/** Where a type's objects are kept: all served versions of a resource share one store. */
export function storeKey(type: { group: string; plural: string }): string {
  return `${type.group}/${type.plural}`;
}

export function groupVersion(type: { group: string; version: string }): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** `databaseclusters.northlight.dev`, `pods`: how error messages name a resource. */
export function qualifiedResource(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`;
}

function builtIn(
  group: string,
  version: string,
  kind: string,
  plural: string,
  options: { namespaced?: boolean; status?: boolean; shortNames?: string[]; fields?: string[] } = {},
): ResourceType {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: options.namespaced ?? true,
    shortNames: options.shortNames ?? [],
    statusSubresource: options.status ?? false,
    selectableFields: options.fields ?? [],
  };
}

export const BUILT_IN_TYPES: readonly ResourceType[] = [
  builtIn('', 'v1', 'Namespace', 'namespaces', {
    namespaced: false,
    status: true,
    shortNames: ['ns'],
    fields: ['status.phase'],
  }),
  builtIn('', 'v1', 'Pod', 'pods', {
    status: true,
    shortNames: ['po'],
    fields: ['spec.nodeName', 'status.phase'],
  }),
  builtIn('', 'v1', 'Service', 'services', { status: true, shortNames: ['svc'] }),
  builtIn('', 'v1', 'Endpoints', 'endpoints', { shortNames: ['ep'] }),
  builtIn('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', {
    status: true,
    shortNames: ['pvc'],
  }),
  builtIn('', 'v1', 'Secret', 'secrets', { fields: ['type'] }),
  builtIn('', 'v1', 'ConfigMap', 'configmaps', { shortNames: ['cm'] }),
  builtIn('', 'v1', 'Event', 'events', {
    shortNames: ['ev'],
    // What `kubectl describe` selects events by.
    fields: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  }),
  builtIn('', 'v1', 'Node', 'nodes', { namespaced: false, status: true, shortNames: ['no'] }),
  builtIn('', 'v1', 'ServiceAccount', 'serviceaccounts', { shortNames: ['sa'] }),
  builtIn('apps', 'v1', 'Deployment', 'deployments', { status: true, shortNames: ['deploy'] }),
  builtIn('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', {
    status: true,
    shortNames: ['pdb'],
  }),
  builtIn('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', { shortNames: ['netpol'] }),
  builtIn('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  builtIn('scheduling.k8s.io', 'v1', 'PriorityClass', 'priorityclasses', {
    namespaced: false,
    shortNames: ['pc'],
  }),
  builtIn('events.k8s.io', 'v1', 'Event', 'events', { shortNames: ['ev'] }),
  builtIn('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  builtIn('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  builtIn('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', { namespaced: false }),
  builtIn('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', {
    namespaced: false,
  }),
  builtIn('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', {
    namespaced: false,
    status: true,
    shortNames: ['crd', 'crds'],
  }),
];

/** The resource types a CustomResourceDefinition declares, one per served version. */
export function typesFromDefinition(definition: JsonObject): ResourceType[] {
  const spec = (definition.spec ?? {}) as JsonObject;
  const names = (spec.names ?? {}) as JsonObject;
  const kind = String(names.kind);
  const versions = Array.isArray(spec.versions) ? (spec.versions as JsonObject[]) : [];
  return versions
    .filter((version) => version.served !== false)
    .map((version) => {
      const subresources = (version.subresources ?? {}) as JsonObject;
      const schema = ((version.schema ?? {}) as JsonObject).openAPIV3Schema as Schema | undefined;
      return {
        group: String(spec.group),
        version: String(version.name),
        plural: String(names.plural),
        singular: String(names.singular ?? kind.toLowerCase()),
        kind,
        listKind: String(names.listKind ?? `${kind}List`),
        namespaced: spec.scope !== 'Cluster',
        shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
        statusSubresource: subresources.status !== undefined,
        ...(schema === undefined ? {} : { schema }),
        printerColumns: (version.additionalPrinterColumns ?? []) as unknown as PrinterColumn[],
        definition: String((definition.metadata as JsonObject).name),
      };
    });
}

// -- discovery --------------------------------------------------------------------------------------

export function resourceList(types: readonly ResourceType[], gv: string): JsonObject {
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  const resources: JsonObject[] = [];
  for (const type of types) {
    resources.push({
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs,
      ...(type.shortNames.length > 0 ? { shortNames: [...type.shortNames] } : {}),
      storageVersionHash: createHash('sha256').update(storeKey(type)).digest('base64').slice(0, 12),
    });
    if (type.statusSubresource)
      resources.push({
        name: `${type.plural}/status`,
        singularName: '',
        namespaced: type.namespaced,
        kind: type.kind,
        verbs: ['get', 'patch', 'update'],
      });
    if (type.kind === 'Pod')
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

export function groupList(types: readonly ResourceType[]): JsonObject {
  const groups = new Map<string, string[]>();
  for (const type of types) {
    if (type.group === '') continue;
    const versions = groups.get(type.group) ?? [];
    if (!versions.includes(type.version)) versions.push(type.version);
    groups.set(type.group, versions);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => {
      const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: entries, preferredVersion: entries[0]! };
    }),
  };
}

// -- OpenAPI v3 -------------------------------------------------------------------------------------

/** `northlight.dev` → `dev.northlight`: the reversed-domain prefix of OpenAPI definition names. */
function definitionName(type: ResourceType): string {
  const group = type.group === '' ? 'io.k8s.api.core' : type.group.split('.').reverse().join('.');
  return `${group}.${type.version}.${type.kind}`;
}

function queryParameter(name: string): JsonObject {
  return { name, in: 'query', schema: { type: 'string', uniqueItems: true } };
}

/**
 * A group-version's OpenAPI v3 document. kubectl reads it to learn that PATCH and POST accept
 * `fieldValidation` (its QueryParamVerifierV3 looks for a PATCH operation carrying the
 * x-kubernetes-group-version-kind of the object); then it sends `fieldValidation=Strict` and leaves
 * validation to the server, so no OpenAPI v2 document is needed.
 */
export function openApiDocument(types: readonly ResourceType[]): JsonObject {
  const paths: JsonObject = {};
  const schemas: JsonObject = {};
  const parameters = ['fieldValidation', 'fieldManager', 'dryRun', 'force'].map(queryParameter);
  for (const type of types) {
    const gvk = [{ group: type.group, version: type.version, kind: type.kind }];
    const reference = { $ref: `#/components/schemas/${definitionName(type)}` };
    const body = { content: { 'application/json': { schema: reference } } };
    const operation = (action: string, extra: JsonObject = {}): JsonObject => ({
      operationId: `${action}${type.kind}`,
      'x-kubernetes-action': action,
      // On an operation the extension is one object; on a schema it is a list (as the real server serves).
      'x-kubernetes-group-version-kind': gvk[0]!,
      responses: { '200': body },
      ...extra,
    });
    const prefix = `/${type.group === '' ? 'api' : `apis/${type.group}`}/${type.version}/${
      type.namespaced ? 'namespaces/{namespace}/' : ''
    }${type.plural}`;
    paths[prefix] = {
      get: operation('list'),
      post: operation('post', { parameters, requestBody: body }),
    };
    const item = { get: operation('get'), put: operation('put', { parameters, requestBody: body }) };
    paths[`${prefix}/{name}`] = {
      ...item,
      delete: operation('delete'),
      patch: operation('patch', {
        parameters,
        requestBody: { content: { 'application/merge-patch+json': {} } },
      }),
    };
    if (type.statusSubresource)
      paths[`${prefix}/{name}/status`] = {
        ...item,
        patch: operation('patch', {
          parameters,
          requestBody: { content: { 'application/merge-patch+json': {} } },
        }),
      };
    const schema: JsonObject = isObject(type.schema as Json)
      ? structuredClone(type.schema as unknown as JsonObject)
      : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    schema['x-kubernetes-group-version-kind'] = gvk;
    schemas[definitionName(type)] = schema;
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.31.0' },
    paths,
    components: { schemas },
  };
}

export function documentHash(document: JsonObject): string {
  return createHash('sha512').update(JSON.stringify(document)).digest('hex').slice(0, 128).toUpperCase();
}

// -- Table printing -----------------------------------------------------------------------------------

/** `5s`, `3m`, `2h`, `4d`: kubectl's short duration for an AGE cell. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/**
 * The subset of JSONPath that printer columns use: `.a.b`, `.a[0]`, `.a[*].b` and the filter
 * `.conditions[?(@.type=="Ready")].status`.
 */
export function evaluateJsonPath(object: Json, path: string): Json | undefined {
  let current: Json[] = [object];
  const tokens = path.replace(/^\{|\}$/g, '').match(/\[\?\(@\.[^)]*\)\]|\[[^\]]*\]|\.[^.[]+/g) ?? [];
  for (const token of tokens) {
    const next: Json[] = [];
    for (const value of current) {
      if (token.startsWith('[?(')) {
        const filter = /^\[\?\(@\.([A-Za-z0-9_]+)\s*==\s*["']([^"']*)["']\)\]$/.exec(token);
        if (filter !== null && Array.isArray(value))
          for (const item of value)
            if (isObject(item) && String(item[filter[1]!]) === filter[2]) next.push(item);
      } else if (token.startsWith('[')) {
        const inner = token.slice(1, -1);
        if (Array.isArray(value)) {
          if (inner === '*') next.push(...value);
          else if (value[Number(inner)] !== undefined) next.push(value[Number(inner)]!);
        }
      } else if (isObject(value) && value[token.slice(1)] !== undefined) next.push(value[token.slice(1)]!);
    }
    current = next;
  }
  if (current.length === 0) return undefined;
  return current.length === 1 ? current[0] : current;
}

function podColumns(): PrinterColumn[] {
  return [
    { name: 'Ready', type: 'string', jsonPath: '' },
    { name: 'Status', type: 'string', jsonPath: '.status.phase' },
    { name: 'Restarts', type: 'integer', jsonPath: '' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'IP', type: 'string', jsonPath: '.status.podIP', priority: 1 },
    { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', priority: 1 },
  ];
}

function podCell(column: PrinterColumn, pod: JsonObject): Json {
  const statuses = ((pod.status as JsonObject | undefined)?.containerStatuses ?? []) as JsonObject[];
  const containers = ((pod.spec as JsonObject | undefined)?.containers ?? []) as JsonObject[];
  if (column.name === 'Ready')
    return `${statuses.filter((status) => status.ready === true).length}/${containers.length}`;
  if (column.name === 'Restarts')
    return statuses.reduce((total, status) => total + Number(status.restartCount ?? 0), 0);
  if (column.name === 'Status' && isObject(pod.metadata) && pod.metadata.deletionTimestamp !== undefined)
    return 'Terminating';
  return evaluateJsonPath(pod, column.jsonPath) ?? '<none>';
}

export function toTable(
  type: ResourceType,
  objects: readonly JsonObject[],
  nowMs: number,
  full: boolean,
): JsonObject {
  const columns =
    type.kind === 'Pod'
      ? podColumns()
      : (type.printerColumns ?? []).filter((column) => column.name.toLowerCase() !== 'name');
  const hasAge = columns.some((column) => column.name.toLowerCase() === 'age');
  const definitions: JsonObject[] = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 },
    ...columns.map((column) => ({
      name: column.name,
      type: column.type === 'date' ? 'string' : column.type,
      format: column.format ?? '',
      description: column.description ?? '',
      priority: column.priority ?? 0,
    })),
  ];
  if (!hasAge) definitions.push({ name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 });
  const rows = objects.map((object) => {
    const metadata = object.metadata as JsonObject;
    const age = humanDuration(nowMs - Date.parse(String(metadata.creationTimestamp)));
    const cells: Json[] = [String(metadata.name)];
    for (const column of columns) {
      if (type.kind === 'Pod' && column.type !== 'date') cells.push(podCell(column, object));
      else {
        const value = evaluateJsonPath(object, column.jsonPath);
        if (column.type === 'date' && typeof value === 'string')
          cells.push(humanDuration(nowMs - Date.parse(value)));
        else
          cells.push(value === undefined ? null : Array.isArray(value) ? value.map(String).join(',') : value);
      }
    }
    if (!hasAge) cells.push(age);
    return {
      cells,
      object: full
        ? object
        : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata as Json },
    };
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: definitions, rows };
}
