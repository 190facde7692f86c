/**
 * The storage node's configuration: command-line flags and environment variables, validated once at
 * start into a typed `StorageNodeConfig`. A flag wins over its environment variable. Every problem is
 * collected and reported at once, each naming the flag and the variable, in one
 * `NorthlightError('NL_CONFIG_INVALID')`, so an operator fixes a manifest in one pass.
 *
 * Secrets: the S3 secret access key and the internal token are read from the environment only — a command line is visible to
 * every user of the machine (`ps`) — and `describeConfig` replaces it before the config is logged.
 *
 * Forms accepted: `--flag value` and `--flag=value`; sizes as plain bytes or with a binary suffix
 * (`8KiB`, `1GiB`). An environment variable set to the empty string counts as unset.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import {
  asNodeId,
  asZone,
  DEFAULT_TRANSPORT_AUTH_MODE,
  isTransportAuthMode,
  isValidIdentifier,
  type LogLevel,
  MAX_PAGE_SIZE_BYTES,
  type NodeId,
  NorthlightError,
  type Result,
  TRANSPORT_AUTH_MODES,
  type TransportAuthMode,
  type Zone,
} from '@northlight/protocol';
import { INTERNAL_TOKEN_RULE, isValidInternalToken, type PeerAddress } from '@northlight/protocol/io';
import {
  HYDRATION_BYTES_PER_SECOND_MAX,
  HYDRATION_BYTES_PER_SECOND_MIN,
  isHydrationLimit,
} from './core/hydration-pacer.js';
import { BACKUP_MAX_DELAY_MS_MAX } from './core/options.js';

export const DEFAULT_PORT = 7450;
export const DEFAULT_ADMIN_PORT = 7451;
export const DEFAULT_LISTEN_HOST = '0.0.0.0';
export const DEFAULT_S3_REGION = 'us-east-1';
export const DEFAULT_BACKUP_INTERVAL_MS = 1000;
/**
 * STORAGE_NODE_DEFAULTS has the same. Ten seconds: a segment written a little at a time stages one
 * chunk and one manifest per 10 s instead of per second (a tenth of the PUTs), while a write is in S3
 * within about 11 s, well inside the minutes a restore from S3 takes anyway, and GC keeps at most
 * 10 s more of the log (backup.ts B7, docs/storage-node-s3.md "Staging cadence").
 */
export const DEFAULT_BACKUP_MAX_DELAY_MS = 10_000;
export const DEFAULT_GOSSIP_INTERVAL_MS = 1000;
/** STORAGE_NODE_DEFAULTS has the same. */
export const DEFAULT_MATERIALIZE_INTERVAL_MS = 1000;
/** STORAGE_NODE_DEFAULTS has the same. */
export const DEFAULT_MATERIALIZE_RECORDS_PER_STEP = 2048;
/** A step's records are decoded and held at once: a bound on that memory and on the step's length. */
export const MATERIALIZE_RECORDS_PER_STEP_MAX = 1_048_576;
/** The page and record caches' default size each (STORAGE_NODE_DEFAULTS has the same). */
export const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
export const DEFAULT_PAGE_SIZE_BYTES = 8 * 1024;
export const MIN_PAGE_SIZE_BYTES = 512;
export const DEFAULT_SEGMENT_SIZE_BYTES = 1024 * 1024 * 1024;
export const MAX_SEGMENT_SIZE_BYTES = 1024 * 1024 * 1024 * 1024;
/** Page numbers are u32 on the wire, so a segment holds at most 2^32 pages. */
const MAX_PAGES_PER_SEGMENT = 2 ** 32;
/** A peer list longer than this is a mistake, not a fleet. */
export const MAX_PEERS = 4_096;

