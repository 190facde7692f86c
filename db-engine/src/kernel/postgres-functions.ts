/**
 * PostgreSQL's string and formatting functions that SQLite lacks, as SQL functions the kernel
 * registers on its connection (sqlite-wasm.ts): psql users and reporting tools reach for md5,
 * split_part, lpad, to_char and regexp_replace at once, and got "no such function". Each follows
 * PostgreSQL 15's definition, checked against a real PostgreSQL 15 (test/kernel/postgres-functions.test.ts
 * holds its answers); lengths and positions count characters (code points), as PostgreSQL does in a
 * UTF-8 database.
 *
 * The values are SQLite's: text, integer or real numbers, NULL. A NULL argument gives NULL (the
 * functions are STRICT in PostgreSQL), except where PostgreSQL says otherwise. Bad arguments throw a
 * `PostgresFunctionError` with PostgreSQL's message; sql-errors.ts gives each its SQLSTATE.
 *
 * Regular expressions are JavaScript's (`u` flag): for the patterns people write (classes, anchors,
 * groups, quantifiers, alternation) the same as PostgreSQL's ARE; POSIX bracket classes
 * (`[[:digit:]]`) and the `\m`/`\M` word anchors are translated; the rest of ARE's extensions are not.
 */
import { createHash } from 'node:crypto';
import { ARRAY_ELEMENT_FUNCTION, arrayElementText } from '../core/pg-array.js';

export type SqlScalar = string | number | null;

export class PostgresFunctionError extends Error {
  override readonly name = 'PostgresFunctionError';
}

export interface PostgresFunction {
  readonly name: string;
  /** Argument counts accepted (each registered separately). */
  readonly arities: readonly number[];
  /** Same arguments, same result: SQLite may use it in indexes and generated columns. */
  readonly deterministic: boolean;
  readonly call: (args: readonly SqlScalar[]) => SqlScalar;
  /**
   * Its result is PostgreSQL's double precision: a whole number stays a REAL (typed float8, `8` a
   * number for node-postgres), where other functions' whole numbers become SQLite integers.
   */
  readonly real?: boolean;
}

/** The largest string a function may build (PostgreSQL's own limit is 1 GB; ours is the kernel's). */
export const FUNCTION_RESULT_CHARS_MAX = 64 * 1024 * 1024;

function text(value: SqlScalar): string {
  return typeof value === 'string' ? value : String(value);
}

function integer(value: SqlScalar, what: string): number {
  const number = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(number))
    throw new PostgresFunctionError(`invalid input syntax for type integer: "${String(value)}"`);
  if (!Number.isInteger(number)) return Math.round(number);
  if (Math.abs(number) > 2_147_483_647) throw new PostgresFunctionError(`${what} out of range`);
  return number;
}

function characters(value: string): string[] {
  return Array.from(value);
}

function checkLength(length: number): void {
  if (length > FUNCTION_RESULT_CHARS_MAX) throw new PostgresFunctionError('requested length too large');
}

function strict(call: (args: readonly SqlScalar[]) => SqlScalar): (args: readonly SqlScalar[]) => SqlScalar {
  return (args) => (args.some((arg) => arg === null) ? null : call(args));
}

function pad(args: readonly SqlScalar[], side: 'left' | 'right'): string {
  const source = characters(text(args[0] as SqlScalar));
  const length = Math.max(integer(args[1] as SqlScalar, 'length'), 0);
  checkLength(length);
  const fill = characters(args.length > 2 ? text(args[2] as SqlScalar) : ' ');
  if (source.length >= length || fill.length === 0) return source.slice(0, length).join('');
  const needed = length - source.length;
  const padding: string[] = [];
  for (let index = 0; index < needed; index++) padding.push(fill[index % fill.length] as string);
  return side === 'left' ? padding.join('') + source.join('') : source.join('') + padding.join('');
}

function splitPart(args: readonly SqlScalar[]): string {
  const source = text(args[0] as SqlScalar);
  const delimiter = text(args[1] as SqlScalar);
  const field = integer(args[2] as SqlScalar, 'field position');
  if (field === 0) throw new PostgresFunctionError('field position must not be zero');
  if (delimiter === '') return field === 1 || field === -1 ? source : '';
  const parts = source.split(delimiter);
  const index = field > 0 ? field - 1 : parts.length + field;
  return parts[index] ?? '';
}

function initcap(value: string): string {
  let out = '';
  let inWord = false;
  for (const char of value) {
    const alphanumeric = /[\p{L}\p{N}]/u.test(char);
    out += alphanumeric ? (inWord ? char.toLowerCase() : char.toUpperCase()) : char;
    inWord = alphanumeric;
  }
  return out;
}

