/**
 * Segment repair under load (issue 6): "Kill a storage node under load: after the grace period its
 * segments are re-replicated …, foreground p99 commit latency during repair stays within 2× of
 * before. Repair rate is reported (MB/s) against a raw copy of the same bytes on this machine (goal
 * ≥ 0.5×)." Not a test: it measures and prints.
 *
 *   npm run -s bench:repair -w @northlight/operator -- [--mib 64] [--segment-mib 8] [--rounds 1]
 *        [--grace-seconds 3] [--before-seconds 10] [--max-per-node 4] [--max-total 8]
 *        [--repair-bandwidth default|0|32MiB/s]
 *
 * One round, on real processes (`northlight up`, 3 zones × 3 storage nodes so each zone has a node to
 * repair onto, the embedded object store, a writer and a replica; free ports, a temporary data
 * directory):
 *   1. load `--mib` MiB of rows (4,000-byte random blobs, one 4 KiB page each) by multi-row INSERTs
 *      from 4 clients, so the volume spans several PGs of `--segment-mib`;
 *   2. settle: every PG's members at the same SCL, and every segment's staging to the object store,
 *      materialization and GC quiet for 3 s, so the load's background work is over before anything is
 *      timed (heat migration is off, `heatFactor: 100`, so the layout stays still);
 *   3. a steady write load (one client, back-to-back single-row commits through the read-write
 *      endpoint) runs for `--before-seconds`, then the zone-a storage node with the most segments is
 *      killed (`kill-node`);
 *   4. after the grace period the control plane re-replicates each of its segments; the round waits
 *      until every PG has six healthy members again, sampling the joiners' `GET /v1/status` every
 *      250 ms (SCL) and timestamping the control plane's events as `up` prints them; then, the load
 *      stopped, it waits for the joiners' materialization and GC to go quiet and counts their
 *      `diskBytes` (page images + log left: what they hold for good, equal to their peers');
 *   5. `down`, then the baseline on the same filesystem: a raw copy (read + write + fsync) of as many
 *      bytes as the joiners hold, median of 5; then the data directory is removed (always, even when
 *      the round failed, with any process still running from it).
 * Each repair's steps (segment created, its peer snapshot's span and size and any failed attempt, S3
 * chunks if it fell back to them, SCL at target, complete) come from the control plane's events, the
 * joiner node's log and the samples, and show on stderr.
 * Stderr also lists the five slowest commits before the kill and during the repair, with when they
 * came: a stall that recurs in both is the cluster's, not the repair's.
 * Besides the end-to-end rate, the bulk path alone: the snapshots' bytes over the union of the
 * intervals in which at least one was streaming (`hydrationMegabytesPerSecond`).
 * Repair proper runs from the first repair's begin (the end of the grace period, as the control plane
 * saw it) to the last one's completion; the repair rate is the joiners' bytes over that time. Commit
 * latency "during" covers the same window; "before" the `--before-seconds` before the kill.
 *
 * One JSON document on stdout (with `--rounds N`, the median of each figure and every round's
 * details); progress, and where the time went, on stderr.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClusterStatus } from '../src/core/cluster-status.js';
import {
  median,
  megabytesPerSecond,
  percentile,
  type RawCopyResult,
  rawCopy,
  round,
} from './support/bench-stats.js';
import {
  clusterStatus,
  getJson,
  internalHeaders,
  killNode,
  type OutputLine,
  type RunningCluster,
  type SqlEndpoint,
  sleep,
  sql,
  sqlEndpoint,
  startUp,
  stopAndRemove,
  stopCluster,
  tail,
  until,
} from './support/cluster-rig.js';

const BLOB_BYTES = 4_000;
const ROWS_PER_MIB = 256;
const ROWS_PER_INSERT = 32;
const LOAD_CLIENTS = 4;
const RAW_COPIES = 5;
const SETTLE_TIMEOUT_MS = 300_000;
const SETTLE_QUIET_POLLS = 3;
const JOINER_SETTLE_TIMEOUT_MS = 60_000;
const REPAIR_TIMEOUT_MS = 600_000;
const JOINER_SAMPLE_MS = 250;
const STATUS_EVERY_SAMPLES = 4;
const VICTIM_ZONE = 'a';

interface Config {
  readonly mib: number;
  readonly segmentMib: number;
  readonly rounds: number;
  readonly graceSeconds: number;
  readonly beforeSeconds: number;
  readonly maxPerNode: number;
  readonly maxTotal: number;
  /** `controlPlane.repairBandwidthPerNode` as written ('default': the spec's default, not written). */
  readonly repairBandwidth: string;
}

function parse(argv: readonly string[]): Config {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      mib: { type: 'string', default: '64' },
      'segment-mib': { type: 'string', default: '8' },
      rounds: { type: 'string', default: '1' },
      'grace-seconds': { type: 'string', default: '3' },
      'before-seconds': { type: 'string', default: '10' },
      'max-per-node': { type: 'string', default: '4' },
      'max-total': { type: 'string', default: '8' },
      'repair-bandwidth': { type: 'string', default: 'default' },
    },
    strict: true,
  });
  const integer = (name: keyof typeof values, min: number): number => {
    const number = Number(values[name]);
    if (!Number.isSafeInteger(number) || number < min)
      throw new Error(`--${name} takes a whole number ≥ ${min}, not ${values[name]}`);
    return number;
  };
  return {
    mib: integer('mib', 1),
    segmentMib: integer('segment-mib', 1),
    rounds: integer('rounds', 1),
    graceSeconds: integer('grace-seconds', 0),
    beforeSeconds: integer('before-seconds', 2),
    maxPerNode: integer('max-per-node', 1),
    maxTotal: integer('max-total', 1),
    repairBandwidth: values['repair-bandwidth']!,
  };
}

