/**
 * TEST ONLY: a `SqlBackend` over better-sqlite3 (real SQLite, in memory or a file), so the wire
 * protocol can be driven by real clients before and independently of the engine. It keeps the seam's
 * contract the way the engine does: one SQLite connection, so one writer; an interactive transaction
 * holds a lock that every other call waits for; an idle transaction is rolled back after its idle
 * timeout and `onAbandoned` is called with 25P03; a failed `run` inside a transaction rolls it back,
 * unless the transaction holds a savepoint and SQLite kept it: then it stays, aborted, for
 * `rollbackTo` (SQLite's own SAVEPOINTs, named by depth).
 */
import { createRequire } from 'node:module';
import { PG_ARRAY_FUNCTION, pgArrayToJson } from '../../../src/core/pg-array.js';
import type {
  BackendError,
  BackendReply,
  BackendStatement,
  BackendTransaction,
  PgParam,
  PgValue,
  SqlBackend,
  StatementOutcome,
  StatementShape,
  TransactionOptions,
} from '../../../src/core/pgwire/backend.js';
import { DIVISION_BY_ZERO, NONZERO_FUNCTION } from '../../../src/core/pgwire/division-checks.js';
import { CATALOG_FUNCTIONS } from '../../../src/kernel/catalog-functions.js';
import { JSONB_FUNCTIONS } from '../../../src/kernel/jsonb-functions.js';

const CASCADE_DROP = /^\s*DROP\s+TABLE\s+(IF\s+EXISTS\s+)?([^;]*?)\s+(?:CASCADE|RESTRICT)\s*;?\s*$/i;

/** `DROP TABLE [IF EXISTS] a, b RESTRICT` as SQLite's statements: one DROP per table, keys deferred. */
function sqliteDrops(sql: string): string {
  const [, ifExists, names] = CASCADE_DROP.exec(sql) as RegExpExecArray;
  const drops = (names as string).split(',').map((name) => `DROP TABLE ${ifExists ?? ''}${name.trim()}`);
  return ['PRAGMA defer_foreign_keys = ON', ...drops].join('; ');
}

/** The part of better-sqlite3's API used here (the package ships no types; none are installed). */
interface SqliteStatement {
  readonly reader: boolean;
  readonly readonly: boolean;
  /** `type`: sqlite3_column_decltype, null for an expression. */
  columns(): { name: string; type: string | null }[];
  raw(on: boolean): SqliteStatement;
  all(params: Record<number, unknown>): unknown[];
  run(params: Record<number, unknown>): { changes: number };
}
interface SqliteDatabase {
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  pragma(sql: string): unknown;
  defaultSafeIntegers(on: boolean): void;
  function(
    name: string,
    options: { deterministic: boolean },
    implementation: (value: unknown) => unknown,
  ): void;
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => SqliteDatabase;

interface Waiter {
  readonly resolve: (acquired: boolean) => void;
}

/** A FIFO lock whose waits end early (false) when their signal aborts. */
class WriterLock {
  private held = false;
  private readonly waiters: Waiter[] = [];

  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (!this.held) {
      this.held = true;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        resolve: (acquired) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(acquired);
        },
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        waiter.resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next === undefined) this.held = false;
    else next.resolve(true);
  }
}

const canceled: BackendError = { sqlstate: '57014', message: 'canceling statement due to user request' };

/** SQLite's error → PostgreSQL's SQLSTATE (the common ones clients branch on). */
export function sqliteErrorToBackend(error: unknown): BackendError {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return { sqlstate: '23505', message: `duplicate key value violates unique constraint: ${message}` };
  }
  if (code === 'SQLITE_CONSTRAINT_NOTNULL') return { sqlstate: '23502', message };
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return { sqlstate: '23503', message };
  if (code === 'SQLITE_CONSTRAINT_CHECK') return { sqlstate: '23514', message };
  if (/no such table/.test(message)) return { sqlstate: '42P01', message };
  if (/no such column/.test(message)) return { sqlstate: '42703', message };
  if (/no such function/.test(message)) return { sqlstate: '42883', message };
  if (/already exists/.test(message)) return { sqlstate: '42P07', message };
  if (/syntax error|incomplete input/.test(message)) return { sqlstate: '42601', message };
  if (/attempt to write a readonly database/.test(message)) return { sqlstate: '25006', message };
  if (message === DIVISION_BY_ZERO) return { sqlstate: '22012', message };
  return { sqlstate: 'XX000', message };
}

