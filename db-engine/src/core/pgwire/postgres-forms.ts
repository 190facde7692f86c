/**
 * PostgreSQL spellings that SQLite reads differently or not at all, normalised token by token before
 * the translation (`sql.ts`, `translate`). Each is what ORMs, migration tools and pg_dump write
 * without thinking about it:
 *
 * - **Unquoted names fold to lower case**, as PostgreSQL folds them: `CREATE TABLE Users (Id int)`
 *   makes `users (id)`, `SELECT id AS userId` names its column `userid`, and information_schema
 *   finds the table under the name PostgreSQL would give it. Quoted names keep their case (SQLite
 *   still matches names without regard to case, so `"Users"` finds `users`).
 * - **The `public` schema is the only one**: `public.t` and `"public"."t"` are `t`.
 * - **Row locks**: `SELECT … FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE [OF t, …]
 *   [NOWAIT | SKIP LOCKED]` lock nothing here, because nothing needs locking: a serial read-write
 *   transaction holds the one SQL writer from its first statement to its end, so no other
 *   transaction writes the rows it read; an optimistic one replays what it read at COMMIT and fails
 *   with 40001 if any of it changed. SKIP LOCKED skips nothing, since no row is ever locked by another.
 * - **Identity columns**: `int GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY [(…)]` is SERIAL's
 *   translation, an `INTEGER` (SQLite's rowid when it is the primary key). ALWAYS does not refuse an
 *   explicit value.
 * - **`DROP … CASCADE | RESTRICT`**: the drop itself. RESTRICT is SQLite's only behaviour; CASCADE
 *   does not drop dependent views (they stay, and fail when used), and a foreign key that references
 *   a dropped table fails its next check.
 * - **`CREATE INDEX [CONCURRENTLY] … USING btree | hash`**: SQLite builds a b-tree index, holding the
 *   SQL writer while it does; other access methods (gin, gist, brin, spgist) get 0A000.
 * - **`random()`** is a float8 in [0, 1), not SQLite's 64-bit integer.
 * - **Functions SQLite spells otherwise**: `ILIKE` (SQLite's LIKE ignores ASCII case), `position(a IN
 *   b)`, `substring(s FROM a FOR n)`, `extract(field FROM x)` / `date_part`, `date_trunc`,
 *   `greatest`/`least`, `gen_random_uuid()` / `uuid_generate_v4()` (see FUNCTIONS).
 * - **Nested block comments** become a space: PostgreSQL's block comments nest, SQLite's do not
 *   (other comments stay, and a CREATE statement's are kept in the schema as written).
 *
 * Pure code over the lexer's tokens.
 */

import { ARRAY_ELEMENT_FUNCTION, PG_ARRAY_FUNCTION } from '../pg-array.js';
import { PgSqlError, type Token, tokenize } from './sql.js';
import { closingIndex } from './statement-rewrites.js';

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon';
}

function keyword(token: Token | undefined): string {
  return token !== undefined && token.kind === 'identifier' ? token.text.toUpperCase() : '';
}

/** The index of the next significant token at or after `from` (tokens.length when none). */
function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index += 1;
  return index;
}

const SPACE: Token = { kind: 'space', text: ' ' };
const INTEGER_TYPES = new Set(['INT', 'INTEGER', 'BIGINT', 'SMALLINT', 'INT2', 'INT4', 'INT8']);
const LOCK_STRENGTHS = new Set(['UPDATE', 'SHARE', 'NO', 'KEY']);
const BTREE_METHODS = new Set(['BTREE', 'HASH']);
/** `(random() / 2^64 + 0.5)`: SQLite's random() is uniform over the 64-bit integers. */
const RANDOM_FLOAT = '(random() / 18446744073709551616.0 + 0.5)';

function isPublicSchema(token: Token | undefined): boolean {
  if (token === undefined) return false;
  if (token.kind === 'identifier') return token.text.toLowerCase() === 'public';
  return token.kind === 'quoted-identifier' && token.text === '"public"';
}

function isName(token: Token | undefined): boolean {
  return token !== undefined && (token.kind === 'identifier' || token.kind === 'quoted-identifier');
}

/**
 * The end (exclusive) of a row-locking clause starting at the FOR at `index`, or null when this FOR
 * starts none (`FOR EACH ROW`, `substring(x FOR 2)`).
 */
function lockingClauseEnd(tokens: readonly Token[], index: number): number | null {
  let at = nextSignificant(tokens, index + 1);
  const strength = keyword(tokens[at]);
  if (!LOCK_STRENGTHS.has(strength)) return null;
  if (strength === 'NO') {
    const key = nextSignificant(tokens, at + 1);
    const update = nextSignificant(tokens, key + 1);
    if (keyword(tokens[key]) !== 'KEY' || keyword(tokens[update]) !== 'UPDATE') return null;
    at = update;
  } else if (strength === 'KEY') {
    const share = nextSignificant(tokens, at + 1);
    if (keyword(tokens[share]) !== 'SHARE') return null;
    at = share;
  }
  let end = at + 1;
  let next = nextSignificant(tokens, end);
  if (keyword(tokens[next]) === 'OF') {
    // OF a [, b …], each name possibly qualified.
    next = nextSignificant(tokens, next + 1);
    while (isName(tokens[next])) {
      end = next + 1;
      next = nextSignificant(tokens, end);
      const punctuation = tokens[next]?.text;
      if (punctuation !== '.' && punctuation !== ',') break;
      next = nextSignificant(tokens, next + 1);
    }
  }
  next = nextSignificant(tokens, end);
  if (keyword(tokens[next]) === 'NOWAIT') end = next + 1;
  else if (keyword(tokens[next]) === 'SKIP') {
    const locked = nextSignificant(tokens, next + 1);
    if (keyword(tokens[locked]) === 'LOCKED') end = locked + 1;
  }
  return end;
}

