/**
 * The message catalog, version 1: what travels inside frames between engine and storage (appends,
 * recovery's segment-state, truncate and fetch-records exchanges, page reads at a read point and the
 * PG's minimum read point), between writer and replicas (the redo stream and feedback), and between the
 * storage nodes of a protection group (gossip to fill gaps). Each message is one frame; `encodeMessage`
 * returns the whole frame and `decodeMessage` reads a frame that `FrameDecoder` (or `decodeFrame`) has
 * already verified.
 *
 * Payloads are little-endian. Strings are a u16 byte length then UTF-8; arrays are a u32 count then the
 * elements, and the count is checked against the bytes left before anything is allocated. Embedded redo
 * records keep their own length and CRC, so a storage node can write them to its log unchanged. Every
 * payload must be consumed exactly: trailing bytes are NL_DECODE_INVALID. docs/formats.md has every
 * layout.
 *
 * The same rules (valid ids, ascending LSNs, records of the batch's PG, non-empty truncation ranges,
 * capped strings and counts) are asserted on encode and checked on decode: see `messageProblem`.
 */
import { AssertionError, assert, unreachable } from './assert.js';
import { isWellFormedUnicode, Reader, utf8ByteLength, Writer } from './codec.js';
import { type ErrorCode, NorthlightError } from './errors.js';
import { decodeFrame, FRAME_HEADER_BYTES, type Frame, type FrameOptions, sealFrame } from './frame.js';
import { packedRecordsSize, readPackedRecords, writePackedRecords } from './packed-records.js';
import type { TruncationRange } from './recovery.js';
import {
  decodeRedoRecord,
  MAX_PAGE_SIZE_BYTES,
  MIN_REDO_RECORD_BYTES,
  type RedoRecord,
  redoRecordProblem,
  redoRecordSize,
  writeRedoRecord,
} from './redo-record.js';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  type Epoch,
  isValidIdentifier,
  type Lsn,
  type NodeId,
  type PageNo,
  type PgId,
  type SegmentId,
  U64_MAX,
} from './types.js';

/** Node and segment ids match `[a-z0-9][a-z0-9._-]{0,62}`, so they are ASCII and at most 63 bytes. */
export const MAX_IDENTIFIER_BYTES = 63;
/** The human-readable text of a request-rejected message; longer text is cut by `fitUtf8`. */
export const MAX_REJECTION_MESSAGE_BYTES = 1024;
/** The most LSNs one fetch-records message may ask for. */
export const MAX_FETCH_LSNS = 65_536;

/**
 * Wire numbers of the message types. Append-only: a number is never reused or renumbered. An
 * `append-batch` whose records are packed travels as `APPEND_BATCH_PACKED_CODE` instead of 1.
 */
export const MESSAGE_TYPE_CODES = {
  'append-batch': 1,
  'append-ack': 2,
  'request-rejected': 3,
  'segment-state-request': 4,
  'segment-state': 5,
  truncate: 6,
  'truncate-ack': 7,
  'redo-stream': 8,
  'replica-feedback': 9,
  'fetch-records': 10,
  records: 11,
  'read-page': 12,
  page: 13,
  'min-read-point': 14,
  'gossip-pull': 15,
  'gossip-records': 16,
} as const;

/** The wire number of an `append-batch` with `packed: true`. */
export const APPEND_BATCH_PACKED_CODE = 17;

export type MessageType = keyof typeof MESSAGE_TYPE_CODES;
export const messageTypes = Object.keys(MESSAGE_TYPE_CODES) as MessageType[];

/**
 * Error codes as they travel in request-rejected: the u16 on the wire is the index in this table.
 * FIXED AND APPEND-ONLY: never reorder, remove or insert in the middle — a peer built from an older
 * table would read a different code. A new catalog code is appended at the end (a test checks every
 * catalog code is here exactly once and that the released prefix is unchanged).
 */
export const ERROR_CODE_WIRE_TABLE = [
  'NL_DECODE_TRUNCATED',
  'NL_DECODE_CHECKSUM',
  'NL_DECODE_UNKNOWN_VERSION',
  'NL_DECODE_FRAME_TOO_LARGE',
  'NL_DECODE_INVALID',
  'NL_QUORUM_LOST',
  'NL_EPOCH_STALE',
  'NL_MEMBERSHIP_STALE',
  'NL_LSN_ALLOCATION_LIMIT',
  'NL_DISK_IO',
  'NL_OBJECT_STORE_UNAVAILABLE',
  'NL_NETWORK_UNREACHABLE',
  'NL_TIMEOUT',
  'NL_CONFIG_INVALID',
  'NL_REQUEST_INVALID',
  'NL_METADATA_CONFLICT',
  'NL_METADATA_CORRUPT',
  'NL_METADATA_UNAVAILABLE',
  'NL_SEGMENT_BUSY',
  'NL_AUTH_FAILED',
] as const satisfies readonly ErrorCode[];

