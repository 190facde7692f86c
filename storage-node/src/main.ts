/**
 * The storage node process: parses the configuration, wires the sans-I/O core (`core/`) to the real
 * adapters (`io/`: TCP transport, node:fs disk, S3 object store, pino logs, prom-client metrics,
 * fastify admin API), and shuts down gracefully on SIGTERM/SIGINT (stop accepting, drain in-flight
 * batches and fsync, close the listeners). Run: `tsx storage-node/src/main.ts --help`.
 *
 * Exit codes: 0 a requested stop (SIGTERM/SIGINT), during the startup too; 1 a crash, or a stop past
 * SHUTDOWN_DEADLINE_MS; 2 a bad configuration; 3 the data directory is locked by another process
 * (EXIT_DATA_DIR_LOCKED); 4 the data directory was taken over by another process while this one ran
 * (EXIT_DATA_DIR_LOCK_LOST).
 */
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  type Environment,
  isNorthlightError,
  type Logger,
  NorthlightError,
  type ObjectStore,
  unavailableObjectStore,
} from '@northlight/protocol';
import {
  buildVersion,
  NodeClock,
  NodeDisk,
  NodeRandom,
  StaticPeerDirectory,
  TcpNetworkEndpoint,
  transportKey,
} from '@northlight/protocol/io';
import { configHelpText, describeConfig, parseStorageNodeConfig, type StorageNodeConfig } from './config.js';
import { StorageNodeCore } from './core/storage-node-core.js';
import { startAdminServer } from './io/admin-server.js';
import {
  acquireDataDirLock,
  type DataDirLock,
  EXIT_DATA_DIR_LOCK_LOST,
  EXIT_DATA_DIR_LOCKED,
  HEARTBEAT_STALE_MS,
  type LockLoss,
} from './io/data-dir-lock.js';
import { LockCheckedDisk } from './io/lock-checked-disk.js';
import { PinoLogger } from './io/logger.js';
import { PrometheusStorageMetrics } from './io/metrics.js';
import { storageMetricsFor } from './io/metrics-adapter.js';
import { S3ObjectStore } from './io/s3-object-store.js';
import { openSnapshot } from './io/snapshot-client.js';

/** What this process runs, as its status reports it. */
const version = buildVersion();

/**
 * A stop (graceful shutdown, or a stop during the startup) that takes longer than this after the first
 * signal is cut short (the orchestrator would SIGKILL anyway).
 */
const SHUTDOWN_DEADLINE_MS = 20_000;

/** Where a startup is; a signal during it names the phase it stopped at. */
type StartupPhase = 'data directory lock' | 'listening' | 'recovery' | 'admin API';

/**
 * SIGTERM and SIGINT, taken from the process's start to its end, so that one that arrives before the
 * node serves (or between its "ready" line and the shutdown handler) never kills it mid-write by
 * default action. The first asks for a stop: during the startup it aborts `startup` (the lock wait
 * ends, the replay stops at its next step) and main closes what it opened; once serving, it runs the
 * graceful shutdown. Either way `deadline` ends the process SHUTDOWN_DEADLINE_MS later if the stop
 * has not. A later signal is logged and otherwise ignored: the stop is under way and bounded, and
 * SIGKILL is there to cut it short. (`process.once` handlers, as before, left a second SIGTERM to its
 * default action: killed mid-stop, a crash where a clean stop was asked for.)
 */
