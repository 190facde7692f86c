// fast-check generators of valid records, frames and messages, shared by the property tests and the
// fuzz script (scripts/fuzz-decoders.ts). Everything generated here must encode without assertion.
import fc from 'fast-check';
import { errorCodes } from '../src/core/errors.js';
import type { AppendBatchMessage, Message, TailEntry } from '../src/core/messages.js';
import type { TruncationRange } from '../src/core/recovery.js';
import { type DiffRun, MAX_PAGE_SIZE_BYTES, type RedoRecord } from '../src/core/redo-record.js';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  type Epoch,
  type Lsn,
  type PageNo,
  type PgId,
  U64_MAX,
} from '../src/core/types.js';

export const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
export const lsn: fc.Arbitrary<Lsn> = u64.map(asLsn);
export const epoch: fc.Arbitrary<Epoch> = u64.map(asEpoch);
export const pgId: fc.Arbitrary<PgId> = fc.nat({ max: 0xffff_ffff }).map(asPgId);
export const pageNo: fc.Arbitrary<PageNo> = fc.nat({ max: 0xffff_ffff }).map(asPageNo);
export const requestId = u64;

const identifierText = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/);
export const segmentId = identifierText.map(asSegmentId);
export const nodeId = identifierText.map(asNodeId);

/** Sorted, disjoint, non-empty runs inside a 64 KiB page; sometimes one ends exactly at the page end. */
export const runs: fc.Arbitrary<DiffRun[]> = fc
  .record({
    pieces: fc.array(
      fc.record({
        gap: fc.oneof(fc.nat({ max: 16 }), fc.nat({ max: 4096 })),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }),
      }),
      { maxLength: 6 },
    ),
    atPageEnd: fc.boolean(),
  })
  .map(({ pieces, atPageEnd }) => {
    const result: DiffRun[] = [];
    let offset = 0;
    for (const piece of pieces) {
      const start = offset + piece.gap;
      if (start + piece.bytes.length > MAX_PAGE_SIZE_BYTES) break;
      result.push({ offset: start, bytes: piece.bytes });
      offset = start + piece.bytes.length;
    }
    const last = result.at(-1);
    if (atPageEnd && last !== undefined) {
      const shift = MAX_PAGE_SIZE_BYTES - (last.offset + last.bytes.length);
      return result.map((run) => ({ offset: run.offset + shift, bytes: run.bytes }));
    }
    return result;
  });

const lsnAndBacklink = fc
  .bigInt({ min: 1n, max: U64_MAX })
  .chain((value) => fc.tuple(fc.constant(asLsn(value)), fc.bigInt({ min: 0n, max: value - 1n }).map(asLsn)));

export function redoRecordOf(
  overrides: { pgId?: fc.Arbitrary<PgId>; lsn?: fc.Arbitrary<Lsn>; volumeEpoch?: fc.Arbitrary<Epoch> } = {},
) {
  const lsnPair = overrides.lsn
    ? overrides.lsn.chain((value) =>
        fc.tuple(fc.constant(value), fc.bigInt({ min: 0n, max: value - 1n }).map(asLsn)),
      )
    : lsnAndBacklink;
  const common = fc.record({
    lsnPair,
    cpl: fc.boolean(),
    volumeEpoch: overrides.volumeEpoch ?? epoch,
    pgId: overrides.pgId ?? pgId,
  });
  const pageDiff = fc.tuple(common, pageNo, runs).map(
    ([c, page, diffRuns]): RedoRecord => ({
      lsn: c.lsnPair[0],
      backlink: c.lsnPair[1],
      kind: 'page-diff',
      cpl: c.cpl,
      volumeEpoch: c.volumeEpoch,
      pgId: c.pgId,
      pageNo: page,
      runs: diffRuns,
    }),
  );
  const noop = common.map(
    (c): RedoRecord => ({
      lsn: c.lsnPair[0],
      backlink: c.lsnPair[1],
      kind: 'noop',
      cpl: c.cpl,
      volumeEpoch: c.volumeEpoch,
      pgId: c.pgId,
      pageNo: asPageNo(0),
      runs: [],
    }),
  );
  return fc.oneof({ arbitrary: pageDiff, weight: 3 }, { arbitrary: noop, weight: 1 });
}

export const redoRecord: fc.Arbitrary<RedoRecord> = redoRecordOf();

