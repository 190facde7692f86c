/**
 * `KernelHost`: the main thread's handle on the SQL kernel, SQLite-in-wasm running in a worker thread
 * (worker.ts) over the redo VFS (redo-vfs.ts). The rest of the engine talks to the kernel only here:
 *
 *   execute(request)        → Promise<ExecuteReply>: the request's statements as ONE transaction
 *   onGroup(group)          ← each committed write transaction's redo group (one MTR), in seal order
 *   assignLsns(seq, lsns)   → the LSN of each record of group `seq`, in record order, groups in order
 *   setVdl(vdl)             → the volume durable LSN: pages whose newest LSN ≤ VDL become evictable
 *   setAccepting(false)     → commits are refused (57P03) until set back: quorum lost, LAL reached
 *   pageSource(pageNo)      ← the kernel's page misses; answer with 4096 bytes as of the read point
 *
 * Ordering guarantee: `onGroup` is called synchronously, in seal order, before the promise of the
 * request whose commit sealed the group resolves (and before any later reply). A reply carries
 * `groupSeq` (its own group, if it wrote) and `visibleThroughSeq` (every group it may have read from):
 * Aurora-style, the engine must hold the reply until those groups are durable (VDL ≥ their LSNs).
 * Group sequence numbers are this kernel's own: 1, 2, 3… from each start, with no gap.
 *
 * Memory: the buffer cache holds `cachePages` pages plus every page not yet durable (it cannot drop
 * those: C1 in page-cache.ts); SQLite's own cache (`sqliteCachePages`) and, during a transaction, its
 * dirty pages and their journal copies live in the wasm heap, which never shrinks (feasibility §2).
 *
 * Failure: a page the source cannot give (rejection, or no answer within `pageReadTimeoutMs`) fails
 * the statement with 58030 and the kernel serves the next request. A dead worker (an assertion, a
 * crash) fails every pending and later call with an Error: the engine should restart the kernel.
 *
 * Starting under tsx or vitest: on Node 20 a worker thread does not inherit tsx's loader hooks, so a
 * `.ts` worker is started from an eval'd bootstrap that registers tsx (`tsx/esm/api`) and then
 * imports it (the pattern of storage-node/scripts/bench.ts). A compiled `.js` build starts directly.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AssertionError, assert, type PageNo } from '@northlight/protocol';
import { bundledEntry } from '@northlight/protocol/io';
import { CancelChannelWriter, CLAIM_SLOTS, createCancelChannelBuffer } from './cancel-channel.js';
import {
  decodeGroupMessage,
  type ExecuteReply,
  type ExecuteRequest,
  encodeGroupMessage,
  type HostCommand,
  type KernelStats,
  type KernelWorkerData,
  type SealedGroup,
  type WorkerAnswer,
  type WorkerToHostMessage,
} from './messages.js';
import { answerPageRequest, createPageChannelBuffer, isPageRequestPending } from './page-channel.js';
import { PAGE_SIZE_BYTES, type PageRecord } from './redo-vfs.js';
import type { SqlError } from './sql-errors.js';
import {
  DEFAULT_MAX_GROUP_PAGES,
  DEFAULT_MAX_RESULT_ROWS,
  DEFAULT_MAX_UNASSIGNED_GROUPS,
  DEFAULT_SQLITE_CACHE_PAGES,
  STATEMENT_CANCELED_MESSAGE,
} from './sql-session.js';

export interface KernelHostOptions {
  /**
   * Storage's image of a page at the current read point: 4096 bytes, zeros if never written. On a
   * replica, `tag` is the apply the kernel is at (undefined before the first): read at its read points.
   */
  readonly pageSource: (pageNo: PageNo, tag?: bigint) => Promise<Uint8Array>;
  /** Each sealed group, synchronously and in order (see the ordering guarantee above). */
  readonly onGroup: (group: SealedGroup) => void;
  /** Capacity of the kernel's buffer cache in 4 KiB pages (it grows past it only while pages are pinned). */
  readonly cachePages: number;
  /** A page read not answered within this fails its statement (58030). */
  readonly pageReadTimeoutMs: number;
  /** A transaction changing more pages is refused with 54000. Default 50 000. */
  readonly maxGroupPages?: number;
  /** Commits are refused (57P03) while this many groups wait for `assignLsns`. Default 10 000. */
  readonly maxUnassignedGroups?: number;
  /** Ship whole pages instead of diffs (the benchmark's page-shipping comparison). Default false. */
  readonly shipFullPages?: boolean;
  /** A statement returning more rows fails with 54000. Default 1 000 000. */
  readonly maxResultRows?: number;
  /** SQLite's own page cache in pages. Default 500. */
  readonly sqliteCachePages?: number;
  /** `execute` calls in flight beyond this are refused at once (53000). Default 10 000. */
  readonly maxPendingRequests?: number;
  /** Loading wasm and opening the database must finish within this. Default 30 000 ms. */
  readonly startTimeoutMs?: number;
  /** A read replica's kernel: read-only, fed with `applyRecords` (sql-session.ts). Default false. */
  readonly replica?: boolean;
  /** Replica: the kernel applied the records tagged `tag`; requests from now on see them. */
  readonly onApplied?: (tag: bigint) => void;
  /** Internal (`prepare`): the worker loads, then waits for `open`. */
  readonly waitForOpen?: boolean;
}

