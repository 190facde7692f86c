/**
 * The whole-statement rewrites (src/core/pgwire/statement-rewrites.ts) run on the real kernel, as
 * the protocol runs them: each rewritten statement is one request entry (several SQLite statements
 * in one transaction). Proves that TRUNCATE … RESTART IDENTITY prepares whether or not any
 * AUTOINCREMENT table exists and resets only the named tables' numbering, that ADD PRIMARY KEY's
 * unique index refuses duplicates, that VACUUM and ANALYZE with tables run, and that
 * `FROM generate_series(…)` counts (numbers, and timestamps by an interval) as PostgreSQL's does, and that a VALUES list takes its alias's
 * column names. Over the extended protocol (node-postgres
 * named statements, on the SQLite test backend), a rewrite into several statements is prepared by
 * describing its first: SQLite prepares one statement at a time.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import { MemoryVolume, startKernel } from '../kernel/support/memory-volume.js';
import { startTestServer } from './support/server.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';

const facts = { serverVersion: '15.0', database: 'app', user: 'ann', processId: 7 };

describe('statement rewrites on the real kernel', () => {
  let host: KernelHost;

  beforeEach(async () => {
    host = await startKernel(new MemoryVolume());
  });

  afterEach(async () => {
    await host?.close();
  });

  /** Runs PostgreSQL statements, each translated as the protocol translates it; the last one's rows. */
  async function run(...statements: string[]): Promise<unknown[][]> {
    let rows: unknown[][] = [];
    for (const statement of statements) {
      const { sql } = translate(tokenize(statement), facts);
      const reply = await host.execute({ statements: [{ sql }] });
      if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}\n${sql}`);
      rows = reply.results[0]!.rows as unknown[][];
    }
    return rows;
  }

  it('TRUNCATE empties each table; RESTART IDENTITY works with and without sqlite_sequence', async () => {
    await run('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)', "INSERT INTO a (v) VALUES ('x'), ('y')");
    // No AUTOINCREMENT table exists yet: sqlite_sequence does not either.
    expect(
      await run('TRUNCATE a RESTART IDENTITY', "INSERT INTO a (v) VALUES ('z')", 'SELECT id FROM a'),
    ).toEqual([[1]]);
    await run(
      'CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)',
      'CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)',
      "INSERT INTO b (v) VALUES ('x'), ('y')",
      "INSERT INTO c (v) VALUES ('x'), ('y')",
    );
    expect(await run('TRUNCATE TABLE b, c', "INSERT INTO b (v) VALUES ('z')", 'SELECT id FROM b')).toEqual([
      [3],
    ]);
    expect(
      await run('TRUNCATE b RESTART IDENTITY', "INSERT INTO b (v) VALUES ('z')", 'SELECT id FROM b'),
    ).toEqual([[1]]);
    // c was not named: it keeps counting.
    expect(await run("INSERT INTO c (v) VALUES ('z')", 'SELECT id FROM c')).toEqual([[3]]);
    expect(await run("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'northlight%'")).toEqual([[0]]);
  });

  it('ADD PRIMARY KEY is a unique index that refuses duplicates', async () => {
    await run(
      'CREATE TABLE t (id int not null, v int) WITH (fillfactor=100)',
      'INSERT INTO t VALUES (1, 1), (2, 2)',
      'ALTER TABLE t ADD PRIMARY KEY (id)',
    );
    expect(await run('SELECT name FROM pragma_index_list(\'t\') WHERE "unique"')).toEqual([['t_pkey']]);
    await expect(run('INSERT INTO t VALUES (1, 3)')).rejects.toThrow(/UNIQUE constraint failed: t\.id/);
    await run('CREATE TABLE d (id int)', 'INSERT INTO d VALUES (1), (1)');
    await expect(run('ALTER TABLE d ADD PRIMARY KEY (id)')).rejects.toThrow(/UNIQUE constraint failed/);
    // As PostgreSQL's, the key's columns become NOT NULL; a NULL already there refuses the key.
    await run(
      'CREATE TABLE n (id int, v int)',
      'INSERT INTO n VALUES (1, 1)',
      'ALTER TABLE n ADD PRIMARY KEY (id)',
    );
    await expect(run('INSERT INTO n VALUES (NULL, 2)')).rejects.toThrow(/NOT NULL constraint failed: n\.id/);
    await run('CREATE TABLE m (id int)', 'INSERT INTO m VALUES (NULL)');
    await expect(run('ALTER TABLE m ADD PRIMARY KEY (id)')).rejects.toThrow(
      'column "id" of relation "m" contains null values',
    );
    expect(await run("SELECT count(*) FROM pragma_index_list('m')")).toEqual([[0]]);
  });

  it('primary key columns refuse NULL (23502), as in PostgreSQL; a serial key still numbers itself', async () => {
    await run(
      'CREATE TABLE k1 (code text PRIMARY KEY, v int)',
      'CREATE TABLE k2 (a int, "B" text, c int NULL, CONSTRAINT k2_pk PRIMARY KEY (a, "B" DESC))',
      'CREATE TABLE k3 (id serial PRIMARY KEY, v text)',
      'CREATE TABLE k4 (id int PRIMARY KEY NOT NULL, v int CHECK (v IS NULL OR v > 0)) WITHOUT ROWID',
      'CREATE TABLE k5 AS SELECT 1 AS x',
    );
    const refused = async (sql: string) => {
      const reply = await host.execute({ statements: [{ sql: translate(tokenize(sql), facts).sql }] });
      return reply.ok ? 'ok' : `${reply.error.sqlstate} ${reply.error.message}`;
    };
    expect(await refused('INSERT INTO k1 (v) VALUES (1)')).toBe('23502 NOT NULL constraint failed: k1.code');
    expect(await refused('INSERT INTO k2 (a, c) VALUES (1, NULL)')).toBe(
      '23502 NOT NULL constraint failed: k2.B',
    );
    expect(await refused('INSERT INTO k2 ("B") VALUES (\'x\')')).toBe(
      '23502 NOT NULL constraint failed: k2.a',
    );
    expect(await refused('INSERT INTO k2 (a, "B") VALUES (1, \'x\')')).toBe('ok');
    expect(await refused('INSERT INTO k4 (id, v) VALUES (NULL, 1)')).toBe(
      '23502 NOT NULL constraint failed: k4.id',
    );
    expect(
      await run(
        "INSERT INTO k3 (id, v) VALUES (NULL, 'a')",
        "INSERT INTO k3 (v) VALUES ('b')",
        'SELECT id FROM k3',
      ),
    ).toEqual([[1], [2]]);
    // Only the key columns: a nullable column stays nullable.
    expect(await run('SELECT name, "notnull" FROM pragma_table_info(\'k2\') ORDER BY cid')).toEqual([
      ['a', 1],
      ['B', 1],
      ['c', 0],
    ]);
  });

  it('FROM generate_series counts as PostgreSQL does, named after its alias', async () => {
    const values = async (sql: string) => (await run(sql)).map((row) => row[0]);
    expect(await values('SELECT * FROM generate_series(1, 5)')).toEqual([1, 2, 3, 4, 5]);
    expect(await values('SELECT x FROM generate_series(5, 1, -2) AS t(x)')).toEqual([5, 3, 1]);
    expect(await values('SELECT n FROM generate_series(1, 10, 4) n ORDER BY n DESC')).toEqual([9, 5, 1]);
    expect(await values('SELECT * FROM generate_series(3, 1)')).toEqual([]);
    expect(await values('SELECT * FROM generate_series(1, NULL)')).toEqual([]);
    expect(
      await values('SELECT generate_series FROM generate_series(2, 3) WHERE generate_series > 2'),
    ).toEqual([3]);
    expect(
      await values(
        'SELECT a.x * b.y FROM generate_series(1, 2) a(x) JOIN generate_series(10, 20, 10) b(y) ON 1 ORDER BY 1',
      ),
    ).toEqual([10, 20, 20, 40]);
    await run(
      'create table pgbench_accounts(aid int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)',
      "insert into pgbench_accounts(aid,bid,abalance,filler) select aid, (aid - 1) / 100000 + 1, 0, '' from generate_series(1, 200000) as aid",
    );
    expect(await run('SELECT count(*), min(aid), max(aid), max(bid) FROM pgbench_accounts')).toEqual([
      [200000, 1, 200000, 2],
    ]);
  });

  it('FROM generate_series of timestamps steps by an interval as PostgreSQL adds one', async () => {
    // Every expected answer is PostgreSQL 15's to the same statement.
    const values = async (sql: string) => (await run(sql)).map((row) => row[0]);
    expect(
      await values(
        "SELECT d::date FROM generate_series('2026-01-01'::date, '2026-01-03'::date, interval '1 day') AS d",
      ),
    ).toEqual(['2026-01-01', '2026-01-02', '2026-01-03']);
    // Each value is the one before plus a month, clamped to the month's end, as PostgreSQL steps.
    expect(
      await values(
        "SELECT d::date FROM generate_series('2026-01-31'::date, '2026-05-01'::date, '1 month'::interval) AS d",
      ),
    ).toEqual(['2026-01-31', '2026-02-28', '2026-03-28', '2026-04-28']);
    expect(
      await values(
        "SELECT count(*) FROM generate_series(timestamp '2026-01-01 00:00', timestamp '2026-01-01 12:00', '1 hour')",
      ),
    ).toEqual([13]);
    expect(
      await values(
        "SELECT t FROM generate_series('2026-01-01 10:00'::timestamp, '2026-01-01 09:00'::timestamp, interval '-20 minutes') t",
      ),
    ).toEqual(['2026-01-01 10:00:00', '2026-01-01 09:40:00', '2026-01-01 09:20:00', '2026-01-01 09:00:00']);
    expect(
      await values(
        "SELECT count(*) FROM generate_series('2026-01-02'::date, '2026-01-01'::date, interval '1 day')",
      ),
    ).toEqual([0]);
    // Offsets are read as instants (the series is in UTC).
    expect(
      await values(
        "SELECT x FROM generate_series('2026-01-01 01:00:00+02'::timestamptz, '2026-01-01 00:00:00+00', interval '30 minutes') AS x",
      ),
    ).toEqual(['2025-12-31 23:00:00', '2025-12-31 23:30:00', '2026-01-01 00:00:00']);
    // Filling the days a report has no rows for.
    expect(
      await run(
        'CREATE TABLE visits (at TIMESTAMP)',
        "INSERT INTO visits VALUES ('2026-03-01 10:00:00'), ('2026-03-03 11:00:00'), ('2026-03-03 12:00:00')",
        "SELECT d::date, count(v.at) FROM generate_series('2026-03-01'::date, '2026-03-03'::date, interval '1 day') AS d LEFT JOIN visits v ON v.at::date = d::date GROUP BY 1 ORDER BY 1",
      ),
    ).toEqual([
      ['2026-03-01', 1],
      ['2026-03-02', 0],
      ['2026-03-03', 2],
    ]);
    expect(() =>
      translate(tokenize("SELECT * FROM generate_series(now(), now(), interval '0 days')"), facts),
    ).toThrow('step size cannot equal zero');
  });

  it('a VALUES list in FROM takes the column names its alias gives, as in PostgreSQL', async () => {
    expect(await run("SELECT n, s FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s) ORDER BY n DESC")).toEqual([
      [2, 'b'],
      [1, 'a'],
    ]);
    // Columns the list leaves unnamed keep their names; AS is optional; quoted names keep their case.
    expect(await run("SELECT v.n, column2, column3 FROM (VALUES (1, 'a', 0)) v(n)")).toEqual([[1, 'a', 0]]);
    expect(
      await run(
        'SELECT v."Id", w.m FROM (VALUES (1), (2)) v ("Id") JOIN (VALUES (2)) AS w(m) ON v."Id" = w.m',
      ),
    ).toEqual([[2, 2]]);
    // The way to update many rows in one statement.
    expect(
      await run(
        'CREATE TABLE prices (id INTEGER PRIMARY KEY, price INTEGER)',
        'INSERT INTO prices VALUES (1, 10), (2, 20), (3, 30)',
        'UPDATE prices SET price = v.price FROM (VALUES (1, 11), (3, 33)) AS v(id, price) WHERE prices.id = v.id',
        'SELECT id, price FROM prices ORDER BY id',
      ),
    ).toEqual([
      [1, 11],
      [2, 20],
      [3, 33],
    ]);
    // Left alone: a CTE's column list (SQLite has it), a VALUES without a column list, INSERT … VALUES.
    for (const sql of [
      'WITH v(a, b) AS (VALUES (1, 2)) SELECT * FROM v',
      'SELECT * FROM (VALUES (1)) AS v',
      'INSERT INTO prices (id, price) VALUES (4, 40)',
    ])
      expect(translate(tokenize(sql), facts).sql).toBe(sql);
  });

  it('a column named index works unquoted, as in PostgreSQL (knex writes its lock table so)', async () => {
    expect(
      await run(
        'CREATE TABLE IF NOT EXISTS knex_migrations_lock (index serial primary key, is_locked integer)',
        'CREATE INDEX lock_state ON knex_migrations_lock (is_locked, index)',
        'INSERT INTO knex_migrations_lock (is_locked) VALUES (0)',
        'UPDATE knex_migrations_lock SET is_locked = 1 WHERE index = 1',
        'SELECT index, is_locked FROM knex_migrations_lock ORDER BY index',
      ),
    ).toEqual([[1, 1]]);
  });

  it('multi-table DROP, VACUUM and ANALYZE with tables run', async () => {
    await run(
      'CREATE TABLE x (a)',
      'CREATE TABLE y (a)',
      'CREATE INDEX y_a ON y (a)',
      'INSERT INTO y VALUES (1)',
    );
    await run('VACUUM ANALYZE x, y', 'VACUUM x', 'ANALYZE y', 'VACUUM', 'VACUUM FULL', 'VACUUM ANALYZE');
    expect(await run("SELECT tbl FROM sqlite_stat1 WHERE tbl = 'y'")).toEqual([['y']]);
    await run('DROP TABLE IF EXISTS x, y, z');
    expect(await run("SELECT name FROM sqlite_schema WHERE name IN ('x', 'y', 'y_a')")).toEqual([]);
  });
});

describe('statement rewrites over the extended protocol', () => {
  it('a DROP or TRUNCATE of several tables can be a prepared statement', async () => {
    const backend = new SqliteTestBackend();
    const server = await startTestServer(backend);
    const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'app' });
    await client.connect();
    try {
      let count = 0;
      const prepared = async (text: string) => client.query({ name: `s${count++}`, text });
      await prepared('CREATE TABLE a (id INTEGER PRIMARY KEY, v INT)');
      await prepared('CREATE TABLE b (v INT)');
      await prepared('INSERT INTO a (v) VALUES (1), (2)');
      expect((await prepared('TRUNCATE a, b RESTART IDENTITY')).command).toBe('TRUNCATE');
      expect((await prepared('SELECT count(*) AS n FROM a')).rows).toEqual([{ n: '0' }]);
      expect((await prepared('VACUUM ANALYZE a, b')).command).toBe('VACUUM');
      expect((await prepared('DROP TABLE a, b')).command).toBe('DROP');
      await expect(prepared('SELECT * FROM b')).rejects.toThrow(/no such table: b/);
    } finally {
      await client.end();
      await server.stop();
      backend.close();
    }
  });
});
