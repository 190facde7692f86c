/**
 * PostgreSQL's jsonb operators SQLite lacks, as calls of the functions the kernel registers under
 * PostgreSQL's names (src/kernel/jsonb-functions.ts):
 *
 *     a @> b    jsonb_contains(a, b)          a ? k     jsonb_exists(a, k)
 *     a <@ b    jsonb_contained(a, b)         a ?| ks   jsonb_exists_any(a, ks)
 *     a #> p    northlight_json_path(a, p)    a ?& ks   jsonb_exists_all(a, ks)
 *     a #>> p   northlight_json_path_text(a, p)
 *     a #- p    jsonb_delete_path(a, p)
 *     a @? p    jsonb_path_exists_opr(a, p)   a @@ p    jsonb_path_match_opr(a, p)   (jsonpath: errors
 *                                             of the data suppressed, as the operators do)
 *     a || b    jsonb_concat(a, b)            where an operand is cast to jsonb
 *     a || b    northlight_json_concat(a, b)  where an operand may be JSON otherwise: a `::json` cast,
 *                                             an object or array literal, a call that builds JSON, a
 *                                             parameter (`data || $1`)
 *     a - k     jsonb_delete(a, k)            where `a` is cast to jsonb, or `k` a string literal
 *                                             PostgreSQL could subtract from nothing else (no number,
 *                                             date, time or interval)
 *
 * (`->` and `->>` are SQLite's own.) Without those signs `||` stays SQLite's text concatenation and
 * `-` its subtraction: what a column holds is known only when the statement runs. A `||` with a JSON
 * operand concatenates as jsonb when both values are JSON, and as text otherwise, so `name || '{}'`
 * still gives text. Each operator's two characters must be adjacent, as PostgreSQL
 * reads them. Its operands are found as PostgreSQL's grammar gives them (operands.ts): the right one a
 * primary with its casts (`'{"a": 1}'::jsonb`, `$1`, `ARRAY…` aside); the left one a primary too, or a
 * chain of the operators of the same precedence before it, which bind from the left (`data -> 'tags'
 * ? 'x'` is `(data -> 'tags') ? 'x'`; an earlier operator of this module is a call by then). An
 * operator whose operands this scanner cannot tell gets 42601, naming the function to call instead,
 * rather than SQLite's `unrecognized token`.
 *
 * Pure code over the lexer's tokens, before PostgreSQL's other forms are rewritten (sql.ts).
 */
import {
  endsOperand,
  previousSignificant,
  primaryStart,
  rightOperand,
  withOperatorCall,
} from './operands.js';
import { PgSqlError, type Token } from './sql.js';

interface JsonbOperator {
  readonly text: string;
  readonly call: string;
}

/** By their characters; the longer of two that share a start first. */
const OPERATORS: readonly JsonbOperator[] = [
  { text: '@?', call: 'jsonb_path_exists_opr' },
  { text: '@@', call: 'jsonb_path_match_opr' },
  { text: '@>', call: 'jsonb_contains' },
  { text: '<@', call: 'jsonb_contained' },
  { text: '?|', call: 'jsonb_exists_any' },
  { text: '?&', call: 'jsonb_exists_all' },
  { text: '?', call: 'jsonb_exists' },
  { text: '#>>', call: 'northlight_json_path_text' },
  { text: '#>', call: 'northlight_json_path' },
  { text: '#-', call: 'jsonb_delete_path' },
];

/** `||` where an operand is JSON: concatenated as jsonb when both values are JSON (jsonb-functions.ts). */
const CONCAT: JsonbOperator = { text: '||', call: 'northlight_json_concat' };
/** `||` where an operand is cast to jsonb: jsonb's concatenation, whatever the values. */
const CONCAT_JSONB: JsonbOperator = { text: '||', call: 'jsonb_concat' };
/** `-` whose operands can only be jsonb and a key or index (see `isJsonbMinus`). */
const MINUS: JsonbOperator = { text: '-', call: 'jsonb_delete' };

/** Calls that give JSON: an operand that is one shows `||` is jsonb's. */
const JSON_CALLS = new Set([
  'JSONB_BUILD_OBJECT',
  'JSON_BUILD_OBJECT',
  'JSONB_BUILD_ARRAY',
  'JSON_BUILD_ARRAY',
  'TO_JSONB',
  'TO_JSON',
  'JSON_OBJECT',
  'JSON_ARRAY',
  'JSONB_SET',
  'JSONB_CONCAT',
  'JSONB_DELETE',
  'JSONB_DELETE_PATH',
  'NORTHLIGHT_JSON_CONCAT',
  'NORTHLIGHT_JSON_PATH',
  'JSONB_EXTRACT_PATH',
]);

/**
 * Values a `-` of a string can be subtracting in PostgreSQL other than a jsonb key: a number, a date
 * or a time (`'2026-01-01'`), an interval (`'1 day'`, `'P1D'`, `'@ 1 hour'`), a special timestamp.
 */