function translateChars(value: string, from: string, to: string): string {
  const source = characters(from);
  const target = characters(to);
  const map = new Map<string, string | null>();
  source.forEach((char, index) => {
    if (!map.has(char)) map.set(char, target[index] ?? null);
  });
  let out = '';
  for (const char of value) {
    const mapped = map.get(char);
    if (mapped === undefined) out += char;
    else if (mapped !== null) out += mapped;
  }
  return out;
}

function btrim(value: string, chars: string, ends: 'both' | 'left' | 'right'): string {
  const set = new Set(characters(chars));
  const list = characters(value);
  let start = 0;
  let end = list.length;
  if (ends !== 'right') while (start < end && set.has(list[start] as string)) start++;
  if (ends !== 'left') while (end > start && set.has(list[end - 1] as string)) end--;
  return list.slice(start, end).join('');
}

// ---- regular expressions ----

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: '\\p{L}',
  digit: '0-9',
  alnum: '\\p{L}\\p{N}',
  upper: '\\p{Lu}',
  lower: '\\p{Ll}',
  space: '\\s',
  blank: ' \\t',
  punct: '\\p{P}\\p{S}',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\p{Cc}',
  print: '\\P{C}',
  graph: '\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}',
};

/** The flags PostgreSQL's regexp functions take that JavaScript has an equivalent for. */
function regexFlags(flags: string, allowGlobal: boolean): { js: string; global: boolean } {
  // PostgreSQL's default: `.` and bracket expressions match a newline, ^ and $ only at the ends.
  let ignoreCase = false;
  let newlineSensitive = false;
  let global = false;
  for (const flag of flags) {
    if (flag === 'g' && allowGlobal) global = true;
    else if (flag === 'i') ignoreCase = true;
    else if (flag === 'c') ignoreCase = false;
    else if (flag === 'n' || flag === 'm') newlineSensitive = true;
    else if (flag === 's') newlineSensitive = false;
    else throw new PostgresFunctionError(`invalid regular expression option: "${flag}"`);
  }
  return { js: `u${ignoreCase ? 'i' : ''}${newlineSensitive ? 'm' : 's'}`, global };
}

/** A leading embedded-options group, `(?i)`, `(?n)`…: PostgreSQL's ARE reads them as flags. */
function embeddedOptions(pattern: string): { pattern: string; flags: string } {
  const match = /^\(\?([a-z]+)\)/.exec(pattern);
  return match === null
    ? { pattern, flags: '' }
    : { pattern: pattern.slice(match[0].length), flags: match[1] as string };
}

const regexCache = new Map<string, RegExp>();
const REGEX_CACHE_MAX = 256;

export function postgresRegex(pattern: string, flags: string): RegExp {
  const key = `${flags}\u0000${pattern}`;
  const cached = regexCache.get(key);
  if (cached !== undefined) {
    cached.lastIndex = 0;
    return cached;
  }
  const source = pattern
    .replace(/\[:(\w+):\]/g, (whole, name: string) => POSIX_CLASSES[name] ?? whole)
    .replace(/\\m/g, '\\b(?=\\w)')
    .replace(/\\M/g, '(?<=\\w)\\b');
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (error) {
    throw new PostgresFunctionError(`invalid regular expression: ${(error as Error).message}`);
  }
  if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
  regexCache.set(key, regex);
  return regex;
}

function regexpReplace(args: readonly SqlScalar[]): string {
  const source = text(args[0] as SqlScalar);
  const embedded = embeddedOptions(text(args[1] as SqlScalar));
  const flags = regexFlags(embedded.flags + (args.length > 3 ? text(args[3] as SqlScalar) : ''), true);
  const regex = postgresRegex(embedded.pattern, flags.js + (flags.global ? 'g' : ''));
  // PostgreSQL's replacement: \1…\9 a group, \& the whole match, \\ a backslash; `$` is literal.
  const replacement = text(args[2] as SqlScalar);
  const replaced = source.replace(regex, (...match: unknown[]) => {
    // The match, then its groups, then the offset (the first number) and more.
    const groups: (string | undefined)[] = [];
    for (const each of match) {
      if (typeof each === 'number') break;
      groups.push(each as string | undefined);
    }
    return replacement.replace(/\\([0-9&\\])/g, (_, which: string) => {
      if (which === '\\') return '\\';
      if (which === '&') return groups[0] ?? '';
      return groups[Number(which)] ?? '';
    });
  });
  checkLength(replaced.length);
  return replaced;
}

/** `string ~ pattern` and friends (postgres-forms.ts) and PostgreSQL 15's regexp_like. */
function regexpLike(args: readonly SqlScalar[]): number {
  const embedded = embeddedOptions(text(args[1] as SqlScalar));
  const flags = regexFlags(embedded.flags + (args.length > 2 ? text(args[2] as SqlScalar) : ''), false);
  return postgresRegex(embedded.pattern, flags.js).test(text(args[0] as SqlScalar)) ? 1 : 0;
}

