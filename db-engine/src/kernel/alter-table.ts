/**
 * The ALTER TABLE forms SQLite lacks, which every PostgreSQL migration tool sends (Prisma, knex,
 * TypeORM, Sequelize, Rails, Django…):
 *
 * - `ADD [CONSTRAINT c] FOREIGN KEY (…) REFERENCES …` and `ADD [CONSTRAINT c] CHECK (…)` (`NOT VALID`
 *   skips the check of the rows already there);
 * - `DROP CONSTRAINT [IF EXISTS] c`, `RENAME CONSTRAINT c TO d`, `VALIDATE CONSTRAINT c`;
 * - `ALTER [COLUMN] x SET NOT NULL | DROP NOT NULL | SET DEFAULT e | DROP DEFAULT |
 *   [SET DATA] TYPE t [USING e]`.
 *
 * SQLite keeps a table's constraints, defaults and declared types only in its CREATE TABLE text; none
 * of these changes the rows' format on disk. So the kernel changes the table the way SQLite's own
 * RENAME COLUMN does: it rewrites that text in `sqlite_schema` (writable_schema) and bumps the schema
 * version, inside the request's transaction, after checking the rows against the new rule (the
 * session does the I/O: sql-session.ts `#alterTable`). Changes that would change the format on disk
 * (adding or dropping a PRIMARY KEY or UNIQUE of the table's own, a rowid column's type) are refused
 * with 0A000 and the way to do them.
 *
 * This module is pure: it reads the statement (`parseAlteration`) and says what to check and what the
 * new text is (`planAlteration`).
 */
import {
  type ColumnDefinition,
  type Constraint,
  closingParen,
  columnType,
  constraintName,
  findColumn,
  findConstraint,
  identifierName,
  isRowidColumn,
  keywordOf,
  primaryKeyColumns,
  quoteName,
  readTableDefinition,
  type SqlToken,
  sameName,
  significant,
  sqliteTokens,
  type TableDefinition,
  TableDefinitionError,
  textBetween,
  typeAffinity,
  withColumnSuffix,
  withColumnType,
  withConstraintName,
  withoutConstraint,
  withTableConstraint,
  withTableName,
} from './table-definition.js';

export type AlterAction =
  | {
      readonly kind: 'add-foreign-key';
      readonly name?: string;
      readonly columns: readonly string[];
      readonly parent: string;
      readonly parentColumns: readonly string[];
      /** `FOREIGN KEY (…) REFERENCES …` as written, without `NOT VALID`. */
      readonly clause: string;
      /** What follows the parent and its columns: `ON DELETE …`, `DEFERRABLE`… */
      readonly actions: string;
      readonly notValid: boolean;
    }
  | {
      readonly kind: 'add-check';
      readonly name?: string;
      readonly expression: string;
      readonly notValid: boolean;
    }
  | { readonly kind: 'drop-constraint'; readonly name: string; readonly ifExists: boolean }
  | { readonly kind: 'rename-constraint'; readonly name: string; readonly newName: string }
  | { readonly kind: 'validate-constraint'; readonly name: string }
  | { readonly kind: 'set-not-null'; readonly column: string }
  | { readonly kind: 'drop-not-null'; readonly column: string }
  | { readonly kind: 'set-default'; readonly column: string; readonly expression: string }
  | { readonly kind: 'drop-default'; readonly column: string }
  | { readonly kind: 'set-type'; readonly column: string; readonly type: string; readonly using?: string }
  /**
   * `ADD [COLUMN]` of a column SQLite refuses to add as written (sql-session.ts): added as
   * `definition`, then filled with `defaultValue` and given it, made NOT NULL, given a unique index.
   */
  | {
      readonly kind: 'add-column';
      readonly column: string;
      readonly definition: string;
      readonly defaultValue?: string;
      readonly notNull: boolean;
      readonly unique: boolean;
      /** The UNIQUE constraint's own name (`CONSTRAINT u UNIQUE`); else PostgreSQL's `<table>_<column>_key`. */
      readonly uniqueName?: string;
    }
  /**
   * `DROP TABLE a, b CASCADE | RESTRICT` (sql-session.ts): the tables together, and with CASCADE other
   * tables' foreign keys to them.
   */
  | { readonly kind: 'drop-tables'; readonly tables: readonly string[]; readonly cascade: boolean }
  /** A planner or storage setting of a column (SET STATISTICS, SET STORAGE…): SQLite has none. */
  | { readonly kind: 'ignored' }
  /** An ALTER COLUMN form SQLite has no equivalent of (identity, DROP EXPRESSION…): refused. */
  | { readonly kind: 'unsupported'; readonly what: string };

