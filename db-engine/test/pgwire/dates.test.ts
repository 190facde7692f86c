// PostgreSQL's dates, times and intervals over SQLite (src/core/pgwire/temporal.ts and the
// translation in sql.ts): the input functions as PostgreSQL 15 reads them, the translation and its
// typed refusals, and — on the engine's own kernel (SQLite in wasm), through node-postgres — random
// timestamps plus random intervals and dates plus days against a reference model of PostgreSQL's
// rules (months first, a day past the month's end clamped to its last day, then days, then time).
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgSqlError, tokenize, translate } from '../../src/core/pgwire/sql.js';
import {
  type IntervalValue,
  parseInterval,
  TemporalInputError,
  temporalLiteral,
} from '../../src/core/pgwire/temporal.js';
import { startKernelBackend } from './support/kernel-backend.js';
import { startTestServer, type TestServer } from './support/server.js';

const facts = { serverVersion: '15.0', database: 'shop', user: 'ann', processId: 77 };

function sqlite(sql: string): string {
  return translate(tokenize(sql), facts).sql;
}

function refusal(run: () => unknown): [string, string] {
  try {
    run();
  } catch (error) {
    if (error instanceof PgSqlError || error instanceof TemporalInputError)
      return [error.sqlstate, error.message];
    throw error;
  }
  throw new Error('expected a refusal');
}

const HOUR = 3_600_000_000;
const SECOND = 1_000_000;

describe('interval input, as PostgreSQL 15 reads it', () => {
  it('reads units, abbreviations, clock parts, ago, @ and ISO 8601', () => {
    const cases: [string, IntervalValue][] = [
      ['1 day', { months: 0, days: 1, micros: 0 }],
      ['7 days', { months: 0, days: 7, micros: 0 }],
      ['2 hours 30 minutes', { months: 0, days: 0, micros: 2.5 * HOUR }],
      ['1 year 2 mons', { months: 14, days: 0, micros: 0 }],
      ['3 months', { months: 3, days: 0, micros: 0 }],
      ['1.5 years', { months: 18, days: 0, micros: 0 }],
      ['1.5 months', { months: 1, days: 15, micros: 0 }],
      ['1.5 days', { months: 0, days: 1, micros: 12 * HOUR }],
      ['2 weeks', { months: 0, days: 14, micros: 0 }],
      ['1 day ago', { months: 0, days: -1, micros: 0 }],
      ['1 day 2 hours ago', { months: 0, days: -1, micros: -2 * HOUR }],
      ['-1 day +2 hours', { months: 0, days: -1, micros: 2 * HOUR }],
      ['10:30', { months: 0, days: 0, micros: 10.5 * HOUR }],
      ['1 day 02:00:00', { months: 0, days: 1, micros: 2 * HOUR }],
      ['-00:00:01.5', { months: 0, days: 0, micros: -1.5 * SECOND }],
      ['@ 3 weeks', { months: 0, days: 21, micros: 0 }],
      ['5', { months: 0, days: 0, micros: 5 * SECOND }],
      ['250 ms', { months: 0, days: 0, micros: 250_000 }],
      ['1 decade', { months: 120, days: 0, micros: 0 }],
      ['1h 30m', { months: 0, days: 0, micros: 1.5 * HOUR }],
      ['P1Y2M3DT4H5M6S', { months: 14, days: 3, micros: 4 * HOUR + 5 * 60 * SECOND + 6 * SECOND }],
      ['1-2', { months: 14, days: 0, micros: 0 }],
      ['-1-6', { months: -18, days: 0, micros: 0 }],
      ['1 day 5', { months: 0, days: 1, micros: 5 * SECOND }],
      ['PT90M', { months: 0, days: 0, micros: 1.5 * HOUR }],
      ['  2 DAYS  ', { months: 0, days: 2, micros: 0 }],
    ];
    for (const [input, value] of cases) expect([input, parseInterval(input)]).toEqual([input, value]);
  });

  it('refuses what is no interval with 22007 and the input', () => {
    for (const input of [
      '',
      'abc',
      '1 fortnight',
      'ago',
      '1 day ago ago',
      '10:61',
      'P',
      '1..5 days',
      '1 2',
      '1 day 1 day',
      '1 day 2 days',
      '10:00 11:00',
      '2024-01-01',
    ]) {
      expect(refusal(() => parseInterval(input))).toEqual([
        '22007',
        `invalid input syntax for type interval: "${input}"`,
      ]);
    }
  });
});

