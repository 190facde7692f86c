/**
 * Interactive transactions (BEGIN … COMMIT across round trips, issue 8) over an engine whose SQL
 * kernel has ONE SQLite connection: the gate in front of `execute` that lets one transaction hold the
 * connection while every other request waits.
 *
 * Why a gate: the kernel runs requests in arrival order on one connection, so a transaction left open
 * between two of its statements would otherwise see — and be seen by — every other client's requests.
 * While a read-write transaction holds the gate, every other request (autocommit ones and other
 * transactions) queues here, in arrival order; when it ends, the queue drains in that order: the
 * autocommit requests ahead of the next transaction go to the kernel together (group commit), and the
 * next transaction takes the gate.
 *
 * What keeps the hold short:
 *  - the gate is taken at the transaction's first statement, not at BEGIN (the first statement carries
 *    the kernel's `open` step), and given back as soon as the kernel has committed, before the commit
 *    is durable: the durability wait is the transaction's own, like any autocommit request's;
 *  - a READ ONLY transaction never takes it: each of its statements is a read-only request of its own,
 *    which is PostgreSQL's default isolation, READ COMMITTED (each statement sees the latest commits);
 *  - a transaction idle (no call from its client) longer than `idleTimeoutMs` is rolled back, its
 *    handle answers every later call with 25P03, and `onAbandoned` tells its connection;
 *  - a request that waited `lockWaitTimeoutMs` for the gate gives up with 55P03, naming the holder; an
 *    autocommit request takes what is left of that wait into the kernel, where a statement of another
 *    client may be running (the kernel runs one at a time): not started by then, it gives up with
 *    55P03 too, having done nothing. A caller may give its own wait (`lock_timeout`; 0: no limit).
 *
 * What a statement inside a read-write transaction sees: the latest commits, durable or not — the
 * paper's writer reads its buffer cache, which holds committed changes not yet hardened, and
 * PostgreSQL with a synchronous standby shows a commit to other sessions before the standby has it.
 * Its reply is released as soon as the kernel answers (`releaseReadsEarly`), without waiting for the
 * commits it may have read to become durable. What is never released early is an outcome: COMMIT
 * (and ROLLBACK) answer only once every group sealed before them is durable, so a transaction is
 * acknowledged only when everything it read and wrote is, and an autocommit request or a READ ONLY
 * statement still waits for what it read. Without this, each transaction would wait, holding the
 * writer, for the previous one's commit to become durable: transactions could neither overlap
 * their durability waits nor share a batch to storage.
 *
 * A failed statement rolls the transaction back at once and frees the gate (the client sees the
 * aborted state until it sends ROLLBACK: the wire protocol keeps that) — unless the transaction holds
 * a savepoint: then the kernel keeps it open, aborted, when SQLite kept it (it undid only the failed
 * statement), and the transaction keeps the gate, as PostgreSQL keeps a failed block's locks, until
 * `rollbackTo` resumes it or it ends (ROLLBACK, the idle timeout, the client gone). When SQLite rolled
 * the whole transaction back instead (an interrupted write, storage errors), the kernel says so and
 * the transaction is dead as without a savepoint: `rollbackTo` fails rather than resume without the
 * work before the savepoint. If the engine replaces its kernel meanwhile (write quorum lost or
 * regained), the transaction is gone with the old kernel: its next step fails with 40001 and the
 * client may run it again.
 *
 * Optimistic transactions (`optimistic`, the engine's `--pg-transactions optimistic`): a read-write
 * transaction need not hold the gate across its client's round trips. Each of its statements is a
 * request of its own, queued like an autocommit one, that replays the transaction's earlier statements
 * in a fresh SQLite transaction, checks that each gives the result its client saw (a fingerprint,
 * kernel/result-fingerprint.ts), runs the new one, and rolls everything back; COMMIT is one request
 * that replays them all, checks them, and commits (one group). So a statement sees the latest commits
 * and the transaction's own writes, and the gate is held for one request at a time, never for a round
 * trip. Why this is serializable: at its commit, the transaction runs alone on the latest state, and
 * its client saw exactly what that run shows; a client's next statement can depend only on what it
 * saw, so the history is the serial one in commit order. When a replayed statement gives another
 * result (another transaction committed a change it read), or fails where it succeeded, the step or
 * COMMIT fails with 40001 and nothing of the transaction is kept; the wire protocol then runs that
 * session's next transaction serially, so a client that retries gets through (a statement that reads
 * the clock gives another result at every replay). Writes that do not change what the client saw
 * (`UPDATE … SET k = k + 1` still updates one row) do not conflict. The costs: each step re-runs the
 * earlier statements (their number squared over a transaction), so past `optimisticMaxStatements`
 * it takes the gate, its `open` step replaying and checking what it ran; it does the same at a
 * savepoint (which lives in the kernel's one transaction), for a bulk load (`holdWriter`: COPY), and
 * after DDL (the kernel says `schemaChanged`: statements prepared outside the transaction would not
 * see the change); and a transaction may fail where a serial one would have waited.
 *
 * Savepoints are counted here, by depth (the wire protocol keeps their names): taken, released and
 * rolled back to by kernel steps once the transaction is in the kernel; before that, and in a READ
 * ONLY transaction, there is nothing to undo, so only the count changes (the `open` step takes the
 * savepoints counted before it, right after BEGIN).
 */
