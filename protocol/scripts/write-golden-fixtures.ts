/**
 * Writes the golden fixtures of the current wire format version: `protocol/fixtures/v<N>/*.bin` (one
 * encoded redo record or one whole message frame each) and `manifest.json` (what each file decodes to).
 * `protocol/test/golden-fixtures.test.ts` decodes every fixture of every version and re-encodes it to
 * the identical bytes, so a change that alters a released format fails CI.
 *
 * A released version is frozen: this script refuses to touch an existing version folder unless given
 * `--force`, which is only for fixing a version that has not been released yet. A format change gets a
 * new version number, and so a new folder, next to the old ones.
 *
 * Usage: npm run fixtures:golden [-- --force]      (or: npx tsx protocol/scripts/write-golden-fixtures.ts)
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FRAME_FORMAT_VERSION } from '../src/core/frame.js';
import { encodeMessage, type Message } from '../src/core/messages.js';
import type { TruncationRange } from '../src/core/recovery.js';
import {
  encodeRedoRecord,
  MAX_PAGE_SIZE_BYTES,
  REDO_RECORD_FORMAT_VERSION,
  type RedoRecord,
} from '../src/core/redo-record.js';
import { asEpoch, asLsn, asNodeId, asPageNo, asPgId, asSegmentId, U64_MAX } from '../src/core/types.js';
import { toGoldenJson } from '../test/golden-json.js';

/** Frames and records share one version number today; if they ever diverge, fixtures need two axes. */
const WIRE_FORMAT_VERSION = FRAME_FORMAT_VERSION;
if (REDO_RECORD_FORMAT_VERSION !== WIRE_FORMAT_VERSION) {
  throw new Error('frame and record format versions differ; give the fixture folders a naming for both');
}

type Fixture =
  | { file: string; description: string; codec: 'redo-record'; value: RedoRecord }
  | { file: string; description: string; codec: 'message'; value: Message };

const pagesPerPg = 131_072; // 1 GiB PGs of 8 KiB pages; only used to pick believable page numbers.

const firstRecordOfPg: RedoRecord = {
  lsn: asLsn(1n),
  backlink: asLsn(0n),
  kind: 'page-diff',
  cpl: false,
  volumeEpoch: asEpoch(1n),
  pgId: asPgId(0),
  pageNo: asPageNo(3),
  runs: [{ offset: 24, bytes: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) }],
};

const multiRunCpl: RedoRecord = {
  lsn: asLsn(1_000_042n),
  backlink: asLsn(1_000_017n),
  kind: 'page-diff',
  cpl: true,
  volumeEpoch: asEpoch(7n),
  pgId: asPgId(2),
  pageNo: asPageNo(2 * pagesPerPg + 511),
  runs: [
    { offset: 0, bytes: Uint8Array.of(0x0d, 0x00, 0x00, 0x00, 0x02) },
    { offset: 100, bytes: new TextEncoder().encode('hello, aurora') },
    { offset: 8180, bytes: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12) },
  ],
};

const noopCpl: RedoRecord = {
  lsn: asLsn(1_000_043n),
  backlink: asLsn(1_000_042n),
  kind: 'noop',
  cpl: true,
  volumeEpoch: asEpoch(7n),
  pgId: asPgId(2),
  pageNo: asPageNo(0),
  runs: [],
};

const extremes: RedoRecord = {
  lsn: asLsn(U64_MAX),
  backlink: asLsn(U64_MAX - 1n),
  kind: 'page-diff',
  cpl: false,
  volumeEpoch: asEpoch(U64_MAX),
  pgId: asPgId(0xffff_ffff),
  pageNo: asPageNo(0xffff_ffff),
  runs: [{ offset: MAX_PAGE_SIZE_BYTES - 3, bytes: Uint8Array.of(0xfe, 0xff, 0x00) }],
};

const segment = asSegmentId('sn-us-east-1a-3.pg2.s4');
/** Another member of PG 2's protection group, the peer in the gossip fixtures. */
const peerSegment = asSegmentId('sn-us-east-1b-1.pg2.s5');

/** The range an earlier recovery (epoch 6) annulled; the writer of epoch 7 continued above it. */
const earlierTruncation: TruncationRange = {
  volumeEpoch: asEpoch(6n),
  fromExclusive: asLsn(900_000n),
  toInclusive: asLsn(1_000_000n),
};

