// Proves the message catalog: decode(encode(m)) = m for every message type; every single-byte
// corruption and bit flip of an encoded message is a NorthlightError and every truncation is
// NL_DECODE_TRUNCATED; payloads that pass the frame CRC but break a rule (trailing or missing bytes,
// hostile counts, bad ids, bad UTF-8, unknown codes or types, records out of order or of another PG,
// bad embedded records, empty or too-new truncation ranges, tail entries not above min(hint, SCL),
// fetched LSNs out of order or too many, page images empty or over 64 KiB, gossip budgets of 0 or over
// u32, gossip records out of order or of another PG) are typed errors; random and mutated payloads never
// throw anything else; and the wire tables (message types, error codes) keep their released numbers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../src/core/assert.js';
import { fitUtf8, Writer } from '../src/core/codec.js';
import { errorCodes, NorthlightError } from '../src/core/errors.js';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../src/core/frame.js';
import {
  APPEND_BATCH_PACKED_CODE,
  decodeMessage,
  decodeMessageFromBytes,
  ERROR_CODE_WIRE_TABLE,
  encodeMessage,
  MAX_FETCH_LSNS,
  MAX_REJECTION_MESSAGE_BYTES,
  MESSAGE_TYPE_CODES,
  type Message,
  messageFrameSize,
  messageProblem,
  messageTypes,
} from '../src/core/messages.js';
import { encodeRedoRecord, MAX_PAGE_SIZE_BYTES, type RedoRecord } from '../src/core/redo-record.js';
import { asEpoch, asLsn, asNodeId, asPageNo, asPgId, asSegmentId } from '../src/core/types.js';
import { message as messageArbitrary, messageByType } from './arbitraries.js';
import { concatBytes, outcomeOf, thrownBy, withXor } from './helpers.js';

function codeOf(run: () => unknown): string {
  const error = thrownBy(run);
  if (error instanceof NorthlightError) return error.code;
  return `not a NorthlightError: ${String(error)}`;
}

function record(
  lsn: bigint,
  pgId = 4,
  runs: RedoRecord['runs'] = [{ offset: 8, bytes: Uint8Array.of(1, 2) }],
): RedoRecord {
  return {
    lsn: asLsn(lsn),
    backlink: asLsn(lsn - 1n),
    kind: 'page-diff',
    cpl: lsn % 2n === 0n,
    volumeEpoch: asEpoch(2n),
    pgId: asPgId(pgId),
    pageNo: asPageNo(pgId * 1000 + 1),
    runs,
  };
}

const segment = asSegmentId('seg-4.a');
/** The peer segment of the same PG in gossip samples. */
const peerSegment = asSegmentId('seg-4.b');
/**
 * One small message of each type, for the exhaustive corruption loops. Tests pick samples by index, so
 * a new message type's sample is appended at the end.
 */
