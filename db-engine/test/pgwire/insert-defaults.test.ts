// DEFAULT as a value of INSERT … VALUES (src/core/pgwire/insert-defaults.ts), as TypeORM writes it for
// every generated key and Knex or Sequelize for a batch; SQLite's VALUES has no DEFAULT, so each of
// these was `near "DEFAULT": syntax error`. The rows and ids are what PostgreSQL 15.18 gave for the
// same statements after the same CREATE TABLE.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
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

  it('refuses DEFAULT in some rows of a column and not in others with 0A000 and what to write instead', async () => {
    await expect(
      client.query('INSERT INTO "user" (name, score) VALUES ($1, 1), ($2, DEFAULT)', ['dee', 'eve']),
    ).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('in some rows of a column') });
    await expect(client.query("INSERT INTO \"user\" VALUES (DEFAULT, 'x', 'a', 1)")).rejects.toMatchObject({
      code: '0A000',
    });
    expect((await client.query('SELECT count(*)::int AS n FROM "user"')).rows).toEqual([{ n: 3 }]);
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
    expect(() => translate(tokenize('INSERT INTO t (a) VALUES (DEFAULT), (DEFAULT)'), facts)).toThrow(
      PgSqlError,
    );
  });
});
