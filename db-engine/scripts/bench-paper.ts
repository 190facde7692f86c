/**
 * The shape of the Aurora paper's §6 experiments on this one machine (issue 8), northlight side by
 * side with PostgreSQL 15 and a synchronous streaming standby (the "mirrored" baseline), both driven
 * by an unmodified sysbench 1.0.20 `oltp_write_only` over the PostgreSQL wire protocol:
 *
 *  - Table 1 analogue: I/Os per transaction at the database node (network messages to the durable
 *    copies + fsyncs), network bytes and bytes per durable copy, at 32 connections;
 *  - Tables 2/3 analogue: writes/s at 1, 8, 32 and 128 connections;
 *  - Table 4 analogue: replica lag while sysbench runs at fixed write rates.
 *
 *   npm run bench:paper [-- --quick] [--only postgres|northlight] [--time-s 30] [--repeats 3]
 *                       [--threads 1,8,32,128] [--table-size 10000]
 *                       [--lag-writes-per-sec 100,1000,2000,5000,10000] [--lag-time-s 20] [--probe-rate 100]
 *                       [--no-write]
 *                       [--transactions optimistic|serial]   (northlight's --pg-transactions; optimistic)
 *   npm run bench:paper -- --from-json report.json   (re-renders docs/ from a saved report, no run)
 *
 * Each system is a `PaperTarget` (support/paper-target.ts): PostgreSQL endpoints plus the counters of
 * its database node, read from the kernel (ss, perf, /proc) and the database's own statistics. Every
 * measured run starts from a fresh sysbench table (cleanup, prepare, then the target's settle step).
 * Figures are medians over `--repeats` runs; every run is kept in the JSON.
 *
 * Output: progress on stderr; the JSON report on stdout and in docs/benchmarks.json; the Markdown page
 * in docs/benchmarks.md (both skipped with --no-write). Exit code 0; 2 when a requested system could
 * not be measured (the reason is in the report: e.g. NL_BENCH_PGWIRE_MISSING while the engine has no
 * wire-protocol listener); 1 on any other failure. Not a test.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../storage-node/test/support/process-rig.js';
import { type LagAtRate, measureLagAtRates } from './support/paper-lag.js';
import { type PaperReport, type RunSettings, renderMarkdown } from './support/paper-markdown.js';
import {
  killNorthlightSync,
  type NorthlightTransactions,
  PgWireMissingError,
  startNorthlightTarget,
} from './support/paper-northlight.js';
import { startPostgresTarget } from './support/paper-postgres.js';
import {
  perTxn,
  type RunRecord,
  ratiosAndGoals,
  type SideReport,
  sideReport,
} from './support/paper-report.js';
import {
  killSysbench,
  type SysbenchTable,
  sysbenchFreshTable,
  sysbenchRun,
} from './support/paper-sysbench.js';
import { killPerf, MissingToolError, type PaperTarget } from './support/paper-target.js';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Config extends RunSettings {
  readonly systems: readonly ('northlight' | 'postgres')[];
  readonly write: boolean;
  /** Re-render docs/ from this saved report instead of running. */
  readonly fromJson: string | undefined;
  readonly transactions: NorthlightTransactions;
}

/** Full runs as documented in docs/benchmarks.md; --quick for a smoke check (figures not to quote). */
/**
 * Lag rates: the paper's 1,000 to 10,000 writes/s, and 100, a rate that both systems sustain on this
 * machine (northlight's one SQL writer tops out at a few hundred writes/s of sysbench here): a lag
 * measured past saturation is the queue's, not the replica's.
 */
const FULL = { timeS: 30, repeats: 3, lagWritesPerSec: '100,1000,2000,5000,10000', lagTimeS: 20 } as const;
const QUICK = { timeS: 5, repeats: 1, lagWritesPerSec: '100,1000', lagTimeS: 8 } as const;
/** Largest values accepted: a typo must not start a run of hours or thousands of connections. */
const TIME_S_MAX = 3_600;
const REPEATS_MAX = 20;
const THREADS_MAX = 1_024;

