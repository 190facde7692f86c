/**
 * sysbench 1.0.20 (`oltp_write_only`, `--db-driver=pgsql`) as bench-paper's client: the very
 * benchmark of the paper's §6, unmodified, pointed at a PostgreSQL endpoint. Each transaction is
 * BEGIN, UPDATE k, UPDATE c, DELETE, INSERT, COMMIT: 4 writes (infra-feasibility §4).
 *
 * Every sysbench process this module starts is tracked, so that an interrupted benchmark can kill it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { MissingToolError, type PgEndpoint } from './paper-target.js';

export interface SysbenchTable {
  readonly tables: number;
  readonly tableSize: number;
}

export interface SysbenchRunOptions {
  readonly threads: number;
  readonly timeS: number;
  /** Transactions per second to schedule (`--rate`); undefined = as fast as possible. */
  readonly rateTxnPerSec?: number;
}

export interface SysbenchResult {
  readonly threads: number;
  readonly timeS: number;
  readonly transactions: number;
  readonly transactionsPerSec: number;
  /** Write statements executed (4 per transaction, plus those of retried transactions). */
  readonly writes: number;
  readonly writesPerSec: number;
  /** Duplicate-key and deadlock errors sysbench ignored and retried. */
  readonly ignoredErrors: number;
  readonly latencyAvgMs: number;
  readonly latencyP95Ms: number;
  readonly latencyMaxMs: number;
}

/** The sysbench processes running now. */
const running = new Set<ChildProcess>();
/** A sysbench run has this long beyond --time to finish (it waits for in-flight transactions). */
const RUN_GRACE_MS = 60_000;
const SETUP_TIMEOUT_MS = 120_000;

/** Kills every running sysbench (for the exit cleanup). */
export function killSysbench(): void {
  for (const child of running) child.kill('SIGKILL');
}

function baseArgs(endpoint: PgEndpoint, table: SysbenchTable): string[] {
  return [
    'oltp_write_only',
    '--db-driver=pgsql',
    `--pgsql-host=${endpoint.host}`,
    `--pgsql-port=${endpoint.port}`,
    `--pgsql-user=${endpoint.user}`,
    ...(endpoint.password === undefined ? [] : [`--pgsql-password=${endpoint.password}`]),
    `--pgsql-db=${endpoint.database}`,
    `--tables=${table.tables}`,
    `--table-size=${table.tableSize}`,
  ];
}

/** `cleanup` then `prepare`: a fresh table for each measured run, as the reference does. */
export async function sysbenchFreshTable(endpoint: PgEndpoint, table: SysbenchTable): Promise<void> {
  await sysbench([...baseArgs(endpoint, table), 'cleanup'], SETUP_TIMEOUT_MS);
  await sysbench([...baseArgs(endpoint, table), 'prepare'], SETUP_TIMEOUT_MS);
}

export async function sysbenchCleanup(endpoint: PgEndpoint, table: SysbenchTable): Promise<void> {
  await sysbench([...baseArgs(endpoint, table), 'cleanup'], SETUP_TIMEOUT_MS);
}

export async function sysbenchRun(
  endpoint: PgEndpoint,
  table: SysbenchTable,
  options: SysbenchRunOptions,
): Promise<SysbenchResult> {
  const args = [
    ...baseArgs(endpoint, table),
    `--threads=${options.threads}`,
    `--time=${options.timeS}`,
    '--report-interval=0',
    '--percentile=95',
    ...(options.rateTxnPerSec === undefined ? [] : [`--rate=${options.rateTxnPerSec}`]),
    'run',
  ];
  const output = await sysbench(args, options.timeS * 1000 + RUN_GRACE_MS);
  return { threads: options.threads, timeS: options.timeS, ...parseSysbenchRun(output) };
}

/** Parses the summary sysbench prints after `run`. */
export function parseSysbenchRun(text: string): Omit<SysbenchResult, 'threads' | 'timeS'> {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(text);
    const value = Number(match?.[1]);
    if (match === null || !Number.isFinite(value))
      throw new Error(`sysbench output has no ${what}:\n${text}`);
    return value;
  };
  const totalTimeS = number(/total time:\s+([\d.]+)s/, 'total time');
  const writes = number(/^\s+write:\s+(\d+)/m, 'write count');
  return {
    transactions: number(/transactions:\s+(\d+)/, 'transactions'),
    transactionsPerSec: number(/transactions:\s+\d+\s+\(([\d.]+) per sec/, 'transactions per second'),
    writes,
    writesPerSec: writes / totalTimeS,
    ignoredErrors: number(/ignored errors:\s+(\d+)/, 'ignored errors'),
    latencyAvgMs: number(/avg:\s+([\d.]+)/, 'average latency'),
    latencyP95Ms: number(/95th percentile:\s+([\d.]+)/, '95th percentile'),
    latencyMaxMs: number(/max:\s+([\d.]+)/, 'maximum latency'),
  };
}

/** Runs sysbench, returns its stdout; a non-zero exit or a timeout is an error quoting its output. */
function sysbench(args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sysbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      running.delete(child);
      reject(
        error.code === 'ENOENT'
          ? new MissingToolError('sysbench', 'apt-get install -y --no-install-recommends sysbench')
          : error,
      );
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const text = output.join('');
      if (code === 0) resolve(text);
      else
        reject(
          new Error(
            `sysbench ${args.at(-1)} exited with ${code ?? signal} (${args.join(' ')}):\n${text.slice(-4000)}`,
          ),
        );
    });
  });
}
