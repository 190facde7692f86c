/**
 * The volume as the engine sees it: a sequence of protection groups (PGs), each `pagesPerPg` pages of
 * the volume's page space, each kept by six segments on six storage nodes (more, in several
 * configurations, while a membership change replaces one: docs/quorum.md). Pure data and the two
 * interfaces the engine's core needs from the outside world: where the PGs live (`VolumeDirectory`)
 * and which volume epoch to recover under (`EpochStore`).
 *
 * Page numbers are 0-based over the whole volume (SQLite's page n is the engine's page n − 1);
 * page p lies in PG ⌊p / pagesPerPg⌋. The volume is never pre-sized: a write to a page past the last
 * PG makes the engine add PGs up to it first (`VolumeDirectory.addPg`), in order, so PG ids are dense.
 */
import {
  asPgId,
  assert,
  COPIES,
  type Epoch,
  type NodeId,
  type PgId,
  type QuorumSet,
  type SegmentId,
} from '@northlight/protocol';

/**
 * Where one PG's segments live, under which membership epoch, and how their acknowledgements count.
 * Normally one configuration of six segments; during a membership change (docs/quorum.md, "Membership
 * changes") several, and `members` is every segment of any of them.
 */
export interface PgPlacement {
  readonly pgId: PgId;
  readonly membershipEpoch: Epoch;
  readonly quorumSet: QuorumSet<SegmentId>;
  /**
   * Every member of any configuration (`allMembers(quorumSet)`): the segments a write is sent to. In
   * a stable order: the first configuration's (placement order, two per zone), then the members the
   * later ones add, in their order.
   */
  readonly members: readonly SegmentId[];
  /** The storage node hosting each member. */
  readonly nodeOf: ReadonlyMap<SegmentId, NodeId>;
}

export function quorumSetOf(placement: PgPlacement): QuorumSet<SegmentId> {
  return placement.quorumSet;
}

/**
 * A membership change is a quorum set of at most this many configurations: a replacement doubles
 * them, and a second failure during one doubles them again (docs/quorum.md); three overlapping
 * replacements would need 8, which the control plane never starts (one repair per PG at a time).
 */
export const CONFIGURATIONS_MAX = 4;
/** Members of all configurations together: the storage node's own default `membersMax`. */
export const MEMBERS_MAX = 16;

/** A new membership of one PG, as the control plane decides it (`VolumeDirectory.updateMembership`). */
export interface MembershipChange {
  readonly membershipEpoch: Epoch;
  readonly quorumSet: QuorumSet<SegmentId>;
  /** The node of every member of any configuration (entries for other segments are ignored). */
  readonly nodeOf: ReadonlyMap<SegmentId, NodeId>;
}

/**
 * The membership one segment holds on its storage node (`VolumeDirectory.storedMembership`): the
 * union of the members of every configuration of its PG, and the node of each (`memberNodes[i]` hosts
 * `members[i]`). Storage learns a membership only after the writer recorded it (the control plane
 * tells the writer first), so a newer epoch here is one the writer of that time had durably taken.
 */
export interface StoredMembership {
  readonly membershipEpoch: Epoch;
  readonly members: readonly SegmentId[];
  readonly memberNodes: readonly NodeId[];
}

/**
 * The change that brings `current` up to a newer membership storage holds, or undefined when there is
 * none to take from storage alone: not newer, a node missing, or more than COPIES members — a change
 * still in flight, whose configurations storage does not keep (only their union), so only the control
 * plane can give it. COPIES members are one configuration: every configuration has COPIES distinct
 * members, so a union of COPIES is a single one, and none of its members is still hydrating (a
 * replacement completes only once its joiner is hydrated, and a revert drops the joiner).
 */
export function membershipFromStorage(
  current: PgPlacement,
  stored: StoredMembership,
): MembershipChange | undefined {
  if (stored.membershipEpoch <= current.membershipEpoch) return undefined;
  if (stored.members.length !== COPIES || stored.memberNodes.length !== stored.members.length)
    return undefined;
  // In the order of the current first configuration (placement order, two per zone), each member
  // that left replaced in its place, as `completeReplacement` leaves it: the same order the control
  // plane posts, though order is cosmetic (`samePlacement`).
  const first = current.quorumSet.configurations[0]!;
  const others = [
    ...current.members.filter((member) => !first.includes(member)),
    ...stored.members.filter((member) => !current.members.includes(member)),
  ].filter((member) => stored.members.includes(member));
  const members = first.map((member) => (stored.members.includes(member) ? member : others.shift()));
  if (others.length > 0 || members.includes(undefined)) return undefined;
  const nodeOf = new Map(stored.members.map((member, index) => [member, stored.memberNodes[index]!]));
  const change: MembershipChange = {
    membershipEpoch: stored.membershipEpoch,
    quorumSet: { configurations: [members as SegmentId[]], hydrating: [] },
    nodeOf,
  };
  return membershipProblem(change) === undefined ? change : undefined;
}

/** Every member of any configuration, in the stable order `PgPlacement.members` documents. */
export function membersOf(quorumSet: QuorumSet<SegmentId>): SegmentId[] {
  const members = new Set<SegmentId>();
  for (const configuration of quorumSet.configurations)
    for (const member of configuration) members.add(member);
  return [...members];
}

/**
 * What is wrong with a quorum set and its nodes as the new membership of a PG, or undefined. Each
 * configuration must be COPIES distinct segments, hydrating members must be members, every member
 * needs a node and no two members may share one (two copies on one node would fail together).
 */
