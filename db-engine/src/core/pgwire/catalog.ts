/**
 * PostgreSQL's system catalogs (`pg_catalog.*`, `information_schema.*`) do not exist here: the SQL is
 * SQLite's. What clients send to them is handled in three ways:
 *
 * - psql's relation lists (`\d`, `\dt`, `\di`, `\dv`, `\dm`, `\ds`, with `+`, `S` and a pattern) all
 *   send one query shape (describe.c `listTables`): its select list, the relkinds it asks for and the
 *   name pattern are read from the query and it is answered from `sqlite_schema`, with the same
 *   column names, so psql prints its usual table ("List of relations").
 * - psql's `\d NAME` and `\d+ NAME` (describe.c `describeTableDetails`) send about ten more
 *   catalog queries per relation; `psql-describe.ts` recognises each and answers it from
 *   `sqlite_schema` and SQLite's pragmas (columns with PostgreSQL's type names, nullability,
 *   defaults, indexes, a view's definition), and the footers SQLite has no counterpart for with no
 *   rows.
 * - psql's `\l`, `\dn` and `\du`/`\dg` (with `+` and a pattern) list the one database, the one
 *   schema (`public`) and the one role there are (`psql-globals.ts`).
 * - `information_schema.tables`, `.columns` and `.schemata` become derived tables over SQLite's
 *   catalog and the query goes on to be translated (`information-schema.ts`).
 * - pgbench asks whether `pgbench_accounts` is partitioned (pgbench.c `GetTableInfo`): answered
 *   "not partitioned" (SQLite has no partitions) when the table exists, with no row when it does not.
 * - Any other reference to a catalog relation, and PostgreSQL's `OPERATOR(…)` syntax, get 0A000
 *   feature_not_supported with a hint naming `sqlite_schema` and `pragma_table_info`, rather than SQLite's `near "(": syntax error`.
 *
 * Pure code over the lexer's tokens (src/core/pgwire/sql.ts calls it first when translating).
 */

import {
  hasCatalogView,
  SESSION_NAMES,
  UNQUALIFIED_CATALOG_VIEWS,
  withCatalogViews,
} from './information-schema.js';
import { psqlDescribe, relationIndexesSql } from './psql-describe.js';
import { psqlGlobalList } from './psql-globals.js';
import {
  type CatalogAnswer,
  catalogWord,
  identifierSql,
  relationPatternConditions,
  shape,
  sqlString,
  userRelationsSql,
} from './psql-patterns.js';
import type { SessionFacts, Token } from './sql.js';

export type { CatalogAnswer } from './psql-patterns.js';
export { globOfPsqlPattern } from './psql-patterns.js';

const CATALOG_SCHEMAS = new Set(['PG_CATALOG', 'INFORMATION_SCHEMA']);
const MARKERS = new Set([...CATALOG_SCHEMAS, ...UNQUALIFIED_CATALOG_VIEWS, 'OPERATOR']);

const GENERAL_HINT =
  "List relations with SELECT name, type FROM sqlite_schema, and a table's columns with " +
  "SELECT * FROM pragma_table_info('name'). In psql, \\d, \\dt, \\di and \\dv list relations.";

/** Answers a statement that reads PostgreSQL's catalogs, or says it is none of this module's business. */
export function catalogQuery(tokens: readonly Token[], facts: SessionFacts): CatalogAnswer {
  const showIndex = sequelizeShowIndex(tokens);
  if (showIndex !== null) return showIndex;
  // Most statements name neither: one pass over the identifiers, before any other work.
  if (!tokens.some((token) => MARKERS.has(catalogWord(token)))) return { kind: 'none' };
  const words = tokens.filter(
    (token) => token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon',
  );
  const relation = firstCatalogRelation(words);
  // `OPERATOR(schema.op)`; a table or function merely named "operator" is the user's business.
  const operator = words.findIndex(
    (token, index) =>
      upper(token) === 'OPERATOR' &&
      words[index + 1]?.text === '(' &&
      words[index + 2]?.kind === 'identifier' &&
      words[index + 3]?.text === '.',
  );
  if (relation === undefined && operator < 0) {
    // `FROM pg_tables`: a view found without its schema, or a name that merely looks like one.
    const viewed = withCatalogViews(tokens, facts);
    return viewed === null ? { kind: 'none' } : { kind: 'tokens', ...viewed };
  }
  if (relation !== undefined) {
    const listed = psqlRelationList(words, facts);
    if (listed !== null) return listed;
    const described = psqlDescribe(words);
    if (described !== null) return described;
    const globals = psqlGlobalList(words, facts);
    if (globals !== null) return globals;
    const partitions = pgbenchPartitions(words);
    if (partitions !== null) return partitions;
    const viewed = withCatalogViews(tokens, facts);
    if (viewed !== null && operator < 0) return { kind: 'tokens', ...viewed };
    return {
      kind: 'unsupported',
      sqlstate: '0A000',
      message: `relation "${firstCatalogRelation(words, true) ?? relation}" is not supported: northlight has no PostgreSQL system catalogs (its SQL is SQLite's)`,
      hint: GENERAL_HINT,
    };
  }
  return {
    kind: 'unsupported',
    sqlstate: '0A000',
    message: "PostgreSQL's OPERATOR() syntax is not supported: northlight's SQL is SQLite's",
    hint: GENERAL_HINT,
  };
}

