/**
 * The harness: runs a workload on one seed (`runSeed`) or many (`runCampaign`) and reports what
 * failed, with the seed that replays it.
 *
 * A run fails when
 *   1. anything throws inside the simulation — an event callback, a process (assertions included),
 *      the workload's driver — or a promise rejection goes unhandled;
 *   2. a process logs at ERROR and the workload did not declare that line expected;
 *   3. the workload's checker reports a violation.
 * Checkers only observe: they read node instances, disks and the object store after the run; they
 * never drive the system.
 */
import { SimCluster, type SimClusterOptions } from './cluster.js';
import { yieldToMacrotask } from './io/macrotask.js';
import { watchUnhandledRejections } from './io/unhandled-rejections.js';
import type { Prng } from './prng.js';
import type { LogRecord } from './process.js';
import { SimulationFailure } from './scheduler.js';
import { TRACE_TAIL_LINES_DEFAULT, type TraceSink } from './trace.js';

export interface Violation {
  /** Which checker (or `simulation`, `error-log`) found it. */
  readonly checker: string;
  readonly message: string;
}

export type StatValue = string | number | bigint | boolean;

export interface CheckResult {
  readonly violations: readonly Violation[];
  /** What the run achieved (acknowledged LSNs, operations…), shown by `run` and `demo`. */
  readonly stats?: Readonly<Record<string, StatValue>>;
}

export interface Workload {
  /** Used on the command line: `npm run sim -- --workload <name> --seed N`. */
  readonly name: string;
  readonly description?: string;
  /**
   * For a workload that lives outside the simulator (another package's): the module, as a path from
   * the repository root, that registers it, so that its replay command loads it (`--load`).
   */
  readonly replayLoad?: string;
  /** Cluster options for this workload (latencies, limits); the seed and trace are the harness's. */
  clusterOptions?(): Omit<SimClusterOptions, 'seed' | 'trace'>;
  /** Adds nodes and prepares state; `random` is the workload's own stream. */
  setup(cluster: SimCluster, random: Prng): void | Promise<void>;
  /** Drives load and faults until some virtual time, with `cluster.runUntil`/`runFor`. */
  run(cluster: SimCluster): Promise<void>;
  /** Observes the final state and reports violations. */
  check(cluster: SimCluster): CheckResult | Promise<CheckResult>;
  /** ERROR log lines this workload provokes on purpose; any other ERROR line fails the run. */
  isExpectedErrorLog?(record: LogRecord): boolean;
}

export interface RunSeedOptions {
  /** Trace lines kept for the failure report (default 200). */
  readonly traceTailLines?: number;
  /** Receives every trace line (the CLI's `--trace`). */
  readonly traceSink?: TraceSink;
  /** Events the run may execute before it fails as a livelock. */
  readonly eventsMax?: number;
  /** Where a failure report goes (default `console.error`); `() => {}` silences it. */
  readonly report?: (message: string) => void;
  /** Called with the cluster after the run and check (the demo reads the topology from it). */
  readonly inspect?: (cluster: SimCluster) => void;
}

export interface SeedResult {
  readonly workload: string;
  readonly seed: number;
  readonly ok: boolean;
  /** FNV-1a 64 of the whole trace: the same seed must always give the same hash. */
  readonly traceHash: string;
  readonly events: number;
  readonly virtualTimeMs: number;
  readonly violations: readonly Violation[];
  readonly stats: Readonly<Record<string, StatValue>>;
  /** The last trace lines, oldest first. */
  readonly traceTail: readonly string[];
  readonly replayCommand: string;
}

/** The command, run from the repository root, that replays one seed of a workload exactly. */
export function replayCommand(workload: string, seed: number, load?: string): string {
  return `npm run sim -- ${load === undefined ? '' : `--load ${load} `}--workload ${workload} --seed ${seed}`;
}

/** Lines of the trace tail printed in a failure report (the result holds the whole tail). */
const REPORT_TRACE_LINES = 30;

export async function runSeed(
  workload: Workload,
  seed: number,
  options: RunSeedOptions = {},
): Promise<SeedResult> {
  const cluster = new SimCluster({
    ...workload.clusterOptions?.(),
    seed,
    trace: {
      tailLines: options.traceTailLines ?? TRACE_TAIL_LINES_DEFAULT,
      ...(options.traceSink === undefined ? {} : { sink: options.traceSink }),
    },
    ...(options.eventsMax === undefined ? {} : { eventsMax: options.eventsMax }),
  });
  const stopWatching = watchUnhandledRejections((reason) =>
    cluster.fail(reason, 'unhandled promise rejection'),
  );
  let check: CheckResult | undefined;
  try {
    check = await driveAndCheck(workload, cluster);
  } finally {
    stopWatching();
  }
  const violations = collectViolations(workload, cluster, check);
  const result: SeedResult = {
    workload: workload.name,
    seed,
    ok: violations.length === 0,
    traceHash: cluster.trace.hashHex(),
    events: cluster.scheduler.eventCount,
    virtualTimeMs: cluster.nowMs(),
    violations,
    stats: check?.stats ?? {},
    traceTail: cluster.trace.tail(),
    replayCommand: replayCommand(workload.name, seed, workload.replayLoad),
  };
  options.inspect?.(cluster);
  if (!result.ok) (options.report ?? console.error)(formatSeedFailure(result));
  return result;
}

