/** Real adapters of the environment interfaces (`core/env.ts`) for processes running on Node. */
export { buildVersion } from './build-version.js';
export {
  CLAIM_LEASE_MS,
  defaultRegistryDir,
  ephemeralRange,
  ephemeralRangeLow,
  type FreePortsOptions,
  freePorts,
  NoFreePortError,
  PICK_RANGE_LOW,
  pickRange,
  refreshPortClaims,
} from './free-ports.js';
export {
  type Credentials,
  INTERNAL_CHALLENGE,
  INTERNAL_TOKEN_ACTION,
  INTERNAL_TOKEN_RULE,
  type InternalRefusal,
  internalAuthorization,
  internalRefusal,
  isValidInternalToken,
  parseAuthorization,
  secretsEqual,
  transportKey,
} from './internal-auth.js';
export { type LazySchemaController, lazySchemaController } from './lazy-schemas.js';
export { NodeClock } from './node-clock.js';
export { NodeDisk } from './node-disk.js';
export { bundledEntry, type NodeEntryOptions, nodeEntryArgs } from './node-entry.js';
export { JsonLineLogger } from './node-logger.js';
export { NodeRandom } from './node-random.js';
export { bootId, processAlive, processStartTicks } from './process-identity.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_INBOUND_CONNECTIONS,
  DEFAULT_RECONNECT_BACKOFF_INITIAL_MS,
  DEFAULT_RECONNECT_BACKOFF_MAX_MS,
  DEFAULT_SEND_QUEUE_LIMIT_BYTES,
  DROP_REASONS,
  type DropReason,
  type PeerAddress,
  type PeerDirectory,
  StaticPeerDirectory,
  TcpNetworkEndpoint,
  type TcpNetworkOptions,
  type TransportAuthStatus,
  type TransportCounters,
} from './tcp-network.js';
export * from './transport-hello.js';
