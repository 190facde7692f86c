/**
 * What bench-paper measures a database through: a `PaperTarget` is a PostgreSQL endpoint (the writer,
 * and a replica for the lag) plus a way to read the I/O counters of the database node and to stop
 * everything it started. sysbench and node-postgres only ever see the endpoints, so both systems run
 * the very same client; only the counters differ, and each is read from the kernel or from the
 * database's own statistics, never estimated.
 *
 * The counters of one measured run are taken as `begin()` … `end()` around it; every figure is a
 * difference, divided later by the transactions sysbench reported.
 *
 * Kernel sources used here (both systems, same code):
 *  - `ss -tinpH`: per TCP socket, the kernel's `data_segs_out` (segments that carried data; on
 *    loopback with TCP_NODELAY one per send call, one send call per 64 KiB at most) and `bytes_sent`.
 *    The sockets are picked by owning process and peer port.
 *  - `/proc/<pid>/io` `write_bytes`: bytes the process caused to be written to the block device.
 *  - `perf stat -e syscalls:sys_enter_fsync,…` attached to a process: its fsync-family system calls.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PgEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** Undefined: the server trusts loopback connections. */
  readonly password?: string;
}

/**
 * The counters of one run at the database node, as differences over the run. `networkMessages` and
 * `fsyncs` make the paper's "I/Os"; the rest explains them.
 */
export interface IoCounters {
  /** Data segments the database node sent to the durable copies over the network (kernel count). */
  readonly networkMessages: number;
  /** Bytes the database node sent to the durable copies over the network (kernel count). */
  readonly networkBytes: number;
  /** fsync-family calls of the database node. */
  readonly fsyncs: number;
  /** More figures, each named with its unit; differences over the run too. */
  readonly extra: Readonly<Record<string, number>>;
}

export interface IoMeasurement {
  /** Stops counting; the counters of the run. */
  end(): Promise<IoCounters>;
}

export interface PaperTarget {
  readonly system: 'postgres' | 'northlight';
  /** One line for the report: what runs. */
  readonly description: string;
  /** Where sysbench and the lag probe's writes go. */
  readonly writer: PgEndpoint;
  /** Where the lag probe reads. */
  readonly replica: PgEndpoint;
  /**
   * Durable copies that receive the database node's writes over the network (PostgreSQL: the one
   * standby; northlight: six segments). `bytesPerDurableCopy` = networkBytes / this.
   */
  readonly durableCopiesOverNetwork: number;
  /** What each counter of `IoCounters` is, for the report. */
  readonly counterSources: Readonly<Record<string, string>>;
  /** The server's version string. */
  version(): Promise<string>;
  /** After sysbench prepare, before a measured run: bring the database to the same state each time. */
  settle(): Promise<void>;
  /** Starts counting. */
  begin(): Promise<IoMeasurement>;
  /** Stops every process and removes every directory the target started; idempotent. */
  stop(): Promise<void>;
}

/** A required tool is missing: the message says how to install it. */
export class MissingToolError extends Error {
  readonly code = 'NL_BENCH_TOOL_MISSING';
  constructor(
    readonly tool: string,
    install: string,
  ) {
    super(`${tool} is not installed: ${install}`);
    this.name = 'MissingToolError';
  }
}

// --- TCP sockets (ss) ---

export interface SocketCounters {
  readonly localPort: number;
  readonly peerPort: number;
  /** Owning process ids (a socket can be shared after fork). */
  readonly pids: readonly number[];
  readonly dataSegmentsOut: number;
  readonly bytesSent: number;
}

