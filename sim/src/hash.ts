/**
 * FNV-1a 64-bit over UTF-8, in pure code (no `node:crypto`), computed on two 32-bit halves so the
 * hot path never allocates a bigint. The trace hash is the replay guarantee: the same seed must
 * give the same hash on every machine, so the function is specified exactly (FNV-1a, offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3) and can be checked against any other implementation by
 * hashing the printed trace.
 */

const OFFSET_BASIS_HIGH = 0xcbf29ce4;
const OFFSET_BASIS_LOW = 0x84222325;
/** The 64-bit prime is 2^40 + 0x1b3: multiplying is `x * 0x1b3 + (x << 40)`. */
const PRIME_LOW = 0x1b3;

/**
 * The high word of `low * PRIME_LOW` (a 41-bit product), from 16-bit halves so that every step is an
 * integer operation: `floor(low * 0x1b3 / 2^32)` in floating point made a division the slowest link of
 * the per-byte chain, and the trace hashes every byte of every line.
 */
function productCarry(low: number): number {
  return ((low >>> 16) * PRIME_LOW + (((low & 0xffff) * PRIME_LOW) >>> 16)) >>> 16;
}

export class Fnv1a64 {
  private high = OFFSET_BASIS_HIGH;
  private low = OFFSET_BASIS_LOW;

  /** Hashes one byte (0..255). */
  updateByte(byte: number): void {
    const low = this.low ^ byte;
    this.high = (Math.imul(this.high, PRIME_LOW) + (low << 8) + productCarry(low)) >>> 0;
    this.low = Math.imul(low, PRIME_LOW) >>> 0;
  }

  updateBytes(bytes: Uint8Array): void {
    this.updateBytesUpTo(bytes, bytes.length);
  }

  /** Hashes `bytes[0, end)`: for a caller that formats into a reused scratch array. */
  updateBytesUpTo(bytes: Uint8Array, end: number): void {
    let high = this.high | 0;
    let low = this.low | 0;
    for (let index = 0; index < end; index++) {
      low ^= bytes[index] as number;
      high = (Math.imul(high, PRIME_LOW) + (low << 8) + productCarry(low)) | 0;
      low = Math.imul(low, PRIME_LOW);
    }
    this.high = high >>> 0;
    this.low = low >>> 0;
  }

  /** Hashes the UTF-8 encoding of `text` without building it; ASCII takes the inlined fast path. */
  updateString(text: string): void {
    const length = text.length;
    let high = this.high | 0;
    let low = this.low | 0;
    for (let index = 0; index < length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) {
        this.high = high >>> 0;
        this.low = low >>> 0;
        index = this.updateNonAscii(text, index);
        high = this.high | 0;
        low = this.low | 0;
        continue;
      }
      low ^= code;
      high = (Math.imul(high, PRIME_LOW) + (low << 8) + productCarry(low)) | 0;
      low = Math.imul(low, PRIME_LOW);
    }
    this.high = high >>> 0;
    this.low = low >>> 0;
  }

  /** Hashes the non-ASCII character at `index`; returns the index of its last UTF-16 unit. */
  private updateNonAscii(text: string, index: number): number {
    let code = text.charCodeAt(index);
    if (code < 0x800) {
      this.updateByte(0xc0 | (code >> 6));
      this.updateByte(0x80 | (code & 0x3f));
      return index;
    }
    if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        this.updateByte(0xf0 | (code >> 18));
        this.updateByte(0x80 | ((code >> 12) & 0x3f));
        this.updateByte(0x80 | ((code >> 6) & 0x3f));
        this.updateByte(0x80 | (code & 0x3f));
        return index + 1;
      }
    }
    // A lone surrogate encodes as U+FFFD, as TextEncoder does.
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    this.updateByte(0xe0 | (code >> 12));
    this.updateByte(0x80 | ((code >> 6) & 0x3f));
    this.updateByte(0x80 | (code & 0x3f));
    return index;
  }

  /** The hash as 16 lowercase hex digits. */
  hex(): string {
    return this.high.toString(16).padStart(8, '0') + this.low.toString(16).padStart(8, '0');
  }

  bigint(): bigint {
    return (BigInt(this.high) << 32n) | BigInt(this.low);
  }
}

export function fnv1a64(text: string): bigint {
  const hash = new Fnv1a64();
  hash.updateString(text);
  return hash.bigint();
}