function bindable(params: readonly PgParam[] | undefined): Record<number, unknown> {
  const named: Record<number, unknown> = {};
  (params ?? []).forEach((value, index) => {
    let bound: unknown = value;
    if (typeof value === 'boolean') bound = value ? 1n : 0n;
    else if (typeof value === 'number' && Number.isInteger(value)) bound = BigInt(value);
    else if (value instanceof Uint8Array) bound = Buffer.from(value);
    named[index + 1] = bound;
  });
  return named;
}

function parameterCount(sql: string): number {
  let count = 0;
  for (const match of sql.matchAll(/\?(\d+)/g)) count = Math.max(count, Number(match[1]));
  return count;
}

export interface SqliteBackendOptions {
  readonly path?: string;
  readonly role?: 'writer' | 'replica';
  readonly idleTimeoutMs?: number;
}

export class SqliteTestBackend implements SqlBackend {
  readonly role: 'writer' | 'replica';
  readonly serverVersion = '15.0 (northlight test backend)';
  readonly database: SqliteDatabase;
  private readonly lock = new WriterLock();
  private readonly idleTimeoutMs: number;
  /** Calls made, by kind, so tests can prove what reached the backend. */
  readonly calls = { describe: 0, run: 0, begin: 0 };

  constructor(options: SqliteBackendOptions = {}) {
    this.role = options.role ?? 'writer';
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.database = new Database(options.path ?? ':memory:');
    this.database.defaultSafeIntegers(true);
    this.database.pragma('journal_mode = WAL');
    // As the engine's kernel registers them (src/kernel/sqlite-wasm.ts registerUnicodeCase).
    for (const [name, convert] of [
      ['lower', (text: string) => text.toLowerCase()],
      ['upper', (text: string) => text.toUpperCase()],
    ] as const)
      this.database.function(name, { deterministic: true }, (value: unknown) =>
        value === null ? null : convert(String(value)),
      );
    // `varargs` is a better-sqlite3 option its type definitions leave out.
    const varargs = { deterministic: true, varargs: true } as { deterministic: boolean };
    this.database.function(NONZERO_FUNCTION, varargs, (...args: unknown[]) => {
      const [value, factor] = args;
      if (args.length > 1 && factor === null) return value;
      const zero =
        value === 0n ||
        value === 0 ||
        (typeof value === 'string' &&
          /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(value) &&
          Number(value) === 0);
      if (zero) throw new Error(DIVISION_BY_ZERO);
      return value;
    });
    this.database.function(PG_ARRAY_FUNCTION, { deterministic: true }, (value: unknown) => {
      if (value === null) return null;
      const json = pgArrayToJson(String(value));
      if (json instanceof Error) throw json;
      return json;
    });
    // jsonb's operators become calls of these (src/core/pgwire/jsonb-operators.ts).
    for (const definition of [...JSONB_FUNCTIONS, ...CATALOG_FUNCTIONS])
      this.database.function(definition.name, varargs, (...args: unknown[]) =>
        definition.call(
          args.map((arg) => (typeof arg === 'bigint' ? Number(arg) : (arg as string | number | null))),
        ),
      );
  }

  close(): void {
    this.database.close();
  }

  async describe(given: string): Promise<BackendReply<StatementShape>> {
    this.calls.describe += 1;
    // The kernel's DROP TABLE … RESTRICT is described as its first SQLite drop: a write, no rows.
    const sql = CASCADE_DROP.test(given) ? (sqliteDrops(given).split('; ')[1] as string) : given;
    try {
      const statement = this.database.prepare(sql);
      const described = statement.reader ? statement.columns() : [];
      return {
        ok: true,
        value: {
          parameterCount: parameterCount(sql),
          columns: described.map((column) => column.name),
          readOnly: statement.readonly,
          declaredTypes: described.map((column) => column.type ?? ''),
        },
      };
    } catch (error) {
      return { ok: false, error: sqliteErrorToBackend(error) };
    }
  }

