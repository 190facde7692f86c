/**
 * The simulator's command line (`npm run sim -- …`, `npm run demo`, `npm run sim:campaign`).
 *
 *   run      --workload W --seed N [--trace] [--trace-tail N]   replay one seed
 *   campaign --workload W --seeds K [--from S] [--json] [--stop-on-failure]
 *   demo     [--workload W] [--seed N]                         one seed, told as a story
 *   list                                                       the registered workloads
 *
 * `run` is the default command, so the replay line a failure prints
 * (`npm run sim -- --workload W --seed N`) works as is. Every command accepts `--load <module>`
 * (repeatable) to register workloads from another module, e.g. a test's. Exit codes: 0 passed,
 * 1 a seed failed, 2 bad arguments.
 *
 * This file and `src/io/` are the only places in `sim/` allowed to touch the real world (the
 * filesystem, real time, the process).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SimCluster } from './cluster.js';
import { defaultWorkload, getWorkload, listWorkloads } from './registry.js';
import {
  type CampaignResult,
  runCampaign,
  runSeed,
  type SeedResult,
  seedRange,
  type Workload,
} from './runner.js';

class UsageError extends Error {}

const usage = `usage: npm run sim -- [command] [options]
  run      --workload W --seed N [--trace] [--trace-tail N]   replay one seed (the default command)
  campaign --workload W --seeds K [--from S] [--json] [--stop-on-failure]
  demo     [--workload W] [--seed N]                          one seed, narrated
  list                                                        registered workloads
  every command: --load <module>   register the workloads of another module first`;

type Command = 'run' | 'campaign' | 'demo' | 'list';

interface Arguments {
  readonly command: Command;
  readonly values: ReadonlyMap<string, string>;
  readonly flags: ReadonlySet<string>;
  readonly loads: readonly string[];
}

const valueOptions = new Set(['workload', 'seed', 'seeds', 'from', 'trace-tail', 'load']);
const flagOptions = new Set(['trace', 'json', 'stop-on-failure', 'help']);
const allowedOptions: Readonly<Record<Command, readonly string[]>> = {
  run: ['workload', 'seed', 'trace', 'trace-tail', 'load', 'help'],
  campaign: ['workload', 'seeds', 'from', 'json', 'stop-on-failure', 'load', 'help'],
  demo: ['workload', 'seed', 'load', 'help'],
  list: ['load', 'help'],
};

function parseArguments(argv: readonly string[]): Arguments {
  let rest = [...argv];
  let command: Command = 'run';
  const first = rest[0];
  if (first !== undefined && !first.startsWith('--')) {
    if (!Object.hasOwn(allowedOptions, first)) throw new UsageError(`unknown command "${first}"`);
    command = first as Command;
    rest = rest.slice(1);
  }
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const loads: string[] = [];
  for (let index = 0; index < rest.length; index++) {
    const argument = rest[index] as string;
    if (!argument.startsWith('--')) throw new UsageError(`unexpected argument "${argument}"`);
    const name = argument.slice(2);
    if (!allowedOptions[command].includes(name))
      throw new UsageError(`option --${name} is not valid for ${command}`);
    if (flagOptions.has(name)) {
      flags.add(name);
      continue;
    }
    const value = rest[++index];
    if (!valueOptions.has(name) || value === undefined || value.startsWith('--')) {
      throw new UsageError(`option --${name} needs a value`);
    }
    if (name === 'load') loads.push(value);
    else values.set(name, value);
  }
  return { command, values, flags, loads };
}

function integerOption(args: Arguments, name: string, fallback: number | undefined, minimum = 0): number {
  const text = args.values.get(name);
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`--${name} must be an integer >= ${minimum}, got "${text}"`);
  }
  return value;
}

async function loadWorkloads(loads: readonly string[]): Promise<void> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const registry = ['registry.ts', 'registry.js']
    .map((name) => resolve(here, 'workloads', name))
    .find((path) => existsSync(path));
  if (registry !== undefined) await import(pathToFileURL(registry).href);
  for (const load of loads) {
    const path = resolve(load);
    if (!existsSync(path)) throw new UsageError(`--load: no such module ${load}`);
    await import(pathToFileURL(path).href);
  }
}

function chooseWorkload(args: Arguments): Workload {
  const name = args.values.get('workload');
  const known = listWorkloads()
    .map((workload) => workload.name)
    .join(', ');
  if (name === undefined) {
    const fallback = defaultWorkload();
    if (fallback === undefined) {
      throw new UsageError('no workloads are registered (sim/src/workloads/registry.ts registers them)');
    }
    return fallback;
  }
  const workload = getWorkload(name);
  if (workload === undefined) throw new UsageError(`unknown workload "${name}"; known: ${known || 'none'}`);
  return workload;
}

function formatStats(result: SeedResult): string[] {
  return Object.entries(result.stats).map(([key, value]) => `  ${key}: ${String(value)}`);
}

async function commandRun(args: Arguments): Promise<number> {
  const workload = chooseWorkload(args);
  const seed = integerOption(args, 'seed', undefined);
  const printTrace = args.flags.has('trace');
  const started = performance.now();
  const result = await runSeed(workload, seed, {
    traceTailLines: integerOption(args, 'trace-tail', 200),
    ...(printTrace ? { traceSink: (line: string) => process.stdout.write(`${line}\n`) } : {}),
  });
  const realMs = performance.now() - started;
  console.log(
    [
      `workload ${workload.name} seed ${seed}: ${result.ok ? 'passed' : 'FAILED'}`,
      `  events: ${result.events}, virtual time: ${result.virtualTimeMs} ms, real time: ${realMs.toFixed(0)} ms`,
      `  trace hash: ${result.traceHash}`,
      ...formatStats(result),
      ...result.violations.map((violation) => `  violation [${violation.checker}] ${violation.message}`),
    ].join('\n'),
  );
  return result.ok ? 0 : 1;
}

async function commandCampaign(args: Arguments): Promise<number> {
  const workload = chooseWorkload(args);
  const count = integerOption(args, 'seeds', undefined, 1);
  const from = integerOption(args, 'from', 0);
  const json = args.flags.has('json');
  const started = performance.now();
  let lastProgress = started;
  let failed = 0;
  const result = await runCampaign(workload, seedRange(from, count), {
    stopOnFailure: args.flags.has('stop-on-failure'),
    report: (message) => process.stderr.write(`${message}\n`),
    onResult: (seedResult, index) => {
      if (!seedResult.ok) failed++;
      const now = performance.now();
      if (now - lastProgress < 2000 && index + 1 < count) return;
      lastProgress = now;
      const seconds = ((now - started) / 1000).toFixed(1);
      process.stderr.write(
        `campaign ${workload.name}: ${index + 1}/${count} seeds, ${failed} failed, ${seconds}s\n`,
      );
    },
  });
  const realMs = performance.now() - started;
  if (json) console.log(JSON.stringify(campaignSummary(result, from, realMs), null, 2));
  else printCampaign(result, realMs);
  return result.failingSeeds.length === 0 ? 0 : 1;
}

function campaignSummary(result: CampaignResult, from: number, realMs: number): object {
  return {
    workload: result.workload,
    from,
    seedsRun: result.seedsRun,
    passed: result.passed,
    failed: result.failingSeeds.length,
    failingSeeds: result.failingSeeds,
    failures: result.failures.map((failure) => ({
      seed: failure.seed,
      traceHash: failure.traceHash,
      violations: failure.violations,
      replay: failure.replayCommand,
    })),
    events: result.events,
    virtualTimeMs: result.virtualTimeMs,
    realTimeMs: Math.round(realMs),
  };
}

function printCampaign(result: CampaignResult, realMs: number): void {
  const lines = [
    `campaign ${result.workload}: ${result.seedsRun} seeds, ${result.passed} passed, ` +
      `${result.failingSeeds.length} failed in ${(realMs / 1000).toFixed(1)}s (${result.events} events)`,
  ];
  if (result.failingSeeds.length > 0) lines.push(`failing seeds: ${result.failingSeeds.join(' ')}`);
  for (const failure of result.failures.slice(0, 10)) lines.push(`  replay with: ${failure.replayCommand}`);
  console.log(lines.join('\n'));
}

/** Trace lines that tell the story of a run: lifecycle, faults, and the workload's own notes. */
const narrativePattern =
  /^(start |crash |stop |exit |note |fault |network (partition|heal|isolate|restore|zone-outage)|s3 (unavailable|available)|disk \S+ (wiped|power-loss)|FAILURE)/;
