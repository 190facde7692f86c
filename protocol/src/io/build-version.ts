/**
 * The version a process reports in its status: `NORTHLIGHT_VERSION` from its environment (what the
 * platform deployed: an image tag on Kubernetes, the upgrade's label on the local platform), else
 * this build's package version (read once).
 */
// Imported, not read from a path relative to this module: a bundled process (io/node-entry.ts) runs
// it from elsewhere, and the bundle then carries the version it was built with.
import protocolPackage from '../../package.json' with { type: 'json' };

const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

function packageVersion(): string {
  return protocolPackage.version;
}

export function buildVersion(
  environment: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const fromEnvironment = environment.NORTHLIGHT_VERSION;
  if (fromEnvironment !== undefined && VERSION_PATTERN.test(fromEnvironment)) return fromEnvironment;
  return packageVersion();
}
