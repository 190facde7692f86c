/**
 * COPY's text and CSV formats alone (src/core/pgwire/copy-format.ts), the statement's syntax
 * (copy-statement.ts) and the typing of fields (copy-load.ts): PostgreSQL's documented examples,
 * then fuzzing. The fuzz proves, per seed, that
 *   1. what `encodeCopyRow` writes, `CopyDecoder` reads back to the same rows, whatever the options
 *      (delimiter, NULL string, quote, escape, header) and wherever CopyData cuts the bytes (inside a
 *      UTF-8 character, a quoted field, a `\r\n`);
 *   2. on arbitrary bytes (random, or a valid stream mutated) the decoder returns rows of exactly the
 *      column count or throws a CopyDataError, never anything else, and stops at `\.`.
 * A failing case prints its seed; `FUZZ_SEED=<n>` replays one run.
 */
import { describe, expect, it } from 'vitest';
import {
  CopyDataError,
  CopyDecoder,
  type CopyOptions,
  defaultCopyOptions,
  encodeCopyHeader,
  encodeCopyRow,
} from '../../src/core/pgwire/copy-format.js';
import { CopyBatcher, copyColumn, copyValue } from '../../src/core/pgwire/copy-load.js';
import { parseCopyStatement } from '../../src/core/pgwire/copy-statement.js';
import { tokenize } from '../../src/core/pgwire/sql.js';
import { seededRandom } from '../support/seeded.js';

const encoder = new TextEncoder();

function decodeAll(options: CopyOptions, columns: readonly string[], chunks: readonly string[]) {
  const decoder = new CopyDecoder(options, columns);
  const rows = chunks.flatMap((chunk) => decoder.push(encoder.encode(chunk)));
  return [...rows, ...decoder.finish()].map((row) => row.fields);
}

const text = defaultCopyOptions('text');
const csv = defaultCopyOptions('csv');

describe('text format', () => {
  it("reads PostgreSQL's escapes, \\N, and stops at \\.", () => {
    expect(
      decodeAll(
        text,
        ['a', 'b'],
        ['x\\ty\\n\\\\\\b\\f\\r\\v\\101\\x41\\q\t\\N\n', '\\N\t\\\\N\n\\.\nafter\tend\n'],
      ),
    ).toEqual([
      ['x\ty\n\\\b\f\r\vAAq', null],
      [null, '\\N'],
    ]);
  });

  it('takes \\r\\n line ends, a last line without one, an escaped delimiter, and octal UTF-8', () => {
    expect(decodeAll({ ...text, delimiter: '|' }, ['a', 'b'], ['1|a\\|b\r\n2|\\303\\251'])).toEqual([
      ['1', 'a|b'],
      ['2', 'é'],
    ]);
  });

  it('refuses a stray carriage return, a NUL byte, bad UTF-8 and wrong field counts, naming the line', () => {
    const fails = (data: string, columns = ['a', 'b']) => {
      try {
        decodeAll(text, columns, [data]);
      } catch (error) {
        if (!(error instanceof CopyDataError)) throw error;
        return { sqlstate: error.sqlstate, message: error.message, context: error.context('t') };
      }
      throw new Error('no error');
    };
    expect(fails('1\ta\rb\n')).toMatchObject({
      sqlstate: '22P04',
      message: 'literal carriage return found in data',
    });
    expect(fails('1\t\\0\n')).toMatchObject({ sqlstate: '22021' });
    expect(fails('1\t\\377\n')).toMatchObject({ sqlstate: '22021' });
    expect(fails('1\ta\n2\n')).toEqual({
      sqlstate: '22P04',
      message: 'missing data for column "b"',
      context: 'COPY t, line 2: "2"',
    });
    expect(fails(`1\t${'x'.repeat(150)}\textra\n`).context).toBe(`COPY t, line 1: "1\t${'x'.repeat(98)}..."`);
  });

  it('writes values as PostgreSQL does', () => {
    expect(encodeCopyRow(['a\tb\\c\nd\re', null, ''], text, [])).toBe('a\\tb\\\\c\\nd\\re\t\\N\t\n');
    expect(encodeCopyRow(['a|b'], { ...text, delimiter: '|' }, [])).toBe('a\\|b\n');
    expect(encodeCopyHeader(['id', 'a b'], text)).toBe('id\ta b\n');
  });
});

