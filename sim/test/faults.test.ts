/**
 * Proves the swarm fault generator varies the enabled fault kinds across seeds deterministically,
 * that the injector respects the fault budget (only permanent-loss nodes are ever wiped or
 * bit-flipped, each wiped at most once; at most `nodesDownMax` nodes down at once), and that
 * `heal()` ends every transient fault and brings every node back.
 */
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/cluster.js';
import {
  type FaultBudget,
  FaultInjector,
  type FaultPlan,
  generateFaultPlan,
  quietFaultPlan,
} from '../src/faults.js';
import { Prng } from '../src/prng.js';

function cluster(seed: number): SimCluster {
  const sim = new SimCluster({ seed, trace: { tailLines: 100_000 } });
  for (const [id, zone] of [
    ['n1', 'a'],
    ['n2', 'a'],
    ['n3', 'b'],
    ['n4', 'b'],
    ['n5', 'c'],
    ['n6', 'c'],
  ]) {
    sim.addNode({
      id: id!,
      zone: zone!,
      factory: (env) => {
        void (async () => {
          const file = await env.disk.open('/data');
          await file.write(0, new Uint8Array(64).fill(0xff));
          await file.sync();
        })().catch(() => undefined);
        return {};
      },
    });
  }
  return sim;
}

const allOn: FaultPlan = (() => {
  const plan = generateFaultPlan(
    new Prng(1),
    { permanentLossNodes: ['n5'] },
    { enableProbability: 1, timeScale: 0.2 },
  );
  return plan;
})();

describe('fault plans', () => {
  it('is a function of the seed, and enables different kinds on different seeds', () => {
    const budget = { permanentLossNodes: ['n5'] };
    expect(generateFaultPlan(new Prng(8), budget)).toEqual(generateFaultPlan(new Prng(8), budget));
    const signatures = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const plan = generateFaultPlan(new Prng(seed), budget);
      signatures.add(
        Object.entries(plan)
          .map(([kind, settings]) => `${kind}=${(settings as { enabled: boolean }).enabled}`)
          .join(','),
      );
    }
    expect(signatures.size).toBeGreaterThan(40);
  });

  it('never plans permanent loss without budget nodes', () => {
    for (let seed = 0; seed < 50; seed++) {
      const plan = generateFaultPlan(new Prng(seed), { permanentLossNodes: [] }, { enableProbability: 1 });
      expect(plan.wipes.enabled || plan.bitFlips.enabled).toBe(false);
    }
  });
});

describe('FaultInjector', () => {
  it('wipes and corrupts only budget nodes, each wiped at most once', async () => {
    const wiped = new Set<string>();
    let flipsSeen = 0;
    for (let seed = 0; seed < 10; seed++) {
      const sim = cluster(seed);
      const budget: FaultBudget = { permanentLossNodes: ['n5', 'n6'] };
      const injector = new FaultInjector(sim, allOn, budget);
      injector.start(3000);
      await sim.runUntil(3000);
      for (const node of sim.nodes) {
        if (node.wipes > 0) wiped.add(node.id);
        expect(node.wipes).toBeLessThanOrEqual(1);
      }
      const flips = sim.trace.tail().filter((line) => line.includes('fault bit-flip'));
      flipsSeen += flips.length;
      expect(flips.every((line) => / n[56] /.test(line))).toBe(true);
      expect(injector.counts.bitFlips).toBeGreaterThanOrEqual(flips.length);
      injector.heal();
    }
    expect([...wiped].sort()).toEqual(['n5', 'n6']);
    expect(flipsSeen).toBeGreaterThan(0);
  });

  it('keeps at most nodesDownMax nodes down', async () => {
    const sim = cluster(3);
    const injector = new FaultInjector(sim, allOn, { permanentLossNodes: [], nodesDownMax: 1 });
    injector.start(2000);
    let maxDown = 0;
    await sim.runUntil(() => {
      maxDown = Math.max(maxDown, sim.nodes.filter((node) => !node.running).length);
      return sim.nowMs() >= 2000;
    });
    expect(injector.counts.crashes).toBeGreaterThan(0);
    expect(maxDown).toBe(1);
  });

  it('heals everything: network, disks, object store, and restarts down nodes', async () => {
    const sim = cluster(5);
    const injector = new FaultInjector(sim, allOn, { permanentLossNodes: ['n5'] });
    injector.start(1000);
    await sim.runUntil(500);
    sim.network.isolateNode(sim.node('n1').id);
    injector.heal();
    expect(sim.nodes.every((node) => node.running)).toBe(true);
    expect(sim.network.faultRates).toMatchObject({
      dropProbability: 0,
      duplicateProbability: 0,
      reorderProbability: 0,
    });
    expect(sim.nodes.every((node) => node.disk.ioErrorProbability === 0)).toBe(true);
    expect(sim.objectStore.available).toBe(true);
    for (const from of sim.nodes) {
      for (const to of sim.nodes) expect(sim.network.isLinkUp(from.id, to.id)).toBe(true);
    }
    const crashesAtHeal = injector.counts.crashes;
    await sim.runUntil(2000);
    expect(injector.counts.crashes).toBe(crashesAtHeal);
  });

  it('injects nothing with a quiet plan', async () => {
    const sim = cluster(1);
    const injector = new FaultInjector(sim, quietFaultPlan(), { permanentLossNodes: ['n5'] });
    injector.start(1000);
    await sim.runUntil(1000);
    expect(Object.values(injector.counts).every((count) => count === 0)).toBe(true);
  });
});
