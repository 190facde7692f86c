/**
 * Staging to S3 and rebuilding (paper §3.3 step 6), on six cores in the simulator with its object
 * store: a dropped segment is rebuilt from the object store alone and from its peers alone, and holds
 * the same records (byte for byte, as a fetch returns them) and the same pages at every read point; GC
 * waits for the backup; a base of page images lets a rebuild skip collected records; a node that was
 * away while its peers collected their logs catches up from a peer's backup; bad backups get typed
 * errors and change nothing.
 */
import {
  asLsn,
  asSegmentId,
  encodeRedoRecord,
  type Lsn,
  NorthlightError,
  type RedoRecord,
} from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { MERGE_RETRY_MS } from '../src/core/backup.js';
import { decodeManifest, manifestKey } from '../src/core/backup-format.js';
import { noopStorageMetrics } from '../src/core/metrics.js';
import type { StorageNodeOptions } from '../src/index.js';
import { pg } from './support/core-rig.js';
import { Harness, NODES, OPTIONS, segmentOf } from './support/six-cores.js';

const ALL = NODES.map(([node]) => node);
/** No gossip: what a rebuild from the object store holds came from the object store. */
const ISOLATED: StorageNodeOptions = { ...OPTIONS, gossipIntervalMs: 0 };

/** Every record `node`'s segment of PG 0 returns for LSNs 1…head, as encoded bytes. */
async function recordsOf(harness: Harness, node: string, head: Lsn): Promise<Map<bigint, string>> {
  const held = new Map<bigint, string>();
  const lsns = Array.from({ length: Number(head) }, (_, index) => asLsn(BigInt(index + 1)));
  for (let start = 0; start < lsns.length; start += 1000) {
    const records = await harness.fetchRecords(
      node,
      0,
      lsns.slice(start, start + 1000),
      BigInt(900_000 + start),
    );
    for (const record of records) held.set(record.lsn, Buffer.from(encodeRedoRecord(record)).toString('hex'));
  }
  return held;
}

/** The segment's pages at each read point in [floor, head] (every 7th LSN and the head). */
async function pagesOf(harness: Harness, node: string, floor: bigint, head: bigint): Promise<string[]> {
  const pages: string[] = [];
  for (let point = floor; point <= head; point += point + 7n > head && point !== head ? head - point : 7n) {
    for (const pageNo of harness.model.pages()) {
      const page = await harness.readPage(node, 0, pageNo, point);
      expect(page).toEqual(harness.model.pageAt(pageNo, point));
      pages.push(`${point}/${pageNo}/${Buffer.from(page).toString('hex')}`);
    }
    if (point === head) break;
  }
  return pages;
}

/** Writes `count` records to every node, then makes the head durable (the hint reaches it). */
function writeAll(harness: Harness, count: number): RedoRecord[] {
  const records = harness.write(0, count, ALL);
  const last = records.slice(-1);
  for (const node of ALL) harness.send(node, harness.writer.batch(segmentOf(0, node), last, last[0]!.lsn));
  return records;
}

async function drop(harness: Harness, node: string): Promise<void> {
  let dropped = false;
  void harness
    .core(node)
    .dropSegment(pg(0), segmentOf(0, node))
    .then(() => {
      dropped = true;
    });
  await harness.settle(() => dropped);
  expect(harness.core(node).status().segments).toEqual([]);
}

async function restore(harness: Harness, node: string, source?: string) {
  let result: Awaited<ReturnType<ReturnType<Harness['core']>['restoreSegment']>> | undefined;
  void harness
    .core(node)
    .restoreSegment(pg(0), segmentOf(0, node), source === undefined ? undefined : segmentOf(0, source))
    .then((outcome) => {
      result = outcome;
    });
  await harness.settle(() => result !== undefined, 60_000);
  return result!;
}

