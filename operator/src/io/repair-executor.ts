/**
 * Executes segment repairs (src/core/repair-plan.ts) against real processes: the writer's
 * `POST /v1/admin/membership` and the storage nodes' admin API. One `step` per control-loop round:
 *
 *   1. observe: the writer's layouts (`GET /v1/volume`, with quorum sets) and VDL, every storage
 *      node's segments (`GET /v1/status`);
 *   2. derive the repairs in flight from the layouts themselves (a PG with two configurations and a
 *      hydrating member is one), so a restarted control plane picks them up where they were;
 *   3. plan and execute begin / complete / revert: the writer first (it then sends the new epoch,
 *      which storage accepts since it is newer), then the storage nodes;
 *   4. reconcile storage with the layouts: a member that reports an older membership epoch gets the
 *      current one, a member that is missing is created, and a segment that is no longer a member of
 *      its PG is dropped (a reverted joiner, a replaced member that came back, a stray joiner whose
 *      begin the writer never took), unless this round began it; a workflow the journal holds open
 *      although its PG no longer changes is closed (done or reverted, from the layout);
 *   5. hydrate each joiner below its target from a settled member's snapshot, streamed node to node
 *      (storage `POST …/hydrate`), in the background; when one finishes, the next round runs at once;
 *   6. catch up the same way any settled member whose node reports it `behindPeerGc`: it was away
 *      while every peer collected its log past its SCL, so gossip cannot fill it, and with no backup
 *      in the object store (objectStore none) it has nothing to restore from by itself. A node that
 *      answers 409 NL_SEGMENT_BUSY is already filling the segment (its own restore from a backup): that
 *      is waited out and checked again, not counted as a failure; and a failed catch-up is settled as
 *      resolved once the member is no longer behind, so `status` does not show it as current for good.
 * Every transition is journaled in the metadata directory (workflows) and noted as an event.
 */
import { allMembers, type QuorumSet } from '@northlight/protocol';
import {
  type CatchUpRecord,
  type CatchUpStanding,
  type RepairsView,
  settleCatchUps,
} from '../core/cluster-status.js';
import { type HeatNode, type MigrationAction, planMigrations } from '../core/heat-plan.js';
import type { WorkflowKind, WorkflowRecord } from '../core/metadata.js';
import {
  type MembershipChange,
  type NodeHealth,
  type PgMembership,
  planRepairs,
  type RepairAction,
  type RepairInFlight,
  type RepairLimits,
} from '../core/repair-plan.js';

const REQUEST_TIMEOUT_MS = 5_000;
/** A hydration streams a whole segment: it may take minutes for a full 1 GiB one on a busy node. */
const HYDRATE_TIMEOUT_MS = 10 * 60_000;
/**
 * After a hydration ends, the next attempt waits this long: from another source after a failure; after
 * an NL_SEGMENT_BUSY answer (the node is already filling the segment), it is a look at whether the
 * segment still needs one.
 */
const HYDRATE_RETRY_MS = 2_000;
/** Catch-ups that ended, kept for `status` (newest last). */
const CATCH_UPS_KEPT_MAX = 20;

export interface VolumeJsonPg {
  readonly pgId: number;
  readonly membershipEpoch: string;
  readonly members: readonly string[];
  readonly nodeOf: Readonly<Record<string, string>>;
  readonly configurations?: readonly (readonly string[])[];
  readonly hydrating?: readonly string[];
}

export interface StorageSegmentView {
  readonly pgId: number;
  readonly segmentId: string;
  readonly scl: string;
  readonly membershipEpoch: string;
  readonly volumeEpoch: string;
  readonly logBytes?: number;
  readonly diskBytes: number;
  readonly appendRecordsPerSecond?: number;
  readonly readPagesPerSecond?: number;
  /** Every peer collected its log past this segment's SCL: it needs a base (a backup or a snapshot). */
  readonly behindPeerGc?: boolean;
}

export interface RepairWorld {
  readonly writerUrl: string;
  /** The headers the writer's admin routes and the storage nodes' admin API take (the cluster's internal token). */
  readonly internalHeaders: Readonly<Record<string, string>>;
  readonly nodes: readonly NodeHealth[];
  readonly adminUrlOf: (nodeId: string) => string;
  /** Each reachable node's segments (absent: the node did not answer). */
  readonly segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>;
  readonly limits: RepairLimits;
  readonly heat: { readonly factor: number; readonly cooldownMs: number; readonly minimumHeat: number };
  /**
   * The spec's `repairBandwidthPerNode`, sent with every hydrate request: the joiner's node paces all
   * its hydrations to it (0: no limit). Absent: the nodes keep their own.
   */
  readonly hydrationBytesPerSecond?: number;
}

export interface RepairHooks {
  readonly note: (message: string) => void;
  readonly journal: (workflow: WorkflowRecord) => Promise<void>;
  readonly nowMs: () => number;
  /** Asks for a control round now (a hydration finished: the repair can complete at once). */
  readonly wake?: () => void;
  /** The journal's open workflows (planned, hydrating or switching), for closing orphaned ones. */
  readonly openWorkflows?: () => Promise<readonly WorkflowRecord[]>;
}

/**
 * What the executor reports for metrics (src/io/control-metrics.ts implements it): a workflow begun
 * (the writer took the new membership), finished (completed or reverted), a step that failed and is
 * retried next round, and each bulk hydration's outcome and bytes.
 */
