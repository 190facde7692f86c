/**
 * Staging to S3 (paper §3.3 step 6): each segment's chain records, once at or below its durable hint,
 * are uploaded in sealed chunks, and now and then a base of every page image, with a manifest that
 * makes the segment rebuildable from the object store alone (backup-format.ts). Sans-I/O: the object
 * store, clock and logger come from the core's Environment.
 *
 * Crash and failure reasoning:
 *  B1. The manifest is written after every object it names: a crash or an object-store error between
 *      leaves a manifest that names only stored objects (and an orphan chunk, overwritten by the retry:
 *      the same records give the same key and bytes).
 *  B2. `backedUpThrough` only moves when the manifest naming it is stored; GC of the local log waits for
 *      it (materializer M3), so a record leaves this node only once it is in S3 (or in a base there).
 *  B3. A node that restarts reads its segment's manifest before trusting anything about the backup;
 *      until it could, GC keeps every record (the backup is "unknown", never assumed).
 *  B4. Records above the durable hint are never staged (backup-format.ts): a later truncation cannot
 *      annul a staged record.
 *  B5. If the log no longer holds the records above the backup (backup enabled late, or a base
 *      installed), the next upload is a base as of the materialization point, which covers them.
 *  B6. Small chunks are merged, so a manifest stays small. A segment written a little at a time
 *      stages one small chunk per tick, and the manifest, rewritten after each, names every chunk since
 *      the last base: left alone, its size grows with the time since that base and the bytes uploaded
 *      with its square (a trickle of writes for a day: ~86,000 chunks, a 15 MB manifest uploaded every
 *      second). Once `mergeChunksAt` chunks are small (under half of `chunkBytesMax`), a step reads a
 *      run of adjacent small ones back from the object store (checked as a restore checks them),
 *      uploads their records as one chunk, and rewrites the manifest with that chunk in their place;
 *      only then are the old objects deleted (B1 holds: the manifest names stored objects only; a crash
 *      in between leaves orphans, harmless). `backedUpThrough` does not move, so GC is unaffected. A
 *      merged chunk that is still small is merged again with the next run, until it is not: between
 *      two bases a manifest names at most `mergeChunksAt` small chunks and the large ones. A source
 *      chunk missing or damaged in the object store is a broken backup (it cannot be restored past
 *      that chunk): logged, shown (`brokenChunk`, the broken-segments gauge), merging stops, and the
 *      next step once materialization has passed the chunk stages a base, which replaces it.
 *  B7. Staging is batched by size and age, not done every tick: every PUT is billed, and six members of
 *      every PG stage their own copy, so a chunk and a manifest per segment per tick was ~1,200 PUTs a
 *      second for a 100-PG volume written everywhere, the manifests often more bytes than the chunks. A
 *      tick (`stagingDue`) stages a segment's next chunk only once its stageable records (B4) reach
 *      `stageAtBytes` (half a chunk: such a chunk is not small, so B6 never merges it), or the oldest of
 *      them has waited `maxDelayMs`; 0 stages every tick. The rest is never delayed: the manifest read
 *      (B3: GC waits for it), a base that heals a broken chunk (B6) or that the log needs (B5), a merge
 *      due (B6), and `backupNow` (mode `now`) stage at once. The manifest is rewritten only with a new
 *      object (chunk, base, merged chunk), never on a tick that staged nothing. What waits longer is GC
 *      (B2): the local log keeps what is not staged, at most about `stageAtBytes` plus `maxDelayMs` of
 *      writes per segment more than before (docs/storage-node-s3.md, "Staging cadence").
 *      The age of what waits is known without a clock per record: each tick notes, per segment, the
 *      highest LSN it holds (`noteArrivals`), so a mark (lsn, atMs) says "at atMs no record above lsn
 *      was held": every record above `backedUpThrough` arrived after the last mark at or below it
 *      (`unstagedSinceMs`). The age shown and used is thus never less than the real one, and more by at
 *      most one tick (records replayed after a restart count from the restart: their arrival is not
 *      on disk). The marks are bounded (`ARRIVAL_MARKS_MAX`); dropping any mark but the first only
 *      makes the bound older, never younger.
 */
