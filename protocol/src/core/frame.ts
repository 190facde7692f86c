/**
 * Frames: the length-prefixed, versioned, checksummed envelope of every message on the engine↔storage
 * and writer↔replica TCP connections. TCP delivers a byte stream; `FrameDecoder` cuts it back into
 * frames, refusing anything oversized before it buffers the payload.
 *
 * Header (16 bytes, little-endian; docs/formats.md is the reference):
 *
 *   0  u32 magic 0x464C4E4E — the bytes 'N' 'N' 'L' 'F' on the wire
 *   4  u8  version (= 1)
 *   5  u8  messageType (see messages.ts)
 *   6  u16 reserved (= 0)
 *   8  u32 payloadLength
 *  12  u32 crc32c of header bytes 0..11 followed by the payload
 *  16  payload
 *
 * Checks run in this order, so that each failure has the most useful code: magic (NL_DECODE_INVALID,
 * as soon as a wrong byte arrives), version (NL_DECODE_UNKNOWN_VERSION), declared length against the
 * limit (NL_DECODE_FRAME_TOO_LARGE, before any payload is buffered), then — once the payload is in —
 * the checksum (NL_DECODE_CHECKSUM) and the reserved field (NL_DECODE_INVALID).
 */
import { AssertionError, assert } from './assert.js';
import { allocateBytes, copyBytes } from './bytes-pool.js';
import { crc32c } from './crc32c.js';
import { NorthlightError } from './errors.js';

export const FRAME_MAGIC = 0x464c4e4e;
export const FRAME_FORMAT_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
/** Default limit on a whole frame, header included. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** No configuration may raise the frame limit above this. */
export const MAX_FRAME_BYTES_CEILING = 256 * 1024 * 1024;

const MAGIC_BYTES = Uint8Array.of(0x4e, 0x4e, 0x4c, 0x46);
const VERSION_OFFSET = 4;
const MESSAGE_TYPE_OFFSET = 5;
const RESERVED_OFFSET = 6;
const PAYLOAD_LENGTH_OFFSET = 8;
const CHECKSUM_OFFSET = 12;

/** A verified frame. The payload is the frame's own copy, never a view of the input. */
export interface Frame {
  readonly messageType: number;
  readonly payload: Uint8Array;
}

/**
 * A frame as a decoder received it: `bytes` is the whole frame (header and payload), the decoder's own
 * copy, and `payload` is a view of it. A transport hands `bytes` on without encoding the frame again.
 */
export interface ReceivedFrame extends Frame {
  readonly bytes: Uint8Array;
}

export interface FrameOptions {
  /** Largest whole frame (header + payload) accepted or produced. Default 16 MiB, at most 256 MiB. */
  readonly maxFrameBytes?: number;
}

function resolveMaxFrameBytes(options: FrameOptions): number {
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (
    !(
      Number.isInteger(maxFrameBytes) &&
      maxFrameBytes >= FRAME_HEADER_BYTES &&
      maxFrameBytes <= MAX_FRAME_BYTES_CEILING
    )
  )
    throw new AssertionError(
      `maxFrameBytes must be an integer in [${FRAME_HEADER_BYTES}, ${MAX_FRAME_BYTES_CEILING}]: ${maxFrameBytes}`,
    );
  return maxFrameBytes;
}

/** Encodes one frame around a copy of `payload`. */
export function encodeFrame(
  messageType: number,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  sealFrame(frame, messageType, options);
  return frame;
}

/**
 * Fills in the header of `frame`, whose payload the caller has already written from byte 16 on (so
 * message codecs need not copy the payload). Asserts the frame fits `maxFrameBytes`: a sender must never
 * produce a frame its peer is bound to refuse.
 */
export function sealFrame(frame: Uint8Array, messageType: number, options: FrameOptions = {}): void {
  const maxFrameBytes = resolveMaxFrameBytes(options);
  if (!(Number.isInteger(messageType) && messageType >= 0 && messageType <= 0xff))
    throw new AssertionError(`bad message type ${messageType}`);
  assert(frame.length >= FRAME_HEADER_BYTES, 'frame shorter than its header');
  if (!(frame.length <= maxFrameBytes))
    throw new AssertionError(`frame of ${frame.length} bytes exceeds the ${maxFrameBytes}-byte limit`);
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint8(VERSION_OFFSET, FRAME_FORMAT_VERSION);
  view.setUint8(MESSAGE_TYPE_OFFSET, messageType);
  view.setUint16(RESERVED_OFFSET, 0, true);
  view.setUint32(PAYLOAD_LENGTH_OFFSET, frame.length - FRAME_HEADER_BYTES, true);
  view.setUint32(
    CHECKSUM_OFFSET,
    frameChecksum(frame.subarray(0, FRAME_HEADER_BYTES), frame.subarray(FRAME_HEADER_BYTES)),
    true,
  );
}

