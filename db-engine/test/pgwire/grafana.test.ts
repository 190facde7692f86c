// What Grafana's PostgreSQL data source sends, its macros expanded as Grafana expands them
// (`$__timeFilter(at)` → `at BETWEEN '…Z' AND '…Z'`, `$__timeGroup(at, '5m')` →
// `floor(extract(epoch from at)/300)*300`, `$__timeEpoch(at)`), on the engine's own kernel through
// node-postgres: the rows in the time range, each in its bucket, and extract(epoch …) exact to the
// millisecond (SQLite's precision) against a model in JavaScript.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKernelClient } from './support/kernel-backend.js';

let client: pg.Client;
let stop: () => Promise<void>;

beforeAll(async () => {
  ({ client, stop } = await startKernelClient());
  await client.query(
    'CREATE TABLE metrics (at timestamptz NOT NULL, host text NOT NULL, v double precision)',
  );
  // Two rows on a bucket's edge (00:05:00 exactly, 00:04:59.999), one in another offset.
  await client.query(
    "INSERT INTO metrics VALUES ('2024-05-06T00:00:10Z', 'a', 1), ('2024-05-06 00:04:59.999+00', 'a', 3), " +
      "('2024-05-06T00:05:00Z', 'b', 5), ('2024-05-06T02:07:00+02', 'b', 7), ('2024-05-06T01:00:00.001Z', 'a', 9)",
  );
});

afterAll(async () => {
  await stop();
});

describe("Grafana's PostgreSQL macros", () => {
  const range = "at BETWEEN '2024-05-06T00:00:00Z' AND '2024-05-06T01:00:00Z'";

  it('$__timeFilter: the rows in the range, whatever offset they were written in', async () => {
    const result = await client.query(`SELECT at AS "time", v FROM metrics WHERE ${range} ORDER BY 1`);
    expect(result.rows.map((row: { v: number }) => row.v)).toEqual([1, 3, 5, 7]);
    expect(result.fields[0]?.dataTypeID).toBe(1184); // timestamptz: Grafana's time column
  });

  it('$__timeGroup: each row in its 5-minute bucket, the edge included', async () => {
    const result = await client.query(
      `SELECT floor(extract(epoch from at)/300)*300 AS "time", avg(v) AS v FROM metrics WHERE ${range} GROUP BY 1 ORDER BY 1`,
    );
    expect(result.rows.map((row: { time: string | number; v: number }) => [Number(row.time), row.v])).toEqual(
      [
        [1714953600, 2], // 00:00:10 and 00:04:59.999
        [1714953900, 6], // 00:05:00 and 00:07:00 (02:07 at +02)
      ],
    );
  });

  it('to_timestamp of a bucket is a timestamptz column, as Grafana wants its time column', async () => {
    const result = await client.query(
      `SELECT to_timestamp(floor(extract(epoch from at)/300)*300) AS "time", host AS metric, avg(v) AS v FROM metrics WHERE ${range} GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(result.fields.map((field) => field.dataTypeID)).toEqual([1184, 25, 701]);
    expect(
      result.rows.map((row: { time: Date; metric: string; v: number }) => [
        row.time.toISOString(),
        row.metric,
        row.v,
      ]),
    ).toEqual([
      ['2024-05-06T00:00:00.000Z', 'a', 2],
      ['2024-05-06T00:05:00.000Z', 'b', 6],
    ]);
    const unnamed = await client.query('SELECT to_timestamp(0)');
    expect(unnamed.fields[0]).toMatchObject({ name: 'to_timestamp', dataTypeID: 1184 });
    expect((unnamed.rows[0] as { to_timestamp: Date }).to_timestamp.getTime()).toBe(0);
  });

  it('$__timeEpoch: extract(epoch …) is the instant in seconds, exact to the millisecond', async () => {
    const result = await client.query(`SELECT extract(epoch from at) AS "time" FROM metrics ORDER BY 1`);
    expect(result.rows.map((row: { time: number }) => row.time)).toEqual([
      1714953610, 1714953899.999, 1714953900, 1714954020, 1714957200.001,
    ]);
  });

  it('extract(epoch …) and date_part agree with JavaScript for random instants, before 1970 too', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -2_208_988_800_000, max: 4_102_444_800_000 }), async (ms) => {
        const text = new Date(ms).toISOString(); // …T…Z, a literal typed by nothing: cast it
        const result = await client.query(
          `SELECT extract(epoch from '${text}'::timestamptz) AS e, date_part('epoch', '${text}'::timestamptz) AS d`,
        );
        expect(result.rows[0]).toEqual({ e: ms / 1000, d: ms / 1000 });
      }),
      { numRuns: 200, seed: 20261128 },
    );
  });
});
