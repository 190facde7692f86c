/**
 * What `northlight status` shows, built from observations: the members' processes and probes, each
 * storage node's `GET /v1/status`, the writer's `GET /v1/status` and `GET /v1/volume`. Pure: the
 * control API gathers, this folds and formats, the tests feed it tables.
 *
 * A PG member counts as healthy when its node is ready and reports the segment; a PG is healthy with
 * six healthy members, degraded with four or five (writes still reach a quorum), at risk below four.
 */

/** What a storage node's own GET /v1/status says it holds on disk (log files, page files, control log). */
export interface NodeDiskReport {
  readonly log?: { readonly bytesOnDisk?: number };
  readonly pages?: { readonly bytesOnDisk?: number };
  readonly controlLogBytes?: number;
}

/** Bytes on disk from a node's status report; undefined when it did not say. */
export function onDiskBytesOf(report: NodeDiskReport | undefined): number | undefined {
  if (report?.log?.bytesOnDisk === undefined) return undefined;
  return report.log.bytesOnDisk + (report.pages?.bytesOnDisk ?? 0) + (report.controlLogBytes ?? 0);
}

export interface StorageObservation {
  /** The node's own report of its files' bytes on disk (`onDiskBytesOf`); undefined if it did not answer. */
  readonly onDiskBytes?: number | undefined;
  readonly nodeId: string;
  readonly zone: string;
  readonly process: string;
  readonly ready: boolean;
  readonly pid: number | undefined;
  readonly starts: number;
  /** What the node reports (or the platform started it with). */
  readonly version: string | undefined;
  /** How its transport authenticates peers (its `GET /v1/status`; absent from older builds). */
  readonly transport?: TransportAuthReport | undefined;
  /** Undefined when the node did not answer. */
  readonly segments:
    | readonly {
        readonly pgId: number;
        readonly segmentId: string;
        readonly scl: string;
        readonly diskBytes: number;
        readonly appendRecordsPerSecond: number;
        readonly readPagesPerSecond: number;
        readonly volumeEpoch: string;
        readonly membershipEpoch: string;
        /** Staging to the object store (storage-node status; absent from older builds). */
        readonly backup?: SegmentBackupReport;
      }[]
    | undefined;
}

/** A member's transport as it reports it (`transport` of a storage node's or an engine's `GET /v1/status`). */
export interface TransportAuthReport {
  /** `off` (no internal token: any peer taken), `required` or `transition`. */
  readonly authentication: string;
  readonly authFailures: number;
  readonly unauthenticatedConnections: number;
}

/** The cluster's transport at a glance: which members run which mode, and what came through. */
export interface TransportView {
  /** Member names by the mode they report; members that did not answer are left out. */
  readonly byMode: Readonly<Record<string, readonly string[]>>;
  /** Connections refused for want of a proof of the token, summed over the members. */
  readonly authFailures: number;
  /** Connections taken without a proof (transition), summed over the members. */
  readonly unauthenticatedConnections: number;
}

export function transportView(
  members: readonly { readonly name: string; readonly transport?: TransportAuthReport | undefined }[],
): TransportView {
  const byMode: Record<string, string[]> = {};
  let authFailures = 0;
  let unauthenticatedConnections = 0;
  for (const member of members) {
    const report = member.transport;
    if (report === undefined || typeof report.authentication !== 'string') continue;
    byMode[report.authentication] ??= [];
    byMode[report.authentication]!.push(member.name);
    authFailures += Number(report.authFailures) || 0;
    unauthenticatedConnections += Number(report.unauthenticatedConnections) || 0;
  }
  return { byMode, authFailures, unauthenticatedConnections };
}

/** One line for `northlight status`: `transport: authentication required on all 8 members`, or each mode's members. */
export function formatTransportView(view: TransportView): string {
  return `transport: ${describeTransportView(view)}`;
}

