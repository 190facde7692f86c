/**
 * The simulator's only source of randomness: xoshiro128** (Blackman and Vigna), seeded through
 * splitmix64 from a 64-bit seed. Every random choice in a run — latencies, drops, crash outcomes,
 * fault schedules, the workload's own choices — comes from a `Prng` derived from the run's seed, so
 * the seed alone decides the run.
 *
 * Streams are derived with `fork(label)`, which depends only on this stream's seed and the label,
 * never on how many numbers this stream has produced. Adding a fault stream, or a node, therefore
 * does not shift the numbers the workload or any other node sees: a seed that found a bug keeps
 * finding it when unrelated code starts drawing numbers.
 */
import { fnv1a64 } from './hash.js';
import { AssertionError, assert, type Random } from './protocol.js';

const U64_MASK = (1n << 64n) - 1n;
const TWO_TO_32 = 0x1_0000_0000;
const TWO_TO_53 = 9007199254740992;

/** splitmix64: the recommended way to expand a 64-bit seed into xoshiro state. */
export class SplitMix64 {
  private state: bigint;

  constructor(seed: bigint) {
    this.state = seed & U64_MASK;
  }

  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & U64_MASK;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64_MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64_MASK;
    return z ^ (z >> 31n);
  }
}

/** A seed is a non-negative safe integer or a bigint taken modulo 2^64. */
export type Seed = number | bigint;

export function seedToBigint(seed: Seed): bigint {
  if (typeof seed === 'bigint') return seed & U64_MASK;
  assert(Number.isSafeInteger(seed) && seed >= 0, `seed must be a non-negative safe integer: ${seed}`);
  return BigInt(seed);
}

export class Prng implements Random {
  /** The 64-bit seed this stream was created from; `fork` derives children from it. */
  readonly seed: bigint;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: Seed) {
    this.seed = seedToBigint(seed);
    const expander = new SplitMix64(this.seed);
    const first = expander.next();
    const second = expander.next();
    this.s0 = Number(first & 0xffff_ffffn);
    this.s1 = Number(first >> 32n);
    this.s2 = Number(second & 0xffff_ffffn);
    this.s3 = Number(second >> 32n);
    // splitmix64 never yields two zero outputs in a row, but the all-zero state is xoshiro's one
    // fixed point, so it is worth a check that costs nothing.
    assert((this.s0 | this.s1 | this.s2 | this.s3) !== 0, 'xoshiro state must not be all zero');
  }

  /** Builds a stream directly from xoshiro128** state words (for reference test vectors). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    const prng = new Prng(0);
    prng.s0 = s0 >>> 0;
    prng.s1 = s1 >>> 0;
    prng.s2 = s2 >>> 0;
    prng.s3 = s3 >>> 0;
    return prng;
  }

  /**
   * An independent stream named `label`: its seed is a mix of this stream's seed and the label's
   * FNV-1a hash. The same label always gives the same stream, whatever this stream has produced.
   */
  fork(label: string): Prng {
    const mixed = new SplitMix64(this.seed ^ fnv1a64(label)).next();
    return new Prng(mixed);
  }

  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotateLeft(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotateLeft(this.s3, 11);
    return result;
  }

  nextInt(maxExclusive: number): number {
    if (!(Number.isSafeInteger(maxExclusive) && maxExclusive > 0 && maxExclusive <= TWO_TO_32))
      throw new AssertionError(`nextInt bound must be an integer in [1, 2^32]: ${maxExclusive}`);
    // Rejection sampling keeps the result exactly uniform: draws at or above the largest multiple
    // of the bound are redrawn (fewer than half of the draws, so the loop ends quickly).
    const limit = TWO_TO_32 - (TWO_TO_32 % maxExclusive);
    for (;;) {
      const draw = this.nextUint32();
      if (draw < limit) return draw % maxExclusive;
    }
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / TWO_TO_53;
  }

  fillBytes(target: Uint8Array): void {
    let index = 0;
    while (index < target.length) {
      let word = this.nextUint32();
      for (let byte = 0; byte < 4 && index < target.length; byte++) {
        target[index++] = word & 0xff;
        word >>>= 8;
      }
    }
  }

  /** True with probability `probability` (0 never draws true, 1 always does). */
  chance(probability: number): boolean {
    if (!(probability >= 0 && probability <= 1))
      throw new AssertionError(`probability out of range: ${probability}`);
    if (probability === 0) return false;
    if (probability === 1) return true;
    return this.nextFloat() < probability;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.nextInt(items.length)] as T;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let index = items.length - 1; index > 0; index--) {
      const other = this.nextInt(index + 1);
      const held = items[index] as T;
      items[index] = items[other] as T;
      items[other] = held;
    }
    return items;
  }

  /** Uniform float in [minimum, maximum). */
  uniform(minimum: number, maximum: number): number {
    if (!(minimum <= maximum)) throw new AssertionError(`uniform bounds reversed: ${minimum} > ${maximum}`);
    return minimum + (maximum - minimum) * this.nextFloat();
  }

  /** Log-uniform float in [minimum, maximum): every order of magnitude is equally likely. */
  logUniform(minimum: number, maximum: number): number {
    if (!(minimum > 0 && minimum <= maximum))
      throw new AssertionError(`logUniform bounds invalid: ${minimum}, ${maximum}`);
    return minimum * (maximum / minimum) ** this.nextFloat();
  }

  /** Exponentially distributed with the given mean (the tail of latencies and the gap between faults). */
  exponential(mean: number): number {
    if (!(mean >= 0)) throw new AssertionError(`exponential mean must not be negative: ${mean}`);
    if (mean === 0) return 0;
    return -mean * Math.log(1 - this.nextFloat());
  }
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}
