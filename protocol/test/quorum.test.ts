/**
 * Proves the quorum rules of paper §2.1 and the quorum sets of SIGMOD 2018 §3, exhaustively:
 * - losing any one zone keeps write availability; a zone plus one node keeps read availability
 *   (and loses write availability, as it must);
 * - every read quorum meets every write quorum, and every two write quorums meet, for a single
 *   configuration and across a membership change ABCDEF → {ABCDEF, ABCDEG} → ABCDEG, checked over
 *   every subset of the 7 members involved (and of 8 for a second failure during a change);
 * - the hydration rule is necessary: without it a read quorum can miss an acknowledged write.
 */
import { describe, expect, it } from 'vitest';
import {
  allMembers,
  beginReplacement,
  COPIES,
  completeReplacement,
  isReadQuorum,
  isWriteQuorum,
  markHydrated,
  type QuorumSet,
  quorumProgress,
  READ_QUORUM,
  revertReplacement,
  singleConfiguration,
  WRITE_QUORUM,
} from '../src/core/quorum.js';

const original = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
const zoneOf: Record<string, number> = { a: 0, b: 0, c: 1, d: 1, e: 2, f: 2, g: 2, h: 1 };

function subsets<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let mask = 0; mask < 1 << items.length; mask++) {
    result.push(items.filter((_, index) => (mask & (1 << index)) !== 0));
  }
  return result;
}

function intersects<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  for (const item of a) if (b.has(item)) return true;
  return false;
}

describe('single configuration', () => {
  const quorumSet = singleConfiguration([...original]);

  it('has the paper constants', () => {
    expect([COPIES, WRITE_QUORUM, READ_QUORUM]).toEqual([6, 4, 3]);
  });

  it('keeps write availability after losing any one zone', () => {
    for (const lostZone of [0, 1, 2]) {
      const alive = new Set(original.filter((member) => zoneOf[member] !== lostZone));
      expect(isWriteQuorum(quorumSet, alive)).toBe(true);
    }
  });

  it('keeps read but not write availability after losing a zone plus one more node', () => {
    for (const lostZone of [0, 1, 2]) {
      for (const extra of original.filter((member) => zoneOf[member] !== lostZone)) {
        const alive = new Set(original.filter((member) => zoneOf[member] !== lostZone && member !== extra));
        expect(isReadQuorum(quorumSet, alive)).toBe(true);
        expect(isWriteQuorum(quorumSet, alive)).toBe(false);
      }
    }
  });

  it('loses read availability only beyond a zone plus one node', () => {
    for (const alive of subsets(original)) {
      expect(isReadQuorum(quorumSet, new Set(alive))).toBe(alive.length >= READ_QUORUM);
      expect(isWriteQuorum(quorumSet, new Set(alive))).toBe(alive.length >= WRITE_QUORUM);
    }
  });

  it('makes every read quorum meet every write quorum, and write quorums meet each other', () => {
    const all = subsets(original).map((s) => new Set(s));
    const writes = all.filter((s) => isWriteQuorum(quorumSet, s));
    const reads = all.filter((s) => isReadQuorum(quorumSet, s));
    expect(writes.length).toBe(22); // C(6,4) + C(6,5) + C(6,6)
    expect(reads.length).toBe(42); // C(6,3) + 22
    for (const write of writes) {
      for (const read of reads) expect(intersects(write, read)).toBe(true);
      for (const other of writes) expect(intersects(write, other)).toBe(true);
    }
  });

  it('computes the write-quorum progress from per-member progress', () => {
    const progress = new Map([
      ['a', 10n],
      ['b', 9n],
      ['c', 8n],
      ['d', 7n],
      ['e', 3n],
    ]);
    expect(quorumProgress(quorumSet, progress)).toBe(7n);
  });
});

/**
 * A history of quorum sets, each with the writes it could acknowledge. A write acknowledged in state
 * i is held by its write quorum plus, from the moment they are hydrated, the members that joined
 * after it (hydration copies everything acknowledged before the join). Every read quorum of every
 * later state must meet what holds every earlier write.
 */
function checkHistory(
  history: readonly QuorumSet<string>[],
  universe: readonly string[],
  reallyHydrated: (state: QuorumSet<string>) => readonly string[] = (state) =>
    allMembers(state).filter((member) => !state.hydrating.includes(member)),
) {
  const all = subsets(universe).map((s) => new Set(s));
  let checked = 0;
  for (let writeState = 0; writeState < history.length; writeState++) {
    const writeSet = history[writeState]!;
    const writes = all.filter((s) => isWriteQuorum(writeSet, s));
    for (let readState = writeState; readState < history.length; readState++) {
      const readSet = history[readState]!;
      const joinedLater = allMembers(readSet).filter(
        (member) => !allMembers(writeSet).includes(member) && reallyHydrated(readSet).includes(member),
      );
      const reads = all.filter((s) => isReadQuorum(readSet, s));
      for (const write of writes) {
        const holders = new Set([...write, ...joinedLater]);
        for (const read of reads) {
          checked += 1;
          if (!intersects(holders, read)) {
            throw new Error(
              `write ${[...write]} (state ${writeState}) missed by read ${[...read]} (state ${readState})`,
            );
          }
        }
      }
    }
  }
  return checked;
}

