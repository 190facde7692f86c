/**
 * @northlight/storage-node: the storage node. `StorageNodeCore` is the sans-I/O core (src/core/),
 * driven only through an `Environment`; the process entry point wires it to the real adapters of
 * src/io/ (TCP transport, admin API, metrics, config). docs/storage-node.md describes both.
 */
export type { AppendPlan } from './core/append-plan.js';
export {
  type ControlEntry,
  type SegmentControlState,
  TRUNCATION_RANGES_MAX,
} from './core/control-log.js';
export type { LogLocation } from './core/log-format.js';
export type { MaterializeStepResult } from './core/materializer.js';
export {
  type DropReason,
  noopStorageMetrics,
  type SegmentLabels,
  type StorageMetrics,
  type SyncedFileKind,
} from './core/metrics.js';
export {
  type BackupStatus,
  type ResolvedOptions,
  resolveOptions,
  STORAGE_NODE_DEFAULTS,
  type StorageNodeOptions,
} from './core/options.js';
export type { ReadPageOutcome, ReadRefusal, ReadRefusalReason } from './core/read-page.js';
export type { ScrubReport } from './core/scrubber.js';
export type { SegmentHydration, SegmentState } from './core/segment.js';
export type { SnapshotReport } from './core/snapshot.js';
export {
  encodeSnapshotEnd,
  SNAPSHOT_PART_BYTES_MAX,
  SNAPSHOT_PART_HEADER_BYTES,
  SnapshotDecoder,
  type SnapshotEvent,
} from './core/snapshot-format.js';
export type { CoreState, SegmentStatus, StorageNodeStatus } from './core/status.js';
export type { DamagedLogRegion, DamagedPage, DamagedRecord, DamageSource } from './core/storage.js';
export {
  REQUESTS_IN_FLIGHT_MAX,
  type RestoreReport,
  type SegmentSpec,
  SNAPSHOT_TRUNCATION_WAIT_MS,
  type SnapshotHydrationReport,
  StorageNodeCore,
} from './core/storage-node-core.js';