const fixtures: Fixture[] = [
  {
    file: 'record-page-diff-first-of-pg.bin',
    codec: 'redo-record',
    description: "A PG's first record (backlink 0): one diff run, not a CPL.",
    value: firstRecordOfPg,
  },
  {
    file: 'record-page-diff-multi-run-cpl.bin',
    codec: 'redo-record',
    description: 'A page diff with three runs that ends a mini-transaction (CPL flag set).',
    value: multiRunCpl,
  },
  {
    file: 'record-noop-cpl.bin',
    codec: 'redo-record',
    description: 'A NOOP record carrying only a CPL: page number 0, no runs.',
    value: noopCpl,
  },
  {
    file: 'record-page-diff-extremes.bin',
    codec: 'redo-record',
    description: 'Every integer field at its maximum, and a run ending exactly at the 64 KiB page end.',
    value: extremes,
  },
  {
    file: 'message-append-batch.bin',
    codec: 'message',
    description: 'An append batch of two records of PG 2 for one segment.',
    value: {
      type: 'append-batch',
      requestId: 501n,
      volumeEpoch: asEpoch(7n),
      membershipEpoch: asEpoch(3n),
      pgId: asPgId(2),
      segmentId: segment,
      durableHint: asLsn(1_000_017n),
      records: [multiRunCpl, noopCpl],
    },
  },
  {
    file: 'message-append-batch-packed.bin',
    codec: 'message',
    description:
      'A packed append batch (wire type 17) of PG 2: a record of epoch 6 that recovery re-replicates, then the two records of the batch above.',
    value: {
      type: 'append-batch',
      requestId: 502n,
      volumeEpoch: asEpoch(7n),
      membershipEpoch: asEpoch(3n),
      pgId: asPgId(2),
      segmentId: segment,
      durableHint: asLsn(1_000_017n),
      records: [
        {
          lsn: asLsn(1_000_017n),
          backlink: asLsn(999_990n),
          kind: 'page-diff',
          cpl: true,
          volumeEpoch: asEpoch(6n),
          pgId: asPgId(2),
          pageNo: asPageNo(2 * pagesPerPg + 7),
          runs: [{ offset: 4096, bytes: Uint8Array.of(0x2a) }],
        },
        multiRunCpl,
        noopCpl,
      ],
      packed: true,
    },
  },
  {
    file: 'message-append-ack.bin',
    codec: 'message',
    description: 'The acknowledgement of request 501.',
    value: {
      type: 'append-ack',
      requestId: 501n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(7n),
      scl: asLsn(1_000_043n),
    },
  },
  {
    file: 'message-request-rejected.bin',
    codec: 'message',
    description: 'A rejection for a stale volume epoch, with a non-ASCII message.',
    value: {
      type: 'request-rejected',
      requestId: 502n,
      pgId: asPgId(2),
      segmentId: segment,
      code: 'NL_EPOCH_STALE',
      currentVolumeEpoch: asEpoch(8n),
      currentMembershipEpoch: asEpoch(3n),
      message: 'volume epoch 7 < 8: writer fenced — recovery happened',
    },
  },
  {
    file: 'message-segment-state-request.bin',
    codec: 'message',
    description: "Recovery asking a segment for its state under the recovering writer's epoch.",
    value: {
      type: 'segment-state-request',
      requestId: 900n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(7n),
    },
  },
  {
    file: 'message-segment-state.bin',
    codec: 'message',
    description:
      'A segment state of a segment that missed record 1000042 (SCL 1000017, below its durable hint ' +
      '1000043): its tail reports the records it holds behind that gap, and it holds one earlier ' +
      'truncation range.',
    value: {
      type: 'segment-state',
      requestId: 900n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(7n),
      membershipEpoch: asEpoch(3n),
      scl: asLsn(1_000_017n),
      durableHint: asLsn(1_000_043n),
      truncations: [earlierTruncation],
      tail: [
        { lsn: asLsn(1_000_043n), backlink: asLsn(1_000_042n), cpl: true },
        { lsn: asLsn(1_000_050n), backlink: asLsn(1_000_043n), cpl: false },
      ],
    },
  },
  {
    file: 'message-truncate.bin',
    codec: 'message',
    description:
      'Recovery truncating everything above VDL 1000043 up to VDL + LAL under the new epoch 8, and ' +
      'passing on the earlier range of epoch 6 it learned.',
    value: {
      type: 'truncate',
      requestId: 901n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(8n),
      ranges: [
        earlierTruncation,
        { volumeEpoch: asEpoch(8n), fromExclusive: asLsn(1_000_043n), toInclusive: asLsn(11_000_043n) },
      ],
    },
  },
  {
    file: 'message-truncate-ack.bin',
    codec: 'message',
    description: 'The acknowledgement of truncate request 901.',
    value: {
      type: 'truncate-ack',
      requestId: 901n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(8n),
    },
  },
  {
    file: 'message-redo-stream.bin',
    codec: 'message',
    description: 'The writer streaming records of two PGs to a replica, with its VDL.',
    value: {
      type: 'redo-stream',
      volumeEpoch: asEpoch(7n),
      vdl: asLsn(1_000_043n),
      records: [
        { ...firstRecordOfPg, lsn: asLsn(1_000_041n), volumeEpoch: asEpoch(7n) },
        multiRunCpl,
        noopCpl,
      ],
    },
  },
  {
    file: 'message-replica-feedback.bin',
    codec: 'message',
    description: "A replica's applied LSN and the oldest read point it still serves.",
    value: {
      type: 'replica-feedback',
      replicaId: asNodeId('replica-us-east-1b-0'),
      appliedLsn: asLsn(1_000_043n),
      minReadPoint: asLsn(1_000_017n),
    },
  },
  {
    file: 'message-fetch-records.bin',
    codec: 'message',
    description: 'Recovery fetching two records of PG 2 to bring them to a write quorum.',
    value: {
      type: 'fetch-records',
      requestId: 902n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(8n),
      lsns: [asLsn(1_000_042n), asLsn(1_000_043n)],
    },
  },
  {
    file: 'message-records.bin',
    codec: 'message',
    description: 'The reply to fetch request 902: both records.',
    value: {
      type: 'records',
      requestId: 902n,
      pgId: asPgId(2),
      segmentId: segment,
      records: [multiRunCpl, noopCpl],
    },
  },
  {
    file: 'message-read-page.bin',
    codec: 'message',
    description: 'The engine reading page 2 * 131072 + 511 of PG 2 as of read point 1000043 (its VDL).',
    value: {
      type: 'read-page',
      requestId: 903n,
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(8n),
      pageNo: asPageNo(2 * pagesPerPg + 511),
      readPoint: asLsn(1_000_043n),
    },
  },
  {
    file: 'message-page.bin',
    codec: 'message',
    description:
      'The reply to read-page 903: a 4 KiB page image as of the read point (the runs of the multi-run ' +
      'record applied to a zero page; the storage node serves whatever page size the volume uses).',
    value: {
      type: 'page',
      requestId: 903n,
      pgId: asPgId(2),
      segmentId: segment,
      pageNo: asPageNo(2 * pagesPerPg + 511),
      readPoint: asLsn(1_000_043n),
      bytes: pageWithRuns(4096, multiRunCpl.runs.slice(0, 2)),
    },
  },
  {
    file: 'message-min-read-point.bin',
    codec: 'message',
    description: "The writer announcing PG 2's minimum read point (over itself and its replicas).",
    value: {
      type: 'min-read-point',
      pgId: asPgId(2),
      segmentId: segment,
      volumeEpoch: asEpoch(8n),
      minReadPoint: asLsn(1_000_017n),
    },
  },
  {
    file: 'message-gossip-pull.bin',
    codec: 'message',
    description:
      'Segment s4 of PG 2, complete through 1000017 (it missed record 1000042), asking its peer s5 ' +
      'for the records above that, up to 1 MiB of them.',
    value: {
      type: 'gossip-pull',
      requestId: 904n,
      pgId: asPgId(2),
      segmentId: peerSegment,
      fromSegmentId: segment,
      truncationEpoch: asEpoch(8n),
      scl: asLsn(1_000_017n),
      maxBytes: 1_048_576,
    },
  },
  {
    file: 'message-gossip-records.bin',
    codec: 'message',
    description:
      "The reply to gossip-pull 904: s5's truncation epoch, SCL and GC point, and the two records s4 " +
      'is missing.',
    value: {
      type: 'gossip-records',
      requestId: 904n,
      pgId: asPgId(2),
      segmentId: segment,
      fromSegmentId: peerSegment,
      truncationEpoch: asEpoch(8n),
      scl: asLsn(1_000_043n),
      gcThrough: asLsn(900_000n),
      records: [multiRunCpl, noopCpl],
    },
  },
];