class StopSignals {
  readonly startup = new AbortController();
  phase: StartupPhase = 'data directory lock';
  readonly #logger: Logger;
  #received: string | undefined;
  #shutdown: ((signal: string) => void) | undefined;
  #deadlinePassed: (() => void) | undefined;
  readonly #deadline: Promise<void>;

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#deadline = new Promise((resolve) => {
      this.#deadlinePassed = resolve;
    });
    process.on('SIGTERM', () => this.#receive('SIGTERM'));
    process.on('SIGINT', () => this.#receive('SIGINT'));
  }

  /** The first signal received, if any. */
  get received(): string | undefined {
    return this.#received;
  }

  /** Resolves with exit code 1 once a stop has run SHUTDOWN_DEADLINE_MS; never without a signal. */
  async deadline(): Promise<number> {
    await this.#deadline;
    this.#logger.log('error', 'graceful shutdown passed its deadline; exiting', {
      deadlineMs: SHUTDOWN_DEADLINE_MS,
    });
    return 1;
  }

  /** The node serves: a stop runs `shutdown` from now on (at once if a signal came already). */
  serving(shutdown: (signal: string) => void): void {
    this.#shutdown = shutdown;
    if (this.#received !== undefined) shutdown(this.#received);
  }

  #receive(signal: string): void {
    if (this.#received !== undefined) {
      this.#logger.log('info', 'already stopping; signal ignored (SIGKILL ends the process at once)', {
        signal,
        stoppingOn: this.#received,
      });
      return;
    }
    this.#received = signal;
    setTimeout(() => this.#deadlinePassed?.(), SHUTDOWN_DEADLINE_MS).unref();
    if (this.#shutdown !== undefined) {
      this.#shutdown(signal);
      return;
    }
    this.#logger.log('info', 'stopping during startup', { signal, phase: this.phase });
    this.startup.abort(new Error(`stopped by ${signal}`));
  }
}

/** What a startup had opened when a signal stopped it; closed in the reverse order. */
interface Opened {
  readonly lock?: DataDirLock;
  readonly network?: TcpNetworkEndpoint;
  readonly core?: StorageNodeCore;
}

async function stopDuringStartup(logger: Logger, signals: StopSignals, opened: Opened): Promise<number> {
  await opened.core?.stop();
  if (opened.network !== undefined) {
    opened.network.close();
    await opened.network.closed;
  }
  // Only now, as in the shutdown: nothing of this process writes to the directory any more.
  opened.lock?.release();
  const signal = signals.received ?? 'a signal';
  logger.log('info', `stopped during startup (${signal}) at ${signals.phase}`, {
    signal,
    phase: signals.phase,
  });
  return 0;
}

/**
 * Case 12 of data-dir-lock.ts: another node took the data directory over while this one was frozen
 * (or its heartbeat stalled) past HEARTBEAT_STALE_MS, and serves it now. Anything this process wrote
 * there from now on would corrupt it, so it stops at once, in this very turn of the event loop: the
 * disk refuses every further operation (typed NL_DISK_IO, should anything run before the exit), and
 * the process exits without the graceful shutdown (which would flush hints and appends to the
 * directory) and without removing the lock (the other node's). The engine sees this node go as if it
 * crashed, and its quorum carries on without it.
 */
function stopOnLockLoss(
  loss: LockLoss,
  dataDir: string,
  logger: Logger,
  disk: LockCheckedDisk | undefined,
): void {
  const what = `another process took over the data directory ${dataDir} while this node ran (LOCK now names ${loss.found})`;
  const why = `most likely this process was frozen or stalled for more than ${HEARTBEAT_STALE_MS} ms, its lock's heartbeat with it, so a node in another pid namespace judged it dead (or LOCK was removed by hand)`;
  const action = `This node stopped without writing to the directory again. Make sure one storage node only runs on ${dataDir} (two containers or pods mounting it); the other one serves it now. Start this one again only on its own directory, or after the other has stopped`;
  disk?.fence(`${what}: this node writes nothing more`);
  logger.log('error', 'the data directory was taken over by another process; stopping at once', {
    dataDir,
    lock: loss.path,
    found: loss.found,
    noticedBy: loss.noticedBy,
    why,
    action,
  });
  process.stderr.write(`storage-node: ${what}: ${why}. ${action}\n`);
  process.exit(EXIT_DATA_DIR_LOCK_LOST);
}

