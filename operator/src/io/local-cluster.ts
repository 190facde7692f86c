/**
 * The local platform: a whole cluster as processes on this machine, zones as labels — what
 * `northlight up` runs. One object owns the processes (`LocalProcesses`), the stable endpoints (two
 * `TcpProxy`s), the embedded S3-compatible store and the control loop; the control API
 * (control-server.ts) and the CLI talk to it.
 *
 * Start order, each step waiting for readiness and reporting progress:
 *   1. the embedded object store (s3rver) when the spec asks for it;
 *   2. every storage node (their --peers name each other);
 *   3. the writer (recovers the volume under a new epoch; on a second `up` the same data);
 *   4. the replicas (they follow the writer's redo stream);
 *   5. the read-write and read-only endpoints and the control API.
 * Nothing is left running if a step fails: everything started so far is stopped and the error says
 * which step and where its log is. The same holds when `stop` is called during the start (Ctrl-C,
 * SIGTERM or `down` while it starts): the start ends at its next checkpoint (before each step, and at
 * every readiness poll) with StartInterruptedError, and only then are the members stopped, in order,
 * so nothing is spawned or bound after the stop has begun.
 *
 * The control loop (every CONTROL_INTERVAL_MS) observes the engines and executes `planEngines`
 * (failover: src/core/engine-plan.ts), and starts crashed storage nodes again with a backoff (a
 * member stopped on purpose by kill-node stays down).
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assert } from '@northlight/protocol';
import { packageRootOf } from '@northlight/protocol/bundle-pointer';
import {
  CLAIM_LEASE_MS,
  freePorts,
  nodeEntryArgs,
  processAlive,
  processStartTicks,
  refreshPortClaims,
} from '@northlight/protocol/io';
import type { ClusterSpec } from '../core/cluster-spec.js';
import type { ClusterPhase, VolumeObservation } from '../core/cluster-status.js';
import {
  repairPolicyOf,
  SWITCHOVER_FENCE_TIMEOUT_MS,
  UPGRADE_BATCH_SIZE_MAX,
  WRITER_FAILOVER_GRACE_MS,
} from '../core/control-policy.js';
import { type EngineAction, type EngineRole, type ObservedEngine, planEngines } from '../core/engine-plan.js';
import type { VolumeRecord, WorkflowRecord } from '../core/metadata.js';
import type { NodeHealth } from '../core/repair-plan.js';
import {
  fixedPorts,
  type PortLayout,
  planTopology,
  portsFromList,
  portsNeeded,
  type Topology,
} from '../core/topology.js';
import { planUpgrade, type UpgradeEngine, type UpgradeNode, type UpgradeStep } from '../core/upgrade-plan.js';
import { localControlMetrics } from './control-metrics.js';
import { engineAuthorization, getJson, OBSERVE_TIMEOUT_MS, postEngineAdmin } from './http-json.js';
import {
  LocalProcesses,
  type MemberSpec,
  probeReady,
  runningMembersOf,
  stopStalePids,
} from './local-processes.js';
import {
  RepairExecutor,
  type StorageSegmentView,
  upgradeHealth,
  type VolumeJsonPg,
} from './repair-executor.js';
import { type ProxyTarget, TcpProxy } from './tcp-proxy.js';

/**
 * The repository's root: above the operator package, found by its package.json from this module, which
 * is `operator/src/io/` when run from source and `operator/node_modules/.cache/northlight/…/` when run
 * from the CLI's bundle (bin/northlight.js).
 */
const repositoryRoot = dirname(packageRootOf(fileURLToPath(import.meta.url)));

export const STATE_FILE = 'cluster.json';

/**
 * For performance work: with NORTHLIGHT_CPU_PROFILE_DIR set, storage nodes and engines run with V8's
 * sampling profiler and write a .cpuprofile into `<dir>/<member>/` when they exit cleanly (`down` or
 * `kill-node`; a SIGKILL writes none). NODE_OPTIONS cannot carry --cpu-prof, hence this. Profiling
 * every member of a cluster on two cores slows it several times over (a repair took 4× longer):
 * NORTHLIGHT_CPU_PROFILE_MEMBERS (comma-separated names) profiles only those.
 */
function profilingArgs(member: string): string[] {
  const directory = process.env.NORTHLIGHT_CPU_PROFILE_DIR;
  if (directory === undefined || directory === '') return [];
  const only = process.env.NORTHLIGHT_CPU_PROFILE_MEMBERS;
  if (
    only !== undefined &&
    only !== '' &&
    !only
      .split(',')
      .map((name) => name.trim())
      .includes(member)
  )
    return [];
  return ['--cpu-prof', '--cpu-prof-dir', join(resolve(directory), member)];
}
/** The PostgreSQL user clients log in as, and the file (mode 0600) holding its generated password. */
export const PG_USER = 'postgres';
export const PG_PASSWORD_FILE = 'pg-password';
/** The database name the connection URLs use (any name reaches the volume's one database). */
export const PG_DATABASE = 'northlight';

/**
 * The file (mode 0600) holding the cluster's internal token: the bearer token the engines' internal
 * HTTP routes (/v1/status, /v1/volume, /v1/replication/*, /v1/admin/*) take, held by the control plane
 * and the engines (db-engine/src/io/http-auth.ts).
 */
export const INTERNAL_TOKEN_FILE = 'internal-token';

/**
 * A secret of the cluster kept in `dataDir/file`: generated at the first `up` (24 random bytes,
 * base64url), readable by its owner only; every later `up` uses the same one.
 */
