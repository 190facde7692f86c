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
import type { Token } from './sql.js';

export const NONZERO_FUNCTION = 'northlight_nonzero';
/** A dividend longer than this many tokens is not copied into its check (see `rewrite`). */
const DIVIDEND_TOKENS_MAX = 256;
/** The error `northlight_nonzero` raises (PostgreSQL's message; SQLSTATE 22012). */
export const DIVISION_BY_ZERO = 'division by zero';

const DML = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'WITH', 'VALUES']);
/** Words that end an operand or start a clause: never the start of a right operand. */
const NOT_AN_OPERAND = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'LIMIT',
  'OFFSET',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'AND',
  'OR',
  'NOT',
  'AS',
  'ON',
  'USING',
  'JOIN',
  'THEN',
  'ELSE',
  'WHEN',
  'END',
  'IS',
  'IN',
  'LIKE',
  'BETWEEN',
  'SET',
  'VALUES',
  'RETURNING',
  'INTO',
  'BY',
  'DISTINCT',
  'ALL',
  'ANY',
  'SOME',
  'EXISTS',
  'ESCAPE',
  'CASE',
]);

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon';
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index += 1;
  return index;
}

function word(token: Token | undefined): string {
  return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/** Whether `token` can end a left operand (so a `/` after it is the binary operator). */
function endsOperand(token: Token | undefined): boolean {
  if (token === undefined) return false;
  if (token.kind === 'punctuation') return token.text === ')' || token.text === ']';
  if (token.kind === 'identifier') return !NOT_AN_OPERAND.has(word(token));
  return (
    token.kind === 'number' ||
    token.kind === 'string' ||
    token.kind === 'parameter' ||
    token.kind === 'quoted-identifier'
  );
}

const CLOSING: Readonly<Record<string, string>> = { '(': ')', '[': ']' };

/** The index after the bracket group opening at `open` (`(` or `[`), or -1 when it does not close. */
function afterGroup(tokens: readonly Token[], open: number): number {
  const opening = (tokens[open] as Token).text;
  const closing = CLOSING[opening];
  if (closing === undefined) return -1;
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.kind !== 'punctuation') continue;
    if (token.text === opening) depth += 1;
    else if (token.text === closing) {
      depth -= 1;
      if (depth === 0) return index + 1;
    }
  }
  return -1;
}

/** The index after the CASE … END starting at `start` (nested CASEs counted), or -1. */
function afterCase(tokens: readonly Token[], start: number): number {
  let depth = 0;
  for (let index = start; index < tokens.length; index++) {
    const upper = word(tokens[index]);
    if (upper === 'CASE') depth += 1;
    else if (upper === 'END') {
      depth -= 1;
      if (depth === 0) return index + 1;
    }
  }
  return -1;
}

/** After a primary: its `::type[(n)][[]]`, `[i]` and `COLLATE name` postfixes. */
function afterPostfixes(tokens: readonly Token[], from: number): number {
  let end = from;
  for (;;) {
    const at = nextSignificant(tokens, end);
    const token = tokens[at];
    if (token?.kind === 'cast') {
      let name = nextSignificant(tokens, at + 1);
      if (tokens[name]?.kind !== 'identifier' && tokens[name]?.kind !== 'quoted-identifier') return end;
      // `double precision`, `character varying`, `timestamp with time zone`: words run on.
      let last = name;
      for (;;) {
        const next = nextSignificant(tokens, last + 1);
        const upper = word(tokens[next]);
        if (!['PRECISION', 'VARYING', 'WITH', 'WITHOUT', 'TIME', 'ZONE'].includes(upper)) break;
        last = next;
      }
      end = last + 1;
      name = nextSignificant(tokens, end);
      if (tokens[name]?.text === '(') {
        const after = afterGroup(tokens, name);
        if (after < 0) return -1;
        end = after;
      }
      continue;
    }
    if (token?.kind === 'punctuation' && token.text === '[') {
      const after = afterGroup(tokens, at);
      if (after < 0) return -1;
      end = after;
      continue;
    }
    if (word(token) === 'COLLATE') {
      const name = nextSignificant(tokens, at + 1);
      if (tokens[name]?.kind !== 'identifier' && tokens[name]?.kind !== 'quoted-identifier') return end;
      end = name + 1;
      continue;
    }
    return end;
  }
}

/**
 * The right operand of the `/` or `%` at `operator`: [start, end) over `tokens`, or null when it is
 * not one this scanner recognises.
 */
