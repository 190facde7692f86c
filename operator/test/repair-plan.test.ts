/**
 * Repair planning (src/core/repair-plan.ts): when a repair begins (only past the grace period), where
 * the new segment goes (same zone, a node without a member of the PG, the least loaded), when it
 * completes (the joiner's SCL reaches the PG's head at the begin) or is reverted (the old node answers
 * first), and the limits (one per PG, per target node, per fleet). A property checks that every
 * quorum set the plan produces keeps two members per zone per configuration.
 */
import { allMembers, isWriteQuorum, singleConfiguration } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type NodeHealth,
  type PgMembership,
  planRepairs,
  type RepairInFlight,
  type RepairLimits,
} from '../src/core/repair-plan.js';

const limits: RepairLimits = { gracePeriodMs: 30_000, maxPerNode: 1, maxTotal: 4 };

function fleet(perZone: number, down: Record<string, number> = {}): NodeHealth[] {
  return ['a', 'b', 'c'].flatMap((zone) =>
    Array.from({ length: perZone }, (_, index) => {
      const nodeId = `${zone}${index + 1}`;
      const unreachableForMs = down[nodeId];
      return {
        nodeId,
        zone,
        reachable: unreachableForMs === undefined,
        unreachableForMs: unreachableForMs ?? 0,
        schedulable: unreachableForMs === undefined,
      };
    }),
  );
}

/** PG p on nodes a1 a2 b1 b2 c1 c2 (or the given ones), segments pg<p>-<node>. */
function pg(pgId: number, nodes = ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'], epoch = 1n): PgMembership {
  const members = nodes.map((node) => `pg${pgId}-${node}`);
  return {
    pgId,
    membershipEpoch: epoch,
    quorumSet: singleConfiguration(members),
    nodeOf: Object.fromEntries(members.map((member, index) => [member, nodes[index]!])),
  };
}

const plan = (input: Partial<Parameters<typeof planRepairs>[0]>) =>
  planRepairs({
    nodes: fleet(3),
    pgs: [pg(0)],
    inFlight: [],
    sclOf: new Map(),
    headOf: new Map([
      [0, 500n],
      [1, 500n],
    ]),
    limits,
    ...input,
  });

