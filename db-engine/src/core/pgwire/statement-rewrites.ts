/**
 * PostgreSQL statements that SQLite can do, but only written another way: each is rewritten as a
 * whole into the SQLite statements that do the same, before the token-by-token translation
 * (`sql.ts`, `translate`). They are what `pgbench -i` sends, and what PostgreSQL users type first:
 *
 * - `DROP TABLE [IF EXISTS] a, b` (also INDEX, VIEW): one DROP per name, in one request, so that
 *   they run in one transaction as PostgreSQL's one statement does;
 * - `TRUNCATE [TABLE] [ONLY] a, b [RESTART IDENTITY]`: `DELETE FROM` each table (SQLite empties a
 *   table quickly when the DELETE has no WHERE); RESTART IDENTITY also forgets an AUTOINCREMENT
 *   table's last number (`sqlite_sequence`);
 * - `VACUUM [FULL|FREEZE|VERBOSE|ANALYZE|(…)] [t, …]` and `ANALYZE [VERBOSE] [t, …]`: SQLite's VACUUM
 *   rewrites the whole database and takes no table, its ANALYZE takes one table: with tables,
 *   VACUUM only analyzes them (when asked to); without, it is SQLite's VACUUM, or its ANALYZE;
 * - `ALTER TABLE t ADD [CONSTRAINT name] PRIMARY KEY (…)` / `UNIQUE (…)`: SQLite cannot add a
 *   key to a table, but a unique index enforces the same: `CREATE UNIQUE INDEX t_pkey ON t (…)`.
 *   PostgreSQL's PRIMARY KEY also makes the columns NOT NULL: `ALTER COLUMN … SET NOT NULL` each,
 *   which the kernel does (kernel/alter-table.ts);
 * - `COMMENT ON … IS …` and `ALTER … OWNER TO role` (in every pg_dump script): accepted, and they change
 *   nothing (SQLite keeps no comments on objects; the one role owns everything);
 * - storage parameters, `CREATE TABLE … WITH (fillfactor=…)` and `CREATE INDEX … WITH (…)`, and
 *   `UNLOGGED`: dropped (SQLite's b-tree pages have no fill factor to set, and every table is logged);
 * - PRIMARY KEY columns that say nothing about NULL get NOT NULL (PostgreSQL's keys are never NULL,
 *   SQLite's may be);
 * - `FROM generate_series(start, stop [, step]) [AS] x`: this SQLite is built without its
 *   generate_series table, so a recursive CTE counts instead (`pgbench -i -I G` generates its rows
 *   with it).
 * - `INSERT … SELECT … FROM s ON CONFLICT …`: SQLite reads an ON right after a FROM list as a join
 *   constraint, so `WHERE true` goes between the two (its documented answer to the ambiguity).
 *
 * Pure code over the lexer's tokens.
 */
import { PgSqlError, type Token, tokenize } from './sql.js';
import { addInterval, type IntervalValue, parseInterval, TemporalInputError } from './temporal.js';

/** The SQLite statements a rewritten statement becomes, run in order in one request (none: nothing to do). */
export interface Rewrite {
  readonly statements: readonly string[];
}

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon';
}

function keyword(token: Token | undefined): string {
  return token !== undefined && token.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/** Splits tokens at top-level commas (not inside parentheses). */
function splitAtCommas(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.text === '(') depth += 1;
    if (token.text === ')') depth -= 1;
    if (token.text === ',' && depth === 0) parts.push([]);
    else (parts.at(-1) as Token[]).push(token);
  }
  return parts;
}

function textOf(tokens: readonly Token[]): string {
  return tokens.map((token) => token.text).join('');
}

/** The first `count` significant tokens (most statements need no more to be told apart). */
function leadingWords(tokens: readonly Token[], count: number): Token[] {
  const words: Token[] = [];
  for (const token of tokens) {
    if (words.length >= count) break;
    if (isSignificant(token)) words.push(token);
  }
  return words;
}

const rewritten = new Set(['DROP', 'TRUNCATE', 'VACUUM', 'ANALYZE', 'ANALYSE', 'ALTER', 'COMMENT']);

/** A whole-statement rewrite of these tokens (one statement), or null when none applies. */
export function rewriteStatement(tokens: readonly Token[]): Rewrite | null {
  if (!rewritten.has(keyword(leadingWords(tokens, 1)[0]))) return null;
  const words = tokens.filter(isSignificant);
  switch (keyword(words[0])) {
    case 'DROP':
      return rewriteDrop(words);
    case 'TRUNCATE':
      return rewriteTruncate(words);
    case 'VACUUM':
      return rewriteVacuum(words);
    case 'ANALYZE':
    case 'ANALYSE':
      return rewriteAnalyze(words);
    case 'ALTER':
      return ownerChange(words) ? { statements: [] } : rewriteAddKey(words);
    case 'COMMENT':
      // `COMMENT ON TABLE t IS '…'` (pg_dump, migration tools): SQLite keeps no comments on objects;
      // the statement is accepted and changes nothing (the text is not kept).
      return keyword(words[1]) === 'ON' ? { statements: [] } : null;
    default:
      return null;
  }
}

/**
 * `ALTER TABLE|VIEW|INDEX|SEQUENCE|FUNCTION … OWNER TO role` (every pg_dump script has them): northlight
 * has one role, which owns everything already, so the statement changes nothing.
 */
function ownerChange(words: readonly Token[]): boolean {
  const owner = words.length - 3;
  return owner > 1 && keyword(words[owner]) === 'OWNER' && keyword(words[owner + 1]) === 'TO';
}

const droppable = new Set(['TABLE', 'INDEX', 'VIEW']);

