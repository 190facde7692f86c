// A cached prepared statement after a schema change: SQLite re-prepares it inside its first step, so
// its result columns are read after that step, not from the statement as it was cached.
import { describe, expect, it } from 'vitest';
import { ok, openWriter } from './support/writer-session.js';

describe('a cached statement after a schema change', () => {
  it('reports the columns of the statement as SQLite re-prepared it, not as it was cached', async () => {
    const { session } = await openWriter();
    const run = (sql: string) => ok(session.execute({ statements: [{ sql }] })).results[0]!;
    run('CREATE TABLE r (a INT, b TEXT, c REAL)');
    run("INSERT INTO r VALUES (1, 'x', 2.5)");
    expect(run('SELECT * FROM r')).toMatchObject({ columns: ['a', 'b', 'c'], rows: [[1, 'x', 2.5]] });
    run('DROP TABLE r');
    run('CREATE TABLE r (z TEXT, y INT)');
    run("INSERT INTO r VALUES ('q', 7)");
    expect(run('SELECT * FROM r')).toMatchObject({ columns: ['z', 'y'], rows: [['q', 7]] });
    session.close();
  });

  it('describes the statement as the schema is now, though it was cached before the change', async () => {
    // A Parse and Describe of a statement (JDBC, node-postgres named statements) does not step it.
    const { session } = await openWriter();
    const run = (sql: string) => ok(session.execute({ statements: [{ sql }] })).results[0]!;
    const describe = (sql: string) =>
      ok(session.execute({ statements: [{ sql }], describeOnly: true, readOnly: true })).results[0]!;
    run('CREATE TABLE d (a INT, b TEXT)');
    expect(describe('SELECT * FROM d WHERE a = ?')).toMatchObject({ columns: ['a', 'b'], parameterCount: 1 });
    run('ALTER TABLE d ADD COLUMN c REAL');
    expect(describe('SELECT * FROM d WHERE a = ?')).toMatchObject({
      columns: ['a', 'b', 'c'],
      parameterCount: 1,
    });
    run('DROP TABLE d');
    run('CREATE TABLE d (z TEXT)');
    const gone = session.execute({
      statements: [{ sql: 'SELECT * FROM d WHERE a = ?' }],
      describeOnly: true,
      readOnly: true,
    });
    expect(gone.ok || gone.error.message).toMatch(/no such column: a/);
    session.close();
  });
});
