/**
 * The simulated network: messages between node ids, each node labelled with a zone. Delivery is as
 * bad as the contract allows: every message may be lost, delayed by a random latency (so messages
 * overtake each other), duplicated, or held back much longer (reordering); partitions, isolated
 * nodes and zone outages drop everything on the links they cut, at send time and again at arrival
 * (a message in flight when a link is cut is lost with it).
 *
 * A message goes to whichever endpoint is bound to its address when it arrives: one sent to a node
 * that then crashed and restarted reaches the new incarnation, as a late datagram or a message
 * queued on a reconnecting socket would. Messages to a crashed (unbound) or closed endpoint, or to
 * an endpoint without a handler yet, are dropped.
 *
 * Each delivery is a fresh copy of the bytes taken at send time: the receiver never aliases the
 * sender's buffer, and two deliveries of a duplicated message do not alias each other. Small copies
 * come from the protocol's byte slabs (`copyBytes`), as the real TCP adapter's frames do
 * (`FrameDecoder`): a `slice()` per message gave each its own backing store, which cost more than
 * anything else the network does. So a delivered array may share its `ArrayBuffer` with unrelated
 * arrays (never its bytes), which the contract allows: receivers respect `byteOffset`.
 */
import type { Prng } from './prng.js';
import {
  AssertionError,
  assert,
  copyBytes,
  type Network,
  type NetworkEndpoint,
  type NodeId,
  type Zone,
} from './protocol.js';
import type { EventOwner, Scheduler } from './scheduler.js';

export interface LinkLatency {
  /** Fixed part of the one-way latency. */
  readonly baseMs: number;
  /** Mean of the exponential tail added to every message. */
  readonly tailMeanMs: number;
}

/** The knobs that swarm testing turns; all default to a perfect network. */
export interface NetworkFaultRates {
  readonly dropProbability: number;
  readonly duplicateProbability: number;
  /** Probability that a message is held back by an extra uniform delay in [0, reorderDelayMsMax]. */
  readonly reorderProbability: number;
  readonly reorderDelayMsMax: number;
}

export interface SimNetworkOptions extends NetworkFaultRates {
  readonly sameZoneLatency: LinkLatency;
  readonly crossZoneLatency: LinkLatency;
  readonly messageBytesMax: number;
  readonly inFlightMessagesMax: number;
}

export const NETWORK_DEFAULTS: SimNetworkOptions = {
  sameZoneLatency: { baseMs: 0.1, tailMeanMs: 0.1 },
  crossZoneLatency: { baseMs: 0.5, tailMeanMs: 0.3 },
  dropProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMsMax: 5,
  messageBytesMax: 16 * 1024 * 1024,
  inFlightMessagesMax: 1_000_000,
};

export const NO_NETWORK_FAULTS: NetworkFaultRates = {
  dropProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMsMax: NETWORK_DEFAULTS.reorderDelayMsMax,
};

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export type DropReason = 'closed' | 'unknown' | 'cut' | 'loss' | 'unbound' | 'no-handler';

/** A set of cut links that can be healed as one. */
export interface Partition {
  readonly description: string;
  heal(): void;
}

type MessageHandler = (from: NodeId, message: Uint8Array) => void;

export class SimEndpoint implements NetworkEndpoint {
  handler: MessageHandler | undefined;
  closed = false;

  constructor(
    private readonly network: SimNetwork,
    readonly address: NodeId,
    readonly owner: EventOwner | undefined,
  ) {}

  send(to: NodeId, message: Uint8Array): void {
    this.network.send(this, to, message);
  }

  onMessage(handler: MessageHandler): void {
    if (this.closed) return;
    this.handler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.network.unbind(this);
  }

  /** Closed explicitly, or its incarnation died. */
  get open(): boolean {
    return !this.closed && (this.owner === undefined || this.owner.alive);
  }
}

