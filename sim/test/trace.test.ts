/**
 * Proves the trace hash is FNV-1a 64 over the UTF-8 of the printed lines (checked against the
 * published test vectors, a plain bigint FNV-1a, and hashing the printed text independently, times
 * of every magnitude included), that the hash covers every line while only the last N are kept, and
 * that time prints as milliseconds with 3 decimals.
 */
import { describe, expect, it } from 'vitest';
import { Fnv1a64, fnv1a64 } from '../src/hash.js';
import { Prng } from '../src/prng.js';
import { formatTimeUs, Trace } from '../src/trace.js';

describe('FNV-1a 64', () => {
  it('matches the published test vectors', () => {
    expect(fnv1a64('').toString(16)).toBe('cbf29ce484222325');
    expect(fnv1a64('a').toString(16)).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar').toString(16)).toBe('85944171f73967e8');
  });

  it('agrees with a plain bigint FNV-1a 64 on every byte value and on random input', () => {
    const reference = (bytes: Uint8Array): string => {
      let hash = 0xcbf29ce484222325n;
      for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
      return hash.toString(16).padStart(16, '0');
    };
    const random = new Prng(7);
    const inputs = [Uint8Array.from({ length: 256 }, (_, index) => index), new Uint8Array(1000).fill(0xff)];
    for (let index = 0; index < 300; index++) {
      const bytes = new Uint8Array(random.nextInt(64));
      random.fillBytes(bytes);
      inputs.push(bytes);
    }
    for (const bytes of inputs) {
      const hash = new Fnv1a64();
      hash.updateBytes(bytes);
      expect(hash.hex()).toBe(reference(bytes));
      const byByte = new Fnv1a64();
      for (const byte of bytes) byByte.updateByte(byte);
      expect(byByte.hex()).toBe(reference(bytes));
    }
  });

  it('hashes a string as its UTF-8 bytes', () => {
    for (const text of ['héllo', '€ and 𝄞', 'lone \ud800 surrogate', 'ascii only']) {
      const fromBytes = new Fnv1a64();
      fromBytes.updateBytes(new TextEncoder().encode(text));
      const fromString = new Fnv1a64();
      fromString.updateString(text);
      expect(fromString.hex()).toBe(fromBytes.hex());
    }
  });
});

describe('Trace', () => {
  it('hashes every line but keeps only the tail', () => {
    const printed: string[] = [];
    const trace = new Trace({ tailLines: 3, sink: (line) => printed.push(line) });
    for (let index = 0; index < 10; index++) trace.record(index * 1500, `event ${index}`);
    expect(trace.lineCount).toBe(10);
    expect(trace.tail()).toEqual(['10.500 event 7', '12.000 event 8', '13.500 event 9']);
    expect(printed[0]).toBe('0.000 event 0');
    for (const timeUs of [0, 7, 999, 1_000, 10_050, 123_456_789, 9_007_199_254_740_991]) {
      trace.record(timeUs, 'at');
    }
    expect(trace.hashHex()).toBe(
      fnv1a64(printed.map((line) => `${line}\n`).join(''))
        .toString(16)
        .padStart(16, '0'),
    );
  });

  it('formats virtual time as milliseconds with three decimals', () => {
    expect(formatTimeUs(0)).toBe('0.000');
    expect(formatTimeUs(7)).toBe('0.007');
    expect(formatTimeUs(12_345)).toBe('12.345');
    expect(formatTimeUs(1_000_050)).toBe('1000.050');
  });
});
