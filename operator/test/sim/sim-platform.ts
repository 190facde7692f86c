/**
 * The simulated platform the control plane runs on (platform = simulated processes): the engine's
 * simulator harness (db-engine/test/support/sim-volume.ts: six real storage cores s1…s6 holding every
 * PG, spare storage cores that hold none, the real quorum driver and volume directory on engine e1)
 * plus the control plane as one more simulated process (`op`, control-plane.ts).
 *
 * `SimPlatform` is the control plane's `ControlPort`: its observations read the cores and the driver
 * directly (a readiness probe answers when the process runs, its core serves, and the network links
 * between `op` and it are up — a partitioned or isolated node does not answer), and its calls are the
 * cores' and the driver's own methods (`createSegment`, `updateMembership`, `dropSegment`,
 * `changeMembership`), each refused at once when the node does not answer, as a refused connection.
 *
 * Restarts for an upgrade are a stop of the process — graceful (the core's own `stop`), a process
 * crash or a power loss, as the seed draws — and a start on the same disk after a random downtime,
 * "on the new version" (the platform records the version each member was started with).
 */
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  isNorthlightError,
  type NodeId,
  NorthlightError,
  type Result,
  type SegmentId,
} from '@northlight/protocol';
import type { NetworkFaultRates, SimCluster } from '@northlight/sim';
import type { StorageNodeCore } from '@northlight/storage-node';
import type { LocalVolumeDirectory } from '../../../db-engine/src/core/local-directory.js';
import type { DriverOptions, QuorumDriver } from '../../../db-engine/src/core/quorum-driver.js';
import type { PgPlacement } from '../../../db-engine/src/core/volume.js';
import { type EngineHandle, SimVolume, STORAGE_NODES } from '../../../db-engine/test/support/sim-volume.js';
import type { MembershipChange, RepairInFlight } from '../../src/core/repair-plan.js';
import type { StorageSegmentView, VolumeJsonPg } from '../../src/io/repair-executor.js';
import {
  type ControlJournal,
  type ControlPlaneConfig,
  type ControlPort,
  type EngineView,
  type JournalEntry,
  type Outcome,
  type SegmentToCreate,
  SimControlPlane,
  type StorageNodeRef,
  type WriterView,
} from './control-plane.js';

export const OPERATOR = 'op';
export const WRITER = 'e1';
export const INITIAL_VERSION = 'v1';

export type StopMode = 'graceful' | 'process' | 'power-loss';

export interface PlatformOptions {
  readonly seed: number;
  /** Storage nodes holding no PG: [id, zone]. */
  readonly spares: readonly (readonly [string, string])[];
  readonly network: Partial<NetworkFaultRates>;
  /** The workload's own random numbers (restart modes and downtimes). */
  readonly random: () => number;
  /** How an upgrade stops a member: one of these, drawn per restart. */
  readonly stopModes: readonly StopMode[];
  /** Downtime of a restarted member, drawn uniformly in [min, max] ms. */
  readonly restartDownMs: readonly [number, number];
  /** Overrides for the writer's driver (e.g. the batching of an older engine, to replay a seed). */
  readonly driverOptions?: Partial<DriverOptions>;
  /** Storage stages to the object store (default true); false is `objectStore: none`. */
  readonly backups?: boolean;
}

/** The journal as the metadata directory keeps it, each entry stamped with simulated time. */
export class RecordingJournal implements ControlJournal {
  readonly entries: { readonly atMs: number; readonly entry: JournalEntry }[] = [];
  constructor(private readonly cluster: SimCluster) {}

  /** Open repairs by joining segment: what the metadata directory's workflows say is hydrating. */
  readonly #open = new Map<string, { readonly repair: RepairInFlight; readonly membershipEpoch: bigint }>();

  record(entry: JournalEntry): void {
    this.entries.push({ atMs: this.cluster.nowMs(), entry });
    if (entry.kind === 'begin')
      this.#open.set(entry.repair.joiningSegment, {
        repair: entry.repair,
        membershipEpoch: entry.membershipEpoch,
      });
    if (entry.kind === 'complete' || entry.kind === 'revert') this.#open.delete(entry.repair.joiningSegment);
    if (entry.kind !== 'note' && entry.kind !== 'blocked')
      this.cluster.note(`control plane: ${entry.kind} ${'reason' in entry ? entry.reason : ''}`);
  }

  open(): readonly { readonly repair: RepairInFlight; readonly membershipEpoch: bigint }[] {
    return [...this.#open.values()];
  }
}

