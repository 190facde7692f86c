/**
 * Proves the storage node keeps the toy storage node's epoch, fencing and truncation rules
 * (sim/src/workloads/quorum-writer/toy-storage.ts, crash reasoning 3, 5 and 6), now per segment on a
 * node hosting many: a request of an older volume epoch is rejected with NL_EPOCH_STALE carrying the
 * segment's epoch; appends are accepted only under the epoch whose truncation the segment durably
 * applied; segment-state adopts the recovering writer's epoch durably before it answers (a power loss
 * cannot un-fence), and reports every record above min(durable hint, SCL) with its truncations;
 * truncations are applied one at a time, authoritatively, and are idempotent; a stale membership
 * epoch is NL_MEMBERSHIP_STALE; fetch-records returns exactly the records held; a node whose disk was
 * wiped stays silent for the segments it used to host.
 */
import { asEpoch, asLsn, type Message, type SegmentId } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { CoreRig, epoch, lsn, pg } from './support/core-rig.js';
import { run, TestWriter } from './support/history.js';

async function rigWithRecords(count: number, seed = 1) {
  const rig = new CoreRig(seed);
  await rig.start();
  const segment = await rig.createSegment(0);
  const writer = new TestWriter();
  const records = [];
  for (let index = 0; index < count; index++) {
    const record = writer.record(0, index % 4, [run(index, 8, index + 1)], index % 2 === 1);
    records.push(record);
    const reply = await rig.request(writer.batch(segment, [record], record.lsn - 1n));
    expect(reply?.type).toBe('append-ack');
  }
  return { rig, segment, writer, records };
}

function stateRequest(
  segment: SegmentId,
  requestId: bigint,
  volumeEpoch: bigint,
): Message & { requestId: bigint } {
  return {
    type: 'segment-state-request',
    requestId,
    pgId: pg(0),
    segmentId: segment,
    volumeEpoch: epoch(volumeEpoch),
  };
}

function truncate(
  segment: SegmentId,
  requestId: bigint,
  volumeEpoch: bigint,
  ranges: [bigint, bigint, bigint][],
) {
  return {
    type: 'truncate' as const,
    requestId,
    pgId: pg(0),
    segmentId: segment,
    volumeEpoch: epoch(volumeEpoch),
    ranges: ranges.map(([e, from, to]) => ({
      volumeEpoch: epoch(e),
      fromExclusive: lsn(from),
      toInclusive: lsn(to),
    })),
  };
}