  /** Runs one statement on the connection; throws SQLite's error. */
  execute(given: BackendStatement, readOnly: boolean): StatementOutcome {
    // The kernel's `DROP TABLE a, b CASCADE | RESTRICT` (src/kernel/alter-table.ts) is not SQLite's:
    // here, SQLite's drop of each (keys deferred, as the kernel drops them together).
    const statement = CASCADE_DROP.test(given.sql) ? { ...given, sql: sqliteDrops(given.sql) } : given;
    const several = this.severalStatements(statement, readOnly);
    if (several !== null) return several;
    const prepared = this.database.prepare(statement.sql);
    if ((readOnly || this.role === 'replica') && !prepared.readonly) {
      throw readOnlyRefusal();
    }
    const params = bindable(statement.params);
    if (prepared.reader) {
      // Declared types straight from sqlite3_column_decltype (which the engine's wasm build lacks:
      // src/kernel/declared-types.ts), an independent check of how the protocol uses them.
      const described = prepared.columns();
      const columns = described.map((column) => column.name);
      const declaredTypes = described.map((column) => column.type ?? '');
      const rows = prepared.raw(true).all(params) as PgValue[][];
      return { columns, rows: rows.map((row) => row.map(fromSqlite)), changes: 0, declaredTypes };
    }
    const result = prepared.run(params);
    return { columns: [], rows: [], changes: result.changes };
  }

  /**
   * SQL of several statements without parameters (a rewrite: `TRUNCATE a, b`), run in order as the
   * kernel runs such an entry; null for one statement. They are writes, refused when read-only.
   */
  private severalStatements(statement: BackendStatement, readOnly: boolean): StatementOutcome | null {
    if ((statement.params?.length ?? 0) > 0) return null;
    // A rewrite to nothing (COMMENT ON, ALTER … OWNER TO): the engine's kernel runs an empty entry.
    if (statement.sql.trim() === '') return { columns: [], rows: [], changes: 0 };
    try {
      this.database.prepare(statement.sql);
      return null;
    } catch (error) {
      if (!/more than one statement/.test(String(error))) throw error;
    }
    if (readOnly || this.role === 'replica') throw readOnlyRefusal();
    this.database.exec(statement.sql);
    return { columns: [], rows: [], changes: 0 };
  }

  async run(
    statements: readonly BackendStatement[],
    options: { readonly readOnly: boolean; readonly signal?: AbortSignal },
  ): Promise<BackendReply<readonly StatementOutcome[]>> {
    this.calls.run += 1;
    if (!(await this.lock.acquire(options.signal))) return { ok: false, error: canceled };
    try {
      this.database.exec('BEGIN');
      try {
        const outcomes = statements.map((statement) => this.execute(statement, options.readOnly));
        this.database.exec('COMMIT');
        return { ok: true, value: outcomes };
      } catch (error) {
        this.database.exec('ROLLBACK');
        return { ok: false, error: readOnlyOr(error) };
      }
    } finally {
      this.lock.release();
    }
  }

  async begin(options: TransactionOptions): Promise<BackendReply<BackendTransaction>> {
    this.calls.begin += 1;
    if (!(await this.lock.acquire(options.signal))) return { ok: false, error: canceled };
    this.database.exec('BEGIN IMMEDIATE');
    return { ok: true, value: new SqliteTransaction(this, options, this.idleTimeoutMs) };
  }

  /** For SqliteTransaction: ends the transaction and frees the writer. */
  finish(sql: 'COMMIT' | 'ROLLBACK'): void {
    try {
      if (this.database.inTransaction) this.database.exec(sql);
    } finally {
      this.lock.release();
    }
  }
}

function fromSqlite(value: unknown): PgValue {
  if (value instanceof Buffer) return new Uint8Array(value);
  return value as PgValue;
}

function readOnlyOr(error: unknown): BackendError {
  if ((error as { code?: string }).code === 'READONLY') {
    return { sqlstate: '25006', message: 'cannot execute a write in a read-only transaction' };
  }
  return sqliteErrorToBackend(error);
}

