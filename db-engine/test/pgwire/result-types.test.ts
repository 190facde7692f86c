// Result types PostgreSQL gives aggregates (min, max, sum, bool_and/bool_or), date_trunc and numeric(p, s) columns, on the engine's own
// kernel (SQLite in wasm) through node-postgres. SQLite's min/max, date functions and REAL numbers
// carry no declared type, so these came back as text or float8 (`max(created_at)` a string where
// PostgreSQL's client gets a Date, `price` 10.5 where PostgreSQL writes 10.50). Every expected row
// and type below is what PostgreSQL 15 answered to the same statements on the same rows.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oid } from '../../src/core/pgwire/types.js';
import { startKernelSessions } from './support/kernel-backend.js';

const SETUP = [
  'CREATE TABLE readings (id integer PRIMARY KEY, sensor text NOT NULL, at timestamp NOT NULL, seen timestamptz, price numeric(12,2), qty numeric(6), ratio numeric)',
  "INSERT INTO readings VALUES (1, 'a', '2026-03-01 09:59:59.75', '2026-03-01 09:59:59.75+00', 10.5, 3, 0.5), (2, 'a', '2026-03-02 10:00:00', '2026-03-02 23:30:00+00', 99.99, 12, 1.25), (3, 'b', '2026-03-02 11:30:00', NULL, 5, 7, 2), (4, 'b', '2026-04-15 23:59:59', '2026-04-15 23:59:59+00', 0.01, NULL, NULL)",
];

