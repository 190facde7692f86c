/**
 * Parameter decoding per declared OID in text and binary, the result-column type rules (by declared
 * type when the values fit it, else over SQLite's storage classes), and result encoding in both
 * formats.
 */
import { describe, expect, it } from 'vitest';
import type { PgValue } from '../../src/core/pgwire/backend.js';
import {
  columnTypeOid,
  declaredNumericScale,
  declaredTypeOid,
  decodeBinaryParameter,
  decodeTextParameter,
  encodeResultValue,
  fitsType,
  formatFloat4,
  formatFloat8,
  Oid,
  PgValueError,
  resultColumnOid,
  scaledNumericText,
} from '../../src/core/pgwire/types.js';

function be(bytes: number, write: (view: DataView) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  write(new DataView(out.buffer));
  return out;
}

function valueError(run: () => unknown): PgValueError {
  try {
    run();
  } catch (error) {
    if (error instanceof PgValueError) return error;
    throw error;
  }
  throw new Error('expected a PgValueError');
}

describe('parameters', () => {
  it('decode text by declared type', () => {
    expect(decodeTextParameter('42', Oid.int8)).toBe(42n);
    expect(decodeTextParameter(' -7 ', Oid.int4)).toBe(-7n);
    expect(decodeTextParameter('1.5', Oid.float8)).toBe(1.5);
    expect(decodeTextParameter('-Infinity', Oid.float4)).toBe(Number.NEGATIVE_INFINITY);
    expect(decodeTextParameter('on', Oid.bool)).toBe(true);
    expect(decodeTextParameter('f', Oid.bool)).toBe(false);
    expect(decodeTextParameter('\\x00ff10', Oid.bytea)).toEqual(new Uint8Array([0, 255, 16]));
    expect(decodeTextParameter('a\\\\b\\001', Oid.bytea)).toEqual(new Uint8Array([97, 92, 98, 1]));
    expect(decodeTextParameter('12.50', Oid.numeric)).toBe('12.50');
    expect(decodeTextParameter('abc', Oid.varchar)).toBe('abc');
    expect(decodeTextParameter('007', 0)).toBe('007');
  });

  it('refuse bad text with the SQLSTATE PostgreSQL uses', () => {
    expect(valueError(() => decodeTextParameter('x1', Oid.int8)).sqlstate).toBe('22P02');
    expect(valueError(() => decodeTextParameter('40000', Oid.int2)).sqlstate).toBe('22003');
    expect(valueError(() => decodeTextParameter('9223372036854775808', Oid.int8)).sqlstate).toBe('22003');
    expect(valueError(() => decodeTextParameter('maybe', Oid.bool)).sqlstate).toBe('22P02');
    expect(valueError(() => decodeTextParameter('\\x0', Oid.bytea)).sqlstate).toBe('22P02');
    expect(valueError(() => decodeTextParameter('', Oid.float8)).sqlstate).toBe('22P02');
  });

  it('decode binary by declared type', () => {
    expect(
      decodeBinaryParameter(
        be(2, (view) => view.setInt16(0, -2)),
        Oid.int2,
        1,
      ),
    ).toBe(-2n);
    expect(
      decodeBinaryParameter(
        be(4, (view) => view.setInt32(0, 70_000)),
        Oid.int4,
        1,
      ),
    ).toBe(70_000n);
    expect(
      decodeBinaryParameter(
        be(8, (view) => view.setBigInt64(0, -(2n ** 62n))),
        Oid.int8,
        1,
      ),
    ).toBe(-(2n ** 62n));
    expect(
      decodeBinaryParameter(
        be(4, (view) => view.setFloat32(0, 0.5)),
        Oid.float4,
        1,
      ),
    ).toBe(0.5);
    expect(
      decodeBinaryParameter(
        be(8, (view) => view.setFloat64(0, 2.25)),
        Oid.float8,
        1,
      ),
    ).toBe(2.25);
    expect(decodeBinaryParameter(new Uint8Array([1]), Oid.bool, 1)).toBe(true);
    expect(decodeBinaryParameter(new Uint8Array([104, 105]), Oid.text, 1)).toBe('hi');
    expect(decodeBinaryParameter(new Uint8Array([0, 200]), 0, 1)).toEqual(new Uint8Array([0, 200]));
    expect(valueError(() => decodeBinaryParameter(new Uint8Array(3), Oid.int8, 2)).message).toBe(
      'incorrect binary data format in bind parameter 2',
    );
    expect(valueError(() => decodeBinaryParameter(new Uint8Array(3), Oid.numeric, 1)).sqlstate).toBe('0A000');
  });
});

