/**
 * A segment snapshot streamed from one storage node to another: the bulk path of a repair or a
 * migration (docs/storage-node.md, "Hydrating from a peer"). It is a backup (backup-format.ts) sent
 * over one connection instead of through the object store, so it reuses the backup's manifest and
 * chunk encodings, their validation and their fuzzing; only the base differs (raw page-store slots):
 *
 *   manifest            the source's control state, the base's LSN and page count, the chunk plan
 *   base part …         page images at or below the base LSN: page-store slots, verbatim, a few MiB each
 *   chunk part …        the source's chain records above the base, one manifest chunk each (`encodeChunk`)
 *   end                 its `items` is the number of parts before it: a stream cut short is detected
 *
 * Each part is framed (little-endian):
 *
 * | offset | size | field |
 * | ---: | ---: | --- |
 * | 0 | u32 | magic `4E 4C 53 53` ("NLSS") |
 * | 4 | u8 | kind: 1 manifest, 2 base part, 3 chunk, 4 end |
 * | 5 | u8 + u16 | reserved, 0 |
 * | 8 | u32 | body length (≤ `SNAPSHOT_PART_BYTES_MAX`) |
 * | 12 | u32 | items: pages of a base part, records of a chunk, parts before the end; 0 for the manifest |
 * | 16 | u32 | crc32c of bytes 0…15 (each body carries its own CRC32C, except the manifest, whose JSON is checked field by field) |
 * | 20 | … | body |
 *
 * Pure: encoding, and a decoder that takes the stream in arbitrary slices (as a socket delivers it)
 * and yields the parts in order, checking every rule. Every violation is a typed NL_DECODE_* error.
 * A part need not be assembled to be sent: the source sends a base part's header
 * (`encodeSnapshotPartHeader`) and then its slots as its disk reads returned them.
 */
import { crc32c, NorthlightError, type PgId, type RedoRecord } from '@northlight/protocol';
import {
  type BackupManifest,
  type BaseImage,
  type ChunkRef,
  decodeChunk,
  decodeManifest,
  encodeChunk,
  encodeManifest,
} from './backup-format.js';
import { decodeSlotImage, PAGE_SLOT_IDENTITY_BYTES } from './page-store.js';

const PART_MAGIC = 0x53534c4e; // 'NLSS' little-endian
export const SNAPSHOT_PART_HEADER_BYTES = 20;
/** A part's body never exceeds this: a base part holds at most this many bytes of pages. */
export const SNAPSHOT_PART_BYTES_MAX = 16 * 1024 * 1024;
/** What the manifest calls the streamed base (it is not an object store key). */
export const SNAPSHOT_BASE_KEY = 'snapshot/base';

export type SnapshotPartKind = 'manifest' | 'base' | 'chunk' | 'end';
const KIND_CODE: Record<SnapshotPartKind, number> = { manifest: 1, base: 2, chunk: 3, end: 4 };
const KIND_OF_CODE = new Map(
  Object.entries(KIND_CODE).map(([kind, code]) => [code, kind as SnapshotPartKind]),
);

export function snapshotChunkKey(index: number): string {
  return `snapshot/chunk-${index}`;
}

function invalid(detail: string): NorthlightError {
  return new NorthlightError('NL_DECODE_INVALID', `segment snapshot: ${detail}`);
}

/** A part's 20-byte header, for a body of `bodyBytes` sent after it (in one or more pieces). */
export function encodeSnapshotPartHeader(
  kind: SnapshotPartKind,
  items: number,
  bodyBytes: number,
): Uint8Array {
  if (bodyBytes > SNAPSHOT_PART_BYTES_MAX) throw invalid(`a ${kind} part of ${bodyBytes} bytes`);
  const bytes = new Uint8Array(SNAPSHOT_PART_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, PART_MAGIC, true);
  view.setUint8(4, KIND_CODE[kind]);
  view.setUint32(8, bodyBytes, true);
  view.setUint32(12, items, true);
  view.setUint32(16, crc32c(bytes.subarray(0, 16)), true);
  return bytes;
}