const wireIndexOfErrorCode = new Map<ErrorCode, number>(
  ERROR_CODE_WIRE_TABLE.map((code, index) => [code, index]),
);
assert(wireIndexOfErrorCode.size === ERROR_CODE_WIRE_TABLE.length, 'error code wire table has a duplicate');
assert(ERROR_CODE_WIRE_TABLE.length <= 0x1_0000, 'error code wire table outgrew its u16 index');

/** Engine → storage: records of one PG for one of its segments. */
export interface AppendBatchMessage {
  readonly type: 'append-batch';
  readonly requestId: bigint;
  readonly volumeEpoch: Epoch;
  readonly membershipEpoch: Epoch;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  /** The writer's current VDL, so storage learns what is durable (for GC and gossip). */
  readonly durableHint: Lsn;
  /** All of PG `pgId`, in strictly ascending LSN order. */
  readonly records: readonly RedoRecord[];
  /**
   * True: the records travel packed (wire type 17, packed-records.ts), about a fifth of the bytes of
   * complete version-1 records; the engine always packs. Absent or false: complete records (type 1).
   */
  readonly packed?: boolean;
}

/** Storage → engine: the batch is durable; the segment's SCL is now `scl`. */
export interface AppendAckMessage {
  readonly type: 'append-ack';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
  readonly scl: Lsn;
}

/** Storage → engine: the request was refused (stale epoch, stale membership…); nothing was applied. */
export interface RequestRejectedMessage {
  readonly type: 'request-rejected';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly code: ErrorCode;
  /** The epochs the segment holds, so a fenced or out-of-date sender learns why. */
  readonly currentVolumeEpoch: Epoch;
  readonly currentMembershipEpoch: Epoch;
  /** Human-readable detail, at most `MAX_REJECTION_MESSAGE_BYTES` of UTF-8. */
  readonly message: string;
}

/** Recovery → storage: report what the segment holds. */
export interface SegmentStateRequestMessage {
  readonly type: 'segment-state-request';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
}

/**
 * One record a segment holds above min(durableHint, scl), as recovery needs to see it: every such
 * record is reported, so that a record held behind a local gap is still reported to recovery.
 */
export interface TailEntry {
  readonly lsn: Lsn;
  readonly backlink: Lsn;
  readonly cpl: boolean;
}

/**
 * Storage → recovery: the segment's state: its truncation ranges, and every record the segment holds
 * above min(durableHint, scl), so that a record held behind a local gap is still reported to recovery.
 */
export interface SegmentStateMessage {
  readonly type: 'segment-state';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
  readonly membershipEpoch: Epoch;
  readonly scl: Lsn;
  readonly durableHint: Lsn;
  /** The truncation ranges of earlier recoveries the segment holds; each non-empty. */
  readonly truncations: readonly TruncationRange[];
  /**
   * Every record the segment holds above min(durableHint, scl), strictly ascending by LSN, so that a
   * record held behind a local gap is still reported to recovery.
   */
  readonly tail: readonly TailEntry[];
}

/**
 * Recovery → storage: durably drop the records in `ranges`, keep the ranges, and adopt the new
 * `volumeEpoch`.
 */
export interface TruncateMessage {
  readonly type: 'truncate';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  /** The new volume epoch; from now on the segment rejects anything older. */
  readonly volumeEpoch: Epoch;
  /**
   * The new epoch's truncation range plus every earlier range the writer learned, so a segment that
   * missed an earlier recovery drops annulled records before accepting new ones. At least one; each
   * non-empty and of an epoch ≤ `volumeEpoch`.
   */
  readonly ranges: readonly TruncationRange[];
}

export interface TruncateAckMessage {
  readonly type: 'truncate-ack';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
}

/** Writer → replica: records in strictly ascending LSN order, and the writer's VDL. */
export interface RedoStreamMessage {
  readonly type: 'redo-stream';
  readonly volumeEpoch: Epoch;
  readonly vdl: Lsn;
  readonly records: readonly RedoRecord[];
}

/** Replica → writer: how far the replica has applied, and the oldest read point it still serves. */
export interface ReplicaFeedbackMessage {
  readonly type: 'replica-feedback';
  readonly replicaId: NodeId;
  readonly appliedLsn: Lsn;
  readonly minReadPoint: Lsn;
}

/** Recovery → storage: send back the records the segment holds at these LSNs. */
export interface FetchRecordsMessage {
  readonly type: 'fetch-records';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
  /** Strictly ascending; at least one, at most `MAX_FETCH_LSNS`. */
  readonly lsns: readonly Lsn[];
}

/** Storage → recovery: the reply to fetch-records, with the requested records the segment holds. */
export interface RecordsMessage {
  readonly type: 'records';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  /** All of PG `pgId`, in strictly ascending LSN order; may be empty. */
  readonly records: readonly RedoRecord[];
}

/**
 * Engine → storage: the page as of `readPoint` (a VDL the reader holds). The segment serves it only if
 * PGMRPL ≤ readPoint ≤ its SCL; otherwise it answers request-rejected.
 */
