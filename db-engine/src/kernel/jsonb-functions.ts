/**
 * PostgreSQL's jsonb containment, key-existence and path functions, as SQL functions the kernel
 * registers (sqlite-wasm.ts) under PostgreSQL's own names — `jsonb_contains`, `jsonb_contained`,
 * `jsonb_exists`, `jsonb_exists_any`, `jsonb_exists_all`, `jsonb_extract_path[_text]` and the `json_`
 * path pair — and what the operators `@>`, `<@`, `?`, `?|`, `?&`, `#>` and `#>>` become
 * (src/core/pgwire/jsonb-operators.ts). SQLite has `->` and `->>`, but nothing for these.
 *
 * Values are SQLite's: a json or jsonb column holds JSON text. Each follows PostgreSQL 15
 * (jsonb_util.c `JsonbDeepContains`, jsonfuncs.c), checked against a real PostgreSQL 15
 * (test/kernel/jsonb-functions.test.ts holds its answers):
 *
 * - **Containment** (`a @> b`): equal scalars (numbers by value); an object contains an object whose
 *   every key it has, with a value that contains that key's value (a scalar only an equal scalar, an
 *   object only an object, an array only an array); an array contains an array each of whose
 *   elements is contained in some element of it (order and duplicates aside). At the top level only,
 *   an array also contains a scalar it has as an element (`'["a"]' @> '"a"'`), never the reverse.
 * - **Existence** (`a ? 'k'`): an object's top-level key, or a string element of an array (or the
 *   string itself); `?|` any and `?&` all of a text array (`'{a,b}'`, as node-postgres sends an
 *   array), the empty array being none / all.
 * - **Paths** (`a #> '{k,0}'`): each step an object's key or an array's index (negative from the
 *   end); a step that finds nothing gives NULL. `#>>` and the `_text` functions give a string as its
 *   text, JSON null as NULL, anything else as JSON text.
 *
 * A NULL argument gives NULL (the functions are strict). Text that is not JSON fails with 22P02.
 */
import { pgArrayToJson } from '../core/pg-array.js';
import { JsonPathError, type Json as PathJson, parseJsonPath, queryJsonPath } from './jsonpath.js';
import { type PostgresFunction, PostgresFunctionError, type SqlScalar } from './postgres-functions.js';

/** What `#>` becomes: `northlight_json_path(json, path array text)`, the value as JSON text. */
export const JSON_PATH_FUNCTION = 'northlight_json_path';
/** What `#>>` becomes: `northlight_json_path_text(json, path array text)`, the value as text. */
export const JSON_PATH_TEXT_FUNCTION = 'northlight_json_path_text';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Arguments beyond the JSON value a variadic path function accepts (PostgreSQL: 100 by default). */
const PATH_ARGUMENTS_MAX = 100;

function parseJson(value: SqlScalar, type = 'json'): Json {
  if (typeof value === 'number') return value;
  try {
    return JSON.parse(value as string) as Json;
  } catch {
    throw new PostgresFunctionError(
      `invalid input syntax for type ${type}: "${String(value).slice(0, 100)}"`,
    );
  }
}

function isObject(value: Json): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isContainer(value: Json): value is Json[] | { [key: string]: Json } {
  return value !== null && typeof value === 'object';
}

function scalarsEqual(a: Json, b: Json): boolean {
  return a === b;
}

/** JsonbDeepContains for two containers of the same kind. */
function containerContains(
  a: Json[] | { [key: string]: Json },
  b: Json[] | { [key: string]: Json },
): boolean {
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (!Array.isArray(a) && !Array.isArray(b)) {
    for (const [key, wanted] of Object.entries(b)) {
      if (!Object.hasOwn(a, key)) return false;
      const found = a[key] as Json;
      if (isContainer(wanted)) {
        if (!isContainer(found) || !containerContains(found, wanted)) return false;
      } else if (isContainer(found) || !scalarsEqual(found, wanted)) return false;
    }
    return true;
  }
  const have = a as Json[];
  for (const wanted of b as Json[]) {
    const found = isContainer(wanted)
      ? have.some((element) => isContainer(element) && containerContains(element, wanted))
      : have.some((element) => !isContainer(element) && scalarsEqual(element, wanted));
    if (!found) return false;
  }
  return true;
}

/** `a @> b` at the top level, where a lone scalar is PostgreSQL's one-element "raw scalar" array. */
export function jsonbContains(a: Json, b: Json): boolean {
  if (isObject(a) || isObject(b)) return isObject(a) && isObject(b) && containerContains(a, b);
  if (!isContainer(a)) return !isContainer(b) && scalarsEqual(a, b); // a raw scalar holds no array
  return containerContains(a, isContainer(b) ? b : [b]);
}

