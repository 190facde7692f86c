/**
 * What the PostgreSQL wire-protocol server (issue 8) needs from the engine: the seam between the
 * protocol (`src/core/pgwire/`, pure) and the engine that runs SQL (`src/io/pg-backend.ts`, over the
 * writer's or a replica's kernel).
 *
 * SQL crosses this seam in SQLite's dialect, already translated from PostgreSQL's forms (`$n`
 * parameters become `?n`, `SERIAL` becomes `INTEGER`…): transaction control (BEGIN, COMMIT,
 * ROLLBACK…), SET, SHOW and the catalog queries clients send on connect never reach the backend; the
 * protocol layer answers them or turns them into `begin`/`commit`/`rollback` calls.
 *
 * One engine has one SQLite connection, so one writer: an interactive transaction (BEGIN … COMMIT
 * across round trips) holds it, and every other request of every other connection waits for it to
 * end. The backend bounds that wait: a transaction that stays idle (no call) longer than its idle
 * timeout is rolled back, its handle answers every later call with 25P03, and `onAbandoned` tells the
 * connection, which terminates the client as PostgreSQL does (FATAL 25P03).
 */

/**
 * A value, typed by SQLite's storage class: INTEGER → bigint, REAL → number, TEXT → string, BLOB →
 * Uint8Array, NULL → null. A bound parameter may also be a boolean (bound as 0/1) or a number that is
 * an integer (bound as INTEGER).
 */
export type PgParam = bigint | number | string | Uint8Array | boolean | null;
export type PgValue = bigint | number | string | Uint8Array | null;

/** A failure, in PostgreSQL's terms: the SQLSTATE and message of an ErrorResponse. */
export interface BackendError {
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** CONTEXT: where it happened (a COPY's line). */
  readonly where?: string;
  /** FATAL (the connection must be closed after sending it) rather than ERROR. */
  readonly fatal?: boolean;
}

/** What a prepared statement looks like, before it runs (Parse, Describe). */
export interface StatementShape {
  /** The highest parameter number the statement uses (`?1`…`?n`). */
  readonly parameterCount: number;
  /** Result column names in order; empty for a statement that returns no rows. */
  readonly columns: readonly string[];
  /** SQLite says the statement does not write (`sqlite3_stmt_readonly`). */
  readonly readOnly: boolean;
  /** Each result column's declared type (as in StatementOutcome), when the backend can tell. */
  readonly declaredTypes?: readonly string[];
}

/** The result of one statement. */
export interface StatementOutcome {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly PgValue[])[];
  /** Rows inserted, updated or deleted by the statement. */
  readonly changes: number;
  /**
   * Each column's declared type, as SQLite keeps it (`BIGINT`, `varchar(20)`), when it is a direct
   * reference to a table column; '' (or absent) when it is not or the backend cannot tell. The
   * protocol types the column by it when its values fit (types.ts).
   */
  readonly declaredTypes?: readonly string[];
}

export interface BackendStatement {
  readonly sql: string;
  readonly params?: readonly PgParam[];
}

export type BackendReply<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: BackendError };

export interface TransactionOptions {
  readonly readOnly: boolean;
  /** The session's pid: named when another session gives up waiting for the writer it holds. */
  readonly session?: number;
  /** Rolled back after this long without a call (default: the backend's configured idle timeout; 0: never). */
  readonly idleTimeoutMs?: number;
  /** Called once if the backend rolls the transaction back on its own (idle timeout, engine stop). */
  readonly onAbandoned?: (error: BackendError) => void;
  /** CancelRequest or statement timeout: the wait for the writer, or the running statement, ends with 57014. */
  readonly signal?: AbortSignal;
  /**
   * false: the transaction holds the SQL writer from its first statement even when the engine runs
   * transactions optimistically (`--pg-transactions optimistic`); the session asks this after a
   * serialization failure.
   */
  readonly optimistic?: boolean;
}

/**
 * An open interactive transaction. Calls are made one at a time (the protocol layer awaits each).
 * After a failed `run` (or savepoint call) the transaction is already rolled back inside the engine
 * (the writer is free again) — unless it holds a savepoint: then the engine keeps it, aborted and
 * holding the writer, so that `rollbackTo` can resume it (if the engine had to roll all of it back,
 * `rollbackTo` fails and says so). The protocol layer keeps the client in the failed state until it
 * sends ROLLBACK or ROLLBACK TO, and calls `rollback()`, which is always safe to call and never fails.
 *
 * Savepoints are named by their depth in the block's stack (1: the outermost); the protocol layer
 * keeps the names, and calls these only with depths the stack holds.
 */
export interface BackendTransaction {
  /**
   * `lockWaitMs`: how long to wait for the SQL writer (the session's `lock_timeout`; 0: no limit).
   * `holdWriter`: one of a bulk load's many statements (COPY): the transaction holds the SQL writer
   * from here on even when the engine runs transactions optimistically.
   */
  run(
    statement: BackendStatement,
    signal?: AbortSignal,
    lockWaitMs?: number,
    holdWriter?: boolean,
  ): Promise<BackendReply<StatementOutcome>>;
  /** Commits, and answers once the commit is durable (VDL ≥ its commit LSN). */
  commit(): Promise<BackendReply<void>>;
  rollback(): Promise<void>;
  /** SAVEPOINT: a savepoint one deeper than the stack holds. */
  savepoint(): Promise<BackendReply<void>>;
  /** RELEASE SAVEPOINT: destroys the savepoint at `depth` and every later one. */
  release(depth: number): Promise<BackendReply<void>>;
  /**
   * ROLLBACK TO SAVEPOINT: undoes everything after the savepoint at `depth`, keeps it, destroys the
   * later ones, and resumes a transaction a failure aborted.
   */
  rollbackTo(depth: number): Promise<BackendReply<void>>;
}

export interface SqlBackend {
  /** 'replica': every transaction is read-only; a write gets 25006. */
  readonly role: 'writer' | 'replica';
  /** Shown to clients: `server_version` and `version()`. */
  readonly serverVersion: string;
  /** Prepares without running: the parameter count and result columns (Parse, Describe). */
  describe(sql: string): Promise<BackendReply<StatementShape>>;
  /**
   * Runs statements as ONE transaction outside any interactive one (autocommit), all or nothing,
   * and answers once what it wrote and read is durable.
   */
  run(
    statements: readonly BackendStatement[],
    options: {
      readonly readOnly: boolean;
      readonly signal?: AbortSignal;
      /** How long to wait for the SQL writer (the session's `lock_timeout`; 0: no limit). */
      readonly lockWaitMs?: number;
    },
  ): Promise<BackendReply<readonly StatementOutcome[]>>;
  /** Opens an interactive transaction; waits while another one holds the writer. */
  begin(options: TransactionOptions): Promise<BackendReply<BackendTransaction>>;
}
