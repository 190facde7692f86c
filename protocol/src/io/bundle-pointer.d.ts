/** Types of bundle-pointer.js (plain JavaScript, so that launchers can use it without tsx). */

/** The stamp of one input file: its size and modification time when the bundle was made. */
export type Stamp = readonly [size: number, mtimeMs: number];

export interface Pointer {
  readonly format: number;
  readonly esbuild: string;
  /** The directory (beside the pointer) holding `main.js`, its source map and the companions. */
  readonly directory: string;
  /** Absolute path → stamp, for every input of every entry point and the package.json files. */
  readonly inputs: Readonly<Record<string, Stamp>>;
}

export const BUNDLE_FORMAT: number;
export const POINTER_FILE: string;
export function installedEsbuildVersion(): string;
export function packageRootOf(entry: string): string;
export function bundleCacheOf(entry: string): { packageRoot: string; cacheDirectory: string };
export function readPointer(cacheDirectory: string): Pointer | undefined;
export function stampOf(path: string): Stamp | undefined;
export function stampsHold(inputs: Readonly<Record<string, Stamp>>): boolean;
export function upToDateBundle(cacheDirectory: string, esbuildVersion?: string): string | undefined;
