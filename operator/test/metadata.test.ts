/**
 * The control plane's metadata directory (src/core/metadata.ts and its two stores).
 *
 * What it proves:
 *  - The store contract, run unchanged against the file store (a fresh temporary directory per test)
 *    and the Redis store (a real redis-server started by this file; a fresh cluster name, hence key
 *    prefix, per test): empty read, write and read back, a stale revision is a conflict, of two
 *    writes racing from the same revision through two instances (two Redis connections) exactly one
 *    wins, data survives reopening, wipe, the bounded workflow journal, and "wiping it loses
 *    nothing": a wiped directory rebuilt from the storage nodes' reports holds the same volumes.
 *  - File store: a crash mid-write (a stray or truncated temp file) never damages the committed
 *    document; a damaged committed document is a typed error naming the file and the way out.
 *  - Redis store: keys stay under `northlight/<cluster>/`; a stopped or frozen server gives a typed
 *    error within a bounded time instead of a hang.
 *  - rebuildFromStorage: fast-check layouts (random placement two per zone, member order, 64-bit
 *    epochs, stale reports from former members) are rebuilt exactly from synthetic status reports,
 *    also with one node's report missing; each rule that refuses to guess has a named case.
 *  - The version-1 document format: a golden document decodes.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssertionError, isNorthlightError, U64_MAX } from '@northlight/protocol';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeMetadataDocument,
  EMPTY_METADATA,
  isMetadataConflict,
  MAX_FINISHED_WORKFLOWS,
  METADATA_ERROR_CODES,
  type MetadataContent,
  type MetadataStore,
  metadataFailureKind,
  prepareWrite,
  rebuildFromStorage,
  type StorageNodeReport,
  type StorageSegmentReport,
  type VolumeRecord,
  type WorkflowRecord,
  type WorkflowState,
} from '../src/core/metadata.js';
import { FileMetadataStore, METADATA_FILE_NAME, METADATA_TEMP_FILE_NAME } from '../src/io/file-metadata.js';
import {
  REDIS_COMMAND_TIMEOUT_MS,
  REDIS_CONNECT_TIMEOUT_MS,
  RedisMetadataStore,
} from '../src/io/redis-metadata.js';
import { type RedisRig, startRedis } from './support/redis-rig.js';

// ---------------------------------------------------------------------------------------------------
// Fixtures

const ZONES = ['a', 'b', 'c'] as const;

function sixMembers(pgId: number, epoch: string) {
  return {
    pgId,
    membershipEpoch: epoch,
    members: ZONES.flatMap((zone) => [`s${pgId}-${zone}1`, `s${pgId}-${zone}2`]),
    nodes: ZONES.flatMap((zone) => [`node-${zone}1`, `node-${zone}2`]),
  };
}

function sampleVolume(name: string, pgCount: number): VolumeRecord {
  return {
    name,
    pagesPerPg: 64,
    pgs: Array.from({ length: pgCount }, (_, pgId) => sixMembers(pgId, `${pgId + 1}`)),
  };
}

function workflow(id: string, state: WorkflowState, updatedAtMs: number): WorkflowRecord {
  return {
    id,
    kind: 'repair',
    pgId: 0,
    fromNode: 'node-a1',
    toNode: 'node-a3',
    fromSegment: 's0-a1',
    toSegment: 's0-a3',
    state,
    startedAtMs: 0,
    updatedAtMs,
  };
}

function sampleContent(label: string): MetadataContent {
  return {
    cluster: { writer: `engine-${label}`, volumeEpoch: '18446744073709551615' },
    volumes: [sampleVolume('orders', 3), sampleVolume(`scratch-${label}`, 1)],
    workflows: [
      { ...workflow('repair-1', 'hydrating', 20), note: `started by ${label}` },
      workflow('repair-0', 'done', 10),
    ],
    backups: [{ pgId: 0, segmentId: 's0-a1', backedUpThrough: '9007199254740993', updatedAtMs: 30 }],
  };
}

/** What a read must return for `content` written as `revision` (writer included, undefined or not). */
function stored(revision: number, content: MetadataContent) {
  return { revision, ...content };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------------
// Random layouts and the storage reports they produce

const layoutArbitrary = fc.integer({ min: 2, max: 4 }).chain((nodesPerZone) => {
  const nodeIndex = fc.nat({ max: nodesPerZone - 1 });
  const pg = fc.record({
    /** Per zone, the two distinct nodes holding its segments. */
    pairs: fc.tuple(
      ...ZONES.map(() => fc.uniqueArray(nodeIndex, { minLength: 2, maxLength: 2 })),
    ) as fc.Arbitrary<number[][]>,
    order: fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }),
    membershipEpoch: fc.bigInt({ min: 1n, max: U64_MAX }),
    volumeEpochs: fc.array(fc.bigInt({ min: 0n, max: U64_MAX }), { minLength: 6, maxLength: 6 }),
    /** A former member, replaced at an earlier epoch, still reporting the membership it last knew. */
    former: fc.option(
      fc.record({
        replacedMember: fc.nat({ max: 5 }),
        node: fc.nat({ max: ZONES.length * nodesPerZone - 1 }),
        epochsBack: fc.bigInt({ min: 1n, max: 1000n }),
      }),
      { nil: undefined },
    ),
  });
  return fc.record({
    nodesPerZone: fc.constant(nodesPerZone),
    pagesPerPg: fc.integer({ min: 1, max: 1 << 16 }),
    pgs: fc.array(pg, { minLength: 1, maxLength: 12 }),
  });
});

