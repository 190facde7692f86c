/**
 * A table's CREATE TABLE text as SQLite keeps it in `sqlite_schema`, read into its columns and
 * constraints, and edited in place: the ALTER TABLE forms SQLite lacks (alter-table.ts) change a table
 * by rewriting that text, as SQLite's own RENAME COLUMN does. Edits splice the original text, so the
 * stored definition keeps its author's spelling and layout.
 *
 * The reader knows SQLite's grammar of column and table constraints (lang_createtable.html) and
 * refuses anything else with `TableDefinitionError`: a definition it did not understand is never
 * rewritten.
 *
 * Pure code.
 */

export type SqlTokenKind =
  | 'space'
  | 'comment'
  | 'word'
  | 'quoted'
  | 'string'
  | 'number'
  | 'blob'
  | 'param'
  | 'punct';

export interface SqlToken {
  readonly kind: SqlTokenKind;
  readonly text: string;
  /** Character offsets in the SQL. */
  readonly start: number;
  readonly end: number;
}

/** A CREATE TABLE text this module cannot read (a bug, or a form it does not know). */
export class TableDefinitionError extends Error {}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const TWO_CHAR_OPERATORS = new Set(['||', '<=', '>=', '<>', '!=', '==', '<<', '>>', '->']);

/** SQLite's tokens (tokenize.c): an unterminated string or quoted name runs to the end. */
export function sqliteTokens(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  let at = 0;
  const push = (kind: SqlTokenKind, end: number): void => {
    tokens.push({ kind, text: sql.slice(at, end), start: at, end });
    at = end;
  };
  while (at < sql.length) {
    const char = sql[at] as string;
    const next = sql[at + 1];
    if (/\s/.test(char)) {
      let end = at + 1;
      while (end < sql.length && /\s/.test(sql[end] as string)) end++;
      push('space', end);
    } else if (char === '-' && next === '-') {
      const newline = sql.indexOf('\n', at);
      push('comment', newline < 0 ? sql.length : newline);
    } else if (char === '/' && next === '*') {
      const close = sql.indexOf('*/', at + 2);
      push('comment', close < 0 ? sql.length : close + 2);
    } else if (char === "'") {
      push('string', quotedEnd(sql, at, "'"));
    } else if (char === '"' || char === '`') {
      push('quoted', quotedEnd(sql, at, char));
    } else if (char === '[') {
      const close = sql.indexOf(']', at);
      push('quoted', close < 0 ? sql.length : close + 1);
    } else if ((char === 'x' || char === 'X') && next === "'") {
      push('blob', quotedEnd(sql, at + 1, "'"));
    } else if (/[0-9]/.test(char) || (char === '.' && next !== undefined && /[0-9]/.test(next))) {
      const match = /^(0[xX][0-9A-Fa-f]+|([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)/.exec(sql.slice(at));
      push('number', at + (match?.[0].length ?? 1));
    } else if (WORD_START.test(char)) {
      let end = at + 1;
      while (end < sql.length && WORD_PART.test(sql[end] as string)) end++;
      push('word', end);
    } else if (char === '?' || char === ':' || char === '@' || char === '$') {
      let end = at + 1;
      while (end < sql.length && WORD_PART.test(sql[end] as string)) end++;
      push('param', end);
    } else {
      const two = sql.slice(at, at + 2);
      push('punct', at + (TWO_CHAR_OPERATORS.has(two) ? (sql.slice(at, at + 3) === '->>' ? 3 : 2) : 1));
    }
  }
  return tokens;
}

function quotedEnd(sql: string, open: number, quote: string): number {
  let at = open + 1;
  for (;;) {
    const close = sql.indexOf(quote, at);
    if (close < 0) return sql.length;
    if (sql[close + 1] !== quote) return close + 1;
    at = close + 2;
  }
}

/** Tokens that are not space or comments. */
export function significant(tokens: readonly SqlToken[]): SqlToken[] {
  return tokens.filter((token) => token.kind !== 'space' && token.kind !== 'comment');
}

/** An identifier token's name: quotes removed (`"a""b"` → `a"b`, `[x]` → `x`); others as written. */
export function identifierName(token: SqlToken): string {
  const text = token.text;
  if (token.kind !== 'quoted') return text;
  if (text.startsWith('[')) return text.slice(1, -1);
  const quote = text[0] as string;
  return text.slice(1, -1).replaceAll(quote + quote, quote);
}

/** SQLite compares names case-insensitively (ASCII only). */
export function sameName(a: string, b: string): boolean {
  return asciiLower(a) === asciiLower(b);
}

export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (char) => char.toLowerCase());
}

