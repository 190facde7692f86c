/**
 * Adapts the core's `StorageMetrics` calls (core/metrics.ts) to the prom-client sink (io/metrics.ts):
 * one line per method, so the core stays free of prom-client.
 */
import type { ErrorCode } from '@northlight/protocol';
import type { DropReason, SegmentLabels, StorageMetrics, SyncedFileKind } from '../core/metrics.js';
import type { StorageMetricsSink } from './metrics.js';

export function storageMetricsFor(sink: StorageMetricsSink): StorageMetrics {
  return {
    appendLatencyMs: (milliseconds: number) => sink.observeAppendLatencyMs(milliseconds),
    recordsAppended: (_segment: SegmentLabels, count: number) => sink.addAppendedRecords(count),
    bytesAppended: (_segment: SegmentLabels, bytes: number) => sink.addAppendedBytes(bytes),
    fsync: (kind: SyncedFileKind) => sink.addFsyncs(1, kind),
    queueDepth: (batches: number, queuedBytes: number) => {
      sink.setAppendQueueDepth(batches);
      sink.setAppendQueueBytes(queuedBytes);
    },
    materializationLagLsn: (segment: SegmentLabels, lag: number) =>
      sink.setSegmentMaterializationLagLsns(segment.segmentId, lag),
    pagesMaterialized: (_segment: SegmentLabels, count: number) => sink.addMaterializedPages(count),
    gcBytes: (bytes: number) => sink.addGcReclaimedBytes(bytes),
    logFilesDeleted: (count: number) => sink.addGcDeletedLogFiles(count),
    scrubErrors: (kind, count: number) => sink.addScrubErrors(count, kind),
    requestRejected: (code: ErrorCode) => sink.addRejectedRequests(code),
    messageDropped: (reason: DropReason) => sink.addDroppedMessages(reason),
    pageRead: (_segment: SegmentLabels, latencyMs: number) => sink.observePageReadLatencyMs(latencyMs),
    pageCacheLookup: (hit: boolean) => sink.addPageCacheLookups(hit ? 'hit' : 'miss'),
    gossipPull: (direction) => sink.addGossipPulls(direction),
    gossipRecordsFetched: (_segment: SegmentLabels, count: number) => sink.addGossipFetchedRecords(count),
    pageRepaired: () => sink.addRepairedPages(1),
    backupUploaded: (kind, bytes: number) => sink.addBackupUploadedBytes(kind, bytes),
    backupLag: (bytes: number, seconds: number) => {
      sink.setBackupLagBytes(bytes);
      sink.setBackupLagSeconds(seconds);
    },
    backupBroken: (segments: number) => sink.setBackupBrokenSegments(segments),
    hydrationPaced: (bytes: number, waitedMs: number) => sink.addHydration(bytes, waitedMs / 1000),
    hydrationLimit: (bytesPerSecond: number) => sink.setHydrationLimit(bytesPerSecond),
  } satisfies StorageMetrics;
}