/** The end (exclusive) of `GENERATED … AS IDENTITY [(…)]` starting at `index`, or null. */
function identityEnd(tokens: readonly Token[], index: number): number | null {
  let at = nextSignificant(tokens, index + 1);
  if (keyword(tokens[at]) === 'BY') {
    at = nextSignificant(tokens, at + 1);
    if (keyword(tokens[at]) !== 'DEFAULT') return null;
  } else if (keyword(tokens[at]) !== 'ALWAYS') return null;
  const as = nextSignificant(tokens, at + 1);
  const identity = nextSignificant(tokens, as + 1);
  if (keyword(tokens[as]) !== 'AS' || keyword(tokens[identity]) !== 'IDENTITY') return null;
  const open = nextSignificant(tokens, identity + 1);
  if (tokens[open]?.text !== '(') return identity + 1;
  return closingParenthesis(tokens, open) + 1;
}

/** The tokens of one statement with the PostgreSQL forms above normalised. */
export function withPostgresForms(tokens: readonly Token[]): Token[] {
  const significantWords = tokens.filter(isSignificant);
  const first = keyword(significantWords[0]);
  const createIndex =
    first === 'CREATE' &&
    (keyword(significantWords[1]) === 'INDEX' ||
      (keyword(significantWords[1]) === 'UNIQUE' && keyword(significantWords[2]) === 'INDEX'));
  const lastSignificant = significantWords.at(-1);
  // A table's CASCADE or RESTRICT the kernel does (statement-rewrites.ts, kernel/alter-table.ts); an
  // index's or a view's is SQLite's plain drop.
  const dropOption =
    first === 'DROP' &&
    ['CASCADE', 'RESTRICT'].includes(keyword(lastSignificant)) &&
    keyword(significantWords[1]) !== 'TABLE';
  const out: Token[] = [];
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as Token;
    if (token.kind === 'comment' && token.text.startsWith('/*') && token.text.indexOf('/*', 2) >= 0) {
      out.push(SPACE);
      index += 1;
      continue;
    }
    if (dropOption && token === lastSignificant) {
      index += 1;
      continue;
    }
    if (isPublicSchema(token) && tokens[index + 1]?.text === '.' && isName(tokens[index + 2])) {
      const before = out.filter(isSignificant).at(-1);
      if (before?.text !== '.') {
        index += 2;
        continue;
      }
    }
    if (token.kind === 'punctuation' && (token.text === '~' || token.text === '!')) {
      const match = regexMatchOperator(out, tokens, index);
      if (match !== null) {
        out.push(...match.tokens);
        index = match.end;
        continue;
      }
    }
    if (token.kind !== 'identifier') {
      out.push(token);
      index += 1;
      continue;
    }
    const upper = token.text.toUpperCase();
    // `EXISTS (SELECT FROM t WHERE …)`: PostgreSQL allows an empty select list, SQLite does not. In a
    // subquery (what it is written for) a constant stands in; a whole statement keeps SQLite's error.
    if (
      upper === 'SELECT' &&
      out.filter(isSignificant).at(-1)?.text === '(' &&
      keyword(tokens[nextSignificant(tokens, index + 1)]) === 'FROM'
    ) {
      out.push(token, SPACE, { kind: 'number', text: '1' });
      index += 1;
      continue;
    }
    if (upper === 'FOR') {
      const end = lockingClauseEnd(tokens, index);
      if (end !== null) {
        out.push(SPACE);
        index = end;
        continue;
      }
    }
    if (upper === 'GENERATED') {
      const end = identityEnd(tokens, index);
      if (end !== null) {
        const typeAt = out.findLastIndex(isSignificant);
        if (INTEGER_TYPES.has(keyword(out[typeAt]))) out[typeAt] = { kind: 'identifier', text: 'INTEGER' };
        out.push(SPACE);
        index = end;
        continue;
      }
    }
    if (createIndex && upper === 'CONCURRENTLY') {
      index += 1;
      continue;
    }
    if (createIndex && upper === 'USING') {
      const methodAt = nextSignificant(tokens, index + 1);
      const method = tokens[methodAt];
      if (isName(method) && tokens[nextSignificant(tokens, methodAt + 1)]?.text === '(') {
        const name = (method as Token).text.replaceAll('"', '');
        if (!BTREE_METHODS.has(name.toUpperCase())) {
          throw new PgSqlError(
            '0A000',
            `access method "${name}" is not supported: northlight's indexes are SQLite's b-trees`,
            "Leave out USING (or write USING btree); for JSON, index an expression such as json_extract(doc, '$.key').",
          );
        }
        index = methodAt + 1;
        continue;
      }
    }
    if (
      upper === 'RANDOM' &&
      out.filter(isSignificant).at(-1)?.text !== '.' &&
      tokens[nextSignificant(tokens, index + 1)]?.text === '('
    ) {
      const open = nextSignificant(tokens, index + 1);
      const close = nextSignificant(tokens, open + 1);
      if (tokens[close]?.text === ')') {
        const named = wholeSelectItem(out, tokens, close + 1);
        out.push(...tokenize(RANDOM_FLOAT)); // (sql.ts imports this module: tokenize only once it has loaded)
        if (named) out.push(...tokenize(' AS "random"'));
        index = close + 1;
        continue;
      }
    }
    if (
      (upper === 'ANY' || upper === 'SOME' || upper === 'ALL') &&
      tokens[nextSignificant(tokens, index + 1)]?.text === '('
    ) {
      const membership = arrayMembership(out, tokens, index, upper);
      if (membership !== null) {
        out.push(...membership.tokens);
        index = membership.end;
        continue;
      }
    }
    if (upper === 'ILIKE' || upper === 'LIKE') {
      // SQLite's LIKE already ignores the case of ASCII letters. Its pattern has no escape character
      // unless one is named, where PostgreSQL's has the backslash (`LIKE 'a\_%'`): named here.
      out.push({ kind: 'identifier', text: 'LIKE' });
      const end = likePatternEnd(tokens, index + 1);
      if (end === null) {
        index += 1;
        continue;
      }
      out.push(...tokens.slice(index + 1, end), ...LIKE_ESCAPE);
      index = end;
      continue;
    }
    if (upper === 'INDEX' && !indexKeyword(out)) {
      // A column named index (PostgreSQL allows it unquoted; SQLite reserves the word): quoted.
      out.push({ kind: 'quoted-identifier', text: '"index"' });
      index += 1;
      continue;
    }
    const call = FUNCTIONS[upper];
    const open = nextSignificant(tokens, index + 1);
    if (call !== undefined && tokens[open]?.text === '(' && out.filter(isSignificant).at(-1)?.text !== '.') {
      const close = closingParenthesis(tokens, open);
      // An aggregate's FILTER (WHERE …) goes with it into the replacement, which must place it
      // right after the SQLite aggregate it calls.
      let end = close + 1;
      let filter: Token[] | undefined;
      const filterAt = nextSignificant(tokens, close + 1);
      const filterOpen = nextSignificant(tokens, filterAt + 1);
      if (
        FILTERED_CALLS.has(upper) &&
        keyword(tokens[filterAt]) === 'FILTER' &&
        tokens[filterOpen]?.text === '('
      ) {
        end = closingParenthesis(tokens, filterOpen) + 1;
        filter = withPostgresForms(tokens.slice(filterAt, end));
      }
      // …and its window: `OVER (…)` or `OVER name`.
      let over: Token[] | undefined;
      const overAt = nextSignificant(tokens, end);
      const overNext = nextSignificant(tokens, overAt + 1);
      if (FILTERED_CALLS.has(upper) && keyword(tokens[overAt]) === 'OVER' && tokens[overNext] !== undefined) {
        const overEnd =
          tokens[overNext]?.text === '(' ? closingParenthesis(tokens, overNext) + 1 : overNext + 1;
        over = withPostgresForms(tokens.slice(overAt, overEnd));
        end = overEnd;
      }
      const argumentsOf = splitArguments(tokens.slice(open + 1, close));
      const replaced = call(
        {
          ...argumentsOf,
          ...(filter === undefined ? {} : { filter }),
          ...(over === undefined ? {} : { over }),
        },
        token.text,
      );
      if (replaced !== null) {
        const named = wholeSelectItem(out, tokens, end);
        out.push(...replaced);
        // Named as PostgreSQL names the call it was (`SELECT date_trunc(…)` has a column date_trunc).
        if (named) out.push(...tokenize(` AS "${token.text.toLowerCase()}"`));
        index = end;
        continue;
      }
    }
    out.push(foldedName(token));
    index += 1;
  }
  return out;
}

