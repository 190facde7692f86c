/**
 * Proves that the simulated environment and the real adapters honour the same contracts
 * (`protocol/src/core/env.ts`), by running one suite against both: the simulator's SimDisk and the
 * real NodeDisk on a temporary directory; the simulator's Prng and the real NodeRandom. A core that
 * passes in the simulator therefore talks to the same interface semantics in production.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Disk, isNorthlightError, type Random } from '@northlight/protocol';
import { NodeClock, NodeDisk, NodeRandom } from '@northlight/protocol/io';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../src/prng.js';
import { bytes, diskRig } from './support/harness.js';

type Run = <T>(promise: Promise<T>) => Promise<T>;

async function diskContract(disk: Disk, run: Run): Promise<void> {
  const file = await run(disk.open('/data/b.log'));
  expect(await run(file.size())).toBe(0);
  await run(file.write(4, bytes(1, 2)));
  expect(Array.from(await run(file.read(0, 100)))).toEqual([0, 0, 0, 0, 1, 2]); // grows with zeros, short read at EOF
  expect(Array.from(await run(file.read(10, 4)))).toEqual([]);
  await run(file.sync());
  await run(file.truncate(5));
  expect(await run(file.size())).toBe(5);
  await run(file.write(5, bytes(9)));
  expect(Array.from(await run(file.read(3, 10)))).toEqual([0, 1, 9]);
  await run(file.close());
  const reopened = await run(disk.open('/data/b.log'));
  expect(Array.from(await run(reopened.read(0, 10)))).toEqual([0, 0, 0, 0, 1, 9]); // open never truncates
  await run(reopened.close());
  await run(disk.open('/data/a.log')).then((f) => run(f.close()));
  await run(disk.open('/data/sub/c.log')).then((f) => run(f.close()));
  expect(await run(disk.list('/data'))).toEqual(['a.log', 'b.log']); // sorted names, files only
  expect(await run(disk.list('/nothing-here'))).toEqual([]);
  expect(await run(disk.exists('/data/sub/c.log'))).toBe(true);
  expect(await run(disk.exists('/data/missing'))).toBe(false);
  await run(disk.rename('/data/a.log', '/data/b.log')); // atomically replaces the target
  expect(await run(disk.list('/data'))).toEqual(['b.log']);
  const replaced = await run(disk.open('/data/b.log'));
  expect(await run(replaced.size())).toBe(0);
  await run(replaced.close());
  await run(disk.syncDirectory('/data'));
  await run(disk.remove('/data/b.log'));
  expect(await run(disk.exists('/data/b.log'))).toBe(false);
}

function randomContract(random: Random): void {
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const value = random.nextInt(7);
    expect(Number.isInteger(value) && value >= 0 && value < 7).toBe(true);
    seen.add(value);
    const float = random.nextFloat();
    expect(float >= 0 && float < 1).toBe(true);
    const word = random.nextUint32();
    expect(Number.isInteger(word) && word >= 0 && word < 2 ** 32).toBe(true);
  }
  expect(seen.size).toBe(7);
  const filled = new Uint8Array(64);
  random.fillBytes(filled);
  expect(filled.some((byte) => byte !== 0)).toBe(true);
}

const temporaryRoots: string[] = [];
afterAll(() => {
  for (const root of temporaryRoots) rmSync(root, { recursive: true, force: true });
});

describe('Disk contract', () => {
  it('holds for the simulated disk', async () => {
    const rig = diskRig();
    await diskContract(rig.view(), rig.run);
  });

  it('holds for the real disk (node:fs, fdatasync)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'northlight-disk-'));
    temporaryRoots.push(root);
    await diskContract(new NodeDisk(root), (promise) => promise);
  });

  it('turns real I/O failures into NL_DISK_IO and refuses paths outside its root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'northlight-disk-'));
    temporaryRoots.push(root);
    const disk = new NodeDisk(root);
    const file = await disk.open('/x.log');
    await file.close();
    const error = await file.read(0, 1).catch((caught: unknown) => caught);
    expect(isNorthlightError(error, 'NL_DISK_IO')).toBe(true);
    await expect(disk.open('../../etc/passwd')).rejects.toThrow(/escapes the disk root/);
  });
});

describe('Random and Clock contracts', () => {
  it('hold for the seeded PRNG and the real CSPRNG', () => {
    randomContract(new Prng(1));
    randomContract(new NodeRandom());
  });

  it('real clock: monotonic, timers fire no earlier than asked, cancel works', async () => {
    const clock = new NodeClock();
    const start = clock.nowMs();
    let cancelledFired = false;
    clock
      .setTimer(5, () => {
        cancelledFired = true;
      })
      .cancel();
    await clock.sleep(20);
    expect(clock.nowMs() - start).toBeGreaterThanOrEqual(19);
    expect(cancelledFired).toBe(false);
    expect(Math.abs(clock.wallClockMs() - Date.now())).toBeLessThan(1000);
  });
});
