// The redo stream's two pure ends (core/replication.ts): the writer's feed and the replica's follower,
// wired together through random chunking, subscriptions at arbitrary moments and feedback.
import { asEpoch, asLsn, asPgId, type Lsn, type PgId, type RedoRecord } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import { RedoFeed, ReplicaFollower, type StreamChunk } from '../src/core/replication.js';
import { seededRandom } from './support/seeded.js';

const PAGES_PER_PG = 10;

/** A writer's history: MTRs of 1–4 records over 3 PGs, dense LSNs, per-PG backlinks. */
function history(seed: number, mtrs: number): RedoRecord[][] {
  const next = seededRandom(seed);
  const heads = new Map<number, bigint>();
  let lsn = 0n;
  return Array.from({ length: mtrs }, () => {
    const size = 1 + Math.floor(next() * 4);
    return Array.from({ length: size }, (_, index) => {
      lsn += 1n;
      const pageNo = Math.floor(next() * 3 * PAGES_PER_PG);
      const pgId = Math.floor(pageNo / PAGES_PER_PG);
      const record: RedoRecord = {
        lsn: asLsn(lsn),
        backlink: asLsn(heads.get(pgId) ?? 0n),
        kind: 'page-diff',
        cpl: index === size - 1,
        volumeEpoch: asEpoch(1n),
        pgId: asPgId(pgId),
        pageNo: pageNo as RedoRecord['pageNo'],
        runs: [{ offset: 0, bytes: Uint8Array.of(Number(lsn % 256n)) }],
      };
      heads.set(pgId, lsn);
      return record;
    });
  });
}

describe('redo stream', () => {
  it('delivers every record exactly once, applied only as whole MTRs at or below the VDL', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const next = seededRandom(seed * 31);
      const mtrs = history(seed, 200);
      const feed = new RedoFeed();
      const chunks: StreamChunk[] = [];
      let vdl = 0n;
      let allocated = 0;
      let subscribed: { start: { vdl: Lsn; readPoints: Map<PgId, Lsn> }; at: number } | undefined;
      const readPoints = new Map<PgId, Lsn>();
      const applied: RedoRecord[] = [];
      let follower: ReplicaFollower | undefined;
      while (allocated < mtrs.length || vdl < mtrs.at(-1)!.at(-1)!.lsn) {
        const step = next();
        if (step < 0.5 && allocated < mtrs.length) feed.mtr(mtrs[allocated++]!);
        else if (step < 0.8 && allocated > 0) {
          // The VDL jumps to some CPL already allocated (durability, out of order across MTRs).
          const target = mtrs[Math.floor(next() * allocated)]!.at(-1)!.lsn;
          if (target > vdl) {
            vdl = target;
            for (const mtr of mtrs)
              for (const record of mtr) if (record.lsn <= vdl) readPoints.set(record.pgId, record.lsn);
            feed.vdlAdvanced(asLsn(vdl), 0);
          }
        } else if (subscribed === undefined && step > 0.95) {
          const start = { volumeEpoch: asEpoch(1n), vdl: asLsn(vdl), readPoints: new Map(readPoints) };
          subscribed = { start, at: allocated };
          feed.subscribe('r1', start, { send: (chunk) => chunks.push(chunk), close: () => {} }, 0);
          follower = new ReplicaFollower(start, PAGES_PER_PG);
        } else feed.flush(1 + Math.floor(next() * 5));
        for (const chunk of chunks.splice(0)) {
          const apply = follower!.receive(chunk);
          if (apply === undefined) continue;
          expect(apply.tag).toBe(chunk.vdl);
          const records = mtrs
            .flat()
            .filter(
              (record) =>
                record.lsn > (applied.at(-1)?.lsn ?? subscribed!.start.vdl) && record.lsn <= apply.tag,
            );
          expect(apply.records).toEqual(
            records.map((record) => ({ pageNo: record.pageNo, runs: record.runs })),
          );
          applied.push(...records);
          // R2: each PG's read point at the tag is its last record at or below it.
          for (let pageNo = 0; pageNo < 3 * PAGES_PER_PG; pageNo += PAGES_PER_PG) {
            const pg = pageNo / PAGES_PER_PG;
            const expected =
              mtrs
                .flat()
                .filter((record) => record.pgId === pg && record.lsn <= apply.tag)
                .at(-1)?.lsn ?? 0n;
            expect(follower!.readPointFor(pageNo, apply.tag)).toBe(expected);
          }
          follower!.confirmed(apply.tag);
        }
      }
      feed.flush();
      for (const chunk of chunks.splice(0)) {
        const apply = follower?.receive(chunk);
        if (apply !== undefined)
          applied.push(
            ...mtrs
              .flat()
              .filter((record) => record.lsn > (applied.at(-1)?.lsn ?? 0n) && record.lsn <= apply.tag),
          );
      }
      if (follower !== undefined) expect(follower.appliedVdl).toBe(vdl);
    }
  });

  it('measures lag from each VDL advance to the feedback that covers it, and folds read points per PG', () => {
    const feed = new RedoFeed();
    const [first, second] = history(5, 2) as [RedoRecord[], RedoRecord[]];
    feed.vdlAdvanced(asLsn(0n), 0);
    feed.subscribe(
      'r1',
      { volumeEpoch: asEpoch(1n), vdl: asLsn(0n), readPoints: new Map() },
      { send: () => {}, close: () => {} },
      0,
    );
    feed.mtr(first);
    feed.vdlAdvanced(first.at(-1)!.lsn, 100);
    feed.mtr(second);
    feed.vdlAdvanced(second.at(-1)!.lsn, 130);
    const points = new Map([
      [asPgId(0), asLsn(1n)],
      [asPgId(2), asLsn(3n)],
    ]);
    expect(feed.feedback('r1', first.at(-1)!.lsn, points, 150)).toEqual([{ replicaId: 'r1', seconds: 0.05 }]);
    expect(feed.feedback('r1', second.at(-1)!.lsn, points, 160)).toEqual([
      { replicaId: 'r1', seconds: 0.03 },
    ]);
    expect(feed.feedback('r1', second.at(-1)!.lsn, points, 170)).toEqual([]);
    expect(feed.minReplicaReadPoints()).toEqual(points);
    expect(feed.feedback('unknown', asLsn(1n), points, 0)).toEqual([]);
  });

  it('refuses a stream that goes back', () => {
    const follower = new ReplicaFollower(
      { volumeEpoch: asEpoch(1n), vdl: asLsn(5n), readPoints: new Map() },
      PAGES_PER_PG,
    );
    const [mtr] = history(9, 1) as [RedoRecord[]];
    expect(() => follower.receive({ records: mtr, vdl: asLsn(5n) })).toThrow(/went back/);
  });
});
