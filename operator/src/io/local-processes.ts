/**
 * The local platform's process supervisor: starts a child process per cluster member, appends its
 * output to a log file of its own, probes its readiness over HTTP, and tells the control loop what
 * became of it. It never decides anything: restarting a crashed member or promoting a replica is
 * the control loop's decision (src/core/engine-plan.ts), executed through `start`/`stop`.
 *
 * States: running (spawned, not exited) → crashed (exited on its own) or down (stopped on purpose by
 * `stop`, e.g. `northlight kill-node`). A member in `down` stays down until started again.
 *
 * Process groups: every child runs in a process group of its own (`detached`), so a signal the
 * terminal sends to the foreground group (Ctrl-C, SIGHUP when it closes) reaches only `up`, which
 * stops the members in the documented order (engines first, then storage); were they in its group,
 * every storage node would stop at the same moment as the engines. Nothing else relies on the
 * group. What keeps a member from outliving `up`:
 *   1. a clean stop (Ctrl-C, SIGTERM, `down`, a failed or interrupted start): `stop` per member;
 *   2. `up` exiting any other way (an uncaught exception): `killAllNow` from its `exit` handler;
 *   3. `up` killed with SIGKILL: its members' pids are in the state file, and the next `up` finds
 *      and stops them (`stopStalePids`), or `down` does, in order (`stopLeftMembers`).
 * Members start no processes of their own, so signalling a member's pid is signalling the member.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessState } from '../core/engine-plan.js';

/** How long `stop` waits after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 10_000;
const PROBE_TIMEOUT_MS = 1_000;

export interface MemberSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logFile: string;
  /** GET this URL: 200 means ready. */
  readonly readyUrl: string;
}

export interface MemberView {
  readonly name: string;
  readonly state: ProcessState;
  readonly pid: number | undefined;
  readonly exitCode: number | null | undefined;
  readonly starts: number;
  readonly startedAtMs: number | undefined;
}

class Member {
  child: ChildProcess | undefined;
  state: ProcessState = 'down';
  exitCode: number | null | undefined;
  starts = 0;
  startedAtMs: number | undefined;
  exited: Promise<void> = Promise.resolve();
  stopping = false;

  constructor(public spec: MemberSpec) {}
}

export class LocalProcesses {
  readonly #members = new Map<string, Member>();
  readonly #onExit: (name: string, code: number | null, signal: string | null) => void;

  constructor(onExit: (name: string, code: number | null, signal: string | null) => void) {
    this.#onExit = onExit;
  }

  /** Starts (or starts again, with a possibly new spec) the member. */
  start(spec: MemberSpec): void {
    let member = this.#members.get(spec.name);
    if (member?.state === 'running') throw new Error(`${spec.name} is already running`);
    if (member === undefined) {
      member = new Member(spec);
      this.#members.set(spec.name, member);
    }
    member.spec = spec;
    const log = openSync(spec.logFile, 'a');
    writeSync(
      log,
      `\n--- ${new Date().toISOString()} northlight starts ${spec.name}: ${spec.args.join(' ')}\n`,
    );
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', log, log],
      // A process group of its own: see the header (process groups).
      detached: true,
    });
    closeSync(log);
    member.child = child;
    member.state = 'running';
    member.stopping = false;
    member.exitCode = undefined;
    member.starts++;
    member.startedAtMs = Date.now();
    const current = member;
    current.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        current.exitCode = code;
        if (current.child === child) {
          current.state = current.stopping ? 'down' : 'crashed';
          current.child = undefined;
        }
        if (!current.stopping) this.#onExit(spec.name, code, signal);
        resolve();
      });
      child.once('error', () => resolve());
    });
  }

  /** Stops the member and leaves it down: SIGTERM (or SIGKILL), then SIGKILL after the grace. */
  async stop(name: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const member = this.#members.get(name);
    if (member === undefined) return;
    if (member.child === undefined) {
      member.state = 'down';
      return;
    }
    member.stopping = true;
    member.child.kill(signal);
    const killed = await Promise.race([member.exited.then(() => true), sleep(STOP_GRACE_MS, false)]);
    if (!killed) {
      member.child?.kill('SIGKILL');
      await member.exited;
    }
    member.state = 'down';
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#members.keys()].map((name) => this.stop(name)));
  }

  /**
   * SIGKILL to every member still running, synchronously: for `up`'s `exit` handler, where nothing
   * asynchronous runs any more (case 2 of the header). A clean stop has already stopped them all.
   */
  killAllNow(): void {
    for (const member of this.#members.values()) {
      if (member.child === undefined) continue;
      member.stopping = true;
      member.child.kill('SIGKILL');
    }
  }

  view(name: string): MemberView | undefined {
    const member = this.#members.get(name);
    if (member === undefined) return undefined;
    return {
      name,
      state: member.state,
      pid: member.child?.pid,
      exitCode: member.exitCode,
      starts: member.starts,
      startedAtMs: member.startedAtMs,
    };
  }

  views(): MemberView[] {
    return [...this.#members.keys()].map((name) => this.view(name)!);
  }

  spec(name: string): MemberSpec | undefined {
    return this.#members.get(name)?.spec;
  }

  pids(): number[] {
    return [...this.#members.values()].flatMap((member) =>
      member.child?.pid === undefined ? [] : [member.child.pid],
    );
  }
}

