// pg_stat_activity, pg_cancel_backend and pg_terminate_backend (src/core/pgwire/activity.ts) on the
// engine's kernel (SQLite in wasm, serial transactions: one transaction holds the SQL writer) behind
// a real PgServer, with node-postgres clients: an operator finds the session idle in a transaction
// that holds everyone up, ends it, and the writer is free at once; a runaway statement is cancelled
// and its session goes on.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activitySql, utcText, withSessionActivity } from '../../src/core/pgwire/activity.js';
import { classify, tokenize, translate } from '../../src/core/pgwire/sql.js';
import { startKernelBackend } from './support/kernel-backend.js';
import { startTestServer, type TestServer } from './support/server.js';

describe('pg_stat_activity translation', () => {
  const session = {
    pid: 1234,
    user: 'postgres',
    database: 'northlight',
    applicationName: "it's psql",
    clientAddress: '127.0.0.1',
    clientPort: 50_000,
    backendStartMs: Date.UTC(2026, 10, 28, 3, 4, 5, 600),
    state: 'idle in transaction' as const,
    query: 'INSERT INTO t VALUES (1)',
    queryStartMs: Date.UTC(2026, 10, 28, 3, 4, 6),
    stateChangeMs: Date.UTC(2026, 10, 28, 3, 4, 6, 5),
    xactStartMs: Date.UTC(2026, 10, 28, 3, 4, 6),
  };

  it('writes times as timestamptz text in UTC and quotes every text', () => {
    expect(utcText(session.backendStartMs)).toBe('2026-11-28 03:04:05.6');
    expect(utcText(session.stateChangeMs)).toBe('2026-11-28 03:04:06.005');
    expect(utcText(null)).toBeNull();
    expect(activitySql([session])).toContain("'it''s psql' AS application_name");
    expect(activitySql([])).toMatch(/ WHERE 0$/);
  });

  it('replaces each reference, qualified or not, keeping or giving the alias', () => {
    const text = (sql: string) =>
      withSessionActivity(tokenize(sql), [session])
        .map((token) => token.text)
        .join('');
    expect(text('SELECT pid FROM pg_stat_activity WHERE state <> $1')).toMatch(
      /^SELECT pid FROM \(SELECT .* AS backend_type\) pg_stat_activity WHERE state <> \$1$/,
    );
    expect(text('SELECT a.pid FROM pg_catalog.pg_stat_activity AS a')).toMatch(
      /^SELECT a\.pid FROM \(SELECT .*\) AS a$/,
    );
    const facts = {
      serverVersion: '15.0',
      database: 'x',
      user: 'u',
      processId: 1,
      sessions: () => [session],
    };
    const translation = translate(tokenize('SELECT count(*) FROM pg_stat_activity'), facts);
    expect(translation.volatile).toBe(true);
    expect(translate(tokenize('SELECT 1'), facts).volatile).toBeUndefined();
  });

  it('classifies the signal functions, and refuses their other uses with what to do', () => {
    expect(classify(tokenize('SELECT pg_catalog.pg_terminate_backend($2, 5000) AS gone'))).toEqual({
      kind: 'signal-backend',
      action: 'terminate',
      pid: { parameter: 2 },
      resultColumn: 'gone',
    });
    expect(classify(tokenize('select pg_cancel_backend(pg_backend_pid())'))).toMatchObject({
      kind: 'signal-backend',
      action: 'cancel',
      pid: { own: true },
    });
    expect(
      classify(tokenize("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle'")),
    ).toMatchObject({
      kind: 'unsupported',
      sqlstate: '0A000',
      hint: expect.stringContaining('SELECT pid, state, query FROM pg_stat_activity'),
    });
  });
});

