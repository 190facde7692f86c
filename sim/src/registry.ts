/**
 * The workloads the CLI knows by name. `sim/src/workloads/registry.ts` registers the project's
 * workloads (a module imported for its side effect: it calls `registerWorkload` for each); the CLI
 * imports it, and any `--load <module>` given on the command line, before looking a name up.
 */
import { assert } from './protocol.js';
import type { Workload } from './runner.js';

const workloads = new Map<string, Workload>();
let defaultName: string | undefined;

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Registers a workload; `isDefault` makes it the one `demo` runs (otherwise the first registered). */
export function registerWorkload(workload: Workload, options: { isDefault?: boolean } = {}): void {
  assert(namePattern.test(workload.name), `invalid workload name: ${JSON.stringify(workload.name)}`);
  const existing = workloads.get(workload.name);
  assert(existing === undefined || existing === workload, `workload ${workload.name} registered twice`);
  workloads.set(workload.name, workload);
  if (options.isDefault === true || defaultName === undefined) defaultName = workload.name;
}

export function getWorkload(name: string): Workload | undefined {
  return workloads.get(name);
}

/** Registered workloads, sorted by name. */
export function listWorkloads(): Workload[] {
  return [...workloads.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function defaultWorkload(): Workload | undefined {
  return defaultName === undefined ? undefined : workloads.get(defaultName);
}
