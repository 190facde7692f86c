/**
 * The one source of northlight's CustomResourceDefinitions: the OpenAPI v3 structural schemas of
 * `DatabaseCluster` and `StorageVolume`, their printer columns and status subresources.
 * `scripts/gen-k8s.ts` writes them to `crds/` and `charts/northlight/crds/`; a test fails when the
 * committed files differ from what this file generates.
 *
 * The DatabaseCluster `spec` is the document `core/cluster-spec.ts` `validateClusterSpec` reads, and
 * the limits come from there. The schema rejects what an API server can check on one field (types,
 * patterns, ranges, list lengths, unique names); what needs several fields (repairs per node above
 * repairs in all, a claim smaller than a segment), a day's limit on a duration, or the form of an
 * object store is left to `validateClusterSpec`, which the operator runs on every generation and
 * reports in the `Ready` condition (reason `InvalidSpec`) without touching a pod.
 *
 * The schemas are structural (apiextensions.k8s.io/v1): every field has a type, except
 * `x-kubernetes-int-or-string` sizes and quantities and the string-or-mapping `objectStore`, which
 * is `x-kubernetes-preserve-unknown-fields`. Unknown fields elsewhere are pruned by the API server,
 * or refused with `kubectl apply --validate=strict` (kubectl's default).
 *
 * Pure (STYLE.md §2).
 */
import { TRANSPORT_AUTH_MODES } from '@northlight/protocol';
import {
  BASE_PORT_MAX,
  BASE_PORT_MIN,
  CACHE_SIZE_BYTES_MAX,
  CACHE_SIZE_BYTES_MIN,
  CLUSTER_NAME_PATTERN,
  DATA_DIR_LENGTH_MAX,
  DNS_SUBDOMAIN_PATTERN,
  ENGINE_INSTANCES_MAX,
  ENGINE_TRANSACTION_MODES,
  HEAT_FACTOR_MAX,
  KUBERNETES_MAP_ENTRIES_MAX,
  LABEL_VALUE_PATTERN,
  LSN_ALLOCATION_LIMIT_MAX,
  PROMOTION_TIER_MAX,
  QUANTITY_PATTERN,
  REPAIR_BANDWIDTH_MAX_BYTES,
  REPAIRS_MAX,
  REPAIRS_PER_NODE_MAX,
  SEGMENT_SIZE_BYTES_MAX,
  SEGMENT_SIZE_BYTES_MIN,
  SIZE_ALIGNMENT_BYTES,
  STORAGE_NODES_PER_ZONE_MAX,
  STORAGE_NODES_PER_ZONE_MIN,
  TOLERATION_EFFECTS,
  TOLERATION_OPERATORS,
  TOLERATIONS_MAX,
  VERSION_PATTERN,
  VOLUME_CLAIM_SIZE_BYTES_MAX,
} from '../core/cluster-spec.js';
import {
  CONDITIONS,
  type ConditionType,
  DATABASE_CLUSTER,
  GROUP,
  STORAGE_VOLUME,
  VERSION,
} from './contract.js';

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps these schemas use. */
export interface JsonSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, JsonSchemaProps>;
  additionalProperties?: JsonSchemaProps;
  required?: string[];
  items?: JsonSchemaProps;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  multipleOf?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  anyOf?: JsonSchemaProps[];
  not?: JsonSchemaProps;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: true;
      storage: true;
      schema: { openAPIV3Schema: JsonSchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }>;
  };
}

// ---------------------------------------------------------------------------------------------------
// Building blocks

/** A regular expression as the API server (Go RE2) reads it: the same text, no JavaScript flags. */
function patternOf(expression: RegExp): string {
  if (expression.flags !== '') throw new Error(`pattern ${expression} has flags, which RE2 does not read`);
  return expression.source;
}

function text(
  description: string,
  rules: Omit<JsonSchemaProps, 'type' | 'description'> = {},
): JsonSchemaProps {
  return { type: 'string', ...(description === '' ? {} : { description }), ...rules };
}

function integer(description: string, minimum: number, maximum: number): JsonSchemaProps {
  return { type: 'integer', description, minimum, maximum };
}

