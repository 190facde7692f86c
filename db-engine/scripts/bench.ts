/**
 * The engine's benchmark (issue 4): a sysbench-oltp_write_only-like mix through the real engine
 * process over six real storage-node processes on loopback, its SQL over the HTTP API.
 *
 *   npm run bench -w @northlight/db-engine -- [--rows 100000] [--duration-ms 10000] [--clients 1,32]
 *                                             [--rounds 3] [--recovery-mb 50,500] [--no-recovery]
 *                                             [--only redo] [--profile DIR] [--engine-args '...']
 *
 * Sections, each on a fresh volume:
 *  - redo / full-pages: the same engine shipping page diffs, then whole pages (a traditional engine
 *    on replicated block storage: `--ship-full-pages true`), at each client count: txn/s, commit
 *    latency p50/p99, network bytes and append batches per transaction (counted by the engine);
 *  - jitter: redo, the largest client count, two of the six storage nodes answering 20 ms late
 *    (a delaying TCP proxy in front of each): commit p99 against the no-fault p99, with the usual
 *    4/6 write quorum and with 6/6 (`--write-quorum 6`: every copy, as a synchronous mirror waits);
 *  - better-sqlite3 12.x in WAL mode with synchronous=FULL on local disk (an optional dependency,
 *    compiled at npm ci), one connection in this process, no client overhead at all; run first, on a
 *    quiet machine, three rounds, median;
 *  - recovery: bulk inserts and deletes of incompressible rows until each amount of redo (one copy's
 *    bytes) has been shipped, kill -9 of the engine while the load still runs, restart, and the
 *    recovery time the engine reports.
 * A transaction is one request of four statements: UPDATE k=k+1, UPDATE c, DELETE, INSERT of the id
 * deleted (ids uniform over the table), sent over keep-alive HTTP connections (one per client).
 * The storage nodes run with their default gossip interval (1 s). JSON on stdout, progress on
 * stderr. Not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EngineProcess,
  engineStatus,
  INTERNAL_AUTH,
  SqlClient,
  StorageFleet,
  sql,
  startEngine,
} from '../test/support/engine-rig.js';
import { digitGroups, seededRandom } from '../test/support/seeded.js';
import { cpuMs } from './support/proc-cpu.js';

interface Config {
  readonly rows: number;
  readonly durationMs: number;
  readonly clients: readonly number[];
  readonly recoveryMb: readonly number[];
  readonly recovery: boolean;
  /** Measured runs per figure (medians reported): the machine is small and noisy. */
  readonly rounds: number;
  /** `--profile DIR`: every storage node and engine writes a V8 CPU profile there at its exit. */
  readonly profileDir: string | undefined;
  /** `--only redo`: run only the redo section (with the baseline), e.g. when profiling. */
  readonly only: string | undefined;
  /** `--engine-args '--batch-hold-ms 5'`: extra flags for every engine (A/B runs of a knob). */
  readonly engineArgs: readonly string[];
  /** `--storage-args '--materialize-interval-ms 5000'`: extra flags for every storage node. */
  readonly storageArgs: readonly string[];
}

function parse(argv: readonly string[]): Config {
  const value = (name: string): string | undefined => {
    const index = argv.indexOf(`--${name}`);
    return index === -1 ? undefined : argv[index + 1];
  };
  const list = (text: string) => text.split(',').map((part) => Number(part));
  const config: Config = {
    rows: Number(value('rows') ?? 100_000),
    durationMs: Number(value('duration-ms') ?? 10_000),
    clients: list(value('clients') ?? '1,32'),
    recoveryMb: list(value('recovery-mb') ?? '50,500'),
    recovery: !argv.includes('--no-recovery'),
    rounds: Number(value('rounds') ?? 3),
    profileDir: value('profile'),
    only: value('only'),
    engineArgs: (value('engine-args') ?? '').split(' ').filter((part) => part !== ''),
    storageArgs: (value('storage-args') ?? '').split(' ').filter((part) => part !== ''),
  };
  for (const number of [
    config.rows,
    config.durationMs,
    config.rounds,
    ...config.clients,
    ...config.recoveryMb,
  ])
    if (!Number.isSafeInteger(number) || number <= 0)
      throw new Error(`bad option value in ${argv.join(' ')}`);
  return config;
}

const SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
/** The storage node's own default: tests use 200 ms to converge quickly. */
const GOSSIP_INTERVAL_MS = 1_000;
const LOAD_BATCH_ROWS = 1_000;

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function prepare(engine: EngineProcess, rows: number): Promise<void> {
  const next = seededRandom(1);
  const create = await sql(engine, [
    {
      sql: 'CREATE TABLE sbtest1 (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c TEXT NOT NULL, pad TEXT NOT NULL)',
    },
    { sql: 'CREATE INDEX k_1 ON sbtest1 (k)' },
  ]);
  if (create.status !== 200) throw new Error(`create: ${JSON.stringify(create.body)}`);
  for (let first = 1; first <= rows; first += LOAD_BATCH_ROWS) {
    const statements = [];
    for (let id = first; id < first + LOAD_BATCH_ROWS && id <= rows; id++)
      statements.push({
        sql: 'INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)',
        params: [id, Math.floor(next() * rows), digitGroups(next, 11), digitGroups(next, 5)],
      });
    const answer = await sql(engine, statements, { timeoutMs: 120_000 });
    if (answer.status !== 200) throw new Error(`load: ${JSON.stringify(answer.body)}`);
  }
}

interface RunFigures {
  readonly clients: number;
  readonly txnPerSecond: number;
  readonly commitP50Ms: number;
  readonly commitP99Ms: number;
  readonly bytesPerTxn: number;
  readonly batchesPerTxn: number;
  readonly failed: number;
  /**
   * CPU time (user + system, from /proc) per committed transaction during the run, by process: the
   * engine, the six storage nodes together, and this benchmark's own clients. All share the
   * machine's cores, so their sum bounds the throughput.
   */
  readonly cpuMsPerTxn: { readonly engine: number; readonly storageNodes: number; readonly clients: number };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Closed-loop clients running the write-only mix while `keepGoing()`, one connection each. */
async function writeOnly(
  engine: EngineProcess,
  rows: number,
  clients: number,
  keepGoing: () => boolean,
  seed: number,
): Promise<{ latencies: number[]; committed: number; failed: number }> {
  const next = seededRandom(seed);
  const latencies: number[] = [];
  let failed = 0;
  const client = new SqlClient(engine, clients);
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (keepGoing()) {
          const id = 1 + Math.floor(next() * rows);
          const startedMs = performance.now();
          try {
            const answer = await client.execute([
              { sql: 'UPDATE sbtest1 SET k = k + 1 WHERE id = ?', params: [id] },
              {
                sql: 'UPDATE sbtest1 SET c = ? WHERE id = ?',
                params: [digitGroups(next, 11), 1 + Math.floor(next() * rows)],
              },
              { sql: 'DELETE FROM sbtest1 WHERE id = ?', params: [id] },
              {
                sql: 'INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)',
                params: [id, Math.floor(next() * rows), digitGroups(next, 11), digitGroups(next, 5)],
              },
            ]);
            if (answer.status === 200) latencies.push(performance.now() - startedMs);
            else failed++;
          } catch {
            failed++;
            if (!keepGoing()) return;
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  return { latencies, committed: latencies.length, failed };
}

function cpuNow(engine: EngineProcess, fleet: StorageFleet) {
  return {
    engine: cpuMs(engine.child.pid),
    storageNodes: [...fleet.nodes.values()].reduce((sum, node) => sum + cpuMs(node.child.pid), 0),
    clients: cpuMs(process.pid),
  };
}

/**
 * `rounds` measured runs one after another on the same volume; each figure is the median of the
 * rounds (txn/s of every round kept in `txnPerSecondRounds`).
 */
async function measured(
  engine: EngineProcess,
  fleet: StorageFleet,
  rows: number,
  clients: number,
  durationMs: number,
  rounds: number,
): Promise<RunFigures & { readonly txnPerSecondRounds: readonly number[] }> {
  const runs: RunFigures[] = [];
  for (let attempt = 0; attempt < rounds; attempt++)
    runs.push(await measuredOnce(engine, fleet, rows, clients, durationMs, attempt));
  const mid = (pick: (run: RunFigures) => number) => median(runs.map(pick));
  return {
    clients,
    txnPerSecond: mid((run) => run.txnPerSecond),
    commitP50Ms: mid((run) => run.commitP50Ms),
    commitP99Ms: mid((run) => run.commitP99Ms),
    bytesPerTxn: mid((run) => run.bytesPerTxn),
    batchesPerTxn: mid((run) => run.batchesPerTxn),
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    cpuMsPerTxn: {
      engine: mid((run) => run.cpuMsPerTxn.engine),
      storageNodes: mid((run) => run.cpuMsPerTxn.storageNodes),
      clients: mid((run) => run.cpuMsPerTxn.clients),
    },
    txnPerSecondRounds: runs.map((run) => run.txnPerSecond),
  };
}

/**
 * One warm-up and one measured run. Every run draws its own values (seeds by client count and
 * round): a round replaying the previous one's values would write rows as they already are, and
 * SQLite would write pages with nothing changed, which makes a diff look far cheaper than it is.
 */
async function measuredOnce(
  engine: EngineProcess,
  fleet: StorageFleet,
  rows: number,
  clients: number,
  durationMs: number,
  roundNo: number,
): Promise<RunFigures> {
  const seed = 1_000 * (roundNo + 1) + 10 * clients;
  const warmupEndMs = performance.now() + Math.min(2_000, durationMs / 5);
  await writeOnly(engine, rows, clients, () => performance.now() < warmupEndMs, seed + 1);
  const before = (await engineStatus(engine)).driver as unknown as { bytesSent: number; batchesSent: number };
  const cpuBefore = cpuNow(engine, fleet);
  const startedMs = performance.now();
  const endMs = startedMs + durationMs;
  const run = await writeOnly(engine, rows, clients, () => performance.now() < endMs, seed + 2);
  const seconds = (performance.now() - startedMs) / 1000;
  const cpuAfter = cpuNow(engine, fleet);
  const perTxn = (key: keyof typeof cpuAfter) =>
    round((cpuAfter[key] - cpuBefore[key]) / Math.max(1, run.committed));
  const after = (await engineStatus(engine)).driver as unknown as { bytesSent: number; batchesSent: number };
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return {
    clients,
    txnPerSecond: round(run.committed / seconds, 1),
    commitP50Ms: round(percentile(sorted, 50)),
    commitP99Ms: round(percentile(sorted, 99)),
    bytesPerTxn: round((after.bytesSent - before.bytesSent) / Math.max(1, run.committed), 1),
    batchesPerTxn: round((after.batchesSent - before.batchesSent) / Math.max(1, run.committed), 2),
    failed: run.failed,
    cpuMsPerTxn: {
      engine: perTxn('engine'),
      storageNodes: perTxn('storageNodes'),
      clients: perTxn('clients'),
    },
  };
}

/** A TCP proxy that delays every chunk from the storage node to the engine by `delayMs`. */
async function delayingProxy(target: number, delayMs: number): Promise<{ port: number; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), delayMs));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', () => setTimeout(close, delayMs)).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  return { port: (server.address() as { port: number }).port, server };
}