/** A name as SQL: double-quoted, always (safe for any name, keyword or not). */
export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function keywordOf(token: SqlToken | undefined): string {
  return token?.kind === 'word' ? token.text.toUpperCase() : '';
}

/** Index of the `)` matching the `(` at `open` in `tokens` (significant tokens). */
export function closingParen(tokens: readonly SqlToken[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const text = tokens[index]?.text;
    if (text === '(') depth++;
    else if (text === ')') {
      depth--;
      if (depth === 0) return index;
    }
  }
  throw new TableDefinitionError('unbalanced parentheses');
}

// ---- the definition ----

export type ForeignKeyAction = 'NO ACTION' | 'RESTRICT' | 'CASCADE' | 'SET NULL' | 'SET DEFAULT';

export interface References {
  readonly table: string;
  /** The parent's columns as written; empty: its primary key. */
  readonly columns: readonly string[];
}

export type ConstraintKind =
  | 'primary-key'
  | 'not-null'
  | 'null'
  | 'unique'
  | 'check'
  | 'default'
  | 'collate'
  | 'references'
  | 'generated'
  /** A `CONSTRAINT name` with no constraint after it, which SQLite accepts. */
  | 'dangling';

/** A constraint; `start`/`end`: its significant tokens, `CONSTRAINT name` included. */
export interface Constraint {
  readonly kind: ConstraintKind;
  readonly name?: string;
  /** Index of the name token, when named. */
  readonly nameIndex?: number;
  readonly start: number;
  readonly end: number;
  /** Table constraints: their columns (PRIMARY KEY, UNIQUE, FOREIGN KEY). */
  readonly columns?: readonly string[];
  readonly references?: References;
  /** CHECK: the tokens inside its parentheses. */
  readonly expressionStart?: number;
  readonly expressionEnd?: number;
}

export interface ColumnDefinition {
  readonly name: string;
  readonly nameIndex: number;
  /** The type's tokens `[typeStart, typeEnd)`; equal when the column has no type. */
  readonly typeStart: number;
  readonly typeEnd: number;
  readonly constraints: readonly Constraint[];
  readonly start: number;
  readonly end: number;
}

export interface TableDefinition {
  readonly sql: string;
  readonly tokens: readonly SqlToken[];
  readonly name: string;
  readonly nameIndex: number;
  readonly columns: readonly ColumnDefinition[];
  readonly constraints: readonly Constraint[];
  /** Index of the `(` that opens the definition, and of its `)`. */
  readonly open: number;
  readonly close: number;
  readonly withoutRowid: boolean;
}

const TABLE_CONSTRAINT_STARTS = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN']);
const COLUMN_CONSTRAINT_STARTS = new Set([
  'CONSTRAINT',
  'PRIMARY',
  'NOT',
  'NULL',
  'UNIQUE',
  'CHECK',
  'DEFAULT',
  'COLLATE',
  'REFERENCES',
  'GENERATED',
  'AS',
]);

/** Reads a CREATE TABLE statement as `sqlite_schema.sql` holds it. */
export function readTableDefinition(sql: string): TableDefinition {
  const tokens = significant(sqliteTokens(sql));
  let index = 0;
  const expect = (word: string): void => {
    if (keywordOf(tokens[index]) !== word)
      throw new TableDefinitionError(`expected ${word} at token ${index}`);
    index++;
  };
  expect('CREATE');
  if (['TEMP', 'TEMPORARY'].includes(keywordOf(tokens[index]))) index++;
  if (keywordOf(tokens[index]) === 'VIRTUAL') throw new TableDefinitionError('a virtual table');
  expect('TABLE');
  if (keywordOf(tokens[index]) === 'IF') index += 3;
  if (tokens[index + 1]?.text === '.') index += 2;
  const nameToken = tokens[index];
  if (nameToken === undefined) throw new TableDefinitionError('no table name');
  const nameIndex = index;
  index++;
  if (tokens[index]?.text !== '(') throw new TableDefinitionError('no column list (CREATE TABLE … AS?)');
  const open = index;
  const close = closingParen(tokens, open);
  const columns: ColumnDefinition[] = [];
  const constraints: Constraint[] = [];
  for (const [start, end] of elements(tokens, open + 1, close)) {
    if (start === end) throw new TableDefinitionError('an empty element');
    if (constraints.length > 0 || TABLE_CONSTRAINT_STARTS.has(keywordOf(tokens[start]))) {
      constraints.push(readTableConstraint(tokens, start, end));
    } else {
      columns.push(readColumn(tokens, start, end));
    }
  }
  const options = tokens.slice(close + 1).map(keywordOf);
  return {
    sql,
    tokens,
    name: identifierName(nameToken),
    nameIndex,
    columns,
    constraints,
    open,
    close,
    withoutRowid: options.includes('ROWID'),
  };
}

