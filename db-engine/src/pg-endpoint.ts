/**
 * The engine's PostgreSQL endpoint (issue 8): the wire-protocol server (`io/pg-server.ts`) over the
 * engine's `TransactionGate` (`io/pg-backend.ts`), configured from the `--pg-*` flags. The writer and
 * the replicas start one each; a replica's is read-only (every transaction reads on its own).
 *
 * The server starts with the HTTP API, before the volume is recovered: a client that connects early
 * gets 57P03 ("not accepting this now; retry shortly") from its first statement, as PostgreSQL answers
 * while it starts up, instead of a refused connection.
 */
import type { Logger } from '@northlight/protocol';
import { buildVersion } from '@northlight/protocol/io';
import type { EngineConfig } from './config.js';
import { createEngineBackend } from './io/pg-backend.js';
import { scramVerifierText } from './io/pg-scram.js';
import { PgServer, type PgServerCounters } from './io/pg-server.js';
import { describeCertificate, readTlsPair, watchTlsFiles } from './io/tls-files.js';
import type { TransactionGate } from './transaction-gate.js';

/** The PostgreSQL version clients are told (`server_version`); its SQL is SQLite's (clients.md). */
export const PG_COMPATIBLE_VERSION = '15.0';

export interface PgEndpoint {
  readonly port: number;
  readonly counters: PgServerCounters;
  stop(): Promise<void>;
}

export async function startPgEndpoint(
  config: EngineConfig,
  gate: TransactionGate,
  role: 'writer' | 'replica',
  logger: Logger,
): Promise<PgEndpoint> {
  const pg = config.pg;
  const tlsFiles =
    pg.tlsCertFile === undefined || pg.tlsKeyFile === undefined
      ? undefined
      : { certFile: pg.tlsCertFile, keyFile: pg.tlsKeyFile };
  const tls = tlsFiles === undefined ? undefined : await readTlsPair(tlsFiles.certFile, tlsFiles.keyFile);
  const server = new PgServer({
    host: config.listenHost,
    port: pg.port,
    backend: createEngineBackend({
      gate,
      role,
      serverVersion: `${PG_COMPATIBLE_VERSION} (northlight ${buildVersion()})`,
    }),
    auth:
      pg.auth === 'trust'
        ? { method: 'trust' }
        : { method: 'scram', users: new Map([[pg.user, scramVerifierText(pg.password!)]]) },
    maxConnections: pg.maxConnections,
    limits: {
      messageBytesMax: pg.maxMessageBytes,
      resultBytesMax: pg.maxResultBytes,
      idleInTransactionTimeoutMs: pg.idleInTransactionTimeoutMs,
      lockWaitTimeoutMs: pg.lockWaitTimeoutMs,
      idleSessionTimeoutMs: pg.idleSessionTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
    },
    ...(tls === undefined ? {} : { tls }),
    log: logger,
  });
  const { port } = await server.start();
  logger.log('info', 'PostgreSQL listening', {
    port,
    auth: pg.auth,
    ...(pg.auth === 'scram' ? { user: pg.user } : {}),
    tls: tls !== undefined,
    ...(tls === undefined ? {} : describeCertificate(tls.cert)),
  });
  const watcher =
    tlsFiles === undefined || tls === undefined
      ? undefined
      : watchTlsFiles(tlsFiles, tls, (pair) => server.reloadTls(pair), logger, pg.tlsReloadCheckMs);
  return {
    port,
    counters: server.counters,
    stop: () => {
      watcher?.stop();
      return server.stop();
    },
  };
}
