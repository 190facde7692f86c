/**
 * Proves the buffer cache's eviction rule against a simple model: random sequences of reads, groups
 * (committed or rolled back), LSN assignments and VDL advances, with a small capacity. After every
 * step the cache holds exactly the pages the model does, with the model's images, and:
 * - no page whose newest write is in the open group, unassigned, or above the VDL was ever evicted
 *   (C1): the model keeps them, so a mismatch would show;
 * - eviction is LRU among evictable pages (C2), the cache grows past capacity only when nothing is
 *   evictable (C3), and shrinks back to capacity once the VDL unpins pages.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EntrySnapshot, PageCache } from '../../src/kernel/page-cache.js';

interface ModelEntry {
  version: number;
  /** 0 clean, -1 in the open group, else the newest sealed group. */
  seq: number;
  lsn: bigint | undefined;
  touch: number;
}

/** The rule, written as plainly as possible: linear scans, no indexes. */
class Model {
  readonly entries = new Map<number, ModelEntry>();
  readonly unassigned: { seq: number; pageNos: number[] }[] = [];
  vdl = 0n;
  lastLsn = 0n;
  lastSeq = 0;
  clock = 0;
  evictions = 0;
  growths = 0;

  constructor(readonly capacity: number) {}

  isEvictable(entry: ModelEntry): boolean {
    return entry.lsn !== undefined && entry.lsn <= this.vdl;
  }

  isPinned(pageNo: number): boolean {
    const entry = this.entries.get(pageNo);
    return entry !== undefined && !this.isEvictable(entry);
  }

  evictOne(): boolean {
    let victim: [number, ModelEntry] | undefined;
    for (const item of this.entries) {
      if (this.isEvictable(item[1]) && (victim === undefined || item[1].touch < victim[1].touch))
        victim = item;
    }
    if (victim === undefined) return false;
    this.entries.delete(victim[0]);
    this.evictions++;
    return true;
  }

  makeRoom(): void {
    while (this.entries.size >= this.capacity) {
      if (!this.evictOne()) {
        this.growths++;
        return;
      }
    }
  }

  shrink(): void {
    while (this.entries.size > this.capacity && this.evictOne()) {}
  }
}

type Command =
  | { kind: 'read'; pageNo: number }
  | { kind: 'group'; pageNos: number[]; rollback: boolean }
  | { kind: 'assign' }
  | { kind: 'vdl'; step: number };

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), pageNo: fc.nat(24) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('group' as const),
      pageNos: fc.uniqueArray(fc.nat(24), { minLength: 1, maxLength: 6 }),
      rollback: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('assign' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('vdl' as const), step: fc.nat(8) }) },
);

function image(version: number): Uint8Array {
  return new Uint8Array([version & 0xff, version >> 8]);
}

function versionOf(bytes: Uint8Array): number {
  return bytes[0]! | (bytes[1]! << 8);
}

