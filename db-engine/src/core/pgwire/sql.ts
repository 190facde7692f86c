/**
 * The SQL side of the wire protocol: a lexer that knows PostgreSQL's quoting, a splitter for
 * multi-statement simple Queries, a classifier that finds what the protocol layer answers itself
 * (transaction control, SET, SHOW, RESET, DISCARD…), and the thin translation of the rest from
 * PostgreSQL's forms to SQLite's dialect. The translation is deliberately small and listed in
 * `docs/clients.md`:
 *
 * - `$n` parameters → `?n` (outside literals, identifiers and comments);
 * - `SERIAL`, `BIGSERIAL`, `SMALLSERIAL` → `INTEGER` (with PRIMARY KEY it is SQLite's rowid alias,
 *   which allocates ids the way a sequence would);
 * - `x::type` → a SQLite CAST (or, for bool, PostgreSQL's boolean input as 1/0) of the primary
 *   before `::`; a cast of a parameter (`$1::int8`) also gives that parameter its type when Parse
 *   did not; a cast of a literal is folded into the literal it gives, checked as PostgreSQL checks
 *   it (22P02, 22003); types SQLite cannot hold (arrays, json, dates…) are refused with 0A000;
 * - dollar-quoted strings (`$$…$$`, `$tag$…$tag$`) and `E'…'` strings → plain SQLite literals;
 * - `version()`, `current_database()`, `current_schema()`, `current_user`, `session_user`,
 *   `pg_backend_pid()`, `pg_is_in_recovery()` (optionally `pg_catalog.`-qualified) → literals;
 * - `now()`, `transaction_timestamp()`, `statement_timestamp()`, `clock_timestamp()`,
 *   `localtimestamp` → `CURRENT_TIMESTAMP`;
 * - psql's relation lists (`\d`, `\dt`…), `\d NAME`, `\l`, `\dn`, `\du` → queries of `sqlite_schema`
 *   and SQLite's pragmas; `information_schema.tables`/`.columns`/`.schemata` → derived tables over
 *   them; other uses of PostgreSQL's catalogs are refused with a hint (`catalog.ts`);
 * - statements SQLite can do but writes another way (`DROP TABLE a, b`, TRUNCATE, VACUUM/ANALYZE of
 *   tables, `ADD PRIMARY KEY`, storage parameters, `FROM generate_series(…)`) → what SQLite writes
 *   (`statement-rewrites.ts`).
 *
 * PostgreSQL statements SQLite lacks (TRUNCATE … CASCADE, schemas, extensions,
 * GRANT, sequences, `ARRAY[…]`…) are refused with 0A000 and a hint (`../postgres-only.ts`). Anything else
 * passes through unchanged to SQLite, whose errors come back with their SQLSTATEs.
 */

import { POSTGRES_ONLY, postgresOnlyStatement } from '../postgres-only.js';
import { readsActivity, type SessionActivity, withSessionActivity } from './activity.js';
import { catalogQuery } from './catalog.js';
import { withDistinctOn } from './distinct-on.js';
import { withDivisionChecks } from './division-checks.js';
import { type ExplainOptions, parseExplain } from './explain.js';
import { withoutDefaultValues } from './insert-defaults.js';
import { withJsonbOperators } from './jsonb-operators.js';
import { withStandardPagination } from './pagination.js';
import { withPostgresForms } from './postgres-forms.js';
import { withPowerOperator } from './power-operator.js';
import { withSelectItemTypes } from './select-item-types.js';
import {
  alterTableActions,
  alterTableNeedingColumns,
  closingIndex,
  rewriteStatement,
  type SkipNotice,
  withoutStorageParameters,
  withPrimaryKeyNotNull,
  withSeriesSubqueries,
  withUpsertSourceWhere,
  withValuesColumnAliases,
} from './statement-rewrites.js';
import {
  addDays,
  addInterval,
  parseInterval,
  TEMPORAL_DECLARED,
  TEMPORAL_SHOWN,
  TemporalInputError,
  type TemporalKind,
  temporalCastExpression,
  temporalLiteral,
} from './temporal.js';
import { decodeByteaText, PgValueError } from './types.js';

/** A statement the protocol cannot accept: ErrorResponse with this SQLSTATE. */
export class PgSqlError extends Error {
  override readonly name = 'PgSqlError';
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export type TokenKind =
  | 'space'
  | 'comment'
  | 'string'
  | 'identifier'
  | 'quoted-identifier'
  | 'parameter'
  | 'number'
  | 'cast'
  | 'semicolon'
  | 'punctuation';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** For 'string': the literal's value, unescaped. For 'parameter': the number. */
  readonly value?: string;
}

/** Bound on the tokens of one query string, so a pathological input cannot grow memory unbounded. */
export const TOKENS_MAX = 4_000_000;
/** Bound on `$n`: PostgreSQL's own limit on parameters. */
export const PARAMETER_NUMBER_MAX = 65_535;

const identifierStart = /[A-Za-z_\u0080-\uffff]/;
const identifierPart = /[A-Za-z0-9_$\u0080-\uffff]/;

function unterminated(what: string): PgSqlError {
  return new PgSqlError('42601', `unterminated ${what}`);
}

/** Reads a '…' literal starting at `start` (the quote); backslash escapes when `escapes`. */
function readQuoted(sql: string, start: number, escapes: boolean): { end: number; value: string } {
  let value = '';
  let index = start + 1;
  for (;;) {
    if (index >= sql.length) throw unterminated('quoted string');
    const char = sql[index] as string;
    if (char === "'") {
      if (sql[index + 1] === "'") {
        value += "'";
        index += 2;
        continue;
      }
      return { end: index + 1, value };
    }
    if (escapes && char === '\\' && index + 1 < sql.length) {
      const next = sql[index + 1] as string;
      const mapped: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
      value += mapped[next] ?? next;
      index += 2;
      continue;
    }
    value += char;
    index += 1;
  }
}

function readDollarQuoted(sql: string, start: number): { end: number; value: string } | null {
  const match = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start, start + 64));
  if (match === null) return null;
  const delimiter = match[0];
  const bodyStart = start + delimiter.length;
  const close = sql.indexOf(delimiter, bodyStart);
  if (close < 0) throw unterminated('dollar-quoted string');
  return { end: close + delimiter.length, value: sql.slice(bodyStart, close) };
}

function readBlockComment(sql: string, start: number): number {
  // PostgreSQL block comments nest.
  let depth = 0;
  let index = start;
  while (index < sql.length) {
    if (sql.startsWith('/*', index)) {
      depth += 1;
      index += 2;
    } else if (sql.startsWith('*/', index)) {
      depth -= 1;
      index += 2;
      if (depth === 0) return index;
    } else {
      index += 1;
    }
  }
  throw unterminated('/* comment');
}

function readWhile(sql: string, start: number, pattern: RegExp): number {
  let index = start;
  while (index < sql.length && pattern.test(sql[index] as string)) index += 1;
  return index;
}

/**
 * The end of a number: digits and points, then an exponent when one follows (`1e-5`, `2E+3`; the
 * sign belongs to the exponent only when a digit follows it).
 */
function readNumber(sql: string, start: number): number {
  const mantissaEnd = readWhile(sql, start, /[0-9.]/);
  const exponent = /^[eE][+-]?[0-9]/.exec(sql.slice(mantissaEnd, mantissaEnd + 3));
  return exponent === null ? mantissaEnd : readWhile(sql, mantissaEnd + exponent[0].length, /[0-9]/);
}

function nextToken(sql: string, start: number): Token & { end: number } {
  const char = sql[start] as string;
  const next = sql[start + 1];
  if (/\s/.test(char)) {
    const end = readWhile(sql, start, /\s/);
    return { kind: 'space', text: sql.slice(start, end), end };
  }
  if (char === '-' && next === '-') {
    const newline = sql.indexOf('\n', start);
    const end = newline < 0 ? sql.length : newline;
    return { kind: 'comment', text: sql.slice(start, end), end };
  }
  if (char === '/' && next === '*') {
    const end = readBlockComment(sql, start);
    return { kind: 'comment', text: sql.slice(start, end), end };
  }
  if (char === "'") {
    const { end, value } = readQuoted(sql, start, false);
    return { kind: 'string', text: sql.slice(start, end), value, end };
  }
  if ((char === 'E' || char === 'e') && next === "'") {
    const { end, value } = readQuoted(sql, start + 1, true);
    return { kind: 'string', text: sql.slice(start, end), value, end };
  }
  if (char === '"') {
    let index = start + 1;
    for (;;) {
      const close = sql.indexOf('"', index);
      if (close < 0) throw unterminated('quoted identifier');
      if (sql[close + 1] === '"') {
        index = close + 2;
        continue;
      }
      return { kind: 'quoted-identifier', text: sql.slice(start, close + 1), end: close + 1 };
    }
  }
  if (char === '$') {
    if (next !== undefined && /[0-9]/.test(next)) {
      const end = readWhile(sql, start + 1, /[0-9]/);
      const number = sql.slice(start + 1, end);
      return { kind: 'parameter', text: sql.slice(start, end), value: number, end };
    }
    const quoted = readDollarQuoted(sql, start);
    if (quoted !== null) {
      return { kind: 'string', text: sql.slice(start, quoted.end), value: quoted.value, end: quoted.end };
    }
  }
  if (identifierStart.test(char)) {
    const end = readWhile(sql, start, identifierPart);
    return { kind: 'identifier', text: sql.slice(start, end), end };
  }
  if (/[0-9]/.test(char) || (char === '.' && next !== undefined && /[0-9]/.test(next))) {
    const end = readNumber(sql, start);
    return { kind: 'number', text: sql.slice(start, end), end };
  }
  if (char === ':' && next === ':') return { kind: 'cast', text: '::', end: start + 2 };
  if (char === ';') return { kind: 'semicolon', text: ';', end: start + 1 };
  return { kind: 'punctuation', text: char, end: start + 1 };
}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < sql.length) {
    if (tokens.length >= TOKENS_MAX) throw new PgSqlError('54000', 'statement is too complex');
    const { end, ...token } = nextToken(sql, index);
    tokens.push(token);
    index = end;
  }
  return tokens;
}

export function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

