/**
 * Proves the node's lifecycle and housekeeping: dropping a segment is durable and reclaims its log
 * files and page slots; `stop()` drains in-flight batches (each is synced and acknowledged before it
 * resolves) and answers nothing afterwards; disk I/O errors make the core reload from disk and keep
 * serving without losing an acknowledged record; the control log is compacted and its state survives;
 * the S3 staging seam (`requireBackupBeforeGc`) holds GC back until the backup confirms; background
 * materialization and scrub run on their own timers; `status()` reports heat, gaps and sizes. A
 * `stop()` during the replay (a signal while the process starts) ends `start()` between replay steps
 * (storage.ts S5), creates no log file, and the next start holds every acknowledged record.
 */
import { asPgId, type SegmentId } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import type { StorageNodeOptions } from '../src/index.js';
import { CoreRig, epoch, lsn, pg, singleCoreCluster, TEST_OPTIONS } from './support/core-rig.js';
import { run, TestWriter } from './support/history.js';
import { PumpWriter } from './support/pump-writer.js';

async function fill(
  rig: CoreRig,
  segment: SegmentId,
  writer: TestWriter,
  pgId: number,
  count: number,
  bytes = 200,
) {
  for (let index = 0; index < count; index++) {
    const record = writer.record(pgId, pgId * 64 + (index % 4), [run(0, bytes, index + 1)]);
    expect((await rig.request(writer.batch(segment, [record], record.lsn - 1n)))?.type).toBe('append-ack');
  }
}

