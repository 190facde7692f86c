// Proves the admin HTTP API, through fastify's `inject` and once over a real socket with `fetch`:
// /healthz answers while the process runs; /readyz flips from 503 (with the reason) to 200 when the
// readiness callback does; /v1/status serves the status with u64s as decimal strings and extra fields
// passed through; /v1/segments/:id serves one segment, a typed 404 for an unknown one and a typed 400
// for a malformed id; NorthlightErrors keep their code with a mapped HTTP status; a bug answers a bare
// 500 NL_INTERNAL with no stack trace (the stack goes to the log); PUT …/membership passes a valid
// membership to the lifecycle and answers 200 { changed }, 409 for a stale epoch, 404 for an unknown
// segment and 400 for anything malformed; /metrics serves the Prometheus text
// with the storage metric names. With the cluster's internal token every route but the probes and
// /metrics answers 401 NL_AUTH_FAILED without it (a wrong one, Basic, none; unknown routes too, before
// any body is read), and a peer snapshot carries it. A fuzz run of random methods, paths, queries, headers and bodies never
// gets a 5xx, and every error it gets is the typed JSON body.
import { asEpoch, asLsn, NorthlightError } from '@northlight/protocol';
import { lazySchemaController } from '@northlight/protocol/io';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingLogger } from '../../protocol/test/io-helpers.js';
import {
  type AdminServerOptions,
  buildAdminServer,
  type SegmentLifecycle,
  SNAPSHOT_SEND_DEADLINE_MS,
  type StorageStatus,
  snapshotSendAllowedMs,
  startAdminServer,
} from '../src/io/admin-server.js';
import { PrometheusStorageMetrics } from '../src/io/metrics.js';
import { openSnapshot } from '../src/io/snapshot-client.js';

const status: StorageStatus = {
  nodeId: 'storage-a',
  zone: 'zone-a',
  ready: true,
  segments: [
    {
      pgId: 3,
      segmentId: 'pg3-seg1',
      state: 'serving',
      scl: asLsn(18_446_744_073_709_551_615n),
      durableHint: asLsn(1_000n),
      volumeEpoch: asEpoch(7n),
      membershipEpoch: asEpoch(2n),
      diskBytes: 65_536,
      heat: 0.25,
      truncations: [{ volumeEpoch: 6n, fromExclusive: 900n, toInclusive: 950n }],
    } as StorageStatus['segments'][number],
    {
      pgId: 4,
      segmentId: 'pg4-seg1',
      state: 'hydrating',
      scl: '0',
      durableHint: '0',
      volumeEpoch: '7',
      membershipEpoch: '3',
      diskBytes: 0,
    },
  ],
};

/** A lifecycle whose every call fails: a test overrides the calls it expects. */
const notCalled = () => Promise.reject(new Error('not called'));
const UNCALLED_LIFECYCLE: SegmentLifecycle = {
  create: notCalled,
  drop: notCalled,
  restore: notCalled,
  backupNow: notCalled,
  seal: notCalled,
  snapshot: notCalled,
  hydrate: notCalled,
  updateMembership: notCalled,
};

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function build(overrides: Partial<AdminServerOptions> = {}) {
  const logger = new RecordingLogger();
  const metrics = new PrometheusStorageMetrics({ defaultMetrics: false });
  const app = await buildAdminServer({
    logger,
    readiness: () => true,
    statusProvider: () => status,
    metrics,
    ...overrides,
  });
  apps.push(app);
  return { app, logger, metrics };
}

function expectTypedError(body: unknown, code: string): void {
  expect(body).toEqual({ code, message: expect.any(String), action: expect.any(String) });
}