export function word(token: Token | undefined): string {
  return token !== undefined && token.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/**
 * Splits a simple Query into statements at top-level semicolons. Inside `CREATE TRIGGER … BEGIN …
 * END` (SQLite's trigger bodies hold statements) the semicolons of the body do not split. Empty
 * statements between semicolons are dropped, as PostgreSQL does; a query of only whitespace and
 * comments gives no statements (EmptyQueryResponse).
 */
export function splitStatements(sql: string): Token[][] {
  const statements: Token[][] = [];
  let current: Token[] = [];
  let triggerDepth = 0;
  let isTrigger = false;
  const flush = () => {
    if (current.some(isSignificant)) statements.push(current);
    current = [];
    triggerDepth = 0;
    isTrigger = false;
  };
  for (const token of tokenize(sql)) {
    if (token.kind === 'semicolon' && triggerDepth === 0) {
      flush();
      continue;
    }
    current.push(token);
    const keyword = word(token);
    if (keyword === 'TRIGGER' && leadingWords(current, 3).includes('TRIGGER')) isTrigger = true;
    if (isTrigger && (keyword === 'BEGIN' || keyword === 'CASE')) triggerDepth += 1;
    if (isTrigger && keyword === 'END' && triggerDepth > 0) triggerDepth -= 1;
  }
  flush();
  return statements;
}

function leadingWords(tokens: readonly Token[], countMax: number): string[] {
  const words: string[] = [];
  for (const token of tokens) {
    if (!isSignificant(token)) continue;
    if (token.kind !== 'identifier') break;
    words.push(token.text.toUpperCase());
    if (words.length >= countMax) break;
  }
  return words;
}

export function statementText(tokens: readonly Token[]): string {
  return tokens
    .map((token) => token.text)
    .join('')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// Classification.

export type Classified =
  | { readonly kind: 'empty' }
  | { readonly kind: 'begin'; readonly readOnly: boolean | undefined }
  | { readonly kind: 'commit' }
  | { readonly kind: 'rollback' }
  /** SAVEPOINT name, RELEASE [SAVEPOINT] name, ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name. */
  | { readonly kind: 'savepoint' | 'release' | 'rollback-to'; readonly name: string }
  | {
      readonly kind: 'set';
      readonly name: string;
      readonly value: string | null;
      readonly tag: string;
      /** SET LOCAL: until the end of the transaction. */
      readonly local?: boolean;
      /** `SELECT set_config(…) [AS column]`: answered with one row, the new value, in this column. */
      readonly resultColumn?: string;
    }
  /** SET TRANSACTION …, SET transaction_read_only: the current transaction's mode (PostgreSQL's 25001/25P01 rules). */
  | { readonly kind: 'set-transaction'; readonly readOnly: boolean | undefined }
  | {
      readonly kind: 'show';
      readonly name: string;
      /** `SELECT current_setting(…) [AS column]`: the column's name, and the tag is `SELECT 1`. */
      readonly resultColumn?: string;
      /** current_setting(name, true): an unknown name gives NULL rather than 42704. */
      readonly missingOk?: boolean;
    }
  | { readonly kind: 'reset'; readonly name: string }
  /**
   * `SELECT pg_cancel_backend(pid)` / `SELECT pg_terminate_backend(pid[, timeout])` [AS column]:
   * the protocol layer signals the session (activity.ts) and answers one boolean row.
   */
  | {
      readonly kind: 'signal-backend';
      readonly action: 'cancel' | 'terminate';
      /** The pid as a literal, the `$n` parameter that holds it, or `pg_backend_pid()`. */
      readonly pid: { readonly literal: number } | { readonly parameter: number } | { readonly own: true };
      readonly resultColumn: string;
    }
  /**
   * `SELECT pg_advisory_lock(key)` and its family [AS column]: the protocol layer's advisory locks
   * (advisory-locks.ts); one row, void or boolean.
   */
  | {
      readonly kind: 'advisory-lock';
      /** lock: wait for it; try: take it if free; unlock: give one back; unlock-all: all of the session's. */
      readonly action: 'lock' | 'try' | 'unlock' | 'unlock-all';
      readonly level: 'session' | 'transaction';
      /** One bigint key, or two int4 keys: each a literal or the `$n` parameter that holds it. */
      readonly keys: readonly ({ readonly literal: bigint } | { readonly parameter: number })[];
      readonly resultColumn: string;
    }
  /** LISTEN channel / UNLISTEN channel | * (null: every channel): the protocol layer's hub (notifications.ts). */
  | { readonly kind: 'listen'; readonly channel: string }
  | { readonly kind: 'unlisten'; readonly channel: string | null }
  /**
   * `NOTIFY channel [, 'payload']`, or `SELECT pg_notify(channel, payload) [AS column]` (answered with
   * one void row in `resultColumn`); each argument a literal or a `$n` parameter.
   */
  | {
      readonly kind: 'notify';
      readonly channel: { readonly literal: string } | { readonly parameter: number };
      readonly payload: { readonly literal: string | null } | { readonly parameter: number };
      readonly resultColumn?: string;
    }
  | { readonly kind: 'discard'; readonly tag: string }
  | { readonly kind: 'deallocate'; readonly name: string | null }
  | {
      readonly kind: 'unsupported';
      readonly sqlstate: string;
      readonly message: string;
      readonly hint?: string;
    }
  /** COPY … FROM STDIN / TO STDOUT: the protocol layer runs it (copy-statement.ts). */
  | { readonly kind: 'copy' }
  | { readonly kind: 'sql'; readonly firstWord: string };

/** What to do instead of each statement the protocol refuses (0A000). */
const cursorHint =
  "Cursors are not supported; psql's FETCH_COUNT uses them: \\unset FETCH_COUNT, or page with LIMIT/OFFSET.";
const unsupportedHints: Readonly<Record<string, string>> = {
  PREPARE: "Use the extended protocol's Parse/Bind/Execute (every driver's prepared statements).",
  EXECUTE: "Use the extended protocol's Parse/Bind/Execute (every driver's prepared statements).",
  LOCK: 'There is one writer: a read-write transaction already excludes every other writer.',
  DECLARE: cursorHint,
  FETCH: cursorHint,
  MOVE: cursorHint,
  CLOSE: cursorHint,
};

/** Words of a statement with comments and whitespace dropped (identifiers upper-cased). */
function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter(isSignificant);
}

function readOnlyMode(words: readonly string[]): boolean | undefined {
  for (let index = 0; index + 1 < words.length; index++) {
    if (words[index] === 'READ' && words[index + 1] === 'ONLY') return true;
    if (words[index] === 'READ' && words[index + 1] === 'WRITE') return false;
  }
  return undefined;
}

function settingName(tokens: readonly Token[]): string {
  return tokens
    .map((token) => (token.kind === 'quoted-identifier' ? token.text.slice(1, -1) : token.text.toLowerCase()))
    .join('');
}

function settingValue(tokens: readonly Token[]): string {
  return tokens
    .map((token) => (token.kind === 'string' ? (token.value ?? '') : token.text))
    .join('')
    .trim();
}

function classifySet(tokens: readonly Token[]): Classified {
  // SET [SESSION | LOCAL] name { TO | = } value | SET TIME ZONE value | SET TRANSACTION … |
  // SET SESSION CHARACTERISTICS AS TRANSACTION …
  let rest = tokens.slice(1);
  const second = word(rest[0]);
  const upper = rest.map((token) => word(token));
  if (second === 'SESSION' && word(rest[1]) === 'CHARACTERISTICS') {
    // The session's default for later transactions: default_transaction_read_only.
    const readOnly = readOnlyMode(upper);
    if (readOnly === undefined) return { kind: 'set', name: '', value: null, tag: 'SET' };
    return { kind: 'set', name: 'default_transaction_read_only', value: readOnly ? 'on' : 'off', tag: 'SET' };
  }
  if (second === 'SESSION' || second === 'LOCAL') rest = rest.slice(1);
  if (word(rest[0]) === 'TRANSACTION') return { kind: 'set-transaction', readOnly: readOnlyMode(upper) };
  // `SET NAMES 'UTF8'` (the SQL standard's spelling, which some drivers send) is client_encoding.
  if (word(rest[0]) === 'NAMES' && rest.length > 1) {
    return { kind: 'set', name: 'client_encoding', value: settingValue(rest.slice(1)), tag: 'SET' };
  }
  // `SET [SESSION] AUTHORIZATION DEFAULT | name` (pg_dump with --use-set-session-authorization,
  // connection poolers): northlight has one role, the one every session already is, so it changes nothing.
  if (word(rest[0]) === 'AUTHORIZATION' && rest.length > 1) {
    return { kind: 'set', name: '', value: null, tag: 'SET' };
  }
  if (word(rest[0]) === 'TIME' && word(rest[1]) === 'ZONE') {
    return {
      kind: 'set',
      name: 'timezone',
      value: settingValue(rest.slice(2)),
      tag: 'SET',
      ...(second === 'LOCAL' ? { local: true } : {}),
    };
  }
  const local = second === 'LOCAL' ? { local: true } : {};
  const assign = rest.findIndex(
    (token) => word(token) === 'TO' || (token.kind === 'punctuation' && token.text === '='),
  );
  if (assign <= 0) throw new PgSqlError('42601', 'syntax error in SET');
  const value = settingValue(rest.slice(assign + 1));
  return {
    kind: 'set',
    name: settingName(rest.slice(0, assign)),
    value: value.toUpperCase() === 'DEFAULT' ? null : value,
    tag: 'SET',
    ...local,
  };
}

/**
 * `SELECT [pg_catalog.]set_config('name', 'value', is_local) [[AS] column]` (every pg_dump script
 * starts with one) and `SELECT [pg_catalog.]current_setting('name' [, missing_ok]) [[AS] column]`,
 * with literal arguments: the session's settings, which live in the protocol layer, not in SQLite.
 * Null for anything else (a call with parameters, or inside a larger query, goes on to SQLite,
 * which has no such function: 42883).
 */
/**
 * `SELECT [pg_catalog.]pg_cancel_backend(pid) [[AS] column]`, or pg_terminate_backend with an
 * optional timeout (ignored: the session ends at once), pid an integer literal or a parameter. Any
 * other use of them (over `pg_stat_activity`, say) is left to SQLite, which has no such function.
 */
function signalFunction(words: readonly Token[]): Classified | null {
  let at = 1;
  if (word(words[at]) === 'PG_CATALOG' && words[at + 1]?.text === '.') at += 2;
  const name = word(words[at]);
  if ((name !== 'PG_CANCEL_BACKEND' && name !== 'PG_TERMINATE_BACKEND') || words[at + 1]?.text !== '(') {
    return null;
  }
  const call = name.toLowerCase();
  // Anything else (over pg_stat_activity, say) would reach SQLite, which has no such function.
  const refused: Classified = {
    kind: 'unsupported',
    sqlstate: '0A000',
    message: `${call} is supported only as SELECT ${call}(pid), the pid a number, a parameter or pg_backend_pid()`,
    hint: `Find the pid first (SELECT pid, state, query FROM pg_stat_activity), then SELECT ${call}(<pid>).`,
  };
  const argument = words[at + 2];
  let pid: { literal: number } | { parameter: number } | { own: true };
  let index = at + 3;
  if (argument?.kind === 'number' && /^\d+$/.test(argument.text)) pid = { literal: Number(argument.text) };
  else if (argument?.kind === 'parameter') pid = { parameter: Number(argument.value) };
  else if (
    word(argument) === 'PG_BACKEND_PID' &&
    words[at + 3]?.text === '(' &&
    words[at + 4]?.text === ')'
  ) {
    pid = { own: true };
    index = at + 5;
  } else return refused;
  if (name === 'PG_TERMINATE_BACKEND' && words[index]?.text === ',') {
    // The timeout PostgreSQL waits for the session to end: here it ends before the answer.
    if (words[index + 1]?.kind !== 'number' && words[index + 1]?.kind !== 'parameter') return refused;
    index += 2;
  }
  if (words[index]?.text !== ')') return refused;
  const resultColumn = resultColumnAfter(words, index + 1, call);
  if (resultColumn === null) return refused;
  return {
    kind: 'signal-backend',
    action: name === 'PG_CANCEL_BACKEND' ? 'cancel' : 'terminate',
    pid,
    resultColumn,
  };
}

/** PostgreSQL's advisory-lock functions: what each does, at which level. */
const ADVISORY_FUNCTIONS: Readonly<
  Record<string, { action: 'lock' | 'try' | 'unlock' | 'unlock-all'; level: 'session' | 'transaction' }>
> = {
  PG_ADVISORY_LOCK: { action: 'lock', level: 'session' },
  PG_TRY_ADVISORY_LOCK: { action: 'try', level: 'session' },
  PG_ADVISORY_XACT_LOCK: { action: 'lock', level: 'transaction' },
  PG_TRY_ADVISORY_XACT_LOCK: { action: 'try', level: 'transaction' },
  PG_ADVISORY_UNLOCK: { action: 'unlock', level: 'session' },
  PG_ADVISORY_UNLOCK_ALL: { action: 'unlock-all', level: 'session' },
};
const SHARED_ADVISORY_FUNCTIONS = new Set([
  'PG_ADVISORY_LOCK_SHARED',
  'PG_TRY_ADVISORY_LOCK_SHARED',
  'PG_ADVISORY_XACT_LOCK_SHARED',
  'PG_TRY_ADVISORY_XACT_LOCK_SHARED',
  'PG_ADVISORY_UNLOCK_SHARED',
]);
const INT4_KEY = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const INT8_KEY = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const KEY_CASTS = new Set(['BIGINT', 'INT8', 'INT', 'INTEGER', 'INT4', 'SMALLINT', 'INT2']);

/**
 * `SELECT [pg_catalog.]pg_advisory_lock(key) [[AS] column]` and the rest of ADVISORY_FUNCTIONS: one
 * bigint key or two int4 keys, each an integer literal (a sign allowed) or a parameter, optionally
 * cast to an integer type — the forms migration tools send. Null for anything else that does not
 * start so; the same call in another form (an expression as the key, inside a larger query) is
 * refused with 0A000, since SQLite has no such function.
 */
function advisoryFunction(words: readonly Token[]): Classified | null {
  let at = 1;
  if (word(words[at]) === 'PG_CATALOG' && words[at + 1]?.text === '.') at += 2;
  const name = word(words[at]);
  if (words[at + 1]?.text !== '(') return null;
  const call = name.toLowerCase();
  if (SHARED_ADVISORY_FUNCTIONS.has(name)) {
    return {
      kind: 'unsupported',
      sqlstate: '0A000',
      message: `${call}: shared advisory locks are not supported by northlight`,
      hint: 'Take the exclusive lock (pg_advisory_lock, pg_try_advisory_lock, pg_advisory_xact_lock).',
    };
  }
  const what = ADVISORY_FUNCTIONS[name];
  if (what === undefined) return null;
  const refused: Classified = {
    kind: 'unsupported',
    sqlstate: '0A000',
    message: `${call} is supported only as SELECT ${call}(${what.action === 'unlock-all' ? '' : 'key'}) [AS name], each key an integer or a parameter`,
    hint: 'Compute the key in the application (one bigint, or two integers) and send it as a literal or parameter.',
  };
  const keys: ({ literal: bigint } | { parameter: number })[] = [];
  let index = at + 2;
  while (words[index]?.text !== ')') {
    if (keys.length > 0) {
      if (words[index]?.text !== ',') return refused;
      index += 1;
    }
    let sign = 1n;
    if (words[index]?.text === '-' || words[index]?.text === '+') {
      if (words[index]?.text === '-') sign = -1n;
      index += 1;
    }
    const argument = words[index];
    if (argument?.kind === 'number' && /^\d+$/.test(argument.text) && argument.text.length <= 20) {
      keys.push({ literal: sign * BigInt(argument.text) });
    } else if (argument?.kind === 'parameter' && sign === 1n)
      keys.push({ parameter: Number(argument.value) });
    else return refused;
    index += 1;
    if (words[index]?.kind === 'cast') {
      if (!KEY_CASTS.has(word(words[index + 1]))) return refused;
      index += 2;
    }
    if (keys.length > 2) return refused;
  }
  const arity = what.action === 'unlock-all' ? [0] : [1, 2];
  if (!arity.includes(keys.length)) return refused;
  // PostgreSQL: 22003 for a key out of its type's range.
  const [low, high] = keys.length === 2 ? INT4_KEY : INT8_KEY;
  for (const key of keys) {
    if ('literal' in key && (key.literal < low || key.literal > high)) {
      return {
        kind: 'unsupported',
        sqlstate: '22003',
        message: `value "${key.literal}" is out of range for type ${keys.length === 2 ? 'integer' : 'bigint'}`,
      };
    }
  }
  const resultColumn = resultColumnAfter(words, index + 1, call);
  if (resultColumn === null) return refused;
  return { kind: 'advisory-lock', action: what.action, level: what.level, keys, resultColumn };
}

/**
 * The result column a one-call statement names after its `)` at `from`: `[AS] alias` (folded unless
 * quoted), or `call` when nothing follows; null when anything else follows.
 */
function resultColumnAfter(words: readonly Token[], from: number, call: string): string | null {
  let rest = words.slice(from);
  if (word(rest[0]) === 'AS') rest = rest.slice(1);
  if (rest.length === 0) return call;
  return rest.length === 1 ? identifierName(rest[0]) : null;
}

/** A name as PostgreSQL reads it (a channel, an alias): an identifier folded to lower case, a quoted one as written. */
function identifierName(token: Token | undefined): string | null {
  if (token?.kind === 'identifier') return token.text.toLowerCase();
  if (token?.kind === 'quoted-identifier') return token.text.slice(1, -1).replaceAll('""', '"');
  return null;
}

/** `LISTEN channel`, `UNLISTEN channel | *`, `NOTIFY channel [, 'payload']` (42601 for another form). */
function notificationStatement(first: 'LISTEN' | 'UNLISTEN' | 'NOTIFY', words: readonly Token[]): Classified {
  const syntax = () =>
    new PgSqlError(
      '42601',
      `syntax error: write ${first === 'NOTIFY' ? "NOTIFY channel [, 'payload']" : `${first} channel${first === 'UNLISTEN' ? ' | *' : ''}`}`,
    );
  if (first === 'UNLISTEN' && words[1]?.text === '*' && words.length === 2)
    return { kind: 'unlisten', channel: null };
  const channel = identifierName(words[1]);
  if (channel === null) throw syntax();
  if (first === 'NOTIFY') {
    if (words.length === 2)
      return { kind: 'notify', channel: { literal: channel }, payload: { literal: '' } };
    const payload = words[3];
    if (words.length !== 4 || words[2]?.text !== ',' || payload?.kind !== 'string') throw syntax();
    return { kind: 'notify', channel: { literal: channel }, payload: { literal: payload.value ?? '' } };
  }
  if (words.length !== 2) throw syntax();
  return first === 'LISTEN' ? { kind: 'listen', channel } : { kind: 'unlisten', channel };
}

/**
 * `SELECT [pg_catalog.]pg_notify(channel, payload) [[AS] column]`, each argument a string literal
 * (NULL for the payload), or a parameter. Null for anything else; the call in another form is 0A000.
 */
function notifyFunction(words: readonly Token[]): Classified | null {
  let at = 1;
  if (word(words[at]) === 'PG_CATALOG' && words[at + 1]?.text === '.') at += 2;
  if (word(words[at]) !== 'PG_NOTIFY' || words[at + 1]?.text !== '(') return null;
  const refused: Classified = {
    kind: 'unsupported',
    sqlstate: '0A000',
    message:
      "pg_notify is supported only as SELECT pg_notify('channel', 'payload') [AS name], each a string or a parameter",
    hint: 'Compute the channel and payload in the application and send them as literals or parameters, or use NOTIFY.',
  };
  const argument = (token: Token | undefined, nullable: boolean) => {
    if (token?.kind === 'string' && token.value !== undefined) return { literal: token.value };
    if (token?.kind === 'parameter') return { parameter: Number(token.value) };
    if (nullable && word(token) === 'NULL') return { literal: null };
    return null;
  };
  let index = at + 2;
  const channel = argument(words[index], false);
  index += 1;
  if (words[index]?.kind === 'cast' && word(words[index + 1]) === 'TEXT') index += 2;
  if (channel === null || !('parameter' in channel || channel.literal !== null) || words[index]?.text !== ',')
    return refused;
  const payload = argument(words[index + 1], true);
  index += 2;
  if (words[index]?.kind === 'cast' && word(words[index + 1]) === 'TEXT') index += 2;
  if (payload === null || words[index]?.text !== ')') return refused;
  const resultColumn = resultColumnAfter(words, index + 1, 'pg_notify');
  if (resultColumn === null) return refused;
  return {
    kind: 'notify',
    channel: channel as { literal: string } | { parameter: number },
    payload,
    resultColumn,
  };
}

function settingFunction(words: readonly Token[]): Classified | null {
  let at = 1;
  if (word(words[at]) === 'PG_CATALOG' && words[at + 1]?.text === '.') at += 2;
  const name = word(words[at]);
  if ((name !== 'SET_CONFIG' && name !== 'CURRENT_SETTING') || words[at + 1]?.text !== '(') return null;
  const args: Token[] = [];
  let index = at + 2;
  for (;;) {
    const argument = words[index];
    if (argument === undefined) return null;
    const isBoolean = argument.kind === 'identifier' && ['TRUE', 'FALSE'].includes(word(argument));
    if (argument.kind !== 'string' && !isBoolean) return null;
    args.push(argument);
    const after = words[index + 1]?.text;
    index += 2;
    if (after === ')') break;
    if (after !== ',') return null;
  }
  let rest = words.slice(index);
  if (word(rest[0]) === 'AS') rest = rest.slice(1);
  if (
    rest.length > 1 ||
    (rest.length === 1 && rest[0]?.kind !== 'identifier' && rest[0]?.kind !== 'quoted-identifier')
  )
    return null;
  const alias = rest[0];
  const column =
    alias === undefined
      ? name.toLowerCase()
      : alias.kind === 'quoted-identifier'
        ? alias.text.slice(1, -1).replaceAll('""', '"')
        : alias.text.toLowerCase();
  const text = (token: Token | undefined) => (token?.kind === 'string' ? (token.value ?? '') : undefined);
  const flag = (token: Token | undefined) => word(token) === 'TRUE';
  const setting = text(args[0]);
  if (setting === undefined) return null;
  if (name === 'SET_CONFIG') {
    const value = text(args[1]);
    if (args.length !== 3 || value === undefined || text(args[2]) !== undefined) return null;
    return {
      kind: 'set',
      name: setting.toLowerCase(),
      value,
      tag: 'SELECT 1',
      resultColumn: column,
      ...(flag(args[2]) ? { local: true } : {}),
    };
  }
  if (args.length > 2 || (args.length === 2 && text(args[1]) !== undefined)) return null;
  return {
    kind: 'show',
    name: setting.toLowerCase(),
    resultColumn: column,
    ...(flag(args[1]) ? { missingOk: true } : {}),
  };
}

export function classify(tokens: readonly Token[]): Classified {
  const words = significant(tokens);
  if (words.length === 0) return { kind: 'empty' };
  const upper = words.map((token) => (token.kind === 'identifier' ? token.text.toUpperCase() : token.text));
  const first = upper[0] as string;
  switch (first) {
    case 'BEGIN':
      return { kind: 'begin', readOnly: readOnlyMode(upper) };
    case 'START':
      if (upper[1] === 'TRANSACTION') return { kind: 'begin', readOnly: readOnlyMode(upper) };
      break;
    case 'COMMIT':
    case 'END':
      if (upper[1] === 'PREPARED') break;
      return { kind: 'commit' };
    case 'ABORT':
      return { kind: 'rollback' };
    case 'ROLLBACK': {
      if (upper[1] === 'PREPARED') break;
      const to = upper[1] === 'WORK' || upper[1] === 'TRANSACTION' ? 2 : 1;
      if (upper[to] === 'TO') return classifySavepoint('rollback-to', words.slice(to + 1), 'ROLLBACK TO');
      return { kind: 'rollback' };
    }
    case 'SAVEPOINT':
      return { kind: 'savepoint', name: savepointName(words.slice(1), 'SAVEPOINT') };
    case 'RELEASE':
      return classifySavepoint('release', words.slice(1), 'RELEASE');
    case 'SET':
      return classifySet(words);
    case 'SHOW':
      return { kind: 'show', name: settingName(words.slice(1)) };
    case 'SELECT': {
      const setting =
        settingFunction(words) ?? signalFunction(words) ?? advisoryFunction(words) ?? notifyFunction(words);
      if (setting !== null) return setting;
      break;
    }
    case 'RESET':
      return { kind: 'reset', name: settingName(words.slice(1)) };
    case 'DISCARD':
      return { kind: 'discard', tag: upper.slice(0, 2).join(' ') };
    case 'COPY':
      return { kind: 'copy' };
    case 'DEALLOCATE': {
      const rest = words.slice(upper[1] === 'PREPARE' ? 2 : 1);
      const name = rest[0];
      if (name === undefined) throw new PgSqlError('42601', 'syntax error at end of input');
      return { kind: 'deallocate', name: word(name) === 'ALL' ? null : settingName([name]) };
    }
    case 'LISTEN':
    case 'UNLISTEN':
    case 'NOTIFY':
      return notificationStatement(upper[0] as 'LISTEN' | 'UNLISTEN' | 'NOTIFY', words);
    case 'PREPARE':
    case 'EXECUTE':
    case 'LOCK':
    case 'DECLARE':
    case 'FETCH':
    case 'MOVE':
    case 'CLOSE':
      return {
        kind: 'unsupported',
        sqlstate: '0A000',
        message: `${first} is not supported by northlight`,
        hint: unsupportedHints[first] as string,
      };
    default:
      break;
  }
  if (first === 'COMMIT' || first === 'ROLLBACK') {
    return { kind: 'unsupported', sqlstate: '0A000', message: 'two-phase commit is not supported' };
  }
  const postgresOnly = postgresOnlyStatement(upper);
  if (postgresOnly !== null) return { kind: 'unsupported', sqlstate: '0A000', ...postgresOnly };
  return { kind: 'sql', firstWord: first };
}

/** RELEASE or ROLLBACK TO: `[SAVEPOINT] name` (a savepoint may itself be named "savepoint"). */
function classifySavepoint(
  kind: 'release' | 'rollback-to',
  rest: readonly Token[],
  what: string,
): Classified {
  const named = word(rest[0]) === 'SAVEPOINT' && rest.length > 1 ? rest.slice(1) : rest;
  return { kind, name: savepointName(named, what) };
}

/**
 * A savepoint's name as PostgreSQL keeps it: an identifier folded to lower case (ASCII letters only,
 * as PostgreSQL folds them), a quoted one as written.
 */
function savepointName(rest: readonly Token[], what: string): string {
  const name = rest[0];
  if (name === undefined)
    throw new PgSqlError('42601', `syntax error at end of input: ${what} needs a savepoint name`);
  if (rest.length > 1) throw new PgSqlError('42601', `syntax error at or near "${rest[1]!.text}"`);
  if (name.kind === 'quoted-identifier') return name.text.slice(1, -1).replaceAll('""', '"');
  if (name.kind === 'identifier') return name.text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  throw new PgSqlError('42601', `syntax error at or near "${name.text}"`);
}

// ---------------------------------------------------------------------------------------------
// Translation to SQLite.

export interface SessionFacts {
  readonly serverVersion: string;
  readonly database: string;
  readonly user: string;
  readonly processId: number;
  /** A replica: `pg_is_in_recovery()` is true. */
  readonly inRecovery?: boolean;
  /** The engine's sessions now, for `pg_stat_activity` (activity.ts); none without a server. */
  readonly sessions?: () => readonly SessionActivity[];
  /**
   * A table's column names (null: no such table; undefined: not known), asked by the connection
   * before it translates an `ALTER TABLE` with `IF [NOT] EXISTS` (statement-rewrites.ts).
   */
  readonly columnsOf?: (table: string) => readonly string[] | null | undefined;
}

export interface Translation {
  readonly sql: string;
  /**
   * When `sql` is several statements (a rewrite: `DROP TABLE a, b`, `TRUNCATE a, b`), the first, to
   * describe at Parse: SQLite prepares one statement at a time. Each is a write with no result.
   */
  readonly describeSql?: string;
  /** The highest `$n` in the statement. */
  readonly parameterCount: number;
  /** NOTICEs for what the statement skips (`ADD COLUMN IF NOT EXISTS` a column that exists). */
  readonly notices?: readonly SkipNotice[];
  /** Types given by casts of parameters (`$1::int8`), by parameter number. */
  readonly castTypes: ReadonlyMap<number, string>;
  /**
   * Declared types for result columns SQLite cannot type, by column name: a clock function that is a
   * whole select-list item (`SELECT now()` → `now`: timestamptz), as PostgreSQL types it. Used only
   * where the backend reports no declared type and one column has that name.
   */
  readonly resultTypes?: ReadonlyMap<string, string>;
  /**
   * Declared types for result columns by position (0-based), where several may share a name: the
   * boolean select items (`SELECT a = b, c < d` → two `?column?`, both bool; select-item-types.ts).
   * Used, as `resultTypes`, only where the backend reports no declared type.
   */
  readonly resultTypesAt?: ReadonlyMap<number, string>;
  /**
   * Declared types for result columns by name that win over the backend's: a catalog view's boolean
   * columns (`pg_tables.hasindexes`), whose SQLite type is the affinity of their expression, and the
   * integers of a UNION (information-schema.ts). Used where one column has that name.
   */
  readonly resultTypesFirst?: ReadonlyMap<string, string>;
  /** The statement's tokens with PostgreSQL's spellings normalised (postgres-forms.ts), when translated. */
  readonly normalizedTokens?: readonly Token[];
  /**
   * The SQL holds values of the moment it was translated (`pg_stat_activity`; an `ALTER TABLE` whose
   * IF clauses were decided on the columns then): a prepared statement is translated again at each
   * execution rather than reusing this.
   */
  readonly volatile?: boolean;
  /**
   * `EXPLAIN …` (explain.ts): `sql` is SQLite's EXPLAIN QUERY PLAN of `statement`, the translation of
   * the statement explained, which ANALYZE also runs.
   */
  readonly explain?: {
    readonly options: ExplainOptions;
    readonly statement: Translation;
    /** The explained statement's first word, for its read-only guess (`looksReadOnly`). */
    readonly firstWord: string;
  };
}

/**
 * A cast's target: the SQLite affinity it becomes, and PostgreSQL's own name for the type (which
 * names a cast's result column, as PostgreSQL does, and types a cast parameter).
 */
interface CastTarget {
  readonly kind: 'integer' | 'real' | 'text' | 'blob' | 'boolean' | 'temporal' | 'interval';
  readonly pgName: string;
}

/** The cast types SQLite can represent, by their (first, upper-cased) type word. */
const castTargets: Readonly<Record<string, CastTarget>> = {
  INT: { kind: 'integer', pgName: 'int4' },
  INTEGER: { kind: 'integer', pgName: 'int4' },
  INT4: { kind: 'integer', pgName: 'int4' },
  SERIAL: { kind: 'integer', pgName: 'int4' },
  SERIAL4: { kind: 'integer', pgName: 'int4' },
  INT2: { kind: 'integer', pgName: 'int2' },
  SMALLINT: { kind: 'integer', pgName: 'int2' },
  SMALLSERIAL: { kind: 'integer', pgName: 'int2' },
  SERIAL2: { kind: 'integer', pgName: 'int2' },
  INT8: { kind: 'integer', pgName: 'int8' },
  BIGINT: { kind: 'integer', pgName: 'int8' },
  BIGSERIAL: { kind: 'integer', pgName: 'int8' },
  SERIAL8: { kind: 'integer', pgName: 'int8' },
  OID: { kind: 'integer', pgName: 'oid' },
  FLOAT: { kind: 'real', pgName: 'float8' },
  FLOAT8: { kind: 'real', pgName: 'float8' },
  DOUBLE: { kind: 'real', pgName: 'float8' },
  FLOAT4: { kind: 'real', pgName: 'float4' },
  REAL: { kind: 'real', pgName: 'float4' },
  // SQLite's NUMERIC affinity would keep 7::numeric an integer (7::numeric / 2 = 3): REAL divides.
  NUMERIC: { kind: 'real', pgName: 'numeric' },
  DECIMAL: { kind: 'real', pgName: 'numeric' },
  TEXT: { kind: 'text', pgName: 'text' },
  VARCHAR: { kind: 'text', pgName: 'varchar' },
  CHAR: { kind: 'text', pgName: 'bpchar' },
  CHARACTER: { kind: 'text', pgName: 'bpchar' },
  BPCHAR: { kind: 'text', pgName: 'bpchar' },
  NAME: { kind: 'text', pgName: 'name' },
  CITEXT: { kind: 'text', pgName: 'citext' },
  BYTEA: { kind: 'blob', pgName: 'bytea' },
  BLOB: { kind: 'blob', pgName: 'bytea' },
  BOOL: { kind: 'boolean', pgName: 'bool' },
  BOOLEAN: { kind: 'boolean', pgName: 'bool' },
  // Text as PostgreSQL writes these types: a literal is checked (22P02), an expression's JSON checked
  // by SQLite's json() (jsonb) or kept as written (json), a uuid lower-cased.
  JSON: { kind: 'text', pgName: 'json' },
  JSONB: { kind: 'text', pgName: 'jsonb' },
  UUID: { kind: 'text', pgName: 'uuid' },
  // Dates and times as text SQLite's date functions read (temporal.ts); `timestamp with time zone`
  // and `time with time zone` are told apart in readCastType.
  DATE: { kind: 'temporal', pgName: 'date' },
  TIMESTAMP: { kind: 'temporal', pgName: 'timestamp' },
  TIMESTAMPTZ: { kind: 'temporal', pgName: 'timestamptz' },
  TIME: { kind: 'temporal', pgName: 'time' },
  // Only as the right operand of `+` or `-` after a date or timestamp (translateTokens).
  INTERVAL: { kind: 'interval', pgName: 'interval' },
};

/** Words that may follow a cast's first type word (`double precision`, `character varying`). */
const castTypeTails = new Set(['PRECISION', 'VARYING', 'WITH', 'WITHOUT', 'TIME', 'ZONE']);

function sqliteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function quotedIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Index of the next significant token at or after `from`, or -1. */
function nextSignificant(tokens: readonly Token[], from: number): number {
  for (let index = from; index < tokens.length; index++) {
    if (isSignificant(tokens[index] as Token)) return index;
  }
  return -1;
}

/**
 * Reads a cast's type (`int8`, `double precision`, `varchar(10)`); returns the index after it, its
 * target, and its length modifier. A type SQLite cannot hold (arrays, json, dates and times,
 * intervals, uuid, catalog types…) is refused with 0A000 naming it: dropping the cast would
 * silently change what the query means.
 */
function readCastType(
  tokens: readonly Token[],
  from: number,
): { end: number; target: CastTarget; modifier: number | null } {
  const start = nextSignificant(tokens, from);
  if (start < 0) throw new PgSqlError('42601', 'syntax error at end of input');
  const first = tokens[start] as Token;
  let end = start + 1;
  let shown = first.text;
  let modifier: number | null = null;
  let isArray = false;
  for (;;) {
    const index = nextSignificant(tokens, end);
    if (index < 0) break;
    const token = tokens[index] as Token;
    if (castTypeTails.has(word(token))) {
      shown += ` ${token.text}`;
      end = index + 1;
      continue;
    }
    if (token.kind === 'punctuation' && (token.text === '(' || token.text === '[')) {
      const close = token.text === '(' ? ')' : ']';
      const closing = tokens.findIndex((candidate, at) => at > index && candidate.text === close);
      if (closing < 0) break;
      const inside = statementText(tokens.slice(index + 1, closing));
      if (token.text === '[') isArray = true;
      else if (/^\d+$/.test(inside)) modifier = Number(inside);
      shown += `${token.text}${inside}${close}`;
      end = closing + 1;
      continue;
    }
    break;
  }
  // A quoted type name (`"text"`, as pg_dump and some ORMs write it) is the type of that name.
  const typeName =
    first.kind === 'identifier'
      ? word(first)
      : first.kind === 'quoted-identifier'
        ? first.text.slice(1, -1).replaceAll('""', '"').toUpperCase()
        : '';
  let target = !isArray ? castTargets[typeName] : undefined;
  const withZone = /\bWITH\s+TIME\s+ZONE$/i.test(shown);
  if (withZone && target?.pgName === 'timestamp') target = castTargets.TIMESTAMPTZ;
  else if (withZone || word(first) === 'TIMETZ') target = undefined;
  if (target === undefined) {
    throw new PgSqlError(
      '0A000',
      `cast to type ${shown} is not supported by northlight`,
      'SQLite stores only integers, reals, text and blobs: cast to one of those (int8, float8, text, bytea), or to bool, json, jsonb, uuid, date, timestamp, timestamptz or time, which northlight keeps as integers or text.',
    );
  }
  return { end, target, modifier };
}

/** The operand of a `::` cast: the primary expression just before it (see `translate`). */
interface Primary {
  /** A name (column or function: may be called), a literal or parameter, or any other expression. */
  readonly kind: 'name' | 'literal' | 'expression';
  /** Index in the output parts where the primary starts. */
  readonly start: number;
  /** The token, when the primary is one literal or parameter. */
  readonly single: Token | null;
  /** PostgreSQL's name for it as a result column (a column's or function's name), if any. */
  readonly name: string | null;
  /** The name is a cast's type name, which an inner column or function name overrides. */
  readonly nameFromType: boolean;
  /** The primary begins a top-level select-list item (a cast of it may be named). */
  readonly itemStart: boolean;
  /**
   * The primary follows DEFAULT, where SQLite takes only a literal, a signed number, a name or a
   * parenthesized expression: a cast there that is not folded to a literal is parenthesized.
   */
  readonly afterDefault: boolean;
  /**
   * The date or time type the primary is known to have (a cast to it, a typed literal, a clock
   * function, `current_date`, a sum with an interval): `+` and `-` after it are date arithmetic.
   */
  readonly temporal?: TemporalKind;
}

const booleanTrue = ['t', 'true', 'y', 'yes', 'on', '1'];
const booleanFalse = ['f', 'false', 'n', 'no', 'off', '0'];

/**
 * PostgreSQL's boolean input in SQLite: 't', 'true', 'y', 'yes', 'on', '1' (any case, trimmed) → 1;
 * 'f', 'false', 'n', 'no', 'off', '0' → 0; a number → whether it is non-zero; NULL → NULL. Other
 * text, an error in PostgreSQL, is NULL here (SQLite expressions cannot raise), except in a literal,
 * which is checked now.
 */
function booleanCast(operand: string, single: Token | null): string {
  if (single?.kind === 'string') {
    const value = (single.value ?? '').trim().toLowerCase();
    if (booleanTrue.includes(value)) return '1';
    if (booleanFalse.includes(value)) return '0';
    throw new PgSqlError('22P02', `invalid input syntax for type boolean: "${single.value ?? ''}"`);
  }
  if (single?.kind === 'number') return `(${operand} <> 0)`;
  const list = (values: readonly string[]) => values.map(sqliteLiteral).join(', ');
  return (
    `(CASE WHEN typeof(${operand}) IN ('integer', 'real') THEN (${operand}) <> 0` +
    ` WHEN lower(trim(${operand})) IN (${list(booleanTrue)}) THEN 1` +
    ` WHEN lower(trim(${operand})) IN (${list(booleanFalse)}) THEN 0 END)`
  );
}

/**
 * PostgreSQL rounds a real to the nearest integer (3.7::int = 4, -2.5::int = -3); SQLite's CAST
 * truncates. Rounding an integer through a real would lose digits past 2^53, so only reals are
 * rounded (the operand is evaluated twice). Literals never get here: they are folded, and checked
 * as PostgreSQL checks them (`foldLiteralCast`); a column or parameter cannot be checked before it
 * runs, so text that is no integer is SQLite's CAST of it (`'abc'` → 0, `'3.7'` → 3).
 */
function integerCast(operand: string, pgName: string): string {
  const rounded = `(CASE WHEN typeof(${operand}) = 'real' THEN round(${operand}) ELSE ${operand} END)`;
  // A CAST outermost gives the result column SQLite's declared type for it (INT), which the wire
  // protocol sends as int4 while the values fit, as PostgreSQL types `count(*)::int`: node-postgres
  // then gets a number. An int8 cast stays an expression, typed by its values: int8, as in PostgreSQL.
  return pgName === 'int8'
    ? `(CASE WHEN typeof(${operand}) = 'real' THEN CAST(round(${operand}) AS INTEGER) ELSE CAST(${operand} AS INTEGER) END)`
    : `CAST(${rounded} AS INTEGER)`;
}

function blobCast(operand: string, single: Token | null): string {
  // A bytea literal is PostgreSQL's bytea input ('\x0102' is two bytes), not the text's bytes.
  if (single?.kind === 'string') {
    const bytes = decodeByteaLiteral(single.value ?? '');
    return `X'${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}'`;
  }
  return `CAST(${operand} AS BLOB)`;
}

function decodeByteaLiteral(text: string): Uint8Array {
  try {
    return decodeByteaText(text);
  } catch (error) {
    if (error instanceof PgValueError) throw new PgSqlError(error.sqlstate, error.message);
    throw error;
  }
}

function castExpression(
  operand: string,
  single: Token | null,
  target: CastTarget,
  modifier: number | null,
): string {
  switch (target.kind) {
    case 'integer':
      return integerCast(operand, target.pgName);
    case 'real':
      return `CAST(${operand} AS REAL)`;
    case 'text':
      // varchar(n) truncates to n characters on an explicit cast, as PostgreSQL does.
      if (target.pgName === 'varchar' && modifier !== null) {
        return `substr(CAST(${operand} AS TEXT), 1, ${modifier})`;
      }
      // SQLite's json() raises "malformed JSON" as PostgreSQL's jsonb input does, and writes it compact.
      if (target.pgName === 'jsonb') return `json(${operand})`;
      if (target.pgName === 'uuid') return uuidCast(operand);
      return `CAST(${operand} AS TEXT)`;
    case 'blob':
      return blobCast(operand, single);
    case 'boolean':
      return booleanCast(operand, single);
    case 'temporal':
      return temporalCastExpression(operand, target.pgName as TemporalKind);
    case 'interval':
      throw intervalRefusal();
    default:
      return unreachableTarget(target.kind);
  }
}

/** A cast folded at translation time: its SQLite text, and the literal token it is, if one. */
interface FoldedCast {
  readonly text: string;
  readonly single: Token | null;
}

const decimalText = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const integerText = /^[+-]?\d+$/;
/** The whitespace PostgreSQL's input functions skip around a number (C's isspace). */
const inputSpace = /^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g;

/** PostgreSQL's name of each numeric cast target in its errors, and an integer type's range. */
const numericTypes: Readonly<
  Record<string, { readonly shown: string; readonly min?: bigint; readonly max?: bigint }>
> = {
  int2: { shown: 'smallint', min: -(2n ** 15n), max: 2n ** 15n - 1n },
  int4: { shown: 'integer', min: -(2n ** 31n), max: 2n ** 31n - 1n },
  int8: { shown: 'bigint', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  // oidin takes -2^31…2^32-1, a negative number wrapping around (-1 is 4294967295).
  oid: { shown: 'oid', min: -(2n ** 31n), max: 2n ** 32n - 1n },
  float4: { shown: 'real' },
  float8: { shown: 'double precision' },
  numeric: { shown: 'numeric' },
};

function numericType(target: CastTarget): {
  readonly shown: string;
  readonly min?: bigint;
  readonly max?: bigint;
} {
  const type = numericTypes[target.pgName];
  if (type === undefined) throw new Error(`no numeric type ${target.pgName}`);
  return type;
}

function invalidInput(target: CastTarget, input: string): PgSqlError {
  return new PgSqlError('22P02', `invalid input syntax for type ${numericType(target).shown}: "${input}"`);
}

function numberToken(text: string): Token {
  return { kind: 'number', text };
}

/** A (possibly signed) number's text as a SQLite term: parenthesized when negative (`a - (-4)`). */
function foldedNumber(text: string): FoldedCast {
  const unsigned = text.replace(/^[+-]/, '');
  return text.startsWith('-')
    ? { text: `(-${unsigned})`, single: null }
    : { text: unsigned, single: numberToken(unsigned) };
}

/**
 * A string cast to an integer type, as PostgreSQL's int2in/int4in/int8in/oidin read it: an optional
 * sign and decimal digits, with whitespace around; anything else (`'3.7'`, `'1e5'`, `''`, `'abc'`)
 * is 22P02, and a value outside the type's range 22003.
 */
function integerFromText(input: string, target: CastTarget): FoldedCast {
  const type = numericType(target);
  const text = input.replace(inputSpace, '');
  if (!integerText.test(text)) throw invalidInput(target, input);
  let value = BigInt(text);
  if (value < (type.min as bigint) || value > (type.max as bigint)) {
    throw new PgSqlError('22003', `value "${input}" is out of range for type ${type.shown}`);
  }
  if (target.pgName === 'oid' && value < 0n) value += 2n ** 32n;
  return foldedNumber(String(value));
}

/**
 * A number literal cast to an integer type: a real rounds half away from zero (PostgreSQL's
 * numeric → integer), and a result outside the type's range is 22003 `integer out of range`.
 */
function integerFromNumber(text: string, target: CastTarget): FoldedCast {
  const type = numericType(target);
  let value: bigint | null = null;
  if (integerText.test(text)) {
    value = BigInt(text);
  } else {
    const real = Number(text);
    const rounded = Math.sign(real) * Math.round(Math.abs(real));
    if (Number.isFinite(rounded)) value = BigInt(rounded);
  }
  if (value === null || value < (type.min as bigint) || value > (type.max as bigint)) {
    throw new PgSqlError('22003', `${target.pgName === 'oid' ? 'OID' : type.shown} out of range`);
  }
  return foldedNumber(String(value));
}

/** Whether `text` (a decimal number) is a non-zero number that a double (or float4) rounds to zero. */
function underflows(text: string, value: number): boolean {
  const mantissa = text.replace(/[eE].*$/, '');
  return value === 0 && /[1-9]/.test(mantissa);
}

/** A number's value as float4 (real) or float8, or 22003 when it is out of the type's range. */
function checkedReal(text: string, shownInError: string, target: CastTarget): number {
  const double = Number(text);
  const value = target.pgName === 'float4' ? Math.fround(double) : double;
  if (!Number.isFinite(value) || underflows(text, value)) {
    throw new PgSqlError('22003', `"${shownInError}" is out of range for type ${numericType(target).shown}`);
  }
  return value;
}

/** A number's text as a SQLite real (`1` → `1.0`, so that SQLite stores a real). */
function foldedReal(text: string): FoldedCast {
  return foldedNumber(/[.eE]/.test(text) ? text : `${text}.0`);
}

/** SQLite reads 9e999 as an infinite real (it has no infinity literal). */
function foldedInfinity(negative: boolean): FoldedCast {
  return negative ? { text: '(-9e999)', single: null } : { text: '9e999', single: numberToken('9e999') };
}

/**
 * A string cast to float4, float8 or numeric, as PostgreSQL's float4in/float8in/numeric_in read it:
 * a decimal number (`'.5'`, `'5.'`, `' 1.5e3 '`) or `Infinity`/`inf` with a sign, whitespace
 * around; anything else is 22P02; a float beyond the type's range (`'1e400'`, `'1e-400'`) is
 * 22003. NaN cannot be held by SQLite (it stores NULL), so it is refused rather than changed. A
 * numeric is a REAL here, so it is not range-checked as a float is: PostgreSQL's numeric holds
 * `'1e400'`, which SQLite holds as Infinity.
 */
function realFromText(input: string, target: CastTarget): FoldedCast {
  const text = input.replace(inputSpace, '');
  const word = text.toLowerCase().replace(/^[+-]/, '');
  if (word === 'infinity' || word === 'inf') return foldedInfinity(text.startsWith('-'));
  if (word === 'nan') {
    throw new PgSqlError(
      '0A000',
      `NaN is not supported by northlight: SQLite cannot hold it (it stores NULL)`,
      'Use NULL, or a column of its own for not-a-number.',
    );
  }
  if (!decimalText.test(text)) throw invalidInput(target, input);
  if (target.pgName !== 'numeric') checkedReal(text, input, target);
  return foldedReal(text);
}

/** A number literal cast to float4 or float8 (22003 beyond the type's range); numeric as is. */
function realFromNumber(text: string, target: CastTarget): FoldedCast {
  if (target.pgName !== 'numeric') checkedReal(text, text, target);
  return foldedReal(text);
}

/**
 * A cast of a literal (a string, a number, NULL, TRUE or FALSE), converted now into the literal it
 * gives (`'new'::varchar` → `'new'`, `3.7::int` → `4`, `' 42 '::int` → `42`, `1::float` → `1.0`,
 * `'true'::bool` → `1`), or null when it is left to SQLite. A literal, unlike a CAST, is allowed in
 * a DEFAULT clause. A literal the type does not accept is refused as PostgreSQL refuses it (22P02
 * `invalid input syntax for type integer: "abc"`, 22003 out of range), since here, unlike in a
 * SQLite expression, an error can be raised.
 */
function foldLiteralCast(single: Token, target: CastTarget, modifier: number | null): FoldedCast | null {
  const constant = word(single);
  if (constant === 'NULL') return { text: 'NULL', single };
  if (constant === 'TRUE' || constant === 'FALSE') {
    const text = constant === 'TRUE' ? '1' : '0';
    return target.kind === 'integer' || target.kind === 'boolean'
      ? { text, single: numberToken(text) }
      : null;
  }
  const isString = single.kind === 'string';
  if (!isString && single.kind !== 'number') return null;
  const text = isString ? (single.value ?? '').trim() : single.text;
  switch (target.kind) {
    case 'integer':
      return isString ? integerFromText(single.value ?? '', target) : integerFromNumber(text, target);
    case 'real':
      return isString ? realFromText(single.value ?? '', target) : realFromNumber(text, target);
    case 'text': {
      if (target.pgName === 'json' || target.pgName === 'jsonb' || target.pgName === 'uuid') {
        return isString ? checkedTextLiteral(single.value ?? '', target.pgName) : null;
      }
      // A number's text is PostgreSQL's only in its plain form (not `007`, `.5` or `1e3`).
      if (!isString && !/^(0|[1-9]\d*)(\.\d+)?$/.test(text)) return null;
      const value = isString ? (single.value ?? '') : text;
      const kept =
        target.pgName === 'varchar' && modifier !== null
          ? Array.from(value).slice(0, modifier).join('')
          : value;
      return {
        text: sqliteLiteral(kept),
        single: { kind: 'string', text: sqliteLiteral(kept), value: kept },
      };
    }
    case 'boolean': {
      if (isString) {
        const converted = booleanCast('', single);
        return { text: converted, single: numberToken(converted) };
      }
      if (!integerText.test(text)) return null;
      const converted = BigInt(text) === 0n ? '0' : '1';
      return { text: converted, single: numberToken(converted) };
    }
    case 'blob':
      return isString ? { text: blobCast('', single), single: null } : null;
    case 'temporal': {
      if (!isString) {
        throw new PgSqlError(
          '42846',
          `cannot cast type ${single.text.includes('.') ? 'numeric' : 'integer'} to ${TEMPORAL_SHOWN[target.pgName as TemporalKind]}`,
        );
      }
      const literal = checkedTemporal(() =>
        temporalLiteral(single.value ?? '', target.pgName as TemporalKind),
      );
      return literal.value === null
        ? { text: literal.sql, single: null }
        : { text: literal.sql, single: { kind: 'string', text: literal.sql, value: literal.value } };
    }
    case 'interval':
      return null;
    default:
      return unreachableTarget(target.kind);
  }
}

/**
 * A uuid as PostgreSQL writes one, lower-case with hyphens, from any of the forms its input takes
 * (`{…}`, no hyphens, upper case); other text as it is, lower-cased (SQLite cannot raise 22P02).
 */
function uuidCast(operand: string): string {
  const hex = `replace(replace(replace(lower(CAST(${operand} AS TEXT)), '-', ''), '{', ''), '}', '')`;
  const part = (from: number, length?: number) =>
    length === undefined ? `substr(${hex}, ${from})` : `substr(${hex}, ${from}, ${length})`;
  return (
    `(CASE WHEN length(${hex}) = 32 THEN ${part(1, 8)} || '-' || ${part(9, 4)} || '-' || ${part(13, 4)}` +
    ` || '-' || ${part(17, 4)} || '-' || ${part(21)} ELSE lower(CAST(${operand} AS TEXT)) END)`
  );
}

/** A temporal.ts error as the wire protocol's. */
function checkedTemporal<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof TemporalInputError) throw new PgSqlError(error.sqlstate, error.message, error.hint);
    throw error;
  }
}

