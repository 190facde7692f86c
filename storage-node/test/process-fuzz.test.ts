/**
 * Bad input against a real process: one storage node (src/main.ts) on loopback holds one segment, made
 * through the admin API, recovered by a test writer over TCP (state request, truncation under volume
 * epoch 1) and filled with 300 records; a minimum read point makes it coalesce and collect the first
 * hundred, so every read rule has something to refuse. A digest of what it stores is taken: the
 * segment's status fields, every record a fetch of LSNs 1 … SCL + 20 returns (encoded bytes), every page
 * at two read points, the bytes of every file in the data directory, and the append and fsync counters.
 * Then, with a seeded PRNG (fast-check, `NL_FUZZ_SEED` replays a seed; the seed is in every failure):
 *
 *   1. raw TCP to the binary port, a fresh connection per case: garbage before or instead of the hello,
 *      corrupted hellos, hellos with a bad identity, random bytes, bad frame headers, truncated frames,
 *      frames claiming more than the 16 MiB limit, frames with one flipped bit. The transport's own hello
 *      reader and frame decoder, run locally, say what the node must do; the node must close exactly the
 *      connections they refuse, log each with the same NL_DECODE_* code and the client's address, count
 *      each (handshake or decode error), send nothing but its hello, and keep serving: a bystander
 *      connection and the writer's connection still get replies, /healthz stays 200.
 *   2. valid frames over the writer's connection that the node must refuse: stale volume, truncation
 *      and membership epochs, records outside the PG or past the page, annulled LSNs, conflicts and
 *      forks, reads outside [PGMRPL, SCL], each a typed request-rejected with the current epochs;
 *      requests for unknown segments, gossip from non-members, unsolicited and unhandled messages,
 *      frames holding undecodable messages and random messages of every type (protocol's arbitraries)
 *      are not answered and are counted as dropped, by reason, exactly; the unknown segment, the
 *      unhandled types, the invalid gossip and the undecodable messages (with their codes) at WARN.
 *   3. the admin API: random methods on real and random paths with hostile parameters, random, malformed
 *      and oversized bodies and content types (membership bodies among them: the segment's own, older,
 *      conflicting, malformed): never a 5xx except a typed one the API documents for a lifecycle route,
 *      every error a JSON { code, message, action } with a catalog code and its status, never a segment
 *      created, dropped, sealed or given a new membership; raw malformed HTTP gets a 4xx.
 *   4. afterwards the digest is exactly what it was, /healthz and /readyz answer 200, nothing was
 *      logged at ERROR, and SIGTERM stops the process with exit code 0.
 *
 * Two last tests pin bugs the admin fuzz found (a client hanging up mid-body is logged at ERROR as a
 * bug; an epoch that passes the schema but not u64 kills the process); they fail until fixed.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  crc32c,
  DEFAULT_MAX_FRAME_BYTES,
  decodeMessageFromBytes,
  encodeFrame,
  encodeMessage,
  encodeRedoRecord,
  errorCodes,
  FRAME_HEADER_BYTES,
  MESSAGE_TYPE_CODES,
  type Message,
  NorthlightError,
  type RedoRecord,
  U64_MAX,
} from '@northlight/protocol';
import { encodeTransportHello, TRANSPORT_HELLO_BYTES } from '@northlight/protocol/io';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message as arbitraryMessage } from '../../protocol/test/arbitraries.js';
import {
  applyControlEntry,
  emptyControlState,
  type SegmentControlState,
  scanControlLog,
} from '../src/core/control-log.js';
import { HTTP_STATUS_OF_ERROR_CODE } from '../src/io/admin-server.js';
import {
  admin,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';
import { ProcessWriter } from './support/process-writer.js';
import {
  type RawHttpRequest,
  RawTransportConnection,
  rawHttp,
  rawHttpBytes,
  type TransportVerdict,
  transportVerdict,
} from './support/raw-clients.js';

const SEED = Number(process.env.NL_FUZZ_SEED ?? 20_261_126);
const REPLAY = `seed ${SEED} (replay: NL_FUZZ_SEED=${SEED} npx vitest run test/process-fuzz.test.ts)`;

const NODE_ID = 'fz1';
const PG = asPgId(0);
const SEGMENT = asSegmentId('pg0-fz1');
const MEMBERS = ['pg0-fz1', 'pg0-fz2', 'pg0-fz3', 'pg0-fz4', 'pg0-fz5', 'pg0-fz6'].map(asSegmentId);
const EPOCH = asEpoch(1n);
const FIRST_LSN = 257n;
const RECORDS = 300;
const BATCH_RECORDS = 25;
const PAGES = 32;
const LAST_LSN = FIRST_LSN + BigInt(RECORDS - 1);
/** PGMRPL: records at or below it are coalesced into page images and collected. */
const MIN_READ_POINT = FIRST_LSN + 99n;
/** The process defaults: 8 KiB pages, 1 GiB segments. */
const PAGE_SIZE_BYTES = 8192;
const PAGES_PER_PG = (1024 * 1024 * 1024) / PAGE_SIZE_BYTES;

const TCP_CASES = 400;
const TCP_CASES_PER_ROUND = 50;
const TCP_CONCURRENCY = 8;
/** How long a connection whose bytes are an incomplete prefix is watched for a (wrong) close. */
const INCOMPLETE_WATCH_MS = 40;
const CLOSE_TIMEOUT_MS = 5_000;
const RANDOM_MESSAGES = 300;
const ADMIN_REQUESTS = 300;

let node: StorageProcess;
let writer: ProcessWriter;
let baseline: Digest;

afterAll(async () => {
  writer?.close();
  if (node !== undefined) {
    if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
    removeDataDir(node);
  }
});

// ---- records, messages and the digest -------------------------------------------------------------

function record(index: number): RedoRecord {
  const lsn = FIRST_LSN + BigInt(index);
  const common = {
    lsn: asLsn(lsn),
    backlink: asLsn(index === 0 ? 0n : lsn - 1n),
    cpl: index % 5 === 4,
    volumeEpoch: EPOCH,
    pgId: PG,
  };
  if (index % 50 === 49) return { ...common, kind: 'noop', pageNo: asPageNo(0), runs: [] };
  return {
    ...common,
    kind: 'page-diff',
    pageNo: asPageNo(index % PAGES),
    runs: [
      { offset: (index * 97) % 8000, bytes: Uint8Array.of(index & 0xff, index >> 8, 0x5a) },
      { offset: 8100, bytes: Uint8Array.of(index & 0x7f) },
    ],
  };
}

/** The records a writer would append next: they chain on from the SCL. */
function nextRecords(count: number): RedoRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    lsn: asLsn(LAST_LSN + 1n + BigInt(index)),
    backlink: asLsn(LAST_LSN + BigInt(index)),
    kind: 'page-diff' as const,
    cpl: true,
    volumeEpoch: EPOCH,
    pgId: PG,
    pageNo: asPageNo(3),
    runs: [{ offset: 16, bytes: Uint8Array.of(0xee, 0xee) }],
  }));
}

type AppendBatch = Extract<Message, { type: 'append-batch' }>;

function batch(requestId: bigint, records: RedoRecord[], overrides: Partial<AppendBatch> = {}): AppendBatch {
  return {
    type: 'append-batch',
    requestId,
    volumeEpoch: EPOCH,
    membershipEpoch: EPOCH,
    pgId: PG,
    segmentId: SEGMENT,
    durableHint: asLsn(LAST_LSN),
    records,
    ...overrides,
  };
}

const address = (requestId: bigint) => ({ requestId, pgId: PG, segmentId: SEGMENT });

/**
 * Frames the node would act on if they arrived whole and intact — each would change what it stores
 * (new records, a new truncation, a newer epoch, a higher PGMRPL) — for the truncation and bit-flip
 * cases: the digest shows none of them got through.
 */