function clusterSecretOf(dataDir: string, file: string): string {
  const path = join(dataDir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

/** The cluster's PostgreSQL password (also the HTTP Basic password of POST /v1/sql). */
export function pgPasswordOf(dataDir: string): string {
  return clusterSecretOf(dataDir, PG_PASSWORD_FILE);
}

/** The cluster's internal token (`INTERNAL_TOKEN_FILE`). */
export function internalTokenOf(dataDir: string): string {
  return clusterSecretOf(dataDir, INTERNAL_TOKEN_FILE);
}

/** A libpq connection URL for an endpoint of the cluster in `dataDir`. */
export function pgUrl(dataDir: string, port: number): string {
  return `postgresql://${PG_USER}:${encodeURIComponent(pgPasswordOf(dataDir))}@127.0.0.1:${port}/${PG_DATABASE}`;
}
const STATE_FORMAT = 'northlight-local/1';
export const CONTROL_INTERVAL_MS = 500;
/** Readiness waits at start: recovery of a large volume can take a while. */
const READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 100;
/** Log lines a start failure quotes: the member's own last words, so the cause survives its directory. */
const START_FAILURE_LOG_LINES = 8;
/** Backoff between restarts of a crashing storage node or object store. */
const RESTART_BACKOFF_MS = [500, 1_000, 2_000, 5_000, 10_000] as const;
export const MAX_EVENTS = 200;
/** Control-loop steps between two copies of the writer's PG layouts into the metadata directory. */
const VOLUME_RECORD_INTERVAL_STEPS = 10;
/** The embedded object store's fixed credentials (s3rver accepts only these). */
const EMBEDDED_S3_KEY = 'S3RVER';
const EMBEDDED_S3_BUCKET = 'northlight-backups';

export interface ClusterEvent {
  readonly atMs: number;
  readonly message: string;
}

/** What `up` leaves in the data directory while it runs, for `status`, `sql` and `down`. */
export interface StateFile {
  readonly format: string;
  readonly cluster: string;
  readonly pid: number;
  /** When `pid` started (clock ticks after boot), so a recycled pid is not taken for a running `up`. */
  readonly pidStartTicks?: string;
  readonly controlUrl: string;
  readonly ports: PortLayout;
  readonly pids: readonly number[];
  /** When this `up` started. */
  readonly startedAt: string;
  /** What `up` was given beyond its data directory, for the hint to start it again the same way. */
  readonly upArguments?: UpArguments;
}

export interface LocalClusterOptions {
  readonly spec: ClusterSpec;
  /** Absolute. */
  readonly dataDir: string;
  /** Fixed layout above this port, or 0: free ports. */
  readonly basePort: number;
  /** What `up` was given beyond its data directory (kept in the state file for hints). */
  readonly upArguments?: UpArguments;
  readonly progress: (line: string) => void;
  /** The engine currently recorded as writer (after a failover, not the spec's first). */
  readonly recordedWriter?: string | undefined;
  /** Called when the writer changes, so it can be recorded durably. */
  readonly onWriterChange?: (writer: string) => Promise<void>;
  /** Called with the writer's PG layouts every VOLUME_RECORD_INTERVAL_STEPS steps (the metadata). */
  readonly onVolume?: (volume: VolumeRecord) => Promise<void>;
  /** Called at each repair transition, to journal it (the metadata). */
  readonly onWorkflow?: (workflow: WorkflowRecord) => Promise<void>;
  /** The journal's open workflows (the metadata directory), so orphaned ones get closed. */
  readonly openWorkflows?: () => Promise<readonly WorkflowRecord[]>;
}

/**
 * Whether the `up` a state file names still runs: its pid is alive and, where the file recorded it,
 * started at the same time (so a recycled pid is not taken for it).
 */
export function upRuns(state: StateFile): boolean {
  return (
    processAlive(state.pid) &&
    (state.pidStartTicks === undefined || processStartTicks(state.pid) === state.pidStartTicks)
  );
}

export function readStateFile(dataDir: string): StateFile | undefined {
  const path = join(dataDir, STATE_FILE);
  if (!existsSync(path)) return undefined;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
  return parsed.format === STATE_FORMAT ? parsed : undefined;
}

export class LocalCluster {
  readonly spec: ClusterSpec;
  readonly dataDir: string;
  readonly topology: Topology;
  readonly events: ClusterEvent[] = [];
  ports!: PortLayout;
  /** The PostgreSQL password every engine of the cluster checks (`pgPasswordOf`). */
  readonly pgPassword: string;
  /** The cluster's internal token (`internalTokenOf`): every member's and the control API's. */
  readonly internalToken: string;
  /** What the engines' internal routes and the storage nodes' admin API take: the internal token. */
  readonly internalHeaders: Readonly<Record<string, string>>;
  writer: string;
  promoting: string | undefined;
  readonly roles = new Map<string, EngineRole>();
  readonly #processes: LocalProcesses;
  readonly #upArguments: UpArguments | undefined;
  readonly #progress: (line: string) => void;
  readonly #onWriterChange: ((writer: string) => Promise<void>) | undefined;
  readonly #onVolume: ((volume: VolumeRecord) => Promise<void>) | undefined;
  #steps = 0;
  readonly #ready = new Map<string, boolean>();
  readonly #unreadySinceMs = new Map<string, number>();
  /**
   * The PG layouts the writer last gave (GET /v1/volume), observed every control step: what `status`
   * shows while the writer does not answer.
   */
  lastVolume: VolumeObservation | undefined;
  /** The engine plan's last reason to wait, noted once (undefined: it is not waiting). */
  #lastWait: string | undefined;
  /** Storage nodes: since when each has not answered its probe (any process state). */
  readonly #unreachableSinceMs = new Map<string, number>();
  readonly repairs: RepairExecutor;
  upgrade: UpgradeRun | undefined;
  /** True while a switchover fences the writer: the read-write endpoint holds new connections. */
  switchingOver = false;
  /** The version label each member was started with (NORTHLIGHT_VERSION in its environment). */
  readonly #versions = new Map<string, string>();
  /** The version each engine reported in its last status. */
  readonly #engineVersions = new Map<string, string | undefined>();
  /** Whether each engine's last status was a writer's (it has a driver, no replica role). */
  readonly #servesAsWriter = new Map<string, boolean>();
  /** Each PG's head at the previous upgrade round: what a restarted node must reach. */
  #upgradeHeads: Map<number, bigint> | undefined;
  readonly #appliedLsn = new Map<string, bigint | undefined>();
  readonly #restartAtMs = new Map<string, number>();
  readonly #crashes = new Map<string, number>();
  /** The PostgreSQL endpoints, then the SQL HTTP ones (topology.ts). */
  #readWrite: TcpProxy | undefined;
  #readOnly: TcpProxy | undefined;
  #httpReadWrite: TcpProxy | undefined;
  #httpReadOnly: TcpProxy | undefined;
  #readOnlyTurn = 0;
  #loop: ReturnType<typeof setInterval> | undefined;
  /** The ports `--base-port 0` picked (claimed in the port registry), refreshed while running. */
  #pickedPorts: number[] = [];
  readonly #ownStartTicks = processStartTicks(process.pid);
  readonly #startedAt = new Date().toISOString();
  /** The state file's text as last written: a control round that changed nothing writes nothing. */
  #stateWritten: string | undefined;
  #claimRefresh: NodeJS.Timeout | undefined;
  #wakeRequested = false;
  #stopping = false;
  /** The start's steps while they run (`stop` waits for them to reach a checkpoint). */
  #starting: Promise<void> | undefined;
  /** The start finished (every member ready, endpoints open). */
  #started = false;

  /** Where the cluster's life is, for `status`. */
  get phase(): ClusterPhase {
    if (this.#stopping) return 'stopping';
    return this.#started ? 'running' : 'starting';
  }
  #stopped: Promise<void> | undefined;
  #stepping = false;
  #controlApi: { close(): Promise<void> } | undefined;

  constructor(options: LocalClusterOptions) {
    this.spec = options.spec;
    this.dataDir = options.dataDir;
    this.pgPassword = pgPasswordOf(options.dataDir);
    this.internalToken = internalTokenOf(options.dataDir);
    this.internalHeaders = engineAuthorization(this.internalToken);
    this.#progress = options.progress;
    this.#upArguments = options.upArguments;
    this.#onWriterChange = options.onWriterChange;
    this.#onVolume = options.onVolume;
    const onWorkflow = options.onWorkflow;
    this.repairs = new RepairExecutor({
      note: (message) => this.#note(message),
      journal: async (workflow) => onWorkflow?.(workflow),
      nowMs: () => Date.now(),
      wake: () => this.#wake(),
      ...(options.openWorkflows === undefined ? {} : { openWorkflows: options.openWorkflows }),
    });
    this.topology = planTopology({
      zones: options.spec.storage.zones,
      engines: options.spec.engine.instances,
    });
    const recorded = options.recordedWriter;
    this.writer =
      recorded !== undefined && this.topology.engines.some((engine) => engine.name === recorded)
        ? recorded
        : this.topology.initialWriter;
    // The version each member last ran (an upgrade's) wins over the spec's, which is a new member's.
    const recordedVersions = readMemberVersions(options.dataDir, options.progress);
    for (const engine of this.topology.engines) {
      this.roles.set(engine.name, engine.name === this.writer ? 'writer' : 'replica');
      this.#versions.set(engine.name, recordedVersions.get(engine.name) ?? options.spec.engine.version);
    }
    for (const node of this.topology.storage)
      this.#versions.set(node.nodeId, recordedVersions.get(node.nodeId) ?? options.spec.storage.version);
    this.#processes = new LocalProcesses((name, code, signal) => {
      if (this.#stopping) return;
      // An engine exits 3 when fenced: a switchover's old writer, or one a newer writer replaced. That
      // is the end of its term, not a crash (the control plane starts it again as a replica).
      const fenced = code === 3 && this.topology.engines.some((engine) => engine.name === name);
      this.#note(
        fenced
          ? `${name} stopped: fenced (a newer writer took the volume, or a switchover); it comes back as a replica`
          : `${name} exited (${signal ?? `code ${code}`}); see ${this.logFile(name)}`,
      );
    });
  }

  logFile(name: string): string {
    return join(this.dataDir, 'logs', `${name}.log`);
  }

  /**
   * Runs steps 1–5 of the header; on failure stops what it started and rethrows. A `stop` meanwhile
   * makes it throw StartInterruptedError once everything it started is stopped.
   */
  async start(
    basePort: number,
    controlApi?: (cluster: LocalCluster) => Promise<{ close(): Promise<void> }>,
  ): Promise<void> {
    assert(this.#starting === undefined, 'a LocalCluster starts once');
    this.#starting = this.#startSteps(basePort, controlApi);
    try {
      await this.#starting;
      this.#started = true;
    } catch (error) {
      // A start that failed before it spawned anything (a busy port) has nothing to stop: saying
      // "stopping what was started" would tell the user something ran.
      if (!(error instanceof StartInterruptedError) && this.#processes.views().length > 0)
        this.#progress(`start failed: ${(error as Error).message}; stopping what was started`);
      await this.stop();
      throw error;
    }
  }

  async #startSteps(
    basePort: number,
    controlApi: ((cluster: LocalCluster) => Promise<{ close(): Promise<void> }>) | undefined,
  ): Promise<void> {
    this.#checkpoint();
    // `up` has done both already (before it wrote anything); again here for other callers, and for
    // a port taken meanwhile.
    await claimDataDir(this.dataDir, this.#progress);
    if (basePort === 0) this.#pickedPorts = await freePorts(portsNeeded(this.topology));
    this.ports =
      basePort === 0 ? portsFromList(this.topology, this.#pickedPorts) : fixedPorts(this.topology, basePort);
    await assertPortsFree(this.ports);
    mkdirSync(join(this.dataDir, 'logs'), { recursive: true });
    this.#checkpoint();
    if (this.spec.backup.objectStore.kind === 'embedded') await this.#startObjectStore();
    const nodes = this.topology.storage.map((node) => node.nodeId);
    this.#progress(
      `starting ${nodes.length} storage nodes in zones ${this.spec.storage.zones.map((zone) => zone.name).join(', ')} (${this.#versionsText(nodes)})`,
    );
    this.#checkpoint();
    for (const nodeId of nodes) this.#processes.start(this.#storageSpec(nodeId));
    // Recorded as members start, not only once all serve: an `up` killed mid-start (SIGKILL, a
    // power cut) leaves members in process groups of their own, and the next `up` finds them here.
    this.#writeState();
    await this.#waitReady(nodes);
    this.#controlApi = await controlApi?.(this);
    this.#checkpoint();
    this.#progress(
      `starting the writer ${this.writer} (volume recovery; ${this.#versionsText([this.writer])})`,
    );
    this.#processes.start(this.#engineSpec(this.writer));
    this.#writeState();
    await this.#waitReady([this.writer]);
    const replicas = this.topology.engines.filter((engine) => engine.name !== this.writer);
    if (replicas.length > 0) {
      const names = replicas.map((engine) => engine.name);
      this.#progress(
        `starting ${replicas.length} replica(s): ${names.join(', ')} (${this.#versionsText(names)})`,
      );
      this.#checkpoint();
      for (const name of names) this.#processes.start(this.#engineSpec(name));
      this.#writeState();
      await this.#waitReady(names);
    }
    this.#checkpoint();
    await this.#startEndpoints();
    this.#checkpoint();
    this.#writeState();
    this.#loop = setInterval(() => void this.#step(), CONTROL_INTERVAL_MS);
    // Picked ports stay claimed while the cluster runs, so a member restarted at its port (a crash,
    // start-node, an upgrade) finds it free even after the claims' lease would have lapsed.
    if (this.#pickedPorts.length > 0)
      this.#claimRefresh = setInterval(() => refreshPortClaims(this.#pickedPorts), CLAIM_LEASE_MS / 10);
  }

  /** Where a start gives way to a `stop` that began meanwhile (see the header). */
  #checkpoint(): void {
    if (this.#stopping) throw new StartInterruptedError('the start was interrupted by a stop');
  }

  /** Stops everything, in order; every call returns the same stop, so it may be called from anywhere. */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#stopped ??= (async () => {
      // A start in progress ends at its next checkpoint: after it, nothing more is spawned or bound.
      await this.#starting?.catch(() => {});
      await this.#stopEverything();
    })();
    return this.#stopped;
  }

  async #stopEverything(): Promise<void> {
    if (this.#loop !== undefined) clearInterval(this.#loop);
    if (this.#claimRefresh !== undefined) clearInterval(this.#claimRefresh);
    while (this.#stepping) await sleep(10);
    await this.#controlApi?.close();
    for (const proxy of [this.#readWrite, this.#readOnly, this.#httpReadWrite, this.#httpReadOnly])
      await proxy?.close();
    // Engines first (they drain commits to storage), then storage, then the object store.
    // Nothing to say when nothing was spawned (a start that failed at its port check).
    const spawned = this.#processes.views().length > 0;
    const engines = this.topology.engines.map((engine) => engine.name);
    await Promise.all(engines.map((name) => this.#processes.stop(name)));
    if (spawned) this.#progress('engines stopped; stopping the storage nodes');
    await Promise.all(this.topology.storage.map((node) => this.#processes.stop(node.nodeId)));
    await this.#processes.stopAll();
    if (spawned) this.#progress('storage nodes and object store stopped');
    rmSync(join(this.dataDir, STATE_FILE), { force: true });
  }

  /** SIGKILL to every member still running, now: for `up`'s `exit` handler (local-processes.ts). */
  killAllNow(): void {
    this.#processes.killAllNow();
  }

  /** "version 0.1.1", or each member's when they differ (an upgrade that was stopped halfway). */
  #versionsText(names: readonly string[]): string {
    const versions = new Set(names.map((name) => this.#versions.get(name)));
    if (versions.size === 1) return `version ${[...versions][0]}`;
    return `versions ${names.map((name) => `${name} ${this.#versions.get(name)}`).join(', ')}`;
  }

  /**
   * Records the version `name` runs from its next start on, and keeps it for the next `up`. A failed
   * write is noted, not thrown: the member must still start (on the new version); only the next `up`
   * would start it at its previous one.
   */
  #setVersion(name: string, version: string): void {
    this.#versions.set(name, version);
    try {
      writeMemberVersions(this.dataDir, this.#versions);
    } catch (error) {
      this.#note(
        `could not record ${name}'s version ${version} in ${join(this.dataDir, VERSIONS_FILE)} (${(error as Error).message}); the next \`up\` starts it at its previous version`,
      );
    }
  }

  /** Members by name: storage nodes, engines and the object store. */
  memberNames(): string[] {
    return [
      ...this.topology.storage.map((node) => node.nodeId),
      ...this.topology.engines.map((engine) => engine.name),
      ...(this.spec.backup.objectStore.kind === 'embedded' ? ['object-store'] : []),
    ];
  }

  /**
   * `kill-node` (or `kill-zone`, named by `request` with the command that undoes it): SIGKILL, left
   * down until `startMember`. A member that was not running is left down too, and says so.
   */
  async killMember(
    name: string,
    request: { readonly command: string; readonly undo: string } = {
      command: 'kill-node',
      undo: 'start-node',
    },
  ): Promise<'killed' | 'not-running'> {
    this.#assertMember(name);
    this.#assertNotStopping();
    const running = this.#processes.view(name)?.state === 'running';
    this.#note(
      running
        ? `${name} killed by an operator (${request.command}); it stays down until ${request.undo}`
        : `${name} was already down at ${request.command} by an operator; it stays down until ${request.undo}`,
    );
    await this.#processes.stop(name, 'SIGKILL');
    return running ? 'killed' : 'not-running';
  }

  /** `start-node`: starts a member that is down or crashed; one that runs is left alone, and says so. */
  async startMember(name: string): Promise<'started' | 'already-running'> {
    this.#assertMember(name);
    this.#assertNotStopping();
    const view = this.#processes.view(name);
    if (view?.state === 'running') return 'already-running';
    this.#note(`${name} started by an operator`);
    this.#crashes.delete(name);
    this.#processes.start(this.#specOf(name));
    return 'started';
  }

  #assertNotStopping(): void {
    if (this.#stopping) throw new ClusterStoppingError('the cluster is stopping');
  }

  processView(name: string) {
    return this.#processes.view(name);
  }

  ready(name: string): boolean {
    return this.#ready.get(name) ?? false;
  }

  appliedLsn(name: string): bigint | undefined {
    return this.#appliedLsn.get(name);
  }

  engineUrl(name: string): string {
    return `http://127.0.0.1:${this.ports.engines[name]}`;
  }

  storageAdminUrl(nodeId: string): string {
    return `http://127.0.0.1:${this.ports.storage[nodeId]!.adminPort}`;
  }

  #assertMember(name: string): void {
    if (!this.memberNames().includes(name))
      throw new UnknownMemberError(
        `no member named ${JSON.stringify(name)}; members: ${this.memberNames().join(', ')}`,
      );
  }

  #note(message: string): void {
    this.events.push({ atMs: Date.now(), message });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.#progress(message);
  }

  // -- process specs -----------------------------------------------------------------------------

  #specOf(name: string): MemberSpec {
    if (name === 'object-store') return this.#objectStoreSpec();
    if (this.roles.has(name)) return this.#engineSpec(name);
    return this.#storageSpec(name);
  }

  #storageSpec(nodeId: string): MemberSpec {
    const node = this.topology.storage.find((candidate) => candidate.nodeId === nodeId)!;
    const { port, adminPort } = this.ports.storage[nodeId]!;
    const peers = this.topology.storage
      .filter((other) => other.nodeId !== nodeId)
      .map((other) => `${other.nodeId}=127.0.0.1:${this.ports.storage[other.nodeId]!.port}`)
      .join(',');
    const dataDir = join(this.dataDir, 'storage', nodeId);
    mkdirSync(dataDir, { recursive: true });
    const objectStore = this.spec.backup.objectStore;
    const backupArgs: string[] = [];
    const env: Record<string, string | undefined> = {
      ...withoutNodeOptions(process.env),
      NORTHLIGHT_VERSION: this.#versions.get(nodeId),
      // The admin API's bearer token and the transport's key: through the environment, not argv.
      NORTHLIGHT_INTERNAL_TOKEN: this.internalToken,
      NORTHLIGHT_TRANSPORT_AUTH: this.spec.security.transportAuthentication,
    };
    if (objectStore.kind === 'embedded') {
      backupArgs.push(
        '--s3-endpoint',
        `http://127.0.0.1:${this.ports.objectStore}`,
        '--s3-bucket',
        EMBEDDED_S3_BUCKET,
      );
      backupArgs.push('--s3-access-key-id', EMBEDDED_S3_KEY, '--s3-prefix', `${this.spec.name}/`);
      backupArgs.push('--backup-max-delay-ms', String(this.spec.backup.stagingDelayMs));
      env.NORTHLIGHT_S3_SECRET_ACCESS_KEY = EMBEDDED_S3_KEY;
    } else if (objectStore.kind === 's3') {
      if (objectStore.endpoint !== undefined) backupArgs.push('--s3-endpoint', objectStore.endpoint);
      backupArgs.push('--s3-bucket', objectStore.bucket, '--s3-region', objectStore.region);
      if (objectStore.prefix !== '') backupArgs.push('--s3-prefix', objectStore.prefix);
      backupArgs.push('--backup-max-delay-ms', String(this.spec.backup.stagingDelayMs));
    }
    return {
      name: nodeId,
      command: process.execPath,
      args: [
        ...profilingArgs(nodeId),
        ...nodeEntryArgs(join(repositoryRoot, 'storage-node', 'src', 'main.ts')),
        '--node-id',
        nodeId,
        '--zone',
        node.zone,
        '--data-dir',
        dataDir,
        '--listen-host',
        '127.0.0.1',
        '--port',
        String(port),
        '--admin-port',
        String(adminPort),
        '--peers',
        peers,
        '--page-size-bytes',
        '4096',
        '--segment-size-bytes',
        String(this.spec.storage.segmentSizeBytes),
        // From its first second, so a node restores from S3 paced even before the next hydrate request.
        '--hydration-bytes-per-second',
        String(this.spec.controlPlane.repairBandwidthPerNodeBytes),
        ...backupArgs,
      ],
      cwd: join(repositoryRoot, 'storage-node'),
      env,
      logFile: this.logFile(nodeId),
      readyUrl: `http://127.0.0.1:${adminPort}/readyz`,
    };
  }

  #engineSpec(name: string): MemberSpec {
    const role = this.roles.get(name)!;
    const dataDir = join(this.dataDir, 'engines', name);
    mkdirSync(dataDir, { recursive: true });
    const storage = this.topology.storage
      .map((node) => {
        const { port, adminPort } = this.ports.storage[node.nodeId]!;
        return `${node.nodeId}=127.0.0.1:${port}/${adminPort}@${node.zone}`;
      })
      .join(',');
    const roleArgs: string[] = [];
    if (role === 'replica') {
      // The writer first, then every other engine: after a failover the writer is one of them.
      const others = this.topology.engines.filter(
        (engine) => engine.name !== name && engine.name !== this.writer,
      );
      const urls = [this.writer, ...others.map((engine) => engine.name)].map((engine) =>
        this.engineUrl(engine),
      );
      roleArgs.push('--role', 'replica', '--writer-url', urls.join(','));
    }
    return {
      name,
      command: process.execPath,
      args: [
        ...profilingArgs(name),
        ...nodeEntryArgs(join(repositoryRoot, 'db-engine', 'src', 'main.ts')),
        '--node-id',
        name,
        '--data-dir',
        dataDir,
        '--listen-host',
        '127.0.0.1',
        '--http-port',
        String(this.ports.engines[name]),
        '--pg-port',
        String(this.ports.enginesPg[name]),
        '--storage',
        storage,
        '--segment-size-bytes',
        String(this.spec.storage.segmentSizeBytes),
        '--cache-pages',
        String(Math.max(16, Math.floor(this.spec.engine.cacheSizeBytes / 4096))),
        '--lsn-allocation-limit',
        String(this.spec.engine.lsnAllocationLimit),
        '--pg-transactions',
        this.spec.engine.transactions,
        '--placement-url',
        `http://127.0.0.1:${this.ports.control}`,
        ...roleArgs,
        ...(this.spec.local.tls === undefined
          ? []
          : ['--pg-tls-cert', this.spec.local.tls.certFile, '--pg-tls-key', this.spec.local.tls.keyFile]),
      ],
      cwd: join(repositoryRoot, 'db-engine'),
      env: {
        ...withoutNodeOptions(process.env),
        NORTHLIGHT_VERSION: this.#versions.get(name),
        // Through the environment, not argv: other users of the machine can read a process's argv.
        NL_ENGINE_PG_USER: PG_USER,
        NL_ENGINE_PG_PASSWORD: this.pgPassword,
        NL_ENGINE_INTERNAL_TOKEN: this.internalToken,
        NL_ENGINE_TRANSPORT_AUTH: this.spec.security.transportAuthentication,
      },
      logFile: this.logFile(name),
      readyUrl: `${this.engineUrl(name)}/readyz`,
    };
  }

  #objectStoreSpec(): MemberSpec {
    const directory = join(this.dataDir, 'object-store');
    mkdirSync(directory, { recursive: true });
    return {
      name: 'object-store',
      command: process.execPath,
      // s3rver, each object synced before its PUT is answered (embedded-object-store.ts). It signs
      // ListObjectsV2 continuation tokens with DES, which OpenSSL 3 refuses without the legacy provider.
      args: [
        '--openssl-legacy-provider',
        ...nodeEntryArgs(join(repositoryRoot, 'operator', 'src', 'io', 'embedded-object-store.ts')),
        '--address',
        '127.0.0.1',
        '--port',
        String(this.ports.objectStore),
        '--directory',
        directory,
        '--bucket',
        EMBEDDED_S3_BUCKET,
      ],
      cwd: this.dataDir,
      env: withoutNodeOptions(process.env),
      logFile: this.logFile('object-store'),
      readyUrl: `http://127.0.0.1:${this.ports.objectStore}/${EMBEDDED_S3_BUCKET}?location`,
    };
  }

  async #startObjectStore(): Promise<void> {
    this.#progress(`starting the embedded S3-compatible object store on port ${this.ports.objectStore}`);
    this.#processes.start(this.#objectStoreSpec());
    this.#writeState();
    await this.#waitReady(['object-store'], async () => portAccepts(this.ports.objectStore));
  }

  async #startEndpoints(): Promise<void> {
    // No writer to give while a switchover fences it, a replica is promoted, or the writer's process
    // is gone: hold new connections until there is one.
    const writer = (ports: Readonly<Record<string, number>>) => (): ProxyTarget =>
      this.promoting === undefined &&
      !this.switchingOver &&
      this.#processes.view(this.writer)?.state === 'running'
        ? ports[this.writer]!
        : 'hold';
    this.#readWrite = new TcpProxy(writer(this.ports.enginesPg));
    this.#readOnly = new TcpProxy(() => this.#chooseReadOnly(this.ports.enginesPg));
    this.#httpReadWrite = new TcpProxy(writer(this.ports.engines));
    this.#httpReadOnly = new TcpProxy(() => this.#chooseReadOnly(this.ports.engines));
    await this.#readWrite.listen(this.ports.readWrite);
    await this.#readOnly.listen(this.ports.readOnly);
    await this.#httpReadWrite.listen(this.ports.httpReadWrite);
    await this.#httpReadOnly.listen(this.ports.httpReadOnly);
  }

  #chooseReadOnly(ports: Readonly<Record<string, number>>): ProxyTarget {
    const ready = this.topology.engines
      .map((engine) => engine.name)
      .filter((name) => this.roles.get(name) === 'replica' && this.#ready.get(name));
    // No replica ready: the writer serves reads too, while its process runs; else hold the
    // connection until one of them is there (as the read-write endpoint does in a failover).
    if (ready.length === 0)
      return this.#processes.view(this.writer)?.state === 'running' ? ports[this.writer]! : 'hold';
    return ports[ready[this.#readOnlyTurn++ % ready.length]!]!;
  }

  async #waitReady(names: readonly string[], probe?: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const pending = new Set(names);
    while (pending.size > 0) {
      this.#checkpoint();
      for (const name of [...pending]) {
        const view = this.#processes.view(name)!;
        if (view.state !== 'running')
          throw new Error(
            `${name} exited (code ${view.exitCode}) while starting; its log: ${this.logFile(name)}, ending:\n${logTail(this.logFile(name), START_FAILURE_LOG_LINES)}`,
          );
        if (await (probe ?? (() => probeReady(this.#processes.spec(name)!.readyUrl)))()) {
          pending.delete(name);
          this.#ready.set(name, true);
        }
      }
      if (pending.size === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `not ready after ${READY_TIMEOUT_MS / 1000} s: ${[...pending].join(', ')}; logs in ${join(this.dataDir, 'logs')}`,
        );
      await sleep(READY_POLL_MS);
    }
  }

  #writeState(): void {
    const state: StateFile = {
      format: STATE_FORMAT,
      cluster: this.spec.name,
      pid: process.pid,
      ...(this.#ownStartTicks === undefined ? {} : { pidStartTicks: this.#ownStartTicks }),
      controlUrl: `http://127.0.0.1:${this.ports.control}`,
      ports: this.ports,
      pids: this.#processes.pids(),
      startedAt: this.#startedAt,
      ...(this.#upArguments === undefined ? {} : { upArguments: this.#upArguments }),
    };
    const text = `${JSON.stringify(state, null, 2)}\n`;
    if (text === this.#stateWritten) return;
    const path = join(this.dataDir, STATE_FILE);
    writeFileSync(`${path}.next`, text);
    renameSync(`${path}.next`, path);
    this.#stateWritten = text;
  }

  // -- the control loop --------------------------------------------------------------------------

  /** A round now rather than at the next tick (a repair's hydration finished); once more if one runs. */
  #wake(): void {
    if (this.#stopping) return;
    if (this.#stepping) this.#wakeRequested = true;
    else setImmediate(() => void this.#step());
  }

  async #step(): Promise<void> {
    if (this.#stepping || this.#stopping) return;
    this.#stepping = true;
    try {
      await this.#observe();
      if (this.#stopping) return;
      await this.#superviseStorage();
      const actions = planEngines({
        engines: this.#observedEngines(),
        writer: this.writer,
        promoting: this.promoting,
        failoverGraceMs: WRITER_FAILOVER_GRACE_MS,
      });
      if (!actions.some((action) => action.kind === 'wait')) this.#lastWait = undefined;
      for (const action of actions) await this.#execute(action);
      const world = await this.#observeStorageWorld();
      if (world !== undefined) {
        await this.#repairStep(world);
        await this.#upgradeStep(world);
      }
      this.#writeState();
      if (++this.#steps % VOLUME_RECORD_INTERVAL_STEPS === 0) await this.#recordVolume();
    } catch (error) {
      this.#progress(`control loop: ${(error as Error).message}`);
    } finally {
      this.#stepping = false;
      if (this.#wakeRequested) {
        this.#wakeRequested = false;
        setImmediate(() => void this.#step());
      }
    }
  }

  /**
   * The writer's layouts and VDL and every reachable storage node's segments, once the writer serves
   * (undefined before): what repairs and upgrades plan from.
   */
  async #observeStorageWorld(): Promise<StorageWorld | undefined> {
    if (this.promoting !== undefined || this.switchingOver || !this.#ready.get(this.writer)) return undefined;
    const writerUrl = this.engineUrl(this.writer);
    const [volume, status] = await Promise.all([
      getJson<{ pagesPerPg: number; pgs: VolumeJsonPg[] }>(
        `${writerUrl}/v1/volume`,
        OBSERVE_TIMEOUT_MS,
        this.internalHeaders,
      ),
      getJson<{ driver?: { vdl?: string } }>(
        `${writerUrl}/v1/status`,
        OBSERVE_TIMEOUT_MS,
        this.internalHeaders,
      ),
    ]);
    if (volume !== undefined) this.lastVolume = volume;
    if (volume === undefined || status?.driver?.vdl === undefined) return undefined;
    const now = Date.now();
    const nodes: NodeHealth[] = this.topology.storage.map((node) => {
      const reachable = this.#ready.get(node.nodeId) ?? false;
      const since = this.#unreachableSinceMs.get(node.nodeId);
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        reachable,
        unreachableForMs: reachable || since === undefined ? 0 : now - since,
        schedulable: reachable,
      };
    });
    const segmentsOf = new Map<string, readonly StorageSegmentView[]>();
    const versionOf = new Map<string, string | undefined>();
    await Promise.all(
      nodes
        .filter((node) => node.reachable)
        .map(async (node) => {
          const reported = await getJson<{ segments: StorageSegmentView[]; version?: string }>(
            `${this.storageAdminUrl(node.nodeId)}/v1/status`,
            OBSERVE_TIMEOUT_MS,
            this.internalHeaders,
          );
          if (reported === undefined) return;
          segmentsOf.set(node.nodeId, reported.segments);
          versionOf.set(node.nodeId, reported.version);
        }),
    );
    return { writerUrl, volume, vdl: BigInt(status.driver.vdl), nodes, segmentsOf, versionOf };
  }

  /** One round of segment repair (repair-executor.ts). */
  async #repairStep(world: StorageWorld): Promise<void> {
    const controlPlane = this.spec.controlPlane;
    await this.repairs.step(
      {
        writerUrl: world.writerUrl,
        internalHeaders: this.internalHeaders,
        nodes: world.nodes,
        adminUrlOf: (nodeId) => this.storageAdminUrl(nodeId),
        segmentsOf: world.segmentsOf,
        ...repairPolicyOf(controlPlane),
      },
      world.volume,
    );
  }

  // -- the rolling upgrade ------------------------------------------------------------------------

  /** Starts a rolling upgrade to `version`; the control loop runs it one step per round. */
  startUpgrade(version: string): void {
    // The same upgrade asked for again (a second terminal, a retried command): follow it.
    if (this.upgrade?.state === 'running' && this.upgrade.target === version) return;
    if (this.upgrade?.state === 'running')
      throw new UpgradeRunningError(
        `an upgrade to ${this.upgrade.target} is already running; wait for it (\`${commandFor(this.dataDir, 'status')}\`)`,
      );
    this.upgrade = {
      target: version,
      state: 'running',
      startedAtMs: Date.now(),
      finishedAtMs: undefined,
      current: 'starting',
      steps: [],
    };
    this.#note(`upgrade to ${version} started: storage zone by zone, then replicas, then a switchover`);
  }

  /** The version a member reports itself, or the one the platform started it with. */
  versionOf(name: string, reported?: string): string | undefined {
    return reported ?? this.#versions.get(name);
  }

  async #upgradeStep(world: StorageWorld): Promise<void> {
    const upgrade = this.upgrade;
    if (upgrade?.state !== 'running') return;
    // Caught up: every segment the node hosts has reached its PG's head of the previous round.
    const health = upgradeHealth(world.volume.pgs, world.segmentsOf, this.#upgradeHeads);
    this.#upgradeHeads = health.heads;
    const nodes: UpgradeNode[] = world.nodes.map((node) => ({
      nodeId: node.nodeId,
      zone: node.zone,
      version: this.versionOf(node.nodeId, world.versionOf.get(node.nodeId)),
      healthy: health.behind(node) === undefined,
    }));
    const engines: UpgradeEngine[] = this.#observedEngines().map((engine) => ({
      name: engine.name,
      role: engine.role,
      promotionTier: engine.promotionTier,
      version: this.versionOf(engine.name, this.#engineVersions.get(engine.name)),
      ready: engine.ready,
      appliedLsn: engine.appliedLsn,
    }));
    const step = planUpgrade({
      targetVersion: upgrade.target,
      nodes,
      pgNodes: health.pgNodes,
      engines,
      maxBatchSize: UPGRADE_BATCH_SIZE_MAX,
    });
    await this.#executeUpgrade(upgrade, step);
  }

  async #executeUpgrade(upgrade: UpgradeRun, step: UpgradeStep): Promise<void> {
    if (step.kind === 'wait') {
      // A member stopped by an operator (kill-node, kill-zone) stays down until it is started: say so,
      // or the upgrade would seem to wait for nothing.
      const named = new Set(step.reason.split(/[\s,]+/));
      const stopped = this.topology.storage
        .map((node) => node.nodeId)
        .filter((nodeId) => named.has(nodeId) && this.#processes.view(nodeId)?.state === 'down');
      upgrade.current =
        stopped.length === 0
          ? step.reason
          : `${step.reason}: ${stopped.join(', ')} ${stopped.length === 1 ? 'was' : 'were'} stopped by an operator; \`${commandFor(this.dataDir, `start-node ${stopped[0]}`)}\` lets the upgrade go on`;
      return;
    }
    const line =
      step.kind === 'done'
        ? `upgrade to ${upgrade.target} done: ${step.reason}`
        : `upgrade: ${describeStep(step)} (${step.reason})`;
    upgrade.current = line;
    upgrade.steps.push({ atMs: Date.now(), message: line });
    this.#note(line);
    switch (step.kind) {
      case 'done':
        upgrade.state = 'done';
        upgrade.finishedAtMs = Date.now();
        return;
      case 'restart-storage':
        await Promise.all(
          step.nodeIds.map(async (nodeId) => {
            await this.#processes.stop(nodeId);
            this.#setVersion(nodeId, upgrade.target);
            this.#ready.set(nodeId, false);
            this.#processes.start(this.#storageSpec(nodeId));
          }),
        );
        this.#upgradeHeads = undefined;
        return;
      case 'restart-replica':
        await this.#processes.stop(step.name);
        this.#setVersion(step.name, upgrade.target);
        this.#ready.set(step.name, false);
        this.#processes.start(this.#engineSpec(step.name));
        return;
      case 'switchover':
        await this.#switchover(step.from, step.to, upgrade.target);
        return;
    }
  }

  /**
   * A planned switchover: the read-write endpoint holds new connections, the writer is fenced (it
   * stops taking requests, lets its commits in flight become durable and exits), the replica is
   * promoted under a new epoch, and the old writer comes back as a replica (on `version`).
   */
  async #switchover(from: string, to: string, version: string): Promise<void> {
    this.switchingOver = true;
    try {
      const why = await postEngineAdmin(this.engineUrl(from), 'fence', this.internalHeaders);
      if (why !== undefined) {
        this.#note(`switchover: fencing ${from} failed (${why}); the next round tries again`);
        return;
      }
      const deadline = Date.now() + SWITCHOVER_FENCE_TIMEOUT_MS;
      while (this.#processes.view(from)?.state === 'running' && Date.now() < deadline) await sleep(20);
      if (this.#processes.view(from)?.state === 'running') await this.#processes.stop(from, 'SIGKILL');
      this.#setVersion(from, version);
      await this.#promote({
        kind: 'promote',
        name: to,
        formerWriter: from,
        reason: `switchover from ${from}`,
      });
      if (this.promoting === to) localControlMetrics(this).cluster.recordSwitchover();
    } finally {
      this.switchingOver = false;
    }
  }

  /** Copies the writer's PG layouts (GET /v1/volume) into the metadata directory. */
  async #recordVolume(): Promise<void> {
    if (this.#onVolume === undefined || this.promoting !== undefined) return;
    const response = await fetch(`${this.engineUrl(this.writer)}/v1/volume`, {
      headers: this.internalHeaders,
      signal: AbortSignal.timeout(2_000),
    }).catch(() => undefined);
    if (response?.ok !== true) return;
    const volume = (await response.json()) as {
      pagesPerPg: number;
      pgs: { pgId: number; membershipEpoch: string; members: string[]; nodeOf: Record<string, string> }[];
    };
    await this.#onVolume({
      name: this.spec.name,
      pagesPerPg: volume.pagesPerPg,
      pgs: volume.pgs.map((pg) => ({
        pgId: pg.pgId,
        membershipEpoch: pg.membershipEpoch,
        members: pg.members,
        nodes: pg.members.map((segment) => pg.nodeOf[segment] ?? ''),
      })),
    });
  }

  async #observe(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      this.memberNames().map(async (name) => {
        const view = this.#processes.view(name);
        const spec = this.#processes.spec(name);
        const ready = view?.state === 'running' && spec !== undefined && (await probeReady(spec.readyUrl));
        this.#ready.set(name, ready);
        if (ready) this.#unreachableSinceMs.delete(name);
        else if (!this.#unreachableSinceMs.has(name)) this.#unreachableSinceMs.set(name, now);
        if (ready || view?.state !== 'running') this.#unreadySinceMs.delete(name);
        else if (!this.#unreadySinceMs.has(name)) this.#unreadySinceMs.set(name, now);
      }),
    );
    // Every running engine, ready or not: a replica whose writer died is not ready, and its applied
    // LSN is what the failover chooses by.
    await Promise.all(
      this.topology.engines.map(async (engine) => {
        const status =
          this.#processes.view(engine.name)?.state === 'running'
            ? await getJson<{ appliedLsn?: string; version?: string; role?: string; driver?: unknown }>(
                `${this.engineUrl(engine.name)}/v1/status`,
                1_000,
                this.internalHeaders,
              )
            : undefined;
        this.#engineVersions.set(engine.name, status?.version);
        this.#servesAsWriter.set(engine.name, status?.driver !== undefined && status.role !== 'replica');
        if (this.roles.get(engine.name) === 'replica')
          this.#appliedLsn.set(
            engine.name,
            status?.appliedLsn === undefined ? undefined : BigInt(status.appliedLsn),
          );
      }),
    );
    // Done once it is ready *as the writer*: until its replica server closes, the engine being promoted
    // still answers its probe as a ready replica.
    if (
      this.promoting !== undefined &&
      this.#ready.get(this.promoting) &&
      this.#servesAsWriter.get(this.promoting)
    ) {
      this.#note(`${this.promoting} is the writer now (recovered the volume under a new epoch)`);
      this.promoting = undefined;
      this.#readWrite?.dropConnectionsNotTo(this.ports.enginesPg[this.writer]);
      this.#httpReadWrite?.dropConnectionsNotTo(this.ports.engines[this.writer]);
    }
  }

  #observedEngines(): ObservedEngine[] {
    const now = Date.now();
    return this.topology.engines.map((engine) => {
      const view = this.#processes.view(engine.name);
      const since = this.#unreadySinceMs.get(engine.name);
      return {
        name: engine.name,
        promotionTier: engine.promotionTier,
        role: this.roles.get(engine.name)!,
        process: view?.state ?? 'down',
        ready: this.#ready.get(engine.name) ?? false,
        unreadyForMs: since === undefined ? 0 : now - since,
        appliedLsn: this.#appliedLsn.get(engine.name),
      };
    });
  }

  /** Starts crashed storage nodes and the object store again, with a backoff per member. */
  async #superviseStorage(): Promise<void> {
    const now = Date.now();
    const names = [...this.topology.storage.map((node) => node.nodeId), 'object-store'];
    for (const name of names) {
      if (this.#processes.view(name)?.state !== 'crashed') continue;
      const crashes = this.#crashes.get(name) ?? 0;
      const at = this.#restartAtMs.get(name);
      if (at === undefined) {
        this.#restartAtMs.set(
          name,
          now + RESTART_BACKOFF_MS[Math.min(crashes, RESTART_BACKOFF_MS.length - 1)]!,
        );
        continue;
      }
      if (now < at) continue;
      this.#restartAtMs.delete(name);
      this.#crashes.set(name, crashes + 1);
      this.#note(`restarting ${name} (crash ${crashes + 1})`);
      this.#processes.start(this.#specOf(name));
    }
  }

  async #execute(action: EngineAction): Promise<void> {
    switch (action.kind) {
      case 'wait':
        // Said once, when the reason changes, in the events `status` shows.
        if (action.reason !== this.#lastWait) this.#note(`waiting: ${action.reason}`);
        this.#lastWait = action.reason;
        return;
      case 'stop':
        this.#note(action.reason);
        await this.#processes.stop(action.name, 'SIGKILL');
        return;
      case 'start':
        this.#note(action.reason);
        this.roles.set(action.name, action.role);
        this.#processes.start(this.#engineSpec(action.name));
        return;
      case 'promote':
        await this.#promote(action);
        if (this.promoting === action.name) localControlMetrics(this).cluster.recordFailover();
        return;
    }
  }

  async #promote(action: Extract<EngineAction, { kind: 'promote' }>): Promise<void> {
    this.#note(`failover: ${action.reason}; promoting ${action.name}`);
    const why = await postEngineAdmin(this.engineUrl(action.name), 'promote', this.internalHeaders);
    if (why !== undefined) {
      this.#note(`promoting ${action.name} failed: ${why}; the next step tries again`);
      return;
    }
    this.promoting = action.name;
    this.writer = action.name;
    this.roles.set(action.name, 'writer');
    this.roles.set(action.formerWriter, 'replica');
    this.#ready.set(action.name, false);
    this.#unreadySinceMs.delete(action.name);
    await this.#onWriterChange?.(action.name);
  }
}

