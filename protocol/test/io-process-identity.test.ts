/**
 * processAlive (src/io/process-identity.ts): a zombie — exited, not yet reaped by its parent — is not
 * alive, though `kill(pid, 0)` succeeds for it; a lock or port its pid names is free.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { processAlive, processStartTicks } from '../src/io/index.js';

describe('processAlive', () => {
  it('is true for this process and a sleeping child, false for a zombie and a pid that is gone', async () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(0)).toBe(false);
    expect(processAlive(-1)).toBe(false);
    // `sh` starts a short sleep in the background and becomes a long one (exec), which never reaps
    // it: the short one stays a zombie until the long one exits.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombie = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
      );
      expect(processAlive(parent.pid as number)).toBe(true);
      for (let waited = 0; waited < 5_000; waited += 50) {
        const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) break;
        await sleep(50);
      }
      const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
      expect(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)).toBe('Z');
      // kill(pid, 0) still succeeds for it, and it still has a start time: only its state tells.
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(processStartTicks(zombie)).toMatch(/^\d+$/);
      expect(processAlive(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
    await new Promise((resolve) => parent.once('exit', resolve));
    expect(processAlive(parent.pid as number)).toBe(false);
  });
});
