/**
 * Hydrating a segment from a peer's snapshot (the bulk path of a repair; snapshot.ts and
 * snapshot-format.ts), on six cores in the simulator with gossip off, so what the joiner holds came
 * through the snapshot: the base of page images and the records above it, the same pages at every
 * read point as the source, durable across a power loss; a stream cut part-way leaves the segment
 * valid and a retry completes it; a source at another truncation epoch, an unknown segment and bad
 * bytes are refused with typed errors.
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  encodeRedoRecord,
  type Lsn,
  type Message,
  NorthlightError,
  type RedoRecord,
} from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { HYDRATION_BURST_MS, HYDRATION_BYTES_PER_SECOND_MIN } from '../src/core/hydration-pacer.js';
import { PAGE_SLOT_IDENTITY_BYTES } from '../src/core/page-store.js';
import { SNAPSHOT_PART_HEADER_BYTES, type StorageNodeOptions } from '../src/index.js';
import { pg } from './support/core-rig.js';
import { Harness, NODES, OPTIONS, segmentOf } from './support/six-cores.js';

const ALL = NODES.map(([node]) => node);
const OPTIONS_HERE: StorageNodeOptions = {
  ...OPTIONS,
  gossipIntervalMs: 0,
  materializeIntervalMs: 5,
  backupChunkBytesMax: 2048, // several base parts and chunks
};

/** A one-way pipe with back-pressure: what a socket between the two nodes is. */
class Pipe {
  readonly #queue: Uint8Array[] = [];
  #waiting: (() => void) | undefined;
  #closed = false;
  #cutAfter: number;
  sent = 0;

  constructor(cutAfter = Number.POSITIVE_INFINITY) {
    this.#cutAfter = cutAfter;
  }

  async write(part: Uint8Array): Promise<void> {
    if (this.sent >= this.#cutAfter) {
      this.close();
      throw new NorthlightError('NL_TIMEOUT', 'the receiver went away');
    }
    this.sent++;
    // Delivered in two slices, at an arbitrary boundary, as a socket would.
    const at = Math.min(part.length, 7 + (this.sent % 13));
    this.#queue.push(part.subarray(0, at), part.subarray(at));
    this.#wake();
  }

  close(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) {
        if (next.length > 0) yield next;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
    }
  }
}

function writeAll(harness: Harness, count: number): RedoRecord[] {
  const records = harness.write(0, count, ALL);
  const last = records.slice(-1);
  for (const node of ALL) harness.send(node, harness.writer.batch(segmentOf(0, node), last, last[0]!.lsn));
  return records;
}

async function run<T>(harness: Harness, work: () => Promise<T>, limitMs = 60_000): Promise<T> {
  let result: { value: T } | undefined;
  void work().then((value) => {
    result = { value };
  });
  await harness.settle(() => result !== undefined, limitMs);
  return result!.value;
}

/** Streams `source`'s segment of PG 0 into `target`'s through a pipe; both results. */
async function transfer(harness: Harness, source: string, target: string, cutAfter?: number) {
  const pipe = new Pipe(cutAfter);
  return run(harness, async () => {
    const sent = harness
      .core(source)
      .snapshotSegment(pg(0), segmentOf(0, source), (part) => pipe.write(part))
      .finally(() => pipe.close());
    const received = harness
      .core(target)
      .hydrateFromSnapshot(pg(0), segmentOf(0, target), async () => pipe, source);
    return { sent: await sent, received: await received };
  });
}

async function recreate(harness: Harness, node: string): Promise<void> {
  const dropped = await run(harness, () => harness.core(node).dropSegment(pg(0), segmentOf(0, node)));
  expect(dropped.ok).toBe(true);
  const created = await run(harness, () =>
    harness.core(node).createSegment({
      pgId: pg(0),
      segmentId: segmentOf(0, node),
      membershipEpoch: 1n as never,
      members: ALL.map((member) => segmentOf(0, member)),
      memberNodes: ALL.map((member) => asNodeId(member)),
    }),
  );
  expect(created.ok).toBe(true);
  expect(harness.scl(node, 0)).toBe(0n);
}

async function pagesAt(harness: Harness, node: string, point: bigint): Promise<string[]> {
  const pages: string[] = [];
  for (const pageNo of harness.model.pages()) {
    const page = await harness.readPage(node, 0, pageNo, point);
    expect(page).toEqual(harness.model.pageAt(pageNo, point));
    pages.push(Buffer.from(page).toString('hex'));
  }
  return pages;
}

async function recordsAbove(harness: Harness, node: string, floor: bigint, head: bigint) {
  const lsns = [];
  for (let lsn = floor + 1n; lsn <= head; lsn++) lsns.push(asLsn(lsn));
  const records = await harness.fetchRecords(node, 0, lsns, 77_000n + floor);
  return records.map((record) => Buffer.from(encodeRedoRecord(record)).toString('hex'));
}

