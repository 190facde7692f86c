/**
 * COPY on the connection state machine, driven in process over the test SQLite backend: the message
 * flows PostgreSQL documents (CopyInResponse, CopyData, CopyDone / CopyFail; CopyOutResponse,
 * CopyData, CopyDone) in the simple and the extended protocol, the whole COPY as one transaction (a
 * bad row, a CopyFail, a vanished or silent client leave nothing; inside BEGIN it joins the block),
 * errors with PostgreSQL's SQLSTATEs and CONTEXT line, the rest of a failed COPY dropped, and the
 * refusals (server files, binary, read-only); and over the engine's real kernel, a COPY larger than a
 * transaction may be (maxGroupPages) failing with 54000 and leaving nothing. Real clients (psql, node-postgres) are in
 * copy-clients.test.ts; the formats alone in copy-format.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness } from './support/harness.js';
import { startKernelBackend } from './support/kernel-backend.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';
import {
  type BackendMessage,
  commandTagOf,
  concat,
  dataRowValues,
  errorFields,
  frontend,
  text,
} from './support/wire.js';

function types(messages: readonly BackendMessage[]): string {
  return messages.map((message) => message.type).join('');
}

function find(messages: readonly BackendMessage[], type: string): BackendMessage[] {
  return messages.filter((message) => message.type === type);
}

function error(messages: readonly BackendMessage[]): Record<string, string> {
  const found = find(messages, 'E')[0];
  if (found === undefined) throw new Error(`no ErrorResponse in ${types(messages)}`);
  return errorFields(found.body);
}

function status(messages: readonly BackendMessage[]): string {
  const ready = find(messages, 'Z').at(-1);
  return ready === undefined ? '' : String.fromCharCode(ready.body[0] as number);
}

function tags(messages: readonly BackendMessage[]): string[] {
  return find(messages, 'C').map((message) => commandTagOf(message.body));
}

function rows(messages: readonly BackendMessage[]): (string | null)[][] {
  return find(messages, 'D').map((message) => dataRowValues(message.body).map(text));
}

/** The CopyData payloads of COPY TO, as one string. */
function copied(messages: readonly BackendMessage[]): string {
  return find(messages, 'd')
    .map((message) => new TextDecoder().decode(message.body))
    .join('');
}

/** Waits until the server asks for COPY data (CopyInResponse) or answers otherwise. */
function untilCopyIn(messages: readonly BackendMessage[]): boolean {
  return messages.some((message) => message.type === 'G' || message.type === 'Z');
}

let backend: SqliteTestBackend;
let harness: Harness;

beforeEach(async () => {
  backend = new SqliteTestBackend({ idleTimeoutMs: 60_000 });
  harness = new Harness(backend);
  await harness.start();
  await harness.roundTrip(
    frontend.query(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, flag BOOLEAN, data BYTEA, note VARCHAR(20))',
    ),
  );
});

afterEach(() => {
  backend.close();
});

async function select(sql: string): Promise<(string | null)[][]> {
  return rows(await harness.roundTrip(frontend.query(sql)));
}

