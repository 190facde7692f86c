/**
 * The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as PostgreSQL runs it inside SASL
 * authentication: no channel binding (only `SCRAM-SHA-256` is advertised, never `-PLUS`), the user
 * name inside the SCRAM message ignored in favour of the startup packet's, and verifiers stored the
 * way PostgreSQL stores them: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64).
 *
 * Crypto is injected (`ScramCrypto`) so this file stays pure; `src/io/pg-scram.ts` has the node:crypto
 * adapter and makes verifiers from passwords. An unknown user goes through the whole exchange with a
 * made-up verifier and fails at the end, so a client cannot learn which users exist.
 */

export interface ScramCrypto {
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  /** A fresh printable nonce (at least 18 random bytes, base64). */
  nonce(): string;
}

export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';

export function base64Encode(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function base64Decode(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

export function formatVerifier(verifier: ScramVerifier): string {
  return `SCRAM-SHA-256$${verifier.iterations}:${base64Encode(verifier.salt)}$${base64Encode(
    verifier.storedKey,
  )}:${base64Encode(verifier.serverKey)}`;
}

export function parseVerifier(text: string): ScramVerifier | null {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(text);
  if (match === null) return null;
  const iterations = Number(match[1]);
  const salt = base64Decode(match[2] as string);
  const storedKey = base64Decode(match[3] as string);
  const serverKey = base64Decode(match[4] as string);
  if (!Number.isSafeInteger(iterations) || iterations < 1) return null;
  if (salt === null || storedKey === null || serverKey === null) return null;
  if (storedKey.length !== 32 || serverKey.length !== 32) return null;
  return { iterations, salt, storedKey, serverKey };
}

const encoder = new TextEncoder();

function xor(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(left.length);
  for (let index = 0; index < left.length; index++) {
    out[index] = (left[index] as number) ^ (right[index] as number);
  }
  return out;
}

function constantTimeEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  let difference = 0;
  for (let index = 0; index < left.length; index++) {
    difference |= (left[index] as number) ^ (right[index] as number);
  }
  return difference === 0;
}

/** `a=1,b=2` → Map; null if an attribute is malformed. */
function attributes(text: string): Map<string, string> | null {
  const map = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') return null;
    map.set(part[0] as string, part.slice(2));
  }
  return map;
}

export type ScramStep =
  | { readonly kind: 'continue'; readonly serverMessage: string }
  | { readonly kind: 'final'; readonly serverMessage: string }
  /** `sqlstate` 28P01 for a wrong password (or unknown user), 08P01 for a malformed exchange. */
  | { readonly kind: 'fail'; readonly sqlstate: '28P01' | '08P01'; readonly message: string };

/**
 * One SCRAM exchange: `clientFirst` (the SASLInitialResponse's data) then `clientFinal` (the
 * SASLResponse's data). `verifier` is null for an unknown user.
 */
export class ScramServer {
  private clientFirstBare = '';
  private serverFirst = '';
  private gs2Header = '';
  private nonce = '';
  private readonly verifier: ScramVerifier;
  private readonly userKnown: boolean;

  constructor(
    private readonly crypto: ScramCrypto,
    verifier: ScramVerifier | null,
    private readonly user: string,
  ) {
    this.userKnown = verifier !== null;
    this.verifier = verifier ?? mockVerifier(crypto, user);
  }

  private authenticationFailed(): ScramStep {
    return {
      kind: 'fail',
      sqlstate: '28P01',
      message: `password authentication failed for user "${this.user}"`,
    };
  }

  clientFirst(message: string): ScramStep {
    const malformed: ScramStep = {
      kind: 'fail',
      sqlstate: '08P01',
      message: 'malformed SCRAM message',
    };
    // gs2-header: "n,," (no channel binding) or "y,," (client could, thinks we cannot); then
    // client-first-message-bare: "n=<user>,r=<nonce>[,extensions]".
    const match = /^([ny]),(a=[^,]*)?,(.*)$/.exec(message);
    if (match === null) {
      if (message.startsWith('p=')) {
        return { kind: 'fail', sqlstate: '08P01', message: 'channel binding is not supported' };
      }
      return malformed;
    }
    this.gs2Header = `${match[1]},${match[2] ?? ''},`;
    this.clientFirstBare = match[3] as string;
    const parts = attributes(this.clientFirstBare);
    const clientNonce = parts?.get('r');
    if (parts === null || !parts.has('n') || clientNonce === undefined || clientNonce === '') {
      return malformed;
    }
    if (parts.has('m')) return malformed;
    this.nonce = clientNonce + this.crypto.nonce();
    this.serverFirst = `r=${this.nonce},s=${base64Encode(this.verifier.salt)},i=${this.verifier.iterations}`;
    return { kind: 'continue', serverMessage: this.serverFirst };
  }

  clientFinal(message: string): ScramStep {
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) return { kind: 'fail', sqlstate: '08P01', message: 'malformed SCRAM message' };
    const withoutProof = message.slice(0, proofAt);
    const parts = attributes(withoutProof);
    const proof = base64Decode(message.slice(proofAt + 3));
    if (parts === null || proof === null || proof.length !== 32) {
      return { kind: 'fail', sqlstate: '08P01', message: 'malformed SCRAM message' };
    }
    if (parts.get('c') !== base64Encode(encoder.encode(this.gs2Header))) {
      return {
        kind: 'fail',
        sqlstate: '08P01',
        message: 'SCRAM channel binding check failed',
      };
    }
    if (parts.get('r') !== this.nonce) {
      return { kind: 'fail', sqlstate: '08P01', message: 'SCRAM nonce mismatch' };
    }
    const authMessage = encoder.encode(`${this.clientFirstBare},${this.serverFirst},${withoutProof}`);
    const clientSignature = this.crypto.hmacSha256(this.verifier.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const proofGood = constantTimeEqual(this.crypto.sha256(clientKey), this.verifier.storedKey);
    if (!proofGood || !this.userKnown) return this.authenticationFailed();
    const serverSignature = this.crypto.hmacSha256(this.verifier.serverKey, authMessage);
    return { kind: 'final', serverMessage: `v=${base64Encode(serverSignature)}` };
  }
}

/** A made-up verifier for an unknown user: stable per user name so retries look the same. */
function mockVerifier(crypto: ScramCrypto, user: string): ScramVerifier {
  const seed = crypto.sha256(encoder.encode(`northlight-mock-scram:${user}`));
  return {
    iterations: 4096,
    salt: seed.slice(0, 16),
    storedKey: crypto.sha256(seed),
    serverKey: crypto.sha256(crypto.sha256(seed)),
  };
}

/** SaltedPassword → verifier (RFC 5802 §3); PBKDF2 itself runs in io. */
export function verifierFromSaltedPassword(
  crypto: ScramCrypto,
  saltedPassword: Uint8Array,
  salt: Uint8Array,
  iterations: number,
): ScramVerifier {
  const clientKey = crypto.hmacSha256(saltedPassword, encoder.encode('Client Key'));
  return {
    iterations,
    salt,
    storedKey: crypto.sha256(clientKey),
    serverKey: crypto.hmacSha256(saltedPassword, encoder.encode('Server Key')),
  };
}
