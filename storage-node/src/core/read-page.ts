/**
 * Page reads at a read point (paper §4.2.3): the page as of `readPoint` is the segment's newest image
 * of it (or zeros for a page never materialized) with the page's records in (image LSN, readPoint]
 * applied in LSN order (protocol's `applyRuns`). A segment serves any read point in
 * [max(PGMRPL, materializedThrough), SCL]:
 *  - below PGMRPL the reader broke its promise, and below `materializedThrough` the records that would
 *    be needed are already coalesced into the image (and maybe GC'd);
 *  - above the SCL the segment misses a record the page may need (the reader should pick a segment
 *    whose SCL is high enough, or wait for gossip to fill the gap).
 *
 * Refusals are typed (`ReadRefusal`): the reason, and the NorthlightError whose code travels in a
 * request-rejected. Until the catalog has a code of its own for it, "above the SCL" is sent as
 * NL_LSN_ALLOCATION_LIMIT (the segment is behind the writer) and "below the minimum read point" as
 * NL_DECODE_INVALID (the reader broke the protocol); the reason is in the message text.
 */

import type { Environment } from '@northlight/protocol';
import { type ErrorCode, NorthlightError, type PgId, type SegmentId } from '@northlight/protocol';
import { buildImage } from './materializer.js';
import type { Segment } from './segment.js';
import type { Storage } from './storage.js';

export type ReadRefusalReason =
  /** The core is starting, reloading after a disk error, or stopping. */
  | 'not-serving'
  /** This node hosts no such segment (or it lost it with its disk). */
  | 'unknown-segment'
  /** The segment's control state is damaged; it answers nothing. */
  | 'silent'
  | 'stale-epoch'
  | 'page-outside-pg'
  | 'below-min-read-point'
  | 'above-scl'
  /** The page image or one of its records failed its checksum. */
  | 'damaged'
  /** Too many reads in flight (`readsInFlightMax`). */
  | 'overloaded';

export interface ReadRefusal {
  readonly reason: ReadRefusalReason;
  readonly error: NorthlightError;
}

export type ReadPageOutcome =
  | { readonly ok: true; readonly page: Uint8Array }
  | { readonly ok: false; readonly refusal: ReadRefusal };

const REFUSAL_CODES: Readonly<Record<ReadRefusalReason, ErrorCode>> = {
  'not-serving': 'NL_TIMEOUT',
  'unknown-segment': 'NL_CONFIG_INVALID',
  silent: 'NL_DISK_IO',
  'stale-epoch': 'NL_EPOCH_STALE',
  'page-outside-pg': 'NL_DECODE_INVALID',
  'below-min-read-point': 'NL_DECODE_INVALID',
  'above-scl': 'NL_LSN_ALLOCATION_LIMIT',
  damaged: 'NL_DECODE_CHECKSUM',
  overloaded: 'NL_TIMEOUT',
};

export function refuse(
  reason: ReadRefusalReason,
  message: string,
  details: Readonly<Record<string, string | number | bigint | boolean>> = {},
): { ok: false; refusal: ReadRefusal } {
  return {
    ok: false,
    refusal: { reason, error: new NorthlightError(REFUSAL_CODES[reason], message, { reason, ...details }) },
  };
}

/** True when `pageNo` lies in PG `pgId` (PG n holds pages [n × pagesPerPg, (n + 1) × pagesPerPg)). */
export function pageInPg(pageNo: number, pgId: PgId, pagesPerPg: number): boolean {
  const first = pgId * pagesPerPg;
  return pageNo >= first && pageNo < first + pagesPerPg;
}

/** Reads the page; the caller checked serving, segment, epoch and the in-flight limit. */
export async function readPageAt(
  env: Environment,
  storage: Storage,
  segment: Segment,
  pageNo: number,
  readPoint: bigint,
): Promise<ReadPageOutcome> {
  const control = segment.control;
  const where = { pgId: control.pgId, segmentId: control.segmentId as SegmentId, pageNo, readPoint };
  if (!pageInPg(pageNo, control.pgId, storage.options.pagesPerPg))
    return refuse('page-outside-pg', `page ${pageNo} is not in PG ${control.pgId}`, where);
  const floor =
    control.minReadPoint > control.materializedThrough ? control.minReadPoint : control.materializedThrough;
  if (readPoint < floor) {
    return refuse(
      'below-min-read-point',
      `read point ${readPoint} is below the PG's minimum read point ${floor}: those versions are coalesced`,
      { ...where, minReadPoint: floor },
    );
  }
  if (readPoint > segment.scl) {
    return refuse(
      'above-scl',
      `read point ${readPoint} is above the segment's SCL ${segment.scl}: read from a member complete to it`,
      { ...where, scl: segment.scl },
    );
  }
  if (segment.damagedPages.has(pageNo)) return refuse('damaged', `page ${pageNo} is damaged`, where);
  const image = segment.pages.get(pageNo);
  const records = segment.pageRecordsBetween(pageNo, image?.lsn ?? 0n, readPoint);
  const page = await storage.pinned(() => buildImage(env, storage, segment, pageNo, records, 'read'));
  if (page === undefined) return refuse('damaged', `page ${pageNo} or one of its records is damaged`, where);
  return { ok: true, page };
}
