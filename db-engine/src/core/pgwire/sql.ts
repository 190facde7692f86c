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
 * - `expr::type` casts to common types are removed (SQLite converts by column affinity); a cast of a
 *   parameter (`$1::int8`) also gives that parameter its type when Parse did not;
 * - dollar-quoted strings (`$$…$$`, `$tag$…$tag$`) and `E'…'` strings → plain SQLite literals;
 * - `version()`, `current_database()`, `current_schema()`, `current_user`, `session_user`,
 *   `pg_backend_pid()` (optionally `pg_catalog.`-qualified) → literals;
 * - psql's relation lists (`\d`, `\dt`…) → queries of `sqlite_schema`; other uses of PostgreSQL's
 *   catalogs are refused with a hint (`catalog.ts`).
 *
 * Anything else passes through unchanged to SQLite, whose errors come back with their SQLSTATEs.
 */

import { catalogQuery } from './catalog.js';

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
    const end = readWhile(sql, start, /[0-9.eE]/);
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

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

function word(token: Token | undefined): string {
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
  | { readonly kind: 'set'; readonly name: string; readonly value: string | null; readonly tag: string }
  | { readonly kind: 'show'; readonly name: string }
  | { readonly kind: 'reset'; readonly name: string }
  | { readonly kind: 'discard'; readonly tag: string }
  | { readonly kind: 'deallocate'; readonly name: string | null }
  | { readonly kind: 'unsupported'; readonly sqlstate: string; readonly message: string }
  | { readonly kind: 'sql'; readonly firstWord: string };

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
  if (second === 'SESSION' && word(rest[1]) === 'CHARACTERISTICS') {
    return { kind: 'set', name: '', value: null, tag: 'SET' };
  }
  if (second === 'SESSION' || second === 'LOCAL') rest = rest.slice(1);
  if (word(rest[0]) === 'TRANSACTION') return { kind: 'set', name: '', value: null, tag: 'SET' };
  if (word(rest[0]) === 'TIME' && word(rest[1]) === 'ZONE') {
    return { kind: 'set', name: 'timezone', value: settingValue(rest.slice(2)), tag: 'SET' };
  }
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
    case 'ROLLBACK':
      if (upper.includes('TO')) return savepointsUnsupported();
      if (upper[1] === 'PREPARED') break;
      return { kind: 'rollback' };
    case 'SAVEPOINT':
    case 'RELEASE':
      return savepointsUnsupported();
    case 'SET':
      return classifySet(words);
    case 'SHOW':
      return { kind: 'show', name: settingName(words.slice(1)) };
    case 'RESET':
      return { kind: 'reset', name: settingName(words.slice(1)) };
    case 'DISCARD':
      return { kind: 'discard', tag: upper.slice(0, 2).join(' ') };
    case 'DEALLOCATE': {
      const rest = words.slice(upper[1] === 'PREPARE' ? 2 : 1);
      const name = rest[0];
      if (name === undefined) throw new PgSqlError('42601', 'syntax error at end of input');
      return { kind: 'deallocate', name: word(name) === 'ALL' ? null : settingName([name]) };
    }
    case 'PREPARE':
    case 'EXECUTE':
    case 'LISTEN':
    case 'UNLISTEN':
    case 'NOTIFY':
    case 'COPY':
    case 'LOCK':
    case 'DECLARE':
    case 'FETCH':
    case 'MOVE':
      return {
        kind: 'unsupported',
        sqlstate: '0A000',
        message: `${first} is not supported by northlight (use the extended protocol for prepared statements)`,
      };
    default:
      break;
  }
  if (first === 'COMMIT' || first === 'ROLLBACK') {
    return { kind: 'unsupported', sqlstate: '0A000', message: 'two-phase commit is not supported' };
  }
  return { kind: 'sql', firstWord: first };
}

function savepointsUnsupported(): Classified {
  return {
    kind: 'unsupported',
    sqlstate: '0A000',
    message: 'savepoints are not supported by northlight',
  };
}

// ---------------------------------------------------------------------------------------------
// Translation to SQLite.

export interface SessionFacts {
  readonly serverVersion: string;
  readonly database: string;
  readonly user: string;
  readonly processId: number;
}

export interface Translation {
  readonly sql: string;
  /** The highest `$n` in the statement. */
  readonly parameterCount: number;
  /** Types given by casts of parameters (`$1::int8`), by parameter number. */
  readonly castTypes: ReadonlyMap<number, string>;
}

/** Casts that are dropped: SQLite's affinity makes the conversion, or the value is already right. */
const removableCastTypes = new Set([
  'INT',
  'INT2',
  'INT4',
  'INT8',
  'INTEGER',
  'BIGINT',
  'SMALLINT',
  'TEXT',
  'VARCHAR',
  'CHAR',
  'CHARACTER',
  'BPCHAR',
  'NAME',
  'BOOL',
  'BOOLEAN',
  'FLOAT',
  'FLOAT4',
  'FLOAT8',
  'REAL',
  'DOUBLE',
  'NUMERIC',
  'DECIMAL',
  'BYTEA',
  'OID',
  'REGCLASS',
  'REGTYPE',
  'REGPROC',
  'JSON',
  'JSONB',
  'DATE',
  'TIME',
  'TIMESTAMP',
  'TIMESTAMPTZ',
  'UUID',
]);

