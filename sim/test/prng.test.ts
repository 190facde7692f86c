/**
 * Proves the PRNG is the reference xoshiro128** seeded through the reference splitmix64, that a
 * seed fully determines a stream, that `fork(label)` streams are independent of each other and of
 * how much the parent has drawn, and that the helpers stay in range and roughly uniform.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Prng, SplitMix64 } from '../src/prng.js';

function draw(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32());
}

describe('Prng', () => {
  it('matches the reference xoshiro128** and splitmix64 outputs', () => {
    expect(draw(Prng.fromState(1, 2, 3, 4), 6)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492,
    ]);
    const splitmix = new SplitMix64(1234567n);
    expect([splitmix.next(), splitmix.next(), splitmix.next()]).toEqual([
      6457827717110365317n,
      3203168211198807973n,
      9817491932198370423n,
    ]);
  });

  it('gives the same stream for the same seed, a different one for another seed', () => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        expect(draw(new Prng(seed), 8)).toEqual(draw(new Prng(seed), 8));
        expect(draw(new Prng(seed), 8)).not.toEqual(draw(new Prng(seed + 1), 8));
      }),
    );
    expect(draw(new Prng(2n ** 64n + 5n), 4)).toEqual(draw(new Prng(5), 4));
  });

  it('forks streams that depend only on the parent seed and the label', () => {
    const untouched = new Prng(99);
    const drained = new Prng(99);
    draw(drained, 1000);
    expect(draw(untouched.fork('network'), 8)).toEqual(draw(drained.fork('network'), 8));
    expect(draw(untouched.fork('network'), 8)).not.toEqual(draw(untouched.fork('disk/n1'), 8));
    expect(draw(untouched.fork('network'), 8)).not.toEqual(draw(untouched, 8));
  });

  it('does not shift the parent stream when a fork is added', () => {
    const plain = new Prng(7);
    const withFork = new Prng(7);
    const before = draw(plain, 4);
    withFork.fork('faults').nextUint32();
    expect(draw(withFork, 4)).toEqual(before);
  });

  it('keeps nextInt, nextFloat and the helpers in range', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, bound) => {
        const prng = new Prng(seed);
        for (let index = 0; index < 20; index++) {
          const value = prng.nextInt(bound);
          expect(Number.isInteger(value) && value >= 0 && value < bound).toBe(true);
          const float = prng.nextFloat();
          expect(float >= 0 && float < 1).toBe(true);
        }
      }),
    );
    const prng = new Prng(3);
    expect(prng.shuffle([1, 2, 3, 4, 5, 6]).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(['a', 'b', 'c']).toContain(prng.pick(['a', 'b', 'c']));
    expect(prng.chance(0)).toBe(false);
    expect(prng.chance(1)).toBe(true);
    const bytes = new Uint8Array(7);
    prng.fillBytes(bytes);
    expect(bytes.some((byte) => byte !== 0)).toBe(true);
  });

  it('is roughly uniform: nextInt buckets and chance rates within tolerance', () => {
    const prng = new Prng(11);
    const buckets = new Array<number>(10).fill(0);
    const samples = 100_000;
    for (let index = 0; index < samples; index++) buckets[prng.nextInt(10)]! += 1;
    for (const count of buckets) expect(Math.abs(count - samples / 10)).toBeLessThan(samples / 100);
    let hits = 0;
    for (let index = 0; index < samples; index++) if (prng.chance(0.2)) hits++;
    expect(Math.abs(hits / samples - 0.2)).toBeLessThan(0.01);
    let total = 0;
    for (let index = 0; index < samples; index++) total += prng.exponential(3);
    expect(Math.abs(total / samples - 3)).toBeLessThan(0.1);
  });
});
