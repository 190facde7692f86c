/**
 * PostgreSQL's dates, times and intervals over SQLite's date functions (sql.ts calls these).
 *
 * SQLite has no date or time type: northlight stores them as PostgreSQL writes them, in UTC —
 * `YYYY-MM-DD` for a date, `YYYY-MM-DD HH:MM:SS[.ffffff]` for a timestamp or timestamptz (what
 * `CURRENT_TIMESTAMP`, `DEFAULT now()` and a timestamptz parameter store, types.ts), `HH:MM:SS[.f]`
 * for a time — which SQLite's date functions read, compare and sort correctly as text. This module
 * gives the translation:
 *
 * - **casts** to date, timestamp, timestamptz and time: a literal is checked as PostgreSQL checks it
 *   (22007 invalid input syntax, 22008 out of range) and folded into the text it stores; any other
 *   operand becomes a SQLite date function (`date(x)`, `strftime(…)` with its fraction trimmed as
 *   PostgreSQL prints it), which gives NULL where PostgreSQL would raise (SQLite expressions cannot);
 * - **interval literals** (`interval '1 day 2 hours'`, `'3 months'::interval`, ISO 8601 `P1DT2H`),
 *   parsed as PostgreSQL parses them into months, days and microseconds;
 * - **`x ± interval`**: months first, a day past the end of a month clamped to its last day
 *   (PostgreSQL: Jan 31 + 1 month = Feb 28 or 29; SQLite alone would give Mar 2 or 3), then days, then
 *   the time;
 * - **`date ± integer`**: days, a date.
 *
 * Pure functions of strings: no I/O, no clock (a literal such as `'today'` becomes SQLite's `'now'`).
 */

import { civilFromDays, daysFromCivil } from './types.js';

/** PostgreSQL's date and time types that northlight translates. */
export type TemporalKind = 'date' | 'timestamp' | 'timestamptz' | 'time';

