/**
 * A minimal writer for tests (dense LSNs across the volume, one backlink chain per PG, batches per
 * segment) and the reference model of pages: a page as of a read point is the fold of `applyRuns`
 * over its records at or below that point, starting from zeros.
 */
import {
  type AppendBatchMessage,
  applyRuns,
  asEpoch,
  asLsn,
  asPageNo,
  asPgId,
  type DiffRun,
  type Epoch,
  type Lsn,
  type RedoRecord,
  type SegmentId,
} from '@northlight/protocol';

export class TestWriter {
  #nextLsn = 1n;
  #requestId = 1n;
  readonly #lastOfPg = new Map<number, Lsn>();
  volumeEpoch: Epoch;
  membershipEpoch: Epoch = asEpoch(1n);

  constructor(volumeEpoch = 0n) {
    this.volumeEpoch = asEpoch(volumeEpoch);
  }

  get nextLsn(): Lsn {
    return asLsn(this.#nextLsn);
  }

  /** Skips LSNs (those of other PGs, or of a truncated range). */
  skipTo(lsn: bigint): void {
    if (lsn > this.#nextLsn) this.#nextLsn = lsn;
  }

  /** Sets the PG's chain head (the backlink of its next record), as recovery's `pgHeads` does. */
  setHead(pgId: number, head: bigint): void {
    this.#lastOfPg.set(pgId, asLsn(head));
  }

  lastOf(pgId: number): Lsn {
    return this.#lastOfPg.get(pgId) ?? asLsn(0n);
  }

  nextRequestId(): bigint {
    return this.#requestId++;
  }

  /** The next record of `pgId`: a page diff of `pageNo` with `runs`, or a NOOP when pageNo is undefined. */
  record(pgId: number, pageNo: number | undefined, runs: readonly DiffRun[] = [], cpl = true): RedoRecord {
    const lsn = asLsn(this.#nextLsn++);
    const record: RedoRecord = {
      lsn,
      backlink: this.lastOf(pgId),
      kind: pageNo === undefined ? 'noop' : 'page-diff',
      cpl,
      volumeEpoch: this.volumeEpoch,
      pgId: asPgId(pgId),
      pageNo: asPageNo(pageNo ?? 0),
      runs: pageNo === undefined ? [] : runs,
    };
    this.#lastOfPg.set(pgId, lsn);
    return record;
  }

  batch(segmentId: SegmentId, records: readonly RedoRecord[], durableHint: bigint = 0n): AppendBatchMessage {
    return {
      type: 'append-batch',
      requestId: this.nextRequestId(),
      volumeEpoch: this.volumeEpoch,
      membershipEpoch: this.membershipEpoch,
      pgId: records[0]!.pgId,
      segmentId,
      durableHint: asLsn(durableHint),
      records,
    };
  }
}

/** One run of `length` bytes of `value` at `offset`. */
export function run(offset: number, length: number, value: number): DiffRun {
  return { offset, bytes: new Uint8Array(length).fill(value) };
}

export class PageModel {
  readonly #records = new Map<number, RedoRecord[]>();

  constructor(readonly pageSizeBytes: number) {}

  add(record: RedoRecord): void {
    if (record.kind !== 'page-diff') return;
    const list = this.#records.get(record.pageNo) ?? [];
    list.push(record);
    list.sort((a, b) => (a.lsn < b.lsn ? -1 : 1));
    this.#records.set(record.pageNo, list);
  }

  pages(): number[] {
    return [...this.#records.keys()];
  }

  pageAt(pageNo: number, readPoint: bigint): Uint8Array {
    let page: Uint8Array = new Uint8Array(this.pageSizeBytes);
    for (const record of this.#records.get(pageNo) ?? []) {
      if (record.lsn > readPoint) break;
      page = applyRuns(page, record.runs);
    }
    return page;
  }
}

/** `count` records of PG 3 (pages 192…196) from LSN 101: what the backup-format tests put in a chunk. */
export function recordsOfPg3Above100(count: number): RedoRecord[] {
  const writer = new TestWriter(2n);
  writer.skipTo(101n);
  writer.setHead(3, 100n);
  return Array.from({ length: count }, (_, index) =>
    writer.record(3, 3 * 64 + (index % 5), [run(index, 9, index)]),
  );
}
