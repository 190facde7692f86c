/**
 * Workload `quorum-writer`: proves that no acknowledged commit is ever lost while the volume's log is
 * replicated with the real quorum, completeness and recovery rules, under any fault schedule within
 * the design's budget (a zone plus one more node may lose its disk for good).
 *
 * Cluster: six toy storage nodes, two per zone (a, b, c), each holding one segment of each of two PGs;
 * two toy writers (w1 in zone a, w2 in zone b; one starts, the other is the failover target). A client
 * submits small transactions (1–3 page diffs across the PGs) to whichever writer serves the newest
 * epoch. Faults (swarm-chosen per seed): crashes with lost or torn unsynced writes, partitions,
 * isolations, zone outages, message loss, duplication and reordering, disk I/O errors, failovers that
 * leave the old writer running behind a partition (a zombie), and — on the budget nodes only — wiped
 * disks and corrupted log bytes. Then everything heals and the client goes on; then every storage node
 * loses power, and the checkers (`checker.ts`) read what is durable.
 */
import {
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  type DiffRun,
  type Lsn,
  type NodeId,
  type PgId,
  type RedoRecord,
  type SegmentId,
  singleConfiguration,
} from '@northlight/protocol';
import type { SimCluster } from '../../cluster.js';
import { FaultInjector, type FaultPlan, generateFaultPlan } from '../../faults.js';
import type { Prng } from '../../prng.js';
import type { SimProcessFactory } from '../../process.js';
import type { CheckResult, StatValue, Workload } from '../../runner.js';
import { QuorumWriterChecker } from './checker.js';
import { ToyStorageNode } from './toy-storage.js';
import { type PgLayout, ToyWriter, type Transaction } from './toy-writer.js';

export const STORAGE_NODES = [
  ['s1', 'a'],
  ['s2', 'a'],
  ['s3', 'b'],
  ['s4', 'b'],
  ['s5', 'c'],
  ['s6', 'c'],
] as const;
export const WRITER_NODES = [
  ['w1', 'a'],
  ['w2', 'b'],
] as const;
const PG_COUNT = 2;
export const PAGES_PER_PG = 64;
export const PAGE_SIZE_BYTES = 4096;
const STARTUP_MS = 200;
const LSN_ALLOCATION_LIMIT = 256n;

/**
 * What stands in for the storage nodes. The default is the toy storage node of this folder; the storage
 * node's own tests plug in the real `StorageNodeCore` (storage-node/test/support/quorum-writer-core.ts).
 */
export interface QuorumWriterStorage {
  /** The process on storage node `nodeId`, holding segment `pg<p>-<nodeId>` of every PG. */
  factory(pgs: readonly PgLayout[], nodeId: string): SimProcessFactory;
  /** The node's durable logs, each as the concatenated encoded redo records it holds (durable-on-disk). */
  durableRecordBytes(cluster: SimCluster, nodeId: string): Uint8Array[];
  /** Whether a durable path holds log records: the target of the log bit-flip fault. */
  isLogPath(path: string): boolean;
}

/** What the workload shows its extensions: the run's checker and every record any writer made. */
export interface QuorumWriterContext {
  readonly checker: QuorumWriterChecker;
  readonly pgs: readonly PgLayout[];
  readonly records: ReadonlyMap<Lsn, RedoRecord>;
}

/** Extra steps for a variant of the workload (e.g. announce PGMRPL and read every page back). */
export interface QuorumWriterExtension {
  /** After the nodes are added, before the load starts. */
  beforeLoad?(cluster: SimCluster, context: QuorumWriterContext): void;
  /** After the healed phase, before the storage nodes lose power. */
  beforePowerLoss?(cluster: SimCluster, context: QuorumWriterContext): Promise<void>;
  /** After the final power loss (the checkers run after this). */
  afterPowerLoss?(cluster: SimCluster, context: QuorumWriterContext): Promise<void>;
  /** False when records may legitimately leave the logs (materialized and collected). Default true. */
  readonly checksDurableLogs?: boolean;
  stats?(context: QuorumWriterContext): Record<string, StatValue>;
}

