/**
 * The node's control log: the durable control state of every segment it hosts (epochs, truncation
 * ranges, membership, durable hint, minimum read point, how far its pages are materialized and its
 * log garbage-collected), as CRC'd entries appended to ONE node-wide file, `<data>/control.log`.
 *
 * Why one appended log rather than a checkpoint file per segment (write-temp + fsync + rename +
 * syncDirectory for every change): a fence (epoch) or a truncation must be durable before the reply
 * that lets a writer rely on it, and those come in bursts across many segments during a recovery or a
 * failover; appending lets one fsync cover them all (group commit, as in the node log), where a
 * checkpoint per change would cost two fsyncs and a rename each, and hundreds of segments would mean
 * hundreds of files. The log's growth is bounded by compaction, which IS the checkpoint technique:
 * the whole state is written to `control.log.tmp`, synced, renamed over `control.log`, and the
 * directory synced, after which appends continue in the new file.
 *
 * Entry layout (little-endian): u32 magic 'NLCE' (4E 4C 43 45), u8 kind, u8 0, u16 0, u32 body
 * length, u32 crc32c of the 12 bytes before it and the body, then the body (docs/storage-node.md).
 *
 * Crash reasoning:
 *  C1. Every append is synced before it resolves, and the next group is written only after the previous
 *      group's sync: a reply that depends on an entry (an adopted epoch, a truncation, a created or
 *      dropped segment, materialization and GC progress) waits for it, and at any moment at most one
 *      write of the file is not yet durable. (Hints and minimum read points, which nothing waits for,
 *      are batched node-wide by the caller so they cost one sync per interval, not one per segment.)
 *  C2. Entries are applied by `applyControlEntry`, whose every rule is a max or "newer epoch wins", so
 *      the in-memory state (updated first, for fences) and the replayed state agree whatever order
 *      concurrent updates reached the file in.
 *  C3. By C1 a crash can only lose or tear (keep a sector prefix of) the LAST write: replay stops at the
 *      first entry that fails its CRC, and if nothing valid follows it is that torn tail (never
 *      acknowledged: cut). If valid entries DO follow, a durable entry rotted: we cannot know which
 *      segment lost a fence or a truncation, so the caller silences every segment (a human must look)
 *      rather than serve with a possibly un-fenced epoch or resurrected annulled records.
 *  C5. After a process crash the page cache survives: replay may read an entry whose sync never
 *      completed, and act on it (a fence, a truncation). The file is synced at open, before any reply.
 *  C4. Compaction runs alone in the append queue: every append before it is in the snapshot, none
 *      after it can land in the old file. The snapshot is taken from the live state, which must then be
 *      at least as new as the file: entries applied in memory only after they are durable
 *      (truncations, materialization progress) are therefore applied BY THE LOG when their write is
 *      durable, before the append resolves — otherwise a compaction queued behind an append snapshots
 *      the state before its caller resumed, and drops the entry for good. (Found by the quorum-writer
 *      campaign with materialization, seed 246: a lost `materialized` entry hid the newest image of a
 *      page whose records GC had already dropped.) The rename is durable (directory synced) before any append goes to the new file;
 *      a crash before that leaves the old, complete file under the name. A leftover `.tmp` is removed
 *      at open.
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  assert,
  crc32c,
  type Disk,
  type DiskFile,
  type Epoch,
  isNorthlightError,
  isValidIdentifier,
  type Lsn,
  type NodeId,
  type NorthlightError,
  type PgId,
  Reader,
  type SegmentId,
  type TruncationRange,
  unreachable,
  Writer,
} from '@northlight/protocol';
import type { StorageMetrics } from './metrics.js';

export const CONTROL_LOG_FORMAT_VERSION = 1;
const ENTRY_MAGIC = 0x45434c4e; // 'NLCE' little-endian
const ENTRY_HEADER_BYTES = 16;
/** Bit 0 of a `segment` entry's flags word. */
const SEGMENT_FLAG_SEALED = 1n;
/** Largest body of one entry; a segment's snapshot with its truncation ranges must fit. */
export const CONTROL_ENTRY_BODY_BYTES_MAX = 4 * 1024 * 1024;
/** Truncation ranges a segment keeps at most (every recovery adds one; they are never dropped). */
export const TRUNCATION_RANGES_MAX = 65_536;

