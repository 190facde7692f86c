/**
 * The cluster spec: what a northlight cluster should look like. The operator reads it from a cluster
 * file (`operator/examples/cluster.yaml`) and, on Kubernetes, from a `DatabaseCluster` custom resource
 * (group northlight.dev, version v1alpha1). Both are the same document, so a file that runs locally
 * can be `kubectl apply`-ed unchanged.
 *
 * `validateClusterSpec` turns a parsed document of any shape into a typed `ClusterSpec`. It fills in
 * defaults, converts sizes and durations to numbers (`cacheSize: 64MiB` becomes `cacheSizeBytes:
 * 67108864`), and collects every problem at once. Each problem names the field, what was found and
 * what is allowed, so an operator fixes a file in one pass. Unknown fields are problems too: a
 * misspelled optional field would otherwise fall back to its default without a word.
 *
 * A field set to null (`backup:` with nothing after it) counts as absent, as Kubernetes treats it.
 *
 * Pure (STYLE.md §2): reading and parsing the file is `io/cluster-file.ts`.
 */
import {
  asNodeId,
  asZone,
  COPIES,
  COPIES_PER_ZONE,
  isTransportAuthMode,
  isValidIdentifier,
  type NodeId,
  ok,
  type Result,
  TRANSPORT_AUTH_MODES,
  type TransportAuthMode,
  ZONES,
  type Zone,
} from '@northlight/protocol';
import { Document, isMap, isSeq } from 'yaml';

export const CLUSTER_API_VERSION = 'northlight.dev/v1alpha1';
export const CLUSTER_KIND = 'DatabaseCluster';

/** A DNS label short enough to prefix pod, service and process names. */
export const CLUSTER_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const VERSION_PATTERN =
  /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(-[0-9A-Za-z.-]{1,40})?$/;

/** One writer and up to 15 read replicas, as in Aurora. */
export const ENGINE_INSTANCES_MAX = 16;
export const PROMOTION_TIER_MAX = 15;
/** Aurora's default tier, so an instance listed without one is neither first nor last to be promoted. */
export const DEFAULT_PROMOTION_TIER = 1;
/** A PG puts two of its six segments in each zone, on distinct nodes. */
export const STORAGE_NODES_PER_ZONE_MIN = COPIES_PER_ZONE;
/** 3 × 64 storage nodes: the local platform's port layout has room for 192 (topology.ts). */
export const STORAGE_NODES_PER_ZONE_MAX = 64;
/** Sizes are whole pages of the engine (4 KiB). */
export const SIZE_ALIGNMENT_BYTES = 4 * 1024;
export const CACHE_SIZE_BYTES_MIN = 1024 ** 2;
/** The engine's limit: 16 Mi pages of 4 KiB (db-engine/src/config.ts). */
export const CACHE_SIZE_BYTES_MAX = 64 * 1024 ** 3;
export const SEGMENT_SIZE_BYTES_MIN = 1024 ** 2;
/** A segment's page numbers must fit in u32 (storage-node/src/config.ts). */
export const SEGMENT_SIZE_BYTES_MAX = 1024 ** 4;
/** The engine's limit (db-engine/src/config.ts). */
export const LSN_ALLOCATION_LIMIT_MAX = 1_000_000_000;
export const REPAIRS_PER_NODE_MAX = 64;
/**
 * The bandwidth a node takes in for repairs, migrations and catch-ups, per second (storage-node's
 * hydration limit): 0 is no limit, else at least what a snapshot stream needs to stay alive
 * (storage-node `HYDRATION_BYTES_PER_SECOND_MIN`) and at most a figure no disk reaches.
 */
export const REPAIR_BANDWIDTH_MIN_BYTES = 64 * 1024;
export const REPAIR_BANDWIDTH_MAX_BYTES = 512 * 1024 ** 3;
/**
 * Default: 16MiB/s per node. The default cluster runs every process on one machine, so what a joiner
 * spends on a hydration is taken from the foreground's CPU. Measured (operator `bench:repair`, 3 × 3
 * nodes and two engines on 2 cores, 6 segments of 8 MiB repaired at once): unlimited, the commit p99
 * while repairing was 2.9–4× the one before; at 32MiB/s 2.4×; at 16MiB/s 1.5×. A fleet with cores of
 * its own (Kubernetes) can take more: raise it there.
 */
export const DEFAULT_REPAIR_BANDWIDTH_PER_NODE_BYTES = 16 * 1024 ** 2;
export const REPAIRS_MAX = 1_024;
/** A node this many times hotter than the fleet's mean is a migration candidate; 100× is a typo. */
export const HEAT_FACTOR_MAX = 100;
/** Grace periods and cool-downs longer than a day are a typo, not a policy. */
export const DURATION_MS_MAX = 24 * 60 * 60 * 1000;
export const BASE_PORT_MIN = 1024;
/** Leaves room for the local platform's highest port offset (topology.ts `PORT_SPAN`) below 65535. */
export const BASE_PORT_MAX = 65_000;
export const DATA_DIR_LENGTH_MAX = 4_096;
export const DEFAULT_S3_REGION = 'us-east-1';
/** Each storage node's PersistentVolumeClaim on Kubernetes, when the spec does not size it. */
export const DEFAULT_VOLUME_CLAIM_SIZE_BYTES = 10 * 1024 ** 3;
export const VOLUME_CLAIM_SIZE_BYTES_MAX = 64 * 1024 ** 4;
/** Kubernetes-only maps and lists (labels, tolerations, resources): more is a mistake, not a policy. */
export const KUBERNETES_MAP_ENTRIES_MAX = 64;
export const TOLERATIONS_MAX = 32;
/** A Kubernetes resource quantity without a sign (`500m`, `2Gi`, `1.5`), as the API server reads it. */
export const QUANTITY_PATTERN =
  /^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
/** A DNS subdomain (RFC 1123), as Kubernetes names a storage class or a priority class. */
export const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** A label value: up to 63 characters, alphanumeric at both ends, '-', '_' and '.' inside; or empty. */
export const LABEL_VALUE_PATTERN = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
export const TOLERATION_OPERATORS = ['Exists', 'Equal'] as const;
/**
 * How the writer runs interactive transactions (the engine's `--pg-transactions`, docs/db-engine.md):
 * serial, each holding the SQL writer from its first statement to COMMIT, or optimistic, overlapping
 * and failing with 40001 when another changed what they read.
 */
export const ENGINE_TRANSACTION_MODES = ['serial', 'optimistic'] as const;
export type EngineTransactionMode = (typeof ENGINE_TRANSACTION_MODES)[number];
/** Annotations under this prefix are the operator's: a pod template may not set them. */
export const RESERVED_KEY_PREFIX = 'northlight.dev/';
export const TOLERATION_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
/** Beyond this the rest are summarized: fixing the first hundred usually fixes the others. */
export const SPEC_PROBLEMS_MAX = 100;
/** Items of a list validated one by one; a longer list is reported by its length alone. */
const LIST_ITEMS_CHECKED_MAX = 256;

export interface EngineInstanceSpec {
  /** The engine's node id on the binary protocol. */
  readonly name: NodeId;
  /** 0..15; on failover the replica with the lowest tier is promoted first. */
  readonly promotionTier: number;
}

export interface EngineSpec {
  readonly version: string;
  /** The first instance with the lowest promotion tier starts as the writer; the others are replicas. */
  readonly instances: readonly EngineInstanceSpec[];
  /** Buffer cache of each engine. */
  readonly cacheSizeBytes: number;
  /** LAL: the writer never allocates an LSN above VDL + this (back-pressure). */
  readonly lsnAllocationLimit: number;
  /** Interactive transactions: serial (the default) or optimistic. */
  readonly transactions: EngineTransactionMode;
  /** Kubernetes: TLS on the engines' PostgreSQL endpoints, from a Secret; absent: no TLS offered. */
  readonly tls?: EngineTlsSpec;
}

/** Kubernetes only: the certificate the engines' PostgreSQL endpoints offer. */
export interface EngineTlsSpec {
  /**
   * A Secret in the cluster's namespace with `tls.crt` and `tls.key` (PEM), as cert-manager and
   * `kubectl create secret tls` write them. Engines reload it when it is renewed.
   */
  readonly secretName: string;
}

export interface StorageZoneSpec {
  readonly name: Zone;
  /** Storage nodes in this zone. */
  readonly nodes: number;
}

export interface StorageSpec {
  readonly version: string;
  /** Exactly three, with distinct names. */
  readonly zones: readonly StorageZoneSpec[];
  /** The size of a protection group, so of each of its six segments. */
  readonly segmentSizeBytes: number;
  /** Kubernetes only (the local platform keeps data in `local.dataDir`): each storage node's claim. */
  readonly volumeClaim: VolumeClaimSpec;
}

/** The PersistentVolumeClaim of each storage pod. */
export interface VolumeClaimSpec {
  /** Absent: the Kubernetes cluster's default storage class. */
  readonly storageClassName?: string;
  /** At least the segment size, so a node can hold one segment; default the larger of 10GiB and it. */
  readonly sizeBytes: number;
}

