// The storage node's disk behind the data directory lock (io/lock-checked-disk.ts): a write asks the lock
// whether it is still held, trusting a yes for LOCK_CHECK_REUSE_MS, so a burst of page writes costs a
// stat or two instead of one each; a loss is still found by the first change after that, and from then
// on every operation fails typed, reads included, while closing stays allowed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeDisk } from '@northlight/protocol/io';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_CHECK_REUSE_MS, LockCheckedDisk } from '../src/io/lock-checked-disk.js';

const directories: string[] = [];
afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'northlight-lock-checked-'));
  directories.push(root);
  const lock = {
    held: true,
    checks: 0,
    isHeld(): boolean {
      this.checks++;
      return this.held;
    },
  };
  return { root, lock, disk: new LockCheckedDisk(new NodeDisk(root), lock) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('LockCheckedDisk', () => {
  it('checks the lock once for a burst of writes, and again once the reuse has run out', async () => {
    const { root, lock, disk } = fixture();
    const file = await disk.open('pages.dat');
    const checksAtOpen = lock.checks;
    expect(checksAtOpen).toBe(1);
    const started = performance.now();
    for (let index = 0; index < 200; index++) await file.write(index * 4, Uint8Array.of(index, 1, 2, 3));
    const elapsedMs = performance.now() - started;
    // One check per started millisecond at most (the burst usually fits in the first one).
    expect(lock.checks - checksAtOpen).toBeLessThanOrEqual(Math.ceil(elapsedMs / LOCK_CHECK_REUSE_MS) + 1);
    expect(readFileSync(join(root, 'pages.dat'))[4 * 199]).toBe(199);
    await sleep(5 * LOCK_CHECK_REUSE_MS);
    const before = lock.checks;
    await file.sync();
    expect(lock.checks).toBe(before + 1);
    await file.close();
  });

  it('refuses the first change after the lock is lost, then every operation, reads included', async () => {
    const { root, lock, disk } = fixture();
    const file = await disk.open('log.dat');
    await file.write(0, Uint8Array.of(1, 2, 3));
    lock.held = false;
    await sleep(5 * LOCK_CHECK_REUSE_MS);
    await expect(file.write(3, Uint8Array.of(4))).rejects.toMatchObject({
      code: 'NL_DISK_IO',
      message: expect.stringContaining('taken over by another process'),
    });
    expect(disk.fenced).toBe(true);
    await expect(file.read(0, 3)).rejects.toMatchObject({ code: 'NL_DISK_IO' });
    await expect(disk.exists('log.dat')).rejects.toMatchObject({ code: 'NL_DISK_IO' });
    expect([...readFileSync(join(root, 'log.dat'))]).toEqual([1, 2, 3]);
    await file.close(); // closing writes nothing: still allowed
  });

  it('never reuses a check that found the lock lost', async () => {
    const { lock, disk } = fixture();
    lock.held = false;
    await expect(disk.open('a.dat')).rejects.toMatchObject({ code: 'NL_DISK_IO' });
    lock.held = true; // a fence is for good, whatever the lock says later
    await expect(disk.open('b.dat')).rejects.toMatchObject({ code: 'NL_DISK_IO' });
  });
});
