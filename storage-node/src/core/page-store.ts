/**
 * The page store: materialized page images of every segment of the node, in one file
 * (`<data>/pages.dat`) of fixed-size slots. A slot holds one image of one page of one segment, with
 * the LSN it is as of. Its identity (segment, page, LSN) is written twice, in a header and a trailer,
 * each with its own CRC32C, and the page bytes have a CRC32C of their own:
 *
 *   file header (64 bytes): u32 magic 'NLPS' (4E 4C 50 53), u16 format version (1), u16 0,
 *     u32 page size, 48 reserved zero bytes, u32 crc32c of bytes 0…59
 *   slot i at 64 + i × (page size + 64):
 *     identity (32 bytes):  0 u32 magic 'NLPI' (4E 4C 50 49)   4 u32 segment number   8 u32 page number
 *                          12 u32 0   16 u64 LSN the image is as of   24 u32 crc32c of the page bytes
 *                          28 u32 crc32c of identity bytes 0…27
 *     the page (page size bytes)
 *     the identity again (32 bytes)
 *
 * Images are written copy-on-write: a new image always goes to a free slot, never over the image it
 * replaces, and the slot of the old one is freed only once the new one is durable AND the segment's
 * `materializedThrough` (control log) covers it.
 *
 * Crash reasoning:
 *  P1. On open, an image counts only if its identity is readable, its segment is live, and its LSN is
 *      at most the segment's durable `materializedThrough`: an image written by a materialization step
 *      that crashed before its control entry was durable (maybe torn) is ignored, its slot free, and
 *      the page keeps its previous image, which that step did not touch (P2). Of several images of a
 *      page, the newest counts; the others are free.
 *  P2. A slot is reused only after the image in it was superseded by a durable newer image of the same
 *      page and the control entry covering that newer image was synced; a torn write into a reused slot
 *      therefore only ever destroys an image nobody needs.
 *  P3. A freed slot is not reused while a read is in flight (it may be about to copy the old image):
 *      frees are quarantined, and the owner releases them only when no read is pinned.
 *  P4. The newest image of a page is the only copy of the records GC dropped: if it rotted, falling
 *      back to an older image (or to zeros) would silently serve a wrong page. So the identity is kept
 *      twice (one flipped bit cannot hide which page a slot holds), and a newest image whose page bytes
 *      fail their CRC is reported damaged (reads of the page are refused), never skipped.
 *  P5. The image cache (`cacheBytes`, least recently used first out) holds the page bytes of slots
 *      this process wrote or read back intact, keyed by slot: a slot's bytes never change while it
 *      holds its image (copy-on-write, P2), and a slot leaves the cache when it is freed, before it
 *      can be reused. So a cached image is exactly what the slot holds, as written. What the cache
 *      hides is the medium rotting under it; that is the scrubber's job, which reads the disk
 *      (`read(…, { fromDisk: true })`), as a read does again once the image is evicted.
 *  P6. Spare page buffers: the buffer of an entry the cache drops (evicted, its slot freed or
 *      rewritten) is kept, up to `SPARE_PAGES_MAX`, and reused for the next image a materialization
 *      step builds (`readForRewrite`, `newPage`), so the thousands of images a second a busy node
 *      builds allocate nothing. Safe because the cache is the only holder of its entries' bytes: `read`
 *      hands out copies, and `writeMany(…, { cache: true })` takes its images from a caller that gives
 *      them up (the materializer). A spare goes to exactly one caller, which owns it.
 */
import { assert, crc32c, type Disk, type DiskFile, type Logger, NorthlightError } from '@northlight/protocol';
import type { StorageMetrics } from './metrics.js';

export const PAGE_STORE_FORMAT_VERSION = 1;
export const PAGE_STORE_HEADER_BYTES = 64;
/** Bytes of one copy of a slot's identity; a slot has two (header and trailer). */
export const PAGE_SLOT_IDENTITY_BYTES = 32;
const FILE_MAGIC = 0x53504c4e; // 'NLPS'
const SLOT_MAGIC = 0x49504c4e; // 'NLPI'
/** Slots read per disk read when the store is scanned at open. */
const SCAN_SLOTS_PER_READ = 256;
/** At most this many spare page buffers are kept for reuse (P6). */
const SPARE_PAGES_MAX = 512;

