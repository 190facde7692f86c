/**
 * The source side of a peer snapshot (snapshot-format.ts): what a node streams to a repair's or a
 * migration's joiner so that it starts from page images instead of replaying the PG's log from S3.
 *
 * Consistency: the page refs, the materialization point M and the chain records above it are taken in
 * one synchronous step, and everything is read PINNED (storage.ts: nothing a pinned read may be
 * reading is freed or deleted meanwhile, P3/N6). So the snapshot is the segment exactly as it stood at
 * that instant: every page as of M (an image covers every record of its page at or below M) and every
 * chain record in (M, SCL]. Materialization and GC go on meanwhile; the slots and log files they free
 * wait in quarantine until the stream ends — which is why the sink's back-pressure is bounded by the
 * caller (a slow receiver must not hold the quarantine forever).
 *
 * Pages go as raw page-store slots, read in runs of adjacent slots and not decoded here: the receiver
 * checks each page against the CRC32C stored with it (end to end, from this disk to its own) and
 * reports a bad one, and it then asks another member; this node's scrubber finds the rot in its turn.
 * Records are read and checked as gossip reads them (a damaged one is listed for repair).
 */
import { type Environment, type Lsn, NorthlightError, type RedoRecord } from '@northlight/protocol';
import type { BackupManifest, ChunkRef } from './backup-format.js';
import { isDecodeError } from './materializer.js';
import type { Segment } from './segment.js';
import {
  encodeSnapshotBasePart,
  encodeSnapshotChunk,
  encodeSnapshotEnd,
  encodeSnapshotManifest,
  pagesPerBasePart,
  SNAPSHOT_BASE_KEY,
  snapshotChunkKey,
} from './snapshot-format.js';
import type { Storage } from './storage.js';

/** What an export sent. */
export interface SnapshotReport {
  readonly baseLsn: Lsn;
  readonly pages: number;
  readonly chunks: number;
  readonly records: number;
  readonly scl: Lsn;
  readonly bytes: number;
}

export interface SnapshotLimits {
  /** Bytes of a base part or a chunk (the backup's `backupChunkBytesMax`). */
  readonly partBytes: number;
}

/**
 * Streams `segment` to `sink`, one part per call; resolves once the end part is written. A page known
 * to be damaged refuses it up front; a damaged record aborts it (typed NL_DECODE_* error, listed for
 * repair): the receiver then asks another member.
 */
export async function exportSnapshot(
  env: Environment,
  storage: Storage,
  segment: Segment,
  limits: SnapshotLimits,
  sink: (part: Uint8Array) => Promise<void>,
): Promise<SnapshotReport> {
  const control = segment.control;
  if (segment.damagedPages.size > 0)
    throw new NorthlightError(
      'NL_DECODE_CHECKSUM',
      `segment ${control.segmentId} of PG ${control.pgId} has ${segment.damagedPages.size} damaged pages; snapshot another member`,
    );
  // One synchronous step: the snapshot's instant.
  const baseLsn = control.materializedThrough;
  const scl = segment.scl;
  const refs = [...segment.pages].sort(([, a], [, b]) => a.slot - b.slot); // sequential reads
  const indexed = segment.recordsBetween(baseLsn, scl, Number.MAX_SAFE_INTEGER);
  const chunkPlan: { from: Lsn; to: Lsn; records: typeof indexed }[] = [];
  let bytesInChunk = 0;
  for (const record of indexed) {
    const last = chunkPlan.at(-1);
    if (last === undefined || bytesInChunk + record.location.entryBytes > limits.partBytes) {
      chunkPlan.push({ from: last?.to ?? baseLsn, to: record.lsn, records: [record] });
      bytesInChunk = record.location.entryBytes;
    } else {
      last.records.push(record);
      last.to = record.lsn;
      bytesInChunk += record.location.entryBytes;
    }
  }
  const chunks: ChunkRef[] = chunkPlan.map((chunk, index) => ({
    key: snapshotChunkKey(index),
    fromExclusive: chunk.from,
    toInclusive: chunk.to,
    records: chunk.records.length,
    bytes: chunk.records.reduce((sum, record) => sum + record.location.entryBytes, 0),
  }));
  const pageSizeBytes = storage.options.pageSizeBytes;
  const manifest: BackupManifest = {
    pgId: control.pgId,
    segmentId: control.segmentId,
    pageSizeBytes,
    volumeEpoch: control.volumeEpoch,
    truncationEpoch: control.truncationEpoch,
    truncations: [...control.truncations],
    membershipEpoch: control.membershipEpoch,
    members: [...control.members],
    memberNodes: [...control.memberNodes],
    backedUpThrough: chunks.at(-1)?.toInclusive ?? baseLsn,
    base: { key: SNAPSHOT_BASE_KEY, lsn: baseLsn, pages: refs.length, bytes: refs.length * pageSizeBytes },
    chunks,
    updatedAtMs: env.clock.wallClockMs(),
  };
  let parts = 0;
  let bytes = 0;
  const send = async (part: Uint8Array): Promise<void> => {
    parts++;
    bytes += part.length;
    await sink(part);
  };
  await storage.pinned(async () => {
    await send(encodeSnapshotManifest(manifest));
    const perPart = pagesPerBasePart(pageSizeBytes, limits.partBytes);
    for (let start = 0; start < refs.length; start += perPart) {
      const batch = refs.slice(start, start + perPart);
      const slots = await storage.pageStore.readSlotsRaw(batch.map(([, ref]) => ref.slot));
      await send(encodeSnapshotBasePart(slots, batch.length));
    }
    for (const chunk of chunkPlan) {
      const records: RedoRecord[] = [];
      for (const record of chunk.records) {
        try {
          records.push(await storage.readRecord(segment, record));
        } catch (error) {
          if (isDecodeError(error)) storage.recordDamaged(env, segment, record, 'fetch');
          throw error;
        }
      }
      await send(encodeSnapshotChunk(manifest, records));
    }
    await send(encodeSnapshotEnd(parts));
  });
  await storage.reclaim();
  return { baseLsn, pages: refs.length, chunks: chunks.length, records: indexed.length, scl, bytes };
}
