/**
 * The cluster's internal token: the one secret the control plane, the engines and the storage nodes of
 * a cluster share (`northlight up` keeps it in `<data dir>/internal-token`; the operator in the Secret
 * `<cluster>-internal`). It guards two doors:
 *
 *  - HTTP: the engines' internal routes and every storage-node admin route but the probes and
 *    `/metrics` take it as `Authorization: Bearer <token>` (RFC 6750). `internalRefusal` is the check,
 *    `internalAuthorization` the header a caller sends.
 *  - The binary transport: each side of a connection proves it holds the token without sending it
 *    (tcp-network.ts, an HMAC over both hellos' nonces), keyed by `transportKey(token)`, a key derived
 *    for that use alone (scrypt).
 *
 * Comparisons run in time independent of where the inputs differ (SHA-256 of both sides, then
 * `timingSafeEqual`), so an answer's timing does not leak the secret byte by byte.
 */
import { createHash, scryptSync, timingSafeEqual } from 'node:crypto';

/** What a token must be: 16 to 1,024 printable ASCII characters, no spaces. */
const TOKEN_PATTERN = /^[\x21-\x7e]{16,1024}$/;
export const INTERNAL_TOKEN_RULE =
  'must be 16 to 1,024 printable ASCII characters without spaces (e.g. openssl rand -base64 24)';

export function isValidInternalToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export const INTERNAL_CHALLENGE = 'Bearer realm="northlight-internal"';
export const INTERNAL_TOKEN_ACTION =
  "use the cluster's internal token (`northlight up` keeps it in <data dir>/internal-token; Kubernetes: the Secret <cluster>-internal)";

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Equal strings, in time independent of their contents. */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export interface Credentials {
  readonly scheme: 'basic' | 'bearer';
  /** Basic: the user; bearer: empty. */
  readonly user: string;
  /** Basic: the password; bearer: the token. */
  readonly secret: string;
}

/** The `Authorization` header's credentials, or undefined when absent or not Basic/Bearer. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (match === null) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', user: '', secret: match[2]! };
  if (scheme !== 'basic') return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(match[2]!)) return undefined;
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { scheme: 'basic', user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** Why a request to an internal route is refused (HTTP 401), in the error body every route uses. */
export interface InternalRefusal {
  readonly challenge: string;
  /** 28000: no bearer token came; 28P01: a wrong one (PostgreSQL's codes). */
  readonly sqlstate: '28000' | '28P01';
  readonly message: string;
  readonly action: string;
}

/**
 * Whether a request carrying `header` may use a route that takes the internal token `token`:
 * undefined when it may (or when `token` is undefined: the route is open), else the refusal.
 */
export function internalRefusal(
  token: string | undefined,
  header: string | undefined,
  who = 'the control plane and the replicas',
): InternalRefusal | undefined {
  if (token === undefined) return undefined;
  const credentials = parseAuthorization(header);
  if (credentials?.scheme === 'bearer' && secretsEqual(credentials.secret, token)) return undefined;
  return {
    challenge: INTERNAL_CHALLENGE,
    sqlstate: credentials?.scheme === 'bearer' ? '28P01' : '28000',
    message:
      credentials?.scheme === 'bearer'
        ? "the bearer token is not this cluster's internal token"
        : `this route is for ${who}: it needs the internal token (Authorization: Bearer)`,
    action: INTERNAL_TOKEN_ACTION,
  };
}

/** The `Authorization` header a caller holding the internal token sends (none without one). */
export function internalAuthorization(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** scrypt's cost for `transportKey`: about 50 ms and 16 MiB once per process start. */
const TRANSPORT_KEY_SCRYPT = { N: 2 ** 14, r: 8, p: 1, maxmem: 32 * 1024 * 1024 } as const;

/**
 * The binary transport's key: scrypt of the token with a fixed label as salt. The key that proves a
 * connection is not the token itself, so a proof says nothing directly usable about the HTTP secret,
 * and a slow derivation makes each guess of a short, chosen token cost someone who got hold of a
 * proof (a process posing as a peer) some 50 ms.
 */
export function transportKey(token: string): Uint8Array {
  return new Uint8Array(scryptSync(token, 'northlight transport key v1', 32, TRANSPORT_KEY_SCRYPT));
}
