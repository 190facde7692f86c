/**
 * Unmodified clients against the wire protocol: the real `psql` (connect, CREATE TABLE, INSERT,
 * SELECT, \q; \dt, \di and \d listing relations; \d NAME and \d+ NAME describing tables, an index
 * and a view exactly as PostgreSQL 15 prints them, and an unknown name; SCRAM-SHA-256 with
 * PGPASSWORD, a wrong password and an unknown user refused; TLS where it is configured, refused where
 * it is not), node-postgres `pg` (parameterized queries, text and binary results, a transaction, an
 * error then ROLLBACK, a cast literal refused with PostgreSQL's SQLSTATE; savepoints: a failed
 * statement rolled back to while the rest commits, RELEASE, nesting, their SQLSTATEs, and the idle
 * timeout freeing the writer a failed block holds; psql's ON_ERROR_ROLLBACK), and `sysbench` 1.0.20's
 * oltp_write_only / oltp_read_only / oltp_read_write in both --db-ps-mode=auto (extended protocol,
 * named prepared statements, binary results) and disable (simple Query with literals), prepare /
 * run / cleanup.
 * Each runs against the engine process over six storage nodes, and the client tests also against an
 * independent SQLite backend (support/endpoints.ts): a client nobody here wrote gets what it expects.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENDPOINT_TLS,
  type Endpoint,
  type EndpointKind,
  PG_PASSWORD,
  PG_USER,
  startEndpoint,
} from './support/endpoints.js';
import { startTestServer } from './support/server.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';

const run = promisify(execFile);

/** A CancelRequest on a connection of its own (the protocol's way, and psql's on Ctrl-C). */
function sendCancelRequest(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      const message = Buffer.alloc(16);
      message.writeInt32BE(16, 0);
      message.writeInt32BE(80_877_102, 4);
      message.writeInt32BE(processId, 8);
      message.writeInt32BE(secretKey, 12);
      socket.end(message);
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

async function psql(
  port: number,
  args: readonly string[],
  options: { user?: string; password?: string; input?: string; sslmode?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    PGCONNECT_TIMEOUT: '10',
    PGSSLMODE: options.sslmode ?? 'prefer',
    PGPASSWORD: options.password ?? PG_PASSWORD,
  };
  const child = execFile(
    '/usr/bin/psql',
    ['-h', '127.0.0.1', '-p', String(port), '-U', options.user ?? PG_USER, '-d', 'app', '-X', ...args],
    { env, timeout: 30_000 },
  );
  child.stdin?.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? -1)));
  return { code, stdout, stderr };
}

/** A schema valid in both PostgreSQL 15 and northlight, for psql's \\d (the test below). */
const DESCRIBE_SCHEMA = `
CREATE TABLE describe_accounts (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL UNIQUE,
  balance BIGINT NOT NULL DEFAULT 0,
  rate DOUBLE PRECISION,
  note VARCHAR(20) DEFAULT 'none',
  active BOOLEAN DEFAULT TRUE,
  code CHAR(3),
  amount NUMERIC(10,2),
  small SMALLINT DEFAULT -1,
  data BYTEA
);
CREATE INDEX describe_accounts_by_balance ON describe_accounts (balance DESC, rate);
CREATE UNIQUE INDEX describe_accounts_by_note ON describe_accounts (note) WHERE note IS NOT NULL;
CREATE INDEX describe_accounts_lower ON describe_accounts (lower(owner));
CREATE TABLE "MixedCase" (x REAL, "Y z" TEXT);
CREATE TABLE describe_keyed (k TEXT PRIMARY KEY, v INTEGER);
CREATE INDEX describe_keyed_by_v ON describe_keyed (v);
CREATE VIEW describe_rich AS SELECT id, owner FROM describe_accounts WHERE balance > 100;
`;

/**
 * What psql 15 prints for the \\d commands of the test below: PostgreSQL 15.18's own output for
 * DESCRIBE_SCHEMA, character for character (titles centred, trailing spaces, a blank line after each
 * relation), except where SQLite differs, each marked:
 * (1) a negative default is shown as written (`-1`), not as PostgreSQL's `'-1'::integer`;
 * (2) the access method is `btree` (SQLite's tables are b-trees, as `\\d+` lists say), not `heap`;
 * (3) a view's definition is its SELECT as written, not PostgreSQL's deparsed, qualified one.
 */
const DESCRIBED = `${[
  '                          Table "public.describe_accounts"',
  ' Column  |         Type          | Collation | Nullable |          Default          ',
  '---------+-----------------------+-----------+----------+---------------------------',
  ' id      | integer               |           | not null | ',
  ' owner   | text                  |           | not null | ',
  ' balance | bigint                |           | not null | 0',
  ' rate    | double precision      |           |          | ',
  " note    | character varying(20) |           |          | 'none'::character varying",
  ' active  | boolean               |           |          | true',
  ' code    | character(3)          |           |          | ',
  ' amount  | numeric(10,2)         |           |          | ',
  ' small   | smallint              |           |          | -1', // (1)
  ' data    | bytea                 |           |          | ',
  'Indexes:',
  '    "describe_accounts_pkey" PRIMARY KEY, btree (id)',
  '    "describe_accounts_by_balance" btree (balance DESC, rate)',
  '    "describe_accounts_by_note" UNIQUE, btree (note) WHERE note IS NOT NULL',
  '    "describe_accounts_lower" btree (lower(owner))',
  '    "describe_accounts_owner_key" UNIQUE CONSTRAINT, btree (owner)',
  '',
  '                                                     Table "public.describe_accounts"',
  ' Column  |         Type          | Collation | Nullable |          Default          | Storage  | Compression | Stats target | Description ',
  '---------+-----------------------+-----------+----------+---------------------------+----------+-------------+--------------+-------------',
  ' id      | integer               |           | not null |                           | plain    |             |              | ',
  ' owner   | text                  |           | not null |                           | extended |             |              | ',
  ' balance | bigint                |           | not null | 0                         | plain    |             |              | ',
  ' rate    | double precision      |           |          |                           | plain    |             |              | ',
  " note    | character varying(20) |           |          | 'none'::character varying | extended |             |              | ",
  ' active  | boolean               |           |          | true                      | plain    |             |              | ',
  ' code    | character(3)          |           |          |                           | extended |             |              | ',
  ' amount  | numeric(10,2)         |           |          |                           | main     |             |              | ',
  ' small   | smallint              |           |          | -1                        | plain    |             |              | ', // (1)
  ' data    | bytea                 |           |          |                           | extended |             |              | ',
  'Indexes:',
  '    "describe_accounts_pkey" PRIMARY KEY, btree (id)',
  '    "describe_accounts_by_balance" btree (balance DESC, rate)',
  '    "describe_accounts_by_note" UNIQUE, btree (note) WHERE note IS NOT NULL',
  '    "describe_accounts_lower" btree (lower(owner))',
  '    "describe_accounts_owner_key" UNIQUE CONSTRAINT, btree (owner)',
  'Access method: btree', // (2)
  '',
  '      Index "public.describe_accounts_by_note"',
  ' Column |         Type          | Key? | Definition ',
  '--------+-----------------------+------+------------',
  ' note   | character varying(20) | yes  | note',
  'unique, btree, for table "public.describe_accounts", predicate (note IS NOT NULL)',
  '',
  '            Table "public.MixedCase"',
  ' Column | Type | Collation | Nullable | Default ',
  '--------+------+-----------+----------+---------',
  ' x      | real |           |          | ',
  ' Y z    | text |           |          | ',
  '',
  '           Table "public.describe_keyed"',
  ' Column |  Type   | Collation | Nullable | Default ',
  '--------+---------+-----------+----------+---------',
  ' k      | text    |           | not null | ',
  ' v      | integer |           |          | ',
  'Indexes:',
  '    "describe_keyed_pkey" PRIMARY KEY, btree (k)',
  '    "describe_keyed_by_v" btree (v)',
  '',
  '  Index "public.describe_keyed_by_v"',
  ' Column |  Type   | Key? | Definition ',
  '--------+---------+------+------------',
  ' v      | integer | yes  | v',
  'btree, for table "public.describe_keyed"',
  '',
  '                        View "public.describe_rich"',
  ' Column |  Type   | Collation | Nullable | Default | Storage  | Description ',
  '--------+---------+-----------+----------+---------+----------+-------------',
  ' id     | integer |           |          |         | plain    | ',
  ' owner  | text    |           |          |         | extended | ',
  'View definition:',
  ' SELECT id, owner FROM describe_accounts WHERE balance > 100;', // (3)
  '',
].join('\n')}\n`;

