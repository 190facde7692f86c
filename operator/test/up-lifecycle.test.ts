/**
 * `northlight up`'s own life, on real processes: how it takes its data directory, and how it stops.
 *   1. Two `up`s started at the same moment on one data directory: exactly one runs (six storage
 *      nodes, not twelve); the other exits 1 at once, naming the first one's pid. An `up` SIGKILLed
 *      while it starts leaves its lock and its members: the next `up` takes the lock over (a note),
 *      stops the members it finds in the state file, and runs exactly one set.
 *   2. SIGTERM while `up` starts (its storage nodes are starting): it stops what it started and exits
 *      1, and no process of that data directory is left.
 *   3. Ctrl-C in the terminal (SIGINT to the whole foreground process group): only `up` gets it, and
 *      stops the engines first and the storage nodes after them (their logs say who asked, and when).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newDataDir, outputOf, processesOf, spawnUp, startUp, state, until } from './support/cli-rig.js';

/** The JSON lines of a member's log that say `message`. */
function logLines(dataDir: string, member: string, message: RegExp): Record<string, string>[] {
  return readFileSync(join(dataDir, 'logs', `${member}.log`), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, string>)
    .filter((line) => message.test(line.message ?? ''));
}

describe('northlight up: the data directory lock and stopping (real processes)', () => {
  it('runs one of two ups started at once on one data directory, and takes over a dead one’s lock', {
    timeout: 240_000,
  }, async () => {
    const dataDir = newDataDir('northlight-lock-');
    const ups = [spawnUp(dataDir), spawnUp(dataDir)];
    // The refused one exits at once, before anything is started.
    const refusedIndex = await Promise.race(ups.map((up, index) => up.exited.then(() => index)));
    const refused = ups[refusedIndex]!;
    const running = ups[1 - refusedIndex]!;
    expect(await refused.exited).toBe(1);
    expect(refused.output.join('')).toMatch(
      new RegExp(`is in use by another \`northlight up\` \\(pid ${running.child.pid}, started `),
    );
    expect(refused.output.join('')).toMatch(/nothing was started/);
    expect(refused.output.join('')).not.toMatch(/starting/);
    await outputOf(running, 'SQL over HTTP');
    expect(processesOf(join(dataDir, 'storage'))).toHaveLength(6);
    expect(JSON.parse(readFileSync(join(dataDir, 'up.lock'), 'utf8')).pid).toBe(running.child.pid);
    running.child.kill('SIGINT');
    expect(await running.exited).toBe(0);
    expect(existsSync(join(dataDir, 'up.lock'))).toBe(false);

    // An `up` SIGKILLed mid-start leaves its lock and its members (they run in process groups of
    // their own, so they outlive it): the next `up` takes the lock over, finds the members in the
    // state file written as they started, stops them, and runs exactly one set.
    const killed = spawnUp(dataDir);
    await outputOf(killed, 'starting 6 storage nodes');
    await until('the storage nodes spawned', () =>
      processesOf(join(dataDir, 'storage')).length === 6 ? true : undefined,
    );
    killed.child.kill('SIGKILL');
    await killed.exited;
    const leftovers = processesOf(dataDir);
    expect(leftovers.length).toBeGreaterThanOrEqual(6);
    const again = await startUp(dataDir);
    const againOutput = again.output.join('');
    expect(againOutput).toMatch(
      new RegExp(`the \`up\` that held .*up\\.lock \\(pid ${killed.child.pid}, started .*\\) is gone`),
    );
    expect(againOutput).toMatch(/stopped \d+ process\(es\) a previous run left behind/);
    for (const pid of leftovers) expect(processesOf(dataDir)).not.toContain(pid);
    expect(processesOf(join(dataDir, 'storage'))).toHaveLength(6);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    expect(existsSync(join(dataDir, 'up.lock'))).toBe(false);
  });

  it('stops what it started when SIGTERM comes during the start, and exits 1', {
    timeout: 180_000,
  }, async () => {
    const dataDir = newDataDir('northlight-interrupt-');
    const up = spawnUp(dataDir);
    await outputOf(up, 'starting 6 storage nodes');
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(1);
    const output = up.output.join('');
    expect(output).toMatch(/SIGTERM: stopping the cluster/);
    expect(output).toMatch(/the start was interrupted; every process it had started is stopped/);
    // The storage nodes had been started (each log begins with its start), and were stopped in order.
    expect(readFileSync(join(dataDir, 'logs', 'storage-a-1.log'), 'utf8')).toMatch(
      /northlight starts storage-a-1/,
    );
    expect(output).toMatch(/engines stopped; stopping the storage nodes/);
    // Nothing of this data directory runs, and the next `up` has nothing to clean up.
    expect(processesOf(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'up.lock'))).toBe(false);
  });

  it('stops the engines before the storage nodes on a Ctrl-C to the whole process group', {
    timeout: 180_000,
  }, async () => {
    const dataDir = newDataDir('northlight-ctrl-c-');
    // As the README runs it (npm run northlight), in a process group of its own, as a shell runs it:
    // -pid is the terminal's foreground group.
    const up = await startUp(dataDir, [], { detached: true, viaNpm: true });
    // `up` busy for a moment when Ctrl-C comes (a GC pause, two loaded cores): the wrapper above it
    // must not take that for a hang. tsx's CLI did: it SIGKILLs a child that has not acknowledged a
    // signal within 60 ms, and every member was left running.
    const upPid = state(dataDir).pid;
    process.kill(upPid, 'SIGSTOP');
    process.kill(-up.child.pid!, 'SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(upPid, 'SIGCONT');
    await up.exited; // npm's own code: 130 after a Ctrl-C, whatever `up`'s was
    expect(up.output.join('')).toContain('stopped; the data stays in');
    await until('every member gone', () => (processesOf(dataDir).length === 0 ? true : undefined), 10_000);
    // The engines stopped before the storage nodes began: each storage node's shutdown is logged
    // after every engine's.
    const engineStops = ['engine-1', 'engine-2'].flatMap((engine) => logLines(dataDir, engine, /^stopping$/));
    const storageStops = ['a-1', 'a-2', 'b-1', 'b-2', 'c-1', 'c-2'].flatMap((node) =>
      logLines(dataDir, `storage-${node}`, /^shutting down/),
    );
    expect(engineStops).toHaveLength(2);
    expect(storageStops).toHaveLength(6);
    const lastEngineStop = Math.max(...engineStops.map((line) => Date.parse(line.time!)));
    for (const line of storageStops) expect(Date.parse(line.time!)).toBeGreaterThan(lastEngineStop);
    // Because every member was stopped by `up` (SIGTERM), none by the terminal's SIGINT.
    expect(engineStops.map((line) => line.why)).toEqual(['SIGTERM', 'SIGTERM']);
    expect(storageStops.map((line) => line.signal)).toEqual(Array(6).fill('SIGTERM'));
    expect(up.output.join('')).toMatch(
      /Ctrl-C: stopping the cluster[\s\S]*engines stopped; stopping the storage nodes/,
    );
  });
});
