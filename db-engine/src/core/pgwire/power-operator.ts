/**
 * PostgreSQL's exponentiation operator `a ^ b`, which SQLite lacks (`unrecognized token: "^"`), as
 * `power(a, b)` (the kernel's, src/kernel/postgres-functions.ts: 2201F for a complex result). `^`
 * binds tighter than `*` and `/` and from the left (`2 ^ 3 ^ 2` is 64), and looser than a unary sign
 * (`-2 ^ 2` is 4): its operands are a primary with its casts (operands.ts), each after any unary
 * signs. An operand this scanner cannot tell leaves the statement as written.
 *
 * Pure code over the lexer's tokens (sql.ts, with the jsonb operators).
 */
import {
  endsOperand,
  previousSignificant,
  primaryStart,
  rightOperand,
  withOperatorCall,
} from './operands.js';
import type { Token } from './sql.js';

/** The start of `^`'s left operand: the primary before it and any unary signs before that. */
function leftStart(tokens: readonly Token[], operator: number): number {
  let start = primaryStart(tokens, previousSignificant(tokens, operator));
  while (start >= 0) {
    const sign = previousSignificant(tokens, start);
    const token = tokens[sign];
    if (token?.kind !== 'punctuation' || (token.text !== '-' && token.text !== '+')) return start;
    if (endsOperand(tokens[previousSignificant(tokens, sign)])) return start; // binary, not a sign
    start = sign;
  }
  return -1;
}

/** The statement with each binary `^` made a call of power(); as it is when it has none. */
export function withPowerOperator(tokens: readonly Token[]): readonly Token[] {
  if (!tokens.some((token) => token.kind === 'punctuation' && token.text === '^')) return tokens;
  let out: Token[] = [...tokens];
  for (let index = 0; index < out.length; index++) {
    const token = out[index] as Token;
    if (token.kind !== 'punctuation' || token.text !== '^') continue;
    if (!endsOperand(out[previousSignificant(out, index)])) continue;
    const left = leftStart(out, index);
    const right = rightOperand(out, index);
    if (left < 0 || right === null) continue;
    const rewritten = withOperatorCall(out, 'power', left, index, right);
    out = rewritten.tokens;
    index = rewritten.last;
  }
  return out;
}
