/**
 * The kernel's message protocol between the host (main thread, `kernel-host.ts`) and the worker that
 * runs SQLite (`worker.ts`), and the request and reply shapes of `KernelHost.execute`.
 *
 * Ordering: both directions are one `MessagePort`, so messages arrive in the order they were posted.
 * A request seals at most one group, and the group travels in the reply of that request: the host
 * calls `onGroup` before it resolves the reply, and replies (so groups) arrive in seal order.
 * Messages are batched both ways (a message between threads costs more than a small request): the
 * host posts the commands of one tick together, the worker the answers of one event-loop turn.
 *
 * LSNs cross as decimal strings. Groups cross in a flat encoding (`encodeGroupMessage`) whose two
 * arrays are fresh and transferred: no slab-pooled array (`bytes-pool.ts`) is ever transferred, and
 * structured cloning of a pooled view would copy its whole 16 KiB slab.
 */
import { assert, type DiffRun, type PageNo } from '@northlight/protocol';
import type { PageGroup, RedoVfsStats } from './redo-vfs.js';
import type { SqlError } from './sql-errors.js';

/** A bound parameter. Integers beyond 2^53 may be passed as bigint. */
export type SqlParam = number | string | boolean | null | bigint | Uint8Array;

export interface SqlStatement {
  /** One statement, or several separated by semicolons when there are no params. */
  readonly sql: string;
  /** Positional values for `?`, `?NNN`, `:name`… in order of their index; the count must match. */
  readonly params?: readonly SqlParam[];
}

export interface ExecuteRequest {
  /** Run in order as ONE transaction: all commit, or none does. */
  readonly statements: readonly SqlStatement[];
  /** The transaction must not write: every statement is checked, and the transaction rolled back. */
  readonly readOnly?: boolean;
  /**
   * A step of an interactive transaction (BEGIN … COMMIT across requests) instead of a transaction of
   * its own: `open` begins it and runs the statements, `continue` runs them in it, `commit` runs them
   * and commits (sealing the group), `rollback` ends it without running anything. The transaction
   * stays open between steps, so the caller must send no other request meanwhile (the engine's
   * `TransactionGate` sees to it). A step whose `id` is not the open transaction's (the kernel was
   * replaced, or it ended) fails with 40001.
   *
   * Savepoints (the PostgreSQL protocol's SAVEPOINT, RELEASE, ROLLBACK TO) are steps too, named by
   * their depth in the transaction's stack of savepoints (1: the outermost), never by the client's
   * name: `savepoint` takes the savepoint at `savepointDepth` (one more than the stack holds),
   * `release` destroys the one at `savepointDepth` and every later one, `rollback-to` undoes
   * everything after the one at `savepointDepth`, keeps it and destroys the later ones. `open` takes
   * `savepointDepth` savepoints right after BEGIN, before its statements: those the client took
   * before the transaction reached the kernel, when there was nothing to undo.
   *
   * A failed step ends the transaction (rolls it back), except when it holds a savepoint and SQLite
   * kept its transaction (it undid only the failed statement): then the transaction stays open,
   * aborted, and the reply says so (`transactionKept`); only `rollback-to` (which resumes it) and
   * `rollback` may follow, anything else fails with 25P02.
   */
  readonly transaction?: {
    readonly id: number;
    readonly step: TransactionStep;
    readonly savepointDepth?: number;
  };
  /**
   * A step of an OPTIMISTIC interactive transaction (transaction-gate.ts): the request is one SQLite
   * transaction of its own, like an autocommit request, that first replays the transaction's earlier
   * statements — the first `fingerprints.length` entries of `statements` — and checks that each gives
   * the result it gave before (its fingerprint, `resultFingerprint`); then it runs the rest. It then
   * commits (`commit`: the transaction's COMMIT, sealing its group) or rolls everything back (a
   * statement of a transaction still open: the client gets the results, nothing is kept).
   *
   * A replayed statement that now gives another result, or fails, means another transaction
   * committed a change this one saw: the request fails with 40001 and nothing is kept. Results and
   * fingerprints are of the entries after the replayed ones only (`ExecuteReply.fingerprints`), and
   * a failure's `statementIndex` counts from the first of them.
   */
  readonly replay?: { readonly fingerprints: readonly string[]; readonly commit: boolean };
  /** Values typed by storage class (`TypedValue`) instead of the JSON-friendly `JsonValue`. */
  readonly typedValues?: boolean;
  /**
   * Each result with columns also carries its columns' declared types (`StatementResult.declaredTypes`,
   * declared-types.ts): what the wire protocol needs to type its results as PostgreSQL would.
   */
  readonly declaredTypes?: boolean;
  /**
   * Prepare the one statement without running it: the result has its columns, no rows, and
   * `parameterCount` and `readOnly` (the wire protocol's Parse and Describe).
   */
  readonly describeOnly?: boolean;
}

