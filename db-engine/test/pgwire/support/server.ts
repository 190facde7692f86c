/**
 * Starts a PgServer on a free loopback port over a given backend, for tests.
 */
import type { SqlBackend } from '../../../src/core/pgwire/backend.js';
import type { ConnectionLimits } from '../../../src/core/pgwire/connection.js';
import { PgServer, type PgServerAuth } from '../../../src/io/pg-server.js';

export interface TestServer {
  readonly server: PgServer;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startTestServer(
  backend: SqlBackend,
  options: {
    auth?: PgServerAuth;
    maxConnections?: number;
    limits?: Partial<ConnectionLimits>;
    tls?: { cert: string; key: string };
  } = {},
): Promise<TestServer> {
  const server = new PgServer({
    host: '127.0.0.1',
    port: 0,
    backend,
    auth: options.auth ?? { method: 'trust' },
    maxConnections: options.maxConnections ?? 64,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const { port } = await server.start();
  return { server, port, stop: () => server.stop() };
}
