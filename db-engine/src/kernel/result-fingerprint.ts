/**
 * The fingerprint of a statement's result, as an optimistic transaction's replay compares it
 * (`ExecuteRequest.replay`, transaction-gate.ts): a transaction may commit only if every statement it
 * ran gives, at its commit, exactly the result its client saw. Two results have the same fingerprint
 * when they have the same columns, the same rows (values and storage classes, in order) and the same
 * count of changed rows; anything else a result carries (declared types) follows from those.
 *
 * SHA-256 of the values' structured-clone encoding (`v8.serialize`, which keeps bigint, Uint8Array,
 * -0 and NaN apart): a collision would let a transaction commit over a change it did not see, so the
 * hash is a cryptographic one, and the cost (a few microseconds for a small result) is small next to
 * running the statement.
 */
import { createHash } from 'node:crypto';
import { serialize } from 'node:v8';
import type { StatementResult } from './messages.js';

export function resultFingerprint(result: StatementResult): string {
  // A result with no rows (an INSERT, UPDATE or DELETE without RETURNING, the most common step of a
  // write transaction) is its changed-row count and columns, written out: exact, and no hashing. A
  // base64 digest never holds `|`, so the two forms cannot meet.
  if (result.rows.length === 0) return `${result.changes}|${JSON.stringify(result.columns)}`;
  return createHash('sha256')
    .update(serialize([result.columns, result.rows, result.changes]))
    .digest('base64');
}