/** Strictly ascending distinct LSNs ≥ 1. */
const ascendingLsns = (maxLength: number, minLength = 0, max = U64_MAX) =>
  fc
    .uniqueArray(fc.bigInt({ min: 1n, max }), { minLength, maxLength })
    .map((values) => values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(asLsn));

/** Records of one PG (or any PG) in strictly ascending LSN order, as batches and streams require. */
function recordList(
  fixedPg: PgId | undefined,
  volumeEpoch?: fc.Arbitrary<Epoch>,
): fc.Arbitrary<RedoRecord[]> {
  // Small LSNs too, as a live volume has: packed batches store LSN distances as varints.
  const lsns = fc.oneof(ascendingLsns(4), ascendingLsns(6, 0, 100_000n));
  return lsns.chain((lsns) =>
    fc.tuple(
      ...lsns.map((value) =>
        redoRecordOf({
          lsn: fc.constant(value),
          ...(fixedPg === undefined ? {} : { pgId: fc.constant(fixedPg) }),
          ...(volumeEpoch === undefined ? {} : { volumeEpoch }),
        }),
      ),
    ),
  );
}

/** Tail entries strictly ascending above `floor` = min(durableHint, scl). */
const tail = (floor: Lsn): fc.Arbitrary<TailEntry[]> =>
  floor >= U64_MAX
    ? fc.constant([])
    : fc
        .uniqueArray(fc.bigInt({ min: floor + 1n, max: U64_MAX }), { maxLength: 8 })
        .map((values) => values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        .chain((values) =>
          fc.tuple(
            ...values.map((value) =>
              fc.record({
                lsn: fc.constant(asLsn(value)),
                backlink: fc.bigInt({ min: 0n, max: value - 1n }).map(asLsn),
                cpl: fc.boolean(),
              }),
            ),
          ),
        );

/**
 * Well-formed Unicode text (no lone surrogates) with ASCII, BMP and astral code points. Built from code
 * points because fast-check's `unit: 'binary'` strings are slow to generate.
 */
export function unicodeText(maxCodePoints: number): fc.Arbitrary<string> {
  const codePoint = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0, max: 0xd7ff }),
    fc.integer({ min: 0xe000, max: 0x10_ffff }),
  );
  return fc
    .array(codePoint, { maxLength: maxCodePoints })
    .map((codePoints) => String.fromCodePoint(...codePoints));
}

/** Text that round-trips through UTF-8 and fits the rejection cap (200 code points ≤ 800 bytes). */
const rejectionText = fc.oneof(fc.string({ maxLength: 40 }), unicodeText(200));

/**
 * An append-batch, packed (wire type 17) or not (type 1). Most records share the batch's epoch, as
 * they do in a live volume; some keep an older one, as records re-replicated by recovery do.
 */
const appendBatch = fc.tuple(pgId, epoch).chain(([batchPg, batchEpoch]) =>
  fc
    .record({
      type: fc.constant('append-batch' as const),
      requestId,
      volumeEpoch: fc.constant(batchEpoch),
      membershipEpoch: epoch,
      pgId: fc.constant(batchPg),
      segmentId,
      durableHint: lsn,
      records: recordList(batchPg, fc.oneof({ arbitrary: fc.constant(batchEpoch), weight: 3 }, epoch)),
      packed: fc.boolean(),
    })
    .map(({ packed, ...message }): AppendBatchMessage => (packed ? { ...message, packed } : message)),
);

/** A non-empty truncation range (fromExclusive < toInclusive) of an epoch ≤ `maxEpoch`. */
const truncationRange = (maxEpoch: bigint = U64_MAX): fc.Arbitrary<TruncationRange> =>
  fc
    .record({ volumeEpoch: fc.bigInt({ min: 0n, max: maxEpoch }), a: u64, b: u64 })
    .filter(({ a, b }) => a !== b)
    .map(({ volumeEpoch, a, b }) => ({
      volumeEpoch: asEpoch(volumeEpoch),
      fromExclusive: asLsn(a < b ? a : b),
      toInclusive: asLsn(a < b ? b : a),
    }));

/**
 * A segment state whose tail holds entries above min(durableHint, scl): when scl < durableHint (half
 * the time), some entries lie at or below the durable hint, behind the segment's local gap.
 */