export function membershipProblem(change: {
  readonly quorumSet: QuorumSet<SegmentId>;
  readonly nodeOf: ReadonlyMap<SegmentId, NodeId>;
}): string | undefined {
  const { configurations, hydrating } = change.quorumSet;
  if (configurations.length === 0) return 'a quorum set needs at least one configuration';
  if (configurations.length > CONFIGURATIONS_MAX)
    return `${configurations.length} configurations (at most ${CONFIGURATIONS_MAX})`;
  for (const [index, configuration] of configurations.entries()) {
    if (configuration.length !== COPIES || new Set(configuration).size !== COPIES)
      return `configuration ${index} must be ${COPIES} distinct segment ids, not [${configuration.join(', ')}]`;
  }
  if (
    new Set(configurations.map((configuration) => [...configuration].sort().join(','))).size !==
    configurations.length
  )
    return 'two configurations have the same members';
  const members = membersOf(change.quorumSet);
  if (members.length > MEMBERS_MAX) return `${members.length} members in all (at most ${MEMBERS_MAX})`;
  const strangers = hydrating.filter((member) => !members.includes(member));
  if (strangers.length > 0) return `hydrating ${strangers.join(', ')} in no configuration`;
  if (new Set(hydrating).size !== hydrating.length) return 'a hydrating member is listed twice';
  const homeless = members.filter((member) => !change.nodeOf.has(member));
  if (homeless.length > 0) return `no node given for ${homeless.join(', ')}`;
  const byNode = new Map<NodeId, SegmentId>();
  for (const member of members) {
    const node = change.nodeOf.get(member)!;
    const other = byNode.get(node);
    if (other !== undefined) return `${other} and ${member} are both on node ${node}`;
    byNode.set(node, member);
  }
  return undefined;
}

/** The placement of `pgId` under a (valid) membership. */
export function placementOf(pgId: PgId, change: MembershipChange): PgPlacement {
  const problem = membershipProblem(change);
  assert(problem === undefined, `PG ${pgId}: ${problem}`);
  const members = membersOf(change.quorumSet);
  return {
    pgId,
    membershipEpoch: change.membershipEpoch,
    quorumSet: {
      configurations: change.quorumSet.configurations.map((configuration) => [...configuration]),
      hydrating: [...change.quorumSet.hydrating],
    },
    members,
    nodeOf: new Map(members.map((member) => [member, change.nodeOf.get(member)!])),
  };
}

/**
 * Whether two placements of a PG say the same: epoch, configurations (as sets: order is cosmetic),
 * hydrating members and nodes.
 */
export function samePlacement(a: PgPlacement, b: PgPlacement): boolean {
  const configurations = (placement: PgPlacement) =>
    placement.quorumSet.configurations
      .map((configuration) => [...configuration].sort().join(','))
      .sort()
      .join(';');
  return (
    a.pgId === b.pgId &&
    a.membershipEpoch === b.membershipEpoch &&
    configurations(a) === configurations(b) &&
    [...a.quorumSet.hydrating].sort().join(',') === [...b.quorumSet.hydrating].sort().join(',') &&
    a.members.every((member) => a.nodeOf.get(member) === b.nodeOf.get(member))
  );
}

/**
 * The durable list of the volume's PGs. The local implementation (io/local-directory.ts) keeps it in a
 * file and creates segments through the storage nodes' admin API; the control plane replaces it.
 */
export interface VolumeDirectory {
  readonly pagesPerPg: number;
  /** Every PG of the volume, by id, dense from 0. */
  pgs(): readonly PgPlacement[];
  /**
   * Adds the next PG (id = the current count): creates its six segments and records it durably, in
   * that order, so a PG the list names always has segments. Idempotent across crashes: a PG whose
   * creation was interrupted is completed when it is added again.
   */
  addPg(): Promise<PgPlacement>;
  /**
   * Records a new membership of PG `pgId` durably and resolves with its placement; only then does the
   * engine write by it. A membership epoch older than the PG's is refused with NL_MEMBERSHIP_STALE, as
   * is the PG's own epoch with other content; its own epoch with the same content changes nothing. An
   * invalid quorum set or an unknown PG is NL_CONFIG_INVALID. It creates no segment: the control plane
   * creates a joining one (and tells the storage nodes) itself.
   */
  updateMembership(pgId: PgId, change: MembershipChange): Promise<PgPlacement>;
  /**
   * Background upkeep the driver calls now and then (the local directory creates segments whose node
   * was down when their PG was added). Optional.
   */
  maintain?(): Promise<unknown>;
  /**
   * The membership segment `segmentId` of PG `pgId` holds on its storage node, or undefined when the
   * node cannot say (down, no such segment). Optional: what lets a writer whose list is older than
   * storage's (a replica promoted with the list it last read) catch up without the control plane.
   */
  storedMembership?(pgId: PgId, segmentId: SegmentId): Promise<StoredMembership | undefined>;
}

/** Hands out volume epochs: each call returns one never returned before, above `atLeastAbove`. */
export interface EpochStore {
  claim(atLeastAbove: Epoch): Promise<Epoch>;
}

export function pgOfPage(pageNo: number, pagesPerPg: number): PgId {
  assert(Number.isInteger(pageNo) && pageNo >= 0, `bad page number ${pageNo}`);
  return asPgId(Math.floor(pageNo / pagesPerPg));
}
