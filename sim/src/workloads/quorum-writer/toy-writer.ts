/**
 * The toy writer of the quorum-writer workload: the engine's log path without SQL. It allocates dense
 * LSNs (never past VDL + LAL), chains each record to its PG's previous one, sends each PG's records to
 * the PG's six segments, counts acknowledgements with the real `DurabilityTracker`, acknowledges a
 * commit only when VDL ≥ its LSN, and on every start runs the real recovery (`planRecovery`) under a
 * new volume epoch. It is the scaffolding on which the real db-engine will be checked the same way.
 *
 * Recovery, step by step (each step retried until it holds, or recovery restarts under a newer epoch):
 *  1. Ask every segment of every PG for its state under epoch E (segments persist E: old writer fenced).
 *  2. With a read quorum of every PG (plus a short grace for stragglers), plan: VDL, truncation range.
 *  3. Send the truncation (with every earlier range) to all segments; wait for a write quorum per PG.
 *  4. Fetch the records in (H, VDL] and re-send them until each holds a write quorum.
 *  5. Serve: LSNs continue after the truncation range.
 */
import {
  type AppendBatchMessage,
  allMembers,
  asEpoch,
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
  type PageNo,
  type PgId,
  planRecovery,
  type QuorumSet,
  type RecoveryPlan,
  type RedoRecord,
  type SegmentId,
  type SegmentStateMessage,
  type TimerHandle,
  type TruncationRange,
} from '@northlight/protocol';

const EPOCH_FILE = '/writer/epoch';

export interface PgLayout {
  readonly pgId: PgId;
  readonly quorumSet: QuorumSet<SegmentId>;
  readonly nodeOf: ReadonlyMap<SegmentId, NodeId>;
}

export interface WriterObserver {
  recordAllocated(record: RedoRecord): void;
  commitAcknowledged(volumeEpoch: Epoch, commitLsn: Lsn, transactionId: number): void;
  recovered(volumeEpoch: Epoch, plan: RecoveryPlan, ranges: readonly TruncationRange[]): void;
  fenced(volumeEpoch: Epoch, newerEpoch: Epoch): void;
}

export interface WriterOptions {
  readonly pgs: readonly PgLayout[];
  /**
   * Epochs are unique per writer: writer `slot` of `slots` only takes epochs ≡ slot (mod slots), so
   * two writers recovering at once can never both believe they own the same epoch.
   */
  readonly slot: number;
  readonly slots: number;
  readonly lsnAllocationLimit: bigint;
  readonly flushIntervalMs: number;
  readonly resendIntervalMs: number;
  readonly recoveryGraceMs: number;
  readonly recoveryTimeoutMs: number;
  readonly observer: WriterObserver;
  /** A planted bug for the checkers' own tests: serve without re-replicating (H, VDL]. */
  readonly skipRereplication?: boolean;
}

export interface PageWrite {
  readonly pgId: PgId;
  readonly pageNo: PageNo;
  readonly runs: readonly DiffRun[];
}

export interface Transaction {
  readonly id: number;
  readonly writes: readonly PageWrite[];
}

interface Batch {
  readonly pgId: PgId;
  readonly message: AppendBatchMessage;
  readonly acknowledgedBy: Set<SegmentId>;
  /** The batch as last encoded, with the durable hint it carried (see `#sendBatch`). */
  encoded?: { readonly durableHint: Lsn; readonly bytes: Uint8Array };
}

type Phase =
  | { readonly name: 'state'; readonly replies: Map<PgId, Map<SegmentId, SegmentStateMessage>> }
  | {
      readonly name: 'truncate';
      readonly plan: RecoveryPlan;
      readonly ranges: TruncationRange[];
      readonly acks: Map<PgId, Set<SegmentId>>;
      readonly hint: Lsn;
      readonly replies: Map<PgId, Map<SegmentId, SegmentStateMessage>>;
    }
  | {
      readonly name: 'rereplicate';
      readonly plan: RecoveryPlan;
      readonly ranges: TruncationRange[];
      readonly hint: Lsn;
      readonly bodies: Map<Lsn, RedoRecord>;
      readonly acks: Map<Lsn, Set<SegmentId>>;
    }
  | { readonly name: 'serving'; readonly ranges: TruncationRange[] }
  | { readonly name: 'fenced' };