/** `authentication required on all 8 members`, or each mode's members, and what came through. */
export function describeTransportView(view: TransportView): string {
  const modes = Object.keys(view.byMode).sort();
  if (modes.length === 0) return 'not reported';
  const members = modes.map((mode) => view.byMode[mode]!.length).reduce((a, b) => a + b, 0);
  const what =
    modes.length === 1
      ? `${modes[0]} on all ${members} members`
      : modes.map((mode) => `${mode} on ${view.byMode[mode]!.join(', ')}`).join('; ');
  const notes = [
    ...(view.byMode.transition !== undefined || view.unauthenticatedConnections > 0
      ? [`${view.unauthenticatedConnections} connections taken without a proof of the token`]
      : []),
    ...(view.authFailures > 0 ? [`${view.authFailures} refused`] : []),
    ...(view.byMode.off !== undefined ? ['off: no internal token, any peer is taken'] : []),
  ];
  return `authentication ${what}${notes.length === 0 ? '' : ` (${notes.join('; ')})`}`;
}

/** A segment's backup as its storage node reports it (`GET /v1/status`, `segments[].backup`). */
export interface SegmentBackupReport {
  /** Absent until the node has read the segment's manifest (no object store: never). */
  readonly backedUpThrough?: string | null;
  readonly chunks?: number;
  /** The last staging error, cleared by the next success. */
  readonly lastError?: string | null;
  /** A chunk the manifest names that is missing or damaged in the object store. */
  readonly brokenChunk?: string | null;
}

/**
 * A node's backups at a glance: `off` (no segment backed up: no object store, or none read yet),
 * `ok`, `failing` (staging errors, retried every tick), `broken` (a backup names a chunk missing or
 * damaged in the object store; it heals with the segment's next base); `-` with no segment.
 */
export interface NodeBackupView {
  readonly state: 'none' | 'off' | 'ok' | 'failing' | 'broken';
  /** Each broken backup: its segment and the chunk it names that the object store lacks. */
  readonly broken: readonly { readonly segmentId: string; readonly chunk: string }[];
  /** Each segment whose last staging step failed, and the error. */
  readonly errors: readonly { readonly segmentId: string; readonly error: string }[];
}

export function nodeBackupView(
  segments: readonly { readonly segmentId: string; readonly backup?: SegmentBackupReport }[],
): NodeBackupView {
  const broken: { segmentId: string; chunk: string }[] = [];
  const errors: { segmentId: string; error: string }[] = [];
  let backedUp = 0;
  for (const segment of segments) {
    const backup = segment.backup;
    if (backup === undefined) continue;
    if (typeof backup.brokenChunk === 'string')
      broken.push({ segmentId: segment.segmentId, chunk: backup.brokenChunk });
    else if (typeof backup.lastError === 'string')
      errors.push({ segmentId: segment.segmentId, error: backup.lastError });
    if (backup.backedUpThrough !== undefined && backup.backedUpThrough !== null) backedUp++;
  }
  const state =
    segments.length === 0
      ? 'none'
      : broken.length > 0
        ? 'broken'
        : errors.length > 0
          ? 'failing'
          : backedUp === 0
            ? 'off'
            : 'ok';
  return { state, broken, errors };
}

export interface EngineObservation {
  readonly name: string;
  readonly role: 'writer' | 'replica';
  readonly promotionTier: number;
  readonly process: string;
  readonly ready: boolean;
  readonly pid: number | undefined;
  readonly url: string;
  readonly version: string | undefined;
  /** The engine's own GET /v1/status, when it answered. */
  readonly status: Readonly<Record<string, unknown>> | undefined;
}

export interface VolumeObservation {
  readonly pagesPerPg: number;
  /** The writer's `GET /v1/volume`: each PG's members and the node hosting each. */
  readonly pgs: readonly {
    readonly pgId: number;
    readonly members: readonly string[];
    readonly nodeOf: Readonly<Record<string, string>>;
  }[];
}

export interface RepairsView {
  readonly inFlight: readonly {
    readonly id: string;
    readonly pgId: number;
    readonly fromNode: string;
    readonly toNode: string;
    readonly joiningSegment: string;
    readonly targetLsn: string;
    readonly runningForMs: number;
    /** The joiner's bulk hydration from a peer's snapshot ("-" before the first attempt). */
    readonly snapshot?: string;
  }[];
  readonly recent: readonly {
    readonly id: string;
    readonly pgId: number;
    readonly fromNode: string;
    readonly toNode: string;
    readonly outcome: 'done' | 'reverted';
    readonly durationMs: number;
    readonly bytes: number;
  }[];
  /** Repairs that cannot start, and why. */
  readonly blocked: readonly string[];
  /**
   * The bandwidth each storage node gives its hydrations (repairs, migrations, catch-ups), bytes per
   * second, 0 for no limit: the spec's `repairBandwidthPerNode`, sent with each hydration.
   */
  readonly bandwidthPerNodeBytes?: number;
  /**
   * Catch-ups of members behind their peers' GC: the current ones (`running`, `waiting`) and the last
   * ones that ended (`ok`, `failed`, `resolved`), oldest first. See `CatchUpState`.
   */
  readonly catchUps?: readonly CatchUpRecord[];
}