function progress(text: string): void {
  process.stderr.write(`bench-repair: ${text}\n`);
}

function clusterYaml(config: Config): string {
  return `apiVersion: northlight.dev/v1alpha1
kind: DatabaseCluster
metadata: { name: bench-repair }
spec:
  storage:
    zones:
      - { name: a, nodes: 3 }
      - { name: b, nodes: 3 }
      - { name: c, nodes: 3 }
    segmentSize: ${config.segmentMib}MiB
  controlPlane:
    repairGracePeriod: ${config.graceSeconds}s
    maxConcurrentRepairsPerNode: ${config.maxPerNode}
    maxConcurrentRepairs: ${config.maxTotal}
${config.repairBandwidth === 'default' ? '' : `    repairBandwidthPerNode: ${config.repairBandwidth}\n`}    # No heat migration: the benchmark's write load heats one PG, and a migration would move
    # segments before the kill or compete with the repair.
    heatFactor: 100
`;
}

async function sqlOk(port: SqlEndpoint, text: string): Promise<unknown[][]> {
  const answer = await sql(port, text);
  if (answer.status !== 200)
    throw new Error(
      `${text.slice(0, 80)}: HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
    );
  return answer.body.results[0]?.rows ?? [];
}

// ---- 1. the volume ---------------------------------------------------------------------------------

interface Loaded {
  readonly rows: number;
  readonly blobBytes: number;
  readonly loadedBytes: number;
  readonly volumeBytes: number;
  readonly loadSeconds: number;
  readonly loadMegabytesPerSecond: number;
}

async function loadVolume(port: SqlEndpoint, config: Config): Promise<Loaded> {
  await sqlOk(port, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  await sqlOk(port, 'CREATE TABLE pulse (k INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  const rows = config.mib * ROWS_PER_MIB;
  const inserts = Math.ceil(rows / ROWS_PER_INSERT);
  const started = Date.now();
  let next = 0;
  let done = 0;
  const client = async () => {
    for (let insert = next++; insert < inserts; insert = next++) {
      const count = Math.min(ROWS_PER_INSERT, rows - insert * ROWS_PER_INSERT);
      const values = Array.from({ length: count }, () => `(randomblob(${BLOB_BYTES}))`).join(',');
      await sqlOk(port, `INSERT INTO kv (v) VALUES ${values}`);
      if (++done % Math.max(1, Math.floor(inserts / 8)) === 0)
        progress(
          `loaded ${Math.round((done / inserts) * 100)}% (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
    }
  };
  await Promise.all(Array.from({ length: LOAD_CLIENTS }, client));
  const loadSeconds = (Date.now() - started) / 1000;
  const [pageCount] = (await sqlOk(port, 'PRAGMA page_count'))[0] as [number];
  const [pageSize] = (await sqlOk(port, 'PRAGMA page_size'))[0] as [number];
  return {
    rows,
    blobBytes: BLOB_BYTES,
    loadedBytes: rows * BLOB_BYTES,
    volumeBytes: pageCount * pageSize,
    loadSeconds: round(loadSeconds, 1),
    loadMegabytesPerSecond: round(megabytesPerSecond(rows * BLOB_BYTES, loadSeconds), 2),
  };
}

// ---- 2. settling -----------------------------------------------------------------------------------

interface NodeSegment {
  readonly pgId: number;
  readonly segmentId: string;
  readonly scl: string;
  readonly logBytes: number;
  readonly diskBytes: number;
  readonly pageImages: number;
  readonly gcThrough: string;
  readonly materializedThrough: string;
  readonly backup: { readonly backedUpThrough?: string };
  readonly hydration?: { readonly source: string; readonly chunksDone: number; readonly chunksTotal: number };
}

async function nodeSegments(cluster: RunningCluster, nodeId: string): Promise<NodeSegment[]> {
  const adminPort = cluster.state.ports.storage[nodeId]!.adminPort;
  return (
    await getJson<{ segments: NodeSegment[] }>(
      `http://127.0.0.1:${adminPort}/v1/status`,
      internalHeaders(cluster),
    )
  ).segments;
}

/**
 * Waits until the load's background work is over: every PG healthy with its members at one SCL, no
 * repair or migration in flight, and every segment's staging, materialization and GC points unchanged
 * over `SETTLE_QUIET_POLLS` polls a second apart. (Staging never reaches the SCL: records above the
 * writer's last durable hint wait for the next write, so "unchanged" is the test, not "equal".)
 */
