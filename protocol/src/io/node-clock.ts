/** The real Clock: monotonic time from `performance.now()`, timers from Node's event loop. */
import type { Clock, TimerHandle } from '../core/env.js';

export class NodeClock implements Clock {
  nowMs(): number {
    return performance.now();
  }

  wallClockMs(): number {
    return Date.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(timer) };
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, delayMs)));
  }
}
