/**
 * Everything one incarnation of the core has loaded from its disk: the control log, the node log, the
 * page store, and the segments rebuilt from them. It is replaced as a whole when a disk error makes
 * the in-memory state untrustworthy (the core reloads from disk, as a restart would); work that
 * started on an older `Storage` checks `core.storage === storage` after every await and stops.
 *
 * Replay order and why (crash reasoning, numbered for the whole node; see also C1–C4 in
 * control-log.ts, N1–N6 in node-log.ts / log-format.ts, P1–P3 in page-store.ts):
 *  S1. The control log first: it says which segments exist (a segment this node has no durable
 *      `segment` entry for is unknown, and messages for it are ignored — so a node whose disk was
 *      wiped stays silent for every segment it used to host, toy crash reasoning 6), their epochs,
 *      truncations and how far each is materialized.
 *  S2. Then the page store, keeping only images at or below each segment's durable
 *      `materializedThrough` (P1).
 *  S3. Then the node log: an entry is indexed if its segment is live, it decodes, its LSN is above
 *      gcThrough and no truncation annulled it; every other entry is released (dead). Records at or
 *      below gcThrough were coalesced into durable images before their GC entry was written.
 *  S4. The durable hint and the minimum read point are raised to at least `materializedThrough`: both
 *      are persisted lazily and may come back older than the durable materialization point, but
 *      materialization never passes either (so `materializedThrough` is a durable hint too), and a
 *      segment must never report a hint below records it no longer holds, or a recovery walking from
 *      the hints could stop at a gap that GC made and truncate durable records.
 *  S5. A stop during replay (the process got SIGTERM while it started) ends it between steps, never
 *      inside one, so whatever a step writes is whole when it stops. The steps and what they write:
 *      the control log's open (removes a leftover `.tmp`, cuts a torn tail, syncs; on a new directory
 *      appends the first entry, synced: C1, C3–C5); the page store's open (writes a missing header
 *      and syncs; its scan of the slots only reads, and may stop between reads); each node log file
 *      (read and synced, N7: nothing written); the deletion of dead log files (each an unlink, N6);
 *      the first file of this incarnation (N4). A stop is looked at before each: what was opened is
 *      closed, nothing is left half-done, and the next start replays the same files this one would
 *      have (stopping before this incarnation's first file leaves no empty file behind either).
 */
import {
  decodeRedoRecord,
  type Environment,
  type Lsn,
  NorthlightError,
  type PgId,
  type RedoRecord,
  type SegmentId,
  tryDecodeRedoRecord,
} from '@northlight/protocol';
import { ControlLog, type ControlState } from './control-log.js';
import { GatedDisk } from './gated-disk.js';
import type { LogLocation } from './log-format.js';
import type { StorageMetrics } from './metrics.js';
import { NodeLog, type ReplayedFile } from './node-log.js';
import type { ResolvedOptions } from './options.js';
import { PageStore } from './page-store.js';
import { RecordCache } from './record-cache.js';
import { type IndexedRecord, Segment, segmentKey } from './segment.js';

/** Where a stored item was found damaged. */
export type DamageSource = 'replay' | 'scrub' | 'read' | 'materialize' | 'fetch';

export interface DamagedRecord {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly lsn: Lsn;
  readonly foundBy: DamageSource;
}

export interface DamagedPage {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly pageNo: number;
  readonly foundBy: DamageSource;
}

export interface DamagedLogRegion {
  readonly fileSequence: number;
  readonly offset: number;
  readonly length: number;
}

/** Damage found so far, for status and for the repair that gossip will do: bounded lists plus counts. */
export class DamageLog {
  readonly records: DamagedRecord[] = [];
  readonly pages: DamagedPage[] = [];
  readonly regions: DamagedLogRegion[] = [];
  recordCount = 0;
  pageCount = 0;
  regionCount = 0;

  constructor(private readonly listMax: number) {}

  addRecord(damage: DamagedRecord): void {
    this.recordCount++;
    if (this.records.length < this.listMax) this.records.push(damage);
  }

