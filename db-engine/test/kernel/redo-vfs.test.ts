/**
 * Proves the redo VFS's invariants (redo-vfs.ts V1–V6) two ways, in this thread:
 * - driving the VFS directly through its raw pointer API, as SQLite would, to reach cases SQLite
 *   rarely produces (a page written twice in a group, a write outside the bracket, a refused commit,
 *   partial and past-the-end reads, the size taken from page 0's header);
 * - running real SQL on a session over the VFS, for the paths that need SQLite's own behaviour: a
 *   page evicted and then written whose base cannot be read (the commit must fail cleanly, never be
 *   rewritten outside the bracket), and a VACUUM that shrinks the file (pages cut off are zeroed in
 *   the same group, so storage holds zeros past the end).
 */
import * as VFS from '@journeyapps/wa-sqlite/src/VFS.js';
import { applyRuns } from '@northlight/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { PageCache } from '../../src/kernel/page-cache.js';
import { type PageGroup, type PageReadResult, RedoVfs } from '../../src/kernel/redo-vfs.js';
import { SqlSession } from '../../src/kernel/sql-session.js';
import { loadSqliteWasm, type SqliteWasm } from '../../src/kernel/sqlite-wasm.js';

const PAGE = 4096;
let wasm: SqliteWasm;

function fill(first: number, last: number, width = 100): string {
  return (
    `WITH RECURSIVE c(i) AS (SELECT ${first} UNION ALL SELECT i + 1 FROM c WHERE i < ${last}) ` +
    `INSERT INTO t SELECT i, printf('%0${width}d', i) FROM c`
  );
}

beforeAll(async () => {
  wasm = await loadSqliteWasm();
});

/** Storage as the redo log builds it: zeros, then every sealed group's runs applied in order. */
class Storage {
  readonly pages = new Map<number, Uint8Array>();
  readonly groups: PageGroup[] = [];
  reads: number[] = [];
  failReads: ((pageNo: number) => string | undefined) | undefined;
  accepting = true;

  readPage(pageNo: number): PageReadResult {
    this.reads.push(pageNo);
    const failure = this.failReads?.(pageNo);
    if (failure !== undefined) return { ok: false, message: failure };
    return { ok: true, page: (this.pages.get(pageNo) ?? new Uint8Array(PAGE)).slice() };
  }

  seal(group: PageGroup): 'ok' | 'busy' {
    if (!this.accepting) return 'busy';
    this.groups.push(group);
    for (const record of group.records) {
      this.pages.set(
        record.pageNo,
        applyRuns(this.pages.get(record.pageNo) ?? new Uint8Array(PAGE), record.runs),
      );
    }
    return 'ok';
  }
}

/** The VFS with its main file open, and helpers that call it as SQLite does (pointers, lo/hi offsets). */
function openVfs(storage: Storage, options: { capacityPages?: number; maxGroupPages?: number } = {}) {
  const cache = new PageCache({ capacityPages: options.capacityPages ?? 64 });
  const vfs = new RedoVfs('test', wasm, {
    cache,
    pageSource: storage,
    sink: storage,
    maxGroupPages: options.maxGroupPages ?? 1000,
    maxUnassignedGroups: 1000,
  });
  const pFile = wasm._sqlite3_malloc(64);
  const rc = vfs.jOpen(
    'volume.db',
    pFile,
    VFS.SQLITE_OPEN_MAIN_DB | VFS.SQLITE_OPEN_CREATE,
    new DataView(new ArrayBuffer(4)),
  );
  const buffer = wasm._sqlite3_malloc(PAGE);
  return {
    vfs,
    cache,
    openRc: rc,
    write(pageNo: number, bytes: Uint8Array, within = 0): number {
      wasm.HEAPU8.set(bytes, buffer);
      return vfs.xWrite(pFile, buffer, bytes.length, pageNo * PAGE + within, 0);
    },
    read(offset: number, length: number): { rc: number; bytes: Uint8Array } {
      const rc = vfs.xRead(pFile, buffer, length, offset, 0);
      return { rc, bytes: wasm.HEAPU8.slice(buffer, buffer + length) };
    },
    control(op: number): number {
      return vfs.xFileControl(pFile, op, 0);
    },
    sync(): number {
      return vfs.jSync(pFile, 0);
    },
    truncate(sizeBytes: number): number {
      return vfs.jTruncate(pFile, sizeBytes);
    },
  };
}

function filled(value: number, length = PAGE): Uint8Array {
  return new Uint8Array(length).fill(value);
}

/** A page 0 whose header says the database has `pages` pages of 4096 bytes. */
function headerPage(pages: number): Uint8Array {
  const page = new Uint8Array(PAGE);
  page.set(new TextEncoder().encode('SQLite format 3\0'));
  const view = new DataView(page.buffer);
  view.setUint16(16, PAGE);
  view.setUint32(24, 5);
  view.setUint32(28, pages);
  view.setUint32(92, 5);
  return page;
}

