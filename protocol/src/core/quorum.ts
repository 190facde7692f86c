/**
 * Quorum rules of a protection group (paper §2.1; SIGMOD 2018 §3 "quorum sets").
 *
 * A PG has V = 6 copies, two per zone across three zones. A write is durable when 4 copies have it;
 * a read (used only by recovery and repair — normal reads go to one segment known to be complete)
 * needs 3. Vw + Vr > V makes every read quorum meet every write quorum; 2·Vw > V makes every two
 * write quorums meet. Losing a whole zone leaves 4 copies (writes go on); a zone plus one more node
 * leaves 3 (reads, hence repair, go on).
 *
 * Membership changes never stop the world. Replacing member F by G turns the PG's single
 * configuration {ABCDEF} into the quorum set {ABCDEF, ABCDEG}: a write needs 4/6 of EVERY
 * configuration, a read needs 3/6 of ANY configuration. Completing the change drops every
 * configuration holding F; reversing it (F came back) drops every configuration holding G. A second
 * failure during a change (E) replaces E in every configuration that holds it, giving
 * {ABCDEF, ABCDEG, ABCDHF, ABCDHG}. Each change bumps the membership epoch (membership.ts).
 *
 * One refinement beyond the paper's wording: a joining member counts toward READ quorums only once
 * it is hydrated (holds everything the PG had acknowledged when it joined). Before that, {A,B,G}
 * could miss a record acknowledged by {C,D,E,F} before G joined. Writes count G at once, because
 * it receives every new record. `quorum.test.ts` checks both the rule and the counterexample.
 */
import { AssertionError, assert } from './assert.js';

export const COPIES = 6;
export const WRITE_QUORUM = 4;
export const READ_QUORUM = 3;
export const ZONES = 3;
export const COPIES_PER_ZONE = COPIES / ZONES;

// Constant relationships the safety argument rests on, checked at load.
assert(WRITE_QUORUM + READ_QUORUM === COPIES + 1, 'read and write quorums must intersect minimally');
assert(2 * WRITE_QUORUM > COPIES, 'two write quorums must intersect');
assert(COPIES - COPIES_PER_ZONE >= WRITE_QUORUM, 'losing a zone must keep write availability');
assert(
  COPIES - COPIES_PER_ZONE - 1 >= READ_QUORUM,
  'losing a zone and one more copy must keep read availability',
);

/** The members of one configuration: exactly COPIES distinct member ids (segment ids in practice). */
export type Configuration<M extends string> = readonly M[];

export interface QuorumSet<M extends string> {
  /** One configuration normally; several during membership changes. Never empty. */
  readonly configurations: readonly Configuration<M>[];
  /** Members that joined by a change and are still hydrating: they count for writes, not reads. */
  readonly hydrating: readonly M[];
}

export function singleConfiguration<M extends string>(members: readonly M[]): QuorumSet<M> {
  assertConfiguration(members);
  return { configurations: [[...members]], hydrating: [] };
}

function assertConfiguration<M extends string>(members: readonly M[]): void {
  if (!(members.length === COPIES))
    throw new AssertionError(`a configuration has exactly ${COPIES} members, got ${members.length}`);
  if (!(new Set(members).size === COPIES))
    throw new AssertionError(`configuration members must be distinct: ${members.join(',')}`);
}

/** Every member of any configuration: the segments a write must be sent to. */
export function allMembers<M extends string>(quorumSet: QuorumSet<M>): M[] {
  const seen = new Set<M>();
  for (const configuration of quorumSet.configurations) for (const member of configuration) seen.add(member);
  return [...seen].sort();
}

function countIn<M extends string>(configuration: Configuration<M>, members: ReadonlySet<M>): number {
  let count = 0;
  for (const member of configuration) if (members.has(member)) count += 1;
  return count;
}

/**
 * True when `acknowledged` holds WRITE_QUORUM members of every configuration. `writeQuorum` may ask for
 * more (never fewer): COPIES makes a write wait for every copy, as a synchronous mirror does, which is
 * how the engine's benchmark shows what a quorum saves.
 */
