/**
 * Seeded fault schedules, swarm style (Groce et al., "Swarm Testing"; FoundationDB's buggify;
 * TigerBeetle's VOPR): for each seed, every kind of fault is switched on or off at random and, when
 * on, given a random intensity. A seed that runs with only message duplication and slow disks
 * explores different corners than one that crashes a node every 100 ms; a single "everything at
 * medium intensity" configuration would explore neither well.
 *
 * The workload bounds what may happen with a `FaultBudget`: only nodes in `permanentLossNodes` may
 * have their disks destroyed (wiped) or corrupted (bit flips). Every node can still crash and
 * restart, lose unsynced writes, be partitioned or isolated, and have its messages dropped,
 * duplicated and reordered, because the system must survive all of that on any node.
 *
 * `heal()` ends every transient fault and restarts every node that is down, so that a checker can
 * then verify liveness: that the system makes progress again once the world is kind.
 */
import type { SimCluster } from './cluster.js';
import type { Prng } from './prng.js';
import { asNodeId, assert, type NodeId } from './protocol.js';
import type { ScheduledEvent } from './scheduler.js';

export interface FaultBudget {
  /** Nodes whose disks may be wiped or bit-flipped; empty means no permanent loss at all. */
  readonly permanentLossNodes: readonly (NodeId | string)[];
  /** Nodes that may crash, be isolated or be partitioned off (default: every node of the cluster). */
  readonly faultyNodes?: readonly (NodeId | string)[];
  /** At most this many nodes down at once through injected crashes and wipes (default: no limit). */
  readonly nodesDownMax?: number;
}

interface Recurring {
  readonly enabled: boolean;
  /** Mean of the exponential gap between two faults of this kind. */
  readonly meanIntervalMs: number;
}

export interface FaultPlan {
  readonly crashes: Recurring & { readonly downtimeMsMax: number; readonly processOnlyProbability: number };
  readonly partitions: Recurring & { readonly durationMsMax: number; readonly oneWayProbability: number };
  readonly isolations: Recurring & { readonly durationMsMax: number };
  readonly zoneOutages: Recurring & { readonly durationMsMax: number };
  readonly messageLoss: { readonly enabled: boolean; readonly dropProbability: number };
  readonly duplication: { readonly enabled: boolean; readonly duplicateProbability: number };
  readonly reordering: {
    readonly enabled: boolean;
    readonly reorderProbability: number;
    readonly reorderDelayMsMax: number;
  };
  readonly diskErrors: { readonly enabled: boolean; readonly ioErrorProbability: number };
  readonly objectStoreOutages: Recurring & {
    readonly durationMsMax: number;
    readonly failureProbability: number;
  };
  /** Budget nodes only. */
  readonly bitFlips: Recurring;
  /** Budget nodes only; each at most once per run; the node comes back empty after `downtimeMsMax`. */
  readonly wipes: Recurring & { readonly downtimeMsMax: number };
}

export type FaultKind = keyof FaultPlan;

export interface FaultPlanOptions {
  /** Probability that each fault kind is switched on (default 0.5). */
  readonly enableProbability?: number;
  /** Multiplies every interval and duration: above 1 makes faults rarer and longer (default 1). */
  readonly timeScale?: number;
}

/** Draws a plan. Every parameter is drawn, enabled or not, in a fixed order. */
export function generateFaultPlan(
  random: Prng,
  budget: FaultBudget,
  options: FaultPlanOptions = {},
): FaultPlan {
  const enable = options.enableProbability ?? 0.5;
  const scale = options.timeScale ?? 1;
  const on = (): boolean => random.chance(enable);
  const span = (minimum: number, maximum: number): number => random.logUniform(minimum, maximum) * scale;
  const permanent = budget.permanentLossNodes.length > 0;
  return {
    crashes: {
      enabled: on(),
      meanIntervalMs: span(100, 3000),
      downtimeMsMax: span(10, 2000),
      processOnlyProbability: random.uniform(0, 0.5),
    },
    partitions: {
      enabled: on(),
      meanIntervalMs: span(200, 5000),
      durationMsMax: span(10, 2000),
      oneWayProbability: 0.3,
    },
    isolations: { enabled: on(), meanIntervalMs: span(200, 5000), durationMsMax: span(10, 2000) },
    zoneOutages: { enabled: on(), meanIntervalMs: span(500, 10_000), durationMsMax: span(50, 3000) },
    messageLoss: { enabled: on(), dropProbability: random.logUniform(0.001, 0.3) },
    duplication: { enabled: on(), duplicateProbability: random.logUniform(0.001, 0.2) },
    reordering: {
      enabled: on(),
      reorderProbability: random.logUniform(0.01, 0.5),
      reorderDelayMsMax: random.logUniform(1, 50),
    },
    diskErrors: { enabled: on(), ioErrorProbability: random.logUniform(0.0001, 0.02) },
    objectStoreOutages: {
      enabled: on(),
      meanIntervalMs: span(500, 10_000),
      durationMsMax: span(100, 5000),
      failureProbability: random.logUniform(0.001, 0.1),
    },
    bitFlips: { enabled: on() && permanent, meanIntervalMs: span(200, 5000) },
    wipes: { enabled: on() && permanent, meanIntervalMs: span(500, 10_000), downtimeMsMax: span(10, 2000) },
  };
}

