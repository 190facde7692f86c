/**
 * PostgreSQL types on the wire, mapped onto SQLite's storage classes.
 *
 * Parameters arrive in text or binary format with the type the client declared in Parse (or 0,
 * "unknown", which most drivers send): they are decoded to the value SQLite binds best (int types →
 * bigint, float types → number, bool → boolean, bytea → bytes, everything else → string; an unknown
 * text parameter stays a string and SQLite's column affinity converts it, much as PostgreSQL resolves
 * an unknown literal against the column's type).
 *
 * Results: a column that is a direct reference to a table column (through aliases, joins,
 * subqueries, CTEs and views) has the PostgreSQL type its declared type names, as in PostgreSQL
 * (`declaredTypeOid`: `integer` → int4, `bigint` → int8, `boolean` → bool, `jsonb` → jsonb…; the
 * kernel finds declared types, src/kernel/declared-types.ts) — when every value of the column in
 * this result fits that type (`fitsType`: an int4 column holding 2^40, a boolean column holding 7,
 * text in an integer column, a date column holding text that is not PostgreSQL's date output: SQLite
 * allows them all), and the type can be sent in the format the client asked for (numeric, date and
 * timestamps only as text). Otherwise, and for any other expression, SQLite's dynamic typing leaves
 * only the values: the type comes from the storage classes of the values the column holds in this
 * result (`columnTypeOid`): all integers → int8; reals, or integers mixed with reals → float8; all
 * blobs → bytea; anything else (text, mixed classes, or only NULLs) → text. The values are then
 * encoded in that type, in the format the client asked for (text, or binary).
 *
 * Declared types SQLite cannot tell from an expression's: SQLite names a CAST's result by its
 * affinity (`CAST(x AS BIGINT)` → `INT`), and canonicalizes a declared `int`, `integer`, `real`,
 * `text` or `blob` to the same names, so `CAST(x AS BIGINT)` is typed int4 (when its values fit) and
 * `x::float8` (a CAST to REAL) float4 when its values are float4-exact. `serial`, `bigserial` and
 * `smallserial` are stored as `INTEGER` (so that a primary key is the rowid), so all three come back
 * as int4 while their values fit, int8 beyond.
 */
import type { PgParam, PgValue } from './backend.js';
import { decodeUtf8, encodeUtf8, type FormatCode } from './messages.js';

export const Oid = {
  unknownZero: 0,
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  /** What `pg_advisory_lock` returns: no value, written as empty text. */
  void: 2278,
  jsonb: 3802,
} as const;

/** A parameter that does not decode under its declared type: ErrorResponse with this SQLSTATE. */
export class PgValueError extends Error {
  override readonly name = 'PgValueError';
  constructor(
    readonly sqlstate: '22P02' | '22P03' | '22003' | '0A000' | '22021',
    message: string,
  ) {
    super(message);
  }
}

const integerText = /^\s*[+-]?\d+\s*$/;
const int2Range = [-32_768n, 32_767n] as const;
const int4Range = [-2_147_483_648n, 2_147_483_647n] as const;
const int8Range = [-(2n ** 63n), 2n ** 63n - 1n] as const;

function integerRange(oid: number): readonly [bigint, bigint] {
  if (oid === Oid.int2) return int2Range;
  if (oid === Oid.int4 || oid === Oid.oid) return int4Range;
  return int8Range;
}

function typeName(oid: number): string {
  if (oid === Oid.int2) return 'smallint';
  if (oid === Oid.int4) return 'integer';
  if (oid === Oid.int8) return 'bigint';
  if (oid === Oid.float4) return 'real';
  if (oid === Oid.float8) return 'double precision';
  if (oid === Oid.bool) return 'boolean';
  return `oid ${oid}`;
}

function decodeIntegerText(text: string, oid: number): bigint {
  if (!integerText.test(text)) {
    throw new PgValueError('22P02', `invalid input syntax for type ${typeName(oid)}: "${text}"`);
  }
  const value = BigInt(text.trim());
  const [low, high] = integerRange(oid);
  if (value < low || value > high) {
    throw new PgValueError('22003', `value "${text}" is out of range for type ${typeName(oid)}`);
  }
  return value;
}

