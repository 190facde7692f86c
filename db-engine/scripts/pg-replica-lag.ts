/**
 * Replica visibility lag of PostgreSQL 15 asynchronous streaming replication (issue 5), the baseline
 * for northlight's replicas: write→visible on the standby, p50/p99 per write rate, measured by the
 * shared harness (support/lag-harness.ts) that measures northlight the same way.
 *
 *   npm run bench:replica:postgres -w @northlight/db-engine -- [--rates 1000,2000,5000,10000]
 *       [--duration-ms 10000] [--warmup-ms 1000] [--writers 64]
 *
 * One primary and one asynchronous hot standby on loopback (support/postgres-pair.ts), fresh for this
 * run; for each rate the table is emptied, then an open-loop load of single-row INSERT commits runs on
 * the primary while one connection polls max(id) on the standby. Everything — both servers, the load
 * and the poller — shares this machine's cores. JSON on stdout, progress on stderr. Not a test.
 */
import { cpus, totalmem } from 'node:os';
import { type LagResult, measureLag } from './support/lag-harness.js';
import { postgresLagTarget, startPostgresPair } from './support/postgres-pair.js';

interface Config {
  readonly rates: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly writers: number;
}

function parse(argv: readonly string[]): Config {
  const value = (name: string): string | undefined => {
    const index = argv.indexOf(`--${name}`);
    return index === -1 ? undefined : argv[index + 1];
  };
  const config: Config = {
    rates: (value('rates') ?? '1000,2000,5000,10000').split(',').map((part) => Number(part)),
    durationMs: Number(value('duration-ms') ?? 10_000),
    warmupMs: Number(value('warmup-ms') ?? 1_000),
    writers: Number(value('writers') ?? 64),
  };
  for (const number of [...config.rates, config.durationMs, config.writers])
    if (!Number.isSafeInteger(number) || number <= 0)
      throw new Error(`bad option value in ${argv.join(' ')}`);
  if (!Number.isSafeInteger(config.warmupMs) || config.warmupMs < 0)
    throw new Error(`bad --warmup-ms in ${argv.join(' ')}`);
  return config;
}

function progress(line: string): void {
  process.stderr.write(`pg-replica-lag: ${line}\n`);
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function rounded(result: LagResult): LagResult {
  return {
    ...result,
    achievedRate: round(result.achievedRate, 1),
    lagP50Ms: round(result.lagP50Ms),
    lagP99Ms: round(result.lagP99Ms),
    lagMaxMs: round(result.lagMaxMs),
    pollIntervalMsMean: round(result.pollIntervalMsMean),
  };
}

async function main(): Promise<void> {
  const config = parse(process.argv.slice(2));
  const startedMs = performance.now();
  progress('starting a PostgreSQL 15 primary and an asynchronous standby');
  const pair = await startPostgresPair();
  const runs: LagResult[] = [];
  let serverVersion = 'unknown';
  try {
    const target = await postgresLagTarget(pair, { connections: config.writers });
    try {
      serverVersion = await target.serverVersion();
      for (const rate of config.rates) {
        await target.reset();
        progress(`${rate} writes/s for ${config.durationMs} ms after ${config.warmupMs} ms of warm-up`);
        const result = rounded(
          await measureLag(target, {
            rate,
            durationMs: config.durationMs,
            warmupMs: config.warmupMs,
            writers: config.writers,
          }),
        );
        progress(JSON.stringify(result));
        runs.push(result);
      }
    } finally {
      await target.close();
    }
  } finally {
    await pair.stop();
  }
  const byRate = (figure: (run: LagResult) => number) =>
    Object.fromEntries(runs.map((run) => [String(run.targetRate), figure(run)]));
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'replica-visibility-lag',
        date: new Date().toISOString(),
        config: {
          ...config,
          write: 'INSERT INTO lag_probe (id) VALUES ($1), one row per commit, id integer PRIMARY KEY',
          visible: 'SELECT coalesce(max(id), 0) FROM lag_probe on the standby, back to back',
        },
        postgres: {
          version: serverVersion,
          replication:
            'asynchronous streaming, one hot standby, replication slot; primary fsync=on, synchronous_commit=on',
          lagP50MsByRate: byRate((run) => run.lagP50Ms),
          lagP99MsByRate: byRate((run) => run.lagP99Ms),
          achievedRateByRate: byRate((run) => run.achievedRate),
          runs,
        },
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? 'unknown',
          memoryGiB: round(totalmem() / 2 ** 30, 1),
          node: process.version,
        },
        seconds: round((performance.now() - startedMs) / 1000, 1),
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
      `pg-replica-lag: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
