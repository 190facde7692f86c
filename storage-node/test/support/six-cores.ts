/**
 * Six storage node cores (s1…s6, two per zone) in the simulator's cluster, each hosting one segment per
 * PG with its peers' placement, plus a test writer node `w1` whose sends are the test's: for gossip,
 * repair and backup tests. Replies to `w1` are collected in `replies`.
 */
import {
  asNodeId,
  asSegmentId,
  decodeMessageFromBytes,
  type Environment,
  encodeMessage,
  type Lsn,
  type Message,
  type RedoRecord,
  type SegmentId,
} from '@northlight/protocol';
import { SimCluster } from '@northlight/sim';
import { expect } from 'vitest';
import { StorageNodeCore, type StorageNodeOptions } from '../../src/index.js';
import { pg, TEST_OPTIONS } from './core-rig.js';
import { PageModel, run, TestWriter } from './history.js';

export const NODES = [
  ['s1', 'a'],
  ['s2', 'a'],
  ['s3', 'b'],
  ['s4', 'b'],
  ['s5', 'c'],
  ['s6', 'c'],
] as const;
export const OPTIONS: StorageNodeOptions = {
  ...TEST_OPTIONS,
  gossipIntervalMs: 50,
  gossipReplyBytesMax: 2048,
  gossipPullTimeoutMs: 200,
};
export const PAGE_SIZE = TEST_OPTIONS.pageSizeBytes!;

export const segmentOf = (pgId: number, node: string): SegmentId => asSegmentId(`pg${pgId}-${node}`);

export class Harness {
  readonly cluster: SimCluster;
  readonly writer = new TestWriter(1n);
  readonly model = new PageModel(PAGE_SIZE);
  readonly replies: Message[] = [];
  #env: Environment | undefined;

  constructor(seed: number, pgs: readonly number[], options: StorageNodeOptions = OPTIONS) {
    this.writer.volumeEpoch = 0n as never;
    this.cluster = new SimCluster({ seed, logLevelMin: 'error' });
    for (const [id, zone] of NODES) {
      this.cluster.addNode({
        id,
        zone,
        factory: (env, context) => {
          const core = new StorageNodeCore(env, options);
          void core.start().then(async () => {
            if (context.incarnation !== 1) return;
            for (const pgId of pgs) {
              await core.createSegment({
                pgId: pg(pgId),
                segmentId: segmentOf(pgId, id),
                membershipEpoch: 1n as never,
                members: NODES.map(([node]) => segmentOf(pgId, node)),
                memberNodes: NODES.map(([node]) => asNodeId(node)),
              });
            }
          });
          return core;
        },
      });
    }
    this.cluster.addNode({
      id: 'w1',
      zone: 'a',
      factory: (env) => {
        this.#env = env;
        env.network.onMessage((_from, bytes) => {
          this.replies.push(decodeMessageFromBytes(bytes));
        });
        return {};
      },
    });
  }

  core(node: string): StorageNodeCore {
    return this.cluster.instance<StorageNodeCore>(node)!;
  }

  send(to: string, message: Message): void {
    this.#env!.network.send(asNodeId(to), encodeMessage(message));
  }

  /** Writes `count` records of `pgId`, each batch to `targets` only. */
  write(pgId: number, count: number, targets: readonly string[]): RedoRecord[] {
    const records: RedoRecord[] = [];
    for (let index = 0; index < count; index++) {
      const record = this.writer.record(pgId, pgId * 64 + (index % 7), [
        run((index * 5) % 200, 30, index + 1),
      ]);
      this.model.add(record);
      records.push(record);
    }
    for (let start = 0; start < records.length; start += 8) {
      const batch = records.slice(start, start + 8);
      // The durable hint trails the batch (as a writer's VDL does), so segments may materialize.
      const hint = batch[0]!.lsn - 1n;
      for (const node of targets) this.send(node, this.writer.batch(segmentOf(pgId, node), batch, hint));
    }
    return records;
  }

  scl(node: string, pgId: number): bigint | undefined {
    return this.core(node)
      ?.status()
      .segments.find((segment) => segment.segmentId === segmentOf(pgId, node))?.scl;
  }

