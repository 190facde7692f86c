/**
 * Heat-driven migration on real processes. A cluster of 3 zones × 4 storage nodes with 1 MiB PGs (the
 * control plane places them). Four tables of about one PG each are loaded (table i lies in PG i);
 * then a skewed workload updates only the tables of two PGs that share a node in zone a, so that
 * node carries twice the heat of any other and at least one node of the zone carries none. What it
 * proves:
 *   1. within a bounded time a hot node gives one of its hot segments (a segment of one of the two
 *      PGs, not a cold one) to a cold node of its zone;
 *   2. once the zone has settled and the rate windows have forgotten the time before the moves, the
 *      hot node carries a smaller share of the zone's heat and the zone's heat spread has shrunk;
 *   3. no segment moves twice within the cooldown window;
 *   4. no write fails, and every PG still has two members per zone on distinct nodes.
 *
 * How. The load is as skewed as the workload (one table after the other), so the tables are loaded
 * with migration off (`heatFactor: 100`), and the cluster is restarted with factor 1.5 for the skew:
 * a migration during the load would spend the 10 min cooldown of the nodes the skew then needs, and
 * would itself count as "the first migration". Heat is throughput × layout, and throughput changes
 * with the migrations' own work, so the zone's heat is compared as shares and as spread over mean,
 * not as ops/s. "After" waits until no membership change is in flight and zone a's last move is one
 * rate window (10 s) and a round old, so that the joiners' windows are full. On a failure it prints
 * the zone's heat as it saw it and the output of `up`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFailed } from 'vitest';
import type { ClusterStatus } from '../src/core/cluster-status.js';
import { newDataDir, northlightAsync, sql, startUp, state, statusAsync, until } from './support/cli-rig.js';

function cluster(heatFactor: number): string {
  return `apiVersion: northlight.dev/v1alpha1
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
    heatFactor: ${heatFactor}
    heatCooldown: 10m
`;
}
const ROWS_PER_TABLE = 256;
/** The storage nodes' rate window (10 s) and a control round, with a margin. */
const SETTLE_MS = 12_000;
/** Ops/s a node may show with no load of its own (catalog reads, page reads of other PGs). */
const HEAT_NOISE_MAX = 3;

