/**
 * Real storage-node processes holding the cluster's internal token (NORTHLIGHT_INTERNAL_TOKEN), as
 * `northlight up` and the operator start them. Proves, on loopback:
 *  - the admin API answers the probes and /metrics to anyone, and every other route (status, segment
 *    create and drop, snapshots) only with the token: without it, or with another, 401 NL_AUTH_FAILED
 *    and nothing changes (a drop without the token leaves the segment there);
 *  - the binary transport serves a client that proves the same token (a segment-state request is
 *    answered), and refuses one with another token or none, whatever node id it claims: no reply, the
 *    refusal counted in `northlight_storage_transport_auth_failures_total` and logged with the reason
 *    (one line per 10 s at most);
 *  - two nodes with the token gossip with each other (a record appended to one reaches the other);
 *  - admin refusals are counted in `northlight_storage_http_auth_failures_total`;
 *  - with --transport-auth transition a peer that cannot prove the token (an older build) is served,
 *    and counted in `northlight_storage_transport_unauthenticated_connections_total`;
 *  - a node without a token says at start that both doors are open (a token set but empty is refused,
 *    in io-config.test.ts).
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
  type Logger,
  type Message,
  type RedoRecord,
} from '@northlight/protocol';
import { StaticPeerDirectory, TcpNetworkEndpoint, transportKey } from '@northlight/protocol/io';
import { afterAll, expect, it } from 'vitest';
import {
  freePorts,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';

const TOKEN = 'process-auth-test-token-0123456789';
const quiet: Logger = { log: () => {} };
const nodes: StorageProcess[] = [];
const endpoints: TcpNetworkEndpoint[] = [];

afterAll(async () => {
  for (const endpoint of endpoints) endpoint.close();
  for (const node of nodes) {
    if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
    removeDataDir(node);
  }
});

async function call(
  node: StorageProcess,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const response = await fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // the metrics are text
  }
  return { status: response.status, json, text };
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** A transport client named `id`, with `token`'s key (or none), that collects replies by request id. */
async function client(id: string, directory: StaticPeerDirectory, token: string | undefined) {
  const endpoint = await TcpNetworkEndpoint.listen({
    address: asNodeId(id),
    listenHost: '127.0.0.1',
    listenPort: 0,
    directory,
    logger: quiet,
    handshakeTimeoutMs: 2_000,
    ...(token === undefined ? {} : { transportKey: transportKey(token) }),
  });
  endpoints.push(endpoint);
  const replies = new Map<bigint, Message>();
  endpoint.onMessage((_from, bytes) => {
    const message = decodeMessageFromBytes(bytes);
    if ('requestId' in message) replies.set(message.requestId, message);
  });
  return { endpoint, replies };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

it('guards the admin API and the transport with the internal token, and gossips between nodes holding it', async () => {
  const [portA, adminA, portB, adminB] = await freePorts(4);
  const peers = (self: string) => (self === 's1' ? `s2=127.0.0.1:${portB}` : `s1=127.0.0.1:${portA}`);
  const start = (id: string, zone: string, port: number, adminPort: number) =>
    startStorageProcess(id, zone, {
      port,
      adminPort,
      args: ['--peers', peers(id), '--gossip-interval-ms', '100'],
      env: { NORTHLIGHT_INTERNAL_TOKEN: TOKEN },
    });
  const [s1, s2] = await Promise.all([start('s1', 'a', portA!, adminA!), start('s2', 'b', portB!, adminB!)]);
  nodes.push(s1, s2);

  // The admin API: probes and metrics open; the rest takes the token.
  for (const path of ['/healthz', '/readyz', '/metrics'])
    expect((await call(s1, 'GET', path)).status).toBe(200);
  for (const token of [undefined, 'another-clusters-token-0123456789']) {
    const status = await call(s1, 'GET', '/v1/status', token === undefined ? {} : { token });
    expect(status.status).toBe(401);
    expect(status.json.code).toBe('NL_AUTH_FAILED');
  }
  const members = ['pg0-s1', 'pg0-s2', 'pg0-x3', 'pg0-x4', 'pg0-x5', 'pg0-x6'];
  const memberNodes = ['s1', 's2', 'x3', 'x4', 'x5', 'x6'];
  const spec = (segmentId: string) => ({ pgId: 0, segmentId, membershipEpoch: '1', members, memberNodes });
  expect((await call(s1, 'POST', '/v1/segments', { body: spec('pg0-s1') })).status).toBe(401);
  const s1Status = (await call(s1, 'GET', '/v1/status', { token: TOKEN })).json;
  expect(s1Status.segments as unknown[]).toHaveLength(0);
  expect((s1Status.transport as { authentication: string }).authentication).toBe('required');
  for (const [node, segmentId] of [
    [s1, 'pg0-s1'],
    [s2, 'pg0-s2'],
  ] as const) {
    const created = await call(node, 'POST', '/v1/segments', { token: TOKEN, body: spec(segmentId) });
    expect(created.status, created.text).toBe(201);
  }
  expect((await call(s1, 'DELETE', '/v1/segments/0/pg0-s1')).status).toBe(401);
  expect((await call(s1, 'GET', '/v1/segments/0/pg0-s2/snapshot')).status).toBe(401);
  expect(((await call(s1, 'GET', '/v1/status', { token: TOKEN })).json.segments as unknown[]).length).toBe(1);
  const refusedHttp = metric(
    (await call(s1, 'GET', '/metrics')).text,
    'northlight_storage_http_auth_failures_total',
  );
  expect(refusedHttp).toBe(5);

  // The transport: a client with the token is served; others get nothing, whatever they claim to be.
  const directory = new StaticPeerDirectory([
    [asNodeId('s1'), { host: '127.0.0.1', port: s1.port }],
    [asNodeId('s2'), { host: '127.0.0.1', port: s2.port }],
  ]);
  const writer = await client('writer', directory, TOKEN);
  const stranger = await client('writer-2', directory, 'another-clusters-token-0123456789');
  const keyless = await client('s2', directory, undefined); // claims to be s1's peer
  const address = { pgId: asPgId(0), segmentId: asSegmentId('pg0-s1') };
  const epoch = asEpoch(1n);
  const stateRequest = (requestId: bigint): Message => ({
    type: 'segment-state-request',
    requestId,
    ...address,
    volumeEpoch: epoch,
  });
  stranger.endpoint.send(asNodeId('s1'), encodeMessage(stateRequest(1n)));
  keyless.endpoint.send(asNodeId('s1'), encodeMessage(stateRequest(2n)));
  writer.endpoint.send(asNodeId('s1'), encodeMessage(stateRequest(3n)));
  await until(() => writer.replies.has(3n), 'the writer to be answered');
  expect(writer.replies.get(3n)?.type).toBe('segment-state');
  await until(async () => {
    const text = (await call(s1, 'GET', '/metrics')).text;
    return metric(text, 'northlight_storage_transport_auth_failures_total') >= 2;
  }, 'both refusals to be counted');
  await sleep(300);
  expect(stranger.replies.size + keyless.replies.size).toBe(0);
  expect(stranger.endpoint.counters().outboundConnectionsEstablished).toBe(0);
  expect(keyless.endpoint.counters().outboundConnectionsEstablished).toBe(0);
  const warnings = s1.output
    .join('')
    .split('\n')
    .filter((line) => line.includes('authentication failed'));
  // Logged once per 10 s at most, with the count (each is counted in the metric above).
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toMatch(
    /proof of the cluster's internal token is wrong|runs without the cluster's internal token/,
  );
  expect(s1.output.join('')).not.toContain(TOKEN);

  // Gossip between the two token holders: a record appended to s1 alone reaches s2.
  const range = { volumeEpoch: epoch, fromExclusive: asLsn(0n), toInclusive: asLsn(999n) };
  writer.endpoint.send(
    asNodeId('s1'),
    encodeMessage({ type: 'truncate', requestId: 4n, ...address, volumeEpoch: epoch, ranges: [range] }),
  );
  writer.endpoint.send(
    asNodeId('s2'),
    encodeMessage({
      type: 'truncate',
      requestId: 5n,
      pgId: asPgId(0),
      segmentId: asSegmentId('pg0-s2'),
      volumeEpoch: epoch,
      ranges: [range],
    }),
  );
  await until(() => writer.replies.has(4n) && writer.replies.has(5n), 'both truncations');
  const record: RedoRecord = {
    lsn: asLsn(1000n),
    backlink: asLsn(0n),
    kind: 'page-diff',
    cpl: true,
    volumeEpoch: epoch,
    pgId: asPgId(0),
    pageNo: asPageNo(0),
    runs: [{ offset: 0, bytes: Uint8Array.of(1, 2, 3) }],
  };
  writer.endpoint.send(
    asNodeId('s1'),
    encodeMessage({
      type: 'append-batch',
      requestId: 6n,
      volumeEpoch: epoch,
      membershipEpoch: asEpoch(1n),
      ...address,
      durableHint: asLsn(1000n),
      records: [record],
    }),
  );
  await until(() => writer.replies.get(6n)?.type === 'append-ack', 'the append to s1');
  await until(
    async () => {
      const segments = (await call(s2, 'GET', '/v1/status', { token: TOKEN })).json.segments as Array<{
        scl: string;
      }>;
      return segments[0]?.scl === '1000';
      // Each gossip round pulls from one member at random: four of five are placeholders here, whose
      // pulls time out after a second, so this takes a few seconds.
    },
    'gossip to bring the record to s2',
    40_000,
  );
}, 90_000);

it('with --transport-auth transition, serves a peer that cannot prove the token (an older build), and counts it', async () => {
  const node = await startStorageProcess('s8', 'a', {
    args: ['--transport-auth', 'transition'],
    env: { NORTHLIGHT_INTERNAL_TOKEN: TOKEN },
  });
  nodes.push(node);
  expect(node.output.join('')).toContain('transport authentication in transition');
  const members = ['pg0-s8', 'pg0-x2', 'pg0-x3', 'pg0-x4', 'pg0-x5', 'pg0-x6'];
  const created = await call(node, 'POST', '/v1/segments', {
    token: TOKEN,
    body: {
      pgId: 0,
      segmentId: 'pg0-s8',
      membershipEpoch: '1',
      members,
      memberNodes: ['s8', 'x2', 'x3', 'x4', 'x5', 'x6'],
    },
  });
  expect(created.status, created.text).toBe(201);
  const directory = new StaticPeerDirectory([[asNodeId('s8'), { host: '127.0.0.1', port: node.port }]]);
  const older = await client('engine-old', directory, undefined);
  older.endpoint.send(
    asNodeId('s8'),
    encodeMessage({
      type: 'segment-state-request',
      requestId: 1n,
      pgId: asPgId(0),
      segmentId: asSegmentId('pg0-s8'),
      volumeEpoch: asEpoch(1n),
    }),
  );
  await until(() => older.replies.has(1n), 'the unauthenticated peer to be answered');
  const metrics = (await call(node, 'GET', '/metrics')).text;
  expect(metric(metrics, 'northlight_storage_transport_unauthenticated_connections_total')).toBe(1);
  // The admin API still takes the token, and its status shows the transition and what came through it.
  expect((await call(node, 'GET', '/v1/status')).status).toBe(401);
  expect((await call(node, 'GET', '/v1/status', { token: TOKEN })).json.transport).toEqual({
    authentication: 'transition',
    authFailures: 0,
    unauthenticatedConnections: 1,
  });
});

it('says at start that a node without a token is open to anyone', async () => {
  const node = await startStorageProcess('s9', 'a');
  nodes.push(node);
  expect(node.output.join('')).toContain('no internal token: the admin API and the transport answer anyone');
  const status = await call(node, 'GET', '/v1/status');
  expect(status.status).toBe(200);
  expect((status.json.transport as { authentication: string }).authentication).toBe('off');
});
