/**
 * PostgreSQL statements and forms that SQLite lacks and that a PostgreSQL user will try first
 * (TRUNCATE, schemas, extensions, privileges, sequences, arrays…). SQLite answers them
 * with a bare `near "TRUNCATE": syntax error`, which says neither that the statement is fine
 * PostgreSQL nor what to do instead. Each gets 0A000 "… is not supported by northlight" and a hint:
 *
 * - on the PostgreSQL wire protocol, before SQLite sees the statement (`pgwire/sql.ts` classifies it
 *   by its leading words, `postgresOnlyStatement`, and refuses `ARRAY[…]` while translating); there
 *   TRUNCATE without CASCADE is not refused but run as DELETE (`pgwire/statement-rewrites.ts`);
 * - over HTTP, which passes SQL to SQLite unchanged, from SQLite's own error message
 *   (`kernel/sql-errors.ts`, `postgresOnlyOfSqliteMessage`), so the message only has SQLite's word to
 *   go by: the near-token of a syntax error.
 *
 * Pure code, shared by both so that one feature gets one message and one hint.
 */

export interface PostgresOnly {
  readonly message: string;
  readonly hint: string;
}

export const POSTGRES_ONLY = {
  truncate: {
    message: 'TRUNCATE is not supported by northlight',
    hint: 'Use DELETE FROM t (SQLite empties a table quickly when the DELETE has no WHERE).',
  },
  // The PostgreSQL endpoint runs TRUNCATE as DELETE FROM each table (pgwire/statement-rewrites.ts),
  // but not CASCADE: which tables reference these is the foreign keys' business in SQLite.
  truncateCascade: {
    message: 'TRUNCATE … CASCADE is not supported by northlight',
    hint: 'Empty the referencing tables first (DELETE FROM each), then TRUNCATE these without CASCADE.',
  },
  partitioning: {
    message: 'table partitioning (CREATE TABLE … PARTITION BY / PARTITION OF) is not supported by northlight',
    hint: 'SQLite has no partitions: create one table with an index on the partition key (pgbench: leave out --partitions).',
  },
  schema: {
    message: 'schemas (CREATE/DROP/ALTER SCHEMA) are not supported by northlight',
    hint: 'There is one schema, public: create tables without a schema name (public.t also works).',
  },
  extension: {
    message: 'extensions (CREATE EXTENSION) are not supported by northlight',
    hint: "SQLite's built-in functions are all there is: SELECT name FROM pragma_function_list lists them.",
  },
  privileges: {
    message: 'GRANT and REVOKE are not supported by northlight',
    hint: 'There are no roles or privileges: the one login (--pg-user) may do everything; limit who can connect instead.',
  },
  notifications: {
    message: 'LISTEN, UNLISTEN and NOTIFY are not supported by the HTTP API',
    hint: 'Use them over the PostgreSQL endpoint (psql, node-postgres…): its sessions notify each other.',
  },
  sequence: {
    message: 'sequences (CREATE/ALTER/DROP SEQUENCE) are not supported by northlight',
    hint: 'Use an INTEGER PRIMARY KEY column (SERIAL becomes one): SQLite numbers new rows as a sequence would.',
  },
  type: {
    message: 'user-defined types (CREATE/ALTER/DROP TYPE) are not supported by northlight',
    hint: "For an enum use a TEXT column with CHECK (v IN ('a', 'b')).",
  },
  // The PostgreSQL endpoint runs COPY … FROM STDIN / TO STDOUT itself (pgwire/copy-*.ts): this is
  // the HTTP API's answer, where a request has no client stdin or stdout.
  copy: {
    message: 'COPY is not supported over HTTP: a request has no client stdin or stdout',
    hint:
      "Use COPY … FROM STDIN / TO STDOUT on the PostgreSQL endpoint (psql's \\copy, a driver's copy " +
      'streams), or load rows with INSERT … VALUES (…), (…), … with many rows per statement.',
  },
  array: {
    message: 'arrays (ARRAY[…], ARRAY(SELECT …)) are not supported by northlight',
    hint:
      "Use SQLite's JSON arrays: json_array(1, 2) for ARRAY[1, 2], json_group_array(x) for ARRAY(SELECT x …); " +
      'or a table with one row per element.',
  },
} as const satisfies Record<string, PostgresOnly>;

