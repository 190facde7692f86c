/**
 * psql's lists of the cluster's global objects: `\l` (databases, describe.c `listAllDbs`), `\dn`
 * (schemas, `listSchemas`) and `\du`/`\dg` (roles, `describeRoles`), with `+` and a name pattern.
 * They are often the first thing a PostgreSQL user types after connecting. Here there is one of
 * each: the database the session connected to, the schema `public`, and the engine's user, which
 * can do everything (PostgreSQL's bootstrap superuser). Each list is answered with a SELECT of
 * literals (and, for `\l+`, the volume's size from SQLite's page count), under the columns psql asks
 * for, so psql prints its usual table.
 *
 * psql reads `\du`'s columns by position and its booleans as the text `t`/`f`, so the roles query
 * is answered with exactly the items it lists, in its order, booleans as text.
 *
 * Pure code over the lexer's tokens, called by catalog.ts for queries that name a catalog relation.
 */
import {
  type CatalogAnswer,
  globOfPsqlPattern,
  operatorPattern,
  shape,
  sqlString,
  unsupportedPattern,
} from './psql-patterns.js';
import type { SessionFacts, Token } from './sql.js';

/** Bound on the select-list items read from one query (psql's have at most a dozen). */
const SELECT_ITEMS_MAX = 32;

/**
 * PostgreSQL's `pg_size_pretty` of the volume's bytes (page count × page size): bytes below 10 kB,
 * then kB, MB, GB, TB, each rounded half up, as PostgreSQL 15 writes it.
 */
const VOLUME_SIZE_PRETTY = `(SELECT CASE
  WHEN s < 10240 THEN s || ' bytes'
  WHEN s < 10485760 THEN ((s + 512) / 1024) || ' kB'
  WHEN s < 10737418240 THEN ((s + 524288) / 1048576) || ' MB'
  WHEN s < 10995116277760 THEN ((s + 536870912) / 1073741824) || ' GB'
  ELSE ((s + 549755813888) / 1099511627776) || ' TB' END
  FROM (SELECT page_count * page_size AS s FROM pragma_page_count(), pragma_page_size()))`;

const SCHEMA_PUBLICATIONS =
  'SELECT pubname FROM pg_catalog . pg_publication p JOIN pg_catalog . pg_publication_namespace pn';

interface GlobalList {
  /** How the query starts (`shape`). */
  readonly prefix: string;
  /** The catalog it reads, `FROM …` (`shape`). */
  readonly from: string;
  /** The column a name pattern applies to, as psql writes it before `OPERATOR(pg_catalog.~)`. */
  readonly nameColumn: string;
  /** The one object's name. */
  readonly name: (facts: SessionFacts) => string;
  /** Each column psql may ask for, by its name (the alias, else the column), as a SQLite expression. */
  readonly column: (name: string, facts: SessionFacts) => string | undefined;
}

const LISTS: readonly GlobalList[] = [
  {
    prefix: 'SELECT d . datname as "Name" ,',
    from: 'FROM pg_catalog . pg_database d',
    nameColumn: 'd . datname',
    name: (facts) => facts.database,
    column: (name, facts) => {
      switch (name) {
        case 'Name':
          return sqlString(facts.database);
        case 'Owner':
          return sqlString(facts.user);
        case 'Encoding':
          return "'UTF8'";
        case 'Collate':
        case 'Ctype':
          // SQLite compares text by its bytes (BINARY), which is the C locale's order.
          return "'C'";
        case 'Locale Provider':
          return "'libc'";
        case 'Size':
          return VOLUME_SIZE_PRETTY;
        case 'Tablespace':
          return "'pg_default'";
        case 'ICU Locale':
        case 'Access privileges':
        case 'Description':
          return 'NULL';
        default:
          return undefined;
      }
    },
  },
  {
    prefix: 'SELECT n . nspname AS "Name" ,',
    from: 'FROM pg_catalog . pg_namespace n',
    nameColumn: 'n . nspname',
    name: () => 'public',
    column: (name, facts) => {
      switch (name) {
        case 'Name':
          return "'public'";
        case 'Owner':
          return sqlString(facts.user);
        case 'Access privileges':
        case 'Description':
          return 'NULL';
        default:
          return undefined;
      }
    },
  },
  {
    prefix: 'SELECT r . rolname , r . rolsuper ,',
    from: 'FROM pg_catalog . pg_roles r',
    nameColumn: 'r . rolname',
    name: (facts) => facts.user,
    column: (name, facts) => {
      switch (name) {
        case 'rolname':
          return sqlString(facts.user);
        case 'rolsuper':
        case 'rolinherit':
        case 'rolcreaterole':
        case 'rolcreatedb':
        case 'rolcanlogin':
        case 'rolreplication':
        case 'rolbypassrls':
          return "'t'";
        case 'rolconnlimit':
          return '-1';
        case 'memberof':
          return "'{}'";
        case 'rolvaliduntil':
        case 'description':
          return 'NULL';
        default:
          return undefined;
      }
    },
  },
];

/**
 * Answers psql's `\l`, `\dn` or `\du`/`\dg` query (with `+` and a pattern), or null when the query
 * is none of them.
 */
export function psqlGlobalList(words: readonly Token[], facts: SessionFacts): CatalogAnswer | null {
  const text = shape(words);
  // `\dn PATTERN` then asks for the publications of the schemas it found: SQLite has none.
  if (text.startsWith(SCHEMA_PUBLICATIONS)) return { kind: 'sql', sql: 'SELECT NULL AS pubname WHERE 0' };
  const list = LISTS.find((candidate) => text.startsWith(candidate.prefix) && text.includes(candidate.from));
  if (list === undefined || !text.endsWith('ORDER BY 1')) return null;
  const names = selectItemNames(words);
  if (names === null) return null;
  const columns: string[] = [];
  for (const name of names) {
    const expression = list.column(name, facts);
    if (expression === undefined) return null;
    columns.push(`${expression} AS "${name.replaceAll('"', '""')}"`);
  }
  const pattern = operatorPattern(words, list.nameColumn);
  let condition = '';
  if (pattern !== undefined) {
    const glob = pattern === null ? null : globOfPsqlPattern(pattern);
    if (glob === null) return unsupportedPattern(pattern);
    condition = ` WHERE ${sqlString(list.name(facts))} GLOB ${sqlString(glob)}`;
  }
  return { kind: 'sql', sql: `SELECT ${columns.join(', ')}${condition}` };
}

/**
 * The name of each item of the query's top-level select list: its alias (`AS "Name"`, `as memberof`)
 * or, without one, its last word (`r . rolsuper` → rolsuper); null if the list is not that simple.
 */
function selectItemNames(words: readonly Token[]): string[] | null {
  const names: string[] = [];
  let depth = 0;
  let last: Token | undefined;
  for (let index = 1; index < words.length; index++) {
    const token = words[index] as Token;
    if (token.text === '(') depth += 1;
    else if (token.text === ')') depth -= 1;
    const ends = depth === 0 && (token.text === ',' || token.text.toUpperCase() === 'FROM');
    if (!ends) {
      if (depth === 0 && token.text !== ')') last = token;
      continue;
    }
    if (last === undefined) return null;
    names.push(last.kind === 'quoted-identifier' ? last.text.slice(1, -1).replaceAll('""', '"') : last.text);
    if (names.length > SELECT_ITEMS_MAX) return null;
    last = undefined;
    if (token.text.toUpperCase() === 'FROM') return names;
  }
  return null;
}
