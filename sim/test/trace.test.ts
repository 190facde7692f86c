/**
 * Proves the trace hash is FNV-1a 64 over the UTF-8 of the printed lines (checked against the
 * published test vectors and against hashing the printed text independently), that the hash covers
 * every line while only the last N are kept, and that time prints as milliseconds with 3 decimals.
 */
import { describe, expect, it } from 'vitest';
import { Fnv1a64, fnv1a64 } from '../src/hash.js';
import { formatTimeUs, Trace } from '../src/trace.js';

describe('FNV-1a 64', () => {
  it('matches the published test vectors', () => {
    expect(fnv1a64('').toString(16)).toBe('cbf29ce484222325');
    expect(fnv1a64('a').toString(16)).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar').toString(16)).toBe('85944171f73967e8');
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