export interface UpgradeRun {
  readonly target: string;
  state: 'running' | 'done';
  readonly startedAtMs: number;
  finishedAtMs: number | undefined;
  /** What the upgrade does or waits for now. */
  current: string;
  readonly steps: { atMs: number; message: string }[];
}

interface StorageWorld {
  readonly writerUrl: string;
  readonly volume: { readonly pgs: readonly VolumeJsonPg[] };
  readonly vdl: bigint;
  readonly nodes: readonly NodeHealth[];
  readonly segmentsOf: ReadonlyMap<string, readonly StorageSegmentView[]>;
  readonly versionOf: ReadonlyMap<string, string | undefined>;
}

function describeStep(step: Exclude<UpgradeStep, { kind: 'wait' | 'done' }>): string {
  switch (step.kind) {
    case 'restart-storage':
      return `restarting ${step.nodeIds.join(', ')} (zone ${step.zone})`;
    case 'restart-replica':
      return `restarting ${step.name}`;
    case 'switchover':
      return `switchover from ${step.from} to ${step.to}`;
  }
}

/** The last `lines` lines of a log file, indented (what a start failure quotes); '' if unreadable. */
function logTail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((line) => `  ${line}`)
      .join('\n');
  } catch {
    return '';
  }
}

export class UpgradeRunningError extends Error {}
export class AlreadyRunningError extends Error {}
export class UnknownMemberError extends Error {}
/** `start` ended because `stop` was called meanwhile; everything it had started is stopped. */
export class StartInterruptedError extends Error {}
/** A request (start-node, kill-node…) that came while the cluster stops. */
export class ClusterStoppingError extends Error {}

