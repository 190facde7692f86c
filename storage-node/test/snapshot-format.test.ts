/**
 * The peer snapshot stream (snapshot-format.ts): it round-trips whatever slices the socket cuts it
 * into, and every out-of-order, truncated, oversized, damaged or random stream is refused with a typed
 * NorthlightError (NL_DECODE_*), never another exception — a joiner trusts nothing it receives.
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  crc32c,
  isNorthlightError,
} from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BackupManifest } from '../src/core/backup-format.js';
import { encodeSlotImage } from '../src/core/page-store.js';
import {
  encodeSnapshotBasePart,
  encodeSnapshotChunk,
  encodeSnapshotEnd,
  encodeSnapshotManifest,
  encodeSnapshotPartHeader,
  SNAPSHOT_BASE_KEY,
  SNAPSHOT_PART_BYTES_MAX,
  SNAPSHOT_PART_HEADER_BYTES,
  SnapshotDecoder,
  type SnapshotEvent,
  snapshotChunkKey,
} from '../src/core/snapshot-format.js';
import { recordsOfPg3Above100 as records } from './support/history.js';

const PG = asPgId(3);
const PAGE = 256;

const all = records(10);
const chunkA = all.slice(0, 6);
const chunkB = all.slice(6);
const images = [0, 1, 7, 9, 12].map((pageNo) => ({
  pageNo: 192 + pageNo,
  bytes: new Uint8Array(PAGE).fill(pageNo + 1),
}));
const manifest: BackupManifest = {
  pgId: PG,
  segmentId: asSegmentId('pg3-s2'),
  pageSizeBytes: PAGE,
  volumeEpoch: asEpoch(2n),
  truncationEpoch: asEpoch(2n),
  truncations: [],
  membershipEpoch: asEpoch(4n),
  members: ['pg3-s1', 'pg3-s2'].map(asSegmentId),
  memberNodes: ['n1', 'n2'].map(asNodeId),
  backedUpThrough: all.at(-1)!.lsn,
  base: { key: SNAPSHOT_BASE_KEY, lsn: asLsn(100n), pages: images.length, bytes: images.length * PAGE },
  chunks: [
    {
      key: snapshotChunkKey(0),
      fromExclusive: asLsn(100n),
      toInclusive: chunkA.at(-1)!.lsn,
      records: 6,
      bytes: 0,
    },
    {
      key: snapshotChunkKey(1),
      fromExclusive: chunkA.at(-1)!.lsn,
      toInclusive: chunkB.at(-1)!.lsn,
      records: 4,
      bytes: 0,
    },
  ],
  updatedAtMs: 1,
};

/** Page-store slots of `list`, as a source reads them (its segment number is its own: 7). */
function slotsOf(list: typeof images, lsn = 100n): Uint8Array {
  return concat(list.map((image) => encodeSlotImage(7, image.pageNo, lsn, image.bytes)));
}

const parts = {
  manifest: encodeSnapshotManifest(manifest),
  base1: encodeSnapshotBasePart(slotsOf(images.slice(0, 3)), 3),
  base2: encodeSnapshotBasePart(slotsOf(images.slice(3), 90n), 2),
  chunkA: encodeSnapshotChunk(manifest, chunkA),
  chunkB: encodeSnapshotChunk(manifest, chunkB),
  end: encodeSnapshotEnd(5),
};
const valid = [parts.manifest, parts.base1, parts.base2, parts.chunkA, parts.chunkB, parts.end];

function concat(list: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of list) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Decodes `bytes` cut at `cuts` (offsets), then finishes. */
function decode(bytes: Uint8Array, cuts: readonly number[] = []): SnapshotEvent[] {
  const decoder = new SnapshotDecoder(PG, PAGE);
  const events: SnapshotEvent[] = [];
  let previous = 0;
  for (const cut of [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)) {
    events.push(...decoder.push(bytes.subarray(previous, cut)));
    previous = cut;
  }
  events.push(...decoder.push(bytes.subarray(previous)));
  decoder.finish();
  return events;
}

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    return error.code;
  }
  return 'ok';
}

