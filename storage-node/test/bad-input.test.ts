/**
 * Proves bad input never hurts the node: malformed, truncated and wrong-CRC frames, messages a storage
 * node does not handle, and requests for unknown segments are dropped with a WARN log; stale epochs,
 * records outside the PG or past the page size, chain forks, conflicting duplicates, truncations that
 * would annul coalesced records and bad lifecycle calls get a typed rejection. In every case the core
 * stays up (it still acknowledges a good batch afterwards) and no stored byte changes.
 */
import {
  asPageNo,
  asSegmentId,
  encodeMessage,
  encodeRedoRecord,
  type Message,
  NorthlightError,
  type RedoRecord,
} from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { StorageNodeCore } from '../src/index.js';
import { CoreRig, epoch, lsn, pg, TEST_OPTIONS } from './support/core-rig.js';
import { run, TestWriter } from './support/history.js';

async function setUp() {
  const rig = new CoreRig(11);
  await rig.start();
  const segment = await rig.createSegment(0);
  const writer = new TestWriter();
  for (let index = 0; index < 4; index++) {
    const record = writer.record(0, index, [run(0, 8, index + 1)]);
    expect((await rig.request(writer.batch(segment, [record], record.lsn - 1n)))?.type).toBe('append-ack');
  }
  await rig.runFor(20); // lazily persisted state settles, so the snapshot below is stable
  return { rig, segment, writer };
}

/** Sends `bytes` (or a message), runs, and checks the core is unharmed and the disk unchanged. */
async function expectHarmless(
  rig: CoreRig,
  send: () => void,
  expected: { reply?: Partial<Message> & { code?: string }; warn?: string },
) {
  const files = rig.snapshotFiles();
  const before = rig.sent.length;
  const logsBefore = rig.logs.length;
  send();
  await rig.runFor(20);
  const replies = rig.sent.slice(before).map((sent) => sent.message);
  if (expected.reply === undefined) expect(replies).toEqual([]);
  else expect(replies).toEqual([expect.objectContaining(expected.reply)]);
  if (expected.warn !== undefined) {
    const warned = rig.logs
      .slice(logsBefore)
      .some((line) => line.level === 'warn' && line.message.includes(expected.warn!));
    expect(warned, `a WARN log containing "${expected.warn}"`).toBe(true);
  }
  expect(rig.snapshotFiles()).toEqual(files);
  expect(rig.core.state).toBe('serving');
  expect(rig.errorLogs()).toEqual([]);
}

