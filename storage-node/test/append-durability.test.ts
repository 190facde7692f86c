/**
 * Proves the foreground write path: a batch is acknowledged only once its records are durable on the
 * disk (checked against the simulated disk's durable content at the moment the ack leaves); one fsync
 * covers many batches of many segments (group commit); a power loss never loses an acknowledged
 * record, checked in a simulated cluster where a writer process pumps batches while the storage node
 * crashes again and again (its background materialization and GC running), including the case of an
 * unsynced write a crashed process left in the page cache (node-log N7); torn tails left by a
 * crash in the middle of a write are cut, not reported as damage, and never hide an acknowledged
 * record; preallocated zeros are not records.
 *
 * The node log on its own, on the simulated disk with every write and sync recorded, under a stream of
 * appends that outruns its preallocation: a group is written only once the previous group's fsync
 * returned, and each append resolves only once its bytes are durable (N1, N3); a power loss mid-stream
 * leaves a clean prefix, never a hole that would pass for rot (N1, N2); entries are only ever written
 * into zeros already durable, and the zeros ahead are written in the background in small steps, at
 * most one per fsync (N5).
 */
import {
  asNodeId,
  asPgId,
  type Disk,
  type DiskFile,
  encodeRedoRecord,
  type Logger,
  type Lsn,
  type SegmentId,
} from '@northlight/protocol';
import { Incarnation, Prng, Scheduler, SimDisk, Trace } from '@northlight/sim';
import { describe, expect, it } from 'vitest';
import { LOG_FILE_HEADER_BYTES, scanLogFile } from '../src/core/log-format.js';
import {
  NodeLog,
  type NodeLogOptions,
  PREALLOCATE_STEP_BYTES_MAX,
  type ReplayedFile,
} from '../src/core/node-log.js';
import { noopStorageMetrics, type StorageMetrics, type StorageNodeOptions } from '../src/index.js';
import { CoreRig, lsn, pg, singleCoreCluster, TEST_OPTIONS } from './support/core-rig.js';
import { PageModel, run, TestWriter } from './support/history.js';
import { PumpWriter } from './support/pump-writer.js';

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

function durableLogBytes(rig: CoreRig): Uint8Array {
  const parts = rig.disk
    .durablePaths()
    .filter((path) => path.includes('/log/'))
    .map((path) => rig.disk.durableContentOf(path)!);
  return Buffer.concat(parts);
}

