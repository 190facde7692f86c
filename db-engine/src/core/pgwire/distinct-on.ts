/**
 * PostgreSQL's `SELECT DISTINCT ON (keys) items FROM … ORDER BY …`: the first row of each group of
 * equal keys, in the ORDER BY's order (the "latest row per customer" idiom). SQLite has no DISTINCT
 * ON, so the query becomes a window over the same rows:
 *
 *     SELECT _nl_0 AS "a", _nl_1 AS "b" FROM (
 *       SELECT a AS _nl_0, b AS _nl_1, <order expr> AS _nl_o0, …,
 *              row_number() OVER (PARTITION BY keys ORDER BY <order items>) AS _nl_rn
 *       FROM … WHERE … GROUP BY … HAVING …
 *     ) WHERE _nl_rn = 1 ORDER BY _nl_o0 …  LIMIT …
 *
 * The result columns keep PostgreSQL's names (an alias, a column's name, a function's name, else
 * `?column?`). An ORDER BY or key that names a select-list alias or position (`ORDER BY total`,
 * `ORDER BY 2`) stands for that item's expression. A `*` in the select list cannot be carried
 * through the subquery without its hidden columns, and DISTINCT ON in a UNION branch is not read:
 * both get 0A000 with a hint.
 *
 * Only the statement's first top-level SELECT (a plain query, or a WITH query's main SELECT). Pure
 * code over the lexer's tokens.
 */
import { isSignificant, PgSqlError, type Token, tokenize, word } from './sql.js';

const SELECT_END = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'WINDOW', 'ORDER', 'LIMIT', 'OFFSET']);
const ORDER_END = new Set(['LIMIT', 'OFFSET', 'FETCH', 'FOR']);
const SET_OPERATIONS = new Set(['UNION', 'INTERSECT', 'EXCEPT']);

export function withDistinctOn(tokens: readonly Token[]): readonly Token[] {
  if (!tokens.some((token) => word(token) === 'DISTINCT')) return tokens;
  let out = tokens;
  // Innermost last: each pass rewrites the first DISTINCT ON it finds, in a subquery or not.
  for (let pass = 0; pass < 16; pass++) {
    const found = nextDistinctOn(out);
    if (found === null) return out;
    const rewritten = distinctOnQuery(out.slice(found.start, found.end));
    out = [...out.slice(0, found.start), ...rewritten, ...out.slice(found.end)];
  }
  return out;
}

/**
 * The first `SELECT DISTINCT ON` (at any depth): from its SELECT to the end of its query (the `)`
 * closing the parentheses it is in, or the end).
 */
function nextDistinctOn(tokens: readonly Token[]): { start: number; end: number } | null {
  const depthAt: number[] = [];
  let depth = 0;
  for (const token of tokens) {
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    depthAt.push(depth);
  }
  for (let index = 0; index < tokens.length; index++) {
    if (word(tokens[index]) !== 'SELECT') continue;
    const distinct = nextSignificant(tokens, index + 1);
    const on = nextSignificant(tokens, distinct + 1);
    if (word(tokens[distinct]) !== 'DISTINCT' || word(tokens[on]) !== 'ON') continue;
    const level = depthAt[index] as number;
    let end = index + 1;
    while (end < tokens.length && !(tokens[end]?.text === ')' && (depthAt[end] as number) < level)) end++;
    // A WITH at the top stays before the SELECT: the query starts at the statement's start.
    const start = level === 0 ? 0 : index;
    return { start, end };
  }
  return null;
}

