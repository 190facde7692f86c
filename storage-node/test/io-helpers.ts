// A logger that records lines, for the io-* tests (the transport's tests, with raw-socket helpers,
// moved to protocol/test with the transport).
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
