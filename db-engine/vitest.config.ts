import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The kernel tests start SQLite-in-wasm worker threads and move a few hundred MiB of pages.
    testTimeout: 60_000,
  },
});
