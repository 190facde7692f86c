/**
 * The toy storage node of the quorum-writer workload: just enough of a storage node to put the real
 * quorum, completeness and recovery rules under simulated faults before the real storage node exists.
 * Per segment it keeps a log of encoded redo records and a control log (epoch, truncations, hint) on
 * its disk; it acknowledges a batch only after fdatasync; it fences requests of older volume epochs;
 * it answers recovery's state requests, truncations and record fetches. No gossip, no pages.
 *
 * Crash reasoning (numbered so the code can point at it):
 *  1. A batch is acknowledged only after the log write AND its sync resolved: an acknowledged record
 *     survives any crash of this node.
 *  2. The log may end in a torn or lost record after a crash: replay stops at the first record that
 *     fails to decode and cuts the file there, so later appends never follow garbage.
 *  3. An epoch or truncation is synced to the control log BEFORE the reply that lets a new writer rely
 *     on it; otherwise a crash could un-fence the old writer or resurrect annulled records.
 *  4. Offsets are reserved synchronously before any await, so concurrent batches never overlap; one
 *     sync covers every write issued before it (group commit).
 *  5. A segment accepts appends only once it has durably applied the truncation of the writer's epoch
 *     (`truncationEpoch`): before that it may still hold records that recovery annulled. The list of
 *     ranges a truncation carries is authoritative: an interrupted recovery's range that the newer
 *     recovery did not see is dropped (its writer never served, so nobody observed the annulment).
 *  6. A segment whose disk was wiped (no `created` entry on a restart) holds nothing and says so by
 *     staying silent: it must not answer recovery as an empty member, or a read quorum of wiped
 *     members would truncate acknowledged data. Bringing it back is repair (control plane, issue 6).
 */
import {
  AssertionError,
  decodeMessageFromBytes,
  type Environment,
  EPOCH_ZERO,
  type Epoch,
  type ErrorCode,
  encodeMessage,
  isNorthlightError,
  isTruncated,
  LSN_ZERO,
  type Lsn,
  type Message,
  type NodeId,
  type PgId,
  type RedoRecord,
  redoRecordSize,
  SegmentCompleteness,
  type SegmentId,
  type TruncationRange,
  tryDecodeRedoRecord,
  Writer,
  writeRedoRecord,
} from '@northlight/protocol';
import { AppendFile } from './append-file.js';
import {
  CONTROL_ENTRY_BYTES,
  type ControlEntry,
  decodeControlLog,
  encodeControlEntry,
} from './control-log.js';

export interface ToyStorageOptions {
  /** 1 on the node's first start; a later start without the segment's files means its disk was lost. */
  readonly incarnation: number;
  /** The segments this node hosts. */
  readonly segments: readonly { readonly pgId: PgId; readonly segmentId: SegmentId }[];
  /** A deliberate bug for the checker's own test: acknowledge before the data is synced. */
  readonly acknowledgeBeforeSync?: boolean;
}

interface Segment {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  volumeEpoch: Epoch;
  /** The epoch whose recovery's truncation this segment durably applied; appends need it current. */
  truncationEpoch: Epoch;
  durableHint: Lsn;
  truncations: TruncationRange[];
  /** The disk was lost: the segment answers nothing until repaired. */
  lost: boolean;
  readonly records: Map<Lsn, RedoRecord>;
  completeness: SegmentCompleteness;
  log: AppendFile;
  control: AppendFile;
  /** The truncation being applied; the next one waits for it. */
  truncating: Promise<void>;
  hintWriteScheduled: boolean;
}

const HINT_PERSIST_INTERVAL_MS = 50;

/** After a disk error the node drops its in-memory state and replays its disk after this pause. */
const RELOAD_AFTER_DISK_ERROR_MS = 20;

export class ToyStorageNode {
  readonly #env: Environment;
  readonly #options: ToyStorageOptions;
  readonly #segments = new Map<PgId, Segment>();
  #ready = false;

  constructor(env: Environment, options: ToyStorageOptions) {
    this.#env = env;
    this.#options = options;
    env.network.onMessage((from, bytes) => this.#receive(from, bytes));
    void this.#load();
  }

  get ready(): boolean {
    return this.#ready;
  }

  async #load(): Promise<void> {
    try {
      for (const { pgId, segmentId } of this.#options.segments) {
        this.#segments.set(pgId, await this.#loadSegment(pgId, segmentId));
      }
    } catch (error) {
      this.#diskFailed(error);
      return;
    }
    this.#ready = true;
    this.#env.log.log('info', 'storage ready', { segments: this.#segments.size });
  }