/**
 * PostgreSQL empties the tables of one TRUNCATE together, whatever their foreign keys to each other;
 * SQLite empties them one at a time, and a parent emptied before its child breaks an immediate key.
 * Deferred to the commit, the keys are checked once every table of the statement is done. The pragma
 * lasts until the transaction ends.
 */
const DEFER_FOREIGN_KEYS = 'PRAGMA defer_foreign_keys = ON';

/**
 * `DROP TABLE [IF EXISTS] a, b [CASCADE | RESTRICT]` → one statement the kernel does as PostgreSQL
 * does (kernel/alter-table.ts `dropTables`): the tables together, RESTRICT (PostgreSQL's default,
 * said here) refusing while another table's foreign key points at one of them (2BP01), CASCADE
 * dropping those keys. `DROP INDEX | VIEW a, b` → one SQLite DROP per name.
 */
function rewriteDrop(words: readonly Token[]): Rewrite | null {
  const kind = keyword(words[1]);
  if (!droppable.has(kind)) return null;
  const ifExists = keyword(words[2]) === 'IF' && keyword(words[3]) === 'EXISTS';
  const last = keyword(words.at(-1));
  const option = kind === 'TABLE' && (last === 'CASCADE' || last === 'RESTRICT') ? last : undefined;
  const names = splitAtCommas(words.slice(ifExists ? 4 : 2, option === undefined ? undefined : -1));
  if (names.some((name) => name.length === 0)) return null;
  const head = `DROP ${kind}${ifExists ? ' IF EXISTS' : ''}`;
  if (kind === 'TABLE') {
    return { statements: [`${head} ${names.map(textOf).join(', ')} ${option ?? 'RESTRICT'}`] };
  }
  if (names.length < 2) return null;
  return { statements: names.map((name) => `${head} ${textOf(name)}`) };
}

/** The table TRUNCATE … RESTART IDENTITY creates and drops again (its name cannot be a user's by accident). */
const SEQUENCE_MAKER = 'northlight_truncate_restart_identity';

/** Words that may come between TRUNCATE and its first table, or end its table list. */
const truncateOptions = new Set(['TABLE', 'ONLY', 'RESTART', 'CONTINUE', 'IDENTITY', 'CASCADE', 'RESTRICT']);

/**
 * `TRUNCATE [TABLE] [ONLY] a [*], b [RESTART IDENTITY | CONTINUE IDENTITY] [CASCADE | RESTRICT]` →
 * `DELETE FROM a; DELETE FROM b`. CASCADE (empty the tables whose foreign keys reference these) is
 * refused: SQLite's DELETE would fail on, or cascade through, those keys as each declares instead.
 */
function rewriteTruncate(words: readonly Token[]): Rewrite | null {
  const upper = words.map(keyword);
  if (upper.includes('CASCADE')) return null;
  const restartIdentity = upper.some((word, index) => word === 'RESTART' && upper[index + 1] === 'IDENTITY');
  const tables: string[] = [];
  for (const part of splitAtCommas(words.slice(1))) {
    const name = part.filter((token) => token.text !== '*' && !truncateOptions.has(keyword(token)));
    if (name.length === 0) return null;
    tables.push(textOf(name));
  }
  const deletes = tables.map((table) => `DELETE FROM ${table}`);
  if (tables.length > 1) deletes.unshift(DEFER_FOREIGN_KEYS);
  if (restartIdentity) {
    // Only an AUTOINCREMENT table remembers its last number, in sqlite_sequence; any other rowid
    // table numbers from its largest rowid, 1 when empty. sqlite_sequence exists only once some
    // AUTOINCREMENT table was created (SQLite never drops it), and a statement naming it fails to
    // prepare before that: creating and dropping one makes sure it exists (empty when no table
    // uses it), so the DELETE always prepares.
    const names = tables.map((table) => `'${unquoted(table).replaceAll("'", "''")}'`).join(', ');
    deletes.push(
      `CREATE TABLE ${SEQUENCE_MAKER} (id INTEGER PRIMARY KEY AUTOINCREMENT)`,
      `DROP TABLE ${SEQUENCE_MAKER}`,
      `DELETE FROM sqlite_sequence WHERE name IN (${names})`,
    );
  }
  return { statements: deletes };
}

/** A table name as SQLite stores it in sqlite_schema (`public.t` → `t`, `"Mixed"` → `Mixed`). */
function unquoted(name: string): string {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return last.startsWith('"') ? last.slice(1, -1).replaceAll('""', '"') : last;
}

const vacuumOptions = new Set(['FULL', 'FREEZE', 'VERBOSE', 'ANALYZE', 'ANALYSE']);
const falseWords = new Set(['FALSE', 'OFF', '0']);

/** The options (`FULL ANALYZE`, `(ANALYZE, VERBOSE true)`) and tables of a VACUUM or ANALYZE. */
function optionsAndTables(words: readonly Token[]): { analyze: boolean; tables: string[] } {
  let index = 1;
  let analyze = false;
  if (words[index]?.text === '(') {
    let depth = 0;
    for (; index < words.length; index++) {
      const text = words[index]?.text;
      if (text === '(') depth += 1;
      if (text === ')') depth -= 1;
      const word = keyword(words[index]);
      if ((word === 'ANALYZE' || word === 'ANALYSE') && !falseWords.has(keyword(words[index + 1])))
        analyze = true;
      if (depth === 0) break;
    }
    index += 1;
  }
  while (vacuumOptions.has(keyword(words[index]))) {
    const word = keyword(words[index]);
    if (word === 'ANALYZE' || word === 'ANALYSE') analyze = true;
    index += 1;
  }
  const rest = words.slice(index);
  const tables =
    rest.length === 0
      ? []
      : splitAtCommas(rest).map((part) => {
          // `t (a, b)`: SQLite's ANALYZE takes no column list; it analyzes every index of t.
          const open = part.findIndex((token) => token.text === '(');
          return textOf(open < 0 ? part : part.slice(0, open));
        });
  return { analyze, tables };
}

