/**
 * Gossip and repair from peers (paper §3.3 step 4), on six storage node cores in the simulator's
 * cluster: a segment that missed batches (down, or simply not sent to) pulls the records above its SCL
 * from a random peer until it reaches the head; a restarted node catches up the same way; a record or
 * a page image that rots is dropped by scrub and refilled or repaired from a peer; gossip never
 * crosses truncation epochs and never serves a segment that is not a member.
 */
import { asSegmentId } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { noopStorageMetrics, type StorageMetrics, type StorageNodeOptions } from '../src/index.js';
import { pg } from './support/core-rig.js';
import { Harness, NODES, OPTIONS, segmentOf } from './support/six-cores.js';

/** Options whose gossip only runs when a test calls `gossipRound()`, counting every pull sent. */
function countingPulls(replyBytesMax: number): { options: StorageNodeOptions; pulls: () => number } {
  let pulls = 0;
  const metrics: StorageMetrics = {
    ...noopStorageMetrics,
    gossipPull: (direction) => void (direction === 'sent' && pulls++),
  };
  return {
    options: { ...OPTIONS, gossipIntervalMs: 0, gossipReplyBytesMax: replyBytesMax, metrics },
    pulls: () => pulls,
  };
}

describe('gossip', () => {
  it('pulls again at once while a reply leaves it behind, and stops once it reaches the peer', async () => {
    // A small gap, filled by one reply that reaches the peer's SCL: one pull, no second one.
    const small = countingPulls(64 * 1024);
    const harness = new Harness(5, [0], small.options);
    await harness.ready();
    const head = harness.write(0, 20, ['s1', 's2', 's3', 's4', 's5']).at(-1)!.lsn;
    await harness.settle(() => harness.scl('s5', 0) === head && harness.scl('s1', 0) === head);
    harness.core('s6').gossipRound();
    await harness.settle(() => harness.scl('s6', 0) === head);
    await harness.cluster.runFor(500);
    expect(small.pulls()).toBe(1);
    // Heat is the writer's load: what s6 copied from a peer is not, what s1 was sent is.
    const heatOf = (node: string) =>
      harness
        .core(node)
        .status()
        .segments.find((segment) => segment.pgId === 0)!.appendRecordsPerSecond;
    expect(heatOf('s6')).toBe(0);
    expect(heatOf('s1')).toBeGreaterThan(0);

    // A gap larger than a reply: the pulls follow each other without waiting for a round.
    const budget = countingPulls(512);
    const behind = new Harness(6, [0], budget.options);
    await behind.ready();
    const far = behind.write(0, 200, ['s1', 's2', 's3', 's4', 's5']).at(-1)!.lsn;
    await behind.settle(() => behind.scl('s5', 0) === far && behind.scl('s1', 0) === far);
    behind.core('s6').gossipRound();
    await behind.settle(() => behind.scl('s6', 0) === far);
    expect(budget.pulls()).toBeGreaterThan(5);
  });

  it('fills the records a segment was never sent, in pulls bounded by the reply budget', async () => {
    const harness = new Harness(1, [0, 1]);
    await harness.ready();
    const records0 = harness.write(0, 300, ['s1', 's2', 's3', 's4']);
    const records1 = harness.write(1, 120, ['s3', 's4', 's5', 's6']);
    const head0 = records0.at(-1)!.lsn;
    const head1 = records1.at(-1)!.lsn;
    await harness.settle(() =>
      NODES.every(([node]) => harness.scl(node, 0) === head0 && harness.scl(node, 1) === head1),
    );
    for (const [node] of NODES) {
      const status = harness.core(node).status();
      for (const segment of status.segments) {
        expect(segment.recordsAboveScl).toBe(0);
        expect(segment.knownGaps).toBe(0);
      }
      for (const pageNo of harness.model.pages().filter((page) => page < 64)) {
        expect(await harness.readPage(node, 0, pageNo, head0)).toEqual(harness.model.pageAt(pageNo, head0));
      }
    }
  });

  it('brings a node that was down (power loss) back to the head, and keeps serving meanwhile', async () => {
    const harness = new Harness(2, [0]);
    await harness.ready();
    harness.write(
      0,
      40,
      NODES.map(([node]) => node),
    );
    await harness.settle(() => NODES.every(([node]) => harness.scl(node, 0) === 40n));
    harness.cluster.crash('s5', { kind: 'power-loss' });
    harness.cluster.crash('s6', { kind: 'power-loss' });
    const more = harness.write(0, 200, ['s1', 's2', 's3', 's4']);
    const head = more.at(-1)!.lsn;
    await harness.settle(() => ['s1', 's2', 's3', 's4'].every((node) => harness.scl(node, 0) === head));
    harness.cluster.start('s5');
    harness.cluster.start('s6');
    await harness.settle(() => harness.scl('s5', 0) === head && harness.scl('s6', 0) === head);
    // The records came by gossip, durably: a second power loss keeps them.
    harness.cluster.crash('s5', { kind: 'power-loss' });
    harness.cluster.start('s5');
    await harness.settle(() => harness.scl('s5', 0) === head);
  });

  it('refills a rotten record and repairs a rotten page image from a peer, found by scrub', async () => {
    const harness = new Harness(3, [0], { ...OPTIONS, materializeIntervalMs: 0 });
    await harness.ready();
    const records = harness.write(
      0,
      60,
      NODES.map(([node]) => node),
    );
    const head = records.at(-1)!.lsn;
    await harness.settle(() => NODES.every(([node]) => harness.scl(node, 0) === head));
    for (const [node] of NODES) {
      harness.send(node, {
        type: 'min-read-point',
        pgId: pg(0),
        segmentId: segmentOf(0, node),
        volumeEpoch: 0n as never,
        minReadPoint: 30n as never,
      });
    }
    await harness.cluster.runFor(20);
    // s1 materializes through 30 (pages as of 30), its records above stay in the log.
    const s1 = harness.core('s1');
    void s1.materializeStep();
    await harness.settle(() => s1.status().segments[0]!.materializedThrough === 30n);
    // Rot one page image: scrub finds it, a peer's copy as of 30 replaces it.
    await harness.rotUntilScrubbed('s1', (path) => path.endsWith('pages.dat'), 'pageCount');
    await harness.settle(() => s1.status().segments[0]!.damagedPages === 0);
    expect(s1.status().damage.pages).toEqual([]);
    for (const pageNo of harness.model.pages()) {
      expect(await harness.readPage('s1', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
      expect(await harness.readPage('s1', 0, pageNo, 30n)).toEqual(harness.model.pageAt(pageNo, 30n));
    }
    // Rot one record above the image point: scrub drops it, the SCL falls, gossip refills it.
    await harness.rotUntilScrubbed('s1', (path) => path.includes('/log/'), 'recordCount');
    await harness.settle(() => harness.scl('s1', 0) === head && s1.status().damage.records.length === 0);
    for (const pageNo of harness.model.pages()) {
      expect(await harness.readPage('s1', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
    }
  });

  it('repairs a rotten page even once every peer reads no lower than the PG has moved on to', async () => {
    const harness = new Harness(5, [0], { ...OPTIONS, materializeIntervalMs: 0 });
    await harness.ready();
    const records = harness.write(
      0,
      120,
      NODES.map(([node]) => node),
    );
    const head = records.at(-1)!.lsn;
    await harness.settle(() => NODES.every(([node]) => harness.scl(node, 0) === head));
    const announce = (node: string, minReadPoint: bigint) =>
      harness.send(node, {
        type: 'min-read-point',
        pgId: pg(0),
        segmentId: segmentOf(0, node),
        volumeEpoch: 0n as never,
        minReadPoint: minReadPoint as never,
      });
    announce('s1', 30n);
    await harness.cluster.runFor(20);
    const s1 = harness.core('s1');
    void s1.materializeStep();
    await harness.settle(() => s1.status().segments[0]!.materializedThrough === 30n);
    // The peers' read floor moves to 100 (the PG moved on) before s1 hears of it.
    for (const [node] of NODES.slice(1)) announce(node, 100n);
    await harness.cluster.runFor(20);
    await harness.rotUntilScrubbed('s1', (path) => path.endsWith('pages.dat'), 'pageCount');
    // Every peer refuses the page as of 30 (below its floor): no repair while s1 stays at 30.
    await harness.cluster.runFor(1000);
    expect(s1.status().segments[0]!.damagedPages).toBe(1);
    expect(s1.status().segments[0]!.gcThrough).toBe(30n);
    // s1 hears of 100: it materializes the other pages past the damaged one (GC waits), and the repair
    // asks for the page as of the new point, brings it up to date and installs it.
    announce('s1', 100n);
    await harness.cluster.runFor(20);
    for (let step = 0; step < 5; step++) {
      let done = false;
      void s1.materializeStep().then(() => {
        done = true;
      });
      await harness.settle(() => done);
    }
    expect(s1.status().segments[0]!.materializedThrough).toBe(100n);
    await harness.settle(() => s1.status().segments[0]!.damagedPages === 0);
    for (const pageNo of harness.model.pages()) {
      expect(await harness.readPage('s1', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
      expect(await harness.readPage('s1', 0, pageNo, 100n)).toEqual(harness.model.pageAt(pageNo, 100n));
    }
    // GC resumes once nothing is damaged; the repaired image survives a power loss.
    let collected = false;
    void s1.materializeStep().then(() => {
      collected = true;
    });
    await harness.settle(() => collected);
    expect(s1.status().segments[0]!.gcThrough).toBe(100n);
    harness.cluster.crash('s1', { kind: 'power-loss' });
    harness.cluster.start('s1');
    await harness.settle(() => harness.core('s1')?.state === 'serving' && harness.scl('s1', 0) === head);
    expect(harness.core('s1').status().segments[0]!.damagedPages).toBe(0);
    for (const pageNo of harness.model.pages())
      expect(await harness.readPage('s1', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
  });

  it('never exchanges records across truncation epochs, nor with a segment that is not a member', async () => {
    const harness = new Harness(4, [0]);
    await harness.ready();
    const records = harness.write(0, 20, ['s1', 's2', 's3', 's4']);
    await harness.settle(() => harness.scl('s1', 0) === records.at(-1)!.lsn);
    // s6 applies a truncation of epoch 1 (recovery) that s1..s4 have not seen: no exchange either way.
    harness.send('s6', {
      type: 'truncate',
      requestId: 1n,
      pgId: pg(0),
      segmentId: segmentOf(0, 's6'),
      volumeEpoch: 1n as never,
      ranges: [{ volumeEpoch: 1n as never, fromExclusive: 10n as never, toInclusive: 1000n as never }],
    });
    await harness.cluster.runFor(2000);
    expect(harness.scl('s6', 0)).toBe(0n);
    expect(harness.scl('s5', 0)).toBe(records.at(-1)!.lsn);
    // A pull naming a segment outside the PG's members gets no answer (and no records).
    const before = harness.core('s1').status().segments[0]!;
    harness.send('s1', {
      type: 'gossip-pull',
      requestId: 9n,
      pgId: pg(0),
      segmentId: segmentOf(0, 's1'),
      fromSegmentId: asSegmentId('pg0-intruder'),
      truncationEpoch: 0n as never,
      scl: 0n as never,
      maxBytes: 1 << 20,
    });
    await harness.cluster.runFor(100);
    expect(harness.core('s1').status().segments[0]).toMatchObject({
      scl: before.scl,
      recordsHeld: before.recordsHeld,
    });
  });
});
