/**
 * Proves page materialization, reads at a read point, GC and replay against a reference model. Random
 * histories (fast-check) of page diffs on a few pages of two PGs are appended to two segments of one
 * node, interleaved with random materialization steps, PGMRPL advances (which let GC drop coalesced
 * records and superseded images, and delete dead log files), restarts after a process crash or a power
 * loss, and crashes in the middle of an append (the writer then re-sends the unacknowledged batch).
 * Throughout, and at the end: every acknowledged record survives (the SCL is the PG's last LSN), and
 * `readPage` at any read point in [max(PGMRPL, materializedThrough), SCL] equals the model's page (the
 * fold of applyRuns from zeros over the page's records up to that point); just outside that range the
 * read is refused with the typed reason.
 */
import { asLsn, type Lsn, type RedoRecord, type SegmentId } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoreRig, pg, TEST_OPTIONS } from './support/core-rig.js';
import { PageModel, run, TestWriter } from './support/history.js';

const PAGE_SIZE = TEST_OPTIONS.pageSizeBytes!;
const PAGES_PER_PG = TEST_OPTIONS.pagesPerPg!;
const PGS = [0, 1];
const PAGES_USED_PER_PG = 4;

const diff = fc.record({
  page: fc.option(fc.nat({ max: PAGES_USED_PER_PG - 1 }), { nil: undefined, freq: 8 }),
  offset: fc.nat({ max: PAGE_SIZE - 1 }),
  length: fc.integer({ min: 1, max: 48 }),
  value: fc.integer({ min: 1, max: 255 }),
});

/** A position in a range, 0 to 1 in steps of 1/100 (fc.double would mostly give tiny values). */
const fraction = fc.integer({ min: 0, max: 100 }).map((value) => value / 100);

const command = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      pg: fc.constantFrom(...PGS),
      diffs: fc.array(diff, { minLength: 1, maxLength: 4 }),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('append-crash' as const),
      pg: fc.constantFrom(...PGS),
      diffs: fc.array(diff, { minLength: 1, maxLength: 4 }),
      crashAfterUs: fc.nat({ max: 2500 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('materialize' as const),
      steps: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('min-read-point' as const),
      pg: fc.constantFrom(...PGS),
      fraction: fraction,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('restart' as const), powerLoss: fc.boolean() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      pg: fc.constantFrom(...PGS),
      page: fc.nat({ max: PAGES_USED_PER_PG - 1 }),
      fraction: fraction,
    }),
    weight: 3,
  },
);

type Command = typeof command extends fc.Arbitrary<infer T> ? T : never;
type Diff = typeof diff extends fc.Arbitrary<infer T> ? T : never;

class Scenario {
  readonly rig: CoreRig;
  readonly writer = new TestWriter();
  readonly model = new PageModel(PAGE_SIZE);
  readonly segments: SegmentId[] = [];
  /** The writer's VDL: every record acknowledged so far (each batch is awaited). */
  vdl = 0n;
  readonly minReadPoint = new Map<number, bigint>();

  constructor(seed: number) {
    this.rig = new CoreRig(seed);
  }

  async setUp(): Promise<void> {
    await this.rig.start();
    for (const id of PGS) this.segments.push(await this.rig.createSegment(id));
  }

  records(pgId: number, diffs: readonly Diff[]): RedoRecord[] {
    return diffs.map((d) => {
      if (d.page === undefined) return this.writer.record(pgId, undefined);
      const length = Math.min(d.length, PAGE_SIZE - d.offset);
      return this.writer.record(pgId, pgId * PAGES_PER_PG + d.page, [run(d.offset, length, d.value)]);
    });
  }

  async append(pgId: number, records: RedoRecord[], crashAfterUs?: number): Promise<void> {
    const batch = this.writer.batch(this.segments[pgId]!, records, this.vdl);
    if (crashAfterUs !== undefined) {
      this.rig.deliver(batch);
      await this.rig.scheduler.runUntil(this.rig.scheduler.nowMs() + crashAfterUs / 1000);
      this.rig.powerLoss();
      await this.rig.start();
    }
    // The writer re-sends until acknowledged (duplicates are recognised and not rewritten).
    const reply = await this.rig.request({ ...batch, requestId: this.writer.nextRequestId() });
    expect(reply?.type).toBe('append-ack');
    for (const record of records) this.model.add(record);
    this.vdl = records.at(-1)!.lsn;
  }

  status(pgId: number) {
    return this.rig.core.status().segments.find((segment) => segment.pgId === pgId)!;
  }

  async read(pgId: number, page: number, readPoint: bigint) {
    return this.rig.run(
      this.rig.core.readPage(pg(pgId), this.segments[pgId]!, pgId * PAGES_PER_PG + page, asLsn(readPoint)),
    );
  }