/**
 * How a catch-up stands:
 *   - `running`: a hydration from a peer's snapshot is under way;
 *   - `waiting`: the segment's node answered that it is already filling it (NL_SEGMENT_BUSY: its own
 *     restore from a backup, or another hydration); nothing failed, the control plane checks again;
 *   - `ok`: the hydration ended and the segment holds the snapshot;
 *   - `failed`: the hydration failed and the segment was still behind when last seen: a current
 *     failure (a later round tries again while it stays behind);
 *   - `resolved`: it failed, but the segment has stopped being behind since (a later attempt, its own
 *     restore or gossip caught it up): history, not a current failure.
 */
export type CatchUpState = 'running' | 'waiting' | 'ok' | 'failed' | 'resolved';

export interface CatchUpRecord {
  readonly pgId: number;
  readonly segment: string;
  readonly node: string;
  readonly from: string | undefined;
  readonly state: CatchUpState;
  readonly attempt: number;
  readonly bytes: number;
  readonly ms: number;
  /** `failed`, `resolved`: what the node answered; `waiting`: what it said is filling the segment. */
  readonly reason?: string;
}

/** Where a member stands now, as its node reports it: `unknown` when the node did not report it. */
/** `gone`: its node answers and no longer holds the segment (a repair moved it, or it was dropped). */
export type CatchUpStanding = 'behind' | 'caught-up' | 'gone' | 'unknown';

/**
 * Failed catch-ups of members that are no longer behind become `resolved`: a failure is current only
 * while its segment still needs catching up. A member not seen this round (its node down or silent)
 * keeps its failure. Pure: the executor applies it every round to what it records.
 */
export function settleCatchUps(
  records: readonly CatchUpRecord[],
  standingOf: (segment: string, node: string) => CatchUpStanding,
): { readonly records: CatchUpRecord[]; readonly resolved: CatchUpRecord[] } {
  const resolved: CatchUpRecord[] = [];
  const settled = records.map((record) => {
    if (record.state !== 'failed') return record;
    const standing = standingOf(record.segment, record.node);
    // A segment its node no longer holds has nothing left to catch up: its failure is history too.
    if (standing !== 'caught-up' && standing !== 'gone') return record;
    const now: CatchUpRecord = { ...record, state: 'resolved' };
    resolved.push(now);
    return now;
  });
  return { records: settled, resolved };
}

/** What `status` shows of catch-ups: every current one, and the last few that ended before them. */
const CATCH_UP_HISTORY_SHOWN = 3;

/**
 * The current catch-ups (running, waiting, and each segment's latest failure unless an attempt of it
 * runs or waits now) and the history (the rest, newest last), for the text of `status`.
 */
export function splitCatchUps(catchUps: readonly CatchUpRecord[]): {
  readonly current: CatchUpRecord[];
  readonly history: CatchUpRecord[];
} {
  const active = new Set(
    catchUps
      .filter((record) => record.state === 'running' || record.state === 'waiting')
      .map((r) => r.segment),
  );
  const latest = new Map<string, CatchUpRecord>();
  for (const record of catchUps)
    if (record.state !== 'running' && record.state !== 'waiting') latest.set(record.segment, record);
  const current: CatchUpRecord[] = [];
  const history: CatchUpRecord[] = [];
  for (const record of catchUps) {
    const isCurrent =
      record.state === 'running' ||
      record.state === 'waiting' ||
      (record.state === 'failed' && latest.get(record.segment) === record && !active.has(record.segment));
    (isCurrent ? current : history).push(record);
  }
  return { current, history };
}

