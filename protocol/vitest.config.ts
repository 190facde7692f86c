import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Two files at a time on two cores (vitest's default is one fewer than the cores): 23 s → 14 s.
    maxWorkers: 2,
  },
});
