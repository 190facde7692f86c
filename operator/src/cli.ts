/**
 * The `northlight` command line. `up` runs a whole cluster on this machine in the foreground (the
 * local platform); the other commands talk to a running `up` through its control API, found in the
 * state file of the data directory (`./.northlight/cluster.json` by default).
 *
 * Exit codes: 0 done; 1 the command failed (the message says why and what to do); 2 bad usage or
 * bad cluster file (nothing was started).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { isNorthlightError, NorthlightError } from '@northlight/protocol';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { type ClusterSpec, defaultClusterSpec, specToYaml } from './core/cluster-spec.js';
import { type ClusterStatus, formatClusterStatus, table } from './core/cluster-status.js';
import { isFinishedWorkflow } from './core/metadata.js';
import { storageNodeId } from './core/topology.js';
import { loadClusterFile } from './io/cluster-file.js';
import { startControlServer } from './io/control-server.js';
import {
  AlreadyRunningError,
  assertLayoutFree,
  claimDataDir,
  commandFor,
  INTERNAL_TOKEN_FILE,
  LocalCluster,
  lockDataDir,
  PG_PASSWORD_FILE,
  PG_USER,
  PortsBusyError,
  pgPasswordOf,
  pgUrl,
  readStateFile,
  STATE_FILE,
  StartInterruptedError,
  type StateFile,
  type UpArguments,
  upRuns,
  userDirectory,
  VERSION_PATTERN,
} from './io/local-cluster.js';
import { openLocalMetadata } from './io/local-metadata.js';
import { stopLeftMembers } from './io/local-processes.js';
import { checkLocalTls } from './io/local-tls.js';

/**
 * The data directory without --data-dir, relative to the process's directory: under `npm start` and
 * `npm run northlight` that is the repository's root wherever the user stands, so one clone has one
 * default cluster that every command finds (see `userDirectory` for the paths a user gives).
 */
const DEFAULT_DATA_DIR = './.northlight';
/** How long `upgrade` follows the rolling upgrade before it gives up waiting (the upgrade goes on). */
const UPGRADE_WAIT_MS = 30 * 60_000;

class UsageError extends Error {}
class CommandFailed extends Error {}

/** A path argument as an absolute path: a relative one is relative to the user's directory. */
export { userDirectory };

export function userPath(
  path: string,
  environment: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): string {
  return isAbsolute(path) ? resolve(path) : resolve(userDirectory(environment, cwd), path);
}

/** The data directory of a command: --data-dir (the user's path), or the default (`DEFAULT_DATA_DIR`). */
export function dataDirOf(option: string | undefined): string {
  return option === undefined ? resolve(DEFAULT_DATA_DIR) : userPath(option);
}

function parseVersion(text: string): string {
  if (!VERSION_PATTERN.test(text))
    throw new InvalidArgumentError('give a version such as --version 0.1.1 (1 to 64 of A-Z a-z 0-9 . + _ -)');
  return text;
}

function parsePort(text: string): number {
  // Decimal digits only: Number() would take '' as 0 (any free ports) and '0x47e0' as 18400.
  const value = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(value) || (value !== 0 && (value < 1024 || value > 65_000)))
    throw new InvalidArgumentError('a port between 1024 and 65000, or 0 for any free ports');
  return value;
}

/** The state file of the cluster running from `dataDir`, with the data directory it was found in. */
interface Running extends StateFile {
  readonly dataDir: string;
}

/** `option`: --data-dir as given (undefined: the default). */
function runningCluster(option: string | undefined): Running {
  const dataDir = dataDirOf(option);
  const state = readStateFile(dataDir);
  if (state === undefined)
    throw new CommandFailed(
      `no cluster is running from ${dataDir}; start one with \`${commandFor(dataDir, 'up')}\``,
    );
  return { ...state, dataDir };
}

/** The hint when the control API does not answer: why, and the commands that help. */
function notAnsweringHint(state: Running): string {
  const again = commandFor(state.dataDir, 'up', state.upArguments ?? {});
  if (upRuns(state))
    return `is \`northlight up\` (pid ${state.pid}) still starting? Its terminal says what it does`;
  return (
    `\`northlight up\` (pid ${state.pid}) is not running: it was killed. ` +
    `\`${commandFor(state.dataDir, 'down')}\` stops the members it left running; \`${again}\` starts it again (it reuses the data)`
  );
}

/**
 * The control API's credentials: the cluster's internal token, which `up` keeps in the data directory
 * readable by its user alone (control-server.ts says why loopback is not enough).
 */