/** One line of `status` for a catch-up; `current` as `splitCatchUps` tells (a failure in history was tried again). */
function formatCatchUp(catchUp: CatchUpRecord, current: boolean): string {
  const what = `${catchUp.segment} on ${catchUp.node}`;
  const from = catchUp.from ?? '-';
  const reason = catchUp.reason === undefined ? '' : `: ${catchUp.reason}`;
  switch (catchUp.state) {
    case 'running':
      return `catching up ${what} (behind its peers' GC) from ${from}, attempt ${catchUp.attempt}`;
    case 'waiting':
      return `catch-up of ${what} waits: its node is already filling it${reason}; checking it again`;
    case 'ok':
      return `caught up ${what} from ${from} (${formatBytes(catchUp.bytes)} in ${catchUp.ms} ms)`;
    case 'failed':
      return current
        ? `catch-up failed: ${what} from ${from} (attempt ${catchUp.attempt})${reason}`
        : `catch-up of ${what} from ${from} failed (attempt ${catchUp.attempt}), tried again since`;
    case 'resolved':
      return `catch-up of ${what} from ${from} failed (attempt ${catchUp.attempt}), since resolved: it is no longer behind its peers' GC`;
  }
}

export interface UpgradeView {
  readonly target: string;
  readonly state: 'running' | 'done';
  readonly startedAtMs: number;
  readonly finishedAtMs: number | undefined;
  readonly current: string;
  readonly steps: readonly { readonly atMs: number; readonly message: string }[];
}

/** Where the cluster's own life is: `up` starting it, running, or stopping it. */
export type ClusterPhase = 'starting' | 'running' | 'stopping';

export interface ClusterObservation {
  readonly cluster: string;
  /** Absent: running (platforms that do not say). */
  readonly phase?: ClusterPhase;
  readonly dataDir: string;
  readonly endpoints: Readonly<Record<string, string>>;
  readonly writer: string;
  readonly promoting: string | undefined;
  readonly storage: readonly StorageObservation[];
  readonly engines: readonly EngineObservation[];
  readonly volume: VolumeObservation | undefined;
  readonly repairs: RepairsView;
  readonly upgrade: UpgradeView | undefined;
  readonly events: readonly { readonly atMs: number; readonly message: string }[];
  /** The embedded object store's process, where the platform runs one (absent: none, or not known). */
  readonly objectStore?: ObjectStoreObservation;
}

export interface ObjectStoreObservation {
  readonly process: string;
  readonly ready: boolean;
  readonly pid: number | undefined;
}

export type PgHealth = 'healthy' | 'degraded' | 'at-risk';

export interface PgStatus {
  readonly pgId: number;
  readonly health: PgHealth;
  readonly healthyMembers: number;
  readonly membersByZone: Readonly<Record<string, readonly string[]>>;
  readonly members: readonly {
    readonly segmentId: string;
    readonly nodeId: string;
    readonly zone: string;
    readonly healthy: boolean;
    readonly scl: string | undefined;
  }[];
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly phase: ClusterPhase;
  readonly dataDir: string;
  readonly endpoints: Readonly<Record<string, string>>;
  readonly writer: string;
  readonly promoting: string | undefined;
  readonly volume: {
    readonly volumeEpoch: string | undefined;
    readonly vdl: string | undefined;
    readonly vcl: string | undefined;
    readonly pgCount: number;
    readonly healthyPgs: number;
  };
  readonly storage: readonly (Omit<StorageObservation, 'segments'> & {
    readonly answered: boolean;
    readonly segments: number;
    /** Bytes the node's files take on disk (log, pages, control), as it reports them. */
    readonly diskBytes: number;
    /** Bytes of live data in its segments (log records not yet collected, page images). */
    readonly liveBytes: number;
    readonly heat: number;
    /** Its segments' backups (undefined when the node did not answer). */
    readonly backup: NodeBackupView | undefined;
  })[];
  readonly engines: readonly {
    readonly name: string;
    readonly role: string;
    readonly promotionTier: number;
    readonly process: string;
    readonly ready: boolean;
    readonly pid: number | undefined;
    readonly url: string;
    readonly version: string | undefined;
    readonly appliedLsn: string | undefined;
    readonly lsnsBehind: string | undefined;
    /**
     * The writer refuses commits (57P03) while it still serves reads: write quorum lost, or LSN
     * back-pressure (its status: mode `degraded`, or the driver not accepting). Absent on replicas.
     */
    readonly writesRefused?: boolean;
  }[];
  readonly pgs: readonly PgStatus[];
  readonly repairs: RepairsView;
  readonly upgrade: UpgradeView | undefined;
  readonly events: readonly { readonly at: string; readonly message: string }[];
  /** How the members' transport authenticates peers (`transportView`). */
  readonly transport: TransportView;
  /** The embedded object store's process (local platform). */
  readonly objectStore?: ObjectStoreObservation;
}

