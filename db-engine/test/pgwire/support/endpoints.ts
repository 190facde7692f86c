/**
 * The PostgreSQL endpoints the real-client tests (psql, node-postgres, sysbench) connect to, behind
 * one factory so the same tests prove each:
 * - `engine`: the real thing — the engine process (`src/main.ts`) over six storage-node processes
 *   (test/support/engine-rig.ts), serving the protocol through its own `--pg-*` flags: SCRAM-SHA-256
 *   and TLS, with commits acknowledged only once durable on a write quorum.
 * - `sqlite`: the PgServer in this process over the test-only better-sqlite3 backend
 *   (support/sqlite-backend.ts), independent of the engine, so a protocol failure can be told apart
 *   from an engine one; SCRAM without TLS (SSLRequest is answered N).
 * Both ask for the same user and password.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scramVerifierText } from '../../../src/io/pg-scram.js';
import { selfSignedCertificate } from '../../support/certificates.js';
import { type EngineProcess, removeEngineData, StorageFleet, startEngine } from '../../support/engine-rig.js';
import { startTestServer } from './server.js';
import { SqliteTestBackend } from './sqlite-backend.js';

export type EndpointKind = 'engine' | 'sqlite';

export const PG_USER = 'postgres';
export const PG_PASSWORD = 'correct horse battery';

export interface Endpoint {
  readonly kind: EndpointKind;
  readonly port: number;
  /** SSLRequest is answered S (a certificate is configured). */
  readonly tls: boolean;
  stop(): Promise<void>;
}

/** Which endpoints offer TLS, known before they start (tests are declared per kind). */
export const ENDPOINT_TLS: Readonly<Record<EndpointKind, boolean>> = { engine: true, sqlite: false };

/** The storage rig's own ready timeout (storage-node/test/support/process-rig.ts). */
const STORAGE_READY_TIMEOUT_MS = 30_000;

/**
 * `fleet.start()`, but when one node fails to come up (a loaded machine) the others are not left
 * running: `fleet.start()` rejects at the first failure while the rest are still starting, and
 * `stopAll` stops only the nodes whose start has finished, so wait out the rig's ready timeout first.
 * (A node that timed out itself stays running: the rig does not kill it; reported to the lead.)
 */
async function startFleet(fleet: StorageFleet): Promise<void> {
  try {
    await fleet.start();
  } catch (error) {
    await new Promise((resolve) => setTimeout(resolve, STORAGE_READY_TIMEOUT_MS + 1_000));
    await fleet.stopAll();
    throw error;
  }
}

export async function startEndpoint(kind: EndpointKind): Promise<Endpoint> {
  if (kind === 'sqlite') {
    const backend = new SqliteTestBackend();
    const server = await startTestServer(backend, {
      auth: { method: 'scram', users: new Map([[PG_USER, scramVerifierText(PG_PASSWORD)]]) },
    });
    return {
      kind,
      port: server.port,
      tls: false,
      stop: async () => {
        await server.stop();
        backend.close();
      },
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'northlight-pg-endpoint-'));
  const { certFile, keyFile } = await selfSignedCertificate(directory);
  readFileSync(certFile); // fail here, clearly, if openssl wrote nothing
  const fleet = new StorageFleet(1024 * 1024);
  let engine: EngineProcess | undefined;
  try {
    await startFleet(fleet);
    engine = await startEngine(fleet, {
      args: [
        '--pg-auth',
        'scram',
        '--pg-user',
        PG_USER,
        '--pg-password',
        PG_PASSWORD,
        '--pg-tls-cert',
        certFile,
        '--pg-tls-key',
        keyFile,
      ],
    });
  } catch (error) {
    await fleet.stopAll();
    throw error;
  }
  const started = engine;
  return {
    kind,
    port: started.pgPort,
    tls: true,
    stop: async () => {
      started.child.kill('SIGKILL');
      await started.exited;
      await fleet.stopAll();
      removeEngineData(started);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
