/**
 * The peer-snapshot path alone (the bulk path of a repair, docs/storage-node.md "Hydrating from a
 * peer"): one segment of `--pages` page images streamed from a source core to a joiner core, both
 * real `StorageNodeCore`s on the real disk (protocol's NodeDisk, NodeClock, NodeRandom, in a temporary
 * directory), next to a raw copy of the same bytes on the same filesystem (read + write + fdatasync).
 * Not a test: it measures and prints. It exists to iterate on the per-byte cost of the path faster
 * than the whole repair benchmark (operator/scripts/bench-repair.ts) allows.
 *
 *   npx tsx scripts/bench-snapshot.ts [--pages 2048] [--rounds 5] [--transport http|in-process] [--verbose]
 *
 * How: the source's segment is filled once by hydrating it from a generated stream (random pages,
 * one base), so it holds `--pages` images as of one LSN in its page store. Each round then creates a
 * fresh joiner (a new data directory) and times `hydrateFromSnapshot` of the joiner from the source's
 * `snapshotSegment`: over HTTP by default (the source's admin server, the joiner's `openSnapshot`, as
 * a repair runs), or through an in-process pipe that hands the parts over in 64 KiB slices, as a
 * socket delivers them. Both cores share this process's thread, so a round's time is the CPU both
 * ends need plus the disk's. The figures are medians over rounds.
 *
 * Only the JSON result goes to stdout; with `--verbose`, the cores' info lines (where each
 * hydration's time went: `installed a base of page images`) go to stderr.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  type Environment,
  type Logger,
  type NetworkEndpoint,
  type NodeId,
  unavailableObjectStore,
} from '@northlight/protocol';
import { JsonLineLogger, NodeClock, NodeDisk, NodeRandom } from '@northlight/protocol/io';
import type { BackupManifest } from '../src/core/backup-format.js';
import { encodeSlotImage } from '../src/core/page-store.js';
import {
  encodeSnapshotBasePart,
  encodeSnapshotEnd,
  encodeSnapshotManifest,
  pagesPerBasePart,
  SNAPSHOT_BASE_KEY,
} from '../src/core/snapshot-format.js';
import { StorageNodeCore } from '../src/index.js';
import { type AdminServer, startAdminServer } from '../src/io/admin-server.js';
import { openSnapshot } from '../src/io/snapshot-client.js';

const PAGE_SIZE_BYTES = 4096;
const PG_ID = asPgId(0);
const MEMBERS = [1, 2, 3, 4, 5, 6].map((member) => asSegmentId(`pg0-s${member}`));
const MEMBER_NODES = [1, 2, 3, 4, 5, 6].map((member) => asNodeId(`node-${member}`));
const SOURCE_SEGMENT = MEMBERS[0]!;
const JOINER_SEGMENT = MEMBERS[1]!;
const BASE_LSN = asLsn(1_000n);
/** What a socket hands over at a time (node:http's reads are at most 64 KiB). */
const SOCKET_SLICE_BYTES = 64 * 1024;
const RAW_COPY_CHUNK_BYTES = 1024 * 1024;
const BYTES_PER_MB = 1_000_000;
const TRANSPORTS = ['http', 'in-process'] as const;
type Transport = (typeof TRANSPORTS)[number];

interface Config {
  readonly pages: number;
  readonly rounds: number;
  readonly transport: Transport;
  readonly verbose: boolean;
}

function parseConfig(argv: readonly string[]): Config {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      pages: { type: 'string', default: '2048' },
      rounds: { type: 'string', default: '5' },
      transport: { type: 'string', default: 'http' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const integer = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max)
      throw new Error(`--${name} must be an integer in ${min}…${max}, not '${text}'`);
    return value;
  };
  const transport = TRANSPORTS.find((name) => name === values.transport);
  if (transport === undefined) throw new Error(`--transport must be one of ${TRANSPORTS.join(', ')}`);
  return {
    pages: integer('pages', values.pages, 1, 262_144),
    rounds: integer('rounds', values.rounds, 1, 100),
    transport,
    verbose: values.verbose,
  };
}

/** The cores talk to no peer here: gossip is off and the snapshot goes through its own transport. */
function silentEndpoint(address: NodeId): NetworkEndpoint {
  return { address, send: () => undefined, onMessage: () => undefined, close: () => undefined };
}

