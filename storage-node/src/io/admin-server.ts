/**
 * The storage node's admin HTTP API on fastify: probes, status and metrics, for kubelet, the
 * operator and Prometheus, and the control plane's segment lifecycle. Each concern is an encapsulated plugin with JSON
 * schemas for its params and responses; the root adds the shared error schema, one error handler and
 * one not-found handler, so every failure has the same shape:
 *
 *   { "code": "NL_…", "message": "…", "action": "…" }
 *
 * Routes:
 *   GET /healthz                 200 { status: 'alive' } while the process runs (liveness)
 *   GET /readyz                  200 { status: 'ready' } once `readiness()` says so, else
 *                                503 { status: 'not-ready', reason } (readiness)
 *   GET /v1/status               200 the node and its segments (`StorageStatus`; u64s as decimal strings)
 *   GET /v1/segments/:segmentId  200 one segment; 404 NL_REQUEST_INVALID when the node has no such segment
 *   GET /metrics                 200 Prometheus text exposition
 *
 * With a `lifecycle` (the control plane's calls): POST /v1/segments, DELETE /v1/segments/:pgId/:segmentId,
 * POST …/restore, POST …/seal, PUT …/membership, POST /v1/backup, and a repair's bulk path: GET
 * …/snapshot (a binary stream of the segment) and POST …/hydrate (pull a peer's snapshot into the
 * segment) (see `segmentLifecyclePlugin`).
 *
 * Credentials: with `internalToken` (the cluster's, protocol's internal-auth.ts) every route but
 * /healthz, /readyz and /metrics takes it as `Authorization: Bearer <token>`, checked before routing;
 * a refusal is 401 NL_AUTH_FAILED with a `WWW-Authenticate` challenge.
 *
 * Errors: a NorthlightError keeps its code, with the HTTP status of `HTTP_STATUS_OF_ERROR_CODE`. A
 * request that fails its schema, an unknown route, a malformed URL or an oversized body is a 4xx
 * NL_REQUEST_INVALID. Anything else is a bug: the client gets a 500 `NL_INTERNAL` with no detail,
 * the log gets the stack, and an AssertionError is re-thrown outside fastify so that it stops the
 * process (STYLE.md §8: an assertion failure is never caught). No stack trace ever reaches a client.
 */

import { PassThrough } from 'node:stream';
import {
  AssertionError,
  type ErrorCode,
  errorCatalog,
  isNorthlightError,
  type Logger,
  NorthlightError,
  U64_MAX,
} from '@northlight/protocol';
import {
  internalRefusal,
  type LazySchemaController,
  lazySchemaController,
  type TransportAuthStatus,
} from '@northlight/protocol/io';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
} from 'fastify';
import { HYDRATION_BYTES_PER_SECOND_MAX, HYDRATION_BYTES_PER_SECOND_MIN } from '../core/hydration-pacer.js';

/** No route takes a body; anything larger than this is refused before it is read. */
export const DEFAULT_ADMIN_BODY_LIMIT_BYTES = 16 * 1024;
export const DEFAULT_ADMIN_REQUEST_TIMEOUT_MS = 10_000;
/** An error message that echoes request text is cut to this many characters. */
const ECHO_CHARACTERS_MAX = 300;

/** LSNs and epochs: the core holds bigints, the API serves decimal strings. */
export type DecimalU64 = bigint | string;

/**
 * One segment as the status API shows it: the fields below at least; any further plain fields the
 * core reports (heat, truncations…) are passed through, bigints turned into decimal strings.
 */
export interface SegmentStatus {
  readonly pgId: number;
  readonly segmentId: string;
  readonly state: string;
  readonly scl: DecimalU64;
  readonly durableHint: DecimalU64;
  readonly volumeEpoch: DecimalU64;
  readonly membershipEpoch: DecimalU64;
  readonly diskBytes: number;
}

/** The node's status; a structural type the core's `status()` satisfies. */
export interface StorageStatus {
  readonly nodeId: string;
  readonly zone: string;
  /** What the process runs (`buildVersion`): the rolling upgrade's checker reads it. */
  readonly version?: string;
  /** How the transport authenticates peers (`TcpNetworkEndpoint.authStatus`). */
  readonly transport?: TransportAuthStatus;
  readonly ready: boolean;
  readonly segments: readonly SegmentStatus[];
}

