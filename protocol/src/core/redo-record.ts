/**
 * The redo record, format version 1: the only thing the engine ever writes. A record is the byte-range
 * difference between a page's before- and after-image (or a NOOP that only carries a CPL), stamped
 * with its LSN, the previous LSN of the same PG (the backlink storage uses to find gaps) and the
 * volume epoch of the writer that made it. Every record carries its own CRC32C, so it can be verified
 * wherever it travels: in a frame, in a segment's log on disk, in S3, between gossiping peers.
 *
 * Layout (little-endian; docs/formats.md is the reference):
 *
 *   0  u8  version (= 1)          1  u8  kind (1 = PAGE_DIFF, 2 = NOOP)
 *   2  u8  flags (bit 0 = CPL)    3  u8  reserved (= 0)
 *   4  u32 totalLength (whole record, CRC included)
 *   8  u64 lsn                   16  u64 backlink
 *  24  u64 volumeEpoch           32  u32 pgId
 *  36  u32 pageNo                40  u32 runCount
 *  44  runs: (u32 offset, u32 length, length bytes) × runCount
 *  ..  u32 crc32c of every byte before it
 *
 * The same rules are asserted when encoding (a bad record is a bug in the engine) and checked when
 * decoding (a bad record is bad input): see `redoRecordProblem`.
 */
import { AssertionError, assert } from './assert.js';
import { copyBytes } from './bytes-pool.js';
import { Reader, Writer } from './codec.js';
import { crc32c } from './crc32c.js';
import { fail, NorthlightError, ok, type Result } from './errors.js';
import {
  asEpoch,
  asLsn,
  asPageNo,
  asPgId,
  type Epoch,
  type Lsn,
  type PageNo,
  type PgId,
  U64_MAX,
} from './types.js';

export const REDO_RECORD_FORMAT_VERSION = 1;
/** Pages are at most 64 KiB; a run may not reach past this offset. */
export const MAX_PAGE_SIZE_BYTES = 65_536;
export const REDO_RECORD_HEADER_BYTES = 44;
export const REDO_RECORD_CHECKSUM_BYTES = 4;
/** Offset and length of one diff run. */
export const REDO_RUN_HEADER_BYTES = 8;
export const MIN_REDO_RECORD_BYTES = REDO_RECORD_HEADER_BYTES + REDO_RECORD_CHECKSUM_BYTES;
/** Runs are non-empty and disjoint within one page, so a page holds at most one run per byte. */
export const MAX_RUNS_PER_RECORD = MAX_PAGE_SIZE_BYTES;
/** The largest legal record: one 1-byte run for every byte of a 64 KiB page (589 872 bytes). */
export const MAX_REDO_RECORD_BYTES =
  MIN_REDO_RECORD_BYTES + MAX_RUNS_PER_RECORD * REDO_RUN_HEADER_BYTES + MAX_PAGE_SIZE_BYTES;
/** `diffPages` merges two changed ranges separated by fewer unchanged bytes than this (a run header's size). */
export const DEFAULT_DIFF_MAX_GAP_BYTES = 8;

const KIND_PAGE_DIFF = 1;
const KIND_NOOP = 2;
const FLAG_CPL = 0x01;
const TOTAL_LENGTH_OFFSET = 4;

export type RedoRecordKind = 'page-diff' | 'noop';

