/**
 * The engine's HTTP API on fastify: SQL, probes, status and metrics.
 *
 *   POST /v1/sql   { "statements": [{ "sql": "…", "params": [ … ] }, …], "readOnly": false }
 *                  or the shorthand { "sql": "…", "params": [ … ] }
 *                  Runs every statement as ONE transaction (all or nothing) and answers once what it
 *                  read and wrote is durable: 200 { "results": [{ "columns", "rows", "changes" }],
 *                  "commitLsn": "…" (writes), "vdl": "…" }.
 *   GET /healthz   200 while the process runs
 *   GET /readyz    200 once the volume is recovered and the kernel open, else 503 with the reason
 *   GET /v1/status the driver's and the kernel's state (LSNs as decimal strings)
 *   GET /metrics   Prometheus text
 *
 * Credentials (src/io/http-auth.ts): /v1/sql takes the PostgreSQL user and password as HTTP Basic
 * (open with --pg-auth trust); the other /v1/ routes take the internal token as a bearer token (open
 * without --internal-token); the probes and /metrics are open. A refusal is 401 NL_AUTH_FAILED.
 *
 * Errors have one shape: { "code", "sqlstate", "message", "action" }. SQL errors carry the SQLSTATE
 * the kernel mapped (42601 syntax, 42P01 unknown table, 23505 unique violation…) with HTTP 400, or
 * 413 for 54000 (too large); storage-side failures are 503 (57P03: not accepting writes, or write
 * quorum lost, outcome unknown) or 504 (a page read timed out). A request that fails its schema, an
 * unknown route, an oversized (413, naming the limit) or malformed body, or one that is not JSON (415)
 * is a 4xx NL_REQUEST_INVALID. Anything else is a bug:
 * 500 without detail to the client, the stack to the log. Values: INTEGER as a JSON number when safe,
 * else a decimal string; REAL number; TEXT string; BLOB base64 string; NULL null.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AssertionError, isNorthlightError, type Logger } from '@northlight/protocol';
import { type LazySchemaController, lazySchemaController } from '@northlight/protocol/io';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { EngineReply } from '../engine.js';
import type { ExecuteRequest, SqlParam, TypedValue } from '../kernel/messages.js';
import { type HttpAuthConfig, installHttpAuth } from './http-auth.js';
import type { EngineMetrics } from './metrics.js';

/** Refusals are logged at most once per this interval (with how many there were), not one line each. */
const AUTH_REFUSAL_LOG_INTERVAL_MS = 10_000;

export interface SqlServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  /** Who may call which route (src/io/http-auth.ts). */
  readonly auth: HttpAuthConfig;
  /** A request running longer is stopped (57014, HTTP 408); 0 = never. A body's `statementTimeoutMs` overrides it. */
  readonly statementTimeoutMs: number;
  /** Runs a request; `signal` aborts it (timeout, client gone), stopping even a running statement. */
  readonly execute: (request: ExecuteRequest, signal?: AbortSignal) => Promise<EngineReply>;
  readonly readiness: () => { ready: true } | { ready: false; reason: string };
  readonly status: () => Record<string, unknown>;
  readonly metrics: EngineMetrics;
  readonly vdl: () => bigint | undefined;
  /** More routes on the same server (the writer's replication endpoints). */
  readonly routes?: (app: FastifyInstance) => void;
  /** The routes' schema compilers (protocol io/lazy-schemas.ts); tests pass one to inspect it. */
  readonly schemas?: LazySchemaController;
}

interface ErrorBody {
  readonly code: string;
  readonly sqlstate: string;
  readonly message: string;
  readonly action: string;
}

const paramSchema = { type: ['string', 'number', 'boolean', 'null'] } as const;
const statementSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sql'],
  properties: {
    sql: { type: 'string', minLength: 1 },
    params: { type: 'array', items: paramSchema, maxItems: 32_766 },
  },
} as const;
const sqlBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    statements: { type: 'array', items: statementSchema, minItems: 1, maxItems: 10_000 },
    sql: { type: 'string', minLength: 1 },
    params: { type: 'array', items: paramSchema, maxItems: 32_766 },
    readOnly: { type: 'boolean' },
    statementTimeoutMs: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    valueFormat: { type: 'string', enum: ['plain', 'tagged'] },
  },
} as const;

interface SqlBody {
  readonly statements?: { sql: string; params?: SqlParam[] }[];
  readonly sql?: string;
  readonly params?: SqlParam[];
  readonly readOnly?: boolean;
  readonly statementTimeoutMs?: number;
  /**
   * `plain` (the default): a BLOB is a base64 string and an INTEGER beyond 2^53 a decimal string, so
   * neither can be told from TEXT. `tagged`: those two come as `{"bytes": "<hex>"}` and
   * `{"integer": "<decimal>"}`, every other value as in `plain` (a client that prints values, like
   * `northlight sql`, shows a BLOB as PostgreSQL does: `\x00ff`).
   */
  readonly valueFormat?: 'plain' | 'tagged';
}

