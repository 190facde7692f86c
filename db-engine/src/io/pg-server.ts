/**
 * The PostgreSQL wire-protocol server: node:net (and node:tls once a certificate is configured)
 * around one `PgConnection` per client (`src/core/pgwire/connection.ts`, which owns the protocol).
 *
 * What this file adds is the socket's side: connection limits (the (maxConnections+1)th client gets
 * FATAL 53300 after its startup packet, as PostgreSQL answers), input back-pressure (a connection's
 * socket is paused while a full message waits), output back-pressure (a connection waits for its
 * socket to drain), CancelRequest routing by (process id, secret key), TLS upgrade after SSLRequest,
 * and counters the engine turns into metrics. A connection's failure closes that connection only.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Clock, Logger } from '@northlight/protocol';
import { NodeClock } from '@northlight/protocol/io';
import type { SessionActivity, SessionDirectory } from '../core/pgwire/activity.js';
import { AdvisoryLocks } from '../core/pgwire/advisory-locks.js';
import type { SqlBackend } from '../core/pgwire/backend.js';
import {
  type AuthConfig,
  type ConnectionHooks,
  type ConnectionLimits,
  defaultConnectionLimits,
  PgConnection,
} from '../core/pgwire/connection.js';
import { NotificationHub } from '../core/pgwire/notifications.js';
import { parseVerifier, type ScramVerifier } from '../core/pgwire/scram.js';
import { nodeScramCrypto } from './pg-scram.js';

export type PgServerAuth =
  | { readonly method: 'trust' }
  /** Users → verifiers, as `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` or parsed. */
  | { readonly method: 'scram'; readonly users: ReadonlyMap<string, string | ScramVerifier> };

export interface PgServerOptions {
  readonly host: string;
  /** 0 picks a free port (see `start()`'s answer). */
  readonly port: number;
  readonly backend: SqlBackend;
  readonly auth: PgServerAuth;
  readonly maxConnections: number;
  readonly limits?: Partial<ConnectionLimits>;
  /** PEM certificate and key: SSLRequest is then answered 'S' and the connection upgraded. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** Counters for metrics (the engine exports them). */
export interface PgServerCounters {
  connectionsOpen: number;
  connectionsTotal: number;
  connectionsRefused: number;
  readonly messagesByType: Map<string, number>;
  readonly errorsBySqlstate: Map<string, number>;
}

/** A refused client gets this long to read its FATAL before the socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;

interface Client {
  readonly connection: PgConnection;
  readonly secretKey: number;
  readonly socket: net.Socket;
}

function resolveAuth(auth: PgServerAuth): AuthConfig {
  if (auth.method === 'trust') return auth;
  const verifiers = new Map<string, ScramVerifier>();
  for (const [user, value] of auth.users) {
    const verifier = typeof value === 'string' ? parseVerifier(value) : value;
    if (verifier === null) throw new Error(`pg-server: user "${user}" has a malformed SCRAM verifier`);
    verifiers.set(user, verifier);
  }
  return { method: 'scram', verifiers, crypto: nodeScramCrypto };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export class PgServer {
  readonly counters: PgServerCounters = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    connectionsRefused: 0,
    messagesByType: new Map(),
    errorsBySqlstate: new Map(),
  };
  private readonly server: net.Server;
  private readonly clients = new Map<number, Client>();
  private readonly sockets = new Set<net.Socket>();
  private readonly auth: AuthConfig;
  private readonly limits: ConnectionLimits;
  private readonly clock: Clock;
  /** Replaced by `reloadTls`; each connection takes the one current when it asks for TLS. */
  private secureContext: tls.SecureContext | null;
  private nextProcessId: number;