/** A changed byte range of a page: `bytes` replace the page's bytes from `offset`. */
export interface DiffRun {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export interface RedoRecord {
  readonly lsn: Lsn;
  /** Previous LSN of the same PG; `LSN_ZERO` for the PG's first record. Always < `lsn`. */
  readonly backlink: Lsn;
  readonly kind: RedoRecordKind;
  /** Consistency point LSN: the last record of a mini-transaction. */
  readonly cpl: boolean;
  readonly volumeEpoch: Epoch;
  readonly pgId: PgId;
  /** The page the runs apply to; 0 for a NOOP. */
  readonly pageNo: PageNo;
  /** Sorted by offset, disjoint, non-empty, within `MAX_PAGE_SIZE_BYTES`; empty for a NOOP. */
  readonly runs: readonly DiffRun[];
}

export interface DecodedRedoRecord {
  readonly record: RedoRecord;
  /** Bytes the record took, i.e. its `totalLength`: the next record (in a log) starts there. */
  readonly bytesRead: number;
}

/** Encoded size of `record` in bytes. */
export function redoRecordSize(record: RedoRecord): number {
  let size = MIN_REDO_RECORD_BYTES;
  for (const run of record.runs) size += REDO_RUN_HEADER_BYTES + run.bytes.length;
  return size;
}

/**
 * The first rule of the format that `record` breaks, in words, or undefined if it is valid. Encoding
 * asserts this is undefined; decoding turns a problem into `NL_DECODE_INVALID`.
 */
export function redoRecordProblem(record: RedoRecord): string | undefined {
  if (typeof record.lsn !== 'bigint' || record.lsn < 1n || record.lsn > U64_MAX)
    return `LSN ${record.lsn} is not in [1, 2^64)`;
  if (typeof record.backlink !== 'bigint' || record.backlink < 0n || record.backlink >= record.lsn) {
    return `backlink ${record.backlink} is not below LSN ${record.lsn}`;
  }
  if (typeof record.volumeEpoch !== 'bigint' || record.volumeEpoch < 0n || record.volumeEpoch > U64_MAX) {
    return `volume epoch ${record.volumeEpoch} is not a u64`;
  }
  if (!isU32(record.pgId)) return `PG id ${record.pgId} is not a u32`;
  if (!isU32(record.pageNo)) return `page number ${record.pageNo} is not a u32`;
  if (typeof record.cpl !== 'boolean') return 'cpl is not a boolean';
  if (record.kind === 'noop') {
    if (record.pageNo !== 0) return `NOOP record has page number ${record.pageNo}, not 0`;
    if (record.runs.length !== 0) return `NOOP record has ${record.runs.length} runs`;
    return undefined;
  }
  if (record.kind !== 'page-diff') return `unknown kind ${JSON.stringify(record.kind)}`;
  return runsProblem(record.runs);
}

function runsProblem(runs: readonly DiffRun[]): string | undefined {
  if (runs.length > MAX_RUNS_PER_RECORD) return `${runs.length} runs exceed ${MAX_RUNS_PER_RECORD}`;
  let previousEnd = 0;
  for (let index = 0; index < runs.length; index++) {
    const run = runs[index]!;
    if (!Number.isInteger(run.offset) || run.offset < 0) return `run ${index} has offset ${run.offset}`;
    if (!(run.bytes instanceof Uint8Array) || run.bytes.length === 0) return `run ${index} is empty`;
    if (run.offset < previousEnd)
      return `run ${index} at offset ${run.offset} overlaps or precedes the previous run`;
    const end = run.offset + run.bytes.length;
    if (end > MAX_PAGE_SIZE_BYTES)
      return `run ${index} ends at ${end}, past the ${MAX_PAGE_SIZE_BYTES}-byte page`;
    previousEnd = end;
  }
  return undefined;
}

function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

export function encodeRedoRecord(record: RedoRecord): Uint8Array {
  const writer = Writer.allocate(redoRecordSize(record));
  writeRedoRecord(writer, record);
  return writer.finish();
}

/**
 * Appends `record` to `writer` (for codecs that embed records, such as message payloads); the writer
 * must have `redoRecordSize(record)` bytes left. Asserts the record is valid.
 */
export function writeRedoRecord(writer: Writer, record: RedoRecord): void {
  const problem = redoRecordProblem(record);
  if (!(problem === undefined)) throw new AssertionError(`encoding an invalid redo record: ${problem}`);
  const start = writer.position;
  const totalLength = redoRecordSize(record);
  writer.u8(REDO_RECORD_FORMAT_VERSION);
  writer.u8(record.kind === 'page-diff' ? KIND_PAGE_DIFF : KIND_NOOP);
  writer.u8(record.cpl ? FLAG_CPL : 0);
  writer.u8(0);
  writer.u32(totalLength);
  writer.u64(record.lsn);
  writer.u64(record.backlink);
  writer.u64(record.volumeEpoch);
  writer.u32(record.pgId);
  writer.u32(record.pageNo);
  writer.u32(record.runs.length);
  for (const run of record.runs) {
    writer.u32(run.offset);
    writer.u32(run.bytes.length);
    writer.bytesRaw(run.bytes);
  }
  writer.u32(crc32c(writer.bytes.subarray(start, writer.position)));
  assert(writer.position - start === totalLength, 'redo record size mismatch');
}

/**
 * Decodes the record that starts at `offset`; bytes after it are left alone (`bytesRead` says where the
 * next one starts). Throws `NorthlightError`: `NL_DECODE_TRUNCATED` when the input ends inside the
 * record, `NL_DECODE_UNKNOWN_VERSION`, `NL_DECODE_CHECKSUM`, or `NL_DECODE_INVALID` for a record whose
 * checksum matches but which breaks a rule of the format.
 */
export function decodeRedoRecord(bytes: Uint8Array, offset = 0): DecodedRedoRecord {
  if (!(Number.isInteger(offset) && offset >= 0 && offset <= bytes.length))
    throw new AssertionError(`offset ${offset} outside input`);
  const available = bytes.length - offset;
  if (available < 1) throw truncated(offset, 1, available);
  // The version comes first, alone: a future version may lay out everything after it differently.
  const version = bytes[offset]!;
  if (version !== REDO_RECORD_FORMAT_VERSION) {
    throw new NorthlightError(
      'NL_DECODE_UNKNOWN_VERSION',
      `redo record version ${version} is not supported`,
      {
        version,
        offset,
      },
    );
  }
  if (available < TOTAL_LENGTH_OFFSET + 4) throw truncated(offset, TOTAL_LENGTH_OFFSET + 4, available);
  const totalLength = readU32(bytes, offset + TOTAL_LENGTH_OFFSET);
  if (totalLength < MIN_REDO_RECORD_BYTES || totalLength > MAX_REDO_RECORD_BYTES) {
    throw new NorthlightError(
      'NL_DECODE_INVALID',
      `redo record length ${totalLength} is outside the legal range`,
      {
        totalLength,
        offset,
      },
    );
  }
  if (available < totalLength) throw truncated(offset, totalLength, available);
  const checksumOffset = totalLength - REDO_RECORD_CHECKSUM_BYTES;
  const storedChecksum = readU32(bytes, offset + checksumOffset);
  const actualChecksum = crc32c(bytes.subarray(offset, offset + checksumOffset));
  if (storedChecksum !== actualChecksum) {
    throw new NorthlightError('NL_DECODE_CHECKSUM', 'redo record CRC32C mismatch', {
      offset,
      storedChecksum,
      actualChecksum,
    });
  }
  const record = parseVerifiedRecord(
    new Reader(bytes, {
      start: offset + 1,
      end: offset + checksumOffset,
      overrunCode: 'NL_DECODE_INVALID',
      context: 'redo record',
    }),
  );
  return { record, bytesRead: totalLength };
}

/** The little-endian u32 at `index` (in bounds): what a `DataView` would read, without making one per record. */
function readU32(bytes: Uint8Array, index: number): number {
  return (
    (bytes[index]! | (bytes[index + 1]! << 8) | (bytes[index + 2]! << 16) | (bytes[index + 3]! << 24)) >>> 0
  );
}

/** Parses a record whose length and checksum are verified; `reader` is past the version byte. */
function parseVerifiedRecord(reader: Reader): RedoRecord {
  const kindCode = reader.u8();
  const flags = reader.u8();
  const reserved = reader.u8();
  reader.skip(4); // totalLength, already checked.
  if (kindCode !== KIND_PAGE_DIFF && kindCode !== KIND_NOOP) throw reader.invalid(`unknown kind ${kindCode}`);
  if ((flags & ~FLAG_CPL) !== 0) throw reader.invalid(`unknown flags 0x${flags.toString(16)}`, { flags });
  if (reserved !== 0) throw reader.invalid(`reserved byte is ${reserved}, not 0`);
  const lsn = asLsn(reader.u64());
  const backlink = asLsn(reader.u64());
  const volumeEpoch = asEpoch(reader.u64());
  const pgId = asPgId(reader.u32());
  const pageNo = asPageNo(reader.u32());
  const runCount = reader.count(REDO_RUN_HEADER_BYTES + 1, 'runCount');
  const runs: DiffRun[] = [];
  for (let index = 0; index < runCount; index++) {
    const runOffset = reader.u32();
    const length = reader.u32();
    runs.push({ offset: runOffset, bytes: reader.bytes(length) });
  }
  reader.expectEnd();
  const record: RedoRecord = {
    lsn,
    backlink,
    kind: kindCode === KIND_PAGE_DIFF ? 'page-diff' : 'noop',
    cpl: (flags & FLAG_CPL) !== 0,
    volumeEpoch,
    pgId,
    pageNo,
    runs,
  };
  const problem = redoRecordProblem(record);
  if (problem !== undefined) throw reader.invalid(problem, { lsn });
  return record;
}

function truncated(offset: number, needed: number, available: number): NorthlightError {
  return new NorthlightError(
    'NL_DECODE_TRUNCATED',
    `redo record at offset ${offset} needs ${needed} bytes but ${available} remain`,
    { offset, needed, available },
  );
}

/** `decodeRedoRecord` for callers that must branch on failure (a log scan stopping at a torn tail). */
export function tryDecodeRedoRecord(bytes: Uint8Array, offset = 0): Result<DecodedRedoRecord> {
  try {
    return ok(decodeRedoRecord(bytes, offset));
  } catch (error) {
    if (error instanceof NorthlightError) return fail(error);
    throw error;
  }
}

export interface DiffOptions {
  /** Two changed ranges separated by fewer unchanged bytes than this become one run. Default 8. */
  readonly maxGapBytes?: number;
}

/**
 * The runs that turn `before` into `after` (two images of the same page). Each run starts and ends on
 * a changed byte; ranges separated by fewer than `maxGapBytes` unchanged bytes are merged, because a
 * run header costs 8 bytes. Identical pages give no runs.
 */
export function diffPages(before: Uint8Array, after: Uint8Array, options: DiffOptions = {}): DiffRun[] {
  const maxGapBytes = options.maxGapBytes ?? DEFAULT_DIFF_MAX_GAP_BYTES;
  if (!(Number.isInteger(maxGapBytes) && maxGapBytes >= 0))
    throw new AssertionError(`bad maxGapBytes: ${maxGapBytes}`);
  if (!(before.length === after.length))
    throw new AssertionError(`page images differ in size: ${before.length} and ${after.length}`);
  if (!(before.length <= MAX_PAGE_SIZE_BYTES))
    throw new AssertionError(`page of ${before.length} bytes exceeds ${MAX_PAGE_SIZE_BYTES}`);
  // A changed byte right after the current run always extends it: gaps are counted between ranges.
  const mergeBelowGapBytes = Math.max(maxGapBytes, 1);
  const runs: DiffRun[] = [];
  let runStart = -1;
  let runEnd = -1;
  for (let index = 0; index < after.length; index++) {
    if (before[index] === after[index]) continue;
    if (runStart >= 0 && index - runEnd < mergeBelowGapBytes) {
      runEnd = index + 1;
      continue;
    }
    if (runStart >= 0) runs.push({ offset: runStart, bytes: copyBytes(after, runStart, runEnd) });
    runStart = index;
    runEnd = index + 1;
  }
  if (runStart >= 0) runs.push({ offset: runStart, bytes: copyBytes(after, runStart, runEnd) });
  return runs;
}

/** A new page: `page` with `runs` written over it. Every run must lie within the page (asserted). */
export function applyRuns(page: Uint8Array, runs: readonly DiffRun[]): Uint8Array {
  const result = page.slice();
  applyRunsInPlace(result, runs);
  return result;
}

/**
 * `runs` written over `page` itself, for a caller that owns the page (materialization applies a
 * page's records one after another to one copy). Every run must lie within the page (asserted, all of
 * them before any byte changes).
 */
export function applyRunsInPlace(page: Uint8Array, runs: readonly DiffRun[]): void {
  for (const run of runs) {
    if (!(Number.isInteger(run.offset) && run.offset >= 0 && run.offset + run.bytes.length <= page.length))
      throw new AssertionError(
        `run [${run.offset}, +${run.bytes.length}) lies outside the ${page.length}-byte page`,
      );
  }
  for (const run of runs) page.set(run.bytes, run.offset);
}
