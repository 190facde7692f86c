/** The local platform's layout (src/core/topology.ts): names, the initial writer, ports that never collide. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixedPorts, PORT_SPAN, planTopology, portsFromList, portsNeeded } from '../src/core/topology.js';

const defaultInput = {
  zones: [
    { name: 'a', nodes: 2 },
    { name: 'b', nodes: 2 },
    { name: 'c', nodes: 2 },
  ],
  engines: [
    { name: 'engine-1', promotionTier: 0 },
    { name: 'engine-2', promotionTier: 1 },
  ],
};

describe('planTopology', () => {
  it('names storage nodes by zone and picks the lowest tier as the first writer', () => {
    const topology = planTopology(defaultInput);
    expect(topology.storage.map((node) => node.nodeId)).toEqual([
      'storage-a-1',
      'storage-a-2',
      'storage-b-1',
      'storage-b-2',
      'storage-c-1',
      'storage-c-2',
    ]);
    expect(topology.initialWriter).toBe('engine-1');
    const reversed = planTopology({
      ...defaultInput,
      engines: [
        { name: 'x', promotionTier: 3 },
        { name: 'y', promotionTier: 1 },
        { name: 'z', promotionTier: 1 },
      ],
    });
    expect(reversed.initialWriter).toBe('y');
  });

  it('lays out the default ports users type: 7432 read-write, 7433 read-only', () => {
    const ports = fixedPorts(planTopology(defaultInput), 7400);
    expect(ports.readWrite).toBe(7432);
    expect(ports.readOnly).toBe(7433);
    expect(ports.httpReadWrite).toBe(7434);
    expect(ports.httpReadOnly).toBe(7435);
    expect(ports.control).toBe(7400);
    expect(ports.engines['engine-1']).toBe(7440);
    expect(ports.enginesPg['engine-1']).toBe(7456);
    expect(ports.storage['storage-a-1']).toEqual({ port: 7500, adminPort: 7501 });
  });

  it('never gives two members the same port, fixed or from a free list', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 2, max: 64 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1024, max: 65_535 - PORT_SPAN - 1 }),
        (nodes, engineCount, base) => {
          const topology = planTopology({
            zones: nodes.map((count, index) => ({ name: `z${index}`, nodes: count })),
            engines: Array.from({ length: engineCount }, (_, index) => ({
              name: `e${index}`,
              promotionTier: index,
            })),
          });
          for (const ports of [
            fixedPorts(topology, base),
            portsFromList(
              topology,
              Array.from({ length: portsNeeded(topology) }, (_, index) => 20_000 + index),
            ),
          ]) {
            const all = [
              ports.control,
              ports.objectStore,
              ports.readWrite,
              ports.readOnly,
              ports.httpReadWrite,
              ports.httpReadOnly,
              ...Object.values(ports.engines),
              ...Object.values(ports.enginesPg),
              ...Object.values(ports.storage).flatMap((node) => [node.port, node.adminPort]),
            ];
            expect(new Set(all).size).toBe(all.length);
            expect(all.length).toBe(portsNeeded(topology));
          }
        },
      ),
    );
  });
});
