/**
 * The storage node core's options: every limit is named here with its default (STYLE.md §11), and
 * `resolveOptions` checks them once at construction, so the rest of the core can rely on them. A bad
 * value is `NL_CONFIG_INVALID` (it comes from a config file or the command line, not from a bug).
 */
import {
  MAX_PAGE_SIZE_BYTES,
  MAX_REDO_RECORD_BYTES,
  NorthlightError,
  type PgId,
  type SegmentId,
} from '@northlight/protocol';
import {
  HYDRATION_BYTES_PER_SECOND_MAX,
  HYDRATION_BYTES_PER_SECOND_MIN,
  isHydrationLimit,
} from './hydration-pacer.js';
import { LOG_ENTRY_HEADER_BYTES, LOG_FILE_HEADER_BYTES } from './log-format.js';
import { noopStorageMetrics, type StorageMetrics } from './metrics.js';

/**
 * The seam for the S3 staging step (not built yet): GC may drop log records of a segment up to `lsn`
 * only once they are in the object store, when `requireBackupBeforeGc` is set.
 */
export interface BackupStatus {
  isBackedUp(pgId: PgId, segmentId: SegmentId, throughLsn: bigint): boolean;
}

export interface StorageNodeOptions {
  /** Directory on the node's Disk holding the control log, the node log and the page store. */
  readonly dataDirectory?: string;
  /** Bytes per page of the volume; at most 64 KiB (`MAX_PAGE_SIZE_BYTES`). Default 4096. */
  readonly pageSizeBytes?: number;
  /** Pages per protection group: PG n holds pages [n × this, (n + 1) × this). Default 1 GiB of pages. */
  readonly pagesPerPg?: number;
  /** A node log file is closed and a new one started when the next entry would pass this size. */
  readonly logFileBytes?: number;
  /**
   * The node log keeps this many bytes of synced zeros ahead of its write position (up to the file's
   * size), written in the background in steps of at most 256 KiB (node-log.ts), so an append never
   * waits for a whole extent of zeros.
   */
  readonly logPreallocateBytes?: number;
  /** Bytes of append batches queued (not yet written) before new batches are refused (back-pressure). */
  readonly appendQueueBytesMax?: number;
  /** Append batches received but not yet acknowledged, node-wide, before new ones are refused. */
  readonly appendBatchesInFlightMax?: number;
  /** Records a segment holds above its SCL (waiting for a gap to fill) before it refuses more. */
  readonly recordsAboveSclMax?: number;
  /** Segments one node hosts at most. */
  readonly segmentsMax?: number;
  /** Members in one membership list at most. */
  readonly membersMax?: number;
  /** Page reads in flight node-wide before new reads are refused. */
  readonly readsInFlightMax?: number;
  /** Background materialization tick; 0 turns the timer off (tests drive `materializeStep`). */
  readonly materializeIntervalMs?: number;
  /** Records coalesced into page images per materialization step (bounded work per tick). */
  readonly materializeRecordsPerStep?: number;
  /**
   * Decoded records kept in memory after their append (record-cache.ts), in log-entry bytes; 0 turns
   * the cache off (every reader reads the node log).
   */
  readonly recordCacheBytes?: number;
  /**
   * Page images kept in memory by the page store (page-store.ts, P5), in page bytes: materialization
   * and page reads of hot pages skip the disk read. 0 turns the cache off.
   */
  readonly pageCacheBytes?: number;
  /** Background scrub tick; 0 (the default) turns it off (`scrub()` still runs a whole pass). */
  readonly scrubIntervalMs?: number;
  /** Log entries or page images verified per scrub step. */
  readonly scrubItemsPerStep?: number;
  /**
   * Durable hints and minimum read points are written to the control log at most this often. They are
   * persisted lazily by design: losing one only makes a later recovery start lower, or a read floor
   * come back lower. Once a second (the default) is enough for that, and keeps their fdatasyncs of the
   * control log from competing with the node log's.
   */
  readonly hintPersistIntervalMs?: number;
  /** The control log is compacted (rewritten as a snapshot) once it grows past this size. */
  readonly controlLogCompactBytes?: number;
  /** After a disk error the core forgets its memory and replays its disk after this pause. */
  readonly reloadAfterDiskErrorMs?: number;
  /** Damaged records, pages and log regions remembered for status and repair (older ones are counted). */
  readonly damageListMax?: number;
  /** When true, log records are dropped only once `backup.isBackedUp` says they are in S3. */
  readonly requireBackupBeforeGc?: boolean;
  readonly backup?: BackupStatus;
  /**
   * Gossip tick: each segment asks one random peer for the records above its SCL, and asks for the
   * repair of one damaged page. 0 turns the timer off (`gossipRound()` still runs one round).
   */
  readonly gossipIntervalMs?: number;
  /** The most record bytes one gossip reply carries (the asker pulls again at once while behind). */
  readonly gossipReplyBytesMax?: number;
  /** A pull unanswered this long is forgotten, and the next round asks again (maybe another peer). */
  readonly gossipPullTimeoutMs?: number;
  /** Peers' pulls served at once; more are dropped (the asker's pull times out and retries). */
  readonly gossipServeConcurrencyMax?: number;
  /**
   * Staging to the object store: each tick stages one chunk (or base) of the next segment with work.
   * 0 (the default) turns it off. When on, GC waits for the backup (`requireBackupBeforeGc` implied).
   */
  readonly backupIntervalMs?: number;
  /** Key prefix of every object this node writes ('' or ending in '/'). */
  readonly backupPrefix?: string;
  /** Log bytes per staged chunk at most. */
  readonly backupChunkBytesMax?: number;
  /** A base of page images is staged once this many chunk bytes were staged since the last one. */
  readonly backupBaseEveryBytes?: number;
  /**
   * Once the manifest names this many small chunks (under half of `backupChunkBytesMax`), adjacent
   * ones are merged (backup.ts B6): the manifest stays small however long a trickle of writes runs.
   */
  readonly backupMergeChunksAt?: number;
  /**
   * A tick stages a segment's next chunk only once its stageable records reach half of
   * `backupChunkBytesMax`, or the oldest of them has waited this long (backup.ts B7); 0 stages every
   * tick. At most `BACKUP_MAX_DELAY_MS_MAX` (5 min). Longer means fewer, larger uploads, and more log kept
   * locally (GC waits for the backup) and lost from S3 with the node's whole PG.
   */
  readonly backupMaxDelayMs?: number;
  /** Heat: the window over which write and read rates are averaged. */
  readonly rateWindowMs?: number;
  /**
   * Bandwidth limit of hydrations on this node (peer snapshots and restores from S3, shared), bytes
   * per second; 0 (the default) is no limit. A hydrate request may set another (the control plane
   * sends its `repairBandwidthPerNode` with each): the latest applies to every hydration.
   */
  readonly hydrationBytesPerSecond?: number;
  readonly metrics?: StorageMetrics;
}

