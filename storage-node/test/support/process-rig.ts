/**
 * Starts real storage-node processes (`src/main.ts`, bundled: protocol's `io/node-entry.ts`) on loopback with free ports and a
 * temporary data directory each, reads their ports from the "storage node ready" log line, and
 * stops them (SIGTERM, or SIGKILL for crash tests). Used by the process tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgs } from '@northlight/protocol/io';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StorageProcess {
  readonly nodeId: string;
  readonly dataDir: string;
  port: number;
  adminPort: number;
  child: ChildProcess;
  output: string[];
  readonly exited: Promise<number | null>;
  /** The internal token it was started with (NORTHLIGHT_INTERNAL_TOKEN), which `admin` sends. */
  readonly internalToken?: string;
}

const READY_TIMEOUT_MS = 30_000;

export interface StartOptions {
  readonly dataDir?: string;
  /** Fixed ports (a restart keeps its address, so peers' `--peers` stay right); default: any free. */
  readonly port?: number;
  readonly adminPort?: number;
  /** More flags, e.g. `--peers`, `--gossip-interval-ms`. */
  readonly args?: readonly string[];
  /** More environment variables (e.g. the S3 secret, which is refused as a flag). */
  readonly env?: Readonly<Record<string, string>>;
  /** Node flags for the process (e.g. `--cpu-prof` when profiling a benchmark). */
  readonly nodeArgs?: readonly string[];
}

/** Free loopback ports, claimed below the ephemeral range (see protocol's `io/free-ports.ts`). */
export { freePorts } from '@northlight/protocol/io';

/** Spawns `src/main.ts` on loopback with the rig's flags (not waiting for anything). */
function spawnStorageProcess(nodeId: string, zone: string, directory: string, options: StartOptions) {
  return spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      ...nodeEntryArgs(join(packageRoot, 'src', 'main.ts')),
      '--node-id',
      nodeId,
      '--zone',
      zone,
      '--data-dir',
      directory,
      '--listen-host',
      '127.0.0.1',
      '--port',
      String(options.port ?? 0),
      '--admin-port',
      String(options.adminPort ?? 0),
      '--log-level',
      'info',
      ...(options.args ?? []),
    ],
    { cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
}

/**
 * Runs a storage node that is expected to stop by itself (refusing to start) or on a signal the caller
 * sends from `onLine` (called with each line of its output as it comes, and the process): its exit
 * code, the signal that ended it if any, and everything it wrote, once its output is closed. Killed
 * after `READY_TIMEOUT_MS` if it is still running.
 */
export async function runStorageProcessToExit(
  nodeId: string,
  zone: string,
  options: StartOptions & {
    readonly dataDir: string;
    readonly onLine?: (line: string, child: ChildProcess) => void;
  },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const child = spawnStorageProcess(nodeId, zone, options.dataDir, options);
  const output: string[] = [];
  // One buffer per stream: a line is passed on once whole.
  const collect = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line, child);
    };
  };
  child.stderr?.on('data', collect());
  child.stdout?.on('data', collect());
  const timer = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (exit, exitSignal) => resolve([exit, exitSignal])),
  );
  clearTimeout(timer);
  return { code, signal, output: output.join('') };
}

export async function startStorageProcess(
  nodeId: string,
  zone: string,
  dataDirOrOptions?: string | StartOptions,
): Promise<StorageProcess> {
  const options: StartOptions =
    typeof dataDirOrOptions === 'string' ? { dataDir: dataDirOrOptions } : (dataDirOrOptions ?? {});
  const directory = options.dataDir ?? mkdtempSync(join(tmpdir(), `northlight-${nodeId}-`));
  const child = spawnStorageProcess(nodeId, zone, directory, options);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started node behind: the caller has no handle on it.
      child.kill('SIGKILL');
      reject(new Error(`${nodeId} not ready within ${READY_TIMEOUT_MS} ms (killed):\n${output.join('')}`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      for (const line of text.split('\n')) {
        if (!line.includes('storage node ready')) continue;
        const parsed = JSON.parse(line) as { port: number; adminPort: number };
        clearTimeout(timer);
        resolve({ port: parsed.port, adminPort: parsed.adminPort });
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`${nodeId} exited with ${code}:\n${output.join('')}`)));
  });
  const internalToken = options.env?.NORTHLIGHT_INTERNAL_TOKEN;
  return {
    nodeId,
    dataDir: directory,
    ...ports,
    child,
    output,
    exited,
    ...(internalToken === undefined || internalToken === '' ? {} : { internalToken }),
  };
}

export async function stopStorageProcess(node: StorageProcess, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
  node.child.kill(signal);
  return node.exited;
}

export function removeDataDir(node: StorageProcess): void {
  rmSync(node.dataDir, { recursive: true, force: true });
}

export async function admin(node: StorageProcess, method: string, path: string, body?: unknown) {
  const token = node.internalToken === undefined ? {} : { authorization: `Bearer ${node.internalToken}` };
  const response = await fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    ...(body === undefined
      ? { headers: token }
      : { headers: { ...token, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}