export interface ObjectStoreConfig {
  /** An S3-compatible endpoint URL; undefined means AWS S3 itself. */
  readonly endpoint: string | undefined;
  readonly bucket: string;
  readonly region: string;
  /** Both set or both undefined (then the SDK's default credential chain applies). */
  readonly accessKeyId: string | undefined;
  readonly secretAccessKey: string | undefined;
}

export interface StorageNodeConfig {
  readonly nodeId: NodeId;
  readonly zone: Zone;
  /** Absolute. */
  readonly dataDir: string;
  readonly listenHost: string;
  /** The binary protocol's port; 0 picks a free one. */
  readonly port: number;
  /** The admin HTTP API's port (health, status, metrics); 0 picks a free one. */
  readonly adminPort: number;
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  /** Undefined when no bucket is configured: the node runs without backups. */
  readonly objectStore: ObjectStoreConfig | undefined;
  readonly logLevel: LogLevel;
  readonly pageSizeBytes: number;
  readonly segmentSizeBytes: number;
  /** How often each segment asks a peer for the records above its SCL (0: never). */
  readonly gossipIntervalMs: number;
  /** How often staging to the object store runs (0: never; only with a bucket). */
  readonly backupIntervalMs: number;
  /** The longest a stageable record waits before a tick stages it (0: every tick; backup.ts B7). */
  readonly backupMaxDelayMs: number;
  /** How often records are coalesced into page images (materialization) and collected. */
  readonly materializeIntervalMs: number;
  /** At most this many records coalesced by one materialization step. */
  readonly materializeRecordsPerStep: number;
  /** Memory for page images (the page store's image cache; 0: none). */
  readonly pageCacheBytes: number;
  /** Memory for decoded records after their append (the record cache; 0: none). */
  readonly recordCacheBytes: number;
  /** Key prefix of the node's backup objects: '' or ending in '/'. */
  readonly s3Prefix: string;
  /** Bandwidth limit of this node's hydrations, bytes per second (0: none; a hydrate request may change it). */
  readonly hydrationBytesPerSecond: number;
  /**
   * The cluster's internal token (protocol's internal-auth.ts): the admin API's bearer token and the
   * transport's key. Undefined: both are open to anyone who reaches the ports.
   */
  readonly internalToken: string | undefined;
  /** `transition`: the transport also takes peers that cannot prove the token (an upgrade from a build without). */
  readonly transportAuth: TransportAuthMode;
}

export interface ConfigOption {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  /** Shown in help; undefined when required or optional without a default. */
  readonly defaultValue?: string;
  /** Read from the environment only (a secret). */
  readonly envOnly?: boolean;
}

const option = (name: string, description: string, extra: Partial<ConfigOption> = {}): ConfigOption => ({
  flag: `--${name}`,
  env: `NORTHLIGHT_${name.toUpperCase().replaceAll('-', '_')}`,
  description,
  ...extra,
});

