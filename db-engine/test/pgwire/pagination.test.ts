// The SQL standard's row limits (src/core/pgwire/pagination.ts): OFFSET … ROWS FETCH FIRST … ROWS
// ONLY, OFFSET alone or before LIMIT, LIMIT ALL and NULL limits, as SQLite's LIMIT n OFFSET m; then the same
// pages over node-postgres on the engine's kernel, against the rows sliced in JavaScript.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelClient } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'd', user: 'u', processId: 1 };
const sqlite = (sql: string) => translate(tokenize(sql), facts).sql;
/** `x::int8` as the translation writes it (a real rounded, as PostgreSQL rounds it). */
const int8 = (x: string) =>
  `(CASE WHEN typeof(${x}) = 'real' THEN CAST(round(${x}) AS INTEGER) ELSE CAST(${x} AS INTEGER) END)`;

describe('standard row limits', () => {
  it('become LIMIT n OFFSET m, at every query level, parameters kept', () => {
    expect(sqlite('SELECT * FROM t ORDER BY id OFFSET 10 ROWS FETCH FIRST 5 ROWS ONLY')).toBe(
      'SELECT * FROM t ORDER BY id LIMIT 5 OFFSET 10',
    );
    expect(sqlite('SELECT * FROM t OFFSET $1 ROWS FETCH NEXT $2 ROWS ONLY')).toBe(
      `SELECT * FROM t LIMIT coalesce(${int8('?2')}, -1) OFFSET coalesce(${int8('?1')}, 0)`,
    );
    expect(sqlite('SELECT * FROM t FETCH FIRST ROW ONLY')).toBe('SELECT * FROM t LIMIT 1');
    expect(sqlite('SELECT * FROM t OFFSET 3')).toBe('SELECT * FROM t LIMIT -1 OFFSET 3');
    expect(sqlite('SELECT * FROM t OFFSET 3 ROW')).toBe('SELECT * FROM t LIMIT -1 OFFSET 3');
    expect(sqlite('SELECT * FROM t OFFSET 3 LIMIT 2')).toBe('SELECT * FROM t LIMIT 2 OFFSET 3');
    expect(sqlite('SELECT * FROM t LIMIT ALL OFFSET 2')).toBe('SELECT * FROM t LIMIT -1 OFFSET 2');
    expect(sqlite('SELECT * FROM (SELECT * FROM t OFFSET 1) s LIMIT 5')).toBe(
      'SELECT * FROM (SELECT * FROM t LIMIT -1 OFFSET 1) s LIMIT 5',
    );
    // Left alone: SQLite's own form, UNION ALL, a column named offset.
    for (const sql of ['SELECT * FROM t LIMIT 2 OFFSET 3', 'SELECT a FROM t UNION ALL SELECT b FROM u'])
      expect(sqlite(sql)).toBe(sql);
    expect(() => sqlite('SELECT * FROM t FETCH FIRST 2 ROWS WITH TIES')).toThrow(PgSqlError);
  });

  it('take NULL as PostgreSQL does: LIMIT NULL is no limit, OFFSET NULL is OFFSET 0', () => {
    expect(sqlite('SELECT * FROM t LIMIT NULL')).toBe('SELECT * FROM t LIMIT -1');
    expect(sqlite('SELECT * FROM t LIMIT null;')).toBe('SELECT * FROM t LIMIT -1;');
    expect(sqlite('SELECT * FROM t LIMIT 5 OFFSET NULL')).toBe('SELECT * FROM t LIMIT 5 OFFSET 0');
    expect(sqlite('SELECT * FROM t OFFSET NULL LIMIT NULL')).toBe('SELECT * FROM t LIMIT -1 OFFSET 0');
    expect(sqlite('SELECT * FROM (SELECT * FROM t LIMIT NULL) s')).toBe(
      'SELECT * FROM (SELECT * FROM t LIMIT -1) s',
    );
    // A parameter that is the whole value may be bound to NULL: no limit, offset 0; typed int8, as
    // PostgreSQL types a LIMIT or OFFSET parameter.
    expect(sqlite('SELECT * FROM t LIMIT $1 OFFSET $2')).toBe(
      `SELECT * FROM t LIMIT coalesce(${int8('?1')}, -1) OFFSET coalesce(${int8('?2')}, 0)`,
    );
    expect([...translate(tokenize('SELECT * FROM t OFFSET $2 LIMIT $1'), facts).castTypes].sort()).toEqual([
      [1, 'int8'],
      [2, 'int8'],
    ]);
    // Only the bare literal or parameter: an expression that may be NULL is left to SQLite.
    for (const sql of [
      'SELECT * FROM t LIMIT NULLIF(1, 1)',
      'SELECT NULL FROM t LIMIT 2',
      'SELECT * FROM t LIMIT ?',
    ])
      expect(sqlite(sql)).toBe(sql);
    expect(sqlite('SELECT * FROM t LIMIT $1 + 1')).toBe('SELECT * FROM t LIMIT ?1 + 1');
  });
});

