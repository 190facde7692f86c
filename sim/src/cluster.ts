/**
 * A whole simulated cluster in one process: the scheduler and its trace, the network, the shared
 * object store, and the nodes — each with a zone, a disk that outlives its processes, and at most
 * one running process incarnation.
 *
 * Randomness: the cluster's root stream is seeded from the run's seed; every component forks its
 * own named stream from it (`network`, `disk/<node>`, `object-store`, `process/<node>/<n>`,
 * `clock/<node>/<n>`, and `workload` and `faults` for the harness), so no component's draws shift
 * another's.
 */
import { SimClock } from './clock.js';
import { SimDisk, type SimDiskOptions } from './disk.js';
import type { SimEndpoint } from './network.js';
import { SimNetwork, type SimNetworkOptions } from './network.js';
import { SimObjectStore, type SimObjectStoreOptions } from './object-store.js';
import { Prng, type Seed } from './prng.js';
import {
  Incarnation,
  type LogRecord,
  SimLogger,
  type SimProcessFactory,
  type SimProcessInstance,
} from './process.js';
import {
  AssertionError,
  asNodeId,
  assert,
  asZone,
  type Environment,
  type LogLevel,
  type NodeId,
  type Zone,
} from './protocol.js';
import {
  describeError,
  millisecondsToMicros,
  type RunUntilOptions,
  type RunUntilResult,
  type ScheduledEvent,
  Scheduler,
  type SimulationFailureInfo,
  type StopCondition,
} from './scheduler.js';
import { Trace, type TraceOptions } from './trace.js';

export interface SimClusterOptions {
  readonly seed: Seed;
  readonly trace?: TraceOptions;
  /** Events the whole run may execute before it fails as a livelock. */
  readonly eventsMax?: number;
  readonly network?: Partial<SimNetworkOptions>;
  readonly disk?: Partial<SimDiskOptions>;
  readonly objectStore?: Partial<SimObjectStoreOptions>;
  /** Log lines below this level are not traced (ERROR lines are always recorded for the runner). */
  readonly logLevelMin?: LogLevel;
  /** What `wallClockMs()` reads at virtual time 0, before each incarnation's skew. */
  readonly wallClockOriginMs?: number;
}

export interface SimNodeOptions {
  readonly id: NodeId | string;
  readonly zone: Zone | string;
  readonly factory: SimProcessFactory;
  /** Start the first incarnation right away (default true). */
  readonly start?: boolean;
}

export type CrashKind = 'power-loss' | 'process';

export interface CrashOptions {
  /** `power-loss` (default): unsynced disk writes may be lost or torn. `process`: the page cache survives. */
  readonly kind?: CrashKind;
}

/** 2026-01-01T00:00:00Z. */
export const WALL_CLOCK_ORIGIN_MS_DEFAULT = 1_767_225_600_000;
/** Each incarnation's monotonic clock starts somewhere in [0, this). */
const CLOCK_ORIGIN_MS_MAX = 1_000_000;
const WALL_CLOCK_SKEW_MS_MAX = 1_000;
const ERROR_LOGS_KEPT_MAX = 1_000;
export const NODES_MAX = 1_000;

export class SimNode {
  incarnationCount = 0;
  crashes = 0;
  wipes = 0;
  /** @internal */
  current: { incarnation: Incarnation; endpoint: SimEndpoint; instance: SimProcessInstance } | undefined;

  constructor(
    readonly id: NodeId,
    readonly zone: Zone,
    readonly disk: SimDisk,
    readonly factory: SimProcessFactory,
  ) {}

  get running(): boolean {
    return this.current !== undefined;
  }

  /** The running process's instance, for checkers to observe; undefined while the node is down. */
  get instance(): SimProcessInstance | undefined {
    return this.current?.instance;
  }

  /** `n1#3` while running, `n1#-` while down. */
  get label(): string {
    return this.current?.incarnation.label ?? `${this.id}#-`;
  }
}

export class SimCluster {
  readonly seed: bigint;
  readonly random: Prng;
  readonly trace: Trace;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly objectStore: SimObjectStore;
  private readonly nodeMap = new Map<NodeId, SimNode>();
  private readonly diskOptions: Partial<SimDiskOptions>;
  private readonly logLevelMin: LogLevel;
  private readonly wallClockOriginMs: number;
  private readonly errorLogList: LogRecord[] = [];
  private errorLogCount = 0;

