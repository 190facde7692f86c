/**
 * The catalog views migration tools, ORMs and schema browsers read, as derived tables over SQLite's
 * catalog: `information_schema.tables`, `.columns`, `.schemata`, `.views`, `.table_constraints`,
 * `.key_column_usage`, `.constraint_column_usage`, `.referential_constraints`, `.check_constraints`
 * and `.sequences`, and
 * `pg_catalog.pg_tables`, `pg_views`, `pg_indexes` and `pg_namespace`. They are how tools ask whether a
 * table or a column exists (Knex's `hasTable` and `hasColumn`, Sequelize's `showAllTables`,
 * hand-written `IF NOT EXISTS` checks) and what its keys are (an ORM's schema introspection):
 *
 *     select * from information_schema.tables where table_name = $1 and table_schema = current_schema()
 *
 * Each reference to one of them is replaced by a parenthesized SELECT with PostgreSQL's columns (the
 * ones tools read; see docs/clients.md), aliased by the view's name unless the query gives an alias,
 * and the rest of the query is translated as usual (`$n`, `current_schema()`, casts). The one schema
 * is `public`, the one catalog the session's database; the user's tables and views are listed, not
 * SQLite's own (`sqlite_%`) nor PostgreSQL's system views. Column types are PostgreSQL's names for
 * the declared types, as psql's `\d` shows them (`psql-describe.ts`); constraints are named as
 * PostgreSQL names them (`catalog-constraints.ts`).
 *
 * Pure code over the lexer's tokens, called by catalog.ts when a query names a catalog relation.
 */
import { constraintsCtes, PUBLIC_NAMESPACE_OID } from './catalog-constraints.js';
import {
  DEFAULT_SQL,
  KEY_NOT_NULL_SQL,
  relationIndexesSql,
  typedColumns,
  viewDefinitionSql,
} from './psql-describe.js';
import { catalogWord, identifierSql, sqlString, userRelationsSql } from './psql-patterns.js';
import type { SessionFacts, Token } from './sql.js';
import { aliasStops } from './statement-rewrites.js';

/** `pg_catalog.current_user` and its kin: names the translation answers, not relations. */
export const SESSION_NAMES = new Set(['CURRENT_USER', 'SESSION_USER']);

/** PostgreSQL's internal name of each type (`udt_name`), by its SQL name (`data_type`). */
const UDT_NAMES: Readonly<Record<string, string>> = {
  integer: 'int4',
  bigint: 'int8',
  smallint: 'int2',
  real: 'float4',
  'double precision': 'float8',
  numeric: 'numeric',
  boolean: 'bool',
  text: 'text',
  'character varying': 'varchar',
  character: 'bpchar',
  bpchar: 'bpchar',
  name: 'name',
  bytea: 'bytea',
  date: 'date',
  'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamptz',
  uuid: 'uuid',
  json: 'json',
  jsonb: 'jsonb',
};

/** Binary precision of the integer and floating-point types (`numeric_precision`, radix 2). */
const BINARY_PRECISION: Readonly<Record<string, number>> = {
  smallint: 16,
  integer: 32,
  bigint: 64,
  real: 24,
  'double precision': 53,
};

function caseOf(
  expression: string,
  values: Readonly<Record<string, string | number>>,
  otherwise: string,
): string {
  const arms = Object.entries(values).map(
    ([key, value]) => `WHEN ${sqlString(key)} THEN ${typeof value === 'number' ? value : sqlString(value)}`,
  );
  return `CASE ${expression} ${arms.join(' ')} ELSE ${otherwise} END`;
}

/** The first number of a type modifier `(20)` / `(10,2)`, or the second with `second`. */
function modifierNumber(second: boolean): string {
  const inner = 'substr(modifier, 2, length(modifier) - 2)';
  return second
    ? `CASE WHEN instr(${inner}, ',') > 0 THEN CAST(substr(${inner}, instr(${inner}, ',') + 1) AS INTEGER) END`
    : `CASE WHEN modifier <> '' THEN CAST(CASE WHEN instr(${inner}, ',') > 0 THEN substr(${inner}, 1, instr(${inner}, ',') - 1) ELSE ${inner} END AS INTEGER) END`;
}

