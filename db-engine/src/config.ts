/**
 * The engine process's configuration: flags, each with an environment variable (`NL_ENGINE_…`; a flag
 * wins), validated at start. Every problem is reported at once, phrased for the operator, naming the
 * flag and the variable. Run `tsx db-engine/src/main.ts --help` for the list.
 */
import {
  asNodeId,
  DEFAULT_TRANSPORT_AUTH_MODE,
  isTransportAuthMode,
  type NodeId,
  NorthlightError,
  TRANSPORT_AUTH_MODES,
  type TransportAuthMode,
} from '@northlight/protocol';
import { INTERNAL_TOKEN_RULE, isValidInternalToken, type PeerAddress } from '@northlight/protocol/io';

export const ENGINE_PAGE_SIZE_BYTES = 4096;

/** Node ids and zones, as everywhere in the volume (protocol/src/core/types.ts). */
const IDENTIFIER = /^[a-z0-9][a-z0-9._-]{0,62}$/;

function isIdentifier(text: string): boolean {
  return IDENTIFIER.test(text);
}

export interface StorageNodeAddress {
  readonly nodeId: NodeId;
  readonly zone: string;
  /** The binary protocol (append, read page, recovery). */
  readonly address: PeerAddress;
  /** The admin HTTP API (segment creation). */
  readonly adminPort: number;
}

export interface EngineConfig {
  readonly nodeId: NodeId;
  readonly dataDir: string;
  readonly listenHost: string;
  /** The SQL HTTP API. */
  readonly httpPort: number;
  /** The binary protocol listener (storage answers on the engine's own connections; 0 = any port). */
  readonly port: number;
  readonly storage: readonly StorageNodeAddress[];
  readonly segmentSizeBytes: number;
  readonly lsnAllocationLimit: bigint;
  readonly writeQuorum: number;
  readonly cachePages: number;
  readonly writeQuorumTimeoutMs: number;
  /** Adaptive batching: flushes of one PG in flight before its next records wait (0: never wait). */
  readonly roundsInFlightMax: number;
  /** Adaptive batching: the longest a record waits behind rounds in flight. */
  readonly batchHoldMs: number;
  readonly pageReadTimeoutMs: number;
  readonly requestBodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  /**
   * A statement (an HTTP request: all its statements) running longer than this is stopped with 57014
   * and its transaction rolled back; 0 = never. The kernel has one SQLite connection, so a runaway
   * query would otherwise hold up every client. Over the PostgreSQL protocol it is the default of the
   * session's `statement_timeout`, which a client may `SET`.
   */
  readonly statementTimeoutMs: number;
  /** Ship whole pages instead of diffs: the benchmark's "traditional engine on block storage". */
  readonly shipFullPages: boolean;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** writer (the default) or replica: a read-only engine following the writer's redo stream. */
  readonly role: 'writer' | 'replica';
  /**
   * Replica: the writer's HTTP API, e.g. http://127.0.0.1:8432 (required for a replica); several,
   * comma-separated, are tried in turn (the writer, then the replicas that may be promoted).
   */
  readonly writerUrls: readonly string[];
  /**
   * The control plane's placement API (e.g. http://127.0.0.1:7400): the writer asks it where a new
   * PG goes. Undefined: the writer places PGs itself, two per zone round robin.
   */
  readonly placementUrl: string | undefined;
  /** The PostgreSQL wire protocol (docs/clients.md). */
  readonly pg: PgListenerConfig;
  /**
   * The bearer token the internal HTTP routes (/v1/status, /v1/volume, /v1/replication/*, /v1/admin/*)
   * require, and a replica sends to the writer (src/io/http-auth.ts). Undefined: those routes answer
   * anyone, and the engine warns at start.
   */
  readonly internalToken: string | undefined;
  /** `transition`: the transport also takes storage nodes that cannot prove the token (an upgrade). */
  readonly transportAuth: TransportAuthMode;
}

