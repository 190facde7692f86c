/**
 * One client connection of the PostgreSQL wire protocol, sans I/O: bytes come in through
 * `receive`, bytes go out through `hooks.send`, and SQL goes to a `SqlBackend`. The server
 * (`src/io/pg-server.ts`) owns the socket; this owns the protocol.
 *
 * Phases: startup (SSLRequest/GSSENCRequest/CancelRequest/StartupMessage) → authentication (trust,
 * or SCRAM-SHA-256) → ready. Messages are handled strictly one at a time, in order: a message that
 * waits for the backend holds the ones behind it, which is what the protocol requires.
 *
 * Transactions, as PostgreSQL presents them:
 * - idle ('I'): a simple Query runs as one autocommit transaction (all its statements together
 *   unless it contains BEGIN/COMMIT); in the extended protocol the executions before one Sync are
 *   one implicit transaction (a lone one simply runs autocommit; several share an interactive
 *   backend transaction that Sync commits).
 * - open ('T'): after BEGIN, an interactive backend transaction holds the engine's single writer.
 * - failed ('E'): after an error inside an open transaction; everything but ROLLBACK (or COMMIT,
 *   which answers ROLLBACK) and ROLLBACK TO SAVEPOINT gets 25P02 until the client ends the
 *   transaction or rolls back to a savepoint, which makes it open again.
 *
 * Savepoints (SAVEPOINT, RELEASE, ROLLBACK TO) live in explicit blocks: their names are kept here, the
 * backend transaction undoes by depth. A failed block without one can never resume, so its backend
 * transaction is rolled back at once (the writer is free); one with a savepoint keeps it (and the
 * writer, as PostgreSQL keeps a failed block's locks) until ROLLBACK TO, ROLLBACK or the idle timeout.
 *
 * Errors in the extended protocol skip every message up to the next Sync. A framing error
 * (PgProtocolError) is answered with FATAL and a close, because the stream can no longer be cut
 * into messages reliably.
 */

import type { Clock, TimerHandle } from '@northlight/protocol';
import { QUERY_TEXT_MAX, type SessionActivity, type SessionDirectory } from './activity.js';
import { AdvisoryDeadlockError, AdvisoryLocks, advisoryKey } from './advisory-locks.js';
import type {
  BackendError,
  BackendReply,
  BackendTransaction,
  PgParam,
  PgValue,
  SqlBackend,
  StatementOutcome,
  StatementShape,
} from './backend.js';
import {
  CopyDataError,
  CopyDecoder,
  type CopyOptions,
  type CopyRow,
  encodeCopyHeader,
  encodeCopyRow,
  forceQuoteFlags,
} from './copy-format.js';
import { CopyBatcher, type CopyColumn, copyColumn } from './copy-load.js';
import { type CopyCommand, type CopyTable, parseCopyStatement, quoteIdentifier } from './copy-statement.js';
import { constraintFields, syntaxErrorPosition } from './error-fields.js';
import { analyzedRows, EXPLAIN_COLUMN, explainDeclaredType, explainOutcome } from './explain.js';
import {
  authenticationOk,
  authenticationSasl,
  authenticationSaslContinue,
  authenticationSaslFinal,
  backendKeyData,
  bindComplete,
  type ColumnDescription,
  closeComplete,
  commandComplete,
  copyData,
  copyDone,
  copyResponse,
  dataRow,
  decodeUtf8,
  emptyQueryResponse,
  encodeUtf8,
  errorResponse,
  type FormatCode,
  FrontendDecoder,
  type FrontendMessage,
  MessageWriter,
  negotiateProtocolVersion,
  noData,
  noticeResponse,
  notificationResponse,
  PgProtocolError,
  parameterDescription,
  parameterStatus,
  parseComplete,
  portalSuspended,
  readyForQuery,
  rowDescription,
  type StartupMessage,
  sslAnswer,
  type TransactionStatus,
} from './messages.js';
import {
  NOTIFY_PAYLOAD_BYTES_MAX,
  type Notification,
  NotificationHub,
  type NotificationListener,
} from './notifications.js';
import { literalColumns, parameterColumns } from './parameter-columns.js';
import { withPostgresForms } from './postgres-forms.js';
import { SCRAM_MECHANISM, type ScramCrypto, ScramServer, type ScramVerifier } from './scram.js';
import { acceptBoolean, parseDurationMs, SessionSettings } from './settings.js';
import {
  type Classified,
  castTypeOid,
  classify,
  commandTag,
  looksReadOnly,
  PgSqlError,
  type SessionFacts,
  splitStatements,
  statementText,
  type Token,
  type Translation,
  tokenize,
  translate,
} from './sql.js';
import { alterTableNeedingColumns, namesColumn } from './statement-rewrites.js';
import {
  copyValueText,
  declaredNumericScale,
  declaredTypeOid,
  decodeBinaryParameter,
  decodeTextParameter,
  encodeResultValue,
  Oid,
  PgValueError,
  resultColumnOid,
  scaledNumericText,
  typeSize,
} from './types.js';

export type AuthConfig =
  | { readonly method: 'trust' }
  | {
      readonly method: 'scram';
      readonly verifiers: ReadonlyMap<string, ScramVerifier>;
      readonly crypto: ScramCrypto;
    };

export interface ConnectionLimits {
  /** Largest message accepted after startup; larger gets 54000 and a close. */
  readonly messageBytesMax: number;
  /** Rows of one result held at once for this connection, in approximate bytes (54000 above). */
  readonly resultBytesMax: number;
  /** Named prepared statements and named portals, each. */
  readonly preparedStatementsMax: number;
  /**
   * 0: none. A statement running (or waiting for the writer) longer fails with 57014; a running one is
   * stopped in the kernel and its transaction rolled back. `SET statement_timeout` overrides it.
   */
  readonly statementTimeoutMs: number;
  /** Passed to the backend: an open transaction idle this long is rolled back (FATAL 25P03). */
  readonly idleInTransactionTimeoutMs: number;
  /**
   * Passed to the backend: a statement waiting this long for the SQL writer gives up (55P03); 0: no
   * limit. `SET lock_timeout` overrides it.
   */
  readonly lockWaitTimeoutMs: number;
  /** 0: none. A connection idle outside a transaction this long is closed (FATAL 57P05). */
  readonly idleSessionTimeoutMs: number;
  /** Startup and authentication must finish within this (FATAL 08P01 otherwise). */
  readonly authenticationTimeoutMs: number;
}

/** The engine's defaults (src/config.ts `--pg-…`), so a PgServer built without options matches. */
export const defaultConnectionLimits: ConnectionLimits = {
  messageBytesMax: 64 * 1024 * 1024,
  resultBytesMax: 256 * 1024 * 1024,
  preparedStatementsMax: 10_000,
  statementTimeoutMs: 0,
  idleInTransactionTimeoutMs: 10_000,
  lockWaitTimeoutMs: 30_000,
  idleSessionTimeoutMs: 0,
  authenticationTimeoutMs: 60_000,
};

export interface ConnectionHooks {
  /** Writes bytes to the client. Returns false when the socket's buffer is full (see drained). */
  send(bytes: Uint8Array): boolean;
  /** Resolves once the socket's buffer has drained after `send` returned false. */
  drained(): Promise<void>;
  /** Closes the connection (after flushing what was sent). */
  close(): void;
  /** Stops or resumes reading from the socket (input back-pressure). */
  setReading(reading: boolean): void;
  /** After answering 'S' to SSLRequest: the server wraps the socket in TLS. */
  startTls?(): void;
  /** A CancelRequest arrived on this connection (which is then closed). */
  cancelRequest?(processId: number, secretKey: number): void;
  /** Counters for metrics. */
  onMessage?(type: FrontendMessage['type'] | StartupMessage['type']): void;
  /** Every ErrorResponse sent; FATAL ones end the connection. */
  onError?(sqlstate: string, severity: 'ERROR' | 'FATAL', message: string): void;
  /** A bug ended the connection (FATAL XX000 to the client): the server logs it with its stack. */
  onInternalError?(error: unknown): void;
}

export interface ConnectionOptions {
  readonly backend: SqlBackend;
  readonly clock: Clock;
  readonly auth: AuthConfig;
  readonly processId: number;
  readonly secretKey: number;
  readonly limits: ConnectionLimits;
  readonly tlsAvailable: boolean;
  /** Set when the server is full: the startup packet is answered with this FATAL error. */
  readonly refuseWith?: BackendError;
  /** The server's sessions, for `pg_stat_activity` and `pg_cancel_backend`/`pg_terminate_backend`. */
  readonly sessions?: SessionDirectory;
  /** The client's address and port, as `pg_stat_activity` shows them. */
  readonly client?: { readonly address: string; readonly port: number };
  /**
   * The server's advisory locks, shared by its sessions (advisory-locks.ts); without it a connection
   * keeps a table of its own, which no other session sees.
   */
  readonly advisoryLocks?: AdvisoryLocks;
  /** The server's LISTEN/NOTIFY hub (notifications.ts); without it a session hears only itself. */
  readonly notifications?: NotificationHub;
}

interface PreparedStatement {
  readonly tokens: readonly Token[];
  readonly classified: Classified;
  readonly translation: Translation | null;
  readonly shape: StatementShape | null;
  readonly parameterTypes: readonly number[];
  /** For each untyped parameter, its column's type when known (0: none): see `columnTypes`. */
  readonly columnTypes: readonly number[];
  /** Describe statement told the client every column is text: portals must keep that promise. */
  describedAsText: boolean;
}

interface BufferedResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly PgValue[])[];
  readonly changes: number;
  readonly oids: readonly number[];
}

interface Portal {
  readonly statement: PreparedStatement;
  readonly parameters: readonly PgParam[];
  readonly resultFormats: readonly FormatCode[];
  result: BufferedResult | null;
  rowsSent: number;
}

type TransactionState =
  | { readonly kind: 'idle' }
  | OpenTransaction
  /**
   * `before`: the block as it was when it failed, which ROLLBACK TO one of its savepoints returns to;
   * absent when it had none (then `transaction`, if any, is only there to be rolled back).
   */
  | {
      readonly kind: 'failed';
      readonly transaction: BackendTransaction | null;
      readonly before?: OpenTransaction;
    };

interface OpenTransaction {
  readonly kind: 'open';
  readonly transaction: BackendTransaction;
  readonly readOnly: boolean;
  /**
   * Opened by the extended protocol for several executions pipelined before one Sync, which
   * PostgreSQL runs as one transaction; Sync commits it. BEGIN makes it explicit.
   */
  readonly implicit: boolean;
  /**
   * Made read-only by SET TRANSACTION READ ONLY after it had run statements (or taken a savepoint):
   * its backend transaction is a read-write one, so each statement's shape is checked here (25006).
   */
  readonly checkReadOnly?: boolean;
  /** The block's savepoints, oldest first (the backend's depth of each is its position + 1). */
  readonly savepoints?: readonly Savepoint[];
}

/**
 * A savepoint: its name, and the session's settings when it was taken, which ROLLBACK TO puts back as
 * PostgreSQL does (the values, and which names SET LOCAL and SET had changed in the transaction).
 */
interface Savepoint {
  readonly name: string;
  /** How many notifications and LISTEN/UNLISTENs the block had queued when it was made. */
  readonly notifies: number;
  readonly listens: number;
  readonly settings: ReadonlyMap<string, string>;
  readonly local: ReadonlySet<string>;
  readonly pendingSession: ReadonlyMap<string, string | undefined>;
}

/** Notifications held for one session that is not idle; beyond it, later ones are dropped. */
const UNDELIVERED_NOTIFICATIONS_MAX = 10_000;

/** Savepoints one block may hold at once (PostgreSQL has no such limit; beyond it, 54000). */
export const SAVEPOINTS_MAX = 10_000;

/** See `Connection.settingsScope`. */
interface SettingsScope {
  readonly atBegin: ReadonlyMap<string, string>;
  readonly local: Set<string>;
  readonly pendingSession: Map<string, string | undefined>;
}

type Phase = 'startup' | 'sasl-first' | 'sasl-final' | 'ready' | 'closed';

/** Flush output once this much is pending, even mid-result. */
const OUTPUT_FLUSH_BYTES = 64 * 1024;
/** Probe answers a connection keeps (see `columnTypes`); all are dropped when it is full. */
const COLUMN_TYPES_CACHE_MAX = 256;
/** Column types an untyped text parameter takes from its column, and as what it is decoded. */
const TYPED_BY_COLUMN: ReadonlyMap<number, number> = new Map([
  [Oid.bool, Oid.bool],
  [Oid.int2, Oid.int8],
  [Oid.int4, Oid.int8],
  [Oid.int8, Oid.int8],
  [Oid.float4, Oid.float8],
  [Oid.float8, Oid.float8],
  [Oid.timestamptz, Oid.timestamptz],
]);

/**
 * Column types an untyped string literal takes from its column, and the cast it is read through
 * (`'…'::type`, checked and folded when the statement is translated): the types whose text input
 * PostgreSQL converts into something other than the text as written.
 */
