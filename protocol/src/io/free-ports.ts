/**
 * Free loopback ports for processes that are told their port on the command line (a local
 * cluster's members, the test rigs' storage nodes and engines, redis-server, PostgreSQL).
 *
 * Picking with `listen(0)` and closing again is racy in two ways, and both were seen here:
 * - the kernel hands out such ports from its ephemeral range, the same range it takes the local port
 *   of every outgoing connection from. Between the pick and the child's `listen`, any connection on
 *   the machine (gossip, S3, a client) can take the port: `listen EADDRINUSE` in a cluster start;
 * - two pickers running at once (vitest workers, turbo's packages) never see each other's picks.
 *
 * So ports are picked *outside* the ephemeral range (outgoing connections never take those): below
 * it, or above it when the range starts too low (`net.ipv4.ip_local_port_range = 1024 65535`, a
 * common tuning, leaves neither: then anywhere, as before). Each pick is claimed in a registry of
 * lock files in the temporary directory (`northlight-ports-<uid>/<port>`, one per user), created
 * whole and exclusively (written to a private file, then hard-linked: never read half-written),
 * holding the claimer's pid. A claim is honoured while its process lives and for `CLAIM_LEASE_MS`
 * after its last refresh: a process that keeps ports for long (`northlight up`, whose members restart
 * at their ports) refreshes its claims with `refreshPortClaims`.
 */
import {
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './process-identity.js';

/** How long a claim keeps other pickers off a port it has not bound yet. */
export const CLAIM_LEASE_MS = 10 * 60_000;
/** The lowest port handed out: above the well-known and most registered service ports. */
export const PICK_RANGE_LOW = 15_000;
/** Used when the ephemeral range cannot be read (non-Linux): IANA's dynamic range. */
const FALLBACK_EPHEMERAL_RANGE: readonly [number, number] = [49_152, 65_535];
/** A side of the ephemeral range is used only if it holds at least this many ports. */
const PICK_RANGE_MIN_PORTS = 2_000;
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';
/** Attempts per port asked for before giving up (a nearly full range, not bad luck). */
const ATTEMPTS_PER_PORT = 200;

export class NoFreePortError extends Error {
  override readonly name = 'NoFreePortError';
}

export interface FreePortsOptions {
  /** The registry's directory (default: `<tmpdir>/northlight-ports-<uid>`). */
  readonly registryDir?: string;
  /** Where to pick from, `[low, high)` (default: `pickRange()`). */
  readonly range?: readonly [number, number];
}

/** The kernel's ephemeral range, inclusive (the local ports of outgoing connections). */
export function ephemeralRange(): readonly [number, number] {
  try {
    const [low, high] = readFileSync(EPHEMERAL_RANGE_FILE, 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! >= 1 && high! >= low! && high! <= 65_535)
      return [low!, high!];
  } catch {
    // not Linux: fall through
  }
  return FALLBACK_EPHEMERAL_RANGE;
}

/** The first port of the ephemeral range. */
export function ephemeralRangeLow(): number {
  return ephemeralRange()[0];
}

/**
 * Where `freePorts` picks by default, `[low, high)`: below the ephemeral range from PICK_RANGE_LOW,
 * else above it, else (a range over nearly every port) from PICK_RANGE_LOW to the top.
 */
export function pickRange(
  ephemeral: readonly [number, number] = ephemeralRange(),
): readonly [number, number] {
  const [low, high] = ephemeral;
  if (low - PICK_RANGE_LOW >= PICK_RANGE_MIN_PORTS) return [PICK_RANGE_LOW, low];
  if (65_535 - high >= PICK_RANGE_MIN_PORTS) return [high + 1, 65_536];
  return [PICK_RANGE_LOW, 65_536];
}

/** This user's registry: a directory of another user's would not be writable. */
export function defaultRegistryDir(): string {
  return join(tmpdir(), `northlight-ports-${process.getuid?.() ?? 'user'}`);
}

/**
 * `count` distinct ports, each free on 127.0.0.1 when probed and claimed so that no other picker
 * on this machine hands it out before the lease ends.
 */
export async function freePorts(count: number, options: FreePortsOptions = {}): Promise<number[]> {
  const registryDir = options.registryDir ?? defaultRegistryDir();
  mkdirSync(registryDir, { recursive: true });
  const [low, high] = options.range ?? pickRange();
  if (
    !(Number.isInteger(low) && Number.isInteger(high) && low >= 1024 && high <= 65_536 && high - low >= count)
  )
    throw new RangeError(`cannot pick ${count} port(s) from [${low}, ${high})`);
  const picked: number[] = [];
  let attempts = 0;
  while (picked.length < count) {
    if (attempts++ >= ATTEMPTS_PER_PORT * count)
      throw new NoFreePortError(
        `no free port found in ${attempts - 1} attempts in [${low}, ${high}) on 127.0.0.1 (${picked.length} of ${count} picked); stop processes holding ports there, or remove stale claims in ${registryDir}`,
      );
    const port = low + Math.floor(Math.random() * (high - low));
    if (picked.includes(port) || !claim(registryDir, port)) continue;
    if (await isBindable(port)) picked.push(port);
    else release(registryDir, port);
  }
  return picked;
}

/**
 * Keeps this process's claims on `ports` from lapsing (their lease runs `CLAIM_LEASE_MS` from the
 * last refresh): for a process that holds ports for long and may rebind them (a restarted member).
 */
export function refreshPortClaims(
  ports: readonly number[],
  registryDir: string = defaultRegistryDir(),
): void {
  const now = new Date();
  for (const port of ports) {
    const path = join(registryDir, String(port));
    try {
      if (Number(readFileSync(path, 'utf8').trim()) === process.pid) utimesSync(path, now, now);
      else if (createWhole(path)) continue; // lapsed and taken back (nobody else had it)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') createWhole(path);
    }
  }
}

/** Creates the claim file holding our pid, whole, if it does not exist: false if it does. */
function createWhole(path: string): boolean {
  const draft = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.draft`;
  writeFileSync(draft, `${process.pid}\n`);
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(draft);
  }
}

/**
 * Claims a port: creates its claim file, or takes over a claim whose process died or whose lease
 * lapsed. A takeover renames the stale file to a name of our own first (only one picker's rename
 * succeeds), then checks that what it moved is the claim it judged stale; a fresh claim another
 * picker made meanwhile is put back.
 */
function claim(registryDir: string, port: number): boolean {
  const path = join(registryDir, String(port));
  if (createWhole(path)) return true;
  if (!isStale(path)) return false;
  const tombstone = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.stale`;
  try {
    renameSync(path, tombstone);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return createWhole(path);
    throw error;
  }
  if (!isStale(tombstone)) {
    // Another picker's fresh claim, made between our judgement and our rename: give it back.
    try {
      linkSync(tombstone, path);
    } catch {
      // someone claimed it again meanwhile: theirs stands, and ours was never made
    }
    unlinkSync(tombstone);
    return false;
  }
  unlinkSync(tombstone);
  return createWhole(path);
}

function isStale(path: string): boolean {
  try {
    if (Date.now() - statSync(path).mtimeMs > CLAIM_LEASE_MS) return true;
    const pid = Number(readFileSync(path, 'utf8').trim());
    return !processAlive(pid);
  } catch (error) {
    // Removed between our EEXIST and now: free to claim again.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

function release(registryDir: string, port: number): void {
  try {
    unlinkSync(join(registryDir, String(port)));
  } catch {
    // already gone
  }
}

function isBindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}