/**
 * `x = ANY(a)` / `x = SOME(a)` and `x <> ALL(a)` (`!=` too): membership in an array, which SQLite
 * writes `x IN (…)` / `x NOT IN (…)`. `a` may be a subquery (`IN (SELECT …)`), an `ARRAY[…]`
 * constructor (`IN (…)`), or an array value — a parameter (node-postgres sends a JavaScript array as
 * the literal `{1,2,3}`), a string literal, a column: its elements, read by the kernel's
 * `northlight_pg_array` (src/kernel/sqlite-wasm.ts) into JSON for json_each. The operator is taken
 * off `out`; null when the operator before is another (`< ANY`, `= ALL`: left to SQLite).
 */
function arrayMembership(
  out: Token[],
  tokens: readonly Token[],
  index: number,
  quantifier: string,
): { tokens: Token[]; end: number } | null {
  const last = out.findLastIndex(isSignificant);
  const before = out.slice(0, last).findLastIndex(isSignificant);
  const one = out[last]?.text;
  const two = before >= 0 && before === last - 1 ? `${out[before]?.text}${one}` : undefined;
  const negated = two === '<>' || two === '!=';
  if (quantifier === 'ALL' ? !negated : one !== '=' || two === '!=' || two === '<=' || two === '>=')
    return null;
  const open = nextSignificant(tokens, index + 1);
  const close = closingParenthesis(tokens, open);
  const inner = tokens.slice(open + 1, close);
  const words = inner.filter(isSignificant);
  let list: Token[];
  if (keyword(words[0]) === 'SELECT' || keyword(words[0]) === 'WITH') list = withPostgresForms(inner);
  else if (keyword(words[0]) === 'ARRAY' && words[1]?.text === '[' && words.at(-1)?.text === ']') {
    const from = inner.indexOf(words[1] as Token) + 1;
    const to = inner.lastIndexOf(words.at(-1) as Token);
    list = withPostgresForms(inner.slice(from, to));
  } else list = expression(`SELECT value FROM json_each(${PG_ARRAY_FUNCTION}($0))`, withPostgresForms(inner));
  out.splice(negated ? before : last);
  return {
    tokens: [...tokenize(negated ? ' NOT IN (' : ' IN ('), ...list, ...tokenize(')')],
    end: close + 1,
  };
}