export type TransactionStep =
  | 'open'
  | 'continue'
  | 'commit'
  | 'rollback'
  | 'savepoint'
  | 'release'
  | 'rollback-to';

/**
 * A column value as JSON carries it (the HTTP API): INTEGER → number when it is a safe integer, else
 * its decimal string; REAL → number; TEXT → string; BLOB → base64 string; NULL → null.
 */
export type JsonValue = number | string | null;

/** A column value by SQLite storage class: INTEGER → bigint, REAL → number, TEXT, BLOB, NULL. */
export type TypedValue = bigint | number | string | Uint8Array | null;

/** `JsonValue` unless the request asked for `typedValues`. */
export type SqlValue = JsonValue | TypedValue;

export interface StatementResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly SqlValue[])[];
  /** Rows inserted, updated or deleted by the statement (not by its triggers); 0 for the others. */
  readonly changes: number;
  /**
   * When the request asked for `declaredTypes` and there are columns: SQLite's declared type of each
   * column that is a direct reference to a table column, as written in its CREATE TABLE (`BIGINT`,
   * `varchar(20)`), a name from its affinity for some expressions (`INT` for a CAST to an integer
   * type, `TEXT`, `REAL`, `NUM`, `BLOB`), '' for the rest (declared-types.ts).
   */
  readonly declaredTypes?: readonly string[];
  /** `describeOnly`: the statement's highest parameter number. */
  readonly parameterCount?: number;
  /** `describeOnly`: SQLite says the statement does not write. */
  readonly readOnly?: boolean;
}

export type ExecuteReply =
  | {
      readonly ok: true;
      /** One per entry of the request; an entry of several statements reports its last one. */
      readonly results: readonly StatementResult[];
      /** A `replay` request: the fingerprint of each result in `results`. */
      readonly fingerprints?: readonly string[];
      /**
       * A `replay` request that rolled back: its statements changed the schema (DDL). Statements
       * prepared outside the transaction (the wire protocol's Parse) would not see the change, so the
       * transaction should take the writer (transaction-gate.ts).
       */
      readonly schemaChanged?: true;
      /** The group the commit sealed; absent when the transaction changed no page. */
      readonly groupSeq?: number;
      /**
       * Every group up to this one was sealed before the reply: what the request read may come from
       * any of them, so the reply may be released only once they are durable.
       */
      readonly visibleThroughSeq: number;
    }
  | {
      readonly ok: false;
      readonly error: SqlError;
      readonly visibleThroughSeq: number;
      /**
       * A failed step of an interactive transaction that holds a savepoint: the transaction is still
       * open in the kernel, aborted (`ExecuteRequest.transaction`). Absent: it was rolled back.
       */
      readonly transactionKept?: true;
    };

export interface KernelStats extends RedoVfsStats {
  /**
   * Pages SQLite found in its own page cache, and pages it had to ask the VFS for (which then come
   * from the buffer cache or from storage): SQLITE_DBSTATUS_CACHE_HIT / _MISS since the kernel opened.
   */
  readonly sqliteCacheHits: number;
  readonly sqliteCacheMisses: number;
  readonly requests: number;
  readonly requestsFailed: number;
  readonly statementsCached: number;
  /** Replica: batches of the writer's records applied (`applyRecords`). */
  readonly applies: number;
}

/** A sealed group as the host's `onGroup` receives it: one MTR, records in page-write order. */
export interface SealedGroup {
  readonly seq: number;
  readonly sizePages: number;
  /** Runs are views into one ArrayBuffer per group: respect `byteOffset`. */
  readonly records: readonly { readonly pageNo: PageNo; readonly runs: readonly DiffRun[] }[];
}

/** What the worker is started with (structured-cloned into it). */
export interface KernelWorkerData {
  readonly pageChannel: SharedArrayBuffer;
  /** The ids of cancelled requests (cancel-channel.ts). */
  readonly cancelChannel: SharedArrayBuffer;
  readonly cachePages: number;
  readonly pageReadTimeoutMs: number;
  readonly maxGroupPages: number;
  readonly maxUnassignedGroups: number;
  readonly shipFullPages: boolean;
  readonly maxResultRows: number;
  readonly sqliteCachePages: number;
  /** A read replica's kernel (sql-session.ts `replica`). */
  readonly replica: boolean;
  /** A spare kernel (`KernelHost.prepare`): load, then wait for an `open` command to open the volume. */
  readonly waitForOpen: boolean;
}

