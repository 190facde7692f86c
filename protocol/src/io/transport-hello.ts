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
 * magic, the length and the longest id. Version 1 is frozen: an endpoint without a transport key
 * sends it, byte for byte as before.
 *
 * Version 2, "NLHELLO2", is the hello of an endpoint that authenticates (it holds the cluster's
 * transport key, internal-auth.ts), 116 bytes:
 *
 *    0  8 bytes  "NLHELLO2"
 *    8  u16      id length, 1 … 63
 *   10  66 bytes the NodeId, then zeros
 *   76  u8       flags: 0x01 (the sender authenticates); any other value is refused
 *   77  3 bytes  zeros
 *   80  32 bytes nonce: fresh random bytes for each connection
 *  112  u32      crc32c of bytes 0 … 111
 *
 * After two version-2 hellos each side sends a 32-byte proof (`transportProof`: an HMAC of both
 * hellos under the key), and frames flow only once the peer's proof checks (tcp-network.ts). Every
 * endpoint reads both versions.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  asNodeId,
  assert,
  crc32c,
  isValidIdentifier,
  MAX_IDENTIFIER_BYTES,
  type NodeId,
  NorthlightError,
} from '../index.js';

/** Version 1's size (an endpoint without a transport key). */
export const TRANSPORT_HELLO_BYTES = 80;
/** Version 2's size (an endpoint that authenticates). */
export const TRANSPORT_HELLO_V2_BYTES = 116;
/** "NLHELLO" then the version digit. */
const HELLO_MAGIC = new TextEncoder().encode('NLHELLO');
export const TRANSPORT_HELLO_VERSION = 0x31; // '1'
export const TRANSPORT_HELLO_VERSION_2 = 0x32; // '2'
const VERSION_OFFSET = 7;
const LENGTH_OFFSET = 8;
const ID_OFFSET = 10;
const ID_FIELD_BYTES = 66;
const V1_CHECKSUM_OFFSET = ID_OFFSET + ID_FIELD_BYTES;
const FLAGS_OFFSET = 76;
const FLAG_AUTHENTICATES = 0x01;
const NONCE_OFFSET = 80;
export const TRANSPORT_NONCE_BYTES = 32;
const V2_CHECKSUM_OFFSET = NONCE_OFFSET + TRANSPORT_NONCE_BYTES;
/** A proof: HMAC-SHA256. */
export const TRANSPORT_PROOF_BYTES = 32;

/** A decoded hello. */
export interface TransportHello {
  readonly nodeId: NodeId;
  /** Version 2: the sender holds a transport key and will prove it. */
  readonly authenticates: boolean;
  /** The hello as it travelled (its proof covers these bytes). */
  readonly bytes: Uint8Array;
}

/**
 * The hello `nodeId` sends: version 1 without `nonce`, version 2 (it authenticates) with one, which
 * must be fresh random bytes for each connection.
 */
export function encodeTransportHello(nodeId: NodeId, nonce?: Uint8Array): Uint8Array {
  const idBytes = new TextEncoder().encode(asNodeId(nodeId));
  const v2 = nonce !== undefined;
  const hello = new Uint8Array(v2 ? TRANSPORT_HELLO_V2_BYTES : TRANSPORT_HELLO_BYTES);
  hello.set(HELLO_MAGIC, 0);
  hello[VERSION_OFFSET] = v2 ? TRANSPORT_HELLO_VERSION_2 : TRANSPORT_HELLO_VERSION;
  const view = new DataView(hello.buffer);
  view.setUint16(LENGTH_OFFSET, idBytes.length, true);
  hello.set(idBytes, ID_OFFSET);
  if (v2) {
    assert(nonce.length === TRANSPORT_NONCE_BYTES, `a transport nonce is ${TRANSPORT_NONCE_BYTES} bytes`);
    hello[FLAGS_OFFSET] = FLAG_AUTHENTICATES;
    hello.set(nonce, NONCE_OFFSET);
  }
  const checksumOffset = v2 ? V2_CHECKSUM_OFFSET : V1_CHECKSUM_OFFSET;
  view.setUint32(checksumOffset, crc32c(hello.subarray(0, checksumOffset)), true);
  return hello;
}

/** The length of the hello whose version byte is `version`. */
function helloBytesOf(version: number): number {
  return version === TRANSPORT_HELLO_VERSION_2 ? TRANSPORT_HELLO_V2_BYTES : TRANSPORT_HELLO_BYTES;
}

/**
 * What one side of a connection sends after two version-2 hellos: HMAC-SHA256 under the transport
 * key of a label, its role, and both hellos (the dialer's first). The nonces make it fresh for each
 * connection; the role byte keeps one side's proof from being reflected back as the other's.
 */
export function transportProof(
  key: Uint8Array,
  role: 'dialer' | 'acceptor',
  dialerHello: Uint8Array,
  acceptorHello: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', key)
      .update('NLPROOF1')
      .update(role === 'dialer' ? 'D' : 'A')
      .update(dialerHello)
      .update(acceptorHello)
      .digest(),
  );
}

