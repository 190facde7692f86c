/**
 * The data directory lock (src/io/data-dir-lock.ts; its header numbers the cases named here).
 *
 * On real processes: a second node on a directory a node serves exits with EXIT_DATA_DIR_LOCKED and a
 * message naming the holder's pid, the directory and what to do, while the first keeps taking appends;
 * after kill -9 of the first, a new node takes the stale lock over (a WARN line naming the dead pid)
 * and holds every record the first acknowledged; a clean SIGTERM removes the lock; two nodes started
 * at once on one directory, free or stale-locked, end with exactly one serving (cases 1–4). A serving
 * node whose lock another node takes over (case 12: the test replaces LOCK as a takeover does, with a
 * holder of another pid namespace) exits with EXIT_DATA_DIR_LOCK_LOST and a message saying what
 * happened and what to do, acknowledges nothing more and writes nothing more to the directory: the
 * append sent right after the takeover is not in it, and every one acknowledged before is.
 *
 * In process, on a temporary directory with a process table the test controls: a recycled pid (alive,
 * another start time), the machine booted since, this process's own pid and a dead marker left by a
 * crashed takeover are stale; a live holder, a holder on another host and a lock that does not parse
 * are refused; `release` removes only the lock it took. A holder in another pid namespace (another
 * container on the directory, or this one before a restart; case 10) is judged by its heartbeat, the
 * lock file's mtime: refused while a (test-driven) holder keeps it fresh, taken over once it is older
 * than the limit, after waiting for it to lapse if need be; a lock without a namespace (case 11) needs
 * both a dead pid and a lapsed heartbeat. A holder really beats, with small injected intervals, and
 * notices when the lock is no longer its own: at its next beat, and at once when asked before a write
 * (`isHeld`, the inode), telling the process through `onLost` once. And the real process table on Linux: a live process that
 * is not a storage node is judged by its start time (case 5), and the pid namespace is read.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asEpoch, asLsn, asPageNo, asPgId, asSegmentId, type RedoRecord } from '@northlight/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import {
  acquireDataDirLock,
  EXIT_DATA_DIR_LOCK_LOST,
  EXIT_DATA_DIR_LOCKED,
  type HeartbeatTiming,
  type LockHolder,
  type LockLoss,
  type ProcessTable,
  realProcessTable,
} from '../src/io/data-dir-lock.js';
import {
  admin,
  runStorageProcessToExit,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';
import { ProcessWriter } from './support/process-writer.js';

const directories: string[] = [];
const processes: StorageProcess[] = [];
afterAll(async () => {
  for (const node of processes) if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function newDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'northlight-lock-'));
  directories.push(directory);
  return directory;
}

function lockOf(directory: string): LockHolder {
  return JSON.parse(readFileSync(join(directory, 'LOCK'), 'utf8')) as LockHolder;
}

const SEGMENT = 'pg0-l1';
const EPOCH = asEpoch(0n);

function record(index: number): RedoRecord {
  return {
    lsn: asLsn(BigInt(index + 1)),
    backlink: asLsn(BigInt(index)),
    kind: 'page-diff',
    cpl: true,
    volumeEpoch: EPOCH,
    pgId: asPgId(0),
    pageNo: asPageNo(index % 8),
    runs: [{ offset: 64, bytes: new Uint8Array([index & 0xff, 7, 7]) }],
  };
}

async function appendRecords(writer: ProcessWriter, from: number, count: number): Promise<void> {
  for (let index = from; index < from + count; index++) {
    const reply = await writer.ask((requestId) => ({
      type: 'append-batch',
      requestId,
      volumeEpoch: EPOCH,
      membershipEpoch: asEpoch(1n),
      pgId: asPgId(0),
      segmentId: asSegmentId(SEGMENT),
      durableHint: asLsn(BigInt(index)),
      records: [record(index)],
    }));
    expect(reply.type).toBe('append-ack');
  }
}

async function sclOf(node: StorageProcess): Promise<string | undefined> {
  const status = (await admin(node, 'GET', '/v1/status')).json() as {
    segments: { segmentId: string; scl: string }[];
  };
  return status.segments.find((segment) => segment.segmentId === SEGMENT)?.scl;
}

describe('data directory lock (real processes)', () => {
  it('refuses a second node while the first serves, and takes a killed node’s lock over', {
    timeout: 120_000,
  }, async () => {
    const dataDir = newDirectory();
    const first = await startStorageProcess('l1', 'a', { dataDir });
    processes.push(first);
    expect(lockOf(dataDir)).toMatchObject({ pid: first.child.pid, nodeId: 'l1' });
    const created = await admin(first, 'POST', '/v1/segments', {
      pgId: 0,
      segmentId: SEGMENT,
      membershipEpoch: '1',
      members: [SEGMENT],
    });
    expect(created.status, created.text).toBe(201);
    const writer = await ProcessWriter.connect(first);
    await appendRecords(writer, 0, 20);

    // Case 2: the second node refuses before it opens anything, naming the holder and what to do.
    const second = await runStorageProcessToExit('l1', 'a', { dataDir });
    expect(second.code, second.output).toBe(EXIT_DATA_DIR_LOCKED);
    expect(second.output).toContain(`NL_CONFIG_INVALID: cannot lock the data directory ${dataDir}`);
    expect(second.output).toContain(`pid ${first.child.pid}`);
    expect(second.output).toContain('Stop that process first');
    expect(second.output).not.toContain('storage node ready');
    // …and the first goes on serving, its lock untouched.
    expect(lockOf(dataDir)).toMatchObject({ pid: first.child.pid });
    await appendRecords(writer, 20, 20);
    expect((await admin(first, 'GET', '/readyz')).status).toBe(200);
    expect(await sclOf(first)).toBe('40');

    // Case 3: kill -9 leaves the lock; the next node finds its pid gone and takes it over.
    await stopStorageProcess(first, 'SIGKILL');
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(true);
    const third = await startStorageProcess('l1', 'a', { dataDir });
    processes.push(third);
    const takeover = third.output
      .join('')
      .split('\n')
      .find((line) => line.includes('took over a stale data directory lock'));
    expect(takeover, third.output.join('')).toBeDefined();
    expect(JSON.parse(takeover!)).toMatchObject({
      level: 'warn',
      previousPid: first.child.pid,
      reason: `pid ${first.child.pid} is gone`,
    });
    expect(lockOf(dataDir)).toMatchObject({ pid: third.child.pid });
    expect(await sclOf(third)).toBe('40'); // every acknowledged record is there

    // A clean shutdown removes the lock.
    expect(await stopStorageProcess(third, 'SIGTERM')).toBe(0);
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  });

  it('lets exactly one of two nodes started at once serve, on a free and on a stale-locked directory', {
    timeout: 120_000,
  }, async () => {
    for (const stale of [false, true]) {
      const dataDir = newDirectory();
      if (stale) writeFileSync(join(dataDir, 'LOCK'), JSON.stringify(holderOf(deadPid(), 'gone')));
      const outcomes = await Promise.allSettled([
        startStorageProcess('r1', 'a', { dataDir }),
        startStorageProcess('r2', 'a', { dataDir }),
      ]);
      const serving = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
      processes.push(...serving);
      const refused = outcomes.flatMap((outcome) =>
        outcome.status === 'rejected' ? [String(outcome.reason)] : [],
      );
      expect(serving.length, refused.join('\n')).toBe(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toContain(`exited with ${EXIT_DATA_DIR_LOCKED}`);
      expect(lockOf(dataDir)).toMatchObject({ pid: serving[0]!.child.pid });
      expect(await stopStorageProcess(serving[0]!, 'SIGTERM')).toBe(0);
    }
  });

  it('stops at once, writing nothing more, a node whose lock another node took over (case 12)', {
    timeout: 60_000,
  }, async () => {
    const dataDir = newDirectory();
    // No materialization: the only background write left is the hints' persist, settled below.
    const node = await startStorageProcess('t1', 'a', {
      dataDir,
      args: ['--materialize-interval-ms', '600000'],
    });
    processes.push(node);
    const created = await admin(node, 'POST', '/v1/segments', {
      pgId: 0,
      segmentId: SEGMENT,
      membershipEpoch: '1',
      members: [SEGMENT],
    });
    expect(created.status, created.text).toBe(201);
    const writer = await ProcessWriter.connect(node);
    await appendRecords(writer, 0, 10);
    await sleep(1_500); // the hints' persist (every second while dirty) has written and synced

    // The takeover, as a starter in another container does it: its own lock file, complete, replaces LOCK.
    const newcomer = holderOf(deadPid(), 'newcomer', { pidNamespace: 'pid:[4026532999]' });
    writeFileSync(join(dataDir, 'LOCK.newcomer.tmp'), JSON.stringify(newcomer));
    renameSync(join(dataDir, 'LOCK.newcomer.tmp'), join(dataDir, 'LOCK'));
    const before = directoryContents(dataDir);
    // An append right after: the node refuses to write it (before its write, or it stopped at its beat).
    const late = writer
      .ask(
        (requestId) => ({
          type: 'append-batch',
          requestId,
          volumeEpoch: EPOCH,
          membershipEpoch: asEpoch(1n),
          pgId: asPgId(0),
          segmentId: asSegmentId(SEGMENT),
          durableHint: asLsn(10n),
          records: [record(10)],
        }),
        { timeoutMs: 1_500 },
      )
      .then(
        (reply) => reply.type,
        () => 'no reply',
      );
    const code = await Promise.race([node.exited, sleep(5_000).then(() => 'still running')]);
    const output = node.output.join('');
    expect(code, output).toBe(EXIT_DATA_DIR_LOCK_LOST);
    expect(await late).toBe('no reply');
    const lost = output.split('\n').find((line) => line.includes('the data directory was taken over'));
    expect(lost, output).toBeDefined();
    expect(JSON.parse(lost!)).toMatchObject({ level: 'error', dataDir });
    expect(output).toContain(
      `storage-node: another process took over the data directory ${dataDir} while this node ran (LOCK now names storage node newcomer`,
    );
    expect(output).toContain('Make sure one storage node only runs on');
    // Nothing written: every file as it was at the takeover, the newcomer's lock included.
    expect(directoryContents(dataDir)).toEqual(before);
    expect(lockOf(dataDir)).toMatchObject({ nodeId: 'newcomer' });

    // Once the newcomer is gone, the next node holds what was acknowledged, and not the late append.
    rmSync(join(dataDir, 'LOCK'));
    const next = await startStorageProcess('t1', 'a', { dataDir });
    processes.push(next);
    expect(await sclOf(next)).toBe('10');
    expect(await stopStorageProcess(next, 'SIGTERM')).toBe(0);
  });
});

/** Every file under `directory` (recursively) and its bytes, as hex digests. */
function directoryContents(directory: string): Record<string, string> {
  const contents: Record<string, string> = {};
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    contents[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return contents;
}

const OWN_REAL_NAMESPACE = realProcessTable.pidNamespace();

/** A pid no process has (pids stay below 2^22 on Linux). */
function deadPid(): number {
  return 4_194_303;
}

function holderOf(pid: number, nodeId: string, overrides: Partial<LockHolder> = {}): LockHolder {
  return {
    format: 1,
    pid,
    nodeId,
    host: realProcessTable.hostName(),
    ...(OWN_REAL_NAMESPACE === undefined ? {} : { pidNamespace: OWN_REAL_NAMESPACE }),
    acquiredAt: '2020-01-01T00:00:00.000Z',
    token: `token-${pid}`,
    ...overrides,
  };
}

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

/** Intervals small enough for a test: beats every 20 ms, stale after 150 ms, a starter waits 300 ms. */
const QUICK: HeartbeatTiming = { intervalMs: 20, staleAfterMs: 150, waitMsMax: 300 };
const OWN_NAMESPACE = 'pid:[4026531836]';
const OTHER_NAMESPACE = 'pid:[4026532999]';

function harness(
  processes: Partial<ProcessTable> & { alive?: ReadonlySet<number> } = {},
  heartbeat?: HeartbeatTiming,
) {
  const lines: LogLine[] = [];
  const alive = processes.alive ?? new Set<number>();
  const table: ProcessTable = {
    ownPid: 100,
    hostName: () => 'here',
    isAlive: (pid) => pid === 100 || alive.has(pid),
    startTicksOf: (pid) => (pid === 100 || alive.has(pid) ? `${pid}000` : undefined),
    bootId: () => 'boot-1',
    pidNamespace: () => OWN_NAMESPACE,
    nowIso: () => '2030-01-01T00:00:00.000Z',
    nowMs: () => Date.now(),
    ...processes,
  };
  const dataDir = newDirectory();
  const acquire = () =>
    acquireDataDirLock({
      dataDir,
      nodeId: 'n1',
      logger: { log: (level, message, fields) => lines.push({ level, message, fields }) },
      processes: table,
      ...(heartbeat === undefined ? {} : { heartbeat }),
    });
  const plant = (holder: { [Field in keyof LockHolder]?: LockHolder[Field] | undefined }, name = 'LOCK') =>
    writeFileSync(
      join(dataDir, name),
      JSON.stringify({
        ...holderOf(200, 'old'),
        host: 'here',
        bootId: 'boot-1',
        pidNamespace: OWN_NAMESPACE,
        ...holder,
      }),
    );
  /** Sets the lock file's mtime to `ageMs` ago: its last heartbeat. */
  const age = (ageMs: number) => {
    const then = new Date(Date.now() - ageMs);
    utimesSync(join(dataDir, 'LOCK'), then, then);
  };
  return { dataDir, lines, acquire, plant, age };
}

describe('data directory lock (in process)', () => {
  it('takes a free directory, records its holder, and releases only its own lock', async () => {
    const { dataDir, acquire } = harness();
    const taken = await acquire();
    expect(taken.ok).toBe(true);
    if (!taken.ok) return;
    expect(lockOf(dataDir)).toMatchObject({
      format: 1,
      pid: 100,
      nodeId: 'n1',
      host: 'here',
      startTicks: '100000',
      bootId: 'boot-1',
      pidNamespace: OWN_NAMESPACE,
    });
    // A second acquire in the same process (a bug) is refused, although the lock names this pid.
    expect(await acquire()).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
    taken.value.release();
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
    // A lock someone else took after ours was removed by hand stays.
    const again = await acquire();
    expect(again.ok).toBe(true);
    if (!again.ok) return;
    writeFileSync(join(dataDir, 'LOCK'), JSON.stringify(holderOf(300, 'other')));
    again.value.release();
    expect(lockOf(dataDir)).toMatchObject({ pid: 300 });
    expect(readdirNames(dataDir)).toEqual(['LOCK']); // no temporary or marker file left
  });

  it('refuses a live holder, naming its pid, the directory and what to do', async () => {
    const { dataDir, acquire, plant } = harness({ alive: new Set([200]) });
    plant({ startTicks: '200000' });
    const refused = await acquire();
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.code).toBe('NL_CONFIG_INVALID');
    expect(refused.error.message).toContain(`cannot lock the data directory ${dataDir}`);
    expect(refused.error.message).toContain('storage node old (pid 200 on host here');
    expect(refused.error.message).toContain(
      `if pid 200 is not a storage node, remove ${join(dataDir, 'LOCK')}`,
    );
    expect(lockOf(dataDir)).toMatchObject({ pid: 200 });
  });

  it.each([
    ['the pid is gone', { pid: 200 }, new Set<number>(), 'pid 200 is gone'],
    [
      'the pid was recycled (another start time)',
      { pid: 200, startTicks: '12' },
      new Set([200]),
      'pid 200 is another process now (started at tick 200000, the holder at 12)',
    ],
    [
      'the machine booted since',
      { pid: 200, bootId: 'boot-0' },
      new Set([200]),
      'the machine has booted since',
    ],
    [
      'it is this very pid, in this pid namespace',
      { pid: 100, startTicks: '5' },
      new Set<number>(),
      'pid 100 is this process',
    ],
  ])('takes over a stale lock when %s, at WARN', async (_case, holder, alive, reason) => {
    const { dataDir, acquire, plant, lines } = harness({ alive });
    plant(holder);
    const taken = await acquire();
    expect(taken.ok, taken.ok ? '' : taken.error.message).toBe(true);
    expect(lockOf(dataDir)).toMatchObject({ pid: 100, nodeId: 'n1' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', message: 'took over a stale data directory lock' });
    expect(String(lines[0]!.fields?.reason)).toContain(reason);
    expect(lines[0]!.fields).toMatchObject({ previousPid: holder.pid, previousNodeId: 'old' });
  });

  it('refuses a holder on another host (not a renamed one), and a lock that does not parse', async () => {
    // A renamed host keeps its boot id: judged as this machine (its pid 200 is gone here).
    const renamed = harness();
    renamed.plant({ host: 'old-name' });
    expect((await renamed.acquire()).ok).toBe(true);
    const other = harness();
    other.plant({ host: 'elsewhere', bootId: 'boot-of-elsewhere' });
    const refused = await other.acquire();
    expect(refused).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
    expect(refused.ok ? '' : refused.error.message).toContain('cannot check the processes of host elsewhere');
    const garbage = harness();
    writeFileSync(join(garbage.dataDir, 'LOCK'), '');
    const unreadable = await garbage.acquire();
    expect(unreadable.ok ? '' : unreadable.error.message).toContain('cannot be read');
    expect(readFileSync(join(garbage.dataDir, 'LOCK'), 'utf8')).toBe('');
  });

  it('clears a takeover marker its holder left when it died (case 8), and waits for a live one', async () => {
    const dead = harness();
    dead.plant({ pid: 200 });
    dead.plant({ pid: 201 }, 'LOCK.takeover');
    expect((await dead.acquire()).ok).toBe(true);
    expect(readdirNames(dead.dataDir)).toEqual(['LOCK']);
    // A live starter holding the marker for good (it never does): this one gives up, typed.
    const busy = harness({ alive: new Set([201]) });
    busy.plant({ pid: 200 });
    busy.plant({ pid: 201, startTicks: '201000' }, 'LOCK.takeover');
    const refused = await busy.acquire();
    expect(refused.ok ? '' : refused.error.message).toContain('kept changing');
    expect(lockOf(busy.dataDir)).toMatchObject({ pid: 200 });
  });

  it.each([
    ['this very pid', 100],
    ['a pid that is gone here', 200],
  ])(
    'refuses a holder in another pid namespace whose heartbeat beats (%s), after waiting for it',
    async (_case, pid) => {
      const { dataDir, acquire, plant, lines } = harness({}, QUICK);
      plant({ pid, pidNamespace: OTHER_NAMESPACE });
      // The holder, another container on the directory, keeps beating while this one waits.
      const beating = setInterval(() => {
        const now = new Date();
        utimesSync(join(dataDir, 'LOCK'), now, now);
      }, 10);
      const startedMs = Date.now();
      try {
        const refused = await acquire();
        expect(Date.now() - startedMs).toBeGreaterThanOrEqual(QUICK.waitMsMax - 5);
        expect(refused).toMatchObject({ ok: false, error: { code: 'NL_CONFIG_INVALID' } });
        const message = refused.ok ? '' : refused.error.message;
        expect(message).toContain(
          `in pid namespace ${OTHER_NAMESPACE} (this process is in ${OWN_NAMESPACE})`,
        );
        expect(message).toMatch(/it is alive, its heartbeat \d+ ms old after 300 ms of waiting/);
        expect(message).toContain('Another container or pod runs a storage node on this directory');
      } finally {
        clearInterval(beating);
      }
      expect(lockOf(dataDir)).toMatchObject({ pid, nodeId: 'old', pidNamespace: OTHER_NAMESPACE });
      expect(lines.map((line) => line.message)).toEqual(['waiting for the lock’s heartbeat to lapse']);
      expect(lines[0]).toMatchObject({ level: 'info' });
    },
  );

  it('takes over at once, at WARN, a lock of another pid namespace whose heartbeat is older than the limit', async () => {
    // Pid 200 is alive here with the recorded start time: in our namespace it would be a live holder.
    const { dataDir, acquire, plant, age, lines } = harness({ alive: new Set([200]) });
    plant({ pid: 200, startTicks: '200000', pidNamespace: OTHER_NAMESPACE });
    age(60_000);
    const taken = await acquire();
    expect(taken.ok, taken.ok ? '' : taken.error.message).toBe(true);
    if (taken.ok) taken.value.release();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      message: 'took over a stale data directory lock',
      fields: { previousPid: 200, previousPidNamespace: OTHER_NAMESPACE },
    });
    expect(String(lines[0]!.fields?.reason)).toMatch(
      /^its heartbeat stopped \d+ ms ago \(the limit is 10000 ms; pid namespace pid:\[4026532999\]/,
    );
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
  });

  it('takes over the lock of its own dead predecessor in a restarted container once its heartbeat lapses', async () => {
    const { dataDir, acquire, plant, lines } = harness({}, QUICK);
    plant({ pid: 100, pidNamespace: OTHER_NAMESPACE }); // just written: a fresh heartbeat no one renews
    const startedMs = Date.now();
    const taken = await acquire();
    expect(taken.ok, taken.ok ? '' : taken.error.message).toBe(true);
    if (taken.ok) taken.value.release();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(QUICK.staleAfterMs - 5);
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ['info', 'waiting for the lock’s heartbeat to lapse'],
      ['warn', 'took over a stale data directory lock'],
    ]);
    expect(lines[0]!.fields).toMatchObject({
      holderPidNamespace: OTHER_NAMESPACE,
      ownPidNamespace: OWN_NAMESPACE,
      staleAfterMs: QUICK.staleAfterMs,
    });
    expect(readdirNames(dataDir)).toEqual([]);
  });

  it('judges a lock without a pid namespace (an earlier build) by its pid and its heartbeat both (case 11)', async () => {
    const withoutNamespace = { pidNamespace: undefined };
    // The pid is alive with its start time: refused at once, no waiting.
    const live = harness({ alive: new Set([200]) }, QUICK);
    live.plant({ ...withoutNamespace, startTicks: '200000' });
    live.age(60_000);
    const refused = await live.acquire();
    expect(refused.ok ? '' : refused.error.message).toContain('Stop that process first');
    expect(live.lines).toEqual([]);
    // The pid is gone but the heartbeat is recent: it waits for the heartbeat too.
    const recent = harness({}, QUICK);
    recent.plant(withoutNamespace);
    expect((await recent.acquire()).ok).toBe(true);
    expect(recent.lines.map((line) => line.level)).toEqual(['info', 'warn']);
    expect(String(recent.lines[1]!.fields?.reason)).toMatch(/^pid 200 is gone, and its heartbeat stopped/);
    // This process's namespace unknown (no /proc), the pid gone, the heartbeat old: stale at once.
    const noProc = harness({ pidNamespace: () => undefined }, QUICK);
    noProc.plant({});
    noProc.age(60_000);
    expect((await noProc.acquire()).ok).toBe(true);
    expect(noProc.lines.map((line) => line.level)).toEqual(['warn']);
  });

  it('beats: the holder sets the lock file’s mtime while it runs, and notices a lock that is not its own any more', async () => {
    const { dataDir, acquire, age, lines } = harness({}, QUICK);
    const taken = await acquire();
    expect(taken.ok).toBe(true);
    if (!taken.ok) return;
    const lockPath = join(dataDir, 'LOCK');
    age(60_000);
    await sleep(QUICK.intervalMs * 4);
    expect(Date.now() - statSync(lockPath).mtimeMs).toBeLessThan(QUICK.staleAfterMs);
    // Someone replaced the lock (removed by hand, or a takeover while this process was frozen).
    writeFileSync(lockPath, JSON.stringify(holderOf(300, 'other')));
    age(60_000);
    await sleep(QUICK.intervalMs * 4);
    expect(Date.now() - statSync(lockPath).mtimeMs).toBeGreaterThan(50_000); // not refreshed: not ours
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ['error', 'the data directory lock is no longer this process’s'],
    ]);
    taken.value.release();
    expect(lockOf(dataDir)).toMatchObject({ pid: 300 });
  });

  it('tells the process once, through onLost, when asked before a write (the inode) or at a beat (the token)', async () => {
    const losses: LockLoss[] = [];
    const { dataDir, lines } = harness({}, QUICK);
    const lockPath = join(dataDir, 'LOCK');
    const acquire = () =>
      acquireDataDirLock({
        dataDir,
        nodeId: 'n1',
        logger: { log: (level, message, fields) => lines.push({ level, message, fields }) },
        processes: { ...realProcessTable, ownPid: 100, pidNamespace: () => OWN_NAMESPACE },
        heartbeat: QUICK,
        onLost: (loss) => losses.push(loss),
      });
    // A takeover replaces LOCK by another file: the very next isHeld says so, before any beat.
    const taken = await acquire();
    expect(taken.ok).toBe(true);
    if (!taken.ok) return;
    expect(taken.value.isHeld()).toBe(true);
    writeFileSync(
      `${lockPath}.other`,
      JSON.stringify(holderOf(300, 'other', { pidNamespace: OTHER_NAMESPACE })),
    );
    renameSync(`${lockPath}.other`, lockPath);
    expect(taken.value.isHeld()).toBe(false);
    expect(taken.value.isHeld()).toBe(false);
    expect(losses).toEqual([
      {
        path: lockPath,
        found: expect.stringContaining(`storage node other (pid 300 on host ${realProcessTable.hostName()}`),
        foundPidNamespace: OTHER_NAMESPACE,
        noticedBy: 'before a write',
      },
    ]);
    expect(losses[0]!.found).toContain(`in pid namespace ${OTHER_NAMESPACE}`);
    await sleep(QUICK.intervalMs * 3);
    expect(losses).toHaveLength(1); // once, and no ERROR of the lock's own: the process logs it
    expect(lines).toEqual([]);
    taken.value.release();
    expect(lockOf(dataDir)).toMatchObject({ pid: 300 }); // not ours to remove

    // Rewritten in place (same inode: by hand): the beat finds another token.
    rmSync(lockPath);
    const again = await acquire();
    expect(again.ok).toBe(true);
    if (!again.ok) return;
    writeFileSync(lockPath, JSON.stringify(holderOf(301, 'by-hand')));
    expect(again.value.isHeld()).toBe(true);
    await sleep(QUICK.intervalMs * 4);
    expect(losses).toHaveLength(2);
    expect(losses[1]).toMatchObject({ noticedBy: 'heartbeat' });
    expect(losses[1]!.found).toContain('storage node by-hand (pid 301');
    expect(again.value.isHeld()).toBe(false);
    again.value.release();
  });

  it.runIf(existsSync('/proc/self/stat'))(
    'judges a live process that is not a storage node by its start time (real /proc)',
    async () => {
      const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        const pid = sleeper.pid!;
        const startTicks = realProcessTable.startTicksOf(pid) ?? 'none';
        expect(startTicks).toMatch(/^\d+$/);
        expect(realProcessTable.pidNamespace()).toMatch(/^pid:\[\d+\]$/);
        const lines: LogLine[] = [];
        const logger = {
          log: (level: string, message: string, fields?: Readonly<Record<string, unknown>>) =>
            lines.push({ level, message, fields }),
        };
        // The recorded start time is the sleeper's: it is the holder, alive.
        const held = newDirectory();
        writeFileSync(join(held, 'LOCK'), JSON.stringify(holderOf(pid, 'old', { startTicks })));
        const refused = await acquireDataDirLock({ dataDir: held, nodeId: 'n1', logger });
        expect(refused.ok ? '' : refused.error.message).toContain(`pid ${pid}`);
        // Another start time: the pid was recycled by the sleeper, the lock is stale.
        const recycled = newDirectory();
        writeFileSync(join(recycled, 'LOCK'), JSON.stringify(holderOf(pid, 'old', { startTicks: '1' })));
        const taken = await acquireDataDirLock({ dataDir: recycled, nodeId: 'n1', logger });
        expect(taken.ok).toBe(true);
        if (taken.ok) taken.value.release();
        expect(String(lines.at(-1)?.fields?.reason)).toContain(`pid ${pid} is another process now`);
      } finally {
        sleeper.kill('SIGKILL');
      }
    },
  );
});

function readdirNames(directory: string): string[] {
  return readdirSync(directory).sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