export interface PgListenerConfig {
  /** 0 = any free port. */
  readonly port: number;
  /** scram: SCRAM-SHA-256 with `password`; trust: anyone on the network may connect as any user. */
  readonly auth: 'scram' | 'trust';
  readonly user: string;
  /** Required with scram. */
  readonly password: string | undefined;
  readonly maxConnections: number;
  /** A read-write transaction idle this long while it holds the SQL writer is rolled back (25P03). */
  readonly idleInTransactionTimeoutMs: number;
  /** A statement waiting this long for the SQL writer gives up (55P03). */
  readonly lockWaitTimeoutMs: number;
  /**
   * serial: a read-write transaction holds the SQL writer from its first statement to its commit.
   * optimistic: it holds it only for each statement and for its commit, which replay its statements
   * and fail with 40001 when another transaction changed what it saw (transaction-gate.ts).
   */
  readonly transactions: 'serial' | 'optimistic';
  /** An optimistic transaction with more statements than this takes the writer after all. */
  readonly optimisticMaxStatements: number;
  /** A connection with no traffic for this long is closed; 0 = never. */
  readonly idleSessionTimeoutMs: number;
  /** A larger protocol message closes the connection (08P01). */
  readonly maxMessageBytes: number;
  /** Rows a connection may hold buffered (a portal's result) before 54000. */
  readonly maxResultBytes: number;
  /** PEM files: with both, SSLRequest is answered 'S' and TLS is offered. */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** How often the PEM files are read again, a changed pair replacing the one in use (renewals). */
  readonly tlsReloadCheckMs: number;
}

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly defaultValue?: string;
}

const option = (name: string, description: string, defaultValue?: string): OptionSpec => ({
  flag: `--${name}`,
  env: `NL_ENGINE_${name.toUpperCase().replaceAll('-', '_')}`,
  description,
  ...(defaultValue === undefined ? {} : { defaultValue }),
});

