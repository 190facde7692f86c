/**
 * The COPY statement's syntax (https://www.postgresql.org/docs/current/sql-copy.html), read from the
 * tokens of `sql.ts`:
 *
 *   COPY table [(column, …)] FROM STDIN [[WITH] (option, …)]
 *   COPY { table [(column, …)] | (query) } TO STDOUT [[WITH] (option, …)]
 *
 * with the options FORMAT text|csv|binary, DELIMITER, NULL, HEADER [boolean|MATCH], QUOTE, ESCAPE,
 * FORCE_QUOTE, FORCE_NOT_NULL, FORCE_NULL, ENCODING 'UTF8', FREEZE (accepted, no effect), and the
 * pre-9.0 syntax pg_dump and old scripts still send (`WITH CSV HEADER`, `DELIMITER ','`, `NULL ''`,
 * `BINARY`, `FORCE NOT NULL a, b`, `FORCE QUOTE *`). A file or PROGRAM is refused as PostgreSQL refuses
 * a role without pg_read_server_files (42501), pointing at psql's `\copy`; the binary format, WHERE
 * and DEFAULT are not supported (0A000). Option values are checked as PostgreSQL's
 * ProcessCopyOptions checks them.
 */
import {
  type ColumnSelection,
  type CopyFormat,
  type CopyOptions,
  defaultCopyOptions,
} from './copy-format.js';
import { PgSqlError, type Token } from './sql.js';

/** A table named by COPY: its name as SQLite takes it and as messages show it. */
export interface CopyTable {
  /** `"t"` or `"main"."t"`, quoted for SQLite. */
  readonly sql: string;
  /** The name without a schema (for `pragma_table_info`). */
  readonly name: string;
  /** SQLite's schema, or null (`public.` and no schema). */
  readonly schema: string | null;
  /** The column list, as given (null: every column). */
  readonly columns: readonly string[] | null;
}

export type CopyCommand =
  | { readonly direction: 'from'; readonly table: CopyTable; readonly options: CopyOptions }
  | {
      readonly direction: 'to';
      readonly source:
        | { readonly kind: 'table'; readonly table: CopyTable }
        | { readonly kind: 'query'; readonly tokens: readonly Token[] };
      readonly options: CopyOptions;
    };

const serverFileHint =
  "COPY with a file name reads or writes the database server's files, which northlight never does. Use COPY … FROM STDIN / TO STDOUT, or psql's \\copy, which reads and writes files on the client.";

function syntaxError(near: Token | undefined): PgSqlError {
  return new PgSqlError(
    '42601',
    near === undefined ? 'syntax error at end of input' : `syntax error at or near "${near.text}"`,
  );
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Reads significant tokens in order. */
class Cursor {
  private index = 0;
  readonly tokens: readonly Token[];
  /** Each significant token's position among all the statement's tokens. */
  private readonly positions: readonly number[];

  constructor(readonly all: readonly Token[]) {
    const positions: number[] = [];
    all.forEach((token, position) => {
      if (token.kind !== 'space' && token.kind !== 'comment') positions.push(position);
    });
    this.positions = positions;
    this.tokens = positions.map((position) => all[position] as Token);
  }

  /** Where the head token is among all the statement's tokens. */
  get position(): number {
    return this.positions[this.index] ?? this.all.length;
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.index + offset];
  }

  next(): Token | undefined {
    const token = this.tokens[this.index];
    if (token !== undefined) this.index += 1;
    return token;
  }

  get done(): boolean {
    return this.index >= this.tokens.length;
  }

  /** The upper-cased word at the head, or '' for anything but an identifier. */
  word(offset = 0): string {
    const token = this.peek(offset);
    return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
  }

  acceptWord(word: string): boolean {
    if (this.word() !== word) return false;
    this.index += 1;
    return true;
  }

  acceptPunctuation(text: string): boolean {
    if (this.peek()?.text !== text || this.peek()?.kind !== 'punctuation') return false;
    this.index += 1;
    return true;
  }

  expectPunctuation(text: string): void {
    if (!this.acceptPunctuation(text)) throw syntaxError(this.peek());
  }

  /** A name: an identifier (folded to lower case, as PostgreSQL folds it) or a quoted one. */
  name(): string {
    const token = this.next();
    if (token?.kind === 'identifier') return token.text.toLowerCase();
    if (token?.kind === 'quoted-identifier') return token.text.slice(1, -1).replaceAll('""', '"');
    throw syntaxError(token);
  }

  string(): string {
    const token = this.next();
    if (token?.kind !== 'string' || token.value === undefined) throw syntaxError(token);
    return token.value;
  }
}