/** `a ? key`: a top-level key of an object, a string element of an array, or the string itself. */
function exists(value: Json, key: string): boolean {
  if (isObject(value)) return Object.hasOwn(value, key);
  if (Array.isArray(value)) return value.some((element) => element === key);
  return value === key;
}

/** The keys of `?|` and `?&`: a PostgreSQL text array literal (its NULL elements never match). */
function keysOf(value: SqlScalar): string[] {
  const json = pgArrayToJson(String(value));
  if (json instanceof Error) throw new PostgresFunctionError(json.message);
  const parsed = JSON.parse(json) as Json;
  const keys: string[] = [];
  // A multi-dimensional array's elements, in order (PostgreSQL reads every element of text[]).
  const collect = (element: Json): void => {
    if (Array.isArray(element)) for (const inner of element) collect(inner);
    else if (element !== null) keys.push(String(element)); // `{1,2}`: the text of each element
  };
  collect(parsed);
  return keys;
}

/** One step of a path: an object's key, or an array's index (negative from the end). */
function step(value: Json, key: string): Json | undefined {
  if (isObject(value)) return Object.hasOwn(value, key) ? value[key] : undefined;
  if (Array.isArray(value)) {
    if (!/^\s*-?\d+\s*$/.test(key)) return undefined;
    const index = Number(key);
    const at = index < 0 ? value.length + index : index;
    return at >= 0 && at < value.length ? value[at] : undefined;
  }
  return undefined;
}

/**
 * JSON text as PostgreSQL writes a jsonb value: `{"a": 1, "b": [1, 2]}`, an object's keys shorter
 * first, then by their bytes (jsonb's own order); a json value is written compactly (PostgreSQL keeps
 * the text as it came, which is not kept here).
 */
