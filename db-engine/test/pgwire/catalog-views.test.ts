// The catalog views ORMs, migration tools and schema browsers read to learn a schema's keys
// (src/core/pgwire/information-schema.ts, catalog-constraints.ts): information_schema's
// table_constraints, key_column_usage, constraint_column_usage, referential_constraints, views and
// sequences, and pg_catalog's pg_tables, pg_views, pg_indexes and pg_namespace, on the engine's own
// kernel through node-postgres. Before them, every one of these queries was refused with 0A000.
// Every expected row below is what PostgreSQL 15.18 answered to the same statements after the same
// DDL, except where a comment says why northlight answers otherwise.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oid } from '../../src/core/pgwire/types.js';
import { startKernelSessions } from './support/kernel-backend.js';
import { lookup } from './support/psql15-describe.js';

const execFileAsync = promisify(execFile);

const DDL = [
  'CREATE TABLE users (id SERIAL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, name TEXT)',
  'CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, total NUMERIC(10,2), UNIQUE (user_id, total))',
  'CREATE INDEX orders_total_idx ON orders (total)',
  'CREATE UNIQUE INDEX users_lower_name ON users (lower(name))',
  'CREATE INDEX orders_big ON orders (user_id) WHERE total > 100',
  'CREATE TABLE memberships (team_id INTEGER NOT NULL, user_id INTEGER NOT NULL REFERENCES users ON UPDATE CASCADE, PRIMARY KEY (team_id, user_id))',
  'CREATE TABLE invites (id SERIAL PRIMARY KEY, email VARCHAR(255) REFERENCES users(email) ON DELETE SET NULL)',
  'CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100',
];

