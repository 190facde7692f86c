/**
 * Proves the completeness points against brute-force models, with fast-check:
 * - SegmentCompleteness: whatever the arrival order and duplication of a PG's records, the SCL is
 *   the end of the longest chain prefix received, and known gaps are exactly the missing links
 *   named by received records;
 * - DurabilityTracker: with acknowledgements in any order, duplicated or partial, VCL is the longest
 *   dense prefix of quorum-acknowledged LSNs, VDL the highest CPL within it, and VDL never goes back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeLsn, DurabilityTracker, SegmentCompleteness } from '../src/core/completeness.js';
import { isWriteQuorum, singleConfiguration } from '../src/core/quorum.js';
import { asLsn, asPgId, type Lsn, type PgId } from '../src/core/types.js';

/** A PG chain: sorted distinct LSNs, each record's backlink is the previous one (0 for the first). */
const chainArbitrary = fc
  .uniqueArray(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 60 })
  .map((lsns) => lsns.sort((a, b) => a - b))
  .map((lsns) =>
    lsns.map((lsn, i) => ({ lsn: asLsn(BigInt(lsn)), backlink: asLsn(BigInt(i === 0 ? 0 : lsns[i - 1]!)) })),
  );

describe('SegmentCompleteness', () => {
  it('advances the SCL to the end of the received chain prefix, in any order', () => {
    fc.assert(
      fc.property(
        chainArbitrary,
        fc.func(fc.boolean()),
        fc.integer({ min: 0, max: 1000 }),
        (chain, keep, shuffleSeed) => {
          const received = chain.filter((_, i) => keep(i));
          const order = [...received, ...received.filter((_, i) => i % 3 === 0)]; // some duplicates
          order.sort((a, b) =>
            Number(
              ((a.lsn * 7919n + BigInt(shuffleSeed)) % 101n) - ((b.lsn * 7919n + BigInt(shuffleSeed)) % 101n),
            ),
          );
          const completeness = new SegmentCompleteness(asLsn(0n));
          for (const link of order) completeness.add(link);
          let expected = 0n;
          for (const link of chain) {
            if (!received.includes(link)) break;
            expected = link.lsn;
          }
          expect(completeness.scl).toBe(expected);
          expect(completeLsn(asLsn(0n), order)).toBe(expected);
          const receivedLsns = new Set(received.map((link) => link.lsn));
          const expectedGaps = received
            .map((link) => link.backlink)
            .filter((backlink) => backlink > expected && !receivedLsns.has(backlink));
          expect(completeness.knownGaps()).toEqual(
            [...new Set(expectedGaps)].sort((a, b) => (a < b ? -1 : 1)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('treats records at or below the SCL as duplicates', () => {
    const completeness = new SegmentCompleteness(asLsn(10n));
    expect(completeness.add({ lsn: asLsn(5n), backlink: asLsn(2n) })).toBe(false);
    expect(completeness.add({ lsn: asLsn(12n), backlink: asLsn(10n) })).toBe(true);
    expect(completeness.add({ lsn: asLsn(12n), backlink: asLsn(10n) })).toBe(false);
    expect(completeness.scl).toBe(12n);
  });

  it('applies back-pressure instead of growing without bound', () => {
    const completeness = new SegmentCompleteness(asLsn(0n), 2);
    completeness.add({ lsn: asLsn(5n), backlink: asLsn(4n) });
    completeness.add({ lsn: asLsn(7n), backlink: asLsn(6n) });
    expect(() => completeness.add({ lsn: asLsn(9n), backlink: asLsn(8n) })).toThrow(
      /NL_LSN_ALLOCATION_LIMIT/,
    );
  });
});

describe('DurabilityTracker', () => {
  const members = ['a', 'b', 'c', 'd', 'e', 'f'];
  const quorumSet = singleConfiguration(members);

  it('computes VCL and VDL like a brute-force model, and VDL never goes back', () => {
    const recordArbitrary = fc.record({ pg: fc.integer({ min: 0, max: 2 }), cpl: fc.boolean() });
    const ackArbitrary = fc.record({
      index: fc.nat(),
      member: fc.constantFrom(...members),
      cumulative: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(recordArbitrary, { minLength: 1, maxLength: 40 }),
        fc.array(ackArbitrary, { maxLength: 250 }),
        (records, acks) => {
          const tracker = new DurabilityTracker(asLsn(0n), () => quorumSet);
          for (const [i, record] of records.entries()) {
            tracker.register(asLsn(BigInt(i + 1)), asPgId(record.pg), record.cpl);
          }
          const ackedBy = records.map(() => new Set<string>());
          let previousVdl = 0n;
          for (const ack of acks) {
            const index = ack.index % records.length;
            const lsn = asLsn(BigInt(index + 1));
            if (ack.cumulative) {
              const pg = records[index]!.pg;
              tracker.acknowledgeThrough(asPgId(pg), ack.member, lsn);
              records.forEach((record, i) => {
                if (record.pg === pg && i <= index) ackedBy[i]!.add(ack.member);
              });
            } else {
              tracker.acknowledge(lsn, ack.member);
              ackedBy[index]!.add(ack.member);
            }
            expect(tracker.vdl >= previousVdl).toBe(true);
            previousVdl = tracker.vdl;
          }
          let vcl = 0n;
          let vdl = 0n;
          for (let i = 0; i < records.length; i++) {
            if (!isWriteQuorum(quorumSet, ackedBy[i]!)) break;
            vcl = BigInt(i + 1);
            if (records[i]!.cpl) vdl = vcl;
          }
          // A record that reached quorum while below VCL leaves the tracker; the model keeps counting,
          // so compare only the points.
          expect(tracker.vcl).toBe(vcl);
          expect(tracker.vdl).toBe(vdl);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('agrees with the model when records are registered between acknowledgements', () => {
    const stepArbitrary = fc.oneof(
      fc.record({
        kind: fc.constant('register' as const),
        pg: fc.integer({ min: 0, max: 2 }),
        cpl: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('ack' as const),
        index: fc.nat(),
        member: fc.constantFrom(...members),
        cumulative: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(fc.array(stepArbitrary, { maxLength: 300 }), (steps) => {
        const tracker = new DurabilityTracker(asLsn(0n), () => quorumSet);
        const records: { pg: number; cpl: boolean; ackedBy: Set<string> }[] = [];
        for (const step of steps) {
          if (step.kind === 'register') {
            records.push({ pg: step.pg, cpl: step.cpl, ackedBy: new Set() });
            tracker.register(asLsn(BigInt(records.length)), asPgId(step.pg), step.cpl);
            continue;
          }
          if (records.length === 0) continue;
          const index = step.index % records.length;
          if (step.cumulative) {
            const pg = records[index]!.pg;
            tracker.acknowledgeThrough(asPgId(pg), step.member, asLsn(BigInt(index + 1)));
            records.forEach((record, i) => {
              if (record.pg === pg && i <= index) record.ackedBy.add(step.member);
            });
          } else {
            tracker.acknowledge(asLsn(BigInt(index + 1)), step.member);
            records[index]!.ackedBy.add(step.member);
          }
          let vcl = 0n;
          let vdl = 0n;
          for (const [i, record] of records.entries()) {
            if (!isWriteQuorum(quorumSet, record.ackedBy)) break;
            vcl = BigInt(i + 1);
            if (record.cpl) vdl = vcl;
          }
          expect([tracker.vcl, tracker.vdl]).toEqual([vcl, vdl]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('holds the VCL at a gap however many later records are durable', () => {
    const tracker = new DurabilityTracker(asLsn(0n), () => quorumSet);
    for (let i = 1n; i <= 5n; i++) tracker.register(asLsn(i), asPgId(0), true);
    for (const lsn of [2n, 3n, 4n, 5n])
      for (const member of ['a', 'b', 'c', 'd']) tracker.acknowledge(asLsn(lsn), member);
    expect(tracker.vdl).toBe(0n);
    for (const member of ['c', 'd', 'e']) tracker.acknowledge(asLsn(1n), member);
    expect(tracker.vdl).toBe(0n); // three acknowledgements are not a write quorum
    expect(tracker.acknowledge(asLsn(1n), 'f')).toBe(true);
    expect(tracker.vdl).toBe(5n);
  });

  it('waits for every copy when asked to (writeQuorum 6, the benchmark mirror mode)', () => {
    const tracker = new DurabilityTracker(asLsn(0n), () => quorumSet, 6);
    tracker.register(asLsn(1n), asPgId(0), true);
    for (const member of ['a', 'b', 'c', 'd', 'e']) tracker.acknowledge(asLsn(1n), member);
    expect(tracker.vdl).toBe(0n); // five of six is a quorum, not every copy
    expect(tracker.acknowledge(asLsn(1n), 'f')).toBe(true);
    expect(tracker.vdl).toBe(1n);
    expect(() => new DurabilityTracker(asLsn(0n), () => quorumSet, 3)).toThrow(/write quorum is 4 … 6/);
  });

  it('insists on dense LSNs', () => {
    const tracker = new DurabilityTracker(asLsn(0n), () => quorumSet);
    expect(() => tracker.register(asLsn(2n), asPgId(0) as PgId, true)).toThrow(/dense/);
  });

  it('re-judges pending records when a PG changes membership', () => {
    let current = quorumSet;
    const tracker = new DurabilityTracker(asLsn(0n), () => current);
    tracker.register(asLsn(1n) as Lsn, asPgId(0), true);
    for (const member of ['a', 'b', 'c', 'd']) tracker.acknowledge(asLsn(1n), member);
    expect(tracker.vdl).toBe(1n);
    tracker.register(asLsn(2n), asPgId(0), true);
    current = { configurations: [members, ['a', 'b', 'c', 'g', 'e', 'f']], hydrating: ['g'] };
    for (const member of ['a', 'b', 'c', 'd']) tracker.acknowledge(asLsn(2n), member);
    expect(tracker.vdl).toBe(1n); // only 3 of the new configuration
    tracker.acknowledge(asLsn(2n), 'g');
    expect(tracker.vdl).toBe(2n);
  });

  it('forgets what a member that left acknowledged, so a segment of the same id starts from nothing', () => {
    let current = { configurations: [members, ['a', 'b', 'c', 'g', 'e', 'f']], hydrating: ['g'] };
    const tracker = new DurabilityTracker(asLsn(0n), () => current);
    tracker.register(asLsn(1n), asPgId(0), true);
    tracker.register(asLsn(2n), asPgId(0), true);
    for (const member of ['a', 'b', 'g']) tracker.acknowledgeThrough(asPgId(0), member, asLsn(2n));
    expect(tracker.vdl).toBe(0n);
    current = { configurations: [members], hydrating: [] }; // reverted: g left
    tracker.forgetMember(asPgId(0), 'g');
    tracker.reevaluate(asPgId(0));
    current = { configurations: [members, ['a', 'b', 'c', 'g', 'e', 'f']], hydrating: ['g'] }; // g again
    for (const member of ['c', 'd']) tracker.acknowledge(asLsn(1n), member);
    expect(tracker.vdl).toBe(0n); // a, b, c, d: 4 of the old configuration, 3 of the new without g's old word
    // Its SCL is applied from scratch: an SCL it reported before leaving no longer counts either.
    tracker.acknowledgeThrough(asPgId(0), 'g', asLsn(1n));
    expect(tracker.vdl).toBe(1n);
  });
});
