/**
 * `StorageNodeCore.status()`: plain data (bigints for LSNs and epochs, no class instances) for the
 * admin API and for tests. Built on demand from the live state; nothing here is kept up to date.
 */

import type { Epoch, Lsn, PgId, SegmentId, TruncationRange } from '@northlight/protocol';
import { backedUpThrough, backupLag } from './backup.js';
import type { HydrationPacerStatus } from './hydration-pacer.js';
import { materializationLimit } from './materializer.js';
import type { Segment, SegmentHydration, SegmentState } from './segment.js';
import type { DamagedLogRegion, DamagedPage, DamagedRecord, Storage } from './storage.js';

/** starting → serving ⇄ reloading (after a disk error) → stopping → stopped; failed: bad configuration. */
export type CoreState = 'created' | 'starting' | 'serving' | 'reloading' | 'stopping' | 'stopped' | 'failed';

export interface SegmentStatus {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
  readonly segmentNumber: number;
  readonly state: SegmentState;
  readonly scl: Lsn;
  readonly durableHint: Lsn;
  readonly volumeEpoch: Epoch;
  readonly truncationEpoch: Epoch;
  readonly truncations: readonly TruncationRange[];
  readonly membershipEpoch: Epoch;
  readonly members: readonly SegmentId[];
  /** The node hosting each member (empty: placement unknown, no gossip). */
  readonly memberNodes: readonly string[];
  /** Sealed: appends refused for good (a migration's cut-over). */
  readonly sealed: boolean;
  /** Peers garbage-collected past this segment's SCL: it needs a base (S3) before gossip can fill it. */
  readonly behindPeerGc: boolean;
  /** Staging to the object store: how far the log is backed up (undefined until the manifest is read). */
  readonly backup: {
    readonly backedUpThrough: Lsn | undefined;
    readonly baseLsn: Lsn | undefined;
    readonly chunks: number;
    readonly lastError: string | undefined;
    /** A chunk the manifest names that is missing or damaged in the object store (backup.ts B6). */
    readonly brokenChunk: string | undefined;
  };
  /** A hydration in progress: from the object store, or from a peer's snapshot. */
  readonly hydration: Readonly<SegmentHydration> | undefined;
  /** Records held in the node log (indexed), and how many wait above the SCL behind a gap. */
  readonly recordsHeld: number;
  readonly recordsAboveScl: number;
  /** LSNs named as predecessors but missing: what gossip will ask peers for. */
  readonly knownGaps: number;
  readonly logBytes: number;
  readonly pageImages: number;
  readonly pageImageBytes: number;
  /** logBytes + pageImageBytes: what the segment occupies on the node's disk. */
  readonly diskBytes: number;
  readonly materializedThrough: Lsn;
  /** How far materialization may currently go: min(SCL, durable hint, PGMRPL). */
  readonly materializationLimit: Lsn;
  readonly gcThrough: Lsn;
  readonly minReadPoint: Lsn;
  readonly damagedPages: number;
  /** Heat: records appended and pages read per second over the rate window. */
  readonly appendRecordsPerSecond: number;
  readonly readPagesPerSecond: number;
}

export interface StorageNodeStatus {
  /** The node's network address (`env.network.address`). */
  readonly nodeId: string;
  readonly state: CoreState;
  /** Serving requests (state `serving`): what a readiness probe reports. */
  readonly ready: boolean;
  readonly segments: readonly SegmentStatus[];
  readonly log: {
    readonly files: number;
    readonly bytesOnDisk: number;
    readonly liveBytes: number;
    readonly queuedBytes: number;
    readonly batchesWaitingForSync: number;
  };
  readonly pages: {
    readonly slots: number;
    readonly freeSlots: number;
    readonly bytesOnDisk: number;
    /** Page bytes held by the page store's image cache. */
    readonly cachedBytes: number;
  };
  readonly controlLogBytes: number;
  /** The node's hydration bandwidth limit (hydration-pacer.ts): the limit, bytes paced, time waited. */
  readonly hydrationLimit: HydrationPacerStatus;
  /** Staging to the object store, node-wide: its cadence (backup.ts B7) and its backlog now. */
  readonly backup: BackupCadence & {
    /** Stageable log bytes not yet staged, over the node's segments. */
    readonly lagBytes: number;
    /** Age of the oldest of them: never less than the real age, more by at most one tick (B7). */
    readonly lagSeconds: number;
  };
  /** Decoded records held after their append (record-cache.ts); hits and misses since start. */
  readonly recordCache: {
    readonly records: number;
    readonly bytes: number;
    readonly hits: number;
    readonly misses: number;
  };
  readonly damage: {
    readonly records: readonly DamagedRecord[];
    readonly pages: readonly DamagedPage[];
    readonly logRegions: readonly DamagedLogRegion[];
    readonly recordCount: number;
    readonly pageCount: number;
    readonly logRegionCount: number;
  };
}

