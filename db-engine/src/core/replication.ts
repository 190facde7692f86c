/**
 * The redo stream from the writer to its read replicas (paper §4.2.4), both ends, sans-I/O.
 *
 * Writer (`RedoFeed`): every MTR the driver allocates is queued for every subscribed replica as it is
 * allocated, and every VDL advance after it; the writer never waits for a replica (a replica that
 * cannot keep up is cut off by the transport and resubscribes). A replica subscribes at the writer's
 * current VDL: it gets a start point (volume epoch, VDL, each PG's read point at that VDL) and then the
 * records above that VDL the writer still holds (every record above VDL is held, because the LAL bounds
 * them), then the live stream. The feed also measures replica lag: the time from a VDL advance (the
 * commits it makes durable can be acknowledged) to the replica's feedback that it applied it.
 *
 * Replica (`ReplicaFollower`): buffers records and applies, at each VDL advance, exactly the records at
 * or below it (whole MTRs: a VDL is always a CPL), in LSN order (redo-vfs.ts R1). Each apply is tagged
 * with its VDL; a page miss while the kernel is at tag T reads each PG at its read point as of T (R2),
 * which the follower keeps until the kernel has moved past T.
 */
import { assert, type Epoch, type Lsn, type PgId, type RedoRecord } from '@northlight/protocol';
import type { PageRecord } from '../kernel/redo-vfs.js';
import { pgOfPage } from './volume.js';

/** Where a replica starts: the writer's volume epoch and VDL, and each PG's read point at that VDL. */
export interface StreamStart {
  readonly volumeEpoch: Epoch;
  readonly vdl: Lsn;
  readonly readPoints: ReadonlyMap<PgId, Lsn>;
}

/** One frame's worth of the stream: records in LSN order, and the writer's VDL after them. */
export interface StreamChunk {
  readonly records: readonly RedoRecord[];
  readonly vdl: Lsn;
}

export interface FeedSubscriber {
  /** Takes the next chunk (already in order); called from `flush`. */
  send(chunk: StreamChunk): void;
  /** The feed dropped the subscription (the writer recovered under a new epoch): end the stream. */
  close(): void;
}

interface Subscription {
  readonly replicaId: string;
  readonly subscriber: FeedSubscriber;
  records: RedoRecord[];
  /** The VDL sent last; a chunk goes out when there are records or the VDL moved. */
  sentVdl: Lsn;
  /** What the replica reported: applied through, and per PG the lowest read point it may still use. */
  appliedLsn: Lsn;
  minReadPoints: ReadonlyMap<PgId, Lsn>;
  lastFeedbackMs: number;
}

/** A lag sample: which replica, how long from the VDL advance to its feedback, and LSNs behind. */
export interface LagSample {
  readonly replicaId: string;
  readonly seconds: number;
}

/** Writer side. Pure: the caller drives it from the driver's events and flushes once per tick. */
export class RedoFeed {
  /** Records above the VDL, in LSN order: what a replica subscribing now has not seen durable yet. */
  #aboveVdl: RedoRecord[] = [];
  #vdl: Lsn | undefined;
  readonly #subscriptions = new Map<string, Subscription>();
  /** VDL advances not yet applied by every replica: (vdl, when). */
  #advances: { readonly vdl: Lsn; readonly atMs: number }[] = [];
  #advancesHead = 0;
  readonly #maxAdvances: number;

  constructor(options: { maxAdvances?: number } = {}) {
    this.#maxAdvances = options.maxAdvances ?? 100_000;
  }