/** The durable control state of one segment. */
export interface SegmentControlState {
  /** Node-local number, never reused, that tags the segment's entries in the node log and page store. */
  readonly number: number;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  volumeEpoch: Epoch;
  /** The epoch whose recovery's truncation list this segment durably applied; appends need it current. */
  truncationEpoch: Epoch;
  truncations: readonly TruncationRange[];
  membershipEpoch: Epoch;
  members: readonly SegmentId[];
  /**
   * Where each member lives (`memberNodes[i]` hosts `members[i]`), for gossip; empty when the
   * control plane did not say (the segment then does not gossip).
   */
  memberNodes: readonly NodeId[];
  durableHint: Lsn;
  minReadPoint: Lsn;
  /** Every page holds an image as of this LSN or later: records at or below it are coalesced. */
  materializedThrough: Lsn;
  /** Records at or below this LSN are dropped from the log (≤ materializedThrough). */
  gcThrough: Lsn;
  /** Sealed: refuses appends for good (a migration's cut-over), still serves reads, fetches, gossip. */
  sealed: boolean;
}

export type ControlEntry =
  | { readonly kind: 'node'; readonly formatVersion: number; readonly nextSegmentNumber: number }
  | { readonly kind: 'segment'; readonly state: Readonly<SegmentControlState> }
  | { readonly kind: 'dropped'; readonly number: number }
  | { readonly kind: 'sealed'; readonly number: number }
  | { readonly kind: 'volume-epoch'; readonly number: number; readonly volumeEpoch: Epoch }
  | {
      readonly kind: 'truncation';
      readonly number: number;
      readonly volumeEpoch: Epoch;
      readonly ranges: readonly TruncationRange[];
    }
  | {
      readonly kind: 'membership';
      readonly number: number;
      readonly membershipEpoch: Epoch;
      readonly members: readonly SegmentId[];
      readonly memberNodes: readonly NodeId[];
    }
  | { readonly kind: 'hint'; readonly number: number; readonly durableHint: Lsn }
  | { readonly kind: 'min-read-point'; readonly number: number; readonly minReadPoint: Lsn }
  | {
      readonly kind: 'materialized';
      readonly number: number;
      readonly materializedThrough: Lsn;
      readonly gcThrough: Lsn;
    };

const KIND_CODES = {
  node: 1,
  segment: 2,
  dropped: 3,
  'volume-epoch': 4,
  truncation: 5,
  membership: 6,
  hint: 7,
  'min-read-point': 8,
  materialized: 9,
  sealed: 10,
} as const satisfies Record<ControlEntry['kind'], number>;
const kindByCode = new Map<number, ControlEntry['kind']>(
  Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as ControlEntry['kind']]),
);

/** What replaying the control log yields: the node's segments and the next segment number. */
export interface ControlState {
  nextSegmentNumber: number;
  readonly segments: Map<number, SegmentControlState>;
}

export function emptyControlState(): ControlState {
  return { nextSegmentNumber: 1, segments: new Map() };
}

function maxOf<T extends bigint>(a: T, b: T): T {
  return a > b ? a : b;
}

/** Applies one entry (C2: every rule is a max or a newer-epoch-wins, so order does not matter). */
export function applyControlEntry(state: ControlState, entry: ControlEntry): void {
  if (entry.kind === 'node') {
    state.nextSegmentNumber = Math.max(state.nextSegmentNumber, entry.nextSegmentNumber);
    return;
  }
  if (entry.kind === 'segment') {
    // Never replaces a segment's state object: the live Segment holds it (a `segment` entry of a known
    // number can only be its own creation, applied once by the log and once more by its creator).
    if (!state.segments.has(entry.state.number)) state.segments.set(entry.state.number, { ...entry.state });
    state.nextSegmentNumber = Math.max(state.nextSegmentNumber, entry.state.number + 1);
    return;
  }
  const segment = state.segments.get(entry.number);
  if (segment === undefined) return; // of a dropped segment
  applySegmentEntry(segment, entry);
  if (entry.kind === 'dropped') state.segments.delete(entry.number);
}