  /**
   * An I/O error leaves the on-disk state unknown (a write may be half done, a failed fsync may have
   * dropped pages): stop serving, forget memory, and replay the disk as a restart would. Nothing is
   * acknowledged from the failed write on (AppendFile rejects everything queued behind it).
   */
  #diskFailed(error: unknown): void {
    if (!isNorthlightError(error, 'NL_DISK_IO')) throw error;
    if (!this.#ready && this.#reloading) return;
    this.#ready = false;
    this.#reloading = true;
    this.#env.log.log('warn', 'disk I/O error; replaying segments from disk', { error: error.message });
    this.#env.clock.setTimer(RELOAD_AFTER_DISK_ERROR_MS, () => {
      this.#reloading = false;
      this.#segments.clear();
      void this.#load();
    });
  }

  #reloading = false;

  async #loadSegment(pgId: PgId, segmentId: SegmentId): Promise<Segment> {
    const existed = await this.#env.disk.exists(`/data/${segmentId}.control`);
    const controlFile = await this.#env.disk.open(`/data/${segmentId}.control`);
    const controlBytes = await controlFile.read(0, await controlFile.size());
    const { entries, validBytes } = decodeControlLog(controlBytes);
    if (validBytes < controlBytes.length) await controlFile.truncate(validBytes); // crash reasoning 2
    const logFile = await this.#env.disk.open(`/data/${segmentId}.log`);
    const logBytes = await logFile.read(0, await logFile.size());
    const skipSync = this.#options.acknowledgeBeforeSync === true;
    const segment: Segment = {
      pgId,
      segmentId,
      volumeEpoch: EPOCH_ZERO,
      truncationEpoch: EPOCH_ZERO,
      durableHint: LSN_ZERO,
      truncations: [],
      lost: false,
      records: new Map(),
      completeness: new SegmentCompleteness(LSN_ZERO),
      log: new AppendFile(logFile, 0, { skipSync }),
      control: new AppendFile(controlFile, validBytes),
      truncating: Promise.resolve(),
      hintWriteScheduled: false,
    };
    const pendingRanges: TruncationRange[] = [];
    for (const entry of entries) applyControlEntry(segment, entry, pendingRanges);
    if (!entries.some((entry) => entry.kind === 'created')) {
      if (existed || this.#options.incarnation > 1) {
        segment.lost = true; // crash reasoning 6
        this.#env.log.log('warn', 'segment lost its disk; silent until repaired', { segmentId });
        return segment;
      }
      await this.#appendControl(segment, { kind: 'created' }, true);
    }
    let offset = 0;
    while (offset < logBytes.length) {
      const decoded = tryDecodeRedoRecord(logBytes, offset);
      if (!decoded.ok) break;
      offset += decoded.value.bytesRead;
      if (decoded.value.record.pgId !== pgId) continue;
      segment.records.set(decoded.value.record.lsn, decoded.value.record);
    }
    if (offset < logBytes.length) {
      this.#env.log.log('warn', 'cut log at first bad record', { segmentId, offset, size: logBytes.length });
      await logFile.truncate(offset);
    }
    segment.log = new AppendFile(logFile, offset, { skipSync });
    rebuild(segment);
    return segment;
  }

  #receive(from: NodeId, bytes: Uint8Array): void {
    if (!this.#ready) return; // still replaying its logs: the sender retries
    let message: Message;
    try {
      message = decodeMessageFromBytes(bytes);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'dropped undecodable message', { from, code: error.code });
      return;
    }
    this.#handle(from, message).catch((error: unknown) => this.#diskFailed(error));
  }

  async #handle(from: NodeId, message: Message): Promise<void> {
    switch (message.type) {
      case 'append-batch':
        return this.#append(from, message);
      case 'segment-state-request':
        return this.#state(from, message);
      case 'truncate':
        return this.#truncate(from, message);
      case 'fetch-records':
        return this.#fetch(from, message);
      default:
        this.#env.log.log('warn', 'unexpected message', { from, type: message.type });
    }
  }

  #segment(pgId: PgId, segmentId: SegmentId): Segment | undefined {
    const segment = this.#segments.get(pgId);
    return segment?.segmentId === segmentId && !segment.lost ? segment : undefined;
  }

  #reject(
    to: NodeId,
    segment: Segment,
    requestId: bigint,
    code: ErrorCode,
    message: string,
    epoch = segment.volumeEpoch,
  ): void {
    this.#send(to, {
      type: 'request-rejected',
      requestId,
      pgId: segment.pgId,
      segmentId: segment.segmentId,
      code,
      currentVolumeEpoch: epoch,
      currentMembershipEpoch: EPOCH_ZERO,
      message,
    });
  }

  #send(to: NodeId, message: Message): void {
    this.#env.network.send(to, encodeMessage(message));
  }

  async #append(from: NodeId, message: Extract<Message, { type: 'append-batch' }>): Promise<void> {
    const segment = this.#segment(message.pgId, message.segmentId);
    if (segment === undefined) return;
    if (message.volumeEpoch < segment.volumeEpoch) {
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', 'a newer writer recovered the volume');
      return;
    }
    if (message.volumeEpoch !== segment.truncationEpoch) {
      // Not yet applied this writer's recovery (crash reasoning 5): the writer sees an older epoch in
      // the rejection and sends its truncation ranges.
      const reason = "segment has not applied this epoch's truncation";
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', reason, segment.truncationEpoch);
      return;
    }
    for (const record of message.records) {
      if (isTruncated(record.lsn, segment.truncations))
        throw new AssertionError(`writer of epoch ${message.volumeEpoch} sent annulled LSN ${record.lsn}`);
    }
    const fresh = message.records.filter((record) => !segment.records.has(record.lsn));
    // The records encoded one after another into one buffer (the bytes `encodeRedoRecord` gives each),
    // which is what the log appends: one allocation per batch instead of one per record plus a join.
    const writer = Writer.allocate(fresh.reduce((sum, record) => sum + redoRecordSize(record), 0));
    for (const record of fresh) writeRedoRecord(writer, record);
    const joined = writer.finish();
    if (message.durableHint > segment.durableHint) {
      segment.durableHint = message.durableHint;
      this.#persistHintSoon(segment);
    }
    if (this.#options.acknowledgeBeforeSync) this.#remember(segment, fresh);
    // Crash reasoning 1 and 4: appended in order, one fdatasync for the whole group, then acknowledged.
    await segment.log.append(joined, true);
    if (segment.volumeEpoch !== message.volumeEpoch || segment.truncationEpoch !== message.volumeEpoch)
      return;
    this.#remember(segment, fresh);
    this.#send(from, {
      type: 'append-ack',
      requestId: message.requestId,
      pgId: segment.pgId,
      segmentId: segment.segmentId,
      volumeEpoch: segment.volumeEpoch,
      scl: segment.completeness.scl,
    });
  }

  #remember(segment: Segment, records: readonly RedoRecord[]): void {
    for (const record of records) {
      if (segment.records.has(record.lsn) || isTruncated(record.lsn, segment.truncations)) continue;
      segment.records.set(record.lsn, record);
      segment.completeness.add(record);
    }
  }

  /**
   * Hints are persisted lazily, at most one control write per segment per interval and never synced
   * on their own: a lost hint only makes a later recovery start lower (and read more).
   */
  #persistHintSoon(segment: Segment): void {
    if (segment.hintWriteScheduled) return;
    segment.hintWriteScheduled = true;
    this.#env.clock.setTimer(HINT_PERSIST_INTERVAL_MS, () => {
      segment.hintWriteScheduled = false;
      if (segment.control.failed) return;
      this.#appendControl(segment, { kind: 'hint', durableHint: segment.durableHint }, false).catch(
        (error: unknown) => this.#diskFailed(error),
      );
    });
  }

  #appendControl(segment: Segment, entry: ControlEntry, sync: boolean): Promise<void> {
    return segment.control.append(encodeControlEntry(entry), sync); // crash reasoning 3 when sync
  }

  async #adoptEpoch(segment: Segment, volumeEpoch: Epoch): Promise<void> {
    if (volumeEpoch <= segment.volumeEpoch) return;
    segment.volumeEpoch = volumeEpoch; // fence at once in memory; durable before any reply
    await this.#appendControl(segment, { kind: 'epoch', volumeEpoch }, true);
  }

  async #state(from: NodeId, message: Extract<Message, { type: 'segment-state-request' }>): Promise<void> {
    const segment = this.#segment(message.pgId, message.segmentId);
    if (segment === undefined) return;
    if (message.volumeEpoch < segment.volumeEpoch) {
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', 'a newer recovery has run');
      return;
    }
    await this.#adoptEpoch(segment, message.volumeEpoch);
    if (segment.volumeEpoch !== message.volumeEpoch) return; // an even newer recovery overtook us
    const floor =
      segment.durableHint < segment.completeness.scl ? segment.durableHint : segment.completeness.scl;
    const tail = [...segment.records.values()]
      .filter((record) => record.lsn > floor)
      .sort((a, b) => (a.lsn < b.lsn ? -1 : 1))
      .map((record) => ({ lsn: record.lsn, backlink: record.backlink, cpl: record.cpl }));
    this.#send(from, {
      type: 'segment-state',
      requestId: message.requestId,
      pgId: segment.pgId,
      segmentId: segment.segmentId,
      volumeEpoch: segment.volumeEpoch,
      membershipEpoch: EPOCH_ZERO,
      scl: segment.completeness.scl,
      durableHint: segment.durableHint,
      truncations: segment.truncations,
      tail,
    });
  }

  async #truncate(from: NodeId, message: Extract<Message, { type: 'truncate' }>): Promise<void> {
    const segment = this.#segment(message.pgId, message.segmentId);
    if (segment === undefined) return;
    if (message.volumeEpoch < segment.volumeEpoch) {
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', 'a newer recovery has run');
      return;
    }
    // One truncation at a time per segment, its entries in one append: concurrent or duplicated
    // truncate messages would otherwise interleave their entries and confuse replay.
    const previous = segment.truncating;
    const applying = previous.then(() => this.#applyTruncation(segment, message));
    segment.truncating = applying.catch(() => undefined);
    await applying;
    if (segment.truncationEpoch !== message.volumeEpoch) return; // overtaken by a newer recovery
    this.#send(from, {
      type: 'truncate-ack',
      requestId: message.requestId,
      pgId: segment.pgId,
      segmentId: segment.segmentId,
      volumeEpoch: segment.volumeEpoch,
    });
  }

  async #applyTruncation(segment: Segment, message: Extract<Message, { type: 'truncate' }>): Promise<void> {
    if (segment.truncationEpoch >= message.volumeEpoch || message.volumeEpoch < segment.volumeEpoch) return;
    const entries: ControlEntry[] = [
      ...message.ranges.map((range) => ({ kind: 'truncation', range }) as const),
      { kind: 'truncation-commit', volumeEpoch: message.volumeEpoch, count: message.ranges.length },
    ];
    const bytes = new Uint8Array(entries.length * CONTROL_ENTRY_BYTES);
    for (const [index, entry] of entries.entries())
      bytes.set(encodeControlEntry(entry), index * CONTROL_ENTRY_BYTES);
    // Durable first, then visible (crash reasoning 3 and 5): appends of the new epoch are accepted
    // only once the truncation can no longer be lost.
    await segment.control.append(bytes, true);
    if (message.volumeEpoch < segment.volumeEpoch) return;
    segment.volumeEpoch = message.volumeEpoch;
    segment.truncationEpoch = message.volumeEpoch;
    segment.truncations = [...message.ranges];
    rebuild(segment);
  }

  #fetch(from: NodeId, message: Extract<Message, { type: 'fetch-records' }>): void {
    const segment = this.#segment(message.pgId, message.segmentId);
    if (segment === undefined) return;
    if (message.volumeEpoch < segment.volumeEpoch) {
      this.#reject(from, segment, message.requestId, 'NL_EPOCH_STALE', 'a newer recovery has run');
      return;
    }
    const records = message.lsns
      .map((lsn) => segment.records.get(lsn))
      .filter((record): record is RedoRecord => record !== undefined);
    this.#send(from, {
      type: 'records',
      requestId: message.requestId,
      pgId: segment.pgId,
      segmentId: segment.segmentId,
      records,
    });
  }
}

