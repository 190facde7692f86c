/**
 * A tiny workload for testing the harness itself (not a northlight component): five nodes in three
 * zones each append dense, checksummed counter records to a log file in batches (one write, then
 * one sync), "acknowledge" the last value once the sync resolves, and tell their peers. Checkers:
 *   - durability: after every restart a node recovers at least the value it acknowledged last
 *     (unless its disk was wiped) — the disk's fsync semantics seen end to end;
 *   - integrity: no node receives a value from a peer above what that peer acknowledged;
 *   - liveness: after the faults heal, every node acknowledges new values.
 * `ackBeforeSync` plants a bug (acknowledge before the sync) that the durability checker must find.
 */
import { type DiskFile, type Environment, isNorthlightError, type NodeId } from '@northlight/protocol';
import { FaultInjector, generateFaultPlan } from '../../src/faults.js';
import type { SimCluster, Violation, Workload } from '../../src/index.js';
import type { Prng } from '../../src/prng.js';

const RECORD_BYTES = 16;
const MAGIC = 0x4e4c4354;
const LOG_PATH = '/data/counter.log';

export interface DurableCounterOptions {
  readonly name?: string;
  readonly ackBeforeSync?: boolean;
  /** Throw from a timer callback of n1 at this virtual time (tests failure reporting). */
  readonly throwAtMs?: number;
  /** Reject a promise nobody handles, in n1 at this virtual time (tests the unhandled-rejection backstop). */
  readonly rejectAtMs?: number;
  /** Log at ERROR once (tests the error-log rule). */
  readonly logErrorAtMs?: number;
  readonly faultyUntilMs?: number;
  readonly endMs?: number;
  readonly faults?: boolean;
}

interface CounterWorld {
  readonly cluster: SimCluster;
  readonly acknowledged: Map<NodeId, number>;
  readonly wipesSeen: Map<NodeId, number>;
  readonly violations: Violation[];
  readonly afterHeal: Map<NodeId, number>;
  recoveries: number;
  healed: boolean;
}

function checksum(value: number): number {
  return (Math.imul(value ^ 0x5bd1e995, 0x27d4eb2d) ^ MAGIC) >>> 0;
}

function encodeRecords(first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(count * RECORD_BYTES);
  const view = new DataView(bytes.buffer);
  for (let index = 0; index < count; index++) {
    const value = first + index;
    view.setUint32(index * RECORD_BYTES, MAGIC);
    view.setUint32(index * RECORD_BYTES + 4, value);
    view.setUint32(index * RECORD_BYTES + 8, checksum(value));
  }
  return bytes;
}

/** The highest value of the valid prefix of dense records. */
function recoverValue(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let value = 0;
  for (let offset = 0; offset + RECORD_BYTES <= bytes.length; offset += RECORD_BYTES) {
    const candidate = view.getUint32(offset + 4);
    if (
      view.getUint32(offset) !== MAGIC ||
      candidate !== value + 1 ||
      view.getUint32(offset + 8) !== checksum(candidate)
    ) {
      break;
    }
    value = candidate;
  }
  return value;
}

class CounterProcess {
  private value = 0;
  private file: DiskFile | undefined;

  constructor(
    private readonly env: Environment,
    private readonly world: CounterWorld,
    private readonly options: DurableCounterOptions,
    private readonly peers: readonly NodeId[],
  ) {
    env.network.onMessage((from, message) => this.receive(from, message));
    void this.main();
  }

  private get id(): NodeId {
    return this.env.network.address;
  }

  private async main(): Promise<void> {
    this.file = await this.retry(() => this.env.disk.open(LOG_PATH));
    const file = this.file;
    const size = await file.size();
    const bytes = await this.retry(() => file.read(0, size));
    this.value = recoverValue(bytes);
    this.checkRecovery();
    if (this.options.throwAtMs !== undefined && this.id === 'n1') {
      this.env.clock.setTimer(Math.max(0, this.options.throwAtMs - this.world.cluster.nowMs()), () => {
        throw new Error('planted failure in n1');
      });
    }
    if (this.options.rejectAtMs !== undefined && this.id === 'n1') {
      this.env.clock.setTimer(this.options.rejectAtMs, () => {
        void Promise.reject(new Error('planted unhandled rejection in n1'));
      });
    }
    if (this.options.logErrorAtMs !== undefined && this.id === 'n2') {
      this.env.clock.setTimer(this.options.logErrorAtMs, () =>
        this.env.log.log('error', 'planted error line'),
      );
    }
    this.env.clock.setTimer(this.env.random.nextInt(3), () => void this.tick());
  }