describe('planRepairs', () => {
  it('does nothing while every node answers, or before the grace period', () => {
    expect(plan({})).toEqual([]);
    expect(plan({ nodes: fleet(3, { a1: 29_999 }) })).toEqual([]);
  });

  it('begins a replacement on the spare node of the same zone, at the next membership epoch', () => {
    const [action] = plan({ nodes: fleet(3, { a1: 30_000 }) });
    expect(action?.kind).toBe('begin');
    if (action?.kind !== 'begin') return;
    expect(action.repair).toMatchObject({
      pgId: 0,
      leavingSegment: 'pg0-a1',
      leavingNode: 'a1',
      joiningNode: 'a3',
      joiningSegment: 'pg0-a3-m2',
      targetLsn: 500n,
    });
    expect(action.change.membershipEpoch).toBe(2n);
    expect(action.change.quorumSet.configurations).toHaveLength(2);
    expect(action.change.quorumSet.hydrating).toEqual(['pg0-a3-m2']);
    expect(action.change.nodeOf['pg0-a3-m2']).toBe('a3');
    // The five survivors are a write quorum of both configurations: writes never stop.
    const survivors = new Set(
      allMembers(action.change.quorumSet).filter((member) => member !== 'pg0-a1' && member !== 'pg0-a3-m2'),
    );
    expect(isWriteQuorum(action.change.quorumSet, survivors)).toBe(true);
  });

  it('is blocked, with what to do, when the zone has no node without a member of the PG', () => {
    expect(plan({ nodes: fleet(2, { a1: 60_000 }) })).toEqual([
      { kind: 'blocked', pgId: 0, reason: expect.stringContaining('add a node to zone a') },
    ]);
  });

  it('never picks an unschedulable node, and prefers the node with the fewest segments', () => {
    const nodes = fleet(4, { a1: 60_000 }).map((node) =>
      node.nodeId === 'a3' ? { ...node, schedulable: false } : node,
    );
    const [action] = plan({ nodes });
    expect(action).toMatchObject({ kind: 'begin', repair: { joiningNode: 'a4' } });
    const loaded = plan({
      nodes: fleet(4, { a1: 60_000 }),
      pgs: [pg(0), pg(1, ['a3', 'a2', 'b1', 'b2', 'c1', 'c2'])],
    });
    expect(loaded[0]).toMatchObject({ kind: 'begin', repair: { pgId: 0, joiningNode: 'a4' } });
  });

  const inFlight: RepairInFlight = {
    id: 'repair-pg0-m2',
    pgId: 0,
    leavingSegment: 'pg0-a1',
    leavingNode: 'a1',
    joiningSegment: 'pg0-a3-m2',
    joiningNode: 'a3',
    targetLsn: 500n,
  };
  const changing = (() => {
    const begun = plan({ nodes: fleet(3, { a1: 60_000 }) })[0];
    if (begun?.kind !== 'begin') throw new Error('expected a begin');
    return begun.change;
  })();

  it('waits while the joiner hydrates, then completes at the next epoch without the old member', () => {
    const nodes = fleet(3, { a1: 90_000 });
    expect(
      plan({ nodes, pgs: [changing], inFlight: [inFlight], sclOf: new Map([['pg0-a3-m2', 499n]]) }),
    ).toEqual([]);
    const [done] = plan({
      nodes,
      pgs: [changing],
      inFlight: [inFlight],
      sclOf: new Map([['pg0-a3-m2', 500n]]),
    });
    expect(done?.kind).toBe('complete');
    if (done?.kind !== 'complete') return;
    expect(done.change.membershipEpoch).toBe(3n);
    expect(done.change.quorumSet.configurations).toEqual([
      ['pg0-a3-m2', 'pg0-a2', 'pg0-b1', 'pg0-b2', 'pg0-c1', 'pg0-c2'],
    ]);
    expect(done.change.quorumSet.hydrating).toEqual([]);
    expect(Object.keys(done.change.nodeOf).sort()).not.toContain('pg0-a1');
  });

  it('reverts when the old node answers before the joiner is hydrated', () => {
    const [reverted] = plan({
      nodes: fleet(3),
      pgs: [changing],
      inFlight: [inFlight],
      sclOf: new Map([['pg0-a3-m2', 10n]]),
    });
    expect(reverted?.kind).toBe('revert');
    if (reverted?.kind !== 'revert') return;
    expect(reverted.change.membershipEpoch).toBe(3n);
    expect(allMembers(reverted.change.quorumSet)).toContain('pg0-a1');
    expect(allMembers(reverted.change.quorumSet)).not.toContain('pg0-a3-m2');
  });

  it('completes rather than reverts when the joiner is already hydrated as the old node returns', () => {
    const [action] = plan({
      nodes: fleet(3),
      pgs: [changing],
      inFlight: [inFlight],
      sclOf: new Map([['pg0-a3-m2', 900n]]),
    });
    expect(action?.kind).toBe('complete');
  });

  it('runs one repair per PG, and respects the per-node and fleet limits', () => {
    const nodes = fleet(3, { a1: 60_000, b1: 60_000 });
    // PG 0 already repairs a1: its b1 member waits.
    expect(plan({ nodes, pgs: [changing], inFlight: [inFlight] })).toEqual([]);
    // Two PGs lose a member on a1; a3 takes one (maxPerNode 1), the other is blocked.
    const two = plan({ nodes: fleet(3, { a1: 60_000 }), pgs: [pg(0), pg(1)] });
    expect(two.map((action) => action.kind)).toEqual(['begin', 'blocked']);
    const wide = plan({
      nodes: fleet(3, { a1: 60_000 }),
      pgs: [pg(0), pg(1)],
      limits: { ...limits, maxPerNode: 2, maxTotal: 1 },
    });
    expect(wide.map((action) => action.kind)).toEqual(['begin', 'blocked']);
    expect(wide[1]).toMatchObject({ reason: expect.stringContaining('maxConcurrentRepairs') });
  });

  it('keeps two members per zone in every configuration of every change it plans', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 6 }),
        fc.constantFrom('a', 'b', 'c'),
        fc.integer({ min: 1, max: 8 }),
        (perZone, zone, pgCount) => {
          const nodes = fleet(perZone, { [`${zone}1`]: 60_000 });
          const pgs = Array.from({ length: pgCount }, (_, index) => pg(index));
          const actions = planRepairs({
            nodes,
            pgs,
            inFlight: [],
            sclOf: new Map(),
            headOf: new Map(),
            limits: { ...limits, maxPerNode: 8, maxTotal: 8 },
          });
          const zoneOf = new Map(nodes.map((node) => [node.nodeId, node.zone]));
          for (const action of actions) {
            if (action.kind !== 'begin') continue;
            expect(action.repair.joiningNode.startsWith(zone)).toBe(true);
            for (const configuration of action.change.quorumSet.configurations) {
              const zones = configuration.map((member) => zoneOf.get(action.change.nodeOf[member]!)!);
              for (const name of ['a', 'b', 'c'])
                expect(zones.filter((candidate) => candidate === name)).toHaveLength(2);
              expect(new Set(configuration.map((member) => action.change.nodeOf[member])).size).toBe(6);
            }
          }
        },
      ),
    );
  });
});