export interface Alteration {
  /** The table as named (unquoted). */
  readonly table: string;
  readonly action: AlterAction;
  /** `ALTER TABLE IF EXISTS`: no such table is not an error. */
  readonly ifExists?: boolean;
}

/** An expected refusal of an ALTER TABLE, with PostgreSQL's SQLSTATE. */
export class AlterTableError extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly hint?: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

const REBUILD_HINT =
  'SQLite keeps this in the table itself: create the new table, copy the rows (INSERT INTO new_t ' +
  'SELECT … FROM t), drop the old table and rename the new one (ALTER TABLE new_t RENAME TO t).';

/** Whether the SQL may hold one of these forms (a cheap test before tokenizing). */
export function mayAlterTable(sql: string): boolean {
  return /table/i.test(sql) && (/alter/i.test(sql) || (/drop/i.test(sql) && /cascade|restrict/i.test(sql)));
}

/** The statements of `sql` (top-level `;`), as text, without empty ones. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let from = 0;
  let depth = 0;
  let body = false;
  const tokens = sqliteTokens(sql);
  for (const token of tokens) {
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    // CREATE TRIGGER … BEGIN …; …; END holds semicolons of its own.
    else if (keywordOf(token) === 'BEGIN') body = true;
    else if (keywordOf(token) === 'END') body = false;
    if (token.text === ';' && depth === 0 && !body) {
      statements.push(sql.slice(from, token.end));
      from = token.end;
    }
  }
  statements.push(sql.slice(from));
  return statements.filter((statement) =>
    significant(sqliteTokens(statement)).some((token) => token.text !== ';'),
  );
}

/**
 * The alteration this one statement is, or null when it is none of these forms (SQLite runs it).
 * Throws AlterTableError (42601) for one of these forms written wrong.
 */
export function parseAlteration(sql: string): Alteration | null {
  try {
    return readAlteration(sql);
  } catch (error) {
    if (!(error instanceof TableDefinitionError)) throw error;
    throw new AlterTableError('42601', `syntax error in ALTER TABLE: ${error.message}`);
  }
}

function readAlteration(sql: string): Alteration | null {
  const tokens = significant(sqliteTokens(sql)).filter(
    (token, index, all) => !(token.text === ';' && index === all.length - 1),
  );
  if (keywordOf(tokens[0]) === 'DROP') return dropTables(tokens);
  if (keywordOf(tokens[0]) !== 'ALTER' || keywordOf(tokens[1]) !== 'TABLE') return null;
  let index = 2;
  const ifExists = keywordOf(tokens[index]) === 'IF' && keywordOf(tokens[index + 1]) === 'EXISTS';
  if (ifExists) index += 2;
  if (keywordOf(tokens[index]) === 'ONLY') index += 1; // no inheritance here: ONLY changes nothing
  if (tokens[index + 1]?.text === '.') index += 2; // main.t
  const tableToken = tokens[index];
  if (tableToken === undefined) return null;
  const table = identifierName(tableToken);
  const action = parseAction(tokens, index + 1);
  return action === null ? null : { table, action, ...(ifExists ? { ifExists } : {}) };
}

/**
 * `DROP TABLE [IF EXISTS] a [, b …] CASCADE | RESTRICT`, which SQLite lacks: PostgreSQL drops the
 * tables of one statement together; with RESTRICT (its default, which the PostgreSQL endpoint always
 * says) it refuses while a table outside them has a foreign key to one (2BP01), with CASCADE it drops
 * those foreign keys too. SQLite would drop the table and leave those keys pointing at no table,
 * failing every later write to the tables that hold them. Without the word, a DROP TABLE is SQLite's.
 */
function dropTables(tokens: readonly SqlToken[]): Alteration | null {
  const option = keywordOf(tokens.at(-1));
  if (keywordOf(tokens[1]) !== 'TABLE' || (option !== 'CASCADE' && option !== 'RESTRICT')) return null;
  let index = 2;
  const ifExists = keywordOf(tokens[index]) === 'IF' && keywordOf(tokens[index + 1]) === 'EXISTS';
  if (ifExists) index += 2;
  const tables: string[] = [];
  for (;;) {
    if (tokens[index + 1]?.text === '.') index += 2;
    const table = tokens[index];
    if (table === undefined || (table.kind !== 'word' && table.kind !== 'quoted')) return null;
    tables.push(identifierName(table));
    index += 1;
    if (tokens[index]?.text !== ',') break;
    index += 1;
  }
  if (index !== tokens.length - 1) return null;
  return {
    table: tables[0] as string,
    action: { kind: 'drop-tables', tables, cascade: option === 'CASCADE' },
    ...(ifExists ? { ifExists } : {}),
  };
}