export function jsonbText(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  if (isObject(value)) {
    const encoder = new TextEncoder();
    const keys = Object.keys(value).sort((a, b) => {
      const left = encoder.encode(a);
      const right = encoder.encode(b);
      if (left.length !== right.length) return left.length - right.length;
      for (let index = 0; index < left.length; index++) {
        if (left[index] !== right[index]) return (left[index] as number) - (right[index] as number);
      }
      return 0;
    });
    return `{${keys.map((key) => `${JSON.stringify(key)}: ${jsonbText(value[key] as Json)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** The value at `path`, as JSON text or (`asText`) as `#>>` gives it; null when it is not there. */
function extract(value: Json, path: readonly (string | null)[], asText: boolean, jsonb = true): SqlScalar {
  let current: Json | undefined = value;
  for (const key of path) {
    if (key === null || current === undefined) return null;
    current = step(current, key);
  }
  if (current === undefined) return null;
  const write = jsonb ? jsonbText : JSON.stringify;
  if (!asText) return write(current);
  if (current === null) return null;
  return typeof current === 'string' ? current : write(current);
}

/** A path given as a text array literal (`'{a,0}'`): its elements as strings, NULL as null. */
function pathOf(value: SqlScalar): (string | null)[] {
  const json = pgArrayToJson(String(value));
  if (json instanceof Error) throw new PostgresFunctionError(json.message);
  const parsed = JSON.parse(json) as Json;
  if (!Array.isArray(parsed)) return [];
  return parsed.map((element) => (element === null ? null : String(element)));
}

function strict(call: (args: readonly SqlScalar[]) => SqlScalar): (args: readonly SqlScalar[]) => SqlScalar {
  return (args) => (args.some((arg) => arg === null) ? null : call(args));
}

function bool(value: boolean): number {
  return value ? 1 : 0;
}

function pathFunction(name: string, type: string, asText: boolean): PostgresFunction {
  return {
    name,
    arities: Array.from({ length: PATH_ARGUMENTS_MAX }, (_, index) => index + 2),
    deterministic: true,
    // A NULL step finds nothing; only a NULL document makes the whole call NULL.
    call: (args) =>
      args[0] === null || args[0] === undefined
        ? null
        : extract(
            parseJson(args[0], type),
            args.slice(1).map((arg) => (arg === null ? null : String(arg))),
            asText,
            type === 'jsonb',
          ),
  };
}

/**
 * `a || b` of two jsonb values: two objects merged (the right one's value for a key both have), two
 * arrays joined, and otherwise each side that is not an array taken as a one-element array.
 */
export function jsonbConcat(a: Json, b: Json): Json {
  if (isObject(a) && isObject(b)) return { ...a, ...b };
  return [...(Array.isArray(a) ? a : [a]), ...(Array.isArray(b) ? b : [b])];
}

/**
 * `a - key`: an object without that key, or an array without its string elements equal to it; `a -
 * index` (a number): an array without that element (negative from the end). A scalar fails, as in
 * PostgreSQL.
 */
function jsonbDelete(value: Json, key: SqlScalar): Json {
  if (typeof key === 'number') {
    if (isObject(value)) throw new PostgresFunctionError('cannot delete from object using integer index');
    if (!Array.isArray(value)) throw new PostgresFunctionError('cannot delete from scalar');
    const at = key < 0 ? value.length + key : key;
    return value.filter((_, index) => index !== at);
  }
  const text = String(key);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).filter(([name]) => name !== text));
  if (Array.isArray(value)) return value.filter((element) => element !== text);
  throw new PostgresFunctionError('cannot delete from scalar');
}

/** `a #- path`: the value without what is at `path` (a key or an index per step); as it is if nothing is. */
function jsonbDeletePath(value: Json, path: readonly (string | null)[]): Json {
  if (!isContainer(value)) throw new PostgresFunctionError('cannot delete path in scalar');
  const [key, ...rest] = path;
  if (key === undefined || key === null) return value;
  if (isObject(value)) {
    if (!Object.hasOwn(value, key)) return value;
    if (rest.length === 0) return Object.fromEntries(Object.entries(value).filter(([name]) => name !== key));
    const inner = value[key] as Json;
    return isContainer(inner) ? { ...value, [key]: jsonbDeletePath(inner, rest) } : value;
  }
  if (!/^\s*-?\d+\s*$/.test(key)) {
    throw new PostgresFunctionError(`path element at position 1 is not an integer: "${key}"`);
  }
  const index = Number(key);
  const at = index < 0 ? value.length + index : index;
  if (at < 0 || at >= value.length) return value;
  if (rest.length === 0) return value.filter((_, position) => position !== at);
  const inner = value[at] as Json;
  return isContainer(inner)
    ? value.map((element, position) => (position === at ? jsonbDeletePath(inner, rest) : element))
    : value;
}

/** An array index of a path step: `'1'`, `'-1'`; null when the step is no integer. */
function indexOf(key: string, length: number): number | null {
  if (!/^\s*-?\d+\s*$/.test(key)) return null;
  const index = Number(key);
  return index < 0 ? length + index : index;
}

/**
 * jsonb_set / jsonb_insert (jsonfuncs.c `setPath`): the value with `replacement` at `path`. `mode`:
 * `set` replaces what is there (or, with `create`, adds a missing last key or an out-of-range index
 * at the array's end or start); `insert` adds before an array element (`after`: after it) and
 * refuses an existing object key. A path that leaves the document changes nothing.
 */
function setPath(
  value: Json,
  path: readonly (string | null)[],
  replacement: Json,
  mode: 'set' | 'insert',
  flag: boolean,
  position = 1,
): Json {
  if (!isContainer(value)) throw new PostgresFunctionError(`cannot set path in scalar`);
  const [key, ...rest] = path;
  if (key === undefined) return value;
  if (key === null) {
    throw new PostgresFunctionError(`path element at position ${position} is null`);
  }
  const last = rest.length === 0;
  if (isObject(value)) {
    const present = Object.hasOwn(value, key);
    if (!last) {
      const inner = value[key];
      return present && isContainer(inner as Json)
        ? { ...value, [key]: setPath(inner as Json, rest, replacement, mode, flag, position + 1) }
        : value;
    }
    if (mode === 'insert' && present) throw new PostgresFunctionError('cannot replace existing key');
    if (mode === 'set' && !present && !flag) return value;
    return { ...value, [key]: replacement };
  }
  const at = indexOf(key, value.length);
  if (at === null) {
    throw new PostgresFunctionError(`path element at position ${position} is not an integer: "${key}"`);
  }
  if (!last) {
    const inner = at >= 0 && at < value.length ? value[at] : undefined;
    return inner !== undefined && isContainer(inner)
      ? value.map((element, index) =>
          index === at ? setPath(inner, rest, replacement, mode, flag, position + 1) : element,
        )
      : value;
  }
  if (mode === 'insert') {
    const where = Math.min(Math.max(flag ? at + 1 : at, 0), value.length);
    return [...value.slice(0, where), replacement, ...value.slice(where)];
  }
  if (at >= 0 && at < value.length)
    return value.map((element, index) => (index === at ? replacement : element));
  if (!flag) return value;
  return at < 0 ? [replacement, ...value] : [...value, replacement];
}

/** jsonb_typeof: object, array, string, number, boolean or null. */
function typeOf(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return typeof value === 'string' ? 'string' : typeof value === 'number' ? 'number' : 'boolean';
}

/** jsonb_strip_nulls: every object member whose value is null, at any depth, left out (not array nulls). */
function stripNulls(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (isObject(value))
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, member]) => member !== null)
        .map(([key, member]) => [key, stripNulls(member)]),
    );
  return value;
}