  addPage(damage: DamagedPage): void {
    this.pageCount++;
    if (this.pages.length < this.listMax) this.pages.push(damage);
  }

  addRegion(damage: DamagedLogRegion): void {
    this.regionCount++;
    if (this.regions.length < this.listMax) this.regions.push(damage);
  }

  /** A repaired page is no longer listed. */
  forgetPage(pgId: PgId, segmentId: SegmentId, pageNo: number): void {
    const index = this.pages.findIndex(
      (damage) => damage.pgId === pgId && damage.segmentId === segmentId && damage.pageNo === pageNo,
    );
    if (index >= 0) this.pages.splice(index, 1);
  }

  /** A repaired (re-received) record is no longer listed. */
  forgetRecord(pgId: PgId, segmentId: SegmentId, lsn: Lsn): void {
    const index = this.records.findIndex(
      (damage) => damage.pgId === pgId && damage.segmentId === segmentId && damage.lsn === lsn,
    );
    if (index >= 0) this.records.splice(index, 1);
  }
}

export class Storage {
  readonly segments = new Map<string, Segment>();
  readonly byNumber = new Map<number, Segment>();
  readonly damage: DamageLog;
  /** Recently appended records, decoded (record-cache.ts). */
  readonly recordCache: RecordCache;
  /** Reads in flight (pages, fetches, scrub, materialization): while any, nothing is freed (N6, P3). */
  pins = 0;

  private constructor(
    /** All of this Storage's I/O goes through it; closed after a disk error (G1). */
    readonly gate: GatedDisk,
    readonly controlLog: ControlLog,
    readonly controlState: ControlState,
    readonly nodeLog: NodeLog,
    readonly pageStore: PageStore,
    readonly options: ResolvedOptions,
    damage: DamageLog,
  ) {
    this.damage = damage;
    this.recordCache = new RecordCache(options.recordCacheBytes);
  }

  /**
   * Replays the disk (S1–S4). `stopRequested` is asked between steps (S5): once it answers true, the
   * replay closes what it opened and resolves undefined. It must keep answering true once it has.
   */
  static async load(
    env: Environment,
    options: ResolvedOptions,
    stopRequested: () => boolean = () => false,
  ): Promise<Storage | undefined> {
    const metrics = options.metrics;
    const directory = options.dataDirectory;
    const damage = new DamageLog(options.damageListMax);
    const disk = new GatedDisk(env.disk);
    const { controlLog, state, damagedInTheMiddle, cutBytes } = await ControlLog.open(
      disk,
      directory,
      metrics,
    );
    if (cutBytes > 0) env.log.log('warn', 'cut a torn tail of the control log', { cutBytes });
    if (stopRequested()) {
      await controlLog.close();
      return undefined;
    }
    const segments = [...state.segments.values()].map(
      (control) => new Segment(control, options.rateWindowMs),
    );
    if (damagedInTheMiddle) {
      // C3: a durable control entry rotted; no segment may serve on possibly stale fences.
      env.log.log('error', 'control log damaged in the middle; every segment stays silent until repaired', {
        segments: segments.length,
      });
      for (const segment of segments) segment.state = 'silent';
    }
    const byNumber = new Map(segments.map((segment) => [segment.control.number, segment]));
    const damagedAtReplay: { segment: Segment; pageNo: number }[] = [];
    const { pageStore, images } = await PageStore.open(
      disk,
      directory,
      options.pageSizeBytes,
      metrics,
      env.log,
      (image) => image.lsn <= (byNumber.get(image.segmentNumber)?.control.materializedThrough ?? -1n), // S2
      options.pageCacheBytes,
      stopRequested,
    );
    if (stopRequested()) {
      await controlLog.close();
      await pageStore.close();
      return undefined;
    }
    for (const image of images) {
      const segment = byNumber.get(image.segmentNumber)!;
      segment.pages.set(image.pageNo, image);
      if (image.damaged) damagedAtReplay.push({ segment, pageNo: image.pageNo }); // P4
    }
    const nodeLog = await NodeLog.open(
      disk,
      {
        directory: `${directory}/log`,
        logFileBytes: options.logFileBytes,
        logPreallocateBytes: options.logPreallocateBytes,
        appendQueueBytesMax: options.appendQueueBytesMax,
      },
      metrics,
      env.log,
      (file, log) => replayFile(file, log, byNumber, damage, env, metrics),
      stopRequested,
    );
    const storage = new Storage(disk, controlLog, state, nodeLog, pageStore, options, damage);
    if (stopRequested()) {
      await storage.close();
      return undefined;
    }
    for (const { segment, pageNo } of damagedAtReplay) storage.pageDamaged(env, segment, pageNo, 'replay');
    for (const segment of segments) {
      segment.normalizeAfterReplay(); // S4
      storage.#add(segment);
      storage.releasePruned(segment, env.log);
    }
    await nodeLog.deleteDeadFiles();
    if (stopRequested()) {
      await storage.close();
      return undefined;
    }
    await nodeLog.startAppending();
    return storage;
  }

