/**
 * Time for the operator's queue and leader election, injected so their tests run on a fake clock
 * (STYLE.md §2). `systemClock` is the real one; `FakeClock` (test support) advances by hand.
 */

export interface Clock {
  nowMs(): number;
  /** Calls `callback` after `delayMs`; the returned function cancels it. */
  after(delayMs: number, callback: () => void): () => void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  after(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
};
