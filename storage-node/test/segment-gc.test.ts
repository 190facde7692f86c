/**
 * GC's bulk removal from a segment's index (`Segment.unindexThrough`) against the record-by-record
 * `unindex` it replaced: for random chains (records arriving out of order, pages repeating, NOOPs),
 * both leave the same index behind — records, per-page lists, chain links, log bytes — and return the
 * same records, ascending.
 */
import { asEpoch, asLsn, asPgId, asSegmentId, EPOCH_ZERO, type Lsn } from '@northlight/protocol';
import { Prng } from '@northlight/sim';
import { describe, expect, it } from 'vitest';
import type { SegmentControlState } from '../src/core/control-log.js';
import { type IndexedRecord, Segment } from '../src/core/segment.js';

function control(): SegmentControlState {
  return {
    number: 1,
    pgId: asPgId(0),
    segmentId: asSegmentId('seg-0'),
    volumeEpoch: asEpoch(1n),
    truncationEpoch: EPOCH_ZERO,
    truncations: [],
    membershipEpoch: asEpoch(1n),
    members: [asSegmentId('seg-0')],
    memberNodes: [],
    durableHint: asLsn(0n),
    minReadPoint: asLsn(0n),
    materializedThrough: asLsn(0n),
    gcThrough: asLsn(0n),
    sealed: false,
  };
}

/** A chain of `count` records of one PG (LSNs with gaps: other PGs' records), in a shuffled order. */
function chain(random: () => number, count: number): IndexedRecord[] {
  const records: IndexedRecord[] = [];
  let previous = 0n;
  for (let index = 0; index < count; index++) {
    const lsn = previous + 1n + BigInt(Math.floor(random() * 3));
    records.push({
      lsn: asLsn(lsn),
      backlink: asLsn(previous),
      cpl: random() < 0.3,
      pageNo: random() < 0.05 ? undefined : Math.floor(random() * 12),
      location: { fileSequence: 1, offset: index * 64, entryBytes: 64 + Math.floor(random() * 8) * 8 },
    });
    previous = lsn;
  }
  // Out of order within small windows, as retransmissions and gossip deliver them.
  for (let index = 0; index + 1 < records.length; index += 2)
    if (random() < 0.5) [records[index], records[index + 1]] = [records[index + 1]!, records[index]!];
  return records;
}

function state(segment: Segment, records: readonly IndexedRecord[]) {
  const top = asLsn(10n ** 9n);
  return {
    recordCount: segment.recordCount,
    logBytes: segment.logBytes,
    scl: segment.scl,
    all: segment.allRecords().map((record) => record.lsn),
    byPage: Array.from({ length: 12 }, (_, pageNo) =>
      segment.pageRecordsBetween(pageNo, 0n, top).map((record) => record.lsn),
    ),
    successors: records.map((record) => segment.successorOf(record.backlink) ?? null),
  };
}

describe('Segment.unindexThrough (GC)', () => {
  it('leaves the same index as unindexing each record at or below the limit, ascending', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const prng = new Prng(seed);
      const random = () => prng.nextFloat();
      const records = chain(random, 20 + Math.floor(random() * 300));
      const bulk = new Segment(control(), 10_000);
      const single = new Segment(control(), 10_000);
      for (const record of records) {
        expect(bulk.index(record)).toBe(single.index(record));
      }
      const lsns = bulk.allRecords().map((record) => record.lsn);
      for (const limit of [
        asLsn(0n),
        lsns[Math.floor(random() * lsns.length)]!,
        asLsn(lsns[Math.floor(random() * lsns.length)]! + 1n),
        lsns.at(-1)!,
      ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) as Lsn[]) {
        const expected = single.recordsAtOrBelow(limit);
        for (const record of expected) single.unindex(record.lsn);
        const removed = bulk.unindexThrough(limit);
        expect(removed.map((record) => record.lsn)).toEqual(expected.map((record) => record.lsn));
        expect(state(bulk, records)).toEqual(state(single, records));
      }
      expect(bulk.recordCount).toBe(0);
      expect(bulk.logBytes).toBe(0);
    }
  });
});
