/**
 * The cluster file: a YAML `DatabaseCluster` document read from disk into a validated `ClusterSpec`
 * (core/cluster-spec.ts holds the rules). Every problem of the file is reported at once, with its
 * line and column, in one `NorthlightError('NL_CONFIG_INVALID')`: YAML syntax errors first (nothing
 * can be validated past them), then every problem of the spec, each pointing at the field it names.
 */
import { open } from 'node:fs/promises';
import { NorthlightError, type Result } from '@northlight/protocol';
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type YAMLError,
} from 'yaml';
import {
  CLUSTER_KIND,
  type ClusterSpec,
  formatSpecProblems,
  parseSpecPath,
  SPEC_PROBLEMS_MAX,
  type SpecProblem,
  validateClusterSpec,
} from '../core/cluster-spec.js';

/** A cluster file is a few kilobytes; anything this large is the wrong file. */
export const CLUSTER_FILE_BYTES_MAX = 1024 * 1024;
/** Aliases expanded at most; more is a "billion laughs" document, not a cluster. */
const YAML_ALIASES_MAX = 100;

/** Reads, parses and validates a cluster file; throws NL_CONFIG_INVALID naming every problem. */
export async function loadClusterFile(path: string): Promise<ClusterSpec> {
  const text = await readClusterFileText(path);
  const result = parseClusterYaml(text);
  if (!result.ok) {
    throw new NorthlightError('NL_CONFIG_INVALID', formatSpecProblems(path, result.error), {
      path,
      problemCount: result.error.length,
    });
  }
  return result.value;
}

/** Parses and validates the text of a cluster file; problems carry their line and column. */
export function parseClusterYaml(text: string): Result<ClusterSpec, readonly SpecProblem[]> {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const syntaxProblems: SpecProblem[] = [];
  for (const document of documents) {
    for (const error of [...document.errors, ...document.warnings]) {
      syntaxProblems.push(yamlErrorProblem(error, lineCounter));
    }
  }
  if (documents.length > 1) {
    const second = lineCounter.linePos(documents[1]!.range[0]);
    syntaxProblems.push({
      path: '',
      message: `the file holds ${documents.length} YAML documents (separated by ---); a cluster file holds exactly one ${CLUSTER_KIND}`,
      line: second.line,
      column: second.col,
    });
  }
  if (syntaxProblems.length > 0) return { ok: false, error: syntaxProblems.slice(0, SPEC_PROBLEMS_MAX) };
  const document = documents[0];
  let raw: unknown;
  try {
    raw = document?.toJS({ maxAliasCount: YAML_ALIASES_MAX });
  } catch (error) {
    // Unresolved aliases and alias bombs are only found while building the value.
    return { ok: false, error: [{ path: '', message: `cannot read the YAML: ${describeError(error)}` }] };
  }
  const result = validateClusterSpec(raw);
  if (result.ok || document === undefined) return result;
  const located = result.error.map((problem) => locateProblem(problem, document, lineCounter));
  return { ok: false, error: sortByPosition(located) };
}

function yamlErrorProblem(error: YAMLError, lineCounter: LineCounter): SpecProblem {
  const position = lineCounter.linePos(error.pos[0]);
  return { path: '', message: `YAML: ${error.message}`, line: position.line, column: position.col };
}

/**
 * Adds the position of the field a problem names: its key, or for a field that is missing, the
 * nearest enclosing one that is there (a missing `name` points at its list item).
 */
function locateProblem(problem: SpecProblem, document: Document, lineCounter: LineCounter): SpecProblem {
  const segments = parseSpecPath(problem.path);
  if (segments === undefined || segments.length === 0) return problem;
  let node: unknown = document.contents;
  let offset: number | undefined;
  for (const segment of segments) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (pair === undefined) break;
      offset = isNode(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined || item === null) break;
      offset = isNode(item) ? (item.range?.[0] ?? offset) : offset;
      node = item;
    } else break;
  }
  if (offset === undefined) return problem;
  const position = lineCounter.linePos(offset);
  return { ...problem, line: position.line, column: position.col };
}

/** In file order, which is the order an operator fixes them in; problems of the whole document first. */
function sortByPosition(problems: readonly SpecProblem[]): SpecProblem[] {
  return [...problems].sort(
    (left, right) => (left.line ?? 0) - (right.line ?? 0) || (left.column ?? 0) - (right.column ?? 0),
  );
}

async function readClusterFileText(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readAtMost(path, CLUSTER_FILE_BYTES_MAX + 1);
  } catch (error) {
    throw new NorthlightError('NL_CONFIG_INVALID', `cannot read ${path}: ${describeError(error)}`, { path });
  }
  if (bytes.length > CLUSTER_FILE_BYTES_MAX) {
    throw new NorthlightError(
      'NL_CONFIG_INVALID',
      `cannot read ${path}: it is larger than ${CLUSTER_FILE_BYTES_MAX / 1024} KiB; a cluster file is a few kilobytes of YAML`,
      { path },
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new NorthlightError('NL_CONFIG_INVALID', `cannot read ${path}: it is not UTF-8 text`, { path });
  }
}

/** Reads no more than `limitBytes`, so that a device or a huge file cannot fill memory. */
async function readAtMost(path: string, limitBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limitBytes);
    let length = 0;
    while (length < limitBytes) {
      const { bytesRead } = await handle.read(buffer, length, limitBytes - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

const ERROR_CODE_PHRASES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
};

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return (code === undefined ? undefined : ERROR_CODE_PHRASES[code]) ?? error.message;
}
