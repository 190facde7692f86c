/**
 * The placement planner: which six storage nodes hold a new PG's segments (paper §2.1; DESIGN.md
 * "operator / control plane"). Pure: the control plane passes in the fleet as it last saw it and the
 * volume's layouts, and gets back a plan or a typed problem; it never talks to a node from here.
 *
 * The rules, in priority order, for each of the three zones:
 * 1. Two distinct schedulable nodes per zone, in exactly three zones. Anything else is a
 *    `NL_PLACEMENT_IMPOSSIBLE` problem that names the zones and counts, never a partial layout.
 * 2. Balance: the two nodes holding the fewest of the volume's segments. Because this rule comes
 *    first, building a volume from scratch keeps every zone's schedulable nodes within one segment
 *    of each other (each step adds one to the two smallest counts, which preserves max − min ≤ 1),
 *    and adding PGs to an imbalanced volume only ever fills the emptiest nodes.
 * 3. Load: among nodes with equal counts, the ones with the least disk use and heat relative to the
 *    zone's mean. Costs within COST_TIE_WIDTH of the lowest tie, so that nodes carrying about the
 *    same load are left to rule 4; a node clearly hotter or fuller than its zone loses the tie.
 * 4. Spread: among the pairs still tied, the one whose new co-hostings — the pair itself and each
 *    of its nodes with the nodes already chosen in other zones — repeat the fewest earlier ones.
 *    This gives "high entropy" layouts: when a node fails, the PGs it held have many different
 *    peers, so repair reads and writes spread over the fleet instead of hammering one partner.
 * 5. A hash of (seed, PG id, node id), so that the remaining ties fall differently for each PG and
 *    each volume, yet the same input always gives the same plan (the simulator replays it).
 *
 * Zones are chosen greedily, one at a time, starting from a zone that rotates with the PG id so
 * that no zone always chooses first (the first zone chosen sees no cross-zone spread term).
 */
import { AssertionError, assert, COPIES, COPIES_PER_ZONE, type Result, ZONES } from '@northlight/protocol';

export interface FleetNode {
  readonly nodeId: string;
  readonly zone: string;
  /** False: unreachable, draining or being upgraded — never chosen for new segments. */
  readonly schedulable: boolean;
  /** Bytes the node's segments occupy on disk (from its status); 0 when unknown. */
  readonly diskBytes: number;
  /** Heat: records appended + pages read per second over all its segments; 0 when unknown. */
  readonly heat: number;
}

export interface PgLayout {
  readonly pgId: number;
  /** Six node ids (the members' hosts), in member order. */
  readonly nodes: readonly string[];
}

export interface PlacementProblem {
  readonly code: 'NL_PLACEMENT_IMPOSSIBLE';
  /** What is missing and what to do about it, for the operator's status and the CLI. */
  readonly message: string;
}

/** The largest storage fleet the planner accepts: its co-hosting matrix is MAX² counters (4 MiB). */
export const MAX_FLEET_NODES = 1_024;
/** The most PGs in one volume: 128 TiB (Aurora's largest volume) at the default 1 GiB per PG. */
export const MAX_PGS = 131_072;
/**
 * A layout may list more than COPIES nodes while a membership change is in flight (old and new
 * members); anything longer is a caller bug, and would make co-hosting counts quadratic in it.
 */
export const MAX_LAYOUT_MEMBERS = 2 * COPIES;
/**
 * When more nodes than this tie on count and cost in one zone, only this many (those with the least
 * cross-zone co-hosting) enter the pair search, which is quadratic in them: 24 gives 276 pairs.
 */
export const MAX_PAIR_CANDIDATES = 24;
/** Weights of disk use and heat, each relative to the zone's mean, in the load cost of rule 3. */
export const DISK_COST_WEIGHT = 1;
export const HEAT_COST_WEIGHT = 1;
/**
 * A node whose load cost is within this of the lowest among its equals in count ties with it, so that
 * nodes carrying about the same load are left to rule 4: 0.25 is a quarter of the zone's mean load.
 */
export const COST_TIE_WIDTH = 0.25;

/**
 * Chooses the six nodes for a new PG: two per zone, distinct, balanced and spread. The nodes come in
 * zone name order, and by node id within a zone. `layouts` are whatever PGs the volume has (their
 * members on nodes no longer in the fleet, or unschedulable, are ignored); `pgId` only seeds the
 * tie-breaks, so placing PG n after PGs 0..n-1 gives the same nodes as planPlacement would.
 */
