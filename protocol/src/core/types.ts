/**
 * Branded identifiers of the volume. A brand makes the compiler refuse an index where a count
 * is expected, or an epoch where an LSN is expected; the `as*` constructors are the only way in
 * and they check the value's range, so every branded value in the system is known to be valid.
 */
import { AssertionError } from './assert.js';

declare const brand: unique symbol;
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

/** Log sequence number. Dense: every record takes the next one, so a gap is a lost record. */
export type Lsn = Brand<bigint, 'Lsn'>;
/** Volume epoch (bumped by recovery and failover) or membership epoch (bumped by repair). */
export type Epoch = Brand<bigint, 'Epoch'>;
/** Protection group index within a volume: PG n holds pages [n * pagesPerPg, (n + 1) * pagesPerPg). */
export type PgId = Brand<number, 'PgId'>;
/** One copy of a PG on one storage node; unique within the fleet. */
export type SegmentId = Brand<string, 'SegmentId'>;
/** A storage node, engine or replica process. */
export type NodeId = Brand<string, 'NodeId'>;
/** Page number within the volume (not within a PG). */
export type PageNo = Brand<number, 'PageNo'>;

/** LSNs and epochs are unsigned 64-bit on the wire. */
export const U64_MAX = (1n << 64n) - 1n;
/** LSN 0 is "before the first record": the backlink of a PG's first record, the SCL of an empty segment. */
export const LSN_ZERO = 0n as Lsn;
export const EPOCH_ZERO = 0n as Epoch;

/**
 * The rule of every identifier (node, segment, zone): `IDENTIFIER_PATTERN`. Checked by hand in
 * `isValidIdentifier`, several times faster than the regular expression on these short strings, which
 * mattered where every message and every simulator step checks a few (types.test.ts holds the two to
 * the same answers).
 */
export const IDENTIFIER_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const IDENTIFIER_LENGTH_MAX = 63;

export function asLsn(value: bigint): Lsn {
  if (!(value >= 0n && value <= U64_MAX)) throw new AssertionError(`LSN out of range: ${value}`);
  return value as Lsn;
}

export function asEpoch(value: bigint): Epoch {
  if (!(value >= 0n && value <= U64_MAX)) throw new AssertionError(`epoch out of range: ${value}`);
  return value as Epoch;
}

export function asPgId(value: number): PgId {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff))
    throw new AssertionError(`PG id out of range: ${value}`);
  return value as PgId;
}

export function asPageNo(value: number): PageNo {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff))
    throw new AssertionError(`page number out of range: ${value}`);
  return value as PageNo;
}

/** Node ids are DNS-label-like so they can name pods, processes and metric labels unchanged. */
export function asNodeId(value: string): NodeId {
  if (!isValidIdentifier(value)) throw new AssertionError(`invalid node id: ${JSON.stringify(value)}`);
  return value as NodeId;
}

export function asSegmentId(value: string): SegmentId {
  if (!isValidIdentifier(value)) throw new AssertionError(`invalid segment id: ${JSON.stringify(value)}`);
  return value as SegmentId;
}

/** Whether `value` matches `IDENTIFIER_PATTERN`: 1–63 of a–z 0–9 . _ -, the first a letter or digit. */
export function isValidIdentifier(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > IDENTIFIER_LENGTH_MAX) return false;
  for (let index = 0; index < length; index++) {
    const code = value.charCodeAt(index);
    if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39)) continue; // a-z, 0-9
    if (index > 0 && (code === 0x2e || code === 0x5f || code === 0x2d)) continue; // . _ -
    return false;
  }
  return true;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

export function minLsn(a: Lsn, b: Lsn): Lsn {
  return a < b ? a : b;
}

/** The three availability zones of a cluster; segments of a PG sit two per zone. */
export type Zone = Brand<string, 'Zone'>;
export function asZone(value: string): Zone {
  if (!isValidIdentifier(value)) throw new AssertionError(`invalid zone name: ${JSON.stringify(value)}`);
  return value as Zone;
}
