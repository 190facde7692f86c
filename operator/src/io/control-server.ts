/**
 * The local control plane's HTTP API on 127.0.0.1 (the `control` port): what `northlight status`,
 * `kill-node`, `kill-zone`, `start-node` and `down` call, and the engines' placement requests. It
 * is the local platform's, for one user on one machine; on Kubernetes the operator has no such API
 * (the custom resources are the interface).
 *
 * Credentials: every route but /healthz and /metrics takes the cluster's internal token as
 * `Authorization: Bearer` (the CLI reads it from `<data dir>/internal-token`, mode 0600; the engines
 * hold it). Loopback alone is not a boundary: any local user could reach the port, and so could any
 * web page the user opens, since a browser sends a cross-origin POST without a body (`/v1/down`, a
 * kill) without asking first. Neither holds the token. A refusal is 401 NL_AUTH_FAILED, counted in
 * `northlight_control_api_auth_failures_total`.
 *
 *   GET  /healthz                    alive
 *   GET  /v1/status                  the cluster status (src/core/cluster-status.ts), JSON
 *   POST /v1/members/:name/kill      SIGKILL one member; it stays down until started
 *                                    → {status: "killed" | "not-running", member}
 *   POST /v1/members/:name/start     start a member that is down
 *                                    → {status: "started" | "already-running", member}
 *   POST /v1/zones/:zone/kill        kill every storage node of a zone → {members: [{member, status}]}
 *   POST /v1/zones/:zone/start       start them again → {members: [{member, status}]}
 *   POST /v1/upgrade                 start a rolling upgrade: {"version": "…"}
 *   POST /v1/placement               where the writer's next PG goes: {"pgId", "pgs": [{pgId, nodes}]}
 *   POST /v1/down                    stop the whole cluster (answers first)
 *   GET  /metrics                    Prometheus: the control plane's metrics (control-metrics.ts)
 */
import { statfs } from 'node:fs/promises';
import { internalRefusal } from '@northlight/protocol/io';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  buildClusterStatus,
  type ClusterObservation,
  type ClusterStatus,
  type NodeDiskReport,
  onDiskBytesOf,
  type StorageObservation,
  type TransportAuthReport,
  type VolumeObservation,
} from '../core/cluster-status.js';
import { type FleetNode, placePg } from '../core/placement.js';
import { localControlMetrics } from './control-metrics.js';
import { getJson, OBSERVE_TIMEOUT_MS } from './http-json.js';
import {
  ClusterStoppingError,
  type LocalCluster,
  UnknownMemberError,
  UpgradeRunningError,
  VERSION_PATTERN,
} from './local-cluster.js';
import {
  CONTROL_BODY_LIMIT_BYTES,
  observeFleetNode,
  PLACEMENT_USAGE,
  parsePlacementRequest,
} from './placement-api.js';

export async function observeCluster(cluster: LocalCluster): Promise<ClusterObservation> {
  const storage = await Promise.all(
    cluster.topology.storage.map(async (node): Promise<StorageObservation> => {
      const view = cluster.processView(node.nodeId);
      const running = view?.state === 'running';
      const status = running
        ? await getJson<
            {
              segments: StorageObservation['segments'];
              version?: string;
              transport?: TransportAuthReport;
            } & NodeDiskReport
          >(`${cluster.storageAdminUrl(node.nodeId)}/v1/status`, OBSERVE_TIMEOUT_MS, cluster.internalHeaders)
        : undefined;
      return {
        nodeId: node.nodeId,
        zone: node.zone,
        process: view?.state ?? 'down',
        ready: cluster.ready(node.nodeId),
        pid: view?.pid,
        starts: view?.starts ?? 0,
        version: cluster.versionOf(node.nodeId, status?.version),
        segments: status?.segments,
        transport: status?.transport,
        onDiskBytes: onDiskBytesOf(status),
      };
    }),
  );
  const engines = await Promise.all(
    cluster.topology.engines.map(async (engine) => {
      const view = cluster.processView(engine.name);
      const url = cluster.engineUrl(engine.name);
      const status =
        view?.state === 'running'
          ? await getJson<Record<string, unknown>>(
              `${url}/v1/status`,
              OBSERVE_TIMEOUT_MS,
              cluster.internalHeaders,
            )
          : undefined;
      return {
        name: engine.name,
        role: cluster.roles.get(engine.name)!,
        promotionTier: engine.promotionTier,
        process: view?.state ?? 'down',
        ready: cluster.ready(engine.name),
        pid: view?.pid,
        url,
        version: cluster.versionOf(
          engine.name,
          typeof status?.version === 'string' ? status.version : undefined,
        ),
        status,
      };
    }),
  );
  // The PG layouts come from the writer; while it does not answer (down, being promoted) the last
  // ones it gave stand in, so that `status` still shows every PG and its copies' health (from the
  // storage nodes' own reports), with the epoch and VDL unknown.
  const answered = await getJson<VolumeObservation>(
    `${cluster.engineUrl(cluster.writer)}/v1/volume`,
    OBSERVE_TIMEOUT_MS,
    cluster.internalHeaders,
  );
  const volume = answered ?? cluster.lastVolume;
  const ports = cluster.ports;
  return {
    cluster: cluster.spec.name,
    phase: cluster.phase,
    dataDir: cluster.dataDir,
    endpoints: {
      readWrite: `postgresql://127.0.0.1:${ports.readWrite}`,
      readOnly: `postgresql://127.0.0.1:${ports.readOnly}`,
      httpReadWrite: `http://127.0.0.1:${ports.httpReadWrite}`,
      httpReadOnly: `http://127.0.0.1:${ports.httpReadOnly}`,
      control: `http://127.0.0.1:${ports.control}`,
      ...(cluster.spec.backup.objectStore.kind === 'embedded'
        ? { objectStore: `http://127.0.0.1:${ports.objectStore}` }
        : {}),
    },
    writer: cluster.writer,
    promoting: cluster.promoting,
    storage,
    engines,
    volume,
    repairs: cluster.repairs.view(Date.now()),
    upgrade: cluster.upgrade,
    events: cluster.events,
    ...(cluster.spec.backup.objectStore.kind === 'embedded'
      ? {
          objectStore: {
            process: cluster.processView('object-store')?.state ?? 'down',
            ready: cluster.ready('object-store'),
            pid: cluster.processView('object-store')?.pid,
          },
        }
      : {}),
  };
}