describe('result types of aggregates, date_trunc and numeric(p, s), through node-postgres', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;
  let client: pg.Client;

  beforeAll(async () => {
    sessions = await startKernelSessions();
    // Text as sent, so that the test sees the server's output and types, not node-postgres's parsing.
    client = await sessions.connect({ types: { getTypeParser: () => (value: string) => value } });
    for (const sql of SETUP) await client.query(sql);
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  /** The statement's column types and rows, as text; run as a simple Query and as a prepared one. */
  async function answer(sql: string): Promise<{ types: number[]; rows: (string | null)[][] }> {
    const simple = await client.query({ text: sql, rowMode: 'array' });
    const prepared = await client.query({ text: sql, rowMode: 'array', values: [] });
    const result = {
      types: simple.fields.map((field) => field.dataTypeID),
      rows: simple.rows as (string | null)[][],
    };
    expect({ types: prepared.fields.map((field) => field.dataTypeID), rows: prepared.rows }).toEqual(result);
    return result;
  }

  it('types min and max as their argument, with GROUP BY, FILTER, DISTINCT, OVER and in a subquery', async () => {
    expect(await answer('SELECT max(at), min(at), max(seen), min(seen) FROM readings')).toEqual({
      types: [Oid.timestamp, Oid.timestamp, Oid.timestamptz, Oid.timestamptz],
      rows: [
        [
          '2026-04-15 23:59:59',
          '2026-03-01 09:59:59.75',
          '2026-04-15 23:59:59+00',
          '2026-03-01 09:59:59.75+00',
        ],
      ],
    });
    expect(
      await answer(
        'SELECT sensor, max(at) AS last, min(price), max(id), count(*) FROM readings GROUP BY sensor ORDER BY sensor',
      ),
    ).toEqual({
      types: [Oid.text, Oid.timestamp, Oid.numeric, Oid.int4, Oid.int8],
      rows: [
        ['a', '2026-03-02 10:00:00', '10.50', '2', '2'],
        ['b', '2026-04-15 23:59:59', '0.01', '4', '2'],
      ],
    });
    expect(
      await answer("SELECT max(at) FILTER (WHERE sensor = 'a') AS last_a, max(DISTINCT price) FROM readings"),
    ).toEqual({ types: [Oid.timestamp, Oid.numeric], rows: [['2026-03-02 10:00:00', '99.99']] });
    expect(
      await answer(
        'SELECT id, max(price) OVER (PARTITION BY sensor) AS top, min(seen) OVER (ORDER BY id) AS first_seen FROM readings ORDER BY id',
      ),
    ).toEqual({
      types: [Oid.int4, Oid.numeric, Oid.timestamptz],
      rows: [
        ['1', '99.99', '2026-03-01 09:59:59.75+00'],
        ['2', '99.99', '2026-03-01 09:59:59.75+00'],
        ['3', '5.00', '2026-03-01 09:59:59.75+00'],
        ['4', '5.00', '2026-03-01 09:59:59.75+00'],
      ],
    });
    expect(await answer('SELECT (SELECT max(at) FROM readings) AS newest')).toEqual({
      types: [Oid.timestamp],
      rows: [['2026-04-15 23:59:59']],
    });
    expect(await answer("SELECT max(at) AS newest FROM readings WHERE sensor = 'z'")).toEqual({
      types: [Oid.timestamp],
      rows: [[null]],
    });
    // In HAVING too (the probe reads the aggregate there as its argument, and still prepares).
    expect(
      await answer("SELECT sensor, max(at) FROM readings GROUP BY sensor HAVING max(at) > '2026-04-01'"),
    ).toEqual({ types: [Oid.text, Oid.timestamp], rows: [['b', '2026-04-15 23:59:59']] });
  });

  it("types sum as PostgreSQL does: bigint of integers, a numeric(p, s) column's sum with its scale", async () => {
    expect(await answer('SELECT sum(price), sum(id), sum(qty), sum(ratio) FROM readings')).toEqual({
      types: [Oid.numeric, Oid.int8, Oid.numeric, Oid.numeric],
      rows: [['115.50', '10', '22', '3.75']],
    });
    expect(
      await answer(
        'SELECT sensor, sum(price) AS total, count(*) FROM readings GROUP BY sensor ORDER BY sensor',
      ),
    ).toEqual({
      types: [Oid.text, Oid.numeric, Oid.int8],
      rows: [
        ['a', '110.49', '2'],
        ['b', '5.01', '2'],
      ],
    });
    // Through a CTE and a subquery, in a window, with FILTER and DISTINCT, over no rows.
    expect(
      await answer(
        'WITH t AS (SELECT sensor, sum(price) AS total FROM readings GROUP BY sensor) SELECT sensor, total FROM t ORDER BY sensor',
      ),
    ).toEqual({
      types: [Oid.text, Oid.numeric],
      rows: [
        ['a', '110.49'],
        ['b', '5.01'],
      ],
    });
    expect(await answer('SELECT (SELECT sum(price) FROM readings) AS total')).toEqual({
      types: [Oid.numeric],
      rows: [['115.50']],
    });
    expect(
      await answer('SELECT id, sum(price) OVER (ORDER BY id) AS running FROM readings ORDER BY id'),
    ).toEqual({
      types: [Oid.int4, Oid.numeric],
      rows: [
        ['1', '10.50'],
        ['2', '110.49'],
        ['3', '115.49'],
        ['4', '115.50'],
      ],
    });
    expect(
      await answer(
        "SELECT sum(price) FILTER (WHERE sensor = 'a') AS a_total, sum(DISTINCT qty) FROM readings",
      ),
    ).toEqual({ types: [Oid.numeric, Oid.numeric], rows: [['110.49', '22']] });
    expect(await answer("SELECT sum(price) FROM readings WHERE sensor = 'z'")).toEqual({
      types: [Oid.numeric],
      rows: [[null]],
    });
  });

  it('answers bool_and, every and bool_or as booleans, with GROUP BY, FILTER and OVER', async () => {
    expect(
      await answer(
        "SELECT bool_and(price > 0) AS all_priced, bool_or(qty > 10) AS any_big, every(sensor = 'a') FROM readings",
      ),
    ).toEqual({ types: [Oid.bool, Oid.bool, Oid.bool], rows: [['t', 't', 'f']] });
    expect(
      await answer('SELECT sensor, bool_or(seen IS NULL) FROM readings GROUP BY sensor ORDER BY sensor'),
    ).toEqual({
      types: [Oid.text, Oid.bool],
      rows: [
        ['a', 'f'],
        ['b', 't'],
      ],
    });
    // NULLs are left out; over no rows (here, after FILTER) the answer is NULL.
    expect(
      await answer("SELECT bool_and(qty > 5), bool_and(qty > 0) FILTER (WHERE sensor = 'z') FROM readings"),
    ).toEqual({ types: [Oid.bool, Oid.bool], rows: [['f', null]] });
    expect(await answer('SELECT id, bool_or(qty > 10) OVER (ORDER BY id) FROM readings ORDER BY id')).toEqual(
      {
        types: [Oid.int4, Oid.bool],
        rows: [
          ['1', 'f'],
          ['2', 't'],
          ['3', 't'],
          ['4', 't'],
        ],
      },
    );
  });

  it('writes numeric(p, s) columns with their scale; a numeric without one as stored', async () => {
    expect(await answer('SELECT id, price, qty, ratio FROM readings ORDER BY id')).toEqual({
      types: [Oid.int4, Oid.numeric, Oid.numeric, Oid.numeric],
      rows: [
        ['1', '10.50', '3', '0.5'],
        ['2', '99.99', '12', '1.25'],
        ['3', '5.00', '7', '2'],
        ['4', '0.01', null, null],
      ],
    });
    // A value stored unrounded (SQLite does not round to the column's scale) is written rounded, as
    // PostgreSQL would have stored it.
    await client.query('CREATE TABLE ledger (id integer PRIMARY KEY, amount numeric(8,2))');
    await client.query('INSERT INTO ledger VALUES (1, 1.005), (2, -2.5), (3, 0.1 + 0.2)');
    expect(await answer('SELECT amount FROM ledger ORDER BY id')).toEqual({
      types: [Oid.numeric],
      rows: [['1.01'], ['-2.50'], ['0.30']],
    });
  });

  it('types date_trunc as its argument, at every unit, and truncates fractional seconds', async () => {
    expect(
      await answer(
        "SELECT date_trunc('second', at), date_trunc('minute', at), date_trunc('hour', at), date_trunc('day', at) FROM readings ORDER BY id",
      ),
    ).toEqual({
      types: [Oid.timestamp, Oid.timestamp, Oid.timestamp, Oid.timestamp],
      rows: [
        ['2026-03-01 09:59:59', '2026-03-01 09:59:00', '2026-03-01 09:00:00', '2026-03-01 00:00:00'],
        ['2026-03-02 10:00:00', '2026-03-02 10:00:00', '2026-03-02 10:00:00', '2026-03-02 00:00:00'],
        ['2026-03-02 11:30:00', '2026-03-02 11:30:00', '2026-03-02 11:00:00', '2026-03-02 00:00:00'],
        ['2026-04-15 23:59:59', '2026-04-15 23:59:00', '2026-04-15 23:00:00', '2026-04-15 00:00:00'],
      ],
    });
    expect(
      await answer(
        "SELECT date_trunc('week', seen), date_trunc('month', seen), date_trunc('year', seen), date_trunc('hour', seen) FROM readings ORDER BY id",
      ),
    ).toEqual({
      types: [Oid.timestamptz, Oid.timestamptz, Oid.timestamptz, Oid.timestamptz],
      rows: [
        [
          '2026-02-23 00:00:00+00',
          '2026-03-01 00:00:00+00',
          '2026-01-01 00:00:00+00',
          '2026-03-01 09:00:00+00',
        ],
        [
          '2026-03-02 00:00:00+00',
          '2026-03-01 00:00:00+00',
          '2026-01-01 00:00:00+00',
          '2026-03-02 23:00:00+00',
        ],
        [null, null, null, null],
        [
          '2026-04-13 00:00:00+00',
          '2026-04-01 00:00:00+00',
          '2026-01-01 00:00:00+00',
          '2026-04-15 23:00:00+00',
        ],
      ],
    });
    expect(
      await answer(
        "SELECT date_trunc('day', at) AS day, count(*), max(price) FROM readings GROUP BY 1 ORDER BY 1",
      ),
    ).toEqual({
      types: [Oid.timestamp, Oid.int8, Oid.numeric],
      rows: [
        ['2026-03-01 00:00:00', '1', '10.50'],
        ['2026-03-02 00:00:00', '2', '99.99'],
        ['2026-04-15 00:00:00', '1', '0.01'],
      ],
    });
  });

  it("gives node-postgres's default parsers what PostgreSQL gives them: Dates and numeric text", async () => {
    const app = await sessions.connect();
    try {
      const { rows } = await app.query(
        "SELECT max(seen) AS newest, date_trunc('day', at) AS day, max(price) AS top FROM readings WHERE id = 1 GROUP BY 2",
      );
      expect(rows[0].newest).toBeInstanceOf(Date);
      expect((rows[0].newest as Date).toISOString()).toBe('2026-03-01T09:59:59.750Z');
      expect(rows[0].day).toBeInstanceOf(Date);
      expect(rows[0].top).toBe('10.50');
    } finally {
      await app.end();
    }
  });
});
