/**
 * The storage node's sans-I/O core (issue 3): it hosts many segments (of many PGs), keyed by
 * (pgId, segmentId), and does everything through the injected `Environment`: it receives append
 * batches and persists them in one node-wide log with group commit (node-log.ts), acknowledges each
 * batch with its segment's SCL only after the fsync that covers it, orders records by backlinks
 * (protocol's SegmentCompleteness), fences stale writers by volume and membership epoch, applies
 * recovery's truncations, answers segment-state, fetch-records and read-page requests, and in the
 * background coalesces records into page images, garbage-collects below the PG's minimum read point
 * (materializer.ts) and scrubs checksums (scrubber.ts). Other engineers' `src/io/` adapters give it a
 * real environment; the simulator gives it a deterministic one.
 *
 * Crash reasoning of the node as a whole (the stores' own scenarios are next to their code: C1–C4
 * control-log.ts, N1–N6 node-log.ts and log-format.ts, P1–P3 page-store.ts, M1–M3 materializer.ts,
 * S1–S4 storage.ts, G1 gated-disk.ts). Numbers 1–6 are those of the toy storage node
 * (sim/src/workloads/quorum-writer/toy-storage.ts), whose rules this core keeps:
 *  1. A batch is acknowledged only after its records are written AND an fsync issued after them
 *     resolved (N3): an acknowledged record survives any crash of this node.
 *  2. Torn tails are cut: a scan stops at the first bad bytes with nothing valid after them (N1, C3).
 *  3. An epoch or truncation is synced to the control log BEFORE the reply that lets a writer rely on
 *     it (C1). The epoch is raised in memory first, so the fence holds at once.
 *  4. One fsync covers every write issued before it (group commit across batches AND segments); a
 *     record being written is tracked (`Segment.inFlight`), so a retransmission waits for the same
 *     fsync (its batch is queued behind it) instead of being written twice.
 *  5. Appends are accepted only when the batch's epoch equals the epoch of the truncation the segment
 *     durably applied (`truncationEpoch`); a truncation's list of ranges is authoritative, applied one
 *     at a time per segment, in one control entry.
 *  6. A segment this node has no durable `segment` entry for is unknown and silent (S1): a node that
 *     lost its disk never answers for segments it used to host, so a read quorum can never count it as
 *     an empty member and truncate acknowledged data. Re-creating it is repair, the control plane's job.
 *  7. A disk error leaves the on-disk state unknown (a write half done, a failed fsync that may have
 *     dropped pages): the core stops serving, cuts the loaded Storage off (G1) and replays the disk as
 *     a restart would.
 */
import {
  applyRuns,
  asLsn,
  asPageNo,
  DEFAULT_MAX_FRAME_BYTES,
  decodeMessageFromBytes,
  type Environment,
  EPOCH_ZERO,
  type Epoch,
  type ErrorCode,
  encodeMessage,
  encodeRedoRecord,
  fail,
  fitUtf8,
  isNorthlightError,
  isTruncated,
  isValidIdentifier,
  LSN_ZERO,
  type Lsn,
  MAX_REJECTION_MESSAGE_BYTES,
  type Message,
  messageFrameSize,
  type NodeId,
  NorthlightError,
  ok,
  type PgId,
  type RedoRecord,
  type Result,
  redoRecordSize,
  type SegmentId,
  type TimerHandle,
  U64_MAX,
} from '@northlight/protocol';
import { planAppend } from './append-plan.js';
import {
  type BackupSettings,
  type BackupStepResult,
  backedUpThrough,
  backupLag,
  backupStep,
  noteArrivals,
  stageAtBytesOf,
} from './backup.js';
import {
  type BackupManifest,
  type BaseImage,
  decodeBase,
  decodeChunk,
  decodeManifest,
  manifestKey,
} from './backup-format.js';
import {
  applyControlEntry,
  applySegmentEntry,
  type ControlEntry,
  isDiskError,
  type SegmentControlState,
  snapshotEntries,
  TRUNCATION_RANGES_MAX,
} from './control-log.js';
import {
  HYDRATION_BYTES_PER_SECOND_MAX,
  HYDRATION_BYTES_PER_SECOND_MIN,
  HydrationPacer,
  isHydrationLimit,
} from './hydration-pacer.js';
import { alignedEntryBytes, type LogLocation } from './log-format.js';
import {
  hasMaterializationWork,
  isDecodeError,
  type MaterializeStepResult,
  materializeStep,
} from './materializer.js';
import type { DropReason } from './metrics.js';
import { type ResolvedOptions, resolveOptions, type StorageNodeOptions } from './options.js';
import { type ReadPageOutcome, readPageAt, refuse } from './read-page.js';
import { ScrubPass, type ScrubReport } from './scrubber.js';
import { type IndexedRecord, Segment } from './segment.js';
import { exportSnapshot, type SnapshotReport } from './snapshot.js';
import { SnapshotDecoder, type SnapshotEvent } from './snapshot-format.js';
import { type CoreState, type StorageNodeStatus, storageStatus } from './status.js';
import { Storage } from './storage.js';

/** What the control plane gives to create a segment. */
export interface SegmentSpec {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly membershipEpoch: Epoch;
  /** The PG's members (segment ids), this one included. */
  readonly members: readonly SegmentId[];
  /**
   * The node hosting each member (`memberNodes[i]` hosts `members[i]`), so the segment can gossip
   * with its peers. Omitted or empty: placement unknown, the segment does not gossip.
   */
  readonly memberNodes?: readonly NodeId[];
  /** The volume epoch the segment starts at (repair creates it under the current one). Default 0. */
  readonly volumeEpoch?: Epoch;
}

/** What a restore from the object store did. */
export interface RestoreReport {
  readonly baseLsn: Lsn;
  readonly pages: number;
  readonly chunks: number;
  readonly records: number;
  /** The segment's SCL afterwards (gossip brings it the rest). */
  readonly scl: Lsn;
}

/** What hydrating from a peer's snapshot did. */
export interface SnapshotHydrationReport extends RestoreReport {
  /** Bytes of the stream received. */
  readonly bytes: number;
  readonly ms: number;
}

/** A base being installed is synced each time this many bytes of it were written (`#installBase`). */
const BASE_SYNC_EVERY_BYTES = 1024 * 1024;
/** How long a joiner waits for the writer's truncation before refusing a snapshot of a newer one. */
export const SNAPSHOT_TRUNCATION_WAIT_MS = 2_000;

/** Requests (of every kind) in flight at once; beyond it messages are dropped (the sender retries). */
export const REQUESTS_IN_FLIGHT_MAX = 16_384;
/** Segment keys we warned about as unknown (later messages for them log at debug). */
const UNKNOWN_SEGMENT_WARNINGS_MAX = 1024;

const NOTHING_MATERIALIZED: MaterializeStepResult = {
  recordsCoalesced: 0,
  pagesWritten: 0,
  recordsCollected: 0,
};

type Handled<T extends Message['type']> = Extract<Message, { type: T }>;

/** What a base is installed from: images (a backup's base) or a peer snapshot's checked slots. */
type BaseBatch = readonly BaseImage[] | Extract<SnapshotEvent, { kind: 'base' }>;

export class StorageNodeCore {
  readonly #env: Environment;
  readonly #options: ResolvedOptions;
  #state: CoreState = 'created';
  #storage: Storage | undefined;
  readonly #work = new Set<Promise<unknown>>();
  #appendsInFlight = 0;
  #readsInFlight = 0;
  #started: Promise<void> | undefined;
  #resolveStarted: (() => void) | undefined;
  #rejectStarted: ((error: unknown) => void) | undefined;
  #stopping: Promise<void> | undefined;
  #lifecycle: Promise<unknown> = Promise.resolve();
  #materializing: Promise<unknown> = Promise.resolve();
  #materializeCursor = 0;
  #compacting = false;
  #materializeTimer: TimerHandle | undefined;
  #persistTimer: TimerHandle | undefined;
  #scrubTimer: TimerHandle | undefined;
  #reloadTimer: TimerHandle | undefined;
  #gossipTimer: TimerHandle | undefined;
  #backupTimer: TimerHandle | undefined;
  #backupLoop = false;
  /** B7 (backup.ts): when every segment held was last noted (`noteArrivals`), or serving began. */
  #backupNotedMs = 0;
  #nextRequestId = 1n;
  #gossipServing = 0;
  /** This node's page-repair reads in flight, by request id. */
  readonly #pageRepairRequests = new Map<bigint, { segment: Segment; pageNo: number; readPoint: Lsn }>();
  #backgroundScrub: ScrubPass | undefined;
  #materializeLoop = false;
  #scrubLoop = false;
  readonly #warnedUnknown = new Set<string>();
  /** The node-wide bandwidth limit of hydrations (peer snapshots and S3 restores share it). */
  readonly #hydrationPacer: HydrationPacer;

  /** Throws NL_CONFIG_INVALID for a bad option. Messages are received from `start()` on. */
  constructor(env: Environment, options: StorageNodeOptions = {}) {
    this.#env = env;
    const resolved = resolveOptions(options);
    // Staging on: GC waits for the backup (B2), asked of this core's own segments.
    this.#options =
      resolved.backupIntervalMs > 0 && resolved.backup === undefined
        ? {
            ...resolved,
            requireBackupBeforeGc: true,
            backup: {
              isBackedUp: (pgId, segmentId, throughLsn) => {
                const segment = this.#storage?.segment(pgId, segmentId);
                const through = segment === undefined ? undefined : backedUpThrough(segment);
                return through !== undefined && through >= throughLsn;
              },
            },
          }
        : resolved;
    this.#hydrationPacer = new HydrationPacer(env.clock, resolved.hydrationBytesPerSecond);
    resolved.metrics.hydrationLimit(resolved.hydrationBytesPerSecond);
    env.network.onMessage((from, bytes) => this.#receive(from, bytes));
  }

  get state(): CoreState {
    return this.#state;
  }

  get options(): ResolvedOptions {
    return this.#options;
  }

  /**
   * Replays the disk and starts serving. Resolves once serving (after retries, if the disk fails
   * meanwhile), or once a `stop()` called meanwhile has ended the start (state `stopped`: the replay
   * stops at its next step, storage.ts S5); rejects with NL_CONFIG_INVALID if the disk was written
   * with another page size.
   */
  start(): Promise<void> {
    if (this.#started !== undefined) return this.#started;
    this.#started = new Promise<void>((resolve, reject) => {
      this.#resolveStarted = resolve;
      this.#rejectStarted = reject;
    });
    this.#state = 'starting';
    this.#track(this.#load(), undefined);
    return this.#started;
  }

