/**
 * Writer health and failover, as a pure plan: `planEngines(observed) → actions`. The control loop
 * observes every engine instance (its process, its readiness probe, a replica's applied LSN), calls
 * this, and executes what comes back through the platform. Nothing here waits or talks.
 *
 * Rules, in order:
 *   1. A promotion in flight: wait for it (the promoted engine runs volume recovery under a new epoch;
 *      storage fences the old writer, so nothing else may be decided meanwhile).
 *   2. The writer is healthy (running and ready, or not ready for less than the grace period): start
 *      every crashed replica again, as a replica.
 *   3. The writer has failed (crashed, killed, or not ready for the grace period): promote the best
 *      running replica that has followed it (lowest promotion tier, then the highest applied LSN,
 *      i.e. the lowest lag, then the name). The old writer becomes a replica of the new one when it
 *      runs again; if its process still runs (hung, partitioned) it is stopped first, though
 *      storage's epoch fencing would box it out anyway.
 *   4. No replica can take over: a crashed writer is started again in place (recovery needs no
 *      replica); a running but unready one is waited for, and the reason is reported.
 */

export type EngineRole = 'writer' | 'replica';
/**
 * running: the process is up; crashed: it exited on its own (the platform may start it again);
 * down: stopped on purpose (`northlight kill-node`), left down until `start-node`.
 */
export type ProcessState = 'running' | 'crashed' | 'down';

export interface ObservedEngine {
  readonly name: string;
  readonly promotionTier: number;
  readonly role: EngineRole;
  readonly process: ProcessState;
  /** Its readiness probe answered "ready" at the last observation. */
  readonly ready: boolean;
  /** How long it has been running without being ready (0 when ready or not running). */
  readonly unreadyForMs: number;
  /** A replica's applied LSN (its read point); undefined when unknown or not following. */
  readonly appliedLsn: bigint | undefined;
}

export interface EnginePlanInput {
  readonly engines: readonly ObservedEngine[];
  /** The instance recorded as writer. */
  readonly writer: string;
  /** An instance being promoted now, if any. */
  readonly promoting: string | undefined;
  readonly failoverGraceMs: number;
}

export type EngineAction =
  | { readonly kind: 'start'; readonly name: string; readonly role: EngineRole; readonly reason: string }
  | { readonly kind: 'stop'; readonly name: string; readonly reason: string }
  | {
      readonly kind: 'promote';
      readonly name: string;
      readonly formerWriter: string;
      readonly reason: string;
    }
  | { readonly kind: 'wait'; readonly reason: string };

export function planEngines(input: EnginePlanInput): EngineAction[] {
  const writer = input.engines.find((engine) => engine.name === input.writer);
  if (writer === undefined) return [{ kind: 'wait', reason: `no engine named ${input.writer} is known` }];
  if (input.promoting !== undefined)
    return [{ kind: 'wait', reason: `${input.promoting} is being promoted to writer` }];
  const failure = writerFailure(writer, input.failoverGraceMs);
  if (failure === undefined) return restartReplicas(input.engines, writer.name);
  const candidate = bestReplica(input.engines);
  if (candidate !== undefined) {
    const actions: EngineAction[] = [];
    if (writer.process === 'running')
      actions.push({
        kind: 'stop',
        name: writer.name,
        reason: `writer ${writer.name} ${failure}; stopping it before promotion`,
      });
    actions.push({
      kind: 'promote',
      name: candidate.name,
      formerWriter: writer.name,
      reason: `writer ${writer.name} ${failure}; ${candidate.name} has promotion tier ${candidate.promotionTier} and applied LSN ${candidate.appliedLsn}`,
    });
    return actions;
  }
  if (writer.process === 'crashed')
    return [
      {
        kind: 'start',
        name: writer.name,
        role: 'writer',
        reason: `writer ${writer.name} ${failure} and no replica can take over; restarting it`,
      },
    ];
  // A replica started after the writer went down has not followed it and does not know the volume
  // (the engine refuses to be promoted so): only the writer can bring the volume back then.
  const unfollowed = input.engines.some(
    (engine) => engine.role === 'replica' && engine.process === 'running' && engine.appliedLsn === undefined,
  );
  return [
    {
      kind: 'wait',
      reason:
        `writer ${writer.name} ${failure} and no running replica has followed it` +
        (writer.process === 'down'
          ? `; start ${writer.name} again${unfollowed ? ' (a replica started after it went down cannot take over: it does not know the volume)' : ''}`
          : ''),
    },
  ];
}

/** Why the writer counts as failed, or undefined when it is healthy (or still within its grace). */
function writerFailure(writer: ObservedEngine, graceMs: number): string | undefined {
  if (writer.process === 'crashed') return 'exited';
  if (writer.process === 'down') return 'is down (stopped by an operator)';
  if (!writer.ready && writer.unreadyForMs >= graceMs)
    return `has not been ready for ${Math.round(writer.unreadyForMs)} ms`;
  return undefined;
}

function restartReplicas(engines: readonly ObservedEngine[], writer: string): EngineAction[] {
  return engines
    .filter((engine) => engine.name !== writer && engine.process === 'crashed')
    .map((engine) => ({
      kind: 'start' as const,
      name: engine.name,
      role: 'replica' as const,
      reason: `${engine.name} exited; starting it again as a replica of ${writer}`,
    }));
}

/**
 * Running replicas that have followed the writer (they report an applied LSN): lowest tier, then the
 * highest applied LSN, then name. Readiness is not required: a replica whose writer died reports
 * "not ready" (its redo stream is lost), and that is exactly when it must be promotable.
 */
export function bestReplica(engines: readonly ObservedEngine[]): ObservedEngine | undefined {
  const candidates = engines.filter(
    (engine) => engine.role === 'replica' && engine.process === 'running' && engine.appliedLsn !== undefined,
  );
  candidates.sort((a, b) => {
    if (a.promotionTier !== b.promotionTier) return a.promotionTier - b.promotionTier;
    if (a.appliedLsn !== b.appliedLsn) return a.appliedLsn! > b.appliedLsn! ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return candidates[0];
}