/** A value of a `tagged` reply (see `SqlBody.valueFormat`). */
function taggedValue(value: TypedValue): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (typeof value === 'bigint')
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : { integer: value.toString() };
  return value;
}

function httpStatusOfSqlstate(sqlstate: string): number {
  // 55P03: the SQL writer stayed busy (another client's transaction or statement) past the lock wait.
  if (sqlstate === '57P03' || sqlstate === '55P03') return 503;
  if (sqlstate === '57014') return 408;
  if (sqlstate === '54000') return 413;
  if (sqlstate.startsWith('XX')) return 500;
  return 400;
}

function actionOfSqlstate(sqlstate: string): string {
  if (sqlstate === '57P03') return 'storage is not accepting writes now; retry the transaction later';
  if (sqlstate === '54000') return 'split the transaction into smaller ones';
  if (sqlstate === '55P03')
    return "nothing was done: the SQL writer stayed busy with another client's transaction or statement past the lock wait (--pg-lock-wait-timeout-ms); retry";
  if (sqlstate === '57014')
    return 'the transaction was rolled back; make the query cheaper, or give the request a larger "statementTimeoutMs" (0: none)';
  if (sqlstate.startsWith('23')) return 'the transaction was rolled back; fix the data and retry';
  if (sqlstate.startsWith('42')) return 'fix the statement; nothing was changed';
  return 'the transaction was rolled back';
}

function requestInvalid(message: string, action = 'fix the request; see docs/db-engine.md'): ErrorBody {
  return { code: 'NL_REQUEST_INVALID', sqlstate: '08P01', message, action };
}

/**
 * The refusal of a body over `--request-body-limit-bytes`, naming the limit: "Request body is too
 * large" alone leaves a client guessing what the limit is and whether it can be raised.
 */
function bodyTooLarge(limitBytes: number, contentLength: string | undefined): ErrorBody {
  const size = contentLength === undefined ? '' : ` (${contentLength} bytes)`;
  return requestInvalid(
    `the request body${size} is larger than the engine's limit of ${limitBytes} bytes (--request-body-limit-bytes, 1 MiB by default)`,
    'send fewer or shorter statements per request (split the work into several requests), or start the engine with a larger --request-body-limit-bytes',
  );
}

/** The refusal of a body that is not JSON: which content-type came, and which one to send. */
function notJson(contentType: string | undefined): ErrorBody {
  const got =
    contentType === undefined
      ? 'has no content-type'
      : `has the content-type ${JSON.stringify(contentType.slice(0, 100))}`;
  return requestInvalid(
    `the request body ${got}: the API takes only JSON`,
    'send the body as JSON with the header "content-type: application/json"',
  );
}