async function startCore(directory: string, name: string, logger: Logger): Promise<StorageNodeCore> {
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network: silentEndpoint(asNodeId(name)),
    disk: new NodeDisk(directory),
    objectStore: unavailableObjectStore('the benchmark has no object store'),
    log: logger,
  };
  const core = new StorageNodeCore(env, { pageSizeBytes: PAGE_SIZE_BYTES, gossipIntervalMs: 0 });
  await core.start();
  return core;
}

async function createSegment(core: StorageNodeCore, segmentId: (typeof MEMBERS)[number]): Promise<void> {
  const created = await core.createSegment({
    pgId: PG_ID,
    segmentId,
    membershipEpoch: asEpoch(1n),
    members: MEMBERS,
    memberNodes: MEMBER_NODES,
  });
  if (!created.ok) throw created.error;
}

/** A snapshot stream of `pages` random pages as of BASE_LSN and no records: the source's seed. */
function generatedStream(pages: number): Uint8Array[] {
  const manifest: BackupManifest = {
    pgId: PG_ID,
    segmentId: asSegmentId('generated'),
    pageSizeBytes: PAGE_SIZE_BYTES,
    volumeEpoch: asEpoch(1n),
    truncationEpoch: asEpoch(0n),
    truncations: [],
    membershipEpoch: asEpoch(1n),
    members: MEMBERS,
    memberNodes: MEMBER_NODES,
    backedUpThrough: BASE_LSN,
    base: { key: SNAPSHOT_BASE_KEY, lsn: BASE_LSN, pages, bytes: pages * PAGE_SIZE_BYTES },
    chunks: [],
    updatedAtMs: 0,
  };
  const parts = [encodeSnapshotManifest(manifest)];
  const perPart = pagesPerBasePart(PAGE_SIZE_BYTES, 4 * 1024 * 1024);
  for (let first = 0; first < pages; first += perPart) {
    const count = Math.min(perPart, pages - first);
    const slots = new Uint8Array(count * (PAGE_SIZE_BYTES + 64));
    for (let index = 0; index < count; index++)
      slots.set(
        encodeSlotImage(0, first + index, BASE_LSN, randomBytes(PAGE_SIZE_BYTES)),
        index * (PAGE_SIZE_BYTES + 64),
      );
    parts.push(encodeSnapshotBasePart(slots, count));
  }
  parts.push(encodeSnapshotEnd(parts.length));
  return parts;
}

/** A one-way in-process pipe with back-pressure of one part, delivering 64 KiB slices. */
class Pipe {
  readonly #queue: Uint8Array[] = [];
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  #closed = false;

  async write(part: Uint8Array): Promise<void> {
    while (this.#queue.length > 0) await new Promise<void>((resolve) => (this.#wakeWriter = resolve));
    for (let at = 0; at < part.length; at += SOCKET_SLICE_BYTES)
      this.#queue.push(part.subarray(at, at + SOCKET_SLICE_BYTES));
    this.#wakeReader?.();
  }

  close(): void {
    this.#closed = true;
    this.#wakeReader?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) {
        if (this.#queue.length === 0) this.#wakeWriter?.();
        yield next;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
  }
}

async function startSourceServer(source: StorageNodeCore, logger: Logger): Promise<AdminServer> {
  const refuse = async (): Promise<never> => {
    throw new Error('not part of the benchmark');
  };
  return startAdminServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    readiness: () => true,
    statusProvider: () => source.status() as never,
    metrics: { contentType: 'text/plain', metricsText: async () => '' },
    lifecycle: {
      create: refuse,
      drop: refuse,
      restore: refuse,
      backupNow: refuse,
      seal: refuse,
      updateMembership: refuse,
      hydrate: refuse,
      snapshot: async (pgId, segmentId, sink) => {
        const result = await source.snapshotSegment(asPgId(pgId), asSegmentId(segmentId), sink);
        if (!result.ok) throw result.error;
        return result.value;
      },
    },
  });
}

interface RoundResult {
  readonly ms: number;
  readonly bytes: number;
  readonly pages: number;
}

