/**
 * PostgreSQL array literals read as JSON (src/core/pg-array.ts), what `x = ANY($1)` with a
 * node-postgres array parameter relies on: elements, quoting, NULL, nesting, and malformed text
 * refused as PostgreSQL refuses it.
 */
import { describe, expect, it } from 'vitest';
import { pgArrayToJson } from '../../src/core/pg-array.js';

describe('pgArrayToJson', () => {
  it('reads elements, quoted strings with escapes, NULL and nested arrays', () => {
    expect(pgArrayToJson('{1,2,3}')).toBe('[1,2,3]');
    expect(pgArrayToJson(' { 1 , -2.5 , .5, 5., 1e3 } ')).toBe('[1,-2.5,0.5,5,1e3]');
    expect(pgArrayToJson('{"a b","say \\"hi\\"","back\\\\slash",NULL,null,"NULL",x}')).toBe(
      '["a b","say \\"hi\\"","back\\\\slash",null,null,"NULL","x"]',
    );
    expect(pgArrayToJson('{{1,2},{3,4}}')).toBe('[[1,2],[3,4]]');
    expect(pgArrayToJson('{}')).toBe('[]');
    expect(JSON.parse(pgArrayToJson('{"ünï","{}",","}') as string)).toEqual(['ünï', '{}', ',']);
  });

  it('refuses malformed literals', () => {
    for (const bad of ['', '1,2', '{1,2', '{1,,2}', '{"a}', '{1} x', '{{{{{{{1}}}}}}}', '{1 2"x"}']) {
      expect(pgArrayToJson(bad), bad).toBeInstanceOf(Error);
    }
    expect(String(pgArrayToJson('{1'))).toMatch(/^Error: malformed array literal: "\{1"/);
  });
});
