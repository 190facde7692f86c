/**
 * What the storage node core reports about itself, as calls on an interface: the core stays free of
 * prom-client (it is pure), and `storage-node/src/io/` implements `StorageMetrics` with real counters,
 * gauges and histograms. `noopStorageMetrics` is the default (tests, the simulator).
 *
 * Label sets are small and bounded: a segment (pgId, segmentId), a file kind, an error code, a reason.
 */
import type { ErrorCode, PgId, SegmentId } from '@northlight/protocol';

export interface SegmentLabels {
  readonly pgId: PgId;
  readonly segmentId: SegmentId;
}

/** The three kinds of file the core fsyncs. */
export type SyncedFileKind = 'log' | 'control' | 'pages';

/** Why a message was dropped without a reply. */
export type DropReason =
  | 'undecodable'
  | 'unknown-segment'
  | 'not-serving'
  | 'unexpected-type'
  | 'stale'
  | 'busy';

export interface StorageMetrics {
  /** From an append batch's arrival to its acknowledgement (after the fsync that covers it). */
  appendLatencyMs(milliseconds: number): void;
  /** Records newly made durable for a segment (duplicates not counted). */
  recordsAppended(segment: SegmentLabels, count: number): void;
  /** Bytes of node log entries written for a segment. */
  bytesAppended(segment: SegmentLabels, bytes: number): void;
  /** One fdatasync of a file of this kind. */
  fsync(kind: SyncedFileKind): void;
  /** Append batches waiting for their fsync, and the bytes queued behind the write in flight. */
  queueDepth(batches: number, queuedBytes: number): void;
  /** How far a segment's page images trail what could be materialized (its SCL), in LSNs. */
  materializationLagLsn(segment: SegmentLabels, lag: number): void;
  /** Page images written by materialization. */
  pagesMaterialized(segment: SegmentLabels, count: number): void;
  /** Bytes made reclaimable by GC: log entries dropped and page images superseded. */
  gcBytes(bytes: number): void;
  /** Node log files deleted because nothing in them was live any more. */
  logFilesDeleted(count: number): void;
  /** A stored log entry, page image or log region failed its CRC (scrub, read, or replay). */
  scrubErrors(kind: 'record' | 'page' | 'log-region', count: number): void;
  /** A request answered with request-rejected. */
  requestRejected(code: ErrorCode): void;
  /** A message dropped without a reply. */
  messageDropped(reason: DropReason): void;
  /** A page read served, and how long it took. */
  pageRead(segment: SegmentLabels, latencyMs: number): void;
  /** A page image looked up in the page store's image cache: found (true) or read from disk. */
  pageCacheLookup(hit: boolean): void;
  /** Gossip: a pull sent to a peer, or a peer's pull served (with the records sent). */
  gossipPull(direction: 'sent' | 'served', recordsSent: number): void;
  /** Gossip: records received from peers that this segment did not hold (gaps filled). */
  gossipRecordsFetched(segment: SegmentLabels, count: number): void;
  /** A damaged page image replaced by a peer's copy. */
  pageRepaired(segment: SegmentLabels): void;
  /** An object staged to the object store: a log chunk, a page base, or a manifest. */
  backupUploaded(kind: 'chunk' | 'base' | 'manifest' | 'merged', bytes: number): void;
  /** Node-wide: log bytes at or below the durable hints not yet staged, and the age of the oldest. */
  backupLag(bytes: number, seconds: number): void;
  /** Node-wide: segments whose backup names a chunk missing or damaged in the object store (B6). */
  backupBroken(segments: number): void;
  /** Bytes a hydration took in (peer snapshot or S3 restore), and how long it waited for the node's limit. */
  hydrationPaced(bytes: number, waitedMs: number): void;
  /** The node's hydration bandwidth limit changed (bytes per second; 0 = none). */
  hydrationLimit(bytesPerSecond: number): void;
}

const ignore = (): void => {};

export const noopStorageMetrics: StorageMetrics = {
  appendLatencyMs: ignore,
  recordsAppended: ignore,
  bytesAppended: ignore,
  fsync: ignore,
  queueDepth: ignore,
  materializationLagLsn: ignore,
  pagesMaterialized: ignore,
  gcBytes: ignore,
  logFilesDeleted: ignore,
  scrubErrors: ignore,
  requestRejected: ignore,
  messageDropped: ignore,
  pageRead: ignore,
  pageCacheLookup: ignore,
  gossipPull: ignore,
  gossipRecordsFetched: ignore,
  pageRepaired: ignore,
  backupUploaded: ignore,
  backupLag: ignore,
  backupBroken: ignore,
  hydrationPaced: ignore,
  hydrationLimit: ignore,
};