const OPTIONS = {
  nodeId: option('node-id', "the engine's id on the binary protocol", 'engine-1'),
  dataDir: option('data-dir', 'directory of the volume list and the epoch file (required)'),
  listenHost: option('listen-host', 'address the listeners bind', '127.0.0.1'),
  httpPort: option('http-port', 'SQL HTTP API port (0 = any free port)', '8432'),
  port: option('port', 'binary protocol port (0 = any free port)', '0'),
  storage: option(
    'storage',
    'the storage nodes, id=host:port/adminPort@zone,… (two or more in each of three zones; required)',
  ),
  segmentSizeBytes: option(
    'segment-size-bytes',
    'PG size, a multiple of 4096 (the storage nodes must run with the same value and --page-size-bytes 4096)',
    '1GiB',
  ),
  lsnAllocationLimit: option(
    'lsn-allocation-limit',
    'LAL: LSNs allocated never exceed VDL by more',
    '1000000',
  ),
  writeQuorum: option(
    'write-quorum',
    'acknowledgements (of 6 copies) a commit waits for: 4, the design; 6 waits for every copy, like a synchronous mirror (for benchmarks)',
    '4',
  ),
  cachePages: option('cache-pages', 'buffer cache size in 4 KiB pages', '16384'),
  writeQuorumTimeoutMs: option(
    'write-quorum-timeout-ms',
    'a commit not durable after this fails with "write quorum lost"',
    '10000',
  ),
  roundsInFlightMax: option(
    'rounds-in-flight-max',
    "adaptive batching: a PG's flushes in flight (sent, not yet durable) before its next records wait for one to become durable, so that under load one batch carries many transactions; 0 sends every record at once",
    '1',
  ),
  batchHoldMs: option(
    'batch-hold-ms',
    'adaptive batching: the longest a record waits behind rounds in flight',
    '10',
  ),
  pageReadTimeoutMs: option(
    'page-read-timeout-ms',
    'a page read no segment answers fails after this',
    '5000',
  ),
  requestBodyLimitBytes: option('request-body-limit-bytes', 'largest SQL request body', '1MiB'),
  requestTimeoutMs: option('request-timeout-ms', 'an HTTP request taking longer is cut off', '60000'),
  statementTimeoutMs: option(
    'statement-timeout-ms',
    'a statement running longer is stopped (57014) and its transaction rolled back, so that no query holds the one SQL writer forever; 0 = never (PostgreSQL: the default statement_timeout)',
    '60000',
  ),
  shipFullPages: option(
    'ship-full-pages',
    'true: ship whole 4 KiB pages instead of diffs (for benchmarks: a traditional engine on block storage)',
    'false',
  ),
  logLevel: option('log-level', 'debug, info, warn or error', 'info'),
  role: option(
    'role',
    'writer, or replica: read-only, following the writer named by --writer-url on the same volume',
    'writer',
  ),
  placementUrl: option(
    'placement-url',
    "the control plane's API, e.g. http://127.0.0.1:7400: new PGs are placed where it says (the writer places them itself when it does not answer)",
  ),
  pgPort: option('pg-port', 'PostgreSQL wire protocol port (0 = any free port)', '5432'),
  pgAuth: option(
    'pg-auth',
    'scram (SCRAM-SHA-256, needs --pg-password) or trust (no password: only on a trusted network)',
    'scram',
  ),
  pgUser: option('pg-user', 'the user name clients log in with', 'postgres'),
  pgPassword: option('pg-password', "the user's password (scram); prefer the environment variable"),
  pgMaxConnections: option('pg-max-connections', 'connections beyond this are refused (53300)', '200'),
  pgIdleInTransactionTimeoutMs: option(
    'pg-idle-in-transaction-timeout-ms',
    'a transaction holding the SQL writer with no statement for this long is rolled back and its connection closed (25P03)',
    '10000',
  ),
  pgLockWaitTimeoutMs: option(
    'pg-lock-wait-timeout-ms',
    'a statement waiting this long for the SQL writer (held by another transaction) fails with 55P03',
    '30000',
  ),
  pgTransactions: option(
    'pg-transactions',
    'serial (a read-write transaction holds the SQL writer from its first statement to COMMIT) or optimistic (each statement and the COMMIT hold it alone; COMMIT replays the transaction and fails with 40001 if another changed what it saw)',
    'serial',
  ),
  pgOptimisticMaxStatements: option(
    'pg-optimistic-max-statements',
    'an optimistic transaction that runs more statements than this holds the SQL writer from then on (each statement replays the ones before it)',
    '16',
  ),
  pgIdleSessionTimeoutMs: option(
    'pg-idle-session-timeout-ms',
    'a connection idle (outside a transaction) this long is closed; 0 = never',
    '0',
  ),
  pgMaxMessageBytes: option('pg-max-message-bytes', 'largest protocol message a client may send', '64MiB'),
  pgMaxResultBytes: option(
    'pg-max-result-bytes',
    'result bytes one connection may hold buffered; larger results fail with 54000',
    '256MiB',
  ),
  pgTlsCert: option('pg-tls-cert', 'PEM certificate: with --pg-tls-key, clients may use TLS'),
  pgTlsKey: option('pg-tls-key', 'PEM private key for --pg-tls-cert'),
  pgTlsReloadCheckMs: option(
    'pg-tls-reload-check-ms',
    'how often the TLS files are read again; a renewed pair is used for new connections',
    '10000',
  ),
  transportAuth: option(
    'transport-auth',
    'required: storage nodes must prove the internal token on the transport; transition: nodes of a build from before transport authentication are also taken, unauthenticated (for a rolling upgrade; set required again once every member runs this build)',
    DEFAULT_TRANSPORT_AUTH_MODE,
  ),
  internalToken: option(
    'internal-token',
    "the cluster's internal token: the control plane and replicas send it as a bearer token, and the HTTP routes other than /v1/sql, the probes and /metrics require it (unset: they answer anyone); prefer the environment variable",
  ),
  writerUrl: option(
    'writer-url',
    "replica: the writer's HTTP API, e.g. http://127.0.0.1:8432; a comma-separated list is tried in turn (after a failover the writer is another engine)",
  ),
} as const satisfies Record<string, OptionSpec>;

