/**
 * Which table column an untyped parameter stands for, so that it can be typed as that column is, as
 * PostgreSQL types it when it parses the statement. Most drivers send every parameter untyped (OID 0)
 * and as text: node-postgres sends `true` as `'true'`, a number as `'42'`, a Date in the client's
 * offset. Left as text, SQLite would store `'true'` in a boolean column (so `WHERE active` would miss
 * it) and `'12abc'` in an integer one. Typed by the column, the parameter is decoded as PostgreSQL
 * decodes it: `'true'` → 1, `'12abc'` → 22P02, a timestamptz in UTC.
 *
 * Only the plain, unambiguous shapes, over one table (a subquery gives nothing, rather than a guess):
 *  - `INSERT INTO t (a, b, …) VALUES ($1, $2, …)[, (…)]`: each parameter that is a whole value;
 *  - `UPDATE t SET a = $1, …` and `… ON CONFLICT … DO UPDATE SET a = $1`;
 *  - comparisons `[t.]a <op> $1` and `$1 <op> [t.]a` (=, <>, !=, <, <=, >, >=) in a statement over t
 *    (`SELECT … FROM t [alias] WHERE …`, `UPDATE`, `DELETE FROM t WHERE …`).
 * A parameter (not a literal) may also be compared with a column of a SELECT over tables joined
 * (`FROM a JOIN b ON … WHERE published = $1`, `FROM a, b`: knex's and TypeORM's relations): then the
 * `table` is the whole FROM clause and the column is as written (`b.published`), so that SQLite
 * resolves which table's it is when the connection describes `SELECT column FROM clause`, and an
 * ambiguous name fails that describe (the parameter stays untyped).
 * A parameter that two shapes give different columns gets none.
 *
 * Pure code over the lexer's tokens (already normalised: postgres-forms.ts).
 */
import type { Token } from './sql.js';

export interface ParameterColumns {
  /** The table, as written (quoted or not); for a join, the whole FROM clause. */
  readonly table: string;
  /** Parameter number → column name, as written (qualified as written for a join: `b.a`). */
  readonly columns: ReadonlyMap<number, string>;
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);
/** Words after which a FROM list's single table ends. */
const AFTER_TABLE = new Set([
  'WHERE',
  'ORDER',
  'GROUP',
  'LIMIT',
  'OFFSET',
  'RETURNING',
  'SET',
  'HAVING',
  'WINDOW',
]);

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment' && token.kind !== 'semicolon';
}

function keyword(token: Token | undefined): string {
  return token !== undefined && token.kind === 'identifier' ? token.text.toUpperCase() : '';
}

function isName(token: Token | undefined): boolean {
  return token !== undefined && (token.kind === 'identifier' || token.kind === 'quoted-identifier');
}

function parameterNumber(token: Token | undefined): number | undefined {
  return token?.kind === 'parameter' ? Number(token.value) : undefined;
}

/** Two-character operators come from the lexer as two punctuation tokens: `<` `=`. */
function operatorAt(words: readonly Token[], index: number): { text: string; length: number } | undefined {
  const first = words[index]?.text;
  const second = words[index + 1]?.text;
  if (first === undefined) return undefined;
  if (
    (first === '<' || first === '>' || first === '!') &&
    (second === '=' || (first === '<' && second === '>'))
  )
    return { text: first + second, length: 2 };
  return COMPARISONS.has(first) ? { text: first, length: 1 } : undefined;
}

export function parameterColumns(tokens: readonly Token[]): ParameterColumns | null {
  const found = valueColumns(tokens, (word) => parameterNumber(word), false, true);
  if (found === null) return null;
  const columns = new Map<number, string>();
  for (const [parameter, column] of found.columns)
    if (typeof column === 'string') columns.set(parameter, column);
  return columns.size === 0 ? null : { table: found.table, columns };
}

/** The table a statement's string literals are values of, and which column each stands for. */
export interface LiteralColumns {
  /** The table, as written (quoted or not). */
  readonly table: string;
  /**
   * Literal token (of the tokens given) → its column: a name as written, or a 0-based position in
   * the table's columns (`INSERT INTO t VALUES (…)`, no column list).
   */
  readonly columns: ReadonlyMap<Token, string | number>;
}

