/**
 * PostgreSQL's advisory locks (`pg_advisory_lock(key)` and its family): locks on keys an application
 * chooses, which migration tools take so that two deployments never migrate one database at once
 * (Prisma Migrate, golang-migrate, node-pg-migrate, Rails, Flyway). SQLite has nothing like them, so
 * the protocol layer keeps them, as PostgreSQL does, in memory:
 *
 * - A lock is held by a **session** (until `pg_advisory_unlock` or the session ends) or by its
 *   **transaction** (`pg_advisory_xact_lock`: until the transaction ends; outside a block, the
 *   statement is its transaction). Both levels of one key count as one holder.
 * - **Exclusive and reentrant**, as PostgreSQL's: the session holding a key takes it again at once
 *   (even while others wait for it) and must unlock it as many times. Shared locks are not kept.
 * - A key is one bigint or a pair of int4 (two separate key spaces, as in PostgreSQL).
 * - One table per engine process, shared by all of its PostgreSQL sessions (PostgreSQL's is per
 *   server): the writer's sessions see each other's locks; a replica has its own table.
 * - A wait is first come, first served. The caller stops it with its AbortSignal (CancelRequest,
 *   statement_timeout, lock_timeout, pg_cancel_backend, the session closing). A wait that would close
 *   a cycle of sessions each waiting for the next fails at once with `AdvisoryDeadlockError`
 *   (PostgreSQL's 40P01, which PostgreSQL reports after deadlock_timeout).
 *
 * Pure: no I/O, no clock. The connection (connection.ts) calls it; the server (io/pg-server.ts) owns
 * the one table.
 */

/** `k:<bigint>` for a one-key lock, `p:<int4>,<int4>` for a two-key one. */
export type AdvisoryKey = string;
export type AdvisoryLevel = 'session' | 'transaction';

export class AdvisoryDeadlockError extends Error {
  override readonly name = 'AdvisoryDeadlockError';
  readonly sqlstate = '40P01';
}

interface Waiter {
  readonly session: number;
  readonly level: AdvisoryLevel;
  readonly grant: () => void;
}

interface Entry {
  owner: number;
  /** How many times the owner took it, at each level. */
  sessionCount: number;
  transactionCount: number;
  readonly waiters: Waiter[];
}

/** The key of a lock on one bigint, or on a pair of int4. */
export function advisoryKey(keys: readonly bigint[]): AdvisoryKey {
  return keys.length === 1 ? `k:${keys[0]}` : `p:${keys[0]},${keys[1]}`;
}

export class AdvisoryLocks {
  readonly #entries = new Map<AdvisoryKey, Entry>();
  /** The key each waiting session waits for (a session runs one statement at a time: one key). */
  readonly #waitingFor = new Map<number, AdvisoryKey>();
  /**
   * The keys each session holds: releasing a session's locks (at every end of a transaction, so on
   * the path of every statement) looks at its own, not at the whole table.
   */
  readonly #keysOf = new Map<number, Set<AdvisoryKey>>();