function tablesSql(facts: SessionFacts): string {
  return (
    `(SELECT ${sqlString(facts.database)} AS table_catalog, 'public' AS table_schema, name AS table_name, ` +
    "CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type, " +
    'NULL AS self_referencing_column_name, NULL AS reference_generation, NULL AS user_defined_type_catalog, ' +
    'NULL AS user_defined_type_schema, NULL AS user_defined_type_name, ' +
    "CASE type WHEN 'view' THEN 'NO' ELSE 'YES' END AS is_insertable_into, 'NO' AS is_typed, " +
    'NULL AS commit_action ' +
    `FROM sqlite_schema WHERE type IN ('table', 'view') AND ${userRelationsSql()})`
  );
}

function columnsSql(facts: SessionFacts): string {
  const columns =
    'SELECT s.name AS table_name, s.type AS table_kind, p.cid AS position, p.name AS name, p.type AS declared, ' +
    `(p."notnull" OR ${KEY_NOT_NULL_SQL}) AS not_null, p.dflt_value AS default_text, p.hidden AS hidden ` +
    "FROM sqlite_schema s, pragma_table_xinfo(s.name) p WHERE s.type IN ('table', 'view') " +
    `AND ${userRelationsSql('s.name')} AND p.hidden <> 1`;
  const dataType = "CASE WHEN pg_name = '' THEN 'text' ELSE pg_name END";
  const characterTypes = "pg_name IN ('character varying', 'character', 'bpchar')";
  return (
    `(${typedColumns(columns)}` +
    `SELECT ${sqlString(facts.database)} AS table_catalog, 'public' AS table_schema, table_name, ` +
    `name AS column_name, CAST(position + 1 AS INTEGER) AS ordinal_position, ${DEFAULT_SQL} AS column_default, ` +
    "CASE WHEN not_null THEN 'NO' ELSE 'YES' END AS is_nullable, " +
    `${dataType} AS data_type, ` +
    `CAST(CASE WHEN ${characterTypes} THEN ${modifierNumber(false)} END AS INTEGER) AS character_maximum_length, ` +
    `CAST(CASE WHEN ${characterTypes} THEN ${modifierNumber(false)} * 4 END AS INTEGER) AS character_octet_length, ` +
    `CAST(${caseOf('pg_name', BINARY_PRECISION, `CASE WHEN pg_name = 'numeric' THEN ${modifierNumber(false)} END`)} AS INTEGER) AS numeric_precision, ` +
    `CAST(${caseOf('pg_name', Object.fromEntries(Object.keys(BINARY_PRECISION).map((name) => [name, 2])), "CASE WHEN pg_name = 'numeric' THEN 10 END")} AS INTEGER) AS numeric_precision_radix, ` +
    "CAST(CASE WHEN pg_name IN ('smallint', 'integer', 'bigint') THEN 0 " +
    `WHEN pg_name = 'numeric' THEN ${modifierNumber(true)} END AS INTEGER) AS numeric_scale, ` +
    "CAST(CASE WHEN pg_name IN ('date', 'timestamp without time zone', 'timestamp with time zone') THEN 6 END AS INTEGER) AS datetime_precision, " +
    `${sqlString(facts.database)} AS udt_catalog, 'pg_catalog' AS udt_schema, ` +
    `${caseOf(dataType, UDT_NAMES, dataType)} AS udt_name, ` +
    "'NO' AS is_identity, CASE WHEN hidden IN (2, 3) THEN 'ALWAYS' ELSE 'NEVER' END AS is_generated, " +
    "CASE WHEN table_kind = 'view' THEN 'NO' ELSE 'YES' END AS is_updatable " +
    'FROM typed)'
  );
}

function schemataSql(facts: SessionFacts): string {
  return (
    `(SELECT ${sqlString(facts.database)} AS catalog_name, 'public' AS schema_name, ` +
    `${sqlString(facts.user)} AS schema_owner, NULL AS default_character_set_catalog, ` +
    'NULL AS default_character_set_schema, NULL AS default_character_set_name, NULL AS sql_path)'
  );
}