export function parseCopyStatement(allTokens: readonly Token[]): CopyCommand {
  const cursor = new Cursor(allTokens);
  cursor.next(); // COPY
  // COPY BINARY t …: the oldest syntax.
  const binaryFirst =
    cursor.word() === 'BINARY' && cursor.peek(1)?.kind !== 'punctuation' && cursor.acceptWord('BINARY');
  const source = readSource(cursor);
  let direction: 'from' | 'to';
  if (cursor.acceptWord('FROM')) direction = 'from';
  else if (cursor.acceptWord('TO')) direction = 'to';
  else throw syntaxError(cursor.peek());
  if (source.kind === 'query' && direction === 'from') throw syntaxError(cursor.peek(-1));
  readEndpoint(cursor, direction);
  const options = readOptions(cursor, direction, binaryFirst);
  if (cursor.word() === 'WHERE') {
    throw new PgSqlError(
      '0A000',
      'COPY FROM … WHERE is not supported by northlight',
      'Load into a staging table, then INSERT … SELECT … WHERE.',
    );
  }
  if (!cursor.done) throw syntaxError(cursor.peek());
  if (direction === 'from') {
    if (source.kind !== 'table') throw syntaxError(undefined);
    return { direction, table: source.table, options };
  }
  return { direction, source, options };
}

function readSource(
  cursor: Cursor,
): { kind: 'table'; table: CopyTable } | { kind: 'query'; tokens: readonly Token[] } {
  if (cursor.peek()?.text === '(') {
    cursor.next();
    const start = cursor.position;
    let depth = 1;
    for (;;) {
      const end = cursor.position;
      const token = cursor.next();
      if (token === undefined) throw syntaxError(undefined);
      if (token.kind === 'punctuation' && token.text === '(') depth += 1;
      if (token.kind === 'punctuation' && token.text === ')') depth -= 1;
      if (depth > 0) continue;
      if (end === start) throw syntaxError(token);
      return { kind: 'query', tokens: cursor.all.slice(start, end) };
    }
  }
  const first = cursor.name();
  let schema: string | null = null;
  let name = first;
  if (cursor.acceptPunctuation('.')) {
    schema = first === 'public' ? null : first;
    name = cursor.name();
  }
  let columns: string[] | null = null;
  if (cursor.acceptPunctuation('(')) {
    columns = [cursor.name()];
    while (cursor.acceptPunctuation(',')) columns.push(cursor.name());
    cursor.expectPunctuation(')');
  }
  const sql = schema === null ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
  return { kind: 'table', table: { sql, name, schema, columns } };
}

function readEndpoint(cursor: Cursor, direction: 'from' | 'to'): void {
  const token = cursor.peek();
  const word = cursor.word();
  if ((direction === 'from' && word === 'STDIN') || (direction === 'to' && word === 'STDOUT')) {
    cursor.next();
    return;
  }
  if (token?.kind === 'string' || word === 'PROGRAM') {
    const program = word === 'PROGRAM';
    const role = program
      ? 'pg_execute_server_program'
      : direction === 'from'
        ? 'pg_read_server_files'
        : 'pg_write_server_files';
    throw new PgSqlError(
      '42501',
      program
        ? `must be superuser or have privileges of the ${role} role to COPY to or from an external program`
        : `must be superuser or have privileges of the ${role} role to COPY ${direction} a file`,
      serverFileHint,
    );
  }
  throw syntaxError(token);
}

