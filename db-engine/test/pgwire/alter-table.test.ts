// ALTER TABLE as migration tools write it (statement-rewrites.ts `alterTableActions`): several
// actions in one statement, `ADD COLUMN IF NOT EXISTS`, `DROP COLUMN IF EXISTS`, `ALTER TABLE IF
// EXISTS`. SQLite takes one action at a time and no IF clauses; the connection asks the table's
// columns when an IF clause needs them, and a skipped action gets PostgreSQL's NOTICE. On the
// engine's own kernel, through node-postgres (simple and extended protocol) and psql.
import { execFile } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenize } from '../../src/core/pgwire/sql.js';
import { alterTableActions, alterTableNeedingColumns } from '../../src/core/pgwire/statement-rewrites.js';
import { startKernelClient } from './support/kernel-backend.js';

let client: pg.Client;
let port: number;
let stop: () => Promise<void>;
const notices: string[] = [];

beforeAll(async () => {
  ({ client, port, stop } = await startKernelClient('app'));
  client.on('notice', (notice) => notices.push(`${notice.code} ${notice.message}`));
});

afterAll(async () => {
  await stop();
});

async function columns(table: string): Promise<string[]> {
  const result = await client.query(`SELECT name FROM pragma_table_info('${table}') ORDER BY cid`);
  return result.rows.map((row: { name: string }) => row.name);
}

/** The statement through the extended protocol: a named prepared statement. */
let named = 0;
function extended(text: string): Promise<pg.QueryResult> {
  named += 1;
  return client.query({ name: `alter_${named}`, text });
}

describe('alterTableActions (pure)', () => {
  const known = (names: string[] | null) => () => names;

  it('splits actions and decides IF clauses on the columns given', () => {
    const sql =
      'ALTER TABLE public.t ADD COLUMN IF NOT EXISTS a int, ADD b text DEFAULT \'x\', DROP COLUMN IF EXISTS c CASCADE, DROP IF EXISTS "D"';
    expect(alterTableNeedingColumns(tokenize(sql))).toBe('t');
    expect(alterTableActions(tokenize(sql), known(['a', 'D']))).toEqual({
      statements: ["ALTER TABLE public.t ADD b text DEFAULT 'x'", 'ALTER TABLE public.t DROP COLUMN "D"'],
      notices: [
        { sqlstate: '42701', message: 'column "a" of relation "t" already exists, skipping' },
        { sqlstate: '42703', message: 'column "c" of relation "t" does not exist, skipping' },
      ],
    });
    // Not known: every action is tried, its IF clause dropped (SQLite has none).
    expect(
      alterTableActions(tokenize('ALTER TABLE t ADD COLUMN IF NOT EXISTS a int'), () => undefined),
    ).toEqual({
      statements: ['ALTER TABLE t ADD COLUMN a int'],
      notices: [],
    });
    expect(alterTableActions(tokenize('ALTER TABLE IF EXISTS t ADD a int'), known(null))).toEqual({
      statements: [],
      notices: [{ sqlstate: '42P01', message: 'relation "t" does not exist, skipping' }],
    });
  });

  it('leaves a single action without IF clause, and other statements, to the usual translation', () => {
    for (const sql of [
      'ALTER TABLE t ADD COLUMN a int',
      'ALTER TABLE t RENAME TO u',
      'ALTER INDEX i RENAME TO j',
      'SELECT 1',
    ]) {
      expect(alterTableActions(tokenize(sql), known(['a'])), sql).toBeNull();
      expect(alterTableNeedingColumns(tokenize(sql)), sql).toBeNull();
    }
    expect(() => alterTableActions(tokenize('ALTER TABLE t ADD COLUMN IF NOT EXISTS'), known([]))).toThrow(
      /column name must follow IF NOT EXISTS/,
    );
  });
});