function run(capacity: number, commands: readonly Command[]): void {
  const cache = new PageCache({ capacityPages: capacity });
  const model = new Model(capacity);
  let nextVersion = 1;
  const pending = new Map<number, { previous: EntrySnapshot; modelPrevious: ModelEntry }>();

  for (const command of commands) {
    switch (command.kind) {
      case 'read': {
        const entry = model.entries.get(command.pageNo);
        const cached = cache.lookup(command.pageNo);
        if (entry !== undefined) {
          expect(cached && versionOf(cached)).toBe(entry.version);
          if (model.isEvictable(entry)) entry.touch = ++model.clock;
        } else {
          expect(cached).toBeUndefined();
          const version = nextVersion++;
          model.makeRoom();
          model.entries.set(command.pageNo, { version, seq: 0, lsn: 0n, touch: ++model.clock });
          cache.insertClean(command.pageNo, image(version));
        }
        break;
      }
      case 'group': {
        for (const pageNo of command.pageNos) {
          const entry = model.entries.get(pageNo);
          const version = nextVersion++;
          let begun: ReturnType<PageCache['beginWrite']>;
          if (entry === undefined) {
            model.makeRoom();
            const storageVersion = nextVersion++;
            model.entries.set(pageNo, { version, seq: -1, lsn: undefined, touch: ++model.clock });
            pending.set(pageNo, {
              previous: { newestGroupSeq: 0, newestLsn: 0n },
              modelPrevious: { version: storageVersion, seq: 0, lsn: 0n, touch: 0 },
            });
            begun = cache.beginWrite(pageNo, image(storageVersion));
          } else {
            pending.set(pageNo, {
              previous: { newestGroupSeq: 0, newestLsn: 0n },
              modelPrevious: { ...entry },
            });
            Object.assign(entry, { version, seq: -1, lsn: undefined });
            begun = cache.beginWrite(pageNo);
          }
          pending.get(pageNo)!.previous = begun.previous;
          begun.image.set(image(version));
        }
        if (command.rollback) {
          for (const pageNo of command.pageNos) {
            const { previous, modelPrevious } = pending.get(pageNo)!;
            cache.peek(pageNo)!.set(image(modelPrevious.version));
            cache.abortWrite(pageNo, previous);
            const entry = model.entries.get(pageNo)!;
            Object.assign(entry, {
              version: modelPrevious.version,
              seq: modelPrevious.seq,
              lsn: modelPrevious.lsn,
            });
            if (model.isEvictable(entry)) entry.touch = ++model.clock;
            model.shrink();
          }
        } else {
          const seq = ++model.lastSeq;
          for (const pageNo of command.pageNos) model.entries.get(pageNo)!.seq = seq;
          model.unassigned.push({ seq, pageNos: command.pageNos });
          cache.sealGroup(seq, command.pageNos);
        }
        pending.clear();
        break;
      }
      case 'assign': {
        const group = model.unassigned.shift();
        if (group === undefined) break;
        const lsns = group.pageNos.map(() => ++model.lastLsn);
        cache.assignLsns(group.seq, lsns);
        group.pageNos.forEach((pageNo, index) => {
          const entry = model.entries.get(pageNo)!;
          if (entry.seq !== group.seq) return;
          entry.lsn = lsns[index]!;
          if (model.isEvictable(entry)) entry.touch = ++model.clock;
        });
        model.shrink();
        break;
      }
      case 'vdl': {
        const vdl =
          model.vdl + BigInt(command.step) > model.lastLsn ? model.lastLsn : model.vdl + BigInt(command.step);
        if (vdl < model.vdl) break;
        const released = [...model.entries.values()]
          .filter((entry) => entry.lsn !== undefined && entry.lsn > model.vdl && entry.lsn <= vdl)
          .sort((a, b) => (a.lsn! < b.lsn! ? -1 : 1));
        model.vdl = vdl;
        for (const entry of released) entry.touch = ++model.clock;
        model.shrink();
        cache.setVdl(vdl);
        break;
      }
    }
    const pages = [...model.entries.keys()].sort((a, b) => a - b);
    const cached = Array.from({ length: 25 }, (_, pageNo) => pageNo).filter((pageNo) => cache.has(pageNo));
    expect(cached).toEqual(pages);
    for (const [pageNo, entry] of model.entries) {
      expect(versionOf(cache.peek(pageNo)!)).toBe(entry.version);
      expect(cache.isEvictable(pageNo)).toBe(model.isEvictable(entry));
    }
    const stats = cache.stats();
    expect(stats.evictions).toBe(model.evictions);
    expect(stats.growthsPastCapacity).toBe(model.growths);
    const pinned = pages.filter((pageNo) => model.isPinned(pageNo)).length;
    expect(stats.pinnedPages).toBe(pinned);
    expect(stats.sizePages).toBeLessThanOrEqual(Math.max(capacity, pinned + 1));
  }
}

describe('PageCache', () => {
  it('matches the model: LRU among evictable pages, never a pinned one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(commandArbitrary, { maxLength: 80 }), run),
      { numRuns: 400 },
    );
  });

  it('grows past capacity while everything is pinned, and shrinks back as the VDL advances', () => {
    const cache = new PageCache({ capacityPages: 3 });
    for (let pageNo = 0; pageNo < 6; pageNo++) cache.beginWrite(pageNo, new Uint8Array(4)).image[0] = 1;
    cache.sealGroup(1, [0, 1, 2, 3, 4, 5]);
    expect(cache.stats()).toMatchObject({ sizePages: 6, pinnedPages: 6, growthsPastCapacity: 3 });
    cache.assignLsns(1, [10n, 11n, 12n, 13n, 14n, 15n]);
    cache.setVdl(10n);
    expect(cache.stats()).toMatchObject({ sizePages: 5, pinnedPages: 5, evictions: 1 });
    cache.setVdl(12n);
    expect(cache.stats()).toMatchObject({ sizePages: 3, pinnedPages: 3, evictions: 3 });
    cache.setVdl(15n);
    expect(cache.stats()).toMatchObject({ sizePages: 3, pinnedPages: 0, evictions: 3 });
    // Released in LSN order, so page 3 is now the least recently used.
    cache.insertClean(9, new Uint8Array(4));
    expect([3, 4, 5, 9].map((pageNo) => cache.has(pageNo))).toEqual([false, true, true, true]);
  });

  it('keeps a page pinned by its newest group when an older group gets its LSN (C5)', () => {
    const cache = new PageCache({ capacityPages: 1 });
    cache.beginWrite(7, new Uint8Array(4));
    cache.sealGroup(1, [7]);
    cache.beginWrite(7);
    cache.sealGroup(2, [7]);
    cache.assignLsns(1, [5n]);
    cache.setVdl(5n);
    expect(cache.isEvictable(7)).toBe(false);
    cache.assignLsns(2, [6n]);
    expect(cache.isEvictable(7)).toBe(false);
    cache.setVdl(6n);
    expect(cache.isEvictable(7)).toBe(true);
  });

  it('asserts the order of seals, assignments and VDLs (C4)', () => {
    const cache = new PageCache({ capacityPages: 4 });
    cache.beginWrite(1, new Uint8Array(4));
    expect(() => cache.sealGroup(2, [1])).toThrow(/group 2 sealed after group 0/);
    cache.sealGroup(1, [1]);
    expect(() => cache.assignLsns(2, [3n])).toThrow(/LSNs assigned to group 2/);
    expect(() => cache.assignLsns(1, [3n, 4n])).toThrow(/has 1 records/);
    cache.assignLsns(1, [3n]);
    cache.setVdl(3n);
    expect(() => cache.setVdl(2n)).toThrow(/VDL went back/);
  });
});