/** One endpoint per kind for the whole file; a failed start is not retried (it would double the load). */
const endpoints = new Map<EndpointKind, Promise<Endpoint>>();

function endpoint(kind: EndpointKind): Promise<Endpoint> {
  let found = endpoints.get(kind);
  if (found === undefined) {
    found = startEndpoint(kind);
    endpoints.set(kind, found);
  }
  return found;
}

afterAll(async () => {
  const started = await Promise.allSettled(endpoints.values());
  await Promise.all(
    started.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
  );
}, 60_000);

describe.each(['engine', 'sqlite'] as const)('over the %s endpoint', (kind) => {
  let port: number;

  beforeAll(async () => {
    port = (await endpoint(kind)).port;
  }, 120_000);

  describe('psql', () => {
    it('connect with SCRAM-SHA-256, CREATE TABLE, INSERT, SELECT, \\q', async () => {
      const script = [
        'CREATE TABLE psql_items (id SERIAL PRIMARY KEY, name TEXT NOT NULL, price REAL);',
        "INSERT INTO psql_items (name, price) VALUES ('apple', 1.5), ('pear', 2);",
        'SELECT id, name, price FROM psql_items ORDER BY id;',
        'SHOW server_version;',
        '\\q',
        'SELECT 1 AS after_quit;',
        '',
      ].join('\n');
      const result = await psql(port, ['-v', 'ON_ERROR_STOP=1'], { input: script });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('CREATE TABLE');
      expect(result.stdout).toContain('INSERT 0 2');
      expect(result.stdout).toMatch(/1 \| apple\s+\|\s+1\.5/);
      expect(result.stdout).toMatch(/2 \| pear\s+\|\s+2/);
      expect(result.stdout).toContain('(2 rows)');
      expect(result.stdout).toMatch(/server_version\s*\n-+\n\s*15\.0 /);
      expect(result.stdout).not.toContain('after_quit');
    });

    it('shows a boolean column as t/f and other declared types as PostgreSQL does', async () => {
      const script = [
        'CREATE TABLE psql_typed (id integer PRIMARY KEY, ok boolean, score real, doc jsonb, at timestamp);',
        `INSERT INTO psql_typed VALUES (1, 1, 0.5, '{"k": 1}', '2024-02-29 12:34:56'), (2, 0, 1000000, NULL, NULL);`,
        'SELECT * FROM psql_typed ORDER BY id;',
      ].join('\n');
      const result = await psql(port, ['-v', 'ON_ERROR_STOP=1', '-tA'], { input: script });
      expect(result.stderr).toBe('');
      // 1000000 as float4 is PostgreSQL's 1e+06.
      expect(result.stdout.trim().split('\n').slice(-2)).toEqual([
        '1|t|0.5|{"k": 1}|2024-02-29 12:34:56',
        '2|f|1e+06||',
      ]);
    });

    it('ON_ERROR_ROLLBACK on: a statement that fails in a block is rolled back alone, the rest commits', async () => {
      // psql wraps each statement of a block in SAVEPOINT pg_psql_temporary_savepoint, RELEASEs it
      // after a success and rolls back to it after a failure.
      const script = [
        'CREATE TABLE psql_rollback (id INTEGER PRIMARY KEY, note TEXT);',
        'BEGIN;',
        "INSERT INTO psql_rollback VALUES (1, 'kept');",
        "INSERT INTO psql_rollback VALUES (1, 'duplicate');",
        'SELECT * FROM psql_nowhere;',
        "INSERT INTO psql_rollback VALUES (2, 'kept too');",
        'COMMIT;',
        '',
      ].join('\n');
      const result = await psql(port, ['-v', 'ON_ERROR_ROLLBACK=on', '-v', 'VERBOSITY=verbose'], {
        input: script,
      });
      expect(result.stderr).toContain('ERROR:  23505');
      expect(result.stderr).toContain('ERROR:  42P01');
      expect(result.stderr).not.toContain('25P02');
      expect(result.stdout).toContain('COMMIT');
      const read = await psql(port, ['-tA', '-c', 'SELECT id, note FROM psql_rollback ORDER BY id']);
      expect(read.stdout).toBe('1|kept\n2|kept too\n');
    });

    it('an error carries its SQLSTATE and the session goes on', async () => {
      const result = await psql(port, [
        '-v',
        'VERBOSITY=verbose',
        '-c',
        'SELECT * FROM no_such_table',
        '-c',
        'SELECT 41 + 1 AS answer',
      ]);
      expect(result.stderr).toContain('ERROR:  42P01');
      expect(result.stdout).toMatch(/answer\s*\n-+\n\s*42/);
      // A syntax error's place: psql prints the line and a caret under the token SQLite stopped at.
      const typo = await psql(port, ['-c', 'SELECT 1;\nSELEC 2']);
      expect(typo.stderr).toMatch(/ERROR: .*syntax error\nLINE 2: SELEC 2\n {8}\^/);
      const alias = await psql(port, ['-c', 'SELECT id\nFORM t']); // FORM is taken as an alias of id
      expect(alias.stderr).toMatch(/ERROR: .*syntax error\nLINE 2: FORM t\n {13}\^/);
    });

    it('\\dt and \\di list relations', async () => {
      const setup = await psql(port, [
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        'CREATE TABLE IF NOT EXISTS catalog_demo (id INTEGER PRIMARY KEY, tag TEXT)',
        '-c',
        'CREATE INDEX IF NOT EXISTS catalog_demo_by_tag ON catalog_demo (tag)',
      ]);
      expect(setup.stderr).toBe('');
      const listed = await psql(port, ['-c', '\\dt catalog*', '-c', '\\di catalog*', '-c', '\\d']);
      expect(listed.stderr).toBe('');
      expect(listed.stdout).toContain('List of relations');
      expect(listed.stdout).toMatch(/^ public \| catalog_demo +\| table \| postgres$/m);
      expect(listed.stdout).toMatch(/^ public \| catalog_demo_by_tag \| index \| postgres \| catalog_demo$/m);
    });

    it('\\l, \\dn and \\du list the one database, schema and role, with + and patterns', async () => {
      const listed = await psql(port, [
        '-c',
        '\\l',
        '-c',
        '\\l+ ap*',
        '-c',
        '\\l nosuch*',
        '-c',
        '\\dn',
        '-c',
        '\\dn+ pub*',
        '-c',
        '\\du',
      ]);
      expect(listed.stderr).toBe('');
      expect(listed.code).toBe(0);
      const out = listed.stdout;
      expect(out).toContain('List of databases');
      expect(out).toMatch(/^ app +\| postgres \| UTF8 +\| C +\| C +\| +\| libc +\| +$/m);
      // \l+: the volume's size, as pg_size_pretty writes it.
      expect(out).toMatch(
        /^ app +\| postgres \| UTF8 +\| C +\| C +\| +\| libc +\| +\| \d+ (bytes|kB|MB) +\| pg_default +\| +$/m,
      );
      expect(out).toMatch(/^-+\+-+.*\n\(0 rows\)$/m);
      expect(out).toContain('List of schemas');
      expect(out).toMatch(/^ public \| postgres$/m);
      expect(out).toMatch(/^ public \| postgres \| +\| +$/m);
      expect(out).toContain('List of roles');
      expect(out).toMatch(
        /^ postgres +\| Superuser, Create role, Create DB, Replication, Bypass RLS \| \{\}$/m,
      );
      // A pattern that is no GLOB is refused as the relation lists refuse it.
      const refused = await psql(port, ['-c', '\\l (a|b)']);
      expect(refused.stderr).toMatch(/this psql pattern is not supported/);
    });

    it('\\d NAME, \\d+ NAME, \\d INDEX, \\d "Quoted", \\d schema.pattern* print what PostgreSQL 15 prints', async () => {
      const setup = await psql(port, ['-v', 'ON_ERROR_STOP=1'], { input: DESCRIBE_SCHEMA });
      expect(setup.stderr).toBe('');
      const described = await psql(port, [
        '-c',
        '\\d describe_accounts',
        '-c',
        '\\d+ describe_accounts',
        '-c',
        '\\d describe_accounts_by_note',
        '-c',
        '\\d "MixedCase"',
        '-c',
        '\\d public.describe_k*',
        '-c',
        '\\d+ describe_rich',
      ]);
      expect(described.stderr).toBe('');
      expect(described.code).toBe(0);
      expect(described.stdout).toBe(DESCRIBED);
      // An unknown name: psql's own message, on stderr, and exit status 1, as against PostgreSQL.
      const unknown = await psql(port, ['-c', '\\d nosuch']);
      expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'Did not find any relation named "nosuch".\n' });
    });

    it('a wrong password and an unknown user are refused the same way', async () => {
      const wrong = await psql(port, ['-c', 'SELECT 1'], { password: 'wrong' });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain(`password authentication failed for user "${PG_USER}"`);
      const unknown = await psql(port, ['-c', 'SELECT 1'], { user: 'mallory' });
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain('password authentication failed for user "mallory"');
    });

    if (ENDPOINT_TLS[kind]) {
      it('TLS: SSLRequest is answered S and the session runs encrypted', async () => {
        const result = await psql(port, ['-tAc', 'SELECT 7 * 6', '-c', '\\conninfo'], { sslmode: 'require' });
        expect(result.stderr).toBe('');
        expect(result.stdout).toMatch(/^42\n/);
        expect(result.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
      });
    } else {
      it('no TLS configured: SSLRequest is answered N, so sslmode=require is refused', async () => {
        const result = await psql(port, ['-c', 'SELECT 1'], { sslmode: 'require' });
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain('server does not support SSL, but SSL was required');
        const plain = await psql(port, ['-tAc', 'SELECT 6 * 7'], { sslmode: 'prefer' });
        expect(plain.stdout.trim()).toBe('42');
      });
    }
  });

  describe('node-postgres', () => {
    function client(binary: boolean | { options: string } = false): pg.Client {
      // `binary` is a node-postgres option its type definitions leave out.
      const config = {
        host: '127.0.0.1',
        port,
        user: PG_USER,
        password: PG_PASSWORD,
        database: 'app',
        ...(typeof binary === 'boolean' ? { binary } : binary),
      };
      return new pg.Client(config);
    }

    it('division by zero is 22012 as in PostgreSQL, not a NULL; other divisions keep their types', async () => {
      const session = client();
      await session.connect();
      try {
        await session.query(
          'CREATE TABLE pg_ratios (id INTEGER PRIMARY KEY, num INTEGER, den INTEGER, f REAL)',
        );
        await session.query('INSERT INTO pg_ratios VALUES (1, 7, 2, 0.5), (2, 5, 0, 0.0)');
        for (const sql of [
          'SELECT 1 / 0',
          'SELECT 5 % 0',
          'SELECT 1.5 / 0.0',
          'SELECT num / den FROM pg_ratios',
          'SELECT sum(num) / count(*) FILTER (WHERE id > 9) FROM pg_ratios',
          "SELECT 10 / '0'",
        ]) {
          await expect(session.query(sql), sql).rejects.toMatchObject({
            code: '22012',
            message: 'division by zero',
          });
        }
        await expect(session.query('SELECT 10 / $1::int', [0])).rejects.toMatchObject({ code: '22012' });
        // An UPDATE that divides by zero on one row changes no row.
        await expect(session.query('UPDATE pg_ratios SET num = num / den')).rejects.toMatchObject({
          code: '22012',
        });
        const nums = async (sql: string) => (await session.query(sql)).rows.map((row) => Number(row.num));
        expect(await nums('SELECT num FROM pg_ratios ORDER BY id')).toEqual([7, 5]);
        // What is not zero divides as before: integers truncate (an integer expression is int8 here,
        // a string in node-postgres), floats do not; NULL over zero is NULL, as PostgreSQL's strict
        // division gives.
        const row = (
          await session.query(
            'SELECT num / den, num % den AS m, num / f AS q, NULL / 0 AS n, (num / den) FROM pg_ratios WHERE id = 1',
          )
        ).rows[0];
        expect(row).toEqual({ '?column?': '3', m: '1', q: 14, n: null });
        expect((await session.query('SELECT num * NULL / den AS n FROM pg_ratios ORDER BY id')).rows).toEqual(
          [{ n: null }, { n: null }],
        );
        const named = await session.query('SELECT num / den FROM pg_ratios WHERE id = 1');
        expect(named.fields.map((field) => field.name)).toEqual(['?column?']);
        // A checked division leaves the result columns their types (the types probe reads through it).
        const types = async (sql: string) =>
          (await session.query(sql)).fields.map((field) => field.dataTypeID);
        expect(await types('SELECT id, f FROM pg_ratios WHERE den <> 0 AND num / den > 1')).toEqual(
          await types('SELECT id, f FROM pg_ratios WHERE den <> 0 AND num > 1'),
        );
        expect(await nums('SELECT num FROM pg_ratios WHERE den <> 0 AND num / den = 3')).toEqual([7]);
      } finally {
        await session.end();
      }
    });

    it('parameterized queries, text and binary results', async () => {
      const text = client();
      await text.connect();
      try {
        const version = await text.query('SELECT version()');
        expect(version.rows[0].version).toMatch(/^PostgreSQL 15\.0 /);
        await text.query(
          'CREATE TABLE pg_things (id BIGSERIAL PRIMARY KEY, label TEXT, weight DOUBLE PRECISION, data BYTEA)',
        );
        const insert = await text.query(
          'INSERT INTO pg_things (label, weight, data) VALUES ($1, $2, $3), ($4, $5, $6)',
          ['one', 1.25, Buffer.from([0, 1, 255]), "it's", -2.5, null],
        );
        expect(insert.command).toBe('INSERT');
        expect(insert.rowCount).toBe(2);
        const selected = await text.query(
          'SELECT id, label, weight, data FROM pg_things WHERE id >= $1 ORDER BY id',
          [1],
        );
        // BIGSERIAL is stored as INTEGER (the rowid), so id is int4 while it fits (docs/clients.md).
        expect(selected.rows).toEqual([
          { id: 1, label: 'one', weight: 1.25, data: Buffer.from([0, 1, 255]) },
          { id: 2, label: "it's", weight: -2.5, data: null },
        ]);
        expect(selected.fields.map((field) => field.dataTypeID)).toEqual([23, 25, 701, 17]);
        const named = await text.query({
          name: 'by-label',
          text: 'SELECT id FROM pg_things WHERE label = $1',
          values: ['one'],
        });
        const again = await text.query({
          name: 'by-label',
          text: 'SELECT id FROM pg_things WHERE label = $1',
          values: ["it's"],
        });
        expect([named.rows, again.rows]).toEqual([[{ id: 1 }], [{ id: 2 }]]);
      } finally {
        await text.end();
      }
      // node-postgres 8 asks for binary results with `binary: true` but its parser still reads each
      // DataRow value as UTF-8 text (pg-protocol: "Binary mode not supported yet"), so only values
      // whose binary bytes are valid UTF-8 survive on its side: a small int8 and text. Binary float8
      // and bytea are checked byte for byte in connection.test.ts.
      const binary = client(true);
      await binary.connect();
      try {
        const result = await binary.query('SELECT id, label FROM pg_things WHERE label = $1', ['one']);
        expect(result.fields.map((field) => [field.dataTypeID, field.format])).toEqual([
          [23, 'binary'],
          [25, 'binary'],
        ]);
        expect(result.rows).toEqual([{ id: 1, label: 'one' }]);
      } finally {
        await binary.end();
      }
    });

    it('a cast literal PostgreSQL would refuse gets its SQLSTATE, over the simple and the extended protocol', async () => {
      const connection = client();
      await connection.connect();
      try {
        // Simple Query (no parameters) and Parse/Bind/Execute (with one): the same check.
        const invalid = await connection.query("SELECT 'abc'::int").catch((error: unknown) => error);
        expect(invalid).toMatchObject({
          code: '22P02',
          message: 'invalid input syntax for type integer: "abc"',
        });
        const fraction = await connection
          .query("SELECT '3.7'::int, $1::text", ['x'])
          .catch((error: unknown) => error);
        expect(fraction).toMatchObject({
          code: '22P02',
          message: 'invalid input syntax for type integer: "3.7"',
        });
        const range = await connection.query("SELECT '2147483648'::int4").catch((error: unknown) => error);
        expect(range).toMatchObject({
          code: '22003',
          message: 'value "2147483648" is out of range for type integer',
        });
        const float = await connection.query("SELECT '1e400'::float8").catch((error: unknown) => error);
        expect(float).toMatchObject({ code: '22003' });
        // The session goes on, and what PostgreSQL accepts is accepted.
        const accepted = await connection.query("SELECT ' 42 '::int AS answer, '2.5'::float8 AS half");
        expect(accepted.rows).toEqual([{ answer: '42', half: 2.5 }]);
      } finally {
        await connection.end();
      }
    });

    it('a transaction commits; an error fails it until ROLLBACK', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query('CREATE TABLE pg_accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
        await connection.query('BEGIN');
        await connection.query('INSERT INTO pg_accounts VALUES ($1, $2)', [1, 100]);
        await connection.query('INSERT INTO pg_accounts VALUES ($1, $2)', [2, 50]);
        await connection.query('COMMIT');
        await connection.query('BEGIN');
        await connection.query('UPDATE pg_accounts SET balance = balance - 10 WHERE id = $1', [1]);
        const duplicate = await connection
          .query('INSERT INTO pg_accounts VALUES (2, 0)')
          .catch((error: unknown) => error);
        expect(duplicate).toMatchObject({ code: '23505' });
        const ignored = await connection.query('SELECT 1').catch((error: unknown) => error);
        expect(ignored).toMatchObject({
          code: '25P02',
          message: 'current transaction is aborted, commands ignored until end of transaction block',
        });
        await connection.query('ROLLBACK');
        const balances = await connection.query('SELECT id, balance FROM pg_accounts ORDER BY id');
        expect(balances.rows).toEqual([
          { id: 1, balance: 100 },
          { id: 2, balance: 50 },
        ]);
        const missing = await connection.query('SELECT * FROM pg_nothing').catch((error: unknown) => error);
        expect(missing).toMatchObject({ code: '42P01' });
      } finally {
        await connection.end();
      }
    });

    it('result columns get the PostgreSQL types of their declared types, text and binary; others their values’', async () => {
      const text = client();
      const binary = client(true);
      await text.connect();
      await binary.connect();
      try {
        await text.query(
          'CREATE TABLE pg_typed (id integer PRIMARY KEY, ok boolean, n smallint, big bigint, doc jsonb, note varchar(10), r double precision)',
        );
        await text.query(
          `INSERT INTO pg_typed VALUES (1, 1, 3, 9007199254740993, '{"a": [1, 2]}', 'x', 0.5), (2, 0, -4, 5, '[]', NULL, NULL)`,
        );
        // What PostgreSQL's own types give node-postgres: int4/int2 numbers, bool, int8 as a string
        // (it may not fit a JS number), jsonb parsed.
        const expected = [
          { id: 1, ok: true, n: 3, big: '9007199254740993', doc: { a: [1, 2] }, note: 'x', r: 0.5 },
          { id: 2, ok: false, n: -4, big: '5', doc: [], note: null, r: null },
        ];
        for (const connection of [text, binary]) {
          const all = await connection.query('SELECT * FROM pg_typed ORDER BY id');
          expect(all.fields.map((field) => field.dataTypeID)).toEqual([23, 16, 21, 20, 3802, 1043, 701]);
          expect(all.rows).toEqual(expected);
          // Through a parameter, a join, aliases and a subquery.
          const joined = await connection.query(
            'SELECT a.id AS ident, b.ok AS flag, b.big FROM pg_typed a JOIN (SELECT id, ok, big FROM pg_typed) b ON b.id = a.id WHERE a.id = $1',
            [1],
          );
          expect(joined.rows).toEqual([{ ident: 1, flag: true, big: '9007199254740993' }]);
        }
        // SQLite lets a column hold values its type cannot: that column falls back to its values' type.
        await text.query('INSERT INTO pg_typed (id, ok, n) VALUES (3, 7, 2147483648)');
        const loose = await text.query('SELECT id, ok, n FROM pg_typed ORDER BY id');
        expect(loose.fields.map((field) => field.dataTypeID)).toEqual([23, 20, 20]);
        expect(loose.rows).toEqual([
          { id: 1, ok: '1', n: '3' },
          { id: 2, ok: '0', n: '-4' },
          { id: 3, ok: '7', n: '2147483648' },
        ]);
        // Expressions have no declared type: their values' types, as before.
        const counted = await text.query('SELECT count(*) AS c, max(id) + 1 AS next FROM pg_typed');
        expect(counted.rows).toEqual([{ c: '3', next: '4' }]);
      } finally {
        await text.end();
        await binary.end();
      }
    });

    it('DEFAULT now(): a timestamptz column comes back as a Date, sent as PostgreSQL sends it with TimeZone UTC', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE pg_clock (id serial PRIMARY KEY, name text, at timestamptz NOT NULL DEFAULT now(), local timestamp DEFAULT localtimestamp)',
        );
        const before = Math.floor(Date.now() / 1_000) * 1_000;
        await connection.query('INSERT INTO pg_clock (name) VALUES ($1)', ['a']);
        const after = Date.now();
        const { rows, fields } = await connection.query(
          'SELECT at, local, now() AS t, at::text AS raw FROM pg_clock WHERE at <= now()',
        );
        // now() is a timestamptz as PostgreSQL types it (named as a whole item, or by its alias).
        expect(fields.map((field) => field.dataTypeID)).toEqual([1184, 1114, 1184, 25]);
        const row = rows[0] as { at: Date; local: Date; t: Date; raw: string };
        expect(row.at).toBeInstanceOf(Date);
        expect(row.at.getTime()).toBeGreaterThanOrEqual(before);
        expect(row.at.getTime()).toBeLessThanOrEqual(after);
        // The stored text is SQLite's UTC CURRENT_TIMESTAMP; PostgreSQL's output adds the offset.
        expect(row.raw).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
        expect(row.t).toBeInstanceOf(Date);
        expect(row.t.getTime()).toBeGreaterThanOrEqual(row.at.getTime());
        const health = await connection.query('SELECT NOW(), localtimestamp, now()::text AS txt');
        expect(health.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
          ['now', 1184],
          ['localtimestamp', 1114],
          ['txt', 25],
        ]);
        expect(health.rows[0]?.now).toBeInstanceOf(Date);
      } finally {
        await connection.end();
      }
    });

    it('an integrity violation names its table (and a NULL one its column), as node-postgres shows PostgreSQL’s', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE IF NOT EXISTS pg_violations (id int PRIMARY KEY, email text UNIQUE)',
        );
        await connection.query("INSERT INTO pg_violations VALUES (1, 'a@b') ON CONFLICT DO NOTHING");
        const duplicate = await connection
          .query("INSERT INTO pg_violations VALUES (2, 'a@b')")
          .catch((error: unknown) => error);
        expect(duplicate).toMatchObject({ code: '23505' });
        // The fields come from the engine's SQLite messages; the better-sqlite3 test backend writes its own.
        if (kind === 'engine') expect(duplicate).toMatchObject({ schema: 'public', table: 'pg_violations' });
        const missing = await connection
          .query("INSERT INTO pg_violations (email) VALUES ('c@d')")
          .catch((error: unknown) => error);
        expect(missing).toMatchObject({ code: '23502' });
        if (kind === 'engine')
          expect(missing).toMatchObject({ schema: 'public', table: 'pg_violations', column: 'id' });
      } finally {
        await connection.end();
      }
    });

    it('an upsert from a staging table (INSERT … SELECT … FROM s ON CONFLICT), with parameters', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE IF NOT EXISTS upsert_target (k int PRIMARY KEY, v text NOT NULL)',
        );
        await connection.query('CREATE TABLE IF NOT EXISTS upsert_staging (k int, v text)');
        await connection.query("INSERT INTO upsert_target VALUES (1, 'old'), (2, 'old')");
        await connection.query("INSERT INTO upsert_staging VALUES (2, 'new'), (3, 'new')");
        const merged = await connection.query(
          'INSERT INTO upsert_target (k, v) SELECT k, v || $1 FROM upsert_staging ON CONFLICT (k) DO UPDATE SET v = excluded.v',
          ['!'],
        );
        expect(merged.command).toBe('INSERT');
        expect(merged.rowCount).toBe(2);
        const kept = await connection.query(
          'INSERT INTO upsert_target SELECT s.k, s.v FROM upsert_staging s JOIN upsert_target t ON t.k = s.k ON CONFLICT DO NOTHING',
        );
        expect(kept.rowCount).toBe(0);
        const rows = await connection.query('SELECT k, v FROM upsert_target ORDER BY k');
        expect(rows.rows).toEqual([
          { k: 1, v: 'old' },
          { k: 2, v: 'new!' },
          { k: 3, v: 'new!' },
        ]);
      } finally {
        await connection.end();
      }
    });

    it("information_schema: Knex's hasTable and hasColumn, with parameters, as a migration tool asks", async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE IF NOT EXISTS knex_like (id serial PRIMARY KEY, name varchar(255), batch integer)',
        );
        const hasTable = (name: string) =>
          connection.query(
            'select * from information_schema.tables where table_name = $1 and table_schema = current_schema()',
            [name],
          );
        expect((await hasTable('knex_like')).rows).toHaveLength(1);
        expect((await hasTable('knex_missing')).rows).toHaveLength(0);
        const column = await connection.query(
          'select * from information_schema.columns where table_name = $1 and table_schema = current_schema() and column_name = $2',
          ['knex_like', 'name'],
        );
        expect(column.rows).toHaveLength(1);
        expect(column.rows[0]).toMatchObject({
          table_catalog: 'app',
          table_schema: 'public',
          column_name: 'name',
          is_nullable: 'YES',
          data_type: 'character varying',
          udt_name: 'varchar',
        });
        if (kind === 'engine') {
          // Typed int4 as PostgreSQL's cardinal_number: numbers in node-postgres.
          expect(column.rows[0]).toMatchObject({ ordinal_position: 2, character_maximum_length: 255 });
        }
      } finally {
        await connection.end();
      }
    });

    it('what ORMs and pg_dump write: public., unquoted names folded, identity, FOR UPDATE, CASCADE, COMMENT, OWNER', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE public."OrmUsers" (Id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, UserName varchar(40) NOT NULL)',
        );
        await connection.query(
          'CREATE TABLE Public.OrmOrders (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1) PRIMARY KEY, Qty int)',
        );
        await connection.query("COMMENT ON TABLE public.ormorders IS 'orders /* of users */'");
        expect((await connection.query('ALTER TABLE public.ormorders OWNER TO postgres')).command).toBe(
          'ALTER',
        );
        await connection.query(
          'CREATE INDEX CONCURRENTLY ormorders_qty ON public.ormorders USING btree (Qty)',
        );
        const inserted = await connection.query(
          'INSERT INTO public."OrmUsers" (UserName) VALUES ($1), ($2) RETURNING Id AS newId, UserName',
          ['ann', 'bob'],
        );
        // PostgreSQL's names: unquoted ones folded to lower case, in the result as in the schema.
        expect(inserted.fields.map((field) => field.name)).toEqual(['newid', 'username']);
        expect(inserted.rows.map((row) => Number(row.newid))).toEqual([1, 2]);
        // RETURNING has its table's declared types (engine: probed as SELECT … FROM the table), so a
        // serial key is an int4, a number in node-postgres, not an int8 string.
        if (kind === 'engine') expect(inserted.fields.map((field) => field.dataTypeID)).toEqual([23, 1043]);
        if (kind === 'engine') expect(inserted.rows.map((row) => row.newid)).toEqual([1, 2]);
        await connection.query('INSERT INTO ormorders (qty) VALUES (5), (7)');
        const columns = await connection.query(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'ormorders' ORDER BY ordinal_position",
        );
        expect(columns.rows.map((row) => row.column_name)).toEqual(['id', 'qty']);
        await connection.query('BEGIN');
        const locked = await connection.query(
          'SELECT o.id, o.qty FROM public.ormorders o WHERE o.id = $1 FOR NO KEY UPDATE OF o SKIP LOCKED',
          [2],
        );
        expect(locked.rows.map((row) => Number(row.qty))).toEqual([7]);
        await connection.query('UPDATE public.ormorders SET qty = qty + 1 WHERE id = 2');
        await connection.query('COMMIT');
        const sampled = await connection.query(
          'SELECT count(*) AS n FROM generate_series(1, 400) WHERE random() < 0.5 /* nested /* comment */ here */',
        );
        // random() is a float8 in [0, 1): about half of 400 (SQLite's own integer gave 0 or 400 halves).
        expect(Number(sampled.rows[0]?.n)).toBeGreaterThan(120);
        expect(Number(sampled.rows[0]?.n)).toBeLessThan(280);
        // Functions SQLite spells otherwise.
        await connection.query(
          "CREATE TABLE orm_events (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, at timestamptz DEFAULT '2024-02-29 13:45:30')",
        );
        await connection.query("INSERT INTO orm_events (name) VALUES ('Alpha'), ('beta')");
        const functions = await connection.query(
          `SELECT id, position('ph' IN name) AS p, substring(name FROM 2 FOR 3) AS s, extract(year FROM at) AS y,
                  date_part('dow', at) AS dow, date_trunc('month', at) AS m, greatest(length(name), 5) AS g
             FROM orm_events WHERE name ILIKE $1`,
          ['ALPHA'],
        );
        expect(functions.rows).toHaveLength(1);
        // A call as a whole select-list item is named after its function: rows[0].count, as node-postgres
        // code written for PostgreSQL reads it.
        // A JavaScript array as a parameter: id = ANY($1), as node-postgres code writes it.
        const picked = await connection.query(
          'SELECT name FROM orm_events WHERE name = ANY($1) ORDER BY name',
          [['beta', 'gamma', 'it\'s "quoted"']],
        );
        expect(picked.rows).toEqual([{ name: 'beta' }]);
        const none = await connection.query('SELECT count(*) AS n FROM orm_events WHERE name <> ALL($1)', [
          ['Alpha', 'beta'],
        ]);
        expect(String(none.rows[0]?.n)).toBe('0');
        expect(
          await connection
            .query("SELECT 1 FROM orm_events WHERE name = ANY('{x')")
            .catch((error: unknown) => error),
        ).toMatchObject(
          // PostgreSQL's words; the SQLSTATE is the engine's mapping (the test backend has its own).
          kind === 'engine'
            ? { code: '22P02', message: expect.stringMatching(/^malformed array literal/) }
            : { message: expect.stringMatching(/malformed array literal/) },
        );
        // lower()/upper() over all of Unicode, as PostgreSQL's.
        expect((await connection.query("SELECT lower('ÄÖ Émile') AS l, upper('zoë') AS u")).rows).toEqual([
          { l: 'äö émile', u: 'ZOË' },
        ]);
        const counted = await connection.query('SELECT COUNT(*), max(name) FROM orm_events');
        expect(counted.fields.map((field) => field.name)).toEqual(['count', 'max']);
        expect(String(counted.rows[0]?.count)).toBe('2');
        const row = functions.rows[0] as Record<string, unknown>;
        expect([row.p, row.s, row.y, row.dow, row.g].map(String)).toEqual(['3', 'lph', '2024', '4', '5']);
        // The engine types a CAST(… AS INTEGER) int4 (a number here), as PostgreSQL types these; the
        // better-sqlite3 test backend has no declared type for it. greatest() is an expression: int8.
        if (kind === 'engine') expect(row).toMatchObject({ p: 3, y: 2024, dow: 4, g: '5' });
        expect(String(functions.rows[0]?.id)).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
        // date_trunc of a timestamptz is one on the engine, so node-postgres parses it into a Date, as
        // PostgreSQL's; the test backend has no declared types and sends the text.
        if (kind === 'engine') expect((row.m as Date).toISOString()).toBe('2024-02-01T00:00:00.000Z');
        else expect(String(row.m)).toMatch(/2024-02-01 00:00:00/);
        await connection.query('DROP TABLE IF EXISTS public.ormorders CASCADE');
        await connection.query('DROP TABLE "OrmUsers" RESTRICT');
        const left = await connection.query(
          "SELECT count(*) AS n FROM sqlite_schema WHERE name IN ('ormorders', 'OrmUsers')",
        );
        expect(Number(left.rows[0]?.n)).toBe(0);
        expect(
          await connection
            .query('CREATE INDEX x ON pg_typed USING gin (id)')
            .catch((error: unknown) => error),
        ).toMatchObject({ code: '0A000' });
        // Unqualified catalogs this has no view of, and other schemas: what is wrong, said as
        // PostgreSQL says it. (pg_type is a view: catalog-views.test.ts.)
        expect(
          await connection.query('SELECT oid FROM pg_proc').catch((error: unknown) => error),
        ).toMatchObject(kind === 'engine' ? { code: '0A000' } : { code: expect.any(String) });
        expect(
          await connection.query('SELECT * FROM sales.orders').catch((error: unknown) => error),
        ).toMatchObject(kind === 'engine' ? { code: '3F000' } : { code: expect.any(String) });
      } finally {
        await connection.end();
      }
    });

    it('a node-postgres Date is stored as the UTC instant it is, so it sorts and compares with now()', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query('CREATE TABLE pg_dates (id int PRIMARY KEY, at timestamptz NOT NULL)');
        await connection.query("INSERT INTO pg_dates VALUES (1, '2024-05-06 00:00:00')");
        // node-postgres sends a Date in the process's local offset (Node reads TZ again when it is set):
        // this one goes as 2024-05-05T22:00:00.250-04:00, the next as 2024-05-06T08:30:00.000+05:30.
        const date = new Date('2024-05-06T02:00:00.250Z');
        const zone = process.env.TZ;
        try {
          process.env.TZ = 'America/New_York';
          await connection.query('INSERT INTO pg_dates VALUES ($1, $2)', [2, date]);
          process.env.TZ = 'Asia/Kolkata';
          await connection.query('INSERT INTO pg_dates VALUES ($1, $2)', [
            3,
            new Date('2024-05-06T03:00:00Z'),
          ]);
        } finally {
          if (zone === undefined) delete process.env.TZ;
          else process.env.TZ = zone;
        }
        const { rows, fields } = await connection.query('SELECT id, at FROM pg_dates ORDER BY at');
        expect(fields[1]?.dataTypeID).toBe(1184);
        expect(rows.map((row) => row.id)).toEqual([1, 2, 3]);
        const [, second, third] = rows as { at: Date }[];
        expect(second?.at.getTime()).toBe(date.getTime());
        expect(third?.at.toISOString()).toBe('2024-05-06T03:00:00.000Z');
        const later = await connection.query('SELECT id FROM pg_dates WHERE at >= $1 ORDER BY id', [
          new Date('2024-05-06T01:00:00Z'),
        ]);
        expect(later.rows.map((row) => row.id)).toEqual([2, 3]);
      } finally {
        await connection.end();
      }
    });

    it('an untyped parameter is read as its column: booleans, integers (checked), floats, timestamptz', async () => {
      const connection = client();
      await connection.connect();
      try {
        await connection.query(
          'CREATE TABLE pg_params (id INTEGER PRIMARY KEY, active boolean NOT NULL, qty int, price float8, at timestamptz, note text)',
        );
        const insert =
          'INSERT INTO pg_params (id, active, qty, price, at, note) VALUES ($1, $2, $3, $4, $5, $6)';
        await connection.query(insert, [1, true, 7, 1.5, new Date('2024-05-06T02:00:00Z'), 'true']);
        await connection.query(insert, ['9007199254740993', false, null, '2', null, '12abc']);
        // node-postgres sends true as the text 'true': stored as 1, so a boolean test finds it.
        const active = await connection.query('SELECT id FROM pg_params WHERE active');
        expect(active.rows.map((row) => String(row.id))).toEqual(['1']);
        const typed = await connection.query(
          'SELECT active, qty, price, note FROM pg_params WHERE id = $1',
          [1],
        );
        expect(typed.rows).toEqual([{ active: true, qty: 7, price: 1.5, note: 'true' }]);
        // A 64-bit key in an INTEGER column, passed as a string, compared as a number.
        const big = await connection.query('SELECT note FROM pg_params WHERE id = $1', ['9007199254740993']);
        expect(big.rows).toEqual([{ note: '12abc' }]);
        // What is no integer is refused as PostgreSQL refuses it, and nothing is stored.
        for (const bad of ['12abc', '1.5']) {
          expect(
            await connection.query(insert, [3, true, bad, 0, null, null]).catch((error: unknown) => error),
          ).toMatchObject({ code: '22P02' });
        }
        expect(
          await connection
            .query('UPDATE pg_params SET active = $1 WHERE id = 1', ['maybe'])
            .catch((error: unknown) => error),
        ).toMatchObject({ code: '22P02' });
        expect((await connection.query('SELECT count(*) AS n FROM pg_params')).rows[0]?.n).toBe('2');
        // Over joined tables too (knex's join, TypeORM's relations): SQLite says whose column it is.
        await connection.query(
          'CREATE TABLE pg_param_notes (id INTEGER PRIMARY KEY, param_id int, body text)',
        );
        await connection.query(
          "INSERT INTO pg_param_notes (param_id, body) VALUES (1, 'one'), (9007199254740993, 'big')",
        );
        const joined = await connection.query(
          'select "pg_param_notes"."body" from "pg_param_notes" inner join "pg_params" on "pg_params"."id" = "pg_param_notes"."param_id" where "active" = $1',
          [true],
        );
        expect(joined.rows).toEqual([{ body: 'one' }]);
        const aliased = await connection.query(
          'SELECT n.body FROM pg_param_notes n LEFT JOIN pg_params p ON p.id = n.param_id AND p.active = $2 WHERE n.param_id = $1',
          ['9007199254740993', false],
        );
        expect(aliased.rows).toEqual([{ body: 'big' }]);
      } finally {
        await connection.end();
      }
    });

    it("connect-time options (libpq's options=-c …, PGOPTIONS) set the session's settings", async () => {
      const connection = client({ options: '-c lock_timeout=1234 --statement-timeout=2s' });
      await connection.connect();
      try {
        expect((await connection.query('SHOW lock_timeout')).rows[0]).toEqual({ lock_timeout: '1234' });
        expect((await connection.query('SHOW statement_timeout')).rows[0]).toEqual({
          statement_timeout: '2000',
        });
        // The same through set_config/current_setting, simple and extended (a named statement: Describe).
        expect((await connection.query("SELECT set_config('lock_timeout', '99', false)")).rows).toEqual([
          { set_config: '99' },
        ]);
        const named = { name: 'current-lock-timeout', text: "SELECT current_setting('lock_timeout') AS lt" };
        expect((await connection.query(named)).rows).toEqual([{ lt: '99' }]);
        expect((await connection.query("SELECT current_setting('transaction_read_only') ro")).rows).toEqual([
          { ro: 'off' },
        ]);
        expect((await connection.query(named)).rows).toEqual([{ lt: '99' }]);
        await connection.query("SET NAMES 'UTF8'");
        await connection.query('SET SESSION AUTHORIZATION DEFAULT');
      } finally {
        await connection.end();
      }
      const refused = client({ options: '-B 100' });
      expect(await refused.connect().catch((error: unknown) => error)).toMatchObject({ code: '08P01' });
    });

    it('savepoints: ROLLBACK TO resumes a failed block, RELEASE, nesting, and the rest commits', async () => {
      const connection = client();
      await connection.connect();
      const failure = (sql: string, values?: unknown[]) =>
        connection.query(sql, values).catch((error: unknown) => error);
      try {
        await connection.query('CREATE TABLE pg_savepoints (id INTEGER PRIMARY KEY, note TEXT)');
        await connection.query('BEGIN');
        await connection.query("INSERT INTO pg_savepoints VALUES (1, 'before')");
        expect((await connection.query('SAVEPOINT Outer_Point')).command).toBe('SAVEPOINT');
        await connection.query("INSERT INTO pg_savepoints VALUES ($1, 'after outer')", [2]);
        await connection.query('SAVEPOINT "Inner"');
        await connection.query("INSERT INTO pg_savepoints VALUES (3, 'after inner')");
        expect(await failure('INSERT INTO pg_savepoints VALUES ($1, $2)', [1, 'duplicate'])).toMatchObject({
          code: '23505',
        });
        expect(await failure('SELECT 1')).toMatchObject({ code: '25P02' });
        expect(await failure('RELEASE "Inner"')).toMatchObject({ code: '25P02' });
        expect(await failure('ROLLBACK TO inner')).toMatchObject({
          code: '3B001',
          message: 'savepoint "inner" does not exist',
        });
        // Still failed after the unknown name; the quoted name matches.
        expect((await connection.query('ROLLBACK TO SAVEPOINT "Inner"')).command).toBe('ROLLBACK');
        const inside = await connection.query('SELECT id FROM pg_savepoints ORDER BY id');
        expect(inside.rows).toEqual([{ id: 1 }, { id: 2 }]);
        await connection.query("INSERT INTO pg_savepoints VALUES (4, 'after rollback to')");
        expect((await connection.query('RELEASE SAVEPOINT outer_point')).command).toBe('RELEASE');
        expect(await failure('RELEASE "Inner"')).toMatchObject({ code: '3B001' }); // released with outer
        expect((await connection.query('ROLLBACK')).command).toBe('ROLLBACK'); // ends the failed block
        await connection.query('BEGIN');
        await connection.query("INSERT INTO pg_savepoints VALUES (1, 'before')");
        await connection.query('SAVEPOINT a');
        await connection.query("INSERT INTO pg_savepoints VALUES (2, 'undone')");
        await connection.query('SAVEPOINT a'); // a duplicate name: the newest wins
        await connection.query("INSERT INTO pg_savepoints VALUES (3, 'undone too')");
        await connection.query('ROLLBACK TO a');
        await connection.query('ROLLBACK TO a'); // it is kept
        await connection.query("INSERT INTO pg_savepoints VALUES (4, 'kept')");
        await connection.query('RELEASE a');
        await connection.query('ROLLBACK TO a'); // the older one
        await connection.query("INSERT INTO pg_savepoints VALUES (5, 'kept')");
        await connection.query('SAVEPOINT b');
        expect(await failure('SELECT * FROM pg_nowhere')).toMatchObject({ code: '42P01' });
        await connection.query('ROLLBACK TO b');
        expect((await connection.query('COMMIT')).command).toBe('COMMIT');
        expect(await failure('SAVEPOINT a')).toMatchObject({
          code: '25P01',
          message: 'SAVEPOINT can only be used in transaction blocks',
        });
        expect(await failure('RELEASE a')).toMatchObject({ code: '25P01' });
        expect(await failure('ROLLBACK TO a')).toMatchObject({
          code: '25P01',
          message: 'ROLLBACK TO SAVEPOINT can only be used in transaction blocks',
        });
      } finally {
        await connection.end();
      }
      const fresh = client();
      await fresh.connect();
      try {
        const committed = await fresh.query('SELECT id, note FROM pg_savepoints ORDER BY id');
        expect(committed.rows).toEqual([
          { id: 1, note: 'before' },
          { id: 5, note: 'kept' },
        ]);
      } finally {
        await fresh.end();
      }
    });

    it('a failed block holding a savepoint holds the writer until the idle timeout ends it', async () => {
      const holder = client();
      const other = client();
      await Promise.all([holder.connect(), other.connect()]);
      const ended = new Promise<unknown>((resolve) => holder.on('error', resolve));
      try {
        await holder.query('CREATE TABLE pg_held (id INTEGER PRIMARY KEY)');
        await holder.query("SET idle_in_transaction_session_timeout = '400ms'");
        await holder.query('BEGIN');
        await holder.query('SAVEPOINT s');
        await holder.query('INSERT INTO pg_held VALUES (1)');
        await holder.query('INSERT INTO pg_held VALUES (1)').catch(() => {});
        const started = Date.now();
        await other.query("SET lock_timeout = '20s'");
        await other.query('INSERT INTO pg_held VALUES (2)'); // waits for the writer
        expect(Date.now() - started).toBeGreaterThanOrEqual(200);
        expect(await ended).toMatchObject({ code: '25P03' });
        const committed = await other.query('SELECT id FROM pg_held ORDER BY id');
        expect(committed.rows).toEqual([{ id: 2 }]);
      } finally {
        await Promise.all([holder.end().catch(() => {}), other.end()]);
      }
    });

    it('a client that disconnects in a failed block holding a savepoint gives the writer back', async () => {
      const holder = client();
      const other = client();
      await Promise.all([holder.connect(), other.connect()]);
      try {
        await holder.query('CREATE TABLE pg_left (id INTEGER PRIMARY KEY)');
        await holder.query('BEGIN');
        await holder.query('INSERT INTO pg_left VALUES (1)');
        await holder.query('SAVEPOINT s');
        await holder.query('INSERT INTO pg_left VALUES (1)').catch(() => {});
        await holder.end();
        await other.query("SET lock_timeout = '10s'");
        await other.query('INSERT INTO pg_left VALUES (2)');
        expect((await other.query('SELECT id FROM pg_left ORDER BY id')).rows).toEqual([{ id: 2 }]);
      } finally {
        await other.end();
      }
    });

    // Engine only: it stops a running write by statement_timeout, which the better-sqlite3 backend cannot.
    if (kind === 'engine') {
      it('a write stopped by statement_timeout rolls back the whole transaction: ROLLBACK TO refuses to resume it', async () => {
        const connection = client();
        await connection.connect();
        const failure = (sql: string) => connection.query(sql).catch((error: unknown) => error);
        try {
          await connection.query('CREATE TABLE pg_stopped (id INTEGER PRIMARY KEY)');
          await connection.query('BEGIN');
          await connection.query('INSERT INTO pg_stopped VALUES (1)');
          await connection.query('SAVEPOINT s');
          await connection.query("SET statement_timeout = '200ms'");
          const endless =
            'WITH RECURSIVE c(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM c) INSERT INTO pg_stopped SELECT i FROM c';
          expect(await failure(endless)).toMatchObject({ code: '57014' });
          const resumed = await failure('ROLLBACK TO s');
          expect(resumed).toMatchObject({ code: '25P02' });
          expect((resumed as Error).message).toMatch(/whole transaction was already rolled back/);
          expect(await failure('SELECT 1')).toMatchObject({ code: '25P02' });
          expect((await connection.query('COMMIT')).command).toBe('ROLLBACK');
          expect((await connection.query('SELECT count(*) AS n FROM pg_stopped')).rows).toEqual([{ n: '0' }]);
        } finally {
          await connection.end();
        }
      });
    }

    it('casts: PostgreSQL results, and a JS boolean stored through $1::boolean (docs/clients.md)', async () => {
      const connection = client();
      await connection.connect();
      try {
        const casts = await connection.query(
          "SELECT '12'::int = 12 AS a, '2'::int > 10 AS b, 7::float / 2 AS c, 3.7::int AS d",
        );
        // A comparison is a boolean, as in PostgreSQL (select-item-types.ts): node-postgres gets true/false.
        expect(casts.rows).toEqual([{ a: true, b: false, c: 3.5, d: '4' }]);
        await connection.query('CREATE TABLE pg_flags (id INTEGER PRIMARY KEY, active BOOLEAN)');
        // node-postgres sends a JS boolean as the untyped text 'true'/'false': without the cast,
        // SQLite would store that text, and `WHERE active` would find nothing.
        await connection.query(
          'INSERT INTO pg_flags (id, active) VALUES ($1, $2::boolean), ($3, $4::boolean)',
          [1, true, 2, false],
        );
        const active = await connection.query('SELECT id FROM pg_flags WHERE active');
        expect(active.rows).toEqual([{ id: 1 }]);
        // count(*)::int is int4, a number, as PostgreSQL gives it (the usual way to get one from
        // node-postgres); ::bigint stays int8, a string; a value int4 cannot hold falls back to int8.
        const counted = await connection.query(
          'SELECT count(*)::int AS n, count(*)::bigint AS b, (max(id) * 4000000000)::int AS big, avg(id)::int AS r FROM pg_flags',
        );
        if (kind === 'engine') {
          expect(counted.fields.map((field) => field.dataTypeID)).toEqual([23, 20, 20, 23]);
          expect(counted.rows).toEqual([{ n: 2, b: '2', big: '8000000000', r: 2 }]);
        } else {
          // The better-sqlite3 test backend takes declared types from sqlite3_column_decltype, which
          // has none for a CAST: every column is typed by its values there.
          expect(counted.rows).toEqual([{ n: '2', b: '2', big: '8000000000', r: '2' }]);
        }
        const stored = await connection.query('SELECT typeof(active) AS type FROM pg_flags ORDER BY id');
        expect(stored.rows).toEqual([{ type: 'integer' }, { type: 'integer' }]);
        // A jsonb cast is checked and sent as jsonb, which node-postgres parses.
        const json = await connection.query(`SELECT '{"a": [1, 2]}'::jsonb AS doc`);
        expect(json.rows).toEqual([{ doc: { a: [1, 2] } }]);
        const refused = await connection.query("SELECT '{}'::text[]").catch((error: unknown) => error);
        expect(refused).toMatchObject({
          code: '0A000',
          message: 'cast to type text[] is not supported by northlight',
        });
      } finally {
        await connection.end();
      }
    });
  });
});

