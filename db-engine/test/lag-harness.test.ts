// The replica-lag harness's arithmetic (scripts/support/lag-harness.ts), against an in-memory fake
// replica whose rows become visible a known time after their write is acknowledged: the measured
// lag matches that delay within the poll granularity, warm-up writes are left out, ids the replica
// never shows are counted as unseen, the achieved rate follows the target's speed, and a replica that
// goes back fails the run. No database: a fake is enough to prove the measuring, not the system.
// All on a virtual clock: the harness and the fake take their time from it, so the figures are the
// arithmetic's alone, whatever else the machine is doing (on the real clock, a busy two-core CI
// machine delays timers by tens of milliseconds, more than the 30 ms delay measured).
import type { Clock, TimerHandle } from '@northlight/protocol';
import { NodeClock } from '@northlight/protocol/io';
import { describe, expect, it } from 'vitest';
import { type LagRun, type LagTarget, measureLag, nearestRank } from '../scripts/support/lag-harness.js';

/**
 * Time that moves only when everything waits on it: `measure` lets the harness and the fake run
 * until each is waiting on a timer (a few turns of the event loop: the poller yields to it), then
 * moves to the earliest timer and fires it.
 */
class VirtualClock implements Clock {
  private now = 1_000;
  private sequence = 0;
  private readonly timers: { atMs: number; sequence: number; callback: () => void }[] = [];

  nowMs(): number {
    return this.now;
  }

  wallClockMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = { atMs: this.now + Math.max(0, delayMs), sequence: this.sequence++, callback };
    this.timers.push(timer);
    return {
      cancel: () => {
        const index = this.timers.indexOf(timer);
        if (index >= 0) this.timers.splice(index, 1);
      },
    };
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(delayMs, resolve));
  }

  async measure(target: LagTarget, run: Omit<LagRun, 'clock'>) {
    let settled = false;
    const result = measureLag(target, { ...run, clock: this });
    result.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      for (let turn = 0; turn < 4 && !settled; turn++) await new Promise((resolve) => setImmediate(resolve));
      if (settled) return result;
      if (this.timers.length === 0) throw new Error('the harness waits on nothing: it would never end');
      let next = 0;
      for (let index = 1; index < this.timers.length; index++) {
        const timer = this.timers[index]!;
        const best = this.timers[next]!;
        if (timer.atMs < best.atMs || (timer.atMs === best.atMs && timer.sequence < best.sequence))
          next = index;
      }
      const [timer] = this.timers.splice(next, 1);
      this.now = Math.max(this.now, timer!.atMs);
      timer!.callback();
    }
  }
}

/** A poll of the fake replica takes this long: the granularity of every lag measured. */
const POLL_MS = 1;

/**
 * Acknowledges each write after `writeMs` (at once if 0), and shows it `visibleAfterMs(id, now)`
 * later, or never when that is undefined. Its highest visible id is the highest id shown so far.
 */
class FakeReplica implements LagTarget {
  written = 0;
  private visibleMax = 0;

  constructor(
    private readonly clock: Clock,
    private readonly visibleAfterMs: (id: number, nowMs: number) => number | undefined,
    private readonly writeMs = 0,
  ) {}

  async write(id: number): Promise<void> {
    if (this.writeMs > 0) await this.clock.sleep(this.writeMs);
    this.written++;
    const delayMs = this.visibleAfterMs(id, this.clock.nowMs());
    if (delayMs !== undefined)
      this.clock.setTimer(delayMs, () => {
        this.visibleMax = Math.max(this.visibleMax, id);
      });
  }

  async maxVisibleId(): Promise<number> {
    await this.clock.sleep(POLL_MS);
    return this.visibleMax;
  }
}

const VISIBILITY_DELAY_MS = 30;
/** A lag is the delay, late by at most one poll (the poll that first shows the row ends after it). */
const expectTheDelay = (lagMs: number) => {
  expect(lagMs).toBeGreaterThanOrEqual(VISIBILITY_DELAY_MS);
  expect(lagMs).toBeLessThanOrEqual(VISIBILITY_DELAY_MS + POLL_MS);
};