function object(
  description: string,
  properties: Record<string, JsonSchemaProps>,
  required: string[] = [],
): JsonSchemaProps {
  return { type: 'object', description, properties, ...(required.length === 0 ? {} : { required }) };
}

/** `parseSizeBytes`: bytes as a number, or a whole number with KiB, MiB, GiB or TiB. */
const SIZE_TEXT_PATTERN = '^[0-9]{1,16}(KiB|MiB|GiB|TiB)?$';

/**
 * The one `anyOf` a structural schema allows to name types: an int-or-string node must carry exactly
 * this, and its other rules beside it (a number rule skips text and a pattern skips numbers).
 */
const INT_OR_STRING: JsonSchemaProps = {
  'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
};

/** A size: a page-aligned number of bytes in range, or text in the size form (its range is checked later). */
function size(description: string, minimumBytes: number, maximumBytes: number): JsonSchemaProps {
  return {
    description,
    ...INT_OR_STRING,
    minimum: minimumBytes,
    maximum: maximumBytes,
    multipleOf: SIZE_ALIGNMENT_BYTES,
    pattern: SIZE_TEXT_PATTERN,
  };
}

/**
 * A bandwidth: bytes per second as a page-aligned number, or text in the size form with an optional
 * `/s` (`32MiB/s`); 0 is no limit. The lower bound of a non-zero one is checked by the operator.
 */
function bandwidth(description: string, maximumBytes: number): JsonSchemaProps {
  return {
    description,
    ...INT_OR_STRING,
    minimum: 0,
    maximum: maximumBytes,
    multipleOf: SIZE_ALIGNMENT_BYTES,
    pattern: '^[0-9]{1,16}(KiB|MiB|GiB|TiB)?(/s)?$',
  };
}

/** `parseDurationMs`: a whole number with ms, s or m; never negative, never a bare number. */
function duration(description: string): JsonSchemaProps {
  return text(description, { pattern: '^[0-9]{1,12}(ms|s|m)$' });
}

/** A resource quantity (`500m`, `2`, `1Gi`), as in a container's requests and limits. */
const QUANTITY: JsonSchemaProps = { ...INT_OR_STRING, minimum: 0, pattern: patternOf(QUANTITY_PATTERN) };

function textMap(description: string, valuePattern?: RegExp): JsonSchemaProps {
  return {
    type: 'object',
    description,
    maxProperties: KUBERNETES_MAP_ENTRIES_MAX,
    additionalProperties:
      valuePattern === undefined ? { type: 'string' } : text('', { pattern: patternOf(valuePattern) }),
  };
}

const IDENTIFIER_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';

// ---------------------------------------------------------------------------------------------------
// DatabaseCluster spec

const engineSchema = object('The database engines: one writer and up to 15 read replicas.', {
  version: text('Engine version, e.g. 0.1.0.', { pattern: patternOf(VERSION_PATTERN) }),
  instances: {
    type: 'array',
    description:
      'Engine instances with unique names. The first one with the lowest promotionTier starts as the writer.',
    minItems: 1,
    maxItems: ENGINE_INSTANCES_MAX,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    items: object(
      'One engine instance.',
      {
        name: text("1 to 63 of a-z, 0-9, '.', '_' and '-'.", { pattern: IDENTIFIER_PATTERN }),
        promotionTier: integer(
          '0 to 15; on failover the lowest tier is promoted first (default 1).',
          0,
          PROMOTION_TIER_MAX,
        ),
      },
      ['name'],
    ),
  },
  cacheSize: size(
    "Each engine's buffer cache: 1MiB to 64GiB, a multiple of 4KiB.",
    CACHE_SIZE_BYTES_MIN,
    CACHE_SIZE_BYTES_MAX,
  ),
  lsnAllocationLimit: integer(
    'LAL: LSNs the writer may run ahead of the durable point.',
    1,
    LSN_ALLOCATION_LIMIT_MAX,
  ),
  transactions: text(
    'Interactive transactions: serial (default; each holds the SQL writer from its first statement to COMMIT) or optimistic (they overlap; one whose reads another changed fails with 40001, which clients retry).',
    { enum: [...ENGINE_TRANSACTION_MODES] },
  ),
  tls: object(
    "TLS on the engines' PostgreSQL endpoints (absent: none offered). Changing it recreates the engines, replicas first, then a switchover.",
    {
      secretName: text(
        'A Secret in this namespace with tls.crt and tls.key (kubectl create secret tls, or cert-manager); engines reload it when it is renewed.',
        { pattern: patternOf(DNS_SUBDOMAIN_PATTERN) },
      ),
    },
    ['secretName'],
  ),
});

