/**
 * Functions the PostgreSQL endpoint's catalog views call (core/pgwire/catalog-constraints.ts) to read
 * what only a table's CREATE TABLE text holds:
 *
 * - `northlight_foreign_key_name(create_sql, id)`: the name a foreign key was given (`CONSTRAINT c
 *   FOREIGN KEY …`, as ALTER TABLE … ADD CONSTRAINT writes it: alter-table.ts), by its
 *   `pragma_foreign_key_list` id; NULL when it has none (the view then gives PostgreSQL's
 *   `<table>_<columns>_fkey`) or the text cannot be read.
 *
 * - `northlight_key_name(create_sql, 'p' | 'u', columns)`: the name a PRIMARY KEY or a UNIQUE
 *   constraint on those columns (joined by char(31)) was given; NULL when none (PostgreSQL's
 *   `<table>_pkey`, `<table>_<columns>_key` then);
 * - `northlight_check_constraints(create_sql)`: the CHECK constraints, as JSON.
 *
 * Pure code over table-definition.ts.
 */
import type { PostgresFunction } from './postgres-functions.js';
import {
  allConstraints,
  constraintName,
  sameName,
  textBetween,
  tryReadTableDefinition,
} from './table-definition.js';

/**
 * The name a PRIMARY KEY (`kind` 'p') or a UNIQUE constraint on exactly `columns` (`kind` 'u', the
 * index's columns in order) was given in the CREATE TABLE text; null when it has none.
 */
export function keyName(createSql: string, kind: 'p' | 'u', columns: readonly string[]): string | null {
  const table = tryReadTableDefinition(createSql);
  if (table === null) return null;
  const wanted = kind === 'p' ? 'primary-key' : 'unique';
  for (const { constraint, column } of allConstraints(table)) {
    if (constraint.kind !== wanted || constraint.name === undefined) continue;
    if (kind === 'p') return constraint.name;
    const own = column === undefined ? (constraint.columns ?? []) : [column.name];
    if (own.length === columns.length && own.every((name, index) => sameName(name, columns[index] ?? ''))) {
      return constraint.name;
    }
  }
  return null;
}

/**
 * The table's CHECK constraints as JSON text, `[{"name", "clause"}]`: the name given, or PostgreSQL's
 * for an unnamed one (`t_a_check`, `t_check`); the clause as written inside its parentheses, wrapped
 * as information_schema writes it (`((a > 0))`; PostgreSQL deparses it, this does not).
 */
export function checkConstraints(createSql: string): string {
  const table = tryReadTableDefinition(createSql);
  if (table === null) return '[]';
  const checks = allConstraints(table)
    .filter(({ constraint }) => constraint.kind === 'check')
    .map(({ constraint, column }) => ({
      name: constraintName(table, constraint, column),
      clause: `((${textBetween(table, constraint.expressionStart ?? 0, constraint.expressionEnd ?? 0)}))`,
    }));
  return JSON.stringify(checks);
}

/** The `pragma_foreign_key_list` id's own name: ids count from the last declared foreign key (id 0). */
export function foreignKeyName(createSql: string, id: number): string | null {
  const table = tryReadTableDefinition(createSql);
  if (table === null) return null;
  const declared = [...table.columns.flatMap((column) => column.constraints), ...table.constraints].filter(
    (constraint) => constraint.kind === 'references',
  );
  return declared[declared.length - 1 - id]?.name ?? null;
}

export const CATALOG_FUNCTIONS: readonly PostgresFunction[] = [
  {
    name: 'northlight_key_name',
    arities: [3],
    deterministic: true,
    call: ([sql, kind, columns]) =>
      sql === null || sql === undefined || (kind !== 'p' && kind !== 'u')
        ? null
        : keyName(String(sql), kind, String(columns ?? '').split('\u001f')),
  },
  {
    name: 'northlight_check_constraints',
    arities: [1],
    deterministic: true,
    call: ([sql]) => (sql === null || sql === undefined ? '[]' : checkConstraints(String(sql))),
  },
  {
    name: 'northlight_foreign_key_name',
    arities: [2],
    deterministic: true,
    call: ([sql, id]) =>
      sql === null || sql === undefined || id === null || id === undefined
        ? null
        : foreignKeyName(String(sql), Number(id)),
  },
];
