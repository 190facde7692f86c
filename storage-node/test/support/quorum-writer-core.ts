/**
 * The simulator's quorum-writer workload (sim/src/workloads/quorum-writer/) with the REAL storage node
 * core in place of the toy storage node: six `StorageNodeCore`s, two per zone, each hosting one segment
 * of each of two PGs, under the toy writers' real recovery protocol (segment-state, truncate,
 * fetch-records, appends with durable hints) and the same swarm of faults: crashes with lost or torn
 * unsynced writes, partitions, zone outages, message loss, duplication and reordering, disk I/O errors,
 * failovers leaving a zombie writer, and — on the budget nodes — wiped disks and rotten node log bytes.
 * The same checkers judge it: no acknowledged commit is lost (no-lost-commit), every record up to each
 * epoch's last acknowledged commit is durable on some node's disk (durable-on-disk, read from the node
 * log files with the node log's own scanner), commits resume after healing (liveness).
 *
 * The toy writer sends no PGMRPL. Without `materialize`, nothing is materialized or collected: every
 * record stays in the node logs, which is what durable-on-disk reads. With it, a small announcer
 * process sends each PG's head at the serving writer's VDL as PGMRPL, the cores materialize and GC
 * under the faults, and every page is read back and compared with a model at the end (`checkPages`).
 */
import {
  applyRuns,
  asEpoch,
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  type DiffRun,
  type Environment,
  type Epoch,
  encodeMessage,
  isTruncated,
  type Lsn,
  type Message,
  type NodeId,
  type PgId,
  type RedoRecord,
  type SegmentId,
  singleConfiguration,
  type TruncationRange,
} from '@northlight/protocol';
import {
  FaultInjector,
  type FaultPlan,
  generateFaultPlan,
  type PgLayout,
  type Prng,
  QuorumWriterChecker,
  type SimCluster,
  type SimProcessFactory,
  ToyWriter,
  type Workload,
} from '@northlight/sim';
import { scanLogFile } from '../../src/core/log-format.js';
import { StorageNodeCore, type StorageNodeOptions } from '../../src/index.js';

const STORAGE_NODES = [
  ['s1', 'a'],
  ['s2', 'a'],
  ['s3', 'b'],
  ['s4', 'b'],
  ['s5', 'c'],
  ['s6', 'c'],
] as const;
const WRITER_NODES = [
  ['w1', 'a'],
  ['w2', 'b'],
] as const;
const PG_COUNT = 2;
const PAGES_PER_PG = 64;
const PAGE_SIZE_BYTES = 4096;
const STARTUP_MS = 200;

const CORE_OPTIONS: StorageNodeOptions = {
  pageSizeBytes: PAGE_SIZE_BYTES,
  pagesPerPg: PAGES_PER_PG,
  logFileBytes: 64 * 1024,
  logPreallocateBytes: 16 * 1024,
  controlLogCompactBytes: 8 * 1024,
};

export interface CoreWorkloadOptions {
  readonly faultyMs: number;
  readonly healedMs: number;
  readonly clientIntervalMs: number;
  readonly flushIntervalMs: number;
  readonly faultTimeScale: number;
  /**
   * Announce PGMRPL (each PG's head at the serving writer's VDL) to the storage nodes, so they
   * materialize pages and GC their logs under the faults. Durable-on-disk then cannot read every
   * record from the logs; instead every page is read back at the end, before and after the final power
   * loss, from every segment complete enough to serve it, and compared with the model.
   */
  readonly materialize?: boolean;
}

interface World {
  readonly checker: QuorumWriterChecker;
  readonly pgs: readonly PgLayout[];
  /** Every record any writer made, by LSN (for the page model). */
  readonly records: Map<Lsn, RedoRecord>;
  pagesChecked: number;
  /** Segments found with page images (materializedThrough > 0) when the pages were checked. */
  materializedSegments: number;
  readonly random: Prng;
  readonly budget: readonly NodeId[];
  readonly plan: FaultPlan;
  nextTransactionId: number;
  clientRunning: boolean;
  acknowledgedBeforeHeal: number;
  lostNodes: Set<NodeId>;
}

function layout(): PgLayout[] {
  return Array.from({ length: PG_COUNT }, (_, pg) => {
    const nodeOf = new Map<SegmentId, NodeId>();
    for (const [node] of STORAGE_NODES) nodeOf.set(asSegmentId(`pg${pg}-${node}`), asNodeId(node));
    return { pgId: asPgId(pg), quorumSet: singleConfiguration([...nodeOf.keys()]), nodeOf };
  });
}

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

/**
 * A storage node process: the core, and — on the node's first start only, as the control plane would
 * do once — the creation of its two segments. A later start finds them on disk, or (disk wiped) does
 * not, and then stays silent for them (reasoning 6).
 */