const uuidInput = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** A json, jsonb or uuid literal checked as PostgreSQL's input function checks it (22P02). */
function checkedTextLiteral(input: string, pgName: 'json' | 'jsonb' | 'uuid'): FoldedCast {
  let value = input;
  if (pgName === 'uuid') {
    const match = uuidInput.exec(input.trim());
    if (match === null) throw new PgSqlError('22P02', `invalid input syntax for type uuid: "${input}"`);
    value = match.slice(1, 6).join('-').toLowerCase();
  } else {
    try {
      // Kept as written (re-serializing would round numbers past a double's precision).
      JSON.parse(input);
    } catch {
      throw new PgSqlError(
        '22P02',
        `invalid input syntax for type ${pgName}`,
        `The text is not JSON: ${input.slice(0, 80)}`,
      );
    }
  }
  return { text: sqliteLiteral(value), single: { kind: 'string', text: sqliteLiteral(value), value } };
}

/** `interval` anywhere but after `date/timestamp ±`: SQLite has no interval values. */
function intervalRefusal(): PgSqlError {
  return new PgSqlError(
    '0A000',
    'interval values are not supported by northlight: SQLite has no interval type',
    "Add or subtract an interval literal from a date or timestamp (created_at > now() - interval '7 days'); " +
      'for the time between two timestamps use (julianday(a) - julianday(b)) * 86400, in seconds.',
  );
}

