/**
 * PostgreSQL 15 as the comparison for replica lag (issue 5): a primary and one asynchronous streaming
 * standby on loopback, each a fresh cluster in a temporary directory, and a `LagTarget` over them.
 *
 * The primary keeps the durable defaults (fsync=on, synchronous_commit=on: a commit is acknowledged
 * once its WAL is flushed on the primary) and has no synchronous_standby_names, so the standby is
 * asynchronous: it streams and replays WAL on its own, and the lag measured is write→visible on a hot
 * standby. Setup as in shared/reference/infra-feasibility.md §5: initdb, pg_basebackup -R with a
 * replication slot, the standby started with its own port.
 *
 * With `synchronous: true` (bench-paper, the paper's "mirrored" baseline) the standby is made
 * synchronous once it streams (synchronous_standby_names = 'FIRST 1 (standby1)'): every commit then
 * waits for the standby to flush its WAL. Such a primary hangs every commit while its standby is down
 * (infra-feasibility §5), so stopping the pair first makes the standby asynchronous again.
 *
 * Root cannot run postgres: as root every PostgreSQL command runs through `runuser -u postgres --`
 * in a directory owned by postgres; as any other user, directly.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePorts } from '@northlight/protocol/io';
import pg from 'pg';
import type { LagTarget } from './lag-harness.js';

const execFileAsync = promisify(execFile);

export const POSTGRES_BIN_DIRECTORY = '/usr/lib/postgresql/15/bin';
const STANDBY_NAME = 'standby1';
const INITDB_OPTIONS = ['-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'];
const READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 50;
/** Log lines quoted in an error when a server does not start or the standby does not stream. */
const LOG_TAIL_LINES = 20;

export interface PostgresPair {
  readonly primaryPort: number;
  readonly standbyPort: number;
  /** The standby's application_name in pg_stat_replication. */
  readonly standbyName: string;
  /** Whether commits wait for the standby (`synchronous` option). */
  readonly synchronous: boolean;
  /** Stops both servers (fast shutdown) and removes their directory. */
  stop(): Promise<void>;
}

/** A started server: its data directory, for pg_ctl stop. */
interface Cluster {
  readonly dataDirectory: string;
}

/** A pair being started or running: what must be stopped and removed if the process ends first. */
interface LivePair {
  readonly runner: PostgresRunner;
  readonly directory: string;
  readonly clusters: Cluster[];
  /** Set once the standby was made synchronous: stopping must undo that first. */
  synchronousOnPort?: number | undefined;
}

export interface PostgresPairOptions {
  /** The PostgreSQL 15 binaries' directory. */
  readonly binDirectory?: string;
  /** Make the standby synchronous once it streams (default false: asynchronous). */
  readonly synchronous?: boolean;
  /** More `name = value` lines for the primary's postgresql.conf (the standby inherits them). */
  readonly primarySettings?: readonly string[];
}

/** Every pair this process started and has not stopped, for the exit cleanup. */
const livePairs = new Set<LivePair>();

/**
 * Starts a primary and a standby, and returns once pg_stat_replication shows the standby streaming
 * (and, with `synchronous`, in sync_state 'sync').
 */
export async function startPostgresPair(options: PostgresPairOptions = {}): Promise<PostgresPair> {
  const runner = postgresRunner(options.binDirectory ?? POSTGRES_BIN_DIRECTORY);
  const ports = await freePorts(2);
  const [primaryPort, standbyPort] = [ports[0]!, ports[1]!];
  const directory = mkdtempSync(join(tmpdir(), 'northlight-pg-pair-'));
  runner.ownDirectory(directory);
  const live: LivePair = { runner, directory, clusters: [] };
  livePairs.add(live);
  registerExitCleanup();
  try {
    const primary = join(directory, 'primary');
    const standby = join(directory, 'standby');
    await runner.run('initdb', ['-D', primary, ...INITDB_OPTIONS]);
    configurePrimary(primary, directory, primaryPort, options.primarySettings ?? []);
    await startCluster(live, primary, join(directory, 'primary.log'));
    await runner.run('pg_basebackup', [
      ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standby],
      ...['-X', 'stream', '-R', '-C', '-S', STANDBY_NAME, '-c', 'fast', '--no-sync'],
    ]);
    configureStandby(standby, primaryPort, standbyPort);
    await startCluster(live, standby, join(directory, 'standby.log'));
    await waitForStreaming(primaryPort, join(directory, 'standby.log'), 'async');
    if (options.synchronous === true) {
      live.synchronousOnPort = primaryPort;
      await setSynchronousStandby(primaryPort, `FIRST 1 (${STANDBY_NAME})`);
      await waitForStreaming(primaryPort, join(directory, 'standby.log'), 'sync');
    }
  } catch (error) {
    await stopPair(live, 'immediate');
    throw error;
  }
  return {
    primaryPort,
    standbyPort,
    standbyName: STANDBY_NAME,
    synchronous: options.synchronous === true,
    stop: () => stopPair(live, 'fast'),
  };
}

