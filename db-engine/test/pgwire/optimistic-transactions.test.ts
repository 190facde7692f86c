/**
 * Optimistic transactions (`--pg-transactions optimistic`) as PostgreSQL clients meet them: node-postgres
 * over the wire protocol, the engine's real kernel behind its `TransactionGate` in this process, then
 * sysbench 1.0.20 against an engine process started with the flag. It shows that:
 * - two sessions' transactions interleave statement by statement, neither waiting for the other;
 * - a transaction whose read changed gets ErrorResponse 40001 at COMMIT (with the hint to run it
 *   again), the session is idle afterwards, and its next read-write transaction runs serially: it
 *   holds the SQL writer from its first statement, so a retry gets through;
 * - sysbench on a table small enough for its transactions to collide: oltp_write_only's transactions
 *   (which see only row counts) commit without conflicts; oltp_read_write's reads conflict, get 40001,
 *   and sysbench runs them again (40001 is one of the errors it retries); the row count is kept.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionGate } from '../../src/transaction-gate.js';
import { type EngineProcess, INTERNAL_AUTH, StorageFleet, startEngine } from '../support/engine-rig.js';
import { startKernelBackend } from './support/kernel-backend.js';
import { startTestServer, type TestServer } from './support/server.js';

const run = promisify(execFile);

describe('optimistic transactions over the wire protocol (node-postgres)', () => {
  let stopKernel: () => Promise<void>;
  let gate: TransactionGate;
  let server: TestServer;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    const kernel = await startKernelBackend({
      idleTimeoutMs: 60_000,
      lockWaitTimeoutMs: 5_000,
      optimistic: true,
    });
    stopKernel = kernel.stop;
    gate = kernel.gate;
    server = await startTestServer(kernel.backend);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
    await server.stop();
    await stopKernel();
  });

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'x' });
    await client.connect();
    clients.push(client);
    return client;
  }

  it('interleaves two sessions, fails the one whose read changed with 40001, and runs its retry serially', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
    await a.query('INSERT INTO accounts VALUES (1, 100), (2, 100)');

    await a.query('BEGIN');
    await b.query('BEGIN');
    const seen = await a.query('SELECT balance FROM accounts WHERE id = $1', [1]);
    expect(seen.rows).toEqual([{ balance: 100 }]);
    // b is not held up by a's open transaction, and a does not see b's uncommitted write.
    await b.query('UPDATE accounts SET balance = balance - 30 WHERE id = $1', [1]);
    expect((await a.query('SELECT balance FROM accounts WHERE id = 1')).rows).toEqual([{ balance: 100 }]);
    await a.query('UPDATE accounts SET balance = $1 WHERE id = 2', [seen.rows[0].balance + 50]);
    expect(gate.status().holder).toBeUndefined();
    await b.query('COMMIT');

    const failed = await a.query('COMMIT').catch((error: unknown) => error as pg.DatabaseError);
    expect(failed).toBeInstanceOf(Error);
    expect(failed).toMatchObject({
      code: '40001',
      message: expect.stringMatching(/could not serialize access due to concurrent update/),
      hint: 'Run the transaction again.',
    });
    expect((await a.query('SELECT id, balance FROM accounts ORDER BY id')).rows).toEqual([
      { id: 1, balance: 70 },
      { id: 2, balance: 100 },
    ]);

    // The retry holds the writer from its first statement: b's write waits until it commits.
    const failuresBefore = gate.status().serializationFailures;
    await a.query('BEGIN');
    const again = await a.query('SELECT balance FROM accounts WHERE id = 1');
    expect(gate.status().holder).toBeDefined();
    let bDone = false;
    const bWrite = b.query('UPDATE accounts SET balance = 0 WHERE id = 1').then(() => {
      bDone = true;
    });
    await a.query('UPDATE accounts SET balance = $1 WHERE id = 2', [again.rows[0].balance + 50]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(bDone).toBe(false);
    await a.query('COMMIT');
    await bWrite;
    expect((await a.query('SELECT id, balance FROM accounts ORDER BY id')).rows).toEqual([
      { id: 1, balance: 0 },
      { id: 2, balance: 120 },
    ]);
    expect(gate.status().serializationFailures).toBe(failuresBefore);

    // And the session after that is optimistic again.
    await a.query('BEGIN');
    await a.query('UPDATE accounts SET balance = 1 WHERE id = 1');
    expect(gate.status().holder).toBeUndefined();
    await a.query('COMMIT');
    expect(gate.status().transactionsCommittedOptimistic).toBeGreaterThanOrEqual(2);
  });

  it('DDL in a transaction takes the writer, so the statements prepared after it see the new table', async () => {
    const client = await connect();
    const promotedBefore = gate.status().transactionsPromoted;
    await client.query('BEGIN');
    await client.query('CREATE TABLE made_here (id INTEGER PRIMARY KEY, v TEXT)');
    expect(gate.status().holder).toBeDefined();
    // Parse and Describe of a parameterized statement run outside the transaction's own requests.
    await client.query('INSERT INTO made_here VALUES ($1, $2)', [1, 'one']);
    expect((await client.query('SELECT v FROM made_here WHERE id = $1', [1])).rows).toEqual([{ v: 'one' }]);
    await client.query('COMMIT');
    expect(gate.status()).toMatchObject({ transactionsPromoted: promotedBefore + 1 });
    expect(gate.status().holder).toBeUndefined();
  });

  it('an optimistic transaction whose client goes silent is ended by the idle-in-transaction timeout (25P03)', async () => {
    const silent = await connect();
    const other = await connect();
    await other.query('CREATE TABLE silent_writes (id INTEGER PRIMARY KEY)');
    const ended = new Promise<unknown>((resolve) => silent.on('error', resolve));
    await silent.query("SET idle_in_transaction_session_timeout = '300ms'");
    await silent.query('BEGIN');
    await silent.query('INSERT INTO silent_writes VALUES (1)');
    // It holds nothing meanwhile: another session writes and commits at once.
    expect(gate.status().holder).toBeUndefined();
    await other.query('INSERT INTO silent_writes VALUES (2)');
    expect(await ended).toMatchObject({ code: '25P03' });
    expect((await other.query('SELECT id FROM silent_writes ORDER BY id')).rows).toEqual([{ id: 2 }]);
    expect(gate.status().holder).toBeUndefined();
  });

  it('COPY FROM STDIN in a transaction block (psql) takes the writer rather than replay its batches', async () => {
    const promotedBefore = gate.status().transactionsPromoted;
    const script = [
      'CREATE TABLE bulk (id INTEGER PRIMARY KEY, v TEXT);',
      'BEGIN;',
      "INSERT INTO bulk VALUES (0, 'zero');",
      'COPY bulk FROM STDIN;',
      ...Array.from({ length: 1_200 }, (_, index) => `${index + 1}\tv${index + 1}`),
      '\\.',
      'COMMIT;',
      'SELECT count(*) FROM bulk;',
      '',
    ].join('\n');
    const child = execFile('psql', [
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-U',
      'postgres',
      '-d',
      'x',
      '-X',
      '-v',
      'ON_ERROR_STOP=1',
      '-tA',
      '-f',
      '-',
    ]);
    child.stdin?.end(script);
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').at(-1)).toBe('1201');
    expect(gate.status().transactionsPromoted).toBe(promotedBefore + 1);
  });
});

describe('sysbench 1.0.20 against an engine process with --pg-transactions optimistic', () => {
  const fleet = new StorageFleet(1024 * 1024);
  let engine: EngineProcess;

  beforeAll(async () => {
    await fleet.start();
    engine = await startEngine(fleet, { args: ['--pg-transactions', 'optimistic'] });
  }, 120_000);

  afterAll(async () => {
    engine?.child.kill('SIGKILL');
    await engine?.exited;
    await fleet.stopAll();
  });

  function sysbench(workload: string, args: readonly string[]) {
    return run(
      'sysbench',
      [
        workload,
        '--db-driver=pgsql',
        '--pgsql-host=127.0.0.1',
        `--pgsql-port=${engine.pgPort}`,
        '--pgsql-user=postgres',
        '--pgsql-db=sbtest',
        '--tables=1',
        '--table-size=20',
        ...args,
      ],
      { timeout: 60_000 },
    );
  }

  async function optimisticStatus() {
    const status = (await fetch(`http://127.0.0.1:${engine.httpPort}/v1/status`, {
      headers: INTERNAL_AUTH,
    }).then((response) => response.json())) as {
      transactions: { transactionsCommittedOptimistic: number; serializationFailures: number };
    };
    return status.transactions;
  }

  async function rowCount(): Promise<number> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: engine.pgPort,
      user: 'postgres',
      database: 'sbtest',
    });
    await client.connect();
    try {
      return Number((await client.query('SELECT count(*) AS n FROM sbtest1')).rows[0].n);
    } finally {
      await client.end();
    }
  }

  it('oltp_write_only and oltp_read_write on 20 rows at 8 threads: conflicts are retried, nothing is lost', async () => {
    await sysbench('oltp_write_only', ['prepare']);
    // Its transactions report only row counts, which a concurrent commit of the same rows leaves as
    // they were (DELETE then INSERT of one id): they commit in turn without conflicting.
    // A number of transactions, not a time: a slow or busy machine takes longer, never does less.
    const writeOnly = await sysbench('oltp_write_only', ['--threads=8', '--time=0', '--events=200', 'run']);
    expect(
      Number(/transactions:\s+(\d+)/.exec(writeOnly.stdout)?.[1] ?? 0),
      writeOnly.stdout,
    ).toBeGreaterThanOrEqual(200);
    expect(writeOnly.stdout).not.toMatch(/FATAL|fatal/);
    expect(await rowCount()).toBe(20);
    expect((await optimisticStatus()).transactionsCommittedOptimistic).toBeGreaterThan(50);
    // Its reads (sums and sorts over ranges) see the others' commits: some transactions fail with
    // 40001, which sysbench runs again, and the next one of that session holds the writer.
    const readWrite = await sysbench('oltp_read_write', ['--threads=8', '--time=0', '--events=150', 'run']);
    const ignored = Number(/ignored errors:\s+(\d+)/.exec(readWrite.stdout)?.[1] ?? -1);
    expect(
      Number(/transactions:\s+(\d+)/.exec(readWrite.stdout)?.[1] ?? 0),
      readWrite.stdout,
    ).toBeGreaterThanOrEqual(150);
    expect(readWrite.stdout).not.toMatch(/FATAL|fatal/);
    expect(ignored, readWrite.stdout).toBeGreaterThan(0);
    expect((await optimisticStatus()).serializationFailures).toBeGreaterThan(0);
    expect(await rowCount()).toBe(20);
  });
});
