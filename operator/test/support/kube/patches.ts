/**
 * The patch formats the API server accepts: JSON Patch (RFC 6902, `application/json-patch+json`),
 * JSON Merge Patch (RFC 7386, `application/merge-patch+json`; also used for strategic merge patch,
 * see README.md) and the leaf-path arithmetic behind server-side apply's field ownership.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A patch that cannot be applied; the server answers it as 422 (JSON Patch) or 400 (bad body). */
export class PatchError extends Error {}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepEqual(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (Array.isArray(left) && Array.isArray(right))
    return left.length === right.length && left.every((item, index) => deepEqual(item, right[index]));
  if (isObject(left) && isObject(right)) {
    const keys = Object.keys(left);
    if (keys.length !== Object.keys(right).length) return false;
    return keys.every((key) => Object.hasOwn(right, key) && deepEqual(left[key], right[key]));
  }
  return false;
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapePointer);
}

function getAt(document: Json, tokens: readonly string[], pointer: string): Json {
  let current: Json = document;
  for (const token of tokens) {
    if (Array.isArray(current)) current = current[Number(token)] as Json;
    else if (isObject(current) && Object.hasOwn(current, token)) current = current[token] as Json;
    else current = undefined as unknown as Json;
    if (current === undefined) throw new PatchError(`path ${pointer} does not exist`);
  }
  return current;
}

/** Parent container and the last token of a pointer; the parent must exist. */
function parentOf(document: Json, pointer: string): { parent: Json; key: string } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new PatchError('cannot address the document root');
  const key = tokens[tokens.length - 1]!;
  const parent = getAt(document, tokens.slice(0, -1), pointer);
  if (!isObject(parent) && !Array.isArray(parent))
    throw new PatchError(`path ${pointer}: parent is not an object or array`);
  return { parent, key };
}

function addAt(document: Json, pointer: string, value: Json): Json {
  if (pointer === '') return value;
  const { parent, key } = parentOf(document, pointer);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length)
      throw new PatchError(`path ${pointer}: index out of range`);
    parent.splice(index, 0, value);
  } else (parent as JsonObject)[key] = value;
  return document;
}

function removeAt(document: Json, pointer: string): Json {
  const { parent, key } = parentOf(document, pointer);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length)
      throw new PatchError(`path ${pointer}: index out of range`);
    parent.splice(index, 1);
  } else {
    if (!Object.hasOwn(parent as JsonObject, key)) throw new PatchError(`path ${pointer} does not exist`);
    delete (parent as JsonObject)[key];
  }
  return document;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

/** Applies an RFC 6902 patch to a copy of `document`; a failing `test` or a missing path throws. */
export function jsonPatch(document: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON Patch must be an array of operations');
  let result = structuredClone(document);
  for (const raw of operations as Operation[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new PatchError(`invalid operation ${JSON.stringify(raw)}`);
    switch (raw.op) {
      case 'add':
        result = addAt(result, raw.path, structuredClone(raw.value as Json));
        break;
      case 'remove':
        result = removeAt(result, raw.path);
        break;
      case 'replace':
        getAt(result, parsePointer(raw.path), raw.path);
        result = raw.path === '' ? structuredClone(raw.value as Json) : removeAt(result, raw.path);
        if (raw.path !== '') result = addAt(result, raw.path, structuredClone(raw.value as Json));
        break;
      case 'move': {
        const from = raw.from ?? '';
        const value = getAt(result, parsePointer(from), from);
        result = addAt(removeAt(result, from), raw.path, value);
        break;
      }
      case 'copy': {
        const from = raw.from ?? '';
        result = addAt(result, raw.path, structuredClone(getAt(result, parsePointer(from), from)));
        break;
      }
      case 'test':
        if (!deepEqual(getAt(result, parsePointer(raw.path), raw.path), raw.value ?? null))
          throw new PatchError(`testing value ${raw.path} failed`);
        break;
      default:
        throw new PatchError(`unexpected op ${JSON.stringify(raw.op)}`);
    }
  }
  return result;
}

// -- server-side apply ----------------------------------------------------------------------------

/**
 * The leaves of an applied configuration, as JSON-pointer-like paths ("/spec/replicas"). Lists are
 * atomic (one leaf), as `x-kubernetes-list-type: atomic` lists are on a real server; a simplification
 * README.md documents. Empty objects are leaves too, so applying `{}` still claims the field.
 */
export function leafPaths(value: Json, prefix = ''): string[] {
  if (!isObject(value) || Object.keys(value).length === 0) return prefix === '' ? [] : [prefix];
  return Object.entries(value).flatMap(([key, child]) =>
    leafPaths(child, `${prefix}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`),
  );
}

export function valueAt(document: Json, path: string): Json | undefined {
  let current: Json | undefined = document;
  for (const token of parsePointer(path)) {
    if (!isObject(current) || !Object.hasOwn(current, token)) return undefined;
    current = current[token];
  }
  return current;
}

/** Deletes a leaf path and then any objects it leaves empty on the way up. */
export function deletePath(document: JsonObject, path: string): void {
  const tokens = parsePointer(path);
  const chain: JsonObject[] = [document];
  for (const token of tokens.slice(0, -1)) {
    const next = chain[chain.length - 1]![token];
    if (!isObject(next)) return;
    chain.push(next);
  }
  delete chain[chain.length - 1]![tokens[tokens.length - 1]!];
  for (let index = chain.length - 1; index > 0; index -= 1) {
    if (Object.keys(chain[index]!).length > 0) break;
    delete chain[index - 1]![tokens[index - 1]!];
  }
}

/** Sets a leaf path, creating the objects on the way. */
export function setPath(document: JsonObject, path: string, value: Json): void {
  const tokens = parsePointer(path);
  let current = document;
  for (const token of tokens.slice(0, -1)) {
    if (!isObject(current[token])) current[token] = {};
    current = current[token] as JsonObject;
  }
  current[tokens[tokens.length - 1]!] = structuredClone(value);
}

/** `/spec/replicas` → `.spec.replicas`, the way apply conflicts name fields. */
export function dottedPath(path: string): string {
  return parsePointer(path)
    .map((token) => `.${token}`)
    .join('');
}

/** managedFields' FieldsV1 encoding of a set of leaf paths (`{"f:spec":{"f:replicas":{}}}`). */
export function fieldsV1(paths: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const path of paths) {
    let current = root;
    for (const token of parsePointer(path)) {
      const key = `f:${token}`;
      if (!isObject(current[key])) current[key] = {};
      current = current[key] as JsonObject;
    }
  }
  return root;
}

