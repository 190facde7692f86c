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
 * - values come typed by storage class; `describeOnly` prepares without running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineReply } from '../../src/engine.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import type { ExecuteReply } from '../../src/kernel/messages.js';
import { TransactionGate } from '../../src/transaction-gate.js';
import { MemoryVolume, startKernel } from './support/memory-volume.js';

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
  const gate = new TransactionGate(
    async (request, kernelDone) => {
      const reply = await host.execute(request);
      kernelDone?.();
      return reply as EngineReply;
    },
    { idleTimeoutMs: 10_000, lockWaitTimeoutMs: 10_000, ...options },
  );
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