export interface RepairMetricsHooks {
  started(kind: WorkflowKind): void;
  finished(kind: WorkflowKind, outcome: 'done' | 'reverted', durationSeconds: number): void;
  stepFailed(kind: WorkflowKind, step: 'create_segment' | 'change_writer' | 'hydrate'): void;
  hydrated(outcome: 'ok' | 'failed', bytes: number): void;
}

/**
 * A segment to fill from a peer's snapshot: a repair's or migration's joiner, or a settled member
 * behind its peers' GC (`catch-up`). Done once its SCL reaches `targetLsn`.
 */
interface HydrationTarget {
  readonly pgId: number;
  readonly segment: string;
  readonly node: string;
  readonly targetLsn: bigint;
  readonly kind: WorkflowKind | 'catch-up';
}

/** A repair's or migration's joiner as a hydration target. */
function joinerTarget(repair: RepairInFlight, targetLsn = repair.targetLsn): HydrationTarget {
  const { pgId, joiningSegment: segment, joiningNode: node } = repair;
  return { pgId, segment, node, targetLsn, kind: repair.kind ?? 'repair' };
}

/** A bulk hydration from a peer's snapshot (storage `POST …/hydrate`), run in the background. */
interface Hydration {
  running: boolean;
  /** The joiner's SCL when its last snapshot was installed (rounds may observe an older one). */
  reachedScl: bigint;
  /** Hydrations the node tried (an NL_SEGMENT_BUSY answer is not one). */
  attempts: number;
  lastAttemptMs: number;
  lastSource: string | undefined;
  /** The source of the last failed attempt: the next one prefers another. */
  failedSource: string | undefined;
  /** How the last request ended (undefined while none has). */
  lastOutcome: HydrationOutcome['kind'] | undefined;
  /** While `lastOutcome` is busy: what the node said is filling the segment. */
  busyReason: string | undefined;
  /** What it fills (the latest round's view of it). */
  target?: HydrationTarget;
}

export interface CompletedRepair {
  readonly repair: RepairInFlight;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  readonly bytes: number;
  readonly outcome: 'done' | 'reverted';
}

/**
 * How a hydrate request ended: the segment filled; refused because the node is already filling it
 * (409 NL_SEGMENT_BUSY: its own restore from a backup, or another hydration), which is no failure: the
 * control plane waits and checks the segment again; or failed.
 */
export type HydrationOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'busy'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export function hydrationOutcome(answer: {
  readonly ok: boolean;
  readonly status?: number;
  readonly text: string;
  readonly json?: unknown;
}): HydrationOutcome {
  if (answer.ok) return { kind: 'ok' };
  const body = answer.json as { code?: unknown; message?: unknown } | undefined;
  if (answer.status === 409 && body?.code === 'NL_SEGMENT_BUSY')
    return { kind: 'busy', reason: typeof body.message === 'string' ? body.message : answer.text };
  return { kind: 'failed', reason: answer.text };
}

export function membershipOf(pg: VolumeJsonPg): PgMembership {
  const quorumSet: QuorumSet<string> = {
    configurations: (pg.configurations ?? [pg.members]).map((configuration) => [...configuration]),
    hydrating: [...(pg.hydrating ?? [])],
  };
  return { pgId: pg.pgId, membershipEpoch: BigInt(pg.membershipEpoch), quorumSet, nodeOf: pg.nodeOf };
}

export class RepairExecutor {
  readonly #hooks: RepairHooks;
  /** Repairs this control plane began: their target LSN and start time. */
  readonly #known = new Map<string, { repair: RepairInFlight; startedAtMs: number }>();
  readonly completed: CompletedRepair[] = [];
  /** The last catch-ups that ended (step 6), newest last, for `status`; failures settled each round. */
  #caughtUp: CatchUpRecord[] = [];
  readonly #lastMoveOfNodeMs = new Map<string, number>();
  readonly #arrivalOfSegmentMs = new Map<string, number>();
  readonly #hydrations = new Map<string, Hydration>();
  #journalTail: Promise<void> = Promise.resolve();
  #metrics: RepairMetricsHooks | undefined;
  /** The hydration bandwidth limit the last round sent (the spec's `repairBandwidthPerNode`). */
  #bandwidthPerNode: number | undefined;
  blocked: string[] = [];

  constructor(hooks: RepairHooks) {
    this.#hooks = hooks;
  }

  /** Reports workflows and hydrations to `metrics` from now on (the control API or operator wires it). */
  attachMetrics(metrics: RepairMetricsHooks): void {
    this.#metrics = metrics;
  }