function poisonFrames(): Uint8Array[] {
  return [
    encodeMessage(batch(7n, nextRecords(3))),
    encodeMessage({
      type: 'truncate',
      ...address(8n),
      volumeEpoch: asEpoch(2n),
      ranges: [
        { volumeEpoch: asEpoch(2n), fromExclusive: asLsn(MIN_READ_POINT + 1n), toInclusive: asLsn(U64_MAX) },
      ],
    }),
    encodeMessage({ type: 'segment-state-request', ...address(9n), volumeEpoch: asEpoch(9n) }),
    encodeMessage({
      type: 'min-read-point',
      pgId: PG,
      segmentId: SEGMENT,
      volumeEpoch: EPOCH,
      minReadPoint: asLsn(LAST_LSN),
    }),
  ];
}

interface Digest {
  readonly segment: Record<string, unknown>;
  readonly node: Record<string, unknown>;
  readonly recordLsns: string[];
  readonly recordsSha256: string;
  readonly pagesSha256: string;
  readonly files: Record<string, string>;
  readonly counters: Record<string, number>;
}

/** Fields of a segment's status that stored data determines (not heat, not the backup's last error). */
const DIGEST_SEGMENT_FIELDS = [
  'pgId',
  'segmentId',
  'segmentNumber',
  'state',
  'scl',
  'durableHint',
  'volumeEpoch',
  'truncationEpoch',
  'truncations',
  'membershipEpoch',
  'members',
  'memberNodes',
  'sealed',
  'recordsHeld',
  'recordsAboveScl',
  'knownGaps',
  'logBytes',
  'pageImages',
  'pageImageBytes',
  'diskBytes',
  'materializedThrough',
  'materializationLimit',
  'gcThrough',
  'minReadPoint',
  'damagedPages',
];

const COUNTERS = [
  'northlight_storage_appended_records_total',
  'northlight_storage_appended_bytes_total',
  'northlight_storage_materialized_pages_total',
  'northlight_storage_gc_reclaimed_bytes_total',
  'northlight_storage_fsyncs_total{file="log"}',
  'northlight_storage_fsyncs_total{file="control"}',
  'northlight_storage_fsyncs_total{file="pages"}',
];

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function metricsText(): Promise<string> {
  const response = await admin(node, 'GET', '/metrics');
  expect(response.status).toBe(200);
  return response.text;
}

function sha256(parts: Iterable<Uint8Array>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function filesOf(directory: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of (readdirSync(directory, { recursive: true }) as string[]).sort()) {
    const path = join(directory, name);
    if (statSync(path).isFile()) files[name] = sha256([readFileSync(path)]);
  }
  return files;
}

async function digest(): Promise<Digest> {
  const status = (await admin(node, 'GET', '/v1/status')).json() as {
    segments: Record<string, unknown>[];
    log: Record<string, unknown>;
    pages: Record<string, unknown>;
    controlLogBytes: number;
    damage: Record<string, unknown>;
  };
  const segment = status.segments.find((candidate) => candidate.segmentId === SEGMENT);
  expect(segment, 'the segment is listed').toBeDefined();
  const lsns = Array.from({ length: Number(LAST_LSN) + 20 }, (_, index) => asLsn(BigInt(index + 1)));
  const fetched = await writer.ask((requestId) => ({
    type: 'fetch-records',
    ...address(requestId),
    volumeEpoch: EPOCH,
    lsns,
  }));
  expect(fetched.type).toBe('records');
  const records = fetched.type === 'records' ? fetched.records : [];
  const pages = await Promise.all(
    [MIN_READ_POINT, LAST_LSN].flatMap((readPoint) =>
      Array.from({ length: PAGES }, async (_, pageNo) => {
        const reply = await writer.ask((requestId) => ({
          type: 'read-page',
          ...address(requestId),
          volumeEpoch: EPOCH,
          pageNo: asPageNo(pageNo),
          readPoint: asLsn(readPoint),
        }));
        expect(reply.type, `page ${pageNo} at ${readPoint}`).toBe('page');
        return reply.type === 'page' ? reply.bytes : new Uint8Array(0);
      }),
    ),
  );
  const metrics = await metricsText();
  return {
    segment: Object.fromEntries(DIGEST_SEGMENT_FIELDS.map((field) => [field, segment?.[field]])),
    node: {
      segments: status.segments.map((candidate) => `${candidate.pgId}/${candidate.segmentId}`),
      logFiles: status.log.files,
      logBytesOnDisk: status.log.bytesOnDisk,
      logLiveBytes: status.log.liveBytes,
      // Not the image cache's bytes: the digest's own page reads fill it.
      pages: { ...status.pages, cachedBytes: undefined },
      controlLogBytes: status.controlLogBytes,
      damage: status.damage,
    },
    recordLsns: records.map((held) => String(held.lsn)),
    recordsSha256: sha256(records.map(encodeRedoRecord)),
    pagesSha256: sha256(pages),
    files: filesOf(node.dataDir),
    counters: Object.fromEntries(COUNTERS.map((series) => [series, metricValue(metrics, series)])),
  };
}

/** The segment's control state as replaying the control log on disk would give it. */
function persistedControlState(): SegmentControlState | undefined {
  const path = Object.keys(filesOf(node.dataDir)).find((name) => name.endsWith('control.log'));
  if (path === undefined) return undefined;
  const state = emptyControlState();
  for (const entry of scanControlLog(readFileSync(join(node.dataDir, path))).entries)
    applyControlEntry(state, entry);
  return [...state.segments.values()].find((segment) => segment.segmentId === SEGMENT);
}

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

function logLines(): LogLine[] {
  return node.output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The writer is answered and the probes say the node is fine. */
async function expectServing(context: string): Promise<void> {
  const state = await writer.ask((requestId) => ({
    type: 'segment-state-request',
    ...address(requestId),
    volumeEpoch: EPOCH,
  }));
  expect(state, `${context}: the writer's connection is served`).toMatchObject({
    type: 'segment-state',
    scl: LAST_LSN,
  });
  expect((await admin(node, 'GET', '/healthz')).status, `${context}: /healthz`).toBe(200);
}

async function inPool<T, R>(
  items: readonly T[],
  width: number,
  run: (item: T, index: number) => Promise<R>,
  offset = 0,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await run(items[index]!, offset + index);
      }
    }),
  );
  return results;
}

// ---- set-up: one node, one segment, 300 records, a third of them coalesced -------------------------

beforeAll(async () => {
  node = await startStorageProcess(NODE_ID, 'a', { args: ['--gossip-interval-ms', '0'] });
  const created = await admin(node, 'POST', '/v1/segments', {
    pgId: PG,
    segmentId: SEGMENT,
    membershipEpoch: '1',
    members: MEMBERS,
  });
  expect(created.status, created.text).toBe(201);
  writer = await ProcessWriter.connect(node);
  const retry = { attempts: 5, timeoutMs: 2_000 };
  const state = await writer.ask(
    (requestId) => ({ type: 'segment-state-request', ...address(requestId), volumeEpoch: EPOCH }),
    retry,
  );
  expect(state.type).toBe('segment-state');
  const truncated = await writer.ask(
    (requestId) => ({
      type: 'truncate',
      ...address(requestId),
      volumeEpoch: EPOCH,
      ranges: [{ volumeEpoch: EPOCH, fromExclusive: asLsn(0n), toInclusive: asLsn(FIRST_LSN - 1n) }],
    }),
    retry,
  );
  expect(truncated.type).toBe('truncate-ack');
  let durableHint = FIRST_LSN - 1n;
  for (let start = 0; start < RECORDS; start += BATCH_RECORDS) {
    const records = Array.from({ length: BATCH_RECORDS }, (_, offset) => record(start + offset));
    const ack = await writer.ask(
      (requestId) => batch(requestId, records, { durableHint: asLsn(durableHint) }),
      retry,
    );
    expect(ack).toMatchObject({ type: 'append-ack', scl: records.at(-1)!.lsn });
    durableHint = records.at(-1)!.lsn;
  }
  writer.send({
    type: 'min-read-point',
    pgId: PG,
    segmentId: SEGMENT,
    volumeEpoch: EPOCH,
    minReadPoint: asLsn(MIN_READ_POINT),
  });
  // Materialization and GC run on timers, and the durable hint and PGMRPL are persisted lazily (one
  // control log append per `hintPersistIntervalMs`): wait until the control log on disk holds what the
  // segment reports, with materialization at PGMRPL, so that nothing is pending and the digest is stable.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const reported = (await admin(node, 'GET', `/v1/segments/${SEGMENT}`)).json();
    const persisted = persistedControlState();
    const settled = (['durableHint', 'minReadPoint', 'materializedThrough', 'gcThrough'] as const).every(
      (field) => reported[field] === String(persisted?.[field]),
    );
    if (settled && reported.gcThrough === String(MIN_READ_POINT)) break;
    if (Date.now() > deadline)
      throw new Error(
        `the segment did not settle: ${JSON.stringify(reported)}, persisted ${JSON.stringify(persisted, (_key, value) => (typeof value === 'bigint' ? String(value) : value))}`,
      );
    await sleep(25);
  }
  baseline = await digest();
  await sleep(100);
  expect(await digest(), 'the digest is stable before any bad input').toEqual(baseline);
  expect(baseline.segment).toMatchObject({
    scl: String(LAST_LSN),
    volumeEpoch: '1',
    truncationEpoch: '1',
    minReadPoint: String(MIN_READ_POINT),
  });
  expect(baseline.recordLsns.length).toBeGreaterThan(150);
}, 60_000);