/** A plan with every fault switched off. */
export function quietFaultPlan(): FaultPlan {
  const off = { enabled: false, meanIntervalMs: 1, durationMsMax: 1 };
  return {
    crashes: { ...off, downtimeMsMax: 1, processOnlyProbability: 0 },
    partitions: { ...off, oneWayProbability: 0 },
    isolations: off,
    zoneOutages: off,
    messageLoss: { enabled: false, dropProbability: 0 },
    duplication: { enabled: false, duplicateProbability: 0 },
    reordering: { enabled: false, reorderProbability: 0, reorderDelayMsMax: 0 },
    diskErrors: { enabled: false, ioErrorProbability: 0 },
    objectStoreOutages: { ...off, failureProbability: 0 },
    bitFlips: { enabled: false, meanIntervalMs: 1 },
    wipes: { enabled: false, meanIntervalMs: 1, downtimeMsMax: 1 },
  };
}

/** One line per enabled fault kind, for the demo and the trace. */
export function describeFaultPlan(plan: FaultPlan): string[] {
  const lines: string[] = [];
  const ms = (value: number): string => `${Math.round(value)}ms`;
  const pct = (value: number): string => `${(value * 100).toPrecision(2)}%`;
  if (plan.crashes.enabled) {
    lines.push(
      `crashes every ~${ms(plan.crashes.meanIntervalMs)}, down up to ${ms(plan.crashes.downtimeMsMax)}`,
    );
  }
  if (plan.partitions.enabled) {
    lines.push(
      `partitions every ~${ms(plan.partitions.meanIntervalMs)}, up to ${ms(plan.partitions.durationMsMax)}`,
    );
  }
  if (plan.isolations.enabled) {
    lines.push(
      `node isolation every ~${ms(plan.isolations.meanIntervalMs)}, up to ${ms(plan.isolations.durationMsMax)}`,
    );
  }
  if (plan.zoneOutages.enabled) {
    lines.push(
      `zone outages every ~${ms(plan.zoneOutages.meanIntervalMs)}, up to ${ms(plan.zoneOutages.durationMsMax)}`,
    );
  }
  if (plan.messageLoss.enabled) lines.push(`message loss ${pct(plan.messageLoss.dropProbability)}`);
  if (plan.duplication.enabled)
    lines.push(`message duplication ${pct(plan.duplication.duplicateProbability)}`);
  if (plan.reordering.enabled) {
    lines.push(
      `reordering ${pct(plan.reordering.reorderProbability)} of messages by up to ${ms(plan.reordering.reorderDelayMsMax)}`,
    );
  }
  if (plan.diskErrors.enabled) lines.push(`disk I/O errors ${pct(plan.diskErrors.ioErrorProbability)}`);
  if (plan.objectStoreOutages.enabled) {
    const outages = plan.objectStoreOutages;
    lines.push(
      `object store outages every ~${ms(outages.meanIntervalMs)}, up to ${ms(outages.durationMsMax)}, ` +
        `request failures ${pct(outages.failureProbability)}`,
    );
  }
  if (plan.bitFlips.enabled)
    lines.push(`bit flips every ~${ms(plan.bitFlips.meanIntervalMs)} (budget nodes)`);
  if (plan.wipes.enabled)
    lines.push(`disk wipes every ~${ms(plan.wipes.meanIntervalMs)} (budget nodes, once each)`);
  if (lines.length === 0) lines.push('no faults');
  return lines;
}

export type FaultCounts = Record<FaultKind | 'restarts', number>;

/**
 * Applies a plan to a cluster: steady rates (message loss, duplication, reordering, disk errors,
 * object store failures) at `start`, and recurring faults as scheduled events until `untilMs`.
 */