/**
 * `VACUUM [options] [t, …]`. Without tables: SQLite's VACUUM, or with ANALYZE only ANALYZE (the
 * kernel runs a VACUUM only as a request of its own, outside a transaction, so the two cannot be one
 * statement). With tables: ANALYZE of each if asked, else nothing (SQLite's VACUUM cannot be limited
 * to a table, and rewriting the whole database for it would be a surprise; SQLite reuses free pages
 * anyway).
 */
function rewriteVacuum(words: readonly Token[]): Rewrite {
  const { analyze, tables } = optionsAndTables(words);
  if (tables.length === 0) return { statements: [analyze ? 'ANALYZE' : 'VACUUM'] };
  if (!analyze) return { statements: [] };
  return { statements: tables.map((table) => `ANALYZE ${table}`) };
}

/** `ANALYZE [VERBOSE] [t, …]` → SQLite's ANALYZE, once per table. */
function rewriteAnalyze(words: readonly Token[]): Rewrite {
  const { tables } = optionsAndTables(words);
  if (tables.length === 0) return { statements: ['ANALYZE'] };
  return { statements: tables.map((table) => `ANALYZE ${table}`) };
}

/**
 * `ALTER TABLE [IF EXISTS] [ONLY] t ADD [CONSTRAINT name] PRIMARY KEY (cols)` or `UNIQUE (cols)` →
 * `CREATE UNIQUE INDEX name ON t (cols)`, named as PostgreSQL names the constraint's index when no
 * name is given (`t_pkey`, `t_a_b_key`).
 */
function rewriteAddKey(words: readonly Token[]): Rewrite | null {
  if (keyword(words[1]) !== 'TABLE') return null;
  let index = 2;
  if (keyword(words[index]) === 'IF' && keyword(words[index + 1]) === 'EXISTS') return null;
  if (keyword(words[index]) === 'ONLY') index += 1;
  const tableStart = index;
  index += 1;
  while (words[index]?.text === '.') index += 2;
  const table = words.slice(tableStart, index);
  if (keyword(words[index]) !== 'ADD') return null;
  index += 1;
  let name: string | null = null;
  if (keyword(words[index]) === 'CONSTRAINT') {
    name = words[index + 1]?.text ?? null;
    index += 2;
  }
  let primary: boolean;
  if (keyword(words[index]) === 'PRIMARY' && keyword(words[index + 1]) === 'KEY') {
    primary = true;
    index += 2;
  } else if (keyword(words[index]) === 'UNIQUE') {
    primary = false;
    index += 1;
  } else {
    return null;
  }
  const columns = words.slice(index);
  // Only a plain column list: INCLUDE (…), WITH (…) or USING INDEX TABLESPACE after it is not rewritten.
  if (columns[0]?.text !== '(' || closingIndex(columns, 0) !== columns.length - 1) return null;
  const columnNames = splitAtCommas(columns.slice(1, -1)).map(textOf);
  const tableName = unquoted(textOf(table));
  const indexName =
    name ?? quoteIfNeeded(`${tableName}_${primary ? 'pkey' : `${columnNames.map(unquoted).join('_')}_key`}`);
  // SQLite's CREATE INDEX qualifies the index, never the table: `CREATE INDEX s.i ON t (…)`.
  const schema = textOf(table.slice(0, -1));
  const unqualified = (table.at(-1) as Token).text;
  const createIndex = `CREATE UNIQUE INDEX ${schema}${indexName} ON ${unqualified} (${columnNames.join(', ')})`;
  if (!primary) return { statements: [createIndex] };
  // PostgreSQL's PRIMARY KEY makes its columns NOT NULL (the kernel's ALTER COLUMN: kernel/alter-table.ts).
  const notNulls = columnNames.map(
    (column) => `ALTER TABLE ${unqualified} ALTER COLUMN ${column} SET NOT NULL`,
  );
  return { statements: [createIndex, ...notNulls] };
}

function quoteIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/**
 * The tokens without storage parameters: in CREATE TABLE and CREATE INDEX, a top-level
 * `WITH (name = value, …)` (PostgreSQL's `fillfactor`, `autovacuum_*`…) is dropped, since SQLite
 * has none of them; so is `UNLOGGED` in `CREATE UNLOGGED TABLE` (`pgbench -i --unlogged-tables`):
 * the table is logged like every other, which only makes it safer. Any other statement is returned
 * as it is.
 */
export function withoutStorageParameters(tokens: readonly Token[]): readonly Token[] {
  const words = leadingWords(tokens, 4);
  if (keyword(words[0]) !== 'CREATE') return tokens;
  const kinds = words.slice(1, 4).map(keyword);
  if (!kinds.includes('TABLE') && !kinds.includes('INDEX')) return tokens;
  const kept: Token[] = [];
  let depth = 0;
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    if (index < tokens.indexOf(words[1] as Token) + 1 && keyword(token) === 'UNLOGGED') {
      index = nextSignificantIndex(tokens, index + 1);
      continue;
    }
    if (depth === 0 && keyword(token) === 'WITH') {
      const open = nextSignificantIndex(tokens, index + 1);
      if (tokens[open]?.text === '(') {
        index = closingIndex(tokens, open) + 1;
        continue;
      }
    }
    if (token.text === '(') depth += 1;
    if (token.text === ')') depth -= 1;
    kept.push(token);
    index += 1;
  }
  return kept;
}

