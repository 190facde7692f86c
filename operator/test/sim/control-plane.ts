/**
 * The control plane as a simulated process: the real pure planners (`planRepairs`, `planUpgrade`)
 * executed by a sans-I/O executor that talks to the cluster through a `ControlPort` — in the
 * simulator, calls on the storage cores and the writer's driver (sim-platform.ts); the same steps, in
 * the same order, as the real executor against processes (src/io/repair-executor.ts) and the local
 * control loop (src/io/local-cluster.ts, `#upgradeStep`):
 *
 *   every round (`roundMs` of the process's own clock):
 *     1. observe every storage node's readiness, tracking how long each has not answered
 *        (`NodeHealth.unreachableForMs`, from the process's clock: virtual time); stop here unless the
 *        writer serves;
 *     2. repairs: derive the repairs in flight from the writer's layouts (a PG with two configurations),
 *        plan, execute begin (create the joiner with the union membership, then tell the writer, which
 *        answers a hydration target) / complete / revert (tell the writer), then reconcile storage
 *        (an older membership epoch is updated, a missing member created, a segment no longer a member
 *        under a newer epoch dropped);
 *     3. the upgrade, when one is asked: plan one step from the nodes' versions and health (caught up:
 *        every segment a node hosts has reached its PG's head of the previous round), execute it.
 *
 * Crash reasoning (the process can be crashed between any two events, like any simulated process):
 *   1. Every call through the port is raced against a timer of this process, and its answer is
 *      delivered through a 0 ms timer of this process too. A crashed incarnation's timers never fire,
 *      so none of its async steps ever continues: a dead control plane cannot act as a zombie on an
 *      answer that arrives after its death.
 *   2. What the executor knows (repairs it began and their targets) is lost with the process; a new
 *      incarnation derives the repairs in flight from the layouts again, re-posting the membership
 *      the writer already has (a no-op that answers a target), as the real executor does.
 *   3. The journal (`ControlJournal`) stands for the metadata directory: it outlives the process.
 *
 * `fixes` are the fixes of the two executor bugs the campaigns found (`ExecutorFix`), which
 * src/io/repair-executor.ts has too; a test can switch them off to replay a bug.
 *
 * Not modelled: heat-driven migration. The engine's directory puts every PG on all of s1…s6, so every
 * node carries the same heat and `planMigrations` would never have anything to move (and the real
 * executor runs it only when every node answers, which the repair and zone-loss workloads never have).
 */
import { allMembers, type Environment, type TimerHandle } from '@northlight/protocol';
import {
  type MembershipChange,
  type NodeHealth,
  type PgMembership,
  planRepairs,
  type RepairAction,
  type RepairInFlight,
  type RepairLimits,
} from '../../src/core/repair-plan.js';
import {
  planUpgrade,
  type UpgradeEngine,
  type UpgradeNode,
  type UpgradeStep,
} from '../../src/core/upgrade-plan.js';
import {
  behindPeerGcOf,
  membershipOf,
  pgHeads,
  type StorageSegmentView,
  snapshotSource,
  type VolumeJsonPg,
} from '../../src/io/repair-executor.js';

/** What a call answers: a value, or why it failed (refused, unreachable, timed out). */
export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly text: string };

export interface StorageNodeRef {
  readonly nodeId: string;
  readonly zone: string;
}

/** The writer's `GET /v1/volume` and VDL. */
export interface WriterView {
  readonly name: string;
  readonly pgs: readonly VolumeJsonPg[];
  readonly vdl: bigint;
}

export interface EngineView {
  readonly name: string;
  readonly role: 'writer' | 'replica';
  readonly ready: boolean;
  readonly appliedLsn: bigint | undefined;
}

/** A segment to create, as `POST /v1/segments` takes it. */
export interface SegmentToCreate {
  readonly pgId: number;
  readonly segmentId: string;
  readonly membershipEpoch: bigint;
  readonly members: readonly string[];
  readonly memberNodes: readonly string[];
  readonly volumeEpoch: bigint;
}

