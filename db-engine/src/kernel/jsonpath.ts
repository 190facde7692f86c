/**
 * PostgreSQL's SQL/JSON path language (jsonpath), for `jsonb_path_query_first`, `_query_array`,
 * `_exists`, `_match` and the operators `@?` and `@@` (jsonb-functions.ts registers them; knex's
 * `whereJsonPath` sends `jsonb_path_query_first(col, $1) #>> '{}' = $2`).
 *
 * Supported, as PostgreSQL 15 reads and evaluates it (jsonpath_gram.y, jsonpath_exec.c), checked
 * against a real PostgreSQL 15 (test/kernel/jsonpath.test.ts holds its answers):
 * - `lax` (the default) and `strict` modes: in lax mode an accessor of an object's key goes through
 *   an array's elements, an array accessor treats a non-array as a one-element array, and a missing
 *   key or index gives nothing; in strict mode each of these is an error (2203A, 22033…);
 * - `$`, `@` (the filter's current item), `$name` (a variable from the vars object), `last` (in a
 *   subscript), literals (numbers, `"strings"`, `true`, `false`, `null`);
 * - accessors `.key`, `."key"`, `.*`, `[*]`, `[i]`, `[i to j]`, `[a, b]`, `.**` (any depth), filters
 *   `? (predicate)`;
 * - arithmetic `+ - * / %` and unary `+ -` on numbers;
 * - predicates `== != <> < <= > >=`, `&&`, `||`, `!`, `exists (path)`, `like_regex "re" [flag "i"]`,
 *   `starts with`, `(predicate) is unknown`; comparisons of mismatched types are unknown, not false;
 * - methods `.type()`, `.size()`, `.double()`, `.abs()`, `.floor()`, `.ceiling()`, `.keyvalue()`.
 *
 * Not supported (0A000 naming it): `.datetime()` and the other methods. Numbers are doubles: `$.a / 2`
 * gives 2.5 where PostgreSQL's numeric gives 2.5000000000000000; `.keyvalue()`'s `id` is 0 here (an
 * offset inside PostgreSQL's binary jsonb there).
 *
 * Pure code.
 */
import { PostgresFunctionError } from './postgres-functions.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A jsonpath error with PostgreSQL's SQLSTATE. */
export class JsonPathError extends PostgresFunctionError {
  constructor(
    message: string,
    readonly sqlstate: string,
  ) {
    super(message);
  }

  /** What `silent => true` (and the operators `@?`, `@@`) suppress: not syntax, variables or support. */
  get suppressible(): boolean {
    return !['42601', '42704', '0A000', '54000', '54001'].includes(this.sqlstate);
  }
}

/**
 * The SQLSTATEs of these errors by message (an error crosses SQLite as its message only:
 * sql-errors.ts maps it back).
 */
export const JSONPATH_SQLSTATES: readonly (readonly [RegExp, string])[] = [
  [
    /^JSON object does not contain key|^jsonpath (wildcard )?member accessor can only be applied to an object/,
    '2203A',
  ],
  [
    /^jsonpath (wildcard )?array accessor can only be applied to an array|^jsonpath item method \.size\(\)/,
    '22039',
  ],
  [/^jsonpath array subscript is/, '22033'],
  [/single numeric value|can only be applied to a numeric value|^single boolean result is expected/, '22038'],
  [/is not a numeric value$|^jsonpath item method \.keyvalue\(\)/, '2203C'],
  [/^could not find jsonpath variable/, '42704'],
  [/^jsonpath method \.\w+\(\) is not supported by northlight/, '0A000'],
  [/^"vars" argument is not an object/, '22023'],
  [/^LAST is allowed only in array subscripts/, '42601'],
  [/^jsonpath result is too large/, '54000'],
];

/** Nesting (parentheses, filters, accessors) a path may hold: beyond it, 54001. */
const DEPTH_MAX = 200;

// ---- the syntax tree ----

