/**
 * The quorum driver's simulator workload and checker, shared by the tests (a few pinned seeds) and
 * the campaign script (`npm run campaign -w @northlight/db-engine`).
 *
 * The test plays the SQL kernel: it submits groups of whole-page writes, each page stamped with the
 * group's number. `GroupHistory` keeps what every writer incarnation submitted; after each recovery
 * it reads every touched page and checks the volume holds exactly the history fixed so far plus a
 * prefix of the last incarnation's groups that includes every group it acknowledged — nothing
 * acknowledged lost, no group half applied, nothing out of order — and then fixes that prefix.
 *
 * `runDriverSeed`: six storage cores and one engine under network drops, duplicates and reordering,
 * storage crashes (never more than two down) and engine crashes; checked at every recovery and at the
 * end, after healing. The checker also asserts VDL never goes back within an incarnation.
 */
import type { QuorumDriver } from '../../src/core/quorum-driver.js';
import { seededRandom } from './seeded.js';
import {
  pageImage,
  SimVolume,
  StorageCrashes,
  type SubmittedGroup,
  stampOf,
  wholePage,
} from './sim-volume.js';

export class GroupHistory {
  /** Groups that survived a recovery, in order. */
  readonly fixed: SubmittedGroup[] = [];
  /** Groups the running incarnation submitted. */
  current: SubmittedGroup[] = [];
  #nextStamp = 1;

  constructor(readonly volume: SimVolume) {}

  submit(driver: QuorumDriver, engine: string, pageNos: readonly number[]): SubmittedGroup {
    const stamp = this.#nextStamp++;
    const pages = new Map(pageNos.map((pageNo) => [pageNo, pageImage(stamp, pageNo)]));
    const seq = driver.submit([...pages].map(([pageNo, image]) => wholePage(pageNo, image)));
    const group: SubmittedGroup = {
      seq,
      stamp,
      engine,
      epoch: driver.volumeEpoch,
      pages,
      acknowledged: false,
    };
    this.current.push(group);
    driver.whenDurable(seq).then(
      () => {
        group.acknowledged = true;
      },
      () => {},
    );
    return group;
  }

  get all(): SubmittedGroup[] {
    return [...this.fixed, ...this.current];
  }

  #stamps(groups: readonly SubmittedGroup[]): Map<number, number> {
    const stamps = new Map<number, number>();
    for (const group of groups) for (const pageNo of group.pages.keys()) stamps.set(pageNo, group.stamp);
    return stamps;
  }

  touchedPages(): number[] {
    return [...new Set(this.all.flatMap((group) => [...group.pages.keys()]))].sort((a, b) => a - b);
  }

  /**
   * Reads every touched page through `driver` (a newly recovered writer) and finds the K for which the
   * volume is `fixed` + the first K groups of `current`, K covering every acknowledged group; fixes
   * that prefix and starts a new incarnation's list. Throws a description when there is none.
   */
  async recovered(driver: QuorumDriver): Promise<number> {
    const seen = new Map<number, number>();
    for (const pageNo of this.touchedPages())
      seen.set(pageNo, stampOf(await this.volume.wait(driver.readPage(pageNo))));
    let lastAcknowledged = 0;
    this.current.forEach((group, index) => {
      if (group.acknowledged) lastAcknowledged = index + 1;
    });
    for (let count = lastAcknowledged; count <= this.current.length; count++) {
      const expected = this.#stamps([...this.fixed, ...this.current.slice(0, count)]);
      if ([...seen].every(([pageNo, stamp]) => (expected.get(pageNo) ?? 0) === stamp)) {
        this.fixed.push(...this.current.slice(0, count));
        this.current = [];
        return count;
      }
    }
    const acknowledged = this.current.filter((group) => group.acknowledged).map((group) => group.stamp);
    throw new Error(
      `the volume is not the fixed history plus a prefix of the last writer's ${this.current.length} groups ` +
        `covering every acknowledged one (acknowledged stamps ${acknowledged.join(',')}): pages ${JSON.stringify([...seen])}`,
    );
  }
}

export interface DriverSeedOptions {
  /** Groups to submit in all. */
  readonly groups: number;
  /** Pages the groups write among (8 per PG: 40 pages make 5 PGs). */
  readonly pages: number;
  readonly engineCrashProbability: number;
  readonly storageCrashProbability: number;
}

export const DRIVER_SEED_DEFAULTS: DriverSeedOptions = {
  groups: 150,
  pages: 40,
  engineCrashProbability: 0.015,
  storageCrashProbability: 0.03,
};

export interface DriverSeedResult {
  readonly groups: number;
  readonly acknowledged: number;
  readonly recoveries: number;
  readonly storageCrashes: number;
  readonly pgs: number;
}

/** One seed of the campaign; throws (with the seed's story) when a check fails. */
export async function runDriverSeed(
  seed: number,
  options: DriverSeedOptions = DRIVER_SEED_DEFAULTS,
): Promise<DriverSeedResult> {
  const random = seededRandom(seed);
  const volume = new SimVolume(seed, ['e1'], {
    dropProbability: 0.02,
    duplicateProbability: 0.02,
    reorderProbability: 0.05,
  });
  const history = new GroupHistory(volume);
  volume.startEngine();
  let driver = await volume.serving();
  let recoveries = 0;
  const crashes = new StorageCrashes(volume, random, options.storageCrashProbability);
  let vdlSeen = driver.vdl ?? 0n;
  for (let index = 0; index < options.groups; index++) {
    const width = 1 + Math.floor(random() * 3);
    const pages = Array.from({ length: width }, () => Math.floor(random() * options.pages));
    history.submit(driver, 'e1', [...new Set(pages)]);
    await volume.cluster.runFor(random() * 3);
    const vdl = driver.vdl ?? 0n;
    if (vdl < vdlSeen) throw new Error(`seed ${seed}: VDL went back from ${vdlSeen} to ${vdl}`);
    vdlSeen = vdl;
    crashes.step();
    if (random() < options.engineCrashProbability) {
      volume.cluster.restart('e1');
      driver = await volume.serving();
      recoveries++;
      await history.recovered(driver);
      vdlSeen = driver.vdl ?? 0n;
    }
  }
  // Heal: every storage node up, wait for every group of the running writer to be durable, then one
  // last crash and recovery checks the whole history.
  crashes.healAll();
  // (A group whose waiters timed out as "write quorum lost" while two nodes were down and messages
  // dropped is not acknowledged, but it still becomes durable: wait for that.)
  const settledDriver = driver;
  await volume
    .settle(() => history.current.every((group) => settledDriver.isDurable(group.seq)), 60_000)
    .catch(() => {
      const status = JSON.stringify(settledDriver.status(), (_key, value) =>
        typeof value === 'bigint' ? String(value) : value,
      );
      throw new Error(`seed ${seed}: groups still not durable 60 s after healing: ${status}`);
    });
  const acknowledged = history.all.filter((group) => group.acknowledged).length;
  volume.cluster.restart('e1');
  driver = await volume.serving();
  recoveries++;
  const kept = await history.recovered(driver);
  if (history.current.length !== 0 || (kept === 0 && history.fixed.length === 0))
    throw new Error(`seed ${seed}: the final recovery kept ${kept} groups`);
  const pgs = (await volume.engine().directory).pgs().length;
  return { groups: history.fixed.length, acknowledged, recoveries, storageCrashes: crashes.count, pgs };
}