/** The platform as the control plane sees it: observations and the admin calls of the real APIs. */
export interface ControlPort {
  readonly storageNodes: readonly StorageNodeRef[];
  /** The node's readiness probe (down, not serving, or cut off from the control plane: false). */
  storageReady(nodeId: string): boolean;
  /** The node's segments (`GET /v1/status`); undefined when it does not answer. */
  storageSegments(nodeId: string): readonly StorageSegmentView[] | undefined;
  /** The writer's layouts and VDL while it serves; undefined otherwise. */
  writer(): WriterView | undefined;
  engines(): readonly EngineView[];
  /** `POST /v1/admin/membership` on the writer: its hydration target (undefined: none given). */
  changeMembership(writer: string, change: MembershipChange): Promise<Outcome<bigint | undefined>>;
  createSegment(nodeId: string, segment: SegmentToCreate): Promise<Outcome<unknown>>;
  updateMembership(
    nodeId: string,
    pgId: number,
    segmentId: string,
    membershipEpoch: bigint,
    members: readonly string[],
    memberNodes: readonly string[],
  ): Promise<Outcome<unknown>>;
  dropSegment(nodeId: string, pgId: number, segmentId: string): Promise<Outcome<unknown>>;
  /**
   * `POST …/hydrate` on `nodeId`: fill the segment from the source's snapshot, the node's hydrations
   * paced to `bytesPerSecond` from now on (0: none; absent: as they are); the SCL it reached, and the
   * bytes it took in over how long.
   */
  hydrate(
    nodeId: string,
    pgId: number,
    segmentId: string,
    sourceNode: string,
    sourceSegmentId: string,
    bytesPerSecond?: number,
  ): Promise<Outcome<{ readonly scl: bigint; readonly bytes: number; readonly ms: number }>>;
  /** The version a member was started with. */
  versionOf(member: string): string | undefined;
  /** The process layer: stop a member and start it again on `version` (upgrade). */
  restartStorage(nodeId: string, version: string): void;
  restartEngine(name: string, version: string): void;
}

export type JournalEntry =
  | {
      readonly kind: 'begin' | 'complete' | 'revert';
      readonly repair: RepairInFlight;
      /** Begin: the writer's hydration target (the repair's target is the higher of it and the head). */
      readonly targetLsn: bigint;
      /** The membership epoch of the change the writer took. */
      readonly membershipEpoch: bigint;
      readonly reason: string;
    }
  | { readonly kind: 'blocked'; readonly pgId: number; readonly reason: string }
  | { readonly kind: 'upgrade'; readonly step: UpgradeStep }
  | { readonly kind: 'note'; readonly text: string };

/** The metadata directory's journal: outlives the control plane's process. */
export interface ControlJournal {
  record(entry: JournalEntry): void;
  /** Repairs begun (journaled `begin`) and not yet journaled complete or revert, as the metadata holds them. */
  open(): readonly { readonly repair: RepairInFlight; readonly membershipEpoch: bigint }[];
}

/**
 * Fixes of bugs found in the executor (src/io/repair-executor.ts has each of them; docs/simulator.md,
 * "The control plane in the simulator", describes them). On by default, as in the real executor; a
 * test switches one off to show its bug again.
 *   - `drop-stray-joiners`: reconciling storage also drops a segment that is no member of its PG at
 *     the PG's membership epoch or a newer one — a joiner created for a begin that never reached the
 *     writer — unless this round began it (today only non-members at an older epoch are dropped).
 *   - `close-orphaned-workflows`: a repair journaled as begun whose PG no longer changes is journaled
 *     complete (its joiner is a member) or revert (it is not): the control plane died after the writer
 *     took the change and before it journaled it (today it stays open in the metadata for good).
 *   - `catch-up-behind-gc`: a settled member whose node reports it behind its peers' GC is hydrated
 *     from a peer's snapshot (without it, with no object store, it stays behind for good: the
 *     catch-up workload's convergence check fails).
 */
