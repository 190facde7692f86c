/**
 * The engine process: parses the configuration and runs a writer (`writer.ts`) or a read replica
 * (`replica.ts`, `--role replica`). Run `tsx db-engine/src/main.ts --help`.
 *
 * Exit codes: 0 after a graceful stop; 2 for a bad configuration; 3 when fenced (a newer writer
 * recovered the volume, or an operator fenced this writer); 1 for anything else.
 */
import { isNorthlightError } from '@northlight/protocol';
import { JsonLineLogger } from '@northlight/protocol/io';
import { type EngineConfig, engineHelpText, parseEngineConfig } from './config.js';
import { runReplica } from './replica.js';
import { runWriter } from './writer.js';

async function run(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${engineHelpText()}\n`);
    return 0;
  }
  let config: EngineConfig;
  try {
    config = parseEngineConfig(argv, process.env);
  } catch (error) {
    if (!isNorthlightError(error)) throw error;
    process.stderr.write(`db-engine: ${error.message}\nrun with --help for every option\n`);
    return 2;
  }
  const logger = new JsonLineLogger('db-engine', config.logLevel);
  if (config.internalToken === undefined)
    logger.log(
      'warn',
      'no internal token: the HTTP routes /v1/status, /v1/volume, /v1/replication/* and /v1/admin/* (fence, promote, membership) answer anyone who reaches the HTTP port',
      {
        action:
          'set --internal-token (NL_ENGINE_INTERNAL_TOKEN) on every engine of the cluster and on its control plane',
      },
    );
  if (config.transportAuth === 'transition')
    logger.log(
      'warn',
      'transport authentication in transition: storage nodes that cannot prove the internal token (builds from before it) are taken too',
      {
        action:
          'once every storage node and engine runs this build, restart them with --transport-auth required',
      },
    );
  return config.role === 'replica' ? runReplica(config, logger) : runWriter(config, logger);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `db-engine: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
