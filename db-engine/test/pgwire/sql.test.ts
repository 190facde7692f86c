/**
 * The SQL side: the lexer-based splitter respects quotes, identifiers, comments and dollar quotes;
 * the classifier finds what the protocol answers itself; the translation to SQLite is the small,
 * documented set and nothing more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parameterColumns } from '../../src/core/pgwire/parameter-columns.js';
import { withPostgresForms } from '../../src/core/pgwire/postgres-forms.js';
import { startupOptions } from '../../src/core/pgwire/settings.js';
import {
  classify,
  commandTag,
  PgSqlError,
  splitStatements,
  statementText,
  tokenize,
  translate,
} from '../../src/core/pgwire/sql.js';
import { decodeTextParameter } from '../../src/core/pgwire/types.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';

const facts = { serverVersion: '15.0', database: 'shop', user: 'ann', processId: 77 };

function split(sql: string): string[] {
  return splitStatements(sql).map(statementText);
}

function sqlite(sql: string): string {
  return translate(tokenize(sql), facts).sql;
}

function kind(sql: string) {
  return classify(tokenize(sql));
}

function sqlError(run: () => unknown): PgSqlError {
  try {
    run();
  } catch (error) {
    if (error instanceof PgSqlError) return error;
    throw error;
  }
  throw new Error('expected a PgSqlError');
}

describe('splitStatements', () => {
  it('splits at top-level semicolons only', () => {
    expect(split(`SELECT 'a;b'; SELECT "x;y" FROM t; -- c;d\nSELECT /* e; /* nested; */ f */ 1;;`)).toEqual([
      "SELECT 'a;b'",
      'SELECT "x;y" FROM t',
      '-- c;d\nSELECT /* e; /* nested; */ f */ 1',
    ]);
    expect(split('SELECT $$a;b$$; SELECT $tag$ $$; $tag$')).toEqual([
      'SELECT $$a;b$$',
      'SELECT $tag$ $$; $tag$',
    ]);
    expect(split("SELECT E'it\\'s;'; SELECT 2")).toEqual(["SELECT E'it\\'s;'", 'SELECT 2']);
    expect(split('  ; -- only a comment\n')).toEqual([]);
    expect(
      split('CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END; SELECT 1'),
    ).toEqual([
      'CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END',
      'SELECT 1',
    ]);
  });

  it('reports unterminated quotes as syntax errors', () => {
    for (const sql of ["SELECT 'abc", 'SELECT "abc', 'SELECT $$abc', 'SELECT /* abc']) {
      expect(sqlError(() => splitStatements(sql)).sqlstate).toBe('42601');
    }
  });
});

describe('classify', () => {
  it('finds transaction control, settings and unsupported statements', () => {
    expect(kind('BEGIN')).toEqual({ kind: 'begin', readOnly: undefined });
    expect(kind('begin transaction isolation level serializable read only')).toEqual({
      kind: 'begin',
      readOnly: true,
    });
    expect(kind('START TRANSACTION READ WRITE')).toEqual({ kind: 'begin', readOnly: false });
    expect(kind('COMMIT WORK').kind).toBe('commit');
    expect(kind('END').kind).toBe('commit');
    expect(kind('ABORT').kind).toBe('rollback');
    expect(kind('ROLLBACK').kind).toBe('rollback');
    expect(kind('ROLLBACK TO SAVEPOINT a')).toEqual({ kind: 'rollback-to', name: 'a' });
    expect(kind('rollback work to "My Point"')).toEqual({ kind: 'rollback-to', name: 'My Point' });
    expect(kind('ROLLBACK TRANSACTION TO savepoint')).toEqual({ kind: 'rollback-to', name: 'savepoint' });
    expect(kind('SAVEPOINT Sp_1')).toEqual({ kind: 'savepoint', name: 'sp_1' });
    expect(kind('SAVEPOINT "a""b"')).toEqual({ kind: 'savepoint', name: 'a"b' });
    expect(kind('RELEASE SAVEPOINT A')).toEqual({ kind: 'release', name: 'a' });
    expect(kind('release a')).toEqual({ kind: 'release', name: 'a' });
    expect(kind('RELEASE savepoint')).toEqual({ kind: 'release', name: 'savepoint' });
    expect(() => kind('SAVEPOINT')).toThrow(/savepoint name/);
    expect(() => kind('SAVEPOINT a b')).toThrow(/syntax error at or near "b"/);
    expect(() => kind("RELEASE 'a'")).toThrow(/syntax error/);
    expect(kind("SET application_name = 'x'")).toEqual({
      kind: 'set',
      name: 'application_name',
      value: 'x',
      tag: 'SET',
    });
    expect(kind('SET SESSION statement_timeout TO 5000')).toMatchObject({
      name: 'statement_timeout',
      value: '5000',
    });
    expect(kind("SET TIME ZONE 'UTC'")).toMatchObject({ name: 'timezone', value: 'UTC' });
    expect(kind('SET extra_float_digits TO DEFAULT')).toMatchObject({ value: null });
    expect(kind('SHOW server_version')).toEqual({ kind: 'show', name: 'server_version' });
    expect(kind('RESET ALL')).toEqual({ kind: 'reset', name: 'all' });
    expect(kind('DISCARD ALL')).toEqual({ kind: 'discard', tag: 'DISCARD ALL' });
    expect(kind('DEALLOCATE PREPARE s1')).toEqual({ kind: 'deallocate', name: 's1' });
    expect(kind('COPY t FROM STDIN')).toEqual({ kind: 'copy' });
    // Each refusal says what to do instead; only PREPARE/EXECUTE point to the extended protocol.
    const hint = (sql: string) => {
      const classified = kind(sql);
      return classified.kind === 'unsupported' ? classified.hint : undefined;
    };
    expect(hint('PREPARE s AS SELECT 1')).toMatch(/extended protocol/);
    expect(hint('DECLARE _psql_cursor NO SCROLL CURSOR FOR SELECT 1')).toMatch(/FETCH_COUNT/);
    expect(hint('FETCH FORWARD 100 FROM _psql_cursor')).toMatch(/FETCH_COUNT/);
    // LISTEN and NOTIFY are the protocol layer's own (notifications.ts), not refusals.
    expect(kind('LISTEN jobs')).toEqual({ kind: 'listen', channel: 'jobs' });
    expect(kind('NOTIFY jobs')).toMatchObject({ kind: 'notify' });
    for (const sql of ['LOCK t', 'DECLARE c CURSOR FOR SELECT 1', 'FETCH 1 FROM c', 'MOVE c']) {
      expect(hint(sql)).not.toMatch(/extended protocol/);
    }
    expect(kind(' -- nothing\n')).toEqual({ kind: 'empty' });
    expect(kind('/* x */ select 1')).toEqual({ kind: 'sql', firstWord: 'SELECT' });
  });

  it('refuses PostgreSQL statements SQLite lacks with 0A000 and what to do instead', () => {
    const refusal = (sql: string) => {
      const classified = kind(sql);
      expect(classified, sql).toMatchObject({ kind: 'unsupported', sqlstate: '0A000' });
      return classified as { message: string; hint: string };
    };
    expect(refusal('truncate table only a, public.b restart identity cascade')).toMatchObject({
      message: 'TRUNCATE … CASCADE is not supported by northlight',
      hint: /Empty the referencing tables first/,
    });
    // The kernel does these (kernel/alter-table.ts): they pass through.
    for (const sql of [
      'ALTER TABLE t ADD FOREIGN KEY (b) REFERENCES u',
      'alter table pgbench_tellers add constraint pgbench_tellers_bid_fkey foreign key (bid) references pgbench_branches',
      'ALTER TABLE items ALTER COLUMN v TYPE bigint',
      'ALTER TABLE IF EXISTS public.items ALTER v SET DATA TYPE text',
      'ALTER TABLE items ALTER COLUMN v SET NOT NULL',
    ])
      expect(kind(sql), sql).toEqual({ kind: 'sql', firstWord: 'ALTER' });
    expect(kind('TRUNCATE items')).toEqual({ kind: 'sql', firstWord: 'TRUNCATE' });
    expect(
      refusal('create table pgbench_accounts(aid int not null,bid int) partition by range (aid)').message,
    ).toMatch(/^table partitioning .* not supported/);
    expect(refusal('CREATE TABLE p1 PARTITION OF pgbench_accounts FOR VALUES FROM (1) TO (10)').hint).toMatch(
      /--partitions/,
    );
    expect(kind('CREATE TABLE r AS SELECT rank() OVER (PARTITION BY a) AS r FROM t').kind).toBe('sql');
    for (const [sql, message, hint] of [
      ['CREATE SCHEMA s1', /schemas .* not supported by northlight/, /one schema, public/],
      ['CREATE SCHEMA IF NOT EXISTS s1', /schemas/, /public/],
      ['DROP SCHEMA s1 CASCADE', /schemas/, /public/],
      ['CREATE EXTENSION IF NOT EXISTS pgcrypto', /extensions .* not supported/, /pragma_function_list/],
      ['GRANT SELECT ON items TO bob', /GRANT and REVOKE are not supported/, /no roles or privileges/],
      ['REVOKE ALL ON items FROM bob', /GRANT and REVOKE/, /no roles/],
      ['CREATE SEQUENCE s START 10', /sequences .* not supported/, /INTEGER PRIMARY KEY/],
      ['CREATE TEMP SEQUENCE s', /sequences/, /INTEGER PRIMARY KEY/],
      ['DROP SEQUENCE s', /sequences/, /INTEGER PRIMARY KEY/],
      ["CREATE TYPE mood AS ENUM ('sad', 'ok')", /user-defined types/, /CHECK \(v IN/],
    ] as const) {
      const refused = refusal(sql);
      expect(refused.message, sql).toMatch(message);
      expect(refused.hint, sql).toMatch(hint);
    }
    // What SQLite does have passes through.
    for (const sql of [
      'ALTER TABLE items RENAME COLUMN v TO w',
      'ALTER TABLE items ADD COLUMN alter_count INTEGER',
      'ALTER TABLE items DROP COLUMN v',
      'CREATE TABLE schema_notes (sequence INTEGER, type TEXT)',
      'DELETE FROM items',
    ]) {
      expect(kind(sql).kind, sql).toBe('sql');
    }
  });
});

describe('translate', () => {
  it('refuses ARRAY constructors with 0A000 and the JSON functions to use instead', () => {
    for (const sql of ['SELECT ARRAY[1, 2]', 'SELECT array [1]', 'SELECT ARRAY(SELECT id FROM t)']) {
      const error = sqlError(() => sqlite(sql));
      expect(error.sqlstate, sql).toBe('0A000');
      expect(error.message).toMatch(/arrays .* not supported by northlight/);
      expect(error.hint).toMatch(/json_array\(1, 2\)/);
    }
    // A column or string named array is not a constructor.
    expect(sqlite(`SELECT "array", 'ARRAY[1]' FROM t`)).toBe(`SELECT "array", 'ARRAY[1]' FROM t`);
  });

  it('turns $n into ?n outside literals and counts parameters', () => {
    const translation = translate(tokenize("UPDATE t SET c = $2, d = '$1' WHERE id = $1 -- $3"), facts);
    expect(translation.sql).toBe("UPDATE t SET c = ?2, d = '$1' WHERE id = ?1 -- $3");
    expect(translation.parameterCount).toBe(2);
  });

  it('maps SERIAL types, casts, dollar quotes, E strings and session functions', () => {
    expect(sqlite('CREATE TABLE t (id SERIAL, b bigserial PRIMARY KEY, s SMALLSERIAL)')).toBe(
      'CREATE TABLE t (id INTEGER, b INTEGER PRIMARY KEY NOT NULL, s INTEGER)',
    );
    expect(sqlite("SELECT '1'::int8, x::double precision, y :: varchar(10)")).toBe(
      `SELECT 1 AS "int8", CAST(x AS REAL) AS "x", substr(CAST(y AS TEXT), 1, 10) AS "y"`,
    );
    expect(sqlite("SELECT $q$it's$q$, E'a\\nb'")).toBe("SELECT 'it''s', 'a\nb'");
    expect(
      sqlite(
        'SELECT version(), pg_catalog.current_database(), current_schema(), current_user, pg_backend_pid()',
      ),
    ).toBe(
      "SELECT 'PostgreSQL 15.0 (northlight, SQLite dialect)' AS version, 'shop' AS current_database, 'public' AS current_schema, 'ann' AS current_user, CAST(77 AS INTEGER) AS pg_backend_pid",
    );
    // Named only when the call is a whole item of a top-level select list.
    expect(
      sqlite("SELECT version() AS v, f(version(), 1), current_user || 'x' FROM t WHERE u = current_user"),
    ).toBe(
      "SELECT 'PostgreSQL 15.0 (northlight, SQLite dialect)' AS v, f('PostgreSQL 15.0 (northlight, SQLite dialect)', 1) AS \"f\", 'ann' || 'x' FROM t WHERE u = 'ann'",
    );
    expect(sqlite('SELECT a FROM t ORDER BY a, pg_backend_pid()')).toBe(
      'SELECT a FROM t ORDER BY a, CAST(77 AS INTEGER)',
    );
    // In FROM, a one-row table named after the function (TypeORM's SELECT * FROM current_schema()).
    expect(sqlite('SELECT * FROM current_schema()')).toBe(
      "SELECT * FROM (SELECT 'public' AS current_schema)",
    );
    expect(sqlite('SELECT s.current_database FROM t JOIN pg_catalog.current_database() s ON 1')).toBe(
      "SELECT s.current_database FROM t JOIN (SELECT 'shop' AS current_database) s ON 1",
    );
    // current_schema and current_catalog without parentheses, as SQL's keywords.
    expect(sqlite('SELECT current_schema, current_catalog AS db FROM t WHERE s = current_schema')).toBe(
      "SELECT 'public' AS current_schema, 'shop' AS db FROM t WHERE s = 'public'",
    );
  });

  it('quotes a column named index, which SQLite reserves and PostgreSQL does not', () => {
    expect(sqlite('CREATE TABLE locks (index serial primary key, is_locked integer)')).toBe(
      'CREATE TABLE locks ("index" INTEGER primary key NOT NULL, is_locked integer)',
    );
    expect(sqlite('SELECT index, l.index FROM locks l WHERE index > 0 ORDER BY INDEX')).toBe(
      'SELECT "index", l."index" FROM locks l WHERE "index" > 0 ORDER BY "index"',
    );
    // The keyword stays one.
    for (const sql of [
      'CREATE INDEX i ON locks (is_locked)',
      'CREATE UNIQUE INDEX IF NOT EXISTS i ON locks ("index")',
      'DROP INDEX IF EXISTS i',
      'SELECT 1 FROM locks INDEXED BY i',
    ])
      expect(sqlite(sql)).toBe(sql);
  });

  it("names PostgreSQL's LIKE escape character, the backslash, where a pattern names none", () => {
    expect(sqlite("SELECT * FROM t WHERE a LIKE 's\\_%' AND b NOT ILIKE '%' || c || '%' ORDER BY a")).toBe(
      "SELECT * FROM t WHERE a LIKE 's\\_%' ESCAPE '\\' AND b NOT LIKE '%' || c || '%' ESCAPE '\\' ORDER BY a",
    );
    expect(sqlite("SELECT (a LIKE 'x'), CASE WHEN a LIKE (SELECT p FROM q) THEN 1 END FROM t")).toBe(
      "SELECT (a LIKE 'x' ESCAPE '\\') AS \"?column?\", CASE WHEN a LIKE (SELECT p FROM q) ESCAPE '\\' THEN 1 END AS \"case\" FROM t",
    );
    // A pattern that names its own escape character keeps it.
    expect(sqlite("SELECT 1 FROM t WHERE a LIKE 'x!%' ESCAPE '!'")).toBe(
      "SELECT 1 FROM t WHERE a LIKE 'x!%' ESCAPE '!'",
    );
  });

  it("reads a subquery's empty select list (EXISTS (SELECT FROM …)) as a constant, and leaves a statement's", () => {
    expect(sqlite('SELECT EXISTS (SELECT FROM t WHERE a = 1) AS e')).toBe(
      'SELECT EXISTS (SELECT 1 FROM t WHERE a = 1) AS e',
    );
    expect(sqlite('SELECT 1 WHERE NOT EXISTS ( select\n from t)')).toBe(
      'SELECT 1 WHERE NOT EXISTS ( select 1\n from t)',
    );
    // A whole statement with no columns has no SQLite counterpart: SQLite says so, as before.
    expect(sqlite('SELECT FROM t')).toBe('SELECT FROM t');
    expect(sqlite("SELECT (SELECT 'from') FROM t")).toBe("SELECT (SELECT 'from') FROM t");
  });

  it('maps the clock functions to CURRENT_TIMESTAMP, named as PostgreSQL names them', () => {
    expect(sqlite('CREATE TABLE e (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())')).toBe(
      'CREATE TABLE e (id INTEGER PRIMARY KEY NOT NULL, at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP)',
    );
    expect(sqlite('SELECT now(), pg_catalog.now( ), clock_timestamp(), localtimestamp FROM t')).toBe(
      'SELECT CURRENT_TIMESTAMP AS now, CURRENT_TIMESTAMP AS now, CURRENT_TIMESTAMP AS clock_timestamp, CURRENT_TIMESTAMP AS localtimestamp FROM t',
    );
    expect(sqlite('SELECT id FROM e WHERE now() = statement_timestamp()')).toBe(
      'SELECT id FROM e WHERE CURRENT_TIMESTAMP = CURRENT_TIMESTAMP',
    );
    // PostgreSQL has no timestamptz - integer; SQLite would subtract 5 from the year.
    const minusFive = sqlError(() => sqlite('SELECT id FROM e WHERE at > now() - 5'));
    expect([minusFive.sqlstate, minusFive.message]).toEqual([
      '42883',
      'operator does not exist: timestamp with time zone - integer',
    ]);
    expect(sqlite('SELECT now()::text, transaction_timestamp() AS t')).toBe(
      'SELECT CAST(CURRENT_TIMESTAMP AS TEXT) AS "now", CURRENT_TIMESTAMP AS t',
    );
    // A column or table named now is not a call.
    expect(sqlite('SELECT now, t.now FROM now')).toBe('SELECT now, t.now FROM now');
    const cast = translate(tokenize('SELECT $1::int4 + $2, $3::bool'), facts);
    expect(cast.sql).toMatch(
      /^SELECT CAST\(\(CASE WHEN typeof\(\?1\) = 'real' .* END\) AS INTEGER\) \+ \?2, \(CASE WHEN typeof\(\?3\)/,
    );
    expect([...cast.castTypes]).toEqual([
      [1, 'int4'],
      [3, 'bool'],
    ]);
  });

  it('casts the primary before :: (literal, parameter, name, parentheses, call, CASE), left to right', () => {
    expect(sqlite("SELECT '12'::int = 12, 7::float / 2, 3.7::int")).toBe(
      `SELECT 12 = 12 AS "?column?", 7.0 / 2, 4 AS "int4"`,
    );
    // :: binds tighter than any operator: only the primary before it is cast.
    expect(sqlite('SELECT a + b::float8, -x::text FROM t')).toBe(
      `SELECT a + CAST(b AS REAL), -CAST(x AS TEXT) FROM t`,
    );
    expect(sqlite('SELECT (a + b)::float8, f(g(1), 2)::text, t.x::real FROM t')).toBe(
      'SELECT CAST((a + b) AS REAL) AS "float8", CAST(f(g(1), 2) AS TEXT) AS "f", CAST(t.x AS REAL) AS "x" FROM t',
    );
    expect(
      sqlite('SELECT CASE WHEN a THEN 1 ELSE 0 END::text, x::text::float8 AS y FROM t WHERE z::real > 1'),
    ).toBe(
      'SELECT CAST(CASE WHEN a THEN 1 ELSE 0 END AS TEXT) AS "text", CAST(CAST(x AS TEXT) AS REAL) AS y FROM t WHERE CAST(z AS REAL) > 1',
    );
    // Literals are converted now: PostgreSQL's bytea and boolean input.
    expect(sqlite("SELECT '\\x00ff'::bytea, 'yes'::boolean, 'OFF'::bool")).toBe(
      `SELECT X'00ff' AS "bytea", 1 AS "bool", 0 AS "bool"`,
    );
    expect(sqlite('SELECT count(*)::int FROM t')).toBe(
      `SELECT CAST((CASE WHEN typeof(count(*)) = 'real' THEN round(count(*)) ELSE count(*) END) AS INTEGER) AS "count" FROM t`,
    );
    // An int8 cast stays an expression (typed by its values: int8, as in PostgreSQL).
    expect(sqlite('SELECT count(*)::bigint FROM t')).toBe(
      `SELECT (CASE WHEN typeof(count(*)) = 'real' THEN CAST(round(count(*)) AS INTEGER) ELSE CAST(count(*) AS INTEGER) END) AS "count" FROM t`,
    );
    expect(sqlError(() => sqlite("SELECT 'maybe'::bool")).sqlstate).toBe('22P02');
    expect(sqlError(() => sqlite('SELECT ::int')).sqlstate).toBe('42601');
  });

  it('reads a signed exponent as part of a number, so a cast takes the whole number', () => {
    const texts = (sql: string) =>
      tokenize(sql)
        .filter((token) => token.kind !== 'space')
        .map((token) => token.text);
    expect(texts('SELECT 1e-5, 2E+3, 3e4-1, 5-e')).toEqual([
      'SELECT',
      '1e-5',
      ',',
      '2E+3',
      ',',
      '3e4',
      '-',
      '1',
      ',',
      '5',
      '-',
      'e',
    ]);
    expect(sqlite('SELECT 1e-5::float8, x * 2E+3::float8')).toBe('SELECT 1e-5 AS "float8", x * 2E+3');
  });

  it('drops comments between a cast operand and ::, so a line comment does not swallow the cast', () => {
    expect(sqlite('SELECT a -- amount\n ::text FROM t')).toBe('SELECT CAST(a AS TEXT) AS "a" FROM t');
    expect(sqlite('SELECT a /* x */ :: text, (b -- y\n + 1)::text FROM t')).toBe(
      'SELECT CAST(a AS TEXT) AS "a", CAST((b -- y\n + 1) AS TEXT) AS "text" FROM t',
    );
  });

  it('casts a window or filtered call whole, from the start of the call', () => {
    expect(
      sqlite(
        'SELECT count(*) OVER (ORDER BY x)::text, sum(a) FILTER (WHERE a > 0) OVER (PARTITION BY b)::text AS s FROM t',
      ),
    ).toBe(
      'SELECT CAST(count(*) OVER (ORDER BY x) AS TEXT) AS "count", CAST(sum(a) FILTER (WHERE a > 0) OVER (PARTITION BY b) AS TEXT) AS s FROM t',
    );
  });

  it('folds casts of literals into the literal they give, which DEFAULT accepts where it refuses CAST', () => {
    expect(
      sqlite(
        "SELECT 3.7::int, -2.5::int, ' 007 '::int8, 1::float, '2'::float8, 'abc'::varchar(2), 12::text, 1::bool, NULL::int, true::int",
      ),
    ).toBe(
      `SELECT 4 AS "int4", -3, 7 AS "int8", 1.0 AS "float8", 2.0 AS "float8", 'ab' AS "varchar", '12' AS "text", 1 AS "bool", NULL AS "int4", 1 AS "int4"`,
    );
    // A negative result is parenthesized (a - -4 would start a comment); chains fold left to right.
    expect(sqlite("SELECT a - '-4'::int, '1'::int::text, '-1.5e3'::float8 FROM t")).toBe(
      `SELECT a - (-4), '1' AS "text", (-1.5e3) AS "float8" FROM t`,
    );
    // pg_dump's and ORMs' DDL: a cast after DEFAULT that is not folded is parenthesized.
    expect(
      sqlite(
        "CREATE TABLE t (s varchar(20) DEFAULT 'new'::character varying, n int DEFAULT 0::int, f int DEFAULT -1::int, b bool DEFAULT 'true'::boolean, m int DEFAULT NULL::integer, e text DEFAULT f(x)::text, d real DEFAULT (0)::real CHECK (d >= 0))",
      ),
    ).toBe(
      "CREATE TABLE t (s varchar(20) DEFAULT 'new', n int DEFAULT 0, f int DEFAULT -1, b bool DEFAULT 1, m int DEFAULT NULL, e text DEFAULT (CAST(f(x) AS TEXT)), d real DEFAULT (CAST((0) AS REAL)) CHECK (d >= 0))",
    );
  });

  it('checks a cast literal as PostgreSQL 15 does: 22P02 for what the type does not read, 22003 out of range', () => {
    // Each message as PostgreSQL 15.18 gives it for the same SELECT (but the last: see there).
    for (const [literal, sqlstate, message] of [
      ["'3.7'::int", '22P02', 'invalid input syntax for type integer: "3.7"'],
      ["'abc'::int", '22P02', 'invalid input syntax for type integer: "abc"'],
      ["''::int", '22P02', 'invalid input syntax for type integer: ""'],
      ["'1e5'::int", '22P02', 'invalid input syntax for type integer: "1e5"'],
      ["'- 1'::int", '22P02', 'invalid input syntax for type integer: "- 1"'],
      ["'0x10'::int", '22P02', 'invalid input syntax for type integer: "0x10"'],
      ["'abc'::smallint", '22P02', 'invalid input syntax for type smallint: "abc"'],
      ["'1.5'::int8", '22P02', 'invalid input syntax for type bigint: "1.5"'],
      ["'abc'::oid", '22P02', 'invalid input syntax for type oid: "abc"'],
      ["'2147483648'::int4", '22003', 'value "2147483648" is out of range for type integer'],
      ["'40000'::int2", '22003', 'value "40000" is out of range for type smallint'],
      ["'9223372036854775808'::int8", '22003', 'value "9223372036854775808" is out of range for type bigint'],
      ["'4294967296'::oid", '22003', 'value "4294967296" is out of range for type oid'],
      ['2147483648::int4', '22003', 'integer out of range'],
      ['2147483647.5::int4', '22003', 'integer out of range'],
      ['40000::int2', '22003', 'smallint out of range'],
      ['9223372036854775808::int8', '22003', 'bigint out of range'],
      ['1e400::int', '22003', 'integer out of range'],
      ["'abc'::float8", '22P02', 'invalid input syntax for type double precision: "abc"'],
      ["'1e'::float8", '22P02', 'invalid input syntax for type double precision: "1e"'],
      ["'  '::float8", '22P02', 'invalid input syntax for type double precision: "  "'],
      ["'abc'::real", '22P02', 'invalid input syntax for type real: "abc"'],
      ["'1e400'::float8", '22003', '"1e400" is out of range for type double precision'],
      ["'1e-400'::float8", '22003', '"1e-400" is out of range for type double precision'],
      ["'1e40'::float4", '22003', '"1e40" is out of range for type real'],
      ["'x'::numeric", '22P02', 'invalid input syntax for type numeric: "x"'],
      // PostgreSQL writes the number out in full ("10000…0"); the literal is shown as written.
      ['1e400::float8', '22003', '"1e400" is out of range for type double precision'],
    ]) {
      const error = sqlError(() => sqlite(`SELECT ${literal}`));
      expect([error.sqlstate, error.message], literal).toEqual([sqlstate, message]);
    }
    // What PostgreSQL accepts: whitespace around, a sign, every decimal form, infinities.
    expect(
      sqlite(
        "SELECT ' 42 '::int, E'\\t7\\n'::int, '+12'::int, '-1'::oid, ' 1.5e3 '::float8, '.5'::float8, '5.'::float8, '1e-40'::float4, '1e5'::numeric",
      ),
    ).toBe(
      'SELECT 42 AS "int4", 7 AS "int4", 12 AS "int4", 4294967295 AS "oid", 1.5e3 AS "float8", .5 AS "float8", 5. AS "float8", 1e-40 AS "float4", 1e5 AS "numeric"',
    );
    expect(sqlite("SELECT 'Infinity'::float8, '-inf'::float8, ' +Inf '::numeric")).toBe(
      'SELECT 9e999 AS "float8", (-9e999) AS "float8", 9e999 AS "numeric"',
    );
    // SQLite has no NaN (it stores NULL): refused rather than changed.
    expect(sqlError(() => sqlite("SELECT 'NaN'::float8")).sqlstate).toBe('0A000');
    // A column or parameter cannot be checked before it runs: SQLite's CAST, as before.
    expect(sqlite('SELECT x::int, $1::float8 FROM t')).toBe(
      `SELECT CAST((CASE WHEN typeof(x) = 'real' THEN round(x) ELSE x END) AS INTEGER) AS "x", CAST(?1 AS REAL) AS "float8" FROM t`,
    );
  });

  it('refuses casts to types SQLite cannot hold, naming the type', () => {
    for (const [query, type] of [
      ['SELECT x::text[] FROM t', 'text[]'],
      ['SELECT x::time with time zone FROM t', 'time with time zone'],
      ['SELECT x::timetz FROM t', 'timetz'],
      ["SELECT 't'::regclass", 'regclass'],
      ["SELECT CAST('t' AS regclass)", 'regclass'],
    ] as const) {
      const refused = sqlError(() => sqlite(query));
      expect([refused.sqlstate, refused.message]).toEqual([
        '0A000',
        `cast to type ${type} is not supported by northlight`,
      ]);
    }
  });

  it('refuses what it cannot translate with a SQLSTATE', () => {
    expect(sqlError(() => sqlite('SELECT x::mytype')).sqlstate).toBe('0A000');
    expect(sqlError(() => sqlite('SELECT $0')).sqlstate).toBe('42P02');
    expect(sqlError(() => sqlite('SELECT $99999999')).sqlstate).toBe('42P02');
  });
});

describe('statement rewrites (what pgbench -i sends)', () => {
  it('makes primary key columns NOT NULL, column or table constraint, and nothing else', () => {
    expect(sqlite('CREATE TABLE t (code varchar(8) PRIMARY KEY -- the key\n, v int)')).toBe(
      'CREATE TABLE t (code varchar(8) PRIMARY KEY NOT NULL -- the key\n, v int)',
    );
    expect(sqlite('create table if not exists t (a int, b text, primary key (a, b))')).toBe(
      'create table if not exists t (a int NOT NULL, b text NOT NULL, primary key (a, b))',
    );
    expect(
      sqlite('CREATE TABLE t (a int NOT NULL PRIMARY KEY, b int NULL, c int CHECK (c IS NOT NULL))'),
    ).toBe('CREATE TABLE t (a int NOT NULL PRIMARY KEY, b int NULL, c int CHECK (c IS NOT NULL))');
    // A name in a CHECK or a REFERENCES is not a key; a key named in a table constraint with its order is.
    expect(
      sqlite('CREATE TABLE t ("Id" int REFERENCES u (id), x int, CONSTRAINT p PRIMARY KEY ("Id" DESC))'),
    ).toBe(
      'CREATE TABLE t ("Id" int REFERENCES u (id) NOT NULL, x int, CONSTRAINT p PRIMARY KEY ("Id" DESC))',
    );
    expect(sqlite('CREATE TABLE t AS SELECT (1) AS id')).toBe('CREATE TABLE t AS SELECT (1) AS id');
    expect(sqlite('CREATE INDEX i ON t (a)')).toBe('CREATE INDEX i ON t (a)');
  });

  it('drops several tables as the kernel does them together, indexes or views one at a time', () => {
    // The kernel's DROP TABLE … RESTRICT (kernel/alter-table.ts): the tables together, refused while
    // another table's foreign key points at one, as PostgreSQL does.
    expect(
      sqlite('drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers'),
    ).toBe(
      'DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers RESTRICT',
    );
    expect(sqlite('DROP INDEX a, public."B"')).toBe('DROP INDEX a; DROP INDEX "B"');
    expect(sqlite('DROP VIEW v1,v2')).toBe('DROP VIEW v1; DROP VIEW v2');
    expect(sqlite('DROP TABLE t')).toBe('DROP TABLE t RESTRICT');
    expect(sqlite('DROP VIEW v')).toBe('DROP VIEW v');
    expect(commandTag(tokenize('drop table if exists a, b'), { columns: [], rowCount: 0, changes: 0 })).toBe(
      'DROP TABLE',
    );
  });

  it('runs TRUNCATE as DELETE FROM each table, RESTART IDENTITY resetting sqlite_sequence', () => {
    expect(sqlite('truncate table pgbench_accounts, pgbench_branches')).toBe(
      'PRAGMA defer_foreign_keys = ON; DELETE FROM pgbench_accounts; DELETE FROM pgbench_branches',
    );
    expect(sqlite('TRUNCATE ONLY a *, "Mixed" CONTINUE IDENTITY RESTRICT')).toBe(
      'PRAGMA defer_foreign_keys = ON; DELETE FROM a; DELETE FROM "Mixed"',
    );
    expect(sqlite('TRUNCATE ONLY a')).toBe('DELETE FROM a');
    expect(sqlite('TRUNCATE public.a, "Mixed" RESTART IDENTITY')).toBe(
      'PRAGMA defer_foreign_keys = ON; DELETE FROM a; DELETE FROM "Mixed"; ' +
        'CREATE TABLE northlight_truncate_restart_identity (id INTEGER PRIMARY KEY AUTOINCREMENT); ' +
        'DROP TABLE northlight_truncate_restart_identity; ' +
        "DELETE FROM sqlite_sequence WHERE name IN ('a', 'Mixed')",
    );
    expect(commandTag(tokenize('truncate t'), { columns: [], rowCount: 0, changes: 5 })).toBe(
      'TRUNCATE TABLE',
    );
  });

  it('runs VACUUM as SQLite allows: ANALYZE of the tables named, SQLite VACUUM of the database', () => {
    expect(sqlite('vacuum analyze pgbench_branches')).toBe('ANALYZE pgbench_branches');
    expect(sqlite('VACUUM (VERBOSE, ANALYZE) a, b (x, y)')).toBe('ANALYZE a; ANALYZE b');
    expect(sqlite('VACUUM (ANALYZE false) a')).toBe('');
    expect(sqlite('vacuum pgbench_tellers')).toBe('');
    expect(sqlite('VACUUM FULL')).toBe('VACUUM');
    expect(sqlite('VACUUM ANALYZE')).toBe('ANALYZE');
    expect(sqlite('ANALYZE VERBOSE a, b')).toBe('ANALYZE a; ANALYZE b');
    expect(sqlite('ANALYZE')).toBe('ANALYZE');
  });

  it('adds a primary key or unique constraint as a unique index named as PostgreSQL names it', () => {
    expect(sqlite('alter table pgbench_branches add primary key (bid)')).toBe(
      'CREATE UNIQUE INDEX pgbench_branches_pkey ON pgbench_branches (bid); ' +
        'ALTER TABLE pgbench_branches ALTER COLUMN bid SET NOT NULL',
    );
    expect(sqlite('ALTER TABLE ONLY public.t ADD CONSTRAINT t_key PRIMARY KEY (a, b)')).toBe(
      'CREATE UNIQUE INDEX t_key ON t (a, b); ALTER TABLE t ALTER COLUMN a SET NOT NULL; ALTER TABLE t ALTER COLUMN b SET NOT NULL',
    );
    expect(sqlite('ALTER TABLE t ADD UNIQUE (a, b)')).toBe('CREATE UNIQUE INDEX t_a_b_key ON t (a, b)');
    expect(sqlite('ALTER TABLE "Mixed" ADD PRIMARY KEY (id)')).toBe(
      'CREATE UNIQUE INDEX "Mixed_pkey" ON "Mixed" (id); ALTER TABLE "Mixed" ALTER COLUMN id SET NOT NULL',
    );
    expect(sqlite('ALTER TABLE t ADD COLUMN c int')).toBe('ALTER TABLE t ADD COLUMN c int');
    expect(sqlite('ALTER TABLE t ADD PRIMARY KEY (a) INCLUDE (b)')).toBe(
      'ALTER TABLE t ADD PRIMARY KEY (a) INCLUDE (b)',
    );
    expect(
      commandTag(tokenize('alter table t add primary key (a)'), { columns: [], rowCount: 0, changes: 0 }),
    ).toBe('ALTER TABLE');
  });

  it('counts FROM generate_series with a recursive CTE (this SQLite has no generate_series table)', () => {
    expect(sqlite('select bid, 0 from generate_series(1, 10) as bid')).toBe(
      'select bid, 0 from (WITH RECURSIVE northlight_series(value) AS (SELECT (1) WHERE CASE WHEN (1) > 0 THEN (1) <= ( 10) ' +
        'WHEN (1) < 0 THEN (1) >= ( 10) END UNION ALL SELECT northlight_series.value + (1) FROM northlight_series ' +
        'WHERE CASE WHEN (1) > 0 THEN northlight_series.value + (1) <= ( 10) WHEN (1) < 0 THEN northlight_series.value + (1) >= ( 10) END) ' +
        'SELECT value AS bid FROM northlight_series) AS bid',
    );
    expect(sqlite('SELECT * FROM generate_series(1, 3) WHERE generate_series > 1')).toMatch(
      /SELECT value AS generate_series FROM northlight_series\) AS generate_series WHERE generate_series > 1$/,
    );
    expect(sqlite('SELECT x FROM generate_series($1::int, 3, 2) t(x)')).toMatch(
      /\(SELECT \(CAST\(\(CASE WHEN typeof\(\?1\).* AS x FROM northlight_series\) AS t$/,
    );
    // The query's only item, with no FROM (psql's way to count): the same series, in FROM.
    expect(sqlite('SELECT generate_series(1, 3) AS "n" ORDER BY 1 DESC LIMIT 2')).toMatch(
      /^SELECT "n" FROM \(WITH RECURSIVE .* SELECT value AS "n" FROM northlight_series\) AS "n" ORDER BY 1 DESC LIMIT 2$/,
    );
    expect(sqlite('SELECT generate_series(1, 3)')).toMatch(
      /^SELECT "generate_series" FROM \(WITH RECURSIVE /,
    );
    // Another item, or a FROM: left to SQLite (no such function).
    for (const statement of ['SELECT generate_series(1, 3), 2', 'SELECT generate_series(1, 3) FROM t'])
      expect(sqlite(statement)).toBe(statement.replace('3)', '3) AS "generate_series"'));
  });

  it('counts like PostgreSQL in a select list, on SQLite', () => {
    const backend = new SqliteTestBackend();
    try {
      const rows = (sql: string) =>
        (backend.database.prepare(sqlite(sql)).raw(true).all({}) as bigint[][]).map((row) => row.map(Number));
      expect(rows('SELECT generate_series(1, 10, 4)')).toEqual([[1], [5], [9]]);
      expect(rows('SELECT generate_series(5, 1, -2) AS n ORDER BY n')).toEqual([[1], [3], [5]]);
      expect(rows('SELECT generate_series(3, 1)')).toEqual([]);
    } finally {
      backend.close();
    }
  });

  it('puts WHERE true between an upsert source FROM list and its ON CONFLICT, and nowhere else', () => {
    expect(sqlite('INSERT INTO t SELECT k, v FROM s ON CONFLICT (k) DO NOTHING')).toBe(
      'INSERT INTO t SELECT k, v FROM s WHERE true ON CONFLICT (k) DO NOTHING',
    );
    expect(
      sqlite('insert into t (k, v) select s.k, s.v from s join u on u.k = s.k on conflict do nothing'),
    ).toBe(
      'insert into t (k, v) select s.k, s.v from s join u on u.k = s.k WHERE true on conflict do nothing',
    );
    expect(
      sqlite(
        'WITH x AS (SELECT k FROM s WHERE k > 0) INSERT INTO t SELECT k, 1 FROM x UNION SELECT k, 2 FROM s ON CONFLICT (k) DO UPDATE SET v = excluded.v',
      ),
    ).toBe(
      'WITH x AS (SELECT k FROM s WHERE k > 0) INSERT INTO t SELECT k, 1 FROM x UNION SELECT k, 2 FROM s WHERE true ON CONFLICT (k) DO UPDATE SET v = excluded.v',
    );
    // The SELECT already ends in another clause, or has no FROM, or the source is VALUES: as written.
    for (const statement of [
      'INSERT INTO t SELECT k, v FROM s WHERE k > 1 ON CONFLICT (k) DO NOTHING',
      'INSERT INTO t SELECT k, v FROM s ORDER BY k ON CONFLICT (k) DO NOTHING',
      'INSERT INTO t SELECT k, k FROM s GROUP BY k ON CONFLICT (k) DO NOTHING',
      'INSERT INTO t SELECT k, v FROM s LIMIT 5 ON CONFLICT (k) DO NOTHING',
      "INSERT INTO t SELECT 1, 'a' ON CONFLICT (k) DO NOTHING",
      "INSERT INTO t VALUES (1, 'a') ON CONFLICT (k) DO NOTHING",
      'INSERT INTO t SELECT k, v FROM (SELECT k, v FROM s) AS x WHERE true ON CONFLICT (k) DO NOTHING',
      'SELECT k FROM s',
      // IS [NOT] DISTINCT FROM is an operator; a table named conflict is not an ON CONFLICT.
      "INSERT INTO t SELECT k, v FROM s WHERE v IS DISTINCT FROM 'x' ON CONFLICT (k) DO NOTHING",
      'INSERT INTO t SELECT k, v FROM s WHERE true ORDER BY k IS NOT DISTINCT FROM 1 ON CONFLICT (k) DO NOTHING',
      'INSERT INTO t SELECT s.k, s.v FROM s JOIN conflict ON conflict.id = s.k',
    ])
      expect(sqlite(statement)).toBe(statement);
    expect(
      sqlite(
        'INSERT INTO t SELECT s.k, s.v FROM s JOIN conflict ON conflict.id = s.k ON CONFLICT DO NOTHING',
      ),
    ).toBe(
      'INSERT INTO t SELECT s.k, s.v FROM s JOIN conflict ON conflict.id = s.k WHERE true ON CONFLICT DO NOTHING',
    );
    // Every upsert of a trigger's body.
    expect(
      sqlite(
        'CREATE TRIGGER tr AFTER INSERT ON s BEGIN INSERT INTO t SELECT k, v FROM s ON CONFLICT DO NOTHING; INSERT INTO u SELECT k FROM s ON CONFLICT DO NOTHING; END',
      ),
    ).toBe(
      'CREATE TRIGGER tr AFTER INSERT ON s BEGIN INSERT INTO t SELECT k, v FROM s WHERE true ON CONFLICT DO NOTHING; INSERT INTO u SELECT k FROM s WHERE true ON CONFLICT DO NOTHING; END',
    );
    expect(sqlite('INSERT INTO t SELECT k, substring(v FROM 2) FROM s ON CONFLICT (k) DO NOTHING')).toMatch(
      / FROM s WHERE true ON CONFLICT \(k\) DO NOTHING$/,
    );
  });

  it('ignores storage parameters of CREATE TABLE and CREATE INDEX, and UNLOGGED', () => {
    expect(sqlite('create table pgbench_tellers(tid int not null,bid int) with (fillfactor=100)')).toBe(
      'create table pgbench_tellers(tid int not null,bid int)',
    );
    expect(
      sqlite('CREATE INDEX i ON t (a) WITH (fillfactor = 70, deduplicate_items = off) WHERE a > 0'),
    ).toBe('CREATE INDEX i ON t (a)  WHERE a > 0');
    expect(sqlite('CREATE TABLE t AS WITH x AS (SELECT 1::int AS a) SELECT a FROM x')).toBe(
      'CREATE TABLE t AS WITH x AS (SELECT 1 AS a) SELECT a FROM x',
    );
    expect(sqlite('CREATE TABLE t (a INT) WITHOUT ROWID')).toBe('CREATE TABLE t (a INT) WITHOUT ROWID');
    expect(sqlite('create unlogged table pgbench_history(tid int)')).toBe(
      'create table pgbench_history(tid int)',
    );
    expect(sqlite('CREATE TABLE unlogged (a INT)')).toBe('CREATE TABLE unlogged (a INT)');
  });
});

describe('commandTag', () => {
  const outcome = { columns: [], rowCount: 0, changes: 3 };
  it('names each statement as PostgreSQL does', () => {
    expect(commandTag(tokenize('insert into t values (1)'), outcome)).toBe('INSERT 0 3');
    expect(commandTag(tokenize('UPDATE t SET a = 1'), outcome)).toBe('UPDATE 3');
    expect(commandTag(tokenize('DELETE FROM t'), outcome)).toBe('DELETE 3');
    expect(commandTag(tokenize('SELECT 1'), { columns: ['a'], rowCount: 5, changes: 0 })).toBe('SELECT 5');
    expect(commandTag(tokenize('CREATE UNIQUE INDEX i ON t (a)'), outcome)).toBe('CREATE INDEX');
    expect(commandTag(tokenize('CREATE TABLE IF NOT EXISTS t (a)'), outcome)).toBe('CREATE TABLE');
    expect(commandTag(tokenize('DROP TABLE t'), outcome)).toBe('DROP TABLE');
  });
});

describe('PostgreSQL forms (postgres-forms.ts)', () => {
  it('folds unquoted names to lower case, keeps keywords, quoted names and literals as written', () => {
    expect(sqlite("CREATE TABLE CaseT (Id INTEGER PRIMARY KEY, UserName TEXT DEFAULT 'Ann')")).toBe(
      "CREATE TABLE caset (id INTEGER PRIMARY KEY NOT NULL, username TEXT DEFAULT 'Ann')",
    );
    expect(sqlite('SELECT Id AS userId, "Mixed" FROM CaseT WHERE UserName = $1')).toBe(
      'SELECT id AS userid, "Mixed" FROM caset WHERE username = ?1',
    );
  });

  it('drops the public schema, quoted or not, and nothing else', () => {
    expect(sqlite('INSERT INTO public.t (a) SELECT p.a FROM "public"."P" p JOIN Public.q ON true')).toBe(
      'INSERT INTO t (a) SELECT p.a FROM "P" p JOIN q ON true',
    );
    expect(sqlite('SELECT public FROM t')).toBe('SELECT public FROM t');
    expect(sqlite('SELECT sales.t.public FROM sales.t')).toBe('SELECT sales.t.public FROM sales.t');
  });

  it('drops row-locking clauses in every spelling, and leaves other FORs', () => {
    for (const clause of [
      'FOR UPDATE',
      'FOR NO KEY UPDATE',
      'FOR SHARE',
      'FOR KEY SHARE',
      'FOR UPDATE OF t',
      'FOR UPDATE OF public.t, u NOWAIT',
      'FOR SHARE SKIP LOCKED',
      'FOR UPDATE OF t FOR SHARE OF u',
    ]) {
      expect(sqlite(`SELECT a FROM t WHERE id = 1 ${clause}`)).toBe('SELECT a FROM t WHERE id = 1');
    }
    expect(sqlite('SELECT a FROM t FOR UPDATE LIMIT 1')).toBe('SELECT a FROM t   LIMIT 1');
    expect(sqlite('CREATE TRIGGER tr AFTER UPDATE ON t FOR EACH ROW BEGIN SELECT 1; END')).toBe(
      'CREATE TRIGGER tr AFTER UPDATE ON t FOR EACH ROW BEGIN SELECT 1; END',
    );
  });

  it('makes identity columns INTEGER (the rowid as primary key), options and all', () => {
    expect(sqlite('CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text)')).toBe(
      'CREATE TABLE t (id INTEGER   PRIMARY KEY NOT NULL, v text)',
    );
    expect(
      sqlite(
        'CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 1) PRIMARY KEY)',
      ),
    ).toBe('CREATE TABLE t (id INTEGER   PRIMARY KEY NOT NULL)');
    // A generated column (SQLite has them) is not an identity.
    expect(sqlite('CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED)')).toBe(
      'CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED)',
    );
  });

  it('DROP … CASCADE | RESTRICT, CREATE INDEX CONCURRENTLY … USING btree, and other access methods refused', () => {
    // A table's CASCADE stays for the kernel, which drops the foreign keys to it too.
    expect(sqlite('DROP TABLE IF EXISTS public.a CASCADE')).toBe('DROP TABLE IF EXISTS a CASCADE');
    expect(sqlite('DROP VIEW v CASCADE')).toBe('DROP VIEW v');
    expect(sqlite('DROP TABLE a, b RESTRICT')).toBe('DROP TABLE a, b RESTRICT');
    expect(sqlite('CREATE UNIQUE INDEX CONCURRENTLY i ON public.t USING btree (a)')).toBe(
      'CREATE UNIQUE INDEX  i ON t  (a)',
    );
    expect(sqlite('CREATE INDEX i ON t USING HASH (a)')).toBe('CREATE INDEX i ON t  (a)');
    expect(sqlError(() => sqlite('CREATE INDEX i ON t USING gin (doc)'))).toMatchObject({
      sqlstate: '0A000',
    });
  });

  it('COMMENT ON and ALTER … OWNER TO change nothing; SET NAMES and SET SESSION AUTHORIZATION are settings', () => {
    expect(sqlite("COMMENT ON COLUMN public.t.a IS 'the a'")).toBe('');
    expect(sqlite('ALTER TABLE public.t OWNER TO postgres')).toBe('');
    expect(sqlite('ALTER SEQUENCE public.t_id_seq OWNER TO "app user"')).toBe('');
    expect(kind("SET NAMES 'UTF8'")).toEqual({
      kind: 'set',
      name: 'client_encoding',
      value: 'UTF8',
      tag: 'SET',
    });
    expect(kind('SET SESSION AUTHORIZATION DEFAULT')).toEqual({
      kind: 'set',
      name: '',
      value: null,
      tag: 'SET',
    });
  });

  it("SELECT set_config(…) and current_setting(…) with literals are the session's settings", () => {
    expect(kind("SELECT pg_catalog.set_config('search_path', '', false)")).toEqual({
      kind: 'set',
      name: 'search_path',
      value: '',
      tag: 'SELECT 1',
      resultColumn: 'set_config',
    });
    expect(kind("select set_config('Statement_Timeout', '5s', true) AS \"Old\"")).toMatchObject({
      name: 'statement_timeout',
      local: true,
      resultColumn: 'Old',
    });
    expect(kind("SELECT current_setting('server_version_num')")).toEqual({
      kind: 'show',
      name: 'server_version_num',
      resultColumn: 'current_setting',
    });
    expect(kind("SELECT current_setting('nope', true) v")).toMatchObject({
      missingOk: true,
      resultColumn: 'v',
    });
    // Parameters, other arguments or a larger query are SQLite's (42883 there).
    for (const sql of [
      'SELECT set_config($1, $2, false)',
      "SELECT current_setting('a'), 1",
      "SELECT current_setting('a') FROM t",
      "SELECT set_config('a', 'b')",
    ]) {
      expect(kind(sql)).toMatchObject({ kind: 'sql' });
    }
  });

  it('spells PostgreSQL functions as SQLite does: ILIKE, position, substring, extract, date_trunc, greatest, uuids', () => {
    expect(sqlite("SELECT a FROM t WHERE a ILIKE $1 OR a NOT ILIKE 'x%'")).toBe(
      "SELECT a FROM t WHERE a LIKE ?1 ESCAPE '\\' OR a NOT LIKE 'x%' ESCAPE '\\'",
    );
    expect(sqlite("SELECT position('b' IN s)")).toBe(
      'SELECT CAST(instr(( s), (\'b\' )) AS INTEGER) AS "position"',
    );
    expect(
      sqlite('SELECT substring(s FROM 2 FOR 3), substring(s FROM 2), substring(s FOR 2), substring(s, 1, 2)'),
    ).toBe(
      'SELECT substr((s ), ( 2 ), ( 3)) AS "substring", substr((s ), ( 2)) AS "substring", substr((s ), 1, ( 2)) AS "substring", substring(s, 1, 2) AS "substring"',
    );
    expect(sqlite('SELECT extract(year FROM at), date_part($1, at)')).toBe(
      'SELECT CAST(strftime(\'%Y\', ( at)) AS INTEGER) AS "extract", date_part(?1, at) AS "date_part"',
    );
    expect(sqlite("SELECT date_trunc('day', at)")).toBe(
      'SELECT datetime(( at), \'start of day\') AS "date_trunc"',
    );
    expect(sqlError(() => sqlite('SELECT extract(century FROM at)'))).toMatchObject({ sqlstate: '0A000' });
    expect(sqlError(() => sqlite("SELECT date_trunc('decade', at)"))).toMatchObject({ sqlstate: '0A000' });
    expect(sqlite('SELECT greatest(a, b), least(a), greatest(max(a), 1) FROM t')).toBe(
      'SELECT max(a, b) AS "greatest", (a) AS "least", max(max(a), 1) AS "greatest" FROM t',
    );
    expect(sqlite('SELECT gen_random_uuid(), uuid_generate_v4()')).toMatch(
      /^SELECT \(lower\(hex\(randomblob\(4\)\)/,
    );
    // A column or a qualified call of the same name is the user's.
    expect(sqlite('SELECT t.position, x.greatest(1) FROM t')).toBe('SELECT t.position, x.greatest(1) FROM t');
  });

  it('= ANY(…) and <> ALL(…) are IN and NOT IN: arrays as parameters or literals, ARRAY[…], subqueries', () => {
    expect(sqlite('SELECT * FROM t WHERE id = ANY($1) AND k <> ALL($2)')).toBe(
      'SELECT * FROM t WHERE id  IN (SELECT value FROM json_each(northlight_pg_array((?1)))) AND k  NOT IN (SELECT value FROM json_each(northlight_pg_array((?2))))',
    );
    expect(sqlite("SELECT * FROM t WHERE id = SOME(ARRAY[1, 2]) OR n != ALL('{a,b}')")).toBe(
      "SELECT * FROM t WHERE id  IN (1, 2) OR n  NOT IN (SELECT value FROM json_each(northlight_pg_array(('{a,b}'))))",
    );
    expect(sqlite('SELECT * FROM t WHERE id = ANY (SELECT u FROM v)')).toBe(
      'SELECT * FROM t WHERE id  IN (SELECT u FROM v)',
    );
    // Other comparisons with a quantifier are SQLite's (an error there), not rewritten.
    expect(sqlite('SELECT * FROM t WHERE id < ANY($1)')).toBe('SELECT * FROM t WHERE id < ANY(?1)');
  });

  it('names a call that is a whole select-list item after its function, as PostgreSQL does', () => {
    expect(
      sqlite(
        'SELECT COUNT(*), max(a) m, sum(b) AS s, row_number() OVER (ORDER BY a) FROM t ORDER BY count(*)',
      ),
    ).toBe(
      'SELECT count(*) AS "count", max(a) m, sum(b) AS s, row_number() OVER (ORDER BY a) AS "row_number" FROM t ORDER BY count(*)',
    );
    expect(sqlite("SELECT date_trunc('day', at), random() FROM t GROUP BY date_trunc('day', at)")).toBe(
      'SELECT datetime(( at), \'start of day\') AS "date_trunc", (random() / 18446744073709551616.0 + 0.5) AS "random" FROM t GROUP BY datetime(( at), \'start of day\')',
    );
    // Not a whole item, or no call: as written.
    expect(
      sqlite('SELECT DISTINCT(a), count(*) + 1, f(x)::text FROM t WHERE a IN (SELECT max(b) FROM u)'),
    ).toBe(
      'SELECT DISTINCT(a), count(*) + 1, CAST(f(x) AS TEXT) AS "f" FROM t WHERE a IN (SELECT max(b) FROM u)',
    );
  });

  it('random() is a float in [0, 1); nested block comments become a space', () => {
    expect(sqlite('SELECT random() < 0.5, t.random()')).toBe(
      'SELECT (random() / 18446744073709551616.0 + 0.5) < 0.5 AS "?column?", t.random()',
    );
    expect(sqlite('SELECT /* a /* b */ c */ 1 /* plain */')).toBe('SELECT   1 /* plain */');
  });
});

describe('division by zero (division-checks.ts)', () => {
  it('checks the right operand of / and % in DML, with the left factor (NULL / 0 is NULL), named as PostgreSQL names the item', () => {
    expect(sqlite('SELECT a / b FROM t')).toBe('SELECT a / northlight_nonzero(b, a) AS "?column?"  FROM t');
    expect(sqlite('SELECT sum(x) / count(*) AS avg, a % $1 m FROM t')).toBe(
      'SELECT sum(x) / northlight_nonzero(count(*), sum(x)) AS avg, a % northlight_nonzero(?1, a) m FROM t',
    );
    // Unary signs, parentheses, dotted names, casts, CASE, windows and COLLATE are one operand.
    expect(sqlite('SELECT a / -t.b::float AS x, a / (b - c) AS y FROM t')).toBe(
      'SELECT a / northlight_nonzero(-CAST(t.b AS REAL), a) AS x, a / northlight_nonzero((b - c), a) AS y FROM t',
    );
    expect(sqlite('SELECT a / CASE WHEN x THEN 0 ELSE 1 END AS r FROM t')).toBe(
      'SELECT a / northlight_nonzero(CASE WHEN x THEN 0 ELSE 1 END, a) AS r FROM t',
    );
    expect(sqlite('SELECT sum(x) OVER () / count(*) OVER () AS r FROM t')).toBe(
      'SELECT sum(x) OVER () / northlight_nonzero(count(*) OVER (), sum(x) OVER ()) AS r FROM t',
    );
    // Nested divisions are checked too; a parenthesized item is still ?column?.
    expect(sqlite('SELECT (a / (b / c)) FROM t')).toBe(
      'SELECT (a / northlight_nonzero((b / northlight_nonzero(c, b)), a)) AS "?column?"  FROM t',
    );
    // WHERE, ORDER BY, SET and RETURNING too; only select items are named.
    expect(sqlite('UPDATE t SET x = x / $1 WHERE a % b = 0 RETURNING y / x')).toBe(
      'UPDATE t SET x = x / northlight_nonzero(?1, x) WHERE a % northlight_nonzero(b, a) = 0 RETURNING y / northlight_nonzero(x, y) AS "?column?"',
    );
    // A call around a division keeps its own name.
    expect(sqlite('SELECT round(a / b, 2) FROM t')).toBe(
      'SELECT round(a / northlight_nonzero(b, a), 2) AS "round" FROM t',
    );
  });

  it('ends a select item where PostgreSQL does (IS DISTINCT FROM, ON CONFLICT, RETURNING, comments)', () => {
    expect(sqlite('SELECT n / d IS DISTINCT FROM 1 FROM t')).toBe(
      'SELECT n / northlight_nonzero(d, n) IS DISTINCT FROM 1 AS "?column?" FROM t',
    );
    expect(sqlite('INSERT INTO u SELECT 30, 10 / x ON CONFLICT (id) DO UPDATE SET v = 1')).toBe(
      'INSERT INTO u SELECT 30, 10 / northlight_nonzero(x, 10) AS "?column?"  ON CONFLICT (id) DO UPDATE SET v = 1',
    );
    expect(sqlite('INSERT INTO u SELECT a / b RETURNING v')).toBe(
      'INSERT INTO u SELECT a / northlight_nonzero(b, a) AS "?column?"  RETURNING v',
    );
    // The alias goes before a trailing comment, which would otherwise swallow it.
    expect(sqlite('SELECT 10 / x -- trailing')).toBe(
      'SELECT 10 / northlight_nonzero(x, 10) AS "?column?"  -- trailing',
    );
    // A cast names the item after its type, as before.
    expect(sqlite('SELECT (n / d)::text FROM t')).toBe(
      'SELECT CAST((n / northlight_nonzero(d, n)) AS TEXT) AS "text" FROM t',
    );
    // A named window is one operand on either side.
    expect(sqlite('SELECT lag(n) OVER w / d AS r FROM t WINDOW w AS (ORDER BY id)')).toBe(
      'SELECT lag(n) OVER w / northlight_nonzero(d, lag(n) OVER w) AS r FROM t WINDOW w AS (ORDER BY id)',
    );
  });

  it('checks CREATE TABLE … AS (its query runs once, it is not kept in the schema)', () => {
    expect(sqlite('CREATE TABLE IF NOT EXISTS c AS SELECT n / d AS q FROM t')).toBe(
      'CREATE TABLE IF NOT EXISTS c AS SELECT n / northlight_nonzero(d, n) AS q FROM t',
    );
    expect(sqlite('CREATE TABLE t3 (a INT CHECK (a / b > 0))')).not.toContain('northlight_nonzero');
  });

  it('copies a dividend into its check only up to a bound, so a long chain stays linear', () => {
    const chain = `SELECT ${Array.from({ length: 1_000 }, (_, index) => `c${index}`).join(' / ')} AS r FROM t`;
    const translated = sqlite(chain);
    expect(translated.length).toBeLessThan(chain.length * 40);
    expect(translated.match(/northlight_nonzero/g)?.length).toBe(999);
  });

  it('leaves a non-zero literal divisor, DDL, strings and comments alone', () => {
    expect(sqlite('SELECT a / 2, 7 % 3.5 FROM t')).toBe('SELECT a / 2, 7 % 3.5 FROM t');
    expect(sqlite('SELECT 1 / 0')).toBe('SELECT 1 / northlight_nonzero(0, 1) AS "?column?"');
    for (const ddl of [
      'CREATE VIEW v AS SELECT a / b FROM t',
      'CREATE TABLE t (a INTEGER, b INTEGER CHECK (a / b > 0))',
      'CREATE INDEX i ON t ((a / b))',
    ])
      expect(sqlite(ddl)).not.toContain('northlight_nonzero');
    expect(sqlite("SELECT '1 / 0' -- x / y")).toBe("SELECT '1 / 0' -- x / y");
    // A left factor the scanner cannot tell (two words in a row: a multi-word type) is left out.
    expect(sqlite('SELECT x::double precision / y AS r FROM t')).toBe(
      'SELECT CAST(x AS REAL) / northlight_nonzero(y) AS r FROM t',
    );
    expect(sqlite('SELECT t.a::real / $1 AS r FROM t')).toBe(
      'SELECT CAST(t.a AS REAL) / northlight_nonzero(?1, CAST(t.a AS REAL)) AS r FROM t',
    );
  });
});

describe('startup options and timestamptz parameters', () => {
  it("reads libpq's options as pg_split_opts does, and refuses postmaster switches", () => {
    expect(startupOptions('-c lock_timeout=1234 -cstatement_timeout=2s --application-name=a\\ b')).toEqual([
      ['lock_timeout', '1234'],
      ['statement_timeout', '2s'],
      ['application_name', 'a b'],
    ]);
    expect(startupOptions('  ')).toEqual([]);
    expect(() => startupOptions('-B 100')).toThrow(/invalid command-line argument/);
    expect(() => startupOptions('-c nothing')).toThrow(/invalid command-line argument/);
  });

  it("stores node-postgres's Dates and typed timestamptz parameters in UTC, other text as written", () => {
    expect(decodeTextParameter('2024-05-05T22:00:00.250-04:00', 0)).toBe('2024-05-06 02:00:00.25');
    expect(decodeTextParameter('2024-05-06T08:30:00.000+05:30', 0)).toBe('2024-05-06 03:00:00');
    expect(decodeTextParameter('0099-12-31T23:00:00.000-02:00', 0)).toBe('0100-01-01 01:00:00');
    // Untyped text in any other shape is the client's own text.
    expect(decodeTextParameter('2024-05-06T02:00:00Z', 0)).toBe('2024-05-06T02:00:00Z');
    expect(decodeTextParameter('2024-05-06 02:00:00+02', 0)).toBe('2024-05-06 02:00:00+02');
    // Typed timestamptz (1184): every offset form.
    expect(decodeTextParameter('2024-05-06 02:00:00+02', 1184)).toBe('2024-05-06 00:00:00');
    expect(decodeTextParameter('2024-05-06T02:00:00.123456Z', 1184)).toBe('2024-05-06 02:00:00.123456');
    expect(decodeTextParameter('2024-05-06 02:00:00', 1184)).toBe('2024-05-06 02:00:00');
    expect(decodeTextParameter('2024-02-30 02:00:00', 1184)).toBe('2024-02-30 02:00:00');
    expect(decodeTextParameter('yesterday', 1184)).toBe('yesterday');
  });

  it('converts to UTC as Date does, for any instant of years 1–9999 and any offset (property)', () => {
    const two = (value: number) => String(Math.abs(value)).padStart(2, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: -62_135_596_800 + 86_400, max: 253_402_300_799 - 86_400 }),
        fc.integer({ min: -15 * 60, max: 15 * 60 }),
        (epochSeconds, offsetMinutes) => {
          const local = new Date((epochSeconds + offsetMinutes * 60) * 1_000);
          const sign = offsetMinutes < 0 ? '-' : '+';
          const offset = `${sign}${two(Math.trunc(offsetMinutes / 60))}:${two(offsetMinutes % 60)}`;
          const written = `${local.toISOString().slice(0, 19)}${offset}`;
          const expected = new Date(epochSeconds * 1_000).toISOString().slice(0, 19).replace('T', ' ');
          expect(decodeTextParameter(written, 1184)).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('the SQL layer on hostile text (fuzz)', () => {
  // Pieces that steer into every translation above, joined at random: whatever comes out, splitting,
  // classifying and translating answer or refuse with a PgSqlError (a SQLSTATE), never throw
  // anything else.
  const pieces = [
    'SELECT',
    'INSERT INTO',
    'UPDATE',
    'DELETE FROM',
    'CREATE TABLE',
    'CREATE INDEX',
    'DROP TABLE',
    'ALTER TABLE',
    'COMMENT ON',
    'SET',
    'SHOW',
    'public.',
    '"public".',
    't',
    'T',
    'x.',
    '(',
    ')',
    ',',
    ';',
    '$1',
    '$2',
    '$0',
    '=',
    '<',
    '>',
    '!',
    'FOR UPDATE',
    'FOR',
    'NO KEY',
    'OF',
    'SKIP LOCKED',
    'GENERATED ALWAYS AS IDENTITY',
    'GENERATED BY DEFAULT AS',
    'USING gin',
    'USING btree',
    'CONCURRENTLY',
    'CASCADE',
    'OWNER TO',
    'VALUES',
    'random()',
    'position(',
    'IN',
    'substring(',
    'FROM',
    'extract(',
    'date_trunc(',
    "'day'",
    'greatest(',
    'gen_random_uuid()',
    'ILIKE',
    'set_config(',
    'current_setting(',
    "'a'",
    'true',
    '::int',
    '::',
    '/*',
    '*/',
    '--',
    "'",
    '"',
    '$$',
    "E'\\'",
    '1',
    '1.5e',
    'WHERE',
    'AND',
    'AS',
    'JOIN',
    'ON',
    'pg_catalog.',
    'NAMES',
    'AUTHORIZATION',
    'DEFAULT',
    'now()',
    'CASE WHEN',
    'END',
    '\n',
    'ANY(',
    'ALL (',
    'SOME(',
    'ARRAY[',
    ']',
    '<>',
    'count(*)',
    'OVER (',
    '/',
    '%',
    '-',
    '0',
    'FILTER (',
    'COLLATE nocase',
    '::double precision',
    'RETURNING',
    'x.y',
    // EXPLAIN, row limits, DISTINCT ON, regular-expression matches, aggregates, date columns ± n.
    'EXPLAIN',
    'ANALYZE',
    '(FORMAT JSON)',
    '(ANALYZE, COSTS OFF)',
    'DISTINCT ON (',
    'ORDER BY',
    'DESC',
    'OFFSET',
    'ROWS',
    'FETCH FIRST',
    'NEXT',
    'ONLY',
    'WITH TIES',
    'LIMIT ALL',
    'LIMIT',
    '~',
    '~*',
    '!~',
    'array_agg(',
    'json_agg(',
    'jsonb_build_object(',
    'IS DISTINCT FROM',
    'EXISTS (',
    '+ 1',
    '- $1',
    '*',
    // jsonb operators, the catalog views, and the empty select list.
    '@>',
    '<@',
    '?',
    '?|',
    '?&',
    '#>',
    '#>>',
    "'{a,0}'",
    '->',
    '||',
    '#-',
    '\'{"a":1}\'',
    '::jsonb',
    "'tmp'",
    '^',
    'FROM pg_tables',
    'JOIN pg_indexes',
    'information_schema.table_constraints',
    'pg_catalog.pg_namespace',
    '(SELECT FROM',
  ];
  it('never throws anything but a PgSqlError (property, 2,000 runs)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 24 }), fc.boolean(), (chosen, spaced) => {
        const sql = chosen.join(spaced ? ' ' : '');
        try {
          for (const statement of splitStatements(sql)) {
            kind(statementText(statement));
            parameterColumns(withPostgresForms(statement));
            translate(statement, facts);
          }
        } catch (error) {
          if (!(error instanceof PgSqlError)) throw error;
        }
      }),
      { numRuns: Number(process.env.NL_SQL_FUZZ_RUNS ?? 2_000) },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (options) => {
        try {
          startupOptions(options);
        } catch (error) {
          if (!(error instanceof PgSqlError)) throw error;
        }
      }),
    );
  });
});