function frame(kind: SnapshotPartKind, items: number, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(SNAPSHOT_PART_HEADER_BYTES + body.length);
  bytes.set(encodeSnapshotPartHeader(kind, items, body.length), 0);
  bytes.set(body, SNAPSHOT_PART_HEADER_BYTES);
  return bytes;
}

export function encodeSnapshotManifest(manifest: BackupManifest): Uint8Array {
  return frame('manifest', 0, encodeManifest(manifest));
}

/**
 * A base part: `count` page-store slots exactly as the source holds them (page-store.ts: identity,
 * page, identity), read without decoding. The receiver checks each end to end — the page against the
 * CRC32C the source's page store wrote with it — and keeps that CRC, so a page crosses with one CRC
 * pass in all, where re-encoding it would cost four. (The source itself sends the header of
 * `encodeSnapshotPartHeader` and then the slots as it read them, without this copy.)
 */
export function encodeSnapshotBasePart(slots: Uint8Array, count: number): Uint8Array {
  return frame('base', count, slots);
}

export function encodeSnapshotChunk(manifest: BackupManifest, records: readonly RedoRecord[]): Uint8Array {
  return frame('chunk', records.length, encodeChunk(manifest.pgId, manifest.segmentId, records));
}

export function encodeSnapshotEnd(partsBefore: number): Uint8Array {
  return frame('end', partsBefore, new Uint8Array(0));
}

/** How many page-store slots fit a base part of at most `partBytes` (one at least). */
export function pagesPerBasePart(pageSizeBytes: number, partBytes: number): number {
  return Math.max(
    1,
    Math.floor(Math.min(partBytes, SNAPSHOT_PART_BYTES_MAX) / (pageSizeBytes + 2 * PAGE_SLOT_IDENTITY_BYTES)),
  );
}

/** A page of a base part, checked: it points into the part's `slots`. */
export interface SnapshotBaseImage extends BaseImage {
  /** The CRC32C the page was checked against (the one the source's page store wrote with it). */
  readonly crc: number;
}

export type SnapshotEvent =
  | { readonly kind: 'manifest'; readonly manifest: BackupManifest }
  | {
      readonly kind: 'base';
      /** The part's slots, as received: `images[i]` is slot i (its page bytes are a view of it). */
      readonly slots: Uint8Array;
      readonly images: readonly SnapshotBaseImage[];
    }
  | { readonly kind: 'chunk'; readonly ref: ChunkRef; readonly records: readonly RedoRecord[] }
  | { readonly kind: 'end' };

interface PartHeader {
  readonly kind: SnapshotPartKind;
  readonly items: number;
  readonly length: number;
}

/**
 * Decodes a snapshot stream pushed in arbitrary slices. `push` returns the parts completed by the
 * slice, in order; `finish` checks that the stream ended exactly after its end part.
 *
 * No slice is joined to another: a part whose body lies within one slice is decoded from a view of
 * it, and any other part is received into one buffer of the length its (checked) header announces,
 * each byte copied once. The decoded events may point into the pushed slices, which the caller must
 * therefore not reuse.
 */
export class SnapshotDecoder {
  readonly #pgId: PgId;
  readonly #pageSizeBytes: number;
  /** The header being received, when it came split across slices. */
  readonly #header = new Uint8Array(SNAPSHOT_PART_HEADER_BYTES);
  #headerBytes = 0;
  /** The part whose body is being received, and how many of its bytes have come. */
  #part: { readonly header: PartHeader; readonly body: Uint8Array; filled: number } | undefined;
  #manifest: BackupManifest | undefined;
  #parts = 0;
  #pages = 0;
  readonly #pageNumbers = new Set<number>();
  #chunks = 0;
  #ended = false;

  /** `pgId` and `pageSizeBytes`: what the receiving segment expects the snapshot to be of. */
  constructor(pgId: PgId, pageSizeBytes: number) {
    this.#pgId = pgId;
    this.#pageSizeBytes = pageSizeBytes;
  }

