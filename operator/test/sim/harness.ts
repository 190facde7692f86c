/**
 * What the control plane's simulator workloads share (workloads.ts): the simulated platform with the
 * control plane running in it, the write load, and the checkers sampled before every simulator step.
 *
 * The write load plays the SQL kernel as the driver workload does (db-engine/test/support/
 * driver-workload.ts): groups of whole-page images, each page stamped with its group, recorded in a
 * `GroupHistory`. Every PG is written once at the start, and the load stays within those PGs, so the
 * volume does not grow during a run (the engine's directory places a new PG on s1…s6 whatever is
 * dead; placing new PGs is not yet the control plane's job, docs/control-plane.md). At most
 * `groupsInFlightMax` groups wait at a time, as a pool of clients would.
 *
 * Whenever the writer comes back as a new incarnation (a crash the workload injects, or an upgrade
 * restarting it), the history is checked against the recovered volume: every acknowledged group, a
 * prefix of the others, nothing half applied. `finish` (once the workload has healed its faults) lets
 * the control plane converge under load, waits for every group to be durable, and restarts the writer
 * one last time for the final check. A process that logs at ERROR fails the run (STYLE.md §10: ERROR
 * means a human must look, and nothing here is expected to need one).
 */
import { NorthlightError } from '@northlight/protocol';
import type { SimCluster } from '@northlight/sim';
import type { QuorumDriver } from '../../../db-engine/src/core/quorum-driver.js';
import type { PgPlacement } from '../../../db-engine/src/core/volume.js';
import { GroupHistory } from '../../../db-engine/test/support/driver-workload.js';
import { type EngineHandle, PAGES_PER_PG } from '../../../db-engine/test/support/sim-volume.js';
import type { RepairLimits } from '../../src/core/repair-plan.js';
import {
  HydrationChecker,
  journalProblems,
  LivenessChecker,
  layoutProblems,
  type MembersDownChecker,
  storageProblems,
  VdlChecker,
  Violations,
  writeQuorumUp,
} from './checkers.js';
import { OPERATOR, type PlatformOptions, SimPlatform, WRITER } from './sim-platform.js';

export interface WorldKnobs extends PlatformOptions {
  readonly pgs: number;
  readonly roundMs: number;
  readonly limits: RepairLimits;
  readonly requestTimeoutMs: number;
  /** Mean virtual time between two groups the load submits. */
  readonly groupIntervalMs: number;
  readonly groupsInFlightMax: number;
  readonly livenessLimitMs: number;
  /** Sent with every hydrate request (the spec's `repairBandwidthPerNode`); absent: not sent. */
  readonly hydrationBytesPerSecond?: number;
  /** The executor's bulk path for repairs' joiners (`ControlPlaneConfig.bulkHydration`). */
  readonly bulkHydration?: boolean;
}

const CONVERGENCE_CHECK_MS = 50;

/** Why a run cannot go on (the writer never came back, the cluster never converged). */
export class RunAborted extends Error {}

export class SimWorld {
  readonly platform: SimPlatform;
  readonly cluster: SimCluster;
  readonly history: GroupHistory;
  readonly knobs: WorldKnobs;
  readonly violations = new Violations();
  readonly vdl = new VdlChecker();
  readonly liveness: LivenessChecker;
  readonly hydration = new HydrationChecker();
  /** Set by a workload that checks it (the upgrade). */
  membersDown: MembersDownChecker | undefined;
  /** Called at every step after the checkers (a workload's own measurements). */
  onStep: ((placements: readonly PgPlacement[] | undefined) => void) | undefined;
  /** Storage nodes that are gone for good (their repairs must never revert). */
  readonly neverBack = new Set<string>();
  recoveries = 0;
  /** How long `finish` took to converge (virtual ms). */
  convergeMs = 0;
  #checkedHandle: EngineHandle | undefined;
  #hookedHandle: EngineHandle | undefined;
  #placements: readonly PgPlacement[] | undefined;
  #sampling = false;

  constructor(knobs: WorldKnobs) {
    this.knobs = knobs;
    this.platform = new SimPlatform(knobs);
    this.cluster = this.platform.cluster;
    this.history = new GroupHistory(this.platform.volume);
    this.liveness = new LivenessChecker(knobs.livenessLimitMs);
    this.platform.volume.stepObserver = () => this.#sample();
  }

  get random(): () => number {
    return this.knobs.random;
  }

  get nowMs(): number {
    return this.cluster.nowMs();
  }

  /** The writer's layouts, as last seen (kept while it restarts). */
  get placements(): readonly PgPlacement[] {
    return this.#placements ?? [];
  }

  // ---- time ---------------------------------------------------------------------------------------

