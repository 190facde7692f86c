/**
 * Status conditions, pure: which condition each situation sets, and that lastTransitionTime moves
 * only when a condition's status changes (metav1.Condition semantics).
 */
import { describe, expect, it } from 'vitest';
import {
  conditionsOf,
  type HealthSummary,
  mergeConditions,
  refusedConditions,
} from '../../src/k8s/conditions.js';
import { CONDITIONS } from '../../src/k8s/contract.js';

const healthy: HealthSummary = {
  storageNodes: 9,
  storageReady: 9,
  storageNotReady: [],
  engines: 2,
  enginesReady: 2,
  writer: 'engine-1',
  writerReady: true,
  promoting: undefined,
  repairsInFlight: 0,
  repairsBlocked: [],
  upgradingTo: undefined,
  creating: false,
};

function statuses(health: HealthSummary) {
  const { phase, conditions } = conditionsOf(health);
  return { phase, ...Object.fromEntries(conditions.map((condition) => [condition.type, condition.status])) };
}

describe('conditionsOf', () => {
  it.each<[string, Partial<HealthSummary>, Record<string, string>]>([
    [
      'all ready',
      {},
      {
        phase: 'Ready',
        Ready: 'True',
        Degraded: 'False',
        Repairing: 'False',
        Upgrading: 'False',
        FailingOver: 'False',
      },
    ],
    [
      'being created',
      { creating: true, storageReady: 4, enginesReady: 0, writerReady: false },
      { phase: 'Creating', Ready: 'False', Degraded: 'False', Repairing: 'False' },
    ],
    [
      'a storage pod recreated on its volume',
      { storageReady: 8, storageNotReady: ['storage-a-1'] },
      { phase: 'Degraded', Ready: 'False', Degraded: 'True', Repairing: 'True', FailingOver: 'False' },
    ],
    [
      'segments re-replicated while every pod is ready',
      { repairsInFlight: 2 },
      { phase: 'Ready', Ready: 'True', Repairing: 'True', Degraded: 'False' },
    ],
    [
      'the writer failed and a replica is promoted',
      { promoting: 'engine-2', writerReady: false, enginesReady: 1 },
      { phase: 'FailingOver', Ready: 'False', FailingOver: 'True', Degraded: 'True' },
    ],
    [
      'a replica down',
      { enginesReady: 1 },
      { phase: 'Degraded', Ready: 'False', Degraded: 'True', Repairing: 'False' },
    ],
    [
      'an upgrade running',
      { upgradingTo: '0.2.0' },
      { phase: 'Upgrading', Ready: 'True', Upgrading: 'True' },
    ],
    ['repairs blocked', { repairsBlocked: ['PG 0: no spare node in zone a'] }, { Degraded: 'True' }],
  ])('%s', (_name, change, expected) => {
    expect(statuses({ ...healthy, ...change })).toMatchObject(expected);
  });

  it('reports every condition type of the contract, in its order', () => {
    expect(conditionsOf(healthy).conditions.map((condition) => condition.type)).toEqual([...CONDITIONS]);
    expect(refusedConditions('InvalidSpec', 'x').map((condition) => condition.type)).toEqual([...CONDITIONS]);
  });

  it('says which storage nodes are missing', () => {
    const repairing = conditionsOf({
      ...healthy,
      storageReady: 8,
      storageNotReady: ['storage-b-2'],
    }).conditions.find((condition) => condition.type === 'Repairing');
    expect(repairing).toMatchObject({ reason: 'StorageNodeRecovering' });
    expect(repairing?.message).toContain('storage-b-2');
  });
});

describe('mergeConditions', () => {
  const first = mergeConditions(undefined, conditionsOf(healthy).conditions, '2026-01-01T00:00:00Z', 1);

  it('stamps new conditions with the time and generation', () => {
    expect(first.every((condition) => condition.lastTransitionTime === '2026-01-01T00:00:00Z')).toBe(true);
    expect(first.every((condition) => condition.observedGeneration === 1)).toBe(true);
  });

  it('keeps lastTransitionTime when the status is unchanged, even if the message changes', () => {
    const desired = conditionsOf({ ...healthy, writer: 'engine-2' }).conditions;
    const next = mergeConditions(first, desired, '2026-01-01T00:05:00Z', 2);
    const ready = next.find((condition) => condition.type === 'Ready')!;
    expect(ready.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(ready.message).toContain('engine-2');
    expect(ready.observedGeneration).toBe(2);
  });

  it('moves lastTransitionTime only for the conditions whose status changed', () => {
    const desired = conditionsOf({
      ...healthy,
      storageReady: 8,
      storageNotReady: ['storage-a-1'],
    }).conditions;
    const next = mergeConditions(first, desired, '2026-01-01T00:10:00Z', 1);
    const time = Object.fromEntries(next.map((condition) => [condition.type, condition.lastTransitionTime]));
    expect(time).toEqual({
      Ready: '2026-01-01T00:10:00Z',
      Degraded: '2026-01-01T00:10:00Z',
      Repairing: '2026-01-01T00:10:00Z',
      Upgrading: '2026-01-01T00:00:00Z',
      FailingOver: '2026-01-01T00:00:00Z',
    });
  });

  it('truncates very long messages', () => {
    const [ready] = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'x'.repeat(5_000) }],
      't',
      1,
    );
    expect(ready!.message.length).toBeLessThanOrEqual(1_024);
  });
});
