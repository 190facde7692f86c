/**
 * Session settings that the protocol layer answers itself (SHOW, SET, RESET, ParameterStatus):
 * they never reach SQLite. Most are accepted and only remembered, so that clients which set them on
 * connect (DateStyle, extra_float_digits, application_name…) work; `statement_timeout`,
 * `default_transaction_read_only` and `transaction_read_only` are honoured
 * by the connection. Read-only ones (server_version, integer_datetimes…) refuse SET with 55P02, an
 * unknown name gets 42704, as in PostgreSQL.
 */
import { PgSqlError } from './sql.js';

interface SettingDefinition {
  /** How PostgreSQL spells it in ParameterStatus and SHOW ALL. */
  readonly displayName: string;
  readonly defaultValue: (facts: SessionFacts) => string;
  readonly readOnly?: boolean;
  /** Sent to the client in ParameterStatus at startup and whenever it changes (GUC_REPORT). */
  readonly reported?: boolean;
  /** Normalises or rejects a value (throws PgSqlError). */
  readonly accept?: (value: string) => string;
}

function acceptUtf8(value: string): string {
  const upper = value.toUpperCase().replace(/[-_]/g, '');
  if (upper === 'UTF8' || upper === 'UNICODE' || upper === 'SQLASCII') return 'UTF8';
  throw new PgSqlError('0A000', `client_encoding ${value} is not supported: northlight speaks UTF8 only`);
}

/** `5s`, `100ms`, `2min`, `1h` or a bare number of milliseconds. */
/** What a session's defaults come from. */
export interface SessionFacts {
  readonly serverVersion: string;
  readonly user: string;
  /** The default of `statement_timeout`, in ms (0: none). */
  readonly statementTimeoutMs?: number;
  /** The default of `idle_in_transaction_session_timeout`, in ms (0: none). */
  readonly idleInTransactionTimeoutMs?: number;
  /** The default of `lock_timeout`, in ms (0: none). */
  readonly lockWaitTimeoutMs?: number;
  /** A replica: every transaction is read-only, and `in_hot_standby` says so. */
  readonly replica?: boolean;
}

/** PostgreSQL's boolean setting values, normalised to on/off. */
export function acceptBoolean(value: string): string {
  const lower = value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1', 't', 'y'].includes(lower)) return 'on';
  if (['off', 'false', 'no', '0', 'f', 'n'].includes(lower)) return 'off';
  throw new PgSqlError('22023', `invalid value for a boolean parameter: "${value}"`);
}

export function parseDurationMs(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/i.exec(value);
  if (match === null) throw new PgSqlError('22023', `invalid value for a duration: "${value}"`);
  const units: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(match[1]) * (units[(match[2] ?? 'ms').toLowerCase()] as number));
}

function acceptDuration(value: string): string {
  return String(parseDurationMs(value));
}

