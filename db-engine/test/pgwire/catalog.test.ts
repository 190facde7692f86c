/**
 * psql's catalog queries (src/core/pgwire/catalog.ts). The queries below are what psql 15.18 sends
 * (captured with `psql -E` against PostgreSQL 15): each relation list (`\dt`, `\di acc*`, `\d+`,
 * `\dt "Mixed$"`, `\dt other.*`) is translated and run on the real kernel, and must list what
 * `sqlite_schema` holds under psql's column names; so must each query of `\d NAME` and `\d+ NAME`
 * (support/psql15-describe.ts) describe a table, an index and a view from `sqlite_schema` and the
 * pragmas, with the values psql reads by position. Other catalog relations, the OPERATOR() syntax
 * and regular-expression patterns are refused with 0A000 and a hint, and catalog functions with
 * 42883, instead of SQLite's `near "(": syntax error`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { globOfPsqlPattern } from '../../src/core/pgwire/catalog.js';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import { MemoryVolume, startKernel } from '../kernel/support/memory-volume.js';
import { lookup, RELATION_QUERIES } from './support/psql15-describe.js';

const facts = { serverVersion: '15.0', database: 'app', user: 'ann', processId: 7 };

const TYPE_CASE =
  "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\"";
const USER_SCHEMAS = `      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)`;

/** psql 15's listTables query, as `psql -E` prints it. */
function listTables(extraColumns: string, joins: string, where: string): string {
  return `SELECT n.nspname as "Schema",
  c.relname as "Name",
  ${TYPE_CASE},
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"${extraColumns}
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam${joins}
WHERE ${where}
ORDER BY 1,2;`;
}