/** The part of `applyControlEntry` that changes one segment; the core uses it on live state too. */
export function applySegmentEntry(
  segment: SegmentControlState,
  entry: Exclude<ControlEntry, { kind: 'node' | 'segment' }>,
): void {
  switch (entry.kind) {
    case 'dropped':
      return;
    case 'sealed':
      segment.sealed = true;
      return;
    case 'volume-epoch':
      segment.volumeEpoch = maxOf(segment.volumeEpoch, entry.volumeEpoch);
      return;
    case 'truncation':
      // Authoritative list of the newest recovery (toy crash reasoning 5).
      if (entry.volumeEpoch <= segment.truncationEpoch) return;
      segment.truncationEpoch = entry.volumeEpoch;
      segment.truncations = [...entry.ranges];
      segment.volumeEpoch = maxOf(segment.volumeEpoch, entry.volumeEpoch);
      return;
    case 'membership':
      if (entry.membershipEpoch <= segment.membershipEpoch) return;
      segment.membershipEpoch = entry.membershipEpoch;
      segment.members = [...entry.members];
      segment.memberNodes = [...entry.memberNodes];
      return;
    case 'hint':
      segment.durableHint = maxOf(segment.durableHint, entry.durableHint);
      return;
    case 'min-read-point':
      segment.minReadPoint = maxOf(segment.minReadPoint, entry.minReadPoint);
      return;
    case 'materialized':
      segment.materializedThrough = maxOf(segment.materializedThrough, entry.materializedThrough);
      segment.gcThrough = maxOf(segment.gcThrough, entry.gcThrough);
      return;
    default:
      unreachable(entry);
  }
}

// ---- encoding ----

function writeRanges(writer: Writer, ranges: readonly TruncationRange[]): void {
  writer.u32(ranges.length);
  for (const range of ranges) {
    writer.u64(range.volumeEpoch);
    writer.u64(range.fromExclusive);
    writer.u64(range.toInclusive);
  }
}

function rangesSize(ranges: readonly TruncationRange[]): number {
  return 4 + ranges.length * 24;
}

function membersSize(members: readonly string[]): number {
  return 4 + members.reduce((sum, member) => sum + 2 + member.length, 0);
}

function writeMembers(writer: Writer, members: readonly string[]): void {
  writer.u32(members.length);
  for (const member of members) writer.string(member, 63);
}

function bodySize(entry: ControlEntry): number {
  switch (entry.kind) {
    case 'node':
      return 8;
    case 'segment':
      return (
        4 +
        4 +
        2 +
        entry.state.segmentId.length +
        8 * 8 +
        rangesSize(entry.state.truncations) +
        membersSize(entry.state.members) +
        membersSize(entry.state.memberNodes)
      );
    case 'dropped':
    case 'sealed':
      return 4;
    case 'volume-epoch':
    case 'hint':
    case 'min-read-point':
      return 12;
    case 'truncation':
      return 12 + rangesSize(entry.ranges);
    case 'membership':
      return 12 + membersSize(entry.members) + membersSize(entry.memberNodes);
    case 'materialized':
      return 20;
    default:
      return unreachable(entry);
  }
}