const NOT_A_KEY = /^\s*([-+]?[\d.]|[pP]\d|@|(-?infinity|epoch|now|today|tomorrow|yesterday|allballs)\s*$)/i;

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

/**
 * How the tokens [start, end) show they are JSON (see `jsonConcatAt`): `cast` to jsonb, a `value`
 * that is or may be (a JSON object or array literal, a cast to json, a call that builds JSON, a
 * parameter), or not at all.
 */
function jsonEvidence(tokens: readonly Token[], start: number, end: number): 'cast' | 'value' | undefined {
  const significant = tokens
    .slice(start, end)
    .filter((token) => token.kind !== 'space' && token.kind !== 'comment');
  const last = significant.at(-1);
  const castTo = significant.at(-2)?.kind === 'cast' ? (last?.text.toUpperCase() ?? '') : '';
  if (castTo === 'JSONB') return 'cast';
  if (castTo === 'JSON') return 'value';
  const first = significant[0];
  // A parameter: PostgreSQL types it from the other operand (`data || $1`, jsonb when data is).
  if (significant.length === 1 && first?.kind === 'parameter') return 'value';
  if (significant.length === 1 && first?.kind === 'string') {
    const text = (first.value ?? '').trim();
    if (!text.startsWith('{') && !text.startsWith('[')) return undefined;
    try {
      JSON.parse(text);
      return 'value';
    } catch {
      return undefined;
    }
  }
  const builds =
    first?.kind === 'identifier' &&
    JSON_CALLS.has(first.text.toUpperCase()) &&
    significant[1]?.text === '(' &&
    last?.text === ')';
  return builds ? 'value' : undefined;
}

/** `||` (two adjacent `|`) at `index` with an operand that is JSON: jsonb's concatenation. */
function jsonConcatAt(tokens: readonly Token[], index: number): JsonbOperator | undefined {
  if (!spells(tokens, index, '||') || spells(tokens, index + 2, '|')) return undefined;
  const left = leftOperandStart(tokens, index);
  const right = rightOperand(tokens, index + 1);
  if (left < 0 || right === null) return undefined; // SQLite's || as written
  const evidence = [
    jsonEvidence(tokens, left, previousSignificant(tokens, index) + 1),
    jsonEvidence(tokens, right.start, right.end),
  ];
  if (evidence.includes('cast')) return CONCAT_JSONB;
  return evidence.includes('value') ? CONCAT : undefined;
}

/**
 * A binary `-` at `index` that can only be jsonb's delete: its left operand is cast to jsonb, or its
 * right one is a string literal that is no number, date, time or interval (PostgreSQL subtracts a
 * string from nothing but those and jsonb).
 */
function jsonbMinusAt(tokens: readonly Token[], index: number): JsonbOperator | undefined {
  const token = tokens[index];
  if (token?.kind !== 'punctuation' || token.text !== '-' || tokens[index + 1]?.text === '>')
    return undefined;
  if (tokens[index - 1]?.text === '#') return undefined;
  if (!endsOperand(tokens[previousSignificant(tokens, index)])) return undefined; // a sign
  const left = leftOperandStart(tokens, index);
  const right = rightOperand(tokens, index);
  if (left < 0 || right === null) return undefined;
  const leftTokens = tokens
    .slice(left, previousSignificant(tokens, index) + 1)
    .filter((t) => t.kind !== 'space');
  const castTo = leftTokens.at(-2)?.kind === 'cast' ? (leftTokens.at(-1)?.text.toUpperCase() ?? '') : '';
  if (castTo === 'JSONB') return MINUS;
  const rightTokens = tokens.slice(right.start, right.end).filter((t) => t.kind !== 'space');
  const key =
    rightTokens.length === 1 && rightTokens[0]?.kind === 'string' ? (rightTokens[0].value ?? '') : undefined;
  return key !== undefined && !NOT_A_KEY.test(key) && key.trim() !== '' ? MINUS : undefined;
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
  if (!tokens.some((token) => token.kind === 'punctuation' && '@?#|-'.includes(token.text))) return tokens;
  let out: Token[] = [...tokens];
  for (let index = 0; index < out.length; index++) {
    const operator = operatorAt(out, index) ?? jsonConcatAt(out, index) ?? jsonbMinusAt(out, index);
    if (operator === undefined) continue;
    // With nothing that ends an operand before it, it is no binary operator (`LIMIT ?`, SQLite's
    // placeholder in SQL that reaches SQLite as written): left as it is.
    if (!endsOperand(out[previousSignificant(out, index)])) continue;
    const left = leftOperandStart(out, index);
    const right = rightOperand(out, index + operator.text.length - 1);
    if (left < 0 || right === null) throw unreadable(operator);
    const rewritten = withOperatorCall(out, operator.call, left, index, right);
    out = rewritten.tokens;
    index = rewritten.last;
  }
  return out;
}
