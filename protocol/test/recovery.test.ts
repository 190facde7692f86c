/**
 * Proves volume recovery (paper §4.3) against a model of every history the old writer could leave:
 * records 1..N spread over PGs, each held by an arbitrary subset of its six segments, arbitrary stale
 * durable hints, and an arbitrary read quorum answering per PG. For all of them the plan:
 * - keeps every commit the old writer could have acknowledged (VDL ≥ the highest CPL whose prefix
 *   reached write quorums);
 * - never claims a record that no segment holds (every LSN ≤ VDL is held or was truncated);
 * - truncates past every LSN the old writer could have allocated (VDL + LAL);
 * - names each PG's last surviving record and lists the records to bring to a write quorum;
 * and it refuses to plan without a read quorum of every PG.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeLsn } from '../src/core/completeness.js';
import { isWriteQuorum, singleConfiguration } from '../src/core/quorum.js';
import { planRecovery, type SegmentStateReport, type TruncationRange } from '../src/core/recovery.js';
import { asEpoch, asLsn, asPgId } from '../src/core/types.js';

const members = ['a', 'b', 'c', 'd', 'e', 'f'];
const quorumSet = singleConfiguration(members);

interface ModelRecord {
  lsn: bigint;
  pg: number;
  cpl: boolean;
  backlink: bigint;
  holders: Set<string>;
}

const historyArbitrary = fc
  .record({
    pgCount: fc.integer({ min: 1, max: 3 }),
    records: fc.array(
      fc.record({
        pg: fc.nat(),
        cpl: fc.boolean(),
        holderMask: fc.integer({ min: 0, max: 63 }),
        durable: fc.boolean(),
      }),
      { minLength: 1, maxLength: 40 },
    ),
    hintPicks: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
    readMasks: fc.array(fc.integer({ min: 0, max: 63 }), { minLength: 3, maxLength: 3 }),
    extraLal: fc.integer({ min: 0, max: 50 }),
  })
  .map((input) => {
    const lastOfPg = new Map<number, bigint>();
    const records: ModelRecord[] = input.records.map((r, i) => {
      const pg = r.pg % input.pgCount;
      const lsn = BigInt(i + 1);
      const holders = new Set(members.filter((_, bit) => (r.holderMask & (1 << bit)) !== 0));
      // Bias towards durable records so that VDLs are interesting: add members until a write quorum.
      if (r.durable) for (const m of members) if (holders.size < 4) holders.add(m);
      const record = { lsn, pg, cpl: r.cpl, backlink: lastOfPg.get(pg) ?? 0n, holders };
      lastOfPg.set(pg, lsn);
      return record;
    });
    return { ...input, records };
  });

function ackedVdlOf(records: readonly ModelRecord[]): bigint {
  let vdl = 0n;
  for (const record of records) {
    if (!isWriteQuorum(quorumSet, record.holders)) break;
    if (record.cpl) vdl = record.lsn;
  }
  return vdl;
}

describe('planRecovery', () => {
  it('keeps every acknowledged commit and invents nothing, for any history and read quorum', () => {
    fc.assert(
      fc.property(historyArbitrary, (history) => {
        const { records, pgCount } = history;
        const ackedVdl = ackedVdlOf(records);
        // Every VDL the old writer ever held is a candidate hint; each member saw one of them.
        const vdlsSoFar = [0n, ...records.filter((r) => r.cpl && r.lsn <= ackedVdl).map((r) => r.lsn)];
        const lal = BigInt(records.length) - ackedVdl + 1n + BigInt(history.extraLal);
        const pgs = [];
        for (let pg = 0; pg < pgCount; pg++) {
          let readMask = history.readMasks[pg]! | 0;
          for (let bit = 0; bitCount(readMask) < 3; bit++) readMask |= 1 << bit;
          const reports: SegmentStateReport[] = members
            .filter((_, bit) => (readMask & (1 << bit)) !== 0)
            .map((member, index) => {
              const held = records.filter((r) => r.pg === pg && r.holders.has(member));
              const scl = completeLsn(
                asLsn(0n),
                held.map((r) => ({ lsn: asLsn(r.lsn), backlink: asLsn(r.backlink) })),
              );
              const hint = vdlsSoFar[history.hintPicks[index]! % vdlsSoFar.length]!;
              const floor = hint < scl ? hint : scl;
              return {
                member,
                scl,
                durableHint: asLsn(hint),
                truncations: [],
                tail: held
                  .filter((r) => r.lsn > floor)
                  .map((r) => ({ lsn: asLsn(r.lsn), backlink: asLsn(r.backlink), cpl: r.cpl })),
              };
            });
          pgs.push({ pgId: asPgId(pg), quorumSet, reports });
        }
        const result = planRecovery({ pgs, newEpoch: asEpoch(2n), lsnAllocationLimit: lal });
        if (!result.ok) throw result.error;
        const plan = result.value;
        expect(plan.vdl >= ackedVdl).toBe(true);
        expect(plan.vcl >= plan.vdl).toBe(true);
        for (const record of records) {
          if (record.lsn <= plan.vdl) expect(record.holders.size).toBeGreaterThan(0);
        }
        if (plan.vdl > 0n) expect(records[Number(plan.vdl) - 1]!.cpl).toBe(true);
        expect(plan.truncation.fromExclusive).toBe(plan.vdl);
        expect(plan.truncation.toInclusive >= ackedVdl + lal).toBe(true);
        expect(plan.nextLsn).toBe(plan.truncation.toInclusive + 1n);
        const hint = pgs
          .flatMap((pg) => pg.reports)
          .reduce((max, r) => (r.durableHint > max ? r.durableHint : max), 0n);
        for (let pg = 0; pg < pgCount; pg++) {
          const surviving = records.filter((r) => r.pg === pg && r.lsn <= plan.vdl);
          expect(plan.pgHeads.get(asPgId(pg))).toBe(surviving.at(-1)?.lsn ?? 0n);
          expect(plan.rereplicate.get(asPgId(pg))).toEqual(
            surviving.filter((r) => r.lsn > hint).map((r) => r.lsn),
          );
        }
      }),
      { numRuns: 600 },
    );
  });

  it('fails with NL_QUORUM_LOST when a PG has fewer than three segment states', () => {
    const report = (member: string): SegmentStateReport => ({
      member,
      scl: asLsn(0n),
      durableHint: asLsn(0n),
      truncations: [],
      tail: [],
    });
    const result = planRecovery({
      pgs: [{ pgId: asPgId(0), quorumSet, reports: [report('a'), report('b')] }],
      newEpoch: asEpoch(2n),
      lsnAllocationLimit: 100n,
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('NL_QUORUM_LOST');
  });

  it('steps over an earlier truncation range and ignores records annulled by it', () => {
    // Epoch 2 kept 1..3, annulled (3, 20]; the writer of epoch 2 wrote 21 and 22 (CPL) and crashed.
    const earlier: TruncationRange = {
      volumeEpoch: asEpoch(2n),
      fromExclusive: asLsn(3n),
      toInclusive: asLsn(20n),
    };
    const report = (member: string, withRange: boolean): SegmentStateReport => ({
      member,
      scl: asLsn(22n),
      durableHint: asLsn(3n),
      truncations: withRange ? [earlier] : [],
      tail: [
        { lsn: asLsn(5n), backlink: asLsn(3n), cpl: true }, // an annulled record of epoch 1 not yet dropped
        { lsn: asLsn(21n), backlink: asLsn(3n), cpl: false },
        { lsn: asLsn(22n), backlink: asLsn(21n), cpl: true },
      ],
    });
    const result = planRecovery({
      pgs: [
        { pgId: asPgId(0), quorumSet, reports: [report('a', true), report('b', false), report('c', false)] },
      ],
      newEpoch: asEpoch(3n),
      lsnAllocationLimit: 10n,
    });
    if (!result.ok) throw result.error;
    expect(result.value.vdl).toBe(22n);
    expect(result.value.truncation).toEqual({ volumeEpoch: 3n, fromExclusive: 22n, toInclusive: 32n });
    expect(result.value.pgHeads.get(asPgId(0))).toBe(22n);
    expect(result.value.rereplicate.get(asPgId(0))).toEqual([21n, 22n]);
  });
});

function bitCount(mask: number): number {
  let count = 0;
  for (let m = mask; m !== 0; m >>= 1) count += m & 1;
  return count;
}
