/**
 * nodeEntryArgs / bundledEntry (src/io/node-entry.ts): a TypeScript entry point is bundled once, run
 * by plain `node`, rebuilt when a source it holds changes, and runs through tsx when asked to.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleCacheOf, installedEsbuildVersion, upToDateBundle } from '../src/io/bundle-pointer.js';
import { bundledEntry, nodeEntryArgs } from '../src/io/index.js';

let root: string;

/** A package of its own: an entry point importing a module, a companion worker, a JSON import. */
function writePackage(): void {
  const files: Record<string, string> = {
    'package.json': JSON.stringify({
      name: 'fixture',
      version: '1.2.3',
      type: 'module',
      northlightBundle: { companions: ['src/worker.ts'] },
    }),
    'src/main.ts': [
      "import { existsSync } from 'node:fs';",
      "import { greeting } from './greeting.js';",
      "import manifest from '../package.json' with { type: 'json' };",
      'const worker = new URL("./worker.js", import.meta.url);',
      "const suffix: string = process.argv[2] ?? '';",
      "console.log([greeting, manifest.version, 'worker:' + existsSync(worker), suffix].join(' ').trim());",
    ].join('\n'),
    'src/greeting.ts': "export const greeting: string = 'hello';\n",
    'src/worker.ts': 'export const worker: number = 1;\n',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

function run(args: readonly string[], ...more: string[]): string {
  return execFileSync(process.execPath, [...args, ...more], { encoding: 'utf8' }).trim();
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'northlight-node-entry-'));
  writePackage();
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('nodeEntryArgs', () => {
  it('bundles the entry point with its companion and runs it with plain node, passing arguments', () => {
    const args = nodeEntryArgs(join(root, 'src', 'main.ts'), { environment: { NORTHLIGHT_ENTRY: 'bundle' } });
    expect(args[0]).toBe('--enable-source-maps');
    expect(args[1]).toContain(join(root, 'node_modules', '.cache', 'northlight', 'src_main'));
    expect(args).toHaveLength(2);
    expect(run(args, 'there')).toBe('hello 1.2.3 worker:true there');
  });

  it('reuses an unchanged bundle and rebuilds when a source it holds changes', async () => {
    const entry = join(root, 'src', 'main.ts');
    const first = bundledEntry(entry);
    expect(bundledEntry(entry)).toBe(first);
    writeFileSync(join(root, 'src', 'greeting.ts'), "export const greeting: string = 'bonjour';\n");
    // Same size would not do: a changed modification time alone also counts.
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'src', 'greeting.ts'), later, later);
    const second = bundledEntry(entry);
    expect(second).not.toBe(first);
    expect(run([second])).toBe('bonjour 1.2.3 worker:true');
    // The replaced bundle stays for processes that may still load a worker from it.
    expect(readFileSync(first, 'utf8')).toContain('hello');
    // It is removed an hour after it was replaced, by a later build, unless a running process was
    // started from it; the current one never is.
    const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(dirname(first), hoursAgo, hoursAgo);
    utimesSync(dirname(second), hoursAgo, hoursAgo);
    const running = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', first], {
      stdio: 'ignore',
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const edit = (greeting: string, aheadMs: number) => {
        writeFileSync(join(root, 'src', 'greeting.ts'), `export const greeting: string = '${greeting}';\n`);
        const at = new Date(Date.now() + aheadMs);
        utimesSync(join(root, 'src', 'greeting.ts'), at, at);
      };
      edit('hallo', 10_000);
      const third = bundledEntry(entry);
      // first: replaced long ago, but a process runs from it. second: replaced just now (stamped).
      expect(existsSync(first)).toBe(true);
      expect(existsSync(second)).toBe(true);
      expect(run([third])).toBe('hallo 1.2.3 worker:true');
      running.kill('SIGKILL');
      await new Promise((resolve) => running.once('exit', resolve));
      edit('hej', 20_000);
      bundledEntry(entry);
      expect(existsSync(first)).toBe(false);
      expect(existsSync(second)).toBe(true);
    } finally {
      running.kill('SIGKILL');
    }
  });

  it('rebuilds when the package.json it read changes', () => {
    const entry = join(root, 'src', 'main.ts');
    const first = bundledEntry(entry);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    writeFileSync(join(root, 'package.json'), JSON.stringify({ ...manifest, version: '1.2.40' }));
    const second = bundledEntry(entry);
    expect(second).not.toBe(first);
    expect(run([second])).toBe('hello 1.2.40 worker:true');
  });

  it('runs through tsx when NORTHLIGHT_ENTRY=tsx', () => {
    const entry = join(root, 'src', 'main.ts');
    const args = nodeEntryArgs(entry, { environment: { NORTHLIGHT_ENTRY: 'tsx' } });
    expect(args[0]).toBe('--import');
    expect(args[2]).toBe(entry);
  });

  it('falls back to tsx when the entry cannot be bundled, unless a bundle is required', () => {
    writeFileSync(join(root, 'src', 'greeting.ts'), 'export const greeting = ;\n');
    const entry = join(root, 'src', 'main.ts');
    expect(nodeEntryArgs(entry, { environment: {} })).toEqual([
      '--import',
      expect.stringContaining('tsx'),
      entry,
    ]);
    expect(() => nodeEntryArgs(entry, { environment: { NORTHLIGHT_ENTRY: 'bundle' } })).toThrow(
      /Build failed/,
    );
  });

  it("upToDateBundle (the launchers' check, no esbuild) names the bundle bundledEntry would reuse, and none once an input changed", () => {
    const entry = join(root, 'src', 'main.ts');
    const { cacheDirectory } = bundleCacheOf(entry);
    expect(upToDateBundle(cacheDirectory)).toBeUndefined();
    const first = bundledEntry(entry);
    expect(upToDateBundle(cacheDirectory)).toBe(first);
    expect(upToDateBundle(cacheDirectory, `${installedEsbuildVersion()}-other`)).toBeUndefined();
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'src', 'greeting.ts'), later, later);
    expect(upToDateBundle(cacheDirectory)).toBeUndefined();
    const second = bundledEntry(entry);
    expect(upToDateBundle(cacheDirectory)).toBe(second);
    rmSync(second);
    expect(upToDateBundle(cacheDirectory)).toBeUndefined();
  });
});
