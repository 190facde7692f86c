/**
 * The per-connection state machine, driven in process over the test SQLite backend: startup, simple
 * and extended protocol, transaction status I/T/E with 25P02 until ROLLBACK, errors skipping to Sync,
 * row limits with PortalSuspended, binary results, settings, and every timeout and bound.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqlBackend } from '../../src/core/pgwire/backend.js';
import { Harness, tick } from './support/harness.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';
import {
  type BackendMessage,
  commandTagOf,
  dataRowValues,
  errorFields,
  frontend,
  rowDescriptionColumns,
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

function rows(messages: readonly BackendMessage[]): (string | null)[][] {
  return find(messages, 'D').map((message) => dataRowValues(message.body).map(text));
}

function tags(messages: readonly BackendMessage[]): string[] {
  return find(messages, 'C').map((message) => commandTagOf(message.body));
}

let backend: SqliteTestBackend;

beforeEach(() => {
  backend = new SqliteTestBackend({ idleTimeoutMs: 60_000 });
});

afterEach(() => {
  backend.close();
});

async function started(
  options: ConstructorParameters<typeof Harness>[1] = {},
  on: SqlBackend = backend,
): Promise<Harness> {
  const harness = new Harness(on, options);
  await harness.start();
  return harness;
}

describe('startup', () => {
  it('trust: AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery', async () => {
    const harness = new Harness(backend);
    const messages = await harness.start({ user: 'ann', database: 'shop', application_name: 'tool' });
    expect(types(messages)).toMatch(/^RS+KZ$/);
    const statuses = find(messages, 'S').map((message) => text(message.body)?.split('\0').slice(0, 2));
    expect(statuses).toContainEqual(['server_version', backend.serverVersion]);
    expect(statuses).toContainEqual(['application_name', 'tool']);
    expect(statuses).toContainEqual(['client_encoding', 'UTF8']);
    expect(status(messages)).toBe('I');
  });

  it('a client asking for protocol 3.2 or options is told 3.0 and carries on', async () => {
    const harness = new Harness(backend);
    const messages = await harness.send(
      frontend.startup({ user: 'ann', '_pq_.compression': 'on' }, (3 << 16) | 2),
      (pending) => pending.some((message) => message.type === 'Z'),
    );
    expect(types(messages)).toMatch(/^vRS+KZ$/);
    const body = (messages[0] as BackendMessage).body;
    const view = new DataView(body.buffer, body.byteOffset);
    expect([view.getInt32(0), view.getInt32(4), text(body.subarray(8, body.length - 1))]).toEqual([
      196608,
      1,
      '_pq_.compression',
    ]);
  });

  it('SSLRequest and GSSENCRequest are answered N without TLS, S with it', async () => {
    const plain = new Harness(backend);
    plain.reader.expectSsl();
    expect(types(await plain.send(frontend.sslRequest()))).toBe('ssl:N');
    plain.reader.expectSsl();
    expect(types(await plain.send(frontend.gssencRequest()))).toBe('ssl:N');
    expect(status(await plain.start())).toBe('I');
    const secure = new Harness(backend, { tls: true });
    secure.reader.expectSsl();
    expect(types(await secure.send(frontend.sslRequest()))).toBe('ssl:S');
    expect(secure.tlsStarted).toBe(true);
  });

  it('refuses data pipelined behind SSLRequest before the TLS handshake', async () => {
    const harness = new Harness(backend, { tls: true });
    const bytes = new Uint8Array([...frontend.sslRequest(), ...frontend.startup({ user: 'x' })]);
    const messages = await harness.send(bytes);
    expect(error(messages).C).toBe('08P01');
    expect(harness.closed).toBe(true);
  });

  it('a startup packet without a user, a full server, a CancelRequest', async () => {
    const anonymous = new Harness(backend);
    expect(error(await anonymous.start({ database: 'x' }))).toMatchObject({ S: 'FATAL', C: '28000' });
    expect(anonymous.closed).toBe(true);
    const full = new Harness(backend, { refuse: true });
    expect(error(await full.start())).toMatchObject({ S: 'FATAL', C: '53300' });
    expect(full.closed).toBe(true);
    const canceller = new Harness(backend);
    await canceller.send(frontend.cancelRequest(4242, 99));
    expect(canceller.cancels).toEqual([[4242, 99]]);
    expect(canceller.closed).toBe(true);
  });
});

describe('simple query', () => {
  it('runs several statements and answers each', async () => {
    const harness = await started();
    const messages = await harness.roundTrip(
      frontend.query(
        "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL); SELECT a, b FROM t ORDER BY a",
      ),
    );
    expect(types(messages)).toBe('CCTDDCZ');
    expect(tags(messages)).toEqual(['CREATE TABLE', 'INSERT 0 2', 'SELECT 2']);
    // a is declared INTEGER: int4, as in PostgreSQL.
    expect(rowDescriptionColumns((find(messages, 'T')[0] as BackendMessage).body)).toEqual([
      ['a', 23, 0],
      ['b', 25, 0],
    ]);
    expect(rows(messages)).toEqual([
      ['1', 'x'],
      ['2', null],
    ]);
    expect(types(await harness.roundTrip(frontend.query(' -- nothing ')))).toBe('IZ');
  });

  it('is one implicit transaction: a later error undoes the earlier statements', async () => {
    const harness = await started();
    await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER)'));
    const failed = await harness.roundTrip(frontend.query('INSERT INTO t VALUES (1); SELECT * FROM missing'));
    expect(error(failed).C).toBe('42P01');
    expect(status(failed)).toBe('I');
    expect(rows(await harness.roundTrip(frontend.query('SELECT count(*) FROM t')))).toEqual([['0']]);
  });

  it('BEGIN … error … 25P02 until ROLLBACK; COMMIT of a failed transaction answers ROLLBACK', async () => {
    const harness = await started();
    await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER PRIMARY KEY)'));
    expect(status(await harness.roundTrip(frontend.query('BEGIN')))).toBe('T');
    expect(status(await harness.roundTrip(frontend.query('INSERT INTO t VALUES (1)')))).toBe('T');
    const duplicate = await harness.roundTrip(frontend.query('INSERT INTO t VALUES (1)'));
    expect(error(duplicate).C).toBe('23505');
    expect(status(duplicate)).toBe('E');
    const ignored = await harness.roundTrip(frontend.query('SELECT 1'));
    expect(error(ignored)).toMatchObject({
      C: '25P02',
      M: 'current transaction is aborted, commands ignored until end of transaction block',
    });
    const committed = await harness.roundTrip(frontend.query('COMMIT'));
    expect(tags(committed)).toEqual(['ROLLBACK']);
    expect(status(committed)).toBe('I');
    expect(rows(await harness.roundTrip(frontend.query('SELECT count(*) FROM t')))).toEqual([['0']]);
    const warned = await harness.roundTrip(frontend.query('COMMIT'));
    expect(errorFields((find(warned, 'N')[0] as BackendMessage).body)).toMatchObject({
      S: 'WARNING',
      C: '25P01',
    });
  });

  it('BEGIN and COMMIT inside one query string switch to an interactive transaction', async () => {
    const harness = await started();
    const messages = await harness.roundTrip(
      frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (5); COMMIT; SELECT a FROM t'),
    );
    expect(tags(messages)).toEqual(['CREATE TABLE', 'BEGIN', 'INSERT 0 1', 'COMMIT', 'SELECT 1']);
    expect(status(messages)).toBe('I');
  });

  it("casts give PostgreSQL's results, not the operand unchanged", async () => {
    const harness = await started();
    const answer = await harness.roundTrip(
      frontend.query("SELECT '12'::int = 12, '2'::int > 10, 7::float / 2, 3.7::int, '1.5'::numeric * 2"),
    );
    expect(rows(answer)).toEqual([['t', 'f', '3.5', '4', '3']]);
    expect(
      rowDescriptionColumns(find(answer, 'T')[0]?.body as Uint8Array).map((column) => column[0]),
    ).toContain('int4');
    await harness.roundTrip(
      frontend.query('CREATE TABLE flags (id INTEGER PRIMARY KEY, active BOOLEAN, note TEXT)'),
    );
    await harness.roundTrip(
      frontend.query(
        "INSERT INTO flags (active, note) VALUES ('true'::boolean, 'a'), ('off'::bool, 'b'), (NULL, 'c')",
      ),
    );
    expect(rows(await harness.roundTrip(frontend.query('SELECT note FROM flags WHERE active')))).toEqual([
      ['a'],
    ]);
    expect(
      rows(
        await harness.roundTrip(
          frontend.query(
            "SELECT note::boolean, ' Yes '::text::bool, 2::bool, id::text || 'x' FROM flags WHERE id = 1",
          ),
        ),
      ),
    ).toEqual([[null, 't', 't', '1x']]);
  });

  it('SET, SHOW, RESET and unsupported statements', async () => {
    const harness = await started();
    const set = await harness.roundTrip(frontend.query("SET application_name = 'app2'"));
    expect(types(set)).toBe('SCZ');
    expect(rows(await harness.roundTrip(frontend.query('SHOW application_name')))).toEqual([['app2']]);
    expect(rows(await harness.roundTrip(frontend.query('SHOW TimeZone')))).toEqual([['UTC']]);
    // Tools compare versions by number: 15.0 is 150000, and it cannot be set.
    expect(rows(await harness.roundTrip(frontend.query('SHOW server_version_num')))).toEqual([['150000']]);
    expect(error(await harness.roundTrip(frontend.query("SET server_version_num = '1'"))).C).toBe('55P02');
    expect(error(await harness.roundTrip(frontend.query('SET no_such = 1'))).C).toBe('42704');
    expect(error(await harness.roundTrip(frontend.query("SET server_version = '1'"))).C).toBe('55P02');
    expect(error(await harness.roundTrip(frontend.query('SAVEPOINT a'))).C).toBe('25P01');
    expect(error(await harness.roundTrip(frontend.query('SELECT $1'))).C).toBe('42P02');
    expect(tags(await harness.roundTrip(frontend.query('RESET ALL')))).toEqual(['RESET']);
    expect(rows(await harness.roundTrip(frontend.query('SHOW application_name')))).toEqual([['']]);
  });
});

describe('savepoints', () => {
  it('ROLLBACK TO puts back the settings as they were at the savepoint, and resumes a failed block', async () => {
    const harness = await started();
    const query = async (sql: string) => harness.roundTrip(frontend.query(sql));
    expect(status(await query("BEGIN; SET application_name = 'outer'; SAVEPOINT a"))).toBe('T');
    await query("SET application_name = 'inner'; SET LOCAL statement_timeout = 5000");
    const failed = await query('SELECT * FROM nowhere');
    expect([error(failed).C, status(failed)]).toEqual(['42P01', 'E']);
    const resumed = await query('ROLLBACK TO SAVEPOINT a');
    expect([tags(resumed), status(resumed)]).toEqual([['ROLLBACK'], 'T']);
    // application_name is reported: the client is told it changed back.
    expect(find(resumed, 'S').map((message) => text(message.body))).toEqual(['application_name\0outer\0']);
    expect(rows(await query('SHOW application_name'))).toEqual([['outer']]);
    expect(rows(await query('SHOW statement_timeout'))).toEqual([['0']]);
    expect(tags(await query('COMMIT'))).toEqual(['COMMIT']);
    expect(rows(await query('SHOW application_name'))).toEqual([['outer']]);
  });

  it('a READ ONLY block keeps only names; READ WRITE after a savepoint is 25001', async () => {
    const harness = await started();
    const query = async (sql: string) => harness.roundTrip(frontend.query(sql));
    await query('BEGIN READ ONLY; SAVEPOINT a');
    expect(error(await query('SELECT * FROM nowhere')).C).toBe('42P01');
    expect(status(await query('ROLLBACK TO a'))).toBe('T');
    expect(rows(await query('SELECT 1'))).toEqual([['1']]);
    expect(error(await query('SET TRANSACTION READ WRITE')).C).toBe('25001');
    expect(tags(await query('ROLLBACK'))).toEqual(['ROLLBACK']);
  });

  it('a savepoint in an implicit transaction (a pipeline before Sync) is 25P01, as PostgreSQL', async () => {
    const harness = await started();
    const messages = await harness.roundTrip(
      frontend.parse('', 'SELECT 1', []),
      frontend.bind('', '', [], [], []),
      frontend.execute('', 0),
      frontend.parse('', 'SAVEPOINT a', []),
      frontend.bind('', '', [], [], []),
      frontend.execute('', 0),
      frontend.sync(),
    );
    expect([error(messages).C, error(messages).M]).toEqual([
      '25P01',
      'SAVEPOINT can only be used in transaction blocks',
    ]);
    expect(status(messages)).toBe('I');
  });

  it('extended protocol: Parse/Bind/Execute of ROLLBACK TO in a failed block', async () => {
    const harness = await started();
    await harness.roundTrip(frontend.query('CREATE TABLE sp (id INTEGER PRIMARY KEY)'));
    await harness.roundTrip(frontend.query('BEGIN; SAVEPOINT a; INSERT INTO sp VALUES (1)'));
    expect(status(await harness.roundTrip(frontend.query('INSERT INTO sp VALUES (1)')))).toBe('E');
    const messages = await harness.roundTrip(
      frontend.parse('', 'ROLLBACK TO a', []),
      frontend.bind('', '', [], [], []),
      frontend.execute('', 0),
      frontend.sync(),
    );
    expect([tags(messages), status(messages)]).toEqual([['ROLLBACK'], 'T']);
    await harness.roundTrip(frontend.query('INSERT INTO sp VALUES (2); COMMIT'));
    expect(rows(await harness.roundTrip(frontend.query('SELECT id FROM sp')))).toEqual([['2']]);
  });
});

describe('extended protocol', () => {
  async function withTable(): Promise<Harness> {
    const harness = await started();
    await harness.roundTrip(
      frontend.query(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, score REAL, name TEXT); INSERT INTO t VALUES (1, 1.5, 'a'), (2, 2.5, 'b'), (3, 3, 'c')",
      ),
    );
    return harness;
  }

  it('named statements, Describe, binary results, row limits and PortalSuspended', async () => {
    const harness = await withTable();
    const parsed = await harness.roundTrip(
      frontend.parse('s1', 'SELECT id, score FROM t WHERE id >= $1 ORDER BY id', [20]),
      frontend.describe('S', 's1'),
      frontend.sync(),
    );
    expect(types(parsed)).toBe('1tTZ');
    const portal = await harness.roundTrip(
      frontend.bind('p', 's1', ['2'], [0], [1, 0]),
      frontend.describe('P', 'p'),
      frontend.execute('p', 1),
      frontend.execute('p', 1),
      frontend.sync(),
    );
    expect(types(portal)).toBe('2TDsDCZ');
    // Described as text before it ran: the portal keeps that promise, in the format asked for.
    expect(rowDescriptionColumns((find(portal, 'T')[0] as BackendMessage).body)).toEqual([
      ['id', 25, 1],
      ['score', 25, 0],
    ]);
    expect(rows(portal)).toEqual([
      ['2', '2.5'],
      ['3', '3'],
    ]);
    expect(tags(portal)).toEqual(['SELECT 1']);
  });

  it('an undescribed statement’s portal gets its columns’ declared types, in binary when asked', async () => {
    const harness = await withTable();
    const messages = await harness.roundTrip(
      frontend.parse('', 'SELECT id, score, name FROM t WHERE id = $1', [20]),
      frontend.bind('', '', [new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1])], [1], [1]),
      frontend.describe('P', ''),
      frontend.execute(''),
      frontend.sync(),
    );
    expect(types(messages)).toBe('12TDCZ');
    // INTEGER → int4 (4 bytes), REAL → float4 (1.5 is a float4), TEXT → text.
    expect(rowDescriptionColumns((find(messages, 'T')[0] as BackendMessage).body)).toEqual([
      ['id', 23, 1],
      ['score', 700, 1],
      ['name', 25, 1],
    ]);
    const [id, score, name] = dataRowValues((find(messages, 'D')[0] as BackendMessage).body);
    expect((id as Uint8Array).length).toBe(4);
    expect(new DataView((id as Uint8Array).buffer).getInt32(0)).toBe(1);
    expect(new DataView((score as Uint8Array).buffer).getFloat32(0)).toBe(1.5);
    expect(text(name as Uint8Array)).toBe('a');
  });

  it('an expression, or a column whose values do not fit its declared type, gets its values’ own types', async () => {
    const harness = await withTable();
    await harness.roundTrip(frontend.query('INSERT INTO t VALUES (2147483648, 0.1, 7)'));
    const messages = await harness.roundTrip(
      frontend.parse('', 'SELECT id, score, name, id + 1 AS next FROM t WHERE id > $1 ORDER BY id', [20]),
      frontend.bind('', '', [new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2])], [1], [1]),
      frontend.describe('P', ''),
      frontend.execute(''),
      frontend.sync(),
    );
    // id 2^31 is no int4, 0.1 no float4, and TEXT affinity made 7 the text '7'.
    expect(rowDescriptionColumns((find(messages, 'T')[0] as BackendMessage).body)).toEqual([
      ['id', 20, 1],
      ['score', 701, 1],
      ['name', 25, 1],
      ['next', 20, 1],
    ]);
    const values = find(messages, 'D').map((row) => dataRowValues(row.body));
    expect(values.map(([id]) => new DataView((id as Uint8Array).buffer).getBigInt64(0))).toEqual([
      3n,
      2147483648n,
    ]);
  });

  it('sysbench’s shape: prepared BEGIN / UPDATE / COMMIT, Bind+Describe+Execute+Sync each', async () => {
    const harness = await withTable();
    for (const [name, sql, paramTypes] of [
      ['b', 'BEGIN', []],
      ['u', 'UPDATE t SET name=$1 WHERE id=$2', [1043, 20]],
      ['c', 'COMMIT', []],
    ] as const) {
      expect(types(await harness.roundTrip(frontend.parse(name, sql, paramTypes), frontend.sync()))).toBe(
        '1Z',
      );
    }
    const execute = (name: string, params: string[]) =>
      harness.roundTrip(
        frontend.bind('', name, params, [], [1]),
        frontend.describe('P', ''),
        frontend.execute(''),
        frontend.sync(),
      );
    const begun = await execute('b', []);
    expect([types(begun), tags(begun), status(begun)]).toEqual(['2nCZ', ['BEGIN'], 'T']);
    const updated = await execute('u', ['zz', '2']);
    expect([types(updated), tags(updated), status(updated)]).toEqual(['2nCZ', ['UPDATE 1'], 'T']);
    const committed = await execute('c', []);
    expect([tags(committed), status(committed)]).toEqual([['COMMIT'], 'I']);
    expect(rows(await harness.roundTrip(frontend.query('SELECT name FROM t WHERE id = 2')))).toEqual([
      ['zz'],
    ]);
  });

  it('executions pipelined before one Sync are one transaction, as in PostgreSQL', async () => {
    const harness = await withTable();
    const insert = (id: string) => [frontend.bind('', 'ins', [id]), frontend.execute('')];
    await harness.roundTrip(
      frontend.parse('ins', "INSERT INTO t VALUES ($1, 0, 'p')", [20]),
      frontend.sync(),
    );
    const failed = await harness.roundTrip(...insert('10'), ...insert('1'), ...insert('11'), frontend.sync());
    expect(types(failed)).toBe('2C2EZ');
    expect([error(failed).C, status(failed)]).toEqual(['23505', 'I']);
    const count = () => harness.roundTrip(frontend.query('SELECT count(*) FROM t'));
    expect(rows(await count())).toEqual([['3']]);
    const committed = await harness.roundTrip(...insert('10'), ...insert('11'), frontend.sync());
    expect([tags(committed), status(committed)]).toEqual([['INSERT 0 1', 'INSERT 0 1'], 'I']);
    expect(rows(await count())).toEqual([['5']]);
    // An Execute whose Sync comes in a later packet cannot know it is alone: it waits for Sync too.
    const executed = await harness.send(
      new Uint8Array([...frontend.bind('', 'ins', ['12']), ...frontend.execute('')]),
      (pending) => pending.some((message) => message.type === 'C'),
    );
    expect(tags(executed)).toEqual(['INSERT 0 1']);
    expect(status(await harness.roundTrip(frontend.sync()))).toBe('I');
    expect(rows(await count())).toEqual([['6']]);
  });

  it('an error skips every message up to Sync', async () => {
    const harness = await withTable();
    const messages = await harness.roundTrip(
      frontend.parse('', 'SELECT * FROM missing'),
      frontend.bind('', '', []),
      frontend.execute(''),
      frontend.sync(),
    );
    expect(types(messages)).toBe('EZ');
    expect(error(messages).C).toBe('42P01');
    const wrongCount = await harness.roundTrip(
      frontend.parse('', 'SELECT $1'),
      frontend.bind('', '', []),
      frontend.sync(),
    );
    expect(types(wrongCount)).toBe('1EZ');
    expect(error(wrongCount).C).toBe('08P01');
    const badValue = await harness.roundTrip(
      frontend.parse('', 'SELECT $1', [23]),
      frontend.bind('', '', ['x']),
      frontend.sync(),
    );
    expect(error(badValue).C).toBe('22P02');
    const missing = await harness.roundTrip(
      frontend.bind('', 'nope', []),
      frontend.execute('nope'),
      frontend.sync(),
    );
    expect([types(missing), error(missing).C]).toEqual(['EZ', '26000']);
    const duplicate = await harness.roundTrip(
      frontend.parse('d', 'SELECT 1'),
      frontend.parse('d', 'SELECT 2'),
      frontend.sync(),
    );
    expect(error(duplicate).C).toBe('42P05');
    const closed = await harness.roundTrip(
      frontend.close('S', 'd'),
      frontend.parse('d', 'SELECT 2'),
      frontend.sync(),
    );
    expect(types(closed)).toBe('31Z');
  });

  it('inside a transaction an extended-protocol error fails it', async () => {
    const harness = await withTable();
    await harness.roundTrip(frontend.query('BEGIN'));
    const failed = await harness.roundTrip(frontend.parse('', 'SELECT nope FROM t'), frontend.sync());
    expect([error(failed).C, status(failed)]).toEqual(['42703', 'E']);
    const ignored = await harness.roundTrip(frontend.parse('', 'SELECT 1'), frontend.sync());
    expect(error(ignored).C).toBe('25P02');
    expect(status(await harness.roundTrip(frontend.query('ROLLBACK')))).toBe('I');
    // The writer is free again: an autocommit write from the same backend goes through.
    expect(tags(await harness.roundTrip(frontend.query("INSERT INTO t VALUES (9, 0, 'z')")))).toEqual([
      'INSERT 0 1',
    ]);
  });

  it('Flush sends what is pending without ReadyForQuery', async () => {
    const harness = await withTable();
    const messages = await harness.send(
      new Uint8Array([...frontend.parse('', 'SELECT 1'), ...frontend.flush()]),
      (pending) => pending.length > 0,
    );
    expect(types(messages)).toBe('1');
  });
});

describe('bounds and timeouts', () => {
  it('a result above the per-connection bound is refused with 54000', async () => {
    const harness = await started({ limits: { resultBytesMax: 1000 } });
    const messages = await harness.roundTrip(
      frontend.query(
        'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i FROM n',
      ),
    );
    expect(error(messages).C).toBe('54000');
    expect(status(messages)).toBe('I');
  });

  it('a large result goes out in chunks, not as one buffer', async () => {
    const harness = await started();
    const messages = await harness.roundTrip(
      frontend.query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) SELECT i, printf('%0200d', i) FROM n",
      ),
    );
    expect(find(messages, 'D')).toHaveLength(4000);
    expect(harness.sends).toBeGreaterThan(10);
    expect(harness.sendBytesMax).toBeLessThan(80 * 1024);
  });

  it('a message above the maximum gets FATAL 54000 and a close', async () => {
    const harness = await started({ limits: { messageBytesMax: 100 } });
    const messages = await harness.send(frontend.query(`SELECT '${'x'.repeat(200)}'`));
    expect(error(messages)).toMatchObject({ S: 'FATAL', C: '54000' });
    expect(harness.closed).toBe(true);
  });

  it('an idle session is closed with 57P05; a silent startup with 08P01', async () => {
    const harness = await started({ limits: { idleSessionTimeoutMs: 1000 } });
    harness.clock.advance(999);
    expect(harness.closed).toBe(false);
    harness.clock.advance(1);
    expect(errorFields((harness.reader.take()[0] as BackendMessage).body)).toMatchObject({
      S: 'FATAL',
      C: '57P05',
    });
    expect(harness.closed).toBe(true);
    const silent = new Harness(backend, { limits: { authenticationTimeoutMs: 500 } });
    silent.clock.advance(500);
    expect(silent.closed).toBe(true);
  });

  // Found by fuzz.test.ts: a message received cancelled the idle timer and nothing re-armed it, so
  // these connections stayed open forever.
  it('a client silent in a failed block, or after an error with no Sync, is closed with 25P03', async () => {
    const failedBlock = await started({ limits: { idleInTransactionTimeoutMs: 500 } });
    await failedBlock.roundTrip(frontend.query('BEGIN'));
    expect(status(await failedBlock.roundTrip(frontend.query('SELECT * FROM missing')))).toBe('E');
    failedBlock.clock.advance(500);
    expect(error(failedBlock.reader.take())).toMatchObject({ S: 'FATAL', C: '25P03' });
    expect(failedBlock.closed).toBe(true);
    const noSync = await started({ limits: { idleInTransactionTimeoutMs: 500 } });
    expect(error(await noSync.send(frontend.parse('', 'SELECT * FROM missing'))).C).toBe('42P01');
    noSync.clock.advance(499);
    expect(noSync.closed).toBe(false);
    noSync.clock.advance(1);
    expect(error(noSync.reader.take())).toMatchObject({ S: 'FATAL', C: '25P03' });
    expect(noSync.closed).toBe(true);
  });

  it('an idle transaction is rolled back, the client gets FATAL 25P03, the writer is freed', async () => {
    const harness = await started({ limits: { idleInTransactionTimeoutMs: 50 } });
    await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)'));
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(error(harness.reader.take())).toMatchObject({ S: 'FATAL', C: '25P03' });
    expect(harness.closed).toBe(true);
    const other = await started();
    expect(rows(await other.roundTrip(frontend.query('SELECT count(*) FROM t')))).toEqual([['0']]);
  });

  it('idle_in_transaction_session_timeout defaults to the engine limit, SHOW says so, and SET 0 turns it off', async () => {
    const session = await started({ limits: { idleInTransactionTimeoutMs: 50 } });
    await session.roundTrip(frontend.query('CREATE TABLE t (a INTEGER)'));
    const show = async () =>
      rows(await session.roundTrip(frontend.query('SHOW idle_in_transaction_session_timeout')));
    expect(await show()).toEqual([['50']]);
    await session.roundTrip(frontend.query('SET idle_in_transaction_session_timeout = 0'));
    expect(await show()).toEqual([['0']]);
    await session.roundTrip(frontend.query('BEGIN; INSERT INTO t VALUES (1)'));
    // Neither the connection's timer nor the writer's gate ends the transaction any more.
    session.clock.advance(10_000);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(session.closed).toBe(false);
    expect(status(await session.roundTrip(frontend.query('COMMIT')))).toBe('I');
    await session.roundTrip(frontend.query('RESET idle_in_transaction_session_timeout'));
    expect(await show()).toEqual([['50']]);
    await session.roundTrip(frontend.query("SET idle_in_transaction_session_timeout = '2s'"));
    await session.roundTrip(frontend.query('BEGIN; INSERT INTO t VALUES (2)'));
    session.clock.advance(1_999);
    expect(session.closed).toBe(false);
    session.clock.advance(1);
    expect(error(session.reader.take())).toMatchObject({ S: 'FATAL', C: '25P03' });
  });

  it('CancelRequest and statement_timeout end a wait for the writer with 57014', async () => {
    const holder = await started();
    await holder.roundTrip(frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)'));
    const waiter = await started();
    const pending = waiter.roundTrip(frontend.query('INSERT INTO t VALUES (2)'));
    await tick();
    waiter.connection.cancel();
    const cancelled = await pending;
    expect(error(cancelled)).toMatchObject({ C: '57014', M: 'canceling statement due to user request' });
    const timed = await started({ limits: { statementTimeoutMs: 1000 } });
    const slow = timed.roundTrip(frontend.query('INSERT INTO t VALUES (3)'));
    await tick();
    timed.clock.advance(1000);
    expect(error(await slow)).toMatchObject({
      C: '57014',
      M: 'canceling statement due to statement timeout',
    });
    expect(tags(await holder.roundTrip(frontend.query('COMMIT')))).toEqual(['COMMIT']);
    expect(rows(await waiter.roundTrip(frontend.query('SELECT a FROM t')))).toEqual([['1']]);
  });

  it('statement_timeout defaults to the engine limit, SHOW says so, and SET 0 turns it off as in PostgreSQL', async () => {
    const holder = await started();
    await holder.roundTrip(frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)'));
    const session = await started({ limits: { statementTimeoutMs: 1000 } });
    expect(rows(await session.roundTrip(frontend.query('SHOW statement_timeout')))).toEqual([['1000']]);
    await session.roundTrip(frontend.query('SET statement_timeout = 0'));
    const waiting = session.roundTrip(frontend.query('INSERT INTO t VALUES (2)'));
    await tick();
    session.clock.advance(5_000); // past the engine's limit: no timeout, the session turned it off
    await tick();
    expect(tags(await holder.roundTrip(frontend.query('COMMIT')))).toEqual(['COMMIT']);
    expect(tags(await waiting)).toEqual(['INSERT 0 1']);
    await session.roundTrip(frontend.query('RESET statement_timeout'));
    expect(rows(await session.roundTrip(frontend.query('SHOW statement_timeout')))).toEqual([['1000']]);
  });

  it('stops reading while a full message waits behind a busy statement, and resumes after', async () => {
    const holder = await started();
    await holder.roundTrip(frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)'));
    const harness = await started({ limits: { messageBytesMax: 200 } });
    harness.connection.receive(frontend.query('INSERT INTO t VALUES (2)'));
    await tick();
    const queued = [1, 2, 3].map((index) => frontend.query(`SELECT ${index} AS padding_${'x'.repeat(60)}`));
    for (const message of queued) harness.connection.receive(message);
    expect(harness.reading).toBe(false);
    await holder.roundTrip(frontend.query('COMMIT'));
    for (let round = 0; round < 50 && find(harness.reader.messages, 'Z').length < 4; round++) await tick();
    const answered = harness.reader.take();
    expect(tags(answered)).toEqual(['INSERT 0 1', 'SELECT 1', 'SELECT 1', 'SELECT 1']);
    expect(rows(answered)).toEqual([['1'], ['2'], ['3']]);
    expect(harness.reading).toBe(true);
  });

  it('bad UTF-8 in a Bind parameter is an ERROR for the statement, not the end of the connection', async () => {
    const harness = await started();
    const messages = await harness.roundTrip(
      frontend.parse('', 'SELECT $1', [25]),
      frontend.bind('', '', [new Uint8Array([0xff, 0xfe])]),
      frontend.sync(),
    );
    expect([types(messages), error(messages).C]).toEqual(['1EZ', '22021']);
    expect(harness.closed).toBe(false);
  });

  it('a replica refuses writes with 25006', async () => {
    const replica = new SqliteTestBackend({ role: 'replica' });
    try {
      const harness = await started({}, replica);
      expect(error(await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER)'))).C).toBe('25006');
      expect(rows(await harness.roundTrip(frontend.query('SELECT 1 + 1')))).toEqual([['2']]);
      // As PostgreSQL's hot standby: no LISTEN, UNLISTEN or NOTIFY (notifications.ts).
      for (const sql of ['LISTEN jobs', 'UNLISTEN *', "NOTIFY jobs, 'x'", "SELECT pg_notify('jobs', 'x')"])
        expect([sql, error(await harness.roundTrip(frontend.query(sql))).C]).toEqual([sql, '25006']);
    } finally {
      replica.close();
    }
  });

  it('a replica says it is read-only and in recovery; the writer says it is not (libpq target_session_attrs)', async () => {
    const replica = new SqliteTestBackend({ role: 'replica' });
    try {
      for (const [on, expected] of [
        [replica, 'on'],
        [backend, 'off'],
      ] as const) {
        const harness = new Harness(on);
        const startup = await harness.start();
        const statuses = find(startup, 'S').map((message) => text(message.body)?.split('\0').slice(0, 2));
        expect(statuses).toContainEqual(['in_hot_standby', expected]);
        expect(statuses).toContainEqual(['default_transaction_read_only', expected]);
        const answer = await harness.roundTrip(
          frontend.query(
            'SHOW transaction_read_only; SHOW default_transaction_read_only; SHOW in_hot_standby; SELECT pg_is_in_recovery(), pg_catalog.pg_is_in_recovery()',
          ),
        );
        const inRecovery = expected === 'on' ? '1' : '0';
        expect(rows(answer)).toEqual([[expected], [expected], [expected], [inRecovery, inRecovery]]);
        expect(error(await harness.roundTrip(frontend.query('SET in_hot_standby = off'))).C).toBe('55P02');
      }
    } finally {
      replica.close();
    }
  });

  it('SET TRANSACTION READ ONLY, SET SESSION CHARACTERISTICS and default_transaction_read_only are honoured (25006)', async () => {
    const harness = await started();
    await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER)'));
    // Before the first statement of the block.
    let answer = await harness.roundTrip(
      frontend.query(
        'BEGIN; SET TRANSACTION READ ONLY; SHOW transaction_read_only; INSERT INTO t VALUES (1)',
      ),
    );
    expect([rows(answer), error(answer).C, status(answer)]).toEqual([[['on']], '25006', 'E']);
    await harness.roundTrip(frontend.query('ROLLBACK'));
    // After a statement of the block: enforced statement by statement; READ WRITE is too late.
    answer = await harness.roundTrip(
      frontend.query('BEGIN; SELECT 1; SET transaction_read_only = on; SELECT 2'),
    );
    expect(rows(answer)).toEqual([['1'], ['2']]);
    expect(error(await harness.roundTrip(frontend.query('UPDATE t SET a = 2'))).C).toBe('25006');
    await harness.roundTrip(frontend.query('ROLLBACK'));
    answer = await harness.roundTrip(frontend.query('BEGIN READ ONLY; SELECT 1; SET TRANSACTION READ WRITE'));
    expect(error(answer).C).toBe('25001');
    await harness.roundTrip(frontend.query('ROLLBACK'));
    // Outside a block SET TRANSACTION does nothing but warn, as in PostgreSQL.
    answer = await harness.roundTrip(frontend.query('SET TRANSACTION READ ONLY; INSERT INTO t VALUES (1)'));
    expect(tags(answer)).toEqual(['SET', 'INSERT 0 1']);
    expect(find(answer, 'N')).toHaveLength(1);
    // The session default: autocommit statements, BEGIN, and the extended protocol.
    for (const set of [
      'SET default_transaction_read_only = on',
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
    ]) {
      await harness.roundTrip(frontend.query(set));
      expect(rows(await harness.roundTrip(frontend.query('SHOW transaction_read_only')))).toEqual([['on']]);
      expect(error(await harness.roundTrip(frontend.query('INSERT INTO t VALUES (2)'))).C).toBe('25006');
      answer = await harness.roundTrip(frontend.query('BEGIN; INSERT INTO t VALUES (2)'));
      expect(error(answer).C).toBe('25006');
      await harness.roundTrip(frontend.query('ROLLBACK'));
      answer = await harness.roundTrip(
        frontend.parse('', 'INSERT INTO t VALUES ($1)', []),
        frontend.bind('', '', ['3']),
        frontend.execute('', 0),
        frontend.sync(),
      );
      expect(error(answer).C).toBe('25006');
      answer = await harness.roundTrip(frontend.query('BEGIN READ WRITE; INSERT INTO t VALUES (4); COMMIT'));
      expect(tags(answer)).toEqual(['BEGIN', 'INSERT 0 1', 'COMMIT']);
      await harness.roundTrip(frontend.query('RESET default_transaction_read_only'));
    }
    expect(rows(await harness.roundTrip(frontend.query('SELECT a FROM t ORDER BY a')))).toEqual([
      ['1'],
      ['4'],
      ['4'],
    ]);
  });

  it('SET in a rolled-back block is undone; SET LOCAL lasts until the end of the transaction', async () => {
    const harness = await started();
    const show = async () =>
      rows(await harness.roundTrip(frontend.query('SHOW application_name; SHOW search_path')));
    await harness.roundTrip(frontend.query("SET application_name = 'before'"));
    let answer = await harness.roundTrip(
      frontend.query("BEGIN; SET application_name = 'inside'; SET search_path = x; ROLLBACK"),
    );
    // ParameterStatus says so when a reported setting reverts.
    const statuses = find(answer, 'S').map((message) => text(message.body)?.split('\0').slice(0, 2));
    expect(statuses.at(-1)).toEqual(['application_name', 'before']);
    expect(await show()).toEqual([['before'], ['"$user", public']]);
    // A failed block reverts too.
    await harness.roundTrip(frontend.query("BEGIN; SET application_name = 'failed'; SELECT nope"));
    await harness.roundTrip(frontend.query('COMMIT'));
    expect((await show())[0]).toEqual(['before']);
    // Committed: SET stays, SET LOCAL reverts.
    await harness.roundTrip(
      frontend.query(
        "BEGIN; SET search_path = y; SET LOCAL application_name = 'local'; SHOW application_name",
      ),
    );
    answer = await harness.roundTrip(frontend.query('SHOW application_name; COMMIT'));
    expect(rows(answer)).toEqual([['local']]);
    expect(await show()).toEqual([['before'], ['y']]);
    // Outside a block SET LOCAL warns and does nothing.
    answer = await harness.roundTrip(frontend.query("SET LOCAL application_name = 'nothing'"));
    expect([tags(answer), find(answer, 'N').length]).toEqual([['SET'], 1]);
    expect((await show())[0]).toEqual(['before']);
  });

  it('a commit puts SET LOCAL names back to the session value SET or RESET gave in the transaction', async () => {
    const harness = await started();
    // statement_timeout shows in ms.
    const show = async (name: string) => rows(await harness.roundTrip(frontend.query(`SHOW ${name}`)));
    await harness.roundTrip(
      frontend.query("BEGIN; SET statement_timeout = '10s'; SET LOCAL statement_timeout = '1min'; COMMIT"),
    );
    expect(await show('statement_timeout')).toEqual([['10000']]);
    // RESET is session-level too: the default outlasts the commit.
    await harness.roundTrip(
      frontend.query("BEGIN; SET LOCAL statement_timeout = '5s'; RESET statement_timeout; COMMIT"),
    );
    expect(await show('statement_timeout')).toEqual([['0']]);
    // A rollback still restores the value at BEGIN.
    await harness.roundTrip(
      frontend.query(
        "SET statement_timeout = '7s'; BEGIN; SET statement_timeout = '9s'; RESET ALL; ROLLBACK",
      ),
    );
    expect(await show('statement_timeout')).toEqual([['7000']]);
  });

  it("pg_dump's DEFAULT casts create the table, and the defaults are the cast values", async () => {
    const harness = await started();
    const answer = await harness.roundTrip(
      frontend.query(
        "CREATE TABLE d (id int, s varchar(20) DEFAULT 'new'::character varying, n int DEFAULT 0::int, f int DEFAULT -1::int, b bool DEFAULT 'true'::boolean, r real DEFAULT (2)::real); INSERT INTO d (id) VALUES (1); SELECT s, n, f, b, r FROM d",
      ),
    );
    expect(find(answer, 'E')).toEqual([]);
    // b is declared bool: t, as PostgreSQL shows it.
    expect(rows(answer)).toEqual([['new', '0', '-1', 't', '2']]);
  });

  it('Terminate closes and rolls back an open transaction', async () => {
    const harness = await started();
    await harness.roundTrip(frontend.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)'));
    await harness.send(frontend.terminate());
    expect(harness.closed).toBe(true);
    const other = await started();
    expect(rows(await other.roundTrip(frontend.query('SELECT count(*) FROM t')))).toEqual([['0']]);
  });
});