function decodeFloatText(text: string, oid: number): number {
  const trimmed = text.trim();
  const lower = trimmed.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === 'infinity' || lower === '+infinity' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-infinity' || lower === '-inf') return Number.NEGATIVE_INFINITY;
  const value = Number(trimmed);
  if (trimmed === '' || Number.isNaN(value)) {
    throw new PgValueError('22P02', `invalid input syntax for type ${typeName(oid)}: "${text}"`);
  }
  return value;
}

function decodeBoolText(text: string): boolean {
  const value = text.trim().toLowerCase();
  if (['t', 'true', 'y', 'yes', 'on', '1'].includes(value)) return true;
  if (['f', 'false', 'n', 'no', 'off', '0'].includes(value)) return false;
  throw new PgValueError('22P02', `invalid input syntax for type boolean: "${text}"`);
}

/** bytea in text: hex (`\x0102`) or the old escape format (`a\\b\001`). */
export function decodeByteaText(text: string): Uint8Array {
  if (text.startsWith('\\x')) {
    const hex = text.slice(2).replace(/\s/g, '');
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new PgValueError('22P02', 'invalid hexadecimal data for type bytea');
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let index = 0; index < bytes.length; index++) {
      bytes[index] = Number.parseInt(hex.slice(index * 2, index * 2 + 2), 16);
    }
    return bytes;
  }
  const raw = encodeUtf8(text);
  const out: number[] = [];
  for (let index = 0; index < raw.length; index++) {
    const byte = raw[index] as number;
    if (byte !== 0x5c) {
      out.push(byte);
      continue;
    }
    if (raw[index + 1] === 0x5c) {
      out.push(0x5c);
      index += 1;
      continue;
    }
    const octal = String.fromCharCode(...raw.subarray(index + 1, index + 4));
    if (!/^[0-3][0-7]{2}$/.test(octal)) {
      throw new PgValueError('22P02', 'invalid input syntax for type bytea');
    }
    out.push(Number.parseInt(octal, 8));
    index += 3;
  }
  return Uint8Array.from(out);
}

