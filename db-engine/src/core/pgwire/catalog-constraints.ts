/**
 * A table's constraints as PostgreSQL names and lists them, from SQLite's own catalog: the common
 * table expressions behind `information_schema.table_constraints`, `.key_column_usage`,
 * `.constraint_column_usage`, `.referential_constraints` and `pg_indexes` (information-schema.ts),
 * and the names psql's `\d` shows (psql-describe.ts).
 *
 * Where each comes from:
 * - **PRIMARY KEY** `<table>_pkey`: the columns `pragma_table_info` marks `pk`, in key order. A rowid
 *   table's lone `INTEGER PRIMARY KEY` has no index of its own (it is the table's b-tree), the others
 *   an index of origin `pk`; both are listed alike.
 * - **UNIQUE** `<table>_<column>_…_key`: each index of origin `u` (a UNIQUE column or table
 *   constraint; SQLite names it `sqlite_autoindex_<table>_<n>`), its columns from `pragma_index_info`.
 *   A `CREATE UNIQUE INDEX` is an index, not a constraint, as in PostgreSQL.
 * - **FOREIGN KEY** `<table>_<column>_…_fkey`, or the name it was given (`CONSTRAINT c FOREIGN KEY …`,
 *   read from the CREATE TABLE text by the kernel's `northlight_foreign_key_name`):
 *   `pragma_foreign_key_list`, one constraint per `id`. A reference without columns (`REFERENCES
 *   users`) is to the parent's primary key, as in PostgreSQL.
 * - **NOT NULL**, which PostgreSQL 15 lists as CHECK constraints named
 *   `<namespace oid>_<relation oid>_<attnum>_not_null` (2200 is `public`; relation OIDs are 16384 +
 *   the `sqlite_schema` rowid, as psql's `\d` sees them).
 *
 * PostgreSQL shortens a generated name past 63 bytes and numbers clashing ones; these are not
 * shortened or numbered. A name given in the CREATE TABLE text (`CONSTRAINT c PRIMARY KEY …`) wins over
 * PostgreSQL's for a key, a foreign key and a CHECK, which SQLite keeps only in that text: the kernel
 * reads them there (its `northlight_key_name`, `northlight_foreign_key_name`,
 * `northlight_check_constraints`).
 *
 * Pure SQL text; the CTEs read `sqlite_schema` and the pragma table-valued functions.
 */
import { identifierSql, userRelationsSql } from './psql-patterns.js';

/** PostgreSQL's OID of the `public` namespace, the one schema here. */
export const PUBLIC_NAMESPACE_OID = 2200;

/** The OID of a relation with this `sqlite_schema` rowid (psql-describe.ts, RELATION_OID_BASE). */
const RELATION_OID_BASE = 16_384;

/** The CREATE TABLE text of table `tableName` (an SQL expression). */
function tableSqlOf(tableName: string): string {
  return `(SELECT nl_s.sql FROM sqlite_schema nl_s WHERE nl_s.type = 'table' AND nl_s.name = ${tableName})`;
}

/**
 * The name of the UNIQUE constraint behind index `indexName` of table `tableName` (SQL expressions):
 * the name it was given (`CONSTRAINT c UNIQUE (…)`, read by the kernel's `northlight_key_name`), else
 * PostgreSQL's `<table>_<columns>_key`.
 */
export function uniqueConstraintNameSql(tableName: string, indexName: string): string {
  const columns = (separator: string) =>
    `(SELECT group_concat(ui.name, ${separator} ORDER BY ui.seqno) FROM pragma_index_info(${indexName}) ui)`;
  return (
    `coalesce(northlight_key_name(${tableSqlOf(tableName)}, 'u', ${columns('char(31)')}), ` +
    `${tableName} || '_' || ${columns("'_'")} || '_key')`
  );
}

