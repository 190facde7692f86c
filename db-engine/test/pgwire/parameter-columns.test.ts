/**
 * Which column an untyped parameter or string literal stands for (src/core/pgwire/parameter-columns.ts):
 * the plain shapes over one table (a parameter also over tables joined, resolved by SQLite), and
 * nothing (rather than a guess) for subqueries, expressions and other tables' columns; a literal only
 * when it is a whole operand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { literalColumns, parameterColumns } from '../../src/core/pgwire/parameter-columns.js';
import { withPostgresForms } from '../../src/core/pgwire/postgres-forms.js';
import { PgSqlError, tokenize } from '../../src/core/pgwire/sql.js';
import { alterTableActions } from '../../src/core/pgwire/statement-rewrites.js';

function columns(sql: string): [string, [number, string][]] | null {
  const found = parameterColumns(withPostgresForms(tokenize(sql)));
  return found === null ? null : [found.table, [...found.columns].sort((a, b) => a[0] - b[0])];
}

describe('parameterColumns', () => {
  it('INSERT … VALUES: each parameter that is a whole value, in every tuple; ON CONFLICT … SET', () => {
    expect(
      columns('INSERT INTO public.Users (Id, active, note) VALUES ($1, $2, lower($3)), ($4, $5, $6)'),
    ).toEqual([
      'users',
      [
        [1, 'id'],
        [2, 'active'],
        [4, 'id'],
        [5, 'active'],
        [6, 'note'],
      ],
    ]);
    expect(
      columns('INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $3 RETURNING a'),
    ).toEqual([
      't',
      [
        [1, 'a'],
        [2, 'b'],
        [3, 'b'],
      ],
    ]);
    expect(columns('INSERT INTO t VALUES ($1, $2)')).toBeNull(); // no column list: no names
    expect(columns('INSERT INTO t VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $3')).toEqual([
      't',
      [[3, 'b']],
    ]);
    expect(columns('INSERT INTO t (a) SELECT $1')).toBeNull();
  });

  it('UPDATE … SET and comparisons, qualified by the table or its alias, either side, any operator', () => {
    expect(columns('UPDATE t AS x SET a = $1, b = b + $2 WHERE x.id = $3 AND $4 <= c AND d <> $5')).toEqual([
      't',
      [
        [1, 'a'],
        [3, 'id'],
        [4, 'c'],
        [5, 'd'],
      ],
    ]);
    expect(columns('SELECT * FROM t x WHERE x.a >= $1 OR t.b != $2 ORDER BY a LIMIT $3')).toEqual([
      't',
      [
        [1, 'a'],
        [2, 'b'],
      ],
    ]);
    expect(columns('DELETE FROM t WHERE id = $1')).toEqual(['t', [[1, 'id']]]);
  });

  it('BETWEEN bounds and IN elements, NOT and SYMMETRIC included', () => {
    expect(
      columns(
        'SELECT * FROM t WHERE a BETWEEN $1 AND $2 AND b NOT BETWEEN SYMMETRIC $3 AND $4 OR c IN ($5, $6)',
      ),
    ).toEqual([
      't',
      [
        [1, 'a'],
        [2, 'a'],
        [3, 'b'],
        [4, 'b'],
        [5, 'c'],
        [6, 'c'],
      ],
    ]);
    expect(columns('DELETE FROM t WHERE x.a NOT IN ($1, $2 + 1)')).toBeNull(); // another qualifier
    expect(columns('DELETE FROM t WHERE a NOT IN ($1, $2 + 1, $3)')).toEqual(['t', [[1, 'a']]]);
  });

  it('over joined tables: the FROM clause, and each column as written, for SQLite to resolve', () => {
    expect(columns('SELECT * FROM t JOIN u ON u.id = t.u WHERE t.a = $1')).toEqual([
      't JOIN u ON u . id = t . u',
      [[1, 't.a']],
    ]);
    // knex's join with an unqualified column; TypeORM's quoted aliases; a parameter in ON.
    expect(
      columns(
        'select "k_posts"."title" from "k_posts" inner join "k_authors" on "k_authors"."id" = "k_posts"."author_id" where "published" = $1 limit $2',
      ),
    ).toEqual([
      '"k_posts" inner join "k_authors" on "k_authors" . "id" = "k_posts" . "author_id"',
      [[1, '"published"']],
    ]);
    expect(
      columns('SELECT * FROM a "A" LEFT JOIN b "B" ON "B"."id" = "A"."b" AND "B".kind = $2 WHERE "A".n > $1'),
    ).toEqual([
      'a "A" LEFT JOIN b "B" ON "B" . "id" = "A" . "b" AND "B" . kind = $2',
      [
        [1, '"A".n'],
        [2, '"B".kind'],
      ],
    ]);
    expect(columns('SELECT * FROM t, u WHERE a = $1')).toEqual(['t , u', [[1, 'a']]]);
    // Not followed: USING and NATURAL joins (merged columns), subqueries and functions in FROM.
    expect(columns('SELECT * FROM t JOIN u USING (id) WHERE a = $1')).toBeNull();
    expect(columns('SELECT * FROM t NATURAL JOIN u WHERE a = $1')).toBeNull();
    expect(columns('SELECT * FROM t JOIN (SELECT 1 AS x) s ON s.x = t.a WHERE a = $1')).toBeNull();
    expect(columns('SELECT * FROM t JOIN json_each(t.j) e WHERE e.value = $1')).toBeNull();
  });

  it('gives nothing it could get wrong: subqueries, functions, other qualifiers', () => {
    expect(columns('SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = $1)')).toBeNull();
    expect(columns('DELETE FROM t JOIN u WHERE a = $1')).toBeNull();
    expect(columns('SELECT * FROM t WHERE lower(a) = $1 AND u.b = $2 AND $3 = f(c)')).toBeNull();
    expect(columns('SELECT $1::int')).toBeNull();
    // One parameter given two columns: none.
    expect(columns('SELECT * FROM t WHERE a = $1 OR b = $1')).toBeNull();
    expect(columns('SELECT * FROM t WHERE a = $1 OR a > $1')).toEqual(['t', [[1, 'a']]]);
  });
});

/** [table, [literal text, column][]] in the order the literals are written. */
function literals(sql: string): [string, [string, string | number][]] | null {
  const found = literalColumns(withPostgresForms(tokenize(sql)));
  return found === null
    ? null
    : [found.table, [...found.columns].map(([token, column]) => [token.text, column])];
}

