/**
 * A signal during a storage node's startup stops the startup promptly and cleanly (src/main.ts
 * StopSignals; the replay's stop between steps is storage.ts S5). On real processes:
 *
 * - During the data directory lock's wait for another holder's heartbeat to lapse (data-dir-lock.ts
 *   case 10, up to 15 s): SIGTERM ends the wait at once; the node exits 0 with "stopped during startup
 *   (SIGTERM) at data directory lock", and the other holder's lock is left exactly as it was.
 * - During the replay of a directory holding three segments in two node log files (a preloaded
 *   module, support/slow-log-open.mjs, makes each log file's open wait 1 s and say so first): SIGTERM
 *   at the first file stops the replay before the next file, without creating this incarnation's
 *   log file; a second SIGTERM while it stops is logged and ignored (not the default action, which
 *   would kill it). It exits 0 with "stopped during startup (SIGTERM) at recovery", removes its lock,
 *   and the next start holds every record acknowledged before.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asEpoch, asLsn, asPageNo, asPgId, asSegmentId, type RedoRecord } from '@northlight/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { type LockHolder, realProcessTable } from '../src/io/data-dir-lock.js';
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
  const directory = mkdtempSync(join(tmpdir(), 'northlight-startup-stop-'));
  directories.push(directory);
  return directory;
}

const EPOCH = asEpoch(0n);
const PGS = [0, 1, 2];
/** A PG's pages, with the node's defaults (1 GiB segments of 8 KiB pages): PG n starts at n × this. */
const PAGES_PER_PG = 131_072;

function segmentOf(pgId: number): string {
  return `pg${pgId}-q1`;
}

function record(pgId: number, index: number): RedoRecord {
  return {
    lsn: asLsn(BigInt(index + 1)),
    backlink: asLsn(BigInt(index)),
    kind: 'page-diff',
    cpl: true,
    volumeEpoch: EPOCH,
    pgId: asPgId(pgId),
    pageNo: asPageNo(pgId * PAGES_PER_PG + (index % 8)),
    runs: [{ offset: 64, bytes: new Uint8Array([index & 0xff, pgId, 7]) }],
  };
}

/** Appends records `from` … `from + count - 1` to each PG's segment, each acknowledged. */
async function appendToEach(node: StorageProcess, from: number, count: number): Promise<void> {
  const writer = await ProcessWriter.connect(node);
  for (const pgId of PGS)
    for (let index = from; index < from + count; index++) {
      const reply = await writer.ask((requestId) => ({
        type: 'append-batch',
        requestId,
        volumeEpoch: EPOCH,
        membershipEpoch: asEpoch(1n),
        pgId: asPgId(pgId),
        segmentId: asSegmentId(segmentOf(pgId)),
        durableHint: asLsn(BigInt(index)),
        records: [record(pgId, index)],
      }));
      expect(
        reply.type,
        JSON.stringify(reply, (_key, value) => (typeof value === 'bigint' ? String(value) : value)),
      ).toBe('append-ack');
    }
}

async function sclsOf(node: StorageProcess): Promise<Record<string, string>> {
  const status = (await admin(node, 'GET', '/v1/status')).json() as {
    segments: { segmentId: string; scl: string }[];
  };
  return Object.fromEntries(status.segments.map((segment) => [segment.segmentId, segment.scl]));
}

function logFiles(dataDir: string): string[] {
  return readdirSync(join(dataDir, 'data', 'log')).sort(); // the core's /data, under the disk's root
}

