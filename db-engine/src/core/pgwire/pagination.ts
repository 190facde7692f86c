/**
 * The SQL standard's row limits, which PostgreSQL takes and SQLite does not: `OFFSET m ROWS FETCH
 * FIRST n ROWS ONLY` (what Hibernate 6 and jOOQ write for PostgreSQL), `FETCH NEXT n ROW ONLY`,
 * `OFFSET m` without a LIMIT, `LIMIT ALL`, and `LIMIT NULL` / `OFFSET NULL` (no limit, no offset).
 * SQLite has only `LIMIT n [OFFSET m]`, with the LIMIT first and required and never NULL, so each
 * becomes that: `LIMIT n OFFSET m`, `LIMIT -1 OFFSET m` (no limit), `LIMIT -1`, `OFFSET 0`. A value
 * that is one parameter may be bound to NULL: `coalesce($n::int8, -1)` (0 for an offset). `FETCH … WITH
 * TIES` has no SQLite equivalent and gets 0A000.
 *
 * Each query level (parentheses) is read on its own. Pure code over the lexer's tokens.
 */
import { isSignificant, PgSqlError, type Token, tokenize, word } from './sql.js';

const CLAUSE_END = new Set([
  'FETCH',
  'FOR',
  'ROW',
  'ROWS',
  'UNION',
  'INTERSECT',
  'EXCEPT',
  'LIMIT',
  'OFFSET',
]);

export function withStandardPagination(tokens: readonly Token[]): readonly Token[] {
  if (
    !tokens.some(
      (token, index) =>
        PAGINATION_WORDS.has(word(token)) || isLimitNull(tokens, index) || isLimitParameter(tokens, index),
    )
  )
    return tokens;
  // A cursor's FETCH statement (refused elsewhere) is not a row limit.
  if (word(tokens.find(isSignificant)) === 'FETCH') return tokens;
  const out: Token[] = [];
  // Per parenthesis depth: whether this query level has a LIMIT already.
  const limited: boolean[] = [false];
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    const keyword = word(token);
    if (token.text === '(') limited.push(false);
    if (token.text === ')' && limited.length > 1) limited.pop();
    if (keyword === 'LIMIT') {
      limited[limited.length - 1] = true;
      const next = nextSignificant(tokens, index + 1);
      if (word(tokens[next]) === 'ALL' || isNullValue(tokens, next)) {
        out.push(token, ...tokenize(' -1'));
        index = next + 1;
        continue;
      }
      if (isParameterValue(tokens, next)) {
        out.push(token, ...tokenize(' '), ...orWhenNull(tokens[next] as Token, -1));
        index = next + 1;
        continue;
      }
    }
    if (keyword === 'OFFSET') {
      const valueEnd = clauseEnd(tokens, index + 1);
      // `OFFSET NULL` is `OFFSET 0` in PostgreSQL; SQLite refuses a NULL offset.
      const valueAt = nextSignificant(tokens, index + 1);
      const value = isNullValue(tokens, valueAt, valueEnd)
        ? tokenize(' 0')
        : isParameterValue(tokens, valueAt, valueEnd)
          ? [...tokenize(' '), ...orWhenNull(tokens[valueAt] as Token, 0)]
          : tokens.slice(index + 1, valueEnd);
      let after = nextSignificant(tokens, valueEnd);
      if (['ROW', 'ROWS'].includes(word(tokens[after]))) after = nextSignificant(tokens, after + 1);
      if (word(tokens[after]) === 'LIMIT') {
        // `OFFSET m LIMIT n` (PostgreSQL takes either order): SQLite's LIMIT comes first.
        const limitAt = nextSignificant(tokens, after + 1);
        const unlimited = word(tokens[limitAt]) === 'ALL' || isNullValue(tokens, limitAt);
        const limitEnd = unlimited ? limitAt + 1 : clauseEnd(tokens, after + 1);
        const limit = unlimited
          ? tokenize(' -1')
          : isParameterValue(tokens, limitAt, limitEnd)
            ? [...tokenize(' '), ...orWhenNull(tokens[limitAt] as Token, -1)]
            : tokens.slice(after + 1, limitEnd);
        out.push(...tokenize('LIMIT'), ...limit, ...tokenize(' OFFSET'), ...value);
        limited[limited.length - 1] = true;
        index = limitEnd;
        continue;
      }
      const fetch = fetchClause(tokens, after);
      if (fetch !== null) {
        out.push(...tokenize('LIMIT '), ...fetch.count, ...tokenize(' OFFSET'), ...value);
        limited[limited.length - 1] = true;
        index = fetch.end;
        continue;
      }
      out.push(...(limited[limited.length - 1] === true ? [] : tokenize('LIMIT -1 ')), token, ...value);
      index = valueEnd;
      // `OFFSET m ROWS`: the noise word goes.
      const noise = nextSignificant(tokens, valueEnd);
      if (['ROW', 'ROWS'].includes(word(tokens[noise]))) index = noise + 1;
      continue;
    }
    if (keyword === 'FETCH') {
      const fetch = fetchClause(tokens, index);
      if (fetch !== null) {
        out.push(...tokenize('LIMIT '), ...fetch.count);
        limited[limited.length - 1] = true;
        index = fetch.end;
        continue;
      }
    }
    out.push(token);
    index += 1;
  }
  return out;
}

