// The replica-lag harness's arithmetic (scripts/support/lag-harness.ts), against an in-memory fake
// replica whose rows become visible a known time after their write is acknowledged: the measured
// lag matches that delay within the poll granularity, warm-up writes are left out, ids the replica
// never shows are counted as unseen, the achieved rate follows the target's speed, and a replica that
// goes back fails the run. No database: a fake is enough to prove the measuring, not the system.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type LagTarget, measureLag, nearestRank } from '../scripts/support/lag-harness.js';

/**
 * Acknowledges each write after `writeMs` (at once if 0), and shows it `visibleAfterMs(id)` later, or
 * never when that is undefined. Its highest visible id is the highest id shown so far.
 */
class FakeReplica implements LagTarget {
  written = 0;
  private visibleMax = 0;

  constructor(
    private readonly visibleAfterMs: (id: number) => number | undefined,
    private readonly writeMs = 0,
  ) {}

  async write(id: number): Promise<void> {
    if (this.writeMs > 0) await sleep(this.writeMs);
    this.written++;
    const delayMs = this.visibleAfterMs(id);
    if (delayMs !== undefined)
      setTimeout(() => {
        this.visibleMax = Math.max(this.visibleMax, id);
      }, delayMs);
  }

  async maxVisibleId(): Promise<number> {
    return this.visibleMax;
  }
}

const VISIBILITY_DELAY_MS = 30;
/**
 * Node timers fire on a 1 ms clock that can run a little ahead of performance.now(), and late when
 * the machine is busy; the poller adds up to one poll. Lags are accepted within this window.
 */
const expectAboutTheDelay = (lagMs: number) => {
  expect(lagMs).toBeGreaterThanOrEqual(VISIBILITY_DELAY_MS - 2);
  expect(lagMs).toBeLessThan(VISIBILITY_DELAY_MS + 10);
};

describe('measureLag', () => {
  it('measures the delay between acknowledgment and visibility, and sees every write', async () => {
    const replica = new FakeReplica(() => VISIBILITY_DELAY_MS);
    const result = await measureLag(replica, { rate: 1000, durationMs: 1000, warmupMs: 200 });
    expectAboutTheDelay(result.lagP50Ms);
    expect(result.lagP99Ms).toBeGreaterThanOrEqual(result.lagP50Ms);
    expect(result.lagMaxMs).toBeGreaterThanOrEqual(result.lagP99Ms);
    expect(result.unseen).toBe(0);
    expect(result.samples).toBe(result.writes);
    expect(result.pollIntervalMsMean).toBeLessThan(5);
  });

  it('leaves the warm-up out', async () => {
    // Writes of the warm-up take ten times longer to show: none of that may reach the figures. The
    // slow ones are those of the first 250 ms by the clock, not the first ids: on a busy machine fewer
    // than 250 writes may fit in the 300 ms warm-up, and slow ids after it would be the fake's doing.
    let firstWriteMs: number | undefined;
    const replica = new FakeReplica(() => {
      const now = performance.now();
      firstWriteMs ??= now;
      return now - firstWriteMs < 250 ? 10 * VISIBILITY_DELAY_MS : VISIBILITY_DELAY_MS;
    });
    const result = await measureLag(replica, { rate: 1000, durationMs: 600, warmupMs: 300 });
    expectAboutTheDelay(result.lagP50Ms);
    expect(result.lagMaxMs).toBeLessThan(3 * VISIBILITY_DELAY_MS);
    expect(result.writes).toBeGreaterThan(500);
    expect(result.writes).toBeLessThan(700);
    expect(replica.written - result.writes).toBeGreaterThan(250);
    // The warm-up's writes still count as acknowledged (the CPU figures divide by them).
    expect(result.acknowledged).toBe(replica.written);
  });

  it('lists the tail as stalls: the slowest write of each 100 ms, with when it was acknowledged', async () => {
    // The replica freezes from 300 to 500 ms after the first write: what is written then shows at
    // 500 ms. The write at 300 ms (200 ms after the warm-up) waits longest; the list has it first, at
    // its time, then the stall's second 100 ms, then every other window at about the usual delay.
    let firstWriteMs: number | undefined;
    const replica = new FakeReplica(() => {
      const now = performance.now();
      firstWriteMs ??= now;
      const sinceMs = now - firstWriteMs;
      return sinceMs >= 300 && sinceMs < 500 ? 500 - sinceMs : VISIBILITY_DELAY_MS;
    });
    const result = await measureLag(replica, { rate: 1000, durationMs: 1200, warmupMs: 100 });
    expect(result.slowest.length).toBe(10); // of 12 windows
    const [stall, tail, ...rest] = result.slowest;
    expect(stall!.lagMs).toBeGreaterThan(150);
    expect(stall!.atMs).toBeGreaterThan(150);
    expect(stall!.atMs).toBeLessThan(300);
    expect(tail!.atMs).toBeGreaterThanOrEqual(300);
    expect(tail!.atMs).toBeLessThan(400);
    for (const window of rest) expect(window.lagMs).toBeLessThan(3 * VISIBILITY_DELAY_MS);
    // Slowest first, one per 100 ms window of acknowledgment time.
    expect(result.slowest.map((window) => window.lagMs)).toEqual(
      [...result.slowest.map((window) => window.lagMs)].sort((a, b) => b - a),
    );
    expect(new Set(result.slowest.map((window) => Math.floor(window.atMs / 100))).size).toBe(10);
  });

  it('counts the writes the replica never shows as unseen', async () => {
    // A replica that stops applying after id 300.
    const replica = new FakeReplica((id) => (id <= 300 ? VISIBILITY_DELAY_MS : undefined));
    const result = await measureLag(replica, { rate: 1000, durationMs: 500, tailMs: 200 });
    expect(result.writes).toBe(replica.written);
    expect(result.samples).toBe(300);
    expect(result.unseen).toBe(result.writes - 300);
    expect(result.unseen).toBeGreaterThan(100);
  });

  it('achieves the target rate when the target keeps up, and shows the shortfall when it does not', async () => {
    const fast = await measureLag(new FakeReplica(() => 1), { rate: 2000, durationMs: 1000 });
    expect(fast.achievedRate).toBeGreaterThan(0.9 * 2000);
    expect(fast.achievedRate).toBeLessThan(1.1 * 2000);
    // 20 ms per write, one at a time: at most 50 writes/s, whatever the schedule asks (a little more
    // can show, as timers run on a 1 ms clock slightly ahead of performance.now()).
    const slow = await measureLag(new FakeReplica(() => 1, 20), { rate: 500, durationMs: 1000, writers: 1 });
    expect(slow.achievedRate).toBeGreaterThan(30);
    expect(slow.achievedRate).toBeLessThan(52);
    expect(slow.writes).toBeLessThanOrEqual(51);
    expect(slow.unseen).toBe(0);
  });

  it('fails the run when the replica goes back', async () => {
    // Shows the writes up to id 10, then only up to id 5.
    let writtenMax = 0;
    let shownMax = 0;
    const target: LagTarget = {
      write: async (id) => {
        writtenMax = Math.max(writtenMax, id);
      },
      maxVisibleId: async () => {
        shownMax = shownMax < 10 ? Math.min(writtenMax, 10) : 5;
        return shownMax;
      },
    };
    await expect(measureLag(target, { rate: 1000, durationMs: 200 })).rejects.toThrow(/is 5 after 10/);
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
