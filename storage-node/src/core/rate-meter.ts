/**
 * A segment's heat: events per second over a sliding window, kept as a fixed ring of buckets (a
 * bounded structure whatever the rate). Time comes from the caller (the injected Clock's `nowMs`).
 */
const BUCKETS = 10;

export class RateMeter {
  readonly #bucketMs: number;
  readonly #counts = new Array<number>(BUCKETS).fill(0);
  /** The bucket index (time / bucketMs) the ring's newest slot stands for. */
  #newestBucket: number | undefined;

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / BUCKETS);
  }

  record(nowMs: number, count = 1): void {
    this.#advance(nowMs);
    const slot = this.#newestBucket! % BUCKETS;
    this.#counts[slot] = this.#counts[slot]! + count;
  }

  /** Events per second over the last window. */
  perSecond(nowMs: number): number {
    this.#advance(nowMs);
    const total = this.#counts.reduce((sum, count) => sum + count, 0);
    return (total * 1000) / (this.#bucketMs * BUCKETS);
  }

  #advance(nowMs: number): void {
    const bucket = Math.floor(nowMs / this.#bucketMs);
    if (this.#newestBucket === undefined) {
      this.#newestBucket = bucket;
      return;
    }
    if (bucket <= this.#newestBucket) return;
    const steps = Math.min(BUCKETS, bucket - this.#newestBucket);
    for (let step = 1; step <= steps; step++) this.#counts[(this.#newestBucket + step) % BUCKETS] = 0;
    this.#newestBucket = bucket;
  }
}