export interface ReadinessCheck {
  readonly ready: boolean;
  /** Why not, for the 503 body ("recovering segment pg3-seg1"…). */
  readonly reason?: string;
}

/** What `/metrics` serves (a `PrometheusStorageMetrics`). */
export interface MetricsExposition {
  readonly contentType: string;
  metricsText(): Promise<string>;
}

export interface AdminErrorBody {
  /** A catalog code, or NL_INTERNAL for a bug (which is never an expected failure). */
  readonly code: ErrorCode | 'NL_INTERNAL';
  readonly message: string;
  readonly action: string;
}

export interface AdminServerOptions {
  readonly logger: Logger;
  readonly readiness: () => boolean | ReadinessCheck;
  readonly statusProvider: () => StorageStatus | Promise<StorageStatus>;
  readonly metrics: MetricsExposition;
  /** Segment create/drop for the control plane; without it those routes do not exist. */
  readonly lifecycle?: SegmentLifecycle;
  readonly bodyLimitBytes?: number;
  readonly requestTimeoutMs?: number;
  /**
   * The cluster's internal token: every route but the probes and /metrics requires it as
   * `Authorization: Bearer <token>` (401 NL_AUTH_FAILED otherwise). Undefined: every route is open.
   */
  readonly internalToken?: string | undefined;
  /** Called on every refusal (for a metric and a rate-limited log line). */
  readonly authRefused?: (remoteAddress: string | undefined) => void;
  /** The routes' schema compilers (protocol io/lazy-schemas.ts); tests pass one to inspect it. */
  readonly schemas?: LazySchemaController;
}

/** Routes anyone may call: kubelet's probes and Prometheus. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Whether a request's path (the query string ignored) is open; unknown paths are not (a 401 before a 404). */
export function isOpenAdminPath(url: string): boolean {
  const query = url.indexOf('?');
  return OPEN_PATHS.has(query < 0 ? url : url.slice(0, query));
}

/** HTTP status for each expected failure that can surface through the admin API. */
export const HTTP_STATUS_OF_ERROR_CODE = {
  NL_DECODE_TRUNCATED: 400,
  NL_DECODE_CHECKSUM: 400,
  NL_DECODE_UNKNOWN_VERSION: 400,
  NL_DECODE_FRAME_TOO_LARGE: 413,
  NL_DECODE_INVALID: 400,
  NL_QUORUM_LOST: 503,
  NL_EPOCH_STALE: 409,
  NL_MEMBERSHIP_STALE: 409,
  NL_LSN_ALLOCATION_LIMIT: 503,
  NL_DISK_IO: 503,
  NL_OBJECT_STORE_UNAVAILABLE: 503,
  NL_NETWORK_UNREACHABLE: 503,
  NL_TIMEOUT: 504,
  // A conflict with a hydration in progress, not a deadline: the caller waits and checks again.
  NL_SEGMENT_BUSY: 409,
  NL_CONFIG_INVALID: 500,
  NL_REQUEST_INVALID: 400,
  // The control plane's metadata directory: never raised by a storage node, mapped for completeness.
  NL_METADATA_CONFLICT: 409,
  NL_METADATA_CORRUPT: 500,
  NL_METADATA_UNAVAILABLE: 503,
  // A request without the cluster's internal token (the admin routes but the probes and /metrics).
  NL_AUTH_FAILED: 401,
} as const satisfies Record<ErrorCode, number>;

const INTERNAL_ERROR_BODY: AdminErrorBody = {
  code: 'NL_INTERNAL',
  message: 'internal error; the server log has the details',
  action: 'This is a bug in northlight. Report it with the server log line of the same time.',
};

/** Request text is echoed in messages, so a message is cut to a bounded length. */
function requestInvalid(message: string): AdminErrorBody {
  return {
    code: 'NL_REQUEST_INVALID',
    message: echo(message),
    action: errorCatalog.NL_REQUEST_INVALID.action,
  };
}

function bodyOfNorthlightError(error: NorthlightError): AdminErrorBody {
  const prefix = `${error.code}: `;
  const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return { code: error.code, message, action: error.action };
}

function echo(text: string): string {
  return text.length <= ECHO_CHARACTERS_MAX ? text : `${text.slice(0, ECHO_CHARACTERS_MAX)}…`;
}

// ---------------------------------------------------------------------------------------------------
// Schemas