/** Whether `value` is JSON text (or a number), and so a jsonb value; for `||` decided when it runs. */
function asJson(value: SqlScalar): Json | undefined {
  if (typeof value === 'number') return value;
  try {
    return JSON.parse(value as string) as Json;
  } catch {
    return undefined;
  }
}

/** What `||` becomes where an operand is JSON (jsonb-operators.ts): see JSON_CONCAT_FUNCTION. */
export const JSON_CONCAT_FUNCTION = 'northlight_json_concat';

/** A boolean argument (`create_if_missing`, `insert_after`): SQLite's 1/0, or PostgreSQL's spellings. */
function flagOf(value: SqlScalar | undefined, otherwise: boolean): boolean {
  if (value === undefined) return otherwise;
  if (typeof value === 'number') return value !== 0;
  return ['t', 'true', 'y', 'yes', 'on', '1'].includes(String(value).trim().toLowerCase());
}

/** jsonb_set(target, path, value [, create_if_missing]) or jsonb_insert(… [, insert_after]). */
function setFunction(name: string, mode: 'set' | 'insert', flagDefault: boolean): PostgresFunction {
  return {
    name,
    arities: [3, 4],
    deterministic: true,
    call: strict(([target, path, replacement, flag]) =>
      jsonbText(
        setPath(
          parseJson(target as SqlScalar, 'jsonb'),
          pathOf(path as SqlScalar),
          parseJson(replacement as SqlScalar, 'jsonb'),
          mode,
          flagOf(flag, flagDefault),
        ),
      ),
    ),
  };
}

/**
 * Registered over SQLite's own functions of the same names where SQLite has them (`jsonb_set`,
 * `jsonb_insert`: SQLite's take `$.a` paths and give its binary JSONB, which a jsonb column would then
 * hold as bytes).
 */
/**
 * A document nested deeper than the stack allows (`[[[[…` a hundred thousand times) fails as
 * PostgreSQL's does, with 54001, rather than with the engine's own RangeError.
 */
function guarded(definition: PostgresFunction): PostgresFunction {
  return {
    ...definition,
    call: (args) => {
      try {
        return definition.call(args);
      } catch (error) {
        if (error instanceof RangeError) throw new PostgresFunctionError('stack depth limit exceeded');
        throw error;
      }
    },
  };
}

/** jsonb_path_* (jsonpath.ts): the items, or null when `silent` suppressed an error. */
function pathItems(args: readonly SqlScalar[]): PathJson[] | null {
  const [target, path, vars, silent] = args;
  const json = parseJson(target as SqlScalar, 'jsonb');
  const parsed = parseJsonPath(String(path));
  const variables = vars === undefined || vars === null ? {} : parseJson(vars, 'jsonb');
  try {
    return queryJsonPath(parsed, json, variables);
  } catch (error) {
    if (error instanceof JsonPathError && error.suppressible && flagOf(silent, false)) return null;
    throw error;
  }
}

function matchResult(items: PathJson[]): SqlScalar {
  const [only] = items;
  if (items.length !== 1 || (only !== null && typeof only !== 'boolean')) {
    throw new JsonPathError('single boolean result is expected', '22038');
  }
  return only === null ? null : bool(only);
}

/** Two arguments, run as `(target, path, '{}', true)`. */
function silentPathFunction(definition: PostgresFunction): PostgresFunction {
  return {
    ...definition,
    arities: [2],
    call: (args) => definition.call([args[0] ?? null, args[1] ?? null, '{}', 1]),
  };
}

/** A jsonb_path_* function: NULL target or path gives NULL, as PostgreSQL's strict functions. */
function jsonPathFunction(name: string, result: (items: PathJson[]) => SqlScalar): PostgresFunction {
  return {
    name,
    arities: [2, 3, 4],
    deterministic: true,
    call: (args) => {
      if (args[0] === null || args[1] === null) return null;
      const items = pathItems(args);
      if (items === null) return null;
      try {
        return result(items);
      } catch (error) {
        if (error instanceof JsonPathError && error.suppressible && flagOf(args[3], false)) return null;
        throw error;
      }
    },
  };
}

