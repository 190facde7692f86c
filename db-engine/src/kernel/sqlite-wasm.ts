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
import { PG_ARRAY_FUNCTION, pgArrayToJson } from '../core/pg-array.js';
import { DIVISION_BY_ZERO, NONZERO_FUNCTION } from '../core/pgwire/division-checks.js';
import { CATALOG_FUNCTIONS } from './catalog-functions.js';
import { JSONB_FUNCTIONS } from './jsonb-functions.js';
import { POSTGRES_FUNCTIONS, PostgresFunctionError, type SqlScalar } from './postgres-functions.js';

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
  /**
   * Registers a scalar SQL function; `xFunc` gets the context and the address of its argument
   * pointers (wa-sqlite's libfunction).
   */
  create_function(
    db: number,
    name: string,
    nArg: number,
    eTextRep: number,
    pApp: number,
    xFunc: ((context: number, argumentCount: number, argumentsPointer: number) => void) | null,
    xStep: null,
    xFinal: null,
  ): number;
  _sqlite3_value_type(value: number): number;
  /** The value's type after numeric affinity (text that reads as a number becomes one). */
  _sqlite3_value_numeric_type(value: number): number;
  _sqlite3_value_double(value: number): number;
  _sqlite3_value_text(value: number): number;
  _sqlite3_value_bytes(value: number): number;
  _sqlite3_result_null(context: number): void;
  _sqlite3_result_int(context: number, value: number): void;
  _sqlite3_result_double(context: number, value: number): void;
  _sqlite3_result_text(context: number, pointer: number, bytes: number, destructor: number): void;
  _sqlite3_result_error_nomem(context: number): void;
  _sqlite3_result_error(context: number, message: number, bytes: number): void;
  /** The result is a copy of `value`, type and all. */
  _sqlite3_result_value(context: number, value: number): void;
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
  /** 1 for EXPLAIN, 2 for EXPLAIN QUERY PLAN, 0 otherwise. */
  _sqlite3_stmt_isexplain(stmt: number): number;
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

const SQLITE_UTF8 = 1;
const SQLITE_DETERMINISTIC = 0x800;
const SQLITE_INNOCUOUS = 0x200000;
const SQLITE_INTEGER_TYPE = 1;
const SQLITE_FLOAT_TYPE = 2;
const SQLITE_NULL_TYPE = 5;
/** SQLITE_TRANSIENT: SQLite copies the result before the call returns. */
const SQLITE_TRANSIENT = -1;

/**
 * `lower(x)` and `upper(x)` over all of Unicode, as PostgreSQL's (in a UTF-8 database) are: SQLite's
 * built-in ones change only ASCII letters, so `lower('ÄÖ')` stayed `ÄÖ` and `WHERE lower(email) =
 * lower($1)` missed accented addresses. Registered on each connection the kernel opens, overriding
 * the built-ins (deterministic, so they may stand in indexes and generated columns). NULL stays NULL;
 * another value is read as text first, as the built-ins read it.
 */
export function registerUnicodeCase(wasm: SqliteWasm, db: number): void {
  // One connection per wasm instance only: wa-sqlite keeps a function's callback by its name, so the
  // same name registered on a second connection (the declared-types shadow) drops the first's.
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const register = (name: string, convert: (text: string) => string) => {
    const rc = wasm.create_function(
      db,
      name,
      1,
      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
      0,
      (context, _count, argumentsPointer) => {
        const value = wasm.HEAP32[argumentsPointer >> 2]!;
        if (wasm._sqlite3_value_type(value) === SQLITE_NULL_TYPE) {
          wasm._sqlite3_result_null(context);
          return;
        }
        const pointer = wasm._sqlite3_value_text(value);
        const length = wasm._sqlite3_value_bytes(value);
        let converted: string;
        try {
          converted = convert(decoder.decode(wasm.HEAPU8.subarray(pointer, pointer + length)));
        } catch (error) {
          const message = encoder.encode((error as Error).message);
          const text = wasm._sqlite3_malloc(message.length + 1);
          if (text === 0) {
            wasm._sqlite3_result_error_nomem(context);
            return;
          }
          wasm.HEAPU8.set(message, text);
          wasm._sqlite3_result_error(context, text, message.length);
          wasm._sqlite3_free(text);
          return;
        }
        const bytes = encoder.encode(converted);
        const out = wasm._sqlite3_malloc(bytes.length + 1);
        if (out === 0) {
          wasm._sqlite3_result_error_nomem(context);
          return;
        }
        wasm.HEAPU8.set(bytes, out);
        wasm._sqlite3_result_text(context, out, bytes.length, SQLITE_TRANSIENT);
        wasm._sqlite3_free(out);
      },
      null,
      null,
    );
    if (rc !== 0) throw new Error(`registering ${name}() failed: ${rc}`);
  };
  // `x / y` and `x % y` in a PostgreSQL client's DML (division-checks.ts): y as it is, unless it is
  // numerically zero, which PostgreSQL refuses (22012) where SQLite would give NULL. The message is
  // kept in the wasm heap for the connection's life (sql-errors.ts maps it to 22012).
  const message = encoder.encode(`${DIVISION_BY_ZERO}\0`);
  const divisionByZero = wasm._sqlite3_malloc(message.length);
  if (divisionByZero === 0) throw new Error(`registering ${NONZERO_FUNCTION}(): out of memory`);
  wasm.HEAPU8.set(message, divisionByZero);
  const nonzero = wasm.create_function(
    db,
    NONZERO_FUNCTION,
    -1,
    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
    0,
    (context, count, argumentsPointer) => {
      const value = wasm.HEAP32[argumentsPointer >> 2]!;
      // northlight_nonzero(divisor, dividend's factor): a NULL factor makes the quotient NULL anyway.
      const factorIsNull =
        count > 1 && wasm._sqlite3_value_type(wasm.HEAP32[(argumentsPointer >> 2) + 1]!) === SQLITE_NULL_TYPE;
      const type = wasm._sqlite3_value_numeric_type(value);
      if (
        !factorIsNull &&
        (type === SQLITE_INTEGER_TYPE || type === SQLITE_FLOAT_TYPE) &&
        wasm._sqlite3_value_double(value) === 0
      ) {
        wasm._sqlite3_result_error(context, divisionByZero, -1);
        return;
      }
      wasm._sqlite3_result_value(context, value);
    },
    null,
    null,
  );
  if (nonzero !== 0) throw new Error(`registering ${NONZERO_FUNCTION}() failed: ${nonzero}`);
  registerPostgresFunctions(wasm, db);
  register('lower', (text) => text.toLowerCase());
  register('upper', (text) => text.toUpperCase());
  // `x = ANY($1)` with an array parameter (postgres-forms.ts): the array literal as JSON, for json_each.
  register(PG_ARRAY_FUNCTION, (text) => {
    const json = pgArrayToJson(text);
    if (json instanceof Error) throw json;
    return json;
  });
}

