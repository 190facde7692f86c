// The declared types of result columns (src/kernel/declared-types.ts) on the kernel's SQL session:
// what a view over the statement reports for direct column references (through aliases, joins,
// subqueries, CTEs and views, with parameters), '' for other expressions and for statements that
// are not a SELECT; that a statement shape is probed once per schema version (not per execution,
// nor per literal); that a schema change, and a rolled-back one (ROLLBACK, or ROLLBACK TO a savepoint)
// whose version number comes back with another schema, give the new types; and that probing writes nothing to the volume.
import { describe, expect, it } from 'vitest';
import { sqlShape } from '../../src/kernel/declared-types.js';
import type { ExecuteRequest, SqlParam } from '../../src/kernel/messages.js';
import type { SqlSession } from '../../src/kernel/sql-session.js';
import { ok, openWriter } from './support/writer-session.js';

function typesOf(
  session: SqlSession,
  sql: string,
  params: SqlParam[] = [],
  request: Partial<ExecuteRequest> = {},
) {
  const reply = ok(session.execute({ statements: [{ sql, params }], declaredTypes: true, ...request }));
  return reply.results[0]!.declaredTypes;
}

const SCHEMA = [
  `CREATE TABLE t (id INTEGER PRIMARY KEY, ok BOOLEAN, n SMALLINT, doc jsonb, big BIGINT,
     d double precision, v varchar(20), c CHAR(3), amount numeric(10,2), at timestamp with time zone, u uuid)`,
  'CREATE TABLE u (tid int, name TEXT)',
  'CREATE VIEW tv AS SELECT id AS ident, ok FROM t',
];

