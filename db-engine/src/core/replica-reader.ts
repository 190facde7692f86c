/**
 * A replica's page reads from storage (sans-I/O): page `pageNo` as of a given read point, from one
 * segment of its PG. The replica does not write, so it knows no segment's SCL: it asks a random
 * member, and on a refusal (the segment is behind the read point, or the read point is below what it
 * keeps) or no answer within `attemptMs` it asks the next; after a round of all six it pauses briefly
 * and goes round again until `timeoutMs`. Requests carry the volume epoch the replica follows; a
 * segment of a newer epoch refuses them, and `staleEpoch` tells the replica to resubscribe.
 */
import {
  asLsn,
  decodeMessageFromBytes,
  type Environment,
  type Epoch,
  encodeMessage,
  isNorthlightError,
  type Lsn,
  type Message,
  NorthlightError,
  type PageNo,
  type SegmentId,
  type TimerHandle,
} from '@northlight/protocol';
import { type PgPlacement, pgOfPage } from './volume.js';

/**
 * The shortest wait: a wait of a sliver of time before the deadline would let a clock that counts in
 * microseconds (the simulator's) fire it without advancing, and the read would go round the segments
 * forever at the same instant (seed 5000 of the replica campaign did).
 */
const MIN_WAIT_MS = 1;

export interface ReplicaReaderOptions {
  readonly timeoutMs: number;
  readonly attemptMs: number;
  readonly pageSizeBytes: number;
  /** Pause after every segment of the PG was tried once. */
  readonly roundBackoffMs: number;
}

interface Read {
  readonly pageNo: PageNo;
  readonly placement: PgPlacement;
  readonly readPoint: Lsn;
  readonly volumeEpoch: Epoch;
  readonly deadlineMs: number;
  readonly tried: Set<SegmentId>;
  segmentId: SegmentId | undefined;
  timer: TimerHandle | undefined;
  readonly resolve: (page: Uint8Array) => void;
  readonly reject: (error: NorthlightError) => void;
}

export class ReplicaReader {
  readonly #env: Environment;
  readonly #options: ReplicaReaderOptions;
  readonly #directory: { readonly pagesPerPg: number; pgs(): readonly PgPlacement[] };
  readonly #reads = new Map<bigint, Read>();
  #nextRequestId = 1n;
  #pageReads = 0;
  #retries = 0;
  #failures = 0;
  /** Set when a segment refused a read because a newer volume epoch exists. */
  staleEpoch: ((newer: Epoch) => void) | undefined;

  constructor(
    env: Environment,
    directory: { readonly pagesPerPg: number; pgs(): readonly PgPlacement[] },
    options: ReplicaReaderOptions,
  ) {
    this.#env = env;
    this.#options = options;
    this.#directory = directory;
    env.network.onMessage((_from, bytes) => this.#receive(bytes));
  }

  stats() {
    return { pageReads: this.#pageReads, pageReadRetries: this.#retries, pageReadFailures: this.#failures };
  }

  /** The page as of `readPoint` under `volumeEpoch`; zeros for a PG the volume does not have yet. */
  read(pageNo: number, readPoint: Lsn, volumeEpoch: Epoch): Promise<Uint8Array> {
    const pgId = pgOfPage(pageNo, this.#directory.pagesPerPg);
    const placement = this.#directory.pgs()[pgId];
    if (placement === undefined) return Promise.resolve(new Uint8Array(this.#options.pageSizeBytes));
    this.#pageReads++;
    return new Promise((resolve, reject) => {
      const read: Read = {
        pageNo: pageNo as PageNo,
        placement,
        readPoint,
        volumeEpoch,
        deadlineMs: this.#env.clock.nowMs() + this.#options.timeoutMs,
        tried: new Set(),
        segmentId: undefined,
        timer: undefined,
        resolve,
        reject,
      };
      this.#send(read);
    });
  }

  #send(read: Read): void {
    read.timer?.cancel();
    const nowMs = this.#env.clock.nowMs();
    if (nowMs >= read.deadlineMs) {
      this.#failures++;
      read.reject(
        new NorthlightError(
          'NL_TIMEOUT',
          `no segment of PG ${read.placement.pgId} served page ${read.pageNo} at LSN ${read.readPoint} within ${this.#options.timeoutMs} ms; check the storage nodes`,
          { pageNo: read.pageNo, readPoint: read.readPoint },
        ),
      );
      return;
    }
    let untried = read.placement.members.filter((segmentId) => !read.tried.has(segmentId));
    if (untried.length === 0) {
      read.tried.clear();
      untried = [...read.placement.members];
      const pauseMs = Math.max(MIN_WAIT_MS, Math.min(this.#options.roundBackoffMs, read.deadlineMs - nowMs));
      read.timer = this.#env.clock.setTimer(pauseMs, () => this.#sendTo(read, untried));
      return;
    }
    // A member still hydrating refuses what it does not hold yet: the others first.
    const hydrating = read.placement.quorumSet.hydrating;
    const settled = untried.filter((segmentId) => !hydrating.includes(segmentId));
    this.#sendTo(read, settled.length > 0 ? settled : untried);
  }

  #sendTo(read: Read, candidates: readonly SegmentId[]): void {
    const segmentId = candidates[this.#env.random.nextInt(candidates.length)]!;
    if (read.tried.size > 0) this.#retries++;
    read.tried.add(segmentId);
    read.segmentId = segmentId;
    const requestId = this.#nextRequestId++;
    this.#reads.set(requestId, read);
    const message: Message = {
      type: 'read-page',
      requestId,
      pgId: read.placement.pgId,
      segmentId,
      volumeEpoch: read.volumeEpoch,
      pageNo: read.pageNo,
      readPoint: asLsn(read.readPoint),
    };
    this.#env.network.send(read.placement.nodeOf.get(segmentId)!, encodeMessage(message));
    const waitMs = Math.min(this.#options.attemptMs, read.deadlineMs - this.#env.clock.nowMs());
    read.timer = this.#env.clock.setTimer(Math.max(MIN_WAIT_MS, waitMs), () => {
      if (this.#reads.get(requestId) !== read) return;
      this.#reads.delete(requestId);
      this.#send(read);
    });
  }

  #receive(bytes: Uint8Array): void {
    let message: Message;
    try {
      message = decodeMessageFromBytes(bytes);
    } catch (error) {
      if (!isNorthlightError(error)) throw error;
      this.#env.log.log('warn', 'dropped an undecodable message from storage', { error: error.message });
      return;
    }
    if (message.type !== 'page' && message.type !== 'request-rejected') return;
    const read = this.#reads.get(message.requestId);
    if (read === undefined || message.segmentId !== read.segmentId) return;
    this.#reads.delete(message.requestId);
    read.timer?.cancel();
    if (message.type === 'page') {
      read.resolve(message.bytes);
      return;
    }
    if (message.code === 'NL_EPOCH_STALE' && message.currentVolumeEpoch > read.volumeEpoch)
      this.staleEpoch?.(message.currentVolumeEpoch);
    this.#send(read);
  }
}
