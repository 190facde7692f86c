/**
 * The writer: recovers the volume (quorum driver over the real TCP transport, local volume directory
 * and epoch file in the data directory), starts the SQL kernel, serves SQL over HTTP and streams its
 * redo to replicas. Started by `main.ts`, or by a replica being promoted (`replica.ts`).
 *
 * Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: stop taking requests, wait up to the deadline
 * for commits in flight to become durable, then close); 3 when fenced (a newer writer recovered the
 * volume: this one must not serve another request), or fenced by an operator (`POST /v1/admin/fence`);
 * 1 for anything else. `POST /v1/admin/membership` applies a repair's membership change
 * (io/membership-http.ts).
 */
import { mkdir } from 'node:fs/promises';
import { asNodeId, type Epoch, isNorthlightError, type Logger, type PageNo } from '@northlight/protocol';
import { buildVersion, NodeDisk } from '@northlight/protocol/io';
import { ENGINE_PAGE_SIZE_BYTES, type EngineConfig } from './config.js';
import { DiskEpochStore } from './core/epoch-store.js';
import { LocalVolumeDirectory } from './core/local-directory.js';
import { QuorumDriver, type RecoveryReport } from './core/quorum-driver.js';
import { RedoFeed } from './core/replication.js';
import { Engine } from './engine.js';
import { engineEnvironment } from './io/engine-environment.js';
import { httpAuthOf } from './io/http-auth.js';
import { HttpPlacementAdvisor } from './io/http-placement-advisor.js';
import { HttpSegmentProvisioner } from './io/http-provisioner.js';
import { registerMembershipRoute } from './io/membership-http.js';
import { EngineMetrics, kernelGauges, pollKernelStats } from './io/metrics.js';
import { registerReplicationRoutes } from './io/replication-http.js';
import { startSqlServer } from './io/sql-server.js';
import { KernelHost, type PreparedKernel } from './kernel/kernel-host.js';
import type { KernelStats, SealedGroup } from './kernel/messages.js';
import { type PgEndpoint, startPgEndpoint } from './pg-endpoint.js';
import { type GatedExecute, TransactionGate } from './transaction-gate.js';

const SHUTDOWN_DEADLINE_MS = 20_000;
const FIRST_PG_RETRY_MS = 500;
const STATS_REFRESH_MS = 1_000;
/** Unread redo stream past which a replica that does not keep up is cut off (it resyncs). */
const REPLICA_STREAM_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * Runs the writer until it stops; resolves with the process exit code. `options.epochFloor`: a volume
 * epoch known to be taken (a promoted replica passes the epoch it followed), so recovery claims above
 * it at once instead of learning it from storage's refusals.
 */