function writeBody(writer: Writer, entry: ControlEntry): void {
  switch (entry.kind) {
    case 'node':
      writer.u32(entry.formatVersion);
      writer.u32(entry.nextSegmentNumber);
      return;
    case 'segment': {
      const state = entry.state;
      writer.u32(state.number);
      writer.u32(state.pgId);
      writer.string(state.segmentId, 63);
      for (const value of [
        state.volumeEpoch,
        state.truncationEpoch,
        state.membershipEpoch,
        state.durableHint,
        state.minReadPoint,
        state.materializedThrough,
        state.gcThrough,
        state.sealed ? SEGMENT_FLAG_SEALED : 0n, // flags (was reserved: 0)
      ])
        writer.u64(value);
      writeRanges(writer, state.truncations);
      writeMembers(writer, state.members);
      writeMembers(writer, state.memberNodes);
      return;
    }
    case 'dropped':
    case 'sealed':
      writer.u32(entry.number);
      return;
    case 'volume-epoch':
      writer.u32(entry.number);
      writer.u64(entry.volumeEpoch);
      return;
    case 'hint':
      writer.u32(entry.number);
      writer.u64(entry.durableHint);
      return;
    case 'min-read-point':
      writer.u32(entry.number);
      writer.u64(entry.minReadPoint);
      return;
    case 'truncation':
      writer.u32(entry.number);
      writer.u64(entry.volumeEpoch);
      writeRanges(writer, entry.ranges);
      return;
    case 'membership':
      writer.u32(entry.number);
      writer.u64(entry.membershipEpoch);
      writeMembers(writer, entry.members);
      writeMembers(writer, entry.memberNodes);
      return;
    case 'materialized':
      writer.u32(entry.number);
      writer.u64(entry.materializedThrough);
      writer.u64(entry.gcThrough);
      return;
    default:
      unreachable(entry);
  }
}

export function encodeControlEntry(entry: ControlEntry): Uint8Array {
  const size = bodySize(entry);
  assert(size <= CONTROL_ENTRY_BODY_BYTES_MAX, `control entry of ${size} bytes`);
  const writer = Writer.allocate(ENTRY_HEADER_BYTES + size);
  writer.u32(ENTRY_MAGIC);
  writer.u8(KIND_CODES[entry.kind]);
  writer.u8(0);
  writer.u16(0);
  writer.u32(size);
  writer.u32(0); // the CRC, filled in below
  writeBody(writer, entry);
  const bytes = writer.finish();
  const crc = crc32c(bytes.subarray(ENTRY_HEADER_BYTES), crc32c(bytes.subarray(0, 12)));
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(12, crc, true);
  return bytes;
}

export function encodeControlEntries(entries: readonly ControlEntry[]): Uint8Array {
  const encoded = entries.map(encodeControlEntry);
  const joined = new Uint8Array(encoded.reduce((sum, bytes) => sum + bytes.length, 0));
  let position = 0;
  for (const bytes of encoded) {
    joined.set(bytes, position);
    position += bytes.length;
  }
  return joined;
}

// ---- decoding ----

function readRanges(reader: Reader): TruncationRange[] {
  const count = reader.count(24, 'truncations');
  const ranges: TruncationRange[] = [];
  for (let index = 0; index < count; index++) {
    const volumeEpoch = asEpoch(reader.u64());
    const fromExclusive = asLsn(reader.u64());
    const toInclusive = asLsn(reader.u64());
    if (fromExclusive >= toInclusive) throw reader.invalid('empty truncation range');
    ranges.push({ volumeEpoch, fromExclusive, toInclusive });
  }
  return ranges;
}

function readMembers(reader: Reader): SegmentId[] {
  const count = reader.count(3, 'members');
  const members: SegmentId[] = [];
  for (let index = 0; index < count; index++) members.push(readSegmentId(reader));
  return members;
}

/** Node ids of the members: none (placement unknown) or one per member. */
function readMemberNodes(reader: Reader, members: readonly SegmentId[]): NodeId[] {
  const count = reader.count(3, 'memberNodes');
  if (count !== 0 && count !== members.length)
    throw reader.invalid(`${count} member nodes for ${members.length} members`);
  const nodes: NodeId[] = [];
  for (let index = 0; index < count; index++) {
    const value = reader.string(63, 'nodeId');
    if (!isValidIdentifier(value)) throw reader.invalid(`bad node id ${JSON.stringify(value)}`);
    nodes.push(asNodeId(value));
  }
  return nodes;
}

