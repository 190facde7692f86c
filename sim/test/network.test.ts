/**
 * Proves the simulated network's faults happen as configured: loss and duplication at their
 * configured rates (within statistical tolerance), reordering actually reorders, partitions cut
 * both ways or one way and heal, zone outages and node isolation cut every link of their nodes,
 * and closed or unbound endpoints lose their messages. Also proves every delivery is a copy:
 * neither the sender's later writes nor another delivery's writes are visible to a receiver.
 */
import { asNodeId, asZone, type NodeId } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { SimNetwork, type SimNetworkOptions } from '../src/network.js';
import { Prng } from '../src/prng.js';
import { Scheduler } from '../src/scheduler.js';
import { Trace } from '../src/trace.js';

const a = asNodeId('a1');
const b = asNodeId('b1');
const c = asNodeId('c1');

interface Received {
  from: NodeId;
  to: NodeId;
  message: Uint8Array;
}

function setup(options: Partial<SimNetworkOptions> = {}, seed = 1) {
  const scheduler = new Scheduler({ trace: new Trace() });
  const network = new SimNetwork(scheduler, new Prng(seed), options);
  network.addNode(a, asZone('za'));
  network.addNode(b, asZone('zb'));
  network.addNode(c, asZone('zb'));
  const received: Received[] = [];
  const endpoints = new Map(
    [a, b, c].map((id) => {
      const endpoint = network.bind(id);
      endpoint.onMessage((from, message) => received.push({ from, to: id, message }));
      return [id, endpoint] as const;
    }),
  );
  const endpoint = (id: NodeId) => endpoints.get(id)!;
  return { scheduler, network, received, endpoint };
}

function sendMany(send: (index: number) => void, count: number): void {
  for (let index = 0; index < count; index++) send(index);
}

