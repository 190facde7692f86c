/**
 * The storage node's `Logger` (protocol/src/core/env.ts) on pino: one JSON object per line on stderr,
 * the same shape as protocol's JsonLineLogger (`time`, `level` as a word, `component`, `message`, then
 * the fields), so one log pipeline reads every northlight process.
 *
 * Secrets never reach the output: every field named like a credential (`secretAccessKey`,
 * `password`, `authorization`…) is replaced by "[redacted]" at any depth up to four levels, which
 * covers a whole config object logged at start. Bigints (LSNs, epochs) are written as decimal strings,
 * so JSON readers do not round them. An `error` field that is an Error is written with its type,
 * message and stack (logs are for operators; stacks never go to HTTP clients).
 *
 * Writes are synchronous by default: log volume is low, and the line before a crash (an assertion)
 * is the one that matters most.
 */
import type { Logger, LogLevel } from '@northlight/protocol';
import { type DestinationStream, type Logger as PinoInstance, pino } from 'pino';

/** Field names whose values are never logged, wherever they appear. */
export const REDACTED_FIELD_NAMES: readonly string[] = [
  'secretAccessKey',
  's3SecretAccessKey',
  'sessionToken',
  'password',
  'authorization',
  'cookie',
  'credentials',
];
export const REDACTED_VALUE = '[redacted]';
const REDACTION_DEPTH = 4;
/** Bigints are converted this deep in a log line's fields; deeper structures are logged as they are. */
const BIGINT_CONVERSION_DEPTH = 8;

function redactionPaths(): string[] {
  const paths: string[] = [];
  for (const name of REDACTED_FIELD_NAMES) {
    for (let depth = 0; depth < REDACTION_DEPTH; depth++) paths.push(`${'*.'.repeat(depth)}${name}`);
  }
  return paths;
}

/** A copy of `value` with bigints as decimal strings; Errors and other class instances are kept. */
function bigintsToStrings(value: unknown, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (depth >= BIGINT_CONVERSION_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => bigintsToStrings(item, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = bigintsToStrings(item, depth + 1);
  return copy;
}

export interface PinoLoggerOptions {
  /** Written on every line as `component` ("storage-node", "transport"…). */
  readonly component: string;
  /** Lines below this level are dropped. Default 'info'. */
  readonly level?: LogLevel;
  /** Where lines go; default stderr, synchronously. */
  readonly destination?: DestinationStream;
  /** Written on every line, e.g. `{ nodeId, zone }`. */
  readonly bindings?: Readonly<Record<string, unknown>>;
}

export class PinoLogger implements Logger {
  readonly pino: PinoInstance;

  constructor(options: PinoLoggerOptions | { readonly instance: PinoInstance }) {
    this.pino = 'instance' in options ? options.instance : createPino(options);
  }

  log(level: LogLevel, message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    this.pino[level](fields, message);
  }

  /** A logger that adds `bindings` to every line (a component, a segment id…). */
  child(bindings: Readonly<Record<string, unknown>>): PinoLogger {
    return new PinoLogger({ instance: this.pino.child({ ...bindings }) });
  }
}

function createPino(options: PinoLoggerOptions): PinoInstance {
  return pino(
    {
      level: options.level ?? 'info',
      messageKey: 'message',
      base: { component: options.component, ...options.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactionPaths(), censor: REDACTED_VALUE },
      serializers: { error: pino.stdSerializers.err, err: pino.stdSerializers.err },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => bigintsToStrings(object, 0) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
