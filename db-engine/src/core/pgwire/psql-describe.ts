/**
 * psql's `\d NAME` and `\d+ NAME` (describe.c `describeTableDetails`, then `describeOneTableDetails`
 * for each relation found), answered from SQLite's own catalog: `sqlite_schema` and the
 * `pragma_table_xinfo`, `pragma_index_list`, `pragma_index_xinfo` table-valued functions. psql 15
 * sends, in order (captured with `psql -E` against PostgreSQL 15; test/pgwire/catalog.test.ts holds
 * the texts):
 *
 * 1. the lookup: `c.oid, n.nspname, c.relname` of the relations whose name matches the pattern;
 * 2. per relation, its details (`c.relchecks, c.relkind, c.relhasindex…`) by `c.oid = '<oid>'`;
 * 3. its columns (`a.attname, format_type(…)…` — for an index `is_key` and `indexdef` instead of the
 *    default and nullability; with `+` storage, compression, statistics target, description);
 * 4. for a table its indexes (`c2.relname, i.indisprimary…`), for an index its own details
 *    (`i.indisunique, i.indisprimary…`), for a view with `+` its definition (`pg_get_viewdef`);
 * 5. footers that never apply to SQLite — row security policies, extended statistics,
 *    publications, inheritance, partitions, rules: no rows, so psql prints no footer. The details
 *    count the table's CHECK constraints (`relchecks`, from its CREATE TABLE text), so psql asks for
 *    them when there are some (`Check constraints:`); a table
 *    with a foreign key, or referenced by one, "has triggers" (PostgreSQL's foreign keys are), so
 *    psql asks for its foreign keys, those referencing it (named and written as PostgreSQL does,
 *    catalog-constraints.ts) and its triggers (no rows).
 *
 * **OIDs.** A relation's OID is 16384 (PostgreSQL's first OID for user objects) plus its
 * `sqlite_schema` rowid: the lookup gives it, and every later query finds the relation again by
 * `rowid = oid - 16384`. It is stable while the schema is not changed (a DROP may let a later
 * CREATE reuse the rowid, and VACUUM may renumber them), which is all psql needs between its
 * queries. A rowid table's `INTEGER PRIMARY KEY` is the table's own b-tree, not an index of its
 * own: it is listed among the indexes as PostgreSQL names a primary key (`"<table>_pkey" PRIMARY
 * KEY, btree (id)`), but it has no OID and `\d <table>_pkey` finds nothing.
 *
 * **Types.** SQLite keeps a column's declared type as written; it is shown under PostgreSQL's name
 * for it (`INT` → `integer`, `VARCHAR(20)` → `character varying(20)`, `DOUBLE PRECISION` →
 * `double precision`…), and a type PostgreSQL does not know in lower case as written.
 *
 * Pure code over the lexer's tokens, called by catalog.ts for queries that name a catalog relation.
 */
import { constraintsCtes, primaryKeyNameSql, uniqueConstraintNameSql } from './catalog-constraints.js';
import {
  type CatalogAnswer,
  identifierSql,
  relationPatternConditions,
  shape,
  sqlString,
  userRelationsSql,
} from './psql-patterns.js';
import type { Token } from './sql.js';

/** PostgreSQL's first OID for user objects (FirstNormalObjectId): relation OIDs are this + rowid. */
export const RELATION_OID_BASE = 16_384;

/** Bound on the select-list items read from one catalog query (psql's have at most about 15). */
const SELECT_ITEMS_MAX = 64;

const LOOKUP = 'SELECT c . oid , n . nspname , c . relname FROM pg_catalog . pg_class c';

/**
 * The queries of one relation, by the start of their text (see `shape`), and the SQLite query that
 * answers each for the relation whose OID the query names.
 */