async function settle(cluster: RunningCluster): Promise<number> {
  const started = Date.now();
  let previous = '';
  let quiet = 0;
  await until(
    'every segment caught up, staged, materialized',
    async () => {
      const status = await clusterStatus(cluster);
      const caughtUp =
        status.repairs.inFlight.length === 0 &&
        status.pgs.every(
          (pg) => pg.health === 'healthy' && new Set(pg.members.map((member) => member.scl)).size === 1,
        );
      const points: string[] = [];
      for (const node of status.storage)
        for (const segment of await nodeSegments(cluster, node.nodeId))
          points.push(
            `${segment.segmentId}:${segment.backup.backedUpThrough}:${segment.materializedThrough}:${segment.gcThrough}`,
          );
      const fingerprint = points.sort().join(',');
      quiet = caughtUp && fingerprint === previous ? quiet + 1 : 0;
      previous = fingerprint;
      return quiet >= SETTLE_QUIET_POLLS ? true : undefined;
    },
    SETTLE_TIMEOUT_MS,
    1_000,
  );
  return (Date.now() - started) / 1000;
}

// ---- 3. the foreground load ------------------------------------------------------------------------

class CommitLoad {
  readonly samples: { atMs: number; ms: number }[] = [];
  failures = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(port: SqlEndpoint) {
    this.#done = (async () => {
      while (this.#running) {
        const started = Date.now();
        try {
          const answer = await sql(port, 'INSERT INTO pulse (v) VALUES (randomblob(200))');
          if (answer.status === 200) this.samples.push({ atMs: started, ms: Date.now() - started });
          else this.failures++;
        } catch {
          this.failures++;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  slowest(fromMs: number, toMs: number, count: number): { atMs: number; ms: number }[] {
    return this.samples
      .filter((sample) => sample.atMs >= fromMs && sample.atMs < toMs)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, count);
  }

  window(fromMs: number, toMs: number): { p50Ms: number; p99Ms: number; commits: number } {
    const ms = this.samples.filter((sample) => sample.atMs >= fromMs && sample.atMs < toMs).map((s) => s.ms);
    return { p50Ms: percentile(ms, 0.5), p99Ms: percentile(ms, 0.99), commits: ms.length };
  }
}

// ---- 4. the repair ---------------------------------------------------------------------------------

const BEGIN = /repair: (\S+) unreachable for \d+ s: re-replicating (\S+) of PG (\d+) to (\S+)/;
const HYDRATED = /repair: (\S+) on (\S+) is hydrated \(SCL (\d+) ≥ (\d+)\): PG (\d+) drops (\S+)/;
const SNAPSHOT =
  /hydration: (pg(\d+)-\S+) on (\S+) from (\S+) on (\S+): ([\d.]+) MB \((\d+) pages, (\d+) records\) in (\d+) ms/;

const SNAPSHOT_FAILED = /hydration: (pg(\d+)-\S+) from \S+ failed: (.*)/;

/** One finished bulk hydration (a peer snapshot), as the control plane noted it. */
interface Snapshot {
  readonly pgId: number;
  readonly joiningSegment: string;
  readonly fromNode: string;
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly megabytes: number;
  readonly pages: number;
  readonly records: number;
}

interface Tracked {
  readonly pgId: number;
  readonly toNode: string;
  readonly beganAtMs: number;
  hydratedAtMs?: number;
  joiningSegment?: string;
  targetLsn?: bigint;
  samples: { atMs: number; scl: bigint }[];
  snapshots: Snapshot[];
  /** Failed snapshot attempts, as noted ("… failed: why; retrying …"). */
  snapshotFailures: string[];
}

/** Reads the control plane's repair events from `up`'s output (each with the time it arrived). */
function trackEvents(lines: readonly OutputLine[], fromIndex: number, tracked: Map<number, Tracked>): number {
  for (const line of lines.slice(fromIndex)) {
    const begin = BEGIN.exec(line.text);
    if (begin !== null && !tracked.has(Number(begin[3])))
      tracked.set(Number(begin[3]), {
        pgId: Number(begin[3]),
        toNode: begin[4]!,
        beganAtMs: line.atMs,
        samples: [],
        snapshots: [],
        snapshotFailures: [],
      });
    const failed = SNAPSHOT_FAILED.exec(line.text);
    const failedOf = failed === null ? undefined : tracked.get(Number(failed[2]));
    if (failed !== null && failedOf !== undefined) failedOf.snapshotFailures.push(failed[3]!.slice(0, 200));
    const snapshot = SNAPSHOT.exec(line.text);
    const of = snapshot === null ? undefined : tracked.get(Number(snapshot[2]));
    if (snapshot !== null && of !== undefined)
      of.snapshots.push({
        pgId: Number(snapshot[2]),
        joiningSegment: snapshot[1]!,
        fromNode: snapshot[5]!,
        startedAtMs: line.atMs - Number(snapshot[9]),
        endedAtMs: line.atMs,
        megabytes: Number(snapshot[6]),
        pages: Number(snapshot[7]),
        records: Number(snapshot[8]),
      });
    const hydrated = HYDRATED.exec(line.text);
    const repair = hydrated === null ? undefined : tracked.get(Number(hydrated[5]));
    if (hydrated !== null && repair !== undefined && repair.hydratedAtMs === undefined) {
      repair.hydratedAtMs = line.atMs;
      repair.joiningSegment = hydrated[1]!;
      repair.targetLsn = BigInt(hydrated[4]!);
    }
  }
  return lines.length;
}

/** One sample of every joiner still filling: each target node's `GET /v1/status`. */
async function sampleJoiners(cluster: RunningCluster, tracked: ReadonlyMap<number, Tracked>): Promise<void> {
  const filling = [...tracked.values()].filter((repair) => repair.hydratedAtMs === undefined);
  const nodes = [...new Set(filling.map((repair) => repair.toNode))];
  await Promise.all(
    nodes.map(async (nodeId) => {
      const atMs = Date.now();
      const segments = await nodeSegments(cluster, nodeId).catch(() => []);
      for (const repair of filling.filter((candidate) => candidate.toNode === nodeId)) {
        const segment = segments.find((candidate) => candidate.pgId === repair.pgId);
        if (segment === undefined) continue;
        repair.joiningSegment ??= segment.segmentId;
        repair.samples.push({ atMs, scl: BigInt(segment.scl) });
      }
    }),
  );
}

function repaired(status: ClusterStatus, victim: string): boolean {
  return status.pgs.every(
    (pg) =>
      pg.health === 'healthy' &&
      pg.members.length === 6 &&
      pg.members.every((member) => member.nodeId !== victim),
  );
}

async function awaitRepairs(
  cluster: RunningCluster,
  victim: string,
  killLineIndex: number,
): Promise<{ tracked: Map<number, Tracked>; repairedAtMs: number; status: ClusterStatus }> {
  const tracked = new Map<number, Tracked>();
  let lineIndex = killLineIndex;
  const deadline = Date.now() + REPAIR_TIMEOUT_MS;
  for (let sample = 0; ; sample++) {
    lineIndex = trackEvents(cluster.lines, lineIndex, tracked);
    await sampleJoiners(cluster, tracked);
    if (sample % STATUS_EVERY_SAMPLES === 0) {
      const status = await clusterStatus(cluster);
      if (repaired(status, victim)) {
        trackEvents(cluster.lines, lineIndex, tracked);
        return { tracked, repairedAtMs: Date.now(), status };
      }
    }
    if (Date.now() > deadline)
      throw new Error(`repairs not done after ${REPAIR_TIMEOUT_MS} ms:\n${tail(cluster.lines)}`);
    await sleep(JOINER_SAMPLE_MS);
  }
}

interface JoinerLog {
  readonly source: 'peer snapshot' | 'gossip from peers' | 'peer backup (S3), then gossip';
  readonly backupChunks: number;
  /** From the joiner node's own log lines (same machine, same clock). */
  readonly createdAtMs: number | undefined;
  readonly peersGarbageCollectedSeenAtMs: number | undefined;
  readonly backupFirstChunkAtMs: number | undefined;
  readonly backupCaughtUpAtMs: number | undefined;
}

/** How the joiner filled itself, from its node's log: gossip from peers, or a peer's S3 backup first. */
function joinerLog(dataDir: string, nodeId: string, segmentId: string): JoinerLog {
  let text = '';
  try {
    text = readFileSync(join(dataDir, 'logs', `${nodeId}.log`), 'utf8');
  } catch {
    // No log: every time below stays unknown.
  }
  const first = new Map<string, number>();
  let backupChunks = 0;
  for (const line of text.split('\n')) {
    if (!line.includes(`"${segmentId}"`)) continue;
    let entry: { time?: string; message?: string };
    try {
      entry = JSON.parse(line) as { time?: string; message?: string };
    } catch {
      continue;
    }
    if (entry.message === undefined || entry.time === undefined) continue;
    if (entry.message === 'hydrating from the backup') backupChunks++;
    if (!first.has(entry.message)) first.set(entry.message, Date.parse(entry.time));
  }
  const caughtUp = first.get("caught up from a peer's backup");
  return {
    source: first.has('hydrated from a peer')
      ? 'peer snapshot'
      : caughtUp !== undefined || backupChunks > 0
        ? 'peer backup (S3), then gossip'
        : 'gossip from peers',
    backupChunks,
    createdAtMs: first.get('created segment'),
    peersGarbageCollectedSeenAtMs: first.get(
      "every peer garbage-collected past this segment's SCL; it needs a base: from a peer's backup when staging is on, else the control plane hydrates it from a peer's snapshot",
    ),
    backupFirstChunkAtMs: first.get('hydrating from the backup'),
    backupCaughtUpAtMs: caughtUp,
  };
}

/**
 * After the repair (the load stopped), waits until each joiner's materialization and GC are quiet, so
 * its bytes are what it holds for good: page images plus the log not yet collected, as its peers'.
 */
async function settleJoiners(
  cluster: RunningCluster,
  repairs: readonly Tracked[],
): Promise<Map<string, NodeSegment[]>> {
  const nodes = [...new Set(repairs.map((repair) => repair.toNode))];
  let previous = '';
  let quiet = 0;
  let held = new Map<string, NodeSegment[]>();
  const deadline = Date.now() + JOINER_SETTLE_TIMEOUT_MS;
  while (quiet < SETTLE_QUIET_POLLS && Date.now() < deadline) {
    await sleep(1_000);
    held = new Map(
      await Promise.all(nodes.map(async (nodeId) => [nodeId, await nodeSegments(cluster, nodeId)] as const)),
    );
    const fingerprint = repairs
      .map((repair) => {
        const segment = held.get(repair.toNode)?.find((candidate) => candidate.pgId === repair.pgId);
        return `${segment?.materializedThrough}:${segment?.gcThrough}:${segment?.logBytes}`;
      })
      .join(',');
    quiet = fingerprint === previous ? quiet + 1 : 0;
    previous = fingerprint;
  }
  if (quiet < SETTLE_QUIET_POLLS)
    progress('the joiners did not settle in time; their bytes are as last seen');
  return held;
}

// ---- one round -------------------------------------------------------------------------------------

interface RepairDetail {
  readonly pgId: number;
  readonly toNode: string;
  readonly joiningSegment: string | undefined;
  readonly source: string;
  readonly backupChunks: number;
  readonly beganAfterKillSeconds: number;
  /** Each step of the repair, in seconds after its begin (undefined: not seen). */
  readonly afterBeginSeconds: {
    readonly segmentCreated: number | undefined;
    readonly peersGarbageCollectedSeen: number | undefined;
    readonly backupFirstChunk: number | undefined;
    readonly backupCaughtUp: number | undefined;
    readonly sclAtTargetSampled: number | undefined;
    readonly completed: number | undefined;
  };
  /** Failed snapshot attempts (each retried from another member). */
  readonly snapshotFailures: readonly string[];
  /** The peer snapshots streamed into the joiner (the bulk path), seconds after the begin. */
  readonly snapshots: readonly {
    readonly fromNode: string;
    readonly startSeconds: number;
    readonly endSeconds: number;
    readonly megabytes: number;
    readonly pages: number;
    readonly records: number;
  }[];
  /** The control plane's own figure (`status --json` `.repairs.recent[].durationMs`). */
  readonly durationMs: number | undefined;
  readonly atCompletion: { readonly logBytes: number; readonly diskBytes: number };
  readonly settled: { readonly logBytes: number; readonly diskBytes: number };
  /** A surviving member of the same PG, for comparison: what a full copy of the segment holds. */
  readonly peerDiskBytes: number;
  readonly megabytesPerSecond: number;
}

interface Window {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly commits: number;
}

interface Round {
  readonly volume: Loaded & { readonly pgCount: number; readonly settleSeconds: number };
  readonly victim: string;
  readonly victimSegments: number;
  readonly segmentsRepaired: number;
  /** What the rate and the raw copy count: the joiners' diskBytes once settled. */
  readonly joinerBytes: number;
  readonly joinerLogBytesAtCompletion: number;
  readonly joinerDiskBytesAtCompletion: number;
  readonly peerDiskBytes: number;
  readonly gracePeriodSeconds: number;
  readonly graceObservedSeconds: number;
  readonly repairFromKillSeconds: number;
  readonly repairProperSeconds: number;
  readonly repairRateMegabytesPerSecond: number;
  readonly rawCopy: RawCopyResult;
  readonly repairRateOverRawCopy: number;
  /** The bulk path alone: bytes the snapshots streamed over the time any of them was streaming. */
  readonly hydration: {
    readonly snapshots: number;
    readonly megabytes: number;
    readonly seconds: number;
    readonly megabytesPerSecond: number;
    readonly overRawCopy: number;
  };
  readonly commitLatency: {
    readonly before: Window;
    readonly grace: Window;
    readonly during: Window;
    readonly failures: number;
    /** The five slowest commits of the repair window: when (s after the first repair began) and how long. */
    readonly slowestDuring: readonly { readonly atSeconds: number; readonly ms: number }[];
    /** The five slowest of the window before the kill (s before the kill): the spikes of a quiet cluster. */
    readonly slowestBefore: readonly { readonly atSeconds: number; readonly ms: number }[];
  };
  readonly commitP99DuringOverBefore: number;
  readonly repairs: readonly RepairDetail[];
}

let active: { dataDir: string; cluster: RunningCluster | undefined } | undefined;

/** Error lines the cluster's processes logged (a failed round's data directory is removed after). */
const PROCESS_ERROR_LINES_MAX = 20;
const PROCESS_ERROR = /"level":"(error|fatal)"|AssertionError|Uncaught/;

function reportProcessErrors(dataDir: string): void {
  const found: string[] = [];
  const visit = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.log'))
        for (const line of readFileSync(path, 'utf8').split('\n'))
          if (PROCESS_ERROR.test(line) && found.length < PROCESS_ERROR_LINES_MAX)
            found.push(`${entry.name}: ${line.slice(0, 400)}`);
    }
  };
  try {
    visit(dataDir);
  } catch (error) {
    progress(`cannot read the processes' logs: ${(error as Error).message}`);
  }
  for (const line of found) progress(`  process log: ${line}`);
}

