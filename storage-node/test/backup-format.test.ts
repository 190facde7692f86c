/**
 * The backup formats (backup-format.ts): chunks, bases and manifests round-trip, and every damaged,
 * truncated, hostile or random object is refused with a typed NorthlightError (NL_DECODE_*), never
 * another exception and never a wrong value — a restore trusts nothing it reads from the bucket.
 */
import { asEpoch, asLsn, asNodeId, asPgId, asSegmentId, isNorthlightError } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BackupManifest,
  baseKey,
  chunkKey,
  decodeBase,
  decodeChunk,
  decodeManifest,
  encodeBase,
  encodeChunk,
  encodeManifest,
} from '../src/core/backup-format.js';
import { recordsOfPg3Above100 as records } from './support/history.js';

const PG = asPgId(3);
const SEGMENT = asSegmentId('pg3-s1');
const PAGE = 256;

const chunkRecords = records(12);
const chunkRef = {
  key: chunkKey('', PG, SEGMENT, asLsn(100n), chunkRecords.at(-1)!.lsn),
  fromExclusive: asLsn(100n),
  toInclusive: chunkRecords.at(-1)!.lsn,
  records: chunkRecords.length,
  bytes: 0,
};
const images = [0, 1, 7].map((pageNo) => ({
  pageNo: 192 + pageNo,
  bytes: new Uint8Array(PAGE).fill(pageNo + 1),
}));
const baseRef = {
  key: baseKey('', PG, SEGMENT, asLsn(100n)),
  lsn: asLsn(100n),
  pages: images.length,
  bytes: 0,
};
const manifest: BackupManifest = {
  pgId: PG,
  segmentId: SEGMENT,
  pageSizeBytes: PAGE,
  volumeEpoch: asEpoch(2n),
  truncationEpoch: asEpoch(2n),
  truncations: [{ volumeEpoch: asEpoch(2n), fromExclusive: asLsn(90n), toInclusive: asLsn(95n) }],
  membershipEpoch: asEpoch(1n),
  members: [SEGMENT, asSegmentId('pg3-s2')],
  memberNodes: [asNodeId('n1'), asNodeId('n2')],
  backedUpThrough: chunkRef.toInclusive,
  base: baseRef,
  chunks: [chunkRef],
  updatedAtMs: 1_767_225_600_000,
};

/** Decoding either succeeds or throws a typed NL_DECODE_* error; anything else fails the test. */
function typedOrOk(decode: () => unknown): 'ok' | string {
  try {
    decode();
    return 'ok';
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    expect(error.code).toMatch(/^NL_DECODE_/);
    return error.code;
  }
}

