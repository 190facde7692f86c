/**
 * Proves the storage node's on-disk formats decode what they encode and tell crash damage from rot:
 * node log entries (zeros are never entries; a torn tail ends the log; a rotten entry in the middle is
 * skipped and reported while the entries after it are kept), control log entries (every kind round
 * trips; a torn tail is cut; a rotten entry followed by valid ones is reported as damage in the middle,
 * and a node replaying such a log keeps every segment silent and logs an ERROR for a human).
 */
import { asEpoch, asLsn, asNodeId, asPgId, asSegmentId } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ControlEntry,
  ControlLog,
  encodeControlEntries,
  scanControlLog,
  snapshotEntries,
} from '../src/core/control-log.js';
import {
  alignedEntryBytes,
  encodeLogFileHeader,
  LOG_FILE_HEADER_BYTES,
  scanLogFile,
  writeLogEntry,
} from '../src/core/log-format.js';
import { noopStorageMetrics } from '../src/core/metrics.js';
import { CoreRig, epoch, pg } from './support/core-rig.js';
import { TestWriter } from './support/history.js';

function logFile(payloads: Uint8Array[], zerosAfter: number): { bytes: Uint8Array; offsets: number[] } {
  const size =
    LOG_FILE_HEADER_BYTES +
    payloads.reduce((sum, payload) => sum + alignedEntryBytes(payload.length), 0) +
    zerosAfter;
  const bytes = new Uint8Array(size);
  bytes.set(encodeLogFileHeader(7), 0);
  const offsets: number[] = [];
  let offset = LOG_FILE_HEADER_BYTES;
  for (const [index, payload] of payloads.entries()) {
    offsets.push(offset);
    offset += writeLogEntry(bytes, offset, index + 1, payload);
  }
  return { bytes, offsets };
}

const payload = fc.uint8Array({ minLength: 1, maxLength: 300 });

describe('node log format', () => {
  it('scans back every entry written, and never takes preallocated zeros for one', () => {
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 12 }), fc.nat({ max: 4096 }), (payloads, zeros) => {
        const { bytes, offsets } = logFile(payloads, zeros);
        const scan = scanLogFile(bytes);
        expect(scan.headerValid).toBe(true);
        expect(scan.skipped).toEqual([]);
        expect(scan.entries.map((entry) => entry.offset)).toEqual(offsets);
        expect(scan.entries.map((entry) => [...entry.payload])).toEqual(payloads.map((p) => [...p]));
        expect(scan.entries.map((entry) => entry.segmentNumber)).toEqual(
          payloads.map((_, index) => index + 1),
        );
      }),
    );
  });

  it('ends the log at a torn last entry (any prefix of it, then zeros)', () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 2, maxLength: 6 }), fc.nat(), (payloads, cut) => {
        const { bytes, offsets } = logFile(payloads, 512);
        const last = offsets.at(-1)!;
        const end = last + 1 + (cut % (24 + payloads.at(-1)!.length - 1)); // inside the covered bytes
        const torn = bytes.slice();
        torn.fill(0, end);
        // Zeros over bytes that were zeros tear nothing (a payload ending in zeros): not this case.
        fc.pre(torn.some((byte, index) => byte !== bytes[index]));
        const scan = scanLogFile(torn);
        expect(scan.entries).toHaveLength(payloads.length - 1);
        expect(scan.skipped).toEqual([]);
        expect(scan.validEnd).toBe(last);
      }),
    );
  });

  it('skips a rotten entry in the middle, reports it, and keeps every entry after it', () => {
    fc.assert(
      fc.property(
        fc.array(payload, { minLength: 3, maxLength: 8 }),
        fc.nat(),
        fc.nat({ max: 7 }),
        (payloads, which, bit) => {
          const { bytes, offsets } = logFile(payloads, 256);
          const victim = which % (payloads.length - 1);
          const start = offsets[victim]!;
          const covered = 24 + payloads[victim]!.length;
          const rotten = bytes.slice();
          rotten[start + ((which * 31) % covered)]! ^= 1 << bit;
          const scan = scanLogFile(rotten);
          expect(scan.entries).toHaveLength(payloads.length - 1);
          expect(scan.skipped).toEqual([{ offset: start, length: offsets[victim + 1]! - start }]);
        },
      ),
    );
  });
});

const segmentState = {
  number: 3,
  pgId: asPgId(9),
  segmentId: asSegmentId('pg9-s1'),
  volumeEpoch: asEpoch(5n),
  truncationEpoch: asEpoch(4n),
  truncations: [{ volumeEpoch: asEpoch(4n), fromExclusive: asLsn(10n), toInclusive: asLsn(20n) }],
  membershipEpoch: asEpoch(2n),
  members: [asSegmentId('pg9-s1'), asSegmentId('pg9-s2')],
  memberNodes: [asNodeId('n1'), asNodeId('n2')],
  durableHint: asLsn(9n),
  minReadPoint: asLsn(8n),
  materializedThrough: asLsn(7n),
  gcThrough: asLsn(6n),
  sealed: true,
};

