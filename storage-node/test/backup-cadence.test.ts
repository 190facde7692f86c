/**
 * Staging cadence (backup.ts B7), on six cores in the simulator with its object store, only s1 written
 * (gossip off, so the other five stage nothing and every upload counted is s1's): a trickle of writes
 * stages one chunk and one manifest per max-delay window, not one per tick as with a max delay of 0
 * (the old cadence, measured in the same test); a burst past half a chunk is staged at once, while a
 * few records below it wait for the max delay; what must not wait does not (the manifest read, a
 * merge due, `backupNow`); and the lag the node reports — the metric at each tick, `status()` at any
 * moment — is never less than the real age of the oldest stageable record not yet staged, and more by
 * at most about a tick. The real age is taken from outside the node: a predicate run after every
 * simulator event notes when each record is first held.
 */
import { asLsn, type Lsn } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { noopStorageMetrics } from '../src/core/metrics.js';
import type { StorageNodeOptions } from '../src/index.js';
import { Harness, OPTIONS, segmentOf } from './support/six-cores.js';

const TICK_MS = 10;
/** Gossip off; a staging tick every 10 ms; no merging unless a test asks for it. */
const CADENCE: StorageNodeOptions = {
  ...OPTIONS,
  gossipIntervalMs: 0,
  backupIntervalMs: TICK_MS,
  backupMergeChunksAt: 1000,
};

interface Uploads {
  chunk: number;
  manifest: number;
  base: number;
  merged: number;
}

/** A harness whose nodes' uploads (one call per PUT) and lag reports are recorded. */
function cadenceHarness(seed: number, options: StorageNodeOptions) {
  const uploads: Uploads = { chunk: 0, manifest: 0, base: 0, merged: 0 };
  const lags: { atMs: number; bytes: number; seconds: number; check: () => void }[] = [];
  const tracker = { onLag: (_bytes: number, _seconds: number): void => undefined };
  const harness = new Harness(seed, [0], {
    ...options,
    metrics: {
      ...noopStorageMetrics,
      backupUploaded: (kind) => {
        uploads[kind]++;
      },
      backupLag: (bytes, seconds) => tracker.onLag(bytes, seconds),
    },
  });
  return { harness, uploads, lags, tracker };
}

/** Writes `count` records to s1 only and makes the last durable (the hint reaches it). */
function writeS1(harness: Harness, count: number): Lsn {
  const records = harness.write(0, count, ['s1']);
  const last = records.slice(-1);
  harness.send('s1', harness.writer.batch(segmentOf(0, 's1'), last, last[0]!.lsn));
  return last[0]!.lsn;
}

function statusOf(harness: Harness) {
  return harness.core('s1').status().segments[0]!;
}

/**
 * When each LSN was first held by s1, as seen after every simulator event (so at the time of the event
 * that indexed it: never before its arrival). Gives a lower bound of the real age of the oldest
 * stageable record s1 has not staged.
 */
class ArrivalWatch {
  readonly #heldAtMs = new Map<bigint, number>();
  #next = 1n;

  constructor(readonly harness: Harness) {}