// ---- 1. raw TCP -----------------------------------------------------------------------------------

const ascii = (text: string) => new TextEncoder().encode(text);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** A hello with a correct CRC around a bad identity (wrong length, bad characters, dirty padding). */
interface BadIdentity {
  readonly id: string;
  readonly length?: number;
  readonly dirtyPadding?: boolean;
}

const BAD_IDENTITIES: readonly BadIdentity[] = [
  { id: '' },
  { id: 'Writer' },
  { id: '-writer' },
  { id: 'wri ter' },
  { id: 'wr\u00e9ter' },
  { id: 'a'.repeat(64) },
  { id: 'a'.repeat(66), length: 66 },
  { id: 'writer', length: 5 },
  { id: 'writer', dirtyPadding: true },
];

function helloWithIdentity(spec: BadIdentity): Uint8Array {
  const hello = new Uint8Array(TRANSPORT_HELLO_BYTES);
  hello.set(ascii('NLHELLO1'), 0);
  const id = new TextEncoder().encode(spec.id).subarray(0, 66);
  const view = new DataView(hello.buffer, hello.byteOffset, hello.byteLength);
  view.setUint16(8, spec.length ?? id.length, true);
  hello.set(id, 10);
  if (spec.dirtyPadding === true) hello[75] = 1;
  view.setUint32(76, crc32c(hello.subarray(0, 76)), true);
  return hello;
}

type TcpCase =
  | { readonly kind: 'garbage-instead-of-hello'; readonly bytes: Uint8Array }
  | { readonly kind: 'garbage-before-hello'; readonly bytes: Uint8Array }
  | { readonly kind: 'corrupt-hello'; readonly index: number; readonly xor: number }
  | { readonly kind: 'bad-identity-hello'; readonly identity: BadIdentity }
  | { readonly kind: 'partial-hello'; readonly cut: number }
  | { readonly kind: 'hello-twice' }
  | { readonly kind: 'random-after-hello'; readonly bytes: Uint8Array }
  | { readonly kind: 'bad-header-after-hello'; readonly bytes: Uint8Array }
  | { readonly kind: 'truncated-frame'; readonly poison: number; readonly cut: number }
  | {
      readonly kind: 'oversized-frame';
      readonly payloadLength: number;
      readonly messageType: number;
      readonly trailing: Uint8Array;
    }
  | { readonly kind: 'bit-flip'; readonly poison: number; readonly bit: number };

const garbage = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ascii('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03),
      ascii('NLHELLO2'),
      ascii('NLHELLO'),
      ascii('NNLF'),
      new Uint8Array(TRANSPORT_HELLO_BYTES),
      new Uint8Array(TRANSPORT_HELLO_BYTES).fill(0xff),
    ),
  },
);

