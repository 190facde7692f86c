/**
 * `northlight status` for the engines: a writer that refuses commits while it still serves reads
 * (write quorum lost, LSN back-pressure) says so in the JSON (`writesRefused`) and in the text's ready
 * column, instead of a plain "yes" that hides why every write fails. A storage node's disk column is
 * its files on disk as it reports them (not its segments' live data, 85 times smaller in an audit).
 */
import { describe, expect, it } from 'vitest';
import {
  buildClusterStatus,
  type ClusterObservation,
  formatClusterStatus,
  onDiskBytesOf,
} from '../src/core/cluster-status.js';

function observation(writerStatus: Record<string, unknown>): ClusterObservation {
  const engine = (name: string, role: 'writer' | 'replica', status: Record<string, unknown>) => ({
    name,
    role,
    promotionTier: 1,
    process: 'running',
    ready: true,
    pid: 1,
    url: `http://127.0.0.1/${name}`,
    version: '0.1.0',
    status,
  });
  return {
    cluster: 'demo',
    dataDir: '/tmp/demo',
    endpoints: { readWrite: 'pg://w', readOnly: 'pg://r', control: 'http://c' },
    writer: 'engine-1',
    promoting: undefined,
    storage: [],
    engines: [engine('engine-1', 'writer', writerStatus), engine('engine-2', 'replica', { appliedLsn: '7' })],
    volume: undefined,
    repairs: { inFlight: [], recent: [], blocked: [] } as unknown as ClusterObservation['repairs'],
    upgrade: undefined,
    events: [],
  };
}

describe('the writer in status', () => {
  it('shows "reads only (writes refused)" while its driver does not accept commits', () => {
    for (const writerStatus of [
      { mode: 'degraded', driver: { accepting: false, vdl: '10' } },
      { mode: 'normal', driver: { accepting: false, vdl: '10' } },
    ]) {
      const status = buildClusterStatus(observation(writerStatus), String);
      expect(status.engines.find((engine) => engine.name === 'engine-1')?.writesRefused).toBe(true);
      expect(status.engines.find((engine) => engine.name === 'engine-2')).not.toHaveProperty('writesRefused');
      expect(formatClusterStatus(status)).toMatch(/engine-1\s+writer.*reads only \(writes refused\)/);
    }
  });

  it('shows plain "yes" when it accepts commits', () => {
    const status = buildClusterStatus(
      observation({ mode: 'normal', driver: { accepting: true, vdl: '10' } }),
      String,
    );
    expect(status.engines.find((engine) => engine.name === 'engine-1')?.writesRefused).toBe(false);
    const text = formatClusterStatus(status);
    expect(text).not.toMatch(/writes refused/);
    expect(text).toMatch(/engine-1\s+writer\s+1\s+0\.1\.0\s+running\s+yes/);
  });
});

/** A segment as a storage node's status reports it. */
function storageSegment(node: string, pgId: number, diskBytes: number, backup?: Record<string, unknown>) {
  return {
    pgId,
    segmentId: `pg${pgId}-${node}`,
    scl: '10',
    diskBytes,
    appendRecordsPerSecond: 0,
    readPagesPerSecond: 0,
    volumeEpoch: '1',
    membershipEpoch: '1',
    ...(backup === undefined ? {} : { backup }),
  };
}

/** A running storage node of zone a with `segments` (undefined: it did not answer). */
function storageNode(nodeId: string, segments: ReturnType<typeof storageSegment>[] | undefined) {
  return {
    nodeId,
    zone: 'a',
    process: 'running',
    ready: true,
    pid: 1,
    starts: 1,
    version: '0.1.0',
    segments,
  };
}