function readSegmentId(reader: Reader): SegmentId {
  const value = reader.string(63, 'segmentId');
  if (!isValidIdentifier(value)) throw reader.invalid(`bad segment id ${JSON.stringify(value)}`);
  return asSegmentId(value);
}

function readBody(reader: Reader, kind: ControlEntry['kind']): ControlEntry {
  switch (kind) {
    case 'node':
      return { kind, formatVersion: reader.u32(), nextSegmentNumber: reader.u32() };
    case 'segment': {
      const number = reader.u32();
      const pgId = asPgId(reader.u32());
      const segmentId = readSegmentId(reader);
      const [volumeEpoch, truncationEpoch, membershipEpoch, durableHint, minReadPoint, materialized, gc] =
        Array.from({ length: 7 }, () => reader.u64()) as [
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
        ];
      const flags = reader.u64();
      if ((flags & ~SEGMENT_FLAG_SEALED) !== 0n) throw reader.invalid(`unknown segment flags ${flags}`);
      const truncations = readRanges(reader);
      const members = readMembers(reader);
      const memberNodes = readMemberNodes(reader, members);
      return {
        kind,
        state: {
          number,
          pgId,
          segmentId,
          volumeEpoch: asEpoch(volumeEpoch),
          truncationEpoch: asEpoch(truncationEpoch),
          truncations,
          membershipEpoch: asEpoch(membershipEpoch),
          members,
          memberNodes,
          durableHint: asLsn(durableHint),
          minReadPoint: asLsn(minReadPoint),
          materializedThrough: asLsn(materialized),
          gcThrough: asLsn(gc),
          sealed: (flags & SEGMENT_FLAG_SEALED) !== 0n,
        },
      };
    }
    case 'dropped':
    case 'sealed':
      return { kind, number: reader.u32() };
    case 'volume-epoch':
      return { kind, number: reader.u32(), volumeEpoch: asEpoch(reader.u64()) };
    case 'hint':
      return { kind, number: reader.u32(), durableHint: asLsn(reader.u64()) };
    case 'min-read-point':
      return { kind, number: reader.u32(), minReadPoint: asLsn(reader.u64()) };
    case 'truncation':
      return { kind, number: reader.u32(), volumeEpoch: asEpoch(reader.u64()), ranges: readRanges(reader) };
    case 'membership': {
      const number = reader.u32();
      const membershipEpoch = asEpoch(reader.u64());
      const members = readMembers(reader);
      return { kind, number, membershipEpoch, members, memberNodes: readMemberNodes(reader, members) };
    }
    case 'materialized':
      return {
        kind,
        number: reader.u32(),
        materializedThrough: asLsn(reader.u64()),
        gcThrough: asLsn(reader.u64()),
      };
    default:
      return unreachable(kind);
  }
}

/** The entry at `offset` and its size, or undefined if it is not a whole, valid entry. */
function tryDecodeControlEntry(
  bytes: Uint8Array,
  offset: number,
): { entry: ControlEntry; size: number } | undefined {
  if (offset + ENTRY_HEADER_BYTES > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, ENTRY_HEADER_BYTES);
  if (view.getUint32(0, true) !== ENTRY_MAGIC) return undefined;
  const kind = kindByCode.get(view.getUint8(4));
  if (kind === undefined || view.getUint8(5) !== 0 || view.getUint16(6, true) !== 0) return undefined;
  const size = view.getUint32(8, true);
  if (size > CONTROL_ENTRY_BODY_BYTES_MAX || offset + ENTRY_HEADER_BYTES + size > bytes.length)
    return undefined;
  const body = bytes.subarray(offset + ENTRY_HEADER_BYTES, offset + ENTRY_HEADER_BYTES + size);
  if (crc32c(body, crc32c(bytes.subarray(offset, offset + 12))) !== view.getUint32(12, true))
    return undefined;
  try {
    const reader = new Reader(body, { overrunCode: 'NL_DECODE_INVALID', context: `control ${kind} entry` });
    const entry = readBody(reader, kind);
    reader.expectEnd();
    return { entry, size: ENTRY_HEADER_BYTES + size };
  } catch (error) {
    if (isNorthlightError(error)) return undefined;
    throw error;
  }
}

