// Proves the frame codec and the streaming FrameDecoder: frames round-trip; the header is laid out as
// docs/formats.md says; a stream split at every byte boundary, or many frames in one chunk, yields the
// same frames; every truncation makes the streaming decoder wait (and end() report NL_DECODE_TRUNCATED)
// and the one-shot decoder throw NL_DECODE_TRUNCATED; oversized frames fail on their header, before
// any payload is buffered; bad magic, unknown versions, corruption and garbage are NorthlightErrors
// only; and a failed decoder stays failed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { crc32c } from '../src/core/crc32c.js';
import { NorthlightError } from '../src/core/errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameDecoder,
  MAX_FRAME_BYTES_CEILING,
  type ReceivedFrame,
} from '../src/core/frame.js';
import { concatBytes, outcomeOf, thrownBy, withXor } from './helpers.js';

const frameArbitrary = fc.record({
  messageType: fc.nat({ max: 255 }),
  payload: fc.uint8Array({ maxLength: 200 }),
});

function codeOf(run: () => unknown): string {
  const error = thrownBy(run);
  if (error instanceof NorthlightError) return error.code;
  return `not a NorthlightError: ${String(error)}`;
}

/**
 * A received frame without its `bytes`, after checking them: the whole frame as sent, with the payload
 * a view of it (so a transport can hand the frame on without encoding it again).
 */
function plain(frame: ReceivedFrame): Frame {
  expect(frame.bytes).toEqual(encodeFrame(frame.messageType, frame.payload));
  expect(frame.payload.buffer).toBe(frame.bytes.buffer);
  expect(frame.payload.byteOffset).toBe(frame.bytes.byteOffset + FRAME_HEADER_BYTES);
  return { messageType: frame.messageType, payload: frame.payload };
}

/** Pushes `chunks` one by one, draining after each push as a socket handler would. */
function decodeStream(chunks: readonly Uint8Array[], decoder = new FrameDecoder()): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (const frame of decoder) frames.push(plain(frame));
  }
  return frames;
}

function headerDeclaring(payloadLength: number): Uint8Array {
  const header = encodeFrame(1, new Uint8Array(0)).subarray(0, FRAME_HEADER_BYTES);
  new DataView(header.buffer, header.byteOffset).setUint32(8, payloadLength, true);
  return header;
}

const samples: Frame[] = [
  { messageType: 1, payload: Uint8Array.of(1, 2, 3, 4, 5) },
  { messageType: 9, payload: new Uint8Array(0) },
  { messageType: 255, payload: Uint8Array.from({ length: 40 }, (_, index) => index) },
];

describe('frame encoding', () => {
  it('lays out the header as docs/formats.md says', () => {
    const frame = encodeFrame(5, Uint8Array.of(0xaa, 0xbb));
    expect([...frame.subarray(0, 4)]).toEqual([0x4e, 0x4e, 0x4c, 0x46]); // "NNLF"
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    expect(view.getUint32(0, true)).toBe(0x464c4e4e);
    expect([frame[4], frame[5], view.getUint16(6, true), view.getUint32(8, true)]).toEqual([1, 5, 0, 2]);
    expect(view.getUint32(12, true)).toBe(crc32c(frame.subarray(16), crc32c(frame.subarray(0, 12))));
    expect([...frame.subarray(16)]).toEqual([0xaa, 0xbb]);
  });

  it('round-trips through decodeFrame and the streaming decoder', () => {
    fc.assert(
      fc.property(frameArbitrary, (frame) => {
        const bytes = encodeFrame(frame.messageType, frame.payload);
        const decoded = decodeFrame(bytes);
        expect({ frame: plain(decoded.frame), bytesRead: decoded.bytesRead }).toEqual({
          frame,
          bytesRead: bytes.length,
        });
        expect(decodeStream([bytes])).toEqual([frame]);
      }),
      { numRuns: 300 },
    );
  });

  it('asserts when encoding a frame over the limit or with a bad message type, and on a limit over the ceiling', () => {
    expect(() => encodeFrame(1, new Uint8Array(100), { maxFrameBytes: 64 })).toThrow(AssertionError);
    expect(() => encodeFrame(256, new Uint8Array(0))).toThrow(AssertionError);
    expect(() => new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES_CEILING + 1 })).toThrow(AssertionError);
    expect(() => new FrameDecoder({ maxFrameBytes: 8 })).toThrow(AssertionError);
    expect(new FrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES_CEILING }).maxFrameBytes).toBe(
      MAX_FRAME_BYTES_CEILING,
    );
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
  });
});