const RELATION_QUERIES: readonly {
  readonly prefix: string;
  readonly answer: (rowid: number, items: readonly string[]) => string | null;
}[] = [
  { prefix: 'SELECT c . relchecks , c . relkind , c . relhasindex ,', answer: relationDetails },
  {
    prefix: 'SELECT a . attname , pg_catalog . format_type ( a . atttypid , a . atttypmod ) ,',
    answer: attributes,
  },
  { prefix: 'SELECT c2 . relname , i . indisprimary , i . indisunique ,', answer: tableIndexes },
  { prefix: 'SELECT i . indisunique , i . indisprimary , i . indisclustered ,', answer: indexDetails },
  { prefix: 'SELECT pg_catalog . pg_get_viewdef (', answer: viewDefinition },
  // Footers with no SQLite counterpart: no rows, with the columns psql asks for.
  { prefix: 'SELECT pol . polname ,', answer: noRows }, // row-level security policies
  { prefix: 'SELECT oid , stxrelid :: pg_catalog . regclass ,', answer: noRows }, // extended statistics
  { prefix: 'SELECT pubname ,', answer: noRows }, // publications
  { prefix: 'SELECT c . oid :: pg_catalog . regclass', answer: noRows }, // inheritance, partitions
  { prefix: 'SELECT r . rulename ,', answer: noRows }, // rules
  { prefix: 'SELECT r . conname ,', answer: checkConstraints },
  // Asked when the details say the table has triggers, as PostgreSQL's foreign keys are.
  { prefix: 'SELECT true as sametable , conname ,', answer: foreignKeys },
  { prefix: 'SELECT conname , conrelid :: pg_catalog . regclass AS ontable ,', answer: referencedBy },
  { prefix: 'SELECT t . tgname , pg_catalog . pg_get_triggerdef (', answer: noRows }, // triggers
];

/** Answers one of psql's `\d NAME` queries, or null when the query is not one of them. */
export function psqlDescribe(words: readonly Token[]): CatalogAnswer | null {
  const text = shape(words);
  if (text.startsWith(LOOKUP)) return lookup(words);
  const query = RELATION_QUERIES.find((candidate) => text.startsWith(candidate.prefix));
  if (query === undefined) return null;
  const rowid = relationRowid(words);
  const items = selectListItems(words);
  if (rowid === null || items === null) return null;
  const sql = query.answer(rowid, items);
  return sql === null ? null : { kind: 'sql', sql };
}

/** The relation a query is about: the first all-digits string (`c.oid = '16385'`), as a rowid. */
function relationRowid(words: readonly Token[]): number | null {
  const oid = words.find((token) => token.kind === 'string' && /^\d{1,15}$/.test(token.value ?? ''));
  return oid === undefined ? null : Number(oid.value) - RELATION_OID_BASE;
}

/** The items of the (first) top-level select list, each as its shape; null past the bound. */
function selectListItems(words: readonly Token[]): string[] | null {
  const items: string[] = [];
  let current: Token[] = [];
  let depth = 0;
  for (const token of words.slice(1)) {
    if (token.text === '(') depth += 1;
    if (token.text === ')') depth -= 1;
    if (depth === 0 && token.kind === 'identifier' && token.text.toUpperCase() === 'FROM') break;
    if (depth === 0 && token.text === ',') {
      items.push(shape(current));
      current = [];
      if (items.length >= SELECT_ITEMS_MAX) return null;
      continue;
    }
    current.push(token);
  }
  items.push(shape(current));
  return items;
}

/** The user relations (tables, views, indexes) SQLite holds. */
const RELATIONS = `type IN ('table', 'view', 'index') AND ${userRelationsSql()}`;

function lookup(words: readonly Token[]): CatalogAnswer {
  // SQLite's names are case-insensitive, as the relation lists match them.
  const patterns = relationPatternConditions(words);
  if ('refusal' in patterns) return patterns.refusal;
  const conditions = [RELATIONS, ...patterns.conditions];
  return {
    kind: 'sql',
    sql:
      `SELECT rowid + ${RELATION_OID_BASE} AS oid, 'public' AS nspname, name AS relname FROM sqlite_schema ` +
      `WHERE ${conditions.join(' AND ')} ORDER BY lower(name), name`,
  };
}

/** The `sqlite_schema` row (as `alias`) of `rowid`, if it is a user relation of one of `types`. */
function relationWhere(rowid: number, types: readonly string[], alias = 'sqlite_schema'): string {
  return (
    `${alias}.rowid = ${rowid} AND ${alias}.type IN (${types.map(sqlString).join(', ')}) ` +
    `AND ${userRelationsSql(`${alias}.name`)}`
  );
}

/** Whether table `name` (of sqlite_schema) has foreign keys or is referenced by one. */
const HAS_FOREIGN_KEYS =
  'EXISTS (SELECT 1 FROM pragma_foreign_key_list(name)) OR EXISTS (SELECT 1 FROM sqlite_schema o, ' +
  'pragma_foreign_key_list(o.name) f WHERE o.type = \'table\' AND f."table" = sqlite_schema.name COLLATE NOCASE)';

