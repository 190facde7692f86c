/**
 * The process model. A node runs one process at a time; each start of it is an incarnation. All
 * asynchrony the simulator hands to a process — timers, sleeps, disk and object store completions —
 * is scheduled as events owned by its incarnation, and the scheduler skips the events of a dead
 * incarnation without running them. So when a node crashes:
 *   1. its pending timers never fire;
 *   2. its in-flight disk and object store promises never settle, so no continuation of the dead
 *      incarnation ever runs, in the next incarnation or anywhere else;
 *   3. calls it still makes (it cannot, since nothing of it runs again, but a stray reference to its
 *      environment could) are dropped: every entry point checks `alive` first.
 * A promise that never settles is simply garbage collected with everything it holds.
 */
import type { Environment, Logger, LogLevel, NodeId, Zone } from './protocol.js';
import type { EventOwner, ScheduledEvent, Scheduler } from './scheduler.js';

/**
 * What a factory returns: the process's handle, any object. Workload checkers may inspect it (read
 * only). `stop()` is the graceful shutdown (`SimCluster.stop`); it is not called on a crash.
 * (An intersection with `object`, so that a class without `stop` is accepted too.)
 */
export type SimProcessInstance = object & {
  stop?(): void | Promise<void>;
};

export interface SimProcessContext {
  readonly nodeId: NodeId;
  readonly zone: Zone;
  /** 1 for the first start, then one more per restart. */
  readonly incarnation: number;
}

export type SimProcessFactory = (env: Environment, context: SimProcessContext) => SimProcessInstance;

/** A promise that never settles: what a dead incarnation gets back from the outside world. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class Incarnation implements EventOwner {
  /** `n1#2`: node n1, second incarnation. Used in trace lines. */
  readonly label: string;
  private isAlive = true;

  constructor(
    readonly nodeId: NodeId,
    readonly number: number,
    private readonly scheduler: Scheduler,
  ) {
    this.label = `${nodeId}#${number}`;
  }

  get alive(): boolean {
    return this.isAlive;
  }

  /** Ends the incarnation: all of its queued events are skipped from now on. */
  kill(): void {
    this.isAlive = false;
  }

  /** An event that runs only if this incarnation is still alive at `delayUs` from now. */
  schedule(delayUs: number, label: string, callback: () => void): ScheduledEvent {
    return this.scheduler.scheduleAfterUs(delayUs, label, callback, this);
  }

  /**
   * A promise settled `delayUs` from now by `outcome` (its value, or its throw as a rejection) —
   * if this incarnation is still alive then. If it dies first, the promise never settles.
   */
  complete<T>(delayUs: number, label: string, outcome: () => T): Promise<T> {
    if (!this.isAlive) return never();
    return new Promise<T>((resolve, reject) => {
      this.schedule(delayUs, label, () => {
        let value: T;
        try {
          value = outcome();
        } catch (error) {
          reject(error);
          return;
        }
        resolve(value);
      });
    });
  }
}

export interface LogRecord {
  readonly timeUs: number;
  readonly source: string;
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

const levelRank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

export function logLevelAtLeast(level: LogLevel, minimum: LogLevel): boolean {
  return levelRank[level] >= levelRank[minimum];
}

/** A process's Logger: every line at or above `levelMin` becomes a trace line `log <source> <level> …`. */
export class SimLogger implements Logger {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly source: string,
    private readonly levelMin: LogLevel,
    private readonly owner: EventOwner | undefined,
    private readonly onError: (record: LogRecord) => void,
  ) {}

  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void {
    if (this.owner !== undefined && !this.owner.alive) return;
    if (level === 'error') {
      this.onError({ timeUs: this.scheduler.nowUs, source: this.source, level, message, fields });
    }
    if (!logLevelAtLeast(level, this.levelMin)) return;
    const suffix = fields === undefined ? '' : ` ${formatFields(fields)}`;
    this.scheduler.trace.record(this.scheduler.nowUs, `log ${this.source} ${level} ${message}${suffix}`);
  }
}

/** JSON of log fields; bigints print as `123n`, byte arrays as their length. */
export function formatFields(fields: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(fields, (_key, value: unknown) => {
    if (typeof value === 'bigint') return `${value}n`;
    if (value instanceof Uint8Array) return `<${value.length} bytes>`;
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    return value;
  });
}
