/**
 * The kernel's small pure parts, without SQLite: the windowed page diff (the same runs as protocol's
 * `diffPages`), the SQLSTATE mapping of errors and refusals, the scan that decides whether an entry
 * holds one statement, INTEGER conversion, the flat group encoding the worker transfers, and the page
 * channel's handshake (including its races R1–R3).
 */
import { allocateBytes, type DiffRun, diffPages } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeGroupMessage, encodeGroupMessage } from '../../src/kernel/messages.js';
import {
  answerPageRequest,
  createPageChannelBuffer,
  PageChannelClient,
} from '../../src/kernel/page-channel.js';
import { diffPage } from '../../src/kernel/page-diff.js';
import { resultCodeName, sqlErrorFromRefusal, sqlErrorFromSqlite } from '../../src/kernel/sql-errors.js';
import { integerValue, isBlankSql } from '../../src/kernel/sql-session.js';

describe('diffPage', () => {
  /** A page and a copy with a few edits: short bursts, single bytes, runs across block boundaries. */
  const pagePair = fc
    .record({
      seed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      edits: fc.array(
        fc.record({ at: fc.nat(4095), length: fc.integer({ min: 1, max: 200 }), value: fc.nat(255) }),
        {
          maxLength: 12,
        },
      ),
      offsets: fc.constantFrom([0, 0], [8, 16], [4, 4]),
    })
    .map(({ seed, edits, offsets }) => {
      const beforeBuffer = new Uint8Array(4096 + offsets[0]!);
      const afterBuffer = new Uint8Array(4096 + offsets[1]!);
      const before = beforeBuffer.subarray(offsets[0]!);
      const after = afterBuffer.subarray(offsets[1]!);
      for (let index = 0; index < 4096; index++) before[index] = seed[index % 64]!;
      after.set(before);
      for (const edit of edits) after.fill(edit.value, edit.at, Math.min(4096, edit.at + edit.length));
      return { before, after };
    });

  it('gives exactly the runs of diffPages', () => {
    fc.assert(
      fc.property(pagePair, ({ before, after }) => {
        expect(diffPage(before, after).map(plainRun)).toEqual(diffPages(before, after).map(plainRun));
      }),
      { numRuns: 500 },
    );
  });

  it('falls back to diffPages for unaligned views', () => {
    const before = new Uint8Array(4097).subarray(1);
    const after = new Uint8Array(4096);
    after[4095] = 1;
    expect(diffPage(before, after).map(plainRun)).toEqual([{ offset: 4095, bytes: [1] }]);
  });
});