export type ExecutorFix = 'drop-stray-joiners' | 'close-orphaned-workflows' | 'catch-up-behind-gc';
export const EXECUTOR_FIXES: readonly ExecutorFix[] = [
  'drop-stray-joiners',
  'close-orphaned-workflows',
  'catch-up-behind-gc',
];

/** The pure planners the control plane runs: the real ones, or a test's planted bug around them. */
export interface Planners {
  readonly planRepairs: typeof planRepairs;
  readonly planUpgrade: typeof planUpgrade;
}

export const REAL_PLANNERS: Planners = { planRepairs, planUpgrade };

export interface ControlPlaneConfig {
  readonly planners: Planners;
  readonly roundMs: number;
  readonly limits: RepairLimits;
  /** A call not answered within this fails (the real executor's request timeout). */
  readonly requestTimeoutMs: number;
  /** The desired version of every member; undefined: no upgrade asked. */
  readonly upgradeTo: string | undefined;
  readonly fixes: ReadonlySet<ExecutorFix>;
  /** The spec's `repairBandwidthPerNode`, sent with every hydrate request (absent: not sent). */
  readonly hydrationBytesPerSecond?: number;
  /**
   * Step 5 of the real executor, the bulk path: each repair's joiner below its target is hydrated
   * from a peer's snapshot. Off, gossip and the backups fill joiners alone (the simulator's executor
   * before it had the bulk path; the pinned bug seeds run so, to keep their schedules).
   */
  readonly bulkHydration?: boolean;
}

/** Batches restart at most this many storage nodes (local-cluster.ts). */
export const UPGRADE_BATCH_SIZE_MAX = 4;

/** A process of the simulator (`SimProcessInstance`): the control loop. */
export class SimControlPlane {
  readonly #env: Environment;
  readonly #port: ControlPort;
  readonly #config: ControlPlaneConfig;
  readonly #journal: ControlJournal;
  readonly #repairs: SimRepairExecutor;
  readonly #unreachableSinceMs = new Map<string, number>();
  #upgradeHeads: Map<number, bigint> | undefined;
  #upgradeDone = false;
  #busy = false;
  #timer: TimerHandle | undefined;

