// SELECT DISTINCT ON (src/core/pgwire/distinct-on.ts): the first row of each group of keys in the
// ORDER BY's order, as a window over the same rows. The translation's shape and its refusals, then
// random tables over node-postgres on the engine's kernel against the same query computed in
// JavaScript (keys, order with ties broken by id, aliases and positions, a parameter, a LIMIT).
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelClient } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'd', user: 'u', processId: 1 };
const sqlite = (sql: string) => translate(tokenize(sql), facts).sql;

describe('DISTINCT ON translation', () => {
  it('becomes a window over the same rows, PostgreSQL names kept', () => {
    expect(
      sqlite(
        'SELECT DISTINCT ON (customer) customer, amount AS a FROM orders ORDER BY customer, amount DESC',
      ),
    ).toBe(
      'SELECT _nl_0 AS "customer", _nl_1 AS "a" FROM (SELECT customer AS _nl_0, amount AS _nl_1, customer AS _nl_o0, ' +
        'amount AS _nl_o1, row_number() OVER (PARTITION BY customer ORDER BY customer, amount DESC) AS _nl_rn ' +
        'FROM orders) WHERE _nl_rn = 1 ORDER BY _nl_o0, _nl_o1 DESC',
    );
    // In a subquery or a CTE too, and an unaliased CASE is named `case`.
    expect(sqlite('SELECT * FROM (SELECT DISTINCT ON (g) g, id FROM u ORDER BY g, id) s')).toBe(
      'SELECT * FROM (SELECT _nl_0 AS "g", _nl_1 AS "id" FROM (SELECT g AS _nl_0, id AS _nl_1, g AS _nl_o0, id AS _nl_o1, ' +
        'row_number() OVER (PARTITION BY g ORDER BY g, id) AS _nl_rn FROM u) WHERE _nl_rn = 1 ORDER BY _nl_o0, _nl_o1) s',
    );
    expect(
      sqlite('WITH x AS (SELECT DISTINCT ON (k) k, CASE WHEN v THEN 1 END FROM t) SELECT * FROM x'),
    ).toContain('_nl_1 AS "case"');
    // Plain DISTINCT and other queries are left alone.
    for (const sql of ['SELECT DISTINCT a FROM t', 'SELECT a FROM t ORDER BY a'])
      expect(sqlite(sql)).toBe(sql);
  });

  it('refuses what it cannot carry through, with a hint', () => {
    const refusal = (sql: string) => {
      try {
        sqlite(sql);
      } catch (error) {
        if (error instanceof PgSqlError) return [error.sqlstate, error.hint];
      }
      return null;
    };
    expect(refusal('SELECT DISTINCT ON (a) * FROM t ORDER BY a')).toEqual([
      '0A000',
      expect.stringContaining('Name the columns'),
    ]);
    expect(refusal('SELECT DISTINCT ON (a) a FROM t UNION SELECT 1')?.[0]).toBe('0A000');
    // As PostgreSQL: the ORDER BY must start with the keys.
    expect(refusal('SELECT DISTINCT ON (a) a, b FROM t ORDER BY b, a')?.[0]).toBe('42P10');
    expect(refusal('SELECT DISTINCT ON (a, b) a, b FROM t ORDER BY b, a, c')).toBeNull();
  });
});

describe('DISTINCT ON over the wire', () => {
  let stop: () => Promise<void>;
  let client: pg.Client;

  beforeAll(async () => {
    ({ client, stop } = await startKernelClient());
    await client.query(
      'CREATE TABLE readings (id integer PRIMARY KEY, sensor text, value integer, note text)',
    );
  });

  afterAll(async () => {
    await stop?.();
  });

  it('keeps the first row of each key in the ORDER BY order, as PostgreSQL does', async () => {
    const row = fc.record({
      sensor: fc.constantFrom('a', 'b', 'c', 'd'),
      value: fc.integer({ min: -5, max: 5 }),
      note: fc.option(fc.constantFrom('x', 'y'), { nil: null }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 25 }),
        fc.integer({ min: -6, max: 6 }),
        fc.nat({ max: 5 }),
        async (rows, floor, limit) => {
          await client.query('DELETE FROM readings');
          for (const [index, each] of rows.entries())
            await client.query('INSERT INTO readings VALUES ($1, $2, $3, $4)', [
              index + 1,
              each.sensor,
              each.value,
              each.note,
            ]);
          const result = await client.query(
            `SELECT DISTINCT ON (sensor) sensor, value AS v, id, upper(note)
             FROM readings WHERE value >= $1 ORDER BY 1, v DESC, id LIMIT ${limit}`,
            [floor],
          );
          const expected = [
            ...rows
              .map((each, index) => ({ ...each, id: index + 1 }))
              .filter((each) => each.value >= floor)
              .sort((x, y) =>
                x.sensor < y.sensor ? -1 : x.sensor > y.sensor ? 1 : y.value - x.value || x.id - y.id,
              )
              .reduce(
                (first, each) => (first.has(each.sensor) ? first : first.set(each.sensor, each)),
                new Map<string, { sensor: string; value: number; id: number; note: string | null }>(),
              )
              .values(),
          ]
            .slice(0, limit)
            .map((each) => ({
              sensor: each.sensor,
              v: each.value,
              id: each.id,
              upper: each.note?.toUpperCase() ?? null,
            }));
          expect(result.fields.map((field) => field.name)).toEqual(['sensor', 'v', 'id', 'upper']);
          expect(result.rows).toEqual(expected);
        },
      ),
      { numRuns: 30, seed: 20_261_128 },
    );
  });
});
