/**
 * The control plane's simulator workloads: the real planners (`planRepairs`, `planUpgrade`) driving a
 * simulated cluster (real storage cores, the real quorum driver and volume directory) under a write
 * load, each seed drawing its own mix of knobs (swarm testing). Each `run…Seed(seed)` replays exactly
 * and returns the violations its checkers found (checkers.ts, harness.ts) and its stats.
 *
 *  - repair: one storage node of s1…s6 dies for good (power loss, maybe its disk destroyed) under
 *    load, with transient faults on the others (crashes and isolations, one node at a time, some
 *    longer than the grace period, so repairs of nodes that come back begin and revert), writer
 *    crashes and control-plane crashes. Checked: every acknowledged commit survives (every recovery
 *    and a final one), VDL never goes back, joiners hold what was durable before they joined, writes
 *    go on whenever quorum allows, every PG ends with one configuration of two members per zone on
 *    distinct live nodes that storage agrees with, every repair ends, none of the dead node reverts,
 *    and the dead node is replaced within the grace period plus `REPAIR_BOUND_MS` of virtual time.
 *  - zone-loss: a node dies, and once its repairs have begun a whole other zone goes down (its two
 *    storage nodes, and its spares or not; crashed or cut off) before they complete, for up to three
 *    grace periods, then comes back. Writes stall while the old configuration lacks a write quorum and
 *    resume when a repair completes or the zone returns (the liveness checker); the zone's own
 *    members may get repairs that revert when it returns. The same checks as repair.
 *  - upgrade: `planUpgrade` step by step to version v2: storage nodes restarted batch by batch
 *    (graceful stop, process crash or power loss, then a start on the same disk after a random
 *    downtime), then the lone writer restarted in place (its recovery checked: the simulated platform
 *    has no replica to switch over to), with control-plane crashes. Checked at every step: no PG ever
 *    has more than one member down; zones in name order; every member on v2 at the end; and the
 *    checks of repair that apply.
 *  - catch-up: no object store (`objectStore: none`), a grace period far longer than any outage, so
 *    nothing is repaired: storage nodes go down one at a time (crashed or cut off) for long enough
 *    that their peers collect their logs past what they hold, and come back, under load, with writer
 *    and control-plane crashes. A member back after its peers' GC cannot catch up by gossip and has
 *    no backup: the control plane must hydrate it from a peer's snapshot. Checked: the checks of
 *    repair that apply, and at the end every member on a live node is caught up (not behind its
 *    peers' GC, its SCL at the PG's head when healing began).
 */

import { allMembers } from '@northlight/protocol';
import type { DriverOptions } from '../../../db-engine/src/core/quorum-driver.js';
import { seededRandom } from '../../../db-engine/test/support/seeded.js';
import { STORAGE_NODES } from '../../../db-engine/test/support/sim-volume.js';
import { HYDRATION_BURST_MS } from '../../../storage-node/src/core/hydration-pacer.js';
import { membershipOf, pgHeads } from '../../src/io/repair-executor.js';
import { MembersDownChecker } from './checkers.js';
import { EXECUTOR_FIXES, type ExecutorFix, type Planners, REAL_PLANNERS } from './control-plane.js';
import { RunAborted, SimWorld, type WorldKnobs } from './harness.js';
import { INITIAL_VERSION, type StopMode } from './sim-platform.js';

export type WorkloadName = 'repair' | 'zone-loss' | 'upgrade' | 'catch-up';
export const WORKLOADS: readonly WorkloadName[] = ['repair', 'zone-loss', 'upgrade', 'catch-up'];

export interface SeedOutcome {
  readonly workload: WorkloadName;
  readonly seed: number;
  readonly violations: readonly string[];
  readonly stats: Readonly<Record<string, number>>;
  /** The hash of the run's trace: the same seed gives the same hash (`sim/` replay). */
  readonly traceHash: string;
}

/** The dead node's PGs are all repaired within the grace period plus this (virtual time). */
export const REPAIR_BOUND_MS = 20_000;
/** After healing, the cluster converges within this (virtual time). */
const CONVERGE_LIMIT_MS = 40_000;
/** How often the catch-up workload counts members behind their peers' GC (virtual ms). */
const BEHIND_SAMPLE_MS = 10;
const ZONES = ['a', 'b', 'c'] as const;
const UPGRADE_TARGET = 'v2';

