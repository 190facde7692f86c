/**
 * The SQL session: one SQLite connection over the redo VFS, and the execution of requests on it. It
 * runs wherever it is created (the worker thread in the engine; the test thread in VFS-level tests):
 * everything here is synchronous except loading the wasm module.
 *
 * A request is one transaction: `BEGIN`, its statements in order, then `COMMIT` (a read-only request:
 * `ROLLBACK`). Any failure rolls the whole transaction back, so a request commits entirely or not at
 * all, and the connection is left in autocommit mode, ready for the next request. The commit is where
 * the VFS seals the transaction's group (redo-vfs.ts); a refused seal fails the COMMIT with
 * SQLITE_BUSY and the transaction is rolled back (57P03 to the client, who may retry).
 *
 * What user SQL may not do (the authorizer refuses it, 42501): transaction control (BEGIN, COMMIT,
 * ROLLBACK, SAVEPOINT: the request is the transaction), ATTACH (one database per volume), TEMP
 * objects and connection settings (the one connection is shared by every client: they would leak
 * from one client's request into the next one's), and PRAGMAs outside an allow-list: those that
 * would break the redo invariants (journal_mode, synchronous, cache_spill, locking_mode, page_size,
 * writable_schema…) are readable at most, never settable.
 * VACUUM cannot run inside a transaction, so a request made of one VACUUM runs in autocommit mode.
 *
 * An interactive transaction (`ExecuteRequest.transaction`) may hold savepoints, which the kernel
 * takes, releases and rolls back to as steps of their own under names of its own; after a failed
 * statement it stays open, aborted, when it holds one and SQLite kept it (`#keepsAborted`), so that
 * a `rollback-to` can resume it.
 *
 * The hot path calls wasm exports directly (`sqlite-wasm.ts`): statements are prepared once and kept
 * in an LRU cache by SQL text; values are bound and read without the Promise-based API.
 */
import { assert } from '@northlight/protocol';
import {
  type AlterAction,
  type Alteration,
  type AlterationPlan,
  AlterTableError,
  mayAlterTable,
  type ParentKeys,
  parseAlteration,
  planAlteration,
  type RowCheck,
  splitStatements,
  withoutReferencesTo,
} from './alter-table.js';
import { foreignKeyName } from './catalog-functions.js';
import { DeclaredTypes, type DeclaredTypesStats } from './declared-types.js';
import { defaultValuesInsert, mayHaveDefaultValues, withDefaultValues } from './default-values.js';
import { foreignKeyViolation, type Orphan, writtenTable } from './foreign-key-errors.js';
import type {
  ExecuteReply,
  ExecuteRequest,
  KernelStats,
  SqlParam,
  SqlStatement,
  SqlValue,
  StatementResult,
  TransactionStep,
} from './messages.js';
import { PageCache } from './page-cache.js';
import { type GroupSink, type PageRecord, type PageSource, RedoVfs } from './redo-vfs.js';
import { resultFingerprint } from './result-fingerprint.js';
import { type KernelRefusal, type SqlError, sqlErrorFromRefusal, sqlErrorFromSqlite } from './sql-errors.js';
import { loadSqliteWasm, registerUnicodeCase, type SqliteWasm } from './sqlite-wasm.js';
import { quoteName, sameName, TableDefinitionError } from './table-definition.js';

export interface SqlSessionOptions {
  readonly pageSource: PageSource;
  readonly sink: GroupSink;
  /** Capacity of the VFS buffer cache, in 4 KiB pages. */
  readonly cachePages: number;
  /** A transaction that changes more pages is refused with 54000 (default 50 000 pages, 195 MiB). */
  readonly maxGroupPages?: number;
  /** Commits are refused (57P03) while this many sealed groups wait for LSNs (default 10 000). */
  readonly maxUnassignedGroups?: number;
  /** A statement returning more rows fails with 54000 (default 1 000 000). */
  readonly maxResultRows?: number;
  /** Ship whole pages instead of diffs (the benchmark's page-shipping comparison). */
  readonly shipFullPages?: boolean;
  /** SQLite's own page cache (`PRAGMA cache_size`), in pages (default 500, SQLite's 2 MiB default). */
  readonly sqliteCachePages?: number;
  /**
   * A read replica's session (redo-vfs.ts R1–R3): every request is read-only (a statement that writes
   * gets 25006 naming the replica), `locking_mode=NORMAL` so SQLite re-reads the database size at each
   * transaction, and `applyRecords` brings it forward with the writer's committed records.
   */
  readonly replica?: boolean;
}

export const DEFAULT_MAX_GROUP_PAGES = 50_000;
export const DEFAULT_MAX_UNASSIGNED_GROUPS = 10_000;
export const DEFAULT_MAX_RESULT_ROWS = 1_000_000;
export const DEFAULT_SQLITE_CACHE_PAGES = 500;
/**
 * SQLite calls the progress handler every this many virtual-machine steps of a statement (a few tens
 * of microseconds here): how soon a cancelled statement stops, against the cost of the callbacks.
 */
const PROGRESS_STEPS = 4_096;
const SQLITE_INTERRUPT = 9;
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_DBSTATUS_CACHE_HIT = 7;
const SQLITE_DBSTATUS_CACHE_MISS = 8;
/** The error of a statement stopped by `execute`'s `cancelled` (sqlstate query_canceled). */
export const STATEMENT_CANCELED_MESSAGE =
  'canceling statement: it was canceled (statement timeout, cancel request, or its client went away) and its transaction rolled back';
/** Prepared statements kept by SQL text. */
const STATEMENT_CACHE_MAX = 128;
const VFS_NAME = 'northlight-redo';
const DATABASE_NAME = 'volume.db';

const SQLITE_OK = 0;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_DENY = 1;
const SQLITE_OPEN_READWRITE = 0x02;
const SQLITE_OPEN_CREATE = 0x04;
const SQLITE_INTEGER = 1;
const SQLITE_FLOAT = 2;
const SQLITE_TEXT = 3;
const SQLITE_BLOB = 4;
const AUTH_CREATE_TEMP_INDEX = 3;
const AUTH_CREATE_TEMP_TABLE = 4;
// SQLite's action codes (sqlite3.h): 5 and 6 are the TEMP trigger and view; 7 and 8 the plain ones.
const AUTH_CREATE_TEMP_TRIGGER = 5;
const AUTH_CREATE_TEMP_VIEW = 6;
const AUTH_PRAGMA = 19;
const AUTH_TRANSACTION = 22;
const AUTH_ATTACH = 24;
const AUTH_SAVEPOINT = 32;

/**
 * PRAGMAs user SQL may run with an argument: inspection, and settings that live in the database file
 * (redo-logged like any write) or last one transaction.
 */
const PRAGMAS_ALLOWED = new Set([
  'application_id',
  'collation_list',
  'compile_options',
  'database_list',
  'defer_foreign_keys',
  'foreign_key_check',
  'foreign_key_list',
  'function_list',
  'index_info',
  'index_list',
  'index_xinfo',
  'integrity_check',
  'module_list',
  'optimize',
  'pragma_list',
  'quick_check',
  'shrink_memory',
  'stats',
  'table_info',
  'table_list',
  'table_xinfo',
  'user_version',
]);
/**
 * PRAGMAs user SQL may read but not set: setting them would break the redo invariants (journal and
 * locking modes, spill, page size…), or change the one connection every client shares.
 */
const PRAGMAS_READ_ONLY = new Set([
  'analysis_limit',
  'auto_vacuum',
  'automatic_index',
  'busy_timeout',
  'cache_size',
  'cache_spill',
  'case_sensitive_like',
  'cell_size_check',
  'data_version',
  'encoding',
  'foreign_keys',
  'freelist_count',
  'ignore_check_constraints',
  'journal_mode',
  'legacy_alter_table',
  'locking_mode',
  'max_page_count',
  'mmap_size',
  'page_count',
  'page_size',
  'query_only',
  'recursive_triggers',
  'reverse_unordered_selects',
  'schema_version',
  'synchronous',
  'temp_store',
]);

/** An expected failure of the request in progress; caught in `execute`, never escapes it. */
class RequestFailure extends Error {
  readonly sqlError: SqlError;
  constructor(sqlError: SqlError) {
    super(sqlError.message);
    this.sqlError = sqlError;
  }
}

interface PreparedSql {
  /** The statement handle; 0 for SQL that holds no statement (blank, or only comments). */
  readonly stmt: number;
  /** Byte offset of the rest of the SQL after this statement. */
  readonly tail: number;
}

export class SqlSession {
  readonly #wasm: SqliteWasm;
  readonly #vfs: RedoVfs;
  readonly #pageCache: PageCache;
  readonly #db: number;
  readonly #maxResultRows: number;
  /** Two words of scratch memory for out-parameters (statement handle, tail pointer). */
  readonly #scratch: number;
  readonly #statements = new Map<string, number>();
  readonly #begin: number;
  readonly #commit: number;
  readonly #rollback: number;
  readonly #schemaVersionStmt: number;
  readonly #declaredTypes: DeclaredTypes;
  readonly #textDecoder = new TextDecoder();
  readonly #textEncoder = new TextEncoder();
  /** The authorizer applies to user SQL only; internal statements may be re-prepared any time. */
  #authorizingUserSql = false;
  /** Set while the session runs a statement it trusts on the user's behalf (VACUUM). */
  #authorizerBypassed = false;
  #requests = 0;
  #requestsFailed = 0;
  #applies = 0;
  #closed = false;
  readonly #replica: boolean;
  /**
   * The interactive transaction open on the connection (`ExecuteRequest.transaction`), if any: the
   * savepoints SQLite holds for it (`northlight_savepoint_<depth>`, depths 1…`savepoints`), and the
   * failure that aborted it, if one did (only `rollback-to` and `rollback` may follow).
   */
  #open:
    | { readonly id: number; readonly readOnly: boolean; savepoints: number; aborted: SqlError | undefined }
    | undefined;
  /** The request in progress asked for `typedValues`. */
  #typedValues = false;
  /** The request in progress asked for `declaredTypes`. */
  #wantDeclaredTypes = false;
  /** A `replay` request's fingerprints of its new results (`#runEntries`). */
  #fingerprints: string[] = [];
  /** A `replay` request that rolled back changed the schema (`ExecuteReply.schemaChanged`). */
  #schemaChanged = false;
  /** Whether the request in progress was cancelled (`execute`'s argument); read by the progress handler. */
  #cancelled: (() => boolean) | undefined;
  /** Set only while a user statement steps: internal BEGIN/COMMIT/ROLLBACK are never interrupted. */
  #interruptible = false;
  /** `sqlite3_db_status` counters summed over the reads that reset them (`#dbStatus`). */
  readonly #dbStatusTotals = new Map<number, number>();

