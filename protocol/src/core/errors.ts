/**
 * The error catalog: every expected failure in northlight has a stable code, a one-line meaning and
 * an action for the operator. Codes never change meaning once released; `docs/errors.md` documents
 * each one and a test keeps the two in step. Programmer errors are assertions (`assert.ts`), not these.
 */
export const errorCatalog = {
  NL_DECODE_TRUNCATED: {
    summary: 'The input ended before a complete record or frame could be read.',
    action: 'The peer sent a partial message or a file has a torn tail; drop the input and re-request it.',
  },
  NL_DECODE_CHECKSUM: {
    summary: 'A CRC32C did not match the bytes it covers.',
    action: 'The bytes were corrupted in flight or at rest; discard them and fetch a good copy from a peer.',
  },
  NL_DECODE_UNKNOWN_VERSION: {
    summary: 'A frame or record carries a format version this build does not understand.',
    action:
      'Upgrade this process, or finish the rolling upgrade so that all members speak the same versions.',
  },
  NL_DECODE_FRAME_TOO_LARGE: {
    summary: 'A frame declares a length above the maximum frame size.',
    action:
      'The peer is misconfigured or hostile; the connection is closed. Check that both sides use the same limits.',
  },
  NL_DECODE_INVALID: {
    summary:
      'A record or frame is well-formed on the wire but breaks a rule of the format (bad kind, overlapping diff runs, trailing bytes).',
    action: 'The sender has a bug; the input is rejected. Report it with the logged hex dump.',
  },
  NL_QUORUM_LOST: {
    summary: 'Fewer members than the quorum needs are reachable, so the operation cannot complete.',
    action:
      'Restore the unreachable storage nodes or zone; writes resume once 4 of 6 members of every quorum set answer.',
  },
  NL_EPOCH_STALE: {
    summary:
      'A request carried a volume epoch older than the one the segment holds: a newer writer has recovered the volume.',
    action: 'This writer has been fenced and must stop; clients reconnect to the current writer.',
  },
  NL_MEMBERSHIP_STALE: {
    summary:
      "A request carried a membership epoch older than the segment's: the PG's member set has changed.",
    action: 'Refresh the volume layout from the metadata directory (or a storage node) and retry.',
  },
  NL_LSN_ALLOCATION_LIMIT: {
    summary: 'Allocating another LSN would pass VDL + LAL: storage is not keeping up with the writer.',
    action:
      'Back-pressure: the request waits. If it persists, look at storage latency and unreachable segments.',
  },
  NL_DISK_IO: {
    summary: 'A read, write or sync on local disk failed.',
    action:
      "Check the node's disk (space, health); the segment is marked unhealthy and repaired from its peers.",
  },
  NL_OBJECT_STORE_UNAVAILABLE: {
    summary: 'The S3-compatible object store did not answer or refused the request.',
    action:
      "Check the backup target's endpoint and credentials; uploads are retried and the backlog is reported.",
  },
  NL_NETWORK_UNREACHABLE: {
    summary: 'A peer could not be reached.',
    action:
      'Usually transient; the request is retried on another member. If it persists, check the peer and the network.',
  },
  NL_TIMEOUT: {
    summary: 'An operation did not finish within its deadline.',
    action: 'Usually transient; it is retried. If it persists, look for overloaded or partitioned nodes.',
  },
  NL_SEGMENT_BUSY: {
    summary:
      'Another operation is already filling this segment (a hydration from a peer or a restore from a backup); this one would conflict with it.',
    action:
      'Wait for it to finish, then check the segment again: it may no longer need this operation. The control plane does this by itself.',
  },
  NL_CONFIG_INVALID: {
    summary: 'A configuration value or command-line argument is invalid.',
    action: 'Correct the value named in the message and start again.',
  },
  NL_REQUEST_INVALID: {
    summary:
      'An admin API request was refused: a bad path parameter, query or body, or an unknown route or resource.',
    action: 'Fix the request named in the message (see the API documentation) and send it again.',
  },
  NL_AUTH_FAILED: {
    summary:
      "An HTTP request was refused (401) for missing or wrong credentials: the engine's /v1/sql takes the PostgreSQL user and password (HTTP Basic); its other /v1/ routes take the cluster's internal token (Bearer).",
    action:
      'Send the credentials the message names: `northlight sql` and the control plane do. With `northlight up` the password is in <data dir>/pg-password and the token in <data dir>/internal-token; on Kubernetes in the Secrets <cluster>-app and <cluster>-internal.',
  },
  NL_METADATA_CONFLICT: {
    summary:
      'A metadata directory write was planned from a revision that is no longer current: another control plane wrote since.',
    action:
      'Expected under concurrency: re-read the directory, plan again and retry. If it persists, two control planes manage one cluster; run only one per cluster name.',
  },
  NL_METADATA_CORRUPT: {
    summary:
      "The metadata directory's stored document does not decode: not JSON, a checksum mismatch, a broken record rule, or a revision key that disagrees with the document.",
    action:
      'The directory is a cache of the storage nodes: move the named file aside (or delete the Redis keys named) and the control plane rebuilds it from the storage nodes.',
  },
  NL_METADATA_UNAVAILABLE: {
    summary:
      'The metadata directory (Redis) refused the connection or did not answer within the command timeout.',
    action:
      'Check that Redis is running and reachable at the configured URL; the control plane retries, and storage nodes and engines keep serving meanwhile.',
  },
} as const satisfies Record<string, { summary: string; action: string }>;

export type ErrorCode = keyof typeof errorCatalog;

export const errorCodes = Object.keys(errorCatalog) as ErrorCode[];

/** An expected, typed failure. `details` holds machine-readable context (ids, LSNs, epochs). */
export class NorthlightError extends Error {
  override readonly name = 'NorthlightError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string | number | bigint | boolean>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Readonly<Record<string, string | number | bigint | boolean>> = {},
  ) {
    super(`${code}: ${message}`);
    this.code = code;
    this.details = details;
  }

  get action(): string {
    return errorCatalog[this.code].action;
  }
}

export function isNorthlightError(value: unknown, code?: ErrorCode): value is NorthlightError {
  return value instanceof NorthlightError && (code === undefined || value.code === code);
}

/** For functions whose caller must branch on failure, instead of throwing. */
export type Result<T, E = NorthlightError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail(error: NorthlightError): { ok: false; error: NorthlightError } {
  return { ok: false, error };
}
