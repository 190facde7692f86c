/**
 * Loaded into a storage node process with `node --import` by startup-stop.test.ts, so the test can
 * signal the node in the middle of its replay, between one node log file and the next: each open of
 * a node log file (`log/log-<sequence>.nl`, read-write) waits NORTHLIGHT_TEST_SLOW_LOG_OPEN_MS first,
 * and says so on stderr (`{"test":"slow log open","path":…}`) before waiting. Only the test's
 * processes load it; it patches node:fs/promises `open`, which the real disk (protocol's NodeDisk)
 * calls, and nothing else.
 */
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

const delayMs = Number(process.env.NORTHLIGHT_TEST_SLOW_LOG_OPEN_MS ?? '0');
const logFile = /[/\\]log[/\\]log-\d+\.nl$/;
const open = fsPromises.open;

fsPromises.open = async (path, flags, mode) => {
  if (typeof path === 'string' && logFile.test(path) && flags === 'r+') {
    process.stderr.write(`${JSON.stringify({ test: 'slow log open', path })}\n`);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return open(path, flags, mode);
};
syncBuiltinESMExports();