export class ToyWriter {
  readonly #env: Environment;
  readonly #options: WriterOptions;
  readonly #layoutOf = new Map<PgId, PgLayout>();
  #epoch: Epoch = EPOCH_ZERO;
  #knownEpoch: Epoch = EPOCH_ZERO;
  #phase: Phase = { name: 'state', replies: new Map() };
  #nextRequestId = 1n;
  #timers: TimerHandle[] = [];
  #graceTimer: TimerHandle | undefined;
  // Serving state.
  #tracker: DurabilityTracker | undefined;
  readonly #heads = new Map<PgId, Lsn>();
  readonly #outbox = new Map<PgId, RedoRecord[]>();
  readonly #batches = new Map<bigint, Batch>();
  readonly #commits: { lsn: Lsn; transactionId: number }[] = [];
  #flushScheduled = false;

  constructor(env: Environment, options: WriterOptions) {
    this.#env = env;
    this.#options = options;
    for (const pg of options.pgs) this.#layoutOf.set(pg.pgId, pg);
    env.network.onMessage((from, bytes) => this.#receive(from, bytes));
    this.#timers.push(this.#every(options.resendIntervalMs, () => this.#resend()));
    void this.#startRecovery();
  }

  get phase(): Phase['name'] {
    return this.#phase.name;
  }

  get volumeEpoch(): Epoch {
    return this.#epoch;
  }

  get vdl(): Lsn | undefined {
    return this.#tracker?.vdl;
  }

  /** Pending commits and allocated-but-unacknowledged LSNs, for status lines. */
  get backlog(): { commits: number; batches: number } {
    return { commits: this.#commits.length, batches: this.#batches.size };
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
    this.#env.network.send(to, encodeMessage(message));
  }

  /**
   * Sends `batch` carrying `durableHint`. A batch is re-sent every resend interval until it is
   * durable, mostly with the hint it had last time (the VDL stalls while a quorum is unreachable), so
   * the bytes last encoded for it are sent again when the hint is unchanged: `encodeMessage` is a pure
   * function of the message, and the network copies what it is given.
   */
  #sendBatch(to: NodeId, batch: Batch, durableHint: Lsn): void {
    let encoded = batch.encoded;
    if (encoded === undefined || encoded.durableHint !== durableHint) {
      encoded = { durableHint, bytes: encodeMessage({ ...batch.message, durableHint }) };
      batch.encoded = encoded;
    }
    this.#env.network.send(to, encoded.bytes);
  }

  #requestId(): bigint {
    const id = this.#nextRequestId;
    this.#nextRequestId += 1n;
    return id;
  }

