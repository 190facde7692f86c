/**
 * The simulator's only contact with Node's real scheduling. Everything else in `sim/` runs on
 * virtual time; the event loop in `scheduler.ts` needs two real primitives to let the promise
 * continuations of simulated processes run between events.
 *
 * - `drainMicrotasks()` resolves after every promise continuation queued before it — including
 *   continuations queued by those continuations, to any depth — has run. Node runs microtasks with
 *   V8's explicit policy: `runMicrotasks()` empties the whole queue, and only then are
 *   `process.nextTick` callbacks taken. A nextTick callback queued from inside a microtask therefore
 *   runs only once the microtask queue is empty. It costs about 0.2 µs, a setImmediate about 3 µs.
 *   (Simulated code must not use `process.nextTick` itself; core code cannot, by the lint rule.)
 * - `yieldToMacrotask()` lets the real event loop turn (I/O, real timers such as the test runner's
 *   timeouts, stdout) and lets Node report unhandled promise rejections, which it does only when the
 *   nextTick queue is empty. The scheduler calls it every few hundred events; it changes nothing in
 *   the simulation, because the microtask queue is already empty whenever it is called.
 */

export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

/**
 * Calls `callback` once every promise continuation queued before the call — and every one those
 * queue, to any depth — has run: `drainMicrotasks` without a promise, for a loop that runs as a chain
 * of callbacks. Called from a nextTick callback, a `process.nextTick` alone would run `callback`
 * before the microtasks (Node takes every queued tick before it empties the microtask queue), so
 * the tick is queued from a microtask, behind the ones already queued: it then runs once the
 * microtask queue is empty, whichever context the call came from.
 */
export function afterMicrotasks(callback: () => void): void {
  queueMicrotask(() => process.nextTick(callback));
}

export function yieldToMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