  private constructor(
    wasm: SqliteWasm,
    vfs: RedoVfs,
    pageCache: PageCache,
    db: number,
    options: SqlSessionOptions,
  ) {
    this.#wasm = wasm;
    this.#vfs = vfs;
    this.#pageCache = pageCache;
    this.#db = db;
    this.#maxResultRows = options.maxResultRows ?? DEFAULT_MAX_RESULT_ROWS;
    this.#replica = options.replica === true;
    this.#scratch = wasm._sqlite3_malloc(8);
    assert(this.#scratch !== 0, 'out of wasm memory at start');
    this.#configure(options.sqliteCachePages ?? DEFAULT_SQLITE_CACHE_PAGES);
    this.#begin = this.#prepareInternal('BEGIN');
    this.#commit = this.#prepareInternal('COMMIT');
    this.#rollback = this.#prepareInternal('ROLLBACK');
    this.#schemaVersionStmt = this.#prepareInternal('PRAGMA schema_version');
    this.#declaredTypes = new DeclaredTypes(wasm);
    const rc = wasm.set_authorizer(db, (_pApp, action, p3, p4) => this.#authorize(action, p3, p4), 0);
    assert(rc === SQLITE_OK, `sqlite3_set_authorizer failed: ${rc}`);
    wasm.progress_handler(db, PROGRESS_STEPS, () => this.#onProgress(), 0);
    registerUnicodeCase(wasm, db);
  }

  /**
   * Loads a wasm instance and opens the volume's database. Throws an Error naming the cause when the
   * database cannot be opened (page 0 unreadable, or not a database of ours).
   */
  static async open(options: SqlSessionOptions): Promise<SqlSession> {
    const wasm = await loadSqliteWasm();
    const cache = new PageCache({ capacityPages: options.cachePages });
    const vfs = new RedoVfs(VFS_NAME, wasm, {
      cache,
      pageSource: options.pageSource,
      sink: options.sink,
      maxGroupPages: options.maxGroupPages ?? DEFAULT_MAX_GROUP_PAGES,
      maxUnassignedGroups: options.maxUnassignedGroups ?? DEFAULT_MAX_UNASSIGNED_GROUPS,
      shipFullPages: options.shipFullPages === true,
      replica: options.replica === true,
    });
    assert(wasm.vfs_register(vfs, false) === SQLITE_OK, 'registering the redo VFS failed');
    const name = allocateCString(wasm, DATABASE_NAME);
    const vfsName = allocateCString(wasm, VFS_NAME);
    const handle = wasm._sqlite3_malloc(4);
    const rc = wasm._sqlite3_open_v2(name, handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfsName);
    const db = wasm.HEAP32[handle >> 2]!;
    wasm._sqlite3_free(name);
    wasm._sqlite3_free(vfsName);
    wasm._sqlite3_free(handle);
    if (rc !== SQLITE_OK) {
      const refusal = vfs.refusal;
      const cause = refusal !== undefined ? sqlErrorFromRefusal(refusal).message : errorMessage(wasm, db);
      if (db !== 0) wasm._sqlite3_close_v2(db);
      throw new Error(`open the volume's database: ${cause}`);
    }
    wasm._sqlite3_extended_result_codes(db, 1);
    return new SqlSession(wasm, vfs, cache, db, options);
  }

  get sizePages(): number {
    return this.#vfs.sizePages;
  }

  get sqliteVersion(): string {
    return this.#wasm.UTF8ToString(this.#wasm._sqlite3_libversion());
  }

  /**
   * Runs the request as one transaction (see the module comment). Never throws an expected failure.
   * `cancelled`, polled while its statements run, stops the one running when it turns true: it fails
   * with 57014 and the transaction rolls back, so one runaway query cannot hold the connection forever.
   */
  execute(asked: ExecuteRequest, cancelled?: () => boolean): ExecuteReply {
    assert(!this.#closed, 'execute on a closed session');
    this.#cancelled = cancelled;
    const request = this.#replica ? { ...asked, readOnly: true } : asked;
    this.#requests++;
    this.#vfs.refusal = undefined;
    this.#typedValues = request.typedValues === true;
    this.#wantDeclaredTypes = request.declaredTypes === true;
    const sealedBefore = this.#vfs.lastSealedSeq;
    assert(
      this.#open === undefined || request.transaction !== undefined || request.describeOnly === true,
      'a request outside the interactive transaction open on the connection',
    );
    try {
      // Cancelled while it waited in the worker's queue: it does not start (a short one might not
      // reach the progress handler at all).
      if (cancelled?.() === true && request.describeOnly !== true && request.transaction?.step !== 'rollback')
        throw this.#canceled(0);
      const results =
        request.describeOnly === true
          ? [this.#describe(request)]
          : request.transaction !== undefined
            ? this.#runStep(request, request.transaction.id, request.transaction.step)
            : !this.#replica && isLoneVacuum(request)
              ? [this.#runVacuum(request.statements[0]!)]
              : this.#runTransaction(request);
      const sealed = this.#vfs.lastSealedSeq;
      assert(sealed - sealedBefore <= 1, `one request sealed ${sealed - sealedBefore} groups`);
      assert(!(request.readOnly === true && sealed !== sealedBefore), 'a read-only request sealed a group');
      assert(
        !(request.replay?.commit === false && sealed !== sealedBefore),
        'a replay that rolls back sealed a group',
      );
      const groupSeq = sealed !== sealedBefore ? { groupSeq: sealed } : {};
      const fingerprints = request.replay === undefined ? {} : { fingerprints: this.#fingerprints };
      const schemaChanged = this.#schemaChanged ? { schemaChanged: true as const } : {};
      return { ok: true, results, ...groupSeq, ...fingerprints, ...schemaChanged, visibleThroughSeq: sealed };
    } catch (error) {
      if (!(error instanceof RequestFailure)) throw error;
      this.#requestsFailed++;
      const visibleThroughSeq = this.#vfs.lastSealedSeq;
      if (this.#keepsAborted(request, error.sqlError)) {
        return { ok: false, error: error.sqlError, visibleThroughSeq, transactionKept: true };
      }
      // A failed step ends the interactive transaction too: the connection is free for the next one
      // at once (PostgreSQL's aborted state, where only ROLLBACK is left, is the wire protocol's).
      this.#open = undefined;
      this.#rollbackIfOpen();
      return { ok: false, error: error.sqlError, visibleThroughSeq };
    } finally {
      this.#fingerprints = [];
      this.#schemaChanged = false;
      this.#vfs.refusal = undefined;
      this.#typedValues = false;
      this.#wantDeclaredTypes = false;
      this.#cancelled = undefined;
    }
  }

  /**
   * Whether a failed step leaves its interactive transaction open, aborted, for a `rollback-to`: only
   * when the transaction holds a savepoint (without one, nothing could resume it) and SQLite kept its
   * own transaction. SQLite undoes just the failed statement for most errors (a constraint, a missing
   * table), but rolls the whole transaction back for some: an interrupted write (statement_timeout,
   * a cancel), SQLITE_FULL, IOERR, NOMEM, BUSY, `ON CONFLICT ROLLBACK`, `RAISE(ROLLBACK)`. Then its
   * savepoints are gone with it, and resuming after one would silently drop the work before it:
   * the transaction ends here, and the caller learns it (no `transactionKept`).
   */
  #keepsAborted(request: ExecuteRequest, error: SqlError): boolean {
    const open = this.#open;
    const step = request.transaction;
    if (open === undefined || step === undefined || step.id !== open.id) return false;
    if (step.step === 'commit' || step.step === 'rollback') return false;
    if (open.savepoints === 0 || this.#wasm._sqlite3_get_autocommit(this.#db) !== 0) return false;
    // An `open` that failed before it held every savepoint asked for would leave the caller counting
    // savepoints the kernel does not have.
    if (step.step === 'open' && open.savepoints !== (step.savepointDepth ?? 0)) return false;
    open.aborted ??= error;
    return true;
  }

  #onProgress(): number {
    return this.#interruptible && this.#cancelled?.() === true ? 1 : 0;
  }

  setVdl(vdl: bigint): void {
    this.#pageCache.setVdl(vdl);
  }

  /**
   * Replica: applies the writer's records of whole committed MTRs (R1) to the buffer cache, then drops
   * SQLite's own page cache (R3: `PRAGMA shrink_memory` frees every page no statement holds, and
   * between requests none does), so the next request reads every page through the VFS.
   */
  applyRecords(records: readonly PageRecord[]): void {
    assert(this.#replica, 'applyRecords on a writer session');
    assert(this.#wasm._sqlite3_get_autocommit(this.#db) !== 0, 'applyRecords inside a transaction');
    this.#vfs.applyRecords(records);
    this.#execTrusted('PRAGMA shrink_memory');
    this.#applies++;
  }

  assignLsns(seq: number, lsns: readonly bigint[]): void {
    this.#pageCache.assignLsns(seq, lsns);
  }

  setAccepting(accepting: boolean, reason?: string): void {
    this.#vfs.setAccepting(accepting, reason);
  }

  stats(): KernelStats {
    return {
      ...this.#vfs.stats(),
      sqliteCacheHits: this.#dbStatus(SQLITE_DBSTATUS_CACHE_HIT),
      sqliteCacheMisses: this.#dbStatus(SQLITE_DBSTATUS_CACHE_MISS),
      requests: this.#requests,
      requestsFailed: this.#requestsFailed,
      statementsCached: this.#statements.size,
      applies: this.#applies,
    };
  }

  /**
   * A counter of `sqlite3_db_status`, accumulated here: SQLite keeps it in 31 bits (it would wrap
   * after hours of a busy writer), so each read takes the count since the last one and resets it.
   */
  #dbStatus(op: number): number {
    const current = this.#scratch;
    const rc = this.#wasm._sqlite3_db_status(this.#db, op, current, current + 4, 1);
    assert(rc === SQLITE_OK, `sqlite3_db_status(${op}) failed: ${rc}`);
    const total = (this.#dbStatusTotals.get(op) ?? 0) + (this.#wasm.HEAP32[current >> 2]! >>> 0);
    this.#dbStatusTotals.set(op, total);
    return total;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stmt of this.#statements.values()) this.#wasm._sqlite3_finalize(stmt);
    for (const stmt of [this.#begin, this.#commit, this.#rollback, this.#schemaVersionStmt]) {
      this.#wasm._sqlite3_finalize(stmt);
    }
    this.#declaredTypes.close();
    this.#wasm._sqlite3_close_v2(this.#db);
  }

  // ---- transactions ----

  #runTransaction(request: ExecuteRequest): StatementResult[] {
    this.#stepInternal(this.#begin, 'BEGIN');
    const rollsBack = request.replay?.commit === false;
    const schemaBefore = rollsBack ? this.#schemaVersion() : undefined;
    const results = this.#runEntries(request, request.readOnly === true);
    if (request.readOnly === true) this.#stepInternal(this.#rollback, 'ROLLBACK');
    else if (rollsBack) {
      this.#schemaChanged = this.#schemaVersion() !== schemaBefore;
      this.#rollbackIfOpen();
    } else this.#stepInternal(this.#commit, 'COMMIT');
    return results;
  }

  /**
   * Runs a request's entries in the open SQLite transaction. With `replay`
   * (`ExecuteRequest.replay`), the first entries are an optimistic transaction's earlier statements:
   * each must give the result its client saw, or the request fails with 40001 (another transaction
   * committed a change it read); only the later entries' results are returned, and their
   * fingerprints are kept for the reply.
   */
  #runEntries(request: ExecuteRequest, readOnly: boolean): StatementResult[] {
    const results: StatementResult[] = [];
    const expected = request.replay?.fingerprints;
    if (expected === undefined) {
      for (const [index, statement] of request.statements.entries()) {
        results.push(this.#runEntry(statement, index, readOnly));
      }
      return results;
    }
    assert(expected.length <= request.statements.length, 'a replay of more statements than sent');
    const replayed = expected.length;
    const fingerprints: string[] = [];
    for (const [index, statement] of request.statements.entries()) {
      if (index < replayed) {
        let result: StatementResult;
        try {
          result = this.#runEntry(statement, index, readOnly);
        } catch (error) {
          if (!(error instanceof RequestFailure) || !replayFailureIsConflict(error.sqlError)) throw error;
          throw new RequestFailure(
            serializationFailure(
              index,
              `fails now (${error.sqlError.message}) where it succeeded when it ran`,
            ),
          );
        }
        if (resultFingerprint(result) !== expected[index]) {
          throw new RequestFailure(serializationFailure(index, 'gives another result now than when it ran'));
        }
        continue;
      }
      try {
        const result = this.#runEntry(statement, index, readOnly);
        results.push(result);
        fingerprints.push(resultFingerprint(result));
      } catch (error) {
        if (!(error instanceof RequestFailure) || error.sqlError.statementIndex === undefined) throw error;
        throw new RequestFailure({
          ...error.sqlError,
          statementIndex: error.sqlError.statementIndex - replayed,
        });
      }
    }
    this.#fingerprints = fingerprints;
    return results;
  }

  /**
   * One step of an interactive transaction (`ExecuteRequest.transaction`). The caller sends nothing
   * else while one is open, so a step for another id means this one is not open here any more: the
   * kernel was replaced (its transaction died with the old one) or it already ended.
   */
  #runStep(request: ExecuteRequest, id: number, step: TransactionStep): StatementResult[] {
    if (step === 'rollback') {
      if (this.#open?.id === id) {
        this.#open = undefined;
        this.#rollbackIfOpen();
      }
      return [];
    }
    if (this.#replica) {
      throw new RequestFailure({
        code: 'NORTHLIGHT_READ_ONLY_REPLICA',
        sqlstate: '25006',
        message: 'a read replica runs no interactive transactions: each statement reads on its own',
      });
    }
    if (step === 'open') {
      assert(this.#open === undefined, 'an interactive transaction opened over another one');
      this.#stepInternal(this.#begin, 'BEGIN');
      this.#open = { id, readOnly: request.readOnly === true, savepoints: 0, aborted: undefined };
      const depth = request.transaction?.savepointDepth ?? 0;
      while (this.#open.savepoints < depth) this.#savepoint(this.#open.savepoints + 1);
    } else if (this.#open?.id !== id) {
      throw new RequestFailure({
        code: 'NORTHLIGHT_TRANSACTION_LOST',
        sqlstate: '40001',
        message:
          'the transaction is no longer open in the SQL engine (it was rolled back when the engine replaced its SQL kernel); run it again',
      });
    } else if (step === 'rollback-to') {
      assert(request.statements.length === 0, 'a rollback-to step with statements');
      this.#rollbackToSavepoint(request.transaction?.savepointDepth);
      return [];
    }
    const aborted = this.#open.aborted;
    if (aborted !== undefined) {
      throw new RequestFailure({
        code: 'NORTHLIGHT_TRANSACTION_ABORTED',
        sqlstate: '25P02',
        message: `current transaction is aborted, commands ignored until end of transaction block (it failed with: ${aborted.message})`,
      });
    }
    if (step === 'savepoint' || step === 'release') {
      assert(request.statements.length === 0, `a ${step} step with statements`);
      this.#savepointOrRelease(step, request.transaction?.savepointDepth);
      return [];
    }
    const readOnly = this.#open.readOnly;
    assert(request.replay === undefined || step === 'open', `a replay in a ${step} step`);
    const results = this.#runEntries(request, readOnly);
    if (step === 'commit') {
      this.#open = undefined;
      if (readOnly) this.#stepInternal(this.#rollback, 'ROLLBACK');
      else this.#stepInternal(this.#commit, 'COMMIT');
    }
    return results;
  }

  #savepointOrRelease(step: 'savepoint' | 'release', depth: number | undefined): void {
    const open = this.#open;
    assert(open !== undefined, `${step} outside an interactive transaction`);
    if (step === 'savepoint') {
      assert(depth === open.savepoints + 1, `savepoint at depth ${depth} over ${open.savepoints}`);
      this.#savepoint(depth);
      return;
    }
    assert(depth !== undefined && depth >= 1 && depth <= open.savepoints, `release of depth ${depth}`);
    this.#savepointCommand(`RELEASE ${savepointName(depth)}`);
    open.savepoints = depth - 1;
  }

  #savepoint(depth: number): void {
    assert(this.#open !== undefined, 'a savepoint outside an interactive transaction');
    this.#savepointCommand(`SAVEPOINT ${savepointName(depth)}`);
    this.#open.savepoints = depth;
  }

  /**
   * Undoes everything after the savepoint at `depth`, keeps it, destroys the later ones, and resumes
   * an aborted transaction. SQLite's own transaction is still open here: a failure that ended it
   * ended the interactive transaction too (`#keepsAborted`), so this never resumes without the work
   * before the savepoint.
   */
  #rollbackToSavepoint(depth: number | undefined): void {
    const open = this.#open;
    assert(open !== undefined, 'rollback-to outside an interactive transaction');
    assert(depth !== undefined && depth >= 1 && depth <= open.savepoints, `rollback-to of depth ${depth}`);
    assert(this.#wasm._sqlite3_get_autocommit(this.#db) === 0, 'an interactive transaction SQLite ended');
    const schemaVersion = this.#schemaVersion();
    this.#savepointCommand(`ROLLBACK TO ${savepointName(depth)}`);
    open.savepoints = depth;
    open.aborted = undefined;
    // As after ROLLBACK: the version rolled back may come again with another schema (declared-types.ts).
    const after = this.#schemaVersion();
    if (schemaVersion === undefined || after === undefined || after !== schemaVersion) {
      this.#declaredTypes.invalidate();
    }
  }

  /** SAVEPOINT, RELEASE or ROLLBACK TO one of the kernel's own savepoints (trusted SQL). */
  #savepointCommand(sql: string): void {
    const pointer = allocateCString(this.#wasm, sql);
    const { stmt } = this.#prepareTrusted(pointer);
    this.#wasm._sqlite3_free(pointer);
    try {
      const rc = this.#wasm._sqlite3_step(stmt);
      if (rc !== SQLITE_DONE) throw this.#sqliteFailure(rc, undefined, sql);
    } finally {
      this.#wasm._sqlite3_finalize(stmt);
    }
  }

  /** Prepares the request's one statement without running it (`ExecuteRequest.describeOnly`). */
  #describe(request: ExecuteRequest): StatementResult {
    const wasm = this.#wasm;
    if (request.statements.length !== 1) {
      throw this.#refused({ kind: 'bad-parameters', message: 'describe takes exactly one statement' }, 0);
    }
    const entry = request.statements[0]!;
    // Always prepared afresh: a cached statement keeps the columns of the schema it was prepared on
    // until its next step re-prepares it, so after a schema change it would describe the old table.
    // A new statement is cached for the execution that usually follows; a fresh copy of a cached one
    // is finalized here.
    // An ALTER TABLE form SQLite lacks (alter-table.ts) would not prepare: it is a write with no result.
    if (mayAlterTable(entry.sql) && this.#isAlteration(entry.sql)) {
      return { columns: [], rows: [], changes: 0, parameterCount: 0, readOnly: false };
    }
    const withDefaults = this.#withDefaultValues(entry.sql, 0);
    if (withDefaults !== undefined)
      return this.#describe({ ...request, statements: [{ ...entry, sql: withDefaults }] });
    const cached = this.#statements.has(entry.sql);
    const sql = this.#textEncoder.encode(entry.sql);
    const pointer = this.#cString(sql, 0);
    let stmt: number;
    try {
      const prepared = this.#prepare(pointer, sql.length + 1, 0, 0);
      if (prepared.stmt === 0)
        return { columns: [], rows: [], changes: 0, parameterCount: 0, readOnly: true };
      if (!isBlankSql(sql, prepared.tail)) {
        wasm._sqlite3_finalize(prepared.stmt);
        throw new RequestFailure({
          code: 'NORTHLIGHT_SEVERAL_STATEMENTS',
          sqlstate: '42601',
          message: 'cannot insert multiple commands into a prepared statement',
          statementIndex: 0,
        });
      }
      stmt = prepared.stmt;
    } finally {
      wasm._sqlite3_free(pointer);
    }
    try {
      const columnCount = wasm._sqlite3_column_count(stmt);
      const columns: string[] = [];
      for (let column = 0; column < columnCount; column++) {
        columns.push(wasm.UTF8ToString(wasm._sqlite3_column_name(stmt, column)));
      }
      const declaredTypes =
        request.declaredTypes === true && columnCount > 0
          ? this.#declaredTypesOf(stmt, entry.sql, columnCount)
          : undefined;
      return {
        columns,
        rows: [],
        changes: 0,
        parameterCount: wasm._sqlite3_bind_parameter_count(stmt),
        readOnly: wasm._sqlite3_stmt_readonly(stmt) !== 0 || wasm._sqlite3_stmt_isexplain(stmt) !== 0,
        ...(declaredTypes === undefined ? {} : { declaredTypes }),
      };
    } finally {
      if (cached) wasm._sqlite3_finalize(stmt);
      else this.#cacheStatement(entry.sql, stmt);
    }
  }

  /**
   * VACUUM cannot run in a transaction; it commits on its own (one group) and attaches a temporary
   * database and begins transactions internally, which the authorizer would refuse to user SQL.
   */
  #runVacuum(entry: SqlStatement): StatementResult {
    this.#authorizerBypassed = true;
    try {
      return this.#runEntry(entry, 0, false);
    } finally {
      this.#authorizerBypassed = false;
    }
  }

  /** Steps BEGIN, COMMIT or ROLLBACK; a failure (a refused commit) becomes the request's error. */
  #stepInternal(stmt: number, what: string): void {
    const rc = this.#wasm._sqlite3_step(stmt);
    const failure = rc === SQLITE_DONE ? undefined : this.#sqliteFailure(rc, undefined, what);
    this.#wasm._sqlite3_reset(stmt);
    if (failure !== undefined) throw failure;
  }

  #rollbackIfOpen(): void {
    if (this.#wasm._sqlite3_get_autocommit(this.#db) !== 0) return;
    const schemaVersion = this.#schemaVersion();
    const rc = this.#wasm._sqlite3_step(this.#rollback);
    this.#wasm._sqlite3_reset(this.#rollback);
    // A ROLLBACK that fails leaves a transaction open that nothing can end: a bug, not an input.
    assert(rc === SQLITE_DONE, `ROLLBACK failed: ${rc} ${errorMessage(this.#wasm, this.#db)}`);
    assert(this.#wasm._sqlite3_get_autocommit(this.#db) !== 0, 'a transaction is still open after ROLLBACK');
    // The rolled-back schema's version may come again with another schema (declared-types.ts).
    const after = this.#schemaVersion();
    if (schemaVersion === undefined || after === undefined || after !== schemaVersion) {
      this.#declaredTypes.invalidate();
    }
  }

  /** What `declaredTypes` has done since the session opened (tests). */
  get declaredTypesStats(): DeclaredTypesStats {
    return this.#declaredTypes.stats;
  }

  /** The volume's schema version (`PRAGMA schema_version`), or undefined if it cannot be read now. */
  #schemaVersion(): number | undefined {
    const wasm = this.#wasm;
    const rc = wasm._sqlite3_step(this.#schemaVersionStmt);
    const version = rc === SQLITE_ROW ? wasm._sqlite3_column_int64(this.#schemaVersionStmt, 0) : undefined;
    wasm._sqlite3_reset(this.#schemaVersionStmt);
    return version;
  }

  /** The CREATE statements of the volume's tables and views, in creation order (undefined: unreadable). */
  #schemaStatements(): readonly string[] | undefined {
    const wasm = this.#wasm;
    const pointer = allocateCString(
      wasm,
      "SELECT sql FROM main.sqlite_schema WHERE type IN ('table', 'view') AND sql IS NOT NULL ORDER BY rowid",
    );
    const { stmt } = this.#prepareTrusted(pointer);
    wasm._sqlite3_free(pointer);
    const statements: string[] = [];
    try {
      for (;;) {
        const rc = wasm._sqlite3_step(stmt);
        if (rc === SQLITE_DONE) return statements;
        if (rc !== SQLITE_ROW) return undefined;
        statements.push(wasm.UTF8ToString(wasm._sqlite3_column_text(stmt, 0)));
      }
    } finally {
      wasm._sqlite3_finalize(stmt);
    }
  }

  /**
   * The declared types of `stmt`'s result columns (declared-types.ts), before any value is bound; or
   * undefined when the schema cannot be read now (the statement then fails or runs without them).
   */
  #declaredTypesOf(
    stmt: number,
    sql: string | undefined,
    columnCount: number,
  ): readonly string[] | undefined {
    const schemaVersion = this.#schemaVersion();
    if (schemaVersion === undefined) return undefined;
    const text = sql ?? this.#wasm.UTF8ToString(this.#wasm._sqlite3_sql(stmt));
    return this.#declaredTypes.typesOf(stmt, text, columnCount, schemaVersion, () =>
      this.#schemaStatements(),
    );
  }

  // ---- statements ----

  /** Runs one entry of a request: a cached statement, or the statements of its SQL in order. */
  #runEntry(entry: SqlStatement, index: number, readOnly: boolean): StatementResult {
    const cached = this.#statements.get(entry.sql);
    if (cached !== undefined) {
      this.#statements.delete(entry.sql);
      this.#statements.set(entry.sql, cached);
      return this.#runStatement(cached, entry.params ?? [], index, readOnly, entry.sql);
    }
    if (mayAlterTable(entry.sql)) {
      const altered = this.#runWithAlterations(entry, index, readOnly);
      if (altered !== undefined) return altered;
    }
    // Never cached under this text: the defaults written in may change (ALTER … SET DEFAULT).
    const withDefaults = this.#withDefaultValues(entry.sql, index);
    if (withDefaults !== undefined) return this.#runEntry({ ...entry, sql: withDefaults }, index, readOnly);
    const sql = this.#textEncoder.encode(entry.sql);
    const pointer = this.#cString(sql, index);
    try {
      return this.#runStatementsOf(entry, sql, pointer, index, readOnly);
    } finally {
      this.#wasm._sqlite3_free(pointer);
    }
  }

  #runStatementsOf(
    entry: SqlStatement,
    sql: Uint8Array,
    pointer: number,
    index: number,
    readOnly: boolean,
  ): StatementResult {
    let offset = 0;
    let last: StatementResult = { columns: [], rows: [], changes: 0 };
    let changes = 0;
    for (;;) {
      const { stmt, tail } = this.#prepare(pointer, sql.length + 1, offset, index);
      if (stmt === 0) break;
      if (offset === 0 && isBlankSql(sql, tail)) {
        this.#cacheStatement(entry.sql, stmt);
        return this.#runStatement(stmt, entry.params ?? [], index, readOnly, entry.sql);
      }
      try {
        if ((entry.params?.length ?? 0) > 0) {
          throw this.#refused({ kind: 'parameters-need-one-statement' }, index);
        }
        last = this.#runStatement(stmt, [], index, readOnly);
        changes += last.changes;
      } finally {
        this.#wasm._sqlite3_finalize(stmt);
      }
      offset = tail;
    }
    return { ...last, changes };
  }

  // ---- ALTER TABLE forms SQLite lacks (alter-table.ts) ----

  /**
   * An entry that holds one of the ALTER TABLE forms SQLite lacks, run statement by statement (the
   * others as SQLite's); undefined when it holds none, for SQLite to run as it is.
   */
  #runWithAlterations(entry: SqlStatement, index: number, readOnly: boolean): StatementResult | undefined {
    const statements = splitStatements(entry.sql);
    const alterations = statements.map((statement) => {
      try {
        return parseAlteration(statement);
      } catch (error) {
        throw this.#alterFailure(error, index);
      }
    });
    if (alterations.every((alteration) => alteration === null)) return undefined;
    if ((entry.params?.length ?? 0) > 0) {
      throw this.#refused({ kind: 'bad-parameters', message: 'ALTER TABLE takes no parameters' }, index);
    }
    let last: StatementResult = { columns: [], rows: [], changes: 0 };
    let changes = 0;
    for (const [position, statement] of statements.entries()) {
      const alteration = alterations[position] ?? null;
      last =
        alteration === null
          ? this.#runEntry({ sql: statement }, index, readOnly)
          : this.#alterTable(alteration, index, readOnly);
      changes += last.changes;
    }
    return { ...last, changes };
  }

  /**
   * An INSERT … VALUES whose rows hold DEFAULT, with each one replaced by its column's default
   * (default-values.ts); undefined for any other SQL, or when the table is not there (SQLite says so).
   */
  #withDefaultValues(sql: string, index: number): string | undefined {
    if (!mayHaveDefaultValues(sql)) return undefined;
    const insert = defaultValuesInsert(sql);
    if (insert === null) return undefined;
    const table = this.#query(
      "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
      [insert.table],
      index,
    )[0];
    if (table === undefined) return undefined;
    return withDefaultValues(insert, String(table[0])) ?? undefined;
  }

