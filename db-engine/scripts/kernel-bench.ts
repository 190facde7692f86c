/**
 * The SQL kernel's benchmark: a sysbench `oltp_write_only`-like mix (engine-feasibility Q4), through
 * `KernelHost` (worker thread, redo VFS, message protocol), with storage taken out of the picture: the
 * page source is in memory and the group sink assigns LSNs and advances the VDL at once. The cache is
 * big enough for the whole database, so the run measures the kernel, not page misses (checked).
 *
 * Per transaction: UPDATE k=k+1 WHERE id=?; UPDATE c=? WHERE id=?; DELETE WHERE id=?; INSERT reusing
 * the deleted id. Table sbtest1 with index k_1, 100 000 rows; 10 000 transactions, ids uniform random
 * from a seeded generator. Each configuration runs 3 times on a fresh database; medians are printed.
 *
 * Configurations: `host-sequential` (one request in flight: the latency-bound case), `host-pipelined`
 * (32 in flight, as with many clients), and `in-thread-session` (the same SQL session without the
 * worker and messages: the ceiling the host's plumbing is measured against).
 *
 * Usage: tsx db-engine/scripts/kernel-bench.ts [--rows N] [--transactions N] [--runs N] [--only NAME]
 *        [--sqlite-cache-pages N]   SQLite's own page cache (default 500, the kernel's default; the
 *                                   feasibility study ran with 64 MiB, i.e. 16384, which holds the DB)
 * Prints one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { asLsn, MIN_REDO_RECORD_BYTES, REDO_RUN_HEADER_BYTES } from '@northlight/protocol';
import { KernelHost } from '../src/kernel/kernel-host.js';
import type { ExecuteReply, ExecuteRequest, SealedGroup } from '../src/kernel/messages.js';
import { PAGE_SIZE_BYTES, type PageGroup } from '../src/kernel/redo-vfs.js';
import { SqlSession } from '../src/kernel/sql-session.js';
import { digitGroups, seededRandom } from '../test/support/seeded.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    transactions: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    only: { type: 'string' },
    'sqlite-cache-pages': { type: 'string', default: '500' },
  },
});
const ROWS = Number(values.rows);
const TRANSACTIONS = Number(values.transactions);
const RUNS = Number(values.runs);
const SQLITE_CACHE_PAGES = Number(values['sqlite-cache-pages']);
const PIPELINE_DEPTH = 32;
const LOAD_BATCH_ROWS = 1000;
const CACHE_PAGES = 32_768;

function schemaAndLoad(): ExecuteRequest[] {
  const next = seededRandom(1);
  const requests: ExecuteRequest[] = [
    {
      statements: [
        {
          sql:
            "CREATE TABLE sbtest1(id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', " +
            "pad CHAR(60) NOT NULL DEFAULT '')",
        },
      ],
    },
  ];
  for (let first = 1; first <= ROWS; first += LOAD_BATCH_ROWS) {
    const statements = [];
    for (let id = first; id < Math.min(first + LOAD_BATCH_ROWS, ROWS + 1); id++) {
      statements.push({
        sql: 'INSERT INTO sbtest1(id, k, c, pad) VALUES (?, ?, ?, ?)',
        params: [id, Math.floor(next() * ROWS) + 1, digitGroups(next, 11), digitGroups(next, 5)],
      });
    }
    requests.push({ statements });
  }
  requests.push({ statements: [{ sql: 'CREATE INDEX k_1 ON sbtest1(k)' }] });
  return requests;
}

function transactions(): ExecuteRequest[] {
  const next = seededRandom(2);
  const id = () => Math.floor(next() * ROWS) + 1;
  return Array.from({ length: TRANSACTIONS }, () => {
    const deleted = id();
    return {
      statements: [
        { sql: 'UPDATE sbtest1 SET k = k + 1 WHERE id = ?', params: [id()] },
        { sql: 'UPDATE sbtest1 SET c = ? WHERE id = ?', params: [digitGroups(next, 11), id()] },
        { sql: 'DELETE FROM sbtest1 WHERE id = ?', params: [deleted] },
        {
          sql: 'INSERT INTO sbtest1(id, k, c, pad) VALUES (?, ?, ?, ?)',
          params: [deleted, id(), digitGroups(next, 11), digitGroups(next, 5)],
        },
      ],
    };
  });
}

/** Redo volume of the measured transactions, from the groups they sealed. */
class RedoTally {
  groups = 0;
  records = 0;
  runs = 0;
  payloadBytes = 0;

  add(group: SealedGroup | PageGroup): void {
    this.groups++;
    this.records += group.records.length;
    for (const record of group.records) {
      this.runs += record.runs.length;
      for (const run of record.runs) this.payloadBytes += run.bytes.length;
    }
  }
}

interface RunResult {
  readonly transactionsPerSecond: number;
  readonly tally: RedoTally;
}

function check(reply: ExecuteReply): void {
  if (!reply.ok) throw new Error(`benchmark request failed: ${reply.error.sqlstate} ${reply.error.message}`);
}

