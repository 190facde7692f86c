import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The CLI tests start real child processes and the replay tests run whole campaigns; on a busy
    // two-core CI machine they can take several seconds each.
    testTimeout: 60_000,
    // The simulator campaigns are CPU-bound files of their own; run two at a time on a 2-core machine.
    maxWorkers: 2,
  },
});