/**
 * Which table column each untyped string literal stands for, so that it can be read as that
 * column's type, as PostgreSQL resolves a literal of unknown type against the column it is compared
 * with or stored into. The shapes of `parameterColumns`, plus a whole value of `INSERT INTO t VALUES
 * (…)` without a column list (by position); and a literal must be a whole operand: `a = 'x'` and
 * `a BETWEEN 'x' AND 'y'` give one, `a = 'x' || b` and `a = 'x'::text` do not (the cast already types
 * it), nor does `b + a = 'x'`.
 */
export function literalColumns(tokens: readonly Token[]): LiteralColumns | null {
  return valueColumns(tokens, (word) => (word.kind === 'string' ? word : undefined), true, false);
}

/**
 * The scan behind `parameterColumns` and `literalColumns`: `keyOf` names the values looked for.
 * `whole`: the value and its column must each be a whole operand (bounded by a keyword, a comma, a
 * parenthesis or the statement's end), as a literal must be to take the column's type; a parameter
 * is typed by its column in any comparison it is an operand of.
 */
function valueColumns<K>(
  tokens: readonly Token[],
  keyOf: (word: Token) => K | undefined,
  whole: boolean,
  joins: boolean,
): { table: string; columns: Map<K, string | number> } | null {
  const words = tokens.filter(isSignificant);
  if (!words.some((word) => keyOf(word) !== undefined)) return null;
  const upper = words.map(keyword);
  // A second SELECT (a subquery, a UNION) makes any column ambiguous.
  if (upper.filter((word) => word === 'SELECT').length > 1) return null;
  const joined = joinedFrom(words, upper);
  if (joined === null) return null;
  if (joined !== undefined && !joins) return null;
  let table: Token | undefined;
  let alias: string | undefined;
  const found = new Map<K, string | number | null>();
  const give = (key: K | undefined, column: Token | number | undefined) => {
    if (key === undefined || column === undefined) return;
    const name = typeof column === 'number' ? column : column.text;
    const before = found.get(key);
    found.set(key, before === undefined || before === name ? name : null);
  };
  const keyAt = (index: number): K | undefined => {
    const word = words[index];
    return word === undefined ? undefined : keyOf(word);
  };
  /** In `whole` mode: the value at `index` ends where a whole operand ends. */
  const endsOperand = (index: number): boolean => !whole || isOperandEnd(words[index + 1]);
  let scanFrom = 0;
  switch (upper[0]) {
    case 'INSERT': {
      const into = upper.indexOf('INTO');
      table = words[into + 1];
      if (into < 0 || !isName(table) || words[into + 2]?.text === '.') return null;
      let at = into + 2;
      if (upper[at] === 'AS') {
        alias = words[at + 1]?.text;
        at += 2;
      }
      let columns: Token[] | null = null;
      if (words[at]?.text === '(') {
        columns = [];
        at += 1;
        while (isName(words[at]) && (words[at + 1]?.text === ',' || words[at + 1]?.text === ')')) {
          columns.push(words[at] as Token);
          at += 2;
          if (words[at - 1]?.text === ')') break;
        }
        if (words[at - 1]?.text !== ')') return null;
      }
      if (upper[at] !== 'VALUES') return null;
      at += 1;
      // Each tuple: the values that are one value token each.
      while (words[at]?.text === '(') {
        let value = 0;
        let depth = 0;
        let start = at + 1;
        for (at += 1; at < words.length; at++) {
          const text = (words[at] as Token).text;
          if (text === '(') depth += 1;
          if (text === ')' && depth > 0) {
            depth -= 1;
            continue;
          }
          if (depth === 0 && (text === ',' || text === ')')) {
            if (at === start + 1) give(keyAt(start), columns === null ? value : columns[value]);
            value += 1;
            start = at + 1;
            if (text === ')') break;
          }
        }
        at += 1;
        if (words[at]?.text !== ',') break;
        at += 1;
      }
      scanFrom = at;
      break;
    }
    case 'UPDATE': {
      table = words[1];
      if (!isName(table) || words[2]?.text === '.') return null;
      const set = upper.indexOf('SET');
      if (set === 3 || (set === 4 && upper[2] === 'AS')) alias = words[set - 1]?.text;
      else if (set !== 2) return null;
      scanFrom = set;
      break;
    }
    case 'DELETE':
    case 'SELECT': {
      const from = upper.indexOf('FROM');
      if (joined !== undefined) {
        scanFrom = from + 1; // the ON conditions too
        break;
      }
      table = words[from + 1];
      if (from < 0 || !isName(table) || words[from + 2]?.text === '.' || words[from + 2]?.text === '(')
        return null;
      let after = from + 2;
      if (upper[after] === 'AS') after += 1;
      if (isName(words[after]) && !AFTER_TABLE.has(upper[after] ?? '')) {
        alias = words[after]?.text;
        after += 1;
      }
      if (after < words.length && !AFTER_TABLE.has(upper[after] ?? '')) return null; // a comma: two tables
      scanFrom = after;
      break;
    }
    default:
      return null;
  }
  const tableName = joined?.clause ?? (table as Token).text;
  // Over a join any table's name or alias may qualify a column: SQLite says which, or that none does.
  const qualifierOk = (qualifier: Token | undefined) =>
    qualifier !== undefined &&
    (joined !== undefined ? isName(qualifier) : qualifier.text === tableName || qualifier.text === alias);
  /** The column's name as it goes to the connection: qualified as written over a join. */
  const named = (column: Token, qualifier: Token | undefined): Token =>
    joined === undefined || qualifier === undefined
      ? column
      : { ...column, text: `${qualifier.text}.${column.text}` };
  /**
   * The column that ends at `index` (`col` or `q.col`), if it is one: a name, not a keyword, its
   * qualifier (if any) the table's; in `whole` mode it also starts a whole operand.
   */
  const columnEndingAt = (index: number): Token | undefined => {
    const column = words[index];
    if (!isName(column) || COMPARISON_KEYWORDS.has(keyword(column))) return undefined;
    let before = index - 1;
    let qualifier: Token | undefined;
    if (words[before]?.text === '.') {
      if (!qualifierOk(words[before - 1]) || words[before - 2]?.text === '.') return undefined;
      qualifier = words[before - 1];
      before -= 2;
    } else if (words[before]?.text === ')' || keyword(words[before]) === 'AS') return undefined;
    return !whole || isOperandStart(words[before]) ? named(column as Token, qualifier) : undefined;
  };
  /** The column that starts at `index`, if it is one, not called, and (`whole`) a whole operand. */
  const columnStartingAt = (index: number): Token | undefined => {
    let at = index;
    let column = words[at];
    let qualifier: Token | undefined;
    if (words[at + 1]?.text === '.') {
      if (!qualifierOk(column)) return undefined;
      qualifier = column;
      at += 2;
      column = words[at];
    }
    const next = words[at + 1]?.text;
    if (!isName(column) || next === '(' || next === '.' || COMPARISON_KEYWORDS.has(keyword(column)))
      return undefined;
    return !whole || isOperandEnd(words[at + 1]) ? named(column as Token, qualifier) : undefined;
  };
  // `SET a = v`, comparisons, BETWEEN and IN lists, from where the table was named on.
  for (let index = scanFrom; index < words.length; index++) {
    const between = upper[index] === 'BETWEEN';
    if (between || (upper[index] === 'IN' && words[index + 1]?.text === '(')) {
      const column = columnEndingAt(upper[index - 1] === 'NOT' ? index - 2 : index - 1);
      if (column === undefined) continue;
      if (between) {
        // `col [NOT] BETWEEN [SYMMETRIC] low AND high`: each bound one value token.
        const low = upper[index + 1] === 'SYMMETRIC' ? index + 2 : index + 1;
        if (upper[low + 1] !== 'AND') continue;
        give(keyAt(low), column);
        if (endsOperand(low + 2)) give(keyAt(low + 2), column);
        continue;
      }
      // `col [NOT] IN (v, v, …)`: the elements that are one value token each.
      for (let at = index + 2; at < words.length; at += 2) {
        const separator = words[at + 1]?.text;
        if (separator !== ',' && separator !== ')') break;
        give(keyAt(at), column);
        if (separator === ')') break;
      }
      continue;
    }
    const key = keyAt(index);
    if (key === undefined) continue;
    // Left of the value: `[q.]col <op> v`.
    for (const length of [1, 2]) {
      const operator = operatorAt(words, index - length);
      if (operator === undefined || operator.length !== length || !endsOperand(index)) continue;
      give(key, columnEndingAt(index - length - 1));
    }
    // Right of it: `v <op> [q.]col`.
    const operator = operatorAt(words, index + 1);
    if (operator !== undefined && (!whole || isOperandStart(words[index - 1])))
      give(key, columnStartingAt(index + 1 + operator.length));
  }
  const columns = new Map<K, string | number>();
  for (const [key, column] of found) if (column !== null) columns.set(key, column);
  return columns.size === 0 ? null : { table: tableName, columns };
}

