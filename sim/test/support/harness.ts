/** Small helpers shared by the simulator's own tests. */
import { asNodeId } from '@northlight/protocol';
import { SimDisk, type SimDiskOptions } from '../../src/disk.js';
import { Prng } from '../../src/prng.js';
import { Incarnation } from '../../src/process.js';
import { Scheduler } from '../../src/scheduler.js';
import { Trace } from '../../src/trace.js';

/** Runs the scheduler until `promise` settles (or nothing is left to run), then returns its outcome. */
export async function settle<T>(scheduler: Scheduler, promise: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  await scheduler.runUntil(() => settled);
  if (!settled) throw new Error('the promise never settled (queue ran dry)');
  return tracked;
}

/** A disk on its own scheduler, with one live incarnation using it. */
export function diskRig(seed = 1, options: Partial<SimDiskOptions> = {}) {
  const scheduler = new Scheduler({ trace: new Trace() });
  const nodeId = asNodeId('n1');
  const disk = new SimDisk(nodeId, scheduler, new Prng(seed), options);
  let incarnation = new Incarnation(nodeId, 1, scheduler);
  return {
    scheduler,
    disk,
    view: () => disk.view(incarnation),
    /** Kills the incarnation, applies power loss, starts the next incarnation. */
    powerLoss: () => {
      incarnation.kill();
      disk.powerLoss();
      incarnation = new Incarnation(nodeId, incarnation.number + 1, scheduler);
    },
    run: <T>(promise: Promise<T>) => settle(scheduler, promise),
  };
}

export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

export function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}
