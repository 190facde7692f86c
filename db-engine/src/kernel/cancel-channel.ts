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
 *
 * Claims (words 1+CANCEL_SLOTS … CLAIM_SLOTS more): who decides a queued request's fate, the worker
 * starting it or the host giving up on it (a wait limit reached, a cancel while it waits). The slot
 * of id N is N mod CLAIM_SLOTS; the worker moves it to +word(N) just before it starts request N, the
 * host to −word(N) when it gives up on request N, each with a compare-and-exchange that fails if the
 * other came first. So exactly one of them wins:
 *   1. the worker wins: the request runs, and the host's give-up fails (it falls back to a cancel,
 *      which stops the statement mid-way, or to nothing for a wait limit: it started in time);
 *   2. the host wins: it answers the request at once (55P03 or 57014) and the worker, finding −word(N),
 *      skips it without a reply: it never ran, so the answer is true.
 * Requests in flight at once must map to distinct slots: the host keeps fewer than CLAIM_SLOTS
 * requests posted and unanswered (`maxPendingRequests` is checked against it at start).
 */
import { assert } from '@northlight/protocol';

/** Cancelled ids remembered at once. */
export const CANCEL_SLOTS = 64;
/** Claim slots: more than the requests the host ever has posted and unanswered at once. */
export const CLAIM_SLOTS = 16_384;
const NEXT = 0;
const CLAIMS = 1 + CANCEL_SLOTS;
const WORDS = CLAIMS + CLAIM_SLOTS;

export function createCancelChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(WORDS * Int32Array.BYTES_PER_ELEMENT);
}

/** Moves request `requestId`'s claim slot to `to` unless it already holds `refused`; whether it did. */
function claimSlot(words: Int32Array, requestId: number, to: number, refused: number): boolean {
  const slot = CLAIMS + (requestId % CLAIM_SLOTS);
  for (;;) {
    const current = Atomics.load(words, slot);
    if (current === refused) return false;
    if (current === to) return true;
    if (Atomics.compareExchange(words, slot, current, to) === current) return true;
  }
}

/** The host's side. */
export class CancelChannelWriter {
  readonly #words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer);
    assert(this.#words.length === WORDS, 'cancel channel of the wrong size');
  }

  /**
   * Gives up on queued request `requestId` before the worker starts it: true when the host won (the
   * worker will skip it), false when the worker has started it already.
   */
  abandon(requestId: number): boolean {
    assert(Number.isSafeInteger(requestId) && requestId > 0, 'bad request id');
    const word = wordOf(requestId);
    return claimSlot(this.#words, requestId, -word, word);
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
    assert(this.#words.length === WORDS, 'cancel channel of the wrong size');
  }

  /** Claims request `requestId` to start it: false when the host gave up on it (skip it, no reply). */
  claim(requestId: number): boolean {
    const word = wordOf(requestId);
    return claimSlot(this.#words, requestId, word, -word);
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
