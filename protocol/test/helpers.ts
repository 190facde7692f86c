// Small helpers for decoder tests: run a decode and classify what came out of it, so exhaustive loops
// can collect every unexpected outcome and report them together instead of stopping at the first.
import { type ErrorCode, NorthlightError } from '../src/core/errors.js';

export type Outcome =
  | { kind: 'accepted' }
  | { kind: 'rejected'; code: ErrorCode }
  | { kind: 'crashed'; error: unknown };

export function outcomeOf(run: () => unknown): Outcome {
  try {
    run();
    return { kind: 'accepted' };
  } catch (error) {
    if (error instanceof NorthlightError) return { kind: 'rejected', code: error.code };
    return { kind: 'crashed', error };
  }
}

/** The thrown error of `run`, or undefined when it returns. */
export function thrownBy(run: () => unknown): unknown {
  try {
    run();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** `bytes` with byte `position` xor-ed with `mask` (a new array). */
export function withXor(bytes: Uint8Array, position: number, mask: number): Uint8Array {
  const copy = bytes.slice();
  copy[position] = copy[position]! ^ mask;
  return copy;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/** Byte-wise equality; much faster than `toEqual` on large typed arrays inside property loops. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}