function constraintsView(select: string): string {
  return `(WITH ${constraintsCtes()} ${select})`;
}

function tableConstraintsSql(facts: SessionFacts): string {
  const database = sqlString(facts.database);
  return constraintsView(
    `SELECT ${database} AS constraint_catalog, 'public' AS constraint_schema, constraint_name, ` +
      `${database} AS table_catalog, 'public' AS table_schema, table_name, constraint_type, ` +
      "'NO' AS is_deferrable, 'NO' AS initially_deferred, 'YES' AS enforced, " +
      "CASE WHEN constraint_type = 'UNIQUE' THEN 'YES' END AS nulls_distinct FROM constraints",
  );
}

function keyColumnUsageSql(facts: SessionFacts): string {
  const database = sqlString(facts.database);
  return constraintsView(
    `SELECT ${database} AS constraint_catalog, 'public' AS constraint_schema, constraint_name, ` +
      `${database} AS table_catalog, 'public' AS table_schema, table_name, column_name, ` +
      'CAST(ordinal_position AS INTEGER) AS ordinal_position, ' +
      'CAST(position_in_unique_constraint AS INTEGER) AS position_in_unique_constraint FROM key_columns',
  );
}

/** A key's own columns; a foreign key's are the columns it references, as PostgreSQL lists them. */
function constraintColumnUsageSql(facts: SessionFacts): string {
  const database = sqlString(facts.database);
  return constraintsView(
    `SELECT ${database} AS table_catalog, 'public' AS table_schema, coalesce(ref_table, table_name) AS table_name, ` +
      `coalesce(ref_column, column_name) AS column_name, ${database} AS constraint_catalog, ` +
      "'public' AS constraint_schema, constraint_name FROM key_columns",
  );
}

/**
 * The CHECK constraints: the table's own (their clause as written, in PostgreSQL's double
 * parentheses, not deparsed) and the NOT NULL ones PostgreSQL 15 lists too (`a IS NOT NULL`).
 */
function checkConstraintsSql(facts: SessionFacts): string {
  const database = sqlString(facts.database);
  return constraintsView(
    `SELECT ${database} AS constraint_catalog, 'public' AS constraint_schema, constraint_name, check_clause ` +
      'FROM checks UNION ALL ' +
      `SELECT ${database}, 'public', n.constraint_name, p.name || ' IS NOT NULL' ` +
      'FROM not_nulls n, pragma_table_info(n.table_name) p WHERE p.cid = n.position',
  );
}

function referentialConstraintsSql(facts: SessionFacts): string {
  const database = sqlString(facts.database);
  return constraintsView(
    `SELECT ${database} AS constraint_catalog, 'public' AS constraint_schema, constraint_name, ` +
      `${database} AS unique_constraint_catalog, 'public' AS unique_constraint_schema, unique_constraint_name, ` +
      "'NONE' AS match_option, update_rule, delete_rule FROM foreign_keys",
  );
}

/** SQLite's views are read-only (an INSTEAD OF trigger aside): not updatable, not insertable. */
function viewsSql(facts: SessionFacts): string {
  return (
    `(SELECT ${sqlString(facts.database)} AS table_catalog, 'public' AS table_schema, name AS table_name, ` +
    `${viewDefinitionSql('sql')} AS view_definition, 'NONE' AS check_option, 'NO' AS is_updatable, ` +
    "'NO' AS is_insertable_into, 'NO' AS is_trigger_updatable, 'NO' AS is_trigger_deletable, " +
    `'NO' AS is_trigger_insertable_into FROM sqlite_schema WHERE type = 'view' AND ${userRelationsSql()})`
  );
}

/** SQLite has no sequences (a SERIAL column is the rowid): the view has PostgreSQL's columns, no rows. */
function sequencesSql(): string {
  const columns = [
    'sequence_catalog',
    'sequence_schema',
    'sequence_name',
    'data_type',
    'numeric_precision',
    'numeric_precision_radix',
    'numeric_scale',
    'start_value',
    'minimum_value',
    'maximum_value',
    'increment',
    'cycle_option',
  ];
  return `(SELECT ${columns.map((column) => `NULL AS ${column}`).join(', ')} WHERE 0)`;
}