export interface ReadPageMessage {
  readonly type: 'read-page';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
  /** Page number in the volume (the storage node checks it lies in `pgId`). */
  readonly pageNo: PageNo;
  readonly readPoint: Lsn;
}

/** Storage → engine: the reply to read-page, the whole page image as of `readPoint`. */
export interface PageMessage {
  readonly type: 'page';
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly pageNo: PageNo;
  readonly readPoint: Lsn;
  /** The page: 1 to `MAX_PAGE_SIZE_BYTES` bytes (the volume's page size). */
  readonly bytes: Uint8Array;
}

/**
 * Writer → storage: the PG's minimum read point (PGMRPL) over the writer and its replicas. No read at a
 * lower read point will come, so the segment may coalesce and garbage-collect below it. One-way: there
 * is no reply, and a lower value than the segment already holds changes nothing.
 */
export interface MinReadPointMessage {
  readonly type: 'min-read-point';
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly volumeEpoch: Epoch;
  readonly minReadPoint: Lsn;
}

/**
 * Storage → storage (gossip, paper §3.3 step 4): segment `fromSegmentId` of PG `pgId`, complete
 * through `scl`, asks its peer segment `segmentId` for the records it holds above `scl`.
 */
export interface GossipPullMessage {
  readonly type: 'gossip-pull';
  readonly requestId: bigint;
  readonly pgId: PgId;
  /** The peer segment asked. */
  readonly segmentId: SegmentId;
  /** The asking segment: the reply is addressed to it. */
  readonly fromSegmentId: SegmentId;
  /** The asker's truncation epoch: records are exchanged only between segments of the same one. */
  readonly truncationEpoch: Epoch;
  /** The asker's SCL: it wants records above it. */
  readonly scl: Lsn;
  /** The most record bytes the asker wants in the reply (u32, ≥ 1). */
  readonly maxBytes: number;
}

/** Storage → storage: the reply to gossip-pull. */
export interface GossipRecordsMessage {
  readonly type: 'gossip-records';
  readonly requestId: bigint;
  readonly pgId: PgId;
  /** The asking segment (the one the records are for). */
  readonly segmentId: SegmentId;
  /** The segment that sends them. */
  readonly fromSegmentId: SegmentId;
  /** The sender's truncation epoch, SCL, and GC point (records at or below it are gone from its log). */
  readonly truncationEpoch: Epoch;
  readonly scl: Lsn;
  readonly gcThrough: Lsn;
  /** All of PG `pgId`, strictly ascending LSN; may be empty. */
  readonly records: readonly RedoRecord[];
}

export type Message =
  | AppendBatchMessage
  | AppendAckMessage
  | RequestRejectedMessage
  | SegmentStateRequestMessage
  | SegmentStateMessage
  | TruncateMessage
  | TruncateAckMessage
  | RedoStreamMessage
  | ReplicaFeedbackMessage
  | FetchRecordsMessage
  | RecordsMessage
  | ReadPageMessage
  | PageMessage
  | MinReadPointMessage
  | GossipPullMessage
  | GossipRecordsMessage;

const U64_BYTES = 8;
const U32_BYTES = 4;
const U16_BYTES = 2;
const TAIL_ENTRY_BYTES = U64_BYTES + U64_BYTES + 1;
const TRUNCATION_RANGE_BYTES = 3 * U64_BYTES;
const TAIL_FLAG_CPL = 0x01;

/** Encoded size of a u16-prefixed identifier (ids are ASCII, checked by `messageProblem`). */
function identifierSize(value: string): number {
  return U16_BYTES + value.length;
}

function recordsSize(records: readonly RedoRecord[]): number {
  let size = U32_BYTES;
  for (const record of records) size += redoRecordSize(record);
  return size;
}