export type ResolvedOptions = Required<Omit<StorageNodeOptions, 'backup'>> & {
  readonly backup: BackupStatus | undefined;
};

export const STORAGE_NODE_DEFAULTS = {
  dataDirectory: '/data',
  pageSizeBytes: 4096,
  pagesPerPg: (1024 * 1024 * 1024) / 4096,
  logFileBytes: 64 * 1024 * 1024,
  logPreallocateBytes: 4 * 1024 * 1024,
  appendQueueBytesMax: 64 * 1024 * 1024,
  appendBatchesInFlightMax: 4096,
  recordsAboveSclMax: 100_000,
  segmentsMax: 10_000,
  membersMax: 16,
  readsInFlightMax: 1024,
  materializeIntervalMs: 1000,
  materializeRecordsPerStep: 2048,
  recordCacheBytes: 32 * 1024 * 1024,
  pageCacheBytes: 32 * 1024 * 1024,
  scrubIntervalMs: 0,
  scrubItemsPerStep: 256,
  hintPersistIntervalMs: 1000,
  controlLogCompactBytes: 1024 * 1024,
  reloadAfterDiskErrorMs: 20,
  damageListMax: 1024,
  requireBackupBeforeGc: false,
  gossipIntervalMs: 1000,
  backupIntervalMs: 0,
  backupPrefix: '',
  backupChunkBytesMax: 4 * 1024 * 1024,
  backupBaseEveryBytes: 256 * 1024 * 1024,
  backupMergeChunksAt: 32,
  backupMaxDelayMs: 10_000,
  gossipReplyBytesMax: 512 * 1024,
  gossipPullTimeoutMs: 1000,
  gossipServeConcurrencyMax: 2,
  rateWindowMs: 10_000,
  hydrationBytesPerSecond: 0,
} as const;

/**
 * The longest `backupMaxDelayMs`: five minutes. Half the 10 minutes after which the
 * NorthlightBackupLagHigh alert calls a backup lagging (docs/observability.md), so a healthy node
 * never trips it; past that a PG lost whole is restored from S3 too far back, and the log a node keeps
 * for its backup grows with the delay.
 */
export const BACKUP_MAX_DELAY_MS_MAX = 300_000;

function invalid(name: string, value: unknown, rule: string): NorthlightError {
  return new NorthlightError('NL_CONFIG_INVALID', `storage node option ${name} = ${String(value)}: ${rule}`, {
    option: name,
  });
}

function positiveInteger(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) throw invalid(name, value, `must be an integer ≥ ${min}`);
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  return positiveInteger(name, value, 0);
}

