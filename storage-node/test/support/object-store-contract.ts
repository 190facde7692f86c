/**
 * The ObjectStore contract (protocol/src/core/env.ts) as one executable suite, run against every
 * implementation: the simulator's SimObjectStore and the real S3ObjectStore. A backup path that
 * passes in the simulator therefore relies only on behaviour the real bucket also has.
 *
 * The store must start empty (S3 runs use a fresh keyPrefix). `run` drives each promise to
 * completion: the identity for real stores, the scheduler for the simulated one.
 */
import type { ObjectStore } from '@northlight/protocol';
import { expect } from 'vitest';

export type Run = <T>(promise: Promise<T>) => Promise<T>;

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

async function bodyOf(store: ObjectStore, run: Run, key: string): Promise<number[] | undefined> {
  const body = await run(store.get(key));
  if (body === undefined) return undefined;
  expect(body).toBeInstanceOf(Uint8Array);
  return Array.from(body);
}

export async function objectStoreContract(store: ObjectStore, run: Run): Promise<void> {
  expect(await run(store.list(''))).toEqual([]);
  expect(await run(store.get('log/1'))).toBeUndefined();

  const body = bytes(1, 2, 3);
  await run(store.put('log/2', body));
  body.fill(0); // the store holds its own bytes once the put has resolved
  await run(store.put('log/10', bytes(4)));
  await run(store.put('log/b c=d+é', bytes(7)));
  await run(store.put('pages/1', new Uint8Array(0)));
  await run(store.put('logs/neighbour', bytes(8)));

  expect(await bodyOf(store, run, 'log/2')).toEqual([1, 2, 3]);
  const got = (await run(store.get('log/2')))!;
  got.fill(9); // a get returns a copy: changing it changes nothing stored
  expect(await bodyOf(store, run, 'log/2')).toEqual([1, 2, 3]);
  expect(await bodyOf(store, run, 'pages/1')).toEqual([]);
  expect(await bodyOf(store, run, 'log/b c=d+é')).toEqual([7]);

  await run(store.put('log/2', bytes(5, 6))); // an overwrite replaces the whole body
  expect(await bodyOf(store, run, 'log/2')).toEqual([5, 6]);

  // Sorted as strings (so 'log/10' < 'log/2'), and filtered by plain prefix, not by directory.
  expect(await run(store.list('log/'))).toEqual(['log/10', 'log/2', 'log/b c=d+é']);
  expect(await run(store.list('log'))).toEqual(['log/10', 'log/2', 'log/b c=d+é', 'logs/neighbour']);
  expect(await run(store.list('nothing/'))).toEqual([]);
  expect(await run(store.list(''))).toEqual(['log/10', 'log/2', 'log/b c=d+é', 'logs/neighbour', 'pages/1']);

  await run(store.delete('log/2'));
  await run(store.delete('log/2')); // deleting a missing key succeeds
  expect(await run(store.get('log/2'))).toBeUndefined();
  expect(await run(store.list('log/'))).toEqual(['log/10', 'log/b c=d+é']);
}
