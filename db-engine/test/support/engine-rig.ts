/**
 * Real processes for the engine's process tests: six storage nodes (the storage node's own rig, two
 * per zone, fixed ports so restarts keep their addresses, 4 KiB pages as the engine needs), or seven
 * with a spare in zone a for repairs, and engine
 * processes (`src/main.ts`, bundled: protocol's `io/node-entry.ts`) with a data directory each, their HTTP port read from the
 * "HTTP API listening" log line. `sql` speaks the engine's HTTP API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgs } from '@northlight/protocol/io';
import {
  freePorts,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from '../../../storage-node/test/support/process-rig.js';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 60_000;

export const ZONE_OF = { s1: 'a', s2: 'a', s3: 'b', s4: 'b', s5: 'c', s6: 'c', s7: 'a' } as const;
export type StorageName = keyof typeof ZONE_OF;
/** The six nodes of the usual fleet; s7 joins when a test asks for it (`names`). */
export const STORAGE_NAMES: readonly StorageName[] = ['s1', 's2', 's3', 's4', 's5', 's6'];

export interface FleetOptions {
  /** The nodes to run (STORAGE_NAMES by default). */
  readonly names?: readonly StorageName[];
  /** More flags for every storage process (e.g. its S3 backup target). */
  readonly storageArgs?: readonly string[];
  /** More environment for every storage process (e.g. the S3 secret, refused as a flag). */
  readonly storageEnv?: Readonly<Record<string, string>>;
}

export class StorageFleet {
  readonly nodes = new Map<StorageName, StorageProcess>();
  #ports = new Map<StorageName, { port: number; adminPort: number }>();
  readonly names: readonly StorageName[];

  /**
   * `nodeArgs`: Node flags for every storage process (e.g. `--cpu-prof` when profiling).
   * `gossipIntervalMs`: 200 by default, so that tests converge quickly; benchmarks pass the node's
   * own default (1000).
   */
  constructor(
    readonly segmentSizeBytes: number,
    readonly nodeArgs: readonly string[] = [],
    readonly gossipIntervalMs = 200,
    readonly options: FleetOptions = {},
  ) {
    this.names = options.names ?? STORAGE_NAMES;
  }

  async start(): Promise<void> {
    const ports = await freePorts(2 * this.names.length);
    this.names.forEach((name, index) => {
      this.#ports.set(name, { port: ports[2 * index]!, adminPort: ports[2 * index + 1]! });
    });
    // All settle before a failure is reported, so that stopAll() reaches every node that started.
    const started = await Promise.allSettled(this.names.map((name) => this.startNode(name)));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) {
      await this.stopAll();
      throw failed.reason;
    }
  }

  async startNode(name: StorageName, dataDir?: string): Promise<StorageProcess> {
    const { port, adminPort } = this.#ports.get(name)!;
    const peers = this.names
      .filter((other) => other !== name)
      .map((other) => `${other}=127.0.0.1:${this.#ports.get(other)!.port}`)
      .join(',');
    const node = await startStorageProcess(name, ZONE_OF[name], {
      ...(dataDir === undefined ? {} : { dataDir }),
      port,
      adminPort,
      nodeArgs: this.nodeArgs,
      args: [
        '--peers',
        peers,
        '--page-size-bytes',
        '4096',
        '--segment-size-bytes',
        String(this.segmentSizeBytes),
        '--gossip-interval-ms',
        String(this.gossipIntervalMs),
        ...(this.options.storageArgs ?? []),
      ],
      // The cluster's token, as the engines hold it: storage takes it on its admin API and transport.
      env: { NORTHLIGHT_INTERNAL_TOKEN: INTERNAL_TOKEN, ...this.options.storageEnv },
    });
    this.nodes.set(name, node);
    return node;
  }

  async kill(name: StorageName): Promise<void> {
    await stopStorageProcess(this.nodes.get(name)!, 'SIGKILL');
  }

  async restart(name: StorageName): Promise<void> {
    await this.startNode(name, this.nodes.get(name)!.dataDir);
  }

  /** The engine's --storage value. */
  storageFlag(): string {
    return this.names
      .map((name) => {
        const { port, adminPort } = this.#ports.get(name)!;
        return `${name}=127.0.0.1:${port}/${adminPort}@${ZONE_OF[name]}`;
      })
      .join(',');
  }

  /** SIGKILL by default; SIGTERM lets a node exit on its own (e.g. to write its CPU profile). */
  async stopAll(signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    await Promise.all([...this.nodes.values()].map((node) => stopStorageProcess(node, signal)));
    for (const node of this.nodes.values()) removeDataDir(node);
  }
}

/**
 * Every engine the rig starts holds this internal token (unless a test passes its own), so the process
 * tests run the replicas' stream and the admin routes authenticated, as a real cluster does; the rig's
 * clients send it (`INTERNAL_AUTH`). It is accepted on /v1/sql too, so `sql` works whatever the
 * engine's --pg-auth.
 */
export const INTERNAL_TOKEN = 'rig-internal-token-7f3a9c2e51';
export const INTERNAL_AUTH: Readonly<Record<string, string>> = { authorization: `Bearer ${INTERNAL_TOKEN}` };