function controlHeaders(state: Running): Record<string, string> {
  const path = join(state.dataDir, INTERNAL_TOKEN_FILE);
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new CommandFailed(
      `cannot read the cluster's internal token (${path}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; the control API takes only requests that carry it: run this as the user who ran \`northlight up\``,
    );
  }
  return { authorization: `Bearer ${token}` };
}

async function control(state: Running, method: 'GET' | 'POST', path: string): Promise<unknown> {
  const headers = controlHeaders(state);
  let response: Response;
  try {
    response = await fetchWithin(`${state.controlUrl}${path}`, { method, headers }, 30_000);
  } catch (error) {
    throw new CommandFailed(
      `the control plane at ${state.controlUrl} (pid ${state.pid}) did not answer: ${(error as Error).message}; ${notAnsweringHint(state)}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { message?: string };
  // 404: no member or zone of that name — the command was given a wrong name (usage, exit 2).
  if (response.status === 404) throw new UsageError(body.message ?? `HTTP ${response.status}`);
  if (!response.ok) throw new CommandFailed(body.message ?? `HTTP ${response.status}`);
  return body;
}

/** The spec a data directory last ran, written by `up` before it starts anything. */
export const RECORDED_SPEC_FILE = 'spec.yaml';

/**
 * Whether `spec` (from -f) may run on `dataDir`: not another cluster's (a renamed cluster would
 * make a second volume beside the first, and back up to another prefix), not another segment size
 * (the volume's layout is fixed when it is made), and no storage node left out that holds data here:
 * `up` does not drain nodes, so their copies would silently vanish from every PG (and a PG with too
 * few left could no longer be written). Throws NL_CONFIG_INVALID (exit 2, nothing started).
 */
function recordedSpecFits(
  spec: ClusterSpec,
  recorded: ClusterSpec | undefined,
  dataDir: string,
  file: string | undefined,
): void {
  const problems: string[] = [];
  if (recorded !== undefined && recorded.name !== spec.name)
    problems.push(`it names the cluster ${spec.name}, and ${dataDir} holds the cluster ${recorded.name}`);
  if (recorded !== undefined && recorded.storage.segmentSizeBytes !== spec.storage.segmentSizeBytes)
    problems.push(
      `its segmentSize (${spec.storage.segmentSizeBytes} bytes) is not the volume's (${recorded.storage.segmentSizeBytes} bytes)`,
    );
  const nodes = new Set(
    spec.storage.zones.flatMap((zone) =>
      Array.from({ length: zone.nodes }, (_, index) => storageNodeId(zone.name, index + 1)),
    ),
  );
  const storageDir = join(dataDir, 'storage');
  const held = existsSync(storageDir)
    ? readdirSync(storageDir).filter((name) => !nodes.has(name) && existsSync(join(storageDir, name, 'data')))
    : [];
  if (held.length > 0)
    problems.push(
      `it has no storage node ${held.join(', ')}, which ${held.length === 1 ? 'holds' : 'hold'} data in ${storageDir} (up does not remove storage nodes: their copies would be lost)`,
    );
  if (problems.length === 0) return;
  const source = file ?? 'the built-in spec';
  throw new NorthlightError(
    'NL_CONFIG_INVALID',
    `${source} does not fit the data in ${dataDir}: ${problems.join('; ')}. ` +
      (recorded !== undefined
        ? `Run \`${commandFor(dataDir, 'up', {})}\` without -f to run the spec it last ran, or give a spec that fits.`
        : 'Give the spec this data directory was made with (-f FILE), or another --data-dir.'),
    { dataDir },
  );
}

/** What stops `up`: Ctrl-C in its terminal, `kill`, its terminal closing. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

async function up(options: {
  file?: string;
  dataDir?: string;
  basePort?: number;
  printSpec?: boolean;
}): Promise<void> {
  const file = options.file === undefined ? undefined : userPath(options.file);
  let spec: ClusterSpec = file === undefined ? defaultClusterSpec() : await loadClusterFile(file);
  // Without --data-dir, the spec's (a cluster file's local.dataDir), which is the default one unless
  // the file names another: that one is a path the user gave, as --data-dir is.
  const dataDir =
    options.dataDir !== undefined
      ? userPath(options.dataDir)
      : spec.local.dataDir === DEFAULT_DATA_DIR
        ? dataDirOf(undefined)
        : userPath(spec.local.dataDir);
  // A data directory remembers the spec it last ran (RECORDED_SPEC_FILE): without -f that one runs
  // again, base port included; with -f the file must still fit the data there (recordedSpecFits).
  const recordedPath = join(dataDir, RECORDED_SPEC_FILE);
  const recorded = existsSync(recordedPath) ? await loadClusterFile(recordedPath) : undefined;
  if (file === undefined && recorded !== undefined) {
    spec = recorded;
    if (!options.printSpec)
      process.stdout.write(
        `[northlight] running the spec this data directory last ran (${recordedPath}; -f FILE to change it)\n`,
      );
  }
  recordedSpecFits(spec, recorded, dataDir, file);
  // The TLS files are paths the user gave too; they are read (and checked) before anything starts.
  const tls =
    spec.local.tls === undefined
      ? {}
      : { tls: { certFile: userPath(spec.local.tls.certFile), keyFile: userPath(spec.local.tls.keyFile) } };
  spec = { ...spec, local: { dataDir, basePort: options.basePort ?? spec.local.basePort, ...tls } };
  if (spec.local.tls !== undefined) checkLocalTls(spec.local.tls);
  if (options.printSpec) {
    process.stdout.write(specToYaml(spec));
    return;
  }
  const again: UpArguments = { file, basePort: options.basePort };
  const say = (line: string) => process.stdout.write(`[northlight] ${line}\n`);
  const dataDirExisted = existsSync(dataDir);
  // Before anything happens in the data directory: it is this `up`'s alone (lockDataDir).
  const lock = await lockDataDir(dataDir, say);
  try {
    // Before anything is written or started: what a killed `up` left is stopped (it may hold the
    // ports), and every port of a fixed layout is free.
    await claimDataDir(dataDir, say);
    await assertLayoutFree(spec, spec.local.basePort);
    // The spec this directory runs from now on (see RECORDED_SPEC_FILE), written whole or not at all.
    mkdirSync(dataDir, { recursive: true });
    const recording = join(dataDir, `${RECORDED_SPEC_FILE}.${process.pid}.tmp`);
    writeFileSync(
      recording,
      `# The spec \`northlight up\` last ran on this data directory; \`up\` without -f runs it again.\n${specToYaml(spec)}`,
    );
    renameSync(recording, join(dataDir, RECORDED_SPEC_FILE));
  } catch (error) {
    lock.release();
    // A directory this `up` made for nothing is not left behind; one that existed keeps its files.
    if (!dataDirExisted) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  // Then the signals, so that one during the start stops what was started, in order.
  const signals = listenForStopSignals();
  try {
    await runCluster(spec, dataDir, again, say, signals);
  } finally {
    signals.close();
    lock.release();
  }
}

interface StopSignals {
  /** Calls `stop` for a signal that came already, and for every later one. */
  onStop(stop: (why: string) => void): void;
  close(): void;
}