  /** Runs the simulation for `ms`, sampling the checkers before every step. */
  async run(ms: number): Promise<void> {
    await this.cluster.runUntil(
      () => {
        this.#sample();
        return false;
      },
      { timeLimitMs: this.nowMs + ms },
    );
  }

  /** Runs until `predicate` holds (sampling every step) or `limitMs` passed; whether it holds. */
  async until(predicate: () => boolean, limitMs: number): Promise<boolean> {
    await this.cluster.runUntil(
      () => {
        this.#sample();
        return predicate();
      },
      { timeLimitMs: this.nowMs + limitMs },
    );
    return predicate();
  }

  /**
   * Whether the writer reaches a node, asked once per node for this sample: a node hosts members of
   * many PGs, and the checkers run at every step.
   */
  #reachesFromWriter(): (nodeId: string) => boolean {
    const known = new Map<string, boolean>();
    return (nodeId) => {
      let reaches = known.get(nodeId);
      if (reaches === undefined) {
        reaches = this.platform.reaches(WRITER, nodeId);
        known.set(nodeId, reaches);
      }
      return reaches;
    };
  }

  #sample(): void {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const now = this.nowMs;
      const driver = this.platform.driver();
      this.#hookWriter();
      this.#placements = this.platform.placements() ?? this.#placements;
      const placements = this.#placements;
      this.vdl.sample(driver, now, this.violations);
      this.hydration.sample(
        driver,
        placements,
        (node, segment) => this.#sclOf(node, segment),
        now,
        this.violations,
      );
      this.liveness.sample(
        now,
        {
          serving: driver?.state === 'serving',
          quorumPossible: placements !== undefined && writeQuorumUp(placements, this.#reachesFromWriter()),
          pending: driver !== undefined && driver.lastSeq > 0 && !driver.isDurable(driver.lastSeq),
          vdl: driver?.vdl,
        },
        this.violations,
      );
      this.membersDown?.sample(
        placements,
        (node) => this.platform.core(node)?.state !== 'serving',
        now,
        this.violations,
      );
      this.onStep?.(placements);
    } finally {
      this.#sampling = false;
    }
  }

  /** The hydration checker learns the records the writer ships. */
  #hookWriter(): void {
    if (!this.cluster.node(WRITER).running) return;
    const handle = this.platform.volume.engine(WRITER);
    if (handle === this.#hookedHandle) return;
    this.#hookedHandle = handle;
    handle.events.mtr = (records) => {
      if (handle.driver !== undefined) this.hydration.shipped(handle.driver, records);
    };
  }

  #sclOf(nodeId: string, segmentId: string): bigint | undefined {
    const core = this.platform.core(nodeId);
    if (core?.state !== 'serving') return undefined;
    return core.status().segments.find((segment) => segment.segmentId === segmentId)?.scl;
  }

  // ---- the writer and the load ------------------------------------------------------------------

  /** Starts the writer, writes every PG once, and waits for that to be durable. */
  async start(): Promise<void> {
    this.platform.volume.startEngine(WRITER);
    const driver = await this.writerServing();
    const first = this.history.submit(
      driver,
      WRITER,
      Array.from({ length: this.knobs.pgs }, (_, pg) => pg * PAGES_PER_PG),
    );
    if (!(await this.until(() => first.acknowledged, 20_000)))
      throw new RunAborted('the first group was never acknowledged');
  }

  /**
   * The serving writer; when it is a new incarnation, checks the recovered volume against the history
   * first (the acknowledged-commit checker).
   */
  async writerServing(limitMs = 60_000): Promise<QuorumDriver> {
    const serving = () =>
      this.cluster.node(WRITER).running && this.platform.volume.engine(WRITER).driver?.state === 'serving';
    if (!(await this.until(serving, limitMs)))
      throw new RunAborted(`the writer did not serve within ${limitMs} ms`);
    const handle = this.platform.volume.engine(WRITER);
    const driver = handle.driver!;
    if (handle !== this.#checkedHandle) {
      if (this.#checkedHandle !== undefined) {
        this.recoveries++;
        await this.history.recovered(driver);
      }
      this.#checkedHandle = handle;
    }
    return driver;
  }

  /** Submits one group if the writer serves and not too many wait. */
  submitSome(driver: QuorumDriver): void {
    if (driver.state !== 'serving' || driver.status().groupsWaiting >= this.knobs.groupsInFlightMax) return;
    const pages = this.knobs.pgs * PAGES_PER_PG;
    const width = 1 + Math.floor(this.random() * 3);
    const pageNos = Array.from({ length: width }, () => Math.floor(this.random() * pages));
    try {
      this.history.submit(driver, WRITER, [...new Set(pageNos)]);
    } catch (error) {
      // Fenced or stopped between the check and the call: the next round finds the new writer.
      if (!(error instanceof NorthlightError)) throw error;
    }
  }

  /**
   * The load: groups every `groupIntervalMs` or so, until `done` holds or `limitMs` passed; `step`
   * (the workload's faults) runs between two groups. Whether `done` held.
   */
  async load(done: () => boolean, limitMs: number, step?: () => void): Promise<boolean> {
    const deadline = this.nowMs + limitMs;
    while (!done()) {
      if (this.nowMs >= deadline) return false;
      const driver = await this.writerServing();
      this.submitSome(driver);
      step?.();
      await this.until(done, this.knobs.groupIntervalMs * (0.5 + this.random()));
    }
    return true;
  }

  /** Restarts the writer (a crash of its process or machine); `writerServing` checks the recovery. */
  crashWriter(): void {
    this.cluster.restart(WRITER, { kind: this.random() < 0.5 ? 'power-loss' : 'process' });
  }

  /** Crashes the control plane and starts it again after `downMs`: it forgets everything it knew. */
  crashControlPlane(downMs: number): void {
    if (!this.cluster.node(OPERATOR).running) return;
    this.cluster.crash(OPERATOR, { kind: 'process' });
    this.cluster.after(downMs, 'control-plane-start', () => this.cluster.start(OPERATOR));
  }

  // ---- the end ----------------------------------------------------------------------------------

  /** Live storage nodes: running and serving. */
  liveStorage(): string[] {
    return this.platform.storageNodes
      .map((node) => node.nodeId)
      .filter((node) => this.platform.core(node)?.state === 'serving');
  }

  /** What keeps the cluster from being converged: layout, storage, open repairs. */
  convergenceProblems(): string[] {
    const placements = this.platform.placements();
    if (placements === undefined) return ['the writer is down'];
    const live = new Set(this.liveStorage());
    return [
      ...layoutProblems(
        placements,
        (node) => this.platform.zoneOf(node),
        (node) => live.has(node),
      ),
      ...storageProblems(placements, [...live], (node) =>
        this.platform
          .core(node)!
          .status()
          .segments.map((segment) => ({
            pgId: segment.pgId,
            segmentId: segment.segmentId,
            membershipEpoch: segment.membershipEpoch,
            members: segment.members,
          })),
      ),
      ...journalProblems(this.platform.journal.entries, this.neverBack).tally.open.map(
        (id) => `${id} is still open`,
      ),
    ];
  }

  /**
   * Lets the control plane converge under load (`extra` adds the workload's own conditions), then
   * waits for every group to be durable and checks the whole history on a last recovery. Adds a
   * violation for whatever did not converge within `limitMs`.
   */
  async finish(limitMs: number, extra: () => string[] = () => []): Promise<void> {
    const problems = () => [...this.convergenceProblems(), ...extra()];
    // Judged every CONVERGENCE_CHECK_MS, not at every step: it reads every core's status.
    let checkedAtMs = Number.NEGATIVE_INFINITY;
    let done = false;
    const startedAtMs = this.nowMs;
    const converged = await this.load(() => {
      if (this.nowMs - checkedAtMs >= CONVERGENCE_CHECK_MS) {
        checkedAtMs = this.nowMs;
        done = problems().length === 0;
      }
      return done;
    }, limitMs);
    this.convergeMs = this.nowMs - startedAtMs;
    if (!converged)
      this.violations.add(`not converged ${limitMs} ms after healing: ${problems().slice(0, 6).join('; ')}`);
    const driver = await this.writerServing();
    if (!(await this.until(() => driver.lastSeq === 0 || driver.isDurable(driver.lastSeq), 30_000)))
      this.violations.add('groups still not durable 30 s after the load stopped');
    for (const problem of journalProblems(this.platform.journal.entries, this.neverBack).problems)
      this.violations.add(problem);
    this.crashWriter();
    await this.writerServing();
    if (this.history.current.length !== 0) this.violations.add('the final recovery left groups unchecked');
    for (const record of this.cluster.errorLogs.slice(0, 3))
      this.violations.add(
        `a process logged at ERROR: ${JSON.stringify(record, (_key, value) => (typeof value === 'bigint' ? String(value) : value)).slice(0, 300)}`,
      );
  }

  /** The stats every workload reports. */
  stats(): Record<string, number> {
    const { tally } = journalProblems(this.platform.journal.entries, this.neverBack);
    const all = this.history.all;
    return {
      groups: all.length,
      acknowledged: all.filter((group) => group.acknowledged).length,
      recoveries: this.recoveries,
      repairsBegun: tally.begun,
      repairsCompleted: tally.completed,
      repairsReverted: tally.reverted,
      repairsDerived: tally.derived,
      blocked: tally.blocked,
      hydrationChecks: this.hydration.completionsChecked,
      longestStallMs: Math.round(this.liveness.longestStallMs),
      convergeMs: Math.round(this.convergeMs),
      virtualMs: Math.round(this.nowMs),
    };
  }
}
