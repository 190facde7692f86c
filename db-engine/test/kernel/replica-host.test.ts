/**
 * The kernel host's two replica-era additions, with the real worker: a replica kernel fed through
 * `applyRecords` (each apply confirmed by `onApplied`, and every page miss after it tagged with the apply
 * it is at, R2), and a spare kernel (`KernelHost.prepare`) that loads, waits without touching storage,
 * then opens on the binding it is given.
 */
import type { PageNo } from '@northlight/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelHost } from '../../src/kernel/kernel-host.js';
import type { ExecuteReply, SealedGroup } from '../../src/kernel/messages.js';
import { fillSql, MemoryVolume, startKernel } from './support/memory-volume.js';

const hosts: KernelHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.close()));
});

function rowsOf(reply: ExecuteReply): unknown[][] {
  if (!reply.ok) throw new Error(`request failed: ${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results[0]!.rows as unknown[][];
}

describe('KernelHost for replicas', () => {
  it('applies records through the host, confirms each apply, and tags the page reads after it', async () => {
    const volume = new MemoryVolume();
    const groups: SealedGroup[] = [];
    const writer = await startKernel(volume, { onGroup: (group) => groups.push(group) });
    hosts.push(writer);
    rowsOf(
      await writer.execute({ statements: [{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)' }] }),
    );
    rowsOf(
      await writer.execute({ statements: [{ sql: 'CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)' }] }),
    );
    rowsOf(
      await writer.execute({ statements: [{ sql: fillSql(1, 200).replaceAll('INTO t', 'INTO other') }] }),
    );
    const mounted = groups.length;
    const reads: { pageNo: number; tag: bigint | undefined }[] = [];
    const applied: bigint[] = [];
    const replica = await KernelHost.start({
      replica: true,
      // Storage as of the replica's state: the pages rebuilt from the groups it has (mounted + applied).
      pageSource: async (pageNo: PageNo, tag) => {
        reads.push({ pageNo, tag });
        return volume.read(pageNo);
      },
      onGroup: () => {
        throw new Error('a replica sealed a group');
      },
      onApplied: (tag) => applied.push(tag),
      cachePages: 256,
      pageReadTimeoutMs: 5_000,
    });
    hosts.push(replica);
    expect(reads.every((read) => read.tag === undefined)).toBe(true);
    expect(rowsOf(await replica.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[0]]);

    rowsOf(await writer.execute({ statements: [{ sql: fillSql(1, 50) }] }));
    const newGroups = groups.slice(mounted);
    expect(newGroups.length).toBeGreaterThan(0);
    replica.applyRecords(
      newGroups.flatMap((group) => group.records),
      77n,
    );
    expect(rowsOf(await replica.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([
      [50],
    ]);
    expect(applied).toEqual([77n]);
    // `other` was never read by the replica: its pages miss now, at the apply the kernel is at.
    reads.length = 0;
    expect(rowsOf(await replica.execute({ statements: [{ sql: 'SELECT count(*) FROM other' }] }))).toEqual([
      [200],
    ]);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((read) => read.tag === 77n)).toBe(true);
    const refused = await replica.execute({ statements: [{ sql: "INSERT INTO t VALUES (999, 'x')" }] });
    expect(refused).toMatchObject({
      ok: false,
      error: { sqlstate: '25006', code: 'NORTHLIGHT_READ_ONLY_REPLICA' },
    });
  });

  it('keeps a spare that touches nothing until it opens, then serves on the binding it is given', async () => {
    const volume = new MemoryVolume();
    const writer = await startKernel(volume);
    hosts.push(writer);
    rowsOf(
      await writer.execute({ statements: [{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)' }] }),
    );
    rowsOf(await writer.execute({ statements: [{ sql: fillSql(1, 30) }] }));
    const spare = KernelHost.prepare({ cachePages: 64, pageReadTimeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // loaded by now, and waiting
    const reads: number[] = [];
    const sealed: SealedGroup[] = [];
    const opened = await spare.open({
      pageSource: async (pageNo: PageNo) => {
        reads.push(pageNo);
        return volume.read(pageNo);
      },
      onGroup: (group) => sealed.push(group),
    });
    hosts.push(opened);
    expect(reads[0]).toBe(0); // its first read was page 0, at the open, through the binding
    expect(rowsOf(await opened.execute({ statements: [{ sql: 'SELECT count(*) FROM t' }] }))).toEqual([[30]]);
    // A writer kernel: its commits reach the binding's onGroup.
    const reply = await opened.execute({ statements: [{ sql: "INSERT INTO t VALUES (31, 'y')" }] });
    expect(reply.ok).toBe(true);
    expect(sealed).toHaveLength(1);
    // A spare never opened closes cleanly.
    await KernelHost.prepare({ cachePages: 16, pageReadTimeoutMs: 1_000 }).close();
  });
});
