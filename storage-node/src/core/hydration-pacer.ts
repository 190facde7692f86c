/**
 * The node-wide bandwidth limit of hydrations: the bytes a node takes in to build segments (a
 * repair's or a migration's joiner from a peer's snapshot, a catch-up, a restore from S3) are paced to
 * at most `bytesPerSecond`, shared by every hydration running on the node, so that bulk copying leaves
 * CPU and disk to the foreground's appends and reads (the paper's §2.3: repair must not hurt the
 * writes around it). 0 means no limit.
 *
 * Sans-I/O: time comes from the node's Clock, so the simulator runs the same pacing on virtual time.
 *
 * A virtual schedule rather than a bucket of tokens: each `take` pushes `due` forward by the time its
 * bytes need at the limit and waits until then. A node idle for a while may send a burst of up to
 * `BURST_MS` worth of bytes at once (so a hydration's first part does not wait), no more: the schedule
 * never runs further behind the clock than that. Concurrent hydrations interleave in the order they
 * took, so they share the limit.
 */
import { assert, type Clock } from '@northlight/protocol';

/** The credit an idle node accumulates: this many milliseconds' worth of bytes at the limit. */
export const HYDRATION_BURST_MS = 100;
/** Waits shorter than this are not slept (a timer costs more than it saves); they are owed instead. */
const SLEEP_MIN_MS = 2;
/** 1 TB/s: anything faster is a typo, not a limit. */
export const HYDRATION_BYTES_PER_SECOND_MAX = 1e12;
/**
 * 64 KiB/s: slower would starve a snapshot stream for longer than its receiver's idle timeout (a
 * socket delivers up to 64 KiB at once) and hold the source's quarantine for hours.
 */
export const HYDRATION_BYTES_PER_SECOND_MIN = 64 * 1024;

/** Whether `bytesPerSecond` is a limit a node accepts: 0 (none) or within the bounds above. */
export function isHydrationLimit(bytesPerSecond: number): boolean {
  return (
    bytesPerSecond === 0 ||
    (Number.isSafeInteger(bytesPerSecond) &&
      bytesPerSecond >= HYDRATION_BYTES_PER_SECOND_MIN &&
      bytesPerSecond <= HYDRATION_BYTES_PER_SECOND_MAX)
  );
}

export interface HydrationPacerStatus {
  /** 0 when there is no limit. */
  readonly bytesPerSecond: number;
  /** Bytes paced since the node started. */
  readonly bytes: number;
  /** Time hydrations spent waiting for the limit, summed over hydrations (they can overlap). */
  readonly waitedMs: number;
  /** Hydrations waiting for the limit now. */
  readonly waiting: number;
}

export class HydrationPacer {
  readonly #clock: Clock;
  #bytesPerSecond: number;
  /** Clock time at which the bytes taken so far will have been paid for. */
  #due = Number.NEGATIVE_INFINITY;
  #bytes = 0;
  #waitedMs = 0;
  #waiting = 0;
  readonly #onWait: ((ms: number) => void) | undefined;

  constructor(clock: Clock, bytesPerSecond: number, onWait?: (ms: number) => void) {
    this.#clock = clock;
    this.#bytesPerSecond = checkedRate(bytesPerSecond);
    this.#onWait = onWait;
  }

  get bytesPerSecond(): number {
    return this.#bytesPerSecond;
  }

  /** Changes the limit; takes effect for the next `take` (a wait already scheduled is not shortened). */
  setBytesPerSecond(bytesPerSecond: number): void {
    this.#bytesPerSecond = checkedRate(bytesPerSecond);
    if (bytesPerSecond === 0) this.#due = Number.NEGATIVE_INFINITY;
  }

  /**
   * Accounts `bytes` just received (or about to be processed) and resolves once the limit allows them;
   * resolves with the milliseconds waited.
   */
  async take(bytes: number): Promise<number> {
    assert(Number.isSafeInteger(bytes) && bytes >= 0, `paced bytes ${bytes}`);
    this.#bytes += bytes;
    const rate = this.#bytesPerSecond;
    if (rate === 0 || bytes === 0) return 0;
    const now = this.#clock.nowMs();
    this.#due = Math.max(this.#due, now - HYDRATION_BURST_MS) + (bytes * 1000) / rate;
    const waitMs = this.#due - now;
    if (waitMs < SLEEP_MIN_MS) return 0;
    this.#waiting++;
    try {
      await this.#clock.sleep(waitMs);
    } finally {
      this.#waiting--;
    }
    this.#waitedMs += waitMs;
    this.#onWait?.(waitMs);
    return waitMs;
  }

  status(): HydrationPacerStatus {
    return {
      bytesPerSecond: this.#bytesPerSecond,
      bytes: this.#bytes,
      waitedMs: Math.round(this.#waitedMs),
      waiting: this.#waiting,
    };
  }
}

function checkedRate(bytesPerSecond: number): number {
  assert(isHydrationLimit(bytesPerSecond), `hydration bytes per second ${bytesPerSecond}`);
  return bytesPerSecond;
}