type Key = keyof typeof OPTIONS;

export function engineHelpText(): string {
  const lines = ['db engine options (a flag wins over its environment variable):'];
  for (const spec of Object.values(OPTIONS) as OptionSpec[]) {
    const fallback = spec.defaultValue === undefined ? '' : ` [default: ${spec.defaultValue}]`;
    lines.push(`  ${`${spec.flag} / ${spec.env}`.padEnd(60)} ${spec.description}${fallback}`);
  }
  return lines.join('\n');
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function parseSize(text: string): number | undefined {
  const match = /^(\d+)(KiB|MiB|GiB)?$/.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]) * SIZE_UNITS[match[2] ?? '']!;
  return Number.isSafeInteger(value) ? value : undefined;
}

function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
}

/** `id=host:port/adminPort@zone`; IPv6 hosts in brackets. */
function parseStorage(text: string, problems: string[]): StorageNodeAddress[] {
  const nodes: StorageNodeAddress[] = [];
  for (const part of text.split(',').map((entry) => entry.trim())) {
    if (part === '') continue;
    const match = /^([^=]+)=(\[[^\]]+\]|[^:/@]+):(\d+)\/(\d+)@(.+)$/.exec(part);
    const port = match === null ? undefined : parseInteger(match[3]!, 1, 65_535);
    const adminPort = match === null ? undefined : parseInteger(match[4]!, 1, 65_535);
    if (
      match === null ||
      port === undefined ||
      adminPort === undefined ||
      !isIdentifier(match[1]!) ||
      !isIdentifier(match[5]!)
    ) {
      problems.push(
        `--storage / NL_ENGINE_STORAGE: ${JSON.stringify(part)} is not id=host:port/adminPort@zone ` +
          '(ids and zones [a-z0-9][a-z0-9._-]{0,62}, ports 1…65535)',
      );
      continue;
    }
    const host = match[2]!.startsWith('[') ? match[2]!.slice(1, -1) : match[2]!;
    nodes.push({ nodeId: asNodeId(match[1]!), zone: match[5]!, address: { host, port }, adminPort });
  }
  const ids = nodes.map((node) => node.nodeId);
  if (new Set(ids).size !== ids.length)
    problems.push('--storage / NL_ENGINE_STORAGE: a node id is listed twice');
  return nodes;
}

