/**
 * `DEFAULT` as a value in `INSERT … VALUES` rows, which SQLite's VALUES does not take (`near
 * "DEFAULT": syntax error`) and ORMs write for a batch whose rows leave out different columns (knex:
 * `VALUES ($1, $2), ($3, DEFAULT)`), or with no column list. The PostgreSQL endpoint already leaves out
 * a column that is DEFAULT in every row (core/pgwire/insert-defaults.ts); what it cannot do without the
 * table's defaults comes here, where the table's CREATE TABLE text is at hand in the statement's own
 * transaction: each DEFAULT becomes the column's default expression, `NULL` when it has none (an
 * INTEGER PRIMARY KEY then numbers the row, as its DEFAULT would).
 *
 * Pure code: `defaultValuesInsert` reads the statement, `withDefaultValues` writes it with the
 * table's definition (table-definition.ts).
 */
import {
  type ColumnDefinition,
  closingParen,
  elements,
  identifierName,
  keywordOf,
  type SqlToken,
  sameName,
  significant,
  sqliteTokens,
  type TableDefinition,
  TableDefinitionError,
  textBetween,
  tryReadTableDefinition,
} from './table-definition.js';

/** An INSERT whose VALUES rows hold a DEFAULT. */
export interface DefaultValuesInsert {
  readonly sql: string;
  readonly tokens: readonly SqlToken[];
  /** The table as named (unquoted). */
  readonly table: string;
  /** The column list's names, undefined when the statement has none. */
  readonly columns?: readonly string[];
  /** Each row's values as significant-token ranges `[start, end)`. */
  readonly rows: readonly (readonly (readonly [number, number])[])[];
}

/** Whether the SQL may be such an INSERT (a cheap test before tokenizing). */
export function mayHaveDefaultValues(sql: string): boolean {
  return /default/i.test(sql) && /values/i.test(sql) && /^\s*(insert|replace)\b/i.test(sql);
}

/** The INSERT … VALUES with a DEFAULT value that `sql` is (one statement), or null. */
export function defaultValuesInsert(sql: string): DefaultValuesInsert | null {
  const tokens = significant(sqliteTokens(sql));
  let index = 0;
  if (keywordOf(tokens[index]) === 'REPLACE') index += 1;
  else if (keywordOf(tokens[index]) === 'INSERT') {
    index += 1;
    if (keywordOf(tokens[index]) === 'OR') index += 2;
  } else return null;
  if (keywordOf(tokens[index]) !== 'INTO') return null;
  index += 1;
  if (tokens[index + 1]?.text === '.') index += 2;
  const tableToken = tokens[index];
  if (tableToken === undefined) return null;
  index += 1;
  if (keywordOf(tokens[index]) === 'AS') index += 2;
  let columns: string[] | undefined;
  try {
    if (tokens[index]?.text === '(') {
      const close = closingParen(tokens, index);
      columns = elements(tokens, index + 1, close).map(([start]) =>
        identifierName(tokens[start] as SqlToken),
      );
      index = close + 1;
    }
    if (keywordOf(tokens[index]) !== 'VALUES') return null;
    index += 1;
    const rows: [number, number][][] = [];
    while (tokens[index]?.text === '(') {
      const close = closingParen(tokens, index);
      rows.push(elements(tokens, index + 1, close));
      index = close + 1;
      if (tokens[index]?.text !== ',') break;
      index += 1;
    }
    const isDefault = ([start, end]: readonly [number, number]) =>
      end - start === 1 && keywordOf(tokens[start]) === 'DEFAULT';
    if (!rows.some((row) => row.some(isDefault))) return null;
    return {
      sql,
      tokens,
      table: identifierName(tableToken),
      ...(columns === undefined ? {} : { columns }),
      rows,
    };
  } catch (error) {
    if (error instanceof TableDefinitionError) return null; // unbalanced: SQLite's syntax error says where
    throw error;
  }
}

/**
 * The statement with each DEFAULT replaced by its column's default expression (parenthesized), or
 * `NULL`, given the table's CREATE TABLE text. Null when a row's width does not match the columns
 * (SQLite's own error then says so) or the definition cannot be read.
 */
export function withDefaultValues(insert: DefaultValuesInsert, createSql: string): string | null {
  const table = tryReadTableDefinition(createSql);
  if (table === null) return null;
  // Without a column list, a row gives every column the table stores, in order (not generated ones).
  const writable = table.columns.filter((column) => !column.constraints.some((c) => c.kind === 'generated'));
  const columns =
    insert.columns?.map((name) => writable.find((column) => sameName(column.name, name))) ?? writable;
  const replacements: { from: number; to: number; text: string }[] = [];
  for (const row of insert.rows) {
    if (row.length !== columns.length) return null;
    row.forEach(([start, end], position) => {
      if (end - start !== 1 || keywordOf(insert.tokens[start]) !== 'DEFAULT') return;
      const token = insert.tokens[start] as SqlToken;
      replacements.push({ from: token.start, to: token.end, text: defaultOf(table, columns[position]) });
    });
  }
  let sql = insert.sql;
  for (const { from, to, text } of replacements.reverse()) sql = sql.slice(0, from) + text + sql.slice(to);
  return sql;
}

/** The column's default as an expression: `(expr)`, or NULL (none, or no such column: SQLite says so). */
function defaultOf(table: TableDefinition, column: ColumnDefinition | undefined): string {
  const constraint = column?.constraints.find((candidate) => candidate.kind === 'default');
  if (constraint === undefined) return 'NULL';
  const valueStart = constraint.start + (constraint.name === undefined ? 1 : 3); // after [CONSTRAINT c] DEFAULT
  return `(${textBetween(table, valueStart, constraint.end)})`;
}