// ---- to_char ----

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

interface Instant {
  readonly year: number;
  readonly month: number; // 1–12
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly microsecond: number;
  /** Written with an offset: a timestamptz (northlight keeps them in UTC). */
  readonly zoned: boolean;
}

const INSTANT =
  /^\s*(\d{4,})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$/i;
const TIME_ONLY = /^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?\s*$/;

/** A date, timestamp or time as northlight stores them (text, UTC for timestamptz); null if not one. */
export function parseInstant(value: string): Instant | null {
  const match = INSTANT.exec(value);
  if (match !== null) {
    const [, year, month, day, hour, minute, second, fraction, offset] = match;
    return {
      year: Number(year),
      month: Number(month),
      day: Number(day),
      hour: Number(hour ?? 0),
      minute: Number(minute ?? 0),
      second: Number(second ?? 0),
      microsecond: Number((fraction ?? '').padEnd(6, '0')),
      zoned: offset !== undefined,
    };
  }
  const time = TIME_ONLY.exec(value);
  if (time === null) return null;
  const [, hour, minute, second, fraction] = time;
  return {
    year: 0,
    month: 1,
    day: 1,
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second ?? 0),
    microsecond: Number((fraction ?? '').padEnd(6, '0')),
    zoned: false,
  };
}

function dayOfWeek(instant: Instant): number {
  return new Date(Date.UTC(instant.year, instant.month - 1, instant.day)).getUTCDay();
}

function dayOfYear(instant: Instant): number {
  return (
    (Date.UTC(instant.year, instant.month - 1, instant.day) - Date.UTC(instant.year, 0, 1)) / 86_400_000 + 1
  );
}

/** ISO 8601 week-numbering year and week. */
function isoWeek(instant: Instant): { year: number; week: number } {
  const date = new Date(Date.UTC(instant.year, instant.month - 1, instant.day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const year = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const firstWeekday = (firstThursday.getUTCDay() + 6) % 7;
  firstThursday.setUTCDate(firstThursday.getUTCDate() - firstWeekday + 3);
  return { year, week: 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000)) };
}

function ordinal(value: number, upper: boolean): string {
  const tens = value % 100;
  const suffix =
    tens >= 11 && tens <= 13
      ? 'th'
      : value % 10 === 1
        ? 'st'
        : value % 10 === 2
          ? 'nd'
          : value % 10 === 3
            ? 'rd'
            : 'th';
  return upper ? suffix.toUpperCase() : suffix;
}

function cased(word: string, pattern: string): string {
  if (pattern === pattern.toUpperCase()) return word.toUpperCase();
  if (pattern === pattern.toLowerCase()) return word.toLowerCase();
  return word;
}

/** The date/time template patterns, longest first (PostgreSQL matches the longest at each place). */
const DATE_PATTERNS = [
  'SSSSS',
  'SSSS',
  'HH24',
  'HH12',
  'YYYY',
  'IYYY',
  'MONTH',
  'Month',
  'month',
  'A.M.',
  'P.M.',
  'a.m.',
  'p.m.',
  'B.C.',
  'A.D.',
  'HH',
  'MI',
  'SS',
  'MS',
  'US',
  'YYY',
  'MON',
  'Mon',
  'mon',
  'DAY',
  'Day',
  'day',
  'DDD',
  'IDDD',
  'AM',
  'PM',
  'am',
  'pm',
  'YY',
  'MM',
  'DY',
  'Dy',
  'dy',
  'DD',
  'ID',
  'IW',
  'WW',
  'CC',
  'TZ',
  'tz',
  'OF',
  'BC',
  'AD',
  'Y',
  'Q',
  'D',
  'J',
  'W',
].sort((a, b) => b.length - a.length);

/** Patterns whose case is the output's (`Month`, `am`); the others match in any case (`hh24`). */
const CASED_PATTERNS = new Set(
  DATE_PATTERNS.filter((pattern) => /[a-z]/.test(pattern) || pattern !== pattern.toLowerCase()).filter(
    (pattern) => /^(MONTH|MON|DAY|DY|AM|PM|A\.M\.|P\.M\.|BC|AD|B\.C\.|A\.D\.|TZ)$/i.test(pattern),
  ),
);