describe('storage nodes in status', () => {
  it("shows the node's files on disk as it reports them, and its segments' live data beside it", () => {
    const segment = (pgId: number, diskBytes: number) => storageSegment('storage-a-1', pgId, diskBytes);
    const report = {
      log: { bytesOnDisk: 4_456_448 },
      pages: { bytesOnDisk: 79_104 },
      controlLogBytes: 11_841,
    };
    expect(onDiskBytesOf(report)).toBe(4_547_393);
    expect(onDiskBytesOf({})).toBeUndefined();
    const base = observation({ mode: 'normal', driver: { accepting: true } });
    const node = storageNode('storage-a-1', [segment(0, 30_000), segment(1, 24_328)]);
    const status = buildClusterStatus(
      {
        ...base,
        storage: [
          { ...node, onDiskBytes: onDiskBytesOf(report) },
          { ...node, nodeId: 'storage-a-2' },
        ],
      },
      String,
    );
    expect(status.storage[0]).toMatchObject({ diskBytes: 4_547_393, liveBytes: 54_328 });
    // A node that does not report its files (an older build) shows its live data as its disk use.
    expect(status.storage[1]).toMatchObject({ diskBytes: 54_328, liveBytes: 54_328 });
    expect(formatClusterStatus(status)).toMatch(/storage-a-1 .*4\.3 MiB\s+53\.1 KiB/);
  });

  it("says how the members' transport authenticates, and what came through a transition", () => {
    const report = (authentication: string, unauthenticatedConnections = 0, authFailures = 0) => ({
      authentication,
      authFailures,
      unauthenticatedConnections,
    });
    const base = observation({
      mode: 'normal',
      driver: { accepting: true },
      transport: report('required'),
    });
    const nodes = ['storage-a-1', 'storage-a-2'].map((nodeId) => ({
      ...storageNode(nodeId, []),
      transport: report('required'),
    }));
    const uniform = buildClusterStatus({ ...base, storage: nodes }, String);
    expect(uniform.transport.byMode).toEqual({ required: ['storage-a-1', 'storage-a-2', 'engine-1'] });
    expect(formatClusterStatus(uniform)).toMatch(/^transport: authentication required on all 3 members$/m);
    // Halfway through an upgrade from a build without it: who runs what, and what was let in.
    const halfway = buildClusterStatus(
      {
        ...base,
        storage: [
          { ...nodes[0]!, transport: report('transition', 3, 1) },
          { ...nodes[1]!, transport: undefined },
        ],
      },
      String,
    );
    expect(halfway.transport).toEqual({
      byMode: { transition: ['storage-a-1'], required: ['engine-1'] },
      authFailures: 1,
      unauthenticatedConnections: 3,
    });
    expect(formatClusterStatus(halfway)).toMatch(
      /^transport: authentication required on engine-1; transition on storage-a-1 \(3 connections taken without a proof of the token; 1 refused\)$/m,
    );
    const open = buildClusterStatus(
      { ...base, storage: nodes.map((node) => ({ ...node, transport: report('off') })) },
      String,
    );
    expect(formatClusterStatus(open)).toMatch(/off: no internal token, any peer is taken/);
  });

  it("shows each node's backups: ok, off, failing, and a broken one with what it means", () => {
    const base = observation({ mode: 'normal', driver: { accepting: true } });
    const segment = (node: string, pgId: number, backup?: Record<string, unknown>) =>
      storageSegment(node, pgId, 1, backup);
    const node = storageNode;
    const chunk = 'pg-1/pg1-storage-a-4/log/00000000000000000007-00000000000000000009.nlr';
    const status = buildClusterStatus(
      {
        ...base,
        storage: [
          node('storage-a-1', [
            segment('storage-a-1', 0, { backedUpThrough: '10', chunks: 3 }),
            segment('storage-a-1', 1, { backedUpThrough: '9', chunks: 1 }),
          ]),
          node('storage-a-2', [segment('storage-a-2', 0, { chunks: 0 }), segment('storage-a-2', 1)]),
          node('storage-a-3', [
            segment('storage-a-3', 0, {
              backedUpThrough: '4',
              chunks: 1,
              lastError: 'object store unavailable',
            }),
          ]),
          node('storage-a-4', [
            segment('storage-a-4', 0, { backedUpThrough: '10', chunks: 2 }),
            segment('storage-a-4', 1, {
              backedUpThrough: '10',
              chunks: 4,
              lastError: `backup ${chunk}: named by the manifest, not stored`,
              brokenChunk: chunk,
            }),
          ]),
          node('storage-a-5', []),
          node('storage-a-6', undefined),
        ],
      },
      String,
    );
    expect(status.storage.map((entry) => entry.backup?.state)).toEqual([
      'ok',
      'off',
      'failing',
      'broken',
      'none',
      undefined,
    ]);
    expect(status.storage[3]!.backup).toEqual({
      state: 'broken',
      broken: [{ segmentId: 'pg1-storage-a-4', chunk }],
      errors: [],
    });
    const text = formatClusterStatus(status);
    expect(text).toMatch(/storage-a-1 .* ok$/m);
    expect(text).toMatch(/storage-a-2 .* off$/m);
    expect(text).toMatch(/storage-a-3 .* failing$/m);
    expect(text).toMatch(/storage-a-4 .* broken \(1\)$/m);
    expect(text).toMatch(/storage-a-5 .* -$/m);
    expect(text).toContain(
      `BACKUP PROBLEMS\nstorage-a-3: staging failing, retried: pg0-storage-a-3: object store unavailable\n` +
        `storage-a-4: pg1-storage-a-4 names ${chunk}, missing or damaged in the object store: ` +
        'not restorable past it until the next base, staged once materialization has passed it',
    );
    // Nothing to say when every backup is well.
    expect(formatClusterStatus(buildClusterStatus({ ...base, storage: [] }, String))).not.toMatch(
      /BACKUP PROBLEMS/,
    );
  });

  it('says when up is still starting the cluster, or stopping it', () => {
    const base = observation({ driver: { accepting: true } });
    const header = (phase?: 'starting' | 'running' | 'stopping') =>
      formatClusterStatus(
        buildClusterStatus({ ...base, ...(phase === undefined ? {} : { phase }) }, String),
      ).split('\n')[0];
    expect(header('starting')).toMatch(/^cluster \S+ — starting {2}\(data: /);
    expect(header('stopping')).toMatch(/^cluster \S+ — stopping {2}\(data: /);
    expect(header()).toMatch(/^cluster \S+ {2}\(data: /);
    expect(buildClusterStatus(base, String).phase).toBe('running');
  });

  it('shows the embedded object store, and what its being down means', () => {
    const base = observation({ driver: { accepting: true } });
    const down = formatClusterStatus(
      buildClusterStatus(
        { ...base, objectStore: { process: 'down', ready: false, pid: undefined } },
        () => '',
      ),
    );
    expect(down).toMatch(
      /^OBJECT STORE \(embedded\): down: backups wait and storage nodes keep their log until it is back \(start-node object-store\)$/m,
    );
    const running = buildClusterStatus(
      { ...base, objectStore: { process: 'running', ready: true, pid: 42 } },
      () => '',
    );
    expect(running.objectStore).toEqual({ process: 'running', ready: true, pid: 42 });
    expect(formatClusterStatus(running)).toMatch(/^OBJECT STORE \(embedded\): running \(pid 42\), ready$/m);
    // A platform without one (an S3 bucket, Kubernetes' view) prints no such line.
    expect(formatClusterStatus(buildClusterStatus(base, () => ''))).not.toMatch(/OBJECT STORE/);
  });
});