async function backupNow(harness: Harness, node: string) {
  let result: Awaited<ReturnType<ReturnType<Harness['core']>['backupNow']>> | undefined;
  void harness
    .core(node)
    .backupNow()
    .then((outcome) => {
      result = outcome;
    });
  await harness.settle(() => result !== undefined, 60_000);
  return result!;
}

function manifestOf(harness: Harness, node: string) {
  const key = manifestKey('', 0, segmentOf(0, node));
  const bytes = harness.cluster.objectStore.peek(key);
  return bytes === undefined ? undefined : decodeManifest(bytes, key);
}

/**
 * One seed of staging under faults: a trickle of writes, each round staged with a 15% chance of each
 * object-store request failing (a failed put or delete may still land) and a 15% chance of a power
 * loss at a random moment of the staging. Then, faults off: the manifest is contiguous from 0 to the
 * head, names only stored objects, has fewer small chunks than merge due, and restores byte-identical.
 */
async function mergeUnderFaults(seed: number): Promise<{ crashes: number; merges: number }> {
  const mergeChunksAt = 3;
  const harness = new Harness(100 + seed, [0], {
    ...ISOLATED,
    backupChunkBytesMax: 4096,
    backupMergeChunksAt: mergeChunksAt,
  });
  await harness.ready();
  let state = (seed * 2_654_435_761 + 1) % 2 ** 31;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const store = harness.cluster.objectStore;
  store.setFailureProbability(0.15);
  let head = asLsn(0n);
  let crashes = 0;
  let merges = 0;
  for (let round = 0; round < 40; round++) {
    head = writeAll(harness, 1 + Math.floor(random() * 3)).at(-1)!.lsn;
    await harness.settle(() => harness.scl('s1', 0) === head);
    let done = false;
    void harness
      .core('s1')
      .backupNow()
      .then((staged) => {
        merges += staged.merges;
        done = true;
      });
    if (random() < 0.15) {
      await harness.cluster.runUntil(() => done, { timeLimitMs: harness.cluster.nowMs() + random() * 40 });
      if (!done) {
        harness.cluster.crash('s1');
        crashes++;
        harness.cluster.start('s1');
        await harness.settle(() => harness.core('s1')?.state === 'serving' && harness.scl('s1', 0) === head);
        continue;
      }
    }
    await harness.settle(() => done, 60_000);
  }
  store.setFailureProbability(0);
  // A merge the faults failed waits MERGE_RETRY_MS before it is tried again.
  await harness.cluster.runFor(MERGE_RETRY_MS);
  // One more write carries the durable hint again (a power loss may have lost the persisted one).
  head = writeAll(harness, 1).at(-1)!.lsn;
  await harness.settle(() => harness.scl('s1', 0) === head);
  const final = await backupNow(harness, 's1');
  expect(final.failures, `seed ${seed}`).toEqual([]);
  merges += final.merges;
  const manifest = manifestOf(harness, 's1')!;
  expect(manifest.backedUpThrough, `seed ${seed}`).toBe(head);
  let from = 0n;
  for (const chunk of manifest.chunks) {
    expect(chunk.fromExclusive, `seed ${seed}`).toBe(from);
    expect(store.peek(chunk.key), `seed ${seed}: ${chunk.key}`).toBeDefined();
    from = chunk.toInclusive;
  }
  expect(from, `seed ${seed}`).toBe(head);
  expect(manifest.chunks.filter((chunk) => chunk.bytes * 2 < 4096).length).toBeLessThan(mergeChunksAt);
  const beforeRecords = await recordsOf(harness, 's1', head);
  await drop(harness, 's1');
  expect(await restore(harness, 's1'), `seed ${seed}`).toMatchObject({ ok: true, value: { scl: head } });
  expect(await recordsOf(harness, 's1', head)).toEqual(beforeRecords);
  return { crashes, merges };
}