const tcpCase: fc.Arbitrary<TcpCase> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('garbage-instead-of-hello' as const), bytes: garbage }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage-before-hello' as const), bytes: garbage }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('corrupt-hello' as const),
      index: fc.nat({ max: TRANSPORT_HELLO_BYTES - 1 }),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bad-identity-hello' as const),
      identity: fc.constantFrom(...BAD_IDENTITIES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('partial-hello' as const),
      cut: fc.integer({ min: 1, max: TRANSPORT_HELLO_BYTES - 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'hello-twice' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('random-after-hello' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 512 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('bad-header-after-hello' as const),
      bytes: fc.uint8Array({ minLength: 12, maxLength: 256 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('truncated-frame' as const), poison: fc.nat(), cut: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('oversized-frame' as const),
      payloadLength: fc.oneof(
        fc.constantFrom(
          DEFAULT_MAX_FRAME_BYTES - FRAME_HEADER_BYTES, // exactly the limit: allowed, so incomplete
          DEFAULT_MAX_FRAME_BYTES - FRAME_HEADER_BYTES + 1,
          0xffff_ffff,
        ),
        fc.integer({ min: DEFAULT_MAX_FRAME_BYTES - FRAME_HEADER_BYTES + 1, max: 0xffff_ffff }),
      ),
      messageType: fc.integer({ min: 0, max: 255 }),
      trailing: fc.uint8Array({ maxLength: 64 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('bit-flip' as const), poison: fc.nat(), bit: fc.nat() }),
  },
);

/** The bytes of a case, in the writes that send them, and whether the client then ends the connection. */
function tcpCaseBytes(
  testCase: TcpCase,
  hello: Uint8Array,
  poison: readonly Uint8Array[],
): { writes: Uint8Array[]; clientEnds: boolean } {
  switch (testCase.kind) {
    case 'garbage-instead-of-hello':
      return { writes: [testCase.bytes], clientEnds: false };
    case 'garbage-before-hello':
      return { writes: [testCase.bytes, hello], clientEnds: false };
    case 'corrupt-hello': {
      const corrupt = hello.slice();
      corrupt[testCase.index]! ^= testCase.xor;
      return { writes: [corrupt], clientEnds: false };
    }
    case 'bad-identity-hello':
      return { writes: [helloWithIdentity(testCase.identity)], clientEnds: false };
    case 'partial-hello':
      return { writes: [hello.subarray(0, testCase.cut)], clientEnds: true };
    case 'hello-twice':
      return { writes: [hello, hello], clientEnds: false };
    case 'random-after-hello':
      return { writes: [hello, testCase.bytes], clientEnds: false };
    case 'bad-header-after-hello':
      return { writes: [hello, concat([ascii('NNLF'), testCase.bytes])], clientEnds: false };
    case 'truncated-frame': {
      const frame = poison[testCase.poison % poison.length]!;
      return {
        writes: [hello, frame.subarray(0, 1 + (testCase.cut % (frame.length - 1)))],
        clientEnds: true,
      };
    }
    case 'oversized-frame': {
      const header = new Uint8Array(FRAME_HEADER_BYTES);
      header.set(ascii('NNLF'), 0);
      header[4] = 1;
      header[5] = testCase.messageType;
      const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
      view.setUint32(8, testCase.payloadLength, true);
      view.setUint32(12, crc32c(header.subarray(0, 12)), true);
      return { writes: [hello, header, testCase.trailing], clientEnds: false };
    }
    case 'bit-flip': {
      const frame = poison[testCase.poison % poison.length]!.slice();
      const bit = testCase.bit % (frame.length * 8);
      frame[bit >> 3]! ^= 1 << (bit & 7);
      return { writes: [hello, frame], clientEnds: false };
    }
  }
}

interface TcpOutcome {
  readonly index: number;
  readonly kind: TcpCase['kind'];
  readonly verdict: TransportVerdict;
  readonly localPort: number;
  readonly problems: string[];
}

async function runTcpCase(
  testCase: TcpCase,
  index: number,
  poison: readonly Uint8Array[],
): Promise<TcpOutcome> {
  const hello = encodeTransportHello(asNodeId(`fuzz-${index}`));
  const { writes, clientEnds } = tcpCaseBytes(testCase, hello, poison);
  const verdict = transportVerdict(concat(writes));
  const outcome = { index, kind: testCase.kind, verdict, problems: [] as string[] };
  if (verdict.kind === 'delivers') {
    return { ...outcome, localPort: -1, problems: ['the case generator made whole, valid frames'] };
  }
  const connection = await RawTransportConnection.open(node.port);
  for (const bytes of writes) connection.write(bytes);
  if (clientEnds) {
    connection.end();
    if (!(await connection.waitClosed(CLOSE_TIMEOUT_MS)))
      outcome.problems.push('not closed after the client ended');
  } else if (verdict.kind === 'incomplete') {
    await sleep(INCOMPLETE_WATCH_MS);
    if (connection.closedByNode)
      outcome.problems.push('the node closed a connection that only waited for bytes');
  } else if (!(await connection.waitClosed(CLOSE_TIMEOUT_MS)) || !connection.closedByNode) {
    outcome.problems.push(`the node did not close the connection (${verdict.kind} ${verdict.code} expected)`);
  }
  const received = connection.received;
  const nodeHello = encodeTransportHello(asNodeId(NODE_ID));
  if (
    received.length > TRANSPORT_HELLO_BYTES ||
    !Buffer.from(nodeHello.subarray(0, received.length)).equals(received)
  )
    outcome.problems.push(`the node sent more than its hello: ${received.length} bytes`);
  const localPort = connection.localPort;
  connection.destroy();
  return { ...outcome, localPort };
}

describe('a real storage-node process under bad input', () => {
  it('closes only the offending connection for garbage, bad hellos, truncated, oversized and corrupted frames', async () => {
    const poison = poisonFrames();
    const cases = fc.sample(tcpCase, { seed: SEED, numRuns: TCP_CASES });
    const before = await metricsText();
    // A bystander: a well-behaved connection open through the whole run, that must stay open.
    const bystander = await RawTransportConnection.open(node.port);
    bystander.write(encodeTransportHello(asNodeId('bystander')));
    const outcomes: TcpOutcome[] = [];
    for (let start = 0; start < cases.length; start += TCP_CASES_PER_ROUND) {
      const round = cases.slice(start, start + TCP_CASES_PER_ROUND);
      outcomes.push(
        ...(await inPool(
          round,
          TCP_CONCURRENCY,
          (testCase, index) => runTcpCase(testCase, index, poison),
          start,
        )),
      );
      await expectServing(`after TCP case ${start + round.length - 1}, ${REPLAY}`);
    }
    await sleep(100); // the last refusals' log lines are on their way through the stderr pipe
    const problems = outcomes.flatMap((outcome) =>
      outcome.problems.map((problem) => `case ${outcome.index} (${outcome.kind}): ${problem}`),
    );
    expect(problems, REPLAY).toEqual([]);

    // Every refused connection is logged at WARN with the client's address and the same typed code
    // the transport's decoders give locally.
    const refused = outcomes.filter(
      (outcome) => outcome.verdict.kind === 'handshake-error' || outcome.verdict.kind === 'decode-error',
    );
    const logged = new Map<string, string[]>();
    for (const line of logLines()) {
      if (line.level !== 'warn' || !line.message.startsWith('closing a transport connection')) continue;
      const codes = logged.get(String(line.remoteAddress)) ?? [];
      codes.push(String(line.code));
      logged.set(String(line.remoteAddress), codes);
    }
    const unlogged = refused.flatMap((outcome) => {
      const code = 'code' in outcome.verdict ? outcome.verdict.code : '';
      const codes = logged.get(`127.0.0.1:${outcome.localPort}`) ?? [];
      return codes.includes(code)
        ? []
        : [`case ${outcome.index} (${outcome.kind}): ${code} not in [${codes}]`];
    });
    expect(unlogged, REPLAY).toEqual([]);
    const after = await metricsText();
    const delta = (series: string) => metricValue(after, series) - metricValue(before, series);
    const count = (kind: string) => outcomes.filter((outcome) => outcome.verdict.kind === kind).length;
    expect(delta('northlight_storage_transport_handshake_errors_total'), REPLAY).toBe(
      count('handshake-error'),
    );
    expect(delta('northlight_storage_transport_decode_errors_total'), REPLAY).toBe(count('decode-error'));
    // Every kind of case ran, and each kind of refusal was seen.
    expect(new Set(outcomes.map((outcome) => outcome.kind)).size).toBe(11);
    const codes = new Set(refused.map((outcome) => ('code' in outcome.verdict ? outcome.verdict.code : '')));
    for (const code of [
      'NL_DECODE_INVALID',
      'NL_DECODE_UNKNOWN_VERSION',
      'NL_DECODE_CHECKSUM',
      'NL_DECODE_FRAME_TOO_LARGE',
    ])
      expect(codes, `a case refused with ${code}`).toContain(code);

    // The bystander was never closed and is still served.
    expect(bystander.closed, 'the bystander connection is still open').toBe(false);
    bystander.write(encodeMessage({ type: 'segment-state-request', ...address(1n), volumeEpoch: EPOCH }));
    const frames = await bystander.waitForFrames(1, CLOSE_TIMEOUT_MS);
    expect(frames.length).toBe(1);
    const reply = decodeMessageFromBytes(encodeFrame(frames[0]!.messageType, frames[0]!.payload));
    expect(reply).toMatchObject({ type: 'segment-state', requestId: 1n, scl: LAST_LSN });
    bystander.destroy();
    console.log(
      JSON.stringify({
        tcpCases: outcomes.length,
        handshakeErrors: count('handshake-error'),
        decodeErrors: count('decode-error'),
        incomplete: count('incomplete'),
      }),
    );
  }, 60_000);

  // ---- 2. valid frames the node must refuse, or must not answer ----------------------------------

  it('refuses stale epochs, invalid batches and reads outside [PGMRPL, SCL] with typed rejections', async () => {
    const before = await metricsText();
    const fresh = nextRecords(2);
    type Case = [string, (requestId: bigint) => Message, Record<string, unknown>, RegExp?];
    const rejected = (code: string) => ({
      type: 'request-rejected',
      pgId: PG,
      segmentId: SEGMENT,
      code,
      currentVolumeEpoch: 1n,
      currentMembershipEpoch: 1n,
    });
    const readPage = (requestId: bigint, overrides: Record<string, unknown>): Message =>
      ({
        type: 'read-page',
        ...address(requestId),
        volumeEpoch: EPOCH,
        pageNo: asPageNo(1),
        readPoint: asLsn(LAST_LSN),
        ...overrides,
      }) as Message;
    const cases: Case[] = [
      [
        'an append of a stale volume epoch',
        (id) => batch(id, fresh, { volumeEpoch: asEpoch(0n) }),
        rejected('NL_EPOCH_STALE'),
        /volume epoch 0 < 1/,
      ],
      [
        'an append of an epoch whose truncation the segment has not applied',
        (id) => batch(id, fresh, { volumeEpoch: asEpoch(2n) }),
        rejected('NL_EPOCH_STALE'),
        /has not applied the truncation of epoch 2/,
      ],
      [
        'an append of a stale membership epoch',
        (id) => batch(id, fresh, { membershipEpoch: asEpoch(0n) }),
        rejected('NL_MEMBERSHIP_STALE'),
        /membership epoch 0 < 1/,
      ],
      [
        'an append of a page of another PG',
        (id) => batch(id, [{ ...fresh[0]!, pageNo: asPageNo(PAGES_PER_PG + 3) }]),
        rejected('NL_DECODE_INVALID'),
        /is not in PG 0/,
      ],
      [
        'an append of a run past the page size',
        (id) =>
          batch(id, [
            { ...fresh[0]!, runs: [{ offset: PAGE_SIZE_BYTES - 2, bytes: Uint8Array.of(1, 2, 3, 4) }] },
          ]),
        rejected('NL_DECODE_INVALID'),
        /past the 8192-byte page/,
      ],
      [
        'an append of an LSN the recovery annulled',
        (id) => batch(id, [{ ...fresh[0]!, lsn: asLsn(200n), backlink: asLsn(199n) }]),
        rejected('NL_DECODE_INVALID'),
        /truncated \(annulled\) range/,
      ],
      [
        'an append of a held LSN with another backlink',
        (id) => batch(id, [{ ...fresh[0]!, lsn: asLsn(FIRST_LSN + 200n), backlink: asLsn(300n) }]),
        rejected('NL_DECODE_INVALID'),
        new RegExp(`has backlink 300, not ${FIRST_LSN + 199n}`),
      ],
      [
        'an append that forks the chain below the SCL',
        (id) => batch(id, [{ ...fresh[0]!, backlink: asLsn(LAST_LSN - 5n) }]),
        rejected('NL_DECODE_INVALID'),
        /forks the chain below the SCL/,
      ],
      [
        'an append of two records after one backlink',
        (id) => batch(id, [fresh[0]!, { ...fresh[1]!, backlink: fresh[0]!.backlink }]),
        rejected('NL_DECODE_INVALID'),
        /both follow/,
      ],
      [
        'a read below the minimum read point',
        (id) => readPage(id, { readPoint: asLsn(MIN_READ_POINT - 1n) }),
        rejected('NL_DECODE_INVALID'),
        /below the PG's minimum read point/,
      ],
      [
        'a read above the SCL',
        (id) => readPage(id, { readPoint: asLsn(LAST_LSN + 1n) }),
        rejected('NL_LSN_ALLOCATION_LIMIT'),
        /above the segment's SCL/,
      ],
      [
        'a read of a page outside the PG',
        (id) => readPage(id, { pageNo: asPageNo(PAGES_PER_PG) }),
        rejected('NL_DECODE_INVALID'),
        /is not in PG 0/,
      ],
      [
        'a read of a stale epoch',
        (id) => readPage(id, { volumeEpoch: asEpoch(0n) }),
        rejected('NL_EPOCH_STALE'),
      ],
      [
        'a fetch of a stale epoch',
        (id) => ({
          type: 'fetch-records',
          ...address(id),
          volumeEpoch: asEpoch(0n),
          lsns: [asLsn(LAST_LSN)],
        }),
        rejected('NL_EPOCH_STALE'),
      ],
      [
        'a state request of a stale epoch',
        (id) => ({ type: 'segment-state-request', ...address(id), volumeEpoch: asEpoch(0n) }),
        rejected('NL_EPOCH_STALE'),
      ],
      [
        'a truncation of a stale epoch',
        (id) => ({
          type: 'truncate',
          ...address(id),
          volumeEpoch: asEpoch(0n),
          ranges: [
            { volumeEpoch: asEpoch(0n), fromExclusive: asLsn(MIN_READ_POINT), toInclusive: asLsn(LAST_LSN) },
          ],
        }),
        rejected('NL_EPOCH_STALE'),
      ],
      // Acknowledged as the duplicate of the applied truncation, and not applied: the digest shows it.
      [
        'a truncation replayed under the applied epoch with other ranges',
        (id) => ({
          type: 'truncate',
          ...address(id),
          volumeEpoch: EPOCH,
          ranges: [
            { volumeEpoch: EPOCH, fromExclusive: asLsn(MIN_READ_POINT + 50n), toInclusive: asLsn(U64_MAX) },
          ],
        }),
        { type: 'truncate-ack', volumeEpoch: 1n },
      ],
      [
        'a gossip pull from a member under an older truncation epoch',
        (id) => ({
          type: 'gossip-pull',
          ...address(id),
          fromSegmentId: MEMBERS[1]!,
          truncationEpoch: asEpoch(0n),
          scl: asLsn(0n),
          maxBytes: 1 << 20,
        }),
        { type: 'gossip-records', truncationEpoch: 1n, records: [] },
      ],
      [
        "a gossip pull from below this segment's GC point",
        (id) => ({
          type: 'gossip-pull',
          ...address(id),
          fromSegmentId: MEMBERS[1]!,
          truncationEpoch: EPOCH,
          scl: asLsn(FIRST_LSN),
          maxBytes: 1 << 20,
        }),
        { type: 'gossip-records', gcThrough: MIN_READ_POINT, records: [] },
      ],
    ];
    // Rejections counted per code: exactly one per request-rejected (page-read refusals were once
    // counted twice, by `#read` and again by `#reject`).
    const rejections = new Map<string, { least: number; most: number }>();
    for (const [name, build, expected, text] of cases) {
      const reply = await writer.ask(build);
      expect(reply, name).toMatchObject(expected);
      if (text !== undefined) expect((reply as { message?: string }).message, name).toMatch(text);
      if (reply.type !== 'request-rejected') continue;
      const counted = rejections.get(reply.code) ?? { least: 0, most: 0 };
      rejections.set(reply.code, { least: counted.least + 1, most: counted.most + 1 });
    }
    const after = await metricsText();
    for (const [code, { least, most }] of rejections) {
      const series = `northlight_storage_rejected_requests_total{code="${code}"}`;
      const delta = metricValue(after, series) - metricValue(before, series);
      expect(delta, series).toBeGreaterThanOrEqual(least);
      expect(delta, series).toBeLessThanOrEqual(most);
    }
    expect(
      logLines().filter((line) => line.message === 'refused an invalid append batch').length,
      'each invalid batch is logged at WARN',
    ).toBeGreaterThanOrEqual(6);
    expect(writer.unsolicited).toEqual([]);
  }, 30_000);

  it('answers nothing to unknown segments, non-members, unsolicited or undecodable messages, and counts each', async () => {
    const before = await metricsText();
    const warnsBefore = logLines().filter((line) => line.level === 'warn').length;
    const fresh = nextRecords(2);
    const expectedDrops = new Map<string, number>();
    const expectDrop = (reason: string | undefined) => {
      if (reason !== undefined) expectedDrops.set(reason, (expectedDrops.get(reason) ?? 0) + 1);
    };
    const send = (message: Message, reason: string | undefined) => {
      writer.send(message);
      expectDrop(reason);
    };
    const id = () => writer.nextRequestId();
    const stranger = asSegmentId('pg0-nowhere');
    const elsewhere = { pgId: PG, segmentId: stranger };

    // Requests for segments this node does not hold: silent (a wiped member must not answer).
    send(batch(id(), fresh, { segmentId: stranger }), 'unknown-segment');
    send(
      batch(
        id(),
        fresh.map((held) => ({ ...held, pgId: asPgId(7) })),
        { pgId: asPgId(7) },
      ),
      'unknown-segment',
    );
    send(
      { type: 'segment-state-request', requestId: id(), ...elsewhere, volumeEpoch: asEpoch(9n) },
      'unknown-segment',
    );
    send(
      {
        type: 'truncate',
        requestId: id(),
        ...elsewhere,
        volumeEpoch: asEpoch(2n),
        ranges: [{ volumeEpoch: asEpoch(2n), fromExclusive: asLsn(1n), toInclusive: asLsn(U64_MAX) }],
      },
      'unknown-segment',
    );
    send(
      { type: 'fetch-records', requestId: id(), ...elsewhere, volumeEpoch: EPOCH, lsns: [asLsn(LAST_LSN)] },
      'unknown-segment',
    );
    send(
      {
        type: 'read-page',
        requestId: id(),
        ...elsewhere,
        volumeEpoch: EPOCH,
        pageNo: asPageNo(1),
        readPoint: asLsn(LAST_LSN),
      },
      'unknown-segment',
    );
    send(
      { type: 'min-read-point', ...elsewhere, volumeEpoch: EPOCH, minReadPoint: asLsn(LAST_LSN) },
      'unknown-segment',
    );
    // Gossip from segments that are not members of the PG: nothing served, nothing written.
    const gossipPull = (fromSegmentId: string): Message => ({
      type: 'gossip-pull',
      ...address(id()),
      fromSegmentId: asSegmentId(fromSegmentId),
      truncationEpoch: EPOCH,
      scl: asLsn(MIN_READ_POINT),
      maxBytes: 1 << 20,
    });
    send(gossipPull('pg0-stranger'), 'stale');
    send(gossipPull(SEGMENT), 'stale');
    const gossipRecords = (
      fromSegmentId: string,
      truncationEpoch: bigint,
      records: RedoRecord[],
    ): Message => ({
      type: 'gossip-records',
      ...address(id()),
      fromSegmentId: asSegmentId(fromSegmentId),
      truncationEpoch: asEpoch(truncationEpoch),
      scl: asLsn(LAST_LSN + 2n),
      gcThrough: asLsn(0n),
      records,
    });
    send(gossipRecords('pg0-stranger', 1n, fresh), 'stale');
    // From a member, but of another truncation epoch, or with records outside the PG: not written.
    send(gossipRecords(MEMBERS[1]!, 0n, fresh), undefined);
    send(gossipRecords(MEMBERS[1]!, 1n, [{ ...fresh[0]!, pageNo: asPageNo(PAGES_PER_PG) }]), undefined);
    // A PGMRPL of a stale epoch is dropped: the digest shows the PGMRPL did not move.
    send(
      {
        type: 'min-read-point',
        pgId: PG,
        segmentId: SEGMENT,
        volumeEpoch: asEpoch(0n),
        minReadPoint: asLsn(LAST_LSN),
      },
      'stale',
    );
    // Replies nobody asked for, and messages a storage node does not handle.
    send(
      {
        type: 'page',
        ...address(id()),
        pageNo: asPageNo(1),
        readPoint: asLsn(MIN_READ_POINT),
        bytes: new Uint8Array(PAGE_SIZE_BYTES).fill(0xaa),
      },
      'unexpected-type',
    );
    send(
      {
        type: 'request-rejected',
        ...address(id()),
        code: 'NL_EPOCH_STALE',
        currentVolumeEpoch: asEpoch(5n),
        currentMembershipEpoch: asEpoch(5n),
        message: 'stale',
      },
      'unexpected-type',
    );
    send(
      { type: 'append-ack', ...address(id()), volumeEpoch: asEpoch(5n), scl: asLsn(U64_MAX) },
      'unexpected-type',
    );
    send({ type: 'truncate-ack', ...address(id()), volumeEpoch: asEpoch(5n) }, 'unexpected-type');
    send({ type: 'records', ...address(id()), records: fresh }, 'unexpected-type');
    send({ type: 'redo-stream', volumeEpoch: EPOCH, vdl: asLsn(U64_MAX), records: fresh }, 'unexpected-type');
    send(
      {
        type: 'replica-feedback',
        replicaId: asNodeId('writer'),
        appliedLsn: asLsn(1n),
        minReadPoint: asLsn(LAST_LSN),
      },
      'unexpected-type',
    );
    send(
      {
        type: 'segment-state',
        ...address(id()),
        volumeEpoch: asEpoch(5n),
        membershipEpoch: asEpoch(5n),
        scl: asLsn(LAST_LSN + 100n),
        durableHint: asLsn(LAST_LSN + 100n),
        truncations: [],
        tail: [],
      },
      'unexpected-type',
    );

    // Valid frames around messages that do not decode: the frame passes the transport, the core drops it.
    const undecodable = undecodableFrames(fresh);
    for (const { bytes } of undecodable) {
      writer.sendBytes(bytes);
      expectDrop('undecodable');
    }

    // Random messages of every type (protocol's arbitraries), re-addressed away from the real segment.
    const randomMessages = fc
      .sample(arbitraryMessage, { seed: SEED, numRuns: RANDOM_MESSAGES })
      .filter((message) => !('segmentId' in message) || message.segmentId !== SEGMENT)
      .map((message) => ('requestId' in message ? { ...message, requestId: id() } : message));
    const targeted = new Set([
      'append-batch',
      'segment-state-request',
      'truncate',
      'fetch-records',
      'read-page',
      'min-read-point',
      'gossip-pull',
      'gossip-records',
    ]);
    for (const message of randomMessages)
      send(message, targeted.has(message.type) ? 'unknown-segment' : 'unexpected-type');

    // The node answers the writer afterwards, and never answered any of the above.
    await expectServing('after the silent messages');
    await sleep(200);
    expect(writer.unsolicited, REPLAY).toEqual([]);
    const after = await metricsText();
    for (const [reason, count] of expectedDrops) {
      const series = `northlight_storage_dropped_messages_total{reason="${reason}"}`;
      expect(metricValue(after, series) - metricValue(before, series), `${series}, ${REPLAY}`).toBe(count);
    }
    const warns = logLines()
      .filter((line) => line.level === 'warn')
      .slice(warnsBefore);
    expect(
      warns.some(
        (line) => line.message === 'dropped a request for a unknown segment' && line.segmentId === stranger,
      ),
    ).toBe(true);
    expect(warns.some((line) => line.message === 'refused gossip records')).toBe(true);
    expect(
      warns.filter((line) => line.message === 'dropped a message a storage node does not handle').length,
    ).toBeGreaterThanOrEqual(6);
    const undecodableCodes = warns
      .filter((line) => line.message === 'dropped undecodable message')
      .map((line) => String(line.code));
    expect(undecodableCodes, 'each undecodable message is logged with its code').toEqual(
      undecodable.map((frame) => frame.code),
    );
    console.log(
      JSON.stringify({
        silentMessages: [...expectedDrops.values()].reduce((a, b) => a + b, 0),
        randomMessages: randomMessages.length,
      }),
    );
  }, 30_000);

  // ---- 3. the admin API ------------------------------------------------------------------------

  it('answers random and hostile admin requests with typed 4xx errors, never an unexplained 5xx', async () => {
    const requests = fc.sample(adminRequest, { seed: SEED, numRuns: ADMIN_REQUESTS });
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let skipped = 0;
    let earlyCloses = 0;
    for (const [index, request] of requests.entries()) {
      if (changesState(request)) {
        skipped++;
        continue;
      }
      const response = await rawHttp(node.adminPort, request);
      const context = `request ${index} ${request.method} ${request.path.slice(0, 120)}`;
      if (!response.ok) {
        // The server may close before reading all of a body it refused for its size.
        if ((request.body?.length ?? 0) > 16 * 1024) earlyCloses++;
        else problems.push(`${context}: no response (${response.error})`);
        if ((await admin(node, 'GET', '/healthz')).status !== 200)
          problems.push(`${context}: the node is down`);
        continue;
      }
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      problems.push(
        ...adminResponseProblems(request, response.status, response.text).map(
          (problem) => `${context}: ${problem}`,
        ),
      );
      if (index % 50 === 49) await expectServing(`after admin request ${index}, ${REPLAY}`);
    }
    // Raw malformed HTTP below the router: refused with a 4xx, the process stays up.
    for (const bytes of MALFORMED_HTTP) {
      const text = await rawHttpBytes(node.adminPort, bytes);
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      if (status !== undefined && !status.startsWith('4'))
        problems.push(`malformed HTTP ${JSON.stringify(bytes.slice(0, 30))}: ${status}`);
    }
    expect(problems, REPLAY).toEqual([]);
    expect(skipped, 'only a few requests are skipped as state-changing').toBeLessThan(ADMIN_REQUESTS / 10);
    await expectServing('after the admin fuzz');
    console.log(
      JSON.stringify({
        adminRequests: requests.length - skipped,
        skipped,
        earlyCloses,
        statuses: Object.fromEntries(statuses),
      }),
    );
  }, 60_000);

  // ---- 4. nothing changed ------------------------------------------------------------------------

  it('stores exactly what it stored before, is healthy and ready, logged no ERROR, and exits 0 on SIGTERM', async () => {
    const now = await digest();
    expect(now, REPLAY).toEqual(baseline);
    expect((await admin(node, 'GET', '/healthz')).status).toBe(200);
    expect((await admin(node, 'GET', '/readyz')).status).toBe(200);
    expect(logLines().filter((line) => line.level === 'error')).toEqual([]);
    writer.close();
    expect(await stopStorageProcess(node, 'SIGTERM')).toBe(0);
  }, 30_000);

  // ---- bugs this fuzz found, pinned: each test fails until its bug is fixed, then drop `.fails` ----

  describe('known bugs, pinned (expected to fail until fixed)', () => {
    let victim: StorageProcess;
    beforeAll(async () => {
      victim = await startStorageProcess('fz2', 'a', { args: ['--gossip-interval-ms', '0'] });
    }, 60_000);
    afterAll(async () => {
      if (victim === undefined) return;
      if (victim.child.exitCode === null) await stopStorageProcess(victim, 'SIGKILL');
      removeDataDir(victim);
    });

    // Found by this file: a client that hung up in the middle of a request body (or sent a malformed
    // chunk) made the admin API log "admin request hit a bug" at ERROR and answer 500 NL_INTERNAL.
    it('takes a client that hangs up mid-body for a client error, not an ERROR', async () => {
      const before = victim.output.join('').length;
      await rawHttpBytes(
        victim.adminPort,
        'POST /v1/segments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pgId":',
        300,
      );
      await rawHttpBytes(
        victim.adminPort,
        'POST /v1/segments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n\r\n',
      );
      await sleep(200);
      const errors = victim.output
        .join('')
        .slice(before)
        .split('\n')
        .filter((line) => line.includes('"level":"error"'));
      expect(errors).toEqual([]);
      expect((await admin(victim, 'GET', '/healthz')).status).toBe(200);
    });

    // Found by this file: `POST /v1/segments` accepted any decimal of up to 20 digits as an epoch, and
    // main.ts's `asEpoch` asserted u64: an epoch of 18446744073709551616 … 99999999999999999999 killed
    // the process (an AssertionError is never caught). Now a typed 400.
    it('refuses an epoch past u64 in POST /v1/segments with a 400 and keeps running', async () => {
      const response = await admin(victim, 'POST', '/v1/segments', {
        pgId: 0,
        segmentId: 'pg0-fz2',
        membershipEpoch: (U64_MAX + 1n).toString(),
        members: ['pg0-fz2'],
      });
      await sleep(200);
      expect(response.status).toBe(400);
      expect((await admin(victim, 'GET', '/healthz')).status).toBe(200);
    });
  });
});

// ---- helpers of part 2 ----------------------------------------------------------------------------

/** Frames whose CRC is right around a message that does not decode, with the code the core logs. */
function undecodableFrames(fresh: RedoRecord[]): { name: string; bytes: Uint8Array; code: string }[] {
  const type = MESSAGE_TYPE_CODES['append-batch'];
  const payloadOf = (message: Message) => encodeMessage(message).slice(FRAME_HEADER_BYTES);
  const valid = payloadOf(batch(1n, fresh));
  // A batch of PG 0 holding a record of PG 1: encoded as a PG 1 batch, then its pgId (offset 24) set to 0.
  const otherPg = payloadOf(
    batch(2n, [{ ...fresh[0]!, pgId: asPgId(1), pageNo: asPageNo(PAGES_PER_PG + 1) }], { pgId: asPgId(1) }),
  );
  new DataView(otherPg.buffer, otherPg.byteOffset).setUint32(24, 0, true);
  // The segment id (a u16 length at 28, then the bytes) made upper case: not an identifier.
  const upperCase = valid.slice();
  upperCase[30] = 'P'.charCodeAt(0);
  // The last record's own CRC (the payload's last 4 bytes) broken.
  const badRecord = valid.slice();
  badRecord[badRecord.length - 1]! ^= 0x10;
  const frames = [
    { name: 'a record of another PG in the batch', bytes: encodeFrame(type, otherPg) },
    { name: 'an unknown message type', bytes: encodeFrame(99, valid) },
    { name: 'a payload cut short', bytes: encodeFrame(type, valid.subarray(0, valid.length - 9)) },
    { name: 'bytes after the payload', bytes: encodeFrame(type, concat([valid, Uint8Array.of(0)])) },
    { name: 'a segment id that is not an identifier', bytes: encodeFrame(type, upperCase) },
    { name: 'a record with a wrong CRC', bytes: encodeFrame(type, badRecord) },
  ];
  return frames.map((frame) => {
    try {
      decodeMessageFromBytes(frame.bytes);
    } catch (error) {
      if (error instanceof NorthlightError) return { ...frame, code: error.code };
      throw error;
    }
    throw new Error(`${frame.name} decoded`);
  });
}

// ---- helpers of part 3 ----------------------------------------------------------------------------

const VALID_CREATE = { pgId: 0, segmentId: SEGMENT, membershipEpoch: '1', members: MEMBERS };

/**
 * Bodies for POST /v1/segments that must change nothing: the real segment's own spec (a replay: 200,
 * not created) and specs with one field wrong. None names a new segment validly: that would create it.
 */
const CREATE_BODIES: readonly unknown[] = [
  VALID_CREATE,
  { ...VALID_CREATE, membershipEpoch: '2' },
  { ...VALID_CREATE, membershipEpoch: U64_MAX.toString() },
  { ...VALID_CREATE, membershipEpoch: '01' },
  { ...VALID_CREATE, membershipEpoch: '-1' },
  { ...VALID_CREATE, membershipEpoch: 1 },
  { ...VALID_CREATE, membershipEpoch: '1.0' },
  { ...VALID_CREATE, volumeEpoch: 'x' },
  { ...VALID_CREATE, volumeEpoch: 7 },
  { ...VALID_CREATE, pgId: -1 },
  { ...VALID_CREATE, pgId: 1.5 },
  { ...VALID_CREATE, pgId: '0' },
  { ...VALID_CREATE, pgId: 2 ** 32 },
  { ...VALID_CREATE, pgId: null },
  { ...VALID_CREATE, segmentId: 'PG0-FZ1' },
  { ...VALID_CREATE, segmentId: '' },
  { ...VALID_CREATE, segmentId: 'a'.repeat(64) },
  { ...VALID_CREATE, segmentId: 'pg0-other' }, // not among its members
  { ...VALID_CREATE, members: [] },
  { ...VALID_CREATE, members: [SEGMENT, SEGMENT] },
  { ...VALID_CREATE, members: SEGMENT },
  { ...VALID_CREATE, members: [SEGMENT, ...Array.from({ length: 16 }, (_, index) => `pg0-x${index}`)] },
  { ...VALID_CREATE, members: Array.from({ length: 65 }, (_, index) => `pg0-x${index}`) },
  { ...VALID_CREATE, members: [...MEMBERS, 'Bad'] },
  { ...VALID_CREATE, memberNodes: ['n1'] },
  { ...VALID_CREATE, memberNodes: MEMBERS.map(() => 'N1') },
  { ...VALID_CREATE, extra: true },
  { pgId: 0, segmentId: SEGMENT },
  {},
];

const VALID_MEMBERSHIP = { membershipEpoch: '1', members: MEMBERS, memberNodes: [] as string[] };

/**
 * Bodies for PUT …/membership that must change nothing on the real segment (membership epoch 1, no
 * member nodes): its own membership again (200, not changed), an older epoch (409), the same epoch with
 * other members or nodes, and malformed ones. No body holds a newer epoch with a valid membership.
 */
const MEMBERSHIP_BODIES: readonly unknown[] = [
  VALID_MEMBERSHIP,
  { ...VALID_MEMBERSHIP, membershipEpoch: '0' },
  { ...VALID_MEMBERSHIP, members: [...MEMBERS, 'pg0-fz7'] },
  { ...VALID_MEMBERSHIP, memberNodes: MEMBERS.map((_, index) => `fz${index + 1}`) },
  { ...VALID_MEMBERSHIP, memberNodes: ['fz1'] },
  { ...VALID_MEMBERSHIP, members: MEMBERS.slice(1), membershipEpoch: '2' },
  { ...VALID_MEMBERSHIP, members: [SEGMENT, SEGMENT], membershipEpoch: '2' },
  { ...VALID_MEMBERSHIP, members: [], membershipEpoch: '2' },
  {
    ...VALID_MEMBERSHIP,
    members: Array.from({ length: 17 }, (_, index) => `pg0-fz${index}`),
    membershipEpoch: '2',
  },
  { ...VALID_MEMBERSHIP, membershipEpoch: (U64_MAX + 1n).toString() },
  { ...VALID_MEMBERSHIP, membershipEpoch: '-1' },
  { ...VALID_MEMBERSHIP, membershipEpoch: 'x' },
  { membershipEpoch: '2', members: MEMBERS },
  {},
];

const HOSTILE_BODIES: readonly string[] = [
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  '1e999',
  '"\\ud800"',
  'null',
  '',
  '\ufeff{"pgId":0}',
  '{"pgId":0,"pgId":1}',
  JSON.stringify({ source: 'pg0-fz2' }),
  JSON.stringify({ source: 'PG0' }),
  JSON.stringify({ source: 'a'.repeat(64) }),
];

const pathParameter = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '0',
      '1',
      '00',
      '-1',
      '4294967295',
      '4294967296',
      '1e3',
      '0x10',
      '1.5',
      'NaN',
      '',
      '%20',
      SEGMENT,
      'pg0-fz2',
      'pg0-nowhere',
      '..',
      '.',
      '%',
      '%zz',
      '%2F',
      '%00',
      '%C0%AF',
      'PG0-FZ1',
      'a'.repeat(63),
      'a'.repeat(64),
      'a'.repeat(3000),
      ':pgId',
      '*',
      '%F0%9F%98%80',
    ),
  },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.nat({ max: 1 << 20 }).map(String) },
);

