/**
 * Real processes on loopback: six storage-node processes (src/main.ts), two per zone, each holding one
 * segment of each of four PGs, created through the admin API with their peers' placement, and told each
 * other's addresses (`--peers`). A test writer speaks the binary protocol over TCP as the engine will:
 * state request and truncation under epoch 1, then 40,000 records (`NL_PROCESS_TEST_RECORDS`; 100,000
 * in `npm run test:long -w @northlight/storage-node`) in append batches to all six
 * segments of each PG, with a window of batches not yet at a write quorum. Two processes are killed with
 * SIGKILL mid-stream and restarted on their data directories and ports while the stream goes on.
 * Proves: every record reached a write quorum (4 copies) with two nodes down; every record a segment
 * acknowledged is still held by it, byte for byte, after kill -9 and restart; once gossip settles, every
 * acknowledged record is on at least four copies (all six here) and every copy's SCL is its PG's head;
 * the admin API (health, readiness, status, metrics) tells the truth; SIGTERM stops a node cleanly.
 */
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPageNo,
  asPgId,
  asSegmentId,
  decodeMessageFromBytes,
  encodeMessage,
  encodeRedoRecord,
  type Logger,
  type Message,
  type RedoRecord,
} from '@northlight/protocol';
import { StaticPeerDirectory, TcpNetworkEndpoint } from '@northlight/protocol/io';
import { afterAll, expect, it } from 'vitest';
import {
  admin,
  freePorts,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';

const NODES = [
  ['s1', 'a'],
  ['s2', 'a'],
  ['s3', 'b'],
  ['s4', 'b'],
  ['s5', 'c'],
  ['s6', 'c'],
] as const;
const PGS = [0, 1, 2, 3];
const RECORDS = Number(process.env.NL_PROCESS_TEST_RECORDS ?? 40_000);
const BATCH_RECORDS = 100;
/** Batches (per PG flush) sent but not yet acknowledged by a write quorum, at most. */
const WINDOW = 24;
const KILL_AT = RECORDS * 0.3;
const RESTART_AT = RECORDS * 0.65;
const PAGES_PER_PG = 131_072; // 1 GiB of 8 KiB pages, the process defaults
const FIRST_LSN = 257n;
const quiet: Logger = { log: () => {} };

const nodes = new Map<string, StorageProcess>();
afterAll(async () => {
  for (const node of nodes.values()) {
    if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
    removeDataDir(node);
  }
});

const segmentOf = (pg: number, node: string) => `pg${pg}-${node}`;

it('keeps every acknowledged record through kill -9 and restart, and gossip brings every copy to the head', async () => {
  const ports = new Map<string, { port: number; adminPort: number }>();
  const free = await freePorts(NODES.length * 2);
  for (const [index, [id]] of NODES.entries())
    ports.set(id, { port: free[2 * index]!, adminPort: free[2 * index + 1]! });
  const startNode = (id: string, zone: string, dataDir?: string) =>
    startStorageProcess(id, zone, {
      ...(dataDir === undefined ? {} : { dataDir }),
      ...ports.get(id)!,
      args: [
        '--peers',
        NODES.filter(([other]) => other !== id)
          .map(([other]) => `${other}=127.0.0.1:${ports.get(other)!.port}`)
          .join(','),
        '--gossip-interval-ms',
        '200',
      ],
    });
  await Promise.all(
    NODES.map(async ([id, zone]) => {
      nodes.set(id, await startNode(id, zone));
    }),
  );
  const directory = new StaticPeerDirectory();
  for (const node of nodes.values())
    directory.set(asNodeId(node.nodeId), { host: '127.0.0.1', port: node.port });
  const writer = await TcpNetworkEndpoint.listen({
    address: asNodeId('writer'),
    listenHost: '127.0.0.1',
    listenPort: 0,
    directory,
    logger: quiet,
  });
  const waiting = new Map<bigint, (message: Message) => void>();
  /** Per record: the segments that acknowledged it. */
  const acknowledgedBy = new Map<bigint, Set<string>>();
  const batches = new Map<bigint, { segmentId: string; flush: number }>();
  /** Per flush (one batch per PG node): its records, and the segments that acknowledged it. */
  const flushes: { lsns: bigint[]; acks: Set<string> }[] = [];
  writer.onMessage((_from, bytes) => {
    const message = decodeMessageFromBytes(bytes);
    if (message.type === 'append-ack') {
      const batch = batches.get(message.requestId);
      if (batch === undefined) return;
      batches.delete(message.requestId);
      const flush = flushes[batch.flush]!;
      flush.acks.add(batch.segmentId);
      for (const lsn of flush.lsns) acknowledgedBy.get(lsn)!.add(batch.segmentId);
      return;
    }
    if ('requestId' in message) waiting.get(message.requestId)?.(message);
  });
  let nextRequestId = 1n;
  const ask = async (
    to: string,
    build: (requestId: bigint) => Message,
    timeoutMs = 1000,
  ): Promise<Message> => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const requestId = nextRequestId++;
      const reply = new Promise<Message | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs);
        waiting.set(requestId, (message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
      writer.send(asNodeId(to), encodeMessage(build(requestId)));
      const message = await reply;
      waiting.delete(requestId);
      if (message !== undefined) return message;
    }
    throw new Error(`no reply from ${to}`);
  };
  const send = (to: string, message: Message) => writer.send(asNodeId(to), encodeMessage(message));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // The control plane's part: create the segments, with where every member lives.
  const members = (pg: number) => NODES.map(([id]) => segmentOf(pg, id));
  for (const node of nodes.values()) {
    for (const pg of PGS) {
      const created = await admin(node, 'POST', '/v1/segments', {
        pgId: pg,
        segmentId: segmentOf(pg, node.nodeId),
        membershipEpoch: '1',
        members: members(pg),
        memberNodes: NODES.map(([id]) => id),
      });
      expect(created.status, created.text).toBe(201);
    }
  }
  // The writer's recovery of a fresh volume: epoch 1, everything below FIRST_LSN annulled.
  const epoch = asEpoch(1n);
  const range = { volumeEpoch: epoch, fromExclusive: asLsn(0n), toInclusive: asLsn(FIRST_LSN - 1n) };
  for (const node of nodes.values()) {
    for (const pg of PGS) {
      const address = { pgId: asPgId(pg), segmentId: asSegmentId(segmentOf(pg, node.nodeId)) };
      const state = await ask(node.nodeId, (requestId) => ({
        type: 'segment-state-request',
        requestId,
        ...address,
        volumeEpoch: epoch,
      }));
      expect(state.type).toBe('segment-state');
      const ack = await ask(node.nodeId, (requestId) => ({
        type: 'truncate',
        requestId,
        ...address,
        volumeEpoch: epoch,
        ranges: [range],
      }));
      expect(ack.type).toBe('truncate-ack');
    }
  }

  // Stream 100,000 records; kill -9 s1 and s4 at 30%, restart them at 65%.
  const records = new Map<bigint, RedoRecord>();
  const lastOfPg = new Map<number, bigint>();
  const pending = new Map<number, RedoRecord[]>();
  let durableHint = FIRST_LSN - 1n;
  const down = new Set<string>();
  let quorumThrough = 0; // flushes [0, quorumThrough) reached 4 acknowledgements
  const advanceQuorum = () => {
    while (quorumThrough < flushes.length && flushes[quorumThrough]!.acks.size >= 4) {
      const last = flushes[quorumThrough]!.lsns.at(-1);
      if (last !== undefined && last > durableHint) durableHint = last;
      quorumThrough++;
    }
  };
  const flush = (pg: number) => {
    const batch = pending.get(pg) ?? [];
    pending.set(pg, []);
    const index = flushes.length;
    flushes.push({ lsns: batch.map((record) => record.lsn), acks: new Set() });
    for (const [node] of NODES) {
      // A node that is down misses what is sent meanwhile (the transport would queue it for the
      // restart; a long outage overflows any queue): what it lacks after the restart, gossip brings.
      if (down.has(node)) continue;
      const requestId = nextRequestId++;
      const segmentId = segmentOf(pg, node);
      batches.set(requestId, { segmentId, flush: index });
      send(node, {
        type: 'append-batch',
        requestId,
        volumeEpoch: epoch,
        membershipEpoch: asEpoch(1n),
        pgId: asPgId(pg),
        segmentId: asSegmentId(segmentId),
        durableHint: asLsn(durableHint),
        records: batch,
      });
    }
  };
  const startedMs = Date.now();
  for (let i = 0; i < RECORDS; i++) {
    const pg = i % PGS.length;
    const lsn = FIRST_LSN + BigInt(i);
    const record: RedoRecord = {
      lsn: asLsn(lsn),
      backlink: asLsn(lastOfPg.get(pg) ?? 0n),
      kind: 'page-diff',
      cpl: true,
      volumeEpoch: epoch,
      pgId: asPgId(pg),
      pageNo: asPageNo(pg * PAGES_PER_PG + (i % 64)),
      runs: [{ offset: (i * 37) % 8000, bytes: new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7, pg]) }],
    };
    lastOfPg.set(pg, lsn);
    records.set(lsn, record);
    acknowledgedBy.set(lsn, new Set());
    const batch = pending.get(pg) ?? [];
    batch.push(record);
    pending.set(pg, batch);
    if (pending.get(pg)!.length === BATCH_RECORDS) {
      flush(pg);
      for (;;) {
        advanceQuorum();
        if (flushes.length - quorumThrough <= WINDOW) break;
        await sleep(2);
      }
    }
    if (i === KILL_AT) {
      await stopStorageProcess(nodes.get('s1')!, 'SIGKILL');
      await stopStorageProcess(nodes.get('s4')!, 'SIGKILL');
      down.add('s1').add('s4');
    }
    if (i === RESTART_AT) {
      for (const [id, zone] of [
        ['s1', 'a'],
        ['s4', 'b'],
      ] as const) {
        nodes.set(id, await startNode(id, zone, nodes.get(id)!.dataDir));
        down.delete(id);
      }
    }
  }
  for (const pg of PGS) if ((pending.get(pg) ?? []).length > 0) flush(pg);
  const deadline = Date.now() + 60_000;
  for (;;) {
    advanceQuorum();
    if (quorumThrough === flushes.length || Date.now() > deadline) break;
    await sleep(20);
  }
  const streamMs = Date.now() - startedMs;
  // Every record reached a write quorum, with two of six nodes down for a third of the stream.
  expect(quorumThrough).toBe(flushes.length);
  const underReplicated = [...acknowledgedBy].filter(([, set]) => set.size < 4).map(([lsn]) => lsn);
  expect(underReplicated).toEqual([]);
  // The kills landed mid-stream: s1 acknowledged some records of PG 0, and missed many.
  const ackedByKilled = [...acknowledgedBy.values()].filter((set) => set.has('pg0-s1')).length;
  expect(ackedByKilled).toBeGreaterThan(KILL_AT / PGS.length / 4);
  expect(ackedByKilled).toBeLessThan(RECORDS / PGS.length - 1000);

  // Gossip settles: every copy's SCL reaches its PG's head.
  const settleStartedMs = Date.now();
  const lagging = async (): Promise<string[]> => {
    const behind: string[] = [];
    for (const node of nodes.values()) {
      const status = (await admin(node, 'GET', '/v1/status')).json() as {
        segments: { pgId: number; segmentId: string; scl: string }[];
      };
      for (const pg of PGS) {
        const segment = status.segments.find((candidate) => candidate.pgId === pg);
        if (segment?.scl !== String(lastOfPg.get(pg)))
          behind.push(`${segmentOf(pg, node.nodeId)} at ${segment?.scl} < ${lastOfPg.get(pg)}`);
      }
    }
    return behind;
  };
  let behind = await lagging();
  while (
    behind.length > 0 &&
    Date.now() - settleStartedMs < Number(process.env.NL_PROCESS_TEST_SETTLE_MS ?? 90_000)
  ) {
    await sleep(250);
    behind = await lagging();
  }
  const warnings = [...nodes.values()].flatMap((node) =>
    node.output
      .join('')
      .split('\n')
      .filter((line) => line.includes('"level":"warn"') || line.includes('"level":"error"'))
      .filter((line) => !line.includes('unknown segment'))
      .slice(-8),
  );
  const gossipMetrics: string[] = [];
  for (const node of nodes.values()) {
    const text = (await admin(node, 'GET', '/metrics')).text;
    gossipMetrics.push(
      `${node.nodeId}: ${text
        .split('\n')
        .filter((line) => /^northlight_storage_(gossip|dropped|rejected)/.test(line))
        .join(' | ')}`,
    );
  }
  expect(behind, [...warnings, ...gossipMetrics].join('\n')).toEqual([]);
  const settleMs = Date.now() - settleStartedMs;

  // Every acknowledged record is on at least 4 copies — on all six — byte for byte; and every
  // acknowledgement still holds on the segment that gave it.
  const copies = new Map<bigint, number>();
  for (const node of nodes.values()) {
    for (const pg of PGS) {
      const segmentId = segmentOf(pg, node.nodeId);
      const lsns = [...records.values()].filter((record) => record.pgId === pg).map((record) => record.lsn);
      const held: RedoRecord[] = [];
      for (let start = 0; start < lsns.length; start += 5000) {
        const reply = await ask(
          node.nodeId,
          (requestId) => ({
            type: 'fetch-records',
            requestId,
            pgId: asPgId(pg),
            segmentId: asSegmentId(segmentId),
            volumeEpoch: epoch,
            lsns: lsns.slice(start, start + 5000),
          }),
          10_000,
        );
        expect(reply.type).toBe('records');
        if (reply.type === 'records') held.push(...reply.records);
      }
      expect(held.length, segmentId).toBe(lsns.length);
      for (const record of held) {
        const expected = encodeRedoRecord(records.get(record.lsn)!);
        expect(
          Buffer.from(encodeRedoRecord(record)).equals(Buffer.from(expected)),
          `${segmentId} ${record.lsn}`,
        ).toBe(true);
        copies.set(record.lsn, (copies.get(record.lsn) ?? 0) + 1);
      }
    }
  }
  const fewCopies = [...records.keys()].filter((lsn) => (copies.get(lsn) ?? 0) < 6);
  expect(fewCopies).toEqual([]);

  // The admin API tells the truth: the restarted nodes filled their gaps by gossip.
  const s2 = nodes.get('s2')!;
  expect((await admin(s2, 'GET', '/healthz')).status).toBe(200);
  expect((await admin(s2, 'GET', '/readyz')).status).toBe(200);
  const appended = /^northlight_storage_appended_records_total (\d+)/m.exec(
    (await admin(s2, 'GET', '/metrics')).text,
  );
  expect(Number(appended?.[1])).toBe(RECORDS);
  for (const id of ['s1', 's4']) {
    const metrics = (await admin(nodes.get(id)!, 'GET', '/metrics')).text;
    const fetched = /^northlight_storage_gossip_fetched_records_total (\d+)/m.exec(metrics);
    expect(Number(fetched?.[1]), id).toBeGreaterThan(RECORDS / 10);
  }
  console.log(
    JSON.stringify({
      records: RECORDS,
      pgs: PGS.length,
      streamMs,
      gossipSettleMs: settleMs,
      ackedByKilledPg0S1: ackedByKilled,
    }),
  );

  writer.close();
  for (const node of nodes.values()) expect(await stopStorageProcess(node, 'SIGTERM')).toBe(0);
}, 300_000);
