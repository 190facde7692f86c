/**
 * The whole-statement rewrites (src/core/pgwire/statement-rewrites.ts) run on the real kernel, as
 * the protocol runs them: each rewritten statement is one request entry (several SQLite statements
 * in one transaction). Proves that TRUNCATE … RESTART IDENTITY prepares whether or not any
 * AUTOINCREMENT table exists and resets only the named tables' numbering, that ADD PRIMARY KEY's
 * unique index refuses duplicates, and that VACUUM and ANALYZE with tables run.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import { MemoryVolume, startKernel } from '../kernel/support/memory-volume.js';

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
  });

  it('multi-table DROP, VACUUM and ANALYZE with tables run', async () => {
    await run(
      'CREATE TABLE x (a)',
      'CREATE TABLE y (a)',
      'CREATE INDEX y_a ON y (a)',
      'INSERT INTO y VALUES (1)',
    );
    await run('VACUUM ANALYZE x, y', 'VACUUM x', 'ANALYZE y', 'VACUUM');
    expect(await run("SELECT tbl FROM sqlite_stat1 WHERE tbl = 'y'")).toEqual([['y']]);
    await run('DROP TABLE IF EXISTS x, y, z');
    expect(await run("SELECT name FROM sqlite_schema WHERE name IN ('x', 'y', 'y_a')")).toEqual([]);
  });
});