/** Clause words: the nearest one before a select-list item, at its depth, is SELECT. */
const CLAUSES = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'VALUES',
  'SET',
  'RETURNING',
  'BY',
  'ON',
  'WINDOW',
  'INTO',
  'USING',
]);
const ITEM_ENDS = new Set([
  'FROM',
  'WHERE',
  'GROUP',
  'HAVING',
  'ORDER',
  'LIMIT',
  'WINDOW',
  'INTO',
  'UNION',
  'EXCEPT',
  'INTERSECT',
]);

/**
 * Whether an expression written next (after `out`, ending before `end` in `tokens`) is a whole item of
 * a select list: what comes before it is SELECT or a comma of that list, and after it a comma or
 * the list's end.
 */
/** ` ESCAPE '\'`: PostgreSQL's default escape character of a LIKE pattern. */
const LIKE_ESCAPE: readonly Token[] = [
  SPACE,
  { kind: 'identifier', text: 'ESCAPE' },
  SPACE,
  { kind: 'string', text: "'\\'", value: '\\' },
];

/** Words that end a LIKE pattern at its depth (PostgreSQL's LIKE binds tighter than these). */
const LIKE_PATTERN_ENDS = new Set([
  ...CLAUSES,
  'AND',
  'OR',
  'NOT',
  'THEN',
  'ELSE',
  'END',
  'WHEN',
  'AS',
  'IS',
  'IN',
  'BETWEEN',
  'LIKE',
  'ILIKE',
  'GLOB',
  'REGEXP',
  'ON',
  'USING',
  'RETURNING',
  'DO',
  'SET',
  'WINDOW',
  'FETCH',
  'FOR',
]);

/**
 * The index after the pattern of a LIKE whose pattern starts at `from` (the pattern may be an
 * expression: `'%' || $1 || '%'`), or null when the LIKE names its own ESCAPE, or the pattern's end
 * cannot be told (it is then left as it is).
 */
function likePatternEnd(tokens: readonly Token[], from: number): number | null {
  let depth = 0;
  let last = -1;
  for (let index = from; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (!isSignificant(token)) continue;
    if (token.kind === 'semicolon') break;
    if (token.kind === 'punctuation') {
      if (token.text === '(' || token.text === '[') depth += 1;
      else if (token.text === ')' || token.text === ']') {
        if (depth === 0) break;
        depth -= 1;
      } else if (depth === 0 && [',', '=', '<', '>', '!'].includes(token.text)) break;
    } else if (depth === 0 && token.kind === 'identifier') {
      const upper = token.text.toUpperCase();
      if (upper === 'ESCAPE') return null;
      if (LIKE_PATTERN_ENDS.has(upper) && last >= 0) break;
    }
    last = index;
  }
  return last < 0 ? null : last + 1;
}

export function wholeSelectItem(out: readonly Token[], tokens: readonly Token[], end: number): boolean {
  const after = tokens[nextSignificant(tokens, end)];
  if (after !== undefined && after.text !== ',' && after.text !== ')' && !ITEM_ENDS.has(keyword(after)))
    return false;
  if (after?.text === ')') return false;
  let depth = 0;
  let first = true;
  for (let index = out.length - 1; index >= 0; index--) {
    const token = out[index] as Token;
    if (!isSignificant(token)) continue;
    if (first) {
      first = false;
      if (keyword(token) !== 'SELECT' && token.text !== ',') return false;
    }
    if (token.text === ')') depth += 1;
    else if (token.text === '(') {
      if (depth === 0) return false;
      depth -= 1;
    } else if (depth === 0 && CLAUSES.has(keyword(token))) return keyword(token) === 'SELECT';
  }
  return false;
}

/** The index of the `)` closing the `(` at `open` (42601 when there is none). */
function closingParenthesis(tokens: readonly Token[], open: number): number {
  const close = closingIndex(tokens, open);
  if (tokens[close]?.text !== ')' || close === open)
    throw new PgSqlError('42601', 'syntax error at end of input: a parenthesis is not closed');
  return close;
}

/**
 * A call's arguments, split at top-level commas and at the keywords SQL's special call forms use
 * (`position(a IN b)`, `substring(x FROM a FOR b)`, `extract(year FROM x)`, `trim(BOTH c FROM s)`),
 * each already normalised. `separators` holds what came between them (',' or the keyword).
 */
interface Arguments {
  readonly parts: Token[][];
  readonly separators: string[];
  /** `FILTER (WHERE …)` after the call, for the calls in FILTERED_CALLS. */
  readonly filter?: Token[];
  /** `OVER (…)` / `OVER name` after the call (and its FILTER), for the same calls. */
  readonly over?: Token[];
}

/** Aggregates whose replacement takes the FILTER clause that follows them. */
const FILTERED_CALLS = new Set([
  'ARRAY_AGG',
  'JSON_AGG',
  'JSONB_AGG',
  'JSON_OBJECT_AGG',
  'JSONB_OBJECT_AGG',
  'BOOL_AND',
  'BOOL_OR',
  'EVERY',
]);

const CALL_KEYWORDS = new Set(['IN', 'FROM', 'FOR']);

function splitArguments(inner: readonly Token[]): Arguments {
  const parts: Token[][] = [[]];
  const separators: string[] = [];
  let depth = 0;
  for (const token of inner) {
    if (token.text === '(') depth += 1;
    if (token.text === ')') depth -= 1;
    const separator = token.text === ',' ? ',' : CALL_KEYWORDS.has(keyword(token)) ? keyword(token) : null;
    if (depth === 0 && separator !== null) {
      separators.push(separator);
      parts.push([]);
    } else (parts.at(-1) as Token[]).push(token);
  }
  return { parts: parts.map((part) => withPostgresForms(part)), separators };
}