import { assert, isNorthlightError } from '@northlight/protocol';
import type { EngineReply, ExecuteOptions } from './engine.js';
import type { ExecuteRequest, SqlStatement, StatementResult } from './kernel/messages.js';
import type { SqlError } from './kernel/sql-errors.js';

/** Runs a request (`Engine.execute`). */
export type GatedExecute = (request: ExecuteRequest, options?: ExecuteOptions) => Promise<EngineReply>;

export interface TransactionGateOptions {
  /** An open transaction with no call for this long is rolled back (25P03). */
  readonly idleTimeoutMs: number;
  /** A request waiting this long for the gate gives up (55P03). */
  readonly lockWaitTimeoutMs: number;
  /** A replica: no transaction takes the gate (every one is read-only). */
  readonly readOnly?: boolean;
  /**
   * Read-write transactions run optimistically (see "Optimistic transactions" above) unless a
   * transaction asks otherwise; false: every one holds the gate from its first statement.
   */
  readonly optimistic?: boolean;
  /**
   * An optimistic transaction that reaches more statements than this takes the gate (each of its
   * steps replays all its earlier statements, so its cost grows with their square). Default 16.
   */
  readonly optimisticMaxStatements?: number;
}

export const OPTIMISTIC_MAX_STATEMENTS_DEFAULT = 16;
/**
 * An optimistic transaction whose statements (SQL and parameters) would pass this many bytes takes
 * the gate: every step sends them all to the kernel again, so a large parameter would be copied once
 * per later statement.
 */
export const OPTIMISTIC_MAX_LOG_BYTES = 1024 * 1024;

/** About what a statement weighs when it crosses to the kernel: its SQL and its parameters. */
function statementBytes(statement: SqlStatement): number {
  let bytes = statement.sql.length;
  for (const param of statement.params ?? []) {
    bytes += typeof param === 'string' ? param.length : param instanceof Uint8Array ? param.byteLength : 8;
  }
  return bytes;
}

export interface BeginOptions {
  readonly readOnly: boolean;
  /**
   * The session (its PostgreSQL pid) the transaction belongs to: a request that gives up waiting for
   * the gate names it, and `pg_terminate_backend(pid)` ends it.
   */
  readonly session?: number;
  /** Overrides the gate's `idleTimeoutMs` for this transaction. */
  readonly idleTimeoutMs?: number;
  /** Called once if the gate rolls the transaction back on its own (idle timeout). */
  readonly onAbandoned?: (error: SqlError) => void;
  /** false: this transaction holds the gate from its first statement even when the gate is optimistic. */
  readonly optimistic?: boolean;
}

export type GateReply<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: SqlError };

