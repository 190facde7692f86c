/** constraintFields (src/core/pgwire/error-fields.ts): the table and column of an integrity violation. */
import { describe, expect, it } from 'vitest';
import { constraintFields } from '../../src/core/pgwire/error-fields.js';

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

  it('adds nothing it cannot read', () => {
    expect(constraintFields('23503', 'FOREIGN KEY constraint failed')).toEqual({});
    expect(constraintFields('23514', 'CHECK constraint failed: positive')).toEqual({});
    expect(constraintFields('23505', 'duplicate key')).toEqual({});
    expect(constraintFields('42P01', 'no such table: users.email')).toEqual({});
    expect(constraintFields('23502', 'NOT NULL constraint failed: nodot')).toEqual({});
  });
});