export function decodeTextParameter(text: string, oid: number): PgParam {
  switch (oid) {
    case Oid.int2:
    case Oid.int4:
    case Oid.int8:
    case Oid.oid:
      return decodeIntegerText(text, oid);
    case Oid.float4:
    case Oid.float8:
      return decodeFloatText(text, oid);
    case Oid.bool:
      return decodeBoolText(text);
    case Oid.bytea:
      return decodeByteaText(text);
    case Oid.timestamptz:
      return utcTimestamp(timestamptzInput.exec(text)) ?? text;
    case Oid.timestamp: {
      // A timestamp without time zone drops an offset, as PostgreSQL's timestamp input does.
      const match = timestamptzInput.exec(text);
      if (match === null || !validTimestamp(match)) return text;
      const digits = (match[7] ?? '').replace(/0+$/, '');
      return `${match[1]}-${match[2]}-${match[3]} ${match[4]}:${match[5]}:${match[6]}${digits === '.' ? '' : digits}`;
    }
    case 0:
    case Oid.unknown:
      return utcTimestamp(nodePostgresDate.exec(text)) ?? text;
    default:
      // text, varchar, bpchar, name, numeric (kept as text: SQLite's affinity decides), json,
      // dates, and any other type: the value as the client wrote it.
      return text;
  }
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The date of a day since 1970-01-01 (civil_from_days): [year, month, day]. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1_460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  return [yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/** A timestamptz as text, with a `T` or a space, and an offset (`Z`, `+02`, `-04:00`, `+0530`) or none. */
const timestamptzInput =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
/**
 * How node-postgres sends a JavaScript Date (its `prepareValue`): the local time with its offset,
 * `2024-05-05T22:00:00.000-04:00`, as an untyped parameter. No other client or person writes exactly
 * this shape by accident, so an untyped parameter in it is taken as the timestamptz it is.
 */
const nodePostgresDate = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{3})([+-]\d{2}:\d{2})$/;

/**
 * A timestamptz as it is stored: in UTC, without an offset, `YYYY-MM-DD HH:MM:SS[.fff]` (what
 * CURRENT_TIMESTAMP and `DEFAULT now()` store, so that values written either way compare and sort as
 * the instants they are; the PostgreSQL endpoint sends them back with `+00`). Fractions keep their
 * digits without trailing zeros. Null when the text is not a valid timestamp.
 */
function utcTimestamp(match: RegExpExecArray | null): string | null {
  if (match === null) return null;
  const [, year, month, day, hour, minute, second, fraction, offset] = match as unknown as string[];
  if (!validTimestamp(match)) return null;
  let offsetMinutes = 0;
  if (offset !== undefined && offset !== 'Z') {
    const digits = offset.slice(1).replace(':', '');
    offsetMinutes =
      (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')) * (offset[0] === '-' ? -1 : 1);
  }
  // Calendar arithmetic by hand (core code has no Date): seconds since 1970 in UTC, then back.
  const seconds =
    daysFromCivil(Number(year), Number(month), Number(day)) * 86_400 +
    Number(hour) * 3_600 +
    Number(minute) * 60 +
    Number(second) -
    offsetMinutes * 60;
  const days = Math.floor(seconds / 86_400);
  const inDay = seconds - days * 86_400;
  const [utcYear, utcMonth, utcDay] = civilFromDays(days);
  if (utcYear < 1 || utcYear > 9999) return null;
  const two = (value: number) => String(value).padStart(2, '0');
  const time = `${two(Math.floor(inDay / 3_600))}:${two(Math.floor((inDay % 3_600) / 60))}:${two(inDay % 60)}`;
  const digits = (fraction ?? '').replace(/0+$/, '');
  return `${String(utcYear).padStart(4, '0')}-${two(utcMonth)}-${two(utcDay)} ${time}${digits === '.' ? '' : digits}`;
}

function binaryView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function expectLength(bytes: Uint8Array, length: number, parameterNumber: number): void {
  if (bytes.length !== length) {
    throw new PgValueError('22P03', `incorrect binary data format in bind parameter ${parameterNumber}`);
  }
}

export function decodeBinaryParameter(bytes: Uint8Array, oid: number, parameterNumber: number): PgParam {
  switch (oid) {
    case Oid.int2:
      expectLength(bytes, 2, parameterNumber);
      return BigInt(binaryView(bytes).getInt16(0));
    case Oid.int4:
    case Oid.oid:
      expectLength(bytes, 4, parameterNumber);
      return BigInt(oid === Oid.oid ? binaryView(bytes).getUint32(0) : binaryView(bytes).getInt32(0));
    case Oid.int8:
      expectLength(bytes, 8, parameterNumber);
      return binaryView(bytes).getBigInt64(0);
    case Oid.float4:
      expectLength(bytes, 4, parameterNumber);
      return binaryView(bytes).getFloat32(0);
    case Oid.float8:
      expectLength(bytes, 8, parameterNumber);
      return binaryView(bytes).getFloat64(0);
    case Oid.bool:
      expectLength(bytes, 1, parameterNumber);
      return bytes[0] !== 0;
    case Oid.bytea:
    case Oid.unknownZero:
    case Oid.unknown:
      // A binary value of no declared type is what drivers send for byte buffers (node-postgres
      // binds a Buffer this way): bind it as a BLOB.
      return bytes.slice();
    case Oid.text:
    case Oid.varchar:
    case Oid.bpchar:
    case Oid.name:
    case Oid.json:
      return decodeUtf8(bytes);
    default:
      throw new PgValueError(
        '0A000',
        `binary format is not supported for parameter ${parameterNumber} of type oid ${oid}`,
      );
  }
}

/**
 * Declared type (upper case, without modifiers, single-spaced) → PostgreSQL type; the names
 * PostgreSQL knows for the types SQLite can hold, and SQLite's own BLOB (bytea, as `\d` shows it).
 */
const DECLARED_TYPE_OIDS: ReadonlyMap<string, number> = new Map([
  ['INT', Oid.int4],
  ['INTEGER', Oid.int4],
  ['INT4', Oid.int4],
  ['SERIAL', Oid.int4],
  ['SERIAL4', Oid.int4],
  ['BIGINT', Oid.int8],
  ['INT8', Oid.int8],
  ['BIGSERIAL', Oid.int8],
  ['SERIAL8', Oid.int8],
  ['SMALLINT', Oid.int2],
  ['INT2', Oid.int2],
  ['SMALLSERIAL', Oid.int2],
  ['SERIAL2', Oid.int2],
  ['BOOL', Oid.bool],
  ['BOOLEAN', Oid.bool],
  ['REAL', Oid.float4],
  ['FLOAT4', Oid.float4],
  ['FLOAT', Oid.float8],
  ['FLOAT8', Oid.float8],
  ['DOUBLE', Oid.float8],
  ['DOUBLE PRECISION', Oid.float8],
  ['NUMERIC', Oid.numeric],
  ['DECIMAL', Oid.numeric],
  ['TEXT', Oid.text],
  ['VARCHAR', Oid.varchar],
  ['CHARACTER VARYING', Oid.varchar],
  ['CHAR', Oid.bpchar],
  ['CHARACTER', Oid.bpchar],
  ['BPCHAR', Oid.bpchar],
  ['BYTEA', Oid.bytea],
  ['BLOB', Oid.bytea],
  ['JSON', Oid.json],
  ['JSONB', Oid.jsonb],
  ['UUID', Oid.uuid],
  ['DATE', Oid.date],
  ['TIMESTAMP', Oid.timestamp],
  ['TIMESTAMP WITHOUT TIME ZONE', Oid.timestamp],
  ['TIMESTAMPTZ', Oid.timestamptz],
  ['TIMESTAMP WITH TIME ZONE', Oid.timestamptz],
  ['TIME', Oid.time],
  ['TIME WITHOUT TIME ZONE', Oid.time],
]);

/** The PostgreSQL type a declared column type names (`varchar(20)` → varchar), or null if none. */
export function declaredTypeOid(declared: string): number | null {
  const base = declared
    .replace(/\([^)]*\)/g, ' ')
    .trim()
    .replace(/\s+/g, ' ')
    .toUpperCase();
  return DECLARED_TYPE_OIDS.get(base) ?? null;
}

/**
 * The scale a declared `numeric(p, s)` / `decimal(p, s)` gives its values (`numeric(p)`: 0), or
 * undefined when it names none (`numeric` alone, or another type). PostgreSQL writes every value of
 * such a column with exactly `s` decimals (`10.50`, `5.00`); SQLite keeps the number (10.5, 5).
 */
export function declaredNumericScale(declared: string): number | undefined {
  const match = /^\s*(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)\s*$/i.exec(declared);
  if (match === null) return undefined;
  const scale = Number(match[2] ?? 0);
  return scale >= 0 && scale <= 1000 ? scale : undefined;
}

/**
 * A numeric value written with `scale` decimals, as PostgreSQL writes a `numeric(p, s)` column: the
 * shortest decimal text of the stored number, rounded half away from zero (as PostgreSQL rounds a
 * value stored into the column; SQLite stored it unrounded) or padded with zeros. A value that is no
 * plain decimal number (`1e-7`, NaN, text that is not one: such a column is not typed numeric,
 * `fitsType`) is returned as it is.
 */
export function scaledNumericText(value: Exclude<PgValue, null>, scale: number): Exclude<PgValue, null> {
  let text: string;
  if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'number') text = String(value);
  else if (typeof value === 'string') text = value.trim();
  else return value;
  const match = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (match === null) return value;
  const negative = match[1] === '-';
  const whole = (match[2] as string).replace(/^0+(?=\d)/, '');
  const fraction = match[3] ?? '';
  if (fraction.length <= scale) {
    const padded = scale === 0 ? whole : `${whole}.${fraction.padEnd(scale, '0')}`;
    return `${negative && /[1-9]/.test(padded) ? '-' : ''}${padded}`;
  }
  // Round half away from zero at `scale` decimals, on the digits themselves.
  const digits = `${whole}${fraction.slice(0, scale)}`;
  let rounded = BigInt(digits);
  if ((fraction[scale] as string) >= '5') rounded += 1n;
  let out = rounded.toString().padStart(scale + 1, '0');
  if (scale > 0) out = `${out.slice(0, -scale)}.${out.slice(-scale)}`;
  return `${negative && /[1-9]/.test(out) ? '-' : ''}${out}`;
}

