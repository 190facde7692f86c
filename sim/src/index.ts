/**
 * `@northlight/sim`: the deterministic simulator. A whole cluster runs in one process on virtual
 * time, every random choice comes from one seed, and a failing seed replays exactly. See
 * `docs/simulator.md`.
 */
export { SimClock } from './clock.js';
export {
  type CrashKind,
  type CrashOptions,
  SimCluster,
  type SimClusterOptions,
  SimNode,
  type SimNodeOptions,
  WALL_CLOCK_ORIGIN_MS_DEFAULT,
} from './cluster.js';
export {
  type BitFlip,
  DISK_DEFAULTS,
  type DiskLatency,
  type DiskStats,
  directoryOf,
  normalizeDirectory,
  SECTOR_BYTES,
  SimDisk,
  type SimDiskOptions,
} from './disk.js';
export {
  describeFaultPlan,
  type FaultBudget,
  type FaultCounts,
  FaultInjector,
  type FaultKind,
  type FaultPlan,
  type FaultPlanOptions,
  generateFaultPlan,
  healCluster,
  nodeIds,
  quietFaultPlan,
} from './faults.js';
export { Fnv1a64, fnv1a64 } from './hash.js';
export { checkCampaignArguments } from './io/campaign-arguments.js';
export {
  type DropReason,
  type LinkLatency,
  NETWORK_DEFAULTS,
  type NetworkFaultRates,
  type NetworkStats,
  NO_NETWORK_FAULTS,
  type Partition,
  SimEndpoint,
  SimNetwork,
  type SimNetworkOptions,
} from './network.js';
export {
  OBJECT_STORE_DEFAULTS,
  type ObjectStoreStats,
  SimObjectStore,
  type SimObjectStoreOptions,
} from './object-store.js';
export { Prng, type Seed, SplitMix64, seedToBigint } from './prng.js';
export {
  formatFields,
  Incarnation,
  type LogRecord,
  never,
  SimLogger,
  type SimProcessContext,
  type SimProcessFactory,
  type SimProcessInstance,
} from './process.js';
export { defaultWorkload, getWorkload, listWorkloads, registerWorkload } from './registry.js';
export {
  type CampaignOptions,
  type CampaignResult,
  type CheckResult,
  campaignArgumentProblem,
  campaignFlag,
  formatSeedFailure,
  type RunSeedOptions,
  replayCommand,
  runCampaign,
  runSeed,
  type SeedResult,
  type StatValue,
  seedRange,
  type Violation,
  type Workload,
} from './runner.js';
export {
  describeError,
  type EventOwner,
  millisecondsToMicros,
  type RunUntilOptions,
  type RunUntilResult,
  ScheduledEvent,
  Scheduler,
  type SchedulerOptions,
  SimulationFailure,
  type SimulationFailureInfo,
  type StopCondition,
} from './scheduler.js';
export { formatTimeUs, Trace, type TraceOptions, type TraceSink } from './trace.js';
export { QuorumWriterChecker } from './workloads/quorum-writer/checker.js';
export {
  type PageWrite,
  type PgLayout,
  ToyWriter,
  type Transaction,
  type WriterObserver,
  type WriterOptions,
} from './workloads/quorum-writer/toy-writer.js';
export {
  PAGE_SIZE_BYTES as QUORUM_WRITER_PAGE_SIZE_BYTES,
  PAGES_PER_PG as QUORUM_WRITER_PAGES_PER_PG,
  QUICK_PROFILE as QUORUM_WRITER_QUICK_PROFILE,
  type QuorumWriterContext,
  type QuorumWriterExtension,
  type QuorumWriterOptions,
  type QuorumWriterStorage,
  quorumWriterWorkload,
  STORAGE_NODES as QUORUM_WRITER_STORAGE_NODES,
  WRITER_NODES as QUORUM_WRITER_WRITER_NODES,
} from './workloads/quorum-writer/workload.js';
