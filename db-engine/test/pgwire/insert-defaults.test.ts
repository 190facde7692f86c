// DEFAULT as a value of INSERT … VALUES (src/core/pgwire/insert-defaults.ts), as TypeORM writes it for
// every generated key and Knex or Sequelize for a batch; SQLite's VALUES has no DEFAULT, so each of
// these was `near "DEFAULT": syntax error`. The rows and ids are what PostgreSQL 15.18 gave for the
// same statements after the same CREATE TABLE.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelSessions } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'app', user: 'ann', processId: 7 };

describe('DEFAULT in INSERT … VALUES, through node-postgres', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;
  let client: pg.Client;

  beforeAll(async () => {
    sessions = await startKernelSessions();
    client = await sessions.connect();
    await client.query(
      'CREATE TABLE "user" (id SERIAL PRIMARY KEY, name text NOT NULL, role text NOT NULL DEFAULT \'member\', score integer DEFAULT 0)',
    );
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  it("TypeORM's insert of one entity and of several: the generated key and the defaults", async () => {
    const one = await client.query(
      'INSERT INTO "user"("id", "name", "role") VALUES (DEFAULT, $1, DEFAULT) RETURNING "id", "role"',
      ['ann'],
    );
    expect(one.rows).toEqual([{ id: 1, role: 'member' }]);
    const two = await client.query(
      'INSERT INTO "user"("id", "name", "score") VALUES (DEFAULT, $1, $2), (DEFAULT, $3, $4) RETURNING "id", "score"',
      ['bo', 5, 'cy', 7],
    );
    expect(two.rows).toEqual([
      { id: 2, score: 5 },
      { id: 3, score: 7 },
    ]);
    // Every column DEFAULT: DEFAULT VALUES (the NOT NULL name without a default fails, 23502).
    await expect(
      client.query('INSERT INTO "user" (id, name) VALUES (DEFAULT, DEFAULT)'),
    ).rejects.toMatchObject({
      code: '23502',
    });
    expect((await client.query('SELECT id, name, role, score FROM "user" ORDER BY id')).rows).toEqual([
      { id: 1, name: 'ann', role: 'member', score: 0 },
      { id: 2, name: 'bo', role: 'member', score: 5 },
      { id: 3, name: 'cy', role: 'member', score: 7 },
    ]);
  });

  it("knex's batch whose rows leave out different columns, and rows with no column list: each DEFAULT is the column's default", async () => {
    const batch = await client.query(
      'INSERT INTO "user" (name, score) VALUES ($1, 1), ($2, DEFAULT) RETURNING id, name, role, score',
      ['dee', 'eve'],
    );
    expect(batch.rows).toEqual([
      { id: 4, name: 'dee', role: 'member', score: 1 },
      { id: 5, name: 'eve', role: 'member', score: 0 },
    ]);
    const positional = await client.query(
      'INSERT INTO "user" VALUES (DEFAULT, \'fay\', DEFAULT, 9) RETURNING *',
    );
    expect(positional.rows).toEqual([{ id: 6, name: 'fay', role: 'member', score: 9 }]);
    // The extended protocol, prepared once and run twice; the second run after the default changed.
    const text = 'INSERT INTO "user" (name, role) VALUES ($1, DEFAULT), ($2, $3) RETURNING id, role, score';
    const first = await client.query({ name: 'mixed_defaults', text, values: ['gus', 'hal', 'admin'] });
    expect(first.rows).toEqual([
      { id: 7, role: 'member', score: 0 },
      { id: 8, role: 'admin', score: 0 },
    ]);
    await client.query('ALTER TABLE "user" ALTER COLUMN role SET DEFAULT \'guest\'');
    const second = await client.query({ name: 'mixed_defaults', text, values: ['ida', 'jo', 'admin'] });
    expect(second.rows.map((row: { role: string }) => row.role)).toEqual(['guest', 'admin']);
    // Every column DEFAULT in several rows: each row its defaults (the NOT NULL name has none: 23502).
    await expect(
      client.query('INSERT INTO "user" (id, name) VALUES (DEFAULT, DEFAULT), (DEFAULT, DEFAULT)'),
    ).rejects.toMatchObject({
      code: '23502',
    });
    expect((await client.query('SELECT count(*)::int AS n FROM "user"')).rows).toEqual([{ n: 10 }]);
  });

  it('rewrites only the VALUES rows: upserts, quoted and dotted names, DEFAULT VALUES as written', () => {
    const sql = (text: string) => translate(tokenize(text), facts).sql;
    expect(
      sql(
        'INSERT INTO public.t AS x (a, b) VALUES (DEFAULT, 1) ON CONFLICT (b) DO UPDATE SET a = EXCLUDED.a',
      ),
    ).toBe('INSERT INTO t AS x (b) VALUES (1) ON CONFLICT (b) DO UPDATE SET a = excluded.a');
    expect(sql('INSERT INTO t (id) VALUES (DEFAULT) RETURNING id')).toBe(
      'INSERT INTO t DEFAULT VALUES RETURNING id',
    );
    expect(sql('INSERT INTO t DEFAULT VALUES')).toBe('INSERT INTO t DEFAULT VALUES');
    expect(sql("INSERT INTO t (a, b) VALUES (f('DEFAULT'), (DEFAULT))")).toBe(
      "INSERT INTO t (a, b) VALUES (f('DEFAULT'), (DEFAULT))",
    );
    // What needs the column's default goes on to the kernel as it is (kernel/default-values.ts).
    expect(sql('INSERT INTO t (a) VALUES (DEFAULT), (DEFAULT)')).toBe(
      'INSERT INTO t (a) VALUES (DEFAULT), (DEFAULT)',
    );
    expect(sql('INSERT INTO t (a, b) VALUES (1, DEFAULT), (DEFAULT, 2)')).toBe(
      'INSERT INTO t (a, b) VALUES (1, DEFAULT), (DEFAULT, 2)',
    );
  });
});