const storageSchema = object('The storage fleet: every PG keeps 6 segments, 2 in each of 3 zones.', {
  version: text('Storage node version, e.g. 0.1.0.', { pattern: patternOf(VERSION_PATTERN) }),
  zones: {
    type: 'array',
    description:
      'Exactly 3 zones with distinct names; storage pods are pinned to topology.kubernetes.io/zone.',
    minItems: 3,
    maxItems: 3,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    items: object(
      'One zone of the storage fleet.',
      {
        name: text("The zone, as in the nodes' topology.kubernetes.io/zone label.", {
          pattern: IDENTIFIER_PATTERN,
        }),
        nodes: integer(
          'Storage nodes in this zone (default 2).',
          STORAGE_NODES_PER_ZONE_MIN,
          STORAGE_NODES_PER_ZONE_MAX,
        ),
      },
      ['name'],
    ),
  },
  segmentSize: size(
    'The size of a PG: 1MiB to 1TiB, a multiple of 4KiB.',
    SEGMENT_SIZE_BYTES_MIN,
    SEGMENT_SIZE_BYTES_MAX,
  ),
  volumeClaim: object('Kubernetes only: the PersistentVolumeClaim of each storage pod.', {
    storageClassName: text('Absent: the default storage class.', {
      pattern: patternOf(DNS_SUBDOMAIN_PATTERN),
    }),
    size: size(
      'At least one segment; default the larger of 10GiB and the segment size.',
      SEGMENT_SIZE_BYTES_MIN,
      VOLUME_CLAIM_SIZE_BYTES_MAX,
    ),
  }),
});

/**
 * Holds for a mapping and for nothing else, without naming a type (which an `anyOf` may not): a
 * text, a number, a list or a boolean each breaks one of these pairs, and a mapping ignores them all.
 */
const ONLY_A_MAPPING: JsonSchemaProps = {
  minLength: 1,
  maxLength: 0,
  minimum: 1,
  maximum: 0,
  minItems: 1,
  maxItems: 0,
  not: { enum: [true, false] },
};

/**
 * `embedded`, `none`, or a mapping for an S3 bucket. A structural schema cannot say "a string or a
 * mapping": this node keeps unknown fields, may not name types in its `anyOf`, and may not list
 * properties without being an object. So the schema refuses any other word or value and a mapping
 * without a bucket; a bad bucket name or a misspelled field of the mapping pass here and are
 * reported by the operator in the Ready condition (validateClusterSpec).
 */
const objectStoreSchema: JsonSchemaProps = {
  description:
    'embedded (an S3-compatible server beside the cluster), none (no backups), or { endpoint, bucket, region, prefix } for an S3 bucket.',
  'x-kubernetes-preserve-unknown-fields': true,
  anyOf: [{ enum: ['embedded', 'none'] }, { ...ONLY_A_MAPPING, required: ['bucket'] }],
};

const controlPlaneSchema = object('How the control plane repairs and balances the storage fleet.', {
  repairGracePeriod: duration('An unreachable storage node is repaired after this long (0s to 1440m).'),
  maxConcurrentRepairsPerNode: integer('Segment repairs at once on one node.', 1, REPAIRS_PER_NODE_MAX),
  maxConcurrentRepairs: integer('Segment repairs at once in the fleet.', 1, REPAIRS_MAX),
  repairBandwidthPerNode: bandwidth(
    'Bytes per second a storage node takes in for repairs, migrations and catch-ups together (e.g. 32MiB/s; 64KiB/s to 512GiB/s, or 0 for no limit).',
    REPAIR_BANDWIDTH_MAX_BYTES,
  ),
  heatFactor: {
    type: 'number',
    description: "A node this many times hotter than the fleet's mean sheds segments (above 1, at most 100).",
    minimum: 1,
    exclusiveMinimum: true,
    maximum: HEAT_FACTOR_MAX,
  },
  heatCooldown: duration('After a migration the node is left alone this long (0s to 1440m).'),
});

