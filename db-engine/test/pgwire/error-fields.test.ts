/** constraintFields (src/core/pgwire/error-fields.ts): the table and column of an integrity violation. */
import { describe, expect, it } from 'vitest';
import { constraintFields, syntaxErrorPosition } from '../../src/core/pgwire/error-fields.js';

describe('constraintFields', () => {
  it('names the table of a unique violation and the column of a NOT NULL one, from SQLite’s message', () => {
    expect(constraintFields('23505', 'UNIQUE constraint failed: users.email')).toEqual({
      schema: 'public',
      table: 'users',
    });
    expect(constraintFields('23505', 'UNIQUE constraint failed: t.a, t.b')).toEqual({
      schema: 'public',
      table: 't',
    });
    expect(constraintFields('23502', 'NOT NULL constraint failed: Mixed Case.the col')).toEqual({
      schema: 'public',
      table: 'Mixed Case',
      column: 'the col',
    });
  });

  it("a foreign key's violation as the kernel words it: the referencing table and the constraint", () => {
    expect(
      constraintFields(
        '23503',
        'insert or update on table "fk child" violates foreign key constraint "FK_1"',
      ),
    ).toEqual({ schema: 'public', table: 'fk child', constraint: 'FK_1' });
    expect(
      constraintFields(
        '23503',
        'update or delete on table "p" violates foreign key constraint "c_p_fkey" on table "c"',
      ),
    ).toEqual({ schema: 'public', table: 'c', constraint: 'c_p_fkey' });
  });

  it('adds nothing it cannot read', () => {
    expect(constraintFields('23503', 'FOREIGN KEY constraint failed')).toEqual({});
    expect(constraintFields('23514', 'CHECK constraint failed: positive')).toEqual({});
    expect(constraintFields('23505', 'duplicate key')).toEqual({});
    expect(constraintFields('42P01', 'no such table: users.email')).toEqual({});
    expect(constraintFields('23502', 'NOT NULL constraint failed: nodot')).toEqual({});
  });
});

describe('syntaxErrorPosition', () => {
  it('places a syntax error at the one token SQLite names, or at the end of incomplete input', () => {
    expect(syntaxErrorPosition('42601', 'near "SELEC": syntax error', 'SELEC 1')).toBe(1);
    expect(syntaxErrorPosition('42601', 'near "form": syntax error', 'SELECT *\nFORM t')).toBe(10);
    expect(syntaxErrorPosition('42601', 'incomplete input', 'SELECT * FROM t WHERE  ')).toBe(22);
    // The token twice, inside a word, or not there at all: no position rather than a wrong one.
    expect(syntaxErrorPosition('42601', 'near "=": syntax error', 'SELECT 1 WHERE a = = 1')).toBeUndefined();
    expect(syntaxErrorPosition('42601', 'near "t": syntax error', 'SELECT t FORM t')).toBeUndefined();
    expect(syntaxErrorPosition('42601', 'near "?1": syntax error', 'SELECT $1 $2')).toBeUndefined();
    expect(syntaxErrorPosition('42601', 'near "ON": syntax error', 'SELECT ONE FROM t JOIN u ON')).toBe(26);
    // Other errors have none.
    expect(syntaxErrorPosition('42P01', 'no such table: t', 'SELECT * FROM t')).toBeUndefined();
  });
});