function withoutNodeOptions(environment: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const { NODE_OPTIONS: _ignored, ...rest } = environment;
  return rest;
}

export async function portAccepts(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Free loopback ports, claimed below the ephemeral range (see protocol's `io/free-ports.ts`). */
export { freePorts };

/**
 * Before `up` writes anything in its data directory: refuses when another `up` runs from it, and
 * stops the members a previous `up` that was killed (SIGKILL) left running, which may hold the ports
 * of the layout (they are named in its state file).
 */
export async function claimDataDir(dataDir: string, progress: (line: string) => void): Promise<void> {
  const state = readStateFile(dataDir);
  if (state !== undefined && state.pid !== process.pid && upRuns(state))
    throw new AlreadyRunningError(
      `a cluster is already running from ${dataDir} (pid ${state.pid}, control API ${state.controlUrl}); ` +
        `see it with \`${commandFor(dataDir, 'status')}\`, stop it with \`${commandFor(dataDir, 'down')}\``,
    );
  // The state file's pids, and any member it had not recorded yet when its `up` was killed.
  const pids = [...new Set([...(state?.pids ?? []), ...runningMembersOf(dataDir)])];
  const stopped = await stopStalePids(pids, dataDir);
  if (stopped > 0) progress(`stopped ${stopped} process(es) a previous run left behind`);
}

/**
 * For `up --base-port N`, before anything is written or started: refuses when a port of the fixed
 * layout is taken (`--base-port 0` picks free ones, checked as the start claims them).
 */
export async function assertLayoutFree(spec: ClusterSpec, basePort: number): Promise<void> {
  if (basePort === 0) return;
  const topology = planTopology({ zones: spec.storage.zones, engines: spec.engine.instances });
  await assertPortsFree(fixedPorts(topology, basePort));
}

/** Refuses to start anything when a port of the layout is taken, naming them all. */
async function assertPortsFree(ports: PortLayout): Promise<void> {
  const all = [
    ports.control,
    ports.objectStore,
    ports.readWrite,
    ports.readOnly,
    ports.httpReadWrite,
    ports.httpReadOnly,
    ...Object.values(ports.engines),
    ...Object.values(ports.enginesPg),
    ...Object.values(ports.storage).flatMap((node) => [node.port, node.adminPort]),
  ];
  const busy: number[] = [];
  for (const port of all)
    await new Promise<void>((resolve) => {
      const server = createServer();
      server.once('error', () => {
        busy.push(port);
        resolve();
      });
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  if (busy.length > 0)
    throw new PortsBusyError(
      `port(s) ${busy.join(', ')} are in use on 127.0.0.1; stop what uses them, or choose other ports with --base-port N (or 0 for any free ports)`,
    );
}

export class PortsBusyError extends Error {}

// -- command lines that work as printed ------------------------------------------------------------

/** The data directory of `npm start` and `npm run northlight`: npm runs scripts at the repository. */
const NPM_DATA_DIR = join(repositoryRoot, '.northlight');

/** How `up` was started, beyond its data directory: what starting it again the same way needs. */
export interface UpArguments {
  /** The cluster file (`-f`), absolute. */
  readonly file?: string | undefined;
  /** `--base-port` as the user gave it (0: any free ports). */
  readonly basePort?: number | undefined;
}

/**
 * The command line for `command` on the cluster in `dataDir`, as a user types it: `npm start` for
 * `up`, else `npm run northlight -- <command>`, with `--data-dir <dir>` (absolute, so it works from
 * anywhere) unless `dataDir` is the one those scripts use by default. For `up`, `again` adds what
 * the first `up` was given (`-f`, `--base-port`), so that the printed command starts the same
 * cluster on the same ports: without them it would start the default spec on the default ports.
 */
/**
 * The directory a relative path the user gives (--data-dir, -f) is relative to: the one the user ran
 * the command in. npm runs a script in the package's root and keeps the user's directory in
 * INIT_CWD; it is taken only while this process runs where npm runs scripts (the directory of
 * npm_package_json), so an INIT_CWD inherited from an outer npm by a process started elsewhere does
 * not apply.
 */
export function userDirectory(environment: NodeJS.ProcessEnv, cwd: string): string {
  const initCwd = environment.INIT_CWD;
  if (initCwd === undefined || initCwd === '') return cwd;
  const packageJson = environment.npm_package_json;
  if (packageJson !== undefined && packageJson !== '' && resolve(dirname(packageJson)) !== resolve(cwd))
    return cwd;
  return resolve(cwd, initCwd);
}

export function commandFor(
  dataDir: string,
  command: string,
  again: UpArguments = {},
  cwd: string = userDirectory(process.env, process.cwd()),
): string {
  const absolute = resolve(dataDir);
  const dataDirArgs = absolute === NPM_DATA_DIR ? '' : ` --data-dir ${shellQuoted(absolute)}`;
  // npm finds the repository's scripts from inside it; from anywhere else it must be told where.
  const inside = relative(repositoryRoot, resolve(cwd));
  const npm =
    inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))
      ? 'npm'
      : `npm --prefix ${shellQuoted(repositoryRoot)}`;
  if (command !== 'up') return `${npm} run northlight -- ${command}${dataDirArgs}`;
  const fileArgs = again.file === undefined ? '' : ` -f ${shellQuoted(resolve(again.file))}`;
  const portArgs = again.basePort === undefined ? '' : ` --base-port ${again.basePort}`;
  const args = `${fileArgs}${dataDirArgs}${portArgs}`;
  return args === '' ? `${npm} start` : `${npm} start --${args}`;
}

/** `text` as one word of a POSIX shell: as is when that is safe, else in single quotes. */
export function shellQuoted(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

// -- member versions across runs -----------------------------------------------------------------------

/**
 * The version each member last ran, kept in the data directory so that an upgrade survives a restart:
 * `up` starts each member at its recorded version (a member never recorded runs the spec's). Written
 * whenever an upgrade restarts a member on a new version, atomically (a temporary file, synced, then
 * renamed), so a crash leaves the previous map or the new one.
 */
export const VERSIONS_FILE = 'versions.json';
const VERSIONS_FORMAT = 'northlight-versions/1';
/** The versions `northlight upgrade` accepts (control-server.ts) and this file keeps. */
export const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

interface VersionsFile {
  readonly format: string;
  readonly members: Readonly<Record<string, string>>;
}

/** The recorded versions; none when there is no file, and none (with a note why) when it is unreadable. */
export function readMemberVersions(dataDir: string, note: (line: string) => void): Map<string, string> {
  const path = join(dataDir, VERSIONS_FILE);
  if (!existsSync(path)) return new Map();
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<VersionsFile>;
    if (parsed.format !== VERSIONS_FORMAT || typeof parsed.members !== 'object' || parsed.members === null)
      throw new Error(`not a ${VERSIONS_FORMAT} document`);
    const versions = new Map<string, string>();
    for (const [name, version] of Object.entries(parsed.members))
      if (typeof version === 'string' && VERSION_PATTERN.test(version)) versions.set(name, version);
    return versions;
  } catch (error) {
    note(`${path} is unreadable (${(error as Error).message}); every member runs the spec's version`);
    return new Map();
  }
}

function writeMemberVersions(dataDir: string, versions: ReadonlyMap<string, string>): void {
  const path = join(dataDir, VERSIONS_FILE);
  const document: VersionsFile = { format: VERSIONS_FORMAT, members: Object.fromEntries(versions) };
  const descriptor = openSync(`${path}.next`, 'w');
  try {
    writeSync(descriptor, `${JSON.stringify(document, null, 2)}\n`);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  renameSync(`${path}.next`, path);
}

// -- the data directory's lock -----------------------------------------------------------------------

/** The file `up` holds in its data directory from its first step to its exit. */
export const LOCK_FILE = 'up.lock';
const LOCK_FORMAT = 'northlight-up-lock/1';
/** How long a refused `up` waits for the winner's lock file to name it (written right after the interlock). */
const LOCK_HOLDER_WAIT_MS = 2_000;
const LOCK_HOLDER_POLL_MS = 50;

/** What the lock file says about the `up` holding the directory. */
export interface LockHolder {
  readonly format: string;
  readonly pid: number;
  /** The holder's start in clock ticks since boot (/proc/<pid>/stat), so a recycled pid is not it. */
  readonly processStartTicks: string | undefined;
  readonly startedAt: string;
  readonly host: string;
}

/** The data directory is in use by another `up` (`holder`, when its lock file says who). */
export class DataDirLockedError extends AlreadyRunningError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who =
      holder === undefined
        ? 'another `northlight up`'
        : `another \`northlight up\` (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}, started ${holder.startedAt})`;
    super(
      `${dataDir} is in use by ${who}; nothing was started. ` +
        `Use that cluster (\`${commandFor(dataDir, 'status')}\`), stop it (\`${commandFor(dataDir, 'down')}\` or Ctrl-C in its terminal), ` +
        `or start another one with a different --data-dir. If no such \`up\` runs, remove ${join(dataDir, LOCK_FILE)}`,
    );
  }
}

export interface DataDirLock {
  /** Removes the lock file and ends the interlock; idempotent, and done at process exit too. */
  release(): void;
}

/**
 * Takes the data directory for this `up`, before anything else happens in it, or throws
 * DataDirLockedError naming the `up` that has it. Two layers:
 *   - the interlock: a Unix socket in Linux's abstract namespace, named after the directory's device
 *     and inode. Binding it is atomic and the kernel lets go of it when the process ends, however it
 *     ends: of two `up`s started at the same moment exactly one binds it, and a dead `up` holds none.
 *   - the lock file `up.lock`, created with O_EXCL, holding the pid and the start time: what a refused
 *     `up` names, and a guard where the interlock cannot see (two network namespaces, one directory).
 * Scenarios:
 *   1. Two `up`s at once: one binds the interlock; the other gets EADDRINUSE and refuses, naming the
 *      pid in the lock file (it waits up to LOCK_HOLDER_WAIT_MS for the winner to have written it).
 *   2. A previous `up` was killed (SIGKILL, a power loss): its lock file is left, its interlock is not.
 *      The pid the file names is not running, or is another process by now (its start time differs):
 *      the file is stale, and is replaced with a note. Only the interlock's holder replaces a lock
 *      file, so two `up`s never both take over one stale file.
 *   3. The lock file names a live `up` the interlock did not see (another network namespace, another
 *      host on a shared file system): refused, as in 1.
 */
export async function lockDataDir(dataDir: string, note: (line: string) => void): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const interlock = await bindInterlock(dataDir);
  if (interlock === undefined) throw new DataDirLockedError(dataDir, await awaitLockHolder(path));
  try {
    if (!createLockFile(path)) {
      const holder = readLockFile(path);
      if (holder !== undefined && holderRuns(holder)) throw new DataDirLockedError(dataDir, holder);
      note(
        holder === undefined
          ? `${path} is unreadable (a start that crashed at once); taking the data directory over`
          : `the \`up\` that held ${path} (pid ${holder.pid}, started ${holder.startedAt}) is gone without releasing it; taking the data directory over`,
      );
      rmSync(path, { force: true });
      // Only a holder in another network namespace could have created it again meanwhile (scenario 3).
      if (!createLockFile(path)) throw new DataDirLockedError(dataDir, readLockFile(path));
    }
  } catch (error) {
    interlock.close();
    throw error;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    if (readLockFile(path)?.pid === process.pid) rmSync(path, { force: true });
    interlock.close();
  };
  process.once('exit', release);
  return { release };
}

