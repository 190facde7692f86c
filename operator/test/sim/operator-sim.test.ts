/**
 * The control plane in the simulator (docs/simulator.md, "The control plane in the simulator"): the
 * real repair and upgrade planners, executed by the simulated platform's executor, drive six real
 * storage cores, spares and the real quorum driver under a write load and seeded faults. Proves, on
 * pinned seeds of each workload (test/sim/workloads.ts; `npm run campaign` runs hundreds more):
 *   - repair: a storage node dies for good under load; every PG it hosted is re-replicated onto a
 *     spare of its zone within the grace period + 20 s of virtual time, through writer and
 *     control-plane crashes and transient faults on other nodes (repairs of those revert); nothing
 *     acknowledged is lost, VDL never goes back, joiners hold what was durable before they joined,
 *     and the layout ends two members per zone on distinct live nodes, with storage agreeing;
 *   - zone loss during repair: a node dies, its repairs begin, a whole other zone goes down and comes
 *     back; writes stall only while no write quorum is up and resume when a repair completes or the
 *     zone returns; repairs complete or revert, the layout ends valid;
 *   - upgrade under load: storage zone by zone in batches, then the writer restarted in place; at no
 *     simulator step does a PG have more than one member down; nothing acknowledged is lost.
 * It also proves the instruments can fail: a planted planner bug that completes a repair before the
 * joiner is hydrated is caught by the hydration checker, and one that restarts a whole zone at once
 * by the members-down checker. Repair seeds that draw the executor's bulk path (joiners filled from
 * peers' snapshots, half of them paced to a bandwidth limit) complete through crashes, and no
 * hydration outruns its limit. It pins the seeds of the two executor bugs the campaigns found (a
 * stray joiner never dropped; a workflow left open when the control plane dies after the writer took
 * the change), showing each with today's executor and passing with the proposed fix. And a seed
 * decides the run: the same seed twice gives the same trace hash.
 */
import { describe, expect, it } from 'vitest';
import { planRepairs } from '../../src/core/repair-plan.js';
import { planUpgrade } from '../../src/core/upgrade-plan.js';
import { type Planners, REAL_PLANNERS } from './control-plane.js';
import { runSeed, type SeedOutcome, type WorkloadName } from './workloads.js';

/** Pinned seeds, chosen so that together they take the rare paths their test names. */
const PINNED: Readonly<Record<WorkloadName | 'bulk', readonly number[]>> = {
  repair: [9, 28, 71],
  'zone-loss': [2, 5, 9],
  upgrade: [3, 7, 12],
  'catch-up': [0, 4, 10],
  // Repair seeds that draw the bulk path: 7 and 26 paced (a writer crash; six repairs and a transient
  // fault), 28 unpaced with repairs derived by a restarted control plane.
  bulk: [7, 26, 28],
};

/**
 * Repair and zone-loss seeds draw whether the executor fills joiners from peers' snapshots (its bulk
 * path). The seeds above were pinned before the simulator's executor had it: they run without it, on
 * the schedules they were chosen for.
 */
const AS_PINNED = { bulkHydration: false } as const;

const total = (outcomes: readonly SeedOutcome[], key: string) =>
  outcomes.reduce((sum, outcome) => sum + (outcome.stats[key] ?? 0), 0);

function passes(outcome: SeedOutcome): void {
  expect(outcome.violations, `${outcome.workload} seed ${outcome.seed}`).toEqual([]);
  expect(outcome.stats.acknowledged).toBeGreaterThan(100);
}

/**
 * Each test is pure CPU (seeds in virtual time); `npm test` runs this project beside the cluster
 * files, which take most of two cores, and then one pinned-seed test can take three times as long as
 * alone (the three catch-up seeds: about 20 s alone, over 60 s in CI on 2026-11-28, before the
 * workload sampled the cores' status every 10 ms instead of at every step: about 13 s alone since).
 * The bound only catches a hang.
 */
const SIMULATED_TEST_TIMEOUT_MS = 240_000;