describe('lifecycle', () => {
  it('ends the start between replay steps when stopped during the replay, and loses nothing', async () => {
    let stoppedBeforeTheEnd = 0;
    for (const stopAfterMs of [0, 1, 2, 3, 4, 8]) {
      const rig = new CoreRig(61);
      await rig.start();
      const segment = await rig.createSegment(0);
      await fill(rig, segment, new TestWriter(), 0, 40); // several 8 KiB log files to replay
      rig.processCrash();
      const files = rig.disk.paths().sort();
      const logsBefore = rig.logs.length;
      const started = rig.core.start();
      await rig.runFor(stopAfterMs);
      await rig.run(Promise.all([started, rig.core.stop()]));
      expect(rig.core.state).toBe('stopped');
      // Cut before its end, the replay created nothing; at its very end, only this incarnation's file
      // (a stop once serving is the usual one).
      const created = rig.disk.paths().filter((path) => !files.includes(path));
      const served = rig.logs.slice(logsBefore).some((line) => line.message === 'storage node serving');
      if (created.length === 0) stoppedBeforeTheEnd++;
      else expect(created, `stopped after ${stopAfterMs} ms`).toEqual(['/data/log/log-000000000003.nl']);
      if (created.length === 0) expect(served).toBe(false);
      rig.processCrash();
      await rig.start();
      expect(rig.core.status().segments[0], `stopped after ${stopAfterMs} ms`).toMatchObject({
        scl: 40n,
        recordsHeld: 40,
      });
    }
    expect(stoppedBeforeTheEnd).toBeGreaterThanOrEqual(3);
  });

  it('seals a segment durably: appends refused with NL_MEMBERSHIP_STALE, reads and fetches still served', async () => {
    const rig = new CoreRig(57);
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    await fill(rig, segment, writer, 0, 5);
    expect(await rig.run(rig.core.sealSegment(pg(0), segment))).toEqual({
      ok: true,
      value: { sealed: true },
    });
    expect(await rig.run(rig.core.sealSegment(pg(0), segment))).toEqual({
      ok: true,
      value: { sealed: false },
    });
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({ sealed: true, scl: 5n });
    const record = writer.record(0, 1, [run(0, 8, 9)]);
    const reply = await rig.request(writer.batch(segment, [record], 5n));
    expect(reply).toMatchObject({ type: 'request-rejected', code: 'NL_MEMBERSHIP_STALE' });
    expect(rig.core.status().segments[0]).toMatchObject({ scl: 5n, recordsHeld: 5 });
    const page = await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(5)));
    expect(page.ok).toBe(true);
    const fetched = await rig.request({
      type: 'fetch-records',
      requestId: writer.nextRequestId(),
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      lsns: [lsn(1), lsn(5)],
    });
    expect(fetched).toMatchObject({ type: 'records' });
    expect(await rig.run(rig.core.sealSegment(pg(0), 'pg0-nope' as SegmentId))).toMatchObject({
      ok: false,
      error: { code: 'NL_CONFIG_INVALID' },
    });
  });

  it('drops a segment durably and reclaims its log files and page slots', async () => {
    const rig = new CoreRig(51);
    await rig.start();
    const doomed = await rig.createSegment(0);
    const kept = await rig.createSegment(1);
    const writer = new TestWriter();
    await fill(rig, doomed, writer, 0, 60); // several 8 KiB log files
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: doomed,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(30),
    });
    await rig.run(rig.core.materializeStep());
    const before = rig.core.status();
    expect(before.log.files).toBeGreaterThanOrEqual(2);
    expect(before.pages.slots).toBe(4);
    expect(await rig.run(rig.core.dropSegment(pg(0), doomed))).toEqual({
      ok: true,
      value: { dropped: true },
    });
    await fill(rig, kept, writer, 1, 3);
    const after = rig.core.status();
    expect(after.segments.map((segment) => segment.segmentId)).toEqual([kept]);
    expect(after.log.files).toBe(1); // only the file being appended to
    expect(after.pages.freeSlots).toBe(4);
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments.map((segment) => segment.segmentId)).toEqual([kept]);
    expect(rig.core.status().segments[0]!.recordsHeld).toBe(3);
    // Re-created, it starts empty under a new number; messages for the old one found nothing meanwhile.
    await rig.createSegment(0);
    const recreated = rig.core.status().segments.find((segment) => segment.pgId === 0)!;
    expect(recreated).toMatchObject({ scl: 0n, recordsHeld: 0, pageImages: 0 });
    expect(recreated.segmentNumber).toBeGreaterThan(before.segments[0]!.segmentNumber);
  });

  it('drains in-flight batches on stop, then answers nothing', async () => {
    const rig = new CoreRig(52);
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    const batches = Array.from({ length: 10 }, (_, index) =>
      writer.batch(segment, [writer.record(0, index % 4, [run(0, 8, index + 1)])]),
    );
    for (const batch of batches) rig.deliver(batch);
    await rig.run(rig.core.stop());
    expect(rig.core.state).toBe('stopped');
    const acks = rig.sent.filter((sent) => sent.message.type === 'append-ack');
    expect(acks).toHaveLength(10);
    const before = rig.sent.length;
    rig.deliver(writer.batch(segment, [writer.record(0, 1)]));
    await rig.runFor(10);
    expect(rig.sent.length).toBe(before);
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({ scl: 10n, recordsHeld: 10 });
  });

  it('reloads from disk after I/O errors and loses no acknowledged record (simulated cluster)', async () => {
    const options: StorageNodeOptions = { ...TEST_OPTIONS, materializeIntervalMs: 2 };
    const { cluster, storage } = singleCoreCluster(7, options);
    await cluster.runUntil(() => storage().state === 'serving', { timeLimitMs: 1000 });
    const targets = [0, 1].map((pgId) => ({ pgId, segmentId: `pg${pgId}-s1` as SegmentId }));
    for (const target of targets) {
      let done = false;
      void storage()
        .createSegment({
          pgId: asPgId(target.pgId),
          segmentId: target.segmentId,
          membershipEpoch: epoch(1n),
          members: [target.segmentId],
        })
        .then(() => {
          done = true;
        });
      await cluster.runUntil(() => done, { timeLimitMs: cluster.nowMs() + 1000 });
    }
    cluster.addNode({
      id: 'w1',
      zone: 'a',
      factory: (env) =>
        new PumpWriter(env, {
          storage: 's1' as never,
          targets,
          pageSizeBytes: 256,
          pagesPerPg: 64,
          batchesInFlightMax: 4,
          recordsPerBatchMax: 3,
          resendAfterMs: 5,
          sendMinReadPoint: true,
        }),
    });
    const writer = () => cluster.instance<PumpWriter>('w1')!;
    await cluster.runFor(20);
    cluster.node('s1').disk.setIoErrorProbability(0.02);
    await cluster.runFor(150);
    cluster.node('s1').disk.setIoErrorProbability(0);
    writer().stopWriting();
    await cluster.runUntil(() => writer().outstanding === 0 && storage().state === 'serving', {
      timeLimitMs: cluster.nowMs() + 5000,
    });
    expect(cluster.node('s1').disk.stats.ioErrors).toBeGreaterThan(0);
    cluster.crash('s1', { kind: 'power-loss' });
    cluster.start('s1');
    await cluster.runUntil(() => storage().state === 'serving', { timeLimitMs: cluster.nowMs() + 1000 });
    for (const target of targets) {
      const status = storage()
        .status()
        .segments.find((segment) => segment.pgId === target.pgId)!;
      expect(status.scl).toBe(writer().writer.lastOf(target.pgId));
    }
    expect(cluster.failure).toBeUndefined();
    expect(cluster.errorLogs).toEqual([]);
  });

  it('compacts the control log and keeps epochs, truncations, membership and hints across it', async () => {
    const rig = new CoreRig(53, { ...TEST_OPTIONS, controlLogCompactBytes: 1024 });
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    await fill(rig, segment, writer, 0, 3, 8);
    await rig.request({
      type: 'truncate',
      requestId: 1n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(2n),
      ranges: [{ volumeEpoch: epoch(2n), fromExclusive: lsn(3), toInclusive: lsn(100) }],
    });
    let previous = 0;
    let compactions = 0; // the log shrank: it was rewritten as a snapshot
    for (let point = 1; point <= 60; point++) {
      const bytes = rig.core.status().controlLogBytes;
      if (bytes < previous) compactions++;
      previous = bytes;
      rig.deliver({
        type: 'min-read-point',
        pgId: pg(0),
        segmentId: segment,
        volumeEpoch: epoch(1n + BigInt(point)),
        minReadPoint: lsn(Math.min(point, 3)),
      });
      await rig.request({
        type: 'segment-state-request',
        requestId: BigInt(100 + point),
        pgId: pg(0),
        segmentId: segment,
        volumeEpoch: epoch(2n + BigInt(point)),
      });
    }
    await rig.runFor(20);
    const compacted = rig.core.status();
    expect(compactions).toBeGreaterThan(0);
    expect(compacted.controlLogBytes).toBeLessThanOrEqual(1024 + 512);
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({
      volumeEpoch: 62n,
      truncationEpoch: 2n,
      truncations: [{ volumeEpoch: 2n, fromExclusive: 3n, toInclusive: 100n }],
      membershipEpoch: 1n,
      scl: 3n,
      minReadPoint: 3n,
    });
  });

  it('holds GC back until the backup confirms (requireBackupBeforeGc)', async () => {
    let backedUpThrough = 0n;
    const rig = new CoreRig(54, {
      ...TEST_OPTIONS,
      requireBackupBeforeGc: true,
      backup: { isBackedUp: (_pg, _segment, through) => through <= backedUpThrough },
    });
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    await fill(rig, segment, writer, 0, 6, 8);
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(5),
    });
    await rig.run(rig.core.materializeStep());
    expect(rig.core.status().segments[0]).toMatchObject({
      materializedThrough: 5n,
      gcThrough: 0n,
      recordsHeld: 6,
    });
    // Restarted meanwhile: records above gcThrough are replayed, images still count.
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({
      materializedThrough: 5n,
      gcThrough: 0n,
      recordsHeld: 6,
      scl: 6n,
    });
    backedUpThrough = 5n;
    const step = await rig.run(rig.core.materializeStep());
    expect(step).toMatchObject({ recordsCoalesced: 0, recordsCollected: 5 });
    expect(rig.core.status().segments[0]).toMatchObject({ gcThrough: 5n, recordsHeld: 1 });
  });

  it('runs background materialization steps back to back while a full step leaves a backlog', async () => {
    const rig = new CoreRig(56, {
      ...TEST_OPTIONS,
      materializeIntervalMs: 1000,
      materializeRecordsPerStep: 4,
    });
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    await fill(rig, segment, writer, 0, 20, 16);
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(20),
    });
    // Within one interval: the limit is the last durable hint (19), reached in five steps of ≤ 4.
    await rig.runFor(1100);
    expect(rig.core.status().segments[0]).toMatchObject({ materializedThrough: 19n, gcThrough: 19n });
  });

  it('materializes and scrubs in the background, and reports heat, gaps and sizes', async () => {
    const rig = new CoreRig(55, {
      ...TEST_OPTIONS,
      materializeIntervalMs: 5,
      scrubIntervalMs: 5,
      scrubItemsPerStep: 4,
    });
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    await fill(rig, segment, writer, 0, 8, 16);
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(6),
    });
    await rig.runFor(100);
    const lost = writer.record(0, 1, [run(0, 1, 1)]);
    const after = writer.record(0, 2, [run(0, 1, 1)]);
    expect((await rig.request(writer.batch(segment, [after], 8n)))?.type).toBe('append-ack');
    for (let read = 0; read < 5; read++) await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(8)));
    const status = rig.core.status().segments[0]!;
    expect(status).toMatchObject({
      materializedThrough: 6n,
      gcThrough: 6n,
      scl: 8n,
      recordsAboveScl: 1,
      knownGaps: 1,
      pageImages: 4,
    });
    expect(lost.lsn).toBe(9n);
    expect(status.appendRecordsPerSecond).toBeGreaterThan(0);
    expect(status.readPagesPerSecond).toBeGreaterThan(0);
    expect(status.logBytes).toBeGreaterThan(0);
    expect(status.pageImageBytes).toBe(4 * (256 + 64));
    // Background scrub finds a flipped bit in a page image without being asked.
    const slotBytes = 256 + 64;
    for (;;) {
      const { offset } = rig.disk.flipBit('/data/pages.dat')!;
      const inSlot = (offset - 64) % slotBytes;
      if (offset >= 64 && inSlot >= 32 && inSlot < 32 + 256) break; // in the page bytes of a slot
    }
    await rig.runFor(200);
    expect(rig.core.status().damage.pages).toEqual([
      expect.objectContaining({ segmentId: segment, foundBy: 'scrub' }),
    ]);
  });
});
