// A foreign key a statement broke, reported as PostgreSQL reports it (kernel/foreign-key-errors.ts,
// sql-session.ts `#foreignKeyFailure`): the statement runs again with the keys deferred in a
// savepoint that is rolled back, and pragma_foreign_key_check names the orphan. Expected messages are
// PostgreSQL 15.18's for the same statements on the same tables.
import { describe, expect, it } from 'vitest';
import { writtenTable } from '../../src/kernel/foreign-key-errors.js';
import type { ExecuteReply } from '../../src/kernel/messages.js';
import { ok, openWriter } from './support/writer-session.js';

describe('writtenTable', () => {
  it('reads the table an INSERT, REPLACE, UPDATE or DELETE writes', () => {
    expect(writtenTable('INSERT OR IGNORE INTO main."Fc t" (a) VALUES (1)')).toBe('Fc t');
    expect(writtenTable('WITH x(v) AS (SELECT 1) INSERT INTO c SELECT v FROM x')).toBe('c');
    expect(writtenTable('REPLACE INTO c VALUES (1)')).toBe('c');
    expect(writtenTable('UPDATE OR ROLLBACK c SET a = 1')).toBe('c');
    expect(writtenTable('DELETE FROM [c] WHERE 1')).toBe('c');
    expect(writtenTable('SELECT 1')).toBeNull();
  });
});

describe('on a writer session', () => {
  it("names the constraint and the key, from either side, and leaves nothing of the check's own run", async () => {
    const { session } = await openWriter();
    ok(
      session.execute({
        statements: [
          {
            sql: "CREATE TABLE fp (id INTEGER PRIMARY KEY, code text UNIQUE); CREATE TABLE fc (id INTEGER PRIMARY KEY, p_id int CONSTRAINT fc_p REFERENCES fp, code text REFERENCES fp (code)); INSERT INTO fp VALUES (1, 'a'); INSERT INTO fc VALUES (1, 1, 'a')",
          },
        ],
      }),
    );
    const failure = (
      sql: string,
      params: (number | string)[] = [],
    ): ExecuteReply['ok'] extends never ? never : object => {
      const reply = session.execute({ statements: [{ sql: 'SELECT 1' }, { sql, params }] });
      if (reply.ok) throw new Error(`${sql} succeeded`);
      return {
        sqlstate: reply.error.sqlstate,
        message: reply.error.message,
        detail: reply.error.detail,
        at: reply.error.statementIndex,
      };
    };
    expect(failure('INSERT INTO fc VALUES (2, 9, NULL)')).toEqual({
      sqlstate: '23503',
      message: 'insert or update on table "fc" violates foreign key constraint "fc_p"',
      detail: 'Key (p_id)=(9) is not present in table "fp".',
      at: 1,
    });
    expect(failure("INSERT INTO fc VALUES (2, 1, 'zz') RETURNING id")).toMatchObject({
      message: 'insert or update on table "fc" violates foreign key constraint "fc_code_fkey"',
      detail: 'Key (code)=(zz) is not present in table "fp".',
    });
    expect(failure('UPDATE fc SET p_id = ?1 WHERE id = 1', [7])).toMatchObject({
      detail: 'Key (p_id)=(7) is not present in table "fp".',
    });
    expect(failure('DELETE FROM fp WHERE id = 1')).toMatchObject({
      message: 'update or delete on table "fp" violates foreign key constraint "fc_p" on table "fc"',
      detail: 'Key (id)=(1) is still referenced from table "fc".',
    });
    expect(failure("UPDATE fp SET code = 'b'")).toMatchObject({
      message: 'update or delete on table "fp" violates foreign key constraint "fc_code_fkey" on table "fc"',
      detail: 'Key (code)=(a) is still referenced from table "fc".',
    });
    // Nothing of the failed statements or of their second runs stayed; keys are immediate again.
    expect(
      ok(session.execute({ statements: [{ sql: 'SELECT count(*) FROM fc' }] })).results[0]?.rows,
    ).toEqual([[1]]);
    expect(
      ok(session.execute({ statements: [{ sql: 'PRAGMA defer_foreign_keys' }] })).results[0]?.rows,
    ).toEqual([[0]]);
    expect(
      ok(session.execute({ statements: [{ sql: 'PRAGMA foreign_key_check' }] })).results[0]?.rows,
    ).toEqual([]);
  });

  it('inside an interactive transaction with a savepoint, the transaction goes on after the failure', async () => {
    const { session } = await openWriter();
    ok(
      session.execute({
        statements: [
          { sql: 'CREATE TABLE fp (id INTEGER PRIMARY KEY); CREATE TABLE fc (p int REFERENCES fp)' },
        ],
      }),
    );
    ok(
      session.execute({
        statements: [{ sql: 'INSERT INTO fp VALUES (1)' }],
        transaction: { id: 5, step: 'open' },
      }),
    );
    ok(session.execute({ statements: [], transaction: { id: 5, step: 'savepoint', savepointDepth: 1 } }));
    const failed = session.execute({
      statements: [{ sql: 'INSERT INTO fc VALUES (2)' }],
      transaction: { id: 5, step: 'continue' },
    });
    expect(failed).toMatchObject({
      ok: false,
      transactionKept: true,
      error: { detail: 'Key (p)=(2) is not present in table "fp".' },
    });
    ok(session.execute({ statements: [], transaction: { id: 5, step: 'rollback-to', savepointDepth: 1 } }));
    ok(
      session.execute({
        statements: [{ sql: 'INSERT INTO fc VALUES (1)' }],
        transaction: { id: 5, step: 'commit' },
      }),
    );
    expect(ok(session.execute({ statements: [{ sql: 'SELECT p FROM fc' }] })).results[0]?.rows).toEqual([
      [1],
    ]);
  });
});