/** Size of the payload of `message`, i.e. the frame minus its 16-byte header. */
function payloadSize(message: Message): number {
  switch (message.type) {
    case 'append-batch':
      return (
        4 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        (message.packed === true ? packedRecordsSize(message.records, message) : recordsSize(message.records))
      );
    case 'append-ack':
      return 3 * U64_BYTES + U32_BYTES + identifierSize(message.segmentId);
    case 'request-rejected':
      return (
        3 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        U16_BYTES +
        U16_BYTES +
        utf8ByteLength(message.message)
      );
    case 'segment-state-request':
    case 'truncate-ack':
      return 2 * U64_BYTES + U32_BYTES + identifierSize(message.segmentId);
    case 'segment-state':
      return (
        5 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        truncationsSize(message.truncations) +
        U32_BYTES +
        message.tail.length * TAIL_ENTRY_BYTES
      );
    case 'truncate':
      return 2 * U64_BYTES + U32_BYTES + identifierSize(message.segmentId) + truncationsSize(message.ranges);
    case 'redo-stream':
      return 2 * U64_BYTES + recordsSize(message.records);
    case 'replica-feedback':
      return identifierSize(message.replicaId) + 2 * U64_BYTES;
    case 'fetch-records':
      return (
        2 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        U32_BYTES +
        message.lsns.length * U64_BYTES
      );
    case 'records':
      return U64_BYTES + U32_BYTES + identifierSize(message.segmentId) + recordsSize(message.records);
    case 'read-page':
      return 3 * U64_BYTES + 2 * U32_BYTES + identifierSize(message.segmentId);
    case 'page':
      return 2 * U64_BYTES + 3 * U32_BYTES + identifierSize(message.segmentId) + message.bytes.length;
    case 'min-read-point':
      return U32_BYTES + identifierSize(message.segmentId) + 2 * U64_BYTES;
    case 'gossip-pull':
      return (
        3 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        identifierSize(message.fromSegmentId) +
        U32_BYTES
      );
    case 'gossip-records':
      return (
        4 * U64_BYTES +
        U32_BYTES +
        identifierSize(message.segmentId) +
        identifierSize(message.fromSegmentId) +
        recordsSize(message.records)
      );
    default:
      return unreachable(message);
  }
}

function truncationsSize(ranges: readonly TruncationRange[]): number {
  return U32_BYTES + ranges.length * TRUNCATION_RANGE_BYTES;
}

/** Size of the whole frame `encodeMessage` produces, for callers filling a batch up to a frame limit. */
export function messageFrameSize(message: Message): number {
  return FRAME_HEADER_BYTES + payloadSize(message);
}

/**
 * The first rule `message` breaks, in words, or undefined. Encoding asserts this is undefined;
 * decoding turns a problem into NL_DECODE_INVALID. (Ranges of u64 fields are checked by the writer.)
 */
export function messageProblem(message: Message): string | undefined {
  switch (message.type) {
    case 'append-batch':
      return (
        (message.packed === undefined || typeof message.packed === 'boolean'
          ? undefined
          : 'packed is not a boolean') ??
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        recordsProblem(message.records, message.pgId)
      );
    case 'append-ack':
    case 'segment-state-request':
    case 'truncate-ack':
      return requestIdProblem(message.requestId) ?? identifierProblem('segmentId', message.segmentId);
    case 'request-rejected':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        (wireIndexOfErrorCode.has(message.code)
          ? undefined
          : `unknown error code ${JSON.stringify(message.code)}`) ??
        rejectionTextProblem(message.message)
      );
    case 'segment-state':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        truncationsProblem('truncation', message.truncations, undefined) ??
        tailProblem(message.tail, message.durableHint < message.scl ? message.durableHint : message.scl)
      );
    case 'truncate':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        (message.ranges.length > 0 ? undefined : 'truncate carries no range') ??
        truncationsProblem('truncate range', message.ranges, message.volumeEpoch)
      );
    case 'redo-stream':
      return recordsProblem(message.records, undefined);
    case 'replica-feedback':
      return identifierProblem('replicaId', message.replicaId);
    case 'fetch-records':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        fetchLsnsProblem(message.lsns)
      );
    case 'records':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        recordsProblem(message.records, message.pgId)
      );
    case 'read-page':
      return requestIdProblem(message.requestId) ?? identifierProblem('segmentId', message.segmentId);
    case 'page':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        pageBytesProblem(message.bytes)
      );
    case 'min-read-point':
      return identifierProblem('segmentId', message.segmentId);
    case 'gossip-pull':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        identifierProblem('fromSegmentId', message.fromSegmentId) ??
        maxBytesProblem(message.maxBytes)
      );
    case 'gossip-records':
      return (
        requestIdProblem(message.requestId) ??
        identifierProblem('segmentId', message.segmentId) ??
        identifierProblem('fromSegmentId', message.fromSegmentId) ??
        recordsProblem(message.records, message.pgId)
      );
    default:
      return unreachable(message);
  }
}

/** A page image: 1 to `MAX_PAGE_SIZE_BYTES` bytes. */
function pageBytesProblem(bytes: Uint8Array): string | undefined {
  if (!(bytes instanceof Uint8Array)) return 'page bytes are not a Uint8Array';
  return bytes.length >= 1 && bytes.length <= MAX_PAGE_SIZE_BYTES
    ? undefined
    : `page of ${bytes.length} bytes is not in [1, ${MAX_PAGE_SIZE_BYTES}]`;
}

/** A gossip-pull's reply budget: a u32 of at least one byte. */
function maxBytesProblem(maxBytes: number): string | undefined {
  return Number.isInteger(maxBytes) && maxBytes >= 1 && maxBytes <= 0xffff_ffff
    ? undefined
    : `maxBytes ${maxBytes} is not in [1, ${0xffff_ffff}]`;
}

function requestIdProblem(requestId: bigint): string | undefined {
  return typeof requestId === 'bigint' && requestId >= 0n && requestId <= U64_MAX
    ? undefined
    : `request id ${requestId} is not a u64`;
}

