// northlight_nonzero (src/kernel/sqlite-wasm.ts), the divisor check that PostgreSQL clients' divisions
// go through (src/core/pgwire/division-checks.ts), on the kernel's own connection: a divisor passes
// unchanged, type and all; zero in any spelling (0, 0.0, -0.0, '0', ' 0 ') fails with "division by
// zero" and SQLSTATE 22012, unless the dividend's factor given with it is NULL; NULL passes.
import { describe, expect, it } from 'vitest';
import { ok, openWriter } from './support/writer-session.js';

describe('northlight_nonzero()', () => {
  it('passes a divisor unchanged, refuses zero with 22012, and lets a NULL dividend through', async () => {
    const { session } = await openWriter();
    const row = ok(
      session.execute({
        statements: [
          {
            sql: "SELECT 7 / northlight_nonzero(2, 7), 7.0 / northlight_nonzero(2), typeof(northlight_nonzero(2)), typeof(northlight_nonzero(2.5)), northlight_nonzero(NULL), 1 / northlight_nonzero(0, NULL), northlight_nonzero('x'), 9 % northlight_nonzero(4, 9)",
          },
        ],
      }),
    ).results[0]?.rows[0];
    expect(row).toEqual([3, 3.5, 'integer', 'real', null, null, 'x', 1]);
    for (const divisor of ['0', '0.0', '-0.0', "'0'", "' 0 '", '(1 - 1)', 'CAST(0 AS REAL)']) {
      const reply = session.execute({
        statements: [{ sql: `SELECT 1 / northlight_nonzero(${divisor}, 1)` }],
      });
      expect(reply, divisor).toMatchObject({
        ok: false,
        error: { sqlstate: '22012', message: 'division by zero' },
      });
    }
    session.close();
  });
});
