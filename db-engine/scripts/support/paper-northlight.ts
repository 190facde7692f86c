/**
 * bench-paper's northlight target: six storage-node processes, two in each of three zones, a writer
 * and one read replica, all on loopback (the engine rig of the process tests, as bench-replica uses
 * it), with sysbench pointed at the engine's PostgreSQL wire-protocol port (issue 8).
 *
 * The wire-protocol server is being built in parallel; when the engine does not take
 * `PG_PORT_FLAG`, or takes it and does not answer there, `start` fails with a `PgWireMissingError`
 * naming what is missing, and the benchmark reports northlight as not measured. Nothing is estimated.
 *
 * Counters at the database node (the writer process), per run:
 *  - network messages / bytes: the kernel TCP counters (ss: `data_segs_out`, `bytes_sent`) of the
 *    writer's sockets whose peer is a storage node's binary port. That is every frame to storage:
 *    redo batches to the six segments, and the rarer state requests, truncations and read points.
 *  - fsyncs: fsync-family system calls of the writer process, counted by `perf stat` on the kernel's
 *    syscall tracepoints (the engine writes no log and no pages: none are expected).
 *  - extras: the driver's own counts from /metrics (append batches and bytes shipped, redo records),
 *    the transactions the engine committed, page reads, the writer's block-device write bytes (/proc/<pid>/io), and the redo stream to the
 *    replica (TCP counters of the writer's sockets to the replica), which is not a durable copy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type EngineProcess, StorageFleet, startEngine } from '../../test/support/engine-rig.js';
import {
  countFsyncs,
  diskWriteBytes,
  type IoCounters,
  type IoMeasurement,
  type PaperTarget,
  type PgEndpoint,
  type SocketCounters,
  socketDelta,
  sumSockets,
  tcpSockets,
} from './paper-target.js';

/** The engine flag that opens its PostgreSQL wire-protocol listener. One constant: trivially renamed. */
export const PG_PORT_FLAG = '--pg-port';
/**
 * More engine flags for the wire protocol: trust on loopback (as the PostgreSQL baseline's pg_hba),
 * and room for 128 sysbench connections + 9 of the lag probe + sysbench's prepare.
 */
const PG_EXTRA_ENGINE_ARGS: readonly string[] = ['--pg-auth', 'trust', '--pg-max-connections', '300'];
const DESCRIPTION =
  'writer + 1 replica, 6 storage-node processes (2 per zone, 3 zones) on loopback, write quorum 4/6';
/** The user and database sysbench names. */
const PG_USER = 'postgres';
const PG_DATABASE = 'sbtest';
const SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
/** The storage node's own default; the rig's 200 ms is for tests that want quick convergence. */
const GOSSIP_INTERVAL_MS = 1_000;
const PG_READY_TIMEOUT_MS = 15_000;
const SETTLE_AFTER_RUN_MS = 500;

/** What the PostgreSQL wire-protocol server must provide for this benchmark, and did not. */
export class PgWireMissingError extends Error {
  readonly code = 'NL_BENCH_PGWIRE_MISSING';
  constructor(
    /** The missing piece, e.g. "engine flag --pg-port". */
    readonly missing: string,
    detail: string,
  ) {
    super(`northlight cannot be measured: ${missing} (${detail})`);
    this.name = 'PgWireMissingError';
  }
}

/** Every engine and fleet started and not stopped, for the exit cleanup. */
const liveEngines = new Set<EngineProcess>();
const liveFleets = new Set<StorageFleet>();

/** Synchronous cleanup for an interrupted benchmark: kills every process, removes every directory. */
export function killNorthlightSync(): void {
  for (const engine of liveEngines) {
    engine.child.kill('SIGKILL');
    rmSync(engine.dataDir, { recursive: true, force: true });
  }
  for (const fleet of liveFleets)
    for (const node of fleet.nodes.values()) {
      node.child.kill('SIGKILL');
      rmSync(node.dataDir, { recursive: true, force: true });
    }
}

/**
 * How the writer runs interactive transactions (`--pg-transactions`, docs/db-engine.md): sysbench's
 * are BEGIN, four statements and COMMIT over six round trips.
 */
export type NorthlightTransactions = 'serial' | 'optimistic';

