/**
 * The reconcilers' work queue, after client-go's `workqueue`: keys (`namespace/name`) waiting to be
 * reconciled.
 *
 *   - deduplicating: a key added while it waits is queued once;
 *   - per-key serialized: a key handed to a worker is not handed to another until `done(key)`; added
 *     meanwhile, it is queued again at `done`, so the newest state is always seen;
 *   - bounded: at most `capacity` keys wait; past that `add` refuses (returns false) and the caller
 *     relies on the informers' resync to offer the key again (back-pressure, STYLE.md §11);
 *   - rate-limited requeue: `addRateLimited` waits baseDelay·2^failures (capped) per key, `forget`
 *     resets a key's failures after a success.
 */
import type { Clock } from './clock.js';

export interface WorkQueueOptions {
  readonly clock: Clock;
  /** Keys waiting at most (not counting those being processed or delayed). */
  readonly capacity: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export class WorkQueue {
  readonly #options: WorkQueueOptions;
  readonly #queue: string[] = [];
  /** Keys waiting in #queue, or to be queued again when their processing ends. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  /** Delayed adds by key: only the earliest is kept. */
  readonly #delayed = new Map<string, { atMs: number; cancel: () => void }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  #shutDown = false;

  constructor(options: WorkQueueOptions) {
    if (options.capacity < 1) throw new RangeError('a work queue holds at least one key');
    this.#options = options;
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Queues `key` now; false when the queue is full or shut down. */
  add(key: string): boolean {
    if (this.#shutDown) return false;
    if (this.#dirty.has(key)) return true;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return true;
    }
    if (this.#queue.length >= this.#options.capacity) return false;
    this.#dirty.add(key);
    const waiter = this.#waiters.shift();
    if (waiter === undefined) this.#queue.push(key);
    else {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    }
    return true;
  }

  /** Queues `key` after `delayMs`; an earlier pending add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shutDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const atMs = this.#options.clock.nowMs() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined && pending.atMs <= atMs) return;
    pending?.cancel();
    const cancel = this.#options.clock.after(delayMs, () => {
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { atMs, cancel });
  }

  /** Queues `key` after its backoff, which doubles with each call until `forget(key)`. */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delayMs = Math.min(
      this.#options.maxDelayMs,
      this.#options.baseDelayMs * 2 ** Math.min(failures, 30),
    );
    this.addAfter(key, delayMs);
    return delayMs;
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** The next key to process, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Processing of `key` ended; if it was added meanwhile, it waits again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  isProcessing(key: string): boolean {
    return this.#processing.has(key);
  }

  /** Wakes every waiting `get` with undefined and drops everything queued or delayed. */
  shutDown(): void {
    this.#shutDown = true;
    for (const pending of this.#delayed.values()) pending.cancel();
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}
