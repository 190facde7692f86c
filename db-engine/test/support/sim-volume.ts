/**
 * A volume in the simulator: six real `StorageNodeCore`s (s1…s6, two per zone) and engine nodes
 * running the real `QuorumDriver` with the real `DiskEpochStore` and `LocalVolumeDirectory` on their
 * simulated disks. The directory's segment provisioner calls the storage cores directly (the admin
 * API is HTTP, outside the simulator); a crashed node's provisioning fails with
 * NL_NETWORK_UNREACHABLE, as a refused connection would.
 *
 * The test plays the SQL kernel: it submits groups of page diffs and keeps a model of what each
 * group wrote (`Model`), so any read can be checked against the prefix of groups it must reflect.
 */
import {
  asNodeId,
  type DiffRun,
  type Environment,
  type Lsn,
  type NodeId,
  NorthlightError,
  type PgId,
} from '@northlight/protocol';
import { type NetworkFaultRates, SimCluster } from '@northlight/sim';
import { StorageNodeCore, type StorageNodeOptions } from '@northlight/storage-node';
import { expect } from 'vitest';
import { DiskEpochStore } from '../../src/core/epoch-store.js';
import { LocalVolumeDirectory, type SegmentProvisioner } from '../../src/core/local-directory.js';
import {
  type DriverEvents,
  type DriverOptions,
  type PageDiff,
  QuorumDriver,
  type RecoveryReport,
} from '../../src/core/quorum-driver.js';
import type { EpochStore, PgPlacement } from '../../src/core/volume.js';

export const STORAGE_NODES = [
  ['s1', 'a'],
  ['s2', 'a'],
  ['s3', 'b'],
  ['s4', 'b'],
  ['s5', 'c'],
  ['s6', 'c'],
] as const;

export const PAGE_SIZE = 256;
export const PAGES_PER_PG = 8;

export const STORAGE_OPTIONS: StorageNodeOptions = {
  pageSizeBytes: PAGE_SIZE,
  pagesPerPg: PAGES_PER_PG,
  logFileBytes: 16 * 1024,
  logPreallocateBytes: 4096,
  materializeIntervalMs: 20,
  hintPersistIntervalMs: 5,
  controlLogCompactBytes: 16 * 1024,
  gossipIntervalMs: 100,
  gossipPullTimeoutMs: 300,
};

export const DRIVER_OPTIONS: Partial<DriverOptions> = {
  lsnAllocationLimit: 10_000n,
  flushIntervalMs: 1,
  resendIntervalMs: 50,
  recoveryGraceMs: 50,
  recoveryTimeoutMs: 2_000,
  pageReadTimeoutMs: 3_000,
  pageReadAttemptMs: 100,
  writeQuorumTimeoutMs: 1_500,
  minReadPointIntervalMs: 200,
  pageSizeBytes: PAGE_SIZE,
};

/** What an engine incarnation exposes to the test. */
export interface EngineHandle {
  /** Set once the directory is open and the volume has its first PG. */
  driver: QuorumDriver | undefined;
  readonly directory: Promise<LocalVolumeDirectory>;
  started: Promise<RecoveryReport> | undefined;
  fenced: boolean;
  /** The driver's events, forwarded here (a test playing the engine sets what it listens to). */
  readonly events: DriverEvents;
}

/** Page size and PG size of a simulated volume (the SQL kernel needs 4 KiB pages). */
export interface VolumeGeometry {
  readonly pageSizeBytes: number;
  readonly pagesPerPg: number;
}

export const TOY_GEOMETRY: VolumeGeometry = { pageSizeBytes: PAGE_SIZE, pagesPerPg: PAGES_PER_PG };

/** A group the test submitted: its page writes (whole-page images, as runs from offset 0). */
export interface SubmittedGroup {
  readonly seq: number;
  /** The number stamped into every page the group wrote. */
  readonly stamp: number;
  readonly engine: string;
  readonly epoch: bigint;
  readonly pages: ReadonlyMap<number, Uint8Array>;
  acknowledged: boolean;
}

export class SimVolume {
  readonly cluster: SimCluster;
  readonly engines = new Map<string, EngineHandle>();
  /**
   * One epoch allocator shared by every engine node, standing in for the control plane's (set it
   * for tests with two writers; otherwise each engine keeps its epoch on its own disk).
   */
  epochStore: EpochStore | undefined;

  readonly geometry: VolumeGeometry;
  readonly #driverOptions: Partial<DriverOptions>;

  /**
   * Called before every simulator step that `settle` and `wait` run (a checker that samples the
   * cluster at every step, as operator/test/sim does); undefined, the default: nothing is called.
   */
  stepObserver: (() => void) | undefined;