const NARRATIVE_HEAD_LINES = 60;
const NARRATIVE_TAIL_LINES = 20;

async function commandDemo(args: Arguments): Promise<number> {
  const workload = chooseWorkload(args);
  const seed = integerOption(args, 'seed', 1);
  const story: string[] = [];
  let storyTotal = 0;
  let cluster: SimCluster | undefined;
  const result = await runSeed(workload, seed, {
    traceSink: (line, _timeUs, text) => {
      if (!narrativePattern.test(text)) return;
      storyTotal++;
      if (story.length < NARRATIVE_HEAD_LINES) story.push(line);
      else {
        story.push(line);
        if (story.length > NARRATIVE_HEAD_LINES + NARRATIVE_TAIL_LINES) story.splice(NARRATIVE_HEAD_LINES, 1);
      }
    },
    inspect: (inspected) => {
      cluster = inspected;
    },
  });
  const out: string[] = [
    'northlight deterministic simulator — demo',
    `workload: ${workload.name}${workload.description === undefined ? '' : ` — ${workload.description}`}`,
    `seed: ${seed}   (replay exactly with: ${result.replayCommand} --trace)`,
    '',
  ];
  if (cluster !== undefined) out.push(...describeCluster(cluster), '');
  out.push('what happened (virtual time in ms):');
  out.push(...story.slice(0, NARRATIVE_HEAD_LINES).map((line) => `  ${line}`));
  if (storyTotal > story.length) out.push(`  … ${storyTotal - story.length} more …`);
  out.push(...story.slice(NARRATIVE_HEAD_LINES).map((line) => `  ${line}`));
  out.push(
    '',
    'result:',
    `  ${result.events} events, ${result.virtualTimeMs} virtual ms, trace hash ${result.traceHash}`,
    ...formatStats(result),
    result.ok
      ? '  check: passed — every invariant held'
      : `  check: FAILED — ${result.violations.length} violation(s):`,
    ...result.violations.map((violation) => `    [${violation.checker}] ${violation.message}`),
  );
  console.log(out.join('\n'));
  return result.ok ? 0 : 1;
}