type RawLayout = typeof layoutArbitrary extends fc.Arbitrary<infer T> ? T : never;

interface Layout {
  readonly volume: VolumeRecord;
  readonly reports: StorageNodeReport[];
  readonly volumeEpoch: string;
}

function buildLayout(raw: RawLayout, name = 'vol'): Layout {
  const nodeIds = ZONES.flatMap((zone) =>
    Array.from({ length: raw.nodesPerZone }, (_, i) => `node-${zone}${i}`),
  );
  const segmentsOf = new Map<string, StorageSegmentReport[]>(nodeIds.map((node) => [node, []]));
  let volumeEpoch = 0n;
  const pgs = raw.pgs.map((pg, pgId) => {
    const slots = ZONES.flatMap((zone, z) => pg.pairs[z]!.map((index) => `node-${zone}${index}`));
    const members = pg.order.map((slot) => `seg-${pgId}-${slot}`);
    const nodes = pg.order.map((slot) => slots[slot]!);
    const membershipEpoch = pg.membershipEpoch.toString();
    members.forEach((segmentId, index) => {
      const segmentVolumeEpoch = pg.volumeEpochs[index]!;
      if (segmentVolumeEpoch > volumeEpoch) volumeEpoch = segmentVolumeEpoch;
      segmentsOf.get(nodes[index]!)!.push({
        pgId,
        segmentId,
        membershipEpoch,
        members,
        memberNodes: nodes,
        volumeEpoch: segmentVolumeEpoch.toString(),
        sealed: false,
      });
    });
    if (pg.former !== undefined) {
      const formerNode = nodeIds[pg.former.node]!;
      const formerMembers = members.map((member, index) =>
        index === pg.former!.replacedMember ? `seg-${pgId}-former` : member,
      );
      const formerNodes = nodes.map((node, index) =>
        index === pg.former!.replacedMember ? formerNode : node,
      );
      const formerEpoch = pg.membershipEpoch - pg.former.epochsBack;
      segmentsOf.get(formerNode)!.push({
        pgId,
        segmentId: `seg-${pgId}-former`,
        membershipEpoch: (formerEpoch < 0n ? 0n : formerEpoch).toString(),
        members: formerMembers,
        memberNodes: formerNodes,
        volumeEpoch: '0',
        sealed: true,
      });
    }
    return { pgId, membershipEpoch, members, nodes };
  });
  return {
    volume: { name, pagesPerPg: raw.pagesPerPg, pgs },
    reports: nodeIds.map((nodeId) => ({ nodeId, segments: segmentsOf.get(nodeId)! })),
    volumeEpoch: volumeEpoch.toString(),
  };
}

// ---------------------------------------------------------------------------------------------------
// The contract, against both stores

interface Location {
  /** Another instance (file) or another connection (Redis) on the same directory. */
  open(): Promise<MetadataStore>;
}

interface Harness {
  readonly name: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  newLocation(): Promise<Location>;
}

const openedStores: MetadataStore[] = [];
const temporaryDirectories: string[] = [];

async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'northlight-metadata-'));
  temporaryDirectories.push(directory);
  return directory;
}

function tracked(store: MetadataStore): MetadataStore {
  openedStores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(openedStores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await Promise.all(temporaryDirectories.splice(0).map((path) => rm(path, { recursive: true, force: true })));
});