const everyKind: ControlEntry[] = [
  { kind: 'node', formatVersion: 1, nextSegmentNumber: 4 },
  { kind: 'segment', state: segmentState },
  { kind: 'volume-epoch', number: 3, volumeEpoch: asEpoch(6n) },
  {
    kind: 'truncation',
    number: 3,
    volumeEpoch: asEpoch(6n),
    ranges: [{ volumeEpoch: asEpoch(6n), fromExclusive: asLsn(9n), toInclusive: asLsn(99n) }],
  },
  {
    kind: 'membership',
    number: 3,
    membershipEpoch: asEpoch(3n),
    members: [asSegmentId('pg9-s3')],
    memberNodes: [],
  },
  { kind: 'hint', number: 3, durableHint: asLsn(9n) },
  { kind: 'min-read-point', number: 3, minReadPoint: asLsn(9n) },
  { kind: 'materialized', number: 3, materializedThrough: asLsn(9n), gcThrough: asLsn(8n) },
  { kind: 'sealed', number: 3 },
  { kind: 'dropped', number: 3 },
];

describe('control log format', () => {
  it('round-trips every entry kind', () => {
    const bytes = encodeControlEntries(everyKind);
    const scan = scanControlLog(bytes);
    expect(scan).toEqual({ entries: everyKind, validBytes: bytes.length, damagedInTheMiddle: false });
  });

  it('cuts a torn tail and tells rot in the middle from it', () => {
    const bytes = encodeControlEntries(everyKind);
    const lastStart = bytes.length - encodeControlEntries([everyKind.at(-1)!]).length;
    for (let cut = lastStart + 1; cut < bytes.length; cut++) {
      const scan = scanControlLog(bytes.subarray(0, cut));
      expect(scan.entries).toEqual(everyKind.slice(0, -1));
      expect(scan.damagedInTheMiddle).toBe(false);
    }
    const rotten = bytes.slice();
    rotten[30]! ^= 4; // inside the second entry
    const scan = scanControlLog(rotten);
    expect(scan.entries).toEqual(everyKind.slice(0, 1));
    expect(scan.damagedInTheMiddle).toBe(true);
  });

  it('keeps an entry appended right before a compaction, even if its caller has not resumed (C4)', async () => {
    const rig = new CoreRig(62);
    const disk = rig.disk.view(
      new (await import('@northlight/sim')).Incarnation('s1' as never, 1, rig.scheduler),
    );
    const { controlLog, state } = await rig.run(ControlLog.open(disk, '/data', noopStorageMetrics));
    await rig.run(controlLog.append([{ kind: 'segment', state: segmentState }]));
    // The caller applies nothing itself; the compaction is queued behind the append at once.
    const appended = controlLog.append([
      { kind: 'materialized', number: 3, materializedThrough: asLsn(50n), gcThrough: asLsn(50n) },
    ]);
    const compacted = controlLog.compact(() => snapshotEntries(state));
    await rig.run(Promise.all([appended, compacted]));
    const reopened = await rig.run(ControlLog.open(disk, '/data', noopStorageMetrics));
    expect(reopened.state.segments.get(3)).toMatchObject({ materializedThrough: 50n, gcThrough: 50n });
  });

  it('silences every segment (and logs an ERROR) when a durable control entry rotted', async () => {
    const rig = new CoreRig(61);
    await rig.start();
    const segment = await rig.createSegment(0);
    await rig.createSegment(1);
    const writer = new TestWriter();
    expect((await rig.request(writer.batch(segment, [writer.record(0, undefined)])))?.type).toBe(
      'append-ack',
    );
    for (const pgId of [0, 1])
      await rig.request({
        type: 'segment-state-request',
        requestId: BigInt(pgId),
        pgId: pg(pgId),
        segmentId: `pg${pgId}-s1` as never,
        volumeEpoch: epoch(3n),
      });
    const control = rig.disk.durableContentOf('/data/control.log')!;
    // Flip a bit in the body of the first volume-epoch entry (a fence!): valid entries follow it.
    const entries = scanControlLog(control).entries;
    const index = entries.findIndex((entry) => entry.kind === 'volume-epoch');
    const offset = encodeControlEntries(entries.slice(0, index)).length + 18;
    rig.processCrash();
    const file = await rig.run(
      rig.disk
        .view(new (await import('@northlight/sim')).Incarnation('s1' as never, 99, rig.scheduler))
        .open('/data/control.log'),
    );
    const rotten = control.slice(offset, offset + 1);
    rotten[0]! ^= 1;
    await rig.run(file.write(offset, rotten));
    await rig.run(file.sync());
    await rig.start();
    expect(rig.core.status().segments.map((status) => status.state)).toEqual(['silent', 'silent']);
    expect(rig.errorLogs().map((line) => line.message)).toEqual([
      'control log damaged in the middle; every segment stays silent until repaired',
    ]);
    const before = rig.sent.length;
    rig.deliver({
      type: 'segment-state-request',
      requestId: 1n,
      pgId: pg(1),
      segmentId: 'pg1-s1' as never,
      volumeEpoch: epoch(1n),
    });
    await rig.runFor(10);
    expect(rig.sent.length).toBe(before);
  });
});
