/** The campaign scripts' argument check, with its exits (the pure part is `campaignArgumentProblem`). */
import { campaignArgumentProblem } from '../runner.js';

/**
 * Checks a campaign script's arguments (after `node script`) before it runs for minutes: `--help`
 * prints the usage and exits 0; an unknown option, or a value option without its value, prints what is
 * wrong and the usage and exits 2.
 */
export function checkCampaignArguments(
  argv: readonly string[],
  accepted: { readonly values: readonly string[]; readonly flags: readonly string[] },
  usage: string,
): void {
  const args = argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const problem = campaignArgumentProblem(args, accepted);
  if (problem !== undefined) {
    process.stderr.write(`${problem}\n${usage}\n`);
    process.exit(2);
  }
}