  /** One MTR the driver allocated (LSN order across calls). */
  mtr(records: readonly RedoRecord[]): void {
    if (records.length === 0) return;
    for (const record of records) this.#aboveVdl.push(record);
    for (const subscription of this.#subscriptions.values()) subscription.records.push(...records);
  }

  /** The driver's VDL advanced at `nowMs`. */
  vdlAdvanced(vdl: Lsn, nowMs: number): void {
    this.#vdl = vdl;
    let count = 0;
    while (count < this.#aboveVdl.length && this.#aboveVdl[count]!.lsn <= vdl) count++;
    if (count > 0) this.#aboveVdl = this.#aboveVdl.slice(count);
    if (this.#subscriptions.size === 0) return;
    this.#advances.push({ vdl, atMs: nowMs });
    if (this.#advances.length - this.#advancesHead > this.#maxAdvances) this.#advancesHead++;
  }

  /**
   * Subscribes `replicaId` (replacing an earlier subscription of the same id) at `start`, which the
   * caller takes from the driver at this moment. The held records above `start.vdl` go out first.
   */
  subscribe(replicaId: string, start: StreamStart, subscriber: FeedSubscriber, nowMs: number): void {
    assert(this.#vdl === undefined || start.vdl >= this.#vdl, 'a replica must start at the current VDL');
    this.#vdl = start.vdl;
    this.#subscriptions.get(replicaId)?.subscriber.close();
    this.#subscriptions.set(replicaId, {
      replicaId,
      subscriber,
      records: this.#aboveVdl.filter((record) => record.lsn > start.vdl),
      sentVdl: start.vdl,
      appliedLsn: start.vdl,
      minReadPoints: start.readPoints,
      lastFeedbackMs: nowMs,
    });
  }

  /**
   * The writer recovered (at start, or again under a newer epoch): records held above the old VDL may
   * be truncated, so every subscription ends and replicas subscribe again.
   */
  reset(): void {
    for (const subscription of this.#subscriptions.values()) subscription.subscriber.close();
    this.#subscriptions.clear();
    this.#aboveVdl = [];
    this.#vdl = undefined;
    this.#advances = [];
    this.#advancesHead = 0;
  }

  unsubscribe(replicaId: string, subscriber: FeedSubscriber): void {
    if (this.#subscriptions.get(replicaId)?.subscriber === subscriber) this.#subscriptions.delete(replicaId);
    if (this.#subscriptions.size === 0) {
      this.#advances = [];
      this.#advancesHead = 0;
    }
  }

  /**
   * Sends every subscriber what it has not had: at most `maxRecords` records per chunk. Only the last
   * chunk carries the new VDL: an earlier one may end inside the records the VDL covers, and a chunk's
   * VDL promises that every record at or below it has arrived.
   */
  flush(maxRecords = 2_048): void {
    const vdl = this.#vdl;
    if (vdl === undefined) return;
    for (const subscription of this.#subscriptions.values()) {
      while (subscription.records.length > maxRecords) {
        const records = subscription.records.splice(0, maxRecords);
        subscription.subscriber.send({ records, vdl: subscription.sentVdl });
      }
      if (subscription.records.length > 0 || subscription.sentVdl < vdl) {
        const records = subscription.records.splice(0);
        subscription.sentVdl = vdl;
        subscription.subscriber.send({ records, vdl });
      }
    }
  }

  /**
   * A replica's feedback: it applied through `appliedLsn` and may still read each PG at the point
   * `minReadPoints` gives. Returns one lag sample per VDL advance it newly covers.
   */
  feedback(
    replicaId: string,
    appliedLsn: Lsn,
    minReadPoints: ReadonlyMap<PgId, Lsn>,
    nowMs: number,
  ): LagSample[] {
    const subscription = this.#subscriptions.get(replicaId);
    if (subscription === undefined) return [];
    const samples: LagSample[] = [];
    const before = subscription.appliedLsn;
    if (appliedLsn > before) {
      for (let index = this.#advancesHead; index < this.#advances.length; index++) {
        const advance = this.#advances[index]!;
        if (advance.vdl > appliedLsn) break;
        if (advance.vdl > before) samples.push({ replicaId, seconds: (nowMs - advance.atMs) / 1000 });
      }
      subscription.appliedLsn = appliedLsn;
    }
    subscription.minReadPoints = minReadPoints;
    subscription.lastFeedbackMs = nowMs;
    this.#pruneAdvances();
    return samples;
  }

  /** Per PG, the lowest read point any replica may still use (folded into the PG's PGMRPL). */
  minReplicaReadPoints(): Map<PgId, Lsn> {
    const low = new Map<PgId, Lsn>();
    for (const subscription of this.#subscriptions.values())
      for (const [pgId, point] of subscription.minReadPoints) {
        const current = low.get(pgId);
        if (current === undefined || point < current) low.set(pgId, point);
      }
    return low;
  }

  /** Per replica, for the status API: applied LSN, LSNs behind the VDL, ms since its last feedback. */
  replicas(
    nowMs: number,
  ): { replicaId: string; appliedLsn: string; lsnsBehind: string; feedbackAgeMs: number }[] {
    return [...this.#subscriptions.values()].map((subscription) => ({
      replicaId: subscription.replicaId,
      appliedLsn: subscription.appliedLsn.toString(),
      lsnsBehind: ((this.#vdl ?? subscription.appliedLsn) - subscription.appliedLsn).toString(),
      feedbackAgeMs: nowMs - subscription.lastFeedbackMs,
    }));
  }

  get subscriberCount(): number {
    return this.#subscriptions.size;
  }

  #pruneAdvances(): void {
    let low: Lsn | undefined;
    for (const subscription of this.#subscriptions.values())
      if (low === undefined || subscription.appliedLsn < low) low = subscription.appliedLsn;
    if (low === undefined) return;
    while (this.#advancesHead < this.#advances.length && this.#advances[this.#advancesHead]!.vdl <= low)
      this.#advancesHead++;
    if (this.#advancesHead > 4_096 && this.#advancesHead * 2 > this.#advances.length) {
      this.#advances = this.#advances.slice(this.#advancesHead);
      this.#advancesHead = 0;
    }
  }
}

/** One apply for the replica's kernel: the records of whole MTRs, tagged with the VDL they reach. */
export interface ReplicaApply {
  readonly tag: Lsn;
  readonly records: readonly PageRecord[];
}

/** Replica side. Pure. */
export class ReplicaFollower {
  readonly start: StreamStart;
  readonly #pagesPerPg: number;
  /** Received records above the applied VDL, in LSN order. */
  #pending: RedoRecord[] = [];
  #lastReceivedLsn: Lsn;
  #receivedVdl: Lsn;
  /** The VDL of the last apply handed out, and of the last one the kernel confirmed. */
  #appliedVdl: Lsn;
  #confirmedVdl: Lsn;
  /** Each PG's read point at each tag the kernel may still be at (the confirmed one and later). */
  readonly #readPointsAt = new Map<Lsn, ReadonlyMap<PgId, Lsn>>();
  #current: Map<PgId, Lsn>;

  constructor(start: StreamStart, pagesPerPg: number) {
    this.start = start;
    this.#pagesPerPg = pagesPerPg;
    this.#lastReceivedLsn = start.vdl;
    this.#receivedVdl = start.vdl;
    this.#appliedVdl = start.vdl;
    this.#confirmedVdl = start.vdl;
    this.#current = new Map(start.readPoints);
    this.#readPointsAt.set(start.vdl, this.#current);
  }

  get appliedVdl(): Lsn {
    return this.#appliedVdl;
  }

  get confirmedVdl(): Lsn {
    return this.#confirmedVdl;
  }

  get receivedVdl(): Lsn {
    return this.#receivedVdl;
  }

  /** Records received and not applied yet (above the applied VDL). */
  get pendingRecords(): number {
    return this.#pending.length;
  }

  /**
   * Takes one chunk of the stream; returns the apply it makes possible (every record at or below the
   * new VDL), or undefined. Throws on a chunk out of order: the stream is broken and must restart.
   */
  receive(chunk: StreamChunk): ReplicaApply | undefined {
    for (const record of chunk.records) {
      if (record.lsn <= this.#lastReceivedLsn)
        throw new Error(`redo stream went back: LSN ${record.lsn} after ${this.#lastReceivedLsn}`);
      this.#lastReceivedLsn = record.lsn;
      this.#pending.push(record);
    }
    if (chunk.vdl < this.#receivedVdl)
      throw new Error(`redo stream VDL went back from ${this.#receivedVdl} to ${chunk.vdl}`);
    this.#receivedVdl = chunk.vdl;
    if (chunk.vdl <= this.#appliedVdl) return undefined;
    let count = 0;
    while (count < this.#pending.length && this.#pending[count]!.lsn <= chunk.vdl) count++;
    const applied = this.#pending.slice(0, count);
    this.#pending = this.#pending.slice(count);
    const next = new Map(this.#current);
    for (const record of applied) next.set(record.pgId, record.lsn);
    this.#current = next;
    this.#appliedVdl = chunk.vdl;
    this.#readPointsAt.set(chunk.vdl, next);
    return {
      tag: chunk.vdl,
      records: applied.map((record) => ({ pageNo: record.pageNo, runs: record.runs })),
    };
  }

  /** The kernel applied through `tag`: read points of earlier tags are no longer needed. */
  confirmed(tag: Lsn): void {
    if (tag <= this.#confirmedVdl) return;
    this.#confirmedVdl = tag;
    for (const key of this.#readPointsAt.keys()) if (key < tag) this.#readPointsAt.delete(key);
  }

  /** Where to read `pageNo` for a kernel at `tag` (R2): its PG's last record at or below the tag. */
  readPointFor(pageNo: number, tag: Lsn): Lsn {
    const points = this.#readPointsAt.get(tag);
    assert(points !== undefined, `no read points kept for tag ${tag}`);
    return points.get(pgOfPage(pageNo, this.#pagesPerPg)) ?? (0n as Lsn);
  }

  /** Per PG, the lowest read point the kernel may still use: for the writer's PGMRPL. */
  minReadPoints(): Map<PgId, Lsn> {
    const low = new Map<PgId, Lsn>();
    for (const points of this.#readPointsAt.values())
      for (const [pgId, point] of points) {
        const current = low.get(pgId);
        if (current === undefined || point < current) low.set(pgId, point);
      }
    return low;
  }
}