type Node =
  | { readonly kind: 'root' }
  | { readonly kind: 'current' }
  | { readonly kind: 'last' }
  | { readonly kind: 'variable'; readonly name: string }
  | { readonly kind: 'literal'; readonly value: Json }
  | { readonly kind: 'chain'; readonly base: Node; readonly accessors: readonly Accessor[] }
  | { readonly kind: 'binary'; readonly operator: string; readonly left: Node; readonly right: Node }
  | { readonly kind: 'unary'; readonly operator: '+' | '-' | '!'; readonly operand: Node }
  | { readonly kind: 'exists'; readonly path: Node }
  | { readonly kind: 'like'; readonly operand: Node; readonly pattern: RegExp }
  | { readonly kind: 'starts'; readonly operand: Node; readonly prefix: Node }
  | { readonly kind: 'unknown'; readonly predicate: Node };

type Accessor =
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'any-key' }
  | { readonly kind: 'any-index' }
  | { readonly kind: 'recursive' }
  | { readonly kind: 'indexes'; readonly ranges: readonly (readonly [Node, Node | undefined])[] }
  | { readonly kind: 'filter'; readonly predicate: Node }
  | { readonly kind: 'method'; readonly name: string };

export interface JsonPath {
  readonly strict: boolean;
  readonly expression: Node;
}

const METHODS = new Set(['type', 'size', 'double', 'abs', 'floor', 'ceiling', 'keyvalue']);
const COMPARISONS = new Set(['==', '!=', '<>', '<', '<=', '>', '>=']);

// ---- reading a path ----

interface Token {
  readonly kind: 'word' | 'string' | 'number' | 'variable' | 'punct' | 'end';
  readonly text: string;
}