  /** Takes `key` for `session` if it is free or already the session's: true; otherwise false. */
  tryAcquire(session: number, key: AdvisoryKey, level: AdvisoryLevel): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#entries.set(key, {
        owner: session,
        sessionCount: level === 'session' ? 1 : 0,
        transactionCount: level === 'transaction' ? 1 : 0,
        waiters: [],
      });
      this.#own(session, key);
      return true;
    }
    if (entry.owner !== session) return false;
    if (level === 'session') entry.sessionCount += 1;
    else entry.transactionCount += 1;
    return true;
  }

  /**
   * Takes `key` for `session`, waiting behind its holder and earlier waiters: true once taken, false
   * if `signal` aborted the wait first (nothing is then held for it). Throws AdvisoryDeadlockError
   * when the holder waits, directly or through others, for a lock this session holds.
   */
  async acquire(
    session: number,
    key: AdvisoryKey,
    level: AdvisoryLevel,
    signal: AbortSignal,
  ): Promise<boolean> {
    if (this.tryAcquire(session, key, level)) return true;
    if (signal.aborted) return false;
    if (this.#closesCycle(session, key)) {
      throw new AdvisoryDeadlockError(
        `deadlock detected: process ${session} waits for advisory lock [${describeKey(key)}], held by a process that waits for one process ${session} holds`,
      );
    }
    const entry = this.#entries.get(key) as Entry;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        session,
        level,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          this.#waitingFor.delete(session);
          resolve(true);
        },
      };
      const onAbort = () => {
        const at = entry.waiters.indexOf(waiter);
        if (at >= 0) entry.waiters.splice(at, 1);
        this.#waitingFor.delete(session);
        resolve(false);
      };
      entry.waiters.push(waiter);
      this.#waitingFor.set(session, key);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * `pg_advisory_unlock`: gives back one session-level hold of `key`; false when the session holds
   * none (a transaction-level hold is given back only by the transaction's end, as in PostgreSQL).
   */
  release(session: number, key: AdvisoryKey): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.owner !== session || entry.sessionCount === 0) return false;
    entry.sessionCount -= 1;
    this.#settle(key, entry);
    return true;
  }

  /**
   * Gives back every hold of `session` at `level` (a transaction's end), or at both levels (the
   * session's end, `pg_advisory_unlock_all` with 'session' only: PostgreSQL's releases session locks).
   */
  releaseAll(session: number, level?: AdvisoryLevel): void {
    const keys = this.#keysOf.get(session);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const entry = this.#entries.get(key) as Entry;
      if (level !== 'transaction') entry.sessionCount = 0;
      if (level !== 'session') entry.transactionCount = 0;
      this.#settle(key, entry);
    }
  }

  /** The keys `session` holds, with its counts (tests, and what the session may inspect). */
  heldBy(session: number): { key: AdvisoryKey; session: number; transaction: number }[] {
    return [...(this.#keysOf.get(session) ?? [])].map((key) => {
      const entry = this.#entries.get(key) as Entry;
      return { key, session: entry.sessionCount, transaction: entry.transactionCount };
    });
  }

  /** Keys held, and sessions waiting, in all. */
  get size(): { held: number; waiting: number } {
    return { held: this.#entries.size, waiting: this.#waitingFor.size };
  }

  /** Hands a lock nobody holds any more to its first waiter, or forgets it. */
  #settle(key: AdvisoryKey, entry: Entry): void {
    if (entry.sessionCount > 0 || entry.transactionCount > 0) return;
    const keys = this.#keysOf.get(entry.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysOf.delete(entry.owner);
    const next = entry.waiters.shift();
    if (next === undefined) {
      this.#entries.delete(key);
      return;
    }
    entry.owner = next.session;
    this.#own(next.session, key);
    entry.sessionCount = next.level === 'session' ? 1 : 0;
    entry.transactionCount = next.level === 'transaction' ? 1 : 0;
    next.grant();
  }

  #own(session: number, key: AdvisoryKey): void {
    let keys = this.#keysOf.get(session);
    if (keys === undefined) {
      keys = new Set();
      this.#keysOf.set(session, keys);
    }
    keys.add(key);
  }

  /** Whether `session` waiting for `key` would wait, through holders and their waits, for itself. */
  #closesCycle(session: number, key: AdvisoryKey): boolean {
    const seen = new Set<number>();
    let holder = this.#entries.get(key)?.owner;
    while (holder !== undefined && !seen.has(holder)) {
      if (holder === session) return true;
      seen.add(holder);
      const waitsFor = this.#waitingFor.get(holder);
      holder = waitsFor === undefined ? undefined : this.#entries.get(waitsFor)?.owner;
    }
    return false;
  }
}

function describeKey(key: AdvisoryKey): string {
  return key.slice(2);
}