/** The options as given, before the format's defaults and checks. */
interface GivenOptions {
  format?: CopyFormat | 'binary';
  delimiter?: string;
  nullString?: string;
  header?: CopyOptions['header'];
  quote?: string;
  escape?: string;
  forceQuote?: ColumnSelection;
  forceNotNull?: ColumnSelection;
  forceNull?: ColumnSelection;
  encoding?: string;
  freeze?: boolean;
}

function setOnce<K extends keyof GivenOptions>(given: GivenOptions, key: K, value: GivenOptions[K]): void {
  if (given[key] !== undefined) throw new PgSqlError('42601', 'conflicting or redundant options');
  given[key] = value;
}

function readOptions(cursor: Cursor, direction: 'from' | 'to', binaryFirst: boolean): CopyOptions {
  const given: GivenOptions = {};
  if (binaryFirst) setOnce(given, 'format', 'binary');
  if (cursor.acceptWord('USING')) {
    // COPY t FROM STDIN USING DELIMITERS 'x' (before 7.3).
    if (!cursor.acceptWord('DELIMITERS')) throw syntaxError(cursor.peek());
    setOnce(given, 'delimiter', cursor.string());
  }
  const withWord = cursor.acceptWord('WITH');
  if (cursor.peek()?.text === '(' && cursor.peek()?.kind === 'punctuation') {
    cursor.next();
    readOptionList(cursor, given);
  } else if (withWord || isLegacyOption(cursor.word())) {
    readLegacyOptions(cursor, given);
  }
  return checkOptions(given, direction);
}

function readBoolean(cursor: Cursor): boolean {
  const token = cursor.peek();
  const text = token?.kind === 'string' ? (token.value ?? '') : (token?.text ?? '');
  const value = text.toLowerCase();
  if (['true', 'on', '1', 'yes'].includes(value)) {
    cursor.next();
    return true;
  }
  if (['false', 'off', '0', 'no'].includes(value)) {
    cursor.next();
    return false;
  }
  throw new PgSqlError('22023', `${token === undefined ? 'option' : `"${text}"`} requires a Boolean value`);
}

/** An option's value may be omitted (a boolean then means true): the next token is `,` or `)`. */
function valueOmitted(cursor: Cursor): boolean {
  const text = cursor.peek()?.text;
  return text === ',' || text === ')';
}

function readColumnSelection(cursor: Cursor): ColumnSelection {
  if (cursor.acceptPunctuation('*')) return '*';
  cursor.expectPunctuation('(');
  const columns = [cursor.name()];
  while (cursor.acceptPunctuation(',')) columns.push(cursor.name());
  cursor.expectPunctuation(')');
  return columns;
}

