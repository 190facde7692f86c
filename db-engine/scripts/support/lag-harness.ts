/**
 * The replica-lag harness (issue 5): how long after a write is acknowledged it becomes visible on a
 * replica, measured the same way for any system behind a `LagTarget` (PostgreSQL's streaming standby,
 * northlight's read replicas).
 *
 * Method:
 *  - Open-loop load: id n is due at start + (n − 1) / rate seconds and starts then, whether or not the
 *    writes before it have finished, with at most `writers` in flight. A system that cannot keep up
 *    falls behind the schedule; nothing is queued past the end of the run, so `achievedRate` shows it.
 *  - The acknowledgment time of each id is taken when its `write` resolves.
 *  - One poller asks the replica for its highest visible id, back to back, for the whole run. When the
 *    answer moves from a to b, every id in (a, b] is taken as visible at that moment.
 *  - lag(id) = visible(id) − ack(id) for the ids acknowledged after the warm-up; after the load the
 *    poller goes on for at most `tailMs` for the last ones, and ids never seen are `unseen`.
 *
 * What the figures include and do not:
 *  1. Poll granularity: an id is seen at the end of the poll that first shows it, so a lag is late by
 *     up to one poll round trip (`pollIntervalMsMean`, about half of it on average).
 *  2. The highest id is a watermark. With concurrent writers id n + 1 can commit before id n; a poll
 *     that shows n + 1 then counts n as visible too, a little early. The error is bounded by how far
 *     commits are reordered, which is the commit latency of one write.
 *  3. An id can be seen before its acknowledgment reaches us (the commit is replicated before the
 *     primary's answer is read, or this process is busy). That is legitimate — visible before
 *     acknowledged — and counts as lag 0.
 *  4. Both timestamps are taken when this process gets round to the callback, so a busy event loop
 *     adds to both sides; it cancels out unless one side is delayed more than the other.
 *
 * Pure apart from the clock, which paces the load and times both sides: `LagRun.clock`, the real one
 * by default; the tests run it on a virtual clock, so that their arithmetic holds on a busy machine.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Clock } from '@northlight/protocol';
import { NodeClock } from '@northlight/protocol/io';

export interface LagTarget {
  /** Commits one write with this id (a row insert); resolves when the primary/writer acknowledged the commit. */
  write(id: number): Promise<void>;
  /** The highest id visible on the replica/standby right now (one read query). */
  maxVisibleId(): Promise<number>;
}

export interface LagRun {
  /** Writes scheduled per second. */
  rate: number;
  /** Length of the measured load, after the warm-up. */
  durationMs: number;
  /** Load before the measured part, same rate; ids acknowledged in it are left out. Default 0. */
  warmupMs?: number;
  /** Writes in flight at most. Default 64. */
  writers?: number;
  /** How long to keep polling after the load for ids not yet seen. Default 5000. */
  tailMs?: number;
  /** Times the writes and the polls and paces the load. Default: the real clock. */
  clock?: Clock;
}

export interface LagResult {
  targetRate: number;
  /** Measured writes per second of measured time (warm-up end to last acknowledgment). */
  achievedRate: number;
  /** Writes acknowledged after the warm-up: the ones measured. */
  writes: number;
  /** Every write acknowledged, warm-up included (what the systems' CPU time was spent on). */
  acknowledged: number;
  /** Nearest-rank percentiles and maximum of the lags; NaN when there is no sample. */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** Measured writes seen on the replica (each one lag sample). */
  samples: number;
  /** Measured writes never seen on the replica, tail included. */
  unseen: number;
  /** Mean time between two polls of the replica: the granularity of every lag (see note 1). */
  pollIntervalMsMean: number;
  /**
   * The slowest measured write of each 100 ms of acknowledgment time, slowest first (at most 10):
   * when it was acknowledged (ms after the warm-up) and its lag. Whether the tail is spread out or
   * comes in stalls, and when.
   */
  slowest: { atMs: number; lagMs: number }[];
}

const DEFAULT_WRITERS = 64;
const DEFAULT_TAIL_MS = 5_000;
/** Bounds the two per-id time arrays (16 bytes per id). */
const WRITES_PER_RUN_MAX = 10_000_000;
const SLOWEST_KEPT = 10;
const SLOWEST_WINDOW_MS = 100;

