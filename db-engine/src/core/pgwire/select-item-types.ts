/**
 * Booleans (and JSON) in a result, as PostgreSQL types them. SQLite has no boolean: `SELECT amount > 10 AS big`
 * gives 1 or 0, which the protocol typed int8, so psql printed `1` where PostgreSQL prints `t`, and
 * node-postgres gave the number 1 where an application tests `row.big === true`. A select-list item
 * whose outermost operator is a comparison or a logical one — `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`,
 * `LIKE` (ILIKE's translation), `GLOB`, `REGEXP` (`~`'s), `IN`, `IS`, `BETWEEN`, `AND`, `OR`, `NOT`,
 * `EXISTS` — or the literal `true` / `false`, can only give 1, 0 or NULL, and PostgreSQL types it
 * boolean. Such an item is typed `BOOLEAN` (the protocol then sends `t`/`f`, OID 16) and, when it
 * has no alias, named as PostgreSQL names it: `?column?` (`exists` for EXISTS (…)). A whole-item call
 * of `regexp_like`, `starts_with` or a jsonb containment or existence function (what `@>`, `?`… become),
 * and an item in parentheses, count too.
 *
 * The select list read is the statement's first at parenthesis depth 0 (a WITH query's main SELECT,
 * a UNION's first branch, whose names the result takes). Operators inside parentheses or a CASE do
 * not count (`(a = b) + 1` is a number); an item with an alias written without AS is left alone.
 *
 * An item that is one call of a function returning JSON text (SQLite's `json_object`, `json_array`,
 * `json_group_array`…, which PostgreSQL's `json_build_object`, `json_agg`… become) is typed `JSON`
 * the same way, so node-postgres parses it as it parses PostgreSQL's json.
 *
 * A CASE … END item without an alias is named `case`, as PostgreSQL names it (not typed).
 *
 * Pure code over the lexer's tokens (after postgres-forms.ts).
 */
import { isSignificant, type Token, tokenize, word } from './sql.js';

const BOOLEAN_KEYWORDS = new Set([
  'LIKE',
  'GLOB',
  'REGEXP',
  'MATCH',
  'IN',
  'IS',
  'BETWEEN',
  'AND',
  'OR',
  'NOT',
  'EXISTS',
]);
/** Words after which a name is an operand, not an alias (`c IS DISTINCT FROM d`, `… COLLATE nocase`). */
const KEYWORDS_BEFORE_OPERAND = new Set(['FROM', 'DISTINCT', 'COLLATE', 'ESCAPE', 'THEN', 'ELSE', 'WHEN']);
/** Functions that give PostgreSQL's boolean (1/0 here): a whole item calling one is typed bool. */
const BOOLEAN_FUNCTIONS = new Set([
  'REGEXP_LIKE',
  'STARTS_WITH',
  // jsonb's @>, <@, ?, ?| and ?& (jsonb-operators.ts), or called by name.
  'JSONB_CONTAINS',
  'JSONB_CONTAINED',
  'JSONB_EXISTS',
  'JSONB_EXISTS_ANY',
  'JSONB_EXISTS_ALL',
  // jsonpath's @? and @@, or called by name (src/kernel/jsonpath.ts).
  'JSONB_PATH_EXISTS',
  'JSONB_PATH_MATCH',
  'JSONB_PATH_EXISTS_OPR',
  'JSONB_PATH_MATCH_OPR',
]);
const COMPARISONS = new Set(['=', '==', '<>', '!=', '<', '<=', '>', '>=']);
const LIST_END = new Set([
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'WINDOW',
  'INTO',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'RETURNING',
  'ON',
]);

export interface SelectItemTypes {
  /** The tokens with `AS "?column?"` (or `AS bool`) after each boolean item that had no alias. */
  readonly tokens: readonly Token[];
  /** The result-column names of the boolean items. */
  readonly names: readonly string[];
  /**
   * Their result-column positions (0-based), for those with no `*` before them in the list (a `*`
   * stands for columns the translation cannot count): several may share the name `?column?`.
   */
  readonly positions: readonly number[];
  /** Items that are one call of a JSON-building function (`json_object(…)`, json_agg's translation): by alias. */
  readonly jsonNames: readonly string[];
  /** …and by position, as `positions`. */
  readonly jsonPositions: readonly number[];
}

