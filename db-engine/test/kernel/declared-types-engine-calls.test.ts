// The declared-types probe reads the engine's pass-through functions as their first argument
// (src/kernel/declared-types.ts withoutEngineCalls): the shadow connection cannot have them (wa-sqlite
// keeps one callback per function name), and without this a statement with a checked division or an
// `= ANY($1)` lost its result types. Quotes, comments and nesting are respected.
import { describe, expect, it } from 'vitest';
import { withoutEngineCalls } from '../../src/kernel/declared-types.js';

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
});