/** `readTableDefinition`, or null for a text it cannot read (callers that then know nothing of it). */
export function tryReadTableDefinition(sql: string): TableDefinition | null {
  try {
    return readTableDefinition(sql);
  } catch (error) {
    if (error instanceof TableDefinitionError) return null;
    throw error;
  }
}

/** The `[start, end)` ranges between top-level commas of `tokens[from, to)`. */
export function elements(tokens: readonly SqlToken[], from: number, to: number): [number, number][] {
  const ranges: [number, number][] = [];
  let start = from;
  let depth = 0;
  for (let index = from; index < to; index++) {
    const text = tokens[index]?.text;
    if (text === '(') depth++;
    else if (text === ')') depth--;
    else if (text === ',' && depth === 0) {
      ranges.push([start, index]);
      start = index + 1;
    }
  }
  ranges.push([start, to]);
  return ranges;
}

function readColumn(tokens: readonly SqlToken[], start: number, end: number): ColumnDefinition {
  const nameToken = tokens[start] as SqlToken;
  if (nameToken.kind !== 'word' && nameToken.kind !== 'quoted' && nameToken.kind !== 'string')
    throw new TableDefinitionError(`a column named ${nameToken.text}`);
  let index = start + 1;
  const typeStart = index;
  while (index < end && !COLUMN_CONSTRAINT_STARTS.has(keywordOf(tokens[index]))) {
    index = tokens[index]?.text === '(' ? closingParen(tokens, index) + 1 : index + 1;
  }
  const typeEnd = index;
  const constraints: Constraint[] = [];
  while (index < end) {
    const constraint = readColumnConstraint(tokens, index, end);
    constraints.push(constraint);
    index = constraint.end;
  }
  return { name: identifierName(nameToken), nameIndex: start, typeStart, typeEnd, constraints, start, end };
}

/** `ON CONFLICT ROLLBACK|ABORT|FAIL|IGNORE|REPLACE`, if it is at `index`: the index after it. */
function afterConflictClause(tokens: readonly SqlToken[], index: number): number {
  return keywordOf(tokens[index]) === 'ON' && keywordOf(tokens[index + 1]) === 'CONFLICT' ? index + 3 : index;
}

function named(
  tokens: readonly SqlToken[],
  start: number,
): { name?: string; nameIndex?: number; at: number } {
  if (keywordOf(tokens[start]) !== 'CONSTRAINT') return { at: start };
  const token = tokens[start + 1];
  if (token === undefined) throw new TableDefinitionError('CONSTRAINT without a name');
  return { name: identifierName(token), nameIndex: start + 1, at: start + 2 };
}