/** Words that may come between CREATE and the kind of object (`CREATE TEMP SEQUENCE`). */
const createModifiers = new Set(['TEMP', 'TEMPORARY', 'UNLOGGED', 'OR', 'REPLACE']);

/**
 * `CREATE TABLE … PARTITION BY …` or `CREATE TABLE t PARTITION OF …`, outside parentheses (a window's
 * `OVER (PARTITION BY …)` in CREATE TABLE … AS SELECT is inside them).
 */
function partitioned(upper: readonly string[]): boolean {
  let depth = 0;
  for (let index = 0; index + 1 < upper.length; index++) {
    const word = upper[index];
    if (word === '(') depth += 1;
    if (word === ')') depth -= 1;
    const next = upper[index + 1];
    if (depth === 0 && word === 'PARTITION' && (next === 'BY' || next === 'OF')) return true;
  }
  return false;
}

/**
 * The PostgreSQL-only statement these significant tokens make, if they make one: `upper` is their
 * texts with identifiers upper-cased (punctuation as written).
 */
export function postgresOnlyStatement(upper: readonly string[]): PostgresOnly | null {
  const first = upper[0];
  if (first === 'TRUNCATE') return upper.includes('CASCADE') ? POSTGRES_ONLY.truncateCascade : null;
  if (first === 'GRANT' || first === 'REVOKE') return POSTGRES_ONLY.privileges;
  if (first === 'CREATE' || first === 'DROP' || first === 'ALTER') {
    let index = 1;
    while (first === 'CREATE' && createModifiers.has(upper[index] ?? '')) index += 1;
    switch (upper[index]) {
      case 'SCHEMA':
        return POSTGRES_ONLY.schema;
      case 'EXTENSION':
        return POSTGRES_ONLY.extension;
      case 'SEQUENCE':
        return POSTGRES_ONLY.sequence;
      case 'TYPE':
        return POSTGRES_ONLY.type;
    }
    if (first === 'CREATE' && upper[index] === 'TABLE' && partitioned(upper))
      return POSTGRES_ONLY.partitioning;
  }
  return null;
}

/** What SQLite's `near "X": syntax error` means when X is one of these words (any case). */
const nearWords: Readonly<Record<string, PostgresOnly>> = {
  TRUNCATE: POSTGRES_ONLY.truncate,
  SCHEMA: POSTGRES_ONLY.schema,
  EXTENSION: POSTGRES_ONLY.extension,
  GRANT: POSTGRES_ONLY.privileges,
  REVOKE: POSTGRES_ONLY.privileges,
  LISTEN: POSTGRES_ONLY.notifications,
  UNLISTEN: POSTGRES_ONLY.notifications,
  NOTIFY: POSTGRES_ONLY.notifications,
  SEQUENCE: POSTGRES_ONLY.sequence,
  COPY: POSTGRES_ONLY.copy,
};

/** The explanation of a failure SQLite reported, when its message shows PostgreSQL-only SQL. */
export interface PostgresOnlyExplanation {
  /**
   * 0A000 when the message names the feature for certain (3F000 for a schema other than public);
   * else the SQLSTATE stays SQLite's.
   */
  readonly sqlstate: '0A000' | '3F000' | null;
  /** The message to report (SQLite's own kept at its end). */
  readonly message: string;
  readonly hint: string;
}

