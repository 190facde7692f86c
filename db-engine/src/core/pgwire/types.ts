/**
 * PostgreSQL types on the wire, mapped onto SQLite's storage classes.
 *
 * Parameters arrive in text or binary format with the type the client declared in Parse (or 0,
 * "unknown", which most drivers send): they are decoded to the value SQLite binds best (int types →
 * bigint, float types → number, bool → boolean, bytea → bytes, everything else → string; an unknown
 * text parameter stays a string and SQLite's column affinity converts it, much as PostgreSQL resolves
 * an unknown literal against the column's type).
 *
 * Results: SQLite is dynamically typed, so a result column has no type until its values are seen. A
 * column's OID is chosen from the storage classes of the values it holds in this result: all
 * integers → int8; reals, or integers mixed with reals → float8; all blobs → bytea; anything else
 * (text, mixed classes, or only NULLs) → text. The values are then encoded in that type, in the
 * format the client asked for (text, or binary).
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
    default:
      // text, varchar, bpchar, name, numeric (kept as text: SQLite's affinity decides), json,
      // dates, unknown (0 and 705), and any other type: the value as the client wrote it.
      return text;
  }
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
  if (oid === Oid.int8 || oid === Oid.float8) return 8;
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

export function valueAsText(value: Exclude<PgValue, null>): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return formatFloat8(value);
  if (typeof value === 'string') return value;
  return `\\x${hex(value)}`;
}

/** One result value, encoded as `oid` in `format`. */
export function encodeResultValue(value: PgValue, oid: number, format: FormatCode): Uint8Array | null {
  if (value === null) return null;
  if (format === 0) return encodeUtf8(valueAsText(value));
  if (oid === Oid.int8) {
    const bytes = new Uint8Array(8);
    binaryView(bytes).setBigInt64(0, BigInt.asIntN(64, BigInt(value as bigint)));
    return bytes;
  }
  if (oid === Oid.float8) {
    const bytes = new Uint8Array(8);
    binaryView(bytes).setFloat64(0, Number(value));
    return bytes;
  }
  if (oid === Oid.bytea && value instanceof Uint8Array) return value;
  // text (and anything described as text): the binary format of text is its UTF-8 bytes.
  return encodeUtf8(valueAsText(value));
}