function hasText(part: readonly Token[] | undefined): part is Token[] {
  return part !== undefined && part.some(isSignificant);
}

/** Tokens that end an operand: a binary operator may follow them (else `~` is bitwise NOT). */
function endsOperand(token: Token | undefined): boolean {
  if (token === undefined) return false;
  if (token.kind === 'identifier') return !OPERATOR_KEYWORDS.has(token.text.toUpperCase());
  return ['string', 'number', 'quoted-identifier', 'parameter'].includes(token.kind) || token.text === ')';
}

const OPERATOR_KEYWORDS = new Set([
  'SELECT',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'ON',
  'WHEN',
  'THEN',
  'ELSE',
  'HAVING',
  'SET',
  'RETURNING',
  'BY',
  'IS',
  'IN',
  'CASE',
  'DISTINCT',
  'ALL',
  'VALUES',
]);

/**
 * PostgreSQL's regular-expression match operators: `a ~ p`, `a !~ p`, and `~*` / `!~*` ignoring
 * case, as SQLite's `REGEXP`, which calls the kernel's `regexp(p, a)` (postgres-functions.ts).
 * Case is ignored by a `(?i)` the function reads off the pattern: `a REGEXP '(?i)' || p`, since ||
 * binds tighter than REGEXP. Null when the tokens at `index` are not one of them.
 */
function regexMatchOperator(
  out: readonly Token[],
  tokens: readonly Token[],
  index: number,
): { tokens: Token[]; end: number } | null {
  if (!endsOperand(out.filter(isSignificant).at(-1))) return null;
  let at = index;
  const negated = tokens[at]?.text === '!';
  if (negated) at += 1;
  if (tokens[at]?.text !== '~') return null;
  at += 1;
  // `~~` is PostgreSQL's LIKE: left as written.
  if (tokens[at]?.text === '~') return null;
  const ignoreCase = tokens[at]?.text === '*';
  if (ignoreCase) at += 1;
  const operator = `${negated ? 'NOT ' : ''}REGEXP${ignoreCase ? " '(?i)' ||" : ''}`;
  const before = out.at(-1)?.kind === 'space' ? [] : [SPACE];
  const after = tokens[at]?.kind === 'space' ? [] : [SPACE];
  return { tokens: [...before, ...tokenize(operator), ...after], end: at };
}

/** Tokens of `template`, each `$0`, `$1`… replaced by that argument's tokens (in parentheses). */
function expression(template: string, ...args: readonly Token[][]): Token[] {
  const out: Token[] = [];
  for (const piece of template.split(/(\$\d)/)) {
    const argument = /^\$(\d)$/.exec(piece);
    if (argument !== null)
      out.push(...tokenize('('), ...(args[Number(argument[1])] as Token[]), ...tokenize(')'));
    else if (piece !== '') out.push(...tokenize(piece));
  }
  return out;
}

/** The literal text of an argument that is one string literal (or an unquoted word), else undefined. */
function literalWord(part: readonly Token[]): string | undefined {
  const significant = part.filter(isSignificant);
  if (significant.length !== 1) return undefined;
  const only = significant[0] as Token;
  if (only.kind === 'string') return (only.value ?? '').toLowerCase();
  return only.kind === 'identifier' ? only.text.toLowerCase() : undefined;
}

const UUID_V4 =
  "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || " +
  "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))";

/** EXTRACT's fields as SQLite's strftime formats (integers), and the ones computed otherwise. */
const EXTRACT_FORMATS: Readonly<Record<string, string>> = {
  year: "CAST(strftime('%Y', $0) AS INTEGER)",
  month: "CAST(strftime('%m', $0) AS INTEGER)",
  day: "CAST(strftime('%d', $0) AS INTEGER)",
  hour: "CAST(strftime('%H', $0) AS INTEGER)",
  minute: "CAST(strftime('%M', $0) AS INTEGER)",
  second: "CAST(strftime('%f', $0) AS REAL)",
  // SQLite's instants are whole milliseconds: unixepoch gives them exactly, where julianday's days in a
  // double lost up to 50 µs (00:05:00 read as 299.99999 s past 00:00, a bucket early in Grafana's
  // floor(extract(epoch …) / 300)).
  epoch: "unixepoch($0, 'subsec')",
  dow: "CAST(strftime('%w', $0) AS INTEGER)",
  isodow: "((CAST(strftime('%w', $0) AS INTEGER) + 6) % 7 + 1)",
  doy: "CAST(strftime('%j', $0) AS INTEGER)",
  quarter: "((CAST(strftime('%m', $0) AS INTEGER) + 2) / 3)",
};

/**
 * date_trunc's units as SQLite date expressions (a week starts on Monday, as in PostgreSQL). Each is a
 * `datetime(x, …)` call, which the declared-types probe reads as `x` (src/kernel/declared-types.ts
 * `withArgumentTypedCalls`): the result is typed timestamp or timestamptz as its argument is.
 */
const TRUNC_UNITS: Readonly<Record<string, string>> = {
  year: "datetime($0, 'start of year')",
  quarter:
    "datetime($0, 'start of month', '-' || ((CAST(strftime('%m', $0) AS INTEGER) - 1) % 3) || ' months')",
  month: "datetime($0, 'start of month')",
  week: "datetime($0, 'start of day', '-' || ((CAST(strftime('%w', $0) AS INTEGER) + 6) % 7) || ' days')",
  day: "datetime($0, 'start of day')",
  hour: "datetime($0, strftime('-%M minutes', $0), strftime('-%S seconds', $0))",
  minute: "datetime($0, strftime('-%S seconds', $0))",
  second: 'datetime($0)',
};