function readColumnConstraint(tokens: readonly SqlToken[], start: number, end: number): Constraint {
  const { at, ...name } = named(tokens, start);
  let index = at;
  const word = keywordOf(tokens[index]);
  const done = (kind: ConstraintKind, after: number, extra: Partial<Constraint> = {}): Constraint => {
    if (after > end) throw new TableDefinitionError(`a ${kind} constraint past its column`);
    return { kind, ...name, start, end: after, ...extra };
  };
  // SQLite takes a `CONSTRAINT name` that no constraint follows (parse.y: `ccons ::= CONSTRAINT nm`).
  if (index >= end || (name.name !== undefined && keywordOf(tokens[index]) === 'CONSTRAINT'))
    return done('dangling', index);
  switch (word) {
    case 'PRIMARY': {
      index += 2; // PRIMARY KEY
      if (['ASC', 'DESC'].includes(keywordOf(tokens[index]))) index++;
      index = afterConflictClause(tokens, index);
      if (keywordOf(tokens[index]) === 'AUTOINCREMENT') index++;
      return done('primary-key', index);
    }
    case 'NOT':
      if (keywordOf(tokens[index + 1]) !== 'NULL') break;
      return done('not-null', afterConflictClause(tokens, index + 2));
    case 'NULL':
      return done('null', afterConflictClause(tokens, index + 1));
    case 'UNIQUE':
      return done('unique', afterConflictClause(tokens, index + 1));
    case 'CHECK': {
      const close = closingParen(tokens, index + 1);
      return done('check', close + 1, { expressionStart: index + 2, expressionEnd: close });
    }
    case 'DEFAULT':
      return done('default', afterDefaultValue(tokens, index + 1));
    case 'COLLATE':
      return done('collate', index + 2);
    case 'REFERENCES': {
      const { after, references } = readReferences(tokens, index + 1, end);
      return done('references', after, { references });
    }
    case 'GENERATED':
    case 'AS': {
      if (word === 'GENERATED') index += 2; // GENERATED ALWAYS
      if (keywordOf(tokens[index]) !== 'AS') break;
      index = closingParen(tokens, index + 1) + 1;
      if (['STORED', 'VIRTUAL'].includes(keywordOf(tokens[index]))) index++;
      return done('generated', index);
    }
  }
  throw new TableDefinitionError(`an unknown column constraint at ${tokens[index]?.text ?? 'the end'}`);
}

/** After a DEFAULT's value: a literal, a signed number, a word (TRUE, CURRENT_TIMESTAMP) or `(expr)`. */
function afterDefaultValue(tokens: readonly SqlToken[], index: number): number {
  const token = tokens[index];
  if (token === undefined) throw new TableDefinitionError('DEFAULT without a value');
  if (token.text === '(') return closingParen(tokens, index) + 1;
  if (token.text === '+' || token.text === '-') return index + 2;
  return index + 1;
}

/** `REFERENCES t [(cols)] [ON … | MATCH … | [NOT] DEFERRABLE [INITIALLY …]]…`: up to `end`. */
function readReferences(
  tokens: readonly SqlToken[],
  index: number,
  end: number,
): { after: number; references: References } {
  const table = tokens[index];
  if (table === undefined) throw new TableDefinitionError('REFERENCES without a table');
  let at = index + 1;
  let columns: string[] = [];
  if (tokens[at]?.text === '(') {
    const close = closingParen(tokens, at);
    columns = namesBetween(tokens, at + 1, close);
    at = close + 1;
  }
  for (;;) {
    const word = keywordOf(tokens[at]);
    if (word === 'ON') {
      at += 2; // ON DELETE|UPDATE
      const action = keywordOf(tokens[at]);
      at += action === 'SET' || action === 'NO' ? 2 : 1;
    } else if (word === 'MATCH') {
      at += 2;
    } else if (word === 'NOT' && keywordOf(tokens[at + 1]) === 'DEFERRABLE') {
      at += 1;
    } else if (word === 'DEFERRABLE') {
      at += 1;
      if (keywordOf(tokens[at]) === 'INITIALLY') at += 2;
    } else break;
  }
  if (at > end) throw new TableDefinitionError('a REFERENCES clause past its element');
  return { after: at, references: { table: identifierName(table), columns } };
}

/** The names of a parenthesized name list's tokens `[from, to)` (`a, "b" COLLATE x DESC` → a, b). */
function namesBetween(tokens: readonly SqlToken[], from: number, to: number): string[] {
  return elements(tokens, from, to).map(([start]) => identifierName(tokens[start] as SqlToken));
}

