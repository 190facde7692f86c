/**
 * Proves the replay guarantee and the harness's reporting with the self-test workload
 * (`support/durable-counter.ts`): the same seed gives the same trace hash, event count and stats on
 * every run; different seeds give different hashes; a planted bug (acknowledging before fsync) is
 * found on some seed and that seed then fails identically on every replay (a pinned-seed test); a
 * throw inside a simulated process and an unexpected ERROR log line fail the run with a report
 * naming the seed and the replay command.
 */
import { describe, expect, it } from 'vitest';
import { formatSeedFailure, runCampaign, runSeed, seedRange } from '../src/runner.js';
import { durableCounterWorkload } from './support/durable-counter.js';

const quiet = { report: () => {} };

describe('replay', () => {
  it('gives identical results for the same seed and different hashes for different seeds', async () => {
    const workload = durableCounterWorkload();
    const first = await runSeed(workload, 7, quiet);
    const again = await runSeed(workload, 7, quiet);
    expect(first.ok).toBe(true);
    expect(first.events).toBeGreaterThan(1000);
    expect(again).toEqual(first);
    const hashes = new Set<string>();
    for (const seed of seedRange(0, 10)) hashes.add((await runSeed(workload, seed, quiet)).traceHash);
    expect(hashes.size).toBe(10);
  });

  it('passes a campaign of the correct workload', async () => {
    const result = await runCampaign(durableCounterWorkload(), seedRange(100, 25), quiet);
    expect(result).toMatchObject({ seedsRun: 25, passed: 25, failingSeeds: [] });
  });

  it('finds a planted durability bug, and the failing seed replays exactly', async () => {
    const buggy = durableCounterWorkload({ name: 'ack-before-sync', ackBeforeSync: true });
    const campaign = await runCampaign(buggy, seedRange(0, 40), quiet);
    expect(campaign.failingSeeds.length).toBeGreaterThan(0);
    const seed = campaign.failingSeeds[0]!;
    const replayed = await runSeed(buggy, seed, quiet);
    expect(replayed.ok).toBe(false);
    expect(replayed.violations[0]?.checker).toBe('durability');
    expect(replayed.traceHash).toBe(campaign.failures[0]!.traceHash);
  });

  it('reports a throw inside a simulated process as a failure of its seed', async () => {
    const reports: string[] = [];
    const workload = durableCounterWorkload({ name: 'thrower', throwAtMs: 50, faults: false });
    const result = await runSeed(workload, 3, { report: (message) => reports.push(message) });
    expect(result.ok).toBe(false);
    expect(result.violations[0]).toMatchObject({ checker: 'simulation' });
    expect(result.violations[0]!.message).toMatch(/planted failure in n1/);
    expect(result.virtualTimeMs).toBeLessThan(51);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/^seed 3 failed: \[simulation\]/);
    expect(reports[0]).toContain('replay with: npm run sim -- --workload thrower --seed 3');
    expect(formatSeedFailure(result)).toBe(reports[0]);
  });

  it('fails a run on an unexpected ERROR log line, unless the workload expects it', async () => {
    const workload = durableCounterWorkload({ name: 'error-logger', logErrorAtMs: 20, faults: false });
    const result = await runSeed(workload, 1, quiet);
    expect(result.violations).toEqual([
      expect.objectContaining({ checker: 'error-log', message: expect.stringMatching(/planted error line/) }),
    ]);
    const tolerant = { ...workload, isExpectedErrorLog: () => true };
    expect((await runSeed(tolerant, 1, quiet)).ok).toBe(true);
  });
});