const samples: Message[] = [
  {
    type: 'append-batch',
    requestId: 17n,
    volumeEpoch: asEpoch(2n),
    membershipEpoch: asEpoch(5n),
    pgId: asPgId(4),
    segmentId: segment,
    durableHint: asLsn(9n),
    records: [record(10n), record(11n, 4, [])],
  },
  {
    type: 'append-ack',
    requestId: 17n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(2n),
    scl: asLsn(11n),
  },
  {
    type: 'request-rejected',
    requestId: 18n,
    pgId: asPgId(4),
    segmentId: segment,
    code: 'NL_EPOCH_STALE',
    currentVolumeEpoch: asEpoch(3n),
    currentMembershipEpoch: asEpoch(5n),
    message: 'epoch 2 < 3 — fenced',
  },
  {
    type: 'segment-state-request',
    requestId: 19n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(2n),
  },
  {
    type: 'segment-state',
    requestId: 19n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(2n),
    membershipEpoch: asEpoch(5n),
    scl: asLsn(11n),
    durableHint: asLsn(9n),
    truncations: [{ volumeEpoch: asEpoch(1n), fromExclusive: asLsn(3n), toInclusive: asLsn(5n) }],
    tail: [
      { lsn: asLsn(10n), backlink: asLsn(9n), cpl: false },
      { lsn: asLsn(11n), backlink: asLsn(10n), cpl: true },
    ],
  },
  {
    type: 'truncate',
    requestId: 20n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(3n),
    ranges: [
      { volumeEpoch: asEpoch(1n), fromExclusive: asLsn(3n), toInclusive: asLsn(5n) },
      { volumeEpoch: asEpoch(3n), fromExclusive: asLsn(10n), toInclusive: asLsn(1000n) },
    ],
  },
  { type: 'truncate-ack', requestId: 20n, pgId: asPgId(4), segmentId: segment, volumeEpoch: asEpoch(3n) },
  { type: 'redo-stream', volumeEpoch: asEpoch(2n), vdl: asLsn(10n), records: [record(10n), record(12n, 9)] },
  {
    type: 'replica-feedback',
    replicaId: asNodeId('replica-1'),
    appliedLsn: asLsn(10n),
    minReadPoint: asLsn(8n),
  },
  {
    type: 'fetch-records',
    requestId: 21n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(3n),
    lsns: [asLsn(10n), asLsn(11n)],
  },
  {
    type: 'records',
    requestId: 21n,
    pgId: asPgId(4),
    segmentId: segment,
    records: [record(10n), record(11n)],
  },
  {
    type: 'read-page',
    requestId: 22n,
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(3n),
    pageNo: asPageNo(4001),
    readPoint: asLsn(11n),
  },
  {
    type: 'page',
    requestId: 22n,
    pgId: asPgId(4),
    segmentId: segment,
    pageNo: asPageNo(4001),
    readPoint: asLsn(11n),
    bytes: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7),
  },
  {
    type: 'min-read-point',
    pgId: asPgId(4),
    segmentId: segment,
    volumeEpoch: asEpoch(3n),
    minReadPoint: asLsn(9n),
  },
  {
    type: 'gossip-pull',
    requestId: 23n,
    pgId: asPgId(4),
    segmentId: peerSegment,
    fromSegmentId: segment,
    truncationEpoch: asEpoch(3n),
    scl: asLsn(9n),
    maxBytes: 65_536,
  },
  {
    type: 'gossip-records',
    requestId: 23n,
    pgId: asPgId(4),
    segmentId: segment,
    fromSegmentId: peerSegment,
    truncationEpoch: asEpoch(3n),
    scl: asLsn(11n),
    gcThrough: asLsn(5n),
    records: [record(10n), record(11n, 4, [])],
  },
];

/** Byte offset, in a segment-state or truncate payload, of what follows the address (request id, PG, segment). */
const afterAddress = 8 + 4 + 2 + segment.length;

/** The payload of a sample's frame, for hand-editing. */
function payloadOf(message: Message): Uint8Array {
  return encodeMessage(message).slice(FRAME_HEADER_BYTES);
}

/** Decodes a hand-made payload in a frame with a valid CRC, so only the message rules can object. */
function decodePayload(type: Message['type'] | number, payload: Uint8Array): Message {
  const messageType = typeof type === 'number' ? type : MESSAGE_TYPE_CODES[type];
  return decodeMessageFromBytes(encodeFrame(messageType, payload));
}

function edited(message: Message, edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const payload = payloadOf(message);
  edit(new DataView(payload.buffer, payload.byteOffset, payload.length), payload);
  return payload;
}

/** An append-batch payload with any records at all, bypassing the encoder's checks. */
function rawAppendBatch(records: readonly RedoRecord[], pgId = 4): Uint8Array {
  const encoded = records.map(encodeRedoRecord);
  const writer = Writer.allocate(
    8 * 4 + 4 + 2 + segment.length + 4 + encoded.reduce((sum, bytes) => sum + bytes.length, 0),
  );
  writer.u64(1n);
  writer.u64(2n);
  writer.u64(3n);
  writer.u32(pgId);
  writer.string(segment, 63);
  writer.u64(0n);
  writer.u32(records.length);
  for (const bytes of encoded) writer.bytesRaw(bytes);
  return writer.finish();
}