export async function startSqlServer(
  options: SqlServerOptions,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: options.requestTimeoutMs,
    return503OnClosing: true,
    ajv: { customOptions: { allowUnionTypes: true } },
    // Schemas compile on first use, not at every start (protocol io/lazy-schemas.ts).
    schemaController: options.schemas ?? lazySchemaController(),
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).code(400).send(requestInvalid(`bad request: ${error.message}`));
    },
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AssertionError) {
      options.logger.log('error', 'assertion failed while serving a request', {
        url: request.url,
        stack: error.stack,
      });
      setImmediate(() => {
        throw error; // STYLE.md §8: an assertion failure stops the process
      });
      return reply.code(500).send({
        code: 'NL_INTERNAL',
        sqlstate: 'XX000',
        message: 'internal error',
        action: 'see the engine log',
      });
    }
    if (isNorthlightError(error)) {
      const status =
        error.code === 'NL_TIMEOUT'
          ? 504
          : ['NL_QUORUM_LOST', 'NL_EPOCH_STALE', 'NL_NETWORK_UNREACHABLE'].includes(error.code)
            ? 503
            : 400;
      options.metrics.requests.inc({ outcome: 'unavailable' });
      return reply.code(status).send({
        code: error.code,
        sqlstate: status === 400 ? '08P01' : '57P03',
        message: error.message,
        action: status === 400 ? 'fix the request' : 'check the storage nodes and the engine status; retry',
      } satisfies ErrorBody);
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      options.metrics.requests.inc({ outcome: 'invalid' });
      const body =
        error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? bodyTooLarge(options.bodyLimitBytes, request.headers['content-length'])
          : error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? notJson(request.headers['content-type'])
            : requestInvalid(error.message);
      return reply.code(error.statusCode).send(body);
    }
    options.logger.log('error', 'unexpected error while serving a request', {
      url: request.url,
      stack: error.stack,
    });
    return reply.code(500).send({
      code: 'NL_INTERNAL',
      sqlstate: 'XX000',
      message: 'internal error',
      action: 'see the engine log',
    });
  });
  // Every body is JSON: without fastify's text/plain parser a text body gets the 415 that says to
  // send application/json, not a schema error ("body must be object") that leaves the cause unsaid.
  app.removeContentTypeParser('text/plain');
  // `Expect: 100-continue` (curl's default for bodies over 1 KiB): Node would answer 100 Continue at
  // once, the client would upload the whole oversized body, and fastify's 413 would arrive with the
  // connection closing under the upload (so the client may see only the 100). A body whose
  // content-length is over the limit gets no 100: fastify answers 413 at once, before any upload.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const length = Number(request.headers['content-length']);
    if (!(length > options.bodyLimitBytes)) response.writeContinue();
    app.server.emit('request', request, response);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(requestInvalid(`no route ${request.method} ${request.url.slice(0, 200)}`));
  });

  let refusalsUnlogged = 0;
  let refusalLoggedAtMs = Number.NEGATIVE_INFINITY;
  installHttpAuth(app, options.auth, {
    refused: (kind, sqlstate, remoteAddress) => {
      options.metrics.httpAuthFailures.inc({ route: kind });
      refusalsUnlogged++;
      const nowMs = performance.now();
      if (nowMs - refusalLoggedAtMs < AUTH_REFUSAL_LOG_INTERVAL_MS) return;
      refusalLoggedAtMs = nowMs;
      options.logger.log('warn', 'HTTP request refused: missing or wrong credentials', {
        route: kind,
        sqlstate,
        from: remoteAddress ?? 'unknown',
        refusedSinceLastLine: refusalsUnlogged,
      });
      refusalsUnlogged = 0;
    },
  });

  app.get('/healthz', async () => ({ status: 'alive' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = options.readiness();
    if (readiness.ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reason: readiness.reason });
  });
  app.get('/v1/status', async (_request, reply) =>
    reply
      .type('application/json')
      .send(
        JSON.stringify(options.status(), (_key, value) =>
          typeof value === 'bigint' ? value.toString() : value,
        ),
      ),
  );
  app.get('/metrics', async (_request, reply) =>
    reply.type(options.metrics.contentType).send(await options.metrics.text()),
  );

  app.post<{ Body: SqlBody }>('/v1/sql', { schema: { body: sqlBodySchema } }, async (request, reply) => {
    const body = request.body;
    if ((body.statements === undefined) === (body.sql === undefined))
      return reply
        .code(400)
        .send(requestInvalid('give either "statements" or "sql", not both and not neither'));
    if (body.statements === undefined && body.params !== undefined && body.sql === undefined)
      return reply.code(400).send(requestInvalid('"params" goes with "sql"'));
    const statements = body.statements ?? [
      { sql: body.sql!, ...(body.params === undefined ? {} : { params: body.params }) },
    ];
    const startedMs = performance.now();
    // Stopped, even mid-statement, when it runs too long or its client hangs up: the kernel has one
    // SQLite connection, and a runaway query would hold up every other client.
    const timeoutMs = body.statementTimeoutMs ?? options.statementTimeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const onClose = (): void => {
      if (!reply.raw.writableEnded) controller.abort();
    };
    reply.raw.once('close', onClose);
    // A client that hung up before the listener was attached is gone already: stop at once.
    if (request.raw.destroyed || reply.raw.destroyed) controller.abort();
    let reply_: EngineReply;
    try {
      const tagged = body.valueFormat === 'tagged' ? { typedValues: true } : {};
      reply_ = await options.execute(
        { statements, readOnly: body.readOnly === true, ...tagged },
        controller.signal,
      );
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
    }
    const seconds = (performance.now() - startedMs) / 1000;
    if (!reply_.ok) {
      const { sqlstate } = reply_.error;
      const message =
        sqlstate === '57014' && timedOut
          ? `canceling statement due to statement timeout: the request ran longer than ${timeoutMs} ms and was stopped; its transaction was rolled back`
          : reply_.error.detail === undefined
            ? reply_.error.message
            : `${reply_.error.message}: ${reply_.error.detail}`;
      options.metrics.requests.inc({ outcome: 'sql_error' });
      return reply.code(httpStatusOfSqlstate(sqlstate)).send({
        code: sqlstate,
        sqlstate,
        message,
        action: reply_.error.hint ?? actionOfSqlstate(sqlstate),
      } satisfies ErrorBody);
    }
    options.metrics.requests.inc({ outcome: 'ok' });
    const write = reply_.groupSeq !== undefined;
    options.metrics.requestLatency.observe({ kind: write ? 'write' : 'read' }, seconds);
    return {
      results:
        body.valueFormat === 'tagged'
          ? reply_.results.map((result) => ({
              ...result,
              rows: result.rows.map((row) => row.map((value) => taggedValue(value as TypedValue))),
            }))
          : reply_.results,
      ...(reply_.commitLsn === undefined ? {} : { commitLsn: reply_.commitLsn.toString() }),
      vdl: options.vdl()?.toString(),
    };
  });
  options.routes?.(app);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return { app, port };
}
