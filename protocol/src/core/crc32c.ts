/**
 * CRC32C (Castagnoli): the checksum of every redo record and every frame. Reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF — the variant of iSCSI, ext4 and SSE4.2's
 * `crc32` instruction, so stored checksums can be verified by any standard tool.
 *
 * Two implementations of the same function:
 * - portable (`crc32cPortable`): slicing-by-8 in JavaScript; eight 256-entry tables let the loop fold
 *   eight input bytes per step instead of one, several times faster in V8 than the byte-at-a-time
 *   loop. About 1 GB/s here.
 * - native: `@node-rs/crc32` (Rust, the CPU's CRC32C instruction where there is one), a prebuilt
 *   addon for each common platform. About 6 GB/s on 4 KiB pages here; but a call into it costs about
 *   150 ns, so inputs shorter than `NATIVE_MIN_BYTES` (most redo records) stay in JavaScript.
 * `crc32c` uses the native one when the addon loads, else the portable one (`CRC32C_IMPLEMENTATION`
 * says which); both give the same value for every input (crc32c.test.ts checks it on random ones).
 * Loading a pure function's code is not I/O: the core stays deterministic in the simulator.
 */
import { createRequire } from 'node:module';
import { AssertionError } from './assert.js';

/** Below this many bytes the portable loop beats a call into the addon (measured: ~128 B here). */
export const NATIVE_MIN_BYTES = 128;

type Crc32c = (bytes: Uint8Array, initial?: number) => number;

function loadNative(): Crc32c | undefined {
  try {
    const addon = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown };
    const native = addon.crc32c;
    if (typeof native !== 'function') return undefined;
    const check = new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]); // "123456789"
    // The standard check value of CRC32C; an addon that disagrees is not used.
    return (native as Crc32c)(check) === 0xe3069283 ? (native as Crc32c) : undefined;
  } catch {
    return undefined; // no prebuilt addon for this platform: the portable loop does it all
  }
}

const native = loadNative();

/** Which implementation `crc32c` uses for inputs of `NATIVE_MIN_BYTES` and more. */
export const CRC32C_IMPLEMENTATION: 'native' | 'portable' = native === undefined ? 'portable' : 'native';

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const SLICES = 8;

/** `tables[k * 256 + n]` is the CRC contribution of byte `n` followed by `k` zero bytes. */
const tables = buildTables();

function buildTables(): Uint32Array {
  const result = new Uint32Array(SLICES * 256);
  for (let n = 0; n < 256; n++) {
    let crc = n;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    result[n] = crc >>> 0;
  }
  for (let slice = 1; slice < SLICES; slice++) {
    for (let n = 0; n < 256; n++) {
      const previous = result[(slice - 1) * 256 + n]!;
      result[slice * 256 + n] = ((previous >>> 8) ^ result[previous & 0xff]!) >>> 0;
    }
  }
  return result;
}

/**
 * The CRC32C of `bytes`. Pass the CRC of the bytes before them as `initial` to continue a running
 * checksum: `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`. Returns an unsigned 32-bit integer.
 */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  if (native !== undefined && bytes.length >= NATIVE_MIN_BYTES) {
    if (!(Number.isInteger(initial) && initial >= 0 && initial <= 0xffff_ffff))
      throw new AssertionError(`bad initial CRC: ${initial}`);
    return native(bytes, initial) >>> 0;
  }
  return crc32cPortable(bytes, initial);
}

/** `crc32c` in JavaScript alone, whatever the input's length (the reference the native one is held to). */
export function crc32cPortable(bytes: Uint8Array, initial = 0): number {
  if (!(Number.isInteger(initial) && initial >= 0 && initial <= 0xffff_ffff))
    throw new AssertionError(`bad initial CRC: ${initial}`);
  const t = tables;
  let crc = ~initial >>> 0;
  let index = 0;
  const wholeBlocksEnd = bytes.length - (bytes.length % SLICES);
  while (index < wholeBlocksEnd) {
    const low =
      (crc ^
        (bytes[index]! |
          (bytes[index + 1]! << 8) |
          (bytes[index + 2]! << 16) |
          (bytes[index + 3]! << 24))) >>>
      0;
    const high =
      bytes[index + 4]! | (bytes[index + 5]! << 8) | (bytes[index + 6]! << 16) | (bytes[index + 7]! << 24);
    crc =
      t[7 * 256 + (low & 0xff)]! ^
      t[6 * 256 + ((low >>> 8) & 0xff)]! ^
      t[5 * 256 + ((low >>> 16) & 0xff)]! ^
      t[4 * 256 + (low >>> 24)]! ^
      t[3 * 256 + (high & 0xff)]! ^
      t[2 * 256 + ((high >>> 8) & 0xff)]! ^
      t[256 + ((high >>> 16) & 0xff)]! ^
      t[(high >>> 24) & 0xff]!;
    index += SLICES;
  }
  while (index < bytes.length) {
    crc = (crc >>> 8) ^ t[(crc ^ bytes[index]!) & 0xff]!;
    index++;
  }
  return ~crc >>> 0;
}