describe('sqlErrorFromSqlite', () => {
  const cases: [number, string, string, string][] = [
    [1, 'near "SELEC": syntax error', '42601', 'SQLITE_ERROR'],
    [1, 'incomplete input', '42601', 'SQLITE_ERROR'],
    [1, 'unrecognized token: "\'abc"', '42601', 'SQLITE_ERROR'],
    [1, 'no such table: missing', '42P01', 'SQLITE_ERROR'],
    [1, 'no such column: nope', '42703', 'SQLITE_ERROR'],
    [1, 'table t already exists', '42P07', 'SQLITE_ERROR'],
    [1, 'something else entirely', 'XX000', 'SQLITE_ERROR'],
    [2067, 'UNIQUE constraint failed: t.v', '23505', 'SQLITE_CONSTRAINT_UNIQUE'],
    [1555, 'UNIQUE constraint failed: t.id', '23505', 'SQLITE_CONSTRAINT_PRIMARYKEY'],
    [1299, 'NOT NULL constraint failed: t.v', '23502', 'SQLITE_CONSTRAINT_NOTNULL'],
    [275, 'CHECK constraint failed: v > 0', '23514', 'SQLITE_CONSTRAINT_CHECK'],
    [787, 'FOREIGN KEY constraint failed', '23503', 'SQLITE_CONSTRAINT_FOREIGNKEY'],
    [3091, 'cannot store TEXT value in INTEGER column t.v', '42804', 'SQLITE_CONSTRAINT_DATATYPE'],
    [1811, 'raised by a trigger', '23000', 'SQLITE_CONSTRAINT_TRIGGER'],
    [20, 'datatype mismatch', '42804', 'SQLITE_MISMATCH'],
    [18, 'string or blob too big', '54000', 'SQLITE_TOOBIG'],
    [7, 'out of memory', '54000', 'SQLITE_NOMEM'],
    [9, 'interrupted', '57014', 'SQLITE_INTERRUPT'],
    [11, 'database disk image is malformed', 'XX001', 'SQLITE_CORRUPT'],
    [26, 'file is not a database', 'XX001', 'SQLITE_NOTADB'],
    [10, 'disk I/O error', '58030', 'SQLITE_IOERR'],
    [13, 'database or disk is full', '53100', 'SQLITE_FULL'],
    [3, 'access permission denied', '42501', 'SQLITE_PERM'],
    [1, 'no such function: now', '42883', 'SQLITE_ERROR'],
    [1, 'integer overflow', '22003', 'SQLITE_ERROR'],
    [5, 'database is locked', 'XX000', 'SQLITE_BUSY'],
  ];
  it.each(cases)('maps %i "%s" to %s', (rc, message, sqlstate, code) => {
    expect(sqlErrorFromSqlite(rc, message, undefined)).toEqual({ code, sqlstate, message });
  });

  it('explains a BUSY from the VFS with the refusal behind it', () => {
    const busy = sqlErrorFromSqlite(5, 'database is locked', {
      kind: 'not-accepting',
      reason: 'write quorum lost',
    });
    expect(busy.sqlstate).toBe('57P03');
    expect(busy.message).toMatch(/storage is not accepting writes \(write quorum lost\).*retried/);
    const tooLarge = sqlErrorFromSqlite(5, 'database is locked', { kind: 'group-too-large', limitPages: 10 });
    expect(tooLarge).toMatchObject({ sqlstate: '54000', code: 'NORTHLIGHT_TRANSACTION_TOO_LARGE' });
    const read = sqlErrorFromSqlite(266, 'disk I/O error', {
      kind: 'page-read-failed',
      pageNo: 7,
      message: 'down',
    });
    expect(read).toMatchObject({ sqlstate: '58030', message: 'page 7 could not be read from storage: down' });
  });

  it('keeps SQLite’s mapping when the refusal does not explain the code', () => {
    const refusal = { kind: 'not-accepting', reason: 'x' } as const;
    expect(sqlErrorFromSqlite(2067, 'UNIQUE constraint failed: t.v', refusal).sqlstate).toBe('23505');
  });

  it('names codes, extended ones included', () => {
    expect(resultCodeName(0)).toBe('SQLITE_OK');
    expect(resultCodeName(19)).toBe('SQLITE_CONSTRAINT');
    expect(resultCodeName(2067)).toBe('SQLITE_CONSTRAINT_UNIQUE');
    expect(resultCodeName(10 | (99 << 8))).toBe('SQLITE_IOERR_99');
  });

  it('gives every refusal a SQLSTATE and a message', () => {
    expect(sqlErrorFromRefusal({ kind: 'not-authorized', what: 'ATTACH' }).sqlstate).toBe('42501');
    expect(sqlErrorFromRefusal({ kind: 'result-too-large', limitRows: 5 }).sqlstate).toBe('54000');
    expect(sqlErrorFromRefusal({ kind: 'bad-parameters', message: 'm' }).sqlstate).toBe('08P01');
    expect(sqlErrorFromRefusal({ kind: 'read-only', statement: 'DELETE FROM t' }).sqlstate).toBe('25006');
    expect(sqlErrorFromRefusal({ kind: 'parameters-need-one-statement' }).sqlstate).toBe('42601');
  });
});

describe('isBlankSql', () => {
  const utf8 = (text: string) => new TextEncoder().encode(text);
  it.each([
    ['', true],
    ['  ;\n\t; ', true],
    ['-- trailing comment', true],
    ['; /* block */ -- line\n ;', true],
    ['/* unterminated', true],
    ['SELECT 1', false],
    ['; -- c\nSELECT 1', false],
    ['/* c */ x', false],
  ])('%j → %s', (text, blank) => {
    expect(isBlankSql(utf8(text), 0)).toBe(blank);
  });
});