import {
  assert,
  type Environment,
  isNorthlightError,
  type Lsn,
  minLsn,
  NorthlightError,
  type RedoRecord,
} from '@northlight/protocol';
import {
  type BackupManifest,
  type BaseImage,
  type BaseRef,
  baseKey,
  type ChunkRef,
  chunkKey,
  decodeChunk,
  decodeManifest,
  encodeBase,
  encodeChunk,
  encodeManifest,
  manifestKey,
} from './backup-format.js';
import { isDecodeError } from './materializer.js';
import type { Segment } from './segment.js';
import type { Storage } from './storage.js';

export interface BackupSettings {
  readonly prefix: string;
  readonly chunkBytesMax: number;
  /** A new base is taken once this many chunk bytes were staged since the last one. */
  readonly baseEveryBytes: number;
  /** Small chunks (under half of `chunkBytesMax`) are merged once the manifest names this many (B6). */
  readonly mergeChunksAt: number;
  /** B7: a tick stages a chunk once the oldest stageable record has waited this long (0: every tick). */
  readonly maxDelayMs: number;
  /** B7: … or once this many stageable log bytes are pending (half of `chunkBytesMax`). */
  readonly stageAtBytes: number;
}

/**
 * B7: the stageable bytes at which a tick stages a chunk without waiting: half a chunk, so that a chunk
 * staged for its size is about as large as B6 calls not small (log entries carry 24 bytes of header a
 * chunk does not, so with small records it can fall just short, and is merged later like any other).
 */
export function stageAtBytesOf(chunkBytesMax: number): number {
  return Math.ceil(chunkBytesMax / 2);
}

/** `now`: stage what is stageable (`backupNow`). `when-due`: a tick, which batches chunks (B7). */
export type StagingMode = 'now' | 'when-due';

/** B7: arrival marks kept per segment at most; past it every other one is dropped (the first kept). */
export const ARRIVAL_MARKS_MAX = 64;

/** B7: at `atMs`, the segment held no record above `lsn`. */
export interface ArrivalMark {
  readonly lsn: Lsn;
  readonly atMs: number;
}

/** B6: how long after a merge the object store failed the next one is tried. */
export const MERGE_RETRY_MS = 60_000;

/** Per-segment backup progress (memory only: the manifest in the object store is the durable truth). */
export interface SegmentBackup {
  /** `unknown` until the manifest was read (B3). */
  state: 'unknown' | 'known';
  manifest: BackupManifest | undefined;
  /** B7: ascending in LSN and time; the first has LSN 0 once the segment was noted at all. */
  readonly arrivals: ArrivalMark[];
  chunkBytesSinceBase: number;
  lastError: string | undefined;
  /**
   * B6: the key of a chunk the manifest names that a merge found missing or damaged in the object
   * store (the backup cannot be restored past it); no merge until the next base replaces it.
   */
  brokenChunk: string | undefined;
  /**
   * B6: a merge that failed on the object store (unavailable, or reads refused: a bucket policy that
   * lets the node write but not read) is not tried again before this time; staging goes on meanwhile.
   */
  mergeRetryAtMs: number;
}

export function newSegmentBackup(): SegmentBackup {
  return {
    state: 'unknown',
    manifest: undefined,
    arrivals: [],
    chunkBytesSinceBase: 0,
    lastError: undefined,
    brokenChunk: undefined,
    mergeRetryAtMs: 0,
  };
}

export function backedUpThrough(segment: Segment): Lsn | undefined {
  const backup = segment.backup;
  if (backup.state !== 'known') return undefined;
  return backup.manifest?.backedUpThrough ?? (0n as Lsn);
}

/** How far a segment's records may be staged: its chain (SCL), at or below its durable hint (B4). */
export function stageLimit(segment: Segment): Lsn {
  return minLsn(segment.scl, segment.control.durableHint);
}

/**
 * B7: notes at `nowMs` the highest LSN the segment holds. `previousNoteMs` is when the core last noted
 * every segment it held (or began serving): a segment without marks did not exist then, so it held
 * nothing, and its first mark says so. Marks at or below the backup but the last are dropped.
 */
