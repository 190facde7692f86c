// Proves the redo record codec: decode(encode(r)) = r for generated records; the byte layout is the one
// in docs/formats.md; every rule is asserted on encode and rejected on decode (NL_DECODE_INVALID even
// when the CRC matches); every single-byte corruption, every truncation, unknown versions and random
// garbage are rejected with a NorthlightError and nothing else; and applyRuns(before, diffPages(before,
// after)) = after with runs that obey the record's rules.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { crc32c } from '../src/core/crc32c.js';
import { NorthlightError } from '../src/core/errors.js';
import {
  applyRuns,
  applyRunsInPlace,
  decodeRedoRecord,
  diffPages,
  encodeRedoRecord,
  MAX_PAGE_SIZE_BYTES,
  MAX_REDO_RECORD_BYTES,
  MIN_REDO_RECORD_BYTES,
  type RedoRecord,
  redoRecordProblem,
  redoRecordSize,
  tryDecodeRedoRecord,
} from '../src/core/redo-record.js';
import { asEpoch, asLsn, asPageNo, asPgId } from '../src/core/types.js';
import { redoRecord } from './arbitraries.js';
import { concatBytes, type Outcome, outcomeOf, sameBytes, thrownBy, withXor } from './helpers.js';

const sampleDiff: RedoRecord = {
  lsn: asLsn(1000n),
  backlink: asLsn(998n),
  kind: 'page-diff',
  cpl: true,
  volumeEpoch: asEpoch(3n),
  pgId: asPgId(7),
  pageNo: asPageNo(7 * 131_072 + 5),
  runs: [
    { offset: 0, bytes: Uint8Array.of(1, 2, 3) },
    { offset: 10, bytes: Uint8Array.of(4) },
    { offset: 65_534, bytes: Uint8Array.of(5, 6) },
  ],
};
const sampleNoop: RedoRecord = {
  lsn: asLsn(1n),
  backlink: asLsn(0n),
  kind: 'noop',
  cpl: false,
  volumeEpoch: asEpoch(0n),
  pgId: asPgId(0),
  pageNo: asPageNo(0),
  runs: [],
};
const sampleSingleRun: RedoRecord = {
  ...sampleDiff,
  cpl: false,
  runs: [{ offset: 4096, bytes: Uint8Array.of(0xaa, 0xbb) }],
};

