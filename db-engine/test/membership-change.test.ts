// Proves membership changes by quorum sets (docs/quorum.md) on the engine's log path, in the simulator:
// six storage cores (s1…s6, every PG on all six) and a spare, s7 in zone a; one engine under a write
// load with message drops, duplicates, reordering and storage crashes (one node at a time besides
// those the scenario kills). The test plays the control plane against the cores and the driver.
//
//  - Replacement: s1 dies (F); every PG begins replacing its segment on s1 by a fresh one on s7 (G),
//    created with the union membership and filled by gossip; the engine crashes and recovers in the
//    middle (the directory reloads two configurations per PG and recovery uses them); once each G's
//    SCL reaches its hydration target, s2 and s3 die too — writes stall, since the old configuration
//    keeps only three copies — and completing the change makes the stalled writes durable and new ones
//    go on with s1, s2 and s3 dead; the engine crashes and recovers again on the new configuration.
//  - Revert: s1 dies, the replacement begins, s1 comes back and the change is reverted (G dropped);
//    with s7, s2 and s3 then dead, writes go on with s1, s4, s5, s6 only, and recovery too.
//  - Both configurations: during a change with s1 up, s7, s2 and s3 down, writes wait (the new
//    configuration has three copies although the old one has four) until the change is reverted.
//  - Refusals: an older epoch, or the same epoch with another membership, is NL_MEMBERSHIP_STALE; a
//    quorum set that is not 6 distinct segments each, or a member without a node, NL_CONFIG_INVALID.
//  - Failover just after a change (seeds 11, 12; the operator's end-to-end test found it): the writer
//    e1 dies about 1 s after a replacement completed, or was reverted, under load; a second engine e2
//    recovers with the PG list a replica last read (the change begun, not ended), as a promoted
//    replica does. It must take the newer membership from storage and serve within one recovery
//    timeout: before the fix it planned on the old list, storage refused its re-replication as of an
//    older membership epoch, and recovery started over under a newer epoch every timeout.
// Checked throughout (test/support/driver-workload.ts): every recovery holds every acknowledged group
// and a prefix of the rest, nothing half applied; VDL never goes back within an incarnation, nor
// across a membership change.
import {
  asEpoch,
  beginReplacement,
  completeReplacement,
  type Epoch,
  isNorthlightError,
  type Lsn,
  markHydrated,
  type NodeId,
  type PgId,
  type QuorumSet,
  type Result,
  revertReplacement,
  type SegmentId,
} from '@northlight/protocol';
import type { StorageNodeCore } from '@northlight/storage-node';
import { describe, expect, it } from 'vitest';
import type { QuorumDriver } from '../src/core/quorum-driver.js';
import { type EpochStore, type MembershipChange, membersOf, type PgPlacement } from '../src/core/volume.js';
import { GroupHistory } from './support/driver-workload.js';
import { seededRandom } from './support/seeded.js';
import { PAGES_PER_PG, SimVolume } from './support/sim-volume.js';

const FAULTS = { dropProbability: 0.02, duplicateProbability: 0.02, reorderProbability: 0.05 };
/**
 * s7 in zone a takes the joiners. Storage stages to the simulator's object store: a joiner whose peers
 * have collected records below its SCL catches up from a peer's backup first, then by gossip.
 */
const MORE = { spareStorage: [['s7', 'a']], storageOptions: { backupIntervalMs: 20 } } as const;
/** Pages the load writes among: three PGs. */
const PAGES = 3 * PAGES_PER_PG;

/** One replacement in flight, as the control plane keeps it. */
interface Repair {
  readonly pgId: PgId;
  readonly leaving: SegmentId;
  readonly joining: SegmentId;
  /** The writer's VDL when the change began, and the driver's own target for the PG. */
  readonly targetLsn: bigint;
}

/** The write load, the checker of VDL, and the test's storage crashes (one node down at a time). */
class Harness {
  readonly history: GroupHistory;
  readonly random: () => number;
  driver!: QuorumDriver;
  #vdlSeen = 0n;
  /** Nodes the random crashes may take down (those the scenario keeps up otherwise). */
  crashable: string[] = [];
  #down: { node: string; untilMs: number } | undefined;