describe('FrameDecoder streaming', () => {
  const stream = concatBytes(samples.map((frame) => encodeFrame(frame.messageType, frame.payload)));

  it('yields the same frames when the stream is split at every byte boundary', () => {
    for (let split = 0; split <= stream.length; split++) {
      expect(decodeStream([stream.subarray(0, split), stream.subarray(split)]), `split at ${split}`).toEqual(
        samples,
      );
    }
  });

  it('yields the same frames when fed one byte at a time', () => {
    const chunks = Array.from({ length: stream.length }, (_, index) => stream.subarray(index, index + 1));
    expect(decodeStream(chunks)).toEqual(samples);
  });

  it('yields many frames from one chunk, in order', () => {
    const frames = Array.from({ length: 2000 }, (_, index) => ({
      messageType: index % 256,
      payload: Uint8Array.of(index & 0xff, index >> 8),
    }));
    const chunk = concatBytes(frames.map((frame) => encodeFrame(frame.messageType, frame.payload)));
    expect(decodeStream([chunk])).toEqual(frames);
  });

  it('yields the same frames for random chunkings of random frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArbitrary, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (frames, cuts) => {
          const bytes = concatBytes(frames.map((frame) => encodeFrame(frame.messageType, frame.payload)));
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...points].map((start, index) =>
            bytes.subarray(start, [...points, bytes.length][index]),
          );
          const decoder = new FrameDecoder();
          expect(decodeStream(chunks, decoder)).toEqual(frames);
          expect(decoder.bufferedBytes).toBe(0);
          decoder.end();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('waits on every truncation, and end() reports NL_DECODE_TRUNCATED', () => {
    for (const sample of samples) {
      const bytes = encodeFrame(sample.messageType, sample.payload);
      for (let length = 0; length < bytes.length; length++) {
        const decoder = new FrameDecoder();
        expect(decodeStream([bytes.subarray(0, length)], decoder)).toEqual([]);
        expect(decoder.bufferedBytes).toBe(length);
        if (length === 0) decoder.end();
        else expect(codeOf(() => decoder.end())).toBe('NL_DECODE_TRUNCATED');
      }
    }
  });

  it('refuses an oversized frame on its header, before buffering any payload', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 64 });
    decoder.push(concatBytes([headerDeclaring(64 - FRAME_HEADER_BYTES + 1), new Uint8Array(10)]));
    expect(codeOf(() => decoder.next())).toBe('NL_DECODE_FRAME_TOO_LARGE');
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(FRAME_HEADER_BYTES);

    const byDefault = new FrameDecoder();
    byDefault.push(headerDeclaring(0xffff_ffff));
    expect(codeOf(() => byDefault.next())).toBe('NL_DECODE_FRAME_TOO_LARGE');
    const justOver = new FrameDecoder();
    justOver.push(headerDeclaring(DEFAULT_MAX_FRAME_BYTES - FRAME_HEADER_BYTES + 1));
    expect(codeOf(() => justOver.next())).toBe('NL_DECODE_FRAME_TOO_LARGE');
    expect(codeOf(() => decodeFrame(headerDeclaring(0xffff_ffff)))).toBe('NL_DECODE_FRAME_TOO_LARGE');

    const atLimit = new FrameDecoder({ maxFrameBytes: 64 });
    const frame = encodeFrame(3, new Uint8Array(64 - FRAME_HEADER_BYTES), { maxFrameBytes: 64 });
    expect(decodeStream([frame], atLimit).length).toBe(1);
  });

  it('stays failed after an error: earlier frames come out, then the same error forever', () => {
    const good = encodeFrame(1, Uint8Array.of(1));
    const bad = withXor(encodeFrame(2, Uint8Array.of(2)), 16, 0xff);
    const decoder = new FrameDecoder();
    decoder.push(concatBytes([good, bad, good]));
    expect(plain(decoder.next()!)).toEqual({ messageType: 1, payload: Uint8Array.of(1) });
    const error = thrownBy(() => decoder.next());
    expect((error as NorthlightError).code).toBe('NL_DECODE_CHECKSUM');
    decoder.push(good);
    expect(thrownBy(() => decoder.next())).toBe(error);
    expect(thrownBy(() => decoder.end())).toBe(error);
    expect(decoder.failure).toBe(error);
  });

  it('asserts when pushed to before its frames are drained (the queue is bounded by one chunk)', () => {
    const decoder = new FrameDecoder();
    decoder.push(encodeFrame(1, new Uint8Array(0)));
    expect(() => decoder.push(encodeFrame(1, new Uint8Array(0)))).toThrow(AssertionError);
  });

  it('rejects bad magic at its first wrong byte and unknown versions at the version byte', () => {
    const bytes = encodeFrame(1, Uint8Array.of(1, 2));
    for (let index = 0; index < 4; index++) {
      const decoder = new FrameDecoder();
      decoder.push(withXor(bytes, index, 0x20).subarray(0, index + 1));
      expect(
        codeOf(() => decoder.next()),
        `magic byte ${index}`,
      ).toBe('NL_DECODE_INVALID');
    }
    for (const version of [0, 2, 255]) {
      const changed = bytes.slice();
      changed[4] = version;
      const decoder = new FrameDecoder();
      decoder.push(changed.subarray(0, 5));
      expect(codeOf(() => decoder.next())).toBe('NL_DECODE_UNKNOWN_VERSION');
      expect(codeOf(() => decodeFrame(changed))).toBe('NL_DECODE_UNKNOWN_VERSION');
    }
  });

  it('rejects a non-zero reserved field even with a valid CRC', () => {
    const bytes = encodeFrame(1, Uint8Array.of(1, 2));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint16(6, 1, true);
    view.setUint32(12, crc32c(bytes.subarray(16), crc32c(bytes.subarray(0, 12))), true);
    expect(codeOf(() => decodeFrame(bytes))).toBe('NL_DECODE_INVALID');
  });
});