export function placePg(
  fleet: readonly FleetNode[],
  layouts: readonly PgLayout[],
  pgId: number,
  seed = '',
): Result<string[], PlacementProblem> {
  assert(Number.isInteger(pgId) && pgId >= 0 && pgId < MAX_PGS, `PG id out of range: ${pgId}`);
  const problem = fleetProblem(fleet) ?? volumeSizeProblem(layouts.length + 1);
  if (problem !== undefined) return { ok: false, error: problem };
  const state = buildState(fleet, layouts, seed);
  return { ok: true, value: choosePg(state, pgId) };
}

/** Pure plan: which PGs (ids from layouts.length up to pgCountWanted-1, dense) to create and where. */
export function planPlacement(input: {
  fleet: readonly FleetNode[];
  layouts: readonly PgLayout[];
  pgCountWanted: number;
  seed?: string;
}): Result<PgLayout[], PlacementProblem> {
  const { fleet, layouts, pgCountWanted, seed = '' } = input;
  assert(Number.isInteger(pgCountWanted) && pgCountWanted >= 0, `invalid PG count: ${pgCountWanted}`);
  // A volume grows by appending PGs, so its layouts are PGs 0..n-1; a gap is a bug in the caller.
  const misplaced = layouts.findIndex((layout, index) => layout.pgId !== index);
  assert(
    misplaced === -1,
    `layouts must be PGs 0..n-1 in order: PG ${layouts[misplaced]?.pgId} at ${misplaced}`,
  );
  // Volumes never shrink: wanting fewer PGs than exist creates nothing (and removes nothing).
  if (pgCountWanted <= layouts.length) return { ok: true, value: [] };
  const problem = fleetProblem(fleet) ?? volumeSizeProblem(pgCountWanted);
  if (problem !== undefined) return { ok: false, error: problem };
  const state = buildState(fleet, layouts, seed);
  const planned: PgLayout[] = [];
  for (let pgId = layouts.length; pgId < pgCountWanted; pgId++) {
    planned.push({ pgId, nodes: choosePg(state, pgId) });
  }
  return { ok: true, value: planned };
}

/**
 * Checks a layout against the rules (exactly two per zone in exactly three zones, distinct nodes, all
 * known) — used by the tests and by the control plane on observed layouts. Schedulability is not a
 * rule of a layout: a PG on a draining node is valid until the control plane migrates it.
 */