describe('result columns', () => {
  it('take their type from the storage classes of their values', () => {
    expect(columnTypeOid([1n, null, 3n])).toBe(Oid.int8);
    expect(columnTypeOid([1n, 2.5])).toBe(Oid.float8);
    expect(columnTypeOid([0.5])).toBe(Oid.float8);
    expect(columnTypeOid([new Uint8Array(1), null])).toBe(Oid.bytea);
    expect(columnTypeOid(['a', 1n])).toBe(Oid.text);
    expect(columnTypeOid([new Uint8Array(1), 1n])).toBe(Oid.text);
    expect(columnTypeOid([null, null])).toBe(Oid.text);
    expect(columnTypeOid([])).toBe(Oid.text);
  });

  it('write float8 text as PostgreSQL does', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '-0'],
      [1.5, '1.5'],
      [-2.25, '-2.25'],
      [0.1 + 0.2, '0.30000000000000004'],
      [123456789012345, '123456789012345'],
      [999999999999999.9, '999999999999999.9'],
      [1e15, '1e+15'],
      [-1.5e15, '-1.5e+15'],
      [1e20, '1e+20'],
      [1e21, '1e+21'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9.223372036854776e18, '9.223372036854776e+18'],
      [1e-4, '0.0001'],
      [0.00012345, '0.00012345'],
      [1e-5, '1e-05'],
      [1.5e-5, '1.5e-05'],
      [1e-7, '1e-07'],
      [5e-324, '5e-324'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
    ];
    expect(cases.map(([value]) => [value, formatFloat8(value)])).toEqual(cases);
  });

  it('encode in text and binary', () => {
    const decode = (bytes: Uint8Array | null) => (bytes === null ? null : new TextDecoder().decode(bytes));
    expect(decode(encodeResultValue(-5n, Oid.int8, 0))).toBe('-5');
    expect(decode(encodeResultValue(1e21, Oid.float8, 0))).toBe('1e+21');
    expect(formatFloat8(1e-7)).toBe('1e-07');
    expect(formatFloat8(Number.NaN)).toBe('NaN');
    expect(decode(encodeResultValue(new Uint8Array([0, 171]), Oid.bytea, 0))).toBe('\\x00ab');
    expect(encodeResultValue(null, Oid.int8, 1)).toBeNull();
    expect(encodeResultValue(258n, Oid.int8, 1)).toEqual(new Uint8Array([0, 0, 0, 0, 0, 0, 1, 2]));
    expect(encodeResultValue(3n, Oid.float8, 1)).toEqual(be(8, (view) => view.setFloat64(0, 3)));
    expect(encodeResultValue(new Uint8Array([9]), Oid.bytea, 1)).toEqual(new Uint8Array([9]));
    expect(decode(encodeResultValue(7n, Oid.text, 1))).toBe('7');
  });
});