/** With no backup target configured, every object store call fails with a clear, typed error. */
const noBackupTarget = unavailableObjectStore(
  'no backup target is configured (set --s3-bucket and --s3-endpoint)',
);

/**
 * A lifecycle call the core refuses as NL_CONFIG_INVALID (a bad spec, an unknown segment, no backup of
 * it) is the caller's mistake, answered 400 NL_REQUEST_INVALID with the same message; other codes
 * (a disk error, an object store that is down) keep theirs.
 */
function asRequestError(error: NorthlightError): NorthlightError {
  return error.code === 'NL_CONFIG_INVALID'
    ? new NorthlightError('NL_REQUEST_INVALID', error.message)
    : error;
}

function objectStoreFor(config: StorageNodeConfig): ObjectStore {
  const target = config.objectStore;
  if (target === undefined) return noBackupTarget;
  return new S3ObjectStore({
    bucket: target.bucket,
    clientConfig: {
      region: target.region,
      forcePathStyle: true,
      ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
      ...(target.accessKeyId === undefined || target.secretAccessKey === undefined
        ? {}
        : { credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey } }),
    },
  });
}

async function run(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${configHelpText()}\n`);
    return 0;
  }
  let config: StorageNodeConfig;
  try {
    config = parseStorageNodeConfig(argv, process.env);
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    process.stderr.write(`storage-node: ${error.message}\nrun with --help for every option\n`);
    return 2;
  }
  const logger = new PinoLogger({
    component: 'storage-node',
    level: config.logLevel,
    bindings: { nodeId: config.nodeId, zone: config.zone },
  });
  logger.log('info', 'starting', { config: describeConfig(config) });
  if (config.internalToken === undefined)
    logger.log(
      'warn',
      'no internal token: the admin API and the transport answer anyone who reaches their ports (segments can be dropped, pages read, records appended)',
      {
        action:
          "set NORTHLIGHT_INTERNAL_TOKEN to the cluster's token on every storage node and engine (`northlight up` and the operator do)",
      },
    );
  if (config.transportAuth === 'transition')
    logger.log(
      'warn',
      'transport authentication in transition: peers that cannot prove the internal token (builds from before it) are taken too',
      {
        action:
          'once every storage node and engine runs this build, restart them with --transport-auth required',
      },
    );
  const signals = new StopSignals(logger);
  return Promise.race([startAndServe(config, logger, signals), signals.deadline()]);
}

/** A refused admin request is counted; the log gets one line per 10 s at most, with the count since. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

class RefusalLog {
  readonly #logger: Logger;
  readonly #count: () => void;
  #unlogged = 0;
  #loggedAtMs = Number.NEGATIVE_INFINITY;

  constructor(logger: Logger, count: () => void) {
    this.#logger = logger;
    this.#count = count;
  }

  refused(remoteAddress: string | undefined): void {
    this.#count();
    this.#unlogged++;
    const nowMs = performance.now();
    if (nowMs - this.#loggedAtMs < REFUSAL_LOG_INTERVAL_MS) return;
    this.#loggedAtMs = nowMs;
    this.#logger.log('warn', 'admin request refused: missing or wrong internal token', {
      from: remoteAddress ?? 'unknown',
      refusedSinceLastLine: this.#unlogged,
    });
    this.#unlogged = 0;
  }
}

/** Starts the node, serves until a signal, stops: the exit code. */
async function startAndServe(
  config: StorageNodeConfig,
  logger: Logger,
  signals: StopSignals,
): Promise<number> {
  const startup = signals.startup.signal;
  // Before anything opens a segment or a port: two processes on one directory corrupt it.
  let disk: LockCheckedDisk | undefined;
  let acquired: Awaited<ReturnType<typeof acquireDataDirLock>>;
  try {
    acquired = await acquireDataDirLock({
      dataDir: config.dataDir,
      nodeId: config.nodeId,
      logger,
      signal: startup,
      onLost: (loss) => stopOnLockLoss(loss, config.dataDir, logger, disk),
    });
  } catch (error) {
    if (startup.aborted) return stopDuringStartup(logger, signals, {});
    throw error;
  }
  if (!acquired.ok) {
    logger.log('error', 'refusing to start: the data directory is locked', {
      dataDir: config.dataDir,
      error: acquired.error.message,
    });
    process.stderr.write(`storage-node: ${acquired.error.message}\n`);
    return EXIT_DATA_DIR_LOCKED;
  }
  const lock = acquired.value;
  if (startup.aborted) return stopDuringStartup(logger, signals, { lock });
  signals.phase = 'listening';
  const directory = new StaticPeerDirectory();
  for (const [id, address] of config.peers) directory.set(id, address);
  const network = await TcpNetworkEndpoint.listen({
    address: config.nodeId,
    listenHost: config.listenHost,
    listenPort: config.port,
    directory,
    logger,
    ...(config.internalToken === undefined ? {} : { transportKey: transportKey(config.internalToken) }),
    acceptUnauthenticated: config.transportAuth === 'transition',
  });
  if (startup.aborted) return stopDuringStartup(logger, signals, { lock, network });
  signals.phase = 'recovery';
  disk = new LockCheckedDisk(new NodeDisk(config.dataDir), lock);
  const metrics = new PrometheusStorageMetrics();
  const authRefusals = new RefusalLog(logger, () => metrics.addHttpAuthFailure());
  metrics.setBackupMaxDelaySeconds(config.backupMaxDelayMs / 1000);
  metrics.trackTransport(network);
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network,
    disk,
    objectStore: objectStoreFor(config),
    log: logger,
  };
  const core = new StorageNodeCore(env, {
    pageSizeBytes: config.pageSizeBytes,
    pagesPerPg: Math.max(1, Math.floor(config.segmentSizeBytes / config.pageSizeBytes)),
    gossipIntervalMs: config.gossipIntervalMs,
    backupIntervalMs: config.backupIntervalMs,
    backupMaxDelayMs: config.backupMaxDelayMs,
    backupPrefix: config.s3Prefix,
    materializeIntervalMs: config.materializeIntervalMs,
    materializeRecordsPerStep: config.materializeRecordsPerStep,
    pageCacheBytes: config.pageCacheBytes,
    recordCacheBytes: config.recordCacheBytes,
    hydrationBytesPerSecond: config.hydrationBytesPerSecond,
    metrics: storageMetricsFor(metrics),
  });
  // A signal during the replay stops the core, which ends the replay at its next step (storage.ts S5).
  const stopCore = () => void core.stop();
  startup.addEventListener('abort', stopCore, { once: true });
  await core.start();
  startup.removeEventListener('abort', stopCore);
  if (startup.aborted) return stopDuringStartup(logger, signals, { lock, network, core });
  signals.phase = 'admin API';
  // Gauges read off the core's status at each scrape.
  metrics.beforeScrape(() => {
    const status = core.status();
    const counts: Record<string, number> = { active: 0, hydrating: 0, sealed: 0, silent: 0 };
    let append = 0;
    let read = 0;
    for (const segment of status.segments) {
      const state =
        segment.state === 'silent'
          ? 'silent'
          : segment.hydration !== undefined
            ? 'hydrating'
            : segment.sealed
              ? 'sealed'
              : 'active';
      counts[state]!++;
      append += segment.appendRecordsPerSecond;
      read += segment.readPagesPerSecond;
    }
    metrics.setSegmentCounts(counts);
    metrics.setDiskBytes({
      log: status.log.bytesOnDisk,
      pages: status.pages.bytesOnDisk,
      control: status.controlLogBytes,
    });
    metrics.setHeat(append, read);
    metrics.setCacheBytes({ pages: status.pages.cachedBytes, records: status.recordCache.bytes });
    // The core sets these at each staging tick; at a scrape they are brought up to now (backup.ts B7).
    if (status.backup.intervalMs > 0) {
      metrics.setBackupLagBytes(status.backup.lagBytes);
      metrics.setBackupLagSeconds(status.backup.lagSeconds);
    }
  });
  const admin = await startAdminServer({
    host: config.listenHost,
    port: config.adminPort,
    logger,
    internalToken: config.internalToken,
    authRefused: (remoteAddress) => authRefusals.refused(remoteAddress),
    readiness: () => {
      const status = core.status();
      return status.ready ? { ready: true } : { ready: false, reason: `core is ${status.state}` };
    },
    statusProvider: () => ({ ...core.status(), zone: config.zone, version, transport: network.authStatus() }),
    metrics,
    lifecycle: {
      create: async (spec) => {
        const result = await core.createSegment({
          pgId: asPgId(spec.pgId),
          segmentId: asSegmentId(spec.segmentId),
          membershipEpoch: asEpoch(spec.membershipEpoch),
          members: spec.members.map(asSegmentId),
          memberNodes: spec.memberNodes.map(asNodeId),
          volumeEpoch: asEpoch(spec.volumeEpoch),
        });
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
      restore: async (pgId, segmentId, source) => {
        const result = await core.restoreSegment(asPgId(pgId), asSegmentId(segmentId), asSegmentId(source));
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
      backupNow: () => core.backupNow(),
      snapshot: async (pgId, segmentId, sink) => {
        const result = await core.snapshotSegment(asPgId(pgId), asSegmentId(segmentId), sink);
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
      hydrate: async (pgId, segmentId, source, bytesPerSecond) => {
        if (bytesPerSecond !== undefined) {
          const limit = core.setHydrationBytesPerSecond(bytesPerSecond);
          if (!limit.ok) throw asRequestError(limit.error);
        }
        const result = await core.hydrateFromSnapshot(
          asPgId(pgId),
          asSegmentId(segmentId),
          () =>
            openSnapshot(source.url, pgId, source.segmentId, {
              bytesPerSecond: core.hydrationBytesPerSecond,
              internalToken: config.internalToken,
            }),
          `${source.segmentId} at ${source.url}`,
        );
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
      seal: async (pgId, segmentId) => {
        const result = await core.sealSegment(asPgId(pgId), asSegmentId(segmentId));
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
      updateMembership: async (pgId, segmentId, membership) => {
        // The core answers an unknown segment like any bad spec; the API answers it 404.
        const known = core
          .status()
          .segments.some((segment) => segment.pgId === pgId && segment.segmentId === segmentId);
        if (!known) return { found: false };
        const result = await core.updateMembership(
          asPgId(pgId),
          asSegmentId(segmentId),
          asEpoch(membership.membershipEpoch),
          membership.members.map(asSegmentId),
          membership.memberNodes.map(asNodeId),
        );
        if (!result.ok) throw asRequestError(result.error);
        return { found: true, changed: result.value.changed };
      },
      drop: async (pgId, segmentId) => {
        const result = await core.dropSegment(asPgId(pgId), asSegmentId(segmentId));
        if (!result.ok) throw asRequestError(result.error);
        return result.value;
      },
    },
  });
  if (startup.aborted) {
    await admin.close();
    return stopDuringStartup(logger, signals, { lock, network, core });
  }
  logger.log('info', 'storage node ready', { port: network.listenPort, adminPort: admin.port });
  return new Promise<number>((resolve) => {
    signals.serving((signal) => {
      logger.log('info', 'shutting down: draining in-flight batches', { signal });
      void (async () => {
        await admin.close();
        await core.stop();
        network.close();
        await network.closed;
        // Only now: nothing of this process writes to the directory any more. A node that stops any
        // other way (a crash, the deadline, a lock taken over) leaves the lock for the next one.
        lock.release();
        logger.log('info', 'stopped');
        resolve(0);
      })();
    });
  });
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `storage-node: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