/** The name of table `tableName`'s PRIMARY KEY: the one it was given, else PostgreSQL's `<table>_pkey`. */
export function primaryKeyNameSql(tableName: string): string {
  return `coalesce(northlight_key_name(${tableSqlOf(tableName)}, 'p', ''), ${tableName} || '_pkey')`;
}

/**
 * The CTEs (without `WITH`), each over the user's tables:
 * - `key_columns(table_name, constraint_name, constraint_type, column_name, ordinal_position,
 *   ref_table, ref_column, position_in_unique_constraint)`: one row per column of each PRIMARY KEY,
 *   UNIQUE and FOREIGN KEY constraint (the `ref_…` columns for a foreign key only);
 * - `foreign_keys(table_name, constraint_name, ref_table, unique_constraint_name, update_rule,
 *   delete_rule, definition)`: one row per foreign key, `definition` as pg_get_constraintdef writes it;
 * - `not_nulls(table_name, constraint_name, position)`: one row per NOT NULL column;
 * - `checks(table_name, constraint_name, check_clause)`: one row per CHECK constraint of the table's own;
 * - `constraints(table_name, constraint_name, constraint_type)`: every constraint once.
 */
export function constraintsCtes(): string {
  const relations = `SELECT rowid AS rid, name, sql FROM sqlite_schema WHERE type = 'table' AND ${userRelationsSql()}`;
  const primaryKeys =
    'SELECT r.name AS table_name, p.name AS column_name, p.pk AS position ' +
    'FROM nl_relations r, pragma_table_info(r.name) p WHERE p.pk > 0';
  const uniqueColumns =
    `SELECT r.name AS table_name, ${uniqueConstraintNameSql('r.name', 'l.name')} AS constraint_name, ` +
    'i.name AS column_name, i.seqno + 1 AS position ' +
    "FROM nl_relations r, pragma_index_list(r.name) l, pragma_index_info(l.name) i WHERE l.origin = 'u'";
  // A reference without columns is to the parent's primary key, column by column.
  const referenced =
    'coalesce(f."to", (SELECT pp.name FROM pragma_table_info(f."table") pp WHERE pp.pk = f.seq + 1))';
  const foreignColumns =
    'SELECT r.name AS table_name, f.id AS id, f.seq AS seq, f."from" AS column_name, ' +
    `f."table" AS ref_table, ${referenced} AS ref_column, f.on_update AS on_update, f.on_delete AS on_delete, ` +
    'northlight_foreign_key_name(r.sql, f.id) AS given_name ' +
    'FROM nl_relations r, pragma_foreign_key_list(r.name) f';
  // Its definition as pg_get_constraintdef writes it: `FOREIGN KEY (a) REFERENCES t(b) ON DELETE CASCADE`.
  const definition =
    `'FOREIGN KEY (' || group_concat(${identifierSql('column_name')}, ', ' ORDER BY seq) || ') REFERENCES ' || ` +
    `${identifierSql('ref_table')} || '(' || group_concat(${identifierSql('ref_column')}, ', ' ORDER BY seq) || ')' || ` +
    "CASE WHEN min(on_update) <> 'NO ACTION' THEN ' ON UPDATE ' || min(on_update) ELSE '' END || " +
    "CASE WHEN min(on_delete) <> 'NO ACTION' THEN ' ON DELETE ' || min(on_delete) ELSE '' END";
  const foreignNames =
    "SELECT table_name, id, coalesce(min(given_name), table_name || '_' || group_concat(column_name, '_' ORDER BY seq) || '_fkey') " +
    'AS constraint_name, ref_table, group_concat(ref_column, char(31) ORDER BY seq) AS ref_columns, ' +
    `min(on_update) AS update_rule, min(on_delete) AS delete_rule, ${definition} AS definition ` +
    'FROM nl_fk_columns GROUP BY table_name, id';
  // The parent's key a foreign key points at: its primary key, or the UNIQUE constraint on exactly
  // those columns (by name, through the signature of each).
  const parentKeys =
    `SELECT table_name, ${primaryKeyNameSql('table_name')} AS constraint_name, ` +
    'group_concat(column_name, char(31) ORDER BY position) AS columns FROM nl_primary_keys GROUP BY table_name ' +
    'UNION ALL SELECT table_name, constraint_name, group_concat(column_name, char(31) ORDER BY position) ' +
    'FROM nl_unique_columns GROUP BY table_name, constraint_name';
  const foreignKeys =
    'SELECT n.table_name, n.constraint_name, n.ref_table, ' +
    '(SELECT k.constraint_name FROM nl_parent_keys k WHERE k.table_name = n.ref_table COLLATE NOCASE ' +
    'AND k.columns = n.ref_columns COLLATE NOCASE) AS unique_constraint_name, n.update_rule, n.delete_rule, ' +
    'n.definition FROM nl_fk_names n';
  const keyColumns =
    `SELECT table_name, ${primaryKeyNameSql('table_name')} AS constraint_name, 'PRIMARY KEY' AS constraint_type, ` +
    'column_name, position AS ordinal_position, NULL AS ref_table, NULL AS ref_column, ' +
    'NULL AS position_in_unique_constraint FROM nl_primary_keys ' +
    "UNION ALL SELECT table_name, constraint_name, 'UNIQUE', column_name, position, NULL, NULL, NULL " +
    'FROM nl_unique_columns ' +
    "UNION ALL SELECT c.table_name, n.constraint_name, 'FOREIGN KEY', c.column_name, c.seq + 1, " +
    // The referenced column's place in the key it belongs to (its own order, not the reference's).
    'c.ref_table, c.ref_column, coalesce((SELECT u.position FROM nl_unique_columns u ' +
    'WHERE u.constraint_name = f.unique_constraint_name AND u.column_name = c.ref_column COLLATE NOCASE), ' +
    `(SELECT pk.position FROM nl_primary_keys pk WHERE f.unique_constraint_name = ${primaryKeyNameSql('pk.table_name')} ` +
    'AND pk.column_name = c.ref_column COLLATE NOCASE), c.seq + 1) ' +
    'FROM nl_fk_columns c JOIN nl_fk_names n USING (table_name, id) ' +
    'JOIN foreign_keys f ON f.table_name = n.table_name AND f.constraint_name = n.constraint_name';
  const notNulls =
    `SELECT r.name AS table_name, '${PUBLIC_NAMESPACE_OID}_' || (r.rid + ${RELATION_OID_BASE}) || '_' || ` +
    "(p.cid + 1) || '_not_null' AS constraint_name, p.cid AS position " +
    'FROM nl_relations r, pragma_table_info(r.name) p WHERE p."notnull" OR p.pk > 0';
  // The table's CHECK constraints, read from its CREATE TABLE text by the kernel.
  const checks =
    "SELECT r.name AS table_name, json_extract(j.value, '$.name') AS constraint_name, " +
    "json_extract(j.value, '$.clause') AS check_clause " +
    'FROM nl_relations r, json_each(northlight_check_constraints(r.sql)) j';
  const constraints =
    'SELECT DISTINCT table_name, constraint_name, constraint_type FROM key_columns ' +
    "UNION ALL SELECT table_name, constraint_name, 'CHECK' FROM checks " +
    "UNION ALL SELECT table_name, constraint_name, 'CHECK' FROM not_nulls";
  return [
    `nl_relations AS (${relations})`,
    `nl_primary_keys AS (${primaryKeys})`,
    `nl_unique_columns AS (${uniqueColumns})`,
    `nl_fk_columns AS (${foreignColumns})`,
    `nl_fk_names AS (${foreignNames})`,
    `nl_parent_keys AS (${parentKeys})`,
    `foreign_keys AS (${foreignKeys})`,
    `key_columns AS (${keyColumns})`,
    `not_nulls AS (${notNulls})`,
    `checks AS (${checks})`,
    `constraints AS (${constraints})`,
  ].join(', ');
}
