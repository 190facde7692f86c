/**
 * The SQL kernel and the quorum driver together in the simulator (test/support/kernel-workload.ts):
 * bank transfers through real SQLite over the redo VFS, shipped by the real driver to six real
 * storage cores under network faults, storage crashes and engine crashes; after every recovery a
 * fresh kernel reads the volume back through storage and finds every acknowledged transfer, no
 * half-applied one, and a database that passes integrity_check. `npm run campaign -w
 * @northlight/db-engine -- --kernel` runs many seeds.
 */
import { describe, expect, it } from 'vitest';
import { runKernelSeed } from './support/kernel-workload.js';

describe('SQL kernel on the quorum driver, under faults (simulator, pinned seeds)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: every recovery keeps every acknowledged transfer, none half-applied`, async () => {
      const result = await runKernelSeed(seed);
      expect(result.recoveries).toBeGreaterThanOrEqual(1);
      expect(result.acknowledged).toBeGreaterThan(0);
      expect(result.pagesReadFromStorage).toBeGreaterThan(0); // cold kernels read through storage
      expect(result.pgs).toBeGreaterThanOrEqual(3); // the volume grew as rows were inserted
    });
  }
});