describe('ALTER TABLE over the wire protocol', () => {
  it('adds several columns in one statement, in both protocols, and skips existing ones with a NOTICE', async () => {
    await client.query('CREATE TABLE accounts (id int PRIMARY KEY)');
    const added = await client.query(
      'ALTER TABLE accounts ADD COLUMN email text, ADD COLUMN created timestamptz DEFAULT now()',
    );
    expect(added.command).toBe('ALTER');
    expect(await columns('accounts')).toEqual(['id', 'email', 'created']);
    notices.length = 0;
    // A migration run twice: the second run changes nothing and says so.
    for (const run of [1, 2]) {
      await client.query("ALTER TABLE accounts ADD COLUMN IF NOT EXISTS plan text DEFAULT 'free'");
      await extended(
        'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS EMAIL text, ADD COLUMN IF NOT EXISTS score int',
      );
      expect(await columns('accounts'), `run ${run}`).toEqual(['id', 'email', 'created', 'plan', 'score']);
    }
    expect(notices).toEqual([
      '42701 column "email" of relation "accounts" already exists, skipping',
      '42701 column "plan" of relation "accounts" already exists, skipping',
      '42701 column "email" of relation "accounts" already exists, skipping',
      '42701 column "score" of relation "accounts" already exists, skipping',
    ]);
    await client.query('INSERT INTO accounts (id) VALUES (1)');
    expect((await client.query('SELECT plan FROM accounts')).rows).toEqual([{ plan: 'free' }]);
  });

  it('drops columns IF EXISTS, and skips a table that is not there', async () => {
    notices.length = 0;
    await client.query('ALTER TABLE accounts DROP COLUMN IF EXISTS score, DROP COLUMN IF EXISTS nothing');
    await extended('ALTER TABLE IF EXISTS ghosts ADD COLUMN a int');
    expect(await columns('accounts')).toEqual(['id', 'email', 'created', 'plan']);
    expect(notices).toEqual([
      '42703 column "nothing" of relation "accounts" does not exist, skipping',
      '42P01 relation "ghosts" does not exist, skipping',
    ]);
  });

  it('a prepared ALTER decides its IF clauses again at each execution', async () => {
    notices.length = 0;
    const prepared = { name: 'add_extra', text: 'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS extra int' };
    await client.query(prepared);
    expect(await columns('accounts')).toEqual(['id', 'email', 'created', 'plan', 'extra']);
    expect(notices).toEqual([]);
    await client.query(prepared); // the same prepared statement: Bind and Execute only
    expect(notices).toEqual(['42701 column "extra" of relation "accounts" already exists, skipping']);
    await client.query('ALTER TABLE accounts DROP COLUMN extra');
  });

  it('is all or nothing: an action SQLite cannot do fails the statement before any action runs', async () => {
    await expect(
      client.query(
        'ALTER TABLE accounts ADD COLUMN later int, ALTER COLUMN plan ADD GENERATED ALWAYS AS IDENTITY',
      ),
    ).rejects.toMatchObject({ code: '0A000' });
    await expect(
      client.query('ALTER TABLE accounts ADD COLUMN zip text, ADD COLUMN email text'),
    ).rejects.toThrow(/duplicate column/);
    expect(await columns('accounts')).toEqual(['id', 'email', 'created', 'plan']);
    await expect(client.query('ALTER TABLE accounts ADD COLUMN IF NOT EXISTS')).rejects.toMatchObject({
      code: '42601',
    });
  });

  it('psql shows the NOTICE as PostgreSQL does', async () => {
    const output = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        '/usr/bin/psql',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          'app',
          '-X',
          '-c',
          'ALTER TABLE accounts ADD COLUMN IF NOT EXISTS plan text',
        ],
        { env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'disable' }, timeout: 30_000 },
        (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
      );
    });
    expect(output.stdout.trim()).toBe('ALTER TABLE');
    expect(output.stderr.trim()).toBe(
      'NOTICE:  column "plan" of relation "accounts" already exists, skipping',
    );
  });
});