  /** What `northlight status`, the operator's status and the metrics show of the repairs. */
  view(nowMs: number): RepairsView {
    return {
      inFlight: this.inFlight().map(({ repair, startedAtMs }) => ({
        id: repair.id,
        pgId: repair.pgId,
        fromNode: repair.leavingNode,
        toNode: repair.joiningNode,
        joiningSegment: repair.joiningSegment,
        targetLsn: repair.targetLsn.toString(),
        runningForMs: nowMs - startedAtMs,
        snapshot: this.hydrationOf(repair.joiningSegment),
      })),
      recent: this.completed.map((done) => ({
        id: done.repair.id,
        pgId: done.repair.pgId,
        fromNode: done.repair.leavingNode,
        toNode: done.repair.joiningNode,
        outcome: done.outcome,
        durationMs: done.finishedAtMs - done.startedAtMs,
        bytes: done.bytes,
      })),
      blocked: this.blocked,
      ...(this.#bandwidthPerNode === undefined ? {} : { bandwidthPerNodeBytes: this.#bandwidthPerNode }),
      catchUps: [
        ...this.#caughtUp,
        ...[...this.#hydrations.values()].flatMap((state): CatchUpRecord[] => {
          if (state.target?.kind !== 'catch-up') return [];
          const { pgId, segment, node } = state.target;
          const base = {
            pgId,
            segment,
            node,
            from: state.lastSource,
            attempt: state.attempts,
            bytes: 0,
            ms: 0,
          };
          if (state.running) return [{ ...base, state: 'running' }];
          if (state.lastOutcome === 'busy')
            return [
              {
                ...base,
                state: 'waiting',
                ...(state.busyReason === undefined ? {} : { reason: state.busyReason }),
              },
            ];
          return [];
        }),
      ],
    };
  }