/** ALTER SYSTEM SET synchronous_standby_names and reload: '' makes every standby asynchronous. */
async function setSynchronousStandby(primaryPort: number, names: string): Promise<void> {
  const client = new pg.Client({ ...connectionConfig(primaryPort), statement_timeout: READY_TIMEOUT_MS });
  await client.connect();
  try {
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = '${names.replaceAll("'", "''")}'`);
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** Appends to the primary's postgresql.conf and replaces its pg_hba.conf: trust on loopback only. */
function configurePrimary(
  dataDirectory: string,
  socketDirectory: string,
  port: number,
  settings: readonly string[],
): void {
  appendFileSync(
    join(dataDirectory, 'postgresql.conf'),
    [
      '',
      '# northlight replica-lag benchmark (db-engine/scripts/support/postgres-pair.ts)',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${socketDirectory}'`,
      'fsync = on',
      'synchronous_commit = on',
      "synchronous_standby_names = ''",
      'wal_level = replica',
      'max_wal_senders = 4',
      'hot_standby = on',
      ...settings,
      '',
    ].join('\n'),
  );
  // Local socket connections stay possible for the postgres user (the directory is private to it).
  writeFileSync(
    join(dataDirectory, 'pg_hba.conf'),
    [
      'local all all trust',
      'host all all 127.0.0.1/32 trust',
      'host replication all 127.0.0.1/32 trust',
      '',
    ].join('\n'),
  );
}

/** The standby inherits the primary's configuration; postgresql.auto.conf (written by -R) overrides. */
function configureStandby(dataDirectory: string, primaryPort: number, standbyPort: number): void {
  appendFileSync(
    join(dataDirectory, 'postgresql.auto.conf'),
    [
      `port = ${standbyPort}`,
      `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}'`,
      'hot_standby = on',
      '',
    ].join('\n'),
  );
}

async function startCluster(live: LivePair, dataDirectory: string, logFile: string): Promise<void> {
  // Recorded before the start: a start that times out may still leave a server running.
  live.clusters.push({ dataDirectory });
  try {
    await live.runner.run('pg_ctl', ['-D', dataDirectory, '-l', logFile, '-w', '-t', '60', 'start']);
  } catch (error) {
    throw new Error(`start postgres in ${dataDirectory}: ${(error as Error).message}\n${logTail(logFile)}`);
  }
}

/** Polls the primary until the standby streams in the expected sync_state. */
async function waitForStreaming(
  primaryPort: number,
  standbyLog: string,
  syncState: 'async' | 'sync',
): Promise<void> {
  const client = new pg.Client(connectionConfig(primaryPort));
  await client.connect();
  try {
    const deadlineMs = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      const { rows } = await client.query<{ state: string; sync_state: string }>(
        'SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1',
        [STANDBY_NAME],
      );
      const row = rows[0];
      // Right after a reload the standby may still show its old sync_state: poll until it changes.
      if (row?.state === 'streaming' && row.sync_state === syncState) return;
      if (performance.now() > deadlineMs)
        throw new Error(
          `standby not streaming after ${READY_TIMEOUT_MS} ms (pg_stat_replication: ${JSON.stringify(rows)})\n${logTail(standbyLog)}`,
        );
      await sleep(POLL_INTERVAL_MS);
    }
  } finally {
    await client.end();
  }
}

/** Stops the standby, then the primary, then removes the directory. Idempotent. */
async function stopPair(live: LivePair, mode: 'fast' | 'immediate'): Promise<void> {
  if (!livePairs.has(live)) return;
  const failures: string[] = [];
  let stopMode = mode;
  // A synchronous primary whose standby stops first would hang every commit, its shutdown checkpoint
  // included: release it first. If that fails, the primary is stopped 'immediate' below regardless.
  if (live.synchronousOnPort !== undefined)
    try {
      await setSynchronousStandby(live.synchronousOnPort, '');
      live.synchronousOnPort = undefined;
    } catch (error) {
      failures.push(`make the standby asynchronous before stopping: ${(error as Error).message}`);
      stopMode = 'immediate';
    }
  for (const cluster of [...live.clusters].reverse()) {
    if (!existsSync(join(cluster.dataDirectory, 'postmaster.pid'))) continue;
    try {
      await live.runner.run('pg_ctl', ['-D', cluster.dataDirectory, '-m', stopMode, '-w', 'stop']);
    } catch (error) {
      failures.push(`stop ${cluster.dataDirectory}: ${(error as Error).message}`);
    }
  }
  livePairs.delete(live);
  // A server that would not stop keeps its directory, so that someone can look at what it was doing.
  if (failures.length > 0) throw new Error(failures.join('\n'));
  rmSync(live.directory, { recursive: true, force: true });
}

let exitCleanupRegistered = false;

/**
 * A benchmark that crashes or is interrupted must leave no server running. 'exit' handlers run
 * synchronously, so the cleanup uses execFileSync and an immediate shutdown (the data is thrown away).
 * SIGINT and SIGTERM would otherwise end the process without 'exit'. A SIGKILL cannot be caught: then
 * `pg_ctl -D /tmp/northlight-pg-pair-*\/primary stop` is left to do by hand.
 */
function registerExitCleanup(): void {
  if (exitCleanupRegistered) return;
  exitCleanupRegistered = true;
  process.on('exit', stopAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      stopAllSync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
}

function stopAllSync(): void {
  for (const live of livePairs) {
    for (const cluster of [...live.clusters].reverse())
      if (existsSync(join(cluster.dataDirectory, 'postmaster.pid')))
        try {
          live.runner.runSync('pg_ctl', ['-D', cluster.dataDirectory, '-m', 'immediate', '-w', 'stop']);
        } catch (error) {
          process.stderr.write(`postgres-pair: could not stop ${cluster.dataDirectory}: ${error}\n`);
        }
    rmSync(live.directory, { recursive: true, force: true });
    livePairs.delete(live);
  }
}

/** Runs PostgreSQL's programs as the postgres user. */
interface PostgresRunner {
  run(program: string, args: readonly string[]): Promise<void>;
  runSync(program: string, args: readonly string[]): void;
  /** Gives the postgres user a directory this process created. */
  ownDirectory(directory: string): void;
}

function postgresRunner(binDirectory: string): PostgresRunner {
  for (const program of ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'])
    if (!existsSync(join(binDirectory, program)))
      throw new Error(
        `PostgreSQL 15 is not installed (no ${join(binDirectory, program)}): install it with \`apt-get install -y postgresql-15\``,
      );
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser() : undefined;
  const command = (program: string, args: readonly string[]): [string, string[]] =>
    asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(binDirectory, program), ...args]]
      : [join(binDirectory, program), [...args]];
  return {
    async run(program, args) {
      const [file, argv] = command(program, args);
      try {
        await execFileAsync(file, argv, { timeout: READY_TIMEOUT_MS * 2 });
      } catch (error) {
        const { stderr, message } = error as { stderr?: string; message: string };
        throw new Error(`${program} ${args.join(' ')}: ${stderr?.trim() || message}`);
      }
    },
    runSync(program, args) {
      const [file, argv] = command(program, args);
      execFileSync(file, argv, { stdio: 'ignore', timeout: READY_TIMEOUT_MS });
    },
    ownDirectory(directory) {
      if (owner !== undefined) chownSync(directory, owner.uid, owner.gid);
    },
  };
}

/** The postgres user's ids, which the postgresql-15 package creates. */
function postgresUser(): { uid: number; gid: number } {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error(
      'running as root, and there is no postgres user to run PostgreSQL as: install PostgreSQL with `apt-get install -y postgresql-15`',
    );
  }
}