function formatDate(instant: Instant, template: string): string {
  let out = '';
  let index = 0;
  while (index < template.length) {
    let fillMode = false;
    if (template.slice(index, index + 2).toUpperCase() === 'FM') {
      fillMode = true;
      index += 2;
    }
    if (template[index] === '"') {
      const end = template.indexOf('"', index + 1);
      out += template.slice(index + 1, end === -1 ? undefined : end).replace(/\\(.)/g, '$1');
      index = end === -1 ? template.length : end + 1;
      continue;
    }
    if (template[index] === '\\' && index + 1 < template.length) {
      out += template[index + 1];
      index += 2;
      continue;
    }
    const pattern = DATE_PATTERNS.find((candidate) =>
      CASED_PATTERNS.has(candidate)
        ? template.startsWith(candidate, index)
        : template.slice(index, index + candidate.length).toUpperCase() === candidate,
    );
    if (pattern === undefined) {
      out += template[index] ?? '';
      index += 1;
      continue;
    }
    index += pattern.length;
    let suffix: 'TH' | 'th' | null = null;
    if (template.startsWith('TH', index) || template.startsWith('th', index)) {
      suffix = template.slice(index, index + 2) as 'TH' | 'th';
      index += 2;
    }
    const number = (value: number, width: number) => {
      const digits = fillMode ? String(value) : String(Math.abs(value)).padStart(width, '0');
      const signed = !fillMode && value < 0 ? `-${digits}` : digits;
      return suffix === null ? signed : signed + ordinal(Math.abs(value), suffix === 'TH');
    };
    const word = (value: string) => (fillMode ? value : value.padEnd(9, ' '));
    const hour12 = instant.hour % 12 === 0 ? 12 : instant.hour % 12;
    const weekday = dayOfWeek(instant);
    switch (pattern) {
      case 'HH24':
        out += number(instant.hour, 2);
        break;
      case 'HH12':
      case 'HH':
        out += number(hour12, 2);
        break;
      case 'MI':
        out += number(instant.minute, 2);
        break;
      case 'SSSS':
      case 'SSSSS':
        // Seconds past midnight.
        out += number(instant.hour * 3600 + instant.minute * 60 + instant.second, 1);
        break;
      case 'SS':
        out += number(instant.second, 2);
        break;
      case 'MS':
        out += number(Math.floor(instant.microsecond / 1000), 3);
        break;
      case 'US':
        out += number(instant.microsecond, 6);
        break;
      case 'YYYY':
        out += number(instant.year, 4);
        break;
      case 'IYYY':
        out += number(isoWeek(instant).year, 4);
        break;
      case 'YYY':
        out += number(instant.year % 1000, 3);
        break;
      case 'YY':
        out += number(instant.year % 100, 2);
        break;
      case 'Y':
        out += number(instant.year % 10, 1);
        break;
      case 'CC':
        out += number(Math.floor((instant.year - 1) / 100) + 1, 2);
        break;
      case 'MONTH':
      case 'Month':
      case 'month':
        out += word(cased(MONTHS[instant.month - 1] as string, pattern));
        break;
      case 'MON':
      case 'Mon':
      case 'mon':
        out += cased((MONTHS[instant.month - 1] as string).slice(0, 3), pattern);
        break;
      case 'MM':
        out += number(instant.month, 2);
        break;
      case 'DAY':
      case 'Day':
      case 'day':
        out += word(cased(DAYS[weekday] as string, pattern));
        break;
      case 'DY':
      case 'Dy':
      case 'dy':
        out += cased((DAYS[weekday] as string).slice(0, 3), pattern);
        break;
      case 'DDD':
        out += number(dayOfYear(instant), 3);
        break;
      case 'IDDD': {
        const { week } = isoWeek(instant);
        out += number((week - 1) * 7 + ((weekday + 6) % 7) + 1, 3);
        break;
      }
      case 'DD':
        out += number(instant.day, 2);
        break;
      case 'D':
        out += number(weekday + 1, 1);
        break;
      case 'ID':
        out += number(((weekday + 6) % 7) + 1, 1);
        break;
      case 'IW':
        out += number(isoWeek(instant).week, 2);
        break;
      case 'WW':
        out += number(Math.floor((dayOfYear(instant) - 1) / 7) + 1, 2);
        break;
      case 'W':
        out += number(Math.floor((instant.day - 1) / 7) + 1, 1);
        break;
      case 'Q':
        out += number(Math.floor((instant.month - 1) / 3) + 1, 1);
        break;
      case 'J':
        out += number(
          Math.floor(Date.UTC(instant.year, instant.month - 1, instant.day) / 86_400_000) + 2_440_588,
          1,
        );
        break;
      case 'AM':
      case 'PM':
        out += instant.hour < 12 ? 'AM' : 'PM';
        break;
      case 'am':
      case 'pm':
        out += instant.hour < 12 ? 'am' : 'pm';
        break;
      case 'A.M.':
      case 'P.M.':
        out += instant.hour < 12 ? 'A.M.' : 'P.M.';
        break;
      case 'a.m.':
      case 'p.m.':
        out += instant.hour < 12 ? 'a.m.' : 'p.m.';
        break;
      case 'BC':
      case 'AD':
        out += instant.year > 0 ? 'AD' : 'BC';
        break;
      case 'B.C.':
      case 'A.D.':
        out += instant.year > 0 ? 'A.D.' : 'B.C.';
        break;
      // northlight keeps timestamptz in UTC and its sessions' TimeZone is UTC.
      case 'TZ':
        out += instant.zoned ? 'UTC' : '';
        break;
      case 'tz':
        out += instant.zoned ? 'utc' : '';
        break;
      case 'OF':
        out += '+00';
        break;
    }
  }
  return out;
}