export interface ControlLogScan {
  readonly entries: ControlEntry[];
  readonly validBytes: number;
  /** C3: an entry failed its CRC and valid entries follow it. */
  readonly damagedInTheMiddle: boolean;
}

export function scanControlLog(bytes: Uint8Array): ControlLogScan {
  const entries: ControlEntry[] = [];
  let offset = 0;
  for (;;) {
    const decoded = tryDecodeControlEntry(bytes, offset);
    if (decoded === undefined) break;
    entries.push(decoded.entry);
    offset += decoded.size;
  }
  let damagedInTheMiddle = false;
  for (let probe = offset + 1; probe + ENTRY_HEADER_BYTES <= bytes.length; probe++) {
    if (bytes[probe] === 0x4e && tryDecodeControlEntry(bytes, probe) !== undefined) {
      damagedInTheMiddle = true;
      break;
    }
  }
  return { entries, validBytes: offset, damagedInTheMiddle };
}

// ---- the file ----

type Operation =
  | {
      readonly kind: 'append';
      readonly entries: readonly ControlEntry[];
      readonly bytes: Uint8Array;
      readonly resolve: () => void;
      readonly reject: (error: NorthlightError) => void;
    }
  | {
      readonly kind: 'compact';
      readonly snapshot: () => ControlEntry[];
      readonly resolve: () => void;
      readonly reject: (error: NorthlightError) => void;
    };

/** Appends and compactions, one at a time in order; queued appends share one write and one sync (C1). */
export class ControlLog {
  readonly #disk: Disk;
  readonly #path: string;
  readonly #directory: string;
  readonly #metrics: StorageMetrics;
  #file: DiskFile;
  #end: number;
  /** The live state: every durable entry is applied to it before its append resolves (C4). */
  readonly #state: ControlState;
  #queue: Operation[] = [];
  #running: Promise<void> | undefined;
  #failure: NorthlightError | undefined;

  private constructor(
    disk: Disk,
    directory: string,
    file: DiskFile,
    end: number,
    state: ControlState,
    metrics: StorageMetrics,
  ) {
    this.#state = state;
    this.#disk = disk;
    this.#directory = directory;
    this.#path = `${directory}/control.log`;
    this.#file = file;
    this.#end = end;
    this.#metrics = metrics;
  }

  /**
   * Opens (or creates) the control log and replays it. A new file starts with a synced `node` entry.
   * Returns the replayed state and whether an entry in the middle was damaged (C3).
   */
  static async open(
    disk: Disk,
    directory: string,
    metrics: StorageMetrics,
  ): Promise<{ controlLog: ControlLog; state: ControlState; damagedInTheMiddle: boolean; cutBytes: number }> {
    const path = `${directory}/control.log`;
    if (await disk.exists(`${path}.tmp`)) await disk.remove(`${path}.tmp`); // C4
    const existed = await disk.exists(path);
    const file = await disk.open(path);
    const bytes = await file.read(0, await file.size());
    const scan = scanControlLog(bytes);
    const state = emptyControlState();
    for (const entry of scan.entries) applyControlEntry(state, entry);
    const controlLog = new ControlLog(disk, directory, file, scan.validBytes, state, metrics);
    if (!existed || scan.validBytes === 0) {
      await controlLog.append([nodeEntry(state)]);
    } else {
      if (scan.validBytes < bytes.length && !scan.damagedInTheMiddle) await file.truncate(scan.validBytes); // C3: cut the torn tail so appends follow a valid entry
      // C5: what a crashed process left unsynced in the page cache is now relied on: make it durable.
      await file.sync();
      metrics.fsync('control');
    }
    return {
      controlLog,
      state,
      damagedInTheMiddle: scan.damagedInTheMiddle,
      cutBytes: bytes.length - scan.validBytes,
    };
  }