export function buildClusterStatus(
  observation: ClusterObservation,
  nowIso: (atMs: number) => string,
): ClusterStatus {
  const zoneOf = new Map(observation.storage.map((node) => [node.nodeId, node.zone]));
  const segmentsOf = new Map(
    observation.storage.map((node) => [
      node.nodeId,
      node.ready && node.segments !== undefined
        ? new Map(node.segments.map((segment) => [segment.segmentId, segment]))
        : undefined,
    ]),
  );
  const pgs: PgStatus[] = (observation.volume?.pgs ?? []).map((pg) => {
    const members = pg.members.map((segmentId) => {
      const nodeId = pg.nodeOf[segmentId] ?? '?';
      const reported = segmentsOf.get(nodeId)?.get(segmentId);
      return {
        segmentId,
        nodeId,
        zone: zoneOf.get(nodeId) ?? '?',
        healthy: reported !== undefined,
        scl: reported?.scl,
      };
    });
    const membersByZone: Record<string, string[]> = {};
    for (const member of members) {
      membersByZone[member.zone] ??= [];
      membersByZone[member.zone]!.push(member.nodeId);
    }
    const healthyMembers = members.filter((member) => member.healthy).length;
    const health: PgHealth =
      healthyMembers === members.length ? 'healthy' : healthyMembers >= 4 ? 'degraded' : 'at-risk';
    return { pgId: pg.pgId, health, healthyMembers, membersByZone, members };
  });
  const writer = observation.engines.find((engine) => engine.name === observation.writer);
  const driver = (writer?.status?.driver ?? {}) as Record<string, unknown>;
  const replicaFeed = new Map(
    ((writer?.status?.replicas ?? []) as { replicaId: string; lsnsBehind: string }[]).map((replica) => [
      replica.replicaId,
      replica,
    ]),
  );
  return {
    cluster: observation.cluster,
    phase: observation.phase ?? 'running',
    dataDir: observation.dataDir,
    endpoints: observation.endpoints,
    writer: observation.writer,
    promoting: observation.promoting,
    volume: {
      volumeEpoch: stringOrUndefined(driver.volumeEpoch),
      vdl: stringOrUndefined(driver.vdl),
      vcl: stringOrUndefined(driver.vcl),
      pgCount: pgs.length,
      healthyPgs: pgs.filter((pg) => pg.health === 'healthy').length,
    },
    storage: observation.storage.map(({ segments, onDiskBytes, ...node }) => ({
      ...node,
      answered: segments !== undefined,
      segments: segments?.length ?? 0,
      liveBytes: (segments ?? []).reduce((sum, segment) => sum + segment.diskBytes, 0),
      // A node that does not report its files (an older build) shows its live data, as before.
      diskBytes: onDiskBytes ?? (segments ?? []).reduce((sum, segment) => sum + segment.diskBytes, 0),
      heat: (segments ?? []).reduce(
        (sum, segment) => sum + segment.appendRecordsPerSecond + segment.readPagesPerSecond,
        0,
      ),
      backup: segments === undefined ? undefined : nodeBackupView(segments),
    })),
    engines: observation.engines.map((engine) => ({
      name: engine.name,
      role: engine.name === observation.promoting ? 'promoting' : engine.role,
      promotionTier: engine.promotionTier,
      process: engine.process,
      ready: engine.ready,
      pid: engine.pid,
      url: engine.url,
      version: engine.version,
      appliedLsn:
        engine.role === 'writer'
          ? stringOrUndefined(driver.vdl)
          : stringOrUndefined(engine.status?.appliedLsn),
      lsnsBehind: engine.role === 'writer' ? undefined : replicaFeed.get(engine.name)?.lsnsBehind,
      ...(engine.role === 'writer' && engine.status !== undefined
        ? {
            writesRefused:
              engine.status.mode === 'degraded' ||
              (engine.status.driver as { accepting?: unknown } | undefined)?.accepting === false,
          }
        : {}),
    })),
    pgs,
    repairs: observation.repairs,
    upgrade: observation.upgrade,
    events: observation.events.map((event) => ({ at: nowIso(event.atMs), message: event.message })),
    transport: transportView([
      ...observation.storage.map((node) => ({ name: node.nodeId, transport: node.transport })),
      ...observation.engines.map((engine) => ({
        name: engine.name,
        transport: engine.status?.transport as TransportAuthReport | undefined,
      })),
    ]),
    ...(observation.objectStore === undefined ? {} : { objectStore: observation.objectStore }),
  };
}