/** describe.c's first query about the relation: its kind, and which footers to ask for. */
function relationDetails(rowid: number, items: readonly string[]): string | null {
  // psql 15's select list: relchecks … relreplident, amname (15 columns); psql reads them by position.
  if (items.length !== 15) return null;
  return (
    // The table's own CHECK constraints (from its CREATE TABLE text): psql asks for them when some.
    "SELECT CASE WHEN type = 'table' THEN json_array_length(northlight_check_constraints(sql)) ELSE 0 END " +
    "AS relchecks, CASE type WHEN 'table' THEN 'r' WHEN 'view' THEN 'v' ELSE 'i' END AS relkind, " +
    "CASE WHEN type = 'table' THEN 't' ELSE 'f' END AS relhasindex, 'f' AS relhasrules, " +
    // PostgreSQL's foreign keys are triggers: psql then asks for the foreign-key footers.
    `CASE WHEN type = 'table' AND (${HAS_FOREIGN_KEYS}) THEN 't' ELSE 'f' END AS relhastriggers, ` +
    "'f' AS relrowsecurity, 'f' AS relforcerowsecurity, 'f' AS relhasoids, " +
    "'f' AS relispartition, '' AS reloptions, 0 AS reltablespace, '' AS reloftype, " +
    "'p' AS relpersistence, 'd' AS relreplident, " +
    // SQLite stores tables and indexes alike as b-trees (as the relation lists say); a view has no storage.
    "CASE WHEN type <> 'view' THEN 'btree' END AS amname " +
    `FROM sqlite_schema WHERE ${relationWhere(rowid, ['table', 'view', 'index'])}`
  );
}

// ---- columns ----

/**
 * Declared type (upper case, without its modifier) → PostgreSQL's name for it, and its storage
 * (`p` plain for fixed-size types, `m` main for numeric, `x` extended for the rest) as PostgreSQL
 * would show it.
 */
const TYPE_NAMES: readonly (readonly [string, string, string])[] = [
  ['INT', 'integer', 'p'],
  ['INTEGER', 'integer', 'p'],
  ['INT4', 'integer', 'p'],
  ['BIGINT', 'bigint', 'p'],
  ['INT8', 'bigint', 'p'],
  ['SMALLINT', 'smallint', 'p'],
  ['INT2', 'smallint', 'p'],
  ['REAL', 'real', 'p'],
  ['FLOAT4', 'real', 'p'],
  ['FLOAT', 'double precision', 'p'],
  ['FLOAT8', 'double precision', 'p'],
  ['DOUBLE', 'double precision', 'p'],
  ['DOUBLE PRECISION', 'double precision', 'p'],
  ['NUMERIC', 'numeric', 'm'],
  ['DECIMAL', 'numeric', 'm'],
  ['BOOL', 'boolean', 'p'],
  ['BOOLEAN', 'boolean', 'p'],
  ['TEXT', 'text', 'x'],
  ['VARCHAR', 'character varying', 'x'],
  ['CHARACTER VARYING', 'character varying', 'x'],
  ['CHAR', 'character', 'x'],
  ['CHARACTER', 'character', 'x'],
  ['BPCHAR', 'bpchar', 'x'],
  ['NAME', 'name', 'p'],
  ['BYTEA', 'bytea', 'x'],
  ['BLOB', 'bytea', 'x'],
  ['DATE', 'date', 'p'],
  ['TIMESTAMP', 'timestamp without time zone', 'p'],
  ['TIMESTAMPTZ', 'timestamp with time zone', 'p'],
  ['UUID', 'uuid', 'p'],
  ['JSON', 'json', 'x'],
  ['JSONB', 'jsonb', 'x'],
];

const TYPE_NAMES_CTE = `type_names(declared, pg_name, storage) AS (VALUES ${TYPE_NAMES.map(
  (row) => `(${row.map(sqlString).join(', ')})`,
).join(', ')})`;

/**
 * The columns CTE over `columns(position, name, declared, not_null, default_text, is_key,
 * definition)`: each with its declared type split into a base (upper case, single-spaced) and a
 * modifier (`(20)`), and the PostgreSQL name and storage of the base.
 */