  #add(segment: Segment): void {
    this.segments.set(segment.key, segment);
    this.byNumber.set(segment.control.number, segment);
  }

  /** Registers a newly created segment (its `segment` control entry is durable). */
  addSegment(segment: Segment): void {
    this.#add(segment);
  }

  segment(pgId: PgId, segmentId: SegmentId): Segment | undefined {
    return this.segments.get(segmentKey(pgId, segmentId));
  }

  /** Forgets a dropped segment: its records and images become dead. */
  removeSegment(segment: Segment): void {
    segment.dropped = true;
    this.segments.delete(segment.key);
    this.byNumber.delete(segment.control.number);
    this.controlState.segments.delete(segment.control.number);
    for (const record of segment.allRecords()) this.releaseRecord(segment, record);
    for (const image of segment.pages.values()) this.pageStore.free(image.slot);
    segment.pages.clear();
  }

  /** Unindexes (if indexed) and releases a record's log entry. */
  releaseRecord(segment: Segment, record: IndexedRecord): void {
    segment.unindex(record.lsn);
    this.recordCache.forget(record);
    this.nodeLog.release(record.location);
  }

  /** GC: unindexes every record of `segment` at or below `limit` and releases their log entries. */
  releaseRecordsThrough(segment: Segment, limit: Lsn): IndexedRecord[] {
    const records = segment.unindexThrough(limit);
    for (const record of records) {
      this.recordCache.forget(record);
      this.nodeLog.release(record.location);
    }
    return records;
  }

  releaseLocations(locations: readonly LogLocation[]): void {
    for (const location of locations) this.nodeLog.release(location);
  }

  /** Releases the records `Segment.index`/`rebuild` dropped as off the chain (a writer bug). */
  releasePruned(segment: Segment, log?: Environment['log']): void {
    const pruned = segment.pruned.splice(0);
    for (const record of pruned) {
      this.recordCache.forget(record);
      this.nodeLog.release(record.location);
    }
    if (pruned.length > 0) {
      log?.log('warn', 'dropped records off the PG chain (their backlinks name no record of the PG)', {
        pgId: segment.control.pgId,
        segmentId: segment.control.segmentId,
        lsns: pruned.map((record) => record.lsn).join(','),
      });
    }
  }

  /** Runs `read` pinned: nothing it may be reading is freed or deleted meanwhile (N6, P3). */
  async pinned<T>(read: () => Promise<T>): Promise<T> {
    this.pins++;
    try {
      return await read();
    } finally {
      this.pins--;
    }
  }

  /** Frees what was released, if no read is pinned: quarantined page slots and dead log files. */
  async reclaim(): Promise<void> {
    if (this.pins > 0) return;
    this.pageStore.releaseQuarantine();
    await this.nodeLog.deleteDeadFiles();
  }

  /**
   * A stored record failed its CRC: drop it from the index (the SCL falls below it unless images
   * already cover it) and list it, so the segment shows the gap and a peer can fill it.
   */
  recordDamaged(env: Environment, segment: Segment, record: IndexedRecord, foundBy: DamageSource): void {
    if (segment.get(record.lsn) !== record) return; // already handled
    this.releaseRecord(segment, record);
    if (record.lsn > segment.control.materializedThrough) {
      for (const dropped of segment.rebuild()) this.nodeLog.release(dropped.location);
      this.releasePruned(segment, env.log);
    }
    const { pgId, segmentId } = segment.control;
    this.damage.addRecord({ pgId, segmentId, lsn: record.lsn, foundBy });
    this.options.metrics.scrubErrors('record', 1);
    env.log.log('warn', 'stored record failed its checksum; dropped until a peer supplies it', {
      pgId,
      segmentId,
      lsn: record.lsn,
      foundBy,
    });
  }

  /** A page image failed its CRC: reads of the page are refused and materialization of the segment waits. */
  pageDamaged(env: Environment, segment: Segment, pageNo: number, foundBy: DamageSource): void {
    if (segment.damagedPages.has(pageNo)) return;
    segment.damagedPages.add(pageNo);
    const { pgId, segmentId } = segment.control;
    this.damage.addPage({ pgId, segmentId, pageNo, foundBy });
    this.options.metrics.scrubErrors('page', 1);
    env.log.log('warn', 'page image failed its checksum; page unreadable until repaired', {
      pgId,
      segmentId,
      pageNo,
      foundBy,
    });
  }

  /**
   * The indexed record: from the record cache if there, else read from the node log and decoded
   * (checking it is the one the index says). `fromDisk` skips the cache (the scrubber checks the disk).
   */
  async readRecord(segment: Segment, record: IndexedRecord, fromDisk = false): Promise<RedoRecord> {
    if (!fromDisk) {
      const cached = this.recordCache.get(record);
      if (cached !== undefined) return cached;
    }
    const payload = await this.nodeLog.readEntry(record.location);
    const { record: decoded } = decodeRedoRecord(payload);
    if (decoded.lsn !== record.lsn || decoded.pgId !== segment.control.pgId) {
      throw new NorthlightError('NL_DECODE_CHECKSUM', 'node log entry holds another record than indexed', {
        lsn: record.lsn,
      });
    }
    return decoded;
  }

  /** Waits for queued appends (they are synced or fail), then closes every file. */
  async close(): Promise<void> {
    await this.nodeLog.close();
    await this.controlLog.close();
    await this.pageStore.close();
  }

  /** G1: no new I/O; resolves once what was issued has settled. Then closes what it can. */
  async abandon(): Promise<void> {
    this.gate.abandon();
    await this.gate.quiesce();
    await this.close().catch(() => undefined);
  }
}

