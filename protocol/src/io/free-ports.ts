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
 * So ports are picked *below* the ephemeral range (outgoing connections never take those), and
 * each pick is claimed in a small registry of lock files in the temporary directory
 * (`northlight-ports/<port>`, created exclusively, holding the claimer's pid). A claim is honoured
 * while its process lives and for `CLAIM_LEASE_MS` at most: by then the port is bound (and the bind
 * probe sees it) or was never used.
 */
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from './process-identity.js';

/** How long a claim keeps other pickers off a port it has not bound yet. */
export const CLAIM_LEASE_MS = 10 * 60_000;
/** The lowest port handed out: above the well-known and most registered service ports. */
export const PICK_RANGE_LOW = 15_000;
/** Used when the ephemeral range cannot be read (non-Linux): IANA's dynamic range starts here. */
const FALLBACK_EPHEMERAL_LOW = 32_768;
const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';
/** Attempts per port asked for before giving up (a nearly full range, not bad luck). */
const ATTEMPTS_PER_PORT = 200;

export class NoFreePortError extends Error {
  override readonly name = 'NoFreePortError';
}

export interface FreePortsOptions {
  /** The registry's directory (default: `<tmpdir>/northlight-ports`). */
  readonly registryDir?: string;
  /** Where to pick from, `[low, high)` (default: from PICK_RANGE_LOW up to the ephemeral range). */
  readonly range?: readonly [number, number];
}

/** The first port of the kernel's ephemeral range (the local ports of outgoing connections). */
export function ephemeralRangeLow(): number {
  try {
    const [low] = readFileSync(EPHEMERAL_RANGE_FILE, 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux: fall through
  }
  return FALLBACK_EPHEMERAL_LOW;
}

/**
 * `count` distinct ports, each free on 127.0.0.1 when probed and claimed so that no other picker
 * on this machine hands it out before the lease ends.
 */
export async function freePorts(count: number, options: FreePortsOptions = {}): Promise<number[]> {
  const registryDir = options.registryDir ?? join(tmpdir(), 'northlight-ports');
  mkdirSync(registryDir, { recursive: true });
  const [low, high] = options.range ?? [PICK_RANGE_LOW, ephemeralRangeLow()];
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

/** Creates the claim file exclusively; takes over a claim whose process died or whose lease ended. */
function claim(registryDir: string, port: number): boolean {
  const path = join(registryDir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (!isStale(path)) return false;
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return false;
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
