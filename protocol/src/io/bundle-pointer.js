/**
 * Whether an entry point's bundle (node-entry.ts) is up to date, answered from its pointer file and
 * the stamps it records alone: no esbuild, no TypeScript. Plain JavaScript, so that a launcher
 * (operator/bin/northlight.js) can run a command from its bundle without first paying for tsx,
 * about 0.7 s of the 1.1 s a `northlight status` took through it. node-entry.ts uses the same
 * functions, so the two cannot disagree on what "up to date" means. Types: bundle-pointer.d.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const require = createRequire(import.meta.url);

/** Bumped when the bundle's shape changes, so older bundles are not reused. */
export const BUNDLE_FORMAT = 1;
export const POINTER_FILE = 'current.json';

/** The installed esbuild's version, read from its package.json (esbuild itself is not loaded). */
export function installedEsbuildVersion() {
  return JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')).version;
}

/** The nearest directory above `entry` that holds a package.json. */
export function packageRootOf(entry) {
  let directory = dirname(resolve(entry));
  for (;;) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${entry}`);
    directory = parent;
  }
}

/** Where the bundles of `entry` live: `<package>/node_modules/.cache/northlight/<entry path>/`. */
export function bundleCacheOf(entry) {
  const packageRoot = packageRootOf(entry);
  const name = relative(packageRoot, entry)
    .replace(/\.[cm]?ts$/, '')
    .replace(/[/\\]/g, '_');
  return { packageRoot, cacheDirectory: join(packageRoot, 'node_modules', '.cache', 'northlight', name) };
}

export function readPointer(cacheDirectory) {
  try {
    return JSON.parse(readFileSync(join(cacheDirectory, POINTER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

export function stampOf(path) {
  try {
    const stats = statSync(path);
    return [stats.size, stats.mtimeMs];
  } catch {
    return undefined;
  }
}

export function stampsHold(inputs) {
  for (const [path, [size, mtimeMs]] of Object.entries(inputs)) {
    const stamp = stampOf(path);
    if (stamp === undefined || stamp[0] !== size || stamp[1] !== mtimeMs) return false;
  }
  return true;
}

/** The path of the current bundle of the entry whose cache is `cacheDirectory`, if it is up to date. */
export function upToDateBundle(cacheDirectory, esbuildVersion = installedEsbuildVersion()) {
  const current = readPointer(cacheDirectory);
  if (
    current === undefined ||
    current.format !== BUNDLE_FORMAT ||
    current.esbuild !== esbuildVersion ||
    !stampsHold(current.inputs)
  )
    return undefined;
  const main = join(cacheDirectory, current.directory, 'main.js');
  return existsSync(main) ? main : undefined;
}