function parseAction(tokens: readonly SqlToken[], start: number): AlterAction | null {
  const text = (from: number, to = tokens.length): string =>
    tokens.length === 0 || from >= to ? '' : joinTokens(tokens.slice(from, to));
  const word = keywordOf(tokens[start]);
  if (word === 'ADD') {
    let index = start + 1;
    let name: string | undefined;
    if (keywordOf(tokens[index]) === 'CONSTRAINT') {
      const nameToken = tokens[index + 1];
      if (nameToken === undefined) return null; // SQLite's syntax error says where
      name = identifierName(nameToken);
      index += 2;
    }
    const notValid = keywordOf(tokens.at(-2)) === 'NOT' && keywordOf(tokens.at(-1)) === 'VALID';
    const end = notValid ? tokens.length - 2 : tokens.length;
    const named = name === undefined ? {} : { name };
    if (keywordOf(tokens[index]) === 'FOREIGN' && keywordOf(tokens[index + 1]) === 'KEY') {
      return {
        kind: 'add-foreign-key',
        ...named,
        ...foreignKeyParts(tokens, index, end, text),
        clause: text(index, end),
        notValid,
      };
    }
    if (keywordOf(tokens[index]) === 'CHECK' && tokens[index + 1]?.text === '(') {
      const close = closingParen(tokens, index + 1);
      const noInherit = keywordOf(tokens[close + 1]) === 'NO' && keywordOf(tokens[close + 2]) === 'INHERIT';
      if (close + 1 !== end && !(noInherit && close + 3 === end)) return null;
      return { kind: 'add-check', ...named, expression: text(index + 2, close), notValid };
    }
    if (name !== undefined) return null;
    return addColumnAction(text(keywordOf(tokens[index]) === 'COLUMN' ? index + 1 : index));
  }
  if (word === 'DROP' && keywordOf(tokens[start + 1]) === 'CONSTRAINT') {
    const ifExists = keywordOf(tokens[start + 2]) === 'IF' && keywordOf(tokens[start + 3]) === 'EXISTS';
    const nameToken = tokens[start + (ifExists ? 4 : 2)];
    if (nameToken === undefined) return null;
    return { kind: 'drop-constraint', name: identifierName(nameToken), ifExists };
  }
  if (
    word === 'RENAME' &&
    keywordOf(tokens[start + 1]) === 'CONSTRAINT' &&
    keywordOf(tokens[start + 3]) === 'TO'
  ) {
    const [from, to] = [tokens[start + 2], tokens[start + 4]];
    if (from === undefined || to === undefined) return null;
    return { kind: 'rename-constraint', name: identifierName(from), newName: identifierName(to) };
  }
  if (
    word === 'VALIDATE' &&
    keywordOf(tokens[start + 1]) === 'CONSTRAINT' &&
    tokens[start + 2] !== undefined
  ) {
    return { kind: 'validate-constraint', name: identifierName(tokens[start + 2] as SqlToken) };
  }
  if (word === 'ALTER') {
    const columnAt = keywordOf(tokens[start + 1]) === 'COLUMN' ? start + 2 : start + 1;
    const columnToken = tokens[columnAt];
    if (columnToken === undefined) return null;
    return alterColumnAction(tokens, identifierName(columnToken), columnAt + 1, text);
  }
  return null;
}

/**
 * `ADD [COLUMN] c …` that SQLite refuses (lang_altertable.html) and PostgreSQL takes: NOT NULL without
 * a default (on an empty table, or with a default to fill it), a default that is not a literal
 * (`DEFAULT CURRENT_TIMESTAMP`, `DEFAULT (…)`: PostgreSQL fills the rows there with it), UNIQUE. Null
 * for what SQLite does itself.
 */
function addColumnAction(definition: string): AlterAction | null {
  const probe = `CREATE TABLE x (${definition})`;
  let table: TableDefinition;
  try {
    table = readTableDefinition(probe);
  } catch {
    return null; // SQLite's own error says what is wrong
  }
  const column = table.columns[0];
  if (column === undefined || table.columns.length !== 1 || table.constraints.length > 0) return null;
  const of = (kind: Constraint['kind']) =>
    column.constraints.filter((constraint) => constraint.kind === kind);
  const [defaultConstraint] = of('default');
  const defaultValue =
    defaultConstraint === undefined
      ? undefined
      : textBetween(
          table,
          defaultConstraint.start + (defaultConstraint.name === undefined ? 1 : 3),
          defaultConstraint.end,
        );
  const plainDefault = defaultValue !== undefined && isLiteral(defaultValue);
  const notNull = of('not-null').length > 0;
  const unique = of('unique').length > 0;
  const fillDefault = defaultValue !== undefined && !plainDefault;
  if (!unique && !fillDefault && !(notNull && !plainDefault)) return null;
  if (of('primary-key').length > 0 || of('generated').length > 0) return null;
  const removed = [
    ...(fillDefault ? of('default') : []),
    ...(notNull && !plainDefault ? of('not-null') : []),
    ...(unique ? of('unique') : []),
  ].sort((a, b) => b.start - a.start);
  let sql = probe;
  for (const constraint of removed) sql = withoutConstraint({ ...table, sql }, constraint, column);
  const base = sql.slice('CREATE TABLE x ('.length, -1);
  return {
    kind: 'add-column',
    column: column.name,
    definition: base,
    ...(fillDefault ? { defaultValue } : {}),
    notNull: notNull && !plainDefault,
    unique,
    ...(of('unique')[0]?.name === undefined ? {} : { uniqueName: of('unique')[0]?.name as string }),
  };
}

