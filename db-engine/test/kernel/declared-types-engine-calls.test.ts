// The declared-types probe reads the engine's pass-through functions as their first argument
// (src/kernel/declared-types.ts withoutEngineCalls): the shadow connection cannot have them (wa-sqlite
// keeps one callback per function name), and without this a statement with a checked division or an
// `= ANY($1)` lost its result types. Quotes, comments and nesting are respected.
import { describe, expect, it } from 'vitest';
import {
  sumDeclaredType,
  withArgumentTypedCalls,
  withoutEngineCalls,
} from '../../src/kernel/declared-types.js';
import { ok, openWriter } from './support/writer-session.js';

describe('withoutEngineCalls', () => {
  it('replaces each pass-through call by its first argument, nested ones too, and nothing in quotes', () => {
    expect(
      withoutEngineCalls(
        "SELECT a / northlight_nonzero(b, a) AS x, 'northlight_nonzero(' AS s, northlight_nonzero((c / northlight_nonzero(d, c)), e) FROM t WHERE id IN (SELECT value FROM json_each(northlight_pg_array('{1,2}'))) -- northlight_nonzero(",
      ),
    ).toBe(
      "SELECT a / (b) AS x, 'northlight_nonzero(' AS s, ((c / (d))) FROM t WHERE id IN (SELECT value FROM json_each(('{1,2}'))) -- northlight_nonzero(",
    );
    expect(withoutEngineCalls('SELECT my_northlight_nonzero(1, 2), "northlight_nonzero"(3)')).toBe(
      'SELECT my_northlight_nonzero(1, 2), "northlight_nonzero"(3)',
    );
    expect(withoutEngineCalls('SELECT northlight_nonzero(f(1, 2), g(3))')).toBe('SELECT (f(1, 2))');
    expect(withoutEngineCalls('SELECT northlight_nonzero(1')).toBe('SELECT northlight_nonzero(1');
  });

  it("reads the engine's PostgreSQL functions as a call the shadow has, and REGEXP as LIKE", () => {
    expect(
      withoutEngineCalls(
        "SELECT MD5(name), to_char(d, 'YYYY'), 'md5(' AS s, my_floor(1), floor (x) FROM t WHERE name REGEXP 'a' AND regexp('a', b) AND group_concat(northlight_array_element(x))",
      ),
    ).toBe(
      "SELECT json_array(name), json_array(d, 'YYYY'), 'md5(' AS s, my_floor(1), json_array(x) FROM t WHERE name LIKE 'a' AND json_array('a', b) AND group_concat(json_array(x))",
    );
  });
});

describe('withArgumentTypedCalls', () => {
  it('reads min(x), max(x) and datetime(x, …) as x, with their DISTINCT, FILTER and OVER', () => {
    expect(
      withArgumentTypedCalls(
        'SELECT max(created_at), MIN(DISTINCT amount) AS m, Max( ALL n ), max(a, b), min(), count(*) FROM t',
      ),
    ).toBe('SELECT (created_at), (amount) AS m, (n ), max(a, b), min(), count(*) FROM t');
    expect(
      withArgumentTypedCalls(
        "SELECT max(x) FILTER (WHERE y = 'max(') OVER (PARTITION BY z ORDER BY (w)), max(x) OVER win, min(x) over(), " +
          "datetime(( x), 'start of day'), max(x) FILTER (WHERE y) + 1 FROM t WINDOW win AS ()",
      ),
    ).toBe('SELECT (x), (x), (x), (( x)), (x) + 1 FROM t WINDOW win AS ()');
    expect(
      withArgumentTypedCalls(
        `SELECT "max"(x), t.max(x), mymax(x), max_(x), max(datetime(x, 'start of month')), 'max(x)' FROM t -- max(x)`,
      ),
    ).toBe(`SELECT "max"(x), t.max(x), mymax(x), max_(x), ((x)), 'max(x)' FROM t -- max(x)`);
    expect(withArgumentTypedCalls('SELECT max(x FROM t')).toBe('SELECT max(x FROM t');
    // sum only for the probe that types sums.
    expect(withArgumentTypedCalls('SELECT sum(a), max(b) FROM t')).toBe('SELECT sum(a), (b) FROM t');
    expect(withArgumentTypedCalls('SELECT SUM(DISTINCT a) FILTER (WHERE b) OVER w FROM t', true)).toBe(
      'SELECT (a) FROM t',
    );
    expect(withArgumentTypedCalls('SELECT a FROM t')).toBe('SELECT a FROM t');
  });
});

describe('sumDeclaredType', () => {
  it("is PostgreSQL's type of a sum: integers widen, numerics and floats keep theirs, others none", () => {
    expect(
      [
        'INTEGER',
        'int',
        'SMALLINT',
        'BIGINT',
        'int8',
        'numeric(12,2)',
        'DECIMAL',
        'REAL',
        'double precision',
        'TEXT',
        'timestamp',
        '',
      ].map(sumDeclaredType),
    ).toEqual([
      'BIGINT',
      'BIGINT',
      'BIGINT',
      'NUMERIC',
      'NUMERIC',
      'numeric(12,2)',
      'DECIMAL',
      'REAL',
      'double precision',
      '',
      '',
      '',
    ]);
  });
});

describe('declared types beside the engine functions, on the kernel', () => {
  it('keeps every plain column typed when a statement calls one (the probe used to fail)', async () => {
    const { session } = await openWriter();
    try {
      ok(
        session.execute({
          statements: [
            { sql: 'CREATE TABLE rv (id INTEGER PRIMARY KEY, n INT, flag BOOLEAN, name TEXT, d DATE)' },
            { sql: "INSERT INTO rv VALUES (1, 2, 1, 'ann', '2024-01-02')" },
          ],
        }),
      );
      for (const sql of [
        "SELECT n, flag, d, md5(name) FROM rv WHERE name REGEXP 'a'",
        "SELECT n, flag, d, to_char(d, 'YYYY') FROM rv WHERE floor(n) = 2",
      ]) {
        const result = ok(session.execute({ statements: [{ sql }], declaredTypes: true })).results[0];
        expect(result?.declaredTypes?.slice(0, 3)).toEqual(['INT', 'BOOLEAN', 'DATE']);
      }
    } finally {
      session.close();
    }
  });
});