function describeCluster(cluster: SimCluster): string[] {
  const lines = [`cluster: ${cluster.nodes.length} nodes in ${cluster.zones.length} zones`];
  for (const zone of cluster.zones) {
    const nodes = cluster.nodesInZone(zone).map((node) => {
      const events = [
        node.crashes > 0 ? `${node.crashes} crash${node.crashes > 1 ? 'es' : ''}` : '',
        node.wipes > 0 ? 'wiped' : '',
        node.running ? '' : 'down',
      ].filter((text) => text !== '');
      return events.length === 0 ? node.id : `${node.id} (${events.join(', ')})`;
    });
    lines.push(`  zone ${zone}: ${nodes.join(', ')}`);
  }
  const stats = cluster.network.stats;
  lines.push(
    `  network: ${stats.sent} sent, ${stats.delivered} delivered, ${stats.dropped} dropped, ` +
      `${stats.duplicated} duplicated, ${stats.reordered} reordered`,
  );
  return lines;
}

function commandList(): number {
  const workloads = listWorkloads();
  if (workloads.length === 0) console.log('no workloads registered');
  const fallback = defaultWorkload();
  for (const workload of workloads) {
    const mark = workload === fallback ? ' (default)' : '';
    console.log(
      `${workload.name}${mark}${workload.description === undefined ? '' : `  ${workload.description}`}`,
    );
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Arguments;
  try {
    args = parseArguments(argv);
    if (args.flags.has('help')) {
      console.log(usage);
      return 0;
    }
    await loadWorkloads(args.loads);
    switch (args.command) {
      case 'run':
        return await commandRun(args);
      case 'campaign':
        return await commandCampaign(args);
      case 'demo':
        return await commandDemo(args);
      case 'list':
        return commandList();
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n${usage}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
