/**
 * Leader election with a `coordination.k8s.io/v1` Lease, after client-go's leaderelection: several
 * operator replicas may run; only the holder of the Lease reconciles.
 *
 *   - Acquire: the Lease is missing, or its holder has not renewed it for `leaseDurationMs` as seen
 *     by *our* clock (we note when we last saw the record change, so clocks need not agree).
 *   - Renew: every `retryPeriodMs` the holder writes a new renewTime. Writes carry the
 *     resourceVersion read, so two candidates racing for an expired Lease cannot both win (409).
 *   - Lose: a holder that has not renewed successfully for `renewDeadlineMs` stops leading at once
 *     (`onStoppedLeading`), before the Lease can expire for others (renewDeadline < leaseDuration).
 *
 * Scenarios this guards against:
 *   1. The API server is unreachable for a while: renewals fail; after renewDeadline we stop
 *      reconciling; a peer may take over only after leaseDuration, by which time we have stopped.
 *   2. Two candidates see the same expired Lease: both update with the same resourceVersion; one
 *      gets 409 Conflict and stays a follower.
 */
import type { Clock } from './clock.js';

export interface LeaseRecord {
  readonly holderIdentity: string | undefined;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly leaseTransitions: number;
}

export interface StoredLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** The Lease as the API server keeps it; `conflict` when the object changed or already exists. */
export interface LeaseStore {
  get(): Promise<StoredLease | undefined>;
  create(record: LeaseRecord): Promise<'ok' | 'conflict'>;
  update(record: LeaseRecord, resourceVersion: string): Promise<'ok' | 'conflict'>;
}

export interface LeaderElectionOptions {
  readonly store: LeaseStore;
  readonly identity: string;
  readonly clock: Clock;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly log: (line: string) => void;
}

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  #leading = false;
  #lastRenewMs: number | undefined;
  /** The record last seen and when (our clock): the holder's liveness is judged by our time. */
  #observed: { resourceVersion: string; atMs: number } | undefined;
  #cancelTimer: (() => void) | undefined;
  #stopped = true;

  constructor(options: LeaderElectionOptions) {
    if (
      !(options.renewDeadlineMs < options.leaseDurationMs && options.retryPeriodMs < options.renewDeadlineMs)
    )
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
    this.#options = options;
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  /** Stops campaigning; a leader gives up (and says so) without waiting for the Lease to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    if (this.#leading) {
      await this.#release();
      this.#setLeading(false);
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    await this.tryAcquireOrRenew();
    if (this.#stopped) return;
    this.#cancelTimer = this.#options.clock.after(this.#options.retryPeriodMs, () => void this.#tick());
  }

  /** One round: acquire or renew; true when we hold the Lease afterwards. Exposed for tests. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { clock, identity } = this.#options;
    const now = clock.nowMs();
    let succeeded = false;
    try {
      succeeded = await this.#attempt(now);
    } catch (error) {
      this.#options.log(`leader election: ${(error as Error).message}`);
    }
    if (succeeded) {
      this.#lastRenewMs = now;
      this.#setLeading(true);
    } else if (
      this.#leading &&
      (this.#lastRenewMs === undefined || clock.nowMs() - this.#lastRenewMs >= this.#options.renewDeadlineMs)
    ) {
      this.#options.log(
        `leader election: ${identity} could not renew for ${this.#options.renewDeadlineMs} ms`,
      );
      this.#setLeading(false);
    }
    return this.#leading;
  }

  async #attempt(now: number): Promise<boolean> {
    const { store, identity } = this.#options;
    const record = (previous: LeaseRecord | undefined): LeaseRecord => {
      const time = new Date(now).toISOString();
      const sameHolder = previous?.holderIdentity === identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
        acquireTime: sameHolder ? previous.acquireTime : time,
        renewTime: time,
        leaseTransitions:
          previous === undefined
            ? 0
            : previous.leaseTransitions + (sameHolder || previous.holderIdentity === undefined ? 0 : 1),
      };
    };
    const stored = await store.get();
    if (stored === undefined) return (await store.create(record(undefined))) === 'ok';
    if (this.#observed?.resourceVersion !== stored.resourceVersion)
      this.#observed = { resourceVersion: stored.resourceVersion, atMs: now };
    const holder = stored.record.holderIdentity;
    const held = holder !== undefined && holder !== '' && holder !== identity;
    const expired = now - this.#observed.atMs >= stored.record.leaseDurationSeconds * 1000;
    if (held && !expired) return false;
    return (await store.update(record(stored.record), stored.resourceVersion)) === 'ok';
  }

  /** A leader leaving on purpose empties the holder, so a peer takes over at its next round. */
  async #release(): Promise<void> {
    try {
      const stored = await this.#options.store.get();
      if (stored?.record.holderIdentity !== this.#options.identity) return;
      await this.#options.store.update(
        { ...stored.record, holderIdentity: undefined },
        stored.resourceVersion,
      );
    } catch (error) {
      this.#options.log(`leader election: releasing the lease: ${(error as Error).message}`);
    }
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#options.log(
      `leader election: ${this.#options.identity} ${leading ? 'is the leader' : 'stopped leading'}`,
    );
    if (leading) this.#options.onStartedLeading();
    else this.#options.onStoppedLeading();
  }
}
