/**
 * A directed schedule for the one recovery step random faults rarely exercise: bringing the records
 * in (H, VDL] to a write quorum before serving (RFC 0001 §3). w1 writes a transaction that reaches
 * only s1 (the other links are cut), then dies. w2 recovers: the walk finds the record on s1 alone and
 * keeps it (VDL covers it). w2 then commits more, and s1's disk is destroyed. With re-replication the
 * record survives on four segments; with the planted bug (serve without re-replicating) it is lost —
 * below an acknowledged commit — and the durable-on-disk checker says so.
 */
import { asNodeId, asPageNo, asPgId } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/cluster.js';
import { Prng } from '../src/prng.js';
import type { Workload } from '../src/runner.js';
import type { ToyWriter } from '../src/workloads/quorum-writer/toy-writer.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../src/workloads/quorum-writer/workload.js';

const storage = ['s1', 's2', 's3', 's4', 's5', 's6'].map(asNodeId);

function transaction(id: number) {
  return {
    id,
    writes: [
      { pgId: asPgId(0), pageNo: asPageNo(id % 8), runs: [{ offset: 8, bytes: new Uint8Array([id]) }] },
    ],
  };
}

async function directedRun(workload: Workload) {
  const cluster = new SimCluster({ seed: 7n });
  await workload.setup(cluster, new Prng(7).fork('workload'));
  await cluster.runFor(200);
  const w1 = cluster.instance<ToyWriter>('w1')!;
  expect(w1.phase).toBe('serving');
  expect(w1.submit(transaction(1))).toBe(true);
  await cluster.runFor(50); // transaction 1 is acknowledged on all six
  const cut = cluster.network.partition([asNodeId('w1')], storage.slice(1));
  expect(w1.submit(transaction(2))).toBe(true); // reaches s1 only
  await cluster.runFor(20);
  cluster.crash('w1', { kind: 'process' });
  cut.heal();
  cluster.start('w2');
  await cluster.runFor(300);
  const w2 = cluster.instance<ToyWriter>('w2')!;
  expect(w2.phase).toBe('serving');
  for (let id = 3; id < 10; id++) w2.submit(transaction(id));
  await cluster.runFor(100);
  cluster.wipe('s1');
  for (const id of storage.slice(1)) cluster.crash(id, { kind: 'power-loss' });
  await cluster.runFor(1);
  return workload.check(cluster);
}

describe('recovery re-replicates (H, VDL] before serving', () => {
  it('keeps a record found on one segment once that segment is lost', async () => {
    const result = await directedRun(quorumWriterWorkload({ ...QUICK_PROFILE, name: 'directed' }));
    expect(result.violations).toEqual([]);
    expect(Number(result.stats?.commitsAcknowledged)).toBeGreaterThanOrEqual(8);
  });

  it('loses it, and the checker says so, when the writer skips re-replication (planted bug)', async () => {
    const result = await directedRun(
      quorumWriterWorkload({ ...QUICK_PROFILE, name: 'directed-bug', skipRereplication: true }),
    );
    expect(result.violations.map((violation) => violation.checker)).toContain('durable-on-disk');
  });
});