  constructor(options: SimClusterOptions) {
    this.random = new Prng(options.seed);
    this.seed = this.random.seed;
    this.trace = new Trace(options.trace);
    this.scheduler = new Scheduler({
      trace: this.trace,
      ...(options.eventsMax === undefined ? {} : { eventsMax: options.eventsMax }),
    });
    this.network = new SimNetwork(this.scheduler, this.random.fork('network'), options.network);
    this.objectStore = new SimObjectStore(
      this.scheduler,
      this.random.fork('object-store'),
      options.objectStore,
    );
    this.diskOptions = options.disk ?? {};
    this.logLevelMin = options.logLevelMin ?? 'debug';
    this.wallClockOriginMs = options.wallClockOriginMs ?? WALL_CLOCK_ORIGIN_MS_DEFAULT;
    this.trace.record(0, `cluster seed=${this.seed}`);
  }

  // ---- topology ----

  addNode(options: SimNodeOptions): SimNode {
    const id = asNodeId(options.id);
    const zone = asZone(options.zone);
    assert(!this.nodeMap.has(id), `node ${id} added twice`);
    assert(this.nodeMap.size < NODES_MAX, `more than ${NODES_MAX} nodes`);
    const disk = new SimDisk(id, this.scheduler, this.random.fork(`disk/${id}`), this.diskOptions);
    const node = new SimNode(id, zone, disk, options.factory);
    this.nodeMap.set(id, node);
    this.network.addNode(id, zone);
    this.record(`add-node ${id} zone=${zone}`);
    if (options.start !== false) this.start(id);
    return node;
  }

  node(id: NodeId | string): SimNode {
    const node = this.nodeMap.get(id as NodeId);
    if (node === undefined) throw new AssertionError(`unknown node ${id}`);
    return node;
  }

  get nodes(): readonly SimNode[] {
    return [...this.nodeMap.values()];
  }

  /** Zones in the order their first node was added. */
  get zones(): readonly Zone[] {
    return [...new Set(this.nodes.map((node) => node.zone))];
  }

  nodesInZone(zone: Zone | string): SimNode[] {
    return this.nodes.filter((node) => node.zone === zone);
  }

  /** The running instance of `id`, typed by the caller, or undefined while the node is down. */
  instance<T extends SimProcessInstance>(id: NodeId | string): T | undefined {
    return this.node(id).instance as T | undefined;
  }

  // ---- lifecycle ----

  /** Starts a new incarnation of a node that is down, on the disk it has. */
  start(id: NodeId | string): void {
    const node = this.node(id);
    assert(!node.running, `start of ${node.id}, which is running`);
    const number = ++node.incarnationCount;
    const incarnation = new Incarnation(node.id, number, this.scheduler);
    const endpoint = this.network.bindOwned(node.id, incarnation);
    const env = this.environment(node, incarnation, endpoint);
    this.record(`start ${incarnation.label}`);
    let instance: SimProcessInstance;
    try {
      instance = node.factory(env, { nodeId: node.id, zone: node.zone, incarnation: number });
    } catch (error) {
      this.fail(error, `start ${incarnation.label}`);
      instance = {};
    }
    node.current = { incarnation, endpoint, instance };
  }

  /**
   * Kills the running process at once: its timers never fire, its in-flight promises never settle,
   * its endpoint closes. On a power loss (the default) the disk loses or tears unsynced writes.
   */
  crash(id: NodeId | string, options: CrashOptions = {}): void {
    const node = this.node(id);
    const current = node.current;
    assert(current !== undefined, `crash of ${node.id}, which is down`);
    const kind = options.kind ?? 'power-loss';
    this.record(`crash ${current.incarnation.label} ${kind}`);
    this.terminate(node);
    node.crashes++;
    if (kind === 'power-loss') node.disk.powerLoss();
  }

  /** Crashes the node if it runs, then starts a new incarnation. */
  restart(id: NodeId | string, options: CrashOptions = {}): void {
    if (this.node(id).running) this.crash(id, options);
    this.start(id);
  }

  /**
   * Graceful stop: calls the instance's `stop()`, and ends the incarnation once it has finished, or
   * after `graceMs` at the latest. The disk keeps everything, unsynced writes included (the
   * process exits; the machine stays up).
   */
  stop(id: NodeId | string, options: { graceMs?: number } = {}): void {
    const node = this.node(id);
    const current = node.current;
    assert(current !== undefined, `stop of ${node.id}, which is down`);
    const incarnation = current.incarnation;
    this.record(`stop ${incarnation.label}`);
    const exit = (): void => {
      if (node.current?.incarnation !== incarnation) return;
      this.record(`exit ${incarnation.label}`);
      this.terminate(node);
    };
    this.scheduler.scheduleAfterMs(options.graceMs ?? 1000, `stop-deadline ${incarnation.label}`, exit);
    let stopping: void | Promise<void>;
    try {
      stopping = current.instance.stop?.();
    } catch (error) {
      this.fail(error, `stop ${incarnation.label}`);
      return;
    }
    if (stopping === undefined) exit();
    else stopping.then(exit, (error: unknown) => this.fail(error, `stop ${incarnation.label}`));
  }