  get manifest(): BackupManifest | undefined {
    return this.#manifest;
  }

  push(slice: Uint8Array): SnapshotEvent[] {
    if (slice.length === 0) return [];
    if (this.#ended) throw invalid(`${slice.length} bytes after the end part`);
    const events: SnapshotEvent[] = [];
    let at = 0;
    while (at < slice.length) {
      if (this.#ended) throw invalid(`${slice.length - at} bytes after the end part`);
      const part = this.#part;
      if (part !== undefined) {
        const taken = Math.min(part.body.length - part.filled, slice.length - at);
        part.body.set(slice.subarray(at, at + taken), part.filled);
        part.filled += taken;
        at += taken;
        if (part.filled < part.body.length) break;
        this.#part = undefined;
        events.push(this.#decodePart(part.header, part.body));
        continue;
      }
      let headerBytes: Uint8Array;
      if (this.#headerBytes === 0 && slice.length - at >= SNAPSHOT_PART_HEADER_BYTES) {
        headerBytes = slice.subarray(at, at + SNAPSHOT_PART_HEADER_BYTES);
        at += SNAPSHOT_PART_HEADER_BYTES;
      } else {
        const taken = Math.min(SNAPSHOT_PART_HEADER_BYTES - this.#headerBytes, slice.length - at);
        this.#header.set(slice.subarray(at, at + taken), this.#headerBytes);
        this.#headerBytes += taken;
        at += taken;
        if (this.#headerBytes < SNAPSHOT_PART_HEADER_BYTES) break;
        this.#headerBytes = 0;
        headerBytes = this.#header;
      }
      const header = this.#decodeHeader(headerBytes);
      if (slice.length - at >= header.length) {
        events.push(this.#decodePart(header, slice.subarray(at, at + header.length)));
        at += header.length;
      } else {
        this.#part = { header, body: new Uint8Array(header.length), filled: 0 };
      }
    }
    return events;
  }

  /** The stream closed: it must have closed right after its end part. */
  finish(): void {
    if (this.#ended) return;
    const partial =
      this.#headerBytes + (this.#part === undefined ? 0 : SNAPSHOT_PART_HEADER_BYTES + this.#part.filled);
    throw new NorthlightError(
      'NL_DECODE_TRUNCATED',
      `segment snapshot: the stream ended after ${this.#parts} parts, without its end part${
        partial > 0 ? ` (${partial} bytes of a partial part)` : ''
      }`,
    );
  }

  /** A part's header, checked (magic, CRC32C, kind, reserved bytes, length bound). */
  #decodeHeader(header: Uint8Array): PartHeader {
    const view = new DataView(header.buffer, header.byteOffset, SNAPSHOT_PART_HEADER_BYTES);
    if (view.getUint32(0, true) !== PART_MAGIC) throw invalid(`part ${this.#parts + 1}: bad magic`);
    if (view.getUint32(16, true) !== crc32c(header.subarray(0, 16)))
      throw new NorthlightError(
        'NL_DECODE_CHECKSUM',
        `segment snapshot: part ${this.#parts + 1}: header CRC32C mismatch`,
      );
    const kind = KIND_OF_CODE.get(view.getUint8(4));
    if (kind === undefined) throw invalid(`part ${this.#parts + 1}: unknown kind ${view.getUint8(4)}`);
    if (view.getUint8(5) !== 0 || view.getUint16(6, true) !== 0)
      throw invalid(`part ${this.#parts + 1}: reserved bytes are not zero`);
    const length = view.getUint32(8, true);
    if (length > SNAPSHOT_PART_BYTES_MAX)
      throw new NorthlightError(
        'NL_DECODE_FRAME_TOO_LARGE',
        `segment snapshot: part ${this.#parts + 1} of ${length} bytes (at most ${SNAPSHOT_PART_BYTES_MAX})`,
      );
    return { kind, items: view.getUint32(12, true), length };
  }

  #decodePart({ kind, items }: PartHeader, body: Uint8Array): SnapshotEvent {
    const index = this.#parts + 1;
    const manifest = this.#manifest;
    if (kind === 'manifest') {
      if (manifest !== undefined) throw invalid(`part ${index}: a second manifest`);
      if (items !== 0) throw invalid(`part ${index}: a manifest with items ${items}`);
      const decoded = decodeManifest(body, 'snapshot manifest');
      if (decoded.pgId !== this.#pgId)
        throw invalid(`the snapshot is of PG ${decoded.pgId}, not ${this.#pgId}`);
      if (decoded.pageSizeBytes !== this.#pageSizeBytes)
        throw invalid(`the snapshot has ${decoded.pageSizeBytes}-byte pages, not ${this.#pageSizeBytes}`);
      if (decoded.base !== undefined && decoded.base.key !== SNAPSHOT_BASE_KEY)
        throw invalid(`the manifest's base is ${decoded.base.key}, not ${SNAPSHOT_BASE_KEY}`);
      this.#manifest = decoded;
      this.#parts++;
      return { kind, manifest: decoded };
    }
    if (manifest === undefined) throw invalid(`part ${index}: a ${kind} part before the manifest`);
    this.#parts++;
    if (kind === 'base') {
      const base = manifest.base;
      if (base === undefined) throw invalid(`part ${index}: a base part, but the manifest has no base`);
      if (this.#chunks > 0) throw invalid(`part ${index}: a base part after a chunk`);
      if (items === 0 || this.#pages + items > base.pages)
        throw invalid(`part ${index}: ${items} more pages than the manifest's ${base.pages}`);
      const slotBytes = manifest.pageSizeBytes + 2 * PAGE_SLOT_IDENTITY_BYTES;
      if (body.length !== items * slotBytes)
        throw invalid(`part ${index}: ${body.length} bytes is not ${items} slots of ${slotBytes}`);
      const images: SnapshotBaseImage[] = [];
      for (let slot = 0; slot < items; slot++) {
        const image = decodeSlotImage(body.subarray(slot * slotBytes, (slot + 1) * slotBytes));
        if (image === undefined)
          throw new NorthlightError(
            'NL_DECODE_CHECKSUM',
            `segment snapshot: part ${index}: slot ${slot} failed its CRC32C (the source's copy or the transfer is damaged)`,
          );
        if (image.lsn > base.lsn)
          throw invalid(
            `part ${index}: page ${image.pageNo} is as of ${image.lsn}, above the base's ${base.lsn}`,
          );
        if (this.#pageNumbers.has(image.pageNo)) throw invalid(`part ${index}: page ${image.pageNo} twice`);
        this.#pageNumbers.add(image.pageNo);
        images.push({ pageNo: image.pageNo, bytes: image.page, crc: image.crc });
      }
      this.#pages += items;
      return { kind, slots: body, images };
    }
    if (kind === 'chunk') {
      if (this.#pages !== (manifest.base?.pages ?? 0))
        throw invalid(
          `part ${index}: a chunk after ${this.#pages} of the base's ${manifest.base?.pages} pages`,
        );
      const ref = manifest.chunks[this.#chunks];
      if (ref === undefined)
        throw invalid(`part ${index}: more chunks than the manifest's ${manifest.chunks.length}`);
      if (items !== ref.records)
        throw invalid(`part ${index}: ${items} records; the manifest says ${ref.records}`);
      const records = decodeChunk(body, ref, manifest.pgId);
      this.#chunks++;
      return { kind, ref, records };
    }
    if (body.length !== 0) throw invalid(`part ${index}: an end part with a body`);
    if (items !== index - 1) throw invalid(`the end part counts ${items} parts before it; ${index - 1} came`);
    if (this.#chunks !== manifest.chunks.length || this.#pages !== (manifest.base?.pages ?? 0))
      throw invalid(
        `the stream ended after ${this.#pages} pages and ${this.#chunks} chunks; the manifest names ${
          manifest.base?.pages ?? 0
        } and ${manifest.chunks.length}`,
      );
    this.#ended = true;
    return { kind };
  }
}
