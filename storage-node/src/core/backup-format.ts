/**
 * What a segment's backup looks like in the object store (paper §3.3 step 6; docs/storage-node.md,
 * "Backup to S3"). Pure encoding and validation: no I/O.
 *
 * Under `<prefix>pg-<pgId>/<segmentId>/`:
 *  - `log/<from>-<to>.nlr` — a sealed chunk: the segment's chain records in (from, to], as ONE
 *    `records` message frame of the wire protocol (magic, version, length, CRC32C; each record keeps
 *    its own CRC), so the decoder, its fuzzing and its golden fixtures are the ones the network uses.
 *    LSNs are zero-padded to 20 digits so a listing sorts by LSN.
 *  - `base/<lsn>.nlb` — every page image of the segment as of `lsn` (its materialization point when it
 *    was taken): `NLBP` magic, u16 version, u16 0, u32 pgId, u32 page size, u64 lsn, u32 count, then
 *    per page u32 pageNo + the page bytes, and a trailing CRC32C of everything before it.
 *  - `manifest.json` — written LAST, after every object it names is stored: the segment's control
 *    state (epochs, truncations, membership), how far the log is backed up (`backedUpThrough`), the
 *    newest base and the chunks above it. A reader that finds a manifest finds everything it names.
 *
 * Only records at or below the segment's durable hint (≤ the writer's VDL) are backed up: a truncation
 * annuls records above the VDL only, so a chunk is never invalidated by a later recovery, and a
 * rebuild needs no truncation but the manifest's (for the epochs the current writer appends under).
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  crc32c,
  decodeMessageFromBytes,
  type Epoch,
  encodeMessage,
  isValidIdentifier,
  type Lsn,
  type NodeId,
  NorthlightError,
  type PgId,
  Reader,
  type RedoRecord,
  type SegmentId,
  type TruncationRange,
  U64_MAX,
  Writer,
} from '@northlight/protocol';

export const BACKUP_FORMAT = 'northlight-segment-backup';
export const BACKUP_FORMAT_VERSION = 1;
const BASE_MAGIC = 0x50424c4e; // 'NLBP' little-endian
const BASE_VERSION = 1;
const BASE_HEADER_BYTES = 4 + 2 + 2 + 4 + 4 + 8 + 4;

export interface ChunkRef {
  readonly key: string;
  readonly fromExclusive: Lsn;
  readonly toInclusive: Lsn;
  readonly records: number;
  readonly bytes: number;
}

export interface BaseRef {
  readonly key: string;
  readonly lsn: Lsn;
  readonly pages: number;
  readonly bytes: number;
}

export interface BackupManifest {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly pageSizeBytes: number;
  readonly volumeEpoch: Epoch;
  readonly truncationEpoch: Epoch;
  readonly truncations: readonly TruncationRange[];
  readonly membershipEpoch: Epoch;
  readonly members: readonly SegmentId[];
  readonly memberNodes: readonly NodeId[];
  /** Every chain record of the segment at or below this LSN is in the base or a chunk. */
  readonly backedUpThrough: Lsn;
  readonly base: BaseRef | undefined;
  /**
   * Ascending and contiguous up to `backedUpThrough`; the first starts at or below `base.lsn` (or at 0
   * without a base) and ends above it. Empty when the base is the whole backup.
   */
  readonly chunks: readonly ChunkRef[];
  readonly updatedAtMs: number;
}

export function segmentPrefix(prefix: string, pgId: number, segmentId: string): string {
  return `${prefix}pg-${pgId}/${segmentId}/`;
}

export function manifestKey(prefix: string, pgId: number, segmentId: string): string {
  return `${segmentPrefix(prefix, pgId, segmentId)}manifest.json`;
}

const lsnText = (lsn: bigint): string => lsn.toString().padStart(20, '0');

export function chunkKey(prefix: string, pgId: number, segmentId: string, from: Lsn, to: Lsn): string {
  return `${segmentPrefix(prefix, pgId, segmentId)}log/${lsnText(from)}-${lsnText(to)}.nlr`;
}

export function baseKey(prefix: string, pgId: number, segmentId: string, lsn: Lsn): string {
  return `${segmentPrefix(prefix, pgId, segmentId)}base/${lsnText(lsn)}.nlb`;
}

function invalid(what: string, detail: string): NorthlightError {
  return new NorthlightError('NL_DECODE_INVALID', `backup ${what}: ${detail}`);
}

// ---- chunks ----

export function encodeChunk(pgId: PgId, segmentId: SegmentId, records: readonly RedoRecord[]): Uint8Array {
  return encodeMessage({ type: 'records', requestId: 0n, pgId, segmentId, records });
}