function listenForStopSignals(): StopSignals {
  let stop: ((why: string) => void) | undefined;
  let early: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const why = signal === 'SIGINT' ? 'Ctrl-C' : signal;
    if (stop === undefined) early ??= why;
    else stop(why);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return {
    onStop(handler) {
      stop = handler;
      if (early !== undefined) handler(early);
    },
    close() {
      for (const signal of STOP_SIGNALS) process.removeListener(signal, onSignal);
    },
  };
}

/** Starts the cluster, prints its endpoints, and returns once it is stopped (a signal or `down`). */
async function runCluster(
  spec: ClusterSpec,
  dataDir: string,
  again: UpArguments,
  say: (line: string) => void,
  signals: StopSignals,
): Promise<void> {
  const metadata = await openLocalMetadata(dataDir);
  const cluster = new LocalCluster({
    spec,
    dataDir,
    basePort: spec.local.basePort,
    upArguments: again,
    progress: say,
    recordedWriter: await metadata.writer(),
    onWriterChange: (writer) => metadata.recordWriter(writer),
    onVolume: (volume) => metadata.recordVolume(volume),
    onWorkflow: (workflow) => metadata.recordWorkflow(workflow),
    openWorkflows: async () =>
      (await metadata.store.read()).workflows.filter((workflow) => !isFinishedWorkflow(workflow)),
  });
  // Members run in process groups of their own (local-processes.ts): whatever ends this process,
  // they end with it.
  process.once('exit', () => cluster.killAllNow());
  // A closed terminal (SIGHUP) makes writes to it fail with EIO: that must not end `up` with an
  // uncaught error and SIGKILL every member at once instead of stopping them in order.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  let stopping: Promise<void> | undefined;
  let stopRequests = 0;
  let stopped!: () => void;
  let stopFailed!: (error: unknown) => void;
  const stoppedOnce = new Promise<void>((resolveStopped, rejectStopped) => {
    stopped = resolveStopped;
    stopFailed = rejectStopped;
  });
  // Awaited only once the start succeeded; a start that fails reports the stop's failure itself.
  stoppedOnce.catch(() => {});
  const stop = (why: string): void => {
    if (stopping !== undefined) {
      stopRequests++;
      if (stopRequests >= 2) {
        // A third request: the orderly stop is taking too long for this user. Kill every member
        // now (their data is safe: a kill is a crash, which recovery handles) and exit.
        say(`${why}: a third time: killing every member now`);
        cluster.killAllNow();
        process.exit(130);
      }
      say(
        `${why}: already stopping (engines first, then storage); it ends by itself (once more to kill everything now)`,
      );
      return;
    }
    say(`${why}: stopping the cluster (engines first, then storage)…`);
    stopping = (async () => {
      await cluster.stop();
      await metadata.close();
      say(`stopped; the data stays in ${dataDir} for the next \`${commandFor(dataDir, 'up', again)}\``);
    })();
    void stopping.then(stopped, stopFailed);
  };
  signals.onStop(stop);
  say(`starting cluster ${spec.name} in ${dataDir}`);
  const startedMs = Date.now();
  try {
    // The control API starts with the storage nodes, before the writer: the writer asks it where
    // each PG goes, from the first one on.
    await cluster.start(spec.local.basePort, (started) =>
      startControlServer(started, () => stop('northlight down')),
    );
  } catch (error) {
    if (stopping === undefined) {
      await metadata.close();
      throw error;
    }
    await stopping;
    if (error instanceof StartInterruptedError)
      throw new CommandFailed('the start was interrupted; every process it had started is stopped');
    throw error;
  }
  if (stopping === undefined) {
    await metadata.recordWriter(cluster.writer);
    say(`up in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
    process.stdout.write(endpointsText(cluster, dataDir, again));
  }
  await stoppedOnce;
}

function endpointsText(cluster: LocalCluster, dataDir: string, again: UpArguments): string {
  const ports = cluster.ports;
  // With a certificate the URLs ask for TLS, so that a copied URL never goes in the clear.
  const tls = cluster.spec.local.tls === undefined ? '' : '?sslmode=require';
  return [
    '',
    `  read-write   psql '${pgUrl(dataDir, ports.readWrite)}${tls}'`,
    `               (the writer, ${cluster.writer}, whichever engine that is; any PostgreSQL client)`,
    `  read-only    psql '${pgUrl(dataDir, ports.readOnly)}${tls}'   (the replicas)`,
    `  SQL over HTTP  http://127.0.0.1:${ports.httpReadWrite}/v1/sql  (read-only: ${ports.httpReadOnly})`,
    `               (HTTP Basic: ${PG_USER} and the password in ${join(dataDir, PG_PASSWORD_FILE)})`,
    `  control API      http://127.0.0.1:${ports.control}/v1/status  (Authorization: Bearer, the token in ${join(dataDir, INTERNAL_TOKEN_FILE)})`,
    `  logs             ${dataDir}/logs/`,
    '',
    `  in another terminal:  ${commandFor(dataDir, 'status')}`,
    `                        ${commandFor(dataDir, 'sql')}`,
    `  Ctrl-C here stops the cluster; \`${commandFor(dataDir, 'up', again)}\` again reuses its data.`,
    ...(cluster.spec.security.transportAuthentication === 'transition'
      ? [
          '',
          '  warning: security.transportAuthentication is transition: the storage nodes and engines also take',
          '           transport peers that do not prove the internal token. It is for a rolling upgrade from a',
          '           build without transport authentication; set it to required once that is done.',
        ]
      : []),
    '',
  ].join('\n');
}

async function status(options: { dataDir?: string; json?: boolean }): Promise<void> {
  const state = runningCluster(options.dataDir);
  const clusterStatus = (await control(state, 'GET', '/v1/status')) as ClusterStatus;
  process.stdout.write(
    options.json ? `${JSON.stringify(clusterStatus, null, 2)}\n` : `${formatClusterStatus(clusterStatus)}\n`,
  );
}

/** Statements one request of `sql -c` may carry (the SQL HTTP API's `statements` limit). */
const SQL_STATEMENTS_PER_REQUEST_MAX = 10_000;
/** Words at the start of a statement that tell a CREATE TRIGGER (EXPLAIN QUERY PLAN CREATE TEMP TRIGGER). */
const LEADING_WORDS_MAX = 6;

export interface SqlResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
  readonly changes: number;
}