function withHeader(part: Uint8Array, edit: (view: DataView) => void, fixCrc = true): Uint8Array {
  const copy = part.slice();
  const view = new DataView(copy.buffer);
  edit(view);
  if (fixCrc) {
    // Recompute the header CRC so the check under test is the one that fires.
    view.setUint32(16, crc32c(copy.subarray(0, 16)), true);
  }
  return copy;
}

describe('peer snapshot stream', () => {
  it('round-trips in any slicing: the manifest, the base in parts, the chunks, the end', () => {
    const bytes = concat(valid);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: bytes.length }), { maxLength: 40 }), (cuts) => {
        const events = decode(bytes, cuts);
        expect(events.map((event) => event.kind)).toEqual([
          'manifest',
          'base',
          'base',
          'chunk',
          'chunk',
          'end',
        ]);
        const [first, b1, b2, c1, c2] = events;
        expect(first).toMatchObject({
          kind: 'manifest',
          manifest: { segmentId: 'pg3-s2', backedUpThrough: manifest.backedUpThrough },
        });
        const imagesOf = (event: SnapshotEvent | undefined) => (event?.kind === 'base' ? event.images : []);
        const recordsOf = (event: SnapshotEvent | undefined) =>
          event?.kind === 'chunk' ? event.records : [];
        expect([...imagesOf(b1), ...imagesOf(b2)].map(({ pageNo, bytes }) => ({ pageNo, bytes }))).toEqual(
          images,
        );
        expect(recordsOf(c1)).toEqual(chunkA);
        expect(recordsOf(c2)).toEqual(chunkB);
      }),
      { numRuns: 300, seed: 20261126 },
    );
  });

  it('decodes the same whatever slices it comes in: split at every offset, and a byte at a time', () => {
    const bytes = concat(valid);
    const whole = decode(bytes);
    expect(whole.map((event) => event.kind)).toEqual(['manifest', 'base', 'base', 'chunk', 'chunk', 'end']);
    const expected = digest(whole);
    for (let at = 0; at <= bytes.length; at++) expect(digest(decode(bytes, [at]))).toBe(expected);
    expect(
      digest(
        decode(
          bytes,
          Array.from({ length: bytes.length }, (_, at) => at),
        ),
      ),
    ).toBe(expected);
    // A base part's slots come out as sent, each image a checked view of its slot.
    const base = whole[1];
    expect(base?.kind === 'base' && base.slots).toEqual(parts.base1.subarray(SNAPSHOT_PART_HEADER_BYTES));
    expect(base?.kind === 'base' && base.images).toEqual(
      images.slice(0, 3).map(({ pageNo, bytes }) => ({ pageNo, bytes, crc: crc32c(bytes) })),
    );
  });

  it('a part header sent apart from its body frames the same part', () => {
    const body = slotsOf(images.slice(0, 3));
    expect(concat([encodeSnapshotPartHeader('base', 3, body.length), body])).toEqual(parts.base1);
  });

  it.each([
    ['a base part before the manifest', [parts.base1, parts.manifest], 'NL_DECODE_INVALID'],
    ['a second manifest', [parts.manifest, parts.manifest], 'NL_DECODE_INVALID'],
    ['a chunk before the whole base', [parts.manifest, parts.base1, parts.chunkA], 'NL_DECODE_INVALID'],
    ['chunks out of order', [parts.manifest, parts.base1, parts.base2, parts.chunkB], 'NL_DECODE_INVALID'],
    [
      'more pages than the manifest',
      [parts.manifest, parts.base1, parts.base2, parts.base2],
      'NL_DECODE_INVALID',
    ],
    ['an end that miscounts', [...valid.slice(0, 5), encodeSnapshotEnd(4)], 'NL_DECODE_INVALID'],
    ['an early end', [parts.manifest, parts.base1, encodeSnapshotEnd(2)], 'NL_DECODE_INVALID'],
    ['no end part', valid.slice(0, 5), 'NL_DECODE_TRUNCATED'],
    ['a partial last part', [...valid.slice(0, 5), parts.end.subarray(0, 10)], 'NL_DECODE_TRUNCATED'],
    ['bytes after the end', [...valid, new Uint8Array([1])], 'NL_DECODE_INVALID'],
    ['a damaged page in a slot', [parts.manifest, flip(parts.base1, 20 + 32 + 100)], 'NL_DECODE_CHECKSUM'],
    [
      'a slot whose identities are both damaged',
      [parts.manifest, flip(flip(parts.base1, 20 + 5), 20 + 32 + PAGE + 5)],
      'NL_DECODE_CHECKSUM',
    ],
    [
      'a page above the base LSN',
      [parts.manifest, encodeSnapshotBasePart(slotsOf(images.slice(0, 1), 101n), 1)],
      'NL_DECODE_INVALID',
    ],
    [
      'a page twice',
      [parts.manifest, encodeSnapshotBasePart(slotsOf([images[0]!, images[0]!]), 2)],
      'NL_DECODE_INVALID',
    ],
    [
      'slots of the wrong size',
      [parts.manifest, encodeSnapshotBasePart(slotsOf(images.slice(0, 2)), 3)],
      'NL_DECODE_INVALID',
    ],
    [
      'a damaged chunk body',
      [parts.manifest, parts.base1, parts.base2, flip(parts.chunkA, 60)],
      'NL_DECODE_CHECKSUM',
    ],
    ['a damaged header', [flip(parts.manifest, 9)], 'NL_DECODE_CHECKSUM'],
    [
      'bad magic',
      [withHeader(parts.manifest, (view) => view.setUint32(0, 0x1234, true))],
      'NL_DECODE_INVALID',
    ],
    ['an unknown kind', [withHeader(parts.manifest, (view) => view.setUint8(4, 9))], 'NL_DECODE_INVALID'],
    ['reserved bytes set', [withHeader(parts.manifest, (view) => view.setUint8(5, 1))], 'NL_DECODE_INVALID'],
    [
      'an oversized part',
      [withHeader(parts.manifest, (view) => view.setUint32(8, SNAPSHOT_PART_BYTES_MAX + 1, true))],
      'NL_DECODE_FRAME_TOO_LARGE',
    ],
    [
      'a manifest of another PG',
      [encodeSnapshotManifest({ ...manifest, pgId: asPgId(4) })],
      'NL_DECODE_INVALID',
    ],
    ['another page size', [encodeSnapshotManifest({ ...manifest, pageSizeBytes: 512 })], 'NL_DECODE_INVALID'],
    [
      'a base that is not the snapshot base',
      [encodeSnapshotManifest({ ...manifest, base: { ...manifest.base!, key: 'pg-3/x/base/1.nlb' } })],
      'NL_DECODE_INVALID',
    ],
  ] as const)('refuses %s', (_what, list, code) => {
    expect(codeOf(() => decode(concat(list)))).toBe(code);
  });

  it('fuzz: random bytes and mutated streams only ever give typed errors', () => {
    const bytes = concat(valid);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 4096 }),
          fc
            .array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 })
            .map((flips) => {
              const copy = bytes.slice();
              for (const [position, mask] of flips) copy[position % copy.length]! ^= mask;
              return copy;
            }),
          fc.nat({ max: bytes.length - 1 }).map((length) => bytes.subarray(0, length)),
        ),
        fc.array(fc.nat(), { maxLength: 6 }),
        (stream, cuts) => {
          const code = codeOf(() => decode(stream, cuts));
          expect(code === 'ok' || code.startsWith('NL_DECODE_')).toBe(true);
        },
      ),
      { numRuns: 3000, seed: 20261127 },
    );
  });

  it('frames a part with a 20-byte header', () => {
    expect(parts.end.length).toBe(SNAPSHOT_PART_HEADER_BYTES);
  });
});

/** The events as one string (bytes in hex), to compare many decodings cheaply. */
function digest(events: readonly SnapshotEvent[]): string {
  return JSON.stringify(events, (_key, value: unknown) =>
    value instanceof Uint8Array
      ? Buffer.from(value).toString('hex')
      : typeof value === 'bigint'
        ? value.toString()
        : value,
  );
}

function flip(part: Uint8Array, at: number): Uint8Array {
  const copy = part.slice();
  copy[at] = copy[at]! ^ 0x40;
  return copy;
}