const fileHarness: Harness = {
  name: 'file store',
  async setUp() {},
  async tearDown() {},
  async newLocation() {
    const directory = await temporaryDirectory();
    return { open: async () => tracked(new FileMetadataStore(directory)) };
  },
};

let contractRedis: RedisRig | undefined;
let clusterCounter = 0;

const redisHarness: Harness = {
  name: 'redis store',
  async setUp() {
    contractRedis = await startRedis();
  },
  async tearDown() {
    await contractRedis?.stop();
    contractRedis = undefined;
  },
  async newLocation() {
    const cluster = `contract-${++clusterCounter}`;
    const url = contractRedis!.url;
    return { open: async () => tracked(await RedisMetadataStore.open({ url, cluster })) };
  },
};

describe.each([fileHarness, redisHarness])('metadata store contract: $name', (harness) => {
  beforeAll(() => harness.setUp());
  afterAll(() => harness.tearDown());

  it('reads an empty directory as revision 0', async () => {
    const store = await (await harness.newLocation()).open();
    expect(await store.read()).toEqual(EMPTY_METADATA);
  });

  it('reads back what was written, one revision per write', async () => {
    const store = await (await harness.newLocation()).open();
    const first = sampleContent('one');
    expect(await store.write(0, first)).toEqual(stored(1, first));
    expect(await store.read()).toEqual(stored(1, first));
    const second: MetadataContent = {
      ...sampleContent('two'),
      cluster: { writer: undefined, volumeEpoch: '2' },
    };
    expect(await store.write(1, second)).toEqual(stored(2, second));
    const read = await store.read();
    expect(read).toEqual(stored(2, second));
    expect(read.cluster.writer).toBeUndefined();
  });

  it('refuses a write planned from a stale revision, and keeps the newer one', async () => {
    const store = await (await harness.newLocation()).open();
    await store.write(0, sampleContent('winner'));
    for (const expectedRevision of [0, 2, 7]) {
      const error = await rejection(store.write(expectedRevision, sampleContent('loser')));
      expect(isMetadataConflict(error)).toBe(true);
      expect(isNorthlightError(error, METADATA_ERROR_CODES.conflict)).toBe(true);
      expect(String(error)).toContain(`at revision 1, not ${expectedRevision}`);
    }
    expect(await store.read()).toEqual(stored(1, sampleContent('winner')));
  });

  it('lets exactly one of two writes racing from the same revision win', async () => {
    const location = await harness.newLocation();
    const [left, right] = [await location.open(), await location.open()];
    for (let round = 0; round < 20; round++) {
      const revision = (await left.read()).revision;
      expect(revision).toBe(round);
      const contents = [sampleContent(`left-${round}`), sampleContent(`right-${round}`)];
      const outcomes = await Promise.allSettled([
        left.write(revision, contents[0]!),
        right.write(revision, contents[1]!),
      ]);
      const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
      expect(winners).toHaveLength(1);
      const loser = outcomes[1 - winners[0]!] as PromiseRejectedResult;
      expect(isMetadataConflict(loser.reason)).toBe(true);
      expect(await right.read()).toEqual(stored(revision + 1, contents[winners[0]!]!));
    }
  });

  it('keeps the data across reopening', async () => {
    const location = await harness.newLocation();
    const writer = await location.open();
    await writer.write(0, sampleContent('kept'));
    await writer.close();
    const reopened = await location.open();
    expect(await reopened.read()).toEqual(stored(1, sampleContent('kept')));
  });

  it('wipes everything, and starts again from revision 0', async () => {
    const location = await harness.newLocation();
    const store = await location.open();
    await store.write(0, sampleContent('before'));
    await store.write(1, sampleContent('before'));
    await store.wipe();
    expect(await store.read()).toEqual(EMPTY_METADATA);
    expect(await (await location.open()).read()).toEqual(EMPTY_METADATA);
    expect(await store.write(0, sampleContent('after'))).toEqual(stored(1, sampleContent('after')));
  });

  it('keeps every open workflow and only the newest finished ones', async () => {
    const store = await (await harness.newLocation()).open();
    const extra = 5;
    const finishedCount = MAX_FINISHED_WORKFLOWS + extra;
    // Journal order is not finishing order: finished-i finishes at time (i * 7) % count, a permutation.
    const finished = Array.from({ length: finishedCount }, (_, i) =>
      workflow(`finished-${i}`, i % 2 === 0 ? 'done' : 'reverted', ((i * 7) % finishedCount) + 100),
    );
    const openOldest = workflow('open-oldest', 'planned', 0);
    const openNewest = workflow('open-newest', 'switching', 10_000_000);
    const journal = [openOldest, ...finished.slice(0, 500), openNewest, ...finished.slice(500)];
    const written = await store.write(0, { ...sampleContent('journal'), workflows: journal });
    const keptIds = written.workflows.map((entry) => entry.id);
    const droppedIds = finished.filter((entry) => entry.updatedAtMs < 100 + extra).map((entry) => entry.id);
    expect(droppedIds).toHaveLength(extra);
    expect(keptIds).toEqual(journal.map((entry) => entry.id).filter((id) => !droppedIds.includes(id)));
    expect(keptIds).toContain('open-oldest');
    expect(written.workflows.filter((entry) => entry.id.startsWith('finished-'))).toHaveLength(
      MAX_FINISHED_WORKFLOWS,
    );
    expect(await store.read()).toEqual(written);
  });

  it('loses nothing when wiped: the volumes rebuilt from the storage nodes are the same', async () => {
    const store = await (await harness.newLocation()).open();
    await fc.assert(
      fc.asyncProperty(layoutArbitrary, async (raw) => {
        const layout = buildLayout(raw, 'orders');
        const before = await store.read();
        await store.write(before.revision, {
          cluster: { writer: 'engine-1', volumeEpoch: layout.volumeEpoch },
          volumes: [layout.volume],
          workflows: [],
          backups: [],
        });
        await store.wipe();
        expect((await store.read()).revision).toBe(0);
        const rebuilt = rebuildFromStorage(layout.reports, 'orders', raw.pagesPerPg);
        expect(rebuilt.problems).toEqual([]);
        // The writer is the one thing storage does not know: the control plane learns it from the engines.
        await store.write(0, {
          cluster: { writer: undefined, volumeEpoch: rebuilt.volumeEpoch },
          volumes: [rebuilt.volume!],
          workflows: [],
          backups: [],
        });
        const after = await store.read();
        expect(after.volumes).toEqual([layout.volume]);
        expect(after.cluster.volumeEpoch).toBe(layout.volumeEpoch);
      }),
      { numRuns: 25 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The file store

describe('file store', () => {
  async function committedStore() {
    const directory = await temporaryDirectory();
    const store = tracked(new FileMetadataStore(directory));
    await store.write(0, sampleContent('committed'));
    return { directory, store, path: join(directory, METADATA_FILE_NAME) };
  }

  it('ignores what a crash mid-write leaves in the temp file, and writes over it', async () => {
    const { directory, store, path } = await committedStore();
    const committedText = await readFile(path, 'utf8');
    const tempPath = join(directory, METADATA_TEMP_FILE_NAME);
    const nextText = prepareWrite(2, sampleContent('crashed')).text;
    for (const leftover of [
      'garbage that is not JSON',
      nextText.slice(0, nextText.length / 2),
      '',
      nextText,
    ]) {
      await writeFile(tempPath, leftover);
      expect(await tracked(new FileMetadataStore(directory)).read()).toEqual(
        stored(1, sampleContent('committed')),
      );
      expect(await readFile(path, 'utf8')).toBe(committedText);
    }
    await store.write(1, sampleContent('after'));
    expect(await tracked(new FileMetadataStore(directory)).read()).toEqual(stored(2, sampleContent('after')));
    await expect(readFile(tempPath)).rejects.toThrow(/ENOENT/);
  });

  it('leaves the committed document alone when a write fails before its rename', async () => {
    const { directory, store, path } = await committedStore();
    const committedText = await readFile(path, 'utf8');
    await mkdir(join(directory, METADATA_TEMP_FILE_NAME)); // the temp file cannot be opened for writing
    const error = await rejection(store.write(1, sampleContent('failed')));
    expect(isNorthlightError(error, 'NL_DISK_IO')).toBe(true);
    expect(String(error)).toContain(METADATA_TEMP_FILE_NAME);
    expect(await readFile(path, 'utf8')).toBe(committedText);
    expect(await store.read()).toEqual(stored(1, sampleContent('committed')));
  });

  it('names the file and the way out when the committed document is damaged, and never overwrites it', async () => {
    const { directory, store, path } = await committedStore();
    const good = await readFile(path, 'utf8');
    const flipped = good.replace('"pagesPerPg": 64', '"pagesPerPg": 65'); // still valid JSON
    expect(flipped).not.toBe(good);
    const damages: [string, RegExp][] = [
      ['{"format": 1, "revis', /not JSON/],
      [good.slice(0, good.length / 2), /not JSON/],
      ['', /not JSON/],
      [flipped, /checksum mismatch/],
      [good.replace('"nodes"', '"nodez"'), /nodes: missing/],
    ];
    for (const [damaged, reason] of damages) {
      await writeFile(path, damaged);
      for (const attempt of [
        store.read(),
        store.write(1, sampleContent('over')),
        store.write(0, sampleContent('over')),
      ]) {
        const error = await rejection(attempt);
        expect(metadataFailureKind(error)).toBe('corrupt');
        expect(isNorthlightError(error, METADATA_ERROR_CODES.corrupt)).toBe(true);
        const message = String(error);
        expect(message).toContain(path);
        expect(message).toMatch(reason);
        expect(message).toContain('--wipe-metadata');
        expect(message).toContain('rebuilds it from the storage nodes');
      }
      expect(await readFile(path, 'utf8')).toBe(damaged);
    }
    await store.wipe();
    expect(await tracked(new FileMetadataStore(directory)).read()).toEqual(EMPTY_METADATA);
  });

  it('asks for an upgrade, not a wipe, for a document from a newer format', async () => {
    const { store, path } = await committedStore();
    await writeFile(path, (await readFile(path, 'utf8')).replace('"format": 1', '"format": 2'));
    const error = await rejection(store.read());
    expect(metadataFailureKind(error)).toBe('newerFormat');
    expect(isNorthlightError(error, 'NL_DECODE_UNKNOWN_VERSION')).toBe(true);
    expect(String(error)).toMatch(/format version 2 is newer .*upgrade/);
  });
});

// ---------------------------------------------------------------------------------------------------
// The Redis store

describe('redis store', () => {
  /** Every call settles within the command timeout (the open within the connect timeout); plus slack. */
  const FAIL_FAST_BOUND_MS = Math.max(REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECT_TIMEOUT_MS) + 1000;
  let redis: RedisRig;
  let raw: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    await raw.quit();
    await redis.stop();
  });

  it('keeps each cluster under its own key prefix', async () => {
    const blue = tracked(await RedisMetadataStore.open({ url: redis.url, cluster: 'blue' }));
    const green = tracked(await RedisMetadataStore.open({ url: redis.url, cluster: 'green' }));
    await blue.write(0, sampleContent('blue'));
    expect(await green.read()).toEqual(EMPTY_METADATA);
    expect((await raw.keys('*')).filter((key) => !key.startsWith('northlight/contract-')).sort()).toEqual([
      'northlight/blue/metadata/document',
      'northlight/blue/metadata/revision',
    ]);
    await green.write(0, sampleContent('green'));
    await green.wipe();
    expect(await blue.read()).toEqual(stored(1, sampleContent('blue')));
  });

  it('names the keys and the way out when the stored document is damaged', async () => {
    const store = tracked(await RedisMetadataStore.open({ url: redis.url, cluster: 'damaged' }));
    await store.write(0, sampleContent('damaged'));
    const documentKey = 'northlight/damaged/metadata/document';
    const good = (await raw.get(documentKey))!;
    const damages: [() => Promise<unknown>, RegExp][] = [
      [() => raw.set(documentKey, good.slice(0, 100)), /not JSON/],
      [() => raw.set(documentKey, good.replace('"pagesPerPg":64', '"pagesPerPg":65')), /checksum mismatch/],
      [() => raw.set('northlight/damaged/metadata/revision', '5'), /revision key says "5"/],
      [() => raw.del('northlight/damaged/metadata/revision'), /metadata\/revision is missing/],
    ];
    for (const [damage, reason] of damages) {
      await raw.set(documentKey, good);
      await raw.set('northlight/damaged/metadata/revision', '1');
      await damage();
      const error = await rejection(store.read());
      expect(metadataFailureKind(error)).toBe('corrupt');
      expect(String(error)).toMatch(reason);
      expect(String(error)).toContain(`127.0.0.1:${redis.port} northlight/damaged/metadata/`);
      expect(String(error)).toContain('--wipe-metadata');
    }
    // A document without its revision key is not overwritten by a write from revision 0.
    expect(metadataFailureKind(await rejection(store.write(0, sampleContent('over'))))).toBe('corrupt');
  });

  it('fails fast with a typed error when Redis is stopped, and when it is not there at all', async () => {
    const doomed = await startRedis();
    const store = tracked(await RedisMetadataStore.open({ url: doomed.url, cluster: 'doomed' }));
    await store.write(0, sampleContent('doomed'));
    await doomed.stop();
    for (const call of [
      () => store.read(),
      () => store.write(1, sampleContent('late')),
      () => store.wipe(),
    ]) {
      const started = performance.now();
      const error = await rejection(call());
      expect(performance.now() - started).toBeLessThan(FAIL_FAST_BOUND_MS);
      expect(metadataFailureKind(error)).toBe('unavailable');
      expect(isNorthlightError(error, METADATA_ERROR_CODES.unavailable)).toBe(true);
      expect(String(error)).toContain(`redis 127.0.0.1:${doomed.port}`);
      expect(String(error)).toContain('Check that Redis is running');
    }
    const started = performance.now();
    const error = await rejection(RedisMetadataStore.open({ url: doomed.url, cluster: 'doomed' }));
    expect(performance.now() - started).toBeLessThan(FAIL_FAST_BOUND_MS);
    expect(metadataFailureKind(error)).toBe('unavailable');
    expect(String(error)).toMatch(/connect failed: .*ECONNREFUSED/);
  });

  it('fails within the command timeout when Redis accepts but never answers, then recovers', async () => {
    const frozen = await startRedis();
    try {
      const commandTimeoutMs = 300;
      const store = tracked(
        await RedisMetadataStore.open({ url: frozen.url, cluster: 'frozen', commandTimeoutMs }),
      );
      await store.write(0, sampleContent('frozen'));
      frozen.pause();
      const started = performance.now();
      const error = await rejection(store.read());
      const elapsedMs = performance.now() - started;
      expect(elapsedMs).toBeGreaterThanOrEqual(commandTimeoutMs - 50);
      expect(elapsedMs).toBeLessThan(commandTimeoutMs + 2000);
      expect(metadataFailureKind(error)).toBe('unavailable');
      expect(String(error)).toMatch(/read failed: Command timed out/);
      frozen.resume();
      expect(await store.read()).toEqual(stored(1, sampleContent('frozen')));
    } finally {
      await frozen.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Rebuild from storage

describe('rebuildFromStorage', () => {
  it('rebuilds any layout exactly from the storage nodes reports', () => {
    fc.assert(
      fc.property(layoutArbitrary, (raw) => {
        const layout = buildLayout(raw);
        expect(rebuildFromStorage(layout.reports, 'vol', raw.pagesPerPg)).toEqual({
          volume: layout.volume,
          volumeEpoch: layout.volumeEpoch,
          problems: [],
        });
      }),
      { numRuns: 300 },
    );
  });

  it('rebuilds it exactly with any one node report missing', () => {
    fc.assert(
      fc.property(layoutArbitrary, fc.nat(), (raw, pick) => {
        const layout = buildLayout(raw);
        const reports = layout.reports.filter((_, index) => index !== pick % layout.reports.length);
        const rebuilt = rebuildFromStorage(reports, 'vol', raw.pagesPerPg);
        expect(rebuilt.volume).toEqual(layout.volume);
        expect(rebuilt.problems).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  /** A six-member PG 0 reported by every member (or the members listed). */
  function reportsFor(
    pgs: readonly { pgId: number; membershipEpoch: string; members: string[]; nodes: string[] }[],
    options: { readonly reporting?: (segmentId: string) => boolean; readonly withPlacement?: boolean } = {},
  ): StorageNodeReport[] {
    const byNode = new Map<string, StorageSegmentReport[]>();
    for (const pg of pgs) {
      pg.members.forEach((segmentId, index) => {
        if (options.reporting !== undefined && !options.reporting(segmentId)) return;
        const node = pg.nodes[index]!;
        const segments = byNode.get(node) ?? [];
        segments.push({
          pgId: pg.pgId,
          segmentId,
          membershipEpoch: pg.membershipEpoch,
          members: pg.members,
          memberNodes: options.withPlacement === false ? [] : pg.nodes,
          volumeEpoch: '4',
          sealed: false,
          // The rest of a real SegmentStatus, which the rebuild must ignore.
          ...{ segmentNumber: index, state: 'active', scl: '120', backup: { chunks: 0 } },
        });
        byNode.set(node, segments);
      });
    }
    return [...byNode].map(([nodeId, segments]) => ({ nodeId, segments }));
  }

  it('refuses to guess a PG no node reports: the volume is undefined and the PG named', () => {
    const reports = reportsFor([sixMembers(0, '1'), sixMembers(2, '1')]);
    const rebuilt = rebuildFromStorage(reports, 'vol', 8);
    expect(rebuilt.volume).toBeUndefined();
    expect(rebuilt.volumeEpoch).toBe('4');
    expect(rebuilt.problems).toEqual(['PG 1: no storage node reported a segment of it']);
  });

  it('refuses to choose between two memberships at the same epoch', () => {
    const pg = sixMembers(0, '5');
    const rival = { ...pg, members: pg.members.map((member) => (member === 's0-c2' ? 's0-c9' : member)) };
    const reports = [
      ...reportsFor([pg], { reporting: (id) => id !== 's0-a1' }),
      { nodeId: 'node-z', segments: reportsFor([rival], { reporting: (id) => id === 's0-c9' })[0]!.segments },
    ];
    const rebuilt = rebuildFromStorage(reports, 'vol', 8);
    expect(rebuilt.volume).toBeUndefined();
    expect(rebuilt.problems).toEqual(['PG 0: conflicting memberships at membership epoch 5; PG not rebuilt']);
  });

  it('skips a newer membership only a minority reports, and says so', () => {
    const old = sixMembers(0, '9');
    const newer = { ...old, membershipEpoch: '10', members: [...old.members.slice(0, 5), 's0-c3'] };
    newer.nodes = [...old.nodes.slice(0, 5), 'node-c3'];
    // The change reached three members (one of them the new one); epochs compare as numbers, not text.
    const updated = new Set(['s0-a1', 's0-a2', 's0-c3']);
    const reports = [
      ...reportsFor([old], { reporting: (id) => !updated.has(id) }),
      ...reportsFor([newer], { reporting: (id) => updated.has(id) }),
    ];
    const rebuilt = rebuildFromStorage(reports, 'vol', 8);
    expect(rebuilt.volume?.pgs).toEqual([old]);
    expect(rebuilt.problems).toEqual([
      'PG 0: membership epoch 10 is reported by 3 of its 6 members, short of a majority (4); not used',
    ]);
  });

  it('refuses a PG that no majority vouches for', () => {
    const pg = sixMembers(0, '2');
    const rebuilt = rebuildFromStorage(reportsFor([pg], { reporting: (id) => id.endsWith('1') }), 'vol', 8);
    expect(rebuilt.volume).toBeUndefined();
    expect(rebuilt.problems).toEqual([
      'PG 0: membership epoch 2 is reported by 3 of its 6 members, short of a majority (4); not used',
      'PG 0: no membership is reported by a majority of its members; PG not rebuilt',
    ]);
  });

  it('does not count a member reported from another node than its membership places it on', () => {
    const pg = sixMembers(0, '2');
    const reports = reportsFor([pg], { reporting: (id) => !['s0-a1', 's0-a2'].includes(id) });
    reports.push({
      nodeId: 'node-x',
      segments: reportsFor([pg], { reporting: (id) => id === 's0-a1' })[0]!.segments,
    });
    const rebuilt = rebuildFromStorage(reports, 'vol', 8);
    expect(rebuilt.volume?.pgs).toEqual([pg]);
    expect(rebuilt.problems).toEqual([
      'PG 0: segment s0-a1 is reported by node-x, but membership epoch 2 places it on node-a1; not counted',
    ]);
  });

  it('takes the placement from the reporting nodes when segments know none', () => {
    const pg = sixMembers(0, '3');
    const rebuilt = rebuildFromStorage(reportsFor([pg], { withPlacement: false }), 'vol', 8);
    expect(rebuilt).toEqual({
      volume: { name: 'vol', pagesPerPg: 8, pgs: [pg] },
      volumeEpoch: '4',
      problems: [],
    });
    const partial = reportsFor([pg], { withPlacement: false, reporting: (id) => id !== 's0-b2' });
    expect(rebuildFromStorage(partial, 'vol', 8).problems).toEqual([
      'PG 0: no report says where s0-b2 live (segments know no placement); PG not rebuilt',
    ]);
  });

  it('ignores malformed segments and duplicate reports, naming them', () => {
    const pg = sixMembers(0, '3');
    const reports = reportsFor([pg]);
    const bad = { ...reports[0]!.segments[0]!, segmentId: 'Bad Id', membershipEpoch: '-1' };
    reports[0] = { ...reports[0]!, segments: [...reports[0]!.segments, bad] };
    reports.push({ nodeId: reports[1]!.nodeId, segments: [] });
    const rebuilt = rebuildFromStorage(reports, 'vol', 8);
    expect(rebuilt.volume?.pgs).toEqual([pg]);
    expect(rebuilt.problems).toEqual([
      'node node-a1: segments[1].segmentId: "Bad Id" is not an identifier ([a-z0-9._-], 1-63); segment ignored',
      'node node-a2: reported twice; the second report is ignored',
    ]);
  });

  it('reports an empty fleet', () => {
    expect(rebuildFromStorage([{ nodeId: 'node-a1', segments: [] }], 'vol', 8)).toEqual({
      volume: undefined,
      volumeEpoch: '0',
      problems: ['no storage node reported a segment'],
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// The document format

describe('metadata document', () => {
  /** Version 1, as written by the first release; must decode forever. */
  const GOLDEN_V1 =
    '{"format":1,"revision":7,"crc32c":"3baa5d67","cluster":{"writer":"engine-1","volumeEpoch":"18446744073709551615"},"volumes":[{"name":"orders","pagesPerPg":16,"pgs":[{"pgId":0,"membershipEpoch":"3","members":["s0-a","s0-b","s0-c","s0-d","s0-e","s0-g"],"nodes":["n-a1","n-a2","n-b1","n-b2","n-c1","n-c3"]}]}],"workflows":[{"id":"repair-0-s0-f","kind":"repair","pgId":0,"fromNode":"n-c2","toNode":"n-c3","fromSegment":"s0-f","toSegment":"s0-g","state":"done","startedAtMs":1000,"updatedAtMs":5000,"note":"n-c2 lost its disk"}],"backups":[{"pgId":0,"segmentId":"s0-a","backedUpThrough":"1234","updatedAtMs":6000}]}';

  it('decodes the version-1 golden document', () => {
    const decoded = decodeMetadataDocument(GOLDEN_V1);
    expect(decoded).toEqual({
      ok: true,
      value: {
        revision: 7,
        cluster: { writer: 'engine-1', volumeEpoch: '18446744073709551615' },
        volumes: [
          {
            name: 'orders',
            pagesPerPg: 16,
            pgs: [
              {
                pgId: 0,
                membershipEpoch: '3',
                members: ['s0-a', 's0-b', 's0-c', 's0-d', 's0-e', 's0-g'],
                nodes: ['n-a1', 'n-a2', 'n-b1', 'n-b2', 'n-c1', 'n-c3'],
              },
            ],
          },
        ],
        workflows: [
          {
            id: 'repair-0-s0-f',
            kind: 'repair',
            pgId: 0,
            fromNode: 'n-c2',
            toNode: 'n-c3',
            fromSegment: 's0-f',
            toSegment: 's0-g',
            state: 'done',
            startedAtMs: 1000,
            updatedAtMs: 5000,
            note: 'n-c2 lost its disk',
          },
        ],
        backups: [{ pgId: 0, segmentId: 's0-a', backedUpThrough: '1234', updatedAtMs: 6000 }],
      },
    });
    // Re-indenting by hand keeps it readable; changing a value does not.
    expect(decodeMetadataDocument(JSON.stringify(JSON.parse(GOLDEN_V1), undefined, 4)).ok).toBe(true);
    expect(decodeMetadataDocument(GOLDEN_V1.replace('"1234"', '"1235"')).ok).toBe(false);
  });

  it('treats a write that breaks a record rule as a bug (assertion), before storing anything', () => {
    const content = sampleContent('bad');
    const badWrites: MetadataContent[] = [
      { ...content, volumes: [{ ...sampleVolume('orders', 2), pgs: [sixMembers(1, '1')] }] }, // not dense
      { ...content, volumes: [sampleVolume('orders', 1), sampleVolume('orders', 1)] },
      { ...content, cluster: { writer: undefined, volumeEpoch: '18446744073709551616' } }, // 2^64
      { ...content, workflows: [workflow('twice', 'done', 1), workflow('twice', 'planned', 2)] },
      { ...content, volumes: [{ ...sampleVolume('orders', 1), extra: true } as VolumeRecord] },
      {
        ...content,
        workflows: Array.from({ length: 1001 }, (_, i) => workflow(`open-${i}`, 'hydrating', i)),
      },
    ];
    for (const next of badWrites) expect(() => prepareWrite(1, next)).toThrow(AssertionError);
  });
});
