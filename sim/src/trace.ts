/**
 * The run's trace: one compact line per scheduled event, message send/deliver/drop, disk operation,
 * crash, restart, fault and log line. Every line is hashed (FNV-1a 64 over the UTF-8 of
 * `<time> <text>\n`) as it is recorded; only the last `tailLines` are kept in memory, for printing
 * when a run fails. Same seed ⇒ same lines ⇒ same hash: comparing hashes is how replay is checked.
 *
 * Line format: `<virtual ms with 3 decimals> <text>`, e.g. `12.345 deliver #17 n1>n2 64B`.
 */
import { Fnv1a64 } from './hash.js';
import { assert } from './protocol.js';

/** Receives every trace line as it is recorded (the CLI's `--trace` prints them). */
export type TraceSink = (line: string, timeUs: number, text: string) => void;

export interface TraceOptions {
  /** How many of the most recent lines to keep for `tail()`; all lines are hashed regardless. */
  readonly tailLines?: number;
  readonly sink?: TraceSink;
}

export const TRACE_TAIL_LINES_DEFAULT = 200;
export const TRACE_TAIL_LINES_MAX = 1_000_000;
/** Decimal digits of the largest safe integer: no time's milliseconds have more. */
const MILLISECOND_DIGITS_MAX = 16;

export class Trace {
  private readonly hash = new Fnv1a64();
  private readonly tailLinesMax: number;
  private readonly tailTimes: number[] = [];
  private readonly tailTexts: string[] = [];
  private tailNext = 0;
  private readonly sink: TraceSink | undefined;
  private linesRecorded = 0;
  /** Scratch for `hashTime`: a line's time and the space after it, as ASCII. */
  private readonly timeScratch = new Uint8Array(MILLISECOND_DIGITS_MAX + 5);

  constructor(options: TraceOptions = {}) {
    this.tailLinesMax = options.tailLines ?? TRACE_TAIL_LINES_DEFAULT;
    assert(
      Number.isInteger(this.tailLinesMax) &&
        this.tailLinesMax >= 0 &&
        this.tailLinesMax <= TRACE_TAIL_LINES_MAX,
      `trace tail must hold 0..${TRACE_TAIL_LINES_MAX} lines: ${this.tailLinesMax}`,
    );
    this.sink = options.sink;
  }

  record(timeUs: number, text: string): void {
    // Hashes `formatTimeUs(timeUs)` digit by digit: every event records a line, and building the
    // time's string only to hash it was a measurable share of a campaign's time and garbage.
    this.hashTime(timeUs);
    this.hash.updateString(text);
    this.hash.updateByte(0x0a);
    this.linesRecorded++;
    if (this.tailLinesMax > 0) {
      if (this.tailTimes.length < this.tailLinesMax) {
        this.tailTimes.push(timeUs);
        this.tailTexts.push(text);
      } else {
        this.tailTimes[this.tailNext] = timeUs;
        this.tailTexts[this.tailNext] = text;
        this.tailNext = this.tailNext + 1 === this.tailLinesMax ? 0 : this.tailNext + 1;
      }
    }
    if (this.sink !== undefined) this.sink(`${formatTimeUs(timeUs)} ${text}`, timeUs, text);
  }

  /**
   * Hashes the UTF-8 of `${formatTimeUs(timeUs)} ` (ASCII digits, a dot, a space) without building it:
   * the characters are written into a reused scratch array and hashed in one call.
   */
  private hashTime(timeUs: number): void {
    const micros = timeUs % 1000;
    let milliseconds = (timeUs - micros) / 1000;
    let digits = 0;
    for (let rest = milliseconds; digits === 0 || rest > 0; rest = (rest - (rest % 10)) / 10) digits++;
    const line = this.timeScratch;
    for (let index = digits - 1; index >= 0; index--) {
      const digit = milliseconds % 10;
      line[index] = 0x30 + digit;
      milliseconds = (milliseconds - digit) / 10;
    }
    line[digits] = 0x2e;
    line[digits + 1] = 0x30 + Math.floor(micros / 100);
    line[digits + 2] = 0x30 + (Math.floor(micros / 10) % 10);
    line[digits + 3] = 0x30 + (micros % 10);
    line[digits + 4] = 0x20;
    this.hash.updateBytesUpTo(line, digits + 5);
  }

  /** FNV-1a 64 of every line recorded so far, as 16 hex digits. */
  hashHex(): string {
    return this.hash.hex();
  }

  get lineCount(): number {
    return this.linesRecorded;
  }

  /** The most recent lines, oldest first. */
  tail(): string[] {
    const lines: string[] = [];
    const count = this.tailTimes.length;
    for (let offset = 0; offset < count; offset++) {
      const index = (this.tailNext + offset) % count;
      lines.push(`${formatTimeUs(this.tailTimes[index] as number)} ${this.tailTexts[index] as string}`);
    }
    return lines;
  }
}

/** Virtual microseconds as milliseconds with three decimals: 12345 → "12.345". */
export function formatTimeUs(timeUs: number): string {
  const milliseconds = Math.floor(timeUs / 1000);
  const micros = timeUs - milliseconds * 1000;
  return `${milliseconds}.${micros < 10 ? '00' : micros < 100 ? '0' : ''}${micros}`;
}
