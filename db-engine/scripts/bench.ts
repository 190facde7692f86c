/**
 * The engine's benchmark (issue 4): a sysbench-oltp_write_only-like mix through the real engine
 * process over six real storage-node processes on loopback, its SQL over the HTTP API.
 *
 *   npm run bench -w @northlight/db-engine -- [--rows 100000] [--duration-ms 10000] [--clients 1,32]
 *                                             [--recovery-mb 50,500] [--no-recovery]
 *
 * Sections, each on a fresh volume:
 *  - redo / full-pages: the same engine shipping page diffs, then whole pages (a traditional engine
 *    on replicated block storage: `--ship-full-pages true`), at each client count: txn/s, commit
 *    latency p50/p99, network bytes and append batches per transaction (counted by the engine);
 *  - jitter: redo, the largest client count, two of the six storage nodes answering 20 ms late
 *    (a delaying TCP proxy in front of each): commit p99 against the no-fault p99;
 *  - better-sqlite3 12.x in WAL mode with synchronous=FULL on local disk, if installed;
 *  - recovery: kill -9 of the engine after each amount of redo (one copy's bytes), restart, and the
 *    recovery time the engine reports.
 * A transaction is one request of four statements: UPDATE k=k+1, UPDATE c, DELETE, INSERT of the id
 * deleted (ids uniform over the table). JSON on stdout, progress on stderr. Not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EngineProcess,
  engineStatus,
  StorageFleet,
  sql,
  startEngine,
} from '../test/support/engine-rig.js';
import { digitGroups, seededRandom } from '../test/support/seeded.js';

interface Config {
  readonly rows: number;
  readonly durationMs: number;
  readonly clients: readonly number[];
  readonly recoveryMb: readonly number[];
  readonly recovery: boolean;
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
  };
  for (const number of [config.rows, config.durationMs, ...config.clients, ...config.recoveryMb])
    if (!Number.isSafeInteger(number) || number <= 0)
      throw new Error(`bad option value in ${argv.join(' ')}`);
  return config;
}

const SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
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
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** Closed-loop clients running the write-only mix until `untilMs` (or forever, while `keepGoing`). */
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
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (keepGoing()) {
        const id = 1 + Math.floor(next() * rows);
        const startedMs = performance.now();
        try {
          const answer = await sql(engine, [
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
  return { latencies, committed: latencies.length, failed };
}

async function measured(
  engine: EngineProcess,
  rows: number,
  clients: number,
  durationMs: number,
): Promise<RunFigures> {
  const warmupEndMs = performance.now() + Math.min(2_000, durationMs / 5);
  await writeOnly(engine, rows, clients, () => performance.now() < warmupEndMs, 7 + clients);
  const before = (await engineStatus(engine)).driver as unknown as { bytesSent: number; batchesSent: number };
  const startedMs = performance.now();
  const endMs = startedMs + durationMs;
  const run = await writeOnly(engine, rows, clients, () => performance.now() < endMs, 11 + clients);
  const seconds = (performance.now() - startedMs) / 1000;
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

async function withVolume<T>(
  name: string,
  options: { engineArgs?: string[]; proxied?: readonly ('s1' | 's2')[]; delayMs?: number },
  body: (engine: EngineProcess, fleet: StorageFleet) => Promise<T>,
): Promise<T> {
  const fleet = new StorageFleet(SEGMENT_SIZE_BYTES);
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
    args: ['--cache-pages', '65536', ...(options.engineArgs ?? [])],
  });
  try {
    return await body(engine, fleet);
  } finally {
    engine.child.kill('SIGKILL');
    await engine.exited;
    for (const proxy of proxies) proxy.close();
    await fleet.stopAll();
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
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

async function recovery(config: Config): Promise<Record<string, number>> {
  return withVolume('recovery', {}, async (first, fleet) => {
    await prepare(first, config.rows);
    let engine = first;
    const results: Record<string, number> = {};
    for (const megabytes of [...config.recoveryMb].sort((a, b) => a - b)) {
      // Redo of one copy: the engine's shipped bytes over the six copies.
      const target = megabytes * 1_000_000 * 6;
      let shipped = ((await engineStatus(engine)).driver as unknown as { bytesSent: number }).bytesSent;
      let lastProgress = performance.now();
      while (shipped < target) {
        const chunkEndMs = performance.now() + 2_000;
        await writeOnly(engine, config.rows, 32, () => performance.now() < chunkEndMs, shipped);
        shipped = ((await engineStatus(engine)).driver as unknown as { bytesSent: number }).bytesSent;
        if (performance.now() - lastProgress > 10_000) {
          progress(`recovery: ${(shipped / 6 / 1e6).toFixed(1)} of ${megabytes} MB of redo`);
          lastProgress = performance.now();
        }
      }
      engine.child.kill('SIGKILL');
      await engine.exited;
      engine = await startEngine(fleet, { dataDir: engine.dataDir, args: ['--cache-pages', '65536'] });
      const report = (await engineStatus(engine)).recovery!;
      results[`${megabytes}MB`] = round(report.durationMs / 1000, 4);
      progress(`recovery after ${megabytes} MB of redo: ${report.durationMs.toFixed(1)} ms`);
    }
    engine.child.kill('SIGKILL');
    await engine.exited;
    return results;
  });
}

async function main(): Promise<void> {
  const config = parse(process.argv.slice(2));
  const startedMs = performance.now();
  const modes: Record<string, RunFigures[]> = {};
  for (const [mode, args] of [
    ['redo', []],
    ['fullPages', ['--ship-full-pages', 'true']],
  ] as const) {
    modes[mode] = await withVolume(mode, { engineArgs: [...args] }, async (engine) => {
      progress(`${mode}: loading ${config.rows} rows`);
      await prepare(engine, config.rows);
      const runs: RunFigures[] = [];
      for (const clients of config.clients) {
        const figures = await measured(engine, config.rows, clients, config.durationMs);
        progress(`${mode}, ${clients} client(s): ${JSON.stringify(figures)}`);
        runs.push(figures);
      }
      return runs;
    });
  }
  const most = Math.max(...config.clients);
  const jitter = await withVolume('jitter', { proxied: ['s1', 's2'], delayMs: 20 }, async (engine) => {
    await prepare(engine, config.rows);
    const figures = await measured(engine, config.rows, most, config.durationMs);
    progress(`jitter (s1, s2 +20 ms), ${most} clients: ${JSON.stringify(figures)}`);
    return figures;
  });
  const baseline = await betterSqlite3(config, 1);
  progress(`better-sqlite3: ${JSON.stringify(baseline)}`);
  const recoverySeconds = config.recovery ? await recovery(config) : {};
  const redoAtMost = modes.redo!.find((run) => run.clients === most)!;
  const fullAtMost = modes.fullPages!.find((run) => run.clients === most)!;
  const [smallest, largest] = [Math.min(...config.recoveryMb), Math.max(...config.recoveryMb)];
  const ratios = {
    bytesPerTxnPageShippingOverRedo: round(fullAtMost.bytesPerTxn / redoAtMost.bytesPerTxn),
    txnPerSecOverBetterSqlite3Full:
      baseline.available === true ? round(redoAtMost.txnPerSecond / (baseline.txnPerSecond as number)) : null,
    commitP99JitterOverNoFault: round(jitter.commitP99Ms / redoAtMost.commitP99Ms),
    [`recoverySeconds${largest}MBOver${smallest}MB`]:
      config.recovery && recoverySeconds[`${smallest}MB`]! > 0
        ? round(recoverySeconds[`${largest}MB`]! / recoverySeconds[`${smallest}MB`]!)
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
          transport: 'HTTP API; six storage-node processes on loopback',
        },
        modes,
        jitter: { delayedNodes: ['s1', 's2'], delayMs: 20, ...jitter },
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
