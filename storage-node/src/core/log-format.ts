/**
 * Byte layout of the node log (docs/storage-node.md has the tables): a sequence of files, each a
 * 32-byte header, then entries, then preallocated zeros. Every entry carries the node-local number of
 * the segment it belongs to and a CRC32C over its header and payload; the payload is one complete
 * version-1 redo record, stored exactly as it travelled (it keeps its own CRC too).
 *
 *   file header (32 bytes)                 entry (8-byte aligned)
 *    0 u32 magic 'NLLF' (4E 4C 4C 46)        0 u32 magic 'NLLE' (4E 4C 4C 45)
 *    4 u16 format version (1)                4 u8  kind (1 = redo record)
 *    6 u16 reserved (0)                      5 u8  reserved (0)   6 u16 reserved (0)
 *    8 u64 file sequence number              8 u32 segment number (node-local)
 *   16 u32 reserved ×3 (0)                  12 u32 payload length
 *   28 u32 crc32c of bytes 0…27             16 u32 reserved (0)
 *                                           20 u32 crc32c of bytes 0…19 and the payload
 *                                           24 payload, then zeros up to the next multiple of 8
 *
 * Preallocated space is zeros, and no entry starts with a zero byte (its magic), so a scan tells
 * "never written" from "an entry" at the first byte. A torn or rotten entry fails its CRC; `scanLogFile`
 * then looks ahead for the next valid entry to tell a torn tail (nothing valid follows: the log ends
 * there) from damage in the middle (valid entries follow: the bad bytes are skipped and reported).
 */
import { assert, crc32c, MAX_REDO_RECORD_BYTES } from '@northlight/protocol';

export const LOG_FORMAT_VERSION = 1;
export const LOG_FILE_HEADER_BYTES = 32;
export const LOG_ENTRY_HEADER_BYTES = 24;
export const LOG_ENTRY_ALIGNMENT_BYTES = 8;
export const LOG_ENTRY_KIND_REDO_RECORD = 1;

const FILE_MAGIC = 0x464c4c4e; // 'NLLF' little-endian
const ENTRY_MAGIC = 0x454c4c4e; // 'NLLE' little-endian

/** Where an entry lives: its file, the offset of its header, and its size on disk (padding included). */
export interface LogLocation {
  readonly fileSequence: number;
  readonly offset: number;
  readonly entryBytes: number;
}

export function alignedEntryBytes(payloadLength: number): number {
  const raw = LOG_ENTRY_HEADER_BYTES + payloadLength;
  return Math.ceil(raw / LOG_ENTRY_ALIGNMENT_BYTES) * LOG_ENTRY_ALIGNMENT_BYTES;
}

export function encodeLogFileHeader(fileSequence: number): Uint8Array {
  const bytes = new Uint8Array(LOG_FILE_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, FILE_MAGIC, true);
  view.setUint16(4, LOG_FORMAT_VERSION, true);
  view.setBigUint64(8, BigInt(fileSequence), true);
  view.setUint32(28, crc32c(bytes.subarray(0, 28)), true);
  return bytes;
}

/** The file's sequence number if its header is valid, else undefined. */
export function decodeLogFileHeader(bytes: Uint8Array): number | undefined {
  if (bytes.length < LOG_FILE_HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, LOG_FILE_HEADER_BYTES);
  if (view.getUint32(0, true) !== FILE_MAGIC) return undefined;
  if (view.getUint32(28, true) !== crc32c(bytes.subarray(0, 28))) return undefined;
  if (view.getUint16(4, true) !== LOG_FORMAT_VERSION) return undefined;
  return Number(view.getBigUint64(8, true));
}

/** Writes one entry at `offset` of `target` (which must have room for `alignedEntryBytes`). */
export function writeLogEntry(
  target: Uint8Array,
  offset: number,
  segmentNumber: number,
  payload: Uint8Array,
): number {
  assert(payload.length > 0 && payload.length <= MAX_REDO_RECORD_BYTES, 'log entry payload size');
  const size = alignedEntryBytes(payload.length);
  assert(offset + size <= target.length, 'log entry overruns its buffer');
  const view = new DataView(target.buffer, target.byteOffset + offset, LOG_ENTRY_HEADER_BYTES);
  view.setUint32(0, ENTRY_MAGIC, true);
  view.setUint8(4, LOG_ENTRY_KIND_REDO_RECORD);
  view.setUint32(8, segmentNumber, true);
  view.setUint32(12, payload.length, true);
  target.set(payload, offset + LOG_ENTRY_HEADER_BYTES);
  const header = target.subarray(offset, offset + 20);
  view.setUint32(20, crc32c(payload, crc32c(header)), true);
  target.fill(0, offset + LOG_ENTRY_HEADER_BYTES + payload.length, offset + size);
  return size;
}

export interface DecodedLogEntry {
  readonly segmentNumber: number;
  /** A view into the scanned bytes: copy it before keeping it. */
  readonly payload: Uint8Array;
  readonly entryBytes: number;
}