describe('date and time literals, as PostgreSQL 15 reads them', () => {
  it('keeps dates, timestamps (UTC for timestamptz) and times as northlight stores them', () => {
    const cases: [string, 'date' | 'timestamp' | 'timestamptz' | 'time', string][] = [
      ['2024-01-02', 'date', '2024-01-02'],
      ['20240102', 'date', '2024-01-02'],
      ['2024-1-2', 'date', '2024-01-02'],
      ['2024-01-02 23:59:59', 'date', '2024-01-02'],
      ['2024-02-29', 'date', '2024-02-29'],
      ['epoch', 'date', '1970-01-01'],
      ['2024-01-02', 'timestamp', '2024-01-02 00:00:00'],
      ['2024-01-02T03:04:05', 'timestamp', '2024-01-02 03:04:05'],
      ['2024-01-02 03:04:05.120', 'timestamp', '2024-01-02 03:04:05.12'],
      ['2024-01-02 03:04:05.1234567', 'timestamp', '2024-01-02 03:04:05.123457'],
      // A timestamp without time zone drops an offset; a timestamptz applies it.
      ['2024-01-02 03:04:05+02', 'timestamp', '2024-01-02 03:04:05'],
      ['2024-01-02 03:04:05+02', 'timestamptz', '2024-01-02 01:04:05'],
      ['2024-01-02 01:00:00-04:30', 'timestamptz', '2024-01-02 05:30:00'],
      ['2024-01-01 00:30:00+01', 'timestamptz', '2023-12-31 23:30:00'],
      ['2024-01-02 03:04:05Z', 'timestamptz', '2024-01-02 03:04:05'],
      ['2024-12-31 24:00:00', 'timestamp', '2025-01-01 00:00:00'],
      ['03:04', 'time', '03:04:00'],
      ['03:04:05.5', 'time', '03:04:05.5'],
      ['24:00:00', 'time', '24:00:00'],
    ];
    for (const [input, kind, stored] of cases) {
      expect([input, kind, temporalLiteral(input, kind).value]).toEqual([input, kind, stored]);
    }
  });

  it('refuses bad input with 22007, out-of-range fields with 22008, infinity with 0A000', () => {
    expect(refusal(() => temporalLiteral('yesterday-ish', 'date'))).toEqual([
      '22007',
      'invalid input syntax for type date: "yesterday-ish"',
    ]);
    expect(refusal(() => temporalLiteral('2024-01-02 3pm', 'timestamp'))).toEqual([
      '22007',
      'invalid input syntax for type timestamp: "2024-01-02 3pm"',
    ]);
    expect(refusal(() => temporalLiteral('2023-02-29', 'date'))).toEqual([
      '22008',
      'date/time field value out of range: "2023-02-29"',
    ]);
    expect(refusal(() => temporalLiteral('2024-13-01', 'timestamptz'))[0]).toBe('22008');
    expect(refusal(() => temporalLiteral('2024-01-01 25:00', 'timestamp'))[0]).toBe('22008');
    expect(refusal(() => temporalLiteral('infinity', 'timestamp'))[0]).toBe('0A000');
  });
});