function nextSignificantIndex(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index += 1;
  return index;
}

/** The index of the `)` closing the `(` at `open` (the last token when it is unclosed). */
export function closingIndex(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const text = (tokens[index] as Token).text;
    if (text === '(') depth += 1;
    if (text === ')') depth -= 1;
    if (depth === 0) return index;
  }
  return tokens.length - 1;
}

// ---- PRIMARY KEY columns are NOT NULL ----

/** Words that start a table constraint in a CREATE TABLE's list (anything else is a column). */
const tableConstraintStarts = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN', 'EXCLUDE']);

/**
 * `CREATE TABLE t (id text PRIMARY KEY, …)` / `(…, PRIMARY KEY (a, b))`: in PostgreSQL a primary key's
 * columns are NOT NULL; in SQLite (for compatibility with its early versions) they hold NULLs, and
 * rows whose keys are NULL do not collide. So each primary key column that says nothing about NULL
 * gets NOT NULL, and inserting a NULL key fails with 23502 as in PostgreSQL. A lone INTEGER PRIMARY
 * KEY (the rowid, SERIAL's translation) still takes NULL as "the next id": SQLite gives the rowid
 * before it checks NOT NULL.
 */
export function withPrimaryKeyNotNull(tokens: readonly Token[]): readonly Token[] {
  const words = leadingWords(tokens, 4);
  if (keyword(words[0]) !== 'CREATE') return tokens;
  if (!words.slice(1, 4).some((word) => keyword(word) === 'TABLE')) return tokens;
  const open = tokens.findIndex((token) => token.text === '(');
  if (open < 0) return tokens;
  // `CREATE TABLE t AS SELECT (…)`: the parenthesis is not a column list.
  if (tokens.slice(0, open).some((token) => keyword(token) === 'AS')) return tokens;
  const close = closingIndex(tokens, open);
  const elements: { start: number; end: number }[] = [];
  let depth = 0;
  let start = open + 1;
  for (let index = open + 1; index <= close; index++) {
    const text = (tokens[index] as Token).text;
    if (text === '(') depth += 1;
    else if (text === ')' && depth > 0) depth -= 1;
    else if ((text === ',' && depth === 0) || index === close) {
      elements.push({ start, end: index });
      start = index + 1;
    }
  }
  const columns = new Map<string, { start: number; end: number }>();
  const keyColumns = new Set<string>();
  for (const element of elements) {
    const significant = topLevelWords(tokens, element.start, element.end);
    const first = significant[0];
    if (first === undefined) continue;
    if (tableConstraintStarts.has(keyword(first))) {
      const primary = significant.findIndex(
        (word, index) => keyword(word) === 'PRIMARY' && keyword(significant[index + 1]) === 'KEY',
      );
      if (primary < 0) continue;
      const list = tokens.findIndex((token, index) => index > element.start && token.text === '(');
      if (list < 0 || list >= element.end) continue;
      for (const part of splitAtCommas(tokens.slice(list + 1, closingIndex(tokens, list)))) {
        const name = part.find(isSignificant);
        if (name !== undefined) keyColumns.add(columnName(name));
      }
      continue;
    }
    const name = columnName(first);
    columns.set(name, element);
    if (
      significant.some(
        (word, index) => keyword(word) === 'PRIMARY' && keyword(significant[index + 1]) === 'KEY',
      )
    )
      keyColumns.add(name);
  }
  const insertAfter = new Set<number>();
  for (const name of keyColumns) {
    const element = columns.get(name);
    if (element === undefined) continue;
    const significant = topLevelWords(tokens, element.start, element.end);
    if (significant.some((word) => keyword(word) === 'NULL')) continue; // NOT NULL, or NULL on purpose
    const last = lastSignificantIndex(tokens, element.start, element.end);
    if (last >= 0) insertAfter.add(last);
  }
  if (insertAfter.size === 0) return tokens;
  const out: Token[] = [];
  for (const [index, token] of tokens.entries()) {
    out.push(token);
    if (insertAfter.has(index)) {
      out.push(
        { kind: 'space', text: ' ' },
        { kind: 'identifier', text: 'NOT' },
        { kind: 'space', text: ' ' },
        { kind: 'identifier', text: 'NULL' },
      );
    }
  }
  return out;
}

/** The significant tokens in [start, end) outside parentheses. */
function topLevelWords(tokens: readonly Token[], start: number, end: number): Token[] {
  const words: Token[] = [];
  let depth = 0;
  for (let index = start; index < end; index++) {
    const token = tokens[index] as Token;
    if (token.text === '(') depth += 1;
    else if (token.text === ')') depth -= 1;
    else if (depth === 0 && isSignificant(token)) words.push(token);
  }
  return words;
}

function lastSignificantIndex(tokens: readonly Token[], start: number, end: number): number {
  for (let index = end - 1; index >= start; index--) if (isSignificant(tokens[index] as Token)) return index;
  return -1;
}

/** A column's name as SQLite compares it: unquoted, case-insensitive. */
function columnName(token: Token): string {
  const text =
    token.kind === 'quoted-identifier' ? token.text.slice(1, -1).replaceAll('""', '"') : token.text;
  return text.toLowerCase();
}

// ---- generate_series ----

/**
 * `SELECT generate_series(start, stop [, step]) [[AS] name] [ORDER BY … | LIMIT …]`, the series as
 * the query's only item and no FROM (psql's way to count): PostgreSQL's set-returning call in a select
 * list is SQLite's table, so it becomes `SELECT name FROM generate_series(…) AS name …`, which the
 * FROM form below then translates. Other uses in a select list are left as written (42883).
 */