describe('admin server', () => {
  it('answers /healthz', async () => {
    const { app } = await build();
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'alive' });
  });

  it('flips /readyz from 503 with the reason to 200', async () => {
    let ready = false;
    const { app } = await build({
      readiness: () => (ready ? true : { ready: false, reason: 'recovering pg3-seg1' }),
    });
    const before = await app.inject({ method: 'GET', url: '/readyz' });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ status: 'not-ready', reason: 'recovering pg3-seg1' });
    ready = true;
    const after = await app.inject({ method: 'GET', url: '/readyz' });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: 'ready' });
  });

  it('serves /v1/status with u64s as decimal strings and extra fields passed through', async () => {
    const { app } = await build();
    const response = await app.inject({ method: 'GET', url: '/v1/status' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json()).toEqual({
      nodeId: 'storage-a',
      zone: 'zone-a',
      ready: true,
      segments: [
        {
          pgId: 3,
          segmentId: 'pg3-seg1',
          state: 'serving',
          scl: '18446744073709551615',
          durableHint: '1000',
          volumeEpoch: '7',
          membershipEpoch: '2',
          diskBytes: 65_536,
          heat: 0.25,
          truncations: [{ volumeEpoch: '6', fromExclusive: '900', toInclusive: '950' }],
        },
        {
          pgId: 4,
          segmentId: 'pg4-seg1',
          state: 'hydrating',
          scl: '0',
          durableHint: '0',
          volumeEpoch: '7',
          membershipEpoch: '3',
          diskBytes: 0,
        },
      ],
    });
  });

  it('compiles a route’s schemas on its first request, not at startup, and every schema is valid JSON Schema', async () => {
    const schemas = lazySchemaController();
    const { app } = await build({ lifecycle: UNCALLED_LIFECYCLE, schemas });
    await app.ready();
    expect(schemas.compiled).toEqual({ validators: 0, serializers: 0 });
    // A malformed body is refused by its route's schema as before: compiled on this first call.
    const refused = await app.inject({
      method: 'PUT',
      url: '/v1/segments/4/pg4-seg1/membership',
      payload: { membershipEpoch: 'seven' },
    });
    expect(refused.statusCode).toBe(400);
    expectTypedError(refused.json(), 'NL_REQUEST_INVALID');
    expect(refused.json().message).toMatch(/membershipEpoch|members/);
    expect(schemas.compiled.validators).toBeGreaterThan(0);
    const afterFirst = schemas.compiled.validators;
    await app.inject({ method: 'PUT', url: '/v1/segments/4/pg4-seg1/membership', payload: {} });
    expect(schemas.compiled.validators, 'compiled once').toBe(afterFirst);
    // What fastify would have done at startup, with ajv's meta-schema check: every route's schemas.
    expect(() => schemas.compileAllStrictly()).not.toThrow();
  });

  it('the strict check names a route whose schema is not valid JSON Schema', async () => {
    const schemas = lazySchemaController();
    const app = Fastify({ logger: false, schemaController: schemas });
    apps.push(app);
    app.post(
      '/bad',
      { schema: { body: { type: 'object', properties: { n: { type: 'strng' } } } } },
      async () => ({}),
    );
    await app.ready();
    expect(() => schemas.compileAllStrictly()).toThrow(/POST \/bad body: .*type/);
  });

  it('serves one segment, a typed 404 for an unknown one and a typed 400 for a malformed id', async () => {
    const { app } = await build();
    const found = await app.inject({ method: 'GET', url: '/v1/segments/pg4-seg1' });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ segmentId: 'pg4-seg1', state: 'hydrating', membershipEpoch: '3' });
    const unknown = await app.inject({ method: 'GET', url: '/v1/segments/pg9-seg9' });
    expect(unknown.statusCode).toBe(404);
    expectTypedError(unknown.json(), 'NL_REQUEST_INVALID');
    expect(unknown.json().message).toBe('this node holds no segment pg9-seg9');
    const malformed = await app.inject({ method: 'GET', url: '/v1/segments/Not%20An%20Id' });
    expect(malformed.statusCode).toBe(400);
    expectTypedError(malformed.json(), 'NL_REQUEST_INVALID');
    const noRoute = await app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(noRoute.statusCode).toBe(404);
    expectTypedError(noRoute.json(), 'NL_REQUEST_INVALID');
  });

  it('records a membership through PUT /v1/segments/:pgId/:segmentId/membership, with typed refusals', async () => {
    const calls: unknown[] = [];
    const lifecycle: SegmentLifecycle = {
      ...UNCALLED_LIFECYCLE,
      updateMembership: async (pgId, segmentId, membership) => {
        calls.push({ pgId, segmentId, ...membership });
        if (segmentId === 'pg3-gone') return { found: false };
        if (membership.membershipEpoch < 2n)
          throw new NorthlightError(
            'NL_MEMBERSHIP_STALE',
            `membership epoch ${membership.membershipEpoch} < 2`,
          );
        if (!membership.members.includes(segmentId))
          throw new NorthlightError(
            'NL_REQUEST_INVALID',
            `members do not include the segment itself (${segmentId})`,
          );
        return { found: true, changed: membership.membershipEpoch > 2n };
      },
    };
    const { app } = await build({ lifecycle });
    const members = ['pg3-seg1', 'pg3-seg2', 'pg3-seg3', 'pg3-seg4', 'pg3-seg5', 'pg3-seg6', 'pg3-seg7'];
    const memberNodes = members.map((member) => member.replace('pg3-seg', 'n'));
    const put = (segmentId: string, payload: unknown) =>
      app.inject({
        method: 'PUT',
        url: `/v1/segments/3/${segmentId}/membership`,
        payload: payload as object,
      });
    const changed = await put('pg3-seg1', { membershipEpoch: '3', members, memberNodes });
    expect([changed.statusCode, changed.json()]).toEqual([200, { changed: true }]);
    expect(calls[0]).toEqual({ pgId: 3, segmentId: 'pg3-seg1', membershipEpoch: 3n, members, memberNodes });
    const same = await put('pg3-seg1', { membershipEpoch: '2', members, memberNodes });
    expect([same.statusCode, same.json()]).toEqual([200, { changed: false }]);
    const stale = await put('pg3-seg1', { membershipEpoch: '1', members, memberNodes });
    expect(stale.statusCode).toBe(409);
    expectTypedError(stale.json(), 'NL_MEMBERSHIP_STALE');
    const unknown = await put('pg3-gone', { membershipEpoch: '3', members, memberNodes });
    expect(unknown.statusCode).toBe(404);
    expectTypedError(unknown.json(), 'NL_REQUEST_INVALID');
    expect(unknown.json().message).toBe('this node holds no segment pg3-gone of PG 3');
    const notMember = await put('pg3-seg9', { membershipEpoch: '3', members, memberNodes });
    expect(notMember.statusCode).toBe(400);
    expectTypedError(notMember.json(), 'NL_REQUEST_INVALID');
    const callsBefore = calls.length;
    for (const payload of [
      { membershipEpoch: '3', members },
      { membershipEpoch: '03', members, memberNodes },
      { membershipEpoch: '3', members: [], memberNodes },
      { membershipEpoch: '3', members: ['Bad'], memberNodes },
      { membershipEpoch: '18446744073709551616', members, memberNodes },
    ]) {
      const refused = await put('pg3-seg1', payload);
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expectTypedError(refused.json(), 'NL_REQUEST_INVALID');
    }
    const badPg = await app.inject({
      method: 'PUT',
      url: '/v1/segments/x/pg3-seg1/membership',
      payload: { membershipEpoch: '3', members, memberNodes },
    });
    expect(badPg.statusCode).toBe(400);
    expect(calls.length).toBe(callsBefore); // nothing invalid reached the lifecycle
  });

  it('gives a paced snapshot the time its pace needs, and cuts one far slower than it', () => {
    expect(snapshotSendAllowedMs(0, 0)).toBe(SNAPSHOT_SEND_DEADLINE_MS);
    expect(snapshotSendAllowedMs(64 * 1024 ** 3, 0)).toBe(SNAPSHOT_SEND_DEADLINE_MS);
    // 64 GiB at 32 MiB/s: 2,048 s; allowed while at least half that pace is kept.
    expect(snapshotSendAllowedMs(64 * 1024 ** 3, 32 * 1024 ** 2)).toBe(4_096_000);
    expect(snapshotSendAllowedMs(1024 ** 2, 32 * 1024 ** 2)).toBe(SNAPSHOT_SEND_DEADLINE_MS);
  });

  it('streams a snapshot over a real socket, refuses one it cannot take as typed JSON, and checks hydrate bodies', async () => {
    const hydrations: unknown[] = [];
    const lifecycle: SegmentLifecycle = {
      ...UNCALLED_LIFECYCLE,
      snapshot: async (_pgId, segmentId, sink) => {
        if (segmentId === 'pg3-gone')
          throw new NorthlightError(
            'NL_REQUEST_INVALID',
            'this node holds no active segment pg3-gone of PG 3',
          );
        // 3 parts of 1 MiB: more than the stream's buffer, so the sink's back-pressure is exercised.
        for (let part = 0; part < 3; part++) await sink(new Uint8Array(1024 * 1024).fill(part + 1));
        if (segmentId === 'pg3-cut') throw new NorthlightError('NL_DECODE_CHECKSUM', 'a record rotted');
        return { parts: 3 };
      },
      hydrate: async (pgId, segmentId, source, bytesPerSecond) => {
        hydrations.push({
          pgId,
          segmentId,
          sourceUrl: source.url,
          sourceSegmentId: source.segmentId,
          ...(bytesPerSecond === undefined ? {} : { bytesPerSecond }),
        });
        return { pages: 1, scl: 5n };
      },
    };
    const logger = new RecordingLogger();
    const server = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      logger,
      readiness: () => true,
      statusProvider: () => status,
      metrics: new PrometheusStorageMetrics(),
      lifecycle,
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const streamed = await fetch(`${base}/v1/segments/3/pg3-seg1/snapshot`);
      expect(streamed.status).toBe(200);
      expect(streamed.headers.get('content-type')).toBe('application/vnd.northlight.segment-snapshot');
      const body = new Uint8Array(await streamed.arrayBuffer());
      expect(body.length).toBe(3 * 1024 * 1024);
      expect([body[0], body[1024 * 1024], body.at(-1)]).toEqual([1, 2, 3]);
      // The receiver's client (node:http): the same bytes; a refusal keeps its code; no server is typed.
      let received = 0;
      for await (const slice of await openSnapshot(base, 3, 'pg3-seg1')) received += slice.length;
      expect(received).toBe(3 * 1024 * 1024);
      // A paced receiver says its pace; the source takes it (and only a valid one).
      received = 0;
      for await (const slice of await openSnapshot(base, 3, 'pg3-seg1', { bytesPerSecond: 1024 * 1024 }))
        received += slice.length;
      expect(received).toBe(3 * 1024 * 1024);
      for (const pace of ['1', '-5', 'fast', '1e13']) {
        const badPace = await fetch(`${base}/v1/segments/3/pg3-seg1/snapshot?bytesPerSecond=${pace}`);
        expect(badPace.status, pace).toBe(400);
        expectTypedError(await badPace.json(), 'NL_REQUEST_INVALID');
      }
      await expect(openSnapshot(base, 3, 'pg3-gone')).rejects.toMatchObject({ code: 'NL_REQUEST_INVALID' });
      await expect(openSnapshot('http://127.0.0.1:1', 3, 'pg3-seg1')).rejects.toMatchObject({
        code: 'NL_NETWORK_UNREACHABLE',
      });
      const refused = await fetch(`${base}/v1/segments/3/pg3-gone/snapshot`);
      expect(refused.status).toBe(400);
      expectTypedError(await refused.json(), 'NL_REQUEST_INVALID');
      // A failure after the first part cuts the stream: the receiver sees an incomplete body.
      const cut = await fetch(`${base}/v1/segments/3/pg3-cut/snapshot`);
      await expect(cut.arrayBuffer()).rejects.toThrow();

      const hydrate = (payload: unknown) =>
        fetch(`${base}/v1/segments/3/pg3-seg7/hydrate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
      const ok = await hydrate({ sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'pg3-seg1' });
      expect([ok.status, await ok.json()]).toEqual([200, { pages: 1, scl: '5' }]);
      const limited = await hydrate({
        sourceUrl: 'http://127.0.0.1:9000',
        sourceSegmentId: 'pg3-seg1',
        bytesPerSecond: 32 * 1024 * 1024,
      });
      expect(limited.status).toBe(200);
      const lifted = await hydrate({
        sourceUrl: 'http://127.0.0.1:9000',
        sourceSegmentId: 'pg3-seg1',
        bytesPerSecond: 0,
      });
      expect(lifted.status).toBe(200);
      for (const payload of [
        { sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'pg3-seg1', bytesPerSecond: 1000 },
        { sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'pg3-seg1', bytesPerSecond: -1 },
        { sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'pg3-seg1', bytesPerSecond: 1.5e6 + 0.5 },
        { sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'pg3-seg1', bytesPerSecond: '32MiB' },
        { sourceUrl: 'http://127.0.0.1:9000/v1/elsewhere', sourceSegmentId: 'pg3-seg1' },
        { sourceUrl: 'file:///etc/passwd', sourceSegmentId: 'pg3-seg1' },
        { sourceUrl: 'http://127.0.0.1:9000', sourceSegmentId: 'Bad' },
        { sourceUrl: 'http://127.0.0.1:9000' },
      ]) {
        const bad = await hydrate(payload);
        expect(bad.status, JSON.stringify(payload)).toBe(400);
        expectTypedError(await bad.json(), 'NL_REQUEST_INVALID');
      }
      const first = {
        pgId: 3,
        segmentId: 'pg3-seg7',
        sourceUrl: 'http://127.0.0.1:9000',
        sourceSegmentId: 'pg3-seg1',
      };
      expect(hydrations).toEqual([
        first,
        { ...first, bytesPerSecond: 32 * 1024 * 1024 },
        { ...first, bytesPerSecond: 0 },
      ]);
    } finally {
      await server.close();
    }
  });

  it('refuses a body over the limit with a typed 413, and never echoes more than a bounded message', async () => {
    const { app } = await build({ bodyLimitBytes: 1_024 });
    const large = await app.inject({
      method: 'DELETE',
      url: '/v1/status',
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(5_000),
    });
    expect(large.statusCode).toBe(413);
    expectTypedError(large.json(), 'NL_REQUEST_INVALID');
    const longUrl = await app.inject({ method: 'GET', url: `/${'a'.repeat(5_000)}` });
    expect(longUrl.statusCode).toBe(404);
    expect(longUrl.json().message.length).toBeLessThanOrEqual(301);
  });

  it('maps a NorthlightError to its code and status, and a bug to a bare 500 with the stack in the log only', async () => {
    let failure: Error = new NorthlightError('NL_DISK_IO', 'read /data/pg3-seg1.log: EIO');
    const { app, logger } = await build({
      statusProvider: () => {
        throw failure;
      },
    });
    const typed = await app.inject({ method: 'GET', url: '/v1/status' });
    expect(typed.statusCode).toBe(503);
    expect(typed.json()).toEqual({
      code: 'NL_DISK_IO',
      message: 'read /data/pg3-seg1.log: EIO',
      action: expect.stringContaining('disk'),
    });
    failure = new TypeError('cannot read properties of undefined');
    const bug = await app.inject({ method: 'GET', url: '/v1/segments/pg3-seg1' });
    expect(bug.statusCode).toBe(500);
    expectTypedError(bug.json(), 'NL_INTERNAL');
    expect(bug.body).not.toContain('cannot read');
    expect(bug.body).not.toContain('.ts:');
    const logged = logger.at('error');
    expect(logged).toHaveLength(1);
    expect(String(logged[0]!.fields.stack)).toContain('TypeError');
  });

  it('serves the metrics in the Prometheus text format', async () => {
    const { app, metrics } = await build();
    metrics.addAppendedBytes(4_096);
    metrics.observeAppendLatencyMs(0.3);
    metrics.setSegmentCounts({ serving: 1, hydrating: 1 });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain('northlight_storage_appended_bytes_total 4096');
    expect(response.body).toContain('northlight_storage_append_latency_seconds_bucket{le="0.0005"} 1');
    expect(response.body).toContain('northlight_storage_segments{state="hydrating"} 1');
  });

  it('answers the same over a real socket (listen on port 0, fetch)', async () => {
    const logger = new RecordingLogger();
    const metrics = new PrometheusStorageMetrics();
    const server = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      logger,
      readiness: () => false,
      statusProvider: () => status,
      metrics,
    });
    apps.push(server.app);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'alive' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not-ready', reason: 'the node is not ready yet' });
    const body = (await (await fetch(`${server.url}/v1/status`)).json()) as { segments: unknown[] };
    expect(body.segments).toHaveLength(2);
    const scrape = await fetch(`${server.url}/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    expect(text).toContain('# TYPE northlight_storage_fsyncs_total counter');
    expect(text).toContain('northlight_storage_process_cpu_seconds_total');
    const missing = await fetch(`${server.url}/v1/segments/pg9-seg9`);
    expect(missing.status).toBe(404);
    expectTypedError(await missing.json(), 'NL_REQUEST_INVALID');
  });

  it('refuses a port already in use with NL_CONFIG_INVALID', async () => {
    const options = {
      host: '127.0.0.1',
      logger: new RecordingLogger(),
      readiness: () => true,
      statusProvider: () => status,
      metrics: new PrometheusStorageMetrics({ defaultMetrics: false }),
    };
    const first = await startAdminServer({ ...options, port: 0 });
    apps.push(first.app);
    await expect(startAdminServer({ ...options, port: first.port })).rejects.toMatchObject({
      code: 'NL_CONFIG_INVALID',
    });
  });

  it('with an internal token, takes it on every route but the probes and /metrics, checked before the body', async () => {
    const token = 'a-cluster-token-0123456789';
    const refusedFrom: Array<string | undefined> = [];
    const drops: string[] = [];
    const { app } = await build({
      internalToken: token,
      authRefused: (from) => refusedFrom.push(from),
      lifecycle: {
        ...UNCALLED_LIFECYCLE,
        drop: async (_pgId, segmentId) => {
          drops.push(segmentId);
          return { dropped: true };
        },
      },
    });
    for (const url of ['/healthz', '/readyz', '/metrics', '/metrics?x=1'])
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    const guarded: Array<{ method: 'GET' | 'POST' | 'DELETE' | 'PUT'; url: string; payload?: string }> = [
      { method: 'GET', url: '/v1/status' },
      { method: 'GET', url: '/v1/segments/pg3-seg1' },
      { method: 'GET', url: '/v1/segments/3/pg3-seg1/snapshot' },
      { method: 'DELETE', url: '/v1/segments/3/pg3-seg1' },
      { method: 'POST', url: '/v1/backup' },
      { method: 'PUT', url: '/v1/segments/3/pg3-seg1/membership', payload: 'x'.repeat(100_000) },
      { method: 'GET', url: '/no/such/route' },
      { method: 'GET', url: '/healthz/../v1/status' },
    ];
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      { authorization: `Bearer ${token}x` },
    ]) {
      for (const request of guarded) {
        const response = await app.inject({ ...request, headers });
        const what = `${request.method} ${request.url} ${JSON.stringify(headers)}`;
        expect(response.statusCode, what).toBe(401);
        expect(response.headers['www-authenticate'], what).toBe('Bearer realm="northlight-internal"');
        expectTypedError(response.json(), 'NL_AUTH_FAILED');
        expect(response.body, what).not.toContain(token);
      }
    }
    expect(drops).toEqual([]);
    expect(refusedFrom.length).toBe(4 * guarded.length);
    const authorized = { authorization: `Bearer ${token}` };
    expect((await app.inject({ method: 'GET', url: '/v1/status', headers: authorized })).statusCode).toBe(
      200,
    );
    const dropped = await app.inject({
      method: 'DELETE',
      url: '/v1/segments/3/pg3-seg1',
      headers: authorized,
    });
    expect(dropped.statusCode).toBe(200);
    expect(drops).toEqual(['pg3-seg1']);
  });

  it('hands the token to a peer snapshot source, and a source that wants one refuses a receiver without it', async () => {
    const token = 'a-cluster-token-0123456789';
    const server = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      logger: new RecordingLogger(),
      readiness: () => true,
      statusProvider: () => status,
      metrics: new PrometheusStorageMetrics({ defaultMetrics: false }),
      internalToken: token,
      lifecycle: {
        ...UNCALLED_LIFECYCLE,
        snapshot: async (_pgId, _segmentId, sink) => {
          await sink(new Uint8Array(1000).fill(7));
          return { parts: 1 };
        },
      },
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      let received = 0;
      for await (const slice of await openSnapshot(base, 3, 'pg3-seg1', { internalToken: token }))
        received += slice.length;
      expect(received).toBe(1000);
      await expect(openSnapshot(base, 3, 'pg3-seg1')).rejects.toMatchObject({ code: 'NL_AUTH_FAILED' });
      await expect(
        openSnapshot(base, 3, 'pg3-seg1', { internalToken: 'another-token-0123456789' }),
      ).rejects.toMatchObject({ code: 'NL_AUTH_FAILED' });
    } finally {
      await server.close();
    }
  });

  it('never answers a random request with a 5xx, and every error is the typed JSON body', async () => {
    const { app, logger } = await build({ bodyLimitBytes: 1_024 });
    const segment = fc.oneof(
      fc.constantFrom(
        'healthz',
        'readyz',
        'metrics',
        'v1',
        'status',
        'segments',
        'pg3-seg1',
        '',
        '..',
        '%',
        '%zz',
        '%2F',
        '?',
        '#',
        ':id',
        '*',
      ),
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 8 }).map((text) => encodeURIComponent(text)),
      fc.nat({ max: 1 << 20 }).map(String),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      path: fc.array(segment, { minLength: 0, maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
      query: fc.option(
        fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
      ),
      contentType: fc.option(
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'bogus/type'),
      ),
      body: fc.option(
        fc.oneof(
          fc.json().map((json) => json.slice(0, 2_000)),
          fc.string({ maxLength: 3_000 }),
          fc.constant('{"__proto__": {"polluted": true}}'),
        ),
      ),
    });
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, query, contentType, body }) => {
        const search = query === null ? '' : `?${new URLSearchParams(query).toString()}`;
        const withBody = body !== null && method !== 'GET' && method !== 'HEAD';
        const response = await app.inject({
          method: method as 'GET',
          url: `${path}${search}`,
          ...(contentType === null ? {} : { headers: { 'content-type': contentType } }),
          ...(withBody ? { payload: body } : {}),
        });
        expect(response.statusCode, `${method} ${path}${search}`).toBeLessThan(500);
        if (response.statusCode >= 400 && method !== 'HEAD') {
          const parsed = response.json() as Record<string, unknown>;
          expect(Object.keys(parsed).sort()).toEqual(['action', 'code', 'message']);
          expect(parsed.code).toMatch(/^NL_[A-Z_]+$/);
          expect(JSON.stringify(parsed)).not.toMatch(/\n\s+at /);
        }
      }),
      { numRuns: 400, seed: 20_261_125 },
    );
    expect(logger.at('error')).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
