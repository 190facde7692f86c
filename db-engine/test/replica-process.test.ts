// Read replicas as real processes: a writer, two replicas and six storage-node processes on loopback.
// Under a bank-transfer load on the writer, every read on a replica is one committed state (the total
// never changes, and no transfer row appears without its balances), the replicas see each write within
// a bound, refuse writes naming the writer (its HTTP URL over HTTP, the read-write endpoint over the
// PostgreSQL protocol), report their lag (writer's histogram, replica status), and survive a writer
// restart: they keep answering from the state they reached, resubscribe, resync from storage, and then
// see what the new writer commits. Then the transitions: failover (kill -9 of the writer under load, a
// replica promoted, every acknowledged transfer kept, kill-to-first-write reported), split brain (a
// replica promoted while the writer still runs: the old writer gets nothing acknowledged and exits 3)
// and switchover (fence, promote; the write gap reported).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '@northlight/protocol/io';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EngineProcess,
  engineStatus,
  INTERNAL_AUTH,
  INTERNAL_TOKEN,
  removeEngineData,
  StorageFleet,
  setUpBank,
  sql,
  startEngine,
} from './support/engine-rig.js';

const ACCOUNTS = 40;
const OPENING_BALANCE = 1_000;
const fleet = new StorageFleet(256 * 1024);
let writer: EngineProcess;
let writerPort: number;
const replicaPorts: number[] = [];
const replicas: EngineProcess[] = [];

/** Replica `index` (0 or 1): it follows the writer, or after a failover whichever engine streams. */
function startReplica(index: number): Promise<EngineProcess> {
  const writerUrls = [writerPort, ...replicaPorts.filter((_, other) => other !== index)].map(
    (port) => `http://127.0.0.1:${port}`,
  );
  return startEngine(fleet, {
    httpPort: replicaPorts[index]!,
    args: [
      '--role',
      'replica',
      '--writer-url',
      writerUrls.join(','),
      '--node-id',
      `replica-${index + 1}`,
      '--cache-pages',
      '64',
    ],
  });
}

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One consistent read of the bank on `target`: the total, the account count and the transfers. */
async function bank(
  target: EngineProcess,
): Promise<{ sum: number; count: number; moved: number; transfers: number }> {
  const answer = await sql(target, [
    { sql: 'SELECT sum(balance), count(*) FROM accounts' },
    { sql: 'SELECT coalesce(sum(amount), 0), count(*) FROM transfers' },
    { sql: 'SELECT coalesce(sum(abs(balance - 1000)), 0) FROM accounts' },
  ]);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const [sum, count] = answer.body.results![0]!.rows[0] as [number, number];
  const [moved, transfers] = answer.body.results![1]!.rows[0] as [number, number];
  return { sum, count, moved, transfers };
}

interface LoadOptions {
  /** Stops the load sooner than `untilMs`, once true: a count, not a time (a busy machine takes longer, never does less). */
  readonly done?: (acknowledged: readonly number[]) => boolean;
  /** Grows as transfers are acknowledged, while the load runs. */
  readonly acknowledged?: number[];
}

function transferLoad(untilMs: number, firstId: number, options: LoadOptions = {}): Promise<number[]> {
  return transferLoadOn(writer, untilMs, firstId, options);
}

async function transferLoadOn(
  target: EngineProcess,
  untilMs: number,
  firstId: number,
  { done = () => false, acknowledged = [] }: LoadOptions = {},
): Promise<number[]> {
  let nextId = firstId;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < untilMs && !done(acknowledged)) {
        const id = nextId++;
        const from = 1 + (id % ACCOUNTS);
        const to = 1 + ((id * 7 + 3) % ACCOUNTS);
        try {
          const answer = await sql(target, [
            { sql: 'UPDATE accounts SET balance = balance - 5 WHERE id = ?', params: [from] },
            { sql: 'UPDATE accounts SET balance = balance + 5 WHERE id = ?', params: [to] },
            {
              sql: 'INSERT INTO transfers (id, src, dst, amount) VALUES (?, ?, ?, 5)',
              params: [id, from, to],
            },
          ]);
          if (answer.status === 200) acknowledged.push(id);
        } catch {
          return; // the writer is gone: this transfer's outcome is unknown, and it was not acknowledged
        }
      }
    }),
  );
  return acknowledged;
}

beforeAll(async () => {
  await fleet.start();
  [writerPort] = (await freePorts(1)) as [number];
  writer = await startEngine(fleet, { httpPort: writerPort, args: ['--cache-pages', '256'] });
  const setup = await setUpBank(writer, ACCOUNTS, OPENING_BALANCE);
  expect(setup.status, JSON.stringify(setup.body)).toBe(200);
  replicaPorts.push(...(await freePorts(2)));
  replicas.push(await startReplica(0), await startReplica(1));
}, 120_000);

