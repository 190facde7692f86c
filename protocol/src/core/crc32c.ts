/**
 * CRC32C (Castagnoli): the checksum of every redo record and every frame. Reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF — the variant of iSCSI, ext4 and SSE4.2's
 * `crc32` instruction, so stored checksums can be verified by any standard tool.
 *
 * Slicing-by-8: eight 256-entry tables let the loop fold eight input bytes per step instead of one,
 * which is several times faster in V8 than the classic byte-at-a-time loop.
 */
import { AssertionError } from './assert.js';

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