const ERROR_SCHEMA_ID = 'NorthlightErrorBody';
const errorBodySchema = {
  $id: ERROR_SCHEMA_ID,
  type: 'object',
  required: ['code', 'message', 'action'],
  properties: {
    code: { type: 'string', pattern: '^NL_[A-Z0-9_]+$' },
    message: { type: 'string' },
    action: { type: 'string' },
  },
  additionalProperties: false,
} as const;
const errorResponses = { '4xx': { $ref: `${ERROR_SCHEMA_ID}#` }, '5xx': { $ref: `${ERROR_SCHEMA_ID}#` } };

const decimalU64Schema = { type: 'string', pattern: '^(0|[1-9][0-9]{0,19})$' } as const;
const identifierPattern = '^[a-z0-9][a-z0-9._-]{0,62}$';

const segmentSchema = {
  type: 'object',
  required: [
    'pgId',
    'segmentId',
    'state',
    'scl',
    'durableHint',
    'volumeEpoch',
    'membershipEpoch',
    'diskBytes',
  ],
  properties: {
    pgId: { type: 'integer', minimum: 0 },
    segmentId: { type: 'string' },
    state: { type: 'string' },
    scl: decimalU64Schema,
    durableHint: decimalU64Schema,
    volumeEpoch: decimalU64Schema,
    membershipEpoch: decimalU64Schema,
    diskBytes: { type: 'integer', minimum: 0 },
  },
  additionalProperties: true,
} as const;

const statusSchema = {
  type: 'object',
  required: ['nodeId', 'zone', 'ready', 'segments'],
  properties: {
    nodeId: { type: 'string' },
    zone: { type: 'string' },
    ready: { type: 'boolean' },
    version: { type: 'string' },
    segments: { type: 'array', items: segmentSchema },
  },
  additionalProperties: true,
} as const;

/** The status as served: bigints as decimal strings, at any depth (plain objects and arrays only). */
export function toJsonStatus<T>(value: T): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? item.toString() : item)),
  );
}

// ---------------------------------------------------------------------------------------------------
// Plugins, one concern each

export interface ProbesPluginOptions {
  readonly readiness: () => boolean | ReadinessCheck;
}

/** Liveness and readiness, for kubelet and the local platform's supervisor. */
export const probesPlugin: FastifyPluginAsync<ProbesPluginOptions> = async (app, options) => {
  app.get(
    '/healthz',
    {
      schema: {
        response: {
          200: { type: 'object', required: ['status'], properties: { status: { const: 'alive' } } },
          ...errorResponses,
        },
      },
    },
    async () => ({ status: 'alive' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        response: {
          200: { type: 'object', required: ['status'], properties: { status: { const: 'ready' } } },
          503: {
            type: 'object',
            required: ['status', 'reason'],
            properties: { status: { const: 'not-ready' }, reason: { type: 'string' } },
          },
          ...errorResponses,
        },
      },
    },
    async (_request, reply) => {
      const check = options.readiness();
      const { ready, reason } = typeof check === 'boolean' ? { ready: check, reason: undefined } : check;
      if (ready) return { status: 'ready' };
      return reply.code(503).send({ status: 'not-ready', reason: reason ?? 'the node is not ready yet' });
    },
  );
};

export interface StatusPluginOptions {
  readonly statusProvider: () => StorageStatus | Promise<StorageStatus>;
}