async function runRound(config: Config, index: number): Promise<Round> {
  const dataDir = mkdtempSync(join(tmpdir(), 'northlight-bench-repair-'));
  active = { dataDir, cluster: undefined };
  try {
    const file = join(dataDir, 'cluster.yaml');
    writeFileSync(file, clusterYaml(config));
    progress(`round ${index + 1}: starting the cluster in ${dataDir}`);
    const cluster = await startUp(dataDir, file);
    active.cluster = cluster;
    const port = sqlEndpoint(cluster.dataDir, cluster.state.ports.httpReadWrite);
    progress(`loading ${config.mib} MiB (${config.mib * ROWS_PER_MIB} rows of ${BLOB_BYTES} bytes)`);
    const loaded = await loadVolume(port, config);
    progress(`loaded in ${loaded.loadSeconds} s; settling (peers caught up, segments staged to S3)`);
    const settleSeconds = await settle(cluster);
    const initial = await clusterStatus(cluster);
    const victim = [...initial.storage]
      .filter((node) => node.zone === VICTIM_ZONE)
      .sort((a, b) => b.segments - a.segments || a.nodeId.localeCompare(b.nodeId))[0]!.nodeId;
    const victimSegments = initial.pgs.filter((pg) => pg.members.some((member) => member.nodeId === victim));
    progress(
      `settled in ${settleSeconds.toFixed(1)} s; ${initial.pgs.length} PGs, ${victim} holds ${victimSegments.length}; ` +
        `commit load for ${config.beforeSeconds} s, then kill-node ${victim}`,
    );

    const load = new CommitLoad(port);
    await sleep(config.beforeSeconds * 1000);
    const killLineIndex = cluster.lines.length;
    const killedAtMs = Date.now();
    await killNode(cluster, victim);
    const { tracked, repairedAtMs, status } = await awaitRepairs(cluster, victim, killLineIndex).finally(() =>
      load.stop(),
    );
    const repairs = [...tracked.values()].sort((a, b) => a.pgId - b.pgId);
    const beganAtMs = Math.min(...repairs.map((repair) => repair.beganAtMs));
    const doneAtMs = Math.max(...repairs.map((repair) => repair.hydratedAtMs ?? repairedAtMs));
    const atCompletion = await segmentsOn(
      cluster,
      repairs.map((repair) => repair.toNode),
    );
    progress("repaired; waiting for the joiners' materialization and GC to settle before counting bytes");
    const settled = await settleJoiners(cluster, repairs);
    const peers = await segmentsOn(
      cluster,
      status.storage.filter((node) => node.ready && node.nodeId !== victim).map((node) => node.nodeId),
    );
    const details = repairs.map((repair) =>
      repairDetail(cluster.dataDir, status, repair, killedAtMs, { atCompletion, settled, peers }),
    );
    await stopCluster(dataDir, cluster);

    const joinerBytes = details.reduce((sum, repair) => sum + repair.settled.diskBytes, 0);
    const repairProperSeconds = (doneAtMs - beganAtMs) / 1000;
    progress(
      `cluster down; raw copy of ${joinerBytes} bytes on the same filesystem (median of ${RAW_COPIES})`,
    );
    const copy = await rawCopy(dataDir, joinerBytes, RAW_COPIES);
    const repairRate = megabytesPerSecond(joinerBytes, repairProperSeconds);
    const before = load.window(killedAtMs - config.beforeSeconds * 1000, killedAtMs);
    const during = load.window(beganAtMs, doneAtMs + 1);
    const result: Round = {
      volume: { ...loaded, pgCount: initial.pgs.length, settleSeconds: round(settleSeconds, 1) },
      victim,
      victimSegments: victimSegments.length,
      segmentsRepaired: details.length,
      joinerBytes,
      joinerLogBytesAtCompletion: details.reduce((sum, repair) => sum + repair.atCompletion.logBytes, 0),
      joinerDiskBytesAtCompletion: details.reduce((sum, repair) => sum + repair.atCompletion.diskBytes, 0),
      peerDiskBytes: details.reduce((sum, repair) => sum + repair.peerDiskBytes, 0),
      gracePeriodSeconds: config.graceSeconds,
      graceObservedSeconds: round((beganAtMs - killedAtMs) / 1000),
      repairFromKillSeconds: round((doneAtMs - killedAtMs) / 1000),
      repairProperSeconds: round(repairProperSeconds),
      repairRateMegabytesPerSecond: round(repairRate),
      rawCopy: copy,
      repairRateOverRawCopy: round(repairRate / copy.megabytesPerSecond, 4),
      hydration: hydrationFigures(repairs, copy.megabytesPerSecond),
      commitLatency: {
        before,
        grace: load.window(killedAtMs, beganAtMs),
        during,
        failures: load.failures,
        slowestDuring: load
          .slowest(beganAtMs, doneAtMs + 1, 5)
          .map((sample) => ({ atSeconds: round((sample.atMs - beganAtMs) / 1000), ms: sample.ms })),
        slowestBefore: load
          .slowest(killedAtMs - config.beforeSeconds * 1000, killedAtMs, 5)
          .map((sample) => ({ atSeconds: round((killedAtMs - sample.atMs) / 1000), ms: sample.ms })),
      },
      commitP99DuringOverBefore: round(during.p99Ms / Math.max(1, before.p99Ms)),
      repairs: details,
    };
    reportTimeline(result);
    return result;
  } catch (error) {
    reportProcessErrors(dataDir);
    throw error;
  } finally {
    await stopAndRemove(dataDir, active.cluster);
    active = undefined;
  }
}

