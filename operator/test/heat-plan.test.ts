/**
 * Heat-driven migration planning (src/core/heat-plan.ts): a node hotter than factor × the fleet
 * median gives its hottest movable segment to the coldest node of its zone without a member of that
 * PG; nothing moves below the floor, into a node that would end up hotter, during a cooldown (never
 * shorter than the rate window), for a PG already changing, or when it carries too little of the
 * node's excess heat to make a dent. A property simulates rounds of moves on random heat maps and
 * checks that no segment moves twice within the cooldown and that every move lowers the zone's
 * hottest node.
 */
import { singleConfiguration } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EXCESS_SHARE_MIN,
  type HeatNode,
  type HeatPlanInput,
  median,
  nodeHeat,
  planMigrations,
  RATE_WINDOW_MS,
} from '../src/core/heat-plan.js';
import type { PgMembership } from '../src/core/repair-plan.js';

function pg(pgId: number, nodes: string[]): PgMembership {
  const members = nodes.map((node) => `pg${pgId}-${node}`);
  return {
    pgId,
    membershipEpoch: 1n,
    quorumSet: singleConfiguration(members),
    nodeOf: Object.fromEntries(members.map((member, index) => [member, nodes[index]!])),
  };
}

/** Nodes a1..a3, b1..b3, c1..c3; PGs on a1 a2 b1 b2 c1 c2 unless given; heat per segment. */
function world(
  heat: Record<string, number>,
  pgs = [pg(0, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'])],
): HeatPlanInput {
  const nodes: HeatNode[] = ['a', 'b', 'c'].flatMap((zone) =>
    [1, 2, 3].map((index) => {
      const nodeId = `${zone}${index}`;
      const segmentHeat = new Map<string, number>();
      for (const candidate of pgs)
        for (const [segment, host] of Object.entries(candidate.nodeOf))
          if (host === nodeId) segmentHeat.set(segment, heat[segment] ?? 1);
      return { nodeId, zone, schedulable: true, segmentHeat };
    }),
  );
  return {
    nodes,
    pgs,
    inFlight: [],
    lastMoveOfNodeMs: new Map(),
    arrivalOfSegmentMs: new Map(),
    nowMs: 1_000_000,
    factor: 2,
    cooldownMs: 300_000,
    minimumHeat: 10,
    maxTotal: 4,
    headOf: new Map([[0, 77n]]),
  };
}

describe('planMigrations', () => {
  const sixOf = (pgId: number) => pg(pgId, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
  /** a1 carries two hot segments: moving one of them cools it without making a new hot spot. */
  const hotA1 = () => world({ 'pg0-a1': 100, 'pg1-a1': 60 }, [sixOf(0), sixOf(1)]);

  it('moves the hottest segment of a hot node to the coldest node of its zone', () => {
    const actions = planMigrations(hotA1());
    expect(actions).toHaveLength(1);
    expect(actions[0]!.repair).toMatchObject({
      kind: 'migration',
      pgId: 0,
      leavingSegment: 'pg0-a1',
      leavingNode: 'a1',
      joiningNode: 'a3',
      joiningSegment: 'pg0-a3-m2',
      targetLsn: 77n,
    });
    expect(actions[0]!.change.quorumSet.configurations).toHaveLength(2);
    expect(actions[0]!.reason).toMatch(/a1 runs at 160\.0 ops\/s/);
  });

  it('leaves a fleet alone below the floor or under the factor', () => {
    expect(planMigrations({ ...world({ 'pg0-a1': 9 }), minimumHeat: 10 })).toEqual([]);
    const even = world({
      'pg0-a1': 30,
      'pg0-a2': 30,
      'pg0-b1': 30,
      'pg0-b2': 30,
      'pg0-c1': 30,
      'pg0-c2': 30,
    });
    expect(planMigrations(even)).toEqual([]);
  });

  it('does not move a hot spot onto a node that would end up as hot', () => {
    const twoPgs = [pg(0, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']), pg(1, ['a3', 'a2', 'b3', 'b2', 'c3', 'c2'])];
    // a3 already carries 60: moving a1's 100 there gives 160 > 100.
    expect(planMigrations(world({ 'pg0-a1': 100, 'pg1-a3': 60 }, twoPgs))).toEqual([]);
  });

  it('does not just move a hot spot: a node hot from one segment alone keeps it', () => {
    expect(planMigrations(world({ 'pg0-a1': 100 }))).toEqual([]);
  });

  it('respects the cooldown of nodes and PGs, PGs already changing, and the fleet limit', () => {
    const hot = hotA1();
    expect(planMigrations({ ...hot, lastMoveOfNodeMs: new Map([['a1', 900_000]]) })).toEqual([]);
    expect(planMigrations({ ...hot, lastMoveOfNodeMs: new Map([['a3', 900_000]]) })).toEqual([]);
    // a1's PG 0 segment arrived by a migration lately: PG 1's segment (60) moves instead.
    expect(
      planMigrations({ ...hot, arrivalOfSegmentMs: new Map([['pg0-a1', 900_000]]) })[0]?.repair.pgId,
    ).toBe(1);
    expect(
      planMigrations({
        ...hot,
        arrivalOfSegmentMs: new Map([
          ['pg0-a1', 900_000],
          ['pg1-a1', 900_000],
        ]),
      }),
    ).toEqual([]);
    // Past the cooldown it may move again.
    expect(
      planMigrations({ ...hot, arrivalOfSegmentMs: new Map([['pg0-a1', 600_000]]) })[0]?.repair.pgId,
    ).toBe(0);
    const busy = {
      id: 'r',
      pgId: 0,
      leavingSegment: 'pg0-b1',
      leavingNode: 'b1',
      joiningSegment: 'pg0-b3-m2',
      joiningNode: 'b3',
      targetLsn: 1n,
    };
    expect(planMigrations({ ...hot, inFlight: [busy] })[0]?.repair.pgId).toBe(1);
    expect(planMigrations({ ...hot, inFlight: [busy, { ...busy, pgId: 1 }] })).toEqual([]);
    expect(planMigrations({ ...hot, maxTotal: 0 })).toEqual([]);
  });

  it('moves nothing that would not make a dent: a segment under a quarter of the excess stays', () => {
    // The heat test's CI failure: a1's hot segments belong to PGs migrating in other zones, so the
    // next one was a segment of 0.1 ops/s. Moving it left a1 as hot and spent the cooldown of a1 and
    // a3, so neither could take part in the move that helps once PG 0 or 1 is free again.
    const three = [sixOf(0), sixOf(1), pg(2, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'])];
    const hot = world({ 'pg0-a1': 100, 'pg1-a1': 60, 'pg2-a1': 0.1 }, three);
    const busy = (pgId: number) => ({
      id: `r${pgId}`,
      pgId,
      leavingSegment: `pg${pgId}-b1`,
      leavingNode: 'b1',
      joiningSegment: `pg${pgId}-b3-m2`,
      joiningNode: 'b3',
      targetLsn: 1n,
    });
    expect(planMigrations({ ...hot, inFlight: [busy(0), busy(1)] })).toEqual([]);
    // a1 runs at 160.1 over a median of 3: a quarter of the excess is 39.3, so PG 1's 60 may go.
    expect(planMigrations({ ...hot, inFlight: [busy(0)] })[0]?.repair.leavingSegment).toBe('pg1-a1');
    expect(EXCESS_SHARE_MIN).toBe(0.25);
    expect(
      planMigrations(world({ 'pg0-a1': 100, 'pg1-a1': 30 }, [sixOf(0), sixOf(1)])).map(
        (action) => action.repair.leavingSegment,
      ),
    ).toEqual(['pg0-a1']);
    // a1 at 130: its 100 would only move the hot spot onto a3 (70 + 100 > 130), and its 30 is under
    // a quarter of its excess over the median of 3 (127 / 4); so it keeps both.
    const crowded = [sixOf(0), sixOf(1), pg(2, ['a3', 'a2', 'b3', 'b2', 'c3', 'c2'])];
    expect(planMigrations(world({ 'pg0-a1': 100, 'pg1-a1': 30, 'pg2-a3': 70 }, crowded))).toEqual([]);
    // With 40 (over 137 / 4) PG 1's segment goes: 70 + 40 < 140.
    expect(
      planMigrations(world({ 'pg0-a1': 100, 'pg1-a1': 40, 'pg2-a3': 70 }, crowded))[0]?.repair.leavingSegment,
    ).toBe('pg1-a1');
  });

  it('keeps a cooldown of at least the rate window, whatever the configuration', () => {
    // a3 took a segment 5 s ago: its joiner's window is half empty, so it reads cooler than it is.
    const justMoved = { ...hotA1(), cooldownMs: 0, lastMoveOfNodeMs: new Map([['a3', 995_000]]) };
    expect(planMigrations(justMoved)).toEqual([]);
    expect(planMigrations({ ...justMoved, nowMs: 995_000 + RATE_WINDOW_MS })[0]?.repair.joiningNode).toBe(
      'a3',
    );
  });

  it('never chooses an unschedulable node', () => {
    const hot = hotA1();
    const nodes = hot.nodes.map((node) => (node.nodeId === 'a3' ? { ...node, schedulable: false } : node));
    expect(planMigrations({ ...hot, nodes })).toEqual([]);
  });

  it('over rounds, never moves a segment twice within the cooldown and always cools the hottest node', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 1, max: 8 }),
        (heats, rounds) => {
          const pgs = [
            pg(0, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']),
            pg(1, ['a2', 'a3', 'b2', 'b3', 'c2', 'c3']),
            pg(2, ['a1', 'a3', 'b1', 'b3', 'c1', 'c3']),
          ];
          const heat: Record<string, number> = {};
          pgs.forEach((candidate, index) => {
            for (const segment of Object.keys(candidate.nodeOf))
              heat[segment] = heats[(index * 2 + segment.length) % 6]!;
          });
          let current = pgs;
          const arrivals = new Map<string, number>();
          let nowMs = 1_000_000;
          const lastMoveOfNodeMs = new Map<string, number>();
          for (let round = 0; round < rounds; round++) {
            const input = {
              ...world(heat, current),
              nowMs,
              lastMoveOfNodeMs,
              arrivalOfSegmentMs: new Map(arrivals),
            };
            const heatOf = new Map(input.nodes.map((node) => [node.nodeId, nodeHeat(node)]));
            for (const action of planMigrations(input)) {
              // No segment moves twice in the window: the one leaving did not arrive lately.
              const arrived = arrivals.get(action.repair.leavingSegment);
              expect(arrived === undefined || nowMs - arrived >= input.cooldownMs).toBe(true);
              const zone = input.nodes.filter((node) => node.zone === action.repair.leavingNode[0]);
              const before = Math.max(...zone.map((node) => heatOf.get(node.nodeId)!));
              const moved = heat[action.repair.leavingSegment] ?? 1;
              const sourceAfter = heatOf.get(action.repair.leavingNode)! - moved;
              const targetAfter = heatOf.get(action.repair.joiningNode)! + moved;
              expect(Math.max(sourceAfter, targetAfter)).toBeLessThan(before);
              heat[action.repair.joiningSegment] = moved;
              arrivals.set(action.repair.joiningSegment, nowMs);
              lastMoveOfNodeMs.set(action.repair.leavingNode, nowMs);
              lastMoveOfNodeMs.set(action.repair.joiningNode, nowMs);
              current = current.map((candidate) =>
                candidate.pgId !== action.repair.pgId
                  ? candidate
                  : {
                      pgId: candidate.pgId,
                      membershipEpoch: action.change.membershipEpoch + 1n,
                      quorumSet: singleConfiguration(
                        action.change.quorumSet.configurations[1]!.map((member) => member),
                      ),
                      nodeOf: Object.fromEntries(
                        Object.entries(action.change.nodeOf).filter(
                          ([segment]) => segment !== action.repair.leavingSegment,
                        ),
                      ),
                    },
              );
            }
            nowMs += 60_000;
          }
          expect(median([1, 3, 2])).toBe(2);
        },
      ),
    );
  });
});
