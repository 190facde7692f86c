/**
 * PostgreSQL's jsonb operators SQLite lacks, as calls of the functions the kernel registers under
 * PostgreSQL's names (src/kernel/jsonb-functions.ts):
 *
 *     a @> b    jsonb_contains(a, b)          a ? k     jsonb_exists(a, k)
 *     a <@ b    jsonb_contained(a, b)         a ?| ks   jsonb_exists_any(a, ks)
 *     a #> p    northlight_json_path(a, p)    a ?& ks   jsonb_exists_all(a, ks)
 *     a #>> p   northlight_json_path_text(a, p)
 *
 * (`->` and `->>` are SQLite's own.) Each operator's two characters must be adjacent, as PostgreSQL
 * reads them. Its operands are found as PostgreSQL's grammar gives them (operands.ts): the right one a
 * primary with its casts (`'{"a": 1}'::jsonb`, `$1`, `ARRAY…` aside); the left one a primary too, or a
 * chain of the operators of the same precedence before it, which bind from the left (`data -> 'tags'
 * ? 'x'` is `(data -> 'tags') ? 'x'`; an earlier operator of this module is a call by then). An
 * operator whose operands this scanner cannot tell gets 42601, naming the function to call instead,
 * rather than SQLite's `unrecognized token`.
 *
 * Pure code over the lexer's tokens, before PostgreSQL's other forms are rewritten (sql.ts).
 */
import { endsOperand, previousSignificant, primaryStart, rightOperand } from './operands.js';
import { wholeSelectItem } from './postgres-forms.js';
import { PgSqlError, type Token } from './sql.js';

interface JsonbOperator {
  readonly text: string;
  readonly call: string;
}

/** By their characters; the longer of two that share a start first. */
const OPERATORS: readonly JsonbOperator[] = [
  { text: '@>', call: 'jsonb_contains' },
  { text: '<@', call: 'jsonb_contained' },
  { text: '?|', call: 'jsonb_exists_any' },
  { text: '?&', call: 'jsonb_exists_all' },
  { text: '?', call: 'jsonb_exists' },
  { text: '#>>', call: 'northlight_json_path_text' },
  { text: '#>', call: 'northlight_json_path' },
];

/** Operators of the same precedence SQLite keeps, a left operand may be a chain of (`a -> 'b'`). */
const CHAIN_OPERATORS = ['->>', '->', '||'];

/** The operator of this module whose first character is at `index`, if any. */
function operatorAt(tokens: readonly Token[], index: number): JsonbOperator | undefined {
  const first = tokens[index];
  if (first?.kind !== 'punctuation' || !'@<?#'.includes(first.text)) return undefined;
  return OPERATORS.find((operator) => spells(tokens, index, operator.text));
}

/** Whether the adjacent punctuation tokens from `index` spell `text`. */
function spells(tokens: readonly Token[], index: number, text: string): boolean {
  for (let offset = 0; offset < text.length; offset++) {
    const token = tokens[index + offset];
    if (token?.kind !== 'punctuation' || token.text !== text[offset]) return false;
  }
  return true;
}

/**
 * The start of the left operand of the operator at `operator`: the primary before it, and the chain
 * of `->`, `->>` and `||` operands before that. -1 when a part is not one the scanner recognises.
 */
function leftOperandStart(tokens: readonly Token[], operator: number): number {
  let start = primaryStart(tokens, previousSignificant(tokens, operator));
  while (start >= 0) {
    const last = previousSignificant(tokens, start);
    const chained = CHAIN_OPERATORS.find(
      (text) => last - text.length + 1 >= 0 && spells(tokens, last - text.length + 1, text),
    );
    if (chained === undefined) return start;
    const before = previousSignificant(tokens, last - chained.length + 1);
    if (!endsOperand(tokens[before])) return start;
    start = primaryStart(tokens, before);
  }
  return -1;
}

function unreadable(operator: JsonbOperator): PgSqlError {
  return new PgSqlError(
    '42601',
    `could not tell the operands of the jsonb operator ${operator.text}`,
    `Parenthesize its operands, or call ${operator.call}(a, b) instead.`,
  );
}

/** The statement with each jsonb operator of this module made a call; as it is when it has none. */
export function withJsonbOperators(tokens: readonly Token[]): readonly Token[] {
  if (!tokens.some((token) => token.kind === 'punctuation' && '@?#'.includes(token.text))) return tokens;
  let out: Token[] = [...tokens];
  for (let index = 0; index < out.length; index++) {
    const operator = operatorAt(out, index);
    if (operator === undefined) continue;
    const left = leftOperandStart(out, index);
    const right = rightOperand(out, index + operator.text.length - 1);
    if (left < 0 || right === null) throw unreadable(operator);
    const call: Token[] = [
      { kind: 'identifier', text: operator.call },
      { kind: 'punctuation', text: '(' },
      ...out.slice(left, previousSignificant(out, index) + 1),
      { kind: 'punctuation', text: ',' },
      ...out.slice(right.start, right.end),
      { kind: 'punctuation', text: ')' },
      // A whole select item without an alias is named as PostgreSQL names an operator's: ?column?.
      ...(wholeSelectItem(out.slice(0, left), out, right.end)
        ? [
            { kind: 'space', text: ' ' } as const,
            { kind: 'identifier', text: 'AS' } as const,
            { kind: 'space', text: ' ' } as const,
            { kind: 'quoted-identifier', text: '"?column?"' } as const,
          ]
        : []),
    ];
    out = [...out.slice(0, left), ...call, ...out.slice(right.end)];
    index = left + call.length - 1;
  }
  return out;
}
