// Proves crc32c() is CRC32C (Castagnoli): the published check vectors, agreement of the slicing-by-8
// loop with a plain bit-at-a-time reference on random inputs of every alignment, that `initial`
// continues a running checksum across chunks, and that the native addon (used from NATIVE_MIN_BYTES
// on) gives the portable loop's value on every input, at every offset, with every initial value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { CRC32C_IMPLEMENTATION, crc32c, crc32cPortable, NATIVE_MIN_BYTES } from '../src/core/crc32c.js';

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

  it('asserts on an initial value that is not a u32, on both paths', () => {
    for (const length of [1, NATIVE_MIN_BYTES, 4096]) {
      expect(() => crc32c(new Uint8Array(length), -1)).toThrow(AssertionError);
      expect(() => crc32c(new Uint8Array(length), 2 ** 32)).toThrow(AssertionError);
      expect(() => crc32c(new Uint8Array(length), 0.5)).toThrow(AssertionError);
    }
  });

  it('uses the native addon on this platform (a prebuilt one exists for linux-x64-gnu)', () => {
    // If this fails the addon did not load (or disagreed with the check value): every checksum then
    // runs in JavaScript, correct but slower. Run `npm ci` again; see docs/formats.md.
    if (process.platform === 'linux' && process.arch === 'x64') expect(CRC32C_IMPLEMENTATION).toBe('native');
  });

  it('native and portable agree on every input, offset and running value', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: NATIVE_MIN_BYTES - 8, maxLength: 9000 }),
        fc.nat({ max: 15 }),
        fc.nat({ max: 0xffff_ffff }),
        (bytes, skip, initial) => {
          const view = bytes.subarray(Math.min(skip, bytes.length));
          expect(crc32c(view, initial)).toBe(crc32cPortable(view, initial));
          expect(crc32c(view)).toBe(referenceCrc32c(view));
        },
      ),
      { numRuns: 400 },
    );
    // A view into a larger buffer (as a page inside a received part is): the view's bytes only.
    const part = Uint8Array.from({ length: 3 * 4096 }, (_, index) => (index * 31 + 5) & 0xff);
    const page = part.subarray(4096, 8192);
    expect(crc32c(page)).toBe(referenceCrc32c(page));
  });
});