/** to_char(number, template): digits (9, 0), point (. D), groups (, G), sign (S MI PL SG PR), FM. */
function formatNumber(value: number, template: string): string {
  const unsupported = /RN|EEEE|TH|V|(?<!P)L/i.exec(template.replace(/FM/gi, ''));
  if (unsupported !== null)
    throw new PostgresFunctionError(
      `to_char pattern "${unsupported[0]}" is not supported by northlight for numbers`,
    );
  const fillMode = template.includes('FM');
  const format = template.replace(/FM/g, '');
  const point = format.search(/[.D]/);
  const integerTemplate = (point === -1 ? format : format.slice(0, point)).replace(/PR|MI|SG|PL|S/g, '');
  const fractionTemplate = point === -1 ? '' : format.slice(point + 1).replace(/PR|MI|SG|PL|S/g, '');
  const integerDigits = (integerTemplate.match(/[90]/g) ?? []).length;
  const fractionDigits = (fractionTemplate.match(/[90]/g) ?? []).length;
  const rounded = Math.abs(value).toFixed(fractionDigits);
  const zero = Number(rounded) === 0;
  // A value that rounds to zero has no sign, as in PostgreSQL.
  const negative = value < 0 && !zero;
  const [whole, fraction = ''] = rounded.split('.') as [string, string?];
  // An integer part of 0 is written only where no fraction follows (or by a 0 place).
  const digits = whole === '0' && point !== -1 ? '' : whole;
  const overflow = digits.length > integerDigits;
  const padded = digits.padStart(integerDigits, ' ');
  let body = '';
  let started = false;
  let place = 0;
  for (const char of integerTemplate) {
    if (char === '9' || char === '0') {
      const digit = padded[place++] as string;
      if (overflow) body += '#';
      else if (digit !== ' ') {
        started = true;
        body += digit;
      } else if (char === '0' || started) {
        started = true;
        body += '0';
      } else body += ' ';
    } else if (char === ',' || char === 'G') body += started || overflow ? ',' : ' ';
    else body += char;
  }
  let fractionText = '';
  if (point !== -1) {
    let written = overflow ? '#'.repeat(fractionDigits) : fraction;
    if (fillMode && !overflow) {
      // FM: the trailing zeros of 9 places go.
      const places = fractionTemplate.replace(/[^90]/g, '');
      let keep = written.length;
      while (keep > 0 && written[keep - 1] === '0' && places[keep - 1] === '9') keep--;
      written = written.slice(0, keep);
    }
    fractionText = `.${written}`;
  }
  if (fillMode) {
    body = body.replace(/^ +/, '');
    if (body === '' && zero) body = '0';
  }
  const numberText = body + fractionText;
  if (/PR/.test(format))
    return placeSign(numberText, negative ? '<' : ' ', fillMode) + (negative ? '>' : fillMode ? '' : ' ');
  if (/MI/.test(format)) return numberText + (negative ? '-' : fillMode ? '' : ' ');
  if (/SG|S|PL/.test(format)) return placeSign(numberText, negative ? '-' : '+', fillMode);
  return placeSign(numberText, negative ? '-' : ' ', fillMode);
}

/** The sign goes right before the first character that is not a leading blank. */
function placeSign(numberText: string, sign: string, fillMode: boolean): string {
  if (fillMode) return sign === ' ' ? numberText : sign + numberText;
  const first = numberText.search(/[^ ]/);
  if (first === -1) return ` ${numberText}`;
  return numberText.slice(0, first) + sign + numberText.slice(first);
}

function toChar(args: readonly SqlScalar[]): string {
  const value = args[0] as SqlScalar;
  const template = text(args[1] as SqlScalar);
  if (typeof value === 'number') return formatNumber(value, template);
  const instant = parseInstant(text(value));
  if (instant !== null) return formatDate(instant, template);
  const number = Number(text(value).trim());
  if (text(value).trim() !== '' && Number.isFinite(number)) return formatNumber(number, template);
  throw new PostgresFunctionError(`invalid input syntax for type timestamp: "${text(value)}"`);
}

// ---- numbers ----

function number(value: SqlScalar, what: string): number {
  const parsed = typeof value === 'number' ? value : Number(String(value).trim());
  if (Number.isNaN(parsed) || String(value).trim() === '')
    throw new PostgresFunctionError(`invalid input syntax for type ${what}: "${String(value)}"`);
  return parsed;
}