/** SQLite's functions that return JSON text, which PostgreSQL's json/jsonb functions become (postgres-forms.ts). */
const JSON_FUNCTIONS = new Set([
  'JSON',
  'JSON_OBJECT',
  'JSON_ARRAY',
  'JSON_GROUP_ARRAY',
  'JSON_GROUP_OBJECT',
  'JSON_QUOTE',
  'JSON_INSERT',
  'JSON_REPLACE',
  'JSON_SET',
  'JSON_REMOVE',
  'JSON_PATCH',
  // jsonb's #>, ||, - and #- (jsonb-operators.ts) and PostgreSQL's functions of src/kernel/jsonb-functions.ts.
  // Not northlight_json_concat: it gives text when an operand is not JSON, and text such as `12` would
  // read as JSON.
  'NORTHLIGHT_JSON_PATH',
  'JSONB_EXTRACT_PATH',
  'JSON_EXTRACT_PATH',
  'JSONB_CONCAT',
  'JSONB_DELETE',
  'JSONB_DELETE_PATH',
  'JSONB_SET',
  'JSONB_INSERT',
  'JSONB_STRIP_NULLS',
  'JSONB_PATH_QUERY_ARRAY',
  'JSONB_PATH_QUERY_FIRST',
]);

export function withSelectItemTypes(tokens: readonly Token[]): SelectItemTypes {
  const select = firstTopLevelSelect(tokens);
  if (select === -1) return { tokens, names: [], positions: [], jsonNames: [], jsonPositions: [] };
  const names: string[] = [];
  const positions: number[] = [];
  const jsonNames: string[] = [];
  const jsonPositions: number[] = [];
  let ordinal = 0;
  let starSeen = false;
  const insertions = new Map<number, Token[]>();
  let start = select + 1;
  // SELECT DISTINCT / ALL.
  const first = nextSignificant(tokens, start);
  if (['DISTINCT', 'ALL'].includes(word(tokens[first]))) start = first + 1;
  let depth = 0;
  let index = start;
  let itemStart = start;
  for (; index <= tokens.length; index++) {
    const token = tokens[index];
    const atEnd =
      token === undefined ||
      token.kind === 'semicolon' ||
      (depth === 0 &&
        (token.text === ',' ||
          (token.kind === 'identifier' && LIST_END.has(word(token)) && !distinctFrom(tokens, index))));
    if (atEnd) {
      const json = jsonCall(tokens, itemStart, index);
      const item = json === null ? judge(tokens, itemStart, index) : null;
      if (json !== null) {
        if (json.alias !== null) jsonNames.push(json.alias);
        if (!starSeen) jsonPositions.push(ordinal);
      } else if (item !== null) {
        if (item.name !== '') names.push(item.name);
        if (!starSeen) positions.push(ordinal);
        if (item.insert !== null) insertions.set(item.insertAt, tokenize(` AS ${item.insert}`));
      } else if (hasStar(tokens, itemStart, index)) starSeen = true;
      else {
        // A CASE … END item without an alias is named `case`, as PostgreSQL names it.
        const caseEnd = wholeCase(tokens, itemStart, index);
        if (caseEnd !== null) insertions.set(caseEnd, tokenize(' AS "case"'));
      }
      ordinal++;
      if (token === undefined || token.text !== ',') break;
      itemStart = index + 1;
      continue;
    }
    if (token.text === '(' || word(token) === 'CASE') depth++;
    else if ((token.text === ')' || word(token) === 'END') && depth > 0) depth--;
    else if (token.text === ')') break; // the end of a parenthesised query
  }
  if (insertions.size === 0) return { tokens, names, positions, jsonNames, jsonPositions };
  const out: Token[] = [];
  tokens.forEach((token, at) => {
    const inserted = insertions.get(at);
    if (inserted !== undefined) out.push(...inserted);
    out.push(token);
  });
  const tail = insertions.get(tokens.length);
  if (tail !== undefined) out.push(...tail);
  return { tokens: out, names, positions, jsonNames, jsonPositions };
}

/** An item that is one call of a JSON function, `[AS alias]`: its alias (null without); else null. */
function jsonCall(tokens: readonly Token[], from: number, to: number): { alias: string | null } | null {
  const body = tokens.slice(from, to).filter(isSignificant);
  let alias: string | null = null;
  const last = body.at(-1);
  if (word(body.at(-2)) === 'AS' && (last?.kind === 'identifier' || last?.kind === 'quoted-identifier')) {
    alias =
      last.kind === 'quoted-identifier'
        ? last.text.slice(1, -1).replaceAll('""', '"')
        : last.text.toLowerCase();
    body.length -= 2;
  }
  if (arrowChainEndingInJson(body)) return { alias };
  // json_agg's translation: nullif(json_group_array(…), '[]').
  if (
    word(body[0]) === 'NULLIF' &&
    body[1]?.text === '(' &&
    JSON_FUNCTIONS.has(word(body[2])) &&
    closesAtEnd(body, 1)
  )
    return { alias };
  if (!JSON_FUNCTIONS.has(word(body[0])) || body[1]?.text !== '(') return null;
  // The call's parenthesis closes at the end, or before FILTER (…) / OVER (…).
  let depth = 0;
  for (let index = 1; index < body.length; index++) {
    if (body[index]?.text === '(') depth++;
    else if (body[index]?.text === ')' && --depth === 0) {
      const rest = body.slice(index + 1);
      if (
        rest.length === 0 ||
        (['FILTER', 'OVER'].includes(word(rest[0])) && rest[1]?.text === '(' && closesAtEnd(rest, 1))
      )
        return { alias };
      return null;
    }
  }
  return null;
}

