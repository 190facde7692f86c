/**
 * Checkers of the control plane's simulator workloads. They observe — the writer's driver and
 * directory, the storage cores' status, the journal — and never send, write or change a fault; the
 * workload calls `sample` before every simulator step and the final checks once at the end.
 *
 *  - VdlChecker: VDL never goes back, across membership changes and writer restarts.
 *  - LivenessChecker: while the writer serves, groups are pending and every configuration of every PG
 *    has a write quorum of members the writer reaches, VDL moves within `limitMs`: writes resume
 *    whenever quorum allows.
 *  - HydrationChecker: a completed replacement's joiner held every record of its PG that was durable
 *    before the replacement began (its SCL reaches the highest such LSN when the writer drops the
 *    leaver): otherwise a read quorum of the new configuration could miss an acknowledged write.
 *  - MembersDownChecker: no PG ever has more than one member down (its node not serving).
 *  - the final checks: the layout (one configuration of six members, two per zone, on distinct live
 *    nodes), storage agreeing with it (each member at the PG's membership epoch, no segment that is
 *    not a member), and the journal (every begun repair completed or reverted, none of a node that
 *    never came back reverted).
 * The acknowledged-commit checker is the driver workload's `GroupHistory` (every recovery holds every
 * acknowledged group and a prefix of the rest), run at every writer restart and once at the end.
 */
import { allMembers, COPIES, type RedoRecord, WRITE_QUORUM } from '@northlight/protocol';
import type { QuorumDriver } from '../../../db-engine/src/core/quorum-driver.js';
import type { PgPlacement } from '../../../db-engine/src/core/volume.js';
import type { JournalEntry } from './control-plane.js';

/** Violations of one seed; only the first few are kept with their text. */
export class Violations {
  static readonly KEPT_MAX = 20;
  readonly list: string[] = [];
  count = 0;

  add(text: string): void {
    this.count++;
    if (this.list.length < Violations.KEPT_MAX) this.list.push(text);
  }
}

/**
 * VDL never goes back: within a writer incarnation, and across them (a recovery finds every record
 * that reached a write quorum, so the new writer's first VDL is at least the old writer's last).
 */
export class VdlChecker {
  #driver: QuorumDriver | undefined;
  #seen: bigint | undefined;
  /** The highest VDL any writer showed. */
  #highest = 0n;

