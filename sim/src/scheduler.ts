/**
 * The discrete-event scheduler: one queue of events on virtual time, ordered by (time, sequence
 * number). The sequence number is taken when an event is scheduled, so two events due at the same
 * microsecond run in the order they were scheduled — whichever node, disk or network scheduled them —
 * and that order is a function of the seed alone.
 *
 * Virtual time is kept in integer microseconds (the public API speaks milliseconds): comparisons
 * are exact, and the trace prints time without rounding noise.
 */
import { afterMicrotasks, drainMicrotasks, yieldToMacrotask } from './io/macrotask.js';
import { AssertionError, assert } from './protocol.js';
import type { Trace } from './trace.js';

/** Something whose events die with it: a process incarnation. */
export interface EventOwner {
  readonly alive: boolean;
}

export class ScheduledEvent {
  cancelled = false;

  constructor(
    readonly timeUs: number,
    readonly sequence: number,
    readonly label: string,
    readonly callback: () => void,
    readonly owner: EventOwner | undefined,
  ) {}

  /** Cancels the event; after it ran, or a second time, this does nothing. */
  cancel(): void {
    this.cancelled = true;
  }
}

export type StopCondition = number | (() => boolean);

export interface RunUntilOptions {
  /** Stop after this many events in this call (result reason `max-events`). */
  readonly maxEvents?: number;
  /** With a predicate: also stop when virtual time would pass this (result reason `time`). */
  readonly timeLimitMs?: number;
}

export interface RunUntilResult {
  readonly reason: 'time' | 'predicate' | 'idle' | 'max-events';
  readonly events: number;
  readonly nowMs: number;
}

/** A failure inside the simulation: a thrown error or assertion in an event or a process. */
export interface SimulationFailureInfo {
  readonly error: unknown;
  /** What was running: the event's trace label, or where a rejection was caught. */
  readonly context: string;
  readonly timeUs: number;
}

/** Thrown out of `runUntil` once the simulation has failed; the run is over. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';

  constructor(readonly info: SimulationFailureInfo) {
    super(`simulation failed at ${info.timeUs / 1000} ms in ${info.context}: ${describeError(info.error)}`);
  }
}

export interface SchedulerOptions {
  readonly trace: Trace;
  /** Events a whole run may execute; running more is a failure (a livelock, or a runaway workload). */
  readonly eventsMax?: number;
}

/** One `runUntil` call's stop condition and progress. */
interface LoopRun {
  readonly stopUs: number | undefined;
  readonly predicate: (() => boolean) | undefined;
  /** Events due after this are not run (the stop time, or `timeLimitMs` with a predicate). */
  readonly limitUs: number | undefined;
  readonly maxEvents: number;
  events: number;
}

export const SCHEDULER_EVENTS_MAX_DEFAULT = 20_000_000;
/** Events queued at once; more is a runaway producer, not a workload. */
export const SCHEDULER_QUEUE_EVENTS_MAX = 5_000_000;
/** Events between real macrotask turns (see `io/macrotask.ts`). */
const EVENTS_PER_MACROTASK = 128;

/** Milliseconds to whole microseconds, rounding up: "no earlier than" stays true. */
export function millisecondsToMicros(milliseconds: number): number {
  if (!(Number.isFinite(milliseconds) && milliseconds >= 0))
    throw new AssertionError(`delay must be finite and >= 0: ${milliseconds}`);
  // The small epsilon keeps 0.1 ms from becoming 101 µs through 0.1 * 1000 = 100.00000000000001.
  return Math.max(0, Math.ceil(milliseconds * 1000 - 1e-6));
}

export class Scheduler {
  private readonly heap: ScheduledEvent[] = [];
  private sequenceNext = 0;
  private currentUs = 0;
  private eventsRun = 0;
  private readonly eventsMax: number;
  private running = false;
  private failureInfo: SimulationFailureInfo | undefined;
  readonly trace: Trace;

  constructor(options: SchedulerOptions) {
    this.trace = options.trace;
    this.eventsMax = options.eventsMax ?? SCHEDULER_EVENTS_MAX_DEFAULT;
  }

  get nowUs(): number {
    return this.currentUs;
  }

  nowMs(): number {
    return this.currentUs / 1000;
  }

  get eventCount(): number {
    return this.eventsRun;
  }