/** S3: indexes the entries of one scanned node log file; releases the dead ones. */
function replayFile(
  file: ReplayedFile,
  nodeLog: NodeLog,
  byNumber: ReadonlyMap<number, Segment>,
  damage: DamageLog,
  env: Environment,
  metrics: StorageMetrics,
): void {
  for (const region of file.scan.skipped) {
    damage.addRegion({ fileSequence: file.sequence, ...region });
    metrics.scrubErrors('log-region', 1);
    env.log.log('warn', 'node log region failed its checksum; skipped', {
      fileSequence: file.sequence,
      ...region,
    });
  }
  for (const entry of file.scan.entries) {
    const location = { fileSequence: file.sequence, offset: entry.offset, entryBytes: entry.entryBytes };
    const segment = byNumber.get(entry.segmentNumber);
    const decoded = tryDecodeRedoRecord(entry.payload);
    if (segment === undefined || !decoded.ok || decoded.value.record.pgId !== segment.control.pgId) {
      nodeLog.release(location);
      continue;
    }
    const record = decoded.value.record;
    const indexed = segment.index({
      lsn: record.lsn,
      backlink: record.backlink,
      cpl: record.cpl,
      pageNo: record.kind === 'page-diff' ? record.pageNo : undefined,
      location,
    });
    if (!indexed) nodeLog.release(location);
  }
}