/** A literal SQLite takes as ADD COLUMN's default: a string, number, blob, NULL, TRUE or FALSE. */
function isLiteral(expression: string): boolean {
  const tokens = significant(sqliteTokens(expression));
  if (tokens.length === 2 && ['+', '-'].includes(tokens[0]?.text ?? '') && tokens[1]?.kind === 'number')
    return true;
  return (
    tokens.length === 1 &&
    (['string', 'number', 'blob'].includes((tokens[0] as SqlToken).kind) ||
      ['NULL', 'TRUE', 'FALSE'].includes(keywordOf(tokens[0])))
  );
}

function alterColumnAction(
  tokens: readonly SqlToken[],
  column: string,
  at: number,
  text: (from: number, to?: number) => string,
): AlterAction {
  const words = tokens.slice(at, at + 3).map(keywordOf);
  const rest = tokens.length - at;
  if (words[0] === 'SET' && words[1] === 'NOT' && words[2] === 'NULL' && rest === 3)
    return { kind: 'set-not-null', column };
  if (words[0] === 'DROP' && words[1] === 'NOT' && words[2] === 'NULL' && rest === 3)
    return { kind: 'drop-not-null', column };
  if (words[0] === 'DROP' && words[1] === 'DEFAULT' && rest === 2) return { kind: 'drop-default', column };
  if (words[0] === 'SET' && words[1] === 'DEFAULT' && rest > 2)
    return { kind: 'set-default', column, expression: text(at + 2) };
  const typeAt =
    words[0] === 'TYPE'
      ? at + 1
      : words[0] === 'SET' && words[1] === 'DATA' && words[2] === 'TYPE'
        ? at + 3
        : -1;
  if (typeAt >= 0 && typeAt < tokens.length) {
    const usingAt = tokens.findIndex((token, index) => index >= typeAt && keywordOf(token) === 'USING');
    const typeEnd = usingAt < 0 ? tokens.length : usingAt;
    const using = usingAt < 0 ? {} : { using: text(usingAt + 1) };
    return { kind: 'set-type', column, type: text(typeAt, typeEnd), ...using };
  }
  // Planner and storage settings: SQLite has none of them to set (as with CREATE TABLE … WITH (…)).
  const setting = words[0] === 'SET' || words[0] === 'RESET';
  if (
    setting &&
    (['STATISTICS', 'STORAGE', 'COMPRESSION'].includes(words[1] ?? '') || tokens[at + 1]?.text === '(')
  )
    return { kind: 'ignored' };
  return { kind: 'unsupported', what: `ALTER COLUMN … ${text(at)}` };
}

/** Tokens as SQL text, one space between them where they were apart. */
function joinTokens(tokens: readonly SqlToken[]): string {
  let text = '';
  for (const [index, token] of tokens.entries()) {
    const previous = tokens[index - 1];
    if (previous !== undefined && previous.end !== token.start) text += ' ';
    text += token.text;
  }
  return text;
}

function foreignKeyParts(
  tokens: readonly SqlToken[],
  index: number,
  end: number,
  text: (from: number, to?: number) => string,
): { columns: string[]; parent: string; parentColumns: string[]; actions: string } {
  const open = index + 2;
  if (tokens[open]?.text !== '(')
    throw new AlterTableError('42601', 'syntax error in FOREIGN KEY: expected its columns');
  const close = closingParen(tokens, open);
  const columns = listNames(tokens, open + 1, close);
  if (keywordOf(tokens[close + 1]) !== 'REFERENCES' || tokens[close + 2] === undefined || close + 2 >= end)
    throw new AlterTableError('42601', 'syntax error in FOREIGN KEY: expected REFERENCES table');
  const parent = identifierName(tokens[close + 2] as SqlToken);
  let parentColumns: string[] = [];
  let after = close + 3;
  if (tokens[after]?.text === '(') {
    const parentClose = closingParen(tokens, after);
    parentColumns = listNames(tokens, after + 1, parentClose);
    after = parentClose + 1;
  }
  return { columns, parent, parentColumns, actions: text(after, end) };
}