  inFlight(): { repair: RepairInFlight; startedAtMs: number }[] {
    return [...this.#known.values()];
  }

  /** How a joiner's bulk hydration stands, for `status`: e.g. "from pg3-storage-a-2, running (attempt 1)". */
  hydrationOf(joiningSegment: string): string {
    const state = this.#hydrations.get(joiningSegment);
    if (state === undefined || state.lastSource === undefined) return '-';
    if (!state.running && state.lastOutcome === 'busy') return 'waiting: its node is already filling it';
    const how = state.running ? 'running' : state.lastOutcome === 'failed' ? 'failed' : 'done';
    return `from ${state.lastSource}, ${how} (attempt ${state.attempts})`;
  }

  async step(world: RepairWorld, volume: { pgs: readonly VolumeJsonPg[] }): Promise<void> {
    this.#bandwidthPerNode = world.hydrationBytesPerSecond;
    const pgs = volume.pgs.map(membershipOf);
    const headOf = pgHeads(pgs, world.segmentsOf);
    const reachable = new Set(world.nodes.filter((node) => node.reachable).map((node) => node.nodeId));
    const inFlight: RepairInFlight[] = [];
    for (const pg of pgs)
      inFlight.push(...(await this.#inFlightOf(world, pg, headOf.get(pg.pgId) ?? 0n, reachable)));
    const sclOf = sclOfWorld(world);
    const actions = planRepairs({ nodes: world.nodes, pgs, inFlight, sclOf, headOf, limits: world.limits });
    this.blocked = actions.flatMap((action) =>
      action.kind === 'blocked' ? [`PG ${action.pgId}: ${action.reason}`] : [],
    );
    // Each action is of another PG: they run concurrently (the writer serializes membership changes,
    // each storage node its lifecycle operations, and the journal is written in order below).
    const begun = new Set<string>();
    const runnable = actions.filter((action) => action.kind !== 'blocked');
    for (const action of runnable) if (action.kind === 'begin') begun.add(action.repair.joiningSegment);
    await Promise.all(runnable.map((action) => this.#execute(world, action)));
    if (!actions.some((action) => action.kind === 'begin')) {
      const migrations = this.#planMigrations(world, pgs, inFlight, headOf);
      for (const migration of migrations) begun.add(migration.repair.joiningSegment);
      await Promise.all(migrations.map((migration) => this.#execute(world, { ...migration, kind: 'begin' })));
    }
    await this.#reconcileStorage(world, pgs, begun);
    await this.#closeOrphanedWorkflows(pgs);
    this.#hydrate(world, pgs, sclOf, headOf);
  }

  /**
   * A workflow the journal holds open although its PG has moved past the epoch it began with and no
   * longer changes: the writer took its complete or revert, and the control plane that asked died
   * before journaling it (the simulator's repair seed 257). Closed as done if its joiner is a member,
   * reverted if not. The epoch a workflow began with is the `-m<epoch>` of its id.
   */
  async #closeOrphanedWorkflows(pgs: readonly PgMembership[]): Promise<void> {
    const open = (await this.#hooks.openWorkflows?.()) ?? [];
    for (const workflow of open) {
      const began = /-m(\d+)$/.exec(workflow.id);
      const pg = pgs.find((candidate) => candidate.pgId === workflow.pgId);
      if (began === null || pg === undefined || pg.membershipEpoch <= BigInt(began[1]!)) continue;
      if (pg.quorumSet.configurations.length !== 1) continue;
      const joined = pg.quorumSet.configurations[0]!.includes(workflow.toSegment);
      const reason = `PG ${pg.pgId} no longer changes (membership epoch ${pg.membershipEpoch}): ${workflow.toSegment} ${
        joined ? 'joined' : 'did not join'
      }; closing ${workflow.id}, which an earlier control plane left open`;
      this.#hooks.note(`repair: ${reason}`);
      this.#metrics?.finished(
        workflow.kind,
        joined ? 'done' : 'reverted',
        Math.max(0, this.#hooks.nowMs() - workflow.startedAtMs) / 1000,
      );
      await this.#journalInOrder({
        ...workflow,
        state: joined ? 'done' : 'reverted',
        updatedAtMs: this.#hooks.nowMs(),
        note: reason.slice(0, 1000),
      });
    }
  }

  /**
   * The bulk path: every joiner still below its target is hydrated from a peer's snapshot (its page
   * images and the records above them, streamed node to node) instead of replaying the PG's log from
   * S3 and gossip. One attempt at a time per joiner, in the background; a failed one is retried from
   * another source after `HYDRATE_RETRY_MS`. Gossip still brings whatever arrives after the snapshot.
   *
   * The same path catches up a settled member that its node reports `behindPeerGc` (step 6): its
   * target is the PG's head, and its sources are the other settled members not behind themselves.
   * A node that answers NL_SEGMENT_BUSY is already filling the segment (its own restore from a backup,
   * or another hydration): nothing failed; the segment is looked at again after `HYDRATE_RETRY_MS`,
   * and asked for again only if it still needs it. Every round, a failed catch-up of a member that is
   * no longer behind is settled as resolved (`settleCatchUps`).
   */
  #hydrate(
    world: RepairWorld,
    pgs: readonly PgMembership[],
    sclOf: ReadonlyMap<string, bigint>,
    headOf: ReadonlyMap<number, bigint>,
  ): void {
    const reachable = new Set(world.nodes.filter((node) => node.reachable).map((node) => node.nodeId));
    const open = new Set<string>();
    for (const { repair } of this.#known.values()) {
      open.add(repair.joiningSegment);
      const pg = pgs.find((candidate) => candidate.pgId === repair.pgId);
      if (pg !== undefined) this.#hydrateOne(world, joinerTarget(repair), pg, sclOf, reachable);
    }
    const behind = behindPeerGcOf(world);
    for (const pg of pgs) {
      for (const segment of allMembers(pg.quorumSet)) {
        const node = pg.nodeOf[segment];
        if (node === undefined || !behind.has(segment) || open.has(segment)) continue;
        if (pg.quorumSet.hydrating.includes(segment)) continue; // a joiner: its repair fills it
        open.add(segment);
        const target = { pgId: pg.pgId, segment, node, targetLsn: headOf.get(pg.pgId) ?? 0n };
        this.#hydrateOne(world, { ...target, kind: 'catch-up' }, pg, sclOf, reachable, behind);
      }
    }
    const standingOf = catchUpStanding(world, reachable);
    for (const [segment, state] of this.#hydrations) {
      if (open.has(segment)) continue;
      this.#hydrations.delete(segment);
      const target = state.target;
      if (target?.kind === 'catch-up' && state.lastOutcome === 'busy' && !state.running)
        if (standingOf(segment, target.node) === 'caught-up')
          this.#hooks.note(
            `catch-up: ${segment} on ${target.node} is no longer behind its peers' GC: its node filled it (${state.busyReason ?? 'already hydrating'})`,
          );
    }
    const settled = settleCatchUps(this.#caughtUp, standingOf);
    this.#caughtUp = settled.records;
    for (const record of settled.resolved)
      this.#hooks.note(
        `catch-up: ${record.segment} on ${record.node} is no longer behind its peers' GC; its failed catch-up from ${record.from ?? '-'} (attempt ${record.attempt}) is resolved`,
      );
  }

  /** Starts `target` hydrating, unless it has reached its target LSN or an attempt is running or recent. */
  #hydrateOne(
    world: RepairWorld,
    target: HydrationTarget,
    pg: MembershipChange,
    sclOf: ReadonlyMap<string, bigint>,
    reachable: ReadonlySet<string>,
    behind: ReadonlySet<string> = new Set(),
  ): void {
    const state = this.#hydrations.get(target.segment) ?? {
      running: false,
      reachedScl: 0n,
      attempts: 0,
      lastAttemptMs: Number.NEGATIVE_INFINITY,
      lastSource: undefined,
      failedSource: undefined,
      lastOutcome: undefined,
      busyReason: undefined,
    };
    this.#hydrations.set(target.segment, state);
    state.target = target;
    // A joiner created in this very round is not in the observed world yet: it is empty.
    const observed = sclOf.get(target.segment) ?? 0n;
    const scl = observed > state.reachedScl ? observed : state.reachedScl;
    // A member behind its peers' GC stays behind until a base arrives, whatever its SCL says.
    const done = target.kind === 'catch-up' ? !behind.has(target.segment) : scl >= target.targetLsn;
    if (done || !reachable.has(target.node)) return;
    const now = this.#hooks.nowMs();
    if (state.running || now - state.lastAttemptMs < HYDRATE_RETRY_MS) return;
    const source = snapshotSource(pg, target.segment, { sclOf, reachable, behind }, state.failedSource);
    if (source === undefined) return;
    state.running = true;
    state.attempts++;
    state.lastAttemptMs = now;
    state.lastSource = source;
    const sourceNode = pg.nodeOf[source]!;
    const label = target.kind === 'catch-up' ? 'catch-up' : 'hydration';
    if (target.kind === 'catch-up' && state.attempts === 1 && state.lastOutcome !== 'busy')
      this.#hooks.note(
        `catch-up: ${target.segment} on ${target.node} is behind its peers' GC (SCL ${observed}, PG ${target.pgId}'s head ${target.targetLsn}); hydrating it from ${source} on ${sourceNode}`,
      );
    else if (state.lastOutcome === 'failed')
      this.#hooks.note(
        `${label}: retrying ${target.segment} on ${target.node} from ${source} on ${sourceNode} (attempt ${state.attempts})`,
      );
    void send(
      `${world.adminUrlOf(target.node)}/v1/segments/${target.pgId}/${encodeURIComponent(target.segment)}/hydrate`,
      'POST',
      {
        sourceUrl: world.adminUrlOf(sourceNode),
        sourceSegmentId: source,
        ...(world.hydrationBytesPerSecond === undefined
          ? {}
          : { bytesPerSecond: world.hydrationBytesPerSecond }),
      },
      HYDRATE_TIMEOUT_MS,
      world.internalHeaders,
    ).then((answer) => this.#hydrated(target, state, source, sourceNode, answer));
  }

