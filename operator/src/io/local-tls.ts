/**
 * `spec.local.tls` for `northlight up`: the engines' certificate and key, checked before anything
 * starts (a pair that does not load would otherwise be found by each engine at its start, after the
 * storage fleet was up). The engines read the files themselves, and read them again when they change.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { NorthlightError } from '@northlight/protocol';
import type { LocalTlsSpec } from '../core/cluster-spec.js';

/** Throws NL_CONFIG_INVALID saying which file is unreadable, or that the pair does not load. */
export function checkLocalTls(tls: LocalTlsSpec): void {
  const read = (field: 'certFile' | 'keyFile'): Buffer => {
    try {
      return readFileSync(tls[field]);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new NorthlightError(
        'NL_CONFIG_INVALID',
        `spec.local.tls.${field}: cannot read ${tls[field]} (${reason}); give the path of a readable PEM file`,
      );
    }
  };
  const cert = read('certFile');
  const key = read('keyFile');
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new NorthlightError(
      'NL_CONFIG_INVALID',
      `spec.local.tls: ${tls.certFile} and ${tls.keyFile} are not a PEM certificate and its private key (${(error as Error).message})`,
    );
  }
}
