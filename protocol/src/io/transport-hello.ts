/**
 * The TCP transport's hello preamble: the first bytes each side writes on a connection, before any
 * frame, saying which node it is. The message catalog is closed (docs/formats.md), so the sender's
 * identity cannot travel as a frame; it is a fixed-size preamble instead, with its own magic, version
 * and CRC32C, validated as strictly as a frame. docs/formats.md ("TCP transport") is the reference.
 *
 *    0  8 bytes  magic and version: "NLHELLO1" (the final "1" is the version)
 *    8  u16      id length, 1 … 63
 *   10  66 bytes the NodeId in UTF-8 (ASCII by the identifier rule), then zeros
 *   76  u32      crc32c of bytes 0 … 75
 *
 * 80 bytes in all: a NodeId may take 63 bytes (MAX_IDENTIFIER_BYTES), so 64 bytes cannot hold the
 * magic, the length and the longest id.
 */
import {
  asNodeId,
  crc32c,
  isValidIdentifier,
  MAX_IDENTIFIER_BYTES,
  type NodeId,
  NorthlightError,
} from '../index.js';

export const TRANSPORT_HELLO_BYTES = 80;
/** "NLHELLO" then the version digit. */
const HELLO_MAGIC = new TextEncoder().encode('NLHELLO');
export const TRANSPORT_HELLO_VERSION = 0x31; // '1'
const VERSION_OFFSET = 7;
const LENGTH_OFFSET = 8;
const ID_OFFSET = 10;
const ID_FIELD_BYTES = 66;
const CHECKSUM_OFFSET = ID_OFFSET + ID_FIELD_BYTES;

export function encodeTransportHello(nodeId: NodeId): Uint8Array {
  const idBytes = new TextEncoder().encode(asNodeId(nodeId));
  const hello = new Uint8Array(TRANSPORT_HELLO_BYTES);
  hello.set(HELLO_MAGIC, 0);
  hello[VERSION_OFFSET] = TRANSPORT_HELLO_VERSION;
  const view = new DataView(hello.buffer);
  view.setUint16(LENGTH_OFFSET, idBytes.length, true);
  hello.set(idBytes, ID_OFFSET);
  view.setUint32(CHECKSUM_OFFSET, crc32c(hello.subarray(0, CHECKSUM_OFFSET)), true);
  return hello;
}

/**
 * Checks the first `filled` bytes of a hello as far as they go (magic byte by byte, then the version),
 * so that a stream that is not a northlight transport fails at its first wrong byte.
 */
function checkHelloPrefix(bytes: Uint8Array, filled: number): void {
  const magicFilled = Math.min(filled, HELLO_MAGIC.length);
  for (let index = 0; index < magicFilled; index++) {
    if (bytes[index] !== HELLO_MAGIC[index]) {
      throw new NorthlightError('NL_DECODE_INVALID', `transport hello magic mismatch at byte ${index}`, {
        index,
        byte: bytes[index]!,
      });
    }
  }
  if (filled > VERSION_OFFSET && bytes[VERSION_OFFSET] !== TRANSPORT_HELLO_VERSION) {
    const version = bytes[VERSION_OFFSET]!;
    throw new NorthlightError(
      'NL_DECODE_UNKNOWN_VERSION',
      `transport hello version byte 0x${version.toString(16)} is not supported`,
      { version },
    );
  }
}

/** Decodes a complete 80-byte hello; throws `NorthlightError` (NL_DECODE_*) for anything else. */
export function decodeTransportHello(bytes: Uint8Array): NodeId {
  checkHelloPrefix(bytes, Math.min(bytes.length, TRANSPORT_HELLO_BYTES));
  if (bytes.length < TRANSPORT_HELLO_BYTES) {
    throw new NorthlightError('NL_DECODE_TRUNCATED', `transport hello needs ${TRANSPORT_HELLO_BYTES} bytes`, {
      available: bytes.length,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, TRANSPORT_HELLO_BYTES);
  const storedChecksum = view.getUint32(CHECKSUM_OFFSET, true);
  if (crc32c(bytes.subarray(0, CHECKSUM_OFFSET)) !== storedChecksum) {
    throw new NorthlightError('NL_DECODE_CHECKSUM', 'transport hello CRC32C mismatch');
  }
  const length = view.getUint16(LENGTH_OFFSET, true);
  if (length < 1 || length > MAX_IDENTIFIER_BYTES) {
    throw new NorthlightError('NL_DECODE_INVALID', `transport hello id length ${length} is not 1 … 63`, {
      length,
    });
  }
  for (let index = ID_OFFSET + length; index < CHECKSUM_OFFSET; index++) {
    if (bytes[index] !== 0) {
      throw new NorthlightError('NL_DECODE_INVALID', 'transport hello padding is not zero', { index });
    }
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(
    bytes.subarray(ID_OFFSET, ID_OFFSET + length),
  );
  // The identifier rule admits ASCII only, so any non-ASCII byte fails here (as U+FFFD or otherwise).
  if (!isValidIdentifier(text)) {
    throw new NorthlightError('NL_DECODE_INVALID', `transport hello id ${JSON.stringify(text)} is invalid`);
  }
  return asNodeId(text);
}

/**
 * Accumulates the hello at the start of a byte stream. `push` takes what it needs of a chunk and
 * returns how many bytes it took; once `complete`, `nodeId` holds the peer's id and the rest of the
 * stream is frames. Throws `NorthlightError` as soon as a byte is wrong.
 */
export class TransportHelloReader {
  readonly #bytes = new Uint8Array(TRANSPORT_HELLO_BYTES);
  #filled = 0;
  #nodeId: NodeId | undefined;

  get complete(): boolean {
    return this.#nodeId !== undefined;
  }

  get nodeId(): NodeId | undefined {
    return this.#nodeId;
  }

  push(chunk: Uint8Array): number {
    if (this.#nodeId !== undefined) return 0;
    const take = Math.min(TRANSPORT_HELLO_BYTES - this.#filled, chunk.length);
    this.#bytes.set(chunk.subarray(0, take), this.#filled);
    this.#filled += take;
    checkHelloPrefix(this.#bytes, this.#filled);
    if (this.#filled === TRANSPORT_HELLO_BYTES) this.#nodeId = decodeTransportHello(this.#bytes);
    return take;
  }
}