  /** The end of one hydrate request of `#hydrateOne`: records, reports and notes how it ended. */
  #hydrated(
    target: HydrationTarget,
    state: Hydration,
    source: string,
    sourceNode: string,
    answer: Awaited<ReturnType<typeof send>>,
  ): void {
    state.running = false;
    // The wait counts from the end: a round that observed the segment before this finished must
    // not start it again.
    state.lastAttemptMs = this.#hooks.nowMs();
    const outcome = hydrationOutcome(answer);
    const label = target.kind === 'catch-up' ? 'catch-up' : 'hydration';
    const what = `${target.segment} on ${target.node}`;
    if (outcome.kind === 'busy') {
      // Not an attempt: the node tried nothing. Said once per wait, not at every look.
      state.attempts--;
      if (state.lastOutcome !== 'busy')
        this.#hooks.note(
          `${label}: ${what} is already being filled by its node (${outcome.reason}); waiting, and checking it again in ${HYDRATE_RETRY_MS / 1000} s`,
        );
      state.lastOutcome = 'busy';
      state.busyReason = outcome.reason;
      return;
    }
    state.lastOutcome = outcome.kind;
    state.busyReason = undefined;
    const report = answer.json as
      | { bytes?: number; ms?: number; pages?: number; records?: number; scl?: string }
      | undefined;
    if (outcome.kind === 'ok') {
      state.failedSource = undefined;
      if (typeof report?.scl === 'string' && /^\d+$/.test(report.scl)) state.reachedScl = BigInt(report.scl);
    } else state.failedSource = source;
    if (target.kind === 'catch-up') {
      this.#caughtUp.push({
        pgId: target.pgId,
        segment: target.segment,
        node: target.node,
        from: source,
        state: outcome.kind,
        attempt: state.attempts,
        bytes: Math.max(0, report?.bytes ?? 0),
        ms: Math.round(report?.ms ?? 0),
        ...(outcome.kind === 'failed' ? { reason: outcome.reason } : {}),
      });
      if (this.#caughtUp.length > CATCH_UPS_KEPT_MAX) this.#caughtUp.shift();
    }
    if (outcome.kind === 'ok') {
      this.#metrics?.hydrated('ok', Math.max(0, report?.bytes ?? 0));
      this.#hooks.note(
        `${label}: ${what} from ${source} on ${sourceNode}: ${((report?.bytes ?? 0) / 1e6).toFixed(1)} MB (${report?.pages ?? 0} pages, ${report?.records ?? 0} records) in ${Math.round(report?.ms ?? 0)} ms`,
      );
      this.#hooks.wake?.();
      return;
    }
    this.#metrics?.hydrated('failed', 0);
    if (target.kind !== 'catch-up') this.#metrics?.stepFailed(target.kind, 'hydrate');
    // No promise of a retry here: the next round makes one only if the segment still needs it (and
    // notes it), and settles the failure as resolved if it stopped needing it.
    this.#hooks.note(`${label}: ${what} from ${source} on ${sourceNode} failed: ${outcome.reason}`);
  }

  /** Heat (heat-plan.ts): only from a fleet whose every node answers, and never during a repair. */
  #planMigrations(
    world: RepairWorld,
    pgs: readonly PgMembership[],
    inFlight: readonly RepairInFlight[],
    headOf: ReadonlyMap<number, bigint>,
  ): MigrationAction[] {
    if (world.nodes.some((node) => !node.reachable)) return [];
    const nodes: HeatNode[] = world.nodes.map((node) => ({
      nodeId: node.nodeId,
      zone: node.zone,
      schedulable: node.schedulable,
      segmentHeat: new Map(
        (world.segmentsOf.get(node.nodeId) ?? []).map((segment) => [
          segment.segmentId,
          (segment.appendRecordsPerSecond ?? 0) + (segment.readPagesPerSecond ?? 0),
        ]),
      ),
    }));
    return planMigrations({
      nodes,
      pgs,
      inFlight,
      lastMoveOfNodeMs: this.#lastMoveOfNodeMs,
      arrivalOfSegmentMs: this.#arrivalOfSegmentMs,
      nowMs: this.#hooks.nowMs(),
      factor: world.heat.factor,
      cooldownMs: world.heat.cooldownMs,
      minimumHeat: world.heat.minimumHeat,
      maxTotal: world.limits.maxTotal,
      headOf,
    });
  }

  /** The repair a changing PG is in: from what this control plane began, or derived from the layout. */
  async #inFlightOf(
    world: RepairWorld,
    pg: PgMembership,
    head: bigint,
    reachable: ReadonlySet<string>,
  ): Promise<RepairInFlight[]> {
    const [first, second] = pg.quorumSet.configurations;
    if (first === undefined || second === undefined) {
      for (const [key, known] of this.#known) if (known.repair.pgId === pg.pgId) this.#known.delete(key);
      return [];
    }
    const leavingSegment = first.find((member) => !second.includes(member));
    const joiningSegment = second.find((member) => !first.includes(member));
    if (leavingSegment === undefined || joiningSegment === undefined) return [];
    const known = this.#known.get(joiningSegment);
    if (known !== undefined) return [known.repair];
    const leavingNode = pg.nodeOf[leavingSegment] ?? '?';
    // Begun by an earlier run: the target is taken again from the writer (posting the membership it
    // already has is a no-op that answers the PG's current last record, a safe, later target), or
    // failing that the PG's head. A leaving member that still answers makes it a migration: it
    // completes rather than reverts.
    const again = await this.#changeWriter(world, pg);
    if (again === undefined) return [];
    // A migration this control plane began stays one even if its leaving node is briefly unready
    // (as a repair it would be reverted, its joiner dropped).
    const kind =
      reachable.has(leavingNode) || this.#arrivalOfSegmentMs.has(joiningSegment) ? 'migration' : 'repair';
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
    this.#known.set(joiningSegment, { repair, startedAtMs: this.#hooks.nowMs() });
    return [repair];
  }

  async #execute(world: RepairWorld, action: Exclude<RepairAction, { kind: 'blocked' }>): Promise<void> {
    const { repair, change } = action;
    const what = repair.kind === 'migration' ? 'migration' : 'repair';
    if (action.kind === 'begin') {
      this.#hooks.note(`${what}: ${action.reason}`);
      // The joiner exists before the writer sends to it; it is created with the union membership.
      const created = await this.#createSegment(world, repair.joiningNode, repair.joiningSegment, change);
      if (!created) {
        this.#metrics?.stepFailed(repair.kind ?? 'repair', 'create_segment');
        return;
      }
      if (repair.kind === 'migration') {
        // Counted as a move from here: the writer may still take a change whose answer timed out.
        const movedAtMs = this.#hooks.nowMs();
        this.#arrivalOfSegmentMs.set(repair.joiningSegment, movedAtMs);
        this.#lastMoveOfNodeMs.set(repair.leavingNode, movedAtMs);
        this.#lastMoveOfNodeMs.set(repair.joiningNode, movedAtMs);
      }
      const hydrationTarget = await this.#changeWriter(world, change);
      if (hydrationTarget === undefined) {
        this.#metrics?.stepFailed(repair.kind ?? 'repair', 'change_writer');
        return;
      }
      this.#metrics?.started(repair.kind ?? 'repair');
      const now = this.#hooks.nowMs();
      const targetLsn = hydrationTarget > repair.targetLsn ? hydrationTarget : repair.targetLsn;
      this.#known.set(repair.joiningSegment, { repair: { ...repair, targetLsn }, startedAtMs: now });
      await this.#journal(repair, 'hydrating', action.reason);
      // At once, not at the end of the round: the joiner fills while the next repairs begin.
      const reachable = new Set(world.nodes.filter((node) => node.reachable).map((node) => node.nodeId));
      this.#hydrateOne(world, joinerTarget(repair, targetLsn), change, sclOfWorld(world), reachable);
      return;
    }
    if ((await this.#changeWriter(world, change)) === undefined) {
      this.#metrics?.stepFailed(repair.kind ?? 'repair', 'change_writer');
      return;
    }
    const known = this.#known.get(repair.joiningSegment);
    this.#known.delete(repair.joiningSegment);
    const outcome = action.kind === 'complete' ? 'done' : 'reverted';
    const joined = world.segmentsOf
      .get(repair.joiningNode)
      ?.find((segment) => segment.segmentId === repair.joiningSegment);
    const finishedAtMs = this.#hooks.nowMs();
    this.completed.push({
      repair,
      startedAtMs: known?.startedAtMs ?? finishedAtMs,
      finishedAtMs,
      bytes: joined?.diskBytes ?? 0, // page images and log: a snapshot brings mostly images
      outcome,
    });
    if (this.completed.length > 100) this.completed.shift();
    this.#metrics?.finished(
      repair.kind ?? 'repair',
      outcome,
      (finishedAtMs - (known?.startedAtMs ?? finishedAtMs)) / 1000,
    );
    this.#hooks.note(`${what}: ${action.reason}`);
    await this.#journal(repair, outcome, action.reason, known?.startedAtMs);
  }

  async #journal(
    repair: RepairInFlight,
    state: WorkflowRecord['state'],
    note: string,
    startedAtMs?: number,
  ): Promise<void> {
    const now = this.#hooks.nowMs();
    await this.#journalInOrder({
      id: repair.id,
      kind: repair.kind ?? 'repair',
      pgId: repair.pgId,
      fromNode: repair.leavingNode,
      toNode: repair.joiningNode,
      fromSegment: repair.leavingSegment,
      toSegment: repair.joiningSegment,
      state,
      startedAtMs: startedAtMs ?? now,
      updatedAtMs: now,
      note: note.slice(0, 1000),
    });
  }

  /** Journal writes one at a time, in the order they are asked (actions run concurrently). */
  #journalInOrder(workflow: WorkflowRecord): Promise<void> {
    const written = this.#journalTail.then(() => this.#hooks.journal(workflow));
    this.#journalTail = written.catch(() => undefined);
    return written;
  }

  /**
   * Tells the writer the PG's new membership. Resolves with the writer's hydration target (the PG's
   * last record allocated when the change took effect: a joiner whose SCL reaches it holds every
   * record of the PG that any configuration may have acknowledged), 0 when the writer gave none, or
   * undefined when it refused.
   */
  async #changeWriter(world: RepairWorld, change: MembershipChange): Promise<bigint | undefined> {
    const answer = await send(
      `${world.writerUrl}/v1/admin/membership`,
      'POST',
      {
        pgId: change.pgId,
        membershipEpoch: change.membershipEpoch.toString(),
        configurations: change.quorumSet.configurations,
        hydrating: change.quorumSet.hydrating,
        nodeOf: change.nodeOf,
      },
      REQUEST_TIMEOUT_MS,
      world.internalHeaders,
    );
    if (answer.ok) {
      const target = (answer.json as { hydrationTarget?: string } | undefined)?.hydrationTarget;
      return target === undefined ? 0n : BigInt(target);
    }
    this.#hooks.note(
      `repair: the writer refused membership epoch ${change.membershipEpoch} of PG ${change.pgId}: ${answer.text}; retrying next round`,
    );
    return undefined;
  }

  async #createSegment(
    world: RepairWorld,
    nodeId: string,
    segmentId: string,
    layout: MembershipChange,
  ): Promise<boolean> {
    const members = allMembers(layout.quorumSet);
    const volumeEpoch = maxVolumeEpoch(world.segmentsOf, layout.pgId);
    const answer = await send(
      `${world.adminUrlOf(nodeId)}/v1/segments`,
      'POST',
      {
        pgId: layout.pgId,
        segmentId,
        membershipEpoch: layout.membershipEpoch.toString(),
        members,
        memberNodes: members.map((member) => layout.nodeOf[member]!),
        volumeEpoch,
      },
      REQUEST_TIMEOUT_MS,
      world.internalHeaders,
    );
    if (answer.ok) return true;
    this.#hooks.note(
      `repair: creating ${segmentId} on ${nodeId} failed: ${answer.text}; retrying next round`,
    );
    return false;
  }

  /**
   * Step 4 of the header. A segment of a PG that is not among its members is dropped when its epoch is
   * older than the PG's — and also at the same epoch or newer (a stray joiner: created by a begin the
   * writer never took, its control plane gone; the simulator's zone-loss seed 26), unless this very
   * round began it.
   */
  async #reconcileStorage(
    world: RepairWorld,
    pgs: readonly PgMembership[],
    begunThisRound: ReadonlySet<string>,
  ): Promise<void> {
    const reachable = new Set(world.nodes.filter((node) => node.reachable).map((node) => node.nodeId));
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
          await this.#createSegment(world, nodeId, segmentId, pg);
          continue;
        }
        if (BigInt(held.membershipEpoch) >= pg.membershipEpoch) continue;
        const answer = await send(
          `${world.adminUrlOf(nodeId)}/v1/segments/${pg.pgId}/${encodeURIComponent(segmentId)}/membership`,
          'PUT',
          { membershipEpoch: pg.membershipEpoch.toString(), members, memberNodes },
          REQUEST_TIMEOUT_MS,
          world.internalHeaders,
        );
        if (!answer.ok)
          this.#hooks.note(
            `repair: updating the membership of ${segmentId} on ${nodeId} failed: ${answer.text}`,
          );
      }
      for (const [nodeId, segments] of world.segmentsOf)
        for (const segment of segments) {
          if (segment.pgId !== pg.pgId || members.includes(segment.segmentId)) continue;
          if (begunThisRound.has(segment.segmentId)) continue;
          const answer = await send(
            `${world.adminUrlOf(nodeId)}/v1/segments/${pg.pgId}/${encodeURIComponent(segment.segmentId)}`,
            'DELETE',
            undefined,
            REQUEST_TIMEOUT_MS,
            world.internalHeaders,
          );
          this.#hooks.note(
            answer.ok
              ? `repair: dropped ${segment.segmentId} on ${nodeId}, no longer a member of PG ${pg.pgId}`
              : `repair: dropping ${segment.segmentId} on ${nodeId} failed: ${answer.text}`,
          );
        }
    }
  }
}