/** A fetch-records payload with any LSNs at all, bypassing the encoder's checks. */
function rawFetchRecords(lsns: readonly bigint[]): Uint8Array {
  const writer = Writer.allocate(afterAddress + 8 + 4 + 8 * lsns.length);
  writer.u64(1n);
  writer.u32(4);
  writer.string(segment, 63);
  writer.u64(3n);
  writer.u32(lsns.length);
  for (const value of lsns) writer.u64(value);
  return writer.finish();
}

/** A records payload with any records at all, bypassing the encoder's checks. */
function rawRecords(records: readonly RedoRecord[], pgId = 4): Uint8Array {
  const encoded = records.map(encodeRedoRecord);
  const writer = Writer.allocate(afterAddress + 4 + encoded.reduce((sum, bytes) => sum + bytes.length, 0));
  writer.u64(1n);
  writer.u32(pgId);
  writer.string(segment, 63);
  writer.u32(records.length);
  for (const bytes of encoded) writer.bytesRaw(bytes);
  return writer.finish();
}

/** A gossip-records payload with any records at all, bypassing the encoder's checks. */
function rawGossipRecords(records: readonly RedoRecord[], pgId = 4): Uint8Array {
  const encoded = records.map(encodeRedoRecord);
  const writer = Writer.allocate(
    afterAddress + 2 + peerSegment.length + 3 * 8 + 4 + encoded.reduce((sum, bytes) => sum + bytes.length, 0),
  );
  writer.u64(1n);
  writer.u32(pgId);
  writer.string(segment, 63);
  writer.string(peerSegment, 63);
  writer.u64(3n);
  writer.u64(11n);
  writer.u64(5n);
  writer.u32(records.length);
  for (const bytes of encoded) writer.bytesRaw(bytes);
  return writer.finish();
}

/** Byte offset, in a gossip payload, of what follows the two segment ids. */
const afterGossipIds = afterAddress + 2 + peerSegment.length;

const consecutiveLsns = (count: number, first = 1n) =>
  Array.from({ length: count }, (_, index) => asLsn(first + BigInt(index)));

