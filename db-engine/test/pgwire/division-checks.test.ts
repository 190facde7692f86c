// Division by zero as PostgreSQL has it (src/core/pgwire/division-checks.ts), as a property: random
// integer expressions over literals, NULL and columns, with + - * / % and unary minus, printed with
// only the parentheses PostgreSQL's precedence needs, are translated and run on SQLite (with the
// engine's northlight_nonzero, as the SQLite test backend registers it) and must give exactly what a
// reference evaluator with PostgreSQL's rules gives: the same integer, NULL where an operand is NULL
// (division is strict: NULL / 0 is NULL), and "division by zero" (22012) where a non-NULL dividend
// meets a zero divisor. Any operand the rewrite took wrongly (a precedence slip, a lost factor) shows
// as another value or a missing or extra error.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenize, translate } from '../../src/core/pgwire/sql.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';

type Expr =
  | { readonly kind: 'literal'; readonly value: bigint | null }
  | { readonly kind: 'column'; readonly name: 'a' | 'b' | 'z' | 'n' }
  | { readonly kind: 'negate'; readonly operand: Expr }
  | {
      readonly kind: 'binary';
      readonly op: '+' | '-' | '*' | '/' | '%';
      readonly left: Expr;
      readonly right: Expr;
    };

/** The row every expression reads: a = 7, b = -3, z = 0, n = NULL. */
const ROW: Readonly<Record<string, bigint | null>> = { a: 7n, b: -3n, z: 0n, n: null };

class DivisionByZero extends Error {}

/** PostgreSQL's integer semantics: strict operators, truncating division, 22012 on a zero divisor. */
function evaluate(expr: Expr): bigint | null {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'column':
      return ROW[expr.name] ?? null;
    case 'negate': {
      const value = evaluate(expr.operand);
      return value === null ? null : -value;
    }
    case 'binary': {
      // PostgreSQL evaluates both sides; a NULL on either makes the result NULL without a check.
      const left = evaluate(expr.left);
      const right = evaluate(expr.right);
      if (left === null || right === null) return null;
      switch (expr.op) {
        case '+':
          return left + right;
        case '-':
          return left - right;
        case '*':
          return left * right;
        case '/':
          if (right === 0n) throw new DivisionByZero();
          return left / right; // BigInt division truncates toward zero, as PostgreSQL's int8div
        case '%':
          if (right === 0n) throw new DivisionByZero();
          return left % right; // the sign of the dividend, as PostgreSQL's int8mod
      }
    }
  }
}

const PRECEDENCE = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2 } as const;

/** SQL for `expr` with the parentheses PostgreSQL's grammar needs, and no others. */
function print(expr: Expr): string {
  switch (expr.kind) {
    case 'literal':
      return expr.value === null ? 'NULL' : expr.value < 0n ? `(${expr.value})` : String(expr.value);
    case 'column':
      return expr.name;
    case 'negate': {
      const inner = print(expr.operand);
      return expr.operand.kind === 'binary' || inner.startsWith('-') ? `-(${inner})` : `-${inner}`;
    }
    case 'binary': {
      const level = PRECEDENCE[expr.op];
      const side = (child: Expr, right: boolean) => {
        const text = print(child);
        if (child.kind !== 'binary') return text;
        const childLevel = PRECEDENCE[child.op];
        // Left-associative: a right operand of the same level needs parentheses.
        return childLevel < level || (right && childLevel === level) ? `(${text})` : text;
      };
      return `${side(expr.left, false)} ${expr.op} ${side(expr.right, true)}`;
    }
  }
}

const expression: fc.Arbitrary<Expr> = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(
      fc.constantFrom<bigint | null>(0n, 1n, 2n, 3n, null).map((value): Expr => ({ kind: 'literal', value })),
      fc
        .constantFrom<'a' | 'b' | 'z' | 'n'>('a', 'b', 'z', 'n')
        .map((name): Expr => ({ kind: 'column', name })),
    ),
    tie('expr').map((operand): Expr => ({ kind: 'negate', operand })),
    fc
      .tuple(
        fc.constantFrom<'+' | '-' | '*' | '/' | '%'>('+', '-', '*', '/', '/', '%'),
        tie('expr'),
        tie('expr'),
      )
      .map(([op, left, right]): Expr => ({ kind: 'binary', op, left, right })),
  ),
})).expr;

describe('division by zero against PostgreSQL semantics (property)', () => {
  const backend = new SqliteTestBackend();
  backend.database.exec('CREATE TABLE r (a INTEGER, b INTEGER, z INTEGER, n INTEGER)');
  backend.database.exec('INSERT INTO r VALUES (7, -3, 0, NULL)');
  afterAll(() => backend.close());

  it('gives the value, the NULL or the 22012 PostgreSQL gives, for 3,000 random expressions', () => {
    fc.assert(
      fc.property(expression, (expr) => {
        const sql = `SELECT ${print(expr)} AS v FROM r`;
        let expected: bigint | null | 'division by zero';
        try {
          expected = evaluate(expr);
        } catch (error) {
          if (!(error instanceof DivisionByZero)) throw error;
          expected = 'division by zero';
        }
        // Stay within 64 bits: SQLite turns an overflow into a float, PostgreSQL into 22003.
        if (typeof expected === 'bigint' && (expected > 2n ** 62n || expected < -(2n ** 62n))) return;
        const translated = translate(tokenize(sql), {
          serverVersion: '15.0',
          database: 'd',
          user: 'u',
          processId: 1,
        });
        let actual: bigint | null | 'division by zero';
        try {
          const row = backend.database.prepare(translated.sql).all({})[0] as { v: bigint | number | null };
          actual = row.v === null ? null : BigInt(row.v);
        } catch (error) {
          actual =
            (error as Error).message === 'division by zero'
              ? 'division by zero'
              : (`${(error as Error).message}` as never);
        }
        expect(actual, `${sql}\n→ ${translated.sql}`).toEqual(expected);
      }),
      {
        numRuns: Number(process.env.NL_DIVISION_FUZZ_RUNS ?? 3_000),
        seed: Number(process.env.NL_DIVISION_FUZZ_SEED ?? 20_261_127),
      },
    );
  });
});