export function layoutProblems(fleet: readonly FleetNode[], layout: PgLayout): string[] {
  const problems: string[] = [];
  const pg = `PG ${layout.pgId}`;
  if (layout.nodes.length !== COPIES) {
    problems.push(`${pg} has ${layout.nodes.length} members; a PG has ${COPIES}`);
  }
  const zoneByNodeId = new Map(fleet.map((node) => [node.nodeId, node.zone]));
  const seen = new Set<string>();
  const membersByZone = new Map<string, number>();
  for (const nodeId of layout.nodes) {
    if (seen.has(nodeId)) problems.push(`${pg} lists node ${nodeId} more than once`);
    seen.add(nodeId);
    const zone = zoneByNodeId.get(nodeId);
    if (zone === undefined) problems.push(`${pg} member ${nodeId} is not a node of the fleet`);
    else membersByZone.set(zone, (membersByZone.get(zone) ?? 0) + 1);
  }
  if (membersByZone.size !== ZONES) {
    problems.push(`${pg} spans ${membersByZone.size} zones; a PG spans exactly ${ZONES}`);
  }
  for (const [zone, members] of [...membersByZone].sort(([a], [b]) => compareStrings(a, b))) {
    if (members !== COPIES_PER_ZONE) {
      problems.push(
        `${pg} has ${plural(members, 'member')} in zone ${zone}; a PG has ${COPIES_PER_ZONE} per zone`,
      );
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Problems: what the fleet or the volume lacks, worded as what to do.

function placementProblem(message: string): PlacementProblem {
  return { code: 'NL_PLACEMENT_IMPOSSIBLE', message };
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

function volumeSizeProblem(pgCount: number): PlacementProblem | undefined {
  if (pgCount <= MAX_PGS) return undefined;
  return placementProblem(
    `the volume would have ${pgCount} PGs; the planner places at most ${MAX_PGS}: ask for a smaller volume`,
  );
}

interface ZoneSummary {
  readonly zone: string;
  readonly schedulable: number;
  readonly unschedulable: number;
}

function summarizeZones(fleet: readonly FleetNode[]): ZoneSummary[] {
  const byZone = new Map<string, { schedulable: number; unschedulable: number }>();
  for (const node of fleet) {
    const summary = byZone.get(node.zone) ?? { schedulable: 0, unschedulable: 0 };
    if (node.schedulable) summary.schedulable++;
    else summary.unschedulable++;
    byZone.set(node.zone, summary);
  }
  return [...byZone]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([zone, summary]) => ({ zone, ...summary }));
}

/** Checks the fleet's shape (and asserts its sanity); undefined when every PG can be placed. */
function fleetProblem(fleet: readonly FleetNode[]): PlacementProblem | undefined {
  if (fleet.length > MAX_FLEET_NODES) {
    return placementProblem(
      `the fleet has ${fleet.length} storage nodes; the planner handles at most ${MAX_FLEET_NODES}: split the fleet`,
    );
  }
  assertFleetSane(fleet);
  const zones = summarizeZones(fleet);
  const need = `a PG needs ${COPIES_PER_ZONE} in each of ${ZONES} zones`;
  if (zones.length > ZONES) {
    const names = zones.map((summary) => summary.zone).join(', ');
    return placementProblem(
      `the fleet spans ${zones.length} zones (${names}); ${need}: label every storage node with one of exactly ${ZONES} zones`,
    );
  }
  const short = zones.filter((summary) => summary.schedulable < COPIES_PER_ZONE);
  if (zones.length === ZONES && short.length === 0) return undefined;
  const facts = short.map(
    (summary) =>
      `zone ${summary.zone} has ${plural(summary.schedulable, 'schedulable storage node')}` +
      (summary.unschedulable > 0 ? ` (${summary.unschedulable} unschedulable)` : ''),
  );
  const actions: string[] = [];
  if (zones.length < ZONES) {
    const names = zones.length === 0 ? 'none' : zones.map((summary) => summary.zone).join(', ');
    facts.unshift(`the fleet spans ${plural(zones.length, 'zone')} (${names})`);
    actions.push(`add storage nodes in ${plural(ZONES - zones.length, 'more zone')}`);
  }
  if (short.length > 0) {
    const names = short.map((summary) => summary.zone).join(' and ');
    actions.push(
      short.length === 1
        ? `add a node to zone ${names} or wait for one to recover`
        : `add nodes to zones ${names} or wait for them to recover`,
    );
  }
  return placementProblem(`${facts.join('; ')}; ${need}: ${actions.join(', and ')}`);
}

function assertFleetSane(fleet: readonly FleetNode[]): void {
  const nodeIds = new Set<string>();
  for (const node of fleet) {
    assert(node.nodeId.length > 0 && node.zone.length > 0, 'a fleet node needs a node id and a zone');
    assert(!nodeIds.has(node.nodeId), `node ${node.nodeId} appears twice in the fleet`);
    nodeIds.add(node.nodeId);
    // The io layer turns a missing or garbled status into 0 ("unknown"); anything else is a bug.
    assert(Number.isFinite(node.diskBytes) && node.diskBytes >= 0, `bad diskBytes for ${node.nodeId}`);
    assert(Number.isFinite(node.heat) && node.heat >= 0, `bad heat for ${node.nodeId}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The choice. Schedulable nodes are numbered 0..n-1 in node id order, so that the fleet's order in
// the input never changes the plan, and counts live in typed arrays indexed by that number.

interface PlacementState {
  /** Schedulable nodes, sorted by node id; a node's index is its number below. */
  readonly nodes: readonly FleetNode[];
  /** Per zone (zones sorted by name), the numbers of its schedulable nodes, ascending. */
  readonly zoneMembers: readonly (readonly number[])[];
  /** Segments of this volume on each node, from the layouts and from PGs planned so far. */
  readonly segmentCounts: Int32Array;
  /** PGs each two nodes have both held: entry a·n + b (kept symmetric). */
  readonly coHostCounts: Uint32Array;
  /** Rule 3's load cost: disk use and heat relative to the zone's mean, weighted. */
  readonly loadCosts: Float64Array;
  /** FNV-1a of (seed, node id); mixed with the PG id per PG for rule 5. */
  readonly seedHashes: Uint32Array;
}

function buildState(fleet: readonly FleetNode[], layouts: readonly PgLayout[], seed: string): PlacementState {
  const nodes = fleet.filter((node) => node.schedulable).sort((a, b) => compareStrings(a.nodeId, b.nodeId));
  const zoneNames = [...new Set(fleet.map((node) => node.zone))].sort(compareStrings);
  assert(zoneNames.length === ZONES, 'the fleet was checked to span exactly three zones');
  const zoneMembers = zoneNames.map((zone) =>
    nodes.flatMap((node, index) => (node.zone === zone ? [index] : [])),
  );
  const state: PlacementState = {
    nodes,
    zoneMembers,
    segmentCounts: new Int32Array(nodes.length),
    coHostCounts: new Uint32Array(nodes.length * nodes.length),
    loadCosts: loadCosts(nodes, zoneMembers),
    seedHashes: Uint32Array.from(nodes, (node) => fnv1a32(`${seed}\u0000${node.nodeId}`)),
  };
  const indexByNodeId = new Map(nodes.map((node, index) => [node.nodeId, index]));
  for (const layout of layouts) {
    if (layout.nodes.length > MAX_LAYOUT_MEMBERS) {
      throw new AssertionError(`PG ${layout.pgId} lists ${layout.nodes.length} nodes`);
    }
    // Members on unknown or unschedulable nodes count for nothing: those nodes are never chosen.
    const members = new Set<number>();
    for (const nodeId of layout.nodes) {
      const index = indexByNodeId.get(nodeId);
      if (index !== undefined) members.add(index);
    }
    recordPg(state, [...members]);
  }
  return state;
}

function recordPg(state: PlacementState, members: readonly number[]): void {
  const nodeCount = state.nodes.length;
  for (const [position, a] of members.entries()) {
    state.segmentCounts[a]!++;
    for (const b of members.slice(position + 1)) {
      state.coHostCounts[a * nodeCount + b]!++;
      state.coHostCounts[b * nodeCount + a]!++;
    }
  }
}

function loadCosts(nodes: readonly FleetNode[], zoneMembers: readonly (readonly number[])[]): Float64Array {
  const costs = new Float64Array(nodes.length);
  for (const members of zoneMembers) {
    const meanDiskBytes = members.reduce((sum, index) => sum + nodes[index]!.diskBytes, 0) / members.length;
    const meanHeat = members.reduce((sum, index) => sum + nodes[index]!.heat, 0) / members.length;
    for (const index of members) {
      // A zero mean means nothing is known (or nothing is loaded): every node ties on that term.
      const diskShare = meanDiskBytes > 0 ? nodes[index]!.diskBytes / meanDiskBytes : 0;
      const heatShare = meanHeat > 0 ? nodes[index]!.heat / meanHeat : 0;
      costs[index] = DISK_COST_WEIGHT * diskShare + HEAT_COST_WEIGHT * heatShare;
    }
  }
  return costs;
}

/** Chooses and records one PG; returns its nodes by zone name, then node id. */
function choosePg(state: PlacementState, pgId: number): string[] {
  const chosenByZone: (readonly [number, number])[] = [];
  const chosen: number[] = [];
  for (let step = 0; step < ZONES; step++) {
    const zone = (pgId + step) % ZONES;
    const pair = chooseZonePair(state, state.zoneMembers[zone]!, chosen, pgId);
    chosenByZone[zone] = pair;
    chosen.push(...pair);
  }
  const members = chosenByZone.flat();
  assert(members.length === COPIES && new Set(members).size === COPIES, 'a PG has six distinct nodes');
  recordPg(state, members);
  return members.map((index) => state.nodes[index]!.nodeId);
}

/**
 * Rules 2–5 inside one zone: the candidates are the nodes with the fewest segments and the least load
 * — both slots from them when two or more tie, else that one node and the next best nodes —
 * and the pair among them with the least repeated co-hosting wins, then the lower hash.
 */
function chooseZonePair(
  state: PlacementState,
  members: readonly number[],
  chosen: readonly number[],
  pgId: number,
): readonly [number, number] {
  const firstSlot = lowestKeyNodes(state, members, []);
  const sharedSlot = firstSlot.length >= 2;
  const secondSlot = sharedSlot ? firstSlot : lowestKeyNodes(state, members, firstSlot);
  assert(firstSlot.length > 0 && secondSlot.length > 0, 'a zone has two schedulable nodes');
  const nodeCount = state.nodes.length;
  const candidate = (index: number): Candidate => ({
    index,
    cross: chosen.reduce((sum, z) => sum + state.coHostCounts[index * nodeCount + z]!, 0),
    hash: mixPgId(state.seedHashes[index]!, pgId),
  });
  // Only a shared slot makes the search quadratic, so only it is cut down to the most promising.
  const first = sharedSlot
    ? bestCandidates(firstSlot.map(candidate), MAX_PAIR_CANDIDATES)
    : firstSlot.map(candidate);
  const second = sharedSlot ? first : secondSlot.map(candidate);
  let best: { a: number; b: number; spread: number; hash: number } | undefined;
  for (const [position, a] of first.entries()) {
    // With one shared slot, visit each unordered pair once; with two, every combination.
    for (const b of sharedSlot ? first.slice(position + 1) : second) {
      const spread = state.coHostCounts[a.index * nodeCount + b.index]! + a.cross + b.cross;
      const hashSum = a.hash + b.hash;
      if (best === undefined || spread < best.spread || (spread === best.spread && hashSum < best.hash)) {
        best = { a: a.index, b: b.index, spread, hash: hashSum };
      }
    }
  }
  assert(best !== undefined, 'a zone has a pair of candidates');
  return best.a < best.b ? [best.a, best.b] : [best.b, best.a];
}

interface Candidate {
  readonly index: number;
  /** Earlier PGs shared with the nodes already chosen in other zones, summed. */
  readonly cross: number;
  /** Rule 5's hash for this PG. */
  readonly hash: number;
}

/**
 * The `limit` best candidates (least cross co-hosting, then lowest hash), kept in a short sorted list
 * as they come: a zone of hundreds of tied nodes costs one pass, not a sort, for every PG.
 */
function bestCandidates(candidates: readonly Candidate[], limit: number): Candidate[] {
  const best: Candidate[] = [];
  const isBetter = (a: Candidate, b: Candidate): boolean =>
    a.cross < b.cross ||
    (a.cross === b.cross && (a.hash < b.hash || (a.hash === b.hash && a.index < b.index)));
  for (const candidate of candidates) {
    if (best.length === limit && !isBetter(candidate, best[limit - 1]!)) continue;
    let position = Math.min(best.length, limit - 1);
    if (best.length < limit) best.push(candidate);
    while (position > 0 && isBetter(candidate, best[position - 1]!)) {
      best[position] = best[position - 1]!;
      position--;
    }
    best[position] = candidate;
  }
  return best;
}

/**
 * Rules 2 and 3: the nodes of `members` (except `excluded`) with the fewest segments, and among them
 * those whose load cost is within COST_TIE_WIDTH of the lowest. A window rather than fixed buckets,
 * so that two nearly equal nodes never fall on either side of a bucket edge.
 */
function lowestKeyNodes(
  state: PlacementState,
  members: readonly number[],
  excluded: readonly number[],
): number[] {
  let lowestCount = Number.POSITIVE_INFINITY;
  let lowestCost = Number.POSITIVE_INFINITY;
  for (const index of members) {
    if (excluded.includes(index)) continue;
    const count = state.segmentCounts[index]!;
    const cost = state.loadCosts[index]!;
    if (count < lowestCount || (count === lowestCount && cost < lowestCost)) {
      lowestCount = count;
      lowestCost = cost;
    }
  }
  return members.filter(
    (index) =>
      !excluded.includes(index) &&
      state.segmentCounts[index] === lowestCount &&
      state.loadCosts[index]! <= lowestCost + COST_TIE_WIDTH,
  );
}

// ---------------------------------------------------------------------------------------------
// Deterministic hashing for rule 5 (no Math.random: the plan must replay).

/** FNV-1a 32-bit over UTF-16 code units: tiny, specified exactly, the same on every machine. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  }
  return hash;
}

/** Mixes a PG id into a node's seed hash (murmur3's finalizer), so each PG breaks ties anew. */
function mixPgId(seedHash: number, pgId: number): number {
  let hash = (seedHash ^ Math.imul(pgId + 1, 0x9e3779b1)) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** Code-unit order, not locale order: the plan must not depend on the machine's locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