/** SQLite's fundamental types, as `sqlite3_value_type` gives them. */
const SQLITE_TEXT_TYPE = 3;
const SQLITE_BLOB_TYPE = 4;
const INT32_MAX = 2_147_483_647;

/**
 * PostgreSQL's functions SQLite lacks (postgres-functions.ts: md5, split_part, lpad, to_char…), each
 * arity registered as a scalar function. Arguments arrive as text, numbers or NULL; a thrown
 * `PostgresFunctionError` becomes the statement's error, with PostgreSQL's message.
 */
function registerPostgresFunctions(wasm: SqliteWasm, db: number): void {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const fail = (context: number, message: string) => {
    const bytes = encoder.encode(message);
    const pointer = wasm._sqlite3_malloc(bytes.length + 1);
    if (pointer === 0) return wasm._sqlite3_result_error_nomem(context);
    wasm.HEAPU8.set(bytes, pointer);
    wasm._sqlite3_result_error(context, pointer, bytes.length);
    wasm._sqlite3_free(pointer);
  };
  for (const definition of [...POSTGRES_FUNCTIONS, ...JSONB_FUNCTIONS, ...CATALOG_FUNCTIONS]) {
    // One registration per name, taking any count: wa-sqlite keeps one callback per name, so a
    // second arity registered apart would drop the first's (and its calls fail in the worker).
    const flags = SQLITE_UTF8 | SQLITE_INNOCUOUS | (definition.deterministic ? SQLITE_DETERMINISTIC : 0);
    const rc = wasm.create_function(
      db,
      definition.name,
      -1,
      flags,
      0,
      (context, count, argumentsPointer) => {
        if (!definition.arities.includes(count))
          return fail(context, `wrong number of arguments to function ${definition.name}()`);
        const args: SqlScalar[] = [];
        for (let index = 0; index < count; index++) {
          const value = wasm.HEAP32[(argumentsPointer >> 2) + index]!;
          const type = wasm._sqlite3_value_type(value);
          if (type === SQLITE_NULL_TYPE) args.push(null);
          else if (type === SQLITE_TEXT_TYPE || type === SQLITE_BLOB_TYPE) {
            const pointer = wasm._sqlite3_value_text(value);
            const length = wasm._sqlite3_value_bytes(value);
            args.push(decoder.decode(wasm.HEAPU8.subarray(pointer, pointer + length)));
          } else if (type === SQLITE_INTEGER_TYPE) {
            // Exactly, as its decimal text, when a double would round it.
            const number = wasm._sqlite3_value_double(value);
            args.push(
              Number.isSafeInteger(number) ? number : wasm.UTF8ToString(wasm._sqlite3_value_text(value)),
            );
          } else args.push(wasm._sqlite3_value_double(value));
        }
        let result: SqlScalar;
        try {
          result = definition.call(args);
        } catch (error) {
          if (error instanceof PostgresFunctionError) return fail(context, error.message);
          return fail(context, `${definition.name}: ${(error as Error).message}`);
        }
        if (result === null) wasm._sqlite3_result_null(context);
        else if (typeof result === 'number') {
          if (definition.real !== true && Number.isInteger(result) && Math.abs(result) <= INT32_MAX)
            wasm._sqlite3_result_int(context, result);
          else wasm._sqlite3_result_double(context, result);
        } else {
          const bytes = encoder.encode(result);
          const out = wasm._sqlite3_malloc(bytes.length + 1);
          if (out === 0) return wasm._sqlite3_result_error_nomem(context);
          wasm.HEAPU8.set(bytes, out);
          wasm._sqlite3_result_text(context, out, bytes.length, SQLITE_TRANSIENT);
          wasm._sqlite3_free(out);
        }
      },
      null,
      null,
    );
    if (rc !== 0) throw new Error(`registering ${definition.name}() failed: ${rc}`);
  }
}