/**
 * A SELECT's FROM clause when it joins tables (`a JOIN b ON …`, `a, b`), as SQL text up to the
 * clause's end; undefined when the statement names one table (or is no SELECT); null when it joins
 * in a way not followed here (a subquery or a function in FROM, a USING or NATURAL join, whose
 * merged columns SQLite names differently).
 */
function joinedFrom(
  words: readonly Token[],
  upper: readonly string[],
): { readonly clause: string } | undefined | null {
  if (upper[0] !== 'SELECT') return upper.includes('JOIN') ? null : undefined;
  const from = upper.indexOf('FROM');
  if (from < 0) return undefined;
  let end = from + 1;
  let depth = 0;
  let joins = false;
  for (; end < words.length; end++) {
    const text = (words[end] as Token).text;
    if (text === '(') depth += 1;
    else if (text === ')') depth -= 1;
    if (depth < 0) break;
    if (depth > 0) continue;
    if (
      AFTER_TABLE.has(upper[end] ?? '') ||
      ['UNION', 'EXCEPT', 'INTERSECT', 'FOR'].includes(upper[end] ?? '')
    )
      break;
    if (upper[end] === 'JOIN' || text === ',') joins = true;
    if (upper[end] === 'USING' || upper[end] === 'NATURAL')
      return joins || upper.includes('JOIN') ? null : undefined;
  }
  if (!joins) return undefined;
  const clause = words.slice(from + 1, end);
  // Only names, dots, ON conditions: a parenthesis in FROM is a subquery, a function or a grouping.
  // (A parameter in an ON condition stays: the describe prepares the clause without running it.)
  if (clause.some((word) => word.text === '(')) return null;
  return { clause: clause.map((word) => word.text).join(' ') };
}