const BEGIN = VFS.SQLITE_FCNTL_BEGIN_ATOMIC_WRITE;
const COMMIT = VFS.SQLITE_FCNTL_COMMIT_ATOMIC_WRITE;
const ROLLBACK = VFS.SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE;

describe('RedoVfs, driven directly', () => {
  it('takes the file size from page 0: zeros → empty, a valid header → its size, anything else → cannot open', () => {
    const empty = new Storage();
    expect(openVfs(empty).vfs.sizePages).toBe(0);
    const existing = new Storage();
    existing.pages.set(0, headerPage(12));
    expect(openVfs(existing).vfs.sizePages).toBe(12);
    const foreign = new Storage();
    foreign.pages.set(0, filled(1));
    const opened = openVfs(foreign);
    expect(opened.openRc).toBe(VFS.SQLITE_CANTOPEN);
    expect(opened.vfs.refusal).toMatchObject({ kind: 'page-read-failed', pageNo: 0 });
  });

  it('seals one group per bracket, one record per page against the before-group image (V2)', () => {
    const storage = new Storage();
    const { vfs, write, control } = openVfs(storage);
    expect(control(BEGIN)).toBe(VFS.SQLITE_OK);
    expect(write(0, headerPage(3))).toBe(VFS.SQLITE_OK);
    expect(write(1, filled(1))).toBe(VFS.SQLITE_OK);
    expect(write(2, filled(2))).toBe(VFS.SQLITE_OK);
    expect(write(1, filled(9, 10), 100)).toBe(VFS.SQLITE_OK); // page 1 again, partly
    expect(control(COMMIT)).toBe(VFS.SQLITE_OK);
    expect(storage.groups).toHaveLength(1);
    expect(storage.groups[0]!.records.map((record) => record.pageNo)).toEqual([0, 1, 2]);
    const expected = filled(1);
    expected.fill(9, 100, 110);
    expect(storage.pages.get(1)).toEqual(expected);
    expect(vfs.stats()).toMatchObject({ groupsSealed: 1, writesOutsideBracket: 0, sizePages: 3 });
    // Pages past the committed end are diffed against zeros: no storage read was needed.
    expect(storage.reads).toEqual([0]);
  });

  it('serves partial reads from the page and zero-fills reads past the end', () => {
    const storage = new Storage();
    storage.pages.set(0, headerPage(2));
    storage.pages.set(1, filled(4));
    const { read } = openVfs(storage);
    expect(read(0, 100)).toEqual({ rc: VFS.SQLITE_OK, bytes: headerPage(2).subarray(0, 100) });
    expect(read(PAGE + 24, 16)).toEqual({ rc: VFS.SQLITE_OK, bytes: filled(4, 16) });
    expect(read(2 * PAGE, PAGE)).toEqual({ rc: VFS.SQLITE_IOERR_SHORT_READ, bytes: new Uint8Array(PAGE) });
    expect(storage.reads).toEqual([0, 1]);
  });

  it('undoes a rolled-back or refused group completely (V3), and a commit can then be retried', () => {
    const storage = new Storage();
    storage.pages.set(0, headerPage(2));
    storage.pages.set(1, filled(4));
    const { vfs, cache, write, read, control } = openVfs(storage);
    read(PAGE, PAGE);
    control(BEGIN);
    write(1, filled(5));
    write(2, filled(6));
    control(ROLLBACK);
    expect(cache.peek(1)).toEqual(filled(4));
    expect(cache.isEvictable(1)).toBe(true);
    expect(vfs.sizePages).toBe(2);

    storage.accepting = false;
    control(BEGIN);
    write(1, filled(5));
    write(2, filled(6));
    expect(control(COMMIT)).toBe(VFS.SQLITE_BUSY);
    expect(control(ROLLBACK)).toBe(VFS.SQLITE_OK); // SQLite's hint after the failed commit
    expect(cache.peek(1)).toEqual(filled(4));
    expect(vfs.sizePages).toBe(2);
    expect(vfs.stats()).toMatchObject({ groupsSealed: 0, groupsRefused: 1 });

    storage.accepting = true;
    control(BEGIN);
    write(1, filled(5));
    write(2, filled(6));
    expect(control(COMMIT)).toBe(VFS.SQLITE_OK);
    expect(storage.groups.map((group) => group.seq)).toEqual([1]);
    expect(storage.pages.get(1)).toEqual(filled(5));
    expect(vfs.sizePages).toBe(3);
  });

  it('refuses commits while not accepting, with the reason', () => {
    const storage = new Storage();
    const { vfs, write, control } = openVfs(storage);
    vfs.setAccepting(false, 'write quorum lost');
    control(BEGIN);
    write(0, filled(1));
    expect(control(COMMIT)).toBe(VFS.SQLITE_BUSY);
    expect(vfs.refusal).toEqual({ kind: 'not-accepting', reason: 'write quorum lost' });
    expect(storage.groups).toHaveLength(0);
  });

  it('does not seal a group in which no byte changed', () => {
    const storage = new Storage();
    storage.pages.set(0, headerPage(2));
    storage.pages.set(1, filled(4));
    const { write, control, cache } = openVfs(storage);
    control(BEGIN);
    write(1, filled(4));
    write(2, new Uint8Array(PAGE)); // a zero-filled page past the end
    expect(control(COMMIT)).toBe(VFS.SQLITE_OK);
    expect(storage.groups).toHaveLength(0);
    expect(cache.isEvictable(1)).toBe(true);
  });

  it('refuses a group past maxGroupPages with BUSY, never IOERR (V5)', () => {
    const storage = new Storage();
    const { vfs, write, control } = openVfs(storage, { maxGroupPages: 2 });
    control(BEGIN);
    expect(write(0, filled(1))).toBe(VFS.SQLITE_OK);
    expect(write(1, filled(1))).toBe(VFS.SQLITE_OK);
    expect(write(1, filled(2))).toBe(VFS.SQLITE_OK); // the same page again does not count
    expect(write(2, filled(1))).toBe(VFS.SQLITE_BUSY);
    expect(vfs.refusal).toEqual({ kind: 'group-too-large', limitPages: 2 });
    control(ROLLBACK);
    expect(vfs.sizePages).toBe(0);
  });

  it('counts a write outside the bracket as an alarm and seals it at xSync (V6)', () => {
    const storage = new Storage();
    const { vfs, write, sync, truncate } = openVfs(storage);
    write(0, filled(1));
    write(1, filled(2));
    expect(storage.groups).toHaveLength(0);
    // A spilled transaction's rollback truncates before its sync: tolerated, and counted.
    expect(truncate(PAGE)).toBe(VFS.SQLITE_OK);
    expect(vfs.sizePages).toBe(1);
    expect(sync()).toBe(VFS.SQLITE_OK);
    expect(storage.groups).toHaveLength(1);
    expect(vfs.stats()).toMatchObject({ writesOutsideBracket: 1, groupsSealed: 1, unexpectedTruncations: 1 });
  });

  it('zeroes the pages a shrinking commit cuts off, in the same group (V4)', () => {
    const storage = new Storage();
    storage.pages.set(0, headerPage(4));
    for (const pageNo of [1, 2, 3]) storage.pages.set(pageNo, filled(pageNo));
    const { vfs, write, read, control, truncate } = openVfs(storage);
    control(BEGIN);
    write(0, headerPage(2));
    write(1, filled(7));
    expect(control(COMMIT)).toBe(VFS.SQLITE_OK);
    expect(storage.groups[0]!.records.map((record) => record.pageNo)).toEqual([0, 1, 2, 3]);
    expect(storage.pages.get(2)).toEqual(new Uint8Array(PAGE));
    expect(storage.pages.get(3)).toEqual(new Uint8Array(PAGE));
    expect(truncate(2 * PAGE)).toBe(VFS.SQLITE_OK);
    expect(vfs.stats()).toMatchObject({ sizePages: 2, unexpectedTruncations: 0 });
    // Growing again: page 3 is diffed against zeros without a read, which is what storage holds.
    const reads = storage.reads.length;
    control(BEGIN);
    write(0, headerPage(4));
    write(3, filled(8));
    expect(control(COMMIT)).toBe(VFS.SQLITE_OK);
    expect(storage.reads).toHaveLength(reads);
    expect(storage.pages.get(3)).toEqual(filled(8));
    expect(read(3 * PAGE, PAGE).bytes).toEqual(filled(8));
  });
});

