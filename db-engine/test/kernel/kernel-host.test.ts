/**
 * Proves the SQL kernel end to end through `KernelHost`: real SQLite-in-wasm in a worker thread, the
 * redo VFS, and an in-memory volume standing in for storage (test/kernel/support/memory-volume.ts)
 * whose pages come only from applying the kernel's redo groups. It shows that:
 * - SQL runs with parameters and typed values; errors carry PostgreSQL SQLSTATEs; a failing statement
 *   rolls its whole request back and the kernel stays usable;
 * - every committed write request seals exactly one group, before its reply resolves; reads and failed
 *   requests seal none; no page is ever written outside the atomic-write bracket;
 * - the redo alone rebuilds the database: a second kernel over the replayed pages returns the same
 *   rows and passes `integrity_check`;
 * - page misses go through the host, and the buffer cache never gives up a page whose newest record
 *   is not durable (the page source records any request for one), then shrinks once the VDL passes;
 * - storage refusing writes (57P03), failing or timing out on reads (58030), and transactions larger
 *   than `maxGroupPages` (54000) fail cleanly and the next request succeeds;
 * - an assertion in the worker (a bug) fails every call instead of hanging.
 */
import { asLsn, type PageNo } from '@northlight/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelHost } from '../../src/kernel/kernel-host.js';
import type { ExecuteReply } from '../../src/kernel/messages.js';
import { fillSql, MemoryVolume, startKernel } from './support/memory-volume.js';

const hosts: KernelHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.close()));
});

async function kernel(
  volume: MemoryVolume,
  options: Parameters<typeof startKernel>[1] = {},
): Promise<KernelHost> {
  const host = await startKernel(volume, options);
  hosts.push(host);
  return host;
}

function rowsOf(reply: ExecuteReply, index = 0): unknown[][] {
  if (!reply.ok) throw new Error(`request failed: ${reply.error.sqlstate} ${reply.error.message}`);
  return reply.results[index]!.rows as unknown[][];
}

async function sql(host: KernelHost, text: string, params?: unknown[]): Promise<ExecuteReply> {
  return host.execute({ statements: [{ sql: text, ...(params ? { params: params as never } : {}) }] });
}