describe('declared types', () => {
  it('name the PostgreSQL type PostgreSQL gives them, case and modifiers aside', () => {
    const cases: [string, number | null][] = [
      ['INTEGER', Oid.int4],
      ['int', Oid.int4],
      ['int4', Oid.int4],
      ['serial', Oid.int4],
      ['BIGINT', Oid.int8],
      ['int8', Oid.int8],
      ['bigserial', Oid.int8],
      ['smallint', Oid.int2],
      ['INT2', Oid.int2],
      ['boolean', Oid.bool],
      ['BOOL', Oid.bool],
      ['real', Oid.float4],
      ['float4', Oid.float4],
      ['double  precision', Oid.float8],
      ['float8', Oid.float8],
      ['FLOAT', Oid.float8],
      ['numeric(10,2)', Oid.numeric],
      ['decimal', Oid.numeric],
      ['text', Oid.text],
      ['varchar(20)', Oid.varchar],
      ['character varying(5)', Oid.varchar],
      ['char(3)', Oid.bpchar],
      ['bpchar', Oid.bpchar],
      ['bytea', Oid.bytea],
      ['BLOB', Oid.bytea],
      ['json', Oid.json],
      ['jsonb', Oid.jsonb],
      ['uuid', Oid.uuid],
      ['date', Oid.date],
      ['timestamp', Oid.timestamp],
      ['timestamp(3) without time zone', Oid.timestamp],
      ['timestamptz', Oid.timestamptz],
      ['timestamp with time zone', Oid.timestamptz],
      ['', null],
      ['NUM', null],
      ['interval', null],
      ['datetime', null],
    ];
    for (const [declared, oid] of cases)
      expect([declared, declaredTypeOid(declared)]).toEqual([declared, oid]);
  });

  it('type a column only when every value fits, else by its values', () => {
    expect(resultColumnOid('integer', [1n, null, -2147483648n], 0)).toBe(Oid.int4);
    expect(resultColumnOid('integer', [1n, 2n ** 40n], 0)).toBe(Oid.int8);
    expect(resultColumnOid('integer', [1n, 'x'], 0)).toBe(Oid.text);
    expect(resultColumnOid('smallint', [32_768n], 0)).toBe(Oid.int8);
    expect(resultColumnOid('boolean', [0n, 1n, 'true', 'off'], 0)).toBe(Oid.bool);
    expect(resultColumnOid('boolean', [0n, 7n], 0)).toBe(Oid.int8);
    expect(resultColumnOid('boolean', ['maybe'], 0)).toBe(Oid.text);
    expect(resultColumnOid('real', [0.5, 3n], 0)).toBe(Oid.float4);
    expect(resultColumnOid('real', [0.1], 0)).toBe(Oid.float8);
    expect(resultColumnOid('double precision', [0.1, 2n], 0)).toBe(Oid.float8);
    expect(resultColumnOid('jsonb', ['{"a":1}', 5n, 1.5], 0)).toBe(Oid.jsonb);
    expect(resultColumnOid('jsonb', ['{oops'], 0)).toBe(Oid.text);
    expect(resultColumnOid('uuid', ['0f8fad5b-d9cb-469f-a165-70867728950e'], 0)).toBe(Oid.uuid);
    expect(resultColumnOid('uuid', ['nope'], 0)).toBe(Oid.text);
    expect(resultColumnOid('bytea', [Uint8Array.of(1)], 1)).toBe(Oid.bytea);
    expect(resultColumnOid('bytea', ['text'], 0)).toBe(Oid.text);
    expect(resultColumnOid('text', [1n, 'a'], 0)).toBe(Oid.text);
    expect(resultColumnOid('text', [Uint8Array.of(1)], 0)).toBe(Oid.bytea);
    expect(resultColumnOid('', [1n], 0)).toBe(Oid.int8);
    expect(resultColumnOid(undefined, [1.5], 0)).toBe(Oid.float8);
    expect(resultColumnOid('integer', [null], 0)).toBe(Oid.int4);
  });

  it("writes a numeric(p, s) column's values with its scale, rounding half away from zero", () => {
    expect(
      ['numeric(12,2)', 'DECIMAL (10, 3)', 'numeric(5)', 'numeric', 'integer', 'numeric(4,-1)'].map(
        declaredNumericScale,
      ),
    ).toEqual([2, 3, 0, undefined, undefined, undefined]);
    const cases: [Exclude<PgValue, null>, number, Exclude<PgValue, null>][] = [
      [10.5, 2, '10.50'],
      [5n, 2, '5.00'],
      [99.99, 2, '99.99'],
      [0.1 + 0.2, 2, '0.30'],
      [1.005, 2, '1.01'],
      [-1.005, 2, '-1.01'],
      [2.5, 0, '3'],
      [-2.5, 0, '-3'],
      [-0.001, 2, '0.00'],
      [0.004, 2, '0.00'],
      [9.995, 2, '10.00'],
      [' 007.5 ', 2, '7.50'],
      ['-12', 1, '-12.0'],
      [12n, 0, '12'],
      [1e-7, 2, 1e-7],
      ['abc', 2, 'abc'],
      [Number.NaN, 2, Number.NaN],
    ];
    for (const [value, scale, written] of cases)
      expect([value, scale, scaledNumericText(value, scale)]).toEqual([value, scale, written]);
  });

  it('type numeric, dates and timestamps only as PostgreSQL writes them, and only for text results', () => {
    expect(resultColumnOid('numeric(10,2)', [12n, 1.5, '-3.25'], 0)).toBe(Oid.numeric);
    expect(resultColumnOid('numeric', [1e21], 0)).toBe(Oid.float8);
    expect(resultColumnOid('numeric', [12n], 1)).toBe(Oid.int8);
    expect(resultColumnOid('date', ['2024-02-29'], 0)).toBe(Oid.date);
    expect(resultColumnOid('date', ['2023-02-29'], 0)).toBe(Oid.text);
    expect(resultColumnOid('date', ['2024-2-1'], 0)).toBe(Oid.text);
    expect(resultColumnOid('date', ['2024-02-29'], 1)).toBe(Oid.text);
    expect(resultColumnOid('timestamp', ['2024-01-02 03:04:05', '2024-01-02 03:04:05.123456'], 0)).toBe(
      Oid.timestamp,
    );
    expect(resultColumnOid('timestamp', ['2024-01-02T03:04:05.000Z'], 0)).toBe(Oid.text);
    expect(resultColumnOid('timestamptz', ['2024-01-02 03:04:05+00', '2024-01-02 03:04:05.5-08:30'], 0)).toBe(
      Oid.timestamptz,
    );
    // No offset: UTC (SQLite's CURRENT_TIMESTAMP), sent with PostgreSQL's `+00`.
    expect(resultColumnOid('timestamptz', ['2024-01-02 03:04:05', '2024-01-02 03:04:05.25+01'], 0)).toBe(
      Oid.timestamptz,
    );
    expect(resultColumnOid('timestamptz', ['2024-01-02T03:04:05Z'], 0)).toBe(Oid.text);
    expect(resultColumnOid('timestamptz', ['2024-02-30 03:04:05'], 0)).toBe(Oid.text);
    const text = (value: string) =>
      new TextDecoder().decode(encodeResultValue(value, Oid.timestamptz, 0) as Uint8Array);
    expect(text('2024-01-02 03:04:05')).toBe('2024-01-02 03:04:05+00');
    expect(text('2024-01-02 03:04:05.5')).toBe('2024-01-02 03:04:05.5+00');
    expect(text('2024-01-02 03:04:05-08:30')).toBe('2024-01-02 03:04:05-08:30');
    expect(fitsType(1.5, Oid.int4)).toBe(false);
  });

  it('encode values in their declared type, text and binary', () => {
    const text = (value: Parameters<typeof encodeResultValue>[0], oid: number) =>
      new TextDecoder().decode(encodeResultValue(value, oid, 0) as Uint8Array);
    expect([text(1n, Oid.bool), text(0n, Oid.bool), text('yes', Oid.bool), text('false', Oid.bool)]).toEqual([
      't',
      'f',
      't',
      'f',
    ]);
    expect(encodeResultValue(1n, Oid.bool, 1)).toEqual(Uint8Array.of(1));
    expect(encodeResultValue('off', Oid.bool, 1)).toEqual(Uint8Array.of(0));
    expect(encodeResultValue(-2n, Oid.int2, 1)).toEqual(be(2, (view) => view.setInt16(0, -2)));
    expect(encodeResultValue(70_000n, Oid.int4, 1)).toEqual(be(4, (view) => view.setInt32(0, 70_000)));
    expect(encodeResultValue(0.5, Oid.float4, 1)).toEqual(be(4, (view) => view.setFloat32(0, 0.5)));
    expect(encodeResultValue(3n, Oid.float8, 1)).toEqual(be(8, (view) => view.setFloat64(0, 3)));
    expect(text(3n, Oid.float8)).toBe('3');
    expect(encodeResultValue('[1]', Oid.jsonb, 1)).toEqual(Uint8Array.of(1, 0x5b, 0x31, 0x5d));
    expect(encodeResultValue('0F8FAD5B-D9CB-469F-A165-70867728950E', Oid.uuid, 1)).toEqual(
      Uint8Array.from([
        0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f, 0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e,
      ]),
    );
    expect(text('0F8FAD5B-D9CB-469F-A165-70867728950E', Oid.uuid)).toBe(
      '0f8fad5b-d9cb-469f-a165-70867728950e',
    );
    expect(text(1.5, Oid.numeric)).toBe('1.5');
    expect(text(12n, Oid.numeric)).toBe('12');
  });

  it('write float4 as PostgreSQL does: shortest float4 digits, exponent from 1e+06 and below 1e-04', () => {
    expect(formatFloat4(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat4(0.5)).toBe('0.5');
    expect(formatFloat4(123456)).toBe('123456');
    expect(formatFloat4(1_000_000)).toBe('1e+06');
    expect(formatFloat4(Math.fround(1.5e-5))).toBe('1.5e-05');
    expect(formatFloat4(Math.fround(3.4028235e38))).toBe('3.4028235e+38');
    expect(formatFloat4(Number.NaN)).toBe('NaN');
    expect(formatFloat4(-0)).toBe('-0');
  });
});