describe('frame corruption, truncation and garbage', () => {
  it('rejects every single-byte corruption of sample frames, one-shot and streaming', () => {
    const unexpected: string[] = [];
    for (const sample of samples) {
      const bytes = encodeFrame(sample.messageType, sample.payload);
      for (let position = 0; position < bytes.length; position++) {
        for (let mask = 1; mask < 256; mask++) {
          const corrupted = withXor(bytes, position, mask);
          const oneShot = outcomeOf(() => decodeFrame(corrupted));
          // Streaming: a corrupted length may make the decoder wait, so end() must then fail instead.
          const streaming = outcomeOf(() => {
            const decoder = new FrameDecoder();
            decoder.push(corrupted);
            for (const _frame of decoder);
            decoder.end();
          });
          for (const [label, outcome] of [
            ['one-shot', oneShot],
            ['streaming', streaming],
          ] as const) {
            if (outcome.kind !== 'rejected')
              unexpected.push(`${label} byte ${position} ^ ${mask}: ${outcome.kind}`);
          }
        }
      }
    }
    expect(unexpected).toEqual([]);
  });

  it('rejects random bit flips of random frames', () => {
    fc.assert(
      fc.property(frameArbitrary, fc.nat(), fc.nat({ max: 7 }), (frame, position, bit) => {
        const bytes = encodeFrame(frame.messageType, frame.payload);
        expect(outcomeOf(() => decodeFrame(withXor(bytes, position % bytes.length, 1 << bit))).kind).toBe(
          'rejected',
        );
      }),
      { numRuns: 500 },
    );
  });

  it('rejects every truncation with NL_DECODE_TRUNCATED in the one-shot decoder', () => {
    for (const sample of samples) {
      const bytes = encodeFrame(sample.messageType, sample.payload);
      for (let length = 0; length < bytes.length; length++) {
        expect(
          codeOf(() => decodeFrame(bytes.subarray(0, length))),
          `prefix ${length}`,
        ).toBe('NL_DECODE_TRUNCATED');
      }
    }
  });

  it('never throws anything but a NorthlightError on garbage, plain or behind a valid header prefix', () => {
    const prefixed = fc
      .tuple(fc.nat({ max: 16 }), fc.uint8Array({ maxLength: 200 }))
      .map(([keep, tail]) => concatBytes([encodeFrame(7, new Uint8Array(0)).subarray(0, keep), tail]));
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), prefixed),
        fc.nat({ max: 200 }),
        (bytes, split) => {
          expect(outcomeOf(() => decodeFrame(bytes, 0, { maxFrameBytes: 1024 })).kind).not.toBe('crashed');
          const streamed = outcomeOf(() => {
            const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
            decodeStream([bytes.subarray(0, split), bytes.subarray(split)], decoder);
            decoder.end();
          });
          expect(streamed.kind).not.toBe('crashed');
        },
      ),
      { numRuns: 500 },
    );
  });
});