function identifierProblem(field: string, value: string): string | undefined {
  return typeof value === 'string' && isValidIdentifier(value)
    ? undefined
    : `${field} ${JSON.stringify(value)} is not a valid identifier`;
}

function rejectionTextProblem(text: string): string | undefined {
  if (typeof text !== 'string' || !isWellFormedUnicode(text))
    return 'rejection message is not well-formed text';
  const length = utf8ByteLength(text);
  return length <= MAX_REJECTION_MESSAGE_BYTES
    ? undefined
    : `rejection message of ${length} bytes exceeds ${MAX_REJECTION_MESSAGE_BYTES}`;
}

/** Records in strictly ascending LSN order, all of `pgId` when given. */
function recordsProblem(records: readonly RedoRecord[], pgId: PgId | undefined): string | undefined {
  let previous = 0n;
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!;
    const problem = redoRecordProblem(record);
    if (problem !== undefined) return `record ${index}: ${problem}`;
    if (pgId !== undefined && record.pgId !== pgId)
      return `record ${index} is of PG ${record.pgId}, not ${pgId}`;
    if (record.lsn <= previous) return `record ${index} has LSN ${record.lsn}, not above ${previous}`;
    previous = record.lsn;
  }
  return undefined;
}

/** Each range non-empty and, when `maxEpoch` is given, of an epoch no newer than it. */
function truncationsProblem(
  what: string,
  ranges: readonly TruncationRange[],
  maxEpoch: Epoch | undefined,
): string | undefined {
  for (let index = 0; index < ranges.length; index++) {
    const range = ranges[index]!;
    if (range.fromExclusive >= range.toInclusive)
      return `${what} ${index} (${range.fromExclusive}, ${range.toInclusive}] is empty`;
    if (maxEpoch !== undefined && range.volumeEpoch > maxEpoch)
      return `${what} ${index} has epoch ${range.volumeEpoch}, above the message's ${maxEpoch}`;
  }
  return undefined;
}

/** Strictly ascending LSNs (so all ≥ 1); at least one, at most `MAX_FETCH_LSNS`. */
function fetchLsnsProblem(lsns: readonly Lsn[]): string | undefined {
  if (lsns.length === 0) return 'fetch-records asks for no LSN';
  if (lsns.length > MAX_FETCH_LSNS)
    return `fetch-records asks for ${lsns.length} LSNs, over ${MAX_FETCH_LSNS}`;
  let previous = 0n;
  for (let index = 0; index < lsns.length; index++) {
    const lsn = lsns[index]!;
    if (lsn <= previous) return `fetched LSN ${index} is ${lsn}, not above ${previous}`;
    previous = lsn;
  }
  return undefined;
}

/** Strictly ascending, every LSN above `floor` = min(durableHint, scl), each backlink below its LSN. */
function tailProblem(tail: readonly TailEntry[], floor: Lsn): string | undefined {
  let previous: bigint = floor;
  for (let index = 0; index < tail.length; index++) {
    const entry = tail[index]!;
    if (entry.lsn <= previous) return `tail entry ${index} has LSN ${entry.lsn}, not above ${previous}`;
    if (entry.backlink >= entry.lsn)
      return `tail entry ${index} has backlink ${entry.backlink} not below its LSN`;
    if (typeof entry.cpl !== 'boolean') return `tail entry ${index} has a non-boolean cpl`;
    previous = entry.lsn;
  }
  return undefined;
}

/** Encodes `message` as one whole frame. Asserts it is valid and fits `maxFrameBytes`. */
export function encodeMessage(message: Message, options: FrameOptions = {}): Uint8Array {
  const problem = messageProblem(message);
  if (!(problem === undefined))
    throw new AssertionError(`encoding an invalid ${message.type} message: ${problem}`);
  const writer = Writer.allocate(messageFrameSize(message));
  writer.bytesRaw(new Uint8Array(FRAME_HEADER_BYTES)); // Filled in by sealFrame.
  writePayload(writer, message);
  const frame = writer.finish();
  const code =
    message.type === 'append-batch' && message.packed === true
      ? APPEND_BATCH_PACKED_CODE
      : MESSAGE_TYPE_CODES[message.type];
  sealFrame(frame, code, options);
  return frame;
}