function listNames(tokens: readonly SqlToken[], from: number, to: number): string[] {
  const names: string[] = [];
  for (let index = from; index < to; index++) {
    const token = tokens[index] as SqlToken;
    if (token.text !== ',') names.push(identifierName(token));
  }
  return names;
}

// ---- the plan ----

/** What the session does for an alteration, in order. */
export interface AlterationPlan {
  /** The table's new CREATE TABLE text (undefined: the text does not change). */
  readonly newSql?: string;
  /** `newSql` for another table name: prepared (never run) so that SQLite checks it before it is written. */
  readonly probeSql?: string;
  /** Checks of the rows, run before the text changes. */
  readonly checksBefore: readonly RowCheck[];
  /** After the text changes: rewrite the column's values under its new type, then check them. */
  readonly convert?: { readonly column: string; readonly expression: string; readonly type: string };
  /** Checks of the rows, run after the text changes (a foreign key's). */
  readonly checksAfter: readonly RowCheck[];
  /**
   * The definition has no constraint of this name: look among the table's unique indexes (a PRIMARY
   * KEY or UNIQUE added by ALTER TABLE is one, statement-rewrites.ts).
   */
  readonly indexFallback?: {
    readonly name: string;
    readonly action: 'drop' | 'rename' | 'validate';
    readonly ifExists: boolean;
  };
}

/** A query that returns a row when the check fails, and the error it then is. */
export type RowCheck =
  | { readonly kind: 'no-row'; readonly sql: string; readonly error: AlterTableError }
  | {
      readonly kind: 'foreign-key';
      readonly table: string;
      readonly name: string;
      readonly columns: readonly string[];
      readonly parent: string;
      readonly parentColumns: readonly string[];
    };

/** The parent table of a foreign key, as the session found it. */
export interface ParentKeys {
  /** The parent's primary key columns (empty: none). */
  readonly primaryKey: readonly string[];
  /** Its columns, for names the reference gives. */
  readonly columns: readonly string[];
  /** Column sets of its unique indexes (partial ones excluded), and of its primary key. */
  readonly uniqueKeys: readonly (readonly string[])[];
  /**
   * The columns of its unique index `<table>_pkey`, when it has no PRIMARY KEY of its own: the
   * PostgreSQL endpoint's ADD PRIMARY KEY makes that index (statement-rewrites.ts), and a reference
   * to the table without columns means those.
   */
  readonly primaryKeyIndex?: readonly string[];
}

export interface PlanContext {
  /** The parent table of a foreign key being added (undefined: no such table). */
  readonly parentKeys: (table: string) => ParentKeys | undefined;
}

/**
 * What to do for `alteration` on the table whose CREATE TABLE text is `sql`. Throws AlterTableError
 * for what PostgreSQL would refuse, or what SQLite cannot do by rewriting the text.
 */
export function planAlteration(sql: string, alteration: Alteration, context: PlanContext): AlterationPlan {
  let plan: AlterationPlan;
  try {
    plan = planOf(sql, alteration, context);
  } catch (error) {
    if (!(error instanceof TableDefinitionError)) throw error;
    throw new AlterTableError(
      '42601',
      `syntax error in ALTER TABLE on "${alteration.table}": ${error.message}`,
    );
  }
  if (plan.newSql === undefined) return plan;
  // What is written must read back: the new text is read again, and the probe makes SQLite parse it.
  let written: TableDefinition;
  try {
    written = readTableDefinition(plan.newSql);
  } catch (error) {
    if (!(error instanceof TableDefinitionError)) throw error;
    throw new AlterTableError(
      '42601',
      `ALTER TABLE would give table "${alteration.table}" a definition that cannot be read (${error.message})`,
    );
  }
  return { ...plan, probeSql: withTableName(written, PROBE_TABLE) };
}

/** The name the new definition is parsed under (prepared, never run). */
export const PROBE_TABLE = 'northlight_alter_table_probe';

function planOf(sql: string, alteration: Alteration, context: PlanContext): AlterationPlan {
  let table: TableDefinition;
  try {
    table = readTableDefinition(sql);
  } catch (error) {
    if (!(error instanceof TableDefinitionError)) throw error;
    throw new AlterTableError(
      '0A000',
      `ALTER TABLE cannot change table "${alteration.table}": northlight could not read its definition (${error.message})`,
      REBUILD_HINT,
    );
  }
  const action = alteration.action;
  switch (action.kind) {
    case 'add-foreign-key':
      return planAddForeignKey(table, action, context);
    case 'add-check':
      return planAddCheck(table, action);
    case 'drop-constraint':
    case 'rename-constraint':
    case 'validate-constraint':
      return planNamedConstraint(table, action);
    case 'set-not-null':
    case 'drop-not-null':
    case 'set-default':
    case 'drop-default':
    case 'set-type':
      return planAlterColumn(table, action);
    case 'ignored':
      return NO_CHECKS;
    case 'drop-tables':
    case 'add-column':
      return NO_CHECKS; // the session does them in steps: they are not one edit of this table's text
    case 'unsupported': {
      const identity = /\bIDENTITY\b/i.test(action.what);
      throw new AlterTableError(
        '0A000',
        `ALTER TABLE … ${action.what} is not supported by northlight`,
        identity
          ? 'SQLite has no identity columns: an INTEGER PRIMARY KEY column (SERIAL becomes one) numbers new rows.'
          : REBUILD_HINT,
      );
    }
  }
}