// What migration tools send after their CREATE TABLEs (kernel/alter-table.ts does it): Prisma's
// `ADD CONSTRAINT … FOREIGN KEY`, knex's and Sequelize's ALTER COLUMNs, TypeORM's SET DEFAULT. The
// expected values are PostgreSQL 15.18's answers to the same statements.
describe('constraints and columns that migrations change', () => {
  it("Prisma's migration: a named foreign key, listed by its name and enforced", async () => {
    await client.query(
      'CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"))',
    );
    await client.query(
      'CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" VARCHAR(255) NOT NULL, "authorId" INTEGER, "views" INTEGER DEFAULT 0, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"))',
    );
    await client.query(
      'ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE',
    );
    const constraints = await client.query(
      "SELECT constraint_name, constraint_type FROM information_schema.table_constraints WHERE table_name = 'Post' AND constraint_type <> 'CHECK' ORDER BY 1",
    );
    expect(constraints.rows).toEqual([
      { constraint_name: 'Post_authorId_fkey', constraint_type: 'FOREIGN KEY' },
      { constraint_name: 'Post_pkey', constraint_type: 'PRIMARY KEY' },
    ]);
    const referential = await client.query(
      "SELECT constraint_name, unique_constraint_name, update_rule, delete_rule FROM information_schema.referential_constraints WHERE constraint_name = 'Post_authorId_fkey'",
    );
    expect(referential.rows).toEqual([
      {
        constraint_name: 'Post_authorId_fkey',
        unique_constraint_name: 'User_pkey',
        update_rule: 'CASCADE',
        delete_rule: 'SET NULL',
      },
    ]);
    await expect(
      client.query(`INSERT INTO "Post" ("title", "authorId") VALUES ('x', 7)`),
    ).rejects.toMatchObject({
      code: '23503',
    });
    await client.query(`INSERT INTO "User" ("email") VALUES ('a@b')`);
    await client.query(`INSERT INTO "Post" ("title", "authorId") VALUES ('x', 1)`);
    await client.query('DELETE FROM "User"');
    expect((await client.query('SELECT "authorId" FROM "Post"')).rows).toEqual([{ authorId: null }]);
  });

  it("a foreign key the rows break is refused with PostgreSQL's DETAIL; DROP CONSTRAINT by its name", async () => {
    await client.query('CREATE TABLE users (id serial PRIMARY KEY)');
    await client.query('CREATE TABLE posts (id serial PRIMARY KEY, user_id int)');
    await client.query('INSERT INTO posts (user_id) VALUES (3)');
    // knex's .foreign('user_id').references('users.id').onDelete('CASCADE'), as it writes it.
    const knexAdd =
      'alter table "posts" add constraint "posts_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete CASCADE';
    await expect(client.query(knexAdd)).rejects.toMatchObject({
      code: '23503',
      message: 'insert or update on table "posts" violates foreign key constraint "posts_user_id_foreign"',
      detail: 'Key (user_id)=(3) is not present in table "users".',
    });
    await client.query('INSERT INTO users (id) VALUES (3)');
    await client.query({ name: 'knex_add', text: knexAdd });
    await client.query('DELETE FROM users');
    expect((await client.query('SELECT count(*)::int AS n FROM posts')).rows).toEqual([{ n: 0 }]);
    await client.query('alter table "posts" drop constraint "posts_user_id_foreign"');
    await client.query('INSERT INTO posts (user_id) VALUES (99)');
    await expect(
      client.query('alter table "posts" drop constraint "posts_user_id_foreign"'),
    ).rejects.toMatchObject({
      code: '42704',
      message: 'constraint "posts_user_id_foreign" of relation "posts" does not exist',
    });
  });

  it("knex's and Sequelize's ALTER COLUMN: type, NOT NULL and default, in one statement or several", async () => {
    await client.query(
      'ALTER TABLE "Post" ALTER COLUMN "title" DROP NOT NULL, ALTER COLUMN "views" SET NOT NULL, ALTER COLUMN "views" SET DEFAULT 10',
    );
    // knex's .alter() of a string column: the type with a USING cast.
    await client.query(
      'alter table "Post" alter column "title" type varchar(20) using ("title"::varchar(20))',
    );
    const inserted = await client.query(
      'INSERT INTO "Post" ("title") VALUES (NULL) RETURNING "title", "views"',
    );
    expect(inserted.rows).toEqual([{ title: null, views: 10 }]);
    expect(inserted.fields.map((field) => field.dataTypeID)).toEqual([1043, 23]); // varchar, int4
    await client.query('ALTER TABLE "Post" ALTER COLUMN "views" TYPE BIGINT');
    const typed = await client.query('SELECT "views" FROM "Post" LIMIT 1');
    expect(typed.fields[0]?.dataTypeID).toBe(20); // int8 now
    await expect(
      client.query('ALTER TABLE "Post" ALTER COLUMN "authorId" SET NOT NULL'),
    ).rejects.toMatchObject({
      code: '23502',
      message: 'column "authorId" of relation "Post" contains null values',
    });
    // TypeORM's SET DEFAULT now(): the translation's clock, evaluated per row.
    await client.query('ALTER TABLE "Post" ADD COLUMN "createdAt" timestamptz');
    await client.query('ALTER TABLE "Post" ALTER COLUMN "createdAt" SET DEFAULT now()');
    const created = await client.query(`INSERT INTO "Post" ("title") VALUES ('z') RETURNING "createdAt"`);
    expect(created.rows[0]?.createdAt).toBeInstanceOf(Date);
    expect(Math.abs((created.rows[0].createdAt as Date).getTime() - Date.now())).toBeLessThan(60_000);
  });

  it("psql's \\d shows the foreign key under the name it was given", async () => {
    await client.query(
      'ALTER TABLE posts ADD CONSTRAINT posts_owner FOREIGN KEY (user_id) REFERENCES users NOT VALID',
    );
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        '/usr/bin/psql',
        ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'app', '-X', '-c', '\\d posts'],
        { env: { ...process.env, PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'disable' }, timeout: 30_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
    expect(output).toContain('Foreign-key constraints:');
    expect(output).toContain('"posts_owner" FOREIGN KEY (user_id) REFERENCES users(id)');
  });

  it("an insert or delete that breaks a foreign key: PostgreSQL's message, DETAIL, table and constraint fields", async () => {
    await client.query('CREATE TABLE fk_parent (id serial PRIMARY KEY)');
    await client.query(
      'CREATE TABLE fk_child (id serial PRIMARY KEY, parent_id int, CONSTRAINT "FK_child_parent" FOREIGN KEY (parent_id) REFERENCES fk_parent (id))',
    );
    await client.query('INSERT INTO fk_parent DEFAULT VALUES');
    await client.query('INSERT INTO fk_child (parent_id) VALUES (1)');
    // TypeORM's insert, in the extended protocol; node-postgres exposes the fields PostgreSQL sends.
    await expect(
      client.query({ text: 'INSERT INTO "fk_child"("parent_id") VALUES ($1) RETURNING "id"', values: [42] }),
    ).rejects.toMatchObject({
      code: '23503',
      message: 'insert or update on table "fk_child" violates foreign key constraint "FK_child_parent"',
      detail: 'Key (parent_id)=(42) is not present in table "fk_parent".',
      schema: 'public',
      table: 'fk_child',
      constraint: 'FK_child_parent',
    });
    await expect(client.query('DELETE FROM fk_parent')).rejects.toMatchObject({
      code: '23503',
      message:
        'update or delete on table "fk_parent" violates foreign key constraint "FK_child_parent" on table "fk_child"',
      detail: 'Key (id)=(1) is still referenced from table "fk_child".',
      table: 'fk_child',
      constraint: 'FK_child_parent',
    });
    await client.query('DROP TABLE fk_child, fk_parent');
  });

  it('TRUNCATE and DROP TABLE of tables that reference each other take them together, as PostgreSQL does', async () => {
    await client.query('INSERT INTO users (id) VALUES (1), (99)');
    await client.query('UPDATE posts SET user_id = 1');
    await client.query('ALTER TABLE posts VALIDATE CONSTRAINT posts_owner');
    // The parent first: one table at a time, SQLite would fail on the child's rows.
    await client.query('TRUNCATE users, posts');
    // A table another table's foreign key points at is not dropped alone (PostgreSQL 15.18's error).
    await expect(client.query('DROP TABLE users')).rejects.toMatchObject({
      code: '2BP01',
      message: 'cannot drop table users because other objects depend on it',
      detail: 'constraint posts_owner on table posts depends on table users',
      hint: 'Use DROP ... CASCADE to drop the dependent objects too.',
    });
    expect((await client.query('SELECT count(*)::int AS n FROM posts')).rows).toEqual([{ n: 0 }]);
    await client.query('INSERT INTO users (id) VALUES (1); INSERT INTO posts (user_id) VALUES (1)');
    await client.query('DROP TABLE users, posts');
    // Sequelize's drop({ cascade: true }): the other tables' keys to it go, their rows stay.
    await client.query('CREATE TABLE dc_parent (id int PRIMARY KEY)');
    await client.query('CREATE TABLE dc_child (id int PRIMARY KEY, p int REFERENCES dc_parent)');
    await client.query('INSERT INTO dc_parent VALUES (1); INSERT INTO dc_child VALUES (1, 1)');
    await client.query('DROP TABLE IF EXISTS "dc_parent" CASCADE');
    await client.query('INSERT INTO dc_child VALUES (2, 9)');
    expect(
      (
        await client.query(
          "SELECT count(*)::int AS n FROM information_schema.table_constraints WHERE table_name = 'dc_child' AND constraint_type = 'FOREIGN KEY'",
        )
      ).rows,
    ).toEqual([{ n: 0 }]);
    expect(
      (await client.query("SELECT count(*)::int AS n FROM sqlite_schema WHERE name IN ('users', 'posts')"))
        .rows,
    ).toEqual([{ n: 0 }]);
  });
});