  constructor(env: Environment, port: ControlPort, config: ControlPlaneConfig, journal: ControlJournal) {
    this.#env = env;
    this.#port = port;
    this.#config = config;
    this.#journal = journal;
    this.#repairs = new SimRepairExecutor(
      port,
      journal,
      config,
      (promise, timeoutMs) => this.#call(promise, timeoutMs),
      () => env.clock.nowMs(),
    );
    this.#schedule();
  }

  stop(): void {
    this.#timer?.cancel();
  }

  #schedule(): void {
    this.#timer = this.#env.clock.setTimer(this.#config.roundMs, () => {
      void this.#round();
      this.#schedule();
    });
  }

  async #round(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const nodes = this.#observeNodes();
      const writer = this.#port.writer();
      if (writer === undefined) return;
      const segmentsOf = new Map<string, readonly StorageSegmentView[]>();
      for (const node of nodes) {
        if (!node.reachable) continue;
        const segments = this.#port.storageSegments(node.nodeId);
        if (segments !== undefined) segmentsOf.set(node.nodeId, segments);
      }
      const world: ControlWorld = { writer, nodes, segmentsOf, limits: this.#config.limits };
      await this.#repairs.step(world);
      if (this.#config.upgradeTo !== undefined && !this.#upgradeDone)
        await this.#upgradeStep(world, this.#config.upgradeTo);
    } finally {
      this.#busy = false;
    }
  }

  /** Step 1 of the header. */
  #observeNodes(): NodeHealth[] {
    const now = this.#env.clock.nowMs();
    return this.#port.storageNodes.map((node) => {
      const reachable = this.#port.storageReady(node.nodeId);
      if (reachable) this.#unreachableSinceMs.delete(node.nodeId);
      else if (!this.#unreachableSinceMs.has(node.nodeId)) this.#unreachableSinceMs.set(node.nodeId, now);
      const since = this.#unreachableSinceMs.get(node.nodeId);
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        reachable,
        unreachableForMs: reachable || since === undefined ? 0 : now - since,
        schedulable: reachable,
      };
    });
  }

  /** Step 3 of the header: local-cluster.ts `#upgradeStep` and `#executeUpgrade`. */
  async #upgradeStep(world: ControlWorld, target: string): Promise<void> {
    const pgs = world.writer.pgs.map(membershipOf);
    const hosted = new Map<string, string[]>();
    for (const pg of pgs)
      for (const segment of allMembers(pg.quorumSet)) {
        const node = pg.nodeOf[segment]!;
        hosted.set(node, [...(hosted.get(node) ?? []), segment]);
      }
    const marks = this.#upgradeHeads;
    this.#upgradeHeads = pgHeads(pgs, world.segmentsOf);
    const pgOfSegment = new Map(
      pgs.flatMap((pg) => allMembers(pg.quorumSet).map((segment) => [segment, pg.pgId])),
    );
    const nodes: UpgradeNode[] = world.nodes.map((node) => {
      const segments = world.segmentsOf.get(node.nodeId);
      const caughtUp =
        segments !== undefined &&
        (hosted.get(node.nodeId) ?? []).every((segmentId) => {
          const held = segments.find((segment) => segment.segmentId === segmentId);
          const mark = marks?.get(pgOfSegment.get(segmentId)!);
          return held !== undefined && (mark === undefined || BigInt(held.scl) >= mark);
        });
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        version: this.#port.versionOf(node.nodeId),
        healthy: node.reachable && caughtUp,
      };
    });
    const engines: UpgradeEngine[] = this.#port.engines().map((engine) => ({
      name: engine.name,
      role: engine.role,
      promotionTier: 1,
      version: this.#port.versionOf(engine.name),
      ready: engine.ready,
      appliedLsn: engine.appliedLsn,
    }));
    const step = this.#config.planners.planUpgrade({
      targetVersion: target,
      nodes,
      pgNodes: pgs.map((pg) => Object.values(pg.nodeOf)),
      engines,
      maxBatchSize: UPGRADE_BATCH_SIZE_MAX,
    });
    if (step.kind === 'wait') return;
    this.#journal.record({ kind: 'upgrade', step });
    switch (step.kind) {
      case 'done':
        this.#upgradeDone = true;
        return;
      case 'restart-storage':
        for (const nodeId of step.nodeIds) this.#port.restartStorage(nodeId, target);
        this.#upgradeHeads = undefined;
        return;
      case 'restart-replica':
        this.#port.restartEngine(step.name, target);
        return;
      case 'switchover':
        // The simulated platform runs a lone writer (no replica to switch over to): planUpgrade
        // restarts it in place instead (`restart-replica` of the writer).
        throw new Error(`switchover ${step.from} → ${step.to}: the simulated platform has no replica`);
    }
  }

  /** Crash reasoning 1 of the header. */
  #call<T>(promise: Promise<Outcome<T>>, timeoutMs = this.#config.requestTimeoutMs): Promise<Outcome<T>> {
    const clock = this.#env.clock;
    return new Promise((resolve) => {
      let answered = false;
      const timeout = clock.setTimer(timeoutMs, () => {
        if (answered) return;
        answered = true;
        resolve({ ok: false, text: `no answer within ${timeoutMs} ms` });
      });
      promise.then(
        (outcome) => {
          if (answered) return;
          answered = true;
          timeout.cancel();
          clock.setTimer(0, () => resolve(outcome));
        },
        (error: unknown) => {
          if (answered) return;
          answered = true;
          timeout.cancel();
          clock.setTimer(0, () => resolve({ ok: false, text: (error as Error).message }));
        },
      );
    });
  }
}

