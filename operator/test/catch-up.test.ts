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
 *   3. at least one of its segments reported itself behind, and each that did got a catch-up from a
 *      peer's snapshot (journaled). The writer's transport keeps what it sends a disconnected node in
 *      a per-peer queue (`sendQueueLimitBytes`, two 16 MiB frames; the oldest dropped when full) and
 *      delivers it on reconnect, so a node down for a few small writes may miss nothing but what the
 *      kill cut off (in 3 of 7 runs on 2026-11-28, none of its segments was behind). So while it is
 *      down the test also rewrites rows already there until more than the queue holds has been
 *      written (step 1b): what the node missed first is then gone from the queue and, collected by
 *      its peers, from their logs too;
 *   4. nothing acknowledged is lost, and no repair ran.
 *
 * Then, in process, the executor's side against a stand-in storage node (an HTTP server that answers
 * the hydrate requests as the test scripts them) on a clock the test moves, and `status` built from
 * its view (the catch-up that `kill-node` then `start-node` showed as failed for good, although the
 * segment had caught up from its backup):
 *   5. a node that answers 409 NL_SEGMENT_BUSY (already filling the segment) is no failure: the
 *      catch-up shows as waiting, is noted once, is looked at again every 2 s while the segment is
 *      behind, and ends without a failure when the node has filled it;
 *   6. a failed catch-up is a current failure while its segment is behind, and is resolved (history,
 *      never "catch-up failed") once the segment is no longer behind, with no retry said or made;
 *   7. "retrying" is noted only when a retry is sent, from another member;
 *   8. status's text never lets older lines push a current failure out.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_SEND_QUEUE_LIMIT_BYTES } from '@northlight/protocol/io';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildClusterStatus,
  type CatchUpRecord,
  formatClusterStatus,
  type RepairsView,
  settleCatchUps,
  splitCatchUps,
} from '../src/core/cluster-status.js';
import { internalTokenOf } from '../src/io/local-cluster.js';
import {
  catchUpStanding,
  hydrationOutcome,
  RepairExecutor,
  type RepairWorld,
  type StorageSegmentView,
  type VolumeJsonPg,
} from '../src/io/repair-executor.js';
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
  # As in an upgrade from a build without transport authentication: every member here proves the token
  # anyway (checked below by the catch-up itself, which needs the transport among them).
  security:
    transportAuthentication: transition
