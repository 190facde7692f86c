/**
 * The backend the real-client tests (psql, node-postgres, sysbench) run against. One factory, so
 * the same tests prove the protocol over the test-only SQLite backend and over the engine.
 */
import type { SqlBackend } from '../../../src/core/pgwire/backend.js';
import { SqliteTestBackend } from './sqlite-backend.js';

export interface BackendUnderTest {
  readonly name: string;
  readonly backend: SqlBackend;
  stop(): Promise<void>;
}

export async function startBackendForClientTests(): Promise<BackendUnderTest> {
  const backend = new SqliteTestBackend();
  return {
    name: 'better-sqlite3 (test backend)',
    backend,
    stop: async () => backend.close(),
  };
}
