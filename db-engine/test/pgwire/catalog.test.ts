/**
 * psql's catalog queries (src/core/pgwire/catalog.ts). The queries below are what psql 15.18 sends
 * (captured with `psql -E` against PostgreSQL 15): each relation list (`\dt`, `\di acc*`, `\d+`,
 * `\dt "Mixed$"`, `\dt other.*`) is translated and run on the real kernel, and must list what
 * `sqlite_schema` holds under psql's column names; `\d NAME`, other catalog relations, the OPERATOR()
 * syntax and regular-expression patterns are refused with 0A000 and a hint, and catalog functions
 * with 42883, instead of SQLite's `near "(": syntax error`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { globOfPsqlPattern } from '../../src/core/pgwire/catalog.js';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import { MemoryVolume, startKernel } from '../kernel/support/memory-volume.js';

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
  describeAccounts: `SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(accounts)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;`,
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

describe('what is refused, and how', () => {
  it('\\d NAME: 0A000, with the SQLite queries that show the relation', () => {
    const refused = refusal(PSQL.describeAccounts);
    expect(refused.sqlstate).toBe('0A000');
    expect(refused.message).toMatch(/\\d NAME/);
    expect(refused.hint).toContain("SELECT sql FROM sqlite_schema WHERE name = 'accounts'");
    expect(refused.hint).toContain("pragma_table_info('accounts')");
  });

  it('other catalog relations and OPERATOR(): 0A000 pointing to sqlite_schema', () => {
    for (const sql of [
      'SELECT datname FROM pg_catalog.pg_database',
      'SELECT table_name FROM information_schema.tables',
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
    // A user's own table or column that merely has a catalog-like name is not touched.
    for (const sql of ['SELECT pg_class FROM pg_tables', 'INSERT INTO operator (a, b) VALUES (1, 2)']) {
      expect(translate(tokenize(sql), facts).sql).toBe(sql);
    }
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