async function segmentsOn(
  cluster: RunningCluster,
  nodeIds: readonly string[],
): Promise<Map<string, NodeSegment[]>> {
  const unique = [...new Set(nodeIds)];
  return new Map(
    await Promise.all(unique.map(async (nodeId) => [nodeId, await nodeSegments(cluster, nodeId)] as const)),
  );
}

function repairDetail(
  dataDir: string,
  status: ClusterStatus,
  repair: Tracked,
  killedAtMs: number,
  seen: {
    readonly atCompletion: ReadonlyMap<string, NodeSegment[]>;
    readonly settled: ReadonlyMap<string, NodeSegment[]>;
    readonly peers: ReadonlyMap<string, NodeSegment[]>;
  },
): RepairDetail {
  const joinerIn = (held: ReadonlyMap<string, NodeSegment[]>) =>
    held.get(repair.toNode)?.find((candidate) => candidate.pgId === repair.pgId);
  const atCompletion = joinerIn(seen.atCompletion);
  const settled = joinerIn(seen.settled);
  const segmentId = settled?.segmentId ?? repair.joiningSegment;
  const pg = status.pgs.find((candidate) => candidate.pgId === repair.pgId);
  const peer = pg?.members
    .filter((member) => member.segmentId !== segmentId)
    .map((member) =>
      seen.peers.get(member.nodeId)?.find((candidate) => candidate.segmentId === member.segmentId),
    )
    .find((segment) => segment !== undefined);
  const recent = status.repairs.recent.find(
    (candidate) =>
      candidate.pgId === repair.pgId && candidate.toNode === repair.toNode && candidate.outcome === 'done',
  );
  const since = (atMs: number | undefined) =>
    atMs === undefined ? undefined : round((atMs - repair.beganAtMs) / 1000);
  const target = repair.targetLsn;
  const filled = target === undefined ? undefined : repair.samples.find((sample) => sample.scl >= target);
  const log = joinerLog(dataDir, repair.toNode, segmentId ?? '?');
  const diskBytes = settled?.diskBytes ?? 0;
  const seconds = ((repair.hydratedAtMs ?? Date.now()) - repair.beganAtMs) / 1000;
  return {
    pgId: repair.pgId,
    toNode: repair.toNode,
    joiningSegment: segmentId,
    source: log.source,
    backupChunks: log.backupChunks,
    beganAfterKillSeconds: round((repair.beganAtMs - killedAtMs) / 1000),
    afterBeginSeconds: {
      segmentCreated: since(log.createdAtMs),
      peersGarbageCollectedSeen: since(log.peersGarbageCollectedSeenAtMs),
      backupFirstChunk: since(log.backupFirstChunkAtMs),
      backupCaughtUp: since(log.backupCaughtUpAtMs),
      sclAtTargetSampled: since(filled?.atMs),
      completed: since(repair.hydratedAtMs),
    },
    snapshotFailures: repair.snapshotFailures,
    snapshots: repair.snapshots.map((snapshot) => ({
      fromNode: snapshot.fromNode,
      startSeconds: round((snapshot.startedAtMs - repair.beganAtMs) / 1000),
      endSeconds: round((snapshot.endedAtMs - repair.beganAtMs) / 1000),
      megabytes: snapshot.megabytes,
      pages: snapshot.pages,
      records: snapshot.records,
    })),
    durationMs: recent?.durationMs,
    atCompletion: { logBytes: atCompletion?.logBytes ?? 0, diskBytes: atCompletion?.diskBytes ?? 0 },
    settled: { logBytes: settled?.logBytes ?? 0, diskBytes },
    peerDiskBytes: peer?.diskBytes ?? 0,
    megabytesPerSecond: round(megabytesPerSecond(diskBytes, seconds)),
  };
}

