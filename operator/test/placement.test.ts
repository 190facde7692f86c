/**
 * Proves the placement planner's rules (operator/src/core/placement.ts):
 * - table tests pin each rule on a small fleet: six nodes two per zone, the problems a fleet that
 *   cannot hold a PG gets (naming the zones and counts), unschedulable nodes never chosen, hot and
 *   full nodes losing ties (and nearly equal ones still tying), in-zone pairs rotating, limits and
 *   determinism (same input, any fleet order → same plan);
 * - properties over random fleets (3 zones, 2..12 nodes each, some unschedulable) and volumes of
 *   1..300 PGs planned from scratch: every PG passes layoutProblems on schedulable nodes; inside a
 *   zone the schedulable nodes' segment counts differ by at most one (provable: each PG adds one to
 *   the two smallest counts, which keeps max − min ≤ 1); spread: no two nodes share more than
 *   SPREAD_SLACK_PGS PGs beyond their fair share, and the member sets are many;
 * - incrementally, adding PGs one at a time to an imbalanced volume always fills two of a zone's
 *   emptiest nodes, never widens its spread (beyond one), and levels a zone of three or more nodes
 *   within 2·D PGs, D being the zone's total deficit below its fullest node (checked exhaustively
 *   for up to 7 nodes with counts up to 15: the worst is a lone laggard among three nodes, which
 *   gains one per PG while the other two gain half a one each).
 */
import { AssertionError } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type FleetNode,
  layoutProblems,
  MAX_FLEET_NODES,
  MAX_PGS,
  type PgLayout,
  placePg,
  planPlacement,
} from '../src/core/placement.js';

const ZONE_NAMES = ['a', 'b', 'c'] as const;

/**
 * How many PGs two nodes may share beyond their fair share (rounded up) when loads are equal. Not a
 * theorem: measured over 25,000 random fleets and volumes the worst excess was 4 (2 cases; 3 in
 * 0.5%). Without the spread rule (ties broken by the hash alone) two thirds of the volumes exceed 5
 * and the worst reached 22, so this bound is what catches a broken spread rule.
 */
const SPREAD_SLACK_PGS = 5;

function node(nodeId: string, zone: string, overrides: Partial<FleetNode> = {}): FleetNode {
  return { nodeId, zone, schedulable: true, diskBytes: 0, heat: 0, ...overrides };
}

/** `perZone[i]` schedulable nodes named `<zone><n>` in zone a, b, c. */
function fleetOf(perZone: readonly number[], zoneNames: readonly string[] = ZONE_NAMES): FleetNode[] {
  return perZone.flatMap((count, zoneIndex) =>
    Array.from({ length: count }, (_, index) =>
      node(`${zoneNames[zoneIndex]}${index}`, zoneNames[zoneIndex]!),
    ),
  );
}

function plan(fleet: readonly FleetNode[], pgCountWanted: number, seed = ''): PgLayout[] {
  const result = planPlacement({ fleet, layouts: [], pgCountWanted, seed });
  if (!result.ok) throw new Error(`unexpected problem: ${result.error.message}`);
  return result.value;
}

function problemOf(fleet: readonly FleetNode[]): string {
  const result = planPlacement({ fleet, layouts: [], pgCountWanted: 1 });
  if (result.ok) throw new Error('expected NL_PLACEMENT_IMPOSSIBLE');
  expect(result.error.code).toBe('NL_PLACEMENT_IMPOSSIBLE');
  const single = placePg(fleet, [], 0);
  expect(single).toEqual({ ok: false, error: result.error });
  return result.error.message;
}

function segmentCounts(layouts: readonly PgLayout[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layout of layouts)
    for (const nodeId of layout.nodes) counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  return counts;
}

/** Per zone: the schedulable nodes' segment counts. */
function countsByZone(fleet: readonly FleetNode[], layouts: readonly PgLayout[]): Map<string, number[]> {
  const counts = segmentCounts(layouts);
  const byZone = new Map<string, number[]>();
  for (const fleetNode of fleet.filter((candidate) => candidate.schedulable)) {
    byZone.set(fleetNode.zone, [...(byZone.get(fleetNode.zone) ?? []), counts.get(fleetNode.nodeId) ?? 0]);
  }
  return byZone;
}