  get sizeBytes(): number {
    return this.#end;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Appends `entries` and resolves once they are durable (C1). */
  append(entries: readonly ControlEntry[]): Promise<void> {
    return this.#enqueue((resolve, reject) => ({
      kind: 'append',
      entries,
      bytes: encodeControlEntries(entries),
      resolve,
      reject,
    }));
  }

  /** Rewrites the log as `snapshot()` (taken when the compaction runs, C4). */
  compact(snapshot: () => ControlEntry[]): Promise<void> {
    return this.#enqueue((resolve, reject) => ({ kind: 'compact', snapshot, resolve, reject }));
  }

  #enqueue(
    make: (resolve: () => void, reject: (error: NorthlightError) => void) => Operation,
  ): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#queue.push(make(resolve, reject));
      if (this.#running === undefined) this.#running = this.#run();
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const first = this.#queue[0]!;
      const group: Operation[] = first.kind === 'compact' ? this.#queue.splice(0, 1) : this.#takeAppends();
      try {
        if (first.kind === 'compact') await this.#compact(first.snapshot());
        else await this.#writeAppends(group as Extract<Operation, { kind: 'append' }>[]);
      } catch (error) {
        if (!isNorthlightError(error)) throw error;
        this.#failure = error;
        for (const operation of [...group, ...this.#queue]) operation.reject(error);
        this.#queue = [];
        break;
      }
      for (const operation of group) {
        // C4: the live state holds every durable entry before anything else runs, so a compaction
        // queued right behind this append snapshots it even though its caller has not resumed yet.
        if (operation.kind === 'append')
          for (const entry of operation.entries) applyControlEntry(this.#state, entry);
        operation.resolve();
      }
    }
    this.#running = undefined;
  }

  #takeAppends(): Operation[] {
    const end = this.#queue.findIndex((operation) => operation.kind !== 'append');
    return this.#queue.splice(0, end === -1 ? this.#queue.length : end);
  }

  async #writeAppends(group: readonly Extract<Operation, { kind: 'append' }>[]): Promise<void> {
    const size = group.reduce((sum, operation) => sum + operation.bytes.length, 0);
    const joined = new Uint8Array(size);
    let position = 0;
    for (const operation of group) {
      joined.set(operation.bytes, position);
      position += operation.bytes.length;
    }
    await this.#file.write(this.#end, joined);
    this.#end += size;
    await this.#file.sync(); // C1
    this.#metrics.fsync('control');
  }

  async #compact(entries: readonly ControlEntry[]): Promise<void> {
    const temporaryPath = `${this.#path}.tmp`;
    const bytes = encodeControlEntries(entries);
    const temporary = await this.#disk.open(temporaryPath);
    await temporary.truncate(0);
    await temporary.write(0, bytes);
    await temporary.sync();
    this.#metrics.fsync('control');
    await this.#disk.rename(temporaryPath, this.#path);
    await this.#disk.syncDirectory(this.#directory); // C4: durable before the next append
    const old = this.#file;
    this.#file = temporary;
    this.#end = bytes.length;
    await old.close();
  }

  async close(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
    await this.#file.close();
  }
}

export function nodeEntry(state: ControlState): ControlEntry {
  return {
    kind: 'node',
    formatVersion: CONTROL_LOG_FORMAT_VERSION,
    nextSegmentNumber: state.nextSegmentNumber,
  };
}

/** The whole state as entries: what a compaction writes. */
export function snapshotEntries(state: ControlState): ControlEntry[] {
  return [
    nodeEntry(state),
    ...[...state.segments.values()].map((segment) => ({ kind: 'segment', state: segment }) as const),
  ];
}

export function isDiskError(error: unknown): error is NorthlightError {
  return isNorthlightError(error, 'NL_DISK_IO');
}
