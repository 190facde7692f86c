/**
 * Bounds-checked little-endian readers and writers over `Uint8Array`, shared by the record, frame and
 * message codecs. Portable: only `DataView`, `TextEncoder` and `TextDecoder`, no Node `Buffer`.
 *
 * The two sides fail differently on purpose. A `Reader` reads untrusted bytes, so running past its end
 * or finding a bad string is a `NorthlightError`. A `Writer` is sized exactly by the encoder before
 * writing, so overrunning it (or writing an out-of-range value) is a programmer error: an assertion.
 */
import { AssertionError, assert } from './assert.js';
import { allocateBytes, copyBytes } from './bytes-pool.js';
import { type ErrorCode, NorthlightError } from './errors.js';
import { U64_MAX } from './types.js';

/** The codes a `Reader` may raise when input runs out before a field does. */
export type ReaderOverrunCode = Extract<ErrorCode, 'NL_DECODE_TRUNCATED' | 'NL_DECODE_INVALID'>;

export interface ReaderOptions {
  /** First byte to read; defaults to 0. */
  readonly start?: number;
  /** One past the last byte the reader may touch; defaults to `bytes.length`. */
  readonly end?: number;
  /**
   * The code for reading past `end`. `NL_DECODE_TRUNCATED` (the default) when the input may simply be
   * incomplete; `NL_DECODE_INVALID` inside a container whose length and checksum were already
   * verified, where running out means the sender wrote inconsistent lengths.
   */
  readonly overrunCode?: ReaderOverrunCode;
  /** What is being decoded ("redo record", "append-batch payload"), for error messages. */
  readonly context?: string;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #end: number;
  readonly #overrunCode: ReaderOverrunCode;
  readonly context: string;
  #position: number;

  constructor(bytes: Uint8Array, options: ReaderOptions = {}) {
    const start = options.start ?? 0;
    const end = options.end ?? bytes.length;
    assert(Number.isInteger(start) && Number.isInteger(end), 'reader bounds must be integers');
    if (!(start >= 0 && start <= end && end <= bytes.length))
      throw new AssertionError(`reader bounds [${start}, ${end}) outside input`);
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#position = start;
    this.#end = end;
    this.#overrunCode = options.overrunCode ?? 'NL_DECODE_TRUNCATED';
    this.context = options.context ?? 'input';
  }

  /** Index of the next byte to read, relative to the start of `bytes` (not of the reader). */
  get position(): number {
    return this.#position;
  }

  get remaining(): number {
    return this.#end - this.#position;
  }

  u8(): number {
    this.#require(1, 'u8');
    const value = this.#view.getUint8(this.#position);
    this.#position += 1;
    return value;
  }

  u16(): number {
    this.#require(2, 'u16');
    const value = this.#view.getUint16(this.#position, true);
    this.#position += 2;
    return value;
  }

  u32(): number {
    this.#require(4, 'u32');
    const value = this.#view.getUint32(this.#position, true);
    this.#position += 4;
    return value;
  }

  u64(): bigint {
    this.#require(8, 'u64');
    const value = this.#view.getBigUint64(this.#position, true);
    this.#position += 8;
    return value;
  }