function readTableConstraint(tokens: readonly SqlToken[], start: number, end: number): Constraint {
  const { at, ...name } = named(tokens, start);
  const word = keywordOf(tokens[at]);
  const columnsAt = (open: number): { columns: string[]; close: number } => {
    if (tokens[open]?.text !== '(') throw new TableDefinitionError(`${word} without its columns`);
    const close = closingParen(tokens, open);
    return { columns: namesBetween(tokens, open + 1, close), close };
  };
  switch (word) {
    case 'PRIMARY':
      return { kind: 'primary-key', ...name, start, end, columns: columnsAt(at + 2).columns };
    case 'UNIQUE':
      return { kind: 'unique', ...name, start, end, columns: columnsAt(at + 1).columns };
    case 'CHECK': {
      const close = closingParen(tokens, at + 1);
      return { kind: 'check', ...name, start, end, expressionStart: at + 2, expressionEnd: close };
    }
    case 'FOREIGN': {
      const { columns, close } = columnsAt(at + 2);
      if (keywordOf(tokens[close + 1]) !== 'REFERENCES')
        throw new TableDefinitionError('FOREIGN KEY without REFERENCES');
      const { after, references } = readReferences(tokens, close + 2, end);
      if (after !== end) throw new TableDefinitionError('tokens after a FOREIGN KEY clause');
      return { kind: 'references', ...name, start, end, columns, references };
    }
  }
  throw new TableDefinitionError(`an unknown table constraint at ${tokens[at]?.text ?? 'the end'}`);
}

// ---- names PostgreSQL gives unnamed constraints ----

/**
 * The name PostgreSQL would give this constraint (`t_pkey`, `t_a_key`, `t_a_fkey`, `t_a_check`),
 * its own name when it has one. `column`: the column of a column constraint.
 */
export function constraintName(
  table: TableDefinition,
  constraint: Constraint,
  column?: ColumnDefinition,
): string {
  if (constraint.name !== undefined) return constraint.name;
  const columns = column !== undefined ? [column.name] : (constraint.columns ?? []);
  switch (constraint.kind) {
    case 'primary-key':
      return `${table.name}_pkey`;
    case 'unique':
      return `${table.name}_${columns.join('_')}_key`;
    case 'references':
      return `${table.name}_${columns.join('_')}_fkey`;
    case 'check': {
      const first = column?.name ?? firstColumnIn(table, constraint);
      return first === undefined ? `${table.name}_check` : `${table.name}_${first}_check`;
    }
    default:
      return `${table.name}_${columns.join('_')}_${constraint.kind}`;
  }
}

/** The first of the table's columns a CHECK expression names (PostgreSQL names the check after it). */
function firstColumnIn(table: TableDefinition, constraint: Constraint): string | undefined {
  for (let index = constraint.expressionStart ?? 0; index < (constraint.expressionEnd ?? 0); index++) {
    const token = table.tokens[index] as SqlToken;
    if (token.kind !== 'word' && token.kind !== 'quoted') continue;
    const column = table.columns.find((candidate) => sameName(candidate.name, identifierName(token)));
    if (column !== undefined) return column.name;
  }
  return undefined;
}

/** Every constraint of the table, column constraints with their column. */
export function allConstraints(
  table: TableDefinition,
): { readonly constraint: Constraint; readonly column?: ColumnDefinition }[] {
  return [
    ...table.columns.flatMap((column) => column.constraints.map((constraint) => ({ constraint, column }))),
    ...table.constraints.map((constraint) => ({ constraint })),
  ];
}

/** The constraint PostgreSQL would call `name`, if the definition holds one. */
export function findConstraint(
  table: TableDefinition,
  name: string,
): { readonly constraint: Constraint; readonly column?: ColumnDefinition } | undefined {
  const nameable = allConstraints(table).filter(({ constraint }) =>
    ['primary-key', 'unique', 'references', 'check'].includes(constraint.kind),
  );
  return (
    nameable.find(({ constraint }) => constraint.name !== undefined && sameName(constraint.name, name)) ??
    nameable.find(({ constraint, column }) => sameName(constraintName(table, constraint, column), name))
  );
}

export function findColumn(table: TableDefinition, name: string): ColumnDefinition | undefined {
  return table.columns.find((column) => sameName(column.name, name));
}

/** The primary key's columns, in key order (empty: none). */
export function primaryKeyColumns(table: TableDefinition): string[] {
  for (const column of table.columns) {
    if (column.constraints.some((constraint) => constraint.kind === 'primary-key')) return [column.name];
  }
  return [...(table.constraints.find((constraint) => constraint.kind === 'primary-key')?.columns ?? [])];
}

/** The column's declared type as written ('' for none). */
export function columnType(table: TableDefinition, column: ColumnDefinition): string {
  if (column.typeStart === column.typeEnd) return '';
  const first = table.tokens[column.typeStart] as SqlToken;
  const last = table.tokens[column.typeEnd - 1] as SqlToken;
  return table.sql.slice(first.start, last.end);
}