function distinctOnQuery(tokens: readonly Token[]): readonly Token[] {
  const select = topLevelSelect(tokens);
  if (select === -1) return tokens;
  const distinct = nextSignificant(tokens, select + 1);
  const on = nextSignificant(tokens, distinct + 1);
  const open = nextSignificant(tokens, on + 1);
  if (word(tokens[distinct]) !== 'DISTINCT' || word(tokens[on]) !== 'ON' || tokens[open]?.text !== '(')
    return tokens;
  const close = matching(tokens, open);
  if (close === -1) return tokens;
  for (const token of tokens.slice(close))
    if (SET_OPERATIONS.has(word(token)))
      throw refusal(
        'DISTINCT ON in a UNION, INTERSECT or EXCEPT',
        'Put the DISTINCT ON query in a subquery.',
      );
  const keys = splitTopLevel(tokens.slice(open + 1, close));
  // The select list, then the body (FROM … HAVING), the ORDER BY list and the tail (LIMIT …).
  const listEnd = findTopLevel(tokens, close + 1, (token) => SELECT_END.has(word(token)));
  const items = splitTopLevel(tokens.slice(close + 1, listEnd)).map(selectItem);
  if (items.some((item) => item.star))
    throw refusal(
      'DISTINCT ON with * in the select list',
      'Name the columns: SELECT DISTINCT ON (k) k, a, b FROM …',
    );
  const orderAt = findTopLevel(
    tokens,
    listEnd,
    (token, index) => word(token) === 'ORDER' && word(tokens[nextSignificant(tokens, index + 1)]) === 'BY',
  );
  const bodyEnd = orderAt;
  const orderListStart = orderAt < tokens.length ? nextSignificant(tokens, orderAt + 1) + 1 : tokens.length;
  const tailAt = findTopLevel(tokens, orderListStart, (token) => ORDER_END.has(word(token)));
  const orderItems =
    orderAt < tokens.length ? splitTopLevel(tokens.slice(orderListStart, tailAt)).map(orderItem) : [];
  const resolve = (expression: Token[]): string => {
    const significant = expression.filter(isSignificant);
    const only = significant[0];
    if (significant.length === 1 && only !== undefined) {
      if (only.kind === 'number' && /^\d+$/.test(only.text)) {
        const item = items[Number(only.text) - 1];
        if (item === undefined)
          throw new PgSqlError('42P10', `ORDER BY position ${only.text} is not in select list`);
        return item.expression;
      }
      if (only.kind === 'identifier' || only.kind === 'quoted-identifier') {
        const name = nameOf(only);
        const aliased = items.find((item) => item.alias === name);
        if (aliased !== undefined) return aliased.expression;
      }
    }
    return text(expression).trim();
  };
  const keyTexts = keys.map(resolve);
  // As PostgreSQL: the ORDER BY, if any, must start with the keys (in any order among them).
  const leading = orderItems.slice(0, keyTexts.length).map((item) => resolve(item.expression));
  if (
    orderItems.length > 0 &&
    (leading.length < keyTexts.length || leading.some((text) => !keyTexts.includes(text)))
  )
    throw new PgSqlError('42P10', 'SELECT DISTINCT ON expressions must match initial ORDER BY expressions');
  const partition = keyTexts.join(', ');
  const windowOrder = orderItems.map((item) => `${resolve(item.expression)}${item.suffix}`).join(', ');
  const hidden = orderItems.map((item, index) => `${resolve(item.expression)} AS _nl_o${index}`);
  const inner = [
    ...items.map((item, index) => `${item.expression} AS _nl_${index}`),
    ...hidden,
    `row_number() OVER (PARTITION BY ${partition}${windowOrder === '' ? '' : ` ORDER BY ${windowOrder}`}) AS _nl_rn`,
  ].join(', ');
  const outer = items.map((item, index) => `_nl_${index} AS ${quoted(item.name)}`).join(', ');
  const outerOrder = orderItems.map((item, index) => `_nl_o${index}${item.suffix}`).join(', ');
  const head = text(tokens.slice(0, select));
  const sql =
    `${head}SELECT ${outer} FROM (SELECT ${inner} ${text(tokens.slice(listEnd, bodyEnd)).trim()}) WHERE _nl_rn = 1` +
    `${outerOrder === '' ? '' : ` ORDER BY ${outerOrder}`} ${text(tokens.slice(tailAt)).trim()}`;
  return tokenize(sql.trimEnd());
}

interface SelectItem {
  readonly expression: string;
  readonly alias: string | null;
  readonly name: string;
  readonly star: boolean;
}