describe('message round trip', () => {
  it.each(messageTypes)('decode(encode(m)) = m for %s', (type) => {
    fc.assert(
      fc.property(messageByType[type] as fc.Arbitrary<Message>, (message) => {
        const frame = encodeMessage(message);
        expect(frame.length).toBe(messageFrameSize(message));
        const packed = message.type === 'append-batch' && message.packed === true;
        expect(frame[5]).toBe(packed ? APPEND_BATCH_PACKED_CODE : MESSAGE_TYPE_CODES[type]);
        expect(decodeMessageFromBytes(frame)).toEqual(message);
      }),
      { numRuns: 150 },
    );
  });

  it('round-trips a stream of mixed messages through FrameDecoder split at random points', () => {
    fc.assert(
      fc.property(fc.array(messageArbitrary, { maxLength: 5 }), fc.nat(), (messages, cut) => {
        const stream = concatBytes(messages.map((message) => encodeMessage(message)));
        const split = cut % (stream.length + 1);
        const decoder = new FrameDecoder();
        const decoded: Message[] = [];
        for (const chunk of [stream.subarray(0, split), stream.subarray(split)]) {
          decoder.push(chunk);
          for (const frame of decoder) decoded.push(decodeMessage(frame));
        }
        expect(decoded).toEqual(messages);
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips every catalog error code and a maximal rejection message', () => {
    const base = samples[2] as Extract<Message, { type: 'request-rejected' }>;
    for (const code of errorCodes) {
      const message: Message = {
        ...base,
        code,
        message: fitUtf8('é'.repeat(600), MAX_REJECTION_MESSAGE_BYTES),
      };
      expect(decodeMessageFromBytes(encodeMessage(message))).toEqual(message);
    }
  });

  it('round-trips a tail that reports records behind a local gap (SCL below the durable hint)', () => {
    const message: Message = {
      ...(samples[4] as Extract<Message, { type: 'segment-state' }>),
      scl: asLsn(5n),
      durableHint: asLsn(20n),
      tail: [
        { lsn: asLsn(7n), backlink: asLsn(5n), cpl: false },
        { lsn: asLsn(20n), backlink: asLsn(7n), cpl: true },
        { lsn: asLsn(21n), backlink: asLsn(20n), cpl: false },
      ],
    };
    expect(messageProblem(message)).toBeUndefined();
    expect(decodeMessageFromBytes(encodeMessage(message))).toEqual(message);
  });

  it(`round-trips a fetch of exactly MAX_FETCH_LSNS (${MAX_FETCH_LSNS}) LSNs, and empty records`, () => {
    const fetch: Message = { ...samples[9]!, lsns: consecutiveLsns(MAX_FETCH_LSNS) } as Message;
    const frame = encodeMessage(fetch);
    expect(frame.length).toBe(messageFrameSize(fetch));
    expect(decodeMessageFromBytes(frame)).toEqual(fetch);
    const empty: Message = { ...samples[10]!, records: [] } as Message;
    expect(decodeMessageFromBytes(encodeMessage(empty))).toEqual(empty);
  });

  it('round-trips gossip budgets of 1 and 2^32 - 1 bytes, and an empty gossip reply', () => {
    for (const maxBytes of [1, 0xffff_ffff]) {
      const pull: Message = { ...samples[14]!, maxBytes } as Message;
      expect(decodeMessageFromBytes(encodeMessage(pull))).toEqual(pull);
    }
    const empty: Message = { ...samples[15]!, records: [] } as Message;
    const frame = encodeMessage(empty);
    expect(frame.length).toBe(messageFrameSize(empty));
    expect(decodeMessageFromBytes(frame)).toEqual(empty);
  });
});

describe('message rules on encode', () => {
  const invalid: [string, Message][] = [
    ['a bad segment id', { ...samples[1]!, segmentId: 'Seg' as never } as Message],
    ['a bad replica id', { ...samples[8]!, replicaId: '' as never } as Message],
    ['a request id over u64', { ...samples[1]!, requestId: 1n << 64n } as Message],
    ['a record of another PG', { ...samples[0]!, records: [record(10n, 5)] } as Message],
    ['records out of LSN order', { ...samples[0]!, records: [record(11n), record(10n)] } as Message],
    ['a repeated LSN in a stream', { ...samples[7]!, records: [record(10n), record(10n)] } as Message],
    ['an invalid record', { ...samples[7]!, records: [{ ...record(10n), backlink: asLsn(10n) }] } as Message],
    ['a tail entry at the durable hint', { ...samples[4]!, durableHint: asLsn(10n) } as Message],
    [
      'a tail entry at the SCL below the durable hint',
      { ...samples[4]!, scl: asLsn(10n), durableHint: asLsn(20n) } as Message,
    ],
    [
      'a tail backlink not below its LSN',
      { ...samples[4]!, tail: [{ lsn: asLsn(10n), backlink: asLsn(10n), cpl: false }] } as Message,
    ],
    [
      'an empty truncation range in a segment state',
      {
        ...samples[4]!,
        truncations: [{ volumeEpoch: asEpoch(1n), fromExclusive: asLsn(5n), toInclusive: asLsn(5n) }],
      } as Message,
    ],
    [
      'an unordered tail',
      {
        ...samples[4]!,
        tail: [
          { lsn: asLsn(11n), backlink: asLsn(10n), cpl: true },
          { lsn: asLsn(10n), backlink: asLsn(9n), cpl: false },
        ],
      } as Message,
    ],
    [
      'an empty truncate range',
      {
        ...samples[5]!,
        ranges: [{ volumeEpoch: asEpoch(3n), fromExclusive: asLsn(5n), toInclusive: asLsn(4n) }],
      } as Message,
    ],
    ['a truncate without ranges', { ...samples[5]!, ranges: [] } as Message],
    [
      'a truncate range of a newer epoch than the message',
      {
        ...samples[5]!,
        ranges: [{ volumeEpoch: asEpoch(4n), fromExclusive: asLsn(5n), toInclusive: asLsn(6n) }],
      } as Message,
    ],
    ['a fetch of no LSN', { ...samples[9]!, lsns: [] } as Message],
    ['a fetch of LSN 0', { ...samples[9]!, lsns: [asLsn(0n)] } as Message],
    ['fetched LSNs out of order', { ...samples[9]!, lsns: [asLsn(11n), asLsn(10n)] } as Message],
    ['a repeated fetched LSN', { ...samples[9]!, lsns: [asLsn(10n), asLsn(10n)] } as Message],
    [
      `a fetch of MAX_FETCH_LSNS + 1 LSNs`,
      { ...samples[9]!, lsns: consecutiveLsns(MAX_FETCH_LSNS + 1) } as Message,
    ],
    ['a fetched record of another PG', { ...samples[10]!, records: [record(10n, 5)] } as Message],
    ['fetched records out of LSN order', { ...samples[10]!, records: [record(11n), record(10n)] } as Message],
    ['an unknown error code', { ...samples[2]!, code: 'NL_NOPE' as never } as Message],
    ['an empty page image', { ...samples[12]!, bytes: new Uint8Array(0) } as Message],
    [
      'a page image over MAX_PAGE_SIZE_BYTES',
      { ...samples[12]!, bytes: new Uint8Array(MAX_PAGE_SIZE_BYTES + 1) } as Message,
    ],
    ['a bad segment id in a read-page', { ...samples[11]!, segmentId: '-x' as never } as Message],
    ['a bad segment id in a min-read-point', { ...samples[13]!, segmentId: 'A' as never } as Message],
    [
      'a rejection message over 1 KiB',
      { ...samples[2]!, message: 'x'.repeat(MAX_REJECTION_MESSAGE_BYTES + 1) } as Message,
    ],
    ['a request id over u64 in a gossip-pull', { ...samples[14]!, requestId: 1n << 64n } as Message],
    ['a bad segment id in a gossip-pull', { ...samples[14]!, segmentId: 'B' as never } as Message],
    ['a bad asking segment id in a gossip-pull', { ...samples[14]!, fromSegmentId: '' as never } as Message],
    ['a gossip budget of 0 bytes', { ...samples[14]!, maxBytes: 0 } as Message],
    ['a gossip budget over u32', { ...samples[14]!, maxBytes: 0x1_0000_0000 } as Message],
    ['a fractional gossip budget', { ...samples[14]!, maxBytes: 1.5 } as Message],
    [
      'a bad sending segment id in gossip records',
      { ...samples[15]!, fromSegmentId: '.x' as never } as Message,
    ],
    ['a gossiped record of another PG', { ...samples[15]!, records: [record(10n, 5)] } as Message],
    [
      'gossiped records out of LSN order',
      { ...samples[15]!, records: [record(11n), record(10n)] } as Message,
    ],
    ['a repeated gossiped LSN', { ...samples[15]!, records: [record(10n), record(10n)] } as Message],
  ];

  it.each(invalid)('asserts when encoding a message with %s', (_name, message) => {
    expect(messageProblem(message)).toBeTypeOf('string');
    expect(() => encodeMessage(message)).toThrow(AssertionError);
  });

  it('asserts when a message does not fit the frame limit', () => {
    expect(() => encodeMessage(samples[0]!, { maxFrameBytes: 64 })).toThrow(AssertionError);
  });
});

describe('message rules on decode (payloads behind a valid frame CRC)', () => {
  const cases: [string, Message['type'] | number, Uint8Array, string][] = [
    [
      'trailing bytes',
      'append-ack',
      concatBytes([payloadOf(samples[1]!), Uint8Array.of(0)]),
      'NL_DECODE_INVALID',
    ],
    ['a payload cut short', 'append-ack', payloadOf(samples[1]!).subarray(0, 20), 'NL_DECODE_INVALID'],
    ['an empty payload', 'replica-feedback', new Uint8Array(0), 'NL_DECODE_INVALID'],
    ['unknown message type 0', 0, payloadOf(samples[1]!), 'NL_DECODE_INVALID'],
    ['unknown message type 18', 18, payloadOf(samples[1]!), 'NL_DECODE_INVALID'],
    [
      'a page length of zero',
      'page',
      concatBytes([payloadOf(samples[12]!).subarray(0, afterAddress + 12), new Uint8Array(4)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a page length over MAX_PAGE_SIZE_BYTES (before its bytes are read)',
      'page',
      edited(samples[12]!, (v) => v.setUint32(afterAddress + 12, MAX_PAGE_SIZE_BYTES + 1, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a page length past the payload',
      'page',
      edited(samples[12]!, (v) => v.setUint32(afterAddress + 12, 9, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'trailing bytes after a page',
      'page',
      concatBytes([payloadOf(samples[12]!), Uint8Array.of(0)]),
      'NL_DECODE_INVALID',
    ],
    ['a read-page cut short', 'read-page', payloadOf(samples[11]!).subarray(0, 30), 'NL_DECODE_INVALID'],
    [
      'trailing bytes after a min-read-point',
      'min-read-point',
      concatBytes([payloadOf(samples[13]!), Uint8Array.of(0)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a record count of four billion',
      'redo-stream',
      edited(samples[7]!, (v) => v.setUint32(16, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a truncation count of four billion in a segment state',
      'segment-state',
      edited(samples[4]!, (v) => v.setUint32(afterAddress + 32, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a tail count of four billion',
      'segment-state',
      edited(samples[4]!, (v) => v.setUint32(afterAddress + 32 + 4 + 24, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a truncate range count of four billion',
      'truncate',
      edited(samples[5]!, (v) => v.setUint32(afterAddress + 8, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a fetched LSN count of four billion',
      'fetch-records',
      edited(samples[9]!, (v) => v.setUint32(afterAddress + 8, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a records count of four billion',
      'records',
      edited(samples[10]!, (v) => v.setUint32(afterAddress, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'an upper-case segment id',
      'append-ack',
      edited(samples[1]!, (_v, b) => b.set([0x53], 14)),
      'NL_DECODE_INVALID',
    ],
    [
      'a segment id longer than 63 bytes',
      'append-ack',
      edited(samples[1]!, (v) => v.setUint16(12, 64, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'an empty replica id',
      'replica-feedback',
      concatBytes([Uint8Array.of(0, 0), new Uint8Array(16)]),
      'NL_DECODE_INVALID',
    ],
    [
      'invalid UTF-8 in a rejection message',
      'request-rejected',
      edited(samples[2]!, (_v, b) => b.set([0xff], b.length - 1)),
      'NL_DECODE_INVALID',
    ],
    [
      'an unknown error code index',
      'request-rejected',
      edited(samples[2]!, (v) => v.setUint16(14 + segment.length, ERROR_CODE_WIRE_TABLE.length, true)),
      'NL_DECODE_INVALID',
    ],
    ['a record of another PG', 'append-batch', rawAppendBatch([record(10n, 5)]), 'NL_DECODE_INVALID'],
    [
      'records out of LSN order',
      'append-batch',
      rawAppendBatch([record(11n), record(10n)]),
      'NL_DECODE_INVALID',
    ],
    [
      'an embedded record with a bad CRC',
      'append-batch',
      (() => {
        const payload = rawAppendBatch([record(10n)]);
        payload[payload.length - 1]! ^= 1;
        return payload;
      })(),
      'NL_DECODE_CHECKSUM',
    ],
    [
      'an embedded record running past the payload',
      'append-batch',
      (() => {
        const payload = rawAppendBatch([record(10n)]);
        return payload.subarray(0, payload.length - 1);
      })(),
      'NL_DECODE_INVALID',
    ],
    [
      'an unknown tail flag',
      'segment-state',
      edited(samples[4]!, (_v, b) => b.set([0x02], b.length - 1)),
      'NL_DECODE_INVALID',
    ],
    [
      'a tail entry not above the durable hint (SCL above it)',
      'segment-state',
      edited(samples[4]!, (v) => v.setBigUint64(afterAddress + 24, 10n, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a tail entry not above the SCL (durable hint above it)',
      'segment-state',
      edited(samples[4]!, (v) => {
        v.setBigUint64(afterAddress + 16, 10n, true);
        v.setBigUint64(afterAddress + 24, 30n, true);
      }),
      'NL_DECODE_INVALID',
    ],
    [
      'an empty truncation range in a segment state',
      'segment-state',
      edited(samples[4]!, (v) => v.setBigUint64(afterAddress + 36 + 16, 3n, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'an empty truncate range',
      'truncate',
      edited(samples[5]!, (v, b) => v.setBigUint64(b.length - 8, 10n, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a truncate without ranges',
      'truncate',
      concatBytes([payloadOf(samples[5]!).subarray(0, afterAddress + 8), new Uint8Array(4)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a truncate range of a newer epoch than the message',
      'truncate',
      edited(samples[5]!, (v, b) => v.setBigUint64(b.length - 24, 4n, true)),
      'NL_DECODE_INVALID',
    ],
    ['a fetch of no LSN', 'fetch-records', rawFetchRecords([]), 'NL_DECODE_INVALID'],
    ['a fetch of LSN 0', 'fetch-records', rawFetchRecords([0n]), 'NL_DECODE_INVALID'],
    ['fetched LSNs out of order', 'fetch-records', rawFetchRecords([11n, 10n]), 'NL_DECODE_INVALID'],
    ['a repeated fetched LSN', 'fetch-records', rawFetchRecords([10n, 10n]), 'NL_DECODE_INVALID'],
    [
      'a fetch of MAX_FETCH_LSNS + 1 LSNs',
      'fetch-records',
      rawFetchRecords(consecutiveLsns(MAX_FETCH_LSNS + 1)),
      'NL_DECODE_INVALID',
    ],
    ['a fetched record of another PG', 'records', rawRecords([record(10n, 5)]), 'NL_DECODE_INVALID'],
    [
      'fetched records out of LSN order',
      'records',
      rawRecords([record(11n), record(10n)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a fetched record with a bad CRC',
      'records',
      (() => {
        const payload = rawRecords([record(10n)]);
        payload[payload.length - 1]! ^= 1;
        return payload;
      })(),
      'NL_DECODE_CHECKSUM',
    ],
    [
      'a gossip budget of 0 bytes',
      'gossip-pull',
      edited(samples[14]!, (v, b) => v.setUint32(b.length - 4, 0, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'an upper-case asking segment id in a gossip-pull',
      'gossip-pull',
      edited(samples[14]!, (_v, b) => b.set([0x53], afterAddress + 2)),
      'NL_DECODE_INVALID',
    ],
    [
      'trailing bytes after a gossip-pull',
      'gossip-pull',
      concatBytes([payloadOf(samples[14]!), Uint8Array.of(0)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a gossip records count of four billion',
      'gossip-records',
      edited(samples[15]!, (v) => v.setUint32(afterGossipIds + 24, 0xffff_ffff, true)),
      'NL_DECODE_INVALID',
    ],
    [
      'a gossiped record of another PG',
      'gossip-records',
      rawGossipRecords([record(10n, 5)]),
      'NL_DECODE_INVALID',
    ],
    [
      'gossiped records out of LSN order',
      'gossip-records',
      rawGossipRecords([record(11n), record(10n)]),
      'NL_DECODE_INVALID',
    ],
    [
      'a gossiped record with a bad CRC',
      'gossip-records',
      (() => {
        const payload = rawGossipRecords([record(10n)]);
        payload[payload.length - 1]! ^= 1;
        return payload;
      })(),
      'NL_DECODE_CHECKSUM',
    ],
  ];

  it.each(cases)('rejects %s', (_name, type, payload, code) => {
    expect(codeOf(() => decodePayload(type, payload))).toBe(code);
  });

  it('rejects trailing bytes after the frame in decodeMessageFromBytes', () => {
    expect(
      codeOf(() => decodeMessageFromBytes(concatBytes([encodeMessage(samples[1]!), Uint8Array.of(0)]))),
    ).toBe('NL_DECODE_INVALID');
  });
});

describe('message corruption, truncation and garbage', () => {
  // Every position of every sample; the xor masks are every single-bit flip plus a few multi-bit ones
  // (frame.test.ts and redo-record.test.ts already try all 255 masks on the envelopes themselves).
  const masks = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x0f, 0xf0, 0x55, 0xff];

  it('rejects every single-byte corruption at every position of one sample of each type', () => {
    const unexpected: string[] = [];
    for (const message of samples) {
      const frame = encodeMessage(message);
      for (let position = 0; position < frame.length; position++) {
        for (const mask of masks) {
          const outcome = outcomeOf(() => decodeMessageFromBytes(withXor(frame, position, mask)));
          if (outcome.kind !== 'rejected')
            unexpected.push(`${message.type} byte ${position} ^ ${mask}: ${outcome.kind}`);
        }
      }
    }
    expect(unexpected).toEqual([]);
  });

  it('rejects random bit flips of random messages', () => {
    fc.assert(
      fc.property(messageArbitrary, fc.nat(), fc.nat({ max: 7 }), (message, position, bit) => {
        const frame = encodeMessage(message);
        const outcome = outcomeOf(() =>
          decodeMessageFromBytes(withXor(frame, position % frame.length, 1 << bit)),
        );
        expect(outcome.kind).toBe('rejected');
      }),
      { numRuns: 400 },
    );
  });

  it('rejects every truncation with NL_DECODE_TRUNCATED', () => {
    for (const message of samples) {
      const frame = encodeMessage(message);
      for (let length = 0; length < frame.length; length++) {
        expect(
          codeOf(() => decodeMessageFromBytes(frame.subarray(0, length))),
          `${message.type} prefix ${length}`,
        ).toBe('NL_DECODE_TRUNCATED');
      }
    }
  });

  it('never throws anything but a NorthlightError on random payloads of every message type', () => {
    fc.assert(
      fc.property(fc.nat({ max: 18 }), fc.uint8Array({ maxLength: 300 }), (messageType, payload) => {
        expect(outcomeOf(() => decodeMessage({ messageType, payload })).kind).not.toBe('crashed');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but a NorthlightError on mutated valid payloads (past the frame CRC)', () => {
    const mutation = fc.record({
      position: fc.nat(),
      value: fc.nat({ max: 255 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        messageArbitrary,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (message, mutations) => {
          const { frame } = decodeFrame(encodeMessage(message));
          let payload = frame.payload.slice();
          for (const { position, value, cut } of mutations) {
            if (payload.length > 0) payload[position % payload.length] = value;
            if (cut !== undefined) payload = payload.subarray(0, cut % (payload.length + 1));
          }
          expect(outcomeOf(() => decodeMessage({ messageType: frame.messageType, payload })).kind).not.toBe(
            'crashed',
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('wire tables', () => {
  it('keeps the released message type numbers', () => {
    expect(MESSAGE_TYPE_CODES).toEqual({
      'append-batch': 1,
      'append-ack': 2,
      'request-rejected': 3,
      'segment-state-request': 4,
      'segment-state': 5,
      truncate: 6,
      'truncate-ack': 7,
      'redo-stream': 8,
      'replica-feedback': 9,
      'fetch-records': 10,
      records: 11,
      'read-page': 12,
      page: 13,
      'min-read-point': 14,
      'gossip-pull': 15,
      'gossip-records': 16,
    });
  });

  it('keeps the released error code indexes and lists every catalog code exactly once', () => {
    // Released in wire version 1. Append new codes to the table; never edit this prefix.
    const released = [
      'NL_DECODE_TRUNCATED',
      'NL_DECODE_CHECKSUM',
      'NL_DECODE_UNKNOWN_VERSION',
      'NL_DECODE_FRAME_TOO_LARGE',
      'NL_DECODE_INVALID',
      'NL_QUORUM_LOST',
      'NL_EPOCH_STALE',
      'NL_MEMBERSHIP_STALE',
      'NL_LSN_ALLOCATION_LIMIT',
      'NL_DISK_IO',
      'NL_OBJECT_STORE_UNAVAILABLE',
      'NL_NETWORK_UNREACHABLE',
      'NL_TIMEOUT',
      'NL_CONFIG_INVALID',
    ];
    expect(ERROR_CODE_WIRE_TABLE.slice(0, released.length)).toEqual(released);
    expect([...ERROR_CODE_WIRE_TABLE].sort()).toEqual([...errorCodes].sort());
  });
});