`;

interface SegmentStatus {
  readonly pgId: number;
  readonly segmentId: string;
  readonly scl: string;
  readonly gcThrough?: string;
  readonly behindPeerGc?: boolean;
}

/** The storage admin API takes the cluster's internal token (`up` keeps it in the data directory). */
let storageHeaders: Record<string, string> = {};

async function segmentsOf(adminPort: number): Promise<SegmentStatus[]> {
  const answer = await fetch(`http://127.0.0.1:${adminPort}/v1/status`, { headers: storageHeaders });
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
      storageHeaders = { authorization: `Bearer ${internalTokenOf(dataDir)}` };
      const ports = state(dataDir).ports;
      // Every node has the spec's limit from its first second (its flag), before any hydrate request:
      // a node's own restore from S3 is paced too.
      for (const node of Object.values(ports.storage)) {
        const status = (await (
          await fetch(`http://127.0.0.1:${node.adminPort}/v1/status`, { headers: storageHeaders })
        ).json()) as {
          hydrationLimit: { bytesPerSecond: number };
        };
        expect(status.hydrationLimit.bytesPerSecond).toBe(4 * 1024 * 1024);
      }
      expect(
        (await sql(dataDir, ports.httpReadWrite, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)'))
          .status,
      ).toBe(200);
      const acknowledged: number[] = [];
      let next = 1;
      const insert = async (rows: number, bytes: number) => {
        const keys = Array.from({ length: rows }, () => next++);
        const values = keys.map((key) => `(${key}, randomblob(${bytes}))`).join(',');
        const answer = await sql(dataDir, ports.httpReadWrite, `INSERT INTO kv VALUES ${values}`);
        expect(answer.status).toBe(200);
        acknowledged.push(...keys);
      };
      // The mode reached every member, and `up` says the transition is meant to end.
      expect(up.output.join('')).toContain('warning: security.transportAuthentication is transition');
      for (const member of [...Object.keys(ports.storage), 'engine-1', 'engine-2'])
        expect(readFileSync(join(dataDir, 'logs', `${member}.log`), 'utf8'), member).toContain(
          'transport authentication in transition',
        );
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

      // 1b. More redo for the victim than the writer's transport keeps for a disconnected node (its
      //     per-peer queue, DEFAULT_SEND_QUEUE_LIMIT_BYTES, drops the oldest when full): rewriting the
      //     rows already there, so the volume does not grow. What the victim missed first is then
      //     gone from the queue and, collected by its peers, from their logs too: it will be behind.
      const rewriteBytes = DEFAULT_SEND_QUEUE_LIMIT_BYTES + 8 * 1024 * 1024;
      const rowsRewritten = 8 * 32;
      for (let written = 0; written < rewriteBytes; written += rowsRewritten * 4000) {
        const answer = await sql(
          dataDir,
          ports.httpReadWrite,
          `UPDATE kv SET v = randomblob(4000) WHERE k <= ${rowsRewritten}`,
        );
        expect(answer.status).toBe(200);
      }

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
      // The rewrite (1b) left the victim a gap its peers had collected: at least one segment was behind.
      expect(flagged.size, 'no segment of the victim was behind its peers’ GC').toBeGreaterThanOrEqual(1);

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
        const node = (await (
          await fetch(`http://127.0.0.1:${victimAdmin}/v1/status`, { headers: storageHeaders })
        ).json()) as {
          hydrationLimit: { bytesPerSecond: number; bytes: number };
        };
        expect(node.hydrationLimit.bytesPerSecond).toBe(4 * 1024 * 1024);
        expect(node.hydrationLimit.bytes).toBeGreaterThan(0);
      }

      // 4. Nothing acknowledged is lost, and no repair ran (the node was back within the grace).
      const rows = await sql(dataDir, ports.httpReadWrite, 'SELECT k FROM kv');
      const present = new Set(rows.body.results[0]!.rows.map((row) => row[0]));
      for (const key of acknowledged) expect(present.has(key), `acknowledged key ${key}`).toBe(true);
      const final = clusterStatus(dataDir);
      expect(final.repairs.recent.filter((repair) => repair.id.startsWith('repair-'))).toEqual([]);
      expect(final.pgs.every((pg) => pg.members.length === 6)).toBe(true);
      // Every member in transition, and nobody came in without the token: they all hold it.
      expect(final.transport.byMode.transition?.length).toBe(8);
      expect(final.transport.unauthenticatedConnections).toBe(0);
    } finally {
      await northlightAsync(['down', '--data-dir', dataDir]);
      await up.exited;
    }
  });
});

/** A scripted answer of the stand-in storage node to one hydrate request. */
interface ScriptedAnswer {
  readonly status: number;
  readonly body: unknown;
}

const NODES = ['storage-a-1', 'storage-a-2', 'storage-b-1', 'storage-b-2', 'storage-c-1', 'storage-c-2'];
const VICTIM = 'storage-a-1';
const VICTIM_SEGMENT = `pg0-${VICTIM}`;
const BUSY: ScriptedAnswer = {
  status: 409,
  body: {
    code: 'NL_SEGMENT_BUSY',
    message: `segment ${VICTIM_SEGMENT} of PG 0 is already hydrating (backup); check it again when that is done`,
    action: 'Wait for it to finish, then check the segment again.',
  },
};
const TIMEOUT: ScriptedAnswer = {
  status: 504,
  body: {
    code: 'NL_TIMEOUT',
    message: `segment ${VICTIM_SEGMENT} of PG 0 is already hydrating (backup); retry when it is done`,
    action: 'Usually transient; it is retried.',
  },
};
const OK: ScriptedAnswer = {
  status: 200,
  body: { baseLsn: '900', pages: 12, chunks: 1, records: 30, scl: '1000', bytes: 120_000, ms: 40 },
};

/**
 * One PG of six members, one per node; the victim's node reports it behind its peers' GC until
 * `caughtUp()`. Every node's admin URL is the stand-in server; it answers the hydrate requests in order
 * from `answers` and anything else with 500 (recorded in `unexpected`).
 */
