/**
 * What a killed `up` left running is found and stopped by the next one (src/io/local-cluster.ts
 * `claimDataDir`), even when its state file had not recorded it (an `up` SIGKILLed between starting a
 * member and writing the state file, as a CI run caught: the member kept its directory's lock and the
 * new one could not start). On real processes, no cluster: a node process whose command line names a
 * member's directory is a leftover; a process that is not node (a user's `sleep`, `tail`) naming the
 * same path is left alone, and so is a node process naming only the logs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimDataDir } from '../src/io/local-cluster.js';
import { runningMembersOf } from '../src/io/local-processes.js';

const children: ChildProcess[] = [];
const directories: string[] = [];
afterAll(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function started(command: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** The signal that ended `child` (this test is its parent: it is reaped here, so its exit is seen here). */
function endOf(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (!alive(child)) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
}

describe('members a killed up left behind', () => {
  it('are found by their command line, not only in the state file, and stopped before anything starts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'northlight-left-'));
    directories.push(dataDir);
    const idle = 'setInterval(() => {}, 1000)';
    const storage = await started(process.execPath, [
      '-e',
      idle,
      '--',
      '--data-dir',
      `${dataDir}/storage/storage-a-1`,
    ]);
    const engine = await started(process.execPath, [
      '-e',
      idle,
      '--',
      '--data-dir',
      `${dataDir}/engines/engine-1`,
    ]);
    const logs = await started(process.execPath, ['-e', idle, '--', `${dataDir}/logs/engine-1.log`]);
    const notNode = await started('sh', ['-c', 'sleep 30', `${dataDir}/storage/storage-a-2`]);
    expect(runningMembersOf(dataDir).sort()).toEqual([storage.pid, engine.pid].sort());

    const lines: string[] = [];
    // No state file at all (the killed `up` wrote none): the leftovers are still stopped.
    await claimDataDir(dataDir, (line) => lines.push(line));
    expect(lines).toEqual(['stopped 2 process(es) a previous run left behind']);
    expect(await endOf(storage)).toBe('SIGKILL');
    expect(await endOf(engine)).toBe('SIGKILL');
    expect(alive(logs)).toBe(true);
    expect(alive(notNode)).toBe(true);
    expect(runningMembersOf(dataDir)).toEqual([]);
  });
});
