/**
 * The identifier rule is written twice: as `IDENTIFIER_PATTERN`, and by hand in `isValidIdentifier`
 * (faster, for the per-message and per-step checks). This proves they give the same answer: on every
 * string of up to three characters from an alphabet that holds each class of character the rule
 * treats differently, on the length limits, and on random strings, valid and not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asNodeId, asSegmentId, asZone, IDENTIFIER_PATTERN, isValidIdentifier } from '../src/core/types.js';

/** A letter and a digit at each end of their range, each allowed punctuation mark, and neighbours that are not allowed. */
const ALPHABET = ['a', 'z', '0', '9', '.', '_', '-', 'A', 'Z', '/', ':', '`', '{', ' ', '\n', 'é', '\u0000'];

function allStrings(length: number): string[] {
  if (length === 0) return [''];
  return allStrings(length - 1).flatMap((prefix) => ALPHABET.map((character) => prefix + character));
}

describe('isValidIdentifier', () => {
  it('agrees with IDENTIFIER_PATTERN on every short string of characters of each class', () => {
    const strings = [0, 1, 2, 3].flatMap(allStrings);
    expect(strings.length).toBeGreaterThan(5000);
    for (const value of strings)
      expect([value, isValidIdentifier(value)]).toEqual([value, IDENTIFIER_PATTERN.test(value)]);
  });

  it('accepts 63 characters and refuses 64', () => {
    expect(isValidIdentifier('a'.repeat(63))).toBe(true);
    expect(isValidIdentifier('a'.repeat(64))).toBe(false);
    expect(isValidIdentifier(`a${'-'.repeat(62)}`)).toBe(true);
  });

  it('agrees with IDENTIFIER_PATTERN on random strings, valid and not', () => {
    const candidates = fc.oneof(
      fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/),
      fc.string({ maxLength: 70 }),
      fc.stringMatching(/^[a-z0-9._\-A-Z/ ]{0,66}$/),
    );
    fc.assert(
      fc.property(candidates, (value) => isValidIdentifier(value) === IDENTIFIER_PATTERN.test(value)),
      {
        numRuns: 2000,
      },
    );
  });

  it('is the check of asNodeId, asSegmentId and asZone', () => {
    expect(asNodeId('s1')).toBe('s1');
    expect(asSegmentId('pg0-s1')).toBe('pg0-s1');
    expect(asZone('a')).toBe('a');
    expect(() => asNodeId('S1')).toThrow('invalid node id: "S1"');
    expect(() => asSegmentId('-pg0')).toThrow('invalid segment id: "-pg0"');
    expect(() => asZone('')).toThrow('invalid zone name: ""');
  });
});