const BEGUN = /^migration: (storage-\S+) runs at .* moving (\S+) \(.* to (\S+) \(/;
const HYDRATED = /^migration: (\S+) on (\S+) is hydrated .*: PG (\d+) drops (\S+)$/;

function zoneHeat(status: ClusterStatus, zone: string): Map<string, number> {
  return new Map(status.storage.filter((node) => node.zone === zone).map((node) => [node.nodeId, node.heat]));
}

/** Max − min over the mean: 2 for "two nodes carry everything, two nothing", 0 for an even zone. */
function relativeSpread(heat: ReadonlyMap<string, number>): number {
  const values = [...heat.values()];
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return mean === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / mean;
}

function share(heat: ReadonlyMap<string, number>, nodeId: string): number {
  const total = [...heat.values()].reduce((sum, value) => sum + value, 0);
  return total === 0 ? 0 : heat.get(nodeId)! / total;
}

function describeHeat(heat: ReadonlyMap<string, number>): string {
  return [...heat].map(([nodeId, value]) => `${nodeId}=${value.toFixed(0)}`).join(' ');
}

/**
 * The migrations begun (one note per attempt: a begin the writer refused is planned again) and
 * those done (the membership change completed), in order.
 */
function migrationsOf(status: ClusterStatus) {
  const begun = status.events.flatMap((event) => {
    const match = BEGUN.exec(event.message);
    return match === null
      ? []
      : [{ from: match[1]!, segment: match[2]!, to: match[3]!, message: event.message }];
  });
  const done = status.events.flatMap((event) => {
    const match = HYDRATED.exec(event.message);
    return match === null
      ? []
      : [
          {
            joiner: match[1]!,
            to: match[2]!,
            pgId: Number(match[3]),
            leaving: match[4]!,
            atMs: Date.parse(event.at),
          },
        ];
  });
  return { begun, done };
}

describe('heat-driven migration (real processes)', () => {
  it('moves a hot node’s hot segment to a cold node of its zone, once', {
    timeout: 400_000,
  }, async () => {
    const dataDir = newDataDir('northlight-heat-');
    const file = join(dataDir, 'cluster.yaml');
    const samples: string[] = [];
    let up = await startUp(dataDir, ['-f', writeSpec(file, 100)]);
    onTestFailed(() => {
      console.log(
        `zone a heat as the test saw it:\n${samples.join('\n')}\nlast output of up:\n${up.output.join('').slice(-8_000)}`,
      );
    });
    let ports = state(dataDir).ports;
    for (let table = 0; table < 4; table++) {
      expect(
        (
          await sql(
            dataDir,
            ports.httpReadWrite,
            `CREATE TABLE t${table} (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`,
          )
        ).status,
      ).toBe(200);
      for (let batch = 0; batch < ROWS_PER_TABLE / 32; batch++) {
        const values = Array.from({ length: 32 }, (_, index) => `(${batch * 32 + index}, randomblob(3900))`);
        expect(
          (await sql(dataDir, ports.httpReadWrite, `INSERT INTO t${table} VALUES ${values.join(',')}`))
            .status,
        ).toBe(200);
      }
    }
    const afterLoad = await statusAsync(dataDir);
    expect(
      afterLoad.events
        .filter((event) => event.message.startsWith('migration:'))
        .map((event) => event.message),
      'migration is off during the load',
    ).toEqual([]);
    expect((await northlightAsync(['down', '--data-dir', dataDir])).status).toBe(0);
    expect(await up.exited).toBe(0);

    // The same data, migration on; the control plane and the rate windows start from nothing.
    up = await startUp(dataDir, ['-f', writeSpec(file, 1.5)]);
    ports = state(dataDir).ports;

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
          dataDir,
          ports.httpReadWrite,
          `UPDATE t${table} SET v = randomblob(3900) WHERE k = ${key}`,
        ).catch(() => undefined);
        if (answer?.status === 200) acknowledged++;
        else failures++;
      }
    };
    const load = Promise.all([client(hotA), client(hotB), client(hotA), client(hotB)]);
    const startedMs = Date.now();
    const observe = async () => {
      const status = await statusAsync(dataDir);
      samples.push(
        `${((Date.now() - startedMs) / 1000).toFixed(1)} s: ${describeHeat(zoneHeat(status, 'a'))}`,
      );
      return status;
    };

    // The skew shows as soon as the storage nodes' rate windows start to fill: every segment's window
    // starts with the restart, so shares are comparable from the first samples on. Throughput varies
    // with the machine (a few ops/s to 60 per node), hence a relative threshold, above noise.
    const hot = await until(
      'a zone with hot and cold nodes',
      async () => {
        const status = await observe();
        const heat = zoneHeat(status, 'a');
        return relativeSpread(heat) >= 1 && Math.max(...heat.values()) >= HEAT_NOISE_MAX ? status : undefined;
      },
      60_000,
    );
    const heatBefore = zoneHeat(hot, 'a');
    const skewShowedMs = Date.now();

    // 1. A migration in zone a completes: from one of its two hottest nodes to one of its two coldest,
    //    and what it moved is a segment of a hot PG.
    const inZoneA = (status: ClusterStatus) =>
      migrationsOf(status).done.filter((migration) => migration.to.startsWith('storage-a-'));
    const moved = await until(
      'a finished migration in zone a',
      async () => {
        const status = await observe();
        return inZoneA(status).length > 0 ? status : undefined;
      },
      120_000,
    );
    const movedMs = Date.now() - skewShowedMs;
    const first = inZoneA(moved)[0]!;
    const firstBegun = migrationsOf(moved).begun.find((migration) => migration.segment === first.leaving)!;
    const ranked = [...heatBefore].sort((x, y) => y[1] - x[1]).map(([nodeId]) => nodeId);
    expect(ranked.slice(0, 2), firstBegun.message).toContain(firstBegun.from);
    expect(ranked.slice(2), firstBegun.message).toContain(first.to);
    expect([hotA, hotB], `${firstBegun.message}: a hot PG's segment`).toContain(first.pgId);

    // 2. The fleet settles: no membership change in flight, zone a's last move a rate window ago.
    const after = await until(
      'zone a settled',
      async () => {
        const status = await observe();
        const lastMs = Math.max(...inZoneA(status).map((migration) => migration.atMs));
        const changing = status.pgs.some((pg) => pg.members.length !== 6);
        return !changing && Date.now() - lastMs >= SETTLE_MS ? status : undefined;
      },
      180_000,
    );
    running = false;
    await load;
    const heatAfter = zoneHeat(after, 'a');
    const { begun, done } = migrationsOf(after);
    console.log(
      `heat: tables of PGs ${hotA} and ${hotB} hot, sharing ${hotNode}; zone a before ${describeHeat(heatBefore)} ` +
        `(share of ${hotNode} ${share(heatBefore, hotNode).toFixed(2)}, spread/mean ${relativeSpread(heatBefore).toFixed(2)}), ` +
        `after ${describeHeat(heatAfter)} (share ${share(heatAfter, hotNode).toFixed(2)}, spread/mean ${relativeSpread(heatAfter).toFixed(2)}); ` +
        `first migration done ${(movedMs / 1000).toFixed(1)} s after the skew showed; ${done.length} migrations done ` +
        `(${inZoneA(after).length} in zone a), ${begun.length} begun; ${acknowledged} updates acknowledged, ${failures} failed`,
    );
    const events = `events:\n${after.events.map((event) => `${event.at} ${event.message}`).join('\n')}`;
    // Ideally the share halves (1/2 → 1/4) and the spread goes to 0; a migration undone, or one that
    // moved a cold segment, leaves both where they were.
    expect(share(heatAfter, hotNode), events).toBeLessThan(0.75 * share(heatBefore, hotNode));
    expect(relativeSpread(heatAfter), events).toBeLessThan(0.75 * relativeSpread(heatBefore));

    // 3. No segment moved twice: none that arrived by a migration (a joiner) left by one.
    const joiners = new Set(done.map((migration) => migration.joiner));
    for (const migration of done)
      expect(joiners.has(migration.leaving), `${migration.leaving} moved twice; ${events}`).toBe(false);

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

/** Writes the cluster spec with `heatFactor` and returns its path. */
function writeSpec(file: string, heatFactor: number): string {
  writeFileSync(file, cluster(heatFactor));
  return file;
}