function writePayload(writer: Writer, message: Message): void {
  switch (message.type) {
    case 'append-batch':
      writer.u64(message.requestId);
      writer.u64(message.volumeEpoch);
      writer.u64(message.membershipEpoch);
      writer.u32(message.pgId);
      writer.string(message.segmentId, MAX_IDENTIFIER_BYTES);
      writer.u64(message.durableHint);
      if (message.packed === true) writePackedRecords(writer, message.records, message);
      else writeRecords(writer, message.records);
      return;
    case 'append-ack':
      writeAddress(writer, message);
      writer.u64(message.volumeEpoch);
      writer.u64(message.scl);
      return;
    case 'request-rejected':
      writeAddress(writer, message);
      writer.u16(wireIndexOfErrorCode.get(message.code)!);
      writer.u64(message.currentVolumeEpoch);
      writer.u64(message.currentMembershipEpoch);
      writer.string(message.message, MAX_REJECTION_MESSAGE_BYTES);
      return;
    case 'segment-state-request':
    case 'truncate-ack':
      writeAddress(writer, message);
      writer.u64(message.volumeEpoch);
      return;
    case 'segment-state':
      writeSegmentState(writer, message);
      return;
    case 'truncate':
      writeAddress(writer, message);
      writer.u64(message.volumeEpoch);
      writeTruncations(writer, message.ranges);
      return;
    case 'redo-stream':
      writer.u64(message.volumeEpoch);
      writer.u64(message.vdl);
      writeRecords(writer, message.records);
      return;
    case 'replica-feedback':
      writer.string(message.replicaId, MAX_IDENTIFIER_BYTES);
      writer.u64(message.appliedLsn);
      writer.u64(message.minReadPoint);
      return;
    case 'fetch-records':
      writeAddress(writer, message);
      writer.u64(message.volumeEpoch);
      writer.u32(message.lsns.length);
      for (const lsn of message.lsns) writer.u64(lsn);
      return;
    case 'records':
      writeAddress(writer, message);
      writeRecords(writer, message.records);
      return;
    case 'read-page':
      writeAddress(writer, message);
      writer.u64(message.volumeEpoch);
      writer.u32(message.pageNo);
      writer.u64(message.readPoint);
      return;
    case 'page':
      writeAddress(writer, message);
      writer.u32(message.pageNo);
      writer.u64(message.readPoint);
      writer.u32(message.bytes.length);
      writer.bytesRaw(message.bytes);
      return;
    case 'min-read-point':
      writer.u32(message.pgId);
      writer.string(message.segmentId, MAX_IDENTIFIER_BYTES);
      writer.u64(message.volumeEpoch);
      writer.u64(message.minReadPoint);
      return;
    case 'gossip-pull':
      writeAddress(writer, message);
      writer.string(message.fromSegmentId, MAX_IDENTIFIER_BYTES);
      writer.u64(message.truncationEpoch);
      writer.u64(message.scl);
      writer.u32(message.maxBytes);
      return;
    case 'gossip-records':
      writeAddress(writer, message);
      writer.string(message.fromSegmentId, MAX_IDENTIFIER_BYTES);
      writer.u64(message.truncationEpoch);
      writer.u64(message.scl);
      writer.u64(message.gcThrough);
      writeRecords(writer, message.records);
      return;
    default:
      unreachable(message);
  }
}

/** The request id, PG and segment that open every request and reply addressed to one segment. */
interface Address {
  readonly requestId: bigint;
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
}

function writeAddress(writer: Writer, address: Address): void {
  writer.u64(address.requestId);
  writer.u32(address.pgId);
  writer.string(address.segmentId, MAX_IDENTIFIER_BYTES);
}

function writeRecords(writer: Writer, records: readonly RedoRecord[]): void {
  writer.u32(records.length);
  for (const record of records) writeRedoRecord(writer, record);
}

function writeTruncations(writer: Writer, ranges: readonly TruncationRange[]): void {
  writer.u32(ranges.length);
  for (const range of ranges) {
    writer.u64(range.volumeEpoch);
    writer.u64(range.fromExclusive);
    writer.u64(range.toInclusive);
  }
}

function writeSegmentState(writer: Writer, message: SegmentStateMessage): void {
  writeAddress(writer, message);
  writer.u64(message.volumeEpoch);
  writer.u64(message.membershipEpoch);
  writer.u64(message.scl);
  writer.u64(message.durableHint);
  writeTruncations(writer, message.truncations);
  writer.u32(message.tail.length);
  for (const entry of message.tail) {
    writer.u64(entry.lsn);
    writer.u64(entry.backlink);
    writer.u8(entry.cpl ? TAIL_FLAG_CPL : 0);
  }
}

const messageTypeByCode = new Map<number, MessageType>(
  messageTypes.map((type) => [MESSAGE_TYPE_CODES[type], type]),
);

/**
 * Decodes the message in a verified frame. Throws `NorthlightError`: NL_DECODE_INVALID for an unknown
 * message type, a payload that is too short or too long for its fields, a bad id or string, or a
 * message that breaks a rule; NL_DECODE_CHECKSUM (or another record code) for a bad embedded record.
 */
export function decodeMessage(frame: Frame): Message {
  const packed = frame.messageType === APPEND_BATCH_PACKED_CODE;
  const type = packed ? 'append-batch' : messageTypeByCode.get(frame.messageType);
  if (type === undefined) {
    throw new NorthlightError('NL_DECODE_INVALID', `unknown message type ${frame.messageType}`, {
      messageType: frame.messageType,
    });
  }
  // The frame's length and checksum are verified, so running out of payload is a sender bug.
  const reader = new Reader(frame.payload, { overrunCode: 'NL_DECODE_INVALID', context: `${type} payload` });
  const message = packed ? readAppendBatch(reader, true) : readPayload(reader, type);
  reader.expectEnd();
  const problem = messageProblem(message);
  if (problem !== undefined) throw reader.invalid(problem, { messageType: frame.messageType });
  return message;
}