export type HostCommand =
  | { readonly type: 'execute'; readonly id: number; readonly request: ExecuteRequest }
  | { readonly type: 'set-vdl'; readonly lsn: string }
  | { readonly type: 'assign-lsns'; readonly seq: number; readonly lsns: readonly string[] }
  | { readonly type: 'set-accepting'; readonly accepting: boolean; readonly reason?: string }
  | { readonly type: 'stats'; readonly id: number }
  /** A spare kernel's go: open the volume now (the first command it takes). */
  | { readonly type: 'open' }
  /**
   * Replica: apply the writer's records of whole MTRs (the group encoding, seq and size unused); page
   * reads after it carry `tag` (the VDL they reach) so the host reads at the matching read points.
   */
  | { readonly type: 'apply-records'; readonly tag: string; readonly group: GroupMessage };

/**
 * The host posts the commands of one tick as one message (a message between threads costs more than
 * a small request, ~10 µs and much more when the threads compete for cores): the worker runs them in
 * order.
 */
export interface HostToWorkerMessage {
  readonly type: 'commands';
  readonly commands: readonly HostCommand[];
}

/** A sealed group, in the flat encoding; it travels with the reply of the request that sealed it. */
export interface GroupMessage {
  readonly seq: number;
  readonly sizePages: number;
  /** recordCount, then per record: pageNo, runCount, then per run: offset, length. */
  readonly layout: Uint32Array<ArrayBuffer>;
  /** Every run's bytes, back to back in record and run order. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

export type WorkerAnswer =
  | {
      readonly type: 'reply';
      readonly id: number;
      readonly reply: ExecuteReply;
      /** The group the request's commit sealed: the host hands it to `onGroup` before resolving. */
      readonly group?: GroupMessage;
    }
  /** A request the host gave up on before it started (cancel-channel.ts, claims): it never ran. */
  | { readonly type: 'skipped'; readonly id: number }
  | { readonly type: 'stats'; readonly id: number; readonly stats: KernelStats }
  /** Replica: the records tagged `tag` are applied; the next request sees them. */
  | { readonly type: 'applied'; readonly tag: string };

export type WorkerToHostMessage =
  | { readonly type: 'ready'; readonly sizePages: number; readonly sqliteVersion: string }
  | { readonly type: 'start-failed'; readonly message: string }
  /** A page miss; on a replica, `tag` is the apply the kernel is at (R2). */
  | { readonly type: 'read-page'; readonly requestId: number; readonly pageNo: number; readonly tag?: string }
  /**
   * The answers to every command the worker ran in one turn of its event loop, in order: with many
   * requests in flight, one message carries many replies.
   */
  | { readonly type: 'answers'; readonly answers: readonly WorkerAnswer[] };

/** A group in the flat, transferable encoding; `layout` and `bytes` are fresh arrays. */
export function encodeGroupMessage(group: PageGroup): GroupMessage {
  let layoutLength = 1;
  let byteLength = 0;
  for (const record of group.records) {
    layoutLength += 2 + 2 * record.runs.length;
    for (const run of record.runs) byteLength += run.bytes.length;
  }
  const layout = new Uint32Array(layoutLength);
  const bytes = new Uint8Array(byteLength);
  let at = 0;
  let byteAt = 0;
  layout[at++] = group.records.length;
  for (const record of group.records) {
    layout[at++] = record.pageNo;
    layout[at++] = record.runs.length;
    for (const run of record.runs) {
      layout[at++] = run.offset;
      layout[at++] = run.bytes.length;
      bytes.set(run.bytes, byteAt);
      byteAt += run.bytes.length;
    }
  }
  return { seq: group.seq, sizePages: group.sizePages, layout, bytes };
}

export function decodeGroupMessage(message: GroupMessage): SealedGroup {
  const { layout, bytes } = message;
  let at = 0;
  let byteAt = 0;
  const recordCount = layout[at++]!;
  const records: { pageNo: PageNo; runs: DiffRun[] }[] = [];
  for (let index = 0; index < recordCount; index++) {
    const pageNo = layout[at++]! as PageNo;
    const runCount = layout[at++]!;
    const runs: DiffRun[] = [];
    for (let runIndex = 0; runIndex < runCount; runIndex++) {
      const offset = layout[at++]!;
      const length = layout[at++]!;
      runs.push({ offset, bytes: bytes.subarray(byteAt, byteAt + length) });
      byteAt += length;
    }
    records.push({ pageNo, runs });
  }
  assert(at === layout.length && byteAt === bytes.length, `group ${message.seq} is malformed`);
  return { seq: message.seq, sizePages: message.sizePages, records };
}