export type ObjectStoreSpec =
  /** A local S3-compatible server that the platform starts beside the cluster. */
  | { readonly kind: 'embedded' }
  /** No backups: the log lives only on the storage fleet. */
  | { readonly kind: 'none' }
  | {
      readonly kind: 's3';
      /** An S3-compatible endpoint URL; absent means AWS S3 itself. */
      readonly endpoint?: string;
      readonly bucket: string;
      readonly region: string;
      /** Key prefix of the backup objects: '' or ending in '/'. */
      readonly prefix: string;
    };

export interface BackupSpec {
  readonly objectStore: ObjectStoreSpec;
  /**
   * The longest a written record waits before its storage node stages it to the object store (the
   * nodes' `--backup-max-delay-ms`): longer means fewer, larger uploads (each PUT is billed) and more
   * log kept on the nodes until it is staged; 0 stages every second.
   */
  readonly stagingDelayMs: number;
}

/**
 * `backup.stagingDelay`: the storage nodes' own bound and default (storage-node's
 * `BACKUP_MAX_DELAY_MS_MAX` and `STORAGE_NODE_DEFAULTS.backupMaxDelayMs`; a test holds them equal).
 */
export const STAGING_DELAY_MS_MAX = 300_000;
export const DEFAULT_STAGING_DELAY_MS = 10_000;

export interface ControlPlaneSpec {
  /** A storage node unreachable for this long has its segments re-replicated elsewhere. */
  readonly repairGracePeriodMs: number;
  readonly maxConcurrentRepairsPerNode: number;
  readonly maxConcurrentRepairs: number;
  /**
   * Bytes per second a storage node takes in for repairs, migrations and catch-ups, all of them
   * together (0: no limit): bulk copying is paced so the foreground keeps its CPU and disk.
   */
  readonly repairBandwidthPerNodeBytes: number;
  /** A node this many times hotter than the fleet's mean has segments migrated off it (> 1). */
  readonly heatFactor: number;
  /** After a heat migration, a node is not chosen again for this long. */
  readonly heatCooldownMs: number;
}

/** Who the members take as peers (docs/security.md). */
export interface SecuritySpec {
  /**
   * `required` (the default): every transport peer proves the cluster's internal token. `transition`:
   * peers of a build from before transport authentication are also taken, unauthenticated; for a
   * rolling upgrade from such a build, and only while it runs. A change is rolled out like an
   * upgrade: storage zone by zone, then the replicas, then a switchover.
   */
  readonly transportAuthentication: TransportAuthMode;
}

/** Only `northlight up` (the local platform) reads these; Kubernetes ignores them. */
export interface LocalPlatformSpec {
  /** As written; a relative path is resolved by the local platform. */
  readonly dataDir: string;
  /** 0: every port is picked free at start; else the first of a fixed range (topology.ts). */
  readonly basePort: number;
  /** TLS on the engines' PostgreSQL endpoints, from PEM files; absent: no TLS offered. */
  readonly tls?: LocalTlsSpec;
}

/** `northlight up`: the certificate the engines' PostgreSQL endpoints offer, as files. */
export interface LocalTlsSpec {
  /** PEM certificate (chain); as written, a relative path is resolved by the local platform. */
  readonly certFile: string;
  /** PEM private key of the certificate. */
  readonly keyFile: string;
}

/** Resource requests and limits of a container, quantities as written (`500m`, `1Gi`). */
export interface ResourceRequirementsSpec {
  readonly requests: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, string>>;
}

/** Kubernetes only: the local platform runs processes, which have no requests or limits. */
export interface ResourcesSpec {
  readonly storage: ResourceRequirementsSpec;
  readonly engine: ResourceRequirementsSpec;
}

export interface TolerationSpec {
  readonly key?: string;
  readonly operator: (typeof TOLERATION_OPERATORS)[number];
  readonly value?: string;
  readonly effect?: (typeof TOLERATION_EFFECTS)[number];
  readonly tolerationSeconds?: number;
}

/**
 * Kubernetes only: what the operator adds to every pod it creates (storage and engine). The local
 * platform ignores it. The operator's own labels win over these on a clash, so a selector cannot be
 * broken from the spec.
 */
export interface PodTemplateSpec {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly TolerationSpec[];
  readonly priorityClassName?: string;
}

export interface ClusterSpec {
  /** `metadata.name`. */
  readonly name: string;
  readonly engine: EngineSpec;
  readonly storage: StorageSpec;
  readonly backup: BackupSpec;
  readonly controlPlane: ControlPlaneSpec;
  readonly security: SecuritySpec;
  readonly local: LocalPlatformSpec;
  readonly resources: ResourcesSpec;
  readonly podTemplate: PodTemplateSpec;
}

/** One thing wrong with a cluster document, phrased for the operator. */
export interface SpecProblem {
  /** The field, e.g. 'spec.storage.zones[1].nodes'; '' for the document as a whole. */
  readonly path: string;
  /** What was found and what is allowed, without the path. */
  readonly message: string;
  /** 1-based position in the file, when the problem came from one (set by the file loader). */
  readonly line?: number;
  readonly column?: number;
}

/** The cluster `northlight up` runs when given no file; every default of the spec comes from here. */
export function defaultClusterSpec(): ClusterSpec {
  return {
    name: 'demo',
    engine: {
      version: '0.1.0',
      instances: [
        { name: asNodeId('engine-1'), promotionTier: 0 },
        { name: asNodeId('engine-2'), promotionTier: 1 },
      ],
      cacheSizeBytes: 64 * 1024 ** 2,
      lsnAllocationLimit: 1_000_000,
      transactions: 'serial',
    },
    storage: {
      version: '0.1.0',
      zones: ['a', 'b', 'c'].map((name) => ({ name: asZone(name), nodes: STORAGE_NODES_PER_ZONE_MIN })),
      segmentSizeBytes: 1024 ** 3,
      volumeClaim: { sizeBytes: DEFAULT_VOLUME_CLAIM_SIZE_BYTES },
    },
    backup: { objectStore: { kind: 'embedded' }, stagingDelayMs: DEFAULT_STAGING_DELAY_MS },
    controlPlane: {
      repairGracePeriodMs: 30_000,
      maxConcurrentRepairsPerNode: 1,
      maxConcurrentRepairs: 4,
      repairBandwidthPerNodeBytes: DEFAULT_REPAIR_BANDWIDTH_PER_NODE_BYTES,
      heatFactor: 2,
      heatCooldownMs: 5 * 60_000,
    },
    security: { transportAuthentication: 'required' },
    local: { dataDir: './.northlight', basePort: 7400 },
    resources: { storage: { requests: {}, limits: {} }, engine: { requests: {}, limits: {} } },
    podTemplate: { labels: {}, annotations: {}, nodeSelector: {}, tolerations: [] },
  };
}

// ---------------------------------------------------------------------------------------------------
// Fields, paths and problems

/** Metadata fields the API server sets on every object; a spec read from Kubernetes carries them. */
const KUBERNETES_MANAGED_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'finalizers',
  'ownerReferences',
  'managedFields',
  'generateName',
  'selfLink',
] as const;

/** The fields allowed in each mapping of the document; `[]` marks the items of a list. */
const SECTION_FIELDS = {
  // `status` and the metadata an API server adds are read from a DatabaseCluster and ignored.
  '': ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  metadata: ['name', 'namespace', 'labels', 'annotations', ...KUBERNETES_MANAGED_METADATA],
  spec: ['engine', 'storage', 'backup', 'controlPlane', 'security', 'local', 'resources', 'podTemplate'],
  'spec.engine': ['version', 'instances', 'cacheSize', 'lsnAllocationLimit', 'transactions', 'tls'],
  'spec.engine.tls': ['secretName'],
  'spec.engine.instances[]': ['name', 'promotionTier'],
  'spec.storage': ['version', 'zones', 'segmentSize', 'volumeClaim'],
  'spec.storage.volumeClaim': ['storageClassName', 'size'],
  'spec.storage.zones[]': ['name', 'nodes'],
  'spec.backup': ['objectStore', 'stagingDelay'],
  'spec.backup.objectStore': ['endpoint', 'bucket', 'region', 'prefix'],
  'spec.controlPlane': [
    'repairGracePeriod',
    'maxConcurrentRepairsPerNode',
    'maxConcurrentRepairs',
    'repairBandwidthPerNode',
    'heatFactor',
    'heatCooldown',
  ],
  'spec.security': ['transportAuthentication'],
  'spec.local': ['dataDir', 'basePort', 'tls'],
  'spec.local.tls': ['certFile', 'keyFile'],
  'spec.resources': ['storage', 'engine'],
  'spec.resources.storage': ['requests', 'limits'],
  'spec.resources.engine': ['requests', 'limits'],
  'spec.podTemplate': ['labels', 'annotations', 'nodeSelector', 'tolerations', 'priorityClassName'],
  'spec.podTemplate.tolerations[]': ['key', 'operator', 'value', 'effect', 'tolerationSeconds'],
} as const satisfies Record<string, readonly string[]>;

