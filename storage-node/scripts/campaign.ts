/**
 * A long simulator campaign of the storage node's core: the quorum-writer workload with six
 * `StorageNodeCore`s as storage (test/support/quorum-writer-core.ts), not part of `npm test`.
 *
 *   npm run campaign -w @northlight/storage-node -- [--seeds 1000] [--from 0] [--materialize]
 *
 * Prints progress to stderr and a JSON summary to stdout; exits 1 if any seed fails, listing each
 * failing seed with the command that replays it exactly, from the repository root
 * (`npm run sim -- --load storage-node/test/support/sim-workloads.ts --workload … --seed N`; add
 * `--trace` for every trace line).
 */
import {
  campaignFlag,
  checkCampaignArguments,
  formatSeedFailure,
  QUORUM_WRITER_QUICK_PROFILE,
  runCampaign,
  seedRange,
} from '@northlight/sim';
import { coreQuorumWriterWorkload } from '../test/support/quorum-writer-core.js';

checkCampaignArguments(
  process.argv,
  { values: ['seeds', 'from'], flags: ['materialize'] },
  'usage: npm run campaign -w @northlight/storage-node -- [--seeds 1000] [--from 0] [--materialize]',
);

function option(name: string, fallback: number): number {
  try {
    return campaignFlag(process.argv, name, fallback);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

const seeds = option('seeds', 1000);
const from = option('from', 0);
const materialize = process.argv.includes('--materialize');
const workload = coreQuorumWriterWorkload({ ...QUORUM_WRITER_QUICK_PROFILE, materialize });
const startedMs = performance.now();
const result = await runCampaign(workload, seedRange(from, seeds), {
  report: () => {},
  onResult: (seed, index) => {
    if (!seed.ok) process.stderr.write(`${formatSeedFailure(seed)}\n`);
    if (index % 50 === 0 || index === seeds) {
      process.stderr.write(
        `${workload.name}: ${index}/${seeds} seeds, ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`,
      );
    }
  },
});
const summary = {
  workload: workload.name,
  seeds: result.seedsRun,
  passed: result.passed,
  failingSeeds: result.failingSeeds,
  events: result.events,
  seconds: Number(((performance.now() - startedMs) / 1000).toFixed(1)),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(result.failingSeeds.length === 0 ? 0 : 1);