/** The snapshots' bytes over the union of the intervals in which at least one was streaming. */
function hydrationFigures(
  repairs: readonly Tracked[],
  rawCopyMegabytesPerSecond: number,
): Round['hydration'] {
  const snapshots = repairs
    .flatMap((repair) => repair.snapshots)
    .filter((one) => one.pages + one.records > 0);
  const intervals = snapshots
    .map((one) => [one.startedAtMs, one.endedAtMs] as const)
    .sort((a, b) => a[0] - b[0]);
  let busyMs = 0;
  let reach = Number.NEGATIVE_INFINITY;
  for (const [start, end] of intervals) {
    if (end <= reach) continue;
    busyMs += end - Math.max(start, reach);
    reach = end;
  }
  const megabytes = snapshots.reduce((sum, one) => sum + one.megabytes, 0);
  const rate = busyMs > 0 ? megabytes / (busyMs / 1000) : 0;
  return {
    snapshots: snapshots.length,
    megabytes: round(megabytes),
    seconds: round(busyMs / 1000),
    megabytesPerSecond: round(rate),
    overRawCopy: round(rate / rawCopyMegabytesPerSecond, 4),
  };
}

function reportTimeline(result: Round): void {
  progress(
    `where the time went: kill → first repair begin ${result.graceObservedSeconds} s ` +
      `(grace ${result.gracePeriodSeconds} s + detection); repair proper ${result.repairProperSeconds} s ` +
      `for ${result.segmentsRepaired} segments, ${result.joinerBytes} bytes`,
  );
  const at = (seconds: number | undefined) => (seconds === undefined ? '–' : `+${seconds}`);
  progress(
    `bulk path: ${result.hydration.snapshots} snapshots, ${result.hydration.megabytes} MB streamed in ` +
      `${result.hydration.seconds} s of streaming: ${result.hydration.megabytesPerSecond} MB/s`,
  );
  progress(
    `slowest commits before the kill: ${result.commitLatency.slowestBefore
      .map((sample) => `${sample.ms} ms at -${sample.atSeconds} s`)
      .join(', ')}`,
  );
  progress(
    `slowest commits during the repair: ${result.commitLatency.slowestDuring
      .map((sample) => `${sample.ms} ms at +${sample.atSeconds} s`)
      .join(', ')}`,
  );
  for (const repair of result.repairs) {
    const steps = repair.afterBeginSeconds;
    for (const failure of repair.snapshotFailures)
      progress(`  PG ${repair.pgId} snapshot attempt failed: ${failure}`);
    for (const snapshot of repair.snapshots)
      progress(
        `  PG ${repair.pgId} snapshot from ${snapshot.fromNode}: +${snapshot.startSeconds} → +${snapshot.endSeconds} s, ` +
          `${snapshot.megabytes} MB (${snapshot.pages} pages, ${snapshot.records} records)`,
      );
    progress(
      `  PG ${repair.pgId} → ${repair.toNode}, ${repair.source}${repair.backupChunks > 0 ? ` (${repair.backupChunks} chunks)` : ''}: ` +
        `begin ${at(repair.beganAfterKillSeconds)} s after the kill; then created ${at(steps.segmentCreated)}, ` +
        `peers GC'd seen ${at(steps.peersGarbageCollectedSeen)}, S3 first chunk ${at(steps.backupFirstChunk)}, ` +
        `S3 caught up ${at(steps.backupCaughtUp)}, SCL at target ${at(steps.sclAtTargetSampled)}, ` +
        `complete ${at(steps.completed)} s; ${repair.settled.diskBytes} bytes, ${repair.megabytesPerSecond} MB/s`,
    );
  }
}

