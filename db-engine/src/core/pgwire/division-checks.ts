/**
 * Division by zero is an error in PostgreSQL (22012, "division by zero") and NULL in SQLite. A
 * client that divides by a count, a sum or a parameter that happens to be zero must not get a silent
 * NULL where PostgreSQL would have stopped it, so in a statement that reads or writes data (SELECT,
 * INSERT, UPDATE, DELETE, WITH, VALUES) the right operand of every `/` and `%` is wrapped in
 * `northlight_nonzero(divisor, dividend)` (src/kernel/sqlite-wasm.ts): it returns the divisor
 * unchanged, or fails with "division by zero" when it is numerically zero (0, 0.0, '0') and the
 * dividend is not NULL. NULL / 0 is NULL in PostgreSQL (its division is strict), so a NULL on either
 * side passes. The dividend is the run of factors joined by `*`, `/` and `%` just left of the operator
 * (`a * b` in `a * b / c`), copied as written and evaluated a second time for the check: when the
 * scanner cannot tell it, or it is longer than DIVIDEND_TOKENS_MAX tokens (a long chain), only the
 * divisor goes (`northlight_nonzero(d)`), and a NULL dividend over zero fails where PostgreSQL gives
 * NULL.
 *
 * Only DML and `CREATE TABLE … AS` (whose query runs once) are rewritten: other DDL (a view, a CHECK,
 * a DEFAULT, an index expression, a generated column) keeps SQLite's division, because its text is
 * kept in the schema, where a function of the engine's would bind every other reader of the file to
 * it (docs/clients.md). The declared-types probe reads the check as its divisor (declared-types.ts).
 *
 * The right operand is what PostgreSQL's grammar gives `/` and `%`: any unary `+ - ~`, then one
 * primary (a literal, a parameter, a name or dotted name, a function call, a parenthesized
 * expression or subquery, CASE … END, CAST(…)), then its postfixes (`::type`, `[i]`, COLLATE name).
 * Anything else (an operand this scanner does not recognise) is left as written: SQLite's NULL, never a
 * wrong rewrite. A non-zero number literal is not wrapped (`x / 2` needs no check).
 *
 * Pure code over the lexer's tokens.
 */
import {
  endsOperand,
  isSignificant,
  NOT_AN_OPERAND,
  previousSignificant,
  primaryStart,
  rightOperand,
  word,
} from './operands.js';
import type { Token } from './sql.js';

export const NONZERO_FUNCTION = 'northlight_nonzero';
/** A dividend longer than this many tokens is not copied into its check (see `rewrite`). */
const DIVIDEND_TOKENS_MAX = 256;
/** The error `northlight_nonzero` raises (PostgreSQL's message; SQLSTATE 22012). */
export const DIVISION_BY_ZERO = 'division by zero';

const DML = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'WITH', 'VALUES']);
/**
 * The start of the left operand of the `/` or `%` at `operator`: the run of factors joined by `*`,
 * `/` and `%` just before it (`a * b` in `a * b / c`, `sum(x)` in `x + sum(x) / n`), since those bind
 * alike and from the left. Its NULL makes the quotient NULL in PostgreSQL whatever the divisor. -1 when
 * a factor is not one this scanner recognises.
 */
function leftOperandStart(tokens: readonly Token[], operator: number): number {
  let start = primaryStart(tokens, previousSignificant(tokens, operator));
  while (start >= 0) {
    const joint = previousSignificant(tokens, start);
    const token = tokens[joint];
    // A unary sign binds tighter than * / %: `-b` is one factor (`a * -b / c`).
    if (
      token?.kind === 'punctuation' &&
      ['-', '+', '~'].includes(token.text) &&
      !endsOperand(tokens[previousSignificant(tokens, joint)])
    ) {
      start = joint;
      continue;
    }
    if (token?.kind !== 'punctuation' || !['*', '/', '%'].includes(token.text)) return start;
    const before = previousSignificant(tokens, joint);
    if (!endsOperand(tokens[before])) return start;
    start = primaryStart(tokens, before);
  }
  return -1;
}