/** The SQL HTTP API's answer (db-engine/src/io/sql-server.ts): results, or an error. */
export interface SqlAnswer {
  readonly results?: readonly SqlResult[];
  readonly commitLsn?: string;
  readonly code?: string;
  readonly sqlstate?: string;
  readonly message?: string;
  readonly action?: string;
}

/** What `splitSqlStatements` found. */
export interface SqlSplit {
  /** The complete statements, each without its semicolon. */
  readonly statements: readonly string[];
  /** The text after the last complete statement: an unfinished one, or only space and comments. */
  readonly rest: string;
  /** `rest` holds the start of a statement, not only space and comments. */
  readonly restHasStatement: boolean;
}

/**
 * Splits SQL text (SQLite's dialect) at the semicolons that end statements, as SQLite's own
 * `sqlite3_complete` does: none inside '…' strings, "…", `…` and […] identifiers, -- and block
 * comments, nor inside the body of a CREATE TRIGGER, whose statements end with semicolons of their
 * own: there, only a semicolon right after END ends it. Statements of only space and comments (`;;`)
 * are dropped.
 */
export function splitSqlStatements(text: string): SqlSplit {
  const statements: string[] = [];
  let start = 0;
  let words: string[] = [];
  let lastWord = '';
  let significant = false;
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    const next = text[index + 1];
    if (char === '-' && next === '-') {
      const end = text.indexOf('\n', index);
      index = end === -1 ? text.length : end + 1;
    } else if (char === '/' && next === '*') {
      const end = text.indexOf('*/', index + 2);
      index = end === -1 ? text.length : end + 2;
    } else if (char === "'" || char === '"' || char === '`' || char === '[') {
      index = quotedEnd(text, index);
      significant = true;
      lastWord = '';
    } else if (/[\p{L}\p{N}_$]/u.test(char)) {
      let end = index + 1;
      while (end < text.length && /[\p{L}\p{N}_$]/u.test(text[end]!)) end++;
      const word = text.slice(index, end).toUpperCase();
      if (words.length < LEADING_WORDS_MAX) words.push(word);
      lastWord = word;
      significant = true;
      index = end;
    } else if (char === ';' && (!isCreateTrigger(words) || lastWord === 'END')) {
      if (significant) statements.push(text.slice(start, index).trim());
      start = index + 1;
      words = [];
      lastWord = '';
      significant = false;
      index++;
    } else {
      if (!/\s/.test(char)) {
        significant = true;
        lastWord = '';
      }
      index++;
    }
  }
  return { statements, rest: text.slice(start), restHasStatement: significant };
}