  #isAlteration(sql: string): boolean {
    try {
      return parseAlteration(sql) !== null;
    } catch (error) {
      throw this.#alterFailure(error, 0);
    }
  }

  /**
   * One alteration, inside the request's transaction: the rows are checked against the new rule, the
   * table's CREATE TABLE text is rewritten in `sqlite_schema` and the schema version bumped (SQLite
   * reads the new schema at the next statement, and so does every replica: the version is in page 1).
   * A failure anywhere rolls it back with the rest of the transaction.
   */
  #alterTable(alteration: Alteration, index: number, readOnly: boolean): StatementResult {
    if (readOnly) {
      const replica = this.#replica ? { replica: true } : {};
      throw this.#refused(
        { kind: 'read-only', statement: `ALTER TABLE ${alteration.table}`, ...replica },
        index,
      );
    }
    if (alteration.action.kind === 'drop-tables') {
      const { tables, cascade } = alteration.action;
      return this.#dropTables(tables, cascade, alteration.ifExists === true, index);
    }
    const found = this.#query(
      "SELECT rowid, sql, type, name FROM main.sqlite_schema WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')",
      [alteration.table],
      index,
    )[0];
    if (found === undefined && alteration.ifExists === true) return { columns: [], rows: [], changes: 0 };
    if (found === undefined) {
      throw this.#alterFailure(
        new AlterTableError('42P01', `relation "${alteration.table}" does not exist`),
        index,
      );
    }
    const [rowid, sql, type, name] = found.map((value) => String(value));
    if (type !== 'table' || name!.toLowerCase().startsWith('sqlite_')) {
      throw this.#alterFailure(new AlterTableError('42809', `"${name}" is not a table`), index);
    }
    if (alteration.action.kind === 'add-column') return this.#addColumn(name!, alteration.action, index);
    let plan: AlterationPlan;
    try {
      plan = planAlteration(sql!, alteration, { parentKeys: (parent) => this.#parentKeys(parent, index) });
    } catch (error) {
      throw this.#alterFailure(error, index);
    }
    if (plan.indexFallback !== undefined) {
      this.#alterConstraintIndex(name!, plan.indexFallback, index);
      return { columns: [], rows: [], changes: 0 };
    }
    if (plan.probeSql !== undefined) this.#probe(plan.probeSql, index);
    for (const check of plan.checksBefore) this.#checkRows(check, index);
    if (plan.newSql !== undefined) this.#writeTableSql(Number(rowid), plan.newSql);
    if (plan.convert !== undefined) this.#convertColumn(name!, plan.convert, index);
    for (const check of plan.checksAfter) this.#checkRows(check, index);
    return { columns: [], rows: [], changes: 0 };
  }

  /**
   * `ADD COLUMN` of a column SQLite refuses as written, in the steps PostgreSQL's one statement takes:
   * the column as SQLite takes it, its rows filled with the default, then the default, NOT NULL (23502
   * when a row has none) and a unique index (`<table>_<column>_key`, as PostgreSQL names it; 23505 on
   * duplicates).
   */
  #addColumn(
    table: string,
    action: Extract<AlterAction, { kind: 'add-column' }>,
    index: number,
  ): StatementResult {
    const tableSql = `main.${quoteName(table)}`;
    const column = quoteName(action.column);
    this.#runEntry({ sql: `ALTER TABLE ${tableSql} ADD COLUMN ${action.definition}` }, index, false);
    if (action.defaultValue !== undefined) {
      this.#query(`UPDATE ${tableSql} SET ${column} = (${action.defaultValue})`, [], index);
      const setDefault = {
        kind: 'set-default',
        column: action.column,
        expression: action.defaultValue,
      } as const;
      this.#alterTable({ table, action: setDefault }, index, false);
    }
    if (action.notNull)
      this.#alterTable({ table, action: { kind: 'set-not-null', column: action.column } }, index, false);
    if (action.unique) {
      const indexName = quoteName(action.uniqueName ?? `${table}_${action.column}_key`);
      this.#runEntry(
        { sql: `CREATE UNIQUE INDEX main.${indexName} ON ${quoteName(table)} (${column})` },
        index,
        false,
      );
    }
    return { columns: [], rows: [], changes: 0 };
  }

  /**
   * `DROP TABLE a, b CASCADE | RESTRICT` as PostgreSQL does it (alter-table.ts `dropTables`): the
   * tables go together (foreign keys among them deferred, so a parent may go before its child); a
   * foreign key to one of them from a table that stays refuses the statement (RESTRICT: 2BP01, each
   * named in the DETAIL) or goes from that table's CREATE TABLE text first (CASCADE; its rows stay).
   */
  #dropTables(given: readonly string[], cascade: boolean, ifExists: boolean, index: number): StatementResult {
    const tables: string[] = [];
    for (const name of given) {
      const found = this.#query(
        "SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
        [name],
        index,
      )[0];
      if (found !== undefined) tables.push(String(found[0]));
      else if (!ifExists)
        throw this.#alterFailure(new AlterTableError('42P01', `table "${name}" does not exist`), index);
    }
    const dropped = (name: string) => tables.some((table) => sameName(table, name));
    const dependents = this.#query(
      'SELECT s.rowid, s.name, s.sql, f."table", f.id, group_concat(f."from", \'_\' ORDER BY f.seq) ' +
        'FROM main.sqlite_schema s, pragma_foreign_key_list(s.name) f ' +
        "WHERE s.type = 'table' GROUP BY s.name, f.id ORDER BY s.name, f.id DESC",
      [],
      index,
    ).filter(([, child, , parent]) => dropped(String(parent)) && !dropped(String(child)));
    if (dependents.length > 0 && !cascade) {
      const lines = dependents.map(([, child, createSql, parent, id, columns]) => {
        const name =
          foreignKeyName(String(createSql), Number(id)) ?? `${String(child)}_${String(columns)}_fkey`;
        return `constraint ${name} on table ${String(child)} depends on table ${String(parent)}`;
      });
      throw this.#alterFailure(
        new AlterTableError(
          '2BP01',
          `cannot drop table ${String(dependents[0]?.[3])} because other objects depend on it`,
          'Use DROP ... CASCADE to drop the dependent objects too.',
          lines.join('\n'),
        ),
        index,
      );
    }
    const children = new Map<string, { rowid: number; sql: string }>();
    for (const [rowid, child, createSql] of dependents) {
      children.set(String(child), { rowid: Number(rowid), sql: String(createSql) });
    }
    for (const [child, { rowid, sql }] of children) {
      let newSql = sql;
      try {
        for (const table of tables) newSql = withoutReferencesTo(newSql, table) ?? newSql;
      } catch (error) {
        if (!(error instanceof TableDefinitionError)) throw error;
        throw this.#alterFailure(
          new AlterTableError(
            '0A000',
            `DROP TABLE … CASCADE cannot drop the foreign keys of table "${child}": northlight could not read its definition (${error.message})`,
          ),
          index,
        );
      }
      if (newSql !== sql) this.#writeTableSql(rowid, newSql);
    }
    const deferred = Number(this.#execTrusted('PRAGMA defer_foreign_keys')) === 1;
    this.#execTrusted('PRAGMA defer_foreign_keys = ON');
    try {
      for (const table of tables)
        this.#runEntry({ sql: `DROP TABLE main.${quoteName(table)}` }, index, false);
    } finally {
      if (this.#wasm._sqlite3_get_autocommit(this.#db) === 0) {
        this.#execTrusted(`PRAGMA defer_foreign_keys = ${deferred ? 'ON' : 'OFF'}`);
      }
    }
    return { columns: [], rows: [], changes: 0 };
  }

  #alterFailure(error: unknown, index: number): RequestFailure {
    if (!(error instanceof AlterTableError)) throw error;
    return new RequestFailure({
      code: 'NORTHLIGHT_ALTER_TABLE',
      sqlstate: error.sqlstate,
      message: error.message,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      ...(error.detail === undefined ? {} : { detail: error.detail }),
      statementIndex: index,
    });
  }

  /** Runs SQL of one statement as user SQL (authorizer on: it may hold the user's expressions); its rows. */
  #query(sql: string, params: readonly SqlParam[], index: number): readonly (readonly SqlValue[])[] {
    const bytes = this.#textEncoder.encode(sql);
    const pointer = this.#cString(bytes, index);
    let stmt: number;
    try {
      ({ stmt } = this.#prepare(pointer, bytes.length + 1, 0, index));
    } finally {
      this.#wasm._sqlite3_free(pointer);
    }
    assert(stmt !== 0, `no statement in ${sql}`);
    try {
      return this.#runStatement(stmt, params, index, false).rows;
    } finally {
      this.#wasm._sqlite3_finalize(stmt);
    }
  }

  /**
   * The foreign key a statement just broke (SQLite said only "FOREIGN KEY constraint failed"), as
   * PostgreSQL reports it (foreign-key-errors.ts): the statement runs again in a savepoint with the
   * keys deferred, `pragma_foreign_key_check` finds the orphan row, and the savepoint is rolled back,
   * so nothing of the second run stays. Undefined when the statement is not one that writes a table,
   * or the second run fails otherwise: the caller keeps SQLite's error.
   */
  #foreignKeyFailure(stmt: number, sql: string | undefined, index: number): RequestFailure | undefined {
    const wasm = this.#wasm;
    const written = writtenTable(sql ?? wasm.UTF8ToString(wasm._sqlite3_sql(stmt)));
    if (written === null || wasm._sqlite3_get_autocommit(this.#db) !== 0) return undefined;
    const deferred = Number(this.#execTrusted('PRAGMA defer_foreign_keys')) === 1;
    this.#execTrusted('SAVEPOINT northlight_foreign_key_check');
    try {
      this.#execTrusted('PRAGMA defer_foreign_keys = ON');
      wasm._sqlite3_reset(stmt); // its bindings stay
      let rc = wasm._sqlite3_step(stmt);
      while (rc === SQLITE_ROW) rc = wasm._sqlite3_step(stmt);
      wasm._sqlite3_reset(stmt);
      if (rc !== SQLITE_DONE) return undefined;
      const orphan = this.#firstOrphan(written, index);
      if (orphan === undefined) return undefined;
      const violation = foreignKeyViolation(orphan, written);
      return new RequestFailure({
        code: 'SQLITE_CONSTRAINT_FOREIGNKEY',
        sqlstate: '23503',
        message: violation.message,
        detail: violation.detail,
        statementIndex: index,
      });
    } finally {
      // Unless the second run lost the transaction itself (a page that could not be read: SQLite
      // rolled it all back, and the request fails as it would have).
      if (wasm._sqlite3_get_autocommit(this.#db) === 0) {
        this.#execTrusted('ROLLBACK TO northlight_foreign_key_check');
        this.#execTrusted('RELEASE northlight_foreign_key_check');
        this.#execTrusted(`PRAGMA defer_foreign_keys = ${deferred ? 'ON' : 'OFF'}`);
      }
    }
  }

  /** A row of `written`, or of a table referencing it, whose key has no parent now. */
  #firstOrphan(written: string, index: number): Orphan | undefined {
    const tables = this.#query(
      "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND (name = ?1 COLLATE NOCASE " +
        'OR EXISTS (SELECT 1 FROM pragma_foreign_key_list(name) f WHERE f."table" = ?1 COLLATE NOCASE)) ' +
        'ORDER BY name <> ?1 COLLATE NOCASE',
      [written],
      index,
    );
    for (const [name, createSql] of tables) {
      const child = String(name);
      // Of a row's broken keys, the one declared first: PostgreSQL checks them in the order they were made.
      const found = this.#query(
        'SELECT rowid, parent, fkid FROM pragma_foreign_key_check(?1) ORDER BY rowid, fkid DESC LIMIT 1',
        [child],
        index,
      )[0];
      if (found === undefined) continue;
      const [rowid, parent, id] = found;
      const key = this.#query(
        'SELECT "from", "to" FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq',
        [child, Number(id)],
        index,
      );
      const columns = key.map(([from]) => String(from));
      const parentKeys = this.#parentKeys(String(parent), index);
      const primary = parentKeys?.primaryKey.length
        ? parentKeys.primaryKey
        : (parentKeys?.primaryKeyIndex ?? []);
      const parentColumns = key.map(([, to], position) =>
        to === null ? (primary[position] ?? '?') : String(to),
      );
      const values =
        rowid === null
          ? columns.map(() => '?')
          : (this.#query(
              `SELECT ${columns.map(quoteName).join(', ')} FROM main.${quoteName(child)} WHERE rowid = ?1`,
              [Number(rowid)],
              index,
            )[0] ?? []);
      const constraint =
        foreignKeyName(String(createSql), Number(id)) ?? `${child}_${columns.join('_')}_fkey`;
      return { child, parent: String(parent), constraint, columns, parentColumns, values };
    }
    return undefined;
  }

  /** UTF-8 SQL copied into wasm memory, NUL-terminated (free it). */
  #cString(bytes: Uint8Array, index: number): number {
    const pointer = this.#wasm._sqlite3_malloc(bytes.length + 1);
    if (pointer === 0) throw new RequestFailure({ ...noMemory(), statementIndex: index });
    this.#wasm.HEAPU8.set(bytes, pointer);
    this.#wasm.HEAPU8[pointer + bytes.length] = 0;
    return pointer;
  }

  /** The new definition, parsed by SQLite under another name (prepared, never run): a bad one fails here. */
  #probe(probeSql: string, index: number): void {
    const bytes = this.#textEncoder.encode(probeSql);
    const pointer = this.#cString(bytes, index);
    try {
      const { stmt } = this.#prepare(pointer, bytes.length + 1, 0, index);
      this.#wasm._sqlite3_finalize(stmt);
    } finally {
      this.#wasm._sqlite3_free(pointer);
    }
  }

  #checkRows(check: RowCheck, index: number): void {
    if (check.kind === 'no-row') {
      if (this.#query(check.sql, [], index).length > 0) throw this.#alterFailure(check.error, index);
      return;
    }
    const parent = this.#parentKeys(check.parent, index);
    if (parent === undefined) {
      throw this.#alterFailure(
        new AlterTableError('42P01', `relation "${check.parent}" does not exist`),
        index,
      );
    }
    const parentColumns =
      check.parentColumns.length > 0
        ? check.parentColumns
        : parent.primaryKey.length > 0
          ? parent.primaryKey
          : (parent.primaryKeyIndex ?? []);
    const child = (column: string): string => `northlight_child.${quoteName(column)}`;
    const matches = check.columns
      .map(
        (column, position) =>
          `northlight_parent.${quoteName(parentColumns[position] ?? '')} = ${child(column)}`,
      )
      .join(' AND ');
    const orphan = this.#query(
      `SELECT ${check.columns.map(child).join(', ')} FROM main.${quoteName(check.table)} AS northlight_child ` +
        `WHERE ${check.columns.map((column) => `${child(column)} IS NOT NULL`).join(' AND ')} ` +
        `AND NOT EXISTS (SELECT 1 FROM main.${quoteName(check.parent)} AS northlight_parent WHERE ${matches}) LIMIT 1`,
      [],
      index,
    )[0];
    if (orphan === undefined) return;
    const key = `Key (${check.columns.join(', ')})=(${orphan.map((value) => String(value)).join(', ')})`;
    throw this.#alterFailure(
      new AlterTableError(
        '23503',
        `insert or update on table "${check.table}" violates foreign key constraint "${check.name}"`,
        'Delete or correct the rows without a parent first, or add the constraint NOT VALID.',
        `${key} is not present in table "${check.parent}".`,
      ),
      index,
    );
  }

  /** A foreign key's parent table: its columns, primary key and unique keys; undefined: no such table. */
  #parentKeys(table: string, index: number): ParentKeys | undefined {
    const found = this.#query(
      "SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
      [table],
      index,
    )[0];
    if (found === undefined) return undefined;
    const name = String(found[0]);
    const info = this.#query('SELECT name, pk FROM pragma_table_info(?1) ORDER BY pk', [name], index);
    const uniqueColumns = this.#query(
      'SELECT l.name, i.name FROM pragma_index_list(?1) AS l, pragma_index_info(l.name) AS i ' +
        'WHERE l."unique" = 1 AND l.partial = 0 ORDER BY l.seq, i.seqno',
      [name],
      index,
    );
    const uniqueKeys = new Map<string, string[]>();
    for (const [indexName, column] of uniqueColumns) {
      const columns = uniqueKeys.get(String(indexName)) ?? [];
      columns.push(String(column));
      uniqueKeys.set(String(indexName), columns);
    }
    const pkeyIndex = [...uniqueKeys.entries()].find(([indexName]) => sameName(indexName, `${name}_pkey`));
    return {
      columns: info.map(([column]) => String(column)),
      primaryKey: info.filter(([, pk]) => Number(pk) > 0).map(([column]) => String(column)),
      uniqueKeys: [...uniqueKeys.values()],
      ...(pkeyIndex === undefined ? {} : { primaryKeyIndex: pkeyIndex[1] }),
    };
  }

  /**
   * A constraint that is a unique index of the table (ALTER TABLE … ADD PRIMARY KEY / UNIQUE made it,
   * statement-rewrites.ts): dropped with the index; it cannot be renamed (SQLite renames no index).
   */
  #alterConstraintIndex(
    table: string,
    fallback: NonNullable<AlterationPlan['indexFallback']>,
    index: number,
  ): void {
    const found = this.#query(
      'SELECT name FROM pragma_index_list(?1) WHERE name = ?2 COLLATE NOCASE AND "unique" = 1',
      [table, fallback.name],
      index,
    )[0];
    if (found === undefined) {
      if (fallback.ifExists) return;
      throw this.#alterFailure(
        new AlterTableError('42704', `constraint "${fallback.name}" of relation "${table}" does not exist`),
        index,
      );
    }
    if (fallback.action === 'drop') this.#query(`DROP INDEX main.${quoteName(String(found[0]))}`, [], index);
    if (fallback.action === 'rename') {
      throw this.#alterFailure(
        new AlterTableError(
          '0A000',
          `ALTER TABLE … RENAME CONSTRAINT "${fallback.name}" is not supported by northlight: the constraint is a unique index, and SQLite cannot rename an index`,
          `Drop it and add it again under the new name: ALTER TABLE ${table} DROP CONSTRAINT ${fallback.name}, then ADD CONSTRAINT … UNIQUE (…).`,
        ),
        index,
      );
    }
  }

  /** Writes a table's new CREATE TABLE text and bumps the schema version, as SQLite's own ALTER does. */
  #writeTableSql(rowid: number, sql: string): void {
    assert(Number.isSafeInteger(rowid), `a sqlite_schema rowid: ${rowid}`);
    const version = this.#schemaVersion();
    assert(version !== undefined, 'the schema version is unreadable in a transaction that read the schema');
    this.#execTrusted('PRAGMA writable_schema = ON');
    try {
      this.#execTrusted(
        `UPDATE main.sqlite_schema SET sql = '${sql.replaceAll("'", "''")}' WHERE rowid = ${rowid}`,
      );
      assert(this.#wasm._sqlite3_changes(this.#db) === 1, 'the table row of sqlite_schema was not updated');
      this.#execTrusted(`PRAGMA schema_version = ${version + 1}`);
    } finally {
      this.#execTrusted('PRAGMA writable_schema = OFF');
    }
  }

  /** `ALTER COLUMN … TYPE`: every value again under the new type (or USING), then checked. */
  #convertColumn(table: string, convert: NonNullable<AlterationPlan['convert']>, index: number): void {
    const column = quoteName(convert.column);
    this.#query(`UPDATE main.${quoteName(table)} SET ${column} = (${convert.expression})`, [], index);
    if (!NUMBER_TYPE.test(convert.type)) return;
    const wrong = this.#query(
      `SELECT ${column} FROM main.${quoteName(table)} WHERE typeof(${column}) IN ('text', 'blob') LIMIT 1`,
      [],
      index,
    )[0];
    if (wrong === undefined) return;
    throw this.#alterFailure(
      new AlterTableError(
        '22P02',
        `invalid input syntax for type ${convert.type}: "${String(wrong[0])}"`,
        `Correct the values of column "${convert.column}" first, or convert them with ALTER COLUMN … TYPE … USING (expression).`,
      ),
      index,
    );
  }

  #prepare(pointer: number, length: number, offset: number, index: number): PreparedSql {
    const wasm = this.#wasm;
    const outStmt = this.#scratch;
    const outTail = this.#scratch + 4;
    this.#authorizingUserSql = true;
    let rc: number;
    try {
      rc = wasm._sqlite3_prepare_v3(this.#db, pointer + offset, length - offset, 0, outStmt, outTail);
    } finally {
      this.#authorizingUserSql = false;
    }
    if (rc !== SQLITE_OK) throw this.#sqliteFailure(rc, index);
    return { stmt: wasm.HEAP32[outStmt >> 2]!, tail: wasm.HEAP32[outTail >> 2]! - pointer };
  }

  #prepareInternal(sql: string): number {
    const pointer = allocateCString(this.#wasm, sql);
    try {
      const { stmt } = this.#prepareTrusted(pointer);
      assert(stmt !== 0, `preparing ${sql} gave no statement`);
      return stmt;
    } finally {
      this.#wasm._sqlite3_free(pointer);
    }
  }

  #prepareTrusted(pointer: number): PreparedSql {
    const rc = this.#wasm._sqlite3_prepare_v3(this.#db, pointer, -1, 0, this.#scratch, this.#scratch + 4);
    assert(rc === SQLITE_OK, `preparing internal SQL failed: ${errorMessage(this.#wasm, this.#db)}`);
    return { stmt: this.#wasm.HEAP32[this.#scratch >> 2]!, tail: 0 };
  }

  #cacheStatement(sql: string, stmt: number): void {
    if (this.#statements.size >= STATEMENT_CACHE_MAX) {
      const [oldestSql, oldest] = this.#statements.entries().next().value!;
      this.#statements.delete(oldestSql);
      this.#wasm._sqlite3_finalize(oldest);
    }
    this.#statements.set(sql, stmt);
  }

  /** `sql`: the statement's text when the caller has it (else it is read from `stmt` if needed). */
  #runStatement(
    stmt: number,
    params: readonly SqlParam[],
    index: number,
    readOnly: boolean,
    sql?: string,
  ): StatementResult {
    const wasm = this.#wasm;
    try {
      // An EXPLAIN only describes its statement: SQLite calls it a write when the statement is one.
      const writes = wasm._sqlite3_stmt_readonly(stmt) === 0 && wasm._sqlite3_stmt_isexplain(stmt) === 0;
      if (readOnly && writes) {
        throw this.#refused(
          {
            kind: 'read-only',
            statement: wasm.UTF8ToString(wasm._sqlite3_sql(stmt)),
            ...(this.#replica ? { replica: true } : {}),
          },
          index,
        );
      }
      this.#bind(stmt, params, index);
      // Read after the first step: a schema change re-prepares the statement inside it, and the new
      // one may have other columns (`SELECT *` after the table was replaced).
      let columnCount = 0;
      const rows: SqlValue[][] = [];
      const totalChangesBefore = writes ? this.#totalChanges() : 0;
      this.#authorizingUserSql = true; // a schema change may re-prepare the statement inside step
      this.#interruptible = true;
      let failed: { readonly rc: number; readonly failure: RequestFailure } | undefined;
      try {
        for (let first = true; ; first = false) {
          const rc = wasm._sqlite3_step(stmt);
          if (first) columnCount = wasm._sqlite3_column_count(stmt);
          if (rc === SQLITE_INTERRUPT) throw this.#canceled(index);
          if (rc === SQLITE_ROW) {
            // Rows are read in JavaScript, between steps: a cancel must stop a long result too.
            if (rows.length % 256 === 255 && this.#cancelled?.() === true) throw this.#canceled(index);
            if (rows.length >= this.#maxResultRows) {
              throw this.#refused({ kind: 'result-too-large', limitRows: this.#maxResultRows }, index);
            }
            rows.push(this.#readRow(stmt, columnCount));
          } else if (rc === SQLITE_DONE) break;
          else {
            failed = { rc, failure: this.#sqliteFailure(rc, index) };
            break;
          }
        }
      } finally {
        this.#authorizingUserSql = false;
        this.#interruptible = false;
      }
      if (failed !== undefined) {
        // Which foreign key, told as PostgreSQL tells it; SQLite's own words when it cannot be found.
        if (failed.rc === SQLITE_CONSTRAINT_FOREIGNKEY)
          throw this.#foreignKeyFailure(stmt, sql, index) ?? failed.failure;
        throw failed.failure;
      }
      const columns: string[] = [];
      for (let column = 0; column < columnCount; column++) {
        columns.push(wasm.UTF8ToString(wasm._sqlite3_column_name(stmt, column)));
      }
      // sqlite3_changes() keeps the last DML's count through DDL; the total tells whether this changed any.
      const changes =
        writes && this.#totalChanges() !== totalChangesBefore ? wasm._sqlite3_changes(this.#db) : 0;
      if (!this.#wantDeclaredTypes || columnCount === 0) return { columns, rows, changes };
      // Described as it ran, with its values unbound (the probe sees parameters as NULL).
      wasm._sqlite3_reset(stmt);
      wasm._sqlite3_clear_bindings(stmt);
      const declaredTypes = this.#declaredTypesOf(stmt, sql, columnCount);
      return declaredTypes === undefined
        ? { columns, rows, changes }
        : { columns, rows, changes, declaredTypes };
    } finally {
      wasm._sqlite3_reset(stmt);
      wasm._sqlite3_clear_bindings(stmt);
    }
  }

  #totalChanges(): number {
    return this.#wasm._sqlite3_total_changes(this.#db);
  }

  #bind(stmt: number, params: readonly SqlParam[], index: number): void {
    const expected = this.#wasm._sqlite3_bind_parameter_count(stmt);
    if (params.length !== expected) {
      throw this.#refused(
        {
          kind: 'bad-parameters',
          message: `the statement takes ${expected} parameters but ${params.length} were given`,
        },
        index,
      );
    }
    for (let position = 0; position < params.length; position++) {
      const rc = this.#bindOne(stmt, position + 1, params[position], index);
      if (rc !== SQLITE_OK) throw this.#sqliteFailure(rc, index);
    }
  }

  #bindOne(stmt: number, position: number, value: SqlParam | undefined, index: number): number {
    const wasm = this.#wasm;
    if (value === null) return wasm._sqlite3_bind_null(stmt, position);
    switch (typeof value) {
      case 'boolean':
        return wasm._sqlite3_bind_int(stmt, position, value ? 1 : 0);
      case 'number':
        if ((value | 0) === value) return wasm._sqlite3_bind_int(stmt, position, value);
        if (Number.isSafeInteger(value)) return this.#bindInt64(stmt, position, BigInt(value));
        return wasm._sqlite3_bind_double(stmt, position, value);
      case 'bigint':
        if (value < -(1n << 63n) || value >= 1n << 63n) break;
        return this.#bindInt64(stmt, position, value);
      case 'string': {
        const bytes = this.#textEncoder.encode(value);
        return wasm._sqlite3_bind_text(
          stmt,
          position,
          this.#copyIn(bytes),
          bytes.length,
          wasm._getSqliteFree(),
        );
      }
      case 'object':
        if (value instanceof Uint8Array) {
          return wasm._sqlite3_bind_blob(
            stmt,
            position,
            this.#copyIn(value),
            value.length,
            wasm._getSqliteFree(),
          );
        }
        break;
    }
    throw this.#refused(
      {
        kind: 'bad-parameters',
        message: `parameter ${position} is not a number, string, boolean, null, bigint or bytes`,
      },
      index,
    );
  }

  #bindInt64(stmt: number, position: number, value: bigint): number {
    const low = Number(BigInt.asIntN(32, value));
    const high = Number(BigInt.asIntN(32, value >> 32n));
    return this.#wasm._sqlite3_bind_int64(stmt, position, low, high);
  }

  /** Copies bytes into memory from sqlite3_malloc; SQLite frees it (the bind's destructor). */
  #copyIn(bytes: Uint8Array): number {
    const pointer = this.#wasm._sqlite3_malloc(Math.max(1, bytes.length));
    assert(pointer !== 0, 'out of wasm memory binding a parameter');
    this.#wasm.HEAPU8.set(bytes, pointer);
    return pointer;
  }

  #readRow(stmt: number, columnCount: number): SqlValue[] {
    const wasm = this.#wasm;
    const row: SqlValue[] = new Array(columnCount);
    for (let column = 0; column < columnCount; column++) {
      switch (wasm._sqlite3_column_type(stmt, column)) {
        case SQLITE_INTEGER: {
          const low = wasm._sqlite3_column_int64(stmt, column);
          const high = wasm.getTempRet0();
          row[column] = this.#typedValues
            ? (BigInt(high) << 32n) | BigInt(low >>> 0)
            : integerValue(low, high);
          break;
        }
        case SQLITE_FLOAT:
          row[column] = wasm._sqlite3_column_double(stmt, column);
          break;
        case SQLITE_TEXT: {
          const pointer = wasm._sqlite3_column_text(stmt, column);
          const length = wasm._sqlite3_column_bytes(stmt, column);
          row[column] = this.#textDecoder.decode(wasm.HEAPU8.subarray(pointer, pointer + length));
          break;
        }
        case SQLITE_BLOB: {
          const pointer = wasm._sqlite3_column_blob(stmt, column);
          const length = wasm._sqlite3_column_bytes(stmt, column);
          const heap = wasm.HEAPU8;
          row[column] = this.#typedValues
            ? heap.slice(pointer, pointer + length)
            : Buffer.from(heap.buffer, heap.byteOffset + pointer, length).toString('base64');
          break;
        }
        default:
          row[column] = null;
      }
    }
    return row;
  }

  // ---- failures ----

  #sqliteFailure(rc: number, index: number | undefined, what?: string): RequestFailure {
    const message = errorMessage(this.#wasm, this.#db);
    const mapped = sqlErrorFromSqlite(
      rc,
      what === undefined ? message : `${what}: ${message}`,
      this.#vfs.refusal,
    );
    return new RequestFailure(index === undefined ? mapped : { ...mapped, statementIndex: index });
  }

  #canceled(index: number): RequestFailure {
    return new RequestFailure({
      code: 'SQLITE_INTERRUPT',
      sqlstate: '57014',
      message: STATEMENT_CANCELED_MESSAGE,
      statementIndex: index,
    });
  }

  #refused(refusal: KernelRefusal, index: number): RequestFailure {
    return new RequestFailure({ ...sqlErrorFromRefusal(refusal), statementIndex: index });
  }

  #authorize(action: number, p3: number, p4: number): number {
    if (!this.#authorizingUserSql || this.#authorizerBypassed) return SQLITE_OK;
    switch (action) {
      case AUTH_PRAGMA: {
        const name = this.#wasm.UTF8ToString(p3).toLowerCase();
        if (PRAGMAS_ALLOWED.has(name) || (PRAGMAS_READ_ONLY.has(name) && p4 === 0)) return SQLITE_OK;
        const setting = PRAGMAS_READ_ONLY.has(name) ? 'setting ' : '';
        return this.#deny(`${setting}PRAGMA ${name}`);
      }
      case AUTH_TRANSACTION:
      case AUTH_SAVEPOINT:
        return this.#deny('transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT)');
      case AUTH_ATTACH:
        // A second database's commits could not be one group with the main one's.
        return this.#deny('ATTACH');
      case AUTH_CREATE_TEMP_INDEX:
      case AUTH_CREATE_TEMP_TABLE:
      case AUTH_CREATE_TEMP_TRIGGER:
      case AUTH_CREATE_TEMP_VIEW:
        // They would outlive the request on the connection every client shares, and never reach storage.
        return this.#deny('a TEMP table, index, trigger or view');
    }
    return SQLITE_OK;
  }

  #deny(what: string): number {
    this.#vfs.refusal = { kind: 'not-authorized', what };
    return SQLITE_DENY;
  }

  // ---- setup ----

  /** The pragmas the redo VFS relies on (engine-feasibility §1), checked after they are set. */
  #configure(sqliteCachePages: number): void {
    assert(Number.isInteger(sqliteCachePages) && sqliteCachePages >= 10, 'sqliteCachePages must be ≥ 10');
    const settings: [string, string][] = [
      ['page_size', '4096'],
      ['journal_mode', 'memory'],
      ['synchronous', '1'],
      ['cache_spill', '0'],
      // A replica's database changes under it (R3): NORMAL makes SQLite re-read the size per transaction.
      ['locking_mode', this.#replica ? 'normal' : 'exclusive'],
      ['temp_store', '2'],
      ['cache_size', String(sqliteCachePages)],
      ['foreign_keys', '1'],
      ...(this.#replica ? [['query_only', '1'] as [string, string]] : []),
    ];
    for (const [name, value] of settings) this.#execTrusted(`PRAGMA ${name}=${value}`);
    for (const [name, value] of settings) {
      const actual = this.#execTrusted(`PRAGMA ${name}`);
      // page_size reads back the database's page size, which a new database only gets at its first table.
      if (name === 'page_size' && this.#vfs.sizePages === 0) continue;
      assert(String(actual).toLowerCase() === value, `PRAGMA ${name} is ${actual}, not ${value}`);
    }
  }

  /** Runs trusted SQL (one statement) and returns the first column of its first row. */
  #execTrusted(sql: string): SqlValue | undefined {
    const pointer = allocateCString(this.#wasm, sql);
    const { stmt } = this.#prepareTrusted(pointer);
    this.#wasm._sqlite3_free(pointer);
    try {
      let first: SqlValue | undefined;
      for (;;) {
        const rc = this.#wasm._sqlite3_step(stmt);
        if (rc === SQLITE_ROW) first ??= this.#readRow(stmt, 1)[0];
        else if (rc === SQLITE_DONE) return first;
        else assert(false, `${sql} failed: ${errorMessage(this.#wasm, this.#db)}`);
      }
    } finally {
      this.#wasm._sqlite3_finalize(stmt);
    }
  }
}

/** The PostgreSQL number types: a value of a column given one of them must be a number. */
const NUMBER_TYPE =
  /^\s*(smallint|integer|bigint|int|int2|int4|int8|real|float|float4|float8|double precision|serial|bigserial|smallserial)\s*$/i;

/** SQLite INTEGER (as low and high 32-bit halves) → a number when safe, else its decimal string. */
export function integerValue(low: number, high: number): number | string {
  const value = high * 2 ** 32 + (low >>> 0);
  if (Number.isSafeInteger(value)) return value;
  return ((BigInt(high) << 32n) | BigInt(low >>> 0)).toString();
}

/**
 * Whether the UTF-8 SQL from `start` holds no further statement: only whitespace, semicolons and
 * comments. (SQLite's prepare stops after the first statement; what follows it decides whether the
 * entry is one statement, which may be cached and take parameters.)
 */
export function isBlankSql(sql: Uint8Array, start: number): boolean {
  let at = start;
  while (at < sql.length) {
    const byte = sql[at]!;
    if (byte === 0x20 || byte === 0x3b || (byte >= 0x09 && byte <= 0x0d)) at++;
    else if (byte === 0x2d && sql[at + 1] === 0x2d) {
      while (at < sql.length && sql[at] !== 0x0a) at++;
    } else if (byte === 0x2f && sql[at + 1] === 0x2a) {
      at += 2;
      while (at < sql.length && !(sql[at] === 0x2a && sql[at + 1] === 0x2f)) at++;
      at += 2;
    } else return false;
  }
  return true;
}

/** The SQLite name of an interactive transaction's savepoint at `depth` (the client's names never reach SQLite). */
function savepointName(depth: number): string {
  return `northlight_savepoint_${depth}`;
}

function isLoneVacuum(request: ExecuteRequest): boolean {
  return (
    request.statements.length === 1 &&
    request.readOnly !== true &&
    /^\s*vacuum\s*;?\s*$/i.test(request.statements[0]!.sql)
  );
}

function allocateCString(wasm: SqliteWasm, text: string): number {
  const bytes = new TextEncoder().encode(text);
  const pointer = wasm._sqlite3_malloc(bytes.length + 1);
  assert(pointer !== 0, 'out of wasm memory');
  wasm.HEAPU8.set(bytes, pointer);
  wasm.HEAPU8[pointer + bytes.length] = 0;
  return pointer;
}

function errorMessage(wasm: SqliteWasm, db: number): string {
  return db === 0 ? 'out of memory' : wasm.UTF8ToString(wasm._sqlite3_errmsg(db));
}

function noMemory(): SqlError {
  return { code: 'SQLITE_NOMEM', sqlstate: '54000', message: 'out of memory in the SQL engine' };
}

/**
 * An optimistic transaction's earlier statement that gives another result at the replay: another
 * transaction committed a change this one read, so committing it now would not be what its client
 * saw. PostgreSQL's SERIALIZABLE says the same, with the same SQLSTATE.
 */
function serializationFailure(index: number, what: string): SqlError {
  return {
    code: 'NORTHLIGHT_SERIALIZATION_FAILURE',
    sqlstate: '40001',
    message: `could not serialize access due to concurrent update: statement ${index + 1} of the transaction ${what}: another transaction committed a change it read`,
    hint: 'Run the transaction again.',
  };
}

/**
 * Whether a replayed statement's failure means a concurrent change (a row it wrote now collides, a
 * table it used is gone, a value now out of range) rather than the engine's own state (a cancel, a
 * statement timeout, storage refusing writes, out of memory), which is reported as it is.
 */
function replayFailureIsConflict(error: SqlError): boolean {
  return ['22', '23', '40', '42', '2B', '44'].includes(error.sqlstate.slice(0, 2));
}