/**
 * PostgreSQL's JSON functions SQLite has under another name, same arguments and meaning: objects and
 * arrays built from values, aggregated, measured. (`to_json(x)` is SQLite's json_quote: a string
 * becomes a JSON string, a number stays one.) A row as a value (`json_agg(t)` of a table alias) has no
 * SQLite form and stays an error.
 */
const JSON_AGGREGATES = new Set(['json_group_array', 'json_group_object']);

export const JSON_RENAMES: Readonly<Record<string, string>> = {
  JSON_BUILD_OBJECT: 'json_object',
  JSONB_BUILD_OBJECT: 'json_object',
  JSON_BUILD_ARRAY: 'json_array',
  JSONB_BUILD_ARRAY: 'json_array',
  JSON_AGG: 'json_group_array',
  JSONB_AGG: 'json_group_array',
  JSON_OBJECT_AGG: 'json_group_object',
  JSONB_OBJECT_AGG: 'json_group_object',
  JSON_ARRAY_LENGTH: 'json_array_length',
  JSONB_ARRAY_LENGTH: 'json_array_length',
  TO_JSON: 'json_quote',
  TO_JSONB: 'json_quote',
  JSONB_PRETTY: 'json_pretty',
};

/** Functions whose result PostgreSQL types int4 and SQLite (or the kernel) gives as an integer. */
const INT4_FUNCTIONS = ['LENGTH', 'CHAR_LENGTH', 'CHARACTER_LENGTH', 'OCTET_LENGTH', 'STRPOS', 'ASCII'];

/**
 * PostgreSQL functions SQLite spells otherwise, by name: the tokens that replace the whole call, or
 * null to leave it as written (SQLite then answers, usually 42883 or 42601).
 */
