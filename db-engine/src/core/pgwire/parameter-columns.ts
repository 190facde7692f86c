/**
 * Which table column an untyped parameter stands for, so that it can be typed as that column is, as
 * PostgreSQL types it when it parses the statement. Most drivers send every parameter untyped (OID 0)
 * and as text: node-postgres sends `true` as `'true'`, a number as `'42'`, a Date in the client's
 * offset. Left as text, SQLite would store `'true'` in a boolean column (so `WHERE active` would miss
 * it) and `'12abc'` in an integer one. Typed by the column, the parameter is decoded as PostgreSQL
 * decodes it: `'true'` → 1, `'12abc'` → 22P02, a timestamptz in UTC.
 *
 * Only the plain, unambiguous shapes, over ONE table (a join, a subquery or a second table gives
 * nothing, rather than a guess):
 *  - `INSERT INTO t (a, b, …) VALUES ($1, $2, …)[, (…)]`: each parameter that is a whole value;
 *  - `UPDATE t SET a = $1, …` and `… ON CONFLICT … DO UPDATE SET a = $1`;
 *  - comparisons `[t.]a <op> $1` and `$1 <op> [t.]a` (=, <>, !=, <, <=, >, >=) in a statement over t
 *    (`SELECT … FROM t [alias] WHERE …`, `UPDATE`, `DELETE FROM t WHERE …`).
 * A parameter that two shapes give different columns gets none.
 *
 * Pure code over the lexer's tokens (already normalised: postgres-forms.ts).
 */
import type { Token } from './sql.js';

export interface ParameterColumns {
  /** The table, as written (quoted or not). */
  readonly table: string;
  /** Parameter number → column name, as written. */
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
  const words = tokens.filter(isSignificant);
  if (!words.some((word) => word.kind === 'parameter')) return null;
  const upper = words.map(keyword);
  // One table only: a join or a second SELECT (a subquery, a UNION) makes any column ambiguous.
  if (upper.includes('JOIN') || upper.filter((word) => word === 'SELECT').length > 1) return null;
  let table: Token | undefined;
  let alias: string | undefined;
  const found = new Map<number, string | null>();
  const give = (parameter: number | undefined, column: Token | undefined) => {
    if (parameter === undefined || column === undefined) return;
    const name = column.text;
    const before = found.get(parameter);
    found.set(parameter, before === undefined || before === name ? name : null);
  };
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
      if (words[at]?.text !== '(') return null;
      const columns: Token[] = [];
      at += 1;
      while (isName(words[at]) && (words[at + 1]?.text === ',' || words[at + 1]?.text === ')')) {
        columns.push(words[at] as Token);
        at += 2;
        if (words[at - 1]?.text === ')') break;
      }
      if (words[at - 1]?.text !== ')' || upper[at] !== 'VALUES') return null;
      at += 1;
      // Each tuple: the values that are one parameter each.
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
            if (at === start + 1) give(parameterNumber(words[start]), columns[value]);
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
  const tableName = (table as Token).text;
  const qualifierOk = (qualifier: Token | undefined) =>
    qualifier !== undefined && (qualifier.text === tableName || qualifier.text === alias);
  // `SET a = $1` and comparisons, from where the table was named on.
  for (let index = scanFrom; index < words.length; index++) {
    const parameter = parameterNumber(words[index]);
    if (parameter === undefined) continue;
    // Left of the parameter: `[q.]col <op> $n`.
    for (const length of [1, 2]) {
      const operator = operatorAt(words, index - length);
      if (operator === undefined || operator.length !== length) continue;
      const column = words[index - length - 1];
      if (!isName(column) || COMPARISON_KEYWORDS.has(keyword(column))) continue;
      if (words[index - length - 2]?.text === '.') {
        if (!qualifierOk(words[index - length - 3]) || words[index - length - 4]?.text === '.') continue;
      } else if (words[index - length - 2]?.text === ')' || keyword(words[index - length - 2]) === 'AS')
        continue;
      give(parameter, column);
    }
    // Right of it: `$n <op> [q.]col`, the column not called and not qualifying anything.
    const operator = operatorAt(words, index + 1);
    if (operator !== undefined) {
      let at = index + 1 + operator.length;
      let column = words[at];
      if (words[at + 1]?.text === '.') {
        if (!qualifierOk(column)) continue;
        at += 2;
        column = words[at];
      }
      const next = words[at + 1]?.text;
      if (isName(column) && next !== '(' && next !== '.' && !COMPARISON_KEYWORDS.has(keyword(column)))
        give(parameter, column);
    }
  }
  const columns = new Map<number, string>();
  for (const [parameter, column] of found) if (column !== null) columns.set(parameter, column);
  return columns.size === 0 ? null : { table: tableName, columns };
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