const LITERAL_CASTS: ReadonlyMap<number, string> = new Map([
  [Oid.bool, 'boolean'],
  [Oid.int2, 'int2'],
  [Oid.int4, 'int4'],
  [Oid.int8, 'int8'],
  [Oid.float4, 'float8'],
  [Oid.float8, 'float8'],
  [Oid.date, 'date'],
  [Oid.time, 'time'],
  [Oid.timestamp, 'timestamp'],
  [Oid.timestamptz, 'timestamptz'],
  [Oid.uuid, 'uuid'],
]);

/**
 * Values PostgreSQL's types take that SQLite cannot hold (`infinity` timestamps and dates, `NaN`): a
 * cast of them is 0A000, so such a literal stays the text it is, as before columns typed literals.
 * (As text, 'infinity' sorts after every date and '-infinity' before, as the values would.)
 */
const UNCAST_SPECIAL_VALUES = /^\s*([+-]?infinity|nan)\s*$/i;

class StatementError extends Error {
  constructor(readonly fields: BackendError) {
    super(fields.message);
  }
}

function statementError(sqlstate: string, message: string, hint?: string): StatementError {
  return new StatementError(hint === undefined ? { sqlstate, message } : { sqlstate, message, hint });
}

function approximateBytes(rows: readonly (readonly PgValue[])[]): number {
  let total = 0;
  for (const row of rows) {
    total += 16;
    for (const value of row) {
      if (typeof value === 'string') total += value.length * 2;
      else if (value instanceof Uint8Array) total += value.length;
      else total += 8;
    }
  }
  return total;
}

