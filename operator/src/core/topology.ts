/**
 * The local platform's topology: which processes a cluster spec asks for on this machine, their ids,
 * zones and ports. Pure, so `northlight up`, `status` and the tests agree on one layout.
 *
 * Ports (basePort B, 7400 by default), chosen so that the two a user types are easy to remember:
 *   B        the control plane's API (status, kill-node, down…)
 *   B + 1    the embedded S3-compatible store
 *   B + 32   the read-write PostgreSQL endpoint: always the current writer (7432, like PostgreSQL's 5432)
 *   B + 33   the read-only PostgreSQL endpoint: the replicas, round robin (the writer when none is ready)
 *   B + 34   the read-write SQL HTTP endpoint (`northlight sql`), B + 35 its read-only twin
 *   B + 40…  engine instances, one SQL HTTP port each (16 at most)
 *   B + 56…  engine instances, one PostgreSQL port each
 *   B + 100… storage nodes, two ports each (binary protocol, admin HTTP), 192 at most
 * With basePort 0 every port is picked free at start instead and recorded in the state file.
 */
import { assert } from '@northlight/protocol';

export const CONTROL_PORT_OFFSET = 0;
export const OBJECT_STORE_PORT_OFFSET = 1;
export const READ_WRITE_PORT_OFFSET = 32;
export const READ_ONLY_PORT_OFFSET = 33;
export const HTTP_READ_WRITE_PORT_OFFSET = 34;
export const HTTP_READ_ONLY_PORT_OFFSET = 35;
export const ENGINE_PORT_OFFSET = 40;
export const ENGINE_PG_PORT_OFFSET = 56;
export const STORAGE_PORT_OFFSET = 100;
export const MAX_ENGINE_INSTANCES = 16;
export const MAX_STORAGE_NODES = 192;
/** Ports a layout spans above its base. */
export const PORT_SPAN = STORAGE_PORT_OFFSET + 2 * MAX_STORAGE_NODES;

export interface TopologyInput {
  readonly zones: readonly { readonly name: string; readonly nodes: number }[];
  readonly engines: readonly { readonly name: string; readonly promotionTier: number }[];
}

export interface StorageNodePlan {
  readonly nodeId: string;
  readonly zone: string;
  /** Position in the fleet: fixes its ports. */
  readonly index: number;
}

export interface EnginePlan {
  readonly name: string;
  readonly promotionTier: number;
  readonly index: number;
}

export interface Topology {
  readonly storage: readonly StorageNodePlan[];
  readonly engines: readonly EnginePlan[];
  /** The engine that starts as writer on a fresh cluster: the lowest promotion tier, first listed. */
  readonly initialWriter: string;
}

export interface PortLayout {
  readonly control: number;
  readonly objectStore: number;
  /** PostgreSQL endpoints (psql, node-postgres, sysbench…). */
  readonly readWrite: number;
  readonly readOnly: number;
  /** SQL HTTP endpoints (`northlight sql`, POST /v1/sql). */
  readonly httpReadWrite: number;
  readonly httpReadOnly: number;
  /** Each engine's SQL HTTP port. */
  readonly engines: Readonly<Record<string, number>>;
  /** Each engine's PostgreSQL port. */
  readonly enginesPg: Readonly<Record<string, number>>;
  readonly storage: Readonly<Record<string, { readonly port: number; readonly adminPort: number }>>;
}

/** Storage node ids: `storage-<zone>-<n>`, n from 1 in each zone. */
export function storageNodeId(zone: string, ordinal: number): string {
  return `storage-${zone}-${ordinal}`;
}

export function planTopology(input: TopologyInput): Topology {
  assert(input.engines.length >= 1 && input.engines.length <= MAX_ENGINE_INSTANCES, 'engine count');
  const storage: StorageNodePlan[] = [];
  for (const zone of input.zones)
    for (let ordinal = 1; ordinal <= zone.nodes; ordinal++)
      storage.push({ nodeId: storageNodeId(zone.name, ordinal), zone: zone.name, index: storage.length });
  assert(storage.length <= MAX_STORAGE_NODES, `at most ${MAX_STORAGE_NODES} storage nodes`);
  const engines = input.engines.map((engine, index) => ({ ...engine, index }));
  const lowestTier = Math.min(...engines.map((engine) => engine.promotionTier));
  const initialWriter = engines.find((engine) => engine.promotionTier === lowestTier)!.name;
  return { storage, engines, initialWriter };
}

/** The fixed layout above `basePort` (which must leave room for PORT_SPAN ports below 65 536). */
export function fixedPorts(topology: Topology, basePort: number): PortLayout {
  assert(basePort >= 1024 && basePort + PORT_SPAN < 65_536, `base port ${basePort} out of range`);
  return {
    control: basePort + CONTROL_PORT_OFFSET,
    objectStore: basePort + OBJECT_STORE_PORT_OFFSET,
    readWrite: basePort + READ_WRITE_PORT_OFFSET,
    readOnly: basePort + READ_ONLY_PORT_OFFSET,
    httpReadWrite: basePort + HTTP_READ_WRITE_PORT_OFFSET,
    httpReadOnly: basePort + HTTP_READ_ONLY_PORT_OFFSET,
    engines: Object.fromEntries(
      topology.engines.map((engine) => [engine.name, basePort + ENGINE_PORT_OFFSET + engine.index]),
    ),
    enginesPg: Object.fromEntries(
      topology.engines.map((engine) => [engine.name, basePort + ENGINE_PG_PORT_OFFSET + engine.index]),
    ),
    storage: Object.fromEntries(
      topology.storage.map((node) => [
        node.nodeId,
        {
          port: basePort + STORAGE_PORT_OFFSET + 2 * node.index,
          adminPort: basePort + STORAGE_PORT_OFFSET + 2 * node.index + 1,
        },
      ]),
    ),
  };
}

/** The same shape from a list of free ports (basePort 0): needs `portsNeeded(topology)` of them. */
export function portsFromList(topology: Topology, free: readonly number[]): PortLayout {
  assert(free.length >= portsNeeded(topology), 'not enough free ports');
  let next = 0;
  const take = () => free[next++]!;
  return {
    control: take(),
    objectStore: take(),
    readWrite: take(),
    readOnly: take(),
    httpReadWrite: take(),
    httpReadOnly: take(),
    engines: Object.fromEntries(topology.engines.map((engine) => [engine.name, take()])),
    enginesPg: Object.fromEntries(topology.engines.map((engine) => [engine.name, take()])),
    storage: Object.fromEntries(
      topology.storage.map((node) => [node.nodeId, { port: take(), adminPort: take() }]),
    ),
  };
}

export function portsNeeded(topology: Topology): number {
  return 6 + 2 * topology.engines.length + 2 * topology.storage.length;
}