/** Words that may follow a cast's first type word (`double precision`, `timestamp with time zone`). */
const castTypeTails = new Set(['PRECISION', 'VARYING', 'WITH', 'WITHOUT', 'TIME', 'ZONE']);

function sqliteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Index of the next significant token at or after `from`, or -1. */
function nextSignificant(tokens: readonly Token[], from: number): number {
  for (let index = from; index < tokens.length; index++) {
    if (isSignificant(tokens[index] as Token)) return index;
  }
  return -1;
}

/** Skips a cast's type (`int8`, `double precision`, `varchar(10)`, `int[]`); returns the index after it. */
function skipCastType(tokens: readonly Token[], from: number): { end: number; type: string } {
  const start = nextSignificant(tokens, from);
  const first = start < 0 ? '' : word(tokens[start]);
  if (!removableCastTypes.has(first)) {
    const shown = start < 0 ? '' : (tokens[start] as Token).text;
    throw new PgSqlError('0A000', `cast to type ${shown} is not supported by northlight`);
  }
  let end = start + 1;
  for (;;) {
    const index = nextSignificant(tokens, end);
    if (index < 0) break;
    const token = tokens[index] as Token;
    if (castTypeTails.has(word(token))) {
      end = index + 1;
      continue;
    }
    if (token.kind === 'punctuation' && (token.text === '(' || token.text === '[')) {
      const close = token.text === '(' ? ')' : ']';
      const closing = tokens.findIndex((candidate, at) => at > index && candidate.text === close);
      if (closing < 0) break;
      end = closing + 1;
      continue;
    }
    break;
  }
  return { end, type: first.toLowerCase() };
}

const sessionFunctions = new Set([
  'VERSION',
  'CURRENT_DATABASE',
  'CURRENT_SCHEMA',
  'PG_BACKEND_PID',
  'CURRENT_CATALOG',
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
    default:
      return String(facts.processId);
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
  if (open < 0 || tokens[open]?.text !== '(') return null;
  const close = nextSignificant(tokens, open + 1);
  if (close < 0 || tokens[close]?.text !== ')') return null;
  return { end: close + 1, text: sessionFunctionValue(name, facts) };
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

/** Translates one statement (its tokens, from `splitStatements` or `tokenize`) to SQLite. */
export function translate(tokens: readonly Token[], facts: SessionFacts): Translation {
  const catalog = catalogQuery(tokens, facts);
  if (catalog.kind === 'unsupported') throw new PgSqlError(catalog.sqlstate, catalog.message, catalog.hint);
  if (catalog.kind === 'sql') return { sql: catalog.sql, parameterCount: 0, castTypes: new Map() };
  const parts: string[] = [];
  const castTypes = new Map<number, string>();
  const position: TranslationPosition = { depth: 0, inSelectList: false, previous: null };
  let parameterCount = 0;
  let lastParameter = 0;
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    if (token.kind === 'parameter') {
      const number = Number(token.value);
      if (!Number.isSafeInteger(number) || number < 1 || number > PARAMETER_NUMBER_MAX) {
        throw new PgSqlError('42P02', `there is no parameter ${token.text}`);
      }
      parameterCount = Math.max(parameterCount, number);
      lastParameter = number;
      parts.push(`?${number}`);
      advancePosition(position, token);
      index += 1;
      continue;
    }
    if (token.kind === 'cast') {
      const { end, type } = skipCastType(tokens, index + 1);
      if (lastParameter > 0 && !castTypes.has(lastParameter)) castTypes.set(lastParameter, type);
      index = end;
      continue;
    }
    if (isSignificant(token)) lastParameter = 0;
    if (token.kind === 'string') {
      parts.push(token.text.startsWith("'") ? token.text : sqliteLiteral(token.value ?? ''));
      advancePosition(position, token);
      index += 1;
      continue;
    }
    if (token.kind === 'identifier') {
      const upper = token.text.toUpperCase();
      if (upper === 'SERIAL' || upper === 'BIGSERIAL' || upper === 'SMALLSERIAL') {
        parts.push('INTEGER');
        advancePosition(position, token);
        index += 1;
        continue;
      }
      const call = sessionFunctionAt(tokens, index, facts);
      if (call !== null) {
        const name = tokens
          .slice(index, call.end)
          .filter((candidate) => candidate.kind === 'identifier')
          .at(-1) as Token;
        const alias = isWholeSelectItem(position, tokens, call.end) ? ` AS ${name.text.toLowerCase()}` : '';
        parts.push(call.text + alias);
        advancePosition(position, { kind: 'string', text: call.text });
        index = call.end;
        continue;
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
    }
    parts.push(token.text);
    advancePosition(position, token);
    index += 1;
  }
  return { sql: parts.join('').trim(), parameterCount, castTypes };
}

/** Parameter type names from casts, as OIDs (0 when unknown). */
export function castTypeOid(type: string): number {
  const oids: Record<string, number> = {
    int2: 21,
    smallint: 21,
    int4: 23,
    int: 23,
    integer: 23,
    int8: 20,
    bigint: 20,
    float4: 700,
    real: 700,
    float8: 701,
    double: 701,
    float: 701,
    bool: 16,
    boolean: 16,
    bytea: 17,
    text: 25,
    varchar: 1043,
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
