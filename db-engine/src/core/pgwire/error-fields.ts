/**
 * The ErrorResponse fields PostgreSQL adds to an integrity violation, which drivers expose
 * (node-postgres's `error.schema`, `error.table`, `error.column`) and applications and ORMs read to
 * tell which table and column refused a row: taken from SQLite's own message, which names them
 * (`UNIQUE constraint failed: users.email`, `NOT NULL constraint failed: users.name`). SQLite's
 * message gives no constraint name PostgreSQL would give, nor the key's value (PostgreSQL's DETAIL),
 * so those stay out.
 *
 * Pure code.
 */

export interface ConstraintFields {
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
}

/** `<table>.<column>` as SQLite writes it in a constraint message (names may hold spaces or dots). */
const QUALIFIED = /^(.+?)\.([^.]+)$/;

export function constraintFields(sqlstate: string, message: string): ConstraintFields {
  if (sqlstate !== '23505' && sqlstate !== '23502') return {};
  const prefix = sqlstate === '23505' ? 'UNIQUE constraint failed: ' : 'NOT NULL constraint failed: ';
  if (!message.startsWith(prefix)) return {};
  // A unique index over several columns: `t.a, t.b`; every column names the same table.
  const columns = message.slice(prefix.length).split(', ');
  const first = QUALIFIED.exec(columns[0] ?? '');
  if (first === null) return {};
  const table = first[1] as string;
  if (sqlstate === '23502') return { schema: 'public', table, column: first[2] as string };
  return { schema: 'public', table };
}