describe('measureLag', () => {
  it('measures the delay between acknowledgment and visibility, and sees every write', async () => {
    const clock = new VirtualClock();
    const replica = new FakeReplica(clock, () => VISIBILITY_DELAY_MS);
    const result = await clock.measure(replica, { rate: 1000, durationMs: 1000, warmupMs: 200 });
    expectTheDelay(result.lagP50Ms);
    expectTheDelay(result.lagP99Ms);
    expectTheDelay(result.lagMaxMs);
    expect(result.lagP99Ms).toBeGreaterThanOrEqual(result.lagP50Ms);
    expect(result.lagMaxMs).toBeGreaterThanOrEqual(result.lagP99Ms);
    expect(result.writes).toBe(1000);
    expect(result.acknowledged).toBe(1200);
    expect(result.unseen).toBe(0);
    expect(result.samples).toBe(result.writes);
    expect(result.pollIntervalMsMean).toBeCloseTo(POLL_MS, 1);
  });

  it('leaves the warm-up out', async () => {
    // Writes of the warm-up take ten times longer to show: none of that may reach the figures.
    const clock = new VirtualClock();
    let firstWriteMs: number | undefined;
    const replica = new FakeReplica(clock, (_id, nowMs) => {
      firstWriteMs ??= nowMs;
      return nowMs - firstWriteMs < 300 ? 10 * VISIBILITY_DELAY_MS : VISIBILITY_DELAY_MS;
    });
    const result = await clock.measure(replica, { rate: 1000, durationMs: 600, warmupMs: 300 });
    expectTheDelay(result.lagP50Ms);
    expectTheDelay(result.lagMaxMs);
    expect(result.writes).toBe(600);
    expect(replica.written - result.writes).toBe(300);
    // The warm-up's writes still count as acknowledged (the CPU figures divide by them).
    expect(result.acknowledged).toBe(replica.written);
  });

  it('lists the tail as stalls: the slowest write of each 100 ms, with when it was acknowledged', async () => {
    // The replica freezes from 300 to 500 ms after the first write: what is written then shows at
    // 500 ms. The write at 300 ms (200 ms after the warm-up) waits longest; the list has it first, at
    // its time, then the stall's second 100 ms, then every other window at the usual delay.
    const clock = new VirtualClock();
    let firstWriteMs: number | undefined;
    const replica = new FakeReplica(clock, (_id, nowMs) => {
      firstWriteMs ??= nowMs;
      const sinceMs = nowMs - firstWriteMs;
      return sinceMs >= 300 && sinceMs < 500 ? 500 - sinceMs : VISIBILITY_DELAY_MS;
    });
    const result = await clock.measure(replica, { rate: 1000, durationMs: 1200, warmupMs: 100 });
    expect(result.slowest.length).toBe(10); // of 12 windows
    const [stall, tail, ...rest] = result.slowest;
    expect(stall!.atMs).toBe(200);
    expect(stall!.lagMs).toBeGreaterThanOrEqual(200);
    expect(stall!.lagMs).toBeLessThanOrEqual(200 + POLL_MS);
    expect(tail!.atMs).toBe(300);
    expect(tail!.lagMs).toBeGreaterThanOrEqual(100);
    expect(tail!.lagMs).toBeLessThanOrEqual(100 + POLL_MS);
    for (const window of rest) expectTheDelay(window.lagMs);
    // Slowest first, one per 100 ms window of acknowledgment time.
    expect(result.slowest.map((window) => window.lagMs)).toEqual(
      [...result.slowest.map((window) => window.lagMs)].sort((a, b) => b - a),
    );
    expect(new Set(result.slowest.map((window) => Math.floor(window.atMs / 100))).size).toBe(10);
  });

  it('counts the writes the replica never shows as unseen', async () => {
    // A replica that stops applying after id 300.
    const clock = new VirtualClock();
    const replica = new FakeReplica(clock, (id) => (id <= 300 ? VISIBILITY_DELAY_MS : undefined));
    const result = await clock.measure(replica, { rate: 1000, durationMs: 500, tailMs: 200 });
    expect(result.writes).toBe(500);
    expect(result.writes).toBe(replica.written);
    expect(result.samples).toBe(300);
    expect(result.unseen).toBe(200);
  });

  it('achieves the target rate when the target keeps up, and shows the shortfall when it does not', async () => {
    const fastClock = new VirtualClock();
    const fast = await fastClock.measure(new FakeReplica(fastClock, () => 1), {
      rate: 2000,
      durationMs: 1000,
    });
    expect(fast.writes).toBe(2000);
    expect(fast.achievedRate).toBeGreaterThan(0.999 * 2000);
    expect(fast.achievedRate).toBeLessThan(1.001 * 2000);
    // 20 ms per write, one at a time: 50 writes/s, whatever the schedule asks.
    const slowClock = new VirtualClock();
    const slow = await slowClock.measure(new FakeReplica(slowClock, () => 1, 20), {
      rate: 500,
      durationMs: 1000,
      writers: 1,
    });
    expect(slow.writes).toBe(50);
    expect(slow.achievedRate).toBeCloseTo(50, 0);
    expect(slow.unseen).toBe(0);
  });

  it('fails the run when the replica goes back', async () => {
    // Shows the writes up to id 10, then only up to id 5.
    const clock = new VirtualClock();
    let writtenMax = 0;
    let shownMax = 0;
    const target: LagTarget = {
      write: async (id) => {
        writtenMax = Math.max(writtenMax, id);
      },
      maxVisibleId: async () => {
        await clock.sleep(POLL_MS);
        shownMax = shownMax < 10 ? Math.min(writtenMax, 10) : 5;
        return shownMax;
      },
    };
    await expect(clock.measure(target, { rate: 1000, durationMs: 200 })).rejects.toThrow(/is 5 after 10/);
  });

  it('runs on the real clock by default', async () => {
    // Only that it measures at all on real time: the arithmetic is proven above.
    const real = new NodeClock();
    const replica = new FakeReplica(real, () => 5);
    const result = await measureLag(replica, { rate: 200, durationMs: 200, tailMs: 5_000 });
    expect(result.writes).toBeGreaterThan(0);
    expect(result.unseen).toBe(0);
    expect(result.lagP50Ms).toBeGreaterThanOrEqual(4);
  });
});

describe('nearestRank', () => {
  it('is the smallest sample with at least p % of the samples at or below it', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, index) => index + 1);
    expect(nearestRank(sorted, 50)).toBe(50);
    expect(nearestRank(sorted, 99)).toBe(99);
    expect(nearestRank(sorted, 100)).toBe(100);
    expect(nearestRank(Float64Array.of(7), 99)).toBe(7);
    expect(nearestRank(new Float64Array(0), 50)).toBeNaN();
  });
});
