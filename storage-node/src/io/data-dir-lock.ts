/**
 * The data directory lock: a storage node holds `<dataDir>/LOCK` for its whole life, so two processes
 * never open the same segments (two `northlight up` that raced did, and an acknowledged commit was
 * lost: each process appended to and collected the same log files behind the other's back).
 *
 * The lock is a small JSON file naming its holder: pid, node id, host, the process's start time
 * (`/proc/<pid>/stat`, field 22, clock ticks since boot) and the machine's boot id when Linux gives
 * them. It is taken before the node listens or opens a segment, and removed on a clean shutdown only
 * (after the core has stopped and synced). A node that crashes or is killed leaves it behind: the next
 * one finds its holder gone, takes it over and says so at WARN.
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
 *   6. The lock names this process's own pid but is not one it took: a previous incarnation in a
 *      restarted container (pid namespaces start again at 1): stale.
 *   7. The lock names another host (and not this machine's boot id, which a renamed host keeps): this
 *      host cannot see that host's processes, so the node refuses and says which host to check.
 *   8. A node crashed while holding the takeover marker (a window of microseconds): the marker is
 *      judged like a lock and removed once its holder is gone. Left open: two starters removing such a
 *      dead marker in the same instant could both pass it; it needs a crash inside that window and a
 *      race right after it.
 *   9. A lock that cannot be read as one (not JSON, another format): never the work of a live starter
 *      (1 writes it whole before it is visible), so it is left for a human: the node refuses.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fail, type Logger, NorthlightError, ok, type Result } from '@northlight/protocol';
import { bootId, processAlive, processStartTicks } from '@northlight/protocol/io';

export const LOCK_FILE_NAME = 'LOCK';
/**
 * The exit code of a node that refuses to start because another process holds its data directory
 * (main.ts; 2 is a bad configuration, 1 a crash).
 */
export const EXIT_DATA_DIR_LOCKED = 3;
const TAKEOVER_FILE_NAME = 'LOCK.takeover';
/** Rounds of link / judge / take over before giving up (each round ends in a win, a refusal or a change seen). */
const ACQUIRE_ATTEMPTS_MAX = 8;
/** How long a starter waits for another one that holds the takeover marker (microseconds of work). */
const TAKEOVER_WAIT_MS = 20;
/** What the lock file holds, so a later build can tell an older format apart. */
const LOCK_FORMAT = 1;
/** A lock file is a few hundred bytes; anything far larger is not one of ours. */
const LOCK_FILE_BYTES_MAX = 4096;

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
  nowIso(): string;
}

export const realProcessTable: ProcessTable = {
  ownPid: process.pid,
  hostName: () => hostname(),
  isAlive: processAlive,
  startTicksOf: processStartTicks,
  bootId,
  nowIso: () => new Date().toISOString(),
};

/** The tokens of the locks this process holds: a lock naming our pid is ours only if its token is here. */
const heldTokens = new Set<string>();

/** Whether a recorded holder still runs, and if not, why we may take its lock. */
export type HolderVerdict = { readonly alive: true } | { readonly alive: false; readonly reason: string };

/** Cases 3, 5, 6 and 7 of the header. Pure given the process table. */
export function judgeHolder(holder: LockHolder, table: ProcessTable): HolderVerdict | 'other-host' {
  const bootId = table.bootId();
  // A host name may change under a running machine (a laptop changing networks): the same boot id
  // says it is this machine still.
  const sameMachine = holder.host === table.hostName() || (bootId !== undefined && holder.bootId === bootId);
  if (!sameMachine) return 'other-host';
  if (holder.pid === table.ownPid)
    return {
      alive: false,
      reason: `pid ${holder.pid} is this process: an earlier run in a restarted container`,
    };
  if (holder.bootId !== undefined && bootId !== undefined && holder.bootId !== bootId)
    return { alive: false, reason: 'the machine has booted since' };
  if (!table.isAlive(holder.pid)) return { alive: false, reason: `pid ${holder.pid} is gone` };
  const startTicks = table.startTicksOf(holder.pid);
  if (holder.startTicks !== undefined && startTicks !== undefined && holder.startTicks !== startTicks)
    return {
      alive: false,
      reason: `pid ${holder.pid} is another process now (started at tick ${startTicks}, the holder at ${holder.startTicks})`,
    };
  return { alive: true };
}

