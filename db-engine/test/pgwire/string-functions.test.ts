// PostgreSQL's left(s, n) and right(s, n), translated (src/core/pgwire/postgres-forms.ts) and run on
// SQLite, against PostgreSQL's definition: the first / last n characters, a negative n leaving out
// the last / first -n; n given as a literal or as a parameter sent as text (what node-postgres does).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';

const facts = { serverVersion: '15.0', database: 'd', user: 'u', processId: 1 };

function pgLeft(text: string, n: number): string {
  const chars = Array.from(text);
  return (n >= 0 ? chars.slice(0, n) : chars.slice(0, Math.max(chars.length + n, 0))).join('');
}

function pgRight(text: string, n: number): string {
  const chars = Array.from(text);
  return (n >= 0 ? chars.slice(Math.max(chars.length - n, 0)) : chars.slice(-n)).join('');
}

describe('left() and right()', () => {
  const backend = new SqliteTestBackend();
  afterAll(() => backend.close());

  it('are named as PostgreSQL names them, and leave LEFT/RIGHT JOIN alone', () => {
    const translated = translate(tokenize('SELECT left(name, 2), right(name, 2) FROM t'), facts).sql;
    expect(translated).toMatch(/^SELECT substr\(.*\) AS "left", substr\(.*\) AS "right" FROM t$/);
    expect(
      translate(tokenize('SELECT * FROM a LEFT JOIN b ON a.k = b.k RIGHT JOIN c USING (k)'), facts).sql,
    ).toBe('SELECT * FROM a LEFT JOIN b ON a.k = b.k RIGHT JOIN c USING (k)');
  });

  it('give what PostgreSQL gives for random text and n, literal or parameter', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'b', 'é', '字', ' ') }),
        fc.integer({ min: -15, max: 15 }),
        (text, n) => {
          const quoted = `'${text.replaceAll("'", "''")}'`;
          const literal = translate(
            tokenize(`SELECT left(${quoted}, ${n}) AS l, right(${quoted}, ${n}) AS r`),
            facts,
          );
          expect(backend.database.prepare(literal.sql).all({})[0]).toEqual({
            l: pgLeft(text, n),
            r: pgRight(text, n),
          });
          const parameter = translate(tokenize('SELECT left($1, $2) AS l, right($1, $2) AS r'), facts);
          expect(backend.database.prepare(parameter.sql).all({ 1: text, 2: String(n) })[0]).toEqual({
            l: pgLeft(text, n),
            r: pgRight(text, n),
          });
        },
      ),
      { numRuns: 500, seed: 20_261_128 },
    );
  });
});