/** What a spare kernel is given when it opens: where its pages come from and where its groups go. */
export type KernelBinding = Pick<KernelHostOptions, 'pageSource' | 'onGroup' | 'onApplied'>;

/**
 * A spare kernel (`KernelHost.prepare`): its worker has loaded the kernel's code and SQLite's wasm and
 * waits. `open` opens the volume through the binding it is given and resolves once the kernel serves:
 * a few tens of ms, where a cold start costs the worker's whole start (hundreds of ms here). A replica
 * keeps one, so that its promotion to writer does not wait for a kernel to start.
 */
export interface PreparedKernel {
  open(binding: KernelBinding): Promise<KernelHost>;
  close(): Promise<void>;
}

export interface KernelStarted {
  readonly sizePages: number;
  readonly sqliteVersion: string;
}

const DEFAULT_MAX_PENDING_REQUESTS = 10_000;

const CANCELED_BEFORE_START: SqlError = {
  code: 'SQLITE_INTERRUPT',
  sqlstate: '57014',
  message: STATEMENT_CANCELED_MESSAGE,
};

/** The reply of a request answered without running: it read nothing, so no durability to wait for. */
function notStarted(error: SqlError): ExecuteReply {
  // visibleThroughSeq 0: during a quorum loss the durability wait would turn this answer into a
  // quorum-lost error.
  return { ok: false, error, visibleThroughSeq: 0 };
}
const DEFAULT_START_TIMEOUT_MS = 30_000;

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

export class KernelHost {
  readonly #worker: Worker;
  readonly #pageChannel: SharedArrayBuffer;
  readonly #cancels: CancelChannelWriter;
  readonly #pageSource: (pageNo: PageNo, tag?: bigint) => Promise<Uint8Array>;
  readonly #onApplied: ((tag: bigint) => void) | undefined;
  readonly #onGroup: (group: SealedGroup) => void;
  readonly #maxPendingRequests: number;
  readonly #replies = new Map<number, Waiter<ExecuteReply>>();
  /** Requests answered without running (given up on), until the worker says it skipped them. */
  readonly #abandoned = new Set<number>();
  readonly #statsWaiters = new Map<number, Waiter<KernelStats>>();
  readonly #exited: Promise<void>;
  #started: Waiter<KernelStarted> | undefined;
  #nextId = 1;
  #lastGroupSeq = 0;
  /** Commands of this tick, posted together in a microtask (a message costs more than a command). */
  #outbox: HostCommand[] = [];
  /** Set once the worker is gone: every later call fails with it. */
  #failure: Error | undefined;