describe('declared types of result columns', () => {
  it('are the declared types of direct column references, as written', async () => {
    const { session } = await openWriter();
    for (const sql of SCHEMA) ok(session.execute({ statements: [{ sql }] }));
    expect(typesOf(session, 'SELECT * FROM t')).toEqual([
      'INTEGER',
      'BOOLEAN',
      'SMALLINT',
      'jsonb',
      'BIGINT',
      'double precision',
      'varchar(20)',
      'CHAR(3)',
      'numeric(10,2)',
      'timestamp with time zone',
      'uuid',
    ]);
    expect(
      typesOf(session, 'SELECT t.id AS x, u.name, u.tid FROM t JOIN u ON u.tid = t.id WHERE t.id = ?1', [1]),
    ).toEqual(['INTEGER', 'TEXT', 'INT']);
    expect(typesOf(session, 'SELECT * FROM (SELECT big, ok FROM t) s')).toEqual(['BIGINT', 'BOOLEAN']);
    expect(typesOf(session, 'WITH c AS (SELECT n FROM t) SELECT n FROM c')).toEqual(['SMALLINT']);
    expect(typesOf(session, 'SELECT * FROM tv')).toEqual(['INTEGER', 'BOOLEAN']);
    expect(typesOf(session, 'SELECT id FROM t WHERE id > ?1 LIMIT ?2', [0, 5])).toEqual(['INTEGER']);
    // Expressions: no declared type; a CAST has its affinity's name.
    expect(typesOf(session, 'SELECT count(*), id + 1, ?1, CAST(n AS INTEGER) FROM t', [1])).toEqual([
      '',
      '',
      '',
      'INT',
    ]);
    // INSERT, UPDATE, DELETE … RETURNING: the target table's declared types, through its alias.
    expect(typesOf(session, 'INSERT INTO u VALUES (1, ?1) RETURNING tid, name, tid + 1', ['x'])).toEqual([
      'INT',
      'TEXT',
      '',
    ]);
    expect(typesOf(session, 'UPDATE t AS x SET n = 2 WHERE x.id = ?1 RETURNING id, big, *', [1])).toEqual([
      'INTEGER',
      'BIGINT',
      'INTEGER',
      'BOOLEAN',
      'SMALLINT',
      'jsonb',
      'BIGINT',
      'double precision',
      'varchar(20)',
      'CHAR(3)',
      'numeric(10,2)',
      'timestamp with time zone',
      'uuid',
    ]);
    expect(typesOf(session, "DELETE FROM u WHERE name = 'returning' RETURNING name")).toEqual(['TEXT']);
    // Not a SELECT: no types, and the statement still runs.
    expect(typesOf(session, 'PRAGMA table_info(u)')).toEqual(['', '', '', '', '', '']);
    // A statement without columns carries none; a request that does not ask carries none.
    expect(typesOf(session, "UPDATE u SET name = 'y'")).toBeUndefined();
    expect(
      ok(session.execute({ statements: [{ sql: 'SELECT * FROM u' }] })).results[0]!.declaredTypes,
    ).toBeUndefined();
    session.close();
  });

  it('probes a statement shape once per schema version, and follows schema changes', async () => {
    const { session, groups } = await openWriter();
    for (const sql of SCHEMA) ok(session.execute({ statements: [{ sql }] }));
    const sealed = groups.length;
    const probes = () => session.declaredTypesStats.probes;
    const before = probes();
    for (let id = 0; id < 20; id++) {
      expect(typesOf(session, `SELECT ok, v FROM t WHERE id = ${id} AND v <> 'x${id}'`)).toEqual([
        'BOOLEAN',
        'varchar(20)',
      ]);
      expect(typesOf(session, 'SELECT n FROM t WHERE id = ?1', [id], { readOnly: true })).toEqual([
        'SMALLINT',
      ]);
    }
    expect(probes() - before).toBe(2);
    // Probing wrote nothing to the volume: reads seal no group (the kernel also asserts it).
    expect(groups.length).toBe(sealed);

    ok(session.execute({ statements: [{ sql: 'ALTER TABLE u ADD COLUMN score REAL' }] }));
    expect(typesOf(session, 'SELECT * FROM u')).toEqual(['INT', 'TEXT', 'REAL']);
    ok(
      session.execute({
        statements: [{ sql: 'DROP TABLE u' }, { sql: 'CREATE TABLE u (tid BIGINT, name bytea)' }],
      }),
    );
    expect(typesOf(session, 'SELECT * FROM u')).toEqual(['BIGINT', 'bytea']);
    session.close();
  });

  it('does not trust a schema version that a rollback gave back to another schema', async () => {
    const { session } = await openWriter();
    ok(session.execute({ statements: [{ sql: 'CREATE TABLE w (a INTEGER)' }] }));
    // In an interactive transaction: a change, seen with its types, then rolled back.
    ok(
      session.execute({
        statements: [{ sql: 'ALTER TABLE w ADD COLUMN b BOOLEAN' }],
        transaction: { id: 1, step: 'open' },
      }),
    );
    expect(typesOf(session, 'SELECT * FROM w', [], { transaction: { id: 1, step: 'continue' } })).toEqual([
      'INTEGER',
      'BOOLEAN',
    ]);
    ok(session.execute({ statements: [], transaction: { id: 1, step: 'rollback' } }));
    // Another change reaches the same schema version.
    ok(session.execute({ statements: [{ sql: 'ALTER TABLE w ADD COLUMN b TEXT' }] }));
    expect(typesOf(session, 'SELECT * FROM w')).toEqual(['INTEGER', 'TEXT']);
    session.close();
  });

  it('does not trust a schema version that a ROLLBACK TO a savepoint gave back to another schema', async () => {
    const { session } = await openWriter();
    ok(session.execute({ statements: [{ sql: 'CREATE TABLE w (a INTEGER)' }] }));
    const step = (sql: string | undefined, transaction: NonNullable<ExecuteRequest['transaction']>) =>
      ok(session.execute({ statements: sql === undefined ? [] : [{ sql }], transaction }));
    step(undefined, { id: 1, step: 'open', savepointDepth: 1 });
    step('ALTER TABLE w ADD COLUMN b BOOLEAN', { id: 1, step: 'continue' });
    expect(typesOf(session, 'SELECT * FROM w', [], { transaction: { id: 1, step: 'continue' } })).toEqual([
      'INTEGER',
      'BOOLEAN',
    ]);
    step(undefined, { id: 1, step: 'rollback-to', savepointDepth: 1 });
    // Inside the same transaction, another change reaches the same schema version.
    step('ALTER TABLE w ADD COLUMN b TEXT', { id: 1, step: 'continue' });
    expect(typesOf(session, 'SELECT * FROM w', [], { transaction: { id: 1, step: 'continue' } })).toEqual([
      'INTEGER',
      'TEXT',
    ]);
    step(undefined, { id: 1, step: 'commit' });
    expect(typesOf(session, 'SELECT * FROM w')).toEqual(['INTEGER', 'TEXT']);
    session.close();
  });
});

describe('sqlShape', () => {
  it('replaces literals and drops comments, keeping names and quoted identifiers', () => {
    expect(
      sqlShape(
        "SELECT a1, \"x 'y'\" FROM t -- note\nWHERE id = 42 AND s = 'it''s' AND f < 1.5e-3 AND h = 0x1F",
      ),
    ).toBe("SELECT a1, \"x 'y'\" FROM t  \nWHERE id = 0 AND s = '' AND f < 0 AND h = 0");
    expect(sqlShape('SELECT [a b], `c` FROM t /* c */ LIMIT ?1')).toBe('SELECT [a b], `c` FROM t   LIMIT ?0');
    expect(sqlShape("SELECT X'0102', .5")).toBe("SELECT X'', 0");
  });
});