const FUNCTIONS: Readonly<Record<string, (args: Arguments, name: string) => Token[] | null>> = {
  // `position(sub IN s)`: 1-based, 0 when absent, as instr.
  POSITION: ({ parts, separators }) =>
    separators.length === 1 && separators[0] === 'IN' && hasText(parts[0]) && hasText(parts[1])
      ? expression('CAST(instr($0, $1) AS INTEGER)', parts[1], parts[0]) // an int4, as PostgreSQL's
      : null,
  // `substring(s FROM a [FOR n])`, `substring(s FOR n)`; `substring(s, a, n)` is SQLite's own substr.
  SUBSTRING: ({ parts, separators }) => {
    const [s, a, n] = parts;
    if (separators.join() === 'FROM,FOR' && hasText(s) && hasText(a) && hasText(n))
      return expression('substr($0, $1, $2)', s, a, n);
    if (separators.join() === 'FROM' && hasText(s) && hasText(a)) return expression('substr($0, $1)', s, a);
    if (separators.join() === 'FOR' && hasText(s) && hasText(a)) return expression('substr($0, 1, $1)', s, a);
    return null;
  },
  // `extract(field FROM x)` (and PostgreSQL's date_part('field', x)), `date_trunc('unit', x)`.
  EXTRACT: (args) => fieldCall('EXTRACT', 'FROM', EXTRACT_FORMATS, args),
  DATE_PART: (args) => fieldCall('date_part', ',', EXTRACT_FORMATS, args),
  DATE_TRUNC: (args) => fieldCall('date_trunc', ',', TRUNC_UNITS, args),
  // GREATEST/LEAST: SQLite's scalar max/min (one argument would be the aggregate, so it is itself).
  // Unlike PostgreSQL's, a NULL argument makes the result NULL.
  // Comments on objects (COMMENT ON is accepted and dropped, so there are none): NULL, as
  // PostgreSQL's answer for an object without one. TypeORM asks obj_description((…)::regclass, …)
  // for every table it synchronizes; the argument, a regclass cast, has no SQLite form and goes.
  OBJ_DESCRIPTION: () => tokenize('NULL'),
  COL_DESCRIPTION: () => tokenize('NULL'),
  SHOBJ_DESCRIPTION: () => tokenize('NULL'),
  GREATEST: ({ parts, separators }) => extremum('max', parts, separators),
  LEAST: ({ parts, separators }) => extremum('min', parts, separators),
  // left(s, n) / right(s, n): the first / last n characters; a negative n leaves out the last / first
  // -n, as in PostgreSQL. SQLite has neither (LEFT is only its join keyword).
  LEFT: ({ parts, separators }) =>
    separators.join() === ',' && hasText(parts[0]) && hasText(parts[1])
      ? expression(
          // n as an integer: a parameter arrives as text, which SQLite would compare as text.
          'substr($0, 1, CASE WHEN CAST($1 AS INTEGER) >= 0 THEN CAST($1 AS INTEGER) ELSE max(length($0) + CAST($1 AS INTEGER), 0) END)',
          parts[0],
          parts[1],
        )
      : null,
  RIGHT: ({ parts, separators }) =>
    separators.join() === ',' && hasText(parts[0]) && hasText(parts[1])
      ? expression(
          'substr($0, CASE WHEN CAST($1 AS INTEGER) >= 0 THEN max(length($0) - CAST($1 AS INTEGER) + 1, 1) ELSE 1 - CAST($1 AS INTEGER) END)',
          parts[0],
          parts[1],
        )
      : null,
  // array_agg([DISTINCT] x [ORDER BY …]): PostgreSQL's array text (`{a,"b c",NULL}`) from SQLite's
  // group_concat of each element as an array writes it (the kernel's northlight_array_element);
  // NULL over no rows, as PostgreSQL's. The result is typed text, not an array.
  ARRAY_AGG: ({ parts, separators, filter, over }) => {
    const inner: Token[] = parts.flatMap((part, index) =>
      index === 0 ? part : [...tokenize(separators[index - 1] as string), ...part],
    );
    const significant = inner.filter(isSignificant);
    if (significant.length === 0) return null;
    const distinct = keyword(significant[0]) === 'DISTINCT';
    const start = distinct ? inner.indexOf(significant[0] as Token) + 1 : 0;
    let depth = 0;
    let orderAt = inner.length;
    for (let index = start; index < inner.length; index++) {
      const token = inner[index] as Token;
      if (token.text === '(') depth += 1;
      if (token.text === ')') depth -= 1;
      if (depth === 0 && keyword(token) === 'ORDER') {
        orderAt = index;
        break;
      }
    }
    const value = inner.slice(start, orderAt);
    if (!hasText(value) || (separators.length > 0 && orderAt === inner.length)) return null;
    return [
      ...tokenize(`('{' || group_concat(${distinct ? 'DISTINCT ' : ''}${ARRAY_ELEMENT_FUNCTION}(`),
      ...value,
      ...tokenize(') '),
      // DISTINCT sorts, in PostgreSQL: the elements come in the value's order.
      ...(distinct && orderAt === inner.length ? [...tokenize('ORDER BY '), ...value] : inner.slice(orderAt)),
      ...tokenize(')'),
      ...(filter === undefined ? [] : [SPACE, ...filter]),
      ...(over === undefined ? [] : [SPACE, ...over]),
      ...tokenize(" || '}')"),
    ];
  },
  // PostgreSQL's JSON constructors and aggregates under SQLite's names (the result is JSON text).
  ...Object.fromEntries(
    Object.entries(JSON_RENAMES).map(([postgres, sqlite]) => [
      postgres,
      ({ parts, separators, filter, over }: Arguments) => {
        const call = [
          ...tokenize(`${sqlite}(`),
          ...parts.flatMap((part, index) =>
            index === 0 ? part : [...tokenize(separators[index - 1] as string), ...part],
          ),
          ...tokenize(')'),
          ...(filter === undefined ? [] : [SPACE, ...filter]),
          ...(over === undefined ? [] : [SPACE, ...over]),
        ];
        if (!JSON_AGGREGATES.has(sqlite)) return call;
        // PostgreSQL's json_agg over no rows is NULL; SQLite's json_group_array is [] (and an
        // aggregate over at least one row is never empty).
        return [
          ...tokenize('nullif('),
          ...call,
          ...tokenize(`, '${sqlite === 'json_group_array' ? '[]' : '{}'}')`),
        ];
      },
    ]),
  ),
  // Functions PostgreSQL types int4 whose value here is an integer already: a CAST to INTEGER around
  // the call, which the declared-types probe types int4 (as POSITION's), so node-postgres gets a
  // number for `length(name)`, as from PostgreSQL, not int8's string.
  ...Object.fromEntries(
    INT4_FUNCTIONS.map((name) => [
      name,
      ({ parts, separators }: Arguments) =>
        parts.length === 0 || !parts.every(hasText) || separators.some((separator) => separator !== ',')
          ? null
          : [
              ...tokenize(`CAST(${name.toLowerCase()}(`),
              ...parts.flatMap((part, index) => (index === 0 ? part : [...tokenize(','), ...part])),
              ...tokenize(') AS INTEGER)'),
            ],
    ]),
  ),
  // bool_and(x) / every(x) and bool_or(x): SQLite's min / max of x as 1/0 (NULLs ignored; NULL over
  // no rows, as PostgreSQL's), compared with 0 so that a whole select item is typed boolean
  // (select-item-types.ts).
  BOOL_AND: (args) => booleanAggregate('min', args),
  EVERY: (args) => booleanAggregate('min', args),
  BOOL_OR: (args) => booleanAggregate('max', args),
  // pg_database_size(name | oid): the volume's bytes (one database per engine), as psql's \l+ shows.
  PG_DATABASE_SIZE: ({ parts }) =>
    parts.length === 1 && hasText(parts[0])
      ? expression('(SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size())')
      : null,
  // gen_random_uuid() (PostgreSQL 13+) and uuid-ossp's uuid_generate_v4(): a version 4 UUID as text.
  GEN_RANDOM_UUID: ({ parts }) => (hasText(parts[0]) || parts.length > 1 ? null : expression(`(${UUID_V4})`)),
  UUID_GENERATE_V4: ({ parts }) =>
    hasText(parts[0]) || parts.length > 1 ? null : expression(`(${UUID_V4})`),
};

function booleanAggregate(
  sqlite: 'min' | 'max',
  { parts, separators, filter, over }: Arguments,
): Token[] | null {
  if (parts.length !== 1 || separators.length > 0 || !hasText(parts[0])) return null;
  return [
    ...tokenize(`(${sqlite}((`),
    ...(parts[0] as Token[]),
    ...tokenize(') <> 0)'),
    ...(filter === undefined ? [] : [SPACE, ...filter]),
    ...(over === undefined ? [] : [SPACE, ...over]),
    ...tokenize(' <> 0)'),
  ];
}

/** `name(field <separator> x)`: the template of that field (0A000 listing them for another). */
function fieldCall(
  name: string,
  separator: string,
  templates: Readonly<Record<string, string>>,
  { parts, separators }: Arguments,
): Token[] | null {
  const field = parts[0] === undefined ? undefined : literalWord(parts[0]);
  if (separators.join() !== separator || field === undefined || !hasText(parts[1])) return null;
  const template = templates[field];
  if (template === undefined) throw unsupportedField(name, field, Object.keys(templates));
  return expression(template, parts[1]);
}