describe('append path', () => {
  it('acknowledges a batch only when its records are durable', async () => {
    const rig = new CoreRig(41);
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    for (let index = 0; index < 20; index++) {
      const record = writer.record(0, index % 3, [run(index, 100, index + 1)]);
      const batch = writer.batch(segment, [record]);
      const before = rig.sent.length;
      rig.deliver(batch);
      let durableAtAck: boolean | undefined;
      await rig.runUntil(() => {
        const acked = rig.sent.slice(before).some((sent) => sent.message.type === 'append-ack');
        if (acked && durableAtAck === undefined)
          durableAtAck = contains(durableLogBytes(rig), encodeRedoRecord(record));
        return acked;
      });
      expect(durableAtAck).toBe(true);
    }
  });

  it('covers many batches of many segments with one fsync (group commit)', async () => {
    let logSyncs = 0;
    const metrics: StorageMetrics = {
      ...noopStorageMetrics,
      fsync: (kind) => void (kind === 'log' && logSyncs++),
    };
    const rig = new CoreRig(42, {
      ...TEST_OPTIONS,
      logFileBytes: 1024 * 1024,
      logPreallocateBytes: 256 * 1024,
      metrics,
    });
    await rig.start();
    const segments = [await rig.createSegment(0), await rig.createSegment(1), await rig.createSegment(2)];
    const writer = new TestWriter();
    const batches = [];
    for (let round = 0; round < 10; round++) {
      for (const [index, segment] of segments.entries())
        batches.push(writer.batch(segment, [writer.record(index, index * 64, [run(round, 4, round + 1)])]));
    }
    const syncsBefore = logSyncs;
    const before = rig.sent.length;
    for (const batch of batches) rig.deliver(batch);
    await rig.runUntil(() => rig.sent.length - before === batches.length);
    expect(rig.sent.slice(before).every((sent) => sent.message.type === 'append-ack')).toBe(true);
    // The first batch starts a group of its own; the other 29, queued behind it, share the next fsync.
    expect(logSyncs - syncsBefore).toBeLessThanOrEqual(3);
    expect(rig.core.status().segments.map((segment) => segment.scl)).toEqual([28n, 29n, 30n]);
  });

  it('keeps every acknowledged record across repeated crashes under load (simulated cluster)', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) await powerLossCampaign(seed);
  });

  it('syncs what a crashed process left unsynced before acknowledging it as a duplicate (node-log N7)', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rig = new CoreRig(seed);
      await rig.start();
      const segment = await rig.createSegment(0);
      const writer = new TestWriter();
      const batch = writer.batch(
        segment,
        [1, 2, 3].map((page) => writer.record(0, page, [run(0, 64, page)])),
      );
      rig.deliver(batch);
      await rig.scheduler.runUntil(rig.scheduler.nowMs() + 0.15); // written, its fsync not done
      rig.processCrash(); // the page cache (with the unsynced write) survives
      await rig.start();
      expect(await rig.request({ ...batch, requestId: 2n })).toMatchObject({ type: 'append-ack', scl: 3n });
      rig.powerLoss();
      await rig.start();
      expect(rig.core.status().segments[0]).toMatchObject({ scl: 3n, recordsHeld: 3 });
    }
  });

  it('cuts torn tails: a crash in the middle of a write loses nothing acknowledged and reports no damage', async () => {
    let torn = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rig = new CoreRig(seed, {
        ...TEST_OPTIONS,
        logFileBytes: 64 * 1024,
        logPreallocateBytes: 16 * 1024,
      });
      await rig.start();
      const segment = await rig.createSegment(0);
      const writer = new TestWriter();
      const model = new PageModel(256);
      const first = [1, 2, 3].map((index) => writer.record(0, index, [run(0, 200, index)]));
      expect((await rig.request(writer.batch(segment, first)))?.type).toBe('append-ack');
      for (const record of first) model.add(record);
      // Seven records of ~260 bytes: the write spans sectors; the crash comes before or during its sync.
      const second = [1, 2, 3, 0, 1, 2, 3].map((page, index) =>
        writer.record(0, page, [run(index * 7, 200, 50 + index)]),
      );
      rig.deliver(writer.batch(segment, second, 3n));
      await rig.scheduler.runUntil(rig.scheduler.nowMs() + (seed % 10) * 0.15);
      rig.powerLoss();
      await rig.start();
      const status = rig.core.status();
      expect(status.damage.logRegionCount).toBe(0);
      expect(status.segments[0]!.scl >= 3n).toBe(true);
      // The writer re-sends what was not acknowledged; the log continues after the cut tail.
      expect((await rig.request({ ...writer.batch(segment, second, 3n) }))?.type).toBe('append-ack');
      for (const record of second) model.add(record);
      rig.powerLoss();
      await rig.start();
      expect(rig.core.status().segments[0]!.scl).toBe(10n);
      for (const page of [0, 1, 2, 3]) {
        const outcome = await rig.run(rig.core.readPage(pg(0), segment, page, lsn(10)));
        expect(outcome.ok && Buffer.from(outcome.page).equals(model.pageAt(page, 10n))).toBe(true);
      }
      torn += rig.disk.stats.writesTorn;
    }
    expect(torn).toBeGreaterThan(0);
  });

  it('does not take preallocated zeros for records', async () => {
    const rig = new CoreRig(43);
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    for (let index = 0; index < 5; index++)
      expect(
        (await rig.request(writer.batch(segment, [writer.record(0, 1, [run(index, 8, 1)])])))?.type,
      ).toBe('append-ack');
    const path = rig.disk.paths().find((candidate) => candidate.includes('/log/'))!;
    const bytes = rig.disk.durableContentOf(path)!;
    const scan = scanLogFile(bytes);
    // One extent of zeros is kept ahead of the write position, up to the file's size.
    expect(bytes.length).toBe(TEST_OPTIONS.logFileBytes);
    expect(scan.entries).toHaveLength(5);
    expect(scan.skipped).toEqual([]);
    expect(bytes.subarray(scan.validEnd).every((byte) => byte === 0)).toBe(true);
    expect(scan.validEnd).toBeGreaterThan(LOG_FILE_HEADER_BYTES);
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({ recordsHeld: 5, scl: 5n });
    expect(rig.core.status().damage.logRegionCount).toBe(0);
  });
});

