// The HTTP API's credential check (src/io/http-auth.ts), as pure functions: which routes need what,
// how the Authorization header is read, and that a refusal never says which half of a login was wrong.
// The same check on a real engine process, with real clients, is in replica-process.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authorize, parseAuthorization, routeKindOf, secretsEqual } from '../src/io/http-auth.js';

const TOKEN = 'internal-token-0123456789';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const guarded = { sql: { user: 'postgres', password: 'pw:with colon' }, internalToken: TOKEN };

describe('routeKindOf', () => {
  it('opens the probes and metrics, names the SQL route, and guards everything else', () => {
    expect(['/healthz', '/readyz', '/metrics', '/metrics?x=1'].map(routeKindOf)).toEqual([
      'open',
      'open',
      'open',
      'open',
    ]);
    expect(routeKindOf('/v1/sql')).toBe('sql');
    expect(routeKindOf('/v1/sql?readOnly=1')).toBe('sql');
    for (const path of [
      '/v1/status',
      '/v1/admin/fence',
      '/v1/replication/stream?replica=r',
      '/v1/sql/',
      '/x',
    ])
      expect(routeKindOf(path), path).toBe('internal');
  });
});

describe('parseAuthorization', () => {
  it('reads Basic (the password may hold colons) and Bearer, any case of the scheme', () => {
    expect(parseAuthorization(basic('postgres', 'a:b:c'))).toEqual({
      scheme: 'basic',
      user: 'postgres',
      secret: 'a:b:c',
    });
    expect(parseAuthorization(`bEaReR ${TOKEN}`)).toEqual({ scheme: 'bearer', user: '', secret: TOKEN });
  });
  it('gives nothing for an absent, malformed or other-scheme header', () => {
    for (const header of [
      undefined,
      '',
      'Basic',
      'Bearer',
      'Basic !!!',
      'Digest x',
      `Basic ${btoa('nocolon')}`,
    ])
      expect(parseAuthorization(header), String(header)).toBeUndefined();
  });
  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        parseAuthorization(header);
      }),
    );
  });
});

describe('authorize', () => {
  it('lets everything through when nothing is configured (trust, no token)', () => {
    const open = { sql: undefined, internalToken: undefined };
    for (const kind of ['open', 'sql', 'internal'] as const)
      expect(authorize(open, kind, undefined)).toEqual({ ok: true });
  });
  it('takes the PostgreSQL login or the token on /v1/sql, and only the token elsewhere', () => {
    expect(authorize(guarded, 'sql', basic('postgres', 'pw:with colon')).ok).toBe(true);
    expect(authorize(guarded, 'sql', `Bearer ${TOKEN}`).ok).toBe(true);
    expect(authorize(guarded, 'internal', `Bearer ${TOKEN}`).ok).toBe(true);
    expect(authorize(guarded, 'internal', basic('postgres', 'pw:with colon')).ok).toBe(false);
    expect(authorize(guarded, 'internal', basic('postgres', TOKEN)).ok).toBe(false);
    expect(authorize(guarded, 'open', undefined).ok).toBe(true);
  });
  it('answers a wrong user and a wrong password alike (28P01), and missing credentials with 28000', () => {
    const wrongUser = authorize(guarded, 'sql', basic('admin', 'pw:with colon'));
    const wrongPassword = authorize(guarded, 'sql', basic('admin', 'nope'));
    expect(wrongUser).toMatchObject({ ok: false, sqlstate: '28P01' });
    expect(wrongPassword).toEqual(wrongUser);
    expect(authorize(guarded, 'sql', undefined)).toMatchObject({
      ok: false,
      sqlstate: '28000',
      challenge: 'Basic realm="northlight", charset="UTF-8"',
    });
    expect(authorize(guarded, 'internal', undefined)).toMatchObject({
      ok: false,
      sqlstate: '28000',
      challenge: 'Bearer realm="northlight-internal"',
    });
    expect(authorize(guarded, 'internal', `Bearer ${TOKEN}0`)).toMatchObject({
      ok: false,
      sqlstate: '28P01',
    });
  });
  it('leaves /v1/sql open under --pg-auth trust, and still guards the internal routes', () => {
    // --pg-auth trust opens /v1/sql as it opens the PostgreSQL endpoint; the token guards the rest.
    const trust = { sql: undefined, internalToken: TOKEN };
    expect(authorize(trust, 'sql', undefined).ok).toBe(true);
    expect(authorize(trust, 'internal', undefined).ok).toBe(false);
  });
  it('accepts exactly the configured secrets', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ maxLength: 40 }), (a, b) => {
        expect(secretsEqual(a, b)).toBe(a === b);
        const verdict = authorize({ sql: undefined, internalToken: a }, 'internal', `Bearer ${b}`);
        // A token with whitespace cannot travel in one header word; the engine refuses such tokens at start.
        if (!/\s/.test(b) && b !== '') expect(verdict.ok).toBe(a === b);
      }),
    );
  });
});