// ---- pg_catalog ----

function pgTablesSql(facts: SessionFacts): string {
  const hasIndexes =
    'EXISTS (SELECT 1 FROM pragma_index_list(s.name)) OR EXISTS (SELECT 1 FROM pragma_table_info(s.name) WHERE pk > 0)';
  // PostgreSQL's foreign keys are triggers, on the referencing and the referenced table alike.
  const hasTriggers =
    "EXISTS (SELECT 1 FROM sqlite_schema t WHERE t.type = 'trigger' AND t.tbl_name = s.name COLLATE NOCASE) " +
    'OR EXISTS (SELECT 1 FROM pragma_foreign_key_list(s.name)) ' +
    "OR EXISTS (SELECT 1 FROM sqlite_schema o, pragma_foreign_key_list(o.name) f WHERE o.type = 'table' " +
    'AND f."table" = s.name COLLATE NOCASE)';
  return (
    `(SELECT 'public' AS schemaname, s.name AS tablename, ${sqlString(facts.user)} AS tableowner, ` +
    `NULL AS tablespace, CAST(${hasIndexes} AS BOOLEAN) AS hasindexes, CAST(0 AS BOOLEAN) AS hasrules, ` +
    `CAST(${hasTriggers} AS BOOLEAN) AS hastriggers, CAST(0 AS BOOLEAN) AS rowsecurity ` +
    `FROM sqlite_schema s WHERE s.type = 'table' AND ${userRelationsSql('s.name')})`
  );
}

function pgViewsSql(facts: SessionFacts): string {
  return (
    `(SELECT 'public' AS schemaname, name AS viewname, ${sqlString(facts.user)} AS viewowner, ` +
    `${viewDefinitionSql('sql')} AS definition FROM sqlite_schema WHERE type = 'view' AND ${userRelationsSql()})`
  );
}

/** `CREATE [UNIQUE] INDEX name ON public.table USING btree (keys)`, as pg_get_indexdef writes it. */
function pgIndexesSql(): string {
  const definition =
    "'CREATE ' || CASE WHEN is_unique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || " +
    `${identifierSql('name')} || ' ON public.' || ${identifierSql('table_name')} || ' USING btree ' || keys`;
  return (
    `(WITH relation AS (SELECT name FROM sqlite_schema WHERE type = 'table' AND ${userRelationsSql()}), ` +
    `indexes AS (${relationIndexesSql()}) ` +
    "SELECT 'public' AS schemaname, table_name AS tablename, name AS indexname, NULL AS tablespace, " +
    `${definition} AS indexdef FROM indexes)`
  );
}

/** PostgreSQL 15's four namespaces and their OIDs; `public` is the one that holds anything here. */
function pgNamespaceSql(): string {
  const rows = [
    [99, 'pg_toast'],
    [11, 'pg_catalog'],
    [PUBLIC_NAMESPACE_OID, 'public'],
    [13_207, 'information_schema'],
  ] as const;
  return `(${rows
    .map(
      ([oid, name]) =>
        `SELECT CAST(${oid} AS INTEGER) AS oid, ${sqlString(name)} AS nspname, CAST(10 AS INTEGER) AS nspowner, NULL AS nspacl`,
    )
    .join(' UNION ALL ')})`;
}

/**
 * PostgreSQL 15's rows of pg_type for the types the wire protocol sends (types.ts) and their arrays:
 * oid, typname, typlen, typbyval, typtype, typcategory, typispreferred, typelem, typarray — what
 * clients read at connect (Sequelize's type OIDs) and to name a column's type.
 */