  /** Events in the queue, including cancelled ones not yet discarded. */
  get queuedCount(): number {
    return this.heap.length;
  }

  get failure(): SimulationFailureInfo | undefined {
    return this.failureInfo;
  }

  /**
   * Schedules `callback` at virtual time `timeUs` (not before now). `label` is the event's trace
   * line. An event with an `owner` is skipped, untraced, if the owner has died by then.
   */
  scheduleAtUs(timeUs: number, label: string, callback: () => void, owner?: EventOwner): ScheduledEvent {
    if (!Number.isSafeInteger(timeUs))
      throw new AssertionError(`event time must be whole microseconds: ${timeUs}`);
    if (!(timeUs >= this.currentUs))
      throw new AssertionError(`event scheduled in the past: ${timeUs} < ${this.currentUs}`);
    const event = new ScheduledEvent(timeUs, this.sequenceNext++, label, callback, owner);
    this.push(event);
    return event;
  }

  scheduleAfterUs(delayUs: number, label: string, callback: () => void, owner?: EventOwner): ScheduledEvent {
    return this.scheduleAtUs(this.currentUs + delayUs, label, callback, owner);
  }

  scheduleAfterMs(delayMs: number, label: string, callback: () => void, owner?: EventOwner): ScheduledEvent {
    return this.scheduleAtUs(this.currentUs + millisecondsToMicros(delayMs), label, callback, owner);
  }

  /**
   * Records the first failure; `runUntil` throws it once the current event has settled. Later
   * failures are consequences of the first, so only the first is kept.
   */
  fail(error: unknown, context: string): void {
    if (this.failureInfo !== undefined) return;
    this.failureInfo = { error, context, timeUs: this.currentUs };
    this.trace.record(this.currentUs, `FAILURE in ${context}: ${describeError(error)}`);
  }

  /**
   * Runs events until the stop condition: a virtual time in ms (every event due at or before it
   * runs, then the clock moves to it), or a predicate checked before each event (the run also ends
   * when no event is left). Throws `SimulationFailure` if the simulation has failed.
   *
   * After every event the loop awaits `drainMicrotasks()`, so each event runs together with every
   * promise continuation it causes, before the next event starts. Why not run all events due at
   * the same virtual time back to back and drain once per time step? It would stay deterministic —
   * JavaScript is single-threaded and V8 runs microtasks in FIFO order, so the interleaving would
   * be the same on every replay — but it would change what an event means:
   *   1. Event A (t=5) completes a disk write of n1; event B (t=5) crashes n1. Batched, B runs
   *      before A's continuation, so n1's code resumes after its own crash. Every entry point of a
   *      dead incarnation drops its calls, so nothing leaks, but the trace shows work "after" a
   *      crash and reasoning about a failure gets harder.
   *   2. A continuation of A that sets a 0 ms timer would be ordered after B's events instead of
   *      right after A: event order would depend on how many events share a time step, which the
   *      scheduling of unrelated nodes decides.
   *   3. Same-time events are rare anyway: latencies are drawn in microseconds, so only timers of
   *      nodes started together coincide. Batching would save little.
   * Per-event draining is kept cheap instead: a nextTick-based drain costs about 0.2 µs, against
   * about 3 µs for a setImmediate; a real macrotask turn is taken every 128 events. Between two such
   * turns the loop is a chain of callbacks (`runBatch`, `afterMicrotasks`), not an `await` per event:
   * the same drain without a promise and an async resumption per event, which were a twelfth of a
   * campaign's allocations. Measured on the development machine: 0.75 µs per event for the bare loop
   * (queue, trace hash, drain), about 5 µs per event for a whole workload with disk, network and
   * faults.
   */
  async runUntil(stop: StopCondition, options: RunUntilOptions = {}): Promise<RunUntilResult> {
    assert(!this.running, 'runUntil is already running: await the previous call');
    this.running = true;
    try {
      return await this.runLoop(stop, options);
    } finally {
      this.running = false;
    }
  }

