/**
 * Drives one PgConnection in process (no sockets): bytes in, server messages out, a manual clock.
 */
import type { Clock, TimerHandle } from '@northlight/protocol';
import type { SqlBackend } from '../../../src/core/pgwire/backend.js';
import {
  type AuthConfig,
  type ConnectionLimits,
  defaultConnectionLimits,
  PgConnection,
} from '../../../src/core/pgwire/connection.js';
import { type BackendMessage, BackendReader, frontend } from './wire.js';

export class ManualClock implements Clock {
  private now = 0;
  private timers: { at: number; callback: () => void; cancelled: boolean }[] = [];

  nowMs(): number {
    return this.now;
  }
  wallClockMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = { at: this.now + delayMs, callback, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }
  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(delayMs, resolve));
  }
  advance(ms: number): void {
    this.now += ms;
    const due = this.timers.filter((timer) => !timer.cancelled && timer.at <= this.now);
    this.timers = this.timers.filter((timer) => !due.includes(timer));
    for (const timer of due) timer.callback();
  }
}

export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Harness {
  readonly reader = new BackendReader();
  readonly clock = new ManualClock();
  readonly connection: PgConnection;
  closed = false;
  /** Writes to the socket, and the largest one in bytes. */
  sends = 0;
  sendBytesMax = 0;
  reading = true;
  tlsStarted = false;
  readonly cancels: [number, number][] = [];

  constructor(
    readonly backend: SqlBackend,
    options: { auth?: AuthConfig; limits?: Partial<ConnectionLimits>; tls?: boolean; refuse?: boolean } = {},
  ) {
    this.connection = new PgConnection(
      {
        backend,
        clock: this.clock,
        auth: options.auth ?? { method: 'trust' },
        processId: 4242,
        secretKey: 99,
        limits: { ...defaultConnectionLimits, ...options.limits },
        tlsAvailable: options.tls ?? false,
        ...(options.refuse === true
          ? { refuseWith: { sqlstate: '53300', message: 'sorry, too many clients already' } }
          : {}),
      },
      {
        send: (bytes) => {
          this.sends += 1;
          this.sendBytesMax = Math.max(this.sendBytesMax, bytes.length);
          this.reader.push(bytes);
          return true;
        },
        drained: async () => {},
        close: () => {
          this.closed = true;
        },
        setReading: (reading) => {
          this.reading = reading;
        },
        startTls: () => {
          this.tlsStarted = true;
        },
        cancelRequest: (processId, secretKey) => {
          this.cancels.push([processId, secretKey]);
        },
      },
    );
  }

  /** Sends bytes, waits until the server is quiet (or `until` holds), returns what it answered. */
  async send(
    bytes: Uint8Array,
    until?: (messages: readonly BackendMessage[]) => boolean,
  ): Promise<BackendMessage[]> {
    this.connection.receive(bytes);
    for (let round = 0; round < 200; round++) {
      await tick();
      if (until?.(this.reader.messages)) break;
      if (until === undefined && round >= 5) break;
    }
    return this.reader.take();
  }

  /** Startup with trust: returns the messages up to and including ReadyForQuery. */
  async start(
    parameters: Record<string, string> = { user: 'tester', database: 'db' },
  ): Promise<BackendMessage[]> {
    return this.send(frontend.startup(parameters), (messages) =>
      messages.some((entry) => entry.type === 'Z'),
    );
  }

  /** Sends and waits for a ReadyForQuery (or a close). */
  async roundTrip(...parts: Uint8Array[]): Promise<BackendMessage[]> {
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return this.send(bytes, (messages) => this.closed || messages.some((entry) => entry.type === 'Z'));
  }
}