const PAGINATION_WORDS = new Set(['OFFSET', 'FETCH', 'ALL']);

/** Whether `tokens[at]` is `LIMIT` and its value one parameter (`LIMIT $1`). */
function isLimitParameter(tokens: readonly Token[], at: number): boolean {
  return word(tokens[at]) === 'LIMIT' && isParameterValue(tokens, nextSignificant(tokens, at + 1));
}

/**
 * Whether the value at `at` is one parameter, all of the value up to `end` (or, without, up to the
 * clause's end): bound to NULL, it is no limit or offset 0 in PostgreSQL, where SQLite fails with
 * "datatype mismatch".
 */
function isParameterValue(tokens: readonly Token[], at: number, end?: number): boolean {
  if (tokens[at]?.kind !== 'parameter') return false;
  const after = nextSignificant(tokens, at + 1);
  if (end !== undefined) return after >= end;
  const next = tokens[after];
  return next === undefined || next.text === ')' || next.kind === 'semicolon' || CLAUSE_END.has(word(next));
}

/**
 * `coalesce($n::int8, fallback)`: a parameter bound to NULL is no limit (-1) or offset 0, as in
 * PostgreSQL; the cast types the parameter int8, as PostgreSQL types a LIMIT or OFFSET parameter.
 */
function orWhenNull(parameter: Token, fallback: number): Token[] {
  return tokenize(`coalesce(${parameter.text}::int8, ${fallback})`);
}

/** Whether `tokens[at]` is `LIMIT` and its value the bare literal NULL. */
function isLimitNull(tokens: readonly Token[], at: number): boolean {
  return word(tokens[at]) === 'LIMIT' && isNullValue(tokens, nextSignificant(tokens, at + 1));
}

/**
 * Whether the value at `at` is the bare literal NULL: `LIMIT NULL` is no limit in PostgreSQL (as
 * `LIMIT ALL`), where SQLite fails with "datatype mismatch". With `end`, NULL must be all of the
 * value up to it; without, the clause must end after it.
 */
function isNullValue(tokens: readonly Token[], at: number, end?: number): boolean {
  if (word(tokens[at]) !== 'NULL') return false;
  const after = nextSignificant(tokens, at + 1);
  if (end !== undefined) return after >= end;
  const next = tokens[after];
  return next === undefined || next.text === ')' || next.kind === 'semicolon' || CLAUSE_END.has(word(next));
}

/**
 * `FETCH {FIRST | NEXT} [n] {ROW | ROWS} {ONLY | WITH TIES}` at `at`: the count's tokens (1 when
 * absent) and the index after the clause; null when the tokens there are not one.
 */
function fetchClause(tokens: readonly Token[], at: number): { count: Token[]; end: number } | null {
  if (word(tokens[at]) !== 'FETCH') return null;
  const first = nextSignificant(tokens, at + 1);
  if (!['FIRST', 'NEXT'].includes(word(tokens[first]))) return null;
  const countEnd = clauseEnd(tokens, first + 1);
  const unit = nextSignificant(tokens, countEnd);
  if (!['ROW', 'ROWS'].includes(word(tokens[unit]))) return null;
  const tail = nextSignificant(tokens, unit + 1);
  if (word(tokens[tail]) === 'WITH') {
    throw new PgSqlError(
      '0A000',
      'FETCH … WITH TIES is not supported by northlight',
      'SQLite has no row limit that keeps ties: use FETCH … ONLY, or a window function (rank() OVER …).',
    );
  }
  if (word(tokens[tail]) !== 'ONLY') return null;
  const countAt = nextSignificant(tokens, first + 1);
  const count = tokens.slice(countAt, countEnd);
  if (isParameterValue(tokens, countAt, countEnd))
    return { count: orWhenNull(tokens[countAt] as Token, -1), end: tail + 1 };
  return { count: count.some(isSignificant) ? count : tokenize('1'), end: tail + 1 };
}

/** The end of an OFFSET or FETCH value: the next clause word at its depth, a `)`, `;` or the end. */
function clauseEnd(tokens: readonly Token[], from: number): number {
  let depth = 0;
  let index = from;
  for (; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.text === '(') depth++;
    else if (token.text === ')') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && (token.kind === 'semicolon' || CLAUSE_END.has(word(token)))) break;
  }
  // Leave trailing white space outside the value.
  while (index > from && !isSignificant(tokens[index - 1] as Token)) index--;
  return index;
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index++;
  return index;
}
