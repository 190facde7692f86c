/**
 * Who may call the engine's HTTP API. Three kinds of route:
 *
 *   open      /healthz, /readyz, /metrics: probes and Prometheus, no credentials.
 *   sql       POST /v1/sql: the application's credentials, the same user and password as the
 *             PostgreSQL endpoint, as HTTP Basic (RFC 7617). With `--pg-auth trust` it is open, as
 *             the PostgreSQL endpoint is.
 *   internal  everything else (/v1/status, /v1/volume, /v1/replication/*, /v1/admin/*): the cluster's
 *             internal token as `Authorization: Bearer <token>` (RFC 6750). The control plane and the
 *             replicas hold it; an application does not, so it cannot fence, promote or change a PG's
 *             membership. Without `--internal-token` these routes answer anyone (the engine warns at
 *             start): for a single machine or a network only the cluster reaches.
 *
 * The internal token is also accepted on the SQL route (the control plane and tests run SQL with it).
 * A refusal is HTTP 401 with a `WWW-Authenticate` challenge and the error body every route uses,
 * code NL_AUTH_FAILED; the message never says whether the user or the password was wrong (as
 * PostgreSQL: "password authentication failed for user …"). It is checked in `onRequest`, before a
 * body is read, so an unauthenticated client cannot make the engine parse a large body.
 *
 * Comparisons run in time independent of where the inputs differ (SHA-256 of both sides, then
 * `timingSafeEqual`), so the answer time does not leak the secret byte by byte.
 */
import { internalRefusal, parseAuthorization, secretsEqual } from '@northlight/protocol/io';
import type { FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config.js';

export { internalAuthorization, parseAuthorization, secretsEqual } from '@northlight/protocol/io';

export interface HttpAuthConfig {
  /** Basic credentials for the SQL route; undefined: the SQL route is open (`--pg-auth trust`). */
  readonly sql: { readonly user: string; readonly password: string } | undefined;
  /** The internal routes' bearer token; undefined: they are open. */
  readonly internalToken: string | undefined;
}

export type RouteKind = 'open' | 'sql' | 'internal';

const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The kind of a request's path (the query string ignored). Unknown paths are internal: a 401 before a 404. */
export function routeKindOf(url: string): RouteKind {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (OPEN_PATHS.has(path)) return 'open';
  if (path === '/v1/sql') return 'sql';
  return 'internal';
}

export type AuthVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** The challenge for `WWW-Authenticate`. */
      readonly challenge: string;
      /** 28000: no usable credentials; 28P01: wrong ones (PostgreSQL's codes). */
      readonly sqlstate: '28000' | '28P01';
      readonly message: string;
      readonly action: string;
    };

const SQL_CHALLENGE = 'Basic realm="northlight", charset="UTF-8"';

/** Whether a request of `kind` carrying `header` may go on, and if not, what to answer. */
export function authorize(config: HttpAuthConfig, kind: RouteKind, header: string | undefined): AuthVerdict {
  if (kind === 'open') return { ok: true };
  if (kind === 'sql' && config.sql === undefined) return { ok: true };
  if (kind === 'internal' && config.internalToken === undefined) return { ok: true };
  const credentials = parseAuthorization(header);
  const tokenMatches =
    credentials?.scheme === 'bearer' &&
    config.internalToken !== undefined &&
    secretsEqual(credentials.secret, config.internalToken);
  if (tokenMatches) return { ok: true };
  if (kind === 'sql') {
    const sql = config.sql!;
    if (credentials?.scheme === 'basic') {
      // Both compared, always: the time taken does not say which one was wrong.
      const userMatches = secretsEqual(credentials.user, sql.user);
      const passwordMatches = secretsEqual(credentials.secret, sql.password);
      if (userMatches && passwordMatches) return { ok: true };
      return {
        ok: false,
        challenge: SQL_CHALLENGE,
        sqlstate: '28P01',
        message: `password authentication failed for user ${JSON.stringify(credentials.user)}`,
        action: 'send the PostgreSQL user and password of the cluster (HTTP Basic); `northlight sql` does',
      };
    }
    return {
      ok: false,
      challenge: SQL_CHALLENGE,
      sqlstate: credentials === undefined ? '28000' : '28P01',
      message:
        credentials === undefined
          ? 'POST /v1/sql needs credentials: HTTP Basic with the PostgreSQL user and password'
          : "the bearer token is not this cluster's internal token",
      action: 'send "Authorization: Basic base64(user:password)" with the PostgreSQL user and password',
    };
  }
  const refusal = internalRefusal(config.internalToken, header)!;
  return { ok: false, ...refusal };
}

export interface AuthHookHooks {
  /** Called on every refusal, for a metric and a (rate-limited) log line. */
  readonly refused: (kind: RouteKind, sqlstate: string, remoteAddress: string | undefined) => void;
}

/** Installs the check on every route of `app`, before its body is read. */
export function installHttpAuth(app: FastifyInstance, config: HttpAuthConfig, hooks: AuthHookHooks): void {
  app.addHook('onRequest', async (request, reply) => {
    const kind = routeKindOf(request.url);
    const verdict = authorize(config, kind, request.headers.authorization);
    if (verdict.ok) return;
    hooks.refused(kind, verdict.sqlstate, request.socket.remoteAddress);
    return reply.code(401).header('www-authenticate', verdict.challenge).send({
      code: 'NL_AUTH_FAILED',
      sqlstate: verdict.sqlstate,
      message: verdict.message,
      action: verdict.action,
    });
  });
}

/** The HTTP API's credentials from the engine's configuration: the PostgreSQL ones, and the internal token. */
export function httpAuthOf(config: EngineConfig): HttpAuthConfig {
  return {
    sql:
      config.pg.auth === 'scram' && config.pg.password !== undefined
        ? { user: config.pg.user, password: config.pg.password }
        : undefined,
    internalToken: config.internalToken,
  };
}
