// PostgreSQL's SQL/JSON path language (kernel/jsonpath.ts) through the functions the kernel
// registers (jsonb-functions.ts). Each case: a document, a path, and PostgreSQL 15.18's answer — the
// items as jsonb_agg(jsonb_path_query(…)), jsonb_path_query_first, and jsonb_path_exists(…, silent),
// tab-separated (an error: its message).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSONB_FUNCTIONS } from '../../src/kernel/jsonb-functions.js';
import { JsonPathError, parseJsonPath, queryJsonPath } from '../../src/kernel/jsonpath.js';
import type { SqlScalar } from '../../src/kernel/postgres-functions.js';

const call = (name: string, ...args: SqlScalar[]): SqlScalar => {
  const definition = JSONB_FUNCTIONS.find((candidate) => candidate.name === name);
  if (definition === undefined) throw new Error(`no function ${name}`);
  return definition.call(args);
};

const POSTGRES_ANSWERS: readonly (readonly [string, string, string])[] = [
  ['{"a":[1,2,{"b":3}]}', '$.a[2].b', '[3]\t3\ttrue'],
  ['{"a":[1,2]}', 'lax $.a.x', 'false'],
  ['{"a":[1,2,3]}', '$.a[*] ? (@ > 1)', '[2, 3]\t2\ttrue'],
  ['{"a":[1,2,3]}', '$.a ? (@ >= 2)', '[2, 3]\t2\ttrue'],
  ['{"a":[{"b":1},{"b":2}]}', '$.a.b', '[1, 2]\t1\ttrue'],
  ['{"a":[{"b":1},{"b":2}]}', '$.a[*].b', '[1, 2]\t1\ttrue'],
  ['{"a":[1,2,3,4,5]}', '$.a[1 to 3]', '[2, 3, 4]\t2\ttrue'],
  ['{"a":[1,2,3,4,5]}', '$.a[last]', '[5]\t5\ttrue'],
  ['{"a":[1,2,3,4,5]}', '$.a[last - 1, 0]', '[4, 1]\t4\ttrue'],
  ['{"a":{"x":1,"y":[2,3]}}', '$.a.*', '[1, [2, 3]]\t1\ttrue'],
  [
    '{"a":{"x":1,"y":[2,3]}}',
    '$.**',
    '[{"a": {"x": 1, "y": [2, 3]}}, {"x": 1, "y": [2, 3]}, 1, [2, 3], 2, 3]\t{"a": {"x": 1, "y": [2, 3]}}\ttrue',
  ],
  ['{"a":5}', '$.a + 2 * 3', '[11]\t11\ttrue'],
  ['{"a":5}', '-$.a', '[-5]\t-5\ttrue'],
  ['{"a":"abc"}', '$.a.type()', '["string"]\t"string"\ttrue'],
  ['{"a":[1,2]}', '$.a.size()', '[2]\t2\ttrue'],
  ['{"a":-2.5}', '$.a.abs()', '[2.5]\t2.5\ttrue'],
  ['{"a":2.5}', '$.a.floor()', '[2]\t2\ttrue'],
  ['{"a":2.5}', '$.a.ceiling()', '[3]\t3\ttrue'],
  ['{"a":"1.5"}', '$.a.double()', '[1.5]\t1.5\ttrue'],
  ['{"a":1}', '$.a == 1', '[true]\ttrue\ttrue'],
  ['{"a":1}', '$.a == "1"', '[null]\tnull\ttrue'],
  ['{"a":null}', '$.a == null', '[true]\ttrue\ttrue'],
  ['{"a":null}', '$.a < 1', '[false]\tfalse\ttrue'],
  ['{"a":"hello"}', '$.a like_regex "^h.l"', '[true]\ttrue\ttrue'],
  ['{"a":"Hello"}', '$.a like_regex "^h" flag "i"', '[true]\ttrue\ttrue'],
  ['{"a":"hello"}', '$.a starts with "he"', '[true]\ttrue\ttrue'],
  ['{"a":[1,"x",null]}', '$.a[*] ? (@ == "x")', '["x"]\t"x"\ttrue'],
  ['{"a":[1,2]}', 'exists($.a[5])', '[false]\tfalse\ttrue'],
  ['{"a":[1,2]}', 'strict $.a[5]', 'ERROR ERROR:  jsonpath array subscript is out of bounds'],
  ['{"a":1}', 'strict $.b', 'ERROR ERROR:  JSON object does not contain key "b"'],
  ['{"a":{"b":"c"}}', '$."a"."b"', '["c"]\t"c"\ttrue'],
  ['{"a b":1}', '$."a b"', '[1]\t1\ttrue'],
  ['{"p":[{"n":"x","v":1},{"n":"y","v":2}]}', '$.p[*] ? (@.n == "y").v', '[2]\t2\ttrue'],
  ['{"p":[{"n":"x","v":1},{"n":"y","v":2}]}', '$.p ? (@.v > 1 && @.n starts with "y").n', '["y"]\t"y"\ttrue'],
  ['{"p":[{"n":"x","v":1},{"n":"y","v":2}]}', '$.p ? (!(@.v > 1) || @.n == "q").n', '["x"]\t"x"\ttrue'],
  ['{"a":[1,2,3]}', '$.a[*] ? ((@ > 1) is unknown)', 'false'],
  ['{"a":[1,"2",3]}', '$.a[*] ? (@ > 1)', '[3]\t3\ttrue'],
  ['"s"', '$', '["s"]\t"s"\ttrue'],
  ['[1,[2,[3]]]', '$[*][*]', '[1, 2, [3]]\t1\ttrue'],
  [
    '[1,[2,[3]]]',
    'strict $[*][*]',
    'ERROR ERROR:  jsonpath wildcard array accessor can only be applied to an array',
  ],
  ['{"a":1}', '$.a[0]', '[1]\t1\ttrue'],
  ['{"a":1}', 'strict $.a[0]', 'ERROR ERROR:  jsonpath array accessor can only be applied to an array'],
];

