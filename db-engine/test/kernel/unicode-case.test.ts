// lower() and upper() over all of Unicode (src/kernel/sqlite-wasm.ts registerUnicodeCase), on the
// kernel's own connection: accented and non-Latin letters change case as in PostgreSQL, NULL stays
// NULL, other values are read as text, and an index on lower(x) is used and agrees with the query.
import { describe, expect, it } from 'vitest';
import { ok, openWriter } from './support/writer-session.js';

describe('lower() and upper()', () => {
  it('change the case of every letter, not only ASCII, and serve an expression index', async () => {
    const { session } = await openWriter();
    const row = ok(
      session.execute({
        statements: [
          {
            sql: "SELECT lower('ÄÖÜ Straße ΣΑΣ') AS a, upper('héllo çà') AS b, lower(NULL) AS c, upper(12) AS d, lower('Plain') AS e",
          },
        ],
      }),
    ).results[0]?.rows[0];
    expect(row).toEqual(['äöü straße σας', 'HÉLLO ÇÀ', null, '12', 'plain']);
    ok(
      session.execute({
        statements: [
          { sql: 'CREATE TABLE people (email TEXT)' },
          { sql: 'CREATE INDEX people_email ON people (lower(email))' },
          { sql: "INSERT INTO people VALUES ('Émile@Example.org'), ('zoë@example.org')" },
        ],
      }),
    );
    const found = ok(
      session.execute({
        statements: [{ sql: "SELECT email FROM people WHERE lower(email) = lower('ÉMILE@example.ORG')" }],
      }),
    ).results[0]?.rows;
    expect(found).toEqual([['Émile@Example.org']]);
    const plan = ok(
      session.execute({
        statements: [{ sql: "EXPLAIN QUERY PLAN SELECT email FROM people WHERE lower(email) = 'x'" }],
      }),
    ).results[0]?.rows.map((planRow) => String(planRow.at(-1)));
    expect(plan?.join(' ')).toMatch(/USING INDEX people_email/);
    session.close();
  });
});