describe('translation of date arithmetic and casts', () => {
  it('folds checked literals, in both cast spellings and as typed literals', () => {
    expect(sqlite("SELECT '2024-01-02'::date, CAST('2024-01-02 03:04:05+02' AS timestamptz)")).toBe(
      `SELECT '2024-01-02' AS "date", '2024-01-02 01:04:05' AS "timestamptz"`,
    );
    expect(
      sqlite(
        "SELECT * FROM e WHERE d >= DATE '2024-01-01' AND at < TIMESTAMP WITH TIME ZONE '2024-06-01 00:00+02'",
      ),
    ).toBe("SELECT * FROM e WHERE d >= '2024-01-01' AND at < '2024-05-31 22:00:00'");
    expect(refusal(() => sqlite("SELECT DATE '2024-02-30'"))).toEqual([
      '22008',
      'date/time field value out of range: "2024-02-30"',
    ]);
    // SQLite's own CAST would give the year (NUMERIC affinity) and truncate 3.7.
    expect(sqlite("SELECT CAST('2024-01-02 03:04:05' AS timestamp) AS at, CAST(3.7 AS int)")).toBe(
      `SELECT '2024-01-02 03:04:05' AS at, 4 AS "int4"`,
    );
    expect(sqlite('SELECT CAST(x AS int) FROM t')).toBe(
      `SELECT CAST((CASE WHEN typeof(x) = 'real' THEN round(x) ELSE x END) AS INTEGER) AS "x" FROM t`,
    );
    expect(refusal(() => sqlite('SELECT 20240102::date'))).toEqual([
      '42846',
      'cannot cast type integer to date',
    ]);
  });

  it('checks json, jsonb and uuid literals and writes a uuid as PostgreSQL does', () => {
    expect(sqlite(`SELECT '{"a": [1, 2]}'::jsonb, UUID '{B82DBFB0D3ED42969B50BE0C2A563909}'`)).toBe(
      `SELECT '{"a": [1, 2]}' AS "jsonb", 'b82dbfb0-d3ed-4296-9b50-be0c2a563909' AS "uuid"`,
    );
    const parameters = sqlite('SELECT $1::jsonb, $2::uuid');
    expect(parameters).toMatch(
      /^SELECT json\(\?1\) AS "jsonb", \(CASE WHEN length\(.*\?2.*\) = 32 THEN .* END\) AS "uuid"$/,
    );
    expect(refusal(() => sqlite(`SELECT '{"a": }'::json`))).toEqual([
      '22P02',
      'invalid input syntax for type json',
    ]);
    expect(refusal(() => sqlite(`SELECT 'b82dbfb0'::uuid`))).toEqual([
      '22P02',
      'invalid input syntax for type uuid: "b82dbfb0"',
    ]);
  });

  it('adds intervals to anything on the left, days to what is known to be a date', () => {
    expect(sqlite("SELECT id FROM e WHERE at > now() - interval '7 days'")).toBe(
      "SELECT id FROM e WHERE at > rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', CURRENT_TIMESTAMP, '-7 days'), '0'), '.')",
    );
    // A column's text may carry an offset as PostgreSQL prints it (`+00`), which SQLite reads only as `+00:00`.
    expect(sqlite("SELECT at + '90 minutes'::interval AS later FROM e")).toBe(
      "SELECT rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', (CASE WHEN at GLOB '*[0-9]:[0-9][0-9]*[+-][0-9][0-9]' THEN at || ':00' " +
        "WHEN at GLOB '*[0-9]:[0-9][0-9]*[+-][0-9][0-9][0-9][0-9]' THEN substr(at, 1, length(at) - 2) || ':' || substr(at, -2) " +
        "ELSE at END), '+5400 seconds'), '0'), '.') AS later FROM e",
    );
    // Chains evaluate each step once: linear, not exponential, in the number of steps.
    const chain = (steps: number) =>
      sqlite(`SELECT at${" + interval '1 month'".repeat(steps)} FROM e`).length;
    expect(chain(8) - chain(7)).toBe(chain(7) - chain(6));
    expect(chain(20)).toBeLessThan(40_000);
    expect(sqlite('SELECT current_date + 7, current_date - $1')).toBe(
      `SELECT date(current_date, (7) || ' days') AS "?column?", date(current_date, (-(?1)) || ' days') AS "?column?"`,
    );
    const translation = translate(
      // A column's type is unknown here: its sum is sent untyped (text), not guessed.
      tokenize(
        "SELECT d::date + 1 AS next, now() + interval '1 hour', at + interval '1 hour' AS later FROM e",
      ),
      facts,
    );
    expect(Object.fromEntries(translation.resultTypes ?? [])).toEqual({
      next: 'DATE',
      '?column?': 'TIMESTAMPTZ',
    });
    expect(translation.castTypes.size).toBe(0);
    expect(translate(tokenize('SELECT current_date + $1'), facts).castTypes.get(1)).toBe('int4');
    expect(
      sqlite(
        "CREATE TABLE e (d date DEFAULT current_date + 1, at timestamptz DEFAULT now() + interval '1 hour')",
      ),
    ).toBe(
      "CREATE TABLE e (d date DEFAULT (date(current_date, (1) || ' days')), at timestamptz DEFAULT (rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', CURRENT_TIMESTAMP, '+3600 seconds'), '0'), '.')))",
    );
  });

  it('refuses date arithmetic it cannot translate exactly, with a SQLSTATE and what to write instead', () => {
    const cases: [string, string, string][] = [
      [
        "SELECT '1 day'::interval",
        '0A000',
        'interval values are not supported by northlight: SQLite has no interval type',
      ],
      [
        "SELECT -interval '1 day'",
        '0A000',
        'interval values are not supported by northlight: SQLite has no interval type',
      ],
      ['SELECT now() + 1', '42883', 'operator does not exist: timestamp with time zone + integer'],
      ['SELECT current_date + 1.5', '42883', 'operator does not exist: date + numeric'],
      ['SELECT current_date - d FROM e', '0A000', 'date - an expression is not supported by northlight'],
      [
        'SELECT now() - at FROM e',
        '0A000',
        'timestamp with time zone - an expression is not supported by northlight',
      ],
      [
        "SELECT a - b + interval '1 day' FROM e",
        '0A000',
        'northlight cannot translate + an interval after an arithmetic operator here without parentheses',
      ],
      [
        "SELECT at + interval '1 day' * 2 FROM e",
        '0A000',
        'northlight cannot translate an interval followed by * here without parentheses',
      ],
      [
        'SELECT current_date + 2 * 3',
        '0A000',
        'northlight cannot translate a date + a number followed by * here without parentheses',
      ],
      ["SELECT now() - interval 'soon'", '22007', 'invalid input syntax for type interval: "soon"'],
      // After `-` an untyped literal is a timestamp in PostgreSQL, and the difference an interval.
      [
        "SELECT now() - '1 hour'",
        '0A000',
        'timestamp with time zone - an expression is not supported by northlight',
      ],
      [
        "SELECT 1 + date '2024-01-01'",
        '0A000',
        'northlight cannot translate + or - with a date on the right',
      ],
      ['SELECT d - e::date FROM t', '0A000', 'northlight cannot translate + or - with a date on the right'],
      [
        "SELECT now() - interval '1' year to month",
        '0A000',
        'interval … YEAR TO … is not supported by northlight',
      ],
    ];
    for (const [query, sqlstate, message] of cases)
      expect([query, ...refusal(() => sqlite(query))]).toEqual([query, sqlstate, message]);
  });

  it('reads the SQL standard interval field, a quoted cast type, and names a cast of a qualified column', () => {
    expect(sqlite("SELECT timestamp '2024-01-31 10:00' - interval '1' month")).toContain("'-1 months'");
    expect(sqlite("SELECT now() + interval '3' day")).toContain("'+3 days'");
    expect(sqlite('SELECT CAST(t.a AS int), CAST(a AS "text") FROM t')).toBe(
      `SELECT CAST((CASE WHEN typeof(t.a) = 'real' THEN round(t.a) ELSE t.a END) AS INTEGER) AS "a", CAST(a AS TEXT) AS "a" FROM t`,
    );
  });

  it('leaves columns named like types, and other + and -, alone', () => {
    expect(sqlite('SELECT date, time FROM e WHERE date = $1')).toBe(
      'SELECT date, time FROM e WHERE date = ?1',
    );
    expect(sqlite('SELECT a + b, b - c, 2 * a + 1, a + 1.5, e.date FROM e')).toBe(
      'SELECT a + b, b - c, 2 * a + 1, a + 1.5, e.date FROM e',
    );
    // A column ± an integer decides when it runs: days for a date, the sum for anything else.
    expect(sqlite('SELECT a + 1, e.b - $1 AS c FROM e')).toBe(
      "SELECT (CASE WHEN a GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' THEN date(a, (1) || ' days') ELSE a + 1 END) AS \"?column?\", " +
        "(CASE WHEN e.b GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' THEN date(e.b, (-(?1)) || ' days') ELSE e.b - ?1 END) AS c FROM e",
    );
    // Not in DDL (a default or generated column keeps SQLite's meaning), nor where it would regroup.
    expect(sqlite('CREATE TABLE g (a int, b int GENERATED ALWAYS AS (a + 1))')).toBe(
      'CREATE TABLE g (a int, b int GENERATED ALWAYS AS (a + 1))',
    );
    expect(sqlite("SELECT a - b + 1, a + 1 * 2, -a + 1, 'x' || a + 1 FROM e")).toBe(
      "SELECT a - b + 1, a + 1 * 2, -a + 1, 'x' || a + 1 FROM e",
    );
    expect(sqlite("SELECT doc->>'a' FROM e")).toBe("SELECT doc->>'a' FROM e");
  });
});