function frameChecksum(header: Uint8Array, payload: Uint8Array): number {
  return crc32c(payload, crc32c(header.subarray(0, CHECKSUM_OFFSET)));
}

interface FrameHeader {
  readonly messageType: number;
  readonly payloadLength: number;
  readonly reserved: number;
  readonly storedChecksum: number;
}

/**
 * Checks the first `filled` bytes of a header as far as they go: magic bytes one by one, then the
 * version. Lets both decoders reject garbage at its first byte instead of waiting for a whole header.
 */
function checkHeaderPrefix(header: Uint8Array, filled: number): void {
  const magicFilled = Math.min(filled, MAGIC_BYTES.length);
  for (let index = 0; index < magicFilled; index++) {
    if (header[index] !== MAGIC_BYTES[index]) {
      throw new NorthlightError('NL_DECODE_INVALID', `frame magic mismatch at header byte ${index}`, {
        index,
        byte: header[index]!,
      });
    }
  }
  if (filled > VERSION_OFFSET && header[VERSION_OFFSET] !== FRAME_FORMAT_VERSION) {
    const version = header[VERSION_OFFSET]!;
    throw new NorthlightError('NL_DECODE_UNKNOWN_VERSION', `frame version ${version} is not supported`, {
      version,
    });
  }
}