/** Words after which a whole operand may start (besides `(` and `,`). */
const OPERAND_START = new Set(['WHERE', 'AND', 'OR', 'NOT', 'ON', 'WHEN', 'HAVING', 'SET', 'SELECT']);
/** Words before which a whole operand may end (besides `)`, `,` and the end). */
const OPERAND_END = new Set([
  'AND',
  'OR',
  'ORDER',
  'GROUP',
  'LIMIT',
  'OFFSET',
  'RETURNING',
  'HAVING',
  'WINDOW',
  'WHERE',
  'THEN',
  'ELSE',
  'END',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'FOR',
  'FETCH',
  'FROM',
  'AS',
]);

function isOperandStart(before: Token | undefined): boolean {
  return (
    before === undefined || before.text === '(' || before.text === ',' || OPERAND_START.has(keyword(before))
  );
}

function isOperandEnd(after: Token | undefined): boolean {
  return after === undefined || after.text === ')' || after.text === ',' || OPERAND_END.has(keyword(after));
}

/** Words that may stand where a column would, and are none (`WHERE NOT $1 = …`, `CASE WHEN … = $1`). */
const COMPARISON_KEYWORDS = new Set([
  'NOT',
  'WHEN',
  'THEN',
  'ELSE',
  'AND',
  'OR',
  'WHERE',
  'SET',
  'NULL',
  'TRUE',
  'FALSE',
]);
