/**
 * The HTTP API's answers to malformed requests (src/io/sql-server.ts), on a real fastify server with
 * a stub engine: an oversized body is told the limit and how to raise it, a body that is not JSON is
 * told to send application/json, a client that sends `Expect: 100-continue` with an oversized body
 * gets the 413 at once instead of a 100 Continue, and a SQL error with a known remedy carries it as
 * the action. The same routes against a real engine process are in process.test.ts.
 */
import { request as httpRequest } from 'node:http';
import { lazySchemaController } from '@northlight/protocol/io';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineReply } from '../src/engine.js';
import { registerMembershipRoute } from '../src/io/membership-http.js';
import { EngineMetrics } from '../src/io/metrics.js';
import { registerReplicationRoutes } from '../src/io/replication-http.js';
import { type SqlServerOptions, startSqlServer } from '../src/io/sql-server.js';

const BODY_LIMIT_BYTES = 1_000;

interface Answer {
  readonly status: number;
  readonly sawContinue: boolean;
  readonly body: { code: string; sqlstate: string; message: string; action: string };
}

/** One request; with `expectContinue` the body is sent only after a 100 Continue, as curl does. */
function post(
  port: number,
  headers: Record<string, string>,
  body: string,
  expectContinue = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sawContinue = false;
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/sql',
        headers: {
          ...headers,
          'content-length': String(Buffer.byteLength(body)),
          ...(expectContinue ? { expect: '100-continue' } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            sawContinue,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    if (expectContinue) {
      outgoing.on('continue', () => {
        sawContinue = true;
        outgoing.end(body);
      });
    } else {
      outgoing.end(body);
    }
  });
}

/** A server on a free port with open auth, whose every request `execute` answers. */
function serverOptions(execute: SqlServerOptions['execute']): SqlServerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    logger: { log: () => {} },
    bodyLimitBytes: BODY_LIMIT_BYTES,
    requestTimeoutMs: 10_000,
    auth: { sql: undefined, internalToken: undefined },
    statementTimeoutMs: 0,
    execute,
    readiness: () => ({ ready: true }),
    status: () => ({}),
    metrics: new EngineMetrics({ kernel: () => undefined, recoverySeconds: () => undefined } as never),
    vdl: () => undefined,
  };
}

describe('the HTTP API on malformed requests', () => {
  let app: FastifyInstance;
  let port: number;
  let reply: EngineReply = { ok: true, results: [], visibleThroughSeq: 0 } as unknown as EngineReply;

  beforeAll(async () => {
    ({ app, port } = await startSqlServer(serverOptions(async () => reply)));
  });

  afterAll(async () => {
    await app?.close();
  });

  const json = { 'content-type': 'application/json' };
  const oversized = JSON.stringify({ sql: `SELECT '${'x'.repeat(BODY_LIMIT_BYTES * 5)}'` });

  it('names the body limit, and how to raise it, in a 413', async () => {
    const answer = await post(port, json, oversized);
    expect(answer.status).toBe(413);
    expect(answer.body.code).toBe('NL_REQUEST_INVALID');
    expect(answer.body.message).toContain(`limit of ${BODY_LIMIT_BYTES} bytes`);
    expect(answer.body.message).toContain(`(${Buffer.byteLength(oversized)} bytes)`);
    expect(answer.body.action).toContain('--request-body-limit-bytes');
  });

  it('answers Expect: 100-continue with an oversized body by the 413 at once, not 100 Continue', async () => {
    const answer = await post(port, json, oversized, true);
    expect(answer.sawContinue).toBe(false);
    expect(answer.status).toBe(413);
    expect(answer.body.message).toContain(`limit of ${BODY_LIMIT_BYTES} bytes`);
    // A body within the limit still gets its 100 Continue, then runs.
    const small = await post(port, json, '{"sql":"SELECT 1"}', true);
    expect(small).toMatchObject({ sawContinue: true, status: 200 });
  });

  it('tells a body that is not JSON to send application/json (415)', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const headers: Record<string, string> =
        contentType === undefined ? {} : { 'content-type': contentType };
      const answer = await post(port, headers, '{"sql":"SELECT 1"}');
      expect(answer.status, String(contentType)).toBe(415);
      expect(answer.body.code).toBe('NL_REQUEST_INVALID');
      expect(answer.body.message).toContain(contentType === undefined ? 'no content-type' : contentType);
      expect(answer.body.action).toContain('application/json');
    }
  });

  it("gives a SQL error's hint as its action", async () => {
    reply = {
      ok: false,
      error: {
        code: 'SQLITE_ERROR',
        sqlstate: '42601',
        message: 'unrecognized token: ":"',
        hint: 'write CAST',
      },
      visibleThroughSeq: 0,
    } as unknown as EngineReply;
    const answer = await post(port, json, `{"sql":"SELECT '42'::int"}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ sqlstate: '42601', action: 'write CAST' });
  });

  it('answers a request that found the SQL writer busy past its lock wait with 503: nothing was done, retry', async () => {
    reply = {
      ok: false,
      error: {
        code: 'NORTHLIGHT_LOCK_TIMEOUT',
        sqlstate: '55P03',
        message: 'canceling statement due to lock timeout: waited 30000 ms for the SQL writer',
      },
      visibleThroughSeq: 0,
    } as unknown as EngineReply;
    const answer = await post(port, json, '{"sql":"SELECT 1"}');
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({
      sqlstate: '55P03',
      action: expect.stringMatching(/^nothing was done/),
    });
  });
});

describe('the HTTP API’s schemas', () => {
  it('compile on first use, not at startup, and every one (the writer’s routes too) is valid JSON Schema', async () => {
    const schemas = lazySchemaController();
    const { app, port } = await startSqlServer({
      ...serverOptions(
        async () => ({ ok: true, results: [], visibleThroughSeq: 0 }) as unknown as EngineReply,
      ),
      // Only registered here, never called: their handlers' dependencies are not needed.
      routes: (routes) => {
        registerReplicationRoutes(routes, {} as never);
        registerMembershipRoute(routes, { driver: {} as never, storageNodes: [], logger: { log: () => {} } });
      },
      schemas,
    });
    try {
      expect(schemas.compiled).toEqual({ validators: 0, serializers: 0 });
      const json = { 'content-type': 'application/json' };
      const wrongType = await post(port, json, JSON.stringify({ sql: 'SELECT 1', valueFormat: 'fancy' }));
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.code).toBe('NL_REQUEST_INVALID');
      expect(schemas.compiled.validators).toBe(1);
      expect((await post(port, json, '{"sql":"SELECT 1"}')).status).toBe(200);
      expect(schemas.compiled.validators, 'compiled once').toBe(1);
      expect(() => schemas.compileAllStrictly()).not.toThrow();
    } finally {
      await app.close();
    }
  });
});