function extremum(sqlite: 'max' | 'min', parts: Token[][], separators: readonly string[]): Token[] | null {
  if (separators.some((separator) => separator !== ',') || !parts.every(hasText)) return null;
  if (parts.length === 1) return expression('$0', parts[0] as Token[]);
  return [
    ...tokenize(`${sqlite}(`),
    ...parts.flatMap((part, index) => (index === 0 ? part : [...tokenize(','), ...part])),
    ...tokenize(')'),
  ];
}

function unsupportedField(name: string, field: string, known: readonly string[]): PgSqlError {
  return new PgSqlError(
    '0A000',
    `${name} field "${field}" is not supported by northlight`,
    `Supported: ${known.join(', ')}.`,
  );
}

/**
 * Words left as written: SQL's and SQLite's keywords and the common type names. Their case means
 * nothing to SQLite, and the SQL a client sees echoed (EXPLAIN, errors, view definitions) keeps the
 * case it was written in. The price: a table or column named by one of these words unquoted keeps its
 * case (`CREATE TABLE t (Date date)` names the column `Date`), though it is still found by any case.
 */
const KEEP = new Set(
  (
    'ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE ANALYSE AND ANY ARRAY AS ASC ATTACH AUTHORIZATION ' +
    'AUTOINCREMENT BEFORE BEGIN BETWEEN BIGINT BIGSERIAL BINARY BLOB BOOL BOOLEAN BOTH BY BYTEA CASCADE ' +
    'CASE CAST CHAR CHARACTER CHARACTERISTICS CHECK COALESCE COLLATE COLUMN COMMENT COMMIT COMMITTED ' +
    'CONCURRENTLY CONFLICT CONSTRAINT CONTINUE COPY CREATE CROSS CSV CURRENT CURRENT_CATALOG CURRENT_DATE ' +
    'CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DATE DECIMAL DEFAULT DEFERRABLE ' +
    'DEFERRED DELETE DELIMITER DESC DETACH DISTINCT DO DOUBLE DROP EACH ELSE ENCODING END ESCAPE EXCEPT ' +
    'EXCLUDE EXCLUSIVE EXISTS EXPLAIN EXTENSION EXTRACT FAIL FALSE FETCH FILTER FIRST FLOAT FLOAT4 FLOAT8 ' +
    'FOLLOWING FOR FOREIGN FORMAT FREEZE FROM FULL GENERATED GLOB GRANT GREATEST GROUP GROUPS HAVING HEADER ' +
    'IDENTITY IF IGNORE ILIKE IMMEDIATE IN INCLUDE INDEX INDEXED INITIALLY INNER INSERT INSTEAD INT INT2 INT4 INT8 ' +
    'INTEGER INTERSECT INTERVAL INTO IS ISNULL ISOLATION JOIN JSON JSONB KEY LAST LATERAL LEADING LEAST ' +
    'LEFT LEVEL LIKE LIMIT LOCAL LOCALTIME LOCALTIMESTAMP LOCKED MATCH MATERIALIZED NAMES NATURAL NEXT NO ' +
    'NOT NOTHING NOTNULL NOWAIT NULL NULLIF NULLS NUMERIC OF OFFSET ON ONLY OR ORDER OTHERS OUTER OVER ' +
    'OWNER PARTITION PLAN POSITION PRAGMA PRECEDING PRECISION PRIMARY QUERY RAISE RANGE READ REAL ' +
    'RECURSIVE REFERENCES ROWID STRICT REGEXP REINDEX RELEASE RENAME REPEATABLE REPLACE RESTART RESTRICT RETURNING ' +
    'REVOKE RIGHT ROLLBACK ROW ROWS SAVEPOINT SCHEMA SELECT SEQUENCE SERIAL SERIALIZABLE SESSION STORED ' +
    'SESSION_USER SET SHARE SHOW SKIP SMALLINT SMALLSERIAL SOME STDIN STDOUT SUBSTRING SYMMETRIC TABLE ' +
    'TEMP TEMPORARY TEXT THEN TIES TIME TIMESTAMP TIMESTAMPTZ TO TRAILING TRANSACTION TRIGGER TRIM TRUE ' +
    'TRUNCATE TYPE UNBOUNDED UNCOMMITTED UNION UNIQUE UNLOGGED UPDATE USER USING UUID VACUUM VALUES ' +
    'VARCHAR VARYING VERBOSE VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT WORK WRITE ZONE'
  ).split(' '),
);

/** PostgreSQL folds the ASCII letters of an unquoted name (downcase_identifier), nothing else. */
/** Whether an INDEX after `out` is the keyword (CREATE [UNIQUE] INDEX, DROP/ALTER/REINDEX INDEX, COMMENT ON INDEX). */
function indexKeyword(out: readonly Token[]): boolean {
  const before: string[] = [];
  for (let at = out.length - 1; at >= 0 && before.length < 2; at--) {
    const token = out[at] as Token;
    if (isSignificant(token)) before.push(keyword(token));
  }
  const [previous, earlier] = before;
  return (
    previous === 'CREATE' ||
    previous === 'UNIQUE' ||
    previous === 'DROP' ||
    previous === 'ALTER' ||
    previous === 'REINDEX' ||
    (previous === 'ON' && earlier === 'COMMENT')
  );
}

function foldedName(token: Token): Token {
  if (KEEP.has(token.text.toUpperCase())) return token;
  const lower = token.text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  return lower === token.text ? token : { kind: 'identifier', text: lower };
}