/** Decodes a buffer holding exactly one whole frame (no more, no less) and the message in it. */
export function decodeMessageFromBytes(bytes: Uint8Array, options: FrameOptions = {}): Message {
  const { frame, bytesRead } = decodeFrame(bytes, 0, options);
  if (bytesRead !== bytes.length) {
    throw new NorthlightError('NL_DECODE_INVALID', `${bytes.length - bytesRead} bytes after the frame`, {
      trailingBytes: bytes.length - bytesRead,
    });
  }
  return decodeMessage(frame);
}

function readPayload(reader: Reader, type: MessageType): Message {
  switch (type) {
    case 'append-batch':
      return readAppendBatch(reader, false);
    case 'append-ack': {
      const address = readAddress(reader);
      return { type, ...address, volumeEpoch: asEpoch(reader.u64()), scl: asLsn(reader.u64()) };
    }
    case 'request-rejected':
      return readRequestRejected(reader);
    case 'segment-state-request':
    case 'truncate-ack': {
      const address = readAddress(reader);
      return { type, ...address, volumeEpoch: asEpoch(reader.u64()) };
    }
    case 'segment-state':
      return readSegmentState(reader);
    case 'truncate': {
      const address = readAddress(reader);
      const volumeEpoch = asEpoch(reader.u64());
      return { type, ...address, volumeEpoch, ranges: readTruncations(reader, 'ranges') };
    }
    case 'redo-stream': {
      const volumeEpoch = asEpoch(reader.u64());
      const vdl = asLsn(reader.u64());
      return { type, volumeEpoch, vdl, records: readRecords(reader) };
    }
    case 'replica-feedback': {
      const replicaId = asNodeId(readIdentifier(reader, 'replicaId'));
      return { type, replicaId, appliedLsn: asLsn(reader.u64()), minReadPoint: asLsn(reader.u64()) };
    }
    case 'fetch-records':
      return readFetchRecords(reader);
    case 'records': {
      const address = readAddress(reader);
      return { type, ...address, records: readRecords(reader) };
    }
    case 'read-page': {
      const address = readAddress(reader);
      const volumeEpoch = asEpoch(reader.u64());
      const pageNo = asPageNo(reader.u32());
      return { type, ...address, volumeEpoch, pageNo, readPoint: asLsn(reader.u64()) };
    }
    case 'page':
      return readPage(reader);
    case 'min-read-point': {
      const pgId = asPgId(reader.u32());
      const segmentId = asSegmentId(readIdentifier(reader, 'segmentId'));
      const volumeEpoch = asEpoch(reader.u64());
      return { type, pgId, segmentId, volumeEpoch, minReadPoint: asLsn(reader.u64()) };
    }
    case 'gossip-pull': {
      const address = readAddress(reader);
      const fromSegmentId = asSegmentId(readIdentifier(reader, 'fromSegmentId'));
      const truncationEpoch = asEpoch(reader.u64());
      const scl = asLsn(reader.u64());
      return { type, ...address, fromSegmentId, truncationEpoch, scl, maxBytes: reader.u32() };
    }
    case 'gossip-records':
      return readGossipRecords(reader);
    default:
      return unreachable(type);
  }
}

function readIdentifier(reader: Reader, field: string): string {
  const value = reader.string(MAX_IDENTIFIER_BYTES, field);
  if (!isValidIdentifier(value))
    throw reader.invalid(`${field} ${JSON.stringify(value)} is not a valid identifier`);
  return value;
}

function readAddress(reader: Reader): Address {
  const requestId = reader.u64();
  const pgId = asPgId(reader.u32());
  const segmentId = asSegmentId(readIdentifier(reader, 'segmentId'));
  return { requestId, pgId, segmentId };
}

function readRequestRejected(reader: Reader): RequestRejectedMessage {
  const address = readAddress(reader);
  const codeIndex = reader.u16();
  const code = ERROR_CODE_WIRE_TABLE[codeIndex];
  if (code === undefined) throw reader.invalid(`unknown error code index ${codeIndex}`, { codeIndex });
  const currentVolumeEpoch = asEpoch(reader.u64());
  const currentMembershipEpoch = asEpoch(reader.u64());
  const message = reader.string(MAX_REJECTION_MESSAGE_BYTES, 'message');
  return { type: 'request-rejected', ...address, code, currentVolumeEpoch, currentMembershipEpoch, message };
}