export function noteArrivals(segment: Segment, nowMs: number, previousNoteMs: number): void {
  const arrivals = segment.backup.arrivals;
  if (arrivals.length === 0) arrivals.push({ lsn: 0n as Lsn, atMs: previousNoteMs });
  const through = backedUpThrough(segment);
  if (through !== undefined) {
    let keep = 0;
    while (keep + 1 < arrivals.length && arrivals[keep + 1]!.lsn <= through) keep++;
    arrivals.splice(0, keep);
  }
  const highest = segment.highestLsn;
  if (highest <= arrivals.at(-1)!.lsn) return;
  if (arrivals.length >= ARRIVAL_MARKS_MAX) {
    // Any mark but the first may go: a lookup then finds an earlier one, an older bound (B7).
    for (let index = arrivals.length - 1; index >= 1; index -= 2) arrivals.splice(index, 1);
  }
  arrivals.push({ lsn: highest, atMs: nowMs });
  assert(arrivals.length <= ARRIVAL_MARKS_MAX, 'arrival marks pile up');
}

/**
 * B7: a time at or before the arrival of every record above `through` that the segment holds (the last
 * mark at or below it), or undefined if the segment was never noted.
 */
export function unstagedSinceMs(segment: Segment, through: Lsn): number | undefined {
  let since: number | undefined;
  for (const mark of segment.backup.arrivals) {
    if (mark.lsn > through) break;
    since = mark.atMs;
  }
  return since;
}

/**
 * B7: whether a tick stages the segment's next chunk now: enough bytes pending, or the oldest of them
 * waited long enough (a segment never noted is due: its age is unknown).
 */
export function stagingDue(
  segment: Segment,
  settings: Pick<BackupSettings, 'maxDelayMs' | 'stageAtBytes'>,
  through: Lsn,
  nowMs: number,
): boolean {
  if (settings.maxDelayMs === 0) return true;
  const since = unstagedSinceMs(segment, through);
  if (since === undefined || nowMs - since >= settings.maxDelayMs) return true;
  const limit = stageLimit(segment);
  return segment.bytesBetween(through, limit, settings.stageAtBytes) >= settings.stageAtBytes;
}

/** Node-wide backlog of staging: stageable bytes not staged, and the age of the oldest (B7). */
export interface BackupLag {
  readonly bytes: number;
  readonly seconds: number;
  /** Segments whose backup names a missing or damaged chunk (B6). */
  readonly brokenSegments: number;
}

/**
 * The lag over `segments` at `nowMs`. `notedMs`: when the core last noted every segment (a segment
 * without marks arrived after it, so its records are no older). Never less than the real age (B7).
 */
export function backupLag(segments: Iterable<Segment>, nowMs: number, notedMs: number): BackupLag {
  let bytes = 0;
  let oldestMs = nowMs;
  let brokenSegments = 0;
  for (const segment of segments) {
    if (segment.backup.brokenChunk !== undefined) brokenSegments++;
    const through = backedUpThrough(segment) ?? segment.control.gcThrough;
    const pending = segment.bytesBetween(through, stageLimit(segment), Number.MAX_SAFE_INTEGER);
    if (pending === 0) continue;
    bytes += pending;
    oldestMs = Math.min(oldestMs, unstagedSinceMs(segment, through) ?? notedMs);
  }
  return { bytes, seconds: Math.max(0, nowMs - oldestMs) / 1000, brokenSegments };
}

export type BackupStepResult =
  | { readonly kind: 'idle' }
  | { readonly kind: 'manifest-read' }
  | { readonly kind: 'chunk'; readonly records: number; readonly bytes: number; readonly through: Lsn }
  | { readonly kind: 'base'; readonly pages: number; readonly lsn: Lsn }
  | { readonly kind: 'merge'; readonly chunks: number; readonly bytes: number }
  | { readonly kind: 'failed'; readonly error: string };

/** Reads the segment's manifest (B3). Object store errors propagate (the caller logs and retries). */
export async function loadManifest(
  env: Environment,
  segment: Segment,
  settings: BackupSettings,
): Promise<void> {
  const { pgId, segmentId } = segment.control;
  const key = manifestKey(settings.prefix, pgId, segmentId);
  const bytes = await env.objectStore.get(key);
  const manifest = bytes === undefined ? undefined : decodeManifest(bytes, key);
  if (manifest !== undefined && (manifest.pgId !== pgId || manifest.segmentId !== segmentId))
    throw new Error(`manifest ${key} names segment ${manifest.segmentId} of PG ${manifest.pgId}`);
  segment.backup.manifest = manifest;
  segment.backup.state = 'known';
}

