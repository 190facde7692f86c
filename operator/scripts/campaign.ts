/**
 * A long simulator campaign of the control plane (test/sim/workloads.ts): the real repair and upgrade
 * planners driving simulated clusters under load and faults, one seed after another. Not part of
 * `npm test`, which runs a few pinned seeds of each workload (test/sim/operator-sim.test.ts).
 *
 *   npm run campaign -w @northlight/operator -- [--workload repair|zone-loss|upgrade|catch-up|all] [--seeds 200] [--from 0]
 *                                                [--without-fixes]
 *
 * `--without-fixes` runs the executor without the fixes of the two bugs the campaigns found
 * (test/sim/control-plane.ts, `ExecutorFix`), to replay them; by default it has them, as
 * src/io/repair-executor.ts does.
 *
 * Progress on stderr; on stdout a JSON summary per workload: seeds run, failures, totals of the
 * seeds' stats, timings, and each failing seed with its first violation and the command that replays
 * it. Exit code: 0 every seed passed, 1 a seed failed, 2 bad arguments.
 */
import { campaignFlag, checkCampaignArguments } from '@northlight/sim';
import { EXECUTOR_FIXES } from '../test/sim/control-plane.js';
import { runSeed, WORKLOADS, type WorkloadName } from '../test/sim/workloads.js';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: campaign [--workload repair|zone-loss|upgrade|catch-up|all] [--seeds N] [--from S] [--without-fixes]\n`,
  );
  process.exit(2);
}

checkCampaignArguments(
  process.argv,
  { values: ['workload', 'seeds', 'from'], flags: ['without-fixes'] },
  'usage: npm run campaign -w @northlight/operator -- [--workload repair|zone-loss|upgrade|catch-up|all] [--seeds 200] [--from 0] [--without-fixes]',
);

function option(name: string, fallback: number): number {
  try {
    return campaignFlag(process.argv, name, fallback);
  } catch (error) {
    return usage((error as Error).message);
  }
}

function workloads(): readonly WorkloadName[] {
  const index = process.argv.indexOf('--workload');
  const name = index === -1 ? 'all' : process.argv[index + 1];
  if (name === 'all') return WORKLOADS;
  if (WORKLOADS.includes(name as WorkloadName)) return [name as WorkloadName];
  return usage(`unknown workload ${JSON.stringify(name)}`);
}

/** `--without-fixes`: the executor without its bug fixes (test/sim/control-plane.ts), to replay them. */
const fixes = process.argv.includes('--without-fixes') ? [] : EXECUTOR_FIXES;
const seeds = option('seeds', 200);
const from = option('from', 0);
const summary: Record<string, unknown>[] = [];
let failed = false;
for (const workload of workloads()) {
  const startedMs = performance.now();
  const totals: Record<string, number> = {};
  const maxima: Record<string, number> = {};
  const failing: { seed: number; error: string; replay: string }[] = [];
  let slowestSeedMs = 0;
  for (let seed = from; seed < from + seeds; seed++) {
    const seedStartedMs = performance.now();
    const replay =
      `npm run campaign -w @northlight/operator -- --workload ${workload} --seeds 1 --from ${seed}` +
      (fixes.length === 0 ? ' --without-fixes' : '');
    try {
      const outcome = await runSeed(workload, seed, { fixes });
      for (const [key, value] of Object.entries(outcome.stats)) {
        totals[key] = (totals[key] ?? 0) + value;
        maxima[key] = Math.max(maxima[key] ?? value, value);
      }
      if (outcome.violations.length > 0) {
        failing.push({ seed, error: outcome.violations[0]!, replay });
        process.stderr.write(`${workload} seed ${seed} FAILED:\n  ${outcome.violations.join('\n  ')}\n`);
      }
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failing.push({ seed, error: text.split('\n')[0]!, replay });
      process.stderr.write(`${workload} seed ${seed} FAILED: ${text}\n`);
    }
    slowestSeedMs = Math.max(slowestSeedMs, performance.now() - seedStartedMs);
    const done = seed - from + 1;
    if (done % 20 === 0 || done === seeds)
      process.stderr.write(
        `${workload} campaign: ${done}/${seeds} seeds, ${failing.length} failed, ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`,
      );
  }
  failed ||= failing.length > 0;
  summary.push({
    workload,
    seeds,
    from,
    failed: failing.length,
    seconds: Number(((performance.now() - startedMs) / 1000).toFixed(1)),
    slowestSeedSeconds: Number((slowestSeedMs / 1000).toFixed(1)),
    fixes,
    totals,
    maxima,
    failing,
  });
}
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
process.exit(failed ? 1 : 0);