const definitions: Readonly<Record<string, SettingDefinition>> = {
  server_version: {
    displayName: 'server_version',
    defaultValue: (facts) => facts.serverVersion,
    readOnly: true,
    reported: true,
  },
  // Tools compare versions by this number (major × 10000 + minor since PostgreSQL 10).
  server_version_num: {
    displayName: 'server_version_num',
    defaultValue: (facts) => {
      const [major = '0', minor = '0'] = facts.serverVersion.split('.');
      return String(Number.parseInt(major, 10) * 10_000 + (Number.parseInt(minor, 10) || 0));
    },
    readOnly: true,
  },
  server_encoding: {
    displayName: 'server_encoding',
    defaultValue: () => 'UTF8',
    readOnly: true,
    reported: true,
  },
  client_encoding: {
    displayName: 'client_encoding',
    defaultValue: () => 'UTF8',
    reported: true,
    accept: acceptUtf8,
  },
  datestyle: { displayName: 'DateStyle', defaultValue: () => 'ISO, MDY', reported: true },
  intervalstyle: { displayName: 'IntervalStyle', defaultValue: () => 'postgres', reported: true },
  timezone: { displayName: 'TimeZone', defaultValue: () => 'UTC', reported: true },
  integer_datetimes: {
    displayName: 'integer_datetimes',
    defaultValue: () => 'on',
    readOnly: true,
    reported: true,
  },
  standard_conforming_strings: {
    displayName: 'standard_conforming_strings',
    defaultValue: () => 'on',
    reported: true,
    accept: (value) => {
      if (value.toLowerCase() !== 'on') {
        throw new PgSqlError('0A000', 'standard_conforming_strings is always on in northlight');
      }
      return 'on';
    },
  },
  is_superuser: { displayName: 'is_superuser', defaultValue: () => 'off', readOnly: true, reported: true },
  session_authorization: {
    displayName: 'session_authorization',
    defaultValue: (facts) => facts.user,
    readOnly: true,
    reported: true,
  },
  application_name: { displayName: 'application_name', defaultValue: () => '', reported: true },
  search_path: { displayName: 'search_path', defaultValue: () => '"$user", public' },
  // One writer, one SQLite connection: every transaction is serializable.
  transaction_isolation: { displayName: 'transaction_isolation', defaultValue: () => 'serializable' },
  default_transaction_isolation: {
    displayName: 'default_transaction_isolation',
    defaultValue: () => 'serializable',
  },
  // On a replica every transaction is read-only, and says so: libpq's target_session_attrs
  // (read-write, read-only, primary, standby) reads these, reported since PostgreSQL 14, or asks
  // SHOW transaction_read_only / pg_is_in_recovery(). The connection answers SHOW
  // transaction_read_only for the transaction at hand.
  transaction_read_only: {
    displayName: 'transaction_read_only',
    defaultValue: (facts) => (facts.replica === true ? 'on' : 'off'),
    accept: acceptBoolean,
  },
  default_transaction_read_only: {
    displayName: 'default_transaction_read_only',
    defaultValue: (facts) => (facts.replica === true ? 'on' : 'off'),
    reported: true,
    accept: acceptBoolean,
  },
  in_hot_standby: {
    displayName: 'in_hot_standby',
    defaultValue: (facts) => (facts.replica === true ? 'on' : 'off'),
    readOnly: true,
    reported: true,
  },
  // The engine's default (`--statement-timeout-ms`), in ms; SET 0 turns it off, as in PostgreSQL.
  statement_timeout: {
    displayName: 'statement_timeout',
    defaultValue: (facts) => String(facts.statementTimeoutMs ?? 0),
    accept: acceptDuration,
  },
  // The engine's wait for the SQL writer (`--pg-lock-wait-timeout-ms`), in ms; SET 0: no limit.
  lock_timeout: {
    displayName: 'lock_timeout',
    defaultValue: (facts) => String(facts.lockWaitTimeoutMs ?? 0),
    accept: acceptDuration,
  },
  // The engine's default (`--pg-idle-in-transaction-timeout-ms`), in ms; SET 0 turns it off, as in
  // PostgreSQL.
  idle_in_transaction_session_timeout: {
    displayName: 'idle_in_transaction_session_timeout',
    defaultValue: (facts) => String(facts.idleInTransactionTimeoutMs ?? 0),
    accept: acceptDuration,
  },
  extra_float_digits: { displayName: 'extra_float_digits', defaultValue: () => '1' },
  bytea_output: { displayName: 'bytea_output', defaultValue: () => 'hex' },
  max_identifier_length: { displayName: 'max_identifier_length', defaultValue: () => '63', readOnly: true },
  synchronous_commit: { displayName: 'synchronous_commit', defaultValue: () => 'on' },
  client_min_messages: { displayName: 'client_min_messages', defaultValue: () => 'notice' },
  row_security: { displayName: 'row_security', defaultValue: () => 'on' },
  // What every pg_dump script SETs before its first CREATE: remembered, and they change nothing here
  // (no function bodies to check, no XML, no tablespaces, no table access methods but SQLite's).
  check_function_bodies: {
    displayName: 'check_function_bodies',
    defaultValue: () => 'on',
    accept: acceptBoolean,
  },
  xmloption: { displayName: 'xmloption', defaultValue: () => 'content' },
  default_tablespace: { displayName: 'default_tablespace', defaultValue: () => '' },
  default_table_access_method: { displayName: 'default_table_access_method', defaultValue: () => 'heap' },
  default_toast_compression: { displayName: 'default_toast_compression', defaultValue: () => 'pglz' },
  lc_messages: { displayName: 'lc_messages', defaultValue: () => 'C' },
};

/**
 * The startup packet's `options` (libpq's `options=` and `PGOPTIONS`, node-postgres's `options`):
 * command-line switches, `-c name=value` or `--name=value`, separated by spaces, a backslash escaping
 * the next character (PostgreSQL's `pg_split_opts`). Dashes in a name are underscores. Any other
 * switch (`-d 5`, `-B`…) is the postmaster's, and refused with 08P01 as PostgreSQL refuses a switch it
 * does not take from a client.
 */
