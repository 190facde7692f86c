/**
 * The node-wide hydration bandwidth limit (hydration-pacer.ts) on a clock the test moves: a burst of
 * 100 ms' worth goes at once, then bytes wait for their time; concurrent takers share the limit;
 * an idle spell earns no more than the burst; 0 lifts the limit; waits under 2 ms are owed, not
 * slept; a bad limit is a bug (the core checks requests before).
 */
import type { Clock, TimerHandle } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import {
  HYDRATION_BURST_MS,
  HYDRATION_BYTES_PER_SECOND_MAX,
  HYDRATION_BYTES_PER_SECOND_MIN,
  HydrationPacer,
  isHydrationLimit,
} from '../src/core/hydration-pacer.js';

/** Time moves only when the test says; sleeps resolve in order of their due time. */
class ManualClock implements Clock {
  now = 1_000;
  readonly #sleepers: { dueMs: number; wake: () => void }[] = [];

  nowMs(): number {
    return this.now;
  }

  wallClockMs(): number {
    return this.now;
  }

  setTimer(): TimerHandle {
    throw new Error('not used');
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((wake) => this.#sleepers.push({ dueMs: this.now + delayMs, wake }));
  }

  get sleeping(): number {
    return this.#sleepers.length;
  }

  /** Moves time to the next sleeper's due time and wakes every sleeper due by then. */
  async advanceToNext(): Promise<void> {
    this.#sleepers.sort((a, b) => a.dueMs - b.dueMs);
    const next = this.#sleepers[0];
    if (next === undefined) return;
    this.now = Math.max(this.now, next.dueMs);
    while (this.#sleepers.length > 0 && this.#sleepers[0]!.dueMs <= this.now) this.#sleepers.shift()!.wake();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const RATE = 1_024_000; // 1 KiB per millisecond
const BURST_BYTES = (RATE * HYDRATION_BURST_MS) / 1000;

describe('the hydration bandwidth limit', () => {
  it('lets a burst through at once, then paces to the limit', async () => {
    const clock = new ManualClock();
    const pacer = new HydrationPacer(clock, RATE);
    // An idle node: the first 100 ms' worth goes at once.
    expect(await pacer.take(BURST_BYTES)).toBe(0);
    // The next 64 KiB waits 64 ms.
    const waited = pacer.take(64 * 1024);
    expect(clock.sleeping).toBe(1);
    await clock.advanceToNext();
    expect(await waited).toBeCloseTo(64, 5);
    expect(clock.now).toBeCloseTo(1_064, 5);
    expect(pacer.status()).toEqual({
      bytesPerSecond: RATE,
      bytes: BURST_BYTES + 64 * 1024,
      waitedMs: 64,
      waiting: 0,
    });
  });

  it('shares the limit between concurrent hydrations, in the order they took', async () => {
    const clock = new ManualClock();
    const pacer = new HydrationPacer(clock, RATE);
    await pacer.take(BURST_BYTES); // the burst is spent
    const started = clock.now;
    const done: string[] = [];
    const a = pacer.take(RATE / 2).then(() => done.push(`a@${clock.now - started}`));
    const b = pacer.take(RATE / 2).then(() => done.push(`b@${clock.now - started}`));
    expect(pacer.status().waiting).toBe(2);
    while (clock.sleeping > 0) await clock.advanceToNext();
    await Promise.all([a, b]);
    // Two halves of a second's worth: the second ends a full second after the start, not half.
    expect(done).toEqual(['a@500', 'b@1000']);
  });

  it('earns no more than the burst from an idle spell', async () => {
    const clock = new ManualClock();
    const pacer = new HydrationPacer(clock, RATE);
    await pacer.take(BURST_BYTES);
    clock.now += 60_000; // a minute idle
    expect(await pacer.take(BURST_BYTES)).toBe(0); // the burst again…
    const next = pacer.take(RATE / 10); // …and not a minute's worth: this waits 100 ms
    await clock.advanceToNext();
    expect(await next).toBeCloseTo(100, 5);
  });

  it('owes waits too short to sleep, and 0 lifts the limit at once', async () => {
    const clock = new ManualClock();
    const pacer = new HydrationPacer(clock, RATE);
    await pacer.take(BURST_BYTES);
    expect(await pacer.take(1024)).toBe(0); // ~1 ms: owed, not slept
    expect(clock.sleeping).toBe(0);
    const owed = pacer.take(1024); // 2 ms now due: slept
    expect(clock.sleeping).toBe(1);
    await clock.advanceToNext();
    expect(await owed).toBeCloseTo(2, 5);
    pacer.setBytesPerSecond(0);
    expect(await pacer.take(100 * RATE)).toBe(0);
    // Set again: a fresh schedule, with its burst.
    pacer.setBytesPerSecond(RATE);
    expect(await pacer.take(BURST_BYTES)).toBe(0);
  });

  it('takes 0 or 64 KiB/s to 10^12 B/s, whole numbers only', () => {
    for (const good of [0, HYDRATION_BYTES_PER_SECOND_MIN, RATE, HYDRATION_BYTES_PER_SECOND_MAX])
      expect(isHydrationLimit(good), String(good)).toBe(true);
    for (const bad of [
      -1,
      1,
      HYDRATION_BYTES_PER_SECOND_MIN - 1,
      HYDRATION_BYTES_PER_SECOND_MAX + 1,
      1.5e6 + 0.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ])
      expect(isHydrationLimit(bad), String(bad)).toBe(false);
    expect(() => new HydrationPacer(new ManualClock(), 1)).toThrow(/hydration bytes per second 1/);
    expect(() => new HydrationPacer(new ManualClock(), RATE).setBytesPerSecond(-5)).toThrow();
  });
});
