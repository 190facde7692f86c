/**
 * Loading SQLite-in-WebAssembly (`@journeyapps/wa-sqlite` 2.0.6, SQLite 3.53.0, its synchronous build)
 * and the raw exports the kernel calls.
 *
 * Why raw exports: the package's high-level API is Promise-based even in the synchronous build (every
 * `step` is an `await` through `retry()`), which costs more than the statement itself on point
 * queries (engine-feasibility §4.3). The kernel calls `_sqlite3_step` and friends directly; the only
 * glue functions it uses are `vfs_register`, `set_authorizer` and `progress_handler`, which install
 * JavaScript callbacks.
 *
 * Conventions of the Emscripten build: pointers are numbers into `HEAPU8`, which is replaced when
 * linear memory grows (so it is re-read after any call into wasm); 64-bit integers cross the boundary
 * "legalized" as (low, high) 32-bit pairs, and a 64-bit result's high half is read with `getTempRet0`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ModuleFactory from '@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';

/** The exports of the synchronous build that the kernel uses. */
export interface SqliteWasm {
  readonly HEAPU8: Uint8Array;
  readonly HEAP32: Int32Array;
  getTempRet0(): number;
  UTF8ToString(pointer: number): string;
  vfs_register(vfs: object, makeDefault: boolean): number;
  set_authorizer(
    db: number,
    authorizer: (pApp: number, action: number, p3: number, p4: number, p5: number, p6: number) => number,
    pApp: number,
  ): number;
  /** Calls `handler` every `nOps` virtual-machine steps; a non-zero return interrupts the statement. */
  progress_handler(db: number, nOps: number, handler: ((pApp: number) => number) | null, pApp: number): void;
  _getSqliteFree(): number;
  _sqlite3_malloc(bytes: number): number;
  _sqlite3_free(pointer: number): void;
  _sqlite3_libversion(): number;
  _sqlite3_open_v2(zFilename: number, ppDb: number, flags: number, zVfs: number): number;
  _sqlite3_close_v2(db: number): number;
  _sqlite3_extended_result_codes(db: number, onoff: number): number;
  _sqlite3_extended_errcode(db: number): number;
  _sqlite3_errmsg(db: number): number;
  _sqlite3_changes(db: number): number;
  _sqlite3_db_status(db: number, op: number, pCurrent: number, pHighwater: number, resetFlag: number): number;
  _sqlite3_total_changes(db: number): number;
  _sqlite3_get_autocommit(db: number): number;
  _sqlite3_prepare_v3(
    db: number,
    zSql: number,
    nByte: number,
    prepFlags: number,
    ppStmt: number,
    pzTail: number,
  ): number;
  _sqlite3_step(stmt: number): number;
  _sqlite3_reset(stmt: number): number;
  _sqlite3_clear_bindings(stmt: number): number;
  _sqlite3_finalize(stmt: number): number;
  _sqlite3_stmt_readonly(stmt: number): number;
  _sqlite3_sql(stmt: number): number;
  /** The statement's SQL with its bound values written in (unbound ones as NULL); free it with sqlite3_free. */
  _sqlite3_expanded_sql(stmt: number): number;
  _sqlite3_bind_parameter_count(stmt: number): number;
  _sqlite3_bind_null(stmt: number, index: number): number;
  _sqlite3_bind_int(stmt: number, index: number, value: number): number;
  _sqlite3_bind_int64(stmt: number, index: number, low: number, high: number): number;
  _sqlite3_bind_double(stmt: number, index: number, value: number): number;
  _sqlite3_bind_text(stmt: number, index: number, pointer: number, bytes: number, destructor: number): number;
  _sqlite3_bind_blob(stmt: number, index: number, pointer: number, bytes: number, destructor: number): number;
  _sqlite3_column_count(stmt: number): number;
  _sqlite3_column_name(stmt: number, column: number): number;
  _sqlite3_column_type(stmt: number, column: number): number;
  _sqlite3_column_int64(stmt: number, column: number): number;
  _sqlite3_column_double(stmt: number, column: number): number;
  _sqlite3_column_text(stmt: number, column: number): number;
  _sqlite3_column_blob(stmt: number, column: number): number;
  _sqlite3_column_bytes(stmt: number, column: number): number;
}

/** Loads a fresh instance (one per connection: the build is single-threaded, THREADSAFE=0). */
export async function loadSqliteWasm(): Promise<SqliteWasm> {
  // The builds target the web: without `wasmBinary` the glue tries to fetch() a file: URL and aborts.
  const wasmPath = fileURLToPath(import.meta.resolve('@journeyapps/wa-sqlite/dist/wa-sqlite.wasm'));
  return (await ModuleFactory({ wasmBinary: readFileSync(wasmPath) })) as SqliteWasm;
}