const PG_TYPES: readonly (readonly [
  number,
  string,
  number,
  boolean,
  string,
  string,
  boolean,
  number,
  number,
])[] = [
  [16, 'bool', 1, true, 'b', 'B', true, 0, 1000],
  [17, 'bytea', -1, false, 'b', 'U', false, 0, 1001],
  [18, 'char', 1, true, 'b', 'Z', false, 0, 1002],
  [19, 'name', 64, false, 'b', 'S', false, 18, 1003],
  [20, 'int8', 8, true, 'b', 'N', false, 0, 1016],
  [21, 'int2', 2, true, 'b', 'N', false, 0, 1005],
  [23, 'int4', 4, true, 'b', 'N', false, 0, 1007],
  [25, 'text', -1, false, 'b', 'S', true, 0, 1009],
  [26, 'oid', 4, true, 'b', 'N', true, 0, 1028],
  [114, 'json', -1, false, 'b', 'U', false, 0, 199],
  [199, '_json', -1, false, 'b', 'A', false, 114, 0],
  [700, 'float4', 4, true, 'b', 'N', false, 0, 1021],
  [701, 'float8', 8, true, 'b', 'N', true, 0, 1022],
  [1000, '_bool', -1, false, 'b', 'A', false, 16, 0],
  [1001, '_bytea', -1, false, 'b', 'A', false, 17, 0],
  [1002, '_char', -1, false, 'b', 'A', false, 18, 0],
  [1003, '_name', -1, false, 'b', 'A', false, 19, 0],
  [1005, '_int2', -1, false, 'b', 'A', false, 21, 0],
  [1007, '_int4', -1, false, 'b', 'A', false, 23, 0],
  [1009, '_text', -1, false, 'b', 'A', false, 25, 0],
  [1014, '_bpchar', -1, false, 'b', 'A', false, 1042, 0],
  [1015, '_varchar', -1, false, 'b', 'A', false, 1043, 0],
  [1016, '_int8', -1, false, 'b', 'A', false, 20, 0],
  [1021, '_float4', -1, false, 'b', 'A', false, 700, 0],
  [1022, '_float8', -1, false, 'b', 'A', false, 701, 0],
  [1028, '_oid', -1, false, 'b', 'A', false, 26, 0],
  [1042, 'bpchar', -1, false, 'b', 'S', false, 0, 1014],
  [1043, 'varchar', -1, false, 'b', 'S', false, 0, 1015],
  [1082, 'date', 4, true, 'b', 'D', false, 0, 1182],
  [1083, 'time', 8, true, 'b', 'D', false, 0, 1183],
  [1114, 'timestamp', 8, true, 'b', 'D', false, 0, 1115],
  [1115, '_timestamp', -1, false, 'b', 'A', false, 1114, 0],
  [1182, '_date', -1, false, 'b', 'A', false, 1082, 0],
  [1183, '_time', -1, false, 'b', 'A', false, 1083, 0],
  [1184, 'timestamptz', 8, true, 'b', 'D', true, 0, 1185],
  [1185, '_timestamptz', -1, false, 'b', 'A', false, 1184, 0],
  [1186, 'interval', 16, false, 'b', 'T', true, 0, 1187],
  [1187, '_interval', -1, false, 'b', 'A', false, 1186, 0],
  [1231, '_numeric', -1, false, 'b', 'A', false, 1700, 0],
  [1700, 'numeric', -1, false, 'b', 'N', false, 0, 1231],
  [2278, 'void', 4, true, 'p', 'P', false, 0, 0],
  [2950, 'uuid', 16, false, 'b', 'U', false, 0, 2951],
  [2951, '_uuid', -1, false, 'b', 'A', false, 2950, 0],
  [3802, 'jsonb', -1, false, 'b', 'U', false, 0, 3807],
  [3807, '_jsonb', -1, false, 'b', 'A', false, 3802, 0],
];

function pgTypeSql(): string {
  const rows = PG_TYPES.map(
    ([oid, name, length, byValue, type, category, preferred, element, array]) =>
      `SELECT ${oid} AS oid, ${sqlString(name)} AS typname, 11 AS typnamespace, 10 AS typowner, ` +
      `${length} AS typlen, ${byValue ? 1 : 0} AS typbyval, ${sqlString(type)} AS typtype, ` +
      `${sqlString(category)} AS typcategory, ${preferred ? 1 : 0} AS typispreferred, 1 AS typisdefined, ` +
      `',' AS typdelim, 0 AS typrelid, ${element} AS typelem, ${array} AS typarray, 0 AS typnotnull, ` +
      `0 AS typbasetype, -1 AS typtypmod, 0 AS typndims, ` +
      `CASE WHEN ${sqlString(name)} IN ('text', 'varchar', 'bpchar', 'name', '_text', '_varchar', '_bpchar', '_name') THEN 100 ELSE 0 END AS typcollation`,
  );
  return `(${rows.join(' UNION ALL ')})`;
}

