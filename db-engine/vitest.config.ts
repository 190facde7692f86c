import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The kernel tests start SQLite-in-wasm worker threads and move a few hundred MiB of pages.
    testTimeout: 60_000,
    // Two files at a time on two cores: the process tests mostly wait on their processes while the
    // kernel tests compute. One at a time took 250 s, two 138-149 s (2026-11-28, twice, no failure).
    // Before the kernel worker ran from its bundle (kernel-host.ts), each kernel start paid for tsx in
    // its thread, and two files at a time made the process tests time out under CI load.
    maxWorkers: 2,
  },
});
