// Packed redo records (the engine's append-batch on the wire): the varint codec they are made of, the
// exact layout, the size they save on a realistic batch, and a typed NL_DECODE_INVALID for every way a
// packed list can break a rule behind a valid frame CRC.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader, uvarint64Size, uvarintSize, Writer } from '../src/core/codec.js';
import { NorthlightError } from '../src/core/errors.js';
import { encodeFrame } from '../src/core/frame.js';
import {
  APPEND_BATCH_PACKED_CODE,
  type AppendBatchMessage,
  decodeMessageFromBytes,
  encodeMessage,
} from '../src/core/messages.js';
import { packedRecordsSize, readPackedRecords, writePackedRecords } from '../src/core/packed-records.js';
import type { RedoRecord } from '../src/core/redo-record.js';
import { asEpoch, asLsn, asPageNo, asPgId, asSegmentId, U64_MAX } from '../src/core/types.js';
import { concatBytes, thrownBy } from './helpers.js';

const base = { pgId: asPgId(2), volumeEpoch: asEpoch(7n) };

function pageDiff(lsn: bigint, backlink: bigint, runs: [number, number[]][], cpl = false): RedoRecord {
  return {
    lsn: asLsn(lsn),
    backlink: asLsn(backlink),
    kind: 'page-diff',
    cpl,
    volumeEpoch: base.volumeEpoch,
    pgId: base.pgId,
    pageNo: asPageNo(7),
    runs: runs.map(([offset, bytes]) => ({ offset, bytes: Uint8Array.from(bytes) })),
  };
}

function pack(records: readonly RedoRecord[]): Uint8Array {
  const writer = Writer.allocate(packedRecordsSize(records, base));
  writePackedRecords(writer, records, base);
  return writer.finish();
}

function unpack(bytes: Uint8Array): RedoRecord[] {
  const reader = new Reader(bytes, { overrunCode: 'NL_DECODE_INVALID', context: 'packed' });
  const records = readPackedRecords(reader, base);
  reader.expectEnd();
  return records;
}

function codeOf(run: () => unknown): string {
  const error = thrownBy(run);
  expect(error).toBeInstanceOf(NorthlightError);
  return (error as NorthlightError).code;
}

