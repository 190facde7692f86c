/**
 * A test writer process for the simulated cluster: it keeps a few append batches in flight to one
 * storage node, round robin over its segments, re-sends a batch until it is acknowledged, and records
 * every acknowledged record. Its durable hint is the highest LSN below which every record it made is
 * acknowledged. Checkers read `acknowledged` and `model`; the writer never looks at the storage node.
 */
import {
  type AppendBatchMessage,
  asPgId,
  decodeMessageFromBytes,
  type Environment,
  encodeMessage,
  type Lsn,
  type NodeId,
  type RedoRecord,
  type SegmentId,
  type TimerHandle,
} from '@northlight/protocol';
import { PageModel, run, TestWriter } from './history.js';

export interface PumpTarget {
  readonly pgId: number;
  readonly segmentId: SegmentId;
}

export interface PumpOptions {
  readonly storage: NodeId;
  readonly targets: readonly PumpTarget[];
  readonly pageSizeBytes: number;
  readonly pagesPerPg: number;
  readonly batchesInFlightMax: number;
  readonly recordsPerBatchMax: number;
  readonly resendAfterMs: number;
  /** Also announce PGMRPL = the durable hint to every segment (so the node materializes and GCs). */
  readonly sendMinReadPoint?: boolean;
}

interface Outstanding {
  readonly batch: AppendBatchMessage;
  sentAtMs: number;
}

export class PumpWriter {
  readonly writer = new TestWriter();
  readonly model: PageModel;
  /** LSN → record, for every acknowledged record. */
  readonly acknowledged = new Map<Lsn, RedoRecord>();
  readonly #allMade = new Map<Lsn, RedoRecord>();
  readonly #outstanding = new Map<bigint, Outstanding>();
  #timer: TimerHandle | undefined;
  #writing = true;
  #nextTarget = 0;

  constructor(
    private readonly env: Environment,
    private readonly options: PumpOptions,
  ) {
    this.model = new PageModel(options.pageSizeBytes);
    env.network.onMessage((_from, bytes) => this.#receive(bytes));
    this.#tick();
  }

  /** Stops making new batches; outstanding ones are still re-sent until acknowledged. */
  stopWriting(): void {
    this.#writing = false;
  }

  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** The records made for `pgId`, in LSN order (acknowledged or not). */
  recordsOf(pgId: number): RedoRecord[] {
    return [...this.#allMade.values()].filter((record) => record.pgId === pgId);
  }

  /** The highest LSN at or below which every record made so far is acknowledged. */
  get durableHint(): bigint {
    let hint = 0n;
    while (this.acknowledged.has((hint + 1n) as Lsn)) hint++;
    return hint;
  }

  #tick(): void {
    const now = this.env.clock.nowMs();
    for (const outstanding of this.#outstanding.values()) {
      if (now - outstanding.sentAtMs < this.options.resendAfterMs) continue;
      outstanding.sentAtMs = now;
      this.env.network.send(this.options.storage, encodeMessage(outstanding.batch));
    }
    while (this.#writing && this.#outstanding.size < this.options.batchesInFlightMax) this.#sendNew(now);
    if (this.options.sendMinReadPoint === true) this.#announceMinReadPoint();
    this.#timer = this.env.clock.setTimer(0.5, () => this.#tick());
  }

  /**
   * PGMRPL per PG, clamped to the PG's last record at or below the durable hint: a page read point
   * (and so a minimum read point) names the PG's head at the VDL, the newest LSN a segment of the PG
   * can be complete to (docs/storage-node.md, "Read points").
   */
  #announceMinReadPoint(): void {
    const hint = this.durableHint;
    for (const target of this.options.targets) {
      let minReadPoint = 0n as Lsn;
      for (const record of this.#allMade.values())
        if (record.pgId === target.pgId && record.lsn <= hint && record.lsn > minReadPoint)
          minReadPoint = record.lsn;
      this.env.network.send(
        this.options.storage,
        encodeMessage({
          type: 'min-read-point',
          pgId: asPgId(target.pgId),
          segmentId: target.segmentId,
          volumeEpoch: this.writer.volumeEpoch,
          minReadPoint,
        }),
      );
    }
  }

  #sendNew(now: number): void {
    const target = this.options.targets[this.#nextTarget++ % this.options.targets.length]!;
    const random = this.env.random;
    const count = 1 + random.nextInt(this.options.recordsPerBatchMax);
    const records: RedoRecord[] = [];
    for (let index = 0; index < count; index++) {
      const page = target.pgId * this.options.pagesPerPg + random.nextInt(4);
      const offset = random.nextInt(this.options.pageSizeBytes - 64);
      const record =
        random.nextInt(8) === 0
          ? this.writer.record(target.pgId, undefined)
          : this.writer.record(target.pgId, page, [
              run(offset, 1 + random.nextInt(64), 1 + random.nextInt(255)),
            ]);
      records.push(record);
      this.#allMade.set(record.lsn, record);
    }
    const batch = this.writer.batch(target.segmentId, records, this.durableHint);
    this.#outstanding.set(batch.requestId, { batch, sentAtMs: now });
    this.env.network.send(this.options.storage, encodeMessage(batch));
  }

  #receive(bytes: Uint8Array): void {
    const message = decodeMessageFromBytes(bytes);
    if (message.type !== 'append-ack') return;
    const outstanding = this.#outstanding.get(message.requestId);
    if (outstanding === undefined) return;
    this.#outstanding.delete(message.requestId);
    for (const record of outstanding.batch.records) {
      this.acknowledged.set(record.lsn, record);
      this.model.add(record);
    }
  }

  stop(): void {
    this.#timer?.cancel();
  }
}
