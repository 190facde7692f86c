// Proves crc32c() is CRC32C (Castagnoli): the published check vectors, agreement of the slicing-by-8
// loop with a plain bit-at-a-time reference on random inputs of every alignment, and that `initial`
// continues a running checksum across chunks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { crc32c } from '../src/core/crc32c.js';

function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffff_ffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('matches the bit-at-a-time reference for every length 0..64', () => {
    const bytes = Uint8Array.from({ length: 64 }, (_, index) => (index * 151 + 7) & 0xff);
    for (let length = 0; length <= bytes.length; length++) {
      expect(crc32c(bytes.subarray(0, length))).toBe(referenceCrc32c(bytes.subarray(0, length)));
    }
  });

  it('matches the reference on random input at random alignments', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 7 }), (bytes, skip) => {
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(crc32c(view)).toBe(referenceCrc32c(view));
      }),
      { numRuns: 300 },
    );
  });

  it('continues a running checksum through `initial`', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (first, second) => {
        const whole = new Uint8Array(first.length + second.length);
        whole.set(first);
        whole.set(second, first.length);
        expect(crc32c(second, crc32c(first))).toBe(crc32c(whole));
      }),
      { numRuns: 300 },
    );
  });

  it('asserts on an initial value that is not a u32', () => {
    expect(() => crc32c(new Uint8Array(1), -1)).toThrow(AssertionError);
    expect(() => crc32c(new Uint8Array(1), 2 ** 32)).toThrow(AssertionError);
  });
});