const NO_CHECKS = { checksBefore: [], checksAfter: [] } as const;

function tableSql(table: TableDefinition): string {
  return `main.${quoteName(table.name)}`;
}

function assertNameFree(table: TableDefinition, name: string): void {
  if (findConstraint(table, name) !== undefined)
    throw new AlterTableError('42710', `constraint "${name}" for relation "${table.name}" already exists`);
}

function planAddForeignKey(
  table: TableDefinition,
  action: Extract<AlterAction, { kind: 'add-foreign-key' }>,
  context: PlanContext,
): AlterationPlan {
  for (const column of action.columns) {
    if (findColumn(table, column) === undefined)
      throw new AlterTableError(
        '42703',
        `column "${column}" referenced in foreign key constraint does not exist`,
      );
  }
  const selfReference = sameName(action.parent, table.name);
  const parent: ParentKeys | undefined = selfReference
    ? {
        primaryKey: primaryKeyColumns(table),
        columns: table.columns.map((column) => column.name),
        uniqueKeys: [],
      }
    : context.parentKeys(action.parent);
  if (parent === undefined) throw new AlterTableError('42P01', `relation "${action.parent}" does not exist`);
  const primaryKey = parent.primaryKey.length > 0 ? parent.primaryKey : (parent.primaryKeyIndex ?? []);
  const parentColumns = action.parentColumns.length > 0 ? action.parentColumns : primaryKey;
  if (parentColumns.length === 0)
    throw new AlterTableError('42830', `there is no primary key for referenced table "${action.parent}"`);
  for (const column of parentColumns) {
    if (!parent.columns.some((candidate) => sameName(candidate, column)))
      throw new AlterTableError(
        '42703',
        `column "${column}" referenced in foreign key constraint does not exist`,
      );
  }
  if (parentColumns.length !== action.columns.length)
    throw new AlterTableError(
      '42830',
      'number of referencing and referenced columns for foreign key disagree',
    );
  const keys = selfReference
    ? [...selfUniqueKeys(table), parent.primaryKey]
    : [...parent.uniqueKeys, parent.primaryKey];
  if (!keys.some((key) => sameColumnSet(key, parentColumns)))
    throw new AlterTableError(
      '42830',
      `there is no unique constraint matching given keys for referenced table "${action.parent}"`,
      'Make the referenced columns the primary key of that table, or give them a unique index (CREATE UNIQUE INDEX).',
    );
  const name = action.name ?? `${table.name}_${action.columns.join('_')}_fkey`;
  assertNameFree(table, name);
  const check: RowCheck = {
    kind: 'foreign-key',
    table: table.name,
    name,
    columns: action.columns,
    parent: action.parent,
    parentColumns,
  };
  // SQLite reads a reference without columns as the parent's PRIMARY KEY: one that is only an index
  // is written out.
  const clause =
    action.parentColumns.length === 0 && parent.primaryKey.length === 0
      ? `FOREIGN KEY (${action.columns.map(quoteName).join(', ')}) REFERENCES ${quoteName(action.parent)} ` +
        `(${parentColumns.map(quoteName).join(', ')})${action.actions === '' ? '' : ` ${action.actions}`}`
      : action.clause;
  return {
    newSql: withTableConstraint(table, `CONSTRAINT ${quoteName(name)} ${clause}`),
    checksBefore: [],
    checksAfter: action.notValid ? [] : [check],
  };
}

function selfUniqueKeys(table: TableDefinition): string[][] {
  return [
    ...table.columns
      .filter((column) => column.constraints.some((constraint) => constraint.kind === 'unique'))
      .map((column) => [column.name]),
    ...table.constraints
      .filter((constraint) => constraint.kind === 'unique')
      .map((constraint) => [...(constraint.columns ?? [])]),
  ];
}

function sameColumnSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name) => b.some((other) => sameName(name, other)));
}

