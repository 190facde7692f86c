/**
 * The declared types of a statement's result columns (`ExecuteRequest.declaredTypes`), which the wire
 * protocol turns into PostgreSQL types (src/core/pgwire/types.ts). This build of SQLite has no
 * `sqlite3_column_decltype`, but SQLite computes the same thing for the columns of a view: a column
 * that is a direct reference to a table column (through aliases, joins, subqueries, CTEs and other
 * views) gets that column's declared type as written (`BIGINT`, `varchar(20)`); any other expression
 * gets a name from its affinity (`INT`, `REAL`, `TEXT`, `NUM`, `BLOB` for a CAST, say) or ''.
 *
 * So a statement is described by `CREATE VIEW probe AS <its SQL, parameters as NULL>` and `PRAGMA
 * table_info(probe)`, run on a *shadow*: a second, in-memory SQLite connection in the same wasm
 * instance holding a copy of the volume's schema (its tables' and views' CREATE statements) and no
 * data. Never on the volume's connection, because DDL there, even on TEMP objects:
 * 1. would expire every cached prepared statement of every client (each would be re-prepared on its
 *    next use: a temp schema change invalidates them all);
 * 2. fails on a replica (`query_only`), and runs inside the client's own transaction;
 * 3. is refused to user SQL on purpose (the authorizer's TEMP rule), which the probe would bypass.
 *
 * What it costs: a statement shape is probed once per schema version. The answer is cached by SQL
 * text and, on a miss, by the text's *shape* (literals replaced: `WHERE id = 5` and `WHERE id = 7` are
 * one shape), so a simple Query that inlines its values (sysbench's --db-ps-mode=disable, pgbench)
 * probes once too. On a hit the cost is the schema-version read (`PRAGMA schema_version`, about 1 µs)
 * and two map lookups. The shadow is rebuilt when the schema version has changed since it was built,
 * and only when a probe needs it.
 *
 * The schema version is a counter, and a rolled-back transaction puts it back: a later, different
 * change could then reach the same number. `invalidate` (called by the session when a rollback
 * changed the version) forgets every answer and the shadow.
 */
import { assert } from '@northlight/protocol';
import { CATALOG_FUNCTIONS } from './catalog-functions.js';
import { JSONB_FUNCTIONS } from './jsonb-functions.js';
import { POSTGRES_FUNCTIONS } from './postgres-functions.js';
import type { SqliteWasm } from './sqlite-wasm.js';

/**
 * The engine's functions whose result is, type-wise, their first argument: `northlight_nonzero(d, x)`
 * is `d` (src/core/pgwire/division-checks.ts); `northlight_pg_array(t)` is text, as `t` is.
 */
const PASS_THROUGH_CALLS = ['northlight_nonzero', 'northlight_pg_array'];

/**
 * `sql` with each call of a PASS_THROUGH_CALLS function replaced by its first argument in
 * parentheses, outside quotes and comments. Pure text work: the SQL is SQLite's expanded statement.
 */
