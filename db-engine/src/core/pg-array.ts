/**
 * PostgreSQL array literals (`{1,2,"a b",NULL}`), as node-postgres sends a JavaScript array, read as
 * JSON so that SQLite's json_each can list their elements: what `x = ANY($1)` becomes
 * (src/core/pgwire/postgres-forms.ts) calls the kernel's SQL function of this name.
 *
 * Pure code.
 */

/** The SQL function that reads a PostgreSQL array literal (`{1,2,"a b",NULL}`) as a JSON array. */
export const PG_ARRAY_FUNCTION = 'northlight_pg_array';

/** The kernel's SQL function that writes one value as an element of PostgreSQL's array text. */
export const ARRAY_ELEMENT_FUNCTION = 'northlight_array_element';

/**
 * One element of PostgreSQL's array text (array_out): NULL unquoted; a string that is empty, is
 * `NULL` in any case, or holds braces, a comma, a double quote, a backslash or white space in
 * double quotes, with double quotes and backslashes escaped by a backslash; anything else as it is.
 */
export function arrayElementText(value: string | number | null): string {
  if (value === null) return 'NULL';
  const text = String(value);
  if (text !== '' && text.toUpperCase() !== 'NULL' && !/[{}," \\\t\n\r\v\f]/.test(text)) return text;
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}

const NUMBER_ELEMENT = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A PostgreSQL array literal as JSON: `{1,2.5,"a \"b\"",NULL,{3}}` → `[1,2.5,"a \"b\"",null,[3]]`.
 * Unquoted elements that read as numbers are numbers (`5.` and `.5` written as JSON writes them),
 * `NULL` (any case) is null, other unquoted ones are strings; quoted ones are strings (a backslash
 * escapes any character). An Error for malformed text, worded as PostgreSQL words it (22P02).
 */
export function pgArrayToJson(text: string): string | Error {
  let index = 0;
  const malformed = (why: string) => new Error(`malformed array literal: "${text.slice(0, 200)}" (${why})`);
  const skipSpace = () => {
    while (index < text.length && /\s/.test(text[index] as string)) index += 1;
  };
  const readQuoted = (): string | Error => {
    let value = '';
    index += 1;
    for (;;) {
      const next = text[index];
      if (next === undefined) return malformed('unterminated quoted element');
      index += 1;
      if (next === '"') return JSON.stringify(value);
      if (next === '\\') {
        const escaped = text[index];
        if (escaped === undefined) return malformed('unexpected end of input');
        value += escaped;
        index += 1;
      } else value += next;
    }
  };
  const readUnquoted = (): string | Error => {
    const start = index;
    while (index < text.length && !/[,}"{]/.test(text[index] as string)) index += 1;
    const raw = text.slice(start, index).trim();
    if (raw === '') return malformed('an element is empty');
    if (/^null$/i.test(raw)) return 'null';
    if (!NUMBER_ELEMENT.test(raw)) return JSON.stringify(raw);
    return raw.replace(/^(-?)\./, '$10.').replace(/\.(?=[eE]|$)/, '');
  };
  const readArray = (depth: number): string | Error => {
    if (depth > 6) return malformed('more than 6 dimensions');
    if (text[index] !== '{') return malformed('an array must start with "{"');
    index += 1;
    skipSpace();
    if (text[index] === '}') {
      index += 1;
      return '[]';
    }
    const items: string[] = [];
    for (;;) {
      skipSpace();
      const char = text[index];
      if (char === undefined) return malformed('unexpected end of input');
      const item = char === '{' ? readArray(depth + 1) : char === '"' ? readQuoted() : readUnquoted();
      if (item instanceof Error) return item;
      items.push(item);
      skipSpace();
      const separator = text[index];
      index += 1;
      if (separator === '}') return `[${items.join(',')}]`;
      if (separator !== ',') return malformed('expected "," or "}"');
    }
  };
  skipSpace();
  const json = readArray(1);
  if (json instanceof Error) return json;
  skipSpace();
  return index === text.length ? json : malformed('junk after closing right brace');
}