// libpq's multi-host connection strings pick the writer or a replica by what each server reports
// (in_hot_standby, default_transaction_read_only). Two in-process servers, a writer and a replica,
// over the test SQLite backend, listed replica first, so a wrong answer picks the wrong one.
// The SQLite test backend runs statements synchronously in this process: only the engine can stop one.
describe('a runaway query over the engine endpoint', () => {
  let port: number;
  beforeAll(async () => {
    port = (await endpoint('engine')).port;
  }, 120_000);
  const client = (): pg.Client =>
    new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database: 'app' });

  it('a runaway query is stopped by statement_timeout or a CancelRequest, and nobody else waits on it', async () => {
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    const [timed, cancelled, bystander] = [client(), client(), client()];
    await Promise.all([timed.connect(), cancelled.connect(), bystander.connect()]);
    try {
      // statement_timeout: stopped mid-statement (the kernel has one SQLite connection: before,
      // it ran forever and every other client of the engine waited behind it).
      await timed.query('SET statement_timeout = 300');
      const startedMs = Date.now();
      const timeout = await timed.query(endless).catch((error: unknown) => error);
      expect(timeout).toMatchObject({
        code: '57014',
        message: 'canceling statement due to statement timeout',
      });
      expect(Date.now() - startedMs).toBeLessThan(10_000);
      expect((await timed.query('SELECT 41 + 1 AS x')).rows).toEqual([{ x: '42' }]);

      // A CancelRequest (what psql sends on Ctrl-C) on a new connection, with the key the server gave.
      const running = cancelled.query(endless).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const waiting = bystander.query('SELECT 7 AS y');
      const keys = cancelled as unknown as { processID: number; secretKey: number };
      await sendCancelRequest(port, keys.processID, keys.secretKey);
      expect(await running).toMatchObject({
        code: '57014',
        message: 'canceling statement due to user request',
      });
      expect((await waiting).rows).toEqual([{ y: '7' }]);
      expect((await cancelled.query('SELECT 1 AS z')).rows).toEqual([{ z: '1' }]);

      // lock_timeout: a client behind a running statement gives up after its own wait (55P03), and its
      // statement never runs; SHOW says the engine's default. (Before, it waited for the statement ahead
      // to end, whatever the wait limit said.)
      expect((await bystander.query('SHOW lock_timeout')).rows).toEqual([{ lock_timeout: '30000' }]);
      await bystander.query('CREATE TABLE IF NOT EXISTS behind_runaway (k INTEGER)');
      await bystander.query("SET lock_timeout = '400ms'");
      const blocking = cancelled.query(endless).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const gaveUpFrom = Date.now();
      const gaveUp = await bystander
        .query('INSERT INTO behind_runaway VALUES (1)')
        .catch((error: unknown) => error);
      expect(gaveUp).toMatchObject({ code: '55P03', message: expect.stringContaining('lock timeout') });
      expect(Date.now() - gaveUpFrom).toBeLessThan(5_000);
      await sendCancelRequest(port, keys.processID, keys.secretKey);
      expect(await blocking).toMatchObject({ code: '57014' });
      expect((await bystander.query('SELECT count(*) AS n FROM behind_runaway')).rows).toEqual([{ n: '0' }]);
      await bystander.query('RESET lock_timeout');
      expect((await bystander.query('SHOW lock_timeout')).rows).toEqual([{ lock_timeout: '30000' }]);
    } finally {
      await Promise.all([timed.end(), cancelled.end(), bystander.end()]);
    }
  }, 60_000);
});

