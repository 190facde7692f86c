/**
 * `DEFAULT` as a value of `INSERT … VALUES`, which SQLite does not accept (`near "DEFAULT": syntax
 * error`) and ORMs write all the time: TypeORM for every generated key (`INSERT INTO "user"("id",
 * "name") VALUES (DEFAULT, $1) RETURNING "id"`), Knex and Sequelize for a key some rows of a batch
 * leave out. A column whose value is `DEFAULT` in every row is left out of the column list and of
 * every row, which is what DEFAULT means: the column's default, or NULL (the next rowid for an
 * `INTEGER PRIMARY KEY`). When that leaves no column, the statement is `DEFAULT VALUES` (one row).
 *
 * A DEFAULT in some rows of a column and not in others, or with no column list, or in every column
 * of several rows, needs the column's default expression, which the translation does not know: the
 * statement goes on as it is, and the kernel puts each default in from the table's definition, in the
 * statement's own transaction (kernel/default-values.ts).
 *
 * Pure code over the lexer's tokens (sql.ts).
 */
import type { Token } from './sql.js';

function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

function word(token: Token | undefined): string {
  return token?.kind === 'identifier' ? token.text.toUpperCase() : '';
}

function nextSignificant(tokens: readonly Token[], from: number): number {
  let index = from;
  while (index < tokens.length && !isSignificant(tokens[index] as Token)) index += 1;
  return index;
}

/** The index of the `)` closing the `(` at `open`, or -1. */
function closing(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const token = tokens[index] as Token;
    if (token.kind !== 'punctuation') continue;
    if (token.text === '(') depth += 1;
    else if (token.text === ')') {
      depth -= 1;
      if (depth === 0) return index;
    }
  }
  return -1;
}

/** The items of the parenthesized list [open, close], split at its top-level commas. */
function items(tokens: readonly Token[], open: number, close: number): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (let index = open + 1; index < close; index++) {
    const token = tokens[index] as Token;
    if (token.kind === 'punctuation' && (token.text === '(' || token.text === '[')) depth += 1;
    if (token.kind === 'punctuation' && (token.text === ')' || token.text === ']')) depth -= 1;
    if (depth === 0 && token.kind === 'punctuation' && token.text === ',') parts.push([]);
    else parts.at(-1)?.push(token);
  }
  return parts;
}

function isDefault(item: readonly Token[]): boolean {
  const significant = item.filter(isSignificant);
  return significant.length === 1 && word(significant[0]) === 'DEFAULT';
}

/** A parenthesized list of `parts`, each without the spaces around it, joined by `, `. */
function list(parts: readonly (readonly Token[])[]): Token[] {
  const out: Token[] = [{ kind: 'punctuation', text: '(' }];
  parts.forEach((part, index) => {
    if (index > 0) out.push({ kind: 'punctuation', text: ',' }, { kind: 'space', text: ' ' });
    const first = part.findIndex(isSignificant);
    const last = part.findLastIndex(isSignificant);
    out.push(...part.slice(first, last + 1));
  });
  out.push({ kind: 'punctuation', text: ')' });
  return out;
}

/** The statement with `DEFAULT` values of `INSERT … VALUES` left out; as it is when it has none. */
export function withoutDefaultValues(tokens: readonly Token[]): readonly Token[] {
  // Every statement comes here: a look at its first word and for a DEFAULT, without copying it.
  const first = word(tokens[nextSignificant(tokens, 0)]);
  if (first !== 'INSERT' && first !== 'WITH') return tokens;
  if (!tokens.some((token) => word(token) === 'DEFAULT')) return tokens;
  // INSERT INTO name [AS alias] [(columns)] VALUES (…), (…) …
  const insert = tokens.findIndex((token) => word(token) === 'INSERT');
  const into = nextSignificant(tokens, insert + 1);
  if (word(tokens[into]) !== 'INTO') return tokens;
  let at = nextSignificant(tokens, into + 1); // the table name, maybe dotted
  while (tokens[nextSignificant(tokens, at + 1)]?.text === '.')
    at = nextSignificant(tokens, nextSignificant(tokens, at + 1) + 1);
  let next = nextSignificant(tokens, at + 1);
  if (word(tokens[next]) === 'AS') next = nextSignificant(tokens, nextSignificant(tokens, next + 1) + 1);
  let columns: { open: number; close: number } | undefined;
  if (tokens[next]?.text === '(') {
    const close = closing(tokens, next);
    if (close < 0) return tokens;
    columns = { open: next, close };
    next = nextSignificant(tokens, close + 1);
  }
  if (word(tokens[next]) !== 'VALUES') return tokens;
  const rows: { open: number; close: number }[] = [];
  let cursor = nextSignificant(tokens, next + 1);
  while (tokens[cursor]?.text === '(') {
    const close = closing(tokens, cursor);
    if (close < 0) return tokens;
    rows.push({ open: cursor, close });
    const after = nextSignificant(tokens, close + 1);
    if (tokens[after]?.text !== ',') {
      cursor = after;
      break;
    }
    cursor = nextSignificant(tokens, after + 1);
  }
  const values = rows.map((row) => items(tokens, row.open, row.close));
  const width = values[0]?.length ?? 0;
  if (width === 0 || values.some((row) => row.length !== width)) return tokens;
  const defaults = Array.from({ length: width }, (_, column) =>
    values.map((row) => isDefault(row[column] ?? [])),
  );
  if (!defaults.some((column) => column.some(Boolean))) return tokens;
  // The kernel puts each column's default in (kernel/default-values.ts).
  if (columns === undefined) return tokens;
  if (defaults.some((column) => column.some(Boolean) && !column.every(Boolean))) return tokens;
  const names = items(tokens, columns.open, columns.close);
  if (names.length !== width) return tokens; // SQLite's own error on the counts
  const kept = defaults.map((column) => !column[0]);
  const head = tokens.slice(0, columns.open);
  const tail = tokens.slice(cursor);
  if (!kept.some(Boolean)) {
    if (rows.length > 1) return tokens;
    return [
      ...head,
      { kind: 'identifier', text: 'DEFAULT' },
      { kind: 'space', text: ' ' },
      { kind: 'identifier', text: 'VALUES' },
      { kind: 'space', text: ' ' },
      ...tail,
    ];
  }
  const rowTokens: Token[] = [];
  values.forEach((row, index) => {
    if (index > 0) rowTokens.push({ kind: 'punctuation', text: ',' }, { kind: 'space', text: ' ' });
    rowTokens.push(...list(row.filter((_, column) => kept[column])));
  });
  return [
    ...head,
    ...list(names.filter((_, column) => kept[column])),
    { kind: 'space', text: ' ' },
    { kind: 'identifier', text: 'VALUES' },
    { kind: 'space', text: ' ' },
    ...rowTokens,
    { kind: 'space', text: ' ' },
    ...tail,
  ];
}