afterAll(async () => {
  for (const process_ of [writer, ...replicas]) process_?.child.kill('SIGKILL');
  await fleet.stopAll();
  for (const process_ of [writer, ...replicas]) if (process_ !== undefined) removeEngineData(process_);
});

describe('read replicas over six storage-node processes', () => {
  it('answers only committed states under load, sees each write quickly, and reports its lag', async () => {
    // Until 60 transfers are acknowledged and 25 replica reads made under them (or a minute).
    let reads = 0;
    let loading = true;
    const load = transferLoad(Date.now() + 60_000, 1, {
      done: (acknowledged) => acknowledged.length >= 60 && reads >= 25,
    }).finally(() => {
      loading = false;
    });
    const readers = replicas.map(async (replica) => {
      while (loading) {
        const state = await bank(replica);
        expect(state.sum).toBe(ACCOUNTS * OPENING_BALANCE);
        expect(state.count).toBe(ACCOUNTS);
        // Every transfer row moved 5; no balance change without its row, nor a row without its change.
        expect(state.moved).toBeLessThanOrEqual(state.transfers * 10);
        reads++;
      }
    });
    const acknowledged = await load;
    await Promise.all(readers);
    expect(
      acknowledged.length,
      `acknowledged ${acknowledged.length}, replica reads ${reads}`,
    ).toBeGreaterThan(50);
    expect(reads).toBeGreaterThan(20);

    // Visibility: an acknowledged write shows on each replica within a bound.
    const marker = await sql(
      writer,
      'INSERT INTO transfers (id, src, dst, amount) VALUES (1000000, 1, 1, 0)',
    );
    expect(marker.status).toBe(200);
    const seenAt = Date.now();
    for (const replica of replicas) {
      await until(async () => {
        const answer = await sql(replica, 'SELECT count(*) FROM transfers WHERE id = 1000000');
        return answer.status === 200 && (answer.body.results![0]!.rows[0] as number[])[0] === 1;
      }, 5_000);
    }
    expect(Date.now() - seenAt).toBeLessThan(2_000);
    for (const replica of replicas) {
      const state = await bank(replica);
      expect(state.transfers).toBe(acknowledged.length + 1);
    }

    const status = (await engineStatus(writer)) as unknown as { replicas: { replicaId: string }[] };
    expect(status.replicas.map((replica) => replica.replicaId).sort()).toEqual(['replica-1', 'replica-2']);
    const metrics = await (await fetch(`http://127.0.0.1:${writer.httpPort}/metrics`)).text();
    const lagCount = (replica: string) =>
      Number(
        metrics
          .split('\n')
          .find((line) => line.startsWith(`northlight_replica_lag_seconds_count{replica="${replica}"}`))
          ?.split(' ')[1] ?? 0,
      );
    expect(lagCount('replica-1')).toBeGreaterThan(10);
    expect(lagCount('replica-2')).toBeGreaterThan(10);
    const replicaMetrics = await (await fetch(`http://127.0.0.1:${replicas[0]!.httpPort}/metrics`)).text();
    expect(replicaMetrics).toMatch(/^northlight_replica_stream_connected 1$/m);
    expect(replicaMetrics).toMatch(/^northlight_replica_applied_lsn \d+$/m);
    // A replica serves, and reads pages; the writer's driver series are not exported as a false 0.
    expect(replicaMetrics).toMatch(/^northlight_engine_serving 1$/m);
    expect(replicaMetrics).toMatch(/^northlight_engine_page_reads [1-9]\d*$/m);
    for (const writerOnly of ['vdl', 'pgs', 'accepting_writes', 'recovery_seconds', 'redo_records'])
      expect(replicaMetrics, writerOnly).not.toMatch(new RegExp(`^northlight_engine_${writerOnly} `, 'm'));
    expect(metrics).not.toMatch(/^northlight_replica_applied_lsn /m);
    // The cache counters move on both: SQLite's own page cache serves most pages.
    for (const text of [metrics, replicaMetrics])
      expect(text).toMatch(/^northlight_engine_cache_hits [1-9]\d*$/m);
  }, 60_000);

  it('refuses writes with 25006 naming the writer, and stays up', async () => {
    for (const statement of [
      'INSERT INTO accounts (id, balance) VALUES (999, 1)',
      'DELETE FROM transfers',
      'DROP TABLE accounts',
    ]) {
      const answer = await sql(replicas[0]!, statement);
      expect(answer.status).toBe(400);
      expect(answer.body.sqlstate).toBe('25006');
      expect(answer.body.message).toContain(`http://127.0.0.1:${writerPort}`);
    }
    // Over the PostgreSQL protocol the same refusal points to the read-write endpoint: the writer's
    // internal HTTP URL means nothing to a psql user, and is stale after a failover.
    const client = new pg.Client({
      host: '127.0.0.1',
      port: replicas[0]!.pgPort,
      user: 'app',
      database: 'app',
    });
    await client.connect();
    try {
      const refused = await client.query('DELETE FROM transfers').catch((error: pg.DatabaseError) => error);
      expect(refused).toMatchObject({
        code: '25006',
        message: expect.stringContaining('read-write endpoint'),
      });
      expect((refused as pg.DatabaseError).message).not.toMatch(/http:|127\.0\.0\.1/);
      expect((await client.query('SELECT count(*) AS n FROM accounts')).rows).toEqual([
        { n: String(ACCOUNTS) },
      ]);
    } finally {
      await client.end();
    }
    expect((await bank(replicas[0]!)).count).toBe(ACCOUNTS);
  });

  it('guards its HTTP routes: SQL takes the PostgreSQL password, the rest the internal token', async () => {
    const url = (target: { httpPort: number }, path: string) => `http://127.0.0.1:${target.httpPort}${path}`;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    // The internal routes: no token, a wrong one, the right one. A fence without the token changes nothing.
    const bare = await fetch(url(writer, '/v1/status'));
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect(await bare.json()).toMatchObject({ code: 'NL_AUTH_FAILED', sqlstate: '28000' });
    const wrong = await fetch(url(writer, '/v1/volume'), { headers: bearer(`${INTERNAL_TOKEN}-not`) });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: 'NL_AUTH_FAILED', sqlstate: '28P01' });
    const fence = await fetch(url(writer, '/v1/admin/fence'), {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`postgres:${INTERNAL_TOKEN}`).toString('base64')}` },
    });
    expect(fence.status).toBe(401);
    const writerStatus = await fetch(url(writer, '/v1/status'), { headers: INTERNAL_AUTH });
    expect(writerStatus.status).toBe(200);
    // The transport: the token proved to every storage node, none taken without it.
    expect(((await writerStatus.json()) as { transport: unknown }).transport).toEqual({
      authentication: 'required',
      authFailures: 0,
      unauthenticatedConnections: 0,
    });
    const replicaStatus = await fetch(url(replicas[0]!, '/v1/status'), { headers: INTERNAL_AUTH });
    expect(
      ((await replicaStatus.json()) as { transport: { authentication: string } }).transport.authentication,
    ).toBe('required');
    const stillWrites = await sql(
      writer,
      'INSERT INTO transfers (id, src, dst, amount) VALUES (1500000, 1, 1, 0)',
    );
    expect(stillWrites.status, JSON.stringify(stillWrites.body)).toBe(200);
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await fetch(url(writer, path))).status, path).toBe(200);
    const metrics = await (await fetch(url(writer, '/metrics'))).text();
    expect(metrics).toMatch(/^northlight_engine_http_auth_failures_total\{route="internal"\} [3-9]\d*$/m);

    // A replica with SCRAM: /v1/sql takes the PostgreSQL user and password as HTTP Basic (or the token).
    const password = 'a p@ss:word';
    const scram = await startEngine(fleet, {
      args: [
        '--role',
        'replica',
        '--writer-url',
        url(writer, ''),
        '--node-id',
        'replica-scram',
        '--pg-auth',
        'scram',
      ],
      env: { NL_ENGINE_PG_PASSWORD: password },
    });
    try {
      const query = (headers: Record<string, string>) =>
        fetch(url(scram, '/v1/sql'), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ sql: 'SELECT count(*) FROM accounts' }),
        });
      const basic = (user: string, secret: string) => ({
        authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`,
      });
      const none = await query({});
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Basic realm="northlight", charset="UTF-8"');
      expect(await none.json()).toMatchObject({ code: 'NL_AUTH_FAILED', sqlstate: '28000' });
      for (const headers of [basic('postgres', 'wrong'), basic('root', password)]) {
        const refused = await query(headers);
        expect(refused.status).toBe(401);
        const body = (await refused.json()) as { sqlstate: string; message: string };
        expect(body.sqlstate).toBe('28P01');
        expect(body.message).toMatch(/^password authentication failed for user "(postgres|root)"$/);
      }
      for (const headers of [basic('postgres', password), INTERNAL_AUTH]) {
        const answered = await query(headers);
        expect(answered.status).toBe(200);
        expect(((await answered.json()) as { results: { rows: number[][] }[] }).results[0]!.rows).toEqual([
          [ACCOUNTS],
        ]);
      }
    } finally {
      scram.child.kill('SIGKILL');
      await scram.exited;
      removeEngineData(scram);
    }

    // A replica holding the wrong token cannot follow the writer, and says why.
    const strangerDir = mkdtempSync(join(tmpdir(), 'northlight-engine-'));
    const stranger = await startEngine(fleet, {
      dataDir: strangerDir,
      args: ['--role', 'replica', '--writer-url', url(writer, ''), '--node-id', 'replica-stranger'],
      env: { NL_ENGINE_INTERNAL_TOKEN: 'some-other-clusters-token' },
      readyTimeoutMs: 6_000,
    }).catch((error: Error) => error);
    expect(stranger).toBeInstanceOf(Error);
    rmSync(strangerDir, { recursive: true, force: true });
    expect((stranger as Error).message).toContain("the writer wants the cluster's internal token");
    // It retries every 500 ms, but says so once (then once per 30 s), not a line per attempt.
    expect((stranger as Error).message.match(/cannot follow the writer's redo stream/g)).toHaveLength(1);
  }, 90_000);

  it('keeps answering through a writer restart, resyncs from storage, then follows the new writer', async () => {
    const before = await bank(replicas[0]!);
    writer.child.kill('SIGKILL');
    await writer.exited;
    // The stream is gone: the replicas still answer, from the committed state they reached.
    for (const replica of replicas) expect(await bank(replica)).toEqual(before);
    writer = await startEngine(fleet, {
      dataDir: writer.dataDir,
      httpPort: writerPort,
      args: ['--cache-pages', '256'],
    });
    const after = await sql(writer, 'INSERT INTO transfers (id, src, dst, amount) VALUES (2000000, 2, 2, 0)');
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    for (const replica of replicas) {
      await until(async () => {
        const answer = await sql(replica, 'SELECT count(*) FROM transfers WHERE id = 2000000');
        return answer.status === 200 && (answer.body.results![0]!.rows[0] as number[])[0] === 1;
      }, 20_000);
      const status = (await engineStatus(replica)) as unknown as {
        resyncs: number;
        streamConnected: boolean;
      };
      expect(status.resyncs).toBeGreaterThanOrEqual(1);
      expect(status.streamConnected).toBe(true);
      expect((await bank(replica)).sum).toBe(ACCOUNTS * OPENING_BALANCE);
    }
  }, 60_000);

  it('fails over: kill -9 of the writer under load, a replica promoted keeps every acknowledged commit', async () => {
    // Killed under load, once 10 transfers are acknowledged (however long this machine takes).
    const acknowledged: number[] = [];
    const load = transferLoad(Date.now() + 60_000, 3_000_000, { acknowledged });
    await until(async () => acknowledged.length >= 10, 60_000);
    writer.child.kill('SIGKILL');
    const killedAt = Date.now();
    await load;
    expect(acknowledged.length).toBeGreaterThan(5);
    const promoted = replicas[0]!;
    const promote = await fetch(`http://127.0.0.1:${promoted.httpPort}/v1/admin/promote`, {
      method: 'POST',
      headers: INTERNAL_AUTH,
    });
    expect(promote.status).toBe(202);
    // The first write the new writer acknowledges.
    let firstWriteMs = 0;
    await until(async () => {
      try {
        const answer = await sql(
          promoted,
          'INSERT INTO transfers (id, src, dst, amount) VALUES (4000000, 3, 3, 0)',
        );
        if (answer.status !== 200) return false;
        firstWriteMs = Date.now() - killedAt;
        return true;
      } catch {
        return false; // between the replica's API closing and the writer's opening
      }
    }, 30_000);
    console.log(JSON.stringify({ failover: { killToFirstAcknowledgedWriteMs: firstWriteMs } }));
    expect(firstWriteMs).toBeLessThan(15_000);
    const ids = await sql(promoted, 'SELECT id FROM transfers WHERE id >= 3000000 AND id < 4000000');
    const present = new Set((ids.body.results![0]!.rows as number[][]).map(([id]) => id));
    for (const id of acknowledged)
      expect(present.has(id), `acknowledged transfer ${id} is missing`).toBe(true);
    const state = await bank(promoted);
    expect(state.sum).toBe(ACCOUNTS * OPENING_BALANCE);
    const status = (await engineStatus(promoted)) as unknown as { driver: { state: string } };
    expect(status.driver.state).toBe('serving');
    // The other replica finds the new writer among its writer URLs and follows it.
    await until(async () => {
      const answer = await sql(replicas[1]!, 'SELECT count(*) FROM transfers WHERE id = 4000000');
      return answer.status === 200 && (answer.body.results![0]!.rows[0] as number[])[0] === 1;
    }, 30_000);
    expect((await bank(replicas[1]!)).sum).toBe(ACCOUNTS * OPENING_BALANCE);
  }, 90_000);

  it('fences the old writer: promoted while it still runs, it gets nothing acknowledged and exits 3', async () => {
    // After the failover, replica 1 is the writer and replica 2 follows it. Promote replica 2 while
    // replica 1 keeps running, as a partition from the control plane and the replicas would leave it.
    const oldWriter = replicas[0]!;
    const promoted = replicas[1]!;
    const before = await bank(oldWriter);
    const promote = await fetch(`http://127.0.0.1:${promoted.httpPort}/v1/admin/promote`, {
      method: 'POST',
      headers: INTERNAL_AUTH,
    });
    expect(promote.status).toBe(202);
    await until(async () => {
      try {
        return (
          (await sql(promoted, 'INSERT INTO transfers (id, src, dst, amount) VALUES (5000000, 4, 4, 0)'))
            .status === 200
        );
      } catch {
        return false;
      }
    }, 30_000);
    // The old writer: every write it takes now fails, and it learns the newer epoch and exits 3.
    let zombieAcknowledged = 0;
    for (let id = 5_000_001; id < 5_000_006; id++) {
      try {
        const answer = await sql(
          oldWriter,
          `INSERT INTO transfers (id, src, dst, amount) VALUES (${id}, 5, 5, 0)`,
        );
        if (answer.status === 200) zombieAcknowledged++;
      } catch {
        break; // it has exited
      }
    }
    expect(zombieAcknowledged).toBe(0);
    const code = await Promise.race([
      oldWriter.exited,
      new Promise((resolve) => setTimeout(() => resolve('running'), 20_000)),
    ]);
    expect(code, oldWriter.output.join('').split('\n').slice(-6).join('\n')).toBe(3);
    const after = await bank(promoted);
    expect(after.sum).toBe(ACCOUNTS * OPENING_BALANCE);
    expect(after.transfers).toBe(before.transfers + 1);
  }, 90_000);

  it('switches over: fence the writer, promote a replica; no acknowledged write lost, a short write gap', async () => {
    const current = replicas[1]!; // the writer since the previous test
    const target = await startEngine(fleet, {
      args: [
        '--role',
        'replica',
        '--writer-url',
        `http://127.0.0.1:${current.httpPort}`,
        '--node-id',
        'replica-3',
        '--cache-pages',
        '64',
      ],
    });
    replicas.push(target);
    await until(async () => (await sql(target, 'SELECT count(*) FROM accounts')).status === 200, 30_000);
    const acknowledged = await transferLoadOn(current, Date.now() + 30_000, 6_000_000, {
      done: (acknowledged) => acknowledged.length >= 20,
    });
    const fence = await fetch(`http://127.0.0.1:${current.httpPort}/v1/admin/fence`, {
      method: 'POST',
      headers: INTERNAL_AUTH,
    });
    expect(fence.status).toBe(202);
    const fencedAt = Date.now();
    expect(await current.exited).toBe(3);
    const promote = await fetch(`http://127.0.0.1:${target.httpPort}/v1/admin/promote`, {
      method: 'POST',
      headers: INTERNAL_AUTH,
    });
    expect(promote.status).toBe(202);
    let gapMs = 0;
    await until(async () => {
      try {
        const answer = await sql(
          target,
          'INSERT INTO transfers (id, src, dst, amount) VALUES (7000000, 6, 6, 0)',
        );
        if (answer.status !== 200) return false;
        gapMs = Date.now() - fencedAt;
        return true;
      } catch {
        return false;
      }
    }, 30_000);
    console.log(JSON.stringify({ switchover: { fenceToFirstAcknowledgedWriteMs: gapMs } }));
    expect(gapMs).toBeLessThan(3_000); // 479 ms alone here (goal 1 s); room for a loaded CI machine
    const ids = await sql(target, 'SELECT id FROM transfers WHERE id >= 6000000 AND id < 7000000');
    const present = new Set((ids.body.results![0]!.rows as number[][]).map(([id]) => id));
    for (const id of acknowledged)
      expect(present.has(id), `acknowledged transfer ${id} is missing`).toBe(true);
    expect((await bank(target)).sum).toBe(ACCOUNTS * OPENING_BALANCE);
  }, 90_000);
});