export class PgConnection implements NotificationListener {
  private readonly decoder: FrontendDecoder;
  private out = new MessageWriter();
  private phase: Phase = 'startup';
  private transaction: TransactionState = { kind: 'idle' };
  private skipUntilSync = false;
  /** The pump while it runs: messages are handled one at a time, by it alone. */
  private pumping: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Bytes arrived while the pump was busy: it must look again before it stops. */
  private inputSincePump = false;
  private reading = true;
  private scram: ScramServer | null = null;
  private settings: SessionSettings | null = null;
  private facts: SessionFacts | null = null;
  private readonly statements = new Map<string, PreparedStatement>();
  private readonly portals = new Map<string, Portal>();
  private inFlight: AbortController | null = null;
  private readonly advisoryLocks: AdvisoryLocks;
  private readonly notificationHub: NotificationHub;
  /** What the open transaction block will send, and LISTEN/UNLISTEN it will do, when it commits. */
  private pendingNotifies: Notification[] = [];
  private pendingListens: { readonly listen: boolean; readonly channel: string | null }[] = [];
  /** Notifications for this session, held until it is idle outside a transaction block. */
  private undelivered: Notification[] = [];
  /** Set while COPY FROM STDIN waits for the client's next CopyData: `receive` wakes it. */
  private inputWaiter: (() => void) | null = null;
  private idleTimer: TimerHandle | null = null;
  /** Statements run in the open transaction (SET TRANSACTION must come before any, to reopen it). */
  private transactionStatements = 0;
  /**
   * A serialization failure (40001) was sent: the session's next transaction holds the SQL writer
   * from its first statement instead of running optimistically, so that a client that retries a
   * transaction that keeps conflicting (or reads something that differs at every run, like the
   * clock) gets through (backend.ts, `TransactionOptions.optimistic`).
   */
  private serialAfterConflict = false;
  /** `columnTypes`' answers by probe SQL; cleared when this connection runs DDL. */
  private readonly columnTypesCache = new Map<string, readonly string[]>();
  /** Per table as written: its columns' names and declared types (`tableColumns`). */
  private readonly tableColumnsCache = new Map<
    string,
    { readonly names: readonly string[]; readonly types: readonly string[] }
  >();
  /** The query string of the simple Query or Parse being handled: a syntax error's position is in it. */
  private currentQuery: string | undefined;
  /**
   * Settings scoped to the transaction, as in PostgreSQL: their values when it began (a rollback
   * restores them all), the names SET LOCAL changed since, and the session values SET and RESET
   * gave in the transaction (undefined: the default). A commit puts each SET LOCAL name back to its
   * session value from the transaction if there is one, else to its value when the transaction
   * began. Null when no transaction is open.
   */
  private settingsScope: SettingsScope | null = null;
  /** What `pg_stat_activity` shows of this session (activity.ts); wall-clock milliseconds. */
  private readonly backendStartMs: number;
  /** The statement running or last run: its text, or its tokens (joined only when asked for). */
  private activityQuery: string | readonly Token[] = '';
  /** A statement is being handled (from its Query or Execute to the next ReadyForQuery). */
  private activityActive = false;
  private queryStartMs: number | null = null;
  private stateChangeMs: number | null = null;
  private xactStartMs: number | null = null;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    this.backendStartMs = options.clock.wallClockMs();
    this.advisoryLocks = options.advisoryLocks ?? new AdvisoryLocks();
    this.notificationHub = options.notifications ?? new NotificationHub();
    this.decoder = new FrontendDecoder(options.limits.messageBytesMax);
    this.armIdleTimer(
      options.limits.authenticationTimeoutMs,
      '08P01',
      'canceling authentication due to timeout',
    );
  }

  get processId(): number {
    return this.options.processId;
  }

  /** This session as `pg_stat_activity` shows it; null before it has logged in. */
  activity(): SessionActivity | null {
    const facts = this.facts;
    if (facts === null || this.phase !== 'ready') return null;
    const active = this.activityActive;
    const state = active
      ? 'active'
      : this.transaction.kind === 'failed'
        ? 'idle in transaction (aborted)'
        : this.transactionStatus === 'T'
          ? 'idle in transaction'
          : 'idle';
    return {
      pid: this.options.processId,
      user: facts.user,
      database: facts.database,
      applicationName: this.settings?.get('application_name') ?? '',
      clientAddress: this.options.client?.address ?? null,
      clientPort: this.options.client?.port ?? null,
      backendStartMs: this.backendStartMs,
      state,
      query: this.activityText(),
      queryStartMs: this.queryStartMs,
      stateChangeMs: this.stateChangeMs,
      xactStartMs: this.xactStartMs ?? (active ? this.queryStartMs : null),
    };
  }

  /**
   * `pg_terminate_backend`: the running statement (if any) is stopped, then the session ends with
   * FATAL 57P01 and its open transaction is rolled back.
   */
  terminate(): void {
    if (this.phase === 'closed') return;
    this.inFlight?.abort();
    const end = () =>
      this.fatal({ sqlstate: '57P01', message: 'terminating connection due to administrator command' });
    const pump = this.pumping;
    if (pump === null) end();
    else void pump.then(end, end);
  }

  /**
   * A statement begins (simple Query or Execute): what pg_stat_activity shows as running. Kept as it
   * came (an Execute's tokens are joined into text only if someone asks): this is every statement's path.
   */
  private noteQuery(query: string | readonly Token[]): void {
    const now = this.options.clock.wallClockMs();
    this.activityQuery = query;
    this.activityActive = true;
    this.queryStartMs = now;
    this.stateChangeMs = now;
  }

  private activityText(): string {
    const query = this.activityQuery;
    const text = typeof query === 'string' ? query : statementText(query);
    return text.length > QUERY_TEXT_MAX ? text.slice(0, QUERY_TEXT_MAX) : text;
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  get transactionStatus(): TransactionStatus {
    if (this.transaction.kind === 'open') return this.transaction.implicit ? 'I' : 'T';
    if (this.transaction.kind === 'failed') return 'E';
    return 'I';
  }

  /** Bytes from the client. */
  receive(chunk: Uint8Array): void {
    if (this.phase === 'closed') return;
    this.decoder.push(chunk);
    // A complete message is always at the head once this many bytes wait, so pausing cannot stall.
    if (this.decoder.bufferedBytes > this.options.limits.messageBytesMax + 5 && this.reading) {
      this.reading = false;
      this.hooks.setReading(false);
    }
    this.inputSincePump = true;
    this.inputWaiter?.();
    void this.pump();
  }

  /**
   * CancelRequest from another connection for this one: the current statement, waiting for the writer
   * or running in the kernel, fails with 57014.
   */
  cancel(): void {
    this.inFlight?.abort();
  }

  /**
   * The socket is gone (or the server stops): release the writer and every timer. The open
   * transaction is rolled back only after the pump has finished the message in hand, because the
   * backend takes one call at a time: a rollback must not overtake a statement still running.
   */
  closed(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.phase = 'closed';
    this.idleTimer?.cancel();
    this.inFlight?.abort();
    const pump = this.pumping;
    this.closing = (async () => {
      // A pump that failed has already reported its error; here only its end matters.
      await pump?.catch(() => {});
      await this.endTransaction();
      // The session's advisory locks and its LISTENs end with it, as in PostgreSQL.
      this.advisoryLocks.releaseAll(this.options.processId);
      this.notificationHub.unlisten(this, null);
      this.undelivered = [];
    })();
    return this.closing;
  }

  private pump(): Promise<void> {
    if (this.pumping !== null) return this.pumping;
    this.inputSincePump = false;
    const pumping = this.pumpMessages().finally(() => {
      this.pumping = null;
      // Bytes that arrived while the pump waited on a drain after its last look would otherwise
      // sit unread until the client sent more.
      if (this.inputSincePump && this.phase !== 'closed') void this.pump();
    });
    this.pumping = pumping;
    return pumping;
  }

  private async pumpMessages(): Promise<void> {
    try {
      while (this.phase !== 'closed') {
        const message = this.decoder.next();
        if (message === null) break;
        if (this.phase === 'ready') this.idleTimer?.cancel();
        this.hooks.onMessage?.(message.type);
        await this.handle(message);
        if (this.out.byteLength >= OUTPUT_FLUSH_BYTES) await this.flush();
      }
      await this.flush();
      this.armTimerForClientTurn();
      if (!this.reading && this.phase !== 'closed') {
        this.reading = true;
        this.hooks.setReading(true);
      }
    } catch (error) {
      this.onPumpError(error);
    }
  }

  private onPumpError(error: unknown): void {
    if (error instanceof PgProtocolError) {
      this.fatal({ sqlstate: error.sqlstate, message: error.message });
      return;
    }
    // Anything else is a programmer error: the connection cannot continue in a known state.
    this.hooks.onInternalError?.(error);
    this.fatal({ sqlstate: 'XX000', message: 'internal error' });
    throw error;
  }

  private async flush(): Promise<void> {
    if (this.out.byteLength === 0) return;
    const bytes = this.out.finish();
    this.out = new MessageWriter();
    if (!this.hooks.send(bytes)) await this.hooks.drained();
  }

  private sendError(fields: BackendError, severity: 'ERROR' | 'FATAL' = 'ERROR'): void {
    this.hooks.onError?.(fields.sqlstate, severity, fields.message);
    if (fields.sqlstate === '40001') this.serialAfterConflict = true;
    const position = syntaxErrorPosition(fields.sqlstate, fields.message, this.currentQuery);
    errorResponse(this.out, {
      severity,
      ...constraintFields(fields.sqlstate, fields.message),
      ...(position === undefined ? {} : { position }),
      ...fields,
    });
  }

  /** FATAL error, then close; the open transaction (if any) is rolled back. */
  private fatal(fields: BackendError): void {
    if (this.phase === 'closed') return;
    this.sendError(fields, 'FATAL');
    const bytes = this.out.finish();
    this.out = new MessageWriter();
    this.hooks.send(bytes);
    void this.closed();
    this.hooks.close();
  }

  private armIdleTimer(delayMs: number, sqlstate: string, message: string): void {
    this.idleTimer?.cancel();
    this.idleTimer = null;
    if (delayMs <= 0) return;
    this.idleTimer = this.options.clock.setTimer(delayMs, () => {
      if (this.pumping === null) this.fatal({ sqlstate, message });
    });
  }

  private async handle(message: StartupMessage | FrontendMessage): Promise<void> {
    if (message.type === 'Terminate') {
      // Not awaited: closing waits for this very pump to finish.
      void this.closed();
      this.hooks.close();
      return;
    }
    switch (this.phase) {
      case 'startup':
        return this.handleStartup(message);
      case 'sasl-first':
      case 'sasl-final':
        return this.handleSasl(message);
      case 'ready':
        return this.handleReady(message);
      case 'closed':
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Startup and authentication.

  private handleStartup(message: StartupMessage | FrontendMessage): void {
    switch (message.type) {
      case 'SSLRequest':
      case 'GSSENCRequest': {
        const accept = message.type === 'SSLRequest' && this.options.tlsAvailable;
        if (accept && this.decoder.bufferedBytes > 0) {
          // Bytes sent before the TLS handshake could be injected by a man in the middle
          // (CVE-2021-23214): refuse them.
          throw new PgProtocolError('08P01', 'received unencrypted data after SSL request');
        }
        this.hooks.send(sslAnswer(accept));
        if (accept) this.hooks.startTls?.();
        return;
      }
      case 'CancelRequest':
        this.hooks.cancelRequest?.(message.processId, message.secretKey);
        this.phase = 'closed';
        this.hooks.close();
        return;
      case 'Startup':
        this.negotiateProtocol(message.protocolVersion, message.parameters);
        this.startSession(message.parameters);
        return;
      default:
        throw new PgProtocolError('08P01', 'expected a startup message');
    }
  }

  /**
   * A client asking for 3.x with x > 0, or sending protocol options (`_pq_.*`), is told what this
   * server speaks (3.0, no options) and carries on in 3.0, as PostgreSQL does.
   */
  private negotiateProtocol(protocolVersion: number, parameters: ReadonlyMap<string, string>): void {
    const options = [...parameters.keys()].filter((name) => name.startsWith('_pq_.'));
    if ((protocolVersion & 0xffff) === 0 && options.length === 0) return;
    negotiateProtocolVersion(this.out, 0, options);
  }

  private startSession(parameters: ReadonlyMap<string, string>): void {
    if (this.options.refuseWith !== undefined) {
      this.fatal(this.options.refuseWith);
      return;
    }
    const user = parameters.get('user');
    if (user === undefined || user === '') {
      this.fatal({ sqlstate: '28000', message: 'no PostgreSQL user name specified in startup packet' });
      return;
    }
    const backend = this.options.backend;
    const directory = this.options.sessions;
    this.facts = {
      serverVersion: backend.serverVersion,
      database: parameters.get('database') ?? user,
      user,
      processId: this.options.processId,
      inRecovery: backend.role === 'replica',
      ...(directory === undefined ? {} : { sessions: () => directory.list() }),
    };
    this.settings = new SessionSettings({
      serverVersion: backend.serverVersion,
      user,
      statementTimeoutMs: this.options.limits.statementTimeoutMs,
      idleInTransactionTimeoutMs: this.options.limits.idleInTransactionTimeoutMs,
      lockWaitTimeoutMs: this.options.limits.lockWaitTimeoutMs,
      replica: backend.role === 'replica',
    });
    try {
      for (const [name, value] of parameters) this.settings.applyStartup(name, value);
    } catch (error) {
      if (!(error instanceof PgSqlError)) throw error;
      this.fatal({ sqlstate: error.sqlstate, message: error.message });
      return;
    }
    const auth = this.options.auth;
    if (auth.method === 'trust') {
      this.finishAuthentication();
      return;
    }
    this.scram = new ScramServer(auth.crypto, auth.verifiers.get(user) ?? null, user);
    this.phase = 'sasl-first';
    authenticationSasl(this.out, [SCRAM_MECHANISM]);
  }

  private handleSasl(message: StartupMessage | FrontendMessage): void {
    if (message.type !== 'Password' || this.scram === null) {
      throw new PgProtocolError('08P01', 'expected SASL response');
    }
    const reader = message.body;
    let step: ReturnType<ScramServer['clientFirst']>;
    if (this.phase === 'sasl-first') {
      const nameEnd = reader.indexOf(0);
      if (nameEnd < 0 || reader.length < nameEnd + 5)
        throw new PgProtocolError('08P01', 'malformed SASLInitialResponse');
      const mechanism = decodeUtf8(reader.subarray(0, nameEnd));
      if (mechanism !== SCRAM_MECHANISM) {
        this.fatal({
          sqlstate: '08P01',
          message: 'client selected an invalid SASL authentication mechanism',
        });
        return;
      }
      const view = new DataView(reader.buffer, reader.byteOffset + nameEnd + 1, 4);
      const length = view.getInt32(0);
      const data = reader.subarray(nameEnd + 5);
      if (length !== data.length) throw new PgProtocolError('08P01', 'malformed SASLInitialResponse');
      step = this.scram.clientFirst(decodeUtf8(data));
    } else {
      step = this.scram.clientFinal(decodeUtf8(reader));
    }
    if (step.kind === 'fail') {
      this.fatal({ sqlstate: step.sqlstate, message: step.message });
      return;
    }
    if (step.kind === 'continue') {
      this.phase = 'sasl-final';
      authenticationSaslContinue(this.out, step.serverMessage);
      return;
    }
    authenticationSaslFinal(this.out, step.serverMessage);
    this.finishAuthentication();
  }

  private finishAuthentication(): void {
    const settings = this.settings as SessionSettings;
    this.scram = null;
    this.phase = 'ready';
    authenticationOk(this.out);
    for (const { name, value } of settings.reported()) parameterStatus(this.out, name, value);
    backendKeyData(this.out, this.options.processId, this.options.secretKey);
    this.readyForQuery();
  }

  private readyForQuery(): void {
    const status = this.transactionStatus;
    // A transaction's advisory locks last until it ends (outside a block: its statements' Sync).
    if (status === 'I') {
      this.advisoryLocks.releaseAll(this.options.processId, 'transaction');
      for (const notification of this.undelivered.splice(0)) notificationResponse(this.out, notification);
    }
    readyForQuery(this.out, status);
    this.activityActive = false;
    this.stateChangeMs = this.options.clock.wallClockMs();
    // A transaction block began with the statement that opened it, and ended with the one that closed it.
    if (status === 'I') this.xactStartMs = null;
    else this.xactStartMs ??= this.queryStartMs;
  }

  /**
   * Once every received message is handled, the client owes us the next move: bound how long it
   * may take. Before authentication completes the startup deadline set at construction stands;
   * then an idle session gets idleSessionTimeoutMs, and a session inside a transaction block (open
   * or failed) or skipping to Sync after an error gets idleInTransactionTimeoutMs, so a silent
   * client can never hold the writer, or a failed block, forever.
   */
  private armTimerForClientTurn(): void {
    if (this.phase !== 'ready') return;
    const limits = this.options.limits;
    if (this.transaction.kind === 'idle' && !this.skipUntilSync) {
      this.armIdleTimer(
        limits.idleSessionTimeoutMs,
        '57P05',
        'terminating connection due to idle-session timeout',
      );
      return;
    }
    this.armIdleTimer(
      this.idleInTransactionTimeoutMs(),
      '25P03',
      'terminating connection due to idle-in-transaction timeout',
    );
  }

  // -------------------------------------------------------------------------------------------
  // Normal phase.

  private async handleReady(message: StartupMessage | FrontendMessage): Promise<void> {
    if (message.type === 'Sync') {
      this.skipUntilSync = false;
      await this.commitImplicit();
      if (this.transaction.kind === 'idle') this.portals.clear();
      this.readyForQuery();
      return;
    }
    if (this.skipUntilSync) return;
    try {
      await this.dispatch(message);
    } catch (error) {
      const fields = this.errorFields(error);
      await this.failStatement(fields);
      if (message.type === 'Query') {
        this.readyForQuery();
      } else {
        this.skipUntilSync = true;
      }
    }
  }

  private errorFields(error: unknown): BackendError {
    if (error instanceof StatementError) return error.fields;
    if (error instanceof PgSqlError) {
      return error.hint === undefined
        ? { sqlstate: error.sqlstate, message: error.message }
        : { sqlstate: error.sqlstate, message: error.message, hint: error.hint };
    }
    if (error instanceof PgValueError) return { sqlstate: error.sqlstate, message: error.message };
    // Bad UTF-8 inside a well-framed message (a Bind parameter): the stream is still in step, so
    // this is an ERROR for the statement, not the connection's end.
    if (error instanceof PgProtocolError && error.sqlstate === '22021') {
      return { sqlstate: error.sqlstate, message: error.message };
    }
    throw error;
  }

  /** Sync ends an implicit transaction: it commits (or, if the commit fails, reports why). */
  private async commitImplicit(): Promise<void> {
    const state = this.transaction;
    if (state.kind !== 'open' || !state.implicit) return;
    this.transaction = { kind: 'idle' };
    const reply = await state.transaction.commit();
    this.endSettingsScope(reply.ok);
    if (reply.ok) return;
    await state.transaction.rollback();
    if (reply.error.fatal === true) this.fatal(reply.error);
    else this.sendError(reply.error);
  }

  /**
   * An error inside an explicit transaction block fails it (25P02 until ROLLBACK); inside an implicit
   * one it rolls it back, as PostgreSQL does; FATAL errors close the connection.
   */
  private async failStatement(fields: BackendError): Promise<void> {
    if (fields.fatal === true) {
      this.fatal(fields);
      return;
    }
    this.sendError(fields);
    if (this.transaction.kind === 'open') {
      const state = this.transaction;
      const transaction = state.transaction;
      if (!state.implicit && (state.savepoints?.length ?? 0) > 0) {
        // ROLLBACK TO may resume it: the backend keeps the transaction (aborted) if it can.
        this.transaction = { kind: 'failed', transaction, before: state };
        return;
      }
      this.transaction = state.implicit ? { kind: 'idle' } : { kind: 'failed', transaction: null };
      if (this.transaction.kind === 'idle') this.endSettingsScope(false);
      // The backend has already rolled back after a failed run; after any other failure (Parse,
      // Bind…) it has not. rollback() is always safe, so release the writer now.
      await transaction.rollback();
    }
  }

  private async dispatch(message: StartupMessage | FrontendMessage): Promise<void> {
    switch (message.type) {
      case 'Query':
        return this.simpleQuery(message.sql);
      case 'Parse':
        return this.parse(message.name, message.sql, message.parameterTypes);
      case 'Bind':
        this.currentQuery = undefined; // an error from here on is not at a place in a Parse's text
        return this.bind(message);
      case 'Describe':
        return message.kind === 'S'
          ? this.describeStatement(message.name)
          : this.describePortal(message.name);
      case 'Execute':
        return this.execute(message.portal, message.maxRows);
      case 'Close':
        if (message.kind === 'S') this.statements.delete(message.name);
        else this.portals.delete(message.name);
        closeComplete(this.out);
        return;
      case 'Flush':
        await this.flush();
        return;
      case 'CopyData':
      case 'CopyDone':
      case 'CopyFail':
        // The rest of a COPY that failed: dropped, as PostgreSQL drops it.
        return;
      case 'Password':
        throw new PgProtocolError('08P01', 'unexpected password message');
      default:
        throw new PgProtocolError('08P01', `unexpected ${message.type} message after startup`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Simple query.

  private async simpleQuery(sql: string): Promise<void> {
    this.currentQuery = sql;
    this.noteQuery(sql);
    const statements = splitStatements(sql);
    if (statements.length === 0) emptyQueryResponse(this.out);
    let index = 0;
    while (index < statements.length) {
      const tokens = statements[index] as Token[];
      const classified = classify(tokens);
      this.forgetColumnTypesOnDdl(classified);
      if (classified.kind === 'sql' && this.transaction.kind === 'idle') {
        // Consecutive plain statements outside a transaction block run as one transaction.
        let end = index + 1;
        while (end < statements.length && classify(statements[end] as Token[]).kind === 'sql') end += 1;
        await this.runAutocommitBatch(statements.slice(index, end));
        index = end;
        continue;
      }
      const result = await this.runOne(tokens, classified, [], null);
      await this.sendResult(tokens, result, [], true);
      index += 1;
    }
    this.readyForQuery();
  }

  private async runAutocommitBatch(batch: readonly Token[][]): Promise<void> {
    const translations: Translation[] = [];
    for (const tokens of batch) {
      const translation = translate(await this.withColumnTypedLiterals(tokens), await this.factsFor(tokens));
      this.sendNotices(translation);
      translations.push(translation);
    }
    for (const translation of translations) {
      // A simple Query has no parameters to bind (PostgreSQL says the same, 42P02).
      if (translation.parameterCount > 0) throw statementError('42P02', 'there is no parameter $1');
    }
    const readOnly =
      this.defaultReadOnly() ||
      batch.every((tokens, position) => {
        const explain = translations[position]?.explain;
        if (explain !== undefined) return !explain.options.analyze || looksReadOnly(explain.firstWord);
        const classified = classify(tokens);
        return classified.kind === 'sql' && looksReadOnly(classified.firstWord);
      });
    // An EXPLAIN is SQLite's plan of its statement and, with ANALYZE, the statement itself: two
    // statements of the request, answered as one result.
    const statements = translations.flatMap((translation) =>
      translation.explain?.options.analyze === true
        ? [{ sql: translation.sql }, { sql: translation.explain.statement.sql }]
        : [{ sql: translation.sql }],
    );
    const startMs = this.options.clock.nowMs();
    const reply = await this.withSignal((signal) =>
      this.options.backend.run(statements, { readOnly, signal, lockWaitMs: this.lockWaitMs() }),
    );
    if (!reply.ok) throw new StatementError(reply.error);
    const executionMs = this.options.clock.nowMs() - startMs;
    let next = 0;
    for (const [position, translation] of translations.entries()) {
      let outcome = reply.value[next++] as StatementOutcome;
      const explain = translation.explain;
      if (explain !== undefined) {
        const analyzed = explain.options.analyze ? (reply.value[next++] as StatementOutcome) : undefined;
        outcome = explainOutcome(
          outcome,
          explain.options,
          explain.firstWord,
          analyzed === undefined ? undefined : { rows: analyzedRows(analyzed), executionMs },
        );
      }
      await this.sendResult(
        batch[position] as Token[],
        this.buffer(outcome, null, [], translation),
        [],
        true,
      );
    }
  }

  /** Sends a statement's rows (all of them) and its CommandComplete. */
  private async sendResult(
    tokens: readonly Token[],
    result: BufferedResult | ControlResult,
    resultFormats: readonly FormatCode[],
    withDescription: boolean,
  ): Promise<void> {
    if ('tag' in result) {
      if (withDescription && result.columns.length > 0) {
        rowDescription(
          this.out,
          this.describeColumns(
            result.columns,
            result.columns.map((_, column) => result.types?.[column] ?? Oid.text),
            resultFormats,
          ),
        );
      }
      for (const row of result.rows)
        dataRow(
          this.out,
          row.map((value, column) => encodeResultValue(value, result.types?.[column] ?? Oid.text, 0)),
        );
      if (result.tag === '') emptyQueryResponse(this.out);
      else commandComplete(this.out, result.tag);
      return;
    }
    if (withDescription && result.columns.length > 0) {
      rowDescription(this.out, this.describeColumns(result.columns, result.oids, resultFormats));
    }
    await this.sendRows(result, 0, result.rows.length, resultFormats);
    commandComplete(
      this.out,
      commandTag(tokens, { columns: result.columns, rowCount: result.rows.length, changes: result.changes }),
    );
  }

  /** DataRows, flushed as they accumulate so that encoded output never piles up beyond a chunk. */
  private async sendRows(
    result: BufferedResult,
    from: number,
    to: number,
    formats: readonly FormatCode[],
  ): Promise<void> {
    for (let index = from; index < to; index++) {
      if (this.out.byteLength >= OUTPUT_FLUSH_BYTES) await this.flush();
      const row = result.rows[index] as readonly PgValue[];
      dataRow(
        this.out,
        row.map((value, column) =>
          encodeResultValue(value, result.oids[column] as number, formatOf(formats, column)),
        ),
      );
    }
  }

  private describeColumns(
    columns: readonly string[],
    oids: readonly number[],
    formats: readonly FormatCode[],
  ): ColumnDescription[] {
    return columns.map((name, index) => {
      const typeOid = oids[index] ?? Oid.text;
      return { name, typeOid, typeSize: typeSize(typeOid), format: formatOf(formats, index) };
    });
  }

  /**
   * Holds a statement's rows and chooses its columns' types (types.ts `resultColumnOid`, by declared
   * type and values, for the formats the client asked for), unless Describe statement promised one.
   */
  private buffer(
    outcome: StatementOutcome,
    forcedOid: number | null,
    resultFormats: readonly FormatCode[],
    hints?: Pick<Translation, 'resultTypes' | 'resultTypesAt' | 'resultTypesFirst'>,
  ): BufferedResult {
    const resultTypes = hints?.resultTypes;
    const resultTypesFirst = hints?.resultTypesFirst;
    const bytes = approximateBytes(outcome.rows);
    if (bytes > this.options.limits.resultBytesMax) {
      throw statementError(
        '54000',
        `result of about ${bytes} bytes exceeds this connection's limit of ${this.options.limits.resultBytesMax} bytes`,
        'Fetch fewer rows at a time (LIMIT/OFFSET or a narrower WHERE).',
      );
    }
    // Columns typed numeric whose declared type has a scale (`numeric(12,2)`): their values are
    // written with that many decimals, as PostgreSQL writes them (`10.50`, not SQLite's 10.5).
    const scales = new Map<number, number>();
    const oids = outcome.columns.map((_, column) => {
      if (forcedOid !== null) return forcedOid;
      const values = outcome.rows.map((row) => row[column] ?? null);
      const name = outcome.columns[column] as string;
      const hinted =
        resultTypes?.has(name) === true && outcome.columns.filter((other) => other === name).length === 1
          ? resultTypes.get(name)
          : undefined;
      const unique = outcome.columns.filter((other) => other === name).length === 1;
      const first = unique ? resultTypesFirst?.get(name) : undefined;
      const declared =
        first ?? (outcome.declaredTypes?.[column] || hints?.resultTypesAt?.get(column) || hinted);
      const oid = resultColumnOid(declared, values, formatOf(resultFormats, column));
      const scale =
        oid === Oid.numeric && declared !== undefined ? declaredNumericScale(declared) : undefined;
      if (scale !== undefined) scales.set(column, scale);
      return oid;
    });
    const rows =
      scales.size === 0
        ? outcome.rows
        : outcome.rows.map((row) =>
            row.map((value, column) => {
              const scale = scales.get(column);
              return scale === undefined || value === null ? value : scaledNumericText(value, scale);
            }),
          );
    return { columns: outcome.columns, rows, changes: outcome.changes, oids };
  }

  // -------------------------------------------------------------------------------------------
  // One statement: transaction control, settings, or SQL for the backend.

  private async runOne(
    tokens: readonly Token[],
    classified: Classified,
    parameters: readonly PgParam[],
    prepared: PreparedStatement | null,
    executionPoint: ExecutionPoint = null,
    resultFormats: readonly FormatCode[] = [],
  ): Promise<BufferedResult | ControlResult> {
    if (
      this.transaction.kind === 'failed' &&
      classified.kind !== 'rollback' &&
      classified.kind !== 'commit' &&
      classified.kind !== 'rollback-to'
    ) {
      throw statementError(
        '25P02',
        'current transaction is aborted, commands ignored until end of transaction block',
      );
    }
    switch (classified.kind) {
      case 'empty':
        return { columns: [], rows: [], tag: '' };
      case 'begin':
        return this.begin(classified.readOnly);
      case 'commit':
        return this.commit();
      case 'rollback':
        return this.rollback();
      case 'savepoint':
        return this.savepoint(classified.name);
      case 'release':
        return this.releaseSavepoint(classified.name);
      case 'rollback-to':
        return this.rollbackToSavepoint(classified.name);
      case 'set-transaction':
        return this.setTransactionMode(classified.readOnly);
      case 'set':
        if (classified.name === 'transaction_read_only') {
          return this.setTransactionMode(
            classified.value === null ? undefined : acceptBoolean(classified.value) === 'on',
          );
        }
        return this.runSessionCommand(classified);
      case 'unsupported':
        throw statementError(classified.sqlstate, classified.message, classified.hint);
      case 'copy':
        return this.runCopy(tokens, executionPoint);
      case 'signal-backend':
        return this.signalBackend(classified, parameters);
      case 'advisory-lock':
        return this.advisoryLock(classified, parameters);
      case 'listen':
      case 'unlisten':
        return this.listen(classified);
      case 'notify':
        return this.sendNotify(classified, parameters);
      case 'sql':
        return this.runSql(tokens, classified, parameters, prepared, executionPoint, resultFormats);
      default:
        return this.runSessionCommand(classified);
    }
  }

  /** `SELECT pg_cancel_backend(pid)` / `pg_terminate_backend(pid)`: one boolean row. */
  private signalBackend(
    classified: Extract<Classified, { kind: 'signal-backend' }>,
    parameters: readonly PgParam[],
  ): ControlResult {
    const columns = [classified.resultColumn];
    // A portal's result is made once, at its Describe or its Execute, and kept: one signal per portal.
    let pid: number;
    if ('literal' in classified.pid) pid = classified.pid.literal;
    else if ('own' in classified.pid) pid = this.options.processId;
    else {
      const value = parameters[classified.pid.parameter - 1];
      if (value === undefined)
        throw statementError('42P02', `there is no parameter $${classified.pid.parameter}`);
      pid = Number(value);
      if (!Number.isSafeInteger(pid))
        throw statementError('22P02', `invalid input syntax for type integer: "${String(value)}"`);
    }
    const directory = this.options.sessions;
    if (directory === undefined) {
      throw statementError(
        '0A000',
        `${classified.action === 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend'} is not available on this endpoint`,
      );
    }
    if (classified.action === 'cancel' && pid === this.options.processId) {
      throw statementError('57014', 'canceling statement due to user request');
    }
    const done = directory.signal(pid, classified.action);
    return { columns, types: [Oid.bool], rows: [[done ? 't' : 'f']], tag: 'SELECT 1' };
  }

  /**
   * `SELECT pg_advisory_lock(key)` and its family (advisory-locks.ts): one row, void (OID 2278,
   * written empty, as PostgreSQL's) or boolean. A wait stops at a CancelRequest or statement_timeout
   * (57014), at the session's `lock_timeout` when it set one (55P03; PostgreSQL's default waits), or
   * at once on a deadlock (40P01).
   */
  private async advisoryLock(
    classified: Extract<Classified, { kind: 'advisory-lock' }>,
    parameters: readonly PgParam[],
  ): Promise<ControlResult> {
    const keys = classified.keys.map((key) => {
      if ('literal' in key) return key.literal;
      const value = parameters[key.parameter - 1];
      if (value === undefined) throw statementError('42P02', `there is no parameter $${key.parameter}`);
      if (value === null) return null;
      const text = String(value).trim();
      if (!/^[+-]?\d+$/.test(text))
        throw statementError('22P02', `invalid input syntax for type bigint: "${String(value)}"`);
      const number = BigInt(text);
      const bits = classified.keys.length === 2 ? 32 : 64;
      if (BigInt.asIntN(bits, number) !== number) {
        throw statementError(
          '22003',
          `value "${text}" is out of range for type ${bits === 32 ? 'integer' : 'bigint'}`,
        );
      }
      return number;
    });
    const columns = [classified.resultColumn];
    const locks = this.advisoryLocks;
    const session = this.options.processId;
    const answer = (value: PgValue, type: number): ControlResult => ({
      columns,
      types: [type],
      rows: [[value]],
      tag: 'SELECT 1',
    });
    if (classified.action === 'unlock-all') {
      locks.releaseAll(session, 'session');
      return answer('', Oid.void);
    }
    // PostgreSQL's functions are strict: a NULL key gives NULL and takes nothing.
    if (keys.includes(null)) return answer(null, classified.action === 'lock' ? Oid.void : Oid.bool);
    const key = advisoryKey(keys as bigint[]);
    if (classified.action === 'unlock') {
      const released = locks.release(session, key);
      if (!released) {
        noticeResponse(this.out, {
          severity: 'WARNING',
          sqlstate: '01000',
          message: "you don't own a lock of type ExclusiveLock",
        });
      }
      return answer(released ? 't' : 'f', Oid.bool);
    }
    if (classified.action === 'try')
      return answer(locks.tryAcquire(session, key, classified.level) ? 't' : 'f', Oid.bool);
    const lockTimeout = this.settings?.get('lock_timeout');
    const lockTimeoutMs = lockTimeout === undefined ? 0 : parseDurationMs(lockTimeout);
    const reply = await this.withSignal(async (signal): Promise<BackendReply<true>> => {
      const waiting = new AbortController();
      const stop = () => waiting.abort();
      signal.addEventListener('abort', stop, { once: true });
      let lockTimedOut = false;
      const timer =
        lockTimeoutMs > 0
          ? this.options.clock.setTimer(lockTimeoutMs, () => {
              lockTimedOut = true;
              waiting.abort();
            })
          : null;
      try {
        if (signal.aborted) waiting.abort();
        if (await locks.acquire(session, key, classified.level, waiting.signal))
          return { ok: true, value: true };
        return lockTimedOut
          ? { ok: false, error: { sqlstate: '55P03', message: 'canceling statement due to lock timeout' } }
          : { ok: false, error: { sqlstate: '57014', message: 'canceling statement due to user request' } };
      } catch (error) {
        if (error instanceof AdvisoryDeadlockError)
          return { ok: false, error: { sqlstate: error.sqlstate, message: error.message } };
        throw error;
      } finally {
        timer?.cancel();
        signal.removeEventListener('abort', stop);
      }
    });
    if (!reply.ok) throw statementError(reply.error.sqlstate, reply.error.message);
    return answer('', Oid.void);
  }

  /**
   * A notification for this session (NotificationListener, from the hub): sent at once while the
   * session is idle outside a transaction block, else held for its next ReadyForQuery there.
   */
  notify(notification: Notification): void {
    if (this.phase !== 'ready') return;
    // Idle: nothing being handled, no statement begun since the last ReadyForQuery, no block open.
    if (this.pumping === null && !this.activityActive && this.transaction.kind === 'idle') {
      notificationResponse(this.out, notification);
      void this.flush();
      return;
    }
    // Bounded, as PostgreSQL's queue is: a session that never goes idle does not grow without end.
    if (this.undelivered.length < UNDELIVERED_NOTIFICATIONS_MAX) this.undelivered.push(notification);
  }

  /** LISTEN / UNLISTEN: at once outside a transaction block, at its commit inside one. */
  private listen(classified: Extract<Classified, { kind: 'listen' | 'unlisten' }>): ControlResult {
    const listen = classified.kind === 'listen';
    if (this.options.backend.role === 'replica') {
      throw statementError('25006', `cannot execute ${listen ? 'LISTEN' : 'UNLISTEN'} during recovery`);
    }
    if (this.transaction.kind !== 'idle') this.pendingListens.push({ listen, channel: classified.channel });
    else this.applyListen(listen, classified.channel);
    return control(listen ? 'LISTEN' : 'UNLISTEN');
  }

  private applyListen(listen: boolean, channel: string | null): void {
    if (listen) this.notificationHub.listen(this, channel as string);
    else this.notificationHub.unlisten(this, channel);
  }

  /** NOTIFY / `SELECT pg_notify(…)`: sent at once outside a transaction block, at its commit inside one. */
  private sendNotify(
    classified: Extract<Classified, { kind: 'notify' }>,
    parameters: readonly PgParam[],
  ): ControlResult {
    if (this.options.backend.role === 'replica') {
      throw statementError('25006', 'cannot execute NOTIFY during recovery');
    }
    const text = (argument: { literal: string | null } | { parameter: number }): string | null => {
      if ('literal' in argument) return argument.literal;
      const value = parameters[argument.parameter - 1];
      if (value === undefined) throw statementError('42P02', `there is no parameter $${argument.parameter}`);
      return value === null ? null : value instanceof Uint8Array ? decodeUtf8(value) : String(value);
    };
    const channel = text(classified.channel);
    const payload = text(classified.payload) ?? '';
    if (channel === null || channel === '') throw statementError('22023', 'channel name cannot be empty');
    if (encodeUtf8(channel).length > 63) throw statementError('22023', 'channel name too long');
    if (encodeUtf8(payload).length > NOTIFY_PAYLOAD_BYTES_MAX)
      throw statementError('22023', 'payload string too long');
    const notification = { channel, payload, processId: this.options.processId };
    if (this.transaction.kind === 'idle') this.notificationHub.publish([notification]);
    // A block sends each channel and payload once, as PostgreSQL's does.
    else if (
      !this.pendingNotifies.some((queued) => queued.channel === channel && queued.payload === payload)
    ) {
      this.pendingNotifies.push(notification);
    }
    if (classified.resultColumn === undefined) return control('NOTIFY');
    return { columns: [classified.resultColumn], types: [Oid.void], rows: [['']], tag: 'SELECT 1' };
  }

  /** A transaction ended: its LISTENs, UNLISTENs and notifications take effect if it committed. */
  private endNotificationScope(committed: boolean): void {
    const listens = this.pendingListens;
    const notifies = this.pendingNotifies;
    this.pendingListens = [];
    this.pendingNotifies = [];
    if (!committed) return;
    for (const { listen, channel } of listens) this.applyListen(listen, channel);
    if (notifies.length > 0) this.notificationHub.publish(notifies);
  }

  private async runSql(
    tokens: readonly Token[],
    classified: Extract<Classified, { kind: 'sql' }>,
    parameters: readonly PgParam[],
    prepared: PreparedStatement | null,
    executionPoint: ExecutionPoint,
    resultFormats: readonly FormatCode[],
  ): Promise<BufferedResult> {
    // A statement over pg_stat_activity reads the sessions as they are now, at every execution.
    const cached = prepared?.translation?.volatile === true ? null : prepared?.translation;
    const translation =
      cached ?? translate(await this.withColumnTypedLiterals(tokens), await this.factsFor(tokens));
    this.sendNotices(translation);
    if (parameters.length < translation.parameterCount) {
      throw statementError('42P02', `there is no parameter $${parameters.length + 1}`);
    }
    if (translation.explain !== undefined)
      return this.runExplain(translation, parameters, prepared, executionPoint, resultFormats);
    const statement =
      parameters.length === 0 ? { sql: translation.sql } : { sql: translation.sql, params: parameters };
    const forcedOid = prepared?.describedAsText === true ? Oid.text : null;
    if (this.transaction.kind === 'idle' && this.isPipelined(executionPoint)) {
      await this.openTransaction(this.defaultReadOnly(), true);
    }
    if (this.transaction.kind === 'open') {
      const transaction = this.transaction.transaction;
      if (this.transaction.checkReadOnly === true)
        await this.refuseWrite(translation.describeSql ?? translation.sql, prepared);
      this.transactionStatements += 1;
      const reply = await this.withSignal((signal) => transaction.run(statement, signal, this.lockWaitMs()));
      if (!reply.ok) throw new StatementError(reply.error);
      return this.buffer(reply.value, forcedOid, resultFormats, translation);
    }
    const readOnly =
      this.defaultReadOnly() || (prepared?.shape?.readOnly ?? looksReadOnly(classified.firstWord));
    const reply = await this.withSignal((signal) =>
      this.options.backend.run([statement], { readOnly, signal, lockWaitMs: this.lockWaitMs() }),
    );
    if (!reply.ok) throw new StatementError(reply.error);
    return this.buffer(reply.value[0] as StatementOutcome, forcedOid, resultFormats, translation);
  }

  /**
   * `EXPLAIN [ANALYZE] stmt` (explain.ts): SQLite's plan of the statement, and with ANALYZE the
   * statement itself, run as any statement is (in the open transaction, or autocommit: both in one
   * request), then answered as PostgreSQL's one "QUERY PLAN" column.
   */
  private async runExplain(
    translation: Translation,
    parameters: readonly PgParam[],
    prepared: PreparedStatement | null,
    executionPoint: ExecutionPoint,
    resultFormats: readonly FormatCode[],
  ): Promise<BufferedResult> {
    const explain = translation.explain as NonNullable<Translation['explain']>;
    const withParameters = (sql: string) => (parameters.length === 0 ? { sql } : { sql, params: parameters });
    const plan = withParameters(translation.sql);
    const analyzed = explain.options.analyze ? withParameters(explain.statement.sql) : null;
    const forcedOid = prepared?.describedAsText === true ? Oid.text : null;
    if (this.transaction.kind === 'idle' && this.isPipelined(executionPoint)) {
      await this.openTransaction(this.defaultReadOnly(), true);
    }
    let planOutcome: StatementOutcome;
    let analyzedOutcome: StatementOutcome | undefined;
    let executionMs = 0;
    if (this.transaction.kind === 'open') {
      const transaction = this.transaction.transaction;
      if (analyzed !== null && this.transaction.checkReadOnly === true)
        await this.refuseWrite(explain.statement.sql, prepared);
      this.transactionStatements += 1;
      const planReply = await this.withSignal((signal) => transaction.run(plan, signal, this.lockWaitMs()));
      if (!planReply.ok) throw new StatementError(planReply.error);
      planOutcome = planReply.value;
      if (analyzed !== null) {
        const startMs = this.options.clock.nowMs();
        const reply = await this.withSignal((signal) => transaction.run(analyzed, signal, this.lockWaitMs()));
        if (!reply.ok) throw new StatementError(reply.error);
        executionMs = this.options.clock.nowMs() - startMs;
        analyzedOutcome = reply.value;
      }
    } else {
      const readOnly =
        this.defaultReadOnly() ||
        analyzed === null ||
        (prepared?.shape?.readOnly ?? looksReadOnly(explain.firstWord));
      const startMs = this.options.clock.nowMs();
      const reply = await this.withSignal((signal) =>
        this.options.backend.run(analyzed === null ? [plan] : [plan, analyzed], {
          readOnly,
          signal,
          lockWaitMs: this.lockWaitMs(),
        }),
      );
      if (!reply.ok) throw new StatementError(reply.error);
      executionMs = this.options.clock.nowMs() - startMs;
      planOutcome = reply.value[0] as StatementOutcome;
      analyzedOutcome = reply.value[1];
    }
    const analysis =
      analyzedOutcome === undefined ? undefined : { rows: analyzedRows(analyzedOutcome), executionMs };
    return this.buffer(
      explainOutcome(planOutcome, explain.options, explain.firstWord, analysis),
      forcedOid,
      resultFormats,
    );
  }

  /**
   * Whether more executions are pipelined before the next Sync than this one (a Describe of a
   * portal that runs it is followed by that portal's Execute). A lone execution runs autocommit,
   * which is what PostgreSQL's implicit transaction amounts to for it; several share one
   * transaction, committed at Sync. With no Sync buffered yet, we cannot know: share one.
   */
  private isPipelined(executionPoint: ExecutionPoint): boolean {
    if (executionPoint === null) return false;
    const ahead = this.decoder.executionsBeforeSync();
    return ahead === null || ahead > (executionPoint === 'describe' ? 1 : 0);
  }

  /** Runs a backend call under the statement timeout and CancelRequest. */
  private async withSignal<T>(
    call: (signal: AbortSignal) => Promise<BackendReply<T>>,
  ): Promise<BackendReply<T>> {
    const controller = new AbortController();
    this.inFlight = controller;
    let timedOut = false;
    const timeoutMs = this.statementTimeoutMs();
    const timer =
      timeoutMs > 0
        ? this.options.clock.setTimer(timeoutMs, () => {
            timedOut = true;
            controller.abort();
          })
        : null;
    try {
      const reply = await call(controller.signal);
      if (!reply.ok && reply.error.sqlstate === '57014') {
        const message = timedOut
          ? 'canceling statement due to statement timeout'
          : 'canceling statement due to user request';
        return { ok: false, error: { ...reply.error, message } };
      }
      return reply;
    } finally {
      timer?.cancel();
      this.inFlight = null;
    }
  }

  /**
   * The session's `lock_timeout` (its default is the engine's `--pg-lock-wait-timeout-ms`): how long a
   * statement waits for the SQL writer, held by another transaction or running another statement,
   * before 55P03; 0: no limit, as in PostgreSQL (`statement_timeout` still applies).
   */
  private lockWaitMs(): number {
    const setting = this.settings?.get('lock_timeout');
    return setting === undefined ? this.options.limits.lockWaitTimeoutMs : parseDurationMs(setting);
  }

  /** The session's `statement_timeout` (its default is the engine's); 0: none, as in PostgreSQL. */
  private statementTimeoutMs(): number {
    const setting = this.settings?.get('statement_timeout');
    return setting === undefined ? this.options.limits.statementTimeoutMs : parseDurationMs(setting);
  }

  private async begin(readOnlyRequested: boolean | undefined): Promise<ControlResult> {
    const state = this.transaction;
    if (state.kind === 'open' && state.implicit) {
      // BEGIN inside a pipeline turns its implicit transaction into an explicit block.
      this.transaction = { ...state, implicit: false };
      return control('BEGIN');
    }
    if (state.kind !== 'idle') {
      noticeResponse(this.out, {
        severity: 'WARNING',
        sqlstate: '25001',
        message: 'there is already a transaction in progress',
      });
      return control('BEGIN');
    }
    const readOnly = this.options.backend.role === 'replica' || (readOnlyRequested ?? this.defaultReadOnly());
    await this.openTransaction(readOnly, false);
    return control('BEGIN');
  }

  /**
   * Transactions are read-only on a replica, and otherwise by default when the session says so
   * (`SET default_transaction_read_only = on`, `SET SESSION CHARACTERISTICS AS TRANSACTION READ
   * ONLY`): autocommit statements, implicit transactions and BEGIN without READ WRITE.
   */
  private defaultReadOnly(): boolean {
    return (
      this.options.backend.role === 'replica' || this.settings?.get('default_transaction_read_only') === 'on'
    );
  }

  /** In a transaction made read-only after its first statement: a writing statement gets 25006. */
  private async refuseWrite(sql: string, prepared: PreparedStatement | null): Promise<void> {
    let readOnly = prepared?.shape?.readOnly;
    if (readOnly === undefined) {
      const reply = await this.options.backend.describe(sql);
      if (!reply.ok) throw new StatementError(reply.error);
      readOnly = reply.value.readOnly;
    }
    if (!readOnly)
      throw statementError('25006', 'cannot execute a writing statement in a read-only transaction');
  }

  /**
   * SET TRANSACTION READ ONLY / READ WRITE (and SET transaction_read_only), as PostgreSQL: only in a
   * transaction block (else a WARNING and no effect); READ WRITE only before the first statement and
   * never on a replica. Before the first statement the backend transaction, which has done nothing
   * yet, is replaced by one of the new mode (a read-only one never holds the writer); after it, a
   * read-only transaction is enforced here, statement by statement.
   */
  private async setTransactionMode(readOnly: boolean | undefined): Promise<ControlResult> {
    const state = this.transaction;
    if (state.kind === 'idle') {
      noticeResponse(this.out, {
        severity: 'WARNING',
        sqlstate: '25P01',
        message: 'SET TRANSACTION can only be used in transaction blocks',
      });
      return control('SET');
    }
    if (state.kind !== 'open' || readOnly === undefined || readOnly === state.readOnly) return control('SET');
    if (!readOnly && this.options.backend.role === 'replica') {
      throw statementError('25006', 'cannot set transaction read-write mode during recovery');
    }
    const savepoints = state.savepoints?.length ?? 0;
    if (this.transactionStatements > 0 || savepoints > 0) {
      if (!readOnly && savepoints > 0)
        throw statementError(
          '25001',
          'cannot set transaction read-write mode inside a read-only transaction',
        );
      if (!readOnly)
        throw statementError('25001', 'transaction read-write mode must be set before any query');
      this.transaction = { ...state, readOnly: true, checkReadOnly: true };
      return control('SET');
    }
    this.transaction = { kind: 'failed', transaction: null };
    await state.transaction.rollback();
    await this.openTransaction(readOnly, state.implicit);
    return control('SET');
  }

  /** SHOW transaction_read_only: the open transaction's mode, else the session's default. */
  private transactionReadOnly(): boolean {
    return this.transaction.kind === 'open' ? this.transaction.readOnly : this.defaultReadOnly();
  }

  private async openTransaction(readOnly: boolean, implicit: boolean): Promise<void> {
    const idleTimeoutMs = this.idleInTransactionTimeoutMs();
    const transactionRef: { current: BackendTransaction | null } = { current: null };
    const reply = await this.withSignal((signal) =>
      this.options.backend.begin({
        readOnly,
        session: this.options.processId,
        idleTimeoutMs,
        ...(this.serialAfterConflict ? { optimistic: false } : {}),
        signal,
        onAbandoned: (error) => this.onAbandoned(transactionRef, error),
      }),
    );
    if (!reply.ok) throw new StatementError(reply.error);
    transactionRef.current = reply.value;
    if (!readOnly) this.serialAfterConflict = false;
    this.transaction = { kind: 'open', transaction: reply.value, readOnly, implicit };
    this.transactionStatements = 0;
    // Kept when SET TRANSACTION replaces the backend transaction of a block that has begun.
    this.settingsScope ??= {
      atBegin: (this.settings as SessionSettings).snapshot(),
      local: new Set(),
      pendingSession: new Map(),
    };
  }

  /**
   * The session's `idle_in_transaction_session_timeout` (its default is the engine's); 0: none, as in
   * PostgreSQL (the transaction then holds the SQL writer until its client moves).
   */
  private idleInTransactionTimeoutMs(): number {
    const setting = this.settings?.get('idle_in_transaction_session_timeout');
    return setting === undefined ? this.options.limits.idleInTransactionTimeoutMs : parseDurationMs(setting);
  }

  /** The backend rolled our transaction back on its own: PostgreSQL terminates the session. */
  private onAbandoned(reference: { current: BackendTransaction | null }, error: BackendError): void {
    const state = this.transaction;
    const current = state.kind === 'idle' ? null : state.transaction;
    if (current === null || current !== reference.current) return;
    this.transaction = { kind: 'idle' };
    this.fatal({
      sqlstate: error.sqlstate,
      message: error.message,
      ...(error.detail === undefined ? {} : { detail: error.detail }),
    });
  }

  private async commit(): Promise<ControlResult> {
    const state = this.transaction;
    if (state.kind === 'idle') {
      noticeResponse(this.out, {
        severity: 'WARNING',
        sqlstate: '25P01',
        message: 'there is no transaction in progress',
      });
      return control('COMMIT');
    }
    this.transaction = { kind: 'idle' };
    this.portals.clear();
    if (state.kind === 'failed') {
      this.endSettingsScope(false);
      await state.transaction?.rollback();
      return control('ROLLBACK');
    }
    const reply = await state.transaction.commit();
    this.endSettingsScope(reply.ok);
    if (!reply.ok) {
      // The transaction is over either way (the backend rolled it back), as in PostgreSQL.
      await state.transaction.rollback();
      throw new StatementError(reply.error);
    }
    return control('COMMIT');
  }

  private async rollback(): Promise<ControlResult> {
    if (this.transaction.kind === 'idle') {
      noticeResponse(this.out, {
        severity: 'WARNING',
        sqlstate: '25P01',
        message: 'there is no transaction in progress',
      });
      return control('ROLLBACK');
    }
    this.portals.clear();
    await this.endTransaction();
    return control('ROLLBACK');
  }

  /** SAVEPOINT name: in an explicit block only, as PostgreSQL (an implicit one is not a block). */
  private async savepoint(name: string): Promise<ControlResult> {
    const state = this.savepointBlock('SAVEPOINT', name);
    const savepoints = state.savepoints ?? [];
    if (savepoints.length >= SAVEPOINTS_MAX) {
      throw statementError('54000', `too many savepoints in one transaction (limit ${SAVEPOINTS_MAX})`);
    }
    const reply = await state.transaction.savepoint();
    if (!reply.ok) throw new StatementError(reply.error);
    const scope = this.settingsScope as SettingsScope;
    const savepoint: Savepoint = {
      name,
      notifies: this.pendingNotifies.length,
      listens: this.pendingListens.length,
      settings: (this.settings as SessionSettings).snapshot(),
      local: new Set(scope.local),
      pendingSession: new Map(scope.pendingSession),
    };
    this.transaction = { ...state, savepoints: [...savepoints, savepoint] };
    return control('SAVEPOINT');
  }

  /** RELEASE [SAVEPOINT] name: destroys the newest savepoint of that name and every later one. */
  private async releaseSavepoint(name: string): Promise<ControlResult> {
    const state = this.savepointBlock('RELEASE SAVEPOINT', name);
    const savepoints = state.savepoints ?? [];
    const index = findSavepoint(savepoints, name);
    const reply = await state.transaction.release(index + 1);
    if (!reply.ok) throw new StatementError(reply.error);
    this.transaction = { ...state, savepoints: savepoints.slice(0, index) };
    return control('RELEASE');
  }

  /**
   * ROLLBACK TO [SAVEPOINT] name: undoes everything after the newest savepoint of that name, keeps it,
   * destroys the later ones, and puts the settings back as they were then. In a failed block it
   * resumes the block (unless the backend had to roll the whole transaction back: then it fails, and
   * the block stays failed until ROLLBACK).
   */
  private async rollbackToSavepoint(name: string): Promise<ControlResult> {
    const failed = this.transaction.kind === 'failed' ? this.transaction : null;
    const state = failed?.before ?? this.savepointBlock('ROLLBACK TO SAVEPOINT', name);
    const savepoints = state.savepoints ?? [];
    const index = findSavepoint(savepoints, name);
    const reply = await state.transaction.rollbackTo(index + 1);
    if (!reply.ok) throw new StatementError(reply.error);
    const savepoint = savepoints[index] as Savepoint;
    const settings = this.settings as SessionSettings;
    for (const status of settings.restore(savepoint.settings, null)) this.reportChange(status);
    const scope = this.settingsScope as SettingsScope;
    scope.local.clear();
    for (const local of savepoint.local) scope.local.add(local);
    scope.pendingSession.clear();
    for (const [key, value] of savepoint.pendingSession) scope.pendingSession.set(key, value);
    this.pendingNotifies.length = savepoint.notifies;
    this.pendingListens.length = savepoint.listens;
    this.transaction = { ...state, savepoints: savepoints.slice(0, index + 1) };
    return control('ROLLBACK');
  }

  /** The explicit block a savepoint command runs in; outside one, PostgreSQL's 25P01. */
  private savepointBlock(what: string, name: string): OpenTransaction {
    const state = this.transaction;
    if (state.kind === 'failed') {
      // ROLLBACK TO in a block that failed without a savepoint: none can match.
      throw statementError('3B001', `savepoint "${name}" does not exist`);
    }
    if (state.kind !== 'open' || state.implicit) {
      throw statementError('25P01', `${what} can only be used in transaction blocks`);
    }
    return state;
  }

  private async endTransaction(): Promise<void> {
    const state = this.transaction;
    this.transaction = { kind: 'idle' };
    this.endSettingsScope(false);
    if (state.kind === 'open') await state.transaction.rollback();
    if (state.kind === 'failed') await state.transaction?.rollback();
  }

  private runSessionCommand(classified: Classified): ControlResult {
    const settings = this.settings as SessionSettings;
    switch (classified.kind) {
      case 'set': {
        if (classified.name === '') return control(classified.tag);
        // `SELECT set_config(…)` answers with the value it set, as a one-row result.
        const done = (): ControlResult =>
          classified.resultColumn === undefined
            ? control(classified.tag)
            : {
                columns: [classified.resultColumn],
                rows: [[classified.value === null ? null : settings.get(classified.name)]],
                tag: classified.tag,
              };
        const scope = this.settingsScope;
        if (classified.local === true) {
          if (scope === null) {
            // PostgreSQL warns for SET LOCAL; set_config(…, true) lasts for its own implicit
            // transaction, which ends at once: either way nothing changes.
            if (classified.resultColumn === undefined) {
              noticeResponse(this.out, {
                severity: 'WARNING',
                sqlstate: '25P01',
                message: 'SET LOCAL can only be used in transaction blocks',
              });
            } else settings.get(classified.name); // an unknown name is still 42704
            return classified.resultColumn === undefined
              ? control(classified.tag)
              : { columns: [classified.resultColumn], rows: [[classified.value]], tag: classified.tag };
          }
          scope.local.add(classified.name.toLowerCase());
          this.reportChange(settings.set(classified.name, classified.value));
          return done();
        }
        this.reportChange(settings.set(classified.name, classified.value));
        scope?.pendingSession.set(classified.name.toLowerCase(), settings.stored(classified.name));
        return done();
      }
      case 'reset': {
        // RESET is a session-level change: it outlasts the commit, even of a SET LOCAL name.
        const scope = this.settingsScope;
        if (classified.name === 'all') {
          if (scope !== null) {
            const names = [...settings.snapshot().keys(), ...scope.atBegin.keys(), ...scope.local];
            for (const name of names) scope.pendingSession.set(name, undefined);
          }
          settings.resetAll();
          for (const status of settings.reported()) this.reportChange(status);
        } else {
          this.reportChange(settings.set(classified.name, null));
          scope?.pendingSession.set(classified.name.toLowerCase(), undefined);
        }
        return control('RESET');
      }
      case 'show':
        if (classified.name === 'all') {
          return {
            columns: ['name', 'setting'],
            rows: settings
              .all()
              .map((entry) => [
                entry.name,
                entry.name === 'transaction_read_only'
                  ? this.transactionReadOnly()
                    ? 'on'
                    : 'off'
                  : entry.value,
              ]),
            tag: 'SHOW',
          };
        }
        if (classified.name === 'transaction_read_only') {
          return {
            columns: [classified.resultColumn ?? classified.name],
            rows: [[this.transactionReadOnly() ? 'on' : 'off']],
            tag: classified.resultColumn === undefined ? 'SHOW' : 'SELECT 1',
          };
        }
        if (classified.resultColumn !== undefined) {
          // `SELECT current_setting('name' [, missing_ok])`.
          let value: string | null;
          try {
            value = settings.get(classified.name);
          } catch (error) {
            if (!(classified.missingOk === true && error instanceof PgSqlError && error.sqlstate === '42704'))
              throw error;
            value = null;
          }
          return { columns: [classified.resultColumn], rows: [[value]], tag: 'SELECT 1' };
        }
        return { columns: [classified.name], rows: [[settings.get(classified.name)]], tag: 'SHOW' };
      case 'discard':
        if (this.transaction.kind !== 'idle') {
          throw statementError('25001', `${classified.tag} cannot run inside a transaction block`);
        }
        this.statements.clear();
        this.portals.clear();
        settings.resetAll();
        return control(classified.tag);
      case 'deallocate':
        if (classified.name === null) this.statements.clear();
        else if (!this.statements.delete(classified.name)) {
          throw statementError('26000', `prepared statement "${classified.name}" does not exist`);
        }
        return control(classified.name === null ? 'DEALLOCATE ALL' : 'DEALLOCATE');
      default:
        throw statementError('XX000', `unexpected statement kind ${classified.kind}`);
    }
  }

  /**
   * The transaction ended: a rollback restores every setting to its value when it began; a commit
   * restores only the names SET LOCAL changed, each to the session value SET or RESET gave it in the
   * transaction, else to its value when the transaction began (`BEGIN; SET x = 1; SET LOCAL x = 2;
   * COMMIT` leaves 1, as PostgreSQL does). Reported settings that change are sent as ParameterStatus.
   */
  private endSettingsScope(committed: boolean): void {
    this.endNotificationScope(committed);
    const scope = this.settingsScope;
    this.settingsScope = null;
    if (scope === null) return;
    const settings = this.settings as SessionSettings;
    if (!committed) {
      for (const status of settings.restore(scope.atBegin, null)) this.reportChange(status);
      return;
    }
    const target = new Map<string, string | undefined>();
    for (const name of scope.local) {
      target.set(
        name,
        scope.pendingSession.has(name) ? scope.pendingSession.get(name) : scope.atBegin.get(name),
      );
    }
    for (const status of settings.restore(target, [...target.keys()])) this.reportChange(status);
  }

  private reportChange(status: { name: string; value: string } | null): void {
    if (status !== null) parameterStatus(this.out, status.name, status.value);
  }

  // -------------------------------------------------------------------------------------------
  // Extended protocol.

  private async parse(name: string, sql: string, declaredTypes: readonly number[]): Promise<void> {
    this.currentQuery = sql;
    if (name !== '' && this.statements.has(name)) {
      throw statementError('42P05', `prepared statement "${name}" already exists`);
    }
    if (name !== '' && this.statements.size >= this.options.limits.preparedStatementsMax) {
      throw statementError(
        '54000',
        `too many prepared statements (limit ${this.options.limits.preparedStatementsMax})`,
      );
    }
    const statements = splitStatements(sql);
    if (statements.length > 1) {
      throw statementError('42601', 'cannot insert multiple commands into a prepared statement');
    }
    const tokens = statements[0] ?? tokenize('');
    const classified = classify(tokens);
    this.forgetColumnTypesOnDdl(classified);
    let translation: Translation | null = null;
    let shape: StatementShape | null = null;
    if (classified.kind === 'sql') {
      if (this.transaction.kind === 'failed') {
        throw statementError(
          '25P02',
          'current transaction is aborted, commands ignored until end of transaction block',
        );
      }
      translation = translate(await this.withColumnTypedLiterals(tokens), await this.factsFor(tokens));
      const explain = translation.explain;
      // EXPLAIN: the statement explained is described (its parameters, whether it writes), and the
      // result is EXPLAIN's one column.
      const described = explain?.statement ?? translation;
      const reply = await this.options.backend.describe(described.describeSql ?? described.sql);
      if (!reply.ok) throw new StatementError(reply.error);
      shape =
        explain === undefined
          ? reply.value
          : {
              parameterCount: reply.value.parameterCount,
              columns: [EXPLAIN_COLUMN],
              declaredTypes: [explainDeclaredType(explain.options.format)],
              readOnly: !explain.options.analyze || reply.value.readOnly,
            };
    }
    // `SELECT pg_terminate_backend($1)`: the pid parameter, an int4.
    const signalPid =
      classified.kind === 'signal-backend' && 'parameter' in classified.pid ? classified.pid.parameter : 0;
    // `SELECT pg_advisory_lock($1)`: a bigint key; `pg_advisory_lock($1, $2)`: two int4.
    const controlParameters = new Map<number, number>();
    if (classified.kind === 'advisory-lock') {
      for (const key of classified.keys)
        if ('parameter' in key)
          controlParameters.set(key.parameter, classified.keys.length === 2 ? Oid.int4 : Oid.int8);
    }
    // `SELECT pg_notify($1, $2)`: text.
    if (classified.kind === 'notify') {
      for (const argument of [classified.channel, classified.payload])
        if ('parameter' in argument) controlParameters.set(argument.parameter, Oid.text);
    }
    const count = Math.max(
      declaredTypes.length,
      translation?.parameterCount ?? 0,
      shape?.parameterCount ?? 0,
      signalPid,
      ...controlParameters.keys(),
    );
    const parameterTypes: number[] = [];
    for (let index = 0; index < count; index++) {
      const declared = declaredTypes[index] ?? 0;
      const cast = index + 1 === signalPid ? 'int4' : translation?.castTypes.get(index + 1);
      const answered = controlParameters.get(index + 1);
      parameterTypes.push(
        declared !== 0
          ? declared
          : answered !== undefined
            ? answered
            : cast === undefined
              ? 0
              : castTypeOid(cast),
      );
    }
    const columnTypes =
      parameterTypes.includes(0) && translation !== null
        ? await this.columnTypes(translation.normalizedTokens ?? withPostgresForms(tokens))
        : [];
    this.statements.set(name, {
      tokens,
      classified,
      translation,
      shape,
      parameterTypes,
      columnTypes,
      describedAsText: false,
    });
    parseComplete(this.out);
  }

  /**
   * The types of the columns the statement's untyped parameters stand for (parameter-columns.ts), by
   * parameter index (0: none known), from a describe of `SELECT those columns FROM the table` (its
   * declared types). Only the types whose text input PostgreSQL checks or converts are taken:
   * booleans, integers (as int8: SQLite's INTEGER holds 64 bits whatever it was declared), floats and
   * timestamptz. Asked once per statement shape and connection (`columnTypesCache`, dropped when this
   * connection changes the schema); a describe that fails gives none.
   */
  private async columnTypes(normalized: readonly Token[]): Promise<number[]> {
    const found = parameterColumns(normalized);
    if (found === null) return [];
    const parameters = [...found.columns.keys()];
    const probe = `SELECT ${parameters.map((parameter) => found.columns.get(parameter)).join(', ')} FROM ${found.table}`;
    let declared = this.columnTypesCache.get(probe);
    if (declared === undefined) {
      const reply = await this.options.backend.describe(probe);
      if (!reply.ok) return []; // not kept: it may answer once the schema has changed
      declared = reply.value.declaredTypes ?? [];
      if (this.columnTypesCache.size >= COLUMN_TYPES_CACHE_MAX) this.columnTypesCache.clear();
      this.columnTypesCache.set(probe, declared);
    }
    const types: number[] = [];
    parameters.forEach((parameter, index) => {
      const oid = declaredTypeOid(declared[index] ?? '');
      const taken = oid === null ? undefined : TYPED_BY_COLUMN.get(oid);
      if (taken !== undefined) types[parameter - 1] = taken;
    });
    return Array.from({ length: types.length }, (_, index) => types[index] ?? 0);
  }

  /**
   * The statement with each untyped string literal that stands for a column (literalColumns in
   * parameter-columns.ts: compared with it, a BETWEEN bound or IN element of it, or stored into it)
   * cast to that column's type when PostgreSQL would convert its text (LITERAL_CASTS), as PostgreSQL
   * resolves a literal against its column: `WHERE at >= '2024-05-06T00:00:00Z'` on a timestamptz
   * column compares instants (Grafana's `$__timeFilter`), `INSERT … VALUES ('… 10:00:00+02')` stores
   * UTC, `WHERE active = 'yes'` finds the rows stored true, and `'12abc'` for an integer is 22P02.
   * The columns come from a describe of `SELECT * FROM t`, once per table and connection, and again
   * when a statement names a column (or a position) that answer lacks.
   */
  private async withColumnTypedLiterals(tokens: readonly Token[]): Promise<readonly Token[]> {
    if (!tokens.some((token) => token.kind === 'string')) return tokens;
    // Over PostgreSQL's forms made SQLite's (`public.t` → `t`), which keep the literal tokens as they are.
    const found = literalColumns(withPostgresForms(tokens));
    // The catalogs' columns are the engine's own answers (catalog.ts), not a table to describe.
    if (found === null || /^"?(pg_|information_schema)/i.test(found.table)) return tokens;
    let table = await this.tableColumns(found.table);
    const positionOf = (column: string | number): number =>
      table === undefined
        ? -1
        : typeof column === 'number'
          ? column < table.names.length
            ? column
            : -1
          : table.names.findIndex((name) => namesColumn(column, name));
    // A column the kept answer lacks: another connection may have changed the table; ask again once.
    if (table !== undefined && [...found.columns.values()].some((column) => positionOf(column) < 0)) {
      this.tableColumnsCache.delete(found.table);
      table = await this.tableColumns(found.table);
    }
    if (table === undefined) return tokens;
    const casts = new Map<Token, string>();
    for (const [literal, column] of found.columns) {
      const position = positionOf(column);
      const oid = position < 0 ? null : declaredTypeOid(table.types[position] ?? '');
      const cast = oid === null ? undefined : LITERAL_CASTS.get(oid);
      if (cast !== undefined && !UNCAST_SPECIAL_VALUES.test(literal.value ?? '')) casts.set(literal, cast);
    }
    if (casts.size === 0) return tokens;
    return tokens.flatMap((token) => {
      const cast = casts.get(token);
      return cast === undefined
        ? [token]
        : [token, { kind: 'cast', text: '::' }, { kind: 'identifier', text: cast }];
    });
  }

  /**
   * The session's facts for translating `tokens`: with the table's columns, asked now, when the
   * statement is an `ALTER TABLE` whose `IF [NOT] EXISTS` depends on them (statement-rewrites.ts).
   */
  private async factsFor(tokens: readonly Token[]): Promise<SessionFacts> {
    const facts = this.facts as SessionFacts;
    const table = alterTableNeedingColumns(tokens);
    if (table === null) return facts;
    this.tableColumnsCache.delete(table); // a schema decision: never on a kept answer
    const columns = await this.tableColumns(table);
    return { ...facts, columnsOf: (name) => (name === table ? (columns?.names ?? null) : undefined) };
  }

  /** NOTICEs for what a statement skipped (`ADD COLUMN IF NOT EXISTS` a column that exists). */
  private sendNotices(translation: Translation): void {
    for (const notice of translation.notices ?? [])
      noticeResponse(this.out, { severity: 'NOTICE', sqlstate: notice.sqlstate, message: notice.message });
  }

  /** The names and declared types of a table's columns, or undefined when the describe fails. */
  private async tableColumns(
    table: string,
  ): Promise<{ readonly names: readonly string[]; readonly types: readonly string[] } | undefined> {
    const cached = this.tableColumnsCache.get(table);
    if (cached !== undefined) return cached;
    const reply = await this.options.backend.describe(`SELECT * FROM ${table}`);
    if (!reply.ok) return undefined; // not kept: it may answer once the schema has changed
    const columns = { names: reply.value.columns, types: reply.value.declaredTypes ?? [] };
    if (this.tableColumnsCache.size >= COLUMN_TYPES_CACHE_MAX) this.tableColumnsCache.clear();
    this.tableColumnsCache.set(table, columns);
    return columns;
  }

  /** A schema change through this connection may change the columns `columnTypes` looked at. */
  private forgetColumnTypesOnDdl(classified: Classified): void {
    if (classified.kind === 'sql' && ['CREATE', 'DROP', 'ALTER'].includes(classified.firstWord)) {
      this.columnTypesCache.clear();
      this.tableColumnsCache.clear();
    }
  }

  private bind(message: Extract<FrontendMessage, { type: 'Bind' }>): void {
    const statement = this.statements.get(message.statement);
    if (statement === undefined) {
      throw statementError('26000', `prepared statement "${message.statement}" does not exist`);
    }
    if (message.portal !== '' && this.portals.has(message.portal)) {
      throw statementError('42P03', `cursor "${message.portal}" already exists`);
    }
    if (message.portal !== '' && this.portals.size >= this.options.limits.preparedStatementsMax) {
      throw statementError('54000', `too many portals (limit ${this.options.limits.preparedStatementsMax})`);
    }
    const expected = statement.parameterTypes.length;
    if (message.parameters.length !== expected) {
      throw statementError(
        '08P01',
        `bind message supplies ${message.parameters.length} parameters, but prepared statement "${message.statement}" requires ${expected}`,
      );
    }
    const formats = message.parameterFormats;
    if (formats.length > 1 && formats.length !== message.parameters.length) {
      throw statementError(
        '08P01',
        `bind message has ${formats.length} parameter formats but ${message.parameters.length} parameters`,
      );
    }
    const columnCount = statement.shape?.columns.length ?? controlColumns(statement.classified).length;
    if (message.resultFormats.length > 1 && message.resultFormats.length !== columnCount) {
      throw statementError(
        '08P01',
        `bind message has ${message.resultFormats.length} result formats but query has ${columnCount} columns`,
      );
    }
    const parameters = message.parameters.map((bytes, index) => {
      if (bytes === null) return null;
      const oid = statement.parameterTypes[index] as number;
      if (formatOf(formats, index) === 1) return decodeBinaryParameter(bytes, oid, index + 1);
      // An untyped text parameter is read as its column's type, when the statement says which.
      return decodeTextParameter(decodeUtf8(bytes), oid === 0 ? (statement.columnTypes[index] ?? 0) : oid);
    });
    this.portals.set(message.portal, {
      statement,
      parameters,
      resultFormats: message.resultFormats,
      result: null,
      rowsSent: 0,
    });
    bindComplete(this.out);
  }

  private describeStatement(name: string): void {
    const statement = this.statements.get(name);
    if (statement === undefined) throw statementError('26000', `prepared statement "${name}" does not exist`);
    parameterDescription(
      this.out,
      statement.parameterTypes.map((oid) => (oid === 0 ? Oid.text : oid)),
    );
    const columns = statement.shape?.columns ?? controlColumns(statement.classified);
    if (columns.length === 0) {
      noData(this.out);
      return;
    }
    // Before running, SQLite cannot say what types a column's values will have: promise text,
    // and keep the promise in every portal of this statement.
    statement.describedAsText = true;
    rowDescription(
      this.out,
      this.describeColumns(
        columns,
        columns.map(() => Oid.text),
        [],
      ),
    );
  }

  /**
   * Describe of a portal must give result types before Execute. SQLite's types are the values'
   * own, so a portal that returns rows is run here and its rows buffered (bounded by
   * resultBytesMax); Execute then hands them out. Statements without result columns (UPDATE…) are
   * not run until Execute.
   */
  private async describePortal(name: string): Promise<void> {
    const portal = this.portals.get(name);
    if (portal === undefined) throw statementError('34000', `portal "${name}" does not exist`);
    const statement = portal.statement;
    const hasRows =
      (statement.shape?.columns.length ?? 0) > 0 || controlColumns(statement.classified).length > 0;
    if (!hasRows) {
      noData(this.out);
      return;
    }
    const result = await this.runPortal(portal, 'describe');
    rowDescription(this.out, this.describeColumns(result.columns, result.oids, portal.resultFormats));
  }

  private async runPortal(portal: Portal, executionPoint: 'describe' | 'execute'): Promise<BufferedResult> {
    if (portal.result !== null) return portal.result;
    const statement = portal.statement;
    const outcome = await this.runOne(
      statement.tokens,
      statement.classified,
      portal.parameters,
      statement,
      executionPoint,
      portal.resultFormats,
    );
    const result: BufferedResult =
      'tag' in outcome
        ? {
            columns: outcome.columns,
            rows: outcome.rows,
            changes: 0,
            oids: outcome.columns.map((_, column) => outcome.types?.[column] ?? Oid.text),
          }
        : outcome;
    portal.result = result;
    if ('tag' in outcome) controlTags.set(portal, outcome.tag);
    return result;
  }

  private async execute(name: string, maxRows: number): Promise<void> {
    const portal = this.portals.get(name);
    if (portal === undefined) throw statementError('34000', `portal "${name}" does not exist`);
    const statement = portal.statement;
    this.noteQuery(statement.tokens);
    if (statement.classified.kind === 'empty') {
      emptyQueryResponse(this.out);
      return;
    }
    const result = await this.runPortal(portal, 'execute');
    const from = portal.rowsSent;
    const to = maxRows > 0 ? Math.min(result.rows.length, from + maxRows) : result.rows.length;
    await this.sendRows(result, from, to, portal.resultFormats);
    portal.rowsSent = to;
    if (to < result.rows.length) {
      portalSuspended(this.out);
      return;
    }
    const tag =
      controlTags.get(portal) ??
      commandTag(statement.tokens, { columns: result.columns, rowCount: to - from, changes: result.changes });
    commandComplete(this.out, tag);
  }

  // -------------------------------------------------------------------------------------------
  // COPY … FROM STDIN / TO STDOUT (the statement: copy-statement.ts; the data formats:
  // copy-format.ts; typing fields and batching rows: copy-load.ts).

  private async runCopy(tokens: readonly Token[], executionPoint: ExecutionPoint): Promise<ControlResult> {
    const command = parseCopyStatement(tokens);
    return command.direction === 'to'
      ? this.copyTo(command, executionPoint)
      : this.copyFrom(command, executionPoint);
  }

  /**
   * COPY … TO STDOUT: the rows are read as one statement (so bounded by resultBytesMax, like any
   * result), then sent as CopyOutResponse, a CopyData per row, CopyDone.
   */
  private async copyTo(
    command: Extract<CopyCommand, { direction: 'to' }>,
    executionPoint: ExecutionPoint,
  ): Promise<ControlResult> {
    const source = command.source;
    const queryTokens =
      source.kind === 'query'
        ? source.tokens
        : tokenize(
            `SELECT ${source.table.columns?.map(quoteIdentifier).join(', ') ?? '*'} FROM ${source.table.sql}`,
          );
    const classified = classify(queryTokens);
    if (classified.kind !== 'sql') throw statementError('42601', 'COPY (…) TO takes a query');
    if (
      !['SELECT', 'VALUES', 'WITH', 'TABLE'].includes(classified.firstWord) &&
      !queryTokens.some((token) => token.kind === 'identifier' && token.text.toUpperCase() === 'RETURNING')
    ) {
      throw statementError('0A000', 'COPY query must have a RETURNING clause');
    }
    // Text format: every column's values in its type's text output (a boolean column as t/f).
    const result = await this.runSql(queryTokens, classified, [], null, executionPoint, []);
    const options = command.options;
    checkForcedColumns(options.forceQuote, result.columns, 'FORCE_QUOTE');
    const forced = forceQuoteFlags(result.columns, options);
    copyResponse(this.out, 'out', result.columns.length);
    if (options.header !== 'none') copyData(this.out, encodeUtf8(encodeCopyHeader(result.columns, options)));
    for (const row of result.rows) {
      if (this.out.byteLength >= OUTPUT_FLUSH_BYTES) await this.flush();
      const texts = row.map((value, column) =>
        value === null ? null : copyValueText(value, result.oids[column] ?? Oid.text),
      );
      copyData(this.out, encodeUtf8(encodeCopyRow(texts, options, forced)));
    }
    copyDone(this.out);
    return control(`COPY ${result.rows.length}`);
  }

  /**
   * COPY … FROM STDIN. Rows are inserted as they arrive, in batches of multi-row INSERTs
   * (copy-load.ts), all in ONE transaction: the open block's, else one of its own committed at
   * CopyDone. So a bad row anywhere, a CopyFail, a cancel, a failed batch or a client that goes away
   * leaves nothing. Input is held no longer than one batch, one incomplete row and the decoder's
   * unread messages (bounded as always): the client is read only as fast as the batches run
   * (`nextCopyMessage`).
   */
  private async copyFrom(
    command: Extract<CopyCommand, { direction: 'from' }>,
    executionPoint: ExecutionPoint,
  ): Promise<ControlResult> {
    if (this.transactionReadOnly()) {
      throw this.options.backend.role === 'replica'
        ? statementError(
            '25006',
            'cannot execute COPY FROM on a read-only replica',
            'Send writes to the read-write endpoint (the writer).',
          )
        : statementError('25006', 'cannot execute COPY FROM in a read-only transaction');
    }
    const table = command.table;
    const columns = await this.copyColumns(table, command.options, executionPoint);
    const decoder = new CopyDecoder(
      command.options,
      columns.map((column) => column.name),
    );
    const batcher = new CopyBatcher(table.sql, table.name, columns);
    const ownTransaction = this.transaction.kind === 'idle';
    if (ownTransaction) await this.openTransaction(false, true);
    copyResponse(this.out, 'in', columns.length);
    let rowCount = 0;
    try {
      for (;;) {
        const message = await this.nextCopyMessage();
        if (message.type === 'CopyData') {
          rowCount += await this.loadCopyRows(decoder.push(message.data), batcher);
        } else if (message.type === 'CopyDone') {
          rowCount += await this.loadCopyRows(decoder.finish(), batcher);
          await this.insertCopyBatch(batcher);
          break;
        } else if (message.type === 'CopyFail') {
          throw statementError('57014', `COPY from stdin failed: ${message.message}`);
        } else if (message.type === 'Terminate') {
          void this.closed();
          this.hooks.close();
          throw COPY_CONNECTION_GONE;
        } else if (message.type !== 'Flush' && message.type !== 'Sync') {
          // Flush and Sync are ignored, as PostgreSQL ignores them (libpq sends a Sync behind an
          // extended-protocol COPY before it knows it is one); anything else ends the COPY.
          throw statementError('08P01', `unexpected ${message.type} message during COPY from stdin`);
        }
      }
    } catch (error) {
      if (!(error instanceof CopyDataError)) throw error;
      throw new StatementError({
        sqlstate: error.sqlstate,
        message: error.message,
        where: error.context(table.name),
        ...(error.hint === undefined ? {} : { hint: error.hint }),
      });
    }
    if (ownTransaction) await this.commitCopyTransaction();
    return control(`COPY ${rowCount}`);
  }

  /** The target columns, from the table's `PRAGMA table_info` (every column unless COPY lists some). */
  private async copyColumns(
    table: CopyTable,
    options: CopyOptions,
    executionPoint: ExecutionPoint,
  ): Promise<CopyColumn[]> {
    const withSchema = table.schema !== null;
    const result = await this.runSql(
      tokenize(`SELECT name, type FROM pragma_table_info($1${withSchema ? ', $2' : ''})`),
      { kind: 'sql', firstWord: 'SELECT' },
      withSchema ? [table.name, table.schema] : [table.name],
      null,
      executionPoint,
      [],
    );
    if (result.rows.length === 0) throw statementError('42P01', `relation "${table.name}" does not exist`);
    const all = result.rows.map((row) => copyColumn(String(row[0]), String(row[1] ?? '')));
    let columns = all;
    if (table.columns !== null) {
      const seen = new Set<string>();
      columns = table.columns.map((name) => {
        const key = name.toLowerCase();
        const column = all.find((candidate) => candidate.name.toLowerCase() === key);
        if (column === undefined) {
          throw statementError('42703', `column "${name}" of relation "${table.name}" does not exist`);
        }
        if (seen.has(key)) throw statementError('42701', `column "${name}" specified more than once`);
        seen.add(key);
        return column;
      });
    }
    const names = columns.map((column) => column.name);
    checkForcedColumns(options.forceNotNull, names, 'FORCE_NOT_NULL');
    checkForcedColumns(options.forceNull, names, 'FORCE_NULL');
    return columns;
  }

  /** Adds rows to the batch, inserting each batch that fills; the number of rows added. */
  private async loadCopyRows(rows: readonly CopyRow[], batcher: CopyBatcher): Promise<number> {
    for (const row of rows) {
      batcher.add(row);
      if (batcher.full) await this.insertCopyBatch(batcher);
    }
    return rows.length;
  }

  private async insertCopyBatch(batcher: CopyBatcher): Promise<void> {
    const batch = batcher.take();
    if (batch === null) return;
    const state = this.transaction;
    // The transaction is gone only when the connection is (an idle timeout ended it: FATAL sent).
    if (state.kind !== 'open') throw COPY_CONNECTION_GONE;
    this.transactionStatements += 1;
    const reply = await this.withSignal((signal) =>
      state.transaction.run({ sql: batch.sql, params: batch.params }, signal, this.lockWaitMs(), true),
    );
    if (!reply.ok) throw new StatementError({ ...reply.error, where: batcher.batchContext(batch) });
  }

  /** CopyDone of a COPY that opened its own transaction: commit it (a failed commit rolled it back). */
  private async commitCopyTransaction(): Promise<void> {
    const state = this.transaction;
    if (state.kind !== 'open') throw COPY_CONNECTION_GONE;
    this.transaction = { kind: 'idle' };
    const reply = await state.transaction.commit();
    this.endSettingsScope(reply.ok);
    if (reply.ok) return;
    await state.transaction.rollback();
    throw new StatementError(reply.error);
  }

  /**
   * The next message of a COPY FROM STDIN, waiting for the client when none is buffered. Reading is
   * resumed only here, when every buffered message has been taken, so a client sending faster than
   * the batches run is held back by TCP instead of filling memory.
   */
  private async nextCopyMessage(): Promise<FrontendMessage> {
    for (;;) {
      if (this.phase === 'closed') throw COPY_CONNECTION_GONE;
      const message = this.decoder.next() as FrontendMessage | null;
      if (message !== null) {
        this.hooks.onMessage?.(message.type);
        return message;
      }
      if (!this.reading) {
        this.reading = true;
        this.hooks.setReading(true);
      }
      await this.flush();
      await this.waitForCopyInput();
    }
  }

  /**
   * Waits for bytes from the client. A CancelRequest ends the wait with 57014, the connection's end
   * with COPY_CONNECTION_GONE, and a client silent for the idle-in-transaction timeout (the COPY is a
   * transaction, which may hold the SQL writer) with FATAL 25P03, as an idle transaction block gets.
   */
  private waitForCopyInput(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const controller = new AbortController();
      const timeoutMs = this.idleInTransactionTimeoutMs();
      const finish = (error: StatementError | null) => {
        timer?.cancel();
        this.inputWaiter = null;
        if (this.inFlight === controller) this.inFlight = null;
        if (error === null) resolve();
        else reject(error);
      };
      const timer =
        timeoutMs > 0
          ? this.options.clock.setTimer(timeoutMs, () =>
              finish(
                new StatementError({
                  sqlstate: '25P03',
                  message: 'terminating connection due to idle-in-transaction timeout',
                  fatal: true,
                }),
              ),
            )
          : null;
      this.inFlight = controller;
      this.inputWaiter = () => finish(null);
      controller.signal.addEventListener(
        'abort',
        () =>
          finish(
            this.phase === 'closed'
              ? COPY_CONNECTION_GONE
              : statementError('57014', 'canceling statement due to user request'),
          ),
        { once: true },
      );
    });
  }
}

interface ControlResult {
  readonly columns: readonly string[];
  /** Each column's type; text when absent. */
  readonly types?: readonly number[];
  readonly rows: readonly (readonly PgValue[])[];
  /** '' for an empty statement (EmptyQueryResponse). */
  readonly tag: string;
}

/** Where the extended protocol runs a portal (null: a simple Query). */
type ExecutionPoint = 'describe' | 'execute' | null;

/** Tags of portals over statements the protocol layer answered itself (BEGIN, SET…). */
const controlTags = new WeakMap<Portal, string>();

/** The newest savepoint of that name (PostgreSQL allows duplicates); 3B001 when there is none. */
function findSavepoint(savepoints: readonly Savepoint[], name: string): number {
  const index = savepoints.findLastIndex((savepoint) => savepoint.name === name);
  if (index < 0) throw statementError('3B001', `savepoint "${name}" does not exist`);
  return index;
}

function control(tag: string): ControlResult {
  return { columns: [], rows: [], tag };
}

/** A COPY ended because its connection did (the client left, or a FATAL error closed it). */
const COPY_CONNECTION_GONE = new StatementError({
  sqlstate: '08006',
  message: 'connection ended during COPY',
});

/** FORCE_… options must name columns the COPY has (PostgreSQL: 42P10). */
function checkForcedColumns(
  selection: readonly string[] | '*',
  columns: readonly string[],
  option: string,
): void {
  if (selection === '*') return;
  for (const name of selection) {
    if (!columns.some((column) => column.toLowerCase() === name.toLowerCase())) {
      throw statementError('42P10', `${option} column "${name}" not referenced by COPY`);
    }
  }
}

function formatOf(formats: readonly FormatCode[], index: number): FormatCode {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] as FormatCode;
  return formats[index] ?? 0;
}

/** The result columns of a statement the protocol layer answers itself (SHOW, SELECT set_config…). */
function controlColumns(classified: Classified): string[] {
  if (classified.kind === 'show') return [classified.resultColumn ?? 'setting'];
  if (classified.kind === 'signal-backend' || classified.kind === 'advisory-lock')
    return [classified.resultColumn];
  if (classified.kind === 'set' && classified.resultColumn !== undefined) return [classified.resultColumn];
  if (classified.kind === 'notify' && classified.resultColumn !== undefined) return [classified.resultColumn];
  return [];
}