/** Applies defaults and checks every option; throws NL_CONFIG_INVALID naming the first bad one. */
export function resolveOptions(options: StorageNodeOptions): ResolvedOptions {
  const merged = { ...STORAGE_NODE_DEFAULTS, ...stripUndefined(options) };
  if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(merged.dataDirectory) || merged.dataDirectory.includes('//'))
    throw invalid('dataDirectory', merged.dataDirectory, 'must be an absolute path without a trailing slash');
  positiveInteger('pageSizeBytes', merged.pageSizeBytes);
  if (merged.pageSizeBytes > MAX_PAGE_SIZE_BYTES)
    throw invalid('pageSizeBytes', merged.pageSizeBytes, `must be ≤ ${MAX_PAGE_SIZE_BYTES}`);
  positiveInteger('pagesPerPg', merged.pagesPerPg);
  positiveInteger('logPreallocateBytes', merged.logPreallocateBytes, 4096);
  if (merged.logPreallocateBytes % 8 !== 0)
    throw invalid('logPreallocateBytes', merged.logPreallocateBytes, 'must be a multiple of 8');
  // A file always takes at least one entry (a record larger than the rest of a file opens a new file,
  // which grows past this size if the record needs it), so small files are legal: tests use them.
  positiveInteger('logFileBytes', merged.logFileBytes, LOG_FILE_HEADER_BYTES + 4096);
  for (const name of [
    'appendQueueBytesMax',
    'appendBatchesInFlightMax',
    'recordsAboveSclMax',
    'segmentsMax',
    'membersMax',
    'readsInFlightMax',
    'materializeRecordsPerStep',
    'scrubItemsPerStep',
    'hintPersistIntervalMs',
    'controlLogCompactBytes',
    'reloadAfterDiskErrorMs',
    'damageListMax',
    'gossipReplyBytesMax',
    'gossipPullTimeoutMs',
    'gossipServeConcurrencyMax',
    'backupChunkBytesMax',
    'backupBaseEveryBytes',
    'rateWindowMs',
  ] as const) {
    positiveInteger(name, merged[name]);
  }
  if (merged.appendQueueBytesMax < MAX_REDO_RECORD_BYTES + LOG_ENTRY_HEADER_BYTES)
    throw invalid('appendQueueBytesMax', merged.appendQueueBytesMax, 'must hold at least one largest record');
  nonNegativeInteger('materializeIntervalMs', merged.materializeIntervalMs);
  nonNegativeInteger('recordCacheBytes', merged.recordCacheBytes);
  nonNegativeInteger('pageCacheBytes', merged.pageCacheBytes);
  nonNegativeInteger('scrubIntervalMs', merged.scrubIntervalMs);
  nonNegativeInteger('gossipIntervalMs', merged.gossipIntervalMs);
  nonNegativeInteger('backupIntervalMs', merged.backupIntervalMs);
  nonNegativeInteger('backupMaxDelayMs', merged.backupMaxDelayMs);
  if (merged.backupMaxDelayMs > BACKUP_MAX_DELAY_MS_MAX)
    throw invalid(
      'backupMaxDelayMs',
      merged.backupMaxDelayMs,
      `must be ≤ ${BACKUP_MAX_DELAY_MS_MAX} (five minutes; 0 stages every tick)`,
    );
  if (!isHydrationLimit(merged.hydrationBytesPerSecond))
    throw invalid(
      'hydrationBytesPerSecond',
      merged.hydrationBytesPerSecond,
      `must be 0 (no limit) or an integer in [${HYDRATION_BYTES_PER_SECOND_MIN}, ${HYDRATION_BYTES_PER_SECOND_MAX}]`,
    );
  if (merged.backupPrefix !== '' && !/^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}\/$/.test(merged.backupPrefix))
    throw invalid('backupPrefix', merged.backupPrefix, "must be '' or end in '/' (letters, digits, . _ - /)");
  if (!Number.isSafeInteger(merged.backupMergeChunksAt) || merged.backupMergeChunksAt < 2)
    throw invalid('backupMergeChunksAt', merged.backupMergeChunksAt, 'must be an integer ≥ 2');
  if (merged.backupChunkBytesMax > 8 * 1024 * 1024)
    throw invalid(
      'backupChunkBytesMax',
      merged.backupChunkBytesMax,
      'must be ≤ 8 MiB (a chunk is one frame)',
    );
  if (merged.requireBackupBeforeGc && options.backup === undefined && merged.backupIntervalMs === 0)
    throw invalid(
      'requireBackupBeforeGc',
      true,
      'needs a `backup` to ask whether records are staged, or backupIntervalMs > 0',
    );
  return {
    ...merged,
    backup: options.backup,
    metrics: options.metrics ?? noopStorageMetrics,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