/** A numeric function of one argument: the argument read as a number, NULL in, NULL out. */
function numeric(name: string, call: (x: number) => number): PostgresFunction {
  return {
    name,
    arities: [1],
    deterministic: true,
    call: strict(([x]) => call(number(x as SqlScalar, 'numeric'))),
  };
}

/** A result too large for a double is 22003, as PostgreSQL's overflow, not Infinity. */
function finite(value: number): number {
  if (!Number.isFinite(value)) throw new PostgresFunctionError('value out of range: overflow');
  return value;
}

function truncate(value: number, places: number): number {
  const factor = 10 ** places;
  return Math.trunc(value * factor) / factor;
}

function logarithm(value: number): number {
  if (value === 0) throw new PostgresFunctionError('cannot take logarithm of zero');
  if (value < 0) throw new PostgresFunctionError('cannot take logarithm of a negative number');
  return value;
}

function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

function integerArgument(value: SqlScalar): number {
  const parsed = number(value, 'integer');
  if (!Number.isInteger(parsed))
    throw new PostgresFunctionError(`invalid input syntax for type integer: "${String(value)}"`);
  return parsed;
}

/** PostgreSQL's reserved words that quote_ident quotes (with any name that is not lower-case plain). */
const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create ' +
    'current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc ' +
    'distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral ' +
    'leading limit localtime localtimestamp not null offset on only or order placing primary references returning ' +
    'select session_user some symmetric table then to trailing true union unique user using variadic when where ' +
    'window with authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull ' +
    'join left like natural notnull outer overlaps right similar tablesample verbose ' +
    'between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping ' +
    'inout int integer interval least national nchar none normalize nullif numeric out overlay position ' +
    'precision real row setof smallint substring time timestamp treat trim values varchar xmlattributes ' +
    'xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

function quoteLiteral(value: string): string {
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return value.includes('\\') ? `E${quoted.replaceAll('\\', '\\\\')}` : quoted;
}

