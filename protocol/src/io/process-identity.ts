/**
 * Telling whether a process a file names (a lock's holder, a port's claimer) is still that process:
 * alive, and not a recycled pid (its start time), on this boot of this machine. Shared by the storage
 * node's data directory lock, `northlight up`'s lock and the free-port registry.
 */
import { readFileSync } from 'node:fs';

/**
 * Whether `pid` names a running process (EPERM: it runs, under another user). A zombie — exited, its
 * files, locks and ports released, waiting for its parent to collect its status — is not running:
 * `kill(pid, 0)` still succeeds for it, and a storage node killed with its `up` stays one until init
 * reaps it, which a successor starting at once would otherwise take for its data directory's owner.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

/** The state letter of `/proc/<pid>/stat` (R, S, D, Z zombie, X dead…); undefined without /proc. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * When `pid` started, in clock ticks after boot (field 22 of `/proc/<pid>/stat`), as decimal text;
 * undefined where Linux's /proc is not there or the process is gone. Two processes with one pid have
 * different start times, so a recorded one tells a recycled pid apart.
 */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) is in parentheses and may hold spaces and parentheses itself.
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // fields[0] is field 3
    return ticks !== undefined && /^\d+$/.test(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** This boot of this machine (`/proc/sys/kernel/random/boot_id`), where Linux gives it. */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
