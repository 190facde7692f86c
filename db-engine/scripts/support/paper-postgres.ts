/**
 * bench-paper's PostgreSQL target: the paper's "mirrored" baseline. PostgreSQL 15, a primary and one
 * synchronous streaming standby on loopback (`postgres-pair.ts`, `synchronous: true`): every commit
 * is acknowledged once its WAL is flushed on the primary and on the standby (synchronous_commit=on).
 * Set up as in shared/reference/infra-feasibility.md §5 and peer-baselines.md, with
 * deadlock_timeout = 20ms (with the default 1 s, sysbench's deadlocks on a 10,000-row table stall
 * whole seconds and set the throughput, not the database).
 *
 * Counters at the database node (the primary), per run:
 *  - network messages / bytes: the walsender's socket to the standby, kernel TCP counters
 *    (`data_segs_out`, `bytes_sent` from ss). PostgreSQL sets TCP_NODELAY and the walsender sends
 *    with one sendto per batch of WAL, so a data segment is a send (peer-baselines §1 checked this
 *    against strace).
 *  - fsyncs: `pg_stat_wal.wal_sync`, the WAL flushes (fdatasync here) of backends and the WAL writer.
 *    Checkpoint fsyncs are left out: each run starts right after a CHECKPOINT, and `checkpoints` in
 *    the extras says whether another one ran during the run (none should in 30 s).
 *  - extras: WAL bytes (LSN difference), WAL records, full-page images and write() calls.
 */
import pg from 'pg';
import {
  type IoCounters,
  type IoMeasurement,
  type PaperTarget,
  type PgEndpoint,
  socketDelta,
  sumSockets,
  tcpSockets,
} from './paper-target.js';
import { type PostgresPair, startPostgresPair } from './postgres-pair.js';

const DATABASE = 'sbtest';
/** How long after sysbench ends the counters are read: lets the walsender's last sends land. */
const SETTLE_AFTER_RUN_MS = 500;
const CATCH_UP_TIMEOUT_MS = 60_000;

/** Settings on top of postgres-pair's (the standby inherits them through pg_basebackup). */
export const POSTGRES_PAPER_SETTINGS = [
  'deadlock_timeout = 20ms',
  'shared_buffers = 256MB',
  // sysbench opens one connection per thread, up to 128, plus the lag probe's.
  'max_connections = 300',
] as const;

interface WalSnapshot {
  readonly walBytes: number;
  readonly walRecords: number;
  readonly walFullPageImages: number;
  readonly walWrites: number;
  readonly walSyncs: number;
  readonly checkpoints: number;
}