describe('CSV', () => {
  it('reads quoted fields across lines, doubled quotes, NULL versus "", and a header (MATCH)', () => {
    expect(
      decodeAll({ ...csv, header: 'match' }, ['a', 'b'], ['a,b\n"x,\n', 'y","say ""hi"""\n,""\n']),
    ).toEqual([
      ['x,\ny', 'say "hi"'],
      [null, ''],
    ]);
    expect(() => decodeAll({ ...csv, header: 'match' }, ['a', 'b'], ['a,c\n'])).toThrow(
      'column name mismatch in header line field 2: got "c", expected "b"',
    );
    expect(() => decodeAll(csv, ['a'], ['"open\n'])).toThrow('unterminated CSV quoted field');
  });

  it('writes only what must be quoted: delimiter, quote, line breaks, the NULL string, a lone \\.', () => {
    expect(encodeCopyRow(['a', 'b,c', 'd"e', 'f\ng', '', null], csv, [])).toBe('a,"b,c","d""e","f\ng","",\n');
    expect(encodeCopyRow(['\\.'], csv, [])).toBe('"\\."\n');
    expect(encodeCopyRow(['\\.', 'x'], csv, [])).toBe('\\.,x\n');
    expect(encodeCopyRow(['a', null], csv, [true, true])).toBe('"a",\n');
    expect(encodeCopyRow(['a"b'], { ...csv, escape: '\\' }, [])).toBe('"a\\"b"\n');
  });
});

describe('the COPY statement', () => {
  const parse = (sql: string) => parseCopyStatement(tokenize(sql));

  it('reads the current and the old syntax', () => {
    expect(parse('COPY public.t (a, "B") FROM stdin')).toMatchObject({
      direction: 'from',
      table: { sql: '"t"', name: 't', columns: ['a', 'B'] },
      options: text,
    });
    expect(
      parse("COPY t FROM STDIN WITH (FORMAT csv, HEADER MATCH, DELIMITER ';', NULL 'NA', FREEZE)"),
    ).toMatchObject({
      options: { ...csv, delimiter: ';', nullString: 'NA', header: 'match' },
    });
    expect(parse("COPY t TO STDOUT WITH CSV HEADER DELIMITER AS '|' FORCE QUOTE *")).toMatchObject({
      direction: 'to',
      options: { format: 'csv', header: 'present', delimiter: '|', forceQuote: '*' },
    });
    expect(parse("COPY t FROM STDIN USING DELIMITERS ','")).toMatchObject({ options: { delimiter: ',' } });
    expect(parse('COPY (SELECT a FROM t WHERE a >= 1) TO STDOUT')).toMatchObject({
      source: { kind: 'query' },
    });
  });

  it('refuses what PostgreSQL refuses', () => {
    expect(() => parse('COPY t FROM STDIN (FORMAT csv, FORMAT text)')).toThrow(
      'conflicting or redundant options',
    );
    expect(() => parse("COPY t FROM STDIN (DELIMITER 'a')")).toThrow('COPY delimiter cannot be "a"');
    expect(() => parse("COPY t FROM STDIN (FORMAT csv, DELIMITER ',', QUOTE ',')")).toThrow(
      'COPY delimiter and quote must be different',
    );
    expect(() => parse('COPY t TO STDOUT (HEADER MATCH)')).toThrow(
      'cannot use "match" with HEADER in COPY TO',
    );
    expect(() => parse('COPY t FROM STDIN (BOGUS 1)')).toThrow('option "bogus" not recognized');
    expect(() => parse('COPY t')).toThrow('syntax error at end of input');
  });
});