/** The index after the quoted string or identifier opening at `open` (its end when unterminated). */
function quotedEnd(text: string, open: number): number {
  const close = text[open] === '[' ? ']' : text[open]!;
  let index = open + 1;
  for (;;) {
    const end = text.indexOf(close, index);
    if (end === -1) return text.length;
    // A doubled quote is one quote character of the string ('it''s'); brackets have no escape.
    if (close !== ']' && text[end + 1] === close) index = end + 2;
    else return end + 1;
  }
}

function isCreateTrigger(leading: readonly string[]): boolean {
  let words = leading;
  if (words[0] === 'EXPLAIN') words = words.slice(words[1] === 'QUERY' && words[2] === 'PLAN' ? 3 : 1);
  if (words[0] !== 'CREATE') return false;
  const afterTemp = words[1] === 'TEMP' || words[1] === 'TEMPORARY' ? 2 : 1;
  return words[afterTemp] === 'TRIGGER';
}

/** `ERROR 42P01: no such table: t`, the northlight code when it adds to the SQLSTATE, then the HINT. */
export function formatSqlError(answer: SqlAnswer): string {
  const state = answer.sqlstate === undefined || answer.sqlstate === '' ? '' : ` ${answer.sqlstate}`;
  const code = answer.code !== undefined && answer.code !== answer.sqlstate ? ` (${answer.code})` : '';
  const hint = answer.action === undefined || answer.action === '' ? '' : `\nHINT: ${answer.action}`;
  return `ERROR${state}${code}: ${answer.message ?? 'no message'}${hint}`;
}

/** One value of a `tagged` reply as psql shows it: NULL, a BLOB as `\x` and hex, others as text. */
export function formatSqlValue(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'object') {
    const tagged = value as { bytes?: unknown; integer?: unknown };
    if (typeof tagged.bytes === 'string') return `\\x${tagged.bytes}`;
    if (typeof tagged.integer === 'string') return tagged.integer;
    return JSON.stringify(value);
  }
  return String(value);
}

/** Each statement's result, in order, separated by an empty line: a table and its row count, or its changes. */
export function formatSqlResults(results: readonly SqlResult[]): string {
  return results
    .map((result) =>
      result.columns.length > 0
        ? `${table(
            [...result.columns],
            result.rows.map((row) => row.map(formatSqlValue)),
          )}\n(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`
        : `OK, ${result.changes} row${result.changes === 1 ? '' : 's'} changed`,
    )
    .join('\n\n');
}

