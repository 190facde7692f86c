/**
 * Page materialization and GC (paper §3.3 steps 5 and 7), one bounded step at a time.
 *
 * A step takes the next records of a segment's chain above `materializedThrough`, up to at most
 * min(SCL, durable hint, PGMRPL) and at most `materializeRecordsPerStep` of them, and coalesces them
 * into new images of the pages they touch, all as of the step's target LSN (the LSN of its last
 * record, so the target is always on the chain). Then GC drops the log records at or below the new
 * `gcThrough`.
 *
 * Why those three bounds:
 *  - SCL: an image must include every record of the page below its LSN.
 *  - durable hint (the writer's VDL): a record above it may still be annulled by a recovery's
 *    truncation, and an image cannot forget a record. Every record at or below a hint reached a write
 *    quorum, and every later recovery's VDL is at least that hint, so it is never annulled.
 *  - PGMRPL (paper §4.2.3): no read comes below it, so a page needs only ONE image (as of ≤ PGMRPL):
 *    a read at any read point in [PGMRPL, SCL] applies the page's records above that image. The
 *    superseded image is freed once the new one is durable (P2), which is the page-version GC.
 *
 * Crash reasoning (M1–M4; P1–P3 in page-store.ts):
 *  M1. New images go to free slots and are synced BEFORE the `materialized` control entry is appended
 *      (and synced): after a crash either the entry is durable and so are all its images, or it is not
 *      and replay ignores the new images (P1), keeping the old ones, which the step never touched.
 *  M2. Log records are released (and their files deleted) only AFTER that entry is durable, and only up
 *      to `gcThrough`, which is ≤ the durable `materializedThrough`: replay skips records at or below
 *      gcThrough, which by then are all inside durable images.
 *  M3. With `requireBackupBeforeGc`, gcThrough advances only to what `backup.isBackedUp` confirms (the
 *      S3 staging seam); until then the records stay in the log (and indexed) though images cover them.
 *  M4. A damaged page (its image failed its CRC) does not stop materialization of the others: its
 *      records are skipped, so its image falls behind `materializedThrough`, and GC stops where it is
 *      until the page is repaired — the repair (the core's `#pageRepaired`) takes a peer's copy as of
 *      some L ≥ gcThrough, applies this segment's own records of the page in (L, materializedThrough]
 *      (all still held, by this rule) and installs the image as of materializedThrough, in the
 *      materialization queue so that point cannot move meanwhile. Reads of the page are refused until
 *      then; after a crash the damaged image is found again at replay (its slot was never freed) and
 *      the repair starts over. Had materialization stopped instead, the PG's minimum read point would
 *      soon pass the frozen image point, and every peer would refuse to read the page that low.
 */
import {
  applyRunsInPlace,
  type Environment,
  isNorthlightError,
  type Lsn,
  minLsn,
  type RedoRecord,
} from '@northlight/protocol';
import { applySegmentEntry, type ControlEntry } from './control-log.js';
import type { ResolvedOptions } from './options.js';
import type { IndexedRecord, Segment } from './segment.js';
import type { Storage } from './storage.js';

export interface MaterializeStepResult {
  readonly recordsCoalesced: number;
  readonly pagesWritten: number;
  readonly recordsCollected: number;
}

const NOTHING: MaterializeStepResult = { recordsCoalesced: 0, pagesWritten: 0, recordsCollected: 0 };

/** The highest LSN a segment's images may be as of: min(SCL, durable hint, PGMRPL). */
export function materializationLimit(segment: Segment): Lsn {
  const control = segment.control;
  return minLsn(minLsn(segment.scl, control.durableHint), control.minReadPoint);
}

/** Whether `materializeStep` has anything to do for this segment. */
export function hasMaterializationWork(segment: Segment, options: ResolvedOptions): boolean {
  if (segment.state !== 'active' || segment.dropped) return false;
  const control = segment.control;
  if (gcTarget(segment, options) > control.gcThrough) return true;
  return segment.recordsBetween(control.materializedThrough, materializationLimit(segment), 1).length > 0;
}

/** How far GC may go: to materializedThrough, or (M3) only as far as the backup has reached. */
function gcTarget(
  segment: Segment,
  options: ResolvedOptions,
  materialized = segment.control.materializedThrough,
): Lsn {
  const control = segment.control;
  // M4: while a page is damaged its records stay (the repair brings its image up to date with them).
  if (segment.damagedPages.size > 0) return control.gcThrough;
  if (!options.requireBackupBeforeGc) return materialized;
  return options.backup!.isBackedUp(control.pgId, control.segmentId, materialized)
    ? materialized
    : control.gcThrough;
}

type Built =
  | { kind: 'built'; written: { pageNo: number; slot: number }[] }
  | { kind: 'stopped'; written: { pageNo: number; slot: number }[] };

/**
 * One bounded step for `segment`. `isCurrent()` says whether `storage` is still the core's (a disk
 * error makes the core reload, abandoning everything in flight). Disk errors propagate.
 */