export function typedColumns(columnsSql: string): string {
  const base =
    "upper(trim(replace(replace(replace(CASE WHEN instr(declared, '(') > 0 " +
    "THEN substr(declared, 1, instr(declared, '(') - 1) ELSE declared END, '    ', ' '), '  ', ' '), '  ', ' ')))";
  const modifier =
    "CASE WHEN instr(declared, '(') > 0 THEN replace(substr(declared, instr(declared, '(')), ' ', '') ELSE '' END";
  return (
    `WITH ${TYPE_NAMES_CTE}, columns AS (${columnsSql}), ` +
    `split AS (SELECT *, ${base} AS base, ${modifier} AS modifier FROM columns), ` +
    'typed AS (SELECT split.*, coalesce(t.pg_name, lower(split.base)) AS pg_name, ' +
    "coalesce(t.storage, 'x') AS storage FROM split LEFT JOIN type_names t ON t.declared = split.base) "
  );
}

/**
 * A column's default as PostgreSQL shows it: a string literal cast to the column's type
 * (`'none'::character varying`), booleans in lower case, anything else as SQLite keeps it.
 */
export const DEFAULT_SQL =
  "CASE WHEN default_text IS NULL OR upper(default_text) = 'NULL' THEN NULL " +
  "WHEN upper(default_text) IN ('TRUE', 'FALSE') THEN lower(default_text) " +
  "WHEN default_text LIKE '''%' AND pg_name <> '' THEN default_text || '::' || pg_name " +
  'ELSE default_text END';

/** Each select-list item psql's column query may have (by its shape's start) → its SQLite answer. */
const ATTRIBUTE_ITEMS: readonly (readonly [string, string])[] = [
  ['a . attname', 'name AS attname'],
  ['pg_catalog . format_type (', 'pg_name || modifier AS format_type'],
  ['( SELECT pg_catalog . pg_get_expr ( d . adbin', `${DEFAULT_SQL} AS attrdef`],
  ['a . attnotnull', "CASE WHEN not_null THEN 't' ELSE 'f' END AS attnotnull"],
  ['( SELECT c . collname', 'NULL AS attcollation'],
  ['a . attidentity', "'' AS attidentity"],
  ['a . attgenerated', "'' AS attgenerated"],
  [
    'CASE WHEN a . attnum < = ( SELECT i . indnkeyatts',
    "CASE WHEN is_key THEN 'yes' ELSE 'no' END AS is_key",
  ],
  ['pg_catalog . pg_get_indexdef ( a . attrelid , a . attnum', 'definition AS indexdef'],
  ['a . attstorage', 'storage AS attstorage'],
  ['a . attcompression', "'' AS attcompression"],
  ['CASE WHEN a . attstattarget', 'NULL AS attstattarget'],
  ['pg_catalog . col_description (', 'NULL AS col_description'],
];

/**
 * The columns of a table or view (`pragma_table_xinfo`, without a virtual table's hidden columns),
 * or the key columns of an index (`pragma_index_xinfo`; an expression is named `expr`, as
 * PostgreSQL names an expression column it cannot name after a function, and its Definition is the
 * expression from the CREATE INDEX text).
 */
function attributes(rowid: number, items: readonly string[]): string | null {
  const selected = items.map((item) => ATTRIBUTE_ITEMS.find(([prefix]) => item.startsWith(prefix))?.[1]);
  if (selected.some((item) => item === undefined)) return null;
  const isIndex = items.some((item) => item.startsWith('CASE WHEN a . attnum < = ( SELECT i . indnkeyatts'));
  const columns = isIndex ? indexColumns(rowid) : tableColumns(rowid);
  return `${typedColumns(columns)}SELECT ${selected.join(', ')} FROM typed ORDER BY position`;
}

/**
 * Whether a pragma_table_xinfo row `p` of table `s` can hold no NULL beyond its NOT NULL: a primary
 * key column of a WITHOUT ROWID table, or the rowid (a lone INTEGER PRIMARY KEY), where NULL means
 * the next rowid. (PostgreSQL's primary key columns are never NULL; SQLite's other ones may be.)
 */
export const KEY_NOT_NULL_SQL =
  "(p.pk > 0 AND ((SELECT wr FROM pragma_table_list(s.name) WHERE schema = 'main') " +
  "OR (upper(p.type) = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info(s.name) WHERE pk > 0) = 1)))";