/** The chunk's records; throws a typed NorthlightError if the object is not the chunk it should be. */
export function decodeChunk(bytes: Uint8Array, ref: ChunkRef, pgId: PgId): readonly RedoRecord[] {
  const message = decodeMessageFromBytes(bytes);
  if (message.type !== 'records') throw invalid(ref.key, `holds a ${message.type} message, not records`);
  if (message.pgId !== pgId) throw invalid(ref.key, `holds records of PG ${message.pgId}, not ${pgId}`);
  if (message.records.length !== ref.records) {
    throw invalid(ref.key, `holds ${message.records.length} records; the manifest says ${ref.records}`);
  }
  for (const record of message.records) {
    if (record.lsn <= ref.fromExclusive || record.lsn > ref.toInclusive)
      throw invalid(ref.key, `record ${record.lsn} is outside (${ref.fromExclusive}, ${ref.toInclusive}]`);
  }
  return message.records;
}

// ---- bases ----

export interface BaseImage {
  readonly pageNo: number;
  readonly bytes: Uint8Array;
  /** The CRC32C of `bytes` when it is already known and checked (a peer snapshot's slots). */
  readonly crc?: number;
}

export function encodeBase(
  pgId: PgId,
  lsn: Lsn,
  pageSizeBytes: number,
  images: readonly BaseImage[],
): Uint8Array {
  const writer = Writer.allocate(BASE_HEADER_BYTES + images.length * (4 + pageSizeBytes) + 4);
  writer.u32(BASE_MAGIC);
  writer.u16(BASE_VERSION);
  writer.u16(0);
  writer.u32(pgId);
  writer.u32(pageSizeBytes);
  writer.u64(lsn);
  writer.u32(images.length);
  for (const image of images) {
    writer.u32(image.pageNo);
    writer.bytesRaw(image.bytes);
  }
  writer.u32(0);
  const bytes = writer.finish();
  const crc = crc32c(bytes.subarray(0, bytes.length - 4));
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(bytes.length - 4, crc, true);
  return bytes;
}

export function decodeBase(
  bytes: Uint8Array,
  ref: BaseRef,
  pgId: PgId,
  pageSizeBytes: number,
): readonly BaseImage[] {
  if (bytes.length < BASE_HEADER_BYTES + 4) throw invalid(ref.key, `${bytes.length} bytes is too short`);
  const stored = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true);
  if (crc32c(bytes.subarray(0, bytes.length - 4)) !== stored)
    throw new NorthlightError('NL_DECODE_CHECKSUM', `backup ${ref.key}: CRC32C mismatch`);
  const reader = new Reader(bytes.subarray(0, bytes.length - 4), {
    overrunCode: 'NL_DECODE_INVALID',
    context: `backup base ${ref.key}`,
  });
  if (reader.u32() !== BASE_MAGIC) throw invalid(ref.key, 'bad magic');
  const version = reader.u16();
  if (version !== BASE_VERSION)
    throw new NorthlightError('NL_DECODE_UNKNOWN_VERSION', `backup ${ref.key}: base version ${version}`);
  if (reader.u16() !== 0) throw invalid(ref.key, 'reserved field is not zero');
  if (reader.u32() !== pgId) throw invalid(ref.key, `not of PG ${pgId}`);
  const size = reader.u32();
  if (size !== pageSizeBytes) throw invalid(ref.key, `page size ${size}, not ${pageSizeBytes}`);
  if (reader.u64() !== ref.lsn) throw invalid(ref.key, `not as of ${ref.lsn}`);
  const count = reader.count(4 + size, 'pages');
  if (count !== ref.pages) throw invalid(ref.key, `${count} pages; the manifest says ${ref.pages}`);
  const images: BaseImage[] = [];
  for (let index = 0; index < count; index++) {
    const pageNo = reader.u32();
    images.push({ pageNo, bytes: reader.bytes(size).slice() });
  }
  reader.expectEnd();
  return images;
}

// ---- manifest ----

export function encodeManifest(manifest: BackupManifest): Uint8Array {
  const text = JSON.stringify(
    {
      format: BACKUP_FORMAT,
      version: BACKUP_FORMAT_VERSION,
      ...manifest,
      base: manifest.base ?? null,
    },
    (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    2,
  );
  return new TextEncoder().encode(`${text}\n`);
}

const decimal = /^(0|[1-9][0-9]{0,19})$/;

function u64(value: unknown, field: string, key: string): bigint {
  if (typeof value !== 'string' || !decimal.test(value) || BigInt(value) > U64_MAX)
    throw invalid(key, `${field} is not a decimal u64 string`);
  return BigInt(value);
}

function integer(value: unknown, field: string, key: string, max = 0xffff_ffff): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max)
    throw invalid(key, `${field} is not an integer 0 … ${max}`);
  return value as number;
}