// ---- on the engine's kernel, through the wire protocol ----

interface Instant {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly millis: number;
}

function two(value: number): string {
  return String(value).padStart(2, '0');
}

function daysIn(year: number, month: number): number {
  return [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] as number;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function utc(instant: Instant): number {
  const date = new Date(0);
  date.setUTCFullYear(instant.year, instant.month - 1, instant.day);
  date.setUTCHours(instant.hour, instant.minute, instant.second, instant.millis);
  return date.getTime();
}

/** As northlight writes a timestamp: no fraction when it is zero, no trailing zeros. */
function printed(millis: number, withTime = true): string {
  const date = new Date(millis);
  const day = `${String(date.getUTCFullYear()).padStart(4, '0')}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}`;
  if (!withTime) return day;
  const fraction =
    date.getUTCMilliseconds() === 0
      ? ''
      : `.${String(date.getUTCMilliseconds()).padStart(3, '0').replace(/0+$/, '')}`;
  return `${day} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}${fraction}`;
}

/** PostgreSQL's timestamp + interval: months (clamped to the month's last day), then days, then time. */
function referenceAdd(instant: Instant, months: number, days: number, millis: number): string {
  const total = instant.year * 12 + (instant.month - 1) + months;
  const year = Math.floor(total / 12);
  const month = (total % 12) + 1;
  const day = Math.min(instant.day, daysIn(year, month));
  return printed(utc({ ...instant, year, month, day }) + days * 86_400_000 + millis);
}

const instants = fc
  .record({
    year: fc.integer({ min: 1901, max: 2099 }),
    month: fc.integer({ min: 1, max: 12 }),
    // Month ends are where PostgreSQL and SQLite differ most: weigh them.
    day: fc.oneof(fc.integer({ min: 1, max: 31 }), fc.constantFrom(28, 29, 30, 31)),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    millis: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999 })),
  })
  .map((instant) => ({ ...instant, day: Math.min(instant.day, daysIn(instant.year, instant.month)) }));

