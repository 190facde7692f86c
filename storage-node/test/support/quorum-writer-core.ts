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
  asSegmentId,
  type Environment,
  type Epoch,
  encodeMessage,
  isTruncated,
  type Lsn,
  type Message,
  type PgId,
  type TruncationRange,
} from '@northlight/protocol';
import {
  QUORUM_WRITER_PAGE_SIZE_BYTES as PAGE_SIZE_BYTES,
  QUORUM_WRITER_PAGES_PER_PG as PAGES_PER_PG,
  type PgLayout,
  type QuorumWriterContext,
  type QuorumWriterOptions,
  type QuorumWriterStorage,
  quorumWriterWorkload,
  type SimCluster,
  type SimProcessFactory,
  QUORUM_WRITER_STORAGE_NODES as STORAGE_NODES,
  type ToyWriter,
  type Workload,
  QUORUM_WRITER_WRITER_NODES as WRITER_NODES,
} from '@northlight/sim';
import { scanLogFile } from '../../src/core/log-format.js';
import { StorageNodeCore, type StorageNodeOptions } from '../../src/index.js';

const CORE_OPTIONS: StorageNodeOptions = {
  pageSizeBytes: PAGE_SIZE_BYTES,
  pagesPerPg: PAGES_PER_PG,
  logFileBytes: 64 * 1024,
  logPreallocateBytes: 16 * 1024,
  controlLogCompactBytes: 8 * 1024,
  gossipIntervalMs: 20,
  gossipReplyBytesMax: 16 * 1024,
  gossipPullTimeoutMs: 100,
};

/** Virtual time the healed cluster gets for gossip to bring every live segment to its PG's head. */
const GOSSIP_SETTLE_MS = 3000;

export interface CoreWorkloadOptions
  extends Pick<
    QuorumWriterOptions,
    'faultyMs' | 'healedMs' | 'clientIntervalMs' | 'flushIntervalMs' | 'faultTimeScale'
  > {
  /**
   * Announce PGMRPL (each PG's head at the serving writer's VDL) to the storage nodes, so they
   * materialize pages and GC their logs under the faults. Durable-on-disk then cannot read every
   * record from the logs; instead every page is read back at the end, before and after the final power
   * loss, from every segment complete enough to serve it, and compared with the model.
   */
  readonly materialize?: boolean;
  /**
   * With `materialize`: the cores' staging max delay (backup.ts B7). 0 (the default) stages at every
   * tick, the cadence the pinned seeds were found with (a delay shifts every seed's timing); a delay
   * makes GC wait for batched staging (workload `quorum-writer-core-gc-batched`).
   */
  readonly backupMaxDelayMs?: number;
}

/** Page and gossip checks of one run, kept beside the workload's own world. */
interface PageCheck {
  pagesChecked: number;
  /** Segments found with page images (materializedThrough > 0) when the pages were checked. */
  materializedSegments: number;
  /** Live segments that reached their PG's head once the cluster healed (gossip filled the rest). */
  segmentsAtHead: number;
  /** Live segments gossip could not fill because every peer had GC'd past them (they need S3). */
  segmentsBehindPeerGc: number;
  /** Virtual ms from the end of the load until every live segment reached its head. */
  gossipSettleMs: number;
  /** Objects in the simulator's object store when the pages were checked (staging ran). */
  stagedObjects: number;
  /** Live segments whose log GC had passed LSN 0 (GC ran, behind the backup). */
  collectedSegments: number;
  /**
   * Segments the page check stopped reading from because one of its reads found a rotten record at or
   * below the head, dropped it, and the segment's SCL fell below the head (see `checkPages`).
   */
  segmentsBehindOnRot: number;
}

/**
 * A storage node process: the core, and — on the node's first start only, as the control plane would
 * do once — the creation of its two segments. A later start finds them on disk, or (disk wiped) does
 * not, and then stays silent for them (reasoning 6).
 */
function storageFactory(
  options: StorageNodeOptions,
  pgs: readonly PgLayout[],
  nodeId: string,
): SimProcessFactory {
  return (env, context) => {
    const core = new StorageNodeCore(env, options);
    void core.start().then(async () => {
      if (context.incarnation !== 1) return;
      for (const pg of pgs) {
        const segmentId = asSegmentId(`pg${pg.pgId}-${nodeId}`);
        await core.createSegment({
          pgId: pg.pgId,
          segmentId,
          membershipEpoch: asEpoch(0n),
          members: [...pg.nodeOf.keys()],
          memberNodes: [...pg.nodeOf.values()],
        });
      }
    });
    return core;
  };
}

/**
 * With materialization, the cores also stage to the simulator's object store (GC waits for it), so a
 * segment that was away while its peers collected their logs catches up from a peer's backup.
 */
const MATERIALIZE_OPTIONS: StorageNodeOptions = {
  ...CORE_OPTIONS,
  backupIntervalMs: 20,
  backupChunkBytesMax: 8 * 1024,
  backupBaseEveryBytes: 32 * 1024,
  backupMaxDelayMs: 0,
};

