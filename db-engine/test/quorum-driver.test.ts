// Proves the engine's log path (QuorumDriver) against six real storage cores in the simulator: commits
// become durable only with a write quorum, pages read back as written, the volume grows PG by PG, a
// crashed engine recovers every acknowledged commit with no half-applied group (the recovered volume
// is a prefix of the submitted groups), a zone down does not stop writes, a third node down makes
// writes fail with "write quorum lost" and resume when it returns, and a fenced writer gets nothing
// acknowledged.
import { asEpoch, type Epoch, isNorthlightError } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import type { EpochStore } from '../src/core/volume.js';
import { GroupHistory, runDriverSeed } from './support/driver-workload.js';
import {
  DRIVER_OPTIONS,
  PAGES_PER_PG,
  pageImage,
  SimVolume,
  stampOf,
  wholePage,
} from './support/sim-volume.js';

/** A counter shared by two engines: the control plane's epoch allocator, in the simulator. */
class SharedEpochs implements EpochStore {
  #last: Epoch = asEpoch(0n);
  claim(atLeastAbove: Epoch): Promise<Epoch> {
    this.#last = asEpoch((this.#last > atLeastAbove ? this.#last : atLeastAbove) + 1n);
    return Promise.resolve(this.#last);
  }
}

describe('QuorumDriver with six storage cores (simulator)', () => {
  it('makes commits durable, reads pages back as written, and grows the volume past 5 PGs', async () => {
    const volume = new SimVolume(11);
    volume.startEngine();
    const driver = await volume.serving();
    const workload = new GroupHistory(volume);
    const pagesTouched = 7 * PAGES_PER_PG;
    for (let index = 0; index < 80; index++) {
      workload.submit(driver, 'e1', [(index * 5) % pagesTouched, (index * 11 + 3) % pagesTouched]);
      if (index % 10 === 9) await volume.cluster.runFor(20);
    }
    await volume.settle(() => workload.current.every((group) => group.acknowledged));
    expect((await volume.engine().directory).pgs().length).toBeGreaterThanOrEqual(7);
    const submitted = workload.current.length;
    expect(await workload.recovered(driver)).toBe(submitted); // every group, in order
    const status = driver.status();
    expect(status.vdl).toBe(status.lastAllocated);
    expect(status.groupsWaiting).toBe(0);
  });

  it('re-sends a batch only once it has gone unanswered for a whole resend interval', async () => {
    // Every message held up to 15 ms: a round trip stays well inside the 50 ms resend interval, but a
    // tick often finds batches in flight, which it must leave alone.
    // Adaptive batching off: every group is its own flush, whatever is in flight.
    const volume = new SimVolume(12, ['e1'], { reorderProbability: 1, reorderDelayMsMax: 15 }, undefined, {
      driverOptions: { roundsInFlightMax: 0 },
    });
    volume.startEngine();
    const driver = await volume.serving();
    const workload = new GroupHistory(volume);
    const sentBefore = driver.status().batchesSent;
    // One group per flush, one PG: six batches each.
    for (let index = 0; index < 200; index++) {
      workload.submit(driver, 'e1', [index % PAGES_PER_PG]);
      await volume.cluster.runFor(3);
    }
    await volume.settle(() => workload.current.every((group) => group.acknowledged));
    const status = driver.status();
    expect(status.batchesSent - sentBefore).toBe(200 * 6);
    expect(status.batchesResent).toBe(0);
    expect(Object.values(status.shippedByNode).map((shipped) => shipped.batchesResent)).toEqual([
      0, 0, 0, 0, 0, 0,
    ]);
  });

  it('batches adaptively: an idle PG sends at once, a busy one waits for its round in flight', async () => {
    // Every message takes 2–10 ms; a group is submitted every millisecond.
    const run = async (roundsInFlightMax: number) => {
      const volume = new SimVolume(13, ['e1'], { reorderProbability: 1, reorderDelayMsMax: 10 }, undefined, {
        driverOptions: { roundsInFlightMax, batchHoldMsMax: 50 },
      });
      volume.startEngine();
      const driver = await volume.serving();
      const workload = new GroupHistory(volume);
      // Idle: one group alone goes out in the next flush, six batches, durable within a round trip.
      const idleBefore = driver.status().batchesSent;
      const idle = workload.submit(driver, 'e1', [1]);
      await volume.cluster.runFor(2);
      expect(driver.status().batchesSent - idleBefore).toBe(6);
      await volume.settle(() => idle.acknowledged);
      const sentBefore = driver.status().batchesSent;
      const startMs = volume.cluster.nowMs();
      for (let index = 0; index < 300; index++) {
        workload.submit(driver, 'e1', [index % PAGES_PER_PG]);
        await volume.cluster.runFor(1);
      }
      await volume.settle(() => workload.current.every((group) => group.acknowledged));
      const status = driver.status();
      expect(status.vdl).toBe(status.lastAllocated);
      const submitted = workload.current.length;
      expect(await workload.recovered(driver)).toBe(submitted); // every group, in order
      return { batches: status.batchesSent - sentBefore, ms: volume.cluster.nowMs() - startMs };
    };
    const eager = await run(0);
    const adaptive = await run(1);
    expect(eager.batches).toBe(300 * 6);
    // A round trip of up to 20 ms covers many submissions: each flush carries several groups.
    expect(adaptive.batches).toBeLessThan(eager.batches / 3);
    // And nothing waits long: the load ends about as soon.
    expect(adaptive.ms).toBeLessThan(eager.ms + 60);
  });

  it('re-sends at once what a new PG refused before it learned our epoch, once it has it', async () => {
    for (const seed of [22, 31, 32]) {
      const volume = new SimVolume(seed);
      volume.startEngine();
      const driver = await volume.serving();
      const workload = new GroupHistory(volume);
      const first = workload.submit(driver, 'e1', [0]);
      await volume.settle(() => first.acknowledged);
      // Page 2 × PAGES_PER_PG + 1 falls in PG 2, created now: its segments were made after the
      // recovery, so they refuse the first batch as of an older epoch until they get the truncation.
      const startedMs = volume.cluster.nowMs();
      const group = workload.submit(driver, 'e1', [2 * PAGES_PER_PG + 1]);
      await volume.settle(() => group.acknowledged);
      expect(volume.cluster.nowMs() - startedMs).toBeLessThan(DRIVER_OPTIONS.resendIntervalMs!);
    }
  });

  it('recovers every acknowledged commit after the engine crashes mid-load, and nothing half-applied', async () => {
    const outcomes: string[] = [];
    for (const seed of [21, 22, 23, 24]) {
      const volume = new SimVolume(seed);
      volume.startEngine();
      let driver = await volume.serving();
      const workload = new GroupHistory(volume);
      for (let index = 0; index < 60; index++) {
        workload.submit(driver, 'e1', [index % 24, (index * 7 + 1) % 24, (index * 13 + 2) % 24]);
        await volume.cluster.runFor(seed % 2 === 0 ? 1 : 0.25); // acknowledgements flow meanwhile
      }
      // The crash comes with some groups acknowledged, some sent and not yet acknowledged, and
      // (seed 21) some not even sent.
      await volume.cluster.runFor(seed - 21);
      const acknowledgedBefore = workload.current.filter((group) => group.acknowledged).length;
      volume.cluster.restart('e1');
      driver = await volume.serving();
      const report = await volume.wait(volume.engine().started!);
      expect(report.volumeEpoch).toBe(2n);
      const submitted = workload.current.length;
      const recovered = await workload.recovered(driver);
      expect(recovered).toBeGreaterThanOrEqual(acknowledgedBefore);
      outcomes.push(`${acknowledgedBefore}/${recovered}/${submitted}`);
      // The new writer goes on where the recovered volume ends.
      const after = workload.submit(driver, 'e1', [0, 23]);
      await volume.settle(() => after.acknowledged);
    }
    // acknowledged before the crash / groups the recovered volume holds / groups submitted
    expect(outcomes).toMatchInlineSnapshot(`
      [
        "1/36/60",
        "56/60/60",
        "1/39/60",
        "58/60/60",
      ]
    `);
  });

  it('keeps writing with a zone down; with a third node down fails writes as write quorum lost, then resumes', async () => {
    const volume = new SimVolume(31);
    volume.startEngine();
    const driver = await volume.serving();
    const workload = new GroupHistory(volume);
    volume.cluster.crash('s1');
    volume.cluster.crash('s2');
    const zoneDown = [0, 1, 2].map((index) => workload.submit(driver, 'e1', [index, index + 8]));
    await volume.settle(() => zoneDown.every((group) => group.acknowledged));

    volume.cluster.crash('s3');
    const stuck = workload.submit(driver, 'e1', [4]);
    const outcome = await volume.wait(
      driver.whenDurable(stuck.seq).then(
        () => 'durable',
        (error: unknown) => (isNorthlightError(error) ? error.code : String(error)),
      ),
    );
    expect(outcome).toBe('NL_QUORUM_LOST');
    expect(driver.accepting).toBe(false); // the kernel refuses new commits meanwhile
    // Reads still work: three copies answer.
    expect(stampOf(await volume.wait(driver.readPage(8)))).toBe(zoneDown[0]!.stamp);

    volume.cluster.start('s3');
    await volume.settle(() => driver.accepting, 30_000);
    const resumed = workload.submit(driver, 'e1', [6]);
    await volume.settle(() => resumed.acknowledged);
    const submitted = workload.current.length;
    expect(await workload.recovered(driver)).toBe(submitted); // every group, in order
  });

  it('fences a zombie writer: after a newer writer recovers, the old one gets nothing acknowledged', async () => {
    const volume = new SimVolume(41, ['e1', 'e2']);
    volume.epochStore = new SharedEpochs();
    volume.startEngine('e1');
    const old = await volume.serving('e1');
    const workload = new GroupHistory(volume);
    const early = workload.submit(old, 'e1', [1, 2]);
    await volume.settle(() => early.acknowledged);

    volume.startEngine('e2'); // the replacement writer, on another machine, the old one still running
    const replacement = await volume.serving('e2');
    expect(replacement.volumeEpoch).toBeGreaterThan(old.volumeEpoch);
    const zombie = (() => {
      try {
        return workload.submit(old, 'e1', [3]);
      } catch {
        return undefined; // already fenced: also fine
      }
    })();
    await volume.settle(() => volume.engine('e1').fenced, 10_000);
    expect(old.state).toBe('fenced');
    if (zombie !== undefined) expect(zombie.acknowledged).toBe(false);
    expect(() => old.submit([wholePage(3, pageImage(77, 3))])).toThrowError(/fenced/);
    // The replacement sees the early commit and not the zombie's page.
    expect(stampOf(await volume.wait(replacement.readPage(1)))).toBe(early.stamp);
    expect(stampOf(await volume.wait(replacement.readPage(3)))).toBe(0);
  });
});

describe('QuorumDriver under faults (the campaign workload, pinned seeds)', () => {
  // Seeds 7 and 58 once failed page reads (a dropped reply waited a third of the timeout; gossip
  // pulled from a dead peer for 5 s); 27 once stalled recovery (segments of a PG added while their
  // node was down were never created). `npm run campaign -w @northlight/db-engine` runs hundreds.
  for (const seed of [1, 7, 27, 58]) {
    it(`seed ${seed}: every recovery holds every acknowledged group, no half-applied one`, async () => {
      const result = await runDriverSeed(seed);
      expect(result.recoveries).toBeGreaterThanOrEqual(1);
      expect(result.groups).toBeGreaterThanOrEqual(result.acknowledged);
    });
  }
});