export interface GateStatus {
  /** The transaction holding the gate: its id, its session's pid if known, and how long it has held it. */
  readonly holder?: { readonly id: number; readonly session?: number; readonly heldMs: number };
  readonly waiting: number;
  readonly transactionsOpen: number;
  readonly transactionsCommitted: number;
  readonly transactionsRolledBack: number;
  readonly transactionsTimedOut: number;
  /** Committed without ever holding the gate (optimistic). */
  readonly transactionsCommittedOptimistic: number;
  /** Optimistic transactions that took the gate (a savepoint, too many statements). */
  readonly transactionsPromoted: number;
  /** Steps or commits of optimistic transactions that failed their replay (40001). */
  readonly serializationFailures: number;
}

interface Waiter {
  readonly transaction: boolean;
  readonly resume: () => void;
}

const CANCELED: SqlError = {
  code: 'NORTHLIGHT_CANCELED',
  sqlstate: '57014',
  message: 'canceling statement due to user request',
};

export class TransactionGate {
  readonly #execute: GatedExecute;
  readonly #options: TransactionGateOptions;
  readonly #queue: Waiter[] = [];
  #holder: { id: number; since: number; session?: number } | undefined;
  #nextId = 1;
  #open = 0;
  #committed = 0;
  #rolledBack = 0;
  #timedOut = 0;
  #committedOptimistic = 0;
  #promoted = 0;
  #serializationFailures = 0;

  constructor(execute: GatedExecute, options: TransactionGateOptions) {
    this.#execute = execute;
    this.#options = options;
  }

  status(): GateStatus {
    const holder = this.#holder;
    return {
      ...(holder === undefined
        ? {}
        : {
            holder: {
              id: holder.id,
              ...(holder.session === undefined ? {} : { session: holder.session }),
              heldMs: Date.now() - holder.since,
            },
          }),
      waiting: this.#queue.length,
      transactionsOpen: this.#open,
      transactionsCommitted: this.#committed,
      transactionsRolledBack: this.#rolledBack,
      transactionsTimedOut: this.#timedOut,
      transactionsCommittedOptimistic: this.#committedOptimistic,
      transactionsPromoted: this.#promoted,
      serializationFailures: this.#serializationFailures,
    };
  }