const localSchema = object('Read only by `northlight up` (the local platform); Kubernetes ignores it.', {
  dataDir: text('Where local processes keep their data.', { minLength: 1, maxLength: DATA_DIR_LENGTH_MAX }),
  basePort: {
    type: 'integer',
    description: `0 (free ports) or ${BASE_PORT_MIN} to ${BASE_PORT_MAX}.`,
    minimum: 0,
    maximum: BASE_PORT_MAX,
    anyOf: [{ enum: [0] }, { minimum: BASE_PORT_MIN }],
  },
  tls: object(
    "PEM files for the engines' PostgreSQL endpoints (absent: no TLS offered).",
    {
      certFile: text('The certificate (chain).', { minLength: 1, maxLength: DATA_DIR_LENGTH_MAX }),
      keyFile: text("The certificate's private key.", { minLength: 1, maxLength: DATA_DIR_LENGTH_MAX }),
    },
    ['certFile', 'keyFile'],
  ),
});

function resourceRequirements(component: string): JsonSchemaProps {
  const quantities = (what: string): JsonSchemaProps => ({
    type: 'object',
    description: `${what} of the ${component} container, e.g. { cpu: 500m, memory: 1Gi }.`,
    maxProperties: KUBERNETES_MAP_ENTRIES_MAX,
    additionalProperties: QUANTITY,
  });
  return object(`Resources of each ${component} pod.`, {
    requests: quantities('Requests'),
    limits: quantities('Limits'),
  });
}

const podTemplateSchema = object('Kubernetes only: added to every pod the operator creates.', {
  labels: textMap("Extra pod labels; the operator's own labels win on a clash.", LABEL_VALUE_PATTERN),
  annotations: textMap('Extra pod annotations.'),
  nodeSelector: textMap('Node labels the pods must match.', LABEL_VALUE_PATTERN),
  tolerations: {
    type: 'array',
    description: 'Taints the pods tolerate.',
    maxItems: TOLERATIONS_MAX,
    items: object('A toleration, as in a pod spec.', {
      key: text('The taint key; empty with operator Exists matches every taint.'),
      operator: text('Default Equal.', { enum: [...TOLERATION_OPERATORS] }),
      value: text('The taint value (operator Equal).'),
      effect: text('Absent: every effect.', { enum: [...TOLERATION_EFFECTS] }),
      tolerationSeconds: {
        type: 'integer',
        format: 'int64',
        description: 'For NoExecute: how long the pod stays.',
      },
    }),
  },
  priorityClassName: text('A PriorityClass for the data pods.', {
    pattern: patternOf(DNS_SUBDOMAIN_PATTERN),
  }),
});

export const databaseClusterSpecSchema: JsonSchemaProps = object(
  'What the cluster should look like: the same document `northlight up -f` runs locally.',
  {
    engine: engineSchema,
    storage: storageSchema,
    backup: object('Where storage nodes back up the log and page images.', {
      objectStore: objectStoreSchema,
      stagingDelay: duration(
        'The longest a written record waits before its storage node stages it to the object store (0s to 5m; default 10s). Each upload is a billed PUT: longer means fewer, larger uploads, and more log kept on the nodes until it is staged. Changing it recreates the storage nodes zone by zone.',
      ),
    }),
    controlPlane: controlPlaneSchema,
    security: object('Who the members take as peers.', {
      transportAuthentication: text(
        "required (default): every storage node and engine proves the cluster's internal token to its peers. transition: also take peers of a build from before transport authentication, unauthenticated, for a rolling upgrade from one; set required again once every member runs the new build. A change is rolled out like an upgrade: storage zone by zone, then the replicas, then a switchover.",
        { enum: [...TRANSPORT_AUTH_MODES] },
      ),
    }),
    local: localSchema,
    resources: object('Kubernetes only: requests and limits per component.', {
      storage: resourceRequirements('storage'),
      engine: resourceRequirements('engine'),
    }),
    podTemplate: podTemplateSchema,
  },
);