export interface PageImageRef {
  readonly slot: number;
  readonly lsn: bigint;
}

/** A valid image found by the scan at open. */
export interface ScannedImage {
  readonly segmentNumber: number;
  readonly pageNo: number;
  readonly lsn: bigint;
  readonly slot: number;
  /** The page bytes failed their CRC (P4). */
  readonly damaged: boolean;
}

export class PageStore {
  readonly #path: string;
  readonly #pageSizeBytes: number;
  readonly #metrics: StorageMetrics;
  #file: DiskFile;
  #slotCount = 0;
  /** Free slots, reused lowest first so the file stays compact. */
  readonly #free: number[] = [];
  /** Freed while reads may be in flight (P3); the owner releases them when no read is pinned. */
  #quarantined: number[] = [];
  /** P5: slot → its page bytes, least recently used first (a Map keeps insertion order). */
  readonly #cache = new Map<number, Uint8Array>();
  readonly #cacheBytesMax: number;
  #cacheBytes = 0;
  /** P6: page buffers the cache dropped, for the next images built. */
  readonly #spares: Uint8Array[] = [];

  private constructor(
    path: string,
    file: DiskFile,
    pageSizeBytes: number,
    metrics: StorageMetrics,
    cacheBytesMax: number,
  ) {
    this.#path = path;
    this.#file = file;
    this.#pageSizeBytes = pageSizeBytes;
    this.#metrics = metrics;
    this.#cacheBytesMax = cacheBytesMax;
  }

  get slotBytes(): number {
    return 2 * PAGE_SLOT_IDENTITY_BYTES + this.#pageSizeBytes;
  }

  get slotCount(): number {
    return this.#slotCount;
  }

  get freeSlotCount(): number {
    return this.#free.length + this.#quarantined.length;
  }

  get sizeBytes(): number {
    return PAGE_STORE_HEADER_BYTES + this.#slotCount * this.slotBytes;
  }

  /** Page bytes held by the image cache (P5). */
  get cachedBytes(): number {
    return this.#cacheBytes;
  }

  /** P5: remembers `page` (owned by the store from now on) as the bytes of `slot`. */
  #remember(slot: number, page: Uint8Array): void {
    if (this.#cacheBytesMax < page.length) return;
    this.#forget(slot);
    this.#cache.set(slot, page);
    this.#cacheBytes += page.length;
    for (const [oldest, bytes] of this.#cache) {
      if (this.#cacheBytes <= this.#cacheBytesMax) break;
      this.#cache.delete(oldest);
      this.#cacheBytes -= bytes.length;
      this.#spare(bytes);
    }
  }

  #forget(slot: number): void {
    const cached = this.#cache.get(slot);
    if (cached === undefined) return;
    this.#cache.delete(slot);
    this.#cacheBytes -= cached.length;
    this.#spare(cached);
  }