  observe(): void {
    const scl = this.harness.scl('s1', 0) ?? 0n;
    for (; this.#next <= scl; this.#next++) this.#heldAtMs.set(this.#next, this.harness.cluster.nowMs());
  }

  /** Now minus the first time the oldest stageable, unstaged record was seen held; 0 if none. */
  oldestUnstagedAgeMs(): number {
    const status = statusOf(this.harness);
    const through = status.backup.backedUpThrough ?? status.gcThrough;
    const limit = status.scl < status.durableHint ? status.scl : status.durableHint;
    if (limit <= through) return 0;
    const heldAt = this.#heldAtMs.get(through + 1n);
    return heldAt === undefined ? 0 : this.harness.cluster.nowMs() - heldAt;
  }

  /** Runs the simulation for `durationMs`, observing after every event. */
  async runFor(durationMs: number): Promise<void> {
    await this.harness.cluster.runUntil(
      () => {
        this.observe();
        return false;
      },
      { timeLimitMs: this.harness.cluster.nowMs() + durationMs },
    );
  }
}

/** One record every `everyMs` for `durationMs`; checks every lag report against the real age. */
async function trickle(maxDelayMs: number, durationMs: number, everyMs: number) {
  const { harness, uploads, tracker } = cadenceHarness(31, {
    ...CADENCE,
    backupChunkBytesMax: 64 * 1024, // a trickle never reaches half of it
    backupMaxDelayMs: maxDelayMs,
  });
  await harness.ready();
  await harness.settle(() => statusOf(harness).backup.backedUpThrough !== undefined);
  const watch = new ArrivalWatch(harness);
  let reports = 0;
  let overstatedMsMax = 0;
  let lagSecondsMax = 0;
  const understated: string[] = [];
  tracker.onLag = (bytes, seconds) => {
    // The other five nodes have nothing pending: a report with bytes is s1's (from inside its tick).
    const realMs = watch.oldestUnstagedAgeMs();
    if (bytes === 0 || realMs === 0) return;
    reports++;
    if (seconds * 1000 < realMs) understated.push(`${seconds * 1000} ms < ${realMs} ms`);
    lagSecondsMax = Math.max(lagSecondsMax, seconds);
    overstatedMsMax = Math.max(overstatedMsMax, seconds * 1000 - realMs);
  };
  const before = { ...uploads };
  let head = asLsn(0n);
  for (let elapsed = 0; elapsed < durationMs; elapsed += everyMs) {
    head = writeS1(harness, 1);
    await watch.runFor(everyMs);
    // status() at an arbitrary moment: never below the real age either.
    const status = harness.core('s1').status();
    expect(status.backup.lagSeconds * 1000).toBeGreaterThanOrEqual(watch.oldestUnstagedAgeMs());
  }
  const staged = {
    chunk: uploads.chunk - before.chunk,
    manifest: uploads.manifest - before.manifest,
    merged: uploads.merged - before.merged,
  };
  expect(understated).toEqual([]);
  return { harness, head, staged, reports, overstatedMsMax, lagSecondsMax };
}

describe('staging cadence (backup.ts B7)', () => {
  it('a trickle stages one chunk per max-delay window, not one per tick; the lag never understates', async () => {
    // The old cadence (max delay 0): a chunk and a manifest at every tick after a write.
    const everyTick = await trickle(0, 10_000, 100);
    expect(everyTick.staged.chunk).toBeGreaterThanOrEqual(95);
    expect(everyTick.staged.manifest).toBe(everyTick.staged.chunk);

    const batched = await trickle(1000, 10_000, 100);
    // 10 s of writes, a chunk at most once a second (the first window may start before the first write).
    expect(batched.staged.chunk).toBeGreaterThanOrEqual(9);
    expect(batched.staged.chunk).toBeLessThanOrEqual(11);
    expect(batched.staged.manifest).toBe(batched.staged.chunk); // no manifest without a new object
    expect(batched.staged.merged).toBe(0);
    // The lag was checked at every tick with something pending, and overstated by about a tick at most
    // (ticks are 10 ms apart plus the staging's object-store latency).
    expect(batched.reports).toBeGreaterThan(500);
    expect(batched.overstatedMsMax).toBeLessThanOrEqual(TICK_MS + 250);
    // The lag stays within a window and a tick: it is the age of the oldest record not staged.
    expect(batched.lagSecondsMax).toBeLessThanOrEqual((1000 + TICK_MS + 250) / 1000);
    // Nothing waited much past the max delay: each window ends with everything stageable staged.
    const { harness } = batched;
    await harness.cluster.runFor(1000 + 2 * TICK_MS + 100);
    expect(statusOf(harness).backup.backedUpThrough).toBe(batched.head);
    expect(harness.core('s1').status().backup).toMatchObject({
      intervalMs: TICK_MS,
      maxDelayMs: 1000,
      stageAtBytes: 32 * 1024,
      lagBytes: 0,
      lagSeconds: 0,
    });
  });

  it('stages a burst past half a chunk at once; a few records wait for the max delay', async () => {
    const { harness, uploads } = cadenceHarness(32, {
      ...CADENCE,
      backupChunkBytesMax: 4096, // staged at once from 2 KiB pending
      backupMaxDelayMs: 60_000,
    });
    await harness.ready();
    await harness.settle(() => statusOf(harness).backup.backedUpThrough === 0n);
    // A few records, well under 2 KiB: not staged before the max delay.
    const few = writeS1(harness, 3);
    await harness.cluster.runFor(30_000);
    expect(statusOf(harness).backup.backedUpThrough).toBe(0n);
    expect(uploads.chunk).toBe(0);
    expect(harness.core('s1').status().backup.lagSeconds).toBeGreaterThanOrEqual(29.9);
    // A burst past 2 KiB (a record is a 110-byte log entry): staged within a few ticks, with the few
    // before it, in one chunk.
    const burstAtMs = harness.cluster.nowMs();
    const head = writeS1(harness, 20);
    await harness.settle(() => statusOf(harness).backup.backedUpThrough === head, 200);
    expect(harness.cluster.nowMs() - burstAtMs).toBeLessThan(200);
    expect(head).toBeGreaterThan(few);
    expect(uploads).toMatchObject({ chunk: 1, manifest: 1 });
    // Three more records wait out their own max delay, then go.
    const last = writeS1(harness, 3);
    const quietAtMs = harness.cluster.nowMs();
    await harness.settle(() => statusOf(harness).backup.backedUpThrough === last, 70_000);
    const waitedMs = harness.cluster.nowMs() - quietAtMs;
    expect(waitedMs).toBeGreaterThanOrEqual(60_000 - 2 * TICK_MS);
    expect(waitedMs).toBeLessThanOrEqual(60_000 + 2 * TICK_MS + 100);
    expect(uploads).toMatchObject({ chunk: 2, manifest: 2 });
  });

  it('does not delay what must not wait: the manifest read, a merge due, backupNow', async () => {
    const { harness, uploads } = cadenceHarness(33, {
      ...CADENCE,
      backupChunkBytesMax: 4096,
      backupMergeChunksAt: 4,
      backupMaxDelayMs: 5_000,
    });
    await harness.ready();
    // The manifest is read at the first tick (B3: GC keeps everything until then).
    await harness.settle(() => statusOf(harness).backup.backedUpThrough === 0n, 2 * TICK_MS + 100);
    // backupNow stages a few records at once, whatever the max delay (four small chunks).
    for (let round = 0; round < 3; round++) {
      const head = writeS1(harness, 2);
      await harness.settle(() => harness.scl('s1', 0) === head);
      let staged: Awaited<ReturnType<ReturnType<Harness['core']>['backupNow']>> | undefined;
      void harness
        .core('s1')
        .backupNow()
        .then((result) => {
          staged = result;
        });
      await harness.settle(() => staged !== undefined, 1000);
      expect(staged).toMatchObject({ chunks: 1, failures: [] });
      expect(statusOf(harness).backup.backedUpThrough).toBe(head);
    }
    expect(uploads).toMatchObject({ chunk: 3, manifest: 3, merged: 0 });
    // A fourth small chunk, staged by a tick once its records waited the max delay, makes a merge
    // due: the next ticks run it at once, though nothing is pending and the max delay is 5 s.
    const head = writeS1(harness, 2);
    await harness.settle(() => statusOf(harness).backup.backedUpThrough === head, 5_000 + 200);
    expect(uploads).toMatchObject({ chunk: 4, merged: 0 });
    const stagedAtMs = harness.cluster.nowMs();
    await harness.settle(() => uploads.merged > 0, 500);
    expect(harness.cluster.nowMs() - stagedAtMs).toBeLessThan(3 * TICK_MS + 200);
    expect(statusOf(harness).backup.chunks).toBeLessThan(4);
  });
});
