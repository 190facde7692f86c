/**
 * The engine-local `VolumeDirectory`: the volume's PG list in a file on the engine's disk, PGs placed
 * on a static list of storage nodes, two per zone, and their segments created through a
 * `SegmentProvisioner` (the storage nodes' admin API in a process, the cores themselves in the
 * simulator). The control plane (issue 6) replaces it with its metadata store and placement planner;
 * the engine only sees the interface.
 *
 * Placement: the nodes of each zone, sorted by id; PG i takes, in each of the three zones, the nodes
 * at positions 2i and 2i + 1 (mod the zone's size), so with two nodes per zone every PG uses all six,
 * and with more the PGs spread round-robin. Segment ids are `pg<i>-<nodeId>`.
 *
 * Durability order (`addPg`): create the six segments (idempotent on the storage side: creating an
 * existing segment with the same membership epoch is a no-op; at least a write quorum of them must
 * exist, the others are retried by `maintain`), then write the list with the new PG to
 * `volume.json.next`, sync, rename over `volume.json`, sync the directory. A crash in between leaves
 * segments the list does not name; the next `addPg` adds the same PG id and finds them. Adds are
 * serialized.
 *
 * Membership changes (`updateMembership`, a repair by the control plane) replace one PG's entry by the
 * same write path, serialized with adds. The file (`volume.json`, docs/formats.md) has two versions:
 * `northlight-volume/1`, each PG's `members` and `nodes` (one configuration), and `northlight-volume/2`,
 * which adds each PG's quorum set (`configurations`, `hydrating`). Both are read. A list is written as
 * version 1 whenever every PG is a single configuration, so an engine of the previous release can
 * still start on it; version 2 only while a change is in flight, which that engine refuses (its
 * format check) rather than misread a PG of seven members.
 */
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  assert,
  type Disk,
  type Epoch,
  type NodeId,
  NorthlightError,
  type PgId,
  type SegmentId,
  singleConfiguration,
  U64_MAX,
  WRITE_QUORUM,
  ZONES,
} from '@northlight/protocol';
import {
  type MembershipChange,
  membershipProblem,
  membersOf,
  type PgPlacement,
  placementOf,
  type StoredMembership,
  samePlacement,
  type VolumeDirectory,
} from './volume.js';

export interface StorageNodeRef {
  readonly nodeId: NodeId;
  readonly zone: string;
}

/**
 * Creates one segment on one storage node; resolves once it exists (created now or before). Optionally
 * reads the membership a segment holds (undefined: the node does not answer or has no such segment).
 */
export interface SegmentProvisioner {
  createSegment(
    nodeId: NodeId,
    spec: {
      readonly pgId: PgId;
      readonly segmentId: SegmentId;
      readonly membershipEpoch: Epoch;
      readonly members: readonly SegmentId[];
      readonly memberNodes: readonly NodeId[];
    },
  ): Promise<void>;
  readMembership?(nodeId: NodeId, pgId: PgId, segmentId: SegmentId): Promise<StoredMembership | undefined>;
}

/** With quorum sets: written while a membership change is in flight. */
const FILE_FORMAT = 'northlight-volume/2';
/** Before quorum sets: one configuration per PG; still written when that is all there is. */
const FILE_FORMAT_SINGLE_CONFIGURATION = 'northlight-volume/1';
const MEMBERSHIP_EPOCH = asEpoch(1n);

interface VolumeFileEntry {
  readonly pgId: number;
  readonly membershipEpoch: string;
  /** Every member of any configuration, in `PgPlacement.members` order. */
  readonly members: string[];
  /** `nodes[i]` hosts `members[i]`. */
  readonly nodes: string[];
  /** Version 2 only (version 1: `members` is the one configuration). */
  readonly configurations?: string[][];
  readonly hydrating?: string[];
}

interface VolumeFile {
  readonly format: string;
  readonly pagesPerPg: number;
  readonly pgs: readonly VolumeFileEntry[];
}

/**
 * Where the control plane would put a new PG (its placement planner balances nodes by segment count,
 * disk use and heat, and spreads member sets). Answers six node ids, two per zone, or undefined when
 * it has no advice (unreachable): the directory then places the PG itself. The directory checks the
 * advice: nodes it does not know, or not two per zone on distinct nodes, are ignored the same way.
 */
