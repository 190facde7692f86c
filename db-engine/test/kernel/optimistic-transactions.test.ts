/**
 * Optimistic interactive transactions (`TransactionGate` with `optimistic`, `--pg-transactions
 * optimistic`) on the real kernel: SQLite-in-wasm in its worker over the redo VFS and an in-memory
 * volume. It shows that:
 * - read-write transactions interleave: none holds the writer between its statements, so another
 *   client's statements and commits run meanwhile; each sees its own writes;
 * - COMMIT replays the transaction and commits it as ONE group; a transaction whose results would
 *   differ now (another transaction committed a change it read) fails with 40001 at the statement
 *   that finds it, or at COMMIT, and leaves nothing; blind increments of the same row both commit;
 * - a transaction takes the writer after all when it runs more statements than its budget, takes a
 *   savepoint, or asks to (`optimistic: false`), and its earlier statements are checked then too;
 * - against a serial model (fast-check: several clients with random transactions, interleaved at
 *   random), every committed transaction saw exactly what it would have seen running alone at its
 *   commit, in commit order, and the table ends as that serial history leaves it.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineReply } from '../../src/engine.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import type { ExecuteReply, SqlStatement, StatementResult } from '../../src/kernel/messages.js';
import type { GateTransaction, TransactionGate } from '../../src/transaction-gate.js';
import { gateOverKernel, MemoryVolume, startKernel } from './support/memory-volume.js';

const hosts: KernelHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.close()));
});

async function setup(
  options: Partial<ConstructorParameters<typeof TransactionGate>[1]> = {},
): Promise<{ gate: TransactionGate; groups: number[] }> {
  const volume = new MemoryVolume();
  const groups: number[] = [];
  const host = await startKernel(volume, { onGroup: (group) => groups.push(group.records.length) });
  hosts.push(host);
  const gate = gateOverKernel(host, {
    idleTimeoutMs: 10_000,
    lockWaitTimeoutMs: 10_000,
    optimistic: true,
    ...options,
  });
  const created = await gate.execute({
    statements: [
      { sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' },
      {
        sql: 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) INSERT INTO t SELECT i, i * 10 FROM n',
      },
    ],
  });
  expect(created.ok).toBe(true);
  groups.length = 0;
  return { gate, groups };
}

async function table(gate: TransactionGate): Promise<unknown[][]> {
  const reply = await gate.execute({
    statements: [{ sql: 'SELECT id, v FROM t ORDER BY id' }],
    readOnly: true,
  });
  return results(reply).at(-1)!.rows as unknown[][];
}

function results(reply: ExecuteReply | EngineReply): readonly StatementResult[] {
  if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results;
}

async function run(transaction: GateTransaction, sql: string, params?: SqlStatement['params']) {
  return transaction.run([params === undefined ? { sql } : { sql, params }]);
}

describe('optimistic transactions', () => {
  it('interleave without holding the writer, see their own writes, and commit as one group each', async () => {
    const { gate, groups } = await setup();
    const first = gate.begin({ readOnly: false });
    const second = gate.begin({ readOnly: false });
    expect(await run(first, 'DELETE FROM t WHERE id = 1')).toMatchObject({
      ok: true,
      value: [{ changes: 1 }],
    });
    // Nobody holds the writer: the other transaction and an autocommit request run at once.
    expect(gate.status().holder).toBeUndefined();
    expect(await run(second, 'UPDATE t SET v = v + 1 WHERE id = 2')).toMatchObject({ ok: true });
    const autocommit = await gate.execute({ statements: [{ sql: 'UPDATE t SET v = 0 WHERE id = 3' }] });
    expect(autocommit.ok).toBe(true);
    // Its own delete is there for its next statement; the re-insert of the same key works.
    expect(await run(first, 'INSERT INTO t VALUES (1, 111)')).toMatchObject({
      ok: true,
      value: [{ changes: 1 }],
    });
    const own = await run(first, 'SELECT v FROM t WHERE id IN (1, 3) ORDER BY id');
    expect(own.ok && own.value[0]!.rows).toEqual([[111], [0]]);
    // Others do not see either transaction's writes before its COMMIT.
    expect((await table(gate)).slice(0, 3)).toEqual([
      [1, 10],
      [2, 20],
      [3, 0],
    ]);
    expect(await first.commit()).toEqual({ ok: true, value: undefined });
    expect(await second.commit()).toEqual({ ok: true, value: undefined });
    expect((await table(gate)).slice(0, 3)).toEqual([
      [1, 111],
      [2, 21],
      [3, 0],
    ]);
    expect(groups).toHaveLength(3); // the autocommit request, then one group per transaction
    expect(gate.status()).toMatchObject({
      transactionsOpen: 0,
      transactionsCommitted: 2,
      transactionsCommittedOptimistic: 2,
      serializationFailures: 0,
    });
  });

  it('a transaction whose reads changed fails with 40001 at COMMIT and leaves nothing', async () => {
    const { gate, groups } = await setup();
    const reader = gate.begin({ readOnly: false });
    const read = await run(reader, 'SELECT v FROM t WHERE id = 4');
    expect(read.ok && read.value[0]!.rows).toEqual([[40]]);
    expect(await run(reader, 'UPDATE t SET v = ? WHERE id = 5', [40 + 1])).toMatchObject({ ok: true });
    const writer = gate.begin({ readOnly: false });
    await run(writer, 'UPDATE t SET v = 44 WHERE id = 4');
    expect(await writer.commit()).toEqual({ ok: true, value: undefined });
    const failed = await reader.commit();
    expect(failed).toMatchObject({
      ok: false,
      error: { sqlstate: '40001', code: 'NORTHLIGHT_SERIALIZATION_FAILURE' },
    });
    expect(!failed.ok && failed.error.message).toMatch(/statement 1 of the transaction gives another result/);
    expect((await table(gate)).slice(3, 5)).toEqual([
      [4, 44],
      [5, 50],
    ]);
    expect(groups).toHaveLength(1);
    expect(gate.status()).toMatchObject({ transactionsRolledBack: 1, serializationFailures: 1 });
  });

  it('the statement that finds a conflict fails with 40001; the transaction is then over', async () => {
    const { gate } = await setup();
    const first = gate.begin({ readOnly: false });
    expect(await run(first, 'DELETE FROM t WHERE id = 6')).toMatchObject({
      ok: true,
      value: [{ changes: 1 }],
    });
    const second = gate.begin({ readOnly: false });
    await run(second, 'DELETE FROM t WHERE id = 6');
    await run(second, 'INSERT INTO t VALUES (6, 66)');
    expect(await second.commit()).toEqual({ ok: true, value: undefined });
    // Its DELETE still deletes one row (the other's 6 = 66): what its client saw holds, so it goes on,
    // as it would have run after the other.
    expect(await run(first, 'INSERT INTO t VALUES (6, 600)')).toMatchObject({ ok: true });
    const third = gate.begin({ readOnly: false });
    await run(third, 'DELETE FROM t WHERE id = 7');
    // Row 6 gone: the DELETE it replays now deletes nothing, which is not what its client saw.
    await gate.execute({ statements: [{ sql: 'DELETE FROM t WHERE id = 7' }] });
    const next = await run(third, 'INSERT INTO t VALUES (7, 700)');
    expect(next).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect(await run(third, 'SELECT 1')).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect(await third.commit()).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect((await first.commit()).ok).toBe(true);
    expect((await table(gate)).slice(5, 7)).toEqual([
      [6, 600],
      [8, 80],
    ]);

    const fourth = gate.begin({ readOnly: false });
    await run(fourth, 'INSERT INTO t VALUES (100, 1)');
    const fifth = gate.begin({ readOnly: false });
    await run(fifth, 'INSERT INTO t VALUES (100, 2)');
    expect(await fifth.commit()).toEqual({ ok: true, value: undefined });
    // A replayed statement that now fails (the INSERT would collide) is a conflict, not its own error.
    const collided = await run(fourth, 'SELECT count(*) FROM t');
    expect(collided).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect(!collided.ok && collided.error.message).toMatch(/fails now \(.*UNIQUE.*\) where it succeeded/);
  });

  it('blind increments of one row do not conflict: both commit, in turn', async () => {
    const { gate } = await setup();
    const transactions = [gate.begin({ readOnly: false }), gate.begin({ readOnly: false })];
    for (const transaction of transactions) {
      expect(await run(transaction, 'UPDATE t SET v = v + 1 WHERE id = 7')).toMatchObject({
        ok: true,
        value: [{ changes: 1 }],
      });
    }
    for (const transaction of transactions) expect((await transaction.commit()).ok).toBe(true);
    expect((await table(gate))[6]).toEqual([7, 72]);
  });

  it('a failed statement ends the transaction; COMMIT reports it and nothing is kept', async () => {
    const { gate, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await run(transaction, 'UPDATE t SET v = 0 WHERE id = 8');
    expect(await run(transaction, 'INSERT INTO t VALUES (9, 1)')).toMatchObject({
      ok: false,
      error: { sqlstate: '23505' },
    });
    expect(await transaction.commit()).toMatchObject({ ok: false, error: { sqlstate: '23505' } });
    expect((await table(gate))[7]).toEqual([8, 80]);
    expect(groups).toEqual([]);
  });

  it('takes the writer past its statement budget, checking what it ran before', async () => {
    const { gate } = await setup({ optimisticMaxStatements: 2 });
    const transaction = gate.begin({ readOnly: false });
    await run(transaction, 'UPDATE t SET v = 1 WHERE id = 10');
    await run(transaction, 'UPDATE t SET v = 2 WHERE id = 11');
    expect(gate.status().holder).toBeUndefined();
    await run(transaction, 'UPDATE t SET v = 3 WHERE id = 12');
    expect(gate.status()).toMatchObject({ holder: { id: transaction.id }, transactionsPromoted: 1 });
    // Now others wait for it, as in serial mode.
    let done = false;
    const other = gate
      .execute({ statements: [{ sql: 'UPDATE t SET v = 9 WHERE id = 10' }] })
      .then((reply) => {
        done = true;
        return reply;
      });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    expect((await transaction.commit()).ok).toBe(true);
    expect((await other).ok).toBe(true);
    expect((await table(gate)).slice(9, 12)).toEqual([
      [10, 9],
      [11, 2],
      [12, 3],
    ]);

    const stale = gate.begin({ readOnly: false });
    const seen = await run(stale, 'SELECT v FROM t WHERE id = 13');
    expect(seen.ok && seen.value[0]!.rows).toEqual([[130]]);
    await gate.execute({ statements: [{ sql: 'UPDATE t SET v = 0 WHERE id = 13' }] });
    await run(stale, 'SELECT 1');
    // Its promotion replays the read, which changed.
    expect(await run(stale, 'SELECT 2')).toMatchObject({ ok: false, error: { sqlstate: '40001' } });
    expect(gate.status().holder).toBeUndefined();
  });

  it('takes the writer when its statements would pass 1 MiB, rather than send large values again and again', async () => {
    const { gate } = await setup();
    await gate.execute({ statements: [{ sql: 'CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)' }] });
    const transaction = gate.begin({ readOnly: false });
    const blob = new Uint8Array(600 * 1024).fill(7);
    await run(transaction, 'INSERT INTO blobs VALUES (1, ?)', [blob]);
    expect(gate.status().holder).toBeUndefined();
    await run(transaction, 'INSERT INTO blobs VALUES (2, ?)', [blob]);
    expect(gate.status()).toMatchObject({ holder: { id: transaction.id }, transactionsPromoted: 1 });
    expect((await transaction.commit()).ok).toBe(true);
    const stored = await gate.execute({
      statements: [{ sql: 'SELECT id, length(b) FROM blobs ORDER BY id' }],
    });
    expect(results(stored)[0]!.rows).toEqual([
      [1, blob.length],
      [2, blob.length],
    ]);
  });

  it('takes the writer for a savepoint, and ROLLBACK TO undoes only what follows it', async () => {
    const { gate, groups } = await setup();
    const transaction = gate.begin({ readOnly: false });
    await run(transaction, 'INSERT INTO t VALUES (21, 210)');
    expect(await transaction.savepoint()).toEqual({ ok: true, value: undefined });
    expect(gate.status().holder).toEqual({ id: transaction.id, heldMs: expect.any(Number) });
    await run(transaction, 'INSERT INTO t VALUES (22, 220)');
    expect(await transaction.rollbackTo(1)).toEqual({ ok: true, value: undefined });
    expect((await transaction.commit()).ok).toBe(true);
    expect((await table(gate)).slice(20)).toEqual([[21, 210]]);
    expect(groups).toHaveLength(1);
  });

  it('holds the writer from its first statement when it asks to', async () => {
    const { gate } = await setup();
    const transaction = gate.begin({ readOnly: false, optimistic: false });
    await run(transaction, 'UPDATE t SET v = 1 WHERE id = 1');
    expect(gate.status().holder).toEqual({ id: transaction.id, heldMs: expect.any(Number) });
    expect((await transaction.commit()).ok).toBe(true);
    expect(gate.status()).toMatchObject({ transactionsCommittedOptimistic: 0, transactionsCommitted: 1 });
  });

  it('is serializable: committed transactions saw what a serial run in commit order shows', {
    timeout: 3_600_000,
  }, async () => {
    // Within the budget: a transaction that took the writer would hold up this one-at-a-time driver.
    const { gate } = await setup({ optimisticMaxStatements: 6 });
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('read' as const), id: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant('sum' as const), id: fc.integer({ min: 1, max: 6 }) }),
      fc.record({
        kind: fc.constant('add' as const),
        id: fc.integer({ min: 1, max: 6 }),
        by: fc.integer({ min: 1, max: 9 }),
      }),
      fc.record({
        kind: fc.constant('set' as const),
        id: fc.integer({ min: 1, max: 6 }),
        to: fc.integer({ min: 0, max: 99 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 1, max: 6 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        id: fc.integer({ min: 1, max: 6 }),
        to: fc.integer({ min: 0, max: 99 }),
      }),
    );
    type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;
    const sqlOf = (op: Operation): SqlStatement => {
      switch (op.kind) {
        case 'read':
          return { sql: 'SELECT v FROM m WHERE id = ?', params: [op.id] };
        case 'sum':
          return { sql: 'SELECT count(*), sum(v) FROM m WHERE id >= ?', params: [op.id] };
        case 'add':
          return { sql: 'UPDATE m SET v = v + ? WHERE id = ?', params: [op.by, op.id] };
        case 'set':
          return { sql: 'UPDATE m SET v = ? WHERE id = ?', params: [op.to, op.id] };
        case 'delete':
          return { sql: 'DELETE FROM m WHERE id = ?', params: [op.id] };
        case 'insert':
          return { sql: 'INSERT INTO m VALUES (?, ?)', params: [op.id, op.to] };
      }
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(operation, { minLength: 1, maxLength: 6 }), { minLength: 2, maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
        async (programs, schedule) => {
          await gate.execute({
            statements: [
              { sql: 'DROP TABLE IF EXISTS m' },
              { sql: 'CREATE TABLE m(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' },
              { sql: 'INSERT INTO m VALUES (1, 1), (2, 2), (3, 3), (4, 4)' },
            ],
          });
          const clients = programs.map((program) => ({
            program,
            next: 0,
            transaction: gate.begin({ readOnly: false }),
            seen: [] as unknown[],
            outcome: undefined as undefined | 'committed' | 'failed',
          }));
          const committed: { program: Operation[]; seen: unknown[] }[] = [];
          let turn = 0;
          // Each turn moves one client chosen by the schedule: its next statement, or its COMMIT.
          while (clients.some((client) => client.outcome === undefined)) {
            const live = clients.filter((client) => client.outcome === undefined);
            const client = live[(schedule[turn++ % schedule.length] ?? 0) % live.length]!;
            if (client.next < client.program.length) {
              const reply = await client.transaction.run([sqlOf(client.program[client.next++]!)]);
              if (!reply.ok) {
                client.outcome = 'failed';
                await client.transaction.rollback();
              } else client.seen.push(reply.value[0]!.rows, reply.value[0]!.changes);
              continue;
            }
            const reply = await client.transaction.commit();
            client.outcome = reply.ok ? 'committed' : 'failed';
            if (reply.ok) committed.push({ program: client.program, seen: client.seen });
          }
          const final = results(
            await gate.execute({ statements: [{ sql: 'SELECT id, v FROM m ORDER BY id' }], readOnly: true }),
          )[0]!.rows;
          // The same transactions run one after another in commit order, on a fresh copy.
          await gate.execute({
            statements: [
              { sql: 'DROP TABLE m' },
              { sql: 'CREATE TABLE m(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)' },
              { sql: 'INSERT INTO m VALUES (1, 1), (2, 2), (3, 3), (4, 4)' },
            ],
          });
          for (const { program, seen } of committed) {
            const serial = gate.begin({ readOnly: false, optimistic: false });
            const observed: unknown[] = [];
            for (const op of program) {
              const reply = await serial.run([sqlOf(op)]);
              expect(reply.ok).toBe(true);
              if (reply.ok) observed.push(reply.value[0]!.rows, reply.value[0]!.changes);
            }
            expect((await serial.commit()).ok).toBe(true);
            expect(observed).toEqual(seen);
          }
          const serialFinal = results(
            await gate.execute({ statements: [{ sql: 'SELECT id, v FROM m ORDER BY id' }], readOnly: true }),
          )[0]!.rows;
          expect(final).toEqual(serialFinal);
        },
      ),
      // NL_OPTIMISTIC_RUNS / NL_OPTIMISTIC_SEED: a longer campaign (docs/db-engine.md, tests and campaigns).
      {
        numRuns: Number(process.env.NL_OPTIMISTIC_RUNS ?? 40),
        seed: Number(process.env.NL_OPTIMISTIC_SEED ?? 20261127),
      },
    );
    expect(gate.status()).toMatchObject({ transactionsOpen: 0 });
  });
});