/** A catalog with PostgreSQL's columns and no rows (SQLite has no range types, enums, comments). */
function emptyView(columns: readonly string[]): () => string {
  return () => `(SELECT ${columns.map((column) => `NULL AS ${column}`).join(', ')} WHERE 0)`;
}

interface CatalogView {
  readonly sql: (facts: SessionFacts) => string;
  /**
   * Declared types of columns SQLite types otherwise: booleans (SQLite's 0 and 1, typed bool), and
   * the integers of a UNION (see `CatalogAnswer`).
   */
  readonly types?: Readonly<Record<string, string>>;
}

const BOOLEAN = 'BOOLEAN';

/** The views each catalog schema has here, by upper-case name. */
const VIEWS: Readonly<Record<string, Readonly<Record<string, CatalogView>>>> = {
  INFORMATION_SCHEMA: {
    TABLES: { sql: tablesSql },
    COLUMNS: { sql: columnsSql },
    SCHEMATA: { sql: schemataSql },
    VIEWS: { sql: viewsSql },
    TABLE_CONSTRAINTS: { sql: tableConstraintsSql },
    KEY_COLUMN_USAGE: { sql: keyColumnUsageSql },
    CONSTRAINT_COLUMN_USAGE: { sql: constraintColumnUsageSql },
    REFERENTIAL_CONSTRAINTS: { sql: referentialConstraintsSql },
    CHECK_CONSTRAINTS: { sql: checkConstraintsSql },
    SEQUENCES: { sql: sequencesSql },
  },
  PG_CATALOG: {
    PG_TABLES: {
      sql: pgTablesSql,
      types: { hasindexes: BOOLEAN, hasrules: BOOLEAN, hastriggers: BOOLEAN, rowsecurity: BOOLEAN },
    },
    PG_VIEWS: { sql: pgViewsSql },
    PG_INDEXES: { sql: pgIndexesSql },
    PG_NAMESPACE: { sql: pgNamespaceSql, types: { oid: 'INTEGER', nspowner: 'INTEGER' } },
    PG_TYPE: {
      sql: pgTypeSql,
      types: {
        oid: 'INTEGER',
        typnamespace: 'INTEGER',
        typowner: 'INTEGER',
        typlen: 'SMALLINT',
        typbyval: BOOLEAN,
        typispreferred: BOOLEAN,
        typisdefined: BOOLEAN,
        typrelid: 'INTEGER',
        typelem: 'INTEGER',
        typarray: 'INTEGER',
        typnotnull: BOOLEAN,
        typbasetype: 'INTEGER',
        typtypmod: 'INTEGER',
        typndims: 'INTEGER',
        typcollation: 'INTEGER',
      },
    },
    PG_RANGE: {
      sql: emptyView([
        'rngtypid',
        'rngsubtype',
        'rngmultitypid',
        'rngcollation',
        'rngsubopc',
        'rngcanonical',
        'rngsubdiff',
      ]),
    },
    PG_ENUM: { sql: emptyView(['oid', 'enumtypid', 'enumsortorder', 'enumlabel']) },
    PG_DESCRIPTION: { sql: emptyView(['objoid', 'classoid', 'objsubid', 'description']) },
    // Read for comments beside pg_description (Sequelize's describeTable): no statistics here.
    PG_STATIO_ALL_TABLES: {
      sql: emptyView([
        'relid',
        'schemaname',
        'relname',
        'heap_blks_read',
        'heap_blks_hit',
        'idx_blks_read',
        'idx_blks_hit',
        'toast_blks_read',
        'toast_blks_hit',
        'tidx_blks_read',
        'tidx_blks_hit',
      ]),
    },
  },
};