describe('SimNetwork', () => {
  it('delivers everything, later than it was sent, on a healthy network', async () => {
    const { scheduler, received, endpoint } = setup();
    sendMany(() => endpoint(a).send(b, new Uint8Array([1])), 100);
    expect(received).toHaveLength(0);
    await scheduler.runUntil(100);
    expect(received).toHaveLength(100);
  });

  it('drops and duplicates at the configured rates', async () => {
    const { scheduler, network, received, endpoint } = setup({
      dropProbability: 0.2,
      duplicateProbability: 0.1,
    });
    const count = 20_000;
    sendMany(() => endpoint(a).send(b, new Uint8Array([1])), count);
    await scheduler.runUntil(1000);
    const dropRate = network.stats.dropped / count;
    const duplicateRate = network.stats.duplicated / (count - network.stats.dropped);
    expect(Math.abs(dropRate - 0.2)).toBeLessThan(0.015);
    expect(Math.abs(duplicateRate - 0.1)).toBeLessThan(0.015);
    expect(received).toHaveLength(count - network.stats.dropped + network.stats.duplicated);
  });

  it('reorders messages, more so with the reorder knob', async () => {
    const inversions = async (options: Partial<SimNetworkOptions>): Promise<number> => {
      const { scheduler, received, endpoint } = setup(options);
      sendMany((index) => endpoint(a).send(b, new Uint8Array([index])), 200);
      await scheduler.runUntil(1000);
      let count = 0;
      for (let index = 1; index < received.length; index++) {
        if (received[index]!.message[0]! < received[index - 1]!.message[0]!) count++;
      }
      return count;
    };
    const base = await inversions({});
    const reordered = await inversions({ reorderProbability: 0.5, reorderDelayMsMax: 10 });
    expect(base).toBeGreaterThan(0);
    expect(reordered).toBeGreaterThan(base);
  });

  it('cuts partitions both ways or one way, and heals them', async () => {
    const { scheduler, network, received, endpoint } = setup();
    const both = network.partition([a], [b]);
    endpoint(a).send(b, new Uint8Array([1]));
    endpoint(b).send(a, new Uint8Array([2]));
    endpoint(a).send(c, new Uint8Array([3]));
    await scheduler.runUntil(10);
    expect(received.map((entry) => entry.message[0])).toEqual([3]);
    both.heal();
    const oneWay = network.partition([a], [b], { oneWay: true });
    endpoint(a).send(b, new Uint8Array([4]));
    endpoint(b).send(a, new Uint8Array([5]));
    await scheduler.runUntil(20);
    expect(received.map((entry) => entry.message[0])).toEqual([3, 5]);
    oneWay.heal();
    endpoint(a).send(b, new Uint8Array([6]));
    await scheduler.runUntil(30);
    expect(received.map((entry) => entry.message[0])).toEqual([3, 5, 6]);
  });

  it('keeps overlapping partitions cut until each is healed', async () => {
    const { scheduler, network, received, endpoint } = setup();
    const first = network.partition([a], [b, c]);
    const second = network.partition([a], [b]);
    first.heal();
    endpoint(a).send(b, new Uint8Array([1]));
    endpoint(a).send(c, new Uint8Array([2]));
    await scheduler.runUntil(10);
    expect(received.map((entry) => entry.message[0])).toEqual([2]);
    second.heal();
  });

  it('isolates a zone (inside it too) and a node, and restores them', async () => {
    const { scheduler, network, received, endpoint } = setup();
    network.zoneOutage(asZone('zb'));
    endpoint(a).send(b, new Uint8Array([1]));
    endpoint(b).send(c, new Uint8Array([2]));
    endpoint(c).send(a, new Uint8Array([3]));
    await scheduler.runUntil(10);
    expect(received).toHaveLength(0);
    network.restoreZone(asZone('zb'));
    network.isolateNode(c);
    endpoint(a).send(b, new Uint8Array([4]));
    endpoint(a).send(c, new Uint8Array([5]));
    await scheduler.runUntil(20);
    expect(received.map((entry) => entry.message[0])).toEqual([4]);
    network.healAll();
    endpoint(a).send(c, new Uint8Array([6]));
    await scheduler.runUntil(30);
    expect(received.map((entry) => entry.message[0])).toEqual([4, 6]);
  });

  it('drops messages in flight when their link is cut before they arrive', async () => {
    const { scheduler, network, received, endpoint } = setup();
    endpoint(a).send(b, new Uint8Array([1]));
    network.isolateNode(b);
    await scheduler.runUntil(10);
    expect(received).toHaveLength(0);
    expect(network.stats.dropped).toBe(1);
  });

  it('drops messages to closed or unbound endpoints and to endpoints without a handler', async () => {
    const { scheduler, network, received, endpoint } = setup();
    endpoint(b).close();
    endpoint(a).send(b, new Uint8Array([1]));
    endpoint(b).send(a, new Uint8Array([2]));
    const rebound = network.bind(b);
    endpoint(a).send(b, new Uint8Array([3]));
    await scheduler.runUntil(10);
    expect(received).toHaveLength(0);
    rebound.onMessage((from) => received.push({ from, to: b, message: new Uint8Array() }));
    endpoint(a).send(b, new Uint8Array([4]));
    await scheduler.runUntil(20);
    expect(received).toHaveLength(1);
    expect(network.stats.dropped).toBe(3);
  });

  it('never lets a receiver alias the sender buffer or another delivery', async () => {
    const { scheduler, received, endpoint } = setup({ duplicateProbability: 1 });
    const buffer = new Uint8Array([7, 7, 7]);
    endpoint(a).send(b, buffer);
    buffer.fill(0);
    await scheduler.runUntil(10);
    expect(received).toHaveLength(2);
    const [first, second] = received;
    expect(Array.from(first!.message)).toEqual([7, 7, 7]);
    first!.message.fill(9);
    expect(Array.from(second!.message)).toEqual([7, 7, 7]);
    expect(first!.message.buffer).not.toBe(buffer.buffer);
  });

  it('refuses to bind an address twice while the first endpoint is open', () => {
    const { network } = setup();
    expect(() => network.bind(a)).toThrow(/already bound/);
  });
});