export const CONFIG_OPTIONS = {
  nodeId: option('node-id', "this node's id (required; [a-z0-9][a-z0-9._-]{0,62})"),
  zone: option('zone', 'availability zone (required; same form as an id)'),
  dataDir: option('data-dir', 'directory of the segment files (required)'),
  listenHost: option('listen-host', 'address both listeners bind', { defaultValue: DEFAULT_LISTEN_HOST }),
  port: option('port', 'binary protocol port (0 = any free port)', { defaultValue: String(DEFAULT_PORT) }),
  adminPort: option('admin-port', 'admin HTTP port (0 = any free port)', {
    defaultValue: String(DEFAULT_ADMIN_PORT),
  }),
  peers: option('peers', 'other nodes: id=host:port,… (IPv6 hosts in brackets)', { defaultValue: '' }),
  s3Endpoint: option('s3-endpoint', 'S3-compatible endpoint URL (default: AWS S3)'),
  s3Bucket: option('s3-bucket', 'backup bucket; no bucket = no backups'),
  s3Region: option('s3-region', 'S3 region', { defaultValue: DEFAULT_S3_REGION }),
  s3Prefix: option('s3-prefix', "key prefix of the backup objects ('' or ending in /)", { defaultValue: '' }),
  backupIntervalMs: option('backup-interval-ms', 'staging to S3 every … ms (0 = off; needs a bucket)', {
    defaultValue: String(DEFAULT_BACKUP_INTERVAL_MS),
  }),
  backupMaxDelayMs: option(
    'backup-max-delay-ms',
    'a record waits at most … ms to be staged to S3; sooner once its segment has half a chunk pending (0 = every tick; at most 300000)',
    { defaultValue: String(DEFAULT_BACKUP_MAX_DELAY_MS) },
  ),
  gossipIntervalMs: option('gossip-interval-ms', 'gossip with PG peers every … ms (0 = off)', {
    defaultValue: String(DEFAULT_GOSSIP_INTERVAL_MS),
  }),
  s3AccessKeyId: option('s3-access-key-id', 'S3 access key id (with the secret key)'),
  s3SecretAccessKey: option('s3-secret-access-key', 'S3 secret access key (environment only)', {
    envOnly: true,
  }),
  internalToken: option(
    'internal-token',
    "the cluster's internal token (environment only): the admin routes but /healthz, /readyz and /metrics require it as a bearer token, and transport peers must prove they hold it (unset: both answer anyone)",
    { envOnly: true },
  ),
  transportAuth: option(
    'transport-auth',
    'required: every transport peer proves the internal token; transition: peers of a build from before transport authentication are also taken, unauthenticated (for a rolling upgrade from one; set required again once every member runs this build)',
    { defaultValue: 'required' },
  ),
  logLevel: option('log-level', 'debug, info, warn or error', { defaultValue: 'info' }),
  pageSizeBytes: option('page-size-bytes', 'page size: a power of two, 512 B … 64 KiB', {
    defaultValue: String(DEFAULT_PAGE_SIZE_BYTES),
  }),
  segmentSizeBytes: option('segment-size-bytes', 'segment (PG) size: a multiple of the page size', {
    defaultValue: '1GiB',
  }),
  materializeIntervalMs: option(
    'materialize-interval-ms',
    'coalesce records into page images every … ms: longer coalesces more records per page write',
    { defaultValue: String(DEFAULT_MATERIALIZE_INTERVAL_MS) },
  ),
  materializeRecordsPerStep: option(
    'materialize-records-per-step',
    'at most … records coalesced by one materialization step (a backlog takes several steps, one after another)',
    { defaultValue: String(DEFAULT_MATERIALIZE_RECORDS_PER_STEP) },
  ),
  pageCacheBytes: option(
    'page-cache-bytes',
    'memory for page images, so hot pages are not read from disk (0 = none)',
    {
      defaultValue: '32MiB',
    },
  ),
  recordCacheBytes: option(
    'record-cache-bytes',
    'memory for records after their append, so materialization and gossip need not read the log (0 = none)',
    {
      defaultValue: '32MiB',
    },
  ),
  hydrationBytesPerSecond: option(
    'hydration-bytes-per-second',
    'bandwidth limit of repairs, migrations and restores into this node, per second (0 = none; the control plane sends its own with each hydration)',
    { defaultValue: '0' },
  ),
} as const satisfies Record<string, ConfigOption>;

type OptionKey = keyof typeof CONFIG_OPTIONS;
const optionByFlag = new Map<string, OptionKey>(
  (Object.entries(CONFIG_OPTIONS) as Array<[OptionKey, ConfigOption]>).map(([key, spec]) => [spec.flag, key]),
);

export type Environment = Readonly<Record<string, string | undefined>>;

/** One thing wrong with the configuration, phrased for the operator. */
export interface ConfigProblem {
  readonly flag: string;
  readonly env: string;
  readonly message: string;
}

/** Where a raw value came from, for messages. */
interface RawValue {
  readonly text: string;
  readonly source: 'flag' | 'env';
}

