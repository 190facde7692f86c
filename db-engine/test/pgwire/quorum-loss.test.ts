/**
 * The PostgreSQL protocol through a write-quorum loss, end to end: the engine process over six
 * storage-node processes, three of them killed (a write quorum is 4 of 6, so writes cannot become
 * durable; reads still can). A write then waits for durability, and a READ ONLY transaction that reads
 * what it wrote waits too; when the write-quorum timeout fires both fail. The read must come back as
 * an ERROR 57P03 (retry later) with the session going on, never FATAL XX000 — the defect that had psql
 * drop its connection. Then, with the engine serving the durable volume read-only, reads answer and
 * writes are refused with 57P03; and psql itself shows the same ERROR.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EngineProcess,
  engineStatus,
  removeEngineData,
  StorageFleet,
  startEngine,
} from '../support/engine-rig.js';

const WRITE_QUORUM_TIMEOUT_MS = 2_000;
const fleet = new StorageFleet(1024 * 1024);
let engine: EngineProcess | undefined;

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: engine!.pgPort, user: 'app', database: 'app' });
}

beforeAll(async () => {
  await fleet.start();
  engine = await startEngine(fleet, {
    args: ['--write-quorum-timeout-ms', String(WRITE_QUORUM_TIMEOUT_MS)],
  });
}, 120_000);

afterAll(async () => {
  engine?.child.kill('SIGKILL');
  await engine?.exited;
  await fleet.stopAll();
  if (engine !== undefined) removeEngineData(engine);
}, 60_000);

describe('write quorum lost, over the PostgreSQL protocol', () => {
  it('a READ ONLY transaction waiting for what it read gets ERROR 57P03 and the session goes on', async () => {
    const writer = client();
    const reader = client();
    await writer.connect();
    await reader.connect();
    try {
      await writer.query('CREATE TABLE t(id INTEGER PRIMARY KEY)');
      await writer.query('INSERT INTO t VALUES (1), (2)');
      for (const name of ['s1', 's2', 's3'] as const) await fleet.kill(name);

      // The write commits in the kernel and waits for a durability that cannot come.
      const write = writer.query('INSERT INTO t VALUES (3)').catch((error: pg.DatabaseError) => error);
      // Until its redo group waits in the quorum driver (not a fixed time: a busy machine is slower).
      const waitingBy = Date.now() + 30_000;
      while (!((await engineStatus(engine!)).driver.groupsWaiting > 0)) {
        expect(Date.now(), 'the INSERT never reached the quorum driver').toBeLessThan(waitingBy);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const read = await reader
        .query('BEGIN READ ONLY; SELECT count(*) FROM t')
        .catch((error: pg.DatabaseError) => error);
      expect(read).toBeInstanceOf(pg.DatabaseError);
      expect(read).toMatchObject({ severity: 'ERROR', code: '57P03' });
      expect(await write).toMatchObject({ code: '57P03', message: expect.stringContaining('quorum') });
      // Still connected: the failed block ends with ROLLBACK, and the session reads on.
      await reader.query('ROLLBACK');

      // Degraded: the engine serves the durable volume (not the unacknowledged row) and refuses writes.
      let counted: unknown;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        counted = await reader.query('SELECT count(*) AS n FROM t').catch((error: Error) => error);
        if (!(counted instanceof Error)) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(counted).toMatchObject({ rows: [{ n: '2' }] });
      const refused = await writer
        .query('INSERT INTO t VALUES (4)')
        .catch((error: pg.DatabaseError) => error);
      expect(refused).toMatchObject({ severity: 'ERROR', code: '57P03' });
      const readOnly = await reader.query('BEGIN READ ONLY; SELECT count(*) AS n FROM t; COMMIT');
      expect((readOnly as unknown as pg.QueryResult[])[1]!.rows).toEqual([{ n: '2' }]);
    } finally {
      await writer.end().catch(() => {});
      await reader.end().catch(() => {});
    }
  }, 90_000);

  it('psql shows a refused write as an ERROR with its SQLSTATE, and carries on', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      '/usr/bin/psql',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(engine!.pgPort),
        '-U',
        'app',
        '-d',
        'app',
        '-X',
        '-v',
        'VERBOSITY=verbose',
        '-c',
        'INSERT INTO t VALUES (5)',
        '-c',
        'BEGIN READ ONLY',
        '-c',
        'SELECT count(*) FROM t',
      ],
      { env: { ...process.env, PGCONNECT_TIMEOUT: '10' }, timeout: 30_000 },
    );
    expect(stderr).toMatch(/^ERROR: {2}57P03: /m);
    expect(stderr).not.toMatch(/FATAL|XX000/);
    expect(stdout).toMatch(/^\s+2$/m);
  }, 60_000);
});
