/**
 * Proves the command line end to end, in a real child process: `run` replays a seed and prints the
 * same trace hash as the library, `campaign --json` reports failing seeds and exits 1, `demo`
 * narrates a run, `list` shows the registry, an unhandled promise rejection inside a process fails
 * its seed, and bad arguments print a clear message and exit 2. The self-test workloads are
 * registered with `--load`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { campaignArgumentProblem, campaignFlag, runSeed } from '../src/runner.js';
import { durableCounterWorkload } from './support/durable-counter.js';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const load = ['--load', 'sim/test/support/register-workloads.ts'];

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'sim/src/cli.ts', ...args],
      { cwd: repositoryRoot, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('cli', () => {
  it('replays a seed with the same trace hash as the library', async () => {
    const [result, library] = await Promise.all([
      cli('--workload', 'durable-counter', '--seed', '4', ...load),
      runSeed(durableCounterWorkload(), 4),
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('workload durable-counter seed 4: passed');
    expect(result.stdout).toContain(`trace hash: ${library.traceHash}`);
  });

  it('runs a campaign, reports failing seeds as JSON and exits 1', async () => {
    const result = await cli('campaign', '--workload', 'ack-before-sync', '--seeds', '40', '--json', ...load);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout) as { seedsRun: number; failingSeeds: number[] };
    expect(summary.seedsRun).toBe(40);
    expect(summary.failingSeeds.length).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/seed \d+ failed: \[durability\]/);
    expect(result.stderr).toContain('replay with: npm run sim -- --workload ack-before-sync --seed');
  });

  it('fails a seed whose process leaves a promise rejection unhandled', async () => {
    const result = await cli('run', '--workload', 'rejecter', '--seed', '1', ...load);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /seed 1 failed: \[simulation\] unhandled promise rejection .*planted unhandled rejection/,
    );
  });

  it('narrates a demo and lists workloads', async () => {
    const [demo, list] = await Promise.all([cli('demo', '--seed', '2', ...load), cli('list', ...load)]);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain('cluster: 5 nodes in 3 zones');
    expect(demo.stdout).toContain('what happened');
    expect(demo.stdout).toContain('check: passed');
    expect(list.stdout).toContain('durable-counter (default)');
  });

  it('exits 2 with a clear message on bad arguments', async () => {
    const results = await Promise.all([
      cli('run', '--workload', 'durable-counter', '--seed', 'x', ...load),
      cli('run', '--workload', 'missing', '--seed', '1', ...load),
      cli('frobnicate'),
      cli('campaign', '--seeds', '5', '--trace', ...load),
      cli('run', '--workload', 'durable-counter', ...load),
    ]);
    expect(results.map((result) => result.code)).toEqual([2, 2, 2, 2, 2]);
    expect(results[0]!.stderr).toContain('--seed must be an integer >= 0, got "x"');
    expect(results[1]!.stderr).toContain('unknown workload "missing"');
    expect(results[2]!.stderr).toContain('unknown command "frobnicate"');
    expect(results[3]!.stderr).toContain('option --trace is not valid for campaign');
    expect(results[4]!.stderr).toContain('--seed is required');
  });
});

describe('campaignFlag', () => {
  it('reads --name N, falls back when absent, and refuses a value that is not a non-negative integer', () => {
    expect(campaignFlag(['node', 'x', '--seeds', '12'], 'seeds', 200)).toBe(12);
    expect(campaignFlag(['node', 'x'], 'seeds', 200)).toBe(200);
    for (const bad of [['--seeds'], ['--seeds', '-1'], ['--seeds', '1.5'], ['--seeds', 'many']])
      expect(() => campaignFlag(bad, 'seeds', 200)).toThrow('--seeds needs a non-negative integer');
  });
});

describe('campaign scripts’ arguments', () => {
  const accepted = { values: ['seeds', 'from', 'workload'], flags: ['materialize'] };
  it('accepts the known options in any order', () => {
    expect(campaignArgumentProblem([], accepted)).toBeUndefined();
    expect(
      campaignArgumentProblem(
        ['--materialize', '--seeds', '5', '--workload', 'repair', '--from', '3'],
        accepted,
      ),
    ).toBeUndefined();
  });

  it('names an unknown option, a stray word and a missing value, instead of running for minutes', () => {
    expect(campaignArgumentProblem(['--seed', '5'], accepted)).toBe('unknown option --seed');
    expect(campaignArgumentProblem(['--seeds', '5', 'extra'], accepted)).toBe('unexpected argument "extra"');
    expect(campaignArgumentProblem(['--seeds'], accepted)).toBe('--seeds needs a value');
    expect(campaignArgumentProblem(['--workload', '--materialize'], accepted)).toBe(
      '--workload needs a value',
    );
  });
});
