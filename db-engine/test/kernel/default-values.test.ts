// DEFAULT in INSERT … VALUES rows (kernel/default-values.ts): each becomes its column's default
// expression from the table's CREATE TABLE text, on the writer session as in the pure reader.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultValuesInsert, withDefaultValues } from '../../src/kernel/default-values.js';
import { ok, openWriter } from './support/writer-session.js';

const table =
  "CREATE TABLE \"T t\" (id INTEGER PRIMARY KEY, a int CONSTRAINT d DEFAULT -1, b text DEFAULT 'x', c real, g int GENERATED ALWAYS AS (a * 2), at text DEFAULT (strftime('%Y', 'now')))";

describe('withDefaultValues (pure)', () => {
  const rewrite = (sql: string) => {
    const insert = defaultValuesInsert(sql);
    return insert === null ? null : withDefaultValues(insert, table);
  };

  it('puts each column default in, NULL where there is none, the rest as written', () => {
    expect(
      rewrite(
        `INSERT OR IGNORE INTO main."T t" AS x (b, a, c) VALUES ('DEFAULT', DEFAULT, 1), (DEFAULT, 2, DEFAULT) RETURNING *`,
      ),
    ).toBe(
      `INSERT OR IGNORE INTO main."T t" AS x (b, a, c) VALUES ('DEFAULT', (-1), 1), (('x'), 2, NULL) RETURNING *`,
    );
    // No column list: every stored column in order, the generated one left out.
    expect(rewrite(`REPLACE INTO "T t" VALUES (DEFAULT, DEFAULT, DEFAULT, 1.5, DEFAULT)`)).toBe(
      `REPLACE INTO "T t" VALUES (NULL, (-1), ('x'), 1.5, ((strftime('%Y', 'now'))))`,
    );
    expect(rewrite('INSERT INTO "T t" (a) VALUES ((DEFAULT))')).toBeNull(); // not a DEFAULT value
    expect(rewrite('INSERT INTO "T t" (a) SELECT 1')).toBeNull();
    expect(rewrite('INSERT INTO "T t" (a, b) VALUES (DEFAULT)')).toBeNull(); // SQLite's count error
    expect(rewrite('UPDATE "T t" SET a = 1')).toBeNull();
  });

  it('never throws on arbitrary text (fuzz)', () => {
    const words = fc.constantFrom(
      'INSERT',
      'INTO',
      't',
      '(',
      ')',
      ',',
      'VALUES',
      'DEFAULT',
      'a',
      "'s'",
      '1',
      'AS',
      '.',
      ';',
      'RETURNING',
    );
    fc.assert(
      fc.property(fc.array(words, { maxLength: 16 }), (parts) => {
        const insert = defaultValuesInsert(`INSERT INTO t ${parts.join(' ')}`);
        if (insert !== null) withDefaultValues(insert, table);
      }),
      { numRuns: Number(process.env.NL_ALTER_RUNS ?? 2_000) },
    );
  });
});

describe('on a writer session', () => {
  it('runs a batch whose rows leave out different columns, as PostgreSQL would', async () => {
    const { session } = await openWriter();
    ok(session.execute({ statements: [{ sql: table }] }));
    const reply = ok(
      session.execute({
        statements: [
          {
            sql: `INSERT INTO "T t" (a, b) VALUES (?1, DEFAULT), (DEFAULT, ?2) RETURNING id, a, b, g`,
            params: [5, 'y'],
          },
        ],
      }),
    );
    expect(reply.results[0]?.rows).toEqual([
      [1, 5, 'x', 10],
      [2, -1, 'y', -2],
    ]);
    // Over HTTP too (the kernel's dialect), and described before it runs (the extended protocol's Parse).
    const described = session.execute({
      statements: [{ sql: 'INSERT INTO "T t" (b) VALUES (DEFAULT), (?1) RETURNING b' }],
      describeOnly: true,
    });
    expect(described).toMatchObject({ ok: true, results: [{ columns: ['b'], parameterCount: 1 }] });
  });
});