/** True when `url` answers 200 within the probe timeout. */
export async function probeReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is a member a previous `up` of the data directory `marker` left behind: its command
 * line still names the directory (every member's names its own directory under it), so a recycled
 * pid is never taken for one. Returns that command line, or undefined.
 */
function leftMemberCommandLine(pid: number, marker: string): string | undefined {
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return commandLine.includes(marker) ? commandLine : undefined;
  } catch {
    return undefined; // gone
  }
}

/**
 * The members of data directory `dataDir` running now, found in /proc rather than in a state file: a
 * node process whose command line names a member's own directory under `dataDir` (`storage/…`,
 * `engines/…`, `object-store`). An `up` SIGKILLed while it started members may not have recorded the
 * last ones in its state file yet (or written none), and they hold their directories' locks and ports.
 * Only called by the holder of the data directory's lock: no other `up` runs from it, so every such
 * process is a leftover. A user's other commands naming those paths (`tail`, `less`) are not node.
 */
export function runningMembersOf(dataDir: string): number[] {
  const markers = [`${dataDir}/storage/`, `${dataDir}/engines/`, `${dataDir}/object-store`];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!/^node(\d+)?$/.test(basename(argv[0] ?? ''))) continue;
      const commandLine = argv.join(' ');
      if (markers.some((marker) => commandLine.includes(marker))) pids.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/**
 * Stops processes a previous `up` left behind (it was killed without cleaning up): only pids whose
 * command line still names `marker` (the data directory), so a recycled pid is never touched.
 */
export async function stopStalePids(pids: readonly number[], marker: string): Promise<number> {
  const killed: number[] = [];
  for (const pid of pids) {
    if (leftMemberCommandLine(pid, marker) === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  // Gone before their successors start: a storage node still dying holds its directory's lock.
  const deadline = Date.now() + STOP_GRACE_MS;
  while (killed.some((pid) => leftMemberCommandLine(pid, marker) !== undefined) && Date.now() < deadline)
    await sleep(LEFT_MEMBER_POLL_MS);
  return killed.length;
}

/** How often `stopLeftMembers` looks whether the members it signalled have exited. */
const LEFT_MEMBER_POLL_MS = 100;

/**
 * `down` for an `up` that was killed (SIGKILL) and left its members running: stops those the state
 * file names (`pids`) that are still members of the data directory `dataDir` (as `stopStalePids`
 * checks), in `up`'s own order and way: the engines first (SIGTERM, so their commits in flight become
 * durable), and only once they have exited the storage nodes and the object store; SIGKILL to any
 * still running after STOP_GRACE_MS. Returns how many of each it stopped.
 */
export async function stopLeftMembers(
  pids: readonly number[],
  dataDir: string,
): Promise<{ engines: number; others: number }> {
  const engineMarker = `${dataDir}/engines/`;
  const engines: number[] = [];
  const others: number[] = [];
  for (const pid of pids) {
    const commandLine = leftMemberCommandLine(pid, dataDir);
    if (commandLine === undefined) continue;
    (commandLine.includes(engineMarker) ? engines : others).push(pid);
  }
  await terminateAndWait(engines, dataDir);
  await terminateAndWait(others, dataDir);
  return { engines: engines.length, others: others.length };
}

/** SIGTERM to `pids`, SIGKILL to those still running after STOP_GRACE_MS; returns once all have exited. */
async function terminateAndWait(pids: readonly number[], dataDir: string): Promise<void> {
  // A member that has exited is reaped by init (its parent `up` is gone): its pid then names no
  // process, or a recycled one whose command line does not name the data directory.
  const running = () => pids.filter((pid) => leftMemberCommandLine(pid, dataDir) !== undefined);
  const waitGone = async () => {
    const deadline = Date.now() + STOP_GRACE_MS;
    while (running().length > 0 && Date.now() < deadline) await sleep(LEFT_MEMBER_POLL_MS);
  };
  signalAll(pids, 'SIGTERM');
  await waitGone();
  if (running().length === 0) return;
  signalAll(running(), 'SIGKILL');
  await waitGone();
}

function signalAll(pids: readonly number[], signal: 'SIGTERM' | 'SIGKILL'): void {
  for (const pid of pids)
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
}