describe('catalog views for schema introspection, through node-postgres', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;
  let client: pg.Client;

  beforeAll(async () => {
    sessions = await startKernelSessions();
    // Text as sent, so that the test sees the server's output and types, not node-postgres's parsing.
    client = await sessions.connect({ types: { getTypeParser: () => (value: string) => value } });
    for (const sql of DDL) await client.query(sql);
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  /** The statement's rows, as text; run as a simple Query and as a prepared one, which must agree. */
  async function rows(sql: string, values?: unknown[]): Promise<(string | null)[][]> {
    const prepared = await client.query({ text: sql, rowMode: 'array', values: values ?? [] });
    if (values === undefined) {
      const simple = await client.query({ text: sql, rowMode: 'array' });
      expect(simple.rows).toEqual(prepared.rows);
    }
    return prepared.rows as (string | null)[][];
  }

  it('table_constraints: keys named as PostgreSQL names them, and NOT NULL as its CHECK constraints', async () => {
    expect(
      await rows(
        "SELECT constraint_name, table_name, constraint_type, is_deferrable, initially_deferred, enforced, nulls_distinct FROM information_schema.table_constraints WHERE table_schema = 'public' AND constraint_type <> 'CHECK' ORDER BY table_name, constraint_name",
      ),
    ).toEqual([
      ['invites_email_fkey', 'invites', 'FOREIGN KEY', 'NO', 'NO', 'YES', null],
      ['invites_pkey', 'invites', 'PRIMARY KEY', 'NO', 'NO', 'YES', null],
      ['memberships_pkey', 'memberships', 'PRIMARY KEY', 'NO', 'NO', 'YES', null],
      ['memberships_user_id_fkey', 'memberships', 'FOREIGN KEY', 'NO', 'NO', 'YES', null],
      ['orders_pkey', 'orders', 'PRIMARY KEY', 'NO', 'NO', 'YES', null],
      ['orders_user_id_fkey', 'orders', 'FOREIGN KEY', 'NO', 'NO', 'YES', null],
      ['orders_user_id_total_key', 'orders', 'UNIQUE', 'NO', 'NO', 'YES', 'YES'],
      ['users_email_key', 'users', 'UNIQUE', 'NO', 'NO', 'YES', 'YES'],
      ['users_pkey', 'users', 'PRIMARY KEY', 'NO', 'NO', 'YES', null],
    ]);
    // PostgreSQL also lists its own catalogs' NOT NULL columns; the user's tables are the same.
    expect(
      await rows(
        "SELECT table_name, count(*) AS not_nulls FROM information_schema.table_constraints WHERE constraint_type = 'CHECK' AND constraint_name LIKE '%_not_null' AND table_name IN ('invites', 'memberships', 'orders', 'users') GROUP BY table_name ORDER BY table_name",
      ),
    ).toEqual([
      ['invites', '1'],
      ['memberships', '2'],
      ['orders', '2'],
      ['users', '2'],
    ]);
    // Named <namespace oid>_<relation oid>_<attnum>_not_null, the relation OID as psql's \d finds it.
    const [[oid]] = (await rows(lookup('^(users)$'))) as [[string]];
    expect(
      await rows(
        "SELECT constraint_name FROM information_schema.table_constraints WHERE table_name = 'users' AND constraint_type = 'CHECK' ORDER BY 1",
      ),
    ).toEqual([[`2200_${oid}_1_not_null`], [`2200_${oid}_2_not_null`]]);
  });

  it('key_column_usage and constraint_column_usage: each key column, a foreign key with what it references', async () => {
    expect(
      await rows(
        "SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint FROM information_schema.key_column_usage WHERE table_schema = 'public' ORDER BY table_name, constraint_name, ordinal_position",
      ),
    ).toEqual([
      ['invites_email_fkey', 'invites', 'email', '1', '1'],
      ['invites_pkey', 'invites', 'id', '1', null],
      ['memberships_pkey', 'memberships', 'team_id', '1', null],
      ['memberships_pkey', 'memberships', 'user_id', '2', null],
      ['memberships_user_id_fkey', 'memberships', 'user_id', '1', '1'],
      ['orders_pkey', 'orders', 'id', '1', null],
      ['orders_user_id_fkey', 'orders', 'user_id', '1', '1'],
      ['orders_user_id_total_key', 'orders', 'user_id', '1', null],
      ['orders_user_id_total_key', 'orders', 'total', '2', null],
      ['users_email_key', 'users', 'email', '1', null],
      ['users_pkey', 'users', 'id', '1', null],
    ]);
    expect(
      await rows(
        "SELECT table_name, column_name, constraint_name FROM information_schema.constraint_column_usage WHERE table_schema = 'public' ORDER BY constraint_name, table_name, column_name",
      ),
    ).toEqual([
      ['users', 'email', 'invites_email_fkey'],
      ['invites', 'id', 'invites_pkey'],
      ['memberships', 'team_id', 'memberships_pkey'],
      ['memberships', 'user_id', 'memberships_pkey'],
      // `REFERENCES users` without columns is to users' primary key.
      ['users', 'id', 'memberships_user_id_fkey'],
      ['orders', 'id', 'orders_pkey'],
      ['users', 'id', 'orders_user_id_fkey'],
      ['orders', 'total', 'orders_user_id_total_key'],
      ['orders', 'user_id', 'orders_user_id_total_key'],
      ['users', 'email', 'users_email_key'],
      ['users', 'id', 'users_pkey'],
    ]);
  });

  it('referential_constraints: the key each foreign key points at and its rules', async () => {
    expect(
      await rows(
        'SELECT constraint_name, unique_constraint_schema, unique_constraint_name, match_option, update_rule, delete_rule FROM information_schema.referential_constraints ORDER BY constraint_name',
      ),
    ).toEqual([
      ['invites_email_fkey', 'public', 'users_email_key', 'NONE', 'NO ACTION', 'SET NULL'],
      ['memberships_user_id_fkey', 'public', 'users_pkey', 'NONE', 'CASCADE', 'NO ACTION'],
      ['orders_user_id_fkey', 'public', 'users_pkey', 'NONE', 'NO ACTION', 'CASCADE'],
    ]);
    // The usual "foreign keys of a table" query of ORMs and admin tools, with a parameter.
    expect(
      await rows(
        "SELECT kcu.column_name, ccu.table_name AS foreign_table_name, ccu.column_name AS foreign_column_name, rc.delete_rule FROM information_schema.table_constraints AS tc JOIN information_schema.key_column_usage AS kcu ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema JOIN information_schema.constraint_column_usage AS ccu ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema JOIN information_schema.referential_constraints rc ON rc.constraint_name = tc.constraint_name WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = $1",
        ['orders'],
      ),
    ).toEqual([['user_id', 'users', 'id', 'CASCADE']]);
  });

  it('pg_indexes: every index with its definition, keys included, qualified or not', async () => {
    const expected = [
      [
        'invites',
        'invites_pkey',
        null,
        'CREATE UNIQUE INDEX invites_pkey ON public.invites USING btree (id)',
      ],
      [
        'memberships',
        'memberships_pkey',
        null,
        'CREATE UNIQUE INDEX memberships_pkey ON public.memberships USING btree (team_id, user_id)',
      ],
      // PostgreSQL writes the predicate as it deparses it: `WHERE (total > (100)::numeric)`.
      [
        'orders',
        'orders_big',
        null,
        'CREATE INDEX orders_big ON public.orders USING btree (user_id) WHERE total > 100',
      ],
      ['orders', 'orders_pkey', null, 'CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)'],
      [
        'orders',
        'orders_total_idx',
        null,
        'CREATE INDEX orders_total_idx ON public.orders USING btree (total)',
      ],
      [
        'orders',
        'orders_user_id_total_key',
        null,
        'CREATE UNIQUE INDEX orders_user_id_total_key ON public.orders USING btree (user_id, total)',
      ],
      [
        'users',
        'users_email_key',
        null,
        'CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)',
      ],
      [
        'users',
        'users_lower_name',
        null,
        'CREATE UNIQUE INDEX users_lower_name ON public.users USING btree (lower(name))',
      ],
      ['users', 'users_pkey', null, 'CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)'],
    ];
    const query = (relation: string) =>
      `SELECT tablename, indexname, tablespace, indexdef FROM ${relation} WHERE schemaname = 'public' ORDER BY tablename, indexname`;
    expect(await rows(query('pg_indexes'))).toEqual(expected);
    expect(await rows(query('pg_catalog.pg_indexes'))).toEqual(expected);
  });

  it('pg_tables, pg_views, pg_namespace and information_schema.views, with booleans typed bool', async () => {
    const tables = await client.query({
      text: "SELECT schemaname, tablename, tablespace, hasindexes, hasrules, hastriggers, rowsecurity FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      rowMode: 'array',
    });
    expect(tables.fields.slice(3).map((field) => field.dataTypeID)).toEqual([
      Oid.bool,
      Oid.bool,
      Oid.bool,
      Oid.bool,
    ]);
    // Foreign keys are triggers in PostgreSQL, on both tables of each.
    expect(tables.rows).toEqual([
      ['public', 'invites', null, 't', 'f', 't', 'f'],
      ['public', 'memberships', null, 't', 'f', 't', 'f'],
      ['public', 'orders', null, 't', 'f', 't', 'f'],
      ['public', 'users', null, 't', 'f', 't', 'f'],
    ]);
    expect((await client.query({ text: 'SELECT * FROM pg_tables', rowMode: 'array' })).fields.length).toBe(8);
    expect(await rows("SELECT schemaname, viewname FROM pg_views WHERE schemaname = 'public'")).toEqual([
      ['public', 'big_orders'],
    ]);
    // SQLite's views are read-only (PostgreSQL: YES, YES for this one).
    expect(
      await rows(
        "SELECT table_name, check_option, is_updatable, is_insertable_into FROM information_schema.views WHERE table_schema = 'public'",
      ),
    ).toEqual([['big_orders', 'NONE', 'NO', 'NO']]);
    const namespaces = await client.query({
      text: "SELECT oid, nspname FROM pg_namespace WHERE nspname IN ('public', 'pg_catalog') ORDER BY oid",
      rowMode: 'array',
    });
    expect(namespaces.rows).toEqual([
      ['11', 'pg_catalog'],
      ['2200', 'public'],
    ]);
    expect(namespaces.fields[0]?.dataTypeID).toBe(Oid.int4);
    // SQLite has no sequences: a SERIAL column is the rowid (PostgreSQL lists one per SERIAL).
    expect(await rows('SELECT count(*) FROM information_schema.sequences')).toEqual([['0']]);
  });

  it("LIKE with PostgreSQL's backslash escape, as tools filter catalog names", async () => {
    // `_` matches any one character unless escaped: `users\_%` is users_ followed by anything.
    expect(
      await rows("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'users\\_%' ORDER BY indexname"),
    ).toEqual([['users_email_key'], ['users_lower_name'], ['users_pkey']]);
    expect(
      await rows("SELECT 'usersX' LIKE 'users\\_%', 'users_' LIKE 'users\\_%', 'a%b' LIKE 'a\\%b'"),
    ).toEqual([['f', 't', 't']]);
  });

  it("Sequelize's connect and sync: pg_type and pg_range, and its showIndex query", async () => {
    // Sequelize reads every type's OID when it connects; it failed at once on pg_type.
    const types = await rows(
      "WITH ranges AS (  SELECT pg_range.rngtypid, pg_type.typname AS rngtypname,         pg_type.typarray AS rngtyparray, pg_range.rngsubtype    FROM pg_range LEFT OUTER JOIN pg_type ON pg_type.oid = pg_range.rngtypid)SELECT pg_type.typname, pg_type.typtype, pg_type.oid, pg_type.typarray,       ranges.rngtypname, ranges.rngtypid, ranges.rngtyparray  FROM pg_type LEFT OUTER JOIN ranges ON pg_type.oid = ranges.rngsubtype WHERE (pg_type.typtype IN('b', 'e'));",
    );
    const byName = new Map(types.map((row) => [row[0], row]));
    // PostgreSQL's OIDs; its range types (int4range over int4…) do not exist here.
    expect(byName.get('int4')).toEqual(['int4', 'b', '23', '1007', null, null, null]);
    expect(byName.get('jsonb')).toEqual(['jsonb', 'b', '3802', '3807', null, null, null]);
    expect(byName.get('timestamptz')).toEqual(['timestamptz', 'b', '1184', '1185', null, null, null]);
    expect(byName.get('_text')).toEqual(['_text', 'b', '1009', '0', null, null, null]);
    expect(byName.has('void')).toBe(false); // a pseudo-type, typtype p
    // Sequelize's showIndex, which sync() sends for every model (query-generator.js showIndexesQuery).
    const indexes = await client.query({
      text: "SELECT i.relname AS name, ix.indisprimary AS primary, ix.indisunique AS unique, ix.indkey AS indkey, array_agg(a.attnum) as column_indexes, array_agg(a.attname) AS column_names, pg_get_indexdef(ix.indexrelid) AS definition FROM pg_class t, pg_class i, pg_index ix, pg_attribute a WHERE t.oid = ix.indrelid AND i.oid = ix.indexrelid AND a.attrelid = t.oid AND t.relkind = 'r' and t.relname = 'orders' GROUP BY i.relname, ix.indexrelid, ix.indisprimary, ix.indisunique, ix.indkey ORDER BY i.relname;",
      rowMode: 'array',
    });
    expect(indexes.fields.slice(1, 3).map((field) => field.dataTypeID)).toEqual([Oid.bool, Oid.bool]);
    // PostgreSQL's column lists also hold its system columns (ctid, xmin… with negative attnums).
    expect(indexes.rows.map((row) => [row[0], row[1], row[2], row[3], row[6]])).toEqual([
      [
        'orders_big',
        'f',
        'f',
        '2',
        'CREATE INDEX orders_big ON public.orders USING btree (user_id) WHERE total > 100',
      ],
      ['orders_pkey', 't', 't', '1', 'CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)'],
      [
        'orders_total_idx',
        'f',
        'f',
        '3',
        'CREATE INDEX orders_total_idx ON public.orders USING btree (total)',
      ],
      [
        'orders_user_id_total_key',
        'f',
        't',
        '2 3',
        'CREATE UNIQUE INDEX orders_user_id_total_key ON public.orders USING btree (user_id, total)',
      ],
    ]);
    expect(indexes.rows[0]?.slice(4, 6)).toEqual(['{1,2,3}', '{id,user_id,total}']);
  });

  it("TypeORM's forms: quoted catalog names, and obj_description of a regclass cast as no comment", async () => {
    expect(
      await rows(
        `SELECT "table_schema", "table_name", obj_description(('"' || "table_schema" || '"."' || "table_name" || '"')::regclass, 'pg_class') AS table_comment FROM "information_schema"."tables" WHERE ("table_schema" = 'public' AND "table_name" = 'users')`,
      ),
    ).toEqual([['public', 'users', null]]);
    expect(
      await rows('SELECT "indexname" FROM "pg_catalog"."pg_indexes" WHERE "tablename" = \'invites\''),
    ).toEqual([['invites_pkey']]);
    // A quoted name in upper case is another name in PostgreSQL, not the catalog's.
    await expect(client.query('SELECT * FROM "INFORMATION_SCHEMA"."TABLES"')).rejects.toMatchObject({
      code: expect.stringMatching(/^(42P01|3F000)$/),
    });
  });

  it('EXISTS (SELECT FROM …): the empty select list migration scripts write', async () => {
    expect(
      await rows(
        "SELECT EXISTS (SELECT FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'users') AS present, NOT EXISTS (SELECT FROM pg_tables WHERE tablename = 'nope') AS absent",
      ),
    ).toEqual([['t', 't']]);
  });

  it("psql's \\d prints the foreign keys of a table and those that reference it, as PostgreSQL prints them", async () => {
    const { stdout } = await execFileAsync(
      'psql',
      [
        '-X',
        '-h',
        '127.0.0.1',
        '-p',
        String(sessions.port),
        '-U',
        'postgres',
        '-d',
        'x',
        '-v',
        'ON_ERROR_STOP=1',
      ].concat(['-c', '\\d orders', '-c', '\\d users', '-c', '\\d memberships', '-c', '\\d invites']),
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
    );
    // Each footer, from its title to the blank line after the relation.
    const footers = [...stdout.matchAll(/^(Foreign-key constraints:|Referenced by:)\n((?: {4}.*\n)+)/gm)].map(
      (match) => `${match[1]}\n${match[2]}`,
    );
    expect(footers).toEqual([
      'Foreign-key constraints:\n    "orders_user_id_fkey" FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE\n',
      'Referenced by:\n' +
        '    TABLE "invites" CONSTRAINT "invites_email_fkey" FOREIGN KEY (email) REFERENCES users(email) ON DELETE SET NULL\n' +
        '    TABLE "memberships" CONSTRAINT "memberships_user_id_fkey" FOREIGN KEY (user_id) REFERENCES users(id) ON UPDATE CASCADE\n' +
        '    TABLE "orders" CONSTRAINT "orders_user_id_fkey" FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE\n',
      'Foreign-key constraints:\n    "memberships_user_id_fkey" FOREIGN KEY (user_id) REFERENCES users(id) ON UPDATE CASCADE\n',
      'Foreign-key constraints:\n    "invites_email_fkey" FOREIGN KEY (email) REFERENCES users(email) ON DELETE SET NULL\n',
    ]);
    // The UNIQUE constraints' indexes carry PostgreSQL's names there too.
    expect(stdout).toContain('    "orders_user_id_total_key" UNIQUE CONSTRAINT, btree (user_id, total)\n');
  });

  it('names keys and CHECK constraints as they were named, and lists the CHECKs, as PostgreSQL does', async () => {
    await client.query(
      "CREATE TABLE ck (id int CONSTRAINT ck_pk PRIMARY KEY, n int CHECK (n > 0), s text CONSTRAINT s_u UNIQUE, CONSTRAINT both_ok CHECK (n < 100 AND s <> ''))",
    );
    expect(
      await rows(
        "SELECT constraint_name, constraint_type FROM information_schema.table_constraints WHERE table_name = 'ck' ORDER BY 1",
      ),
    ).toEqual([
      // PostgreSQL's relation OID differs; its attnum is the same.
      [expect.stringMatching(/^2200_\d+_1_not_null$/), 'CHECK'],
      ['both_ok', 'CHECK'],
      ['ck_n_check', 'CHECK'],
      ['ck_pk', 'PRIMARY KEY'],
      ['s_u', 'UNIQUE'],
    ]);
    // PostgreSQL deparses the clause (`(((n < 100) AND (s <> ''::text)))`); here it is as written.
    expect(
      await rows(
        "SELECT constraint_name, check_clause FROM information_schema.check_constraints WHERE constraint_name IN ('ck_n_check', 'both_ok') ORDER BY 1",
      ),
    ).toEqual([
      ['both_ok', "((n < 100 AND s <> ''))"],
      ['ck_n_check', '((n > 0))'],
    ]);
    const { stdout } = await execFileAsync(
      'psql',
      ['-X', '-h', '127.0.0.1', '-p', String(sessions.port), '-U', 'postgres', '-d', 'x', '-c', '\\d ck'],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
    );
    // PostgreSQL 15.18's footers, but for `''::text` (not deparsed here).
    expect(stdout).toContain(
      'Indexes:\n' +
        '    "ck_pk" PRIMARY KEY, btree (id)\n' +
        '    "s_u" UNIQUE CONSTRAINT, btree (s)\n' +
        'Check constraints:\n' +
        '    "both_ok" CHECK (n < 100 AND s <> \'\')\n' +
        '    "ck_n_check" CHECK (n > 0)\n',
    );
  });

  it('leaves a table of the user named like a view alone where it is not a relation, and refuses the other catalogs', async () => {
    await client.query('CREATE TABLE notes (pg_tables TEXT)');
    await client.query("INSERT INTO notes VALUES ('mine')");
    expect(await rows('SELECT pg_tables FROM notes')).toEqual([['mine']]);
    await expect(client.query('SELECT * FROM information_schema.routines')).rejects.toMatchObject({
      code: '0A000',
    });
    await expect(client.query('SELECT relname FROM pg_class')).rejects.toMatchObject({ code: '0A000' });
    // The refusal names the relation there is no view of, not the first catalog relation written.
    await expect(
      client.query(
        'SELECT c.column_name FROM information_schema.columns c LEFT JOIN pg_catalog.pg_attribute a ON a.attname = c.column_name',
      ),
    ).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('"pg_catalog.pg_attribute"') });
  });
});