describe('epochs and fencing', () => {
  it('segment-state adopts the new epoch durably, reports the tail above min(hint, SCL), and fences the old writer', async () => {
    const { rig, segment, writer } = await rigWithRecords(6);
    await rig.runFor(20); // the lazily persisted hint reaches the control log
    const state = await rig.request(stateRequest(segment, 100n, 5n));
    expect(state).toMatchObject({
      type: 'segment-state',
      volumeEpoch: 5n,
      scl: 6n,
      durableHint: 5n,
      truncations: [],
    });
    expect((state as Extract<Message, { type: 'segment-state' }>).tail).toEqual([
      { lsn: 6n, backlink: 5n, cpl: true },
    ]);
    // A power loss right after the reply: the fence must hold.
    rig.powerLoss();
    await rig.start();
    const stale = await rig.request(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 9)])]));
    expect(stale).toMatchObject({ type: 'request-rejected', code: 'NL_EPOCH_STALE', currentVolumeEpoch: 5n });
    const staleState = await rig.request(stateRequest(segment, 101n, 4n));
    expect(staleState).toMatchObject({
      type: 'request-rejected',
      code: 'NL_EPOCH_STALE',
      currentVolumeEpoch: 5n,
    });
  });

  it('accepts appends of a new epoch only once its truncation is durably applied (toy reasoning 5)', async () => {
    const { rig, segment, writer } = await rigWithRecords(6);
    await rig.request(stateRequest(segment, 100n, 2n));
    const next = new TestWriter(2n);
    next.skipTo(1_000n + 1n);
    next.setHead(0, 4n);
    const first = next.record(0, 0, [run(0, 4, 7)]);
    const early = await rig.request(next.batch(segment, [first]));
    // Rejected with the epoch of the truncation it holds (0), so the writer knows to send its own.
    expect(early).toMatchObject({ type: 'request-rejected', code: 'NL_EPOCH_STALE', currentVolumeEpoch: 0n });
    const ack = await rig.request(truncate(segment, 101n, 2n, [[2n, 4n, 1_000n]]));
    expect(ack).toMatchObject({ type: 'truncate-ack', volumeEpoch: 2n });
    const status = rig.core.status().segments[0]!;
    expect(status).toMatchObject({ scl: 4n, truncationEpoch: 2n, volumeEpoch: 2n, recordsHeld: 4 });
    const accepted = await rig.request(next.batch(segment, [first], 4n));
    expect(accepted).toMatchObject({ type: 'append-ack', scl: 1_001n });
    // The old writer is fenced; an annulled LSN from anyone is refused as invalid.
    const old = await rig.request(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])]));
    expect(old).toMatchObject({ type: 'request-rejected', code: 'NL_EPOCH_STALE', currentVolumeEpoch: 2n });
    const annulled = { ...next.record(0, 0), lsn: asLsn(5n), backlink: asLsn(4n), volumeEpoch: asEpoch(2n) };
    const refused = await rig.request(next.batch(segment, [annulled]));
    expect(refused).toMatchObject({ type: 'request-rejected', code: 'NL_DECODE_INVALID' });
    // After a power loss the truncation and the new records are still there.
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({ scl: 1_001n, truncationEpoch: 2n, recordsHeld: 5 });
  });

  it('applies duplicate truncations once and acknowledges each; a later truncation list replaces the earlier', async () => {
    const { rig, segment } = await rigWithRecords(8);
    const first = truncate(segment, 1n, 3n, [[3n, 6n, 100n]]);
    rig.deliver(first);
    rig.deliver({ ...first, requestId: 2n });
    await rig.runFor(20);
    const acks = rig.sent.filter((sent) => sent.message.type === 'truncate-ack');
    expect(acks.map((sent) => (sent.message as { requestId: bigint }).requestId).sort()).toEqual([1n, 2n]);
    expect(rig.core.status().segments[0]).toMatchObject({
      scl: 6n,
      truncations: [{ volumeEpoch: 3n, fromExclusive: 6n, toInclusive: 100n }],
    });
    // Epoch 4's recovery did not see epoch 3's range (an interrupted recovery): its list is authoritative.
    const second = await rig.request(truncate(segment, 3n, 4n, [[4n, 5n, 200n]]));
    expect(second?.type).toBe('truncate-ack');
    expect(rig.core.status().segments[0]).toMatchObject({
      scl: 5n,
      truncationEpoch: 4n,
      truncations: [{ volumeEpoch: 4n, fromExclusive: 5n, toInclusive: 200n }],
    });
    const older = await rig.request(truncate(segment, 4n, 3n, [[3n, 6n, 100n]]));
    expect(older).toMatchObject({ type: 'request-rejected', code: 'NL_EPOCH_STALE', currentVolumeEpoch: 4n });
  });

  it('reports records held behind a local gap, and fetch-records returns exactly the records held', async () => {
    const rig = new CoreRig(2);
    await rig.start();
    const segment = await rig.createSegment(0);
    const writer = new TestWriter();
    const records = [1, 2, 3, 4, 5].map((index) => writer.record(0, index, [run(0, 2, index)]));
    // Record 3 is lost on the way: the segment holds 4 and 5 above a gap.
    for (const record of records.filter((record) => record.lsn !== 3n)) {
      expect((await rig.request(writer.batch(segment, [record], 5n)))?.type).toBe('append-ack');
    }
    const state = (await rig.request(stateRequest(segment, 50n, 1n))) as Extract<
      Message,
      { type: 'segment-state' }
    >;
    expect(state.scl).toBe(2n);
    expect(state.tail.map((entry) => entry.lsn)).toEqual([4n, 5n]);
    expect(rig.core.status().segments[0]!.knownGaps).toBe(1);
    const fetched = await rig.request({
      type: 'fetch-records',
      requestId: 51n,
      pgId: pg(0),
      segmentId: segment,
      volumeEpoch: epoch(1n),
      lsns: [lsn(2), lsn(3), lsn(5)],
    });
    expect(fetched).toMatchObject({ type: 'records', requestId: 51n });
    expect((fetched as Extract<Message, { type: 'records' }>).records).toEqual([records[1], records[4]]);
  });

  it('rejects a stale membership epoch and keeps a membership change across a power loss', async () => {
    const { rig, segment, writer } = await rigWithRecords(2);
    const members = ['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s7'] as SegmentId[];
    const changed = await rig.run(rig.core.updateMembership(pg(0), segment, epoch(2n), members));
    expect(changed).toEqual({ ok: true, value: { changed: true } });
    const stale = await rig.request(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])]));
    expect(stale).toMatchObject({
      type: 'request-rejected',
      code: 'NL_MEMBERSHIP_STALE',
      currentMembershipEpoch: 2n,
    });
    rig.powerLoss();
    await rig.start();
    expect(rig.core.status().segments[0]).toMatchObject({ membershipEpoch: 2n, members });
    const older = await rig.run(rig.core.updateMembership(pg(0), segment, epoch(1n), members));
    expect(older.ok ? 'ok' : older.error.code).toBe('NL_MEMBERSHIP_STALE');
    writer.membershipEpoch = epoch(2n);
    expect((await rig.request(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])])))?.type).toBe(
      'append-ack',
    );
  });

  it('stays silent for every segment it hosted once its disk is wiped (toy reasoning 6)', async () => {
    const { rig, segment, writer } = await rigWithRecords(3);
    rig.wipe();
    await rig.start();
    expect(rig.core.status().segments).toEqual([]);
    const before = rig.sent.length;
    rig.deliver(stateRequest(segment, 7n, 9n));
    rig.deliver(writer.batch(segment, [writer.record(0, 1, [run(0, 1, 1)])]));
    rig.deliver(truncate(segment, 8n, 9n, [[9n, 1n, 10n]]));
    await rig.runFor(50);
    expect(rig.sent.length).toBe(before);
    expect(rig.logs.some((line) => line.level === 'warn' && line.message.includes('unknown segment'))).toBe(
      true,
    );
  });

  it('keeps many segments of many PGs apart: epochs are per segment', async () => {
    const rig = new CoreRig(3);
    await rig.start();
    const a = await rig.createSegment(0);
    const b = await rig.createSegment(1);
    await rig.request(stateRequest(a, 1n, 7n));
    const writer = new TestWriter();
    const ack = await rig.request(writer.batch(b, [writer.record(1, 64, [run(0, 4, 1)])]));
    expect(ack).toMatchObject({ type: 'append-ack', pgId: 1, segmentId: b, volumeEpoch: 0n, scl: 1n });
    expect(rig.core.status().segments.map((segment) => segment.volumeEpoch)).toEqual([7n, 0n]);
  });
});
