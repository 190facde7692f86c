/**
 * The rolling upgrade plan (src/core/upgrade-plan.ts): zone by zone, batches that share no PG, only
 * from a fully healthy fleet; then the replicas one by one; then a switchover to an upgraded replica.
 * A property drives whole upgrades of random fleets and checks the invariant the paper relies on:
 * no PG ever has more than one member restarting at once, and zones go strictly one after another.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planUpgrade,
  type UpgradeEngine,
  type UpgradeInput,
  type UpgradeNode,
} from '../src/core/upgrade-plan.js';

function nodes(perZone: number, version = '1'): UpgradeNode[] {
  return ['a', 'b', 'c'].flatMap((zone) =>
    Array.from({ length: perZone }, (_, index) => ({
      nodeId: `${zone}${index + 1}`,
      zone,
      version,
      healthy: true,
    })),
  );
}

const engines = (writerVersion = '1', replicaVersion = '1'): UpgradeEngine[] => [
  {
    name: 'e1',
    role: 'writer',
    promotionTier: 0,
    version: writerVersion,
    ready: true,
    appliedLsn: undefined,
  },
  { name: 'e2', role: 'replica', promotionTier: 1, version: replicaVersion, ready: true, appliedLsn: 10n },
];

const allSix = [['a1', 'a2', 'b1', 'b2', 'c1', 'c2']];

const input = (extra: Partial<UpgradeInput>): UpgradeInput => ({
  targetVersion: '2',
  nodes: nodes(2),
  pgNodes: allSix,
  engines: engines(),
  maxBatchSize: 8,
  ...extra,
});

describe('planUpgrade', () => {
  it('starts with one storage node of the first zone when every PG is on every node', () => {
    expect(planUpgrade(input({}))).toMatchObject({ kind: 'restart-storage', zone: 'a', nodeIds: ['a1'] });
  });

  it('batches the nodes of a zone that share no PG', () => {
    const pgNodes = [
      ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'],
      ['a3', 'a4', 'b3', 'b4', 'c3', 'c4'],
    ];
    expect(planUpgrade(input({ nodes: nodes(4), pgNodes }))).toMatchObject({
      kind: 'restart-storage',
      nodeIds: ['a1', 'a3'],
    });
    expect(planUpgrade(input({ nodes: nodes(4), pgNodes, maxBatchSize: 1 }))).toMatchObject({
      nodeIds: ['a1'],
    });
  });

  it('waits while any storage node is unhealthy, naming it', () => {
    const fleet = nodes(2).map((node) => (node.nodeId === 'b2' ? { ...node, healthy: false } : node));
    expect(planUpgrade(input({ nodes: fleet }))).toEqual({
      kind: 'wait',
      reason: expect.stringContaining('b2'),
    });
  });

  it('moves to the next zone only when a zone is done', () => {
    const fleet = nodes(2).map((node) => (node.zone === 'a' ? { ...node, version: '2' } : node));
    expect(planUpgrade(input({ nodes: fleet }))).toMatchObject({ kind: 'restart-storage', zone: 'b' });
  });

  it('upgrades replicas after storage, then switches the writer over to an upgraded replica', () => {
    const fleet = nodes(2, '2');
    expect(planUpgrade(input({ nodes: fleet }))).toMatchObject({ kind: 'restart-replica', name: 'e2' });
    expect(planUpgrade(input({ nodes: fleet, engines: engines('1', '2') }))).toMatchObject({
      kind: 'switchover',
      from: 'e1',
      to: 'e2',
    });
    expect(planUpgrade(input({ nodes: fleet, engines: engines('2', '2') }))).toMatchObject({ kind: 'done' });
  });

  it('waits for engines to be ready before touching the next one', () => {
    const notReady = engines('1', '2').map((engine) =>
      engine.name === 'e2' ? { ...engine, ready: false } : engine,
    );
    expect(planUpgrade(input({ nodes: nodes(2, '2'), engines: notReady }))).toEqual({
      kind: 'wait',
      reason: expect.stringContaining('e2'),
    });
  });

  it('restarts a lone writer in place', () => {
    const lone: UpgradeEngine[] = [engines()[0]!];
    expect(planUpgrade(input({ nodes: nodes(2, '2'), engines: lone }))).toMatchObject({
      kind: 'restart-replica',
      name: 'e1',
    });
  });

  it('drives any fleet to done without two members of a PG restarting together, zone after zone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (perZone, pgCount, maxBatchSize, seed) => {
          let fleet = nodes(perZone);
          // PGs: two random distinct nodes per zone.
          let state = seed >>> 0;
          const random = (n: number) => {
            state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
            return state % n;
          };
          const pgNodes = Array.from({ length: pgCount }, () =>
            ['a', 'b', 'c'].flatMap((zone) => {
              const first = random(perZone);
              const second = (first + 1 + random(perZone - 1)) % perZone;
              return [`${zone}${first + 1}`, `${zone}${second + 1}`];
            }),
          );
          const zonesSeen: string[] = [];
          for (let round = 0; round < 100; round++) {
            const step = planUpgrade({
              targetVersion: '2',
              nodes: fleet,
              pgNodes,
              engines: engines('2', '2'),
              maxBatchSize,
            });
            if (step.kind === 'done') return;
            expect(step.kind).toBe('restart-storage');
            if (step.kind !== 'restart-storage') return;
            expect(step.nodeIds.length).toBeGreaterThan(0);
            expect(step.nodeIds.length).toBeLessThanOrEqual(maxBatchSize);
            for (const pg of pgNodes)
              expect(pg.filter((node) => step.nodeIds.includes(node)).length).toBeLessThanOrEqual(1);
            if (zonesSeen.at(-1) !== step.zone) {
              expect(zonesSeen).not.toContain(step.zone);
              zonesSeen.push(step.zone);
            }
            fleet = fleet.map((node) =>
              step.nodeIds.includes(node.nodeId) ? { ...node, version: '2' } : node,
            );
          }
          throw new Error('the upgrade did not finish in 100 rounds');
        },
      ),
    );
  });
});
