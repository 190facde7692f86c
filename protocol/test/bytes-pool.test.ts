// Proves the slab allocator's contract (bytes-pool.ts): every array is zeroed and exactly as long as
// asked; live arrays never overlap, whatever is written into them; small arrays share slabs, large
// ones own their buffer; and copyBytes copies exactly the range, aliasing neither source nor other
// copies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { allocateBytes, copyBytes, POOLED_MAX_BYTES, SLAB_BYTES } from '../src/core/bytes-pool.js';

describe('allocateBytes', () => {
  it('hands out zeroed, exactly sized arrays that never overlap, even after being written', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: POOLED_MAX_BYTES + 100 }), { minLength: 1, maxLength: 200 }),
        (sizes) => {
          const arrays = sizes.map((size, index) => {
            const bytes = allocateBytes(size);
            expect(bytes.length).toBe(size);
            expect(bytes.every((byte) => byte === 0)).toBe(true);
            bytes.fill((index % 255) + 1);
            return bytes;
          });
          arrays.forEach((bytes, index) => {
            expect(bytes.every((byte) => byte === (index % 255) + 1)).toBe(true);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('carves small arrays out of shared slabs, 8-byte aligned, and gives large ones their own buffer', () => {
    const small = allocateBytes(100);
    expect(small.buffer.byteLength).toBe(SLAB_BYTES);
    expect(small.byteOffset % 8).toBe(0);
    const next = allocateBytes(100);
    if (next.buffer === small.buffer) expect(next.byteOffset).toBeGreaterThanOrEqual(small.byteOffset + 104);
    const large = allocateBytes(POOLED_MAX_BYTES + 1);
    expect(large.byteOffset).toBe(0);
    expect(large.buffer.byteLength).toBe(POOLED_MAX_BYTES + 1);
  });

  it('moves on to a fresh slab when the current one is full', () => {
    const buffers = new Set<ArrayBufferLike>();
    for (let index = 0; index < (2 * SLAB_BYTES) / POOLED_MAX_BYTES + 2; index++)
      buffers.add(allocateBytes(POOLED_MAX_BYTES).buffer);
    expect(buffers.size).toBeGreaterThanOrEqual(2);
  });

  it('asserts on a length that is not a non-negative integer', () => {
    for (const length of [-1, 1.5, Number.NaN]) expect(() => allocateBytes(length)).toThrow(AssertionError);
  });
});

describe('copyBytes', () => {
  it('copies exactly [start, end) and aliases neither the source nor other copies', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3 * POOLED_MAX_BYTES }), fc.nat(), fc.nat(), (source, a, b) => {
        const start = source.length === 0 ? 0 : a % (source.length + 1);
        const end = start + (source.length === start ? 0 : b % (source.length - start + 1));
        const copy = copyBytes(source, start, end);
        const again = copyBytes(source, start, end);
        expect([...copy]).toEqual([...source.subarray(start, end)]);
        if (copy.length > 0) {
          copy[0] = copy[0]! ^ 0xff;
          expect(source[start]).toBe(again[0]);
          expect(again[0]).not.toBe(copy[0]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('asserts on bounds outside the source', () => {
    const source = new Uint8Array(10);
    expect(() => copyBytes(source, 5, 11)).toThrow(AssertionError);
    expect(() => copyBytes(source, 6, 5)).toThrow(AssertionError);
    expect(() => copyBytes(source, -1, 2)).toThrow(AssertionError);
  });
});