export async function runWriter(
  config: EngineConfig,
  logger: Logger,
  options: {
    readonly epochFloor?: Epoch;
    /** A kernel already loaded and waiting (a promoted replica keeps one): opened instead of started. */
    readonly spareKernel?: PreparedKernel;
  } = {},
): Promise<number> {
  logger.log('info', 'starting', {
    nodeId: config.nodeId,
    dataDir: config.dataDir,
    storage: config.storage.map((node) => `${node.nodeId}@${node.zone}`).join(','),
  });
  await mkdir(config.dataDir, { recursive: true });
  if (options.epochFloor !== undefined)
    await new DiskEpochStore(new NodeDisk(config.dataDir), '.').claim(options.epochFloor);
  const { env, network } = await engineEnvironment(config, logger);
  const directory = await LocalVolumeDirectory.open({
    disk: env.disk,
    directory: '.',
    pagesPerPg: config.segmentSizeBytes / ENGINE_PAGE_SIZE_BYTES,
    nodes: config.storage.map((node) => ({ nodeId: node.nodeId, zone: node.zone })),
    provisioner: new HttpSegmentProvisioner(config.storage, config.internalToken),
  });
  if (config.placementUrl !== undefined)
    directory.setAdvisor(new HttpPlacementAdvisor(config.placementUrl, logger, config.internalToken));
  while (directory.pgs().length === 0) {
    try {
      await directory.addPg();
      logger.log('info', 'created the volume (PG 0)', {});
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      logger.log('warn', 'waiting for storage nodes to create the volume', { error: error.message });
      await new Promise((resolve) => setTimeout(resolve, FIRST_PG_RETRY_MS));
    }
  }

  let kernelStats: KernelStats | undefined;
  let recovery: RecoveryReport | undefined;
  let engine: Engine | undefined;
  let fenced = false;
  const feed = new RedoFeed();
  let requestStop: ((code: number, why: string) => void) | undefined;
  let feedFlushScheduled = false;
  const flushFeed = () => {
    if (feedFlushScheduled || feed.subscriberCount === 0) return;
    feedFlushScheduled = true;
    setImmediate(() => {
      feedFlushScheduled = false;
      feed.flush();
    });
  };
  const driver = new QuorumDriver(
    env,
    directory,
    new DiskEpochStore(env.disk, '.'),
    {
      lsnAllocationLimit: config.lsnAllocationLimit,
      writeQuorum: config.writeQuorum,
      writeQuorumTimeoutMs: config.writeQuorumTimeoutMs,
      roundsInFlightMax: config.roundsInFlightMax,
      batchHoldMsMax: config.batchHoldMs,
      pageReadTimeoutMs: config.pageReadTimeoutMs,
      pageSizeBytes: ENGINE_PAGE_SIZE_BYTES,
    },
    {
      allocated: (seq, lsns) => engine?.allocated(seq, lsns),
      vdlAdvanced: (vdl) => {
        // The replicas hear of a VDL advance before the commits it makes durable are acknowledged:
        // flushed at once rather than after this turn's acknowledgments (64 socket writes and the
        // wake-ups of their clients, at 2,000 writes/s), the replica applies while the acks go out.
        // Measured (bench:replica, 3 alternated pairs): lag p50 2.4 → 1.6 ms and p99 11–12.5 →
        // 7.4–9.2 ms at 2,000 writes/s, for 3–5% more writer CPU per write at 5,000 (one frame per
        // advance instead of one per turn). MTRs sealed between advances still go out once per turn.
        feed.vdlAdvanced(vdl, performance.now());
        feed.flush();
        engine?.vdlAdvanced(vdl);
      },
      mtr: (records) => {
        feed.mtr(records);
        flushFeed();
      },
      recovered: () => feed.reset(),
      acceptingChanged: (accepting) => engine?.acceptingChanged(accepting),
      fenced: () => {
        fenced = true;
      },
    },
  );
  let kernel: KernelHost | undefined;
  // A promoted replica's spare kernel (loaded, waiting) opens while the volume recovers, so the write
  // gap does not include a kernel start (about 700 ms here); its first page read waits until the
  // driver serves. Otherwise the first kernel starts once the volume is recovered.
  let markServing: () => void = () => {};
  const servingNow = new Promise<void>((resolve) => {
    markServing = resolve;
  });
  const startKernel = (onGroup: (group: SealedGroup) => void) =>
    KernelHost.start({
      pageSource: async (pageNo) => {
        await servingNow;
        return driver.readPage(pageNo);
      },
      onGroup,
      cachePages: config.cachePages,
      pageReadTimeoutMs: config.pageReadTimeoutMs,
      shipFullPages: config.shipFullPages,
    });
  let firstOnGroup: ((group: SealedGroup) => void) | undefined;
  const firstBinding = {
    pageSource: async (pageNo: PageNo) => {
      await servingNow;
      return driver.readPage(pageNo);
    },
    onGroup: (group: SealedGroup) => firstOnGroup?.(group),
  };
  // Only a spare opens early: starting a cold kernel during recovery competes with it for the CPU
  // (the engine benchmark's recovery time rose from 0.47 to 0.81 s at 50 MB when every start did).
  let earlyKernel: Promise<KernelHost> | undefined = options.spareKernel?.open(firstBinding);
  earlyKernel?.catch(() => {}); // a failed early open is retried by the engine's factory below
  engine = new Engine(
    driver,
    async (onGroup) => {
      const early = earlyKernel;
      earlyKernel = undefined;
      if (early !== undefined) {
        firstOnGroup = onGroup;
        try {
          kernel = await early;
          return kernel;
        } catch {
          // It timed out waiting for a long recovery, say: start a fresh one.
        }
      }
      kernel = await startKernel(onGroup);
      return kernel;
    },
    logger,
  );
  const metrics = new EngineMetrics({
    driver: () => driver.status(),
    kernel: () => kernelGauges(kernelStats),
    recoverySeconds: () => (recovery === undefined ? undefined : recovery.durationMs / 1000),
    replicaCount: () => feed.subscriberCount,
    pg: () => pgEndpoint?.counters,
    transactions: () => gate.status(),
  });
  driver.replicaReadPoints = () => feed.minReplicaReadPoints();
  // Every request goes through the gate: an interactive transaction (the PostgreSQL protocol's
  // BEGIN … COMMIT) holds the one SQLite connection, and HTTP requests wait for it like any other.
  let pgEndpoint: PgEndpoint | undefined;
  // Commits are counted here, whichever protocol asked (HTTP, or the PostgreSQL one).
  const execute: GatedExecute = async (request, options) => {
    const startedMs = performance.now();
    const reply = await engine!.execute(request, options);
    if (reply.ok && reply.groupSeq !== undefined) {
      metrics.commits.inc();
      metrics.commitLatency.observe((performance.now() - startedMs) / 1000);
    }
    return reply;
  };
  const gate = new TransactionGate(execute, {
    idleTimeoutMs: config.pg.idleInTransactionTimeoutMs,
    lockWaitTimeoutMs: config.pg.lockWaitTimeoutMs,
    optimistic: config.pg.transactions === 'optimistic',
    optimisticMaxStatements: config.pg.optimisticMaxStatements,
  });
  const server = await startSqlServer({
    host: config.listenHost,
    port: config.httpPort,
    logger,
    bodyLimitBytes: config.requestBodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    auth: httpAuthOf(config),
    execute: (request, signal) => gate.execute(request, signal),
    readiness: () => {
      if (fenced) return { ready: false, reason: 'fenced: a newer writer recovered the volume' };
      if (driver.state !== 'serving') return { ready: false, reason: `volume ${driver.state}` };
      if (engine?.mode !== 'normal' && engine?.mode !== 'degraded')
        return { ready: false, reason: `the SQL kernel is ${engine?.mode}` };
      return { ready: true };
    },
    status: () => ({
      nodeId: config.nodeId,
      version: buildVersion(),
      driver: driver.status(),
      recovery,
      kernel: kernelStats,
      commits: engine?.commits ?? 0,
      mode: engine?.mode,
      kernelReplacements: engine?.replacements ?? 0,
      transactions: gate.status(),
      replicas: feed.replicas(performance.now()),
      transport: network.authStatus(),
    }),
    metrics,
    vdl: () => driver.vdl,
    routes: (app) => {
      registerReplicationRoutes(app, {
        feed,
        driver,
        directory,
        metrics,
        logger,
        nowMs: () => performance.now(),
        maxBufferedBytes: REPLICA_STREAM_BUFFER_BYTES,
      });
      // Demote: the writer stops taking requests, lets the commits in flight become durable and exits
      // with 3, as when storage fences it. A switchover then promotes a replica.
      app.post('/v1/admin/fence', async (_request, reply) => {
        setImmediate(() => requestStop?.(3, 'fenced by an operator (POST /v1/admin/fence)'));
        return reply.code(202).send({ status: 'fencing', vdl: driver.vdl?.toString() });
      });
      // A repair's quorum-set change (the control plane's): durable in volume.json before it answers.
      registerMembershipRoute(app, {
        driver,
        storageNodes: config.storage.map((node) => node.nodeId),
        logger,
      });
    },
  });
  logger.log('info', 'HTTP API listening', { port: server.port });
  pgEndpoint = await startPgEndpoint(config, gate, 'writer', logger);

  recovery = await driver.start();
  markServing();
  logger.log('info', 'volume recovered', {
    volumeEpoch: recovery.volumeEpoch,
    vdl: recovery.vdl,
    recoveryMs: recovery.durationMs,
    pgs: recovery.pgCount,
  });
  await engine.open();
  const refresh = pollKernelStats(
    () => kernel,
    (stats) => {
      kernelStats = stats;
    },
    STATS_REFRESH_MS,
  );
  logger.log('info', 'engine ready', { httpPort: server.port, nodeId: asNodeId(config.nodeId) });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number, why: string) => {
      if (stopping) return;
      stopping = true;
      logger.log(code === 0 ? 'info' : 'error', 'stopping', { why });
      const deadline = setTimeout(() => resolve(code === 0 ? 1 : code), SHUTDOWN_DEADLINE_MS);
      void (async () => {
        feed.reset(); // ends the replicas' streams, which would hold the server open
        await pgEndpoint?.stop(); // rolls back open transactions: none of them was acknowledged
        await server.app.close(); // waits for requests in flight, which wait for durability
        driver.stop();
        await engine?.close();
        network.close();
        await network.closed;
        clearInterval(refresh);
        clearTimeout(deadline);
        resolve(code);
      })();
    };
    requestStop = stop;
    const fencedCheck = setInterval(() => {
      if (fenced) stop(3, 'fenced: a newer writer recovered the volume; this writer must not serve');
    }, 100);
    fencedCheck.unref();
    process.once('SIGTERM', () => stop(0, 'SIGTERM'));
    process.once('SIGINT', () => stop(0, 'SIGINT'));
  });
}