/** PostgreSQL's catalog relations, as clients name them without `pg_catalog.`. */
const CATALOG_RELATIONS = new Set(
  (
    'pg_am pg_attrdef pg_attribute pg_authid pg_available_extensions pg_class pg_collation pg_constraint ' +
    'pg_database pg_depend pg_description pg_enum pg_extension pg_index pg_indexes pg_inherits pg_locks ' +
    'pg_matviews pg_namespace pg_proc pg_replication_slots pg_rewrite pg_roles pg_sequence pg_sequences ' +
    'pg_settings pg_stat_activity pg_stat_all_tables pg_stat_database pg_stat_replication ' +
    'pg_stat_user_indexes pg_stat_user_tables pg_statio_user_tables pg_tables pg_tablespace pg_trigger ' +
    'pg_type pg_user pg_views'
  ).split(' '),
);

const catalogHint =
  "List relations with SELECT name, type FROM sqlite_schema, and a table's columns with " +
  "SELECT * FROM pragma_table_info('name'). In psql, \\d, \\dt, \\di and \\dv list relations.";

const castHint =
  '`x::type` casts are PostgreSQL syntax, translated only on the PostgreSQL endpoint; the HTTP API ' +
  'and `northlight sql` speak SQLite: write CAST(x AS INTEGER) (or AS REAL, TEXT, BLOB).';

/**
 * What SQLite's message for SQL that reached it unchanged (the HTTP API) says about PostgreSQL-only
 * SQL in it, or null. SQLite names only the token it stopped at, so a word that only PostgreSQL's
 * statements put there (`TRUNCATE`, `SCHEMA`, `GRANT`…) gets 0A000; a token that may be something
 * else (`:`, `TYPE`, a column `array`) keeps its SQLSTATE and gets a hint for the likely case.
 */
export function postgresOnlyOfSqliteMessage(message: string): PostgresOnlyExplanation | null {
  const near = /near "([A-Za-z]+)": syntax error/.exec(message);
  const word = near?.[1]?.toUpperCase();
  if (word !== undefined) {
    const feature = nearWords[word];
    if (feature !== undefined) {
      return { sqlstate: '0A000', message: `${feature.message} (SQLite: ${message})`, hint: feature.hint };
    }
    if (word === 'TYPE') {
      return {
        sqlstate: null,
        message,
        hint: `If this is CREATE TYPE: user-defined types are not supported. ${POSTGRES_ONLY.type.hint}`,
      };
    }
  }
  // `FROM pg_type` without pg_catalog: PostgreSQL would find the catalog (a user table of that name,
  // which SQLite would have found, is the user's business and never gets here).
  const table = /^no such table: (?:main\.)?(pg_[a-z_]+)$/i.exec(message)?.[1];
  if (table !== undefined && CATALOG_RELATIONS.has(table.toLowerCase())) {
    return {
      sqlstate: '0A000',
      message: `relation "${table}" is not supported: northlight has no PostgreSQL system catalogs (its SQL is SQLite's)`,
      hint: catalogHint,
    };
  }
  // `other_schema.t`: SQLite reads a qualifier as an attached database. There is one schema, public
  // (the PostgreSQL endpoint drops `public.` before SQLite sees it).
  const schema =
    /^unknown database (.+)$/.exec(message)?.[1] ??
    /^no such table: ([^.\s]+)\.[^.\s]+$/.exec(message)?.[1]?.replace(/^(main|temp)$/i, '') ??
    undefined;
  if (schema !== undefined && schema !== '') {
    const publicHere = schema.toLowerCase() === 'public';
    return {
      sqlstate: '3F000',
      message: publicHere
        ? `SQL over HTTP is SQLite's, which has no schemas: write the table without "public." (SQLite: ${message})`
        : `schema "${schema}" does not exist: northlight has one schema, public (SQLite: ${message})`,
      hint: POSTGRES_ONLY.schema.hint,
    };
  }
  if (/unrecognized token: ":"/.test(message)) return { sqlstate: null, message, hint: castHint };
  if (/no such column: array$/i.test(message)) {
    return {
      sqlstate: null,
      message,
      hint: `If this is PostgreSQL's ARRAY[…]: arrays are not supported. ${POSTGRES_ONLY.array.hint}`,
    };
  }
  return null;
}
