/**
 * The cancel channel: how the host stops a statement that is already running in the worker (a
 * statement timeout, a PostgreSQL CancelRequest, an HTTP client that hung up). The worker runs a request
 * without yielding, so a message would only be read after it ends; instead the host writes the
 * request's id into a SharedArrayBuffer, and SQLite's progress handler (sql-session.ts), called every
 * few thousand virtual-machine steps, looks for the running request's id there and interrupts it.
 *
 * Why it matters: the kernel has one SQLite connection. Without this, one runaway query (a recursive
 * CTE without a bound, a cross join of large tables) holds it forever and every other client of the
 * engine waits behind it: the writer is down until restarted.
 *
 * Layout (Int32 words): word 0 is the next slot to write; words 1…SLOTS hold the ids of the last SLOTS
 * requests cancelled, written round robin. Ids are the host's, increasing and not reused within 2^31
 * requests of a kernel, so an old id left in a slot never matches a later request. SLOTS bounds how many requests may
 * be cancelled while queued in the worker before the oldest cancel is forgotten (the host also answers
 * a request it cancels before sending it, so only requests already posted need a slot).
 */
import { assert } from '@northlight/protocol';

/** Cancelled ids remembered at once. */
export const CANCEL_SLOTS = 64;
const NEXT = 0;

export function createCancelChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer((1 + CANCEL_SLOTS) * Int32Array.BYTES_PER_ELEMENT);
}

/** The host's side. */
export class CancelChannelWriter {
  readonly #words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer);
    assert(this.#words.length === 1 + CANCEL_SLOTS, 'cancel channel of the wrong size');
  }

  cancel(requestId: number): void {
    assert(Number.isSafeInteger(requestId) && requestId > 0, 'bad request id');
    const slot = Atomics.load(this.#words, NEXT);
    Atomics.store(this.#words, 1 + slot, wordOf(requestId));
    Atomics.store(this.#words, NEXT, (slot + 1) % CANCEL_SLOTS);
  }
}

/** The worker's side: whether a request was cancelled (cheap enough for every progress callback). */
export class CancelChannelReader {
  readonly #words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer);
    assert(this.#words.length === 1 + CANCEL_SLOTS, 'cancel channel of the wrong size');
  }

  isCancelled(requestId: number): boolean {
    const word = wordOf(requestId);
    for (let slot = 1; slot <= CANCEL_SLOTS; slot++)
      if (Atomics.load(this.#words, slot) === word) return true;
    return false;
  }
}

/** Ids past 2^31 wrap (never to 0, the empty slot): two ids share a word only 2^31 requests apart. */
function wordOf(requestId: number): number {
  return (requestId % 0x7fff_ffff) + 1;
}
