// Boolean select items (src/core/pgwire/select-item-types.ts): a comparison or logical expression in
// a select list is typed bool and named as PostgreSQL names it, so psql prints t/f and node-postgres
// gives true/false, where SQLite's 1/0 came out as int8. The translation, then the engine's kernel
// over node-postgres (both protocols), with random comparisons checked against JavaScript's answer.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSelectItemTypes } from '../../src/core/pgwire/select-item-types.js';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelClient } from './support/kernel-backend.js';

const facts = { serverVersion: '15.0', database: 'd', user: 'u', processId: 1 };

function items(sql: string) {
  const found = withSelectItemTypes(tokenize(sql));
  return {
    sql: found.tokens.map((token) => token.text).join(''),
    names: found.names,
    positions: found.positions,
  };
}

describe('boolean select items', () => {
  it('names and types comparisons and logical expressions as PostgreSQL does, and nothing else', () => {
    expect(items("SELECT id, amount > 10 AS big, name LIKE 'a%', note IS NULL, true, a <> b FROM t")).toEqual(
      {
        sql: `SELECT id, amount > 10 AS big, name LIKE 'a%' AS "?column?", note IS NULL AS "?column?", true AS "?column?", a <> b AS "?column?" FROM t`,
        names: ['big', '?column?', '?column?', '?column?', '?column?'],
        positions: [1, 2, 3, 4, 5],
      },
    );
    expect(items('SELECT EXISTS (SELECT 1 FROM t), NOT EXISTS (SELECT 1) AS none').names).toEqual([
      'exists',
      'none',
    ]);
    // Not booleans: operators inside parentheses or CASE, arithmetic, shifts, JSON, concatenation.
    const none =
      "SELECT (a = b) + 1, CASE WHEN a = b THEN 1 END AS c, a << 2, doc->>'k', a || b, count(*), -a FROM t";
    expect(items(none)).toEqual({ sql: none, names: [], positions: [] });
    // An unaliased CASE is named `case`, as in PostgreSQL, and not typed.
    expect(items("SELECT CASE WHEN a THEN 'x' ELSE 'y' END, CASE a WHEN 1 THEN 2 END + 1 FROM t")).toEqual({
      sql: `SELECT CASE WHEN a THEN 'x' ELSE 'y' END AS "case", CASE a WHEN 1 THEN 2 END + 1 FROM t`,
      names: [],
      positions: [],
    });
    // An alias without AS is left alone; IS DISTINCT FROM does not end the list.
    expect(items('SELECT a = b big, c IS DISTINCT FROM d FROM t')).toEqual({
      sql: 'SELECT a = b big, c IS DISTINCT FROM d AS "?column?" FROM t',
      names: ['?column?'],
      positions: [1],
    });
    // A * before an item: its position is unknown, only its name is given.
    expect(items('SELECT *, a = b AS same FROM t')).toMatchObject({ names: ['same'], positions: [] });
    // Only a query's own select list: not INSERT … SELECT, CREATE … AS SELECT, a subquery's.
    for (const sql of [
      'INSERT INTO u SELECT a = b FROM t ON CONFLICT (id) DO UPDATE SET v = 1',
      'CREATE TABLE u AS SELECT a = b FROM t',
      'SELECT x FROM (SELECT a = b AS x FROM t) s',
      'UPDATE t SET f = (SELECT a = b FROM u)',
    ])
      expect(items(sql)).toEqual({ sql, names: [], positions: [] });
    expect(items('WITH c AS (SELECT 1 AS a) SELECT a = 1 FROM c UNION SELECT false').names).toEqual([
      '?column?',
    ]);
  });

  it('gives the translation the types by name and by position', () => {
    const translation = translate(tokenize('SELECT a = 1, b = 2, c FROM t'), facts);
    expect(translation.sql).toBe('SELECT a = 1 AS "?column?", b = 2 AS "?column?", c FROM t');
    expect([...(translation.resultTypesAt ?? [])]).toEqual([
      [0, 'BOOLEAN'],
      [1, 'BOOLEAN'],
    ]);
  });
});

