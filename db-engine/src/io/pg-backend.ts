/**
 * The PostgreSQL wire protocol's `SqlBackend` (src/core/pgwire/backend.ts) over a running engine: the
 * writer's or a replica's `execute`, behind the `TransactionGate` that gives interactive transactions
 * the one SQLite connection in turn.
 *
 * Values cross typed by SQLite storage class (`typedValues`), so the protocol can tell an INTEGER from
 * a REAL and a BLOB from TEXT, with each result column's declared type (`declaredTypes`), so it can
 * type the column as PostgreSQL would. Failures become ErrorResponse fields: the kernel's SQLSTATE as it
 * mapped it, and for a failure of the engine itself (write quorum lost, the kernel being replaced, a
 * fenced writer) 57P03 with what to do.
 */
import type {
  BackendError,
  BackendReply,
  BackendStatement,
  BackendTransaction,
  SqlBackend,
  StatementOutcome,
  StatementShape,
} from '../core/pgwire/backend.js';
import type { SqlStatement, StatementResult } from '../kernel/messages.js';
import type { SqlError } from '../kernel/sql-errors.js';
import { type GateReply, type GateTransaction, guarded, type TransactionGate } from '../transaction-gate.js';

export interface EngineBackendOptions {
  readonly gate: TransactionGate;
  readonly role: 'writer' | 'replica';
  /** `server_version` as clients see it, e.g. "15.0 (northlight 0.1.0)". */
  readonly serverVersion: string;
}

export function createEngineBackend(options: EngineBackendOptions): SqlBackend {
  const { gate } = options;
  return {
    role: options.role,
    serverVersion: options.serverVersion,
    async describe(sql): Promise<BackendReply<StatementShape>> {
      const reply = await guarded(() =>
        gate.execute({ statements: [{ sql }], describeOnly: true, declaredTypes: true }),
      );
      if (!reply.ok) return { ok: false, error: backendError(reply.error) };
      const result = reply.results[0]!;
      return {
        ok: true,
        value: {
          parameterCount: result.parameterCount ?? 0,
          columns: result.columns,
          readOnly: result.readOnly ?? true,
          ...(result.declaredTypes === undefined ? {} : { declaredTypes: result.declaredTypes }),
        },
      };
    },
    async run(statements, runOptions): Promise<BackendReply<readonly StatementOutcome[]>> {
      const reply = await guarded(() =>
        gate.execute(
          {
            statements: statements.map(toSqlStatement),
            readOnly: runOptions.readOnly || options.role === 'replica',
            typedValues: true,
            declaredTypes: true,
          },
          runOptions.signal,
          runOptions.lockWaitMs,
        ),
      );
      if (!reply.ok) return { ok: false, error: backendError(reply.error) };
      return { ok: true, value: reply.results.map(toOutcome) };
    },
    async begin(beginOptions): Promise<BackendReply<BackendTransaction>> {
      if (beginOptions.signal?.aborted === true) {
        return {
          ok: false,
          error: { sqlstate: '57014', message: 'canceling statement due to user request' },
        };
      }
      const onAbandoned = beginOptions.onAbandoned;
      const transaction = gate.begin({
        readOnly: beginOptions.readOnly,
        ...(beginOptions.session === undefined ? {} : { session: beginOptions.session }),
        ...(beginOptions.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: beginOptions.idleTimeoutMs }),
        ...(beginOptions.optimistic === undefined ? {} : { optimistic: beginOptions.optimistic }),
        ...(onAbandoned === undefined
          ? {}
          : { onAbandoned: (error: SqlError) => onAbandoned({ ...backendError(error), fatal: true }) }),
      });
      return { ok: true, value: wrapTransaction(transaction) };
    },
  };
}

function wrapTransaction(transaction: GateTransaction): BackendTransaction {
  return {
    async run(statement, signal, lockWaitMs, holdWriter): Promise<BackendReply<StatementOutcome>> {
      const reply = await transaction.run([toSqlStatement(statement)], {
        typedValues: true,
        declaredTypes: true,
        ...(holdWriter === true ? { holdWriter } : {}),
        ...(signal === undefined ? {} : { signal }),
        ...(lockWaitMs === undefined ? {} : { lockWaitMs }),
      });
      if (!reply.ok) return { ok: false, error: backendError(reply.error) };
      return { ok: true, value: toOutcome(reply.value[0]!) };
    },
    async commit(): Promise<BackendReply<void>> {
      const reply = await transaction.commit();
      return reply.ok ? reply : { ok: false, error: backendError(reply.error) };
    },
    rollback: () => transaction.rollback(),
    savepoint: async () => backendReply(await transaction.savepoint()),
    release: async (depth) => backendReply(await transaction.release(depth)),
    rollbackTo: async (depth) => backendReply(await transaction.rollbackTo(depth)),
  };
}

function backendReply(reply: GateReply<void>): BackendReply<void> {
  return reply.ok ? reply : { ok: false, error: backendError(reply.error) };
}

function toSqlStatement(statement: BackendStatement): SqlStatement {
  return statement.params === undefined
    ? { sql: statement.sql }
    : { sql: statement.sql, params: statement.params };
}

function toOutcome(result: StatementResult): StatementOutcome {
  // typedValues: every value is a TypedValue (bigint, number, string, Uint8Array or null).
  return result as StatementOutcome;
}

const HINTS: Readonly<Record<string, string>> = {
  '57P03': 'The engine is not accepting this now (write quorum lost, failover, or a restart); retry shortly.',
  '55P03':
    'Another session holds the SQL writer (an open transaction, or a statement still running); keep transactions and statements short, retry, or raise lock_timeout.',
  '25P03': 'Reconnect; a transaction that holds the SQL writer must not stay idle.',
  '40001': 'Run the transaction again.',
};

function backendError(error: SqlError): BackendError {
  const hint = error.hint ?? HINTS[error.sqlstate];
  return {
    sqlstate: error.sqlstate,
    message: error.message,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    ...(hint === undefined ? {} : { hint }),
  };
}