function unreachableTarget(kind: never): never {
  throw new Error(`unexpected cast target ${String(kind)}`);
}

/**
 * Words that, before a parenthesis, are not a function being called (`SELECT (a + b)::int` casts
 * the parenthesized expression only).
 */
const notFunctionNames = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'IN',
  'ON',
  'AS',
  'BY',
  'WHEN',
  'THEN',
  'ELSE',
  'CASE',
  'VALUES',
  'SET',
  'HAVING',
  'RETURNING',
  'USING',
  'JOIN',
  'LIMIT',
  'OFFSET',
  'IS',
  'LIKE',
  'BETWEEN',
  'DISTINCT',
  'ALL',
  'ANY',
  'SOME',
  'INTO',
  'TABLE',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'WITH',
  'RECURSIVE',
  'GROUP',
  'ORDER',
  'ESCAPE',
  'GLOB',
  'REGEXP',
  'MATCH',
  'DO',
  'UPDATE',
  'INSERT',
  'DELETE',
  'REPLACE',
  'ROW',
  'ROWS',
  'OVER',
  'FILTER',
  'WINDOW',
  'PARTITION',
  'END',
  'DEFAULT',
  'CHECK',
]);

const sessionFunctions = new Set([
  'VERSION',
  'CURRENT_DATABASE',
  'CURRENT_SCHEMA',
  'PG_BACKEND_PID',
  'CURRENT_CATALOG',
  'PG_IS_IN_RECOVERY',
]);

