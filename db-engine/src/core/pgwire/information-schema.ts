/**
 * `information_schema.tables`, `.columns` and `.schemata`, as derived tables over SQLite's catalog.
 * They are how migration tools and ORMs ask whether a table or a column exists (Knex's `hasTable` and
 * `hasColumn`, Sequelize's `showAllTables`, hand-written `IF NOT EXISTS` checks):
 *
 *     select * from information_schema.tables where table_name = $1 and table_schema = current_schema()
 *
 * Each reference to one of them is replaced by a parenthesized SELECT with PostgreSQL's columns (the
 * ones tools read; see docs/clients.md), aliased by the view's name unless the query gives an alias,
 * and the rest of the query is translated as usual (`$n`, `current_schema()`, casts). The one schema
 * is `public`, the one catalog the session's database; the user's tables and views are listed, not
 * SQLite's own (`sqlite_%`) nor PostgreSQL's system views. Column types are PostgreSQL's names for
 * the declared types, as psql's `\d` shows them (`psql-describe.ts`).
 *
 * Pure code over the lexer's tokens, called by catalog.ts when a query names a catalog relation.
 */
import { DEFAULT_SQL, KEY_NOT_NULL_SQL, typedColumns } from './psql-describe.js';
import { sqlString, userRelationsSql } from './psql-patterns.js';
import type { SessionFacts, Token } from './sql.js';
import { aliasStops } from './statement-rewrites.js';

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

const VIEWS: Readonly<Record<string, (facts: SessionFacts) => string>> = {
  TABLES: tablesSql,
  COLUMNS: columnsSql,
  SCHEMATA: schemataSql,
};

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  for (let index = from; index < tokens.length; index++)
    if (isSignificant(tokens[index] as Token)) return index;
  return -1;
}

/**
 * The tokens with each `information_schema.tables` / `.columns` / `.schemata` replaced by its derived
 * table; null when the query names another catalog relation (which catalog.ts refuses) or none.
 */
export function withInformationSchema(tokens: readonly Token[], facts: SessionFacts): Token[] | null {
  const out: Token[] = [];
  let replaced = 0;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    const upper = token.kind === 'identifier' ? token.text.toUpperCase() : '';
    if (upper === 'INFORMATION_SCHEMA' || upper === 'PG_CATALOG') {
      const dot = nextSignificant(tokens, index + 1);
      if (dot < 0 || tokens[dot]?.text !== '.') {
        out.push(token);
        continue;
      }
      const nameIndex = nextSignificant(tokens, dot + 1);
      const name = nameIndex < 0 ? undefined : tokens[nameIndex];
      // `pg_catalog.version()` and the like: functions, the translation's business.
      const after = nameIndex < 0 ? -1 : nextSignificant(tokens, nameIndex + 1);
      if (upper === 'PG_CATALOG' || name === undefined || tokens[after]?.text === '(') {
        if (upper === 'PG_CATALOG' && name !== undefined && tokens[after]?.text !== '(') return null;
        out.push(token);
        continue;
      }
      const view = name.kind === 'identifier' ? VIEWS[name.text.toUpperCase()] : undefined;
      if (view === undefined) return null;
      const follower = after < 0 ? undefined : (tokens[after] as Token);
      const aliased =
        follower !== undefined &&
        (follower.kind === 'quoted-identifier' ||
          (follower.kind === 'identifier' && !aliasStops.has(follower.text.toUpperCase())));
      const sql = view(facts) + (aliased ? '' : ` AS ${name.text.toLowerCase()}`);
      out.push({ kind: 'punctuation', text: sql });
      replaced += 1;
      index = nameIndex;
      continue;
    }
    out.push(token);
  }
  return replaced > 0 ? out : null;
}