interface ControlWorld {
  readonly writer: WriterView;
  readonly nodes: readonly NodeHealth[];
  /** Each reachable node's segments. */
  readonly segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>;
  readonly limits: RepairLimits;
}

type Call = <T>(promise: Promise<Outcome<T>>, timeoutMs?: number) => Promise<Outcome<T>>;

/** The real executor's bounds on a bulk hydration (src/io/repair-executor.ts). */
const HYDRATE_TIMEOUT_MS = 10 * 60_000;
const HYDRATE_RETRY_MS = 2_000;

/** `RepairExecutor` (src/io/repair-executor.ts) on a `ControlPort`: the same steps in the same order. */
class SimRepairExecutor {
  readonly #port: ControlPort;
  readonly #journal: ControlJournal;
  readonly #planners: Planners;
  readonly #fixes: ReadonlySet<ExecutorFix>;
  readonly #bandwidth: number | undefined;
  readonly #call: Call;
  /** Repairs this incarnation began or derived, by joining segment. */
  readonly #known = new Map<string, RepairInFlight>();
  readonly #nowMs: () => number;
  /** Catch-ups of members behind their peers' GC this incarnation started, by segment. */
  readonly #catchUps = new Map<string, { running: boolean; lastAttemptMs: number; lastSource?: string }>();
  readonly #bulk: boolean;
  /** Bulk hydrations of repairs' joiners this incarnation started, by joining segment. */
  readonly #joinerHydrations = new Map<
    string,
    { running: boolean; lastAttemptMs: number; reachedScl: bigint; lastSource?: string }
  >();

  constructor(
    port: ControlPort,
    journal: ControlJournal,
    config: ControlPlaneConfig,
    call: Call,
    nowMs: () => number,
  ) {
    this.#port = port;
    this.#journal = journal;
    this.#planners = config.planners;
    this.#fixes = config.fixes;
    this.#bandwidth = config.hydrationBytesPerSecond;
    this.#bulk = config.bulkHydration === true;
    this.#call = call;
    this.#nowMs = nowMs;
  }