/** An SQL HTTP endpoint and the credentials it takes (the cluster's PostgreSQL login, as HTTP Basic). */
interface SqlTarget {
  readonly url: string;
  readonly authorization: string;
  /** What to tell the user when the endpoint does not answer. */
  readonly unanswered: () => string;
}

/**
 * fetch with a deadline that keeps the process alive until it passes. AbortSignal.timeout's timer
 * does not: a request whose socket the local endpoint closed without an answer could leave nothing
 * pending, and Node would exit 13 (an unsettled top-level await) with no message at all.
 */
async function fetchWithin(url: string, init: RequestInit, deadlineMs: number): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${deadlineMs / 1_000} s`)),
    deadlineMs,
  );
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `statements` as one transaction (one entry each, so each reports its own result). */
async function runStatements(
  target: SqlTarget,
  statements: readonly string[],
  readOnly: boolean,
): Promise<{ ok: boolean; output: string }> {
  const { url } = target;
  if (statements.length > SQL_STATEMENTS_PER_REQUEST_MAX)
    return {
      ok: false,
      output: `ERROR: ${statements.length} statements; one -c runs at most ${SQL_STATEMENTS_PER_REQUEST_MAX} (pipe them into \`northlight sql\` instead)`,
    };
  let response: Response;
  try {
    response = await fetchWithin(
      `${url}/v1/sql`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: target.authorization },
        body: JSON.stringify({
          statements: statements.map((sql) => ({ sql })),
          ...(readOnly ? { readOnly: true } : {}),
          // BLOBs and integers past 2^53 tagged, so that they print as psql prints them.
          valueFormat: 'tagged',
        }),
      },
      60_000,
    );
  } catch (error) {
    return {
      ok: false,
      output: `ERROR: ${url} did not answer (${(error as Error).message}); ${target.unanswered()}`,
    };
  }
  const answer = (await response.json().catch(() => ({ message: `HTTP ${response.status}` }))) as SqlAnswer;
  if (!response.ok) return { ok: false, output: formatSqlError(answer) };
  return { ok: true, output: formatSqlResults(answer.results ?? []) };
}

async function sqlShell(options: { dataDir?: string; command?: string; replica?: boolean }): Promise<void> {
  const state = runningCluster(options.dataDir);
  const port = options.replica ? state.ports.httpReadOnly : state.ports.httpReadWrite;
  const target: SqlTarget = {
    url: `http://127.0.0.1:${port}`,
    // Why the endpoint may not answer: `up` killed (run down, then up), or a failover under way.
    unanswered: () =>
      upRuns(state)
        ? `no engine answered there: a failover may be under way, or no engine is running (\`${commandFor(state.dataDir, 'status')}\` shows them); try again`
        : notAnsweringHint(state),
    authorization: `Basic ${Buffer.from(`${PG_USER}:${pgPasswordOf(state.dataDir)}`).toString('base64')}`,
  };
  const readOnly = options.replica === true;
  if (options.command !== undefined) {
    const split = splitSqlStatements(options.command);
    const statements = [...split.statements, ...(split.restHasStatement ? [split.rest.trim()] : [])];
    if (statements.length === 0) throw new UsageError('-c has no statement to run');
    const { ok, output } = await runStatements(target, statements, readOnly);
    process.stdout.write(`${output}\n`);
    if (!ok)
      throw new CommandFailed(statements.length === 1 ? 'the statement failed' : 'the statements failed');
    return;
  }
  const failed = await readEvalPrint(target, readOnly, options.replica === true);
  if (failed > 0) throw new CommandFailed(`${failed} statement${failed === 1 ? '' : 's'} failed`);
}

/**
 * The shell on standard input: each statement runs as it is complete (a transaction of its own), and
 * at the end of the input so does a last one without its semicolon. At a terminal it prompts and
 * goes on after an error; from a pipe it prints only results, and returns how many statements failed
 * (the command then exits 1).
 */
