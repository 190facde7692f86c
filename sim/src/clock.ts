/**
 * A process incarnation's Clock. Timers belong to the incarnation: a crash cancels them (the
 * scheduler skips events of a dead incarnation), and a sleep of a dead incarnation never resolves.
 *
 * The contract promises only a monotonic clock "since an arbitrary origin", so each incarnation
 * gets its own random origin: code that compares `nowMs()` values of two processes, or of two
 * incarnations of one, sees nonsense here as it would in production. Wall clocks get a random skew
 * of up to a second, since they are only for humans.
 */
import type { Incarnation } from './process.js';
import { never } from './process.js';
import type { Clock, TimerHandle } from './protocol.js';
import type { Scheduler } from './scheduler.js';
import { millisecondsToMicros } from './scheduler.js';

const inertHandle: TimerHandle = { cancel() {} };

export class SimClock implements Clock {
  private timerNext = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly incarnation: Incarnation,
    private readonly originMs: number,
    private readonly wallClockOriginMs: number,
  ) {}

  nowMs(): number {
    return this.originMs + this.scheduler.nowUs / 1000;
  }

  wallClockMs(): number {
    return Math.floor(this.wallClockOriginMs + this.scheduler.nowUs / 1000);
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    return this.schedule(delayMs, 'timer', callback);
  }

  sleep(delayMs: number): Promise<void> {
    if (!this.incarnation.alive) return never();
    return new Promise((resolve) => {
      this.schedule(delayMs, 'sleep', resolve);
    });
  }

  private schedule(delayMs: number, kind: string, callback: () => void): TimerHandle {
    if (!this.incarnation.alive) return inertHandle;
    const label = `${kind} ${this.incarnation.label} t${this.timerNext++}`;
    const event = this.incarnation.schedule(millisecondsToMicros(delayMs), label, callback);
    return { cancel: () => event.cancel() };
  }
}