/** Every established loopback TCP socket, with the kernel's counters and its owners. */
export async function tcpSockets(): Promise<SocketCounters[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('ss', ['-tinpH', 'state', 'established'], {
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new MissingToolError('ss', 'apt-get install -y iproute2');
    throw error;
  }
  return parseSs(stdout);
}

/**
 * `ss -tinpH state established` prints each socket on a line ("Recv-Q Send-Q local peer users:(…)"),
 * followed by an indented line of TCP_INFO fields (… bytes_sent:N … data_segs_out:N …).
 */
export function parseSs(text: string): SocketCounters[] {
  const sockets: SocketCounters[] = [];
  let head: { localPort: number; peerPort: number; pids: number[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const fields = line.trim().split(/\s+/);
      const port = (address: string | undefined) => Number(address?.slice(address.lastIndexOf(':') + 1));
      head = {
        localPort: port(fields[2]),
        peerPort: port(fields[3]),
        pids: [...line.matchAll(/pid=(\d+)/g)].map((match) => Number(match[1])),
      };
      continue;
    }
    if (head === undefined) continue;
    const field = (name: string) => Number(new RegExp(`\\b${name}:(\\d+)`).exec(line)?.[1] ?? 0);
    sockets.push({ ...head, dataSegmentsOut: field('data_segs_out'), bytesSent: field('bytes_sent') });
    head = undefined;
  }
  return sockets;
}

/** Sums data segments and bytes sent over the sockets `pick` selects, keyed for differencing. */
export function sumSockets(
  sockets: readonly SocketCounters[],
  pick: (socket: SocketCounters) => boolean,
): Map<string, { segments: number; bytes: number }> {
  const picked = new Map<string, { segments: number; bytes: number }>();
  for (const socket of sockets)
    if (pick(socket))
      picked.set(`${socket.localPort}>${socket.peerPort}`, {
        segments: socket.dataSegmentsOut,
        bytes: socket.bytesSent,
      });
  return picked;
}

/**
 * after − before over the same sockets; a socket opened during the run counts from 0. A socket closed
 * during the run is lost (none should be: the connections to the copies live as long as the servers).
 */
export function socketDelta(
  before: ReadonlyMap<string, { segments: number; bytes: number }>,
  after: ReadonlyMap<string, { segments: number; bytes: number }>,
): { segments: number; bytes: number; sockets: number } {
  let segments = 0;
  let bytes = 0;
  for (const [key, now] of after) {
    const then = before.get(key) ?? { segments: 0, bytes: 0 };
    segments += now.segments - then.segments;
    bytes += now.bytes - then.bytes;
  }
  return { segments, bytes, sockets: after.size };
}

// --- /proc ---

/** `write_bytes` of /proc/<pid>/io: bytes sent to the block device on this process's behalf. */
export function diskWriteBytes(pid: number): number {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^write_bytes:\s*(\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

// --- perf ---

const FSYNC_EVENTS = [
  'syscalls:sys_enter_fsync',
  'syscalls:sys_enter_fdatasync',
  'syscalls:sys_enter_sync_file_range',
  'syscalls:sys_enter_syncfs',
  'syscalls:sys_enter_msync',
];
const PERF_ATTACH_WAIT_MS = 300;
/** The perf processes counting now. */
const perfRunning = new Set<ChildProcess>();

/** Kills every perf this module started (for the exit cleanup). */
export function killPerf(): void {
  for (const perf of perfRunning) perf.kill('SIGKILL');
}

/**
 * Counts the fsync-family system calls of one process (all its threads at attach time) through the
 * kernel's syscall tracepoints. Unlike strace it does not stop the process at each system call, so the
 * run it counts is not slowed. `stop()` returns the total.
 */
export async function countFsyncs(pid: number): Promise<{ stop(): Promise<number> }> {
  let perf: ChildProcess;
  const output: string[] = [];
  try {
    perf = spawn('perf', ['stat', '-x', ',', '-e', FSYNC_EVENTS.join(','), '-p', String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch {
    throw new MissingToolError('perf', 'apt-get install -y linux-perf');
  }
  const exited = new Promise<number | null>((resolve, reject) => {
    perf.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new MissingToolError('perf', 'apt-get install -y linux-perf') : error),
    );
    perf.once('exit', (code) => {
      perfRunning.delete(perf);
      resolve(code);
    });
  });
  perfRunning.add(perf);
  perf.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  // perf opens its counters asynchronously: give it a moment before the measured run starts.
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, PERF_ATTACH_WAIT_MS))]);
  if (perf.exitCode !== null) throw new Error(`perf stat -p ${pid} exited at once:\n${output.join('')}`);
  return {
    async stop() {
      perf.kill('SIGINT');
      await exited;
      return parsePerfCounts(output.join(''), FSYNC_EVENTS);
    },
  };
}

/** `perf stat -x,` prints "count,unit,event,…" per event; "<not supported>" fails loudly. */
export function parsePerfCounts(text: string, events: readonly string[]): number {
  let total = 0;
  for (const event of events) {
    const line = text.split('\n').find((candidate) => candidate.split(',')[2] === event);
    const count = Number(line?.split(',')[0]);
    if (line === undefined || !Number.isSafeInteger(count))
      throw new Error(`perf stat did not count ${event}:\n${text}`);
    total += count;
  }
  return total;
}
