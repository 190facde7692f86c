/**
 * Writer health and failover planning (src/core/engine-plan.ts), table by table: who gets promoted
 * (tier, then lag, then name), when (crash at once, unready only after the grace period), what
 * happens to the old writer, and that nothing is decided while a promotion runs.
 */
import { describe, expect, it } from 'vitest';
import { bestReplica, type ObservedEngine, planEngines } from '../src/core/engine-plan.js';

const healthy = (
  name: string,
  role: 'writer' | 'replica',
  extra: Partial<ObservedEngine> = {},
): ObservedEngine => ({
  name,
  promotionTier: 1,
  role,
  process: 'running',
  ready: true,
  unreadyForMs: 0,
  appliedLsn: role === 'replica' ? 100n : undefined,
  ...extra,
});

const plan = (engines: ObservedEngine[], promoting?: string) =>
  planEngines({ engines, writer: 'w', promoting, failoverGraceMs: 5_000 });

describe('planEngines', () => {
  it('does nothing while the writer and replicas are healthy', () => {
    expect(plan([healthy('w', 'writer'), healthy('r1', 'replica')])).toEqual([]);
  });

  it('starts a crashed replica again as a replica', () => {
    expect(
      plan([healthy('w', 'writer'), healthy('r1', 'replica', { process: 'crashed', ready: false })]),
    ).toEqual([expect.objectContaining({ kind: 'start', name: 'r1', role: 'replica' })]);
  });

  it('leaves a replica stopped by an operator down', () => {
    expect(
      plan([healthy('w', 'writer'), healthy('r1', 'replica', { process: 'down', ready: false })]),
    ).toEqual([]);
  });

  it('promotes at once when the writer process exits', () => {
    const actions = plan([
      healthy('w', 'writer', { process: 'crashed', ready: false }),
      healthy('r1', 'replica'),
    ]);
    expect(actions).toEqual([expect.objectContaining({ kind: 'promote', name: 'r1', formerWriter: 'w' })]);
  });

  it('promotes when the writer was killed by an operator', () => {
    const actions = plan([
      healthy('w', 'writer', { process: 'down', ready: false }),
      healthy('r1', 'replica'),
    ]);
    expect(actions).toEqual([expect.objectContaining({ kind: 'promote', name: 'r1' })]);
  });

  it('waits out the grace period for a running writer that is not ready', () => {
    const engines = (unreadyForMs: number) => [
      healthy('w', 'writer', { ready: false, unreadyForMs }),
      healthy('r1', 'replica'),
    ];
    expect(plan(engines(4_999))).toEqual([]);
    expect(plan(engines(5_000))).toEqual([
      expect.objectContaining({ kind: 'stop', name: 'w' }),
      expect.objectContaining({ kind: 'promote', name: 'r1' }),
    ]);
  });

  it('chooses by promotion tier first, then the highest applied LSN, then the name', () => {
    const dead = healthy('w', 'writer', { process: 'crashed', ready: false });
    const byTier = plan([
      dead,
      healthy('a', 'replica', { promotionTier: 2, appliedLsn: 900n }),
      healthy('b', 'replica', { promotionTier: 1, appliedLsn: 100n }),
    ]);
    expect(byTier[0]).toMatchObject({ kind: 'promote', name: 'b' });
    const byLag = plan([
      dead,
      healthy('a', 'replica', { appliedLsn: 100n }),
      healthy('b', 'replica', { appliedLsn: 300n }),
    ]);
    expect(byLag[0]).toMatchObject({ kind: 'promote', name: 'b' });
    const byName = plan([dead, healthy('b', 'replica'), healthy('a', 'replica')]);
    expect(byName[0]).toMatchObject({ kind: 'promote', name: 'a' });
  });

  it('promotes a replica that lost its stream (not ready) but has followed the writer', () => {
    const dead = healthy('w', 'writer', { process: 'crashed', ready: false });
    expect(plan([dead, healthy('r1', 'replica', { ready: false })])).toEqual([
      expect.objectContaining({ kind: 'promote', name: 'r1' }),
    ]);
  });

  it('never promotes a replica that is not running or has never followed', () => {
    const dead = healthy('w', 'writer', { process: 'crashed', ready: false });
    expect(plan([dead, healthy('r1', 'replica', { process: 'down', ready: false })])).toEqual([
      expect.objectContaining({ kind: 'start', name: 'w', role: 'writer' }),
    ]);
    expect(plan([dead, healthy('r1', 'replica', { appliedLsn: undefined })])[0]).toMatchObject({
      kind: 'start',
      name: 'w',
    });
  });

  it('says what to do when the writer was stopped by an operator and no replica followed it', () => {
    const down = healthy('w', 'writer', { process: 'down', ready: false });
    const late = healthy('r2', 'replica', { appliedLsn: undefined, ready: false });
    expect(plan([down, late])).toEqual([
      {
        kind: 'wait',
        reason: expect.stringMatching(
          /no running replica has followed it; start w again \(a replica started after/,
        ),
      },
    ]);
    expect(plan([down])).toEqual([{ kind: 'wait', reason: expect.stringMatching(/; start w again$/) }]);
  });

  it('restarts a crashed writer in place when no replica exists', () => {
    expect(plan([healthy('w', 'writer', { process: 'crashed', ready: false })])).toEqual([
      expect.objectContaining({ kind: 'start', name: 'w', role: 'writer' }),
    ]);
  });

  it('waits, with the reason, for a hung writer when no replica can take over', () => {
    const actions = plan([healthy('w', 'writer', { ready: false, unreadyForMs: 60_000 })]);
    expect(actions).toEqual([{ kind: 'wait', reason: expect.stringContaining('no running replica') }]);
  });

  it('decides nothing while a promotion is in flight', () => {
    const actions = plan(
      [
        healthy('w', 'writer', { process: 'crashed', ready: false }),
        healthy('r1', 'replica', { process: 'crashed' }),
      ],
      'r1',
    );
    expect(actions).toEqual([{ kind: 'wait', reason: expect.stringContaining('r1 is being promoted') }]);
  });

  it('bestReplica ignores the writer and stopped engines', () => {
    expect(
      bestReplica([healthy('w', 'writer'), healthy('r1', 'replica', { process: 'down' })]),
    ).toBeUndefined();
  });
});
