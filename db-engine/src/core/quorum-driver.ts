/**
 * The engine's log path (paper §3.2, §4): the only writes the engine ever makes are redo records,
 * shipped to each PG's six segments; durability is counted from their acknowledgements, and a
 * commit is durable once the volume durable LSN (VDL) reaches it. Sans-I/O: network, clock, random
 * numbers and log come from `Environment`, the PG list from a `VolumeDirectory`, epochs from an
 * `EpochStore`, so the same code runs in a process and in the simulator.
 *
 * Serving:
 *  - The SQL kernel seals one group per committed transaction (its page diffs, in write order) and
 *    `submit`s it; groups get dense LSNs in submission order, one record per page, the last one the
 *    group's CPL. Allocation never goes past VDL + LAL (`lsnAllocationLimit`): a group waits in the
 *    queue until VDL advances (back-pressure), as it waits while the PGs its pages fall in are added.
 *  - Each record's backlink is the previous record of its PG. Records are batched per PG
 *    (`flushIntervalMs`) and sent to all six segments. Batching adapts to load: while a PG has
 *    `roundsInFlightMax` flushes not yet durable, its new records wait in the outbox for one of them
 *    to become durable (or `batchHoldMsMax`), so that under load a batch carries many transactions
 *    and each storage node pays its per-batch cost (frame, log write, fdatasync, ack) once for all
 *    of them; an idle PG sends at once. Acknowledgements (4 of 6 per PG, via the
 *    `DurabilityTracker`) advance VCL, and VDL is the highest CPL ≤ VCL. `whenDurable(seq)` resolves
 *    once VDL ≥ the group's CPL: the engine then answers the client (asynchronous group commit; no
 *    thread waits on a commit).
 *  - Unacknowledged batches are re-sent every `resendIntervalMs` (every protocol step is
 *    idempotent). A group not durable after `writeQuorumTimeoutMs` fails its waiters with
 *    NL_QUORUM_LOST ("outcome unknown": it still commits if enough segments come back) and the driver
 *    stops accepting new groups until VDL moves again.
 *  - Page reads (`readPage`) go to one segment whose SCL is known to reach the read point, falling
 *    back to the next on a refusal or after `pageReadAttemptMs`. The read point of a PG is its
 *    last record at or below VDL (a segment refuses reads above its SCL, and a PG's SCL stops at its
 *    own last record). Each PG's minimum read point (PGMRPL) is sent to its segments periodically so
 *    they can coalesce and collect below it.
 *
 * Recovery (§4.3), on `start` and after a fenced recovery attempt: claim a new volume epoch; ask
 * every segment of every PG for its state; with a read quorum of every PG plan VCL/VDL
 * (`planRecovery`: no redo replay); write the truncation range above VDL under the new epoch to a
 * write quorum of every PG; bring the records between the highest durable hint and VDL to a write
 * quorum; serve. Storage fences every request of an older epoch: a writer that learns (from a
 * rejection) that a newer epoch exists stops for good (`fenced`).
 *
 * Membership changes (`changeMembership`, a repair by the control plane; docs/quorum.md): a PG's
 * quorum set may hold several configurations. A write is durable with a write quorum of every one, a
 * recovery needs a read quorum of one (hydrating members do not count). The directory records a change
 * durably before the driver writes by it; then batches carry the new membership epoch and go to every
 * member of the new quorum set, the PG's pending records are sent to the joiners and judged again,
 * and a removed member's batches are forgotten (its late acknowledgements are ignored). A directory
 * older than storage (a promoted replica's list) is caught up from storage before recovery plans and
 * when storage refuses a batch as of an older membership (`#learnMembership`, reasoning R1–R3).
 */
import {
  type AppendBatchMessage,
  asLsn,
  assert,
  collectTruncations,
  type DiffRun,
  DurabilityTracker,
  decodeMessageFromBytes,
  type Environment,
  EPOCH_ZERO,
  type Epoch,
  encodeMessage,
  isNorthlightError,
  isReadQuorum,
  isWriteQuorum,
  type Lsn,
  type Message,
  type NodeId,
  NorthlightError,
  type PageNo,
  type PgId,
  planRecovery,
  type RecoveryPlan,
  type RedoRecord,
  type SegmentId,
  type SegmentStateMessage,
  type TimerHandle,
  type TruncationRange,
  WRITE_QUORUM,
} from '@northlight/protocol';
import {
  type EpochStore,
  type MembershipChange,
  membershipFromStorage,
  type PgPlacement,
  pgOfPage,
  quorumSetOf,
  type VolumeDirectory,
} from './volume.js';

/** One page write of a sealed group: the page and its byte-range diff against the stored image. */
export interface PageDiff {
  readonly pageNo: number;
  readonly runs: readonly DiffRun[];
}

export interface DriverOptions {
  /** LAL: LSNs allocated never exceed VDL by more than this. */
  readonly lsnAllocationLimit: bigint;
  /**
   * Acknowledgements of a PG's six segments that make a record durable: 4 (the design). 6 waits for
   * every copy, like a synchronous mirror; the benchmark uses it to show what the quorum saves.
   * Recovery's truncation writes always need 4.
   */
  readonly writeQuorum: number;
  readonly flushIntervalMs: number;
  /**
   * Flushes of one PG that may be in flight (sent, not yet durable) before its next records wait
   * for one of them to become durable: the adaptive batching of the commit path. 0: never wait.
   */
  readonly roundsInFlightMax: number;
  /** The longest a record waits in the outbox behind rounds in flight. */
  readonly batchHoldMsMax: number;
  readonly resendIntervalMs: number;
  /** After a read quorum of every PG answered, how long to wait for the other segments' states. */
  readonly recoveryGraceMs: number;
  /** A recovery attempt that takes longer starts over under a newer epoch. */
  readonly recoveryTimeoutMs: number;
  readonly pageReadTimeoutMs: number;
  /** A segment that has not answered a page read within this is skipped for the next one. */
  readonly pageReadAttemptMs: number;
  readonly writeQuorumTimeoutMs: number;
  readonly minReadPointIntervalMs: number;
  /** Records per append batch at most (a batch is one frame). */
  readonly batchRecordsMax: number;
  /** The volume's page size: a page of a PG that does not exist yet reads as this many zeros. */
  readonly pageSizeBytes: number;
}

/** A held record whose hold ends within this is sent now (see `#flush`). */
const HOLD_SLACK_MS = 0.01;

export const DRIVER_DEFAULTS: DriverOptions = {
  lsnAllocationLimit: 1_000_000n,
  writeQuorum: WRITE_QUORUM,
  flushIntervalMs: 0,
  roundsInFlightMax: 1,
  batchHoldMsMax: 10,
  resendIntervalMs: 200,
  recoveryGraceMs: 200,
  recoveryTimeoutMs: 10_000,
  pageReadTimeoutMs: 5_000,
  pageReadAttemptMs: 250,
  writeQuorumTimeoutMs: 10_000,
  minReadPointIntervalMs: 1_000,
  batchRecordsMax: 512,
  pageSizeBytes: 4096,
};

/** What the driver tells its host (the engine process, a simulator workload). All optional. */
export interface DriverEvents {
  /** A group got its LSNs (one per page diff, in order; the last is its CPL). */
  allocated?(seq: number, lsns: readonly Lsn[]): void;
  /** The records of one MTR, as shipped to storage (the redo stream to replicas follows them). */
  mtr?(records: readonly RedoRecord[]): void;
  vdlAdvanced?(vdl: Lsn): void;
  acceptingChanged?(accepting: boolean): void;
  recovered?(report: RecoveryReport): void;
  /** A newer writer recovered the volume: this one has stopped for good. */
  fenced?(volumeEpoch: Epoch, newerEpoch: Epoch): void;
}

export interface RecoveryReport {
  readonly volumeEpoch: Epoch;
  readonly vcl: Lsn;
  readonly vdl: Lsn;
  readonly truncation: TruncationRange;
  readonly pgCount: number;
  readonly rereplicated: number;
  readonly durationMs: number;
}

/** Pause between two rounds of a page read over the PG's segments. */
const READ_ROUND_BACKOFF_MS = 50;

export type DriverState = 'recovering' | 'serving' | 'fenced' | 'stopped';