  private checkRecovery(): void {
    const world = this.world;
    const wipes = world.cluster.node(this.id).wipes;
    if (wipes !== (world.wipesSeen.get(this.id) ?? 0)) {
      world.wipesSeen.set(this.id, wipes);
      world.acknowledged.set(this.id, 0);
    }
    world.recoveries++;
    const acknowledged = world.acknowledged.get(this.id) ?? 0;
    // n5 is the fault budget's permanent-loss node: bit flips may cost it acknowledged records.
    if (this.value < acknowledged && this.id !== 'n5') {
      world.violations.push({
        checker: 'durability',
        message: `${this.id} acknowledged ${acknowledged} but recovered ${this.value}`,
      });
    }
  }

  private async tick(): Promise<void> {
    const file = this.file as DiskFile;
    const count = 1 + this.env.random.nextInt(48);
    const first = this.value + 1;
    const data = encodeRecords(first, count);
    const offset = (first - 1) * RECORD_BYTES;
    if (this.options.ackBeforeSync === true) {
      await this.retry(() => file.write(offset, data));
      this.acknowledge(first + count - 1);
      await this.retry(() => file.sync());
    } else {
      await this.retry(async () => {
        await file.write(offset, data);
        await file.sync();
      });
      this.acknowledge(first + count - 1);
    }
    this.env.clock.setTimer(1 + this.env.random.nextInt(4), () => void this.tick());
  }

  private acknowledge(value: number): void {
    this.value = value;
    const world = this.world;
    world.acknowledged.set(this.id, Math.max(world.acknowledged.get(this.id) ?? 0, value));
    if (world.healed && !world.afterHeal.has(this.id)) world.afterHeal.set(this.id, value);
    const message = new Uint8Array(4);
    new DataView(message.buffer).setUint32(0, value);
    for (const peer of this.peers) this.env.network.send(peer, message);
  }

  private receive(from: NodeId, message: Uint8Array): void {
    const value = new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0);
    const acknowledged = this.world.acknowledged.get(from) ?? 0;
    if (value > acknowledged && this.world.cluster.node(from).wipes === 0) {
      this.world.violations.push({
        checker: 'integrity',
        message: `${this.id} got ${value} from ${from}, above ${acknowledged}`,
      });
    }
  }

  /** Retries an operation that failed with an injected disk error. */
  private async retry<T>(operation: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await operation();
      } catch (error) {
        if (!isNorthlightError(error, 'NL_DISK_IO')) throw error;
        this.env.log.log('warn', 'disk error, retrying', { error });
        await this.env.clock.sleep(1);
      }
    }
  }
}

const worlds = new WeakMap<SimCluster, CounterWorld>();

function worldOf(cluster: SimCluster): CounterWorld {
  const world = worlds.get(cluster);
  if (world === undefined) throw new Error('durable-counter: setup did not run');
  return world;
}

export function durableCounterWorkload(options: DurableCounterOptions = {}): Workload {
  const faultyUntilMs = options.faultyUntilMs ?? 300;
  const endMs = options.endMs ?? 400;
  let planRandom: Prng | undefined;
  return {
    name: options.name ?? 'durable-counter',
    description: 'harness self-test: durable counters under crashes, partitions and disk faults',
    setup(cluster, random) {
      const world: CounterWorld = {
        cluster,
        acknowledged: new Map(),
        wipesSeen: new Map(),
        violations: [],
        afterHeal: new Map(),
        recoveries: 0,
        healed: false,
      };
      worlds.set(cluster, world);
      planRandom = random.fork('plan');
      const layout = [
        ['n1', 'a'],
        ['n2', 'a'],
        ['n3', 'b'],
        ['n4', 'b'],
        ['n5', 'c'],
      ] as const;
      const ids = layout.map(([id]) => id as string);
      for (const [id, zone] of layout) {
        const peers = ids.filter((peer) => peer !== id) as NodeId[];
        cluster.addNode({ id, zone, factory: (env) => new CounterProcess(env, world, options, peers) });
      }
    },
    async run(cluster) {
      const world = worldOf(cluster);
      if (options.faults !== false) {
        const budget = { permanentLossNodes: ['n5'] };
        const injector = new FaultInjector(cluster, generateFaultPlan(planRandom as Prng, budget), budget);
        injector.start(faultyUntilMs);
        await cluster.runUntil(faultyUntilMs);
        injector.heal();
      } else {
        await cluster.runUntil(faultyUntilMs);
      }
      world.healed = true;
      cluster.note('faults healed; checking liveness');
      await cluster.runUntil(endMs);
    },
    check(cluster) {
      const world = worldOf(cluster);
      const violations = [...world.violations];
      for (const node of cluster.nodes) {
        if (!world.afterHeal.has(node.id)) {
          violations.push({ checker: 'liveness', message: `${node.id} acknowledged nothing after the heal` });
        }
      }
      let total = 0;
      for (const value of world.acknowledged.values()) total += value;
      return {
        violations,
        stats: { acknowledgedRecords: total, recoveries: world.recoveries },
      };
    },
  };
}