function tableColumns(rowid: number): string {
  return (
    'SELECT p.cid AS position, p.name AS name, p.type AS declared, ' +
    `(p."notnull" OR ${KEY_NOT_NULL_SQL}) AS not_null, p.dflt_value AS default_text, 1 AS is_key, ` +
    `${identifierSql('p.name')} AS definition ` +
    'FROM sqlite_schema s, pragma_table_xinfo(s.name) p ' +
    `WHERE ${relationWhere(rowid, ['table', 'view'], 's')} AND p.hidden <> 1`
  );
}

function indexColumns(rowid: number): string {
  // An expression key (cid -2) has no name in the pragma: its definition is its term of the CREATE
  // INDEX text, as PostgreSQL shows the expression (`lower(email)`).
  return (
    `WITH RECURSIVE ${indexTermsCte(rowid)} ` +
    "SELECT x.seqno AS position, coalesce(x.name, 'expr') AS name, p.type AS declared, 0 AS not_null, " +
    `NULL AS default_text, x.key AS is_key, coalesce(${identifierSql('x.name')}, ` +
    "(SELECT term FROM index_terms WHERE number = x.seqno), 'expr') AS definition " +
    'FROM sqlite_schema s, pragma_index_xinfo(s.name) x ' +
    'LEFT JOIN pragma_table_xinfo(s.tbl_name) p ON p.cid = x.cid AND x.cid >= 0 ' +
    `WHERE ${relationWhere(rowid, ['index'], 's')} AND x.key = 1`
  );
}

/**
 * `index_terms(number, term)`: the key terms of an index's CREATE INDEX text, numbered from 0 as
 * `pragma_index_xinfo`'s seqno numbers its keys, each without its ASC/DESC. The list between the
 * parentheses after ON t is split at its top-level commas by a scan of its characters (a comma in
 * a nested call or in a quoted string or name does not split), bounded by the text's length.
 */
function indexTermsCte(rowid: number): string {
  const keys = indexKeysSql('s.name', 's.sql', 'l.partial');
  const character = 'substr(list, position, 1)';
  const splits = `(quote = '' AND depth = 0 AND ${character} = ',')`;
  const last = 'position = length(list)';
  const term = 'trim(term)';
  return (
    `index_keys(list) AS (SELECT substr(${keys}, 2, length(${keys}) - 2) ` +
    'FROM sqlite_schema s, pragma_index_list(s.tbl_name) l ' +
    `WHERE ${relationWhere(rowid, ['index'], 's')} AND l.name = s.name), ` +
    // One row per character: paren depth and open quote after it, the term so far, the number of
    // the term it is in, and the term it ends (at a top-level comma or the last character).
    'scan(position, depth, quote, current, number, term, term_number) AS (' +
    "SELECT 1, 0, '', '', 0, NULL, NULL UNION ALL " +
    'SELECT position + 1, ' +
    `CASE WHEN quote <> '' THEN depth WHEN ${character} = '(' THEN depth + 1 ` +
    `WHEN ${character} = ')' THEN depth - 1 ELSE depth END, ` +
    `CASE WHEN quote <> '' THEN (CASE WHEN ${character} = quote THEN '' ELSE quote END) ` +
    `WHEN ${character} IN ('''', '"', '\`') THEN ${character} WHEN ${character} = '[' THEN ']' ELSE '' END, ` +
    `CASE WHEN ${splits} THEN '' ELSE current || ${character} END, ` +
    `CASE WHEN ${splits} THEN number + 1 ELSE number END, ` +
    `CASE WHEN ${splits} THEN current WHEN ${last} THEN current || ${character} END, ` +
    `CASE WHEN ${splits} OR ${last} THEN number END ` +
    'FROM scan, index_keys WHERE position <= length(list)), ' +
    'index_terms(number, term) AS (SELECT term_number, ' +
    `trim(CASE WHEN upper(${term}) LIKE '% DESC' THEN substr(${term}, 1, length(${term}) - 5) ` +
    `WHEN upper(${term}) LIKE '% ASC' THEN substr(${term}, 1, length(${term}) - 4) ELSE ${term} END) ` +
    'FROM scan WHERE term_number IS NOT NULL)'
  );
}

// ---- indexes ----