describe('RedoVfs under SQLite', () => {
  function sessionOver(storage: Storage, cachePages: number): Promise<SqlSession> {
    return SqlSession.open({
      pageSource: storage,
      sink: storage,
      cachePages,
      sqliteCachePages: 10,
    });
  }

  it('fails a commit whose evicted base page cannot be read, cleanly, and stays usable (V5)', async () => {
    const storage = new Storage();
    const writer = await sessionOver(storage, 10_000);
    const fill =
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<2000) INSERT INTO t SELECT i, printf('%0100d', i) FROM c";
    expect(
      writer.execute({
        statements: [{ sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)' }, { sql: fill }],
      }).ok,
    ).toBe(true);
    writer.close();

    const session = await sessionOver(storage, 16);
    const groupsBefore = storage.groups.length;
    // A page read twice in one request is a base read at commit: the page was evicted since SQLite read it.
    let readThisRequest = new Set<number>();
    storage.failReads = (pageNo) => {
      if (readThisRequest.has(pageNo)) return 'storage unreachable';
      readThisRequest.add(pageNo);
      return undefined;
    };
    const update = { statements: [{ sql: "UPDATE t SET v = v || 'x'" }] };
    const failed = session.execute(update);
    expect(failed).toMatchObject({ ok: false, error: { sqlstate: '58030' } });
    expect(!failed.ok && failed.error.statementIndex).toBeUndefined(); // the COMMIT failed, not the UPDATE
    expect(!failed.ok && failed.error.message).toMatch(/could not be read from storage: storage unreachable/);
    expect(storage.groups).toHaveLength(groupsBefore);

    storage.failReads = undefined;
    readThisRequest = new Set();
    const count = session.execute({ statements: [{ sql: "SELECT count(*) FROM t WHERE v LIKE '%x'" }] });
    expect(count).toMatchObject({ ok: true, results: [{ rows: [[0]] }] });
    expect(session.execute(update)).toMatchObject({ ok: true, results: [{ changes: 2000 }] });
    expect(session.stats()).toMatchObject({ writesOutsideBracket: 0, groupsSealed: 1 });
    expect(session.stats().cache.evictions).toBeGreaterThan(0);
    session.close();
  });

  it('fails a write statement whose page read fails mid-statement, and rolls it back', async () => {
    const storage = new Storage();
    const writer = await sessionOver(storage, 10_000);
    writer.execute({
      statements: [{ sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)' }, { sql: fill(1, 2000) }],
    });
    writer.close();
    const session = await sessionOver(storage, 16);
    storage.failReads = (pageNo) => (pageNo > 20 ? 'segment unavailable' : undefined);
    const update = { statements: [{ sql: "UPDATE t SET v = 'changed' WHERE id % 7 = 0" }] };
    const failed = session.execute(update);
    expect(failed).toMatchObject({ ok: false, error: { sqlstate: '58030', statementIndex: 0 } });
    storage.failReads = undefined;
    const changed = session.execute({ statements: [{ sql: "SELECT count(*) FROM t WHERE v = 'changed'" }] });
    expect(changed).toMatchObject({ ok: true, results: [{ rows: [[0]] }] });
    expect(session.execute(update)).toMatchObject({ ok: true, results: [{ changes: 285 }] });
    expect(session.execute({ statements: [{ sql: 'PRAGMA integrity_check' }] })).toMatchObject({
      ok: true,
      results: [{ rows: [['ok']] }],
    });
    session.close();
  });

  it('refuses a result above maxResultRows with 54000', async () => {
    const session = await SqlSession.open({
      pageSource: new Storage(),
      sink: new Storage(),
      cachePages: 64,
      maxResultRows: 10,
    });
    const series =
      'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) SELECT i FROM c';
    expect(session.execute({ statements: [{ sql: series, params: [10] }] })).toMatchObject({ ok: true });
    expect(session.execute({ statements: [{ sql: series, params: [11] }] })).toMatchObject({
      ok: false,
      error: { sqlstate: '54000', code: 'NORTHLIGHT_RESULT_TOO_LARGE' },
    });
    session.close();
  });

  it('shrinks the file with VACUUM, storage holds zeros past the end, and the volume reopens (V4)', async () => {
    const storage = new Storage();
    const session = await sessionOver(storage, 10_000);
    const fill =
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<3000) INSERT INTO t SELECT i, printf('%0200d', i) FROM c";
    session.execute({
      statements: [{ sql: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)' }, { sql: fill }],
    });
    session.execute({ statements: [{ sql: 'DELETE FROM t WHERE id > 100' }] });
    const before = session.sizePages;
    expect(session.execute({ statements: [{ sql: 'VACUUM' }] })).toMatchObject({ ok: true, groupSeq: 3 });
    expect(session.sizePages).toBeLessThan(before / 10);
    const beyondEnd = [...storage.pages].filter(
      ([pageNo, page]) => pageNo >= session.sizePages && page.some((b) => b !== 0),
    );
    expect(beyondEnd).toEqual([]);
    // Growing again diffs the old pages against zeros, which is what storage holds.
    session.execute({ statements: [{ sql: fill.replace('SELECT 1 ', 'SELECT 101 ') }] });
    expect(session.stats()).toMatchObject({ writesOutsideBracket: 0, unexpectedTruncations: 0 });
    session.close();

    const reopened = await sessionOver(storage, 16);
    const check = reopened.execute({
      statements: [{ sql: 'SELECT count(*), sum(id) FROM t' }, { sql: 'PRAGMA integrity_check' }],
    });
    expect(check).toMatchObject({ ok: true, results: [{ rows: [[3000, 4501500]] }, { rows: [['ok']] }] });
    reopened.close();
  });
});