function parseArguments(argv: readonly string[]): Config {
  const known = new Set([
    '--quick',
    '--no-write',
    '--only',
    '--time-s',
    '--repeats',
    '--threads',
    '--table-size',
    '--lag-writes-per-sec',
    '--lag-time-s',
    '--probe-rate',
    '--from-json',
    '--transactions',
  ]);
  for (const argument of argv)
    if (argument.startsWith('--') && !known.has(argument)) throw new Error(`unknown option ${argument}`);
  const value = (name: string) => {
    const index = argv.indexOf(`--${name}`);
    return index === -1 ? undefined : argv[index + 1];
  };
  const quick = argv.includes('--quick');
  const defaults = quick ? QUICK : FULL;
  const only = value('only');
  if (only !== undefined && only !== 'northlight' && only !== 'postgres')
    throw new Error(`--only takes northlight or postgres, not ${only}`);
  const list = (text: string) => text.split(',').map(Number);
  const config: Config = {
    quick,
    systems: only === undefined ? ['northlight', 'postgres'] : [only],
    timeS: Number(value('time-s') ?? defaults.timeS),
    repeats: Number(value('repeats') ?? defaults.repeats),
    threads: list(value('threads') ?? '1,8,32,128'),
    tableSize: Number(value('table-size') ?? 10_000),
    lagWritesPerSec: list(value('lag-writes-per-sec') ?? defaults.lagWritesPerSec),
    lagTimeS: Number(value('lag-time-s') ?? defaults.lagTimeS),
    probeRate: Number(value('probe-rate') ?? 100),
    write: !argv.includes('--no-write'),
    fromJson: value('from-json'),
    transactions: value('transactions') === 'serial' ? 'serial' : 'optimistic',
  };
  const transactions = value('transactions');
  if (transactions !== undefined && transactions !== 'serial' && transactions !== 'optimistic')
    throw new Error(`--transactions takes serial or optimistic, not ${transactions}`);
  const positive = (name: string, number: number, max: number) => {
    if (!Number.isSafeInteger(number) || number <= 0 || number > max)
      throw new Error(`${name} must be an integer in 1..${max}, not ${number}`);
  };
  positive('--time-s', config.timeS, TIME_S_MAX);
  positive('--lag-time-s', config.lagTimeS, TIME_S_MAX);
  positive('--repeats', config.repeats, REPEATS_MAX);
  positive('--table-size', config.tableSize, 100_000_000);
  positive('--probe-rate', config.probeRate, 100_000);
  for (const threads of config.threads) positive('--threads', threads, THREADS_MAX);
  for (const rate of config.lagWritesPerSec) positive('--lag-writes-per-sec', rate, 1_000_000);
  return config;
}

function progress(text: string): void {
  process.stderr.write(`bench-paper: ${text}\n`);
}

/** One measured sysbench run: fresh table, settle, counters around the run. */
async function measuredRun(
  target: PaperTarget,
  table: SysbenchTable,
  threads: number,
  timeS: number,
): Promise<RunRecord> {
  await sysbenchFreshTable(target.writer, table);
  await target.settle();
  const measurement = await target.begin();
  let sysbench: Awaited<ReturnType<typeof sysbenchRun>>;
  try {
    sysbench = await sysbenchRun(target.writer, table, { threads, timeS });
  } catch (error) {
    await measurement.end().catch(() => {}); // stops the counters (perf) before the error goes up
    throw error;
  }
  const counters = await measurement.end();
  return {
    threads,
    loadAverage1mAfter: Math.round(loadavg()[0]! * 100) / 100,
    sysbench,
    counters,
    perTxn: perTxn(counters, sysbench.transactions, target.durableCopiesOverNetwork),
  };
}

async function measure(target: PaperTarget, config: Config): Promise<SideReport> {
  const table: SysbenchTable = { tables: 1, tableSize: config.tableSize };
  const version = await target.version();
  progress(`${target.system}: ${version}`);
  const runs: RunRecord[] = [];
  for (const threads of config.threads)
    for (let repeat = 1; repeat <= config.repeats; repeat++) {
      progress(
        `${target.system}: ${threads} connections, run ${repeat}/${config.repeats}, ${config.timeS} s`,
      );
      const run = await measuredRun(target, table, threads, config.timeS);
      progress(
        `${target.system}: ${run.sysbench.writesPerSec.toFixed(0)} writes/s, ${run.sysbench.transactions} transactions, p95 ${run.sysbench.latencyP95Ms} ms, load ${run.loadAverage1mAfter}, I/Os per transaction ${run.perTxn.ios.toFixed(3)} (messages ${run.perTxn.networkMessages.toFixed(3)} + fsyncs ${run.perTxn.fsyncs.toFixed(3)}), ${run.perTxn.networkBytes.toFixed(0)} network bytes per transaction`,
      );
      runs.push(run);
    }
  const lag: LagAtRate[] = await measureLagAtRates(target, table, {
    writesPerSec: config.lagWritesPerSec,
    timeS: config.lagTimeS,
    probeRate: config.probeRate,
    beforeRun: async () => {
      await sysbenchFreshTable(target.writer, table);
      await target.settle();
    },
    onRun: (result) =>
      progress(
        `${target.system}: lag at ${result.targetWritesPerSec} writes/s: sysbench ${result.sysbench.writesPerSec.toFixed(0)} writes/s, probe ${result.probe.achievedRate.toFixed(0)}/s, lag p50 ${result.probe.lagP50Ms.toFixed(2)} ms p99 ${result.probe.lagP99Ms.toFixed(2)} ms max ${result.probe.lagMaxMs.toFixed(2)} ms, ${result.probe.unseen} unseen`,
      ),
  });
  return sideReport(target, version, runs, lag);
}

