/**
 * Functions the PostgreSQL endpoint's catalog views call (core/pgwire/catalog-constraints.ts) to read
 * what only a table's CREATE TABLE text holds:
 *
 * - `northlight_foreign_key_name(create_sql, id)`: the name a foreign key was given (`CONSTRAINT c
 *   FOREIGN KEY …`, as ALTER TABLE … ADD CONSTRAINT writes it: alter-table.ts), by its
 *   `pragma_foreign_key_list` id; NULL when it has none (the view then gives PostgreSQL's
 *   `<table>_<columns>_fkey`) or the text cannot be read.
 *
 * Pure code over table-definition.ts.
 */
import type { PostgresFunction } from './postgres-functions.js';
import { readTableDefinition, TableDefinitionError } from './table-definition.js';

/** The `pragma_foreign_key_list` id's own name: ids count from the last declared foreign key (id 0). */
export function foreignKeyName(createSql: string, id: number): string | null {
  let declared: { readonly name?: string }[];
  try {
    const table = readTableDefinition(createSql);
    declared = [...table.columns.flatMap((column) => column.constraints), ...table.constraints].filter(
      (constraint) => constraint.kind === 'references',
    );
  } catch (error) {
    if (error instanceof TableDefinitionError) return null;
    throw error;
  }
  return declared[declared.length - 1 - id]?.name ?? null;
}

export const CATALOG_FUNCTIONS: readonly PostgresFunction[] = [
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