export class SimNetwork implements Network {
  private readonly options: SimNetworkOptions;
  private rates: NetworkFaultRates;
  private readonly zones = new Map<NodeId, Zone>();
  private readonly bound = new Map<NodeId, SimEndpoint>();
  private readonly linkLatency = new Map<string, LinkLatency>();
  /** Directed links `from>to` → how many active faults cut them. */
  private readonly cutLinks = new Map<string, number>();
  private readonly isolatedNodes = new Set<NodeId>();
  private readonly downZones = new Set<Zone>();
  private messageNext = 0;
  private inFlight = 0;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0 };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Prng,
    options: Partial<SimNetworkOptions> = {},
  ) {
    this.options = { ...NETWORK_DEFAULTS, ...options };
    this.rates = pickRates(this.options);
    validateRates(this.rates);
  }

  /** Makes `id` an address of the network, in `zone`. */
  addNode(id: NodeId, zone: Zone): void {
    assert(!this.zones.has(id), `network node ${id} added twice`);
    this.zones.set(id, zone);
  }

  zoneOf(id: NodeId): Zone | undefined {
    return this.zones.get(id);
  }

  nodesInZone(zone: Zone): NodeId[] {
    return [...this.zones].filter(([, nodeZone]) => nodeZone === zone).map(([id]) => id);
  }

  bind(address: NodeId): SimEndpoint {
    return this.bindOwned(address, undefined);
  }

  /** Binds an endpoint that closes by itself when `owner` dies (the cluster binds one per incarnation). */
  bindOwned(address: NodeId, owner: EventOwner | undefined): SimEndpoint {
    assert(this.zones.has(address), `bind of unknown address ${address}: addNode it first`);
    const current = this.bound.get(address);
    assert(current === undefined || !current.open, `address ${address} is already bound`);
    const endpoint = new SimEndpoint(this, address, owner);
    this.bound.set(address, endpoint);
    return endpoint;
  }

  /** Called by `SimEndpoint.close`. */
  unbind(endpoint: SimEndpoint): void {
    if (this.bound.get(endpoint.address) === endpoint) this.bound.delete(endpoint.address);
  }

  get faultRates(): NetworkFaultRates {
    return this.rates;
  }

  setFaultRates(rates: Partial<NetworkFaultRates>): void {
    const next = { ...this.rates, ...rates };
    validateRates(next);
    this.rates = next;
    this.note(
      `network rates drop=${next.dropProbability} dup=${next.duplicateProbability} ` +
        `reorder=${next.reorderProbability}/${next.reorderDelayMsMax}ms`,
    );
  }

  /** Latency of the directed link `from → to`, overriding the zone defaults. */
  setLinkLatency(from: NodeId, to: NodeId, latency: LinkLatency): void {
    assert(latency.baseMs >= 0 && latency.tailMeanMs >= 0, 'link latency must not be negative');
    this.linkLatency.set(linkKey(from, to), latency);
  }

  /** Cuts every link from a node of `sideA` to one of `sideB`, and back unless `oneWay`. */
  partition(
    sideA: readonly NodeId[],
    sideB: readonly NodeId[],
    options: { oneWay?: boolean } = {},
  ): Partition {
    const links: string[] = [];
    for (const a of sideA) {
      for (const b of sideB) {
        if (a === b) continue;
        links.push(linkKey(a, b));
        if (options.oneWay !== true) links.push(linkKey(b, a));
      }
    }
    for (const link of links) this.cutLinks.set(link, (this.cutLinks.get(link) ?? 0) + 1);
    const description = `[${sideA.join(',')}]${options.oneWay === true ? '->' : '<->'}[${sideB.join(',')}]`;
    this.note(`network partition ${description}`);
    let healed = false;
    return {
      description,
      heal: () => {
        if (healed) return;
        healed = true;
        for (const link of links) {
          const count = (this.cutLinks.get(link) ?? 0) - 1;
          if (count <= 0) this.cutLinks.delete(link);
          else this.cutLinks.set(link, count);
        }
        this.note(`network heal partition ${description}`);
      },
    };
  }

  /** Cuts the node off from every other node (it can still talk to itself). */
  isolateNode(id: NodeId): void {
    this.isolatedNodes.add(id);
    this.note(`network isolate ${id}`);
  }

  restoreNode(id: NodeId): void {
    if (this.isolatedNodes.delete(id)) this.note(`network restore ${id}`);
  }

  /** Every node of the zone is cut off from every other node, inside the zone too. */
  zoneOutage(zone: Zone): void {
    this.downZones.add(zone);
    this.note(`network zone-outage ${zone}`);
  }

  restoreZone(zone: Zone): void {
    if (this.downZones.delete(zone)) this.note(`network restore-zone ${zone}`);
  }

  /** Ends every network fault: partitions, isolations, zone outages, loss, duplication, reordering. */
  healAll(): void {
    this.cutLinks.clear();
    this.isolatedNodes.clear();
    this.downZones.clear();
    this.rates = NO_NETWORK_FAULTS;
    this.note('network heal-all');
  }

  isLinkUp(from: NodeId, to: NodeId): boolean {
    if (from === to) return true;
    if (this.isolatedNodes.has(from) || this.isolatedNodes.has(to)) return false;
    if (this.downZones.size > 0) {
      const fromZone = this.zones.get(from);
      const toZone = this.zones.get(to);
      if (fromZone !== undefined && this.downZones.has(fromZone)) return false;
      if (toZone !== undefined && this.downZones.has(toZone)) return false;
    }
    return this.cutLinks.size === 0 || !this.cutLinks.has(linkKey(from, to));
  }

  /** Called by `SimEndpoint.send`. */
  send(endpoint: SimEndpoint, to: NodeId, message: Uint8Array): void {
    assert(message instanceof Uint8Array, 'a message must be a Uint8Array');
    if (!(message.length <= this.options.messageBytesMax))
      throw new AssertionError(`message of ${message.length} bytes exceeds ${this.options.messageBytesMax}`);
    const from = endpoint.address;
    const id = this.messageNext++;
    const head = `#${id} ${from}>${to} ${message.length}B`;
    this.stats.sent++;
    const refusal = this.refusal(endpoint, to);
    if (refusal !== undefined) {
      this.drop(head, refusal);
      return;
    }
    const duplicate = this.random.chance(this.rates.duplicateProbability);
    const delayUs = this.sampleDelayUs(from, to);
    this.scheduler.trace.record(this.scheduler.nowUs, `send ${head} +${delayUs}us${duplicate ? ' dup' : ''}`);
    this.dispatch(`${id}`, from, to, copyBytes(message), delayUs);
    if (duplicate) {
      this.stats.duplicated++;
      this.dispatch(`${id}d`, from, to, copyBytes(message), this.sampleDelayUs(from, to));
    }
  }

  private dispatch(id: string, from: NodeId, to: NodeId, copy: Uint8Array, delayUs: number): void {
    if (!(this.inFlight < this.options.inFlightMessagesMax))
      throw new AssertionError(`more than ${this.options.inFlightMessagesMax} in flight`);
    this.inFlight++;
    this.scheduler.scheduleAfterUs(delayUs, `arrive #${id} ${from}>${to}`, () => {
      this.inFlight--;
      this.arrive(id, from, to, copy);
    });
  }

  private arrive(id: string, from: NodeId, to: NodeId, message: Uint8Array): void {
    const endpoint = this.bound.get(to);
    const handler = endpoint?.open === true ? endpoint.handler : undefined;
    let reason: DropReason | undefined;
    if (!this.isLinkUp(from, to)) reason = 'cut';
    else if (endpoint === undefined || !endpoint.open) reason = 'unbound';
    else if (handler === undefined) reason = 'no-handler';
    if (reason !== undefined || handler === undefined) {
      this.drop(`#${id} ${from}>${to}`, reason ?? 'no-handler');
      return;
    }
    this.stats.delivered++;
    handler(from, message);
  }

  /** Why a message from `endpoint` to `to` is lost at send time, if it is. */
  private refusal(endpoint: SimEndpoint, to: NodeId): DropReason | undefined {
    if (!endpoint.open) return 'closed';
    if (!this.zones.has(to)) return 'unknown';
    if (!this.isLinkUp(endpoint.address, to)) return 'cut';
    if (this.random.chance(this.rates.dropProbability)) return 'loss';
    return undefined;
  }

  private sampleDelayUs(from: NodeId, to: NodeId): number {
    const latency = this.latencyOf(from, to);
    let delayMs = latency.baseMs + this.random.exponential(latency.tailMeanMs);
    if (this.random.chance(this.rates.reorderProbability)) {
      this.stats.reordered++;
      delayMs += this.random.uniform(0, this.rates.reorderDelayMsMax);
    }
    return Math.max(1, Math.round(delayMs * 1000));
  }

  private latencyOf(from: NodeId, to: NodeId): LinkLatency {
    if (this.linkLatency.size > 0) {
      const override = this.linkLatency.get(linkKey(from, to));
      if (override !== undefined) return override;
    }
    return this.zones.get(from) === this.zones.get(to)
      ? this.options.sameZoneLatency
      : this.options.crossZoneLatency;
  }

  private drop(head: string, reason: DropReason): void {
    this.stats.dropped++;
    this.scheduler.trace.record(this.scheduler.nowUs, `drop ${head} ${reason}`);
  }

  private note(text: string): void {
    this.scheduler.trace.record(this.scheduler.nowUs, text);
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

function pickRates(options: NetworkFaultRates): NetworkFaultRates {
  return {
    dropProbability: options.dropProbability,
    duplicateProbability: options.duplicateProbability,
    reorderProbability: options.reorderProbability,
    reorderDelayMsMax: options.reorderDelayMsMax,
  };
}

function validateRates(rates: NetworkFaultRates): void {
  for (const [name, value] of [
    ['dropProbability', rates.dropProbability],
    ['duplicateProbability', rates.duplicateProbability],
    ['reorderProbability', rates.reorderProbability],
  ] as const) {
    assert(value >= 0 && value <= 1, `${name} must be in [0, 1]: ${value}`);
  }
  assert(rates.reorderDelayMsMax >= 0, `reorderDelayMsMax must not be negative: ${rates.reorderDelayMsMax}`);
}