  sample(driver: QuorumDriver | undefined, nowMs: number, violations: Violations): void {
    if (driver !== this.#driver) {
      this.#driver = driver;
      this.#seen = undefined;
    }
    const vdl = driver?.vdl;
    if (vdl === undefined) return;
    if (this.#seen !== undefined && vdl < this.#seen)
      violations.add(`${nowMs.toFixed(3)} ms: VDL went back from ${this.#seen} to ${vdl}`);
    else if (this.#seen === undefined && vdl < this.#highest)
      violations.add(
        `${nowMs.toFixed(3)} ms: a writer recovered VDL ${vdl}, below ${this.#highest} that an earlier one showed`,
      );
    this.#seen = vdl;
    if (vdl > this.#highest) this.#highest = vdl;
  }
}

export interface WriterProgress {
  readonly serving: boolean;
  /** Every configuration of every PG has a write quorum of members the writer reaches. */
  readonly quorumPossible: boolean;
  /** Some submitted group is not durable yet. */
  readonly pending: boolean;
  readonly vdl: bigint | undefined;
}

export class LivenessChecker {
  #stallSinceMs: number | undefined;
  #vdl: bigint | undefined;
  #reported = false;
  longestStallMs = 0;

  constructor(readonly limitMs: number) {}

  sample(nowMs: number, progress: WriterProgress, violations: Violations): void {
    if (!progress.serving || !progress.quorumPossible || !progress.pending || progress.vdl !== this.#vdl) {
      this.#stallSinceMs =
        progress.serving && progress.quorumPossible && progress.pending ? nowMs : undefined;
      this.#vdl = progress.vdl;
      this.#reported = false;
      return;
    }
    this.#stallSinceMs ??= nowMs;
    const stalledMs = nowMs - this.#stallSinceMs;
    if (stalledMs > this.longestStallMs) this.longestStallMs = stalledMs;
    if (stalledMs > this.limitMs && !this.#reported) {
      this.#reported = true;
      violations.add(
        `${nowMs.toFixed(3)} ms: writes stalled for ${stalledMs.toFixed(0)} ms at VDL ${progress.vdl} although every configuration has a write quorum up`,
      );
    }
  }
}

/** Whether every configuration of every PG has a write quorum among the members `up` says are up. */
export function writeQuorumUp(placements: readonly PgPlacement[], up: (nodeId: string) => boolean): boolean {
  return placements.every((placement) =>
    placement.quorumSet.configurations.every(
      (configuration) =>
        configuration.filter((member) => up(placement.nodeOf.get(member)!)).length >= WRITE_QUORUM,
    ),
  );
}

interface SeenLayout {
  readonly membershipEpoch: bigint;
  readonly configurations: readonly (readonly string[])[];
}

export class HydrationChecker {
  /** Per PG, the highest LSN known durable (its writer's VDL reached it). */
  readonly #durableMaxOfPg = new Map<number, bigint>();
  /** The current writer's records not yet durable, in LSN order. */
  #pending: { readonly lsn: bigint; readonly pgId: number }[] = [];
  #pendingHead = 0;
  #driver: QuorumDriver | undefined;
  readonly #layouts = new Map<number, SeenLayout>();
  /** Joining segment → what it must hold: the highest LSN of its PG durable before it joined. */
  readonly #required = new Map<string, { pgId: number; lsn: bigint }>();
  completionsChecked = 0;
  completionsUnverified = 0;

  /** The writer's `mtr` event: records as they are shipped (in LSN order). */
  shipped(driver: QuorumDriver, records: readonly RedoRecord[]): void {
    if (driver !== this.#driver) return;
    for (const record of records) this.#pending.push({ lsn: record.lsn, pgId: record.pgId });
  }

  sample(
    driver: QuorumDriver | undefined,
    placements: readonly PgPlacement[] | undefined,
    sclOf: (nodeId: string, segmentId: string) => bigint | undefined,
    nowMs: number,
    violations: Violations,
  ): void {
    if (placements !== undefined) this.#layoutChanges(placements, sclOf, nowMs, violations);
    if (driver !== this.#driver) {
      // A new incarnation: the old one's records above its VDL may or may not survive (not required).
      this.#driver = driver;
      this.#pending = [];
      this.#pendingHead = 0;
    }
    const vdl = driver?.vdl;
    if (vdl === undefined) return;
    while (this.#pendingHead < this.#pending.length && this.#pending[this.#pendingHead]!.lsn <= vdl) {
      const { lsn, pgId } = this.#pending[this.#pendingHead++]!;
      if (lsn > (this.#durableMaxOfPg.get(pgId) ?? -1n)) this.#durableMaxOfPg.set(pgId, lsn);
    }
    if (this.#pendingHead > 4096) {
      this.#pending = this.#pending.slice(this.#pendingHead);
      this.#pendingHead = 0;
    }
  }

  /** Runs before this step's VDL is taken in: a begin is judged by what was durable before it. */
  #layoutChanges(
    placements: readonly PgPlacement[],
    sclOf: (nodeId: string, segmentId: string) => bigint | undefined,
    nowMs: number,
    violations: Violations,
  ): void {
    for (const placement of placements) {
      const before = this.#layouts.get(placement.pgId);
      const now: SeenLayout = {
        membershipEpoch: placement.membershipEpoch,
        configurations: placement.quorumSet.configurations,
      };
      this.#layouts.set(placement.pgId, now);
      if (before === undefined || before.membershipEpoch === now.membershipEpoch) continue;
      if (now.membershipEpoch < before.membershipEpoch)
        violations.add(
          `${nowMs.toFixed(3)} ms: PG ${placement.pgId}'s membership epoch went back from ${before.membershipEpoch} to ${now.membershipEpoch}`,
        );
      for (const joiner of joinersOf(before, now))
        this.#required.set(joiner, {
          pgId: placement.pgId,
          lsn: this.#durableMaxOfPg.get(placement.pgId) ?? 0n,
        });
      if (now.configurations.length !== 1) continue;
      for (const [joiner, required] of this.#required) {
        if (required.pgId !== placement.pgId) continue;
        this.#required.delete(joiner);
        if (!now.configurations[0]!.includes(joiner)) continue; // reverted
        const scl = sclOf(placement.nodeOf.get(joiner as never)!, joiner);
        if (scl === undefined) {
          this.completionsUnverified++;
          continue;
        }
        this.completionsChecked++;
        if (scl < required.lsn)
          violations.add(
            `${nowMs.toFixed(3)} ms: PG ${placement.pgId} completed the replacement by ${joiner} whose SCL ${scl} is below ${required.lsn}, durable before it joined`,
          );
      }
    }
  }
}

/** Members of a configuration added since `before` (the joiners of a replacement that began). */
function joinersOf(before: SeenLayout, now: SeenLayout): string[] {
  const old = new Set(before.configurations.flat());
  return [...new Set(now.configurations.flat())].filter((member) => !old.has(member));
}

export class MembersDownChecker {
  maxDown = 0;
  #reported = new Set<number>();

  sample(
    placements: readonly PgPlacement[] | undefined,
    down: (nodeId: string) => boolean,
    nowMs: number,
    violations: Violations,
  ): void {
    for (const placement of placements ?? []) {
      const downMembers = placement.members.filter((member) => down(placement.nodeOf.get(member)!));
      if (downMembers.length > this.maxDown) this.maxDown = downMembers.length;
      if (downMembers.length > 1 && !this.#reported.has(placement.pgId)) {
        this.#reported.add(placement.pgId);
        violations.add(
          `${nowMs.toFixed(3)} ms: PG ${placement.pgId} has ${downMembers.length} members down: ${downMembers.join(', ')}`,
        );
      }
    }
  }
}

/** What is wrong with the final layout: one configuration of six, two per zone, distinct live nodes. */
export function layoutProblems(
  placements: readonly PgPlacement[],
  zoneOf: (nodeId: string) => string,
  live: (nodeId: string) => boolean,
): string[] {
  const problems: string[] = [];
  for (const placement of placements) {
    const { configurations, hydrating } = placement.quorumSet;
    const name = `PG ${placement.pgId}`;
    if (configurations.length !== 1 || hydrating.length !== 0) {
      problems.push(`${name} is still changing: ${configurations.map((c) => c.join(',')).join(' + ')}`);
      continue;
    }
    const nodes = configurations[0]!.map((member) => placement.nodeOf.get(member)!);
    if (nodes.length !== COPIES || new Set(nodes).size !== COPIES)
      problems.push(`${name} is not ${COPIES} members on distinct nodes: ${nodes.join(',')}`);
    const perZone = new Map<string, number>();
    for (const node of nodes) perZone.set(zoneOf(node), (perZone.get(zoneOf(node)) ?? 0) + 1);
    if (perZone.size !== 3 || [...perZone.values()].some((count) => count !== 2))
      problems.push(`${name} is not two members per zone: ${nodes.join(',')}`);
    const dead = nodes.filter((node) => !live(node));
    if (dead.length > 0) problems.push(`${name} has members on nodes that are not live: ${dead.join(',')}`);
  }
  return problems;
}

export interface SegmentHeld {
  readonly pgId: number;
  readonly segmentId: string;
  readonly membershipEpoch: bigint;
  readonly members: readonly string[];
}

/** What is wrong with storage against the layout, over the nodes `segmentsOf` can see. */
export function storageProblems(
  placements: readonly PgPlacement[],
  liveNodes: readonly string[],
  segmentsOf: (nodeId: string) => readonly SegmentHeld[],
): string[] {
  const problems: string[] = [];
  const placementOf = new Map<number, PgPlacement>(
    placements.map((placement) => [placement.pgId, placement]),
  );
  for (const nodeId of liveNodes) {
    const held = segmentsOf(nodeId);
    for (const placement of placements)
      for (const member of placement.members) {
        if (placement.nodeOf.get(member) !== nodeId) continue;
        const segment = held.find((candidate) => candidate.segmentId === member);
        if (segment === undefined) problems.push(`${nodeId} lacks ${member} of PG ${placement.pgId}`);
        else if (
          segment.membershipEpoch !== placement.membershipEpoch ||
          [...segment.members].sort().join(',') !== allMembers(placement.quorumSet).join(',')
        )
          problems.push(
            `${nodeId} holds ${member} at membership epoch ${segment.membershipEpoch} (${segment.members.join(',')}), the PG is at ${placement.membershipEpoch}`,
          );
      }
    for (const segment of held) {
      const placement = placementOf.get(segment.pgId);
      if (placement === undefined || placement.nodeOf.get(segment.segmentId as never) !== nodeId)
        problems.push(
          `${nodeId} still holds ${segment.segmentId} (membership epoch ${segment.membershipEpoch}), not a member of PG ${segment.pgId}`,
        );
    }
  }
  return problems;
}

export interface RepairTally {
  readonly begun: number;
  readonly completed: number;
  readonly reverted: number;
  readonly derived: number;
  readonly blocked: number;
  readonly open: readonly string[];
}

/** Every begun repair ended; no repair of a node that never came back was reverted. */
export function journalProblems(
  entries: readonly { readonly atMs: number; readonly entry: JournalEntry }[],
  neverBack: ReadonlySet<string>,
): { readonly problems: string[]; readonly tally: RepairTally } {
  const problems: string[] = [];
  const open = new Map<string, string>();
  let begun = 0;
  let completed = 0;
  let reverted = 0;
  let derived = 0;
  let blocked = 0;
  for (const { atMs, entry } of entries) {
    switch (entry.kind) {
      case 'begin':
        begun++;
        open.set(entry.repair.joiningSegment, entry.repair.id);
        break;
      case 'complete':
      case 'revert':
        if (entry.kind === 'complete') completed++;
        else reverted++;
        open.delete(entry.repair.joiningSegment);
        if (entry.kind === 'revert' && neverBack.has(entry.repair.leavingNode))
          problems.push(
            `${atMs.toFixed(3)} ms: ${entry.repair.id} was reverted although ${entry.repair.leavingNode} never came back`,
          );
        break;
      case 'blocked':
        blocked++;
        break;
      case 'note':
        if (entry.text.startsWith('derived ')) derived++;
        break;
      case 'upgrade':
        break;
    }
  }
  for (const [joiner, id] of open) problems.push(`${id} (joiner ${joiner}) never completed nor reverted`);
  return { problems, tally: { begun, completed, reverted, derived, blocked, open: [...open.values()] } };
}