/**
 * Each PG's head: the highest SCL its current members report, the joiner of a repair excepted (it
 * is what is being filled). What a repair's joiner and a restarted node must reach.
 */
export function pgHeads(
  pgs: readonly PgMembership[],
  segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>,
): Map<number, bigint> {
  const sclOf = new Map<string, bigint>();
  for (const segments of segmentsOf.values())
    for (const segment of segments) sclOf.set(segment.segmentId, BigInt(segment.scl));
  const heads = new Map<number, bigint>();
  for (const pg of pgs) {
    let head = 0n;
    for (const member of allMembers(pg.quorumSet)) {
      if (pg.quorumSet.hydrating.includes(member)) continue;
      const scl = sclOf.get(member);
      if (scl !== undefined && scl > head) head = scl;
    }
    heads.set(pg.pgId, head);
  }
  return heads;
}

/**
 * For the rolling upgrade, on every platform: each PG's head now (what the next round compares
 * against), each PG's nodes, and, for a node, why it is not yet healthy to take down — unreachable, silent, missing a
 * segment it hosts, or a segment below its PG's head at the previous round (`marks`) — or undefined.
 */
export function upgradeHealth(
  volumePgs: readonly VolumeJsonPg[],
  segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>,
  marks: ReadonlyMap<number, bigint> | undefined,
): {
  readonly heads: Map<number, bigint>;
  /** Each PG's nodes (members and joiners): a batch of the upgrade never takes two of one PG. */
  readonly pgNodes: string[][];
  readonly behind: (node: { readonly nodeId: string; readonly reachable: boolean }) => string | undefined;
} {
  const pgs = volumePgs.map(membershipOf);
  const hosted = new Map<string, string[]>();
  const pgOfSegment = new Map<string, number>();
  for (const pg of pgs)
    for (const segment of allMembers(pg.quorumSet)) {
      const node = pg.nodeOf[segment]!;
      hosted.set(node, [...(hosted.get(node) ?? []), segment]);
      pgOfSegment.set(segment, pg.pgId);
    }
  const behind = (node: { readonly nodeId: string; readonly reachable: boolean }): string | undefined => {
    if (!node.reachable) return `${node.nodeId} not ready`;
    const segments = segmentsOf.get(node.nodeId);
    if (segments === undefined) return `${node.nodeId} did not report its segments`;
    for (const segmentId of hosted.get(node.nodeId) ?? []) {
      const held = segments.find((segment) => segment.segmentId === segmentId);
      if (held === undefined) return `${node.nodeId} does not hold ${segmentId}`;
      const mark = marks?.get(pgOfSegment.get(segmentId)!);
      if (mark !== undefined && BigInt(held.scl) < mark)
        return `${segmentId} on ${node.nodeId} at SCL ${held.scl} < ${mark}`;
    }
    return undefined;
  };
  return { heads: pgHeads(pgs, segmentsOf), pgNodes: pgs.map((pg) => Object.values(pg.nodeOf)), behind };
}