function storageFactory(pgs: readonly PgLayout[], nodeId: string): SimProcessFactory {
  return (env, context) => {
    const core = new StorageNodeCore(env, CORE_OPTIONS);
    void core.start().then(async () => {
      if (context.incarnation !== 1) return;
      for (const pg of pgs) {
        const segmentId = asSegmentId(`pg${pg.pgId}-${nodeId}`);
        await core.createSegment({
          pgId: pg.pgId,
          segmentId,
          membershipEpoch: asEpoch(0n),
          members: [...pg.nodeOf.keys()],
        });
      }
    });
    return core;
  };
}

/** Each node's durable node log, as the concatenated records the checker reads. */
function durableRecords(cluster: SimCluster, id: string): Uint8Array[] {
  const disk = cluster.node(id).disk;
  return disk
    .durablePaths()
    .filter((path) => path.includes('/log/'))
    .map((path) => {
      const entries = scanLogFile(disk.durableContentOf(path)!).entries;
      return Buffer.concat(entries.map((entry) => entry.payload));
    });
}

export function coreQuorumWriterWorkload(options: CoreWorkloadOptions): Workload {
  const worlds = new WeakMap<SimCluster, World>();
  const world = (cluster: SimCluster): World => worlds.get(cluster)!;

  function servingWriter(cluster: SimCluster): ToyWriter | undefined {
    let best: ToyWriter | undefined;
    for (const [id] of WRITER_NODES) {
      const writer = cluster.instance<ToyWriter>(id);
      if (writer?.phase === 'serving' && (best === undefined || writer.volumeEpoch > best.volumeEpoch))
        best = writer;
    }
    return best;
  }

  function startClient(cluster: SimCluster, w: World): void {
    w.clientRunning = true;
    const tick = () => {
      if (!w.clientRunning) return;
      const writer = servingWriter(cluster);
      if (writer !== undefined) {
        const writes = Array.from({ length: 1 + w.random.nextInt(3) }, () => {
          const pgId = asPgId(w.random.nextInt(PG_COUNT)) as PgId;
          return {
            pgId,
            pageNo: asPageNo(pgId * PAGES_PER_PG + w.random.nextInt(PAGES_PER_PG)),
            runs: randomRuns(w.random),
          };
        });
        if (writer.submit({ id: w.nextTransactionId, writes })) w.nextTransactionId += 1;
      }
      cluster.after(0.2 + w.random.exponential(options.clientIntervalMs), 'client', tick);
    };
    cluster.after(0, 'client', tick);
  }

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
          const partition = cluster.network.partition(
            [asNodeId(oldId)],
            STORAGE_NODES.map(([id]) => asNodeId(id)),
          );
          cluster.after(w.random.logUniform(20, 1500), 'failover-heal', () => partition.heal());
          const newId = oldId === 'w1' ? 'w2' : 'w1';
          if (cluster.node(newId).running) cluster.crash(newId, { kind: 'process' });
          cluster.start(newId);
        }
        next();
      });
    };
    next();
  }

  function scheduleLogBitFlips(cluster: SimCluster, w: World, untilMs: number): void {
    if (w.budget.length === 0 || !w.random.chance(0.5)) return;
    const meanMs = w.random.logUniform(200, 2000);
    const next = () => {
      const atMs = cluster.nowMs() + w.random.exponential(meanMs);
      if (atMs >= untilMs) return;
      cluster.at(atMs, 'log-bit-flip', () => {
        const node = cluster.node(w.random.pick(w.budget));
        const logs = node.disk.durablePaths().filter((path) => path.includes('/log/'));
        if (logs.length > 0) node.disk.flipBit(w.random.pick(logs));
        next();
      });
    };
    next();
  }

  return {
    name: options.materialize === true ? 'quorum-writer-core-gc' : 'quorum-writer-core',
    description: 'the quorum-writer workload with StorageNodeCore as the six storage nodes',

    setup(cluster: SimCluster, random: Prng): void {
      const pgs = layout();
      const budget = chooseBudget(random.fork('budget'));
      const checker = new QuorumWriterChecker();
      const faultyNodes = [...STORAGE_NODES, ...WRITER_NODES].map(([id]) => asNodeId(id));
      const drawn = generateFaultPlan(
        random.fork('plan'),
        { permanentLossNodes: budget, faultyNodes },
        { timeScale: options.faultTimeScale },
      );
      const plan: FaultPlan = { ...drawn, bitFlips: { ...drawn.bitFlips, enabled: false } };
      const records = new Map<Lsn, RedoRecord>();
      worlds.set(cluster, {
        checker,
        pgs,
        records,
        pagesChecked: 0,
        materializedSegments: 0,
        random: random.fork('client'),
        budget,
        plan,
        nextTransactionId: 1,
        clientRunning: false,
        acknowledgedBeforeHeal: 0,
        lostNodes: new Set(),
      });
      for (const [id, zone] of STORAGE_NODES) cluster.addNode({ id, zone, factory: storageFactory(pgs, id) });
      WRITER_NODES.forEach(([id, zone], slot) => {
        cluster.addNode({
          id,
          zone,
          start: slot === 0,
          factory: (env) =>
            new ToyWriter(env, {
              pgs,
              slot,
              slots: WRITER_NODES.length,
              lsnAllocationLimit: 256n,
              flushIntervalMs: options.flushIntervalMs,
              resendIntervalMs: 25,
              recoveryGraceMs: 10,
              recoveryTimeoutMs: 600,
              observer: {
                recordAllocated: (record) => {
                  records.set(record.lsn, record);
                  checker.recordAllocated(record);
                },
                commitAcknowledged: (epoch, lsn, transactionId) =>
                  checker.commitAcknowledged(epoch, lsn, transactionId, cluster.nowMs()),
                recovered: (epoch, recoveryPlan, ranges) =>
                  checker.recovered(epoch, recoveryPlan, ranges, cluster.nowMs()),
                fenced: (epoch, newerEpoch) => checker.fenced(epoch, newerEpoch),
              },
            }),
        });
      });
    },

    async run(cluster: SimCluster): Promise<void> {
      const w = world(cluster);
      if (options.materialize === true)
        cluster.addNode({
          id: 'm1',
          zone: 'a',
          factory: (env) => new MinReadPointAnnouncer(env, () => pgHeads(cluster, w)),
        });
      await cluster.runFor(STARTUP_MS);
      startClient(cluster, w);
      const faultyUntilMs = cluster.nowMs() + options.faultyMs;
      const injector = new FaultInjector(cluster, w.plan, {
        permanentLossNodes: w.budget,
        faultyNodes: [...STORAGE_NODES, ...WRITER_NODES].map(([id]) => asNodeId(id)),
      });
      injector.start(faultyUntilMs);
      scheduleFailovers(cluster, w, faultyUntilMs);
      scheduleLogBitFlips(cluster, w, faultyUntilMs);
      await cluster.runUntil(faultyUntilMs);
      injector.heal();
      const alive = WRITER_NODES.some(([id]) => {
        const writer = cluster.instance<ToyWriter>(id);
        return writer !== undefined && writer.phase !== 'fenced';
      });
      if (!alive) {
        if (cluster.node('w1').running) cluster.crash('w1', { kind: 'process' });
        cluster.start('w1');
      }
      w.acknowledgedBeforeHeal = w.checker.acknowledged.length;
      for (const node of cluster.nodes) if (node.wipes > 0) w.lostNodes.add(node.id);
      await cluster.runFor(options.healedMs);
      w.clientRunning = false;
      if (options.materialize === true) {
        await cluster.runFor(50); // the last batches and PGMRPL announcements land
        await checkPages(cluster, w);
      }
      for (const [id] of STORAGE_NODES)
        if (cluster.node(id).running) cluster.crash(id, { kind: 'power-loss' });
      await cluster.runFor(1);
      if (options.materialize === true) {
        for (const [id] of STORAGE_NODES) cluster.start(id);
        await cluster.runFor(50);
        await checkPages(cluster, w);
        for (const [id] of STORAGE_NODES) cluster.crash(id, { kind: 'power-loss' });
      }
    },

    check(cluster: SimCluster) {
      const w = world(cluster);
      w.checker.checkNoLostCommit();
      const logs = new Map(STORAGE_NODES.map(([id]) => [id, durableRecords(cluster, id)] as const));
      const recordsChecked = options.materialize === true ? 0 : w.checker.checkDurableOnDisk(logs);
      const afterHeal = w.checker.acknowledged.length - w.acknowledgedBeforeHeal;
      if (STORAGE_NODES.length - w.lostNodes.size >= 4 && afterHeal === 0)
        w.checker.violations.push({ checker: 'liveness', message: 'no commit acknowledged after healing' });
      return {
        violations: w.checker.violations,
        stats: {
          commitsAcknowledged: w.checker.acknowledged.length,
          commitsAcknowledgedAfterHeal: afterHeal,
          recoveries: w.checker.recoveries.length,
          recordsVerifiedOnDisk: recordsChecked,
          pagesChecked: w.pagesChecked,
          materializedSegments: w.materializedSegments,
          storageNodesLost: w.lostNodes.size,
        },
      };
    },
  };
}