async function readEvalPrint(target: SqlTarget, readOnly: boolean, replica: boolean): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  if (interactive)
    process.stdout.write(
      `connected to ${replica ? 'the read-only endpoint (replicas)' : 'the writer'} at ${target.url}; SQLite's dialect; ` +
        'end statements with ;  — \\q quits\n',
    );
  const lines = createInterface({
    input: process.stdin,
    ...(interactive ? { output: process.stdout } : {}),
    prompt: 'northlight> ',
  });
  let failed = 0;
  let printed = 0;
  const run = async (statement: string) => {
    const { ok, output } = await runStatements(target, [statement], readOnly);
    if (!ok) failed++;
    process.stdout.write(`${printed++ > 0 && !interactive ? '\n' : ''}${output}\n`);
  };
  let buffer = '';
  if (interactive) lines.prompt();
  for await (const line of lines) {
    if (buffer.trim() === '' && (line.trim() === '\\q' || line.trim() === 'exit')) break;
    const split = splitSqlStatements(`${buffer}${line}\n`);
    for (const statement of split.statements) await run(statement);
    buffer = split.rest;
    if (!interactive) continue;
    lines.setPrompt(buffer.trim() === '' ? 'northlight> ' : '       ...> ');
    lines.prompt();
  }
  lines.close();
  const last = splitSqlStatements(buffer);
  if (last.restHasStatement) await run(last.rest.trim());
  return interactive ? 0 : failed;
}

async function upgrade(options: { dataDir?: string; version: string; wait: boolean }): Promise<void> {
  const state = runningCluster(options.dataDir);
  let response: Response;
  try {
    response = await fetchWithin(
      `${state.controlUrl}/v1/upgrade`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...controlHeaders(state) },
        body: JSON.stringify({ version: options.version }),
      },
      10_000,
    );
  } catch (error) {
    throw new CommandFailed(
      `the control plane at ${state.controlUrl} did not answer: ${(error as Error).message}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { message?: string };
  // 404: no member or zone of that name — the command was given a wrong name (usage, exit 2).
  if (response.status === 404) throw new UsageError(body.message ?? `HTTP ${response.status}`);
  if (!response.ok) throw new CommandFailed(body.message ?? `HTTP ${response.status}`);
  process.stdout.write(
    `upgrading cluster ${state.cluster} to ${options.version}: storage zone by zone, then replicas, then a switchover\n`,
  );
  if (!options.wait) return;
  let printed = 0;
  let lastWait = '';
  const deadlineMs = Date.now() + UPGRADE_WAIT_MS;
  for (;;) {
    const current = (await control(state, 'GET', '/v1/status')) as ClusterStatus;
    const run = current.upgrade;
    if (run === undefined)
      throw new CommandFailed(
        `the control plane lost track of the upgrade; see \`${commandFor(state.dataDir, 'status')}\``,
      );
    for (const step of run.steps.slice(printed))
      process.stdout.write(`  ${new Date(step.atMs).toISOString()}  ${step.message}\n`);
    printed = run.steps.length;
    if (run.state === 'done') {
      process.stdout.write(
        `${table(
          ['member', 'kind', 'version'],
          [
            ...current.storage.map((node) => [
              node.nodeId,
              `storage (zone ${node.zone})`,
              node.version ?? '?',
            ]),
            ...current.engines.map((engine) => [engine.name, engine.role, engine.version ?? '?']),
          ],
        )}\n`,
      );
      return;
    }
    if (run.current !== lastWait && !run.steps.some((step) => step.message === run.current)) {
      process.stdout.write(`  … ${run.current}\n`);
      lastWait = run.current;
    }
    if (Date.now() > deadlineMs)
      throw new CommandFailed(
        `the upgrade is still running after ${UPGRADE_WAIT_MS / 60_000} min: ${run.current}`,
      );
    await new Promise((wake) => setTimeout(wake, 1_000));
  }
}

async function down(options: { dataDir?: string }): Promise<void> {
  const state = runningCluster(options.dataDir);
  if (!upRuns(state)) {
    await downAfterKill(state);
    return;
  }
  await control(state, 'POST', '/v1/down');
  process.stdout.write(`stopping cluster ${state.cluster} (pid ${state.pid})`);
  const deadlineMs = Date.now() + 60_000;
  while (readStateFile(state.dataDir) !== undefined) {
    if (Date.now() > deadlineMs)
      throw new CommandFailed(
        `still stopping after 60 s; see the terminal of \`northlight up\` (pid ${state.pid})`,
      );
    process.stdout.write('.');
    await new Promise((wake) => setTimeout(wake, 500));
  }
  process.stdout.write(' stopped\n');
}

/**
 * `down` when the `up` the state file names is gone (killed with SIGKILL: it could not stop its
 * members, which run in process groups of their own): stops them itself, as `up` would have, engines
 * first, then the storage nodes and the object store, and removes the state file. Only the pids of
 * the state file whose command line still names the data directory are touched (stopLeftMembers).
 */
