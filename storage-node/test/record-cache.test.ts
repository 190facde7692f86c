/**
 * The record cache (record-cache.ts): recently appended records are served decoded from memory to
 * materialization and page reads, within a byte budget, oldest dropped first; the scrubber still reads
 * the disk, so rot under a cached record is found all the same.
 */
import { asLsn } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { RecordCache } from '../src/core/record-cache.js';
import type { IndexedRecord } from '../src/core/segment.js';
import { CoreRig, lsn, pg, TEST_OPTIONS } from './support/core-rig.js';
import { run, TestWriter } from './support/history.js';

function indexed(n: number, entryBytes: number): IndexedRecord {
  return {
    lsn: asLsn(BigInt(n)),
    backlink: asLsn(BigInt(n - 1)),
    cpl: true,
    pageNo: 0,
    location: { fileSequence: 0, offset: n * 1024, entryBytes },
  };
}

const writer = new TestWriter();
const record = (n: number) => ({ ...writer.record(0, 0, [run(0, 8, n)]), lsn: asLsn(BigInt(n)) });

describe('record cache', () => {
  it('keeps records within its byte budget, dropping the oldest first', () => {
    const cache = new RecordCache(3000);
    const entries = [1, 2, 3, 4].map((n) => indexed(n, 1000));
    for (const [index, entry] of entries.entries()) cache.remember(entry, record(index + 1));
    expect(cache.stats).toMatchObject({ records: 3, bytes: 3000 });
    expect(cache.get(entries[0]!)).toBeUndefined(); // the oldest went
    expect(cache.get(entries[3]!)?.lsn).toBe(4n);
    cache.forget(entries[3]!);
    expect(cache.get(entries[3]!)).toBeUndefined();
    expect(cache.stats).toMatchObject({ records: 2, bytes: 2000, hits: 1, misses: 2 });
    cache.remember(indexed(9, 5000), record(9)); // larger than the whole budget: not kept
    expect(cache.stats.records).toBe(2);
  });

  it('serves materialization and reads from memory; the scrubber still finds a rotten record on disk', async () => {
    const rig = new CoreRig(61, { ...TEST_OPTIONS });
    await rig.start();
    const segment = await rig.createSegment(0);
    const w = new TestWriter();
    const records = [];
    for (let index = 0; index < 6; index++) {
      const r = w.record(0, index % 2, [run(index * 10, 10, index + 1)]);
      records.push(r);
      expect((await rig.request(w.batch(segment, [r], r.lsn - 1n)))?.type).toBe('append-ack');
    }
    const page = await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(6)));
    expect(page.ok).toBe(true);
    const afterRead = rig.core.status().recordCache;
    expect(afterRead.records).toBe(6);
    expect(afterRead.misses).toBe(0);
    expect(afterRead.hits).toBeGreaterThanOrEqual(3); // page 1's three records

    // Rot in the log under cached records: reads stay right (they are served from memory)…
    let damaged = 0;
    for (let attempt = 0; attempt < 200 && damaged === 0; attempt++) {
      rig.disk.flipBit(rig.disk.paths().find((path) => path.includes('/log/'))!);
      const again = await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(6)));
      if (again.ok && page.ok) expect(again.page).toEqual(page.page);
      // …and the scrubber, which reads the disk, finds it.
      await rig.run(rig.core.scrub());
      damaged = rig.core.status().damage.recordCount;
    }
    expect(damaged).toBe(1);
  });

  it('reads every record from the log when the cache is off', async () => {
    const rig = new CoreRig(62, { ...TEST_OPTIONS, recordCacheBytes: 0 });
    await rig.start();
    const segment = await rig.createSegment(0);
    const w = new TestWriter();
    for (let index = 0; index < 4; index++) {
      const r = w.record(0, 1, [run(index, 4, index + 1)]);
      expect((await rig.request(w.batch(segment, [r], r.lsn - 1n)))?.type).toBe('append-ack');
    }
    expect((await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(4)))).ok).toBe(true);
    expect(rig.core.status().recordCache).toMatchObject({ records: 0, hits: 0, misses: 4 });
  });
});