describe('boolean select items over the wire', () => {
  let stop: () => Promise<void>;
  let client: pg.Client;

  beforeAll(async () => {
    ({ client, stop } = await startKernelClient());
    await client.query('CREATE TABLE items (id integer PRIMARY KEY, price integer, name text)');
    await client.query("INSERT INTO items VALUES (1, 5, 'apple'), (2, 50, 'Banana'), (3, NULL, NULL)");
  });

  afterAll(async () => {
    await stop?.();
  });

  it('gives node-postgres true, false and null, in both protocols, several ?column? included', async () => {
    const sql =
      "SELECT id, price > 10, name ILIKE 'b%' AS b, price IS NULL, EXISTS (SELECT 1 FROM items WHERE id > 2) FROM items ORDER BY id";
    for (const values of [undefined, []]) {
      const result = await client.query({
        text: sql,
        ...(values === undefined ? {} : { values }),
        rowMode: 'array',
      });
      expect(result.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
        ['id', 23],
        ['?column?', 16],
        ['b', 16],
        ['?column?', 16],
        ['exists', 16],
      ]);
      expect(result.rows).toEqual([
        [1, false, false, false, true],
        [2, true, true, false, true],
        [3, null, null, true, true],
      ]);
    }
    // One call of a JSON function is typed json: node-postgres parses it, as PostgreSQL's.
    const json = await client.query(
      "SELECT jsonb_build_object('n', count(*)) AS o, json_agg(id ORDER BY id) FILTER (WHERE id > 1), json_build_array(1, 'a') FROM items",
    );
    expect(json.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ['o', 114],
      ['json_agg', 114],
      ['json_build_array', 114],
    ]);
    expect(json.rows).toEqual([{ o: { n: 3 }, json_agg: [2, 3], json_build_array: [1, 'a'] }]);
    // So is a column's `->` step (node-postgres parses it, as PostgreSQL's jsonb); `->>` stays text.
    await client.query('CREATE TABLE docs (id integer PRIMARY KEY, body jsonb)');
    await client.query(`INSERT INTO docs VALUES (1, '{"tags": ["a", "b"], "meta": {"k": "v", "n": 2}}')`);
    const arrows = await client.query(
      "SELECT body->'tags' AS tags, d.body->'meta'->'n' AS n, body->'meta'->>'k' AS k, body->'tags'->0 AS first FROM docs d",
    );
    expect(arrows.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ['tags', 114],
      ['n', 114],
      ['k', 25],
      ['first', 114],
    ]);
    expect(arrows.rows).toEqual([{ tags: ['a', 'b'], n: 2, k: 'v', first: 'a' }]);
    const literal = await client.query('SELECT true, false AS f');
    expect(literal.rows).toEqual([{ '?column?': true, f: false }]);
    // Parentheses around the item, and the boolean functions, as PostgreSQL 15 types them.
    const more = await client.query(
      "SELECT (1 = 1), regexp_like('abc', 'B', 'i'), starts_with(name, 'a') AS s FROM items WHERE id = 1",
    );
    expect(more.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ['?column?', 16],
      ['regexp_like', 16],
      ['s', 16],
    ]);
    expect(more.rows).toEqual([{ '?column?': true, regexp_like: true, s: true }]);
    // Casts to bool, several of one name: typed by position.
    const casts = await client.query({
      text: "SELECT 'true'::bool, 1::bool, 'off'::boolean, CAST(0 AS bool)",
      rowMode: 'array',
    });
    expect(casts.fields.map((field) => field.dataTypeID)).toEqual([16, 16, 16, 16]);
    expect(casts.rows).toEqual([[true, true, false, false]]);
    // A boolean column and a bool cast stay as they were; a number stays a number.
    const mixed = await client.query('SELECT price + 1 AS p, price::bool AS has FROM items WHERE id = 1');
    expect(mixed.rows).toEqual([{ p: '6', has: true }]);
  });

  it('agrees with JavaScript on random comparisons of random values', async () => {
    const operand = fc.oneof(
      fc.integer({ min: -3, max: 3 }).map(String),
      fc.constantFrom('NULL', 'price', 'id'),
    );
    const operator = fc.constantFrom('=', '<>', '<', '<=', '>', '>=');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(operand, operator, operand), { minLength: 1, maxLength: 4 }),
        async (comparisons) => {
          const select = comparisons.map(([left, op, right]) => `${left} ${op} ${right}`).join(', ');
          const result = await client.query({
            text: `SELECT ${select} FROM items WHERE id = 1`,
            rowMode: 'array',
          });
          const row = { price: 5, id: 1 } as Record<string, number>;
          const operandValue = (text: string) => (text === 'NULL' ? null : (row[text] ?? Number(text)));
          const expected = comparisons.map(([left, op, right]) => {
            const a = operandValue(left);
            const b = operandValue(right);
            if (a === null || b === null) return null;
            return { '=': a === b, '<>': a !== b, '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b }[op];
          });
          expect(result.fields.every((field) => field.dataTypeID === 16)).toBe(true);
          expect(result.rows[0]).toEqual(expected);
        },
      ),
      { numRuns: 60, seed: 20_261_128 },
    );
  });
});