describe('literalColumns', () => {
  it('INSERT … VALUES with and without a column list (by position), UPDATE … SET, ON CONFLICT', () => {
    expect(
      literals(
        "INSERT INTO public.ev (id, at, note) VALUES (1, '2024-05-06T00:00:00Z', 'x'), (2, 'b', lower('c'))",
      ),
    ).toEqual([
      'ev',
      [
        ["'2024-05-06T00:00:00Z'", 'at'],
        ["'x'", 'note'],
        ["'b'", 'at'],
      ],
    ]);
    expect(literals("INSERT INTO ev VALUES (1, 'a', E'b', 'c'::text)")).toEqual([
      'ev',
      [
        ["'a'", 1],
        ["E'b'", 2],
      ],
    ]);
    expect(literals("UPDATE ev SET at = 'a', n = n + '1' WHERE id = 7 RETURNING at")).toEqual([
      'ev',
      [["'a'", 'at']],
    ]);
    expect(literals("INSERT INTO ev (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET at = 'a'")).toEqual([
      'ev',
      [["'a'", 'at']],
    ]);
  });

  it("comparisons either side, BETWEEN (Grafana's $__timeFilter), IN, qualified by the table or its alias", () => {
    expect(
      literals(
        "SELECT at AS time, v FROM metrics m WHERE m.at BETWEEN '2024-05-06T00:00:00Z' AND '2024-05-06T06:00:00Z' AND 'x' <> host ORDER BY 1",
      ),
    ).toEqual([
      'metrics',
      [
        ["'2024-05-06T00:00:00Z'", 'at'],
        ["'2024-05-06T06:00:00Z'", 'at'],
        ["'x'", 'host'],
      ],
    ]);
    expect(literals("DELETE FROM ev WHERE (at < '2024-01-01') OR kind NOT IN ('a', 'b')")).toEqual([
      'ev',
      [
        ["'2024-01-01'", 'at'],
        ["'a'", 'kind'],
        ["'b'", 'kind'],
      ],
    ]);
  });

  it('only a whole operand: not in an expression, not cast, not a called or other column', () => {
    expect(literals("SELECT * FROM ev WHERE at = 'a' || b")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE at = 'a'::text")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE b + at = 'a'")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE 'a' = at + 1")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE lower(at) = 'a'")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE at BETWEEN 'a' AND 'b' || c")).toEqual(['ev', [["'a'", 'at']]]);
    expect(literals("SELECT * FROM ev e JOIN f ON f.id = e.id WHERE e.at = 'a'")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE at IN (SELECT x FROM f WHERE y = 'a')")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE f.at = 'a'")).toBeNull();
    expect(literals("SELECT * FROM ev WHERE at LIKE 'a%'")).toBeNull();
    // One literal, two columns: none.
    expect(literals("SELECT * FROM ev WHERE at = 'a' = b")).toBeNull();
  });
});

describe('the scans on arbitrary statements', () => {
  const pieces = [
    'SELECT',
    'INSERT INTO',
    'UPDATE',
    'DELETE FROM',
    'ALTER TABLE',
    'ADD',
    'DROP',
    'COLUMN',
    'IF',
    'NOT',
    'EXISTS',
    't',
    'u',
    'x.a',
    'a',
    '"B"',
    'FROM',
    'WHERE',
    'SET',
    'VALUES',
    '(',
    ')',
    ',',
    '=',
    '<',
    '>=',
    '<>',
    'BETWEEN',
    'AND',
    'OR',
    'IN',
    'SYMMETRIC',
    "'2024-05-06T00:00:00Z'",
    "E'x'",
    '$1',
    '$2',
    '1',
    'NULL',
    '||',
    '::text',
    'JOIN',
    'ON',
    'AS',
    'LIMIT',
    'RETURNING',
    'int',
    'DEFAULT',
    ';',
  ];
  it('never throw but a typed syntax error, and name only literals and parameters of the statement', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 24 }), (chosen) => {
        const sql = chosen.join(' ');
        let tokens: ReturnType<typeof tokenize>;
        try {
          tokens = withPostgresForms(tokenize(sql));
        } catch (error) {
          expect(error).toBeInstanceOf(PgSqlError);
          return;
        }
        const literalsFound = literalColumns(tokens);
        for (const token of literalsFound?.columns.keys() ?? []) {
          expect(tokens).toContain(token);
          expect(token.kind).toBe('string');
        }
        const parameters = parameterColumns(tokens);
        for (const parameter of parameters?.columns.keys() ?? []) expect(sql).toContain(`$${parameter}`);
        try {
          const actions = alterTableActions(tokenize(sql), () => ['a']);
          if (actions !== null)
            for (const statement of actions.statements) expect(statement).toMatch(/^ALTER TABLE /);
        } catch (error) {
          expect(error).toBeInstanceOf(PgSqlError);
        }
      }),
      { numRuns: 3_000, seed: 20261128 },
    );
  });
});