describe('COPY FROM STDIN', () => {
  it('reads text format in CopyData cut anywhere, typed by column, and answers COPY n', async () => {
    const started = await harness.send(frontend.query('COPY t FROM STDIN'), untilCopyIn);
    expect(types(started)).toBe('G');
    // CopyInResponse: text format, 6 columns, each text.
    expect([...(started[0]?.body ?? [])]).toEqual([0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const data = new TextEncoder().encode(
      '1\tann\t1.5\tt\t\\\\x00ff\tplain\n' +
        '2\tb\\tc\\nd\\\\e\t-2\tfalse\t\\N\t\\303\\251\\x41\n' +
        '3\t\\N\t1e3\t\\N\t\\N\tcafé ☕\n',
    );
    // Split mid-row and inside the UTF-8 of "é" and "☕".
    const cuts = [5, 17, data.length - 6, data.length - 2];
    let from = 0;
    for (const cut of cuts) {
      await harness.send(frontend.copyData(data.subarray(from, cut)));
      from = cut;
    }
    const done = await harness.roundTrip(frontend.copyData(data.subarray(from)), frontend.copyDone());
    expect(tags(done)).toEqual(['COPY 3']);
    expect(status(done)).toBe('I');
    expect(
      await select(
        'SELECT id, name, score, flag, hex(data), note, typeof(id), typeof(score), typeof(data) FROM t ORDER BY id',
      ),
    ).toEqual([
      ['1', 'ann', '1.5', 't', '00FF', 'plain', 'integer', 'real', 'blob'],
      ['2', 'b\tc\nd\\e', '-2', 'f', '', 'éA', 'integer', 'real', 'null'],
      ['3', null, '1000', null, '', 'café ☕', 'integer', 'real', 'null'],
    ]);
  });

  it('reads CSV with a header, quoted delimiters, quotes and line breaks, NULL versus ""', async () => {
    await harness.send(
      frontend.query('COPY t (id, name, note) FROM STDIN (FORMAT csv, HEADER true)'),
      untilCopyIn,
    );
    const done = await harness.roundTrip(
      frontend.copyData('id,name,note\r\n1,"a,b","say ""hi"""\r\n2,,""\r\n'),
      frontend.copyData('3,"two\r\nlines",x\r\n\\.\r\nignored after the end marker'),
      frontend.copyDone(),
    );
    expect(tags(done)).toEqual(['COPY 3']);
    expect(await select('SELECT id, name, note, quote(note) FROM t ORDER BY id')).toEqual([
      ['1', 'a,b', 'say "hi"', '\'say "hi"\''],
      ['2', null, '', "''"],
      ['3', 'two\r\nlines', 'x', "'x'"],
    ]);
  });

  it('takes the old syntax, FORCE_NOT_NULL and FORCE_NULL, QUOTE and ESCAPE', async () => {
    await harness.send(
      frontend.query(
        "COPY t (id, name, note) FROM STDIN WITH DELIMITER ';' NULL 'nil' CSV QUOTE '''' FORCE NOT NULL name",
      ),
      untilCopyIn,
    );
    let done = await harness.roundTrip(frontend.copyData("1;nil;nil\n2;'x;y';'nil'\n"), frontend.copyDone());
    expect(tags(done)).toEqual(['COPY 2']);
    await harness.send(
      frontend.query("COPY t (id, note) FROM STDIN (FORMAT csv, FORCE_NULL (note), ESCAPE '\\')"),
      untilCopyIn,
    );
    done = await harness.roundTrip(frontend.copyData('3,""\n4,"a\\"b"\n'), frontend.copyDone());
    expect(tags(done)).toEqual(['COPY 2']);
    expect(await select('SELECT id, name, note FROM t ORDER BY id')).toEqual([
      ['1', 'nil', null],
      ['2', 'x;y', 'nil'],
      ['3', null, null],
      ['4', null, 'a"b'],
    ]);
  });

  it('a bad row fails the whole COPY with its line in CONTEXT; the rest of its data is dropped', async () => {
    await harness.send(frontend.query('COPY t (id, name) FROM STDIN'), untilCopyIn);
    const failed = await harness.roundTrip(frontend.copyData('1\ta\n2\tb\n3\tc\textra\n4\td\n'));
    expect(error(failed)).toMatchObject({
      C: '22P04',
      M: 'extra data after last expected column',
      W: 'COPY t, line 3: "3\tc\textra"',
    });
    expect(status(failed)).toBe('I');
    // What the client sends after the error (it has not read it yet) is dropped.
    const after = await harness.send(concat(frontend.copyData('5\te\n'), frontend.copyDone()));
    expect(after).toEqual([]);
    expect(await select('SELECT count(*) FROM t')).toEqual([['0']]);

    await harness.send(frontend.query('COPY t (id, name) FROM STDIN'), untilCopyIn);
    const missing = await harness.roundTrip(frontend.copyData('1\ta\n2\n'));
    expect(error(missing)).toMatchObject({
      C: '22P04',
      M: 'missing data for column "name"',
      W: 'COPY t, line 2: "2"',
    });
    await harness.send(frontend.query('COPY t (id, score) FROM STDIN (FORMAT csv)'), untilCopyIn);
    const typed = await harness.roundTrip(frontend.copyData('1,2.5\nabc,3\n'));
    expect(error(typed)).toMatchObject({
      C: '22P02',
      M: 'invalid input syntax for type integer: "abc"',
      W: 'COPY t, line 2, column id: "abc"',
    });
    expect(await select('SELECT count(*) FROM t')).toEqual([['0']]);
  });

  it('a row that fails in SQLite (a duplicate key) after earlier batches leaves nothing', async () => {
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    const lines = Array.from({ length: 1_500 }, (_, index) => `${index + 1}\n`).join('');
    const failed = await harness.roundTrip(frontend.copyData(`${lines}7\n`), frontend.copyDone());
    expect(error(failed)).toMatchObject({ C: '23505', W: 'COPY t, line 1501' });
    expect(await select('SELECT count(*) FROM t')).toEqual([['0']]);
  });

  it('CopyFail ends it with 57014 and nothing inserted', async () => {
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    const failed = await harness.roundTrip(frontend.copyData('1\n2\n'), frontend.copyFail('user went away'));
    expect(error(failed)).toMatchObject({ C: '57014', M: 'COPY from stdin failed: user went away' });
    expect(await select('SELECT count(*) FROM t')).toEqual([['0']]);
  });

  it('inside BEGIN it joins the block: ROLLBACK undoes it, a bad row fails the block', async () => {
    await harness.roundTrip(frontend.query('BEGIN; INSERT INTO t (id) VALUES (100)'));
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    const done = await harness.roundTrip(frontend.copyData('1\n2\n'), frontend.copyDone());
    expect(tags(done)).toEqual(['COPY 2']);
    expect(status(done)).toBe('T');
    expect(await select('SELECT count(*) FROM t')).toEqual([['3']]);
    await harness.roundTrip(frontend.query('ROLLBACK'));
    expect(await select('SELECT count(*) FROM t')).toEqual([['0']]);

    await harness.roundTrip(frontend.query('BEGIN'));
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    const failed = await harness.roundTrip(frontend.copyData('1\nx\n'));
    expect(error(failed).C).toBe('22P02');
    expect(status(failed)).toBe('E');
    await harness.roundTrip(frontend.query('ROLLBACK'));
  });

  it('runs the statements after it in the same Query, and ignores Flush and Sync meanwhile', async () => {
    await harness.send(frontend.query('COPY t (id) FROM STDIN; SELECT count(*) FROM t'), untilCopyIn);
    const done = await harness.roundTrip(
      frontend.copyData('1\n'),
      frontend.flush(),
      frontend.sync(),
      frontend.copyData('2\n'),
      frontend.copyDone(),
    );
    expect(types(done)).toBe('CTDCZ');
    expect(rows(done)).toEqual([['2']]);
  });

  it('works in the extended protocol, with the Sync libpq sends before the data ignored', async () => {
    const started = await harness.send(
      concat(
        frontend.parse('', 'COPY t (id, name) FROM STDIN (FORMAT csv)'),
        frontend.bind('', '', []),
        frontend.describe('P', ''),
        frontend.execute('', 0),
        frontend.sync(),
      ),
      untilCopyIn,
    );
    expect(types(started)).toBe('12nG');
    const done = await harness.roundTrip(
      frontend.copyData('1,a\n2,b\n'),
      frontend.copyDone(),
      frontend.sync(),
    );
    expect(types(done)).toBe('CZ');
    expect(tags(done)).toEqual(['COPY 2']);
    // An error skips to the Sync after the data.
    await harness.send(
      concat(
        frontend.parse('', 'COPY t (id) FROM STDIN'),
        frontend.bind('', '', []),
        frontend.execute('', 0),
      ),
      untilCopyIn,
    );
    const failed = await harness.roundTrip(
      frontend.copyData('x\n'),
      frontend.copyData('9\n'),
      frontend.copyDone(),
      frontend.sync(),
    );
    expect(types(failed)).toBe('EZ');
    expect(await select('SELECT id, name FROM t ORDER BY id')).toEqual([
      ['1', 'a'],
      ['2', 'b'],
    ]);
  });

  it('a client that goes away mid-COPY leaves nothing and frees the writer', async () => {
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    const lines = Array.from({ length: 2_000 }, (_, index) => `${index + 1}\n`).join('');
    await harness.send(frontend.copyData(lines));
    await harness.connection.closed();
    const other = new Harness(backend);
    await other.start();
    const answer = await other.roundTrip(
      frontend.query('INSERT INTO t (id) VALUES (1); SELECT count(*) FROM t'),
    );
    expect(rows(answer)).toEqual([['1']]);
  });

  it('a client silent mid-COPY for the idle-in-transaction timeout is terminated (25P03)', async () => {
    await harness.send(frontend.query('COPY t (id) FROM STDIN'), untilCopyIn);
    await harness.send(frontend.copyData('1\n'));
    harness.clock.advance(10_001);
    const messages = await harness.send(new Uint8Array(0), () => harness.closed);
    expect(error(messages)).toMatchObject({ S: 'FATAL', C: '25P03' });
    expect(harness.closed).toBe(true);
  });

  it('refuses server files, PROGRAM, binary, unknown tables and columns, and read-only transactions', async () => {
    const refusal = async (sql: string) => error(await harness.roundTrip(frontend.query(sql)));
    expect(await refusal("COPY t FROM '/etc/passwd'")).toMatchObject({
      C: '42501',
      H: expect.stringMatching(/\\copy/),
    });
    expect(await refusal("COPY t TO '/tmp/x'")).toMatchObject({ C: '42501' });
    expect(await refusal("COPY t TO PROGRAM 'ls'")).toMatchObject({ C: '42501' });
    expect(await refusal('COPY t FROM STDIN (FORMAT binary)')).toMatchObject({ C: '0A000' });
    expect(await refusal('COPY BINARY t FROM STDIN')).toMatchObject({ C: '0A000' });
    expect(await refusal('COPY nope FROM STDIN')).toMatchObject({
      C: '42P01',
      M: 'relation "nope" does not exist',
    });
    expect(await refusal('COPY t (id, nope) FROM STDIN')).toMatchObject({ C: '42703' });
    expect(await refusal('COPY t (id, id) FROM STDIN')).toMatchObject({ C: '42701' });
    expect(await refusal("COPY t FROM STDIN (DELIMITER 'ab')")).toMatchObject({ C: '0A000' });
    expect(await refusal("COPY t FROM STDIN (QUOTE '\"')")).toMatchObject({ C: '0A000' });
    expect(await refusal('COPY t TO STDOUT (FORMAT csv, FORCE_NOT_NULL (id))')).toMatchObject({ C: '0A000' });
    expect(await refusal('COPY t FROM STDIN (FORMAT csv, FORCE_NULL (nope))')).toMatchObject({ C: '42P10' });
    expect(await refusal('COPY t FROM STDIN WHERE id > 1')).toMatchObject({ C: '0A000' });
    expect(await refusal('COPY (SELECT 1) FROM STDIN')).toMatchObject({ C: '42601' });
    const readOnly = await harness.roundTrip(frontend.query('BEGIN READ ONLY; COPY t FROM STDIN'));
    expect(error(readOnly)).toMatchObject({ C: '25006' });
    await harness.roundTrip(frontend.query('ROLLBACK'));
  });

  it('on a replica COPY FROM gets 25006 pointing at the writer; COPY TO works', async () => {
    const replica = new SqliteTestBackend({ role: 'replica', idleTimeoutMs: 60_000 });
    try {
      const client = new Harness(replica);
      await client.start();
      const refused = await client.roundTrip(frontend.query('COPY sqlite_schema FROM STDIN'));
      expect(error(refused)).toMatchObject({ C: '25006', H: expect.stringMatching(/read-write endpoint/) });
      const dumped = await client.roundTrip(frontend.query("COPY (SELECT 1, 'a') TO STDOUT (FORMAT csv)"));
      expect(copied(dumped)).toBe('1,a\n');
    } finally {
      replica.close();
    }
  });
});

describe('COPY TO STDOUT', () => {
  beforeEach(async () => {
    await harness.roundTrip(
      frontend.query(
        "INSERT INTO t VALUES (1, 'tab\there', 0.1, 1, x'00ff', NULL), (2, 'a,\"b\"', 1e20, 0, NULL, ''), (3, NULL, NULL, NULL, NULL, 'x')",
      ),
    );
  });

  it('sends text format as PostgreSQL renders it: CopyOutResponse, a CopyData per row, CopyDone', async () => {
    const messages = await harness.roundTrip(frontend.query('COPY t TO STDOUT'));
    expect(types(messages)).toBe('HdddcCZ');
    expect([...(messages[0]?.body ?? [])]).toEqual([0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(copied(messages)).toBe(
      '1\ttab\\there\t0.1\tt\t\\\\x00ff\t\\N\n' +
        '2\ta,"b"\t1e+20\tf\t\\N\t\n' +
        '3\t\\N\t\\N\t\\N\t\\N\tx\n',
    );
    expect(tags(messages)).toEqual(['COPY 3']);
  });

  it("writes a timestamptz as stored: SQLite's offset-less UTC text stays readable after COPY out and in", async () => {
    await harness.roundTrip(frontend.query('CREATE TABLE stamps (id integer, at timestamptz)'));
    await harness.roundTrip(
      frontend.query(
        "INSERT INTO stamps VALUES (1, '2024-01-02 03:04:05'), (2, '2024-01-02 03:04:05.5-08:00')",
      ),
    );
    const messages = await harness.roundTrip(frontend.query('COPY stamps TO STDOUT'));
    // The literal in another offset was stored in UTC, as the column's type reads it.
    expect(copied(messages)).toBe('1\t2024-01-02 03:04:05\n2\t2024-01-02 11:04:05.5\n');
    // A query of the same column sends PostgreSQL's +00 (types.ts).
    expect(rows(await harness.roundTrip(frontend.query('SELECT at FROM stamps WHERE id = 1')))).toEqual([
      ['2024-01-02 03:04:05+00'],
    ]);
  });

  it('sends CSV with a header, quoting only what must be, and FORCE_QUOTE', async () => {
    const csv = await harness.roundTrip(frontend.query('COPY t (id, name, note) TO STDOUT WITH CSV HEADER'));
    expect(copied(csv)).toBe('id,name,note\n1,tab\there,\n2,"a,""b""",""\n3,,x\n');
    const forced = await harness.roundTrip(
      frontend.query(
        "COPY (SELECT id, note FROM t ORDER BY id DESC) TO STDOUT (FORMAT csv, FORCE_QUOTE *, DELIMITER ';')",
      ),
    );
    expect(copied(forced)).toBe('"3";"x"\n"2";""\n"1";\n');
    expect(tags(forced)).toEqual(['COPY 3']);
  });

  it('works in the extended protocol', async () => {
    const messages = await harness.roundTrip(
      frontend.parse('', 'COPY (SELECT id FROM t WHERE id <= 2) TO STDOUT'),
      frontend.bind('', '', []),
      frontend.describe('P', ''),
      frontend.execute('', 0),
      frontend.sync(),
    );
    expect(types(messages)).toBe('12nHddcCZ');
    expect(copied(messages)).toBe('1\n2\n');
  });
});

/** Sends, then waits on real time (a kernel runs in its worker) until `until` holds (else ReadyForQuery). */
async function slowly(
  client: Harness,
  parts: Uint8Array[],
  until: (messages: readonly BackendMessage[]) => boolean = (messages) =>
    messages.some((message) => message.type === 'Z'),
): Promise<BackendMessage[]> {
  const seen: BackendMessage[] = await client.send(concat(...parts), until);
  const deadline = Date.now() + 20_000;
  while (!until(seen) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    seen.push(...client.reader.take());
  }
  return seen;
}

describe("COPY FROM STDIN over the engine's kernel", () => {
  it('a COPY larger than one transaction may be fails with 54000, leaves nothing, frees the writer', async () => {
    const kernel = await startKernelBackend({
      idleTimeoutMs: 60_000,
      lockWaitTimeoutMs: 5_000,
      kernel: { maxGroupPages: 40 },
    });
    try {
      const client = new Harness(kernel.backend);
      await client.start();
      await slowly(client, [frontend.query('CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT)')]);
      await slowly(client, [frontend.query('COPY big FROM STDIN')], untilCopyIn);
      const pad = 'p'.repeat(200);
      const data = Array.from({ length: 2_000 }, (_, index) => `${index}\t${pad}\n`).join('');
      const failed = await slowly(client, [frontend.copyData(data), frontend.copyDone()]);
      expect(error(failed)).toMatchObject({ C: '54000', M: expect.stringMatching(/more than 40 pages/) });
      const after = await slowly(client, [frontend.query('SELECT count(*) FROM big')]);
      expect(rows(after)).toEqual([['0']]);
      await slowly(client, [frontend.query('COPY big FROM STDIN')], untilCopyIn);
      const small = await slowly(client, [frontend.copyData('1\tx\n2\ty\n'), frontend.copyDone()]);
      expect(tags(small)).toEqual(['COPY 2']);
    } finally {
      await kernel.stop();
    }
  });
});