/** `( option [value], … )`: the syntax since PostgreSQL 9.0. */
function readOptionList(cursor: Cursor, given: GivenOptions): void {
  for (;;) {
    const option = cursor.word();
    if (option === '') throw syntaxError(cursor.peek());
    cursor.next();
    switch (option) {
      case 'FORMAT': {
        const token = cursor.next();
        const format = (token?.kind === 'string' ? (token.value ?? '') : (token?.text ?? '')).toLowerCase();
        if (format !== 'text' && format !== 'csv' && format !== 'binary') {
          throw new PgSqlError('22023', `COPY format "${format}" not recognized`);
        }
        setOnce(given, 'format', format);
        break;
      }
      case 'FREEZE':
        setOnce(given, 'freeze', valueOmitted(cursor) ? true : readBoolean(cursor));
        break;
      case 'DELIMITER':
        setOnce(given, 'delimiter', cursor.string());
        break;
      case 'NULL':
        setOnce(given, 'nullString', cursor.string());
        break;
      case 'HEADER':
        if (valueOmitted(cursor)) setOnce(given, 'header', 'present');
        else if (cursor.word() === 'MATCH' || cursor.peek()?.value?.toLowerCase() === 'match') {
          cursor.next();
          setOnce(given, 'header', 'match');
        } else setOnce(given, 'header', readBoolean(cursor) ? 'present' : 'none');
        break;
      case 'QUOTE':
        setOnce(given, 'quote', cursor.string());
        break;
      case 'ESCAPE':
        setOnce(given, 'escape', cursor.string());
        break;
      case 'FORCE_QUOTE':
        setOnce(given, 'forceQuote', readColumnSelection(cursor));
        break;
      case 'FORCE_NOT_NULL':
        setOnce(given, 'forceNotNull', readColumnSelection(cursor));
        break;
      case 'FORCE_NULL':
        setOnce(given, 'forceNull', readColumnSelection(cursor));
        break;
      case 'ENCODING':
        setOnce(given, 'encoding', cursor.string());
        break;
      case 'DEFAULT':
      case 'ON_ERROR':
      case 'LOG_VERBOSITY':
        throw new PgSqlError('0A000', `COPY option "${option.toLowerCase()}" is not supported by northlight`);
      default:
        throw new PgSqlError('42601', `option "${option.toLowerCase()}" not recognized`);
    }
    if (cursor.acceptPunctuation(')')) return;
    cursor.expectPunctuation(',');
  }
}

const legacyOptionWords = new Set([
  'BINARY',
  'OIDS',
  'DELIMITER',
  'NULL',
  'CSV',
  'HEADER',
  'QUOTE',
  'ESCAPE',
  'FORCE',
  'ENCODING',
  'FREEZE',
]);

function isLegacyOption(word: string): boolean {
  return legacyOptionWords.has(word);
}

/** `[WITH] BINARY | DELIMITER [AS] 'd' | NULL [AS] 'n' | CSV | HEADER | QUOTE [AS] 'q' | …`: before 9.0. */
function readLegacyOptions(cursor: Cursor, given: GivenOptions): void {
  for (;;) {
    const option = cursor.word();
    if (!isLegacyOption(option)) return;
    cursor.next();
    switch (option) {
      case 'BINARY':
        setOnce(given, 'format', 'binary');
        break;
      case 'CSV':
        setOnce(given, 'format', 'csv');
        break;
      case 'OIDS':
        throw new PgSqlError('0A000', 'COPY … WITH OIDS is not supported');
      case 'HEADER':
        setOnce(given, 'header', 'present');
        break;
      case 'FREEZE':
        setOnce(given, 'freeze', true);
        break;
      case 'FORCE': {
        const kind = cursor.word();
        cursor.next();
        if (kind === 'QUOTE') {
          setOnce(given, 'forceQuote', cursor.acceptPunctuation('*') ? '*' : readLegacyColumns(cursor));
        } else if (kind === 'NOT' && cursor.acceptWord('NULL')) {
          setOnce(given, 'forceNotNull', readLegacyColumns(cursor));
        } else {
          throw syntaxError(cursor.peek(-1));
        }
        break;
      }
      default: {
        cursor.acceptWord('AS');
        const value = cursor.string();
        const key = (
          {
            DELIMITER: 'delimiter',
            NULL: 'nullString',
            QUOTE: 'quote',
            ESCAPE: 'escape',
            ENCODING: 'encoding',
          } as const
        )[option as 'DELIMITER'];
        setOnce(given, key, value);
      }
    }
  }
}

function readLegacyColumns(cursor: Cursor): string[] {
  const columns = [cursor.name()];
  while (cursor.acceptPunctuation(',')) columns.push(cursor.name());
  return columns;
}

function optionError(sqlstate: string, message: string): PgSqlError {
  return new PgSqlError(sqlstate, message);
}

