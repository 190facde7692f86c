/**
 * The page store's image cache (page-store.ts, P5), on a real file (NodeDisk in a temporary
 * directory): an image written or read back is served from memory afterwards; a read for the
 * scrubber (`fromDisk`) still sees the medium, rot included; a slot freed and reused never serves
 * its old bytes, also when a read of it was in flight at the free; the cache stays within its bytes,
 * least recently used out first.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c, isNorthlightError, type Logger } from '@northlight/protocol';
import { NodeDisk } from '@northlight/protocol/io';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noopStorageMetrics, type StorageMetrics } from '../src/core/metrics.js';
import { PAGE_SLOT_IDENTITY_BYTES, PAGE_STORE_HEADER_BYTES, PageStore } from '../src/core/page-store.js';

const PAGE = 512;
const SLOT = PAGE + 2 * PAGE_SLOT_IDENTITY_BYTES;
const quiet: Logger = { log: () => undefined };

function page(seed: number): Uint8Array {
  return Uint8Array.from({ length: PAGE }, (_, index) => (index * 31 + seed * 7) & 0xff);
}

let directory: string;
let lookups: { hit: number; miss: number };
const metrics: StorageMetrics = {
  ...noopStorageMetrics,
  pageCacheLookup: (hit) => {
    lookups[hit ? 'hit' : 'miss']++;
  },
};

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'northlight-page-cache-'));
  lookups = { hit: 0, miss: 0 };
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function openStore(cacheBytes: number): Promise<PageStore> {
  const { pageStore } = await PageStore.open(
    new NodeDisk(directory),
    directory,
    PAGE,
    metrics,
    quiet,
    () => true,
    cacheBytes,
  );
  return pageStore;
}

/** Flips one byte of a slot's page bytes on disk, behind the store's back. */
async function rot(slot: number): Promise<void> {
  // The disk's root is `directory` and the store's path is `<directory>/pages.dat` under it.
  const file = await open(join(directory, directory, 'pages.dat'), 'r+');
  try {
    const offset = PAGE_STORE_HEADER_BYTES + slot * SLOT + PAGE_SLOT_IDENTITY_BYTES + 100;
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, offset);
  } finally {
    await file.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isNorthlightError(error) ? error.code : String(error);
  }
  return 'resolved';
}