/** The typed configuration, or NL_CONFIG_INVALID listing every problem. */
export function parseEngineConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): EngineConfig {
  const problems: string[] = [];
  const flags = new Map<Key, string>();
  const byFlag = new Map(
    (Object.entries(OPTIONS) as [Key, OptionSpec][]).map(([key, spec]) => [spec.flag, key]),
  );
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const equals = argument.indexOf('=');
    const flag = equals < 0 ? argument : argument.slice(0, equals);
    const key = byFlag.get(flag);
    if (key === undefined) {
      problems.push(`unknown option ${JSON.stringify(flag)}; see --help`);
      continue;
    }
    const value = equals >= 0 ? argument.slice(equals + 1) : argv[++index];
    if (value === undefined || (equals < 0 && value.startsWith('--'))) {
      problems.push(`${flag} needs a value`);
      if (value?.startsWith('--')) index--;
      continue;
    }
    if (flags.has(key)) problems.push(`${flag} is given more than once`);
    flags.set(key, value);
  }
  const raw = (key: Key): string | undefined => {
    const spec: OptionSpec = OPTIONS[key];
    const value = flags.get(key) ?? env[spec.env];
    return value === undefined || value === '' ? spec.defaultValue : value;
  };
  const named = (key: Key): string => `${OPTIONS[key].flag} / ${OPTIONS[key].env}`;
  const required = (key: Key): string => {
    const value = raw(key);
    if (value === undefined) problems.push(`${named(key)} is required`);
    return value ?? '';
  };
  const integer = (key: Key, min: number, max: number): number => {
    const text = raw(key)!;
    const value = parseInteger(text, min, max);
    if (value === undefined)
      problems.push(`${named(key)} must be an integer in ${min}…${max}, not ${JSON.stringify(text)}`);
    return value ?? min;
  };
  const size = (key: Key, min: number): number => {
    const text = raw(key)!;
    const value = parseSize(text);
    if (value === undefined || value < min)
      problems.push(
        `${named(key)} must be a size of at least ${min} bytes (e.g. 64MiB), not ${JSON.stringify(text)}`,
      );
    return value ?? min;
  };

  const nodeId = raw('nodeId')!;
  if (!isIdentifier(nodeId)) problems.push(`${named('nodeId')} must match [a-z0-9][a-z0-9._-]{0,62}`);
  const dataDir = required('dataDir');
  const storage = parseStorage(required('storage'), problems);
  const segmentSizeBytes = size('segmentSizeBytes', ENGINE_PAGE_SIZE_BYTES);
  if (segmentSizeBytes % ENGINE_PAGE_SIZE_BYTES !== 0)
    problems.push(`${named('segmentSizeBytes')} must be a multiple of ${ENGINE_PAGE_SIZE_BYTES}`);
  const lal = integer('lsnAllocationLimit', 1, 1_000_000_000);
  const shipFullPages = raw('shipFullPages')!;
  if (shipFullPages !== 'true' && shipFullPages !== 'false')
    problems.push(`${named('shipFullPages')} must be true or false`);
  const logLevel = raw('logLevel')!;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    problems.push(`${named('logLevel')} must be debug, info, warn or error`);
  const role = raw('role')!;
  if (role !== 'writer' && role !== 'replica') problems.push(`${named('role')} must be writer or replica`);
  const writerUrls = (raw('writerUrl') ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  const placementUrl = raw('placementUrl');
  if (placementUrl !== undefined && !/^http:\/\/[^/]+\/?$/.test(placementUrl))
    problems.push(
      `${named('placementUrl')} must be a URL like http://host:port, not ${JSON.stringify(placementUrl)}`,
    );
  if (role === 'replica' && writerUrls.length === 0)
    problems.push(`${named('writerUrl')} is required with --role replica`);
  for (const url of writerUrls)
    if (!/^http:\/\/[^/]+\/?$/.test(url))
      problems.push(`${named('writerUrl')} must list URLs like http://host:port, not ${JSON.stringify(url)}`);
  const pgAuth = raw('pgAuth')!;
  if (pgAuth !== 'scram' && pgAuth !== 'trust') problems.push(`${named('pgAuth')} must be scram or trust`);
  const pgPassword = raw('pgPassword');
  if (pgAuth === 'scram' && (pgPassword === undefined || pgPassword.length === 0))
    problems.push(
      `${named('pgPassword')} is required with --pg-auth scram (or choose --pg-auth trust on a trusted network)`,
    );
  const pgUser = raw('pgUser')!;
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(pgUser))
    problems.push(`${named('pgUser')} must be a user name of letters, digits, _ $ - (at most 63)`);
  const pgTransactions = raw('pgTransactions')!;
  if (pgTransactions !== 'serial' && pgTransactions !== 'optimistic')
    problems.push(`${named('pgTransactions')} must be serial or optimistic`);
  const pgTlsCert = raw('pgTlsCert');
  const pgTlsKey = raw('pgTlsKey');
  if ((pgTlsCert === undefined) !== (pgTlsKey === undefined))
    problems.push(`${named('pgTlsCert')} and ${named('pgTlsKey')} go together`);
  const internalToken = raw('internalToken');
  // Set but empty is a mistake (a Secret whose key lost its value), not a wish to run open: refused,
  // where any other option's empty value counts as unset.
  if (
    flags.get('internalToken') === '' ||
    (!flags.has('internalToken') && env[OPTIONS.internalToken.env] === '')
  )
    problems.push(
      `${named('internalToken')} is set but empty: give the cluster's token, or unset it to run without one (open to anyone)`,
    );
  if (internalToken !== undefined && !isValidInternalToken(internalToken))
    problems.push(`${named('internalToken')} ${INTERNAL_TOKEN_RULE}`);
  const transportAuth = raw('transportAuth')!;
  if (!isTransportAuthMode(transportAuth))
    problems.push(`${named('transportAuth')} must be ${TRANSPORT_AUTH_MODES.join(' or ')}`);
  else if (transportAuth === 'transition' && internalToken === undefined)
    problems.push(`${named('transportAuth')} is transition, which needs ${named('internalToken')}`);
  const config: EngineConfig = {
    nodeId: asNodeId(isIdentifier(nodeId) ? nodeId : 'invalid'),
    dataDir,
    listenHost: raw('listenHost')!,
    httpPort: integer('httpPort', 0, 65_535),
    port: integer('port', 0, 65_535),
    storage,
    segmentSizeBytes,
    lsnAllocationLimit: BigInt(lal),
    writeQuorum: integer('writeQuorum', 4, 6),
    cachePages: integer('cachePages', 16, 16_777_216),
    writeQuorumTimeoutMs: integer('writeQuorumTimeoutMs', 100, 3_600_000),
    roundsInFlightMax: integer('roundsInFlightMax', 0, 64),
    batchHoldMs: integer('batchHoldMs', 0, 1_000),
    pageReadTimeoutMs: integer('pageReadTimeoutMs', 50, 600_000),
    requestBodyLimitBytes: size('requestBodyLimitBytes', 1024),
    requestTimeoutMs: integer('requestTimeoutMs', 100, 3_600_000),
    statementTimeoutMs: integer('statementTimeoutMs', 0, 86_400_000),
    shipFullPages: shipFullPages === 'true',
    logLevel: logLevel as EngineConfig['logLevel'],
    role: role === 'replica' ? 'replica' : 'writer',
    writerUrls: writerUrls.map((url) => url.replace(/\/$/, '')),
    placementUrl: placementUrl === undefined ? undefined : placementUrl.replace(/\/$/, ''),
    pg: {
      port: integer('pgPort', 0, 65_535),
      auth: pgAuth === 'trust' ? 'trust' : 'scram',
      user: pgUser,
      password: pgPassword,
      maxConnections: integer('pgMaxConnections', 1, 100_000),
      idleInTransactionTimeoutMs: integer('pgIdleInTransactionTimeoutMs', 0, 86_400_000),
      lockWaitTimeoutMs: integer('pgLockWaitTimeoutMs', 1, 86_400_000),
      transactions: pgTransactions === 'optimistic' ? 'optimistic' : 'serial',
      optimisticMaxStatements: integer('pgOptimisticMaxStatements', 1, 1_024),
      idleSessionTimeoutMs: integer('pgIdleSessionTimeoutMs', 0, 86_400_000),
      maxMessageBytes: size('pgMaxMessageBytes', 1024),
      maxResultBytes: size('pgMaxResultBytes', 1024),
      tlsCertFile: pgTlsCert,
      tlsKeyFile: pgTlsKey,
      tlsReloadCheckMs: integer('pgTlsReloadCheckMs', 100, 86_400_000),
    },
    internalToken,
    transportAuth: isTransportAuthMode(transportAuth) ? transportAuth : DEFAULT_TRANSPORT_AUTH_MODE,
  };
  if (problems.length > 0)
    throw new NorthlightError('NL_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}
