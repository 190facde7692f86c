// Properties of the kernel's jsonb functions (src/kernel/jsonb-functions.ts), over random JSON and
// random text: every function answers or fails with a PostgresFunctionError (which the session turns
// into PostgreSQL's SQLSTATE), never anything else; containment is reflexive and agrees with
// concatenation; what jsonb_set puts at a path, the path operators read back; jsonb text reads back as
// the value it writes. The answers PostgreSQL 15 gives for fixed cases are in
// test/pgwire/jsonb-operators.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSONB_FUNCTIONS, jsonbConcat, jsonbContains, jsonbText } from '../../src/kernel/jsonb-functions.js';
import { PostgresFunctionError, type SqlScalar } from '../../src/kernel/postgres-functions.js';

const RUNS = Number(process.env.NL_JSONB_RUNS ?? 300);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON values whose numbers survive a round trip through text (what a column holds). */
const json: fc.Arbitrary<Json> = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as Json);
const smallKey = fc.constantFrom('a', 'b', 'c', 'tags', '0', '1', '');

function call(name: string, args: readonly SqlScalar[]): SqlScalar {
  const definition = JSONB_FUNCTIONS.find((candidate) => candidate.name === name);
  if (definition === undefined) throw new Error(`no function ${name}`);
  return definition.call(args);
}

describe('the jsonb functions', () => {
  it('answer or fail with a PostgresFunctionError for any arguments (property)', () => {
    const argument: fc.Arbitrary<SqlScalar> = fc.oneof(
      fc.string({ maxLength: 40 }),
      json.map((value) => JSON.stringify(value)),
      fc.constantFrom('{a,b}', '{0,-1}', '{}', '{NULL}', '{"a b",c}', '{{a}}', '{', 'null'),
      fc.integer({ min: -5, max: 5 }),
      fc.constant(null),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...JSONB_FUNCTIONS),
        fc.array(argument, { minLength: 1, maxLength: 5 }),
        (definition, args) => {
          const fitting = args.slice(0, Math.max(...definition.arities));
          if (!definition.arities.includes(fitting.length)) return;
          try {
            const result = definition.call(fitting);
            expect(result === null || typeof result === 'string' || typeof result === 'number').toBe(true);
          } catch (error) {
            if (!(error instanceof PostgresFunctionError)) throw error;
          }
        },
      ),
      { numRuns: RUNS * 10 },
    );
  });

  it('fail with 54001 on a document nested deeper than the stack allows, as PostgreSQL does', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    for (const name of ['jsonb_contains', 'jsonb_strip_nulls', 'jsonb_concat']) {
      const args = name === 'jsonb_strip_nulls' ? [deep] : [deep, deep];
      expect(() => call(name, args)).toThrow(PostgresFunctionError);
    }
  });

  it('containment is reflexive, and each side of a concatenation of objects or arrays is contained in it', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(jsonbContains(a, a)).toBe(true);
        const bothObjects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object';
        if (bothObjects && Array.isArray(a) && Array.isArray(b)) {
          const joined = jsonbConcat(a, b);
          expect(jsonbContains(joined, a)).toBe(true);
          expect(jsonbContains(joined, b)).toBe(true);
        }
        if (bothObjects && !Array.isArray(a) && !Array.isArray(b)) {
          // The right side wins a shared key: it is contained whole, the left only where not shadowed.
          expect(jsonbContains(jsonbConcat(a, b), b)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('jsonb text reads back as the value, and the SQL functions agree with the pure ones', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(JSON.parse(jsonbText(a))).toEqual(a);
        const text = (value: Json) => JSON.stringify(value);
        expect(call('jsonb_contains', [text(a), text(b)])).toBe(jsonbContains(a, b) ? 1 : 0);
        expect(call('jsonb_contained', [text(b), text(a)])).toBe(jsonbContains(a, b) ? 1 : 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('what jsonb_set puts at a key, #> and jsonb_extract_path read back; #- takes it away', () => {
    fc.assert(
      fc.property(
        fc.dictionary(smallKey, json, { maxKeys: 4 }),
        smallKey,
        smallKey,
        json,
        (document, outer, inner, value) => {
          const nested = { ...document, [outer]: { [inner]: 1 } };
          const path = `{"${outer}","${inner}"}`;
          const set = call('jsonb_set', [JSON.stringify(nested), path, JSON.stringify(value)]) as string;
          expect(JSON.parse(call('northlight_json_path', [set, path]) as string)).toEqual(value);
          expect(JSON.parse(call('jsonb_extract_path', [set, outer, inner]) as string)).toEqual(value);
          const removed = JSON.parse(call('jsonb_delete_path', [set, path]) as string) as Record<
            string,
            Json
          >;
          expect(Object.hasOwn(removed[outer] as object, inner)).toBe(false);
          expect(call('jsonb_exists', [set, outer])).toBe(1);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