export const JSONB_FUNCTIONS: readonly PostgresFunction[] = [
  jsonPathFunction('jsonb_path_query_first', (items) =>
    items.length === 0 ? null : jsonbText(items[0] as Json),
  ),
  jsonPathFunction('jsonb_path_query_array', (items) => jsonbText(items as Json)),
  jsonPathFunction('jsonb_path_exists', (items) => bool(items.length > 0)),
  jsonPathFunction('jsonb_path_match', matchResult),
  // The operators `@?` and `@@` (PostgreSQL's own names for them): silent, as the operators are.
  silentPathFunction(jsonPathFunction('jsonb_path_exists_opr', (items) => bool(items.length > 0))),
  silentPathFunction(jsonPathFunction('jsonb_path_match_opr', matchResult)),
  setFunction('jsonb_set', 'set', true),
  setFunction('jsonb_insert', 'insert', false),
  {
    name: 'jsonb_typeof',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => typeOf(parseJson(value as SqlScalar, 'jsonb'))),
  },
  {
    name: 'json_typeof',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => typeOf(parseJson(value as SqlScalar, 'json'))),
  },
  {
    name: 'jsonb_strip_nulls',
    arities: [1],
    deterministic: true,
    call: strict(([value]) => jsonbText(stripNulls(parseJson(value as SqlScalar, 'jsonb')))),
  },
  {
    name: 'jsonb_concat',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) =>
      jsonbText(jsonbConcat(parseJson(a as SqlScalar, 'jsonb'), parseJson(b as SqlScalar, 'jsonb'))),
    ),
  },
  {
    // `a || b` where an operand shows it is JSON (a jsonb cast, a JSON object or array literal, a call
    // that builds JSON): PostgreSQL types it by its operands, which are known here only as values, so
    // two JSON values are concatenated as jsonb, anything else as text (SQLite's ||).
    name: JSON_CONCAT_FUNCTION,
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) => {
      const left = asJson(a as SqlScalar);
      const right = asJson(b as SqlScalar);
      if (left !== undefined && right !== undefined && (isContainer(left) || isContainer(right)))
        return jsonbText(jsonbConcat(left, right));
      return `${String(a)}${String(b)}`;
    }),
  },
  {
    name: 'jsonb_delete',
    arities: [2],
    deterministic: true,
    call: strict(([value, key]) =>
      jsonbText(jsonbDelete(parseJson(value as SqlScalar, 'jsonb'), key as SqlScalar)),
    ),
  },
  {
    name: 'jsonb_delete_path',
    arities: [2],
    deterministic: true,
    call: strict(([value, path]) =>
      jsonbText(jsonbDeletePath(parseJson(value as SqlScalar, 'jsonb'), pathOf(path as SqlScalar))),
    ),
  },
  {
    name: 'jsonb_contains',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) =>
      bool(jsonbContains(parseJson(a as SqlScalar, 'jsonb'), parseJson(b as SqlScalar, 'jsonb'))),
    ),
  },
  {
    name: 'jsonb_contained',
    arities: [2],
    deterministic: true,
    call: strict(([a, b]) =>
      bool(jsonbContains(parseJson(b as SqlScalar, 'jsonb'), parseJson(a as SqlScalar, 'jsonb'))),
    ),
  },
  {
    name: 'jsonb_exists',
    arities: [2],
    deterministic: true,
    call: strict(([value, key]) => bool(exists(parseJson(value as SqlScalar, 'jsonb'), String(key)))),
  },
  {
    name: 'jsonb_exists_any',
    arities: [2],
    deterministic: true,
    call: strict(([value, keys]) => {
      const json = parseJson(value as SqlScalar, 'jsonb');
      return bool(keysOf(keys as SqlScalar).some((key) => exists(json, key)));
    }),
  },
  {
    name: 'jsonb_exists_all',
    arities: [2],
    deterministic: true,
    call: strict(([value, keys]) => {
      const json = parseJson(value as SqlScalar, 'jsonb');
      return bool(keysOf(keys as SqlScalar).every((key) => exists(json, key)));
    }),
  },
  pathFunction('jsonb_extract_path', 'jsonb', false),
  pathFunction('jsonb_extract_path_text', 'jsonb', true),
  pathFunction('json_extract_path', 'json', false),
  pathFunction('json_extract_path_text', 'json', true),
  {
    name: JSON_PATH_FUNCTION,
    arities: [2],
    deterministic: true,
    call: strict(([value, path]) => extract(parseJson(value as SqlScalar), pathOf(path as SqlScalar), false)),
  },
  {
    name: JSON_PATH_TEXT_FUNCTION,
    arities: [2],
    deterministic: true,
    call: strict(([value, path]) => extract(parseJson(value as SqlScalar), pathOf(path as SqlScalar), true)),
  },
].map(guarded);
