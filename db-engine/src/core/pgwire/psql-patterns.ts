/**
 * Reading psql's catalog queries (describe.c): the query's fixed shape, and the name patterns it
 * writes as regular expressions, which become SQLite GLOBs where they are ones. Shared by the
 * relation lists (`catalog.ts`) and the description of one relation (`psql-describe.ts`).
 */
import type { Token } from './sql.js';

export type CatalogAnswer =
  /** The statement does not touch the catalogs: translate it as usual. */
  | { readonly kind: 'none' }
  /**
   * A query this module answers: run this SQLite SQL instead. `types`: declared types of its columns
   * SQLite types otherwise (a boolean's 0 and 1), by column name.
   */
  | { readonly kind: 'sql'; readonly sql: string; readonly types?: ReadonlyMap<string, string> }
  /**
   * A query over views this module provides: translate these tokens instead (information-schema.ts).
   * `types`: declared types of the views' columns SQLite types otherwise (their booleans are 0 and 1),
   * by column name, for the client.
   */
  | {
      readonly kind: 'tokens';
      readonly tokens: readonly Token[];
      readonly types: ReadonlyMap<string, string>;
    }
  | {
      readonly kind: 'unsupported';
      readonly sqlstate: string;
      readonly message: string;
      readonly hint: string;
    };

/**
 * The relations psql may list or describe, by their `sqlite_schema` name column: SQLite's own
 * tables are not the user's; the indexes behind UNIQUE and PRIMARY KEY are.
 */
export function userRelationsSql(name = 'name'): string {
  return `(${name} NOT LIKE 'sqlite\\_%' ESCAPE '\\' OR ${name} LIKE 'sqlite\\_autoindex\\_%' ESCAPE '\\')`;
}

/** The significant tokens as one string, single-spaced, for matching a query's fixed shape. */
export function shape(words: readonly Token[]): string {
  return words.map((token) => token.text).join(' ');
}

/** The string after `<column> OPERATOR(pg_catalog.~)`: psql's pattern as a regular expression. */
export function operatorPattern(words: readonly Token[], column: string): string | null | undefined {
  for (let index = 0; index + 9 < words.length; index++) {
    const text = words
      .slice(index, index + 9)
      .map((token) => token.text.toLowerCase())
      .join(' ');
    if (text !== `${column} operator ( pg_catalog . ~ )`) continue;
    const pattern = words[index + 9] as Token;
    return pattern.kind === 'string' ? (pattern.value ?? null) : null;
  }
  return undefined;
}

/** Whether psql's schema pattern (`\dt public.*`) names the one schema there is. */
export function matchesSchema(pattern: string | null): boolean {
  if (pattern === null) return false;
  try {
    return new RegExp(pattern).test('public');
  } catch {
    return false;
  }
}

/**
 * psql turns a pattern into `^(…)$`, with `*` as `.*`, `?` as `.`, and the regular-expression
 * characters the user meant literally escaped with `\`. That much is a GLOB; anything else (the
 * regular-expression syntax psql passes through: `+`, `|`, `[…]`…) is not, and gives null.
 */
export function globOfPsqlPattern(regex: string): string | null {
  const match = /^\^\((.*)\)\$$/s.exec(regex);
  if (match === null) return null;
  const body = match[1] as string;
  let glob = '';
  for (let index = 0; index < body.length; index++) {
    const char = body[index] as string;
    if (char === '.' && body[index + 1] === '*') {
      glob += '*';
      index += 1;
    } else if (char === '.') {
      glob += '?';
    } else if (char === '\\' && index + 1 < body.length) {
      glob += globLiteral(body[index + 1] as string);
      index += 1;
    } else if ('\\+|()[]{}^$?*'.includes(char)) {
      return null;
    } else {
      glob += char;
    }
  }
  return glob;
}

function globLiteral(char: string): string {
  return char === '*' || char === '?' || char === '[' ? `[${char}]` : char;
}

export function unsupportedPattern(pattern: string | null): CatalogAnswer {
  return {
    kind: 'unsupported',
    sqlstate: '0A000',
    message: `this psql pattern is not supported by northlight${pattern === null ? '' : ` (as a regular expression: ${pattern})`}`,
    hint: 'Use * and ? in psql patterns, or query sqlite_schema with GLOB or LIKE.',
  };
}

/**
 * A catalog name as written, upper-cased: a plain identifier (`information_schema`, any case), or a
 * quoted one in lower case (`"information_schema"`, as ORMs quote every name; `"TABLES"` is another
 * name in PostgreSQL); '' for anything else.
 */
export function catalogWord(token: Token | undefined): string {
  if (token?.kind === 'identifier') return token.text.toUpperCase();
  if (token?.kind === 'quoted-identifier' && /^"[a-z_][a-z0-9_]*"$/.test(token.text))
    return token.text.slice(1, -1).toUpperCase();
  return '';
}

/** `expression` (a name) as PostgreSQL writes an identifier: quoted unless lower-case letters, digits, _. */
export function identifierSql(expression: string): string {
  return (
    `CASE WHEN ${expression} GLOB '[a-z_]*' AND ${expression} NOT GLOB '*[^a-z0-9_]*' THEN ${expression} ` +
    `ELSE '"' || replace(${expression}, '"', '""') || '"' END`
  );
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The sqlite_schema conditions of psql's relation name and schema patterns (`c.relname OPERATOR(~)`,
 * `n.nspname OPERATOR(~)`), matched case-insensitively as SQLite's names are; or the refusal of a
 * name pattern GLOB cannot express.
 */
export function relationPatternConditions(
  words: readonly Token[],
): { readonly conditions: readonly string[] } | { readonly refusal: CatalogAnswer } {
  const conditions: string[] = [];
  const namePattern = operatorPattern(words, 'c . relname');
  if (namePattern !== undefined) {
    const glob = namePattern === null ? null : globOfPsqlPattern(namePattern);
    if (glob === null) return { refusal: unsupportedPattern(namePattern) };
    conditions.push(`lower(name) GLOB lower(${sqlString(glob)})`);
  }
  const schemaPattern = operatorPattern(words, 'n . nspname');
  if (schemaPattern !== undefined && !matchesSchema(schemaPattern)) conditions.push('0');
  return { conditions };
}