describe('typing fields for their columns', () => {
  it('follows the declared type, as PostgreSQL input functions check it', () => {
    expect(copyValue(' 42 ', copyColumn('a', 'INTEGER'))).toBe(42n);
    expect(() => copyValue('4.2', copyColumn('a', 'int'))).toThrow(
      'invalid input syntax for type integer: "4.2"',
    );
    expect(() => copyValue('9223372036854775808', copyColumn('a', 'BIGINT'))).toThrow(
      'out of range for type bigint',
    );
    expect(copyValue('1e3', copyColumn('a', 'DOUBLE PRECISION'))).toBe(1000);
    expect(copyValue('-Infinity', copyColumn('a', 'REAL'))).toBe(Number.NEGATIVE_INFINITY);
    expect(copyValue('1.50', copyColumn('a', 'NUMERIC(10,2)'))).toBe('1.50');
    expect(() => copyValue('x', copyColumn('a', 'NUMERIC'))).toThrow('type numeric');
    expect(copyValue('yes', copyColumn('a', 'BOOLEAN'))).toBe(1n);
    expect(copyValue('\\x00ff', copyColumn('a', 'BYTEA'))).toEqual(Uint8Array.of(0, 255));
    expect(copyValue('2024-01-01', copyColumn('a', 'DATE'))).toBe('2024-01-01');
    expect(copyValue(' 7 ', copyColumn('a', ''))).toBe(' 7 ');
  });

  it('batches rows within SQLite’s parameter limit, numbering parameters', () => {
    const wide = Array.from({ length: 200 }, (_, index) => copyColumn(`c${index}`, 'TEXT'));
    const batcher = new CopyBatcher('"t"', 't', wide);
    expect(batcher.rowsPerBatchMax).toBe(163);
    batcher.add({ fields: wide.map(() => 'x'), line: 1 });
    const batch = batcher.take();
    expect(batch?.sql).toMatch(/^INSERT INTO "t" \("c0", .*\) VALUES \(\?1, \?2, .*\?200\)$/);
    expect(batcher.take()).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing.

const baseSeed = Number(process.env.FUZZ_SEED ?? 20_260_611);
const CASES = 400;

type Next = () => number;

function pick<T>(next: Next, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

const alphabet = [
  'a',
  'Z',
  '0',
  ' ',
  ',',
  ';',
  '|',
  '\t',
  '\n',
  '\r',
  '"',
  "'",
  '\\',
  '.',
  'N',
  'é',
  '☕',
  '𝄞',
  '\u0001',
];

function randomValue(next: Next): string | null {
  if (next() < 0.1) return null;
  const length = Math.floor(next() * next() * 12);
  return Array.from({ length }, () => pick(next, alphabet)).join('');
}

function randomOptions(next: Next): CopyOptions {
  const format = next() < 0.5 ? 'text' : 'csv';
  const base = defaultCopyOptions(format);
  const delimiter = pick(next, format === 'csv' ? [',', ';', '|', '\t'] : ['\t', ',', '|', ';']);
  const quote = format === 'csv' ? pick(next, ['"', "'"]) : base.quote;
  return {
    ...base,
    delimiter,
    quote,
    escape: format === 'csv' ? pick(next, [quote, '\\']) : base.escape,
    nullString: pick(next, format === 'csv' ? ['', 'NULL', '\\N'] : ['\\N', 'NULL', '']),
    header: next() < 0.3 ? 'present' : 'none',
  };
}

/** Cuts bytes into 1–6 chunks at random places (inside characters too). */
function cut(next: Next, bytes: Uint8Array): Uint8Array[] {
  const points = Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * bytes.length)).sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

function decodeChunks(options: CopyOptions, columns: readonly string[], chunks: readonly Uint8Array[]) {
  const decoder = new CopyDecoder(options, columns);
  const rows = chunks.flatMap((chunk) => decoder.push(chunk));
  return [...rows, ...decoder.finish()].map((row) => row.fields);
}

describe('fuzzing the COPY decoder', () => {
  it(`reads back what the encoder writes, however the bytes are cut (${CASES} seeds from ${baseSeed})`, () => {
    for (let run = 0; run < CASES; run++) {
      const seed = baseSeed + run;
      const next = seededRandom(seed);
      const options = randomOptions(next);
      const columns = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, index) => `c${index}`);
      const rows = Array.from({ length: Math.floor(next() * 8) }, () => columns.map(() => randomValue(next)));
      // In text format a value written as the NULL string reads back as NULL (PostgreSQL too).
      const writtenAsNull = (value: string) =>
        encodeCopyRow([value], options, []) === `${options.nullString}\n`;
      const expected =
        options.format === 'text'
          ? rows.map((row) => row.map((value) => (value !== null && writtenAsNull(value) ? null : value)))
          : rows;
      const data =
        (options.header === 'present' ? encodeCopyHeader(columns, options) : '') +
        rows.map((row) => encodeCopyRow(row, options, [])).join('') +
        (next() < 0.3 ? '\\.\ngarbage after the end' : '');
      const decoded = decodeChunks(options, columns, cut(next, encoder.encode(data)));
      expect(decoded, `seed ${seed} (${JSON.stringify(options)}): ${JSON.stringify(data)}`).toEqual(expected);
    }
  });

  it(`returns rows of the column count or throws CopyDataError on any bytes (${CASES} seeds)`, () => {
    for (let run = 0; run < CASES; run++) {
      const seed = baseSeed + 100_000 + run;
      const next = seededRandom(seed);
      const options = randomOptions(next);
      const columns = Array.from({ length: 1 + Math.floor(next() * 3) }, (_, index) => `c${index}`);
      let bytes: Uint8Array;
      if (next() < 0.5) {
        bytes = Uint8Array.from({ length: Math.floor(next() * 200) }, () =>
          next() < 0.5 ? Math.floor(next() * 256) : pick(next, [10, 13, 9, 44, 34, 92, 46, 78, 97]),
        );
      } else {
        const rows = Array.from({ length: 1 + Math.floor(next() * 5) }, () =>
          columns.map(() => randomValue(next)),
        );
        bytes = encoder.encode(rows.map((row) => encodeCopyRow(row, options, [])).join('')).slice();
        for (let flips = 0; flips < 1 + Math.floor(next() * 4); flips++) {
          const at = Math.floor(next() * bytes.length);
          bytes[at] = pick(next, [10, 13, 9, 44, 34, 92, 46, Math.floor(next() * 256)]);
        }
      }
      try {
        for (const fields of decodeChunks(options, columns, cut(next, bytes))) {
          expect(fields.length, `seed ${seed}`).toBe(columns.length);
        }
      } catch (error) {
        if (!(error instanceof CopyDataError)) throw new Error(`seed ${seed}: ${String(error)}`);
        expect(error.line, `seed ${seed}`).toBeGreaterThan(0);
        expect(['22P04', '22021', '54000'], `seed ${seed}`).toContain(error.sqlstate);
      }
    }
  });
});
