/**
 * The storage node process: parses the configuration, wires the sans-I/O core (`core/`) to the real
 * adapters (`io/`: TCP transport, node:fs disk, S3 object store, pino logs, prom-client metrics,
 * fastify admin API), and shuts down gracefully on SIGTERM/SIGINT (stop accepting, drain in-flight
 * batches and fsync, close the listeners). Run: `tsx storage-node/src/main.ts --help`.
 */
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  type Environment,
  isNorthlightError,
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
} from '@northlight/protocol/io';
import { configHelpText, describeConfig, parseStorageNodeConfig, type StorageNodeConfig } from './config.js';
import { StorageNodeCore } from './core/storage-node-core.js';
import { startAdminServer } from './io/admin-server.js';
import { acquireDataDirLock, EXIT_DATA_DIR_LOCKED } from './io/data-dir-lock.js';
import { PinoLogger } from './io/logger.js';
import { PrometheusStorageMetrics } from './io/metrics.js';
import { storageMetricsFor } from './io/metrics-adapter.js';
import { S3ObjectStore } from './io/s3-object-store.js';
import { openSnapshot } from './io/snapshot-client.js';

/** What this process runs, as its status reports it. */
const version = buildVersion();

/** Graceful shutdown that takes longer than this is cut short (the orchestrator would SIGKILL anyway). */
const SHUTDOWN_DEADLINE_MS = 20_000;

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
  // Signals are taken from the start: one that arrives before the node serves (or in the instant
  // between its "ready" line and the shutdown handler) must not kill it mid-write by default action.
  let signalled: string | undefined;
  let onSignal = (signal: string): void => {
    signalled ??= signal;
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // Before anything opens a segment or a port: two processes on one directory corrupt it.
  const lock = await acquireDataDirLock({ dataDir: config.dataDir, nodeId: config.nodeId, logger });
  if (!lock.ok) {
    logger.log('error', 'refusing to start: the data directory is locked', {
      dataDir: config.dataDir,
      error: lock.error.message,
    });
    process.stderr.write(`storage-node: ${lock.error.message}\n`);
    return EXIT_DATA_DIR_LOCKED;
  }
  const directory = new StaticPeerDirectory();
  for (const [id, address] of config.peers) directory.set(id, address);
  const network = await TcpNetworkEndpoint.listen({
    address: config.nodeId,
    listenHost: config.listenHost,
    listenPort: config.port,
    directory,
    logger,
  });
  const metrics = new PrometheusStorageMetrics();
  metrics.trackTransport(network);
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network,
    disk: new NodeDisk(config.dataDir),
    objectStore: objectStoreFor(config),
    log: logger,
  };
  const core = new StorageNodeCore(env, {
    pageSizeBytes: config.pageSizeBytes,
    pagesPerPg: Math.max(1, Math.floor(config.segmentSizeBytes / config.pageSizeBytes)),
    gossipIntervalMs: config.gossipIntervalMs,
    backupIntervalMs: config.backupIntervalMs,
    backupPrefix: config.s3Prefix,
    materializeIntervalMs: config.materializeIntervalMs,
    pageCacheBytes: config.pageCacheBytes,
    recordCacheBytes: config.recordCacheBytes,
    hydrationBytesPerSecond: config.hydrationBytesPerSecond,
    metrics: storageMetricsFor(metrics),
  });
  await core.start();
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
  });
  const admin = await startAdminServer({
    host: config.listenHost,
    port: config.adminPort,
    logger,
    readiness: () => {
      const status = core.status();
      return status.ready ? { ready: true } : { ready: false, reason: `core is ${status.state}` };
    },
    statusProvider: () => ({ ...core.status(), zone: config.zone, version }),
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
  logger.log('info', 'storage node ready', { port: network.listenPort, adminPort: admin.port });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.log('info', 'shutting down: draining in-flight batches', { signal });
      const deadline = setTimeout(() => {
        logger.log('error', 'graceful shutdown passed its deadline; exiting', {
          deadlineMs: SHUTDOWN_DEADLINE_MS,
        });
        resolve(1);
      }, SHUTDOWN_DEADLINE_MS);
      void (async () => {
        await admin.close();
        await core.stop();
        network.close();
        await network.closed;
        // Only now: nothing of this process writes to the directory any more. A node that stops any
        // other way (a crash, the deadline above) leaves the lock for the next one to take over.
        lock.value.release();
        clearTimeout(deadline);
        logger.log('info', 'stopped');
        resolve(0);
      })();
    };
    onSignal = shutdown;
    if (signalled !== undefined) shutdown(signalled);
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
