/**
 * How fast the simulator runs the default campaign's workload (quick quorum-writer), and proof that a
 * change to the simulator changed no run: it runs seeds [from, from + seeds) `runs` times and prints the
 * wall time of each pass, their median, events per second, and a digest of every seed's trace hash.
 * Not a test: timings depend on the machine and its load.
 *
 *   npx tsx sim/scripts/bench-campaign.ts [--seeds 100] [--from 0] [--runs 3] [--hashes]
 *
 * `--hashes` also prints `seed hash events` per seed. To compare two versions, run the script on
 * both (e.g. in two git worktrees) on the same seeds: the digests must be equal, and the medians say
 * how much faster the new one is. Run both on an otherwise idle machine, or alternate them.
 */

import { Fnv1a64 } from '../src/hash.js';
import { campaignFlag, checkCampaignArguments } from '../src/index.js';
import { runSeed } from '../src/runner.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../src/workloads/quorum-writer/workload.js';

checkCampaignArguments(
  process.argv,
  { values: ['seeds', 'from', 'runs'], flags: ['hashes'] },
  'usage: npx tsx sim/scripts/bench-campaign.ts [--seeds 100] [--from 0] [--runs 3] [--hashes]',
);

const seeds = campaignFlag(process.argv, 'seeds', 100);
const from = campaignFlag(process.argv, 'from', 0);
const runs = Math.max(1, campaignFlag(process.argv, 'runs', 3));
const printHashes = process.argv.includes('--hashes');
const workload = quorumWriterWorkload({ ...QUICK_PROFILE, name: 'quorum-writer-quick' });

interface Pass {
  readonly seconds: number;
  /** CPU time of the whole process (helper threads included) during the pass. */
  readonly cpuSeconds: number;
  readonly events: number;
  readonly digest: string;
  readonly failed: number;
}

async function pass(print: boolean): Promise<Pass> {
  const digest = new Fnv1a64();
  let events = 0;
  let failed = 0;
  const startedMs = performance.now();
  const startedCpu = process.cpuUsage();
  for (let seed = from; seed < from + seeds; seed++) {
    const result = await runSeed(workload, seed, { report: () => {} });
    digest.updateString(`${seed} ${result.traceHash} ${result.events}\n`);
    events += result.events;
    if (!result.ok) failed++;
    if (print)
      process.stdout.write(`${seed} ${result.traceHash} ${result.events}${result.ok ? '' : ' FAILED'}\n`);
  }
  const cpu = process.cpuUsage(startedCpu);
  return {
    seconds: (performance.now() - startedMs) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    events,
    digest: digest.hex(),
    failed,
  };
}

const passes: Pass[] = [];
for (let run = 0; run < runs; run++) {
  const result = await pass(printHashes && run === 0);
  passes.push(result);
  process.stdout.write(
    `pass ${run + 1}/${runs}: ${seeds} seeds in ${result.seconds.toFixed(2)} s ` +
      `(${result.cpuSeconds.toFixed(2)} s CPU), ` +
      `${Math.round(result.events / result.seconds)} events/s, digest ${result.digest}` +
      `${result.failed > 0 ? `, ${result.failed} FAILED` : ''}\n`,
  );
}
const digests = new Set(passes.map((result) => result.digest));
const sorted = passes.map((result) => result.seconds).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)] as number;
process.stdout.write(
  `median ${median.toFixed(2)} s for seeds ${from}..${from + seeds - 1} ` +
    `(${((median / seeds) * 1000).toFixed(1)} ms per seed); ` +
    `digest ${[...digests].join(' ')}${digests.size > 1 ? ' — DIFFERENT ACROSS PASSES' : ''}\n`,
);
if (digests.size > 1 || passes.some((result) => result.failed > 0)) process.exitCode = 1;