/** Validates `argv` (without node and script) and `env`; the typed config or every problem found. */
export function parseStorageNodeConfigResult(
  argv: readonly string[],
  env: Environment,
): Result<StorageNodeConfig, ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const flags = readFlags(argv, problems);
  const raw = (key: OptionKey): RawValue | undefined => {
    const fromFlag = flags.get(key);
    if (fromFlag !== undefined) return { text: fromFlag, source: 'flag' };
    const fromEnv = env[CONFIG_OPTIONS[key].env];
    return fromEnv === undefined || fromEnv === '' ? undefined : { text: fromEnv, source: 'env' };
  };
  const report = (key: OptionKey, value: RawValue | undefined, message: string): undefined => {
    const spec = CONFIG_OPTIONS[key];
    const shown =
      value === undefined
        ? ''
        : ` (${quoteFor(key, value)} from ${value.source === 'flag' ? spec.flag : spec.env})`;
    problems.push({
      flag: spec.flag,
      env: spec.env,
      message: `${spec.flag} / ${spec.env}: ${message}${shown}`,
    });
    return undefined;
  };
  const field = <T>(key: OptionKey, parse: (text: string) => Parsed<T>, fallback?: T): T | undefined => {
    const value = raw(key);
    if (value === undefined) {
      if (isRequired(key)) report(key, undefined, 'is required');
      return fallback;
    }
    if (value.text.trim() === '') return report(key, value, 'is empty');
    const parsed = parse(value.text);
    return 'problem' in parsed ? report(key, value, parsed.problem) : parsed.value;
  };

  const nodeId = field('nodeId', (text) =>
    isValidIdentifier(text) ? valid(asNodeId(text)) : invalid(identifierRule),
  );
  const zone = field('zone', (text) =>
    isValidIdentifier(text) ? valid(asZone(text)) : invalid(identifierRule),
  );
  const dataDir = field('dataDir', parseText);
  const listenHost = field('listenHost', parseHost, DEFAULT_LISTEN_HOST);
  const port = field('port', parsePort, DEFAULT_PORT);
  const adminPort = field('adminPort', parsePort, DEFAULT_ADMIN_PORT);
  const peers = field('peers', parsePeers, new Map<NodeId, PeerAddress>());
  const logLevel = field('logLevel', parseLogLevel, 'info');
  const pageSizeBytes = field('pageSizeBytes', parsePageSize, DEFAULT_PAGE_SIZE_BYTES);
  const segmentSizeBytes = field('segmentSizeBytes', parseSize, DEFAULT_SEGMENT_SIZE_BYTES);
  if (port !== undefined && adminPort !== undefined && port === adminPort && port !== 0) {
    report('adminPort', raw('adminPort'), `must differ from ${CONFIG_OPTIONS.port.flag} (${port})`);
  }
  if (pageSizeBytes !== undefined && segmentSizeBytes !== undefined) {
    const problem = segmentSizeProblem(segmentSizeBytes, pageSizeBytes);
    if (problem !== undefined) report('segmentSizeBytes', raw('segmentSizeBytes'), problem);
  }
  const gossipIntervalMs = field('gossipIntervalMs', parseInterval, DEFAULT_GOSSIP_INTERVAL_MS);
  const backupIntervalMs = field('backupIntervalMs', parseInterval, DEFAULT_BACKUP_INTERVAL_MS);
  const backupMaxDelayMs = field(
    'backupMaxDelayMs',
    (text) => {
      const value = parseInteger(text);
      return value !== undefined && value <= BACKUP_MAX_DELAY_MS_MAX
        ? valid(value)
        : invalid(`is not a delay in milliseconds (an integer 0 … ${BACKUP_MAX_DELAY_MS_MAX})`);
    },
    DEFAULT_BACKUP_MAX_DELAY_MS,
  );
  const s3Prefix = field('s3Prefix', parsePrefix, '');
  const materializeIntervalMs = field(
    'materializeIntervalMs',
    (text) => {
      const parsed = parseInterval(text);
      return 'value' in parsed && parsed.value === 0 ? invalid('must be positive') : parsed;
    },
    DEFAULT_MATERIALIZE_INTERVAL_MS,
  );
  const materializeRecordsPerStep = field(
    'materializeRecordsPerStep',
    (text) => {
      const value = parseInteger(text);
      return value !== undefined && value >= 1 && value <= MATERIALIZE_RECORDS_PER_STEP_MAX
        ? valid(value)
        : invalid(`is not a number of records (an integer 1 … ${MATERIALIZE_RECORDS_PER_STEP_MAX})`);
    },
    DEFAULT_MATERIALIZE_RECORDS_PER_STEP,
  );
  const pageCacheBytes = field('pageCacheBytes', parseMemory, DEFAULT_CACHE_BYTES);
  const recordCacheBytes = field('recordCacheBytes', parseMemory, DEFAULT_CACHE_BYTES);
  const hydrationBytesPerSecond = field(
    'hydrationBytesPerSecond',
    (text) => {
      const parsed = parseMemory(text);
      return 'value' in parsed && !isHydrationLimit(parsed.value)
        ? invalid(
            `must be 0 (no limit) or from ${HYDRATION_BYTES_PER_SECOND_MIN} (64KiB) to ${HYDRATION_BYTES_PER_SECOND_MAX} bytes`,
          )
        : parsed;
    },
    0,
  );
  const objectStore = readObjectStore(flags, raw, report, field);
  // Set but empty is a mistake (a Secret whose key lost its value), not a wish to run open: refused,
  // where any other variable's empty value counts as unset.
  if (env[CONFIG_OPTIONS.internalToken.env] === '')
    report(
      'internalToken',
      undefined,
      "is set but empty: give the cluster's token, or unset the variable to run without one (open to anyone)",
    );
  // A secret given as a flag was already reported; it must not be used even so.
  const internalToken = flags.has('internalToken')
    ? undefined
    : field('internalToken', (text) =>
        isValidInternalToken(text) ? valid(text) : invalid(INTERNAL_TOKEN_RULE),
      );
  const transportAuth = field(
    'transportAuth',
    (text) =>
      isTransportAuthMode(text) ? valid(text) : invalid(`is not ${TRANSPORT_AUTH_MODES.join(' or ')}`),
    DEFAULT_TRANSPORT_AUTH_MODE,
  );
  if (transportAuth === 'transition' && raw('internalToken') === undefined)
    report(
      'transportAuth',
      raw('transportAuth'),
      `is transition, which needs ${CONFIG_OPTIONS.internalToken.env}`,
    );
  if (problems.length > 0) return { ok: false, error: problems };
  return {
    ok: true,
    value: {
      nodeId: nodeId!,
      zone: zone!,
      dataDir: resolve(dataDir!),
      listenHost: listenHost!,
      port: port!,
      adminPort: adminPort!,
      peers: peers!,
      objectStore,
      logLevel: logLevel!,
      pageSizeBytes: pageSizeBytes!,
      segmentSizeBytes: segmentSizeBytes!,
      gossipIntervalMs: gossipIntervalMs!,
      backupIntervalMs: objectStore === undefined ? 0 : backupIntervalMs!,
      backupMaxDelayMs: backupMaxDelayMs!,
      s3Prefix: s3Prefix!,
      materializeIntervalMs: materializeIntervalMs!,
      materializeRecordsPerStep: materializeRecordsPerStep!,
      pageCacheBytes: pageCacheBytes!,
      recordCacheBytes: recordCacheBytes!,
      hydrationBytesPerSecond: hydrationBytesPerSecond!,
      internalToken,
      transportAuth: transportAuth!,
    },
  };
}