async function runHost(depth: number): Promise<RunResult> {
  let tally: RedoTally | undefined;
  let lsn = 0n;
  let host: KernelHost | undefined;
  // The no-op sink: LSNs at once, VDL at once. Nothing is stored: the cache must never miss (checked).
  host = await KernelHost.start({
    pageSource: async () => new Uint8Array(PAGE_SIZE_BYTES),
    cachePages: CACHE_PAGES,
    sqliteCachePages: SQLITE_CACHE_PAGES,
    pageReadTimeoutMs: 10_000,
    onGroup: (group) => {
      tally?.add(group);
      const lsns = group.records.map(() => asLsn(++lsn));
      host!.assignLsns(group.seq, lsns);
      host!.setVdl(asLsn(lsn));
    },
  });
  try {
    for (const request of schemaAndLoad()) check(await host.execute(request));
    const work = transactions();
    tally = new RedoTally();
    const started = performance.now();
    let nextIndex = 0;
    const lane = async () => {
      while (nextIndex < work.length) check(await host!.execute(work[nextIndex++]!));
    };
    await Promise.all(Array.from({ length: depth }, lane));
    const elapsedMs = performance.now() - started;
    const stats = await host.stats();
    if (stats.pagesReadFromSource !== 1 || stats.cache.evictions !== 0 || stats.writesOutsideBracket !== 0) {
      throw new Error(`the run was not storage-free: ${JSON.stringify(stats)}`);
    }
    return { transactionsPerSecond: (TRANSACTIONS * 1000) / elapsedMs, tally };
  } finally {
    await host.close();
  }
}

async function runInThread(): Promise<RunResult> {
  let tally: RedoTally | undefined;
  const sealedRecords = new Map<number, number>();
  const session = await SqlSession.open({
    pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
    sink: {
      seal: (group) => {
        tally?.add(group);
        sealedRecords.set(group.seq, group.records.length);
        return 'ok';
      },
    },
    cachePages: CACHE_PAGES,
    sqliteCachePages: SQLITE_CACHE_PAGES,
  });
  let lsn = 0n;
  // The no-op sink's other half, after each commit: LSNs at once, VDL at once.
  const execute = (request: ExecuteRequest) => {
    const reply = session.execute(request);
    check(reply);
    if (reply.ok && reply.groupSeq !== undefined) {
      const lsns = Array.from({ length: sealedRecords.get(reply.groupSeq)! }, () => ++lsn);
      sealedRecords.delete(reply.groupSeq);
      session.assignLsns(reply.groupSeq, lsns);
      session.setVdl(lsn);
    }
  };
  for (const request of schemaAndLoad()) execute(request);
  const work = transactions();
  tally = new RedoTally();
  const started = performance.now();
  for (const request of work) execute(request);
  const elapsedMs = performance.now() - started;
  const stats = session.stats();
  session.close();
  if (stats.pagesReadFromSource !== 1 || stats.cache.evictions !== 0 || stats.writesOutsideBracket !== 0) {
    throw new Error(`the run was not storage-free: ${JSON.stringify(stats)}`);
  }
  return { transactionsPerSecond: (TRANSACTIONS * 1000) / elapsedMs, tally };
}

function median(numbers: readonly number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function perTransaction(tally: RedoTally) {
  const encodedBytes =
    tally.records * MIN_REDO_RECORD_BYTES + tally.runs * REDO_RUN_HEADER_BYTES + tally.payloadBytes;
  const fullPageBytes = tally.records * PAGE_SIZE_BYTES;
  return {
    groups: tally.groups / TRANSACTIONS,
    pagesWritten: tally.records / TRANSACTIONS,
    runs: tally.runs / TRANSACTIONS,
    diffPayloadBytes: tally.payloadBytes / TRANSACTIONS,
    redoRecordBytes: encodedBytes / TRANSACTIONS,
    fullPageBytes: fullPageBytes / TRANSACTIONS,
    ratioFullPagesToRedoRecords: fullPageBytes / encodedBytes,
    ratioFullPagesToDiffPayload: fullPageBytes / tally.payloadBytes,
  };
}

async function measure(name: string, run: () => Promise<RunResult>) {
  const results: RunResult[] = [];
  for (let index = 0; index < RUNS; index++) results.push(await run());
  const tps = results.map((result) => result.transactionsPerSecond);
  const medianTps = median(tps);
  return {
    name,
    transactionsPerSecond: Math.round(medianTps),
    microsecondsPerTransaction: Math.round((1e6 / medianTps) * 10) / 10,
    runs: tps.map(Math.round),
    perTransaction: perTransaction(results[0]!.tally),
  };
}

const runners: Record<string, () => Promise<RunResult>> = {
  'host-sequential': () => runHost(1),
  'host-pipelined': () => runHost(PIPELINE_DEPTH),
  'in-thread-session': runInThread,
};

/**
 * Each configuration runs in a process of its own: run one after another in one process, the later
 * ones measured up to 2× slower (the heap and JIT state the earlier ones leave behind).
 */
function inChildProcess(name: string): unknown {
  const args = ['--rows', String(ROWS), '--transactions', String(TRANSACTIONS), '--runs', String(RUNS)];
  args.push('--sqlite-cache-pages', String(SQLITE_CACHE_PAGES));
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...process.execArgv, script, ...args, '--only', name], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`benchmark ${name} failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

if (values.only !== undefined) {
  const run = runners[values.only];
  if (run === undefined)
    throw new Error(`unknown configuration ${values.only}: one of ${Object.keys(runners)}`);
  console.log(JSON.stringify(await measure(values.only, run)));
} else {
  const configurations = Object.keys(runners).map(inChildProcess);
  console.log(
    JSON.stringify(
      {
        benchmark: 'kernel sysbench-write-only-like',
        node: process.version,
        rows: ROWS,
        transactions: TRANSACTIONS,
        runsPerConfiguration: RUNS,
        pipelineDepth: PIPELINE_DEPTH,
        sqliteCachePages: SQLITE_CACHE_PAGES,
        configurations,
      },
      null,
      2,
    ),
  );
}