/** Whether `schema.name` (both upper case) is a view this module has. */
export function hasCatalogView(schema: string, name: string): boolean {
  return VIEWS[schema]?.[name] !== undefined;
}

/**
 * The pg_catalog views found without their schema (`FROM pg_tables`): PostgreSQL searches
 * pg_catalog first, so these names always mean its views.
 */
export const UNQUALIFIED_CATALOG_VIEWS: ReadonlySet<string> = new Set(Object.keys(VIEWS.PG_CATALOG ?? {}));

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  for (let index = from; index < tokens.length; index++)
    if (isSignificant(tokens[index] as Token)) return index;
  return -1;
}

/** A catalog query with its views replaced, and the declared types of those views' columns. */
export interface CatalogViewsQuery {
  readonly tokens: Token[];
  readonly types: ReadonlyMap<string, string>;
}

function previousSignificant(tokens: readonly Token[], before: number): Token | undefined {
  for (let index = before - 1; index >= 0; index--) {
    const token = tokens[index] as Token;
    if (isSignificant(token)) return token;
  }
  return undefined;
}

/**
 * The tokens with each catalog view this module has (`information_schema.tables`, `pg_indexes`…)
 * replaced by its derived table; null when the query names another catalog relation (which
 * catalog.ts refuses) or none. An unqualified `pg_tables`, `pg_views`, `pg_indexes` or
 * `pg_namespace` is the view where a relation goes (after FROM or JOIN).
 */
export function withCatalogViews(tokens: readonly Token[], facts: SessionFacts): CatalogViewsQuery | null {
  const out: Token[] = [];
  const types = new Map<string, string>();
  let replaced = 0;
  const replace = (view: CatalogView, name: Token, nameIndex: number): void => {
    const after = nextSignificant(tokens, nameIndex + 1);
    const follower = after < 0 ? undefined : (tokens[after] as Token);
    const aliased =
      follower !== undefined &&
      (follower.kind === 'quoted-identifier' ||
        (follower.kind === 'identifier' && !aliasStops.has(follower.text.toUpperCase())));
    const sql = view.sql(facts) + (aliased ? '' : ` AS ${name.text.toLowerCase()}`);
    out.push({ kind: 'punctuation', text: sql });
    for (const [column, declared] of Object.entries(view.types ?? {})) types.set(column, declared);
    replaced += 1;
  };
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    const upper = catalogWord(token);
    const schema = upper === 'INFORMATION_SCHEMA' || upper === 'PG_CATALOG' ? VIEWS[upper] : undefined;
    if (schema !== undefined) {
      const dot = nextSignificant(tokens, index + 1);
      if (dot < 0 || tokens[dot]?.text !== '.') {
        out.push(token);
        continue;
      }
      const nameIndex = nextSignificant(tokens, dot + 1);
      const name = nameIndex < 0 ? undefined : tokens[nameIndex];
      // `pg_catalog.version()`, `pg_catalog.current_user` and the like: the translation's business.
      const after = nameIndex < 0 ? -1 : nextSignificant(tokens, nameIndex + 1);
      if (
        name === undefined ||
        tokens[after]?.text === '(' ||
        (upper === 'PG_CATALOG' && SESSION_NAMES.has(name.text.toUpperCase()))
      ) {
        out.push(token);
        continue;
      }
      const view = schema[catalogWord(name)];
      if (view === undefined) return null;
      replace(view, name, nameIndex);
      index = nameIndex;
      continue;
    }
    if (UNQUALIFIED_CATALOG_VIEWS.has(upper)) {
      const before = previousSignificant(tokens, index);
      const after = nextSignificant(tokens, index + 1);
      const where = before?.kind === 'identifier' ? before.text.toUpperCase() : '';
      if (
        (where === 'FROM' || where === 'JOIN') &&
        tokens[after]?.text !== '(' &&
        tokens[after]?.text !== '.'
      ) {
        replace(VIEWS.PG_CATALOG?.[upper] as CatalogView, token, index);
        continue;
      }
    }
    out.push(token);
  }
  return replaced > 0 ? { tokens: out, types } : null;
}