function sessionFunctionValue(name: string, facts: SessionFacts): string {
  switch (name) {
    case 'VERSION':
      return sqliteLiteral(`PostgreSQL ${facts.serverVersion} (northlight, SQLite dialect)`);
    case 'CURRENT_DATABASE':
    case 'CURRENT_CATALOG':
      return sqliteLiteral(facts.database);
    case 'CURRENT_SCHEMA':
      return sqliteLiteral('public');
    case 'CURRENT_USER':
    case 'SESSION_USER':
    case 'USER':
      return sqliteLiteral(facts.user);
    case 'PG_IS_IN_RECOVERY':
      // A boolean is 1/0 in SQLite (so `WHERE pg_is_in_recovery()` works as in PostgreSQL).
      return facts.inRecovery === true ? '1' : '0';
    default:
      // An int4, as PostgreSQL's (a number in node-postgres): SQLite's CAST names it INT.
      return `CAST(${facts.processId} AS INTEGER)`;
  }
}

/** If `tokens[index]` starts a session function call, its replacement and the index after it. */
function sessionFunctionAt(
  tokens: readonly Token[],
  index: number,
  facts: SessionFacts,
): { end: number; text: string } | null {
  let nameIndex = index;
  if (word(tokens[index]) === 'PG_CATALOG' && tokens[index + 1]?.text === '.') nameIndex = index + 2;
  const name = word(tokens[nameIndex]);
  if (name === 'CURRENT_USER' || name === 'SESSION_USER') {
    return { end: nameIndex + 1, text: sessionFunctionValue(name, facts) };
  }
  if (!sessionFunctions.has(name)) return null;
  const open = nextSignificant(tokens, nameIndex + 1);
  // `current_schema` and `current_catalog` are SQL's keywords too, called without parentheses.
  if ((name === 'CURRENT_SCHEMA' || name === 'CURRENT_CATALOG') && tokens[open]?.text !== '(') {
    return { end: nameIndex + 1, text: sessionFunctionValue(name, facts) };
  }
  if (open < 0 || tokens[open]?.text !== '(') return null;
  const close = nextSignificant(tokens, open + 1);
  if (close < 0 || tokens[close]?.text !== ')') return null;
  return { end: close + 1, text: sessionFunctionValue(name, facts) };
}

/**
 * PostgreSQL's clock functions, as SQLite's `CURRENT_TIMESTAMP`: the UTC time as
 * `YYYY-MM-DD HH:MM:SS`, fixed for one statement's execution (a `timestamptz` column holding it is sent
 * with `+00`, types.ts). So `DEFAULT now()` works, as SQLite takes CURRENT_TIMESTAMP there.
 * PostgreSQL's `now()` is fixed for a whole transaction and has microseconds; these are not.
 */
const clockFunctions = new Set(['NOW', 'TRANSACTION_TIMESTAMP', 'STATEMENT_TIMESTAMP', 'CLOCK_TIMESTAMP']);

/** If `tokens[index]` starts a call of a clock function (`now()`), the index after it. */
function clockFunctionEnd(tokens: readonly Token[], index: number): number | null {
  let nameIndex = index;
  if (word(tokens[index]) === 'PG_CATALOG' && tokens[index + 1]?.text === '.') nameIndex = index + 2;
  const name = word(tokens[nameIndex]);
  if (name === 'LOCALTIMESTAMP' || name === 'LOCALTIME') return nameIndex + 1;
  if (!clockFunctions.has(name)) return null;
  const open = nextSignificant(tokens, nameIndex + 1);
  if (open < 0 || tokens[open]?.text !== '(') return null;
  const close = nextSignificant(tokens, open + 1);
  if (close < 0 || tokens[close]?.text !== ')') return null;
  return close + 1;
}

/** Words that end a top-level select list. */
const selectListEnd = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'WINDOW', 'INTO']);

/**
 * Where the translation is in the statement: parenthesis depth, and whether it is inside the select
 * list of a top-level SELECT (where a session function that is a whole item is named after itself,
 * `version()` → `'PostgreSQL …' AS version`, as PostgreSQL names the column).
 */
interface TranslationPosition {
  depth: number;
  inSelectList: boolean;
  previous: Token | null;
}

function advancePosition(position: TranslationPosition, token: Token): void {
  if (!isSignificant(token)) return;
  if (token.text === '(') position.depth += 1;
  if (token.text === ')') position.depth = Math.max(0, position.depth - 1);
  if (position.depth === 0) {
    const keyword = word(token);
    if (keyword === 'SELECT') position.inSelectList = true;
    if (selectListEnd.has(keyword)) position.inSelectList = false;
  }
  position.previous = token;
}

function isWholeSelectItem(position: TranslationPosition, tokens: readonly Token[], end: number): boolean {
  if (!position.inSelectList || position.depth !== 0 || position.previous === null) return false;
  const before = position.previous;
  if (word(before) !== 'SELECT' && before.text !== ',') return false;
  const after = nextSignificant(tokens, end);
  if (after < 0) return true;
  const next = tokens[after] as Token;
  return next.text === ',' || next.kind === 'semicolon' || selectListEnd.has(word(next));
}

/**
 * The alias that ends a select-list item just after `end` (`… AS name`, `… "Name"`, `… name`), as the
 * column will be named, or undefined when something else follows or this is not a select-list item.
 */
function itemAlias(position: TranslationPosition, tokens: readonly Token[], end: number): string | undefined {
  return startsSelectItem(position) ? aliasAfter(tokens, end) : undefined;
}

/** Words that are constants, not names: `NULL::int` is named after its type, as a literal is. */
const constantWords = new Set(['NULL', 'TRUE', 'FALSE']);

/**
 * One translation in progress: the output so far, and what a following `::` would cast — the
 * primary expression that ends the output (a literal, a parameter, a possibly qualified name, a
 * parenthesized expression, a function call, a CASE … END, or an earlier cast), with the open
 * parentheses and CASEs that may end one. Both stacks hold at most one entry per token.
 */
interface TranslationState {
  readonly parts: string[];
  readonly position: TranslationPosition;
  readonly castTypes: Map<number, string>;
  readonly resultTypes: Map<string, string>;
  primary: Primary | null;
  /** The name before a `.` just emitted (`t.x::int` casts `t.x`). */
  qualifier: Primary | null;
  /** The call before an `OVER` or `FILTER` just emitted, which the clause after it extends. */
  windowed: Primary | null;
  readonly parentheses: {
    start: number;
    callee: Primary | null;
    itemStart: boolean;
    afterDefault: boolean;
  }[];
  readonly cases: { start: number; itemStart: boolean; afterDefault: boolean }[];
  /** The highest `$n` seen so far. */
  parameterCount: number;
  /** The statement reads or writes rows (SELECT, INSERT, UPDATE, DELETE, WITH, VALUES), not DDL. */
  readonly dataStatement: boolean;
}

function startsSelectItem(position: TranslationPosition): boolean {
  const before = position.previous;
  return (
    position.inSelectList &&
    position.depth === 0 &&
    before !== null &&
    (word(before) === 'SELECT' || before.text === ',')
  );
}