export interface PlacementAdvisor {
  advise(pgId: PgId, pgs: readonly PgPlacement[]): Promise<readonly NodeId[] | undefined>;
}

export class LocalVolumeDirectory implements VolumeDirectory {
  readonly pagesPerPg: number;
  readonly #disk: Disk;
  readonly #directory: string;
  readonly #provisioner: SegmentProvisioner;
  readonly #byZone: ReadonlyMap<string, readonly NodeId[]>;
  #advisor: PlacementAdvisor | undefined;
  #pgs: PgPlacement[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(
    disk: Disk,
    directory: string,
    pagesPerPg: number,
    nodes: readonly StorageNodeRef[],
    provisioner: SegmentProvisioner,
  ) {
    this.#disk = disk;
    this.#directory = directory;
    this.pagesPerPg = pagesPerPg;
    this.#provisioner = provisioner;
    const byZone = new Map<string, NodeId[]>();
    for (const node of nodes) byZone.set(node.zone, [...(byZone.get(node.zone) ?? []), node.nodeId]);
    for (const list of byZone.values()) list.sort();
    this.#byZone = new Map([...byZone].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /**
   * Opens the directory kept in `directory` (creating nothing yet). Throws NL_CONFIG_INVALID when the
   * nodes are not at least two in each of exactly three zones, or when the file was written with
   * another `pagesPerPg` (the volume's page space cannot be re-cut).
   */
  static async open(options: {
    readonly disk: Disk;
    readonly directory: string;
    readonly pagesPerPg: number;
    readonly nodes: readonly StorageNodeRef[];
    readonly provisioner: SegmentProvisioner;
  }): Promise<LocalVolumeDirectory> {
    const zones = new Map<string, number>();
    for (const node of options.nodes) zones.set(node.zone, (zones.get(node.zone) ?? 0) + 1);
    if (zones.size !== ZONES || [...zones.values()].some((count) => count < 2))
      throw new NorthlightError(
        'NL_CONFIG_INVALID',
        `a volume needs storage nodes in exactly ${ZONES} zones, at least 2 in each; got ` +
          `${[...zones].map(([zone, count]) => `${zone}: ${count}`).join(', ') || 'none'}`,
      );
    if (new Set(options.nodes.map((node) => node.nodeId)).size !== options.nodes.length)
      throw new NorthlightError('NL_CONFIG_INVALID', 'a storage node is listed twice');
    if (!Number.isSafeInteger(options.pagesPerPg) || options.pagesPerPg < 1)
      throw new NorthlightError(
        'NL_CONFIG_INVALID',
        `pagesPerPg must be a positive integer, not ${options.pagesPerPg}`,
      );
    const directory = new LocalVolumeDirectory(
      options.disk,
      options.directory,
      options.pagesPerPg,
      options.nodes,
      options.provisioner,
    );
    await directory.#load();
    // Which segments a previous run could not create is not kept: `maintain` checks them all once
    // (creating an existing segment is a no-op).
    for (const placement of directory.#pgs)
      for (const segmentId of placement.members) directory.#missing.set(segmentId, placement);
    return directory;
  }

  /**
   * Writes `pgs` as the volume's PG list in `directory`, keeping what is there where it is as new (a
   * PG's membership epoch): how a replica being promoted takes over the PG list, quorum sets included,
   * that it learned from the writer it followed.
   */
  static async seed(options: {
    readonly disk: Disk;
    readonly directory: string;
    readonly pagesPerPg: number;
    readonly pgs: readonly PgPlacement[];
  }): Promise<void> {
    const refuse: SegmentProvisioner = {
      createSegment: () =>
        Promise.reject(new NorthlightError('NL_CONFIG_INVALID', 'seeding creates no segment')),
    };
    const directory = new LocalVolumeDirectory(
      options.disk,
      options.directory,
      options.pagesPerPg,
      [],
      refuse,
    );
    await directory.#load();
    // The writer's list is newer PG by PG: more PGs, or a PG's newer membership (a repair since).
    const merged = [...directory.#pgs];
    let changed = false;
    for (const placement of [...options.pgs].sort((a, b) => a.pgId - b.pgId)) {
      const own = merged[placement.pgId];
      if (own !== undefined && placement.membershipEpoch <= own.membershipEpoch) continue;
      assert(own !== undefined || placement.pgId === merged.length, `PG ids are dense: ${placement.pgId}`);
      merged[placement.pgId] = placement;
      changed = true;
    }
    if (changed) await directory.#save(merged);
  }

  get #path(): string {
    return `${this.#directory}/volume.json`;
  }

  pgs(): readonly PgPlacement[] {
    return this.#pgs;
  }

  /**
   * Adds the next PG once a write quorum (4) of its segments exists: with a zone down the volume
   * still grows. The segments that could not be created are retried by `maintain` (and at the next
   * start); a late segment catches up from its peers by gossip.
   */
  addPg(): Promise<PgPlacement> {
    const added = this.#tail.then(async () => {
      const pgId = asPgId(this.#pgs.length);
      const placement = (await this.#advisedPlacement(pgId)) ?? this.#place(pgId);
      const created = await this.#createSegments(placement, placement.members);
      if (created.length < WRITE_QUORUM)
        throw new NorthlightError(
          'NL_QUORUM_LOST',
          `PG ${pgId}: only ${created.length} of its ${placement.members.length} segments could be ` +
            `created (a write quorum is ${WRITE_QUORUM}); check the storage nodes`,
          { pgId, created: created.length },
        );
      await this.#save([...this.#pgs, placement]);
      this.#pgs = [...this.#pgs, placement];
      for (const segmentId of placement.members)
        if (!created.includes(segmentId)) this.#missing.set(segmentId, placement);
      return placement;
    });
    this.#tail = added.catch(() => undefined);
    return added;
  }

  /** Segments of listed PGs still to be created (their node was down when the PG was added). */
  readonly #missing = new Map<SegmentId, PgPlacement>();

  /** Retries creating the segments `addPg` could not; resolves with how many are still missing. */
  maintain(): Promise<number> {
    const done = this.#tail.then(async () => {
      for (const [segmentId, placement] of [...this.#missing]) {
        const created = await this.#createSegments(placement, [segmentId]);
        if (created.length === 1) this.#missing.delete(segmentId);
      }
      return this.#missing.size;
    });
    this.#tail = done.catch(() => undefined);
    return done;
  }

  /**
   * Records PG `pgId`'s new membership: validated, refused if older than the PG's (NL_MEMBERSHIP_STALE),
   * a no-op if the same, else written through the same path as `addPg` (serialized with it) before
   * it is used or returned. Creates no segment.
   */
  /** Asks the segment's node (through the provisioner) which membership the segment holds. */
  async storedMembership(pgId: PgId, segmentId: SegmentId): Promise<StoredMembership | undefined> {
    const nodeId = this.#pgs[pgId]?.nodeOf.get(segmentId);
    if (nodeId === undefined || this.#provisioner.readMembership === undefined) return undefined;
    return this.#provisioner.readMembership(nodeId, pgId, segmentId);
  }

  updateMembership(pgId: PgId, change: MembershipChange): Promise<PgPlacement> {
    const updated = this.#tail.then(async () => {
      const current = this.#pgs[pgId];
      if (current === undefined) {
        const message = `the volume has no PG ${pgId} (it has ${this.#pgs.length})`;
        throw new NorthlightError('NL_CONFIG_INVALID', message, { pgId });
      }
      const problem = membershipProblem(change);
      if (problem !== undefined)
        throw new NorthlightError('NL_CONFIG_INVALID', `PG ${pgId}: ${problem}`, { pgId });
      const next = placementOf(pgId, change);
      if (change.membershipEpoch < current.membershipEpoch)
        throw this.#stale(current, `membership epoch ${change.membershipEpoch} is older than`);
      if (change.membershipEpoch === current.membershipEpoch) {
        if (samePlacement(current, next)) return current;
        throw this.#stale(
          current,
          `membership epoch ${change.membershipEpoch} already holds another membership at`,
        );
      }
      const pgs = this.#pgs.map((placement) => (placement.pgId === pgId ? next : placement));
      await this.#save(pgs);
      this.#pgs = pgs;
      // Upkeep creates the still-missing segments by the newest membership, and no longer a leaver.
      for (const [segmentId, placement] of [...this.#missing]) {
        if (placement.pgId !== pgId) continue;
        if (next.members.includes(segmentId)) this.#missing.set(segmentId, next);
        else this.#missing.delete(segmentId);
      }
      return next;
    });
    this.#tail = updated.catch(() => undefined);
    return updated;
  }

  #stale(current: PgPlacement, what: string): NorthlightError {
    return new NorthlightError(
      'NL_MEMBERSHIP_STALE',
      `PG ${current.pgId}: ${what} the PG's current ${current.membershipEpoch}; refresh the layout (GET /v1/volume) and plan again`,
      { pgId: current.pgId, membershipEpoch: current.membershipEpoch },
    );
  }

  /** Creates `segments` of `placement` in parallel; returns those that exist now. */
  async #createSegments(placement: PgPlacement, segments: readonly SegmentId[]): Promise<SegmentId[]> {
    const outcomes = await Promise.allSettled(
      segments.map((segmentId) =>
        this.#provisioner.createSegment(placement.nodeOf.get(segmentId)!, {
          pgId: placement.pgId,
          segmentId,
          membershipEpoch: placement.membershipEpoch,
          members: placement.members,
          memberNodes: placement.members.map((member) => placement.nodeOf.get(member)!),
        }),
      ),
    );
    return segments.filter((_, index) => {
      const outcome = outcomes[index]!;
      if (outcome.status === 'fulfilled') return true;
      if (!(outcome.reason instanceof NorthlightError)) throw outcome.reason;
      return false;
    });
  }

  /** Uses `advisor` for the PGs added from now on (the writer sets it once it knows the control plane). */
  setAdvisor(advisor: PlacementAdvisor | undefined): void {
    this.#advisor = advisor;
  }

  async #advisedPlacement(pgId: PgId): Promise<PgPlacement | undefined> {
    const nodes = await this.#advisor?.advise(pgId, this.#pgs);
    if (nodes === undefined) return undefined;
    const zoneOf = new Map<NodeId, string>();
    for (const [zone, members] of this.#byZone) for (const node of members) zoneOf.set(node, zone);
    const perZone = new Map<string, number>();
    for (const node of nodes) {
      const zone = zoneOf.get(node);
      if (zone === undefined) return undefined;
      perZone.set(zone, (perZone.get(zone) ?? 0) + 1);
    }
    if (nodes.length !== 6 || new Set(nodes).size !== 6 || perZone.size !== ZONES) return undefined;
    if ([...perZone.values()].some((count) => count !== 2)) return undefined;
    const members = nodes.map((node) => asSegmentId(`pg${pgId}-${node}`));
    return placementOf(pgId, {
      membershipEpoch: MEMBERSHIP_EPOCH,
      quorumSet: singleConfiguration(members),
      nodeOf: new Map(members.map((member, index) => [member, nodes[index]!])),
    });
  }

  #place(pgId: PgId): PgPlacement {
    const members: SegmentId[] = [];
    const nodeOf = new Map<SegmentId, NodeId>();
    for (const nodes of this.#byZone.values()) {
      for (const offset of [0, 1]) {
        const nodeId = nodes[(2 * pgId + offset) % nodes.length]!;
        const segmentId = asSegmentId(`pg${pgId}-${nodeId}`);
        members.push(segmentId);
        nodeOf.set(segmentId, nodeId);
      }
    }
    assert(new Set(nodeOf.values()).size === members.length, 'a PG placed two segments on one node');
    return placementOf(pgId, {
      membershipEpoch: MEMBERSHIP_EPOCH,
      quorumSet: singleConfiguration(members),
      nodeOf,
    });
  }

  async #load(): Promise<void> {
    if (!(await this.#disk.exists(this.#path))) return;
    const file = await this.#disk.open(this.#path);
    let text: string;
    try {
      text = new TextDecoder().decode(await file.read(0, await file.size()));
    } finally {
      await file.close();
    }
    let parsed: VolumeFile;
    try {
      parsed = JSON.parse(text) as VolumeFile;
    } catch {
      throw this.#damaged('it is not JSON');
    }
    if (
      (parsed.format !== FILE_FORMAT && parsed.format !== FILE_FORMAT_SINGLE_CONFIGURATION) ||
      !Array.isArray(parsed.pgs)
    )
      throw this.#damaged(`its format is neither ${FILE_FORMAT} nor ${FILE_FORMAT_SINGLE_CONFIGURATION}`);
    if (parsed.pagesPerPg !== this.pagesPerPg)
      throw new NorthlightError(
        'NL_CONFIG_INVALID',
        `the volume was created with ${parsed.pagesPerPg} pages per PG, not ${this.pagesPerPg}: a volume's ` +
          "page space cannot be re-cut; start the engine with the volume's own value",
      );
    this.#pgs = parsed.pgs.map((entry, index) => this.#entryPlacement(parsed.format, entry, index));
  }

  /** One PG of the file; a version-1 entry is the single configuration of its members. */
  #entryPlacement(format: string, entry: VolumeFileEntry, index: number): PgPlacement {
    if (
      entry.pgId !== index ||
      !Array.isArray(entry.members) ||
      !Array.isArray(entry.nodes) ||
      entry.members.length !== entry.nodes.length ||
      !/^[0-9]{1,20}$/.test(String(entry.membershipEpoch)) ||
      BigInt(entry.membershipEpoch) > U64_MAX
    )
      throw this.#damaged(`PG entry ${index} is inconsistent`);
    const members = entry.members.map((member) => asSegmentId(member));
    const nodeOf = new Map(members.map((member, position) => [member, asNodeId(entry.nodes[position]!)]));
    const single = format === FILE_FORMAT_SINGLE_CONFIGURATION;
    if (
      !single &&
      (!Array.isArray(entry.configurations) ||
        !entry.configurations.every(Array.isArray) ||
        !Array.isArray(entry.hydrating))
    )
      throw this.#damaged(`PG entry ${index} has no quorum set`);
    const quorumSet = {
      configurations: single
        ? [members]
        : entry.configurations!.map((configuration) => configuration.map(asSegmentId)),
      hydrating: single ? [] : entry.hydrating!.map(asSegmentId),
    };
    const change = { membershipEpoch: asEpoch(BigInt(entry.membershipEpoch)), quorumSet, nodeOf };
    const problem = membershipProblem(change);
    if (problem !== undefined) throw this.#damaged(`PG entry ${index}: ${problem}`);
    if (membersOf(quorumSet).join(',') !== members.join(','))
      throw this.#damaged(`PG entry ${index}: its members are not those of its configurations`);
    return placementOf(asPgId(entry.pgId), change);
  }

  /**
   * Writes the list, in the oldest format that holds it: version 1 while every PG is one configuration
   * (an engine of the previous release can still start on it), version 2 while a change is in flight.
   */
  async #save(pgs: readonly PgPlacement[]): Promise<void> {
    const single = pgs.every(
      (placement) =>
        placement.quorumSet.configurations.length === 1 && placement.quorumSet.hydrating.length === 0,
    );
    const body: VolumeFile = {
      format: single ? FILE_FORMAT_SINGLE_CONFIGURATION : FILE_FORMAT,
      pagesPerPg: this.pagesPerPg,
      pgs: pgs.map((placement) => ({
        pgId: placement.pgId,
        membershipEpoch: placement.membershipEpoch.toString(),
        members: [...placement.members],
        nodes: placement.members.map((member) => placement.nodeOf.get(member)!),
        ...(single
          ? {}
          : {
              configurations: placement.quorumSet.configurations.map((configuration) => [...configuration]),
              hydrating: [...placement.quorumSet.hydrating],
            }),
      })),
    };
    const staging = `${this.#path}.next`;
    const file = await this.#disk.open(staging);
    try {
      await file.truncate(0);
      await file.write(0, new TextEncoder().encode(`${JSON.stringify(body, null, 2)}\n`));
      await file.sync();
    } finally {
      await file.close();
    }
    await this.#disk.rename(staging, this.#path);
    await this.#disk.syncDirectory(this.#directory);
  }

  #damaged(why: string): NorthlightError {
    return new NorthlightError(
      'NL_DISK_IO',
      `${this.#path} is damaged (${why}): the engine cannot know the volume's PGs; restore the file`,
      { path: this.#path },
    );
  }
}