/** `text` (an SQL text column) with newlines and tabs as spaces, so keywords can be found by instr. */
function spacedSql(text: string): string {
  return `upper(replace(replace(replace(${text}, char(10), ' '), char(13), ' '), char(9), ' '))`;
}

/** The predicate of a partial index, from its CREATE INDEX text (after ` WHERE `). */
export function predicateSql(sqlText: string): string {
  return `trim(substr(${sqlText}, instr(${spacedSql(sqlText)}, ' WHERE ') + 7))`;
}

/**
 * An index's key columns as PostgreSQL lists them (`(balance DESC, rate)`): from
 * `pragma_index_xinfo`, or, for an index on expressions (which the pragma does not give), the
 * parenthesized list of its CREATE INDEX text.
 */
export function indexKeysSql(indexName: string, sqlText: string, partial: string): string {
  const column =
    `${identifierSql('x.name')} || CASE WHEN x.desc THEN ' DESC' ELSE '' END || ` +
    `CASE WHEN x.coll <> 'BINARY' THEN ' COLLATE "' || x.coll || '"' ELSE '' END`;
  const open = `instr(${sqlText}, '(')`;
  const end = `CASE WHEN ${partial} THEN instr(${spacedSql(sqlText)}, ' WHERE ') ELSE length(${sqlText}) + 1 END`;
  return (
    `CASE WHEN EXISTS (SELECT 1 FROM pragma_index_xinfo(${indexName}) x WHERE x.key AND x.cid = -2) ` +
    `THEN trim(substr(${sqlText}, ${open}, ${end} - ${open})) ` +
    `ELSE '(' || (SELECT group_concat(${column}, ', ' ORDER BY x.seqno) FROM pragma_index_xinfo(${indexName}) x ` +
    "WHERE x.key) || ')' END"
  );
}

/**
 * The indexes of the tables of a CTE `relation(name)`, as PostgreSQL names them:
 * `(table_name, name, is_primary, is_unique, origin, keys, index_name)`, `keys` the parenthesized key
 * list (and ` WHERE …` of a partial index), `index_name` SQLite's name of the index (NULL for a rowid). A rowid table's INTEGER PRIMARY KEY is the table's own b-tree, not
 * an index, and is listed as PostgreSQL lists a primary key; a key's index is named as PostgreSQL
 * names the constraint (catalog-constraints.ts).
 */
export function relationIndexesSql(): string {
  const keys = indexKeysSql('l.name', 'i.sql', 'l.partial');
  const rowidKey =
    "'(' || (SELECT group_concat(" +
    identifierSql('p.name') +
    ", ', ' ORDER BY p.pk) FROM pragma_table_info(r.name) p WHERE p.pk > 0) || ')'";
  return (
    `SELECT r.name AS table_name, CASE l.origin WHEN 'u' THEN ${uniqueConstraintNameSql('r.name', 'l.name')} ` +
    `WHEN 'pk' THEN ${primaryKeyNameSql('r.name')} ELSE l.name END AS name, ` +
    'l.origin = \'pk\' AS is_primary, l."unique" AS is_unique, l.origin AS origin, ' +
    `${keys} || CASE WHEN l.partial THEN ' WHERE ' || ${predicateSql('i.sql')} ELSE '' END AS keys, ` +
    'l.name AS index_name ' +
    "FROM relation r, pragma_index_list(r.name) l LEFT JOIN sqlite_schema i ON i.type = 'index' AND i.name = l.name " +
    `UNION ALL SELECT r.name, ${primaryKeyNameSql('r.name')}, 1, 1, 'pk', ${rowidKey}, NULL FROM relation r ` +
    'WHERE EXISTS (SELECT 1 FROM pragma_table_info(r.name) WHERE pk > 0) ' +
    "AND NOT EXISTS (SELECT 1 FROM pragma_index_list(r.name) WHERE origin = 'pk')"
  );
}

/**
 * A table's indexes, as psql 15 asks for them (12 columns, read by position): psql prints each as
 * `"name" PRIMARY KEY, btree (id)` / `UNIQUE CONSTRAINT,` (a UNIQUE column or table constraint) /
 * `UNIQUE,` (CREATE UNIQUE INDEX), then the index definition after its ` USING `.
 */
