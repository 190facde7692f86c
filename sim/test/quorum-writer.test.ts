/**
 * Proves the quorum-writer workload is a working instrument, not a test that cannot fail:
 * - replaying a seed gives the same trace hash, event count and stats, byte for byte;
 * - the seeds that found bugs in the toy writer and segments (epoch reuse after a restart, a writer
 *   re-recovering with stale serving state, interleaved truncation entries, a stale grace timer)
 *   stay fixed — each is pinned here with the profile it was found in;
 * - a planted durability bug (segments acknowledge before fdatasync) is caught, by the
 *   durable-on-disk checker, and the failing seed replays identically;
 * - a fault-free run makes progress: commits are acknowledged and verified on disk.
 */
import { describe, expect, it } from 'vitest';
import { runCampaign, runSeed, seedRange } from '../src/runner.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../src/workloads/quorum-writer/workload.js';
import { ackBeforeSync } from './support/planted-bugs.js';

const quiet = { report: () => {} };

describe('quorum-writer workload', () => {
  it('replays a seed exactly', async () => {
    const workload = quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' });
    const first = await runSeed(workload, 42, quiet);
    const again = await runSeed(workload, 42, quiet);
    expect(first.ok).toBe(true);
    expect(first.events).toBeGreaterThan(2000);
    expect(again.traceHash).toBe(first.traceHash);
    expect(again).toEqual(first);
    const other = await runSeed(workload, 43, quiet);
    expect(other.traceHash).not.toBe(first.traceHash);
  });

  it.each([2, 105, 157])('keeps pinned seed %i of the full profile passing', async (seed) => {
    const result = await runSeed(quorumWriterWorkload(), seed, quiet);
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    expect(Number(result.stats.commitsAcknowledged)).toBeGreaterThan(0);
    expect(Number(result.stats.recoveries)).toBeGreaterThan(1);
  });

  it('catches storage that acknowledges before fdatasync, and the failing seed replays', async () => {
    const campaign = await runCampaign(ackBeforeSync, seedRange(0, 5), quiet);
    expect(campaign.failingSeeds.length).toBeGreaterThan(0);
    const seed = campaign.failingSeeds[0]!;
    const first = await runSeed(ackBeforeSync, seed, quiet);
    const again = await runSeed(ackBeforeSync, seed, quiet);
    expect(first.ok).toBe(false);
    expect(first.violations.map((v) => v.checker)).toContain('durable-on-disk');
    expect(again.traceHash).toBe(first.traceHash);
  });

  it('makes progress and verifies every acknowledged record on disk', async () => {
    const results = await runCampaign(
      quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' }),
      seedRange(1000, 5),
      quiet,
    );
    expect(results.failingSeeds).toEqual([]);
    const seed = await runSeed(
      quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' }),
      1000,
      quiet,
    );
    expect(Number(seed.stats.commitsAcknowledged)).toBeGreaterThan(50);
    expect(Number(seed.stats.recordsVerifiedOnDisk)).toBeGreaterThan(50);
  });
});