function rightOperand(tokens: readonly Token[], operator: number): { start: number; end: number } | null {
  const start = nextSignificant(tokens, operator + 1);
  let at = start;
  while (tokens[at]?.kind === 'punctuation' && ['-', '+', '~'].includes((tokens[at] as Token).text))
    at = nextSignificant(tokens, at + 1);
  const token = tokens[at];
  if (token === undefined) return null;
  let end: number;
  if (token.kind === 'number' || token.kind === 'string' || token.kind === 'parameter') end = at + 1;
  else if (token.kind === 'punctuation' && token.text === '(') end = afterGroup(tokens, at);
  else if (token.kind === 'identifier' && word(token) === 'CASE') end = afterCase(tokens, at);
  else if (token.kind === 'identifier' || token.kind === 'quoted-identifier') {
    if (NOT_AN_OPERAND.has(word(token))) return null;
    end = at + 1;
    // A dotted name (`t.c`, `s.t.c`), or a call (`f(…)`, `count(*)`, `CAST(x AS int)`).
    for (;;) {
      const next = nextSignificant(tokens, end);
      if (tokens[next]?.text === '.' && tokens[next]?.kind === 'punctuation') {
        const name = nextSignificant(tokens, next + 1);
        const kind = tokens[name]?.kind;
        if (kind !== 'identifier' && kind !== 'quoted-identifier') return null;
        end = name + 1;
        continue;
      }
      if (tokens[next]?.text === '(' && tokens[next]?.kind === 'punctuation') {
        end = afterGroup(tokens, next);
        if (end < 0) return null;
        // A window or a filter after an aggregate: `sum(x) OVER (…)`, `lag(x) OVER w`,
        // `count(*) FILTER (WHERE …)`.
        const after = nextSignificant(tokens, end);
        if (['OVER', 'FILTER'].includes(word(tokens[after]))) {
          const group = nextSignificant(tokens, after + 1);
          if (word(tokens[after]) === 'OVER' && tokens[group]?.kind === 'identifier') end = group + 1;
          else if (tokens[group]?.text !== '(') return null;
          else end = afterGroup(tokens, group);
        }
      }
      break;
    }
  } else return null;
  if (end < 0) return null;
  end = afterPostfixes(tokens, end);
  return end < 0 ? null : { start, end };
}

function previousSignificant(tokens: readonly Token[], before: number): number {
  let index = before - 1;
  while (index >= 0 && !isSignificant(tokens[index] as Token)) index -= 1;
  return index;
}

/** The index of the bracket opening the group that closes at `close` (`)` or `]`), or -1. */
function groupStart(tokens: readonly Token[], close: number): number {
  const closing = (tokens[close] as Token).text;
  const opening = closing === ')' ? '(' : '[';
  let depth = 0;
  for (let index = close; index >= 0; index--) {
    const token = tokens[index] as Token;
    if (token.kind !== 'punctuation') continue;
    if (token.text === closing) depth += 1;
    else if (token.text === opening) {
      depth -= 1;
      if (depth === 0) return index;
    }
  }
  return -1;
}

/** The index of the CASE whose END is at `end` (nested CASEs counted), or -1. */
function caseStart(tokens: readonly Token[], end: number): number {
  let depth = 0;
  for (let index = end; index >= 0; index--) {
    const upper = word(tokens[index]);
    if (upper === 'END') depth += 1;
    else if (upper === 'CASE') {
      depth -= 1;
      if (depth === 0) return index;
    }
  }
  return -1;
}

/**
 * The start of the primary (with its postfixes) whose last token is at `last`. -1 when it is not one
 * this scanner recognises.
 */
function primaryStart(tokens: readonly Token[], last: number): number {
  let at = last;
  for (;;) {
    const token = tokens[at];
    if (token === undefined) return -1;
    let start: number;
    if (token.kind === 'punctuation' && (token.text === ')' || token.text === ']')) {
      start = groupStart(tokens, at);
      if (start < 0) return -1;
      // A call's or a cast type's name before its parentheses; OVER/FILTER after a call.
      const before = previousSignificant(tokens, start);
      const name = tokens[before];
      if (['OVER', 'FILTER'].includes(word(name))) {
        at = previousSignificant(tokens, before);
        continue;
      }
      if (
        (name?.kind === 'identifier' && !NOT_AN_OPERAND.has(word(name))) ||
        name?.kind === 'quoted-identifier'
      )
        start = before;
    } else if (word(token) === 'END') {
      start = caseStart(tokens, at);
      if (start < 0) return -1;
    } else if (
      token.kind === 'number' ||
      token.kind === 'string' ||
      token.kind === 'parameter' ||
      token.kind === 'quoted-identifier' ||
      (token.kind === 'identifier' && !NOT_AN_OPERAND.has(word(token)))
    ) {
      start = at;
    } else return -1;
    // A dotted name (`t.c`), or a postfix this was the end of (`x::type`, `x COLLATE c`, `x[1]`).
    for (;;) {
      const before = previousSignificant(tokens, start);
      const link = tokens[before];
      if (link?.kind === 'punctuation' && link.text === '.') {
        const name = previousSignificant(tokens, before);
        if (tokens[name]?.kind !== 'identifier' && tokens[name]?.kind !== 'quoted-identifier') return -1;
        start = name;
        continue;
      }
      break;
    }
    const before = previousSignificant(tokens, start);
    const link = tokens[before];
    if (link?.kind === 'cast' || word(link) === 'COLLATE') {
      at = previousSignificant(tokens, before);
      continue;
    }
    // A named window (`lag(x) OVER w`): the call before OVER is the primary.
    if (word(link) === 'OVER') {
      at = previousSignificant(tokens, before);
      continue;
    }
    // Two names in a row (`x::double precision`, an alias): not a primary this scanner can tell.
    if (link?.kind === 'identifier' && !NOT_AN_OPERAND.has(word(link))) return -1;
    if (link?.kind === 'quoted-identifier') return -1;
    return start;
  }
}

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