function logTail(logFile: string): string {
  if (!existsSync(logFile)) return `(no ${logFile})`;
  const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
  return `last lines of ${logFile}:\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
}

function connectionConfig(port: number): pg.ClientConfig {
  return { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' };
}

/** The PostgreSQL `LagTarget`, plus what the benchmark needs between runs. */
export interface PostgresLagTarget extends LagTarget {
  /** Empties the table, waits until the standby shows it empty, and checkpoints: each run starts alike. */
  reset(): Promise<void>;
  /** The primary's `SHOW server_version`. */
  serverVersion(): Promise<string>;
  /** Closes every connection (the pair keeps running). */
  close(): Promise<void>;
}

/** The lag probe through node-postgres, for any server speaking the protocol (`pgLagProbe`). */
export interface PgLagProbe extends LagTarget {
  readonly primary: pg.Pool;
  readonly standby: pg.Client;
  close(): Promise<void>;
}

/**
 * Inserts into `lag_probe` through a pool of connections to the primary (one per writer, opened up
 * front so that no run pays for connecting), and reads max(id) on the standby through one dedicated
 * connection. The primary key makes max(id) one index probe. Both statements are named, so each
 * connection parses them once. The table must exist (or be created by the caller) on the primary.
 * Shared by both sides of bench:replica, so that both are measured through the same client.
 */
export async function pgLagProbe(
  primaryConfig: pg.ClientConfig,
  standbyConfig: pg.ClientConfig,
  connections: number,
): Promise<PgLagProbe> {
  const primary = new pg.Pool({ ...primaryConfig, max: connections });
  // An idle connection that fails is replaced by the pool; the next query reports anything lasting.
  primary.on('error', (error) => process.stderr.write(`lag probe: primary connection: ${error.message}\n`));
  const standby = new pg.Client(standbyConfig);
  standby.on('error', (error) => process.stderr.write(`lag probe: standby connection: ${error.message}\n`));
  await standby.connect();
  const opened = await Promise.all(Array.from({ length: connections }, () => primary.connect()));
  for (const client of opened) client.release();
  return {
    primary,
    standby,
    async write(id) {
      await primary.query({
        name: 'lag-probe-insert',
        text: 'INSERT INTO lag_probe (id) VALUES ($1)',
        values: [id],
      });
    },
    async maxVisibleId() {
      const { rows } = await standby.query<{ id: number | string }>({
        name: 'lag-probe-max',
        text: 'SELECT coalesce(max(id), 0) AS id FROM lag_probe',
      });
      return Number(rows[0]!.id);
    },
    async close() {
      await Promise.all([primary.end(), standby.end()]);
    },
  };
}

/** `pgLagProbe` on the pair, once the table exists on both sides. */
export async function postgresLagTarget(
  pair: PostgresPair,
  options: { connections?: number } = {},
): Promise<PostgresLagTarget> {
  const probe = await pgLagProbe(
    connectionConfig(pair.primaryPort),
    connectionConfig(pair.standbyPort),
    options.connections ?? 64,
  );
  const { primary, standby, maxVisibleId } = probe;
  await primary.query('CREATE TABLE IF NOT EXISTS lag_probe (id integer PRIMARY KEY)');
  await until('the standby has table lag_probe', async () => {
    const { rows } = await standby.query<{ present: boolean }>(
      "SELECT to_regclass('public.lag_probe') IS NOT NULL AS present",
    );
    return rows[0]!.present;
  });
  return {
    write: probe.write,
    maxVisibleId,
    async reset() {
      await primary.query('TRUNCATE lag_probe');
      await until('the standby shows lag_probe empty', async () => (await maxVisibleId()) === 0);
      await primary.query('CHECKPOINT');
    },
    async serverVersion() {
      const { rows } = await primary.query<{ server_version: string }>('SHOW server_version');
      return rows[0]!.server_version;
    },
    close: probe.close,
  };
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadlineMs = performance.now() + READY_TIMEOUT_MS;
  while (!(await condition())) {
    if (performance.now() > deadlineMs) throw new Error(`timed out waiting until ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}