/**
 * `col->'k'`, `t.col->'a'->>'b'->0`…: a column followed only by `->` / `->>` steps (each a string, a
 * number or a parameter), the last one `->`, which gives JSON (jsonb in PostgreSQL, parsed by
 * node-postgres): SQLite's `->` gives the JSON text, typed text otherwise.
 */
function arrowChainEndingInJson(body: readonly Token[]): boolean {
  let at = 0;
  if (body[at]?.kind !== 'identifier' && body[at]?.kind !== 'quoted-identifier') return false;
  at++;
  while (body[at]?.text === '.' && ['identifier', 'quoted-identifier'].includes(body[at + 1]?.kind ?? ''))
    at += 2;
  let lastArrow = '';
  while (at < body.length) {
    if (body[at]?.text !== '-' || body[at + 1]?.text !== '>') return false;
    lastArrow = body[at + 2]?.text === '>' ? '->>' : '->';
    at += lastArrow.length;
    if (!['string', 'number', 'parameter'].includes(body[at]?.kind ?? '')) return false;
    at++;
  }
  return lastArrow === '->';
}

/** The item is one CASE … END with no alias: the index after its END; else null. */
function wholeCase(tokens: readonly Token[], from: number, to: number): number | null {
  const at = [];
  for (let index = from; index < to; index++) if (isSignificant(tokens[index] as Token)) at.push(index);
  if (word(tokens[at[0] as number]) !== 'CASE' || word(tokens[at.at(-1) as number]) !== 'END') return null;
  let depth = 0;
  for (const [position, index] of at.entries()) {
    const keyword = word(tokens[index]);
    if (keyword === 'CASE') depth++;
    else if (keyword === 'END' && --depth === 0) return position === at.length - 1 ? index + 1 : null;
  }
  return null;
}

/** The FROM at `index` is `IS [NOT] DISTINCT FROM`'s. */
function distinctFrom(tokens: readonly Token[], index: number): boolean {
  let before = index - 1;
  while (before >= 0 && !isSignificant(tokens[before] as Token)) before--;
  return word(tokens[index]) === 'FROM' && word(tokens[before]) === 'DISTINCT';
}

/** The item is `*` or `t.*`. */
function hasStar(tokens: readonly Token[], from: number, to: number): boolean {
  const significant = tokens.slice(from, to).filter(isSignificant);
  return significant.at(-1)?.text === '*' && (significant.length === 1 || significant.at(-2)?.text === '.');
}

/**
 * The first SELECT at parenthesis depth 0 of a query (a SELECT, or WITH … SELECT), or -1: an
 * INSERT … SELECT or CREATE … AS SELECT returns no rows to name or type.
 */
function firstTopLevelSelect(tokens: readonly Token[]): number {
  let depth = 0;
  for (const [index, token] of tokens.entries()) {
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (depth === 0 && word(token) === 'SELECT') return index;
    else if (depth === 0 && NOT_A_QUERY.has(word(token))) return -1;
  }
  return -1;
}

const NOT_A_QUERY = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'CREATE', 'ALTER', 'DROP', 'EXPLAIN']);

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index++;
  return index;
}

/**
 * One select-list item, tokens [from, to): null unless boolean; else its column name, and the alias
 * to insert at `insertAt` (the end of its last significant token) when it has none.
 */