export function startupOptions(options: string): [name: string, value: string][] {
  const words: string[] = [];
  let current: string | null = null;
  for (let index = 0; index < options.length; index++) {
    const char = options[index] as string;
    if (char === '\\' && index + 1 < options.length) {
      current = (current ?? '') + options[index + 1];
      index += 1;
    } else if (/\s/.test(char)) {
      if (current !== null) words.push(current);
      current = null;
    } else current = (current ?? '') + char;
  }
  if (current !== null) words.push(current);
  const pairs: [string, string][] = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index] as string;
    let assignment: string | undefined;
    if (word === '-c') {
      assignment = words[index + 1];
      index += 1;
    } else if (word.startsWith('-c')) assignment = word.slice(2);
    else if (word.startsWith('--')) assignment = word.slice(2);
    const equals = assignment?.indexOf('=') ?? -1;
    if (assignment === undefined || equals <= 0) {
      throw new PgSqlError('08P01', `invalid command-line argument for server process: ${word}`);
    }
    pairs.push([assignment.slice(0, equals).replaceAll('-', '_'), assignment.slice(equals + 1)]);
  }
  return pairs;
}

/** Bound on remembered settings: only the names above can be set, so this holds by construction. */
export const SETTINGS_MAX = Object.keys(definitions).length;

export class SessionSettings {
  private readonly values = new Map<string, string>();

  constructor(private readonly facts: SessionFacts) {}

  private definition(name: string): SettingDefinition {
    const definition = definitions[name.toLowerCase()];
    if (definition === undefined) {
      throw new PgSqlError('42704', `unrecognized configuration parameter "${name}"`);
    }
    return definition;
  }

  get(name: string): string {
    const key = name.toLowerCase();
    return this.values.get(key) ?? this.definition(key).defaultValue(this.facts);
  }

  displayName(name: string): string {
    return this.definition(name).displayName;
  }

  /**
   * Sets (value) or resets (null). Returns the ParameterStatus to send when the setting is
   * reported, else null.
   */
  set(name: string, value: string | null): { name: string; value: string } | null {
    const key = name.toLowerCase();
    const definition = this.definition(key);
    if (definition.readOnly) {
      throw new PgSqlError('55P02', `parameter "${name}" cannot be changed`);
    }
    if (value === null) this.values.delete(key);
    else this.values.set(key, definition.accept === undefined ? value : definition.accept(value));
    return definition.reported ? { name: definition.displayName, value: this.get(key) } : null;
  }

  /** Startup-packet parameters (`application_name`, `client_encoding`, `DateStyle`…). */
  applyStartup(name: string, value: string): void {
    if (name === 'options') {
      for (const [option, optionValue] of startupOptions(value)) this.applyStartup(option, optionValue);
      return;
    }
    const definition = definitions[name.toLowerCase()];
    if (definition === undefined || definition.readOnly) return;
    this.set(name, value);
  }

  /** The value set in this session (undefined when it is the default), as `snapshot` holds it. */
  stored(name: string): string | undefined {
    return this.values.get(name.toLowerCase());
  }

  /** The values set in this session (not defaults), to restore later. */
  snapshot(): Map<string, string> {
    return new Map(this.values);
  }

  /**
   * Puts back the values of a snapshot — all of them, or only `names` (a name absent or undefined
   * goes back to its default) — and returns the reported settings whose value changed (for
   * ParameterStatus).
   */
  restore(
    snapshot: ReadonlyMap<string, string | undefined>,
    names: readonly string[] | null,
  ): { name: string; value: string }[] {
    const keys = names ?? [...new Set([...this.values.keys(), ...snapshot.keys()])];
    const changed: { name: string; value: string }[] = [];
    for (const key of keys) {
      const before = this.get(key);
      const value = snapshot.get(key);
      if (value === undefined) this.values.delete(key);
      else this.values.set(key, value);
      const definition = definitions[key] as SettingDefinition;
      if (definition.reported === true && this.get(key) !== before) {
        changed.push({ name: definition.displayName, value: this.get(key) });
      }
    }
    return changed;
  }

  resetAll(): void {
    this.values.clear();
  }

  reported(): { name: string; value: string }[] {
    return Object.entries(definitions)
      .filter(([, definition]) => definition.reported)
      .map(([key, definition]) => ({ name: definition.displayName, value: this.get(key) }));
  }

  all(): { name: string; value: string }[] {
    return Object.keys(definitions).map((key) => ({
      name: (definitions[key] as SettingDefinition).displayName,
      value: this.get(key),
    }));
  }
}