/** Types whose binary format is written here; the others are typed only for text results. */
const BINARY_TYPES: ReadonlySet<number> = new Set([
  Oid.int2,
  Oid.int4,
  Oid.int8,
  Oid.float4,
  Oid.float8,
  Oid.bool,
  Oid.bytea,
  Oid.text,
  Oid.varchar,
  Oid.bpchar,
  Oid.json,
  Oid.jsonb,
  Oid.uuid,
]);

const booleanTexts = new Set(['t', 'true', 'y', 'yes', 'on', '1', 'f', 'false', 'n', 'no', 'off', '0']);
const numericOutput = /^-?\d+(\.\d+)?$/;
const uuidText = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const dateOutput = /^(\d{4})-(\d{2})-(\d{2})$/;
const timeOutput = /^(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/;
const timestampOutput = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/;
const timestamptzOutput =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

function isFloat4(value: number): boolean {
  return Number.isNaN(value) || Math.fround(value) === value;
}

/** A bigint a double holds exactly. */
function exactAsDouble(value: bigint): boolean {
  return BigInt(Number(value)) === value;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function validDate(year: string, month: string, day: string): boolean {
  const y = Number(year);
  const m = Number(month);
  const d = Number(day);
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  return d <= (DAYS_IN_MONTH[m - 1] as number) + (m === 2 && leapYear(y) ? 1 : 0);
}

function leapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Date and time within their ranges (`24:00:00` is PostgreSQL's, and accepted). */
function validTimestamp(match: RegExpExecArray): boolean {
  const [, year, month, day, hour, minute, second] = match as unknown as string[];
  if (!validDate(year as string, month as string, day as string)) return false;
  return Number(hour) <= 24 && Number(minute) <= 59 && Number(second) <= 59;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a (non-NULL) value can be sent as `oid`: it is a value of that type, written as
 * PostgreSQL writes it where the type is text (dates, timestamps, numeric), so that a client
 * parsing the type reads what PostgreSQL would have sent.
 */
export function fitsType(value: Exclude<PgValue, null>, oid: number): boolean {
  switch (oid) {
    case Oid.int2:
    case Oid.int4:
    case Oid.int8: {
      if (typeof value !== 'bigint') return false;
      const [low, high] = integerRange(oid);
      return value >= low && value <= high;
    }
    case Oid.bool:
      return typeof value === 'bigint'
        ? value === 0n || value === 1n
        : typeof value === 'string' && booleanTexts.has(value.trim().toLowerCase());
    case Oid.float4:
      return (
        (typeof value === 'number' && isFloat4(value)) ||
        (typeof value === 'bigint' && exactAsDouble(value) && isFloat4(Number(value)))
      );
    case Oid.float8:
      return typeof value === 'number' || (typeof value === 'bigint' && exactAsDouble(value));
    case Oid.numeric:
      if (typeof value === 'bigint') return true;
      if (typeof value === 'number') return numericOutput.test(String(value));
      return typeof value === 'string' && numericOutput.test(value);
    case Oid.text:
    case Oid.varchar:
    case Oid.bpchar:
      return !(value instanceof Uint8Array);
    case Oid.bytea:
      return value instanceof Uint8Array;
    case Oid.json:
    case Oid.jsonb:
      if (typeof value === 'bigint') return true;
      if (typeof value === 'number') return Number.isFinite(value);
      return typeof value === 'string' && isJson(value);
    case Oid.uuid:
      return typeof value === 'string' && uuidText.test(value);
    case Oid.date: {
      const match = typeof value === 'string' ? dateOutput.exec(value) : null;
      return match !== null && validDate(match[1] as string, match[2] as string, match[3] as string);
    }
    case Oid.time: {
      const match = typeof value === 'string' ? timeOutput.exec(value) : null;
      if (match === null) return false;
      const [hour, minute, second] = [Number(match[1]), Number(match[2]), Number(match[3])];
      return (hour < 24 && minute <= 59 && second <= 59) || value === '24:00:00';
    }
    case Oid.timestamp: {
      const match = typeof value === 'string' ? timestampOutput.exec(value) : null;
      return match !== null && validTimestamp(match);
    }
    case Oid.timestamptz: {
      // Without an offset it is UTC: what SQLite's CURRENT_TIMESTAMP and datetime() give, and how
      // PostgreSQL reads such text into a timestamptz with the session's TimeZone, UTC here.
      if (typeof value !== 'string') return false;
      const match = timestamptzOutput.exec(value) ?? timestampOutput.exec(value);
      return match !== null && validTimestamp(match);
    }
    default:
      return false;
  }
}

/** Memo of `declaredTypeOid`: a few distinct declared types are seen over and over. */
const declaredOids = new Map<string, number | null>();
const DECLARED_OIDS_MEMO_MAX = 1_024;

/**
 * A result column's type (see the file header): its declared type's when it has one that every
 * value fits and that can be sent in `format`, else the one its values' storage classes give.
 */
export function resultColumnOid(
  declared: string | undefined,
  values: readonly PgValue[],
  format: FormatCode,
): number {
  if (declared !== undefined && declared !== '') {
    let oid = declaredOids.get(declared);
    if (oid === undefined) {
      oid = declaredTypeOid(declared);
      if (declaredOids.size >= DECLARED_OIDS_MEMO_MAX) declaredOids.clear();
      declaredOids.set(declared, oid);
    }
    if (oid !== null && (format === 0 || BINARY_TYPES.has(oid))) {
      const typed = oid;
      if (values.every((value) => value === null || fitsType(value, typed))) return typed;
    }
  }
  return columnTypeOid(values);
}

/** The result column's type, from the storage classes of its values (see the file header). */
export function columnTypeOid(values: Iterable<PgValue>): number {
  let integers = 0;
  let reals = 0;
  let blobs = 0;
  let texts = 0;
  for (const value of values) {
    if (value === null) continue;
    if (typeof value === 'bigint') integers++;
    else if (typeof value === 'number') reals++;
    else if (typeof value === 'string') texts++;
    else blobs++;
  }
  if (texts > 0) return Oid.text;
  if (blobs > 0) return integers + reals > 0 ? Oid.text : Oid.bytea;
  if (reals > 0) return Oid.float8;
  if (integers > 0) return Oid.int8;
  return Oid.text;
}

export function typeSize(oid: number): number {
  if (oid === Oid.int8 || oid === Oid.float8 || oid === Oid.timestamp || oid === Oid.timestamptz) return 8;
  if (oid === Oid.date) return 4;
  if (oid === Oid.uuid) return 16;
  if (oid === Oid.int4 || oid === Oid.float4) return 4;
  if (oid === Oid.int2) return 2;
  if (oid === Oid.bool) return 1;
  return -1;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * PostgreSQL's float8 output (extra_float_digits > 0, its default since 12): the shortest digits
 * that read back as the same double, in exponent notation when the decimal exponent is below -4 or
 * at least 15 (DBL_DIG), with a signed exponent of at least two digits (`1e+15`, `1.5e-05`);
 * `Infinity`, `-Infinity`, `NaN`, `-0`.
 */
export function formatFloat8(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(value, -0)) return '-0';
  if (value === 0) return '0';
  // toExponential() without digits gives the shortest round-trip digits, as String() does.
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 15) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  // Within that range String() writes the same digits in plain notation (it switches to exponent
  // notation only below 1e-6 or from 1e21).
  return String(value);
}

/**
 * PostgreSQL's float4 output (extra_float_digits > 0): the shortest digits that read back as the
 * same float4, in exponent notation when the decimal exponent is below -4 or at least 6 (FLT_DIG):
 * `1e+06`, `0.1`. `value` is float4-exact (`fitsType`).
 */
export function formatFloat4(value: number): string {
  if (!Number.isFinite(value) || value === 0) return formatFloat8(value);
  let shortest = value;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) {
      shortest = candidate;
      break;
    }
  }
  const [mantissa, exponentText] = shortest.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return String(shortest);
}

/** A value as text in type `oid` (a type it fits, or the one its storage classes gave). */
export function resultValueText(value: Exclude<PgValue, null>, oid: number): string {
  switch (oid) {
    case Oid.bool:
      return typeof value === 'bigint'
        ? value === 0n
          ? 'f'
          : 't'
        : decodeBoolText(String(value))
          ? 't'
          : 'f';
    case Oid.float4:
      return formatFloat4(Number(value));
    case Oid.float8:
      return formatFloat8(Number(value));
    case Oid.numeric:
      return typeof value === 'number' ? String(value) : valueAsText(value);
    case Oid.uuid:
      return String(value).toLowerCase();
    case Oid.timestamptz:
      // A value that fits has an offset, or is UTC without one (fitsType): PostgreSQL writes `+00`.
      return typeof value === 'string' && timestampOutput.test(value) ? `${value}+00` : valueAsText(value);
    default:
      return valueAsText(value);
  }
}

/**
 * A value as COPY … TO writes it: as `resultValueText`, except that a `timestamptz` stored without an
 * offset stays as stored (PostgreSQL reads it as UTC, the session's TimeZone, all the same): a COPY
 * out and back in keeps the text SQLite's date functions read (they do not read PostgreSQL's `+00`).
 */
export function copyValueText(value: Exclude<PgValue, null>, oid: number): string {
  return oid === Oid.timestamptz ? valueAsText(value) : resultValueText(value, oid);
}

export function valueAsText(value: Exclude<PgValue, null>): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatFloat8(value);
  if (typeof value === 'string') return value;
  return `\\x${hex(value)}`;
}