function withSeriesInSelectList(tokens: readonly Token[]): readonly Token[] {
  const at = tokens.flatMap((token, index) => (isSignificant(token) ? [index] : []));
  const word = (position: number) => {
    const token = tokens[at[position] as number];
    return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
  };
  if (word(0) !== 'SELECT' || word(1) !== 'GENERATE_SERIES' || tokens[at[2] as number]?.text !== '(')
    return tokens;
  const close = closingIndex(tokens, at[2] as number);
  if (close < 0) return tokens;
  let position = at.indexOf(close) + 1;
  let name = 'generate_series';
  if (word(position) === 'AS') position += 1;
  const alias = tokens[at[position] as number];
  if (
    alias !== undefined &&
    (alias.kind === 'quoted-identifier' ||
      (alias.kind === 'identifier' && !SERIES_ITEM_FOLLOWERS.has(word(position))))
  ) {
    name =
      alias.kind === 'quoted-identifier'
        ? alias.text.slice(1, -1).replaceAll('""', '"')
        : alias.text.toLowerCase();
    position += 1;
  }
  const rest = position < at.length ? tokens.slice(at[position]) : [];
  if (
    rest.some(
      (token) =>
        token.kind === 'identifier' && ['FROM', 'WHERE', 'GROUP', 'UNION'].includes(token.text.toUpperCase()),
    )
  )
    return tokens;
  if (rest.some((token) => token.text === ','))
    if (
      !rest.some(
        (token) => token.kind === 'identifier' && ['ORDER', 'LIMIT'].includes(token.text.toUpperCase()),
      )
    )
      return tokens;
  const quotedName = `"${name.replaceAll('"', '""')}"`;
  return [
    ...tokenize(`SELECT ${quotedName} FROM `),
    ...tokens.slice(at[1] as number, close + 1),
    ...tokenize(` AS ${quotedName} `),
    ...rest,
  ];
}

/** Words that may follow the series item and are not its alias. */
const SERIES_ITEM_FOLLOWERS = new Set([
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'WINDOW',
  'FETCH',
]);

/**
 * The tokens with each `(VALUES (…), …) [AS] alias (column, …)` — a VALUES list in FROM named with
 * its columns, which PostgreSQL allows and SQLite does not (its VALUES columns are column1, column2…,
 * and an alias takes no column list) — replaced by `(SELECT column1 AS column, … FROM (VALUES …)) AS
 * alias`. Columns the list leaves unnamed keep SQLite's (and PostgreSQL's) names `columnN`. The
 * common way to update many rows from one statement: `UPDATE t SET x = v.x FROM (VALUES (1, 'a'),
 * (2, 'b')) AS v(id, x) WHERE t.id = v.id`.
 */
export function withValuesColumnAliases(tokens: readonly Token[]): readonly Token[] {
  if (!tokens.some((token) => keyword(token) === 'VALUES')) return tokens;
  const result: Token[] = [];
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    if (token.text === '(' && keyword(tokens[nextSignificantIndex(tokens, index + 1)]) === 'VALUES') {
      const named = namedValues(tokens, index);
      if (named !== null) {
        result.push(...named.tokens);
        index = named.end;
        continue;
      }
    }
    result.push(token);
    index += 1;
  }
  return result;
}

function namedValues(tokens: readonly Token[], open: number): { tokens: Token[]; end: number } | null {
  const close = closingIndex(tokens, open);
  if (tokens[close]?.text !== ')') return null;
  let at = nextSignificantIndex(tokens, close + 1);
  if (keyword(tokens[at]) === 'AS') at = nextSignificantIndex(tokens, at + 1);
  const alias = tokens[at];
  if (
    alias === undefined ||
    !(alias.kind === 'quoted-identifier' || (alias.kind === 'identifier' && !aliasStops.has(keyword(alias))))
  ) {
    return null;
  }
  const listOpen = nextSignificantIndex(tokens, at + 1);
  if (tokens[listOpen]?.text !== '(') return null;
  const listClose = closingIndex(tokens, listOpen);
  const names = splitAtCommas(tokens.slice(listOpen + 1, listClose)).map((part) =>
    part.filter(isSignificant),
  );
  if (
    names.some(
      (name) => name.length !== 1 || !['identifier', 'quoted-identifier'].includes(name[0]?.kind ?? ''),
    )
  ) {
    return null;
  }
  // The width of the first row: the columns the list does not name keep their names.
  const firstRow = nextSignificantIndex(tokens, nextSignificantIndex(tokens, open + 1) + 1);
  const width =
    tokens[firstRow]?.text === '('
      ? splitAtCommas(tokens.slice(firstRow + 1, closingIndex(tokens, firstRow))).length
      : names.length;
  const columns = Array.from({ length: Math.max(width, names.length) }, (_, column) => {
    const name = names[column]?.[0];
    return name === undefined ? `column${column + 1}` : `column${column + 1} AS ${name.text}`;
  });
  return {
    tokens: [
      ...tokenize(`(SELECT ${columns.join(', ')} FROM `),
      ...withValuesColumnAliases(tokens.slice(open, close + 1)),
      ...tokenize(`) AS ${alias.text}`),
    ],
    end: listClose + 1,
  };
}

/** Words after which `generate_series(…)` is a table in a FROM clause. */
const seriesFollows = new Set(['FROM', 'JOIN']);

/**
 * The tokens with each `FROM generate_series(start, stop [, step]) [[AS] alias [(column)]]` (also
 * after JOIN) replaced by a subquery counting with a recursive CTE, named as PostgreSQL names the
 * series: its column is `column`, else `alias`, else `generate_series`. As in PostgreSQL the series is
 * empty when start is past stop (or an argument is NULL), and counts down with a negative step; a
 * step of 0 gives start alone (PostgreSQL refuses it, 22023). Timestamps and dates with an interval
 * step are `timestampSeries`.
 */