/**
 * Where to hydrate `segment` from: a settled member (not hydrating, not behind its peers' GC itself)
 * on a reachable node, the furthest along; after a failure from `lastSource`, another one if any.
 */
export function snapshotSource(
  pg: { readonly quorumSet: QuorumSet<string>; readonly nodeOf: Readonly<Record<string, string>> },
  segment: string,
  seen: {
    readonly sclOf: ReadonlyMap<string, bigint>;
    readonly reachable: ReadonlySet<string>;
    readonly behind: ReadonlySet<string>;
  },
  lastSource: string | undefined,
): string | undefined {
  const { sclOf, reachable, behind } = seen;
  const candidates = allMembers(pg.quorumSet)
    .filter(
      (member) =>
        member !== segment &&
        !pg.quorumSet.hydrating.includes(member) &&
        !behind.has(member) &&
        reachable.has(pg.nodeOf[member] ?? '') &&
        sclOf.has(member),
    )
    .sort((a, b) => (sclOf.get(b)! > sclOf.get(a)! ? 1 : sclOf.get(b)! < sclOf.get(a)! ? -1 : 0));
  return candidates.find((member) => member !== lastSource) ?? candidates[0];
}

/**
 * Where each member stands for `settleCatchUps`: behind (its node reports it `behindPeerGc`), caught
 * up (its node, reachable, reports it and not behind), gone (its node, reachable, reports without
 * it: a repair moved it), or unknown (its node is down or silent).
 */