describe('backup to the object store', () => {
  it('rebuilds a dropped segment from the object store alone, byte-identical', async () => {
    const harness = new Harness(11, [0], { ...ISOLATED, backupChunkBytesMax: 4096 });
    await harness.ready();
    const records = writeAll(harness, 250);
    const head = records.at(-1)!.lsn;
    await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === head));
    const staged = await backupNow(harness, 's1');
    expect(staged.failures).toEqual([]);
    expect(staged.chunks).toBeGreaterThan(3); // 4 KiB chunks
    expect(manifestOf(harness, 's1')).toMatchObject({ backedUpThrough: head, base: undefined });
    const beforeRecords = await recordsOf(harness, 's1', head);
    const beforePages = await pagesOf(harness, 's1', 1n, head);
    expect(beforeRecords.size).toBe(250);

    await drop(harness, 's1');
    const result = await restore(harness, 's1');
    expect(result).toMatchObject({ ok: true, value: { scl: head, records: 250, pages: 0 } });
    expect(await recordsOf(harness, 's1', head)).toEqual(beforeRecords);
    expect(await pagesOf(harness, 's1', 1n, head)).toEqual(beforePages);
    const status = harness.core('s1').status().segments[0]!;
    expect(status).toMatchObject({
      scl: head,
      members: ALL.map((node) => segmentOf(0, node)),
      memberNodes: ALL,
    });
    // Durable: a power loss keeps the rebuilt segment.
    harness.cluster.crash('s1', { kind: 'power-loss' });
    harness.cluster.start('s1');
    await harness.settle(() => harness.scl('s1', 0) === head);
    expect(await recordsOf(harness, 's1', head)).toEqual(beforeRecords);
  });

  it('rebuilds a dropped segment from its peers alone (gossip from LSN 0), byte-identical', async () => {
    const harness = new Harness(12, [0]);
    await harness.ready();
    const records = writeAll(harness, 250);
    const head = records.at(-1)!.lsn;
    await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === head));
    const beforeRecords = await recordsOf(harness, 's3', head);
    const beforePages = await pagesOf(harness, 's3', 1n, head);
    await drop(harness, 's3');
    let created = false;
    void harness
      .core('s3')
      .createSegment({
        pgId: pg(0),
        segmentId: segmentOf(0, 's3'),
        membershipEpoch: 1n as never,
        members: ALL.map((node) => segmentOf(0, node)),
        memberNodes: ALL.map((node) => node as never),
      })
      .then(() => {
        created = true;
      });
    await harness.settle(() => created && harness.scl('s3', 0) === head);
    expect(await recordsOf(harness, 's3', head)).toEqual(beforeRecords);
    expect(await pagesOf(harness, 's3', 1n, head)).toEqual(beforePages);
  });

  it('collects the log only once staged, stages bases, and rebuilds from a base and the chunks above it', async () => {
    const options: StorageNodeOptions = {
      ...ISOLATED,
      materializeIntervalMs: 5,
      backupIntervalMs: 10,
      backupChunkBytesMax: 2048,
      backupBaseEveryBytes: 6000,
    };
    const harness = new Harness(13, [0], options);
    await harness.ready();
    let records = writeAll(harness, 300);
    let head = records.at(-1)!.lsn;
    await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === head));
    // The writer's minimum read point lets the segments materialize and collect up to 200.
    harness.minReadPoint(0, 200n, ALL);
    await harness.settle(() => {
      const status = harness.core('s1').status().segments[0]!;
      return status.gcThrough === 200n && status.backup.backedUpThrough === head;
    });
    const manifest = manifestOf(harness, 's1')!;
    expect(manifest.base?.lsn).toBeGreaterThan(0n);
    expect(manifest.backedUpThrough).toBe(head);
    // The object store holds only what the manifest names (older chunks and bases are deleted).
    const keys = harness.cluster.objectStore.keys().filter((key) => key.startsWith('pg-0/pg0-s1/'));
    expect(new Set(keys)).toEqual(
      new Set([
        'pg-0/pg0-s1/manifest.json',
        manifest.base!.key,
        ...manifest.chunks.map((chunk) => chunk.key),
      ]),
    );
    records = writeAll(harness, 40);
    head = records.at(-1)!.lsn;
    await harness.settle(() => harness.core('s1').status().segments[0]!.backup.backedUpThrough === head);
    const beforePages = await pagesOf(harness, 's1', 200n, head);
    const beforeRecords = await recordsOf(harness, 's1', head);

    await drop(harness, 's1');
    const result = await restore(harness, 's1');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.scl).toBe(head);
    expect(result.value.pages).toBeGreaterThan(0);
    const status = harness.core('s1').status().segments[0]!;
    expect(status.materializedThrough).toBe(manifestOf(harness, 's1')!.base!.lsn);
    // Above the base, the same pages at every read point and the same records, byte for byte.
    expect(await pagesOf(harness, 's1', 200n, head)).toEqual(beforePages);
    const after = await recordsOf(harness, 's1', head);
    for (const [lsn, bytes] of after) expect(beforeRecords.get(lsn)).toBe(bytes);
    for (const [lsn, bytes] of beforeRecords)
      if (lsn > status.materializedThrough) expect(after.get(lsn)).toBe(bytes);
  });

  it('catches a returning node up from a peer backup when every peer collected past it', async () => {
    const options: StorageNodeOptions = {
      ...OPTIONS,
      materializeIntervalMs: 5,
      backupIntervalMs: 10,
      backupChunkBytesMax: 2048,
      backupBaseEveryBytes: 4000,
    };
    const harness = new Harness(14, [0], options);
    await harness.ready();
    const head = await harness.awayWhilePeersCollect('s6');
    await harness.settle(() => harness.scl('s6', 0) === head, 60_000);
    const status = harness.core('s6').status().segments[0]!;
    expect(status.materializedThrough).toBeGreaterThan(30n);
    for (const pageNo of harness.model.pages())
      expect(await harness.readPage('s6', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
  });

  it('a restore and a peer snapshot of one segment at once: the restore waits its turn, typed', async () => {
    // Found by the operator's simulator (catch-up workload): a restore that had passed its check
    // and was reading the manifest when a peer's snapshot began ran alongside it, and the snapshot's
    // end cleared the restore's progress under it (a TypeError in the chunk loop). The restore now
    // claims the segment before its first await, and refuses if a snapshot holds it.
    const harness = new Harness(16, [0], { ...ISOLATED, backupChunkBytesMax: 2048 });
    await harness.ready();
    const records = writeAll(harness, 60);
    const head = records.at(-1)!.lsn;
    await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === head));
    expect((await backupNow(harness, 's2')).failures).toEqual([]);
    let release: (() => void) | undefined;
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    let snapshot: { ok: boolean } | undefined;
    let restored: Awaited<ReturnType<typeof restore>> | undefined;
    void harness
      .core('s1')
      .restoreSegment(pg(0), segmentOf(0, 's1'), segmentOf(0, 's2'))
      .then((result) => {
        restored = result;
      });
    // The restore passes its check and reads the manifest: the snapshot begins meanwhile.
    await harness.cluster.runUntil(() => false, { timeLimitMs: harness.cluster.nowMs() });
    void harness
      .core('s1')
      .hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => ({
        async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
          await stalled;
          yield* []; // ends without a part
        },
      }))
      .then((result) => {
        snapshot = result;
      });
    await harness.settle(() => restored !== undefined);
    expect(restored).toMatchObject({ ok: false, error: { code: 'NL_SEGMENT_BUSY' } });
    expect(snapshot).toBeUndefined();
    release!();
    await harness.settle(() => snapshot !== undefined);
    expect(snapshot!.ok).toBe(false); // an empty stream: no end part
    expect(harness.core('s1').status().segments[0]!.hydration).toBeUndefined();
    // Its turn now.
    expect(await restore(harness, 's1', 's2')).toMatchObject({ ok: true, value: { scl: head } });
  });

  it('merges small chunks, so a trickle of writes keeps the manifest small; the backup restores byte-identical', async () => {
    const mergeChunksAt = 4;
    const trickle = async (options: StorageNodeOptions) => {
      const harness = new Harness(16, [0], options);
      await harness.ready();
      let head = asLsn(0n);
      let merges = 0;
      for (let round = 0; round < 60; round++) {
        head = writeAll(harness, 2).at(-1)!.lsn;
        await harness.settle(() => harness.scl('s1', 0) === head);
        const staged = await backupNow(harness, 's1');
        expect(staged.failures).toEqual([]);
        merges += staged.merges;
      }
      return { harness, head, merges, manifest: manifestOf(harness, 's1')! };
    };
    const unmerged = await trickle({ ...ISOLATED, backupChunkBytesMax: 4096, backupMergeChunksAt: 1000 });
    expect(unmerged.merges).toBe(0);
    expect(unmerged.manifest.chunks).toHaveLength(60); // one per round: the growth merging prevents

    const { harness, head, merges, manifest } = await trickle({
      ...ISOLATED,
      backupChunkBytesMax: 4096,
      backupMergeChunksAt: mergeChunksAt,
    });
    expect(merges).toBeGreaterThan(10);
    expect(manifest.backedUpThrough).toBe(head);
    const small = manifest.chunks.filter((chunk) => chunk.bytes * 2 < 4096);
    expect(small.length).toBeLessThan(mergeChunksAt);
    const chunkBytes = manifest.chunks.reduce((sum, chunk) => sum + chunk.bytes, 0);
    expect(manifest.chunks.length).toBeLessThanOrEqual(mergeChunksAt + Math.ceil(chunkBytes / 2048));
    expect(manifest.chunks.length).toBeLessThan(unmerged.manifest.chunks.length / 3);
    // Contiguous from 0 to the head, each chunk within its range, and nothing left that it does not name.
    let from = 0n;
    for (const chunk of manifest.chunks) {
      expect(chunk.fromExclusive).toBe(from);
      from = chunk.toInclusive;
    }
    expect(from).toBe(head);
    const keys = harness.cluster.objectStore.keys().filter((key) => key.startsWith('pg-0/pg0-s1/'));
    expect(new Set(keys)).toEqual(
      new Set(['pg-0/pg0-s1/manifest.json', ...manifest.chunks.map((chunk) => chunk.key)]),
    );
    // The same records as the unmerged backup's, byte for byte, after a rebuild from each.
    const beforeRecords = await recordsOf(harness, 's1', head);
    await drop(harness, 's1');
    expect(await restore(harness, 's1')).toMatchObject({
      ok: true,
      value: { scl: head, records: Number(head) },
    });
    expect(await recordsOf(harness, 's1', head)).toEqual(beforeRecords);
    await drop(unmerged.harness, 's1');
    expect((await restore(unmerged.harness, 's1')).ok).toBe(true);
    expect(await recordsOf(unmerged.harness, 's1', head)).toEqual(beforeRecords);
  });

  it('stops merging at a named chunk missing from the object store, says so, and goes on staging', async () => {
    const broken: number[] = [];
    const harness = new Harness(17, [0], {
      ...ISOLATED,
      backupChunkBytesMax: 4096,
      backupMergeChunksAt: 4,
      metrics: { ...noopStorageMetrics, backupBroken: (segments) => broken.push(segments) },
    });
    await harness.ready();
    const round = async () => {
      const head = writeAll(harness, 2).at(-1)!.lsn;
      await harness.settle(() => harness.scl('s1', 0) === head);
      return { head, staged: await backupNow(harness, 's1') };
    };
    for (let index = 0; index < 3; index++) expect((await round()).staged.failures).toEqual([]);
    const lost = manifestOf(harness, 's1')!.chunks[1]!;
    harness.cluster.objectStore.delete(lost.key);
    const { staged } = await round(); // the fourth small chunk makes a merge due: it finds the hole
    expect(staged.failures).toEqual([
      expect.stringContaining(`${lost.key}: named by the manifest, not stored`),
    ]);
    expect(harness.core('s1').status().segments[0]!.backup).toMatchObject({
      lastError: expect.stringContaining(lost.key),
      brokenChunk: lost.key,
    });
    expect(harness.cluster.errorLogs.map((line) => [line.source, line.message, line.fields?.key])).toEqual([
      ['s1#1', 'a chunk the backup names is missing or damaged; merging stops until the next base', lost.key],
    ]);
    // Staging goes on; no merge is tried again (the hole stays named until a base replaces it).
    for (let index = 0; index < 5; index++) {
      const next = await round();
      expect(next.staged).toMatchObject({ chunks: 1, merges: 0, failures: [] });
      expect(manifestOf(harness, 's1')!.backedUpThrough).toBe(next.head);
    }
    expect(manifestOf(harness, 's1')!.chunks).toHaveLength(9);
    expect(harness.core('s1').status().segments[0]!.backup.brokenChunk).toBe(lost.key);
    // The node-wide gauge (northlight_storage_backup_broken_segments): 0 before, 1 since.
    expect(broken.slice(0, 3)).toEqual([0, 0, 0]);
    expect(broken.slice(3)).toEqual(Array(broken.length - 3).fill(1));
  });

  it('goes on staging when the object store refuses the reads a merge needs, and merges once it allows them', async () => {
    const harness = new Harness(19, [0], { ...ISOLATED, backupChunkBytesMax: 4096, backupMergeChunksAt: 4 });
    await harness.ready();
    // A bucket policy that lets the node write but not read: every get fails.
    const store = harness.cluster.objectStore;
    const get = store.get.bind(store);
    let readsAllowed = false;
    store.get = (key: string) => {
      if (readsAllowed || key.endsWith('manifest.json')) return get(key);
      throw new NorthlightError('NL_OBJECT_STORE_UNAVAILABLE', `get ${key}: AccessDenied`);
    };
    const round = async () => {
      const head = writeAll(harness, 2).at(-1)!.lsn;
      await harness.settle(() => harness.scl('s1', 0) === head);
      return { head, staged: await backupNow(harness, 's1') };
    };
    for (let index = 0; index < 12; index++) {
      const { head, staged } = await round();
      expect(staged).toMatchObject({ merges: 0, failures: [] }); // a failed merge is no failed backup
      expect(manifestOf(harness, 's1')!.backedUpThrough).toBe(head); // staging never stops
    }
    expect(manifestOf(harness, 's1')!.chunks).toHaveLength(12);
    expect(harness.core('s1').status().segments[0]!.backup.brokenChunk).toBeUndefined();
    // Reads allowed again: the next merge, a minute after the last failed one, catches up.
    readsAllowed = true;
    await harness.cluster.runFor(MERGE_RETRY_MS);
    const { head, staged } = await round();
    expect(staged.merges).toBeGreaterThan(0);
    const manifest = manifestOf(harness, 's1')!;
    expect(manifest.backedUpThrough).toBe(head);
    expect(manifest.chunks.filter((chunk) => chunk.bytes * 2 < 4096).length).toBeLessThan(4);
  });

  it('heals a backup whose named chunk went missing with a base, once materialization has passed it', async () => {
    const harness = new Harness(18, [0], {
      ...ISOLATED,
      materializeIntervalMs: 5,
      backupChunkBytesMax: 4096,
      backupMergeChunksAt: 4,
    });
    await harness.ready();
    let head = asLsn(0n);
    for (let round = 0; round < 3; round++) {
      head = writeAll(harness, 2).at(-1)!.lsn;
      await harness.settle(() => harness.scl('s1', 0) === head);
      await backupNow(harness, 's1');
    }
    const lost = manifestOf(harness, 's1')!.chunks[1]!;
    harness.cluster.objectStore.delete(lost.key);
    head = writeAll(harness, 2).at(-1)!.lsn;
    await harness.settle(() => harness.scl('s1', 0) === head);
    await backupNow(harness, 's1');
    expect(harness.core('s1').status().segments[0]!.backup.brokenChunk).toBe(lost.key);
    // The writer's minimum read point lets materialization pass the lost chunk; the next step stages
    // a base, which replaces every chunk at or below it, the lost one included.
    harness.minReadPoint(0, head, ALL);
    await harness.settle(() => harness.core('s1').status().segments[0]!.materializedThrough === head);
    const staged = await backupNow(harness, 's1');
    expect(staged).toMatchObject({ bases: 1, failures: [] });
    const manifest = manifestOf(harness, 's1')!;
    expect(manifest.base!.lsn).toBeGreaterThanOrEqual(lost.toInclusive);
    expect(manifest.chunks.map((chunk) => chunk.key)).not.toContain(lost.key);
    expect(harness.core('s1').status().segments[0]!.backup.brokenChunk).toBeUndefined();
    // Restorable again, to the head.
    const before = await pagesOf(harness, 's1', head, head);
    await drop(harness, 's1');
    const result = await restore(harness, 's1');
    expect(result).toMatchObject({ ok: true, value: { scl: head } });
    expect(await pagesOf(harness, 's1', head, head)).toEqual(before);
  });

  it('merges through object-store failures and crashes mid-merge: the manifest names stored objects only, and restores', async () => {
    // NL_BACKUP_MERGE_SEEDS=200 for a longer campaign; a failing seed replays exactly.
    const seeds = Number(process.env.NL_BACKUP_MERGE_SEEDS ?? 5);
    let crashes = 0;
    let merges = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const outcome = await mergeUnderFaults(seed);
      crashes += outcome.crashes;
      merges += outcome.merges;
    }
    expect(crashes).toBeGreaterThan(0);
    expect(merges).toBeGreaterThan(seeds);
  });

  it('refuses bad restores with typed errors and changes nothing', async () => {
    const harness = new Harness(15, [0], ISOLATED);
    await harness.ready();
    const records = writeAll(harness, 20);
    await harness.settle(() => harness.scl('s1', 0) === records.at(-1)!.lsn);
    // No backup yet.
    await drop(harness, 's2');
    let result = await restore(harness, 's2');
    expect(result).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
    expect(harness.core('s2').status().segments).toEqual([]);
    // A chunk that rotted in the object store: a CRC error, and no segment is left half-made from it.
    await backupNow(harness, 's1');
    const manifest = manifestOf(harness, 's1')!;
    const chunk = harness.cluster.objectStore.peek(manifest.chunks[0]!.key)!;
    const rotten = chunk.slice();
    rotten[40] = rotten[40]! ^ 0x10;
    harness.cluster.objectStore.put(manifest.chunks[0]!.key, rotten);
    await drop(harness, 's1');
    result = await restore(harness, 's1');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toMatch(/^NL_DECODE_/);
    expect(harness.core('s1').status().segments).toEqual([]);
    // A manifest that is not JSON.
    harness.cluster.objectStore.put(
      manifestKey('', 0, segmentOf(0, 's4')),
      new TextEncoder().encode('{nope'),
    );
    await drop(harness, 's4');
    result = await restore(harness, 's4');
    expect(result).toMatchObject({ ok: false, error: { code: 'NL_DECODE_INVALID' } });
    expect(harness.core('s4').status().segments).toEqual([]);
    // A source that is not a member of the PG in the backup.
    harness.cluster.objectStore.put(
      manifestKey('', 0, segmentOf(0, 's5')),
      harness.cluster.objectStore.peek(manifestKey('', 0, segmentOf(0, 's1')))!,
    );
    result = await restore(harness, 's4', 's5');
    expect(result.ok).toBe(false);
    expect(asSegmentId('pg0-s4')).toBe(segmentOf(0, 's4'));
  });
});
