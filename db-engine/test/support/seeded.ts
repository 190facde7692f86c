/**
 * Seeded data for workloads and benchmarks: a small PRNG (mulberry32), so a run replays the same ids
 * and strings, and sysbench's digit-group strings. Used by the fault campaign (its seeds depend on this
 * generator), the kernel benchmark and the engine benchmark.
 */

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** sysbench's c (11 groups) and pad (5 groups): groups of 11 digits joined by '-'. */
export function digitGroups(next: () => number, groups: number): string {
  const parts: string[] = [];
  for (let group = 0; group < groups; group++)
    parts.push(String(Math.floor(next() * 1e11)).padStart(11, '0'));
  return parts.join('-');
}