/** The options with the format's defaults, checked as PostgreSQL's ProcessCopyOptions checks them. */
function checkOptions(given: GivenOptions, direction: 'from' | 'to'): CopyOptions {
  if (given.format === 'binary') {
    throw new PgSqlError(
      '0A000',
      'COPY FORMAT binary is not supported by northlight',
      'Use FORMAT text (the default) or FORMAT csv.',
    );
  }
  if (given.encoding !== undefined && !/^utf-?8$/i.test(given.encoding.replace(/^unicode$/i, 'utf8'))) {
    throw optionError('0A000', `COPY ENCODING "${given.encoding}" is not supported: data is UTF8`);
  }
  const format = given.format ?? 'text';
  const csv = format === 'csv';
  const defaults = defaultCopyOptions(format);
  const options: CopyOptions = {
    format,
    delimiter: given.delimiter ?? defaults.delimiter,
    nullString: given.nullString ?? defaults.nullString,
    header: given.header ?? 'none',
    quote: given.quote ?? defaults.quote,
    escape: given.escape ?? given.quote ?? defaults.escape,
    forceQuote: given.forceQuote ?? [],
    forceNotNull: given.forceNotNull ?? [],
    forceNull: given.forceNull ?? [],
  };
  const { delimiter, nullString, quote, escape: escapeChar } = options;
  if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 0x7f) {
    throw optionError('0A000', 'COPY delimiter must be a single one-byte character');
  }
  if (delimiter === '\r' || delimiter === '\n') {
    throw optionError('22023', 'COPY delimiter cannot be newline or carriage return');
  }
  if (nullString.includes('\r') || nullString.includes('\n')) {
    throw optionError('22023', 'COPY null representation cannot use newline or carriage return');
  }
  if (!csv && '\\.abcdefghijklmnopqrstuvwxyz0123456789'.includes(delimiter)) {
    throw optionError('22023', `COPY delimiter cannot be "${delimiter}"`);
  }
  if (!csv && (given.quote !== undefined || given.escape !== undefined)) {
    throw optionError(
      '0A000',
      `COPY ${given.quote !== undefined ? 'quote' : 'escape'} available only in CSV mode`,
    );
  }
  if (csv && (quote.length !== 1 || quote.charCodeAt(0) > 0x7f)) {
    throw optionError('0A000', 'COPY quote must be a single one-byte character');
  }
  if (csv && (escapeChar.length !== 1 || escapeChar.charCodeAt(0) > 0x7f)) {
    throw optionError('0A000', 'COPY escape must be a single one-byte character');
  }
  if (csv && delimiter === quote) throw optionError('22023', 'COPY delimiter and quote must be different');
  if (csv && nullString.includes(quote)) {
    throw optionError('22023', 'CSV quote character must not appear in the NULL specification');
  }
  if (nullString.includes(delimiter)) {
    throw optionError('22023', 'COPY delimiter must not appear in the NULL specification');
  }
  checkForceOptions(given, csv, direction);
  if (options.header === 'match' && direction === 'to') {
    throw optionError('22023', 'cannot use "match" with HEADER in COPY TO');
  }
  return options;
}

function checkForceOptions(given: GivenOptions, csv: boolean, direction: 'from' | 'to'): void {
  const uses: readonly [ColumnSelection | undefined, string, 'from' | 'to'][] = [
    [given.forceQuote, 'force quote', 'to'],
    [given.forceNotNull, 'force not null', 'from'],
    [given.forceNull, 'force null', 'from'],
  ];
  for (const [selection, name, allowed] of uses) {
    if (selection === undefined) continue;
    if (!csv) throw optionError('0A000', `COPY ${name} available only in CSV mode`);
    if (direction !== allowed) {
      throw optionError('0A000', `COPY ${name} only available using COPY ${allowed.toUpperCase()}`);
    }
  }
}
