import http from 'node:http';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  decodeMessage,
  type Epoch,
  FrameDecoder,
  type Logger,
  type Lsn,
  type NodeId,
  type PgId,
  type SegmentId,
} from '@northlight/protocol';
import { buildVersion, NodeDisk } from '@northlight/protocol/io';
import { ENGINE_PAGE_SIZE_BYTES, type EngineConfig } from './config.js';
import { LocalVolumeDirectory } from './core/local-directory.js';
import { ReplicaReader } from './core/replica-reader.js';
import { ReplicaFollower, type StreamStart } from './core/replication.js';
import { membershipProblem, type PgPlacement, placementOf } from './core/volume.js';
import type { EngineReply } from './engine.js';
import { engineEnvironment } from './io/engine-environment.js';
import { httpAuthOf, internalAuthorization } from './io/http-auth.js';
import { EngineMetrics, kernelGauges, pollKernelStats } from './io/metrics.js';
import type { VolumeJson } from './io/replication-http.js';
import { startSqlServer } from './io/sql-server.js';
import { KernelHost } from './kernel/kernel-host.js';
import type { ExecuteRequest, KernelStats } from './kernel/messages.js';
import { type PgEndpoint, startPgEndpoint } from './pg-endpoint.js';
import { TransactionGate } from './transaction-gate.js';
import { runWriter } from './writer.js';

const RESUBSCRIBE_MS = 500;
/** The same subscription failure is logged once per this interval (the retries go on every 500 ms). */
const FOLLOW_FAILURE_LOG_INTERVAL_MS = 30_000;
/** Distinct failures remembered for that (writer URLs × messages); past it the memory starts over. */
const FOLLOW_FAILURES_REMEMBERED_MAX = 64;
/** The start point is a few bytes per PG; anything near this is not a writer speaking. */
const MAX_START_POINT_BYTES = 64 * 1024 * 1024;
const STATS_REFRESH_MS = 1_000;
const SHUTDOWN_DEADLINE_MS = 10_000;
const READ_ATTEMPT_MS = 250;
const READ_ROUND_BACKOFF_MS = 5;
/**
 * The PG list is read again this often while following: a repair changes a PG's members without the
 * stream saying so, and a promoted replica writes by the list it holds (see the promotion below).
 */
const VOLUME_REFRESH_MS = 2_000;
const VOLUME_REQUEST_TIMEOUT_MS = 2_000;

