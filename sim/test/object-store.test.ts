/**
 * Proves the simulated object store keeps the ObjectStore contract: puts are atomic and take
 * effect when they complete, gets return copies, lists are sorted and filtered by prefix, deletes
 * work; unavailability windows reject with NL_OBJECT_STORE_UNAVAILABLE and end on time; and a
 * rejected put may or may not have landed (both happen).
 */
import { describe, expect, it } from 'vitest';
import { SimObjectStore } from '../src/object-store.js';
import { Prng } from '../src/prng.js';
import { Scheduler } from '../src/scheduler.js';
import { Trace } from '../src/trace.js';
import { bytes, settle } from './support/harness.js';

function rig(seed = 1) {
  const scheduler = new Scheduler({ trace: new Trace() });
  const store = new SimObjectStore(scheduler, new Prng(seed));
  return {
    scheduler,
    store,
    client: store.client(),
    run: <T>(promise: Promise<T>) => settle(scheduler, promise),
  };
}

describe('SimObjectStore', () => {
  it('puts, gets copies, lists sorted by prefix, deletes', async () => {
    const { store, client, run } = rig();
    const body = bytes(1, 2, 3);
    const putting = client.put('log/2', body);
    body.fill(0);
    expect(store.keys()).toEqual([]);
    await run(putting);
    await run(client.put('log/10', bytes(4)));
    await run(client.put('page/1', bytes(5)));
    const got = (await run(client.get('log/2')))!;
    expect(Array.from(got)).toEqual([1, 2, 3]);
    got.fill(9);
    expect(Array.from(store.peek('log/2')!)).toEqual([1, 2, 3]);
    expect(await run(client.list('log/'))).toEqual(['log/10', 'log/2']);
    await run(client.delete('log/2'));
    expect(await run(client.get('log/2'))).toBeUndefined();
    expect(await run(client.list(''))).toEqual(['log/10', 'page/1']);
  });

  it('rejects during an unavailability window, and serves again after it', async () => {
    const { scheduler, store, client, run } = rig();
    store.setUnavailable(100);
    await expect(run(client.get('x'))).rejects.toMatchObject({ code: 'NL_OBJECT_STORE_UNAVAILABLE' });
    await scheduler.runUntil(150);
    expect(await run(client.get('x'))).toBeUndefined();
    store.setUnavailable();
    await scheduler.runUntil(10_000);
    await expect(run(client.list(''))).rejects.toMatchObject({ code: 'NL_OBJECT_STORE_UNAVAILABLE' });
    store.setAvailable();
    expect(await run(client.list(''))).toEqual([]);
  });

  it('leaves the outcome of a rejected put unknown: some land, some do not', async () => {
    const { store, client, run } = rig(4);
    store.setUnavailable();
    for (let index = 0; index < 20; index++) {
      await run(client.put(`k${index}`, bytes(index))).catch(() => undefined);
    }
    const landed = store.keys().length;
    expect(landed).toBeGreaterThan(0);
    expect(landed).toBeLessThan(20);
  });
});
