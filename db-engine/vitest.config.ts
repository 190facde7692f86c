import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The kernel tests start SQLite-in-wasm worker threads and move a few hundred MiB of pages.
    testTimeout: 60_000,
    // One file at a time: the process tests run seven processes with real timeouts, and sharing the
    // machine's two cores with the wasm kernel tests made them time out under CI load.
    fileParallelism: false,
  },
});