// ---------------------------------------------------------------------------------------------------
// Status

/** metav1.Condition, as the API conventions define it. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase, e.g. `InvalidSpec`, `QuorumAtRisk`, `AllReplicasHealthy`. */
  reason: string;
  message: string;
  /** RFC 3339. */
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface DatabaseClusterStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** One word for `kubectl get`: Creating, Ready, Degraded, Repairing, Upgrading, FailingOver, Invalid, Deleting. */
  phase?: string;
  /** The engine instance that is the writer now. */
  writer?: string;
  readyInstances?: number;
  /** "ready/desired", for the printer column. */
  instances?: string;
  storage?: {
    nodes: number;
    readyNodes: number;
    ready: string;
    zones?: Array<{ name: string; nodes: number; readyNodes: number }>;
  };
  pgCount?: number;
  volumeEpoch?: number;
  membershipEpochMax?: number;
  volumeSizeBytes?: number;
  endpoints?: { readWrite?: string; readOnly?: string };
  /** How the members' transport authenticates peers, as they report it (`describeTransportView`). */
  transport?: string;
  /** The last `kubectl northlight` request taken (as the last-request annotation). */
  lastRequest?: string;
}

export interface StorageVolumeStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  pgCount?: number;
  degradedPgCount?: number;
  /** Every PG has its six segments on live nodes. */
  healthy?: boolean;
  volumeEpoch?: number;
  membershipEpochMax?: number;
  volumeSizeBytes?: number;
  /** `volumeSizeBytes` in its largest exact unit, for the printer column. */
  size?: string;
}

