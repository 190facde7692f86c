/** A Logger writing one JSON object per line to stderr (ERROR means a human must look). */
import type { Logger, LogLevel } from '../core/env.js';

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class JsonLineLogger implements Logger {
  readonly #component: string;
  readonly #minimum: LogLevel;
  readonly #write: (line: string) => void;

  constructor(
    component: string,
    minimum: LogLevel = 'info',
    write = (line: string) => process.stderr.write(line),
  ) {
    this.#component = component;
    this.#minimum = minimum;
    this.#write = write;
  }

  log(level: LogLevel, message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    if (order[level] < order[this.#minimum]) return;
    const line = JSON.stringify(
      { time: new Date().toISOString(), level, component: this.#component, message, ...fields },
      (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
    );
    this.#write(`${line}\n`);
  }
}