/** One result value, encoded as `oid` in `format`. */
export function encodeResultValue(value: PgValue, oid: number, format: FormatCode): Uint8Array | null {
  if (value === null) return null;
  if (format === 0) return encodeUtf8(resultValueText(value, oid));
  return encodeBinary(value, oid);
}

/** A fixed-size binary value, written by `write` into a fresh buffer of `size` bytes. */
function fixed(size: number, write: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(size);
  write(binaryView(bytes));
  return bytes;
}

function encodeBinary(value: Exclude<PgValue, null>, oid: number): Uint8Array {
  switch (oid) {
    case Oid.int2:
      return fixed(2, (view) => view.setInt16(0, Number(value)));
    case Oid.int4:
      return fixed(4, (view) => view.setInt32(0, Number(value)));
    case Oid.int8:
      return fixed(8, (view) => view.setBigInt64(0, BigInt.asIntN(64, BigInt(value as bigint))));
    case Oid.float4:
      return fixed(4, (view) => view.setFloat32(0, Number(value)));
    case Oid.float8:
      return fixed(8, (view) => view.setFloat64(0, Number(value)));
    case Oid.bool:
      return Uint8Array.of(resultValueText(value, oid) === 't' ? 1 : 0);
    case Oid.jsonb: {
      // jsonb's binary format: a version byte (1), then the text.
      const text = encodeUtf8(valueAsText(value));
      const bytes = new Uint8Array(text.length + 1);
      bytes[0] = 1;
      bytes.set(text, 1);
      return bytes;
    }
    case Oid.uuid: {
      const hexDigits = String(value).replaceAll('-', '');
      return Uint8Array.from({ length: 16 }, (_, index) =>
        Number.parseInt(hexDigits.slice(index * 2, index * 2 + 2), 16),
      );
    }
    default:
      if (oid === Oid.bytea && value instanceof Uint8Array) return value;
      // text, varchar, bpchar, json (and anything described as text): the UTF-8 bytes of the text.
      return encodeUtf8(resultValueText(value, oid));
  }
}
