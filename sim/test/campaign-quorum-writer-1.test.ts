/**
 * Part 2 of 4 of the default simulator campaign: seeds 125..249 of the
 * quick quorum-writer workload (500 seeds in all, split so that two cores run them in parallel).
 * Each seed draws its own fault mix and permanent-loss budget (up to a zone plus one node) and must
 * pass every checker. A failure prints the seed and the command that replays it.
 */
import { expect, it } from 'vitest';
import { formatSeedFailure, runCampaign, seedRange } from '../src/runner.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../src/workloads/quorum-writer/workload.js';

it('passes seeds 125..249 of quorum-writer-quick', async () => {
  const workload = quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' });
  const failures: string[] = [];
  const result = await runCampaign(workload, seedRange(125, 125), {
    report: () => {},
    onResult: (seed) => {
      if (!seed.ok) failures.push(formatSeedFailure(seed));
    },
  });
  expect(failures).toEqual([]);
  expect(result.passed).toBe(125);
}, 300_000);