  /** P6: keeps a dropped entry's bytes for reuse, if they are a whole buffer of one page. */
  #spare(bytes: Uint8Array): void {
    if (
      this.#spares.length < SPARE_PAGES_MAX &&
      bytes.byteOffset === 0 &&
      bytes.length === this.#pageSizeBytes &&
      bytes.buffer.byteLength === this.#pageSizeBytes
    )
      this.#spares.push(bytes);
  }

  /** A zeroed page the caller owns (a spare buffer when there is one, P6). */
  newPage(): Uint8Array {
    const spare = this.#spares.pop();
    if (spare === undefined) return new Uint8Array(this.#pageSizeBytes);
    spare.fill(0);
    return spare;
  }

  /**
   * Opens (or creates) the store and scans every slot. `isWanted(image)` says whether a valid image
   * may count (P1: live segment, LSN ≤ materializedThrough); the newest wanted image of each page is
   * returned, every other slot is free. NL_CONFIG_INVALID if the store was written with another page size.
   * `cacheBytes`: the image cache's size (P5; 0 turns it off).
   */
  static async open(
    disk: Disk,
    directory: string,
    pageSizeBytes: number,
    metrics: StorageMetrics,
    log: Logger,
    isWanted: (image: ScannedImage) => boolean,
    cacheBytes = 0,
    stopRequested: () => boolean = () => false,
  ): Promise<{ pageStore: PageStore; images: ScannedImage[] }> {
    const path = `${directory}/pages.dat`;
    const file = await disk.open(path);
    const size = await file.size();
    const store = new PageStore(path, file, pageSizeBytes, metrics, cacheBytes);
    const header = await file.read(0, PAGE_STORE_HEADER_BYTES);
    const headerPageSize = decodeHeader(header);
    if (headerPageSize !== undefined && headerPageSize !== pageSizeBytes) {
      throw new NorthlightError(
        'NL_CONFIG_INVALID',
        `the page store holds ${headerPageSize}-byte pages but pageSizeBytes is ${pageSizeBytes}`,
        { path },
      );
    }
    if (headerPageSize === undefined) {
      if (size > 0) log.log('warn', 'page store header is damaged; rewriting it', { path });
      await file.write(0, encodeHeader(pageSizeBytes));
      await file.sync();
      metrics.fsync('pages');
    }
    store.#slotCount = Math.max(0, Math.floor((size - PAGE_STORE_HEADER_BYTES) / store.slotBytes));
    const images = await store.#scan(isWanted, stopRequested);
    // A stop leaves the scan incomplete, between reads: the caller closes the store and never serves it.
    if (stopRequested()) return { pageStore: store, images };
    await file.sync(); // as for the logs: what replay found is made durable before it is relied on
    metrics.fsync('pages');
    return { pageStore: store, images };
  }

  async #scan(
    isWanted: (image: ScannedImage) => boolean,
    stopRequested: () => boolean,
  ): Promise<ScannedImage[]> {
    const newest = new Map<string, ScannedImage>();
    const free: number[] = [];
    for (let first = 0; first < this.#slotCount; first += SCAN_SLOTS_PER_READ) {
      if (stopRequested()) break;
      const count = Math.min(SCAN_SLOTS_PER_READ, this.#slotCount - first);
      const bytes = await this.#file.read(this.#slotOffset(first), count * this.slotBytes);
      for (let index = 0; index < count; index++) {
        const slot = first + index;
        const decoded = decodeSlot(bytes.subarray(index * this.slotBytes, (index + 1) * this.slotBytes));
        const scanned: ScannedImage | undefined =
          decoded === undefined
            ? undefined
            : { ...decoded.identity, slot, damaged: decoded.page === undefined };
        if (scanned === undefined || !isWanted(scanned)) {
          free.push(slot);
          continue;
        }
        const key = `${scanned.segmentNumber}/${scanned.pageNo}`;
        const previous = newest.get(key);
        // The newest image wins; at the same LSN an intact one beats a damaged one (a peer's repair).
        const keepPrevious =
          previous !== undefined &&
          (previous.lsn > scanned.lsn ||
            (previous.lsn === scanned.lsn && (!previous.damaged || scanned.damaged)));
        if (keepPrevious) {
          free.push(slot);
          continue;
        }
        if (previous !== undefined) free.push(previous.slot);
        newest.set(key, scanned);
      }
    }
    this.#free.push(...free.sort((a, b) => b - a)); // popped from the end: lowest first
    return [...newest.values()];
  }

  #slotOffset(slot: number): number {
    return PAGE_STORE_HEADER_BYTES + slot * this.slotBytes;
  }

  /** Writes an image into a free slot (or a new one at the end) and returns the slot. Not synced. */
  async write(segmentNumber: number, pageNo: number, lsn: bigint, page: Uint8Array): Promise<number> {
    assert(page.length === this.#pageSizeBytes, 'page image of the wrong size');
    const slot = this.#free.pop() ?? this.#slotCount++;
    const encoded = encodeSlot(segmentNumber, pageNo, lsn, page);
    await this.#file.write(this.#slotOffset(slot), encoded);
    this.#remember(slot, encoded.subarray(PAGE_SLOT_IDENTITY_BYTES, PAGE_SLOT_IDENTITY_BYTES + page.length));
    return slot;
  }

  /**
   * Writes images of one segment, all as of `lsn`, into free slots (or new ones at the end), with one
   * disk write per run of adjacent slots (materialization; a bulk install: a backup base). Returns the
   * slots, in the order of `images`. Not synced. `cache`: the images stay in the image cache (P5), and
   * the store owns their bytes from now on (the caller must not change them).
   */
  async writeMany(
    segmentNumber: number,
    lsn: bigint,
    images: readonly { readonly pageNo: number; readonly bytes: Uint8Array; readonly crc?: number }[],
    options: { readonly cache?: boolean } = {},
  ): Promise<number[]> {
    // Each image is encoded straight into the bytes of its slot, then written as `writeSlots` does.
    const slotBytes = this.slotBytes;
    const slots = new Uint8Array(images.length * slotBytes);
    const identities = images.map((image, index) => {
      assert(image.bytes.length === this.#pageSizeBytes, 'page image of the wrong size');
      slots.set(image.bytes, index * slotBytes + PAGE_SLOT_IDENTITY_BYTES);
      return { pageNo: image.pageNo, crc: image.crc ?? crc32c(image.bytes) };
    });
    const numbers = await this.writeSlots(segmentNumber, lsn, slots, identities);
    if (options.cache === true)
      for (const [index, image] of images.entries()) this.#remember(numbers[index]!, image.bytes);
    return numbers;
  }

  /**
   * Writes whole slots of one segment, all as of `lsn`, into free slots (or new ones at the end): the
   * bulk install of a peer snapshot, whose slots arrive as the source's page store holds them. `slots`
   * holds `images.length` slots, in that order; their page bytes go to disk verbatim, with the CRC32C
   * the caller checked them against (`images[i].crc`: it is not computed again), and each identity is
   * stamped, in both copies and in place in `slots`, with this node's segment number, the page and
   * `lsn`. One disk write per run of adjacent slots, straight from `slots`. Returns the slots, in the
   * order of `images`. Not synced.
   */
  async writeSlots(
    segmentNumber: number,
    lsn: bigint,
    slots: Uint8Array,
    images: readonly { readonly pageNo: number; readonly crc: number }[],
  ): Promise<number[]> {
    const slotBytes = this.slotBytes;
    assert(slots.length === images.length * slotBytes, 'slots of the wrong size');
    const numbers = images.map(() => this.#free.pop() ?? this.#slotCount++);
    for (const slot of numbers) this.#forget(slot); // P5: a reused slot's old bytes are gone
    for (const [index, image] of images.entries())
      stampIdentity(
        slots.subarray(index * slotBytes, (index + 1) * slotBytes),
        segmentNumber,
        image.pageNo,
        lsn,
        image.crc,
      );
    // The free slots are taken lowest first, so consecutive images mostly land in adjacent slots.
    const order = numbers.map((_, index) => index).sort((a, b) => numbers[a]! - numbers[b]!);
    for (let start = 0; start < order.length; ) {
      let end = start + 1;
      while (
        end < order.length &&
        numbers[order[end]!] === numbers[order[end - 1]!]! + 1 &&
        order[end] === order[end - 1]! + 1 &&
        (end - start + 1) * slotBytes <= BULK_IO_BYTES_MAX
      )
        end++;
      const first = order[start]!;
      await this.#file.write(
        this.#slotOffset(numbers[first]!),
        slots.subarray(first * slotBytes, (first + end - start) * slotBytes),
      );
      start = end;
    }
    return numbers;
  }

  /** Makes every image written so far durable. */
  async sync(): Promise<void> {
    await this.#file.sync();
    this.#metrics.fsync('pages');
  }

  /**
   * The image in `slot`, checked: its CRC, and that it is the image of this page as of this LSN.
   * NL_DECODE_CHECKSUM otherwise (the medium rotted). A copy the caller owns; from the image cache
   * (P5) unless `fromDisk` (the scrubber checks the medium itself).
   */
  async read(
    slot: number,
    segmentNumber: number,
    pageNo: number,
    lsn: bigint,
    options: { readonly fromDisk?: boolean } = {},
  ): Promise<Uint8Array> {
    assert(slot < this.#slotCount, `read of slot ${slot} past the end`);
    if (options.fromDisk !== true) {
      const cached = this.#cache.get(slot);
      if (cached !== undefined) {
        this.#cache.delete(slot); // most recently used: to the end
        this.#cache.set(slot, cached);
        this.#metrics.pageCacheLookup(true);
        return cached.slice();
      }
      this.#metrics.pageCacheLookup(false);
    }
    const bytes = await this.#file.read(this.#slotOffset(slot), this.slotBytes);
    const page = checkedPage(bytes, this.slotBytes, { slot, segmentNumber, pageNo, lsn });
    // A slot freed while the read was in flight is remembered all the same: nothing refers to it
    // any more, and whatever reuses it writes it first, which replaces the entry (P5).
    this.#remember(slot, page.slice());
    return page;
  }

  /**
   * `read` for an image about to be rewritten (materialization): from the image cache, the copy goes
   * into a spare buffer (P6) rather than a new one. The caller owns it, as with `read`.
   */
  async readForRewrite(
    slot: number,
    segmentNumber: number,
    pageNo: number,
    lsn: bigint,
  ): Promise<Uint8Array> {
    const cached = this.#cache.get(slot);
    if (cached === undefined) return this.read(slot, segmentNumber, pageNo, lsn);
    assert(slot < this.#slotCount, `read of slot ${slot} past the end`);
    this.#cache.delete(slot); // most recently used: to the end
    this.#cache.set(slot, cached);
    this.#metrics.pageCacheLookup(true);
    const page = this.#spares.pop() ?? new Uint8Array(this.#pageSizeBytes);
    page.set(cached);
    return page;
  }

  /**
   * Like `read` for many images, with one disk read per run of adjacent slots (a snapshot of a whole
   * segment). Returns the pages in the order of `items`; throws like `read` at the first bad one.
   */
  async readMany(
    items: readonly {
      readonly slot: number;
      readonly segmentNumber: number;
      readonly pageNo: number;
      readonly lsn: bigint;
    }[],
  ): Promise<Uint8Array[]> {
    const pages: Uint8Array[] = new Array(items.length);
    const order = items.map((_, index) => index).sort((a, b) => items[a]!.slot - items[b]!.slot);
    for (let start = 0; start < order.length; ) {
      let end = start + 1;
      while (
        end < order.length &&
        items[order[end]!]!.slot === items[order[end - 1]!]!.slot + 1 &&
        (end - start) * this.slotBytes < BULK_IO_BYTES_MAX
      )
        end++;
      const first = items[order[start]!]!;
      assert(first.slot + (end - start) <= this.#slotCount, `read of slot ${first.slot} past the end`);
      const bytes = await this.#file.read(this.#slotOffset(first.slot), (end - start) * this.slotBytes);
      for (let index = start; index < end; index++) {
        const item = items[order[index]!]!;
        const offset = (index - start) * this.slotBytes;
        pages[order[index]!] = checkedPage(
          bytes.subarray(offset, offset + this.slotBytes),
          this.slotBytes,
          item,
        );
      }
      start = end;
    }
    return pages;
  }

  /**
   * The raw bytes of `slots` (ascending; identity, page, identity each), unchecked: what a peer
   * snapshot ships, for the receiver to check end to end (`decodeSlotImage`). Returned as pieces whose
   * concatenation is the slots in order, each a view of one disk read (at most `BULK_IO_BYTES_MAX`):
   * a read that covered unwanted slots between wanted ones has the wanted ones moved to its front in
   * place, so no byte is copied to another buffer on its way from the disk to the socket.
   */
  async readSlotsRaw(slots: readonly number[]): Promise<Uint8Array[]> {
    const slotBytes = this.slotBytes;
    const pieces: Uint8Array[] = [];
    for (let start = 0; start < slots.length; ) {
      // One read covers slots close enough together: reading a few unwanted slots between them costs
      // less than another system call (a segment's slots are scattered by copy-on-write).
      const first = slots[start]!;
      let end = start + 1;
      while (
        end < slots.length &&
        slots[end]! - slots[end - 1]! <= RAW_READ_GAP_SLOTS_MAX &&
        (slots[end]! - first + 1) * slotBytes <= BULK_IO_BYTES_MAX
      ) {
        assert(slots[end]! > slots[end - 1]!, 'raw slot reads must be ascending');
        end++;
      }
      const last = slots[end - 1]!;
      assert(last < this.#slotCount, `read of slot ${last} past the end`);
      const span = (last - first + 1) * slotBytes;
      const bytes = await this.#file.read(this.#slotOffset(first), span);
      if (bytes.length !== span)
        throw new NorthlightError('NL_DECODE_CHECKSUM', 'the page store ends inside a slot', { slot: first });
      for (let index = start; index < end; index++) {
        const from = (slots[index]! - first) * slotBytes;
        const to = (index - start) * slotBytes;
        if (from !== to) bytes.copyWithin(to, from, from + slotBytes);
      }
      pieces.push(bytes.subarray(0, (end - start) * slotBytes));
      start = end;
    }
    return pieces;
  }

  /** The slot's image is superseded (P2): it becomes free at the next `releaseQuarantine` (P3). */
  free(slot: number): void {
    this.#forget(slot);
    this.#quarantined.push(slot);
  }

  /** A slot written by a step that was abandoned: nothing can be reading it, free at once. */
  freeUnused(slot: number): void {
    this.#forget(slot);
    this.#free.push(slot);
  }

  /** Called by the owner when no page read is in flight (P3). */
  releaseQuarantine(): void {
    if (this.#quarantined.length === 0) return;
    this.#free.push(...this.#quarantined);
    this.#free.sort((a, b) => b - a);
    this.#quarantined = [];
  }

  async close(): Promise<void> {
    await this.#file.close();
  }

  get path(): string {
    return this.#path;
  }
}

function encodeHeader(pageSizeBytes: number): Uint8Array {
  const bytes = new Uint8Array(PAGE_STORE_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, FILE_MAGIC, true);
  view.setUint16(4, PAGE_STORE_FORMAT_VERSION, true);
  view.setUint32(8, pageSizeBytes, true);
  view.setUint32(60, crc32c(bytes.subarray(0, 60)), true);
  return bytes;
}

/** The page size a valid header records, else undefined. */
function decodeHeader(bytes: Uint8Array): number | undefined {
  if (bytes.length < PAGE_STORE_HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAGE_STORE_HEADER_BYTES);
  if (view.getUint32(0, true) !== FILE_MAGIC) return undefined;
  if (view.getUint32(60, true) !== crc32c(bytes.subarray(0, 60))) return undefined;
  if (view.getUint16(4, true) !== PAGE_STORE_FORMAT_VERSION) return undefined;
  return view.getUint32(8, true);
}

/**
 * A slot's image, checked (an identity copy readable, the page matching its CRC32C), without copying
 * the page; undefined if it is not intact. For a slot that came from elsewhere (a peer snapshot).
 */
export function decodeSlotImage(
  bytes: Uint8Array,
):
  | { readonly pageNo: number; readonly lsn: bigint; readonly crc: number; readonly page: Uint8Array }
  | undefined {
  if (bytes.length <= 2 * PAGE_SLOT_IDENTITY_BYTES) return undefined;
  const decoded = decodeSlot(bytes, false);
  if (decoded?.page === undefined) return undefined;
  const { identity, page } = decoded;
  return { pageNo: identity.pageNo, lsn: identity.lsn, crc: identity.pageCrc, page };
}

/** A slot's bytes for an image (what `readSlotsRaw` returns for it): for tests and tools. */
export function encodeSlotImage(
  segmentNumber: number,
  pageNo: number,
  lsn: bigint,
  page: Uint8Array,
): Uint8Array {
  return encodeSlot(segmentNumber, pageNo, lsn, page);
}

/** At most this many bytes in one bulk read or write. */
const BULK_IO_BYTES_MAX = 1024 * 1024;
/** A raw read spans a gap of at most this many unwanted slots (128 KiB of 4 KiB pages). */
const RAW_READ_GAP_SLOTS_MAX = 32;

/** The page of a slot's bytes if it is the image it should be (CRC and identity), else NL_DECODE_CHECKSUM. */
function checkedPage(
  bytes: Uint8Array,
  slotBytes: number,
  expected: {
    readonly slot: number;
    readonly segmentNumber: number;
    readonly pageNo: number;
    readonly lsn: bigint;
  },
): Uint8Array {
  const decoded = bytes.length === slotBytes ? decodeSlot(bytes) : undefined;
  const identity = decoded?.identity;
  if (
    decoded?.page === undefined ||
    identity?.segmentNumber !== expected.segmentNumber ||
    identity.pageNo !== expected.pageNo ||
    identity.lsn !== expected.lsn
  ) {
    throw new NorthlightError('NL_DECODE_CHECKSUM', 'page image failed its CRC32C or identity check', {
      slot: expected.slot,
      pageNo: expected.pageNo,
      lsn: expected.lsn,
    });
  }
  return decoded.page;
}

function encodeIdentity(segmentNumber: number, pageNo: number, lsn: bigint, pageCrc: number): Uint8Array {
  const bytes = new Uint8Array(PAGE_SLOT_IDENTITY_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SLOT_MAGIC, true);
  view.setUint32(4, segmentNumber, true);
  view.setUint32(8, pageNo, true);
  view.setBigUint64(16, lsn, true);
  view.setUint32(24, pageCrc, true);
  view.setUint32(28, crc32c(bytes.subarray(0, 28)), true);
  return bytes;
}

/** Writes a slot's identity, both copies, into the slot's own bytes (`bytes` is the whole slot). */
function stampIdentity(
  bytes: Uint8Array,
  segmentNumber: number,
  pageNo: number,
  lsn: bigint,
  pageCrc: number,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAGE_SLOT_IDENTITY_BYTES);
  view.setUint32(0, SLOT_MAGIC, true);
  view.setUint32(4, segmentNumber, true);
  view.setUint32(8, pageNo, true);
  view.setUint32(12, 0, true);
  view.setBigUint64(16, lsn, true);
  view.setUint32(24, pageCrc, true);
  view.setUint32(28, crc32c(bytes.subarray(0, 28)), true);
  bytes.copyWithin(bytes.length - PAGE_SLOT_IDENTITY_BYTES, 0, PAGE_SLOT_IDENTITY_BYTES);
}

interface SlotIdentity {
  readonly segmentNumber: number;
  readonly pageNo: number;
  readonly lsn: bigint;
  readonly pageCrc: number;
}

function decodeIdentity(bytes: Uint8Array): SlotIdentity | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAGE_SLOT_IDENTITY_BYTES);
  if (view.getUint32(0, true) !== SLOT_MAGIC || view.getUint32(12, true) !== 0) return undefined;
  if (view.getUint32(28, true) !== crc32c(bytes.subarray(0, 28))) return undefined;
  return {
    segmentNumber: view.getUint32(4, true),
    pageNo: view.getUint32(8, true),
    lsn: view.getBigUint64(16, true),
    pageCrc: view.getUint32(24, true),
  };
}

function encodeSlot(
  segmentNumber: number,
  pageNo: number,
  lsn: bigint,
  page: Uint8Array,
  pageCrc = crc32c(page),
): Uint8Array {
  const identity = encodeIdentity(segmentNumber, pageNo, lsn, pageCrc);
  const bytes = new Uint8Array(2 * PAGE_SLOT_IDENTITY_BYTES + page.length);
  bytes.set(identity, 0);
  bytes.set(page, PAGE_SLOT_IDENTITY_BYTES);
  bytes.set(identity, PAGE_SLOT_IDENTITY_BYTES + page.length);
  return bytes;
}

/**
 * The slot's identity (from the header, else the trailer), and its page if the page bytes match their
 * CRC; undefined if neither copy of the identity is readable (never written, torn, or rotten).
 */
function decodeSlot(
  bytes: Uint8Array,
  copy = true,
): { identity: SlotIdentity; page: Uint8Array | undefined } | undefined {
  const trailerStart = bytes.length - PAGE_SLOT_IDENTITY_BYTES;
  const identity =
    decodeIdentity(bytes.subarray(0, PAGE_SLOT_IDENTITY_BYTES)) ??
    decodeIdentity(bytes.subarray(trailerStart));
  if (identity === undefined) return undefined;
  const page = bytes.subarray(PAGE_SLOT_IDENTITY_BYTES, trailerStart);
  if (crc32c(page) !== identity.pageCrc) return { identity, page: undefined };
  return { identity, page: copy ? page.slice() : page };
}
