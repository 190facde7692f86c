/**
 * The data directory lock: a storage node holds `<dataDir>/LOCK` for its whole life, so two processes
 * never open the same segments (two `northlight up` that raced did, and an acknowledged commit was
 * lost: each process appended to and collected the same log files behind the other's back).
 *
 * The lock is a small JSON file naming its holder: pid, node id, host, the process's start time
 * (`/proc/<pid>/stat`, field 22, clock ticks since boot), the machine's boot id and the process's pid
 * namespace (`/proc/self/ns/pid`) when Linux gives them. It is taken before the node listens or opens
 * a segment, and removed on a clean shutdown only (after the core has stopped and synced). A node that
 * crashes or is killed leaves it behind: the next one finds its holder gone, takes it over and says so
 * at WARN.
 *
 * A pid means something only in the pid namespace it was given in. Every container on a host shares
 * the kernel's boot id but has a namespace of its own, so two containers mounting one directory (both
 * nodes pid 1) cannot judge each other by pid: "that is my own pid" and "no such pid here" are both
 * false evidence of death there. So the holder also beats a heartbeat: it sets the lock file's mtime
 * every HEARTBEAT_MS, and a holder whose namespace is not ours is judged by that alone (case 10).
 *
 * How each case goes (the numbers are referred to below):
 *   1. Two nodes start on a free directory at once. Each writes its lock, complete and synced, to a
 *      file of its own, then hard-links it to LOCK; link(2) is atomic and fails if LOCK exists, so
 *      exactly one wins and a reader never sees a half-written lock. The other reads the winner's
 *      lock, finds its pid alive and refuses (NL_CONFIG_INVALID, naming the pid and the directory).
 *   2. A node starts while another runs on the directory: as the loser of 1.
 *   3. The holder was killed (-9, OOM, power loss): its pid is dead, or the machine booted since (the
 *      boot id differs). The starter takes the takeover marker (`LOCK.takeover`, created exclusively),
 *      checks under it that LOCK is still the very file it judged (same inode) and still stale,
 *      removes it, drops the marker, logs a WARN, and links its own as in 1 (which a racer may win).
 *   4. Two nodes find the same stale lock at once: the marker lets one of them at a time remove a
 *      lock. The first removes the stale one and links its own; the second, once it holds the marker,
 *      sees another inode (or a live holder) and removes nothing; it refuses at its next look.
 *   5. The pid was recycled: a live process holds it, but it started at another time than the one
 *      recorded: stale. Without /proc (not Linux) only liveness counts, and a recycled pid makes the
 *      node refuse, naming the pid, until a human removes the lock.
 *   6. The lock names this process's own pid, in this pid namespace, but is not one it took: its
 *      holder cannot be running (we have its pid), so stale.
 *   7. The lock names another host (and not this machine's boot id, which a renamed host keeps): this
 *      host cannot see that host's processes, so the node refuses and says which host to check.
 *   8. A node crashed while holding the takeover marker (a window of microseconds): the marker is
 *      judged like a lock and removed once its holder is gone. Left open: two starters removing such a
 *      dead marker in the same instant could both pass it; it needs a crash inside that window and a
 *      race right after it.
 *   9. A lock that cannot be read as one (not JSON, another format): never the work of a live starter
 *      (1 writes it whole before it is visible), so it is left for a human: the node refuses.
 *  10. The lock names another pid namespace on this machine (another container or pod on the same
 *      directory, or this container restarted): the pid says nothing, the heartbeat decides. Its mtime
 *      older than HEARTBEAT_STALE_MS: stale (the holder died, or is frozen that long: see 12). Fresher:
 *      the starter waits, re-reading, up to HEARTBEAT_WAIT_MS_MAX (longer than the stale limit, so a
 *      restarted pod whose predecessor died takes over by itself after at most HEARTBEAT_STALE_MS),
 *      and refuses if the heartbeat still beats: another live node serves the directory.
 *  11. One namespace is unknown (a lock of an earlier build, which records none and beats no
 *      heartbeat; or no /proc here): stale only if the pid judges it so (3, 5, 6) and the heartbeat
 *      has lapsed too; a pid that looks alive is refused as in 2.
 *  12. A holder frozen longer than HEARTBEAT_STALE_MS (SIGSTOP, a stalled disk, a VM paused) in
 *      another namespace loses its lock to a starter, which replays the directory and serves it. The
 *      frozen holder cannot know before it runs again; then it must write nothing more there. It finds
 *      out at the first of two checks and reports the loss (`onLost`; main.ts exits at once, 4):
 *      a. Before every operation that changes the directory (`isHeld`, called by the process's disk,
 *         io/lock-checked-disk.ts): LOCK is still the very file this holder linked (same inode; the
 *         holder keeps it open, so its number is not given to another file). A takeover always
 *         removes LOCK and links another file, so the inode tells; one stat, whose yes the disk
 *         reuses for 1 ms of the monotonic clock (a burst of page writes would otherwise pay one stat
 *         each). So the writes that woke up with the holder (a group commit of appends that arrived
 *         while it was frozen, a materialization step) are refused, typed: the freeze that lets a
 *         takeover happen lasts at least the heartbeat's stale limit, far more than that 1 ms.
 *      b. At its next beat (at most HEARTBEAT_MS after it wakes): LOCK still holds its token. This
 *         also catches a lock rewritten in place (by hand), which keeps the inode.
 *      Left open: a freeze that falls between check (a) and the write it guards (a few microseconds:
 *      the check and the write's submission run in one turn of the event loop), writes already
 *      submitted to the kernel when it froze, and (should the monotonic clock not count the freeze,
 *      as a paused VM's may not) the writes of the first millisecond after it. Closing that needs a
 *      lock the kernel enforces.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { assert, fail, type Logger, NorthlightError, ok, type Result } from '@northlight/protocol';
import { bootId, processAlive, processStartTicks } from '@northlight/protocol/io';

export const LOCK_FILE_NAME = 'LOCK';
/**
 * The exit code of a node that refuses to start because another process holds its data directory
 * (main.ts; 2 is a bad configuration, 1 a crash).
 */