function spreadOf(counts: readonly number[]): number {
  return Math.max(...counts) - Math.min(...counts);
}

/** The zone pair of a layout, as "x,y" sorted. */
function zonePair(fleet: readonly FleetNode[], layout: PgLayout, zone: string): string {
  const zoneOf = new Map(fleet.map((fleetNode) => [fleetNode.nodeId, fleetNode.zone]));
  return layout.nodes
    .filter((nodeId) => zoneOf.get(nodeId) === zone)
    .sort()
    .join(',');
}

describe('placement rules (table)', () => {
  it('uses all six nodes of the minimal fleet for every PG, two per zone, in zone order', () => {
    const fleet = fleetOf([2, 2, 2]);
    const layouts = plan(fleet, 50);
    expect(layouts.map((layout) => layout.pgId)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    for (const layout of layouts) {
      expect(layout.nodes).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1']);
      expect(layoutProblems(fleet, layout)).toEqual([]);
    }
  });

  it('refuses a zone with one schedulable node, naming the zone and what to do', () => {
    const fleet = fleetOf([2, 2, 2]).map((fleetNode) =>
      fleetNode.nodeId === 'b1' ? { ...fleetNode, schedulable: false } : fleetNode,
    );
    expect(problemOf(fleet)).toBe(
      'zone b has 1 schedulable storage node (1 unschedulable); a PG needs 2 in each of 3 zones: ' +
        'add a node to zone b or wait for one to recover',
    );
    expect(problemOf(fleetOf([3, 1, 2]))).toBe(
      'zone b has 1 schedulable storage node; a PG needs 2 in each of 3 zones: ' +
        'add a node to zone b or wait for one to recover',
    );
  });

  it('names every short zone at once', () => {
    const fleet = [...fleetOf([5, 1]), node('c0', 'c', { schedulable: false })];
    expect(problemOf(fleet)).toBe(
      'zone b has 1 schedulable storage node; zone c has 0 schedulable storage nodes (1 unschedulable); ' +
        'a PG needs 2 in each of 3 zones: add nodes to zones b and c or wait for them to recover',
    );
  });

  it('refuses a fleet of two zones, one zone, no nodes and four zones', () => {
    expect(problemOf(fleetOf([3, 3]))).toBe(
      'the fleet spans 2 zones (a, b); a PG needs 2 in each of 3 zones: add storage nodes in 1 more zone',
    );
    expect(problemOf(fleetOf([4]))).toBe(
      'the fleet spans 1 zone (a); a PG needs 2 in each of 3 zones: add storage nodes in 2 more zones',
    );
    expect(problemOf(fleetOf([1, 2]))).toMatch(
      /^the fleet spans 2 zones \(a, b\); zone a has 1 schedulable storage node; .*: add storage nodes in 1 more zone, and add a node to zone a or wait for one to recover$/,
    );
    expect(problemOf([])).toBe(
      'the fleet spans 0 zones (none); a PG needs 2 in each of 3 zones: add storage nodes in 3 more zones',
    );
    expect(problemOf(fleetOf([2, 2, 2, 2], ['a', 'b', 'c', 'd']))).toBe(
      'the fleet spans 4 zones (a, b, c, d); a PG needs 2 in each of 3 zones: ' +
        'label every storage node with one of exactly 3 zones',
    );
  });

  it('never chooses an unschedulable node, even when it is the emptiest', () => {
    const fleet = fleetOf([4, 3, 5]).map((fleetNode) =>
      ['a1', 'b0', 'c3', 'c4'].includes(fleetNode.nodeId) ? { ...fleetNode, schedulable: false } : fleetNode,
    );
    const layouts = plan(fleet, 120);
    const used = new Set(layouts.flatMap((layout) => layout.nodes));
    for (const nodeId of ['a1', 'b0', 'c3', 'c4']) expect(used.has(nodeId)).toBe(false);
    for (const nodeId of ['a0', 'a2', 'a3', 'b1', 'b2', 'c0', 'c1', 'c2'])
      expect(used.has(nodeId)).toBe(true);
  });

  it('lets a hot node and a full node lose ties, but not their share once they are the emptiest', () => {
    const cases = [
      { usual: { heat: 100 }, loaded: { heat: 300 } },
      { usual: { diskBytes: 1e12 }, loaded: { diskBytes: 3e12 } },
    ];
    for (const { usual, loaded } of cases) {
      const fleet = fleetOf([3, 2, 2]).map((fleetNode) => ({
        ...fleetNode,
        ...(fleetNode.nodeId === 'a2' ? loaded : usual),
      }));
      for (let seed = 0; seed < 20; seed++) {
        const [first, second] = plan(fleet, 2, `seed-${seed}`);
        expect(zonePair(fleet, first!, 'a')).toBe('a0,a1');
        // Balance comes before load: a2 holds nothing, so the next PG takes it however hot.
        expect(second!.nodes).toContain('a2');
      }
    }
  });

  it('lets a node that is only a little warmer still tie, leaving the choice to spread and hash', () => {
    const fleet = fleetOf([3, 2, 2]).map((fleetNode) => ({
      ...fleetNode,
      heat: fleetNode.nodeId === 'a2' ? 110 : 100,
    }));
    const firstPairs = new Set(
      Array.from({ length: 40 }, (_, seed) => zonePair(fleet, plan(fleet, 1, `seed-${seed}`)[0]!, 'a')),
    );
    expect(firstPairs.size).toBe(3);
  });

  it('rotates in-zone pairs: on four nodes a zone, the first six PGs use all six pairs of every zone', () => {
    const fleet = fleetOf([4, 4, 4]);
    for (let seed = 0; seed < 50; seed++) {
      const layouts = plan(fleet, 6, `seed-${seed}`);
      for (const zone of ZONE_NAMES) {
        expect(new Set(layouts.map((layout) => zonePair(fleet, layout, zone))).size).toBe(6);
      }
    }
  });

  it('is deterministic: the same input, in any fleet order, gives the same plan', () => {
    const fleet = fleetOf([5, 4, 6]).map((fleetNode, index) => ({
      ...fleetNode,
      heat: (index * 37) % 11,
      diskBytes: ((index * 13) % 5) * 1e9,
    }));
    const layouts = plan(fleet, 200, 'volume-7');
    expect(plan(fleet, 200, 'volume-7')).toEqual(layouts);
    expect(plan([...fleet].reverse(), 200, 'volume-7')).toEqual(layouts);
    // The seed only moves ties: another volume gets another plan, as balanced.
    const other = plan(fleet, 200, 'volume-8');
    expect(other).not.toEqual(layouts);
    for (const counts of countsByZone(fleet, other).values()) expect(spreadOf(counts)).toBeLessThanOrEqual(1);
  });

  it('plans only the missing PGs, continuing the ids, and plans nothing when the volume is big enough', () => {
    const fleet = fleetOf([3, 3, 3]);
    const existing = plan(fleet, 10);
    const more = planPlacement({ fleet, layouts: existing, pgCountWanted: 14 });
    expect(more.ok && more.value.map((layout) => layout.pgId)).toEqual([10, 11, 12, 13]);
    // Planning in two steps gives the same layouts as planning at once.
    expect(more.ok && [...existing, ...more.value]).toEqual(plan(fleet, 14));
    expect(planPlacement({ fleet, layouts: existing, pgCountWanted: 10 })).toEqual({ ok: true, value: [] });
    expect(planPlacement({ fleet, layouts: existing, pgCountWanted: 3 })).toEqual({ ok: true, value: [] });
    // placePg on the same state agrees with the plan.
    const next = placePg(fleet, existing, 10);
    expect(next.ok && next.value).toEqual(more.ok && more.value[0]!.nodes);
  });

  it('bounds its input: too many nodes or PGs is a problem, a broken input an assertion', () => {
    expect(problemOf(fleetOf([MAX_FLEET_NODES - 3, 2, 2]))).toMatch(
      /has 1025 storage nodes; .* at most 1024: split the fleet$/,
    );
    const fleet = fleetOf([2, 2, 2]);
    const tooMany = planPlacement({ fleet, layouts: [], pgCountWanted: MAX_PGS + 1 });
    expect(!tooMany.ok && tooMany.error.message).toMatch(/at most 131072: ask for a smaller volume$/);
    const gap = [
      { pgId: 0, nodes: [] },
      { pgId: 2, nodes: [] },
    ];
    expect(() => planPlacement({ fleet, layouts: gap, pgCountWanted: 3 })).toThrow(AssertionError);
    expect(() => placePg([...fleet, node('a0', 'b')], [], 0)).toThrow(AssertionError);
    expect(() => placePg([node('x', 'a', { heat: Number.NaN }), ...fleet], [], 0)).toThrow(AssertionError);
    expect(() => placePg(fleet, [], -1)).toThrow(AssertionError);
  });

  it('ignores existing members on unknown and unschedulable nodes when counting', () => {
    const fleet = [...fleetOf([3, 2, 2]), node('a3', 'a', { schedulable: false })];
    const layouts: PgLayout[] = [{ pgId: 0, nodes: ['a0', 'a3', 'b0', 'b1', 'c0', 'gone'] }];
    // a0 holds one segment, a1 and a2 none; a3 (unschedulable) and "gone" (no longer in the fleet)
    // count for nothing and are never chosen.
    expect(placePg(fleet, layouts, 1)).toEqual({ ok: true, value: ['a1', 'a2', 'b0', 'b1', 'c0', 'c1'] });
  });

  it('plans 10,000 PGs on 60 nodes in well under a second (a quadratic planner would take minutes)', () => {
    const fleet = fleetOf([20, 20, 20]);
    const started = performance.now();
    const layouts = plan(fleet, 10_000);
    const elapsedMs = performance.now() - started;
    expect(layouts).toHaveLength(10_000);
    for (const counts of countsByZone(fleet, layouts).values())
      expect(spreadOf(counts)).toBeLessThanOrEqual(1);
    // Generous for a loaded CI machine; it takes about 0.2 s here.
    expect(elapsedMs).toBeLessThan(3_000);
  });
});

describe('layoutProblems', () => {
  const fleet = fleetOf([3, 2, 2]);

  it('accepts two distinct known nodes in each of three zones, whatever their schedulability', () => {
    const draining = fleet.map((fleetNode) => ({ ...fleetNode, schedulable: false }));
    expect(layoutProblems(draining, { pgId: 4, nodes: ['c1', 'a2', 'b0', 'a0', 'b1', 'c0'] })).toEqual([]);
  });

  it.each([
    [
      ['a0', 'a1', 'b0', 'b1', 'c0'],
      ['PG 9 has 5 members; a PG has 6', 'PG 9 has 1 member in zone c; a PG has 2 per zone'],
    ],
    [['a0', 'a0', 'b0', 'b1', 'c0', 'c1'], ['PG 9 lists node a0 more than once']],
    [
      ['a0', 'x9', 'b0', 'b1', 'c0', 'c1'],
      ['PG 9 member x9 is not a node of the fleet', 'PG 9 has 1 member in zone a; a PG has 2 per zone'],
    ],
    [
      ['a0', 'a1', 'a2', 'b1', 'c0', 'c1'],
      [
        'PG 9 has 3 members in zone a; a PG has 2 per zone',
        'PG 9 has 1 member in zone b; a PG has 2 per zone',
      ],
    ],
    [
      ['a0', 'a1', 'a2', 'b0', 'b1', 'a0'],
      [
        'PG 9 lists node a0 more than once',
        'PG 9 spans 2 zones; a PG spans exactly 3',
        'PG 9 has 4 members in zone a; a PG has 2 per zone',
      ],
    ],
  ])('reports %j', (nodes, problems) => {
    expect(layoutProblems(fleet, { pgId: 9, nodes })).toEqual(problems);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random fleets.

interface ZoneShape {
  /** One flag per node, at least two true. */
  readonly schedulable: readonly boolean[];
}

/** 2..12 nodes, some unschedulable, at least two schedulable (forced at a random position). */
const zoneShapeArbitrary: fc.Arbitrary<ZoneShape> = fc
  .tuple(fc.array(fc.boolean(), { minLength: 2, maxLength: 12 }), fc.nat())
  .map(([flags, position]) => ({
    schedulable: flags.map(
      (flag, index) => flag || index === position % flags.length || index === (position + 1) % flags.length,
    ),
  }));

const loadArbitrary = fc.record({
  diskBytes: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4e12 })),
  heat: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e5, noNaN: true })),
});

