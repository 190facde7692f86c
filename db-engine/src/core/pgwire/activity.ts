/**
 * `pg_stat_activity` and `pg_cancel_backend` / `pg_terminate_backend`: who is connected to this
 * engine, what each session is doing, and a way to stop one. With one SQL writer (docs/clients.md,
 * "One writer") a session idle inside a transaction holds up every writer until its timeout, so an
 * operator needs to see it and end it, as they would in PostgreSQL:
 *
 *     SELECT pid, state, now() - xact_start, query FROM pg_stat_activity WHERE state <> 'idle';
 *     SELECT pg_terminate_backend(4242);
 *
 * Each reference to `pg_stat_activity` (optionally `pg_catalog.`-qualified) becomes a derived table
 * of the engine's sessions as they are when the statement is translated, with PostgreSQL 15's
 * columns, and the rest of the query runs in SQLite as written. The sessions come from the server
 * (`SessionDirectory`, pg-server.ts); a statement that reads them is translated again at each
 * execution, never cached. Pure code over the lexer's tokens.
 */
import { sqlString } from './psql-patterns.js';
import { isSignificant, type Token, tokenize, word } from './sql.js';
import { aliasStops } from './statement-rewrites.js';
import { civilFromDays } from './types.js';

/** One session as `pg_stat_activity` shows it (times: milliseconds since the Unix epoch). */
export interface SessionActivity {
  readonly pid: number;
  readonly user: string;
  readonly database: string;
  readonly applicationName: string;
  readonly clientAddress: string | null;
  readonly clientPort: number | null;
  readonly backendStartMs: number;
  readonly state: 'active' | 'idle' | 'idle in transaction' | 'idle in transaction (aborted)';
  /** The statement running, or the last one run (PostgreSQL's `query`), at most QUERY_TEXT_MAX chars. */
  readonly query: string;
  readonly queryStartMs: number | null;
  readonly stateChangeMs: number | null;
  readonly xactStartMs: number | null;
}

/** What the server offers a session: the others' activity, and signals to them. */
export interface SessionDirectory {
  list(): readonly SessionActivity[];
  /**
   * `cancel`: the session's running statement fails with 57014 (as a CancelRequest does);
   * `terminate`: the session ends with FATAL 57P01 and its open transaction is rolled back.
   * False when no such session exists.
   */
  signal(pid: number, action: 'cancel' | 'terminate'): boolean;
}

/** PostgreSQL's default `track_activity_query_size` (1024 bytes; characters here). */
export const QUERY_TEXT_MAX = 1_024;

/** A wall-clock time as a timestamptz value as northlight writes one (UTC, milliseconds). */
export function utcText(ms: number | null): string | null {
  if (ms === null) return null;
  const whole = Math.floor(ms);
  const days = Math.floor(whole / 86_400_000);
  const [year, month, day] = civilFromDays(days);
  const inDay = whole - days * 86_400_000;
  const two = (value: number) => String(value).padStart(2, '0');
  const clock = `${two(Math.floor(inDay / 3_600_000))}:${two(Math.floor((inDay % 3_600_000) / 60_000))}:${two(Math.floor((inDay % 60_000) / 1_000))}`;
  const millis = inDay % 1_000;
  const fraction = millis === 0 ? '' : `.${String(millis).padStart(3, '0').replace(/0+$/, '')}`;
  return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)} ${clock}${fraction}`;
}

function literal(value: string | number | null): string {
  if (value === null) return 'NULL';
  return typeof value === 'number' ? String(value) : sqlString(value);
}

/** PostgreSQL 15's columns of pg_stat_activity, in its order, and each one's value for a session. */
const COLUMNS: readonly (readonly [string, (session: SessionActivity) => string | number | null])[] = [
  ['datid', () => 1],
  ['datname', (session) => session.database],
  ['pid', (session) => session.pid],
  ['leader_pid', () => null],
  ['usesysid', () => 10],
  ['usename', (session) => session.user],
  ['application_name', (session) => session.applicationName],
  ['client_addr', (session) => session.clientAddress],
  ['client_hostname', () => null],
  ['client_port', (session) => session.clientPort],
  ['backend_start', (session) => utcText(session.backendStartMs)],
  ['xact_start', (session) => utcText(session.xactStartMs)],
  ['query_start', (session) => utcText(session.queryStartMs)],
  ['state_change', (session) => utcText(session.stateChangeMs)],
  ['wait_event_type', () => null],
  ['wait_event', () => null],
  ['state', (session) => session.state],
  ['backend_xid', () => null],
  ['backend_xmin', () => null],
  ['query_id', () => null],
  ['query', (session) => session.query.slice(0, QUERY_TEXT_MAX)],
  ['backend_type', () => 'client backend'],
];

/** The derived table's SELECT: one row per session, none when there is none. */
export function activitySql(sessions: readonly SessionActivity[]): string {
  if (sessions.length === 0) {
    return `SELECT ${COLUMNS.map(([name]) => `NULL AS ${name}`).join(', ')} WHERE 0`;
  }
  return sessions
    .map(
      (session) =>
        `SELECT ${COLUMNS.map(([name, value]) => `${literal(value(session))} AS ${name}`).join(', ')}`,
    )
    .join(' UNION ALL ');
}

/** Whether the statement names pg_stat_activity (one pass, before any other work). */
export function readsActivity(tokens: readonly Token[]): boolean {
  return tokens.some((token) => token.kind === 'identifier' && word(token) === 'PG_STAT_ACTIVITY');
}

/**
 * Each `[pg_catalog.]pg_stat_activity` → `(SELECT … UNION ALL …) [AS pg_stat_activity]`, aliased
 * by its own name unless the query gives an alias, so `pg_stat_activity.pid` still resolves.
 */
export function withSessionActivity(tokens: readonly Token[], sessions: readonly SessionActivity[]): Token[] {
  const out: Token[] = [];
  let derived: Token[] | null = null;
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.kind !== 'identifier' || word(token) !== 'PG_STAT_ACTIVITY') {
      out.push(token);
      continue;
    }
    // Drop a `pg_catalog.` before it (the qualifier and the dot are the last two output tokens).
    const dot = lastSignificant(out);
    if (dot >= 0 && out[dot]?.text === '.') {
      const schema = lastSignificant(out, dot);
      if (schema >= 0 && word(out[schema]) === 'PG_CATALOG') out.splice(schema);
    }
    derived ??= tokenize(`(${activitySql(sessions)})`);
    out.push(...derived);
    const next = tokens.slice(index + 1).find(isSignificant);
    const aliased =
      next !== undefined &&
      (word(next) === 'AS' ||
        next.kind === 'quoted-identifier' ||
        (next.kind === 'identifier' && !aliasStops.has(word(next))));
    if (!aliased) out.push({ kind: 'space', text: ' ' }, { kind: 'identifier', text: 'pg_stat_activity' });
  }
  return out;
}

function lastSignificant(tokens: readonly Token[], before = tokens.length): number {
  for (let index = before - 1; index >= 0; index--) {
    if (isSignificant(tokens[index] as Token)) return index;
  }
  return -1;
}