// ---- edits: each returns the new SQL ----

/** Text of the significant tokens `[start, end)`, as written. */
export function textBetween(table: TableDefinition, start: number, end: number): string {
  if (start >= end) return '';
  return table.sql.slice((table.tokens[start] as SqlToken).start, (table.tokens[end - 1] as SqlToken).end);
}

function splice(sql: string, from: number, to: number, text: string): string {
  return sql.slice(0, from) + text + sql.slice(to);
}

/** The definition under another table name. */
export function withTableName(table: TableDefinition, name: string): string {
  const token = table.tokens[table.nameIndex] as SqlToken;
  return splice(table.sql, token.start, token.end, quoteName(name));
}

/** Adds a table constraint (`CONSTRAINT c FOREIGN KEY …`) after the last element. */
export function withTableConstraint(table: TableDefinition, clause: string): string {
  const at = (table.tokens[table.close - 1] as SqlToken).end;
  return splice(table.sql, at, at, `, ${clause}`);
}

/** Without a constraint: a table constraint with its comma, a column constraint with the space before it. */
export function withoutConstraint(
  table: TableDefinition,
  constraint: Constraint,
  column?: ColumnDefinition,
): string {
  const tokens = table.tokens;
  const from = (tokens[constraint.start - 1] as SqlToken).end; // the comma (table) or the token before (column)
  const fromTable = (tokens[constraint.start - 1] as SqlToken).start;
  const to = (tokens[constraint.end - 1] as SqlToken).end;
  return column === undefined ? splice(table.sql, fromTable, to, '') : splice(table.sql, from, to, '');
}

/** With `CONSTRAINT name` put before the constraint (or its old name replaced). */
export function withConstraintName(table: TableDefinition, constraint: Constraint, name: string): string {
  if (constraint.nameIndex !== undefined) {
    const token = table.tokens[constraint.nameIndex] as SqlToken;
    return splice(table.sql, token.start, token.end, quoteName(name));
  }
  const at = (table.tokens[constraint.start] as SqlToken).start;
  return splice(table.sql, at, at, `CONSTRAINT ${quoteName(name)} `);
}

/** With `text` appended to the column's definition (` NOT NULL`, ` DEFAULT 1`). */
export function withColumnSuffix(table: TableDefinition, column: ColumnDefinition, text: string): string {
  const at = (table.tokens[column.end - 1] as SqlToken).end;
  return splice(table.sql, at, at, text);
}

/** With the column's type replaced (or given, if it had none). */
export function withColumnType(table: TableDefinition, column: ColumnDefinition, type: string): string {
  if (column.typeStart === column.typeEnd) {
    const at = (table.tokens[column.nameIndex] as SqlToken).end;
    return splice(table.sql, at, at, ` ${type}`);
  }
  const from = (table.tokens[column.typeStart] as SqlToken).start;
  const to = (table.tokens[column.typeEnd - 1] as SqlToken).end;
  return splice(table.sql, from, to, type);
}

/** SQLite's affinity of a declared type (datatype3.html §3.1). */
export function typeAffinity(type: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const upper = type.toUpperCase();
  if (upper.includes('INT')) return 'INTEGER';
  if (upper.includes('CHAR') || upper.includes('CLOB') || upper.includes('TEXT')) return 'TEXT';
  if (upper.includes('BLOB') || upper.trim() === '') return 'BLOB';
  if (upper.includes('REAL') || upper.includes('FLOA') || upper.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/**
 * Whether the column is the table's rowid (an INTEGER PRIMARY KEY of a rowid table): its values are
 * the b-tree's keys, not stored in the rows, so no edit of its text may change that.
 */
export function isRowidColumn(
  table: TableDefinition,
  column: ColumnDefinition,
  type = columnType(table, column),
): boolean {
  if (table.withoutRowid || type.trim().toUpperCase() !== 'INTEGER') return false;
  const primary = primaryKeyColumns(table);
  if (primary.length !== 1 || !sameName(primary[0] as string, column.name)) return false;
  // `INTEGER PRIMARY KEY DESC` as a column constraint is SQLite's one exception (lang_createtable §rowid).
  const own = column.constraints.find((constraint) => constraint.kind === 'primary-key');
  return (
    own === undefined || keywordOf(table.tokens[own.start + (own.name === undefined ? 2 : 4)]) !== 'DESC'
  );
}
