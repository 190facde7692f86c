/**
 * The engine's own `SqlBackend` (src/io/pg-backend.ts) in this process: the real kernel (SQLite in
 * wasm in its worker, over the redo VFS) behind the writer's `TransactionGate`, on an in-memory
 * volume that makes every redo group durable at once (test/kernel/support/memory-volume.ts). No
 * storage processes: for tests that need the engine's SQL behaviour many times over, fast.
 */
import pg from 'pg';
import type { SqlBackend } from '../../../src/core/pgwire/backend.js';
import type { EngineReply } from '../../../src/engine.js';
import { createEngineBackend } from '../../../src/io/pg-backend.js';
import type { KernelHostOptions } from '../../../src/kernel/kernel-host.js';
import { TransactionGate } from '../../../src/transaction-gate.js';
import { MemoryVolume, startKernel } from '../../kernel/support/memory-volume.js';
import { startTestServer } from './server.js';

export async function startKernelBackend(options: {
  idleTimeoutMs: number;
  lockWaitTimeoutMs: number;
  /** Optimistic transactions (`--pg-transactions optimistic`). */
  optimistic?: boolean;
  /** The kernel's own options (a small `maxGroupPages`…). */
  kernel?: Partial<KernelHostOptions>;
}): Promise<{ backend: SqlBackend; gate: TransactionGate; stop(): Promise<void> }> {
  const volume = new MemoryVolume();
  const host = await startKernel(volume, options.kernel ?? {});
  const gate = new TransactionGate(async (request, options) => {
    const reply = await host.execute(request);
    options?.kernelDone?.();
    return reply as EngineReply;
  }, options);
  const backend = createEngineBackend({ gate, role: 'writer', serverVersion: '15.0 (northlight test)' });
  return { backend, gate, stop: () => host.close() };
}

/**
 * The kernel backend behind a PgServer on loopback, and one node-postgres client connected to it:
 * what a test of the SQL dialect over the wire needs. `stop` ends the client, the server and the
 * kernel.
 */
export async function startKernelClient(database = 'shop'): Promise<{
  client: pg.Client;
  port: number;
  stop(): Promise<void>;
}> {
  const kernel = await startKernelBackend({ idleTimeoutMs: 60_000, lockWaitTimeoutMs: 5_000 });
  const server = await startTestServer(kernel.backend);
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database });
  await client.connect();
  return {
    client,
    port: server.port,
    stop: async () => {
      await client.end().catch(() => {});
      await server.stop();
      await kernel.stop();
    },
  };
}

/**
 * The kernel backend behind a PgServer on loopback, for a test that opens several sessions: `connect`
 * opens one more node-postgres client (with `config` added: an application_name, type parsers…), and
 * `stop` ends every client, the server and the kernel.
 */
export async function startKernelSessions(): Promise<{
  port: number;
  connect(config?: Omit<pg.ClientConfig, 'host' | 'port' | 'user' | 'database'>): Promise<pg.Client>;
  stop(): Promise<void>;
}> {
  const kernel = await startKernelBackend({ idleTimeoutMs: 60_000, lockWaitTimeoutMs: 5_000 });
  const server = await startTestServer(kernel.backend);
  const clients: pg.Client[] = [];
  return {
    port: server.port,
    connect: async (config = {}) => {
      const client = new pg.Client({
        ...config,
        host: '127.0.0.1',
        port: server.port,
        user: 'postgres',
        database: 'x',
      });
      client.on('error', () => {});
      clients.push(client);
      await client.connect();
      return client;
    },
    stop: async () => {
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
      await server.stop();
      await kernel.stop();
    },
  };
}