/** What the writer side and the poller share during one run. */
interface RunState {
  /** Per id (index 0 unused): when its write was acknowledged, NaN until then. */
  readonly ackMs: Float64Array;
  /** Per id: when the poller first saw it, NaN until then. */
  readonly visibleMs: Float64Array;
  /** Ids 1..started have been handed to `write`. */
  started: number;
  /** Set once every started write is acknowledged: the poller's tail ends at this time + tailMs. */
  loadEndMs: number | undefined;
  /** The first failure of either side; the other side stops at its next step. */
  failure: unknown;
  polls: number;
}

export async function measureLag(target: LagTarget, run: LagRun): Promise<LagResult> {
  const warmupMs = run.warmupMs ?? 0;
  const writers = run.writers ?? DEFAULT_WRITERS;
  const tailMs = run.tailMs ?? DEFAULT_TAIL_MS;
  if (!(Number.isFinite(run.rate) && run.rate > 0 && Number.isFinite(run.durationMs) && run.durationMs > 0))
    throw new Error('measureLag: rate and durationMs must be > 0');
  if (!(Number.isFinite(warmupMs) && warmupMs >= 0 && Number.isFinite(tailMs) && tailMs >= 0))
    throw new Error('measureLag: warmupMs and tailMs must be >= 0');
  if (!(Number.isSafeInteger(writers) && writers > 0)) throw new Error('measureLag: writers must be >= 1');
  const writesMax = Math.ceil((run.rate * (warmupMs + run.durationMs)) / 1000);
  if (writesMax > WRITES_PER_RUN_MAX)
    throw new Error(`measureLag: ${writesMax} writes in one run, more than ${WRITES_PER_RUN_MAX}`);

  const state: RunState = {
    ackMs: new Float64Array(writesMax + 1).fill(Number.NaN),
    visibleMs: new Float64Array(writesMax + 1).fill(Number.NaN),
    started: 0,
    loadEndMs: undefined,
    failure: undefined,
    polls: 0,
  };
  const clock = run.clock ?? new NodeClock();
  const startMs = clock.nowMs();
  const warmupEndMs = startMs + warmupMs;
  const polling = poll(target, state, tailMs, clock);
  const endMs = warmupEndMs + run.durationMs;
  await writeOnSchedule(target, state, { startMs, endMs, writesMax, rate: run.rate, writers }, clock);
  state.loadEndMs = clock.nowMs();
  await polling;
  if (state.failure !== undefined) throw state.failure;
  return summarize(state, run.rate, warmupEndMs, clock.nowMs() - startMs);
}

/**
 * The open-loop writer: starts each id at its due time (or as soon as a writer is free), stops
 * starting at the end of the schedule, and returns when every started write is acknowledged.
 */
async function writeOnSchedule(
  target: LagTarget,
  state: RunState,
  schedule: { startMs: number; endMs: number; writesMax: number; rate: number; writers: number },
  clock: Clock,
): Promise<void> {
  let inFlight = 0;
  // Resolved (and cleared) whenever a write finishes: wakes the scheduler waiting for a writer.
  let writeFinished: (() => void) | undefined;
  const finish = () => {
    inFlight--;
    writeFinished?.();
    writeFinished = undefined;
  };
  for (;;) {
    const id = state.started + 1;
    const dueMs = schedule.startMs + ((id - 1) * 1000) / schedule.rate;
    if (id > schedule.writesMax || dueMs >= schedule.endMs || state.failure !== undefined) break;
    // Timers have a 1 ms granularity: at high rates each wake-up starts the several ids now due.
    const waitMs = dueMs - clock.nowMs();
    if (waitMs > 0) await clock.sleep(waitMs);
    while (inFlight >= schedule.writers && state.failure === undefined)
      await new Promise<void>((resolve) => {
        writeFinished = resolve;
      });
    // No write starts after the end of the schedule: when the writers were busy until then, the ids
    // still due are never started (the shortfall shows in achievedRate).
    if (clock.nowMs() >= schedule.endMs || state.failure !== undefined) break;
    state.started = id;
    inFlight++;
    target.write(id).then(
      () => {
        state.ackMs[id] = clock.nowMs();
        finish();
      },
      (error: unknown) => {
        state.failure ??= error;
        finish();
      },
    );
  }
  while (inFlight > 0)
    await new Promise<void>((resolve) => {
      writeFinished = resolve;
    });
}