function tableIndexes(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 12) return null;
  const indexes = relationIndexesSql();
  return (
    `WITH relation AS (SELECT name FROM sqlite_schema WHERE ${relationWhere(rowid, ['table'])}), ` +
    `indexes AS (${indexes}) ` +
    "SELECT name AS relname, CASE WHEN is_primary THEN 't' ELSE 'f' END AS indisprimary, " +
    "CASE WHEN is_unique THEN 't' ELSE 'f' END AS indisunique, 'f' AS indisclustered, 't' AS indisvalid, " +
    "'CREATE ' || CASE WHEN is_unique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || name || ' USING btree ' || keys " +
    'AS pg_get_indexdef, NULL AS pg_get_constraintdef, ' +
    "CASE origin WHEN 'pk' THEN 'p' WHEN 'u' THEN 'u' END AS contype, 'f' AS condeferrable, " +
    "'f' AS condeferred, 'f' AS indisreplident, 0 AS reltablespace " +
    'FROM indexes ORDER BY is_primary DESC, name'
  );
}

/** An index's own footer (`unique, btree, for table "public.t", predicate (…)`), as psql 15 asks. */
function indexDetails(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 11) return null;
  return (
    "SELECT CASE WHEN l.\"unique\" THEN 't' ELSE 'f' END AS indisunique, " +
    "CASE WHEN l.origin = 'pk' THEN 't' ELSE 'f' END AS indisprimary, 'f' AS indisclustered, " +
    "'t' AS indisvalid, 'f' AS condeferrable, 'f' AS condeferred, 'f' AS indisreplident, " +
    "'f' AS indnullsnotdistinct, 'btree' AS amname, s.tbl_name AS relname, " +
    `CASE WHEN l.partial THEN ${predicateSql('s.sql')} END AS pg_get_expr ` +
    'FROM sqlite_schema s, pragma_index_list(s.tbl_name) l ' +
    `WHERE ${relationWhere(rowid, ['index'], 's')} AND l.name = s.name`
  );
}

/** A view's definition from its CREATE VIEW text (`sql`): its SELECT, as PostgreSQL ends it (`;`). */
export function viewDefinitionSql(sqlText: string): string {
  return `' ' || trim(substr(${sqlText}, instr(${spacedSql(sqlText)}, ' AS ') + 4)) || ';'`;
}

/** A view's definition (`\d+`). */
function viewDefinition(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 1) return null;
  return (
    `SELECT ${viewDefinitionSql('sql')} AS pg_get_viewdef ` +
    `FROM sqlite_schema WHERE ${relationWhere(rowid, ['view'])}`
  );
}

/** The table's foreign keys (`Foreign-key constraints:`): sametable, conname, condef, ontable. */
function foreignKeys(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 4) return null;
  return (
    `WITH ${constraintsCtes()} SELECT 't' AS sametable, constraint_name AS conname, definition AS condef, ` +
    `table_name AS ontable FROM foreign_keys WHERE table_name = (SELECT name FROM sqlite_schema ` +
    `WHERE ${relationWhere(rowid, ['table'])}) ORDER BY conname`
  );
}

/** The table's CHECK constraints (`Check constraints:`): conname, pg_get_constraintdef. */
function checkConstraints(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 2) return null;
  // `((a > 0))` in information_schema's parentheses; psql shows one pair: `CHECK (a > 0)`.
  return (
    `WITH ${constraintsCtes()} SELECT constraint_name AS conname, ` +
    "'CHECK ' || substr(check_clause, 2, length(check_clause) - 2) AS pg_get_constraintdef " +
    `FROM checks WHERE table_name = (SELECT name FROM sqlite_schema WHERE ${relationWhere(rowid, ['table'])}) ` +
    'ORDER BY conname'
  );
}

/** The foreign keys of other tables (and its own) that reference the table (`Referenced by:`). */
function referencedBy(rowid: number, items: readonly string[]): string | null {
  if (items.length !== 3) return null;
  return (
    `WITH ${constraintsCtes()} SELECT constraint_name AS conname, table_name AS ontable, definition AS condef ` +
    `FROM foreign_keys WHERE ref_table = (SELECT name FROM sqlite_schema WHERE ${relationWhere(rowid, ['table'])}) ` +
    'COLLATE NOCASE ORDER BY conname'
  );
}

function noRows(_rowid: number, items: readonly string[]): string {
  return `SELECT ${items.map((_, index) => `NULL AS "${index + 1}"`).join(', ')} WHERE 0`;
}