export interface QuorumWriterOptions {
  readonly name?: string;
  readonly description?: string;
  /** Default: the toy storage node. */
  readonly storage?: QuorumWriterStorage;
  readonly extension?: QuorumWriterExtension;
  /** Virtual milliseconds of load under faults, then of load after healing. */
  readonly faultyMs?: number;
  readonly healedMs?: number;
  /** How long the writer gathers records before sending a batch per PG (group commit). */
  readonly flushIntervalMs?: number;
  /** Mean gap between two client transactions, in virtual milliseconds. */
  readonly clientIntervalMs?: number;
  /** Multiplies the fault plan's intervals and durations (below 1: denser faults for short runs). */
  readonly faultTimeScale?: number;
  /** Planted bug for the checkers' own test: storage acknowledges before fdatasync. */
  readonly acknowledgeBeforeSync?: boolean;
  /** Planted bug: a recovering writer serves without bringing (H, VDL] to a write quorum. */
  readonly skipRereplication?: boolean;
}

/** The short form `npm test` runs on hundreds of seeds: shorter, with faults packed closer together. */
export const QUICK_PROFILE = {
  faultyMs: 900,
  healedMs: 600,
  clientIntervalMs: 2,
  flushIntervalMs: 2,
  faultTimeScale: 0.4,
} as const satisfies QuorumWriterOptions;

interface World extends QuorumWriterContext {
  readonly checker: QuorumWriterChecker;
  readonly records: Map<Lsn, RedoRecord>;
  readonly random: Prng;
  readonly pgs: readonly PgLayout[];
  readonly budget: readonly NodeId[];
  readonly plan: FaultPlan;
  injector?: FaultInjector;
  nextTransactionId: number;
  refusedSubmissions: number;
  clientRunning: boolean;
  acknowledgedBeforeHeal: number;
  failovers: number;
  logBitFlips: number;
  lostNodes: Set<NodeId>;
}

/** The toy storage node of this folder: one `/data/<segment>.log` of encoded records per segment. */
function toyStorage(options: QuorumWriterOptions): QuorumWriterStorage {
  return {
    factory: (pgs, nodeId) => (env, context) =>
      new ToyStorageNode(env, {
        incarnation: context.incarnation,
        segments: pgs.map((pg) => ({ pgId: pg.pgId, segmentId: asSegmentId(`pg${pg.pgId}-${nodeId}`) })),
        ...(options.acknowledgeBeforeSync === undefined
          ? {}
          : { acknowledgeBeforeSync: options.acknowledgeBeforeSync }),
      }),
    durableRecordBytes: (cluster, nodeId) => {
      const disk = cluster.node(nodeId).disk;
      return disk
        .durablePaths()
        .filter((path) => path.endsWith('.log'))
        .map((path) => disk.durableContentOf(path)!);
    },
    isLogPath: (path) => path.endsWith('.log'),
  };
}

export function layout(): PgLayout[] {
  const pgs: PgLayout[] = [];
  for (let pg = 0; pg < PG_COUNT; pg++) {
    const nodeOf = new Map<SegmentId, NodeId>();
    for (const [node] of STORAGE_NODES) nodeOf.set(asSegmentId(`pg${pg}-${node}`), asNodeId(node));
    pgs.push({ pgId: asPgId(pg), quorumSet: singleConfiguration([...nodeOf.keys()]), nodeOf });
  }
  return pgs;
}

/** A budget within "a zone plus one node": none, one node, two nodes, a zone, or a zone and one more. */
function chooseBudget(random: Prng): NodeId[] {
  const zone = random.pick(['a', 'b', 'c']);
  const inZone = STORAGE_NODES.filter(([, z]) => z === zone).map(([id]) => asNodeId(id));
  const others = STORAGE_NODES.filter(([, z]) => z !== zone).map(([id]) => asNodeId(id));
  switch (random.nextInt(5)) {
    case 0:
      return [];
    case 1:
      return [random.pick(inZone)];
    case 2:
      return [random.pick(inZone), random.pick(others)];
    case 3:
      return inZone;
    default:
      return [...inZone, random.pick(others)];
  }
}