  async #load(): Promise<void> {
    let storage: Storage | undefined;
    // Once stop() has run, the state never goes back to these two, as S5 needs.
    const stopRequested = () => this.#state !== 'starting' && this.#state !== 'reloading';
    try {
      storage = await Storage.load(this.#env, this.#options, stopRequested);
    } catch (error) {
      if (isDiskError(error)) {
        this.#scheduleReload(error);
        return;
      }
      if (isNorthlightError(error, 'NL_CONFIG_INVALID')) {
        this.#state = 'failed';
        this.#env.log.log('error', 'storage node cannot start', { error: error.message });
        this.#rejectStarted?.(error);
        return;
      }
      throw error;
    }
    if (storage === undefined) return; // stopped during the replay, which closed what it opened
    if (stopRequested()) {
      await storage.close(); // stopped meanwhile
      return;
    }
    this.#storage = storage;
    this.#state = 'serving';
    this.#backupNotedMs = this.#env.clock.nowMs(); // B7: replayed records count from here
    this.#scheduleMaterialize();
    this.#scheduleScrub();
    this.#scheduleGossip();
    this.#scheduleBackup();
    this.#env.log.log('info', 'storage node serving', {
      segments: storage.segments.size,
      logFiles: storage.nodeLog.fileCount,
    });
    this.#resolveStarted?.();
  }

  #scheduleReload(error: NorthlightError): void {
    this.#state = 'reloading';
    this.#env.log.log('warn', 'disk I/O error; replaying the disk', { error: error.message });
    this.#reloadTimer = this.#env.clock.setTimer(this.#options.reloadAfterDiskErrorMs, () => {
      this.#reloadTimer = undefined;
      if (this.#state === 'reloading') this.#track(this.#load(), undefined);
    });
  }

  /** Crash reasoning 7. Only the first error of a Storage counts; later ones are its echoes. */
  #diskFailed(error: NorthlightError, storage: Storage | undefined): void {
    if (storage === undefined || storage !== this.#storage) return;
    this.#storage = undefined;
    this.#cancelTimers();
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'reloading';
    this.#env.log.log('warn', 'disk I/O error; cutting off the loaded state', { error: error.message });
    this.#track(
      storage.abandon().then(() => this.#scheduleReload(error)),
      undefined,
    );
  }

  /** Runs background or request work; a disk error reloads, anything else is a bug and crashes. */
  #track(work: Promise<unknown>, storage: Storage | undefined): void {
    this.#work.add(work);
    work.then(
      () => this.#work.delete(work),
      (error: unknown) => {
        this.#work.delete(work);
        if (isDiskError(error)) {
          this.#diskFailed(error, storage ?? this.#storage);
          return;
        }
        throw error; // an assertion or another bug: never caught (STYLE.md §8)
      },
    );
  }

  #cancelTimers(): void {
    for (const timer of [
      this.#materializeTimer,
      this.#persistTimer,
      this.#scrubTimer,
      this.#reloadTimer,
      this.#gossipTimer,
      this.#backupTimer,
    ])
      timer?.cancel();
    if (this.#backupTimer !== undefined) this.#backupLoop = false;
    this.#backupTimer = undefined;
    this.#gossipTimer = undefined;
    this.#pageRepairRequests.clear();
    // A loop whose timer was pending is over; one whose step is running ends when the step does.
    if (this.#materializeTimer !== undefined) this.#materializeLoop = false;
    if (this.#scrubTimer !== undefined) this.#scrubLoop = false;
    this.#backgroundScrub = undefined;
    this.#materializeTimer = undefined;
    this.#persistTimer = undefined;
    this.#scrubTimer = undefined;
    this.#reloadTimer = undefined;
  }

  // ---- messages ----

  #receive(from: NodeId, bytes: Uint8Array): void {
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined) {
      this.#dropped('not-serving'); // the sender retries
      return;
    }
    let message: Message;
    try {
      message = decodeMessageFromBytes(bytes);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'dropped undecodable message', {
        from,
        code: error.code,
        error: error.message,
      });
      this.#dropped('undecodable');
      return;
    }
    if (this.#work.size >= REQUESTS_IN_FLIGHT_MAX) {
      this.#env.log.log('warn', 'too many requests in flight; dropped one', { from, type: message.type });
      this.#dropped('not-serving');
      return;
    }
    this.#track(this.#handle(from, message, storage), storage);
  }

  #dropped(reason: DropReason): void {
    this.#options.metrics.messageDropped(reason);
  }

  async #handle(from: NodeId, message: Message, storage: Storage): Promise<void> {
    switch (message.type) {
      case 'append-batch':
        return this.#append(from, message, storage);
      case 'segment-state-request':
        return this.#segmentState(from, message, storage);
      case 'truncate':
        return this.#truncate(from, message, storage);
      case 'fetch-records':
        return this.#fetch(from, message, storage);
      case 'read-page':
        return this.#readPageRequest(from, message, storage);
      case 'min-read-point':
        return this.#minReadPoint(message, storage);
      case 'gossip-pull':
        return this.#gossipPull(from, message, storage);
      case 'gossip-records':
        return this.#gossipRecords(from, message, storage);
      case 'page':
        return this.#pageRepaired(from, message, storage);
      case 'request-rejected':
        return this.#peerRefused(from, message, storage);
      default:
        this.#env.log.log('warn', 'dropped a message a storage node does not handle', {
          from,
          type: message.type,
        });
        this.#dropped('unexpected-type');
    }
  }

  /** The serving segment a request addresses, or undefined (dropped, warned once per segment: reasoning 6). */
  #target(storage: Storage, pgId: PgId, segmentId: SegmentId, from: NodeId | undefined): Segment | undefined {
    const segment = storage.segment(pgId, segmentId);
    if (segment !== undefined && segment.state === 'active') return segment;
    const key = `${pgId}/${segmentId}`;
    const first = !this.#warnedUnknown.has(key) && this.#warnedUnknown.size < UNKNOWN_SEGMENT_WARNINGS_MAX;
    if (first) this.#warnedUnknown.add(key);
    const what = segment === undefined ? 'unknown segment' : 'silent segment';
    this.#env.log.log(first ? 'warn' : 'debug', `dropped a request for a ${what}`, { from, pgId, segmentId });
    this.#dropped('unknown-segment');
    return undefined;
  }

  #send(to: NodeId, message: Message): void {
    this.#env.network.send(to, encodeMessage(message));
  }

  #reject(
    to: NodeId,
    segment: Segment,
    requestId: bigint,
    code: ErrorCode,
    text: string,
    volumeEpoch: Epoch = segment.control.volumeEpoch,
  ): void {
    this.#options.metrics.requestRejected(code);
    this.#send(to, {
      type: 'request-rejected',
      requestId,
      pgId: segment.control.pgId,
      segmentId: segment.control.segmentId,
      code,
      currentVolumeEpoch: volumeEpoch,
      currentMembershipEpoch: segment.control.membershipEpoch,
      message: fitUtf8(text, MAX_REJECTION_MESSAGE_BYTES),
    });
  }

  /** Fences a request of an older volume epoch; returns true if it was rejected. */
  #rejectStale(to: NodeId, segment: Segment, requestId: bigint, volumeEpoch: Epoch, what: string): boolean {
    if (volumeEpoch >= segment.control.volumeEpoch) return false;
    this.#reject(
      to,
      segment,
      requestId,
      'NL_EPOCH_STALE',
      `${what}: volume epoch ${volumeEpoch} < ${segment.control.volumeEpoch}; a newer writer recovered the volume`,
    );
    return true;
  }

  async #append(from: NodeId, message: Handled<'append-batch'>, storage: Storage): Promise<void> {
    const receivedMs = this.#env.clock.nowMs();
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined) return;
    const control = segment.control;
    if (this.#rejectStale(from, segment, message.requestId, message.volumeEpoch, 'append')) return;
    if (message.volumeEpoch !== control.truncationEpoch) {
      // Reasoning 5: the writer sees an older epoch in the rejection and sends its truncation.
      const text = `segment has not applied the truncation of epoch ${message.volumeEpoch}`;
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', text, control.truncationEpoch);
      return;
    }
    if (control.sealed) {
      const text = `segment ${control.segmentId} is sealed (its PG moved on); refresh the layout`;
      this.#reject(from, segment, message.requestId, 'NL_MEMBERSHIP_STALE', text);
      return;
    }
    if (message.membershipEpoch < control.membershipEpoch) {
      const text = `membership epoch ${message.membershipEpoch} < ${control.membershipEpoch}; refresh the layout`;
      this.#reject(from, segment, message.requestId, 'NL_MEMBERSHIP_STALE', text);
      return;
    }
    const plan = planAppend(segment, message.records, this.#options.pagesPerPg, this.#options.pageSizeBytes);
    if (!plan.ok) {
      this.#env.log.log('warn', 'refused an invalid append batch', {
        from,
        pgId: control.pgId,
        problem: plan.problem,
      });
      this.#reject(from, segment, message.requestId, 'NL_DECODE_INVALID', plan.problem);
      return;
    }
    const payloads = plan.fresh.map(encodeRedoRecord);
    const bytes = payloads.reduce((sum, payload) => sum + alignedEntryBytes(payload.length), 0);
    const overload = this.#appendOverload(storage, segment, plan.fresh.length, bytes);
    if (overload !== undefined) {
      this.#reject(from, segment, message.requestId, 'NL_LSN_ALLOCATION_LIMIT', overload);
      return;
    }
    if (message.durableHint > control.durableHint) {
      control.durableHint = message.durableHint;
      this.#markControlDirty(storage, segment);
    }
    // Reasoning 1 and 4: one fsync for the whole group, then acknowledged.
    const indexed = await this.#persist(storage, segment, plan.fresh, payloads);
    // Heat counts the writer's appends only: records a segment copies from peers (gossip, hydration
    // after a repair or migration) are the control plane's own work, not load to balance.
    if (indexed > 0) segment.appendRate.record(this.#env.clock.nowMs(), indexed);
    if (this.#storage !== storage || segment.dropped) return;
    if (control.volumeEpoch !== message.volumeEpoch || control.truncationEpoch !== message.volumeEpoch)
      return;
    this.#send(from, {
      type: 'append-ack',
      requestId: message.requestId,
      pgId: control.pgId,
      segmentId: control.segmentId,
      volumeEpoch: control.volumeEpoch,
      scl: segment.scl,
    });
    this.#options.metrics.appendLatencyMs(this.#env.clock.nowMs() - receivedMs);
  }

  /**
   * Writes records to the node log (group commit: resolves after the fsync that covers them) and
   * indexes them; returns how many were indexed (new to the segment).
   */
  async #persist(
    storage: Storage,
    segment: Segment,
    records: readonly RedoRecord[],
    payloads: readonly Uint8Array[],
  ): Promise<number> {
    for (const record of records) segment.beginWrite(record.lsn, record.backlink);
    this.#appendsInFlight++;
    let locations: LogLocation[];
    try {
      const number = segment.control.number;
      locations = await storage.nodeLog.append(
        payloads.map((payload) => ({ segmentNumber: number, payload })),
      );
    } finally {
      this.#appendsInFlight--;
    }
    return this.#remember(storage, segment, records, locations);
  }

  /** Why a batch must wait (back-pressure), or undefined if there is room. */
  #appendOverload(
    storage: Storage,
    segment: Segment,
    freshRecords: number,
    bytes: number,
  ): string | undefined {
    if (this.#appendsInFlight >= this.#options.appendBatchesInFlightMax)
      return `${this.#appendsInFlight} append batches in flight (appendBatchesInFlightMax)`;
    if (!storage.nodeLog.hasRoomFor(bytes))
      return `${storage.nodeLog.queuedBytes} bytes queued for the node log (appendQueueBytesMax)`;
    const above = segment.pendingAboveScl + segment.inFlight.size + freshRecords;
    if (above > this.#options.recordsAboveSclMax)
      return `${above} records above the SCL ${segment.scl} (recordsAboveSclMax); a gap must be filled first`;
    return undefined;
  }

  /** Indexes durable records; releases entries that are not indexed (duplicate, annulled, dropped). */
  #remember(
    storage: Storage,
    segment: Segment,
    records: readonly RedoRecord[],
    locations: readonly LogLocation[],
  ): number {
    let indexedBytes = 0;
    let indexedCount = 0;
    for (const [index, record] of records.entries()) {
      const location = locations[index]!;
      const entry: IndexedRecord = {
        lsn: record.lsn,
        backlink: record.backlink,
        cpl: record.cpl,
        pageNo: record.kind === 'page-diff' ? record.pageNo : undefined,
        location,
      };
      const indexed = !segment.dropped && segment.index(entry);
      segment.endWrite(record.lsn);
      if (!indexed) {
        storage.nodeLog.release(location);
        continue;
      }
      storage.recordCache.remember(entry, record);
      indexedCount++;
      indexedBytes += location.entryBytes;
      if (storage.damage.recordCount > 0)
        storage.damage.forgetRecord(segment.control.pgId, segment.control.segmentId, record.lsn);
    }
    storage.releasePruned(segment, this.#env.log);
    if (indexedCount === 0) return 0;
    this.#options.metrics.recordsAppended(segment.control, indexedCount);
    this.#options.metrics.bytesAppended(segment.control, indexedBytes);
    return indexedCount;
  }

  async #adoptEpoch(storage: Storage, segment: Segment, volumeEpoch: Epoch): Promise<void> {
    if (volumeEpoch <= segment.control.volumeEpoch) return;
    segment.control.volumeEpoch = volumeEpoch; // fence at once in memory; durable before any reply (3)
    await this.#appendControl(storage, [
      { kind: 'volume-epoch', number: segment.control.number, volumeEpoch },
    ]);
  }

  async #appendControl(storage: Storage, entries: readonly ControlEntry[]): Promise<void> {
    await storage.controlLog.append(entries);
    if (storage.controlLog.sizeBytes > this.#options.controlLogCompactBytes && !this.#compacting) {
      this.#compacting = true;
      const compaction = storage.controlLog
        .compact(() => snapshotEntries(storage.controlState))
        .finally(() => {
          this.#compacting = false;
        });
      this.#track(compaction, storage);
    }
  }

  async #segmentState(
    from: NodeId,
    message: Handled<'segment-state-request'>,
    storage: Storage,
  ): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined) return;
    if (this.#rejectStale(from, segment, message.requestId, message.volumeEpoch, 'segment-state-request'))
      return;
    await this.#adoptEpoch(storage, segment, message.volumeEpoch);
    const control = segment.control;
    if (this.#storage !== storage || segment.dropped || control.volumeEpoch !== message.volumeEpoch) return;
    const floor = control.durableHint < segment.scl ? control.durableHint : segment.scl;
    const reply: Message = {
      type: 'segment-state',
      requestId: message.requestId,
      pgId: control.pgId,
      segmentId: control.segmentId,
      volumeEpoch: control.volumeEpoch,
      membershipEpoch: control.membershipEpoch,
      scl: segment.scl,
      durableHint: control.durableHint,
      truncations: control.truncations,
      tail: segment.tailAbove(floor),
    };
    if (messageFrameSize(reply) > DEFAULT_MAX_FRAME_BYTES) {
      // Recovery needs the whole tail; it reads the other members of the read quorum instead.
      this.#env.log.log('warn', 'segment state does not fit a frame; not answered', {
        pgId: control.pgId,
        tail: reply.tail.length,
      });
      return;
    }
    this.#send(from, reply);
  }

  async #truncate(from: NodeId, message: Handled<'truncate'>, storage: Storage): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined) return;
    if (this.#rejectStale(from, segment, message.requestId, message.volumeEpoch, 'truncate')) return;
    const problem = this.#truncationProblem(segment, message);
    if (problem !== undefined) {
      this.#env.log.log('error', 'refused a truncation that would annul coalesced records', {
        from,
        problem,
      });
      this.#reject(from, segment, message.requestId, 'NL_DECODE_INVALID', problem);
      return;
    }
    // Reasoning 5: one truncation at a time per segment, its list in one control entry.
    const applying = segment.truncating.then(() => this.#applyTruncation(storage, segment, message));
    segment.truncating = applying.catch(() => undefined);
    await applying;
    const control = segment.control;
    if (this.#storage !== storage || segment.dropped || control.truncationEpoch !== message.volumeEpoch)
      return;
    this.#send(from, {
      type: 'truncate-ack',
      requestId: message.requestId,
      pgId: control.pgId,
      segmentId: control.segmentId,
      volumeEpoch: control.volumeEpoch,
    });
  }

  /**
   * A truncation only ever annuls records above the new VDL, which is at least every durable hint, so
   * it can never reach records coalesced into images (materialization stops at the hint). One that
   * would is a writer bug, refused before it changes anything. A range of a recovery newer than the
   * segment's truncation epoch must therefore start at or above `materializedThrough` (every hint the
   * segment materialized up to came from a writer no newer than that epoch); an older range may lie
   * lower (the segment may simply not have known it) but must not annul a record it holds there.
   */
  #truncationProblem(segment: Segment, message: Handled<'truncate'>): string | undefined {
    if (message.ranges.length > TRUNCATION_RANGES_MAX)
      return `${message.ranges.length} truncation ranges exceed ${TRUNCATION_RANGES_MAX}`;
    const { truncationEpoch, materializedThrough } = segment.control;
    const low = message.ranges.find(
      (range) => range.volumeEpoch > truncationEpoch && range.fromExclusive < materializedThrough,
    );
    if (low !== undefined)
      return `range (${low.fromExclusive}, ${low.toInclusive}] of epoch ${low.volumeEpoch} starts below the materialized ${materializedThrough}`;
    const coalesced = segment.recordsAtOrBelow(segment.control.materializedThrough);
    const annulled = coalesced.find((record) => isTruncated(record.lsn, message.ranges));
    if (annulled !== undefined)
      return `range annuls record ${annulled.lsn}, at or below the materialized ${segment.control.materializedThrough}`;
    return undefined;
  }

  async #applyTruncation(storage: Storage, segment: Segment, message: Handled<'truncate'>): Promise<void> {
    const control = segment.control;
    if (control.truncationEpoch >= message.volumeEpoch || message.volumeEpoch < control.volumeEpoch) return;
    const entry = {
      kind: 'truncation',
      number: control.number,
      volumeEpoch: message.volumeEpoch,
      ranges: message.ranges,
    } as const;
    // Durable first, then visible (reasoning 3 and 5): appends of the new epoch are accepted only
    // once the truncation can no longer be lost.
    await this.#appendControl(storage, [entry]);
    if (this.#storage !== storage || segment.dropped) return;
    applySegmentEntry(control, entry); // C2: the same rule replay applies
    for (const record of segment.rebuild()) storage.nodeLog.release(record.location);
    storage.releasePruned(segment, this.#env.log);
    this.#env.log.log('info', 'applied truncation', {
      pgId: control.pgId,
      segmentId: control.segmentId,
      volumeEpoch: message.volumeEpoch,
      ranges: message.ranges.length,
      scl: segment.scl,
    });
  }

  async #fetch(from: NodeId, message: Handled<'fetch-records'>, storage: Storage): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined) return;
    if (this.#rejectStale(from, segment, message.requestId, message.volumeEpoch, 'fetch-records')) return;
    const control = segment.control;
    const empty: Message = {
      type: 'records',
      requestId: message.requestId,
      pgId: control.pgId,
      segmentId: control.segmentId,
      records: [],
    };
    let size = messageFrameSize(empty);
    const records: RedoRecord[] = [];
    await storage.pinned(async () => {
      for (const lsn of message.lsns) {
        const indexed = segment.get(lsn);
        if (indexed === undefined) continue;
        let record: RedoRecord;
        try {
          record = await storage.readRecord(segment, indexed);
        } catch (error) {
          if (!isDecodeError(error)) throw error;
          storage.recordDamaged(this.#env, segment, indexed, 'fetch');
          continue;
        }
        size += redoRecordSize(record);
        if (size > DEFAULT_MAX_FRAME_BYTES) break; // the requester fetches the rest again
        records.push(record);
      }
    });
    if (this.#storage !== storage || segment.dropped) return;
    this.#send(from, { ...empty, records } as Message);
  }

  async #readPageRequest(from: NodeId, message: Handled<'read-page'>, storage: Storage): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined) return;
    const outcome = await this.#read(
      storage,
      segment,
      message.pageNo,
      message.readPoint,
      message.volumeEpoch,
    );
    if (this.#storage !== storage) return;
    if (!outcome.ok) {
      const { reason, error } = outcome.refusal;
      if (reason === 'not-serving') return;
      const epoch = reason === 'stale-epoch' ? segment.control.volumeEpoch : undefined;
      this.#reject(from, segment, message.requestId, error.code, error.message, epoch);
      return;
    }
    this.#send(from, {
      type: 'page',
      requestId: message.requestId,
      pgId: segment.control.pgId,
      segmentId: segment.control.segmentId,
      pageNo: message.pageNo,
      readPoint: message.readPoint,
      bytes: outcome.page,
    });
  }

  #minReadPoint(message: Handled<'min-read-point'>, storage: Storage): void {
    const segment = this.#target(storage, message.pgId, message.segmentId, undefined);
    if (segment === undefined) return;
    const control = segment.control;
    if (message.volumeEpoch < control.volumeEpoch) {
      this.#dropped('stale');
      return;
    }
    if (message.minReadPoint <= control.minReadPoint) return; // PGMRPL never goes back
    control.minReadPoint = message.minReadPoint;
    this.#markControlDirty(storage, segment);
  }

  /**
   * Hints and minimum read points are persisted lazily, node-wide, one synced append per interval:
   * losing one only makes a later recovery start lower (and read more) or a read floor come back
   * lower (never below materializedThrough, S4).
   */
  #markControlDirty(storage: Storage, segment: Segment): void {
    segment.controlDirty = true;
    if (this.#persistTimer !== undefined) return;
    this.#persistTimer = this.#env.clock.setTimer(this.#options.hintPersistIntervalMs, () => {
      this.#persistTimer = undefined;
      this.#track(this.#persistDirty(storage), storage);
    });
  }

  async #persistDirty(storage: Storage): Promise<void> {
    if (this.#storage !== storage) return; // reloaded: the new Storage persists its own
    const entries: ControlEntry[] = [];
    for (const segment of storage.segments.values()) {
      if (!segment.controlDirty) continue;
      segment.controlDirty = false;
      const { number, durableHint, minReadPoint } = segment.control;
      entries.push({ kind: 'hint', number, durableHint }, { kind: 'min-read-point', number, minReadPoint });
    }
    if (entries.length > 0) await this.#appendControl(storage, entries);
  }

  // ---- gossip (paper §3.3 step 4) and repair from peers ----

  /**
   * One gossip round: every active segment that knows where its peers live and has no pull in flight
   * asks one random peer for the records above its SCL, and asks one peer for one of its damaged pages
   * (scrub found it rotten). A reply that moves the SCL starts the next pull at once (catch-up runs at
   * network speed, not at the tick); the tick only bounds how soon a lagging segment notices. The
   * background timer calls it; tests may too.
   */
  gossipRound(): void {
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined) return;
    const nowMs = this.#env.clock.nowMs();
    const expiredMs = nowMs - this.#options.gossipPullTimeoutMs;
    for (const segment of storage.segments.values()) {
      if (segment.state !== 'active' || segment.dropped) continue;
      const peers = this.#peersOf(segment);
      if (peers.length === 0) continue;
      if (segment.gossipPull === undefined || segment.gossipPull.sentMs <= expiredMs) {
        const peer = peers[this.#env.random.nextInt(peers.length)]!;
        this.#pull(segment, peer.node, peer.segmentId);
      }
      for (const [pageNo, sentMs] of segment.pageRepairs)
        if (sentMs <= expiredMs) segment.pageRepairs.delete(pageNo);
      const pageNo = [...segment.damagedPages].find((page) => !segment.pageRepairs.has(page));
      if (pageNo !== undefined) {
        const peer = peers[this.#env.random.nextInt(peers.length)]!;
        this.#askPageRepair(segment, pageNo, peer.node, peer.segmentId, nowMs);
      }
    }
  }

  /** The other members of the segment's PG and the nodes hosting them (none if placement is unknown). */
  #peersOf(segment: Segment): { segmentId: SegmentId; node: NodeId }[] {
    const { members, memberNodes, segmentId } = segment.control;
    if (memberNodes.length !== members.length) return [];
    const self = this.#env.network.address;
    return members
      .map((member, index) => ({ segmentId: member, node: memberNodes[index]! }))
      .filter((peer) => peer.segmentId !== segmentId && peer.node !== self);
  }

  #pull(segment: Segment, node: NodeId, peerSegmentId: SegmentId): void {
    const requestId = this.#nextRequestId++;
    segment.gossipPull = { requestId, sentMs: this.#env.clock.nowMs() };
    const control = segment.control;
    this.#options.metrics.gossipPull('sent', 0);
    this.#send(node, {
      type: 'gossip-pull',
      requestId,
      pgId: control.pgId,
      segmentId: peerSegmentId,
      fromSegmentId: control.segmentId,
      truncationEpoch: control.truncationEpoch,
      scl: segment.scl,
      maxBytes: this.#options.gossipReplyBytesMax,
    });
  }

  /** Whether `peer` is a member of the segment's PG; a non-member gets nothing (it may be stale). */
  #isPeer(segment: Segment, peer: SegmentId, from: NodeId): boolean {
    if (peer !== segment.control.segmentId && segment.control.members.includes(peer)) return true;
    this.#env.log.log('debug', 'dropped gossip from a segment that is not a member', {
      from,
      pgId: segment.control.pgId,
      peer,
    });
    this.#dropped('stale');
    return false;
  }

  /** A peer asks for the records above its SCL: send what this segment holds, ascending, up to a budget. */
  async #gossipPull(from: NodeId, message: Handled<'gossip-pull'>, storage: Storage): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined || !this.#isPeer(segment, message.fromSegmentId, from)) return;
    if (this.#gossipServing >= this.#options.gossipServeConcurrencyMax) {
      // Serving more at once would only make every reply later (each reads up to a reply budget
      // from disk): the asker's pull times out and it asks again, maybe another peer.
      this.#dropped('busy');
      return;
    }
    this.#gossipServing++;
    try {
      await this.#serveGossipPull(from, message, storage, segment);
    } finally {
      this.#gossipServing--;
    }
  }

  async #serveGossipPull(
    from: NodeId,
    message: Handled<'gossip-pull'>,
    storage: Storage,
    segment: Segment,
  ): Promise<void> {
    const control = segment.control;
    const reply = {
      type: 'gossip-records',
      requestId: message.requestId,
      pgId: control.pgId,
      segmentId: message.fromSegmentId,
      fromSegmentId: control.segmentId,
      truncationEpoch: control.truncationEpoch,
      scl: segment.scl,
      gcThrough: control.gcThrough,
      records: [] as RedoRecord[],
    } as const;
    // Records are exchanged only under the same truncation (an older segment could resurrect annulled
    // records; a newer one's records chain over a range the asker has not annulled yet), and only if
    // the chain above the asker's SCL is still here (GC'd records need a base from S3 first).
    const exchange = message.truncationEpoch === control.truncationEpoch && message.scl >= control.gcThrough;
    if (exchange) {
      const budget = Math.min(message.maxBytes, this.#options.gossipReplyBytesMax);
      const frameRoom = DEFAULT_MAX_FRAME_BYTES - messageFrameSize(reply);
      let size = 0;
      await storage.pinned(async () => {
        let after = message.scl;
        while (size < budget) {
          const batch = segment.recordsBetween(after, asLsn(U64_MAX), 256);
          if (batch.length === 0) break;
          for (const indexed of batch) {
            after = indexed.lsn;
            if (segment.get(indexed.lsn) !== indexed) continue; // dropped meanwhile
            let record: RedoRecord;
            try {
              record = await storage.readRecord(segment, indexed);
            } catch (error) {
              if (!isDecodeError(error)) throw error;
              storage.recordDamaged(this.#env, segment, indexed, 'fetch');
              continue;
            }
            const recordBytes = redoRecordSize(record);
            if (size + recordBytes > frameRoom || (size > 0 && size + recordBytes > budget)) {
              size = budget; // full: the asker pulls again
              break;
            }
            size += recordBytes;
            reply.records.push(record);
          }
        }
      });
    }
    if (this.#storage !== storage || segment.dropped) return;
    this.#options.metrics.gossipPull('served', reply.records.length);
    this.#send(from, reply);
  }

  /** A peer's records: write the ones this segment lacks; pull again while the peer is ahead. */
  async #gossipRecords(from: NodeId, message: Handled<'gossip-records'>, storage: Storage): Promise<void> {
    const segment = this.#target(storage, message.pgId, message.segmentId, from);
    if (segment === undefined || !this.#isPeer(segment, message.fromSegmentId, from)) return;
    if (segment.gossipPull?.requestId === message.requestId) segment.gossipPull = undefined;
    const control = segment.control;
    if (message.truncationEpoch !== control.truncationEpoch) return; // the writer brings the truncation
    if (message.records.length === 0) {
      if (message.gcThrough > segment.scl && !segment.behindPeerGc) {
        segment.behindPeerGc = true;
        this.#env.log.log(
          'warn',
          "every peer garbage-collected past this segment's SCL; it needs a base: from a peer's backup when staging is on, else the control plane hydrates it from a peer's snapshot",
          {
            pgId: control.pgId,
            segmentId: control.segmentId,
            scl: segment.scl,
            peer: message.fromSegmentId,
            peerGcThrough: message.gcThrough,
          },
        );
        if (this.#options.backupIntervalMs > 0) this.#track(this.#catchUpFromBackup(segment), storage);
      }
      return;
    }
    const sclBefore = segment.scl;
    const plan = planAppend(segment, message.records, this.#options.pagesPerPg, this.#options.pageSizeBytes);
    if (!plan.ok) {
      this.#env.log.log('warn', 'refused gossip records', {
        from,
        pgId: control.pgId,
        problem: plan.problem,
      });
      return;
    }
    if (plan.fresh.length > 0) {
      const payloads = plan.fresh.map(encodeRedoRecord);
      const bytes = payloads.reduce((sum, payload) => sum + alignedEntryBytes(payload.length), 0);
      if (this.#appendOverload(storage, segment, plan.fresh.length, bytes) !== undefined) return; // next round
      const indexed = await this.#persist(storage, segment, plan.fresh, payloads);
      this.#options.metrics.gossipRecordsFetched(control, indexed);
    }
    if (this.#storage !== storage || segment.dropped) return;
    segment.behindPeerGc = false;
    if (segment.scl > sclBefore && segment.scl < message.scl && segment.gossipPull === undefined)
      this.#pull(segment, from, message.fromSegmentId); // still behind and moving: go on at once
  }

  /**
   * Asks a peer for the page as of this segment's materialization point (it keeps moving while the page
   * is damaged, with the PG's minimum read point, so a peer can serve it; materializer M4).
   */
  #askPageRepair(
    segment: Segment,
    pageNo: number,
    node: NodeId,
    peerSegmentId: SegmentId,
    nowMs: number,
  ): void {
    const requestId = this.#nextRequestId++;
    segment.pageRepairs.set(pageNo, nowMs);
    this.#pageRepairRequests.set(requestId, {
      segment,
      pageNo,
      readPoint: segment.control.materializedThrough,
    });
    const control = segment.control;
    this.#send(node, {
      type: 'read-page',
      requestId,
      pgId: control.pgId,
      segmentId: peerSegmentId,
      volumeEpoch: control.volumeEpoch,
      pageNo: asPageNo(pageNo),
      readPoint: control.materializedThrough,
    });
  }

  /**
   * A peer's copy of a damaged page: written to the page store as the image as of the segment's
   * materialization point (which it asked for; reads above it apply this segment's own records), synced,
   * then it replaces the rotten image. Replay prefers an intact image over a damaged one of the same LSN.
   */
  async #pageRepaired(from: NodeId, message: Handled<'page'>, storage: Storage): Promise<void> {
    const request = this.#pageRepairRequests.get(message.requestId);
    if (request === undefined) {
      this.#dropped('unexpected-type');
      return;
    }
    this.#pageRepairRequests.delete(message.requestId);
    const { segment, pageNo, readPoint } = request;
    segment.pageRepairs.delete(pageNo);
    const valid =
      message.pageNo === pageNo &&
      message.readPoint === readPoint &&
      message.bytes.length === this.#options.pageSizeBytes;
    if (!valid) return;
    // In the materialization queue (materializer M4): the image point cannot move while we install.
    await this.#inMaterializationQueue(() =>
      this.#installRepairedPage(storage, segment, pageNo, readPoint, message.bytes, from),
    );
  }

  /** Runs `work` after every materialization step (and install) queued before it, and before later ones. */
  #inMaterializationQueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#materializing.then(work);
    this.#materializing = run.catch(() => undefined);
    return run;
  }

  /**
   * Materializer M4: the peer's page as of `readPoint` (≥ gcThrough, so every later record of the page
   * is still held here), plus this segment's own records of the page in (readPoint, materializedThrough],
   * written and synced as the page's image as of materializedThrough, then swapped in for the rotten one.
   */
  async #installRepairedPage(
    storage: Storage,
    segment: Segment,
    pageNo: number,
    readPoint: Lsn,
    bytes: Uint8Array,
    from: NodeId,
  ): Promise<void> {
    const control = segment.control;
    const current = segment.pages.get(pageNo);
    const target = control.materializedThrough;
    if (
      storage !== this.#storage ||
      segment.dropped ||
      !segment.damagedPages.has(pageNo) ||
      readPoint < control.gcThrough ||
      readPoint > target
    )
      return;
    let page = bytes;
    const ok = await storage.pinned(async () => {
      for (const record of segment.pageRecordsBetween(pageNo, readPoint, target)) {
        try {
          page = applyRuns(page, (await storage.readRecord(segment, record)).runs);
        } catch (error) {
          if (!isDecodeError(error)) throw error;
          storage.recordDamaged(this.#env, segment, record, 'materialize');
          return false;
        }
      }
      return true;
    });
    if (!ok) return;
    const slot = await storage.pageStore.write(control.number, pageNo, target, page);
    await storage.pageStore.sync();
    if (
      this.#storage !== storage ||
      segment.dropped ||
      !segment.damagedPages.has(pageNo) ||
      segment.pages.get(pageNo) !== current ||
      control.materializedThrough !== target
    ) {
      storage.pageStore.freeUnused(slot);
      return;
    }
    if (current !== undefined) storage.pageStore.free(current.slot);
    segment.pages.set(pageNo, { slot, lsn: target });
    segment.damagedPages.delete(pageNo);
    storage.damage.forgetPage(control.pgId, control.segmentId, pageNo);
    this.#options.metrics.pageRepaired(control);
    this.#env.log.log('info', 'repaired a damaged page from a peer', {
      pgId: control.pgId,
      segmentId: control.segmentId,
      pageNo,
      peer: from,
      peerReadPoint: readPoint,
      asOf: target,
    });
    await storage.reclaim();
  }

  /** A peer refused one of this node's own requests (a page repair): forget it; the next round retries. */
  #peerRefused(from: NodeId, message: Handled<'request-rejected'>, storage: Storage): void {
    const request = this.#pageRepairRequests.get(message.requestId);
    if (request === undefined || storage !== this.#storage) {
      this.#dropped('unexpected-type');
      return;
    }
    this.#pageRepairRequests.delete(message.requestId);
    request.segment.pageRepairs.delete(request.pageNo);
    this.#env.log.log('debug', 'a peer refused a page repair read', {
      from,
      pageNo: request.pageNo,
      code: message.code,
      reason: message.message,
    });
  }

  #scheduleGossip(): void {
    if (this.#options.gossipIntervalMs === 0 || this.#state !== 'serving' || this.#gossipTimer !== undefined)
      return;
    this.#gossipTimer = this.#env.clock.setTimer(this.#options.gossipIntervalMs, () => {
      this.#gossipTimer = undefined;
      this.gossipRound();
      this.#scheduleGossip();
    });
  }

  // ---- staging to the object store, and hydration from it (paper §3.3 step 6) ----

  #backupSettings(): BackupSettings {
    return {
      prefix: this.#options.backupPrefix,
      chunkBytesMax: this.#options.backupChunkBytesMax,
      baseEveryBytes: this.#options.backupBaseEveryBytes,
      mergeChunksAt: this.#options.backupMergeChunksAt,
      maxDelayMs: this.#options.backupMaxDelayMs,
      stageAtBytes: stageAtBytesOf(this.#options.backupChunkBytesMax),
    };
  }

  #scheduleBackup(): void {
    if (this.#options.backupIntervalMs === 0 || this.#state !== 'serving' || this.#backupLoop) return;
    this.#backupLoop = true;
    this.#backupTimer = this.#env.clock.setTimer(this.#options.backupIntervalMs, () => {
      this.#backupTimer = undefined;
      const storage = this.#storage;
      const step = this.#backupTick(storage).finally(() => {
        this.#backupLoop = false;
        this.#scheduleBackup();
      });
      this.#track(step, storage);
    });
  }

  /**
   * One tick: notes every segment's arrivals (B7), then steps every segment with work due once
   * (bounded: one chunk, base or merge each; a chunk only once due, B7), then the lag gauges.
   */
  async #backupTick(storage: Storage | undefined): Promise<void> {
    if (storage === undefined) return;
    // B7: every segment held, in one synchronous pass, so a segment without marks next time is new.
    const nowMs = this.#env.clock.nowMs();
    for (const segment of storage.segments.values()) noteArrivals(segment, nowMs, this.#backupNotedMs);
    this.#backupNotedMs = nowMs;
    let failures = 0;
    for (const segment of [...storage.segments.values()]) {
      if (this.#storage !== storage || this.#state !== 'serving') return;
      if (segment.state !== 'active' || segment.dropped || segment.hydration !== undefined) continue;
      const result = await backupStep(
        this.#env,
        storage,
        segment,
        this.#backupSettings(),
        () => this.#storage === storage,
        'when-due',
      );
      if (result.kind === 'failed') failures++;
      if (result.kind === 'failed' && failures === 1)
        this.#env.log.log('warn', 'staging to the object store failed; retrying next tick', {
          pgId: segment.control.pgId,
          segmentId: segment.control.segmentId,
          error: result.error,
        });
      if (result.kind === 'chunk' || result.kind === 'base') await storage.reclaim();
    }
    this.#reportBackupLag(storage);
  }

  #reportBackupLag(storage: Storage): void {
    const lag = backupLag(storage.segments.values(), this.#env.clock.nowMs(), this.#backupNotedMs);
    this.#options.metrics.backupLag(lag.bytes, lag.seconds);
    this.#options.metrics.backupBroken(lag.brokenSegments);
  }

  /**
   * Stages everything stageable now (tests, an admin "backup now"): repeats steps until every segment
   * is idle or failing. Resolves with how many chunks and bases were staged.
   */
  async backupNow(): Promise<{ chunks: number; bases: number; merges: number; failures: string[] }> {
    const totals = { chunks: 0, bases: 0, merges: 0, failures: [] as string[] };
    for (;;) {
      const storage = this.#storage;
      if (storage === undefined || this.#state !== 'serving') return totals;
      let progressed = false;
      for (const segment of [...storage.segments.values()]) {
        if (segment.state !== 'active' || segment.dropped || segment.hydration !== undefined) continue;
        const result = await this.#backupStepNow(storage, segment);
        if (result.kind === 'chunk') totals.chunks++;
        if (result.kind === 'base') totals.bases++;
        if (result.kind === 'merge') totals.merges++;
        if (result.kind === 'failed') totals.failures.push(`${segment.key}: ${result.error}`);
        if (
          result.kind === 'chunk' ||
          result.kind === 'base' ||
          result.kind === 'merge' ||
          result.kind === 'manifest-read'
        )
          progressed = true;
      }
      if (!progressed) {
        this.#reportBackupLag(storage);
        return totals;
      }
    }
  }

  async #backupStepNow(storage: Storage, segment: Segment): Promise<BackupStepResult> {
    try {
      return await backupStep(
        this.#env,
        storage,
        segment,
        this.#backupSettings(),
        () => this.#storage === storage,
        'now',
      );
    } catch (error) {
      if (!isDiskError(error)) throw error;
      this.#diskFailed(error, storage);
      return { kind: 'failed', error: error.message };
    }
  }

  /**
   * Rebuilds a segment from the object store alone (repair, migration): its control state comes from the
   * manifest, then the newest base's page images, then every chunk above it. On a segment that exists,
   * it resumes (chunks above its SCL) or — if its SCL is below the base — installs the base first.
   * Long: progress shows in `status()` (`hydration`) and in the logs, one line per chunk.
   */
  restoreSegment(
    pgId: PgId,
    segmentId: SegmentId,
    source: SegmentId = segmentId,
  ): Promise<Result<RestoreReport>> {
    const valid =
      isValidIdentifier(segmentId) &&
      isValidIdentifier(source) &&
      Number.isInteger(pgId) &&
      pgId >= 0 &&
      pgId <= 0xffff_ffff;
    if (!valid)
      return Promise.resolve(
        fail(
          new NorthlightError('NL_CONFIG_INVALID', `bad segment ${pgId}/${segmentId} or source ${source}`),
        ),
      );
    return this.#lifecycleOperation<RestoreReport>(async (storage) => {
      if ((storage.segment(pgId, segmentId)?.peerHydrationsPending ?? 0) > 0)
        return fail(
          new NorthlightError(
            'NL_SEGMENT_BUSY',
            `segment ${segmentId} of PG ${pgId} is being hydrated from a peer's snapshot; check it again when that is done`,
          ),
        );
      const key = manifestKey(this.#options.backupPrefix, pgId, source);
      let manifest: BackupManifest | undefined;
      try {
        const bytes = await this.#env.objectStore.get(key);
        manifest = bytes === undefined ? undefined : decodeManifest(bytes, key);
      } catch (error) {
        if (!isNorthlightError(error) || isDiskError(error)) throw error;
        return fail(error);
      }
      if (manifest === undefined)
        return fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `no backup of segment ${source} of PG ${pgId} under '${this.#options.backupPrefix}' (no ${key}); check the bucket and prefix`,
          ),
        );
      if (
        manifest.pgId !== pgId ||
        manifest.segmentId !== source ||
        manifest.pageSizeBytes !== this.#options.pageSizeBytes
      )
        return fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `backup ${key} is of segment ${manifest.segmentId} of PG ${manifest.pgId} with ${manifest.pageSizeBytes}-byte pages`,
          ),
        );
      let segment = storage.segment(pgId, segmentId);
      let installedPages = 0;
      const created = segment === undefined;
      if (segment === undefined) {
        const created = await this.#createFromManifest(storage, manifest, segmentId);
        if (!created.ok) return created;
        segment = created.value;
        installedPages = segment.pages.size;
      }
      const result = await this.#hydrateFromBackup(storage, segment, manifest, installedPages);
      if (!result.ok && created) {
        // A failed rebuild leaves nothing behind: the operator retries from a clean slate.
        await this.#appendControl(storage, [{ kind: 'dropped', number: segment.control.number }]);
        storage.removeSegment(segment);
        await storage.reclaim();
      }
      return result;
    });
  }

  /**
   * Peers GC'd past this segment's SCL (it was away long): hydrate it from its own backup — the base
   * and chunks above its SCL — after which gossip fills the rest. Runs as a lifecycle operation.
   */
  async #catchUpFromBackup(segment: Segment): Promise<void> {
    const { pgId, segmentId } = segment.control;
    if (segment.peerHydrationsPending > 0) {
      // A peer's snapshot is on its way (a repair's bulk path): it brings a base, far faster.
      segment.behindPeerGc = false; // raised again by the next gossip reply if still needed
      return;
    }
    // The peer whose backup reaches furthest (this segment's own stopped when it went away).
    let best: { source: SegmentId; through: bigint } | undefined;
    for (const peer of this.#peersOf(segment)) {
      const key = manifestKey(this.#options.backupPrefix, pgId, peer.segmentId);
      try {
        const bytes = await this.#env.objectStore.get(key);
        if (bytes === undefined) continue;
        const manifest = decodeManifest(bytes, key);
        if (best === undefined || manifest.backedUpThrough > best.through)
          best = { source: peer.segmentId, through: manifest.backedUpThrough };
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
      }
    }
    const result =
      best === undefined || best.through <= segment.scl
        ? fail(new NorthlightError('NL_OBJECT_STORE_UNAVAILABLE', 'no peer backup reaches past this segment'))
        : await this.restoreSegment(pgId, segmentId, best.source);
    if (!result.ok) {
      this.#env.log.log('warn', 'could not catch up from a backup; gossip retries', {
        pgId,
        segmentId,
        error: result.error.message,
      });
      segment.behindPeerGc = false; // the next gossip reply raises it again, and retries
      return;
    }
    this.#env.log.log('info', "caught up from a peer's backup", {
      pgId,
      segmentId,
      source: best!.source,
      ...result.value,
    });
  }

  /** Creates the segment of a manifest, its page images (the base) written and synced first. */
  async #createFromManifest(
    storage: Storage,
    manifest: BackupManifest,
    segmentId: SegmentId,
  ): Promise<Result<Segment>> {
    if (!manifest.members.includes(segmentId))
      return fail(
        new NorthlightError(
          'NL_CONFIG_INVALID',
          `segment ${segmentId} is not a member of PG ${manifest.pgId} in backup ${manifest.segmentId}; create it with its membership first`,
        ),
      );
    if (storage.segments.size >= this.#options.segmentsMax)
      return fail(
        new NorthlightError(
          'NL_CONFIG_INVALID',
          `the node hosts ${storage.segments.size} segments (segmentsMax)`,
        ),
      );
    const number = storage.controlState.nextSegmentNumber++;
    const baseLsn = manifest.base?.lsn ?? LSN_ZERO;
    const images =
      manifest.base === undefined ? ok<readonly BaseImage[]>([]) : await this.#fetchBase(manifest);
    if (!images.ok) return images;
    const slots: { pageNo: number; slot: number }[] = [];
    for (const image of images.value) {
      slots.push({
        pageNo: image.pageNo,
        slot: await storage.pageStore.write(number, image.pageNo, baseLsn, image.bytes),
      });
    }
    await storage.pageStore.sync(); // the images are durable before the entry that makes them count (M1)
    const state: SegmentControlState = {
      number,
      pgId: manifest.pgId,
      segmentId,
      volumeEpoch: manifest.volumeEpoch,
      truncationEpoch: manifest.truncationEpoch,
      truncations: [...manifest.truncations],
      membershipEpoch: manifest.membershipEpoch,
      members: [...manifest.members],
      memberNodes: [...manifest.memberNodes],
      durableHint: baseLsn,
      minReadPoint: baseLsn,
      materializedThrough: baseLsn,
      gcThrough: baseLsn,
      sealed: false,
    };
    const entry: ControlEntry = { kind: 'segment', state };
    await this.#appendControl(storage, [entry]);
    applyControlEntry(storage.controlState, entry);
    const segment = new Segment(storage.controlState.segments.get(number)!, this.#options.rateWindowMs);
    for (const { pageNo, slot } of slots) segment.pages.set(pageNo, { slot, lsn: baseLsn });
    segment.rebuild();
    storage.addSegment(segment);
    this.#env.log.log('info', 'created segment from a backup', {
      pgId: manifest.pgId,
      segmentId,
      source: manifest.segmentId,
      baseLsn,
      pages: slots.length,
    });
    return ok(segment);
  }

  /**
   * An object a manifest names (a base or a chunk), paced to the node's hydration limit; one that is
   * not there is NL_OBJECT_STORE_UNAVAILABLE (thrown, like the store's own failures).
   */
  async #fetchBackupObject(key: string, what: 'base' | 'chunk'): Promise<Uint8Array> {
    const bytes = await this.#env.objectStore.get(key);
    if (bytes === undefined)
      throw new NorthlightError(
        'NL_OBJECT_STORE_UNAVAILABLE',
        `backup ${what} ${key} is missing; the manifest names it`,
      );
    await this.#paceHydration(bytes.length);
    return bytes;
  }

  async #fetchBase(manifest: BackupManifest): Promise<Result<readonly BaseImage[]>> {
    const base = manifest.base!;
    try {
      const bytes = await this.#fetchBackupObject(base.key, 'base');
      return ok(decodeBase(bytes, base, manifest.pgId, this.#options.pageSizeBytes));
    } catch (error) {
      if (!isNorthlightError(error) || isDiskError(error)) throw error;
      return fail(error);
    }
  }

  /**
   * Brings an existing segment up to the manifest: installs the base if the segment's SCL is below it,
   * then appends (durably, like gossip) the records of every chunk above the SCL.
   */
  async #hydrateFromBackup(
    storage: Storage,
    segment: Segment,
    manifest: BackupManifest,
    installedPages = 0,
  ): Promise<Result<RestoreReport>> {
    const control = segment.control;
    // One hydration at a time per segment, claimed before the first await: a peer's snapshot (the
    // control plane's catch-up or a repair's bulk path) may have begun while the manifest was read.
    if (segment.peerHydrationsPending > 0 || segment.hydration !== undefined)
      return fail(
        new NorthlightError(
          'NL_SEGMENT_BUSY',
          `segment ${control.segmentId} of PG ${control.pgId} is already hydrating (${segment.hydration?.source ?? 'peer'}); check it again when that is done`,
        ),
      );
    const hydration = { source: 'backup' as const, chunksDone: 0, chunksTotal: 0 };
    segment.hydration = hydration;
    try {
      return await this.#hydrateFromBackupNow(storage, segment, manifest, installedPages, hydration);
    } finally {
      if (segment.hydration === hydration) segment.hydration = undefined;
    }
  }

  async #hydrateFromBackupNow(
    storage: Storage,
    segment: Segment,
    manifest: BackupManifest,
    installedPages: number,
    hydration: { chunksDone: number; chunksTotal: number },
  ): Promise<Result<RestoreReport>> {
    const control = segment.control;
    const report = {
      baseLsn: manifest.base?.lsn ?? LSN_ZERO,
      pages: installedPages,
      chunks: 0,
      records: 0,
      scl: segment.scl,
    };
    if (
      manifest.base !== undefined &&
      manifest.base.lsn > segment.scl &&
      manifest.base.lsn > control.materializedThrough
    ) {
      const images = await this.#fetchBase(manifest);
      if (!images.ok) return images;
      report.pages = await this.#installBase(storage, segment, manifest.base.lsn, [images.value]);
    }
    const chunks = manifest.chunks.filter((chunk) => chunk.toInclusive > segment.scl);
    hydration.chunksTotal = chunks.length;
    for (const chunk of chunks) {
      if (this.#storage !== storage || segment.dropped) break;
      let records: readonly RedoRecord[];
      try {
        const bytes = await this.#fetchBackupObject(chunk.key, 'chunk');
        records = decodeChunk(bytes, chunk, control.pgId);
      } catch (error) {
        if (!isNorthlightError(error) || isDiskError(error)) throw error;
        return fail(error);
      }
      const plan = planAppend(segment, records, this.#options.pagesPerPg, this.#options.pageSizeBytes);
      if (!plan.ok)
        return fail(new NorthlightError('NL_DECODE_INVALID', `backup chunk ${chunk.key}: ${plan.problem}`));
      if (plan.fresh.length > 0) {
        report.records += await this.#persist(storage, segment, plan.fresh, plan.fresh.map(encodeRedoRecord));
      }
      report.chunks++;
      hydration.chunksDone++;
      this.#env.log.log('info', 'hydrating from the backup', {
        pgId: control.pgId,
        segmentId: control.segmentId,
        chunk: `${report.chunks}/${chunks.length}`,
        scl: segment.scl,
      });
    }
    if (manifest.backedUpThrough > control.durableHint) {
      control.durableHint = manifest.backedUpThrough; // staged records were at or below a durable hint
      this.#markControlDirty(storage, segment);
    }
    segment.behindPeerGc = false;
    report.scl = segment.scl;
    return ok(report);
  }

  /**
   * Installs page images as of `lsn` (above the segment's materialization point): written and synced,
   * then one `materialized` entry moves both the image point and GC to `lsn`; the records at or below
   * it are dropped and the SCL re-bases there (it is complete through `lsn` by the base).
   */
  /**
   * Installs page images as of `lsn` (a base: from S3 or a peer's snapshot). The images come in
   * batches and are written to free slots first, outside the materialization queue, so a long stream
   * does not hold up the node's materialization; nothing refers to those slots yet. Then, in the
   * queue (a step that read the old image point must not commit after this and put older images over
   * the base, whose records below it are dropped here): if the base is still above the segment's
   * materialization point, the images are synced and one `materialized` entry moves the image point
   * and GC to `lsn`; otherwise, or if a batch fails, the slots are freed and the segment is as it was.
   */
  async #installBase(
    storage: Storage,
    segment: Segment,
    lsn: Lsn,
    batches: Iterable<BaseBatch> | AsyncIterable<BaseBatch>,
  ): Promise<number> {
    const control = segment.control;
    const wanted = () => storage === this.#storage && !segment.dropped && lsn > control.materializedThrough;
    const written: { pageNo: number; slot: number }[] = [];
    const abandon = () => {
      if (storage === this.#storage) for (const { slot } of written) storage.pageStore.freeUnused(slot);
    };
    const clock = this.#env.clock;
    const timings = { startedMs: clock.nowMs(), writeMs: 0, queuedAtMs: 0, syncMs: 0 };
    // Written and synced a megabyte at a time: one sync of the whole base at the end would flush it all
    // at once, and every other writer of this filesystem (the foreground's log appends, here and on
    // the nodes beside it) would wait behind that flush.
    const imagesPerSync = Math.max(1, Math.floor(BASE_SYNC_EVERY_BYTES / storage.pageStore.slotBytes));
    const write = async (batch: BaseBatch): Promise<void> => {
      const slotBytes = storage.pageStore.slotBytes;
      const images = 'slots' in batch ? batch.images : batch;
      for (let from = 0; from < images.length; from += imagesPerSync) {
        const to = Math.min(images.length, from + imagesPerSync);
        // A peer's slots, already checked end to end by the decoder, go to disk as they came (their
        // identities restamped for this node); images from elsewhere are encoded into slots.
        const slots =
          'slots' in batch
            ? await storage.pageStore.writeSlots(
                control.number,
                lsn,
                batch.slots.subarray(from * slotBytes, to * slotBytes),
                batch.images.slice(from, to),
              )
            : await storage.pageStore.writeMany(control.number, lsn, batch.slice(from, to));
        for (let index = from; index < to; index++)
          written.push({ pageNo: images[index]!.pageNo, slot: slots[index - from]! });
        await storage.pageStore.sync();
      }
    };
    // One batch's write is in flight while the next one is received and checked (the disk and the
    // CPU overlap); the next write starts only once it is done, so at most two batches are held.
    let writing: Promise<void> | undefined;
    const awaitWrite = async (): Promise<void> => {
      const waitStartedMs = clock.nowMs();
      await writing;
      writing = undefined;
      timings.writeMs += clock.nowMs() - waitStartedMs;
    };
    try {
      for await (const batch of batches) {
        await awaitWrite();
        if (!wanted()) continue;
        writing = write(batch);
        writing.catch(() => undefined); // it is awaited later; meanwhile a failure is not "unhandled"
      }
      await awaitWrite();
    } catch (error) {
      // A write still in flight must end before its slots are freed: they would be reused under it.
      await writing?.catch(() => undefined);
      abandon();
      throw error;
    }
    timings.queuedAtMs = clock.nowMs();
    return this.#inMaterializationQueue(async () => {
      if (!wanted()) {
        abandon();
        return 0;
      }
      const syncStartedMs = clock.nowMs();
      try {
        await storage.pageStore.sync(); // the images are durable before the entry that makes them count (M1)
      } catch (error) {
        abandon();
        throw error;
      }
      timings.syncMs = clock.nowMs() - syncStartedMs;
      return this.#commitBase(storage, segment, lsn, written, {
        // Where the time went: receiving the images (and writing them, which overlaps), waiting for
        // the last writes, for the materialization queue, making them durable.
        receiveMs: Math.round(timings.queuedAtMs - timings.startedMs - timings.writeMs),
        writeMs: Math.round(timings.writeMs),
        queueMs: Math.round(syncStartedMs - timings.queuedAtMs),
        syncMs: Math.round(timings.syncMs),
      });
    });
  }

  async #commitBase(
    storage: Storage,
    segment: Segment,
    lsn: Lsn,
    written: readonly { pageNo: number; slot: number }[],
    timings: Readonly<Record<string, number>>,
  ): Promise<number> {
    const control = segment.control;
    const entry: Extract<ControlEntry, { kind: 'materialized' }> = {
      kind: 'materialized',
      number: control.number,
      materializedThrough: lsn,
      gcThrough: lsn,
    };
    await storage.controlLog.append([entry]);
    applySegmentEntry(control, entry);
    for (const { pageNo, slot } of written) {
      const previous = segment.pages.get(pageNo);
      if (previous !== undefined) storage.pageStore.free(previous.slot);
      segment.pages.set(pageNo, { slot, lsn });
      segment.damagedPages.delete(pageNo);
    }
    storage.releaseRecordsThrough(segment, lsn);
    for (const dropped of segment.rebuild()) storage.nodeLog.release(dropped.location);
    storage.releasePruned(segment, this.#env.log);
    segment.normalizeAfterReplay();
    this.#markControlDirty(storage, segment);
    await storage.reclaim();
    this.#env.log.log('info', 'installed a base of page images', {
      pgId: control.pgId,
      segmentId: control.segmentId,
      lsn,
      pages: written.length,
      ...timings,
    });
    return written.length;
  }

  // ---- peer snapshots: the bulk path of a repair or a migration (snapshot.ts, snapshot-format.ts) ----

  /**
   * Sets the node-wide bandwidth limit of hydrations (bytes per second, 0 = none; hydration-pacer.ts).
   * The control plane sends its limit with each hydrate request; the latest applies to all of them.
   */
  setHydrationBytesPerSecond(bytesPerSecond: number): Result<{ readonly bytesPerSecond: number }> {
    if (!isHydrationLimit(bytesPerSecond))
      return fail(
        new NorthlightError(
          'NL_CONFIG_INVALID',
          `hydration bytes per second ${bytesPerSecond}: must be 0 (no limit) or an integer in [${HYDRATION_BYTES_PER_SECOND_MIN}, ${HYDRATION_BYTES_PER_SECOND_MAX}]`,
        ),
      );
    if (bytesPerSecond !== this.#hydrationPacer.bytesPerSecond) {
      this.#hydrationPacer.setBytesPerSecond(bytesPerSecond);
      this.#options.metrics.hydrationLimit(bytesPerSecond);
      this.#env.log.log('info', 'hydration bandwidth limit set', { bytesPerSecond });
    }
    return ok({ bytesPerSecond });
  }

  /** The node's hydration bandwidth limit now (bytes per second; 0: none). */
  get hydrationBytesPerSecond(): number {
    return this.#hydrationPacer.bytesPerSecond;
  }

  /** Bytes a hydration took in: paced to the node's limit, and counted. */
  async #paceHydration(bytes: number): Promise<void> {
    const waitedMs = await this.#hydrationPacer.take(bytes);
    this.#options.metrics.hydrationPaced(bytes, waitedMs);
  }

  /**
   * Streams segment (pgId, segmentId) to `sink` as a snapshot: its page images as of its
   * materialization point and its chain records above it, as they stood at one instant. Not a
   * lifecycle operation: it only reads. Fails typed (unknown segment, damaged page, disk error).
   */
  async snapshotSegment(
    pgId: PgId,
    segmentId: SegmentId,
    sink: (part: Uint8Array) => Promise<void>,
  ): Promise<Result<SnapshotReport>> {
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined)
      return fail(new NorthlightError('NL_TIMEOUT', `the storage node is ${this.#state}; retry`));
    const segment = storage.segment(pgId, segmentId);
    if (segment === undefined || segment.dropped || segment.state !== 'active')
      return fail(
        new NorthlightError(
          'NL_CONFIG_INVALID',
          `this node holds no active segment ${segmentId} of PG ${pgId}; snapshot another member`,
        ),
      );
    try {
      const report = await exportSnapshot(
        this.#env,
        storage,
        segment,
        { partBytes: this.#options.backupChunkBytesMax },
        sink,
      );
      this.#env.log.log('info', 'sent a snapshot to a peer', { pgId, segmentId, ...report });
      return ok(report);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      if (isDiskError(error)) this.#diskFailed(error, storage);
      return fail(error);
    }
  }

  /**
   * Hydrates an existing segment (a repair's or a migration's joiner, created with its membership)
   * from a peer's snapshot stream (`snapshotSegment` on another node; the transport is the caller's):
   * the base is installed if it is above the segment's SCL, then every record above, appended durably
   * like gossip. Gossip brings the rest. Progress shows in `status()` (`hydration`). A stream that
   * fails part-way leaves the segment valid, with what was appended; the caller retries.
   *
   * The source must be at the segment's truncation epoch (as gossip must): a joiner waits up to
   * `SNAPSHOT_TRUNCATION_WAIT_MS` for the writer to bring it a newer one, and a source behind it is refused.
   */
  hydrateFromSnapshot(
    pgId: PgId,
    segmentId: SegmentId,
    open: () => Promise<AsyncIterable<Uint8Array>>,
    from = 'a peer',
  ): Promise<Result<SnapshotHydrationReport>> {
    if (!(isValidIdentifier(segmentId) && Number.isInteger(pgId) && pgId >= 0 && pgId <= 0xffff_ffff))
      return Promise.resolve(
        fail(new NorthlightError('NL_CONFIG_INVALID', `bad segment ${pgId}/${segmentId}`)),
      );
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined)
      return Promise.resolve(
        fail(new NorthlightError('NL_TIMEOUT', `the storage node is ${this.#state}; retry`)),
      );
    const segment = storage.segment(pgId, segmentId);
    if (segment === undefined || segment.dropped)
      return Promise.resolve(
        fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `this node holds no segment ${segmentId} of PG ${pgId}; create it with its membership first`,
          ),
        ),
      );
    // Not a lifecycle operation (a long stream must not hold up creates and membership changes on this
    // node, nor other joiners' snapshots): one hydration at a time per segment instead.
    if (segment.hydration !== undefined || segment.peerHydrationsPending > 0)
      return Promise.resolve(
        fail(
          new NorthlightError(
            'NL_SEGMENT_BUSY',
            `segment ${segmentId} of PG ${pgId} is already hydrating (${segment.hydration?.source ?? 'peer'}); check it again when that is done`,
          ),
        ),
      );
    segment.peerHydrationsPending++;
    return (async (): Promise<Result<SnapshotHydrationReport>> => {
      const startedMs = this.#env.clock.nowMs();
      try {
        const stream = await open();
        return ok(await this.#hydrateFromSnapshotNow(storage, segment, stream, from, startedMs));
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        const failure: NorthlightError = error;
        if (failure.code === 'NL_DISK_IO') {
          this.#diskFailed(failure, storage);
          return fail(failure);
        }
        this.#env.log.log('warn', 'hydrating from a peer failed; the segment keeps what arrived', {
          pgId,
          segmentId,
          from,
          error: failure.message,
          scl: segment.scl,
        });
        return fail(failure);
      } finally {
        segment.peerHydrationsPending--;
        if (segment.hydration?.source === 'peer') segment.hydration = undefined;
      }
    })();
  }

  async #hydrateFromSnapshotNow(
    storage: Storage,
    segment: Segment,
    stream: AsyncIterable<Uint8Array>,
    from: string,
    startedMs: number,
  ): Promise<SnapshotHydrationReport> {
    const control = segment.control;
    const decoder = new SnapshotDecoder(control.pgId, this.#options.pageSizeBytes);
    const pace = (received: number) => this.#paceHydration(received);
    let bytes = 0;
    const events = (async function* () {
      const slices = stream[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await slices.next();
        } catch (error) {
          // The transport's failure (a reset connection, a source that stopped sending): an I/O error.
          if (isNorthlightError(error)) throw error;
          throw new NorthlightError(
            'NL_NETWORK_UNREACHABLE',
            `the snapshot stream from ${from} broke after ${bytes} bytes: ${(error as Error).message}`,
          );
        }
        if (next.done === true) break;
        bytes += next.value.length;
        await pace(next.value.length); // the node's hydration limit: back-pressure to the source
        yield* decoder.push(next.value);
      }
      decoder.finish();
    })();
    const first = await events.next();
    if (first.done || first.value.kind !== 'manifest')
      throw new NorthlightError('NL_DECODE_INVALID', 'segment snapshot: it does not start with a manifest');
    const manifest = first.value.manifest;
    // Records are only exchanged between members that agree on the truncations (as in gossip).
    const deadline = this.#env.clock.nowMs() + SNAPSHOT_TRUNCATION_WAIT_MS;
    while (control.truncationEpoch < manifest.truncationEpoch && this.#env.clock.nowMs() < deadline)
      await this.#env.clock.sleep(20);
    if (control.truncationEpoch !== manifest.truncationEpoch)
      throw new NorthlightError(
        'NL_EPOCH_STALE',
        `the snapshot of ${manifest.segmentId} is at truncation epoch ${manifest.truncationEpoch}, this segment at ${control.truncationEpoch}; ${
          control.truncationEpoch < manifest.truncationEpoch
            ? 'retry once the writer has sent it the truncation'
            : 'snapshot a member that is up to date'
        }`,
      );
    const base = manifest.base;
    const hydration = {
      source: 'peer' as const,
      from,
      chunksDone: 0,
      chunksTotal: manifest.chunks.length,
      pagesDone: 0,
      pagesTotal: base?.pages ?? 0,
    };
    segment.hydration = hydration;
    this.#env.log.log('info', 'hydrating from a peer', {
      pgId: control.pgId,
      segmentId: control.segmentId,
      from,
      baseLsn: base?.lsn,
      pages: base?.pages,
      chunks: manifest.chunks.length,
      through: manifest.backedUpThrough,
      scl: segment.scl,
    });
    let next: SnapshotEvent | undefined;
    const pull = async (): Promise<SnapshotEvent | undefined> => {
      const taken = next;
      next = undefined;
      if (taken !== undefined) return taken;
      const result = await events.next();
      return result.done ? undefined : result.value;
    };
    let pages = 0;
    const baseBatches = async function* () {
      for (;;) {
        const event = await pull();
        if (event === undefined) return;
        if (event.kind !== 'base') {
          next = event;
          return;
        }
        hydration.pagesDone += event.images.length;
        yield event;
      }
    };
    if (base !== undefined && base.lsn > segment.scl && base.lsn > control.materializedThrough)
      pages = await this.#installBase(storage, segment, base.lsn, baseBatches());
    else for await (const _ of baseBatches()); // not needed: drained
    let records = 0;
    let ended = false;
    for (let event = await pull(); event !== undefined; event = await pull()) {
      if (event.kind === 'end') {
        ended = true;
        continue; // the stream must close right after it (the decoder checks)
      }
      if (event.kind !== 'chunk' || this.#storage !== storage || segment.dropped) continue;
      if (event.ref.toInclusive > segment.scl) {
        const plan = planAppend(
          segment,
          event.records,
          this.#options.pagesPerPg,
          this.#options.pageSizeBytes,
        );
        if (!plan.ok)
          throw new NorthlightError(
            'NL_DECODE_INVALID',
            `segment snapshot: ${event.ref.key}: ${plan.problem}`,
          );
        if (plan.fresh.length > 0)
          records += await this.#persist(storage, segment, plan.fresh, plan.fresh.map(encodeRedoRecord));
      }
      hydration.chunksDone++;
    }
    if (!ended) throw new NorthlightError('NL_DECODE_TRUNCATED', 'segment snapshot: no end part');
    segment.behindPeerGc = false;
    const report: SnapshotHydrationReport = {
      baseLsn: base?.lsn ?? LSN_ZERO,
      pages,
      chunks: manifest.chunks.length,
      records,
      scl: segment.scl,
      bytes,
      ms: this.#env.clock.nowMs() - startedMs,
    };
    this.#env.log.log('info', 'hydrated from a peer', {
      pgId: control.pgId,
      segmentId: control.segmentId,
      from,
      ...report,
    });
    return report;
  }

  // ---- page reads ----

  /**
   * The page `pageNo` of segment (pgId, segmentId) as of `readPoint`, or a typed refusal: read points
   * below the PG's minimum read point or above the segment's SCL are refused (read-page.ts).
   */
  async readPage(pgId: PgId, segmentId: SegmentId, pageNo: number, readPoint: Lsn): Promise<ReadPageOutcome> {
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined)
      return refuse('not-serving', `the storage node is ${this.#state}`);
    const segment = storage.segment(pgId, segmentId);
    if (segment === undefined) return refuse('unknown-segment', `no segment ${segmentId} of PG ${pgId} here`);
    if (segment.state !== 'active') return refuse('silent', `segment ${segmentId} is silent until repaired`);
    const outcome = await this.#read(storage, segment, pageNo, readPoint, undefined);
    if (!outcome.ok) this.#options.metrics.requestRejected(outcome.refusal.error.code);
    return outcome;
  }

  async #read(
    storage: Storage,
    segment: Segment,
    pageNo: number,
    readPoint: Lsn,
    volumeEpoch: Epoch | undefined,
  ): Promise<ReadPageOutcome> {
    const control = segment.control;
    if (volumeEpoch !== undefined && volumeEpoch < control.volumeEpoch)
      return refuse(
        'stale-epoch',
        `volume epoch ${volumeEpoch} < ${control.volumeEpoch}; a newer writer recovered the volume`,
      );
    if (this.#readsInFlight >= this.#options.readsInFlightMax)
      return refuse('overloaded', `${this.#readsInFlight} page reads in flight (readsInFlightMax)`);
    const startedMs = this.#env.clock.nowMs();
    this.#readsInFlight++;
    let outcome: ReadPageOutcome;
    try {
      outcome = await readPageAt(this.#env, storage, segment, pageNo, readPoint);
      await storage.reclaim();
    } catch (error) {
      if (!isDiskError(error)) throw error;
      this.#diskFailed(error, storage);
      return refuse('not-serving', `disk I/O error while reading: ${error.message}`);
    } finally {
      this.#readsInFlight--;
    }
    if (outcome.ok) {
      segment.readRate.record(this.#env.clock.nowMs());
      this.#options.metrics.pageRead(control, this.#env.clock.nowMs() - startedMs);
    }
    return outcome; // a refusal is counted once: by #reject on the wire, by readPage locally
  }

  // ---- background work ----

  /**
   * One background loop at a time: `#materializeLoop` stays set from the timer until its step ends, so
   * a step of an abandoned Storage that ends after a reload cannot start a second loop.
   */
  #scheduleMaterialize(delayMs = this.#options.materializeIntervalMs): void {
    if (this.#options.materializeIntervalMs === 0 || this.#state !== 'serving' || this.#materializeLoop)
      return;
    this.#materializeLoop = true;
    this.#materializeTimer = this.#env.clock.setTimer(delayMs, () => {
      this.#materializeTimer = undefined;
      let full = false;
      const step = this.materializeStep()
        .then((result) => {
          // A full step left a backlog (records arrive faster than one step per interval coalesces):
          // the next one starts at once, after the event loop has served what is waiting.
          full = result.recordsCoalesced >= this.#options.materializeRecordsPerStep;
        })
        .finally(() => {
          this.#materializeLoop = false;
          this.#scheduleMaterialize(full ? 0 : this.#options.materializeIntervalMs);
        });
      this.#track(step, this.#storage);
    });
  }

  /**
   * One bounded materialization (and GC) step for the next segment, round robin, that has work. The
   * background timer calls it; tests and an admin "checkpoint now" may too. Steps never overlap.
   */
  materializeStep(): Promise<MaterializeStepResult> {
    return this.#inMaterializationQueue(() => this.#materializeOnce());
  }

  async #materializeOnce(): Promise<MaterializeStepResult> {
    const storage = this.#storage;
    if (this.#state !== 'serving' || storage === undefined) return NOTHING_MATERIALIZED;
    const segments = [...storage.segments.values()];
    for (let offset = 0; offset < segments.length; offset++) {
      const index = (this.#materializeCursor + offset) % segments.length;
      const segment = segments[index]!;
      if (!hasMaterializationWork(segment, this.#options)) continue;
      this.#materializeCursor = index + 1;
      try {
        return await materializeStep(this.#env, storage, segment, () => this.#storage === storage);
      } catch (error) {
        if (!isDiskError(error)) throw error;
        this.#diskFailed(error, storage);
        return NOTHING_MATERIALIZED;
      }
    }
    return NOTHING_MATERIALIZED;
  }

  #scheduleScrub(): void {
    if (this.#options.scrubIntervalMs === 0 || this.#state !== 'serving' || this.#scrubLoop) return;
    this.#scrubLoop = true;
    this.#scrubTimer = this.#env.clock.setTimer(this.#options.scrubIntervalMs, () => {
      this.#scrubTimer = undefined;
      const storage = this.#storage;
      if (storage === undefined) {
        this.#scrubLoop = false;
        return;
      }
      if (this.#backgroundScrub === undefined || this.#backgroundScrub.done)
        this.#backgroundScrub = new ScrubPass(storage);
      const step = this.#backgroundScrub
        .step(this.#env, storage, this.#options.scrubItemsPerStep)
        .finally(() => {
          this.#scrubLoop = false;
          this.#scheduleScrub();
        });
      this.#track(step, storage);
    });
  }

  /**
   * One whole scrub pass over every stored log entry and page image, in bounded steps. Damage found is
   * reported here and listed in `status().damage`.
   */
  async scrub(): Promise<ScrubReport> {
    const storage = this.#storage;
    const pass = storage === undefined ? undefined : new ScrubPass(storage);
    while (pass !== undefined && !pass.done && this.#storage === storage) {
      try {
        await pass.step(this.#env, storage!, this.#options.scrubItemsPerStep);
      } catch (error) {
        if (!isDiskError(error)) throw error;
        this.#diskFailed(error, storage);
      }
    }
    return pass?.report() ?? { recordsVerified: 0, pagesVerified: 0, damagedRecords: 0, damagedPages: 0 };
  }

  // ---- segment lifecycle (control plane) ----

  /**
   * Creates an empty segment with its members and membership epoch; durable when it resolves ok.
   * Creating an existing segment with the same membership epoch is a no-op (`created: false`).
   */
  createSegment(spec: SegmentSpec): Promise<Result<{ created: boolean }>> {
    const problem = this.#specProblem(spec.pgId, spec.segmentId, spec.members, spec.memberNodes ?? []);
    if (problem !== undefined)
      return Promise.resolve(fail(new NorthlightError('NL_CONFIG_INVALID', problem)));
    return this.#lifecycleOperation<{ created: boolean }>(async (storage) => {
      const existing = storage.segment(spec.pgId, spec.segmentId);
      if (existing !== undefined) {
        const sameMembers =
          existing.control.members.length === spec.members.length &&
          existing.control.members.every((member, index) => member === spec.members[index]);
        if (existing.control.membershipEpoch === spec.membershipEpoch && sameMembers)
          return ok({ created: false });
        if (existing.control.membershipEpoch === spec.membershipEpoch)
          // A stray of an earlier change that reused the id (its begin never reached the writer): not
          // this segment. The control plane drops it, then creates it again.
          return fail(
            new NorthlightError(
              'NL_CONFIG_INVALID',
              `segment ${spec.segmentId} exists at membership epoch ${spec.membershipEpoch} with other members (${existing.control.members.join(',')}); drop it first`,
            ),
          );
        return fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `segment ${spec.segmentId} exists with membership epoch ${existing.control.membershipEpoch}; use updateMembership`,
          ),
        );
      }
      if (storage.segments.size >= this.#options.segmentsMax)
        return fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `the node hosts ${storage.segments.size} segments (segmentsMax)`,
          ),
        );
      const state: SegmentControlState = {
        number: storage.controlState.nextSegmentNumber,
        pgId: spec.pgId,
        segmentId: spec.segmentId,
        volumeEpoch: spec.volumeEpoch ?? EPOCH_ZERO,
        truncationEpoch: EPOCH_ZERO,
        truncations: [],
        membershipEpoch: spec.membershipEpoch,
        members: [...spec.members],
        memberNodes: [...(spec.memberNodes ?? [])],
        durableHint: LSN_ZERO,
        minReadPoint: LSN_ZERO,
        materializedThrough: LSN_ZERO,
        gcThrough: LSN_ZERO,
        sealed: false,
      };
      const entry: ControlEntry = { kind: 'segment', state };
      storage.controlState.nextSegmentNumber++; // numbers are never reused, even if the append fails
      await this.#appendControl(storage, [entry]);
      applyControlEntry(storage.controlState, entry);
      storage.addSegment(
        new Segment(storage.controlState.segments.get(state.number)!, this.#options.rateWindowMs),
      );
      this.#env.log.log('info', 'created segment', {
        pgId: spec.pgId,
        segmentId: spec.segmentId,
        number: state.number,
      });
      return ok({ created: true });
    });
  }

  /** Drops a segment: durable when it resolves; its log entries and page images become reclaimable. */
  dropSegment(pgId: PgId, segmentId: SegmentId): Promise<Result<{ dropped: boolean }>> {
    return this.#lifecycleOperation<{ dropped: boolean }>(async (storage) => {
      const segment = storage.segment(pgId, segmentId);
      if (segment === undefined) return ok({ dropped: false });
      await this.#appendControl(storage, [{ kind: 'dropped', number: segment.control.number }]);
      storage.removeSegment(segment);
      await storage.reclaim();
      this.#env.log.log('info', 'dropped segment', { pgId, segmentId });
      return ok({ dropped: true });
    });
  }

  /**
   * Seals a segment for good (a migration's cut-over: the new member has caught up): appends are
   * refused with NL_MEMBERSHIP_STALE from now on; reads, fetches, gossip and staging go on, so it stays a
   * source until it is dropped. Durable when it resolves; sealing a sealed segment is a no-op.
   */
  sealSegment(pgId: PgId, segmentId: SegmentId): Promise<Result<{ sealed: boolean }>> {
    return this.#lifecycleOperation<{ sealed: boolean }>(async (storage) => {
      const segment = storage.segment(pgId, segmentId);
      if (segment === undefined)
        return fail(new NorthlightError('NL_CONFIG_INVALID', `no segment ${segmentId} of PG ${pgId} here`));
      if (segment.control.sealed) return ok({ sealed: false });
      segment.control.sealed = true; // refuse appends at once; durable before the caller hears of it
      await this.#appendControl(storage, [{ kind: 'sealed', number: segment.control.number }]);
      this.#env.log.log('info', 'sealed segment', { pgId, segmentId, scl: segment.scl });
      return ok({ sealed: true });
    });
  }

  /** Records a new member list under a newer membership epoch (repair, migration). */
  updateMembership(
    pgId: PgId,
    segmentId: SegmentId,
    membershipEpoch: Epoch,
    members: readonly SegmentId[],
    memberNodes: readonly NodeId[] = [],
  ): Promise<Result<{ changed: boolean }>> {
    const problem = this.#specProblem(pgId, segmentId, members, memberNodes);
    if (problem !== undefined)
      return Promise.resolve(fail(new NorthlightError('NL_CONFIG_INVALID', problem)));
    return this.#lifecycleOperation<{ changed: boolean }>(async (storage) => {
      const segment = storage.segment(pgId, segmentId);
      if (segment === undefined)
        return fail(new NorthlightError('NL_CONFIG_INVALID', `no segment ${segmentId} here`));
      const control = segment.control;
      if (membershipEpoch < control.membershipEpoch)
        return fail(
          new NorthlightError(
            'NL_MEMBERSHIP_STALE',
            `membership epoch ${membershipEpoch} < ${control.membershipEpoch}`,
          ),
        );
      if (membershipEpoch === control.membershipEpoch) {
        const sameNodes = memberNodes.length === 0 || memberNodes.join(',') === control.memberNodes.join(',');
        if (members.join(',') === control.members.join(',') && sameNodes) return ok({ changed: false });
        return fail(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `membership epoch ${membershipEpoch} already has other members or placement; use a newer epoch`,
          ),
        );
      }
      const entry = {
        kind: 'membership',
        number: control.number,
        membershipEpoch,
        members: [...members],
        memberNodes: [...memberNodes],
      } as const;
      await this.#appendControl(storage, [entry]);
      applySegmentEntry(control, entry);
      return ok({ changed: true });
    });
  }

  #specProblem(
    pgId: PgId,
    segmentId: SegmentId,
    members: readonly SegmentId[],
    memberNodes: readonly NodeId[],
  ): string | undefined {
    if (!Number.isInteger(pgId) || pgId < 0 || pgId > 0xffff_ffff) return `PG id ${pgId} is not a u32`;
    if (!isValidIdentifier(segmentId)) return `segment id ${JSON.stringify(segmentId)} is not valid`;
    if (members.length === 0 || members.length > this.#options.membersMax)
      return `${members.length} members (1 to membersMax = ${this.#options.membersMax})`;
    if (new Set(members).size !== members.length) return 'members repeat';
    if (!members.includes(segmentId)) return `members do not include the segment itself (${segmentId})`;
    const bad = members.find((member) => !isValidIdentifier(member));
    if (bad !== undefined) return `member ${JSON.stringify(bad)} is not a valid segment id`;
    if (memberNodes.length !== 0 && memberNodes.length !== members.length)
      return `${memberNodes.length} member nodes for ${members.length} members (one per member, or none)`;
    const badNode = memberNodes.find((node) => !isValidIdentifier(node));
    return badNode === undefined
      ? undefined
      : `member node ${JSON.stringify(badNode)} is not a valid node id`;
  }

  /** Lifecycle operations run one at a time; a disk error fails the operation and reloads. */
  #lifecycleOperation<T>(operation: (storage: Storage) => Promise<Result<T>>): Promise<Result<T>> {
    const run = this.#lifecycle.then(async (): Promise<Result<T>> => {
      const storage = this.#storage;
      if (this.#state !== 'serving' || storage === undefined)
        return fail(new NorthlightError('NL_TIMEOUT', `the storage node is ${this.#state}; retry`));
      try {
        return await operation(storage);
      } catch (error) {
        if (!isDiskError(error)) throw error;
        this.#diskFailed(error, storage);
        return fail(error);
      }
    });
    this.#lifecycle = run.catch(() => undefined);
    return run;
  }

  // ---- status and shutdown ----

  /** Plain data for the admin API: the node and every segment. */
  status(): StorageNodeStatus {
    return storageStatus(
      this.#env.network.address,
      this.#state,
      this.#storage,
      this.#env.clock.nowMs(),
      this.#hydrationPacer.status(),
      {
        intervalMs: this.#options.backupIntervalMs,
        maxDelayMs: this.#options.backupMaxDelayMs,
        stageAtBytes: stageAtBytesOf(this.#options.backupChunkBytesMax),
        chunkBytesMax: this.#options.backupChunkBytesMax,
        notedMs: this.#backupNotedMs,
      },
    );
  }

  /**
   * Graceful shutdown: stops accepting messages and background work, lets requests in flight finish
   * (appends are synced and acknowledged), writes the lazily persisted hints, and closes the files.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping';
    this.#cancelTimers();
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#materializing;
    await this.#lifecycle;
    const storage = this.#storage;
    if (storage !== undefined) {
      try {
        await this.#persistDirty(storage);
        this.#storage = undefined;
        await storage.close();
      } catch (error) {
        if (!isDiskError(error)) throw error;
        this.#env.log.log('warn', 'disk error while stopping', { error: error.message });
      }
    }
    this.#storage = undefined;
    this.#state = 'stopped';
    this.#env.log.log('info', 'storage node stopped');
    this.#resolveStarted?.(); // a start it interrupted ends too (no-op once serving)
  }
}
