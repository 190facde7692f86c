/**
 * Proves a crash ends an incarnation completely: its timers never fire, its pending sleeps, disk
 * and object store promises never settle (so no continuation of it runs, in the next incarnation
 * or anywhere), its endpoint stops sending and receiving, and its logger goes quiet — while the
 * next incarnation, on the same disk, works normally. Also proves a process crash without power
 * loss keeps unsynced writes, a graceful stop waits for `stop()`, and a throw inside a process
 * fails the simulation.
 */
import type { Environment } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/cluster.js';
import { SimulationFailure } from '../src/scheduler.js';
import { bytes } from './support/harness.js';

function captureCluster(seed = 1) {
  const cluster = new SimCluster({ seed, trace: { tailLines: 1000 } });
  const envs: Environment[] = [];
  const factory = (env: Environment) => {
    envs.push(env);
    return {};
  };
  cluster.addNode({ id: 'n1', zone: 'a', factory });
  cluster.addNode({ id: 'n2', zone: 'b', factory });
  return { cluster, envs };
}

describe('process incarnations', () => {
  it('never resumes anything of a dead incarnation', async () => {
    const { cluster, envs } = captureCluster();
    const env = envs[0]!;
    const resumed: string[] = [];
    const file = await (async () => {
      const opening = env.disk.open('/f');
      await cluster.runFor(5);
      return opening;
    })();
    void env.clock.sleep(10).then(() => resumed.push('sleep'));
    env.clock.setTimer(10, () => resumed.push('timer'));
    void file.write(0, bytes(1, 2, 3)).then(() => resumed.push('write'));
    void file.sync().then(() => resumed.push('sync'));
    void env.objectStore.put('k', bytes(9)).then(() => resumed.push('put'));
    void env.disk.exists('/f').then(() => resumed.push('exists'));
    env.network.onMessage(() => resumed.push('message'));
    cluster.crash('n1');
    envs[1]!.network.send(env.network.address, bytes(1));
    env.network.send(envs[1]!.network.address, bytes(2));
    env.log.log('info', 'from the dead');
    void env.disk.open('/g').then(() => resumed.push('open-after-crash'));
    await cluster.runFor(100);
    expect(resumed).toEqual([]);
    expect(cluster.trace.tail().some((line) => line.includes('from the dead'))).toBe(false);
    expect(cluster.network.stats.delivered).toBe(0);
  });

  it('starts the next incarnation on the same disk, with a fresh endpoint', async () => {
    const { cluster, envs } = captureCluster();
    const first = envs[0]!;
    const file = await settleIn(cluster, first.disk.open('/f'));
    await settleIn(cluster, file.write(0, bytes(7)));
    await settleIn(cluster, file.sync());
    cluster.restart('n1');
    const second = envs[2]!;
    const received: number[] = [];
    second.network.onMessage((_from, message) => received.push(message[0]!));
    envs[1]!.network.send(second.network.address, bytes(5));
    const reopened = await settleIn(cluster, second.disk.open('/f'));
    expect(Array.from(await settleIn(cluster, reopened.read(0, 10)))).toEqual([7]);
    await cluster.runFor(10);
    expect(received).toEqual([5]);
    expect(cluster.node('n1')).toMatchObject({ incarnationCount: 2, crashes: 1 });
  });

  it('keeps unsynced writes through a process crash, not necessarily through a power loss', async () => {
    const kept: boolean[] = [];
    for (let seed = 0; seed < 12; seed++) {
      const { cluster, envs } = captureCluster(seed);
      const file = await settleIn(cluster, envs[0]!.disk.open('/f'));
      await settleIn(cluster, file.sync());
      await settleIn(cluster, file.write(0, new Uint8Array(2048).fill(1)));
      cluster.crash('n1', { kind: 'process' });
      expect(cluster.node('n1').disk.contentOf('/f')!.length).toBe(2048);
      cluster.start('n1');
      cluster.crash('n1');
      kept.push(cluster.node('n1').disk.contentOf('/f')!.length === 2048);
    }
    expect(kept).toContain(false);
  });

  it('waits for stop() on a graceful stop, then ends the incarnation', async () => {
    const cluster = new SimCluster({ seed: 1 });
    const stages: string[] = [];
    cluster.addNode({
      id: 'n1',
      zone: 'a',
      factory: (env) => ({
        stop: async () => {
          stages.push('stopping');
          await env.clock.sleep(5);
          stages.push('stopped');
        },
      }),
    });
    cluster.stop('n1');
    expect(cluster.node('n1').running).toBe(true);
    await cluster.runFor(10);
    expect(stages).toEqual(['stopping', 'stopped']);
    expect(cluster.node('n1').running).toBe(false);
  });

  it('fails the simulation when a process throws', async () => {
    const cluster = new SimCluster({ seed: 1 });
    cluster.addNode({
      id: 'n1',
      zone: 'a',
      factory: (env) => {
        env.clock.setTimer(3, () => {
          throw new Error('bug in n1');
        });
        return {};
      },
    });
    await expect(cluster.runFor(10)).rejects.toBeInstanceOf(SimulationFailure);
    expect(cluster.describeFailure()).toMatch(/timer n1#1 .* bug in n1/);
  });

  it('gives each incarnation its own monotonic clock origin', () => {
    const { cluster, envs } = captureCluster();
    cluster.restart('n1');
    const origins = [envs[0]!, envs[1]!, envs[2]!].map((env) => env.clock.nowMs());
    expect(new Set(origins).size).toBe(3);
  });
});

async function settleIn<T>(cluster: SimCluster, promise: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  await cluster.runUntil(() => settled);
  return tracked;
}