  constructor(private readonly options: PgServerOptions) {
    if (!(Number.isInteger(options.maxConnections) && options.maxConnections >= 1)) {
      throw new Error('pg-server: maxConnections must be a positive integer');
    }
    this.auth = resolveAuth(options.auth);
    this.limits = { ...defaultConnectionLimits, ...options.limits };
    this.clock = options.clock ?? new NodeClock();
    this.secureContext =
      options.tls === undefined
        ? null
        : tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key });
    this.nextProcessId = 1000 + (randomBytes(2).readUInt16BE(0) % 30_000);
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /**
   * A renewed certificate and key for the connections that start TLS from now on (those already
   * encrypted keep theirs). Throws, changing nothing, when the pair does not load; a server started
   * without TLS keeps answering SSLRequest with N.
   */
  reloadTls(pair: { readonly cert: string | Buffer; readonly key: string | Buffer }): void {
    if (this.secureContext === null) throw new Error('pg-server: TLS was not configured at start');
    this.secureContext = tls.createSecureContext({ cert: pair.cert, key: pair.key });
  }

  async start(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as net.AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** Stops accepting, closes every connection (rolling back open transactions). */
  async stop(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const rollbacks = [...this.clients.values()].map((client) => client.connection.closed());
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(rollbacks);
    await closing;
  }

  private allocateProcessId(): number {
    for (;;) {
      this.nextProcessId = this.nextProcessId >= 2_000_000_000 ? 1000 : this.nextProcessId + 1;
      if (!this.clients.has(this.nextProcessId)) return this.nextProcessId;
    }
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    this.counters.connectionsTotal += 1;
    const refused = this.clients.size >= this.options.maxConnections;
    const processId = this.allocateProcessId();
    const secretKey = randomBytes(4).readInt32BE(0);
    const link = new SocketLink(socket, this.clock, this.secureContext);
    const connection = new PgConnection(
      {
        backend: this.options.backend,
        clock: this.clock,
        auth: this.auth,
        processId,
        secretKey,
        limits: this.limits,
        tlsAvailable: this.secureContext !== null,
        sessions: this.sessions,
        advisoryLocks: this.advisoryLocks,
        notifications: this.notifications,
        ...(socket.remoteAddress === undefined
          ? {}
          : { client: { address: socket.remoteAddress, port: socket.remotePort ?? 0 } }),
        ...(refused ? { refuseWith: this.refusal() } : {}),
      },
      { ...link.hooks(), ...this.observerHooks(processId) },
    );
    link.onData = (bytes) => connection.receive(bytes);
    if (refused) this.counters.connectionsRefused += 1;
    else {
      this.clients.set(processId, { connection, secretKey, socket });
      this.counters.connectionsOpen += 1;
    }
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (this.clients.get(processId)?.connection === connection) {
        this.clients.delete(processId);
        this.counters.connectionsOpen -= 1;
      }
      void connection.closed();
    });
  }

  /** The advisory locks of this server's sessions (pg_advisory_lock…), one table for all of them. */
  private readonly advisoryLocks = new AdvisoryLocks();
  /** LISTEN/NOTIFY between this server's sessions, one hub for all of them. */
  private readonly notifications = new NotificationHub();

  /** What each session sees of the others (`pg_stat_activity`) and how it signals one. */
  private readonly sessions: SessionDirectory = {
    list: () =>
      [...this.clients.values()]
        .map((client) => client.connection.activity())
        .filter((activity): activity is SessionActivity => activity !== null)
        .sort((a, b) => a.pid - b.pid),
    signal: (pid, action) => {
      const target = this.clients.get(pid);
      if (target === undefined || target.connection.isClosed || target.connection.activity() === null)
        return false;
      this.options.log?.log(
        'info',
        `PostgreSQL session ${action === 'cancel' ? 'cancelled' : 'terminated'} by request`,
        {
          processId: pid,
        },
      );
      if (action === 'cancel') target.connection.cancel();
      else target.connection.terminate();
      return true;
    },
  };

  private refusal(): { sqlstate: string; message: string } {
    return {
      sqlstate: '53300',
      message: `sorry, too many clients already (max_connections ${this.options.maxConnections})`,
    };
  }

  /** CancelRequest routing and the counters. */
  private observerHooks(
    processId: number,
  ): Pick<ConnectionHooks, 'cancelRequest' | 'onMessage' | 'onError' | 'onInternalError'> {
    return {
      cancelRequest: (targetId, key) => {
        const target = this.clients.get(targetId);
        if (target !== undefined && target.secretKey === key) target.connection.cancel();
      },
      onMessage: (type) => bump(this.counters.messagesByType, type),
      onError: (sqlstate, severity, message) => {
        bump(this.counters.errorsBySqlstate, sqlstate);
        // A client's own failures are not ours to fix: only a full server is worth a warning.
        if (severity === 'FATAL') {
          this.options.log?.log(sqlstate === '53300' ? 'warn' : 'info', 'PostgreSQL connection ended', {
            processId,
            sqlstate,
            // Not `message`: that field would replace the log line's own text.
            reason: message,
          });
        }
      },
      onInternalError: (error) =>
        this.options.log?.log('error', 'PostgreSQL connection ended by an internal error (a bug)', {
          processId,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    };
  }
}

/**
 * One client's socket as the connection sees it: plain TCP, or TLS after SSLRequest (the raw
 * socket then carries the TLS records and `current` is the TLS socket over it).
 */
class SocketLink {
  onData: (bytes: Uint8Array) => void = () => {};
  private current: net.Socket;
  private readonly forward = (chunk: Buffer) =>
    this.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));

  constructor(
    private readonly socket: net.Socket,
    private readonly clock: Clock,
    private readonly secureContext: tls.SecureContext | null,
  ) {
    this.current = socket;
    socket.on('data', this.forward);
    // A reset or broken socket is the client's business; 'close' follows and cleans up.
    socket.on('error', () => socket.destroy());
  }

  hooks(): Pick<ConnectionHooks, 'send' | 'drained' | 'close' | 'setReading' | 'startTls'> {
    return {
      send: (bytes) => (this.current.destroyed ? true : this.current.write(bytes)),
      drained: () =>
        new Promise<void>((resolve) => {
          if (this.current.destroyed) return resolve();
          this.current.once('drain', resolve);
          this.current.once('close', resolve);
        }),
      close: () => {
        this.current.end();
        const timer = this.clock.setTimer(CLOSE_GRACE_MS, () => this.socket.destroy());
        this.socket.once('close', () => timer.cancel());
      },
      setReading: (reading) => (reading ? this.current.resume() : this.current.pause()),
      startTls: () => this.startTls(),
    };
  }

  private startTls(): void {
    if (this.secureContext === null) return;
    this.socket.off('data', this.forward);
    const secure = new tls.TLSSocket(this.socket, { isServer: true, secureContext: this.secureContext });
    secure.on('error', () => secure.destroy());
    secure.on('data', this.forward);
    this.current = secure;
  }
}