/** Parses a complete 16-byte header, refusing a declared length above the limit. */
function parseHeader(header: Uint8Array, maxFrameBytes: number): FrameHeader {
  checkHeaderPrefix(header, FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
  const payloadLength = view.getUint32(PAYLOAD_LENGTH_OFFSET, true);
  if (payloadLength > maxFrameBytes - FRAME_HEADER_BYTES) {
    throw new NorthlightError(
      'NL_DECODE_FRAME_TOO_LARGE',
      `frame declares a ${payloadLength}-byte payload; the limit is ${maxFrameBytes - FRAME_HEADER_BYTES}`,
      { payloadLength, maxFrameBytes },
    );
  }
  return {
    messageType: view.getUint8(MESSAGE_TYPE_OFFSET),
    payloadLength,
    reserved: view.getUint16(RESERVED_OFFSET, true),
    storedChecksum: view.getUint32(CHECKSUM_OFFSET, true),
  };
}

/**
 * Verifies a fully received frame held in `bytes` (header then payload, the decoder's own copy, which
 * becomes the frame's).
 */
function verifyFrame(bytes: Uint8Array, header: FrameHeader): ReceivedFrame {
  const payload = bytes.subarray(FRAME_HEADER_BYTES);
  const actualChecksum = frameChecksum(bytes, payload);
  if (actualChecksum !== header.storedChecksum) {
    throw new NorthlightError('NL_DECODE_CHECKSUM', 'frame CRC32C mismatch', {
      messageType: header.messageType,
      storedChecksum: header.storedChecksum,
      actualChecksum,
    });
  }
  if (header.reserved !== 0) {
    throw new NorthlightError('NL_DECODE_INVALID', `frame reserved field is ${header.reserved}, not 0`, {
      reserved: header.reserved,
    });
  }
  return { messageType: header.messageType, payload, bytes };
}

export interface DecodedFrame {
  readonly frame: ReceivedFrame;
  readonly bytesRead: number;
}

/**
 * Decodes the one frame that starts at `offset` of a buffer that should hold all of it. Throws
 * `NorthlightError`; `NL_DECODE_TRUNCATED` when the buffer ends first (after checking what is there).
 */
export function decodeFrame(bytes: Uint8Array, offset = 0, options: FrameOptions = {}): DecodedFrame {
  const maxFrameBytes = resolveMaxFrameBytes(options);
  if (!(Number.isInteger(offset) && offset >= 0 && offset <= bytes.length))
    throw new AssertionError(`offset ${offset} outside input`);
  const available = bytes.length - offset;
  const headerBytes = bytes.subarray(offset, offset + FRAME_HEADER_BYTES);
  checkHeaderPrefix(headerBytes, headerBytes.length);
  if (available < FRAME_HEADER_BYTES) throw truncatedFrame(FRAME_HEADER_BYTES, available);
  const header = parseHeader(headerBytes, maxFrameBytes);
  const frameLength = FRAME_HEADER_BYTES + header.payloadLength;
  if (available < frameLength) throw truncatedFrame(frameLength, available);
  return {
    frame: verifyFrame(copyBytes(bytes, offset, offset + frameLength), header),
    bytesRead: frameLength,
  };
}

function truncatedFrame(needed: number, available: number): NorthlightError {
  return new NorthlightError('NL_DECODE_TRUNCATED', `frame needs ${needed} bytes but ${available} remain`, {
    needed,
    available,
  });
}

/**
 * Cuts a TCP byte stream into verified frames.
 *
 * Usage: for each chunk read from the socket, `push(chunk)`, then call `next()` until it returns
 * undefined (or iterate the decoder). When the peer closes, call `end()`, which throws
 * `NL_DECODE_TRUNCATED` if the stream stopped inside a frame.
 *
 * Limits: the decoder holds at most one partial frame (header plus a payload of at most `maxFrameBytes`
 * minus the header); a header declaring more fails before any of its payload is kept. Decoded frames
 * wait in a queue that the caller must drain before the next `push` (asserted), so nothing grows
 * without bound.
 *
 * Failure is final: after the first bad byte, `next()` returns the frames that were complete before it
 * and then throws that error on every call, and later pushes are ignored. The stream has lost its
 * framing, so the only recovery is to close the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly #headerBytes = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #header: FrameHeader | undefined;
  /**
   * The frame received so far: its header, then `#payloadFilled` payload bytes. The buffer grows by
   * doubling up to the declared length, so memory follows the bytes that actually arrived (at most
   * twice them), not the length a header merely claims.
   */
  #frame: Uint8Array = new Uint8Array(0);
  #payloadFilled = 0;
  #ready: ReceivedFrame[] = [];
  #readyIndex = 0;
  #failure: NorthlightError | undefined;

  constructor(options: FrameOptions = {}) {
    this.maxFrameBytes = resolveMaxFrameBytes(options);
  }

  /** Bytes of the current, incomplete frame held by the decoder. */
  get bufferedBytes(): number {
    return this.#headerFilled + this.#payloadFilled;
  }

  /** The error that stopped the decoder, if any. */
  get failure(): NorthlightError | undefined {
    return this.#failure;
  }

  push(chunk: Uint8Array): void {
    assert(this.#readyIndex === this.#ready.length, 'FrameDecoder: drain next() before pushing more bytes');
    this.#ready = [];
    this.#readyIndex = 0;
    if (this.#failure !== undefined) return;
    try {
      let position = 0;
      while (position < chunk.length) position = this.#consume(chunk, position);
    } catch (error) {
      if (!(error instanceof NorthlightError)) throw error;
      this.#failure = error;
    }
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws once the stream is bad. */
  next(): ReceivedFrame | undefined {
    if (this.#readyIndex < this.#ready.length) return this.#ready[this.#readyIndex++];
    if (this.#failure !== undefined) throw this.#failure;
    return undefined;
  }

  *[Symbol.iterator](): Generator<ReceivedFrame, void, undefined> {
    for (let frame = this.next(); frame !== undefined; frame = this.next()) yield frame;
  }

  /** Call when the stream ends: throws if it ended inside a frame (or had already failed). */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.bufferedBytes > 0) {
      this.#failure = truncatedFrame(
        FRAME_HEADER_BYTES + (this.#header?.payloadLength ?? 0),
        this.bufferedBytes,
      );
      throw this.#failure;
    }
  }

  /** Consumes bytes of `chunk` from `position` into the current frame; returns the new position. */
  #consume(chunk: Uint8Array, position: number): number {
    if (this.#header === undefined) {
      const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - position);
      this.#headerBytes.set(chunk.subarray(position, position + take), this.#headerFilled);
      this.#headerFilled += take;
      checkHeaderPrefix(this.#headerBytes, this.#headerFilled);
      if (this.#headerFilled === FRAME_HEADER_BYTES) {
        this.#header = parseHeader(this.#headerBytes, this.maxFrameBytes);
        this.#frame = allocateBytes(FRAME_HEADER_BYTES + Math.min(this.#header.payloadLength, 4096));
        this.#frame.set(this.#headerBytes);
        this.#completeIfFull();
      }
      return position + take;
    }
    const take = Math.min(this.#header.payloadLength - this.#payloadFilled, chunk.length - position);
    this.#appendPayload(chunk.subarray(position, position + take), this.#header.payloadLength);
    this.#completeIfFull();
    return position + take;
  }

  #appendPayload(piece: Uint8Array, payloadLength: number): void {
    const needed = FRAME_HEADER_BYTES + this.#payloadFilled + piece.length;
    if (needed > this.#frame.length) {
      const size = Math.min(FRAME_HEADER_BYTES + payloadLength, Math.max(needed, 2 * this.#frame.length));
      const grown = allocateBytes(size);
      grown.set(this.#frame.subarray(0, FRAME_HEADER_BYTES + this.#payloadFilled));
      this.#frame = grown;
    }
    this.#frame.set(piece, FRAME_HEADER_BYTES + this.#payloadFilled);
    this.#payloadFilled += piece.length;
  }

  #completeIfFull(): void {
    const header = this.#header!;
    if (this.#payloadFilled < header.payloadLength) return;
    assert(
      this.#frame.length === FRAME_HEADER_BYTES + header.payloadLength,
      'frame buffer not exactly sized',
    );
    this.#ready.push(verifyFrame(this.#frame, header));
    this.#header = undefined;
    this.#frame = new Uint8Array(0);
    this.#headerFilled = 0;
    this.#payloadFilled = 0;
  }
}