/** A zero page of `size` bytes with `runs` written over it. */
function pageWithRuns(size: number, runs: RedoRecord['runs']): Uint8Array {
  const page = new Uint8Array(size);
  for (const run of runs) page.set(run.bytes, run.offset);
  return page;
}

function encodeFixture(fixture: Fixture): Uint8Array {
  return fixture.codec === 'redo-record' ? encodeRedoRecord(fixture.value) : encodeMessage(fixture.value);
}

function main(argv: readonly string[]): void {
  const unknown = argv.filter((argument) => argument !== '--force');
  if (unknown.length > 0) {
    console.error(`unknown arguments: ${unknown.join(' ')}\nusage: write-golden-fixtures [--force]`);
    process.exit(2);
  }
  const folder = fileURLToPath(new URL(`../fixtures/v${WIRE_FORMAT_VERSION}/`, import.meta.url));
  if (existsSync(folder)) {
    if (!argv.includes('--force')) {
      console.error(
        `${folder} exists: released formats are frozen. Bump the format version for a change, or pass --force ` +
          'only to regenerate a version that has not been released.',
      );
      process.exit(1);
    }
    rmSync(folder, { recursive: true });
  }
  mkdirSync(folder, { recursive: true });
  const entries = fixtures.map((fixture) => {
    const bytes = encodeFixture(fixture);
    writeFileSync(`${folder}${fixture.file}`, bytes);
    return {
      file: fixture.file,
      codec: fixture.codec,
      description: fixture.description,
      sizeBytes: bytes.length,
      value: toGoldenJson(fixture.value),
    };
  });
  const manifest = {
    formatVersion: WIRE_FORMAT_VERSION,
    about:
      'Golden fixtures: each file is one encoded redo record or one whole message frame; value is what it decodes to ' +
      '(bigints as decimal strings, bytes as hex). Frozen once released; see docs/formats.md.',
    fixtures: entries,
  };
  writeFileSync(`${folder}manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`wrote ${entries.length} fixtures and manifest.json to ${folder}`);
}

main(process.argv.slice(2));