function tokens(path: string): Token[] {
  const out: Token[] = [];
  let at = 0;
  while (at < path.length) {
    const char = path[at] as string;
    if (/\s/.test(char)) {
      at++;
      continue;
    }
    const rest = path.slice(at);
    const number = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(rest);
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (char === '"') {
      let text = '';
      let end = at + 1;
      for (; end < path.length && path[end] !== '"'; end++) {
        if (path[end] === '\\' && end + 1 < path.length) {
          end++;
          const escaped = path[end] as string;
          text +=
            ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[escaped] ?? escaped;
        } else text += path[end];
      }
      if (end >= path.length) throw syntaxError('unterminated quoted string');
      out.push({ kind: 'string', text });
      at = end + 1;
    } else if (char === '$' && /^\$[A-Za-z_]/.test(rest)) {
      const name = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(rest)?.[1] as string;
      out.push({ kind: 'variable', text: name });
      at += name.length + 1;
    } else if (char === '$' && rest.startsWith('$"')) {
      const close = path.indexOf('"', at + 2);
      if (close < 0) throw syntaxError('unterminated quoted string');
      out.push({ kind: 'variable', text: path.slice(at + 2, close) });
      at = close + 1;
    } else if (number !== null && !(char === '.' && out.at(-1)?.kind !== 'punct')) {
      out.push({ kind: 'number', text: number[0] });
      at += number[0].length;
    } else if (word !== null) {
      out.push({ kind: 'word', text: word[0] });
      at += word[0].length;
    } else {
      const two = path.slice(at, at + 2);
      const length = ['==', '!=', '<>', '<=', '>=', '&&', '||', '**'].includes(two) ? 2 : 1;
      out.push({ kind: 'punct', text: path.slice(at, at + length) });
      at += length;
    }
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

function syntaxError(near: string): JsonPathError {
  return new JsonPathError(
    near === ''
      ? 'syntax error at end of jsonpath input'
      : `syntax error at or near "${near}" of jsonpath input`,
    '42601',
  );
}

/** Reads a jsonpath; 42601 for one that is not. */
export function parseJsonPath(text: string): JsonPath {
  const reader = new PathReader(tokens(text));
  let strict = false;
  const first = reader.peek();
  if (
    first.kind === 'word' &&
    (first.text === 'strict' || first.text === 'lax') &&
    reader.peek(1).kind !== 'end'
  ) {
    strict = first.text === 'strict';
    reader.next();
  }
  const expression = reader.expression(0);
  if (reader.peek().kind !== 'end') throw syntaxError(reader.peek().text);
  return { strict, expression };
}

class PathReader {
  #at = 0;
  #depth = 0;
  constructor(readonly list: readonly Token[]) {}

  peek(ahead = 0): Token {
    return this.list[Math.min(this.#at + ahead, this.list.length - 1)] as Token;
  }

  next(): Token {
    const token = this.peek();
    if (this.#at < this.list.length - 1) this.#at++;
    return token;
  }

  expect(text: string): void {
    const token = this.next();
    if (token.text !== text || token.kind === 'string') throw syntaxError(token.text);
  }

  #enter(): void {
    this.#depth++;
    if (this.#depth > DEPTH_MAX) throw new JsonPathError('stack depth limit exceeded', '54001');
  }

  /** Precedence climbing: || (1), && (2), comparisons (3), + - (4), * / % (5). */
  expression(minimum: number): Node {
    this.#enter();
    let left = this.unary();
    for (;;) {
      const token = this.peek();
      const precedence = precedenceOf(token);
      if (precedence === 0 || precedence < minimum) break;
      if (token.kind === 'word' && token.text === 'like_regex') {
        this.next();
        left = this.likeRegex(left);
        continue;
      }
      if (token.kind === 'word' && token.text === 'starts') {
        this.next();
        const withWord = this.next();
        if (withWord.text !== 'with') throw syntaxError(withWord.text);
        left = { kind: 'starts', operand: left, prefix: this.unary() };
        continue;
      }
      this.next();
      const right = this.expression(precedence + 1);
      left = { kind: 'binary', operator: token.text, left, right };
    }
    this.#depth--;
    return left;
  }

  likeRegex(operand: Node): Node {
    const pattern = this.next();
    if (pattern.kind !== 'string') throw syntaxError(pattern.text);
    let flags = '';
    if (this.peek().kind === 'word' && this.peek().text === 'flag') {
      this.next();
      const given = this.next();
      if (given.kind !== 'string' || !/^[imsxq]*$/.test(given.text)) throw syntaxError(given.text);
      flags = given.text;
    }
    let source = pattern.text;
    if (flags.includes('q')) source = source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    try {
      return { kind: 'like', operand, pattern: new RegExp(source, `u${flags.replace(/[xq]/g, '')}`) };
    } catch {
      throw new JsonPathError(`invalid regular expression: ${pattern.text}`, '2201B');
    }
  }

  unary(): Node {
    const token = this.peek();
    if (token.kind === 'punct' && (token.text === '-' || token.text === '+' || token.text === '!')) {
      this.next();
      this.#enter();
      const operand = token.text === '!' ? this.unary() : this.unary();
      this.#depth--;
      return { kind: 'unary', operator: token.text as '+' | '-' | '!', operand };
    }
    return this.chain();
  }

  chain(): Node {
    const base = this.primary();
    const accessors: Accessor[] = [];
    for (;;) {
      const token = this.peek();
      if (token.text === '.' && token.kind === 'punct') {
        this.next();
        accessors.push(this.member());
      } else if (token.text === '[' && token.kind === 'punct') {
        this.next();
        accessors.push(this.subscripts());
      } else if (token.text === '?' && token.kind === 'punct') {
        this.next();
        this.expect('(');
        this.#enter();
        const predicate = this.expression(0);
        this.#depth--;
        this.expect(')');
        accessors.push({ kind: 'filter', predicate });
      } else break;
    }
    return accessors.length === 0 ? base : { kind: 'chain', base, accessors };
  }

  member(): Accessor {
    const token = this.next();
    if (token.kind === 'punct' && token.text === '*') return { kind: 'any-key' };
    if (token.kind === 'punct' && token.text === '**') return { kind: 'recursive' };
    if (token.kind === 'string') return { kind: 'key', key: token.text };
    if (token.kind === 'word') {
      if (this.peek().text === '(' && this.peek().kind === 'punct') {
        this.next();
        this.expect(')');
        if (!METHODS.has(token.text)) {
          throw new JsonPathError(`jsonpath method .${token.text}() is not supported by northlight`, '0A000');
        }
        return { kind: 'method', name: token.text };
      }
      return { kind: 'key', key: token.text };
    }
    throw syntaxError(token.text);
  }

  subscripts(): Accessor {
    if (this.peek().text === '*' && this.peek().kind === 'punct') {
      this.next();
      this.expect(']');
      return { kind: 'any-index' };
    }
    const ranges: [Node, Node | undefined][] = [];
    for (;;) {
      const from = this.expression(4);
      let to: Node | undefined;
      if (this.peek().kind === 'word' && this.peek().text === 'to') {
        this.next();
        to = this.expression(4);
      }
      ranges.push([from, to]);
      const separator = this.next();
      if (separator.text === ']') break;
      if (separator.text !== ',') throw syntaxError(separator.text);
    }
    return { kind: 'indexes', ranges };
  }

  primary(): Node {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return { kind: 'literal', value: Number(token.text) };
      case 'string':
        return { kind: 'literal', value: token.text };
      case 'variable':
        return { kind: 'variable', name: token.text };
      case 'word':
        if (token.text === 'true' || token.text === 'false')
          return { kind: 'literal', value: token.text === 'true' };
        if (token.text === 'null') return { kind: 'literal', value: null };
        if (token.text === 'last') return { kind: 'last' };
        if (token.text === 'exists') {
          this.expect('(');
          const path = this.expression(0);
          this.expect(')');
          return { kind: 'exists', path };
        }
        throw syntaxError(token.text);
      case 'punct':
        if (token.text === '$') return { kind: 'root' };
        if (token.text === '@') return { kind: 'current' };
        if (token.text === '(') {
          this.#enter();
          const inner = this.expression(0);
          this.#depth--;
          this.expect(')');
          if (this.peek().kind === 'word' && this.peek().text === 'is') {
            this.next();
            const unknown = this.next();
            if (unknown.text !== 'unknown') throw syntaxError(unknown.text);
            return { kind: 'unknown', predicate: inner };
          }
          return inner;
        }
        throw syntaxError(token.text);
      case 'end':
        throw syntaxError('');
    }
  }
}

function precedenceOf(token: Token): number {
  if (token.kind === 'word') return token.text === 'like_regex' || token.text === 'starts' ? 3 : 0;
  if (token.kind !== 'punct') return 0;
  if (token.text === '||') return 1;
  if (token.text === '&&') return 2;
  if (COMPARISONS.has(token.text)) return 3;
  if (token.text === '+' || token.text === '-') return 4;
  if (token.text === '*' || token.text === '/' || token.text === '%') return 5;
  return 0;
}

// ---- evaluation ----

/** Results a path may give (a `.**` over a large document): beyond it, 54000. */
const RESULTS_MAX = 1_000_000;

interface Context {
  readonly strict: boolean;
  readonly root: Json;
  readonly variables: { readonly [name: string]: Json };
  /** The array a subscript is evaluated against (for `last`). */
  readonly lastIndex?: number;
  readonly current?: Json;
}

type Truth = true | false | 'unknown';

/** The items the path gives on `target`, in order; JsonPathError for a strict-mode error. */
export function queryJsonPath(path: JsonPath, target: Json, variables: Json = {}): Json[] {
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) {
    throw new JsonPathError('"vars" argument is not an object', '22023');
  }
  const context: Context = { strict: path.strict, root: target, variables };
  if (isPredicate(path.expression)) return [truthJson(predicate(path.expression, context))];
  return evaluate(path.expression, context);
}

function truthJson(truth: Truth): Json {
  return truth === 'unknown' ? null : truth;
}

function isPredicate(node: Node): boolean {
  return (
    (node.kind === 'binary' &&
      (COMPARISONS.has(node.operator) || node.operator === '&&' || node.operator === '||')) ||
    (node.kind === 'unary' && node.operator === '!') ||
    node.kind === 'exists' ||
    node.kind === 'like' ||
    node.kind === 'starts' ||
    node.kind === 'unknown'
  );
}

function evaluate(node: Node, context: Context): Json[] {
  switch (node.kind) {
    case 'root':
      return [context.root];
    case 'current':
      if (context.current === undefined) throw syntaxError('@');
      return [context.current];
    case 'last':
      if (context.lastIndex === undefined)
        throw new JsonPathError('LAST is allowed only in array subscripts', '42601');
      return [context.lastIndex];
    case 'variable': {
      if (!Object.hasOwn(context.variables, node.name)) {
        throw new JsonPathError(`could not find jsonpath variable "${node.name}"`, '42704');
      }
      return [context.variables[node.name] as Json];
    }
    case 'literal':
      return [node.value];
    case 'chain': {
      let items = evaluate(node.base, context);
      for (const accessor of node.accessors) items = items.flatMap((item) => access(accessor, item, context));
      return items;
    }
    case 'binary':
      if (isPredicate(node)) return [truthJson(predicate(node, context))];
      return arithmetic(node.operator, evaluate(node.left, context), evaluate(node.right, context));
    case 'unary': {
      if (node.operator === '!') return [truthJson(predicate(node, context))];
      const sign = node.operator === '-' ? -1 : 1;
      return evaluate(node.operand, context).flatMap((item) =>
        // Lax mode applies a sign to each element of an array.
        (Array.isArray(item) && !context.strict ? item : [item]).map(
          (element) => sign * numberOperand(element, node.operator),
        ),
      );
    }
    default:
      return [truthJson(predicate(node, context))];
  }
}

function numberOperand(item: Json, operator: string): number {
  if (typeof item !== 'number') {
    throw new JsonPathError(`operand of unary jsonpath operator ${operator} is not a numeric value`, '2203C');
  }
  return item;
}

function arithmetic(operator: string, left: Json[], right: Json[]): Json[] {
  if (left.length !== 1 || typeof left[0] !== 'number') {
    throw new JsonPathError(
      `left operand of jsonpath operator ${operator} is not a single numeric value`,
      '22038',
    );
  }
  if (right.length !== 1 || typeof right[0] !== 'number') {
    throw new JsonPathError(
      `right operand of jsonpath operator ${operator} is not a single numeric value`,
      '22038',
    );
  }
  const [a, b] = [left[0], right[0]];
  if ((operator === '/' || operator === '%') && b === 0) throw new JsonPathError('division by zero', '22012');
  switch (operator) {
    case '+':
      return [a + b];
    case '-':
      return [a - b];
    case '*':
      return [a * b];
    case '/':
      return [a / b];
    default:
      return [a % b];
  }
}

function isObject(value: Json): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function access(accessor: Accessor, item: Json, context: Context, unwrapped = false): Json[] {
  // Lax mode goes through one level of array (not an array inside it) for a key or a method.
  const unwrap = Array.isArray(item) && !context.strict && !unwrapped;
  switch (accessor.kind) {
    case 'key': {
      if (unwrap) return item.flatMap((element) => access(accessor, element, context, true));
      if (!isObject(item)) {
        if (context.strict)
          throw new JsonPathError('jsonpath member accessor can only be applied to an object', '2203A');
        return [];
      }
      if (!Object.hasOwn(item, accessor.key)) {
        if (context.strict)
          throw new JsonPathError(`JSON object does not contain key "${accessor.key}"`, '2203A');
        return [];
      }
      return [item[accessor.key] as Json];
    }
    case 'any-key':
      if (unwrap) return item.flatMap((element) => access(accessor, element, context, true));
      if (!isObject(item)) {
        if (context.strict) {
          throw new JsonPathError(
            'jsonpath wildcard member accessor can only be applied to an object',
            '2203A',
          );
        }
        return [];
      }
      return Object.values(item);
    case 'any-index':
      if (Array.isArray(item)) return [...item];
      if (context.strict)
        throw new JsonPathError('jsonpath wildcard array accessor can only be applied to an array', '22039');
      return [item];
    case 'recursive':
      return descendants(item);
    case 'indexes':
      return subscript(accessor, item, context);
    case 'filter':
      // In lax mode a filter goes through an array's elements.
      if (Array.isArray(item) && !context.strict)
        return item.filter(
          (element) => predicate(accessor.predicate, { ...context, current: element }) === true,
        );
      return predicate(accessor.predicate, { ...context, current: item }) === true ? [item] : [];
    case 'method':
      return method(accessor.name, item, context, unwrapped);
  }
}

function descendants(item: Json): Json[] {
  const out: Json[] = [];
  const walk = (value: Json): void => {
    if (out.length >= RESULTS_MAX) throw new JsonPathError('jsonpath result is too large', '54000');
    out.push(value);
    if (Array.isArray(value)) for (const element of value) walk(element);
    else if (isObject(value)) for (const element of Object.values(value)) walk(element);
  };
  walk(item);
  return out;
}

function subscript(accessor: Extract<Accessor, { kind: 'indexes' }>, item: Json, context: Context): Json[] {
  const array = Array.isArray(item) ? item : context.strict ? null : [item];
  if (array === null)
    throw new JsonPathError('jsonpath array accessor can only be applied to an array', '22039');
  const inner: Context = { ...context, lastIndex: array.length - 1 };
  const indexOf = (node: Node): number => {
    const values = evaluate(node, inner);
    const value = values[0];
    if (values.length !== 1 || typeof value !== 'number') {
      throw new JsonPathError('jsonpath array subscript is not a single numeric value', '22033');
    }
    return Math.trunc(value);
  };
  const out: Json[] = [];
  for (const [fromNode, toNode] of accessor.ranges) {
    const from = indexOf(fromNode);
    const to = toNode === undefined ? from : indexOf(toNode);
    if (context.strict && (from < 0 || to >= array.length || from > to)) {
      throw new JsonPathError('jsonpath array subscript is out of bounds', '22033');
    }
    for (let index = Math.max(from, 0); index <= Math.min(to, array.length - 1); index++) {
      out.push(array[index] as Json);
    }
  }
  return out;
}

function method(name: string, item: Json, context: Context, unwrapped: boolean): Json[] {
  if (Array.isArray(item) && !context.strict && !unwrapped && name !== 'type' && name !== 'size') {
    return item.flatMap((element) => method(name, element, context, true));
  }
  switch (name) {
    case 'type':
      return [
        item === null
          ? 'null'
          : Array.isArray(item)
            ? 'array'
            : typeof item === 'object'
              ? 'object'
              : typeof item,
      ];
    case 'size':
      if (Array.isArray(item)) return [item.length];
      if (context.strict)
        throw new JsonPathError('jsonpath item method .size() can only be applied to an array', '22039');
      return [1];
    case 'keyvalue':
      if (!isObject(item))
        throw new JsonPathError('jsonpath item method .keyvalue() can only be applied to an object', '2203C');
      return Object.entries(item).map(([key, value]) => ({ key, value, id: 0 }));
    default: {
      const number =
        typeof item === 'number'
          ? item
          : typeof item === 'string' && name === 'double'
            ? Number(item)
            : Number.NaN;
      if (Number.isNaN(number) || (typeof item === 'string' && item.trim() === '')) {
        throw new JsonPathError(
          `jsonpath item method .${name}() can only be applied to a numeric value`,
          '22038',
        );
      }
      if (name === 'abs') return [Math.abs(number)];
      if (name === 'floor') return [Math.floor(number)];
      if (name === 'ceiling') return [Math.ceil(number)];
      return [number];
    }
  }
}

// ---- predicates (three-valued) ----

function predicate(node: Node, context: Context): Truth {
  switch (node.kind) {
    case 'binary':
      if (node.operator === '&&') {
        const left = predicate(node.left, context);
        if (left === false) return false;
        const right = predicate(node.right, context);
        return left === true && right === true ? true : right === false ? false : 'unknown';
      }
      if (node.operator === '||') {
        const left = predicate(node.left, context);
        if (left === true) return true;
        const right = predicate(node.right, context);
        return right === true ? true : left === false && right === false ? false : 'unknown';
      }
      if (COMPARISONS.has(node.operator)) return compareAll(node.operator, node.left, node.right, context);
      break;
    case 'unary':
      if (node.operator === '!') {
        const inner = predicate(node.operand, context);
        return inner === 'unknown' ? 'unknown' : !inner;
      }
      break;
    case 'exists':
      try {
        return evaluate(node.path, context).length > 0;
      } catch (error) {
        if (error instanceof JsonPathError && error.sqlstate !== '42601') return 'unknown';
        throw error;
      }
    case 'like':
      return anyOf(node.operand, context, (item) =>
        typeof item === 'string' ? node.pattern.test(item) : 'unknown',
      );
    case 'starts': {
      const prefixes = evaluate(node.prefix, context);
      const prefix = prefixes[0];
      if (prefixes.length !== 1 || typeof prefix !== 'string') return 'unknown';
      return anyOf(node.operand, context, (item) =>
        typeof item === 'string' ? item.startsWith(prefix) : 'unknown',
      );
    }
    case 'unknown':
      return predicate(node.predicate, context) === 'unknown';
    default:
      break;
  }
  // A path used as a predicate (`$.a` in jsonb_path_match): its single boolean item.
  const items = evaluate(node, context);
  if (items.length === 1 && typeof items[0] === 'boolean') return items[0];
  if (items.length === 1 && items[0] === null) return 'unknown';
  throw new JsonPathError('single boolean result is expected', '22038');
}

/** True when some item satisfies `test`; unknown when none does and some test was unknown (lax). */
function anyOf(operand: Node, context: Context, test: (item: Json) => Truth): Truth {
  let items: Json[];
  try {
    items = evaluate(operand, context).flatMap((item) =>
      Array.isArray(item) && !context.strict ? item : [item],
    );
  } catch (error) {
    if (error instanceof JsonPathError && error.sqlstate !== '42601') return 'unknown';
    throw error;
  }
  let unknown = false;
  for (const item of items) {
    const truth = test(item);
    if (truth === true) return true;
    if (truth === 'unknown') unknown = true;
  }
  return unknown ? 'unknown' : false;
}

function compareAll(operator: string, leftNode: Node, rightNode: Node, context: Context): Truth {
  let left: Json[];
  let right: Json[];
  try {
    const unwrap = (items: Json[]) =>
      context.strict ? items : items.flatMap((item) => (Array.isArray(item) ? item : [item]));
    left = unwrap(evaluate(leftNode, context));
    right = unwrap(evaluate(rightNode, context));
  } catch (error) {
    if (error instanceof JsonPathError && error.sqlstate !== '42601' && error.sqlstate !== '42704')
      return 'unknown';
    throw error;
  }
  let unknown = false;
  for (const a of left) {
    for (const b of right) {
      const truth = compare(operator, a, b);
      if (truth === true) return true;
      if (truth === 'unknown') unknown = true;
    }
  }
  return unknown ? 'unknown' : false;
}

function compare(operator: string, a: Json, b: Json): Truth {
  if (a === null || b === null) {
    if (a === null && b === null) return operator === '==' || operator === '<=' || operator === '>=';
    // PostgreSQL: a null is unequal to, and not ordered with, anything else (false, not unknown).
    return operator === '!=' || operator === '<>';
  }
  if (typeof a !== typeof b || typeof a === 'object' || typeof b === 'object') return 'unknown';
  const order = a < b ? -1 : a > b ? 1 : 0;
  switch (operator) {
    case '==':
      return order === 0;
    case '!=':
    case '<>':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    default:
      return order >= 0;
  }
}