describe('jsonpath', () => {
  it.each(POSTGRES_ANSWERS)("%s %s → PostgreSQL 15's answer", (document, path, expected) => {
    let got: string;
    try {
      const items = queryJsonPath(parseJsonPath(path), JSON.parse(document));
      const all = items.length === 0 ? '' : String(call('jsonb_path_query_array', document, path));
      const first = call('jsonb_path_query_first', document, path) ?? '';
      const exists = call('jsonb_path_exists', document, path, '{}', 1) === 1 ? 'true' : 'false';
      got = `${all}\t${first}\t${exists}`.trim();
    } catch (error) {
      got = `ERROR ERROR:  ${(error as Error).message}`;
    }
    expect(got).toBe(expected);
  });

  it('lax mode goes through one level of array only, as PostgreSQL does', () => {
    expect(call('jsonb_path_query_array', '[[{"a":1}], {"a":2}]', '$.a')).toBe('[2]');
    expect(call('jsonb_path_query_array', '[[1,2],[3]]', '$.type()')).toBe('["array"]');
    expect(call('jsonb_path_query_array', '[[1,2],[3]]', '$ ? (@ > 1)')).toBe('[[1, 2], [3]]');
    expect(call('jsonb_path_query_array', '[[1,2],[3]]', '$.*')).toBe('[]');
    expect(call('jsonb_path_query_array', '{"a":[1,2]}', '-$.a')).toBe('[-1, -2]');
    expect(() => call('jsonb_path_query_array', '[-1,[-2]]', '$.abs()')).toThrow(
      'jsonpath item method .abs() can only be applied to a numeric value',
    );
  });

  it('takes variables, and silent suppresses errors of the data only', () => {
    expect(
      call(
        'jsonb_path_query_array',
        '{"a":[1,2,3]}',
        '$.a[*] ? (@ >= $min && @ < $"max")',
        '{"min":2,"max":3}',
      ),
    ).toBe('[2]');
    expect(() => call('jsonb_path_query_first', '{"a":1}', '$.a + $x')).toThrow(
      'could not find jsonpath variable "x"',
    );
    expect(() => call('jsonb_path_exists', '{"a":1}', 'strict $.b')).toThrow(
      'JSON object does not contain key "b"',
    );
    expect(call('jsonb_path_exists', '{"a":1}', 'strict $.b', '{}', 'true')).toBeNull();
    expect(() => call('jsonb_path_exists', '{"a":1}', '$.a +', '{}', 'true')).toThrow(
      'syntax error at end of jsonpath input',
    );
    expect(() => call('jsonb_path_query_first', '{"a":1}', '$.a.datetime()')).toThrow(/not supported/);
    expect(call('jsonb_path_query_first', null, '$')).toBeNull();
  });

  it("jsonb_path_match and the operators @? and @@ (silent, as PostgreSQL's)", () => {
    expect(call('jsonb_path_match', '{"a":1}', '$.a == 1')).toBe(1);
    expect(call('jsonb_path_match', '{"a":1}', '$.a == "x"')).toBeNull();
    expect(() => call('jsonb_path_match', '{"a":1}', '$.a')).toThrow('single boolean result is expected');
    expect(call('jsonb_path_match_opr', '{"a":1}', '$.a')).toBeNull();
    expect(call('jsonb_path_exists_opr', '{"a":[1,2]}', '$.a[*] ? (@ > 1)')).toBe(1);
    expect(call('jsonb_path_exists_opr', '{"a":1}', 'strict $.b')).toBeNull();
  });

  it('numbers are doubles (PostgreSQL: numeric), and keyvalue ids are 0', () => {
    expect(call('jsonb_path_query_first', '{"a":5}', '$.a / 2')).toBe('2.5');
    expect(call('jsonb_path_query_first', '{"a":{"x":1}}', '$.a.keyvalue()')).toBe(
      '{"id": 0, "key": "x", "value": 1}',
    );
  });

  it('never fails but with a typed error, on any path and document (fuzz)', () => {
    const pieces = fc.constantFrom(
      '$',
      '@',
      '.',
      'a',
      '"b"',
      '[',
      ']',
      '*',
      '**',
      '(',
      ')',
      '?',
      '1',
      '-',
      '+',
      '/',
      '==',
      '<',
      '&&',
      '||',
      '!',
      'last',
      'to',
      ',',
      'exists',
      'like_regex',
      '"x"',
      'starts',
      'with',
      'is',
      'unknown',
      'strict',
      'lax',
      'size',
      'type',
      '$v',
      'true',
      'null',
    );
    const documents = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 14 }), documents, (parts, document) => {
        try {
          queryJsonPath(parseJsonPath(parts.join(' ')), document as never, { v: 1 });
        } catch (error) {
          if (!(error instanceof JsonPathError)) throw error;
        }
      }),
      { numRuns: Number(process.env.NL_JSONB_RUNS ?? 3_000) },
    );
  });

  it('a deep path is 54001, not a stack overflow', () => {
    expect(() => parseJsonPath(`${'('.repeat(500)}1${')'.repeat(500)}`)).toThrow(
      'stack depth limit exceeded',
    );
  });
});