function applyControlEntry(segment: Segment, entry: ControlEntry, pendingRanges: TruncationRange[]): void {
  switch (entry.kind) {
    case 'epoch':
      if (entry.volumeEpoch > segment.volumeEpoch) segment.volumeEpoch = entry.volumeEpoch;
      return;
    case 'hint':
      if (entry.durableHint > segment.durableHint) segment.durableHint = entry.durableHint;
      return;
    case 'truncation':
      pendingRanges.push(entry.range);
      return;
    case 'truncation-commit':
      if (entry.volumeEpoch < segment.truncationEpoch || entry.count > pendingRanges.length) {
        pendingRanges.length = 0;
        return;
      }
      segment.truncations = pendingRanges.slice(pendingRanges.length - entry.count);
      segment.truncationEpoch = entry.volumeEpoch;
      if (entry.volumeEpoch > segment.volumeEpoch) segment.volumeEpoch = entry.volumeEpoch;
      pendingRanges.length = 0;
      return;
    case 'created':
      return;
  }
}

/** Drops annulled records and recomputes the SCL from scratch (it can go down after a truncation). */
function rebuild(segment: Segment): void {
  for (const lsn of [...segment.records.keys()]) {
    if (isTruncated(lsn, segment.truncations)) segment.records.delete(lsn);
  }
  segment.completeness = new SegmentCompleteness(LSN_ZERO, Number.MAX_SAFE_INTEGER);
  const sorted = [...segment.records.values()].sort((a, b) => (a.lsn < b.lsn ? -1 : 1));
  for (const record of sorted) segment.completeness.add(record);
}