export function withSeriesSubqueries(tokensAsWritten: readonly Token[]): readonly Token[] {
  const tokens = withSeriesInSelectList(tokensAsWritten);
  if (!tokens.some((token) => keyword(token) === 'GENERATE_SERIES')) return tokens;
  const result: Token[] = [];
  let previous = '';
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    const open = nextSignificantIndex(tokens, index + 1);
    if (keyword(token) === 'GENERATE_SERIES' && seriesFollows.has(previous) && tokens[open]?.text === '(') {
      const close = closingIndex(tokens, open);
      const series = seriesSubquery(tokens, open, close);
      if (series !== null) {
        result.push(...series.tokens);
        index = series.end;
        previous = '';
        continue;
      }
    }
    if (isSignificant(token)) previous = keyword(token);
    result.push(token);
    index += 1;
  }
  return result;
}

function seriesSubquery(
  tokens: readonly Token[],
  open: number,
  close: number,
): { tokens: Token[]; end: number } | null {
  const args = splitAtCommas(tokens.slice(open + 1, close));
  if (args.length < 2 || args.length > 3 || args.some((arg) => !arg.some(isSignificant))) return null;
  const bounds = args.map((arg) => [...tokenize('('), ...arg, ...tokenize(')')]);
  const start = bounds[0] as Token[];
  const stop = bounds[1] as Token[];
  const by = bounds[2] ?? tokenize('(1)');
  // [AS] alias [(column)]
  let end = close + 1;
  let at = nextSignificantIndex(tokens, end);
  if (keyword(tokens[at]) === 'AS') at = nextSignificantIndex(tokens, at + 1);
  let alias = 'generate_series';
  let column = 'generate_series';
  const candidate = tokens[at];
  const isAlias =
    candidate !== undefined &&
    (candidate.kind === 'quoted-identifier' ||
      (candidate.kind === 'identifier' && !aliasStops.has(keyword(candidate))));
  if (isAlias) {
    alias = candidate.text;
    column = candidate.text;
    end = at + 1;
    const columns = nextSignificantIndex(tokens, end);
    if (tokens[columns]?.text === '(') {
      const named = tokens[nextSignificantIndex(tokens, columns + 1)];
      const columnsEnd = closingIndex(tokens, columns);
      if (named === undefined || nextSignificantIndex(tokens, columns + 2) !== columnsEnd) return null;
      column = named.text;
      end = columnsEnd + 1;
    }
  }
  const step = args[2] === undefined ? null : intervalStep(args[2]);
  if (step !== null) return { tokens: timestampSeries(start, stop, step, alias, column), end };
  const sql = (text: string) => tokenize(text);
  const inRange = (value: Token[]) => [
    ...sql('CASE WHEN '),
    ...by,
    ...sql(' > 0 THEN '),
    ...value,
    ...sql(' <= '),
    ...stop,
    ...sql(' WHEN '),
    ...by,
    ...sql(' < 0 THEN '),
    ...value,
    ...sql(' >= '),
    ...stop,
    ...sql(' END'),
  ];
  const next = [...sql('northlight_series.value + '), ...by];
  return {
    tokens: [
      ...sql('(WITH RECURSIVE northlight_series(value) AS (SELECT '),
      ...start,
      ...sql(' WHERE '),
      ...inRange(start),
      ...sql(' UNION ALL SELECT '),
      ...next,
      ...sql(' FROM northlight_series WHERE '),
      ...inRange(next),
      ...sql(`) SELECT value AS ${column} FROM northlight_series) AS ${alias}`),
    ],
    end,
  };
}

/**
 * The interval a series' step is written as — `interval '1 day'`, `'1 day'::interval`, or a string
 * with a unit (`'1 hour'`, which PostgreSQL reads as an interval beside timestamps) — or null (a
 * number). A zero interval is 22023, as in PostgreSQL.
 */
function intervalStep(arg: readonly Token[]): IntervalValue | null {
  const words = arg.filter(isSignificant);
  let literal: Token | undefined;
  if (words.length === 2 && keyword(words[0]) === 'INTERVAL' && words[1]?.kind === 'string')
    literal = words[1];
  else if (
    words.length === 3 &&
    words[0]?.kind === 'string' &&
    words[1]?.kind === 'cast' &&
    keyword(words[2]) === 'INTERVAL'
  ) {
    literal = words[0];
  } else if (words.length === 1 && words[0]?.kind === 'string' && /[a-z]/i.test(words[0].value ?? '')) {
    literal = words[0];
  }
  if (literal === undefined) return null;
  let value: IntervalValue;
  try {
    value = parseInterval(literal.value ?? '');
  } catch (error) {
    if (error instanceof TemporalInputError) throw new PgSqlError(error.sqlstate, error.message);
    throw error;
  }
  if (value.months === 0 && value.days === 0 && value.micros === 0) {
    throw new PgSqlError('22023', 'step size cannot equal zero');
  }
  return value;
}

/**
 * `generate_series(start, stop, interval)` of timestamps (dates are midnight): the same recursive
 * CTE, each value the one before plus the step as PostgreSQL adds an interval (temporal.ts
 * `addInterval`: months first, a day past the month's end clamped to its last), compared with stop
 * as text in one form (`YYYY-MM-DD HH:MM:SS[.fff]`, UTC for a value with an offset). The values are
 * that text: `d::date` (or `::timestamptz`) types them.
 */