// ---- main ------------------------------------------------------------------------------------------

function summarize(config: Config, rounds: readonly Round[], loadBefore: number[], loadAfter: number[]) {
  const pick = (value: (result: Round) => number) => median(rounds.map(value));
  const rateOverCopy = pick((result) => result.repairRateOverRawCopy);
  const p99Ratio = pick((result) => result.commitP99DuringOverBefore);
  return {
    benchmark: 'segment repair under load (issue 6)',
    machine: {
      cpus: cpus().length,
      loadAverageAtStart: loadBefore.map((value) => round(value)),
      loadAverageAtEnd: loadAfter.map((value) => round(value)),
      node: process.version,
    },
    config: {
      ...config,
      zones: '3 × 3 storage nodes',
      rowsPerMib: ROWS_PER_MIB,
      blobBytes: BLOB_BYTES,
      loadClients: LOAD_CLIENTS,
    },
    units: { MB: '10^6 bytes', medianOver: `${rounds.length} round(s)` },
    volumeLoadedBytes: pick((result) => result.volume.loadedBytes),
    volumeBytes: pick((result) => result.volume.volumeBytes),
    pgCount: pick((result) => result.volume.pgCount),
    segmentsRepaired: pick((result) => result.segmentsRepaired),
    joinerBytes: pick((result) => result.joinerBytes),
    joinerDiskBytesAtCompletion: pick((result) => result.joinerDiskBytesAtCompletion),
    joinerLogBytesAtCompletion: pick((result) => result.joinerLogBytesAtCompletion),
    peerDiskBytes: pick((result) => result.peerDiskBytes),
    repairFromKillSeconds: pick((result) => result.repairFromKillSeconds),
    graceObservedSeconds: pick((result) => result.graceObservedSeconds),
    repairProperSeconds: pick((result) => result.repairProperSeconds),
    repairDurationMsEach: rounds.flatMap((result) => result.repairs.map((repair) => repair.durationMs ?? -1)),
    repairRateMegabytesPerSecond: pick((result) => result.repairRateMegabytesPerSecond),
    rawCopyMegabytesPerSecond: pick((result) => result.rawCopy.megabytesPerSecond),
    repairRateOverRawCopy: rateOverCopy,
    repairRateGoal: { atLeast: 0.5, goalMet: rateOverCopy >= 0.5 },
    hydrationMegabytesPerSecond: pick((result) => result.hydration.megabytesPerSecond),
    hydrationOverRawCopy: pick((result) => result.hydration.overRawCopy),
    commitP50MsBefore: pick((result) => result.commitLatency.before.p50Ms),
    commitP99MsBefore: pick((result) => result.commitLatency.before.p99Ms),
    commitP50MsDuring: pick((result) => result.commitLatency.during.p50Ms),
    commitP99MsDuring: pick((result) => result.commitLatency.during.p99Ms),
    commitP99DuringOverBefore: p99Ratio,
    commitLatencyGoal: { atMost: 2, goalMet: p99Ratio <= 2 },
    goalMet: rateOverCopy >= 0.5 && p99Ratio <= 2,
    rounds,
  };
}

async function main(): Promise<number> {
  const config = parse(process.argv.slice(2));
  const loadBefore = loadavg();
  progress(`load average ${loadBefore.map((value) => value.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  const rounds: Round[] = [];
  for (let index = 0; index < config.rounds; index++) rounds.push(await runRound(config, index));
  process.stdout.write(`${JSON.stringify(summarize(config, rounds, loadBefore, loadavg()), null, 2)}\n`);
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    progress(`${signal}: stopping the cluster and removing its data directory`);
    const leaving = active;
    void (
      leaving === undefined ? Promise.resolve() : stopAndRemove(leaving.dataDir, leaving.cluster)
    ).finally(() => process.exit(130));
  });

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    progress(`failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