/** A number literal that is not zero (`2`, `1.5e3`): dividing by it needs no check. */
function isNonZeroNumber(tokens: readonly Token[], range: { start: number; end: number }): boolean {
  const significant = tokens.slice(range.start, range.end).filter(isSignificant);
  if (significant.length !== 1 || significant[0]?.kind !== 'number') return false;
  const value = Number(significant[0].text);
  return Number.isFinite(value) && value !== 0;
}

/**
 * `CREATE [TEMP[ORARY]] TABLE [IF NOT EXISTS] name AS SELECT | WITH | VALUES …`: its query runs once
 * and is not kept in the schema, so it is checked like DML.
 */
function isCreateTableAs(tokens: readonly Token[]): boolean {
  const words = tokens.filter(isSignificant).slice(0, 12);
  if (word(words[0]) !== 'CREATE') return false;
  let at = 1;
  if (['TEMP', 'TEMPORARY'].includes(word(words[at]))) at += 1;
  if (word(words[at]) !== 'TABLE') return false;
  for (let index = at + 1; index < words.length - 1; index++) {
    if (words[index]?.text === '(') return false; // a column list: CREATE TABLE t (…)
    if (word(words[index]) === 'AS') return ['SELECT', 'WITH', 'VALUES'].includes(word(words[index + 1]));
  }
  return false;
}

/** The statement with the right operand of each `/` and `%` checked, when it is DML; else as it is. */
export function withDivisionChecks(tokens: readonly Token[]): readonly Token[] {
  const first = tokens.find(isSignificant);
  if (!DML.has(word(first)) && !isCreateTableAs(tokens)) return tokens;
  if (!tokens.some((token) => token.kind === 'punctuation' && (token.text === '/' || token.text === '%')))
    return tokens;
  return rewrite(tokens);
}

/** Where a select list is being read, at one depth of parentheses. */
interface Frame {
  inSelectList: boolean;
  /** Index in `out` where the current select item starts. */
  itemStart: number;
  /** The current item had a division checked (its name would show the check). */
  itemChecked: boolean;
  /** Plain parentheses around an expression (not a call's arguments, not a subquery). */
  plain: boolean;
}

const SELECT_LIST_END = new Set([
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'FETCH',
  'FOR',
  'ON',
  'WINDOW',
  'INTO',
  'UNION',
  'EXCEPT',
  'INTERSECT',
]);

/** Whether the FROM at `index` is the end of `IS [NOT] DISTINCT FROM`, not a clause. */
function isDistinctFrom(tokens: readonly Token[], index: number): boolean {
  if (word(tokens[index]) !== 'FROM') return false;
  const distinct = previousSignificant(tokens, index);
  if (word(tokens[distinct]) !== 'DISTINCT') return false;
  let before = previousSignificant(tokens, distinct);
  if (word(tokens[before]) === 'NOT') before = previousSignificant(tokens, before);
  return word(tokens[before]) === 'IS';
}

/** An item with a top-level `::type`: the translation names it after the type, as PostgreSQL does. */
function namedByCast(item: readonly Token[]): boolean {
  let depth = 0;
  for (const token of item) {
    if (token.kind === 'punctuation' && token.text === '(') depth += 1;
    else if (token.kind === 'punctuation' && token.text === ')') depth -= 1;
    else if (depth === 0 && token.kind === 'cast') return true;
  }
  return false;
}

/**
 * Whether the select item `item` (significant tokens, as emitted) names itself: `… AS x`, or an
 * implicit alias after a complete operand (`a / b total`).
 */
function hasAlias(item: readonly Token[]): boolean {
  const significant = item.filter(isSignificant);
  let depth = 0;
  for (const token of significant) {
    if (token.kind === 'punctuation' && token.text === '(') depth += 1;
    else if (token.kind === 'punctuation' && token.text === ')') depth -= 1;
    else if (depth === 0 && word(token) === 'AS') return true;
  }
  const last = significant.at(-1);
  const before = significant.at(-2);
  return (
    (last?.kind === 'identifier' || last?.kind === 'quoted-identifier') &&
    !NOT_AN_OPERAND.has(word(last)) &&
    endsOperand(before)
  );
}

/**
 * The statement with each division's right operand checked. A select item whose division was checked
 * and that has no alias is named `?column?`, as PostgreSQL names it, rather than after the check's text.
 */