const segmentState = fc.tuple(u64, u64).chain(([hint, scl]) =>
  fc.record({
    type: fc.constant('segment-state' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
    membershipEpoch: epoch,
    scl: fc.constant(asLsn(scl)),
    durableHint: fc.constant(asLsn(hint)),
    truncations: fc.array(truncationRange(), { maxLength: 4 }),
    tail: tail(asLsn(hint < scl ? hint : scl)),
  }),
);

const truncate = u64.chain((newEpoch) =>
  fc.record({
    type: fc.constant('truncate' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: fc.constant(asEpoch(newEpoch)),
    ranges: fc.array(truncationRange(newEpoch), { minLength: 1, maxLength: 4 }),
  }),
);

/** Short LSN lists; messages.test.ts covers the `MAX_FETCH_LSNS` boundary explicitly. */
const fetchLsns: fc.Arbitrary<Lsn[]> = ascendingLsns(16, 1);

const records = pgId.chain((replyPg) =>
  fc.record({
    type: fc.constant('records' as const),
    requestId,
    pgId: fc.constant(replyPg),
    segmentId,
    records: recordList(replyPg),
  }),
);

/** A gossip reply: records of its PG, and the sender's truncation epoch, SCL and GC point. */
const gossipRecords = pgId.chain((replyPg) =>
  fc.record({
    type: fc.constant('gossip-records' as const),
    requestId,
    pgId: fc.constant(replyPg),
    segmentId,
    fromSegmentId: segmentId,
    truncationEpoch: epoch,
    scl: lsn,
    gcThrough: lsn,
    records: recordList(replyPg),
  }),
);

/** One arbitrary per message type, keyed by type, so tests can cover each by name. */
export const messageByType = {
  'append-batch': appendBatch,
  'append-ack': fc.record({
    type: fc.constant('append-ack' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
    scl: lsn,
  }),
  'request-rejected': fc.record({
    type: fc.constant('request-rejected' as const),
    requestId,
    pgId,
    segmentId,
    code: fc.constantFrom(...errorCodes),
    currentVolumeEpoch: epoch,
    currentMembershipEpoch: epoch,
    message: rejectionText,
  }),
  'segment-state-request': fc.record({
    type: fc.constant('segment-state-request' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
  }),
  'segment-state': segmentState,
  truncate,
  'truncate-ack': fc.record({
    type: fc.constant('truncate-ack' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
  }),
  'redo-stream': fc.record({
    type: fc.constant('redo-stream' as const),
    volumeEpoch: epoch,
    vdl: lsn,
    records: recordList(undefined),
  }),
  'replica-feedback': fc.record({
    type: fc.constant('replica-feedback' as const),
    replicaId: nodeId,
    appliedLsn: lsn,
    minReadPoint: lsn,
  }),
  'fetch-records': fc.record({
    type: fc.constant('fetch-records' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
    lsns: fetchLsns,
  }),
  records,
  'read-page': fc.record({
    type: fc.constant('read-page' as const),
    requestId,
    pgId,
    segmentId,
    volumeEpoch: epoch,
    pageNo,
    readPoint: lsn,
  }),
  page: fc.record({
    type: fc.constant('page' as const),
    requestId,
    pgId,
    segmentId,
    pageNo,
    readPoint: lsn,
    // Mostly short images (cheap to compare); now and then a whole 4 KiB or maximal 64 KiB page.
    bytes: fc.oneof(
      { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }), weight: 19 },
      {
        arbitrary: fc.constantFrom(4096, MAX_PAGE_SIZE_BYTES).map((size) => new Uint8Array(size).fill(0xa5)),
        weight: 1,
      },
    ),
  }),
  'min-read-point': fc.record({
    type: fc.constant('min-read-point' as const),
    pgId,
    segmentId,
    volumeEpoch: epoch,
    minReadPoint: lsn,
  }),
  'gossip-pull': fc.record({
    type: fc.constant('gossip-pull' as const),
    requestId,
    pgId,
    segmentId,
    fromSegmentId: segmentId,
    truncationEpoch: epoch,
    scl: lsn,
    // Both ends of the u32 budget now and then; messages.test.ts covers 0 and 2^32 explicitly.
    maxBytes: fc.oneof(fc.integer({ min: 1, max: 0xffff_ffff }), fc.constantFrom(1, 0xffff_ffff)),
  }),
  'gossip-records': gossipRecords,
} satisfies { [K in Message['type']]: fc.Arbitrary<Extract<Message, { type: K }>> };

export const message: fc.Arbitrary<Message> = fc.oneof(...Object.values(messageByType));