  /**
   * An autocommit request (or a describe): waits while a transaction holds the gate, then for the
   * kernel to start it; `lockWaitMs` (the gate's `lockWaitTimeoutMs` by default; 0: no limit) bounds
   * both waits together.
   */
  async execute(
    request: ExecuteRequest,
    signal?: AbortSignal,
    lockWaitMs = this.#options.lockWaitTimeoutMs,
    releaseReadsEarly = false,
  ): Promise<EngineReply> {
    if (request.describeOnly === true) return this.#execute(request);
    const enteredAtMs = Date.now();
    const entered = await this.#enter(false, signal, lockWaitMs);
    if (!entered.ok) return { ok: false, error: entered.error, visibleThroughSeq: 0 };
    const startWithinMs = lockWaitMs > 0 ? Math.max(1, lockWaitMs - (Date.now() - enteredAtMs)) : undefined;
    // The signal also stops the request in the kernel, mid-statement (a timeout, a cancel request).
    return this.#execute(request, {
      ...(signal === undefined ? {} : { signal }),
      ...(startWithinMs === undefined ? {} : { startWithinMs }),
      ...(releaseReadsEarly ? { releaseReadsEarly } : {}),
    });
  }

  /** Opens a transaction (nothing reaches the kernel, and the gate is not taken, until it runs SQL). */
  begin(options: BeginOptions): GateTransaction {
    this.#open++;
    const readOnly = options.readOnly || this.#options.readOnly === true;
    return new GateTransaction(this, this.#nextId++, {
      readOnly,
      session: options.session,
      idleTimeoutMs: options.idleTimeoutMs ?? this.#options.idleTimeoutMs,
      onAbandoned: options.onAbandoned,
      optimisticMaxStatements:
        readOnly || this.#options.optimistic !== true || options.optimistic === false
          ? 0
          : (this.#options.optimisticMaxStatements ?? OPTIMISTIC_MAX_STATEMENTS_DEFAULT),
    });
  }

  // ---- for GateTransaction ----

  /** @internal */
  runRequest(request: ExecuteRequest, options?: ExecuteOptions): Promise<EngineReply> {
    return this.#execute(request, options);
  }

  /** @internal Waits for the gate and takes it for transaction `id`. */
  async acquire(
    id: number,
    signal?: AbortSignal,
    lockWaitMs = this.#options.lockWaitTimeoutMs,
    session?: number,
  ): Promise<GateReply<void>> {
    const entered = await this.#enter(true, signal, lockWaitMs);
    if (entered.ok) this.#holder = { id, since: Date.now(), ...(session === undefined ? {} : { session }) };
    return entered;
  }

  /** @internal */
  release(id: number): void {
    if (this.#holder?.id !== id) return;
    this.#holder = undefined;
    this.#drain();
  }

  /** @internal */
  counted(what: 'committed-optimistic' | 'promoted' | 'serialization-failure'): void {
    if (what === 'committed-optimistic') this.#committedOptimistic++;
    else if (what === 'promoted') this.#promoted++;
    else this.#serializationFailures++;
  }

  /** @internal */
  ended(outcome: 'committed' | 'rolled-back' | 'timed-out'): void {
    this.#open--;
    if (outcome === 'committed') this.#committed++;
    else this.#rolledBack++;
    if (outcome === 'timed-out') this.#timedOut++;
  }

  #enter(
    transaction: boolean,
    signal: AbortSignal | undefined,
    lockWaitMs: number,
  ): Promise<GateReply<void>> {
    if (signal?.aborted === true) return Promise.resolve({ ok: false, error: CANCELED });
    if (this.#holder === undefined && this.#queue.length === 0) {
      // Taken synchronously: a transaction's acquire and the holder it sets are one step.
      if (transaction) this.#holder = { id: 0, since: Date.now() };
      return Promise.resolve({ ok: true, value: undefined });
    }
    return new Promise((resolve) => {
      const waitedSince = Date.now();
      const finish = (reply: GateReply<void>) => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(reply);
      };
      const waiter: Waiter = {
        transaction,
        resume: () => {
          if (transaction) this.#holder = { id: 0, since: Date.now() };
          finish({ ok: true, value: undefined });
        },
      };
      const leave = (error: SqlError) => {
        const index = this.#queue.indexOf(waiter);
        if (index < 0) return;
        this.#queue.splice(index, 1);
        finish({ ok: false, error });
        if (index === 0 && this.#holder === undefined) this.#drain();
      };
      const onAbort = () => leave(CANCELED);
      const timer =
        lockWaitMs <= 0
          ? undefined
          : setTimeout(() => {
              const holder = this.#holder;
              const session = holder?.session;
              leave({
                code: 'NORTHLIGHT_LOCK_TIMEOUT',
                sqlstate: '55P03',
                message:
                  `waited ${Date.now() - waitedSince} ms for the SQL writer` +
                  (holder === undefined
                    ? ''
                    : `, held by transaction ${holder.id}${session === undefined ? '' : ` of session ${session}`} for ${Date.now() - holder.since} ms`) +
                  ": one transaction at a time writes; keep transactions short, or raise lock_timeout (the engine's --pg-lock-wait-timeout-ms)",
                ...(session === undefined
                  ? {}
                  : {
                      hint: `SELECT pg_terminate_backend(${session}) ends that session (its transaction is rolled back); pg_stat_activity shows it once the writer is free.`,
                    }),
              });
            }, lockWaitMs);
      timer?.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** The gate is free: resume waiters in order up to and including the next transaction. */
  #drain(): void {
    while (this.#holder === undefined) {
      const waiter = this.#queue.shift();
      if (waiter === undefined) return;
      waiter.resume();
    }
  }
}

/**
 * One interactive transaction. Calls are made one at a time. After a failed `run` it is already rolled
 * back in the kernel; `rollback()` is always safe and never fails.
 */
export class GateTransaction {
  readonly id: number;
  readonly readOnly: boolean;
  readonly #gate: TransactionGate;
  readonly #idleTimeoutMs: number;
  readonly #onAbandoned: ((error: SqlError) => void) | undefined;
  readonly #session: number | undefined;
  /** The kernel has the transaction open (its first statement ran). */
  #inKernel = false;
  /** Why it cannot go on: failed, timed out, or ended. */
  #dead: SqlError | undefined;
  /**
   * A statement failed but the kernel kept the transaction, aborted (it holds a savepoint): only
   * `rollbackTo` and `rollback` may follow; it keeps the gate meanwhile.
   */
  #aborted: SqlError | undefined;
  /** The depth of the stack of savepoints (0: none). */
  #savepoints = 0;
  #ended = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /**
   * Optimistic (see "Optimistic transactions"): the statements run so far, which every later step
   * replays, and the fingerprints of the results their client saw. Empty once it holds the gate.
   */
  #log: SqlStatement[] = [];
  /** `statementBytes` of the log. */
  #logBytes = 0;
  #fingerprints: string[] = [];
  /** The value flags its steps ran with: a replay must build its results the same way. */
  #logFlags: { typedValues: boolean; declaredTypes: boolean } | undefined;
  /** Statements it may run without the gate; 0 once it holds it, or when it never runs optimistically. */
  #optimisticMaxStatements: number;

  constructor(
    gate: TransactionGate,
    id: number,
    options: {
      readOnly: boolean;
      session: number | undefined;
      idleTimeoutMs: number;
      onAbandoned: ((error: SqlError) => void) | undefined;
      optimisticMaxStatements: number;
    },
  ) {
    this.#gate = gate;
    this.id = id;
    this.#session = options.session;
    this.readOnly = options.readOnly;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#onAbandoned = options.onAbandoned;
    this.#optimisticMaxStatements = options.optimisticMaxStatements;
    this.#armIdleTimer();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Runs statements in the transaction; answers once what they read is durable. */
  async run(
    statements: readonly SqlStatement[],
    options: {
      readonly typedValues?: boolean;
      readonly declaredTypes?: boolean;
      readonly signal?: AbortSignal;
      /** How long to wait for the SQL writer (the gate's default; 0: no limit). */
      readonly lockWaitMs?: number;
      /**
       * Hold the writer from this statement on, even when optimistic: one of the many statements of a
       * bulk load (COPY), which replays would run over and over.
       */
      readonly holdWriter?: boolean;
    } = {},
  ): Promise<GateReply<readonly StatementResult[]>> {
    if (this.#dead !== undefined) return { ok: false, error: this.#dead };
    if (this.#ended) return { ok: false, error: ENDED };
    if (this.#aborted !== undefined) return { ok: false, error: abortedError(this.#aborted) };
    this.#disarmIdleTimer();
    try {
      const typed = {
        ...(options.typedValues === true ? { typedValues: true } : {}),
        ...(options.declaredTypes === true ? { declaredTypes: true } : {}),
      };
      if (this.readOnly) {
        // Guarded like every other step: an engine failure while the read waits for the durability of
        // what it saw (write quorum lost, the kernel replaced) is this statement's error, not a throw
        // that would end the client's connection.
        const reply = await guarded(() =>
          this.#gate.execute({ statements, readOnly: true, ...typed }, options.signal, options.lockWaitMs),
        );
        return reply.ok ? { ok: true, value: reply.results } : { ok: false, error: reply.error };
      }
      const flags = {
        typedValues: options.typedValues === true,
        declaredTypes: options.declaredTypes === true,
      };
      if (options.holdWriter === true) this.#optimisticMaxStatements = 0;
      if (!this.#inKernel && this.#optimisticFor(statements, flags)) {
        return await this.#runOptimistic(statements, typed, options);
      }
      if (!this.#inKernel) {
        const acquired = await this.#gate.acquire(this.id, options.signal, options.lockWaitMs, this.#session);
        if (!acquired.ok) return acquired; // not taken: the transaction stays as it was
      }
      const step = this.#inKernel ? 'continue' : 'open';
      const savepointDepth =
        step === 'open' && this.#savepoints > 0 ? { savepointDepth: this.#savepoints } : {};
      // An optimistic transaction taking the gate: its `open` replays what it ran, checked as a commit
      // would check it (a changed result fails it with 40001), and it goes on holding the gate.
      const promoted = step === 'open' && this.#log.length > 0;
      const replay = promoted ? { replay: { fingerprints: this.#fingerprints, commit: false } } : {};
      const sent = promoted ? [...this.#log, ...statements] : statements;
      if (promoted) this.#gate.counted('promoted');
      this.#log = [];
      this.#logBytes = 0;
      this.#fingerprints = [];
      this.#optimisticMaxStatements = 0;
      this.#inKernel = true;
      // Released as soon as the kernel answers: see "What a statement inside a transaction sees".
      const reply = await this.#step(
        { statements: sent, transaction: { id: this.id, step, ...savepointDepth }, ...replay, ...typed },
        { releaseReadsEarly: true, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      );
      if (!reply.ok && reply.error.code === SERIALIZATION_FAILURE)
        this.#gate.counted('serialization-failure');
      if (!reply.ok) {
        this.#failed(reply);
        return { ok: false, error: reply.error };
      }
      return { ok: true, value: reply.results };
    } finally {
      this.#armIdleTimer();
    }
  }

  /**
   * Whether the next step runs optimistically: the gate is optimistic, the transaction never held it
   * and holds no savepoint, stays within its statement budget, and its values are built as before.
   */
  #optimisticFor(
    statements: readonly SqlStatement[],
    flags: { typedValues: boolean; declaredTypes: boolean },
  ): boolean {
    if (this.#savepoints > 0 || this.#log.length + statements.length > this.#optimisticMaxStatements)
      return false;
    const bytes = statements.reduce((sum, statement) => sum + statementBytes(statement), 0);
    if (this.#logBytes + bytes > OPTIMISTIC_MAX_LOG_BYTES) return false;
    const before = this.#logFlags;
    if (
      before !== undefined &&
      (before.typedValues !== flags.typedValues || before.declaredTypes !== flags.declaredTypes)
    )
      return false;
    this.#logFlags = flags;
    return true;
  }

  /**
   * One step of an optimistic transaction: a request of its own, queued like an autocommit one, that
   * replays the transaction's statements so far, runs the new ones, and rolls everything back. Its
   * reply is released as soon as the kernel answers, as a statement's in a transaction holding the
   * gate is.
   */
  async #runOptimistic(
    statements: readonly SqlStatement[],
    typed: { readonly typedValues?: boolean; readonly declaredTypes?: boolean },
    options: { readonly signal?: AbortSignal; readonly lockWaitMs?: number },
  ): Promise<GateReply<readonly StatementResult[]>> {
    const reply = await guarded(() =>
      this.#gate.execute(
        {
          statements: [...this.#log, ...statements],
          replay: { fingerprints: this.#fingerprints, commit: false },
          ...typed,
        },
        options.signal,
        options.lockWaitMs,
        true,
      ),
    );
    if (!reply.ok) {
      if (reply.error.code === SERIALIZATION_FAILURE) this.#gate.counted('serialization-failure');
      this.#dead = reply.error;
      return { ok: false, error: reply.error };
    }
    const fingerprints = reply.fingerprints;
    assert(fingerprints?.length === statements.length, 'a replay without the fingerprints of its results');
    this.#log.push(...statements);
    for (const statement of statements) this.#logBytes += statementBytes(statement);
    this.#fingerprints.push(...fingerprints);
    if (reply.schemaChanged === true) {
      // DDL: what the client prepares next (Parse, Describe) runs outside its transaction and would
      // not see the change; holding the writer, the transaction is open in the kernel for them.
      this.#optimisticMaxStatements = 0;
      const promoted = await this.run([], typed);
      if (!promoted.ok) return promoted;
    }
    return { ok: true, value: reply.results };
  }

  /** An optimistic transaction's commit: replays every statement, checks it, and commits. */
  async #commitOptimistic(): Promise<GateReply<void>> {
    const flags = this.#logFlags;
    const reply = await guarded(() =>
      this.#gate.execute({
        statements: this.#log,
        replay: { fingerprints: this.#fingerprints, commit: true },
        ...(flags?.typedValues === true ? { typedValues: true } : {}),
        ...(flags?.declaredTypes === true ? { declaredTypes: true } : {}),
      }),
    );
    this.#log = [];
    this.#logBytes = 0;
    this.#fingerprints = [];
    if (!reply.ok) {
      if (reply.error.code === SERIALIZATION_FAILURE) this.#gate.counted('serialization-failure');
      this.#end('rolled-back');
      return { ok: false, error: reply.error };
    }
    this.#gate.counted('committed-optimistic');
    this.#end('committed');
    return { ok: true, value: undefined };
  }

  /**
   * SAVEPOINT: takes a savepoint one deeper than the stack holds. A failure aborts the transaction (or
   * ends it) as a failed statement does.
   */
  savepoint(): Promise<GateReply<void>> {
    return this.#savepointStep('savepoint', this.#savepoints + 1);
  }

  /** RELEASE: destroys the savepoint at `depth` (1: the outermost) and every later one. */
  release(depth: number): Promise<GateReply<void>> {
    assert(depth >= 1 && depth <= this.#savepoints, `release of savepoint ${depth} of ${this.#savepoints}`);
    return this.#savepointStep('release', depth);
  }

  /**
   * ROLLBACK TO: undoes everything after the savepoint at `depth`, keeps it, destroys the later ones;
   * resumes an aborted transaction. A transaction that is dead (rolled back entirely) cannot resume:
   * that fails, and only `rollback` is left.
   */
  rollbackTo(depth: number): Promise<GateReply<void>> {
    assert(depth >= 1 && depth <= this.#savepoints, `rollback to savepoint ${depth} of ${this.#savepoints}`);
    return this.#savepointStep('rollback-to', depth);
  }

  async #savepointStep(
    step: 'savepoint' | 'release' | 'rollback-to',
    depth: number,
  ): Promise<GateReply<void>> {
    if (this.#dead !== undefined) {
      return { ok: false, error: step === 'rollback-to' ? cannotResume(this.#dead) : this.#dead };
    }
    if (this.#ended) return { ok: false, error: ENDED };
    if (this.#aborted !== undefined && step !== 'rollback-to') {
      return { ok: false, error: abortedError(this.#aborted) };
    }
    const depthAfter = step === 'release' ? depth - 1 : depth;
    if (!this.readOnly && !this.#inKernel && this.#log.length > 0) {
      // An optimistic transaction with statements to undo: it takes the gate first (savepoints live
      // in the kernel's one transaction), and its `open` replays them.
      const flags = this.#logFlags;
      this.#optimisticMaxStatements = 0;
      const promoted = await this.run([], {
        ...(flags?.typedValues === true ? { typedValues: true } : {}),
        ...(flags?.declaredTypes === true ? { declaredTypes: true } : {}),
      });
      if (!promoted.ok) return promoted;
    }
    // Nothing to undo yet, or ever: only the count changes (the `open` step takes the savepoints).
    if (this.readOnly || !this.#inKernel) {
      this.#savepoints = depthAfter;
      return { ok: true, value: undefined };
    }
    this.#disarmIdleTimer();
    try {
      const reply = await this.#step(
        { statements: [], transaction: { id: this.id, step, savepointDepth: depth } },
        { releaseReadsEarly: true },
      );
      if (!reply.ok) {
        this.#failed(reply);
        return { ok: false, error: reply.error };
      }
      this.#savepoints = depthAfter;
      this.#aborted = undefined;
      return { ok: true, value: undefined };
    } finally {
      this.#armIdleTimer();
    }
  }

  /** Commits; answers once the commit is durable. A failed transaction answers with its failure. */
  async commit(): Promise<GateReply<void>> {
    if (this.#dead !== undefined) {
      const error = this.#dead;
      this.#end('rolled-back');
      return { ok: false, error };
    }
    if (this.#aborted !== undefined) {
      const error = this.#aborted;
      this.#disarmIdleTimer();
      await this.#rollbackInKernel();
      this.#end('rolled-back');
      return { ok: false, error };
    }
    if (this.#ended) return { ok: false, error: ENDED };
    this.#disarmIdleTimer();
    if (!this.#inKernel && this.#log.length > 0) return this.#commitOptimistic();
    if (!this.#inKernel) {
      this.#end('committed');
      return { ok: true, value: undefined };
    }
    this.#inKernel = false;
    try {
      const reply = await this.#step(
        { statements: [], transaction: { id: this.id, step: 'commit' } },
        { kernelDone: () => this.#gate.release(this.id) },
      );
      if (!reply.ok) {
        this.#end('rolled-back');
        return { ok: false, error: reply.error };
      }
      this.#end('committed');
      return { ok: true, value: undefined };
    } finally {
      this.#gate.release(this.id);
    }
  }

  async rollback(): Promise<void> {
    if (this.#ended) return;
    this.#disarmIdleTimer();
    await this.#rollbackInKernel();
    this.#end('rolled-back');
  }

  /** One kernel step; an engine failure (kernel replaced, stopping) fails the transaction. */
  #step(request: ExecuteRequest, options?: ExecuteOptions): Promise<EngineReply> {
    return guarded(() => this.#gate.runRequest(request, options));
  }

  /**
   * A step failed: the kernel kept the transaction, aborted (it holds a savepoint, and SQLite kept its
   * transaction), or rolled it back.
   */
  #failed(reply: Extract<EngineReply, { ok: false }>): void {
    if (reply.transactionKept === true) this.#aborted ??= reply.error;
    else this.#fail(reply.error);
  }

  /** A statement failed: the kernel rolled the transaction back already; the gate is free. */
  #fail(error: SqlError): void {
    this.#dead = error;
    this.#aborted = undefined;
    this.#inKernel = false;
    this.#gate.release(this.id);
  }

  async #rollbackInKernel(): Promise<void> {
    if (!this.#inKernel) {
      this.#gate.release(this.id);
      return;
    }
    this.#inKernel = false;
    try {
      await this.#step({ statements: [], transaction: { id: this.id, step: 'rollback' } });
    } finally {
      this.#gate.release(this.id);
    }
  }

  #end(outcome: 'committed' | 'rolled-back' | 'timed-out'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#disarmIdleTimer();
    this.#gate.ended(outcome);
  }

  #armIdleTimer(): void {
    // Only a transaction holding the gate blocks anyone: one that has run nothing yet is not timed.
    if (!this.#inKernel || this.#ended || this.#dead !== undefined || this.#idleTimeoutMs <= 0) return;
    this.#disarmIdleTimer();
    this.#idleTimer = setTimeout(() => void this.#timeOut(), this.#idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #disarmIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  async #timeOut(): Promise<void> {
    if (this.#ended) return;
    const error: SqlError = {
      code: 'NORTHLIGHT_IDLE_IN_TRANSACTION_TIMEOUT',
      sqlstate: '25P03',
      message: `terminating the transaction: idle in transaction for ${this.#idleTimeoutMs} ms while it held the SQL writer`,
    };
    this.#dead = error;
    await this.#rollbackInKernel();
    this.#end('timed-out');
    this.#onAbandoned?.(error);
  }
}

/**
 * An engine failure (a thrown NorthlightError: write quorum lost, the kernel being replaced, the
 * engine stopping) as a failed reply with 57P03; anything else is a bug and propagates.
 */
export async function guarded(run: () => Promise<EngineReply>): Promise<EngineReply> {
  try {
    return await run();
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    return {
      ok: false,
      error: { code: error.code, sqlstate: '57P03', message: error.message },
      visibleThroughSeq: 0,
    };
  }
}

/** A step other than `rollbackTo` on an aborted transaction. */
function abortedError(cause: SqlError): SqlError {
  return {
    code: 'NORTHLIGHT_TRANSACTION_ABORTED',
    sqlstate: '25P02',
    message: `current transaction is aborted, commands ignored until end of transaction block (it failed with: ${cause.message})`,
  };
}

/** `rollbackTo` on a transaction the kernel no longer has: resuming it would drop its earlier work. */
function cannotResume(cause: SqlError): SqlError {
  return {
    code: 'NORTHLIGHT_TRANSACTION_ROLLED_BACK',
    sqlstate: '25P02',
    message: `cannot roll back to the savepoint: the whole transaction was already rolled back (${cause.message}); end it with ROLLBACK`,
  };
}

/** The kernel's code for a replay that found another result (sql-session.ts). */
const SERIALIZATION_FAILURE = 'NORTHLIGHT_SERIALIZATION_FAILURE';

const ENDED: SqlError = {
  code: 'NORTHLIGHT_TRANSACTION_ENDED',
  sqlstate: '25P01',
  message: 'the transaction has already ended',
};