describe('standard row limits over the wire', () => {
  let stop: () => Promise<void>;
  let client: pg.Client;
  const ids = Array.from({ length: 30 }, (_, index) => index + 1);

  beforeAll(async () => {
    ({ client, stop } = await startKernelClient());
    await client.query('CREATE TABLE pages (id integer PRIMARY KEY)');
    await client.query(`INSERT INTO pages VALUES ${ids.map((id) => `(${id})`).join(', ')}`);
  });

  afterAll(async () => {
    await stop?.();
  });

  it('returns the page PostgreSQL returns, for any offset and count, literal or parameter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 35 }),
        fc.nat({ max: 35 }),
        fc.boolean(),
        async (offset, count, bound) => {
          const result = bound
            ? await client.query('SELECT id FROM pages ORDER BY id OFFSET $1 ROWS FETCH NEXT $2 ROWS ONLY', [
                offset,
                count,
              ])
            : await client.query(
                `SELECT id FROM pages ORDER BY id OFFSET ${offset} ROWS FETCH FIRST ${count} ROWS ONLY`,
              );
          expect(result.rows.map((row) => row.id)).toEqual(ids.slice(offset, offset + count));
          const rest = await client.query(`SELECT id FROM pages ORDER BY id OFFSET ${offset}`);
          expect(rest.rows.map((row) => row.id)).toEqual(ids.slice(offset));
        },
      ),
      { numRuns: 40, seed: 20_261_128 },
    );
    const all = await client.query('SELECT count(*) AS n FROM (SELECT id FROM pages LIMIT ALL) s');
    expect(all.rows[0].n).toBe('30');
    const unlimited = await client.query('SELECT id FROM pages ORDER BY id LIMIT NULL OFFSET NULL');
    expect(unlimited.rows.map((row) => row.id)).toEqual(ids);
    // Bound to NULL (an ORM's "no limit"): the same, in both orders and in FETCH.
    for (const sql of [
      'SELECT id FROM pages ORDER BY id LIMIT $1 OFFSET $2',
      'SELECT id FROM pages ORDER BY id OFFSET $2 LIMIT $1',
      'SELECT id FROM pages ORDER BY id OFFSET $2 ROWS FETCH FIRST $1 ROWS ONLY',
    ]) {
      const bound = await client.query(sql, [null, null]);
      expect(
        bound.rows.map((row) => row.id),
        sql,
      ).toEqual(ids);
      const page = await client.query(sql, [2, null]);
      expect(
        page.rows.map((row) => row.id),
        sql,
      ).toEqual([1, 2]);
    }
    await expect(client.query('SELECT id FROM pages LIMIT $1', ['2.5'])).rejects.toMatchObject({
      code: '22P02',
    });
    await expect(client.query('SELECT id FROM pages FETCH FIRST 1 ROW WITH TIES')).rejects.toMatchObject({
      code: '0A000',
    });
  });
});