  /**
   * A PG list to seed an engine's directory with before it opens it (`LocalVolumeDirectory.seed`), as
   * a replica being promoted writes the list it last read from the writer it followed
   * (src/replica.ts): set it before starting the engine.
   */
  readonly directorySeeds = new Map<string, readonly PgPlacement[]>();

  /**
   * `more.spareStorage`: more storage cores ([id, zone]) that no PG is placed on: where a repair puts
   * the segment that replaces a failed one (the directory places PGs on STORAGE_NODES only).
   * `more.storageOptions`: overrides for every storage core (e.g. staging to the object store).
   * `more.driverOptions`: overrides for every engine's driver (DRIVER_OPTIONS).
   */
  constructor(
    seed: number,
    engines: readonly string[] = ['e1'],
    network: Partial<NetworkFaultRates> = {},
    geometry: VolumeGeometry = TOY_GEOMETRY,
    more: {
      readonly spareStorage?: readonly (readonly [string, string])[];
      readonly storageOptions?: Partial<StorageNodeOptions>;
      readonly driverOptions?: Partial<DriverOptions>;
    } = {},
  ) {
    this.geometry = geometry;
    this.#driverOptions = more.driverOptions ?? {};
    this.cluster = new SimCluster({ seed, logLevelMin: 'error', network });
    const storageOptions: StorageNodeOptions = {
      ...STORAGE_OPTIONS,
      ...geometry,
      logFileBytes: Math.max(STORAGE_OPTIONS.logFileBytes!, 16 * geometry.pageSizeBytes),
      logPreallocateBytes: Math.max(STORAGE_OPTIONS.logPreallocateBytes!, geometry.pageSizeBytes),
      controlLogCompactBytes: Math.max(STORAGE_OPTIONS.controlLogCompactBytes!, 16 * geometry.pageSizeBytes),
      ...more.storageOptions,
    };
    for (const [id, zone] of [...STORAGE_NODES, ...(more.spareStorage ?? [])]) {
      this.cluster.addNode({
        id,
        zone,
        factory: (env) => {
          const core = new StorageNodeCore(env, storageOptions);
          void core.start();
          return core;
        },
      });
    }
    for (const id of engines) {
      this.cluster.addNode({ id, zone: 'a', factory: (env) => this.#engine(id, env), start: false });
    }
  }

  #engine(id: string, env: Environment): EngineHandle {
    const provisioner: SegmentProvisioner = {
      createSegment: async (nodeId: NodeId, spec) => {
        const core = this.cluster.instance<StorageNodeCore>(nodeId);
        if (core === undefined || core.state !== 'serving')
          throw new NorthlightError('NL_NETWORK_UNREACHABLE', `storage node ${nodeId} is down`);
        // A node that crashes mid-call never answers (its promises never settle in the simulator):
        // time out as the HTTP provisioner does.
        const result = await Promise.race([
          core.createSegment(spec),
          new Promise<never>((_, reject) =>
            env.clock.setTimer(500, () =>
              reject(new NorthlightError('NL_NETWORK_UNREACHABLE', `storage node ${nodeId} did not answer`)),
            ),
          ),
        ]);
        if (!result.ok) throw result.error;
      },
      // The admin API's GET /v1/segments/:segmentId, read from the core (undefined: down or none).
      readMembership: async (nodeId: NodeId, pgId, segmentId) => {
        const core = this.cluster.instance<StorageNodeCore>(nodeId);
        if (core === undefined || core.state !== 'serving') return undefined;
        const segment = core
          .status()
          .segments.find((candidate) => candidate.pgId === pgId && candidate.segmentId === segmentId);
        if (segment === undefined) return undefined;
        return {
          membershipEpoch: segment.membershipEpoch,
          members: segment.members,
          memberNodes: segment.memberNodes.map((node) => asNodeId(node)),
        };
      },
    };
    const open = () =>
      LocalVolumeDirectory.open({
        disk: env.disk,
        directory: '/engine',
        pagesPerPg: this.geometry.pagesPerPg,
        nodes: STORAGE_NODES.map(([nodeId, zone]) => ({ nodeId: asNodeId(nodeId), zone })),
        provisioner,
      });
    const seed = this.directorySeeds.get(id);
    // Unseeded, opened at once as always (an extra await would shift every seed's schedule).
    const directory =
      seed === undefined
        ? open()
        : LocalVolumeDirectory.seed({
            disk: env.disk,
            directory: '/engine',
            pagesPerPg: this.geometry.pagesPerPg,
            pgs: seed,
          }).then(open);
    const handle: EngineHandle = {
      driver: undefined,
      directory,
      started: undefined,
      fenced: false,
      events: {},
    };
    handle.started = (async () => {
      const dir = await directory;
      // A new volume gets its first PG before the first recovery (a volume has at least one PG).
      while (dir.pgs().length === 0) {
        try {
          await dir.addPg();
        } catch (error) {
          if (!(error instanceof NorthlightError)) throw error;
          await new Promise<void>((resolve) => env.clock.setTimer(100, resolve));
        }
      }
      const driver = new QuorumDriver(
        env,
        dir,
        this.epochStore ?? new DiskEpochStore(env.disk, '/engine'),
        { ...DRIVER_OPTIONS, pageSizeBytes: this.geometry.pageSizeBytes, ...this.#driverOptions },
        {
          allocated: (seq, lsns) => handle.events.allocated?.(seq, lsns),
          mtr: (records) => handle.events.mtr?.(records),
          recovered: (report) => handle.events.recovered?.(report),
          vdlAdvanced: (vdl) => handle.events.vdlAdvanced?.(vdl),
          acceptingChanged: (accepting) => handle.events.acceptingChanged?.(accepting),
          fenced: (epoch, newer) => {
            handle.fenced = true;
            handle.events.fenced?.(epoch, newer);
          },
        },
      );
      handle.driver = driver;
      return driver.start();
    })();
    this.engines.set(id, handle);
    return handle;
  }

  engine(id = 'e1'): EngineHandle {
    return this.engines.get(id)!;
  }

  startEngine(id = 'e1'): EngineHandle {
    this.cluster.start(id);
    return this.engine(id);
  }

  async settle(predicate: () => boolean, limitMs = 20_000): Promise<void> {
    const observed = () => {
      this.stepObserver?.();
      return predicate();
    };
    await this.cluster.runUntil(observed, { timeLimitMs: this.cluster.nowMs() + limitMs });
    expect(predicate(), 'settled').toBe(true);
  }

  async serving(id = 'e1'): Promise<QuorumDriver> {
    await this.settle(() => this.engine(id).driver?.state === 'serving');
    return this.engine(id).driver!;
  }

  /** Waits for a promise while the simulation runs (it only progresses inside runUntil). */
  async wait<T>(promise: Promise<T>, limitMs = 20_000): Promise<T> {
    let settled = false;
    let value: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then(
      (result) => {
        settled = true;
        value = { ok: true, value: result };
      },
      (error: unknown) => {
        settled = true;
        value = { ok: false, error };
      },
    );
    await this.settle(() => settled, limitMs);
    if (!value!.ok) throw value!.error;
    return value!.value;
  }
}

/** A page image stamped with the group that wrote it: u32 seq, then a byte pattern of the seq. */
export function pageImage(seq: number, pageNo: number): Uint8Array {
  const bytes = new Uint8Array(PAGE_SIZE);
  new DataView(bytes.buffer).setUint32(0, seq, true);
  new DataView(bytes.buffer).setUint32(4, pageNo, true);
  for (let index = 8; index < PAGE_SIZE; index++) bytes[index] = (seq * 31 + index) & 0xff;
  return bytes;
}

/** The diff that turns any page into `image` (one run over the whole page). */
export function wholePage(pageNo: number, image: Uint8Array): PageDiff {
  const runs: DiffRun[] = [{ offset: 0, bytes: image }];
  return { pageNo, runs };
}

export function stampOf(page: Uint8Array): number {
  return page.length < 4 ? 0 : new DataView(page.buffer, page.byteOffset, page.byteLength).getUint32(0, true);
}

export function lsnOf(value: Lsn | undefined): bigint {
  return value ?? -1n;
}

export type { PgId };

/**
 * The campaigns' storage crashes: at each `step`, the nodes whose downtime is over restart, and with
 * `probability` one more node crashes (power loss or process, even odds) for 50–450 ms. Never more
 * than two are down at once, so a write quorum stays possible.
 */
export class StorageCrashes {
  readonly #down = new Map<string, number>(); // storage node → sim time to restart it
  count = 0;

  constructor(
    private readonly volume: SimVolume,
    private readonly random: () => number,
    private readonly probability: number,
  ) {}

  step(): void {
    const cluster = this.volume.cluster;
    for (const [node, at] of [...this.#down]) {
      if (cluster.nowMs() < at) continue;
      cluster.start(node);
      this.#down.delete(node);
    }
    if (this.random() < this.probability && this.#down.size < 2) {
      const candidates = STORAGE_NODES.map(([node]) => node).filter((node) => !this.#down.has(node));
      const node = candidates[Math.floor(this.random() * candidates.length)]!;
      cluster.crash(node, { kind: this.random() < 0.5 ? 'power-loss' : 'process' });
      this.#down.set(node, cluster.nowMs() + 50 + this.random() * 400);
      this.count++;
    }
  }

  /** Every node up again. */
  healAll(): void {
    for (const node of this.#down.keys()) this.volume.cluster.start(node);
    this.#down.clear();
  }
}