function rewrite(tokens: readonly Token[]): Token[] {
  const out: Token[] = [];
  const frames: Frame[] = [{ inSelectList: false, itemStart: 0, itemChecked: false, plain: false }];
  const closeItem = (frame: Frame) => {
    const item = out.slice(frame.itemStart);
    if (frame.inSelectList && frame.itemChecked && !hasAlias(item) && !namedByCast(item)) {
      // Right after the item's last significant token: a trailing `-- comment` must not swallow it.
      let end = out.length;
      while (end > frame.itemStart && !isSignificant(out[end - 1] as Token)) end -= 1;
      out.splice(
        end,
        0,
        { kind: 'space', text: ' ' },
        { kind: 'identifier', text: 'AS' },
        { kind: 'space', text: ' ' },
        { kind: 'quoted-identifier', text: '"?column?"' },
        { kind: 'space', text: ' ' },
      );
    }
    frame.itemChecked = false;
  };
  let previous: Token | undefined;
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    const frame = frames.at(-1) as Frame;
    const upper = word(token);
    if (token.kind === 'punctuation' && token.text === '(') {
      // After a name it opens a call's arguments (`f(`), after OVER a window; otherwise an expression.
      const plain = !endsOperand(previous) && !['OVER', 'FILTER'].includes(word(previous));
      frames.push({ inSelectList: false, itemStart: 0, itemChecked: false, plain });
    } else if (token.kind === 'punctuation' && token.text === ')' && frames.length > 1) {
      const checked = frame.itemChecked;
      closeItem(frame);
      frames.pop();
      // `(a / b)` is named as `a / b` would be: the check shows through plain parentheses.
      if (frame.plain && checked) (frames.at(-1) as Frame).itemChecked = true;
    } else if (upper === 'SELECT' || upper === 'RETURNING') {
      if (frame.inSelectList) closeItem(frame);
      frame.plain = false;
      frame.inSelectList = true;
      frame.itemStart = out.length + 1;
      frame.itemChecked = false;
    } else if (
      frame.inSelectList &&
      ((SELECT_LIST_END.has(upper) && !isDistinctFrom(tokens, index)) || token.kind === 'semicolon')
    ) {
      closeItem(frame);
      frame.inSelectList = false;
    } else if (frame.inSelectList && token.kind === 'punctuation' && token.text === ',') {
      closeItem(frame);
      frame.itemStart = out.length + 1;
    }
    const isDivision = token.kind === 'punctuation' && (token.text === '/' || token.text === '%');
    const operand = isDivision && endsOperand(previous) ? rightOperand(tokens, index) : null;
    if (operand === null || isNonZeroNumber(tokens, operand)) {
      out.push(token);
      if (isSignificant(token)) previous = token;
      index += 1;
      continue;
    }
    // The operand itself may hold divisions (`a / (b / c)`, `a / f(b % c)`): checked too. The left
    // operand goes along, so that a NULL there gives NULL, as in PostgreSQL.
    const inner = rewrite(tokens.slice(operand.start, operand.end));
    const leftStart = leftOperandStart(tokens, index);
    // The dividend goes in as written, its own divisions unchecked: it is there for its NULL only, and
    // where a division inside it would fail, the dividend itself (checked) fails anyway. Checking the
    // copy too would copy dividends into dividends, exponentially in a chain (`a / b / c / …`).
    const dividend = leftStart < 0 ? [] : tokens.slice(leftStart, previousSignificant(tokens, index) + 1);
    // Each check of a chain (`a / b / c / …`) copies all that precedes it: past a bound the divisor
    // is checked alone, so a long chain grows the statement linearly, not quadratically.
    const left = dividend.length > DIVIDEND_TOKENS_MAX ? [] : dividend;
    out.push(
      token,
      { kind: 'space', text: ' ' },
      { kind: 'identifier', text: NONZERO_FUNCTION },
      { kind: 'punctuation', text: '(' },
      ...inner,
      ...(left.length === 0
        ? []
        : [{ kind: 'punctuation' as const, text: ',' }, { kind: 'space' as const, text: ' ' }, ...left]),
      { kind: 'punctuation', text: ')' },
    );
    frame.itemChecked = true;
    previous = { kind: 'punctuation', text: ')' };
    index = operand.end;
  }
  closeItem(frames[0] as Frame);
  return out;
}