/** The staging settings `status()` shows (`intervalMs` 0: staging is off). */
export interface BackupCadence {
  readonly intervalMs: number;
  readonly maxDelayMs: number;
  /** Stageable bytes at which a tick stages a chunk without waiting for `maxDelayMs`. */
  readonly stageAtBytes: number;
  readonly chunkBytesMax: number;
}

export function segmentStatus(segment: Segment, storage: Storage, nowMs: number): SegmentStatus {
  const control = segment.control;
  return {
    pgId: control.pgId,
    segmentId: control.segmentId,
    segmentNumber: control.number,
    state: segment.state,
    scl: segment.scl,
    durableHint: control.durableHint,
    volumeEpoch: control.volumeEpoch,
    truncationEpoch: control.truncationEpoch,
    truncations: control.truncations.map((range) => ({ ...range })),
    membershipEpoch: control.membershipEpoch,
    members: [...control.members],
    memberNodes: [...control.memberNodes],
    sealed: control.sealed,
    behindPeerGc: segment.behindPeerGc,
    backup: {
      backedUpThrough: backedUpThrough(segment),
      baseLsn: segment.backup.manifest?.base?.lsn,
      chunks: segment.backup.manifest?.chunks.length ?? 0,
      lastError: segment.backup.lastError,
      brokenChunk: segment.backup.brokenChunk,
    },
    hydration: segment.hydration === undefined ? undefined : { ...segment.hydration },
    recordsHeld: segment.recordCount,
    recordsAboveScl: segment.pendingAboveScl,
    knownGaps: segment.knownGaps().length,
    logBytes: segment.logBytes,
    pageImages: segment.pages.size,
    pageImageBytes: segment.pages.size * storage.pageStore.slotBytes,
    diskBytes: segment.logBytes + segment.pages.size * storage.pageStore.slotBytes,
    materializedThrough: control.materializedThrough,
    materializationLimit: materializationLimit(segment),
    gcThrough: control.gcThrough,
    minReadPoint: control.minReadPoint,
    damagedPages: segment.damagedPages.size,
    appendRecordsPerSecond: segment.appendRate.perSecond(nowMs),
    readPagesPerSecond: segment.readRate.perSecond(nowMs),
  };
}

export function storageStatus(
  nodeId: string,
  state: CoreState,
  storage: Storage | undefined,
  nowMs: number,
  hydrationLimit: HydrationPacerStatus,
  backup: BackupCadence & { readonly notedMs: number },
): StorageNodeStatus {
  const { notedMs, ...cadence } = backup;
  if (storage === undefined) {
    return {
      nodeId,
      state,
      ready: false,
      segments: [],
      log: { files: 0, bytesOnDisk: 0, liveBytes: 0, queuedBytes: 0, batchesWaitingForSync: 0 },
      pages: { slots: 0, freeSlots: 0, bytesOnDisk: 0, cachedBytes: 0 },
      controlLogBytes: 0,
      hydrationLimit,
      backup: { ...cadence, lagBytes: 0, lagSeconds: 0 },
      recordCache: { records: 0, bytes: 0, hits: 0, misses: 0 },
      damage: { records: [], pages: [], logRegions: [], recordCount: 0, pageCount: 0, logRegionCount: 0 },
    };
  }
  const segments = [...storage.segments.values()]
    .sort((a, b) => a.control.pgId - b.control.pgId || (a.control.segmentId < b.control.segmentId ? -1 : 1))
    .map((segment) => segmentStatus(segment, storage, nowMs));
  const damage = storage.damage;
  const lag = backupLag(storage.segments.values(), nowMs, notedMs);
  return {
    nodeId,
    state,
    ready: state === 'serving',
    segments,
    log: {
      files: storage.nodeLog.fileCount,
      bytesOnDisk: storage.nodeLog.sizeBytes,
      liveBytes: storage.nodeLog.liveBytes,
      queuedBytes: storage.nodeLog.queuedBytes,
      batchesWaitingForSync: storage.nodeLog.pendingBatches,
    },
    pages: {
      slots: storage.pageStore.slotCount,
      freeSlots: storage.pageStore.freeSlotCount,
      bytesOnDisk: storage.pageStore.sizeBytes,
      cachedBytes: storage.pageStore.cachedBytes,
    },
    controlLogBytes: storage.controlLog.sizeBytes,
    hydrationLimit,
    backup: { ...cadence, lagBytes: lag.bytes, lagSeconds: lag.seconds },
    recordCache: storage.recordCache.stats,
    damage: {
      records: [...damage.records],
      pages: [...damage.pages],
      logRegions: [...damage.regions],
      recordCount: damage.recordCount,
      pageCount: damage.pageCount,
      logRegionCount: damage.regionCount,
    },
  };
}
