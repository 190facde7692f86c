import { describe, expect, it } from 'vitest';
import {
  age,
  type ClusterObject,
  formatClusterDetail,
  formatClusterList,
  storageMembersOf,
  switchoverTarget,
} from '../../src/kubectl/format.js';

const NOW = Date.parse('2026-11-26T12:00:00Z');

const cluster: ClusterObject = {
  metadata: { name: 'demo', namespace: 'prod', generation: 3, creationTimestamp: '2026-11-26T11:00:00Z' },
  spec: {
    engine: {
      version: '0.1.0',
      instances: [
        { name: 'engine-1', promotionTier: 0 },
        { name: 'engine-2', promotionTier: 2 },
        { name: 'engine-3', promotionTier: 1 },
      ],
    },
    storage: {
      version: '0.1.0',
      zones: [
        { name: 'a', nodes: 2 },
        { name: 'b', nodes: 2 },
        { name: 'c', nodes: 3 },
      ],
    },
  },
  status: {
    phase: 'Repairing',
    observedGeneration: 2,
    writer: 'engine-1',
    readyInstances: 3,
    endpoints: { readWrite: 'demo-rw.prod.svc:5432', readOnly: 'demo-ro.prod.svc:5432' },
    transport:
      'authentication transition on all 10 members (0 connections taken without a proof of the token)',
    conditions: [
      {
        type: 'Repairing',
        status: 'True',
        reason: 'NodeLost',
        message: 'storage-a-1 unreachable',
        lastTransitionTime: '2026-11-26T11:59:00Z',
      },
      {
        type: 'Ready',
        status: 'True',
        reason: 'AllQuorumsHealthy',
        lastTransitionTime: '2026-11-26T11:01:00Z',
      },
    ],
  },
};

describe('kubectl northlight formatting', () => {
  it('writes ages the way kubectl does', () => {
    expect(age('2026-11-26T11:59:30Z', NOW)).toBe('30s');
    expect(age('2026-11-26T11:00:00Z', NOW)).toBe('60m');
    expect(age('2026-11-26T06:00:00Z', NOW)).toBe('6h');
    expect(age('2026-11-20T12:00:00Z', NOW)).toBe('6d');
    expect(age(undefined, NOW)).toBe('-');
    expect(age('not a time', NOW)).toBe('-');
  });

  it('lists clusters with readiness, writer, instances and storage nodes', () => {
    const text = formatClusterList([cluster, { metadata: { name: 'fresh' } }], NOW);
    const [header, first, second] = text.split('\n');
    expect(header).toMatch(/^NAME\s+READY\s+PHASE\s+WRITER\s+INSTANCES\s+STORAGE NODES\s+AGE$/);
    expect(first).toMatch(/^demo\s+True\s+Repairing\s+engine-1\s+3\/3\s+7\s+60m$/);
    expect(second).toMatch(/^fresh\s+Unknown\s+-\s+-\s+0\/0\s+0\s+-$/);
    expect(formatClusterList([], NOW)).toBe('No DatabaseClusters found.');
  });

  it('details one cluster: stale generation, conditions in a fixed order, members, volume', () => {
    const text = formatClusterDetail(
      cluster,
      { status: { pgCount: 2, volumeSizeBytes: 3 * 1024 ** 3, epochs: { volume: 4 } } },
      [
        {
          metadata: {
            name: 'demo-storage-b-1',
            labels: {
              'northlight.dev/member': 'storage-b-1',
              'app.kubernetes.io/component': 'storage',
              'northlight.dev/zone': 'b',
            },
          },
          spec: { nodeName: 'kind-worker2' },
          status: {
            phase: 'Running',
            podIP: '10.0.0.7',
            conditions: [{ type: 'Ready', status: 'True' }],
            containerStatuses: [{ restartCount: 2 }],
          },
        },
        {
          metadata: {
            name: 'demo-engine-1',
            labels: {
              'northlight.dev/member': 'engine-1',
              'app.kubernetes.io/component': 'engine',
              'northlight.dev/role': 'writer',
            },
          },
          status: { phase: 'Pending' },
        },
      ],
      NOW,
    );
    expect(text).toContain('DatabaseCluster demo in namespace prod: Repairing');
    expect(text).toContain('not acted on the latest spec yet (generation 3, observed 2)');
    expect(text).toContain('Endpoints: read-write demo-rw.prod.svc:5432   read-only demo-ro.prod.svc:5432');
    // Ready before Repairing: the order of CONDITIONS, whatever order the operator wrote them in.
    expect(text.indexOf('\nReady ')).toBeLessThan(text.indexOf('\nRepairing '));
    expect(text).toMatch(/Repairing\s+True\s+NodeLost\s+60s\s+storage-a-1 unreachable/);
    // Engines sort before storage; the pending writer pod is not ready.
    expect(text).toMatch(/engine-1\s+engine\s+-\s+writer\s+no\s+0\s+Pending/);
    expect(text).toMatch(/storage-b-1\s+storage\s+b\s+-\s+yes\s+2\s+Running\s+kind-worker2\s+10\.0\.0\.7/);
    expect(text.indexOf('engine-1  ')).toBeLessThan(text.indexOf('storage-b-1'));
    expect(text).toContain('volumeSizeBytes: 3.0 GiB');
    expect(text).toContain('epochs: {"volume":4}');
    expect(text).toContain(
      '\nTransport: authentication transition on all 10 members (0 connections taken without a proof of the token)',
    );
  });

  it('prints what there is for a cluster the operator has not reconciled', () => {
    const text = formatClusterDetail({ metadata: { name: 'new' } }, undefined, [], NOW);
    expect(text).toContain('DatabaseCluster new in namespace default: not reconciled yet');
    expect(text).toContain('none yet');
    expect(text).toContain('no pods');
  });

  it('names storage members as the topology does and picks the switchover target like failover', () => {
    expect(storageMembersOf(cluster)).toEqual([
      'storage-a-1',
      'storage-a-2',
      'storage-b-1',
      'storage-b-2',
      'storage-c-1',
      'storage-c-2',
      'storage-c-3',
    ]);
    expect(switchoverTarget(cluster)).toBe('engine-3');
    expect(switchoverTarget({ ...cluster, status: { writer: 'engine-3' } })).toBe('engine-1');
    expect(
      switchoverTarget({ spec: { engine: { instances: [{ name: 'only' }] } }, status: { writer: 'only' } }),
    ).toBeUndefined();
  });
});