type Section = keyof typeof SECTION_FIELDS;
type PathSegment = string | number;
type Path = readonly PathSegment[];
type Mapping = Readonly<Record<string, unknown>>;

const EMPTY_MAPPING: Mapping = Object.freeze({});
const IDENTIFIER_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `['spec', 'zones', 1, 'nodes']` → 'spec.zones[1].nodes'; odd keys are quoted: `labels["a.b/c"]`. */
export function formatSpecPath(segments: readonly PathSegment[]): string {
  let text = '';
  for (const segment of segments) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER_KEY.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** The inverse of `formatSpecPath`; undefined when the text is not such a path. */
export function parseSpecPath(path: string): PathSegment[] | undefined {
  const token = /\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d{1,15})\]|\[("(?:[^"\\]|\\.)*")\]/y;
  const segments: PathSegment[] = [];
  while (token.lastIndex < path.length) {
    const start = token.lastIndex;
    const match = token.exec(path);
    if (match === null) return undefined;
    if (match[1] !== undefined) {
      // A name is dotted everywhere but at the start.
      if (match[0].startsWith('.') === (start === 0)) return undefined;
      segments.push(match[1]);
    } else if (match[2] !== undefined) segments.push(Number(match[2]));
    else segments.push(JSON.parse(match[3]!) as string);
  }
  return segments;
}

class ProblemCollector {
  readonly problems: SpecProblem[] = [];
  private omittedCount = 0;

  add(path: Path, message: string): void {
    if (this.problems.length < SPEC_PROBLEMS_MAX) this.problems.push({ path: formatSpecPath(path), message });
    else this.omittedCount += 1;
  }

  get isEmpty(): boolean {
    return this.problems.length === 0;
  }

  finish(): SpecProblem[] {
    if (this.omittedCount === 0) return this.problems;
    const more = `${this.omittedCount} more problem${plural(this.omittedCount)} not listed; fix the ones above first`;
    return [...this.problems, { path: '', message: more }];
  }
}

function plural(count: number): string {
  return count === 1 ? '' : 's';
}

/** How a found value is shown in a message: short, and recognizable in the file. */
function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'empty';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return `a list of ${value.length} item${plural(value.length)}`;
  if (isMapping(value)) return 'a mapping';
  if (value instanceof Uint8Array) return 'binary data';
  return 'a value of an unsupported type';
}

/** A plain object, as YAML and JSON parsers produce; not a list, a date, a buffer or a Map. */
function isMapping(value: unknown): value is Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A field's value; null counts as absent. */
function fieldOf(mapping: Mapping, key: string): unknown {
  if (!Object.hasOwn(mapping, key)) return undefined;
  const value = mapping[key];
  return value === null ? undefined : value;
}

/**
 * The mapping at `path`, with every field not in its section reported. Absent gives an empty mapping
 * (all defaults); anything else that is not a mapping is reported and also gives an empty mapping, so
 * its fields are not reported a second time as missing.
 */
function readSection(value: unknown, path: Path, section: Section, problems: ProblemCollector): Mapping {
  // A section left out, or written as `null`, reads as empty; a list item has no such reading.
  if (value === undefined || (value === null && !section.endsWith('[]'))) return EMPTY_MAPPING;
  const known: readonly string[] = SECTION_FIELDS[section];
  if (!isMapping(value)) {
    problems.add(path, `is ${describeValue(value)}; expected a mapping with the fields ${known.join(', ')}`);
    return EMPTY_MAPPING;
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) problems.add([...path, key], unknownFieldMessage(key, path, section));
  }
  return value;
}

function unknownFieldMessage(key: string, path: Path, section: Section): string {
  const known: readonly string[] = SECTION_FIELDS[section];
  const near = nearestName(key, known);
  const suggestion = near === undefined ? misplacedFieldPath(key, section) : formatSpecPath([...path, near]);
  const allowed = `allowed here: ${known.join(', ')}`;
  return suggestion === undefined
    ? `unknown field; ${allowed}`
    : `unknown field; did you mean ${suggestion}? (${allowed})`;
}

/** Lowercase, without separators and without a unit suffix: `cache_size_bytes` → `cachesize`. */
function normalizeName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[-_\s]/g, '')
    .replace(/(bytes|ms)$/, '');
}

/** Names longer than this are never near a field name (and would make the distance costly). */
const NEAR_NAME_LENGTH_MAX = 64;

/** The allowed name closest to `name`, if it is close enough to be a likely typo. */
function nearestName(name: string, candidates: readonly string[]): string | undefined {
  if (name.length > NEAR_NAME_LENGTH_MAX) return undefined;
  const normalized = normalizeName(name);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const target = normalizeName(candidate);
    const distance = editDistance(normalized, target);
    const tolerated = Math.max(1, Math.floor(target.length / 3));
    if (distance <= tolerated && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** A field of another section with this name (`spec.zones` → `spec.storage.zones`), if only one has it. */
function misplacedFieldPath(key: string, section: Section): string | undefined {
  const normalized = normalizeName(key);
  const homes: string[] = [];
  for (const [other, fields] of Object.entries(SECTION_FIELDS) as Array<[Section, readonly string[]]>) {
    if (other === section || other.endsWith('[]')) continue;
    for (const field of fields) {
      if (normalizeName(field) === normalized) homes.push(other === '' ? field : `${other}.${field}`);
    }
  }
  return homes.length === 1 ? homes[0] : undefined;
}

/** Optimal string alignment distance: a swap of two neighbours (`stroage`) counts as one edit. */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, beforePrevious[j - 2]! + 1);
      }
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length]!;
}

function didYouMean(text: string, candidates: readonly string[]): string {
  const near = nearestName(text, candidates);
  return near === undefined ? '' : `; did you mean ${near}?`;
}

// ---------------------------------------------------------------------------------------------------
// Scalars

interface IntegerRule {
  readonly min: number;
  readonly max: number;
  /** What is allowed, as a sentence fragment: 'a whole number from 0 to 15'. */
  readonly allowed: string;
}

function quotedNumberHint(value: unknown): string {
  return typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? ' (write it without quotes)' : '';
}

function readInteger(
  value: unknown,
  path: Path,
  fallback: number,
  rule: IntegerRule,
  problems: ProblemCollector,
): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= rule.min && value <= rule.max) {
    return value;
  }
  problems.add(path, `is ${describeValue(value)}; allowed: ${rule.allowed}${quotedNumberHint(value)}`);
  return fallback;
}

const SIZE_UNITS_BYTES = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;
type SizeUnit = keyof typeof SIZE_UNITS_BYTES;
const SIZE_UNITS_LARGEST_FIRST: readonly SizeUnit[] = ['TiB', 'GiB', 'MiB', 'KiB'];

/** `64MiB` or `67108864` → bytes; undefined when the text is not a size. */
export function parseSizeBytes(text: string): number | undefined {
  const match = /^(\d{1,16})(KiB|MiB|GiB|TiB)?$/.exec(text);
  if (match === null) return undefined;
  const bytes = Number(match[1]) * (match[2] === undefined ? 1 : SIZE_UNITS_BYTES[match[2] as SizeUnit]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes in the largest unit that divides them exactly: 67108864 → '64MiB', 1000 → '1000'. */
export function formatSizeBytes(bytes: number): string {
  for (const unit of SIZE_UNITS_LARGEST_FIRST) {
    const perUnit = SIZE_UNITS_BYTES[unit];
    if (bytes !== 0 && bytes % perUnit === 0) return `${bytes / perUnit}${unit}`;
  }
  return String(bytes);
}

/** Bytes per second as the spec writes them: `32MiB/s`, or `0` for no limit. */
export function formatBandwidth(bytesPerSecond: number): string {
  return bytesPerSecond === 0 ? '0' : `${formatSizeBytes(bytesPerSecond)}/s`;
}

/** `64MB`, `64M`, `64Mi`, `64mib` → the binary unit the writer most likely meant. */
function likelySizeUnit(text: string): string | undefined {
  const match = /^\s*(\d{1,16})\s*([kmgt])(i?b?)\s*$/i.exec(text);
  if (match === null) return undefined;
  return `${match[1]}${match[2]!.toUpperCase()}iB`;
}

interface SizeRule {
  readonly min: number;
  readonly max: number;
}

function readSize(
  value: unknown,
  path: Path,
  fallback: number,
  rule: SizeRule,
  problems: ProblemCollector,
): number {
  if (value === undefined) return fallback;
  const range = `allowed: ${formatSizeBytes(rule.min)} to ${formatSizeBytes(rule.max)}, a multiple of ${formatSizeBytes(SIZE_ALIGNMENT_BYTES)}`;
  const form = 'bytes or a whole number with KiB, MiB, GiB or TiB (e.g. 64MiB)';
  let bytes: number | undefined;
  if (typeof value === 'number') bytes = Number.isSafeInteger(value) ? value : undefined;
  else if (typeof value === 'string') bytes = parseSizeBytes(value);
  if (bytes === undefined) {
    const likely = typeof value === 'string' ? likelySizeUnit(value) : undefined;
    const hint = likely === undefined ? '' : `; did you mean ${likely}?`;
    problems.add(path, `is ${describeValue(value)}, not a size: write ${form}${hint}`);
    return fallback;
  }
  if (bytes < rule.min || bytes > rule.max) {
    problems.add(path, `is ${describeValue(value)}; ${range}`);
    return fallback;
  }
  if (bytes % SIZE_ALIGNMENT_BYTES !== 0) {
    const roundedDown = bytes - (bytes % SIZE_ALIGNMENT_BYTES);
    const rounded = roundedDown >= rule.min ? roundedDown : roundedDown + SIZE_ALIGNMENT_BYTES;
    problems.add(
      path,
      `is ${describeValue(value)}, not a multiple of ${formatSizeBytes(SIZE_ALIGNMENT_BYTES)} (the engine's page); ${range} — e.g. ${formatSizeBytes(rounded)}`,
    );
    return fallback;
  }
  return bytes;
}

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** `30s`, `250ms`, `5m` → milliseconds; undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d{1,12})(ms|s|m)$/.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}

