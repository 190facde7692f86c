/**
 * The core-purity lint rule (STYLE.md §2): code in a core may not reach the outside world except
 * through the injected environment (protocol/src/core/env.ts), or the simulator could not make it
 * deterministic. Forbidden in core files: the globals Date, performance, process, timers
 * (setTimeout & co.), queueMicrotask, require; the call Math.random; imports of node modules that
 * touch files, sockets, timers, processes, threads or entropy.
 *
 * Core files: every .ts under protocol/src/ and sim/src/, and under <workspace>/src/core/, except
 * the adapter folders (any src/io/) and the simulator's command line (sim/src/cli.ts).
 *
 * Usage: tsx scripts/lint-core-purity.ts            lint the repository, exit 1 on violations
 *        tsx scripts/lint-core-purity.ts --self-test prove the rule catches each forbidden form
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

const forbiddenGlobals = new Set([
  'Date',
  'performance',
  'process',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'require',
]);

const forbiddenModules = [
  'fs',
  'fs/promises',
  'net',
  'timers',
  'timers/promises',
  'child_process',
  'cluster',
  'dgram',
  'dns',
  'http',
  'https',
  'http2',
  'tls',
  'crypto',
  'worker_threads',
  'os',
  'perf_hooks',
];

export interface Violation {
  file: string;
  line: number;
  message: string;
}

function isForbiddenModule(specifier: string): boolean {
  const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  return forbiddenModules.includes(name);
}

/** True when the identifier is a reference to a variable, not a property or declaration name. */
function isReference(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false;
  if (ts.isQualifiedName(parent) && parent.right === node) return false;
  if (
    (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent)) &&
    parent.name === node
  )
    return false;
  if ((ts.isPropertySignature(parent) || ts.isMethodSignature(parent)) && parent.name === node) return false;
  if (ts.isGetAccessorDeclaration(parent) || ts.isSetAccessorDeclaration(parent)) return parent.name !== node;
  if (ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) return false;
  if (ts.isTypeReferenceNode(parent)) return false;
  return true;
}

export function lintSource(file: string, text: string): Violation[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const violations: Violation[] = [];
  const report = (node: ts.Node, message: string) => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    violations.push({ file, line: line + 1, message });
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      const specifier = (node.moduleSpecifier as ts.StringLiteral).text;
      if (isForbiddenModule(specifier))
        report(node, `core code may not import '${specifier}'; inject it through env.ts`);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument) && isForbiddenModule(argument.text)) {
        report(node, `core code may not import '${argument.text}'`);
      }
    } else if (ts.isPropertyAccessExpression(node) && node.name.text === 'random') {
      if (ts.isIdentifier(node.expression) && node.expression.text === 'Math') {
        report(node, 'core code may not call Math.random; use the injected Random');
      }
    } else if (ts.isIdentifier(node) && forbiddenGlobals.has(node.text) && isReference(node)) {
      report(
        node,
        `core code may not use the global '${node.text}'; use the injected Clock/Random/environment`,
      );
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return violations;
}

export function isCoreFile(path: string): boolean {
  const parts = path.split(sep).join('/');
  if (!parts.endsWith('.ts') || parts.endsWith('.d.ts')) return false;
  if (parts.includes('/src/io/') || parts === 'sim/src/cli.ts') return false;
  if (parts.startsWith('protocol/src/') || parts.startsWith('sim/src/')) return true;
  return /^[a-z-]+\/src\/(.+\/)?core\//.test(parts);
}

function* walk(directory: string): Generator<string> {
  for (const name of readdirSync(directory)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(directory, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

function lintRepository(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const workspace of ['protocol', 'sim', 'storage-node', 'db-engine', 'operator']) {
    const src = join(root, workspace, 'src');
    try {
      statSync(src);
    } catch {
      continue;
    }
    for (const path of walk(src)) {
      const rel = relative(root, path);
      if (isCoreFile(rel)) violations.push(...lintSource(rel, readFileSync(path, 'utf8')));
    }
  }
  return violations;
}

function selfTest(): void {
  const cases: [string, boolean][] = [
    ['const t = Date.now();', true],
    ['const d = new Date();', true],
    ['const r = Math.random();', true],
    ['setTimeout(() => {}, 1);', true],
    ["import { readFile } from 'node:fs/promises';", true],
    ["import net from 'net';", true],
    ["export { createServer } from 'node:net';", true],
    ["const m = await import('node:fs');", true],
    ['const e = process.env.HOME;', true],
    ['const x = performance.now();', true],
    ['const o = { Date: 1 }; o.Date;', false],
    ['interface C { setTimeout(): void } const c = {} as C; c.setTimeout();', false],
    ['const r = random.nextFloat(); Math.floor(r);', false],
    ["import { assert } from './assert.js';", false],
  ];
  const failures = cases.filter(([code, bad]) => lintSource('case.ts', code).length > 0 !== bad);
  if (!isCoreFile('protocol/src/core/quorum.ts') || isCoreFile('protocol/src/io/node-clock.ts'))
    failures.push(['paths', true]);
  if (!isCoreFile('storage-node/src/core/segment.ts') || isCoreFile('storage-node/src/main.ts'))
    failures.push(['paths', true]);
  if (failures.length > 0) {
    console.error(`core-purity self-test failed for: ${failures.map(([code]) => code).join(' | ')}`);
    process.exit(1);
  }
}

selfTest();
if (!process.argv.includes('--self-test')) {
  const violations = lintRepository(process.cwd());
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.message}`);
  if (violations.length > 0) {
    console.error(`core-purity: ${violations.length} violation(s)`);
    process.exit(1);
  }
  console.log('core-purity: ok');
}