  /**
   * An unsigned LEB128 varint of at most `max` (a safe integer): 7 bits per byte, low bits first, the
   * top bit set on every byte but the last. Only the shortest encoding is accepted (a last byte of 0
   * after others is NL_DECODE_INVALID), so every value has exactly one encoding.
   */
  uvarint(field: string, max: number = Number.MAX_SAFE_INTEGER): number {
    if (!(Number.isSafeInteger(max) && max >= 0)) throw new AssertionError(`bad varint maximum: ${max}`);
    let value = 0;
    let scale = 1;
    for (let index = 0; ; index++) {
      if (index === MAX_SAFE_VARINT_BYTES)
        throw this.invalid(`${field} varint is longer than ${index} bytes`);
      const byte = this.#varintByte(field);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && index > 0) throw this.invalid(`${field} varint is not in its shortest form`);
        break;
      }
      scale *= 0x80;
    }
    if (value > max) throw this.invalid(`${field} is ${value}, over ${max}`, { field, value, max });
    return value;
  }

  /** `uvarint` for a u64: up to 10 bytes, at most 2^64 − 1. */
  uvarint64(field: string): bigint {
    let low = 0;
    let scale = 1;
    let high: bigint | undefined;
    for (let index = 0; ; index++) {
      if (index === MAX_U64_VARINT_BYTES) throw this.invalid(`${field} varint is longer than ${index} bytes`);
      const byte = this.#varintByte(field);
      if (index < 7) {
        low += (byte & 0x7f) * scale;
        scale *= 0x80;
      } else {
        high = (high ?? 0n) + (BigInt(byte & 0x7f) << BigInt(7 * (index - 7)));
      }
      if ((byte & 0x80) === 0) {
        if (byte === 0 && index > 0) throw this.invalid(`${field} varint is not in its shortest form`);
        break;
      }
    }
    const value = high === undefined ? BigInt(low) : BigInt(low) + (high << 49n);
    if (value > U64_MAX) throw this.invalid(`${field} varint exceeds 2^64 - 1`, { field });
    return value;
  }

  #varintByte(field: string): number {
    this.#require(1, field);
    const byte = this.#bytes[this.#position]!;
    this.#position += 1;
    return byte;
  }

  /** A copy of the next `length` bytes, so decoded values never alias (possibly reused) input buffers. */
  bytes(length: number): Uint8Array {
    if (!(Number.isInteger(length) && length >= 0)) throw new AssertionError(`bad length: ${length}`);
    this.#require(length, 'bytes');
    const value = copyBytes(this.#bytes, this.#position, this.#position + length);
    this.#position += length;
    return value;
  }

  /** A u16-length-prefixed UTF-8 string of at most `maxBytes` encoded bytes. */
  string(maxBytes: number, field: string): string {
    const length = this.u16();
    if (length > maxBytes) {
      throw this.invalid(`${field} is ${length} bytes, more than the ${maxBytes} allowed`, { field, length });
    }
    this.#require(length, field);
    const encoded = this.#bytes.subarray(this.#position, this.#position + length);
    let value: string;
    try {
      value = utf8Decoder.decode(encoded);
    } catch {
      throw this.invalid(`${field} is not valid UTF-8`, { field });
    }
    this.#position += length;
    return value;
  }

  /**
   * A u32 element count for an array whose elements take at least `minElementBytes` each. The count is
   * checked against the bytes that remain before the caller allocates anything, so a hostile count of
   * four billion costs nothing.
   */
  count(minElementBytes: number, field: string): number {
    assert(Number.isInteger(minElementBytes) && minElementBytes >= 1, 'element size must be positive');
    const count = this.u32();
    if (count > Math.floor(this.remaining / minElementBytes)) {
      throw new NorthlightError(
        this.#overrunCode,
        `${this.context}: ${field} declares ${count} elements of at least ${minElementBytes} bytes but ${this.remaining} bytes remain`,
        { field, count, remaining: this.remaining, position: this.#position },
      );
    }
    return count;
  }

  /** A view (not a copy) of the bytes left, for handing them to a nested decoder. */
  remainingBytes(): Uint8Array {
    return this.#bytes.subarray(this.#position, this.#end);
  }

  /** Moves past `length` bytes that the caller has decoded by other means. */
  skip(length: number): void {
    if (!(Number.isInteger(length) && length >= 0)) throw new AssertionError(`bad length: ${length}`);
    this.#require(length, 'bytes');
    this.#position += length;
  }

  /** Rejects trailing bytes: every format here has exactly one encoding of each value. */
  expectEnd(): void {
    if (this.remaining !== 0) {
      throw this.invalid(`${this.remaining} trailing bytes`, { trailingBytes: this.remaining });
    }
  }

  invalid(
    message: string,
    details: Readonly<Record<string, string | number | bigint | boolean>> = {},
  ): NorthlightError {
    return new NorthlightError('NL_DECODE_INVALID', `${this.context}: ${message}`, details);
  }

  #require(length: number, field: string): void {
    if (this.#end - this.#position < length) {
      throw new NorthlightError(
        this.#overrunCode,
        `${this.context}: needed ${length} bytes for ${field} at offset ${this.#position} but ${this.remaining} remain`,
        { field, needed: length, remaining: this.remaining, position: this.#position },
      );
    }
  }
}

/** A safe integer (< 2^53) takes at most 8 varint bytes; a u64 at most 10. */
const MAX_SAFE_VARINT_BYTES = 8;
const MAX_U64_VARINT_BYTES = 10;
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/** Bytes `Writer.uvarint(value)` takes. */
export function uvarintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size++;
  return size;
}

/** Bytes `Writer.uvarint64(value)` takes. */
export function uvarint64Size(value: bigint): number {
  if (value <= MAX_SAFE_BIGINT) return uvarintSize(Number(value));
  let size = 1;
  for (let rest = value; rest >= 0x80n; rest >>= 7n) size++;
  return size;
}

/** Writes into a buffer the encoder has sized exactly; every overrun or out-of-range value asserts. */
export class Writer {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  #position: number;

  constructor(bytes: Uint8Array, start = 0) {
    if (!(Number.isInteger(start) && start >= 0 && start <= bytes.length))
      throw new AssertionError(`writer start ${start} outside buffer`);
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#position = start;
  }

  /** A writer over a new zeroed buffer of exactly `capacity` bytes (bytes-pool.ts: small ones share a slab). */
  static allocate(capacity: number): Writer {
    if (!(Number.isInteger(capacity) && capacity >= 0)) throw new AssertionError(`bad capacity: ${capacity}`);
    return new Writer(allocateBytes(capacity));
  }