export const EXIT_DATA_DIR_LOCKED = 3;
/**
 * The exit code of a node that found, while it ran, that another process had taken its data directory
 * over (case 12): it stopped at once, without writing to the directory again.
 */
export const EXIT_DATA_DIR_LOCK_LOST = 4;
const TAKEOVER_FILE_NAME = 'LOCK.takeover';
/** Rounds of link / judge / take over before giving up (each round ends in a win, a refusal or a change seen). */
const ACQUIRE_ATTEMPTS_MAX = 8;
/** How long a starter waits for another one that holds the takeover marker (microseconds of work). */
const TAKEOVER_WAIT_MS = 20;
/** What the lock file holds, so a later build can tell an older format apart. */
const LOCK_FORMAT = 1;
/** A lock file is a few hundred bytes; anything far larger is not one of ours. */
const LOCK_FILE_BYTES_MAX = 4096;
/** How often a holder sets its lock file's mtime (case 10). */
export const HEARTBEAT_MS = 2_000;
/** A lock whose heartbeat is older than this is stale when its pid cannot be judged (cases 10, 11). */
export const HEARTBEAT_STALE_MS = 5 * HEARTBEAT_MS;
/** How long a starter waits for a recent heartbeat of another namespace to lapse before refusing. */
export const HEARTBEAT_WAIT_MS_MAX = 15_000;

/** The heartbeat's intervals; tests pass small ones. */
export interface HeartbeatTiming {
  readonly intervalMs: number;
  readonly staleAfterMs: number;
  readonly waitMsMax: number;
}

export const DEFAULT_HEARTBEAT_TIMING: HeartbeatTiming = {
  intervalMs: HEARTBEAT_MS,
  staleAfterMs: HEARTBEAT_STALE_MS,
  waitMsMax: HEARTBEAT_WAIT_MS_MAX,
};

/**
 * A live holder must never look stale: it beats several times within the stale limit (a late timer or
 * a slow disk skips a beat or two), and a starter waits past the limit, so a dead holder's lock lapses
 * while it waits.
 */
function assertTiming(timing: HeartbeatTiming): void {
  assert(timing.intervalMs > 0 && timing.staleAfterMs >= 3 * timing.intervalMs);
  assert(timing.waitMsMax > timing.staleAfterMs);
}
assertTiming(DEFAULT_HEARTBEAT_TIMING);