export interface EngineProcess {
  readonly dataDir: string;
  readonly httpPort: number;
  /** The PostgreSQL wire protocol's port. */
  readonly pgPort: number;
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

export async function startEngine(
  fleet: StorageFleet,
  options: {
    dataDir?: string;
    httpPort?: number;
    args?: readonly string[];
    storage?: string;
    /** Node flags for the engine process (e.g. `--cpu-prof` when profiling a benchmark). */
    nodeArgs?: readonly string[];
    /** More environment (e.g. another NL_ENGINE_INTERNAL_TOKEN). */
    env?: Readonly<Record<string, string>>;
    /** How long to wait for "engine ready" (60 s by default); the rejection carries the output. */
    readyTimeoutMs?: number;
  } = {},
): Promise<EngineProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'northlight-engine-'));
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      ...nodeEntryArgs(join(packageRoot, 'src', 'main.ts')),
      '--data-dir',
      dataDir,
      '--storage',
      options.storage ?? fleet.storageFlag(),
      '--segment-size-bytes',
      String(fleet.segmentSizeBytes),
      '--http-port',
      String(options.httpPort ?? 0),
      // The PostgreSQL listener: any free port, and trust unless the test chooses (SCRAM needs a password).
      ...(options.args?.includes('--pg-port') === true ? [] : ['--pg-port', '0']),
      ...(options.args?.includes('--pg-auth') === true ? [] : ['--pg-auth', 'trust']),
      ...(options.args ?? []),
    ],
    {
      cwd: packageRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NL_ENGINE_INTERNAL_TOKEN: INTERNAL_TOKEN, ...options.env },
    },
  );
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let pgPort: number | undefined;
  const httpPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`engine not ready:\n${output.join('')}`));
    }, options.readyTimeoutMs ?? READY_TIMEOUT_MS);
    let port: number | undefined;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      for (const line of text.split('\n')) {
        if (line.includes('HTTP API listening')) port = (JSON.parse(line) as { port: number }).port;
        if (line.includes('PostgreSQL listening')) pgPort = (JSON.parse(line) as { port: number }).port;
        if (line.includes('engine ready') && port !== undefined) {
          clearTimeout(timer);
          resolve(port);
        }
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`engine exited with ${code}:\n${output.join('')}`)));
  });
  return { dataDir, httpPort, pgPort: pgPort!, child, output, exited };
}

export function removeEngineData(engine: EngineProcess): void {
  rmSync(engine.dataDir, { recursive: true, force: true });
}

export interface SqlAnswer {
  readonly status: number;
  readonly body: {
    results?: { columns: string[]; rows: unknown[][]; changes: number }[];
    commitLsn?: string;
    code?: string;
    sqlstate?: string;
    message?: string;
  };
}

export async function sql(
  engine: { httpPort: number },
  statements: readonly { sql: string; params?: readonly unknown[] }[] | string,
  options: { readOnly?: boolean; timeoutMs?: number } = {},
): Promise<SqlAnswer> {
  const body =
    typeof statements === 'string'
      ? { sql: statements, ...(options.readOnly ? { readOnly: true } : {}) }
      : { statements, ...(options.readOnly ? { readOnly: true } : {}) };
  const response = await fetch(`http://127.0.0.1:${engine.httpPort}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...INTERNAL_AUTH },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  return { status: response.status, body: (await response.json()) as SqlAnswer['body'] };
}

/**
 * A cheaper client than `sql` for load: node:http over a keep-alive agent with one socket per
 * concurrent caller (fetch costs several times more CPU per request, and on two cores the client's
 * CPU is taken from the engine and the storage nodes).
 */
export class SqlClient {
  readonly #agent: Agent;
  readonly #port: number;

  constructor(engine: { httpPort: number }, connections: number) {
    this.#port = engine.httpPort;
    this.#agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  execute(
    statements: readonly { sql: string; params?: readonly unknown[] }[],
    timeoutMs = 30_000,
  ): Promise<SqlAnswer> {
    const payload = Buffer.from(JSON.stringify({ statements }));
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        {
          agent: this.#agent,
          host: '127.0.0.1',
          port: this.#port,
          method: 'POST',
          path: '/v1/sql',
          headers: { 'content-type': 'application/json', 'content-length': payload.length, ...INTERNAL_AUTH },
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            try {
              resolve({
                status: response.statusCode ?? 0,
                body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as SqlAnswer['body'],
              });
            } catch (error) {
              reject(error);
            }
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The engine's /v1/status (LSNs as decimal strings). */
export interface EngineStatusBody {
  readonly driver: {
    readonly pgCount: number;
    readonly state: string;
    readonly vdl?: string;
    /** Redo groups submitted and not yet durable. */
    readonly groupsWaiting: number;
  };
  readonly recovery?: { readonly durationMs: number; readonly volumeEpoch: string };
  readonly mode?: string;
}

export async function engineStatus(engine: { httpPort: number }): Promise<EngineStatusBody> {
  const response = await fetch(`http://127.0.0.1:${engine.httpPort}/v1/status`, { headers: INTERNAL_AUTH });
  return (await response.json()) as EngineStatusBody;
}

/** The bank the process tests move money in: `accounts` accounts of `opening` each, and a transfer log. */
export async function setUpBank(
  target: { httpPort: number },
  accounts: number,
  opening: number,
): Promise<SqlAnswer> {
  return sql(target, [
    { sql: 'CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)' },
    { sql: 'CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER)' },
    ...Array.from({ length: accounts }, (_, index) => ({
      sql: 'INSERT INTO accounts (id, balance) VALUES (?, ?)',
      params: [index + 1, opening],
    })),
  ]);
}