export function isWriteQuorum<M extends string>(
  quorumSet: QuorumSet<M>,
  acknowledged: ReadonlySet<M>,
  writeQuorum: number = WRITE_QUORUM,
): boolean {
  if (writeQuorum < WRITE_QUORUM || writeQuorum > COPIES)
    throw new AssertionError(`a write quorum is ${WRITE_QUORUM} … ${COPIES}, not ${writeQuorum}`);
  return quorumSet.configurations.every(
    (configuration) => countIn(configuration, acknowledged) >= writeQuorum,
  );
}

/** True when `responded` holds READ_QUORUM hydrated members of some configuration. */
export function isReadQuorum<M extends string>(quorumSet: QuorumSet<M>, responded: ReadonlySet<M>): boolean {
  const usable = new Set([...responded].filter((member) => !quorumSet.hydrating.includes(member)));
  return quorumSet.configurations.some((configuration) => countIn(configuration, usable) >= READ_QUORUM);
}

/**
 * Starts replacing `leaving` by `joining`: every configuration holding `leaving` gains a twin with
 * `joining` in its place. `joining` starts out hydrating.
 */
export function beginReplacement<M extends string>(
  quorumSet: QuorumSet<M>,
  leaving: M,
  joining: M,
): QuorumSet<M> {
  const members = allMembers(quorumSet);
  assert(members.includes(leaving), `${leaving} is not a member`);
  assert(!members.includes(joining), `${joining} is already a member`);
  const twins = quorumSet.configurations
    .filter((configuration) => configuration.includes(leaving))
    .map((configuration) => configuration.map((member) => (member === leaving ? joining : member)));
  return {
    configurations: [...quorumSet.configurations, ...twins],
    hydrating: [...quorumSet.hydrating, joining],
  };
}

/** `member` now holds everything the PG had acknowledged when it joined: it may serve read quorums. */
export function markHydrated<M extends string>(quorumSet: QuorumSet<M>, member: M): QuorumSet<M> {
  assert(quorumSet.hydrating.includes(member), `${member} is not hydrating`);
  return { ...quorumSet, hydrating: quorumSet.hydrating.filter((m) => m !== member) };
}

/**
 * Finishes a replacement: drops every configuration holding `leaving`. The joining member must be
 * hydrated first, or the new configuration's read quorums could miss old acknowledged records.
 */
export function completeReplacement<M extends string>(quorumSet: QuorumSet<M>, leaving: M): QuorumSet<M> {
  const kept = quorumSet.configurations.filter((configuration) => !configuration.includes(leaving));
  assert(kept.length > 0, `completing the removal of ${leaving} would leave no configuration`);
  assert(kept.length < quorumSet.configurations.length, `${leaving} is in no configuration`);
  const remaining = new Set(kept.flat());
  const stillHydrating = quorumSet.hydrating.filter((member) => remaining.has(member));
  assert(
    stillHydrating.every((member) => kept.every((configuration) => !configuration.includes(member))),
    'complete a replacement only after the joining member is hydrated',
  );
  return { configurations: kept, hydrating: stillHydrating };
}

/** Reverses a replacement (the old member came back): drops every configuration holding `joining`. */
export function revertReplacement<M extends string>(quorumSet: QuorumSet<M>, joining: M): QuorumSet<M> {
  const kept = quorumSet.configurations.filter((configuration) => !configuration.includes(joining));
  assert(kept.length > 0 && kept.length < quorumSet.configurations.length, `${joining} is not joining`);
  return { configurations: kept, hydrating: quorumSet.hydrating.filter((member) => member !== joining) };
}

/**
 * The highest value that a write quorum of members has reached, given each member's progress
 * (for example its SCL). Members without progress count as 0. This is how the writer turns
 * per-segment SCLs into the PG's durable point.
 */
export function quorumProgress<M extends string>(
  quorumSet: QuorumSet<M>,
  progress: ReadonlyMap<M, bigint>,
): bigint {
  let result: bigint | undefined;
  for (const configuration of quorumSet.configurations) {
    const values = configuration
      .map((member) => progress.get(member) ?? 0n)
      .sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    const reached = values[WRITE_QUORUM - 1];
    assert(reached !== undefined);
    result = result === undefined || reached < result ? reached : result;
  }
  assert(result !== undefined);
  return result;
}