const PSQL = {
  dt: listTables('', '', `c.relkind IN ('r','p','')\n${USER_SCHEMAS}`),
  diPattern: listTables(
    ',\n  c2.relname as "Table"',
    `
     LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid`,
    `c.relkind IN ('i','I','s','')
  AND c.relname OPERATOR(pg_catalog.~) '^(acc.*)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  ),
  dPlus: listTables(
    `,
  CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 't' THEN 'temporary' WHEN 'u' THEN 'unlogged' END as "Persistence",
  am.amname as "Access method",
  pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as "Size",
  pg_catalog.obj_description(c.oid, 'pg_class') as "Description"`,
    '',
    `c.relkind IN ('r','p','v','m','S','f','')\n${USER_SCHEMAS}`,
  ),
  dtEscaped: listTables(
    '',
    '',
    `c.relkind IN ('r','p','t','s','')
  AND c.relname OPERATOR(pg_catalog.~) E'^(Mixed\\\\$)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  ),
  dtOtherSchema: listTables(
    '',
    '',
    `c.relkind IN ('r','p','t','s','')
  AND n.nspname OPERATOR(pg_catalog.~) '^(other)$' COLLATE pg_catalog.default`,
  ),
  dtRegex: listTables(
    '',
    '',
    `c.relkind IN ('r','p','t','s','')
  AND c.relname OPERATOR(pg_catalog.~) '^(a+)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)`,
  ),
};

function refusal(sql: string): PgSqlError {
  try {
    translate(tokenize(sql), facts);
  } catch (error) {
    if (error instanceof PgSqlError) return error;
    throw error;
  }
  throw new Error(`translated: ${sql}`);
}

describe("psql's relation lists, answered from sqlite_schema on the real kernel", () => {
  let host: KernelHost;

  beforeAll(async () => {
    host = await startKernel(new MemoryVolume());
    const reply = await host.execute({
      statements: [
        { sql: 'CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT UNIQUE, balance INTEGER)' },
        { sql: 'CREATE INDEX by_balance ON accounts(balance)' },
        { sql: 'CREATE TABLE "Mixed$"(x)' },
        { sql: 'CREATE TABLE audit(x)' },
      ],
    });
    expect(reply.ok).toBe(true);
  });

  afterAll(async () => {
    await host?.close();
  });

  async function run(psqlQuery: string): Promise<{ columns: readonly string[]; rows: unknown[][] }> {
    const { sql, parameterCount } = translate(tokenize(psqlQuery), facts);
    expect(parameterCount).toBe(0);
    const reply = await host.execute({ statements: [{ sql }] });
    if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}\n${sql}`);
    return { columns: reply.results[0]!.columns, rows: reply.results[0]!.rows as unknown[][] };
  }

  it("pgbench's partition query: the table exists and is not partitioned, or no row", async () => {
    const query = (table: string) =>
      'select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c ' +
      'join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) ' +
      'cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) ' +
      'left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) ' +
      'left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) ' +
      `where c.relname = '${table}' and o.n is not null group by 1, 2 order by 1 asc limit 1`;
    expect(await run(query('accounts'))).toEqual({
      columns: ['n', 'partstrat', 'count'],
      rows: [[1, null, 0]],
    });
    expect((await run(query('pgbench_accounts'))).rows).toEqual([]);
  });

  it('information_schema.tables, .columns and .schemata: what migration tools ask, with PostgreSQL values', async () => {
    // Knex's hasTable and hasColumn, with the parameters inlined as the test runs them.
    expect(
      (
        await run(
          "select * from information_schema.tables where table_name = 'accounts' and table_schema = current_schema()",
        )
      ).rows,
    ).toEqual([['app', 'public', 'accounts', 'BASE TABLE', null, null, null, null, null, 'YES', 'NO', null]]);
    expect(
      (await run("select table_name from information_schema.tables where table_name = 'sqlite_schema'")).rows,
    ).toEqual([]);
    // Sequelize's showAllTables; an alias; a join of two views.
    expect(
      (
        await run(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type LIKE '%TABLE' AND table_name != 'spatial_ref_sys' ORDER BY 1",
        )
      ).rows,
    ).toEqual([['Mixed$'], ['accounts'], ['audit']]);
    const columns = await run(
      "select c.column_name, c.ordinal_position, c.is_nullable, c.data_type, c.udt_name, c.numeric_precision from information_schema.columns c join information_schema.tables as t on t.table_name = c.table_name where t.table_name = 'accounts' order by c.ordinal_position",
    );
    expect(columns.rows).toEqual([
      ['id', 1, 'NO', 'integer', 'int4', 32],
      ['owner', 2, 'YES', 'text', 'text', null],
      ['balance', 3, 'YES', 'integer', 'int4', 32],
    ]);
    expect((await run('select schema_name, schema_owner from information_schema.schemata')).rows).toEqual([
      ['public', 'ann'],
    ]);
    // Views PostgreSQL has and this does not, and the system catalogs, are still refused.
    expect(refusal('select * from information_schema.routines').sqlstate).toBe('0A000');
    expect(
      refusal(
        'select * from information_schema.tables t join pg_catalog.pg_class c on c.relname = t.table_name',
      ).sqlstate,
    ).toBe('0A000');
  });

  it('\\dt: the tables, named and typed as psql expects', async () => {
    expect(await run(PSQL.dt)).toEqual({
      columns: ['Schema', 'Name', 'Type', 'Owner'],
      rows: [
        ['public', 'accounts', 'table', 'ann'],
        ['public', 'audit', 'table', 'ann'],
        ['public', 'Mixed$', 'table', 'ann'],
      ],
    });
  });

  it('\\di acc*: the indexes whose name matches, with their table', async () => {
    expect(await run(PSQL.diPattern.replace('acc.*', '.*'))).toEqual({
      columns: ['Schema', 'Name', 'Type', 'Owner', 'Table'],
      rows: [
        ['public', 'by_balance', 'index', 'ann', 'accounts'],
        ['public', 'sqlite_autoindex_accounts_1', 'index', 'ann', 'accounts'],
      ],
    });
    expect((await run(PSQL.diPattern)).rows).toEqual([]);
    expect((await run(PSQL.diPattern.replace('acc.*', 'by.*'))).rows).toEqual([
      ['public', 'by_balance', 'index', 'ann', 'accounts'],
    ]);
  });

  it('\\d+: every relation with the verbose columns', async () => {
    const listed = await run(PSQL.dPlus);
    expect(listed.columns).toEqual([
      'Schema',
      'Name',
      'Type',
      'Owner',
      'Persistence',
      'Access method',
      'Size',
      'Description',
    ]);
    expect(listed.rows[0]).toEqual(['public', 'accounts', 'table', 'ann', 'permanent', 'btree', null, null]);
    expect(listed.rows.map((row) => row[1])).toEqual(['accounts', 'audit', 'Mixed$']);
  });

  it('patterns: an escaped character, and a schema other than public', async () => {
    expect((await run(PSQL.dtEscaped)).rows).toEqual([['public', 'Mixed$', 'table', 'ann']]);
    expect((await run(PSQL.dtOtherSchema)).rows).toEqual([]);
    expect((await run(PSQL.dtOtherSchema.replace('^(other)$', '^(public)$'))).rows).toHaveLength(3);
  });
});

describe("psql's \\d NAME, answered from sqlite_schema and the pragmas on the real kernel", () => {
  let host: KernelHost;
  const Q = RELATION_QUERIES;

  beforeAll(async () => {
    host = await startKernel(new MemoryVolume());
    const reply = await host.execute({
      statements: [
        {
          sql:
            'CREATE TABLE people(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, ' +
            "nick VARCHAR(20) DEFAULT 'none', score DOUBLE PRECISION, active BOOLEAN DEFAULT TRUE, " +
            'amount NUMERIC(10,2), "Odd name" text, misc)',
        },
        { sql: 'CREATE INDEX people_by_score ON people(score DESC, nick)' },
        { sql: 'CREATE UNIQUE INDEX people_by_nick ON people(nick) WHERE nick IS NOT NULL' },
        { sql: 'CREATE INDEX people_lower ON people(lower(email))' },
        { sql: 'CREATE TABLE notes(nick TEXT, email TEXT, "Odd name" TEXT, score REAL, active BOOLEAN)' },
        {
          sql:
            "CREATE INDEX notes_mixed ON notes(nick, substr(email, instr(email, ',')), " +
            'lower("Odd name") DESC, score) WHERE active',
        },
        { sql: 'CREATE TABLE tags(name TEXT PRIMARY KEY, weight INT)' },
        { sql: 'CREATE TABLE pairs(a INT, b INT NOT NULL, PRIMARY KEY (b, a)) WITHOUT ROWID' },
        { sql: 'CREATE VIEW active_people AS SELECT id, email FROM people WHERE active' },
      ],
    });
    expect(reply.ok).toBe(true);
  });

  afterAll(async () => {
    await host?.close();
  });

  async function run(psqlQuery: string): Promise<unknown[][]> {
    const { sql, parameterCount } = translate(tokenize(psqlQuery), facts);
    expect(parameterCount).toBe(0);
    const reply = await host.execute({ statements: [{ sql }] });
    if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}\n${sql}`);
    return reply.results[0]!.rows as unknown[][];
  }

  /** The OID psql's lookup gives the relation named `name` (what it sends back in every later query). */
  async function oidOf(name: string): Promise<number> {
    const rows = await run(lookup(`^(${name})$`));
    expect(rows).toHaveLength(1);
    return rows[0]![0] as number;
  }

  it('the lookup: OID, schema and name of each match, sorted; none for an unknown name', async () => {
    const rows = await run(lookup('^(people.*)$'));
    expect(rows.map((row) => row.slice(1))).toEqual([
      ['public', 'people'],
      ['public', 'people_by_nick'],
      ['public', 'people_by_score'],
      ['public', 'people_lower'],
    ]);
    // Stable: sqlite_schema's rowid above PostgreSQL's first user OID, the same on every lookup.
    for (const row of rows) expect(row[0]).toBeGreaterThan(16_384);
    expect(await oidOf('people')).toBe(rows[0]![0]);
    expect(await run(lookup('^(nosuch)$'))).toEqual([]);
    expect(await run(lookup('^(PEOPLE)$'))).toHaveLength(1); // SQLite's names ignore case
    expect(await run(lookup('^(people)$', '^(public)$'))).toHaveLength(1);
    expect(await run(lookup('^(people)$', '^(other)$'))).toEqual([]);
    expect(await run(lookup('^(sqlite_schema)$'))).toEqual([]);
  });

  it('a table: its kind, its columns with PostgreSQL types, nullability and defaults', async () => {
    const oid = await oidOf('people');
    expect(await run(Q.details(oid))).toEqual([
      [0, 'r', 't', 'f', 'f', 'f', 'f', 'f', 'f', '', 0, '', 'p', 'd', 'btree'],
    ]);
    expect(await run(Q.tableColumns(oid))).toEqual([
      ['id', 'integer', null, 't', null, '', ''],
      ['email', 'text', null, 't', null, '', ''],
      ['nick', 'character varying(20)', "'none'::character varying", 'f', null, '', ''],
      ['score', 'double precision', null, 'f', null, '', ''],
      ['active', 'boolean', 'true', 'f', null, '', ''],
      ['amount', 'numeric(10,2)', null, 'f', null, '', ''],
      ['Odd name', 'text', null, 'f', null, '', ''],
      ['misc', '', null, 'f', null, '', ''],
    ]);
    const verbose = await run(Q.tableColumnsVerbose(oid));
    expect(verbose.map((row) => row.slice(7))).toEqual([
      ['p', '', null, null],
      ['x', '', null, null],
      ['x', '', null, null],
      ['p', '', null, null],
      ['p', '', null, null],
      ['m', '', null, null],
      ['x', '', null, null],
      ['x', '', null, null],
    ]);
  });

  it("a table's indexes: the rowid primary key, UNIQUE constraint and index, DESC, partial, expressions", async () => {
    const oid = await oidOf('people');
    const rows = await run(Q.tableIndexes(oid));
    expect(rows.map((row) => [row[0], row[1], row[2], row[5], row[7]])).toEqual([
      ['people_pkey', 't', 't', 'CREATE UNIQUE INDEX people_pkey USING btree (id)', 'p'],
      [
        'people_by_nick',
        'f',
        't',
        'CREATE UNIQUE INDEX people_by_nick USING btree (nick) WHERE nick IS NOT NULL',
        null,
      ],
      ['people_by_score', 'f', 'f', 'CREATE INDEX people_by_score USING btree (score DESC, nick)', null],
      // SQLite's index behind UNIQUE (sqlite_autoindex_people_1), named as PostgreSQL names the constraint.
      ['people_email_key', 'f', 't', 'CREATE UNIQUE INDEX people_email_key USING btree (email)', 'u'],
      ['people_lower', 'f', 'f', 'CREATE INDEX people_lower USING btree (lower(email))', null],
    ]);
    for (const row of rows) expect(row).toHaveLength(12);
    // A primary key that is not the rowid is SQLite's own index, named <table>_pkey as in PostgreSQL;
    // WITHOUT ROWID keys are NOT NULL.
    expect((await run(Q.tableIndexes(await oidOf('tags')))).map((row) => [row[0], row[1], row[5]])).toEqual([
      ['tags_pkey', 't', 'CREATE UNIQUE INDEX tags_pkey USING btree (name)'],
    ]);
    const pairs = await oidOf('pairs');
    expect((await run(Q.tableIndexes(pairs))).map((row) => row[5])).toEqual([
      'CREATE UNIQUE INDEX pairs_pkey USING btree (b, a)',
    ]);
    expect((await run(Q.tableColumns(pairs))).map((row) => row[3])).toEqual(['t', 't']);
    expect((await run(Q.tableColumns(await oidOf('tags')))).map((row) => row[3])).toEqual(['f', 'f']);
  });

  it('an index: its key columns, and the footer psql builds (unique, primary, predicate)', async () => {
    const byNick = await oidOf('people_by_nick');
    expect((await run(Q.details(byNick)))[0]!.slice(0, 3)).toEqual([0, 'i', 'f']);
    expect(await run(Q.indexColumns(byNick))).toEqual([['nick', 'character varying(20)', 'yes', 'nick']]);
    expect(await run(Q.indexDetails(byNick))).toEqual([
      ['t', 'f', 'f', 't', 'f', 'f', 'f', 'f', 'btree', 'people', 'nick IS NOT NULL'],
    ]);
    const byScore = await oidOf('people_by_score');
    expect(await run(Q.indexColumnsVerbose(byScore))).toEqual([
      ['score', 'double precision', 'yes', 'score', 'p', null],
      ['nick', 'character varying(20)', 'yes', 'nick', 'x', null],
    ]);
    // An expression key is defined by its expression, as in PostgreSQL (which prints lower(email::text)).
    expect(await run(Q.indexColumns(await oidOf('people_lower')))).toEqual([
      ['expr', null, 'yes', 'lower(email)'],
    ]);
    expect((await run(Q.indexColumns(await oidOf('notes_mixed')))).map((row) => row[3])).toEqual([
      'nick',
      "substr(email, instr(email, ','))",
      'lower("Odd name")',
      'score',
    ]);
    const primary = await oidOf('sqlite_autoindex_tags_1');
    expect((await run(Q.indexDetails(primary)))[0]!.slice(0, 2)).toEqual(['t', 't']);
  });

  it('a view: its columns and, for \\d+, its definition', async () => {
    const oid = await oidOf('active_people');
    expect((await run(Q.detailsVerbose(oid)))[0]!.slice(0, 3)).toEqual([0, 'v', 'f']);
    expect((await run(Q.viewColumnsVerbose(oid))).map((row) => row.slice(0, 2))).toEqual([
      ['id', 'integer'],
      ['email', 'text'],
    ]);
    expect(await run(Q.viewDefinition(oid))).toEqual([[' SELECT id, email FROM people WHERE active;']]);
  });

  it('footers with no SQLite counterpart: no rows, so psql prints none', async () => {
    const oid = await oidOf('people');
    for (const query of [Q.policies, Q.statistics, Q.publications, Q.parents, Q.children, Q.rules]) {
      expect(await run(query(oid))).toEqual([]);
    }
  });

  it('an OID that names no relation gives no rows; a query it does not know is refused', async () => {
    expect(await run(Q.details(999_999))).toEqual([]);
    expect(await run(Q.tableColumns(999_999))).toEqual([]);
    const changed = Q.details(16_385).replace('c.relchecks, ', '');
    expect(refusal(changed).sqlstate).toBe('0A000');
    expect(refusal(lookup('^(a+)$'))).toMatchObject({
      sqlstate: '0A000',
      message: expect.stringContaining('^(a+)$'),
    });
  });
});