const conditionsSchema: JsonSchemaProps = {
  type: 'array',
  description: `Conditions: ${CONDITIONS.join(', ')}.`,
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: object(
    'metav1.Condition.',
    {
      type: text('Ready, Degraded, Repairing, Upgrading or FailingOver.', { maxLength: 316 }),
      status: text('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
      reason: text('CamelCase reason.', {
        maxLength: 1_024,
        minLength: 1,
        pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      }),
      message: text('For humans.', { maxLength: 32_768 }),
      lastTransitionTime: text('When status last changed.', { format: 'date-time' }),
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    },
    ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  ),
};

const generationSchema: JsonSchemaProps = { type: 'integer', format: 'int64', minimum: 0 };
const countSchema: JsonSchemaProps = { type: 'integer', format: 'int32', minimum: 0 };
const epochSchema: JsonSchemaProps = { type: 'integer', format: 'int64', minimum: 0 };

const databaseClusterStatusSchema = object('Observed state, written by the operator.', {
  observedGeneration: generationSchema,
  conditions: conditionsSchema,
  phase: text('Creating, Ready, Degraded, Repairing, Upgrading, FailingOver, Invalid or Deleting.'),
  writer: text('The engine instance that is the writer.'),
  readyInstances: countSchema,
  instances: text('ready/desired engine instances.'),
  storage: object('The storage fleet.', {
    nodes: countSchema,
    readyNodes: countSchema,
    ready: text('ready/desired storage nodes.'),
    zones: {
      type: 'array',
      maxItems: 3,
      items: object('One zone.', { name: text('Zone.'), nodes: countSchema, readyNodes: countSchema }),
    },
  }),
  pgCount: countSchema,
  volumeEpoch: epochSchema,
  membershipEpochMax: epochSchema,
  volumeSizeBytes: { type: 'integer', format: 'int64', minimum: 0 },
  endpoints: object('Service DNS names.', {
    readWrite: text('The -rw Service: the writer.'),
    readOnly: text('The -ro Service: the replicas.'),
  }),
  transport: text(
    "How the members' transport authenticates peers, as they report it: required on all members, or which run transition and what came through without a proof of the internal token.",
  ),
  lastRequest: text('The last kubectl northlight request taken.'),
});

const storageVolumeStatusSchema = object('Observed state of the volume, written by the operator.', {
  observedGeneration: generationSchema,
  conditions: conditionsSchema,
  pgCount: countSchema,
  degradedPgCount: countSchema,
  healthy: { type: 'boolean', description: 'Every PG has its six segments on live nodes.' },
  volumeEpoch: epochSchema,
  membershipEpochMax: epochSchema,
  volumeSizeBytes: { type: 'integer', format: 'int64', minimum: 0 },
  size: text('The volume size, e.g. 3GiB.'),
});

// ---------------------------------------------------------------------------------------------------
// The resources

function resourceSchema(
  description: string,
  spec: JsonSchemaProps,
  status: JsonSchemaProps,
  nameMax: number,
) {
  return object(description, {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    // Only name may be restricted in a structural schema; the API server checks the rest of metadata.
    metadata: {
      type: 'object',
      properties: { name: text('', { pattern: patternOf(CLUSTER_NAME_PATTERN), maxLength: nameMax }) },
    },
    spec,
    status,
  });
}

/** The DatabaseCluster's root schema (also what the tests validate documents against). */
export const databaseClusterSchema: JsonSchemaProps = resourceSchema(
  'A northlight database cluster: engines, a storage fleet in three zones, backups.',
  databaseClusterSpecSchema,
  databaseClusterStatusSchema,
  40,
);

export const storageVolumeSpecSchema: JsonSchemaProps = object(
  'The volume of one DatabaseCluster; created and owned by it.',
  {
    cluster: text('The DatabaseCluster this volume belongs to.', {
      pattern: patternOf(CLUSTER_NAME_PATTERN),
    }),
    segmentSize: size(
      'The size of each PG, as in the cluster.',
      SEGMENT_SIZE_BYTES_MIN,
      SEGMENT_SIZE_BYTES_MAX,
    ),
  },
  ['cluster'],
);

export const storageVolumeSchema: JsonSchemaProps = resourceSchema(
  'The storage volume of a northlight cluster: its PGs, their health and epochs.',
  storageVolumeSpecSchema,
  storageVolumeStatusSchema,
  40,
);

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const databaseClusterColumns: PrinterColumn[] = [
  readyColumn,
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Writer', type: 'string', jsonPath: '.status.writer' },
  { name: 'Instances', type: 'string', jsonPath: '.status.instances', description: 'ready/desired engines' },
  {
    name: 'Storage',
    type: 'string',
    jsonPath: '.status.storage.ready',
    description: 'ready/desired storage nodes',
  },
  { name: 'PGs', type: 'integer', jsonPath: '.status.pgCount' },
  { name: 'Epoch', type: 'integer', jsonPath: '.status.volumeEpoch', priority: 1 },
  { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoints.readWrite', priority: 1 },
  ageColumn,
];

export const storageVolumeColumns: PrinterColumn[] = [
  { name: 'Cluster', type: 'string', jsonPath: '.spec.cluster' },
  { name: 'PGs', type: 'integer', jsonPath: '.status.pgCount' },
  { name: 'Size', type: 'string', jsonPath: '.status.size' },
  { name: 'Healthy', type: 'boolean', jsonPath: '.status.healthy' },
  { name: 'Degraded', type: 'integer', jsonPath: '.status.degradedPgCount', priority: 1 },
  { name: 'Epoch', type: 'integer', jsonPath: '.status.volumeEpoch', priority: 1 },
  ageColumn,
];

function customResourceDefinition(
  names: typeof DATABASE_CLUSTER | typeof STORAGE_VOLUME,
  schema: JsonSchemaProps,
  columns: PrinterColumn[],
): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'northlight' } },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: ['northlight'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

export function databaseClusterCrd(): CustomResourceDefinition {
  return customResourceDefinition(DATABASE_CLUSTER, databaseClusterSchema, databaseClusterColumns);
}

export function storageVolumeCrd(): CustomResourceDefinition {
  return customResourceDefinition(STORAGE_VOLUME, storageVolumeSchema, storageVolumeColumns);
}

/** Both CRDs with the file name each is written to (as kubebuilder names them). */
export function customResourceDefinitions(): Array<{ fileName: string; crd: CustomResourceDefinition }> {
  return [databaseClusterCrd(), storageVolumeCrd()].map((crd) => ({
    fileName: `${GROUP}_${crd.spec.names.plural}.yaml`,
    crd,
  }));
}
