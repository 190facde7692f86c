/**
 * Assertions for programmer errors. An assertion failure means the code is wrong, not the input:
 * it is never caught, and the process (or simulated process) stops. Expected failures — bad input,
 * stale epochs, lost quorum — are `NorthlightError`s from `errors.ts`, never assertions.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/**
 * Asserts `condition`. The message is built before the call even when the condition holds, so code on
 * a per-message or per-record path with a computed message (a template with a bigint in it costs
 * ~30 ns) writes `if (!(condition)) throw new AssertionError(\`...\`)` instead.
 */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Exhaustiveness check for discriminated unions: the compiler proves this is never reached. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(
    `${message}: ${JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
  );
}