  private constructor(options: KernelHostOptions, started: Waiter<KernelStarted>) {
    assert(Number.isInteger(options.cachePages) && options.cachePages >= 1, 'cachePages must be ≥ 1');
    assert(options.pageReadTimeoutMs > 0, 'pageReadTimeoutMs must be positive');
    this.#pageSource = options.pageSource;
    this.#onGroup = options.onGroup;
    this.#onApplied = options.onApplied;
    this.#maxPendingRequests = options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS;
    // Every request the worker has not passed yet needs a claim slot of its own (cancel-channel.ts).
    assert(
      this.#maxPendingRequests + 1_000 < CLAIM_SLOTS,
      'maxPendingRequests must stay below the claim slots',
    );
    this.#pageChannel = createPageChannelBuffer();
    const cancelChannel = createCancelChannelBuffer();
    this.#cancels = new CancelChannelWriter(cancelChannel);
    this.#started = started;
    const data: KernelWorkerData = {
      pageChannel: this.#pageChannel,
      cancelChannel,
      cachePages: options.cachePages,
      pageReadTimeoutMs: options.pageReadTimeoutMs,
      maxGroupPages: options.maxGroupPages ?? DEFAULT_MAX_GROUP_PAGES,
      maxUnassignedGroups: options.maxUnassignedGroups ?? DEFAULT_MAX_UNASSIGNED_GROUPS,
      shipFullPages: options.shipFullPages === true,
      maxResultRows: options.maxResultRows ?? DEFAULT_MAX_RESULT_ROWS,
      sqliteCachePages: options.sqliteCachePages ?? DEFAULT_SQLITE_CACHE_PAGES,
      replica: options.replica === true,
      waitForOpen: options.waitForOpen === true,
    };
    const entry = workerEntry();
    this.#worker = new Worker(entry.source, { eval: entry.eval, workerData: data });
    this.#worker.on('message', (message: WorkerToHostMessage) => this.#onMessage(message));
    this.#worker.on('error', (error: Error) =>
      this.#fail(new Error(`the SQL kernel worker failed: ${error.message}`, { cause: error })),
    );
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', (code: number) => {
        this.#fail(new Error(`the SQL kernel worker exited (code ${code})`));
        resolve();
      }),
    );
  }

  /** A spare kernel with `options` (see `PreparedKernel`); nothing is read until it opens. */
  static prepare(options: Omit<KernelHostOptions, keyof KernelBinding | 'waitForOpen'>): PreparedKernel {
    let binding: KernelBinding | undefined;
    let host: KernelHost | undefined;
    const started = new Promise<KernelStarted>((resolve, reject) => {
      host = new KernelHost(
        {
          ...options,
          waitForOpen: true,
          pageSource: (pageNo, tag) => binding!.pageSource(pageNo, tag),
          onGroup: (group) => binding!.onGroup(group),
          onApplied: (tag) => binding?.onApplied?.(tag),
        },
        { resolve, reject },
      );
    });
    started.catch(() => {}); // reported by `open`
    return {
      open: async (given) => {
        binding = given;
        host!.#post({ type: 'open' });
        return host!.#whenStarted(started, options.startTimeoutMs, 'open');
      },
      close: () => host!.close(),
    };
  }

  /** Starts the worker, loads SQLite and opens the volume's database (reading page 0 through `pageSource`). */
  static async start(options: KernelHostOptions): Promise<KernelHost> {
    let host: KernelHost | undefined;
    const started = new Promise<KernelStarted>((resolve, reject) => {
      host = new KernelHost(options, { resolve, reject });
    });
    return host!.#whenStarted(started, options.startTimeoutMs, 'start');
  }

  /** This host once `started` resolves within the timeout; else it is closed and the error thrown. */
  async #whenStarted(
    started: Promise<KernelStarted>,
    startTimeoutMs: number | undefined,
    what: 'start' | 'open',
  ): Promise<KernelHost> {
    const timeoutMs = startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the SQL kernel did not ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([started, timedOut]);
      return this;
    } catch (error) {
      await this.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the request as one transaction. Resolves with the reply (an SQL failure is a reply with
   * `ok: false`); rejects only when the kernel is closed or its worker died. When `signal` aborts
   * (a statement timeout, a cancel request, a client gone), the request stops where it is, even in the
   * middle of a statement, and fails with 57014, its transaction rolled back; a request that already
   * committed in the kernel is not undone (its reply is the commit's).
   *
   * `startWithinMs`: an autocommit request (no `transaction` step) that the worker has not started
   * within this long (another client's statement is running, or a queue of them) is answered with
   * 55P03 at once and never runs. An autocommit request cancelled before it starts is answered at
   * once too. (A transaction's steps are never given up on this way: the step after them must find
   * the transaction as they left it.)
   */
  execute(request: ExecuteRequest, signal?: AbortSignal, startWithinMs?: number): Promise<ExecuteReply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (signal?.aborted === true) return Promise.resolve(notStarted(CANCELED_BEFORE_START));
    if (this.#replies.size + this.#abandoned.size >= this.#maxPendingRequests) {
      return Promise.resolve({
        ok: false,
        error: {
          code: 'NORTHLIGHT_TOO_MANY_REQUESTS',
          sqlstate: '53000',
          message: `${this.#replies.size} requests are already waiting for the SQL kernel (maxPendingRequests)`,
        },
        visibleThroughSeq: this.#lastGroupSeq,
      });
    }
    const id = this.#nextId++;
    const abandonable = request.transaction === undefined && request.describeOnly !== true;
    const postedAtMs = performance.now();
    return new Promise<ExecuteReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settled = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      /** Answers now without running it, if the worker has not started it: whether it could. */
      const giveUp = (error: SqlError): boolean => {
        if (!abandonable || !this.#replies.has(id) || !this.#cancels.abandon(id)) return false;
        this.#replies.delete(id);
        this.#abandoned.add(id);
        settled();
        resolve(notStarted(error));
        return true;
      };
      const onAbort = (): void => {
        if (!giveUp(CANCELED_BEFORE_START)) this.#cancels.cancel(id);
      };
      this.#replies.set(id, {
        resolve: (reply) => {
          settled();
          resolve(reply);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (abandonable && startWithinMs !== undefined && startWithinMs > 0) {
        timer = setTimeout(() => {
          giveUp({
            code: 'NORTHLIGHT_LOCK_TIMEOUT',
            sqlstate: '55P03',
            message: `canceling statement due to lock timeout: waited ${Math.round(performance.now() - postedAtMs)} ms for the SQL writer while another statement ran on it; nothing was done`,
          });
        }, startWithinMs);
        timer.unref();
      }
      this.#post({ type: 'execute', id, request });
    });
  }

  /** Accepts any bigint: an `Lsn` from the engine passes as is. */
  setVdl(vdl: bigint): void {
    this.#post({ type: 'set-vdl', lsn: vdl.toString() });
  }

  /** The LSNs of group `seq`'s records, one per record in the group's order; groups in seal order. */
  assignLsns(seq: number, lsns: readonly bigint[]): void {
    this.#post({ type: 'assign-lsns', seq, lsns: lsns.map((lsn) => lsn.toString()) });
  }

  /** While false, commits fail with 57P03 and nothing is sealed; `reason` goes into the message. */
  setAccepting(accepting: boolean, reason?: string): void {
    this.#post(
      reason === undefined
        ? { type: 'set-accepting', accepting }
        : { type: 'set-accepting', accepting, reason },
    );
  }

  /**
   * Replica: applies records of whole committed MTRs (LSN order, all at or below `tag`, the VDL they
   * reach) between requests; `onApplied(tag)` follows once requests see them.
   */
  applyRecords(records: readonly PageRecord[], tag: bigint): void {
    this.#post({
      type: 'apply-records',
      tag: tag.toString(),
      group: encodeGroupMessage({ seq: 0, sizePages: 0, records }),
    });
  }

  stats(): Promise<KernelStats> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#statsWaiters.set(id, { resolve, reject });
      this.#post({ type: 'stats', id });
    });
  }

  /** Stops the worker; pending calls fail. Nothing is lost: every sealed group was handed to `onGroup`. */
  async close(): Promise<void> {
    this.#fail(new Error('the SQL kernel is closed'));
    await this.#worker.terminate();
    await this.#exited;
  }

  #post(command: HostCommand): void {
    if (this.#failure !== undefined) return;
    this.#outbox.push(command);
    if (this.#outbox.length === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const commands = this.#outbox;
    this.#outbox = [];
    if (this.#failure === undefined && commands.length > 0)
      this.#worker.postMessage({ type: 'commands', commands });
  }

  #onMessage(message: WorkerToHostMessage): void {
    switch (message.type) {
      case 'read-page':
        this.#readPage(
          message.requestId,
          message.pageNo as PageNo,
          message.tag === undefined ? undefined : BigInt(message.tag),
        );
        return;
      case 'answers':
        for (const answer of message.answers) this.#onAnswer(answer);
        return;
      case 'ready':
        this.#started?.resolve({ sizePages: message.sizePages, sqliteVersion: message.sqliteVersion });
        this.#started = undefined;
        return;
      case 'start-failed':
        this.#started?.reject(new Error(`the SQL kernel could not start: ${message.message}`));
        this.#started = undefined;
        return;
    }
  }

  #onAnswer(answer: WorkerAnswer): void {
    switch (answer.type) {
      case 'reply':
        if (answer.group !== undefined) {
          if (answer.group.seq !== this.#lastGroupSeq + 1) {
            throw new AssertionError(`group ${answer.group.seq} arrived after group ${this.#lastGroupSeq}`);
          }
          this.#lastGroupSeq = answer.group.seq;
          this.#onGroup(decodeGroupMessage(answer.group));
        }
        this.#settle(this.#replies, answer.id)?.resolve(answer.reply);
        return;
      case 'skipped':
        this.#abandoned.delete(answer.id);
        return;
      case 'stats':
        this.#settle(this.#statsWaiters, answer.id)?.resolve(answer.stats);
        return;
      case 'applied':
        this.#onApplied?.(BigInt(answer.tag));
        return;
    }
  }

  #settle<T>(waiters: Map<number, Waiter<T>>, id: number): Waiter<T> | undefined {
    const waiter = waiters.get(id);
    waiters.delete(id);
    return waiter;
  }

  /** Fetches a page for the blocked worker; a late answer (the worker timed out) is dropped. */
  #readPage(requestId: number, pageNo: PageNo, tag: bigint | undefined): void {
    const channel = this.#pageChannel;
    if (!isPageRequestPending(channel, requestId)) return;
    Promise.resolve()
      .then(() => this.#pageSource(pageNo, tag))
      .then(
        (page) => {
          if (page instanceof Uint8Array && page.length === PAGE_SIZE_BYTES) {
            answerPageRequest(channel, requestId, { page });
          } else {
            const got = page instanceof Uint8Array ? `${page.length} bytes` : typeof page;
            answerPageRequest(channel, requestId, { failure: `the page source returned ${got}, not a page` });
          }
        },
        (error: unknown) => {
          answerPageRequest(channel, requestId, {
            failure: error instanceof Error ? error.message : String(error),
          });
        },
      );
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#started?.reject(error);
    this.#started = undefined;
    for (const waiter of this.#replies.values()) waiter.reject(error);
    for (const waiter of this.#statsWaiters.values()) waiter.reject(error);
    this.#replies.clear();
    this.#statsWaiters.clear();
  }
}

/**
 * How to start worker.ts: directly when compiled (the engine's own bundle carries it as its companion
 * `worker.js`). Running from `.ts` (the tests, `tsx`), from the bundle `bundledEntry` keeps up to date
 * (docs/development.md): a worker started through tsx pays its loader again, about 0.5 s of CPU per
 * kernel, and the test suite starts hundreds of kernels. `NORTHLIGHT_ENTRY=tsx` (or a bundle that
 * cannot be built) starts it through a tsx bootstrap instead.
 */
function workerEntry(): { source: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts'))
    return { source: new URL('./worker.js', import.meta.url), eval: false };
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const mode = process.env.NORTHLIGHT_ENTRY;
  if (mode !== 'tsx')
    try {
      return { source: pathToFileURL(bundledEntry(workerPath)), eval: false };
    } catch (error) {
      if (mode === 'bundle') throw error;
    }
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const worker = JSON.stringify(pathToFileURL(workerPath).href);
  return {
    source: `import(${tsx}).then((tsx) => { tsx.register(); return import(${worker}); });`,
    eval: true,
  };
}
