// PostgreSQL's EXPLAIN forms (src/core/pgwire/explain.ts) answered from SQLite's EXPLAIN QUERY PLAN:
// the options as PostgreSQL 15 reads them, the plan as PostgreSQL lays it out (one "QUERY PLAN"
// column, children under `->`, or one JSON document), and, over the wire on the engine's kernel with
// node-postgres, both protocols: a parameter bound into the explained statement, ANALYZE running the
// statement (a write included, undone by ROLLBACK), and a read-only transaction that may explain a
// write but not run one.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainOutcome, parseExplain } from '../../src/core/pgwire/explain.js';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelClient } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'd', user: 'u', processId: 1 };

function options(sql: string) {
  const parsed = parseExplain(tokenize(sql));
  if (parsed === null) throw new Error(`not an EXPLAIN: ${sql}`);
  return parsed.options;
}

function refusal(sql: string): { sqlstate: string; message: string } {
  try {
    parseExplain(tokenize(sql));
  } catch (error) {
    if (error instanceof PgSqlError) return { sqlstate: error.sqlstate, message: error.message };
    throw error;
  }
  throw new Error(`accepted: ${sql}`);
}

describe('EXPLAIN options', () => {
  it('reads the old form and the parenthesised one as PostgreSQL 15 does', () => {
    expect(parseExplain(tokenize('SELECT 1'))).toBeNull();
    expect(options('EXPLAIN SELECT 1')).toEqual({
      analyze: false,
      verbose: false,
      format: 'text',
      summary: false,
      timing: true,
    });
    expect(options('explain analyze verbose select 1')).toMatchObject({
      analyze: true,
      verbose: true,
      summary: true,
    });
    expect(options('EXPLAIN ANALYSE SELECT 1').analyze).toBe(true);
    expect(options('EXPLAIN (ANALYSE) SELECT 1').analyze).toBe(true);
    expect(options('EXPLAIN (ANALYZE, COSTS OFF, BUFFERS, FORMAT JSON) SELECT 1')).toMatchObject({
      analyze: true,
      format: 'json',
    });
    expect(options("EXPLAIN (analyze false, format 'text', summary on) SELECT 1")).toMatchObject({
      analyze: false,
      format: 'text',
      summary: true,
    });
    expect(options('EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF) SELECT 1')).toMatchObject({
      timing: false,
      summary: false,
    });
    const parsed = parseExplain(tokenize('EXPLAIN (FORMAT TEXT) WITH x AS (SELECT 1) SELECT * FROM x'));
    expect(parsed?.statement.map((token) => token.text).join('')).toBe(
      'WITH x AS (SELECT 1) SELECT * FROM x',
    );
  });

  it('refuses what PostgreSQL refuses, with its SQLSTATE', () => {
    expect(refusal('EXPLAIN (FOO) SELECT 1')).toEqual({
      sqlstate: '42601',
      message: 'unrecognized EXPLAIN option "foo"',
    });
    expect(refusal('EXPLAIN (FORMAT YAML) SELECT 1').sqlstate).toBe('0A000');
    expect(refusal('EXPLAIN (FORMAT CSV) SELECT 1').sqlstate).toBe('22023');
    expect(refusal('EXPLAIN (ANALYZE maybe) SELECT 1')).toEqual({
      sqlstate: '22023',
      message: 'analyze requires a Boolean value',
    });
    expect(refusal('EXPLAIN (TIMING OFF) SELECT 1').sqlstate).toBe('22023');
    expect(refusal('EXPLAIN (ANALYZE, ) SELECT 1').sqlstate).toBe('42601');
    expect(refusal('EXPLAIN (ANALYZE SELECT 1').sqlstate).toBe('22023');
    expect(refusal('EXPLAIN').message).toBe('syntax error at end of input');
    expect(refusal('EXPLAIN CREATE TABLE t (a int)')).toEqual({
      sqlstate: '42601',
      message: 'syntax error at or near "CREATE"',
    });
  });

  it('translates the statement inside as any statement, and plans it with SQLite', () => {
    const translation = translate(
      tokenize('EXPLAIN ANALYZE SELECT left(name, 2) FROM t WHERE id = $1'),
      facts,
    );
    expect(translation.sql).toMatch(/^EXPLAIN QUERY PLAN SELECT substr\(/);
    expect(translation.parameterCount).toBe(1);
    expect(translation.explain?.statement.sql).toBe(translation.sql.slice('EXPLAIN QUERY PLAN '.length));
    expect(translation.explain?.firstWord).toBe('SELECT');
  });
});

describe('EXPLAIN output', () => {
  // SQLite's EXPLAIN QUERY PLAN rows: id, parent, notused, detail.
  const plan = {
    columns: ['id', 'parent', 'notused', 'detail'],
    rows: [
      [1, 0, 0, 'COMPOUND QUERY'],
      [2, 1, 0, 'LEFT-MOST SUBQUERY'],
      [4, 2, 91, 'SEARCH orders USING INTEGER PRIMARY KEY (rowid=?)'],
      [31, 1, 0, 'UNION ALL'],
      [33, 31, 33, 'SCAN orders'],
      [40, 0, 0, 'USE TEMP B-TREE FOR ORDER BY'],
    ],
    changes: 0,
  };
  const text = { analyze: false, verbose: false, format: 'text' as const, summary: false, timing: true };

  it('lays the tree out as PostgreSQL does, in one text column', () => {
    const outcome = explainOutcome(plan, text, 'SELECT');
    expect(outcome.columns).toEqual(['QUERY PLAN']);
    expect(outcome.declaredTypes).toEqual(['TEXT']);
    expect(outcome.rows.map((row) => row[0])).toEqual([
      'COMPOUND QUERY',
      '  ->  LEFT-MOST SUBQUERY',
      '        ->  SEARCH orders USING INTEGER PRIMARY KEY (rowid=?)',
      '  ->  UNION ALL',
      '        ->  SCAN orders',
      'USE TEMP B-TREE FOR ORDER BY',
    ]);
    const analyzed = explainOutcome(plan, { ...text, analyze: true, summary: true }, 'SELECT', {
      rows: 3,
      executionMs: 1.23456,
    });
    expect(analyzed.rows.slice(-2).map((row) => row[0])).toEqual([
      'Actual Rows: 3',
      'Execution Time: 1.235 ms',
    ]);
    const untimed = explainOutcome(plan, { ...text, analyze: true, summary: false }, 'SELECT', {
      rows: 3,
      executionMs: 9,
    });
    expect(untimed.rows.at(-1)?.[0]).toBe('Actual Rows: 3');
  });

  it('gives one JSON document with FORMAT JSON', () => {
    const outcome = explainOutcome(
      plan,
      { ...text, format: 'json', analyze: true, summary: true },
      'SELECT',
      { rows: 2, executionMs: 0.5 },
    );
    expect(outcome.declaredTypes).toEqual(['JSON']);
    expect(outcome.rows).toHaveLength(1);
    const [document] = JSON.parse(String(outcome.rows[0]?.[0]));
    expect(document['Execution Time']).toBe(0.5);
    expect(document.Plan['Node Type']).toBe('Query');
    expect(document.Plan['Actual Rows']).toBe(2);
    expect(document.Plan.Plans[0]).toMatchObject({
      'Node Type': 'COMPOUND QUERY',
      Plans: [
        { 'Node Type': 'LEFT-MOST SUBQUERY', Plans: [{ 'Node Type': 'SEARCH' }] },
        { 'Node Type': 'UNION ALL', Plans: [{ 'Node Type': 'SCAN', Detail: 'SCAN orders' }] },
      ],
    });
    const single = explainOutcome(
      { ...plan, rows: [[3, 0, 0, 'SCAN orders']] },
      { ...text, format: 'json' },
      'SELECT',
    );
    expect(JSON.parse(String(single.rows[0]?.[0]))).toEqual([
      { Plan: { 'Node Type': 'SCAN', Detail: 'SCAN orders' } },
    ]);
  });
});

describe('EXPLAIN over the wire', () => {
  let stop: () => Promise<void>;
  let client: pg.Client;

  beforeAll(async () => {
    ({ client, stop } = await startKernelClient());
    await client.query('CREATE TABLE orders (id serial PRIMARY KEY, customer text, amount numeric)');
    await client.query('CREATE INDEX orders_customer ON orders (customer)');
    await client.query("INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('bob', 20), ('ann', 7)");
  });

  afterAll(async () => {
    await stop?.();
  });

  const lines = (result: pg.QueryResult) => result.rows.map((row) => row['QUERY PLAN'] as string);

  it('plans a statement, with its parameter bound (extended protocol) or not (simple Query)', async () => {
    const simple = await client.query("EXPLAIN SELECT * FROM orders WHERE customer = 'ann'");
    expect(simple.command).toBe('EXPLAIN');
    expect(simple.fields.map((field) => [field.name, field.dataTypeID])).toEqual([['QUERY PLAN', 25]]);
    expect(lines(simple)).toEqual(['SEARCH orders USING INDEX orders_customer (customer=?)']);
    const extended = await client.query('EXPLAIN SELECT * FROM orders WHERE customer = $1 ORDER BY amount', [
      'ann',
    ]);
    expect(lines(extended)).toEqual([
      'SEARCH orders USING INDEX orders_customer (customer=?)',
      'USE TEMP B-TREE FOR ORDER BY',
    ]);
    const prepared = {
      name: 'explain-by-id',
      text: 'EXPLAIN ANALYZE SELECT amount FROM orders WHERE id = $1',
    };
    for (const id of [1, 2]) {
      const analyzed = await client.query({ ...prepared, values: [id] });
      expect(lines(analyzed)[0]).toBe('SEARCH orders USING INTEGER PRIMARY KEY (rowid=?)');
      expect(lines(analyzed)[1]).toBe('Actual Rows: 1');
      expect(lines(analyzed)[2]).toMatch(/^Execution Time: \d+\.\d{3} ms$/);
    }
  });

  it('runs the statement with ANALYZE, as PostgreSQL does; ROLLBACK undoes a write', async () => {
    const analyzed = await client.query(
      "EXPLAIN ANALYZE UPDATE orders SET amount = amount + 1 WHERE customer = 'ann'",
    );
    expect(lines(analyzed)).toContain('Actual Rows: 2');
    expect((await client.query("SELECT sum(amount) AS s FROM orders WHERE customer = 'ann'")).rows[0].s).toBe(
      '19',
    );
    await client.query('BEGIN');
    const deleted = await client.query(
      'EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM orders WHERE id = $1',
      [2],
    );
    expect(deleted.fields[0]?.dataTypeID).toBe(114);
    const [document] = deleted.rows[0]['QUERY PLAN'];
    expect(document.Plan).toMatchObject({ 'Node Type': 'SEARCH', 'Actual Rows': 1 });
    expect(typeof document['Execution Time']).toBe('number');
    expect((await client.query('SELECT count(*) AS n FROM orders')).rows[0].n).toBe('2');
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*) AS n FROM orders')).rows[0].n).toBe('3');
  });

  it('explains a write in a read-only transaction, and refuses to run it there (25006)', async () => {
    await client.query('BEGIN READ ONLY');
    try {
      expect(lines(await client.query("EXPLAIN DELETE FROM orders WHERE customer = 'ann'"))).toEqual([
        'SEARCH orders USING INDEX orders_customer (customer=?)',
      ]);
      // SQLite plans no step for a DELETE of every row (it truncates) or an INSERT of values.
      expect(lines(await client.query('EXPLAIN DELETE FROM orders'))).toEqual(['DELETE']);
      expect(lines(await client.query("EXPLAIN INSERT INTO orders (customer) VALUES ('x')"))).toEqual([
        'INSERT',
      ]);
      await expect(client.query('EXPLAIN ANALYZE DELETE FROM orders')).rejects.toMatchObject({
        code: '25006',
      });
    } finally {
      await client.query('ROLLBACK');
    }
    expect((await client.query('SELECT count(*) AS n FROM orders')).rows[0].n).toBe('3');
    await expect(client.query('EXPLAIN (FORMAT XML) SELECT 1')).rejects.toMatchObject({ code: '0A000' });
    await expect(client.query('EXPLAIN SELECT * FROM missing')).rejects.toMatchObject({ code: '42P01' });
  });
});