export async function startNorthlightTarget(
  ports: () => Promise<readonly number[]>,
  transactions: NorthlightTransactions,
): Promise<PaperTarget> {
  const fleet = new StorageFleet(SEGMENT_SIZE_BYTES, [], GOSSIP_INTERVAL_MS);
  liveFleets.add(fleet);
  const engines: EngineProcess[] = [];
  const stop = async () => {
    for (const engine of engines) {
      engine.child.kill('SIGKILL');
      await engine.exited;
      rmSync(engine.dataDir, { recursive: true, force: true });
      liveEngines.delete(engine);
    }
    engines.length = 0;
    await fleet.stopAll();
    liveFleets.delete(fleet);
  };
  try {
    await fleet.start();
    const [writerPgPort, replicaPgPort] = await ports();
    const writer = await startWithPgPort(fleet, engines, writerPgPort!, ['--pg-transactions', transactions]);
    const replica = await startWithPgPort(fleet, engines, replicaPgPort!, [
      ...['--role', 'replica', '--writer-url', `http://127.0.0.1:${writer.httpPort}`],
      ...['--node-id', 'replica-1'],
    ]);
    return {
      ...northlightTarget(fleet, writer, replica, writerPgPort!, replicaPgPort!, stop),
      description: `${DESCRIPTION}, ${transactions} transactions (--pg-transactions ${transactions})`,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts an engine with the wire-protocol flag and waits until `SELECT 1` answers on that port. */
async function startWithPgPort(
  fleet: StorageFleet,
  engines: EngineProcess[],
  pgPort: number,
  args: readonly string[],
): Promise<EngineProcess> {
  let engine: EngineProcess;
  // Made here, not by the rig, so that an engine that fails to start leaves no directory behind.
  const dataDir = mkdtempSync(join(tmpdir(), 'northlight-bench-paper-engine-'));
  try {
    engine = await startEngine(fleet, {
      dataDir,
      args: [...args, ...PG_EXTRA_ENGINE_ARGS, PG_PORT_FLAG, String(pgPort)],
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    const message = (error as Error).message;
    if (message.includes(`unknown option "${PG_PORT_FLAG}"`))
      throw new PgWireMissingError(
        `engine flag ${PG_PORT_FLAG}`,
        `db-engine/src/main.ts refuses it: ${message.split('\n').find((line) => line.includes(PG_PORT_FLAG))}`,
      );
    throw error;
  }
  engines.push(engine);
  liveEngines.add(engine);
  await waitForPgWire(pgPort);
  return engine;
}

async function waitForPgWire(port: number): Promise<void> {
  const deadlineMs = performance.now() + PG_READY_TIMEOUT_MS;
  let lastError: unknown;
  while (performance.now() < deadlineMs) {
    const client = new pg.Client({ ...pgEndpoint(port), connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const refused = (lastError as NodeJS.ErrnoException | undefined)?.code === 'ECONNREFUSED';
  throw new PgWireMissingError(
    refused
      ? `a PostgreSQL wire-protocol listener on the port given by ${PG_PORT_FLAG}`
      : `SELECT 1 over the wire protocol as user ${PG_USER}, database ${PG_DATABASE} (--pg-auth trust)`,
    `the engine started with ${PG_PORT_FLAG} ${port} but SELECT 1 there failed for ${PG_READY_TIMEOUT_MS} ms: ${(lastError as Error)?.message}`,
  );
}

function pgEndpoint(port: number): PgEndpoint {
  return {
    host: '127.0.0.1',
    port,
    user: PG_USER,
    database: PG_DATABASE,
  };
}

/** The storage nodes' binary ports, from the engine's --storage value (id=host:port/admin@zone,…). */
function storagePorts(fleet: StorageFleet): Set<number> {
  return new Set(
    fleet
      .storageFlag()
      .split(',')
      .map((entry) => Number(/:(\d+)\//.exec(entry)?.[1])),
  );
}

export function northlightTarget(
  fleet: StorageFleet,
  writer: EngineProcess,
  replica: EngineProcess,
  writerPgPort: number,
  replicaPgPort: number,
  stop: () => Promise<void>,
): PaperTarget {
  const writerPid = writer.child.pid!;
  const replicaPid = replica.child.pid!;
  const toStorage = storagePorts(fleet);
  const pickStorage = (socket: SocketCounters) =>
    socket.pids.includes(writerPid) && toStorage.has(socket.peerPort);
  /** The writer's ends of the replica's connections to it (the redo stream rides on one). */
  const replicaPick = (sockets: readonly SocketCounters[]) => {
    const replicaLocalPorts = new Set(
      sockets.filter((socket) => socket.pids.includes(replicaPid)).map((socket) => socket.localPort),
    );
    return (socket: SocketCounters) =>
      socket.pids.includes(writerPid) && replicaLocalPorts.has(socket.peerPort);
  };
  return {
    system: 'northlight',
    description: DESCRIPTION,
    writer: pgEndpoint(writerPgPort),
    replica: pgEndpoint(replicaPgPort),
    durableCopiesOverNetwork: 6,
    counterSources: {
      networkMessages: "writer's TCP sockets to the storage nodes' binary ports: data_segs_out (ss -tinp)",
      networkBytes: "writer's TCP sockets to the storage nodes' binary ports: bytes_sent (ss -tinp)",
      fsyncs:
        'fsync, fdatasync, sync_file_range, syncfs, msync calls of the writer process (perf stat on syscall tracepoints)',
      driverAppendBatches:
        'northlight_engine_shipped_batches (the quorum driver: append batches, re-sends included)',
      driverBytes: 'northlight_engine_shipped_bytes (the quorum driver: bytes of every frame to storage)',
      redoRecords: 'northlight_engine_redo_records',
      committedTransactions:
        'northlight_engine_transactions_ended{outcome="committed"} (interactive transactions committed over the wire protocol)',
      pageReads: 'northlight_engine_page_reads (buffer-cache misses read from storage)',
      diskWriteBytes: "writer's /proc/<pid>/io write_bytes",
      replicaStreamSegments: "writer's TCP sockets to the replica: data_segs_out (not a durable copy)",
      replicaStreamBytes: "writer's TCP sockets to the replica: bytes_sent",
    },
    async version() {
      const client = new pg.Client(pgEndpoint(writerPgPort));
      await client.connect();
      try {
        const { rows } = await client.query<{ version: string }>('SELECT version() AS version');
        return rows[0]!.version;
      } finally {
        await client.end();
      }
    },
    async settle() {
      // No VACUUM or CHECKPOINT exists: the engine writes no pages. Only let the prepare's redo reach
      // every segment and the replica before counting.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    },
    async begin(): Promise<IoMeasurement> {
      const before = await tcpSockets();
      const storageBefore = sumSockets(before, pickStorage);
      const replicaBefore = sumSockets(before, replicaPick(before));
      const metricsBefore = await writerMetrics(writer);
      const diskBefore = diskWriteBytes(writerPid);
      const fsyncs = await countFsyncs(writerPid);
      return {
        async end(): Promise<IoCounters> {
          await new Promise((resolve) => setTimeout(resolve, SETTLE_AFTER_RUN_MS));
          const fsyncCount = await fsyncs.stop();
          const after = await tcpSockets();
          const storage = socketDelta(storageBefore, sumSockets(after, pickStorage));
          const toReplica = socketDelta(replicaBefore, sumSockets(after, replicaPick(after)));
          const metricsAfter = await writerMetrics(writer);
          const metric = (name: string) =>
            (metricsAfter[name] ?? Number.NaN) - (metricsBefore[name] ?? Number.NaN);
          if (storage.sockets === 0) throw new Error('the writer has no TCP socket to a storage node in ss');
          return {
            networkMessages: storage.segments,
            networkBytes: storage.bytes,
            fsyncs: fsyncCount,
            extra: {
              driverAppendBatches: metric('northlight_engine_shipped_batches'),
              driverBytes: metric('northlight_engine_shipped_bytes'),
              redoRecords: metric('northlight_engine_redo_records'),
              committedTransactions: metric('northlight_engine_transactions_ended{outcome="committed"}'),
              pageReads: metric('northlight_engine_page_reads'),
              diskWriteBytes: diskWriteBytes(writerPid) - diskBefore,
              replicaStreamSegments: toReplica.segments,
              replicaStreamBytes: toReplica.bytes,
            },
          };
        },
      };
    },
    stop,
  };
}

/** The writer's metrics, by name with its labels as printed (`name{label="value"}`). */
async function writerMetrics(writer: EngineProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${writer.httpPort}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(northlight_[a-z_]+(?:\{[^}]*\})?) ([0-9.eE+-]+)$/.exec(line);
    if (match !== null) values[match[1]!] = Number(match[2]);
  }
  return values;
}