/** Milliseconds in the largest unit that divides them exactly: 300000 → '5m', 1500 → '1500ms'. */
export function formatDurationMs(durationMs: number): string {
  if (durationMs === 0) return '0s';
  if (durationMs % 60_000 === 0) return `${durationMs / 60_000}m`;
  if (durationMs % 1000 === 0) return `${durationMs / 1000}s`;
  return `${durationMs}ms`;
}

function readDuration(value: unknown, path: Path, fallback: number, problems: ProblemCollector): number {
  if (value === undefined) return fallback;
  const durationMs = typeof value === 'string' ? parseDurationMs(value) : undefined;
  if (durationMs !== undefined && durationMs <= DURATION_MS_MAX) return durationMs;
  const unitless = typeof value === 'number' ? ` (a number needs a unit: ${value}ms or ${value}s?)` : '';
  problems.add(
    path,
    `is ${describeValue(value)}; allowed: a whole number with ms, s or m (e.g. 30s, 5m), from 0s to ${formatDurationMs(DURATION_MS_MAX)}${unitless}`,
  );
  return fallback;
}

function readVersion(value: unknown, path: Path, fallback: string, problems: ProblemCollector): string {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && VERSION_PATTERN.test(value)) return value;
  const numberHint = typeof value === 'number' ? ' (YAML read it as a number; quote it)' : '';
  problems.add(path, `is ${describeValue(value)}; allowed: a version like 0.1.0${numberHint}`);
  return fallback;
}

const IDENTIFIER_RULE = "1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

/** A name of an instance or zone; undefined (after a report) when missing or invalid. */
function readIdentifier(value: unknown, path: Path, example: string, problems: ProblemCollector) {
  if (value === undefined) {
    problems.add(path, `missing; every item needs a name (${IDENTIFIER_RULE}), e.g. ${example}`);
    return undefined;
  }
  if (typeof value === 'string' && isValidIdentifier(value)) return value;
  problems.add(path, `is ${describeValue(value)}; allowed: ${IDENTIFIER_RULE}`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// The document

/**
 * The typed spec, or every problem of the document. Never throws, whatever `raw` is. Values of a
 * failed validation are never returned, so a reader may fall back to its default after reporting.
 */
export function validateClusterSpec(raw: unknown): Result<ClusterSpec, readonly SpecProblem[]> {
  const problems = new ProblemCollector();
  const defaults = defaultClusterSpec();
  if (raw === undefined || raw === null) {
    problems.add(
      [],
      `the document is empty; a cluster file needs at least apiVersion: ${CLUSTER_API_VERSION} and kind: ${CLUSTER_KIND}`,
    );
    return { ok: false, error: problems.finish() };
  }
  if (!isMapping(raw)) {
    problems.add(
      [],
      `the document is ${describeValue(raw)}; a cluster file is a mapping with apiVersion, kind, metadata and spec`,
    );
    return { ok: false, error: problems.finish() };
  }
  const root = readSection(raw, [], '', problems);
  checkResourceType(root, problems);
  const metadata = readSection(fieldOf(root, 'metadata'), ['metadata'], 'metadata', problems);
  const name = readClusterName(fieldOf(metadata, 'name'), defaults.name, problems);
  checkKubernetesMetadata(metadata, problems);
  const spec = readSection(fieldOf(root, 'spec'), ['spec'], 'spec', problems);
  const clusterSpec: ClusterSpec = {
    name,
    engine: readEngine(fieldOf(spec, 'engine'), defaults.engine, problems),
    storage: readStorage(fieldOf(spec, 'storage'), defaults.storage, problems),
    backup: readBackup(fieldOf(spec, 'backup'), defaults.backup, problems),
    controlPlane: readControlPlane(fieldOf(spec, 'controlPlane'), defaults.controlPlane, problems),
    security: readSecurity(fieldOf(spec, 'security'), defaults.security, problems),
    local: readLocal(fieldOf(spec, 'local'), defaults.local, problems),
    resources: readResources(fieldOf(spec, 'resources'), problems),
    podTemplate: readPodTemplate(fieldOf(spec, 'podTemplate'), problems),
  };
  return problems.isEmpty ? ok(clusterSpec) : { ok: false, error: problems.finish() };
}

/** apiVersion and kind have no default: they are what make the file a `kubectl apply`-able resource. */
function checkResourceType(root: Mapping, problems: ProblemCollector): void {
  const apiVersion = fieldOf(root, 'apiVersion');
  if (apiVersion === undefined) {
    problems.add(['apiVersion'], `missing; add apiVersion: ${CLUSTER_API_VERSION}`);
  } else if (apiVersion !== CLUSTER_API_VERSION) {
    problems.add(
      ['apiVersion'],
      `is ${describeValue(apiVersion)}; this version of northlight reads apiVersion: ${CLUSTER_API_VERSION}`,
    );
  }
  const kind = fieldOf(root, 'kind');
  if (kind === undefined) problems.add(['kind'], `missing; add kind: ${CLUSTER_KIND}`);
  else if (kind !== CLUSTER_KIND) {
    problems.add(['kind'], `is ${describeValue(kind)}; a cluster file has kind: ${CLUSTER_KIND}`);
  }
}

function readClusterName(value: unknown, fallback: string, problems: ProblemCollector): string {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && CLUSTER_NAME_PATTERN.test(value)) return value;
  problems.add(
    ['metadata', 'name'],
    `is ${describeValue(value)}; allowed: 1 to 40 of a-z, 0-9 and '-', starting and ending with a letter or digit`,
  );
  return fallback;
}

/**
 * namespace, labels and annotations belong to Kubernetes; they are allowed so that the same file can
 * be applied there, and checked only for their type, since Kubernetes checks the rest.
 */
function checkKubernetesMetadata(metadata: Mapping, problems: ProblemCollector): void {
  const namespace = fieldOf(metadata, 'namespace');
  if (namespace !== undefined && typeof namespace !== 'string') {
    problems.add(['metadata', 'namespace'], `is ${describeValue(namespace)}; allowed: a namespace name`);
  }
  for (const key of ['labels', 'annotations'] as const) {
    const entries = fieldOf(metadata, key);
    if (entries === undefined) continue;
    if (!isMapping(entries)) {
      problems.add(['metadata', key], `is ${describeValue(entries)}; allowed: a mapping of names to text`);
      continue;
    }
    for (const [name, text] of Object.entries(entries)) {
      if (typeof text !== 'string') {
        problems.add(['metadata', key, name], `is ${describeValue(text)}; allowed: text (quote it)`);
      }
    }
  }
}

function readEngine(value: unknown, fallback: EngineSpec, problems: ProblemCollector): EngineSpec {
  const path = ['spec', 'engine'];
  const engine = readSection(value, path, 'spec.engine', problems);
  return {
    version: readVersion(fieldOf(engine, 'version'), [...path, 'version'], fallback.version, problems),
    instances: readInstances(
      fieldOf(engine, 'instances'),
      [...path, 'instances'],
      fallback.instances,
      problems,
    ),
    cacheSizeBytes: readSize(
      fieldOf(engine, 'cacheSize'),
      [...path, 'cacheSize'],
      fallback.cacheSizeBytes,
      { min: CACHE_SIZE_BYTES_MIN, max: CACHE_SIZE_BYTES_MAX },
      problems,
    ),
    lsnAllocationLimit: readInteger(
      fieldOf(engine, 'lsnAllocationLimit'),
      [...path, 'lsnAllocationLimit'],
      fallback.lsnAllocationLimit,
      {
        min: 1,
        max: LSN_ALLOCATION_LIMIT_MAX,
        allowed: `a whole number of LSNs from 1 to ${LSN_ALLOCATION_LIMIT_MAX}`,
      },
      problems,
    ),
    transactions: readTransactionMode(
      fieldOf(engine, 'transactions'),
      [...path, 'transactions'],
      fallback.transactions,
      problems,
    ),
    ...readEngineTls(fieldOf(engine, 'tls'), [...path, 'tls'], fallback.tls, problems),
  };
}

/** `spec.engine.transactions`: serial or optimistic. */
function readTransactionMode(
  value: unknown,
  path: Path,
  fallback: EngineTransactionMode,
  problems: ProblemCollector,
): EngineTransactionMode {
  if (value === undefined || value === null) return fallback;
  if ((ENGINE_TRANSACTION_MODES as readonly unknown[]).includes(value)) return value as EngineTransactionMode;
  problems.add(
    path,
    `is ${describeValue(value)}; allowed: serial (a transaction holds the SQL writer from its first statement to COMMIT) or optimistic (transactions overlap; one whose reads changed fails with 40001)`,
  );
  return fallback;
}

/** `spec.engine.tls`: absent, or a mapping naming the Secret. */
function readEngineTls(
  value: unknown,
  path: Path,
  fallback: EngineTlsSpec | undefined,
  problems: ProblemCollector,
): { tls?: EngineTlsSpec } {
  if (value === undefined || value === null) return fallback === undefined ? {} : { tls: fallback };
  const tls = readSection(value, path, 'spec.engine.tls', problems);
  if (!isMapping(value)) return {};
  const secretName = fieldOf(tls, 'secretName');
  if (typeof secretName !== 'string' || !DNS_SUBDOMAIN_PATTERN.test(secretName)) {
    problems.add(
      [...path, 'secretName'],
      `is ${describeValue(secretName)}; allowed: the name of a Secret in the cluster's namespace holding tls.crt and tls.key, e.g. db-tls`,
    );
    return {};
  }
  return { tls: { secretName } };
}

/** `spec.local.tls`: absent, or both files. */
function readLocalTls(
  value: unknown,
  path: Path,
  fallback: LocalTlsSpec | undefined,
  problems: ProblemCollector,
): { tls?: LocalTlsSpec } {
  if (value === undefined || value === null) return fallback === undefined ? {} : { tls: fallback };
  const tls = readSection(value, path, 'spec.local.tls', problems);
  if (!isMapping(value)) return {};
  const files: Partial<Record<'certFile' | 'keyFile', string>> = {};
  for (const [field, example] of [
    ['certFile', './tls/server.crt'],
    ['keyFile', './tls/server.key'],
  ] as const) {
    const file = fieldOf(tls, field);
    if (
      typeof file === 'string' &&
      file !== '' &&
      file.length <= DATA_DIR_LENGTH_MAX &&
      !/\p{Cc}/u.test(file)
    )
      files[field] = file;
    else
      problems.add(
        [...path, field],
        `is ${describeValue(file)}; allowed: the path of a PEM file (${field === 'certFile' ? 'certificate' : 'private key'}), e.g. ${example}; certFile and keyFile go together`,
      );
  }
  return files.certFile !== undefined && files.keyFile !== undefined
    ? { tls: { certFile: files.certFile, keyFile: files.keyFile } }
    : {};
}

function readInstances(
  value: unknown,
  path: Path,
  fallback: readonly EngineInstanceSpec[],
  problems: ProblemCollector,
): readonly EngineInstanceSpec[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) {
    problems.add(
      path,
      `is ${describeValue(value)}; expected a list of instances, e.g. [{ name: engine-1, promotionTier: 0 }]`,
    );
    return fallback;
  }
  if (value.length === 0) problems.add(path, 'is empty; list at least 1 instance: the writer');
  if (value.length > ENGINE_INSTANCES_MAX) {
    problems.add(
      path,
      `has ${value.length} instances; at most ${ENGINE_INSTANCES_MAX}: 1 writer and up to ${ENGINE_INSTANCES_MAX - 1} read replicas`,
    );
  }
  if (value.length > LIST_ITEMS_CHECKED_MAX) return fallback;
  const firstIndexByName = new Map<string, number>();
  const instances: EngineInstanceSpec[] = [];
  for (let index = 0; index < value.length; index++) {
    const itemPath = [...path, index];
    const item = readSection(value[index], itemPath, 'spec.engine.instances[]', problems);
    const name = readIdentifier(
      fieldOf(item, 'name'),
      [...itemPath, 'name'],
      `engine-${index + 1}`,
      problems,
    );
    const promotionTier = readInteger(
      fieldOf(item, 'promotionTier'),
      [...itemPath, 'promotionTier'],
      DEFAULT_PROMOTION_TIER,
      {
        min: 0,
        max: PROMOTION_TIER_MAX,
        allowed: `a whole number from 0 to ${PROMOTION_TIER_MAX}, lower is promoted first`,
      },
      problems,
    );
    if (name === undefined) continue;
    const firstIndex = firstIndexByName.get(name);
    if (firstIndex !== undefined) {
      problems.add(
        [...itemPath, 'name'],
        `${name} is already the name of instances[${firstIndex}]; instance names must be unique`,
      );
    } else firstIndexByName.set(name, index);
    instances.push({ name: asNodeId(name), promotionTier });
  }
  return instances;
}