describe('bad input', () => {
  it('drops undecodable frames (garbage, truncated, wrong CRC) with a WARN log', async () => {
    const { rig, segment, writer } = await setUp();
    const good = encodeMessage(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])]));
    const truncated = good.slice(0, good.length - 3);
    const wrongCrc = good.slice();
    wrongCrc[good.length - 1]! ^= 0x40;
    for (const bytes of [Uint8Array.of(1, 2, 3), new Uint8Array(64), truncated, wrongCrc]) {
      await expectHarmless(rig, () => rig.deliver(bytes), { warn: 'undecodable' });
    }
    expect((await rig.request(writer.batch(segment, [writer.record(0, 2, [run(0, 1, 2)])])))?.type).toBe(
      'append-ack',
    );
  });

  it('drops a record with a bad embedded CRC inside a valid frame', async () => {
    const { rig, segment, writer } = await setUp();
    const record = encodeRedoRecord(writer.record(0, 1, [run(0, 4, 1)]));
    const frame = encodeMessage(writer.batch(segment, [writer.record(0, 2)]));
    // Rebuild a frame around a record whose own CRC is broken (the frame CRC is recomputed).
    record[record.length - 1]! ^= 1;
    const { encodeFrame, decodeFrame, MESSAGE_TYPE_CODES } = await import('@northlight/protocol');
    const payload = decodeFrame(frame).frame.payload;
    const broken = new Uint8Array(payload.length - 48 + record.length);
    broken.set(payload.subarray(0, payload.length - 48));
    broken.set(record, payload.length - 48);
    await expectHarmless(rig, () => rig.deliver(encodeFrame(MESSAGE_TYPE_CODES['append-batch'], broken)), {
      warn: 'undecodable',
    });
  });

  it('drops requests for unknown segments and messages a storage node does not handle', async () => {
    const { rig, writer } = await setUp();
    const stranger = writer.batch('pg0-elsewhere' as never, [writer.record(0, 1, [run(0, 1, 1)])]);
    await expectHarmless(rig, () => rig.deliver(stranger), { warn: 'unknown segment' });
    const ack: Message = {
      type: 'append-ack',
      requestId: 1n,
      pgId: pg(0),
      segmentId: 'pg0-s1' as never,
      volumeEpoch: epoch(0n),
      scl: lsn(1),
    };
    await expectHarmless(rig, () => rig.deliver(ack), { warn: 'does not handle' });
  });

  const invalidBatches: [string, (writer: TestWriter) => RedoRecord[]][] = [
    ['a page outside the PG', (writer) => [{ ...writer.record(0, 1, [run(0, 1, 1)]), pageNo: asPageNo(64) }]],
    ['a run past the page size', (writer) => [writer.record(0, 1, [run(250, 10, 1)])]],
    [
      'a fork of the chain (two records after one backlink)',
      (writer) => {
        const a = writer.record(0, 1, [run(0, 1, 1)]);
        const b = { ...writer.record(0, 1, [run(0, 1, 2)]), backlink: a.backlink };
        return [a, b];
      },
    ],
    [
      'a fork of the chain behind a later record of the batch',
      (writer) => {
        const a = writer.record(0, 1, [run(0, 1, 1)]);
        const b = writer.record(0, 1, [run(0, 1, 2)]);
        const c = { ...writer.record(0, 1, [run(0, 1, 3)]), backlink: a.backlink };
        return [a, b, c];
      },
    ],
    ['a backlink below the SCL', (writer) => [{ ...writer.record(0, 1, [run(0, 1, 1)]), backlink: lsn(2) }]],
    [
      'a held LSN with another backlink',
      (writer) => [{ ...writer.record(0, 1, [run(0, 1, 1)]), lsn: lsn(4), backlink: lsn(1) }],
    ],
  ];

  it.each(invalidBatches)(
    'rejects a batch with %s as NL_DECODE_INVALID and writes nothing of it',
    async (_name, make) => {
      const { rig, segment, writer } = await setUp();
      const records = make(writer);
      await expectHarmless(rig, () => rig.deliver(writer.batch(segment, records)), {
        reply: { type: 'request-rejected', code: 'NL_DECODE_INVALID' } as never,
        warn: 'invalid append',
      });
      expect(rig.core.status().segments[0]!.recordsHeld).toBe(4);
    },
  );

  it('rejects stale epochs with the current epoch and changes nothing', async () => {
    const { rig, segment, writer } = await setUp();
    await rig.request({
      type: 'segment-state-request',
      requestId: 9n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(3n),
    });
    await rig.runFor(20);
    const batch = writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])]);
    await expectHarmless(rig, () => rig.deliver(batch), {
      reply: { type: 'request-rejected', code: 'NL_EPOCH_STALE', currentVolumeEpoch: 3n } as never,
    });
    const fetch: Message = {
      type: 'fetch-records',
      requestId: 10n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(2n),
      lsns: [lsn(1)],
    };
    await expectHarmless(rig, () => rig.deliver(fetch), {
      reply: { type: 'request-rejected', code: 'NL_EPOCH_STALE' } as never,
    });
    const read: Message = {
      type: 'read-page',
      requestId: 11n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(2n),
      pageNo: asPageNo(1),
      readPoint: lsn(4),
    };
    await expectHarmless(rig, () => rig.deliver(read), {
      reply: { type: 'request-rejected', code: 'NL_EPOCH_STALE' } as never,
    });
    const minReadPoint: Message = {
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(2n),
      minReadPoint: lsn(4),
    };
    await expectHarmless(rig, () => rig.deliver(minReadPoint), {});
    expect(rig.core.status().segments[0]!.minReadPoint).toBe(0n);
  });

  it('refuses a truncation that would annul records already coalesced into page images', async () => {
    const { rig, segment, writer } = await setUp();
    expect((await rig.request(writer.batch(segment, [writer.record(0, undefined)], 4n)))?.type).toBe(
      'append-ack',
    );
    rig.deliver({
      type: 'min-read-point',
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      minReadPoint: lsn(4),
    });
    await rig.run(rig.core.materializeStep());
    await rig.runFor(20);
    expect(rig.core.status().segments[0]!.materializedThrough).toBe(4n);
    const bad: Message = {
      type: 'truncate',
      requestId: 5n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(1n),
      ranges: [{ volumeEpoch: epoch(1n), fromExclusive: lsn(2), toInclusive: lsn(100) }],
    };
    const files = rig.snapshotFiles();
    const reply = await rig.request(bad as Message & { requestId: bigint });
    expect(reply).toMatchObject({ type: 'request-rejected', code: 'NL_DECODE_INVALID' });
    expect(rig.snapshotFiles()).toEqual(files);
    expect(rig.errorLogs().map((line) => line.message)).toEqual([
      'refused a truncation that would annul coalesced records',
    ]);
  });

  it('answers refusals of page reads with their typed reasons, on the wire and locally', async () => {
    const { rig, segment } = await setUp();
    const outside = await rig.run(rig.core.readPage(pg(0), segment, 64, lsn(4)));
    expect(outside.ok ? 'ok' : [outside.refusal.reason, outside.refusal.error.code]).toEqual([
      'page-outside-pg',
      'NL_DECODE_INVALID',
    ]);
    const ahead = await rig.run(rig.core.readPage(pg(0), segment, 1, lsn(5)));
    expect(ahead.ok ? 'ok' : ahead.refusal.reason).toBe('above-scl');
    const unknown = await rig.run(rig.core.readPage(pg(0), 'pg0-nope' as never, 1, lsn(4)));
    expect(unknown.ok ? 'ok' : unknown.refusal.reason).toBe('unknown-segment');
    const reply = await rig.request({
      type: 'read-page',
      requestId: 12n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      pageNo: asPageNo(1),
      readPoint: lsn(9),
    });
    expect(reply).toMatchObject({ type: 'request-rejected', code: 'NL_LSN_ALLOCATION_LIMIT' });
    expect((reply as { message: string }).message).toContain('above the segment');
    const page = await rig.request({
      type: 'read-page',
      requestId: 13n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(0n),
      pageNo: asPageNo(1),
      readPoint: lsn(4),
    });
    expect(page).toMatchObject({ type: 'page', requestId: 13n, pageNo: 1, readPoint: 4n });
  });

  it('refuses bad options and bad lifecycle calls with NL_CONFIG_INVALID', async () => {
    const { rig, segment } = await setUp();
    const env = { network: { onMessage() {} } } as never;
    expect(() => new StorageNodeCore(env, { pageSizeBytes: 65_537 })).toThrow(NorthlightError);
    expect(() => new StorageNodeCore(env, { ...TEST_OPTIONS, logPreallocateBytes: 100 })).toThrow(
      /NL_CONFIG_INVALID/,
    );
    for (const backupMaxDelayMs of [-1, 1.5, 300_001])
      expect(() => new StorageNodeCore(env, { ...TEST_OPTIONS, backupMaxDelayMs })).toThrow(
        /NL_CONFIG_INVALID.*backupMaxDelayMs/,
      );
    const repeated = await rig.run(
      rig.core.createSegment({
        pgId: pg(1),
        segmentId: 'pg1-s1' as never,
        membershipEpoch: epoch(1n),
        members: ['a' as never, 'a' as never],
      }),
    );
    expect(repeated.ok ? 'ok' : repeated.error.code).toBe('NL_CONFIG_INVALID');
    const conflicting = await rig.run(
      rig.core.createSegment({
        pgId: pg(0),
        segmentId: segment,
        membershipEpoch: epoch(9n),
        members: [segment],
      }),
    );
    expect(conflicting.ok ? 'ok' : conflicting.error.code).toBe('NL_CONFIG_INVALID');
    const members = rig.core.status().segments[0]!.members;
    const again = await rig.run(
      rig.core.createSegment({ pgId: pg(0), segmentId: segment, membershipEpoch: epoch(1n), members }),
    );
    expect(again).toEqual({ ok: true, value: { created: false } });
    // The same id and epoch with other members is not the same segment (a stray of an earlier change).
    const stray = await rig.run(
      rig.core.createSegment({
        pgId: pg(0),
        segmentId: segment,
        membershipEpoch: epoch(1n),
        members: [segment, asSegmentId('pg0-other')], // it has six others
      }),
    );
    expect(stray.ok ? 'ok' : stray.error.code).toBe('NL_CONFIG_INVALID');
  });

  it('refuses to start on a disk written with another page size', async () => {
    const { rig } = await setUp();
    rig.processCrash();
    const other = new CoreRig(12, { ...TEST_OPTIONS, pageSizeBytes: 512 });
    // Same disk, new options: move the files over.
    for (const path of rig.disk.paths()) {
      const file = await other.run(
        other.disk
          .view(new (await import('@northlight/sim')).Incarnation('s1' as never, 1, other.scheduler))
          .open(path),
      );
      await other.run(file.write(0, rig.disk.contentOf(path)!));
    }
    const outcome = await other.run(
      other.core.start().then(
        () => 'started',
        (error: NorthlightError) => error.code,
      ),
    );
    expect(outcome).toBe('NL_CONFIG_INVALID');
    expect(other.core.state).toBe('failed');
  });
});
