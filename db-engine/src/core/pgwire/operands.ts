/**
 * Operands of binary operators in PostgreSQL's grammar, found over the lexer's tokens: what the
 * rewrites that wrap an operator and its operands in a call need (division-checks.ts: `/` and `%`;
 * jsonb-operators.ts: `@>`, `?`, `#>`…).
 *
 * A right operand is any unary `+ - ~`, then one primary (a literal, a parameter, a name or dotted
 * name, a function call with its OVER or FILTER, a parenthesized expression or subquery, CASE … END,
 * CAST(…)), then its postfixes (`::type`, `[i]`, COLLATE name); a primary found backwards from its
 * last token is the same. Anything else is "not one this scanner recognises": the callers then leave
 * the operator as written.
 *
 * Pure code.
 */
import { wholeSelectItem } from './postgres-forms.js';
import type { Token } from './sql.js';

/** Words that end an operand or start a clause: never the start of a right operand. */
export const NOT_AN_OPERAND: ReadonlySet<string> = new Set([
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
  'ILIKE',
  'GLOB',
  'REGEXP',
  'SIMILAR',
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

export function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon';
}

export function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index += 1;
  return index;
}

export function word(token: Token | undefined): string {
  return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/** Whether `token` can end a left operand (so a `/` or `-` after it is a binary operator). */
export function endsOperand(token: Token | undefined): boolean {
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
export function afterGroup(tokens: readonly Token[], open: number): number {
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
export function afterCase(tokens: readonly Token[], start: number): number {
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
export function afterPostfixes(tokens: readonly Token[], from: number): number {
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
 * The right operand of the binary operator whose last token is at `operator` (`/`, `%`, `@>`…):
 * [start, end) over `tokens`, or null when it is not one this scanner recognises.
 */
export function rightOperand(
  tokens: readonly Token[],
  operator: number,
): { start: number; end: number } | null {
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

export function previousSignificant(tokens: readonly Token[], before: number): number {
  let index = before - 1;
  while (index >= 0 && !isSignificant(tokens[index] as Token)) index -= 1;
  return index;
}

/** The index of the bracket opening the group that closes at `close` (`)` or `]`), or -1. */
export function groupStart(tokens: readonly Token[], close: number): number {
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
export function caseStart(tokens: readonly Token[], end: number): number {
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
export function primaryStart(tokens: readonly Token[], last: number): number {
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
 * `tokens` with the binary operator whose operands are [left, operator) and `right` made a call of
 * `name(left, right)`, and the index of the call's last token. A call that is a whole select item
 * without an alias is named as PostgreSQL names an operator's: ?column?.
 */
export function withOperatorCall(
  tokens: readonly Token[],
  name: string,
  left: number,
  operator: number,
  right: { readonly start: number; readonly end: number },
): { readonly tokens: Token[]; readonly last: number } {
  const named = wholeSelectItem(tokens.slice(0, left), tokens, right.end);
  const call: Token[] = [
    { kind: 'identifier', text: name },
    { kind: 'punctuation', text: '(' },
    ...tokens.slice(left, previousSignificant(tokens, operator) + 1),
    { kind: 'punctuation', text: ',' },
    ...tokens.slice(right.start, right.end),
    { kind: 'punctuation', text: ')' },
    ...(named
      ? ([
          { kind: 'space', text: ' ' },
          { kind: 'identifier', text: 'AS' },
          { kind: 'space', text: ' ' },
          { kind: 'quoted-identifier', text: '"?column?"' },
        ] as const)
      : []),
  ];
  return {
    tokens: [...tokens.slice(0, left), ...call, ...tokens.slice(right.end)],
    last: left + call.length - 1,
  };
}