interface Batch {
  readonly pgId: PgId;
  /** Re-stamped with the new membership epoch when the PG's membership changes. */
  message: AppendBatchMessage;
  readonly nodeId: NodeId;
  /** When it was last sent: only a batch unanswered for a whole `resendIntervalMs` goes again. */
  sentMs: number;
  /** Refused by a segment that had missed our recovery: sent again once it applies our truncation. */
  refusedAsStale?: boolean;
}

interface Group {
  readonly seq: number;
  readonly diffs: readonly PageDiff[];
  readonly submittedMs: number;
  cpl: Lsn | undefined;
  waiters: { resolve: (cpl: Lsn) => void; reject: (error: NorthlightError) => void }[];
  /** Its waiters were failed with NL_QUORUM_LOST; it may still become durable. */
  timedOut: boolean;
}

interface PageRead {
  readonly pageNo: PageNo;
  readonly pgId: PgId;
  readonly readPoint: Lsn;
  readonly tried: Set<SegmentId>;
  readonly deadlineMs: number;
  requestId: bigint;
  segmentId: SegmentId | undefined;
  retry: TimerHandle | undefined;
  /** Waiting out the pause between two rounds of the segments. */
  backedOff: boolean;
  readonly resolve: (bytes: Uint8Array) => void;
  readonly reject: (error: NorthlightError) => void;
}

/** What `changeMembership` answers once the change is durable in the directory and in use. */
export interface MembershipApplied {
  readonly placement: PgPlacement;
  /**
   * The PG's last record allocated when the change took effect (serving only): every record of the PG
   * that may have become durable under the old quorum set alone is at or below it, so a joining member
   * whose SCL reaches it holds all it must (it is a record of the PG, so its SCL can reach it without
   * further writes). Valid for this writer's service period.
   */
  readonly hydrationTarget: Lsn | undefined;
}

type Phase =
  | { readonly name: 'idle' }
  | {
      readonly name: 'state';
      readonly replies: Map<PgId, Map<SegmentId, SegmentStateMessage>>;
      /** `recoveryGraceMs` passed since a read quorum of every PG answered: plan without the rest. */
      graceOver: boolean;
    }
  | {
      readonly name: 'truncate';
      readonly plan: RecoveryPlan;
      readonly ranges: TruncationRange[];
      readonly acks: Map<PgId, Set<SegmentId>>;
      readonly hint: Lsn;
    }
  | {
      readonly name: 'rereplicate';
      readonly plan: RecoveryPlan;
      readonly ranges: TruncationRange[];
      readonly hint: Lsn;
      readonly bodies: Map<Lsn, RedoRecord>;
      readonly acks: Map<Lsn, Set<SegmentId>>;
    }
  | { readonly name: 'serving' }
  | { readonly name: 'fenced' }
  | { readonly name: 'stopped' };