/** 300 records, collected to 200 everywhere, then 40 more: a base, and records above it. */
async function loaded(seed: number): Promise<{ harness: Harness; head: Lsn }> {
  const harness = new Harness(seed, [0], OPTIONS_HERE);
  await harness.ready();
  let records = writeAll(harness, 300);
  await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === records.at(-1)!.lsn));
  harness.minReadPoint(0, 200n, ALL);
  await harness.settle(() =>
    ALL.every((node) => harness.core(node).status().segments[0]!.gcThrough === 200n),
  );
  records = writeAll(harness, 40);
  const head = records.at(-1)!.lsn;
  await harness.settle(() => ALL.every((node) => harness.scl(node, 0) === head));
  return { harness, head };
}

describe('hydrating from a peer snapshot', () => {
  it('rebuilds a segment from a peer: the base, the records above, the same pages; durable', async () => {
    const { harness, head } = await loaded(31);
    const source = harness.core('s2').status().segments[0]!;
    const before = await pagesAt(harness, 's2', head);
    const recordsBefore = await recordsAbove(harness, 's2', source.materializedThrough, head);
    await recreate(harness, 's1');

    const { sent, received } = await transfer(harness, 's2', 's1');
    expect(sent.ok && received.ok).toBe(true);
    if (!sent.ok || !received.ok) return;
    expect(sent.value.pages).toBeGreaterThan(0);
    expect(sent.value.chunks).toBeGreaterThan(1);
    expect(received.value).toMatchObject({
      baseLsn: sent.value.baseLsn,
      pages: sent.value.pages,
      chunks: sent.value.chunks,
      records: sent.value.records,
      scl: head,
      bytes: sent.value.bytes,
    });
    const joined = harness.core('s1').status().segments[0]!;
    expect(joined).toMatchObject({
      scl: head,
      materializedThrough: sent.value.baseLsn,
      hydration: undefined,
    });
    expect(await pagesAt(harness, 's1', head)).toEqual(before);
    expect(await recordsAbove(harness, 's1', sent.value.baseLsn, head)).toEqual(
      recordsBefore.slice(Number(sent.value.baseLsn - source.materializedThrough)),
    );
    // Durable: a power loss keeps it.
    harness.cluster.crash('s1', { kind: 'power-loss' });
    harness.cluster.start('s1');
    await harness.settle(() => harness.scl('s1', 0) === head);
    expect(await pagesAt(harness, 's1', head)).toEqual(before);
    // The writer goes on appending to the joiner as to any member.
    const more = writeAll(harness, 20);
    await harness.settle(() => harness.scl('s1', 0) === more.at(-1)!.lsn);
  });

  it('a stream cut part-way leaves the segment valid, and a second snapshot completes it', async () => {
    const { harness, head } = await loaded(32);
    await recreate(harness, 's4');
    const cut = await transfer(harness, 's3', 's4', 3);
    expect(cut.received.ok).toBe(false);
    if (!cut.received.ok) expect(cut.received.error.code).toMatch(/^NL_DECODE_/);
    const after = harness.core('s4').status().segments[0]!;
    expect(after.hydration).toBeUndefined();
    expect(after.scl).toBeLessThan(head);
    const again = await transfer(harness, 's5', 's4');
    expect(again.received.ok).toBe(true);
    expect(harness.scl('s4', 0)).toBe(head);
    expect(await pagesAt(harness, 's4', head)).toEqual(await pagesAt(harness, 's5', head));
  });

  it('a page damaged on the way is caught before anything is installed, and a retry installs', async () => {
    const { harness, head } = await loaded(36);
    await recreate(harness, 's1');
    const pipe = new Pipe();
    let headers = 0;
    let flipped = false;
    const damaged = await run(harness, async () => {
      // A base part reaches the sink as its 20-byte header, then its slots as read: one bit of a page
      // of the second part flips there (after the first was written), between the source and the
      // joiner's check.
      const sent = harness
        .core('s2')
        .snapshotSegment(pg(0), segmentOf(0, 's2'), (piece) => {
          if (piece.length === SNAPSHOT_PART_HEADER_BYTES) headers++;
          else if (headers === 2 && !flipped) {
            flipped = true;
            const copy = piece.slice();
            copy[PAGE_SLOT_IDENTITY_BYTES + 5] = copy[PAGE_SLOT_IDENTITY_BYTES + 5]! ^ 0x20;
            return pipe.write(copy);
          }
          return pipe.write(piece);
        })
        .finally(() => pipe.close());
      const received = harness
        .core('s1')
        .hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => pipe, 's2');
      return { sent: await sent, received: await received };
    });
    expect(flipped).toBe(true);
    expect(damaged.received).toMatchObject({ ok: false, error: { code: 'NL_DECODE_CHECKSUM' } });
    expect(harness.core('s1').status().segments[0]).toMatchObject({ scl: 0n, materializedThrough: 0n });
    const { received } = await transfer(harness, 's2', 's1');
    expect(received.ok).toBe(true);
    expect(harness.scl('s1', 0)).toBe(head);
    expect(await pagesAt(harness, 's1', head)).toEqual(await pagesAt(harness, 's2', head));
  });

  it('one hydration at a time per segment; a source that cannot be opened leaves none pending', async () => {
    const { harness, head } = await loaded(35);
    await recreate(harness, 's1');
    const stalled = new Pipe(); // nothing ever arrives
    let first: Awaited<ReturnType<ReturnType<Harness['core']>['hydrateFromSnapshot']>> | undefined;
    void harness
      .core('s1')
      .hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => stalled)
      .then((result) => {
        first = result;
      });
    const second = await run(harness, () =>
      harness.core('s1').hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => new Pipe()),
    );
    expect(second).toMatchObject({ ok: false, error: { code: 'NL_SEGMENT_BUSY' } });
    // An S3 restore of it waits too: the snapshot would race it.
    const restore = await run(harness, () => harness.core('s1').restoreSegment(pg(0), segmentOf(0, 's1')));
    expect(restore).toMatchObject({ ok: false, error: { code: 'NL_SEGMENT_BUSY' } });
    stalled.close();
    await harness.settle(() => first !== undefined);
    expect(first?.ok).toBe(false);
    const unreachable = await run(harness, () =>
      harness.core('s1').hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => {
        throw new NorthlightError('NL_NETWORK_UNREACHABLE', 'the source is gone');
      }),
    );
    expect(unreachable).toMatchObject({ ok: false, error: { code: 'NL_NETWORK_UNREACHABLE' } });
    // A connection reset mid-stream is the transport's failure, typed as such (not a bug).
    const reset = await run(harness, () =>
      harness.core('s1').hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => ({
        async *[Symbol.asyncIterator]() {
          yield new Uint8Array(8);
          throw new Error('read ECONNRESET');
        },
      })),
    );
    expect(reset).toMatchObject({ ok: false, error: { code: 'NL_NETWORK_UNREACHABLE' } });
    const { received } = await transfer(harness, 's2', 's1');
    expect(received.ok).toBe(true);
    expect(harness.scl('s1', 0)).toBe(head);
  });

  it('a joiner that is already ahead of the base takes only the records it lacks', async () => {
    const { harness, head } = await loaded(33);
    const { received } = await transfer(harness, 's2', 's1'); // s1 holds everything already
    expect(received).toMatchObject({ ok: true, value: { pages: 0, records: 0, scl: head } });
  });

  it('catches up a member its peers collected past, with no backups, from a peer snapshot', async () => {
    // No object store to restore from, gossip on: the segment of a node that was away while its peers
    // collected their logs finds out (behindPeerGc) and cannot catch up by itself. The control plane
    // hydrates it from a peer (operator: repair-executor.ts, catch-up); this is the storage half.
    const options: StorageNodeOptions = { ...OPTIONS_HERE, gossipIntervalMs: 20, backupIntervalMs: 0 };
    const harness = new Harness(15, [0], options);
    await harness.ready();
    const head = await harness.awayWhilePeersCollect('s6');
    await harness.settle(() => harness.core('s6').status().segments[0]?.behindPeerGc === true);
    // Stuck: gossip cannot bring what every peer collected.
    await harness.cluster.runUntil(() => false, { timeLimitMs: harness.cluster.nowMs() + 2_000 });
    expect(harness.scl('s6', 0)).toBe(30n);
    expect(harness.core('s6').status().segments[0]!.behindPeerGc).toBe(true);

    const { sent, received } = await transfer(harness, 's5', 's6');
    expect(sent.ok).toBe(true);
    expect(received.ok).toBe(true);
    const status = harness.core('s6').status().segments[0]!;
    expect(status.scl).toBe(head);
    expect(status.behindPeerGc).toBe(false);
    for (const pageNo of harness.model.pages())
      expect(await harness.readPage('s6', 0, pageNo, head)).toEqual(harness.model.pageAt(pageNo, head));
    // And it takes the writer's next appends as any member does.
    const more = harness.write(0, 5, ALL);
    const last = more.at(-1)!.lsn;
    harness.send('s6', harness.writer.batch(segmentOf(0, 's6'), more.slice(-1), last));
    await harness.settle(() => harness.scl('s6', 0) === last);
  });

  it("is paced to the node's hydration limit, shared and changeable; 0 lifts it", async () => {
    const { harness, head } = await loaded(37);
    const before = await pagesAt(harness, 's2', head);
    // Unlimited first: the time the transfer needs by itself on the simulated disk and network.
    await recreate(harness, 's1');
    let startedMs = harness.cluster.nowMs();
    const free = await transfer(harness, 's2', 's1');
    const freeMs = harness.cluster.nowMs() - startedMs;
    expect(free.received.ok).toBe(true);
    if (!free.received.ok) return;
    const bytes = free.received.value.bytes;
    expect(harness.core('s1').status().hydrationLimit).toMatchObject({ bytesPerSecond: 0, waitedMs: 0 });

    // Limited to 64 KiB/s, the smallest limit a node takes: at least (bytes − the burst) / rate.
    const rate = HYDRATION_BYTES_PER_SECOND_MIN;
    expect(harness.core('s1').setHydrationBytesPerSecond(rate)).toEqual({
      ok: true,
      value: { bytesPerSecond: rate },
    });
    await recreate(harness, 's1');
    startedMs = harness.cluster.nowMs();
    const paced = await transfer(harness, 's2', 's1');
    const pacedMs = harness.cluster.nowMs() - startedMs;
    expect(paced.received.ok).toBe(true);
    const floorMs = ((bytes - (rate * HYDRATION_BURST_MS) / 1000) / rate) * 1000;
    expect(bytes).toBeGreaterThan((rate * HYDRATION_BURST_MS) / 1000); // the limit must bite here
    expect(pacedMs).toBeGreaterThanOrEqual(floorMs);
    expect(pacedMs).toBeLessThan(floorMs + freeMs + 1000);
    const limit = harness.core('s1').status().hydrationLimit;
    expect(limit).toMatchObject({ bytesPerSecond: rate, bytes: 2 * bytes, waiting: 0 });
    // What the transfer did not spend on its own work, it spent waiting for the limit.
    expect(limit.waitedMs).toBeGreaterThanOrEqual(floorMs - freeMs - 2);
    expect(limit.waitedMs).toBeLessThanOrEqual(pacedMs);
    expect(await pagesAt(harness, 's1', head)).toEqual(before);

    // Bad limits are refused, typed, and leave the limit as it was; 0 lifts it.
    for (const bad of [1, rate - 1, -1, 0.5, Number.NaN, 2e12])
      expect(harness.core('s1').setHydrationBytesPerSecond(bad)).toMatchObject({
        ok: false,
        error: { code: 'NL_CONFIG_INVALID' },
      });
    expect(harness.core('s1').status().hydrationLimit.bytesPerSecond).toBe(rate);
    expect(harness.core('s1').setHydrationBytesPerSecond(0).ok).toBe(true);
    await recreate(harness, 's1');
    startedMs = harness.cluster.nowMs();
    expect((await transfer(harness, 's2', 's1')).received.ok).toBe(true);
    expect(harness.cluster.nowMs() - startedMs).toBeLessThan(floorMs / 2);
  });

  it('refuses a source at another truncation epoch, unknown segments and bad bytes, typed', async () => {
    const { harness } = await loaded(34);
    await recreate(harness, 's1');
    // The source has a newer recovery's truncation that never reached the joiner: refused after the wait.
    harness.send('s2', {
      type: 'truncate',
      requestId: 5n,
      pgId: pg(0),
      segmentId: segmentOf(0, 's2'),
      volumeEpoch: asEpoch(3n),
      ranges: [{ volumeEpoch: asEpoch(3n), fromExclusive: asLsn(10_000n), toInclusive: asLsn(20_000n) }],
    } as Message);
    await harness.settle(() => harness.core('s2').status().segments[0]!.truncationEpoch === 3n);
    const stale = await transfer(harness, 's2', 's1');
    expect(stale.received.ok).toBe(false);
    if (!stale.received.ok) expect(stale.received.error.code).toBe('NL_EPOCH_STALE');
    expect(harness.scl('s1', 0)).toBe(0n);

    const unknown = await run(harness, () =>
      harness.core('s2').snapshotSegment(pg(0), segmentOf(0, 'nobody'), async () => undefined),
    );
    expect(unknown).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
    const noJoiner = await run(harness, () =>
      harness.core('s1').hydrateFromSnapshot(pg(0), segmentOf(0, 'nobody'), async () => new Pipe()),
    );
    expect(noJoiner).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
    const garbage = new Pipe();
    await garbage.write(new Uint8Array(64).fill(0x5a));
    garbage.close();
    const bad = await run(harness, () =>
      harness.core('s1').hydrateFromSnapshot(pg(0), segmentOf(0, 's1'), async () => garbage),
    );
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.code).toMatch(/^NL_DECODE_/);
    expect(harness.scl('s1', 0)).toBe(0n);
  });
});
