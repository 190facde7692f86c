/**
 * Packed redo records: how an append-batch carries its records on the wire when the sender packs them
 * (message type 17, `append-batch` with `packed: true`). The engine sends every batch packed, because
 * the network bytes per transaction are the figure the design exists to cut (paper §3.2): a version-1
 * record spends 48 bytes of header and CRC and 8 bytes per run, often more than the change it carries.
 *
 * A packed record drops what the batch already says or what the previous record implies:
 *  - no PG id (every record of a batch is of the batch's PG) and no volume epoch unless it differs from
 *    the batch's (records re-replicated by recovery keep their own);
 *  - LSNs as the distance from the previous record of the batch (the first from 0), backlinks as the
 *    distance below the record's own LSN, run offsets as the gap after the previous run's end, all as
 *    LEB128 varints;
 *  - no per-record length or CRC: the frame's CRC32C covers the whole payload. A storage node turns
 *    each record back into a complete version-1 record, with its own CRC, before it reaches the log.
 *
 * Layout of the list (docs/formats.md is the reference):
 *
 *   varint count, then per record:
 *     u8 flags: bits 0-1 kind (1 = PAGE_DIFF, 2 = NOOP), bit 2 CPL, bit 3 own epoch; others 0
 *     varint lsnDelta (≥ 1)           varint backlinkDistance (lsn − backlink, ≥ 1)
 *     [varint volumeEpoch, if bit 3; never equal to the batch's]
 *     PAGE_DIFF only: varint pageNo, varint runCount, then per run: varint gap, varint length (≥ 1),
 *     `length` bytes
 *
 * Every value has exactly one encoding (shortest varints, the epoch only when it differs), so a decoded
 * list re-encodes to the same bytes. Decoding checks the same rules as a version-1 record
 * (`redoRecordProblem`) and throws NL_DECODE_INVALID for anything else.
 */
import { AssertionError } from './assert.js';
import { type Reader, uvarint64Size, uvarintSize, type Writer } from './codec.js';
import {
  type DiffRun,
  MAX_PAGE_SIZE_BYTES,
  MAX_RUNS_PER_RECORD,
  type RedoRecord,
  redoRecordProblem,
} from './redo-record.js';
import { asEpoch, asLsn, asPageNo, type Epoch, type PgId, U64_MAX } from './types.js';

/** What every record of a packed list shares with its batch. */
export interface PackedRecordsBase {
  readonly pgId: PgId;
  readonly volumeEpoch: Epoch;
}

const KIND_PAGE_DIFF = 1;
const KIND_NOOP = 2;
const KIND_MASK = 0x03;
const FLAG_CPL = 0x04;
const FLAG_OWN_EPOCH = 0x08;
const KNOWN_FLAGS = KIND_MASK | FLAG_CPL | FLAG_OWN_EPOCH;
/** Flags, LSN delta and backlink distance take a byte each at least. */
const MIN_PACKED_RECORD_BYTES = 3;
/** Gap, length and one byte of data. */
const MIN_PACKED_RUN_BYTES = 3;
const U32_MAX = 0xffff_ffff;

/** Encoded size of `records` packed against `base`, count included. */
export function packedRecordsSize(records: readonly RedoRecord[], base: PackedRecordsBase): number {
  let size = uvarintSize(records.length);
  let previous = 0n;
  for (const record of records) {
    size += 1 + uvarint64Size(record.lsn - previous) + uvarint64Size(record.lsn - record.backlink);
    if (record.volumeEpoch !== base.volumeEpoch) size += uvarint64Size(record.volumeEpoch);
    if (record.kind === 'page-diff') {
      size += uvarintSize(record.pageNo) + uvarintSize(record.runs.length);
      let previousEnd = 0;
      for (const run of record.runs) {
        size += uvarintSize(run.offset - previousEnd) + uvarintSize(run.bytes.length) + run.bytes.length;
        previousEnd = run.offset + run.bytes.length;
      }
    }
    previous = record.lsn;
  }
  return size;
}

/**
 * Writes `records` packed. Asserts what the format cannot express: records of another PG, LSNs not
 * strictly ascending, or a record that breaks a rule of the version-1 format.
 */