/** The writer's PG list, refreshed when the stream names a PG the replica does not know yet. */
class WriterVolume {
  pagesPerPg = 0;
  #pgs: PgPlacement[] = [];
  readonly #writerUrl: () => string;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(writerUrl: () => string, headers: Readonly<Record<string, string>>) {
    this.#writerUrl = writerUrl;
    this.#headers = headers;
  }

  pgs(): readonly PgPlacement[] {
    return this.#pgs;
  }

  async refresh(): Promise<void> {
    const response = await fetch(`${this.#writerUrl()}/v1/volume`, {
      headers: this.#headers,
      signal: AbortSignal.timeout(VOLUME_REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.arrayBuffer();
      throw new Error(`GET /v1/volume answered ${response.status}${refusalHint(response.status)}`);
    }
    const volume = (await response.json()) as VolumeJson;
    this.pagesPerPg = volume.pagesPerPg;
    this.#pgs = volume.pgs.map(placementFromJson);
  }
}

/**
 * One PG of `GET /v1/volume`. A writer from before quorum sets sends no `configurations`: its PG is the
 * single configuration of its members.
 */
function placementFromJson(pg: VolumeJson['pgs'][number]): PgPlacement {
  const members = pg.members.map(asSegmentId);
  const change = {
    membershipEpoch: asEpoch(BigInt(pg.membershipEpoch)),
    quorumSet: {
      configurations: (pg.configurations ?? [members]).map((configuration) => configuration.map(asSegmentId)),
      hydrating: (pg.hydrating ?? []).map(asSegmentId),
    },
    nodeOf: new Map<SegmentId, NodeId>(
      Object.entries(pg.nodeOf).map(([segment, node]) => [asSegmentId(segment), asNodeId(node)]),
    ),
  };
  const problem = membershipProblem(change);
  if (problem !== undefined) throw new Error(`GET /v1/volume: PG ${pg.pgId}: ${problem}`);
  return placementOf(asPgId(pg.pgId), change);
}

/** One subscription: its start point, follower and kernel. */
interface Generation {
  readonly start: StreamStart;
  readonly follower: ReplicaFollower;
  kernel: KernelHost | undefined;
  /** Applies wait here in order (a PG list refresh may come first). */
  chain: Promise<void>;
}

export async function runReplica(config: EngineConfig, logger: Logger): Promise<number> {
  /** The writer followed now: the first of `--writer-url` that streams; the next one on a failure. */
  let writerIndex = 0;
  let writerUrl = config.writerUrls[0]!;
  logger.log('info', 'starting as a read replica', {
    nodeId: config.nodeId,
    writerUrls: config.writerUrls.join(','),
  });
  const { env, network } = await engineEnvironment(config, logger);
  // The writer's replication routes take the cluster's internal token (src/io/http-auth.ts).
  const writerHeaders = internalAuthorization(config.internalToken);
  const volume = new WriterVolume(() => writerUrl, writerHeaders);
  const reader = new ReplicaReader(
    env,
    {
      get pagesPerPg() {
        return volume.pagesPerPg;
      },
      pgs: () => volume.pgs(),
    },
    {
      timeoutMs: config.pageReadTimeoutMs,
      attemptMs: READ_ATTEMPT_MS,
      pageSizeBytes: ENGINE_PAGE_SIZE_BYTES,
      roundBackoffMs: READ_ROUND_BACKOFF_MS,
    },
  );
  // A writer kernel loaded and waiting, so that a promotion does not wait for a kernel to start.
  const spareKernel = KernelHost.prepare({
    cachePages: config.cachePages,
    pageReadTimeoutMs: config.pageReadTimeoutMs,
    shipFullPages: config.shipFullPages,
  });
  let serving: Generation | undefined;
  /** The open stream response, destroyed on promotion. */
  let streamResponse: http.IncomingMessage | undefined;
  let promotion: { readonly epochFloor: Epoch } | undefined;
  let streamConnected = false;
  let resyncs = 0;
  let stopping = false;
  let requestStop: ((why: string) => void) | undefined;
  let kernelStats: KernelStats | undefined;
  let staleEpochSeen: Epoch | undefined;
  reader.staleEpoch = (newer) => {
    staleEpochSeen = newer;
  };

  // ---- feedback to the writer ----
  let feedbackInFlight = false;
  let feedbackWanted = false;
  const sendFeedback = () => {
    const generation = serving;
    if (generation === undefined) return;
    if (feedbackInFlight) {
      feedbackWanted = true;
      return;
    }
    feedbackInFlight = true;
    feedbackWanted = false;
    const body = JSON.stringify({
      replicaId: config.nodeId,
      appliedLsn: generation.follower.confirmedVdl.toString(),
      minReadPoints: Object.fromEntries(
        [...generation.follower.minReadPoints()].map(([pgId, lsn]) => [String(pgId), lsn.toString()]),
      ),
    });
    postJson(`${writerUrl}/v1/replication/feedback`, body, writerHeaders)
      .catch(() => {})
      .finally(() => {
        feedbackInFlight = false;
        if (feedbackWanted) sendFeedback();
      });
  };

  // ---- the stream ----
  const startKernel = async (generation: Generation): Promise<KernelHost> =>
    KernelHost.start({
      replica: true,
      pageSource: (pageNo, tag) =>
        reader.read(
          pageNo,
          generation.follower.readPointFor(pageNo, tag === undefined ? generation.start.vdl : asLsn(tag)),
          generation.start.volumeEpoch,
        ),
      onGroup: () => {
        throw new Error('a replica kernel sealed a group');
      },
      onApplied: (tag) => {
        generation.follower.confirmed(asLsn(tag));
        if (serving === generation) sendFeedback();
      },
      cachePages: config.cachePages,
      pageReadTimeoutMs: config.pageReadTimeoutMs,
    });

  const subscribeOnce = async (): Promise<void> => {
    await volume.refresh();
    const response = await openStream(
      `${writerUrl}/v1/replication/stream?replica=${config.nodeId}`,
      writerHeaders,
    );
    streamResponse = response;
    if (stopping) response.destroy();
    let preamble: Buffer | undefined;
    let pending = Buffer.alloc(0);
    const decoder = new FrameDecoder();
    let generation: Generation | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => {
        try {
          if (preamble === undefined) {
            pending = Buffer.concat([pending, chunk]);
            if (pending.length < 4) return;
            const length = pending.readUInt32LE(0);
            if (length > MAX_START_POINT_BYTES)
              throw new Error(
                `the stream's start point declares ${length} bytes, over ${MAX_START_POINT_BYTES}`,
              );
            if (pending.length < 4 + length) return;
            preamble = pending.subarray(4, 4 + length);
            const rest = pending.subarray(4 + length);
            generation = beginGeneration(JSON.parse(preamble.toString('utf8')) as StartJson);
            resolve();
            if (rest.length > 0) feed(rest);
            return;
          }
          feed(chunk);
        } catch (error) {
          response.destroy(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on('error', reject);
      response.on('close', () => reject(new Error('the stream closed before its start point')));
    });
    const feed = (chunk: Uint8Array) => {
      decoder.push(chunk);
      for (const frame of decoder) {
        const message = decodeMessage(frame);
        if (message.type !== 'redo-stream') continue;
        const current = generation!;
        if (message.volumeEpoch !== current.start.volumeEpoch)
          throw new Error(
            `the stream changed volume epoch from ${current.start.volumeEpoch} to ${message.volumeEpoch}`,
          );
        const apply = current.follower.receive({ records: message.records, vdl: message.vdl });
        if (apply === undefined) continue;
        const unknownPg = message.records.some((record) => record.pgId >= volume.pgs().length);
        current.chain = current.chain.then(async () => {
          if (unknownPg) await volume.refresh().catch(() => {});
          current.kernel?.applyRecords(apply.records, apply.tag);
        });
      }
    };
    await ready;
    streamConnected = true;
    logger.log('info', 'following the redo stream', {
      vdl: generation!.start.vdl.toString(),
      volumeEpoch: generation!.start.volumeEpoch.toString(),
    });
    // The kernel opens while frames already arrive: applies wait for it on the chain.
    const current = generation!;
    current.chain = current.chain.then(async () => {
      current.kernel = await startKernel(current);
      const previous = serving;
      serving = current;
      if (previous !== undefined) {
        resyncs++;
        void previous.kernel?.close();
      } else logger.log('info', 'engine ready', { role: 'replica', vdl: current.start.vdl.toString() });
      sendFeedback();
    });
    try {
      await current.chain;
    } catch (error) {
      response.destroy(); // the kernel did not start: drop this subscription, the loop makes a new one
      throw error;
    }
    await new Promise<void>((resolve) => response.on('close', resolve));
  };

  const beginGeneration = (start: StartJson): Generation => {
    const streamStart: StreamStart = {
      volumeEpoch: asEpoch(BigInt(start.volumeEpoch)),
      vdl: asLsn(BigInt(start.vdl)),
      readPoints: new Map(
        Object.entries(start.readPoints).map(([pgId, lsn]) => [
          asPgId(Number(pgId)) as PgId,
          asLsn(BigInt(lsn)) as Lsn,
        ]),
      ),
    };
    return {
      start: streamStart,
      follower: new ReplicaFollower(streamStart, volume.pagesPerPg),
      kernel: undefined,
      chain: Promise.resolve(),
    };
  };

  // A replica retries every RESUBSCRIBE_MS (a failover's new writer is found at once), but says the
  // same failure of the same URL once per FOLLOW_FAILURE_LOG_INTERVAL_MS, with how many there were.
  const failuresLogged = new Map<string, { atMs: number; unlogged: number }>();
  const follow = async () => {
    while (!stopping) {
      try {
        await subscribeOnce();
        failuresLogged.clear();
        if (!stopping) logger.log('warn', "the writer's redo stream ended; subscribing again", {});
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const key = `${writerUrl} ${message}`;
        const nowMs = performance.now();
        const logged = failuresLogged.get(key);
        if (logged !== undefined && nowMs - logged.atMs < FOLLOW_FAILURE_LOG_INTERVAL_MS) logged.unlogged++;
        else if (!stopping) {
          if (failuresLogged.size >= FOLLOW_FAILURES_REMEMBERED_MAX) failuresLogged.clear();
          logger.log('warn', "cannot follow the writer's redo stream; trying the next writer URL", {
            writerUrl,
            error: message,
            ...(logged === undefined ? {} : { sameFailuresSinceLastLine: logged.unlogged + 1 }),
          });
          failuresLogged.set(key, { atMs: nowMs, unlogged: 0 });
        }
        writerIndex = (writerIndex + 1) % config.writerUrls.length;
        writerUrl = config.writerUrls[writerIndex]!;
      }
      streamConnected = false;
      await new Promise((resolve) => setTimeout(resolve, RESUBSCRIBE_MS));
    }
  };

  // ---- SQL ----
  const execute = async (
    request: ExecuteRequest,
    signal?: AbortSignal,
    startWithinMs?: number,
  ): Promise<EngineReply> => {
    const kernel = serving?.kernel;
    if (kernel === undefined) {
      return {
        ok: false,
        error: {
          code: 'NORTHLIGHT_REPLICA_STARTING',
          sqlstate: '57P03',
          message:
            "the replica has not mounted the volume yet (it follows the writer's redo stream first); retry",
        },
        visibleThroughSeq: 0,
      };
    }
    return kernel.execute(request, signal, startWithinMs);
  };
  /**
   * The HTTP API's `execute`: a write refused here also names the HTTP API of the writer this replica
   * follows, where the client can send it. Not over the PostgreSQL protocol: a psql user has no use for
   * the writer's internal HTTP port, and the URL is stale after a failover; there the message points
   * to the read-write endpoint.
   */
  const executeOverHttp = async (request: ExecuteRequest, signal?: AbortSignal): Promise<EngineReply> => {
    const reply = await execute(request, signal);
    if (!reply.ok && reply.error.code === 'NORTHLIGHT_READ_ONLY_REPLICA')
      return {
        ...reply,
        error: { ...reply.error, message: `${reply.error.message}; its HTTP API: ${writerUrl}` },
      };
    return reply;
  };
  // Read-only: no transaction ever holds the gate here; each statement reads on its own.
  const gate = new TransactionGate(
    (request, options) => execute(request, options?.signal, options?.startWithinMs),
    {
      idleTimeoutMs: config.pg.idleInTransactionTimeoutMs,
      lockWaitTimeoutMs: config.pg.lockWaitTimeoutMs,
      readOnly: true,
    },
  );
  let pgEndpoint: PgEndpoint | undefined;
  const replicaState = () => {
    const follower = serving?.follower;
    const applied = follower?.confirmedVdl ?? asLsn(0n);
    const received = follower?.receivedVdl ?? applied;
    return {
      appliedLsn: applied as bigint,
      lsnsBehind: (received - applied) as bigint,
      streamConnected,
      applies: kernelStats?.applies ?? 0,
      resyncs,
      serving: serving?.kernel !== undefined,
      pageReads: reader.stats().pageReads,
      pageReadRetries: reader.stats().pageReadRetries,
    };
  };
  const metrics = new EngineMetrics({
    kernel: () => kernelGauges(kernelStats),
    recoverySeconds: () => undefined,
    replica: replicaState,
    pg: () => pgEndpoint?.counters,
    transactions: () => gate.status(),
  });
  const server = await startSqlServer({
    host: config.listenHost,
    port: config.httpPort,
    logger,
    bodyLimitBytes: config.requestBodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    auth: httpAuthOf(config),
    execute: executeOverHttp,
    readiness: () => {
      if (serving?.kernel === undefined) return { ready: false, reason: 'not following the writer yet' };
      if (!streamConnected)
        return { ready: false, reason: "the writer's redo stream is lost; resubscribing" };
      return { ready: true };
    },
    status: () => {
      const follower = serving?.follower;
      return {
        nodeId: config.nodeId,
        role: 'replica',
        version: buildVersion(),
        writerUrl,
        streamConnected,
        resyncs,
        volumeEpoch: serving?.start.volumeEpoch,
        appliedLsn: follower?.confirmedVdl,
        receivedVdl: follower?.receivedVdl,
        pendingRecords: follower?.pendingRecords ?? 0,
        staleEpochSeen,
        reader: reader.stats(),
        kernel: kernelStats,
        transport: network.authStatus(),
      };
    },
    metrics,
    vdl: () => serving?.follower.confirmedVdl,
    routes: (app) => {
      app.post('/v1/admin/promote', async (_request, reply) => {
        if (promotion !== undefined || stopping)
          return reply.code(409).send({
            code: 'NL_REQUEST_INVALID',
            sqlstate: '55000',
            message: 'this replica is already being promoted or stopped',
            action: 'wait for it to serve as the writer',
          });
        const generation = serving;
        if (generation === undefined)
          return reply.code(503).send({
            code: 'NL_QUORUM_LOST',
            sqlstate: '57P03',
            message:
              'this replica has not followed a writer yet, so it does not know the volume; promote another',
            action: 'promote a replica that is following (GET /v1/status: streamConnected or appliedLsn set)',
          });
        promotion = { epochFloor: generation.start.volumeEpoch };
        setImmediate(() => requestStop?.('promotion'));
        return reply.code(202).send({
          status: 'promoting',
          appliedLsn: generation.follower.confirmedVdl.toString(),
          followedEpoch: generation.start.volumeEpoch.toString(),
        });
      });
    },
  });
  logger.log('info', 'HTTP API listening', { port: server.port });
  pgEndpoint = await startPgEndpoint(config, gate, 'replica', logger);
  void follow();
  const volumeRefresh = setInterval(() => {
    if (streamConnected) void volume.refresh().catch(() => {}); // the next round, or the stream, retries
  }, VOLUME_REFRESH_MS);
  const refresh = pollKernelStats(
    () => serving?.kernel,
    (stats) => {
      kernelStats = stats;
    },
    STATS_REFRESH_MS,
  );

  const stopped = await new Promise<number>((resolve) => {
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.log('info', 'stopping', { why });
      const deadline = setTimeout(() => resolve(1), SHUTDOWN_DEADLINE_MS);
      void (async () => {
        streamResponse?.destroy();
        await pgEndpoint?.stop();
        await server.app.close();
        await serving?.kernel?.close();
        network.close();
        await network.closed;
        clearInterval(refresh);
        clearInterval(volumeRefresh);
        clearTimeout(deadline);
        resolve(0);
      })();
    };
    requestStop = stop;
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (promotion === undefined || stopped !== 0) {
    await spareKernel.close();
    return stopped;
  }
  // ---- promotion: the replica's parts are closed; the same process becomes the writer ----
  // The newest list the old writer still gives (a switchover: it may still answer), else the last one
  // read. A list older than a membership change the control plane made since is caught up during
  // recovery: a completed or reverted change is taken from storage (recovery reasoning R1–R3 in
  // core/quorum-driver.ts); one still in flight waits for the control plane to post it.
  await volume.refresh().catch(() => {});
  await LocalVolumeDirectory.seed({
    disk: new NodeDisk(config.dataDir),
    directory: '.',
    pagesPerPg: volume.pagesPerPg,
    pgs: volume.pgs(),
  });
  logger.log('info', 'promoting this replica to writer', {
    followedEpoch: promotion.epochFloor.toString(),
    pgs: volume.pgs().length,
  });
  return runWriter(
    {
      ...config,
      role: 'writer',
      httpPort: server.port,
      pg: { ...config.pg, port: pgEndpoint?.port ?? config.pg.port },
      segmentSizeBytes: volume.pagesPerPg * ENGINE_PAGE_SIZE_BYTES,
    },
    logger,
    { epochFloor: promotion.epochFloor, spareKernel },
  );
}

interface StartJson {
  readonly volumeEpoch: string;
  readonly vdl: string;
  readonly readPoints: Readonly<Record<string, string>>;
}

/** What to do about a refusal of the writer's routes, for the error message. */
function refusalHint(status: number | undefined): string {
  return status === 401
    ? ": the writer wants the cluster's internal token; give this replica the writer's --internal-token (NL_ENGINE_INTERNAL_TOKEN)"
    : '';
}

/** Opens the stream; rejects unless the writer answers 200. */
function openStream(url: string, headers: Readonly<Record<string, string>>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { headers: { ...headers, accept: 'application/x-northlight-redo-stream' } },
      (response) => {
        if (response.statusCode === 200) {
          response.socket.setNoDelay(true);
          resolve(response);
          return;
        }
        response.resume();
        reject(
          new Error(
            `the writer answered ${response.statusCode} to the stream request${refusalHint(response.statusCode)}`,
          ),
        );
      },
    );
    request.on('error', reject);
  });
}

const feedbackAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function postJson(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent: feedbackAgent,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve());
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