/** The node's status and its segments, for the operator and for humans. */
export const statusPlugin: FastifyPluginAsync<StatusPluginOptions> = async (app, options) => {
  app.get('/v1/status', { schema: { response: { 200: statusSchema, ...errorResponses } } }, async () =>
    toJsonStatus(await options.statusProvider()),
  );
  app.get<{ Params: { segmentId: string } }>(
    '/v1/segments/:segmentId',
    {
      schema: {
        params: {
          type: 'object',
          required: ['segmentId'],
          properties: { segmentId: { type: 'string', pattern: identifierPattern } },
          additionalProperties: false,
        },
        response: { 200: segmentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { segmentId } = request.params;
      const status = await options.statusProvider();
      const segment = status.segments.find((candidate) => candidate.segmentId === segmentId);
      if (segment === undefined) {
        return reply.code(404).send(requestInvalid(`this node holds no segment ${segmentId}`));
      }
      return toJsonStatus(segment);
    },
  );
};

export interface MetricsPluginOptions {
  readonly metrics: MetricsExposition;
}

/** Prometheus exposition. Text, so no JSON response schema; errors are JSON like everywhere. */
export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, options) => {
  app.get('/metrics', { schema: { response: errorResponses } }, async (_request, reply) => {
    const text = await options.metrics.metricsText();
    return reply.type(options.metrics.contentType).header('cache-control', 'no-store').send(text);
  });
};

/** What the control plane asks of a node's segments: create an empty one, or drop one. */
export interface SegmentLifecycle {
  create(spec: {
    readonly pgId: number;
    readonly segmentId: string;
    readonly membershipEpoch: bigint;
    readonly members: readonly string[];
    readonly memberNodes: readonly string[];
    readonly volumeEpoch: bigint;
  }): Promise<{ readonly created: boolean }>;
  drop(pgId: number, segmentId: string): Promise<{ readonly dropped: boolean }>;
  /** Rebuilds (or resumes, or catches up) a segment from the backup of `source` (itself by default). */
  restore(pgId: number, segmentId: string, source: string): Promise<object>;
  /** Stages everything stageable now. */
  backupNow(): Promise<object>;
  /**
   * Streams a snapshot of the segment (storage-node/src/core/snapshot-format.ts) to `sink`, its bytes
   * in order (a part in one or more calls), awaiting each; rejects typed if it cannot be taken or fails
   * part-way.
   */
  snapshot(pgId: number, segmentId: string, sink: (part: Uint8Array) => Promise<void>): Promise<object>;
  /** Hydrates the segment from the snapshot of `source.segmentId` served by the node at `source.url`. */
  hydrate(
    pgId: number,
    segmentId: string,
    source: { readonly url: string; readonly segmentId: string },
    /** The node's hydration bandwidth limit from now on (0: none); undefined keeps the current one. */
    bytesPerSecond?: number,
  ): Promise<object>;
  /** Seals a segment: appends refused for good. */
  seal(pgId: number, segmentId: string): Promise<{ readonly sealed: boolean }>;
  /**
   * Records a newer membership of a segment (a repair's quorum-set change). `found: false` when the
   * node holds no such segment; an older epoch is NL_MEMBERSHIP_STALE, a bad one the caller's mistake.
   */
  updateMembership(
    pgId: number,
    segmentId: string,
    membership: {
      readonly membershipEpoch: bigint;
      readonly members: readonly string[];
      readonly memberNodes: readonly string[];
    },
  ): Promise<{ readonly found: false } | { readonly found: true; readonly changed: boolean }>;
}

export interface SegmentLifecyclePluginOptions {
  readonly lifecycle: SegmentLifecycle;
}

const decimalU64Pattern = '^(0|[1-9][0-9]{0,19})$';

/** `:pgId/:segmentId` of the segment routes. */
const segmentParamsSchema = {
  type: 'object',
  required: ['pgId', 'segmentId'],
  properties: {
    pgId: { type: 'integer', minimum: 0, maximum: 0xffff_ffff },
    segmentId: { type: 'string', pattern: identifierPattern },
  },
  additionalProperties: false,
} as const;

/** A decimal the schema let through (up to 20 digits), checked against the u64 range. */
function u64Field(name: string, text: string): bigint {
  const value = BigInt(text);
  if (value > U64_MAX)
    throw new NorthlightError(
      'NL_REQUEST_INVALID',
      `invalid body: ${name} ${echo(text)} is not a u64 (≤ ${U64_MAX})`,
    );
  return value;
}

/**
 * Members of a PG as the lifecycle routes take them. A PG has 6 members, 7 or more while a membership
 * change is in flight; the core holds the real limit (`membersMax`, 16 by default), this only bounds
 * what is parsed.
 */
const membersSchema = {
  type: 'array',
  minItems: 1,
  maxItems: 64,
  items: { type: 'string', pattern: identifierPattern },
} as const;
const memberNodesSchema = {
  type: 'array',
  maxItems: 64,
  items: { type: 'string', pattern: identifierPattern },
} as const;

/**
 * `POST /v1/segments` creates an empty segment (201, or 200 when it already exists with the same
 * spec); `DELETE /v1/segments/:pgId/:segmentId` drops one; `PUT /v1/segments/:pgId/:segmentId/membership`
 * records a newer membership (200 `{ changed }`, 404 for an unknown segment, 409 NL_MEMBERSHIP_STALE
 * for an older epoch). Used by the control plane (placement, repair) and by tests that stand in for
 * it. Typed errors (NL_…) come from the core.
 */
export const segmentLifecyclePlugin: FastifyPluginAsync<SegmentLifecyclePluginOptions> = async (
  app,
  options,
) => {
  app.post<{
    Body: {
      pgId: number;
      segmentId: string;
      membershipEpoch: string;
      members: string[];
      memberNodes?: string[];
      volumeEpoch?: string;
    };
  }>(
    '/v1/segments',
    {
      schema: {
        body: {
          type: 'object',
          required: ['pgId', 'segmentId', 'membershipEpoch', 'members'],
          properties: {
            pgId: { type: 'integer', minimum: 0, maximum: 0xffff_ffff },
            segmentId: { type: 'string', pattern: identifierPattern },
            membershipEpoch: { type: 'string', pattern: decimalU64Pattern },
            volumeEpoch: { type: 'string', pattern: decimalU64Pattern },
            members: membersSchema,
            memberNodes: memberNodesSchema,
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const result = await options.lifecycle.create({
        pgId: body.pgId,
        segmentId: body.segmentId,
        membershipEpoch: u64Field('membershipEpoch', body.membershipEpoch),
        members: body.members,
        memberNodes: body.memberNodes ?? [],
        volumeEpoch: u64Field('volumeEpoch', body.volumeEpoch ?? '0'),
      });
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );
  app.delete<{ Params: { pgId: number; segmentId: string } }>(
    '/v1/segments/:pgId/:segmentId',
    {
      schema: {
        params: segmentParamsSchema,
      },
    },
    async (request) => options.lifecycle.drop(request.params.pgId, request.params.segmentId),
  );
  app.post<{ Params: { pgId: number; segmentId: string }; Body: { source?: string } | undefined }>(
    '/v1/segments/:pgId/:segmentId/restore',
    {
      schema: {
        params: segmentParamsSchema,
        body: {
          type: ['object', 'null'],
          properties: { source: { type: 'string', pattern: identifierPattern } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { pgId, segmentId } = request.params;
      const report = await options.lifecycle.restore(pgId, segmentId, request.body?.source ?? segmentId);
      return toJsonStatus(report);
    },
  );
  app.post<{ Params: { pgId: number; segmentId: string } }>(
    '/v1/segments/:pgId/:segmentId/seal',
    {
      schema: {
        params: segmentParamsSchema,
      },
    },
    async (request) => options.lifecycle.seal(request.params.pgId, request.params.segmentId),
  );
  app.put<{
    Params: { pgId: number; segmentId: string };
    Body: { membershipEpoch: string; members: string[]; memberNodes: string[] };
  }>(
    '/v1/segments/:pgId/:segmentId/membership',
    {
      schema: {
        params: segmentParamsSchema,
        body: {
          type: 'object',
          required: ['membershipEpoch', 'members', 'memberNodes'],
          properties: {
            membershipEpoch: { type: 'string', pattern: decimalU64Pattern },
            members: membersSchema,
            memberNodes: memberNodesSchema,
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { pgId, segmentId } = request.params;
      const body = request.body;
      const result = await options.lifecycle.updateMembership(pgId, segmentId, {
        membershipEpoch: u64Field('membershipEpoch', body.membershipEpoch),
        members: body.members,
        memberNodes: body.memberNodes,
      });
      if (!result.found)
        return reply.code(404).send(requestInvalid(`this node holds no segment ${segmentId} of PG ${pgId}`));
      return { changed: result.changed };
    },
  );
  app.post('/v1/backup', async () => toJsonStatus(await options.lifecycle.backupNow()));
  app.get<{ Params: { pgId: number; segmentId: string }; Querystring: { bytesPerSecond?: number } }>(
    '/v1/segments/:pgId/:segmentId/snapshot',
    {
      schema: {
        params: segmentParamsSchema,
        querystring: {
          type: 'object',
          properties: { bytesPerSecond: hydrationLimitSchema },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { pgId, segmentId } = request.params;
      const paceBytesPerSecond = request.query.bytesPerSecond ?? 0;
      const startedMs = Date.now();
      let sentBytes = 0;
      // The first part decides between a JSON error (nothing sent yet) and a stream; a failure after
      // it cuts the stream, which the receiver detects (no end part).
      const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
      let started: (() => void) | undefined;
      const firstPart = new Promise<void>((resolve) => {
        started = resolve;
      });
      let closed = false;
      stream.on('close', () => {
        closed = true;
      });
      const exported = options.lifecycle.snapshot(pgId, segmentId, async (part) => {
        const elapsedMs = Date.now() - startedMs;
        if (closed || elapsedMs > snapshotSendAllowedMs(sentBytes, paceBytesPerSecond))
          throw new NorthlightError(
            'NL_TIMEOUT',
            closed
              ? 'the receiver closed the snapshot stream'
              : `the snapshot took too long to send (${sentBytes} bytes in ${elapsedMs} ms)`,
          );
        sentBytes += part.length;
        started?.();
        if (!stream.write(part)) await waitForDrain(stream);
      });
      const first = await Promise.race([
        firstPart.then(() => undefined),
        exported.then(
          () => undefined,
          (error) => error as unknown,
        ),
      ]);
      if (first !== undefined) throw first;
      exported.then(
        () => stream.end(),
        (error: unknown) => stream.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      return reply.type(SNAPSHOT_CONTENT_TYPE).header('cache-control', 'no-store').send(stream);
    },
  );
  app.post<{
    Params: { pgId: number; segmentId: string };
    Body: { sourceUrl: string; sourceSegmentId: string; bytesPerSecond?: number };
  }>(
    '/v1/segments/:pgId/:segmentId/hydrate',
    {
      schema: {
        params: segmentParamsSchema,
        body: {
          type: 'object',
          required: ['sourceUrl', 'sourceSegmentId'],
          properties: {
            // An origin only: the route is fixed, so this cannot be turned into a request elsewhere.
            sourceUrl: { type: 'string', pattern: '^https?://[A-Za-z0-9.\\[\\]:_-]{1,300}$' },
            sourceSegmentId: { type: 'string', pattern: identifierPattern },
            // The node's hydration bandwidth limit from now on (the control plane's spec); 0: none.
            bytesPerSecond: hydrationLimitSchema,
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { pgId, segmentId } = request.params;
      const report = await options.lifecycle.hydrate(
        pgId,
        segmentId,
        { url: request.body.sourceUrl, segmentId: request.body.sourceSegmentId },
        request.body.bytesPerSecond,
      );
      return toJsonStatus(report);
    },
  );
};

/** A snapshot stream is cut if the receiver has not taken it within this time (it pins the source). */
export const SNAPSHOT_SEND_DEADLINE_MS = 10 * 60_000;

/**
 * How long a snapshot may take to send once `sentBytes` are out: `SNAPSHOT_SEND_DEADLINE_MS`, or, for
 * a receiver that paces its hydrations to `paceBytesPerSecond` (it says so in the request), as long as
 * it keeps at least half that pace — a 64 GiB segment at 32 MiB/s needs 34 minutes, not ten, and
 * a receiver that stalls is still cut.
 */
export function snapshotSendAllowedMs(sentBytes: number, paceBytesPerSecond: number): number {
  if (paceBytesPerSecond <= 0) return SNAPSHOT_SEND_DEADLINE_MS;
  return Math.max(SNAPSHOT_SEND_DEADLINE_MS, (sentBytes * 1000) / (paceBytesPerSecond / 2));
}

/** A hydration bandwidth limit in a request: 0 (none) or bytes per second (hydration-pacer.ts). */
const hydrationLimitSchema = {
  anyOf: [
    { type: 'integer', const: 0 },
    { type: 'integer', minimum: HYDRATION_BYTES_PER_SECOND_MIN, maximum: HYDRATION_BYTES_PER_SECOND_MAX },
  ],
} as const;
export const SNAPSHOT_CONTENT_TYPE = 'application/vnd.northlight.segment-snapshot';

function waitForDrain(stream: PassThrough): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', closed);
      resolve();
    };
    const closed = () => {
      stream.off('drain', done);
      stream.off('close', closed);
      reject(new NorthlightError('NL_TIMEOUT', 'the receiver closed the snapshot stream'));
    };
    stream.on('drain', done);
    stream.on('close', closed);
  });
}

// ---------------------------------------------------------------------------------------------------
// The server

/** Builds the admin app with its plugins and handlers, ready for `inject` or `listen`. */
export async function buildAdminServer(options: AdminServerOptions): Promise<FastifyInstance> {
  const { logger } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_ADMIN_BODY_LIMIT_BYTES,
    requestTimeout: options.requestTimeoutMs ?? DEFAULT_ADMIN_REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
    // Schemas compile on first use, not at every start (protocol io/lazy-schemas.ts).
    schemaController: options.schemas ?? lazySchemaController(),
    // A malformed URL (bad percent-encoding…) is refused before routing, in the same shape as the rest.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).code(400).send(requestInvalid(`bad request: ${error.message}`));
    },
    // HTTP the parser cannot read at all gets the same typed body (fastify's default is its own shape).
    clientErrorHandler: (error, socket) => {
      if (socket.destroyed || !socket.writable) return;
      const code = (error as { code?: unknown }).code;
      const body = JSON.stringify(
        requestInvalid(`bad request: ${typeof code === 'string' ? code : error.message}`),
      );
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  app.addSchema(errorBodySchema);
  // Before routing and before a body is read: an unauthenticated client cannot make the node parse one.
  const token = options.internalToken;
  if (token !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      if (isOpenAdminPath(request.url)) return;
      const refusal = internalRefusal(
        token,
        request.headers.authorization,
        'the control plane, the engines and the storage nodes',
      );
      if (refusal === undefined) return;
      options.authRefused?.(request.socket.remoteAddress);
      return reply.code(401).header('www-authenticate', refusal.challenge).send({
        code: 'NL_AUTH_FAILED',
        message: refusal.message,
        action: refusal.action,
      });
    });
  }
  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendError(error, request.method, request.url, reply, logger),
  );
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(requestInvalid(`no route ${request.method} ${echo(request.url)}`));
  });
  await app.register(probesPlugin, { readiness: options.readiness });
  await app.register(statusPlugin, { statusProvider: options.statusProvider });
  await app.register(metricsPlugin, { metrics: options.metrics });
  if (options.lifecycle !== undefined)
    await app.register(segmentLifecyclePlugin, { lifecycle: options.lifecycle });
  await app.ready();
  return app;
}

/** Node's errors for a request body the client broke off or malformed (not a bug of ours). */
function isClientAbort(error: FastifyError): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'HPE_INVALID_CHUNK_SIZE' ||
    error.message === 'aborted' ||
    (error as { type?: unknown }).type === 'request.aborted'
  );
}

function sendError(
  error: FastifyError,
  method: string,
  url: string,
  reply: FastifyReply,
  logger: Logger,
): FastifyReply {
  if (isNorthlightError(error)) {
    const status = HTTP_STATUS_OF_ERROR_CODE[error.code];
    if (status >= 500)
      logger.log('warn', 'admin request failed', {
        method,
        url: echo(url),
        code: error.code,
        error: error.message,
      });
    return reply.code(status).send(bodyOfNorthlightError(error));
  }
  if (error.validation !== undefined) {
    return reply
      .code(400)
      .send(requestInvalid(`invalid ${error.validationContext ?? 'request'}: ${error.message}`));
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500 && error.code?.startsWith('FST_')) {
    return reply.code(status).send(requestInvalid(error.message));
  }
  if (isClientAbort(error)) {
    // The client hung up in the middle of its request (or sent a broken chunked body): its doing.
    logger.log('debug', 'admin request aborted by the client', {
      method,
      url: echo(url),
      error: error.message,
    });
    return reply.code(400).send(requestInvalid(`bad request: ${error.message}`));
  }
  logger.log('error', 'admin request hit a bug', {
    method,
    url: echo(url),
    error: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  if (error instanceof AssertionError) {
    // Answer, then stop the process: an assertion failure is never caught (fastify caught it for us).
    setImmediate(() => {
      throw error;
    });
  }
  return reply.code(500).send(INTERNAL_ERROR_BODY);
}

export interface AdminServer {
  readonly app: FastifyInstance;
  /** `http://host:port`, with the real port when 0 was asked for. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Builds the admin app and listens on `host:port` (0 = any free port). */
export async function startAdminServer(
  options: AdminServerOptions & { readonly host: string; readonly port: number },
): Promise<AdminServer> {
  const app = await buildAdminServer(options);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close();
    throw new NorthlightError(
      'NL_CONFIG_INVALID',
      `admin API: listen on ${options.host}:${options.port}: ${error instanceof Error ? error.message : String(error)}`,
      { host: options.host, port: options.port },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return { app, url: `http://${host}:${port}`, port, close: () => app.close() };
}