/**
 * Why a request is not from a client of this API, or undefined: it names a host other than the
 * loopback address it listens on (DNS rebinding: a page's own name resolved to 127.0.0.1), or it
 * comes from a browser (an `Origin` header). The CLI, the engines and Prometheus send neither.
 */
export function foreignRequest(
  host: string | undefined,
  origin: string | undefined,
  port: number,
): string | undefined {
  if (origin !== undefined)
    return `requests from a web page (Origin ${origin.slice(0, 100)}) are refused: this API is for the northlight CLI`;
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  if (host === undefined || !allowed.includes(host.toLowerCase()))
    return `the Host ${JSON.stringify((host ?? '').slice(0, 100))} is not this API's: address it as http://127.0.0.1:${port}`;
  return undefined;
}

/** Routes of the control API that answer without the internal token: probes and scrapes read nothing secret. */
const OPEN_CONTROL_PATHS: ReadonlySet<string> = new Set(['/healthz', '/metrics']);

export async function startControlServer(
  cluster: LocalCluster,
  onDown: () => void,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: CONTROL_BODY_LIMIT_BYTES });
  const metrics = localControlMetrics(cluster);
  // Before routing and before a body is read.
  app.addHook('onRequest', async (request, reply) => {
    // A browser's request (it sends Origin on every cross-origin one, and on same-origin POSTs), or
    // one addressed to another name that resolves here (DNS rebinding), is no client of this API.
    const foreign = foreignRequest(request.headers.host, request.headers.origin, cluster.ports.control);
    if (foreign !== undefined) {
      metrics.cluster.controlApiRefused();
      return reply.code(403).send({ code: 'NL_AUTH_FAILED', message: foreign });
    }
    const query = request.url.indexOf('?');
    if (OPEN_CONTROL_PATHS.has(query < 0 ? request.url : request.url.slice(0, query))) return;
    const refusal = internalRefusal(
      cluster.internalToken,
      request.headers.authorization,
      '`northlight` commands and the engines',
    );
    if (refusal === undefined) return;
    metrics.cluster.controlApiRefused();
    return reply.code(401).header('www-authenticate', refusal.challenge).send({
      code: 'NL_AUTH_FAILED',
      message: refusal.message,
      action: refusal.action,
    });
  });
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof UnknownMemberError)
      return reply.code(404).send({ code: 'NL_REQUEST_INVALID', message: error.message });
    if (error instanceof ClusterStoppingError)
      return reply.code(409).send({ code: 'NL_REQUEST_INVALID', message: error.message });
    const failure = error as { statusCode?: number; message?: string };
    return reply
      .code(failure.statusCode ?? 500)
      .send({ code: 'NL_REQUEST_INVALID', message: failure.message ?? String(error) });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 'NL_REQUEST_INVALID',
      message: `no route ${request.method} ${request.url.slice(0, 200)}`,
    }),
  );
  app.get('/healthz', async () => ({ status: 'alive' }));
  app.get(
    '/v1/status',
    async (): Promise<ClusterStatus> =>
      buildClusterStatus(await observeCluster(cluster), (atMs) => new Date(atMs).toISOString()),
  );
  app.post<{ Params: { name: string } }>('/v1/members/:name/kill', async (request) => ({
    status: await cluster.killMember(request.params.name),
    member: request.params.name,
  }));
  app.post<{ Params: { name: string } }>('/v1/members/:name/start', async (request) => ({
    status: await cluster.startMember(request.params.name),
    member: request.params.name,
  }));
  const zoneMembers = (zone: string): string[] => {
    const nodes = cluster.topology.storage.filter((node) => node.zone === zone).map((node) => node.nodeId);
    if (nodes.length === 0)
      throw new UnknownMemberError(
        `no zone named ${JSON.stringify(zone)}; zones: ${[...new Set(cluster.topology.storage.map((node) => node.zone))].join(', ')}`,
      );
    return nodes;
  };
  app.post<{ Params: { zone: string } }>('/v1/zones/:zone/kill', async (request) => {
    const zone = request.params.zone;
    const nodes = zoneMembers(zone);
    const zoneRequest = { command: `kill-zone ${zone}`, undo: `start-zone ${zone}` };
    const statuses = await Promise.all(nodes.map((node) => cluster.killMember(node, zoneRequest)));
    return { members: nodes.map((member, index) => ({ member, status: statuses[index] })) };
  });
  app.post<{ Params: { zone: string } }>('/v1/zones/:zone/start', async (request) => {
    const nodes = zoneMembers(request.params.zone);
    const statuses = await Promise.all(nodes.map((node) => cluster.startMember(node)));
    return { members: nodes.map((member, index) => ({ member, status: statuses[index] })) };
  });
  app.post<{ Body: { version?: unknown } }>('/v1/upgrade', async (request, reply) => {
    const version = request.body?.version;
    if (typeof version !== 'string' || !VERSION_PATTERN.test(version))
      return reply.code(400).send({
        code: 'NL_REQUEST_INVALID',
        message: 'give the version to upgrade to, e.g. {"version": "0.1.1"} (1 to 64 of A-Z a-z 0-9 . + _ -)',
      });
    try {
      cluster.startUpgrade(version);
    } catch (error) {
      if (error instanceof UpgradeRunningError)
        return reply.code(409).send({ code: 'NL_REQUEST_INVALID', message: error.message });
      throw error;
    }
    return reply.code(202).send({ status: 'upgrading', version });
  });
  // Where the writer's next PG goes: the placement planner over the fleet as observed now (readiness,
  // disk use and heat from each storage node's own status) and the writer's current layouts.
  app.post<{ Body: { pgId?: unknown; pgs?: unknown } }>('/v1/placement', async (request, reply) => {
    const parsed = parsePlacementRequest(request.body);
    if (parsed === undefined)
      return reply.code(400).send({ code: 'NL_REQUEST_INVALID', message: PLACEMENT_USAGE });
    const { pgId, pgs } = parsed;
    const fleet: FleetNode[] = await Promise.all(
      cluster.topology.storage.map((node) =>
        observeFleetNode(
          node,
          cluster.ready(node.nodeId),
          cluster.storageAdminUrl(node.nodeId),
          cluster.internalHeaders,
        ),
      ),
    );
    const placed = placePg(fleet, pgs, pgId, cluster.spec.name);
    if (!placed.ok)
      return reply.code(409).send({ code: 'NL_REQUEST_INVALID', message: placed.error.message });
    return { pgId, nodes: placed.value };
  });
  // The state gauges are observed at each scrape; events are counted as they happen. A failed
  // observation is counted and keeps the last one's values: the counters are still worth a scrape.
  // The file system is the data directory's, which every local member shares.
  cluster.repairs.attachMetrics(metrics.cluster);
  // Scrapes that arrive while one observes the cluster share its observation: a burst of requests
  // costs the members one round of status calls, not one each.
  let observing: Promise<void> | undefined;
  const observeForScrape = async (): Promise<void> => {
    await observeCluster(cluster)
      .then((observation) => metrics.cluster.observe(buildClusterStatus(observation, String)))
      .catch(() => metrics.cluster.observationFailed());
    await statfs(cluster.dataDir)
      .then((fs) => metrics.cluster.setDataFilesystem(fs.bavail * fs.bsize, fs.blocks * fs.bsize))
      .catch(() => {});
  };
  app.get('/metrics', async (_request, reply) => {
    observing ??= observeForScrape().finally(() => {
      observing = undefined;
    });
    await observing;
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metricsText());
  });
  app.post('/v1/down', async () => {
    setImmediate(onDown);
    return { status: 'stopping' };
  });
  await app.listen({ host: '127.0.0.1', port: cluster.ports.control });
  return app;
}
