/**
 * A member behind its peers' GC, caught up from a peer's snapshot, on real processes. With no object
 * store (`objectStore: none`) a storage node has no backup to restore from, so a node that was down
 * while every peer collected its log past its SCL cannot catch up by gossip: each of its segments
 * reports `behindPeerGc` and would stay behind for good, the PG one copy short and a rolling upgrade
 * waiting for it forever. The node is back well within the grace period, so no repair replaces it:
 * the control plane hydrates each such member from a settled peer's snapshot (repair-executor.ts,
 * step 6). What it proves:
 *   1. while the node is down, its peers collect past what it holds (the condition, checked);
 *   2. once it is back, every one of its segments reaches its PG's head and none is behind any more;
 *   3. each of its segments that reported itself behind got a catch-up from a peer's snapshot
 *      (journaled). Not every segment always reports it: the writer's transport keeps what it sends a
 *      disconnected node in a per-peer queue (`sendQueueLimitBytes`, 2 frames; the oldest dropped
 *      when full) and delivers it on reconnect, so a PG that got few writes meanwhile is refilled
 *      before its first gossip pull (one or both PGs in about a third of the runs; the test prints
 *      how many were behind). The simulator's catch-up workload checks the control plane's side on
 *      every seed;
 *   4. nothing acknowledged is lost, and no repair ran.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  clusterStatus,
  newDataDir,
  northlightAsync,
  sql,
  startUp,
  state,
  statusAsync,
  until,
} from './support/cli-rig.js';

const CLUSTER = `apiVersion: northlight.dev/v1alpha1
kind: DatabaseCluster
metadata: { name: catch-up }
spec:
  storage:
    zones:
      - { name: a, nodes: 2 }
      - { name: b, nodes: 2 }
      - { name: c, nodes: 2 }
    segmentSize: 1MiB
  backup:
    objectStore: none
  controlPlane:
    repairGracePeriod: 10m
    # Paced: the victim's node takes the limit with each hydrate request and shows it (checked below).
    repairBandwidthPerNode: 4MiB/s
`;

interface SegmentStatus {
  readonly pgId: number;
  readonly segmentId: string;
  readonly scl: string;
  readonly gcThrough?: string;
  readonly behindPeerGc?: boolean;
}

async function segmentsOf(adminPort: number): Promise<SegmentStatus[]> {
  const answer = await fetch(`http://127.0.0.1:${adminPort}/v1/status`);
  return ((await answer.json()) as { segments: SegmentStatus[] }).segments;
}

describe('catch-up of a member behind its peers’ GC (real processes)', () => {
  it('hydrates it from a peer’s snapshot when there is no backup to restore from', {
    timeout: 300_000,
  }, async () => {
    const dataDir = newDataDir('northlight-catch-up-');
    const file = join(dataDir, 'cluster.yaml');
    writeFileSync(file, CLUSTER);
    const up = await startUp(dataDir, ['-f', file]);
    try {
      const ports = state(dataDir).ports;
      // Every node has the spec's limit from its first second (its flag), before any hydrate request:
      // a node's own restore from S3 is paced too.
      for (const node of Object.values(ports.storage)) {
        const status = (await (await fetch(`http://127.0.0.1:${node.adminPort}/v1/status`)).json()) as {
          hydrationLimit: { bytesPerSecond: number };
        };
        expect(status.hydrationLimit.bytesPerSecond).toBe(4 * 1024 * 1024);
      }
      expect(
        (await sql(ports.httpReadWrite, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)')).status,
      ).toBe(200);
      const acknowledged: number[] = [];
      let next = 1;
      const insert = async (rows: number, bytes: number) => {
        const keys = Array.from({ length: rows }, () => next++);
        const values = keys.map((key) => `(${key}, randomblob(${bytes}))`).join(',');
        const answer = await sql(ports.httpReadWrite, `INSERT INTO kv VALUES ${values}`);
        expect(answer.status).toBe(200);
        acknowledged.push(...keys);
      };
      for (let batch = 0; batch < 8; batch++) await insert(32, 4000);
      const victim = 'storage-a-1';
      const victimAdmin = ports.storage[victim]!.adminPort;
      const before = await segmentsOf(victimAdmin);
      expect(before.length).toBeGreaterThanOrEqual(1);
      const sclBefore = new Map(before.map((segment) => [segment.segmentId, BigInt(segment.scl)]));
      expect((await northlightAsync(['kill-node', victim, '--data-dir', dataDir])).status).toBe(0);
      // The victim holds at most each PG's head at the kill: the highest SCL of its peers then.
      const peers = Object.keys(ports.storage).filter((node) => node !== victim);
      const headAtKill = new Map<number, bigint>();
      for (const node of peers)
        for (const segment of await segmentsOf(ports.storage[node]!.adminPort))
          if (BigInt(segment.scl) > (headAtKill.get(segment.pgId) ?? 0n))
            headAtKill.set(segment.pgId, BigInt(segment.scl));

      // 1. Writes go on without it until every peer collected past what it may hold, in every PG.
      await until(
        `every peer of ${victim} collected past its SCL`,
        async () => {
          await insert(16, 2000);
          const peerSegments = (
            await Promise.all(peers.map((node) => segmentsOf(ports.storage[node]!.adminPort)))
          ).flat();
          return before.every((mine) => {
            const ofPg = peerSegments.filter((segment) => segment.pgId === mine.pgId);
            return (
              ofPg.length === 5 &&
              ofPg.every((segment) => BigInt(segment.gcThrough ?? '0') > headAtKill.get(mine.pgId)! + 100n)
            );
          })
            ? true
            : undefined;
        },
        120_000,
      );

      // 2. Back, within the grace period: every segment reaches its PG's head, none behind.
      expect((await northlightAsync(['start-node', victim, '--data-dir', dataDir])).status).toBe(0);
      // Which of its segments report themselves behind their peers' GC (sampled while it catches up).
      // Not always all: the writer's transport may deliver what it queued for the node meanwhile.
      const flagged = new Set<string>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          try {
            for (const segment of await segmentsOf(victimAdmin))
              if (segment.behindPeerGc === true) flagged.add(segment.segmentId);
          } catch {
            // not listening yet
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const caughtUp = await until(
        `${victim}'s segments caught up`,
        async () => {
          const status = await statusAsync(dataDir);
          if (!status.storage.find((node) => node.nodeId === victim)?.ready) return undefined;
          const mine = await segmentsOf(victimAdmin);
          const heads = new Map<number, bigint>();
          for (const node of peers)
            for (const segment of await segmentsOf(ports.storage[node]!.adminPort))
              heads.set(
                segment.pgId,
                BigInt(segment.scl) > (heads.get(segment.pgId) ?? 0n)
                  ? BigInt(segment.scl)
                  : heads.get(segment.pgId)!,
              );
          const done = mine.every(
            (segment) => segment.behindPeerGc !== true && BigInt(segment.scl) >= heads.get(segment.pgId)!,
          );
          return done && mine.length === before.length ? mine : undefined;
        },
        120_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\nlast output of up:\n${up.output.join('').slice(-6_000)}`);
      });
      sampling = false;
      await sampler;
      for (const segment of caughtUp)
        expect(BigInt(segment.scl), segment.segmentId).toBeGreaterThan(sclBefore.get(segment.segmentId)!);
      console.log(
        `catch-up: ${flagged.size} of ${before.length} segment(s) of ${victim} were behind their peers' GC: ${[...flagged].join(', ') || 'none'}`,
      );

      // 3. Every segment that was behind got a catch-up from a settled peer's snapshot (the events are
      //    noted by the control round that saw the hydration end: wait for it).
      const noted = (journal: string) =>
        [...flagged].every((segmentId) =>
          new RegExp(
            `catch-up: ${segmentId} on ${victim} from pg\\d+-\\S+ on storage-[a-c]-\\d: [\\d.]+ MB \\(\\d+ pages`,
          ).test(journal),
        );
      await until(
        'a catch-up of every segment that was behind in the journal',
        async () => {
          const text = (await statusAsync(dataDir)).events.map((event) => event.message).join('\n');
          return noted(text) ? true : undefined;
        },
        30_000,
      ).catch(async (error: Error) => {
        const text = (await statusAsync(dataDir)).events.map((event) => event.message).join('\n');
        throw new Error(`${error.message}\njournal:\n${text}`);
      });

      // …and `status` shows them, in its JSON and its text.
      const shown = (await statusAsync(dataDir)).repairs.catchUps ?? [];
      for (const segmentId of flagged)
        expect(
          shown.find((catchUp) => catchUp.segment === segmentId && catchUp.state === 'ok'),
          `${segmentId} in status.repairs.catchUps: ${JSON.stringify(shown)}`,
        ).toMatchObject({ node: victim, from: expect.stringMatching(/^pg\d+-storage-[a-c]-\d$/) });
      expect((await statusAsync(dataDir)).repairs.bandwidthPerNodeBytes).toBe(4 * 1024 * 1024);
      if (flagged.size > 0) {
        const text = await northlightAsync(['status', '--data-dir', dataDir]);
        expect(text.stdout).toMatch(
          new RegExp(`caught up ${[...flagged][0]} on ${victim} from pg\\d+-\\S+ \\(`),
        );
        // The spec's repairBandwidthPerNode went with the hydrate requests: the victim's node paced
        // what it took in to it, and `status` shows the limit.
        expect(text.stdout).toMatch(/REPAIRS \(\d+ in flight; bandwidth 4\.0 MiB\/s per node\)/);
        const node = (await (await fetch(`http://127.0.0.1:${victimAdmin}/v1/status`)).json()) as {
          hydrationLimit: { bytesPerSecond: number; bytes: number };
        };
        expect(node.hydrationLimit.bytesPerSecond).toBe(4 * 1024 * 1024);
        expect(node.hydrationLimit.bytes).toBeGreaterThan(0);
      }

      // 4. Nothing acknowledged is lost, and no repair ran (the node was back within the grace).
      const rows = await sql(ports.httpReadWrite, 'SELECT k FROM kv');
      const present = new Set(rows.body.results[0]!.rows.map((row) => row[0]));
      for (const key of acknowledged) expect(present.has(key), `acknowledged key ${key}`).toBe(true);
      const final = clusterStatus(dataDir);
      expect(final.repairs.recent.filter((repair) => repair.id.startsWith('repair-'))).toEqual([]);
      expect(final.pgs.every((pg) => pg.members.length === 6)).toBe(true);
    } finally {
      await northlightAsync(['down', '--data-dir', dataDir]);
      await up.exited;
    }
  });
});