/** Epoch seconds as UTC timestamp text, microseconds kept (trailing zeros dropped), as PostgreSQL writes it. */
function epochText(seconds: number): string {
  if (!Number.isFinite(seconds) || Math.abs(seconds) > 253_402_300_799)
    throw new PostgresFunctionError('timestamp out of range');
  const micros = Math.round(seconds * 1_000_000);
  const wholeSeconds = Math.floor(micros / 1_000_000);
  const fraction = micros - wholeSeconds * 1_000_000;
  const date = new Date(wholeSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return fraction === 0 ? date : `${date}.${String(fraction).padStart(6, '0').replace(/0+$/, '')}`;
}

/** PostgreSQL 15's pg_size_pretty(bigint) units: name, limit below which it is used, rounding, bits. */
const SIZE_UNITS: readonly { name: string; limit: bigint; round: boolean; bits: number }[] = [
  { name: 'bytes', limit: 10n * 1024n, round: false, bits: 0 },
  { name: 'kB', limit: 20n * 1024n - 1n, round: true, bits: 10 },
  { name: 'MB', limit: 20n * 1024n - 1n, round: true, bits: 20 },
  { name: 'GB', limit: 20n * 1024n - 1n, round: true, bits: 30 },
  { name: 'TB', limit: 20n * 1024n - 1n, round: true, bits: 40 },
  { name: 'PB', limit: 20n * 1024n - 1n, round: true, bits: 50 },
];

/** pg_size_pretty as PostgreSQL 15 computes it (dbsize.c), in exact integers. */
function sizePretty(value: SqlScalar): string {
  let size: bigint;
  try {
    size = BigInt(typeof value === 'number' ? Math.trunc(value) : String(value).trim());
  } catch {
    throw new PostgresFunctionError(`invalid input syntax for type bigint: "${String(value)}"`);
  }
  for (const [index, unit] of SIZE_UNITS.entries()) {
    const next = SIZE_UNITS[index + 1];
    if (next === undefined || (size < 0n ? -size : size) < unit.limit) {
      // half_rounded: away from zero, then truncated.
      if (unit.round) size = (size + (size < 0n ? -1n : 1n)) / 2n;
      return `${size} ${unit.name}`;
    }
    const bits = next.bits - unit.bits - (next.round ? 1 : 0) + (unit.round ? 1 : 0);
    size /= 1n << BigInt(bits);
  }
  throw new Error('unreachable');
}

export const POSTGRES_FUNCTIONS: readonly PostgresFunction[] = [
  {
    name: 'md5',
    arities: [1],
    deterministic: true,
    call: strict(([value]) =>
      createHash('md5')
        .update(text(value as SqlScalar), 'utf8')
        .digest('hex'),
    ),
  },
  { name: 'split_part', arities: [3], deterministic: true, call: strict(splitPart) },
  { name: 'lpad', arities: [2, 3], deterministic: true, call: strict((args) => pad(args, 'left')) },
  { name: 'rpad', arities: [2, 3], deterministic: true, call: strict((args) => pad(args, 'right')) },
  {
    name: 'repeat',
    arities: [2],
    deterministic: true,
    call: strict(([value, count]) => {
      const times = Math.max(integer(count as SqlScalar, 'count'), 0);
      checkLength(text(value as SqlScalar).length * times);
      return text(value as SqlScalar).repeat(times);
    }),
  },
  {
    name: 'reverse',
    arities: [1],
    deterministic: true,
    call: strict(([value]) =>
      characters(text(value as SqlScalar))
        .reverse()
        .join(''),
    ),
  },
  {
    name: 'initcap',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => initcap(text(value as SqlScalar))),
  },
  {
    name: 'strpos',
    arities: [2],
    deterministic: true,
    call: strict(([value, sub]) => {
      const at = text(value as SqlScalar).indexOf(text(sub as SqlScalar));
      return at === -1 ? 0 : characters(text(value as SqlScalar).slice(0, at)).length + 1;
    }),
  },
  {
    name: 'starts_with',
    arities: [2],
    deterministic: true,
    call: strict(([value, prefix]) =>
      text(value as SqlScalar).startsWith(text(prefix as SqlScalar)) ? 1 : 0,
    ),
  },
  {
    name: 'translate',
    arities: [3],
    deterministic: true,
    call: strict(([value, from, to]) =>
      translateChars(text(value as SqlScalar), text(from as SqlScalar), text(to as SqlScalar)),
    ),
  },
  {
    name: 'btrim',
    arities: [1, 2],
    deterministic: true,
    call: strict((args) =>
      btrim(text(args[0] as SqlScalar), args.length > 1 ? text(args[1] as SqlScalar) : ' ', 'both'),
    ),
  },
  {
    name: 'chr',
    arities: [1],
    deterministic: true,
    call: strict(([code]) => {
      const point = integer(code as SqlScalar, 'character');
      if (point === 0) throw new PostgresFunctionError('null character not permitted');
      if (point < 0 || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff))
        throw new PostgresFunctionError(`requested character too large for encoding: ${point}`);
      return String.fromCodePoint(point);
    }),
  },
  {
    name: 'ascii',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => text(value as SqlScalar).codePointAt(0) ?? 0),
  },
  {
    name: 'to_hex',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => {
      // An int4 (PostgreSQL's type for a small literal or an integer column) as 32 bits, else 64.
      // Exactly, from the integer's text when a double would round it (the registrar passes it so).
      const number = typeof value === 'string' ? BigInt(value.trim()) : BigInt(Math.trunc(Number(value)));
      const bits = number >= -2_147_483_648n && number <= 2_147_483_647n ? 32 : 64;
      return BigInt.asUintN(bits, number).toString(16);
    }),
  },
  { name: 'regexp_replace', arities: [3, 4], deterministic: true, call: strict(regexpReplace) },
  { name: 'regexp_like', arities: [2, 3], deterministic: true, call: strict(regexpLike) },
  // SQLite's `x REGEXP p` operator calls regexp(p, x): PostgreSQL's `~` (postgres-forms.ts), with a
  // leading `(?i)` for `~*`.
  {
    name: 'regexp',
    arities: [2],
    deterministic: true,
    call: strict(([pattern, value]) => regexpLike([value as SqlScalar, pattern as SqlScalar])),
  },
  { name: 'to_char', arities: [2], deterministic: true, call: strict(toChar) },
  // Numbers: this SQLite is built without its math functions (floor, sqrt… were "no such function";
  // Grafana's $__timeGroup macro writes floor()).
  numeric('floor', Math.floor),
  numeric('ceil', Math.ceil),
  numeric('ceiling', Math.ceil),
  numeric('sqrt', (x) => {
    if (x < 0) throw new PostgresFunctionError('cannot take square root of a negative number');
    return Math.sqrt(x);
  }),
  numeric('cbrt', Math.cbrt),
  numeric('exp', (x) => finite(Math.exp(x))),
  numeric('ln', (x) => Math.log(logarithm(x))),
  numeric('log10', (x) => Math.log10(logarithm(x))),
  numeric('degrees', (x) => (x * 180) / Math.PI),
  numeric('radians', (x) => (x * Math.PI) / 180),
  {
    name: 'log',
    arities: [1, 2],
    deterministic: true,
    call: strict((args) => {
      // log(x) is base 10; log(b, x) base b.
      if (args.length === 1) return Math.log10(logarithm(number(args[0] as SqlScalar, 'numeric')));
      const base = logarithm(number(args[0] as SqlScalar, 'numeric'));
      const value = logarithm(number(args[1] as SqlScalar, 'numeric'));
      if (base === 1) throw new PostgresFunctionError('division by zero');
      return Math.log(value) / Math.log(base);
    }),
  },
  {
    name: 'trunc',
    arities: [1, 2],
    deterministic: true,
    call: strict((args) =>
      truncate(
        number(args[0] as SqlScalar, 'numeric'),
        args.length > 1 ? integerArgument(args[1] as SqlScalar) : 0,
      ),
    ),
  },
  ...['power', 'pow'].map(
    (name): PostgresFunction => ({
      name,
      arities: [2],
      deterministic: true,
      real: true,
      call: strict(([base, exponent]) => {
        const x = number(base as SqlScalar, 'numeric');
        const y = number(exponent as SqlScalar, 'numeric');
        if (x === 0 && y < 0) throw new PostgresFunctionError('zero raised to a negative power is undefined');
        if (x < 0 && !Number.isInteger(y))
          throw new PostgresFunctionError(
            'a negative number raised to a non-integer power yields a complex result',
          );
        return finite(x ** y);
      }),
    }),
  ),
  {
    name: 'mod',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) => {
      const divisor = number(b as SqlScalar, 'numeric');
      if (divisor === 0) throw new PostgresFunctionError('division by zero');
      return number(a as SqlScalar, 'numeric') % divisor;
    }),
  },
  {
    name: 'div',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) => {
      const divisor = number(b as SqlScalar, 'numeric');
      if (divisor === 0) throw new PostgresFunctionError('division by zero');
      return Math.trunc(number(a as SqlScalar, 'numeric') / divisor);
    }),
  },
  { name: 'pi', arities: [0], deterministic: true, call: () => Math.PI },
  {
    name: 'gcd',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) => gcd(integerArgument(a as SqlScalar), integerArgument(b as SqlScalar))),
  },
  {
    name: 'lcm',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) => {
      const x = integerArgument(a as SqlScalar);
      const y = integerArgument(b as SqlScalar);
      return x === 0 || y === 0 ? 0 : Math.abs((x / gcd(x, y)) * y);
    }),
  },
  {
    name: 'pg_size_pretty',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => sizePretty(value as SqlScalar)),
  },
  // to_timestamp(epoch seconds): the instant as northlight keeps a timestamptz, UTC text
  // `YYYY-MM-DD HH:MM:SS[.ffffff]` (Grafana and applications with epoch columns write it).
  {
    name: 'to_timestamp',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => epochText(number(value as SqlScalar, 'double precision'))),
  },
  // Text.
  ...['char_length', 'character_length'].map(
    (name): PostgresFunction => ({
      name,
      arities: [1],
      deterministic: true,
      call: strict(([value]) => characters(text(value as SqlScalar)).length),
    }),
  ),
  {
    name: 'quote_ident',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => {
      const name = text(value as SqlScalar);
      return /^[a-z_][a-z0-9_]*$/.test(name) && !RESERVED.has(name)
        ? name
        : `"${name.replaceAll('"', '""')}"`;
    }),
  },
  {
    name: 'quote_literal',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => quoteLiteral(text(value as SqlScalar))),
  },
  {
    name: 'quote_nullable',
    arities: [1],
    deterministic: true,
    call: ([value]) => (value === null || value === undefined ? 'NULL' : quoteLiteral(text(value))),
  },
  // array_agg's elements (postgres-forms.ts): a NULL is the element NULL.
  {
    name: ARRAY_ELEMENT_FUNCTION,
    arities: [1],
    deterministic: true,
    call: ([value]) => arrayElementText(value ?? null),
  },
];

