/**
 * The ErrorResponse fields PostgreSQL adds to an integrity violation, which drivers expose
 * (node-postgres's `error.schema`, `error.table`, `error.column`) and applications and ORMs read to
 * tell which table and column refused a row: taken from SQLite's own message, which names them
 * (`UNIQUE constraint failed: users.email`, `NOT NULL constraint failed: users.name`). SQLite's
 * message gives no constraint name PostgreSQL would give, nor the key's value (PostgreSQL's DETAIL),
 * so those stay out; a foreign key's violation, which the kernel words as PostgreSQL does, gives its
 * table and constraint.
 *
 * Pure code.
 */

export interface ConstraintFields {
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
}

/**
 * A foreign key's violation as the kernel words it, as PostgreSQL does (kernel/foreign-key-errors.ts):
 * the table field is the referencing one in both forms, as PostgreSQL's ri_triggers.c reports it.
 */
const FOREIGN_KEY_MESSAGES: readonly RegExp[] = [
  /^insert or update on table "(?<table>.+)" violates foreign key constraint "(?<constraint>.+)"$/,
  /^update or delete on table ".+" violates foreign key constraint "(?<constraint>.+)" on table "(?<table>.+)"$/,
];

/** `<table>.<column>` as SQLite writes it in a constraint message (names may hold spaces or dots). */
const QUALIFIED = /^(.+?)\.([^.]+)$/;

export function constraintFields(sqlstate: string, message: string): ConstraintFields {
  if (sqlstate === '23503') {
    for (const form of FOREIGN_KEY_MESSAGES) {
      const groups = form.exec(message)?.groups;
      if (groups?.table !== undefined && groups.constraint !== undefined)
        return { schema: 'public', table: groups.table, constraint: groups.constraint };
    }
    return {};
  }
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

/**
 * Where in `query` a syntax error is, as PostgreSQL's ErrorResponse gives it (field P, a 1-based
 * character position; psql then prints the line with a caret under it). SQLite names the token it
 * stopped at (`near "SELEC": syntax error`) but not its place, so the position is given only when that
 * token occurs exactly once in the query as a whole word, where it cannot be the wrong one; an
 * `incomplete input` is at the end of the query. Undefined otherwise.
 */
export function syntaxErrorPosition(
  sqlstate: string,
  message: string,
  query: string | undefined,
): number | undefined {
  if (sqlstate !== '42601' || query === undefined) return undefined;
  if (/incomplete input/.test(message)) return query.trimEnd().length + 1;
  const near = /near "([^"]+)": syntax error/.exec(message)?.[1];
  if (near === undefined) return undefined;
  const escaped = near.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const word = /^\w/.test(near) ? `(?<![\\w$])${escaped}(?![\\w$])` : escaped;
  const matches = [...query.matchAll(new RegExp(word, 'gi'))];
  return matches.length === 1 ? (matches[0]?.index ?? 0) + 1 : undefined;
}