describe('psql target_session_attrs over a writer and a replica', () => {
  const started: { stop(): Promise<void> }[] = [];
  const backends: SqliteTestBackend[] = [];
  let writerPort = 0;
  let replicaPort = 0;

  beforeAll(async () => {
    for (const role of ['writer', 'replica'] as const) {
      const backend = new SqliteTestBackend({ role });
      backends.push(backend);
      const server = await startTestServer(backend);
      started.push(server);
      if (role === 'writer') writerPort = server.port;
      else replicaPort = server.port;
    }
  });

  afterAll(async () => {
    await Promise.all(started.map((server) => server.stop()));
    for (const backend of backends) backend.close();
  });

  async function inRecovery(targetSessionAttributes: string): Promise<string> {
    const connection = `host=127.0.0.1,127.0.0.1 port=${replicaPort},${writerPort} user=${PG_USER} dbname=app target_session_attrs=${targetSessionAttributes}`;
    const { stdout, stderr } = await run(
      '/usr/bin/psql',
      [connection, '-X', '-A', '-t', '-c', 'SELECT pg_is_in_recovery()', '-c', 'SHOW transaction_read_only'],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' }, timeout: 30_000 },
    );
    expect(stderr).toBe('');
    return stdout.trim().replace(/\n/g, ' ');
  }

  it('read-write and primary pick the writer; read-only and standby pick the replica', async () => {
    expect(await inRecovery('read-write')).toBe('0 off');
    expect(await inRecovery('primary')).toBe('0 off');
    expect(await inRecovery('standby')).toBe('1 on');
    expect(await inRecovery('read-only')).toBe('1 on');
  });
});