class ExecutorRig {
  readonly notes: string[] = [];
  readonly requests: { readonly url: string; readonly body: { sourceSegmentId?: string } }[] = [];
  readonly unexpected: string[] = [];
  readonly answers: ScriptedAnswer[] = [];
  nowMs = 0;
  behind = true;
  readonly executor = new RepairExecutor({
    note: (message) => this.notes.push(message),
    journal: async () => {},
    nowMs: () => this.nowMs,
    openWorkflows: async () => [],
  });
  #server: Server | undefined;
  #url = '';

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      request.on('end', () => {
        const url = request.url ?? '';
        const answer =
          request.method === 'POST' && url === `/v1/segments/0/${VICTIM_SEGMENT}/hydrate`
            ? this.answers.shift()
            : undefined;
        if (answer === undefined) {
          this.unexpected.push(`${request.method} ${url}`);
          response.writeHead(500, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        this.requests.push({ url, body: JSON.parse(text) as { sourceSegmentId?: string } });
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server === undefined ? resolve() : this.#server.close(() => resolve()),
    );
  }

  #segmentOf(node: string): StorageSegmentView {
    const mine = node === VICTIM;
    return {
      pgId: 0,
      segmentId: `pg0-${node}`,
      scl: mine && this.behind ? '400' : '1000',
      membershipEpoch: '1',
      volumeEpoch: '1',
      diskBytes: 1000,
      ...(mine && this.behind ? { behindPeerGc: true } : {}),
    };
  }

  world(): RepairWorld {
    return {
      writerUrl: this.#url,
      internalHeaders: {},
      nodes: NODES.map((nodeId) => ({
        nodeId,
        zone: nodeId.split('-')[1]!,
        reachable: true,
        unreachableForMs: 0,
        schedulable: true,
      })),
      adminUrlOf: () => this.#url,
      segmentsOf: new Map(NODES.map((node) => [node, [this.#segmentOf(node)]])),
      limits: { gracePeriodMs: 600_000, maxPerNode: 1, maxTotal: 1 },
      heat: { factor: 2, cooldownMs: 600_000, minimumHeat: 1e9 },
    };
  }

  volume(): { pgs: VolumeJsonPg[] } {
    return {
      pgs: [
        {
          pgId: 0,
          membershipEpoch: '1',
          members: NODES.map((node) => `pg0-${node}`),
          nodeOf: Object.fromEntries(NODES.map((node) => [`pg0-${node}`, node])),
        },
      ],
    };
  }

  /** One control round at `atMs`; waits until the hydrate request it sent (if any) is answered and handled. */
  async round(atMs: number): Promise<void> {
    this.nowMs = atMs;
    await this.executor.step(this.world(), this.volume());
    // A request is marked running before `step` returns, and until its answer has been handled.
    await until(
      'the hydrate answer handled',
      () => !this.catchUps().some((one) => one.state === 'running') || undefined,
      5_000,
    );
  }

  catchUps(): readonly CatchUpRecord[] {
    return this.executor.view(this.nowMs).catchUps ?? [];
  }

  statusText(): string {
    return formatClusterStatus(
      buildClusterStatus(
        {
          cluster: 'catch-up',
          dataDir: '/tmp/catch-up',
          endpoints: { readWrite: 'pg://w', readOnly: 'pg://r', control: 'http://c' },
          writer: 'engine-1',
          promoting: undefined,
          storage: [],
          engines: [],
          volume: undefined,
          repairs: this.executor.view(this.nowMs),
          upgrade: undefined,
          events: [],
        },
        (atMs) => String(atMs),
      ),
    );
  }
}

describe('catch-up in the executor, against a stand-in storage node', () => {
  let rig: ExecutorRig;
  afterEach(async () => {
    expect(rig.unexpected).toEqual([]);
    await rig.stop();
  });

  it('5. waits out a node that is already filling the segment (409 NL_SEGMENT_BUSY), failing nothing', async () => {
    rig = new ExecutorRig();
    await rig.start();
    rig.answers.push(BUSY, BUSY);
    await rig.round(0);
    expect(rig.requests).toHaveLength(1);
    expect(rig.notes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^catch-up: ${VICTIM_SEGMENT} on ${VICTIM} is behind its peers' GC .*hydrating it from pg0-`,
        ),
      ),
      `catch-up: ${VICTIM_SEGMENT} on ${VICTIM} is already being filled by its node (${(BUSY.body as { message: string }).message}); waiting, and checking it again in 2 s`,
    ]);
    expect(rig.catchUps()).toEqual([
      expect.objectContaining({ segment: VICTIM_SEGMENT, state: 'waiting', attempt: 0 }),
    ]);
    expect(rig.statusText()).toContain(
      `catch-up of ${VICTIM_SEGMENT} on ${VICTIM} waits: its node is already filling it`,
    );
    expect(rig.statusText()).not.toContain('catch-up failed');

    await rig.round(1_000); // within the 2 s: no request
    expect(rig.requests).toHaveLength(1);
    await rig.round(3_000); // still behind: looked at again, still busy, said once only
    expect(rig.requests).toHaveLength(2);
    expect(rig.notes).toHaveLength(2);

    rig.behind = false; // its own restore from the backup caught it up
    await rig.round(6_000);
    expect(rig.requests).toHaveLength(2);
    expect(rig.notes.at(-1)).toBe(
      `catch-up: ${VICTIM_SEGMENT} on ${VICTIM} is no longer behind its peers' GC: its node filled it (${(BUSY.body as { message: string }).message})`,
    );
    expect(rig.catchUps()).toEqual([]);
    expect(rig.notes.join('\n')).not.toMatch(/failed|retrying/);
    expect(rig.statusText()).not.toContain('REPAIRS');
  });

  it('6. settles a failed catch-up as resolved once the segment is no longer behind, and promises no retry', async () => {
    rig = new ExecutorRig();
    await rig.start();
    // What a storage node of the previous build answers: a failure, as far as the executor can tell.
    rig.answers.push(TIMEOUT);
    await rig.round(0);
    const failed = rig.notes.at(-1)!;
    expect(failed).toMatch(
      new RegExp(
        `^catch-up: ${VICTIM_SEGMENT} on ${VICTIM} from pg0-storage-\\S+ on storage-\\S+ failed: HTTP 504 `,
      ),
    );
    expect(failed).not.toContain('retrying');
    expect(rig.catchUps()).toEqual([
      expect.objectContaining({ state: 'failed', attempt: 1, reason: expect.stringContaining('HTTP 504') }),
    ]);
    // While it is behind, the failure is current.
    expect(rig.statusText()).toMatch(new RegExp(`catch-up failed: ${VICTIM_SEGMENT} on ${VICTIM} from pg0-`));

    // It caught up by itself (its restore from the backup): no retry, and the failure is history.
    rig.behind = false;
    await rig.round(3_000);
    await rig.round(10_000);
    expect(rig.requests).toHaveLength(1);
    expect(rig.catchUps()).toEqual([expect.objectContaining({ state: 'resolved', attempt: 1 })]);
    expect(rig.notes.at(-1)).toMatch(
      new RegExp(
        `^catch-up: ${VICTIM_SEGMENT} on ${VICTIM} is no longer behind its peers' GC; its failed catch-up from pg0-\\S+ \\(attempt 1\\) is resolved$`,
      ),
    );
    expect(rig.notes.filter((note) => note.includes('is resolved'))).toHaveLength(1); // said once
    const text = rig.statusText();
    expect(text).not.toContain('catch-up failed');
    expect(text).toMatch(
      new RegExp(
        `catch-up of ${VICTIM_SEGMENT} on ${VICTIM} from pg0-\\S+ failed \\(attempt 1\\), since resolved`,
      ),
    );
  });

  it('7. notes "retrying" only when it sends the retry, from another member', async () => {
    rig = new ExecutorRig();
    await rig.start();
    rig.answers.push(
      { status: 503, body: { code: 'NL_NETWORK_UNREACHABLE', message: 'the source is gone' } },
      OK,
    );
    await rig.round(0);
    const firstSource = rig.requests[0]!.body.sourceSegmentId;
    expect(rig.notes.some((note) => note.includes('retrying'))).toBe(false);
    await rig.round(3_000);
    expect(rig.requests).toHaveLength(2);
    const secondSource = rig.requests[1]!.body.sourceSegmentId;
    expect(secondSource).not.toBe(firstSource);
    expect(rig.notes).toContain(
      `catch-up: retrying ${VICTIM_SEGMENT} on ${VICTIM} from ${secondSource} on ${secondSource!.slice(4)} (attempt 2)`,
    );
    expect(rig.catchUps().map((record) => record.state)).toEqual(['failed', 'ok']);
    // The failure is no longer current (a later attempt succeeded): status shows no current failure…
    expect(splitCatchUps(rig.catchUps()).current).toEqual([]);
    // …and once the node reports the segment caught up, it is resolved.
    rig.behind = false;
    await rig.round(6_000);
    expect(rig.catchUps().map((record) => record.state)).toEqual(['resolved', 'ok']);
    expect(rig.statusText()).toContain(`caught up ${VICTIM_SEGMENT} on ${VICTIM} from ${secondSource}`);
  });
});

describe('catch-up records in status (pure)', () => {
  const record = (segment: string, state: CatchUpRecord['state'], attempt = 1): CatchUpRecord => ({
    pgId: 0,
    segment,
    node: segment.slice(4),
    from: 'pg0-storage-b-1',
    state,
    attempt,
    bytes: 1024,
    ms: 10,
    ...(state === 'failed' ? { reason: 'HTTP 503 gone' } : {}),
  });

  it('tells a busy answer from a failure', () => {
    const busy = { code: 'NL_SEGMENT_BUSY', message: 'already hydrating (backup)' };
    expect(hydrationOutcome({ ok: true, status: 200, text: 'HTTP 200 {}' })).toEqual({ kind: 'ok' });
    expect(hydrationOutcome({ ok: false, status: 409, text: 'HTTP 409', json: busy })).toEqual({
      kind: 'busy',
      reason: 'already hydrating (backup)',
    });
    for (const answer of [
      { ok: false, status: 409, text: 'HTTP 409 stale', json: { code: 'NL_MEMBERSHIP_STALE' } },
      { ok: false, status: 504, text: 'HTTP 504 timeout', json: { code: 'NL_TIMEOUT' } },
      { ok: false, text: 'fetch failed' },
    ])
      expect(hydrationOutcome(answer)).toEqual({ kind: 'failed', reason: answer.text });
  });

  it('resolves a failure only when its segment is seen caught up', () => {
    const records = [
      record('pg0-storage-a-1', 'failed'),
      record('pg1-storage-a-1', 'failed'),
      record('pg2-storage-a-1', 'failed'),
      record('pg3-storage-a-1', 'failed'),
    ];
    const standing = {
      'pg0-storage-a-1': 'caught-up',
      'pg1-storage-a-1': 'behind',
      'pg2-storage-a-1': 'unknown',
      // Its node answers without it (a repair moved the member): nothing is left to catch up.
      'pg3-storage-a-1': 'gone',
    } as const;
    const settled = settleCatchUps(records, (segment) => standing[segment as keyof typeof standing]);
    expect(settled.records.map((one) => one.state)).toEqual(['resolved', 'failed', 'failed', 'resolved']);
    expect(settled.resolved).toEqual([
      { ...records[0], state: 'resolved' },
      { ...records[3], state: 'resolved' },
    ]);
    expect(settleCatchUps(settled.records, () => 'caught-up').resolved).toHaveLength(2); // each once
    const world = { segmentsOf: new Map([['storage-a-1', [] as StorageSegmentView[]]]) };
    expect(catchUpStanding(world, new Set(['storage-a-1']))('pg0-storage-a-1', 'storage-a-1')).toBe('gone');
    expect(catchUpStanding(world, new Set())('pg0-storage-a-1', 'storage-a-1')).toBe('unknown');
    expect(catchUpStanding(world, new Set(['storage-b-1']))('pg0-storage-b-1', 'storage-b-1')).toBe(
      'unknown',
    );
  });

  it('never lets history push a current failure out of the text', () => {
    const catchUps: CatchUpRecord[] = [
      record('pg0-storage-a-1', 'failed'),
      ...['pg1', 'pg2', 'pg3', 'pg4', 'pg5'].map((pg) => record(`${pg}-storage-a-1`, 'ok')),
      record('pg6-storage-a-1', 'failed'),
      record('pg6-storage-a-1', 'failed', 2),
      { ...record('pg7-storage-a-1', 'waiting'), attempt: 0 },
    ];
    const { current, history } = splitCatchUps(catchUps);
    expect(current.map((one) => `${one.segment}:${one.state}:${one.attempt}`)).toEqual([
      'pg0-storage-a-1:failed:1',
      'pg6-storage-a-1:failed:2',
      'pg7-storage-a-1:waiting:0',
    ]);
    expect(history).toHaveLength(6);
    const repairs: RepairsView = { inFlight: [], recent: [], blocked: [], catchUps };
    const text = formatClusterStatus(
      buildClusterStatus(
        {
          cluster: 'c',
          dataDir: '/d',
          endpoints: { readWrite: 'w', readOnly: 'r', control: 'c' },
          writer: 'e',
          promoting: undefined,
          storage: [],
          engines: [],
          volume: undefined,
          repairs,
          upgrade: undefined,
          events: [],
        },
        String,
      ),
    );
    expect(text).toContain(
      'catch-up failed: pg0-storage-a-1 on storage-a-1 from pg0-storage-b-1 (attempt 1): HTTP 503 gone',
    );
    expect(text).toContain(
      'catch-up failed: pg6-storage-a-1 on storage-a-1 from pg0-storage-b-1 (attempt 2)',
    );
    // An older failure of a segment tried again since is history, and says so.
    expect(text).toContain(
      'catch-up of pg6-storage-a-1 on storage-a-1 from pg0-storage-b-1 failed (attempt 1), tried again since',
    );
    expect(text.match(/catch-up failed:/g)).toHaveLength(2);
    expect(text).toContain('caught up pg5-storage-a-1');
    expect(text).not.toContain('caught up pg2-storage-a-1'); // only the last 3 of the history
  });
});
