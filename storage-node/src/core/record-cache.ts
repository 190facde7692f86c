/**
 * The decoded form of recently appended records, kept in memory so that the first readers of a record
 * (materialization, a page read, a peer's gossip pull, staging to S3) do not read it back from the node
 * log and decode it again. Materialization alone reads every record once; from disk that was one read
 * call and one decode per record, the largest cost of a loaded node after the append itself.
 *
 * Bounded: at most `budgetBytes` of records (counted by their log entry size), oldest dropped first.
 * A record that is no longer cached is read from the log as before, so the bound trades memory for
 * I/O and never correctness. Keys are the index entries themselves: a record re-indexed (replay, a
 * rebuild) is a new entry and a miss.
 *
 * What it does not replace: the scrubber reads the log itself (it exists to find rot on disk). A record
 * served from here is exactly what was received, checked and made durable; a bit flipped on disk since
 * is found by the scrubber, or by the first read after the record left the cache.
 *
 * Decoded records may hold views into received frames (bytes-pool.ts: slab space is never reused), so
 * the memory pinned can exceed the bytes counted by up to a frame per cached record's frame; frames
 * are at most a few hundred KiB and records of one frame are cached and dropped together.
 */
import type { RedoRecord } from '@northlight/protocol';
import type { IndexedRecord } from './segment.js';

export class RecordCache {
  readonly #entries = new Map<IndexedRecord, { readonly record: RedoRecord; readonly bytes: number }>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(readonly budgetBytes: number) {}

  remember(indexed: IndexedRecord, record: RedoRecord): void {
    const bytes = indexed.location.entryBytes;
    if (bytes > this.budgetBytes || this.#entries.has(indexed)) return;
    this.#entries.set(indexed, { record, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.budgetBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  /** The record if cached (counted as a hit or a miss). */
  get(indexed: IndexedRecord): RedoRecord | undefined {
    const entry = this.#entries.get(indexed);
    if (entry === undefined) this.#misses++;
    else this.#hits++;
    return entry?.record;
  }

  forget(indexed: IndexedRecord): void {
    const entry = this.#entries.get(indexed);
    if (entry === undefined) return;
    this.#entries.delete(indexed);
    this.#bytes -= entry.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get stats(): {
    readonly records: number;
    readonly bytes: number;
    readonly hits: number;
    readonly misses: number;
  } {
    return { records: this.#entries.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }
}