/** The poller: back-to-back reads of the replica's highest id until everything is seen or the tail ends. */
async function poll(target: LagTarget, state: RunState, tailMs: number, clock: Clock): Promise<void> {
  let seenMax = 0;
  try {
    for (;;) {
      const visibleMax = await target.maxVisibleId();
      const nowMs = clock.nowMs();
      state.polls++;
      // A replica that goes back, or shows a row never written, is broken: no lag means anything then.
      if (!Number.isSafeInteger(visibleMax) || visibleMax < seenMax || visibleMax > state.started)
        throw new Error(
          `replica's highest visible id is ${visibleMax} after ${seenMax}, with ids 1..${state.started} written`,
        );
      for (let id = seenMax + 1; id <= visibleMax; id++) state.visibleMs[id] = nowMs;
      seenMax = visibleMax;
      if (state.failure !== undefined) return;
      if (state.loadEndMs !== undefined && (seenMax >= state.started || nowMs >= state.loadEndMs + tailMs))
        return;
      // A target that answers without I/O must not starve the writer's timers and callbacks.
      await yieldToEventLoop();
    }
  } catch (error) {
    state.failure ??= error;
  }
}

function summarize(state: RunState, targetRate: number, warmupEndMs: number, runMs: number): LagResult {
  const lags: number[] = [];
  const timed: { atMs: number; lagMs: number }[] = [];
  let writes = 0;
  let acknowledged = 0;
  let unseen = 0;
  let lastAckMs = warmupEndMs;
  for (let id = 1; id <= state.started; id++) {
    const ackMs = state.ackMs[id]!;
    if (!Number.isNaN(ackMs)) acknowledged++;
    if (!(ackMs >= warmupEndMs)) continue; // acknowledged in the warm-up
    writes++;
    lastAckMs = Math.max(lastAckMs, ackMs);
    const visibleMs = state.visibleMs[id]!;
    if (Number.isNaN(visibleMs)) unseen++;
    else {
      const lagMs = Math.max(0, visibleMs - ackMs); // seen before acknowledged: lag 0 (note 3)
      lags.push(lagMs);
      timed.push({ atMs: ackMs - warmupEndMs, lagMs });
    }
  }
  const round = (ms: number) => Math.round(ms * 100) / 100;
  // The slowest write of each window of acknowledgment time, slowest windows first: one stall delays
  // every write acknowledged during it, so the tail is read as a list of stalls.
  const byWindow = new Map<number, { atMs: number; lagMs: number }>();
  for (const sample of timed) {
    const window = Math.floor(sample.atMs / SLOWEST_WINDOW_MS);
    if ((byWindow.get(window)?.lagMs ?? -1) < sample.lagMs) byWindow.set(window, sample);
  }
  const slowest = [...byWindow.values()]
    .sort((a, b) => b.lagMs - a.lagMs)
    .slice(0, SLOWEST_KEPT)
    .map(({ atMs, lagMs }) => ({ atMs: round(atMs), lagMs: round(lagMs) }));
  const sorted = Float64Array.from(lags).sort();
  const measuredMs = lastAckMs - warmupEndMs;
  return {
    targetRate,
    achievedRate: measuredMs > 0 ? (writes * 1000) / measuredMs : 0,
    writes,
    acknowledged,
    lagP50Ms: nearestRank(sorted, 50),
    lagP99Ms: nearestRank(sorted, 99),
    lagMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    samples: sorted.length,
    unseen,
    pollIntervalMsMean: state.polls === 0 ? Number.NaN : runMs / state.polls,
    slowest,
  };
}

/** The nearest-rank percentile: the smallest sample with at least p % of the samples at or below it. */
export function nearestRank(sorted: Float64Array, percent: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.ceil((percent / 100) * sorted.length) - 1)]!;
}