  async settle(predicate: () => boolean, limitMs = 20_000): Promise<void> {
    await this.cluster.runUntil(predicate, { timeLimitMs: this.cluster.nowMs() + limitMs });
    expect(predicate()).toBe(true);
  }

  async ready(): Promise<void> {
    await this.settle(() =>
      NODES.every(
        ([node]) => this.core(node)?.state === 'serving' && this.core(node).status().segments.length > 0,
      ),
    );
  }

  /** Flips bits of `node`'s file matching `isPath` until a scrub pass reports one more damage of `kind`. */
  async rotUntilScrubbed(node: string, isPath: (path: string) => boolean, kind: 'pageCount' | 'recordCount') {
    const core = this.core(node);
    const disk = this.cluster.node(node).disk;
    const path = disk.paths().find(isPath)!;
    const before = core.status().damage[kind];
    for (let attempt = 0; attempt < 500 && core.status().damage[kind] === before; attempt++) {
      disk.flipBit(path);
      let report: unknown;
      void core.scrub().then((result) => {
        report = result;
      });
      await this.settle(() => report !== undefined);
    }
    expect(core.status().damage[kind]).toBe(before + 1);
  }

  async readPage(node: string, pgId: number, pageNo: number, readPoint: bigint): Promise<Uint8Array> {
    let outcome: Awaited<ReturnType<StorageNodeCore['readPage']>> | undefined;
    void this.core(node)
      .readPage(pg(pgId), segmentOf(pgId, node), pageNo, readPoint as never)
      .then((result) => {
        outcome = result;
      });
    await this.settle(() => outcome !== undefined);
    if (!outcome!.ok) throw outcome!.refusal.error;
    return outcome!.page;
  }

  /**
   * `node` is away while every peer collects its log past what it holds: 30 records of PG 0 reach all
   * six, then `node` loses power, 300 more reach the others, the PG's minimum read point moves to
   * their head, and once every peer has collected through it `node` starts again. Returns the head.
   */
  async awayWhilePeersCollect(node: string): Promise<Lsn> {
    const all = NODES.map(([name]) => name);
    const hinted = (records: readonly RedoRecord[], targets: readonly string[]) => {
      const last = records.at(-1)!.lsn;
      for (const target of targets)
        this.send(target, this.writer.batch(segmentOf(0, target), records.slice(-1), last));
      return last;
    };
    const first = hinted(this.write(0, 30, all), all);
    await this.settle(() => all.every((name) => this.scl(name, 0) === first));
    this.cluster.crash(node, { kind: 'power-loss' });
    const alive = all.filter((name) => name !== node);
    const head = hinted(this.write(0, 300, alive), alive);
    this.minReadPoint(0, head, alive);
    await this.settle(() => alive.every((name) => this.core(name).status().segments[0]!.gcThrough === head));
    this.cluster.start(node);
    return head;
  }

  /** The writer's minimum read point of PG `pgId` (PGMRPL), sent to `nodes`. */
  minReadPoint(pgId: number, point: bigint, nodes: readonly string[]): void {
    for (const node of nodes)
      this.send(node, {
        type: 'min-read-point',
        pgId: pg(pgId),
        segmentId: segmentOf(pgId, node),
        volumeEpoch: 0n as never,
        minReadPoint: point as Lsn,
      });
  }

  /** The records `node`'s segment of PG `pgId` returns for `lsns` (a `fetch-records` round trip). */
  async fetchRecords(
    node: string,
    pgId: number,
    lsns: readonly Lsn[],
    requestId: bigint,
  ): Promise<RedoRecord[]> {
    this.send(node, {
      type: 'fetch-records',
      requestId,
      pgId: pg(pgId),
      segmentId: segmentOf(pgId, node),
      volumeEpoch: 0n as never,
      lsns: [...lsns],
    });
    let reply: Extract<Message, { type: 'records' }> | undefined;
    await this.settle(() => {
      reply = this.replies.find(
        (message): message is Extract<Message, { type: 'records' }> =>
          message.type === 'records' && message.requestId === requestId,
      );
      return reply !== undefined;
    });
    return [...reply!.records];
  }
}
