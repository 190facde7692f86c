/**
 * The Table 4 analogue: replica lag while sysbench write-only runs at a fixed rate. sysbench
 * (`--rate`, 4 writes per transaction) is the load; the lag itself is measured by the lag harness
 * (`lag-harness.ts`) with a light probe of single-row inserts on the writer and a poller of max(id) on
 * the replica, through node-postgres against the two PostgreSQL endpoints, so both systems are probed
 * by the same client code. The probe's inserts add `probeRate` writes/s to the load; both are
 * reported.
 */
import pg from 'pg';
import { type LagResult, type LagTarget, measureLag } from './lag-harness.js';
import { type SysbenchResult, type SysbenchTable, sysbenchRun } from './paper-sysbench.js';
import type { PaperTarget, PgEndpoint } from './paper-target.js';

const PROBE_TABLE = 'lag_probe';
/** sysbench threads for a rate-limited run: enough that a queue, not the thread count, sets the pace. */
const RATED_THREADS = 32;
/** The probe starts after sysbench has connected and warmed up, and ends before sysbench does. */
const PROBE_START_DELAY_MS = 2_000;
const PROBE_WARMUP_MS = 1_000;
const PROBE_TAIL_MS = 3_000;
const CATCH_UP_TIMEOUT_MS = 60_000;

export interface LagAtRate {
  /** sysbench's target, in writes/s (4 per transaction). */
  readonly targetWritesPerSec: number;
  readonly sysbench: SysbenchResult;
  readonly probe: LagResult;
}

interface ProbeTarget extends LagTarget {
  close(): Promise<void>;
}

/** Writes through a pool to the writer, reads through one connection to the replica. */
async function probeTarget(
  writer: PgEndpoint,
  replica: PgEndpoint,
  connections: number,
): Promise<ProbeTarget> {
  const pool = new pg.Pool({ ...writer, max: connections });
  pool.on('error', (error) => process.stderr.write(`bench-paper: lag probe connection: ${error.message}\n`));
  const reader = new pg.Client({ ...replica });
  // Without a listener, a replica going away (the target stopping after a failed run) would end the
  // whole benchmark with an unhandled 'error' event instead of the run's own error.
  reader.on('error', (error) =>
    process.stderr.write(`bench-paper: lag probe replica connection: ${error.message}
`),
  );
  await reader.connect();
  return {
    async write(id) {
      await pool.query({
        name: 'lag-probe-insert',
        text: `INSERT INTO ${PROBE_TABLE} (id) VALUES ($1)`,
        values: [id],
      });
    },
    async maxVisibleId() {
      const { rows } = await reader.query<{ id: string | number }>({
        name: 'lag-probe-max',
        text: `SELECT coalesce(max(id), 0) AS id FROM ${PROBE_TABLE}`,
      });
      return Number(rows[0]!.id);
    },
    async close() {
      await Promise.all([pool.end(), reader.end()]);
    },
  };
}

/** Recreates the probe table empty and waits until the replica shows it (empty). */
async function resetProbeTable(target: PaperTarget, probe: ProbeTarget): Promise<void> {
  const client = new pg.Client({ ...target.writer });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${PROBE_TABLE}`);
    await client.query(`CREATE TABLE ${PROBE_TABLE} (id integer PRIMARY KEY)`);
  } finally {
    await client.end();
  }
  const deadlineMs = performance.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await probe.maxVisibleId()) === 0) return;
    } catch {
      // The replica has not seen the CREATE TABLE yet.
    }
    if (performance.now() > deadlineMs)
      throw new Error('the replica never showed the new, empty probe table');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * One run per rate: sysbench at rate/4 transactions per second for `timeS`, and the probe at
 * `probeRate` inserts/s in the middle of it.
 */
export async function measureLagAtRates(
  target: PaperTarget,
  table: SysbenchTable,
  options: {
    readonly writesPerSec: readonly number[];
    readonly timeS: number;
    readonly probeRate: number;
    /** Before each rate: a fresh sysbench table, settled. */
    readonly beforeRun: () => Promise<void>;
    readonly onRun: (result: LagAtRate) => void;
  },
): Promise<LagAtRate[]> {
  const probe = await probeTarget(target.writer, target.replica, 8);
  const probeDurationMs = options.timeS * 1000 - PROBE_START_DELAY_MS - PROBE_WARMUP_MS - PROBE_TAIL_MS;
  if (probeDurationMs <= 0) throw new Error(`--lag-time ${options.timeS} s leaves no time for the lag probe`);
  const results: LagAtRate[] = [];
  try {
    for (const writesPerSec of options.writesPerSec) {
      await options.beforeRun();
      await resetProbeTable(target, probe);
      const load = sysbenchRun(target.writer, table, {
        threads: RATED_THREADS,
        timeS: options.timeS,
        rateTxnPerSec: Math.max(1, Math.round(writesPerSec / 4)),
      });
      // If sysbench fails early, its error is reported rather than the probe's.
      load.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, PROBE_START_DELAY_MS));
      const lag = await measureLag(probe, {
        rate: options.probeRate,
        durationMs: probeDurationMs,
        warmupMs: PROBE_WARMUP_MS,
        writers: 8,
        tailMs: PROBE_TAIL_MS,
      }).catch(async (error: unknown) => {
        await load;
        throw error;
      });
      const result = { targetWritesPerSec: writesPerSec, sysbench: await load, probe: lag };
      options.onRun(result);
      results.push(result);
    }
  } finally {
    await probe.close();
  }
  return results;
}