export interface SeedOptions {
  /** The real planners by default; a test plants a bug around them to prove the checkers. */
  readonly planners?: Planners;
  /** The executor's bug fixes (control-plane.ts `ExecutorFix`); all by default, as the real executor. */
  readonly fixes?: readonly ExecutorFix[];
  /** How long the cluster has to converge after healing (virtual ms; default 40 s). */
  readonly convergeLimitMs?: number;
  /** Overrides for the writer's driver (the engine's batching changes every seed's schedule). */
  readonly driverOptions?: Partial<DriverOptions>;
  /**
   * Repair and zone-loss: whether the executor fills joiners from peers' snapshots (its bulk path,
   * `ControlPlaneConfig.bulkHydration`). Drawn per seed by default; a pinned bug seed turns it off to
   * keep the schedule it was found with.
   */
  readonly bulkHydration?: boolean;
}

export function runSeed(
  workload: WorkloadName,
  seed: number,
  options: SeedOptions = {},
): Promise<SeedOutcome> {
  switch (workload) {
    case 'repair':
      return runRepairSeed(seed, options);
    case 'zone-loss':
      return runZoneLossSeed(seed, options);
    case 'upgrade':
      return runUpgradeSeed(seed, options);
    case 'catch-up':
      return runCatchUpSeed(seed, options);
  }
}

/** Knobs every workload draws the same way; spares and limits are the workload's. */
function drawKnobs(
  seed: number,
  random: () => number,
  more: Pick<WorldKnobs, 'spares' | 'limits' | 'stopModes' | 'restartDownMs'>,
): WorldKnobs {
  const rate = (max: number) => (random() < 0.5 ? 0 : random() * max);
  return {
    seed,
    random,
    network: {
      dropProbability: rate(0.03),
      duplicateProbability: rate(0.03),
      reorderProbability: rate(0.08),
    },
    pgs: 2 + Math.floor(random() * 3),
    roundMs: 100 + Math.floor(random() * 200),
    requestTimeoutMs: 1_000,
    groupIntervalMs: 4 + random() * 8,
    groupsInFlightMax: 8 + Math.floor(random() * 24),
    livenessLimitMs: 5_000,
    ...more,
  };
}

/** `perZone` spare storage nodes in each zone (s7, s8, …), holding no PG. */
function drawSpares(random: () => number, perZoneMin: number, perZoneMax: number): [string, string][] {
  const spares: [string, string][] = [];
  let next = STORAGE_NODES.length + 1;
  for (const zone of ZONES) {
    const count = perZoneMin + Math.floor(random() * (perZoneMax - perZoneMin + 1));
    for (let index = 0; index < count; index++) spares.push([`s${next++}`, zone]);
  }
  return spares;
}

function storageIn(world: SimWorld, zone: string): string[] {
  return world.platform.storageNodes.filter((node) => node.zone === zone).map((node) => node.nodeId);
}

/**
 * Transient faults on storage nodes other than the permanently lost ones: one node at a time, crashed
 * (power loss or process) or isolated from everyone, for 50 ms to `downMsMax`. The end of a fault is
 * a scheduled event, so it comes on time even while the load waits for the writer.
 */
class TransientFaults {
  #down: { node: string; kind: 'crash' | 'isolate' } | undefined;
  count = 0;

  constructor(
    private readonly world: SimWorld,
    private readonly candidates: readonly string[],
    private readonly probability: number,
    private readonly downMsMax: number,
  ) {}