function identifiers(value: unknown, field: string, key: string): string[] {
  if (
    !Array.isArray(value) ||
    value.length > 64 ||
    !value.every((item) => typeof item === 'string' && isValidIdentifier(item))
  )
    throw invalid(key, `${field} is not a list of identifiers`);
  return value as string[];
}

function object(value: unknown, field: string, key: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(key, `${field} is not an object`);
  return value as Record<string, unknown>;
}

/** Parses and checks a manifest; every problem is a typed NL_DECODE_* error naming the object. */
export function decodeManifest(bytes: Uint8Array, key: string): BackupManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid(key, 'is not UTF-8 JSON');
  }
  const root = object(parsed, 'the manifest', key);
  if (root.format !== BACKUP_FORMAT) throw invalid(key, `format is not ${BACKUP_FORMAT}`);
  if (root.version !== BACKUP_FORMAT_VERSION)
    throw new NorthlightError(
      'NL_DECODE_UNKNOWN_VERSION',
      `backup ${key}: manifest version ${String(root.version)}`,
    );
  const segmentId = root.segmentId;
  if (typeof segmentId !== 'string' || !isValidIdentifier(segmentId))
    throw invalid(key, 'segmentId is not valid');
  const members = identifiers(root.members, 'members', key);
  const memberNodes = identifiers(root.memberNodes, 'memberNodes', key);
  if (memberNodes.length !== 0 && memberNodes.length !== members.length)
    throw invalid(key, 'memberNodes does not match members');
  if (!Array.isArray(root.truncations) || root.truncations.length > 65_536)
    throw invalid(key, 'truncations is not a list');
  const truncations = root.truncations.map((item: unknown) => {
    const range = object(item, 'a truncation', key);
    const from = u64(range.fromExclusive, 'fromExclusive', key);
    const to = u64(range.toInclusive, 'toInclusive', key);
    if (from >= to) throw invalid(key, 'an empty truncation range');
    return {
      volumeEpoch: asEpoch(u64(range.volumeEpoch, 'volumeEpoch', key)),
      fromExclusive: asLsn(from),
      toInclusive: asLsn(to),
    };
  });
  let base: BaseRef | undefined;
  if (root.base !== null) {
    const value = object(root.base, 'base', key);
    if (typeof value.key !== 'string') throw invalid(key, 'base.key is not a string');
    base = {
      key: value.key,
      lsn: asLsn(u64(value.lsn, 'base.lsn', key)),
      pages: integer(value.pages, 'base.pages', key),
      bytes: integer(value.bytes, 'base.bytes', key, Number.MAX_SAFE_INTEGER),
    };
  }
  if (!Array.isArray(root.chunks)) throw invalid(key, 'chunks is not a list');
  const baseLsn = base?.lsn ?? 0n;
  let previous: bigint | undefined;
  const chunks = root.chunks.map((item: unknown): ChunkRef => {
    const value = object(item, 'a chunk', key);
    if (typeof value.key !== 'string') throw invalid(key, 'a chunk key is not a string');
    const from = asLsn(u64(value.fromExclusive, 'fromExclusive', key));
    const to = asLsn(u64(value.toInclusive, 'toInclusive', key));
    // The first chunk starts at or below the base (records at or below it are skipped on restore).
    const follows = previous === undefined ? from <= baseLsn && to > baseLsn : from === previous;
    if (!follows || to <= from)
      throw invalid(key, `chunk (${from}, ${to}] does not follow ${previous ?? baseLsn}`);
    previous = to;
    return {
      key: value.key,
      fromExclusive: from,
      toInclusive: to,
      records: integer(value.records, 'records', key),
      bytes: integer(value.bytes, 'bytes', key, Number.MAX_SAFE_INTEGER),
    };
  });
  const backedUpThrough = asLsn(u64(root.backedUpThrough, 'backedUpThrough', key));
  if (backedUpThrough !== (previous ?? baseLsn))
    throw invalid(
      key,
      `backedUpThrough ${backedUpThrough} is not where the base and chunks end (${previous ?? baseLsn})`,
    );
  return {
    pgId: asPgId(integer(root.pgId, 'pgId', key)),
    segmentId: asSegmentId(segmentId),
    pageSizeBytes: integer(root.pageSizeBytes, 'pageSizeBytes', key, 65_536),
    volumeEpoch: asEpoch(u64(root.volumeEpoch, 'volumeEpoch', key)),
    truncationEpoch: asEpoch(u64(root.truncationEpoch, 'truncationEpoch', key)),
    truncations,
    membershipEpoch: asEpoch(u64(root.membershipEpoch, 'membershipEpoch', key)),
    members: members.map(asSegmentId),
    memberNodes: memberNodes.map(asNodeId),
    backedUpThrough,
    base,
    chunks,
    updatedAtMs: integer(root.updatedAtMs, 'updatedAtMs', key, Number.MAX_SAFE_INTEGER),
  };
}
