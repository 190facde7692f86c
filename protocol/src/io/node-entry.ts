/**
 * How a process of this repository is started: the `node` arguments that run one of its TypeScript
 * entry points (`storage-node/src/main.ts`, `db-engine/src/main.ts`, …).
 *
 * Through tsx, every start pays for its loader: each module's resolution and load goes through a
 * hooks thread, about 0.45 s of CPU per process here before any of the process's own work (a storage
 * node's `--help`: 0.62 s of CPU through tsx, 0.08 s from a bundle). A local cluster starts eleven
 * processes, a repair or an upgrade more, and the test suite hundreds. So the entry point is bundled
 * with esbuild (about 50 ms) into `<package>/node_modules/.cache/northlight/<entry>/`, with the
 * workspace packages (`@northlight/*`) inside and every other package left to Node's own resolution,
 * and `node <bundle>` runs it. Nothing is committed and there is no build step: a bundle is made on
 * first use and again whenever one of its inputs (every source file it holds, the package.json files
 * its externals come from) has a different size or modification time than when it was made.
 *
 * - Concurrent starts (test workers, a cluster's members) may each build; each builds into a
 *   directory of its own and publishes it by renaming a pointer file, so a reader sees a whole
 *   bundle or none. A replaced bundle is removed an hour after it was replaced, once no running
 *   process was started from it (an engine loads its kernel worker from it again when it replaces
 *   its kernel, however long it has run).
 * - Stack traces point into the TypeScript sources (`--enable-source-maps`, linked source maps).
 * - `NORTHLIGHT_ENTRY=tsx` runs the sources through tsx instead (profiling, debugging a loader
 *   problem); `NORTHLIGHT_ENTRY=bundle` makes a failed bundle an error rather than a fallback to tsx.
 * - A package's `northlightBundle.companions` (package.json) are more entry points bundled next to
 *   each of its entry points, each as `<name>.js`: the engine's kernel worker, which the engine loads
 *   as `./worker.js` beside its own module when it does not run from source.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import {
  BUNDLE_FORMAT,
  bundleCacheOf,
  installedEsbuildVersion,
  POINTER_FILE,
  type Pointer,
  readPointer,
  type Stamp,
  stampOf,
  upToDateBundle,
} from './bundle-pointer.js';

const require = createRequire(import.meta.url);

/** Replaced bundles are kept this long at least (a process may be starting from one). */
const STALE_BUNDLE_MS = 3_600_000;

export interface NodeEntryOptions {
  /** The environment that chooses the mode (`NORTHLIGHT_ENTRY`); `process.env` by default. */
  readonly environment?: Readonly<Record<string, string | undefined>>;
}

/**
 * The arguments after `node` that run `entry` (an absolute path to a `.ts` file); any of the
 * process's own arguments follow them. Builds or refreshes the bundle when needed.
 */
export function nodeEntryArgs(entry: string, options: NodeEntryOptions = {}): string[] {
  const mode = (options.environment ?? process.env).NORTHLIGHT_ENTRY;
  if (mode === 'tsx') return tsxArgs(entry);
  try {
    return ['--enable-source-maps', bundledEntry(entry)];
  } catch (error) {
    if (mode === 'bundle') throw error;
    return tsxArgs(entry);
  }
}

function tsxArgs(entry: string): string[] {
  return ['--import', require.resolve('tsx'), entry];
}

/** The path of an up-to-date bundle of `entry`, built if there is none. */
export function bundledEntry(entry: string): string {
  const { packageRoot, cacheDirectory } = bundleCacheOf(entry);
  const esbuildVersion = installedEsbuildVersion();
  return (
    upToDateBundle(cacheDirectory, esbuildVersion) ??
    build(entry, packageRoot, cacheDirectory, esbuildVersion)
  );
}

