/**
 * What typing result columns by their declared types costs (src/kernel/declared-types.ts,
 * src/core/pgwire/types.ts): point SELECTs through node-postgres, the wire protocol, the writer's
 * TransactionGate and the real kernel (worker, wasm SQLite, redo VFS) on an in-memory volume, with
 * declared types asked for (as the engine does) and without (the baseline: the same code with the
 * request's `declaredTypes` removed, so columns are typed by their values as before).
 *
 *   node --import tsx scripts/declared-types-bench.ts [--rows 10000] [--duration-ms 2000] [--rounds 5]
 *
 * Workloads, each one client in a loop: `prepared` — a named prepared statement, `WHERE id = $1`
 * (sysbench --db-ps-mode=auto's shape); `literal` — a simple Query with the id inlined (sysbench
 * --db-ps-mode=disable's, a new SQL text every time: the kernel's shape cache is what keeps it from
 * probing each one); `first` — a statement never seen before each time (a new column alias: every
 * execution probes), the worst case. Rounds alternate baseline and declared; medians of queries per
 * second. Then the same three in the SQL session alone (`SqlSession.execute` in this thread: no
 * worker, no protocol, no client), which isolates the kernel's part and is far less sensitive to a
 * busy machine: microseconds per query, medians of rounds of 2 000 queries. JSON on stdout. Not a test.
 */
import pg from 'pg';
import type { SqlBackend } from '../src/core/pgwire/backend.js';
import type { EngineReply } from '../src/engine.js';
import { createEngineBackend } from '../src/io/pg-backend.js';
import { PgServer } from '../src/io/pg-server.js';
import { PAGE_SIZE_BYTES } from '../src/kernel/redo-vfs.js';
import { SqlSession } from '../src/kernel/sql-session.js';
import { TransactionGate } from '../src/transaction-gate.js';
import { MemoryVolume, startKernel } from '../test/kernel/support/memory-volume.js';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

const ROWS = flag('rows', 10_000);
const DURATION_MS = flag('duration-ms', 2_000);
const ROUNDS = flag('rounds', 5);

type Workload = 'prepared' | 'literal' | 'first';
const WORKLOADS: readonly Workload[] = ['prepared', 'literal', 'first'];