/** As `parseStorageNodeConfigResult`, throwing one NL_CONFIG_INVALID that lists every problem. */
export function parseStorageNodeConfig(argv: readonly string[], env: Environment): StorageNodeConfig {
  const result = parseStorageNodeConfigResult(argv, env);
  if (result.ok) return result.value;
  const problems = result.error;
  throw new NorthlightError(
    'NL_CONFIG_INVALID',
    `${problems.length} configuration problem${problems.length === 1 ? '' : 's'}:\n${problems
      .map((problem) => `  - ${problem.message}`)
      .join('\n')}`,
    { problems: problems.length, flags: problems.map((problem) => problem.flag).join(',') },
  );
}

/** The config as plain data for a start-up log line, with the secrets replaced. */
export function describeConfig(config: StorageNodeConfig): Record<string, unknown> {
  return {
    ...config,
    internalToken: config.internalToken === undefined ? undefined : '[redacted]',
    peers: Object.fromEntries([...config.peers].map(([id, address]) => [id, formatAddress(address)])),
    objectStore:
      config.objectStore === undefined
        ? undefined
        : {
            ...config.objectStore,
            secretAccessKey: config.objectStore.secretAccessKey === undefined ? undefined : '[redacted]',
          },
  };
}

/** `--help` text: every flag, its variable, its default. */
export function configHelpText(): string {
  const lines = ['storage node options (a flag wins over its environment variable):'];
  for (const spec of Object.values(CONFIG_OPTIONS) as ConfigOption[]) {
    const name = spec.envOnly ? `(env only) ${spec.env}` : `${spec.flag} / ${spec.env}`;
    const fallback = spec.defaultValue === undefined ? '' : ` [default: ${spec.defaultValue || '""'}]`;
    lines.push(`  ${name.padEnd(58)} ${spec.description}${fallback}`);
  }
  return lines.join('\n');
}