export class SimPlatform implements ControlPort {
  readonly volume: SimVolume;
  readonly cluster: SimCluster;
  readonly storageNodes: readonly StorageNodeRef[];
  readonly journal: RecordingJournal;
  readonly #options: PlatformOptions;
  readonly #versions = new Map<string, string>();
  readonly #directories = new WeakMap<EngineHandle, LocalVolumeDirectory>();
  /** Restarts that are stopping or down: member → the version it comes back on. */
  readonly #restarting = new Map<string, string>();

  constructor(options: PlatformOptions) {
    this.#options = options;
    this.volume = new SimVolume(options.seed, [WRITER], options.network, undefined, {
      spareStorage: options.spares,
      // Staging to the object store: a joiner whose peers collected what it needs starts from a backup.
      // Without it (`backups: false`), such a joiner or a member back after its peers' GC needs a
      // peer's snapshot, which the control plane asks for (`ControlPort.hydrate`). Staged at every
      // tick (max delay 0), the cadence the pinned seeds and the coverage marks were found with: a
      // batched cadence collects peers' logs later, and shifts which repairs need a backup.
      storageOptions: { backupIntervalMs: options.backups === false ? 0 : 20, backupMaxDelayMs: 0 },
      ...(options.driverOptions === undefined ? {} : { driverOptions: options.driverOptions }),
    });
    this.cluster = this.volume.cluster;
    this.storageNodes = [...STORAGE_NODES, ...options.spares].map(([nodeId, zone]) => ({ nodeId, zone }));
    this.journal = new RecordingJournal(this.cluster);
  }

  /** Adds the control plane's process (once) and starts it. */
  startControlPlane(config: ControlPlaneConfig): void {
    this.cluster.addNode({
      id: OPERATOR,
      zone: 'control',
      factory: (env) => new SimControlPlane(env, this, config, this.journal),
    });
  }

  zoneOf(nodeId: string): string {
    return this.cluster.node(nodeId).zone;
  }

  core(nodeId: string): StorageNodeCore | undefined {
    return this.cluster.instance<StorageNodeCore>(nodeId);
  }

  /** The running writer's driver, whatever its state. */
  driver(): QuorumDriver | undefined {
    return this.cluster.node(WRITER).running ? this.volume.engine(WRITER).driver : undefined;
  }