function readStorage(value: unknown, fallback: StorageSpec, problems: ProblemCollector): StorageSpec {
  const path = ['spec', 'storage'];
  const storage = readSection(value, path, 'spec.storage', problems);
  const segmentSizeBytes = readSize(
    fieldOf(storage, 'segmentSize'),
    [...path, 'segmentSize'],
    fallback.segmentSizeBytes,
    { min: SEGMENT_SIZE_BYTES_MIN, max: SEGMENT_SIZE_BYTES_MAX },
    problems,
  );
  return {
    version: readVersion(fieldOf(storage, 'version'), [...path, 'version'], fallback.version, problems),
    zones: readZones(fieldOf(storage, 'zones'), [...path, 'zones'], fallback.zones, problems),
    segmentSizeBytes,
    volumeClaim: readVolumeClaim(
      fieldOf(storage, 'volumeClaim'),
      fallback.volumeClaim,
      segmentSizeBytes,
      problems,
    ),
  };
}

const ZONES_RULE = `a PG keeps ${COPIES} segments, ${COPIES_PER_ZONE} in each of exactly ${ZONES} zones`;

function readZones(
  value: unknown,
  path: Path,
  fallback: readonly StorageZoneSpec[],
  problems: ProblemCollector,
): readonly StorageZoneSpec[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) {
    problems.add(
      path,
      `is ${describeValue(value)}; expected a list of ${ZONES} zones, e.g. [{ name: a, nodes: 2 }, …]`,
    );
    return fallback;
  }
  if (value.length > LIST_ITEMS_CHECKED_MAX) {
    problems.add(path, `has ${value.length} zones; ${ZONES_RULE}`);
    return fallback;
  }
  const firstIndexByName = new Map<string, number>();
  const zones: StorageZoneSpec[] = [];
  for (let index = 0; index < value.length; index++) {
    const itemPath = [...path, index];
    const item = readSection(value[index], itemPath, 'spec.storage.zones[]', problems);
    const name = readIdentifier(fieldOf(item, 'name'), [...itemPath, 'name'], 'a', problems);
    const nodes = readZoneNodes(fieldOf(item, 'nodes'), [...itemPath, 'nodes'], name, problems);
    if (name === undefined) continue;
    const firstIndex = firstIndexByName.get(name);
    if (firstIndex !== undefined) {
      problems.add(
        [...itemPath, 'name'],
        `zone ${name} is listed twice (also zones[${firstIndex}]); the ${ZONES} zones need distinct names`,
      );
    } else firstIndexByName.set(name, index);
    zones.push({ name: asZone(name), nodes });
  }
  if (value.length !== ZONES) {
    const names = zones.map((zone) => zone.name).join(', ');
    const listed = names === '' ? '' : ` (${names})`;
    problems.add(
      path,
      `has ${value.length} zone${plural(value.length)}${listed}; ${ZONES_RULE} — list ${ZONES} zones`,
    );
  }
  return zones;
}

function readZoneNodes(
  value: unknown,
  path: Path,
  zoneName: string | undefined,
  problems: ProblemCollector,
): number {
  const fallback = STORAGE_NODES_PER_ZONE_MIN;
  if (value === undefined) return fallback;
  const zone = zoneName === undefined ? 'this zone' : `zone ${zoneName}`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    problems.add(
      path,
      `is ${describeValue(value)}; allowed: a whole number of storage nodes from ${STORAGE_NODES_PER_ZONE_MIN} to ${STORAGE_NODES_PER_ZONE_MAX}${quotedNumberHint(value)}`,
    );
  } else if (value < STORAGE_NODES_PER_ZONE_MIN) {
    problems.add(
      path,
      `${zone} has ${value} storage node${plural(value)}; a PG needs ${COPIES_PER_ZONE} nodes in each of ${ZONES} zones — set nodes: ${STORAGE_NODES_PER_ZONE_MIN} or more`,
    );
  } else if (value > STORAGE_NODES_PER_ZONE_MAX) {
    problems.add(path, `${zone} has ${value} storage nodes; at most ${STORAGE_NODES_PER_ZONE_MAX} per zone`);
  } else return value;
  return fallback;
}