  private async runLoop(stop: StopCondition, options: RunUntilOptions): Promise<RunUntilResult> {
    const stopUs = typeof stop === 'number' ? millisecondsToMicros(stop) : undefined;
    const limitUs =
      stopUs ?? (options.timeLimitMs === undefined ? undefined : millisecondsToMicros(options.timeLimitMs));
    if (stopUs !== undefined) assert(stopUs >= this.currentUs, `runUntil(${stop}) is in the past`);
    const run: LoopRun = {
      stopUs,
      predicate: typeof stop === 'function' ? stop : undefined,
      limitUs,
      maxEvents: options.maxEvents ?? Number.POSITIVE_INFINITY,
      events: 0,
    };
    await drainMicrotasks();
    this.throwIfFailed();
    for (;;) {
      const result = await this.runBatch(run);
      if (result !== undefined) return result;
      if (this.eventsRun % EVENTS_PER_MACROTASK === 0) await yieldToMacrotask();
      this.throwIfFailed();
    }
  }

  /**
   * Runs events, each followed by a full drain of the microtasks it caused, until the run stops (the
   * result), or until the simulation fails or a macrotask turn is due (undefined: `runLoop` takes the
   * turn or throws, then calls again). The first event runs at once; each next one from a nextTick
   * callback queued by `afterMicrotasks`, so exactly when `await drainMicrotasks()` would resume.
   */
  private runBatch(run: LoopRun): Promise<RunUntilResult | undefined> {
    return new Promise((resolve, reject) => {
      let executed = false;
      const step = (): void => {
        try {
          if (executed && (this.eventsRun % EVENTS_PER_MACROTASK === 0 || this.failureInfo !== undefined)) {
            resolve(undefined);
            return;
          }
          const next = this.nextEvent(run);
          if (!(next instanceof ScheduledEvent)) {
            resolve(next);
            return;
          }
          this.pop();
          this.execute(next);
          run.events++;
          executed = true;
          afterMicrotasks(step);
        } catch (error) {
          reject(error);
        }
      };
      step();
    });
  }

  /** The next event to run, or why the run stops before it. */
  private nextEvent(run: LoopRun): ScheduledEvent | RunUntilResult {
    if (run.predicate?.()) return this.result('predicate', run.events);
    if (run.events >= run.maxEvents) return this.result('max-events', run.events);
    const event = this.peekLive();
    // With a predicate, an empty queue ends the run where it is (idle); with a time, the clock
    // moves on to it, as it would with the events of an unobserved world.
    if (event === undefined && run.stopUs === undefined) return this.result('idle', run.events);
    if (event === undefined || (run.limitUs !== undefined && event.timeUs > run.limitUs)) {
      if (run.limitUs !== undefined) this.currentUs = Math.max(this.currentUs, run.limitUs);
      return this.result('time', run.events);
    }
    return event;
  }

  private execute(event: ScheduledEvent): void {
    this.currentUs = event.timeUs;
    this.eventsRun++;
    if (this.eventsRun > this.eventsMax) {
      this.fail(new Error(`event budget of ${this.eventsMax} exhausted (livelock?)`), 'scheduler');
      return;
    }
    this.trace.record(event.timeUs, event.label);
    try {
      event.callback();
    } catch (error) {
      this.fail(error, event.label);
    }
  }

  private throwIfFailed(): void {
    if (this.failureInfo !== undefined) throw new SimulationFailure(this.failureInfo);
  }

  private result(reason: RunUntilResult['reason'], events: number): RunUntilResult {
    return { reason, events, nowMs: this.nowMs() };
  }

  /** The earliest event that is neither cancelled nor owned by a dead owner; dead ones are discarded. */
  private peekLive(): ScheduledEvent | undefined {
    for (;;) {
      const event = this.heap[0];
      if (event === undefined) return undefined;
      if (!event.cancelled && (event.owner === undefined || event.owner.alive)) return event;
      this.pop();
    }
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    if (!(heap.length < SCHEDULER_QUEUE_EVENTS_MAX))
      throw new AssertionError(`event queue is full (${SCHEDULER_QUEUE_EVENTS_MAX} events)`);
    heap.push(event);
    let index = heap.length - 1;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as ScheduledEvent;
      if (!before(event, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = event;
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    const length = heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && before(heap[right] as ScheduledEvent, heap[left] as ScheduledEvent))
        child = right;
      const childEvent = heap[child] as ScheduledEvent;
      if (!before(childEvent, last)) break;
      heap[index] = childEvent;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.sequence < b.sequence);
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
