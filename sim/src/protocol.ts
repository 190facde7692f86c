/**
 * The parts of `@northlight/protocol` the simulator's infrastructure uses, imported in one place so
 * that the rest of `sim/src` depends on a short, explicit list.
 */
export {
  AssertionError,
  asNodeId,
  assert,
  asZone,
  type Clock,
  copyBytes,
  type Disk,
  type DiskFile,
  type Environment,
  type ErrorCode,
  isNorthlightError,
  type Logger,
  type LogLevel,
  type Network,
  type NetworkEndpoint,
  type NodeId,
  NorthlightError,
  type ObjectStore,
  type Random,
  type TimerHandle,
  unreachable,
  type Zone,
} from '@northlight/protocol';
