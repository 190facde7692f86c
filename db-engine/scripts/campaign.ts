/**
 * A long simulator campaign of the engine: six real storage cores and the real QuorumDriver under
 * network drops, duplicates and reordering, storage crashes and engine crashes, checked at every
 * recovery. Two workloads: the driver alone with groups of whole-page images (`runDriverSeed`,
 * test/support/driver-workload.ts; the default), or `--kernel`: the real SQL kernel (SQLite over the
 * redo VFS) on the driver, running bank transfers (`runKernelSeed`, test/support/kernel-workload.ts);
 * or `--replica`: that writer streaming its redo to a read replica, with stream cuts, writer crashes
 * and the split-brain schedule (a promotion while the old writer keeps running; `runReplicaSeed`,
 * test/support/replica-workload.ts). Not part of `npm test` (which runs a few pinned seeds of each).
 *
 *   npm run campaign -w @northlight/db-engine -- [--seeds 200] [--from 0] [--kernel | --replica]
 *
 * Progress on stderr, a JSON summary on stdout; exits 1 if a seed fails, naming it (replay it with
 * `runDriverSeed(seed)` or `runKernelSeed(seed)` in a test).
 */
import { campaignFlag, checkCampaignArguments } from '@northlight/sim';
import { runDriverSeed } from '../test/support/driver-workload.js';
import { runKernelSeed } from '../test/support/kernel-workload.js';
import { runReplicaSeed } from '../test/support/replica-workload.js';

checkCampaignArguments(
  process.argv,
  { values: ['seeds', 'from'], flags: ['kernel', 'replica'] },
  'usage: npm run campaign -w @northlight/db-engine -- [--seeds 200] [--from 0] [--kernel | --replica]',
);

function option(name: string, fallback: number): number {
  try {
    return campaignFlag(process.argv, name, fallback);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

const seeds = option('seeds', 200);
const from = option('from', 0);
const kernel = process.argv.includes('--kernel');
const replica = process.argv.includes('--replica');
const workload = replica ? 'replica' : kernel ? 'kernel' : 'driver';
const startedMs = performance.now();
const failing: { seed: number; error: string }[] = [];
const totals = {
  groups: 0,
  acknowledged: 0,
  recoveries: 0,
  storageCrashes: 0,
  pagesReadFromStorage: 0,
  replicaReads: 0,
  resyncs: 0,
  promotions: 0,
  zombieAcknowledged: 0,
};
for (let seed = from; seed < from + seeds; seed++) {
  try {
    if (replica) {
      const result = await runReplicaSeed(seed);
      totals.acknowledged += result.acknowledged;
      totals.replicaReads += result.replicaReads;
      totals.resyncs += result.resyncs;
      totals.promotions += result.promoted ? 1 : 0;
      totals.zombieAcknowledged += result.zombieAcknowledged;
    } else if (kernel) {
      const result = await runKernelSeed(seed);
      totals.groups += result.transfers;
      totals.acknowledged += result.acknowledged;
      totals.recoveries += result.recoveries;
      totals.storageCrashes += result.storageCrashes;
      totals.pagesReadFromStorage += result.pagesReadFromStorage;
    } else {
      const result = await runDriverSeed(seed);
      totals.groups += result.groups;
      totals.acknowledged += result.acknowledged;
      totals.recoveries += result.recoveries;
      totals.storageCrashes += result.storageCrashes;
    }
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    failing.push({ seed, error: text.split('\n')[0]! });
    process.stderr.write(`seed ${seed} FAILED: ${text}\n`);
  }
  const done = seed - from + 1;
  if (done % 20 === 0 || done === seeds)
    process.stderr.write(
      `${workload} campaign: ${done}/${seeds} seeds, ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`,
    );
}
/** The totals the workload counts (the others stay 0 and would only mislead). */
function reported(): Partial<typeof totals> {
  const { replicaReads, resyncs, promotions, zombieAcknowledged, ...engine } = totals;
  if (replica)
    return { acknowledged: totals.acknowledged, replicaReads, resyncs, promotions, zombieAcknowledged };
  return engine;
}

process.stdout.write(
  `${JSON.stringify({ workload: replica ? 'engine-replica' : kernel ? 'engine-kernel-on-driver' : 'engine-quorum-driver', seeds, from, passed: seeds - failing.length, failing, ...reported(), seconds: Number(((performance.now() - startedMs) / 1000).toFixed(1)) })}\n`,
);
process.exit(failing.length === 0 ? 0 : 1);