export async function startPostgresTarget(): Promise<PaperTarget> {
  const pair = await startPostgresPair({ synchronous: true, primarySettings: POSTGRES_PAPER_SETTINGS });
  let admin: pg.Client | undefined;
  try {
    admin = new pg.Client({
      host: '127.0.0.1',
      port: pair.primaryPort,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    admin = new pg.Client({
      host: '127.0.0.1',
      port: pair.primaryPort,
      user: 'postgres',
      database: DATABASE,
    });
    await admin.connect();
  } catch (error) {
    await admin?.end().catch(() => {});
    await pair.stop();
    throw error;
  }
  return postgresTarget(pair, admin);
}

function postgresTarget(pair: PostgresPair, admin: pg.Client): PaperTarget {
  const endpoint = (port: number): PgEndpoint => ({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: DATABASE,
  });
  let stopped = false;
  return {
    system: 'postgres',
    description:
      'PostgreSQL 15 primary + 1 synchronous streaming standby (synchronous_commit=on, FIRST 1), loopback, deadlock_timeout=20ms, shared_buffers=256MB',
    writer: endpoint(pair.primaryPort),
    replica: endpoint(pair.standbyPort),
    durableCopiesOverNetwork: 1,
    counterSources: {
      networkMessages: "walsender's TCP socket to the standby: data_segs_out (ss -tinp), one per sendto",
      networkBytes: "walsender's TCP socket to the standby: bytes_sent (ss -tinp)",
      fsyncs:
        'pg_stat_wal.wal_sync: WAL fdatasync calls of backends and the WAL writer (checkpoints excluded)',
      walBytes: 'pg_current_wal_lsn() difference',
      walRecords: 'pg_stat_wal.wal_records',
      walFullPageImages: 'pg_stat_wal.wal_fpi',
      walWrites: 'pg_stat_wal.wal_write',
      checkpoints: 'pg_stat_bgwriter checkpoints_timed + checkpoints_req during the run (0 expected)',
    },
    async version() {
      const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
      return `PostgreSQL ${rows[0]!.server_version}`;
    },
    async settle() {
      await admin.query('VACUUM ANALYZE');
      await admin.query('CHECKPOINT');
      await waitForStandbyReplay(admin, pair.standbyName);
    },
    async begin(): Promise<IoMeasurement> {
      const walsenderPid = await walsender(admin, pair.standbyName);
      const pick = (socket: { pids: readonly number[] }) => socket.pids.includes(walsenderPid);
      const socketsBefore = sumSockets(await tcpSockets(), pick);
      const walBefore = await walSnapshot(admin);
      return {
        async end(): Promise<IoCounters> {
          await new Promise((resolve) => setTimeout(resolve, SETTLE_AFTER_RUN_MS));
          const walAfter = await walSnapshot(admin);
          const sockets = socketDelta(socketsBefore, sumSockets(await tcpSockets(), pick));
          if (sockets.sockets === 0) throw new Error(`walsender ${walsenderPid} has no TCP socket in ss`);
          const delta = (key: keyof WalSnapshot) => walAfter[key] - walBefore[key];
          return {
            networkMessages: sockets.segments,
            networkBytes: sockets.bytes,
            fsyncs: delta('walSyncs'),
            extra: {
              walBytes: delta('walBytes'),
              walRecords: delta('walRecords'),
              walFullPageImages: delta('walFullPageImages'),
              walWrites: delta('walWrites'),
              checkpoints: delta('checkpoints'),
            },
          };
        },
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await admin.end().catch(() => {});
      await pair.stop();
    },
  };
}

async function walsender(admin: pg.Client, standbyName: string): Promise<number> {
  const { rows } = await admin.query<{ pid: number; sync_state: string }>(
    'SELECT pid, sync_state FROM pg_stat_replication WHERE application_name = $1',
    [standbyName],
  );
  const row = rows[0];
  if (row === undefined || row.sync_state !== 'sync')
    throw new Error(`standby ${standbyName} is not a synchronous standby now: ${JSON.stringify(rows)}`);
  return row.pid;
}

async function walSnapshot(admin: pg.Client): Promise<WalSnapshot> {
  const { rows } = await admin.query<Record<keyof WalSnapshot, string>>(
    `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS "walBytes",
            wal_records::text AS "walRecords", wal_fpi::text AS "walFullPageImages",
            wal_write::text AS "walWrites", wal_sync::text AS "walSyncs",
            (SELECT (checkpoints_timed + checkpoints_req)::text FROM pg_stat_bgwriter) AS "checkpoints"
       FROM pg_stat_wal`,
  );
  const row = rows[0]!;
  return {
    walBytes: Number(row.walBytes),
    walRecords: Number(row.walRecords),
    walFullPageImages: Number(row.walFullPageImages),
    walWrites: Number(row.walWrites),
    walSyncs: Number(row.walSyncs),
    checkpoints: Number(row.checkpoints),
  };
}

/** Waits until the standby has replayed everything the primary has written: runs start alike. */
async function waitForStandbyReplay(admin: pg.Client, standbyName: string): Promise<void> {
  const deadlineMs = performance.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const { rows } = await admin.query<{ behind: string | null }>(
      `SELECT (pg_current_wal_lsn() - replay_lsn)::text AS behind FROM pg_stat_replication
        WHERE application_name = $1`,
      [standbyName],
    );
    if (rows[0]?.behind === '0') return;
    if (performance.now() > deadlineMs)
      throw new Error(`the standby did not replay the primary's WAL in ${CATCH_UP_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