  /** The running writer's PG layouts (undefined while its directory is not open). */
  placements(): readonly PgPlacement[] | undefined {
    if (!this.cluster.node(WRITER).running) return undefined;
    const handle = this.volume.engine(WRITER);
    const directory = this.#directories.get(handle);
    if (directory === undefined)
      void handle.directory.then((opened) => this.#directories.set(handle, opened));
    return directory?.pgs();
  }

  /** A node is up for the others: its process runs, its core serves, and `from` reaches it both ways. */
  reaches(from: string, nodeId: string): boolean {
    const network = this.cluster.network;
    return (
      this.core(nodeId)?.state === 'serving' &&
      network.isLinkUp(asNodeId(from), asNodeId(nodeId)) &&
      network.isLinkUp(asNodeId(nodeId), asNodeId(from))
    );
  }

  // ---- ControlPort: observations ----------------------------------------------------------------

  storageReady(nodeId: string): boolean {
    return this.reaches(OPERATOR, nodeId);
  }

  storageSegments(nodeId: string): readonly StorageSegmentView[] | undefined {
    if (!this.storageReady(nodeId)) return undefined;
    return this.core(nodeId)!
      .status()
      .segments.map((segment) => ({
        pgId: segment.pgId,
        segmentId: segment.segmentId,
        scl: segment.scl.toString(),
        membershipEpoch: segment.membershipEpoch.toString(),
        volumeEpoch: segment.volumeEpoch.toString(),
        logBytes: segment.logBytes,
        diskBytes: segment.diskBytes,
        appendRecordsPerSecond: segment.appendRecordsPerSecond,
        readPagesPerSecond: segment.readPagesPerSecond,
        behindPeerGc: segment.behindPeerGc,
      }));
  }

  writer(): WriterView | undefined {
    const driver = this.driver();
    const placements = this.placements();
    if (driver?.state !== 'serving' || placements === undefined) return undefined;
    return { name: WRITER, pgs: placements.map(volumeJsonOf), vdl: driver.vdl ?? 0n };
  }

  engines(): readonly EngineView[] {
    return [
      { name: WRITER, role: 'writer', ready: this.driver()?.state === 'serving', appliedLsn: undefined },
    ];
  }

  versionOf(member: string): string | undefined {
    return this.#versions.get(member) ?? INITIAL_VERSION;
  }

  // ---- ControlPort: calls -----------------------------------------------------------------------

  async changeMembership(writer: string, change: MembershipChange): Promise<Outcome<bigint | undefined>> {
    const driver = writer === WRITER ? this.driver() : undefined;
    if (driver === undefined || driver.state !== 'serving')
      return { ok: false, text: `${writer} does not serve` };
    try {
      const applied = await driver.changeMembership(asPgId(change.pgId), {
        membershipEpoch: asEpoch(change.membershipEpoch),
        quorumSet: {
          configurations: change.quorumSet.configurations.map((configuration) =>
            configuration.map(asSegmentId),
          ),
          hydrating: change.quorumSet.hydrating.map(asSegmentId),
        },
        nodeOf: new Map(
          Object.entries(change.nodeOf).map(([segment, node]) => [asSegmentId(segment), asNodeId(node)]),
        ),
      });
      return { ok: true, value: applied.hydrationTarget };
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      return { ok: false, text: `${error.code}: ${error.message}` };
    }
  }

  createSegment(nodeId: string, segment: SegmentToCreate): Promise<Outcome<unknown>> {
    if (!this.storageReady(nodeId)) return refused(nodeId);
    return this.core(nodeId)!
      .createSegment({
        pgId: asPgId(segment.pgId),
        segmentId: asSegmentId(segment.segmentId),
        membershipEpoch: asEpoch(segment.membershipEpoch),
        members: segment.members.map(asSegmentId),
        memberNodes: segment.memberNodes.map(asNodeId),
        volumeEpoch: asEpoch(segment.volumeEpoch),
      })
      .then(outcomeOf);
  }

  updateMembership(
    nodeId: string,
    pgId: number,
    segmentId: string,
    membershipEpoch: bigint,
    members: readonly string[],
    memberNodes: readonly string[],
  ): Promise<Outcome<unknown>> {
    if (!this.storageReady(nodeId)) return refused(nodeId);
    return this.core(nodeId)!
      .updateMembership(
        asPgId(pgId),
        asSegmentId(segmentId),
        asEpoch(membershipEpoch),
        members.map(asSegmentId),
        memberNodes.map(asNodeId),
      )
      .then(outcomeOf);
  }

  dropSegment(nodeId: string, pgId: number, segmentId: string): Promise<Outcome<unknown>> {
    if (!this.storageReady(nodeId)) return refused(nodeId);
    return this.core(nodeId)!.dropSegment(asPgId(pgId), asSegmentId(segmentId)).then(outcomeOf);
  }

  /**
   * `POST …/hydrate` on `nodeId`: its core opens a snapshot stream from the source's core (what its
   * admin server does over HTTP) and installs it. The two cores stream through a `SnapshotPipe`; if
   * either node stops meanwhile, the stream fails as a reset connection would.
   */
  hydrate(
    nodeId: string,
    pgId: number,
    segmentId: string,
    sourceNode: string,
    sourceSegmentId: string,
    bytesPerSecond?: number,
  ): Promise<Outcome<{ readonly scl: bigint; readonly bytes: number; readonly ms: number }>> {
    if (!this.storageReady(nodeId)) return refused(nodeId) as Promise<Outcome<never>>;
    const target = this.core(nodeId)!;
    if (bytesPerSecond !== undefined) {
      // As the admin server does: the limit first, for this hydration and the node's others.
      const limit = target.setHydrationBytesPerSecond(bytesPerSecond);
      if (!limit.ok) return Promise.resolve(outcomeOf(limit) as Outcome<never>);
    }
    const open = async (): Promise<AsyncIterable<Uint8Array>> => {
      const source = this.storageReady(sourceNode) ? this.core(sourceNode) : undefined;
      if (source === undefined)
        throw new NorthlightError('NL_NETWORK_UNREACHABLE', `${sourceNode} does not answer`);
      const pipe = new SnapshotPipe(() => this.core(sourceNode) === source && this.core(nodeId) === target);
      void source
        .snapshotSegment(asPgId(pgId), asSegmentId(sourceSegmentId), (part) => pipe.write(part))
        .then((result) => pipe.close(result.ok ? undefined : result.error))
        .catch((error: unknown) => {
          // A bug in the source, not a transport failure: the stream ends, and the error surfaces.
          pipe.close(new NorthlightError('NL_NETWORK_UNREACHABLE', 'the source failed'));
          throw error;
        });
      return pipe;
    };
    const hydrated = target
      .hydrateFromSnapshot(asPgId(pgId), asSegmentId(segmentId), open, sourceNode)
      .then((result) => outcomeOf(result))
      .then((outcome) =>
        outcome.ok
          ? {
              ok: true as const,
              value: { scl: outcome.value.scl, bytes: outcome.value.bytes, ms: outcome.value.ms },
            }
          : outcome,
      );
    // The request's connection: it fails when the target stops (its answer then never comes).
    const stopped = new Promise<Outcome<never>>((resolve) => {
      const watch = () => {
        if (this.core(nodeId) !== target)
          resolve({ ok: false, text: `${nodeId} stopped during the hydration` });
        else if (!settled) this.cluster.after(50, `hydrate-watch ${nodeId}`, watch);
      };
      this.cluster.after(50, `hydrate-watch ${nodeId}`, watch);
    });
    let settled = false;
    return Promise.race([hydrated.finally(() => (settled = true)), stopped]);
  }

  // ---- ControlPort: the process layer -----------------------------------------------------------

  restartStorage(nodeId: string, version: string): void {
    this.#restart(nodeId, version);
  }

  restartEngine(name: string, version: string): void {
    this.#restart(name, version);
  }

  /** Members stopped by an upgrade and not started again yet. */
  get restarting(): ReadonlySet<string> {
    return new Set(this.#restarting.keys());
  }

  #restart(member: string, version: string): void {
    if (this.#restarting.has(member) || !this.cluster.node(member).running) return;
    const random = this.#options.random;
    const modes = this.#options.stopModes;
    const mode = modes[Math.floor(random() * modes.length)]!;
    const [downMin, downMax] = this.#options.restartDownMs;
    const downMs = downMin + random() * (downMax - downMin);
    this.#restarting.set(member, version);
    this.cluster.note(`platform: restarting ${member} on ${version} (${mode}, down ${downMs.toFixed(0)} ms)`);
    if (mode === 'graceful') this.cluster.stop(member, { graceMs: 1_000 });
    else this.cluster.crash(member, { kind: mode });
    this.#startLater(member, downMs);
  }

  #startLater(member: string, delayMs: number): void {
    this.cluster.after(delayMs, `platform-start ${member}`, () => {
      if (this.cluster.node(member).running) {
        this.#startLater(member, 20); // a graceful stop still draining
        return;
      }
      this.#versions.set(member, this.#restarting.get(member)!);
      this.#restarting.delete(member);
      this.cluster.start(member);
    });
  }
}

/**
 * A snapshot's stream between two simulated cores, as the socket between their admin servers: parts
 * in order; it fails (a reset connection) when either core is gone, and ends with the source's error.
 */
class SnapshotPipe implements AsyncIterable<Uint8Array> {
  readonly #queue: Uint8Array[] = [];
  #waiting: (() => void) | undefined;
  #closed = false;
  #error: NorthlightError | undefined;