describe('date arithmetic on the engine kernel (SQLite in wasm) over node-postgres', () => {
  let server: TestServer;
  let stopKernel: () => Promise<void>;
  let client: pg.Client;

  beforeAll(async () => {
    const kernel = await startKernelBackend({ idleTimeoutMs: 60_000, lockWaitTimeoutMs: 5_000 });
    stopKernel = kernel.stop;
    server = await startTestServer(kernel.backend);
    // Text as sent, so the test sees the server's output rather than node-postgres's Date.
    client = new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'x',
      types: { getTypeParser: () => (value: string) => value },
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await server?.stop();
    await stopKernel?.();
  });

  it('adds random intervals to random timestamps exactly as PostgreSQL does', async () => {
    await fc.assert(
      fc.asyncProperty(
        instants,
        fc.integer({ min: -40, max: 40 }),
        fc.integer({ min: -400, max: 400 }),
        fc.integer({ min: -200_000_000, max: 200_000_000 }),
        fc.boolean(),
        async (instant, months, days, millis, subtract) => {
          const at = printed(utc(instant));
          const seconds = `${millis < 0 ? '-' : ''}${Math.floor(Math.abs(millis) / 1000)}.${String(Math.abs(millis) % 1000).padStart(3, '0')}`;
          const spec = `${months} mons ${days} days ${seconds} seconds`;
          const sign = subtract ? -1 : 1;
          const result = await client.query(
            `SELECT '${at}'::timestamp ${subtract ? '-' : '+'} interval '${spec}' AS t`,
          );
          expect([at, spec, subtract, result.rows[0].t]).toEqual([
            at,
            spec,
            subtract,
            referenceAdd(instant, sign * months, sign * days, sign * millis),
          ]);
          expect(result.fields[0]?.dataTypeID).toBe(1114);
        },
      ),
      { numRuns: 150, seed: 20261128 },
    );
  });

  it('adds and subtracts days to dates, and types the result a date', async () => {
    await fc.assert(
      fc.asyncProperty(instants, fc.integer({ min: -100_000, max: 100_000 }), async (instant, days) => {
        const date = printed(utc(instant), false);
        const result = await client.query(
          `SELECT DATE '${date}' + $1 AS d, CAST('${date}' AS date) - ${Math.abs(days)} AS e`,
          [days],
        );
        const base = utc({ ...instant, hour: 0, minute: 0, second: 0, millis: 0 });
        expect(result.rows[0]).toEqual({
          d: printed(base + days * 86_400_000, false),
          e: printed(base - Math.abs(days) * 86_400_000, false),
        });
        expect(result.fields.map((field) => field.dataTypeID)).toEqual([1082, 1082]);
      }),
      { numRuns: 60, seed: 20261128 },
    );
  });

  it('adds days to a date column, and numbers to a number column, with literals and parameters', async () => {
    await client.query(
      'CREATE TABLE shipments (id integer PRIMARY KEY, due date, n integer, x real, note text)',
    );
    await fc.assert(
      fc.asyncProperty(instants, fc.integer({ min: -40_000, max: 40_000 }), async (instant, days) => {
        const date = printed(utc(instant), false);
        await client.query('DELETE FROM shipments');
        await client.query('INSERT INTO shipments VALUES (1, $1, 7, 2.5, $2)', [date, 'n/a']);
        const result = await client.query(
          `SELECT due + ${days} AS a, due - $1 AS b, n + ${days} AS c, n - $1 AS d, x + 1 AS e, s.due + 0 AS f
             FROM shipments s WHERE due - 1 < due + 1`,
          [days],
        );
        const base = utc({ ...instant, hour: 0, minute: 0, second: 0, millis: 0 });
        expect(result.rows).toEqual([
          {
            a: printed(base + days * 86_400_000, false),
            b: printed(base - days * 86_400_000, false),
            c: String(7 + days),
            d: String(7 - days),
            e: '3.5',
            f: date,
          },
        ]);
      }),
      { numRuns: 40, seed: 20261128 },
    );
    // An increment keeps its meaning, and a date column moves by days in an UPDATE.
    await client.query(
      "UPDATE shipments SET n = n + 1, due = due + 30 WHERE id = 1 AND due = '2000-01-31' OR id = 1",
    );
    const after = await client.query('SELECT n, note, note || 1 AS t FROM shipments');
    expect(after.rows[0]).toMatchObject({ note: 'n/a', t: 'n/a1' });
    expect(Number(after.rows[0].n)).toBe(8);
    await client.query("UPDATE shipments SET due = '2024-01-31'");
    await client.query('UPDATE shipments SET due = due + 30');
    expect((await client.query('SELECT due, due - 366 AS back FROM shipments')).rows[0]).toEqual({
      due: '2024-03-01',
      back: '2023-03-01',
    });
  });

  it('runs what an application sends: defaults, parameters, ranges, casts, each typed', async () => {
    const app = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'x' });
    await app.connect();
    try {
      await app.query(
        'CREATE TABLE events (id serial PRIMARY KEY, kind text, at timestamptz NOT NULL DEFAULT now(), due date DEFAULT current_date + 30, doc jsonb, ref uuid)',
      );
      const old = new Date(Date.now() - 3 * 86_400_000);
      await app.query('INSERT INTO events (kind, at, doc, ref) VALUES ($1, $2, $3::jsonb, $4::uuid)', [
        'old',
        old,
        JSON.stringify({ n: 1 }),
        'B82DBFB0-D3ED-4296-9B50-BE0C2A563909',
      ]);
      await app.query("INSERT INTO events (kind) VALUES ('new')");
      const recent = await app.query(
        "SELECT kind FROM events WHERE at > now() - interval '1 day' ORDER BY id",
      );
      expect(recent.rows).toEqual([{ kind: 'new' }]);
      const window = await app.query(
        "SELECT count(*)::int AS n FROM events WHERE at BETWEEN $1::timestamptz - interval '1 hour' AND $1::timestamptz + interval '1 hour'",
        [old],
      );
      expect(window.rows).toEqual([{ n: 1 }]);
      const row = await app.query(
        "SELECT due, at::date AS day, doc, ref, CAST(at AS timestamptz) + interval '1 month' AS later FROM events WHERE kind = 'old'",
      );
      const due = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
      // node-postgres parses date, timestamptz, jsonb: they were sent as those types.
      expect(row.fields.map((field) => field.dataTypeID)).toEqual([1082, 1082, 3802, 2950, 1184]);
      expect(row.rows[0].doc).toEqual({ n: 1 });
      expect(row.rows[0].ref).toBe('b82dbfb0-d3ed-4296-9b50-be0c2a563909');
      expect(row.rows[0].later).toBeInstanceOf(Date);
      expect(row.rows[0].due).toBeInstanceOf(Date);
      expect((row.rows[0].due as Date).getFullYear()).toBe(Number(due.slice(0, 4)));
      // A timestamptz parameter in any offset is stored in UTC; text stored with PostgreSQL's `+00` still reads.
      await app.query('CREATE TABLE stamps (id integer PRIMARY KEY, at timestamptz)');
      await app.query('INSERT INTO stamps VALUES (1, $1::timestamptz)', ['2024-01-31 10:00:00+02']);
      await app.query("INSERT INTO stamps VALUES (2, '2024-01-31 10:00:00+00')");
      const stamps = await app.query(
        "SELECT id, (at + interval '1 month')::text AS later, at::date::text AS day FROM stamps ORDER BY id",
      );
      expect(stamps.rows).toEqual([
        { id: 1, later: '2024-02-29 08:00:00', day: '2024-01-31' },
        { id: 2, later: '2024-02-29 10:00:00', day: '2024-01-31' },
      ]);
      const days = await app.query('SELECT (current_date + 7) - current_date AS n');
      expect(days.rows).toEqual([{ n: 7 }]);
      // An untyped literal after `timestamp +` is an interval, as PostgreSQL resolves it.
      const tomorrow = await app.query("SELECT (now() + '1 day')::date - current_date AS n");
      expect(tomorrow.rows).toEqual([{ n: 1 }]);
      await expect(app.query('SELECT now() + 1')).rejects.toMatchObject({ code: '42883' });
      await expect(app.query("SELECT '2024-02-30'::date")).rejects.toMatchObject({ code: '22008' });
    } finally {
      await app.end();
    }
  });
});

describe('translation of random date-ish statements', () => {
  it('gives SQL or a typed refusal, never another error', () => {
    const pieces = [
      'now()',
      'current_date',
      'at',
      '$1',
      '7',
      '1.5',
      '-',
      '+',
      '*',
      '(',
      ')',
      ',',
      "interval '1 day'",
      "'2 hours'::interval",
      "'2024-01-31'",
      '::date',
      '::timestamptz',
      '::interval',
      "DATE '2024-02-29'",
      'TIMESTAMP WITH TIME ZONE',
      "'soon'",
      'CAST(',
      ' AS date)',
      ' AS int)',
      'date',
      'time',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), (chosen) => {
        const statement = `SELECT ${chosen.join(' ')} FROM e`;
        try {
          expect(typeof sqlite(statement)).toBe('string');
        } catch (error) {
          if (!(error instanceof PgSqlError)) throw new Error(`${statement}: ${String(error)}`);
          expect(error.sqlstate).toMatch(/^[0-9A-Z]{5}$/);
        }
      }),
      { numRuns: 3_000, seed: 20261128 },
    );
  });
});