class SqliteTransaction implements BackendTransaction {
  private done = false;
  private savepoints = 0;
  /** A failure the transaction is aborted by (it holds a savepoint): only rollbackTo or rollback next. */
  private aborted: BackendError | null = null;
  private abandoned: BackendError | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly backend: SqliteTestBackend,
    private readonly options: TransactionOptions,
    defaultIdleTimeoutMs: number,
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? defaultIdleTimeoutMs;
    this.armIdle();
  }

  private readonly idleTimeoutMs: number;

  private armIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleTimeoutMs <= 0) return; // 0: no limit, as the engine's TransactionGate
    this.idleTimer = setTimeout(() => {
      if (this.done) return;
      this.done = true;
      this.abandoned = {
        sqlstate: '25P03',
        message: 'terminating connection due to idle-in-transaction timeout',
        fatal: true,
      };
      this.backend.finish('ROLLBACK');
      this.options.onAbandoned?.(this.abandoned);
    }, this.idleTimeoutMs);
  }

  private stopIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  async run(statement: BackendStatement): Promise<BackendReply<StatementOutcome>> {
    if (this.abandoned !== null) return { ok: false, error: this.abandoned };
    if (this.done) return { ok: false, error: { sqlstate: '25P02', message: 'transaction is over' } };
    if (this.aborted !== null) return { ok: false, error: { sqlstate: '25P02', message: 'aborted' } };
    this.stopIdle();
    try {
      const outcome = this.backend.execute(statement, this.options.readOnly);
      this.armIdle();
      return { ok: true, value: outcome };
    } catch (error) {
      return this.failed(readOnlyOr(error));
    }
  }

  private failed<T>(error: BackendError): BackendReply<T> {
    if (this.savepoints > 0 && this.backend.database.inTransaction) {
      this.aborted = error;
      this.armIdle();
    } else {
      this.done = true;
      this.backend.finish('ROLLBACK');
    }
    return { ok: false, error };
  }

  async savepoint(): Promise<BackendReply<void>> {
    return this.savepointCommand(`SAVEPOINT sp_${this.savepoints + 1}`, this.savepoints + 1);
  }

  async release(depth: number): Promise<BackendReply<void>> {
    return this.savepointCommand(`RELEASE sp_${depth}`, depth - 1);
  }

  async rollbackTo(depth: number): Promise<BackendReply<void>> {
    if (this.done) {
      return { ok: false, error: { sqlstate: '25P02', message: 'the transaction was rolled back entirely' } };
    }
    const reply = this.savepointCommand(`ROLLBACK TO sp_${depth}`, depth);
    if (reply.ok) this.aborted = null;
    return reply;
  }

  private savepointCommand(sql: string, depthAfter: number): BackendReply<void> {
    if (this.abandoned !== null) return { ok: false, error: this.abandoned };
    if (this.done) return { ok: false, error: { sqlstate: '25P02', message: 'transaction is over' } };
    if (this.aborted !== null && !sql.startsWith('ROLLBACK')) {
      return { ok: false, error: { sqlstate: '25P02', message: 'aborted' } };
    }
    this.stopIdle();
    try {
      this.backend.database.exec(sql);
      this.savepoints = depthAfter;
      this.armIdle();
      return { ok: true, value: undefined };
    } catch (error) {
      return this.failed(sqliteErrorToBackend(error));
    }
  }

  async commit(): Promise<BackendReply<void>> {
    if (this.abandoned !== null) return { ok: false, error: this.abandoned };
    if (this.done) return { ok: false, error: { sqlstate: '25P02', message: 'transaction is over' } };
    this.stopIdle();
    this.done = true;
    if (this.aborted !== null) {
      this.backend.finish('ROLLBACK');
      return { ok: false, error: this.aborted };
    }
    try {
      this.backend.finish('COMMIT');
      return { ok: true, value: undefined };
    } catch (error) {
      return { ok: false, error: sqliteErrorToBackend(error) };
    }
  }

  async rollback(): Promise<void> {
    this.stopIdle();
    if (this.done) return;
    this.done = true;
    this.backend.finish('ROLLBACK');
  }
}

function readOnlyRefusal(): Error {
  return Object.assign(new Error('cannot execute a write in a read-only transaction'), { code: 'READONLY' });
}