/** Starts a system, measures it, stops it; a system that cannot run yet is reported, not faked. */
async function runSystem(system: 'northlight' | 'postgres', config: Config): Promise<SideReport> {
  progress(`${system}: starting`);
  let target: PaperTarget;
  try {
    target =
      system === 'postgres'
        ? await startPostgresTarget()
        : await startNorthlightTarget(() => freePorts(2), config.transactions);
  } catch (error) {
    if (error instanceof PgWireMissingError || error instanceof MissingToolError) {
      progress(`${system}: NOT MEASURED: ${error.code}: ${error.message}`);
      return {
        measured: false,
        iosPerTxn32: null,
        reason: {
          code: error.code,
          message: error.message,
          ...(error instanceof PgWireMissingError ? { missing: error.missing } : {}),
        },
      };
    }
    throw error;
  }
  try {
    return await measure(target, config);
  } finally {
    progress(`${system}: stopping`);
    await target.stop();
  }
}

/** Kills what is left when the process ends early (Ctrl-C, a crash): sysbench, perf, northlight. */
function registerExitCleanup(): void {
  const cleanup = () => {
    killSysbench();
    killPerf();
    killNorthlightSync();
  };
  // Registered before postgres-pair's own handler, so sysbench is gone before the servers stop.
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      progress(`${signal}: stopping every process`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
}

function writeDocs(report: PaperReport): void {
  const jsonFile = join(repositoryRoot, 'docs', 'benchmarks.json');
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  // `npm run lint` checks JSON formatting too: let the repository's own formatter lay it out.
  try {
    execFileSync(join(repositoryRoot, 'node_modules', '.bin', 'biome'), ['format', '--write', jsonFile], {
      cwd: repositoryRoot,
      stdio: 'ignore',
    });
  } catch (error) {
    progress(`could not format docs/benchmarks.json with biome (run \`npm run format\`): ${error}`);
  }
  writeFileSync(join(repositoryRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
  progress('wrote docs/benchmarks.json and docs/benchmarks.md');
}

async function main(): Promise<number> {
  const config = parseArguments(process.argv.slice(2));
  if (config.fromJson !== undefined) {
    writeDocs(JSON.parse(readFileSync(config.fromJson, 'utf8')) as PaperReport);
    return 0;
  }
  registerExitCleanup();
  const loadAverageAtStart = loadavg().map((load) => Math.round(load * 100) / 100);
  const sides: Record<'northlight' | 'postgres', SideReport | null> = { northlight: null, postgres: null };
  // northlight first: when its wire protocol is missing it fails within seconds, before the long runs.
  for (const system of config.systems) sides[system] = await runSystem(system, config);
  const { ratios, goals } = ratiosAndGoals(sides.postgres, sides.northlight);
  const report: PaperReport = {
    benchmark: 'aurora-paper-section-6',
    date: new Date().toISOString(),
    command: `npm run bench:paper${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAverageAtStart,
    },
    config: {
      quick: config.quick,
      timeS: config.timeS,
      repeats: config.repeats,
      threads: config.threads,
      tableSize: config.tableSize,
      lagWritesPerSec: config.lagWritesPerSec,
      lagTimeS: config.lagTimeS,
      probeRate: config.probeRate,
    },
    postgres: sides.postgres,
    northlight: sides.northlight,
    ratios,
    goals,
  };
  const json = `${JSON.stringify(report, null, 1)}\n`;
  process.stdout.write(json);
  if (config.write) writeDocs(report);
  for (const goal of goals)
    progress(
      `goal: ${goal.goal}: ${goal.pass === null ? 'not measured' : goal.pass ? 'pass' : 'FAIL'} (${goal.figure} vs ${goal.threshold})`,
    );
  return Object.values(sides).some((side) => side?.measured === false) ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    progress(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