function readBackup(value: unknown, fallback: BackupSpec, problems: ProblemCollector): BackupSpec {
  const path = ['spec', 'backup'];
  const backup = readSection(value, path, 'spec.backup', problems);
  return {
    objectStore: readObjectStore(
      fieldOf(backup, 'objectStore'),
      [...path, 'objectStore'],
      fallback.objectStore,
      problems,
    ),
    stagingDelayMs: readStagingDelay(
      fieldOf(backup, 'stagingDelay'),
      [...path, 'stagingDelay'],
      fallback,
      problems,
    ),
  };
}

function readStagingDelay(
  value: unknown,
  path: Path,
  fallback: BackupSpec,
  problems: ProblemCollector,
): number {
  const delayMs = readDuration(value, path, fallback.stagingDelayMs, problems);
  if (delayMs <= STAGING_DELAY_MS_MAX) return delayMs;
  problems.add(
    path,
    `is ${describeValue(value)}; allowed: 0s to ${formatDurationMs(STAGING_DELAY_MS_MAX)} (the storage nodes stage at least that often)`,
  );
  return fallback.stagingDelayMs;
}

const OBJECT_STORE_RULE =
  'allowed: embedded (a local S3-compatible server), none (no backups), or a mapping { bucket, endpoint, region, prefix } for an S3 bucket';
export const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The storage node's rule (storage-node/src/config.ts), which receives the prefix as it is. */
export const PREFIX_PATTERN = /^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}\/$/;

function readObjectStore(
  value: unknown,
  path: Path,
  fallback: ObjectStoreSpec,
  problems: ProblemCollector,
): ObjectStoreSpec {
  if (value === undefined) return fallback;
  if (value === 'embedded' || value === 'none') return { kind: value };
  if (!isMapping(value)) {
    const near = typeof value === 'string' ? didYouMean(value, ['embedded', 'none']) : '';
    problems.add(path, `is ${describeValue(value)}; ${OBJECT_STORE_RULE}${near}`);
    return fallback;
  }
  const store = readSection(value, path, 'spec.backup.objectStore', problems);
  const bucket = fieldOf(store, 'bucket');
  if (bucket === undefined) problems.add([...path, 'bucket'], 'missing; an S3 object store needs a bucket');
  else if (typeof bucket !== 'string' || !BUCKET_PATTERN.test(bucket)) {
    problems.add(
      [...path, 'bucket'],
      `is ${describeValue(bucket)}; allowed: an S3 bucket name, 3 to 63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit`,
    );
  }
  const region = fieldOf(store, 'region') ?? DEFAULT_S3_REGION;
  if (typeof region !== 'string' || !REGION_PATTERN.test(region)) {
    problems.add([...path, 'region'], `is ${describeValue(region)}; allowed: a region name like us-east-1`);
  }
  const prefix = fieldOf(store, 'prefix') ?? '';
  if (prefix !== '' && (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix))) {
    problems.add(
      [...path, 'prefix'],
      `is ${describeValue(prefix)}; allowed: '' or a key prefix of letters, digits, '.', '_', '-' and '/' ending in '/' (e.g. northlight/demo/)`,
    );
  }
  const endpoint = fieldOf(store, 'endpoint');
  if (endpoint !== undefined) checkEndpoint(endpoint, [...path, 'endpoint'], problems);
  return {
    kind: 's3',
    bucket: String(bucket),
    region: String(region),
    prefix: String(prefix),
    ...(endpoint === undefined ? {} : { endpoint: String(endpoint) }),
  };
}

/** Credentials in the URL would be printed with the spec (`--print-spec`) and logged; they come from the environment. */
function checkEndpoint(endpoint: unknown, path: Path, problems: ProblemCollector): void {
  const rule = 'allowed: an http:// or https:// URL of an S3-compatible server, e.g. http://127.0.0.1:9000';
  if (typeof endpoint !== 'string' || endpoint.length > 2_048) {
    problems.add(path, `is ${describeValue(endpoint)}; ${rule}`);
    return;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    problems.add(path, `is ${describeValue(endpoint)}, not a URL; ${rule}`);
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.add(path, `is ${describeValue(endpoint)}; ${rule}`);
  } else if (url.username !== '' || url.password !== '') {
    problems.add(
      path,
      'holds credentials; keep them out of the cluster file and pass them through the environment',
    );
  }
}

function readSecurity(value: unknown, fallback: SecuritySpec, problems: ProblemCollector): SecuritySpec {
  const path = ['spec', 'security'];
  const security = readSection(value, path, 'spec.security', problems);
  const mode = fieldOf(security, 'transportAuthentication');
  if (mode === undefined || mode === null || isTransportAuthMode(mode)) {
    return { transportAuthentication: mode ?? fallback.transportAuthentication };
  }
  problems.add(
    [...path, 'transportAuthentication'],
    `is ${describeValue(mode)}; allowed: ${TRANSPORT_AUTH_MODES.join(' or ')} (required: every storage node and engine proves the cluster's internal token to its peers; transition: also take peers of a build from before transport authentication, for a rolling upgrade from one)`,
  );
  return fallback;
}

function readControlPlane(
  value: unknown,
  fallback: ControlPlaneSpec,
  problems: ProblemCollector,
): ControlPlaneSpec {
  const path = ['spec', 'controlPlane'];
  const controlPlane = readSection(value, path, 'spec.controlPlane', problems);
  const repairsPerNodePath = [...path, 'maxConcurrentRepairsPerNode'];
  const maxConcurrentRepairsPerNode = readInteger(
    fieldOf(controlPlane, 'maxConcurrentRepairsPerNode'),
    repairsPerNodePath,
    fallback.maxConcurrentRepairsPerNode,
    { min: 1, max: REPAIRS_PER_NODE_MAX, allowed: `a whole number from 1 to ${REPAIRS_PER_NODE_MAX}` },
    problems,
  );
  const maxConcurrentRepairs = readInteger(
    fieldOf(controlPlane, 'maxConcurrentRepairs'),
    [...path, 'maxConcurrentRepairs'],
    fallback.maxConcurrentRepairs,
    { min: 1, max: REPAIRS_MAX, allowed: `a whole number from 1 to ${REPAIRS_MAX}` },
    problems,
  );
  // The per-node limit could never be reached, which is almost certainly two values swapped.
  if (maxConcurrentRepairsPerNode > maxConcurrentRepairs) {
    problems.add(
      repairsPerNodePath,
      `is ${maxConcurrentRepairsPerNode}, above maxConcurrentRepairs (${maxConcurrentRepairs}); allowed: at most maxConcurrentRepairs`,
    );
  }
  return {
    repairGracePeriodMs: readDuration(
      fieldOf(controlPlane, 'repairGracePeriod'),
      [...path, 'repairGracePeriod'],
      fallback.repairGracePeriodMs,
      problems,
    ),
    maxConcurrentRepairsPerNode,
    maxConcurrentRepairs,
    repairBandwidthPerNodeBytes: readBandwidth(
      fieldOf(controlPlane, 'repairBandwidthPerNode'),
      [...path, 'repairBandwidthPerNode'],
      fallback.repairBandwidthPerNodeBytes,
      problems,
    ),
    heatFactor: readHeatFactor(
      fieldOf(controlPlane, 'heatFactor'),
      [...path, 'heatFactor'],
      fallback.heatFactor,
      problems,
    ),
    heatCooldownMs: readDuration(
      fieldOf(controlPlane, 'heatCooldown'),
      [...path, 'heatCooldown'],
      fallback.heatCooldownMs,
      problems,
    ),
  };
}

/** `32MiB/s` (or `32MiB`, or bytes) → bytes per second; `0` is no limit. */
function readBandwidth(value: unknown, path: Path, fallback: number, problems: ProblemCollector): number {
  if (value === undefined) return fallback;
  if (value === 0 || value === '0' || value === '0/s') return 0;
  const perSecond = typeof value === 'string' ? value.replace(/\/s$/, '') : value;
  if (typeof perSecond === 'string' && (perSecond === '' || perSecond.includes('/'))) {
    problems.add(
      path,
      `is ${describeValue(value)}, not a bandwidth: write bytes per second as a size (e.g. 32MiB/s), or 0 for no limit`,
    );
    return fallback;
  }
  return readSize(
    perSecond,
    path,
    fallback,
    { min: REPAIR_BANDWIDTH_MIN_BYTES, max: REPAIR_BANDWIDTH_MAX_BYTES },
    problems,
  );
}

function readHeatFactor(value: unknown, path: Path, fallback: number, problems: ProblemCollector): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value > 1 && value <= HEAT_FACTOR_MAX)
    return value;
  problems.add(
    path,
    `is ${describeValue(value)}; allowed: a number above 1 and at most ${HEAT_FACTOR_MAX} (2.0: twice the fleet's mean heat)${quotedNumberHint(value)}`,
  );
  return fallback;
}