  /** The disk is destroyed and the machine replaced: crashes the node if it runs; it stays down, empty. */
  wipe(id: NodeId | string): void {
    const node = this.node(id);
    if (node.running) this.crash(id);
    node.wipes++;
    node.disk.wipe();
  }

  private terminate(node: SimNode): void {
    const current = node.current;
    assert(current !== undefined, 'terminate of a node that is down');
    current.incarnation.kill();
    current.endpoint.close();
    node.current = undefined;
  }

  private environment(node: SimNode, incarnation: Incarnation, endpoint: SimEndpoint): Environment {
    const clockRandom = this.random.fork(`clock/${node.id}/${incarnation.number}`);
    const origin = clockRandom.nextInt(CLOCK_ORIGIN_MS_MAX);
    const skew = clockRandom.uniform(-WALL_CLOCK_SKEW_MS_MAX, WALL_CLOCK_SKEW_MS_MAX);
    return {
      clock: new SimClock(this.scheduler, incarnation, origin, this.wallClockOriginMs + skew),
      random: this.random.fork(`process/${node.id}/${incarnation.number}`),
      network: endpoint,
      disk: node.disk.view(incarnation),
      objectStore: this.objectStore.client(incarnation),
      log: new SimLogger(this.scheduler, incarnation.label, this.logLevelMin, incarnation, (record) =>
        this.recordErrorLog(record),
      ),
    };
  }

  // ---- time ----

  nowMs(): number {
    return this.scheduler.nowMs();
  }

  /** See `Scheduler.runUntil`; throws `SimulationFailure` once the simulation has failed. */
  runUntil(stop: StopCondition, options?: RunUntilOptions): Promise<RunUntilResult> {
    return this.scheduler.runUntil(stop, options);
  }

  runFor(durationMs: number, options?: RunUntilOptions): Promise<RunUntilResult> {
    return this.scheduler.runUntil(this.nowMs() + durationMs, options);
  }

  /** Runs `callback` at virtual time `timeMs` (a workload's or fault's event). */
  at(timeMs: number, label: string, callback: () => void): ScheduledEvent {
    return this.scheduler.scheduleAtUs(
      Math.max(this.scheduler.nowUs, millisecondsToMicros(timeMs)),
      label,
      callback,
    );
  }

  after(delayMs: number, label: string, callback: () => void): ScheduledEvent {
    return this.scheduler.scheduleAfterMs(delayMs, label, callback);
  }

  // ---- trace, logs, failure ----

  /** A workload's annotation in the trace (`note <text>`); the demo shows them. */
  note(text: string): void {
    this.trace.record(this.scheduler.nowUs, `note ${text}`);
  }

  /** A trace line from a simulator component (lifecycle, faults), at the current virtual time. */
  record(text: string): void {
    this.trace.record(this.scheduler.nowUs, text);
  }

  /** A logger for workload code outside any node (a client or a checker). */
  logger(source: string): SimLogger {
    return new SimLogger(this.scheduler, source, this.logLevelMin, undefined, (record) =>
      this.recordErrorLog(record),
    );
  }

  /** Marks the run failed (the first failure wins); `runUntil` throws it. */
  fail(error: unknown, context: string): void {
    this.scheduler.fail(error, context);
  }

  get failure(): SimulationFailureInfo | undefined {
    return this.scheduler.failure;
  }

  /** ERROR log lines so far (the first `ERROR_LOGS_KEPT_MAX`), and their total count. */
  get errorLogs(): readonly LogRecord[] {
    return this.errorLogList;
  }

  get errorLogTotal(): number {
    return this.errorLogCount;
  }

  private recordErrorLog(record: LogRecord): void {
    this.errorLogCount++;
    if (this.errorLogList.length < ERROR_LOGS_KEPT_MAX) this.errorLogList.push(record);
  }

  describeFailure(): string | undefined {
    const failure = this.failure;
    return failure === undefined
      ? undefined
      : `${failure.context} at ${failure.timeUs / 1000} ms: ${describeError(failure.error)}`;
  }
}
