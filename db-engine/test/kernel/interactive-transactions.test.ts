/**
 * Interactive transactions (issue 8) on the real kernel: SQLite-in-wasm in its worker over the redo
 * VFS and an in-memory volume (support/memory-volume.ts), behind the `TransactionGate`. It shows that:
 * - a transaction's statements run across requests and commit as ONE group; ROLLBACK leaves nothing;
 * - while a read-write transaction holds the connection, other clients' requests wait and then see
 *   only its committed result; a READ ONLY transaction never blocks anyone;
 * - a failed statement rolls the transaction back at once and frees the writer; COMMIT then reports it;
 * - an idle transaction is rolled back after its timeout (25P03) and its connection is told; a waiter
 *   gives up after the lock-wait timeout (55P03) or when canceled (57014);
 * - a step of a transaction the kernel no longer has (it was replaced) fails with 40001;
 * - values come typed by storage class; `describeOnly` prepares without running;
 * - savepoints: after a failed statement a transaction that holds one stays open, aborted, holding the
 *   writer, and ROLLBACK TO resumes it; COMMIT then seals exactly the work before the savepoint plus
 *   the work after the ROLLBACK TO (a fresh kernel on the volume reads just that); RELEASE and nested
 *   savepoints; savepoints taken before the transaction reached the kernel; a failure that made
 *   SQLite roll the whole transaction back (an interrupted write, ON CONFLICT ROLLBACK) ends it, and
 *   ROLLBACK TO then refuses to resume it; the idle timeout still ends an aborted transaction;
 * - against a model (fast-check: random programs of inserts, deletes, failing statements, SAVEPOINT,
 *   RELEASE and ROLLBACK TO, then COMMIT), the kernel commits exactly the rows the model keeps, and a
 *   fresh kernel on the volume reads them back.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import type { ExecuteReply, ExecuteRequest } from '../../src/kernel/messages.js';
import type { TransactionGate } from '../../src/transaction-gate.js';
import { fillSql, gateOverKernel, MemoryVolume, startKernel } from './support/memory-volume.js';

const hosts: KernelHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.close()));
});

async function setup(
  options: Partial<ConstructorParameters<typeof TransactionGate>[1]> = {},
): Promise<{ host: KernelHost; gate: TransactionGate; volume: MemoryVolume; groups: number[] }> {
  const volume = new MemoryVolume();
  const groups: number[] = [];
  const host = await startKernel(volume, { onGroup: (group) => groups.push(group.records.length) });
  hosts.push(host);
  const gate = gateOverKernel(host, { idleTimeoutMs: 10_000, lockWaitTimeoutMs: 10_000, ...options });
  const created = await gate.execute({
    statements: [
      { sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)' },
      { sql: "INSERT INTO t VALUES (1, 'one')" },
    ],
  });
  expect(created.ok).toBe(true);
  groups.length = 0;
  return { host, gate, volume, groups };
}

function rows(reply: ExecuteReply): unknown[][] {
  if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results.at(-1)!.rows as unknown[][];
}

describe('interactive transactions', () => {
  it('commit several requests as one group, and others wait for the commit', async () => {
    const { gate, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    const first = await transaction.run([{ sql: "INSERT INTO t VALUES (2, 'two')" }], { typedValues: true });
    expect(first).toMatchObject({ ok: true, value: [{ changes: 1 }] });
    // Another client's read waits: it must not see the uncommitted row, and cannot run meanwhile.
    let readDone = false;
    const read = gate
      .execute({ statements: [{ sql: 'SELECT count(*) FROM t' }], readOnly: true })
      .then((reply) => {
        readDone = true;
        return reply;
      });
    const inside = await transaction.run([{ sql: 'SELECT id, v FROM t ORDER BY id' }], { typedValues: true });
    expect(inside.ok && inside.value[0]!.rows).toEqual([
      [1n, 'one'],
      [2n, 'two'],
    ]);
    await transaction.run([{ sql: "UPDATE t SET v = 'uno' WHERE id = ?", params: [1] }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readDone).toBe(false);
    expect(gate.status()).toMatchObject({ waiting: 1, transactionsOpen: 1 });
    expect(groups).toEqual([]);
    expect(await transaction.commit()).toEqual({ ok: true, value: undefined });
    expect(groups).toHaveLength(1); // the three statements are one MTR
    expect(rows(await read)).toEqual([[2]]);
    expect(gate.status()).toMatchObject({ waiting: 0, transactionsOpen: 0, transactionsCommitted: 1 });
  });

  it('roll back leaves nothing, and a READ ONLY transaction never takes the writer', async () => {
    const { gate, groups } = await setup();
    const writer = gate.begin({ readOnly: false });
    await writer.run([{ sql: 'DELETE FROM t' }]);
    await writer.rollback();
    expect(groups).toEqual([]);
    const reader = gate.begin({ readOnly: true });
    const holder = gate.begin({ readOnly: false });
    await holder.run([{ sql: "INSERT INTO t VALUES (3, 'three')" }]);
    // The reader waits for the holder like any request, but holds nothing itself: a write is refused.
    const refused = reader.run([{ sql: "INSERT INTO t VALUES (4, 'four')" }]);
    await holder.commit();
    expect(await refused).toMatchObject({ ok: false, error: { sqlstate: '25006' } });
    const counted = await reader.run([{ sql: 'SELECT count(*) FROM t' }]);
    expect(counted.ok && counted.value[0]!.rows).toEqual([[2]]);
    expect(gate.status().holder).toBeUndefined();
  });

  it('a failed statement rolls back at once and frees the writer; COMMIT reports the failure', async () => {
    const { gate, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await transaction.run([{ sql: "INSERT INTO t VALUES (5, 'five')" }]);
    const duplicate = await transaction.run([{ sql: "INSERT INTO t VALUES (1, 'again')" }]);
    expect(duplicate).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    expect(gate.status().holder).toBeUndefined();
    // Others run at once, and see neither row of the failed transaction.
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT id FROM t ORDER BY id' }] }))).toEqual([
      [1],
    ]);
    expect(await transaction.run([{ sql: 'SELECT 1' }])).toMatchObject({
      ok: false,
      error: { sqlstate: '23505' },
    });
    expect(await transaction.commit()).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    await transaction.rollback();
    expect(groups).toEqual([]);
    expect(gate.status()).toMatchObject({ transactionsOpen: 0, transactionsRolledBack: 1 });
  });

  it('an idle transaction is rolled back after its timeout and its connection told', async () => {
    const { gate } = await setup({ idleTimeoutMs: 150 });
    const abandoned: string[] = [];
    const transaction = gate.begin({
      readOnly: false,
      onAbandoned: (error) => abandoned.push(error.sqlstate),
    });
    await transaction.run([{ sql: "INSERT INTO t VALUES (6, 'six')" }]);
    const started = Date.now();
    const waiter = await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(rows(waiter)).toEqual([[1]]);
    expect(abandoned).toEqual(['25P03']);
    expect(await transaction.run([{ sql: 'SELECT 1' }])).toMatchObject({
      ok: false,
      error: { sqlstate: '25P03' },
    });
    expect(gate.status()).toMatchObject({ transactionsTimedOut: 1, transactionsOpen: 0 });
  });

  it('a waiter gives up after the lock-wait timeout, or when canceled', async () => {
    const { gate } = await setup({ lockWaitTimeoutMs: 100 });
    const transaction = gate.begin({ readOnly: false });
    await transaction.run([{ sql: "INSERT INTO t VALUES (7, 'seven')" }]);
    const timedOut = await gate.execute({ statements: [{ sql: 'SELECT 1' }] });
    expect(timedOut).toMatchObject({ ok: false, error: { sqlstate: '55P03' } });
    expect(!timedOut.ok && timedOut.error.message).toMatch(/held by transaction \d+/);
    const controller = new AbortController();
    const canceled = gate
      .begin({ readOnly: false })
      .run([{ sql: 'SELECT 1' }], { signal: controller.signal });
    controller.abort();
    expect(await canceled).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(gate.status().waiting).toBe(0);
    await transaction.commit();
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[2]]);
  });

  it('a step of a transaction the kernel no longer has fails with 40001', async () => {
    const { host } = await setup();
    const opened = await host.execute({
      statements: [{ sql: 'SELECT 1' }],
      transaction: { id: 41, step: 'open' },
    });
    expect(opened.ok).toBe(true);
    const stranger = await host.execute({
      statements: [{ sql: 'SELECT 1' }],
      transaction: { id: 99, step: 'rollback' },
    });
    expect(stranger).toMatchObject({ ok: true }); // a rollback of what is not open is a no-op
    const lost = await startKernel(new MemoryVolume());
    hosts.push(lost);
    const step = await lost.execute({
      statements: [{ sql: 'SELECT 1' }],
      transaction: { id: 41, step: 'continue' },
    });
    expect(step).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect(await host.execute({ statements: [], transaction: { id: 41, step: 'commit' } })).toMatchObject({
      ok: true,
    });
  });

  it('values come typed, and describeOnly prepares without running', async () => {
    const { gate, groups } = await setup();
    const inserted = await gate.execute({
      statements: [
        {
          sql: 'INSERT INTO t VALUES (?, ?)',
          params: [9_007_199_254_740_993n, 'big'],
        },
        { sql: "SELECT id, v, 2.5, x'01ff', NULL FROM t WHERE id > 1" },
      ],
      typedValues: true,
    });
    expect(rows(inserted)).toEqual([[9_007_199_254_740_993n, 'big', 2.5, new Uint8Array([1, 255]), null]]);
    groups.length = 0;
    const described = await gate.execute({
      statements: [{ sql: 'DELETE FROM t WHERE id = ?1 OR v = ?2 RETURNING id' }],
      describeOnly: true,
    });
    expect(described).toMatchObject({
      ok: true,
      results: [{ columns: ['id'], rows: [], parameterCount: 2, readOnly: false }],
    });
    expect(groups).toEqual([]);
    const several = await gate.execute({ statements: [{ sql: 'SELECT 1; SELECT 2' }], describeOnly: true });
    expect(several).toMatchObject({ ok: false, error: { sqlstate: '42601' } });
    const unknown = await gate.execute({
      statements: [{ sql: 'SELECT * FROM nowhere' }],
      describeOnly: true,
    });
    expect(unknown).toMatchObject({ ok: false, error: { sqlstate: '42P01' } });
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[2]]);
  });
});

describe('savepoints in interactive transactions', () => {
  /** Every row of t through a fresh kernel on the volume: what the sealed groups hold, nothing else. */
  async function rowsAfterRestart(volume: MemoryVolume): Promise<unknown[][]> {
    const fresh = await startKernel(volume);
    hosts.push(fresh);
    return rows(await fresh.execute({ statements: [{ sql: 'SELECT count(*), sum(id) FROM t' }] }));
  }

  it('ROLLBACK TO resumes a failed transaction; COMMIT seals exactly the work kept, in one group', async () => {
    const { gate, host, volume, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    // More pages on each side of the savepoint than SQLite's own cache holds (500): with
    // cache_spill=OFF none may reach the VFS before COMMIT, whatever ROLLBACK TO undoes.
    expect((await transaction.run([{ sql: fillSql(100, 25_099) }])).ok).toBe(true);
    expect(await transaction.savepoint()).toEqual({ ok: true, value: undefined });
    expect((await transaction.run([{ sql: fillSql(50_000, 74_999) }])).ok).toBe(true);
    const duplicate = await transaction.run([{ sql: "INSERT INTO t VALUES (1, 'again')" }]);
    expect(duplicate).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    // Aborted, and still holding the writer: everything but ROLLBACK TO and ROLLBACK is refused, and
    // another client's request waits.
    expect(gate.status().holder?.id).toBe(transaction.id);
    expect(await transaction.run([{ sql: 'SELECT 1' }])).toMatchObject({
      ok: false,
      error: { sqlstate: '25P02' },
    });
    expect(await transaction.savepoint()).toMatchObject({ ok: false, error: { sqlstate: '25P02' } });
    let readDone = false;
    const read = gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }).then((reply) => {
      readDone = true;
      return reply;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readDone).toBe(false);
    expect(await transaction.rollbackTo(1)).toEqual({ ok: true, value: undefined });
    const counted = await transaction.run([{ sql: 'SELECT count(*) FROM t' }]);
    expect(counted.ok && counted.value[0]!.rows).toEqual([[25_001]]);
    expect((await transaction.run([{ sql: "INSERT INTO t VALUES (2, 'two')" }])).ok).toBe(true);
    expect(await transaction.commit()).toEqual({ ok: true, value: undefined });
    expect(groups).toHaveLength(1);
    expect(groups[0]).toBeGreaterThan(500); // pages: more than SQLite's cache held
    expect(rows(await read)).toEqual([[25_002]]);
    const stats = await host.stats();
    expect(stats).toMatchObject({ writesOutsideBracket: 0 });
    const kept = 1 + 2 + ((100 + 25_099) * 25_000) / 2;
    expect(await rowsAfterRestart(volume)).toEqual([[25_002, kept]]);
  });

  it('RELEASE and nested savepoints: each undoes only what came after it', async () => {
    const { gate, volume } = await setup();
    const transaction = gate.begin({ readOnly: false });
    const insert = async (id: number) =>
      expect((await transaction.run([{ sql: `INSERT INTO t VALUES (${id}, 'x')` }])).ok).toBe(true);
    await insert(10);
    await transaction.savepoint(); // 1
    await insert(11);
    await transaction.savepoint(); // 2
    await insert(12);
    await transaction.savepoint(); // 3
    await insert(13);
    expect(await transaction.release(3)).toEqual({ ok: true, value: undefined }); // 13 stays, in 2
    expect(await transaction.rollbackTo(2)).toEqual({ ok: true, value: undefined }); // 12, 13 undone
    await insert(14);
    await transaction.savepoint(); // 3 again
    await insert(15);
    expect(await transaction.release(2)).toEqual({ ok: true, value: undefined }); // 2 and 3 gone, 14 and 15 kept
    expect(await transaction.rollbackTo(1)).toEqual({ ok: true, value: undefined }); // 11, 14, 15 undone
    await insert(16);
    expect(await transaction.commit()).toEqual({ ok: true, value: undefined });
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT id FROM t ORDER BY id' }] }))).toEqual([
      [1],
      [10],
      [16],
    ]);
    expect(await rowsAfterRestart(volume)).toEqual([[3, 1 + 10 + 16]]);
  });

  it('savepoints taken before the transaction reached the kernel are taken at its start', async () => {
    const { gate, volume } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await transaction.savepoint();
    await transaction.savepoint();
    expect(await transaction.release(2)).toEqual({ ok: true, value: undefined });
    expect(gate.status().holder).toBeUndefined(); // nothing reached the kernel yet
    expect((await transaction.run([{ sql: "INSERT INTO t VALUES (20, 'x')" }])).ok).toBe(true);
    expect(await transaction.run([{ sql: 'INSERT INTO nowhere VALUES (1)' }])).toMatchObject({
      ok: false,
      error: { sqlstate: '42P01' },
    });
    expect(await transaction.rollbackTo(1)).toEqual({ ok: true, value: undefined }); // 20 undone
    expect((await transaction.run([{ sql: "INSERT INTO t VALUES (21, 'x')" }])).ok).toBe(true);
    expect(await transaction.commit()).toEqual({ ok: true, value: undefined });
    expect(await rowsAfterRestart(volume)).toEqual([[2, 22]]);
  });

  it('a failure that rolled back the whole SQLite transaction ends it: ROLLBACK TO refuses to resume', async () => {
    const { gate, volume, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await transaction.run([{ sql: "INSERT INTO t VALUES (30, 'x')" }]);
    await transaction.savepoint();
    await transaction.run([{ sql: "INSERT INTO t VALUES (31, 'x')" }]);
    const conflict = await transaction.run([{ sql: "INSERT OR ROLLBACK INTO t VALUES (1, 'x')" }]);
    expect(conflict).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    expect(gate.status().holder).toBeUndefined(); // the writer is free at once
    const resumed = await transaction.rollbackTo(1);
    expect(resumed).toMatchObject({ ok: false, error: { sqlstate: '25P02' } });
    expect(!resumed.ok && resumed.error.message).toMatch(/whole transaction was already rolled back/);
    expect(await transaction.commit()).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    expect(groups).toEqual([]);
    expect(await rowsAfterRestart(volume)).toEqual([[1, 1]]);
  });

  it('a write interrupted by a cancel ends the transaction even with a savepoint', async () => {
    const { gate, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await transaction.run([{ sql: "INSERT INTO t VALUES (40, 'x')" }]);
    await transaction.savepoint();
    const controller = new AbortController();
    const endless =
      "WITH RECURSIVE c(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM c) INSERT INTO t SELECT i, 'y' FROM c";
    const running = transaction.run([{ sql: endless }], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect(await running).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(gate.status().holder).toBeUndefined();
    expect(await transaction.rollbackTo(1)).toMatchObject({ ok: false, error: { sqlstate: '25P02' } });
    await transaction.rollback();
    expect(groups).toEqual([]);
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[1]]);
  });

  it('a cancelled read keeps the transaction: ROLLBACK TO resumes it', async () => {
    const { gate } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await transaction.run([{ sql: "INSERT INTO t VALUES (50, 'x')" }]);
    await transaction.savepoint();
    const controller = new AbortController();
    const endless = 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT max(i) FROM c';
    const running = transaction.run([{ sql: endless }], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect(await running).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(gate.status().holder?.id).toBe(transaction.id);
    expect(await transaction.rollbackTo(1)).toEqual({ ok: true, value: undefined });
    expect(await transaction.commit()).toEqual({ ok: true, value: undefined });
    expect(rows(await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[2]]);
  });

  it('an aborted transaction is still ended by the idle timeout, which frees the writer', async () => {
    const { gate } = await setup({ idleTimeoutMs: 150 });
    const abandoned: string[] = [];
    const transaction = gate.begin({
      readOnly: false,
      onAbandoned: (error) => abandoned.push(error.sqlstate),
    });
    await transaction.savepoint();
    await transaction.run([{ sql: "INSERT INTO t VALUES (60, 'x')" }]);
    await transaction.run([{ sql: 'SELECT * FROM nowhere' }]);
    expect(gate.status().holder?.id).toBe(transaction.id);
    const waiter = await gate.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] });
    expect(rows(waiter)).toEqual([[1]]);
    expect(abandoned).toEqual(['25P03']);
    expect(await transaction.rollbackTo(1)).toMatchObject({ ok: false });
    expect(gate.status()).toMatchObject({ transactionsTimedOut: 1, transactionsOpen: 0 });
  });

  it('a READ ONLY transaction counts its savepoints and holds nothing', async () => {
    const { gate } = await setup();
    const reader = gate.begin({ readOnly: true });
    await reader.savepoint();
    expect(await reader.run([{ sql: 'SELECT * FROM nowhere' }])).toMatchObject({ ok: false });
    expect(await reader.rollbackTo(1)).toEqual({ ok: true, value: undefined });
    expect(await reader.release(1)).toEqual({ ok: true, value: undefined });
    const counted = await reader.run([{ sql: 'SELECT count(*) FROM t' }]);
    expect(counted.ok && counted.value[0]!.rows).toEqual([[1]]);
    expect(gate.status().holder).toBeUndefined();
    await reader.commit();
  });

  it('kernel steps: savepoints by depth, and a failed step without one still rolls back', async () => {
    const { host } = await setup();
    const step = (transaction: NonNullable<ExecuteRequest['transaction']>, sql?: string) =>
      host.execute({ statements: sql === undefined ? [] : [{ sql }], transaction });
    expect(
      await step({ id: 70, step: 'open', savepointDepth: 1 }, "INSERT INTO t VALUES (70, 'x')"),
    ).toMatchObject({
      ok: true,
    });
    expect(await step({ id: 70, step: 'continue' }, 'SELECT * FROM nowhere')).toMatchObject({
      ok: false,
      transactionKept: true,
    });
    // The kernel's savepoints are its own: user SQL cannot name them (the authorizer refuses it).
    expect(await step({ id: 70, step: 'rollback-to', savepointDepth: 1 })).toMatchObject({ ok: true });
    expect(await step({ id: 70, step: 'continue' }, 'RELEASE northlight_savepoint_1')).toMatchObject({
      ok: false,
      error: { sqlstate: '42501' },
      transactionKept: true,
    });
    // …and that refusal aborted the transaction like any failed statement.
    expect(await step({ id: 70, step: 'continue' }, 'SELECT 1')).toMatchObject({
      ok: false,
      error: { sqlstate: '25P02' },
      transactionKept: true,
    });
    expect(await step({ id: 70, step: 'commit' })).toMatchObject({ ok: false, error: { sqlstate: '25P02' } });
    expect(await step({ id: 71, step: 'open' }, 'SELECT * FROM nowhere')).not.toHaveProperty(
      'transactionKept',
    );
    expect(rows(await host.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[1]]);
  });

  it('random savepoint programs commit exactly what a model of PostgreSQL keeps', async () => {
    const { gate, volume } = await setup();
    type Operation =
      | { readonly kind: 'insert'; readonly id: number }
      | { readonly kind: 'delete'; readonly id: number }
      | { readonly kind: 'fail' }
      | { readonly kind: 'savepoint' }
      | { readonly kind: 'release'; readonly pick: number }
      | { readonly kind: 'rollback-to'; readonly pick: number };
    const operation: fc.Arbitrary<Operation> = fc.oneof(
      fc.record({
        kind: fc.constantFrom('insert' as const, 'delete' as const),
        id: fc.integer({ min: 1, max: 8 }),
      }),
      fc.record({ kind: fc.constantFrom('fail' as const, 'savepoint' as const) }),
      fc.record({ kind: fc.constantFrom('release' as const, 'rollback-to' as const), pick: fc.nat(7) }),
    );
    let committed = [1];
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 24 }), async (program) => {
        // Each program starts from the same table, so a counterexample shrinks and replays alone.
        const reset = await gate.execute({
          statements: [{ sql: 'DELETE FROM t' }, { sql: "INSERT INTO t VALUES (1, 'one')" }],
        });
        expect(reset.ok).toBe(true);
        committed = [1];
        // The model: the rows the transaction would have, a snapshot per savepoint, and whether a
        // failure aborted it (savepoints held: ROLLBACK TO may resume) or ended it (none held).
        let rows = new Set(committed);
        let savepoints: Set<number>[] = [];
        let state = 'open' as 'open' | 'aborted' | 'ended';
        const transaction = gate.begin({ readOnly: false });
        const failed = () => {
          state = savepoints.length > 0 ? 'aborted' : 'ended';
        };
        for (const step of program) {
          if (step.kind === 'release' || step.kind === 'rollback-to') {
            if (savepoints.length === 0) continue; // the protocol answers 3B001 itself
            const depth = (step.pick % savepoints.length) + 1;
            if (step.kind === 'release') {
              const reply = await transaction.release(depth);
              expect(reply.ok).toBe(state === 'open');
              if (state === 'open') savepoints = savepoints.slice(0, depth - 1);
            } else {
              const reply = await transaction.rollbackTo(depth);
              expect(reply.ok).toBe(state !== 'ended');
              if (state !== 'ended') {
                rows = new Set(savepoints[depth - 1]);
                savepoints = savepoints.slice(0, depth);
                state = 'open';
              }
            }
          } else if (step.kind === 'savepoint') {
            const reply = await transaction.savepoint();
            expect(reply.ok).toBe(state === 'open');
            if (state === 'open') savepoints.push(new Set(rows));
          } else {
            const sql =
              step.kind === 'fail'
                ? 'SELECT * FROM nowhere'
                : step.kind === 'insert'
                  ? `INSERT INTO t VALUES (${step.id}, 'x')`
                  : `DELETE FROM t WHERE id = ${step.id}`;
            const reply = await transaction.run([{ sql }]);
            const ok =
              state === 'open' && step.kind !== 'fail' && !(step.kind === 'insert' && rows.has(step.id));
            expect(reply.ok).toBe(ok);
            if (ok && step.kind === 'insert') rows.add(step.id);
            if (ok && step.kind === 'delete') rows.delete(step.id);
            if (!ok && state === 'open') failed();
          }
        }
        const outcome = await transaction.commit();
        expect(outcome.ok).toBe(state === 'open');
        if (outcome.ok) committed = [...rows].sort((a, b) => a - b);
        expect(gate.status().holder).toBeUndefined();
        expect(gate.status().transactionsOpen).toBe(0);
        const read = await gate.execute({ statements: [{ sql: 'SELECT id FROM t ORDER BY id' }] });
        expect(read.ok && read.results[0]!.rows.map((row) => row[0])).toEqual(committed);
      }),
      { numRuns: 200 },
    );
    const fresh = await startKernel(volume);
    hosts.push(fresh);
    const reread = await fresh.execute({ statements: [{ sql: 'SELECT id FROM t ORDER BY id' }] });
    expect(reread.ok && reread.results[0]!.rows.map((row) => row[0])).toEqual(committed);
  }, 60_000);
});