const CLUSTER_OPTIONS: StorageNodeOptions = {
  ...TEST_OPTIONS,
  materializeIntervalMs: 2,
  logFileBytes: 16 * 1024,
};

/**
 * One seed: three segments on s1, a writer w1 pumping batches; s1 crashes six times (a power loss, or
 * every third time a process crash that keeps the page cache). After each restart every record
 * acknowledged before the crash is still held (each PG's SCL reaches at least its acknowledged
 * prefix); at the end every page reads as the model says.
 */
async function powerLossCampaign(seed: number): Promise<void> {
  const { cluster, storage } = singleCoreCluster(seed, CLUSTER_OPTIONS);
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    const tracked = promise.finally(() => {
      done = true;
    });
    await cluster.runUntil(() => done, { timeLimitMs: cluster.nowMs() + 10_000 });
    return tracked;
  };
  await cluster.runUntil(() => storage().state === 'serving', { timeLimitMs: 1000 });
  const targets: { pgId: number; segmentId: SegmentId }[] = [];
  for (const pgId of [0, 1, 2]) {
    const segmentId = `pg${pgId}-s1` as SegmentId;
    const created = await settle(
      storage().createSegment({
        pgId: asPgId(pgId),
        segmentId,
        membershipEpoch: 1n as never,
        members: [segmentId],
      }),
    );
    expect(created.ok).toBe(true);
    targets.push({ pgId, segmentId });
  }
  cluster.addNode({
    id: 'w1',
    zone: 'a',
    factory: (env) =>
      new PumpWriter(env, {
        storage: 's1' as never,
        targets,
        pageSizeBytes: CLUSTER_OPTIONS.pageSizeBytes!,
        pagesPerPg: CLUSTER_OPTIONS.pagesPerPg!,
        batchesInFlightMax: 6,
        recordsPerBatchMax: 4,
        resendAfterMs: 5,
        sendMinReadPoint: true,
      }),
  });
  const writer = () => cluster.instance<PumpWriter>('w1')!;
  for (let crash = 0; crash < 6; crash++) {
    await cluster.runFor(5 + cluster.random.nextInt(25));
    const acknowledged = new Map(writer().acknowledged);
    cluster.crash('s1', { kind: crash % 3 === 2 ? 'process' : 'power-loss' });
    cluster.start('s1');
    await cluster.runUntil(() => storage().state === 'serving', { timeLimitMs: cluster.nowMs() + 1000 });
    for (const target of targets) {
      const status = storage()
        .status()
        .segments.find((segment) => segment.pgId === target.pgId)!;
      expect(
        status.scl >= ackedPrefix(writer(), acknowledged, target.pgId),
        `seed ${seed} PG ${target.pgId}`,
      ).toBe(true);
    }
  }
  writer().stopWriting();
  await cluster.runUntil(() => writer().outstanding === 0, { timeLimitMs: cluster.nowMs() + 5000 });
  cluster.crash('s1', { kind: 'power-loss' });
  cluster.start('s1');
  await cluster.runUntil(() => storage().state === 'serving', { timeLimitMs: cluster.nowMs() + 1000 });
  for (const target of targets) {
    const status = storage()
      .status()
      .segments.find((segment) => segment.pgId === target.pgId)!;
    expect(status.scl).toBe(writer().writer.lastOf(target.pgId));
    for (let page = 0; page < 4; page++) {
      const pageNo = target.pgId * CLUSTER_OPTIONS.pagesPerPg! + page;
      const outcome = await settle(
        storage().readPage(asPgId(target.pgId), target.segmentId, pageNo, status.scl),
      );
      if (!outcome.ok) throw outcome.refusal.error;
      expect(Buffer.from(outcome.page).equals(writer().model.pageAt(pageNo, status.scl))).toBe(true);
    }
  }
  expect(cluster.failure).toBeUndefined();
  expect(cluster.errorLogs).toEqual([]);
}