// -- strategic merge patch ------------------------------------------------------------------------------

/**
 * Merge keys of the built-in lists that strategic merge patch merges element by element (from the
 * `patchMergeKey` tags of k8s.io/api). Other lists are replaced, as in a merge patch.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  // Container ports merge on containerPort; Service ports on port (both are "ports").
  ports: 'port',
};

/** Lists of primitives that strategic merge patch merges as sets (patchStrategy "merge"). */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, items: Json[]): string {
  if (field === 'ports' && items.some((item) => isObject(item) && item.containerPort !== undefined))
    return 'containerPort';
  return MERGE_KEYS[field]!;
}

function mergeList(
  field: string,
  current: Json | undefined,
  patch: Json[],
  order: Json[] | undefined,
): Json[] {
  const base = Array.isArray(current) ? current : [];
  if (MERGED_PRIMITIVE_LISTS.has(field) && patch.every((item) => !isObject(item))) {
    const result = [...base];
    for (const item of patch) if (!result.some((existing) => deepEqual(existing, item))) result.push(item);
    return result;
  }
  if (MERGE_KEYS[field] === undefined || !patch.every(isObject))
    return patch.map((item) => stripDirectives(item));
  if (patch.some((item) => isObject(item) && item.$patch === 'replace'))
    return patch
      .filter((item) => !(isObject(item) && item.$patch === 'replace'))
      .map((item) => stripDirectives(item));
  const key = mergeKeyFor(field, [...base, ...patch]);
  const result = base.map((item) => structuredClone(item));
  for (const item of patch as JsonObject[]) {
    const index = result.findIndex((existing) => isObject(existing) && deepEqual(existing[key], item[key]));
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) result[index] = strategicMergePatch(result[index], item);
    else result.push(stripDirectives(item));
  }
  if (order === undefined) return result;
  const position = (item: Json) => {
    const found = order.findIndex(
      (entry) => isObject(entry) && isObject(item) && deepEqual(entry[key], item[key]),
    );
    return found < 0 ? order.length : found;
  };
  return result.sort((left, right) => position(left) - position(right));
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const result: JsonObject = {};
  for (const [key, child] of Object.entries(value))
    if (!key.startsWith('$')) result[key] = stripDirectives(child);
  return result;
}

/**
 * Strategic merge patch for built-in objects: a merge patch in which the lists named in MERGE_KEYS
 * merge by key (`$patch: delete` removes an element, `$setElementOrder/<list>` orders them),
 * `$deleteFromPrimitiveList/<list>` removes values, `$retainKeys` drops unlisted keys and
 * `$patch: replace` replaces a map. Enough for what kubectl sends; not every directive of the spec.
 */
export function strategicMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return null;
  let result: JsonObject = isObject(target) ? { ...target } : {};
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    result = Object.fromEntries(Object.entries(result).filter(([key]) => keep.has(key)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const list = result[field];
      if (Array.isArray(list) && Array.isArray(value))
        result[field] = list.filter((item) => !value.some((removed) => deepEqual(removed, item)));
      continue;
    }
    if (key.startsWith('$')) continue;
    if (value === null) delete result[key];
    else if (Array.isArray(value)) {
      const order = patch[`$setElementOrder/${key}`];
      result[key] = mergeList(key, result[key], value, Array.isArray(order) ? order : undefined);
    } else if (isObject(value)) {
      const merged = strategicMergePatch(result[key], value);
      if (merged === null) delete result[key];
      else result[key] = merged;
    } else result[key] = value;
  }
  for (const key of Object.keys(patch))
    if (key.startsWith('$setElementOrder/')) {
      const field = key.slice('$setElementOrder/'.length);
      const order = patch[key];
      if (patch[field] === undefined && Array.isArray(order) && Array.isArray(result[field]))
        result[field] = mergeList(field, result[field], [], order);
    }
  return result;
}
