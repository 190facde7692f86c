/**
 * Proves scrub and the other CRC checks find rot on the medium (`SimDisk.flipBit`): a flipped bit in
 * a stored record is reported by `scrub()` with its LSN, the record is dropped (the SCL falls below
 * it, reads above it are refused, reads below it are still right) until the writer (later: a peer)
 * supplies it again; a replay after the rot skips the rotten entry and keeps every entry after it
 * (node-log N2). A flipped bit in a page image is reported, the page's reads are refused as damaged
 * (never served from an older image or zeros, page-store P4), other pages are unaffected, and a replay
 * keeps the page marked damaged.
 */
import { describe, expect, it } from 'vitest';
import { scanLogFile } from '../src/core/log-format.js';
import { PAGE_SLOT_IDENTITY_BYTES, PAGE_STORE_HEADER_BYTES } from '../src/core/page-store.js';
import { CoreRig, epoch, lsn, pg, TEST_OPTIONS } from './support/core-rig.js';
import { PageModel, run, TestWriter } from './support/history.js';

const PAGE_SIZE = TEST_OPTIONS.pageSizeBytes!;

async function setUp(seed: number, count: number) {
  const rig = new CoreRig(seed);
  await rig.start();
  const segment = await rig.createSegment(0);
  const writer = new TestWriter();
  const model = new PageModel(PAGE_SIZE);
  const records = [];
  for (let index = 0; index < count; index++) {
    const record = writer.record(0, index % 4, [run(index * 3, 40, index + 1)]);
    records.push(record);
    model.add(record);
    expect((await rig.request(writer.batch(segment, [record], record.lsn - 1n)))?.type).toBe('append-ack');
  }
  return { rig, segment, writer, model, records };
}

/** Flips bits of `path` until one lands in `isCovered` bytes (a flip elsewhere is in unused space). */
function flipWithin(rig: CoreRig, path: string, isCovered: (offset: number) => boolean): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const flip = rig.disk.flipBit(path)!;
    if (isCovered(flip.offset)) return flip.offset;
  }
  throw new Error('no flip landed in the covered bytes');
}