  constructor(
    readonly volume: SimVolume,
    seed: number,
  ) {
    this.history = new GroupHistory(volume);
    this.random = seededRandom(seed);
  }

  /** Starts the engine and writes to each of the three PGs, so that every change concerns all three. */
  async start(): Promise<void> {
    this.volume.startEngine();
    await this.#serving();
    const first = this.history.submit(this.driver, 'e1', [0, PAGES_PER_PG, 2 * PAGES_PER_PG]);
    await this.volume.settle(() => first.acknowledged);
  }

  async #serving(): Promise<void> {
    this.driver = await this.volume.serving();
    this.#vdlSeen = this.driver.vdl ?? 0n;
  }

  /** The VDL checker: never below what this incarnation showed before. */
  checkVdl(): void {
    const vdl = this.driver.vdl ?? 0n;
    expect(vdl, 'VDL never goes back').toBeGreaterThanOrEqual(this.#vdlSeen);
    this.#vdlSeen = vdl;
  }

  /** Submits `groups` groups, letting the simulation run a little after each, crashing now and then. */
  async load(groups: number, crashProbability = 0.03): Promise<void> {
    for (let index = 0; index < groups; index++) {
      const width = 1 + Math.floor(this.random() * 3);
      const pages = Array.from({ length: width }, () => Math.floor(this.random() * PAGES));
      this.history.submit(this.driver, 'e1', [...new Set(pages)]);
      await this.volume.cluster.runFor(this.random() * 3);
      this.checkVdl();
      this.#crashStep(crashProbability);
    }
  }

  #crashStep(probability: number): void {
    const cluster = this.volume.cluster;
    if (this.#down !== undefined && cluster.nowMs() >= this.#down.untilMs) {
      cluster.start(this.#down.node);
      this.#down = undefined;
    }
    if (this.#down !== undefined || this.crashable.length === 0 || this.random() >= probability) return;
    const node = this.crashable[Math.floor(this.random() * this.crashable.length)]!;
    cluster.crash(node, { kind: this.random() < 0.5 ? 'power-loss' : 'process' });
    this.#down = { node, untilMs: cluster.nowMs() + 50 + this.random() * 400 };
  }

  healCrashes(): void {
    if (this.#down !== undefined) this.volume.cluster.start(this.#down.node);
    this.#down = undefined;
  }

  /** Engine crash and restart: recovery must hold every acknowledged group. */
  async restartEngine(): Promise<void> {
    this.volume.cluster.restart('e1');
    await this.#serving();
    await this.history.recovered(this.driver);
  }

  /** Waits until every group of the running writer is acknowledged (durable, waiters answered). */
  async allAcknowledged(limitMs = 30_000): Promise<void> {
    await this.volume.settle(() => this.history.current.every((group) => group.acknowledged), limitMs);
  }

  // ---- the control plane's part ----------------------------------------------------------------

  core(node: string): StorageNodeCore | undefined {
    return this.volume.cluster.instance<StorageNodeCore>(node);
  }

  async directoryPgs(): Promise<readonly PgPlacement[]> {
    return (await this.volume.engine().directory).pgs();
  }

  /**
   * Tells every running node of `placement` its membership, as the control plane would (and again
   * later, for a node that was down). A node that already knows a newer one keeps it.
   */
  async tellStorage(placement: PgPlacement): Promise<void> {
    const memberNodes = placement.members.map((member) => placement.nodeOf.get(member)!);
    for (const segmentId of placement.members) {
      const node = placement.nodeOf.get(segmentId)!;
      if (!this.volume.cluster.node(node).running) continue;
      await this.volume.settle(() => this.core(node)?.state === 'serving');
      const core = this.core(node)!;
      const exists = core.status().segments.some((segment) => segment.segmentId === segmentId);
      // A segment its node was down for when the PG was added may not exist yet (the directory's
      // upkeep creates it later): created here with the current membership, as the control plane does.
      const result = await this.volume.wait<Result<unknown>>(
        exists
          ? core.updateMembership(
              placement.pgId,
              segmentId,
              placement.membershipEpoch,
              placement.members,
              memberNodes,
            )
          : core.createSegment({
              pgId: placement.pgId,
              segmentId,
              membershipEpoch: placement.membershipEpoch,
              members: placement.members,
              memberNodes,
            }),
      );
      if (!result.ok) expect(result.error.code, result.error.message).toBe('NL_MEMBERSHIP_STALE');
    }
  }

  /** Applies a change on the writer (durable in its directory), then tells storage. */
  async change(
    pgId: PgId,
    change: MembershipChange,
  ): Promise<{ placement: PgPlacement; target: Lsn | undefined }> {
    const vdlBefore = this.driver.vdl ?? 0n;
    const applied = await this.volume.wait(this.driver.changeMembership(pgId, change));
    expect(this.driver.vdl ?? 0n, 'VDL never goes back across a membership change').toBeGreaterThanOrEqual(
      vdlBefore,
    );
    this.checkVdl();
    await this.tellStorage(applied.placement);
    return { placement: applied.placement, target: applied.hydrationTarget };
  }

  /** Begins replacing `leavingNode`'s segment of every PG by a new one on `joiningNode`. */
  async beginAll(leavingNode: string, joiningNode: string): Promise<Repair[]> {
    const repairs: Repair[] = [];
    for (const placement of await this.directoryPgs()) {
      const leaving = placement.members.find((member) => placement.nodeOf.get(member) === leavingNode)!;
      const joining = `pg${placement.pgId}-${joiningNode}` as SegmentId;
      const quorumSet = beginReplacement(placement.quorumSet, leaving, joining);
      const nodeOf = new Map(placement.nodeOf).set(joining, joiningNode as NodeId);
      const membershipEpoch = asEpoch(placement.membershipEpoch + 1n);
      // The joiner first, empty, with the union membership: it fills itself by gossip.
      const members = membersOf(quorumSet);
      await this.volume.settle(() => this.core(joiningNode)?.state === 'serving');
      const created = await this.volume.wait(
        this.core(joiningNode)!.createSegment({
          pgId: placement.pgId,
          segmentId: joining,
          membershipEpoch,
          members,
          memberNodes: members.map((member) => nodeOf.get(member)!),
        }),
      );
      expect(created.ok, created.ok ? '' : created.error.message).toBe(true);
      const vdl = this.driver.vdl ?? 0n;
      const { target } = await this.change(placement.pgId, { membershipEpoch, quorumSet, nodeOf });
      expect(target).toBeDefined();
      repairs.push({ pgId: placement.pgId, leaving, joining, targetLsn: target! > vdl ? target! : vdl });
    }
    return repairs;
  }

  /** The joiner's SCL as its node reports it. */
  sclOf(repair: Repair, node: string): bigint {
    const segment = this.core(node)
      ?.status()
      .segments.find((candidate) => candidate.segmentId === repair.joining);
    return segment?.scl ?? -1n;
  }

  /** Ends each repair: complete (drop the leaver) or revert (drop the joiner). */
  async endAll(repairs: readonly Repair[], how: 'complete' | 'revert'): Promise<void> {
    for (const repair of repairs) {
      const placement = (await this.directoryPgs())[repair.pgId]!;
      const quorumSet: QuorumSet<SegmentId> =
        how === 'complete'
          ? completeReplacement(markHydrated(placement.quorumSet, repair.joining), repair.leaving)
          : revertReplacement(placement.quorumSet, repair.joining);
      const members = membersOf(quorumSet);
      const nodeOf = new Map(members.map((member) => [member, placement.nodeOf.get(member)!]));
      const epoch: Epoch = asEpoch(placement.membershipEpoch + 1n);
      await this.change(repair.pgId, { membershipEpoch: epoch, quorumSet, nodeOf });
    }
  }
}

describe('membership changes under load (simulator)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: replaces a dead node's segments, through an engine crash, and writes on without it`, async () => {
      const volume = new SimVolume(seed, ['e1'], FAULTS, undefined, MORE);
      const harness = new Harness(volume, seed);
      await harness.start();
      harness.crashable = ['s2', 's3', 's4', 's5', 's6'];
      await harness.load(60);
      harness.healCrashes();
      volume.cluster.crash('s1', { kind: 'power-loss' }); // F: gone for good
      harness.crashable = ['s2', 's3', 's4', 's5', 's6', 's7'];
      await harness.load(30);
      harness.healCrashes();

      const repairs = await harness.beginAll('s1', 's7');
      expect(repairs.length).toBe((await harness.directoryPgs()).length);
      await harness.load(40);
      harness.healCrashes();
      // The engine crashes mid-change: the directory reloads both configurations, recovery uses them.
      await harness.restartEngine();
      for (const placement of await harness.directoryPgs())
        expect(placement.quorumSet.configurations.length).toBe(2);
      for (const placement of await harness.directoryPgs()) await harness.tellStorage(placement);
      await harness.load(40);
      harness.healCrashes();

      // Hydration: each joiner's SCL reaches its target (writes go on meanwhile).
      harness.crashable = [];
      for (let round = 0; round < 200; round++) {
        if (repairs.every((repair) => harness.sclOf(repair, 's7') >= repair.targetLsn)) break;
        await harness.load(5, 0);
      }
      for (const repair of repairs)
        expect(harness.sclOf(repair, 's7')).toBeGreaterThanOrEqual(repair.targetLsn);
      await harness.allAcknowledged();

      // Two more nodes die: the old configuration keeps three copies, so writes stall until the
      // change completes, and then they go on with s1, s2 and s3 dead.
      volume.cluster.crash('s2', { kind: 'power-loss' });
      volume.cluster.crash('s3', { kind: 'process' });
      await harness.load(5, 0);
      await volume.cluster.runFor(300);
      const stalled = harness.history.current.filter((group) => !group.acknowledged);
      expect(stalled.length, 'writes wait while the old configuration lacks a write quorum').toBeGreaterThan(
        0,
      );
      await harness.endAll(repairs, 'complete');
      for (const placement of await harness.directoryPgs()) {
        expect(placement.quorumSet).toEqual({ configurations: [placement.members], hydrating: [] });
        expect(placement.members.some((member) => member.endsWith('-s1'))).toBe(false);
      }
      await harness.allAcknowledged();
      expect(stalled.every((group) => group.acknowledged)).toBe(true);
      await harness.load(30, 0);
      await harness.allAcknowledged();

      // Recovery on the new configuration, with s1, s2 and s3 still dead.
      await harness.restartEngine();
      await harness.load(20, 0);
      await harness.allAcknowledged();
      volume.cluster.start('s2');
      volume.cluster.start('s3');
      await harness.load(20, 0);
      await harness.allAcknowledged();
      await harness.restartEngine();
      expect(harness.history.fixed.length).toBeGreaterThan(200);
    }, 60_000);
  }

  for (const seed of [4, 5]) {
    it(`seed ${seed}: reverts a replacement when the node comes back, and writes on without the joiner`, async () => {
      const volume = new SimVolume(seed, ['e1'], FAULTS, undefined, MORE);
      const harness = new Harness(volume, seed);
      await harness.start();
      harness.crashable = ['s2', 's3', 's4', 's5', 's6'];
      await harness.load(40);
      harness.healCrashes();
      volume.cluster.crash('s1', { kind: 'process' });
      await harness.load(20);
      harness.healCrashes();
      const repairs = await harness.beginAll('s1', 's7');
      harness.crashable = ['s2', 's3', 's4', 's5', 's6', 's7'];
      await harness.load(30);
      harness.healCrashes();

      // F comes back before the joiners are hydrated: the change is reverted, the joiners dropped.
      volume.cluster.start('s1');
      await harness.endAll(repairs, 'revert');
      for (const repair of repairs) {
        const dropped = await volume.wait(harness.core('s7')!.dropSegment(repair.pgId, repair.joining));
        expect(dropped.ok).toBe(true);
      }
      for (const placement of await harness.directoryPgs()) {
        expect(placement.quorumSet.configurations.length).toBe(1);
        expect(placement.members.some((member) => member.endsWith('-s7'))).toBe(false);
      }
      // Without the joiner's configuration, s1, s4, s5 and s6 make a write quorum on their own.
      volume.cluster.crash('s7', { kind: 'power-loss' });
      volume.cluster.crash('s2', { kind: 'process' });
      volume.cluster.crash('s3', { kind: 'power-loss' });
      harness.crashable = [];
      await harness.load(30, 0);
      await harness.allAcknowledged();
      await harness.restartEngine();
      await harness.load(10, 0);
      await harness.allAcknowledged();
      volume.cluster.start('s2');
      volume.cluster.start('s3');
      await harness.load(10, 0);
      await harness.allAcknowledged();
      await harness.restartEngine();
      expect(harness.history.fixed.length).toBeGreaterThan(100);
    }, 60_000);
  }

  it('needs a write quorum of both configurations during a change, and of the old one alone once reverted', async () => {
    const volume = new SimVolume(8, ['e1'], FAULTS, undefined, MORE);
    const harness = new Harness(volume, 8);
    await harness.start();
    await harness.load(20, 0);
    await harness.allAcknowledged();
    // A replacement of s1's segments begins while s1 is up (a drain, say).
    const repairs = await harness.beginAll('s1', 's7');
    await harness.load(10, 0);
    await harness.allAcknowledged();
    // s7, s2 and s3 down: the old configuration still has four copies (s1, s4, s5, s6), the new one
    // three (s4, s5, s6). Judged by the old configuration alone these writes would be acknowledged.
    volume.cluster.crash('s7', { kind: 'process' });
    volume.cluster.crash('s2', { kind: 'process' });
    volume.cluster.crash('s3', { kind: 'process' });
    await harness.load(5, 0);
    await volume.cluster.runFor(500);
    const waiting = harness.history.current.filter((group) => !group.acknowledged);
    expect(waiting.length).toBe(5);
    // Reverting drops the configuration with s7: the same writes become durable, judged again.
    await harness.endAll(repairs, 'revert');
    await harness.allAcknowledged();
    await harness.load(10, 0);
    await harness.allAcknowledged();
    volume.cluster.start('s2');
    volume.cluster.start('s3');
    await harness.restartEngine();
  });

  it('refuses an older membership epoch, and the same epoch with another membership', async () => {
    const volume = new SimVolume(9, ['e1'], {}, undefined, MORE);
    const harness = new Harness(volume, 9);
    await harness.start();
    await harness.load(5, 0);
    const placement = (await harness.directoryPgs())[0]!;
    const joining = 'pg0-s7' as SegmentId;
    const nodeOf = new Map(placement.nodeOf).set(joining, 's7' as NodeId);
    const created = await volume.wait(
      harness.core('s7')!.createSegment({
        pgId: placement.pgId,
        segmentId: joining,
        membershipEpoch: asEpoch(2n),
        members: [...placement.members, joining],
        memberNodes: [...placement.members, joining].map((member) => nodeOf.get(member)!),
      }),
    );
    expect(created.ok).toBe(true);
    const begun = {
      membershipEpoch: asEpoch(2n),
      quorumSet: beginReplacement(placement.quorumSet, placement.members[0]!, joining),
      nodeOf,
    };
    await harness.change(placement.pgId, begun);
    const again = await volume.wait(harness.driver.changeMembership(placement.pgId, begun));
    expect(again.placement.membershipEpoch).toBe(2n); // the same change again: nothing happens
    const refusal = (change: MembershipChange) =>
      volume.wait(
        harness.driver.changeMembership(placement.pgId, change).then(
          () => 'applied',
          (error: unknown) => (isNorthlightError(error) ? error.code : String(error)),
        ),
      );
    expect(await refusal({ ...begun, membershipEpoch: asEpoch(1n) })).toBe('NL_MEMBERSHIP_STALE');
    expect(await refusal({ ...begun, quorumSet: placement.quorumSet })).toBe('NL_MEMBERSHIP_STALE');
    expect(
      await refusal({
        ...begun,
        membershipEpoch: asEpoch(3n),
        quorumSet: { configurations: [placement.members.slice(0, 5)], hydrating: [] },
      }),
    ).toBe('NL_CONFIG_INVALID');
    expect(await refusal({ ...begun, membershipEpoch: asEpoch(3n), nodeOf: placement.nodeOf })).toBe(
      'NL_CONFIG_INVALID',
    );
    await harness.load(5, 0);
    await harness.allAcknowledged();
  });
});

/** One epoch allocator for both engines, as the control plane's is (promotion claims above it). */
function sharedEpochs(): EpochStore {
  let last = 0n;
  return {
    claim(atLeastAbove: Epoch): Promise<Epoch> {
      last = (last > atLeastAbove ? last : atLeastAbove) + 1n;
      return Promise.resolve(asEpoch(last));
    },
  };
}

describe('failover just after a membership change (simulator)', () => {
  for (const [seed, how] of [
    [11, 'complete'],
    [12, 'revert'],
  ] as const) {
    it(`seed ${seed}: a replica promoted 1 s after a repair's ${how}, with the PG list it read before it, recovers`, async () => {
      const volume = new SimVolume(seed, ['e1', 'e2'], FAULTS, undefined, MORE);
      volume.epochStore = sharedEpochs();
      const harness = new Harness(volume, seed);
      await harness.start();
      await harness.load(40, 0);
      await harness.allAcknowledged();
      volume.cluster.crash('s1', { kind: 'process' });
      await harness.load(10, 0);
      const repairs = await harness.beginAll('s1', 's7');
      await harness.load(20, 0);
      // The replica's last read of the writer's PG list (it reads it every 2 s): the change begun.
      const replicaView = [...(await harness.directoryPgs())];
      if (how === 'complete') {
        for (let round = 0; round < 200; round++) {
          if (repairs.every((repair) => harness.sclOf(repair, 's7') >= repair.targetLsn)) break;
          await harness.load(5, 0);
        }
        await harness.endAll(repairs, 'complete');
      } else {
        volume.cluster.start('s1');
        await harness.endAll(repairs, 'revert');
        for (const repair of repairs)
          expect((await volume.wait(harness.core('s7')!.dropSegment(repair.pgId, repair.joining))).ok).toBe(
            true,
          );
      }
      // About a second of load, then the writer dies with records in flight.
      const until = volume.cluster.nowMs() + 1_000;
      while (volume.cluster.nowMs() < until) await harness.load(5, 0);
      volume.cluster.crash('e1', { kind: 'process' });
      volume.directorySeeds.set('e2', replicaView);
      const promoted = volume.startEngine('e2');
      // Within one recovery timeout (DRIVER_OPTIONS: 2 s), not after starting over under newer epochs.
      await volume.settle(() => promoted.driver?.state === 'serving', 2_000);
      const driver = promoted.driver!;
      expect(driver.volumeEpoch, 'recovered at its first epoch').toBe(2n);
      await harness.history.recovered(driver);
      for (const placement of (await promoted.directory).pgs()) {
        expect(placement.quorumSet.configurations).toHaveLength(1);
        const expected = how === 'complete' ? '-s7' : '-s1';
        expect(placement.members.some((member) => member.endsWith(expected))).toBe(true);
      }
      // The new writer writes by the membership storage holds: its appends are acknowledged.
      for (let index = 0; index < 10; index++)
        harness.history.submit(driver, 'e2', [index % PAGES_PER_PG, PAGES_PER_PG + index, 2 * PAGES_PER_PG]);
      await volume.settle(() => harness.history.current.every((group) => group.acknowledged), 5_000);
    }, 60_000);
  }
});