function upper(token: Token | undefined): string {
  return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/**
 * `pg_catalog.pg_class` (not a function call such as `pg_catalog.version()`), as written: the first
 * one there is no view of when `unviewed`, so that a refusal names the relation it is about.
 */
function firstCatalogRelation(words: readonly Token[], unviewed = false): string | undefined {
  for (let index = 0; index + 2 < words.length; index++) {
    if (!CATALOG_SCHEMAS.has(catalogWord(words[index])) || words[index + 1]?.text !== '.') continue;
    const name = words[index + 2] as Token;
    if (name.kind !== 'identifier' && name.kind !== 'quoted-identifier') continue;
    // A function call, or `pg_catalog.current_user` (the translation answers both kinds it knows).
    if (words[index + 3]?.text === '(' || SESSION_NAMES.has(upper(name))) continue;
    if (unviewed && hasCatalogView(catalogWord(words[index]), catalogWord(name))) continue;
    return `${(words[index] as Token).text}.${name.text}`;
  }
  return undefined;
}

// ---- \d, \dt, \di, \dv… (describe.c listTables) ----

/** pg_class.relkind → sqlite_schema.type; the kinds SQLite has no counterpart for list nothing. */
const RELKIND_TYPES: Readonly<Record<string, string>> = {
  r: 'table',
  p: 'table',
  v: 'view',
  m: 'view',
  i: 'index',
  I: 'index',
};

/** Each column listTables may ask for (by its alias), as an expression over sqlite_schema. */
function listColumn(alias: string, facts: SessionFacts): string | undefined {
  switch (alias) {
    case 'Schema':
      return "'public'";
    case 'Name':
      return 'name';
    case 'Type':
      return 'type';
    case 'Owner':
      return sqlString(facts.user);
    case 'Table':
      return "CASE WHEN type = 'index' THEN tbl_name END";
    case 'Persistence':
      return "'permanent'";
    case 'Access method':
      // SQLite stores tables and indexes alike as b-trees; a view has no storage.
      return "CASE WHEN type <> 'view' THEN 'btree' END";
    case 'Size':
    case 'Description':
      return 'NULL';
    default:
      return undefined;
  }
}

const LIST_PREFIX = 'SELECT n . nspname as "Schema" , c . relname as "Name" ,';
const LIST_FROM =
  'FROM pg_catalog . pg_class c LEFT JOIN pg_catalog . pg_namespace n ON n . oid = c . relnamespace';

function psqlRelationList(words: readonly Token[], facts: SessionFacts): CatalogAnswer | null {
  const text = shape(words);
  const from = text.indexOf(LIST_FROM);
  if (!text.startsWith(LIST_PREFIX) || from < 0 || !text.endsWith('ORDER BY 1 , 2')) return null;
  const aliases = [...text.slice(0, from).matchAll(/ as "([^"]+)" (?:,|$)/gi)].map(
    (match) => match[1] as string,
  );
  const columns = aliases.map((alias) => {
    const expression = listColumn(alias, facts);
    return expression === undefined ? undefined : `${expression} AS "${alias}"`;
  });
  if (columns.includes(undefined)) return null;
  const relkinds = /c \. relkind IN \( ((?:'[^']*' ,? ?)*)\)/.exec(text);
  if (relkinds === null) return null;
  const types = new Set(
    [...(relkinds[1] as string).matchAll(/'([^']*)'/g)]
      .map((match) => RELKIND_TYPES[match[1] as string])
      .filter((type) => type !== undefined),
  );
  const patterns = relationPatternConditions(words);
  if ('refusal' in patterns) return patterns.refusal;
  const conditions = [
    `type IN (${[...types].map(sqlString).join(', ') || "''"})`,
    userRelationsSql(),
    ...patterns.conditions,
  ];
  return {
    kind: 'sql',
    sql: `SELECT ${columns.join(', ')} FROM sqlite_schema WHERE ${conditions.join(' AND ')} ORDER BY lower(name), name`,
  };
}

// ---- Sequelize's showIndex (query-generator.js showIndexesQuery) ----

const SEQUELIZE_SHOW_INDEX_PREFIX =
  'SELECT i . relname AS name , ix . indisprimary AS primary , ix . indisunique AS unique , ' +
  'ix . indkey AS indkey , array_agg ( a . attnum ) as column_indexes , array_agg ( a . attname ) AS column_names , ' +
  'pg_get_indexdef ( ix . indexrelid ) AS definition FROM pg_class t , pg_class i , pg_index ix , pg_attribute a';

/**
 * Sequelize's `showIndex`, which `sync()` sends for every model: a table's indexes with PostgreSQL's
 * names, `indkey` (the key columns' attnums, space-separated), every column's attnum and name as array
 * text, and the index definition, as Sequelize reads them. The table is `t.relname = '<name>'`.
 */
function sequelizeShowIndex(tokens: readonly Token[]): CatalogAnswer | null {
  // Every statement comes here: its first words decide, before anything is copied.
  const first: Token[] = [];
  for (const token of tokens) {
    if (token.kind === 'space' || token.kind === 'comment') continue;
    first.push(token);
    if (first.length === 4) break;
  }
  if (upper(first[0]) !== 'SELECT' || first[1]?.text !== 'i' || upper(first[3]) !== 'RELNAME') return null;
  const words = tokens.filter((token) => token.kind !== 'space' && token.kind !== 'comment');
  const text = shape(words.filter((token) => token.kind !== 'semicolon'));
  if (!text.startsWith(SEQUELIZE_SHOW_INDEX_PREFIX)) return null;
  const relname = words.findIndex(
    (token, index) =>
      upper(token) === 'RELNAME' && words[index - 2]?.text === 't' && words[index + 1]?.text === '=',
  );
  const table = words[relname + 2];
  if (relname < 0 || table?.kind !== 'string') return null;
  const name = sqlString(table.value ?? '');
  const definition =
    "'CREATE ' || CASE WHEN x.is_unique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || " +
    `${identifierSql('x.name')} || ' ON public.' || ${identifierSql('x.table_name')} || ' USING btree ' || x.keys`;
  // A key column's attnum is its position in the table (cid + 1); a rowid key's columns are the pk's.
  // A key column's attnum is its position in the table (cid + 1; 0 for an expression, as in
  // PostgreSQL); a rowid key has no index of its own: its columns are the table's pk columns.
  const indkey =
    "coalesce((SELECT group_concat(CASE WHEN k.cid >= 0 THEN k.cid + 1 ELSE 0 END, ' ') " +
    'FROM pragma_index_info(x.index_name) k), ' +
    "(SELECT group_concat(cid + 1, ' ') FROM pragma_table_info(x.table_name) WHERE pk > 0))";
  return {
    kind: 'sql',
    sql:
      `WITH relation AS (SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ${name}), ` +
      `indexes AS (${relationIndexesSql()}), ` +
      "attributes AS (SELECT '{' || group_concat(cid + 1, ',') || '}' AS numbers, " +
      `'{' || group_concat(name, ',') || '}' AS names FROM pragma_table_info(${name})) ` +
      'SELECT x.name AS name, x.is_primary AS "primary", x.is_unique AS "unique", ' +
      `${indkey} AS indkey, attributes.numbers AS column_indexes, attributes.names AS column_names, ` +
      `${definition} AS definition FROM indexes x, attributes ORDER BY x.name`,
    types: new Map([
      ['primary', 'BOOLEAN'],
      ['unique', 'BOOLEAN'],
    ]),
  };
}

// ---- pgbench's partition query (pgbench.c GetTableInfo) ----

const PGBENCH_PARTITIONS_PREFIX =
  'select o . n , p . partstrat , pg_catalog . count ( i . inhparent ) from pg_catalog . pg_class as c';

/**
 * `select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c … left join
 * pg_catalog.pg_partitioned_table … where c.relname = 'pgbench_accounts' …`: one row (the table's
 * position in the search path, 1; no partition strategy; no partitions) when the table exists.
 */
function pgbenchPartitions(words: readonly Token[]): CatalogAnswer | null {
  const text = shape(words);
  if (!text.toLowerCase().startsWith(PGBENCH_PARTITIONS_PREFIX)) return null;
  if (!/pg_catalog \. pg_partitioned_table/i.test(text)) return null;
  const relname = words.findIndex(
    (token, index) =>
      upper(token) === 'RELNAME' && words[index - 2]?.text === 'c' && words[index + 1]?.text === '=',
  );
  const name = words[relname + 2];
  if (relname < 0 || name?.kind !== 'string') return null;
  return {
    kind: 'sql',
    sql:
      'SELECT 1 AS n, NULL AS partstrat, 0 AS count FROM sqlite_schema ' +
      `WHERE type = 'table' AND name = ${sqlString(name.value ?? '')} COLLATE NOCASE`,
  };
}