/** Recomputes the trailing CRC so a hand-edited record gets past the checksum to the rule checks. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  view.setUint32(bytes.length - 4, crc32c(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

function edited(record: RedoRecord, edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = encodeRedoRecord(record);
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), bytes);
  return reseal(bytes);
}

function codeOf(run: () => unknown): string {
  const error = thrownBy(run);
  if (error instanceof NorthlightError) return error.code;
  return `not a NorthlightError: ${String(error)}`;
}

function describeUnexpected(outcome: Outcome, label: string): string[] {
  return outcome.kind === 'rejected'
    ? []
    : [`${label}: ${outcome.kind} ${outcome.kind === 'crashed' ? outcome.error : ''}`];
}

describe('redo record round trip', () => {
  it('decode(encode(record)) = record, and the size is redoRecordSize', () => {
    fc.assert(
      fc.property(redoRecord, (record) => {
        const bytes = encodeRedoRecord(record);
        expect(bytes.length).toBe(redoRecordSize(record));
        const decoded = decodeRedoRecord(bytes);
        expect(decoded.bytesRead).toBe(bytes.length);
        expect(decoded.record).toEqual(record);
      }),
      { numRuns: 400 },
    );
  });

  it('decodes consecutive records of a log by offset', () => {
    fc.assert(
      fc.property(fc.array(redoRecord, { maxLength: 5 }), (records) => {
        const log = concatBytes(records.map(encodeRedoRecord));
        const decoded: RedoRecord[] = [];
        for (let offset = 0; offset < log.length; ) {
          const { record, bytesRead } = decodeRedoRecord(log, offset);
          decoded.push(record);
          offset += bytesRead;
        }
        expect(decoded).toEqual(records);
      }),
      { numRuns: 200 },
    );
  });

  it('lays out bytes as docs/formats.md says', () => {
    const bytes = encodeRedoRecord(sampleDiff);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([...bytes.subarray(0, 4)]).toEqual([1, 1, 1, 0]);
    expect(view.getUint32(4, true)).toBe(bytes.length);
    expect(bytes.length).toBe(MIN_REDO_RECORD_BYTES + 3 * 8 + 6);
    expect(view.getBigUint64(8, true)).toBe(1000n);
    expect(view.getBigUint64(16, true)).toBe(998n);
    expect(view.getBigUint64(24, true)).toBe(3n);
    expect(view.getUint32(32, true)).toBe(7);
    expect(view.getUint32(36, true)).toBe(7 * 131_072 + 5);
    expect(view.getUint32(40, true)).toBe(3);
    expect([view.getUint32(44, true), view.getUint32(48, true), ...bytes.subarray(52, 55)]).toEqual([
      0, 3, 1, 2, 3,
    ]);
    expect(view.getUint32(bytes.length - 4, true)).toBe(crc32c(bytes.subarray(0, bytes.length - 4)));
    expect([...encodeRedoRecord(sampleNoop).subarray(0, 4)]).toEqual([1, 2, 0, 0]);
  });

  it('does not alias the input: decoded run bytes are copies', () => {
    const bytes = encodeRedoRecord(sampleSingleRun);
    const { record } = decodeRedoRecord(bytes);
    bytes.fill(0);
    expect([...record.runs[0]!.bytes]).toEqual([0xaa, 0xbb]);
  });

  it('tryDecodeRedoRecord returns a Result instead of throwing', () => {
    const good = tryDecodeRedoRecord(encodeRedoRecord(sampleNoop));
    expect(good.ok && good.value.record).toEqual(sampleNoop);
    const bad = tryDecodeRedoRecord(new Uint8Array(3).fill(1));
    expect(!bad.ok && bad.error.code).toBe('NL_DECODE_TRUNCATED');
  });
});

describe('redo record rules', () => {
  const invalidRecords: [string, RedoRecord][] = [
    ['LSN 0', { ...sampleNoop, lsn: asLsn(0n) }],
    ['backlink equal to LSN', { ...sampleNoop, backlink: asLsn(1n) }],
    ['NOOP with a page number', { ...sampleNoop, pageNo: asPageNo(3) }],
    ['NOOP with runs', { ...sampleNoop, runs: sampleSingleRun.runs }],
    ['empty run', { ...sampleDiff, runs: [{ offset: 0, bytes: new Uint8Array(0) }] }],
    [
      'overlapping runs',
      {
        ...sampleDiff,
        runs: [
          { offset: 0, bytes: Uint8Array.of(1, 2) },
          { offset: 1, bytes: Uint8Array.of(3) },
        ],
      },
    ],
    [
      'unsorted runs',
      {
        ...sampleDiff,
        runs: [
          { offset: 5, bytes: Uint8Array.of(1) },
          { offset: 0, bytes: Uint8Array.of(3) },
        ],
      },
    ],
    [
      'run past the page',
      { ...sampleDiff, runs: [{ offset: MAX_PAGE_SIZE_BYTES - 1, bytes: Uint8Array.of(1, 2) }] },
    ],
    ['negative offset', { ...sampleDiff, runs: [{ offset: -1, bytes: Uint8Array.of(1) }] }],
    ['fractional page number', { ...sampleDiff, pageNo: 1.5 as never }],
    ['unknown kind', { ...sampleDiff, kind: 'image' as never }],
  ];

  it.each(invalidRecords)('asserts when encoding a record with %s', (_name, record) => {
    expect(redoRecordProblem(record)).toBeTypeOf('string');
    expect(() => encodeRedoRecord(record)).toThrow(AssertionError);
  });

  it('allows adjacent runs and a run ending exactly at the page end', () => {
    const record: RedoRecord = {
      ...sampleDiff,
      runs: [
        { offset: 0, bytes: Uint8Array.of(1) },
        { offset: 1, bytes: Uint8Array.of(2) },
        { offset: MAX_PAGE_SIZE_BYTES - 1, bytes: Uint8Array.of(3) },
      ],
    };
    expect(decodeRedoRecord(encodeRedoRecord(record)).record).toEqual(record);
  });

  // Each case breaks one rule in the bytes and recomputes the CRC, so only the rule check can catch it.
  const runsStart = 44;
  const invalidBytes: [string, Uint8Array][] = [
    ['unknown kind', edited(sampleNoop, (v) => v.setUint8(1, 3))],
    ['unknown flag', edited(sampleNoop, (v) => v.setUint8(2, 0x02))],
    ['non-zero reserved byte', edited(sampleNoop, (v) => v.setUint8(3, 1))],
    ['LSN 0', edited(sampleNoop, (v) => v.setBigUint64(8, 0n, true))],
    ['backlink not below LSN', edited(sampleNoop, (v) => v.setBigUint64(16, 1n, true))],
    ['NOOP with a page number', edited(sampleNoop, (v) => v.setUint32(36, 1, true))],
    [
      'NOOP with runs',
      edited(sampleSingleRun, (v) => {
        v.setUint8(1, 2);
        v.setUint32(36, 0, true);
      }),
    ],
    ['overlapping runs', edited(sampleDiff, (v) => v.setUint32(runsStart + 8 + 3, 2, true))],
    [
      'run past the page',
      edited(sampleSingleRun, (v) => v.setUint32(runsStart, MAX_PAGE_SIZE_BYTES - 1, true)),
    ],
    ['empty run', edited(sampleSingleRun, (v) => v.setUint32(runsStart + 4, 0, true))],
    ['run count of four billion', edited(sampleSingleRun, (v) => v.setUint32(40, 0xffff_ffff, true))],
    ['run count too small (trailing bytes)', edited(sampleDiff, (v) => v.setUint32(40, 2, true))],
    ['run length past the record', edited(sampleSingleRun, (v) => v.setUint32(runsStart + 4, 1000, true))],
  ];

  it.each(invalidBytes)('rejects a record with %s and a valid CRC as NL_DECODE_INVALID', (_name, bytes) => {
    expect(codeOf(() => decodeRedoRecord(bytes))).toBe('NL_DECODE_INVALID');
  });

  it('rejects a total length outside [48, max] as NL_DECODE_INVALID before reading further', () => {
    const short = encodeRedoRecord(sampleNoop);
    new DataView(short.buffer, short.byteOffset, short.byteLength).setUint32(
      4,
      MIN_REDO_RECORD_BYTES - 1,
      true,
    );
    expect(codeOf(() => decodeRedoRecord(short))).toBe('NL_DECODE_INVALID');
    const long = encodeRedoRecord(sampleNoop);
    new DataView(long.buffer, long.byteOffset, long.byteLength).setUint32(4, MAX_REDO_RECORD_BYTES + 1, true);
    expect(codeOf(() => decodeRedoRecord(long))).toBe('NL_DECODE_INVALID');
  });

  it('encodes and decodes the largest legal record: a 1-byte run at every offset of the page', () => {
    const runs = Array.from({ length: MAX_PAGE_SIZE_BYTES }, (_, offset) => ({
      offset,
      bytes: Uint8Array.of(offset & 0xff),
    }));
    const record: RedoRecord = { ...sampleDiff, runs };
    const bytes = encodeRedoRecord(record);
    expect(bytes.length).toBe(MAX_REDO_RECORD_BYTES);
    expect(decodeRedoRecord(bytes).record.runs.length).toBe(MAX_PAGE_SIZE_BYTES);
  });
});

describe('redo record corruption and truncation', () => {
  const samples = [sampleDiff, sampleNoop, sampleSingleRun];

  it('rejects every single-byte corruption of sample records (every position, every xor mask)', () => {
    const unexpected: string[] = [];
    for (const record of samples) {
      const bytes = encodeRedoRecord(record);
      for (let position = 0; position < bytes.length; position++) {
        for (let mask = 1; mask < 256; mask++) {
          const outcome = outcomeOf(() => decodeRedoRecord(withXor(bytes, position, mask)));
          unexpected.push(...describeUnexpected(outcome, `${record.kind} byte ${position} ^ ${mask}`));
        }
      }
    }
    expect(unexpected).toEqual([]);
  });

  it('rejects random bit flips of generated records', () => {
    fc.assert(
      fc.property(redoRecord, fc.nat(), fc.nat({ max: 7 }), (record, position, bit) => {
        const bytes = encodeRedoRecord(record);
        const outcome = outcomeOf(() => decodeRedoRecord(withXor(bytes, position % bytes.length, 1 << bit)));
        expect(outcome.kind).toBe('rejected');
      }),
      { numRuns: 500 },
    );
  });

  it('rejects every truncation (every prefix length) with NL_DECODE_TRUNCATED', () => {
    for (const record of samples) {
      const bytes = encodeRedoRecord(record);
      for (let length = 0; length < bytes.length; length++) {
        expect(
          codeOf(() => decodeRedoRecord(bytes.subarray(0, length))),
          `prefix ${length}`,
        ).toBe('NL_DECODE_TRUNCATED');
      }
    }
    fc.assert(
      fc.property(redoRecord, fc.nat(), (record, cut) => {
        const bytes = encodeRedoRecord(record);
        expect(codeOf(() => decodeRedoRecord(bytes.subarray(0, cut % bytes.length)))).toBe(
          'NL_DECODE_TRUNCATED',
        );
      }),
      { numRuns: 300 },
    );
  });

  it('rejects unknown versions with NL_DECODE_UNKNOWN_VERSION, even when the rest is short', () => {
    for (const version of [0, 2, 255]) {
      const bytes = encodeRedoRecord(sampleDiff);
      bytes[0] = version;
      expect(codeOf(() => decodeRedoRecord(bytes))).toBe('NL_DECODE_UNKNOWN_VERSION');
      expect(codeOf(() => decodeRedoRecord(Uint8Array.of(version)))).toBe('NL_DECODE_UNKNOWN_VERSION');
    }
  });

  it('never throws anything but a NorthlightError on random garbage, plain or with a plausible header', () => {
    const plausible = fc
      .tuple(fc.uint8Array({ minLength: 8, maxLength: 300 }), fc.nat({ max: 300 }))
      .map(([bytes, length]) => {
        bytes[0] = 1;
        new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(
          4,
          Math.max(length, MIN_REDO_RECORD_BYTES),
          true,
        );
        return reseal(bytes);
      });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), plausible),
        fc.nat({ max: 8 }),
        (bytes, offset) => {
          expect(outcomeOf(() => decodeRedoRecord(bytes, Math.min(offset, bytes.length))).kind).not.toBe(
            'crashed',
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('diffPages and applyRuns', () => {
  /** Page pairs that differ in a few clustered places, which is what page writes look like. */
  const pagePair = fc
    .tuple(
      fc.constantFrom(64, 512, 4096),
      fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 20 })), { maxLength: 8 }),
      fc.nat({ max: 255 }),
    )
    .map(([size, edits, fill]) => {
      const before = Uint8Array.from({ length: size }, (_, index) => (index * 7 + fill) & 0xff);
      const after = before.slice();
      for (const [position, bytes] of edits)
        after.set(bytes.subarray(0, size - (position % size)), position % size);
      return { before, after };
    });

  it('applyRuns(before, diffPages(before, after)) = after, with runs a record accepts', () => {
    fc.assert(
      fc.property(pagePair, fc.nat({ max: 16 }), ({ before, after }, maxGapBytes) => {
        const runs = diffPages(before, after, { maxGapBytes });
        expect(sameBytes(applyRuns(before, runs), after)).toBe(true);
        const record: RedoRecord = { ...sampleDiff, runs };
        expect(redoRecordProblem(record)).toBeUndefined();
        for (const [index, run] of runs.entries()) {
          // Each run starts and ends on a changed byte, and runs are at least maxGapBytes apart.
          expect(before[run.offset]).not.toBe(after[run.offset]);
          const last = run.offset + run.bytes.length - 1;
          expect(before[last]).not.toBe(after[last]);
          const previous = runs[index - 1];
          if (previous !== undefined) {
            expect(run.offset - (previous.offset + previous.bytes.length)).toBeGreaterThanOrEqual(
              Math.max(maxGapBytes, 1),
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('finds no runs between identical pages and merges across short gaps by default', () => {
    const before = new Uint8Array(100);
    expect(diffPages(before, before.slice())).toEqual([]);
    const after = before.slice();
    after[10] = 1;
    after[17] = 1; // 6 unchanged bytes between: merged with the default gap of 8.
    after[40] = 1; // 22 unchanged bytes: a new run.
    expect(diffPages(before, after).map((run) => [run.offset, run.bytes.length])).toEqual([
      [10, 8],
      [40, 1],
    ]);
    expect(diffPages(before, after, { maxGapBytes: 0 }).length).toBe(3);
  });

  it('diffs a whole 64 KiB page and returns copies', () => {
    const before = new Uint8Array(MAX_PAGE_SIZE_BYTES);
    const after = new Uint8Array(MAX_PAGE_SIZE_BYTES).fill(9);
    const runs = diffPages(before, after);
    expect(runs.map((run) => [run.offset, run.bytes.length])).toEqual([[0, MAX_PAGE_SIZE_BYTES]]);
    after.fill(0);
    expect(runs[0]!.bytes[0]).toBe(9);
    expect(before[0]).toBe(0);
  });

  it('asserts on mismatched or oversized pages and out-of-bounds runs', () => {
    expect(() => diffPages(new Uint8Array(2), new Uint8Array(3))).toThrow(AssertionError);
    expect(() =>
      diffPages(new Uint8Array(MAX_PAGE_SIZE_BYTES + 1), new Uint8Array(MAX_PAGE_SIZE_BYTES + 1)),
    ).toThrow(AssertionError);
    expect(() => applyRuns(new Uint8Array(4), [{ offset: 3, bytes: Uint8Array.of(1, 2) }])).toThrow(
      AssertionError,
    );
    expect(() => applyRuns(new Uint8Array(4), [{ offset: -1, bytes: Uint8Array.of(1) }])).toThrow(
      AssertionError,
    );
    const page = Uint8Array.of(1, 2, 3, 4);
    expect([...applyRuns(page, [{ offset: 1, bytes: Uint8Array.of(9) }])]).toEqual([1, 9, 3, 4]);
    expect([...page]).toEqual([1, 2, 3, 4]);
  });

  it('applyRunsInPlace writes into the page itself, and checks every run before it changes a byte', () => {
    const page = Uint8Array.of(1, 2, 3, 4);
    applyRunsInPlace(page, [
      { offset: 0, bytes: Uint8Array.of(7) },
      { offset: 2, bytes: Uint8Array.of(8, 9) },
    ]);
    expect([...page]).toEqual([7, 2, 8, 9]);
    expect(() =>
      applyRunsInPlace(page, [
        { offset: 0, bytes: Uint8Array.of(5) },
        { offset: 3, bytes: Uint8Array.of(5, 5) },
      ]),
    ).toThrow(AssertionError);
    expect([...page]).toEqual([7, 2, 8, 9]);
  });
});