export class FaultInjector {
  readonly counts: FaultCounts = {
    crashes: 0,
    partitions: 0,
    isolations: 0,
    zoneOutages: 0,
    messageLoss: 0,
    duplication: 0,
    reordering: 0,
    diskErrors: 0,
    objectStoreOutages: 0,
    bitFlips: 0,
    wipes: 0,
    restarts: 0,
  };
  private readonly events = new Set<ScheduledEvent>();
  private readonly permanentLossNodes: readonly NodeId[];
  private readonly wipedNodes = new Set<NodeId>();
  private faultyNodes: readonly NodeId[] = [];
  private untilMs = 0;
  private healed = false;

  constructor(
    private readonly cluster: SimCluster,
    readonly plan: FaultPlan,
    private readonly budget: FaultBudget,
    private readonly random: Prng = cluster.random.fork('faults/events'),
  ) {
    this.permanentLossNodes = budget.permanentLossNodes.map((id) => cluster.node(id).id);
  }

  /** Starts injecting now; recurring faults begin until `untilMs` (their ends may come later). */
  start(untilMs: number): void {
    assert(!this.healed, 'a healed fault injector cannot start again');
    this.untilMs = untilMs;
    this.faultyNodes = (this.budget.faultyNodes ?? this.cluster.nodes.map((node) => node.id)).map(
      (id) => this.cluster.node(id).id,
    );
    for (const line of describeFaultPlan(this.plan)) this.cluster.record(`fault plan: ${line}`);
    this.applyRates();
    const plan = this.plan;
    this.recur(plan.crashes, 'crash', () => this.crashOne());
    this.recur(plan.partitions, 'partition', () => this.partitionSome());
    this.recur(plan.isolations, 'isolate', () => this.isolateOne());
    this.recur(plan.zoneOutages, 'zone-outage', () => this.zoneOutage());
    this.recur(plan.objectStoreOutages, 's3-outage', () => this.objectStoreOutage());
    this.recur(plan.bitFlips, 'bit-flip', () => this.flipBit());
    this.recur(plan.wipes, 'wipe', () => this.wipeOne());
  }

  /**
   * Ends every transient fault, on the whole cluster: cancels the injector's pending events, heals
   * the network (partitions, isolations, zone outages, loss, duplication, reordering), stops disk
   * and object store errors, and restarts every node that is down (wiped ones come back empty).
   */
  heal(options: { restartNodes?: boolean } = {}): void {
    this.healed = true;
    for (const event of this.events) event.cancel();
    this.events.clear();
    healCluster(this.cluster, options);
  }

  private applyRates(): void {
    const plan = this.plan;
    const network = this.cluster.network;
    if (plan.messageLoss.enabled) {
      this.counts.messageLoss++;
      network.setFaultRates({ dropProbability: plan.messageLoss.dropProbability });
    }
    if (plan.duplication.enabled) {
      this.counts.duplication++;
      network.setFaultRates({ duplicateProbability: plan.duplication.duplicateProbability });
    }
    if (plan.reordering.enabled) {
      this.counts.reordering++;
      network.setFaultRates({
        reorderProbability: plan.reordering.reorderProbability,
        reorderDelayMsMax: plan.reordering.reorderDelayMsMax,
      });
    }
    if (plan.diskErrors.enabled) {
      this.counts.diskErrors++;
      for (const node of this.cluster.nodes)
        node.disk.setIoErrorProbability(plan.diskErrors.ioErrorProbability);
    }
    if (plan.objectStoreOutages.enabled) {
      this.cluster.objectStore.setFailureProbability(plan.objectStoreOutages.failureProbability);
    }
  }

  /** Schedules `inject` at exponential gaps until `untilMs`. */
  private recur(kind: Recurring, label: string, inject: () => void): void {
    if (!kind.enabled) return;
    const next = (): void => {
      const atMs = this.cluster.nowMs() + this.random.exponential(kind.meanIntervalMs);
      if (atMs >= this.untilMs) return;
      this.schedule(atMs - this.cluster.nowMs(), `fault-timer ${label}`, () => {
        inject();
        next();
      });
    };
    next();
  }

  private schedule(delayMs: number, label: string, callback: () => void): void {
    const event = this.cluster.after(delayMs, label, () => {
      this.events.delete(event);
      callback();
    });
    this.events.add(event);
  }

  private nodesDown(): number {
    return this.cluster.nodes.filter((node) => !node.running).length;
  }

  private mayTakeDown(): boolean {
    return this.budget.nodesDownMax === undefined || this.nodesDown() < this.budget.nodesDownMax;
  }

