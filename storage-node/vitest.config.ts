import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The S3 tests start a real s3rver child process and move a few MiB through it.
    testTimeout: 60_000,
    // Two files at a time on two cores: the process files mostly wait (on sockets, heartbeats, kill
    // and restart) while the in-process ones compute; one at a time took 2.5 minutes.
    maxWorkers: 2,
    env: {
      // @aws-sdk/client-s3 is pinned on purpose (docs/storage-node-s3.md); its warning that later
      // releases will need Node 22 is known and would only add noise to every test run.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
