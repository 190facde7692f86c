/**
 * Replica visibility lag (issue 5): how long after the writer acknowledges a write a read replica
 * shows it, at fixed write rates, side by side in the same run with PostgreSQL 15 and an asynchronous
 * streaming standby on the same machine, measured the same way (`support/lag-harness.ts`: an
 * open-loop load of single-row inserts at the rate, one poller reading max(id) on the replica back to
 * back; lag = first seen − acknowledged).
 *
 *   npm run bench:replica -w @northlight/db-engine -- [--rates 1000,2000,5000,10000] [--duration-ms 10000]
 *                                                      [--warmup-ms 2000] [--warmup-run-ms 10000] [--writers 64]
 *                                                      [--only northlight | --only postgres]
 *                                                      [--transport pg | http] [--profile DIR]
 *   npm run bench:replica:postgres -w @northlight/db-engine -- …   (the same with --only postgres)
 *
 * northlight: one writer, two replicas, six storage-node processes on loopback (the default gossip
 * interval, 1 s); writes are `INSERT INTO lag_probe (id) VALUES ($1)` through node-postgres on the
 * writer's PostgreSQL endpoint, the poller reads replica 1's, with the same client, statements and
 * pool as the PostgreSQL side (`--transport http`: the JSON HTTP API instead). Also reported: the writer's own lag histogram (`northlight_replica_lag_seconds`,
 * VDL advance → replica feedback) for both replicas. PostgreSQL: primary + asynchronous standby
 * (`support/postgres-pair.ts`), the same inserts through node-postgres.
 *
 * `--profile DIR`: the writer, both replicas and every storage node write V8 CPU profiles there (one
 * per thread: a replica's SQL kernel runs in a worker) when they exit at the end of the run.
 *
 * Before the measured rates, each system runs one unmeasured pass at the first rate for
 * `--warmup-run-ms` (10 s; 0 skips it; its figures are in the JSON as `warmupRun`): the first
 * seconds of a fresh northlight cluster carry the V8 tiering of nine processes and the first reads of
 * every page, and gave the first rate a p99 about twice that of the same rate measured later
 * (`--rates 2000,1000,1000` on 2026-11-27: 19.9, 8.0 and 8.9 ms). `--warmup-ms` then warms each rate.
 *
 * A rate this machine cannot sustain shows as an achieved rate below the target; the lag figures are
 * then those of the highest rate it sustained. JSON on stdout (`northlight.lagP99MsByRate`,
 * `postgres.lagP99MsByRate`, `ratios.postgresLagP99OverNorthlightAtMaxRate`), progress on stderr.
 * Not a test.
 */
import { cpus } from 'node:os';
import { type EngineProcess, SqlClient, StorageFleet, sql, startEngine } from '../test/support/engine-rig.js';
import { type LagResult, type LagTarget, measureLag } from './support/lag-harness.js';
import {
  type PgLagProbe,
  pgLagProbe,
  postgresLagTarget,
  startPostgresPair,
} from './support/postgres-pair.js';
import { cpuMs } from './support/proc-cpu.js';

const SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
const GOSSIP_INTERVAL_MS = 1_000;

interface Config {
  readonly rates: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  /** One unmeasured pass at the first rate before the measured ones (0: none). */
  readonly warmupRunMs: number;
  readonly northlight: boolean;
  readonly postgres: boolean;
  /** Writes in flight at most. */
  readonly writers: number;
  /** How the northlight side is reached: the PostgreSQL protocol (as PostgreSQL is), or HTTP. */
  readonly transport: 'pg' | 'http';
  /** `--profile DIR`: every northlight process writes a V8 CPU profile there at its exit. */
  readonly profileDir: string | undefined;
}