describe('varints', () => {
  const numbers = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32, Number.MAX_SAFE_INTEGER];
  it.each(numbers)('round-trips %d in its shortest form', (value) => {
    const writer = Writer.allocate(uvarintSize(value));
    writer.uvarint(value);
    const bytes = writer.finish();
    expect(bytes.length).toBe(value === 0 ? 1 : Math.ceil(Math.log2(value + 1) / 7));
    expect(new Reader(bytes).uvarint('v')).toBe(value);
  });

  it('round-trips every u64, including past 2^53', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (value) => {
        const writer = Writer.allocate(uvarint64Size(value));
        writer.uvarint64(value);
        const reader = new Reader(writer.finish());
        expect(reader.uvarint64('v')).toBe(value);
        expect(reader.remaining).toBe(0);
      }),
      { numRuns: 500 },
    );
    expect(uvarint64Size(U64_MAX)).toBe(10);
  });

  it('refuses overlong, over-long, oversized and cut-short encodings with typed errors', () => {
    const read = (bytes: number[], max?: number) => () =>
      new Reader(Uint8Array.from(bytes)).uvarint('v', max);
    const read64 = (bytes: number[]) => () => new Reader(Uint8Array.from(bytes)).uvarint64('v');
    expect(codeOf(read([0x80, 0x00]))).toBe('NL_DECODE_INVALID'); // 0 in two bytes
    expect(codeOf(read([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe('NL_DECODE_INVALID');
    expect(codeOf(read([0x81, 0x01], 128))).toBe('NL_DECODE_INVALID'); // 129 > 128
    expect(codeOf(read([0x81]))).toBe('NL_DECODE_TRUNCATED');
    expect(codeOf(read64([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]))).toBe(
      'NL_DECODE_INVALID',
    ); // 2^64
    expect(codeOf(read64([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00]))).toBe(
      'NL_DECODE_INVALID',
    );
    expect(read64([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])()).toBe(U64_MAX);
  });
});

describe('packed records', () => {
  it('lays records out as docs/formats.md says', () => {
    const records: RedoRecord[] = [
      pageDiff(1000n, 998n, [
        [10, [1, 2]],
        [20, [3]],
      ]),
      { ...pageDiff(1001n, 1000n, [], true), kind: 'noop', pageNo: asPageNo(0) },
      { ...pageDiff(1003n, 1001n, [[0, [9]]]), volumeEpoch: asEpoch(6n) },
    ];
    // biome-ignore format: one line per field
    const expected = [
      0x03,                                     // three records
      0x01, 0xe8, 0x07, 0x02,                   // PAGE_DIFF; LSN 1000 (from 0); backlink 2 below
      0x07, 0x02, 0x0a, 0x02, 0x01, 0x02, 0x08, 0x01, 0x03, // page 7; 2 runs: +10 [1,2], +8 [3]
      0x06, 0x01, 0x01,                         // NOOP|CPL; LSN +1; backlink 1 below
      0x09, 0x02, 0x02, 0x06, 0x07, 0x01, 0x00, 0x01, 0x09, // PAGE_DIFF|own epoch; +2; 2 below; epoch 6; page 7; 1 run
    ];
    const bytes = pack(records);
    expect([...bytes]).toEqual(expected);
    expect(unpack(bytes)).toEqual(records);
  });

  it('takes under a fifth of the bytes of version-1 records for a write transaction of small diffs', () => {
    // Six page diffs of two or three short runs, as one sysbench write transaction produces.
    const records = Array.from({ length: 6 }, (_, index) =>
      pageDiff(500_000n + BigInt(index), 499_990n + BigInt(index), [
        [8 + index, [1, 2, 3, 4]],
        [1_000 + 40 * index, [5, 6, 7, 8, 9, 10, 11, 12]],
        [3_900, [13, 14]],
      ]),
    );
    const message: AppendBatchMessage = {
      type: 'append-batch',
      requestId: 1n,
      volumeEpoch: base.volumeEpoch,
      membershipEpoch: asEpoch(1n),
      pgId: base.pgId,
      segmentId: asSegmentId('s1.pg2'),
      durableHint: asLsn(0n),
      records,
    };
    // What the records cost beyond their changed bytes, the message's own fields left out.
    const overhead = (packed: boolean) =>
      encodeMessage({ ...message, packed }).length -
      encodeMessage({ ...message, records: [], packed }).length -
      6 * 14;
    expect(overhead(false)).toBe(6 * (48 + 3 * 8));
    expect(overhead(true)).toBeLessThan(overhead(false) / 5);
    expect(decodeMessageFromBytes(encodeMessage({ ...message, packed: true }))).toEqual({
      ...message,
      packed: true,
    });
  });

  /** A packed append-batch frame of PG 2, epoch 7, around a hand-written record list. */
  function frameAround(list: number[]): Uint8Array {
    const header = encodeMessage({
      type: 'append-batch',
      requestId: 1n,
      volumeEpoch: base.volumeEpoch,
      membershipEpoch: asEpoch(1n),
      pgId: base.pgId,
      segmentId: asSegmentId('s1'),
      durableHint: asLsn(0n),
      records: [],
      packed: true,
    });
    const fields = header.subarray(16, header.length - 1); // drop the empty list's count byte
    return encodeFrame(APPEND_BATCH_PACKED_CODE, concatBytes([fields, Uint8Array.from(list)]));
  }

  it('decodes a hand-written frame (the test helper itself is sound)', () => {
    const message = decodeMessageFromBytes(frameAround([0x01, 0x02, 0x02, 0x01]));
    expect(message).toMatchObject({
      type: 'append-batch',
      packed: true,
      records: [{ lsn: 2n, backlink: 1n }],
    });
  });

  it.each([
    ['a count larger than the bytes could hold', [0x7f, 0x02, 0x01, 0x01]],
    ['unknown flag bits', [0x01, 0x12, 0x01, 0x01]],
    ['kind 0', [0x01, 0x00, 0x01, 0x01]],
    ['kind 3', [0x01, 0x03, 0x01, 0x01]],
    ['an LSN delta of 0', [0x02, 0x02, 0x01, 0x01, 0x02, 0x00, 0x01]],
    ['a backlink distance of 0', [0x01, 0x02, 0x05, 0x00]],
    ['a backlink below LSN 0', [0x01, 0x02, 0x05, 0x06]],
    ['its own epoch equal to the batch epoch', [0x01, 0x0a, 0x05, 0x01, 0x07]],
    ['an empty run', [0x01, 0x01, 0x05, 0x01, 0x00, 0x01, 0x00, 0x00, 0xaa]],
    ['a run past the 64 KiB page', [0x01, 0x01, 0x05, 0x01, 0x00, 0x01, 0xff, 0xff, 0x03, 0x02, 0xaa, 0xbb]],
    ['a run count larger than the bytes could hold', [0x01, 0x01, 0x05, 0x01, 0x00, 0x7f, 0x00, 0x01, 0xaa]],
    ['a page number past u32', [0x01, 0x01, 0x05, 0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00]],
    ['a list cut inside a record', [0x01, 0x01, 0x05, 0x01, 0x00, 0x01, 0x00, 0x04, 0xaa]],
    ['a non-shortest varint', [0x01, 0x02, 0x85, 0x00, 0x01]],
    [
      'an LSN past 2^64 - 1',
      [0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x02, 0x01, 0x01],
    ],
  ])('refuses %s with NL_DECODE_INVALID', (_name, list) => {
    expect(codeOf(() => decodeMessageFromBytes(frameAround(list)))).toBe('NL_DECODE_INVALID');
  });

  it('never throws anything but NorthlightError on mutated packed lists', () => {
    const valid = [...pack([pageDiff(9n, 3n, [[4, [1, 2, 3]]]), pageDiff(12n, 9n, [[0, [7]]], true)])];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (edits, cut) => {
          const list = [...valid];
          for (const [position, value] of edits) list[position % list.length] = value;
          const frame = frameAround(list.slice(0, cut % (list.length + 1)));
          try {
            const message = decodeMessageFromBytes(frame);
            expect(encodeMessage(message)).toEqual(frame);
          } catch (error) {
            expect(error).toBeInstanceOf(NorthlightError);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