/** Runs setup, the driver and (if nothing failed) the checker; failures end up on the cluster. */
async function driveAndCheck(workload: Workload, cluster: SimCluster): Promise<CheckResult | undefined> {
  try {
    await workload.setup(cluster, cluster.random.fork('workload'));
    await workload.run(cluster);
    // Node reports unhandled rejections only when the event loop turns: give it one turn.
    await yieldToMacrotask();
  } catch (error) {
    if (!(error instanceof SimulationFailure)) cluster.fail(error, `workload ${workload.name}`);
  }
  if (cluster.failure !== undefined) return undefined;
  try {
    return await workload.check(cluster);
  } catch (error) {
    cluster.fail(error, `check of ${workload.name}`);
    return undefined;
  }
}

function collectViolations(
  workload: Workload,
  cluster: SimCluster,
  check: CheckResult | undefined,
): Violation[] {
  const violations: Violation[] = [];
  const failure = cluster.describeFailure();
  if (failure !== undefined) violations.push({ checker: 'simulation', message: failure });
  for (const record of cluster.errorLogs) {
    if (workload.isExpectedErrorLog?.(record) === true) continue;
    violations.push({
      checker: 'error-log',
      message: `unexpected ERROR from ${record.source} at ${record.timeUs / 1000} ms: ${record.message}`,
    });
  }
  if (check !== undefined) violations.push(...check.violations);
  return violations;
}

export function formatSeedFailure(result: SeedResult): string {
  const first = result.violations[0];
  const reason = first === undefined ? 'unknown' : `[${first.checker}] ${first.message}`;
  const more = result.violations.length > 1 ? ` (+${result.violations.length - 1} more)` : '';
  const tail = result.traceTail.slice(-REPORT_TRACE_LINES).map((line) => `  ${line}`);
  return [
    `seed ${result.seed} failed: ${reason}${more}`,
    ...result.violations
      .slice(1, 10)
      .map((violation) => `  also [${violation.checker}] ${violation.message}`),
    `last ${tail.length} trace lines:`,
    ...tail,
    `replay with: ${result.replayCommand}`,
  ].join('\n');
}

export interface CampaignOptions extends Omit<RunSeedOptions, 'inspect' | 'traceSink'> {
  /** Called after every seed (progress). */
  readonly onResult?: (result: SeedResult, index: number) => void;
  /** Stop at the first failing seed. */
  readonly stopOnFailure?: boolean;
}

export interface CampaignResult {
  readonly workload: string;
  readonly seedsRun: number;
  readonly passed: number;
  readonly failingSeeds: readonly number[];
  /** The failing runs (violations and trace tails). */
  readonly failures: readonly SeedResult[];
  readonly events: number;
  readonly virtualTimeMs: number;
}

/** Failures kept in a campaign result; the seeds of all of them are always kept. */
const CAMPAIGN_FAILURES_KEPT_MAX = 100;

export async function runCampaign(
  workload: Workload,
  seeds: Iterable<number>,
  options: CampaignOptions = {},
): Promise<CampaignResult> {
  let seedsRun = 0;
  let passed = 0;
  let events = 0;
  let virtualTimeMs = 0;
  const failingSeeds: number[] = [];
  const failures: SeedResult[] = [];
  for (const seed of seeds) {
    const result = await runSeed(workload, seed, options);
    options.onResult?.(result, seedsRun);
    seedsRun++;
    events += result.events;
    virtualTimeMs += result.virtualTimeMs;
    if (result.ok) {
      passed++;
      continue;
    }
    failingSeeds.push(seed);
    if (failures.length < CAMPAIGN_FAILURES_KEPT_MAX) failures.push(result);
    if (options.stopOnFailure === true) break;
  }
  return { workload: workload.name, seedsRun, passed, failingSeeds, failures, events, virtualTimeMs };
}

/**
 * A campaign script's `--name N` from `argv`: a non-negative integer, or `fallback` when the flag is
 * absent. Throws an Error naming the flag when its value is missing or malformed.
 */
export function campaignFlag(argv: readonly string[], name: string, fallback: number): number {
  const index = argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} needs a non-negative integer`);
  return value;
}

/** What is wrong with a campaign's arguments, or undefined (`checkCampaignArguments` in io/ exits on it). */
export function campaignArgumentProblem(
  args: readonly string[],
  accepted: { readonly values: readonly string[]; readonly flags: readonly string[] },
): string | undefined {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && accepted.flags.includes(name)) continue;
    if (name !== undefined && accepted.values.includes(name)) {
      const value = args[index + 1];
      if (value === undefined || value.startsWith('--')) return `${arg} needs a value`;
      index++;
      continue;
    }
    return name === undefined ? `unexpected argument ${JSON.stringify(arg)}` : `unknown option ${arg}`;
  }
  return undefined;
}

/** Seeds `from`, `from + 1`, … (`count` of them). */
export function seedRange(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => from + index);
}