/** The entry at `offset` if it is whole and its CRC matches, else undefined. */
export function tryDecodeLogEntry(bytes: Uint8Array, offset: number): DecodedLogEntry | undefined {
  if (offset + LOG_ENTRY_HEADER_BYTES > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, LOG_ENTRY_HEADER_BYTES);
  if (view.getUint32(0, true) !== ENTRY_MAGIC) return undefined;
  if (view.getUint8(4) !== LOG_ENTRY_KIND_REDO_RECORD || view.getUint8(5) !== 0) return undefined;
  if (view.getUint16(6, true) !== 0 || view.getUint32(16, true) !== 0) return undefined;
  const payloadLength = view.getUint32(12, true);
  if (payloadLength === 0 || payloadLength > MAX_REDO_RECORD_BYTES) return undefined;
  const entryBytes = alignedEntryBytes(payloadLength);
  if (offset + entryBytes > bytes.length) return undefined;
  const payloadStart = offset + LOG_ENTRY_HEADER_BYTES;
  const payload = bytes.subarray(payloadStart, payloadStart + payloadLength);
  const crc = crc32c(payload, crc32c(bytes.subarray(offset, offset + 20)));
  if (crc !== view.getUint32(20, true)) return undefined;
  return { segmentNumber: view.getUint32(8, true), payload, entryBytes };
}

export interface ScannedEntry extends DecodedLogEntry {
  readonly offset: number;
}

/** Bytes between two valid entries that are not an entry: rot on the medium (N2). */
export interface SkippedRegion {
  readonly offset: number;
  readonly length: number;
}

export interface LogFileScan {
  readonly headerValid: boolean;
  readonly entries: ScannedEntry[];
  readonly skipped: SkippedRegion[];
  /** One past the last valid entry: everything after it is a torn tail or preallocated zeros. */
  readonly validEnd: number;
}

/**
 * Scans a whole log file. Crash reasoning (numbers continue the node's list in storage-node-core.ts):
 *  N1. A file is written one group at a time, and a group's write is issued only after the previous
 *      group's sync resolved (node-log.ts N3), so after a crash a file holds a durable prefix of valid
 *      entries followed by at most a lost or torn (sector-prefix) last write, then zeros (the writes
 *      of preallocation steps in flight meanwhile hold only zeros, past every entry): the scan
 *      stops at the first invalid bytes with nothing valid after them. Entries of the torn write that
 *      survived whole are adopted: records the writer sent, merely never acknowledged.
 *  N2. An entry in the middle can rot on the medium (a flipped bit). Stopping the scan there would
 *      silently drop every acknowledged entry after it, so a bad entry with a valid one somewhere after
 *      it is skipped and reported as damage (the segment shows the gap; a peer fills it); only a bad
 *      region with nothing valid after it is the tail (by N1 a crash cannot make the other case).
 */
export function scanLogFile(bytes: Uint8Array): LogFileScan {
  const headerValid = decodeLogFileHeader(bytes) !== undefined;
  const entries: ScannedEntry[] = [];
  const skipped: SkippedRegion[] = [];
  let offset = LOG_FILE_HEADER_BYTES;
  let validEnd = LOG_FILE_HEADER_BYTES;
  while (offset + LOG_ENTRY_HEADER_BYTES <= bytes.length) {
    const entry = tryDecodeLogEntry(bytes, offset);
    if (entry !== undefined) {
      entries.push({ ...entry, offset });
      offset += entry.entryBytes;
      validEnd = offset;
      continue;
    }
    const next = nextValidEntry(bytes, offset + LOG_ENTRY_ALIGNMENT_BYTES);
    if (next === undefined) break; // N1: the tail
    skipped.push({ offset, length: next - offset }); // N2
    offset = next;
  }
  return { headerValid, entries, skipped, validEnd };
}

function nextValidEntry(bytes: Uint8Array, from: number): number | undefined {
  const aligned = Math.ceil(from / LOG_ENTRY_ALIGNMENT_BYTES) * LOG_ENTRY_ALIGNMENT_BYTES;
  for (
    let offset = aligned;
    offset + LOG_ENTRY_HEADER_BYTES <= bytes.length;
    offset += LOG_ENTRY_ALIGNMENT_BYTES
  ) {
    // Cheap filter first: the magic's first byte. Zeros (preallocated space) never match.
    if (bytes[offset] !== 0x4e) continue;
    if (tryDecodeLogEntry(bytes, offset) !== undefined) return offset;
  }
  return undefined;
}

export function logFileName(fileSequence: number): string {
  assert(Number.isSafeInteger(fileSequence) && fileSequence >= 1, `bad log file sequence ${fileSequence}`);
  return `log-${String(fileSequence).padStart(12, '0')}.nl`;
}

/** The sequence number in a log file name, or undefined for any other name. */
export function parseLogFileName(name: string): number | undefined {
  const match = /^log-(\d{12})\.nl$/.exec(name);
  if (match === null) return undefined;
  const sequence = Number(match[1]);
  return sequence >= 1 ? sequence : undefined;
}
