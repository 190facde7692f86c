/**
 * The cluster's simulated S3 bucket, shared by every node. A put is atomic: a get sees the whole old
 * body or the whole new one. Requests take a random latency and take effect when they complete.
 *
 * Harsher than a healthy S3, within the contract:
 *   1. During an unavailability window, or by the per-request failure probability, a request
 *      rejects with `NL_OBJECT_STORE_UNAVAILABLE`. A rejected put or delete may still have taken
 *      effect (a coin flip): the caller learns nothing from a rejection, as with a timed-out request.
 *   2. A request is on the wire once issued: if its process crashes, a put still lands (or not, as
 *      above), but the dead process's promise never settles.
 */

import type { Prng } from './prng.js';
import type { Incarnation } from './process.js';
import { never } from './process.js';
import { AssertionError, assert, NorthlightError, type ObjectStore } from './protocol.js';
import type { Scheduler } from './scheduler.js';

export interface SimObjectStoreOptions {
  readonly latency: { readonly baseMs: number; readonly tailMeanMs: number };
  readonly failureProbability: number;
  readonly objectBytesMax: number;
  readonly objectsMax: number;
}

export const OBJECT_STORE_DEFAULTS: SimObjectStoreOptions = {
  latency: { baseMs: 5, tailMeanMs: 10 },
  failureProbability: 0,
  objectBytesMax: 64 * 1024 * 1024,
  objectsMax: 1_000_000,
};

export interface ObjectStoreStats {
  puts: number;
  gets: number;
  lists: number;
  deletes: number;
  failures: number;
}

export class SimObjectStore {
  private readonly objects = new Map<string, Uint8Array>();
  private options: SimObjectStoreOptions;
  private unavailableUntilUs = -1;
  readonly stats: ObjectStoreStats = { puts: 0, gets: 0, lists: 0, deletes: 0, failures: 0 };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Prng,
    options: Partial<SimObjectStoreOptions> = {},
  ) {
    this.options = { ...OBJECT_STORE_DEFAULTS, ...options };
  }

  /** The `ObjectStore` a process (or, without an incarnation, a workload) uses. */
  client(incarnation?: Incarnation): ObjectStore {
    return new SimObjectStoreClient(this, incarnation);
  }

  /** Unavailable for `durationMs` from now, or until `setAvailable()` if no duration is given. */
  setUnavailable(durationMs?: number): void {
    this.unavailableUntilUs =
      durationMs === undefined
        ? Number.POSITIVE_INFINITY
        : this.scheduler.nowUs + Math.round(durationMs * 1000);
    this.note(`s3 unavailable ${durationMs === undefined ? 'until healed' : `for ${durationMs}ms`}`);
  }

  setAvailable(): void {
    this.unavailableUntilUs = -1;
    this.note('s3 available');
  }

  get available(): boolean {
    return this.scheduler.nowUs >= this.unavailableUntilUs;
  }

  setFailureProbability(probability: number): void {
    assert(probability >= 0 && probability <= 1, `failureProbability must be in [0, 1]: ${probability}`);
    this.options = { ...this.options, failureProbability: probability };
    this.note(`s3 failure-probability ${probability}`);
  }

  /** Sorted keys (observation for checkers; no latency, no faults). */
  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  /** A copy of an object's body (observation for checkers). */
  peek(key: string): Uint8Array | undefined {
    return this.objects.get(key)?.slice();
  }

  /**
   * Issues a request: `complete` runs when it completes and succeeds; `mutating` requests that fail
   * still run it half the time. The caller's promise settles only if its incarnation is alive.
   */
  request<T>(
    incarnation: Incarnation | undefined,
    name: string,
    key: string,
    mutating: boolean,
    complete: () => T,
  ): Promise<T> {
    if (incarnation !== undefined && !incarnation.alive) return never();
    const latency = this.options.latency;
    const delayUs = Math.max(
      1,
      Math.round((latency.baseMs + this.random.exponential(latency.tailMeanMs)) * 1000),
    );
    const source = incarnation?.label ?? 'workload';
    return new Promise<T>((resolve, reject) => {
      this.scheduler.scheduleAfterUs(delayUs, `s3 ${source} ${name} ${key}`, () => {
        const failed = !this.available || this.random.chance(this.options.failureProbability);
        let outcome: { ok: true; value: T } | { ok: false; error: unknown };
        if (failed) {
          this.stats.failures++;
          const landed = mutating && this.random.chance(0.5);
          if (landed) complete();
          this.note(
            `s3 ${source} ${name} ${key} unavailable${mutating ? (landed ? ' (landed)' : ' (not landed)') : ''}`,
          );
          outcome = {
            ok: false,
            error: new NorthlightError(
              'NL_OBJECT_STORE_UNAVAILABLE',
              `${name} ${key}: object store unavailable`,
              { key },
            ),
          };
        } else {
          try {
            outcome = { ok: true, value: complete() };
          } catch (error) {
            outcome = { ok: false, error };
          }
        }
        if (incarnation !== undefined && !incarnation.alive) return;
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.error);
      });
    });
  }

  put(key: string, body: Uint8Array): void {
    assert(this.objects.has(key) || this.objects.size < this.options.objectsMax, 'object store is full');
    this.stats.puts++;
    this.objects.set(key, body);
  }

  get(key: string): Uint8Array | undefined {
    this.stats.gets++;
    return this.objects.get(key)?.slice();
  }

  list(prefix: string): string[] {
    this.stats.lists++;
    return this.keys(prefix);
  }

  delete(key: string): void {
    this.stats.deletes++;
    this.objects.delete(key);
  }

  get objectBytesMax(): number {
    return this.options.objectBytesMax;
  }

  private note(text: string): void {
    this.scheduler.trace.record(this.scheduler.nowUs, text);
  }
}

class SimObjectStoreClient implements ObjectStore {
  constructor(
    private readonly store: SimObjectStore,
    private readonly incarnation: Incarnation | undefined,
  ) {}

  put(key: string, body: Uint8Array): Promise<void> {
    assertKey(key);
    if (!(body.length <= this.store.objectBytesMax))
      throw new AssertionError(`object of ${body.length} bytes exceeds the maximum`);
    const copy = body.slice();
    return this.store.request(this.incarnation, 'put', `${key} ${copy.length}B`, true, () =>
      this.store.put(key, copy),
    );
  }

  get(key: string): Promise<Uint8Array | undefined> {
    assertKey(key);
    return this.store.request(this.incarnation, 'get', key, false, () => this.store.get(key));
  }

  list(prefix: string): Promise<string[]> {
    return this.store.request(this.incarnation, 'list', `${prefix}*`, false, () => this.store.list(prefix));
  }

  delete(key: string): Promise<void> {
    assertKey(key);
    return this.store.request(this.incarnation, 'delete', key, true, () => this.store.delete(key));
  }
}

function assertKey(key: string): void {
  if (!(key.length > 0 && key.length <= 1024))
    throw new AssertionError(`invalid object key: ${JSON.stringify(key)}`);
}
