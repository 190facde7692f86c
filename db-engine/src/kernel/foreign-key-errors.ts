/**
 * PostgreSQL's account of a foreign key a statement broke. SQLite says only "FOREIGN KEY constraint
 * failed"; PostgreSQL names the constraint and the key (`insert or update on table "c" violates
 * foreign key constraint "c_p_fkey"`, DETAIL `Key (p_id)=(9) is not present in table "p".`), and
 * clients show it or branch on the constraint's name (Prisma's P2003). The session finds out which
 * key it was by running the statement again with the keys deferred, inside a savepoint it then rolls
 * back (sql-session.ts `#foreignKeyFailure`); this module reads the statement and writes the words.
 *
 * Pure code.
 */
import { identifierName, keywordOf, significant, sqliteTokens } from './table-definition.js';

/** The table an INSERT, REPLACE, UPDATE or DELETE writes (unquoted), or null for any other SQL. */
export function writtenTable(sql: string): string | null {
  const tokens = significant(sqliteTokens(sql));
  let index = 0;
  // A WITH clause before the statement: skip to the statement's own first word, at depth 0.
  if (keywordOf(tokens[0]) === 'WITH') {
    let depth = 0;
    for (index = 1; index < tokens.length; index++) {
      const text = tokens[index]?.text;
      if (text === '(') depth++;
      else if (text === ')') depth--;
      else if (depth === 0 && ['INSERT', 'REPLACE', 'UPDATE', 'DELETE'].includes(keywordOf(tokens[index])))
        break;
    }
  }
  const verb = keywordOf(tokens[index]);
  if (verb === 'INSERT' || verb === 'REPLACE') {
    while (index < tokens.length && keywordOf(tokens[index]) !== 'INTO') index++;
  } else if (verb === 'UPDATE') {
    if (keywordOf(tokens[index + 1]) === 'OR') index += 2;
  } else if (verb === 'DELETE') {
    index += 1; // FROM
  } else return null;
  index += 1;
  if (tokens[index + 1]?.text === '.') index += 2;
  const table = tokens[index];
  return table === undefined ? null : identifierName(table);
}

/** A child row whose key has no parent (`PRAGMA foreign_key_check` of the child table). */
export interface Orphan {
  readonly child: string;
  readonly parent: string;
  readonly constraint: string;
  readonly columns: readonly string[];
  /** The parent's columns the key references, in the same order. */
  readonly parentColumns: readonly string[];
  readonly values: readonly unknown[];
}

/** What the statement broke, as PostgreSQL words it, from the side the statement wrote. */
export function foreignKeyViolation(
  orphan: Orphan,
  writtenTableName: string,
): { readonly message: string; readonly detail: string; readonly table: string } {
  const values = orphan.values.map(keyValueText).join(', ');
  if (writtenTableName.toLowerCase() === orphan.child.toLowerCase()) {
    const key = `Key (${orphan.columns.join(', ')})=(${values})`;
    return {
      message: `insert or update on table "${orphan.child}" violates foreign key constraint "${orphan.constraint}"`,
      detail: `${key} is not present in table "${orphan.parent}".`,
      table: orphan.child,
    };
  }
  const key = `Key (${orphan.parentColumns.join(', ')})=(${values})`;
  return {
    message: `update or delete on table "${orphan.parent}" violates foreign key constraint "${orphan.constraint}" on table "${orphan.child}"`,
    detail: `${key} is still referenced from table "${orphan.child}".`,
    table: orphan.parent,
  };
}

function keyValueText(value: unknown): string {
  return value === null ? 'null' : String(value);
}