/** Who holds a data directory: what the lock file records. */
export interface LockHolder {
  readonly format: number;
  readonly pid: number;
  readonly nodeId: string;
  readonly host: string;
  /** `/proc/<pid>/stat` field 22 (clock ticks after boot), when the platform gives it. */
  readonly startTicks?: string;
  /** `/proc/sys/kernel/random/boot_id`, when the platform gives it. */
  readonly bootId?: string;
  /** `readlink /proc/self/ns/pid` (e.g. `pid:[4026531836]`): where `pid` means something. */
  readonly pidNamespace?: string;
  readonly acquiredAt: string;
  /** Tells this holder's lock from a later one of the same pid (release removes only its own). */
  readonly token: string;
}

/** The operating system as the lock sees it; tests pass their own. */
export interface ProcessTable {
  readonly ownPid: number;
  hostName(): string;
  /** True when a process has this pid (one owned by another user counts). */
  isAlive(pid: number): boolean;
  startTicksOf(pid: number): string | undefined;
  bootId(): string | undefined;
  /** This process's pid namespace, undefined without /proc. */
  pidNamespace(): string | undefined;
  nowIso(): string;
  /** Milliseconds since the epoch, on the clock file mtimes are set by. */
  nowMs(): number;
}

function ownPidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

export const realProcessTable: ProcessTable = {
  ownPid: process.pid,
  hostName: () => hostname(),
  isAlive: processAlive,
  startTicksOf: processStartTicks,
  bootId,
  pidNamespace: ownPidNamespace,
  nowIso: () => new Date().toISOString(),
  nowMs: () => Date.now(),
};

/** The tokens of the locks this process holds: a lock naming our pid is ours only if its token is here. */
const heldTokens = new Set<string>();

/**
 * Whether a recorded holder still runs, and if not, why we may take its lock. `heartbeatAgeMs` is set
 * when the heartbeat, not the pid, says it is alive (case 10): it may yet lapse.
 */
export type HolderVerdict =
  | { readonly alive: true; readonly heartbeatAgeMs?: number }
  | { readonly alive: false; readonly reason: string };

/** The lock file's heartbeat as a starter sees it. */
export interface Heartbeat {
  readonly mtimeMs: number;
  readonly staleAfterMs: number;
}

/** Cases 3, 5, 6, 7, 10 and 11 of the header. Pure given the process table and the file's mtime. */
export function judgeHolder(
  holder: LockHolder,
  table: ProcessTable,
  heartbeat: Heartbeat,
): HolderVerdict | 'other-host' {
  const bootId = table.bootId();
  // A host name may change under a running machine (a laptop changing networks): the same boot id
  // says it is this machine still.
  const sameMachine = holder.host === table.hostName() || (bootId !== undefined && holder.bootId === bootId);
  if (!sameMachine) return 'other-host';
  if (holder.bootId !== undefined && bootId !== undefined && holder.bootId !== bootId)
    return { alive: false, reason: 'the machine has booted since' };
  const ownNamespace = table.pidNamespace();
  if (holder.pidNamespace !== undefined && holder.pidNamespace === ownNamespace)
    return judgeByPid(holder, table);
  if (holder.pidNamespace === undefined || ownNamespace === undefined) {
    // Case 11: the pid may mean something; believe it when it says alive, and not alone when dead.
    const byPid = judgeByPid(holder, table);
    if (byPid.alive) return byPid;
    const byHeartbeat = judgeByHeartbeat(holder, table, heartbeat);
    return byHeartbeat.alive
      ? byHeartbeat
      : { alive: false, reason: `${byPid.reason}, and ${byHeartbeat.reason}` };
  }
  return judgeByHeartbeat(holder, table, heartbeat); // case 10
}

/** Cases 3, 5 and 6: the holder's pid is one of this namespace's. */
function judgeByPid(holder: LockHolder, table: ProcessTable): HolderVerdict {
  if (holder.pid === table.ownPid)
    return { alive: false, reason: `pid ${holder.pid} is this process, so the holder is gone` };
  if (!table.isAlive(holder.pid)) return { alive: false, reason: `pid ${holder.pid} is gone` };
  const startTicks = table.startTicksOf(holder.pid);
  if (holder.startTicks !== undefined && startTicks !== undefined && holder.startTicks !== startTicks)
    return {
      alive: false,
      reason: `pid ${holder.pid} is another process now (started at tick ${startTicks}, the holder at ${holder.startTicks})`,
    };
  return { alive: true };
}