  /** Reads at `fraction` of [floor, SCL] and compares with the model; probes the refusals just outside. */
  async checkRead(pgId: number, page: number, fraction: number): Promise<void> {
    const status = this.status(pgId);
    const floor =
      status.minReadPoint > status.materializedThrough ? status.minReadPoint : status.materializedThrough;
    expect(status.scl).toBe(this.writer.lastOf(pgId));
    if (floor > status.scl) return; // PGMRPL ahead of this segment: nothing servable
    const readPoint = floor + BigInt(Math.floor(Number(status.scl - floor) * fraction));
    const outcome = await this.read(pgId, page, readPoint);
    if (!outcome.ok) throw outcome.refusal.error;
    expect(Buffer.from(outcome.page).toString('hex')).toBe(
      Buffer.from(this.model.pageAt(pgId * PAGES_PER_PG + page, readPoint)).toString('hex'),
    );
    const above = await this.read(pgId, page, status.scl + 1n);
    expect(above.ok ? 'served' : above.refusal.reason).toBe('above-scl');
    if (floor > 0n) {
      const below = await this.read(pgId, page, floor - 1n);
      expect(below.ok ? 'served' : below.refusal.reason).toBe('below-min-read-point');
    }
  }

  async execute(step: Command): Promise<void> {
    switch (step.kind) {
      case 'append':
        return this.append(step.pg, this.records(step.pg, step.diffs));
      case 'append-crash':
        return this.append(step.pg, this.records(step.pg, step.diffs), step.crashAfterUs);
      case 'materialize':
        for (let index = 0; index < step.steps; index++) await this.rig.run(this.rig.core.materializeStep());
        return;
      case 'min-read-point': {
        const current = this.minReadPoint.get(step.pg) ?? 0n;
        const target = current + BigInt(Math.floor(Number(this.vdl - current) * step.fraction));
        this.minReadPoint.set(step.pg, target);
        this.rig.deliver({
          type: 'min-read-point',
          pgId: pg(step.pg),
          segmentId: this.segments[step.pg]!,
          volumeEpoch: this.writer.volumeEpoch,
          minReadPoint: asLsn(target) as Lsn,
        });
        await this.rig.runFor(1);
        return;
      }
      case 'restart':
        if (step.powerLoss) this.rig.powerLoss();
        else this.rig.processCrash();
        await this.rig.start();
        for (const id of PGS) expect(this.status(id).scl).toBe(this.writer.lastOf(id)); // nothing acknowledged lost
        return;
      case 'read':
        return this.checkRead(step.pg, step.page, step.fraction);
    }
  }

  async materializeAll(): Promise<void> {
    for (let guard = 0; guard < 1000; guard++) {
      const result = await this.rig.run(this.rig.core.materializeStep());
      if (result.recordsCoalesced === 0 && result.recordsCollected === 0) return;
    }
    throw new Error('materialization never finished');
  }

  async checkAllPages(): Promise<void> {
    for (const id of PGS) {
      const status = this.status(id);
      expect(status.gcThrough).toBe(status.materializedThrough);
      expect(status.materializedThrough <= status.minReadPoint).toBe(true);
      for (let page = 0; page < PAGES_USED_PER_PG; page++) {
        for (const fraction of [0, 0.5, 1]) await this.checkRead(id, page, fraction);
      }
    }
  }

  /**
   * Final: check, then let the writer's VDL cover everything (a NOOP batch carrying it), move PGMRPL
   * half-way and then all the way to it, coalescing and collecting everything each allows, checking
   * every page each time and once more after a power loss.
   */
  async finish(): Promise<void> {
    await this.materializeAll();
    await this.checkAllPages();
    for (const id of PGS) await this.append(id, [this.writer.record(id, undefined)]);
    for (const id of PGS) await this.append(id, [this.writer.record(id, undefined)]);
    for (const fraction of [0.5, 1]) {
      for (const id of PGS) await this.execute({ kind: 'min-read-point', pg: id, fraction });
      await this.materializeAll();
      await this.checkAllPages();
    }
    // Only each PG's last record lies above the durable hint it was sent with; everything else is
    // coalesced and collected, and every log file left holds a live record or is being appended to.
    for (const id of PGS) expect(this.status(id).recordsHeld).toBe(1);
    expect(this.rig.core.status().log.files).toBeLessThanOrEqual(3);
    this.rig.powerLoss();
    await this.rig.start();
    await this.checkAllPages();
    expect(this.rig.errorLogs()).toEqual([]);
  }
}

describe('pages against the reference model', () => {
  it('readPage equals the model at every read point in [PGMRPL, SCL], across materialization, GC and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(command, { minLength: 5, maxLength: 40 }),
        async (seed, commands) => {
          const scenario = new Scenario(seed);
          await scenario.setUp();
          for (const step of commands) await scenario.execute(step);
          await scenario.finish();
        },
      ),
      { numRuns: 150 },
    );
  });
});
