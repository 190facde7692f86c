/**
 * The quorum-writer workload with planted bugs, to prove its checkers can fail. Each must be caught
 * on some seed of a small campaign; `quorum-writer.test.ts` asserts it. Load them on the command
 * line with `npm run sim -- --load sim/test/support/planted-bugs.ts --workload <name> --seed N`.
 */
import { registerWorkload } from '../../src/registry.js';
import { QUICK_PROFILE, quorumWriterWorkload } from '../../src/workloads/quorum-writer/workload.js';

export const ackBeforeSync = quorumWriterWorkload({
  ...QUICK_PROFILE,
  name: 'bug-ack-before-sync',
  acknowledgeBeforeSync: true,
});

/** Rarely found by random seeds; `quorum-writer-directed.test.ts` drives the schedule that exposes it. */
export const skipRereplication = quorumWriterWorkload({
  ...QUICK_PROFILE,
  name: 'bug-skip-rereplication',
  skipRereplication: true,
});

registerWorkload(ackBeforeSync);
registerWorkload(skipRereplication);