function fleetArbitrary(withLoads: boolean): fc.Arbitrary<FleetNode[]> {
  return fc
    .tuple(zoneShapeArbitrary, zoneShapeArbitrary, zoneShapeArbitrary)
    .chain((shapes) => {
      const total = shapes.reduce((sum, shape) => sum + shape.schedulable.length, 0);
      const loads = withLoads
        ? fc.array(loadArbitrary, { minLength: total, maxLength: total })
        : fc.constant(Array.from({ length: total }, () => ({ diskBytes: 0, heat: 0 })));
      return fc.tuple(fc.constant(shapes), loads);
    })
    .map(([shapes, loads]) => {
      const flat = shapes.flatMap((shape, zoneIndex) =>
        shape.schedulable.map((schedulable, index) => ({ zone: ZONE_NAMES[zoneIndex]!, index, schedulable })),
      );
      return flat.map(({ zone, index, schedulable }, position) =>
        node(`${zone}-${index}`, zone, { schedulable, ...loads[position]! }),
      );
    });
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`;
}

/** PGs each two nodes share. */
function coHostCounts(layouts: readonly PgLayout[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layout of layouts) {
    for (const [position, a] of layout.nodes.entries()) {
      for (const b of layout.nodes.slice(position + 1))
        counts.set(pairKey(a, b), (counts.get(pairKey(a, b)) ?? 0) + 1);
    }
  }
  return counts;
}

describe('placement properties (fast-check)', () => {
  it('builds volumes whose every PG is valid and on schedulable nodes, with each zone balanced within one', () => {
    fc.assert(
      fc.property(
        fleetArbitrary(true),
        fc.integer({ min: 1, max: 300 }),
        fc.string(),
        (fleet, pgCount, seed) => {
          const layouts = plan(fleet, pgCount, seed);
          expect(layouts).toHaveLength(pgCount);
          const schedulable = new Set(
            fleet.filter((fleetNode) => fleetNode.schedulable).map((n) => n.nodeId),
          );
          // One expect for the whole volume: an expect per member would dominate the run time.
          const problems = layouts.flatMap((layout) => [
            ...layoutProblems(fleet, layout),
            ...layout.nodes
              .filter((nodeId) => !schedulable.has(nodeId))
              .map((id) => `${id} is unschedulable`),
          ]);
          expect(problems).toEqual([]);
          for (const counts of countsByZone(fleet, layouts).values())
            expect(spreadOf(counts)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('spreads PGs: no two nodes share much more than their fair share, and the member sets are many', () => {
    fc.assert(
      fc.property(
        fleetArbitrary(false),
        fc.integer({ min: 1, max: 300 }),
        fc.string(),
        (fleet, pgCount, seed) => {
          const layouts = plan(fleet, pgCount, seed);
          const zoneOf = new Map(fleet.map((fleetNode) => [fleetNode.nodeId, fleetNode.zone]));
          const schedulableInZone = new Map(
            ZONE_NAMES.map((zone) => [
              zone as string,
              fleet.filter((n) => n.zone === zone && n.schedulable).length,
            ]),
          );
          // Fair share: a PG makes one pair inside each zone and 2 × 2 pairs between each two zones.
          const fairShare = (a: string, b: string): number => {
            const sizeA = schedulableInZone.get(zoneOf.get(a)!)!;
            const sizeB = schedulableInZone.get(zoneOf.get(b)!)!;
            return zoneOf.get(a) === zoneOf.get(b)
              ? pgCount / ((sizeA * (sizeA - 1)) / 2)
              : (4 * pgCount) / (sizeA * sizeB);
          };
          const crowded = [...coHostCounts(layouts)].filter(([key, shared]) => {
            const [a, b] = key.split(' ') as [string, string];
            return shared > Math.ceil(fairShare(a, b)) + SPREAD_SLACK_PGS;
          });
          expect(crowded).toEqual([]);
          const memberSets = new Set(layouts.map((layout) => layout.nodes.join(','))).size;
          const possibleSets = [...schedulableInZone.values()].reduce(
            (product, n) => (product * n * (n - 1)) / 2,
            1,
          );
          // Provable: with a zone of three or more, PG 1 must take a node PG 0 left empty.
          if (possibleSets > 1) expect(memberSets).toBeGreaterThanOrEqual(Math.min(pgCount, 2));
          // Measured: the worst seen over 10,000 volumes was 0.56 of the possible; a third is asserted.
          expect(memberSets).toBeGreaterThanOrEqual(Math.ceil(Math.min(pgCount, possibleSets) / 3));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('levels an imbalanced volume as PGs are added one by one', () => {
    const existingArbitrary = fc.record({
      favored: fc.integer({ min: 2, max: 12 }),
      picks: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 60 }),
    });
    fc.assert(
      fc.property(fleetArbitrary(true), existingArbitrary, fc.string(), (fleet, { favored, picks }, seed) => {
        const layouts = existingVolume(fleet, favored, picks);
        const initial = countsByZone(fleet, layouts);
        // Zones of two nodes never level (both take every PG), so only the others set the length.
        const deficits = [...initial.values()]
          .filter((counts) => counts.length >= 3)
          .map((counts) => counts.reduce((sum, count) => sum + Math.max(...counts) - count, 0));
        const steps = Math.max(1, 2 * Math.max(0, ...deficits));
        let previous = initial;
        for (let step = 0; step < steps; step++) {
          const placed = placePg(fleet, layouts, layouts.length, seed);
          if (!placed.ok) throw new Error(placed.error.message);
          layouts.push({ pgId: layouts.length, nodes: placed.value });
          const current = countsByZone(fleet, layouts);
          for (const [zone, counts] of current) {
            const before = previous.get(zone)!;
            // The two nodes chosen in the zone were two of its emptiest.
            const grown = counts.flatMap((count, index) => (count > before[index]! ? [before[index]!] : []));
            const emptiest = [...before].sort((a, b) => a - b).slice(0, 2);
            expect(grown.sort((a, b) => a - b)).toEqual(emptiest);
            // Never wider than before (a level zone goes from 0 to 1 and back).
            expect(spreadOf(counts)).toBeLessThanOrEqual(Math.max(spreadOf(before), 1));
          }
          previous = current;
        }
        // Zones of three or more nodes are level by now; a zone of two keeps its gap forever.
        for (const counts of previous.values())
          if (counts.length >= 3) expect(spreadOf(counts)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 150 },
    );
  });

  it('gives the same plan for any order of the fleet', () => {
    fc.assert(
      fc.property(
        fleetArbitrary(true).chain((fleet) =>
          fc.tuple(fc.constant(fleet), fc.shuffledSubarray(fleet, { minLength: fleet.length })),
        ),
        fc.integer({ min: 1, max: 60 }),
        ([fleet, shuffled], pgCount) => {
          expect(plan(shuffled, pgCount, 's')).toEqual(plan(fleet, pgCount, 's'));
        },
      ),
      { numRuns: 100 },
    );
  });
});

/**
 * An imbalanced existing volume: each PG takes, in every zone, a pair from the zone's first
 * `favored` nodes (schedulable or not), so some nodes are crowded and others empty.
 */
function existingVolume(
  fleet: readonly FleetNode[],
  favored: number,
  picks: readonly (readonly [number, number, number])[],
): PgLayout[] {
  return picks.map((pick, pgId) => ({
    pgId,
    nodes: ZONE_NAMES.flatMap((zone, zoneIndex) => {
      const zoneNodes = fleet.filter((fleetNode) => fleetNode.zone === zone).map((n) => n.nodeId);
      const pool = zoneNodes.slice(0, Math.min(favored, zoneNodes.length));
      const first = pick[zoneIndex]! % pool.length;
      const second =
        (first + 1 + (Math.floor(pick[zoneIndex]! / pool.length) % (pool.length - 1))) % pool.length;
      return [pool[first]!, pool[second]!];
    }),
  }));
}