/** The serving writer's epoch and VDL, and each PG's head at that VDL (its last surviving record). */
function pgHeads(
  cluster: SimCluster,
  w: World,
): { epoch: Epoch; heads: Map<PgId, Lsn>; ranges: readonly TruncationRange[] } | undefined {
  let writer: ToyWriter | undefined;
  for (const [id] of WRITER_NODES) {
    const candidate = cluster.instance<ToyWriter>(id);
    if (
      candidate?.phase === 'serving' &&
      (writer === undefined || candidate.volumeEpoch > writer.volumeEpoch)
    )
      writer = candidate;
  }
  const vdl = writer?.vdl;
  if (writer === undefined || vdl === undefined) return undefined;
  const epoch = writer.volumeEpoch;
  const ranges = w.checker.recoveries.find((recovery) => recovery.epoch === epoch)?.ranges ?? [];
  const heads = new Map<PgId, Lsn>();
  for (const record of w.records.values()) {
    if (record.lsn > vdl || record.volumeEpoch > epoch || isTruncated(record.lsn, ranges)) continue;
    if (record.lsn > (heads.get(record.pgId) ?? 0n)) heads.set(record.pgId, record.lsn);
  }
  return { epoch, heads, ranges };
}

/** Announces PGMRPL = each PG's head at the serving writer's VDL to every storage node, every 5 ms. */
class MinReadPointAnnouncer {
  constructor(
    private readonly env: Environment,
    private readonly heads: () => ReturnType<typeof pgHeads>,
  ) {
    env.network.onMessage(() => {});
    env.clock.setTimer(5, () => this.#tick());
  }

  #tick(): void {
    const known = this.heads();
    if (known !== undefined) {
      for (const [pgId, head] of known.heads) {
        for (const [node] of STORAGE_NODES) {
          const message: Message = {
            type: 'min-read-point',
            pgId,
            segmentId: asSegmentId(`pg${pgId}-${node}`),
            volumeEpoch: known.epoch,
            minReadPoint: head,
          };
          this.env.network.send(asNodeId(node), encodeMessage(message));
        }
      }
    }
    this.env.clock.setTimer(5, () => this.#tick());
  }
}

/**
 * Reads every page the writers touched, at its PG's head, from every serving segment whose SCL reaches
 * the head and whose read floor is not above it, and compares each with the model (the fold of the
 * non-annulled records up to the head). A mismatch is a violation.
 */
async function checkPages(cluster: SimCluster, w: World): Promise<void> {
  const known = pgHeads(cluster, w);
  if (known === undefined) return;
  const ordered = [...w.records.values()].sort((a, b) => (a.lsn < b.lsn ? -1 : 1));
  for (const [pgId, head] of known.heads) {
    const model = new Map<number, Uint8Array>();
    for (const record of ordered) {
      if (record.pgId !== pgId || record.kind !== 'page-diff' || record.lsn > head) continue;
      if (record.volumeEpoch > known.epoch || isTruncated(record.lsn, known.ranges)) continue;
      model.set(
        record.pageNo,
        applyRuns(model.get(record.pageNo) ?? new Uint8Array(PAGE_SIZE_BYTES), record.runs),
      );
    }
    for (const [node] of STORAGE_NODES) {
      const core = cluster.instance<StorageNodeCore>(node);
      if (core === undefined || core.state !== 'serving') continue;
      const segmentId = asSegmentId(`pg${pgId}-${node}`);
      const status = core.status().segments.find((segment) => segment.segmentId === segmentId);
      if (status === undefined) continue;
      if (status.materializedThrough > 0n) w.materializedSegments++;
      if (status.scl < head) continue;
      const floor =
        status.minReadPoint > status.materializedThrough ? status.minReadPoint : status.materializedThrough;
      if (floor > head) continue;
      for (const [pageNo, expected] of model) {
        let outcome: Awaited<ReturnType<StorageNodeCore['readPage']>> | undefined;
        void core.readPage(pgId, segmentId, pageNo, head).then((result) => {
          outcome = result;
        });
        await cluster.runUntil(() => outcome !== undefined, { timeLimitMs: cluster.nowMs() + 1000 });
        if (outcome === undefined || !outcome.ok) {
          if (outcome?.ok === false && outcome.refusal.reason === 'damaged') continue; // rot on a budget node
          w.checker.violations.push({
            checker: 'pages',
            message: `${node} ${segmentId} page ${pageNo} at ${head}: ${outcome?.ok === false ? outcome.refusal.error.message : 'no answer'}`,
          });
          return;
        }
        w.pagesChecked++;
        if (!Buffer.from(outcome.page).equals(expected)) {
          w.checker.violations.push({
            checker: 'pages',
            message: `${node} ${segmentId} page ${pageNo} at ${head} differs from the model`,
          });
          return;
        }
      }
    }
  }
}