function planAddCheck(
  table: TableDefinition,
  action: Extract<AlterAction, { kind: 'add-check' }>,
): AlterationPlan {
  const clause = `CHECK (${action.expression})`;
  const unnamed = readTableDefinition(withTableConstraint(table, clause));
  const added = unnamed.constraints.at(-1) as Constraint;
  const name = action.name ?? constraintName(unnamed, added);
  assertNameFree(table, name);
  return {
    newSql: withTableConstraint(table, `CONSTRAINT ${quoteName(name)} ${clause}`),
    checksBefore: action.notValid ? [] : [checkRows(table, name, action.expression)],
    checksAfter: [],
  };
}

function checkRows(table: TableDefinition, name: string, expression: string): RowCheck {
  return {
    kind: 'no-row',
    sql: `SELECT 1 FROM ${tableSql(table)} WHERE NOT (${expression}) LIMIT 1`,
    error: new AlterTableError(
      '23514',
      `check constraint "${name}" of relation "${table.name}" is violated by some row`,
    ),
  };
}

function planNamedConstraint(
  table: TableDefinition,
  action: Extract<AlterAction, { kind: 'drop-constraint' | 'rename-constraint' | 'validate-constraint' }>,
): AlterationPlan {
  const found = findConstraint(table, action.name);
  if (found === undefined) {
    const fallback =
      action.kind === 'drop-constraint'
        ? 'drop'
        : action.kind === 'rename-constraint'
          ? 'rename'
          : 'validate';
    return {
      ...NO_CHECKS,
      indexFallback: {
        name: action.name,
        action: fallback,
        ifExists: action.kind === 'drop-constraint' && action.ifExists,
      },
    };
  }
  const { constraint, column } = found;
  const name = constraintName(table, constraint, column);
  if (action.kind === 'rename-constraint') {
    assertNameFree(table, action.newName);
    return { ...NO_CHECKS, newSql: withConstraintName(table, constraint, action.newName) };
  }
  if (action.kind === 'validate-constraint') {
    const check = validation(table, constraint, name, column);
    return { checksBefore: [], checksAfter: check === undefined ? [] : [check] };
  }
  if (constraint.kind === 'primary-key' || constraint.kind === 'unique')
    throw new AlterTableError(
      '0A000',
      `ALTER TABLE … DROP CONSTRAINT "${name}" is not supported by northlight: SQLite keeps a table's own PRIMARY KEY and UNIQUE constraints in its rows' index`,
      REBUILD_HINT,
    );
  return { ...NO_CHECKS, newSql: withoutConstraint(table, constraint, column) };
}

/** The check of the rows against a CHECK or FOREIGN KEY (PRIMARY KEY and UNIQUE: SQLite enforced them always). */
function validation(
  table: TableDefinition,
  constraint: Constraint,
  name: string,
  column?: ColumnDefinition,
): RowCheck | undefined {
  if (constraint.kind === 'check') {
    return checkRows(
      table,
      name,
      textBetween(table, constraint.expressionStart ?? 0, constraint.expressionEnd ?? 0),
    );
  }
  if (constraint.kind === 'references' && constraint.references !== undefined) {
    return {
      kind: 'foreign-key',
      table: table.name,
      name,
      columns: column !== undefined ? [column.name] : (constraint.columns ?? []),
      parent: constraint.references.table,
      parentColumns: constraint.references.columns,
    };
  }
  return undefined;
}

function planAlterColumn(
  table: TableDefinition,
  action: Extract<
    AlterAction,
    { kind: 'set-not-null' | 'drop-not-null' | 'set-default' | 'drop-default' | 'set-type' }
  >,
): AlterationPlan {
  const column = findColumn(table, action.column);
  if (column === undefined)
    throw new AlterTableError(
      '42703',
      `column "${action.column}" of relation "${table.name}" does not exist`,
    );
  const constraintsOf = (kind: Constraint['kind']): Constraint[] =>
    column.constraints.filter((constraint) => constraint.kind === kind);
  const columnSql = quoteName(column.name);
  switch (action.kind) {
    case 'set-not-null': {
      if (constraintsOf('not-null').length > 0) return NO_CHECKS;
      const nulls: RowCheck = {
        kind: 'no-row',
        sql: `SELECT 1 FROM ${tableSql(table)} WHERE ${columnSql} IS NULL LIMIT 1`,
        error: new AlterTableError(
          '23502',
          `column "${column.name}" of relation "${table.name}" contains null values`,
        ),
      };
      return { newSql: withColumnSuffix(table, column, ' NOT NULL'), checksBefore: [nulls], checksAfter: [] };
    }
    case 'drop-not-null': {
      if (primaryKeyColumns(table).some((name) => sameName(name, column.name)))
        throw new AlterTableError('42P16', `column "${column.name}" is in a primary key`);
      return {
        ...NO_CHECKS,
        newSql: withoutColumnConstraints(table, column, [
          ...constraintsOf('not-null'),
          ...constraintsOf('null'),
        ]),
      };
    }
    case 'drop-default':
      return { ...NO_CHECKS, newSql: withoutColumnConstraints(table, column, constraintsOf('default')) };
    case 'set-default': {
      if (constraintsOf('generated').length > 0)
        throw new AlterTableError(
          '42601',
          `column "${column.name}" of relation "${table.name}" is a generated column`,
        );
      const without = readTableDefinition(withoutColumnConstraints(table, column, constraintsOf('default')));
      const again = findColumn(without, column.name) as ColumnDefinition;
      return {
        ...NO_CHECKS,
        newSql: withColumnSuffix(without, again, ` DEFAULT ${defaultValue(action.expression)}`),
      };
    }
    case 'set-type':
      return planSetType(table, column, action);
  }
}