/** The primary that `token` ends, given the state before it (see TranslationState). */
function primaryEndedBy(state: TranslationState, token: Token, start: number): Primary | null {
  const itemStart = startsSelectItem(state.position);
  const afterDefault = word(state.position.previous ?? undefined) === 'DEFAULT';
  const keyword = word(token);
  if (
    token.kind === 'string' ||
    token.kind === 'number' ||
    token.kind === 'parameter' ||
    constantWords.has(keyword)
  ) {
    // A session function's value (a string token without a value) is a literal only in SQL.
    const single = token.kind === 'string' && token.value === undefined ? null : token;
    return { kind: 'literal', start, single, name: null, nameFromType: false, itemStart, afterDefault };
  }
  if (keyword === 'CASE') {
    state.cases.push({ start, itemStart, afterDefault });
    return null;
  }
  if (keyword === 'END' && state.cases.length > 0) {
    const opened = state.cases.pop() as { start: number; itemStart: boolean; afterDefault: boolean };
    return {
      kind: 'expression',
      start: opened.start,
      single: null,
      name: 'case',
      nameFromType: true,
      itemStart: opened.itemStart,
      afterDefault: opened.afterDefault,
    };
  }
  if (keyword === 'OVER' || keyword === 'FILTER') {
    state.windowed = state.primary?.kind === 'expression' ? state.primary : null;
    return null;
  }
  if ((token.kind === 'identifier' && !notFunctionNames.has(keyword)) || token.kind === 'quoted-identifier') {
    const name =
      token.kind === 'identifier' ? token.text.toLowerCase() : token.text.slice(1, -1).replaceAll('""', '"');
    const qualifier = state.qualifier;
    return qualifier === null
      ? { kind: 'name', start, single: null, name, nameFromType: false, itemStart, afterDefault }
      : {
          kind: 'name',
          start: qualifier.start,
          single: null,
          name,
          nameFromType: false,
          itemStart: qualifier.itemStart,
          afterDefault: qualifier.afterDefault,
        };
  }
  if (token.text === '(') {
    // `f(x) OVER (…)` and `f(x) FILTER (…)` are one primary, from the start of the call.
    const previous = word(state.position.previous ?? undefined);
    const windowed = previous === 'OVER' || previous === 'FILTER' ? state.windowed : null;
    const callee = windowed ?? (state.primary?.kind === 'name' ? state.primary : null);
    state.parentheses.push({
      start: callee?.start ?? start,
      callee,
      itemStart: callee?.itemStart ?? itemStart,
      afterDefault: callee?.afterDefault ?? afterDefault,
    });
    return null;
  }
  if (token.text === ')') {
    const opened = state.parentheses.pop();
    if (opened === undefined) return null;
    // `(current_date + 7)` is still a date: a primary that fills the parentheses keeps its type.
    const inner = state.primary;
    const fills =
      opened.callee === null &&
      inner?.temporal !== undefined &&
      state.parts.slice(opened.start + 1, inner.start).every((part) => part.trim() === '');
    return {
      kind: 'expression',
      start: opened.start,
      single: null,
      name: opened.callee?.name ?? null,
      nameFromType: false,
      itemStart: opened.itemStart,
      afterDefault: opened.afterDefault,
      ...(fills ? { temporal: inner?.temporal as TemporalKind } : {}),
    };
  }
  return null;
}

/** SQL's clock keywords and the type PostgreSQL gives each (`current_date + 1` is a date). */
const clockKeywords: Readonly<Record<string, TemporalKind>> = {
  CURRENT_DATE: 'date',
  CURRENT_TIMESTAMP: 'timestamptz',
  LOCALTIMESTAMP: 'timestamp',
  CURRENT_TIME: 'time',
  LOCALTIME: 'time',
};

/** Appends one token's output (`text`), keeping track of the primary that ends it. */
function emit(state: TranslationState, token: Token, text: string): void {
  if (!isSignificant(token)) {
    state.parts.push(text);
    return;
  }
  const primary = primaryEndedBy(state, token, state.parts.length);
  const temporal =
    token.kind === 'identifier' && state.qualifier === null ? clockKeywords[word(token)] : undefined;
  state.qualifier = token.text === '.' && state.primary?.kind === 'name' ? state.primary : null;
  state.primary = primary !== null && temporal !== undefined ? { ...primary, temporal } : primary;
  state.parts.push(text);
  advancePosition(state.position, token);
}

/**
 * `operand::type` → a SQLite expression over the primary that ends the output. `::` binds tighter
 * than any operator, so the primary is the whole operand, and a chain (`x::text::int`) applies left
 * to right. A whole select-list item is named as PostgreSQL names it: after the column or function
 * cast, else after the type (`SELECT '1'::int` has a column `int4`).
 */
function emitCast(state: TranslationState, tokens: readonly Token[], castIndex: number): number {
  const operand = state.primary;
  if (operand === null) throw new PgSqlError('42601', 'syntax error at or near "::"');
  const { end, target, modifier } = readCastType(tokens, castIndex + 1);
  if (operand.single?.kind === 'parameter') {
    const number = Number(operand.single.value);
    if (!state.castTypes.has(number)) state.castTypes.set(number, target.pgName);
  }
  // Whitespace and comments between the operand and `::` (one part per token) are dropped: a line
  // comment there would otherwise swallow the rest of the cast (`a -- note\n::int`).
  for (let index = castIndex - 1; index >= 0 && !isSignificant(tokens[index] as Token); index--) {
    state.parts.pop();
  }
  const operandText = state.parts.splice(operand.start).join('');
  const keepName = operand.name !== null && !operand.nameFromType;
  const folded = operand.single === null ? null : foldLiteralCast(operand.single, target, modifier);
  const cast: Primary = {
    kind: folded === null ? 'expression' : 'literal',
    start: operand.start,
    single: folded?.single ?? null,
    name: keepName ? operand.name : target.pgName,
    nameFromType: !keepName,
    itemStart: operand.itemStart,
    afterDefault: operand.afterDefault,
    ...(target.kind === 'temporal' ? { temporal: target.pgName as TemporalKind } : {}),
  };
  if (target.kind === 'temporal' && ['+', '-'].includes(partBefore(state, operand.start))) {
    // `1 + date '…'`, `x - d::date`: the left side's type is unknown here, and SQLite would add numbers.
    throw new PgSqlError(
      '0A000',
      `northlight cannot translate + or - with a ${TEMPORAL_SHOWN[target.pgName as TemporalKind]} on the right`,
      "Put the date or timestamp first (d::date + 1, current_date - d::date), or use SQLite's date(x, '+N days') and julianday(a) - julianday(b).",
    );
  }
  const converted = folded?.text ?? castExpression(operandText, operand.single, target, modifier);
  const expression = folded?.single == null && operand.afterDefault ? `(${converted})` : converted;
  const whole = cast.itemStart && endsSelectItem(tokens, end);
  const alias = whole ? ` AS ${quotedIdentifier(cast.name as string)}` : '';
  // A date, time, json or uuid result column is sent as that type, as PostgreSQL types the cast.
  const declared = declaredCastType(target);
  const column = whole ? (cast.name as string) : cast.itemStart ? aliasAfter(tokens, end) : undefined;
  if (declared !== undefined && column !== undefined) state.resultTypes.set(column, declared);
  state.parts.push(expression + alias);
  state.primary = cast;
  state.qualifier = null;
  state.position.previous = { kind: 'punctuation', text: ')' };
  return end;
}

/** The declared type a cast's result column is sent as, when SQLite's value alone would not say. */
function declaredCastType(target: CastTarget): string | undefined {
  if (target.kind === 'temporal') return TEMPORAL_DECLARED[target.pgName as TemporalKind];
  // 1, 0 or NULL: sent as PostgreSQL's t and f.
  if (target.kind === 'boolean') return 'BOOLEAN';
  if (target.pgName === 'json' || target.pgName === 'jsonb' || target.pgName === 'uuid') {
    return target.pgName.toUpperCase();
  }
  return undefined;
}

/** The alias (`AS name`, `name`, `"Name"`) that ends a select-list item just after `end`, if one. */
function aliasAfter(tokens: readonly Token[], end: number): string | undefined {
  let at = nextSignificant(tokens, end);
  if (at < 0) return undefined;
  if (word(tokens[at]) === 'AS') at = nextSignificant(tokens, at + 1);
  const alias = tokens[at];
  if (alias === undefined || (alias.kind !== 'identifier' && alias.kind !== 'quoted-identifier'))
    return undefined;
  if (alias.kind === 'identifier' && selectListEnd.has(word(alias))) return undefined;
  if (!endsSelectItem(tokens, at + 1)) return undefined;
  return alias.kind === 'quoted-identifier'
    ? alias.text.slice(1, -1).replaceAll('""', '"')
    : alias.text.toLowerCase();
}

function endsSelectItem(tokens: readonly Token[], end: number): boolean {
  const after = nextSignificant(tokens, end);
  if (after < 0) return true;
  const next = tokens[after] as Token;
  return next.text === ',' || next.kind === 'semicolon' || selectListEnd.has(word(next));
}

// ---- dates and times (temporal.ts) ----

/** Types a typed literal may name (`DATE '2024-01-02'`, `INTERVAL '1 day'`, `UUID '…'`). */
const typedLiteralTypes = new Set([
  'DATE',
  'TIMESTAMP',
  'TIMESTAMPTZ',
  'TIME',
  'INTERVAL',
  'JSON',
  'JSONB',
  'UUID',
]);

const castToken: Token = { kind: 'cast', text: '::' };

/**
 * `TYPE 'text'` → `'text'::TYPE` for the types above, `TIMESTAMP WITH TIME ZONE '…'` included, so
 * that the cast checks and folds the literal. A column named like a type is never followed by a
 * string, and a qualified name (`t.date`) is left alone.
 */
export function withTypedLiterals(tokens: readonly Token[]): readonly Token[] {
  // Most statements have none: no copy for them (this runs on every statement translated).
  if (!tokens.some((token) => token.kind === 'identifier' && typedLiteralTypes.has(word(token))))
    return tokens;
  const out: Token[] = [];
  let previous: Token | undefined;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.kind === 'identifier' && typedLiteralTypes.has(word(token)) && previous?.text !== '.') {
      let typeEnd = index + 1;
      let at = nextSignificant(tokens, typeEnd);
      const zone = [
        at,
        nextSignificant(tokens, at + 1),
        nextSignificant(tokens, nextSignificant(tokens, at + 1) + 1),
      ];
      if (
        ['WITH', 'WITHOUT'].includes(word(tokens[zone[0] as number])) &&
        word(tokens[zone[1] as number]) === 'TIME' &&
        word(tokens[zone[2] as number]) === 'ZONE'
      ) {
        typeEnd = (zone[2] as number) + 1;
        at = nextSignificant(tokens, typeEnd);
      }
      const literal = at < 0 ? undefined : tokens[at];
      if (literal?.kind === 'string') {
        out.push(literal, castToken, ...tokens.slice(index, typeEnd));
        previous = literal;
        index = at;
        continue;
      }
    }
    out.push(token);
    if (isSignificant(token)) previous = token;
  }
  return out;
}

/**
 * `CAST(x AS type)` → `(x)::type`, so that both spellings translate alike: SQLite's own CAST would
 * give `CAST('2024-01-02 03:04:05' AS timestamp)` NUMERIC affinity (2024) and truncate
 * `CAST(3.7 AS int)` to 3 where PostgreSQL rounds to 4. Nested CASTs are rewritten too.
 */
export function withCastCalls(tokens: readonly Token[], from = 0, to = tokens.length): readonly Token[] {
  if (
    from === 0 &&
    to === tokens.length &&
    !tokens.some((token) => token.kind === 'identifier' && word(token) === 'CAST')
  ) {
    return tokens;
  }
  const out: Token[] = [];
  for (let index = from; index < to; index++) {
    const token = tokens[index] as Token;
    if (token.kind === 'identifier' && word(token) === 'CAST') {
      const open = nextSignificant(tokens, index + 1);
      const close = open >= 0 && open < to && tokens[open]?.text === '(' ? closingIndex(tokens, open) : -1;
      if (close > open && close < to && tokens[close]?.text === ')') {
        let depth = 0;
        let as = -1;
        for (let at = open + 1; at < close && as < 0; at++) {
          const inner = tokens[at] as Token;
          if (inner.text === '(') depth += 1;
          else if (inner.text === ')') depth -= 1;
          else if (depth === 0 && inner.kind === 'identifier' && word(inner) === 'AS') as = at;
        }
        if (as > open) {
          const inner = withCastCalls(tokens, open + 1, as).filter(
            (candidate, at, all) => isSignificant(candidate) || all.slice(at).some(isSignificant),
          );
          const significant = inner.filter(isSignificant);
          // One literal or (qualified) name is cast as is (`CAST('1' AS int)` folds as `'1'::int`
          // does, and `CAST(t.x AS int)` is named x, as in PostgreSQL); anything else in parentheses.
          const simpleName = significant.every((candidate, at) =>
            at % 2 === 1
              ? candidate.text === '.'
              : candidate.kind === 'identifier' || candidate.kind === 'quoted-identifier',
          );
          const operand =
            significant.length === 1 || (simpleName && significant.length % 2 === 1)
              ? significant
              : [
                  { kind: 'punctuation', text: '(' } as Token,
                  ...inner,
                  { kind: 'punctuation', text: ')' } as Token,
                ];
          out.push(...operand, castToken, ...tokens.slice(as + 1, close));
          index = close;
          continue;
        }
      }
    }
    out.push(token);
  }
  return out;
}

/** Operators that bind as tightly as binary `+`/`-` or more: `a - b + interval` is `(a - b) + …`. */
const tighterOrEqual = new Set(['+', '-', '*', '/', '%', '^']);

/** The last significant output text before `start` (parts hold one token's text each). */
function partBefore(state: TranslationState, start: number): string {
  for (let index = start - 1; index >= 0; index--) {
    const text = (state.parts[index] as string).trim();
    if (text !== '') return text;
  }
  return '';
}

/** The SQL standard's interval fields (`interval '3' day`, `interval '1' month`). */
const intervalFields = new Set(['YEAR', 'MONTH', 'DAY', 'HOUR', 'MINUTE', 'SECOND']);

/**
 * An interval operand at `at` (`'1 day'::interval`, a typed literal rewritten so, with the SQL
 * standard's field after it: `interval '3' day`), its text and end; after `timestamp +`, also an
 * untyped literal (`now() + '1 day'`), which PostgreSQL resolves so (after `-` it would be a
 * timestamp, and the difference an interval).
 */