function readLocal(
  value: unknown,
  fallback: LocalPlatformSpec,
  problems: ProblemCollector,
): LocalPlatformSpec {
  const path = ['spec', 'local'];
  const local = readSection(value, path, 'spec.local', problems);
  const dataDir = fieldOf(local, 'dataDir') ?? fallback.dataDir;
  // Control characters are refused: a path holding one is a mistake, such as the newline that a YAML
  // block scalar (`dataDir: |`) adds at its end.
  const dataDirIsValid =
    typeof dataDir === 'string' &&
    dataDir !== '' &&
    dataDir.length <= DATA_DIR_LENGTH_MAX &&
    !/\p{Cc}/u.test(dataDir);
  if (!dataDirIsValid) {
    problems.add(
      [...path, 'dataDir'],
      `is ${describeValue(dataDir)}; allowed: a directory path without control characters, e.g. ./.northlight`,
    );
  }
  const basePortPath = [...path, 'basePort'];
  const basePortRule = `0 (any free ports) or a whole number from ${BASE_PORT_MIN} to ${BASE_PORT_MAX}`;
  let basePort = readInteger(
    fieldOf(local, 'basePort'),
    basePortPath,
    fallback.basePort,
    { min: 0, max: BASE_PORT_MAX, allowed: basePortRule },
    problems,
  );
  if (basePort > 0 && basePort < BASE_PORT_MIN) {
    problems.add(basePortPath, `is ${basePort}, a privileged port; allowed: ${basePortRule}`);
    basePort = fallback.basePort;
  }
  // An invalid value was reported above; the default stands in for it (String() of a mapping can throw).
  return {
    dataDir: dataDirIsValid ? dataDir : fallback.dataDir,
    basePort,
    ...readLocalTls(fieldOf(local, 'tls'), [...path, 'tls'], fallback.tls, problems),
  };
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes-only fields: the local platform reads and checks them too (one spec for both
// platforms), and then ignores them.

function readVolumeClaim(
  value: unknown,
  fallback: VolumeClaimSpec,
  segmentSizeBytes: number,
  problems: ProblemCollector,
): VolumeClaimSpec {
  const path = ['spec', 'storage', 'volumeClaim'];
  const claim = readSection(value, path, 'spec.storage.volumeClaim', problems);
  const sizePath = [...path, 'size'];
  const size = fieldOf(claim, 'size');
  if (size === undefined) {
    return withStorageClass(claim, { sizeBytes: defaultVolumeClaimSizeBytes(segmentSizeBytes) }, problems);
  }
  const sizeBytes = readSize(
    size,
    sizePath,
    fallback.sizeBytes,
    { min: SEGMENT_SIZE_BYTES_MIN, max: VOLUME_CLAIM_SIZE_BYTES_MAX },
    problems,
  );
  // A cross-field rule the CRD schema cannot state: on Kubernetes it is reported in a condition.
  if (sizeBytes < segmentSizeBytes) {
    problems.add(
      sizePath,
      `is ${formatSizeBytes(sizeBytes)}, smaller than one segment (storage.segmentSize ${formatSizeBytes(segmentSizeBytes)}); allowed: at least the segment size`,
    );
  }
  return withStorageClass(claim, { sizeBytes }, problems);
}

/** A claim holds at least one segment, so the default grows with a segment size above it. */
export function defaultVolumeClaimSizeBytes(segmentSizeBytes: number): number {
  return Math.max(DEFAULT_VOLUME_CLAIM_SIZE_BYTES, segmentSizeBytes);
}

function withStorageClass(
  claim: Mapping,
  spec: VolumeClaimSpec,
  problems: ProblemCollector,
): VolumeClaimSpec {
  const storageClassName = fieldOf(claim, 'storageClassName');
  if (storageClassName === undefined) return spec;
  if (typeof storageClassName === 'string' && DNS_SUBDOMAIN_PATTERN.test(storageClassName)) {
    return { ...spec, storageClassName };
  }
  problems.add(
    ['spec', 'storage', 'volumeClaim', 'storageClassName'],
    `is ${describeValue(storageClassName)}; allowed: a storage class name (a DNS subdomain, e.g. standard)`,
  );
  return spec;
}

function readResources(value: unknown, problems: ProblemCollector): ResourcesSpec {
  const path = ['spec', 'resources'];
  const resources = readSection(value, path, 'spec.resources', problems);
  const readComponent = (component: 'storage' | 'engine'): ResourceRequirementsSpec => {
    const componentPath = [...path, component];
    const section = readSection(
      fieldOf(resources, component),
      componentPath,
      `spec.resources.${component}`,
      problems,
    );
    return {
      requests: readQuantities(fieldOf(section, 'requests'), [...componentPath, 'requests'], problems),
      limits: readQuantities(fieldOf(section, 'limits'), [...componentPath, 'limits'], problems),
    };
  };
  return { storage: readComponent('storage'), engine: readComponent('engine') };
}

const RESOURCE_NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?$/;

/** `{ cpu: 500m, memory: 1Gi }`; a bare whole number is a quantity too (`cpu: 2`) and is kept as text. */
function readQuantities(value: unknown, path: Path, problems: ProblemCollector): Record<string, string> {
  const entries = readMapping(value, path, problems);
  const quantities: Record<string, string> = {};
  for (const [name, quantity] of Object.entries(entries)) {
    if (!RESOURCE_NAME_PATTERN.test(name)) {
      problems.add([...path, name], 'is not a resource name; allowed: e.g. cpu, memory, ephemeral-storage');
      continue;
    }
    // A number must be whole: the CRD types quantities as int-or-string, so the API server refuses
    // `cpu: 0.5` (written `500m` or `"0.5"`), and the local platform must agree.
    const text =
      typeof quantity === 'number' && Number.isInteger(quantity) && quantity >= 0
        ? String(quantity)
        : quantity;
    if (typeof text === 'string' && QUANTITY_PATTERN.test(text)) quantities[name] = text;
    else {
      problems.add(
        [...path, name],
        `is ${describeValue(quantity)}; allowed: a Kubernetes quantity such as 500m, 2 or 1Gi`,
      );
    }
  }
  return quantities;
}

/** A mapping of up to KUBERNETES_MAP_ENTRIES_MAX entries; absent or invalid gives an empty one. */
function readMapping(value: unknown, path: Path, problems: ProblemCollector): Mapping {
  if (value === undefined) return EMPTY_MAPPING;
  if (!isMapping(value)) {
    problems.add(path, `is ${describeValue(value)}; expected a mapping`);
    return EMPTY_MAPPING;
  }
  if (Object.keys(value).length > KUBERNETES_MAP_ENTRIES_MAX) {
    problems.add(path, `has ${Object.keys(value).length} entries; at most ${KUBERNETES_MAP_ENTRIES_MAX}`);
    return EMPTY_MAPPING;
  }
  return value;
}

/** Labels, annotations, node selectors: names to text; label values follow Kubernetes' rule. */
function readTextMap(
  value: unknown,
  path: Path,
  valuePattern: RegExp | undefined,
  problems: ProblemCollector,
): Record<string, string> {
  const entries = readMapping(value, path, problems);
  const texts: Record<string, string> = {};
  for (const [name, text] of Object.entries(entries)) {
    if (name === '' || name.length > 253) problems.add([...path, name], 'is not a valid key');
    else if (typeof text !== 'string') {
      problems.add([...path, name], `is ${describeValue(text)}; allowed: text (quote it)`);
    } else if (valuePattern !== undefined && !valuePattern.test(text)) {
      problems.add(
        [...path, name],
        `is ${describeValue(text)}; allowed: a label value, up to 63 of letters, digits, '-', '_' and '.', alphanumeric at both ends`,
      );
    } else texts[name] = text;
  }
  return texts;
}

function readPodTemplate(value: unknown, problems: ProblemCollector): PodTemplateSpec {
  const path = ['spec', 'podTemplate'];
  const template = readSection(value, path, 'spec.podTemplate', problems);
  const priorityClassName = fieldOf(template, 'priorityClassName');
  const podTemplate: PodTemplateSpec = {
    labels: readTextMap(fieldOf(template, 'labels'), [...path, 'labels'], LABEL_VALUE_PATTERN, problems),
    annotations: readTextMap(fieldOf(template, 'annotations'), [...path, 'annotations'], undefined, problems),
    nodeSelector: readTextMap(
      fieldOf(template, 'nodeSelector'),
      [...path, 'nodeSelector'],
      LABEL_VALUE_PATTERN,
      problems,
    ),
    tolerations: readTolerations(fieldOf(template, 'tolerations'), [...path, 'tolerations'], problems),
  };
  // The operator's annotations say what a pod was made from: a template that set one would make every
  // pod look stale, recreated forever. (Its labels need no rule: the operator's own win on a clash.)
  for (const name of Object.keys(podTemplate.annotations))
    if (name.startsWith(RESERVED_KEY_PREFIX))
      problems.add(
        [...path, 'annotations', name],
        `is the operator's own key (${RESERVED_KEY_PREFIX}…); the operator sets these on the pods it makes: remove it from the template`,
      );
  if (priorityClassName === undefined) return podTemplate;
  if (typeof priorityClassName === 'string' && DNS_SUBDOMAIN_PATTERN.test(priorityClassName)) {
    return { ...podTemplate, priorityClassName };
  }
  problems.add(
    [...path, 'priorityClassName'],
    `is ${describeValue(priorityClassName)}; allowed: a PriorityClass name (a DNS subdomain)`,
  );
  return podTemplate;
}

function readTolerations(value: unknown, path: Path, problems: ProblemCollector): TolerationSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add(path, `is ${describeValue(value)}; expected a list of tolerations`);
    return [];
  }
  if (value.length > TOLERATIONS_MAX) {
    problems.add(path, `has ${value.length} tolerations; at most ${TOLERATIONS_MAX}`);
    return [];
  }
  return value.map((raw, index) => readToleration(raw, [...path, index], problems));
}

