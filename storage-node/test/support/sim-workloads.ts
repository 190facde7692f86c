/**
 * Registers the storage node's simulator workloads with the simulator's CLI, as the campaign runs
 * them (`npm run campaign -w @northlight/storage-node`), so that a failing seed's replay line works
 * as printed, from the repository root:
 *
 *   npm run sim -- --load storage-node/test/support/sim-workloads.ts --workload quorum-writer-core --seed N [--trace]
 *   npm run sim -- --load storage-node/test/support/sim-workloads.ts --workload quorum-writer-core-gc --seed N
 *   npm run sim -- --load storage-node/test/support/sim-workloads.ts --workload quorum-writer-core-gc-batched --seed N
 */
import { QUORUM_WRITER_QUICK_PROFILE, registerWorkload } from '@northlight/sim';
import { BATCHED_BACKUP_MAX_DELAY_MS, coreQuorumWriterWorkload } from './quorum-writer-core.js';

registerWorkload(coreQuorumWriterWorkload(QUORUM_WRITER_QUICK_PROFILE));
registerWorkload(coreQuorumWriterWorkload({ ...QUORUM_WRITER_QUICK_PROFILE, materialize: true }));
registerWorkload(
  coreQuorumWriterWorkload({
    ...QUORUM_WRITER_QUICK_PROFILE,
    materialize: true,
    backupMaxDelayMs: BATCHED_BACKUP_MAX_DELAY_MS,
  }),
);