  get position(): number {
    return this.#position;
  }

  get remaining(): number {
    return this.bytes.length - this.#position;
  }

  u8(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xff))
      throw new AssertionError(`u8 out of range: ${value}`);
    this.#require(1);
    this.#view.setUint8(this.#position, value);
    this.#position += 1;
  }

  u16(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff))
      throw new AssertionError(`u16 out of range: ${value}`);
    this.#require(2);
    this.#view.setUint16(this.#position, value, true);
    this.#position += 2;
  }

  u32(value: number): void {
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff))
      throw new AssertionError(`u32 out of range: ${value}`);
    this.#require(4);
    this.#view.setUint32(this.#position, value, true);
    this.#position += 4;
  }

  u64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= 0n && value <= U64_MAX))
      throw new AssertionError(`u64 out of range: ${value}`);
    this.#require(8);
    this.#view.setBigUint64(this.#position, value, true);
    this.#position += 8;
  }

  /** An unsigned LEB128 varint (see `Reader.uvarint`) of a safe integer. */
  uvarint(value: number): void {
    if (!(Number.isSafeInteger(value) && value >= 0))
      throw new AssertionError(`varint out of range: ${value}`);
    this.#require(uvarintSize(value));
    let rest = value;
    while (rest >= 0x80) {
      this.bytes[this.#position++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.bytes[this.#position++] = rest;
  }

  /** `uvarint` for a u64. */
  uvarint64(value: bigint): void {
    if (!(typeof value === 'bigint' && value >= 0n && value <= U64_MAX))
      throw new AssertionError(`u64 varint out of range: ${value}`);
    if (value <= MAX_SAFE_BIGINT) {
      this.uvarint(Number(value));
      return;
    }
    this.#require(uvarint64Size(value));
    let rest = value;
    while (rest >= 0x80n) {
      this.bytes[this.#position++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.bytes[this.#position++] = Number(rest);
  }

  bytesRaw(value: Uint8Array): void {
    this.#require(value.length);
    this.bytes.set(value, this.#position);
    this.#position += value.length;
  }

  /** A u16-length-prefixed UTF-8 string; the caller has checked `maxBytes` (this asserts it). */
  string(value: string, maxBytes: number): void {
    assert(isWellFormedUnicode(value), 'string has a lone surrogate and cannot round-trip through UTF-8');
    const length = utf8ByteLength(value);
    if (!(length <= maxBytes && length <= 0xffff))
      throw new AssertionError(`string of ${length} bytes exceeds ${maxBytes}`);
    this.u16(length);
    this.#require(length);
    const { written } = utf8Encoder.encodeInto(
      value,
      this.bytes.subarray(this.#position, this.#position + length),
    );
    assert(written === length, 'UTF-8 length mismatch');
    this.#position += length;
  }

  /** Asserts the encoder's size computation was exact and returns the buffer. */
  finish(): Uint8Array {
    if (!(this.#position === this.bytes.length))
      throw new AssertionError(`wrote ${this.#position} of ${this.bytes.length} bytes`);
    return this.bytes;
  }

  #require(length: number): void {
    if (!(this.bytes.length - this.#position >= length))
      throw new AssertionError(`writer overrun: ${length} bytes at ${this.#position}`);
  }
}

/** Bytes `value` takes in UTF-8 (a lone surrogate counts as the 3 bytes of U+FFFD), without encoding it. */
export function utf8ByteLength(value: string): number {
  let length = 0;
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(value.charCodeAt(index + 1))) {
      length += 4;
      index++;
    } else length += 3;
  }
  return length;
}

/** True when `value` has no lone surrogate, so UTF-8 encoding and decoding gives it back unchanged. */
export function isWellFormedUnicode(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      if (!isLowSurrogate(value.charCodeAt(index + 1))) return false;
      index++;
    } else if (isLowSurrogate(unit)) return false;
  }
  return true;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * `value` made safe for a capped UTF-8 field (a rejection message): lone surrogates become U+FFFD and
 * the result is cut on a code point boundary to the longest prefix that fits in `maxBytes`.
 */
export function fitUtf8(value: string, maxBytes: number): string {
  if (!(Number.isInteger(maxBytes) && maxBytes >= 0)) throw new AssertionError(`bad byte limit: ${maxBytes}`);
  let result = '';
  let length = 0;
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index);
    const isPair = unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(value.charCodeAt(index + 1));
    const isLone = !isPair && unit >= 0xd800 && unit <= 0xdfff;
    const unitBytes = unit < 0x80 ? 1 : unit < 0x800 ? 2 : isPair ? 4 : 3;
    if (length + unitBytes > maxBytes) break;
    length += unitBytes;
    result += isLone ? '\ufffd' : isPair ? value.slice(index, index + 2) : value.charAt(index);
    if (isPair) index++;
  }
  return result;
}