function build(entry: string, packageRoot: string, cacheDirectory: string, esbuildVersion: string): string {
  const esbuild = esbuildModule();
  const directory = `b-${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const outdir = join(cacheDirectory, directory);
  mkdirSync(outdir, { recursive: true });
  const { externals, manifests } = externalPackages(packageRoot);
  const companions = companionsOf(packageRoot).filter((companion) => companion !== resolve(entry));
  let result: ReturnType<typeof esbuild.buildSync>;
  try {
    result = esbuild.buildSync({
      entryPoints: [
        { in: entry, out: 'main' },
        ...companions.map((companion) => ({
          in: companion,
          out: basename(companion).replace(/\.[cm]?ts$/, ''),
        })),
      ],
      outdir,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'linked',
      sourcesContent: false,
      external: externals,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: packageRoot,
    });
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  const inputs: Record<string, Stamp> = {};
  for (const input of [
    ...Object.keys(result.metafile?.inputs ?? {}).map((path) => resolve(packageRoot, path)),
    ...manifests,
  ]) {
    const stamp = stampOf(input);
    if (stamp !== undefined) inputs[input] = stamp;
  }
  const pointer: Pointer = { format: BUNDLE_FORMAT, esbuild: esbuildVersion, directory, inputs };
  const staging = join(cacheDirectory, `${POINTER_FILE}.${directory}`);
  writeFileSync(staging, `${JSON.stringify(pointer)}\n`);
  // The bundle being replaced is stamped now: it is removed a day after it stopped being current,
  // not a day after it was made (a process started from it may still load a worker from it).
  const replaced = readPointer(cacheDirectory);
  if (replaced !== undefined) {
    const now = new Date();
    try {
      utimesSync(join(cacheDirectory, replaced.directory), now, now);
    } catch {
      // Already gone.
    }
  }
  renameSync(staging, join(cacheDirectory, POINTER_FILE));
  removeStaleBundles(cacheDirectory, directory);
  return join(outdir, 'main.js');
}

/**
 * Every dependency of the entry's package and of the workspace packages it depends on, as esbuild
 * externals (`name` and `name/*`); the workspace packages themselves are bundled. Also the
 * package.json files read, which are inputs of the bundle.
 */
function externalPackages(packageRoot: string): { externals: string[]; manifests: string[] } {
  const externals = new Set<string>();
  const manifests: string[] = [];
  const seen = new Set<string>();
  const visit = (root: string): void => {
    if (seen.has(root)) return;
    seen.add(root);
    const manifestPath = join(root, 'package.json');
    manifests.push(manifestPath);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    const names = Object.keys({
      ...manifest.dependencies,
      ...manifest.devDependencies,
      ...manifest.optionalDependencies,
    });
    for (const name of names) {
      if (name.startsWith('@northlight/')) {
        visit(installedPackage(root, name));
      } else {
        externals.add(name);
        externals.add(`${name}/*`);
      }
    }
  };
  visit(packageRoot);
  return { externals: [...externals].sort(), manifests };
}

/** The package's `northlightBundle.companions`, as absolute paths. */
function companionsOf(packageRoot: string): string[] {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
    northlightBundle?: { companions?: string[] };
  };
  return (manifest.northlightBundle?.companions ?? []).map((path) => resolve(packageRoot, path));
}

/** Where Node finds package `name` from `root`: the first `node_modules/<name>` up the tree, symlinks resolved. */
function installedPackage(root: string, name: string): string {
  let directory = root;
  for (;;) {
    const candidate = join(directory, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`package ${name} is not installed above ${root}`);
    directory = parent;
  }
}

/**
 * Removes the bundles replaced more than STALE_BUNDLE_MS ago that no running process was started
 * from: an engine started from one loads its kernel worker from it again whenever it replaces its
 * kernel, however long it has run. A process started from a bundle has its path in its command line.
 * The one exception, the `northlight` command (operator/bin/northlight.js imports its bundle), loads
 * nothing from the bundle's directory after it started, so removing it under a running `up` is safe.
 * Without /proc to tell, nothing is removed.
 */
function removeStaleBundles(cacheDirectory: string, keep: string): void {
  const now = Date.now();
  const stale = readdirSync(cacheDirectory)
    .filter((name) => name !== keep && name !== POINTER_FILE)
    .map((name) => join(cacheDirectory, name))
    .filter((path) => {
      const stamp = stampOf(path);
      return stamp !== undefined && now - stamp[1] > STALE_BUNDLE_MS;
    });
  if (stale.length === 0) return;
  const commandLines = runningCommandLines();
  if (commandLines === undefined) return;
  for (const path of stale)
    if (!commandLines.some((line) => line.includes(path))) rmSync(path, { recursive: true, force: true });
}

/** The command lines of the processes running on this machine, or undefined without /proc. */
function runningCommandLines(): string[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const lines: string[] = [];
  for (const pid of pids) {
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return lines;
}

/**
 * esbuild (tsx's own; a dependency of this package too, pinned to the same version), loaded on first
 * use: most processes that import this package never bundle anything.
 */
function esbuildModule(): typeof import('esbuild') {
  return require('esbuild') as typeof import('esbuild');
}