describe('scrub', () => {
  it('finds a flipped bit in a stored record, drops it until re-sent, and replay keeps what follows', async () => {
    const { rig, segment, writer, model, records } = await setUp(21, 12);
    const path = rig.disk.paths().find((candidate) => candidate.includes('/log/'))!;
    const entries = scanLogFile(rig.disk.durableContentOf(path)!).entries;
    let hit = -1;
    flipWithin(rig, path, (offset) => {
      hit = entries.findIndex(
        (entry) => offset >= entry.offset && offset < entry.offset + 24 + entry.payload.length,
      );
      return hit >= 0 && hit < entries.length - 1; // not the last: replay must keep what follows it
    });
    const damagedLsn = records[hit]!.lsn;
    const report = await rig.run(rig.core.scrub());
    expect(report).toMatchObject({ damagedRecords: 1, damagedPages: 0, recordsVerified: 12 });
    const status = rig.core.status();
    expect(status.damage.records).toEqual([
      { pgId: 0, segmentId: segment, lsn: damagedLsn, foundBy: 'scrub' },
    ]);
    expect(status.segments[0]!.scl).toBe(damagedLsn - 1n);
    const page = records[hit]!.pageNo;
    const above = await rig.run(rig.core.readPage(pg(0), segment, page, lsn(12)));
    expect(above.ok ? 'served' : above.refusal.reason).toBe('above-scl');
    const below = await rig.run(rig.core.readPage(pg(0), segment, page, (damagedLsn - 1n) as never));
    expect(below.ok && Buffer.from(below.page).equals(model.pageAt(page, damagedLsn - 1n))).toBe(true);

    // Replay of the rotten log: the bad entry is skipped and reported, the entries after it are kept.
    rig.powerLoss();
    await rig.start();
    const replayed = rig.core.status();
    expect(replayed.damage.logRegionCount).toBe(1);
    expect(replayed.segments[0]!.recordsHeld).toBe(11);
    expect(replayed.segments[0]!.scl).toBe(damagedLsn - 1n);

    // The writer re-sends the record: the gap closes and every page reads right again.
    const resend = { ...writer.batch(segment, [records[hit]!]), requestId: 99n };
    expect(await rig.request(resend)).toMatchObject({ type: 'append-ack', scl: 12n });
    for (let pageNo = 0; pageNo < 4; pageNo++) {
      const outcome = await rig.run(rig.core.readPage(pg(0), segment, pageNo, lsn(12)));
      expect(outcome.ok && Buffer.from(outcome.page).equals(model.pageAt(pageNo, 12n))).toBe(true);
    }
    expect((await rig.run(rig.core.scrub())).damagedRecords).toBe(0);
  });

  it('finds a flipped bit in a page image; the page is refused, never served from older state, also after replay', async () => {
    const { rig, segment, writer, model } = await setUp(22, 8);
    // The writer's VDL covers all 8 records; PGMRPL moves to 8: one image per page, the log GC'd.
    expect((await rig.request(writer.batch(segment, [writer.record(0, undefined)], 8n)))?.type).toBe(
      'append-ack',
    );
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(8),
    });
    await rig.run(rig.core.materializeStep());
    await rig.runFor(20);
    expect(rig.core.status().segments[0]).toMatchObject({
      materializedThrough: 8n,
      gcThrough: 8n,
      pageImages: 4,
      recordsHeld: 1,
    });
    const slotBytes = PAGE_SIZE + 2 * PAGE_SLOT_IDENTITY_BYTES;
    const offset = flipWithin(
      rig,
      '/data/pages.dat',
      (at) => at >= PAGE_STORE_HEADER_BYTES && at < PAGE_STORE_HEADER_BYTES + 4 * slotBytes,
    );
    const inPage = (offset - PAGE_STORE_HEADER_BYTES) % slotBytes;
    const report = await rig.run(rig.core.scrub());
    // A flip in one copy of a slot's identity is survivable (the other copy names the page); one in
    // the page bytes, or in the copy the CRC of the bytes is read from, makes the page damaged.
    const identityOnly = inPage < PAGE_SLOT_IDENTITY_BYTES || inPage >= PAGE_SLOT_IDENTITY_BYTES + PAGE_SIZE;
    if (identityOnly && report.damagedPages === 0) return;
    expect(report).toMatchObject({ damagedPages: 1, pagesVerified: 4 });
    const damaged = rig.core.status().damage.pages[0]!;
    expect(damaged).toMatchObject({ pgId: 0, segmentId: segment, foundBy: 'scrub' });
    const refused = await rig.run(rig.core.readPage(pg(0), segment, damaged.pageNo, lsn(9)));
    expect(refused.ok ? 'served' : refused.refusal.reason).toBe('damaged');
    for (let pageNo = 0; pageNo < 4; pageNo++) {
      if (pageNo === damaged.pageNo) continue;
      const outcome = await rig.run(rig.core.readPage(pg(0), segment, pageNo, lsn(9)));
      expect(outcome.ok && Buffer.from(outcome.page).equals(model.pageAt(pageNo, 9n))).toBe(true);
    }
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().damage.pages).toEqual([
      { pgId: 0, segmentId: segment, pageNo: damaged.pageNo, foundBy: 'replay' },
    ]);
    const afterReplay = await rig.run(rig.core.readPage(pg(0), segment, damaged.pageNo, lsn(9)));
    expect(afterReplay.ok ? 'served' : afterReplay.refusal.reason).toBe('damaged');
  });

  it('finds page rot on many seeds, wherever the bit lands in the image', async () => {
    let damaged = 0;
    for (let seed = 30; seed < 45; seed++) {
      const { rig, segment, writer } = await setUp(seed, 4);
      expect((await rig.request(writer.batch(segment, [writer.record(0, undefined)], 4n)))?.type).toBe(
        'append-ack',
      );
      rig.deliver({
        type: 'min-read-point',
        pgId: pg(0),
        segmentId: segment,
        volumeEpoch: epoch(0n),
        minReadPoint: lsn(4),
      });
      await rig.run(rig.core.materializeStep());
      const slotBytes = PAGE_SIZE + 2 * PAGE_SLOT_IDENTITY_BYTES;
      const offset = flipWithin(rig, '/data/pages.dat', (at) => at >= PAGE_STORE_HEADER_BYTES);
      const inSlot = (offset - PAGE_STORE_HEADER_BYTES) % slotBytes;
      const report = await rig.run(rig.core.scrub());
      const inPageBytes = inSlot >= PAGE_SLOT_IDENTITY_BYTES && inSlot < PAGE_SLOT_IDENTITY_BYTES + PAGE_SIZE;
      if (inPageBytes) expect(report.damagedPages).toBe(1);
      damaged += report.damagedPages;
    }
    expect(damaged).toBeGreaterThan(5);
  });
});
