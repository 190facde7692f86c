/**
 * PostgreSQL 15's unmodified `pgbench` against the engine process over six storage nodes
 * (support/endpoints.ts): `pgbench -i -I dtGvpf -s 1` (server-side generate_series, then the
 * foreign keys, which ALTER TABLE … ADD CONSTRAINT adds: kernel/alter-table.ts), then
 * `pgbench -i -s 1` (drop, create WITH (fillfactor), TRUNCATE, COPY of 100 000 accounts, VACUUM
 * ANALYZE, ADD PRIMARY KEY) and then the built-in TPC-B-like script for 3 s
 * over two connections in the simple and the prepared query modes. Each must exit 0 and report tps
 * and no failed transaction; afterwards the accounts', tellers' and branches' balances sum to the
 * same total, which every committed TPC-B transaction keeps (it adds one delta to each). pgbench is
 * a required tool here (Debian's postgresql-15, listed in .ci/run): missing, the test fails.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Endpoint, PG_PASSWORD, PG_USER, startEndpoint } from './support/endpoints.js';

const run = promisify(execFile);

describe('pgbench (PostgreSQL 15) against the engine process', () => {
  let endpoint: Endpoint;

  beforeAll(async () => {
    endpoint = await startEndpoint('engine');
  }, 120_000);

  afterAll(async () => {
    await endpoint?.stop();
  }, 60_000);

  async function pgbench(args: readonly string[]): Promise<string> {
    const connection = ['-h', '127.0.0.1', '-p', String(endpoint.port), '-U', PG_USER];
    try {
      const { stdout, stderr } = await run('pgbench', [...connection, ...args, 'app'], {
        env: { ...process.env, PGPASSWORD: PG_PASSWORD, PGCONNECT_TIMEOUT: '10' },
        timeout: 60_000,
      });
      return stdout + stderr;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          'pgbench is not installed: on Debian bookworm it comes with postgresql-15 (apt-get install postgresql-15); .ci/run installs it',
        );
      }
      const failed = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `pgbench ${args.join(' ')} failed: ${failed.message}\n${failed.stdout}${failed.stderr}`,
      );
    }
  }

  async function sum(column: string, table: string): Promise<number> {
    const output = await run(
      'psql',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(endpoint.port),
        '-U',
        PG_USER,
        '-X',
        '-tA',
        '-c',
        `SELECT sum(${column}) FROM ${table}`,
        'app',
      ],
      { env: { ...process.env, PGPASSWORD: PG_PASSWORD } },
    );
    return Number(output.stdout.trim());
  }

  it('pgbench -i (server-side, then client-side generate), then the TPC-B-like run in simple and prepared mode keeps the balances', async () => {
    // Server-side generate first (-I G: INSERT … SELECT … FROM generate_series) with foreign keys
    // (-I f), then the default client-side one (COPY), which the run uses: its DROP of the four tables
    // that reference each other must go through.
    const generated = await pgbench(['-i', '-I', 'dtGvpf', '-s', '1']);
    expect(generated).toMatch(/server-side generate [\d.]+ s/);
    expect(await sum('aid', 'pgbench_accounts')).toBe((100_000 * 100_001) / 2);
    const initialized = await pgbench(['-i', '-s', '1']);
    expect(initialized).toContain('100000 of 100000 tuples (100%) done');
    expect(initialized).toMatch(/creating primary keys\.\.\.\ndone in /);
    for (const mode of ['simple', 'prepared']) {
      const output = await pgbench(['-c', '2', '-j', '2', '-T', '3', '-M', mode]);
      expect(output, output).toContain(`query mode: ${mode}`);
      expect(output, output).toMatch(/number of failed transactions: 0 \(0\.000%\)/);
      const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? 0);
      expect(tps, output).toBeGreaterThan(0);
    }
    const accounts = await sum('abalance', 'pgbench_accounts');
    expect(accounts).not.toBe(0);
    expect(await sum('tbalance', 'pgbench_tellers')).toBe(accounts);
    expect(await sum('bbalance', 'pgbench_branches')).toBe(accounts);
  }, 60_000);
});
