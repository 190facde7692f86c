// Proves the Reader and Writer under every codec: reads past the end are NorthlightErrors with the
// configured code (never RangeError), counts are checked before allocation, strings are strict UTF-8
// that round-trips exactly, and writer overruns or out-of-range values are assertions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { fitUtf8, isWellFormedUnicode, Reader, utf8ByteLength, Writer } from '../src/core/codec.js';
import { NorthlightError } from '../src/core/errors.js';
import { U64_MAX } from '../src/core/types.js';
import { unicodeText } from './arbitraries.js';
import { thrownBy } from './helpers.js';

describe('Reader', () => {
  it('reads little-endian integers and tracks its position', () => {
    const reader = new Reader(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    expect(reader.u8()).toBe(1);
    expect(reader.u16()).toBe(0x0302);
    expect(reader.u32()).toBe(0x07060504);
    expect(reader.u64()).toBe(0x0f0e0d0c0b0a0908n);
    expect(reader.remaining).toBe(0);
    expect(reader.position).toBe(15);
  });

  it('throws NL_DECODE_TRUNCATED (or the configured code) on overrun, never a RangeError', () => {
    for (const read of [
      (r: Reader) => r.u16(),
      (r: Reader) => r.u32(),
      (r: Reader) => r.u64(),
      (r: Reader) => r.bytes(2),
    ]) {
      const error = thrownBy(() => read(new Reader(Uint8Array.of(1, 2, 3), { start: 2 })));
      expect(error).toBeInstanceOf(NorthlightError);
      expect((error as NorthlightError).code).toBe('NL_DECODE_TRUNCATED');
      const invalid = thrownBy(() =>
        read(new Reader(Uint8Array.of(1), { overrunCode: 'NL_DECODE_INVALID' })),
      );
      expect((invalid as NorthlightError).code).toBe('NL_DECODE_INVALID');
    }
  });

  it('never reads past its end even when the buffer goes on', () => {
    const reader = new Reader(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), { start: 2, end: 4 });
    expect(reader.u16()).toBe(0x0403);
    expect((thrownBy(() => reader.u8()) as NorthlightError).code).toBe('NL_DECODE_TRUNCATED');
  });

  it('checks an element count against the remaining bytes before the caller allocates', () => {
    const huge = new Reader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0));
    expect((thrownBy(() => huge.count(1, 'items')) as NorthlightError).code).toBe('NL_DECODE_TRUNCATED');
    const fits = new Reader(Uint8Array.of(2, 0, 0, 0, 9, 9, 9, 9));
    expect(fits.count(2, 'items')).toBe(2);
    const tooMany = new Reader(Uint8Array.of(3, 0, 0, 0, 9, 9, 9, 9));
    expect((thrownBy(() => tooMany.count(3, 'items')) as NorthlightError).code).toBe('NL_DECODE_TRUNCATED');
  });

  it('returns copies of byte ranges, not views of the input', () => {
    const input = Uint8Array.of(1, 2, 3);
    const copy = new Reader(input).bytes(3);
    input[0] = 99;
    expect(copy[0]).toBe(1);
  });

  it('rejects strings over their cap, invalid UTF-8, and trailing bytes as NL_DECODE_INVALID', () => {
    const tooLong = new Reader(Uint8Array.of(5, 0, 97, 98, 99, 100, 101));
    expect((thrownBy(() => tooLong.string(4, 's')) as NorthlightError).code).toBe('NL_DECODE_INVALID');
    const badUtf8 = new Reader(Uint8Array.of(2, 0, 0xc3, 0x28));
    expect((thrownBy(() => badUtf8.string(10, 's')) as NorthlightError).code).toBe('NL_DECODE_INVALID');
    const trailing = new Reader(Uint8Array.of(1, 2));
    trailing.u8();
    expect((thrownBy(() => trailing.expectEnd()) as NorthlightError).code).toBe('NL_DECODE_INVALID');
  });
});

describe('Writer', () => {
  it('round-trips integers and strings through a Reader', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xff }),
        fc.nat({ max: 0xffff }),
        fc.nat({ max: 0xffff_ffff }),
        fc.bigInt({ min: 0n, max: U64_MAX }),
        unicodeText(50),
        (a, b, c, d, text) => {
          const writer = Writer.allocate(1 + 2 + 4 + 8 + 2 + utf8ByteLength(text));
          writer.u8(a);
          writer.u16(b);
          writer.u32(c);
          writer.u64(d);
          writer.string(text, 1000);
          const reader = new Reader(writer.finish());
          expect([
            reader.u8(),
            reader.u16(),
            reader.u32(),
            reader.u64(),
            reader.string(1000, 'text'),
          ]).toEqual([a, b, c, d, text]);
          reader.expectEnd();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps a leading byte order mark (the decoder must not strip it)', () => {
    const text = '\ufeffhello';
    const writer = Writer.allocate(2 + utf8ByteLength(text));
    writer.string(text, 100);
    expect(new Reader(writer.finish()).string(100, 'text')).toBe(text);
  });

  it('asserts on overrun, out-of-range values, lone surrogates and inexact sizing', () => {
    expect(() => Writer.allocate(1).u16(1)).toThrow(AssertionError);
    expect(() => Writer.allocate(1).u8(256)).toThrow(AssertionError);
    expect(() => Writer.allocate(4).u32(-1)).toThrow(AssertionError);
    expect(() => Writer.allocate(8).u64(U64_MAX + 1n)).toThrow(AssertionError);
    expect(() => Writer.allocate(8).u64(-1n)).toThrow(AssertionError);
    expect(() => Writer.allocate(10).string('\ud800', 10)).toThrow(AssertionError);
    expect(() => Writer.allocate(10).string('abc', 2)).toThrow(AssertionError);
    expect(() => Writer.allocate(2).finish()).toThrow(AssertionError);
  });
});

describe('UTF-8 helpers', () => {
  it('utf8ByteLength agrees with TextEncoder for well-formed text', () => {
    fc.assert(
      fc.property(unicodeText(80), (text) => {
        expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
        expect(isWellFormedUnicode(text)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('fitUtf8 cuts on a code point boundary and replaces lone surrogates', () => {
    expect(fitUtf8('abc', 2)).toBe('ab');
    expect(fitUtf8('aé', 2)).toBe('a');
    expect(fitUtf8('a😀', 4)).toBe('a');
    expect(fitUtf8('a😀', 5)).toBe('a😀');
    expect(fitUtf8('a\ud800b', 10)).toBe('a\ufffdb');
    expect(isWellFormedUnicode('a\udc00')).toBe(false);
    fc.assert(
      fc.property(unicodeText(60), fc.nat({ max: 100 }), (text, limit) => {
        const fitted = fitUtf8(text, limit);
        expect(utf8ByteLength(fitted)).toBeLessThanOrEqual(limit);
        expect(text.startsWith(fitted)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