const requiredKeys = new Set<OptionKey>(['nodeId', 'zone', 'dataDir']);
function isRequired(key: OptionKey): boolean {
  return requiredKeys.has(key);
}

const identifierRule = 'must match [a-z0-9][a-z0-9._-]{0,62}';

function quoteFor(key: OptionKey, value: RawValue): string {
  return CONFIG_OPTIONS[key].envOnly === true ? '[redacted]' : JSON.stringify(value.text);
}

/** Splits argv into flag values; unknown flags, missing values, repeats and positionals are problems. */
function readFlags(argv: readonly string[], problems: ConfigProblem[]): Map<OptionKey, string> {
  const values = new Map<OptionKey, string>();
  const problem = (flag: string, env: string, message: string): void => {
    problems.push({ flag, env, message });
  };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (!argument.startsWith('--')) {
      problem(
        argument,
        '',
        `unexpected argument ${JSON.stringify(argument)}: options are --flag value or --flag=value`,
      );
      continue;
    }
    const equals = argument.indexOf('=');
    const flag = equals < 0 ? argument : argument.slice(0, equals);
    const key = optionByFlag.get(flag);
    if (key === undefined) {
      problem(flag, '', `unknown flag ${flag}; see --help`);
      if (equals < 0 && index + 1 < argv.length && !argv[index + 1]!.startsWith('--')) index += 1;
      continue;
    }
    const spec = CONFIG_OPTIONS[key];
    let value: string | undefined;
    if (equals >= 0) value = argument.slice(equals + 1);
    else if (index + 1 < argv.length && !argv[index + 1]!.startsWith('--')) value = argv[++index];
    if (spec.envOnly === true) {
      problem(
        spec.flag,
        spec.env,
        `${spec.flag} is not accepted on the command line (any user can read it with ps); set ${spec.env}`,
      );
    } else if (value === undefined) {
      problem(spec.flag, spec.env, `${spec.flag} / ${spec.env}: ${spec.flag} needs a value`);
    } else if (values.has(key)) {
      problem(spec.flag, spec.env, `${spec.flag} / ${spec.env}: ${spec.flag} is given more than once`);
    } else {
      values.set(key, value);
    }
  }
  return values;
}

