/**
 * The version a process reports in its status: `NORTHLIGHT_VERSION` from its environment (what the
 * platform deployed: an image tag on Kubernetes, the upgrade's label on the local platform), else
 * this build's package version (read once).
 */
import { readFileSync } from 'node:fs';

const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

let packageVersionCached: string | undefined;

function packageVersion(): string {
  if (packageVersionCached === undefined) {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    packageVersionCached = (JSON.parse(text) as { version: string }).version;
  }
  return packageVersionCached;
}

export function buildVersion(
  environment: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const fromEnvironment = environment.NORTHLIGHT_VERSION;
  if (fromEnvironment !== undefined && VERSION_PATTERN.test(fromEnvironment)) return fromEnvironment;
  return packageVersion();
}