export class QuorumDriver {
  readonly #env: Environment;
  readonly #directory: VolumeDirectory;
  readonly #epochs: EpochStore;
  readonly #options: DriverOptions;
  readonly #events: DriverEvents;
  #phase: Phase = { name: 'idle' };
  #epoch: Epoch = EPOCH_ZERO;
  #knownEpoch: Epoch = EPOCH_ZERO;
  #nextRequestId = 1n;
  #attempt = 0;
  #recoveryStartedMs = 0;
  #rereplicated = 0;
  #graceTimer: TimerHandle | undefined;
  readonly #timers: TimerHandle[] = [];
  #started: { resolve: (report: RecoveryReport) => void; reject: (error: Error) => void } | undefined;
  // ---- serving state ----
  #tracker: DurabilityTracker | undefined;
  /** Per PG: the LSN of its last allocated record (the next record's backlink). */
  readonly #heads = new Map<PgId, Lsn>();
  /** Per PG: LSNs allocated above VDL, ascending (to keep `#readPoints` as VDL moves). */
  readonly #aboveVdl = new Map<PgId, Lsn[]>();
  /** Per PG: its last record at or below VDL, the read point of its pages. */
  readonly #readPoints = new Map<PgId, Lsn>();
  /** The newest SCL each segment reported (acks, segment states). */
  readonly #scls = new Map<SegmentId, Lsn>();
  readonly #outbox = new Map<PgId, RedoRecord[]>();
  /** Per PG: when its oldest record waiting in the outbox got there. */
  readonly #outboxSinceMs = new Map<PgId, number>();
  /** Per PG: the last LSN of each flush not yet known durable (VCL below it), ascending. */
  readonly #rounds = new Map<PgId, Lsn[]>();
  #holdTimer: TimerHandle | undefined;
  readonly #batches = new Map<bigint, Batch>();
  /** Submitted groups not yet durable, in submission order; the unallocated ones at the end. */
  readonly #groups: Group[] = [];
  #nextSeq = 1;
  #flushScheduled = false;
  #addingPg = false;
  #accepting = false;
  readonly #reads = new Map<bigint, PageRead>();
  #stats = {
    groups: 0,
    records: 0,
    batchesSent: 0,
    batchesResent: 0,
    bytesSent: 0,
    pageReads: 0,
    pageReadRetries: 0,
  };
  /** Membership changes apply one at a time, in the order asked. */
  #membershipTail: Promise<unknown> = Promise.resolve();
  /** Per PG, the newest membership epoch a storage refusal named that the directory does not have yet. */
  readonly #newerMembershipSeen = new Map<PgId, Epoch>();
  /** What went to each storage node: every frame's bytes, append batches (first sends and re-sends). */
  readonly #shipped = new Map<NodeId, { bytes: number; batches: number; batchesResent: number }>();

  constructor(
    env: Environment,
    directory: VolumeDirectory,
    epochs: EpochStore,
    options: Partial<DriverOptions> = {},
    events: DriverEvents = {},
  ) {
    this.#env = env;
    this.#directory = directory;
    this.#epochs = epochs;
    this.#options = { ...DRIVER_DEFAULTS, ...options };
    assert(this.#options.lsnAllocationLimit > 0n, 'lsnAllocationLimit must be positive');
    assert(this.#options.batchRecordsMax >= 1, 'batchRecordsMax must be at least 1');
    assert(
      Number.isInteger(this.#options.writeQuorum) &&
        this.#options.writeQuorum >= WRITE_QUORUM &&
        this.#options.writeQuorum <= 6,
      'writeQuorum must be 4, 5 or 6',
    );
    this.#events = events;
    env.network.onMessage((from, bytes) => this.#receive(from, bytes));
  }

  /** Recovers the volume and resolves once serving (or rejects if fenced first or stopped). */
  start(): Promise<RecoveryReport> {
    assert(this.#phase.name === 'idle', 'start() once');
    assert(this.#directory.pgs().length > 0, 'a volume has at least one PG');
    this.#timers.push(this.#every(this.#options.resendIntervalMs, () => this.#tick()));
    this.#timers.push(
      this.#every(this.#options.minReadPointIntervalMs, () => {
        this.#sendMinReadPoints();
        this.#maintainDirectory();
      }),
    );
    const started = new Promise<RecoveryReport>((resolve, reject) => {
      this.#started = { resolve, reject };
    });
    void this.#startRecovery();
    return started;
  }

  /** Stops timers and fails everything pending (the process is going away). */
  stop(): void {
    if (this.#phase.name === 'stopped') return;
    this.#halt({ name: 'stopped' }, new NorthlightError('NL_NETWORK_UNREACHABLE', 'the engine is stopping'));
  }

  get state(): DriverState {
    const name = this.#phase.name;
    if (name === 'serving' || name === 'fenced' || name === 'stopped') return name;
    return 'recovering';
  }

  get volumeEpoch(): Epoch {
    return this.#epoch;
  }

  get vdl(): Lsn | undefined {
    return this.#tracker?.vdl;
  }

  /** Whether a new group would be accepted now (serving, not over the backlog, quorum not lost). */
  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Each PG's read point at the current VDL (its last record at or below it): where a replica that
   * starts at this VDL reads each PG's pages.
   */
  readPoints(): ReadonlyMap<PgId, Lsn> {
    return new Map(this.#readPoints);
  }

  status() {
    const tracker = this.#tracker;
    return {
      state: this.state,
      volumeEpoch: this.#epoch,
      vcl: tracker?.vcl,
      vdl: tracker?.vdl,
      lastAllocated: tracker?.lastAllocated,
      lalHeadroom:
        tracker === undefined
          ? undefined
          : tracker.vdl + this.#options.lsnAllocationLimit - tracker.lastAllocated,
      pgCount: this.#directory.pgs().length,
      groupsWaiting: this.#groups.length,
      batchesInFlight: this.#batches.size,
      pageReadsInFlight: this.#reads.size,
      accepting: this.#accepting,
      ...this.#stats,
      shippedByNode: Object.fromEntries(
        [...this.#shipped].map(([node, shipped]) => [node, { ...shipped }]),
      ) as Record<string, { bytes: number; batches: number; batchesResent: number }>,
    };
  }

  #shippedTo(node: NodeId): { bytes: number; batches: number; batchesResent: number } {
    let shipped = this.#shipped.get(node);
    if (shipped === undefined) {
      shipped = { bytes: 0, batches: 0, batchesResent: 0 };
      this.#shipped.set(node, shipped);
    }
    return shipped;
  }

  // ---- membership changes -----------------------------------------------------------------------

  /**
   * Applies a new membership of PG `pgId`: the directory records it durably (refusing an older epoch
   * with NL_MEMBERSHIP_STALE), then the driver writes by it (`#membershipChanged`). Resolves once
   * both are done. Allowed while recovering (recovery reads the directory as it goes); refused when
   * fenced or stopped.
   */
  changeMembership(pgId: PgId, change: MembershipChange): Promise<MembershipApplied> {
    const applied = this.#membershipTail.then(async (): Promise<MembershipApplied> => {
      if (this.#phase.name === 'fenced') throw this.#fencedError();
      if (this.#phase.name === 'stopped')
        throw new NorthlightError('NL_NETWORK_UNREACHABLE', 'the engine is stopping');
      const before = this.#directory.pgs()[pgId];
      const after = await this.#directory.updateMembership(pgId, change);
      if (before !== undefined && after !== before) this.#membershipChanged(before, after);
      const serving = this.#phase.name === 'serving';
      return {
        placement: after,
        hydrationTarget: serving ? (this.#heads.get(pgId) ?? asLsn(0n)) : undefined,
      };
    });
    this.#membershipTail = applied.catch(() => undefined);
    return applied;
  }

  /**
   * The directory holds PG `after.pgId`'s new membership. While serving:
   *  1. in-flight batches to members that left are forgotten, and so are their acknowledgements of
   *     pending records and their SCL; the other batches are re-stamped with the new membership epoch
   *     (storage refuses an older one);
   *  2. each joining member gets this service period's truncation, then every record of the PG not yet
   *     durable: such a record now needs a write quorum of the new configurations too;
   *  3. the PG's pending records are judged again (a dropped configuration may make them durable).
   * New batches take the placement at flush time, so they go to the new members already. VDL never
   * goes back (the tracker asserts it): a record already durable stays durable.
   */
  #membershipChanged(before: PgPlacement, after: PgPlacement): void {
    this.#env.log.log('info', 'membership changed', {
      pgId: after.pgId,
      membershipEpoch: after.membershipEpoch,
      configurations: after.quorumSet.configurations
        .map((configuration) => configuration.join(','))
        .join(' + '),
      hydrating: after.quorumSet.hydrating.join(','),
    });
    const tracker = this.#tracker;
    if (this.#phase.name !== 'serving' || tracker === undefined) return;
    const pending = new Map<Lsn, RedoRecord>();
    for (const batch of [...this.#batches.values()]) {
      if (batch.pgId !== after.pgId) continue;
      for (const record of batch.message.records)
        if (!tracker.isDurable(record.lsn)) pending.set(record.lsn, record);
      if (!after.members.includes(batch.message.segmentId)) this.#batches.delete(batch.message.requestId);
      else batch.message = { ...batch.message, membershipEpoch: after.membershipEpoch };
    }
    const records = [...pending.values()].sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
    for (const segmentId of before.members) {
      if (after.members.includes(segmentId)) continue;
      // Should a segment of the same id join again, it starts from nothing.
      tracker.forgetMember(after.pgId, segmentId);
      this.#scls.delete(segmentId);
    }
    for (const segmentId of after.members) {
      if (before.members.includes(segmentId)) continue;
      this.#sendTruncations({ pgId: after.pgId, segmentId });
      for (let start = 0; start < records.length; start += this.#options.batchRecordsMax)
        this.#sendBatch(
          after,
          segmentId,
          records.slice(start, start + this.#options.batchRecordsMax),
          tracker.vdl,
        );
    }
    if (tracker.reevaluate(after.pgId)) this.#vdlAdvanced(tracker.vdl);
  }

  // ---- serving: groups --------------------------------------------------------------------------

  /**
   * Queues a sealed group (one committed transaction's page diffs) for LSN allocation and returns its
   * sequence number. A group is accepted whenever the driver serves, even while `accepting` is false:
   * the kernel has already committed it in memory, so dropping it would let the engine's pages run
   * ahead of the log. `accepting` is what the kernel checks before it seals (it then refuses the
   * COMMIT instead). Throws NL_EPOCH_STALE when fenced, NL_QUORUM_LOST when not serving.
   */
  submit(diffs: readonly PageDiff[]): number {
    assert(diffs.length > 0, 'a group has at least one page diff');
    if (this.#phase.name === 'fenced') throw this.#fencedError();
    if (this.#phase.name !== 'serving')
      throw new NorthlightError('NL_QUORUM_LOST', 'the volume is not being served (recovering or stopped)');
    const seq = this.#nextSeq++;
    this.#groups.push({
      seq,
      diffs,
      submittedMs: this.#env.clock.nowMs(),
      cpl: undefined,
      waiters: [],
      timedOut: false,
    });
    this.#stats.groups++;
    this.#allocate();
    return seq;
  }

  /**
   * Resolves with the group's CPL once VDL reaches it (immediately if it already has, or if `seq` is
   * older than every waiting group). Rejects with NL_QUORUM_LOST after `writeQuorumTimeoutMs`, or
   * NL_EPOCH_STALE if this writer is fenced first.
   */
  whenDurable(seq: number): Promise<Lsn> {
    const group = this.#groups.find((candidate) => candidate.seq === seq);
    if (group === undefined) {
      assert(seq < this.#nextSeq, `group ${seq} was never submitted`);
      return Promise.resolve(this.#tracker?.vdl ?? asLsn(0n));
    }
    if (this.#phase.name === 'fenced') return Promise.reject(this.#fencedError());
    if (group.timedOut)
      return Promise.reject(
        new NorthlightError('NL_QUORUM_LOST', 'write quorum lost: the commit is still not durable'),
      );
    return new Promise((resolve, reject) => group.waiters.push({ resolve, reject }));
  }

  /** Whether group `seq` is durable (submitted, and VDL has reached its CPL). */
  isDurable(seq: number): boolean {
    return seq < this.#nextSeq && (this.#groups.length === 0 || this.#groups[0]!.seq > seq);
  }

  /** The highest sequence number submitted so far (0 before any). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Gives LSNs to the waiting groups in order, as far as PGs exist and LAL allows. */
  #allocate(): void {
    const tracker = this.#tracker;
    if (this.#phase.name !== 'serving' || tracker === undefined) return;
    for (const group of this.#groups) {
      if (group.cpl !== undefined) continue;
      let highestPg = 0;
      for (const diff of group.diffs)
        highestPg = Math.max(highestPg, pgOfPage(diff.pageNo, this.#directory.pagesPerPg));
      if (highestPg >= this.#directory.pgs().length) {
        this.#growTo(highestPg);
        return; // later groups wait too: LSNs are allocated in submission order
      }
      const needed = BigInt(group.diffs.length);
      if (tracker.lastAllocated + needed > tracker.vdl + this.#options.lsnAllocationLimit) return;
      const lsns: Lsn[] = [];
      const mtr: RedoRecord[] = [];
      group.diffs.forEach((diff, index) => {
        const lsn = asLsn(tracker.lastAllocated + 1n);
        const pgId = pgOfPage(diff.pageNo, this.#directory.pagesPerPg);
        const cpl = index === group.diffs.length - 1;
        const record: RedoRecord = {
          lsn,
          backlink: this.#heads.get(pgId) ?? asLsn(0n),
          kind: 'page-diff',
          cpl,
          volumeEpoch: this.#epoch,
          pgId,
          pageNo: diff.pageNo as PageNo,
          runs: diff.runs,
        };
        tracker.register(lsn, pgId, cpl);
        this.#heads.set(pgId, lsn);
        this.#listAbove(pgId).push(lsn);
        this.#outboxOf(pgId).push(record);
        if (!this.#outboxSinceMs.has(pgId)) this.#outboxSinceMs.set(pgId, this.#env.clock.nowMs());
        mtr.push(record);
        lsns.push(lsn);
      });
      group.cpl = lsns.at(-1)!;
      this.#stats.records += lsns.length;
      this.#events.allocated?.(group.seq, lsns);
      this.#events.mtr?.(mtr);
    }
    this.#scheduleFlush();
  }

  /** Adds PGs one at a time until `pgId` exists, then allocates again. */
  #growTo(pgId: number): void {
    if (this.#addingPg) return;
    this.#addingPg = true;
    const epoch = this.#epoch;
    void (async () => {
      try {
        while (this.#directory.pgs().length <= pgId) {
          const placement = await this.#directory.addPg();
          this.#env.log.log('info', 'volume grew by one PG', {
            pgId: placement.pgId,
            members: placement.members.join(','),
          });
          // New segments start at epoch 0: give them this recovery's truncations before any append.
          if (this.#epoch === epoch && this.#phase.name === 'serving')
            for (const segmentId of placement.members)
              this.#sendTruncations({ pgId: placement.pgId, segmentId });
        }
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        this.#env.log.log('warn', 'could not add a PG; retrying', { error: error.message });
        await new Promise<void>((resolve) =>
          this.#env.clock.setTimer(this.#options.resendIntervalMs, resolve),
        );
      } finally {
        this.#addingPg = false;
      }
      if (this.#epoch === epoch) this.#allocate();
    })();
  }

  #listAbove(pgId: PgId): Lsn[] {
    let list = this.#aboveVdl.get(pgId);
    if (list === undefined) {
      list = [];
      this.#aboveVdl.set(pgId, list);
    }
    return list;
  }

  #outboxOf(pgId: PgId): RedoRecord[] {
    let outbox = this.#outbox.get(pgId);
    if (outbox === undefined) {
      outbox = [];
      this.#outbox.set(pgId, outbox);
    }
    return outbox;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#outbox.size === 0) return;
    this.#flushScheduled = true;
    this.#env.clock.setTimer(this.#options.flushIntervalMs, () => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const tracker = this.#tracker;
    if (this.#phase.name !== 'serving' || tracker === undefined) return;
    const nowMs = this.#env.clock.nowMs();
    let heldUntilMs = Number.POSITIVE_INFINITY;
    for (const [pgId, records] of this.#outbox) {
      // Due a little early rather than never: a timer set for the deadline may fire a rounding error
      // before it, and must then send, not set itself again for no time at all (a livelock in the
      // simulator, whose clock does not move for a zero delay; operator zone-loss seed 694).
      const dueMs = (this.#outboxSinceMs.get(pgId) ?? nowMs) + this.#options.batchHoldMsMax;
      if (dueMs - nowMs > HOLD_SLACK_MS && this.#holds(pgId, records.length, tracker.vcl)) {
        heldUntilMs = Math.min(heldUntilMs, dueMs);
        continue;
      }
      const placement = this.#placement(pgId);
      for (let start = 0; start < records.length; start += this.#options.batchRecordsMax) {
        const slice = records.slice(start, start + this.#options.batchRecordsMax);
        for (const segmentId of placement.members) this.#sendBatch(placement, segmentId, slice, tracker.vdl);
      }
      this.#roundsOf(pgId).push(records.at(-1)!.lsn);
      this.#outbox.delete(pgId);
      this.#outboxSinceMs.delete(pgId);
    }
    if (heldUntilMs !== Number.POSITIVE_INFINITY && this.#holdTimer === undefined) {
      this.#holdTimer = this.#env.clock.setTimer(heldUntilMs - nowMs, () => {
        this.#holdTimer = undefined;
        this.#flush();
      });
    }
  }

  /**
   * Whether a PG's waiting records should stay in the outbox for now: it has `roundsInFlightMax`
   * flushes in flight and fewer records waiting than fill a batch. Rounds at or below VCL are done.
   */
  #holds(pgId: PgId, waiting: number, vcl: Lsn): boolean {
    if (this.#options.roundsInFlightMax === 0 || waiting >= this.#options.batchRecordsMax) return false;
    const rounds = this.#rounds.get(pgId);
    if (rounds === undefined) return false;
    let done = 0;
    while (done < rounds.length && rounds[done]! <= vcl) done++;
    if (done > 0) rounds.splice(0, done);
    return rounds.length >= this.#options.roundsInFlightMax;
  }

  #roundsOf(pgId: PgId): Lsn[] {
    let rounds = this.#rounds.get(pgId);
    if (rounds === undefined) {
      rounds = [];
      this.#rounds.set(pgId, rounds);
    }
    return rounds;
  }

  /** VCL moved: a PG whose records wait behind a round now done may send them. */
  #releaseHeld(vcl: Lsn): void {
    if (this.#flushScheduled || this.#outbox.size === 0) return;
    for (const pgId of this.#outbox.keys()) {
      const rounds = this.#rounds.get(pgId);
      if (rounds === undefined || rounds.length === 0 || rounds[0]! <= vcl) {
        this.#flushScheduled = true;
        this.#env.clock.setTimer(this.#options.flushIntervalMs, () => this.#flush());
        return;
      }
    }
  }

  #sendBatch(placement: PgPlacement, segmentId: SegmentId, records: readonly RedoRecord[], hint: Lsn): void {
    const message: AppendBatchMessage = {
      type: 'append-batch',
      requestId: this.#requestId(),
      volumeEpoch: this.#epoch,
      membershipEpoch: placement.membershipEpoch,
      pgId: placement.pgId,
      segmentId,
      durableHint: hint,
      records,
      packed: true,
    };
    const nodeId = placement.nodeOf.get(segmentId)!;
    this.#batches.set(message.requestId, {
      pgId: placement.pgId,
      message,
      nodeId,
      sentMs: this.#env.clock.nowMs(),
    });
    this.#send(nodeId, message);
    this.#stats.batchesSent++;
    this.#shippedTo(nodeId).batches++;
  }

  #onAppendAck(message: Extract<Message, { type: 'append-ack' }>): void {
    const batch = this.#batches.get(message.requestId);
    if (
      batch === undefined ||
      message.volumeEpoch !== this.#epoch ||
      batch.message.segmentId !== message.segmentId
    )
      return;
    this.#batches.delete(message.requestId);
    this.#noteScl(message.segmentId, message.scl);
    // A batch sent before a membership change may be answered after it: a member that left counts
    // for nothing (its batches were forgotten; this is the belt to those braces).
    if (!this.#placement(batch.pgId).members.includes(message.segmentId)) return;
    const phase = this.#phase;
    if (phase.name === 'rereplicate') {
      for (const record of batch.message.records) phase.acks.get(record.lsn)?.add(message.segmentId);
      this.#maybeServe();
      return;
    }
    const tracker = this.#tracker;
    if (phase.name !== 'serving' || tracker === undefined) return;
    const before = tracker.vdl;
    const vclBefore = tracker.vcl;
    for (const record of batch.message.records) tracker.acknowledge(record.lsn, message.segmentId);
    tracker.acknowledgeThrough(message.pgId, message.segmentId, message.scl);
    if (tracker.vdl > before) this.#vdlAdvanced(tracker.vdl);
    if (tracker.vcl > vclBefore) this.#releaseHeld(tracker.vcl);
  }

  #noteScl(segmentId: SegmentId, scl: Lsn): void {
    if (scl > (this.#scls.get(segmentId) ?? -1n)) this.#scls.set(segmentId, scl);
  }

  #vdlAdvanced(vdl: Lsn): void {
    for (const [pgId, list] of this.#aboveVdl) {
      let count = 0;
      while (count < list.length && list[count]! <= vdl) count++;
      if (count === 0) continue;
      this.#readPoints.set(pgId, list[count - 1]!);
      list.splice(0, count);
    }
    while (this.#groups.length > 0) {
      const group = this.#groups[0]!;
      if (group.cpl === undefined || group.cpl > vdl) break;
      this.#groups.shift();
      for (const waiter of group.waiters) waiter.resolve(group.cpl);
    }
    this.#setAccepting(true);
    this.#events.vdlAdvanced?.(vdl);
    this.#allocate(); // LAL room may have opened
  }

  #setAccepting(accepting: boolean): void {
    const value = accepting && this.#phase.name === 'serving';
    if (value === this.#accepting) return;
    this.#accepting = value;
    this.#events.acceptingChanged?.(value);
  }

  /** Every `resendIntervalMs`: re-send what is unacknowledged, time out groups and page reads. */
  #tick(): void {
    switch (this.#phase.name) {
      case 'state':
        this.#sendStateRequests();
        if (this.#epoch !== EPOCH_ZERO && this.#phase.name === 'state') this.#considerPlan(this.#phase);
        return;
      case 'truncate':
        this.#sendTruncations();
        return;
      case 'rereplicate':
        this.#rereplicate();
        return;
      case 'serving':
        this.#resendBatches();
        this.#timeOutGroups();
        return;
      default:
        return;
    }
  }

  /**
   * Re-sends each batch left unanswered for a whole `resendIntervalMs` (a frame lost with its
   * connection, a node restarted). A batch sent just before the tick is not due yet: re-sending it
   * would only double a loaded node's work, which slows its answers, which causes more re-sends.
   */
  #resendBatches(): void {
    const tracker = this.#tracker!;
    const nowMs = this.#env.clock.nowMs();
    for (const batch of [...this.#batches.values()]) {
      if (batch.message.records.every((record) => tracker.isDurable(record.lsn))) {
        this.#batches.delete(batch.message.requestId);
        continue;
      }
      if (nowMs - batch.sentMs < this.#options.resendIntervalMs) continue;
      this.#sendAgain(batch, nowMs, tracker.vdl);
    }
  }

  #sendAgain(batch: Batch, nowMs: number, durableHint: Lsn): void {
    batch.sentMs = nowMs;
    this.#send(batch.nodeId, { ...batch.message, durableHint });
    this.#stats.batchesResent++;
    const shipped = this.#shippedTo(batch.nodeId);
    shipped.batches++;
    shipped.batchesResent++;
  }

  /** Sends again, now, the batches one segment refused as of an older epoch. */
  #resendTo(segmentId: SegmentId): void {
    const tracker = this.#tracker!;
    const nowMs = this.#env.clock.nowMs();
    for (const batch of this.#batches.values()) {
      if (batch.message.segmentId !== segmentId || batch.refusedAsStale !== true) continue;
      batch.refusedAsStale = false;
      this.#sendAgain(batch, nowMs, tracker.vdl);
    }
  }

  #timeOutGroups(): void {
    const nowMs = this.#env.clock.nowMs();
    const oldest = this.#groups[0];
    if (oldest === undefined || nowMs - oldest.submittedMs < this.#options.writeQuorumTimeoutMs) return;
    for (const group of this.#groups) {
      if (group.timedOut || nowMs - group.submittedMs < this.#options.writeQuorumTimeoutMs) continue;
      group.timedOut = true;
      const error = new NorthlightError(
        'NL_QUORUM_LOST',
        `write quorum lost: the commit was not acknowledged by 4 of 6 segments of its PGs within ` +
          `${this.#options.writeQuorumTimeoutMs} ms; its outcome is unknown (it commits if enough ` +
          `storage nodes come back); check the storage nodes, then retry`,
        { seq: group.seq, waitedMs: nowMs - group.submittedMs },
      );
      for (const waiter of group.waiters) waiter.reject(error);
      group.waiters = [];
    }
    if (this.#accepting)
      this.#env.log.log('warn', 'write quorum lost: not accepting writes until storage acknowledges again', {
        vdl: this.#tracker?.vdl,
        groupsWaiting: this.#groups.length,
      });
    this.#setAccepting(false);
  }

  // ---- serving: page reads ----------------------------------------------------------------------

  /**
   * The page as of its PG's read point (its last record at or below VDL), from one segment. Rejects
   * with NL_TIMEOUT if no segment answered within `pageReadTimeoutMs`.
   */
  readPage(pageNo: number): Promise<Uint8Array> {
    if (this.#phase.name === 'fenced') return Promise.reject(this.#fencedError());
    if (this.#phase.name !== 'serving')
      return Promise.reject(new NorthlightError('NL_QUORUM_LOST', 'the volume is recovering; retry'));
    const pgId = pgOfPage(pageNo, this.#directory.pagesPerPg);
    if (pgId >= this.#directory.pgs().length)
      return Promise.resolve(new Uint8Array(this.#options.pageSizeBytes)); // never written
    this.#stats.pageReads++;
    return new Promise((resolve, reject) => {
      const read: PageRead = {
        pageNo: pageNo as PageNo,
        pgId,
        readPoint: this.#readPoints.get(pgId) ?? asLsn(0n),
        tried: new Set(),
        deadlineMs: this.#env.clock.nowMs() + this.#options.pageReadTimeoutMs,
        requestId: 0n,
        segmentId: undefined,
        retry: undefined,
        backedOff: false,
        resolve,
        reject,
      };
      this.#sendRead(read);
    });
  }

  /** Sends the read to the next segment: one known to reach the read point first, then any other. */
  #sendRead(read: PageRead): void {
    read.retry?.cancel();
    const nowMs = this.#env.clock.nowMs();
    if (nowMs >= read.deadlineMs) {
      this.#reads.delete(read.requestId);
      read.reject(
        new NorthlightError(
          'NL_TIMEOUT',
          `no segment of PG ${read.pgId} served page ${read.pageNo} at LSN ${read.readPoint} within ` +
            `${this.#options.pageReadTimeoutMs} ms; check the storage nodes`,
          { pgId: read.pgId, pageNo: read.pageNo, readPoint: read.readPoint },
        ),
      );
      return;
    }
    const placement = this.#placement(read.pgId);
    // A member still hydrating is asked only once its SCL is known to reach the read point (it would
    // refuse anyway: storage never serves above its SCL).
    const hydrating = placement.quorumSet.hydrating;
    const readable = placement.members.filter(
      (segmentId) => !hydrating.includes(segmentId) || (this.#scls.get(segmentId) ?? -1n) >= read.readPoint,
    );
    const untried = readable.filter((segmentId) => !read.tried.has(segmentId));
    if (untried.length === 0 && !read.backedOff) {
      // Every segment refused or timed out once (behind the read point until gossip fills a gap,
      // down…): wait a little before going round again, instead of a storm of requests. The read
      // stays registered under its last request, whose late answer is still taken.
      read.backedOff = true;
      read.retry = this.#env.clock.setTimer(
        Math.max(1, Math.min(READ_ROUND_BACKOFF_MS, read.deadlineMs - nowMs)),
        () => {
          if (this.#reads.get(read.requestId) === read) this.#sendRead(read);
        },
      );
      return;
    }
    this.#reads.delete(read.requestId);
    if (untried.length === 0) read.tried.clear(); // go round again
    read.backedOff = false;
    const candidates = untried.length === 0 ? readable : untried;
    const reaching = candidates.filter((segmentId) => (this.#scls.get(segmentId) ?? -1n) >= read.readPoint);
    const pool = reaching.length > 0 ? reaching : candidates;
    const segmentId = pool[this.#env.random.nextInt(pool.length)]!;
    if (read.tried.size > 0) this.#stats.pageReadRetries++;
    read.tried.add(segmentId);
    read.segmentId = segmentId;
    read.requestId = this.#requestId();
    this.#reads.set(read.requestId, read);
    this.#send(placement.nodeOf.get(segmentId)!, {
      type: 'read-page',
      requestId: read.requestId,
      pgId: read.pgId,
      segmentId,
      volumeEpoch: this.#epoch,
      pageNo: read.pageNo,
      readPoint: read.readPoint,
    });
    // At least 1 ms: a sliver before the deadline would let a microsecond clock fire without advancing.
    const waitMs = Math.max(1, Math.min(this.#options.pageReadAttemptMs, read.deadlineMs - nowMs));
    read.retry = this.#env.clock.setTimer(waitMs, () => {
      if (this.#reads.get(read.requestId) === read) this.#sendRead(read);
    });
  }

  #onPage(message: Extract<Message, { type: 'page' }>): void {
    const read = this.#reads.get(message.requestId);
    if (read === undefined || message.segmentId !== read.segmentId || message.pageNo !== read.pageNo) return;
    this.#reads.delete(message.requestId);
    read.retry?.cancel();
    read.resolve(message.bytes);
  }

  #maintaining = false;

  #maintainDirectory(): void {
    const maintain = this.#directory.maintain;
    // Also while recovering: a recovery may need a segment only upkeep creates (its node was down
    // when its PG was added).
    if (maintain === undefined || this.#maintaining || this.state === 'fenced' || this.state === 'stopped')
      return;
    this.#maintaining = true;
    maintain
      .call(this.#directory)
      .catch((error: unknown) => {
        if (!isNorthlightError(error)) throw error;
        this.#env.log.log('warn', 'volume directory upkeep failed; retrying later', { error: error.message });
      })
      .finally(() => {
        this.#maintaining = false;
      });
  }

  /**
   * Where replicas may still read, per PG (set by the engine process once replicas subscribe): folded
   * into each PG's PGMRPL, so storage keeps serving the replicas' read points.
   */
  #replicaReadPoints: (() => ReadonlyMap<PgId, Lsn>) | undefined;

  set replicaReadPoints(source: (() => ReadonlyMap<PgId, Lsn>) | undefined) {
    this.#replicaReadPoints = source;
  }

  /** Engine → storage: PGMRPL per PG (the writer's read points, its reads in flight, its replicas'). */
  #sendMinReadPoints(): void {
    if (this.#phase.name !== 'serving') return;
    const inFlight = new Map<PgId, Lsn>();
    for (const read of this.#reads.values()) {
      const current = inFlight.get(read.pgId);
      if (current === undefined || read.readPoint < current) inFlight.set(read.pgId, read.readPoint);
    }
    const replicaPoints = this.#replicaReadPoints?.();
    for (const placement of this.#directory.pgs()) {
      const point = this.#readPoints.get(placement.pgId);
      if (point === undefined) continue;
      let minReadPoint = point;
      const floor = inFlight.get(placement.pgId);
      if (floor !== undefined && floor < minReadPoint) minReadPoint = floor;
      const replicas = replicaPoints?.get(placement.pgId);
      if (replicas !== undefined && replicas < minReadPoint) minReadPoint = replicas;
      for (const segmentId of placement.members) {
        this.#send(placement.nodeOf.get(segmentId)!, {
          type: 'min-read-point',
          pgId: placement.pgId,
          segmentId,
          volumeEpoch: this.#epoch,
          minReadPoint,
        });
      }
    }
  }

  // ---- recovery ---------------------------------------------------------------------------------

  async #startRecovery(): Promise<void> {
    const attempt = ++this.#attempt;
    this.#resetServingState(new NorthlightError('NL_QUORUM_LOST', 'the volume is recovering; retry'));
    this.#phase = { name: 'state', replies: this.#emptyReplies(), graceOver: false };
    this.#graceTimer?.cancel();
    this.#graceTimer = undefined;
    this.#recoveryStartedMs = this.#env.clock.nowMs();
    let epoch: Epoch;
    try {
      epoch = await this.#epochs.claim(this.#knownEpoch);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'could not claim a volume epoch; retrying', { error: error.message });
      this.#env.clock.setTimer(this.#options.recoveryGraceMs, () => {
        if (attempt === this.#attempt) void this.#startRecovery();
      });
      return;
    }
    if (attempt !== this.#attempt || this.#phase.name !== 'state') return;
    assert(epoch > this.#knownEpoch, `the epoch store returned ${epoch}, not above ${this.#knownEpoch}`);
    this.#epoch = epoch;
    this.#knownEpoch = epoch;
    this.#env.log.log('info', 'recovery started', { volumeEpoch: epoch, pgs: this.#directory.pgs().length });
    this.#sendStateRequests();
    this.#env.clock.setTimer(this.#options.recoveryTimeoutMs, () => {
      if (attempt !== this.#attempt || this.state !== 'recovering') return;
      this.#env.log.log('warn', 'recovery timed out; starting over under a newer epoch', {
        volumeEpoch: epoch,
        phase: this.#phase.name,
      });
      void this.#startRecovery();
    });
  }

  #emptyReplies(): Map<PgId, Map<SegmentId, SegmentStateMessage>> {
    return new Map(this.#directory.pgs().map((placement) => [placement.pgId, new Map()]));
  }

  #sendStateRequests(): void {
    const phase = this.#phase;
    if (phase.name !== 'state' || this.#epoch === EPOCH_ZERO) return;
    for (const placement of this.#directory.pgs()) {
      for (const segmentId of placement.members) {
        if (phase.replies.get(placement.pgId)?.has(segmentId)) continue;
        this.#send(placement.nodeOf.get(segmentId)!, {
          type: 'segment-state-request',
          requestId: this.#requestId(),
          pgId: placement.pgId,
          segmentId,
          volumeEpoch: this.#epoch,
        });
      }
    }
  }

  #onSegmentState(message: SegmentStateMessage): void {
    const phase = this.#phase;
    if (phase.name !== 'state' || message.volumeEpoch !== this.#epoch) return;
    phase.replies.get(message.pgId)?.set(message.segmentId, message);
    this.#noteScl(message.segmentId, message.scl);
    this.#considerPlan(phase);
  }

  /**
   * Plans once a read quorum of every PG answered and either every member did or `recoveryGraceMs`
   * passed since — and never while a PG's membership in the directory is older than one storage
   * reported (recovery reasoning R1 below): the directory catches up first (`#learnMembership`).
   */
  #considerPlan(phase: Extract<Phase, { name: 'state' }>): void {
    if (this.#membershipBehind(phase)) return;
    const pgs = this.#directory.pgs();
    const quorum = pgs.every((placement) =>
      isReadQuorum(quorumSetOf(placement), new Set(this.#memberReplies(placement, phase.replies).keys())),
    );
    if (!quorum) return;
    const everyone = pgs.every(
      (placement) => this.#memberReplies(placement, phase.replies).size === placement.members.length,
    );
    if (everyone || phase.graceOver) this.#plan();
    else if (this.#graceTimer === undefined) {
      const attempt = this.#attempt;
      this.#graceTimer = this.#env.clock.setTimer(this.#options.recoveryGraceMs, () => {
        if (attempt !== this.#attempt || this.#phase !== phase) return;
        phase.graceOver = true;
        this.#considerPlan(phase);
      });
    }
  }

  /**
   * Whether some PG's segment reported a membership epoch newer than the directory's (it is then
   * learned, `#learnMembership`). Recovery reasoning, next to the code it protects:
   *  R1. A writer's directory can be older than storage: a replica promoted with the PG list it last
   *      read from the writer (every 2 s) misses a repair completed or reverted since. Storage learns a
   *      membership only after the writer recorded it, so storage's newer epoch is the truth.
   *  R2. Planning on the older membership is unsafe: after a completed replacement of F by G, a write
   *      acknowledged by {C,D,E,G} is invisible to {A,B,F}, a read quorum of the old configuration.
   *      And it cannot finish: storage refuses appends of an older membership epoch, so re-replication
   *      never gets its acknowledgements, and the control plane decides nothing while a promotion
   *      runs — the recovery timed out and started over, under ever newer epochs, for good.
   *  R3. So recovery waits (its timeout still applies) until the directory holds every membership
   *      storage reported; replies already in stay valid (they are of this epoch), and new members
   *      are asked at the next tick.
   */
  #membershipBehind(phase: Extract<Phase, { name: 'state' }>): boolean {
    let behind = false;
    for (const placement of this.#directory.pgs()) {
      let newest: SegmentStateMessage | undefined;
      for (const reply of phase.replies.get(placement.pgId)?.values() ?? [])
        if (reply.membershipEpoch > (newest?.membershipEpoch ?? placement.membershipEpoch)) newest = reply;
      if (newest === undefined) continue;
      behind = true;
      this.#learnMembership(placement.pgId, newest.segmentId, newest.membershipEpoch);
    }
    return behind;
  }

  /** PGs whose membership is being read from storage now. */
  readonly #learning = new Set<PgId>();
  /** Per PG, the newest storage membership epoch found to be a change in flight (logged once). */
  readonly #unlearnable = new Map<PgId, Epoch>();

  /**
   * Segment `segmentId` of PG `pgId` holds membership epoch `epoch`, newer than the directory's: reads
   * that membership from its node and records it in the directory, as a change the control plane
   * would post (`changeMembership`, serialized with those). A membership storage alone cannot give (a
   * change in flight: only the union of its configurations is kept there) waits for the control plane.
   */
  #learnMembership(pgId: PgId, segmentId: SegmentId, epoch: Epoch): void {
    const read = this.#directory.storedMembership;
    if (read === undefined || this.#learning.has(pgId)) return;
    this.#learning.add(pgId);
    void read
      .call(this.#directory, pgId, segmentId)
      .then(async (stored) => {
        const current = this.#directory.pgs()[pgId];
        if (
          stored === undefined ||
          current === undefined ||
          stored.membershipEpoch <= current.membershipEpoch
        )
          return;
        const change = membershipFromStorage(current, stored);
        if (change === undefined) {
          if ((this.#unlearnable.get(pgId) ?? EPOCH_ZERO) < stored.membershipEpoch) {
            this.#unlearnable.set(pgId, stored.membershipEpoch);
            this.#env.log.log(
              'warn',
              'storage holds a newer membership of a PG that it cannot give; waiting for the control plane',
              {
                pgId,
                segmentId,
                membershipEpoch: current.membershipEpoch,
                storageMembershipEpoch: stored.membershipEpoch,
                storageMembers: stored.members.join(','),
              },
            );
          }
          return;
        }
        this.#env.log.log('info', 'took a newer membership of a PG from storage', {
          pgId,
          segmentId,
          membershipEpoch: current.membershipEpoch,
          storageMembershipEpoch: change.membershipEpoch,
          members: change.quorumSet.configurations[0]!.join(','),
          reportedEpoch: epoch,
        });
        await this.changeMembership(pgId, change);
      })
      .catch((error: unknown) => {
        if (!isNorthlightError(error)) throw error;
        this.#env.log.log('warn', 'could not take a newer membership of a PG from storage; retrying', {
          pgId,
          segmentId,
          error: error.message,
        });
      })
      .finally(() => {
        this.#learning.delete(pgId);
        const phase = this.#phase;
        if (phase.name !== 'state') return;
        this.#sendStateRequests(); // members the new membership added
        this.#considerPlan(phase);
      });
  }

  /** The PG's state replies from its current members (the membership may change during a recovery). */
  #memberReplies(
    placement: PgPlacement,
    replies: ReadonlyMap<PgId, ReadonlyMap<SegmentId, SegmentStateMessage>>,
  ): Map<SegmentId, SegmentStateMessage> {
    const own = replies.get(placement.pgId) ?? new Map<SegmentId, SegmentStateMessage>();
    return new Map([...own].filter(([segmentId]) => placement.members.includes(segmentId)));
  }

  #plan(): void {
    const phase = this.#phase;
    assert(phase.name === 'state');
    const pgs = this.#directory.pgs();
    const result = planRecovery({
      pgs: pgs.map((placement) => ({
        pgId: placement.pgId,
        quorumSet: quorumSetOf(placement),
        reports: [...this.#memberReplies(placement, phase.replies).values()].map((reply) => ({
          member: reply.segmentId,
          scl: reply.scl,
          durableHint: reply.durableHint,
          truncations: reply.truncations,
          tail: reply.tail,
        })),
      })),
      newEpoch: this.#epoch,
      lsnAllocationLimit: this.#options.lsnAllocationLimit,
    });
    if (!result.ok) throw result.error; // a read quorum of every PG was checked first: a bug
    const plan = result.value;
    const replies = pgs.flatMap((placement) => [...this.#memberReplies(placement, phase.replies).values()]);
    const ranges = [
      ...collectTruncations(replies.map((reply) => ({ member: reply.segmentId, ...reply }))),
      plan.truncation,
    ];
    const hint = replies.reduce(
      (max, reply) => (reply.durableHint > max ? reply.durableHint : max),
      asLsn(0n),
    );
    this.#env.log.log('info', 'recovery planned', {
      volumeEpoch: this.#epoch,
      vcl: plan.vcl,
      vdl: plan.vdl,
      truncateTo: plan.truncation.toInclusive,
    });
    this.#phase = {
      name: 'truncate',
      plan,
      ranges,
      acks: new Map(pgs.map((placement) => [placement.pgId, new Set()])),
      hint,
    };
    this.#sendTruncations();
  }

  #sendTruncations(only?: { pgId: PgId; segmentId: SegmentId }): void {
    const phase = this.#phase;
    if (phase.name !== 'truncate' && phase.name !== 'rereplicate' && phase.name !== 'serving') return;
    const ranges = phase.name === 'serving' ? this.#servingRanges : phase.ranges;
    for (const placement of this.#directory.pgs()) {
      for (const segmentId of placement.members) {
        if (only !== undefined && (only.pgId !== placement.pgId || only.segmentId !== segmentId)) continue;
        if (only === undefined && phase.name === 'truncate' && phase.acks.get(placement.pgId)?.has(segmentId))
          continue;
        this.#send(placement.nodeOf.get(segmentId)!, {
          type: 'truncate',
          requestId: this.#requestId(),
          pgId: placement.pgId,
          segmentId,
          volumeEpoch: this.#epoch,
          ranges,
        });
      }
    }
  }

  /** The truncation ranges of the recovery this writer serves under (re-sent to a segment that missed it). */
  #servingRanges: TruncationRange[] = [];

  #onTruncateAck(message: Extract<Message, { type: 'truncate-ack' }>): void {
    const phase = this.#phase;
    if (phase.name === 'serving' && message.volumeEpoch === this.#epoch) {
      // A segment that had missed our recovery (a PG created since, a node that was down) refused
      // batches as of an older epoch, and we sent it our truncation: it has applied it now, so what
      // it refused goes again at once rather than a resend interval later.
      this.#resendTo(message.segmentId);
      return;
    }
    if (phase.name !== 'truncate' || message.volumeEpoch !== this.#epoch) return;
    phase.acks.get(message.pgId)?.add(message.segmentId);
    const done = this.#directory
      .pgs()
      .every((placement) =>
        isWriteQuorum(quorumSetOf(placement), phase.acks.get(placement.pgId) ?? new Set()),
      );
    if (!done) return;
    const acks = new Map<Lsn, Set<SegmentId>>();
    for (const lsns of phase.plan.rereplicate.values()) for (const lsn of lsns) acks.set(lsn, new Set());
    this.#phase = {
      name: 'rereplicate',
      plan: phase.plan,
      ranges: phase.ranges,
      hint: phase.hint,
      bodies: new Map(),
      acks,
    };
    this.#rereplicated = acks.size;
    this.#rereplicate();
  }

  /** Fetches the bodies of (H, VDL] from every segment and re-sends the known ones to every segment. */
  #rereplicate(): void {
    const phase = this.#phase;
    if (phase.name !== 'rereplicate') return;
    if (this.#maybeServe()) return;
    for (const placement of this.#directory.pgs()) {
      const lsns = phase.plan.rereplicate.get(placement.pgId) ?? [];
      const missing = lsns.filter((lsn) => !phase.bodies.has(lsn));
      const known = lsns.filter((lsn) => phase.bodies.has(lsn)).map((lsn) => phase.bodies.get(lsn)!);
      for (const segmentId of placement.members) {
        const nodeId = placement.nodeOf.get(segmentId)!;
        if (missing.length > 0) {
          this.#send(nodeId, {
            type: 'fetch-records',
            requestId: this.#requestId(),
            pgId: placement.pgId,
            segmentId,
            volumeEpoch: this.#epoch,
            lsns: missing,
          });
        }
        const unacknowledged = known.filter((record) => !phase.acks.get(record.lsn)!.has(segmentId));
        for (let start = 0; start < unacknowledged.length; start += this.#options.batchRecordsMax)
          this.#sendBatch(
            placement,
            segmentId,
            unacknowledged.slice(start, start + this.#options.batchRecordsMax),
            phase.hint,
          );
      }
    }
  }

  #onRecords(message: Extract<Message, { type: 'records' }>): void {
    const phase = this.#phase;
    if (phase.name !== 'rereplicate') return;
    let added = false;
    for (const record of message.records) {
      if (phase.acks.has(record.lsn) && !phase.bodies.has(record.lsn)) {
        phase.bodies.set(record.lsn, record);
        added = true;
      }
    }
    if (added && [...phase.acks.keys()].every((lsn) => phase.bodies.has(lsn))) this.#rereplicate();
  }

  #maybeServe(): boolean {
    const phase = this.#phase;
    if (phase.name !== 'rereplicate') return false;
    for (const placement of this.#directory.pgs()) {
      for (const lsn of phase.plan.rereplicate.get(placement.pgId) ?? []) {
        if (!isWriteQuorum(quorumSetOf(placement), phase.acks.get(lsn)!)) return false;
      }
    }
    this.#batches.clear();
    const plan = phase.plan;
    this.#tracker = new DurabilityTracker(
      plan.truncation.toInclusive,
      (pgId) => quorumSetOf(this.#placement(pgId)),
      this.#options.writeQuorum,
    );
    for (const [pgId, head] of plan.pgHeads) {
      this.#heads.set(pgId, head);
      this.#readPoints.set(pgId, head);
    }
    this.#servingRanges = phase.ranges;
    this.#phase = { name: 'serving' };
    this.#setAccepting(true);
    const report: RecoveryReport = {
      volumeEpoch: this.#epoch,
      vcl: plan.vcl,
      vdl: plan.vdl,
      truncation: plan.truncation,
      pgCount: this.#directory.pgs().length,
      rereplicated: this.#rereplicated,
      durationMs: this.#env.clock.nowMs() - this.#recoveryStartedMs,
    };
    this.#env.log.log('info', 'serving', {
      volumeEpoch: this.#epoch,
      vdl: plan.vdl,
      nextLsn: plan.nextLsn,
      recoveryMs: report.durationMs,
    });
    this.#events.recovered?.(report);
    this.#started?.resolve(report);
    this.#started = undefined;
    this.#events.vdlAdvanced?.(this.#tracker.vdl);
    return true;
  }

  /** Forgets a previous service period; whatever waited on it fails with `error`. */
  #resetServingState(error: NorthlightError): void {
    this.#tracker = undefined;
    this.#heads.clear();
    this.#aboveVdl.clear();
    this.#readPoints.clear();
    this.#outbox.clear();
    this.#outboxSinceMs.clear();
    this.#rounds.clear();
    this.#holdTimer?.cancel();
    this.#holdTimer = undefined;
    this.#batches.clear();
    for (const group of this.#groups) for (const waiter of group.waiters) waiter.reject(error);
    this.#groups.length = 0;
    for (const read of this.#reads.values()) {
      read.retry?.cancel();
      read.reject(error);
    }
    this.#reads.clear();
    this.#setAccepting(false);
  }

  #fencedError(): NorthlightError {
    return new NorthlightError(
      'NL_EPOCH_STALE',
      `this writer (volume epoch ${this.#epoch}) was fenced: a newer writer recovered the volume at ` +
        `epoch ${this.#knownEpoch}; nothing more is acknowledged here, reconnect to the new writer`,
      { volumeEpoch: this.#epoch, newerEpoch: this.#knownEpoch },
    );
  }

  #halt(phase: Phase, error: NorthlightError): void {
    for (const timer of this.#timers) timer.cancel();
    this.#graceTimer?.cancel();
    this.#attempt++;
    this.#resetServingState(error);
    this.#phase = phase;
    this.#started?.reject(error);
    this.#started = undefined;
  }

  #onRejected(message: Extract<Message, { type: 'request-rejected' }>): void {
    const read = this.#reads.get(message.requestId);
    if (read !== undefined && message.code !== 'NL_EPOCH_STALE') {
      this.#sendRead(read); // this segment cannot serve it (above its SCL, below its GC point…): next
      return;
    }
    if (message.code === 'NL_MEMBERSHIP_STALE' && this.#awaitsMembership(message)) return;
    if (message.code !== 'NL_EPOCH_STALE') {
      this.#env.log.log('warn', 'storage refused a request', {
        pgId: message.pgId,
        segmentId: message.segmentId,
        code: message.code,
        message: message.message,
      });
      return;
    }
    if (message.currentVolumeEpoch > this.#epoch) {
      if (message.currentVolumeEpoch > this.#knownEpoch) this.#knownEpoch = message.currentVolumeEpoch;
      if (this.#phase.name === 'serving') {
        this.#env.log.log('error', 'fenced: a newer writer recovered the volume; this writer stops', {
          volumeEpoch: this.#epoch,
          newerEpoch: message.currentVolumeEpoch,
        });
        const epoch = this.#epoch;
        this.#halt({ name: 'fenced' }, this.#fencedError());
        this.#events.fenced?.(epoch, message.currentVolumeEpoch);
      } else if (this.state === 'recovering') {
        this.#restartRecoverySoon(); // a competing recovery is newer: go again above it
      }
    } else if (message.currentVolumeEpoch < this.#epoch) {
      const batch = this.#batches.get(message.requestId);
      if (batch !== undefined && batch.message.segmentId === message.segmentId) batch.refusedAsStale = true;
      this.#sendTruncations({ pgId: message.pgId, segmentId: message.segmentId }); // it missed our recovery
    }
  }

  /**
   * A segment refused a batch because it already knows a newer membership of its PG than the directory
   * (the control plane told the storage nodes a change this writer never got: it was promoted with an
   * older PG list, recovery reasoning R1). Not an error: the batch stays and is re-sent; the directory
   * takes the membership from storage (`#learnMembership`) or, for a change in flight, from the control
   * plane, and then the batch carries the new epoch. Logged once per epoch.
   */
  #awaitsMembership(message: Extract<Message, { type: 'request-rejected' }>): boolean {
    const placement = this.#directory.pgs()[message.pgId];
    if (placement === undefined || message.currentMembershipEpoch <= placement.membershipEpoch) return false;
    if ((this.#newerMembershipSeen.get(message.pgId) ?? EPOCH_ZERO) < message.currentMembershipEpoch) {
      this.#newerMembershipSeen.set(message.pgId, message.currentMembershipEpoch);
      this.#env.log.log('info', 'storage knows a newer membership of a PG; taking it', {
        pgId: message.pgId,
        segmentId: message.segmentId,
        membershipEpoch: placement.membershipEpoch,
        storageMembershipEpoch: message.currentMembershipEpoch,
      });
    }
    this.#learnMembership(message.pgId, message.segmentId, message.currentMembershipEpoch);
    return true;
  }

  /**
   * Two writers recovering at once would fence each other forever if both retried at once; a random
   * back-off (as in Raft's election timeouts) lets one of them finish.
   */
  #restartRecoverySoon(): void {
    const attempt = ++this.#attempt; // abandons the attempt in flight
    this.#phase = { name: 'state', replies: this.#emptyReplies(), graceOver: false };
    const delayMs = this.#env.random.nextFloat() * this.#options.recoveryGraceMs * 4;
    this.#env.clock.setTimer(delayMs, () => {
      if (attempt === this.#attempt && this.#phase.name === 'state') void this.#startRecovery();
    });
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  #placement(pgId: PgId): PgPlacement {
    const placement = this.#directory.pgs()[pgId];
    assert(placement !== undefined && placement.pgId === pgId, `PG ${pgId} is not in the directory`);
    return placement;
  }

  #every(intervalMs: number, action: () => void): TimerHandle {
    let handle: TimerHandle;
    const tick = () => {
      action();
      handle = this.#env.clock.setTimer(intervalMs, tick);
    };
    handle = this.#env.clock.setTimer(intervalMs, tick);
    return { cancel: () => handle.cancel() };
  }

  #send(to: NodeId, message: Message): void {
    const bytes = encodeMessage(message);
    this.#stats.bytesSent += bytes.length;
    this.#shippedTo(to).bytes += bytes.length;
    this.#env.network.send(to, bytes);
  }

  #requestId(): bigint {
    const id = this.#nextRequestId;
    this.#nextRequestId += 1n;
    return id;
  }

  #receive(_from: NodeId, bytes: Uint8Array): void {
    const name = this.#phase.name;
    if (name === 'fenced' || name === 'stopped' || name === 'idle') return;
    let message: Message;
    try {
      message = decodeMessageFromBytes(bytes);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'dropped an undecodable message from storage', { code: error.code });
      return;
    }
    switch (message.type) {
      case 'segment-state':
        this.#onSegmentState(message);
        return;
      case 'truncate-ack':
        this.#onTruncateAck(message);
        return;
      case 'records':
        this.#onRecords(message);
        return;
      case 'append-ack':
        this.#onAppendAck(message);
        return;
      case 'page':
        this.#onPage(message);
        return;
      case 'request-rejected':
        this.#onRejected(message);
        return;
      default:
        this.#env.log.log('warn', 'unexpected message from storage', { type: message.type });
    }
  }
}