export function writePackedRecords(
  writer: Writer,
  records: readonly RedoRecord[],
  base: PackedRecordsBase,
): void {
  writer.uvarint(records.length);
  let previous = 0n;
  for (const record of records) {
    const problem = redoRecordProblem(record);
    if (!(problem === undefined)) throw new AssertionError(`packing an invalid redo record: ${problem}`);
    if (!(record.pgId === base.pgId))
      throw new AssertionError(`packing a record of PG ${record.pgId} in a batch of PG ${base.pgId}`);
    if (!(record.lsn > previous)) throw new AssertionError(`packing LSN ${record.lsn} after ${previous}`);
    const ownEpoch = record.volumeEpoch !== base.volumeEpoch;
    writer.u8(
      (record.kind === 'page-diff' ? KIND_PAGE_DIFF : KIND_NOOP) |
        (record.cpl ? FLAG_CPL : 0) |
        (ownEpoch ? FLAG_OWN_EPOCH : 0),
    );
    writer.uvarint64(record.lsn - previous);
    writer.uvarint64(record.lsn - record.backlink);
    if (ownEpoch) writer.uvarint64(record.volumeEpoch);
    if (record.kind === 'page-diff') {
      writer.uvarint(record.pageNo);
      writer.uvarint(record.runs.length);
      let previousEnd = 0;
      for (const run of record.runs) {
        writer.uvarint(run.offset - previousEnd);
        writer.uvarint(run.bytes.length);
        writer.bytesRaw(run.bytes);
        previousEnd = run.offset + run.bytes.length;
      }
    }
    previous = record.lsn;
  }
}

/**
 * Reads a packed list written against `base`. `reader` reads a verified frame's payload, so running
 * out of bytes is NL_DECODE_INVALID like every other broken rule; counts are checked against the bytes
 * left before anything is allocated.
 */
export function readPackedRecords(reader: Reader, base: PackedRecordsBase): RedoRecord[] {
  const count = reader.uvarint('records', Math.floor(reader.remaining / MIN_PACKED_RECORD_BYTES));
  const records: RedoRecord[] = [];
  let previous = 0n;
  for (let index = 0; index < count; index++) {
    const flags = reader.u8();
    if ((flags & ~KNOWN_FLAGS) !== 0)
      throw reader.invalid(`record ${index} has unknown flags 0x${flags.toString(16)}`, { flags });
    const kindCode = flags & KIND_MASK;
    if (kindCode !== KIND_PAGE_DIFF && kindCode !== KIND_NOOP)
      throw reader.invalid(`record ${index} has unknown kind ${kindCode}`);
    const delta = reader.uvarint64('lsnDelta');
    if (delta === 0n) throw reader.invalid(`record ${index} repeats LSN ${previous}`);
    const lsn = previous + delta;
    if (lsn > U64_MAX) throw reader.invalid(`record ${index} has an LSN past 2^64 - 1`);
    const distance = reader.uvarint64('backlinkDistance');
    if (distance === 0n || distance > lsn)
      throw reader.invalid(`record ${index} has backlink distance ${distance} from LSN ${lsn}`);
    let volumeEpoch = base.volumeEpoch;
    if ((flags & FLAG_OWN_EPOCH) !== 0) {
      volumeEpoch = asEpoch(reader.uvarint64('volumeEpoch'));
      if (volumeEpoch === base.volumeEpoch)
        throw reader.invalid(`record ${index} repeats the batch's epoch ${volumeEpoch} as its own`);
    }
    let pageNo = 0;
    const runs: DiffRun[] = [];
    if (kindCode === KIND_PAGE_DIFF) {
      pageNo = reader.uvarint('pageNo', U32_MAX);
      const runCount = reader.uvarint(
        'runCount',
        Math.min(MAX_RUNS_PER_RECORD, Math.floor(reader.remaining / MIN_PACKED_RUN_BYTES)),
      );
      let previousEnd = 0;
      for (let runIndex = 0; runIndex < runCount; runIndex++) {
        const offset = previousEnd + reader.uvarint('run gap', MAX_PAGE_SIZE_BYTES);
        const length = reader.uvarint('run length', MAX_PAGE_SIZE_BYTES);
        if (length === 0) throw reader.invalid(`record ${index} run ${runIndex} is empty`);
        runs.push({ offset, bytes: reader.bytes(length) });
        previousEnd = offset + length;
      }
    }
    const record: RedoRecord = {
      lsn: asLsn(lsn),
      backlink: asLsn(lsn - distance),
      kind: kindCode === KIND_PAGE_DIFF ? 'page-diff' : 'noop',
      cpl: (flags & FLAG_CPL) !== 0,
      volumeEpoch,
      pgId: base.pgId,
      pageNo: asPageNo(pageNo),
      runs,
    };
    const problem = redoRecordProblem(record);
    if (problem !== undefined)
      throw reader.invalid(`record ${index}: ${problem}`, { lsn, recordIndex: index });
    records.push(record);
    previous = lsn;
  }
  return records;
}
