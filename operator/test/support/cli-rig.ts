/**
 * Drives the `northlight` command for the operator's process tests: runs CLI commands (blocking or
 * not), starts `up` on free ports in a data directory and waits for its endpoints, reads the state
 * file, speaks SQL to the endpoints, and cleans up every data directory (and any process left) at the
 * end of a test file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import type { ClusterStatus } from '../../src/core/cluster-status.js';
import { internalTokenOf, type StateFile } from '../../src/io/local-cluster.js';

const operatorRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(operatorRoot, 'bin', 'northlight.js');
const UP_TIMEOUT_MS = 120_000;

/** Runs `northlight …` to its end; `input` is its standard input (a pipe, not a terminal). */
export function northlight(
  args: readonly string[],
  options: {
    readonly input?: string;
    readonly cwd?: string;
    /** Added to this process's environment. */
    readonly env?: Readonly<Record<string, string>>;
  } = {},
): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    input: options.input ?? '',
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface Up {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

/**
 * Starts `up` on free ports without waiting for it. `detached`: in a process group of its own, as a
 * shell runs a foreground job, so that `process.kill(-up.child.pid, …)` is the terminal's Ctrl-C.
 * `viaNpm`: as the README runs it, `npm run northlight -- up …` from the repository root (the child is
 * then npm, and `up` a process below it).
 */
export function spawnUp(
  dataDir: string,
  extraArgs: readonly string[] = [],
  options: { readonly detached?: boolean; readonly viaNpm?: boolean } = {},
): Up {
  const args = ['up', '--data-dir', dataDir, '--base-port', '0', ...extraArgs];
  const child =
    options.viaNpm === true
      ? spawn('npm', ['run', '-s', 'northlight', '--', ...args], {
          cwd: join(operatorRoot, '..'),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: options.detached === true,
        })
      : spawn(process.execPath, [cli, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: options.detached === true,
        });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onData = (chunk: Buffer) => output.push(chunk.toString('utf8'));
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return { child, output, exited };
}

/** Resolves once `up` has printed `text`; rejects if it exits first or the wait passes `timeoutMs`. */
export async function outputOf(up: Up, text: string, timeoutMs = UP_TIMEOUT_MS): Promise<void> {
  let exitCode: number | null | undefined;
  void up.exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + timeoutMs;
  while (!up.output.join('').includes(text)) {
    if (exitCode !== undefined) throw new Error(`up exited with ${exitCode}:\n${up.output.join('')}`);
    if (Date.now() > deadline)
      throw new Error(`up did not print ${JSON.stringify(text)}:\n${up.output.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startUp(
  dataDir: string,
  extraArgs: readonly string[] = [],
  options: { readonly detached?: boolean; readonly viaNpm?: boolean } = {},
): Promise<Up> {
  const up = spawnUp(dataDir, extraArgs, options);
  await outputOf(up, 'SQL over HTTP');
  return up;
}

/**
 * Every process whose command line names `path` (a data directory: every member's names its own
 * directory under it), this one excepted: what a test finds left over, and what is killed at the end.
 */
export function processesOf(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(path)) pids.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return pidsAlive(pids);
}

export function state(dataDir: string): StateFile {
  return JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as StateFile;
}

export interface SqlReply {
  readonly results: { columns: string[]; rows: unknown[][]; changes: number }[];
}

/**
 * SQL over HTTP on an endpoint of the cluster in `dataDir`, with its PostgreSQL user and password as
 * HTTP Basic (what `northlight sql` sends).
 */
export async function sql(
  dataDir: string,
  port: number,
  text: string,
  readOnly = false,
): Promise<{ status: number; body: SqlReply }> {
  const password = readFileSync(join(dataDir, 'pg-password'), 'utf8').trim();
  const response = await fetch(`http://127.0.0.1:${port}/v1/sql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`postgres:${password}`).toString('base64')}`,
    },
    body: JSON.stringify({ sql: text, ...(readOnly ? { readOnly: true } : {}) }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json()) as SqlReply };
}

export function clusterStatus(dataDir: string): ClusterStatus {
  const result = northlight(['status', '--json', '--data-dir', dataDir]);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ClusterStatus;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export function pidsAlive(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
    } catch {
      return false;
    }
  });
}

const dataDirs: string[] = [];

/** A fresh data directory, removed (with anything still running from it) after the test file. */
export function newDataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dataDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dataDirs) {
    const file = join(dir, 'cluster.json');
    const pids = existsSync(file) ? [...state(dir).pids, state(dir).pid] : [];
    // Also what a test that failed during a start left (no state file yet).
    for (const pid of [...pids, ...processesOf(dir)])
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `northlight …` without blocking the event loop (for commands that run while a load runs). */
export function northlightAsync(
  args: readonly string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * What `status --json` prints, without blocking the event loop: the control API's `/v1/status`, which
 * is all that command fetches, asked directly. The tests poll it several times a second while a
 * cluster works; a `northlight` process per probe took about 40% of a core from the cluster under
 * test. `clusterStatus` (and the tests of the command itself) still go through the CLI.
 */
export async function statusAsync(dataDir: string): Promise<ClusterStatus> {
  const response = await fetch(`${state(dataDir).controlUrl}/v1/status`, {
    headers: { authorization: `Bearer ${internalTokenOf(dataDir)}` },
    signal: AbortSignal.timeout(30_000),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as ClusterStatus;
}