/** The highest LSN of the PG's chain up to which every record was acknowledged before the crash. */
function ackedPrefix(writer: PumpWriter, acknowledged: ReadonlyMap<Lsn, unknown>, pgId: number): bigint {
  let prefix = 0n;
  for (const record of writer.recordsOf(pgId)) {
    if (!acknowledged.has(record.lsn)) break;
    prefix = record.lsn;
  }
  return prefix;
}

// ---- the node log on its own ----

const LOG_OPTIONS: NodeLogOptions = {
  directory: '/data/log',
  logFileBytes: 16 * 1024,
  logPreallocateBytes: 4096,
  appendQueueBytesMax: 1024 * 1024,
};

interface DiskEvent {
  readonly operation: 'write' | 'sync';
  readonly path: string;
  readonly offset: number;
  readonly length: number;
  /** Zeros: a preallocation step, or a new file's header and first zeros (at offset 0). */
  readonly zeros: boolean;
  /** When it was issued and when it completed, in the order of all recorded events. */
  readonly issued: number;
  completed: number | undefined;
}

const silent: Logger = { log: () => {} };

/** One NodeLog on a simulated disk, every write and sync of its files recorded. */
class LogRig {
  readonly scheduler = new Scheduler({ trace: new Trace() });
  readonly random: Prng;
  readonly disk: SimDisk;
  readonly events: DiskEvent[] = [];
  #eventCount = 0;
  #incarnation: Incarnation;
  log: NodeLog | undefined;

  constructor(
    seed: number,
    readonly options: NodeLogOptions = LOG_OPTIONS,
  ) {
    this.random = new Prng(seed);
    this.disk = new SimDisk(asNodeId('s1'), this.scheduler, this.random.fork('disk'));
    this.#incarnation = new Incarnation(asNodeId('s1'), 1, this.scheduler);
  }