describe('integerValue', () => {
  it('gives a number when safe and the exact decimal string otherwise', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (value) => {
        const low = Number(BigInt.asIntN(32, value));
        const high = Number(BigInt.asIntN(32, value >> 32n));
        const converted = integerValue(low, high);
        const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
        expect(converted).toEqual(safe ? Number(value) : value.toString());
      }),
    );
  });
});

describe('group messages', () => {
  it('round-trip, from pooled run arrays into fresh transferable ones', () => {
    const runArbitrary = fc.record({
      offset: fc.nat(4095),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.record({ pageNo: fc.nat(1 << 20), runs: fc.array(runArbitrary, { maxLength: 5 }) }), {
          minLength: 1,
          maxLength: 10,
        }),
        (records) => {
          // Runs from the protocol's slabs, as diffPages makes them.
          const pooled = records.map((record) => ({
            pageNo: record.pageNo,
            runs: record.runs.map((run): DiffRun => {
              const bytes = allocateBytes(run.bytes.length);
              bytes.set(run.bytes);
              return { offset: run.offset, bytes };
            }),
          }));
          const message = encodeGroupMessage({ seq: 3, sizePages: 9, records: pooled });
          expect(message.bytes.byteOffset).toBe(0);
          expect(message.bytes.buffer.byteLength).toBe(message.bytes.length);
          const decoded = decodeGroupMessage(structuredClone(message));
          expect(decoded.seq).toBe(3);
          expect(decoded.sizePages).toBe(9);
          expect(decoded.records.map((r) => ({ pageNo: r.pageNo, runs: r.runs.map(plainRun) }))).toEqual(
            records.map((r) => ({ pageNo: r.pageNo, runs: r.runs.map(plainRun) })),
          );
        },
      ),
    );
  });
});

function plainRun(run: DiffRun): { offset: number; bytes: number[] } {
  return { offset: run.offset, bytes: [...run.bytes] };
}

describe('page channel', () => {
  const page = new Uint8Array(4096).fill(7);

  it('returns the page the host answered with, as a fresh copy', () => {
    const buffer = createPageChannelBuffer();
    const client = new PageChannelClient(buffer, {
      timeoutMs: 1000,
      postRequest: (requestId) => answerPageRequest(buffer, requestId, { page }),
      now: () => performance.now(),
    });
    const result = client.readPage(3);
    expect(result.ok && result.page).toEqual(page);
    expect(result.ok && result.page.buffer).not.toBe(buffer);
  });

  it('returns the host’s failure message', () => {
    const buffer = createPageChannelBuffer();
    const client = new PageChannelClient(buffer, {
      timeoutMs: 1000,
      postRequest: (requestId) => answerPageRequest(buffer, requestId, { failure: 'storage unreachable ✗' }),
      now: () => performance.now(),
    });
    expect(client.readPage(3)).toEqual({ ok: false, message: 'storage unreachable ✗' });
  });

  it('times out, drops the late answer (R1) and serves the next request (R3)', () => {
    const buffer = createPageChannelBuffer();
    const requests: number[] = [];
    let answerNow = false;
    const client = new PageChannelClient(buffer, {
      timeoutMs: 20,
      postRequest: (requestId) => {
        requests.push(requestId);
        if (answerNow) answerPageRequest(buffer, requestId, { page });
      },
      now: () => performance.now(),
    });
    const timedOut = client.readPage(1);
    expect(timedOut).toEqual({ ok: false, message: 'no answer within 20 ms (pageReadTimeoutMs)' });
    expect(answerPageRequest(buffer, requests[0]!, { page })).toBe(false);
    answerNow = true;
    const next = client.readPage(2);
    expect(next.ok).toBe(true);
    expect(answerPageRequest(buffer, requests[0]!, { page })).toBe(false);
  });
});