  async step(world: ControlWorld): Promise<void> {
    const pgs = world.writer.pgs.map(membershipOf);
    const headOf = pgHeads(pgs, world.segmentsOf);
    const reachable = new Set(world.nodes.filter((node) => node.reachable).map((node) => node.nodeId));
    const inFlight: RepairInFlight[] = [];
    for (const pg of pgs)
      inFlight.push(...(await this.#inFlightOf(world, pg, headOf.get(pg.pgId) ?? 0n, reachable)));
    const sclOf = new Map<string, bigint>();
    for (const segments of world.segmentsOf.values())
      for (const segment of segments) sclOf.set(segment.segmentId, BigInt(segment.scl));
    const actions = this.#planners.planRepairs({
      nodes: world.nodes,
      pgs,
      inFlight,
      sclOf,
      headOf,
      limits: world.limits,
    });
    for (const action of actions) {
      if (action.kind === 'blocked') this.#journal.record(action);
      else await this.#execute(world, action);
    }
    const begun = new Set(
      actions.flatMap((action) => (action.kind === 'begin' ? [action.repair.joiningSegment] : [])),
    );
    await this.#reconcileStorage(world, pgs, reachable, begun);
    if (this.#bulk) this.#hydrateJoiners(world, pgs, sclOf, reachable);
    if (this.#fixes.has('close-orphaned-workflows')) this.#closeOrphanedWorkflows(pgs);
    if (this.#fixes.has('catch-up-behind-gc')) this.#catchUp(world, pgs, sclOf, reachable);
  }

  /**
   * Step 5 of the real executor (`bulkHydration`): every known repair's joiner still below its target
   * is hydrated from a settled member's snapshot, in the background, one attempt at a time, the next
   * one `HYDRATE_RETRY_MS` after the last ended (from another source after a failure). The real
   * executor also starts one right after a begin; here the round's end does. Gossip fills the rest.
   */
  #hydrateJoiners(
    world: ControlWorld,
    pgs: readonly PgMembership[],
    sclOf: ReadonlyMap<string, bigint>,
    reachable: ReadonlySet<string>,
  ): void {
    const behind = behindPeerGcOf(world);
    for (const segment of this.#joinerHydrations.keys())
      if (!this.#known.has(segment)) this.#joinerHydrations.delete(segment);
    for (const repair of this.#known.values()) {
      const pg = pgs.find((candidate) => candidate.pgId === repair.pgId);
      const segment = repair.joiningSegment;
      const node = repair.joiningNode;
      if (pg === undefined || !reachable.has(node)) continue;
      const state = this.#joinerHydrations.get(segment) ?? {
        running: false,
        lastAttemptMs: Number.NEGATIVE_INFINITY,
        reachedScl: 0n,
      };
      this.#joinerHydrations.set(segment, state);
      const observed = sclOf.get(segment) ?? 0n;
      const scl = observed > state.reachedScl ? observed : state.reachedScl;
      const now = this.#nowMs();
      if (scl >= repair.targetLsn || state.running || now - state.lastAttemptMs < HYDRATE_RETRY_MS) continue;
      const source = snapshotSource(pg, segment, { sclOf, reachable, behind }, state.lastSource);
      if (source === undefined) continue;
      this.#startHydration('hydration', state, now, { pg, segment, node, source });
    }
  }

  /**
   * One bulk hydration attempt in the background (`ControlPort.hydrate` with the bandwidth limit);
   * `state` shows it running, and the journal notes how it ended.
   */
  #startHydration(
    label: 'hydration' | 'catch-up',
    state: { running: boolean; lastAttemptMs: number; lastSource?: string; reachedScl?: bigint },
    now: number,
    { pg, segment, node, source }: { pg: PgMembership; segment: string; node: string; source: string },
  ): void {
    state.running = true;
    state.lastAttemptMs = now;
    state.lastSource = source;
    const sourceNode = pg.nodeOf[source]!;
    void this.#call(
      this.#port.hydrate(node, pg.pgId, segment, sourceNode, source, this.#bandwidth),
      HYDRATE_TIMEOUT_MS,
    ).then((answer) => {
      state.running = false;
      state.lastAttemptMs = this.#nowMs();
      if (answer.ok && state.reachedScl !== undefined && answer.value.scl > state.reachedScl)
        state.reachedScl = answer.value.scl;
      this.#journal.record({
        kind: 'note',
        text: answer.ok
          ? `${label}: ${segment} on ${node} from ${source}: ${answer.value.bytes} bytes in ${Math.round(answer.value.ms)} ms, SCL ${answer.value.scl}`
          : `${label}: ${segment} from ${source} failed: ${answer.text}`,
      });
    });
  }

  /**
   * Step 6 of the real executor: a settled member whose node reports it `behindPeerGc` is hydrated
   * from the furthest settled member not behind itself, in the background, one attempt at a time,
   * the next one `HYDRATE_RETRY_MS` after the last ended (from another source after a failure).
   * (Repairs' joiners: `#hydrateJoiners`.)
   */
  #catchUp(
    world: ControlWorld,
    pgs: readonly PgMembership[],
    sclOf: ReadonlyMap<string, bigint>,
    reachable: ReadonlySet<string>,
  ): void {
    const behind = behindPeerGcOf(world);
    const open = new Set<string>();
    for (const pg of pgs) {
      for (const segment of allMembers(pg.quorumSet)) {
        const node = pg.nodeOf[segment];
        if (node === undefined || !behind.has(segment) || pg.quorumSet.hydrating.includes(segment)) continue;
        open.add(segment);
        if (!reachable.has(node)) continue;
        const state = this.#catchUps.get(segment) ?? {
          running: false,
          lastAttemptMs: Number.NEGATIVE_INFINITY,
        };
        this.#catchUps.set(segment, state);
        const now = this.#nowMs();
        if (state.running || now - state.lastAttemptMs < HYDRATE_RETRY_MS) continue;
        const source = snapshotSource(pg, segment, { sclOf, reachable, behind }, state.lastSource);
        if (source === undefined) continue;
        this.#journal.record({
          kind: 'note',
          text: `catch-up: ${segment} on ${node} is behind its peers' GC; hydrating it from ${source} on ${pg.nodeOf[source]!}`,
        });
        this.#startHydration('catch-up', state, now, { pg, segment, node, source });
      }
    }
    for (const segment of this.#catchUps.keys()) if (!open.has(segment)) this.#catchUps.delete(segment);
  }

  /** `close-orphaned-workflows` (ExecutorFix). */
  #closeOrphanedWorkflows(pgs: readonly PgMembership[]): void {
    const pgById = new Map(pgs.map((pg) => [pg.pgId, pg]));
    for (const { repair, membershipEpoch } of this.#journal.open()) {
      const pg = pgById.get(repair.pgId);
      // Observed before this round's begins: only a layout past the begin's epoch has ended it.
      if (pg === undefined || pg.membershipEpoch <= membershipEpoch) continue;
      if (pg.quorumSet.configurations.length !== 1) continue;
      const joined = pg.quorumSet.configurations[0]!.includes(repair.joiningSegment);
      this.#journal.record({
        kind: joined ? 'complete' : 'revert',
        repair,
        targetLsn: repair.targetLsn,
        membershipEpoch: pg.membershipEpoch,
        reason: `PG ${pg.pgId} no longer changes: ${repair.joiningSegment} ${joined ? 'joined' : 'did not join'} (closing the journal)`,
      });
    }
  }

  /** The repair a changing PG is in: from what this incarnation began, or derived from the layout. */
  async #inFlightOf(
    world: ControlWorld,
    pg: PgMembership,
    head: bigint,
    reachable: ReadonlySet<string>,
  ): Promise<RepairInFlight[]> {
    const [first, second] = pg.quorumSet.configurations;
    if (first === undefined || second === undefined) {
      for (const [key, repair] of this.#known) if (repair.pgId === pg.pgId) this.#known.delete(key);
      return [];
    }
    const leavingSegment = first.find((member) => !second.includes(member));
    const joiningSegment = second.find((member) => !first.includes(member));
    if (leavingSegment === undefined || joiningSegment === undefined) return [];
    const known = this.#known.get(joiningSegment);
    if (known !== undefined) return [known];
    const leavingNode = pg.nodeOf[leavingSegment] ?? '?';
    const again = await this.#changeWriter(world, pg);
    if (again === undefined) return [];
    const kind = reachable.has(leavingNode) ? 'migration' : 'repair';
    const repair: RepairInFlight = {
      id: `${kind}-pg${pg.pgId}-m${pg.membershipEpoch}`,
      kind,
      pgId: pg.pgId,
      leavingSegment,
      leavingNode,
      joiningSegment,
      joiningNode: pg.nodeOf[joiningSegment] ?? '?',
      targetLsn: again > head ? again : head,
    };
    this.#known.set(joiningSegment, repair);
    this.#journal.record({ kind: 'note', text: `derived ${repair.id} from the layout` });
    return [repair];
  }

  async #execute(world: ControlWorld, action: Exclude<RepairAction, { kind: 'blocked' }>): Promise<void> {
    const { repair, change } = action;
    if (action.kind === 'begin') {
      // The joiner exists before the writer sends to it; it is created with the union membership.
      const members = allMembers(change.quorumSet);
      const created = await this.#call(
        this.#port.createSegment(repair.joiningNode, {
          pgId: change.pgId,
          segmentId: repair.joiningSegment,
          membershipEpoch: change.membershipEpoch,
          members,
          memberNodes: members.map((member) => change.nodeOf[member]!),
          volumeEpoch: maxVolumeEpoch(world.segmentsOf, change.pgId),
        }),
      );
      if (!created.ok) {
        this.#journal.record({ kind: 'note', text: `creating ${repair.joiningSegment}: ${created.text}` });
        return;
      }
      const hydrationTarget = await this.#changeWriter(world, change);
      if (hydrationTarget === undefined) return;
      const targetLsn = hydrationTarget > repair.targetLsn ? hydrationTarget : repair.targetLsn;
      this.#known.set(repair.joiningSegment, { ...repair, targetLsn });
      this.#journal.record({
        kind: 'begin',
        repair,
        targetLsn,
        membershipEpoch: change.membershipEpoch,
        reason: action.reason,
      });
      return;
    }
    if ((await this.#changeWriter(world, change)) === undefined) return;
    this.#known.delete(repair.joiningSegment);
    this.#journal.record({
      kind: action.kind,
      repair,
      targetLsn: repair.targetLsn,
      membershipEpoch: change.membershipEpoch,
      reason: action.reason,
    });
  }

  /** The writer's hydration target (0 when it gave none), or undefined when it refused. */
  async #changeWriter(world: ControlWorld, change: MembershipChange): Promise<bigint | undefined> {
    const answer = await this.#call(this.#port.changeMembership(world.writer.name, change));
    if (answer.ok) return answer.value ?? 0n;
    this.#journal.record({
      kind: 'note',
      text: `the writer refused membership epoch ${change.membershipEpoch} of PG ${change.pgId}: ${answer.text}`,
    });
    return undefined;
  }

  /** Step 4 of RepairExecutor. */
  async #reconcileStorage(
    world: ControlWorld,
    pgs: readonly PgMembership[],
    reachable: ReadonlySet<string>,
    begunThisRound: ReadonlySet<string>,
  ): Promise<void> {
    for (const pg of pgs) {
      const members = allMembers(pg.quorumSet);
      const memberNodes = members.map((member) => pg.nodeOf[member]!);
      for (const segmentId of members) {
        const nodeId = pg.nodeOf[segmentId]!;
        if (!reachable.has(nodeId)) continue;
        const reported = world.segmentsOf.get(nodeId);
        if (reported === undefined) continue;
        const held = reported.find((segment) => segment.segmentId === segmentId);
        if (held === undefined) {
          await this.#call(
            this.#port.createSegment(nodeId, {
              pgId: pg.pgId,
              segmentId,
              membershipEpoch: pg.membershipEpoch,
              members,
              memberNodes,
              volumeEpoch: maxVolumeEpoch(world.segmentsOf, pg.pgId),
            }),
          );
          continue;
        }
        if (BigInt(held.membershipEpoch) >= pg.membershipEpoch) continue;
        await this.#call(
          this.#port.updateMembership(nodeId, pg.pgId, segmentId, pg.membershipEpoch, members, memberNodes),
        );
      }
      for (const [nodeId, segments] of world.segmentsOf)
        for (const segment of segments) {
          if (segment.pgId !== pg.pgId || members.includes(segment.segmentId)) continue;
          const stray = this.#fixes.has('drop-stray-joiners') && !begunThisRound.has(segment.segmentId);
          if (BigInt(segment.membershipEpoch) >= pg.membershipEpoch && !stray) continue;
          await this.#call(this.#port.dropSegment(nodeId, pg.pgId, segment.segmentId));
        }
    }
  }
}

function maxVolumeEpoch(
  segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>,
  pgId: number,
): bigint {
  let max = 0n;
  for (const segments of segmentsOf.values())
    for (const segment of segments)
      if (segment.pgId === pgId && BigInt(segment.volumeEpoch) > max) max = BigInt(segment.volumeEpoch);
  return max;
}