function judge(
  tokens: readonly Token[],
  from: number,
  to: number,
): { name: string; insert: string | null; insertAt: number } | null {
  const significant: number[] = [];
  for (let index = from; index < to; index++)
    if (isSignificant(tokens[index] as Token)) significant.push(index);
  if (significant.length === 0) return null;
  let end = significant.length;
  let alias: string | null = null;
  const beforeLast = tokens[significant.at(-2) as number];
  const last = tokens[significant.at(-1) as number] as Token;
  if (word(beforeLast) === 'AS' && (last.kind === 'identifier' || last.kind === 'quoted-identifier')) {
    alias =
      last.kind === 'quoted-identifier'
        ? last.text.slice(1, -1).replaceAll('""', '"')
        : last.text.toLowerCase();
    end -= 2;
  }
  const bodyAt = significant.slice(0, end);
  const body = bodyAt.map((at) => tokens[at] as Token);
  if (body.length === 0) return null;
  // `(a = b)`: the parentheses around the whole item do not count.
  let inner = bodyAt;
  while (
    inner.length > 2 &&
    tokens[inner[0] as number]?.text === '(' &&
    closesAtEnd(
      inner.map((at) => tokens[at] as Token),
      0,
    )
  )
    inner = inner.slice(1, -1);
  const innerBody = inner.map((at) => tokens[at] as Token);
  const bare = innerBody.length === 1 && ['TRUE', 'FALSE'].includes(word(innerBody[0]));
  // A call of a function that returns PostgreSQL's boolean (SQLite's 1/0): regexp_like, starts_with.
  const booleanCall =
    BOOLEAN_FUNCTIONS.has(word(innerBody[0])) && innerBody[1]?.text === '(' && closesAtEnd(innerBody, 1);
  // A cast to bool that ends the item (`x::bool`, `CAST(x AS boolean)`, which is `(x)::boolean` by now).
  const boolCast =
    innerBody.length >= 3 &&
    innerBody.at(-2)?.kind === 'cast' &&
    ['BOOL', 'BOOLEAN'].includes(word(innerBody.at(-1)));
  if (!bare && !booleanCall && !boolCast && !hasTopLevelBooleanOperator(tokens, inner)) return null;
  // The translation names a cast after its operand or type (`bool`), as PostgreSQL: no alias added.
  if (boolCast && alias === null) return { name: '', insert: null, insertAt: -1 };
  if (alias !== null) return { name: alias, insert: null, insertAt: -1 };
  if (booleanCall) return { name: (innerBody[0] as Token).text.toLowerCase(), insert: null, insertAt: -1 };
  // An alias written without AS (`a = b big`) cannot be told from the expression here: left alone.
  const lastBody = body.at(-1) as Token;
  if (body.length > 1 && (lastBody.kind === 'identifier' || lastBody.kind === 'quoted-identifier')) {
    const before = body.at(-2) as Token;
    const operandBefore =
      ['identifier', 'quoted-identifier', 'number', 'string', 'parameter'].includes(before.kind) ||
      before.text === ')';
    if (
      operandBefore &&
      !['NULL', 'TRUE', 'FALSE', 'END'].includes(word(lastBody)) &&
      !BOOLEAN_KEYWORDS.has(word(before)) &&
      !KEYWORDS_BEFORE_OPERAND.has(word(before))
    )
      return null;
  }
  // PostgreSQL's names: `exists` for EXISTS (…), `?column?` for an operator or a literal.
  const exists = word(innerBody[0]) === 'EXISTS' && innerBody[1]?.text === '(' && closesAtEnd(innerBody, 1);
  const name = exists ? 'exists' : '?column?';
  return {
    name,
    insert: `"${name}"`,
    insertAt: (significant.at(end - 1) as number) + 1,
  };
}

function hasTopLevelBooleanOperator(tokens: readonly Token[], at: readonly number[]): boolean {
  let depth = 0;
  for (let position = 0; position < at.length; position++) {
    const index = at[position] as number;
    const token = tokens[index] as Token;
    const keyword = word(token);
    if (token.text === '(' || keyword === 'CASE') depth++;
    else if (token.text === ')' || keyword === 'END') depth--;
    else if (depth === 0) {
      if (BOOLEAN_KEYWORDS.has(keyword)) return true;
      if (token.kind === 'punctuation') {
        // Operators are lexed a character at a time: join the run written together (`<=`, `->>`).
        let operator = token.text;
        let next = index + 1;
        while (tokens[next]?.kind === 'punctuation' && /^[<>=!|&~+\-*/%]$/.test(tokens[next]?.text ?? '')) {
          operator += (tokens[next] as Token).text;
          next++;
        }
        while (position + 1 < at.length && (at[position + 1] as number) < next) position++;
        if (COMPARISONS.has(operator)) return true;
      }
    }
  }
  return false;
}

/** The parenthesis at `open` closes at the body's last token. */
function closesAtEnd(body: readonly Token[], open: number): boolean {
  let depth = 0;
  for (let index = open; index < body.length; index++) {
    if (body[index]?.text === '(') depth++;
    else if (body[index]?.text === ')' && --depth === 0) return index === body.length - 1;
  }
  return false;
}