export async function materializeStep(
  env: Environment,
  storage: Storage,
  segment: Segment,
  isCurrent: () => boolean,
): Promise<MaterializeStepResult> {
  const options = storage.options;
  const control = segment.control;
  if (segment.state !== 'active' || segment.dropped) return NOTHING;
  const records = segment.recordsBetween(
    control.materializedThrough,
    materializationLimit(segment),
    options.materializeRecordsPerStep,
  );
  if (records.length === 0) return collectOnly(storage, segment, isCurrent);
  const target = records.at(-1)!.lsn;
  const built = await storage.pinned(() => buildImages(env, storage, segment, records, target, isCurrent));
  const abandon = (): MaterializeStepResult => {
    for (const { slot } of built.written) storage.pageStore.freeUnused(slot);
    return NOTHING;
  };
  if (built.kind === 'stopped') return abandon();
  await storage.pageStore.sync(); // M1: images durable before the entry that makes them count
  if (!isCurrent() || segment.dropped) return abandon();
  const entry: Extract<ControlEntry, { kind: 'materialized' }> = {
    kind: 'materialized',
    number: control.number,
    materializedThrough: target,
    gcThrough: gcTarget(segment, options, target),
  };
  await storage.controlLog.append([entry]);
  if (!isCurrent()) return NOTHING;
  if (segment.dropped) return abandon();
  applySegmentEntry(control, entry);
  if (segment.scl < control.materializedThrough) {
    // A record of this step was found rotten by a concurrent read after we read it intact: the image
    // is right, and the SCL re-bases on the new materialization point.
    for (const dropped of segment.rebuild()) storage.nodeLog.release(dropped.location);
    storage.releasePruned(segment, env.log);
  }
  let supersededBytes = 0;
  for (const { pageNo, slot } of built.written) {
    const previous = segment.pages.get(pageNo);
    if (previous !== undefined) {
      storage.pageStore.free(previous.slot); // P2
      supersededBytes += storage.pageStore.slotBytes;
    }
    segment.pages.set(pageNo, { slot, lsn: target });
  }
  const collected = collectRecords(storage, segment); // M2
  options.metrics.gcBytes(supersededBytes);
  options.metrics.pagesMaterialized(control, built.written.length);
  options.metrics.materializationLagLsn(control, Number(segment.scl - control.materializedThrough));
  await storage.reclaim();
  return {
    recordsCoalesced: records.length,
    pagesWritten: built.written.length,
    recordsCollected: collected,
  };
}

/**
 * Builds and writes (unsynced) the new image of every page the records touch: all built first, then
 * written with one disk write per run of adjacent free slots, and kept in the image cache (P5), so
 * that the next step of a hot page reads no disk.
 */
async function buildImages(
  env: Environment,
  storage: Storage,
  segment: Segment,
  records: readonly IndexedRecord[],
  target: Lsn,
  isCurrent: () => boolean,
): Promise<Built> {
  const byPage = new Map<number, IndexedRecord[]>();
  for (const record of records) {
    if (record.pageNo === undefined) continue; // a NOOP: only a CPL
    const list = byPage.get(record.pageNo);
    if (list === undefined) byPage.set(record.pageNo, [record]);
    else list.push(record);
  }
  const images: { pageNo: number; bytes: Uint8Array }[] = [];
  for (const [pageNo, pageRecords] of byPage) {
    if (segment.damagedPages.has(pageNo)) continue; // M4: repaired from a peer, then brought up to date
    const image = await buildImage(env, storage, segment, pageNo, pageRecords, 'materialize');
    if (image === undefined || !isCurrent() || segment.dropped) return { kind: 'stopped', written: [] };
    images.push({ pageNo, bytes: image });
  }
  const slots = await storage.pageStore.writeMany(segment.control.number, target, images, { cache: true });
  const written = images.map(({ pageNo }, index) => ({ pageNo, slot: slots[index]! }));
  if (!isCurrent() || segment.dropped) return { kind: 'stopped', written };
  return { kind: 'built', written };
}

/**
 * The page's newest image (or zeros) with `records` applied, in order. Undefined if the image or a
 * record failed its checksum (it is then recorded as damaged). Shared with page reads.
 */
export async function buildImage(
  env: Environment,
  storage: Storage,
  segment: Segment,
  pageNo: number,
  records: readonly IndexedRecord[],
  foundBy: 'materialize' | 'read',
): Promise<Uint8Array | undefined> {
  const base = segment.pages.get(pageNo);
  let page: Uint8Array;
  if (base === undefined) {
    page = storage.pageStore.newPage();
  } else {
    try {
      page = await storage.pageStore.readForRewrite(base.slot, segment.control.number, pageNo, base.lsn);
    } catch (error) {
      if (!isDecodeError(error)) throw error;
      storage.pageDamaged(env, segment, pageNo, foundBy);
      return undefined;
    }
  }
  for (const record of records) {
    let decoded: RedoRecord;
    try {
      decoded = await storage.readRecord(segment, record);
    } catch (error) {
      if (!isDecodeError(error)) throw error;
      storage.recordDamaged(env, segment, record, foundBy);
      return undefined;
    }
    applyRunsInPlace(page, decoded.runs); // `page` is this call's own copy
  }
  return page;
}

export function isDecodeError(error: unknown): boolean {
  return isNorthlightError(error) && error.code.startsWith('NL_DECODE_');
}

/** GC without new images: the backup caught up with what was already materialized (M3). */
async function collectOnly(
  storage: Storage,
  segment: Segment,
  isCurrent: () => boolean,
): Promise<MaterializeStepResult> {
  const control = segment.control;
  const gcThrough = gcTarget(segment, storage.options);
  if (gcThrough <= control.gcThrough) return NOTHING;
  const entry: ControlEntry = {
    kind: 'materialized',
    number: control.number,
    materializedThrough: control.materializedThrough,
    gcThrough,
  };
  await storage.controlLog.append([entry]);
  if (!isCurrent() || segment.dropped) return NOTHING;
  applySegmentEntry(control, entry);
  const collected = collectRecords(storage, segment);
  await storage.reclaim();
  return { recordsCoalesced: 0, pagesWritten: 0, recordsCollected: collected };
}

/** Drops the records at or below gcThrough (their entry is durable, M2). */
function collectRecords(storage: Storage, segment: Segment): number {
  const records = storage.releaseRecordsThrough(segment, segment.control.gcThrough);
  let bytes = 0;
  for (const record of records) bytes += record.location.entryBytes;
  storage.options.metrics.gcBytes(bytes);
  return records.length;
}