/** The interlock of `lockDataDir`, or undefined when another process holds it. */
async function bindInterlock(dataDir: string): Promise<Server | { close(): void } | undefined> {
  // Abstract sockets are Linux's; elsewhere the lock file alone guards (scenario 2 then has a race).
  if (process.platform !== 'linux') return { close: () => {} };
  const { dev, ino } = statSync(dataDir, { bigint: true });
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolveBound, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolveBound(undefined);
      else reject(new Error(`lock the data directory ${dataDir}: ${error.message}`));
    });
    server.listen(`\0northlight-up/${dev}/${ino}`, () => {
      server.unref();
      resolveBound(server);
    });
  });
}

/** Creates the lock file naming this process; false when it exists. */
function createLockFile(path: string): boolean {
  let descriptor: number;
  try {
    descriptor = openSync(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  const holder: LockHolder = {
    format: LOCK_FORMAT,
    pid: process.pid,
    processStartTicks: processStartTicks(process.pid),
    startedAt: new Date().toISOString(),
    host: hostname(),
  };
  try {
    writeSync(descriptor, `${JSON.stringify(holder)}\n`);
    fsyncSync(descriptor);
  } catch (error) {
    closeSync(descriptor);
    rmSync(path, { force: true });
    throw error;
  }
  closeSync(descriptor);
  return true;
}

function readLockFile(path: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return holder.format === LOCK_FORMAT && Number.isInteger(holder.pid) ? holder : undefined;
  } catch {
    return undefined; // absent, or being written
  }
}

/** The lock file's holder once it has written it (scenario 1), or undefined after the wait. */
async function awaitLockHolder(path: string): Promise<LockHolder | undefined> {
  const deadline = Date.now() + LOCK_HOLDER_WAIT_MS;
  for (;;) {
    const holder = readLockFile(path);
    if (holder !== undefined || Date.now() > deadline) return holder;
    await sleep(LOCK_HOLDER_POLL_MS);
  }
}

/** Whether the process a lock file names still runs; another host's is taken to (it cannot be seen). */
function holderRuns(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (!processAlive(holder.pid)) return false;
  const ticks = processStartTicks(holder.pid);
  return ticks === undefined || holder.processStartTicks === undefined || ticks === holder.processStartTicks;
}