describe('the control plane in the simulator', { timeout: SIMULATED_TEST_TIMEOUT_MS }, () => {
  it('repair under load: every PG of a dead node re-replicated in its zone, nothing lost', async () => {
    const outcomes: SeedOutcome[] = [];
    for (const seed of PINNED.repair) outcomes.push(await runSeed('repair', seed, AS_PINNED));
    for (const outcome of outcomes) {
      passes(outcome);
      expect(outcome.stats.repairsCompleted).toBeGreaterThanOrEqual(2);
    }
    expect(
      total(outcomes, 'repairsReverted'),
      'a node that comes back has its repair reverted',
    ).toBeGreaterThan(0);
    expect(total(outcomes, 'repairsDerived'), 'a restarted control plane derives repairs').toBeGreaterThan(0);
    expect(total(outcomes, 'writerCrashes'), 'the writer crashes mid-repair').toBeGreaterThan(0);
  });

  it('zone loss during repair: writes resume when quorum allows, repairs complete or revert', async () => {
    const outcomes: SeedOutcome[] = [];
    for (const seed of PINNED['zone-loss']) outcomes.push(await runSeed('zone-loss', seed, AS_PINNED));
    for (const outcome of outcomes) passes(outcome);
    expect(
      total(outcomes, 'repairsReverted'),
      'a repair of the lost zone reverts when it returns',
    ).toBeGreaterThan(0);
    expect(
      total(outcomes, 'completedDuringOutage'),
      'repairs complete while the zone is down',
    ).toBeGreaterThan(0);
    expect(total(outcomes, 'writesDuringOutage'), '… and writes resume before it returns').toBeGreaterThan(0);
    expect(total(outcomes, 'isolated'), 'a zone cut off').toBeGreaterThan(0);
    expect(total(outcomes, 'isolated'), 'a zone crashed').toBeLessThan(outcomes.length);
  });

  it('upgrade under load: never more than one member of a PG down, zones in order', async () => {
    const outcomes: SeedOutcome[] = [];
    for (const seed of PINNED.upgrade) outcomes.push(await runSeed('upgrade', seed));
    for (const outcome of outcomes) {
      passes(outcome);
      expect(outcome.stats.maxMembersDown).toBe(1);
      expect(outcome.stats.batches).toBe(6); // with two nodes per zone, one node per batch
    }
    expect(total(outcomes, 'controlPlaneCrashes'), 'the control plane restarts mid-upgrade').toBeGreaterThan(
      0,
    );
  });

  it('repair with the bulk path: joiners filled from peers’ snapshots, paced, through crashes', async () => {
    const outcomes: SeedOutcome[] = [];
    for (const seed of PINNED.bulk) outcomes.push(await runSeed('repair', seed));
    for (const outcome of outcomes) {
      passes(outcome);
      expect(outcome.stats.bulkHydration, `seed ${outcome.seed} draws the bulk path`).toBe(1);
      expect(outcome.stats.bulkHydrations, `seed ${outcome.seed}`).toBeGreaterThan(0);
      expect(outcome.stats.repairsCompleted).toBeGreaterThanOrEqual(2);
    }
    expect(
      outcomes.filter((outcome) => outcome.stats.hydrationLimit! > 0).length,
      'some paced (repairBandwidthPerNode)',
    ).toBeGreaterThan(0);
    expect(total(outcomes, 'writerCrashes'), 'the writer crashes mid-repair').toBeGreaterThan(0);
    expect(total(outcomes, 'repairsDerived'), 'a restarted control plane derives repairs').toBeGreaterThan(0);
  });

  it('catch-up: with no object store, members behind their peers’ GC are hydrated from a peer', async () => {
    const outcomes: SeedOutcome[] = [];
    for (const seed of PINNED['catch-up']) outcomes.push(await runSeed('catch-up', seed));
    for (const outcome of outcomes) {
      passes(outcome);
      expect(outcome.stats.repairsBegun, 'no repair: every outage is far shorter than the grace').toBe(0);
      expect(outcome.stats.behindPeerGcSeen, `seed ${outcome.seed} left a member behind`).toBeGreaterThan(0);
      expect(outcome.stats.catchUps, `seed ${outcome.seed}`).toBeGreaterThan(0);
    }
    expect(total(outcomes, 'writerCrashes'), 'the writer crashes meanwhile').toBeGreaterThan(0);
    expect(total(outcomes, 'controlPlaneCrashes'), 'the control plane too').toBeGreaterThan(0);
  });

  it('catches a member left behind its peers’ GC for good (the catch-up switched off)', async () => {
    // Without the catch-up (step 6 of src/io/repair-executor.ts) nothing fills such a member when
    // there is no backup: every pinned seed then fails its convergence check.
    const unfixed = await runSeed('catch-up', PINNED['catch-up'][0]!, {
      fixes: ['drop-stray-joiners', 'close-orphaned-workflows'],
      convergeLimitMs: 10_000,
    });
    expect(unfixed.violations.join('\n')).toMatch(
      /not converged .* pg\d+-s\d on s\d is behind its peers' GC/,
    );
  });

  it('catches a repair completed before its joiner is hydrated (planted bug)', async () => {
    const completesAtOnce: Planners = {
      ...REAL_PLANNERS,
      planRepairs: (input) =>
        planRepairs({
          ...input,
          sclOf: new Map([
            ...input.sclOf,
            ...input.inFlight.map((repair) => [repair.joiningSegment, repair.targetLsn] as const),
          ]),
        }),
    };
    const outcome = await runSeed('repair', PINNED.repair[0]!, { ...AS_PINNED, planners: completesAtOnce });
    expect(outcome.violations.join('\n')).toMatch(/completed the replacement by .* whose SCL/);
  });

  it('catches an upgrade that restarts a whole zone at once (planted bug)', async () => {
    const wholeZone: Planners = {
      ...REAL_PLANNERS,
      planUpgrade: (input) => {
        const step = planUpgrade(input);
        if (step.kind !== 'restart-storage') return step;
        const zone = input.nodes.filter(
          (node) => node.zone === step.zone && node.version !== input.targetVersion,
        );
        return { ...step, nodeIds: zone.map((node) => node.nodeId) };
      },
    };
    const outcome = await runSeed('upgrade', PINNED.upgrade[0]!, { planners: wholeZone });
    expect(outcome.violations.join('\n')).toMatch(/PG \d+ has 2 members down/);
  });

  // Bugs the campaigns found in src/io/repair-executor.ts, now fixed there and in the sim executor
  // (docs/simulator.md, "The control plane in the simulator"). Each seed still shows its bug with the
  // fix switched off, so the seed keeps exercising it; with the fix (the default) it passes.
  it('runs zone-loss seed 26 clean (it pinned a joiner whose begin never reached the writer)', async () => {
    // With the fix switched off this seed showed "s8 still holds pg3-s8-m4 (membership epoch 4), not
    // a member" until the engine batched adaptively and learned newer memberships from storage
    // (2026-11-26); both changed its schedule, and it no longer reaches that state either way (also
    // replayed with `driverOptions: { roundsInFlightMax: 0 }`). No seed of 0–693 shows the bug with
    // the fix off now: the fix has no pinned reproducer until a campaign finds one (known gap).
    const fixed = await runSeed('zone-loss', 26, AS_PINNED);
    expect(fixed.violations).toEqual([]);
  });

  it('pins zone-loss seed 694: a batch held behind a round in flight goes out at its deadline', async () => {
    // The engine's adaptive batching once set its hold timer again for the few femtoseconds a timer
    // had fired early by (floating-point rounding), which the simulator's clock runs at no time at
    // all: a livelock, the event budget exhausted at 5.65 s (quorum-driver.ts, HOLD_SLACK_MS).
    passes(await runSeed('zone-loss', 694, AS_PINNED));
  });

  it('pins repair seed 257: a change the writer took after the control plane died is closed in the journal', async () => {
    const unfixed = await runSeed('repair', 257, {
      ...AS_PINNED,
      convergeLimitMs: 5_000,
      fixes: ['drop-stray-joiners'],
    });
    expect(unfixed.violations.join('\n')).toMatch(
      /repair-pg1-m2 \(joiner pg1-s8-m2\) never completed nor reverted/,
    );
    const fixed = await runSeed('repair', 257, AS_PINNED);
    expect(fixed.violations).toEqual([]);
  });

  it('replays: the same seed gives the same run', async () => {
    const first = await runSeed('repair', PINNED.bulk[1]!);
    const second = await runSeed('repair', PINNED.bulk[1]!);
    expect(first.stats.bulkHydrations, 'a run with snapshots and the pacer').toBeGreaterThan(0);
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.stats).toEqual(first.stats);
  });
});