async function oneRound(
  config: Config,
  source: StorageNodeCore,
  server: AdminServer | undefined,
  directory: string,
  logger: Logger,
): Promise<RoundResult> {
  const joiner = await startCore(directory, 'joiner', logger);
  try {
    await createSegment(joiner, JOINER_SEGMENT);
    const startedMs = performance.now();
    let received: Awaited<ReturnType<StorageNodeCore['hydrateFromSnapshot']>>;
    if (server !== undefined) {
      received = await joiner.hydrateFromSnapshot(PG_ID, JOINER_SEGMENT, () =>
        openSnapshot(server.url, PG_ID, SOURCE_SEGMENT),
      );
    } else {
      const pipe = new Pipe();
      const sent = source
        .snapshotSegment(PG_ID, SOURCE_SEGMENT, (part) => pipe.write(part))
        .finally(() => pipe.close());
      received = await joiner.hydrateFromSnapshot(PG_ID, JOINER_SEGMENT, async () => pipe);
      const report = await sent;
      if (!report.ok) throw report.error;
    }
    const ms = performance.now() - startedMs;
    if (!received.ok) throw received.error;
    if (received.value.pages !== config.pages)
      throw new Error(`the joiner installed ${received.value.pages} pages, not ${config.pages}`);
    return { ms, bytes: received.value.bytes, pages: received.value.pages };
  } finally {
    await joiner.stop();
  }
}

/** Read + write + fdatasync of `bytes` bytes, 1 MiB at a time, on the same filesystem. */
async function rawCopy(directory: string, bytes: number): Promise<number> {
  const from = join(directory, 'raw-from');
  const to = join(directory, 'raw-to');
  const writer = await open(from, 'w');
  const block = randomBytes(RAW_COPY_CHUNK_BYTES);
  for (let at = 0; at < bytes; at += RAW_COPY_CHUNK_BYTES)
    await writer.write(block, 0, Math.min(RAW_COPY_CHUNK_BYTES, bytes - at), at);
  await writer.sync();
  await writer.close();
  const startedMs = performance.now();
  const input = await open(from, 'r');
  const output = await open(to, 'w');
  const buffer = Buffer.alloc(RAW_COPY_CHUNK_BYTES);
  for (let at = 0; at < bytes; at += RAW_COPY_CHUNK_BYTES) {
    const { bytesRead } = await input.read(buffer, 0, RAW_COPY_CHUNK_BYTES, at);
    await output.write(buffer, 0, bytesRead, at);
  }
  await output.datasync();
  await input.close();
  await output.close();
  const ms = performance.now() - startedMs;
  await rm(from);
  await rm(to);
  return ms;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const root = await mkdtemp(join(tmpdir(), 'northlight-bench-snapshot-'));
  const logger = new JsonLineLogger('bench-snapshot', config.verbose ? 'info' : 'warn');
  const loadBefore = loadavg();
  let server: AdminServer | undefined;
  let source: StorageNodeCore | undefined;
  try {
    source = await startCore(join(root, 'source'), 'source', logger);
    await createSegment(source, SOURCE_SEGMENT);
    const seed = generatedStream(config.pages);
    const seeded = await source.hydrateFromSnapshot(PG_ID, SOURCE_SEGMENT, async () =>
      (async function* () {
        yield* seed;
      })(),
    );
    if (!seeded.ok) throw seeded.error;
    if (config.transport === 'http') server = await startSourceServer(source, logger);
    const rounds: RoundResult[] = [];
    const rawMs: number[] = [];
    for (let index = 0; index < config.rounds; index++) {
      const result = await oneRound(config, source, server, join(root, `joiner-${index}`), logger);
      rounds.push(result);
      await rm(join(root, `joiner-${index}`), { recursive: true, force: true });
      rawMs.push(await rawCopy(root, result.bytes));
      process.stderr.write(
        `bench-snapshot: round ${index + 1}: ${result.pages} pages, ${result.bytes} bytes in ${result.ms.toFixed(1)} ms (raw copy ${rawMs.at(-1)!.toFixed(1)} ms)\n`,
      );
    }
    const bytes = rounds[0]!.bytes;
    const ms = median(rounds.map((round) => round.ms));
    const raw = median(rawMs);
    process.stdout.write(
      `${JSON.stringify(
        {
          config: { ...config, pageSizeBytes: PAGE_SIZE_BYTES, cpus: cpus().length },
          loadAverageBefore: loadBefore.map(round2),
          loadAverageAfter: loadavg().map(round2),
          bytes,
          snapshotMsMedian: round2(ms),
          snapshotMs: rounds.map((round) => round2(round.ms)),
          snapshotMegabytesPerSecond: round2(bytes / BYTES_PER_MB / (ms / 1000)),
          rawCopyMsMedian: round2(raw),
          rawCopyMegabytesPerSecond: round2(bytes / BYTES_PER_MB / (raw / 1000)),
          snapshotOverRawCopy: round2(raw / ms),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await server?.close();
    await source?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
