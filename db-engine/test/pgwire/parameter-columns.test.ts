/**
 * Which column an untyped parameter stands for (src/core/pgwire/parameter-columns.ts): the plain
 * shapes over one table, and nothing (rather than a guess) for joins, subqueries, expressions and
 * other tables' columns.
 */
import { describe, expect, it } from 'vitest';
import { parameterColumns } from '../../src/core/pgwire/parameter-columns.js';
import { withPostgresForms } from '../../src/core/pgwire/postgres-forms.js';
import { tokenize } from '../../src/core/pgwire/sql.js';

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

  it('gives nothing it could get wrong: joins, subqueries, two tables, functions, other qualifiers', () => {
    expect(columns('SELECT * FROM t JOIN u ON u.id = t.u WHERE t.a = $1')).toBeNull();
    expect(columns('SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = $1)')).toBeNull();
    expect(columns('SELECT * FROM t, u WHERE a = $1')).toBeNull();
    expect(columns('SELECT * FROM t WHERE lower(a) = $1 AND u.b = $2 AND $3 = f(c)')).toBeNull();
    expect(columns('SELECT $1::int')).toBeNull();
    // One parameter given two columns: none.
    expect(columns('SELECT * FROM t WHERE a = $1 OR b = $1')).toBeNull();
    expect(columns('SELECT * FROM t WHERE a = $1 OR a > $1')).toEqual(['t', [[1, 'a']]]);
  });
});