/** A DEFAULT's value as SQLite takes it: a literal or signed number as is, anything else parenthesized. */
function defaultValue(expression: string): string {
  const tokens = significant(sqliteTokens(expression));
  const single = tokens.length === 1 && ['string', 'number', 'blob'].includes((tokens[0] as SqlToken).kind);
  const signed =
    tokens.length === 2 && ['+', '-'].includes(tokens[0]?.text ?? '') && tokens[1]?.kind === 'number';
  const word =
    tokens.length === 1 &&
    ['NULL', 'TRUE', 'FALSE', 'CURRENT_TIME', 'CURRENT_DATE', 'CURRENT_TIMESTAMP'].includes(
      keywordOf(tokens[0]),
    );
  return single || signed || word ? expression : `(${expression})`;
}

/**
 * The CREATE TABLE text `sql` without its foreign keys to table `parent`, or null when it has none
 * (`DROP TABLE parent CASCADE`).
 */
export function withoutReferencesTo(sql: string, parent: string): string | null {
  const table = readTableDefinition(sql);
  const found = [
    ...table.columns.flatMap((column) =>
      column.constraints
        .filter((c) => c.kind === 'references' && sameName(c.references?.table ?? '', parent))
        .map((constraint) => ({ constraint, column })),
    ),
    ...table.constraints
      .filter((c) => c.kind === 'references' && sameName(c.references?.table ?? '', parent))
      .map((constraint) => ({ constraint, column: undefined })),
  ];
  if (found.length === 0) return null;
  // From the last to the first, so that each edit leaves the earlier tokens where they were.
  let text = sql;
  for (const { constraint, column } of found.sort((a, b) => b.constraint.start - a.constraint.start)) {
    text = withoutConstraint({ ...table, sql: text }, constraint, column);
  }
  readTableDefinition(text); // what is written must read back
  return text;
}

function withoutColumnConstraints(
  table: TableDefinition,
  column: ColumnDefinition,
  constraints: readonly Constraint[],
): string {
  // From the last to the first, so that each edit leaves the earlier tokens where they were.
  let sql = table.sql;
  for (const constraint of [...constraints].sort((a, b) => b.start - a.start)) {
    sql = withoutConstraint({ ...table, sql }, constraint, column);
  }
  return sql;
}

function planSetType(
  table: TableDefinition,
  column: ColumnDefinition,
  action: Extract<AlterAction, { kind: 'set-type' }>,
): AlterationPlan {
  const collate = /\s+COLLATE\s+("[^"]*"|\S+)\s*$/i.exec(action.type);
  if (collate !== null)
    throw new AlterTableError(
      '0A000',
      'ALTER COLUMN … TYPE … COLLATE is not supported by northlight',
      REBUILD_HINT,
    );
  const oldType = columnType(table, column);
  if (isRowidColumn(table, column, oldType) !== isRowidColumn(table, column, action.type))
    throw new AlterTableError(
      '0A000',
      `ALTER TABLE cannot change the type of column "${column.name}" to ${action.type}: it would change whether the column is the table's rowid (an INTEGER PRIMARY KEY)`,
      REBUILD_HINT,
    );
  const newSql = withColumnType(table, column, action.type);
  const affinityChanged = typeAffinity(oldType) !== typeAffinity(action.type);
  if (action.using === undefined && !affinityChanged) return { ...NO_CHECKS, newSql };
  const columnSql = quoteName(column.name);
  // PostgreSQL rounds a number it turns into an integer; SQLite's INTEGER affinity keeps 1.5 a REAL.
  const expression =
    action.using ??
    (typeAffinity(action.type) === 'INTEGER'
      ? `CASE WHEN typeof(${columnSql}) = 'real' THEN CAST(round(${columnSql}) AS INTEGER) ELSE ${columnSql} END`
      : columnSql);
  return {
    newSql,
    checksBefore: [],
    checksAfter: [],
    convert: { column: column.name, expression, type: action.type },
  };
}
