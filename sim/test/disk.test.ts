/**
 * Proves the simulated disk keeps the fsync contract and is as harsh as it allows:
 *   - reads see every write, synced or not;
 *   - synced content survives a power loss exactly (property test over random operations);
 *   - unsynced writes are lost, kept or torn at a 512-byte sector boundary — each outcome happens
 *     for some seed — and a crash never invents a byte that was not written (property test);
 *   - a never-synced new file may vanish; a synced one, or one whose directory was synced, stays;
 *   - a rename is durable only after its directory is synced, and is atomic: the target name holds
 *     the old or the new file, never neither;
 *   - injected I/O errors reject with NL_DISK_IO and change nothing; bit flips corrupt one durable
 *     bit; wipe destroys everything.
 */
import { isNorthlightError } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SECTOR_BYTES } from '../src/disk.js';
import { bytes, diskRig, filled } from './support/harness.js';

type Operation =
  | { kind: 'write'; offset: number; data: Uint8Array }
  | { kind: 'truncate'; size: number }
  | { kind: 'sync' };

const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      offset: fc.integer({ min: 0, max: 3000 }),
      data: fc.uint8Array({ minLength: 1, maxLength: 1500 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), size: fc.integer({ min: 0, max: 3000 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync' as const) }) },
);

describe('SimDisk', () => {
  it('lets reads see unsynced writes, grows files with zeros, lists sorted names', async () => {
    const rig = diskRig();
    const disk = rig.view();
    const file = await rig.run(disk.open('/data/b.log'));
    await rig.run(file.write(4, bytes(1, 2)));
    expect(Array.from(await rig.run(file.read(0, 100)))).toEqual([0, 0, 0, 0, 1, 2]);
    expect(await rig.run(file.size())).toBe(6);
    await rig.run(file.truncate(5));
    expect(Array.from(await rig.run(file.read(3, 10)))).toEqual([0, 1]);
    await rig.run(disk.open('/data/a.log'));
    await rig.run(disk.open('/data/sub/c.log'));
    expect(await rig.run(disk.list('/data/'))).toEqual(['a.log', 'b.log']);
    expect(await rig.run(disk.exists('/data/sub/c.log'))).toBe(true);
    await rig.run(disk.remove('/data/a.log'));
    expect(await rig.run(disk.list('/data'))).toEqual(['b.log']);
    expect(rig.disk.bytesUsed()).toBe(5);
  });

  it('keeps synced content exactly and invents no bytes on power loss', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(operationArbitrary, { maxLength: 12 }),
        fc.array(operationArbitrary, { maxLength: 12 }),
        async (seed, before, after) => {
          const rig = diskRig(seed);
          const file = await rig.run(rig.view().open('/f'));
          await rig.run(rig.view().syncDirectory('/'));
          const written: { offset: number; data: Uint8Array }[] = [];
          for (const operation of before) {
            if (operation.kind === 'write') written.push(operation);
            await rig.run(apply(file, operation));
          }
          await rig.run(file.sync());
          const synced = rig.disk.contentOf('/f')!;
          // Only writes past the synced end afterwards, unsynced: the synced bytes must survive.
          for (const operation of after) {
            if (operation.kind !== 'write') continue;
            const shifted = { offset: synced.length + operation.offset, data: operation.data };
            written.push(shifted);
            await rig.run(file.write(shifted.offset, shifted.data));
          }
          rig.powerLoss();
          const recovered = rig.disk.contentOf('/f')!;
          expect(recovered.length).toBeGreaterThanOrEqual(synced.length);
          expect(recovered.subarray(0, synced.length)).toEqual(synced);
          expect(inventedOffsets(recovered, written, synced.length)).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never invents bytes whatever mix of synced and unsynced operations precedes the crash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(operationArbitrary, { maxLength: 20 }),
        async (seed, operations) => {
          const rig = diskRig(seed);
          const file = await rig.run(rig.view().open('/f'));
          await rig.run(file.sync());
          const written: { offset: number; data: Uint8Array }[] = [];
          for (const operation of operations) {
            if (operation.kind === 'write') written.push(operation);
            await rig.run(apply(file, operation));
          }
          rig.powerLoss();
          const recovered = rig.disk.contentOf('/f')!;
          expect(inventedOffsets(recovered, written, 0)).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('loses, keeps or tears an unsynced write at a sector boundary, depending on the seed', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const rig = diskRig(seed);
      const file = await rig.run(rig.view().open('/f'));
      await rig.run(file.sync());
      await rig.run(file.write(100, filled(2000, 0xab)));
      rig.powerLoss();
      const size = rig.disk.contentOf('/f')!.length;
      if (size === 0) outcomes.add('lost');
      else if (size === 2100) outcomes.add('kept');
      else {
        expect(size % SECTOR_BYTES).toBe(0);
        expect(size).toBeGreaterThan(100);
        outcomes.add('torn');
      }
    }
    expect([...outcomes].sort()).toEqual(['kept', 'lost', 'torn']);
  });

  it('lets a never-synced new file vanish, but not a synced one or one whose directory was synced', async () => {
    const fates = new Set<boolean>();
    for (let seed = 0; seed < 20; seed++) {
      const rig = diskRig(seed);
      const disk = rig.view();
      await rig.run(disk.open('/d/unsynced'));
      const synced = await rig.run(disk.open('/d/synced'));
      await rig.run(synced.write(0, bytes(1)));
      await rig.run(synced.sync());
      await rig.run(disk.open('/e/dir-synced'));
      await rig.run(disk.syncDirectory('/e'));
      rig.powerLoss();
      fates.add(rig.disk.paths().includes('/d/unsynced'));
      expect(rig.disk.paths()).toContain('/d/synced');
      expect(rig.disk.paths()).toContain('/e/dir-synced');
      expect(Array.from(rig.disk.contentOf('/d/synced')!)).toEqual([1]);
    }
    expect([...fates].sort()).toEqual([false, true]);
  });

  it('makes a rename durable only with its directory, and atomically', async () => {
    const fates = new Set<string>();
    for (let seed = 0; seed < 30; seed++) {
      const rig = diskRig(seed);
      const disk = rig.view();
      const old = await rig.run(disk.open('/d/final'));
      await rig.run(old.write(0, bytes(1)));
      await rig.run(old.sync());
      await rig.run(disk.syncDirectory('/d'));
      const next = await rig.run(disk.open('/d/tmp'));
      await rig.run(next.write(0, bytes(2)));
      await rig.run(next.sync());
      await rig.run(disk.rename('/d/tmp', '/d/final'));
      rig.powerLoss();
      const final = Array.from(rig.disk.contentOf('/d/final') ?? []);
      expect(final.length).toBe(1);
      fates.add(`final=${final[0]} tmp=${rig.disk.paths().includes('/d/tmp')}`);
    }
    expect([...fates].sort()).toEqual(['final=1 tmp=true', 'final=2 tmp=false']);

    const rig = diskRig(5);
    const disk = rig.view();
    const file = await rig.run(disk.open('/d/tmp'));
    await rig.run(file.sync());
    await rig.run(disk.rename('/d/tmp', '/d/final'));
    await rig.run(disk.syncDirectory('/d'));
    rig.powerLoss();
    expect(rig.disk.paths()).toEqual(['/d/final']);
  });

  it('rejects with NL_DISK_IO on injected errors and changes nothing', async () => {
    const rig = diskRig(1);
    const file = await rig.run(rig.view().open('/f'));
    rig.disk.setIoErrorProbability(1);
    const failure = await rig.run(file.write(0, bytes(1, 2, 3))).catch((error: unknown) => error);
    expect(isNorthlightError(failure, 'NL_DISK_IO')).toBe(true);
    await expect(rig.run(file.sync())).rejects.toMatchObject({ code: 'NL_DISK_IO' });
    rig.disk.setIoErrorProbability(0);
    expect(await rig.run(file.size())).toBe(0);
  });

  it('flips exactly one durable bit, and wipes everything', async () => {
    const rig = diskRig(3);
    const file = await rig.run(rig.view().open('/f'));
    await rig.run(file.write(0, filled(64, 0)));
    await rig.run(file.sync());
    const flip = rig.disk.flipBit()!;
    expect(flip.path).toBe('/f');
    const content = rig.disk.durableContentOf('/f')!;
    expect(content[flip.offset]).toBe(1 << flip.bit);
    expect(content.reduce((sum, value) => sum + (value === 0 ? 0 : 1), 0)).toBe(1);
    expect(Array.from(await rig.run(file.read(flip.offset, 1)))).toEqual([1 << flip.bit]);
    rig.powerLoss();
    rig.disk.wipe();
    expect(rig.disk.paths()).toEqual([]);
    expect(rig.disk.bytesUsed()).toBe(0);
    expect(rig.disk.flipBit()).toBeUndefined();
  });
});

function apply(
  file: {
    write(offset: number, data: Uint8Array): Promise<void>;
    truncate(size: number): Promise<void>;
    sync(): Promise<void>;
  },
  operation: Operation,
): Promise<void> {
  switch (operation.kind) {
    case 'write':
      return file.write(operation.offset, operation.data);
    case 'truncate':
      return file.truncate(operation.size);
    case 'sync':
      return file.sync();
  }
}

/** Offsets from `from` on whose byte is neither zero nor a byte some write put at that offset. */
function inventedOffsets(
  content: Uint8Array,
  written: readonly { offset: number; data: Uint8Array }[],
  from: number,
) {
  const invented: number[] = [];
  for (let offset = from; offset < content.length; offset++) {
    const value = content[offset];
    if (value === 0) continue;
    const possible = written.some(
      (write) =>
        write.offset <= offset &&
        offset < write.offset + write.data.length &&
        write.data[offset - write.offset] === value,
    );
    if (!possible) invented.push(offset);
  }
  return invented;
}
