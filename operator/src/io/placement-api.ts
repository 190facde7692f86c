/**
 * `POST /v1/placement`, the request every writer makes when its volume grows into a new PG, as both
 * platforms answer it: the local control API (control-server.ts) and the operator on Kubernetes
 * (k8s/operator.ts). They differ only in how they find the cluster's storage nodes; the request's
 * checks and what a node contributes to the placement (readiness, disk use, heat from its own
 * status) are here, once.
 */
import type { FleetNode, PgLayout } from '../core/placement.js';
import { getJson, OBSERVE_TIMEOUT_MS } from './http-json.js';
import type { StorageSegmentView } from './repair-executor.js';

/** A writer's layouts in one placement request: a volume of 1 TiB PGs… a lot of them. */
export const MAX_PLACEMENT_PGS = 1 << 20;
/** Placement requests carry the layouts: room for some 100,000 PGs. */
export const CONTROL_BODY_LIMIT_BYTES = 16 * 1024 * 1024;
/** What a malformed request is told. */
export const PLACEMENT_USAGE = 'give {"pgId": n, "pgs": [{"pgId": n, "nodes": ["node", …]}, …]}';

/** The request's PG number and the writer's current layouts; undefined when malformed. */
export function parsePlacementRequest(
  body: { pgId?: unknown; pgs?: unknown } | undefined,
): { readonly pgId: number; readonly pgs: PgLayout[] } | undefined {
  const pgId = body?.pgId;
  const pgs = body?.pgs;
  if (
    typeof pgId !== 'number' ||
    !Number.isInteger(pgId) ||
    pgId < 0 ||
    !Array.isArray(pgs) ||
    pgs.length > MAX_PLACEMENT_PGS ||
    !pgs.every(
      (pg: { pgId?: unknown; nodes?: unknown }) =>
        typeof pg?.pgId === 'number' &&
        Array.isArray(pg.nodes) &&
        pg.nodes.every((node) => typeof node === 'string'),
    )
  )
    return undefined;
  return { pgId, pgs: pgs as PgLayout[] };
}

/**
 * One storage node as the placement planner sees it: schedulable only if ready and answering its
 * status, with its disk use and heat summed over its segments.
 */
export async function observeFleetNode(
  node: { readonly nodeId: string; readonly zone: string },
  ready: boolean,
  adminUrl: string | undefined,
  /** The cluster's internal token as a header: the storage node's admin API requires it. */
  headers: Readonly<Record<string, string>>,
): Promise<FleetNode> {
  const status =
    ready && adminUrl !== undefined
      ? await getJson<{ segments: StorageSegmentView[] }>(
          `${adminUrl}/v1/status`,
          OBSERVE_TIMEOUT_MS,
          headers,
        )
      : undefined;
  const segments = status?.segments ?? [];
  return {
    nodeId: node.nodeId,
    zone: node.zone,
    schedulable: ready && status !== undefined,
    diskBytes: segments.reduce((sum, segment) => sum + segment.diskBytes, 0),
    heat: segments.reduce(
      (sum, segment) => sum + (segment.appendRecordsPerSecond ?? 0) + (segment.readPagesPerSecond ?? 0),
      0,
    ),
  };
}