/** Messages above and the SQLSTATE PostgreSQL gives each (sql-errors.ts). */
export const POSTGRES_FUNCTION_SQLSTATES: readonly (readonly [RegExp, string])[] = [
  [/^invalid regular expression/, '2201B'],
  [/^cannot take logarithm of/, '2201E'],
  [
    /^cannot take square root of a negative number$|^zero raised to a negative power|^a negative number raised to a non-integer power/,
    '2201F',
  ],
  [/^invalid input syntax for type (numeric|double precision)/, '22P02'],
  [/^timestamp out of range$/, '22008'],
  [/^value out of range: overflow$/, '22003'],
  [/^to_char pattern .* is not supported/, '0A000'],
  [/^field position must not be zero$/, '22023'],
  [/^cannot delete (from object using integer index|from scalar|path in scalar)$/, '22023'],
  [/^cannot (set path in scalar|replace existing key)$/, '22023'],
  [/^stack depth limit exceeded$/, '54001'],
  [/^path element at position \d+ is null$/, '22004'],
  [/^path element at position \d+ is not an integer/, '22P02'],
  [/^null character not permitted$/, '54000'],
  [/^requested character too large for encoding/, '54000'],
  [/^requested length too large$/, '54000'],
  [/^invalid input syntax for type (integer|bigint|timestamp|jsonb?):/, '22P02'],
  [/^(length|count|field position|character) out of range$/, '22003'],
];