  private crashOne(): void {
    const candidates = this.faultyNodes.filter((id) => this.cluster.node(id).running);
    if (candidates.length === 0 || !this.mayTakeDown()) return;
    const id = this.random.pick(candidates);
    const kind = this.random.chance(this.plan.crashes.processOnlyProbability) ? 'process' : 'power-loss';
    this.counts.crashes++;
    this.cluster.record(`fault crash ${id} ${kind}`);
    this.cluster.crash(id, { kind });
    this.restartLater(id, this.random.uniform(1, this.plan.crashes.downtimeMsMax));
  }

  private restartLater(id: NodeId, delayMs: number): void {
    this.schedule(delayMs, `fault-restart ${id}`, () => {
      if (this.cluster.node(id).running) return;
      this.counts.restarts++;
      this.cluster.record(`fault restart ${id}`);
      this.cluster.start(id);
    });
  }

  private partitionSome(): void {
    const all = this.cluster.nodes.map((node) => node.id);
    const sideA = this.faultyNodes.filter(() => this.random.chance(0.5));
    if (sideA.length === 0 || sideA.length === all.length) return;
    const sideB = all.filter((id) => !sideA.includes(id));
    const oneWay = this.random.chance(this.plan.partitions.oneWayProbability);
    this.counts.partitions++;
    const partition = this.cluster.network.partition(sideA, sideB, { oneWay });
    this.cluster.record(`fault partition ${partition.description}`);
    this.schedule(this.random.uniform(1, this.plan.partitions.durationMsMax), 'fault-end partition', () =>
      partition.heal(),
    );
  }

  private isolateOne(): void {
    if (this.faultyNodes.length === 0) return;
    const id = this.random.pick(this.faultyNodes);
    this.counts.isolations++;
    this.cluster.record(`fault isolate ${id}`);
    this.cluster.network.isolateNode(id);
    this.schedule(this.random.uniform(1, this.plan.isolations.durationMsMax), `fault-end isolate ${id}`, () =>
      this.cluster.network.restoreNode(id),
    );
  }

  private zoneOutage(): void {
    const zones = this.cluster.zones.filter((zone) =>
      this.cluster.nodesInZone(zone).every((node) => this.faultyNodes.includes(node.id)),
    );
    if (zones.length === 0) return;
    const zone = this.random.pick(zones);
    this.counts.zoneOutages++;
    this.cluster.record(`fault zone-outage ${zone}`);
    this.cluster.network.zoneOutage(zone);
    this.schedule(
      this.random.uniform(1, this.plan.zoneOutages.durationMsMax),
      `fault-end zone-outage ${zone}`,
      () => this.cluster.network.restoreZone(zone),
    );
  }

  private objectStoreOutage(): void {
    this.counts.objectStoreOutages++;
    const durationMs = this.random.uniform(1, this.plan.objectStoreOutages.durationMsMax);
    this.cluster.record(`fault s3-outage ${Math.round(durationMs)}ms`);
    this.cluster.objectStore.setUnavailable(durationMs);
  }

  private flipBit(): void {
    if (this.permanentLossNodes.length === 0) return;
    const id = this.random.pick(this.permanentLossNodes);
    const flip = this.cluster.node(id).disk.flipBit();
    if (flip !== undefined) this.counts.bitFlips++;
  }

  private wipeOne(): void {
    const candidates = this.permanentLossNodes.filter((id) => !this.wipedNodes.has(id));
    if (candidates.length === 0) return;
    const id = this.random.pick(candidates);
    if (this.cluster.node(id).running && !this.mayTakeDown()) return;
    this.wipedNodes.add(id);
    this.counts.wipes++;
    this.cluster.record(`fault wipe ${id}`);
    this.cluster.wipe(id);
    this.restartLater(id, this.random.uniform(1, this.plan.wipes.downtimeMsMax));
  }
}

/** Ends every transient fault on the cluster and (by default) restarts every node that is down. */
export function healCluster(cluster: SimCluster, options: { restartNodes?: boolean } = {}): void {
  cluster.record('fault heal');
  cluster.network.healAll();
  for (const node of cluster.nodes) {
    if (node.disk.ioErrorProbability !== 0) node.disk.setIoErrorProbability(0);
  }
  cluster.objectStore.setAvailable();
  cluster.objectStore.setFailureProbability(0);
  if (options.restartNodes === false) return;
  for (const node of cluster.nodes) {
    if (!node.running) cluster.start(node.id);
  }
}

/** Node ids from strings, for budgets written as literals. */
export function nodeIds(...ids: string[]): NodeId[] {
  return ids.map(asNodeId);
}