function parse(argv: readonly string[]): Config {
  const value = (name: string) => {
    const index = argv.indexOf(`--${name}`);
    return index === -1 ? undefined : argv[index + 1];
  };
  const config: Config = {
    rates: (value('rates') ?? '1000,2000,5000,10000').split(',').map(Number),
    durationMs: Number(value('duration-ms') ?? 10_000),
    warmupMs: Number(value('warmup-ms') ?? 2_000),
    warmupRunMs: Number(value('warmup-run-ms') ?? 10_000),
    northlight: value('only') !== 'postgres',
    postgres: value('only') !== 'northlight',
    writers: Number(value('writers') ?? 64),
    transport: value('transport') === 'http' ? 'http' : 'pg',
    profileDir: value('profile'),
  };
  const transport = value('transport');
  if (transport !== undefined && transport !== 'pg' && transport !== 'http')
    throw new Error(`--transport takes pg or http, not ${transport}`);
  const only = value('only');
  if (only !== undefined && only !== 'northlight' && only !== 'postgres')
    throw new Error(`--only takes northlight or postgres, not ${only}`);
  for (const number of [...config.rates, config.durationMs, config.writers])
    if (!Number.isSafeInteger(number) || number <= 0) throw new Error(`bad option in ${argv.join(' ')}`);
  if (!Number.isSafeInteger(config.warmupRunMs) || config.warmupRunMs < 0)
    throw new Error(`--warmup-run-ms takes milliseconds ≥ 0, not ${value('warmup-run-ms')}`);
  return config;
}

function progress(text: string): void {
  process.stderr.write(`bench-replica: ${text}\n`);
}

interface Side {
  lagP50MsByRate: Record<string, number>;
  lagP99MsByRate: Record<string, number>;
  achievedRateByRate: Record<string, number>;
  /** CPU time (user + system, /proc) per acknowledged write during each rate's run, by process role. */
  cpuMsPerWriteByRate?: Record<string, Record<string, number>>;
  runs: RateRun[];
  /** The unmeasured pass before the measured rates (`--warmup-run-ms`), when there was one. */
  warmupRun?: LagResult;
}

/** One rate's lag figures, and the CPU each process role spent meanwhile (when sampled). */
type RateRun = LagResult & { cpuMsPerWrite?: Record<string, number> };

function side(results: readonly RateRun[], warmupRun: LagResult | undefined): Side {
  const by = (pick: (result: LagResult) => number) =>
    Object.fromEntries(
      results.map((result) => [String(result.targetRate), Math.round(pick(result) * 100) / 100]),
    );
  return {
    lagP50MsByRate: by((result) => result.lagP50Ms),
    lagP99MsByRate: by((result) => result.lagP99Ms),
    achievedRateByRate: by((result) => result.achievedRate),
    ...(results.every((result) => result.cpuMsPerWrite !== undefined)
      ? {
          cpuMsPerWriteByRate: Object.fromEntries(
            results.map((result) => [String(result.targetRate), result.cpuMsPerWrite!]),
          ),
        }
      : {}),
    runs: [...results],
    ...(warmupRun === undefined ? {} : { warmupRun }),
  };
}

/** The northlight `LagTarget`: inserts on the writer, max(id) on replica 1. */
function northlightTarget(writer: EngineProcess, replica: EngineProcess, writers: number): LagTarget {
  const writes = new SqlClient(writer, writers);
  const reads = new SqlClient(replica, 1);
  return {
    async write(id) {
      const answer = await writes.execute([{ sql: 'INSERT INTO lag_probe (id) VALUES (?)', params: [id] }]);
      if (answer.status !== 200)
        throw new Error(`write ${id}: ${answer.status} ${JSON.stringify(answer.body)}`);
    },
    async maxVisibleId() {
      const answer = await reads.execute([{ sql: 'SELECT coalesce(max(id), 0) FROM lag_probe' }]);
      if (answer.status !== 200)
        throw new Error(`replica read: ${answer.status} ${JSON.stringify(answer.body)}`);
      return (answer.body.results![0]!.rows[0] as number[])[0]!;
    },
  };
}

