/**
 * Drives one `northlight up` for the operator's benchmark scripts (what test/support/cli-rig.ts does
 * for the tests, without vitest): starts `up` on free ports in a data directory, timestamps each line
 * of its output (the control plane's events), speaks SQL to the endpoints, calls the control API that
 * `status --json`, `kill-node` and `down` call (directly: spawning the CLI through tsx costs a second
 * of CPU on a 2-core machine, which would disturb what is measured), and always cleans up: `down`,
 * then SIGKILL for any process still running from the data directory, then the directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterStatus } from '../../src/core/cluster-status.js';
import type { StateFile } from '../../src/io/local-cluster.js';

const operatorRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(operatorRoot, 'bin', 'northlight.js');
const UP_READY_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;

export interface OutputLine {
  readonly atMs: number;
  readonly text: string;
}

export interface RunningCluster {
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Every line `up` printed, with the time it arrived here. */
  readonly lines: OutputLine[];
  readonly exited: Promise<number | null>;
  readonly state: StateFile;
}

/** `northlight up -f file --data-dir dir --base-port 0`, resolved once the endpoints are printed. */
export async function startUp(dataDir: string, clusterFile: string): Promise<RunningCluster> {
  const child = spawn(
    process.execPath,
    [cli, 'up', '-f', clusterFile, '--data-dir', dataDir, '--base-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: OutputLine[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let partial = '';
  const onData = (chunk: Buffer) => {
    const atMs = Date.now();
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ atMs, text });
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`up not ready after ${UP_READY_TIMEOUT_MS} ms:\n${tail(lines)}`));
    }, UP_READY_TIMEOUT_MS);
    const poll = setInterval(() => {
      if (!lines.some((line) => line.text.includes('SQL over HTTP'))) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve();
    }, 50);
    void exited.then((code) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`up exited with ${code}:\n${tail(lines)}`));
    });
  });
  return { dataDir, child, lines, exited, state: readState(dataDir)! };
}

export function readState(dataDir: string): StateFile | undefined {
  const file = join(dataDir, 'cluster.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StateFile) : undefined;
}

export function tail(lines: readonly OutputLine[], count = 40): string {
  return lines
    .slice(-count)
    .map((line) => line.text)
    .join('\n');
}

export interface SqlReply {
  readonly results: { columns: string[]; rows: unknown[][]; changes: number }[];
}

/** An SQL HTTP endpoint of a running cluster, with the credentials `northlight sql` would send. */
export interface SqlEndpoint {
  readonly port: number;
  readonly authorization: string;
}

/** The cluster in `dataDir`'s endpoint on `port`: HTTP Basic with its PostgreSQL user and password. */
export function sqlEndpoint(dataDir: string, port: number): SqlEndpoint {
  const password = readFileSync(join(dataDir, 'pg-password'), 'utf8').trim();
  return { port, authorization: `Basic ${Buffer.from(`postgres:${password}`).toString('base64')}` };
}

export async function sql(endpoint: SqlEndpoint, text: string): Promise<{ status: number; body: SqlReply }> {
  const response = await fetch(`http://127.0.0.1:${endpoint.port}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: endpoint.authorization },
    body: JSON.stringify({ sql: text }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, body: (await response.json()) as SqlReply };
}

/** What a storage node's admin API takes: the cluster's internal token (`up` keeps it in the data directory). */
export function internalHeaders(cluster: RunningCluster): Record<string, string> {
  return { authorization: `Bearer ${readFileSync(join(cluster.dataDir, 'internal-token'), 'utf8').trim()}` };
}

/** What `northlight status --json` prints (the control API's `GET /v1/status`, which takes the internal token too). */
export async function clusterStatus(cluster: RunningCluster): Promise<ClusterStatus> {
  return getJson<ClusterStatus>(`${cluster.state.controlUrl}/v1/status`, internalHeaders(cluster));
}

/** What `northlight kill-node NAME` does: SIGKILL, and the member stays down. */
export async function killNode(cluster: RunningCluster, name: string): Promise<void> {
  const response = await fetch(`${cluster.state.controlUrl}/v1/members/${encodeURIComponent(name)}/kill`, {
    method: 'POST',
    headers: internalHeaders(cluster),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`kill-node ${name}: HTTP ${response.status} ${await response.text()}`);
}

export async function getJson<T>(url: string, headers: Readonly<Record<string, string>> = {}): Promise<T> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops the cluster (what `northlight down` does), waits for `up` to exit, SIGKILLs whatever the state
 * file still names (a cluster that did not stop in time), and removes the data directory. Never
 * throws (it runs on the way out of a failure too), and may run twice.
 */
export async function stopAndRemove(dataDir: string, cluster: RunningCluster | undefined): Promise<void> {
  await stopCluster(dataDir, cluster);
  rmSync(dataDir, { recursive: true, force: true });
}

/** The first half of `stopAndRemove`: the data directory stays (to measure on its filesystem). */
export async function stopCluster(dataDir: string, cluster: RunningCluster | undefined): Promise<void> {
  if (cluster !== undefined && cluster.child.exitCode === null && cluster.child.signalCode === null) {
    try {
      const down = await fetch(`${cluster.state.controlUrl}/v1/down`, {
        method: 'POST',
        headers: internalHeaders(cluster),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (!down.ok) throw new Error(`down: HTTP ${down.status}`);
    } catch {
      cluster.child.kill('SIGTERM');
    }
    const timedOut = await Promise.race([
      cluster.exited.then(() => false),
      sleep(DOWN_TIMEOUT_MS).then(() => true),
    ]);
    if (timedOut) cluster.child.kill('SIGKILL');
  }
  for (const pid of processesRunningFrom(dataDir))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
}

/**
 * Every process whose command line names the data directory: `up` and each member it started (their
 * `--data-dir` or `-d` is under it). The directory is a fresh temporary one, so nothing else names it;
 * pids from a state file are not trusted, since a pid may have been reused by an unrelated process.
 */
export function processesRunningFrom(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir)) pids.push(pid);
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}