/** An error PostgreSQL raises for the same input: SQLSTATE and message (sql.ts wraps it). */
export class TemporalInputError extends Error {
  override readonly name = 'TemporalInputError';
  constructor(
    readonly sqlstate: '22007' | '22008' | '0A000',
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** PostgreSQL's name of each kind in its messages. */
export const TEMPORAL_SHOWN: Readonly<Record<TemporalKind, string>> = {
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamp with time zone',
  time: 'time',
};

/** The declared type a result column of each kind is sent as (types.ts `declaredTypeOid`). */
export const TEMPORAL_DECLARED: Readonly<Record<TemporalKind, string>> = {
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
  time: 'TIME',
};

const TIMESTAMP_FORMAT = '%Y-%m-%d %H:%M:%f';
const TIME_FORMAT = '%H:%M:%f';

/** SQLite's `%f` is always `SS.SSS`: PostgreSQL prints no fraction when it is zero, and no trailing 0. */
function trimmedFraction(expression: string): string {
  return `rtrim(rtrim(${expression}, '0'), '.')`;
}

/**
 * The operand as text SQLite's date functions read (left out when the operand is known to be in
 * northlight's own form: a cast, `now()`, date arithmetic): they take an offset only as `±HH:MM`, so one
 * written `±HH` (as PostgreSQL prints a timestamptz: `2024-01-02 03:04:05+00`) or `±HHMM` after a
 * time gets its colon. Anything else is left as it is. The operand is evaluated more than once.
 */
export function readableInstant(operand: string): string {
  return (
    `(CASE WHEN ${operand} GLOB '*[0-9]:[0-9][0-9]*[+-][0-9][0-9]' THEN ${operand} || ':00'` +
    ` WHEN ${operand} GLOB '*[0-9]:[0-9][0-9]*[+-][0-9][0-9][0-9][0-9]'` +
    ` THEN substr(${operand}, 1, length(${operand}) - 2) || ':' || substr(${operand}, -2)` +
    ` ELSE ${operand} END)`
  );
}

/** A name, a literal, a parameter or a clock keyword: cheap and safe to repeat in an expression. */
const simpleOperand =
  /^(?:[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?|"(?:[^"]|"")+"(?:\."(?:[^"]|"")+")?|\?\d+|'(?:[^']|'')*'|\d+(?:\.\d+)?)$/;

/**
 * `build` over the operand, which it may repeat: a simple operand is repeated as written; any other
 * is evaluated once, in a scalar subquery (`(SELECT … nl_v … FROM (SELECT operand AS nl_v))`), so
 * that chained arithmetic (`ts + interval '1 month' + interval '1 month' …`) grows linearly, not
 * exponentially. (SQLite takes no subquery in DEFAULT: such a chain there is refused by SQLite.)
 */
function bound(operand: string, build: (value: string) => string): string {
  if (simpleOperand.test(operand)) return build(operand);
  return `(SELECT ${build('nl_v')} FROM (SELECT ${operand} AS nl_v))`;
}

/** `x::kind` for an operand that is not a literal: a SQLite date function (NULL where PostgreSQL raises). */
export function temporalCastExpression(operand: string, kind: TemporalKind, known = false): string {
  return bound(operand, (value) => castOf(known ? value : readableInstant(value), kind));
}

function castOf(operand: string, kind: TemporalKind): string {
  switch (kind) {
    case 'date':
      return `date(${operand})`;
    case 'timestamp':
    case 'timestamptz':
      return trimmedFraction(`strftime('${TIMESTAMP_FORMAT}', ${operand})`);
    case 'time':
      return trimmedFraction(`strftime('${TIME_FORMAT}', ${operand})`);
  }
}

// ---- literals ----

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysIn(year: number, month: number): number {
  return (DAYS_IN_MONTH[month - 1] as number) + (month === 2 && isLeap(year) ? 1 : 0);
}

function two(value: number): string {
  return String(value).padStart(2, '0');
}

/** Words PostgreSQL reads as a date or timestamp relative to now, as SQLite date modifiers. */
const RELATIVE_WORDS: Readonly<Record<string, readonly string[]>> = {
  now: ["'now'"],
  today: ["'now'", "'start of day'"],
  tomorrow: ["'now'", "'start of day'", "'+1 days'"],
  yesterday: ["'now'", "'start of day'", "'-1 days'"],
};

const dateText = /^(\d{4})-(\d{1,2})-(\d{1,2})|^(\d{4})(\d{2})(\d{2})(?=$|[ T])/;
const timeText = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/;
const offsetText = /^(?:z|utc|([+-])(\d{1,2})(?::?(\d{2}))?)$/i;

interface ParsedInstant {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Microseconds, 0…999999. */
  micros: number;
  /** Offset east of UTC in minutes, when the text gave one. */
  offsetMinutes: number | null;
  hasDate: boolean;
  hasTime: boolean;
}

function invalid(kind: TemporalKind, input: string): TemporalInputError {
  return new TemporalInputError('22007', `invalid input syntax for type ${TEMPORAL_SHOWN[kind]}: "${input}"`);
}

function outOfRange(input: string): TemporalInputError {
  return new TemporalInputError('22008', `date/time field value out of range: "${input}"`);
}

/** `YYYY-MM-DD`, `YYYYMMDD`, then ` `/`T` and `HH:MM[:SS[.f]]`, then an offset (`Z`, `+02`, `-04:30`). */
function parseInstant(input: string, kind: TemporalKind): ParsedInstant {
  let rest = input.trim();
  const parsed: ParsedInstant = {
    year: 2000,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
    micros: 0,
    offsetMinutes: null,
    hasDate: false,
    hasTime: false,
  };
  const date = kind === 'time' ? null : dateText.exec(rest);
  if (date !== null) {
    parsed.year = Number(date[1] ?? date[4]);
    parsed.month = Number(date[2] ?? date[5]);
    parsed.day = Number(date[3] ?? date[6]);
    parsed.hasDate = true;
    rest = rest.slice(date[0].length);
    if (/^[ T]/i.test(rest)) rest = rest.slice(1).trimStart();
    else if (rest !== '') throw invalid(kind, input);
  } else if (kind !== 'time') {
    throw invalid(kind, input);
  }
  const time = timeText.exec(rest);
  if (time !== null) {
    parsed.hour = Number(time[1]);
    parsed.minute = Number(time[2]);
    parsed.second = Number(time[3] ?? 0);
    // PostgreSQL keeps microseconds, rounding any digit past the sixth.
    const digits = time[4] ?? '';
    parsed.micros = digits === '' ? 0 : Math.round(Number(`0.${digits}`) * 1_000_000);
    parsed.hasTime = true;
    rest = rest.slice(time[0].length).trim();
  } else if (kind === 'time') {
    throw invalid(kind, input);
  }
  if (rest !== '') {
    const offset = offsetText.exec(rest);
    if (offset === null) throw invalid(kind, input);
    const sign = offset[1] === '-' ? -1 : 1;
    const hours = Number(offset[2] ?? 0);
    const minutes = Number(offset[3] ?? 0);
    if (hours > 15 || minutes > 59) throw outOfRange(input);
    parsed.offsetMinutes = sign * (hours * 60 + minutes);
  }
  if (parsed.hasDate) {
    if (parsed.year < 1 || parsed.year > 9999) {
      throw new TemporalInputError(
        '22008',
        `date/time field value out of range: "${input}"`,
        "northlight keeps dates of years 1 to 9999 (SQLite's date functions' range).",
      );
    }
    if (parsed.month < 1 || parsed.month > 12 || parsed.day < 1) throw outOfRange(input);
    if (parsed.day > daysIn(parsed.year, parsed.month)) throw outOfRange(input);
  }
  if (parsed.micros === 1_000_000) {
    parsed.micros = 0;
    parsed.second += 1;
  }
  const endOfDay = parsed.hour === 24 && parsed.minute === 0 && parsed.second === 0 && parsed.micros === 0;
  if ((parsed.hour > 23 && !endOfDay) || parsed.minute > 59 || parsed.second > 60) throw outOfRange(input);
  return parsed;
}

function fractionText(micros: number): string {
  if (micros === 0) return '';
  return `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
}

/**
 * The instant in whole seconds since 1970-01-01 UTC (a timestamptz's offset applied; 24:00 and :60
 * carried over), by the proleptic Gregorian calendar.
 */
function normalized(parsed: ParsedInstant, applyOffset: boolean): number {
  const offset = applyOffset ? (parsed.offsetMinutes ?? 0) : 0;
  const days = daysFromCivil(parsed.year, parsed.month, parsed.day);
  return days * 86_400 + parsed.hour * 3_600 + (parsed.minute - offset) * 60 + parsed.second;
}

function yearOf(seconds: number): number {
  return civilFromDays(Math.floor(seconds / 86_400))[0];
}

function dateOf(seconds: number): string {
  const [year, month, day] = civilFromDays(Math.floor(seconds / 86_400));
  return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}`;
}

function timeOf(seconds: number, micros: number): string {
  const inDay = seconds - Math.floor(seconds / 86_400) * 86_400;
  const clock = `${two(Math.floor(inDay / 3_600))}:${two(Math.floor((inDay % 3_600) / 60))}:${two(inDay % 60)}`;
  return `${clock}${fractionText(micros)}`;
}

/** A folded literal: SQLite text to put in the statement, and whether it is a plain literal. */
export interface TemporalLiteral {
  readonly sql: string;
  /** The value the literal stores (null when it depends on the clock: `'today'`). */
  readonly value: string | null;
}

function quoted(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * `'text'::kind` (or `DATE 'text'`): the text PostgreSQL's input function would accept, as northlight
 * stores it; `'now'`, `'today'`, `'tomorrow'`, `'yesterday'` and `'epoch'` as PostgreSQL reads them.
 */
export function temporalLiteral(input: string, kind: TemporalKind): TemporalLiteral {
  const lowered = input.trim().toLowerCase();
  if (lowered === 'infinity' || lowered === '-infinity' || lowered === '+infinity') {
    throw new TemporalInputError(
      '0A000',
      `${lowered} ${TEMPORAL_SHOWN[kind]} values are not supported by northlight`,
      "SQLite's date functions have no infinity: use NULL, or a far date such as '9999-12-31'.",
    );
  }
  if (lowered === 'epoch') {
    const value = kind === 'date' ? '1970-01-01' : kind === 'time' ? null : '1970-01-01 00:00:00';
    if (value === null) throw invalid(kind, input);
    return { sql: quoted(value), value };
  }
  const relative = RELATIVE_WORDS[lowered];
  if (relative !== undefined) {
    if (kind === 'time' && lowered !== 'now') throw invalid(kind, input);
    const modifiers = relative.join(', ');
    const sql =
      kind === 'date'
        ? `date(${modifiers})`
        : kind === 'time'
          ? trimmedFraction(`strftime('${TIME_FORMAT}', ${modifiers})`)
          : trimmedFraction(`strftime('${TIMESTAMP_FORMAT}', ${modifiers})`);
    return { sql: `(${sql})`, value: null };
  }
  const parsed = parseInstant(input, kind);
  let value: string;
  switch (kind) {
    case 'date':
      // PostgreSQL's date input takes and drops a time after the date.
      value = dateOf(normalized({ ...parsed, hour: 0, minute: 0, second: 0 }, false));
      break;
    case 'time': {
      const at = normalized({ ...parsed, year: 2000, month: 1, day: 1 }, false);
      // 24:00:00 is a time of its own in PostgreSQL.
      value = parsed.hour === 24 ? '24:00:00' : timeOf(at, parsed.micros);
      break;
    }
    default: {
      // A timestamp drops an offset (PostgreSQL ignores it); a timestamptz is kept in UTC.
      const at = normalized(parsed, kind === 'timestamptz');
      if (yearOf(at) < 1 || yearOf(at) > 9999) throw outOfRange(input);
      value = `${dateOf(at)} ${timeOf(at, parsed.micros)}`;
    }
  }
  return { sql: quoted(value), value };
}

// ---- intervals ----

/** An interval as PostgreSQL holds one: months, days and microseconds, each with its own sign. */
export interface IntervalValue {
  readonly months: number;
  readonly days: number;
  readonly micros: number;
}

interface UnitScale {
  readonly months?: number;
  readonly days?: number;
  readonly micros?: number;
}

const MICROS_PER_SECOND = 1_000_000;
const MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND;

const UNITS: ReadonlyMap<string, UnitScale> = new Map(
  (
    [
      [['microsecond', 'microseconds', 'us', 'usec', 'usecs', 'microsecon'], { micros: 1 }],
      [['millisecond', 'milliseconds', 'ms', 'msec', 'msecs', 'millisecon'], { micros: 1_000 }],
      [['second', 'seconds', 's', 'sec', 'secs'], { micros: MICROS_PER_SECOND }],
      [['minute', 'minutes', 'm', 'min', 'mins'], { micros: 60 * MICROS_PER_SECOND }],
      [['hour', 'hours', 'h', 'hr', 'hrs'], { micros: 3_600 * MICROS_PER_SECOND }],
      [['day', 'days', 'd'], { days: 1 }],
      [['week', 'weeks', 'w'], { days: 7 }],
      [['month', 'months', 'mon', 'mons'], { months: 1 }],
      [['year', 'years', 'y', 'yr', 'yrs'], { months: 12 }],
      [['decade', 'decades', 'dec', 'decs'], { months: 120 }],
      [['century', 'centuries', 'c', 'cent'], { months: 1_200 }],
      [['millennium', 'millennia', 'mil', 'mils'], { months: 12_000 }],
    ] as const
  ).flatMap(([names, scale]) => names.map((name) => [name, scale as UnitScale] as const)),
);

class IntervalBuilder {
  months = 0;
  days = 0;
  micros = 0;

  /** `value` of `scale`, its fraction carried down as PostgreSQL carries it (months → days → time). */
  add(value: number, scale: UnitScale): void {
    const whole = Math.trunc(value);
    const fraction = value - whole;
    if (scale.months !== undefined) {
      this.months += whole * scale.months;
      if (scale.months >= 12) {
        // Years and longer: the fraction becomes whole months (PostgreSQL rounds it).
        this.months += Math.round(fraction * scale.months);
      } else {
        this.#addDays(fraction * 30 * scale.months);
      }
      return;
    }
    if (scale.days !== undefined) {
      this.days += whole * scale.days;
      this.#addDays(fraction * scale.days);
      return;
    }
    this.micros += Math.round(value * (scale.micros as number));
  }

  #addDays(days: number): void {
    const whole = Math.trunc(days);
    this.days += whole;
    this.micros += Math.round((days - whole) * MICROS_PER_DAY);
  }

  value(sign: 1 | -1, extraMonths = 0): IntervalValue {
    // `+ 0` turns a negative zero into zero.
    return {
      months: sign * (this.months + extraMonths) + 0,
      days: sign * this.days + 0,
      micros: sign * this.micros + 0,
    };
  }
}

/** Marks a clock part (`10:30`) as seen: PostgreSQL takes one per interval. */
const CLOCK: UnitScale = { micros: 0 };
const BARE_SECONDS: UnitScale = { micros: MICROS_PER_SECOND };

const isoInterval =
  /^p(?:([\d.]+)y)?(?:([\d.]+)m)?(?:([\d.]+)w)?(?:([\d.]+)d)?(?:t(?:([\d.]+)h)?(?:([\d.]+)m)?(?:([\d.]+)s)?)?$/;
const numberAndUnit = /^([+-]?(?:\d+\.?\d*|\.\d+))\s*([a-z]*)(?=\s|$|[+-]|\d)/;
const clockPart = /^([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?(?=\s|$)/;

/** PostgreSQL's interval input (`1 day 02:00`, `-3 months`, `2 hours ago`, `@ 1 year`, `P1Y2M`). */
export function parseInterval(input: string): IntervalValue {
  const fail = () => new TemporalInputError('22007', `invalid input syntax for type interval: "${input}"`);
  let rest = input.trim().toLowerCase();
  if (rest.startsWith('@')) rest = rest.slice(1).trim();
  if (rest === '') throw fail();
  const builder = new IntervalBuilder();
  const iso = isoInterval.exec(rest);
  if (iso !== null && rest !== 'p' && rest !== 'pt') {
    const scales: readonly UnitScale[] = [
      { months: 12 },
      { months: 1 },
      { days: 7 },
      { days: 1 },
      { micros: 3_600 * MICROS_PER_SECOND },
      { micros: 60 * MICROS_PER_SECOND },
      { micros: MICROS_PER_SECOND },
    ];
    for (let index = 0; index < scales.length; index++) {
      const text = iso[index + 1];
      if (text === undefined) continue;
      const value = Number(text);
      if (!Number.isFinite(value)) throw fail();
      builder.add(value, scales[index] as UnitScale);
    }
    return builder.value(1);
  }
  // The SQL standard's year-month form, `1-2` (1 year 2 months), on its own.
  const yearMonth = /^([+-]?)(\d+)-(\d+)$/.exec(rest);
  if (yearMonth !== null) {
    const months = Number(yearMonth[2]) * 12 + Number(yearMonth[3]);
    return builder.value(yearMonth[1] === '-' ? -1 : 1, months);
  }
  let sign: 1 | -1 = 1;
  let parts = 0;
  const seen = new Set<UnitScale>();
  while (rest !== '') {
    if (rest === 'ago') {
      if (parts === 0) throw fail();
      sign = -1;
      break;
    }
    const clock = clockPart.exec(rest);
    if (clock !== null) {
      if (seen.has(CLOCK)) throw fail();
      seen.add(CLOCK);
      const negative = clock[1] === '-' ? -1 : 1;
      const seconds = Number(clock[2]) * 3_600 + Number(clock[3]) * 60 + Number(clock[4] ?? 0);
      if (Number(clock[3]) > 59 || Number(clock[4] ?? 0) >= 60) throw fail();
      builder.add(negative * seconds, { micros: MICROS_PER_SECOND });
      rest = rest.slice(clock[0].length).trim();
      parts += 1;
      continue;
    }
    const match = numberAndUnit.exec(rest);
    if (match === null) throw fail();
    const value = Number(match[1]);
    const unitName = match[2] as string;
    // A bare number is seconds, as in PostgreSQL (`'5'::interval` is 5 seconds), and ends the text.
    const scale = unitName === '' ? BARE_SECONDS : UNITS.get(unitName);
    if (scale === undefined || !Number.isFinite(value) || seen.has(scale)) throw fail();
    if (scale === BARE_SECONDS && rest.slice(match[0].length).trim() !== '') throw fail();
    seen.add(scale);
    builder.add(value, scale);
    rest = rest.slice(match[0].length).trim();
    parts += 1;
  }
  return builder.value(sign);
}

function signed(value: number): string {
  return value < 0 ? `-${-value}` : `+${value}`;
}

/** Seconds from microseconds as a SQLite modifier's number, exact to the microsecond. */
function secondsText(micros: number): string {
  const negative = micros < 0;
  const magnitude = Math.abs(micros);
  const whole = Math.floor(magnitude / MICROS_PER_SECOND);
  const fraction = magnitude % MICROS_PER_SECOND;
  const text = fraction === 0 ? String(whole) : `${whole}.${String(fraction).padStart(6, '0')}`;
  return negative ? `-${text}` : `+${text}`;
}

/**
 * `operand + interval` (sign 1) or `operand - interval` (sign -1) as a SQLite expression giving a
 * timestamp (`YYYY-MM-DD HH:MM:SS[.fff]`, UTC when the operand is): PostgreSQL adds the months first,
 * clamping a day past the end of the month to its last day, then the days, then the time.
 */
export function addInterval(operand: string, interval: IntervalValue, sign: 1 | -1, known = false): string {
  return bound(operand, (value) => intervalSum(known ? value : readableInstant(value), interval, sign));
}

function intervalSum(operand: string, interval: IntervalValue, sign: 1 | -1): string {
  const months = sign * interval.months;
  const days = sign * interval.days;
  const micros = sign * interval.micros;
  let base = operand;
  if (months !== 0) {
    // SQLite carries a day past the month's end into the next month (Jan 31 + 1 month = Mar 2 or 3):
    // when the day of the month changed, step back by the days carried, to the month's last day.
    const moved = `'${signed(months)} months'`;
    base =
      `(CASE WHEN strftime('%d', ${operand}, ${moved}) = strftime('%d', ${operand})` +
      ` THEN strftime('${TIMESTAMP_FORMAT}', ${operand}, ${moved})` +
      ` ELSE strftime('${TIMESTAMP_FORMAT}', ${operand}, ${moved}, '-' || strftime('%d', ${operand}, ${moved}) || ' days') END)`;
  }
  const modifiers: string[] = [];
  if (days !== 0) modifiers.push(`'${signed(days)} days'`);
  if (micros !== 0) modifiers.push(`'${secondsText(micros)} seconds'`);
  return trimmedFraction(`strftime('${TIMESTAMP_FORMAT}', ${[base, ...modifiers].join(', ')})`);
}

/** `date ± integer` (days): a date. `days` is SQLite text for an integer (a literal, `?1`, a column). */
export function addDays(operand: string, days: string, sign: 1 | -1): string {
  const amount = sign === 1 ? `(${days})` : `(-(${days}))`;
  return `date(${operand}, ${amount} || ' days')`;
}
