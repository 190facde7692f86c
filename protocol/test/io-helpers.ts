// Shared helpers of the io-* tests: a logger that records lines, polling with a deadline, and raw
// loopback sockets for feeding an endpoint bytes it should refuse.
import { connect, type Socket } from 'node:net';
import type { Logger, LogLevel } from '@northlight/protocol';

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];

  log(level: LogLevel, message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    this.lines.push({ level, message, fields });
  }

  at(level: LogLevel): LogLine[] {
    return this.lines.filter((line) => line.level === level);
  }
}

/** Polls `condition` every few milliseconds until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A raw client socket to 127.0.0.1:`port`, connected. */
export async function rawConnect(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  // Read (and discard) what the endpoint sends, so that its close is noticed.
  socket.resume();
  return socket;
}

/** Resolves when `socket` is closed by either side. */
export function closedSocket(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}