/** Set from `--profile` in main(): every process withVolume() starts is profiled. */
let profileDir: string | undefined;
/** Set from `--engine-args` in main(): appended to every engine's flags. */
let extraEngineArgs: readonly string[] = [];
/** Set from `--storage-args` in main(): appended to every storage node's flags. */
let extraStorageArgs: readonly string[] = [];

async function withVolume<T>(
  name: string,
  options: { engineArgs?: string[]; proxied?: readonly ('s1' | 's2')[]; delayMs?: number },
  body: (engine: EngineProcess, fleet: StorageFleet) => Promise<T>,
): Promise<T> {
  const profileArgs = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const fleet = new StorageFleet(SEGMENT_SIZE_BYTES, profileArgs, GOSSIP_INTERVAL_MS, {
    storageArgs: extraStorageArgs,
  });
  await fleet.start();
  const proxies: Server[] = [];
  let storageFlag = fleet.storageFlag();
  for (const node of options.proxied ?? []) {
    const port = Number(new RegExp(`${node}=127\\.0\\.0\\.1:(\\d+)/`).exec(storageFlag)![1]);
    const proxy = await delayingProxy(port, options.delayMs ?? 20);
    proxies.push(proxy.server);
    storageFlag = storageFlag.replace(`${node}=127.0.0.1:${port}/`, `${node}=127.0.0.1:${proxy.port}/`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), `northlight-bench-${name}-`));
  const engine = await startEngine(fleet, {
    dataDir,
    storage: storageFlag,
    args: ['--cache-pages', '65536', ...(options.engineArgs ?? []), ...extraEngineArgs],
    nodeArgs: profileArgs,
  });
  try {
    return await body(engine, fleet);
  } finally {
    // A profiled engine must exit on its own to write its profile.
    engine.child.kill(profileDir === undefined ? 'SIGKILL' : 'SIGTERM');
    await engine.exited;
    for (const proxy of proxies) proxy.close();
    await fleet.stopAll(profileDir === undefined ? 'SIGKILL' : 'SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function betterSqlite3(config: Config, clients: number): Promise<Record<string, unknown>> {
  let Database:
    | (new (
        path: string,
      ) => {
        pragma(text: string): unknown;
        exec(text: string): void;
        prepare(text: string): { run(...params: unknown[]): unknown };
        transaction<T extends (...args: never[]) => unknown>(fn: T): T;
        close(): void;
      })
    | undefined;
  try {
    const name = 'better-sqlite3';
    Database = ((await import(name)) as { default: typeof Database }).default;
  } catch (error) {
    return {
      available: false,
      reason: `better-sqlite3 is not installed: ${(error as Error).message.split('\n')[0]}`,
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'northlight-bench-sqlite-'));
  try {
    const db = new Database!(join(directory, 'bench.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      'CREATE TABLE sbtest1 (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c TEXT NOT NULL, pad TEXT NOT NULL); CREATE INDEX k_1 ON sbtest1 (k)',
    );
    const next = seededRandom(1);
    const insert = db.prepare('INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= config.rows; id++)
        insert.run(id, Math.floor(next() * config.rows), digitGroups(next, 11), digitGroups(next, 5));
    })();
    const updateK = db.prepare('UPDATE sbtest1 SET k = k + 1 WHERE id = ?');
    const updateC = db.prepare('UPDATE sbtest1 SET c = ? WHERE id = ?');
    const remove = db.prepare('DELETE FROM sbtest1 WHERE id = ?');
    const txn = db.transaction((id: number) => {
      updateK.run(id);
      updateC.run(digitGroups(next, 11), 1 + Math.floor(next() * config.rows));
      remove.run(id);
      insert.run(id, Math.floor(next() * config.rows), digitGroups(next, 11), digitGroups(next, 5));
    });
    // One connection, transactions one after another: concurrency does not help one SQLite file.
    const endMs = performance.now() + config.durationMs;
    let committed = 0;
    const cpuBefore = cpuMs(process.pid);
    const startedMs = performance.now();
    while (performance.now() < endMs) {
      txn(1 + Math.floor(next() * config.rows));
      committed++;
    }
    db.close();
    return {
      available: true,
      clients,
      txnPerSecond: round(committed / ((performance.now() - startedMs) / 1000), 1),
      cpuMsPerTxn: round((cpuMs(process.pid) - cpuBefore) / Math.max(1, committed)),
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Rows of incompressible bytes per bulk transaction, and how many rows the filler table keeps. */
const FILLER_ROWS_PER_TXN = 200;
const FILLER_ROW_BYTES = 2_000;
const FILLER_ROWS_KEPT = 20_000;

/**
 * Bulk writers: each transaction inserts FILLER_ROWS_PER_TXN rows of random bytes and deletes the
 * oldest beyond FILLER_ROWS_KEPT, so redo piles up fast while the volume stays about 40 MB.
 */
async function bulkLoad(engine: EngineProcess, keepGoing: () => boolean, clients = 4): Promise<number> {
  const client = new SqlClient(engine, clients);
  let committed = 0;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (keepGoing()) {
          try {
            const answer = await client.execute(
              [
                {
                  sql:
                    'INSERT INTO filler (pad) SELECT randomblob(?) FROM ' +
                    '(WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) SELECT x FROM n)',
                  params: [FILLER_ROW_BYTES, FILLER_ROWS_PER_TXN],
                },
                {
                  sql: 'DELETE FROM filler WHERE id <= (SELECT max(id) FROM filler) - ?',
                  params: [FILLER_ROWS_KEPT],
                },
              ],
              120_000,
            );
            if (answer.status === 200) committed++;
          } catch {
            if (!keepGoing()) return;
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  return committed;
}

async function shippedBytes(engine: EngineProcess): Promise<number> {
  return ((await engineStatus(engine)).driver as unknown as { bytesSent: number }).bytesSent;
}

/**
 * Waits (at most `limitMs`) until every storage node has materialized what it holds (SCL minus
 * materialization point at most one step's worth of LSNs): the background work the load left behind
 * would otherwise compete with the recovery for the two cores, and how much is left depends on how
 * the load happened to end, not on how much log there is.
 */
async function storageSettled(fleet: StorageFleet, limitMs = 120_000): Promise<number> {
  const startedMs = performance.now();
  for (;;) {
    let behind = 0;
    for (const node of fleet.nodes.values()) {
      const status = (await (
        await fetch(`http://127.0.0.1:${node.adminPort}/v1/status`, { headers: INTERNAL_AUTH })
      ).json()) as {
        segments: { scl: string | number; materializedThrough: string | number }[];
      };
      for (const segment of status.segments)
        behind = Math.max(behind, Number(segment.scl) - Number(segment.materializedThrough));
    }
    if (behind <= 4_096 || performance.now() - startedMs > limitMs) return behind;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * For each amount of redo (one copy's bytes: what the engine shipped over six): bulk load until it
 * is reached, stop the load, let the storage nodes finish materializing, then kill -9 the engine,
 * restart it and read the recovery report. Recovery replays nothing, so its time should not grow
 * with the log. (Kill -9 in the middle of a load is the process test's business; here the question
 * is only the log's size.)
 */
async function recovery(config: Config): Promise<Record<string, Record<string, number | string>>> {
  return withVolume('recovery', {}, async (first, fleet) => {
    const create = await sql(first, 'CREATE TABLE filler (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)');
    if (create.status !== 200) throw new Error(`create: ${JSON.stringify(create.body)}`);
    let engine = first;
    const results: Record<string, Record<string, number | string>> = {};
    for (const megabytes of [...config.recoveryMb].sort((a, b) => a - b)) {
      const target = megabytes * 1_000_000 * 6;
      let shipped = await shippedBytes(engine);
      let lastProgressMs = performance.now();
      let reached = false;
      const load = bulkLoad(engine, () => !reached);
      while (shipped < target) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        shipped = await shippedBytes(engine);
        if (performance.now() - lastProgressMs > 10_000) {
          progress(`recovery: ${(shipped / 6 / 1e6).toFixed(1)} of ${megabytes} MB of redo`);
          lastProgressMs = performance.now();
        }
      }
      reached = true;
      await load;
      const behind = await storageSettled(fleet);
      engine.child.kill('SIGKILL');
      await engine.exited;
      engine = await startEngine(fleet, { dataDir: engine.dataDir, args: ['--cache-pages', '65536'] });
      const report = (await engineStatus(engine)).recovery! as unknown as Record<string, unknown>;
      results[`${megabytes}MB`] = {
        seconds: round((report.durationMs as number) / 1000, 4),
        redoMB: round(shipped / 6 / 1e6, 1),
        rereplicated: report.rereplicated as number,
        vdl: String(report.vdl),
        storageLsnsNotMaterializedAtKill: behind,
      };
      progress(
        `recovery after ${(shipped / 6 / 1e6).toFixed(1)} MB of redo: ${(report.durationMs as number).toFixed(1)} ms`,
      );
    }
    const check = await sql(engine, 'PRAGMA integrity_check', { readOnly: true, timeoutMs: 120_000 });
    if (JSON.stringify(check.body.results?.[0]?.rows) !== '[["ok"]]')
      throw new Error(`integrity check after recovery: ${JSON.stringify(check.body)}`);
    engine.child.kill('SIGKILL');
    await engine.exited;
    return results;
  });
}

async function main(): Promise<void> {
  const config = parse(process.argv.slice(2));
  if (config.only !== undefined && config.only !== 'redo')
    throw new Error(`--only takes "redo", not ${JSON.stringify(config.only)}`);
  profileDir = config.profileDir;
  extraEngineArgs = config.engineArgs;
  extraStorageArgs = config.storageArgs;
  const startedMs = performance.now();
  // The baseline first, on a quiet machine (after the other sections, the disk is still writing back
  // what they left and its fsyncs are slower), three rounds, the median taken.
  const baselineRounds: Record<string, unknown>[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const result = await betterSqlite3(config, 1);
    progress(`better-sqlite3, round ${attempt}: ${JSON.stringify(result)}`);
    baselineRounds.push(result);
    if (result.available !== true) break;
  }
  const baseline: Record<string, unknown> =
    baselineRounds[0]!.available === true
      ? {
          available: true,
          clients: 1,
          txnPerSecond: median(baselineRounds.map((result) => result.txnPerSecond as number)),
          cpuMsPerTxn: median(baselineRounds.map((result) => result.cpuMsPerTxn as number)),
          rounds: baselineRounds.map((result) => result.txnPerSecond),
        }
      : baselineRounds[0]!;
  const modes: Record<string, RunFigures[]> = {};
  const sections = [
    ['redo', []],
    ['fullPages', ['--ship-full-pages', 'true']],
  ] as const;
  for (const [mode, args] of config.only === 'redo' ? sections.slice(0, 1) : sections) {
    modes[mode] = await withVolume(mode, { engineArgs: [...args] }, async (engine, fleet) => {
      progress(`${mode}: loading ${config.rows} rows`);
      await prepare(engine, config.rows);
      const runs: RunFigures[] = [];
      for (const clients of config.clients) {
        const figures = await measured(engine, fleet, config.rows, clients, config.durationMs, config.rounds);
        progress(`${mode}, ${clients} client(s): ${JSON.stringify(figures)}`);
        runs.push(figures);
      }
      return runs;
    });
  }
  const most = Math.max(...config.clients);
  if (config.only === 'redo') {
    process.stdout.write(
      `${JSON.stringify({ benchmark: 'db-engine-write-only', only: 'redo', modes, betterSqlite3: baseline }, null, 2)}\n`,
    );
    return;
  }
  const jitter: Record<string, RunFigures> = {};
  for (const writeQuorum of [4, 6]) {
    jitter[`${writeQuorum}of6`] = await withVolume(
      `jitter-${writeQuorum}`,
      { proxied: ['s1', 's2'], delayMs: 20, engineArgs: ['--write-quorum', String(writeQuorum)] },
      async (engine, fleet) => {
        await prepare(engine, config.rows);
        const figures = await measured(engine, fleet, config.rows, most, config.durationMs, config.rounds);
        progress(
          `jitter (s1, s2 +20 ms), write quorum ${writeQuorum}/6, ${most} clients: ${JSON.stringify(figures)}`,
        );
        return figures;
      },
    );
  }
  const recoverySeconds = config.recovery ? await recovery(config) : {};
  const redoAtMost = modes.redo!.find((run) => run.clients === most)!;
  const fullAtMost = modes.fullPages!.find((run) => run.clients === most)!;
  const [smallest, largest] = [Math.min(...config.recoveryMb), Math.max(...config.recoveryMb)];
  const ratios = {
    bytesPerTxnPageShippingOverRedo: round(fullAtMost.bytesPerTxn / redoAtMost.bytesPerTxn),
    txnPerSecOverBetterSqlite3Full:
      baseline.available === true ? round(redoAtMost.txnPerSecond / (baseline.txnPerSecond as number)) : null,
    commitP99JitterOverNoFault: round(jitter['4of6']!.commitP99Ms / redoAtMost.commitP99Ms),
    commitP99Jitter6of6OverNoFault: round(jitter['6of6']!.commitP99Ms / redoAtMost.commitP99Ms),
    [`recoverySeconds${largest}MBOver${smallest}MB`]:
      config.recovery && (recoverySeconds[`${smallest}MB`]?.seconds as number) > 0
        ? round(
            (recoverySeconds[`${largest}MB`]!.seconds as number) /
              (recoverySeconds[`${smallest}MB`]!.seconds as number),
          )
        : null,
  };
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'db-engine-write-only',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
        config: {
          ...config,
          segmentSizeBytes: SEGMENT_SIZE_BYTES,
          transport:
            'HTTP API, keep-alive connections (one per client); six storage-node processes on loopback',
          gossipIntervalMs: GOSSIP_INTERVAL_MS,
        },
        modes,
        jitter: { delayedNodes: ['s1', 's2'], delayMs: 20, clients: most, ...jitter },
        betterSqlite3: baseline,
        recoverySeconds,
        seconds: round((performance.now() - startedMs) / 1000, 1),
        ratios,
      },
      null,
      2,
    )}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