describe('backup formats', () => {
  it('round-trips a chunk, a base and a manifest', () => {
    expect(decodeChunk(encodeChunk(PG, SEGMENT, chunkRecords), chunkRef, PG)).toEqual(chunkRecords);
    expect(decodeBase(encodeBase(PG, asLsn(100n), PAGE, images), baseRef, PG, PAGE)).toEqual(images);
    expect(decodeManifest(encodeManifest(manifest), 'm')).toEqual(manifest);
    const bare = { ...manifest, base: undefined, chunks: [{ ...chunkRef, fromExclusive: asLsn(0n) }] };
    expect(decodeManifest(encodeManifest(bare), 'm')).toEqual(bare);
  });

  it('refuses every single-byte corruption of a chunk and a base, and every truncation', () => {
    const chunk = encodeChunk(PG, SEGMENT, chunkRecords);
    const base = encodeBase(PG, asLsn(100n), PAGE, images);
    for (const [bytes, decode] of [
      [chunk, (candidate: Uint8Array) => decodeChunk(candidate, chunkRef, PG)],
      [base, (candidate: Uint8Array) => decodeBase(candidate, baseRef, PG, PAGE)],
    ] as const) {
      for (let offset = 0; offset < bytes.length; offset++) {
        const damaged = bytes.slice();
        damaged[offset] = damaged[offset]! ^ 0x41;
        expect(
          typedOrOk(() => decode(damaged)),
          `byte ${offset}`,
        ).not.toBe('ok');
      }
      for (let length = 0; length < bytes.length; length++)
        expect(
          typedOrOk(() => decode(bytes.subarray(0, length))),
          `length ${length}`,
        ).not.toBe('ok');
    }
  });

  it('refuses objects that are intact but not what the manifest names', () => {
    const chunk = encodeChunk(PG, SEGMENT, chunkRecords);
    expect(typedOrOk(() => decodeChunk(chunk, { ...chunkRef, records: 11 }, PG))).toBe('NL_DECODE_INVALID');
    expect(typedOrOk(() => decodeChunk(chunk, { ...chunkRef, toInclusive: asLsn(105n) }, PG))).toBe(
      'NL_DECODE_INVALID',
    );
    expect(typedOrOk(() => decodeChunk(chunk, chunkRef, asPgId(4)))).toBe('NL_DECODE_INVALID');
    const base = encodeBase(PG, asLsn(100n), PAGE, images);
    expect(typedOrOk(() => decodeBase(base, { ...baseRef, lsn: asLsn(101n) }, PG, PAGE))).toBe(
      'NL_DECODE_INVALID',
    );
    expect(typedOrOk(() => decodeBase(base, baseRef, PG, 512))).toBe('NL_DECODE_INVALID');
    expect(typedOrOk(() => decodeBase(base, { ...baseRef, pages: 2 }, PG, PAGE))).toBe('NL_DECODE_INVALID');
  });

  it('refuses hostile manifests: gaps between chunks, a wrong end, bad numbers, bad ids, another version', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeManifest(manifest))) as Record<string, unknown>;
    const variants: Record<string, unknown>[] = [
      { ...json, version: 2 },
      { ...json, format: 'other' },
      { ...json, backedUpThrough: '99' },
      { ...json, backedUpThrough: '-1' },
      { ...json, backedUpThrough: '18446744073709551616' },
      { ...json, segmentId: 'Not An Id' },
      { ...json, members: ['pg3-s1', 7] },
      { ...json, memberNodes: ['n1'] },
      { ...json, truncations: [{ volumeEpoch: '1', fromExclusive: '9', toInclusive: '9' }] },
      { ...json, chunks: [{ ...(json.chunks as object[])[0], fromExclusive: '101' }] },
      { ...json, chunks: 'none' },
      { ...json, base: { key: 7 } },
      { ...json, pgId: -1 },
      { ...json, pageSizeBytes: 1e9 },
      [],
    ] as never;
    for (const variant of variants) {
      const bytes = new TextEncoder().encode(JSON.stringify(variant));
      expect(
        typedOrOk(() => decodeManifest(bytes, 'm')),
        JSON.stringify(variant).slice(0, 80),
      ).not.toBe('ok');
    }
    expect(typedOrOk(() => decodeManifest(new Uint8Array([0xff, 0xfe, 0x00]), 'm'))).toBe(
      'NL_DECODE_INVALID',
    );
  });

  it('fuzz: random bytes and random mutations of valid objects only ever give typed errors', () => {
    const valid = [
      encodeManifest(manifest),
      encodeChunk(PG, SEGMENT, chunkRecords),
      encodeBase(PG, asLsn(100n), PAGE, images),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          fc
            .tuple(
              fc.constantFrom(...valid),
              fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 8 }),
            )
            .map(([bytes, flips]) => {
              const copy = bytes.slice();
              for (const [position, mask] of flips)
                copy[position % copy.length] = copy[position % copy.length]! ^ mask;
              return copy;
            }),
        ),
        (bytes) => {
          typedOrOk(() => decodeManifest(bytes, 'm'));
          typedOrOk(() => decodeChunk(bytes, chunkRef, PG));
          typedOrOk(() => decodeBase(bytes, baseRef, PG, PAGE));
        },
      ),
      { numRuns: 3000, seed: 20261125 },
    );
  });
});
