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
import { assert, type Environment, type Lsn, NorthlightError, type RedoRecord } from '@northlight/protocol';
import type { BackupManifest, ChunkRef } from './backup-format.js';
import { isDecodeError } from './materializer.js';
import type { Segment } from './segment.js';
import {
  encodeSnapshotChunk,
  encodeSnapshotEnd,
  encodeSnapshotManifest,
  encodeSnapshotPartHeader,
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
 * Streams `segment` to `sink`, a part in one or more calls (a base part as its header and then the
 * slots as they were read); resolves once the end part is written. A page known
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
  /** Sends the next part: its header's and body's bytes, in one or more calls of the sink. */
  const send = async (...pieces: readonly Uint8Array[]): Promise<void> => {
    parts++;
    for (const piece of pieces) {
      bytes += piece.length;
      await sink(piece);
    }
  };
  await storage.pinned(async () => {
    await send(encodeSnapshotManifest(manifest));
    const perPart = pagesPerBasePart(pageSizeBytes, limits.partBytes);
    const slotBytes = storage.pageStore.slotBytes;
    const read = (start: number) => {
      const pieces = storage.pageStore.readSlotsRaw(
        refs.slice(start, start + perPart).map(([, ref]) => ref.slot),
      );
      pieces.catch(() => undefined); // awaited below; a failure meanwhile is not "unhandled"
      return pieces;
    };
    // The next part is read from the disk while this one is sent (at most two parts held). A read
    // still in flight when sending fails ends before the pin is released.
    let reading = refs.length > 0 ? read(0) : undefined;
    try {
      for (let start = 0; start < refs.length; start += perPart) {
        const count = Math.min(perPart, refs.length - start);
        const pieces = await reading!;
        reading = start + perPart < refs.length ? read(start + perPart) : undefined;
        // The slots go to the sink as the disk reads returned them: the header is sent first, since it
        // only needs the body's length, and no part is assembled in a buffer of its own.
        const bodyBytes = pieces.reduce((sum, piece) => sum + piece.length, 0);
        assert(bodyBytes === count * slotBytes, 'a base part of the wrong size');
        await send(encodeSnapshotPartHeader('base', count, bodyBytes), ...pieces);
      }
    } finally {
      await reading?.catch(() => undefined);
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
