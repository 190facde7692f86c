/**
 * node:crypto for the SCRAM-SHA-256 server (`src/core/pgwire/scram.ts`), and verifiers made from
 * passwords the way PostgreSQL makes them (16 random salt bytes, 4096 PBKDF2 iterations by default),
 * so a verifier can be copied from `pg_authid.rolpassword` or made here and used by either.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  formatVerifier,
  type ScramCrypto,
  type ScramVerifier,
  verifierFromSaltedPassword,
} from '../core/pgwire/scram.js';

export const nodeScramCrypto: ScramCrypto = {
  hmacSha256: (key, data) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
  sha256: (data) => new Uint8Array(createHash('sha256').update(data).digest()),
  nonce: () => randomBytes(18).toString('base64'),
};

/** PostgreSQL's default (scram_iterations). */
export const SCRAM_ITERATIONS_DEFAULT = 4096;

/**
 * A verifier for `password`. PostgreSQL runs SASLprep on the password first; for ASCII passwords
 * (the only ones we document) that is the identity, and Unicode NFKC covers the common rest.
 */
export function scramVerifierFromPassword(
  password: string,
  iterations: number = SCRAM_ITERATIONS_DEFAULT,
  salt: Uint8Array = new Uint8Array(randomBytes(16)),
): ScramVerifier {
  const salted = new Uint8Array(pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256'));
  return verifierFromSaltedPassword(nodeScramCrypto, salted, salt, iterations);
}

export function scramVerifierText(password: string, iterations?: number): string {
  return formatVerifier(scramVerifierFromPassword(password, iterations));
}