/** Case 10: the pid says nothing here, the lock file's mtime does. */
function judgeByHeartbeat(holder: LockHolder, table: ProcessTable, heartbeat: Heartbeat): HolderVerdict {
  const heartbeatAgeMs = Math.max(0, Math.round(table.nowMs() - heartbeat.mtimeMs));
  if (heartbeatAgeMs <= heartbeat.staleAfterMs) return { alive: true, heartbeatAgeMs };
  return {
    alive: false,
    reason: `its heartbeat stopped ${heartbeatAgeMs} ms ago (the limit is ${heartbeat.staleAfterMs} ms; pid namespace ${holder.pidNamespace ?? 'unknown'}, this process's ${table.pidNamespace() ?? 'unknown'})`,
  };
}

/** What a holder found in place of its lock (case 12). */
export interface LockLoss {
  readonly path: string;
  /** Who holds LOCK now (`storage node … (pid … on host …)`, with its pid namespace), or that it is gone. */
  readonly found: string;
  /** The new holder's pid namespace, when LOCK names one. */
  readonly foundPidNamespace?: string;
  /** Which check found it (case 12 a or b). */
  readonly noticedBy: 'before a write' | 'heartbeat';
}

/** The lock this process holds; `release()` on a clean shutdown. */
export class DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  #released = false;
  #warned = false;
  #lost: LockLoss | undefined;
  readonly #inode: bigint;
  readonly #descriptor: number;
  readonly #logger: Logger;
  readonly #onLost: ((loss: LockLoss) => void) | undefined;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    path: string,
    holder: LockHolder,
    logger: Logger,
    heartbeatMs: number,
    onLost: ((loss: LockLoss) => void) | undefined,
  ) {
    this.path = path;
    this.holder = holder;
    this.#logger = logger;
    this.#onLost = onLost;
    // Just linked by this process (case 1): the inode case 12a compares against. Kept open, so that
    // the inode number cannot be freed and given to another file (LOCK removed by hand, then another
    // node's) while this process lives.
    this.#descriptor = openSync(path, 'r');
    this.#inode = fstatSync(this.#descriptor, { bigint: true }).ino;
    // Unref'd: the lock never keeps a process alive; release() stops it before removing the file.
    this.#heartbeat = setInterval(() => this.#beat(), heartbeatMs);
    this.#heartbeat.unref();
  }

  /** The loss found so far (case 12), if any. */
  get lost(): LockLoss | undefined {
    return this.#lost;
  }

  /**
   * Case 12a: true while LOCK is still the file this process linked. Cheap (one stat), so the process
   * calls it before every change to the directory; on false it has reported the loss already.
   */
  isHeld(): boolean {
    if (this.#lost !== undefined) return false;
    if (this.#released) return true; // released on a clean stop: nothing writes any more
    const stat = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    if (stat !== undefined && stat.ino === this.#inode) return true;
    this.#reportLost(readHolder(this.path), 'before a write');
    return false;
  }

  /**
   * Case 10: sets the lock file's mtime, if LOCK is still ours (case 12b: if not, reports the loss).
   * A failure to set it (the disk read-only) is logged once: the node goes on, since a starter in
   * another namespace would wait for the heartbeat to lapse, and then take over (case 12).
   */
  #beat(): void {
    if (this.#lost !== undefined) return;
    try {
      const current = readHolder(this.path);
      if (current.kind !== 'holder' || current.holder.token !== this.holder.token) {
        this.#reportLost(current, 'heartbeat');
        return;
      }
      const now = new Date();
      utimesSync(this.path, now, now);
      this.#warned = false;
    } catch (error) {
      if (!this.#warned)
        this.#logger.log('warn', 'refresh the data directory lock’s heartbeat', {
          path: this.path,
          error: (error as Error).message,
        });
      this.#warned = true;
    }
  }

  /** Once: stops beating and tells the process (or, with no one to tell, logs an ERROR). */
  #reportLost(current: ReadLock, noticedBy: LockLoss['noticedBy']): void {
    if (this.#lost !== undefined) return;
    clearInterval(this.#heartbeat);
    heldTokens.delete(this.holder.token);
    const loss: LockLoss = {
      path: this.path,
      found:
        current.kind === 'holder'
          ? `${describeHolder(current.holder)}, in pid namespace ${current.holder.pidNamespace ?? 'unknown'}`
          : current.kind === 'absent'
            ? 'no lock at all (removed)'
            : `a file that is not a lock (${current.reason})`,
      ...(current.kind === 'holder' && current.holder.pidNamespace !== undefined
        ? { foundPidNamespace: current.holder.pidNamespace }
        : {}),
      noticedBy,
    };
    this.#lost = loss;
    if (this.#onLost !== undefined) {
      this.#onLost(loss);
      return;
    }
    this.#logger.log('error', 'the data directory lock is no longer this process’s', {
      path: loss.path,
      found: loss.found,
      noticedBy,
    });
  }

  /**
   * Removes the lock if it is still ours (a human may have removed it and another node taken it since:
   * that one stays). Call it only once nothing of this process writes to the directory any more.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#heartbeat);
    heldTokens.delete(this.holder.token);
    closeSync(this.#descriptor);
    if (this.#lost !== undefined) return; // another holder's now (case 12)
    const current = readHolder(this.path);
    if (current.kind !== 'holder' || current.holder.token !== this.holder.token) return;
    unlinkSync(this.path);
  }
}

type ReadLock =
  | { readonly kind: 'holder'; readonly holder: LockHolder; readonly inode: bigint; readonly mtimeMs: number }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreadable'; readonly reason: string };

function readHolder(path: string): ReadLock {
  let text: string;
  let inode: bigint;
  let mtimeMs: number;
  try {
    const stat = statSync(path, { bigint: true });
    inode = stat.ino;
    mtimeMs = Number(stat.mtimeNs / 1_000_000n);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw error;
  }
  if (text.length > LOCK_FILE_BYTES_MAX) return { kind: 'unreadable', reason: `${text.length} bytes` };
  try {
    const holder = JSON.parse(text) as Partial<LockHolder>;
    const valid =
      holder.format === LOCK_FORMAT &&
      Number.isSafeInteger(holder.pid) &&
      (holder.pid ?? 0) > 0 &&
      typeof holder.nodeId === 'string' &&
      typeof holder.host === 'string' &&
      typeof holder.token === 'string';
    return valid
      ? { kind: 'holder', holder: holder as LockHolder, inode, mtimeMs }
      : { kind: 'unreadable', reason: 'not a northlight lock of format 1' };
  } catch (error) {
    return { kind: 'unreadable', reason: (error as Error).message };
  }
}

/** Writes `holder` to `path`, synced, failing if the file exists. */
function writeExclusive(path: string, holder: LockHolder): void {
  const descriptor = openSync(path, 'wx', 0o644);
  try {
    writeSync(descriptor, `${JSON.stringify(holder)}\n`);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function describeHolder(holder: LockHolder): string {
  return `storage node ${holder.nodeId} (pid ${holder.pid} on host ${holder.host}, since ${holder.acquiredAt})`;
}

export interface AcquireOptions {
  readonly dataDir: string;
  readonly nodeId: string;
  readonly logger: Logger;
  readonly processes?: ProcessTable;
  readonly heartbeat?: HeartbeatTiming;
  /**
   * Ends a wait for another holder's heartbeat (case 10) at once: the acquire then rejects with the
   * signal's reason, having taken nothing (a process stopped while it starts).
   */
  readonly signal?: AbortSignal;
  /** Called once if the lock is found taken over while held (case 12); without it, an ERROR is logged. */
  readonly onLost?: (loss: LockLoss) => void;
}

/**
 * Takes `<dataDir>/LOCK` (creating the directory if need be), or says why not: NL_CONFIG_INVALID when
 * another live process holds it, or its holder cannot be checked (cases 2, 5 without /proc, 7, 9, 10
 * once its wait is over). File system errors (a read-only or missing parent directory) are thrown as NL_DISK_IO.
 * Once `options.signal` aborts, it rejects with the signal's reason (an AbortError) at its next wait,
 * having removed only its own temporary file: a lock it found stays as it was.
 */
export async function acquireDataDirLock(options: AcquireOptions): Promise<Result<DataDirLock>> {
  const table = options.processes ?? realProcessTable;
  assertTiming(options.heartbeat ?? DEFAULT_HEARTBEAT_TIMING);
  const lockPath = join(options.dataDir, LOCK_FILE_NAME);
  const ownPath = join(options.dataDir, `${LOCK_FILE_NAME}.${table.ownPid}.tmp`);
  const holder = holderRecord(options, table);
  try {
    mkdirSync(options.dataDir, { recursive: true });
    // A file of our own, named by our pid: one left by a crashed run of this pid is ours to replace.
    removeIfPresent(ownPath);
    writeExclusive(ownPath, holder);
    try {
      return await acquireLoop(lockPath, ownPath, holder, options, table);
    } finally {
      removeIfPresent(ownPath);
    }
  } catch (error) {
    if (error instanceof NorthlightError) throw error;
    if (options.signal?.aborted === true && error === options.signal.reason) throw error;
    throw new NorthlightError(
      'NL_DISK_IO',
      `lock the data directory ${options.dataDir}: ${(error as Error).message}`,
      { path: lockPath },
    );
  }
}

async function acquireLoop(
  lockPath: string,
  ownPath: string,
  holder: LockHolder,
  options: AcquireOptions,
  table: ProcessTable,
): Promise<Result<DataDirLock>> {
  const timing = options.heartbeat ?? DEFAULT_HEARTBEAT_TIMING;
  const waitUntilMs = table.nowMs() + timing.waitMsMax;
  let waitLogged = false;
  // Rounds spent waiting for a heartbeat to lapse are bounded by waitUntilMs, the others by the count.
  let attempts = 0;
  while (attempts < ACQUIRE_ATTEMPTS_MAX) {
    options.signal?.throwIfAborted();
    try {
      linkSync(ownPath, lockPath); // case 1
      heldTokens.add(holder.token);
      return ok(new DataDirLock(lockPath, holder, options.logger, timing.intervalMs, options.onLost));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const found = readHolder(lockPath);
    if (found.kind === 'absent') {
      attempts++;
      continue; // released meanwhile: link again
    }
    const verdict: HolderVerdict | 'other-host' | 'unreadable' =
      found.kind === 'unreadable'
        ? 'unreadable'
        : heldTokens.has(found.holder.token)
          ? { alive: true }
          : judgeHolder(found.holder, table, { mtimeMs: found.mtimeMs, staleAfterMs: timing.staleAfterMs });
    if (verdict === 'unreadable' || verdict === 'other-host' || found.kind === 'unreadable')
      return fail(
        refusalFor(
          lockPath,
          found,
          verdict === 'other-host' ? verdict : 'unreadable',
          options,
          table,
          timing,
        ),
      );
    const remainingMs = waitUntilMs - table.nowMs();
    if (verdict.alive && verdict.heartbeatAgeMs !== undefined && remainingMs > 0) {
      if (!waitLogged)
        options.logger.log('info', 'waiting for the lock’s heartbeat to lapse', {
          dataDir: options.dataDir,
          holder: describeHolder(found.holder),
          holderPidNamespace: found.holder.pidNamespace ?? 'unknown',
          ownPidNamespace: table.pidNamespace() ?? 'unknown',
          heartbeatAgeMs: verdict.heartbeatAgeMs,
          staleAfterMs: timing.staleAfterMs,
          waitMsMax: timing.waitMsMax,
          why: 'the holder’s pid cannot be checked from this pid namespace (another container, or this one before a restart): its heartbeat decides, stale after staleAfterMs',
        });
      waitLogged = true;
      await sleep(Math.min(timing.intervalMs, remainingMs), options.signal);
      continue; // case 10
    }
    if (verdict.alive) return fail(refusalFor(lockPath, found, verdict, options, table, timing));
    attempts++;
    if (!takeOverStale(lockPath, found, verdict.reason, options, table, timing))
      await sleep(TAKEOVER_WAIT_MS, options.signal); // another starter is taking over (case 4): look again after it
  }
  return fail(
    refusal(
      options.dataDir,
      `its lock ${lockPath} kept changing over ${ACQUIRE_ATTEMPTS_MAX} looks: other processes are starting on it. Run one storage node per directory`,
    ),
  );
}

/** Why a starter refuses: what it found, and what a human should do about it. */
function refusalFor(
  lockPath: string,
  found: Exclude<ReadLock, { kind: 'absent' }>,
  verdict: { readonly alive: true; readonly heartbeatAgeMs?: number } | 'other-host' | 'unreadable',
  options: AcquireOptions,
  table: ProcessTable,
  timing: HeartbeatTiming,
): NorthlightError {
  const removeIt = `remove ${lockPath} and start again`;
  if (found.kind === 'unreadable' || verdict === 'unreadable')
    return refusal(
      options.dataDir,
      `its lock ${lockPath} cannot be read (${found.kind === 'unreadable' ? found.reason : 'unreadable'}). If no storage node runs on this directory, ${removeIt}`,
    );
  const holder = describeHolder(found.holder);
  if (verdict === 'other-host')
    return refusal(
      options.dataDir,
      `it is locked by ${holder}, and this host cannot check the processes of host ${found.holder.host}. If no storage node runs there on this directory, ${removeIt}`,
    );
  if (verdict.heartbeatAgeMs !== undefined)
    return refusal(
      options.dataDir,
      `it is in use by ${holder}, in pid namespace ${found.holder.pidNamespace ?? 'unknown'} (this process is in ${table.pidNamespace() ?? 'unknown'}): it is alive, its heartbeat ${verdict.heartbeatAgeMs} ms old after ${timing.waitMsMax} ms of waiting for it to lapse. Another container or pod runs a storage node on this directory: stop it first, or give this node another --data-dir. If nothing runs there, ${removeIt}`,
    );
  return refusal(
    options.dataDir,
    `it is in use by ${holder}. Stop that process first, or give this node another --data-dir; if pid ${found.holder.pid} is not a storage node, ${removeIt}`,
  );
}

/**
 * Cases 3, 4 and 8: under the takeover marker, removes the stale lock `found` if it is still there.
 * False when another live starter holds the marker.
 */
function takeOverStale(
  lockPath: string,
  found: { readonly holder: LockHolder; readonly inode: bigint; readonly mtimeMs: number },
  reason: string,
  options: AcquireOptions,
  table: ProcessTable,
  timing: HeartbeatTiming,
): boolean {
  const markerPath = join(options.dataDir, TAKEOVER_FILE_NAME);
  try {
    writeExclusive(markerPath, holderRecord(options, table));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const other = readHolder(markerPath);
    if (other.kind !== 'holder') return other.kind === 'absent';
    const verdict = judgeHolder(other.holder, table, {
      mtimeMs: other.mtimeMs,
      staleAfterMs: timing.staleAfterMs,
    });
    if (verdict === 'other-host' || verdict.alive) return false;
    removeIfPresent(markerPath); // its holder died taking over (case 8)
    return true;
  }
  try {
    const again = readHolder(lockPath);
    if (
      again.kind !== 'holder' ||
      again.inode !== found.inode ||
      again.holder.token !== found.holder.token ||
      again.mtimeMs !== found.mtimeMs
    )
      return true; // replaced meanwhile (case 4): the next look judges the new one
    unlinkSync(lockPath);
    options.logger.log('warn', 'took over a stale data directory lock', {
      dataDir: options.dataDir,
      reason,
      previousPid: found.holder.pid,
      previousPidNamespace: found.holder.pidNamespace ?? 'unknown',
      previousNodeId: found.holder.nodeId,
      previousSince: found.holder.acquiredAt,
    });
    return true;
  } finally {
    removeIfPresent(markerPath);
  }
}

function holderRecord(options: AcquireOptions, table: ProcessTable): LockHolder {
  const startTicks = table.startTicksOf(table.ownPid);
  const bootId = table.bootId();
  const pidNamespace = table.pidNamespace();
  return {
    format: LOCK_FORMAT,
    pid: table.ownPid,
    nodeId: options.nodeId,
    host: table.hostName(),
    ...(startTicks === undefined ? {} : { startTicks }),
    ...(bootId === undefined ? {} : { bootId }),
    ...(pidNamespace === undefined ? {} : { pidNamespace }),
    acquiredAt: table.nowIso(),
    token: randomUUID(),
  };
}

function refusal(dataDir: string, why: string): NorthlightError {
  return new NorthlightError('NL_CONFIG_INVALID', `cannot lock the data directory ${dataDir}: ${why}`, {
    dataDir,
  });
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller looks at the signal next). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