function stringOrUndefined(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

/** Plain-text tables for a terminal. */
export function formatClusterStatus(
  status: ClusterStatus,
  options: { readonly maxPgs?: number } = {},
): string {
  const lines: string[] = [];
  lines.push(
    `cluster ${status.cluster}${status.phase === 'running' ? '' : ` — ${status.phase}`}  (data: ${status.dataDir})`,
  );
  lines.push(
    `endpoints: read-write ${status.endpoints.readWrite}  read-only ${status.endpoints.readOnly}` +
      (status.endpoints.httpReadWrite === undefined
        ? ''
        : `  SQL over HTTP ${status.endpoints.httpReadWrite}`) +
      `  control ${status.endpoints.control}` +
      (status.endpoints.objectStore === undefined ? '' : `  object store ${status.endpoints.objectStore}`),
  );
  const volume = status.volume;
  lines.push(
    `volume: epoch ${volume.volumeEpoch ?? '?'}  VDL ${volume.vdl ?? '?'}  VCL ${volume.vcl ?? '?'}  ` +
      `PGs ${volume.pgCount} (${volume.healthyPgs} healthy)  writer ${status.writer}` +
      (status.promoting === undefined ? '' : `  (promoting ${status.promoting})`),
  );
  // A status from an `up` older than this CLI has none.
  if (status.transport !== undefined) lines.push(formatTransportView(status.transport));
  lines.push('', 'ENGINES');
  lines.push(
    table(
      ['name', 'role', 'tier', 'version', 'process', 'ready', 'applied LSN', 'behind (LSNs)', 'url'],
      status.engines.map((engine) => [
        engine.name,
        engine.role,
        String(engine.promotionTier),
        engine.version ?? '?',
        engine.process,
        engine.ready ? (engine.writesRefused === true ? 'reads only (writes refused)' : 'yes') : 'no',
        engine.appliedLsn ?? '-',
        engine.lsnsBehind ?? '-',
        engine.url,
      ]),
    ),
  );
  lines.push('', 'STORAGE NODES BY ZONE');
  const byZone = [...status.storage].sort((a, b) =>
    a.zone === b.zone ? (a.nodeId < b.nodeId ? -1 : 1) : a.zone < b.zone ? -1 : 1,
  );
  lines.push(
    table(
      [
        'zone',
        'node',
        'version',
        'process',
        'ready',
        'segments',
        'disk',
        'live data',
        'heat (ops/s)',
        'backup',
      ],
      byZone.map((node) => [
        node.zone,
        node.nodeId,
        node.version ?? '?',
        node.process,
        node.ready ? 'yes' : 'no',
        node.answered ? String(node.segments) : '-',
        node.answered ? formatBytes(node.diskBytes) : '-',
        node.answered ? formatBytes(node.liveBytes) : '-',
        node.answered ? node.heat.toFixed(1) : '-',
        node.backup === undefined || node.backup.state === 'none'
          ? '-'
          : node.backup.state === 'broken'
            ? `broken (${node.backup.broken.length})`
            : node.backup.state,
      ]),
    ),
  );
  const backupProblems = byZone.flatMap((node) => [
    ...(node.backup?.broken ?? []).map(
      ({ segmentId, chunk }) =>
        `${node.nodeId}: ${segmentId} names ${chunk}, missing or damaged in the object store: ` +
        'not restorable past it until the next base, staged once materialization has passed it',
    ),
    ...(node.backup?.errors ?? []).map(
      ({ segmentId, error }) => `${node.nodeId}: staging failing, retried: ${segmentId}: ${error}`,
    ),
  ]);
  if (backupProblems.length > 0) lines.push('', 'BACKUP PROBLEMS', ...backupProblems);
  const objectStore = status.objectStore;
  if (objectStore !== undefined)
    lines.push(
      '',
      `OBJECT STORE (embedded): ${objectStore.process}` +
        (objectStore.pid === undefined ? '' : ` (pid ${objectStore.pid})`) +
        (objectStore.ready
          ? ', ready'
          : objectStore.process === 'running'
            ? ', not ready'
            : ': backups wait and storage nodes keep their log until it is back (start-node object-store)'),
    );
  const maxPgs = options.maxPgs ?? 20;
  lines.push(
    '',
    `PROTECTION GROUPS (${status.pgs.length}${status.pgs.length > maxPgs ? `, first ${maxPgs}` : ''})`,
  );
  const zones = [...new Set(status.storage.map((node) => node.zone))].sort();
  lines.push(
    table(
      ['pg', 'health', 'copies', ...zones.map((zone) => `zone ${zone}`)],
      status.pgs.slice(0, maxPgs).map((pg) => [
        String(pg.pgId),
        pg.health,
        `${pg.healthyMembers}/${pg.members.length}`,
        ...zones.map((zone) =>
          pg.members
            .filter((member) => member.zone === zone)
            .map((member) => (member.healthy ? member.nodeId : `${member.nodeId}(down)`))
            .join(' '),
        ),
      ]),
    ),
  );
  const repairs = status.repairs;
  const catchUps = repairs.catchUps ?? [];
  if (repairs.inFlight.length + repairs.recent.length + repairs.blocked.length + catchUps.length > 0) {
    const bandwidth =
      repairs.bandwidthPerNodeBytes === undefined
        ? ''
        : repairs.bandwidthPerNodeBytes === 0
          ? '; bandwidth not limited'
          : `; bandwidth ${formatBytes(repairs.bandwidthPerNodeBytes)}/s per node`;
    lines.push('', `REPAIRS (${repairs.inFlight.length} in flight${bandwidth})`);
    if (repairs.inFlight.length > 0)
      lines.push(
        table(
          ['pg', 'from', 'to', 'segment', 'hydrating to LSN', 'snapshot', 'running'],
          repairs.inFlight.map((repair) => [
            String(repair.pgId),
            repair.fromNode,
            repair.toNode,
            repair.joiningSegment,
            repair.targetLsn,
            repair.snapshot ?? '-',
            `${(repair.runningForMs / 1000).toFixed(1)} s`,
          ]),
        ),
      );
    for (const repair of repairs.recent.slice(-5))
      lines.push(
        `${repair.outcome === 'done' ? 'repaired' : 'reverted'} PG ${repair.pgId} ${repair.fromNode} → ${repair.toNode} ` +
          `in ${(repair.durationMs / 1000).toFixed(1)} s (${formatBytes(repair.bytes)}, ` +
          `${(repair.bytes / 1024 ** 2 / Math.max(repair.durationMs / 1000, 0.001)).toFixed(2)} MiB/s)`,
      );
    for (const reason of repairs.blocked) lines.push(`blocked: ${reason}`);
    // History first, then what stands now: a current failure is never pushed out by older lines.
    const { current, history } = splitCatchUps(catchUps);
    for (const catchUp of history.slice(-CATCH_UP_HISTORY_SHOWN)) lines.push(formatCatchUp(catchUp, false));
    for (const catchUp of current) lines.push(formatCatchUp(catchUp, true));
  }
  if (status.upgrade !== undefined) {
    const upgrade = status.upgrade;
    lines.push('', `UPGRADE to ${upgrade.target}: ${upgrade.state}`);
    lines.push(`  now: ${upgrade.current}`);
  }
  if (status.events.length > 0) {
    lines.push('', 'RECENT EVENTS');
    for (const event of status.events.slice(-10)) lines.push(`${event.at}  ${event.message}`);
  }
  return lines.join('\n');
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [render(headers), ...rows.map(render)].join('\n');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