function intervalOperand(
  tokens: readonly Token[],
  at: number,
  left: Primary | null,
  operator: string,
): { value: string; end: number } | null {
  const literal = tokens[at];
  if (literal?.kind !== 'string' || literal.value === undefined) return null;
  const cast = nextSignificant(tokens, at + 1);
  if (
    operator === '+' &&
    (left?.temporal === 'timestamp' || left?.temporal === 'timestamptz') &&
    tokens[cast]?.kind !== 'cast'
  ) {
    return { value: literal.value, end: at + 1 };
  }
  if (cast < 0 || tokens[cast]?.kind !== 'cast') return null;
  const type = nextSignificant(tokens, cast + 1);
  if (word(tokens[type]) !== 'INTERVAL') return null;
  const field = nextSignificant(tokens, type + 1);
  if (field >= 0 && intervalFields.has(word(tokens[field]))) {
    const to = nextSignificant(tokens, field + 1);
    if (to >= 0 && word(tokens[to]) === 'TO') {
      throw new PgSqlError(
        '0A000',
        `interval … ${word(tokens[field])} TO … is not supported by northlight`,
        "Write the interval with its units: interval '1 year 2 months'.",
      );
    }
    if (!/^\s*[+-]?\d+(\.\d+)?\s*$/.test(literal.value)) {
      throw new PgSqlError('22007', `invalid input syntax for type interval: "${literal.value}"`);
    }
    return { value: `${literal.value.trim()} ${word(tokens[field]).toLowerCase()}`, end: field + 1 };
  }
  return { value: literal.value ?? '', end: type + 1 };
}

/**
 * A date right of `date -`: `current_date`, or a literal, parameter or (qualified) column cast to
 * date (`'2024-01-01'::date`, `DATE '…'`, `$1::date`, `e.at::date`). Null for anything else.
 */
function dateOperand(
  state: TranslationState,
  tokens: readonly Token[],
  at: number,
): { sql: string; end: number } | null {
  const first = tokens[at] as Token;
  if (first.kind === 'identifier' && word(first) === 'CURRENT_DATE') {
    return { sql: 'CURRENT_DATE', end: at + 1 };
  }
  let end = at + 1;
  if (first.kind === 'identifier' || first.kind === 'quoted-identifier') {
    while (
      tokens[end]?.text === '.' &&
      ['identifier', 'quoted-identifier'].includes(tokens[end + 1]?.kind ?? '')
    ) {
      end += 2;
    }
  } else if (first.kind !== 'string' && first.kind !== 'parameter') {
    return null;
  }
  const cast = nextSignificant(tokens, end);
  if (cast < 0 || tokens[cast]?.kind !== 'cast') return null;
  const { end: castEnd, target } = readCastType(tokens, cast + 1);
  if (target.kind !== 'temporal' || target.pgName !== 'date') return null;
  if (first.kind === 'string') {
    return { sql: checkedTemporal(() => temporalLiteral(first.value ?? '', 'date')).sql, end: castEnd };
  }
  if (first.kind === 'parameter') {
    const number = Number(first.value);
    if (!Number.isSafeInteger(number) || number < 1 || number > PARAMETER_NUMBER_MAX) {
      throw new PgSqlError('42P02', `there is no parameter ${first.text}`);
    }
    if (!state.castTypes.has(number)) state.castTypes.set(number, 'date');
    state.parameterCount = Math.max(state.parameterCount, number);
    return { sql: `date(?${number})`, end: castEnd };
  }
  return {
    sql: `date(${tokens
      .slice(at, end)
      .map((token) => token.text)
      .join('')})`,
    end: castEnd,
  };
}

const DATA_STATEMENTS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'WITH', 'VALUES']);
/** A date as northlight stores it: the text `YYYY-MM-DD` and nothing more. */
const DATE_TEXT_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'";

/**
 * `column ± n` for an integer literal or parameter n, in a statement that reads or writes rows:
 * PostgreSQL's `date ± integer` when the column holds a date. The translation cannot know a
 * column's type, and SQLite would add n to the year of a date's text (`placed + 1` was 2027), so
 * the value decides when the statement runs: a date (`YYYY-MM-DD` text) gets SQLite's date
 * arithmetic, anything else the sum as written. Numbers never look like a date, so `k = k + 1` keeps
 * its meaning. Null (left as written) for anything else, or where an operator around it binds
 * tighter (`2 * k + 1`, `k + 1 * 2`), which the rewrite would regroup.
 */
function columnDayArithmetic(
  state: TranslationState,
  tokens: readonly Token[],
  index: number,
  rightAt: number,
  sign: 1 | -1,
): number | null {
  const left = state.primary;
  if (!state.dataStatement || left === null || left.kind !== 'name' || left.afterDefault) return null;
  // SQLite binds || tighter than + and -: `a || k + 1` is (a || k) + 1 there, and stays so (the
  // lexer gives || as two '|'; a bitwise `a | k + 1` is left alone with it).
  const before = partBefore(state, left.start);
  if (tighterOrEqual.has(before) || before === '|') return null;
  const right = tokens[rightAt] as Token;
  let amount: string;
  let end = rightAt + 1;
  const signedAt = nextSignificant(tokens, rightAt + 1);
  const signed = tokens[signedAt];
  if (right.kind === 'number' && integerText.test(right.text)) amount = right.text;
  else if (
    (right.text === '-' || right.text === '+') &&
    signed?.kind === 'number' &&
    integerText.test(signed.text)
  ) {
    // `due + -1`: a signed literal.
    amount = `${right.text}${signed.text}`;
    end = signedAt + 1;
  } else if (right.kind === 'parameter') {
    const number = Number(right.value);
    if (!Number.isSafeInteger(number) || number < 1 || number > PARAMETER_NUMBER_MAX) return null;
    amount = `?${number}`;
    state.parameterCount = Math.max(state.parameterCount, number);
  } else return null;
  const after = nextSignificant(tokens, end);
  if (
    after >= 0 &&
    (['*', '/', '%', '^'].includes((tokens[after] as Token).text) || tokens[after]?.kind === 'cast')
  )
    return null;
  // The operand is written three times: one with a comment in it (`b -- note`) is left alone, since
  // a line comment would swallow what follows.
  const operandParts = state.parts.slice(left.start).join('');
  if (operandParts.includes('--') || operandParts.includes('/*')) return null;
  const operand = state.parts.splice(left.start).join('').trim();
  const operator = (tokens[index] as Token).text;
  return pushOperatorResult(
    state,
    tokens,
    left,
    end,
    `(CASE WHEN ${operand} GLOB ${DATE_TEXT_GLOB} THEN ${addDays(operand, amount, sign)} ELSE ${operand} ${operator} ${amount} END)`,
    undefined,
  );
}

/**
 * Ends an operator whose result the translation rewrote: its text (named `?column?` when it is a
 * whole select-list item, as PostgreSQL names an operator's result, and typed when `temporal` is
 * known), and the expression primary it leaves for what follows. Returns `end`.
 */
function pushOperatorResult(
  state: TranslationState,
  tokens: readonly Token[],
  left: Primary,
  end: number,
  text: string,
  temporal: TemporalKind | undefined,
): number {
  const whole = left.itemStart && endsSelectItem(tokens, end);
  const column = whole ? '?column?' : left.itemStart ? aliasAfter(tokens, end) : undefined;
  if (column !== undefined && temporal !== undefined)
    state.resultTypes.set(column, TEMPORAL_DECLARED[temporal]);
  state.parts.push(text + (whole ? ' AS "?column?"' : ''));
  state.primary = {
    kind: 'expression',
    start: left.start,
    single: null,
    name: null,
    nameFromType: false,
    itemStart: left.itemStart,
    afterDefault: left.afterDefault,
    ...(temporal === undefined ? {} : { temporal }),
  };
  state.qualifier = null;
  state.position.previous = { kind: 'punctuation', text: ')' };
  return end;
}

/** `… + interval`, `date + 3` that an operator after it would regroup: refused, not misread. */
function refuseRegrouping(what: string): PgSqlError {
  return new PgSqlError(
    '0A000',
    `northlight cannot translate ${what} here without parentheses`,
    "Parenthesize the date arithmetic, e.g. (created_at + interval '1 day'), or the operand before it.",
  );
}

/**
 * `+` or `-` at `index` with a date or time on the left (`state.primary`): PostgreSQL's date
 * arithmetic in SQLite's date functions (temporal.ts), or a typed refusal where it has no
 * translation. Returns the index after the right operand, or null when this is no date arithmetic.
 *
 * - `x ± interval 'spec'` (any x: a timestamp column, a parameter, `now()`): a timestamp;
 * - `date ± n` for an integer literal or parameter n (the left known to be a date: `current_date`,
 *   a cast to date, a date literal): a date;
 * - a date or timestamp ± anything else (a column, a timestamp: an interval in PostgreSQL) is
 *   refused with 0A000 or 42883 rather than left to SQLite, which would add numbers to the year.
 */
function emitDateArithmetic(state: TranslationState, tokens: readonly Token[], index: number): number | null {
  const operator = (tokens[index] as Token).text;
  const sign = operator === '+' ? 1 : -1;
  const left = state.primary;
  const rightAt = nextSignificant(tokens, index + 1);
  if (rightAt < 0) return null;
  const interval = intervalOperand(tokens, rightAt, left, operator);
  if (interval === null && left?.temporal === undefined)
    return columnDayArithmetic(state, tokens, index, rightAt, sign);
  if (left === null) throw intervalRefusal();
  if (tighterOrEqual.has(partBefore(state, left.start))) {
    throw refuseRegrouping(
      `${operator} ${interval === null ? 'a number' : 'an interval'} after an arithmetic operator`,
    );
  }
  const wrap = (text: string) => (left.afterDefault ? `(${text})` : text);
  const operandText = () => state.parts.splice(left.start).join('').trim();
  const finish = (text: string, temporal: TemporalKind | undefined, end: number): number =>
    // A column's sum is not typed (typed timestamp, node-postgres would read a timestamptz column's
    // UTC text as local time): only a left side whose type is known gives `temporal`.
    pushOperatorResult(state, tokens, left, end, wrap(text), temporal);
  if (interval !== null) {
    const after = nextSignificant(tokens, interval.end);
    if (
      after >= 0 &&
      ((tighterOrEqual.has((tokens[after] as Token).text) &&
        !['+', '-'].includes((tokens[after] as Token).text)) ||
        tokens[after]?.kind === 'cast')
    ) {
      throw refuseRegrouping(`an interval followed by ${(tokens[after] as Token).text}`);
    }
    const value = checkedTemporal(() => parseInterval(interval.value));
    const temporal =
      left.temporal === undefined ? undefined : left.temporal === 'timestamptz' ? 'timestamptz' : 'timestamp';
    if (left.temporal === 'time') {
      throw new PgSqlError(
        '0A000',
        'time ± interval is not supported by northlight',
        "Add the interval to a timestamp instead: (current_date + time '10:00' is not supported either).",
      );
    }
    return finish(
      addInterval(operandText(), value, sign, left.temporal !== undefined),
      temporal,
      interval.end,
    );
  }
  const shown = TEMPORAL_SHOWN[left.temporal as TemporalKind];
  if (left.temporal === 'date' && sign === -1) {
    // date - date: the days between them, an integer.
    const other = dateOperand(state, tokens, rightAt);
    if (other !== null) {
      const after = nextSignificant(tokens, other.end);
      if (after >= 0 && ['*', '/', '%', '^'].includes((tokens[after] as Token).text)) {
        throw refuseRegrouping(`a date - a date followed by ${(tokens[after] as Token).text}`);
      }
      return finish(
        `CAST(round(julianday(${operandText()}) - julianday(${other.sql})) AS INTEGER)`,
        undefined,
        other.end,
      );
    }
  }
  const right = tokens[rightAt] as Token;
  let end = rightAt + 1;
  let amount: string | null = null;
  if (right.kind === 'number') {
    if (!integerText.test(right.text)) {
      throw new PgSqlError(
        '42883',
        `operator does not exist: ${shown} ${operator} numeric`,
        'Add a whole number of days to a date, or an interval to a timestamp.',
      );
    }
    amount = right.text;
  } else if (right.kind === 'parameter') {
    const number = Number(right.value);
    if (!Number.isSafeInteger(number) || number < 1 || number > PARAMETER_NUMBER_MAX) {
      throw new PgSqlError('42P02', `there is no parameter ${right.text}`);
    }
    amount = `?${number}`;
    const cast = nextSignificant(tokens, end);
    if (cast >= 0 && tokens[cast]?.kind === 'cast') {
      const { end: castEnd, target } = readCastType(tokens, cast + 1);
      if (target.kind !== 'integer') {
        throw new PgSqlError(
          '42883',
          `operator does not exist: ${shown} ${operator} ${target.pgName}`,
          'Add a whole number of days to a date, or an interval to a timestamp.',
        );
      }
      if (!state.castTypes.has(number)) state.castTypes.set(number, target.pgName);
      end = castEnd;
    } else if (!state.castTypes.has(number)) {
      state.castTypes.set(number, 'int4');
    }
    state.parameterCount = Math.max(state.parameterCount, number);
  }
  if (amount === null) {
    throw new PgSqlError(
      '0A000',
      `${shown} ${operator} an expression is not supported by northlight`,
      left.temporal === 'date'
        ? "Add an integer literal or parameter (current_date + 7, current_date - $1), or use date(x, '+N days'); for days between dates, julianday(a) - julianday(b)."
        : "Add an interval literal (now() - interval '1 hour'); for the time between two timestamps, (julianday(a) - julianday(b)) * 86400 in seconds.",
    );
  }
  if (left.temporal !== 'date') {
    throw new PgSqlError(
      '42883',
      `operator does not exist: ${shown} ${operator} integer`,
      "Add an interval instead: now() + interval '1 day'.",
    );
  }
  const after = nextSignificant(tokens, end);
  if (
    after >= 0 &&
    (['*', '/', '%', '^'].includes((tokens[after] as Token).text) || tokens[after]?.kind === 'cast')
  ) {
    throw refuseRegrouping(`a date ${operator} a number followed by ${(tokens[after] as Token).text}`);
  }
  return finish(addDays(operandText(), amount, sign), 'date', end);
}

/**
 * `ARRAY[…]` or `ARRAY(SELECT …)`: PostgreSQL's array constructors. SQLite would read `ARRAY` as a
 * column and `[1,2]` as a quoted identifier (an alias), failing with "no such column: ARRAY".
 */
function isArrayConstructor(tokens: readonly Token[], index: number): boolean {
  const next = nextSignificant(tokens, index + 1);
  const text = next < 0 ? '' : (tokens[next] as Token).text;
  return text === '[' || (text === '(' && word(tokens[nextSignificant(tokens, next + 1)]) === 'SELECT');
}

/** Translates one statement (its tokens, from `splitStatements` or `tokenize`) to SQLite. */
export function translate(tokensAsSent: readonly Token[], facts: SessionFacts): Translation {
  const explain = parseExplain(tokensAsSent);
  if (explain !== null) {
    const statement = translate(explain.statement, facts);
    if (statement.describeSql !== undefined)
      throw new PgSqlError('0A000', 'EXPLAIN of a statement northlight runs as several is not supported');
    const { resultTypes: _byName, resultTypesAt: _byPosition, ...rest } = statement;
    return {
      ...rest,
      sql: `EXPLAIN QUERY PLAN ${statement.sql}`,
      explain: {
        options: explain.options,
        statement,
        firstWord: word(explain.statement.find(isSignificant)),
      },
    };
  }
  const volatile = readsActivity(tokensAsSent);
  const statementTokens = volatile
    ? withSessionActivity(tokensAsSent, facts.sessions?.() ?? [])
    : tokensAsSent;
  const translation = translateStatement(statementTokens, facts);
  return volatile ? { ...translation, volatile } : translation;
}

