import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The process tests start a whole local cluster (nine processes); one file at a time on two cores.
    fileParallelism: false,
  },
});