describe('a signal during the startup', () => {
  it('ends the wait for another holder’s heartbeat at once, leaving its lock as it was', {
    timeout: 40_000,
  }, async () => {
    const dataDir = newDirectory();
    // Another container's node holds the directory and beats (data-dir-lock.ts case 10).
    const bootId = realProcessTable.bootId();
    const holder: LockHolder = {
      format: 1,
      pid: 4_194_303,
      nodeId: 'other',
      host: realProcessTable.hostName(),
      ...(bootId === undefined ? {} : { bootId }),
      pidNamespace: 'pid:[4026532999]',
      acquiredAt: '2030-01-01T00:00:00.000Z',
      token: 'token-of-the-other-container',
    };
    const lockPath = join(dataDir, 'LOCK');
    const lockText = `${JSON.stringify(holder)}\n`;
    writeFileSync(lockPath, lockText);
    const beating = setInterval(() => {
      const now = new Date();
      utimesSync(lockPath, now, now);
    }, 500);
    let signalledMs: number | undefined;
    try {
      const result = await runStorageProcessToExit('w1', 'a', {
        dataDir,
        onLine: (line, child) => {
          if (signalledMs !== undefined || !line.includes('waiting for the lock’s heartbeat to lapse'))
            return;
          signalledMs = Date.now();
          child.kill('SIGTERM');
        },
      });
      const stoppedAfterMs = Date.now() - signalledMs!;
      expect(signalledMs, result.output).toBeDefined();
      expect({ code: result.code, signal: result.signal }, result.output).toEqual({ code: 0, signal: null });
      expect(stoppedAfterMs, result.output).toBeLessThan(3_000); // the wait alone lasts 15 s
      expect(result.output).toContain('stopped during startup (SIGTERM) at data directory lock');
      expect(result.output).not.toContain('storage node ready');
    } finally {
      clearInterval(beating);
    }
    // The other holder's lock, untouched; nothing of this node's left behind.
    expect(readFileSync(lockPath, 'utf8')).toBe(lockText);
    expect(readdirSync(dataDir)).toEqual(['LOCK']);
  });

  it('stops the replay between log files, and the next start holds every acknowledged record', {
    timeout: 90_000,
  }, async () => {
    const dataDir = newDirectory();
    // Three segments, their records in two node log files (one per incarnation, each killed).
    const first = await startStorageProcess('q1', 'a', { dataDir });
    processes.push(first);
    for (const pgId of PGS) {
      const created = await admin(first, 'POST', '/v1/segments', {
        pgId,
        segmentId: segmentOf(pgId),
        membershipEpoch: '1',
        members: [segmentOf(pgId)],
      });
      expect(created.status, created.text).toBe(201);
    }
    await appendToEach(first, 0, 10);
    await stopStorageProcess(first, 'SIGKILL');
    const second = await startStorageProcess('q1', 'a', { dataDir });
    processes.push(second);
    await appendToEach(second, 10, 10);
    await stopStorageProcess(second, 'SIGKILL');
    const filesBefore = logFiles(dataDir);
    expect(filesBefore).toHaveLength(2);

    const slowOpens: string[] = [];
    let stoppingLogged = false;
    const result = await runStorageProcessToExit('q1', 'a', {
      dataDir,
      nodeArgs: ['--import', fileURLToPath(new URL('./support/slow-log-open.mjs', import.meta.url))],
      env: { NORTHLIGHT_TEST_SLOW_LOG_OPEN_MS: '1000' },
      onLine: (line, child) => {
        if (line.includes('"slow log open"')) {
          slowOpens.push(line);
          if (slowOpens.length === 1) child.kill('SIGTERM'); // in the middle of the first file's replay
        }
        if (line.includes('stopping during startup') && !stoppingLogged) {
          stoppingLogged = true;
          child.kill('SIGTERM'); // a second one while it stops
        }
      },
    });
    expect({ code: result.code, signal: result.signal }, result.output).toEqual({ code: 0, signal: null });
    expect(result.output).toContain('already stopping; signal ignored');
    expect(result.output).toContain('stopped during startup (SIGTERM) at recovery');
    expect(result.output).not.toContain('storage node ready');
    expect(slowOpens, result.output).toHaveLength(1); // the second file was never opened…
    expect(logFiles(dataDir)).toEqual(filesBefore); // …nor this incarnation's created
    expect(readdirSync(dataDir)).not.toContain('LOCK');

    const third = await startStorageProcess('q1', 'a', { dataDir });
    processes.push(third);
    expect(await sclsOf(third)).toEqual(Object.fromEntries(PGS.map((pgId) => [segmentOf(pgId), '20'])));
    expect(await stopStorageProcess(third, 'SIGTERM')).toBe(0);
  });
});