  async run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => {
      settled = true;
    });
    await this.scheduler.runUntil(() => settled, { timeLimitMs: this.scheduler.nowMs() + 60_000 });
    if (!settled) throw new Error('the promise never settled');
    return tracked;
  }

  async runFor(milliseconds: number): Promise<void> {
    await this.scheduler.runUntil(this.scheduler.nowMs() + milliseconds);
  }

  /** Opens the log (scanning every file) and starts appending; returns the scans. */
  async open(): Promise<ReplayedFile[]> {
    const scans: ReplayedFile[] = [];
    const disk = this.#recorded(this.disk.view(this.#incarnation));
    const log = await this.run(
      NodeLog.open(disk, this.options, noopStorageMetrics, silent, (file) => void scans.push(file)),
    );
    await this.run(log.startAppending());
    this.log = log;
    return scans;
  }

  powerLoss(): void {
    this.#incarnation.kill();
    this.disk.powerLoss();
    this.#incarnation = new Incarnation(asNodeId('s1'), this.#incarnation.number + 1, this.scheduler);
    this.log = undefined;
  }

  /** Entry writes issued while a sync of the same file was in flight (N1 says none). */
  writesOverlappingASync(): number {
    const syncs = this.events.filter((event) => event.operation === 'sync');
    return this.events.filter(
      (write) =>
        write.operation === 'write' &&
        !write.zeros &&
        syncs.some(
          (sync) =>
            sync.path === write.path &&
            sync.issued < write.issued &&
            (sync.completed === undefined || sync.completed > write.issued),
        ),
    ).length;
  }

  /** When the bytes of `write` became durable: a sync of its file issued after it completed, completed. */
  durableAt(write: DiskEvent): number {
    let at = Number.POSITIVE_INFINITY;
    for (const sync of this.events)
      if (sync.operation === 'sync' && sync.path === write.path && sync.issued > write.completed!)
        at = Math.min(at, sync.completed ?? Number.POSITIVE_INFINITY);
    return at;
  }

  durableLogBytes(): Uint8Array {
    const paths = this.disk.durablePaths().filter((path) => path.startsWith(this.options.directory));
    return Buffer.concat(paths.map((path) => this.disk.durableContentOf(path)!));
  }

  #recorded(inner: Disk): Disk {
    const record = (operation: DiskEvent['operation'], path: string, offset: number, data?: Uint8Array) => {
      const event: DiskEvent = {
        operation,
        path,
        offset,
        length: data?.length ?? 0,
        zeros: data !== undefined && (data[0] === 0 || offset === 0),
        issued: this.#eventCount++,
        completed: undefined,
      };
      this.events.push(event);
      return () => {
        event.completed = this.#eventCount++;
      };
    };
    return {
      ...inner,
      list: (directory) => inner.list(directory),
      exists: (path) => inner.exists(path),
      remove: (path) => inner.remove(path),
      rename: (from, to) => inner.rename(from, to),
      syncDirectory: (directory) => inner.syncDirectory(directory),
      open: async (path): Promise<DiskFile> => {
        const file = await inner.open(path);
        return {
          path: file.path,
          size: () => file.size(),
          read: (offset, length) => file.read(offset, length),
          truncate: (size) => file.truncate(size),
          close: () => file.close(),
          write: (offset, data) => file.write(offset, data).then(record('write', path, offset, data)),
          sync: () => file.sync().then(record('sync', path, 0)),
        };
      },
    };
  }
}

