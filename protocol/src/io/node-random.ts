/** The real Random: the operating system's CSPRNG, read in blocks to keep calls cheap. */
import { randomFillSync } from 'node:crypto';
import { assert } from '../core/assert.js';
import type { Random } from '../core/env.js';

const BLOCK_WORDS = 1024;

export class NodeRandom implements Random {
  readonly #block = new Uint32Array(BLOCK_WORDS);
  #next = BLOCK_WORDS;

  nextUint32(): number {
    if (this.#next === BLOCK_WORDS) {
      randomFillSync(this.#block);
      this.#next = 0;
    }
    const value = this.#block[this.#next]!;
    this.#next += 1;
    return value;
  }

  nextInt(maxExclusive: number): number {
    assert(
      Number.isSafeInteger(maxExclusive) && maxExclusive > 0 && maxExclusive <= 2 ** 32,
      `bad bound ${maxExclusive}`,
    );
    // Rejection sampling: no modulo bias.
    const limit = 2 ** 32 - (2 ** 32 % maxExclusive);
    for (;;) {
      const value = this.nextUint32();
      if (value < limit) return value % maxExclusive;
    }
  }

  nextFloat(): number {
    return (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
  }

  fillBytes(target: Uint8Array): void {
    randomFillSync(target);
  }
}