function readSegmentState(reader: Reader): SegmentStateMessage {
  const address = readAddress(reader);
  const volumeEpoch = asEpoch(reader.u64());
  const membershipEpoch = asEpoch(reader.u64());
  const scl = asLsn(reader.u64());
  const durableHint = asLsn(reader.u64());
  const truncations = readTruncations(reader, 'truncations');
  const count = reader.count(TAIL_ENTRY_BYTES, 'tail');
  const tail: TailEntry[] = [];
  for (let index = 0; index < count; index++) {
    const lsn = asLsn(reader.u64());
    const backlink = asLsn(reader.u64());
    const flags = reader.u8();
    if ((flags & ~TAIL_FLAG_CPL) !== 0)
      throw reader.invalid(`tail entry ${index} has unknown flags ${flags}`);
    tail.push({ lsn, backlink, cpl: flags === TAIL_FLAG_CPL });
  }
  return {
    type: 'segment-state',
    ...address,
    volumeEpoch,
    membershipEpoch,
    scl,
    durableHint,
    truncations,
    tail,
  };
}

function readTruncations(reader: Reader, field: string): TruncationRange[] {
  const count = reader.count(TRUNCATION_RANGE_BYTES, field);
  const ranges: TruncationRange[] = [];
  for (let index = 0; index < count; index++) {
    const volumeEpoch = asEpoch(reader.u64());
    const fromExclusive = asLsn(reader.u64());
    const toInclusive = asLsn(reader.u64());
    ranges.push({ volumeEpoch, fromExclusive, toInclusive });
  }
  return ranges;
}

/** The page length is checked against the page limit before its bytes are read (and copied). */
function readPage(reader: Reader): PageMessage {
  const address = readAddress(reader);
  const pageNo = asPageNo(reader.u32());
  const readPoint = asLsn(reader.u64());
  const length = reader.u32();
  if (length < 1 || length > MAX_PAGE_SIZE_BYTES)
    throw reader.invalid(`page of ${length} bytes is not in [1, ${MAX_PAGE_SIZE_BYTES}]`, { length });
  return { type: 'page', ...address, pageNo, readPoint, bytes: reader.bytes(length) };
}

function readFetchRecords(reader: Reader): FetchRecordsMessage {
  const address = readAddress(reader);
  const volumeEpoch = asEpoch(reader.u64());
  const count = reader.count(U64_BYTES, 'lsns');
  if (count > MAX_FETCH_LSNS)
    throw reader.invalid(`fetch-records asks for ${count} LSNs, over ${MAX_FETCH_LSNS}`, { count });
  const lsns: Lsn[] = [];
  for (let index = 0; index < count; index++) lsns.push(asLsn(reader.u64()));
  return { type: 'fetch-records', ...address, volumeEpoch, lsns };
}

function readAppendBatch(reader: Reader, packed: boolean): AppendBatchMessage {
  const requestId = reader.u64();
  const volumeEpoch = asEpoch(reader.u64());
  const membershipEpoch = asEpoch(reader.u64());
  const pgId = asPgId(reader.u32());
  const segmentId = asSegmentId(readIdentifier(reader, 'segmentId'));
  const durableHint = asLsn(reader.u64());
  const fields = { requestId, volumeEpoch, membershipEpoch, pgId, segmentId, durableHint };
  if (!packed) return { type: 'append-batch', ...fields, records: readRecords(reader) };
  return {
    type: 'append-batch',
    ...fields,
    records: readPackedRecords(reader, { pgId, volumeEpoch }),
    packed,
  };
}

function readGossipRecords(reader: Reader): GossipRecordsMessage {
  const address = readAddress(reader);
  const fromSegmentId = asSegmentId(readIdentifier(reader, 'fromSegmentId'));
  const truncationEpoch = asEpoch(reader.u64());
  const scl = asLsn(reader.u64());
  const gcThrough = asLsn(reader.u64());
  const records = readRecords(reader);
  return { type: 'gossip-records', ...address, fromSegmentId, truncationEpoch, scl, gcThrough, records };
}

/**
 * Reads a count-prefixed list of embedded records. A record that runs past the payload is the sender's
 * bug (the frame is complete), so NL_DECODE_TRUNCATED from the record decoder becomes NL_DECODE_INVALID.
 */
function readRecords(reader: Reader): RedoRecord[] {
  const count = reader.count(MIN_REDO_RECORD_BYTES, 'records');
  const records: RedoRecord[] = [];
  for (let index = 0; index < count; index++) {
    try {
      const { record, bytesRead } = decodeRedoRecord(reader.remainingBytes());
      reader.skip(bytesRead);
      records.push(record);
    } catch (error) {
      if (!(error instanceof NorthlightError)) throw error;
      const code = error.code === 'NL_DECODE_TRUNCATED' ? 'NL_DECODE_INVALID' : error.code;
      const detail = error.message.startsWith(`${error.code}: `)
        ? error.message.slice(error.code.length + 2)
        : error.message;
      throw new NorthlightError(code, `${reader.context}: record ${index}: ${detail} (${error.code})`, {
        ...error.details,
        recordIndex: index,
      });
    }
  }
  return records;
}