/**
 * One bounded step of staging for `segment`: read its manifest if not yet known, else upload one chunk
 * (or a base, B5) and the manifest that names it — in mode `when-due` only once `stagingDue` (B7).
 * Returns what it did. Disk errors propagate; object store errors are returned as `failed` (the backup
 * lags, the node keeps serving).
 */
export async function backupStep(
  env: Environment,
  storage: Storage,
  segment: Segment,
  settings: BackupSettings,
  isCurrent: () => boolean,
  mode: StagingMode,
): Promise<BackupStepResult> {
  const backup = segment.backup;
  try {
    if (backup.state === 'unknown') {
      await loadManifest(env, segment, settings);
      return { kind: 'manifest-read' };
    }
    const through = backedUpThrough(segment)!;
    const limit = stageLimit(segment);
    const control = segment.control;
    // B6: a broken chunk heals with the first base that covers it (chunks at or below a base go),
    // staged as soon as materialization has passed it, with or without new records to stage.
    const broken = backup.brokenChunk;
    const brokenRef =
      broken === undefined ? undefined : backup.manifest?.chunks.find((chunk) => chunk.key === broken);
    if (broken !== undefined && brokenRef === undefined) backup.brokenChunk = undefined;
    if (
      brokenRef !== undefined &&
      control.materializedThrough >= brokenRef.toInclusive &&
      segment.damagedPages.size === 0 // a base waits for those; staging must not
    ) {
      const healed = await stageBase(env, storage, segment, settings, isCurrent);
      if (healed.kind === 'base')
        env.log.log(
          'info',
          'the backup is whole again: a base replaces the chunk that was missing or damaged',
          {
            pgId: control.pgId,
            segmentId: control.segmentId,
            key: brokenRef.key,
            baseLsn: String(healed.lsn),
          },
        );
      return healed;
    }
    // B6: a merge first when one is due, so a segment staging every tick still merges; staging then
    // waits one tick (a merge is bounded like a chunk: at most `chunkBytesMax` read and uploaded).
    // A merge the object store fails is retried a minute later, and this step stages instead: a
    // backup must never stop because merging cannot read.
    const run =
      backup.brokenChunk === undefined && env.clock.nowMs() >= backup.mergeRetryAtMs
        ? mergeRun(backup.manifest, settings)
        : undefined;
    if (run !== undefined) {
      try {
        return await mergeChunks(env, storage, segment, settings, run, isCurrent);
      } catch (error) {
        if (!isNorthlightError(error) || error.code === 'NL_DISK_IO') throw error;
        backup.mergeRetryAtMs = env.clock.nowMs() + MERGE_RETRY_MS;
        backup.lastError = error.message;
        env.log.log('warn', 'merging backup chunks failed; staging goes on, the merge is tried again later', {
          pgId: control.pgId,
          segmentId: control.segmentId,
          error: error.message,
          retryInMs: MERGE_RETRY_MS,
        });
      }
    }
    if (limit <= through) return { kind: 'idle' };
    // B5: the log no longer holds the records above the backup; only a base can cover them.
    if (through < control.gcThrough) return await stageBase(env, storage, segment, settings, isCurrent);
    if (mode === 'when-due' && !stagingDue(segment, settings, through, env.clock.nowMs()))
      return { kind: 'idle' };
    const baseDue =
      backup.chunkBytesSinceBase >= settings.baseEveryBytes &&
      control.materializedThrough > (backup.manifest?.base?.lsn ?? 0n);
    if (baseDue) return await stageBase(env, storage, segment, settings, isCurrent);
    return await stageChunk(env, storage, segment, settings, through, limit, isCurrent);
  } catch (error) {
    if (!isNorthlightError(error) || error.code === 'NL_DISK_IO') throw error;
    backup.lastError = error.message;
    return { kind: 'failed', error: error.message };
  }
}