describe('KernelHost', () => {
  it('runs SQL with parameters and typed values', async () => {
    const host = await kernel(new MemoryVolume());
    const created = await host.execute({
      statements: [
        {
          sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, flag INTEGER, data BLOB, big INTEGER)',
        },
        {
          sql: 'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)',
          params: [1, 'ada', 2.5, true, new Uint8Array([1, 2, 255]), 9_007_199_254_740_993n],
        },
        { sql: 'INSERT INTO t(id, name, flag) VALUES (?, ?, ?)', params: [2, null, false] },
        { sql: 'INSERT INTO t(id, name, big) VALUES (:id, :name, :big)', params: [3, 'ünïcödé ✓', -42] },
      ],
    });
    expect(created).toMatchObject({ ok: true, groupSeq: 1, visibleThroughSeq: 1 });
    expect(created.ok && created.results.map((result) => result.changes)).toEqual([0, 1, 1, 1]);
    const selected = await host.execute({
      statements: [{ sql: 'SELECT * FROM t ORDER BY id' }],
      readOnly: true,
    });
    expect(selected).toMatchObject({
      ok: true,
      visibleThroughSeq: 1,
      results: [{ columns: ['id', 'name', 'score', 'flag', 'data', 'big'] }],
    });
    expect(selected.ok && 'groupSeq' in selected).toBe(false);
    expect(rowsOf(selected)).toEqual([
      [1, 'ada', 2.5, 1, 'AQL/', '9007199254740993'],
      [2, null, null, 0, null, null],
      [3, 'ünïcödé ✓', null, null, null, -42],
    ]);
    const updated = await sql(host, 'UPDATE t SET score = score + 1 WHERE id IN (1, 2)');
    expect(updated).toMatchObject({ ok: true, results: [{ changes: 2 }], groupSeq: 2 });
    // Not read-only: SQLite counts PRAGMA journal_mode as a statement that may write, even to read it.
    const names = ['page_size', 'journal_mode', 'locking_mode', 'cache_spill', 'foreign_keys'];
    const settings = await host.execute({ statements: names.map((name) => ({ sql: `PRAGMA ${name}` })) });
    expect(settings.ok && settings.results.map((result) => result.rows[0]![0])).toEqual([
      4096,
      'memory',
      'exclusive',
      0,
      1,
    ]);
    const several = await sql(
      host,
      'CREATE TABLE u(x); INSERT INTO u VALUES (1), (2); SELECT sum(x) FROM u;',
    );
    expect(several).toMatchObject({ ok: true, results: [{ columns: ['sum(x)'], rows: [[3]], changes: 2 }] });
  });

  it('maps errors to SQLSTATEs and stays usable after each one', async () => {
    const host = await kernel(new MemoryVolume());
    const setup = await host.execute({
      statements: [
        { sql: 'CREATE TABLE parent(id INTEGER PRIMARY KEY)' },
        {
          sql:
            'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE, n INTEGER CHECK (n >= 0), ' +
            'p INTEGER REFERENCES parent(id))',
        },
        { sql: 'CREATE TABLE s(x INTEGER) STRICT' },
        { sql: 'INSERT INTO parent VALUES (1)' },
        { sql: "INSERT INTO t VALUES (1, 'a', 1, 1)" },
      ],
    });
    expect(setup.ok).toBe(true);
    const cases: [string, string, unknown[]?][] = [
      ['SELEC 1', '42601'],
      ['SELECT * FROM missing', '42P01'],
      ['SELECT nope FROM t', '42703'],
      ['CREATE TABLE t(x)', '42P07'],
      ["INSERT INTO t VALUES (2, 'a', 1, 1)", '23505'],
      ["INSERT INTO t VALUES (1, 'b', 1, 1)", '23505'],
      ['INSERT INTO t VALUES (2, NULL, 1, 1)', '23502'],
      ["INSERT INTO t VALUES (2, 'b', -1, 1)", '23514'],
      ["INSERT INTO t VALUES (2, 'b', 1, 99)", '23503'],
      ["INSERT INTO s VALUES ('text')", '42804'],
      ["INSERT INTO t(id, v) VALUES ('abc', 'z')", '42804'],
      ['SELECT zeroblob(2000000000)', '54000'],
      ['SELECT ?', '08P01', []],
      ['BEGIN', '42501'],
      ['SAVEPOINT s', '42501'],
      ['RELEASE s', '42501'],
      ['PRAGMA journal_mode = OFF', '42501'],
      ["ATTACH 'other.db' AS other", '42501'],
      ['CREATE TEMP TABLE scratch(x)', '42501'],
      ['PRAGMA query_only = 1', '42501'],
      ['CREATE TEMP VIEW tv AS SELECT 1', '42501'],
      ['CREATE TEMP TRIGGER tt AFTER INSERT ON t BEGIN SELECT 1; END', '42501'],
      ["SELECT load_extension('libm')", '42501'],
      ['SELECT ?; SELECT 2', '42601', [1]],
    ];
    for (const [text, sqlstate, params] of cases) {
      const reply = await sql(host, text, params);
      expect(reply, text).toMatchObject({ ok: false, error: { sqlstate, statementIndex: 0 } });
      expect(rowsOf(await sql(host, 'SELECT count(*) FROM t'))).toEqual([[1]]);
    }
    const stats = await host.stats();
    expect(stats).toMatchObject({ groupsSealed: 1, writesOutsideBracket: 0, requestsFailed: cases.length });
    // …while a plain view and trigger are the user's to create (the authorizer told them apart wrong once).
    expect(await sql(host, 'CREATE VIEW v AS SELECT id FROM t')).toMatchObject({ ok: true });
    expect(await sql(host, 'CREATE TRIGGER tg AFTER DELETE ON t BEGIN SELECT 1; END')).toMatchObject({
      ok: true,
    });
    expect(rowsOf(await sql(host, 'SELECT count(*) FROM v'))).toEqual([[1]]);
  });

  it('rolls back the whole request when a statement fails', async () => {
    const volume = new MemoryVolume();
    const host = await kernel(volume);
    await sql(host, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)');
    await sql(host, "INSERT INTO t VALUES (1, 'a')");
    const groups = volume.groups.length;
    const reply = await host.execute({
      statements: [
        { sql: "INSERT INTO t VALUES (2, 'b')" },
        { sql: "UPDATE t SET v = 'changed' WHERE id = 1" },
        { sql: "INSERT INTO t VALUES (3, 'b')" },
        { sql: "INSERT INTO t VALUES (4, 'd')" },
      ],
    });
    expect(reply).toMatchObject({ ok: false, error: { sqlstate: '23505', statementIndex: 2 } });
    expect(rowsOf(await sql(host, 'SELECT id, v FROM t'))).toEqual([[1, 'a']]);
    expect(volume.groups).toHaveLength(groups);
    const readOnlyWrite = await host.execute({ statements: [{ sql: 'DELETE FROM t' }], readOnly: true });
    expect(readOnlyWrite).toMatchObject({ ok: false, error: { sqlstate: '25006' } });
    expect(rowsOf(await sql(host, 'SELECT count(*) FROM t'))).toEqual([[1]]);
  });

  it('seals exactly one group per committed write request, before its reply, and never writes outside the bracket', async () => {
    const volume = new MemoryVolume();
    const events: string[] = [];
    const host = await kernel(volume, {
      cachePages: 32,
      onGroup: (group) => events.push(`group ${group.seq}`),
    });
    const run = async (request: Parameters<KernelHost['execute']>[0]) => {
      const reply = await host.execute(request);
      events.push(reply.ok ? `reply ${reply.groupSeq ?? '-'}` : `failed ${reply.error.sqlstate}`);
      return reply;
    };
    await run({ statements: [{ sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)' }] });
    await run({ statements: [{ sql: fillSql(1, 5000) }, { sql: 'UPDATE t SET k = id % 97' }] });
    await run({ statements: [{ sql: 'CREATE INDEX t_k ON t(k)' }, { sql: 'CREATE INDEX t_v ON t(v)' }] });
    await run({ statements: [{ sql: 'SELECT count(*) FROM t WHERE k = 5' }], readOnly: true });
    await run({ statements: [{ sql: 'SELECT count(*) FROM t WHERE k = 5' }] }); // not declared read-only
    await run({ statements: [{ sql: "UPDATE t SET v = v || 'x' WHERE id % 3 = 0" }] }); // > cachePages pages
    await run({
      statements: [{ sql: 'DELETE FROM t WHERE id > 4000' }, { sql: 'INSERT INTO t(k) VALUES (1)' }],
    });
    await run({ statements: [{ sql: 'UPDATE t SET k = 0 WHERE id = -1' }] }); // changes nothing
    await run({ statements: [{ sql: 'INSERT INTO t(id) VALUES (1)' }] });
    expect(events).toEqual([
      'group 1',
      'reply 1',
      'group 2',
      'reply 2',
      'group 3',
      'reply 3',
      'reply -',
      'reply -',
      'group 4',
      'reply 4',
      'group 5',
      'reply 5',
      'reply -',
      'failed 23505',
    ]);
    const stats = await host.stats();
    expect(stats).toMatchObject({ groupsSealed: 5, writesOutsideBracket: 0, groupsRefused: 0 });
    const largest = Math.max(...volume.groups.map((group) => group.records.length));
    expect(largest).toBeGreaterThan(32);
    expect(volume.groups.map((group) => group.seq)).toEqual([1, 2, 3, 4, 5]);
    for (const group of volume.groups) {
      const pageNos = group.records.map((record) => record.pageNo);
      expect(new Set(pageNos).size).toBe(pageNos.length);
    }
  });

  it('rebuilds the database from its redo alone', async () => {
    const volume = new MemoryVolume();
    const writer = await kernel(volume, { cachePages: 24, sqliteCachePages: 10 });
    const workload = [
      'CREATE TABLE account(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL)',
      'CREATE TABLE ledger(id INTEGER PRIMARY KEY, account INTEGER REFERENCES account(id), amount INTEGER, memo TEXT)',
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO account SELECT i, printf('owner-%05d', i), 1000 FROM c",
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 6000) INSERT INTO ledger(account, amount, memo) SELECT 1 + i % 3000, i % 17, printf('%0150d', i) FROM c",
      'CREATE INDEX ledger_account ON ledger(account)',
      'UPDATE account SET balance = balance - 7 WHERE id % 11 = 0',
      'DELETE FROM ledger WHERE id % 2 = 0',
      'VACUUM',
      "INSERT INTO ledger(account, amount, memo) SELECT account, -amount, 'reversal' FROM ledger WHERE id % 5 = 1",
      'CREATE TABLE empty(x)',
      'DROP TABLE empty',
    ];
    for (const statement of workload) expect((await sql(writer, statement)).ok, statement).toBe(true);
    const queries = [
      'SELECT * FROM account ORDER BY id',
      'SELECT * FROM ledger ORDER BY id',
      'SELECT account, sum(amount), count(*) FROM ledger GROUP BY account ORDER BY account',
      'SELECT type, name, sql FROM sqlite_schema ORDER BY name',
    ];
    const expected = await writer.execute({
      statements: queries.map((text) => ({ sql: text })),
      readOnly: true,
    });
    expect((await writer.stats()).writesOutsideBracket).toBe(0);
    await writer.close();

    const replayed = new MemoryVolume();
    for (const group of volume.groups) replayed.apply(group);
    const reader = await kernel(replayed, { cachePages: 16 });
    const actual = await reader.execute({
      statements: queries.map((text) => ({ sql: text })),
      readOnly: true,
    });
    expect(actual.ok && actual.results).toEqual(expected.ok && expected.results);
    expect(rowsOf(await sql(reader, 'PRAGMA integrity_check'))).toEqual([['ok']]);
    expect(rowsOf(await sql(reader, 'PRAGMA foreign_key_check'))).toEqual([]);
  });

  it('ships whole pages when asked (the page-shipping comparison), and they rebuild the same database', async () => {
    const volume = new MemoryVolume();
    const writer = await kernel(volume, { cachePages: 64, shipFullPages: true });
    for (const statement of [
      'CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)',
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500) INSERT INTO t SELECT i, printf('%080d', i) FROM c",
      'UPDATE t SET body = upper(body) WHERE id % 7 = 0',
    ])
      expect((await sql(writer, statement)).ok, statement).toBe(true);
    const records = volume.groups.flatMap((group) => group.records);
    expect(records.length).toBeGreaterThan(0);
    for (const record of records)
      expect(record.runs.map((run) => [run.offset, run.bytes.length])).toEqual([[0, 4096]]);
    const expected = rowsOf(await sql(writer, 'SELECT * FROM t ORDER BY id'));
    await writer.close();
    const replayed = new MemoryVolume();
    for (const group of volume.groups) replayed.apply(group);
    const reader = await kernel(replayed, { cachePages: 16 });
    expect(rowsOf(await sql(reader, 'SELECT * FROM t ORDER BY id'))).toEqual(expected);
    expect(rowsOf(await sql(reader, 'PRAGMA integrity_check'))).toEqual([['ok']]);
  });

  it('reads misses through the host and never needs a page whose newest record is not durable', async () => {
    const volume = new MemoryVolume();
    const builder = await kernel(volume);
    await sql(builder, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    await sql(builder, fillSql(1, 2000, 300));
    await builder.close();

    const askedForPinned: number[] = [];
    let reads = 0;
    const host = await kernel(volume, {
      cachePages: 16,
      sqliteCachePages: 10,
      autoDurable: false,
      pageSource: async (pageNo: PageNo) => {
        reads++;
        if (volume.isPinned(pageNo)) askedForPinned.push(pageNo);
        return volume.read(pageNo);
      },
    });
    const scan = 'SELECT count(*), sum(length(v)) FROM t';
    expect(rowsOf(await sql(host, scan))).toEqual([[2000, 600_000]]);
    expect(reads).toBeGreaterThan(100);

    const firstSeq = 1; // each kernel numbers its groups from 1
    for (let k = 0; k < 4; k++) {
      const reply = await sql(host, "UPDATE t SET v = printf('%0300d', -id) WHERE id % 40 = ?", [k]);
      expect(reply).toMatchObject({ ok: true, results: [{ changes: 50 }], groupSeq: firstSeq + k });
      expect(rowsOf(await sql(host, scan))).toEqual([[2000, 600_000]]);
    }
    let stats = await host.stats();
    expect(stats.cache.pinnedPages).toBeGreaterThan(16);
    expect(stats.cache.growthsPastCapacity).toBeGreaterThan(0);

    // LSNs assigned but not durable yet: still pinned.
    for (let seq = firstSeq; seq < firstSeq + 4; seq++) host.assignLsns(seq, volume.assign(seq));
    expect(rowsOf(await sql(host, scan))).toEqual([[2000, 600_000]]);
    // The first group becomes durable: its pages may go, the others' stay.
    volume.vdl = volume.lsnsOf(firstSeq).at(-1)!;
    host.setVdl(volume.vdl);
    expect(rowsOf(await sql(host, scan))).toEqual([[2000, 600_000]]);
    const partial = (await host.stats()).cache;
    expect(partial.pinnedPages).toBeLessThan(stats.cache.pinnedPages);
    expect(partial.pinnedPages).toBeGreaterThan(0);

    volume.vdl = volume.lastLsn;
    host.setVdl(volume.vdl);
    stats = await host.stats();
    expect(stats.cache.sizePages).toBeLessThanOrEqual(16);
    expect(stats.cache.pinnedPages).toBe(0);
    expect(rowsOf(await sql(host, "SELECT count(*) FROM t WHERE v LIKE '-%'"))).toEqual([[200]]);
    expect(askedForPinned).toEqual([]);
    expect(stats.writesOutsideBracket).toBe(0);
  });

  it('refuses commits with 57P03 while storage does not accept writes, and then succeeds', async () => {
    const volume = new MemoryVolume();
    const host = await kernel(volume);
    await sql(host, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    await sql(host, fillSql(1, 100));
    const groups = volume.groups.length;
    const request = {
      statements: [{ sql: "UPDATE t SET v = 'new' WHERE id <= 50" }, { sql: fillSql(101, 200) }],
    };
    host.setAccepting(false, 'write quorum lost');
    const refused = await host.execute(request);
    expect(refused).toMatchObject({
      ok: false,
      error: { sqlstate: '57P03', code: 'NORTHLIGHT_NOT_ACCEPTING_WRITES' },
    });
    expect(!refused.ok && refused.error.message).toMatch(
      /not accepting writes \(write quorum lost\).*retried/,
    );
    expect(volume.groups).toHaveLength(groups);
    expect(rowsOf(await sql(host, "SELECT count(*), sum(v = 'new') FROM t"))).toEqual([[100, 0]]);
    expect(await host.stats()).toMatchObject({ groupsRefused: 1 });

    host.setAccepting(true);
    expect(await host.execute(request)).toMatchObject({ ok: true, groupSeq: groups + 1 });
    expect(rowsOf(await sql(host, "SELECT count(*), sum(v = 'new') FROM t"))).toEqual([[200, 50]]);
  });

  it('fails a statement whose page cannot be read (error or timeout) and serves the next request', async () => {
    const volume = new MemoryVolume();
    const builder = await kernel(volume);
    await sql(builder, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    await sql(builder, fillSql(1, 500, 200));
    await builder.close();

    let mode: 'ok' | 'fail' | 'hang' = 'ok';
    const host = await kernel(volume, {
      cachePages: 16,
      sqliteCachePages: 10,
      pageReadTimeoutMs: 200,
      pageSource: (pageNo: PageNo) => {
        if (pageNo > 0 && mode === 'fail') return Promise.reject(new Error('storage node unreachable'));
        if (pageNo > 0 && mode === 'hang') return new Promise<Uint8Array>(() => {});
        return Promise.resolve(volume.read(pageNo));
      },
    });
    const scan = 'SELECT count(*) FROM t WHERE v > ?';
    mode = 'fail';
    const failed = await sql(host, scan, ['']);
    expect(failed).toMatchObject({
      ok: false,
      error: { sqlstate: '58030', code: 'NORTHLIGHT_PAGE_READ_FAILED' },
    });
    expect(!failed.ok && failed.error.message).toMatch(
      /^page \d+ could not be read from storage: storage node unreachable$/,
    );
    mode = 'ok';
    expect(rowsOf(await sql(host, scan, ['']))).toEqual([[500]]);

    await sql(host, 'PRAGMA shrink_memory');
    await sql(host, "UPDATE t SET v = 'x' WHERE id = 1"); // churn SQLite's cache
    mode = 'hang';
    const started = performance.now();
    const timedOut = await sql(host, 'SELECT sum(length(v)) FROM t WHERE id > 250');
    expect(timedOut).toMatchObject({ ok: false, error: { sqlstate: '58030' } });
    expect(!timedOut.ok && timedOut.error.message).toMatch(/no answer within 200 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
    mode = 'ok';
    expect(rowsOf(await sql(host, scan, ['']))).toEqual([[500]]);
    expect(rowsOf(await sql(host, 'PRAGMA integrity_check'))).toEqual([['ok']]);
  });

  it('commits a 100k-row request as one group and refuses one above maxGroupPages with 54000', async () => {
    const volume = new MemoryVolume();
    const host = await kernel(volume, { cachePages: 64 });
    await sql(host, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER)');
    const statements = Array.from({ length: 100_000 }, (_, index) => ({
      sql: 'INSERT INTO t(v, n) VALUES (?, ?)',
      params: [`row-${index}-${'x'.repeat(80)}`, index],
    }));
    const bulk = await host.execute({ statements });
    expect(bulk).toMatchObject({ ok: true, groupSeq: 2 });
    expect(volume.groups.at(-1)!.records.length).toBeGreaterThan(2000);
    expect(rowsOf(await sql(host, 'SELECT count(*), sum(n) FROM t'))).toEqual([[100_000, 4_999_950_000]]);
    expect(await host.stats()).toMatchObject({ writesOutsideBracket: 0, groupsSealed: 2 });

    const limited = await kernel(new MemoryVolume(), { maxGroupPages: 200 });
    await sql(limited, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    const tooLarge = await sql(limited, fillSql(1, 20_000));
    expect(tooLarge).toMatchObject({
      ok: false,
      error: { sqlstate: '54000', code: 'NORTHLIGHT_TRANSACTION_TOO_LARGE' },
    });
    expect(rowsOf(await sql(limited, 'SELECT count(*) FROM t'))).toEqual([[0]]);
    expect((await sql(limited, fillSql(1, 1000))).ok).toBe(true);
    expect(await limited.stats()).toMatchObject({ groupsSealed: 2, writesOutsideBracket: 0 });
  });

  it('stops a runaway statement when its signal aborts, rolls its transaction back and serves the next', async () => {
    const volume = new MemoryVolume();
    const host = await kernel(volume);
    await sql(host, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    await sql(host, fillSql(1, 100));
    const groups = volume.groups.length;
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    // A write, then a statement that never ends on its own, in one transaction: neither may stay.
    const startedMs = performance.now();
    const stopped = await host.execute(
      { statements: [{ sql: "UPDATE t SET v = 'lost' WHERE id <= 50" }, { sql: endless }] },
      AbortSignal.timeout(300),
    );
    const tookMs = performance.now() - startedMs;
    expect(stopped).toMatchObject({
      ok: false,
      error: { sqlstate: '57014', code: 'SQLITE_INTERRUPT', statementIndex: 1 },
    });
    expect(tookMs).toBeGreaterThanOrEqual(250);
    expect(tookMs).toBeLessThan(5_000);
    expect(volume.groups).toHaveLength(groups);
    expect(rowsOf(await sql(host, "SELECT count(*), sum(v = 'lost') FROM t"))).toEqual([[100, 0]]);

    // A long result is stopped between rows too (rows are read in JavaScript, between steps).
    const rowsStopped = await host.execute(
      {
        statements: [
          {
            sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 900000) SELECT x FROM c',
          },
        ],
        readOnly: true,
      },
      AbortSignal.timeout(50),
    );
    expect(rowsStopped).toMatchObject({ ok: false, error: { sqlstate: '57014' } });

    // Cancelled while queued behind another request: stopped as soon as it starts; the one ahead is not.
    const blocker = new AbortController();
    const ahead = host.execute({ statements: [{ sql: endless }], readOnly: true }, blocker.signal);
    const queued = new AbortController();
    const behind = host.execute({ statements: [{ sql: fillSql(101, 110) }] }, queued.signal);
    const third = sql(host, 'SELECT count(*) FROM t');
    await new Promise((resolve) => setTimeout(resolve, 100));
    queued.abort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    blocker.abort();
    expect(await ahead).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(await behind).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(rowsOf(await third)).toEqual([[100]]);

    // An already aborted signal: the request is not even sent; and a finished one is not undone.
    expect(await host.execute({ statements: [{ sql: 'SELECT 1' }] }, AbortSignal.abort())).toMatchObject({
      ok: false,
      error: { sqlstate: '57014' },
    });
    const late = new AbortController();
    expect(await host.execute({ statements: [{ sql: fillSql(101, 110) }] }, late.signal)).toMatchObject({
      ok: true,
    });
    late.abort();
    expect(rowsOf(await sql(host, 'SELECT count(*) FROM t'))).toEqual([[110]]);
    expect(volume.groups).toHaveLength(groups + 1);
  });

  it('answers a queued request at once when it waits too long or is cancelled, and then it never runs', async () => {
    const volume = new MemoryVolume();
    const host = await kernel(volume);
    await sql(host, 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    const blocker = new AbortController();
    const ahead = host.execute({ statements: [{ sql: endless }], readOnly: true }, blocker.signal);
    // Behind it: one with a wait limit, one cancelled while it waits. Both are answered long before the
    // statement ahead ends, and neither ever runs.
    const waitedFrom = performance.now();
    const limited = await host.execute({ statements: [{ sql: fillSql(1, 10) }] }, undefined, 300);
    const waitedMs = performance.now() - waitedFrom;
    expect(limited).toMatchObject({ ok: false, error: { sqlstate: '55P03' } });
    expect(!limited.ok && limited.error.message).toMatch(
      /waited \d+ ms for the SQL writer while another statement ran/,
    );
    expect(waitedMs).toBeGreaterThanOrEqual(280);
    expect(waitedMs).toBeLessThan(3_000);
    const cancel = new AbortController();
    const cancelled = host.execute({ statements: [{ sql: fillSql(11, 20) }] }, cancel.signal);
    setTimeout(() => cancel.abort(), 50);
    const cancelledFrom = performance.now();
    expect(await cancelled).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(performance.now() - cancelledFrom).toBeLessThan(3_000);
    blocker.abort();
    expect(await ahead).toMatchObject({ ok: false, error: { sqlstate: '57014' } });
    expect(rowsOf(await sql(host, 'SELECT count(*) FROM t'))).toEqual([[0]]);

    // A transaction's steps are never given up on: the step after them must find the transaction.
    const open = await host.execute(
      { statements: [{ sql: fillSql(1, 1) }], transaction: { id: 7, step: 'open' } },
      undefined,
      1,
    );
    expect(open).toMatchObject({ ok: true });
    expect(await host.execute({ statements: [], transaction: { id: 7, step: 'commit' } })).toMatchObject({
      ok: true,
    });

    // The race: requests whose limit ends about when the worker reaches them. Each is either answered
    // 55P03 and never ran, or ran and was answered with its result: never both, never neither.
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        host.execute(
          { statements: [{ sql: `INSERT INTO t VALUES (${100 + index}, 'r')` }] },
          undefined,
          1 + (index % 4),
        ),
      ),
    );
    const ran = new Set(
      (rowsOf(await sql(host, 'SELECT id FROM t WHERE id >= 100')) as number[][]).map((row) => row[0]),
    );
    let gaveUp = 0;
    replies.forEach((reply, index) => {
      if (reply.ok) expect(ran.has(100 + index), `request ${index} answered ok`).toBe(true);
      else {
        expect(reply.error.sqlstate, `request ${index}`).toBe('55P03');
        expect(ran.has(100 + index), `request ${index} answered 55P03`).toBe(false);
        gaveUp++;
      }
    });
    console.log(`wait-limit race: ${replies.length - gaveUp} ran, ${gaveUp} given up on`);
    expect(rowsOf(await sql(host, 'PRAGMA integrity_check'))).toEqual([['ok']]);
  });

  it('fails to start with a clear error when page 0 cannot be read', async () => {
    const start = KernelHost.start({
      pageSource: () => Promise.reject(new Error('no storage node answers')),
      onGroup: () => {},
      cachePages: 16,
      pageReadTimeoutMs: 1000,
    });
    await expect(start).rejects.toThrow(/page 0 could not be read from storage: no storage node answers/);
  });

  it('fails every call once the worker hits an assertion', async () => {
    const host = await kernel(new MemoryVolume(), { autoDurable: false });
    await sql(host, 'CREATE TABLE t(x)');
    host.assignLsns(7, [asLsn(1n)]); // group 7 was never sealed: a bug in the caller
    await expect(sql(host, 'SELECT 1')).rejects.toThrow(
      /the SQL kernel worker failed: LSNs assigned to group 7/,
    );
    await expect(host.stats()).rejects.toThrow(/worker failed/);
  });
});