function randomRuns(random: Prng): DiffRun[] {
  const runs: DiffRun[] = [];
  let offset = random.nextInt(256);
  for (let i = 0, count = 1 + random.nextInt(2); i < count && offset < PAGE_SIZE_BYTES - 64; i++) {
    const bytes = new Uint8Array(1 + random.nextInt(24));
    random.fillBytes(bytes);
    runs.push({ offset, bytes });
    offset += bytes.length + 16 + random.nextInt(1024);
  }
  return runs;
}

export function quorumWriterWorkload(options: QuorumWriterOptions = {}): Workload {
  const faultyMs = options.faultyMs ?? 2500;
  const healedMs = options.healedMs ?? 2500;
  const clientIntervalMs = options.clientIntervalMs ?? 1.5;
  const storage = options.storage ?? toyStorage(options);
  const extension = options.extension ?? {};
  const worlds = new WeakMap<SimCluster, World>();
  const world = (cluster: SimCluster): World => {
    const found = worlds.get(cluster);
    if (found === undefined) throw new Error('quorum-writer: setup did not run');
    return found;
  };

  function servingWriter(cluster: SimCluster): ToyWriter | undefined {
    let best: ToyWriter | undefined;
    for (const [id] of WRITER_NODES) {
      const writer = cluster.instance<ToyWriter>(id);
      if (writer?.phase === 'serving' && (best === undefined || writer.volumeEpoch > best.volumeEpoch))
        best = writer;
    }
    return best;
  }

  /** The control plane's part: make sure some writer runs and is not fenced. */
  function ensureWriter(cluster: SimCluster, preferred: string): void {
    const alive = WRITER_NODES.some(([id]) => {
      const writer = cluster.instance<ToyWriter>(id);
      return writer !== undefined && writer.phase !== 'fenced';
    });
    if (alive) return;
    if (cluster.node(preferred).running) cluster.crash(preferred, { kind: 'process' });
    cluster.start(preferred);
  }

  function submitOne(cluster: SimCluster, w: World): void {
    const writer = servingWriter(cluster);
    if (writer === undefined) return;
    const writes = [];
    for (let i = 0, count = 1 + w.random.nextInt(3); i < count; i++) {
      const pgId = asPgId(w.random.nextInt(PG_COUNT)) as PgId;
      writes.push({
        pgId,
        pageNo: asPageNo(pgId * PAGES_PER_PG + w.random.nextInt(PAGES_PER_PG)),
        runs: randomRuns(w.random),
      });
    }
    const transaction: Transaction = { id: w.nextTransactionId, writes };
    if (writer.submit(transaction)) w.nextTransactionId += 1;
    else w.refusedSubmissions += 1;
  }

  function startClient(cluster: SimCluster, w: World): void {
    w.clientRunning = true;
    const tick = () => {
      if (!w.clientRunning) return;
      submitOne(cluster, w);
      cluster.after(0.2 + w.random.exponential(clientIntervalMs), 'client', tick);
    };
    cluster.after(0, 'client', tick);
  }

  /** Failover with a zombie: cut the serving writer off storage, start the other one. */
  function scheduleFailovers(cluster: SimCluster, w: World, untilMs: number): void {
    if (!w.random.chance(0.6)) return;
    const meanMs = w.random.logUniform(300, 3000);
    const next = () => {
      const atMs = cluster.nowMs() + w.random.exponential(meanMs);
      if (atMs >= untilMs) return;
      cluster.at(atMs, 'failover', () => {
        const writer = servingWriter(cluster);
        const oldId = WRITER_NODES.find(([id]) => cluster.instance(id) === writer)?.[0];
        if (oldId !== undefined) {
          const storageNodes = STORAGE_NODES.map(([id]) => asNodeId(id));
          const partition = cluster.network.partition([asNodeId(oldId)], storageNodes);
          cluster.after(w.random.logUniform(20, 1500), 'failover-heal', () => partition.heal());
          const newId = oldId === 'w1' ? 'w2' : 'w1';
          if (cluster.node(newId).running) cluster.crash(newId, { kind: 'process' });
          cluster.start(newId);
          cluster.note(`failover ${oldId} -> ${newId} (old writer left running behind a partition)`);
          w.failovers += 1;
        }
        next();
      });
    };
    next();
  }

  /** Corrupt bytes of budget nodes' segment logs (their control logs are out of the toy's model). */
  function scheduleLogBitFlips(cluster: SimCluster, w: World, untilMs: number): void {
    if (w.budget.length === 0 || !w.random.chance(0.5)) return;
    const meanMs = w.random.logUniform(200, 2000);
    const next = () => {
      const atMs = cluster.nowMs() + w.random.exponential(meanMs);
      if (atMs >= untilMs) return;
      cluster.at(atMs, 'log-bit-flip', () => {
        const node = cluster.node(w.random.pick(w.budget));
        const logs = node.disk.durablePaths().filter((path) => storage.isLogPath(path));
        if (logs.length > 0 && node.disk.flipBit(w.random.pick(logs)) !== undefined) w.logBitFlips += 1;
        next();
      });
    };
    next();
  }

  return {
    name: options.name ?? 'quorum-writer',
    description:
      options.description ??
      'toy writer + 6 toy segments per PG (2 PGs, 3 zones) with the real quorum, completeness and recovery rules; checks that no acknowledged commit is lost within AZ+1 failures',

    setup(cluster: SimCluster, random: Prng): void {
      const pgs = layout();
      const budget = chooseBudget(random.fork('budget'));
      const checker = new QuorumWriterChecker();
      const faultyNodes = [...STORAGE_NODES, ...WRITER_NODES].map(([id]) => asNodeId(id));
      const drawn = generateFaultPlan(
        random.fork('plan'),
        { permanentLossNodes: budget, faultyNodes },
        { timeScale: options.faultTimeScale ?? 1 },
      );
      // Bit flips are aimed at segment logs by this workload itself (see scheduleLogBitFlips).
      const plan: FaultPlan = { ...drawn, bitFlips: { ...drawn.bitFlips, enabled: false } };
      const w: World = {
        checker,
        records: new Map(),
        random: random.fork('client'),
        pgs,
        budget,
        plan,
        nextTransactionId: 1,
        refusedSubmissions: 0,
        clientRunning: false,
        acknowledgedBeforeHeal: 0,
        failovers: 0,
        logBitFlips: 0,
        lostNodes: new Set(),
      };
      worlds.set(cluster, w);
      for (const [id, zone] of STORAGE_NODES)
        cluster.addNode({ id, zone, factory: storage.factory(pgs, id) });
      WRITER_NODES.forEach(([id, zone], slot) => {
        cluster.addNode({
          id,
          zone,
          start: slot === 0,
          factory: (env, context) =>
            new ToyWriter(env, {
              pgs,
              slot,
              slots: WRITER_NODES.length,
              lsnAllocationLimit: LSN_ALLOCATION_LIMIT,
              flushIntervalMs: options.flushIntervalMs ?? 0.5,
              resendIntervalMs: 25,
              recoveryGraceMs: 10,
              recoveryTimeoutMs: 600,
              ...(options.skipRereplication === undefined
                ? {}
                : { skipRereplication: options.skipRereplication }),
              observer: {
                recordAllocated: (record) => {
                  w.records.set(record.lsn, record);
                  checker.recordAllocated(record);
                },
                commitAcknowledged: (epoch, lsn, transactionId) => {
                  checker.commitAcknowledged(epoch, lsn, transactionId, cluster.nowMs());
                  const count = checker.acknowledged.length;
                  if (count % 500 === 0)
                    cluster.note(`${count} commits acknowledged (latest LSN ${lsn}, epoch ${epoch})`);
                },
                recovered: (epoch, plan, ranges) => {
                  checker.recovered(epoch, plan, ranges, cluster.nowMs());
                  const rereplicated = [...plan.rereplicate.values()].reduce(
                    (sum, lsns) => sum + lsns.length,
                    0,
                  );
                  cluster.note(
                    `${context.nodeId} recovered the volume under epoch ${epoch}: VDL ${plan.vdl}, ` +
                      `annulled (${plan.truncation.fromExclusive}, ${plan.truncation.toInclusive}], ` +
                      `re-replicated ${rereplicated} record(s); serving`,
                  );
                },
                fenced: (epoch, newerEpoch) => {
                  checker.fenced(epoch, newerEpoch);
                  cluster.note(`${context.nodeId} (epoch ${epoch}) fenced by epoch ${newerEpoch}; it stops`);
                },
              },
            }),
        });
      });
      cluster.note(`budget for permanent loss: [${budget.join(', ')}]`);
    },

    async run(cluster: SimCluster): Promise<void> {
      const w = world(cluster);
      extension.beforeLoad?.(cluster, w);
      await cluster.runFor(STARTUP_MS);
      startClient(cluster, w);
      const faultyUntilMs = cluster.nowMs() + faultyMs;
      const injector = new FaultInjector(cluster, w.plan, {
        permanentLossNodes: w.budget,
        faultyNodes: [...STORAGE_NODES, ...WRITER_NODES].map(([id]) => asNodeId(id)),
      });
      w.injector = injector;
      injector.start(faultyUntilMs);
      scheduleFailovers(cluster, w, faultyUntilMs);
      scheduleLogBitFlips(cluster, w, faultyUntilMs);
      await cluster.runUntil(faultyUntilMs);
      injector.heal();
      ensureWriter(cluster, 'w1');
      w.acknowledgedBeforeHeal = w.checker.acknowledged.length;
      for (const node of cluster.nodes) if (node.wipes > 0) w.lostNodes.add(node.id);
      cluster.note(`healed; ${w.lostNodes.size} storage node(s) lost their disks`);
      await cluster.runFor(healedMs);
      w.clientRunning = false;
      await extension.beforePowerLoss?.(cluster, w);
      // Every storage node loses power: what the checkers read is exactly what was durable.
      for (const [id] of STORAGE_NODES)
        if (cluster.node(id).running) cluster.crash(id, { kind: 'power-loss' });
      await cluster.runFor(1);
      await extension.afterPowerLoss?.(cluster, w);
    },

    check(cluster: SimCluster): CheckResult {
      const w = world(cluster);
      const checker = w.checker;
      checker.checkNoLostCommit();
      const logs = new Map(
        STORAGE_NODES.map(([id]) => [id, storage.durableRecordBytes(cluster, id)] as const),
      );
      const recordsChecked = extension.checksDurableLogs === false ? 0 : checker.checkDurableOnDisk(logs);
      const acknowledgedAfterHeal = checker.acknowledged.length - w.acknowledgedBeforeHeal;
      const segmentsWithDisks = STORAGE_NODES.length - w.lostNodes.size;
      if (segmentsWithDisks >= 4 && acknowledgedAfterHeal === 0) {
        checker.violations.push({
          checker: 'liveness',
          message: `no commit acknowledged in ${healedMs} ms after healing, with ${segmentsWithDisks} segments per PG intact`,
        });
      }
      const lastRecovery = checker.recoveries.at(-1);
      return {
        violations: checker.violations,
        stats: {
          budget: w.budget.join(',') || 'none',
          transactionsSubmitted: w.nextTransactionId - 1,
          commitsAcknowledged: checker.acknowledged.length,
          commitsAcknowledgedAfterHeal: acknowledgedAfterHeal,
          backPressureRefusals: w.refusedSubmissions,
          recoveries: checker.recoveries.length,
          lastEpoch: lastRecovery?.epoch ?? 0n,
          lastRecoveredVdl: lastRecovery?.vdl ?? 0n,
          fencedWriters: checker.fencings.length,
          failovers: w.failovers,
          logBitFlips: w.logBitFlips,
          storageNodesLost: w.lostNodes.size,
          recordsVerifiedOnDisk: recordsChecked,
          ...extension.stats?.(w),
        },
      };
    },
  };
}
