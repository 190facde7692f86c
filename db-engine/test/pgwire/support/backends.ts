/**
 * The backends the real-client tests (psql, node-postgres, sysbench) run against, behind one
 * factory, so the same tests prove the protocol over each:
 * - `engine`: the engine's own `SqlBackend` (src/io/pg-backend.ts) over the real kernel — SQLite in
 *   wasm in its worker, over the redo VFS — behind the writer's `TransactionGate`, with an in-memory
 *   volume that acknowledges every redo group at once (test/kernel/support/memory-volume.ts). What it
 *   leaves out is the storage fleet's quorum, which the process tests cover.
 * - `sqlite`: the test-only better-sqlite3 backend (support/sqlite-backend.ts), independent of the
 *   engine, so a protocol failure can be told apart from an engine one.
 */
import type { SqlBackend } from '../../../src/core/pgwire/backend.js';
import type { EngineReply } from '../../../src/engine.js';
import { createEngineBackend } from '../../../src/io/pg-backend.js';
import { TransactionGate } from '../../../src/transaction-gate.js';
import { MemoryVolume, startKernel } from '../../kernel/support/memory-volume.js';
import { SqliteTestBackend } from './sqlite-backend.js';

export type BackendKind = 'engine' | 'sqlite';

export interface BackendUnderTest {
  readonly name: string;
  readonly backend: SqlBackend;
  stop(): Promise<void>;
}

export async function startBackend(kind: BackendKind): Promise<BackendUnderTest> {
  if (kind === 'sqlite') {
    const backend = new SqliteTestBackend();
    return { name: 'better-sqlite3 (test backend)', backend, stop: async () => backend.close() };
  }
  const volume = new MemoryVolume();
  const host = await startKernel(volume);
  const gate = new TransactionGate(
    async (request, kernelDone) => {
      const reply = await host.execute(request);
      kernelDone?.();
      return reply as EngineReply;
    },
    { idleTimeoutMs: 10_000, lockWaitTimeoutMs: 10_000 },
  );
  const backend = createEngineBackend({ gate, role: 'writer', serverVersion: '15.0 (northlight test)' });
  return { name: 'engine kernel (in-memory volume)', backend, stop: () => host.close() };
}

/** Every backend kind, for `describe.each`. */
export const BACKEND_KINDS: readonly BackendKind[] = ['engine', 'sqlite'];