describe('what is refused, and how', () => {
  it('other catalog relations and OPERATOR(): 0A000 pointing to sqlite_schema', () => {
    for (const sql of [
      'SELECT datname FROM pg_catalog.pg_database',
      'SELECT routine_name FROM information_schema.routines',
      'SELECT 1 WHERE 1 OPERATOR(pg_catalog.=) 1',
    ]) {
      const refused = refusal(sql);
      expect(refused.sqlstate, sql).toBe('0A000');
      expect(refused.hint, sql).toContain('sqlite_schema');
    }
    expect(refusal(PSQL.dtRegex)).toMatchObject({
      sqlstate: '0A000',
      message: expect.stringContaining('^(a+)$'),
    });
  });

  it('catalog functions other than the session ones: 42883; the session ones still translate', () => {
    expect(refusal("SELECT pg_catalog.set_config('search_path', '', false)").sqlstate).toBe('42883');
    expect(translate(tokenize('SELECT pg_catalog.version(), pg_catalog.current_user'), facts).sql).toMatch(
      /^SELECT 'PostgreSQL 15\.0 .*' AS version, 'ann' AS current_user$/,
    );
    // A user's own table or column that merely has a catalog-like name is not touched. (A relation
    // named as a pg_catalog view, `FROM pg_tables`, is that view, as PostgreSQL searches pg_catalog
    // first: catalog-views.test.ts.)
    for (const sql of ['SELECT pg_class FROM pg_stuff', 'INSERT INTO operator (a, b) VALUES (1, 2)']) {
      expect(translate(tokenize(sql), facts).sql).toBe(sql);
    }
  });

  it("\\l's query with a column psql never asks for is refused, not half answered", () => {
    const l =
      'SELECT d.datname as "Name", pg_catalog.pg_get_userbyid(d.datdba) as "Owner" FROM pg_catalog.pg_database d ORDER BY 1;';
    expect(translate(tokenize(l), facts).sql).toBe(`SELECT 'app' AS "Name", 'ann' AS "Owner"`);
    const odd = l.replace('as "Owner"', 'as "Owner", d.datfrozenxid as "Frozen"');
    expect(refusal(odd).sqlstate).toBe('0A000');
    // The roles, in the query's own order, booleans as psql reads them (text t/f).
    const du =
      "SELECT r.rolname, r.rolsuper, r.rolconnlimit, ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) WHERE m.member = r.oid) as memberof, r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.~) '^(a.*)$' COLLATE pg_catalog.default ORDER BY 1;";
    expect(translate(tokenize(du), facts).sql).toBe(
      `SELECT 'ann' AS "rolname", 't' AS "rolsuper", -1 AS "rolconnlimit", '{}' AS "memberof", 't' AS "rolbypassrls" WHERE 'ann' GLOB 'a*'`,
    );
  });

  it('psql patterns become GLOBs where they are ones', () => {
    expect(globOfPsqlPattern('^(accounts)$')).toBe('accounts');
    expect(globOfPsqlPattern('^(acc.*)$')).toBe('acc*');
    expect(globOfPsqlPattern('^(a.c)$')).toBe('a?c');
    expect(globOfPsqlPattern('^(Mixed\\$)$')).toBe('Mixed$');
    expect(globOfPsqlPattern('^(a\\*b)$')).toBe('a[*]b');
    for (const regex of ['^(a+)$', '^(a|b)$', '^([ab]c)$', 'accounts']) {
      expect(globOfPsqlPattern(regex), regex).toBeNull();
    }
  });
});
