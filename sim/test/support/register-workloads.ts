/** Registers the self-test workloads for the CLI tests: `npm run sim -- --load sim/test/support/register-workloads.ts …`. */
import { registerWorkload } from '../../src/registry.js';
import { durableCounterWorkload } from './durable-counter.js';

registerWorkload(durableCounterWorkload(), { isDefault: true });
registerWorkload(durableCounterWorkload({ name: 'ack-before-sync', ackBeforeSync: true }));
// Run only in a child process (cli.test.ts): the test runner itself fails on unhandled rejections.
registerWorkload(durableCounterWorkload({ name: 'rejecter', rejectAtMs: 30, faults: false }));