type Report = (key: OptionKey, value: RawValue | undefined, message: string) => undefined;
type Field = <T>(key: OptionKey, parse: (text: string) => Parsed<T>, fallback?: T) => T | undefined;

/** A parser's verdict on one raw value. */
type Parsed<T> = { readonly value: T } | { readonly problem: string };
function valid<T>(value: T): Parsed<T> {
  return { value };
}
function invalid(problem: string): Parsed<never> {
  return { problem };
}

/** The S3 settings: all optional, but coherent — a bucket for any of them, both keys or neither. */
function readObjectStore(
  flags: Map<OptionKey, string>,
  raw: (key: OptionKey) => RawValue | undefined,
  report: Report,
  field: Field,
): ObjectStoreConfig | undefined {
  const endpoint = field('s3Endpoint', parseEndpoint);
  const bucket = field('s3Bucket', parseBucket);
  const region = field('s3Region', parseRegion, DEFAULT_S3_REGION);
  const accessKeyId = field('s3AccessKeyId', parseText);
  // A secret given as a flag was already reported; it must not be used even so.
  const secretAccessKey = flags.has('s3SecretAccessKey') ? undefined : field('s3SecretAccessKey', parseText);
  if (raw('s3Bucket') === undefined) {
    for (const key of ['s3Endpoint', 's3Region', 's3AccessKeyId', 's3SecretAccessKey'] as const) {
      const value = raw(key);
      if (value !== undefined) {
        report(
          key,
          value,
          `is set but ${CONFIG_OPTIONS.s3Bucket.flag} / ${CONFIG_OPTIONS.s3Bucket.env} is not`,
        );
      }
    }
    return undefined;
  }
  if ((raw('s3AccessKeyId') === undefined) !== (raw('s3SecretAccessKey') === undefined)) {
    const missing = raw('s3AccessKeyId') === undefined ? 's3AccessKeyId' : 's3SecretAccessKey';
    report(missing, undefined, 'is required when the other S3 key is set (give both or neither)');
  }
  if (bucket === undefined || region === undefined) return undefined;
  return { endpoint, bucket, region, accessKeyId, secretAccessKey };
}

/** Free text; never a problem by itself (emptiness is checked before). */
function parseText(text: string): Parsed<string> {
  return valid(text);
}

const hostnamePattern =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function hostProblem(host: string): string | undefined {
  return isIP(host) !== 0 || hostnamePattern.test(host) ? undefined : 'is not an IP address or host name';
}

function parseHost(text: string): Parsed<string> {
  const problem = hostProblem(text);
  return problem === undefined ? valid(text) : invalid(problem);
}

function parseInteger(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Milliseconds between ticks: 0 (off) … one day. */
function parseInterval(text: string): Parsed<number> {
  const value = parseInteger(text);
  return value !== undefined && value <= 86_400_000
    ? valid(value)
    : invalid('is not an interval in milliseconds (an integer 0 … 86400000)');
}

function parsePrefix(text: string): Parsed<string> {
  return /^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}\/$/.test(text)
    ? valid(text)
    : invalid("is not a key prefix (letters, digits, . _ - /, ending in '/')");
}

function parsePort(text: string): Parsed<number> {
  const value = parseInteger(text);
  return value !== undefined && value <= 0xffff
    ? valid(value)
    : invalid('is not a port (an integer 0 … 65535)');
}