/** Equal proofs, compared in constant time. */
export function proofsEqual(given: Uint8Array, expected: Uint8Array): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
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
  if (
    filled > VERSION_OFFSET &&
    bytes[VERSION_OFFSET] !== TRANSPORT_HELLO_VERSION &&
    bytes[VERSION_OFFSET] !== TRANSPORT_HELLO_VERSION_2
  ) {
    const version = bytes[VERSION_OFFSET]!;
    throw new NorthlightError(
      'NL_DECODE_UNKNOWN_VERSION',
      `transport hello version byte 0x${version.toString(16)} is not supported`,
      { version },
    );
  }
}

/** Decodes a complete hello of either version; throws `NorthlightError` (NL_DECODE_*) for anything else. */
export function readTransportHello(bytes: Uint8Array): TransportHello {
  checkHelloPrefix(bytes, Math.min(bytes.length, TRANSPORT_HELLO_BYTES));
  const helloBytes = helloBytesOf(bytes[VERSION_OFFSET]!);
  if (bytes.length < helloBytes) {
    throw new NorthlightError('NL_DECODE_TRUNCATED', `transport hello needs ${helloBytes} bytes`, {
      available: bytes.length,
    });
  }
  const v2 = helloBytes === TRANSPORT_HELLO_V2_BYTES;
  const checksumOffset = v2 ? V2_CHECKSUM_OFFSET : V1_CHECKSUM_OFFSET;
  const view = new DataView(bytes.buffer, bytes.byteOffset, helloBytes);
  const storedChecksum = view.getUint32(checksumOffset, true);
  if (crc32c(bytes.subarray(0, checksumOffset)) !== storedChecksum) {
    throw new NorthlightError('NL_DECODE_CHECKSUM', 'transport hello CRC32C mismatch');
  }
  const length = view.getUint16(LENGTH_OFFSET, true);
  if (length < 1 || length > MAX_IDENTIFIER_BYTES) {
    throw new NorthlightError('NL_DECODE_INVALID', `transport hello id length ${length} is not 1 … 63`, {
      length,
    });
  }
  for (let index = ID_OFFSET + length; index < V1_CHECKSUM_OFFSET; index++) {
    if (bytes[index] !== 0) {
      throw new NorthlightError('NL_DECODE_INVALID', 'transport hello padding is not zero', { index });
    }
  }
  if (v2) {
    if (bytes[FLAGS_OFFSET] !== FLAG_AUTHENTICATES) {
      throw new NorthlightError(
        'NL_DECODE_INVALID',
        `transport hello flags 0x${bytes[FLAGS_OFFSET]!.toString(16)} are not 0x01`,
        { flags: bytes[FLAGS_OFFSET]! },
      );
    }
    for (let index = FLAGS_OFFSET + 1; index < NONCE_OFFSET; index++) {
      if (bytes[index] !== 0) {
        throw new NorthlightError('NL_DECODE_INVALID', 'transport hello reserved bytes are not zero', {
          index,
        });
      }
    }
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(
    bytes.subarray(ID_OFFSET, ID_OFFSET + length),
  );
  // The identifier rule admits ASCII only, so any non-ASCII byte fails here (as U+FFFD or otherwise).
  if (!isValidIdentifier(text)) {
    throw new NorthlightError('NL_DECODE_INVALID', `transport hello id ${JSON.stringify(text)} is invalid`);
  }
  return { nodeId: asNodeId(text), authenticates: v2, bytes: bytes.slice(0, helloBytes) };
}

/** Decodes a complete hello of either version to the sender's NodeId (see `readTransportHello`). */
export function decodeTransportHello(bytes: Uint8Array): NodeId {
  return readTransportHello(bytes).nodeId;
}

/**
 * Accumulates the hello at the start of a byte stream. `push` takes what it needs of a chunk and
 * returns how many bytes it took; once `complete`, `nodeId` holds the peer's id and the rest of the
 * stream is frames. Throws `NorthlightError` as soon as a byte is wrong.
 */
export class TransportHelloReader {
  readonly #bytes = new Uint8Array(TRANSPORT_HELLO_V2_BYTES);
  #filled = 0;
  #hello: TransportHello | undefined;

  get complete(): boolean {
    return this.#hello !== undefined;
  }

  get nodeId(): NodeId | undefined {
    return this.#hello?.nodeId;
  }

  get hello(): TransportHello | undefined {
    return this.#hello;
  }

  push(chunk: Uint8Array): number {
    if (this.#hello !== undefined) return 0;
    // The version byte (byte 7) says how long the hello is; until it is in, take at most up to it.
    const wanted =
      this.#filled > VERSION_OFFSET ? helloBytesOf(this.#bytes[VERSION_OFFSET]!) : VERSION_OFFSET + 1;
    const take = Math.min(wanted - this.#filled, chunk.length);
    this.#bytes.set(chunk.subarray(0, take), this.#filled);
    this.#filled += take;
    checkHelloPrefix(this.#bytes, this.#filled);
    if (this.#filled === VERSION_OFFSET + 1 && take < chunk.length)
      return take + this.push(chunk.subarray(take));
    if (this.#filled === helloBytesOf(this.#bytes[VERSION_OFFSET]!) && this.#filled > VERSION_OFFSET)
      this.#hello = readTransportHello(this.#bytes.subarray(0, this.#filled));
    return take;
  }
}
