// A string literal takes the type of the column it stands for, as PostgreSQL resolves a literal of
// unknown type (connection.ts `withColumnTypedLiterals`, parameter-columns.ts `literalColumns`): on the
// engine's own kernel (SQLite in wasm), through node-postgres, in the simple and the extended protocol.
// Before, a literal was stored and compared as the text written, so `WHERE at >= '…T…Z'` (Grafana's
// `$__timeFilter`) compared text with text and missed rows, and `'… +02'` was stored with its offset.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKernelClient } from './support/kernel-backend.js';

let client: pg.Client;
let port: number;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({ client, port, stop } = await startKernelClient());
  await client.query(
    'CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, local timestamp, day date, ok boolean, ref uuid, n int4, note text)',
  );
});

afterAll(async () => {
  await stop();
});

async function ids(sql: string, params?: unknown[]): Promise<number[]> {
  const result = await client.query(sql, params);
  return result.rows.map((row: { id: number }) => row.id);
}

async function errorOf(sql: string): Promise<{ code?: string; message: string }> {
  try {
    await client.query(sql);
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error(`expected ${sql} to fail`);
}

describe('a string literal takes its column’s type', () => {
  it('stores timestamps, dates, booleans, integers and uuids as the column reads them', async () => {
    await client.query('DELETE FROM ev');
    await client.query(
      "INSERT INTO ev VALUES (1, '2024-05-06T00:30:00+02', '2024-05-06T00:30:00Z', '20240506', 'yes', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '7', '2024-05-06T00:30:00+02')",
    );
    await client.query("INSERT INTO ev (id, at, ok) VALUES (2, '2024-05-05 23:00:00.5-01:00', 'off')");
    const stored = await client.query(
      "SELECT id, typeof(at) AS t, at || '' AS at, local || '' AS local, day || '' AS day, ok, typeof(ok) AS okt, ref, n, typeof(n) AS nt, note FROM ev ORDER BY id",
    );
    expect(stored.rows).toEqual([
      {
        id: 1,
        t: 'text',
        at: '2024-05-05 22:30:00',
        local: '2024-05-06 00:30:00',
        day: '2024-05-06',
        ok: true,
        okt: 'integer',
        ref: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        n: 7,
        nt: 'integer',
        // A text column keeps the text as written.
        note: '2024-05-06T00:30:00+02',
      },
      {
        id: 2,
        t: 'text',
        at: '2024-05-06 00:00:00.5',
        local: null,
        day: null,
        ok: false,
        okt: 'integer',
        ref: null,
        n: null,
        nt: 'null',
        note: null,
      },
    ]);
  });

  it("compares instants: Grafana's $__timeFilter, other offsets, BETWEEN, IN, both sides of an operator", async () => {
    // Row 1 is 2024-05-05 22:30 UTC, row 2 2024-05-06 00:00:00.5 UTC.
    const grafana =
      "SELECT id, at AS \"time\" FROM ev WHERE at BETWEEN '2024-05-05T22:00:00Z' AND '2024-05-05T23:00:00Z' ORDER BY 1";
    expect(await ids(grafana)).toEqual([1]);
    expect(await ids("SELECT id FROM ev WHERE at >= '2024-05-06T01:00:00+01:00' ORDER BY id")).toEqual([2]);
    expect(await ids("SELECT id FROM ev e WHERE '2024-05-06 00:00:00.5Z' = e.at")).toEqual([2]);
    expect(
      await ids(
        "SELECT id FROM ev WHERE at IN ('2024-05-06T00:30:00+02', '2024-05-06 01:00:00.5+01') ORDER BY id",
      ),
    ).toEqual([1, 2]);
    expect(
      await ids("SELECT id FROM ev WHERE at NOT BETWEEN '2024-05-05T20:00Z' AND '2024-05-05T23:00Z'"),
    ).toEqual([2]);
    // A date column compared with a timestamp literal compares dates, as the literal is read as one.
    expect(await ids("SELECT id FROM ev WHERE day = '2024-05-06T23:59:59'")).toEqual([1]);
    // The extended protocol: a literal beside parameters.
    expect(await ids("SELECT id FROM ev WHERE at < '2024-05-06T00:00:00Z' AND id >= $1", [1])).toEqual([1]);
    expect(await ids("UPDATE ev SET at = '2024-05-06T12:00:00-04' WHERE id = $1 RETURNING id", [2])).toEqual([
      2,
    ]);
    expect((await client.query("SELECT at || '' AS at FROM ev WHERE id = 2")).rows).toEqual([
      { at: '2024-05-06 16:00:00' },
    ]);
  });

  it('reads booleans and uuids as their columns do, and leaves text columns and casts alone', async () => {
    expect(await ids("SELECT id FROM ev WHERE ok = 'true'")).toEqual([1]);
    expect(await ids("SELECT id FROM ev WHERE ok IN ('f', 'no')")).toEqual([2]);
    expect(await ids("SELECT id FROM ev WHERE ref = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'")).toEqual([1]);
    expect(await ids("SELECT id FROM ev WHERE note = '2024-05-06T00:30:00+02'")).toEqual([1]);
    expect(await ids("SELECT id FROM ev WHERE note LIKE '2024-05-06T%'")).toEqual([1]);
    expect(await ids("SELECT id FROM ev WHERE at::text LIKE '2024-05-05 22:30:00%'")).toEqual([1]);
  });

  it('refuses what the column cannot read, with the SQLSTATE PostgreSQL gives', async () => {
    expect(await errorOf("SELECT id FROM ev WHERE n = '12abc'")).toMatchObject({
      code: '22P02',
      message: 'invalid input syntax for type integer: "12abc"',
    });
    expect(await errorOf("INSERT INTO ev (id, ok) VALUES (3, 'maybe')")).toMatchObject({ code: '22P02' });
    expect(await errorOf("INSERT INTO ev (id, at) VALUES (3, '2024-13-45 00:00:00')")).toMatchObject({
      code: expect.stringMatching(/^22/),
    });
    expect(await errorOf("INSERT INTO ev (id, n) VALUES (3, '3000000000')")).toMatchObject({ code: '22003' });
    expect(await ids('SELECT id FROM ev WHERE id = 3')).toEqual([]);
  });

  it("leaves 'infinity' and 'NaN', which SQLite cannot hold, as the text they are (no 0A000)", async () => {
    await client.query(
      "INSERT INTO ev (id, at, day, note) VALUES (20, 'infinity', '-infinity', 'x'), (21, '2024-05-06T00:00:00Z', '2024-05-06', 'y')",
    );
    expect(await ids("SELECT id FROM ev WHERE at > '2030-01-01T00:00:00Z' AND id >= 20")).toEqual([20]);
    expect(await ids("SELECT id FROM ev WHERE day < '1900-01-01' AND id >= 20")).toEqual([20]);
    await client.query('DELETE FROM ev WHERE id >= 20');
  });

  it('a schema change through the connection is seen: a column that changes type is read by its new type', async () => {
    await client.query('CREATE TABLE flips (id int, v text)');
    await client.query("INSERT INTO flips VALUES (1, 'yes')");
    await client.query('DROP TABLE flips');
    await client.query('CREATE TABLE flips (id int, v boolean)');
    await client.query("INSERT INTO flips VALUES (2, 'yes')");
    expect((await client.query('SELECT id, v, typeof(v) AS vt FROM flips')).rows).toEqual([
      { id: 2, v: true, vt: 'integer' },
    ]);
  });

  it('a column another connection added is asked for again, not missed', async () => {
    await client.query("INSERT INTO ev (id, at) VALUES (10, '2024-05-06T00:00:00Z')");
    const other = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'shop' });
    await other.connect();
    try {
      await other.query('ALTER TABLE ev ADD COLUMN late timestamptz');
    } finally {
      await other.end();
    }
    await client.query("INSERT INTO ev (id, late) VALUES (11, '2024-05-06T02:00:00+02')");
    await client.query(
      "INSERT INTO ev VALUES (12, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2024-05-06 03:00:00+02')",
    );
    expect(
      (await client.query("SELECT id, late || '' AS late FROM ev WHERE id > 10 ORDER BY id")).rows,
    ).toEqual([
      { id: 11, late: '2024-05-06 00:00:00' },
      { id: 12, late: '2024-05-06 01:00:00' },
    ]);
    await client.query('DELETE FROM ev WHERE id >= 10');
  });

  it('random instants in random offsets and spellings filter as the instants they are (a model in JavaScript)', async () => {
    await client.query('CREATE TABLE pts (id int PRIMARY KEY, at timestamptz)');
    // Seconds from 1990 to 2060, an offset in quarter hours, 'T' or a space, Z or the offset.
    const spelled = fc.record({
      seconds: fc.integer({ min: 631_152_000, max: 2_840_140_800 }),
      quarterHours: fc.integer({ min: -48, max: 56 }),
      t: fc.boolean(),
      zulu: fc.boolean(),
    });
    const literal = (value: { seconds: number; quarterHours: number; t: boolean; zulu: boolean }): string => {
      const offsetMinutes = value.zulu ? 0 : value.quarterHours * 15;
      const local = new Date((value.seconds + offsetMinutes * 60) * 1000).toISOString().slice(0, 19);
      const sign = offsetMinutes < 0 ? '-' : '+';
      const magnitude = Math.abs(offsetMinutes);
      const offset = value.zulu
        ? 'Z'
        : `${sign}${String(Math.floor(magnitude / 60)).padStart(2, '0')}:${String(magnitude % 60).padStart(2, '0')}`;
      return `${value.t ? local : local.replace('T', ' ')}${offset}`;
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(spelled, { minLength: 1, maxLength: 8 }),
        spelled,
        spelled,
        async (rows, a, b) => {
          await client.query('DELETE FROM pts');
          await client.query(
            `INSERT INTO pts VALUES ${rows.map((row, index) => `(${index}, '${literal(row)}')`).join(', ')}`,
          );
          const [low, high] = a.seconds <= b.seconds ? [a, b] : [b, a];
          const expected = rows
            .map((row, index) => ({ row, index }))
            .filter(({ row }) => row.seconds >= low.seconds && row.seconds <= high.seconds)
            .map(({ index }) => index);
          expect(
            await ids(
              `SELECT id FROM pts WHERE at BETWEEN '${literal(low)}' AND '${literal(high)}' ORDER BY id`,
            ),
          ).toEqual(expected);
          const after = rows
            .map((row, index) => ({ row, index }))
            .filter(({ row }) => row.seconds > low.seconds);
          expect(await ids(`SELECT id FROM pts WHERE '${literal(low)}' < at ORDER BY id`)).toEqual(
            after.map(({ index }) => index),
          );
        },
      ),
      { numRuns: 60, seed: 20261128 },
    );
  });
});