  #forEachSegment(action: (pg: PgLayout, segmentId: SegmentId, nodeId: NodeId) => void): void {
    for (const pg of this.#options.pgs) {
      for (const segmentId of allMembers(pg.quorumSet)) action(pg, segmentId, pg.nodeOf.get(segmentId)!);
    }
  }

  // ---- recovery ----------------------------------------------------------------------------------

  /** Each recovery attempt has a number; timers and continuations of an abandoned attempt do nothing. */
  #attempt = 0;

  /**
   * Two writers recovering at once would fence each other forever if both retried at once; a random
   * back-off (as in Raft's election timeouts) lets one of them finish.
   */
  #restartRecoverySoon(): void {
    const attempt = ++this.#attempt; // abandons the recovery in flight
    this.#phase = { name: 'state', replies: new Map(this.#options.pgs.map((pg) => [pg.pgId, new Map()])) };
    const delayMs = this.#env.random.nextFloat() * this.#options.recoveryGraceMs * 4;
    this.#env.clock.setTimer(delayMs, () => {
      if (attempt === this.#attempt && this.#phase.name === 'state') void this.#startRecovery();
    });
  }

  #nextEpoch(): Epoch {
    const slots = BigInt(this.#options.slots);
    let candidate = this.#knownEpoch + 1n;
    candidate += (((BigInt(this.#options.slot) - candidate) % slots) + slots) % slots;
    return asEpoch(candidate);
  }

  /**
   * An epoch names one recovery of one writer incarnation, so it is claimed durably (on this writer's
   * disk, standing in for the control plane's epoch allocator) before any request carries it: a
   * restarted writer never reuses an epoch whose old messages may still be in flight.
   */
  async #claimEpoch(): Promise<Epoch> {
    const file = await this.#env.disk.open(EPOCH_FILE);
    const bytes = await file.read(0, 8);
    if (bytes.length === 8) {
      const claimed = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
      if (claimed > this.#knownEpoch) this.#knownEpoch = asEpoch(claimed);
    }
    const epoch = this.#nextEpoch();
    const next = new Uint8Array(8);
    new DataView(next.buffer).setBigUint64(0, epoch, true);
    await file.write(0, next);
    await file.sync();
    await file.close();
    return epoch;
  }

  async #startRecovery(): Promise<void> {
    const attempt = ++this.#attempt;
    this.#resetServingState();
    this.#phase = { name: 'state', replies: new Map(this.#options.pgs.map((pg) => [pg.pgId, new Map()])) };
    this.#graceTimer?.cancel();
    this.#graceTimer = undefined;
    let epoch: Epoch;
    try {
      epoch = await this.#claimEpoch();
    } catch (error) {
      if (!isNorthlightError(error, 'NL_DISK_IO')) throw error;
      this.#env.log.log('warn', 'could not claim an epoch; retrying', { error: error.message });
      this.#env.clock.setTimer(this.#options.recoveryGraceMs, () => void this.#startRecovery());
      return;
    }
    if (attempt !== this.#attempt) return;
    this.#epoch = epoch;
    this.#knownEpoch = epoch;
    this.#env.log.log('info', 'recovery started', { volumeEpoch: epoch });
    this.#sendStateRequests();
    this.#env.clock.setTimer(this.#options.recoveryTimeoutMs, () => {
      if (attempt === this.#attempt && this.#phase.name !== 'serving' && this.#phase.name !== 'fenced') {
        this.#env.log.log('warn', 'recovery timed out; restarting under a newer epoch', {
          volumeEpoch: epoch,
          phase: this.#phase.name,
        });
        void this.#startRecovery();
      }
    });
  }

  #sendStateRequests(): void {
    const phase = this.#phase;
    if (phase.name !== 'state') return;
    this.#forEachSegment((pg, segmentId, nodeId) => {
      if (phase.replies.get(pg.pgId)!.has(segmentId)) return;
      this.#send(nodeId, {
        type: 'segment-state-request',
        requestId: this.#requestId(),
        pgId: pg.pgId,
        segmentId,
        volumeEpoch: this.#epoch,
      });
    });
  }

  #onSegmentState(message: SegmentStateMessage): void {
    const phase = this.#phase;
    if (phase.name !== 'state' || message.volumeEpoch !== this.#epoch) return;
    phase.replies.get(message.pgId)?.set(message.segmentId, message);
    const everyPgHasQuorum = this.#options.pgs.every((pg) =>
      isReadQuorum(pg.quorumSet, new Set(phase.replies.get(pg.pgId)!.keys())),
    );
    if (!everyPgHasQuorum) return;
    const everyoneAnswered = this.#options.pgs.every(
      (pg) => phase.replies.get(pg.pgId)!.size === allMembers(pg.quorumSet).length,
    );
    if (everyoneAnswered) this.#plan();
    else if (this.#graceTimer === undefined) {
      const attempt = this.#attempt;
      this.#graceTimer = this.#env.clock.setTimer(this.#options.recoveryGraceMs, () => {
        if (attempt === this.#attempt && this.#phase === phase) this.#plan();
      });
    }
  }

  #plan(): void {
    const phase = this.#phase;
    assert(phase.name === 'state');
    const result = planRecovery({
      pgs: this.#options.pgs.map((pg) => ({
        pgId: pg.pgId,
        quorumSet: pg.quorumSet,
        reports: [...phase.replies.get(pg.pgId)!.values()].map((reply) => ({
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
    // A read quorum of every PG was checked before planning; a failure here is a bug.
    if (!result.ok) throw result.error;
    const plan = result.value;
    const allReplies = [...phase.replies.values()].flatMap((replies) => [...replies.values()]);
    const ranges = [
      ...collectTruncations(allReplies.map((reply) => ({ member: reply.segmentId, ...reply }))),
      plan.truncation,
    ];
    const hint = allReplies.reduce(
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
      acks: new Map(this.#options.pgs.map((pg) => [pg.pgId, new Set()])),
      hint,
      replies: phase.replies,
    };
    this.#sendTruncations();
  }

  #sendTruncations(only?: { pgId: PgId; segmentId: SegmentId }): void {
    const phase = this.#phase;
    if (phase.name === 'state' || phase.name === 'fenced') return;
    this.#forEachSegment((pg, segmentId, nodeId) => {
      if (only !== undefined && (only.pgId !== pg.pgId || only.segmentId !== segmentId)) return;
      if (only === undefined && phase.name === 'truncate' && phase.acks.get(pg.pgId)!.has(segmentId)) return;
      this.#send(nodeId, {
        type: 'truncate',
        requestId: this.#requestId(),
        pgId: pg.pgId,
        segmentId,
        volumeEpoch: this.#epoch,
        ranges: phase.ranges,
      });
    });
  }

  #onTruncateAck(message: Extract<Message, { type: 'truncate-ack' }>): void {
    const phase = this.#phase;
    if (phase.name !== 'truncate' || message.volumeEpoch !== this.#epoch) return;
    phase.acks.get(message.pgId)?.add(message.segmentId);
    const done = this.#options.pgs.every((pg) => isWriteQuorum(pg.quorumSet, phase.acks.get(pg.pgId)!));
    if (!done) return;
    this.#phase = {
      name: 'rereplicate',
      plan: phase.plan,
      ranges: phase.ranges,
      hint: phase.hint,
      bodies: new Map(),
      acks: new Map(),
    };
    for (const lsns of phase.plan.rereplicate.values())
      for (const lsn of lsns) (this.#phase.acks as Map<Lsn, Set<SegmentId>>).set(lsn, new Set());
    this.#rereplicate();
  }

  /** Fetches missing bodies from every segment and re-sends the known ones to every segment. */
  #rereplicate(): void {
    const phase = this.#phase;
    if (phase.name !== 'rereplicate') return;
    if (this.#maybeServe()) return;
    for (const pg of this.#options.pgs) {
      const lsns = phase.plan.rereplicate.get(pg.pgId) ?? [];
      const missing = lsns.filter((lsn) => !phase.bodies.has(lsn));
      const known = lsns.filter((lsn) => phase.bodies.has(lsn)).map((lsn) => phase.bodies.get(lsn)!);
      for (const segmentId of allMembers(pg.quorumSet)) {
        const nodeId = pg.nodeOf.get(segmentId)!;
        if (missing.length > 0) {
          this.#send(nodeId, {
            type: 'fetch-records',
            requestId: this.#requestId(),
            pgId: pg.pgId,
            segmentId,
            volumeEpoch: this.#epoch,
            lsns: missing,
          });
        }
        const unacknowledged = known.filter((record) => !phase.acks.get(record.lsn)!.has(segmentId));
        if (unacknowledged.length > 0) {
          const message: AppendBatchMessage = {
            type: 'append-batch',
            requestId: this.#requestId(),
            volumeEpoch: this.#epoch,
            membershipEpoch: EPOCH_ZERO,
            pgId: pg.pgId,
            segmentId,
            durableHint: phase.hint,
            records: unacknowledged,
          };
          const batch: Batch = { pgId: pg.pgId, message, acknowledgedBy: new Set() };
          this.#batches.set(message.requestId, batch);
          this.#sendBatch(nodeId, batch, message.durableHint);
        }
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
    for (const pg of this.#options.skipRereplication ? [] : this.#options.pgs) {
      for (const lsn of phase.plan.rereplicate.get(pg.pgId) ?? []) {
        if (!isWriteQuorum(pg.quorumSet, phase.acks.get(lsn)!)) return false;
      }
    }
    this.#batches.clear();
    const plan = phase.plan;
    this.#tracker = new DurabilityTracker(
      plan.truncation.toInclusive,
      (pgId) => this.#layoutOf.get(pgId)!.quorumSet,
    );
    for (const [pgId, head] of plan.pgHeads) this.#heads.set(pgId, head);
    this.#phase = { name: 'serving', ranges: phase.ranges };
    this.#env.log.log('info', 'serving', { volumeEpoch: this.#epoch, vdl: plan.vdl, nextLsn: plan.nextLsn });
    this.#options.observer.recovered(this.#epoch, plan, phase.ranges);
    return true;
  }

  /**
   * Forgets everything of a previous service period. Commits still waiting are neither acknowledged
   * nor refused here: their outcome is decided by the recovery (a client sees a broken connection).
   */
  #resetServingState(): void {
    this.#tracker = undefined;
    this.#heads.clear();
    this.#outbox.clear();
    this.#batches.clear();
    this.#commits.length = 0;
  }

  // ---- serving -----------------------------------------------------------------------------------

  /** Accepts a transaction, or returns false (not serving, or LAL back-pressure): the client retries. */
  submit(transaction: Transaction): boolean {
    const tracker = this.#tracker;
    if (this.#phase.name !== 'serving' || tracker === undefined) return false;
    assert(transaction.writes.length > 0, 'a transaction writes at least one page');
    const needed = BigInt(transaction.writes.length);
    if (tracker.lastAllocated + needed > tracker.vdl + this.#options.lsnAllocationLimit) return false;
    let lsn = tracker.lastAllocated;
    transaction.writes.forEach((write, index) => {
      lsn = asLsn(tracker.lastAllocated + 1n);
      const cpl = index === transaction.writes.length - 1;
      const record: RedoRecord = {
        lsn,
        backlink: this.#heads.get(write.pgId) ?? asLsn(0n),
        kind: 'page-diff',
        cpl,
        volumeEpoch: this.#epoch,
        pgId: write.pgId,
        pageNo: write.pageNo,
        runs: write.runs,
      };
      tracker.register(lsn, write.pgId, cpl);
      this.#heads.set(write.pgId, lsn);
      const outbox = this.#outbox.get(write.pgId) ?? [];
      outbox.push(record);
      this.#outbox.set(write.pgId, outbox);
      this.#options.observer.recordAllocated(record);
    });
    this.#commits.push({ lsn, transactionId: transaction.id });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#env.clock.setTimer(this.#options.flushIntervalMs, () => this.#flush());
    }
    return true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#phase.name !== 'serving') return;
    const vdl = this.#tracker!.vdl;
    for (const [pgId, records] of this.#outbox) {
      const pg = this.#layoutOf.get(pgId)!;
      for (const segmentId of allMembers(pg.quorumSet)) {
        const message: AppendBatchMessage = {
          type: 'append-batch',
          requestId: this.#requestId(),
          volumeEpoch: this.#epoch,
          membershipEpoch: EPOCH_ZERO,
          pgId,
          segmentId,
          durableHint: vdl,
          records,
        };
        const batch: Batch = { pgId, message, acknowledgedBy: new Set() };
        this.#batches.set(message.requestId, batch);
        this.#sendBatch(pg.nodeOf.get(segmentId)!, batch, vdl);
      }
    }
    this.#outbox.clear();
  }

  #onAppendAck(message: Extract<Message, { type: 'append-ack' }>): void {
    const batch = this.#batches.get(message.requestId);
    if (
      batch === undefined ||
      message.volumeEpoch !== this.#epoch ||
      batch.message.segmentId !== message.segmentId
    )
      return;
    batch.acknowledgedBy.add(message.segmentId);
    this.#batches.delete(message.requestId);
    const phase = this.#phase;
    if (phase.name === 'rereplicate') {
      for (const record of batch.message.records) phase.acks.get(record.lsn)?.add(message.segmentId);
      this.#maybeServe();
      return;
    }
    const tracker = this.#tracker;
    if (phase.name !== 'serving' || tracker === undefined) return;
    for (const record of batch.message.records) tracker.acknowledge(record.lsn, message.segmentId);
    tracker.acknowledgeThrough(message.pgId, message.segmentId, message.scl);
    this.#releaseCommits();
  }

  #releaseCommits(): void {
    const vdl = this.#tracker!.vdl;
    while (this.#commits.length > 0 && this.#commits[0]!.lsn <= vdl) {
      const commit = this.#commits.shift()!;
      this.#options.observer.commitAcknowledged(this.#epoch, commit.lsn, commit.transactionId);
    }
  }

  /** Re-sends what has not been acknowledged; the protocol is idempotent, so duplicates are harmless. */
  #resend(): void {
    switch (this.#phase.name) {
      case 'state':
        this.#sendStateRequests();
        return;
      case 'truncate':
        this.#sendTruncations();
        return;
      case 'rereplicate':
        this.#rereplicate();
        return;
      case 'serving': {
        const tracker = this.#tracker!;
        for (const batch of this.#batches.values()) {
          if (batch.message.records.every((record) => tracker.isDurable(record.lsn))) {
            this.#batches.delete(batch.message.requestId);
            continue;
          }
          const pg = this.#layoutOf.get(batch.pgId)!;
          this.#sendBatch(pg.nodeOf.get(batch.message.segmentId)!, batch, tracker.vdl);
        }
        return;
      }
      case 'fenced':
        return;
    }
  }

  #onRejected(message: Extract<Message, { type: 'request-rejected' }>): void {
    if (message.code !== 'NL_EPOCH_STALE') return;
    if (message.currentVolumeEpoch > this.#epoch) {
      if (message.currentVolumeEpoch > this.#knownEpoch) this.#knownEpoch = message.currentVolumeEpoch;
      if (this.#phase.name === 'serving') {
        this.#env.log.log('warn', 'fenced: a newer writer recovered the volume; stopping', {
          volumeEpoch: this.#epoch,
          newerEpoch: message.currentVolumeEpoch,
        });
        this.#options.observer.fenced(this.#epoch, message.currentVolumeEpoch);
        this.#phase = { name: 'fenced' };
        for (const timer of this.#timers) timer.cancel();
        this.#batches.clear();
      } else if (this.#phase.name !== 'fenced') {
        this.#restartRecoverySoon(); // a competing recovery is newer: go again above it
      }
    } else if (message.currentVolumeEpoch < this.#epoch) {
      this.#sendTruncations({ pgId: message.pgId, segmentId: message.segmentId }); // the segment missed our recovery
    }
  }

  #receive(_from: NodeId, bytes: Uint8Array): void {
    if (this.#phase.name === 'fenced') return;
    let message: Message;
    try {
      message = decodeMessageFromBytes(bytes);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'dropped undecodable message', { code: error.code });
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
      case 'request-rejected':
        this.#onRejected(message);
        return;
      default:
        this.#env.log.log('warn', 'unexpected message', { type: message.type });
    }
  }
}