async function downAfterKill(state: Running): Promise<void> {
  process.stdout.write(
    `\`northlight up\` (pid ${state.pid}) is not running (it was killed); stopping the members it left running, engines first\n`,
  );
  const stopped = await stopLeftMembers(state.pids, state.dataDir);
  rmSync(join(state.dataDir, STATE_FILE), { force: true });
  process.stdout.write(
    `stopped ${stopped.engines} engine(s), then the storage nodes and the object store (${stopped.others} process(es)); ` +
      `removed ${join(state.dataDir, STATE_FILE)}; the data stays for the next \`${commandFor(state.dataDir, 'up', state.upArguments ?? {})}\`\n`,
  );
}

/** What the control API answers for one member of kill-node, start-node, kill-zone, start-zone. */
interface MemberAnswer {
  readonly member: string;
  readonly status: 'killed' | 'not-running' | 'started' | 'already-running';
}

function memberOutcome(answer: MemberAnswer, undo: string): string {
  switch (answer.status) {
    case 'killed':
      return `killed ${answer.member}; it stays down until ${undo}`;
    case 'not-running':
      return `${answer.member} was not running; it stays down until ${undo}`;
    case 'started':
      return `started ${answer.member}`;
    case 'already-running':
      return `${answer.member} is already running`;
  }
}

export function buildProgram(): Command {
  const program = new Command('northlight')
    .description('northlight: an Aurora-style database — run a local cluster and operate it')
    .showHelpAfterError('(run northlight --help for the commands)')
    .exitOverride();
  const dataDirOption = [
    '--data-dir <dir>',
    'the cluster data directory; a relative one is relative to where you run the command (default: .northlight in the repository under npm, else in the current directory)',
  ] as const;
  program
    .command('up')
    .description(
      'run a cluster on this machine in the foreground: 3 zones × 2 storage nodes, a writer, a replica, an embedded S3 store',
    )
    .option(
      '-f, --file <cluster.yaml>',
      'a DatabaseCluster spec (default: the built-in one; see operator/examples/cluster.yaml)',
    )
    .option(...dataDirOption)
    .option('--base-port <port>', 'first port of the layout (0: any free ports)', parsePort)
    .option('--print-spec', 'print the effective spec as YAML and exit')
    .action(up);
  program
    .command('status')
    .description('nodes by zone, engines, PGs and their health, epochs, VDL, lag')
    .option(...dataDirOption)
    .option('--json', 'machine-readable')
    .action(status);
  program
    .command('sql')
    .description('a small SQL shell on the writer (or --replica); -c runs its statements and exits')
    .option(...dataDirOption)
    .option('-c, --command <sql>', 'run these statements (one transaction), print each result, exit')
    .option('--replica', 'use the read-only endpoint (the replicas)')
    .action(sqlShell);
  const member = (verb: 'kill' | 'start', what: 'node' | 'zone', description: string) =>
    program
      .command(`${verb}-${what} <${what === 'node' ? 'name' : 'zone'}>`)
      .description(description)
      .option(...dataDirOption)
      .action(async (name: string, options: { dataDir?: string }) => {
        const state = runningCluster(options.dataDir);
        const path =
          what === 'node'
            ? `/v1/members/${encodeURIComponent(name)}/${verb}`
            : `/v1/zones/${encodeURIComponent(name)}/${verb}`;
        const answer = (await control(state, 'POST', path)) as MemberAnswer | { members: MemberAnswer[] };
        const undo = what === 'node' ? 'start-node' : `start-zone ${name}`;
        for (const one of 'members' in answer ? answer.members : [answer])
          process.stdout.write(`${memberOutcome(one, undo)}\n`);
      });
  member('kill', 'node', 'SIGKILL a storage node or engine (a crash); it stays down until start-node');
  member('start', 'node', 'start a member that was killed');
  member('kill', 'zone', 'kill every storage node of a zone (a zone outage)');
  member('start', 'zone', 'start the storage nodes of a zone again');
  program
    .command('upgrade')
    .description(
      'rolling upgrade: storage zone by zone (never two members of a PG at once), then replicas, then a switchover',
    )
    .requiredOption('--version <version>', 'the version to run, e.g. 0.1.1', parseVersion)
    .option(...dataDirOption)
    .option('--no-wait', 'return once the upgrade has started')
    .action(upgrade);
  program
    .command('down')
    .description('stop the running cluster (its data stays)')
    .option(...dataDirOption)
    .action(down);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (isNorthlightError(error) && error.code === 'NL_CONFIG_INVALID') {
      process.stderr.write(`northlight: ${error.message}\nnothing was started\n`);
      return 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`northlight: ${error.message}\n`);
      return 2;
    }
    if (
      error instanceof CommandFailed ||
      error instanceof AlreadyRunningError ||
      error instanceof PortsBusyError
    ) {
      process.stderr.write(`northlight: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(
      `northlight: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