/** N5: every entry write lands inside zeros (or a new file's first zeros) already durable when it is issued. */
function expectEntriesOnlyInDurableZeros(rig: LogRig): void {
  const writes = rig.events.filter((event) => event.operation === 'write');
  const zeros = writes.filter((event) => event.zeros);
  let checked = 0;
  for (const write of writes.filter((event) => !event.zeros)) {
    let durableZerosEnd = 0;
    for (const step of zeros)
      if (step.path === write.path && rig.durableAt(step) < write.issued)
        durableZerosEnd = Math.max(durableZerosEnd, step.offset + step.length);
    expect(write.offset + write.length).toBeLessThanOrEqual(durableZerosEnd);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}

/** A payload that says which append it is (its first four bytes), the rest random. */
function payloadOf(random: Prng, index: number): Uint8Array {
  const payload = new Uint8Array(40 + random.nextInt(400));
  random.fillBytes(payload);
  new DataView(payload.buffer, payload.byteOffset, payload.byteLength).setUint32(0, index, true);
  return payload;
}

/**
 * Appends `count` entries one at a time at random moments 0–0.1 ms apart, as batches arrive, without
 * waiting for them; `resolved` gets each payload as its append resolves.
 */
async function stream(
  rig: LogRig,
  count: number,
  resolved: (payload: Uint8Array) => void,
): Promise<Promise<unknown>[]> {
  const appends: Promise<unknown>[] = [];
  for (let index = 0; index < count; index++) {
    const payload = payloadOf(rig.random, index);
    appends.push(rig.log!.append([{ segmentNumber: 1, payload }]).then(() => resolved(payload)));
    await rig.runFor(rig.random.nextInt(100) / 1000);
  }
  return appends;
}

describe('node log on its own', () => {
  it('writes a group only once the previous sync returned, and resolves an append only once durable (N1, N3)', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rig = new LogRig(seed);
      await rig.open();
      let notDurable = 0;
      let resolvedCount = 0;
      const appends = await stream(rig, 300, (payload) => {
        resolvedCount++;
        if (!contains(rig.durableLogBytes(), payload)) notDurable++;
      });
      await rig.run(Promise.all(appends));
      expect(resolvedCount).toBe(300);
      expect(notDurable).toBe(0);
      expect(rig.writesOverlappingASync()).toBe(0);
      expectEntriesOnlyInDurableZeros(rig); // with one-page extents the appends outrun the steps
      await rig.run(rig.log!.close());
    }
  });

  it('leaves a clean prefix after a power loss mid-stream: no hole passes for rot (N1, N2)', async () => {
    let unsyncedAtCrash = 0;
    let writesCut = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rig = new LogRig(seed);
      await rig.open();
      const resolved: Uint8Array[] = [];
      await stream(rig, 20 + rig.random.nextInt(100), (payload) => void resolved.push(payload));
      const lastSyncIssued = Math.max(
        ...rig.events
          .filter((event) => event.operation === 'sync' && event.completed !== undefined)
          .map((event) => event.issued),
      );
      const unsynced = rig.events.filter(
        (event) => event.operation === 'write' && !event.zeros && event.issued > lastSyncIssued,
      );
      if (unsynced.length > 0) unsyncedAtCrash++;
      rig.powerLoss();
      const scans = await rig.open();
      for (const { scan } of scans) expect(scan.skipped, `seed ${seed}`).toEqual([]);
      const kept = new Set(
        scans.flatMap(({ scan }) => scan.entries.map((entry) => Buffer.from(entry.payload).toString('hex'))),
      );
      for (const payload of resolved)
        expect(kept.has(Buffer.from(payload).toString('hex')), `seed ${seed}`).toBe(true);
      writesCut += rig.disk.stats.writesTorn + rig.disk.stats.writesLost;
    }
    expect(unsyncedAtCrash).toBeGreaterThan(10);
    expect(writesCut).toBeGreaterThan(0);
  });

  it('writes entries only into durable zeros, kept an extent ahead in steps of at most one per sync (N5)', async () => {
    const options = { ...LOG_OPTIONS, logFileBytes: 2 * 1024 * 1024, logPreallocateBytes: 512 * 1024 };
    const rig = new LogRig(7, options);
    await rig.open();
    const appends = await stream(rig, 2500, () => {});
    await rig.run(Promise.all(appends));
    await rig.runFor(50); // the preallocation steps catch up while the log is idle
    const zeros = rig.events.filter((event) => event.operation === 'write' && event.zeros);
    expect(zeros.length).toBeGreaterThan(4);
    for (const step of zeros) expect(step.length).toBeLessThanOrEqual(PREALLOCATE_STEP_BYTES_MAX);
    expectEntriesOnlyInDurableZeros(rig);
    for (const [index, step] of zeros.entries()) {
      const next = zeros[index + 1];
      if (next !== undefined && next.offset > 0) expect(rig.durableAt(step)).toBeLessThan(next.issued);
    }
    const path = rig.disk.durablePaths().find((candidate) => candidate.startsWith(options.directory))!;
    const bytes = rig.disk.durableContentOf(path)!;
    const { validEnd } = scanLogFile(bytes);
    expect(validEnd).toBeGreaterThan(options.logPreallocateBytes);
    expect(bytes.length).toBeGreaterThanOrEqual(
      Math.min(validEnd + options.logPreallocateBytes, options.logFileBytes),
    );
    await rig.run(rig.log!.close());
  });
});