export function withoutEngineCalls(sqlAsRun: string): string {
  const sql = withNeutralCalls(sqlAsRun);
  if (!PASS_THROUGH_CALLS.some((name) => sql.includes(name))) return sql;
  return rewriteOutsideQuotes(sql, (index) => {
    const name = PASS_THROUGH_CALLS.find(
      (candidate) =>
        sql.startsWith(candidate, index) &&
        !/[A-Za-z0-9_$]/.test(sql[index - 1] ?? ' ') &&
        /^\s*\(/.test(sql.slice(index + candidate.length, index + candidate.length + 64)),
    );
    if (name === undefined) return null;
    const args = callArguments(sql, sql.indexOf('(', index + name.length));
    // Unclosed: the rest as it is.
    if (args === null) return { text: sql.slice(index), end: sql.length };
    return { text: `(${withoutEngineCalls(args.first)})`, end: args.end };
  });
}

/**
 * `sql` rewritten outside its quoted texts and comments: at each other index, `at` gives the text
 * that replaces what starts there and the index after it, or null to keep that character.
 */
function rewriteOutsideQuotes(
  sql: string,
  at: (index: number) => { text: string; end: number } | null,
): string {
  let out = '';
  let index = 0;
  while (index < sql.length) {
    const skipped = skipQuotedOrComment(sql, index);
    if (skipped > index) {
      out += sql.slice(index, skipped);
      index = skipped;
      continue;
    }
    const replaced = at(index);
    if (replaced === null) {
      out += sql[index];
      index += 1;
    } else {
      out += replaced.text;
      index = replaced.end;
    }
  }
  return out;
}

/**
 * The engine's PostgreSQL functions (postgres-functions.ts, jsonb-functions.ts), any case, as `json_array(` — a call
 * SQLite has, taking any arguments, whose result has no declared type, as theirs has none — and
 * SQLite's `REGEXP` operator (the engine's regexp()) as `LIKE`: the shadow has neither, and a probe
 * that fails to prepare loses every column's type, those of plain columns beside it included.
 */
function withNeutralCalls(sql: string): string {
  const lowered = sql.toLowerCase();
  if (!NEUTRALIZED_NAMES.some((name) => lowered.includes(name)) && !lowered.includes('regexp')) return sql;
  return rewriteOutsideQuotes(sql, (index) => {
    if (/[A-Za-z0-9_$]/.test(sql[index - 1] ?? ' ')) return null;
    const match = NEUTRALIZED_CALL.exec(sql.slice(index, index + 64));
    if (match !== null) return { text: 'json_array(', end: index + match[0].length };
    if (/^regexp\b/i.test(sql.slice(index, index + 7)) && !/^\s*\(/.test(sql.slice(index + 6, index + 70))) {
      return { text: 'LIKE', end: index + 6 };
    }
    return null;
  });
}

const NEUTRALIZED_NAMES = [...POSTGRES_FUNCTIONS, ...JSONB_FUNCTIONS, ...CATALOG_FUNCTIONS].map(
  (definition) => definition.name.toLowerCase(),
);
const NEUTRALIZED_CALL = new RegExp(`^(?:${NEUTRALIZED_NAMES.join('|')})\\s*\\(`, 'i');

/** The index after a quoted text or comment starting at `index`, or `index` when none starts there. */
function skipQuotedOrComment(sql: string, index: number): number {
  const char = sql[index];
  if (char === "'" || char === '"' || char === '`') {
    for (let at = index + 1; at < sql.length; at++) {
      if (sql[at] !== char) continue;
      if (sql[at + 1] === char) at += 1;
      else return at + 1;
    }
    return sql.length;
  }
  if (char === '[') {
    const close = sql.indexOf(']', index + 1);
    return close < 0 ? sql.length : close + 1;
  }
  if (char === '-' && sql[index + 1] === '-') {
    const end = sql.indexOf('\n', index);
    return end < 0 ? sql.length : end + 1;
  }
  if (char === '/' && sql[index + 1] === '*') {
    const end = sql.indexOf('*/', index + 2);
    return end < 0 ? sql.length : end + 2;
  }
  return index;
}

/**
 * The first argument of the call whose `(` is at `open`, how many arguments it has (0 for `()`), and
 * the index after its `)`; null if unclosed.
 */
function callArguments(sql: string, open: number): { first: string; count: number; end: number } | null {
  let depth = 0;
  let firstEnd = -1;
  let commas = 0;
  for (let at = open; at < sql.length; ) {
    const skipped = skipQuotedOrComment(sql, at);
    if (skipped > at) {
      at = skipped;
      continue;
    }
    const char = sql[at];
    if (char === '(') depth += 1;
    else if (char === ')') {
      depth -= 1;
      if (depth === 0) {
        const first = sql.slice(open + 1, firstEnd < 0 ? at : firstEnd);
        const count = commas === 0 && first.trim() === '' ? 0 : commas + 1;
        return { first, count, end: at + 1 };
      }
    } else if (char === ',' && depth === 1) {
      commas += 1;
      if (firstEnd < 0) firstEnd = at;
    }
    at += 1;
  }
  return null;
}

const ARGUMENT_TYPED_CALLS = /\b(?:min|max|datetime)\s*\(/i;
const ARGUMENT_TYPED_CALLS_AND_SUM = /\b(?:min|max|sum|datetime)\s*\(/i;

/**
 * The declared type PostgreSQL's `sum` of a column declared `declared` has, '' for none: an integer
 * sums to a bigint (int2 and int4) or a numeric (int8); numeric, decimal and the floats keep their
 * type (a `numeric(12,2)` sum is written with two decimals, as PostgreSQL's is). Anything else (text,
 * a date) PostgreSQL refuses to sum: '' leaves the column typed by its values.
 */
export function sumDeclaredType(declared: string): string {
  const base = declared
    .replace(/\([^)]*\)/g, ' ')
    .trim()
    .replace(/\s+/g, ' ')
    .toUpperCase();
  if (['INT', 'INTEGER', 'INT4', 'SMALLINT', 'INT2', 'SERIAL', 'SMALLSERIAL'].includes(base)) return 'BIGINT';
  if (['BIGINT', 'INT8', 'BIGSERIAL'].includes(base)) return 'NUMERIC';
  if (
    ['NUMERIC', 'DECIMAL', 'REAL', 'FLOAT', 'FLOAT4', 'FLOAT8', 'DOUBLE', 'DOUBLE PRECISION'].includes(base)
  )
    return declared;
  return '';
}

/**
 * SQL with each call whose result PostgreSQL types as its (first) argument's read as that argument,
 * so that a probe gives it the argument's declared type (`max(created_at)` is a timestamptz there, not
 * text; `max(amount)` of a `numeric(12,2)` column a numeric written `99.99`):
 * - the aggregates `min(x)` and `max(x)` (one argument; `DISTINCT`/`ALL` before it, and a FILTER or
 *   OVER clause after it, go with the call): PostgreSQL's min and max return their argument's type;
 * - `datetime(x, …)`, which date_trunc becomes (src/core/pgwire/postgres-forms.ts): a timestamp stays
 *   a timestamp and a timestamptz a timestamptz, as date_trunc's result does.
 * The type is a candidate only: a value that does not fit it (a date column's `datetime(d)`, which
 * has a time) leaves the column typed by its values (src/core/pgwire/types.ts `resultColumnOid`).
 * Scalar `min(a, b)`/`max(a, b)` are left as they are. With `sums`, `sum(x)` is read as `x` too, for
 * the probe that types sums (`sumDeclaredType`). Pure text work, quotes and comments respected.
 */
export function withArgumentTypedCalls(sql: string, sums = false): string {
  const calls = sums ? ARGUMENT_TYPED_CALLS_AND_SUM : ARGUMENT_TYPED_CALLS;
  if (!calls.test(sql)) return sql;
  return rewriteOutsideQuotes(sql, (index) => {
    if (/[A-Za-z0-9_$.]/.test(sql[index - 1] ?? ' ')) return null;
    const call = (sums ? /^(min|max|sum|datetime)\s*\(/i : /^(min|max|datetime)\s*\(/i).exec(
      sql.slice(index, index + 16),
    );
    const args = call === null ? null : callArguments(sql, index + call[0].length - 1);
    const aggregate = call !== null && (call[1] as string).toLowerCase() !== 'datetime';
    if (args === null || (aggregate && args.count !== 1)) return null;
    // An aggregate's DISTINCT/ALL and its FILTER and OVER clauses go with it.
    const first = aggregate ? args.first.replace(/^\s*(?:DISTINCT|ALL)\s+/i, '') : args.first;
    const end = aggregate ? afterAggregateClauses(sql, args.end) : args.end;
    return { text: `(${withArgumentTypedCalls(first, sums)})`, end };
  });
}

/** The index after an aggregate call's `FILTER (…)` and `OVER (…)` / `OVER name` at `index`, if any. */
function afterAggregateClauses(sql: string, index: number): number {
  let at = index;
  const filter = /^\s*FILTER\s*\(/i.exec(sql.slice(at, at + 64));
  if (filter !== null) {
    const closed = callArguments(sql, at + filter[0].length - 1);
    if (closed === null) return index;
    at = closed.end;
  }
  const over = /^\s*OVER\s*(?:(\()|([A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+"))/i.exec(sql.slice(at, at + 256));
  if (over === null) return at;
  if (over[1] === undefined) return at + over[0].length;
  const closed = callArguments(sql, at + over[0].length - 1);
  return closed === null ? at : closed.end;
}

/** Answers kept by SQL text, and by shape, each (least recently used dropped first). */
const DECLARED_TYPES_CACHE_MAX = 1_024;
/** The view the probe creates in the shadow; a name no user table is likely to have. */
const PROBE_VIEW = '"northlight declared types probe"';
const SQLITE_OK = 0;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_OPEN_READWRITE = 0x02;
const SQLITE_OPEN_CREATE = 0x04;
const SQLITE_OPEN_MEMORY = 0x80;

interface Answer {
  readonly schemaVersion: number;
  readonly types: readonly string[];
}

/** A bounded map whose `get` refreshes the entry and whose `set` drops the least recently used. */
class RecentMap<V> {
  readonly #entries = new Map<string, V>();

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= DECLARED_TYPES_CACHE_MAX) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, value);
  }

  clear(): void {
    this.#entries.clear();
  }
}

export interface DeclaredTypesStats {
  /** Statements described on the shadow (cache misses), and shadow rebuilds. */
  readonly probes: number;
  readonly shadowBuilds: number;
}

export class DeclaredTypes {
  readonly #wasm: SqliteWasm;
  readonly #textEncoder = new TextEncoder();
  readonly #bySql = new RecentMap<Answer>();
  readonly #byShape = new RecentMap<Answer>();
  /** The shadow connection (0 until the first probe), and the schema version it holds. */
  #shadow = 0;
  #shadowSchemaVersion = -1;
  #probes = 0;
  #shadowBuilds = 0;

  constructor(wasm: SqliteWasm) {
    this.#wasm = wasm;
  }

  get stats(): DeclaredTypesStats {
    return { probes: this.#probes, shadowBuilds: this.#shadowBuilds };
  }

  /**
   * The declared type of each result column of `stmt` (a prepared statement of `sql` with no values
   * bound, and `columnCount` > 0), '' where there is none. `schemaVersion` is the volume's now;
   * `schema` reads its tables' and views' CREATE statements, in creation order, when the shadow
   * must be rebuilt; undefined (it could not be read now) gives undefined, and nothing is cached.
   */
  typesOf(
    stmt: number,
    sql: string,
    columnCount: number,
    schemaVersion: number,
    schema: () => readonly string[] | undefined,
  ): readonly string[] | undefined {
    const known = this.#bySql.get(sql);
    if (known !== undefined && known.schemaVersion === schemaVersion && known.types.length === columnCount) {
      return known.types;
    }
    const shape = sqlShape(sql);
    const shaped = this.#byShape.get(shape);
    if (
      shaped !== undefined &&
      shaped.schemaVersion === schemaVersion &&
      shaped.types.length === columnCount
    ) {
      this.#bySql.set(sql, shaped);
      return shaped.types;
    }
    if (this.#shadowSchemaVersion !== schemaVersion) {
      const statements = schema();
      if (statements === undefined) return undefined;
      this.#rebuildShadow(schemaVersion, statements);
    }
    const answer = { schemaVersion, types: this.#probe(stmt, columnCount) };
    this.#bySql.set(sql, answer);
    this.#byShape.set(shape, answer);
    return answer.types;
  }

  /** Forgets every answer and the shadow's schema (see the module comment). */
  invalidate(): void {
    this.#bySql.clear();
    this.#byShape.clear();
    this.#shadowSchemaVersion = -1;
  }

  close(): void {
    if (this.#shadow !== 0) this.#wasm._sqlite3_close_v2(this.#shadow);
    this.#shadow = 0;
  }

  #probe(stmt: number, columnCount: number): readonly string[] {
    this.#probes++;
    const none = new Array<string>(columnCount).fill('');
    const wasm = this.#wasm;
    // Parameters expand as NULL (none are bound): a view may not have parameters.
    const expandedPointer = wasm._sqlite3_expanded_sql(stmt);
    if (expandedPointer === 0) return none;
    // The shadow has none of the engine's functions (wa-sqlite keeps one callback per name, so
    // registering them there would take them from the volume's connection): the probe reads each
    // engine call as the argument whose type it passes on.
    const expanded = withoutEngineCalls(wasm.UTF8ToString(expandedPointer));
    wasm._sqlite3_free(expandedPointer);
    const types = this.#viewTypes(withArgumentTypedCalls(expanded), columnCount);
    if (types === null) return none;
    // A sum has no type in that view. A second view reads each sum(x) as x: a column untyped in the
    // first and typed in the second is a sum (outermost, or through a subquery or CTE), of that type.
    if (!types.includes('') || !/\bsum\s*\(/i.test(expanded)) return types;
    const summed = this.#viewTypes(withArgumentTypedCalls(expanded, true), columnCount);
    if (summed === null) return types;
    return types.map((type, column) => (type === '' ? sumDeclaredType(summed[column] ?? '') : type));
  }

  /**
   * The declared types of the columns of a view over `sql` on the shadow, or null when there is no
   * such view. Anything but one SELECT (PRAGMA, EXPLAIN) is not a view. INSERT, UPDATE and DELETE …
   * RETURNING list are probed as `SELECT list FROM target`: the same columns, of the same table.
   */
  #viewTypes(sql: string, columnCount: number): string[] | null {
    if (!this.#run(`CREATE VIEW ${PROBE_VIEW} AS ${sql}`)) {
      const returning = returningAsSelect(sql);
      if (returning === null || !this.#run(`CREATE VIEW ${PROBE_VIEW} AS ${returning}`)) return null;
    }
    try {
      const rows = this.#rows(`PRAGMA table_info(${PROBE_VIEW})`, 2);
      return rows.length === columnCount ? rows : null;
    } finally {
      assert(this.#run(`DROP VIEW ${PROBE_VIEW}`), 'dropping the declared-types probe view failed');
    }
  }

  /**
   * A fresh shadow with the volume's tables and views. A statement that fails is skipped: the shadow
   * tables of a virtual table exist once the virtual table does, and `sqlite_sequence` or
   * `sqlite_stat1` are created by SQLite itself; what is missing only makes a probe find no type.
   */
  #rebuildShadow(schemaVersion: number, statements: readonly string[]): void {
    this.#shadowBuilds++;
    this.close();
    const wasm = this.#wasm;
    const name = this.#cString(':memory:');
    const handle = wasm._sqlite3_malloc(4);
    assert(handle !== 0, 'out of wasm memory opening the declared-types shadow');
    const rc = wasm._sqlite3_open_v2(
      name,
      handle,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY,
      0,
    );
    this.#shadow = wasm.HEAP32[handle >> 2]!;
    wasm._sqlite3_free(name);
    wasm._sqlite3_free(handle);
    assert(rc === SQLITE_OK, `opening the declared-types shadow failed: ${rc}`);
    for (const statement of statements) this.#run(statement);
    this.#shadowSchemaVersion = schemaVersion;
  }

  /** Runs one statement on the shadow; false if it failed. */
  #run(sql: string): boolean {
    const stmt = this.#prepare(sql);
    if (stmt === 0) return false;
    let rc = this.#wasm._sqlite3_step(stmt);
    while (rc === SQLITE_ROW) rc = this.#wasm._sqlite3_step(stmt);
    this.#wasm._sqlite3_finalize(stmt);
    return rc === SQLITE_DONE;
  }

  /** The text of column `column` of every row of a statement on the shadow ([] if it failed). */
  #rows(sql: string, column: number): string[] {
    const stmt = this.#prepare(sql);
    if (stmt === 0) return [];
    const values: string[] = [];
    try {
      for (;;) {
        const rc = this.#wasm._sqlite3_step(stmt);
        if (rc !== SQLITE_ROW) return rc === SQLITE_DONE ? values : [];
        const pointer = this.#wasm._sqlite3_column_text(stmt, column);
        values.push(pointer === 0 ? '' : this.#wasm.UTF8ToString(pointer));
      }
    } finally {
      this.#wasm._sqlite3_finalize(stmt);
    }
  }

  /** Prepares one whole statement on the shadow; 0 if it fails or more SQL follows it. */
  #prepare(sql: string): number {
    const wasm = this.#wasm;
    const bytes = this.#textEncoder.encode(sql);
    // The two out-parameters (statement, tail) first, aligned for HEAP32, then the SQL.
    const out = wasm._sqlite3_malloc(bytes.length + 9);
    assert(out !== 0, 'out of wasm memory in the declared-types probe');
    const pointer = out + 8;
    wasm.HEAPU8.set(bytes, pointer);
    wasm.HEAPU8[pointer + bytes.length] = 0;
    try {
      const rc = wasm._sqlite3_prepare_v3(this.#shadow, pointer, bytes.length + 1, 0, out, out + 4);
      const stmt = rc === SQLITE_OK ? wasm.HEAP32[out >> 2]! : 0;
      const tail = wasm.HEAP32[(out + 4) >> 2]! - pointer;
      if (stmt !== 0 && /[^\s;]/.test(sql.slice(byteOffsetToIndex(sql, tail)))) {
        wasm._sqlite3_finalize(stmt);
        return 0;
      }
      return stmt;
    } finally {
      wasm._sqlite3_free(out);
    }
  }

  #cString(text: string): number {
    const bytes = this.#textEncoder.encode(text);
    const pointer = this.#wasm._sqlite3_malloc(bytes.length + 1);
    assert(pointer !== 0, 'out of wasm memory');
    this.#wasm.HEAPU8.set(bytes, pointer);
    this.#wasm.HEAPU8[pointer + bytes.length] = 0;
    return pointer;
  }
}

const NAME = String.raw`(?:"(?:[^"]|"")+"|\[[^\]]+\]|` + '`[^`]+`' + String.raw`|[A-Za-z_][A-Za-z0-9_$]*)`;
const QUALIFIED = String.raw`${NAME}(?:\s*\.\s*${NAME})?`;
/** `INSERT|REPLACE [OR x] INTO target [AS alias]`, `UPDATE [OR x] target [[AS] alias]`, `DELETE FROM target [[AS] alias]`. */
const DML_TARGET = new RegExp(
  String.raw`^\s*(?:(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(${QUALIFIED})(?:\s+(?:AS\s+)?(?!(?:SET|WHERE|RETURNING|INDEXED|NOT|VALUES|SELECT|DEFAULT)\b)(${NAME}))?`,
  'i',
);

/**
 * `SELECT list FROM target [AS alias]` for `INSERT|UPDATE|DELETE … RETURNING list` (its last
 * top-level RETURNING), or null: what the statement returns are expressions over its target table's
 * row, so a view of them over that table has the same declared types (a serial key's INTEGER, say).
 */
export function returningAsSelect(sql: string): string | null {
  const target = DML_TARGET.exec(sql);
  if (target === null) return null;
  let depth = 0;
  let returning = -1;
  for (let index = 0; index < sql.length; index++) {
    const char = sql[index] as string;
    if (char === "'" || char === '"' || char === '`') {
      const close = sql.indexOf(char, index + 1);
      if (close < 0) return null;
      index = close; // a doubled quote is two quoted runs back to back: the same scan
    } else if (char === '[') {
      const close = sql.indexOf(']', index + 1);
      if (close < 0) return null;
      index = close;
    } else if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (
      depth === 0 &&
      (char === 'R' || char === 'r') &&
      /^RETURNING\b/i.test(sql.slice(index, index + 10)) &&
      !/[A-Za-z0-9_$]/.test(sql[index - 1] ?? ' ')
    ) {
      returning = index;
    }
  }
  if (returning < 0) return null;
  const list = sql.slice(returning + 'RETURNING'.length).replace(/[\s;]+$/, '');
  if (list.trim() === '') return null;
  const alias = target[2] === undefined ? '' : ` AS ${target[2]}`;
  return `SELECT ${list} FROM ${target[1]}${alias}`;
}

/** The string index of UTF-8 byte offset `offset` of `text`. */
function byteOffsetToIndex(text: string, offset: number): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    if (bytes >= offset) return index;
    const code = text.codePointAt(index)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (code >= 0x10000) index++;
  }
  return text.length;
}

const identifierPart = /[A-Za-z0-9_$\u0080-\uffff]/;
const numberPart = /[0-9A-Za-z_.]/;

/**
 * SQLite SQL with every string and numeric literal replaced (`'…'` → `''`, `4.5e3` → `0`) and
 * comments dropped: statements that differ only in those have the same result column types, because
 * a literal has no declared type (a CAST's type comes from its type name, which is kept). Quoted
 * identifiers (`"…"`, `` `…` ``, `[…]`) are kept as they are.
 */
export function sqlShape(sql: string): string {
  let shape = '';
  let index = 0;
  while (index < sql.length) {
    const char = sql[index]!;
    const next = sql[index + 1];
    if (char === "'") {
      index = closingQuote(sql, index, "'");
      shape += "''";
    } else if (char === '"' || char === '`') {
      const end = closingQuote(sql, index, char);
      shape += sql.slice(index, end);
      index = end;
    } else if (char === '[') {
      const close = sql.indexOf(']', index);
      const end = close < 0 ? sql.length : close + 1;
      shape += sql.slice(index, end);
      index = end;
    } else if (char === '-' && next === '-') {
      const newline = sql.indexOf('\n', index);
      index = newline < 0 ? sql.length : newline;
      shape += ' ';
    } else if (char === '/' && next === '*') {
      const close = sql.indexOf('*/', index + 2);
      index = close < 0 ? sql.length : close + 2;
      shape += ' ';
    } else if (/[0-9]/.test(char) || (char === '.' && next !== undefined && /[0-9]/.test(next))) {
      index = numberEnd(sql, index);
      shape += '0';
    } else if (identifierPart.test(char)) {
      let end = index + 1;
      while (end < sql.length && identifierPart.test(sql[end]!)) end++;
      shape += sql.slice(index, end);
      index = end;
    } else {
      shape += char;
      index++;
    }
  }
  return shape;
}

/** The index after the quoted token at `start` (a doubled quote is one character of it). */
function closingQuote(sql: string, start: number, quote: string): number {
  let index = start + 1;
  for (;;) {
    const close = sql.indexOf(quote, index);
    if (close < 0) return sql.length;
    if (sql[close + 1] !== quote) return close + 1;
    index = close + 2;
  }
}

/** The index after the number at `start` (`12`, `1.5e-3`, `0x1F`, `.5`). */
function numberEnd(sql: string, start: number): number {
  let index = start;
  while (index < sql.length) {
    const char = sql[index]!;
    if (
      (char === '+' || char === '-') &&
      /[eE]/.test(sql[index - 1] ?? '') &&
      !/^0[xX]/.test(sql.slice(start))
    ) {
      index++;
    } else if (numberPart.test(char)) index++;
    else break;
  }
  return index;
}