export function catchUpStanding(
  world: { readonly segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]> },
  reachable: ReadonlySet<string>,
): (segment: string, node: string) => CatchUpStanding {
  return (segment, node) => {
    if (!reachable.has(node)) return 'unknown';
    const held = world.segmentsOf.get(node)?.find((reported) => reported.segmentId === segment);
    // The node answered (its report is here) without the segment: it is gone from there for good.
    if (held === undefined) return world.segmentsOf.has(node) ? 'gone' : 'unknown';
    return held.behindPeerGc === true ? 'behind' : 'caught-up';
  };
}

/** The segments whose nodes report them behind their peers' GC. */
export function behindPeerGcOf(world: {
  readonly segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>;
}): Set<string> {
  const behind = new Set<string>();
  for (const segments of world.segmentsOf.values())
    for (const segment of segments) if (segment.behindPeerGc === true) behind.add(segment.segmentId);
  return behind;
}

function sclOfWorld(world: RepairWorld): Map<string, bigint> {
  const sclOf = new Map<string, bigint>();
  for (const segments of world.segmentsOf.values())
    for (const segment of segments) sclOf.set(segment.segmentId, BigInt(segment.scl));
  return sclOf;
}

function maxVolumeEpoch(
  segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>,
  pgId: number,
): string {
  let max = 0n;
  for (const segments of segmentsOf.values())
    for (const segment of segments)
      if (segment.pgId === pgId && BigInt(segment.volumeEpoch) > max) max = BigInt(segment.volumeEpoch);
  return max.toString();
}

async function send(
  url: string,
  method: 'POST' | 'PUT' | 'DELETE',
  body?: unknown,
  timeoutMs = REQUEST_TIMEOUT_MS,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ ok: boolean; status?: number; text: string; json?: unknown }> {
  try {
    const response = await fetch(url, {
      method,
      ...(body === undefined
        ? { headers }
        : { headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const full = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(full);
    } catch {
      json = undefined;
    }
    return {
      ok: response.ok,
      status: response.status,
      text: `HTTP ${response.status} ${full.slice(0, 300)}`,
      json,
    };
  } catch (error) {
    return { ok: false, text: (error as Error).message };
  }
}