async function stageChunk(
  env: Environment,
  storage: Storage,
  segment: Segment,
  settings: BackupSettings,
  through: Lsn,
  limit: Lsn,
  isCurrent: () => boolean,
): Promise<BackupStepResult> {
  const control = segment.control;
  const records: RedoRecord[] = [];
  let bytes = 0;
  const ok = await storage.pinned(async () => {
    for (const indexed of segment.recordsBetween(through, limit, Number.MAX_SAFE_INTEGER)) {
      if (bytes >= settings.chunkBytesMax) break;
      let record: RedoRecord;
      try {
        record = await storage.readRecord(segment, indexed);
      } catch (error) {
        if (!isDecodeError(error)) throw error;
        storage.recordDamaged(env, segment, indexed, 'fetch'); // gossip refills it; staged next time
        return false;
      }
      records.push(record);
      bytes += indexed.location.entryBytes;
    }
    return true;
  });
  if (!ok || records.length === 0 || !isCurrent() || segment.dropped) return { kind: 'idle' };
  const to = records.at(-1)!.lsn;
  const key = chunkKey(settings.prefix, control.pgId, control.segmentId, through, to);
  const body = encodeChunk(control.pgId, control.segmentId, records);
  await env.objectStore.put(key, body);
  const previous = segment.backup.manifest;
  const chunk: ChunkRef = {
    key,
    fromExclusive: through,
    toInclusive: to,
    records: records.length,
    bytes: body.length,
  };
  await putManifest(env, storage, segment, settings, {
    base: previous?.base,
    chunks: [...(previous?.chunks ?? []), chunk],
    backedUpThrough: to,
  });
  segment.backup.chunkBytesSinceBase += body.length;
  storage.options.metrics.backupUploaded('chunk', body.length);
  return { kind: 'chunk', records: records.length, bytes: body.length, through: to };
}

/** B5: every page image as of the materialization point, then a manifest that starts from it. */
async function stageBase(
  env: Environment,
  storage: Storage,
  segment: Segment,
  settings: BackupSettings,
  isCurrent: () => boolean,
): Promise<BackupStepResult> {
  const control = segment.control;
  if (segment.damagedPages.size > 0) return { kind: 'idle' }; // repaired from a peer first
  const lsn = control.materializedThrough;
  const refs = [...segment.pages].sort(([a], [b]) => a - b);
  const images: BaseImage[] = [];
  const ok = await storage.pinned(async () => {
    for (const [pageNo, ref] of refs) {
      try {
        images.push({
          pageNo,
          bytes: await storage.pageStore.read(ref.slot, control.number, pageNo, ref.lsn),
        });
      } catch (error) {
        if (!isDecodeError(error)) throw error;
        storage.pageDamaged(env, segment, pageNo, 'fetch');
        return false;
      }
    }
    return true;
  });
  if (!ok || !isCurrent() || segment.dropped) return { kind: 'idle' };
  const key = baseKey(settings.prefix, control.pgId, control.segmentId, lsn);
  const body = encodeBase(control.pgId, lsn, storage.options.pageSizeBytes, images);
  await env.objectStore.put(key, body);
  const previous = segment.backup.manifest;
  const base: BaseRef = { key, lsn, pages: images.length, bytes: body.length };
  const kept = (previous?.chunks ?? []).filter((chunk) => chunk.toInclusive > lsn);
  const through = previous !== undefined && previous.backedUpThrough > lsn ? previous.backedUpThrough : lsn;
  await putManifest(env, storage, segment, settings, { base, chunks: kept, backedUpThrough: through });
  segment.backup.chunkBytesSinceBase = 0;
  // B6: a chunk a merge could not read is no longer named (below the base), or is tried again.
  segment.backup.brokenChunk = undefined;
  storage.options.metrics.backupUploaded('base', body.length);
  // Objects the new manifest no longer names (older bases, chunks below the base): best effort.
  const named = new Set([key, ...kept.map((chunk) => chunk.key)]);
  const stale = [...(previous?.chunks ?? []).map((chunk) => chunk.key), previous?.base?.key].filter(
    (name): name is string => name !== undefined && !named.has(name),
  );
  for (const name of stale) await env.objectStore.delete(name).catch(() => undefined);
  return { kind: 'base', pages: images.length, lsn };
}

