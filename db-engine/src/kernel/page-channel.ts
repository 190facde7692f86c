/**
 * The page channel: how the worker, in the middle of a synchronous SQLite call, gets a page that only
 * the host thread can fetch (storage I/O is asynchronous). The worker posts a request and blocks in
 * `Atomics.wait` on a SharedArrayBuffer; the host fetches the page, copies it into the buffer and
 * wakes the worker (engine-feasibility §2 Q2 and excerpt F).
 *
 * Shared buffer layout (Int32 words, then bytes):
 *
 *   word 0  PENDING   id of the outstanding request; -id while the host copies its answer; 0 if none
 *   word 1  PAGE_NO   page of the outstanding request
 *   word 2  DONE      id of the last answered request (the worker waits on this word)
 *   word 3  STATUS    1 = page, 2 = failure
 *   word 4  LENGTH    bytes of the failure message
 *   bytes 32…4127     the page
 *   bytes 4128…5151   the failure message (UTF-8, truncated)
 *
 * Races, each resolved by one compare-and-exchange on PENDING:
 *  R1. The host answers after the worker gave up (timeout): the worker swapped PENDING from id to 0
 *      before giving up, so the host's swap from id to -id fails and the late answer is dropped.
 *  R2. The worker's deadline passes while the host is copying: the host swapped id to -id first, so
 *      the worker's swap fails and it waits for DONE, which the host sets without awaiting anything.
 *  R3. A late answer to an old request while a newer one is pending: ids differ, so the swap fails.
 */
import { assert } from '@northlight/protocol';
import { PAGE_SIZE_BYTES, type PageReadResult, type PageSource } from './redo-vfs.js';

const PENDING = 0;
const PAGE_NO = 1;
const DONE = 2;
const STATUS = 3;
const LENGTH = 4;
const STATUS_PAGE = 1;
const STATUS_FAILURE = 2;
const HEADER_BYTES = 32;
const MESSAGE_BYTES_MAX = 1024;
const CHANNEL_BYTES = HEADER_BYTES + PAGE_SIZE_BYTES + MESSAGE_BYTES_MAX;
/** Ids wrap before they would collide with the negative "being answered" marker. */
const REQUEST_ID_MAX = 0x7fff_ffff;
/** After a deadline, how long each wait for an answer already being copied lasts (R2). */
const CLAIMED_WAIT_MS = 100;

export function createPageChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CHANNEL_BYTES);
}

/** The worker's side: a synchronous `PageSource` that blocks until the host answers or time runs out. */
export class PageChannelClient implements PageSource {
  readonly #words: Int32Array;
  readonly #page: Uint8Array;
  readonly #message: Uint8Array;
  readonly #timeoutMs: number;
  readonly #postRequest: (requestId: number, pageNo: number) => void;
  readonly #now: () => number;
  #lastRequestId = 0;

  constructor(
    buffer: SharedArrayBuffer,
    options: {
      readonly timeoutMs: number;
      readonly postRequest: (requestId: number, pageNo: number) => void;
      readonly now: () => number;
    },
  ) {
    assert(buffer.byteLength === CHANNEL_BYTES, 'page channel buffer has the wrong size');
    assert(options.timeoutMs > 0, `page read timeout must be positive, not ${options.timeoutMs}`);
    this.#words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#page = new Uint8Array(buffer, HEADER_BYTES, PAGE_SIZE_BYTES);
    this.#message = new Uint8Array(buffer, HEADER_BYTES + PAGE_SIZE_BYTES, MESSAGE_BYTES_MAX);
    this.#timeoutMs = options.timeoutMs;
    this.#postRequest = options.postRequest;
    this.#now = options.now;
  }

  readPage(pageNo: number): PageReadResult {
    const words = this.#words;
    const id = this.#lastRequestId === REQUEST_ID_MAX ? 1 : this.#lastRequestId + 1;
    this.#lastRequestId = id;
    Atomics.store(words, PAGE_NO, pageNo);
    Atomics.store(words, PENDING, id);
    this.#postRequest(id, pageNo);
    const deadline = this.#now() + this.#timeoutMs;
    for (;;) {
      const done = Atomics.load(words, DONE);
      if (done === id) break;
      const remainingMs = deadline - this.#now();
      if (remainingMs > 0) {
        Atomics.wait(words, DONE, done, remainingMs);
        continue;
      }
      if (Atomics.compareExchange(words, PENDING, id, 0) === id) {
        return { ok: false, message: `no answer within ${this.#timeoutMs} ms (pageReadTimeoutMs)` }; // R1
      }
      Atomics.wait(words, DONE, done, CLAIMED_WAIT_MS); // R2
    }
    if (Atomics.load(words, STATUS) === STATUS_PAGE) return { ok: true, page: this.#page.slice() };
    const length = Atomics.load(words, LENGTH);
    return { ok: false, message: new TextDecoder().decode(this.#message.subarray(0, length)) };
  }
}

/**
 * The host's side: answers request `requestId` with a page or a failure message. False when the
 * worker no longer waits for it (R1, R3); the answer is then dropped.
 */
export function answerPageRequest(
  buffer: SharedArrayBuffer,
  requestId: number,
  answer: { readonly page: Uint8Array } | { readonly failure: string },
): boolean {
  const words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  if (Atomics.compareExchange(words, PENDING, requestId, -requestId) !== requestId) return false;
  if ('page' in answer) {
    assert(answer.page.length === PAGE_SIZE_BYTES, `a page has ${PAGE_SIZE_BYTES} bytes`);
    new Uint8Array(buffer, HEADER_BYTES, PAGE_SIZE_BYTES).set(answer.page);
    Atomics.store(words, STATUS, STATUS_PAGE);
  } else {
    const target = new Uint8Array(buffer, HEADER_BYTES + PAGE_SIZE_BYTES, MESSAGE_BYTES_MAX);
    const { written } = new TextEncoder().encodeInto(answer.failure, target);
    Atomics.store(words, LENGTH, written);
    Atomics.store(words, STATUS, STATUS_FAILURE);
  }
  Atomics.store(words, PENDING, 0);
  Atomics.store(words, DONE, requestId);
  Atomics.notify(words, DONE);
  return true;
}

/** The page the worker is waiting for, if it still waits for `requestId` (to skip stale fetches). */
export function isPageRequestPending(buffer: SharedArrayBuffer, requestId: number): boolean {
  return Atomics.load(new Int32Array(buffer, 0, HEADER_BYTES / 4), PENDING) === requestId;
}