  constructor(private readonly alive: () => boolean) {}

  async write(part: Uint8Array): Promise<void> {
    if (this.#closed || !this.alive())
      throw new NorthlightError('NL_NETWORK_UNREACHABLE', 'the snapshot stream was reset');
    this.#queue.push(part.slice());
    this.#wake();
  }

  close(error?: NorthlightError): void {
    this.#closed = true;
    this.#error ??= error;
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (!this.alive()) throw new NorthlightError('NL_NETWORK_UNREACHABLE', 'the snapshot stream was reset');
      const next = this.#queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#closed) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
    }
  }
}

function refused(nodeId: string): Promise<Outcome<unknown>> {
  return Promise.resolve({ ok: false, text: `${nodeId} does not answer` });
}

function outcomeOf<T>(result: Result<T>): Outcome<T> {
  return result.ok
    ? { ok: true, value: result.value }
    : { ok: false, text: `${result.error.code}: ${result.error.message}` };
}

/** A placement as the writer's `GET /v1/volume` shows it. */
export function volumeJsonOf(placement: PgPlacement): VolumeJsonPg {
  return {
    pgId: placement.pgId,
    membershipEpoch: placement.membershipEpoch.toString(),
    members: [...placement.members],
    nodeOf: Object.fromEntries(placement.nodeOf) as Record<SegmentId, NodeId>,
    configurations: placement.quorumSet.configurations.map((configuration) => [...configuration]),
    hydrating: [...placement.quorumSet.hydrating],
  };
}
