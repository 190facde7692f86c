// A replica's SQL session (redo-vfs.ts R1–R3) on the writer's volume, in one thread: a writer session
// commits; storage keeps every version of every page (what a segment serves at a read point); the
// replica applies the writer's committed MTRs in chunks, reads missing pages at its applied point,
// and must always answer from exactly one committed state of the writer.
import { applyRuns } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import type { ExecuteReply, ExecuteRequest, SqlParam } from '../../src/kernel/messages.js';
import { PAGE_SIZE_BYTES, type PageGroup, type PageReadResult } from '../../src/kernel/redo-vfs.js';
import { SqlSession } from '../../src/kernel/sql-session.js';
import { seededRandom } from '../support/seeded.js';

/** Storage as a read point sees it: every version of every page, by the LSN of its record. */
class VersionedStorage {
  readonly #versions = new Map<number, { lsn: number; image: Uint8Array }[]>();
  /** Every committed MTR, in LSN order: its records, each with its LSN. */
  readonly mtrs: {
    lastLsn: number;
    records: { lsn: number; pageNo: number; runs: PageGroup['records'][number]['runs'] }[];
  }[] = [];
  #lastLsn = 0;

  /** The writer's sink: the group gets the next LSNs and is durable at once. */
  seal(group: PageGroup): 'ok' {
    const records = group.records.map((record) => {
      const lsn = ++this.#lastLsn;
      const history = this.#versions.get(record.pageNo) ?? [];
      const before = history.at(-1)?.image ?? new Uint8Array(PAGE_SIZE_BYTES);
      history.push({ lsn, image: applyRuns(before, record.runs) });
      this.#versions.set(record.pageNo, history);
      return { lsn, pageNo: record.pageNo, runs: record.runs };
    });
    this.mtrs.push({ lastLsn: this.#lastLsn, records });
    return 'ok';
  }

  /** The page as of `readPoint`: its newest version at or below it, zeros if none. */
  readAt(pageNo: number, readPoint: number): Uint8Array {
    const history = this.#versions.get(pageNo) ?? [];
    let image: Uint8Array | undefined;
    for (const version of history) if (version.lsn <= readPoint) image = version.image;
    return (image ?? new Uint8Array(PAGE_SIZE_BYTES)).slice();
  }
}

/** A replica session over `storage`, reading at the point it has applied through. */
async function openReplica(
  storage: VersionedStorage,
  options: { cachePages: number; sqliteCachePages?: number },
): Promise<{ session: SqlSession; catchUp: (throughMtr: number) => void; reads: () => number }> {
  let appliedMtrs = 0;
  let appliedLsn = 0;
  let reads = 0;
  const session = await SqlSession.open({
    pageSource: {
      readPage: (pageNo): PageReadResult => {
        reads++;
        return { ok: true, page: storage.readAt(pageNo, appliedLsn) };
      },
    },
    sink: {
      seal: () => {
        throw new Error('a replica sealed a group');
      },
    },
    cachePages: options.cachePages,
    sqliteCachePages: options.sqliteCachePages ?? 10,
    replica: true,
  });
  const catchUp = (throughMtr: number) => {
    const mtrs = storage.mtrs.slice(appliedMtrs, throughMtr);
    if (mtrs.length === 0) return;
    session.applyRecords(mtrs.flatMap((mtr) => mtr.records));
    appliedMtrs = throughMtr;
    appliedLsn = mtrs.at(-1)!.lastLsn;
  };
  return { session, catchUp, reads: () => reads };
}

function run(session: SqlSession, sql: string, params: SqlParam[] = []): ExecuteReply {
  return session.execute({ statements: [{ sql, params }] });
}

function rows(session: SqlSession, request: ExecuteRequest): unknown[][] {
  const reply = session.execute(request);
  if (!reply.ok) throw new Error(`${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results.at(-1)!.rows as unknown[][];
}

describe('replica session', () => {
  it.each([7, 8, 9])(
    'sees every committed state of a bank, in order, with pages missed at its applied point (seed %i)',
    async (seed) => {
      const storage = new VersionedStorage();
      const writer = await SqlSession.open({
        pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
        sink: storage,
        cachePages: 100_000,
      });
      const accounts = 400;
      expect(
        writer.execute({
          statements: [
            {
              sql: 'CREATE TABLE account (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL)',
            },
            {
              sql: `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${accounts}) INSERT INTO account SELECT i, printf('owner-%0200d', i), 100 FROM c`,
            },
          ],
        }).ok,
      ).toBe(true);
      // A small buffer cache, so the replica drops records and misses pages all along (R2).
      const replica = await openReplica(storage, { cachePages: 12 });
      const next = seededRandom(seed);
      /** balances[k]: the balances after the writer's k-th MTR (the model the replica must match). */
      const balances: Map<number, number>[] = [];
      const model = new Map(Array.from({ length: accounts }, (_, index) => [index + 1, 100]));
      balances[storage.mtrs.length] = new Map(model);
      let total = accounts * 100;
      replica.catchUp(storage.mtrs.length);
      let appliedMtr = storage.mtrs.length;
      for (let step = 0; step < 600; step++) {
        const choice = next();
        if (choice < 0.75) {
          const from = 1 + Math.floor(next() * model.size);
          const to = 1 + Math.floor(next() * model.size);
          const amount = 1 + Math.floor(next() * 20);
          const reply = writer.execute({
            statements: [
              { sql: 'UPDATE account SET balance = balance - ? WHERE id = ?', params: [amount, from] },
              { sql: 'UPDATE account SET balance = balance + ? WHERE id = ?', params: [amount, to] },
            ],
          });
          expect(reply.ok).toBe(true);
          model.set(from, model.get(from)! - amount);
          model.set(to, model.get(to)! + amount);
        } else if (choice < 0.85) {
          // New accounts: the database grows, and the replica must see the new pages and the new size.
          const first = model.size + 1;
          expect(
            run(
              writer,
              `WITH RECURSIVE c(i) AS (SELECT ${first} UNION ALL SELECT i + 1 FROM c WHERE i < ${first + 29}) INSERT INTO account SELECT i, printf('owner-%0200d', i), 10 FROM c`,
            ).ok,
          ).toBe(true);
          for (let id = first; id < first + 30; id++) model.set(id, 10);
          total += 300;
        } else if (choice < 0.87) {
          // A schema change: the replica's prepared statements must see it.
          const name = `idx_${step}`;
          expect(run(writer, `CREATE INDEX ${name} ON account (balance, id)`).ok).toBe(true);
        } else {
          replica.catchUp(storage.mtrs.length);
          appliedMtr = storage.mtrs.length;
        }
        balances[storage.mtrs.length] = new Map(model);
        const state = balances[appliedMtr]!;
        const expectedTotal = [...state.values()].reduce((sum, balance) => sum + balance, 0);
        const [[sum, count]] = rows(replica.session, {
          statements: [{ sql: 'SELECT sum(balance), count(*) FROM account' }],
        }) as [[number, number]];
        expect([sum, count]).toEqual([expectedTotal, state.size]);
        const probe = 1 + Math.floor(next() * state.size);
        expect(
          rows(replica.session, {
            statements: [{ sql: 'SELECT balance FROM account WHERE id = ?', params: [probe] }],
          }),
        ).toEqual([[state.get(probe)]]);
      }
      replica.catchUp(storage.mtrs.length);
      expect(rows(replica.session, { statements: [{ sql: 'SELECT sum(balance) FROM account' }] })).toEqual([
        [total],
      ]);
      expect(rows(replica.session, { statements: [{ sql: 'PRAGMA integrity_check' }] })).toEqual([['ok']]);
      const stats = replica.session.stats();
      expect(stats.recordsApplied).toBeGreaterThan(0);
      expect(stats.recordsDropped).toBeGreaterThan(0); // the small cache really dropped records (R2)
      expect(replica.reads()).toBeGreaterThan(50);
      expect(stats.writesOutsideBracket).toBe(0);
      writer.close();
      replica.session.close();
    },
  );

  it("never serves a row from SQLite's own page cache once a newer commit is applied (R3)", async () => {
    const storage = new VersionedStorage();
    const writer = await SqlSession.open({
      pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
      sink: storage,
      cachePages: 1_000,
    });
    expect(run(writer, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)').ok).toBe(true);
    expect(run(writer, "INSERT INTO kv VALUES (1, 'old')").ok).toBe(true);
    // SQLite's cache is large enough to keep the page: only dropping it can make the change visible.
    const replica = await openReplica(storage, { cachePages: 1_000, sqliteCachePages: 2_000 });
    replica.catchUp(storage.mtrs.length);
    const read = () => rows(replica.session, { statements: [{ sql: 'SELECT v FROM kv WHERE k = 1' }] });
    expect(read()).toEqual([['old']]);
    // Same length: the database size and freelist in page 0's header stay the same, so SQLite's
    // own change check (bytes 24–39 of the header) cannot see the update; only R3 can.
    expect(run(writer, "UPDATE kv SET v = 'new' WHERE k = 1").ok).toBe(true);
    expect(read()).toEqual([['old']]); // not applied yet: the replica's state is still the old one
    replica.catchUp(storage.mtrs.length);
    expect(read()).toEqual([['new']]);
    writer.close();
    replica.session.close();
  });

  it('mounts an empty volume and follows the writer from its first table', async () => {
    const storage = new VersionedStorage();
    const replica = await openReplica(storage, { cachePages: 64 });
    const writer = await SqlSession.open({
      pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
      sink: storage,
      cachePages: 1_000,
    });
    expect(run(writer, 'CREATE TABLE t (id INTEGER PRIMARY KEY)').ok).toBe(true);
    expect(run(writer, 'INSERT INTO t VALUES (1), (2), (3)').ok).toBe(true);
    expect(run(replica.session, 'SELECT count(*) FROM t')).toMatchObject({
      ok: false,
      error: { sqlstate: '42P01' },
    });
    replica.catchUp(storage.mtrs.length);
    expect(rows(replica.session, { statements: [{ sql: 'SELECT count(*) FROM t' }] })).toEqual([[3]]);
    writer.close();
    replica.session.close();
  });

  it('gives declared types of result columns, following the schema the writer changes', async () => {
    const storage = new VersionedStorage();
    const writer = await SqlSession.open({
      pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
      sink: storage,
      cachePages: 1_000,
    });
    expect(run(writer, 'CREATE TABLE t (id INTEGER PRIMARY KEY, ok BOOLEAN)').ok).toBe(true);
    const replica = await openReplica(storage, { cachePages: 64 });
    replica.catchUp(storage.mtrs.length);
    const types = () => {
      const reply = replica.session.execute({
        statements: [{ sql: 'SELECT * FROM t' }],
        declaredTypes: true,
      });
      return reply.ok ? reply.results[0]!.declaredTypes : reply.error.message;
    };
    // The probe runs on a shadow of the schema, so the replica's query_only is no obstacle.
    expect(types()).toEqual(['INTEGER', 'BOOLEAN']);
    expect(run(writer, 'ALTER TABLE t ADD COLUMN big BIGINT').ok).toBe(true);
    replica.catchUp(storage.mtrs.length);
    expect(types()).toEqual(['INTEGER', 'BOOLEAN', 'BIGINT']);
    writer.close();
    replica.session.close();
  });

  it('follows ALTER TABLE forms SQLite lacks, which rewrite the schema text (alter-table.ts)', async () => {
    const storage = new VersionedStorage();
    const writer = await SqlSession.open({
      pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
      sink: storage,
      cachePages: 1_000,
    });
    expect(
      run(
        writer,
        'CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INT, n TEXT)',
      ).ok,
    ).toBe(true);
    const replica = await openReplica(storage, { cachePages: 64 });
    replica.catchUp(storage.mtrs.length);
    const notNull = {
      statements: [{ sql: 'SELECT name, "notnull", type FROM pragma_table_info(\'c\') ORDER BY cid' }],
    };
    const foreignKeys = {
      statements: [{ sql: 'SELECT "from", "table", on_delete FROM pragma_foreign_key_list(\'c\')' }],
    };
    // The replica has read (and cached) the schema before the writer changes it.
    expect(rows(replica.session, foreignKeys)).toEqual([]);
    expect(
      run(
        writer,
        'ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p ON DELETE CASCADE; ALTER TABLE c ALTER n SET NOT NULL; ALTER TABLE c ALTER n TYPE varchar(20)',
      ).ok,
    ).toBe(true);
    replica.catchUp(storage.mtrs.length);
    expect(rows(replica.session, foreignKeys)).toEqual([['p_id', 'p', 'CASCADE']]);
    expect(rows(replica.session, notNull)).toEqual([
      ['id', 0, 'INTEGER'],
      ['p_id', 0, 'INT'],
      ['n', 1, 'varchar(20)'],
    ]);
    writer.close();
    replica.session.close();
  });

  it('refuses every write with 25006 naming the replica, and stays usable', async () => {
    const storage = new VersionedStorage();
    const writer = await SqlSession.open({
      pageSource: { readPage: () => ({ ok: true, page: new Uint8Array(PAGE_SIZE_BYTES) }) },
      sink: storage,
      cachePages: 1_000,
    });
    expect(run(writer, 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)').ok).toBe(true);
    const replica = await openReplica(storage, { cachePages: 64 });
    replica.catchUp(storage.mtrs.length);
    for (const sql of [
      "INSERT INTO t VALUES (1, 'x')",
      'DELETE FROM t',
      'CREATE TABLE u (id INTEGER)',
      'DROP TABLE t',
      'VACUUM',
    ]) {
      expect(run(replica.session, sql)).toMatchObject({
        ok: false,
        error: { sqlstate: '25006', code: 'NORTHLIGHT_READ_ONLY_REPLICA' },
      });
    }
    expect(run(replica.session, 'PRAGMA query_only = 0')).toMatchObject({
      ok: false,
      error: { sqlstate: '42501' },
    });
    expect(rows(replica.session, { statements: [{ sql: 'SELECT count(*) FROM t' }] })).toEqual([[0]]);
    expect(replica.session.stats().writesOutsideBracket).toBe(0);
    writer.close();
    replica.session.close();
  });
});
