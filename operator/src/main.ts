/** The `northlight` process entry: runs the CLI (src/cli.ts) and exits with its code. */
import { main } from './cli.js';

process.exit(await main(process.argv.slice(2)));