/**
 * The northlight `LagTarget` over the PostgreSQL protocol: the same probe as the PostgreSQL side
 * (`pgLagProbe`: a pool of `writers` connections to the writer, one to replica 1, the same named
 * statements), so both systems are measured through the same client.
 */
function northlightPgTarget(
  writer: EngineProcess,
  replica: EngineProcess,
  writers: number,
): Promise<PgLagProbe> {
  const endpoint = (port: number) => ({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  return pgLagProbe(endpoint(writer.pgPort), endpoint(replica.pgPort), writers);
}

/** The writer's own view: p50/p99 of `northlight_replica_lag_seconds` per replica, from its buckets. */
async function writerLagHistogram(
  writer: EngineProcess,
): Promise<Record<string, { count: number; p50Ms: number; p99Ms: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${writer.httpPort}/metrics`)).text();
  const buckets = new Map<string, [number, number][]>();
  for (const line of text.split('\n')) {
    const match = /^northlight_replica_lag_seconds_bucket\{le="([^"]+)",replica="([^"]+)"\} (\d+)/.exec(line);
    if (match === null) continue;
    const list = buckets.get(match[2]!) ?? [];
    list.push([match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[3])]);
    buckets.set(match[2]!, list);
  }
  const quantile = (list: [number, number][], q: number) => {
    const total = list.at(-1)![1];
    const bucket = list.find(([, count]) => count >= q * total);
    return bucket === undefined ? Number.NaN : bucket[0] * 1000;
  };
  return Object.fromEntries(
    [...buckets].map(([replica, list]) => [
      replica,
      { count: list.at(-1)![1], p50Ms: quantile(list, 0.5), p99Ms: quantile(list, 0.99) },
    ]),
  );
}

async function untilEmpty(target: LagTarget): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await target.maxVisibleId()) !== 0) {
    if (Date.now() > deadline) throw new Error('the replica never showed the emptied table');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * One measured run per rate, each after `reset` (the probe table emptied on both sides). `cpu`, when
 * given, reads each process role's CPU milliseconds so far: sampled around each run, divided by the
 * writes acknowledged in it (warm-up included, as its CPU is).
 */
async function runRates(
  system: string,
  target: LagTarget,
  config: Config,
  reset: () => Promise<void>,
  cpu?: () => Record<string, number>,
): Promise<{ results: RateRun[]; warmupRun: LagResult | undefined }> {
  let warmupRun: LagResult | undefined;
  if (config.warmupRunMs > 0) {
    await reset();
    progress(
      `${system}: warm-up pass, ${config.rates[0]} writes/s for ${config.warmupRunMs} ms (not measured)`,
    );
    warmupRun = await measureLag(target, {
      rate: config.rates[0]!,
      durationMs: config.warmupRunMs,
      writers: config.writers,
    });
  }
  const results: RateRun[] = [];
  for (const rate of config.rates) {
    await reset();
    progress(`${system}: ${rate} writes/s for ${config.durationMs} ms`);
    const before = cpu?.();
    const result: RateRun = await measureLag(target, {
      rate,
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      writers: config.writers,
    });
    if (cpu !== undefined && before !== undefined) {
      const after = cpu();
      const writes = Math.max(1, result.acknowledged);
      result.cpuMsPerWrite = Object.fromEntries(
        Object.entries(after).map(([role, ms]) => [role, round3((ms - (before[role] ?? 0)) / writes)]),
      );
    }
    progress(`${system}: ${JSON.stringify(result)}`);
    results.push(result);
  }
  return { results, warmupRun };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function runNorthlight(config: Config): Promise<{ side: Side; writerHistogram: unknown }> {
  const profileArgs =
    config.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${config.profileDir}`];
  // A profiled process must exit on its own to write its profile.
  const stopSignal = config.profileDir === undefined ? 'SIGKILL' : 'SIGTERM';
  const fleet = new StorageFleet(SEGMENT_SIZE_BYTES, profileArgs, GOSSIP_INTERVAL_MS);
  let writer: EngineProcess | undefined;
  const replicas: EngineProcess[] = [];
  try {
    await fleet.start();
    writer = await startEngine(fleet, { nodeArgs: profileArgs });
    const created = await sql(writer, 'CREATE TABLE lag_probe (id INTEGER PRIMARY KEY)');
    if (created.status !== 200) throw new Error(JSON.stringify(created.body));
    for (const id of ['replica-1', 'replica-2'])
      replicas.push(
        await startEngine(fleet, {
          args: ['--role', 'replica', '--writer-url', `http://127.0.0.1:${writer.httpPort}`, '--node-id', id],
          nodeArgs: profileArgs,
        }),
      );
    const target: LagTarget & { close?(): Promise<void> } =
      config.transport === 'pg'
        ? await northlightPgTarget(writer, replicas[0]!, config.writers)
        : northlightTarget(writer, replicas[0]!, config.writers);
    try {
      const processes = { writer, replica1: replicas[0]!, replica2: replicas[1]! };
      const { results, warmupRun } = await runRates(
        'northlight',
        target,
        config,
        async () => {
          const emptied = await sql(writer!, 'DELETE FROM lag_probe');
          if (emptied.status !== 200) throw new Error(JSON.stringify(emptied.body));
          await untilEmpty(target);
        },
        () => ({
          ...Object.fromEntries(
            Object.entries(processes).map(([role, engine]) => [role, cpuMs(engine.child.pid)]),
          ),
          storageNodes: [...fleet.nodes.values()].reduce((sum, node) => sum + cpuMs(node.child.pid), 0),
          benchClient: cpuMs(process.pid),
        }),
      );
      return { side: side(results, warmupRun), writerHistogram: await writerLagHistogram(writer) };
    } finally {
      await target.close?.();
    }
  } finally {
    const engines = [...replicas, writer].filter((engine) => engine !== undefined);
    for (const engine of engines) engine.child.kill(stopSignal);
    await Promise.all(engines.map((engine) => engine.exited));
    await fleet.stopAll(stopSignal);
  }
}

async function runPostgres(config: Config): Promise<{ side: Side; version: string }> {
  const pair = await startPostgresPair();
  try {
    const target = await postgresLagTarget(pair, { connections: config.writers });
    try {
      const version = await target.serverVersion();
      const { results, warmupRun } = await runRates('postgres', target, config, () => target.reset());
      return { side: side(results, warmupRun), version };
    } finally {
      await target.close();
    }
  } finally {
    await pair.stop();
  }
}

async function main(): Promise<void> {
  const config = parse(process.argv.slice(2));
  const northlight = config.northlight ? await runNorthlight(config) : undefined;
  const postgres = config.postgres ? await runPostgres(config) : undefined;
  const maxRate = String(Math.max(...config.rates));
  const ratio =
    postgres === undefined || northlight === undefined
      ? null
      : Math.round(
          (postgres.side.lagP99MsByRate[maxRate]! / northlight.side.lagP99MsByRate[maxRate]!) * 1000,
        ) / 1000;
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'replica-visibility-lag',
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
        config: {
          ...config,
          method:
            'open-loop single-row inserts at the rate (64 in flight at most); one poller reads max(id) on the replica back to back; lag = first seen - acknowledged; each system first runs one unmeasured pass at the first rate (warmupRunMs)',
          northlight:
            config.transport === 'pg'
              ? 'writer + 2 replicas + 6 storage-node processes on loopback, PostgreSQL protocol, node-postgres'
              : 'writer + 2 replicas + 6 storage-node processes on loopback, HTTP API, keep-alive',
          postgres: 'PostgreSQL primary + asynchronous streaming standby on loopback, node-postgres',
        },
        northlight:
          northlight === undefined
            ? null
            : { ...northlight.side, writerLagHistogramMs: northlight.writerHistogram },
        postgres: postgres === undefined ? null : { version: postgres.version, ...postgres.side },
        ratios: { postgresLagP99OverNorthlightAtMaxRate: ratio },
      },
      null,
      1,
    )}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    progress(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