async function queriesPerSecond(client: pg.Client, workload: Workload): Promise<number> {
  const startedMs = performance.now();
  let queries = 0;
  while (performance.now() - startedMs < DURATION_MS) {
    const id = 1 + ((queries * 7_919) % ROWS);
    if (workload === 'prepared') {
      await client.query({
        name: 'point',
        text: 'SELECT id, k, c, pad FROM sbtest WHERE id = $1',
        values: [id],
      });
    } else if (workload === 'literal') {
      await client.query(`SELECT id, k, c, pad FROM sbtest WHERE id = ${id}`);
    } else {
      await client.query(`SELECT id AS id_${queries}, k, c, pad FROM sbtest WHERE id = ${id}`);
    }
    queries++;
  }
  return (queries * 1_000) / (performance.now() - startedMs);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const SESSION_QUERIES_PER_ROUND = 2_000;

function sessionSql(workload: Workload, round: number, query: number): { sql: string; params?: number[] } {
  const id = 1 + ((query * 7_919) % ROWS);
  if (workload === 'prepared') return { sql: 'SELECT id, k, c, pad FROM sbtest WHERE id = ?1', params: [id] };
  if (workload === 'literal') return { sql: `SELECT id, k, c, pad FROM sbtest WHERE id = ${id}` };
  return { sql: `SELECT id AS id_${round}_${query}, k, c, pad FROM sbtest WHERE id = ${id}` };
}

/** Microseconds per query in the SQL session itself, baseline and declared, medians. */
async function sessionMicroseconds(): Promise<Record<string, unknown>> {
  const session = await SqlSession.open({
    pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
    sink: { seal: () => 'ok' },
    cachePages: 10_000,
  });
  const run = (sql: string) => {
    const reply = session.execute({ statements: [{ sql }] });
    if (!reply.ok) throw new Error(reply.error.message);
  };
  run(
    'CREATE TABLE sbtest (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)',
  );
  run(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) ` +
      "INSERT INTO sbtest SELECT i, i % 1000, printf('%0120d', i), printf('%060d', i) FROM n",
  );
  const samples: Record<string, Record<Workload, number[]>> = {
    baseline: { prepared: [], literal: [], first: [] },
    declared: { prepared: [], literal: [], first: [] },
  };
  for (let round = 0; round < ROUNDS * 4; round++) {
    for (const mode of round % 2 === 0 ? ['baseline', 'declared'] : ['declared', 'baseline']) {
      for (const workload of WORKLOADS) {
        const queries = workload === 'first' ? SESSION_QUERIES_PER_ROUND / 10 : SESSION_QUERIES_PER_ROUND;
        const startedMs = performance.now();
        for (let query = 0; query < queries; query++) {
          const statement = sessionSql(workload, round * 2 + (mode === 'declared' ? 1 : 0), query);
          const reply = session.execute({
            statements: [statement],
            readOnly: true,
            typedValues: true,
            ...(mode === 'declared' ? { declaredTypes: true } : {}),
          });
          if (!reply.ok) throw new Error(reply.error.message);
        }
        samples[mode]![workload].push(((performance.now() - startedMs) * 1_000) / queries);
      }
    }
  }
  session.close();
  const result: Record<string, unknown> = {};
  for (const workload of WORKLOADS) {
    const baseline = median(samples.baseline![workload]);
    const declared = median(samples.declared![workload]);
    result[workload] = {
      baselineMicrosecondsMedian: Number(baseline.toFixed(2)),
      declaredMicrosecondsMedian: Number(declared.toFixed(2)),
      addedMicroseconds: Number((declared - baseline).toFixed(2)),
    };
  }
  return result;
}

async function main(): Promise<void> {
  const host = await startKernel(new MemoryVolume());
  let declaredTypes = true;
  const gate = new TransactionGate(
    async (request, options) => {
      const { declaredTypes: _asked, ...baseline } = request;
      const reply = await host.execute(declaredTypes ? request : baseline);
      options?.kernelDone?.();
      return reply as EngineReply;
    },
    { idleTimeoutMs: 10_000, lockWaitTimeoutMs: 10_000 },
  );
  const backend: SqlBackend = createEngineBackend({ gate, role: 'writer', serverVersion: '15.0 (bench)' });
  const server = new PgServer({
    host: '127.0.0.1',
    port: 0,
    backend,
    auth: { method: 'trust' },
    maxConnections: 4,
  });
  const { port } = await server.start();
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'bench', database: 'bench' });
  await client.connect();
  await client.query(
    'CREATE TABLE sbtest (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)',
  );
  await client.query(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) ` +
      "INSERT INTO sbtest SELECT i, i % 1000, printf('%0120d', i), printf('%060d', i) FROM n",
  );
  const samples: Record<string, Record<Workload, number[]>> = {
    baseline: { prepared: [], literal: [], first: [] },
    declared: { prepared: [], literal: [], first: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['baseline', 'declared'] : ['declared', 'baseline']) {
      declaredTypes = mode === 'declared';
      for (const workload of WORKLOADS) {
        const qps = await queriesPerSecond(client, workload);
        samples[mode]![workload].push(qps);
        process.stderr.write(`round ${round} ${mode} ${workload}: ${qps.toFixed(0)} q/s\n`);
      }
    }
  }
  const typed = await client.query('SELECT * FROM sbtest WHERE id = 1');
  await client.end();
  await server.stop();
  await host.close();
  const result: Record<string, unknown> = {
    benchmark: 'point SELECT, node-postgres → pgwire → gate → kernel (in-memory volume), one client',
    rows: ROWS,
    durationMsPerSample: DURATION_MS,
    rounds: ROUNDS,
    columnTypesDeclared: typed.fields.map((field) => field.dataTypeID),
  };
  for (const workload of WORKLOADS) {
    const baseline = median(samples.baseline![workload]);
    const declared = median(samples.declared![workload]);
    result[workload] = {
      baselineQpsMedian: Math.round(baseline),
      declaredQpsMedian: Math.round(declared),
      changePercent: Number((((declared - baseline) / baseline) * 100).toFixed(1)),
    };
  }
  result.sqlSession = {
    benchmark: 'the same point SELECTs in SqlSession.execute alone, typed values, read-only requests',
    queriesPerRound: SESSION_QUERIES_PER_ROUND,
    rounds: ROUNDS * 4,
    ...(await sessionMicroseconds()),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
