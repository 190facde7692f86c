import { defineConfig } from 'vitest/config';

/**
 * Two projects. `processes`: the files that start whole clusters of real processes (nine to fifteen
 * storage nodes, engines, an operator, Prometheus), one file at a time — two at once on two cores
 * would starve each other's timers and latency bounds. `unit`: everything else (planners, the
 * simulator, the Kubernetes stand-in's protocol tests), also one file at a time. `npm test`
 * (scripts/test.mjs) runs the two projects side by side in two vitest processes, so the CPU-bound
 * unit files use the core the cluster files leave idle while they wait on grace periods and rate
 * windows; `npx vitest run FILE` runs any one file as before.
 */
export const PROCESS_TESTS = [
  'test/up.test.ts',
  'test/up-lifecycle.test.ts',
  'test/upgrade.test.ts',
  'test/heat.test.ts',
  'test/repair.test.ts',
  'test/catch-up.test.ts',
  'test/k8s/e2e.test.ts',
  'test/k8s/observability.test.ts',
  'test/k8s/kubelet.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'processes', include: PROCESS_TESTS, fileParallelism: false },
      },
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: PROCESS_TESTS,
          fileParallelism: false,
        },
      },
    ],
  },
});