describe('page store image cache', () => {
  it('serves written and read-back images from memory, as copies the caller owns', async () => {
    const store = await openStore(1024 * 1024);
    const slot = await store.write(1, 7, 10n, page(1));
    const [many] = await store.writeMany(1, 11n, [{ pageNo: 8, bytes: page(2) }], { cache: true });
    expect(await store.read(slot, 1, 7, 10n)).toEqual(page(1));
    expect(await store.read(many!, 1, 8, 11n)).toEqual(page(2));
    expect(lookups).toEqual({ hit: 2, miss: 0 });
    // A caller that changes what it got does not change the cache.
    const mine = await store.read(slot, 1, 7, 10n);
    mine.fill(0);
    expect(await store.read(slot, 1, 7, 10n)).toEqual(page(1));
    // Not cached at the write (a bulk install): the first read misses, the next one hits.
    const [bulk] = await store.writeMany(1, 12n, [{ pageNo: 9, bytes: page(3) }]);
    expect(await store.read(bulk!, 1, 9, 12n)).toEqual(page(3));
    expect(await store.read(bulk!, 1, 9, 12n)).toEqual(page(3));
    expect(lookups).toEqual({ hit: 5, miss: 1 });
    await store.close();
  });

  it('leaves the medium to the scrubber: a read from disk still finds rot under a cached image', async () => {
    const store = await openStore(1024 * 1024);
    const slot = await store.write(1, 7, 10n, page(1));
    await store.sync();
    await rot(slot);
    expect(await store.read(slot, 1, 7, 10n)).toEqual(page(1)); // what was written, from memory
    expect(await rejection(store.read(slot, 1, 7, 10n, { fromDisk: true }))).toBe('NL_DECODE_CHECKSUM');
    await store.close();
  });

  it('never serves a freed slot’s old bytes once it is reused, even after a read in flight at the free', async () => {
    const store = await openStore(1024 * 1024);
    const old = await store.write(1, 7, 10n, page(1));
    // Reused by a write that does not cache (a snapshot install).
    store.free(old);
    store.releaseQuarantine();
    const [reused] = await store.writeMany(2, 20n, [{ pageNo: 3, bytes: page(2) }]);
    expect(reused).toBe(old);
    expect(await store.read(reused!, 2, 3, 20n)).toEqual(page(2));
    // A read from disk in flight while its slot is freed remembers the old bytes after the free.
    const other = await store.write(1, 8, 11n, page(3));
    store.free(other); // forgets the cached image: the next read goes to disk
    const inFlight = store.read(other, 1, 8, 11n);
    expect(await inFlight).toEqual(page(3));
    store.releaseQuarantine();
    const slots = await store.writeSlots(
      3,
      30n,
      (() => {
        const bytes = new Uint8Array(SLOT);
        bytes.set(page(4), PAGE_SLOT_IDENTITY_BYTES);
        return bytes;
      })(),
      [{ pageNo: 5, crc: crc32c(page(4)) }],
    );
    expect(slots).toEqual([other]);
    expect(await store.read(other, 3, 5, 30n)).toEqual(page(4));
    await store.close();
  });

  it('stays within its bytes, least recently used out first; 0 turns it off', async () => {
    const store = await openStore(2 * PAGE);
    const slots = [];
    for (let pageNo = 0; pageNo < 3; pageNo++) slots.push(await store.write(1, pageNo, 10n, page(pageNo)));
    expect(store.cachedBytes).toBe(2 * PAGE);
    await store.read(slots[1]!, 1, 1, 10n); // hit: now the most recent
    await store.read(slots[0]!, 1, 0, 10n); // miss (evicted first); cached again, evicting slot 2
    await store.read(slots[1]!, 1, 1, 10n); // hit
    await store.read(slots[2]!, 1, 2, 10n); // miss
    expect(lookups).toEqual({ hit: 2, miss: 2 });
    expect(store.cachedBytes).toBe(2 * PAGE);
    await store.close();

    lookups = { hit: 0, miss: 0 };
    const off = await openStore(0);
    const slot = await off.write(1, 0, 10n, page(0));
    expect(await off.read(slot, 1, 0, 10n)).toEqual(page(0));
    expect(lookups).toEqual({ hit: 0, miss: 1 });
    expect(off.cachedBytes).toBe(0);
    await off.close();
  });

  it('reuses a dropped entry’s buffer for the next image built, never one the cache or a caller still holds (P6)', async () => {
    const store = await openStore(1024 * 1024);
    // A materialization step's image: built in a buffer of the store's, given up to writeMany.
    const built = store.newPage();
    built.set(page(1));
    const [first] = await store.writeMany(1, 10n, [{ pageNo: 7, bytes: built }], { cache: true });
    // Rewriting reads it into a buffer of its own: changing that changes neither the cache nor the disk.
    const rewrite = await store.readForRewrite(first!, 1, 7, 10n);
    expect(rewrite).toEqual(page(1));
    expect(rewrite).not.toBe(built);
    rewrite.set(page(2));
    expect(await store.read(first!, 1, 7, 10n)).toEqual(page(1));
    expect(await store.read(first!, 1, 7, 10n, { fromDisk: true })).toEqual(page(1));
    const [second] = await store.writeMany(1, 11n, [{ pageNo: 7, bytes: rewrite }], { cache: true });
    // The superseded image is freed: its cached buffer becomes a spare, handed out zeroed.
    store.free(first!);
    const zeroed = store.newPage();
    expect(zeroed).not.toBe(rewrite); // still the cache's, for the second image
    expect(zeroed.every((byte) => byte === 0)).toBe(true);
    store.free(second!);
    // A hit fills a spare (the buffer `rewrite` was, now dropped by the cache) with the cached bytes.
    const [third] = await store.writeMany(1, 12n, [{ pageNo: 8, bytes: page(3) }], { cache: true });
    const filled = await store.readForRewrite(third!, 1, 8, 12n);
    expect(filled).toBe(rewrite);
    expect(filled).toEqual(page(3));
    // A miss (the freed slot, still on disk) reads a buffer of its own, and caches a copy.
    const missed = await store.readForRewrite(second!, 1, 7, 11n);
    expect(missed).toEqual(page(2));
    missed.fill(9);
    expect(await store.read(second!, 1, 7, 11n)).toEqual(page(2));
    await store.close();
  });
});