describe('membership change with quorum sets', () => {
  const start = singleConfiguration([...original]);
  const joint = beginReplacement(start, 'f', 'g');
  const hydrated = markHydrated(joint, 'g');
  const finished = completeReplacement(hydrated, 'f');

  it('needs 4/6 of the old AND 4/6 of the new configuration to write', () => {
    expect(joint.configurations).toEqual([original, ['a', 'b', 'c', 'd', 'e', 'g']]);
    expect(isWriteQuorum(joint, new Set(['a', 'b', 'c', 'g']))).toBe(false); // 4 of new, 3 of old
    expect(isWriteQuorum(joint, new Set(['a', 'b', 'c', 'f']))).toBe(false); // 4 of old, 3 of new
    expect(isWriteQuorum(joint, new Set(['a', 'b', 'c', 'd']))).toBe(true); // 4 of both
    expect(isWriteQuorum(joint, new Set(['a', 'b', 'c', 'f', 'g']))).toBe(true);
  });

  it('needs 3/6 of the old OR of the new configuration to read, counting the joiner once hydrated', () => {
    expect(isReadQuorum(joint, new Set(['a', 'b', 'f']))).toBe(true);
    expect(isReadQuorum(joint, new Set(['a', 'b', 'g']))).toBe(false); // g still hydrating
    expect(isReadQuorum(hydrated, new Set(['a', 'b', 'g']))).toBe(true);
  });

  it('intersects every read and write quorum across old → joint → new (all subsets of 7 members)', () => {
    const universe = [...original, 'g'];
    const checked = checkHistory([start, joint, hydrated, finished], universe);
    expect(checked).toBeGreaterThan(10_000);
  });

  it('intersects across a reversed change (f came back)', () => {
    const reverted = revertReplacement(joint, 'g');
    expect(reverted.configurations).toEqual([original]);
    checkHistory([start, joint, reverted], [...original, 'g']);
  });

  it('handles a second failure during a change (8 members, 4 configurations)', () => {
    const second = beginReplacement(hydrated, 'e', 'h');
    expect(second.configurations.map((c) => c.join(''))).toEqual(['abcdef', 'abcdeg', 'abcdhf', 'abcdhg']);
    const secondHydrated = markHydrated(second, 'h');
    const dropF = completeReplacement(secondHydrated, 'f');
    const dropE = completeReplacement(dropF, 'e');
    expect(dropE.configurations.map((c) => c.join(''))).toEqual(['abcdhg']);
    checkHistory([start, joint, hydrated, second, secondHydrated, dropF, dropE], [...original, 'g', 'h']);
  });

  it('would lose an acknowledged write if a hydrating member counted for reads (why the rule exists)', () => {
    const careless: QuorumSet<string> = { ...joint, hydrating: [] };
    // The read rule ignores hydration, but g really holds only what was written after it joined.
    const notYet = (state: QuorumSet<string>) => allMembers(state).filter((member) => member !== 'g');
    expect(() => checkHistory([start, careless], [...original, 'g'], notYet)).toThrow(/missed by read/);
  });

  it('refuses to complete a change before the joiner is hydrated', () => {
    expect(() => completeReplacement(joint, 'f')).toThrow(/hydrated/);
  });

  it('keeps write availability in the joint state when a whole zone other than the repaired one is lost', () => {
    // f is dead and being replaced by g in zone 2; losing zone 0 leaves c, d, e, g.
    const alive = new Set(['c', 'd', 'e', 'g']);
    expect(isWriteQuorum(completeReplacement(hydrated, 'f'), alive)).toBe(true);
    expect(isReadQuorum(hydrated, alive)).toBe(true);
  });

  it('computes quorum progress as the minimum over configurations', () => {
    const progress = new Map([
      ['a', 10n],
      ['b', 10n],
      ['c', 10n],
      ['d', 2n],
      ['e', 2n],
      ['f', 10n],
      ['g', 1n],
    ]);
    expect(quorumProgress(singleConfiguration([...original]), progress)).toBe(10n);
    expect(quorumProgress(joint, progress)).toBe(2n);
  });
});
