/**
 * Proves the scheduler runs events in (virtual time, sequence) order whatever order they were
 * scheduled in, skips cancelled events and events of dead owners, stops on time / predicate /
 * idle / event limit, lets every promise continuation of an event settle before the next event,
 * and turns a throw inside an event into a `SimulationFailure` instead of swallowing it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { millisecondsToMicros, Scheduler, SimulationFailure } from '../src/scheduler.js';
import { Trace } from '../src/trace.js';

function scheduler(): Scheduler {
  return new Scheduler({ trace: new Trace() });
}

describe('Scheduler', () => {
  it('orders events by time, then by the order they were scheduled in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 60 }),
        async (times) => {
          const sim = scheduler();
          const ran: number[] = [];
          times.forEach((time, index) => {
            sim.scheduleAtUs(time, `e${index}`, () => ran.push(index));
          });
          await sim.runUntil(1);
          const expected = times
            .map((time, index) => ({ time, index }))
            .sort((a, b) => a.time - b.time || a.index - b.index);
          expect(ran).toEqual(expected.map((entry) => entry.index));
        },
      ),
    );
  });

  it('orders events scheduled from inside events after earlier ones due at the same time', async () => {
    const sim = scheduler();
    const ran: string[] = [];
    sim.scheduleAtUs(10, 'a', () => {
      ran.push('a');
      sim.scheduleAfterUs(0, 'c', () => ran.push('c'));
    });
    sim.scheduleAtUs(10, 'b', () => ran.push('b'));
    await sim.runUntil(1);
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('skips cancelled events and events of dead owners, without tracing them', async () => {
    const trace = new Trace();
    const sim = new Scheduler({ trace });
    const owner = { alive: true };
    const ran: string[] = [];
    sim.scheduleAtUs(5, 'cancelled', () => ran.push('cancelled')).cancel();
    sim.scheduleAtUs(6, 'owned', () => ran.push('owned'), owner);
    sim.scheduleAtUs(7, 'free', () => ran.push('free'));
    owner.alive = false;
    await sim.runUntil(1);
    expect(ran).toEqual(['free']);
    expect(trace.tail()).toEqual(['0.007 free']);
  });

  it('stops at a time (and moves the clock there), a predicate, idleness or an event limit', async () => {
    const sim = scheduler();
    let count = 0;
    for (let index = 1; index <= 10; index++) sim.scheduleAtUs(index * 1000, `e${index}`, () => count++);
    expect(await sim.runUntil(2.5)).toMatchObject({ reason: 'time', events: 2, nowMs: 2.5 });
    expect(await sim.runUntil(() => count >= 5)).toMatchObject({ reason: 'predicate', events: 3 });
    expect(await sim.runUntil(() => false, { maxEvents: 2 })).toMatchObject({
      reason: 'max-events',
      events: 2,
    });
    expect(await sim.runUntil(() => false)).toMatchObject({ reason: 'idle', events: 3, nowMs: 10 });
    expect(await sim.runUntil(() => false, { timeLimitMs: 50 })).toMatchObject({ reason: 'idle', nowMs: 10 });
    expect(await sim.runUntil(20)).toMatchObject({ reason: 'time', events: 0, nowMs: 20 });
  });

  it('lets every promise continuation of an event run before the next event', async () => {
    const sim = scheduler();
    const seen: string[] = [];
    sim.scheduleAtUs(1, 'a', () => {
      void (async () => {
        for (let depth = 0; depth < 100; depth++) await Promise.resolve();
        seen.push('a-continuation');
      })();
    });
    sim.scheduleAtUs(1, 'b', () => seen.push('b'));
    await sim.runUntil(1);
    expect(seen).toEqual(['a-continuation', 'b']);
  });

  it('fails the run when an event throws, and remembers the first failure', async () => {
    const sim = scheduler();
    sim.scheduleAtUs(3000, 'boom', () => {
      throw new Error('kaput');
    });
    sim.scheduleAtUs(4000, 'never', () => {
      throw new Error('not reached');
    });
    await expect(sim.runUntil(10)).rejects.toBeInstanceOf(SimulationFailure);
    expect(sim.failure).toMatchObject({ context: 'boom', timeUs: 3000 });
    await expect(sim.runUntil(10)).rejects.toThrow(/kaput/);
  });

  it('fails a run that exceeds its event budget', async () => {
    const sim = new Scheduler({ trace: new Trace(), eventsMax: 100 });
    const again = (): void => {
      sim.scheduleAfterUs(1, 'loop', again);
    };
    again();
    await expect(sim.runUntil(() => false)).rejects.toThrow(/event budget/);
  });

  it('converts milliseconds to microseconds rounding up, without float noise', () => {
    expect(millisecondsToMicros(0.1)).toBe(100);
    expect(millisecondsToMicros(0.0001)).toBe(1);
    expect(millisecondsToMicros(2.5)).toBe(2500);
    expect(() => millisecondsToMicros(-1)).toThrow();
    expect(() => millisecondsToMicros(Number.NaN)).toThrow();
  });
});