/** The chunks of a manifest to merge next (B6): `[start, end)`, or undefined when none is due. */
export function mergeRun(
  manifest: BackupManifest | undefined,
  settings: Pick<BackupSettings, 'chunkBytesMax' | 'mergeChunksAt'>,
): { start: number; end: number } | undefined {
  if (manifest === undefined) return undefined;
  const chunks = manifest.chunks;
  const small = (index: number) => chunks[index]!.bytes * 2 < settings.chunkBytesMax;
  let smallCount = 0;
  for (let index = 0; index < chunks.length; index++) if (small(index)) smallCount++;
  if (smallCount < settings.mergeChunksAt) return undefined;
  // The first run of two or more adjacent small chunks whose sum fits one chunk.
  for (let start = 0; start < chunks.length; start++) {
    if (!small(start)) continue;
    let end = start;
    let bytes = 0;
    while (end < chunks.length && small(end) && bytes + chunks[end]!.bytes <= settings.chunkBytesMax)
      bytes += chunks[end++]!.bytes;
    if (end - start >= 2) return { start, end };
  }
  return undefined;
}

/** B6: reads the run's chunks back, uploads their records as one chunk, names it, deletes the old ones. */
async function mergeChunks(
  env: Environment,
  storage: Storage,
  segment: Segment,
  settings: BackupSettings,
  run: { start: number; end: number },
  isCurrent: () => boolean,
): Promise<BackupStepResult> {
  const control = segment.control;
  const previous = segment.backup.manifest!;
  const sources = previous.chunks.slice(run.start, run.end);
  const records: RedoRecord[] = [];
  for (const ref of sources) {
    const bytes = await env.objectStore.get(ref.key);
    try {
      if (bytes === undefined)
        throw new NorthlightError(
          'NL_DECODE_INVALID',
          `backup ${ref.key}: named by the manifest, not stored`,
        );
      for (const record of decodeChunk(bytes, ref, control.pgId)) records.push(record);
    } catch (error) {
      if (!isDecodeError(error)) throw error;
      segment.backup.brokenChunk = ref.key;
      segment.backup.lastError = (error as Error).message;
      env.log.log(
        'error',
        'a chunk the backup names is missing or damaged; merging stops until the next base',
        {
          pgId: control.pgId,
          segmentId: control.segmentId,
          key: ref.key,
          error: (error as Error).message,
        },
      );
      return { kind: 'failed', error: (error as Error).message };
    }
  }
  if (!isCurrent() || segment.dropped || segment.backup.manifest !== previous) return { kind: 'idle' };
  const from = sources[0]!.fromExclusive;
  const to = sources.at(-1)!.toInclusive;
  const key = chunkKey(settings.prefix, control.pgId, control.segmentId, from, to);
  const body = encodeChunk(control.pgId, control.segmentId, records);
  await env.objectStore.put(key, body);
  if (!isCurrent() || segment.dropped || segment.backup.manifest !== previous) return { kind: 'idle' };
  const merged: ChunkRef = {
    key,
    fromExclusive: from,
    toInclusive: to,
    records: records.length,
    bytes: body.length,
  };
  await putManifest(env, storage, segment, settings, {
    base: previous.base,
    chunks: [...previous.chunks.slice(0, run.start), merged, ...previous.chunks.slice(run.end)],
    backedUpThrough: previous.backedUpThrough,
  });
  storage.options.metrics.backupUploaded('merged', body.length);
  for (const ref of sources)
    if (ref.key !== key) await env.objectStore.delete(ref.key).catch(() => undefined);
  return { kind: 'merge', chunks: sources.length, bytes: body.length };
}

async function putManifest(
  env: Environment,
  storage: Storage,
  segment: Segment,
  settings: BackupSettings,
  content: Pick<BackupManifest, 'base' | 'chunks' | 'backedUpThrough'>,
): Promise<void> {
  const control = segment.control;
  const manifest: BackupManifest = {
    pgId: control.pgId,
    segmentId: control.segmentId,
    pageSizeBytes: storage.options.pageSizeBytes,
    volumeEpoch: control.volumeEpoch,
    truncationEpoch: control.truncationEpoch,
    truncations: control.truncations,
    membershipEpoch: control.membershipEpoch,
    members: control.members,
    memberNodes: control.memberNodes,
    ...content,
    updatedAtMs: env.clock.wallClockMs(),
  };
  const bytes = encodeManifest(manifest);
  await env.objectStore.put(manifestKey(settings.prefix, control.pgId, control.segmentId), bytes);
  segment.backup.manifest = manifest; // B2: only once stored
  segment.backup.lastError = undefined;
  storage.options.metrics.backupUploaded('manifest', bytes.length);
}