function selectItem(tokens: Token[]): SelectItem {
  const at = tokens.flatMap((token, index) => (isSignificant(token) ? [index] : []));
  const significant = at.map((index) => tokens[index] as Token);
  const star =
    significant.at(-1)?.text === '*' && (significant.length === 1 || significant.at(-2)?.text === '.');
  let bodyEnd = tokens.length;
  let alias: string | null = null;
  const last = significant.at(-1);
  const beforeLast = significant.at(-2);
  if (last !== undefined && (last.kind === 'identifier' || last.kind === 'quoted-identifier')) {
    if (word(beforeLast) === 'AS') {
      alias = nameOf(last);
      bodyEnd = at.at(-2) as number;
    } else if (
      beforeLast !== undefined &&
      (['identifier', 'quoted-identifier', 'number', 'string', 'parameter'].includes(beforeLast.kind) ||
        beforeLast.text === ')') &&
      !['NULL', 'TRUE', 'FALSE', 'END'].includes(word(last)) &&
      !['AS', 'IS', 'NOT', 'AND', 'OR'].includes(word(beforeLast))
    ) {
      alias = nameOf(last);
      bodyEnd = at.at(-1) as number;
    }
  }
  const body = tokens.slice(0, bodyEnd);
  return {
    expression: text(body).trim(),
    alias,
    name: alias ?? postgresName(body.filter(isSignificant)),
    star,
  };
}

/** PostgreSQL's name for an unaliased item: a column's, a function's, else `?column?`. */
function postgresName(body: readonly Token[]): string {
  const last = body.at(-1);
  const isName = (token: Token | undefined) =>
    token?.kind === 'identifier' || token?.kind === 'quoted-identifier';
  if (body.length === 1 && isName(last)) return nameOf(last as Token);
  if (body.length === 3 && isName(body[0]) && body[1]?.text === '.' && isName(last))
    return nameOf(last as Token);
  if (isName(body[0]) && body[1]?.text === '(' && matching(body, 1) === body.length - 1)
    return nameOf(body[0] as Token);
  if (word(body[0]) === 'CASE' && word(last) === 'END') return 'case';
  return '?column?';
}

interface OrderItem {
  readonly expression: Token[];
  /** ` DESC`, ` ASC NULLS FIRST`, `` … as written after the expression. */
  readonly suffix: string;
}

function orderItem(tokens: Token[]): OrderItem {
  const at = findTopLevel(tokens, 0, (token) => ['ASC', 'DESC', 'NULLS', 'COLLATE'].includes(word(token)));
  const suffix = tokens
    .slice(at)
    .filter(isSignificant)
    .map((token) => token.text)
    .join(' ');
  return { expression: tokens.slice(0, at), suffix: suffix === '' ? '' : ` ${suffix}` };
}

function refusal(what: string, hint: string): PgSqlError {
  return new PgSqlError('0A000', `${what} is not supported by northlight`, hint);
}

function nameOf(token: Token): string {
  return token.kind === 'quoted-identifier'
    ? token.text.slice(1, -1).replaceAll('""', '"')
    : token.text.toLowerCase();
}

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function text(tokens: readonly Token[]): string {
  // A line comment would swallow what the rewrite puts after it on one line.
  return tokens.map((token) => (token.kind === 'comment' ? ' ' : token.text)).join('');
}

/** The first SELECT at depth 0 of a query (plain or WITH), or -1. */
function topLevelSelect(tokens: readonly Token[]): number {
  const first = word(tokens.find(isSignificant));
  if (first !== 'SELECT' && first !== 'WITH') return -1;
  return findTopLevel(tokens, 0, (token) => word(token) === 'SELECT', -1);
}

/** The first index at depth 0 (relative to `from`) where `test` holds; `notFound` (tokens.length) if none. */
function findTopLevel(
  tokens: readonly Token[],
  from: number,
  test: (token: Token, index: number) => boolean,
  notFound = tokens.length,
): number {
  let depth = 0;
  for (let index = from; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (depth === 0 && test(token, index)) return index;
  }
  return notFound;
}

function splitTopLevel(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    if (depth === 0 && token.text === ',') parts.push([]);
    else (parts.at(-1) as Token[]).push(token);
  }
  return parts.filter((part) => part.some(isSignificant));
}

function matching(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    if (tokens[index]?.text === '(') depth++;
    else if (tokens[index]?.text === ')' && --depth === 0) return index;
  }
  return -1;
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index++;
  return index;
}