const sizeUnits: Record<string, number> = {
  '': 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

function parseSize(text: string): Parsed<number> {
  const match = /^(\d{1,16})(KiB|MiB|GiB|TiB)?$/.exec(text);
  const value = match === null ? undefined : Number(match[1]) * sizeUnits[match[2] ?? '']!;
  return value !== undefined && Number.isSafeInteger(value) && value > 0
    ? valid(value)
    : invalid('is not a size in bytes (a positive integer, optionally with KiB, MiB, GiB or TiB)');
}

/** A memory size: 0, or a size as `parseSize` takes it. */
function parseMemory(text: string): Parsed<number> {
  return text === '0' ? valid(0) : parseSize(text);
}

function parsePageSize(text: string): Parsed<number> {
  const parsed = parseSize(text);
  if ('problem' in parsed) return parsed;
  const value = parsed.value;
  const powerOfTwo = value <= MAX_PAGE_SIZE_BYTES && (value & (value - 1)) === 0;
  return powerOfTwo && value >= MIN_PAGE_SIZE_BYTES
    ? parsed
    : invalid(`must be a power of two from ${MIN_PAGE_SIZE_BYTES} to ${MAX_PAGE_SIZE_BYTES} bytes`);
}

function segmentSizeProblem(segmentSizeBytes: number, pageSizeBytes: number): string | undefined {
  if (segmentSizeBytes % pageSizeBytes !== 0)
    return `must be a multiple of the page size (${pageSizeBytes} bytes)`;
  if (segmentSizeBytes > MAX_SEGMENT_SIZE_BYTES)
    return `must be at most ${MAX_SEGMENT_SIZE_BYTES} bytes (1 TiB)`;
  if (segmentSizeBytes / pageSizeBytes > MAX_PAGES_PER_SEGMENT) return 'holds more than 2^32 pages';
  return undefined;
}

const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function parseLogLevel(text: string): Parsed<LogLevel> {
  return (logLevels as readonly string[]).includes(text)
    ? valid(text as LogLevel)
    : invalid(`must be one of ${logLevels.join(', ')}`);
}

/** `id=host:port,…`; every entry is checked and every bad one named. */
function parsePeers(text: string): Parsed<Map<NodeId, PeerAddress>> {
  const peers = new Map<NodeId, PeerAddress>();
  const bad: string[] = [];
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length > MAX_PEERS) return invalid(`lists ${entries.length} peers; at most ${MAX_PEERS}`);
  for (const entry of entries) {
    const match = /^([^=]+)=(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
    if (match === null) {
      bad.push(`${JSON.stringify(entry)} is not id=host:port`);
      continue;
    }
    const [, id, bracketedHost, portText] = match as unknown as [string, string, string, string];
    const host = bracketedHost.startsWith('[') ? bracketedHost.slice(1, -1) : bracketedHost;
    const port = Number(portText);
    if (!isValidIdentifier(id)) bad.push(`peer id ${JSON.stringify(id)} ${identifierRule}`);
    else if (peers.has(id as NodeId)) bad.push(`peer ${id} is listed twice`);
    else if (hostProblem(host) !== undefined)
      bad.push(`peer ${id}: host ${JSON.stringify(host)} ${hostProblem(host)}`);
    else if (port < 1 || port > 0xffff) bad.push(`peer ${id}: port ${port} is not 1 … 65535`);
    else peers.set(asNodeId(id), { host, port });
  }
  return bad.length === 0 ? valid(peers) : invalid(bad.join('; '));
}

function parseEndpoint(text: string): Parsed<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return invalid('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return invalid('must be an http:// or https:// URL');
  if (url.username !== '' || url.password !== '') {
    return invalid('must not carry credentials (use the S3 key settings)');
  }
  return valid(text);
}

/** S3's bucket naming rules, in short: 3–63 of [a-z0-9.-], starting and ending alphanumeric. */
function parseBucket(text: string): Parsed<string> {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(text)
    ? valid(text)
    : invalid('is not a valid bucket name (3–63 of a-z 0-9 . -)');
}

function parseRegion(text: string): Parsed<string> {
  return /^[a-z0-9-]{1,32}$/.test(text) ? valid(text) : invalid('is not a region name (a-z 0-9 -)');
}

function formatAddress(address: PeerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