function timestampSeries(
  start: readonly Token[],
  stop: readonly Token[],
  step: IntervalValue,
  alias: string,
  column: string,
): Token[] {
  const placeholder = 'northlight_series_operand';
  const normalized = (operand: readonly Token[]): Token[] =>
    addInterval(`(${placeholder})`, { months: 0, days: 0, micros: 0 }, 1)
      .split(placeholder)
      .flatMap((part, index) => (index === 0 ? tokenize(part) : [...operand, ...tokenize(part)]));
  const up = step.months * 30 * 86_400e6 + step.days * 86_400e6 + step.micros > 0;
  const compare = up ? ' <= ' : ' >= ';
  const next = addInterval('northlight_series.value', step, 1, true);
  const sql = (text: string) => tokenize(text);
  return [
    ...sql('(WITH RECURSIVE northlight_series(value) AS (SELECT v FROM (SELECT '),
    ...normalized(start),
    ...sql(' AS v, '),
    ...normalized(stop),
    ...sql(
      ` AS last) WHERE v${compare}last UNION ALL SELECT ${next} FROM northlight_series WHERE ${next}${compare}`,
    ),
    ...normalized(stop),
    ...sql(`) SELECT value AS ${column} FROM northlight_series) AS ${alias}`),
  ];
}

/**
 * Words that end a FROM item rather than name it: `generate_series(1, 3) WHERE …` has no alias
 * (nor has `information_schema.tables WHERE …`: information-schema.ts).
 */
export const aliasStops: ReadonlySet<string> = new Set([
  'FOR',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'WINDOW',
  'JOIN',
  'INNER',
  'LEFT',
  'RIGHT',
  'FULL',
  'CROSS',
  'NATURAL',
  'ON',
  'USING',
  'RETURNING',
]);

// ---- INSERT … SELECT … FROM s ON CONFLICT ----

/** Top-level words that end a SELECT's FROM list: its later clauses, or the next SELECT of a compound. */
const fromListEnds = new Set([
  'WHERE',
  'GROUP',
  'HAVING',
  'WINDOW',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FETCH',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'VALUES',
  'SELECT',
]);

/**
 * `INSERT INTO t SELECT … FROM s ON CONFLICT …` (an upsert from another table, PostgreSQL's way to
 * merge a staging table): SQLite's parser takes an ON right after a FROM list for a join constraint
 * and fails with "near DO: syntax error". Its documentation's answer is a WHERE clause between the
 * two, even `WHERE true`. So when a top-level ON CONFLICT follows a SELECT whose FROM list runs up to
 * it, `WHERE true` is put before it; a SELECT that has its own WHERE, GROUP BY, ORDER BY or LIMIT
 * there (or no FROM) needs nothing. Any other statement is returned as it is.
 */
export function withUpsertSourceWhere(tokens: readonly Token[]): readonly Token[] {
  const at: number[] = [];
  let depth = 0;
  let inInsert = false;
  let last = '';
  let previous: string[] = [];
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    // Each statement of a trigger's body on its own.
    if (token.kind === 'semicolon') {
      inInsert = false;
      last = '';
      continue;
    }
    if (token.text === '(') depth += 1;
    else if (token.text === ')') depth -= 1;
    if (depth !== 0 || !isSignificant(token)) continue;
    const word = keyword(token);
    if (word === 'INSERT') inInsert = true;
    // `a IS [NOT] DISTINCT FROM b` is an operator, not a FROM clause.
    const distinctFrom =
      word === 'FROM' && previous[0] === 'DISTINCT' && (previous[1] === 'IS' || previous[1] === 'NOT');
    previous = [word, previous[0] ?? ''];
    if (!inInsert || distinctFrom) continue;
    if (word === 'FROM' || fromListEnds.has(word)) last = word;
    else if (word === 'ON' && isConflictClause(tokens, index)) {
      if (last === 'FROM') at.push(index);
      inInsert = false;
    }
  }
  if (at.length === 0) return tokens;
  const result: Token[] = [];
  let from = 0;
  for (const index of at) {
    result.push(...tokens.slice(from, index), ...tokenize('WHERE true '));
    from = index;
  }
  result.push(...tokens.slice(from));
  return result;
}

/**
 * `ON CONFLICT` followed by what can follow it (a target, `DO`, `ON CONSTRAINT`, `WHERE`), not a join
 * constraint on a table or alias named conflict (`JOIN conflict ON conflict.id = s.k`).
 */
function isConflictClause(tokens: readonly Token[], on: number): boolean {
  const conflict = nextSignificantIndex(tokens, on + 1);
  if (keyword(tokens[conflict]) !== 'CONFLICT') return false;
  const after = tokens[nextSignificantIndex(tokens, conflict + 1)];
  return after === undefined || after.text === '(' || ['DO', 'ON', 'WHERE'].includes(keyword(after));
}

// ---- ALTER TABLE with several actions, IF [NOT] EXISTS ----

/** A NOTICE PostgreSQL sends for an action it skips. */
export interface SkipNotice {
  readonly sqlstate: string;
  readonly message: string;
}

/** `ALTER TABLE …` as the SQLite statements that do it: one per action, those skipped left out. */
export interface AlterActions {
  /** Each action kept, as its own single-action `ALTER TABLE` statement (raw SQL, to translate). */
  readonly statements: readonly string[];
  readonly notices: readonly SkipNotice[];
}

interface AlterHead {
  /** The table's last name part as written (`t`, `"T"`): what its columns are asked by. */
  readonly table: string;
  /** The table as written, qualified or not. */
  readonly tableText: string;
  readonly ifExists: boolean;
  /** The actions' tokens, split at top-level commas. */
  readonly actions: readonly Token[][];
}