  step(): void {
    const { cluster, random } = this.world;
    if (this.#down !== undefined || this.candidates.length === 0 || random() >= this.probability) return;
    const node = this.candidates[Math.floor(random() * this.candidates.length)]!;
    const kind = random() < 0.7 ? 'crash' : 'isolate';
    if (kind === 'crash') {
      if (!cluster.node(node).running) return;
      cluster.crash(node, { kind: random() < 0.5 ? 'power-loss' : 'process' });
    } else cluster.network.isolateNode(node as never);
    const down = { node, kind } as const;
    this.#down = down;
    this.count++;
    cluster.after(50 + random() * (this.downMsMax - 50), `transient-heal ${node}`, () => {
      if (this.#down === down) this.heal();
    });
  }

  heal(): void {
    const down = this.#down;
    if (down === undefined) return;
    if (down.kind === 'crash') this.world.cluster.start(down.node);
    else this.world.cluster.network.restoreNode(down.node as never);
    this.#down = undefined;
  }
}

/** Writer and control-plane crashes, each with its probability per load step. */
function processCrashes(world: SimWorld, writerProbability: number, controlPlaneProbability: number) {
  const counts = { writerCrashes: 0, controlPlaneCrashes: 0 };
  const step = () => {
    if (world.random() < writerProbability) {
      world.crashWriter();
      counts.writerCrashes++;
    }
    if (world.random() < controlPlaneProbability && world.cluster.node('op').running) {
      world.crashControlPlane(50 + world.random() * 1_000);
      counts.controlPlaneCrashes++;
    }
  };
  return { counts, step };
}

/** Watches for the moment no PG has a member on `dead` and none is changing. */
function repairedWatch(world: SimWorld, dead: string) {
  const watch = { repairedAtMs: undefined as number | undefined };
  world.onStep = (placements) => {
    if (watch.repairedAtMs !== undefined || placements === undefined) return;
    const done = placements.every(
      (placement) =>
        placement.quorumSet.configurations.length === 1 &&
        placement.members.every((member) => placement.nodeOf.get(member) !== dead),
    );
    if (done) watch.repairedAtMs = world.nowMs;
  };
  return watch;
}

async function guarded(
  workload: WorkloadName,
  seed: number,
  world: SimWorld,
  body: () => Promise<Record<string, number>>,
): Promise<SeedOutcome> {
  let extra: Record<string, number> = {};
  try {
    extra = await body();
  } catch (error) {
    if (!(error instanceof RunAborted)) throw error;
    world.violations.add(`aborted: ${error.message}`);
  }
  return {
    workload,
    seed,
    violations: world.violations.list,
    stats: { ...world.stats(), ...extra },
    traceHash: world.cluster.trace.hashHex(),
  };
}

/** The control plane of a workload: the real planners (or a test's), the executor's fixes, the knobs. */
function startControlPlane(
  world: SimWorld,
  knobs: WorldKnobs,
  options: SeedOptions,
  upgradeTo: string | undefined,
): void {
  world.platform.startControlPlane({
    planners: options.planners ?? REAL_PLANNERS,
    fixes: new Set(options.fixes ?? EXECUTOR_FIXES),
    roundMs: knobs.roundMs,
    limits: knobs.limits,
    requestTimeoutMs: knobs.requestTimeoutMs,
    upgradeTo,
    ...(knobs.hydrationBytesPerSecond === undefined
      ? {}
      : { hydrationBytesPerSecond: knobs.hydrationBytesPerSecond }),
    ...(knobs.bulkHydration === undefined ? {} : { bulkHydration: knobs.bulkHydration }),
  });
}

/**
 * What the repair and zone-loss workloads draw alike, in this order (a seed's run depends on it): the
 * node that dies, the grace period, the knobs; and the world.
 */
function drawNodeLoss(seed: number, options: SeedOptions) {
  const random = seededRandom(seed);
  const dead = STORAGE_NODES[Math.floor(random() * STORAGE_NODES.length)]![0];
  const gracePeriodMs = 400 + random() * 1_100;
  const knobs = drawKnobs(seed, random, {
    spares: drawSpares(random, 1, 2),
    limits: {
      gracePeriodMs,
      maxPerNode: 1 + Math.floor(random() * 3),
      maxTotal: 1 + Math.floor(random() * 6),
    },
    stopModes: ['process'],
    restartDownMs: [0, 0],
  });
  const hydration = drawBulkHydration(seed);
  const withHydration: WorldKnobs = {
    ...knobs,
    bulkHydration: options.bulkHydration ?? hydration.bulkHydration,
    hydrationBytesPerSecond: hydration.hydrationBytesPerSecond,
  };
  const world = new SimWorld(
    options.driverOptions === undefined
      ? withHydration
      : { ...withHydration, driverOptions: options.driverOptions },
  );
  return { random, dead, gracePeriodMs, knobs: withHydration, world };
}

/**
 * Repair and zone-loss: half the seeds fill joiners from peers' snapshots (the executor's bulk path),
 * and half of those pace them (as `drawHydrationLimit`). A stream of its own, so the seeds' other
 * draws do not move.
 */
function drawBulkHydration(seed: number): { bulkHydration: boolean; hydrationBytesPerSecond: number } {
  const random = seededRandom(seed ^ 0x0b01_c0de);
  const bulkHydration = random() < 0.5;
  return {
    bulkHydration,
    hydrationBytesPerSecond:
      bulkHydration && random() < 0.5 ? Math.round(64 * 1024 * (1 + random() * 0.5)) : 0,
  };
}

/** Every bulk hydration that ended well, from the journal's notes (a repair's joiner or a catch-up). */
function hydrationsOf(world: SimWorld): { segment: string; bytes: number; ms: number }[] {
  return world.platform.journal.entries.flatMap(({ entry }) => {
    const match = entry.kind === 'note' ? HYDRATED.exec(entry.text) : null;
    return match === null ? [] : [{ segment: match[2]!, bytes: Number(match[3]), ms: Number(match[4]) }];
  });
}

/** The bulk hydrations' figures, and a violation for each that outran the seed's limit. */
function hydrationStats(world: SimWorld): {
  bulkHydration: number;
  hydrationLimit: number;
  bulkHydrations: number;
  hydratedBytes: number;
} {
  const hydrations = hydrationsOf(world);
  const limit = world.knobs.hydrationBytesPerSecond ?? 0;
  for (const problem of paceProblems(hydrations, limit)) world.violations.add(`hydration pace: ${problem}`);
  return {
    bulkHydration: world.knobs.bulkHydration === true ? 1 : 0,
    hydrationLimit: limit,
    bulkHydrations: hydrations.length,
    hydratedBytes: hydrations.reduce((sum, hydration) => sum + hydration.bytes, 0),
  };
}

export async function runRepairSeed(seed: number, options: SeedOptions = {}): Promise<SeedOutcome> {
  const { random, dead, gracePeriodMs, knobs, world } = drawNodeLoss(seed, options);
  return guarded('repair', seed, world, async () => {
    startControlPlane(world, knobs, options, undefined);
    await world.start();
    const others = world.platform.storageNodes.map((node) => node.nodeId).filter((node) => node !== dead);
    const transient = new TransientFaults(
      world,
      others,
      random() < 0.3 ? 0 : random() * 0.01,
      1.5 * gracePeriodMs,
    );
    const crashes = processCrashes(world, random() * 0.001, random() * 0.002);
    await world.load(() => false, 200 + random() * 600);
    const deathAtMs = world.nowMs;
    world.cluster.crash(dead, { kind: 'power-loss' });
    if (random() < 0.5) world.cluster.wipe(dead);
    world.neverBack.add(dead);
    const watch = repairedWatch(world, dead);
    await world.load(
      () => watch.repairedAtMs !== undefined,
      gracePeriodMs + REPAIR_BOUND_MS,
      () => {
        transient.step();
        crashes.step();
      },
    );
    transient.heal();
    const repairMs = (watch.repairedAtMs ?? world.nowMs) - deathAtMs;
    if (watch.repairedAtMs === undefined)
      world.violations.add(
        `${dead} was not repaired within the grace period + ${REPAIR_BOUND_MS} ms (${repairMs.toFixed(0)} ms)`,
      );
    await world.finish(options.convergeLimitMs ?? CONVERGE_LIMIT_MS);
    return {
      repairMs: Math.round(repairMs),
      transientFaults: transient.count,
      ...hydrationStats(world),
      ...crashes.counts,
    };
  });
}

export async function runZoneLossSeed(seed: number, options: SeedOptions = {}): Promise<SeedOutcome> {
  const { random, dead, gracePeriodMs, knobs, world } = drawNodeLoss(seed, options);
  return guarded('zone-loss', seed, world, async () => {
    startControlPlane(world, knobs, options, undefined);
    await world.start();
    const crashes = processCrashes(world, random() * 0.0005, random() * 0.002);
    await world.load(() => false, 200 + random() * 600);
    world.cluster.crash(dead, { kind: 'power-loss' });
    world.neverBack.add(dead);
    const deadZone = world.platform.zoneOf(dead);
    const watch = repairedWatch(world, dead);
    const begun = () => world.platform.journal.entries.some(({ entry }) => entry.kind === 'begin');
    if (!(await world.load(begun, gracePeriodMs + 10_000, crashes.step)))
      world.violations.add(`no repair of ${dead} began within the grace period + 10 s`);
    await world.load(() => false, random() * 300, crashes.step);
    // A whole other zone goes down, before the repairs complete (or not long after).
    const lostZone = ZONES.filter((zone) => zone !== deadZone)[Math.floor(random() * 2)]!;
    const zoneNodes = storageIn(world, lostZone).filter(
      (node) => Number(node.slice(1)) <= STORAGE_NODES.length || random() < 0.5,
    );
    const isolate = random() < 0.5;
    const outageMs = 300 + random() * 3 * gracePeriodMs;
    // Coverage: repairs completed while the zone was down, and writes that went on meanwhile.
    const outageStartedAtMs = world.nowMs;
    const writerAtOutage = world.platform.driver();
    const vdlAtOutage = writerAtOutage?.vdl;
    let completedDuringOutage = 0;
    let writesDuringOutage = false;
    for (const node of zoneNodes) {
      if (isolate) world.cluster.network.isolateNode(node as never);
      else world.cluster.crash(node, { kind: random() < 0.5 ? 'power-loss' : 'process' });
    }
    // The zone comes back on time even while the load waits for a writer that cannot recover without it.
    let zoneBack = false;
    world.cluster.after(outageMs, `zone-back ${lostZone}`, () => {
      for (const node of zoneNodes) {
        if (isolate) world.cluster.network.restoreNode(node as never);
        else world.cluster.start(node);
      }
      zoneBack = true;
      completedDuringOutage = world.platform.journal.entries.filter(
        ({ atMs, entry }) => entry.kind === 'complete' && atMs >= outageStartedAtMs,
      ).length;
      const vdl = world.platform.driver() === writerAtOutage ? writerAtOutage?.vdl : undefined;
      writesDuringOutage = vdl !== undefined && vdlAtOutage !== undefined && vdl > vdlAtOutage;
    });
    await world.load(() => zoneBack, outageMs + 60_000, crashes.step);
    await world.load(() => watch.repairedAtMs !== undefined, REPAIR_BOUND_MS, crashes.step);
    if (watch.repairedAtMs === undefined)
      world.violations.add(`${dead} was not repaired ${REPAIR_BOUND_MS} ms after zone ${lostZone} came back`);
    await world.finish(options.convergeLimitMs ?? CONVERGE_LIMIT_MS);
    return {
      outageMs: Math.round(outageMs),
      zoneNodesDown: zoneNodes.length,
      isolated: isolate ? 1 : 0,
      completedDuringOutage,
      writesDuringOutage: writesDuringOutage ? 1 : 0,
      ...hydrationStats(world),
      ...crashes.counts,
    };
  });
}

export async function runCatchUpSeed(seed: number, options: SeedOptions = {}): Promise<SeedOutcome> {
  const random = seededRandom(seed);
  const knobs: WorldKnobs = {
    ...drawKnobs(seed, random, {
      spares: [],
      // Far longer than any outage below: no repair ever begins, a member that returns stays.
      limits: { gracePeriodMs: 600_000, maxPerNode: 1, maxTotal: 1 },
      stopModes: ['process'],
      restartDownMs: [0, 0],
    }),
    backups: false,
    hydrationBytesPerSecond: drawHydrationLimit(seed),
    ...(options.driverOptions === undefined ? {} : { driverOptions: options.driverOptions }),
  };
  const world = new SimWorld(knobs);
  return guarded('catch-up', seed, world, async () => {
    startControlPlane(world, knobs, options, undefined);
    await world.start();
    const crashes = processCrashes(world, random() * 0.0005, random() * 0.002);
    const nodes = world.platform.storageNodes.map((node) => node.nodeId);
    const outages = 1 + Math.floor(random() * 3);
    let behindSeen = 0;
    const behindNow = () =>
      nodes.reduce(
        (count, node) =>
          count +
          (world.platform.storageSegments(node) ?? []).filter((segment) => segment.behindPeerGc).length,
        0,
      );
    for (let outage = 0; outage < outages; outage++) {
      await world.load(() => false, 200 + random() * 800, crashes.step);
      const node = nodes[Math.floor(random() * nodes.length)]!;
      const isolate = random() < 0.3;
      if (isolate) world.cluster.network.isolateNode(node as never);
      else world.cluster.crash(node, { kind: random() < 0.5 ? 'power-loss' : 'process' });
      // Long enough for the peers to materialize and collect past what it holds (1 s steps).
      await world.load(() => false, 2_500 + random() * 3_000, crashes.step);
      if (isolate) world.cluster.network.restoreNode(node as never);
      else world.cluster.start(node);
      // Sampled every BEHIND_SAMPLE_MS, not at every step: it reads every core's status (which was
      // 40% of this workload's CPU). A member stays behind until a catch-up fills it, far longer.
      let sampledAtMs = Number.NEGATIVE_INFINITY;
      await world.load(
        () => {
          if (world.nowMs - sampledAtMs >= BEHIND_SAMPLE_MS) {
            sampledAtMs = world.nowMs;
            behindSeen = Math.max(behindSeen, behindNow());
          }
          return false;
        },
        300 + random() * 1_500,
        crashes.step,
      );
    }
    // Healing began: every member on a live node must reach its PG's head as of now, and not be behind.
    const placements = world.platform.writer()?.pgs.map(membershipOf) ?? [];
    const segmentsOf = new Map(
      nodes.flatMap((node) => {
        const segments = world.platform.storageSegments(node);
        return segments === undefined ? [] : [[node, segments] as const];
      }),
    );
    const marks = pgHeads(placements, segmentsOf);
    await world.finish(options.convergeLimitMs ?? CONVERGE_LIMIT_MS, () => caughtUpProblems(world, marks));
    const { bulkHydrations, ...figures } = hydrationStats(world);
    return { outages, behindPeerGcSeen: behindSeen, catchUps: bulkHydrations, ...figures, ...crashes.counts };
  });
}

/**
 * A bulk hydration's journal note (control-plane.ts `#hydrateJoiners`, `#catchUp`): the segment,
 * the bytes it took in, over how long.
 */
const HYDRATED = /^(hydration|catch-up): (\S+) on \S+ from \S+: (\d+) bytes in (\d+) ms, SCL \d+$/;

/**
 * Half the seeds pace hydrations (the spec's `repairBandwidthPerNode`) at 64 KiB/s (the least a node
 * takes) to 96 KiB/s: the simulator's segments are small (snapshots of 5–15 KB), so only so low a
 * limit bites beyond the burst an idle node may send, and stretches a snapshot from milliseconds to
 * about a tenth of a second, long enough for crashes and partitions to land in it. Drawn from a
 * stream of its own: the other draws of a seed, and so what its pinned runs do, are not moved.
 */
function drawHydrationLimit(seed: number): number {
  const random = seededRandom(seed ^ 0x5eed_1a7e);
  return random() < 0.5 ? 0 : Math.round(64 * 1024 * (1 + random() * 0.5));
}

/**
 * The pacer's contract (storage-node hydration-pacer.ts): a hydration that took in `bytes` over `ms`
 * never ran ahead of the limit by more than the burst an idle node may send (plus the waits too short
 * to sleep).
 */
function paceProblems(
  catchUps: readonly { segment: string; bytes: number; ms: number }[],
  bytesPerSecond: number,
): string[] {
  if (bytesPerSecond === 0) return [];
  return catchUps.flatMap(({ segment, bytes, ms }) => {
    const allowed = (bytesPerSecond * (ms + HYDRATION_BURST_MS + 2)) / 1000;
    return bytes > allowed
      ? [
          `${segment} took in ${bytes} bytes in ${ms} ms: above ${bytesPerSecond} bytes/s (at most ${Math.floor(allowed)})`,
        ]
      : [];
  });
}

/** Members on serving nodes that are behind their peers' GC, or below their PG's head at `marks`. */
function caughtUpProblems(world: SimWorld, marks: ReadonlyMap<number, bigint>): string[] {
  const problems: string[] = [];
  const placements = world.platform.writer()?.pgs.map(membershipOf);
  if (placements === undefined) return ['the writer does not serve'];
  for (const pg of placements) {
    for (const member of allMembers(pg.quorumSet)) {
      const node = pg.nodeOf[member]!;
      const held = world.platform.storageSegments(node)?.find((segment) => segment.segmentId === member);
      if (held === undefined) continue; // a node down: the liveness checks cover it
      const mark = marks.get(pg.pgId) ?? 0n;
      if (held.behindPeerGc === true) problems.push(`${member} on ${node} is behind its peers' GC`);
      else if (BigInt(held.scl) < mark) problems.push(`${member} on ${node} at SCL ${held.scl} < ${mark}`);
    }
  }
  return problems;
}

export async function runUpgradeSeed(seed: number, options: SeedOptions = {}): Promise<SeedOutcome> {
  const random = seededRandom(seed);
  const modes = (['graceful', 'process', 'power-loss'] as const).filter(() => random() < 0.6);
  const stopModes: StopMode[] = modes.length > 0 ? [...modes] : ['process'];
  const knobs = drawKnobs(seed, random, {
    spares: drawSpares(random, 0, 1),
    // Longer than any restart: an upgrade's restart never looks like a failure to repair.
    limits: { gracePeriodMs: 5_000, maxPerNode: 1, maxTotal: 4 },
    stopModes,
    restartDownMs: [10, 50 + random() * 500],
  });
  const world = new SimWorld(knobs);
  return guarded('upgrade', seed, world, async () => {
    await world.start();
    world.membersDown = new MembersDownChecker();
    await world.load(() => false, 200 + random() * 600);
    startControlPlane(world, knobs, options, UPGRADE_TARGET);
    const crashes = processCrashes(world, 0, random() * 0.002);
    const steps = () =>
      world.platform.journal.entries.flatMap(({ entry }) => (entry.kind === 'upgrade' ? [entry.step] : []));
    const startedAtMs = world.nowMs;
    const done = await world.load(() => steps().some((step) => step.kind === 'done'), 120_000, crashes.step);
    const upgradeMs = world.nowMs - startedAtMs;
    if (!done) world.violations.add(`the upgrade did not finish in 120 s: ${JSON.stringify(steps().at(-1))}`);
    const members = [...world.platform.storageNodes.map((node) => node.nodeId), 'e1'];
    const behind = () =>
      members
        .filter((member) => world.platform.versionOf(member) !== UPGRADE_TARGET)
        .map((member) => `${member} runs ${world.platform.versionOf(member) ?? INITIAL_VERSION}`);
    await world.finish(options.convergeLimitMs ?? CONVERGE_LIMIT_MS, behind);
    const restarted = steps().flatMap((step) => (step.kind === 'restart-storage' ? step.nodeIds : []));
    const zones = steps().flatMap((step) => (step.kind === 'restart-storage' ? [step.zone] : []));
    if (zones.some((zone, index) => index > 0 && zone < zones[index - 1]!))
      world.violations.add(`zones upgraded out of name order: ${zones.join(',')}`);
    const twice = restarted.filter((node, index) => restarted.indexOf(node) !== index);
    if (twice.length > 0) world.violations.add(`storage nodes restarted twice: ${twice.join(',')}`);
    return {
      upgradeMs: Math.round(upgradeMs),
      batches: zones.length,
      maxMembersDown: world.membersDown.maxDown,
      ...crashes.counts,
    };
  });
}