/** The lock this process holds; `release()` on a clean shutdown. */
export class DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  #released = false;

  constructor(path: string, holder: LockHolder) {
    this.path = path;
    this.holder = holder;
  }

  /**
   * Removes the lock if it is still ours (a human may have removed it and another node taken it since:
   * that one stays). Call it only once nothing of this process writes to the directory any more.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    heldTokens.delete(this.holder.token);
    const current = readHolder(this.path);
    if (current.kind !== 'holder' || current.holder.token !== this.holder.token) return;
    unlinkSync(this.path);
  }
}

type ReadLock =
  | { readonly kind: 'holder'; readonly holder: LockHolder; readonly inode: bigint }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreadable'; readonly reason: string };

function readHolder(path: string): ReadLock {
  let text: string;
  let inode: bigint;
  try {
    inode = statSync(path, { bigint: true }).ino;
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
      ? { kind: 'holder', holder: holder as LockHolder, inode }
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
}

/**
 * Takes `<dataDir>/LOCK` (creating the directory if need be), or says why not: NL_CONFIG_INVALID when
 * another live process holds it, or its holder cannot be checked (cases 2, 5 without /proc, 7, 9).
 * File system errors (a read-only or missing parent directory) are thrown as NL_DISK_IO.
 */
export async function acquireDataDirLock(options: AcquireOptions): Promise<Result<DataDirLock>> {
  const table = options.processes ?? realProcessTable;
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
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
    try {
      linkSync(ownPath, lockPath); // case 1
      heldTokens.add(holder.token);
      return ok(new DataDirLock(lockPath, holder));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const found = readHolder(lockPath);
    if (found.kind === 'absent') continue; // released meanwhile: link again
    if (found.kind === 'unreadable')
      return fail(
        refusal(
          options.dataDir,
          `its lock ${lockPath} cannot be read (${found.reason}). If no storage node runs on this directory, remove ${lockPath} and start again`,
        ),
      );
    const verdict: HolderVerdict | 'other-host' = heldTokens.has(found.holder.token)
      ? { alive: true }
      : judgeHolder(found.holder, table);
    if (verdict === 'other-host')
      return fail(
        refusal(
          options.dataDir,
          `it is locked by ${describeHolder(found.holder)}, and this host cannot check the processes of host ${found.holder.host}. If no storage node runs there on this directory, remove ${lockPath} and start again`,
        ),
      );
    if (verdict.alive)
      return fail(
        refusal(
          options.dataDir,
          `it is in use by ${describeHolder(found.holder)}. Stop that process first, or give this node another --data-dir; if pid ${found.holder.pid} is not a storage node, remove ${lockPath} and start again`,
        ),
      );
    if (!takeOverStale(lockPath, found, verdict.reason, options, table)) await sleep(TAKEOVER_WAIT_MS); // another starter is taking over (case 4): look again after it
  }
  return fail(
    refusal(
      options.dataDir,
      `its lock ${lockPath} kept changing over ${ACQUIRE_ATTEMPTS_MAX} looks: other processes are starting on it. Run one storage node per directory`,
    ),
  );
}

/**
 * Cases 3, 4 and 8: under the takeover marker, removes the stale lock `found` if it is still there.
 * False when another live starter holds the marker.
 */
function takeOverStale(
  lockPath: string,
  found: { readonly holder: LockHolder; readonly inode: bigint },
  reason: string,
  options: AcquireOptions,
  table: ProcessTable,
): boolean {
  const markerPath = join(options.dataDir, TAKEOVER_FILE_NAME);
  try {
    writeExclusive(markerPath, holderRecord(options, table));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const other = readHolder(markerPath);
    if (other.kind !== 'holder') return other.kind === 'absent';
    const verdict = judgeHolder(other.holder, table);
    if (verdict === 'other-host' || verdict.alive) return false;
    removeIfPresent(markerPath); // its holder died taking over (case 8)
    return true;
  }
  try {
    const again = readHolder(lockPath);
    if (again.kind !== 'holder' || again.inode !== found.inode || again.holder.token !== found.holder.token)
      return true; // replaced meanwhile (case 4): the next look judges the new one
    unlinkSync(lockPath);
    options.logger.log('warn', 'took over a stale data directory lock', {
      dataDir: options.dataDir,
      reason,
      previousPid: found.holder.pid,
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
  return {
    format: LOCK_FORMAT,
    pid: table.ownPid,
    nodeId: options.nodeId,
    host: table.hostName(),
    ...(startTicks === undefined ? {} : { startTicks }),
    ...(bootId === undefined ? {} : { bootId }),
    acquiredAt: table.nowIso(),
    token: randomUUID(),
  };
}

function refusal(dataDir: string, why: string): NorthlightError {
  return new NorthlightError('NL_CONFIG_INVALID', `cannot lock the data directory ${dataDir}: ${why}`, {
    dataDir,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
