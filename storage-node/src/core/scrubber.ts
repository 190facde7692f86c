/**
 * Scrub (paper §3.3 step 8): re-reads every stored log entry and page image and checks its CRC32C,
 * in bounded steps (`scrubItemsPerStep` items each), so a pass never holds the node for long. A bad
 * record is dropped from its segment's index (the SCL falls below it; a peer fills the gap once
 * gossip exists) and a bad image makes its page unreadable; both are listed in `status().damage`
 * (`Storage.recordDamaged` / `pageDamaged`).
 *
 * A pass walks a snapshot of the segments and, per segment, of its records and images; an item that
 * was dropped or replaced since (GC, a newer image, a drop) is skipped, never read (it may be freed).
 */
import type { Environment } from '@northlight/protocol';
import { isDecodeError } from './materializer.js';
import type { IndexedRecord, Segment } from './segment.js';
import type { Storage } from './storage.js';

export interface ScrubReport {
  readonly recordsVerified: number;
  readonly pagesVerified: number;
  readonly damagedRecords: number;
  readonly damagedPages: number;
}

type ScrubItem =
  | { readonly kind: 'record'; readonly segment: Segment; readonly record: IndexedRecord }
  | { readonly kind: 'page'; readonly segment: Segment; readonly pageNo: number; readonly slot: number };

export class ScrubPass {
  readonly #segments: Segment[];
  #segmentIndex = 0;
  #items: ScrubItem[] = [];
  #itemIndex = 0;
  recordsVerified = 0;
  pagesVerified = 0;
  damagedRecords = 0;
  damagedPages = 0;

  constructor(storage: Storage) {
    this.#segments = [...storage.segments.values()];
  }

  get done(): boolean {
    return this.#segmentIndex >= this.#segments.length && this.#itemIndex >= this.#items.length;
  }

  report(): ScrubReport {
    return {
      recordsVerified: this.recordsVerified,
      pagesVerified: this.pagesVerified,
      damagedRecords: this.damagedRecords,
      damagedPages: this.damagedPages,
    };
  }

  /** Verifies up to `itemsMax` items. Disk errors propagate (the core reloads). */
  async step(env: Environment, storage: Storage, itemsMax: number): Promise<void> {
    let verified = 0;
    while (verified < itemsMax && !this.done) {
      if (this.#itemIndex >= this.#items.length) {
        this.#items = itemsOf(this.#segments[this.#segmentIndex++]!);
        this.#itemIndex = 0;
        continue;
      }
      const item = this.#items[this.#itemIndex++]!;
      if (await storage.pinned(() => this.#verify(env, storage, item))) verified++;
    }
  }

  /** Returns false if the item is gone (nothing was read). */
  async #verify(env: Environment, storage: Storage, item: ScrubItem): Promise<boolean> {
    const segment = item.segment;
    if (segment.dropped) return false;
    if (item.kind === 'record') {
      if (segment.get(item.record.lsn) !== item.record) return false;
      try {
        await storage.readRecord(segment, item.record, true);
      } catch (error) {
        if (!isDecodeError(error)) throw error;
        storage.recordDamaged(env, segment, item.record, 'scrub');
        this.damagedRecords++;
      }
      this.recordsVerified++;
      return true;
    }
    const image = segment.pages.get(item.pageNo);
    if (image === undefined || image.slot !== item.slot || segment.damagedPages.has(item.pageNo))
      return false;
    try {
      await storage.pageStore.read(image.slot, segment.control.number, item.pageNo, image.lsn, {
        fromDisk: true, // the medium itself, not the image cache (P5)
      });
    } catch (error) {
      if (!isDecodeError(error)) throw error;
      storage.pageDamaged(env, segment, item.pageNo, 'scrub');
      this.damagedPages++;
    }
    this.pagesVerified++;
    return true;
  }
}

function itemsOf(segment: Segment): ScrubItem[] {
  const items: ScrubItem[] = segment.allRecords().map((record) => ({ kind: 'record', segment, record }));
  for (const [pageNo, image] of segment.pages)
    items.push({ kind: 'page', segment, pageNo, slot: image.slot });
  return items;
}
