/**
 * Heat-driven migration on real processes. A cluster of 3 zones × 4 storage nodes with 1 MiB PGs (the
 * control plane places them). Four tables of about one PG each are loaded (table i lies in PG i);
 * then a skewed workload updates only the tables of two PGs that share a node in zone a, so that
 * node carries twice the heat of any other and two nodes of the zone carry none. What it proves:
 *   1. within a bounded time a hot node's hottest segment moves to a cold node of the same zone;
 *   2. the heat spread across that zone's nodes shrinks;
 *   3. no segment moves twice within the cooldown window;
 *   4. nothing acknowledged is lost, and every PG still has two members per zone on distinct nodes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../src/core/cluster-status.js';
import { newDataDir, northlightAsync, sql, startUp, state, statusAsync, until } from './support/cli-rig.js';

const CLUSTER = `apiVersion: northlight.dev/v1alpha1
kind: DatabaseCluster
metadata: { name: heat }
spec:
  storage:
    zones:
      - { name: a, nodes: 4 }
      - { name: b, nodes: 4 }
      - { name: c, nodes: 4 }
    segmentSize: 1MiB
  controlPlane:
    heatFactor: 1.5
    heatCooldown: 10m
`;
const ROWS_PER_TABLE = 256;

function zoneSpread(status: ClusterStatus, zone: string): number {
  const heats = status.storage.filter((node) => node.zone === zone).map((node) => node.heat);
  return Math.max(...heats) - Math.min(...heats);
}

describe('heat-driven migration (real processes)', () => {
  it('moves a hot node’s hottest segment to a cold node of its zone, once', {
    timeout: 400_000,
  }, async () => {
    const dataDir = newDataDir('northlight-heat-');
    const file = join(dataDir, 'cluster.yaml');
    writeFileSync(file, CLUSTER);
    const up = await startUp(dataDir, ['-f', file]);
    const ports = state(dataDir).ports;
    for (let table = 0; table < 4; table++) {
      expect(
        (await sql(ports.readWrite, `CREATE TABLE t${table} (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`))
          .status,
      ).toBe(200);
      for (let batch = 0; batch < ROWS_PER_TABLE / 32; batch++) {
        const values = Array.from({ length: 32 }, (_, index) => `(${batch * 32 + index}, randomblob(3900))`);
        expect((await sql(ports.readWrite, `INSERT INTO t${table} VALUES ${values.join(',')}`)).status).toBe(
          200,
        );
      }
    }

    // Two of the tables' PGs that share a node in zone a: that node will be the hot one.
    const loaded = await statusAsync(dataDir);
    const zoneA = (pgId: number) => loaded.pgs.find((pg) => pg.pgId === pgId)?.membersByZone.a ?? [];
    let pair: [number, number, string] | undefined;
    for (let first = 0; first < 4 && pair === undefined; first++)
      for (let second = first + 1; second < 4 && pair === undefined; second++) {
        const shared = zoneA(first).find((node) => zoneA(second).includes(node));
        if (shared !== undefined) pair = [first, second, shared];
      }
    expect(pair, 'four PGs on four nodes per zone: two share a node').toBeDefined();
    const [hotA, hotB, hotNode] = pair!;
    expect(hotNode).toMatch(/^storage-a-/);

    let running = true;
    let acknowledged = 0;
    let failures = 0;
    const client = async (table: number) => {
      while (running) {
        const key = Math.floor(Math.random() * ROWS_PER_TABLE);
        const answer = await sql(
          ports.readWrite,
          `UPDATE t${table} SET v = randomblob(3900) WHERE k = ${key}`,
        ).catch(() => undefined);
        if (answer?.status === 200) acknowledged++;
        else failures++;
      }
    };
    const load = Promise.all([client(hotA), client(hotB), client(hotA), client(hotB)]);

    // The skew shows once the storage nodes' 10 s rate windows fill.
    const hot = await until(
      'a zone with hot and cold nodes',
      async () => {
        const status = await statusAsync(dataDir);
        return zoneSpread(status, 'a') > 10 ? status : undefined;
      },
      60_000,
    );
    const spreadBefore = zoneSpread(hot, 'a');
    const heatBefore = hot.storage
      .filter((node) => node.zone === 'a')
      .map((node) => `${node.nodeId}=${node.heat.toFixed(0)}`);
    const startedMs = Date.now();

    // 1. A migration in zone a completes.
    const moved = await until(
      'a finished migration in zone a',
      async () => {
        const status = await statusAsync(dataDir);
        return status.events.some(
          (event) => /^migration: .* is hydrated/.test(event.message) && /storage-a-/.test(event.message),
        )
          ? status
          : undefined;
      },
      120_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nlast output of up:\n${up.output.join('').slice(-6_000)}`);
    });
    const movedMs = Date.now() - startedMs;
    // 2. Once the rate windows have forgotten the time before the move, the zone is more even.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const after = await statusAsync(dataDir);
    const spreadAfter = zoneSpread(after, 'a');
    running = false;
    await load;
    const heatAfter = after.storage
      .filter((node) => node.zone === 'a')
      .map((node) => `${node.nodeId}=${node.heat.toFixed(0)}`);
    const migrations = after.events.filter((event) => event.message.startsWith('migration: storage-'));
    console.log(
      `heat: tables of PGs ${hotA} and ${hotB} hot, sharing ${hotNode}; zone a before ${heatBefore.join(' ')} (spread ${spreadBefore.toFixed(0)}), after ${heatAfter.join(' ')} ` +
        `(spread ${spreadAfter.toFixed(0)}); first migration done ${(movedMs / 1000).toFixed(1)} s after the skew showed; ` +
        `${migrations.length} migrations begun; ${acknowledged} updates acknowledged, ${failures} failed`,
    );
    // The first migration in zone a went from one of its two hottest nodes to one of its two coldest.
    const ranked = hot.storage
      .filter((node) => node.zone === 'a')
      .sort((x, y) => y.heat - x.heat)
      .map((node) => node.nodeId);
    const first = moved.events.find((event) => /^migration: storage-a-\d+ runs at/.test(event.message))!;
    const [, from, to] = /^migration: (\S+) runs at .* to (\S+) \(/.exec(first.message)!;
    expect(ranked.slice(0, 2), first.message).toContain(from);
    expect(ranked.slice(2), first.message).toContain(to);
    expect(spreadAfter, `events:\n${after.events.map((event) => event.message).join('\n')}`).toBeLessThan(
      spreadBefore,
    );

    // 3. No segment moved twice: none that arrived by a migration (a joiner) left by one.
    const joiners = new Set(
      after.events.flatMap((event) => /^migration: (\S+) on \S+ is hydrated/.exec(event.message)?.[1] ?? []),
    );
    const leavers = migrations.flatMap((event) => /moving (\S+) \(/.exec(event.message)?.[1] ?? []);
    expect(leavers.length).toBe(migrations.length);
    expect(new Set(leavers).size).toBe(leavers.length);
    for (const leaving of leavers) expect(joiners.has(leaving), `${leaving} moved twice`).toBe(false);

    // 4. Layout still valid, no failed writes.
    for (const pg of after.pgs) {
      for (const zone of ['a', 'b', 'c'])
        expect(pg.membersByZone[zone]?.length, `PG ${pg.pgId} zone ${zone}`).toBe(2);
      expect(new Set(pg.members.map((member) => member.nodeId)).size).toBe(pg.members.length);
    }
    expect(failures).toBe(0);
    expect((await northlightAsync(['down', '--data-dir', dataDir])).status).toBe(0);
    expect(await up.exited).toBe(0);
  });
});
