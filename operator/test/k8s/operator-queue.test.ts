/**
 * The operator's work queue and leader election on a fake clock: deduplication, per-key
 * serialization, the capacity bound, backoff; acquiring, renewing, losing and taking over a Lease
 * through an in-memory store that answers 409 like the API server does on a stale resourceVersion.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/k8s/clock.js';
import {
  LeaderElector,
  type LeaseRecord,
  type LeaseStore,
  type StoredLease,
} from '../../src/k8s/leader-election.js';
import { WorkQueue } from '../../src/k8s/work-queue.js';

class FakeClock implements Clock {
  now = 1_000_000;
  readonly #timers: { atMs: number; callback: () => void; cancelled: boolean }[] = [];
  nowMs(): number {
    return this.now;
  }
  after(delayMs: number, callback: () => void): () => void {
    const timer = { atMs: this.now + delayMs, callback, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.#timers
        .filter((timer) => !timer.cancelled && timer.atMs <= until)
        .sort((a, b) => a.atMs - b.atMs)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.now = due.atMs;
      due.callback();
    }
    this.now = until;
  }
}

function queue(clock: FakeClock, capacity = 10) {
  return new WorkQueue({ clock, capacity, baseDelayMs: 100, maxDelayMs: 1_000 });
}

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = queue(new FakeClock());
    expect(q.add('ns/a')).toBe(true);
    expect(q.add('ns/a')).toBe(true);
    expect(q.add('ns/b')).toBe(true);
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
  });

  it('never hands out a key being processed; an add meanwhile queues it again at done', async () => {
    const q = queue(new FakeClock());
    q.add('ns/a');
    const key = await q.get();
    expect(key).toBe('ns/a');
    q.add('ns/a');
    expect(q.length).toBe(0);
    expect(q.isProcessing('ns/a')).toBe(true);
    q.done('ns/a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('ns/a');
  });

  it('refuses keys beyond its capacity', () => {
    const q = queue(new FakeClock(), 2);
    expect(q.add('a')).toBe(true);
    expect(q.add('b')).toBe(true);
    expect(q.add('c')).toBe(false);
    expect(q.length).toBe(2);
  });

  it('wakes a waiting get when a key arrives, and with undefined at shutdown', async () => {
    const q = queue(new FakeClock());
    const waiting = q.get();
    q.add('ns/x');
    expect(await waiting).toBe('ns/x');
    const last = q.get();
    q.shutDown();
    expect(await last).toBeUndefined();
    expect(q.add('ns/y')).toBe(false);
  });

  it('backs off exponentially per key until forgotten, capped', () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('ns/a'));
    expect(delays).toEqual([100, 200, 400, 800, 1_000]);
    q.forget('ns/a');
    expect(q.addRateLimited('ns/a')).toBe(100);
  });

  it('adds a delayed key when its time comes, the earliest delay winning', () => {
    const clock = new FakeClock();
    const q = queue(clock);
    q.addAfter('ns/a', 500);
    q.addAfter('ns/a', 200);
    clock.advance(199);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    clock.advance(1_000);
    expect(q.length).toBe(1);
  });
});

/** The Lease as an API server keeps it: resourceVersion bumps on each write, stale writes get 409. */
class MemoryLeaseStore implements LeaseStore {
  stored: StoredLease | undefined;
  #version = 0;
  failing = false;
  async get(): Promise<StoredLease | undefined> {
    if (this.failing) throw new Error('connection refused');
    return this.stored;
  }
  async create(record: LeaseRecord): Promise<'ok' | 'conflict'> {
    if (this.failing) throw new Error('connection refused');
    if (this.stored !== undefined) return 'conflict';
    this.stored = { record, resourceVersion: String(++this.#version) };
    return 'ok';
  }
  async update(record: LeaseRecord, resourceVersion: string): Promise<'ok' | 'conflict'> {
    if (this.failing) throw new Error('connection refused');
    if (this.stored?.resourceVersion !== resourceVersion) return 'conflict';
    this.stored = { record, resourceVersion: String(++this.#version) };
    return 'ok';
  }
}

function elector(store: LeaseStore, clock: FakeClock, identity: string, transitions: string[]) {
  return new LeaderElector({
    store,
    identity,
    clock,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    onStartedLeading: () => transitions.push(`${identity} leads`),
    onStoppedLeading: () => transitions.push(`${identity} stops`),
    log: () => {},
  });
}

describe('LeaderElector', () => {
  it('acquires a missing Lease, renews it, and keeps a second candidate out while it is fresh', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const transitions: string[] = [];
    const a = elector(store, clock, 'a', transitions);
    const b = elector(store, clock, 'b', transitions);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(store.stored?.record.holderIdentity).toBe('a');
    for (let round = 0; round < 10; round++) {
      clock.advance(2_000);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
    }
    expect(transitions).toEqual(['a leads']);
    expect(store.stored?.record.leaseTransitions).toBe(0);
  });

  it('lets another candidate take over only after the holder stopped renewing for the lease duration', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const transitions: string[] = [];
    const a = elector(store, clock, 'a', transitions);
    const b = elector(store, clock, 'b', transitions);
    await a.tryAcquireOrRenew();
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(14_999);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.advance(1);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(store.stored?.record.holderIdentity).toBe('b');
    expect(store.stored?.record.leaseTransitions).toBe(1);
    // a comes back: it sees b's fresh record and does not lead any more.
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(transitions).toEqual(['a leads', 'b leads', 'a stops']);
  });

  it('stops leading once renewals have failed for the renew deadline, before the lease can expire for others', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const transitions: string[] = [];
    const a = elector(store, clock, 'a', transitions);
    await a.tryAcquireOrRenew();
    store.failing = true;
    clock.advance(8_000);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    clock.advance(2_000);
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(transitions).toEqual(['a leads', 'a stops']);
  });

  it('lets exactly one of two candidates racing for an expired lease win (409 for the other)', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const transitions: string[] = [];
    const old = elector(store, clock, 'old', transitions);
    await old.tryAcquireOrRenew();
    const b = elector(store, clock, 'b', transitions);
    const c = elector(store, clock, 'c', transitions);
    await b.tryAcquireOrRenew();
    await c.tryAcquireOrRenew();
    clock.advance(15_000);
    const results = await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('runs on its own timer and gives the lease up on stop', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const transitions: string[] = [];
    const a = elector(store, clock, 'a', transitions);
    a.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.leading).toBe(true);
    await a.stop();
    expect(a.leading).toBe(false);
    expect(store.stored?.record.holderIdentity).toBeUndefined();
    const b = elector(store, clock, 'b', transitions);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });
});