// sysbench is the slow one: it runs against the engine process only.
describe('sysbench 1.0.20 against the engine process', () => {
  let port: number;

  beforeAll(async () => {
    port = (await endpoint('engine')).port;
  }, 120_000);

  async function sysbench(workload: string, args: readonly string[]): Promise<string> {
    const { stdout } = await run(
      'sysbench',
      [
        workload,
        '--db-driver=pgsql',
        '--pgsql-host=127.0.0.1',
        `--pgsql-port=${port}`,
        `--pgsql-user=${PG_USER}`,
        `--pgsql-password=${PG_PASSWORD}`,
        '--pgsql-db=sbtest',
        '--tables=1',
        '--table-size=1000',
        ...args,
      ],
      { timeout: 60_000 },
    );
    return stdout;
  }

  for (const workload of ['oltp_write_only', 'oltp_read_only', 'oltp_read_write']) {
    it(`${workload}: prepare, run (auto and disable), cleanup`, async () => {
      const prepared = await sysbench(workload, ['prepare']);
      expect(prepared).toContain("Inserting 1000 records into 'sbtest1'");
      for (const mode of ['auto', 'disable']) {
        const output = await sysbench(workload, [
          '--threads=4',
          '--time=0',
          '--events=40',
          `--db-ps-mode=${mode}`,
          'run',
        ]);
        const transactions = Number(/transactions:\s+(\d+)/.exec(output)?.[1] ?? 0);
        expect(transactions, `${workload} ${mode}: ${output}`).toBeGreaterThanOrEqual(40);
        expect(output).not.toMatch(/FATAL|fatal/);
      }
      const count = await psql(port, ['-tAc', 'SELECT count(*) FROM sbtest1']);
      expect(Number(count.stdout.trim())).toBe(1000);
      const cleaned = await sysbench(workload, ['cleanup']);
      expect(cleaned).toContain("Dropping table 'sbtest1'");
      const gone = await psql(port, ['-v', 'VERBOSITY=verbose', '-c', 'SELECT count(*) FROM sbtest1']);
      expect(gone.stderr).toContain('42P01');
    });
  }
});