describe('pg_stat_activity and signals over the wire', () => {
  let server: TestServer;
  let stopKernel: () => Promise<void>;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    const kernel = await startKernelBackend({ idleTimeoutMs: 60_000, lockWaitTimeoutMs: 5_000 });
    stopKernel = kernel.stop;
    server = await startTestServer(kernel.backend);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
    await server?.stop();
    await stopKernel?.();
  });

  async function connect(name: string): Promise<pg.Client> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'shop',
      application_name: name,
    });
    client.on('error', () => {});
    await client.connect();
    clients.push(client);
    return client;
  }

  async function pidOf(client: pg.Client): Promise<number> {
    const result = await client.query('SELECT pg_backend_pid() AS pid');
    return Number(result.rows[0].pid);
  }

  it('names the session that holds the writer, ends it, and the writer is free at once', async () => {
    const holder = await connect('holder');
    const operator = await connect('operator');
    const idler = await connect('idler');
    await holder.query('CREATE TABLE orders (id integer PRIMARY KEY, note text)');
    const holderPid = await pidOf(holder);
    const operatorPid = await pidOf(operator);
    const idlerPid = await pidOf(idler);
    await holder.query('BEGIN');
    await holder.query("INSERT INTO orders VALUES (1, 'never committed')");

    // The writer is held: another session's write gives up after its lock_timeout, naming the holder.
    await operator.query("SET lock_timeout = '300ms'");
    const waited = await operator
      .query("INSERT INTO orders VALUES (2, 'waits')")
      .catch((error: unknown) => error);
    expect(waited).toMatchObject({
      code: '55P03',
      message: expect.stringContaining(`of session ${holderPid} for`),
      hint: expect.stringContaining(`SELECT pg_terminate_backend(${holderPid})`),
    });

    // Ending it needs no writer.
    const ended = await operator.query('SELECT pg_terminate_backend($1) AS ended', [holderPid]);
    expect(ended.rows).toEqual([{ ended: true }]); // a boolean, as PostgreSQL's
    await expect(holder.query('SELECT 1')).rejects.toThrow();
    // Its transaction rolled back, and the writer free for the next write.
    await operator.query("INSERT INTO orders VALUES (2, 'after')");
    expect((await operator.query('SELECT id FROM orders ORDER BY id')).rows).toEqual([{ id: 2 }]);

    const seen = await operator.query(
      `SELECT pid, usename, datname, application_name, client_addr, state, query,
              xact_start IS NOT NULL AS in_transaction, backend_type
         FROM pg_stat_activity WHERE application_name IN ('holder', 'operator', 'idler') ORDER BY pid`,
    );
    expect(
      seen.rows.map((row) => ({ ...row, pid: Number(row.pid), in_transaction: Number(row.in_transaction) })),
    ).toEqual(
      [
        {
          pid: operatorPid,
          usename: 'postgres',
          datname: 'shop',
          application_name: 'operator',
          client_addr: '127.0.0.1',
          state: 'active',
          query: expect.stringContaining('FROM pg_stat_activity'),
          in_transaction: 1,
          backend_type: 'client backend',
        },
        {
          pid: idlerPid,
          usename: 'postgres',
          datname: 'shop',
          application_name: 'idler',
          client_addr: '127.0.0.1',
          state: 'idle',
          query: 'SELECT pg_backend_pid() AS pid',
          in_transaction: 0,
          backend_type: 'client backend',
        },
      ].sort((a, b) => a.pid - b.pid),
    );
    expect((await operator.query('SELECT pg_terminate_backend(999999999)')).rows).toEqual([
      { pg_terminate_backend: false },
    ]);
  });

  it('cancels a statement of another session waiting for the writer, and that session goes on', async () => {
    const holder = await connect('holder-2');
    const waiter = await connect('waiter');
    const operator = await connect('operator-2');
    await holder.query('CREATE TABLE jobs (id integer PRIMARY KEY)');
    const [holderPid, waiterPid] = [await pidOf(holder), await pidOf(waiter)];
    await holder.query('BEGIN');
    await holder.query('INSERT INTO jobs VALUES (1)');
    await waiter.query('SET lock_timeout = 0'); // would wait for ever
    const waiting = waiter.query('INSERT INTO jobs VALUES (2)').then(
      () => 'inserted',
      (error: { code?: string }) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Neither signal needs the writer, which the holder keeps.
    const cancelled = await operator.query(`SELECT pg_catalog.pg_cancel_backend(${waiterPid})`);
    expect(cancelled.rows).toEqual([{ pg_cancel_backend: true }]);
    expect(await waiting).toBe('57014');
    await expect(operator.query('SELECT pg_cancel_backend(pg_backend_pid())')).rejects.toMatchObject({
      code: '57014',
    });
    expect((await operator.query(`SELECT pg_terminate_backend(${holderPid}, 1000) AS done`)).rows).toEqual([
      { done: true },
    ]);
    // The waiter's session goes on, and the writer is free.
    await waiter.query('INSERT INTO jobs VALUES (3)');
    expect((await waiter.query('SELECT id FROM jobs ORDER BY id')).rows).toEqual([{ id: 3 }]);
  });

  it('reads the sessions of the moment at each execution of a prepared statement', async () => {
    const watcher = await connect('watcher');
    const count = { name: 'count-sessions', text: 'SELECT count(*)::int AS n FROM pg_stat_activity' };
    const before = Number((await watcher.query(count)).rows[0].n);
    await connect('newcomer');
    const after = Number((await watcher.query(count)).rows[0].n);
    expect(after).toBe(before + 1);
  });
});
