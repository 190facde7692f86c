/**
 * Parameter decoding per declared OID in text and binary, the result-column type rule over SQLite's
 * storage classes, and result encoding in both formats.
 */
import { describe, expect, it } from 'vitest';
import {
  columnTypeOid,
  decodeBinaryParameter,
  decodeTextParameter,
  encodeResultValue,
  formatFloat8,
  Oid,
  PgValueError,
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