function isTolerationEffect(value: unknown): value is (typeof TOLERATION_EFFECTS)[number] {
  return (TOLERATION_EFFECTS as readonly unknown[]).includes(value);
}

function readToleration(raw: unknown, path: Path, problems: ProblemCollector): TolerationSpec {
  const item = readSection(raw, path, 'spec.podTemplate.tolerations[]', problems);
  const text = (key: string): string | undefined => {
    const found = fieldOf(item, key);
    if (found === undefined || typeof found === 'string') return found;
    problems.add([...path, key], `is ${describeValue(found)}; allowed: text`);
    return undefined;
  };
  const key = text('key');
  const value = text('value');
  const operator = fieldOf(item, 'operator') ?? 'Equal';
  const effect = fieldOf(item, 'effect');
  const seconds = fieldOf(item, 'tolerationSeconds');
  if (!(TOLERATION_OPERATORS as readonly unknown[]).includes(operator)) {
    problems.add([...path, 'operator'], `is ${describeValue(operator)}; allowed: Exists or Equal`);
  } else if (operator === 'Exists' && value !== undefined) {
    problems.add([...path, 'value'], 'must be left out when operator is Exists');
  }
  if (effect !== undefined && !isTolerationEffect(effect)) {
    problems.add(
      [...path, 'effect'],
      `is ${describeValue(effect)}; allowed: ${TOLERATION_EFFECTS.join(', ')} (or left out: all effects)`,
    );
  }
  if (seconds !== undefined && !(typeof seconds === 'number' && Number.isSafeInteger(seconds))) {
    problems.add([...path, 'tolerationSeconds'], `is ${describeValue(seconds)}; allowed: a whole number`);
  }
  return {
    ...(key === undefined ? {} : { key }),
    operator: operator === 'Exists' ? 'Exists' : 'Equal',
    ...(value === undefined ? {} : { value }),
    ...(isTolerationEffect(effect) ? { effect } : {}),
    ...(typeof seconds === 'number' && Number.isSafeInteger(seconds) ? { tolerationSeconds: seconds } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Output

/** The document form of a spec: the `DatabaseCluster` resource that validates back to it. */
export interface ClusterResource {
  readonly apiVersion: typeof CLUSTER_API_VERSION;
  readonly kind: typeof CLUSTER_KIND;
  readonly metadata: { readonly name: string };
  readonly spec: Readonly<Record<string, unknown>>;
}

/**
 * Every field written out, sizes and durations in their largest exact unit; the Kubernetes-only
 * fields (`resources`, `podTemplate`, `storage.volumeClaim`) only when they are set.
 */
export function clusterSpecToResource(spec: ClusterSpec): ClusterResource {
  return {
    apiVersion: CLUSTER_API_VERSION,
    kind: CLUSTER_KIND,
    metadata: { name: spec.name },
    spec: {
      engine: {
        version: spec.engine.version,
        instances: spec.engine.instances.map((instance) => ({
          name: instance.name,
          promotionTier: instance.promotionTier,
        })),
        cacheSize: formatSizeBytes(spec.engine.cacheSizeBytes),
        lsnAllocationLimit: spec.engine.lsnAllocationLimit,
        transactions: spec.engine.transactions,
        ...(spec.engine.tls === undefined ? {} : { tls: { secretName: spec.engine.tls.secretName } }),
      },
      storage: {
        version: spec.storage.version,
        zones: spec.storage.zones.map((zone) => ({ name: zone.name, nodes: zone.nodes })),
        segmentSize: formatSizeBytes(spec.storage.segmentSizeBytes),
        ...volumeClaimToDocument(spec.storage.volumeClaim, spec.storage.segmentSizeBytes),
      },
      backup: {
        objectStore: objectStoreToDocument(spec.backup.objectStore),
        stagingDelay: formatDurationMs(spec.backup.stagingDelayMs),
      },
      controlPlane: {
        repairGracePeriod: formatDurationMs(spec.controlPlane.repairGracePeriodMs),
        maxConcurrentRepairsPerNode: spec.controlPlane.maxConcurrentRepairsPerNode,
        maxConcurrentRepairs: spec.controlPlane.maxConcurrentRepairs,
        repairBandwidthPerNode: formatBandwidth(spec.controlPlane.repairBandwidthPerNodeBytes),
        heatFactor: spec.controlPlane.heatFactor,
        heatCooldown: formatDurationMs(spec.controlPlane.heatCooldownMs),
      },
      security: { transportAuthentication: spec.security.transportAuthentication },
      local: {
        dataDir: spec.local.dataDir,
        basePort: spec.local.basePort,
        ...(spec.local.tls === undefined
          ? {}
          : { tls: { certFile: spec.local.tls.certFile, keyFile: spec.local.tls.keyFile } }),
      },
      ...kubernetesFieldsToDocument(spec),
    },
  };
}

/** Written only when it differs from the default, so the local example file stays as it is. */
function volumeClaimToDocument(claim: VolumeClaimSpec, segmentSizeBytes: number): Record<string, unknown> {
  const isDefaultSize = claim.sizeBytes === defaultVolumeClaimSizeBytes(segmentSizeBytes);
  if (claim.storageClassName === undefined && isDefaultSize) return {};
  return {
    volumeClaim: {
      ...(claim.storageClassName === undefined ? {} : { storageClassName: claim.storageClassName }),
      size: formatSizeBytes(claim.sizeBytes),
    },
  };
}

/** `resources` and `podTemplate`, each written only when it sets something. */
function kubernetesFieldsToDocument(spec: ClusterSpec): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const resources: Record<string, unknown> = {};
  for (const component of ['storage', 'engine'] as const) {
    const { requests, limits } = spec.resources[component];
    const entry = {
      ...(Object.keys(requests).length === 0 ? {} : { requests: { ...requests } }),
      ...(Object.keys(limits).length === 0 ? {} : { limits: { ...limits } }),
    };
    if (Object.keys(entry).length > 0) resources[component] = entry;
  }
  if (Object.keys(resources).length > 0) fields.resources = resources;
  const template = spec.podTemplate;
  const podTemplate: Record<string, unknown> = {};
  for (const key of ['labels', 'annotations', 'nodeSelector'] as const) {
    if (Object.keys(template[key]).length > 0) podTemplate[key] = { ...template[key] };
  }
  if (template.tolerations.length > 0)
    podTemplate.tolerations = template.tolerations.map((item) => ({ ...item }));
  if (template.priorityClassName !== undefined) podTemplate.priorityClassName = template.priorityClassName;
  if (Object.keys(podTemplate).length > 0) fields.podTemplate = podTemplate;
  return fields;
}

function objectStoreToDocument(store: ObjectStoreSpec): unknown {
  if (store.kind !== 's3') return store.kind;
  return {
    ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
    bucket: store.bucket,
    region: store.region,
    prefix: store.prefix,
  };
}

/**
 * The effective spec as a cluster file (`northlight up --print-spec`): every field, defaults filled
 * in. It validates back to `spec`. YAML printing is pure, so it lives here beside the rules.
 */
export function specToYaml(spec: ClusterSpec): string {
  const document = new Document(clusterSpecToResource(spec));
  // One line per zone, as in the example file: the three zones read as a table.
  const zones = document.getIn(['spec', 'storage', 'zones']);
  if (isSeq(zones)) {
    for (const zone of zones.items) if (isMap(zone)) zone.flow = true;
  }
  return document.toString({ lineWidth: 0 });
}

/**
 * Problems as one message an operator can act on: one line each, `file:line:column: path: message`
 * where the position is known, so editors and terminals can jump to it.
 */
export function formatSpecProblems(source: string, problems: readonly SpecProblem[]): string {
  const count = problems.length;
  const lines = [
    `${source}: ${count} problem${plural(count)} in the cluster spec; fix ${count === 1 ? 'it' : 'them'} and try again:`,
  ];
  for (const problem of problems) {
    const position = problem.line === undefined ? '' : `:${problem.line}:${problem.column ?? 1}`;
    const path = problem.path === '' ? '' : `${problem.path}: `;
    lines.push(`  ${source}${position}: ${path}${problem.message}`);
  }
  return lines.join('\n');
}
