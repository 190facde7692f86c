/**
 * The default simulator campaign, split into parts so that two cores run them in parallel: part p of
 * n covers seeds [p·size, (p+1)·size) of the quick quorum-writer workload. Each seed draws its own
 * fault mix and permanent-loss budget (up to a zone plus one node) and must pass every checker. A
 * failure prints the seed and the command that replays it. 200 seeds keep `npm test` near its ten
 * minutes on two cores; `npm run sim:campaign:quick` runs 2,000 seeds of the same workload.
 */
import { expect, it } from 'vitest';
import { formatSeedFailure, runCampaign, seedRange } from '../../src/runner.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../../src/workloads/quorum-writer/workload.js';

export const CAMPAIGN_SEEDS = 200;
const CAMPAIGN_PART_TIMEOUT_MS = 300_000;

export function campaignPart(part: number, parts: number): void {
  const size = CAMPAIGN_SEEDS / parts;
  const from = part * size;
  it(
    `passes seeds ${from}..${from + size - 1} of quorum-writer-quick`,
    async () => {
      const workload = quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' });
      const failures: string[] = [];
      const result = await runCampaign(workload, seedRange(from, size), {
        report: () => {},
        onResult: (seed) => {
          if (!seed.ok) failures.push(formatSeedFailure(seed));
        },
      });
      expect(failures).toEqual([]);
      expect(result.passed).toBe(size);
    },
    CAMPAIGN_PART_TIMEOUT_MS,
  );
}