function alterHead(tokens: readonly Token[]): AlterHead | null {
  const words = leadingWords(tokens, 8);
  if (keyword(words[0]) !== 'ALTER' || keyword(words[1]) !== 'TABLE') return null;
  let at = 2;
  const ifExists = keyword(words[at]) === 'IF' && keyword(words[at + 1]) === 'EXISTS';
  if (ifExists) at += 2;
  if (keyword(words[at]) === 'ONLY') at += 1;
  const first = words[at];
  if (first === undefined || (first.kind !== 'identifier' && first.kind !== 'quoted-identifier')) return null;
  // The name's tokens: `a`, `s.a` (the whole list may run past the 8 leading words).
  let end = tokens.indexOf(first);
  while (tokens[end + 1]?.text === '.' && tokens[end + 2] !== undefined) end += 2;
  const tableText = textOf(tokens.slice(tokens.indexOf(first), end + 1));
  const actions = splitAtCommas(tokens.slice(end + 1)).filter((part) => part.some(isSignificant));
  if (actions.length === 0) return null;
  return { table: (tokens[end] as Token).text, tableText, ifExists, actions };
}

function isIf(words: readonly Token[], at: number, not: boolean): boolean {
  return not
    ? keyword(words[at]) === 'IF' && keyword(words[at + 1]) === 'NOT' && keyword(words[at + 2]) === 'EXISTS'
    : keyword(words[at]) === 'IF' && keyword(words[at + 1]) === 'EXISTS';
}

/**
 * The table whose columns `alterTableActions` needs to decide (an `IF [NOT] EXISTS` it must
 * evaluate), or null: the caller asks them first, then translates.
 */
export function alterTableNeedingColumns(tokens: readonly Token[]): string | null {
  const head = alterHead(tokens);
  if (head === null) return null;
  if (head.ifExists) return head.table;
  for (const action of head.actions) {
    const words = action.filter(isSignificant);
    const at = keyword(words[1]) === 'COLUMN' ? 2 : 1;
    if (
      (keyword(words[0]) === 'ADD' && isIf(words, at, true)) ||
      (keyword(words[0]) === 'DROP' && isIf(words, at, false))
    )
      return head.table;
  }
  return null;
}

/**
 * Whether a column name as written (`a`, `"A"`) names the column SQLite declared as `declared`:
 * SQLite compares names without case, quoted or not.
 */
export function namesColumn(written: string, declared: string): boolean {
  return unquotedName(written).toLowerCase() === declared.toLowerCase();
}

function unquotedName(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase();
}

/**
 * `ALTER TABLE [IF EXISTS] [ONLY] t action, action, …`, which SQLite takes one action at a time and
 * without IF clauses, as one statement per action: `ADD [COLUMN] [IF NOT EXISTS] c …` and `DROP
 * [COLUMN] [IF EXISTS] c` are decided on `columnsOf(t)` (the table's column names; null: there is
 * no such table; undefined: not known, and every action is then tried), a skipped action giving PostgreSQL's NOTICE; any other action is kept as
 * written (`ADD PRIMARY KEY (…)`, `RENAME …`), for the translation of single statements. Null when
 * there is nothing to do: one action with no IF clause, or not an ALTER TABLE.
 */
export function alterTableActions(
  tokens: readonly Token[],
  columnsOf: (table: string) => readonly string[] | null | undefined,
): AlterActions | null {
  const head = alterHead(tokens);
  if (head === null || (head.actions.length < 2 && alterTableNeedingColumns(tokens) === null)) return null;
  const { table, tableText, actions } = head;
  const name = unquotedName(table);
  const columns = columnsOf(table);
  if (columns === null && head.ifExists)
    return {
      statements: [],
      notices: [{ sqlstate: '42P01', message: `relation "${name}" does not exist, skipping` }],
    };
  const has = (column: string) => columns?.some((existing) => namesColumn(column, existing)) ?? false;
  const statements: string[] = [];
  const notices: SkipNotice[] = [];
  for (const action of actions) {
    const words = action.filter(isSignificant);
    const verb = keyword(words[0]);
    const at = keyword(words[1]) === 'COLUMN' ? 2 : 1;
    const conditional =
      (verb === 'ADD' && isIf(words, at, true)) || (verb === 'DROP' && isIf(words, at, false));
    if (!conditional) {
      statements.push(`ALTER TABLE ${tableText} ${textOf(action).trim()}`);
      continue;
    }
    const columnAt = at + (verb === 'ADD' ? 3 : 2);
    const column = words[columnAt];
    if (column === undefined)
      throw new PgSqlError(
        '42601',
        `syntax error: a column name must follow ${verb === 'ADD' ? 'IF NOT EXISTS' : 'IF EXISTS'}`,
      );
    const known = columns !== undefined && columns !== null;
    const exists = has(column.text);
    if (verb === 'ADD' && exists && known) {
      notices.push({
        sqlstate: '42701',
        message: `column "${unquotedName(column.text)}" of relation "${name}" already exists, skipping`,
      });
      continue;
    }
    if (verb === 'DROP' && !exists && known) {
      notices.push({
        sqlstate: '42703',
        message: `column "${unquotedName(column.text)}" of relation "${name}" does not exist, skipping`,
      });
      continue;
    }
    // ADD: from the column on, as written; DROP: the column (SQLite has no CASCADE or RESTRICT).
    const rest = verb === 'ADD' ? textOf(action.slice(action.indexOf(column))).trim() : column.text;
    statements.push(`ALTER TABLE ${tableText} ${verb === 'ADD' ? 'ADD COLUMN' : 'DROP COLUMN'} ${rest}`);
  }
  return { statements, notices };
}
