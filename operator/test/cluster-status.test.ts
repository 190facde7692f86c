/**
 * `northlight status` for the engines: a writer that refuses commits while it still serves reads
 * (write quorum lost, LSN back-pressure) says so in the JSON (`writesRefused`) and in the text's ready
 * column, instead of a plain "yes" that hides why every write fails.
 */
import { describe, expect, it } from 'vitest';
import {
  buildClusterStatus,
  type ClusterObservation,
  formatClusterStatus,
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