const adminPath = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/healthz',
      '/readyz',
      '/v1/status',
      '/v1/segments',
      '/v1/backup',
      '/metrics',
      '/',
      '/v1',
      '/v1/',
      '/healthz/',
      '//healthz',
      '/HEALTHZ',
      '/v1/segments/',
    ),
  },
  { weight: 2, arbitrary: pathParameter.map((segment) => `/v1/segments/${segment}`) },
  {
    weight: 2,
    arbitrary: fc.tuple(pathParameter, pathParameter).map(([pg, segment]) => `/v1/segments/${pg}/${segment}`),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        pathParameter,
        pathParameter,
        fc.constantFrom('restore', 'seal', 'membership', 'RESTORE', 'x', ''),
      )
      .map(([pg, segment, action]) => `/v1/segments/${pg}/${segment}/${action}`),
  },
  { weight: 1, arbitrary: fc.array(pathParameter, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`) },
);

const adminBody = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom(...CREATE_BODIES).map((body) => JSON.stringify(body)) },
  { weight: 2, arbitrary: fc.constantFrom(...MEMBERSHIP_BODIES).map((body) => JSON.stringify(body)) },
  { weight: 2, arbitrary: fc.json().map((json) => json.slice(0, 2_000)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 500 }) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_BODIES) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 16 * 1024 + 1, max: 80 * 1024 })
      .map((bytes) => JSON.stringify({ ...VALID_CREATE, padding: 'x'.repeat(bytes) })),
  },
);

/** A real route with its own method (and hostile parameters), or any method on any path. */
const methodAndPath = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constant('GET'),
      path: fc.constantFrom('/healthz', '/readyz', '/v1/status', '/metrics'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constant('GET'),
      path: pathParameter.map((id) => `/v1/segments/${id}`),
    }),
  },
  { weight: 2, arbitrary: fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/segments') }) },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constant('DELETE'),
      path: fc.tuple(pathParameter, pathParameter).map(([pg, id]) => `/v1/segments/${pg}/${id}`),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant('POST'),
      path: fc
        .tuple(pathParameter, pathParameter, fc.constantFrom('restore', 'seal'))
        .map(([pg, id, action]) => `/v1/segments/${pg}/${id}/${action}`),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant('PUT'),
      path: fc.tuple(pathParameter, pathParameter).map(([pg, id]) => `/v1/segments/${pg}/${id}/membership`),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant('PUT'),
      path: fc.constant(`/v1/segments/${PG}/${SEGMENT}/membership`),
    }),
  },
  { weight: 1, arbitrary: fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/backup') }) },
  {
    weight: 4,
    arbitrary: fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      path: adminPath,
    }),
  },
);

const adminRequest: fc.Arbitrary<RawHttpRequest> = fc
  .record({
    route: methodAndPath,
    query: fc.option(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
      { freq: 3 },
    ),
    contentType: fc.option(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant('application/json') },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'application/json; charset=utf-8',
            'application/json; charset=latin1',
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/octet-stream',
            'bogus/type',
            '*/*',
          ),
        },
      ),
      { freq: 4 },
    ),
    body: adminBody,
    chunked: fc.boolean(),
  })
  .map(({ route, query, contentType, body, chunked }) => ({
    method: route.method,
    path: `${route.path}${query === null ? '' : `?${new URLSearchParams(query).toString()}`}`,
    headers: contentType === null ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { body, chunked }),
  }));

/**
 * Requests that may legitimately change what the node stores, skipped: dropping or sealing the real
 * segment (any path naming it, whatever its PG parameter coerces to). Creating one is never generated.
 */
function changesState(request: RawHttpRequest): boolean {
  if (request.method !== 'DELETE' && request.method !== 'POST' && request.method !== 'PUT') return false;
  const path = request.path.split('?')[0]!;
  if (request.method === 'POST' && !path.endsWith('/seal')) return false;
  if (request.method === 'PUT' && !(path.endsWith('/membership') && newerMembership(request.body)))
    return false;
  return path.split('/').some((part) => {
    try {
      return decodeURIComponent(part) === SEGMENT;
    } catch {
      return false;
    }
  });
}

/**
 * Whether a body would give the real segment a new membership if PUT (a newer epoch, its members with
 * itself, distinct valid ids within the core's 16, one node per member or none): such a request would
 * be skipped. None of the generated bodies is one; this is the safety net for that claim.
 */
function newerMembership(body: string | undefined): boolean {
  let parsed: { membershipEpoch?: unknown; members?: unknown; memberNodes?: unknown };
  try {
    parsed = JSON.parse(body ?? '') as typeof parsed;
  } catch {
    return false;
  }
  const id = /^[a-z0-9][a-z0-9._-]{0,62}$/;
  const ids = (value: unknown): value is string[] =>
    Array.isArray(value) && value.every((item) => typeof item === 'string' && id.test(item));
  if (typeof parsed !== 'object' || parsed === null) return false;
  const { membershipEpoch, members, memberNodes } = parsed;
  return (
    /^[0-9]{1,20}$/.test(String(membershipEpoch)) &&
    BigInt(String(membershipEpoch)) > 1n &&
    ids(members) &&
    members.includes(SEGMENT) &&
    new Set(members).size === members.length &&
    members.length <= 16 &&
    ids(memberNodes) &&
    (memberNodes.length === 0 || memberNodes.length === members.length)
  );
}

const LIFECYCLE_ROUTE = /^\/v1\/segments\/[^/]+\/[^/]+\/(restore|seal)$/;

/**
 * The one 5xx the admin API documents for bad input: a restore with no backup target configured
 * (503 NL_OBJECT_STORE_UNAVAILABLE). A lifecycle call the core refuses is the caller's mistake: 400.
 */
function documented5xx(request: RawHttpRequest, code: string): boolean {
  const path = request.path.split('?')[0]!;
  if (request.method !== 'POST') return false;
  const lifecycle = LIFECYCLE_ROUTE.exec(path);
  return lifecycle?.[1] === 'restore' && code === 'NL_OBJECT_STORE_UNAVAILABLE';
}

function adminResponseProblems(request: RawHttpRequest, status: number, text: string): string[] {
  if (status === 201) return ['created a segment'];
  if (status < 400) return [];
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return [`${status} with a body that is not JSON: ${text.slice(0, 80)}`];
  }
  const problems: string[] = [];
  if (Object.keys(body).sort().join() !== 'action,code,message')
    problems.push(`${status} body ${text.slice(0, 120)}`);
  const code = String(body.code);
  if (!(errorCodes as readonly string[]).includes(code))
    problems.push(`${status} with code ${code}, not a catalog code`);
  else if (
    code !== 'NL_REQUEST_INVALID' &&
    HTTP_STATUS_OF_ERROR_CODE[code as keyof typeof HTTP_STATUS_OF_ERROR_CODE] !== status
  )
    problems.push(`${code} answered with ${status}`);
  if (status >= 500 && !documented5xx(request, code))
    problems.push(`${status} ${code}: ${String(body.message)}`);
  if (/\n\s+at /.test(text)) problems.push('a stack trace reached the client');
  return problems;
}

/**
 * HTTP that fails below the router (request line, headers, framing). The answer is a 4xx from fastify's
 * default client-error handler, whose body is { error, message, statusCode } rather than the API's
 * { code, message, action } (noted in the report), so only the status is checked. A malformed chunk
 * is left to the pinned test below: today it is logged at ERROR.
 */
const MALFORMED_HTTP: readonly string[] = [
  'GARBAGE\r\n\r\n',
  'GET / HTTP/9.9\r\n\r\n',
  `GET /healthz HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
  'GET /healthz HTTP/1.1\r\nHost\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
  'POST /v1/segments HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003',
  'GET /v1/status\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
  `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
];