function translateStatement(statementTokens: readonly Token[], facts: SessionFacts): Translation {
  // ALTER TABLE with several actions or IF [NOT] EXISTS: one statement per action kept, each translated.
  const alter = alterTableActions(statementTokens, facts.columnsOf ?? (() => undefined));
  if (alter !== null) {
    const parts = alter.statements.map((sql) => {
      const tokens = tokenize(sql);
      // What a single statement would be refused for, before any runs.
      const classified = classify(tokens);
      if (classified.kind === 'unsupported')
        throw new PgSqlError(classified.sqlstate, classified.message, classified.hint);
      return translateStatement(tokens, facts);
    });
    const first = parts[0];
    return {
      sql: parts.map((part) => part.sql).join('; '),
      ...(parts.length > 1 && first !== undefined ? { describeSql: first.describeSql ?? first.sql } : {}),
      parameterCount: 0,
      castTypes: new Map(),
      ...(alter.notices.length > 0 ? { notices: alter.notices } : {}),
      // Decided on the columns as they are now: a prepared statement decides again at each execution.
      ...(alterTableNeedingColumns(statementTokens) !== null ? { volatile: true } : {}),
    };
  }
  const catalog = catalogQuery(statementTokens, facts);
  if (catalog.kind === 'unsupported') throw new PgSqlError(catalog.sqlstate, catalog.message, catalog.hint);
  if (catalog.kind === 'sql')
    return {
      sql: catalog.sql,
      parameterCount: 0,
      castTypes: new Map(),
      ...(catalog.types === undefined ? {} : { resultTypesFirst: catalog.types }),
    };
  // CAST(x AS t) becomes x::t before PostgreSQL's spellings are rewritten, whose own SQLite CASTs
  // (`position(a IN b)` → `CAST(instr(b, a) AS INTEGER)`) stay SQLite's.
  const normalized = withDistinctOn(
    withStandardPagination(
      withPostgresForms(
        withJsonbOperators(
          withPowerOperator(
            withCastCalls(
              withTypedLiterals(
                withoutDefaultValues(catalog.kind === 'tokens' ? catalog.tokens : statementTokens),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  // Boolean select items: typed bool and, unaliased, named as PostgreSQL names them (select-item-types.ts).
  const booleans = withSelectItemTypes(normalized);
  const tokens = booleans.tokens;
  const rewrite = rewriteStatement(tokens);
  if (rewrite !== null) {
    const [first, ...rest] = rewrite.statements;
    // Described by its first write: a leading PRAGMA (deferred foreign keys) reads as read-only.
    const described = rewrite.statements.find((statement) => !statement.startsWith('PRAGMA ')) ?? first;
    return {
      sql: rewrite.statements.join('; '),
      ...(rest.length > 0 ? { describeSql: described } : {}),
      parameterCount: 0,
      castTypes: new Map(),
    };
  }
  const translation = translateTokens(
    withUpsertSourceWhere(
      withValuesColumnAliases(
        withSeriesSubqueries(withPrimaryKeyNotNull(withoutStorageParameters(withDivisionChecks(tokens)))),
      ),
    ),
    facts,
  );
  // A catalog view's columns SQLite types otherwise (`pg_tables.hasindexes`), by name or with `*`.
  const first =
    catalog.kind === 'tokens' && catalog.types.size > 0 ? { resultTypesFirst: catalog.types } : {};
  if (
    booleans.names.length > 0 ||
    booleans.positions.length > 0 ||
    booleans.jsonNames.length > 0 ||
    booleans.jsonPositions.length > 0
  ) {
    const resultTypes = new Map(translation.resultTypes);
    for (const name of booleans.names) if (!resultTypes.has(name)) resultTypes.set(name, 'BOOLEAN');
    for (const name of booleans.jsonNames) if (!resultTypes.has(name)) resultTypes.set(name, 'JSON');
    const resultTypesAt = new Map([
      ...booleans.positions.map((position) => [position, 'BOOLEAN'] as const),
      ...booleans.jsonPositions.map((position) => [position, 'JSON'] as const),
    ]);
    return { ...translation, ...first, resultTypes, resultTypesAt, normalizedTokens: normalized };
  }
  return { ...translation, ...first, normalizedTokens: normalized };
}

function translateTokens(tokens: readonly Token[], facts: SessionFacts): Translation {
  const state: TranslationState = {
    parts: [],
    position: { depth: 0, inSelectList: false, previous: null },
    castTypes: new Map(),
    resultTypes: new Map(),
    primary: null,
    qualifier: null,
    windowed: null,
    parentheses: [],
    cases: [],
    parameterCount: 0,
    dataStatement: DATA_STATEMENTS.has(word(tokens.find(isSignificant))),
  };
  let index = 0;
  let pendingAlias: { readonly at: number; readonly name: string } | null = null;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    if (pendingAlias !== null && index >= pendingAlias.at) {
      state.parts.push(` AS ${quotedIdentifier(pendingAlias.name)}`);
      pendingAlias = null;
    }
    if (token.kind === 'parameter') {
      const number = Number(token.value);
      if (!Number.isSafeInteger(number) || number < 1 || number > PARAMETER_NUMBER_MAX) {
        throw new PgSqlError('42P02', `there is no parameter ${token.text}`);
      }
      state.parameterCount = Math.max(state.parameterCount, number);
      emit(state, token, `?${number}`);
      index += 1;
      continue;
    }
    if (token.kind === 'cast') {
      index = emitCast(state, tokens, index);
      continue;
    }
    if (token.kind === 'punctuation' && (token.text === '+' || token.text === '-')) {
      const end = emitDateArithmetic(state, tokens, index);
      if (end !== null) {
        index = end;
        continue;
      }
    }
    if (token.kind === 'string') {
      emit(state, token, token.text.startsWith("'") ? token.text : sqliteLiteral(token.value ?? ''));
      index += 1;
      continue;
    }
    if (token.kind === 'identifier') {
      const upper = token.text.toUpperCase();
      if (upper === 'SERIAL' || upper === 'BIGSERIAL' || upper === 'SMALLSERIAL') {
        emit(state, token, 'INTEGER');
        index += 1;
        continue;
      }
      const call = sessionFunctionAt(tokens, index, facts);
      if (call !== null) {
        const name = tokens
          .slice(index, call.end)
          .filter((candidate) => candidate.kind === 'identifier')
          .at(-1) as Token;
        const alias = isWholeSelectItem(state.position, tokens, call.end)
          ? ` AS ${name.text.toLowerCase()}`
          : '';
        // `SELECT * FROM current_schema()` (TypeORM asks so): a function in FROM is a one-row table.
        const fromItem = ['FROM', 'JOIN'].includes(word(state.position.previous ?? undefined));
        const text = fromItem ? `(SELECT ${call.text} AS ${name.text.toLowerCase()})` : call.text + alias;
        emit(state, { kind: 'string', text: call.text }, text);
        index = call.end;
        continue;
      }
      // `to_timestamp(epoch)` is a timestamptz in PostgreSQL: so is its column (Grafana's time column
      // when a query buckets by epoch), when it is a whole select-list item or has an alias.
      if (upper === 'TO_TIMESTAMP' && tokens[nextSignificant(tokens, index + 1)]?.text === '(') {
        const end = closingIndex(tokens, nextSignificant(tokens, index + 1)) + 1;
        const column = isWholeSelectItem(state.position, tokens, end)
          ? 'to_timestamp'
          : itemAlias(state.position, tokens, end);
        if (column !== undefined) state.resultTypes.set(column, 'timestamp with time zone');
      }
      const clockEnd = clockFunctionEnd(tokens, index);
      if (clockEnd !== null) {
        const name = tokens
          .slice(index, clockEnd)
          .filter((candidate) => candidate.kind === 'identifier')
          .find((candidate) => word(candidate) !== 'PG_CATALOG') as Token;
        const whole = isWholeSelectItem(state.position, tokens, clockEnd);
        const alias = whole ? ` AS ${name.text.toLowerCase()}` : '';
        // The column's type, under its name (the function's, or the alias the item gives it).
        const column = whole ? name.text.toLowerCase() : itemAlias(state.position, tokens, clockEnd);
        // localtime is the time of day (SQLite's CURRENT_TIME, UTC), localtimestamp a timestamp.
        const clock =
          word(name) === 'LOCALTIME'
            ? { sql: 'CURRENT_TIME', declared: 'time', temporal: 'time' as const }
            : word(name) === 'LOCALTIMESTAMP'
              ? { sql: 'CURRENT_TIMESTAMP', declared: 'timestamp', temporal: 'timestamp' as const }
              : {
                  sql: 'CURRENT_TIMESTAMP',
                  declared: 'timestamp with time zone',
                  temporal: 'timestamptz' as const,
                };
        if (column !== undefined) state.resultTypes.set(column, clock.declared);
        // The name primary a following `::` casts, and names the column after (`now()::text` → now).
        emit(state, { kind: 'identifier', text: name.text.toLowerCase() }, `${clock.sql}${alias}`);
        if (state.primary !== null) state.primary = { ...state.primary, temporal: clock.temporal };
        index = clockEnd;
        continue;
      }
      if (upper === 'ARRAY' && isArrayConstructor(tokens, index)) {
        throw new PgSqlError('0A000', POSTGRES_ONLY.array.message, POSTGRES_ONLY.array.hint);
      }
      if (upper === 'PG_CATALOG' && tokens[index + 1]?.text === '.') {
        // A catalog function other than the session ones above (catalog relations were refused
        // before the loop): PostgreSQL's own functions do not exist here.
        const name = tokens[index + 2]?.text ?? '';
        throw new PgSqlError(
          '42883',
          `function pg_catalog.${name} does not exist: northlight's SQL is SQLite's`,
          "SQLite's functions are listed by SELECT name FROM pragma_function_list.",
        );
      }
      // A call that is a whole select-list item is named after its function, as PostgreSQL names it
      // (`SELECT count(*) FROM t` has a column `count`; SQLite would call it `count(*)`).
      if (pendingAlias === null && !UNNAMED_CALLS.has(upper) && startsSelectItem(state.position)) {
        const end = callItemEnd(tokens, index);
        if (end !== null && endsSelectItem(tokens, end))
          pendingAlias = {
            at: end,
            name: token.kind === 'identifier' ? token.text.toLowerCase() : token.text,
          };
      }
    }
    emit(state, token, token.text);
    index += 1;
  }
  if (pendingAlias !== null) state.parts.push(` AS ${quotedIdentifier(pendingAlias.name)}`);
  return {
    sql: state.parts.join('').trim(),
    parameterCount: state.parameterCount,
    castTypes: state.castTypes,
    ...(state.resultTypes.size > 0 ? { resultTypes: state.resultTypes } : {}),
  };
}

/** Words followed by `(` that are no function call to name a column after. */
const UNNAMED_CALLS = new Set([
  'CAST',
  'DISTINCT',
  'ALL',
  'NOT',
  'SELECT',
  'VALUES',
  'IN',
  'ANY',
  'SOME',
  'AND',
  'OR',
  'AS',
  'ON',
  'USING',
]);

/**
 * The index just after a call starting with the name at `index` — its arguments, and an `OVER (…)`,
 * `OVER name` or `FILTER (…)` after them — or null when `index` starts no call.
 */
function callItemEnd(tokens: readonly Token[], index: number): number | null {
  const open = nextSignificant(tokens, index + 1);
  if (open < 0 || tokens[open]?.text !== '(') return null;
  let close = closingIndex(tokens, open);
  for (;;) {
    if (tokens[close]?.text !== ')') return null;
    const after = nextSignificant(tokens, close + 1);
    const clause = after < 0 ? '' : word(tokens[after]);
    if (clause !== 'OVER' && clause !== 'FILTER') return close + 1;
    const next = nextSignificant(tokens, after + 1);
    if (next < 0) return null;
    if (tokens[next]?.text === '(') close = closingIndex(tokens, next);
    else if (
      clause === 'OVER' &&
      (tokens[next]?.kind === 'identifier' || tokens[next]?.kind === 'quoted-identifier')
    )
      return next + 1;
    else return null;
  }
}

/** A cast parameter's type (PostgreSQL's name, from `CastTarget.pgName`) as an OID (0 when unknown). */
export function castTypeOid(type: string): number {
  const oids: Record<string, number> = {
    int2: 21,
    int4: 23,
    int8: 20,
    oid: 26,
    float4: 700,
    float8: 701,
    numeric: 1700,
    bool: 16,
    bytea: 17,
    text: 25,
    varchar: 1043,
    bpchar: 1042,
    name: 19,
  };
  return oids[type] ?? 0;
}

/**
 * The CommandComplete tag of a statement that ran in SQLite, from its first word and outcome:
 * `INSERT 0 n`, `UPDATE n`, `DELETE n`, `SELECT n`, or the statement's leading words
 * (`CREATE TABLE`, `DROP INDEX`…).
 */
export function commandTag(
  tokens: readonly Token[],
  outcome: { readonly columns: readonly string[]; readonly rowCount: number; readonly changes: number },
): string {
  const words = leadingWords(tokens, 4);
  const first = words[0] ?? '';
  switch (first) {
    case 'INSERT':
    case 'REPLACE':
      return `INSERT 0 ${outcome.changes}`;
    case 'UPDATE':
      return `UPDATE ${outcome.changes}`;
    case 'DELETE':
      return `DELETE ${outcome.changes}`;
    case 'SELECT':
    case 'VALUES':
    case 'WITH':
    case 'TABLE':
      return `SELECT ${outcome.rowCount}`;
    case 'TRUNCATE':
      return 'TRUNCATE TABLE';
    case 'EXPLAIN':
      return 'EXPLAIN';
    case 'CREATE':
    case 'DROP':
    case 'ALTER': {
      const objectWords = words
        .slice(1)
        .filter((candidate) => !['UNIQUE', 'TEMP', 'TEMPORARY', 'VIRTUAL', 'OR', 'IF'].includes(candidate));
      return `${first} ${objectWords[0] ?? ''}`.trim();
    }
    default:
      return outcome.columns.length > 0 ? `SELECT ${outcome.rowCount}` : first;
  }
}

/** A heuristic for simple Queries (which have no Parse/describe): the statement only reads. */
export function looksReadOnly(firstWord: string): boolean {
  return firstWord === 'SELECT' || firstWord === 'VALUES' || firstWord === 'EXPLAIN' || firstWord === 'TABLE';
}