/** The batched variant's max delay: ten staging ticks, so records wait and GC waits for them. */
export const BATCHED_BACKUP_MAX_DELAY_MS = 200;

/** The real core as the workload's storage: records are read back with the node log's own scanner. */
const coreStorage = (options: StorageNodeOptions): QuorumWriterStorage => ({
  factory: (pgs, nodeId) => storageFactory(options, pgs, nodeId),
  durableRecordBytes: (cluster, nodeId) => {
    const disk = cluster.node(nodeId).disk;
    return disk
      .durablePaths()
      .filter((path) => path.includes('/log/'))
      .map((path) => {
        const entries = scanLogFile(disk.durableContentOf(path)!).entries;
        return Buffer.concat(entries.map((entry) => entry.payload));
      });
  },
  isLogPath: (path) => path.includes('/log/'),
});

/** Registers these workloads for the simulator's CLI: replay lines load it (`npm run sim -- --load …`). */
export const SIM_WORKLOADS_MODULE = 'storage-node/test/support/sim-workloads.ts';

export function coreQuorumWriterWorkload(options: CoreWorkloadOptions): Workload {
  const materialize = options.materialize === true;
  const backupMaxDelayMs = options.backupMaxDelayMs ?? 0;
  const checks = new WeakMap<QuorumWriterContext, PageCheck>();
  const pageCheck = (context: QuorumWriterContext): PageCheck => {
    let check = checks.get(context);
    if (check === undefined) {
      check = {
        pagesChecked: 0,
        materializedSegments: 0,
        segmentsAtHead: 0,
        segmentsBehindPeerGc: 0,
        gossipSettleMs: 0,
        stagedObjects: 0,
        collectedSegments: 0,
        segmentsBehindOnRot: 0,
      };
      checks.set(context, check);
    }
    return check;
  };
  const { materialize: _materialize, backupMaxDelayMs: _backupMaxDelayMs, ...profile } = options;
  const workload = quorumWriterWorkload({
    ...profile,
    name: !materialize
      ? 'quorum-writer-core'
      : backupMaxDelayMs === 0
        ? 'quorum-writer-core-gc'
        : 'quorum-writer-core-gc-batched',
    description: 'the quorum-writer workload with StorageNodeCore as the six storage nodes',
    storage: coreStorage(materialize ? { ...MATERIALIZE_OPTIONS, backupMaxDelayMs } : CORE_OPTIONS),
    extension: {
      checksDurableLogs: !materialize,
      beforeLoad: (cluster, context) => {
        if (!materialize) return;
        cluster.addNode({
          id: 'm1',
          zone: 'a',
          factory: (env) => new MinReadPointAnnouncer(env, () => pgHeads(cluster, context)),
        });
      },
      beforePowerLoss: async (cluster, context) => {
        await checkGossip(cluster, context, pageCheck(context));
        if (!materialize) return;
        await cluster.runFor(50); // the last batches and PGMRPL announcements land
        await checkPages(cluster, context, pageCheck(context));
      },
      afterPowerLoss: async (cluster, context) => {
        if (!materialize) return;
        for (const [id] of STORAGE_NODES) cluster.start(id);
        await cluster.runFor(50);
        await checkPages(cluster, context, pageCheck(context));
        for (const [id] of STORAGE_NODES) cluster.crash(id, { kind: 'power-loss' });
      },
      stats: (context) => ({ ...pageCheck(context) }),
    },
  });
  return { ...workload, replayLoad: SIM_WORKLOADS_MODULE };
}

/** The serving writer's epoch and VDL, and each PG's head at that VDL (its last surviving record). */
function pgHeads(
  cluster: SimCluster,
  w: QuorumWriterContext,
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
 * Gossip's checker: once the cluster has healed, every live segment (its node serving, the segment
 * active, under the serving writer's truncation) must reach its PG's head — the records other members
 * hold are pulled by gossip, whichever batches the segment itself missed. A segment every peer has
 * garbage-collected past is exempt (it needs a base: a backup, or the control plane's snapshot) and counted.
 */
async function checkGossip(cluster: SimCluster, w: QuorumWriterContext, check: PageCheck): Promise<void> {
  const startMs = cluster.nowMs();
  const behind = (): string[] => {
    const known = pgHeads(cluster, w);
    if (known === undefined) return [];
    const lagging: string[] = [];
    for (const [pgId, head] of known.heads) {
      for (const [node] of STORAGE_NODES) {
        const core = cluster.instance<StorageNodeCore>(node);
        if (core === undefined || core.state !== 'serving') continue;
        const segmentId = `pg${pgId}-${node}`;
        const status = core.status().segments.find((segment) => segment.segmentId === segmentId);
        if (status === undefined || status.state !== 'active' || status.behindPeerGc) continue;
        if (status.scl < head) lagging.push(`${segmentId} at SCL ${status.scl} < head ${head}`);
      }
    }
    return lagging;
  };
  await cluster.runUntil(() => behind().length === 0, { timeLimitMs: startMs + GOSSIP_SETTLE_MS });
  const lagging = behind();
  if (lagging.length > 0) {
    w.checker.violations.push({
      checker: 'gossip',
      message: `${GOSSIP_SETTLE_MS} ms after healing, live segments are still behind: ${lagging.join('; ')}`,
    });
    return;
  }
  check.gossipSettleMs = Math.max(check.gossipSettleMs, cluster.nowMs() - startMs);
  const known = pgHeads(cluster, w);
  for (const [pgId] of known?.heads ?? []) {
    for (const [node] of STORAGE_NODES) {
      const core = cluster.instance<StorageNodeCore>(node);
      const status = core?.status().segments.find((segment) => segment.segmentId === `pg${pgId}-${node}`);
      if (core?.state !== 'serving' || status === undefined || status.state !== 'active') continue;
      if (status.behindPeerGc) check.segmentsBehindPeerGc++;
      else check.segmentsAtHead++;
    }
  }
}

/**
 * Reads every page the writers touched, at its PG's head, from every serving segment whose SCL reaches
 * the head and whose read floor is not above it, and compares each with the model (the fold of the
 * non-annulled records up to the head). A mismatch is a violation.
 *
 * Two refusals are the segment's right, both from rot, which this workload plants only on its budget
 * nodes: `damaged` (the read itself found a bad page image or record), and `above-scl` once such a read
 * found a rotten record at or below the head — the core drops that record from its index until a peer
 * supplies it again (storage.ts `recordDamaged`, docs/storage-node.md "Scrub"), so the segment's SCL
 * falls below the record in the middle of the check and the segment is no longer complete to the head;
 * a reader would pick another member, and the check stops reading from it (`fellBehindOnRot`). Any other
 * refusal, or an SCL that falls with no rotten record to explain it, is a violation.
 */
async function checkPages(cluster: SimCluster, w: QuorumWriterContext, check: PageCheck): Promise<void> {
  check.stagedObjects = Math.max(check.stagedObjects, cluster.objectStore.keys().length);
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
      if (status.materializedThrough > 0n) check.materializedSegments++;
      if (status.gcThrough > 0n) check.collectedSegments++;
      if (status.scl < head) continue;
      const floor =
        status.minReadPoint > status.materializedThrough ? status.minReadPoint : status.materializedThrough;
      if (floor > head) continue;
      const damagedBefore = damagedRecordsOf(core, segmentId);
      for (const [pageNo, expected] of model) {
        let outcome: Awaited<ReturnType<StorageNodeCore['readPage']>> | undefined;
        void core.readPage(pgId, segmentId, pageNo, head).then((result) => {
          outcome = result;
        });
        await cluster.runUntil(() => outcome !== undefined, { timeLimitMs: cluster.nowMs() + 1000 });
        if (outcome === undefined || !outcome.ok) {
          if (outcome?.ok === false && outcome.refusal.reason === 'damaged') continue; // rot on a budget node
          if (
            outcome?.ok === false &&
            outcome.refusal.reason === 'above-scl' &&
            fellBehindOnRot(core, segmentId, head, damagedBefore)
          ) {
            check.segmentsBehindOnRot++;
            break;
          }
          w.checker.violations.push({
            checker: 'pages',
            message: `${node} ${segmentId} page ${pageNo} at ${head}: ${outcome?.ok === false ? outcome.refusal.error.message : 'no answer'}`,
          });
          return;
        }
        check.pagesChecked++;
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

/** The LSNs of segment `segmentId`'s records its node lists as damaged (dropped, not yet refilled). */
function damagedRecordsOf(core: StorageNodeCore, segmentId: string): Set<Lsn> {
  const records = core.status().damage.records.filter((record) => record.segmentId === segmentId);
  return new Set(records.map((record) => record.lsn));
}

/**
 * True when segment `segmentId`'s SCL is below `head` because of a rotten record found since the
 * segment's damaged records were `damagedBefore`: a record of this segment newly listed as damaged,
 * above the segment's SCL now and at or below the head, is the gap the SCL stops at. (The node lists a
 * damaged record until a peer refills it, up to `damageListMax` at a time; past that nothing new is
 * listed, and the checker, unable to explain the fall, reports it.)
 */
function fellBehindOnRot(
  core: StorageNodeCore,
  segmentId: string,
  head: Lsn,
  damagedBefore: ReadonlySet<Lsn>,
): boolean {
  const scl = core.status().segments.find((segment) => segment.segmentId === segmentId)?.scl;
  if (scl === undefined || scl >= head) return false;
  for (const lsn of damagedRecordsOf(core, segmentId))
    if (!damagedBefore.has(lsn) && lsn > scl && lsn <= head) return true;
  return false;
}
