// PostgreSQL's advisory locks (src/core/pgwire/advisory-locks.ts, the classification in sql.ts and the
// connection's answers): the table alone, the statements migration tools send, and — on a real
// PgServer over the engine's kernel, through node-postgres and psql — sessions that wait for each
// other, give locks back by unlocking, committing and disconnecting, and stop waiting on a cancel, a
// timeout or a deadlock.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdvisoryDeadlockError, AdvisoryLocks, advisoryKey } from '../../src/core/pgwire/advisory-locks.js';
import { classify, tokenize } from '../../src/core/pgwire/sql.js';
import { Oid } from '../../src/core/pgwire/types.js';
import { startKernelSessions } from './support/kernel-backend.js';

const run = promisify(execFile);

describe('the advisory-lock table', () => {
  const key = advisoryKey([42n]);

  it('is exclusive, reentrant and first come first served; a hold is given back as often as taken', async () => {
    const locks = new AdvisoryLocks();
    expect(locks.tryAcquire(1, key, 'session')).toBe(true);
    expect(locks.tryAcquire(1, key, 'session')).toBe(true);
    expect(locks.tryAcquire(2, key, 'session')).toBe(false);
    const order: number[] = [];
    const second = locks.acquire(2, key, 'session', new AbortController().signal).then((taken) => {
      order.push(2);
      return taken;
    });
    const third = locks.acquire(3, key, 'transaction', new AbortController().signal).then((taken) => {
      order.push(3);
      return taken;
    });
    // The holder takes it again at once even with others waiting, as in PostgreSQL.
    expect(locks.tryAcquire(1, key, 'transaction')).toBe(true);
    expect(locks.size).toEqual({ held: 1, waiting: 2 });
    expect(locks.release(1, key)).toBe(true);
    expect(locks.release(1, key)).toBe(true);
    expect(locks.release(1, key)).toBe(false); // only the transaction-level hold is left
    await Promise.resolve();
    expect(order).toEqual([]);
    locks.releaseAll(1, 'transaction');
    expect(await second).toBe(true);
    expect(locks.heldBy(2)).toEqual([{ key, session: 1, transaction: 0 }]);
    locks.releaseAll(2);
    expect(await third).toBe(true);
    expect(order).toEqual([2, 3]);
    expect(locks.heldBy(3)).toEqual([{ key, session: 0, transaction: 1 }]);
    locks.releaseAll(3, 'session');
    expect(locks.heldBy(3)).toHaveLength(1);
    locks.releaseAll(3, 'transaction');
    expect(locks.size).toEqual({ held: 0, waiting: 0 });
  });

  it('agrees with a plain model over random takes and gives, and forgets every key given back', () => {
    const op = fc.record({
      kind: fc.constantFrom('try', 'release', 'releaseAll'),
      session: fc.integer({ min: 1, max: 3 }),
      key: fc.integer({ min: 1, max: 3 }),
      level: fc.constantFrom<'session' | 'transaction' | undefined>('session', 'transaction', undefined),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const locks = new AdvisoryLocks();
        const model = new Map<string, { owner: number; session: number; transaction: number }>();
        for (const { kind, session, key: number, level } of ops) {
          const key = advisoryKey([BigInt(number)]);
          const held = model.get(key);
          if (kind === 'try') {
            const at = level ?? 'session';
            const free = held === undefined || held.owner === session;
            expect(locks.tryAcquire(session, key, at)).toBe(free);
            if (free) {
              const entry = held ?? { owner: session, session: 0, transaction: 0 };
              entry[at] += 1;
              model.set(key, entry);
            }
          } else if (kind === 'release') {
            const mine = held !== undefined && held.owner === session && held.session > 0;
            expect(locks.release(session, key)).toBe(mine);
            if (mine) held.session -= 1;
          } else {
            locks.releaseAll(session, level);
            for (const entry of model.values()) {
              if (entry.owner !== session) continue;
              if (level !== 'transaction') entry.session = 0;
              if (level !== 'session') entry.transaction = 0;
            }
          }
          for (const [name, entry] of [...model])
            if (entry.session + entry.transaction === 0) model.delete(name);
        }
        for (const session of [1, 2, 3]) {
          const expected = [...model]
            .filter(([, entry]) => entry.owner === session)
            .map(([key, entry]) => ({ key, session: entry.session, transaction: entry.transaction }));
          expect(locks.heldBy(session).sort((a, b) => a.key.localeCompare(b.key))).toEqual(
            expected.sort((a, b) => a.key.localeCompare(b.key)),
          );
        }
        expect(locks.size).toEqual({ held: model.size, waiting: 0 });
      }),
      { seed: 20261128, numRuns: 500 },
    );
  });

  it('keeps the one-key and two-key spaces apart', () => {
    const locks = new AdvisoryLocks();
    expect(locks.tryAcquire(1, advisoryKey([1n]), 'session')).toBe(true);
    expect(locks.tryAcquire(2, advisoryKey([0n, 1n]), 'session')).toBe(true);
    expect(locks.tryAcquire(2, advisoryKey([1n]), 'session')).toBe(false);
  });

  it('stops a wait when its signal aborts, leaving nothing held for it', async () => {
    const locks = new AdvisoryLocks();
    locks.tryAcquire(1, key, 'session');
    const controller = new AbortController();
    const waiting = locks.acquire(2, key, 'session', controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    locks.releaseAll(1);
    expect(locks.size).toEqual({ held: 0, waiting: 0 });
    const aborted = new AbortController();
    aborted.abort();
    locks.tryAcquire(1, key, 'session');
    expect(await locks.acquire(2, key, 'session', aborted.signal)).toBe(false);
  });

  it('refuses a wait that closes a cycle, through a chain of waiting sessions too', async () => {
    const locks = new AdvisoryLocks();
    const [a, b, c] = [advisoryKey([1n]), advisoryKey([2n]), advisoryKey([3n])];
    locks.tryAcquire(1, a, 'session');
    locks.tryAcquire(2, b, 'session');
    locks.tryAcquire(3, c, 'session');
    const signal = new AbortController().signal;
    const oneWaits = locks.acquire(1, b, 'session', signal); // 1 → 2
    const twoWaits = locks.acquire(2, c, 'session', signal); // 2 → 3
    await expect(locks.acquire(3, a, 'session', signal)).rejects.toBeInstanceOf(AdvisoryDeadlockError);
    locks.releaseAll(3);
    expect(await twoWaits).toBe(true);
    locks.releaseAll(2);
    expect(await oneWaits).toBe(true);
  });
});

describe('classifying the advisory-lock statements', () => {
  const classified = (sql: string) => classify(tokenize(sql));

  it('reads the forms migration tools send', () => {
    expect(classified('SELECT pg_advisory_lock(72707369)')).toEqual({
      kind: 'advisory-lock',
      action: 'lock',
      level: 'session',
      keys: [{ literal: 72707369n }],
      resultColumn: 'pg_advisory_lock',
    });
    expect(classified('select pg_try_advisory_lock(-5) as "lockObtained"')).toMatchObject({
      action: 'try',
      keys: [{ literal: -5n }],
      resultColumn: 'lockObtained',
    });
    expect(classified('SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)')).toMatchObject({
      action: 'lock',
      level: 'transaction',
      keys: [{ parameter: 1 }],
    });
    expect(classified('SELECT pg_try_advisory_xact_lock(1, $2) AS ok')).toMatchObject({
      action: 'try',
      level: 'transaction',
      keys: [{ literal: 1n }, { parameter: 2 }],
      resultColumn: 'ok',
    });
    expect(classified('SELECT pg_advisory_unlock(9223372036854775807)')).toMatchObject({
      action: 'unlock',
      keys: [{ literal: 9223372036854775807n }],
    });
    expect(classified('SELECT pg_advisory_unlock_all()')).toMatchObject({ action: 'unlock-all', keys: [] });
  });

  it('refuses other forms, shared locks and keys out of range with a typed error', () => {
    for (const sql of [
      "SELECT pg_advisory_lock(hashtext('x'))",
      'SELECT pg_advisory_lock(1, 2, 3)',
      'SELECT pg_advisory_lock()',
      'SELECT pg_advisory_unlock_all(1)',
      'SELECT pg_advisory_lock(1) FROM t',
      'SELECT pg_advisory_lock(1.5)',
      'SELECT pg_advisory_lock($1::text)',
      'SELECT pg_advisory_lock(1',
    ]) {
      expect([sql, classified(sql)]).toMatchObject([sql, { kind: 'unsupported', sqlstate: '0A000' }]);
    }
    expect(classified('SELECT pg_advisory_lock_shared(1)')).toMatchObject({
      kind: 'unsupported',
      sqlstate: '0A000',
      message: expect.stringMatching(/shared advisory locks are not supported/),
    });
    expect(classified('SELECT pg_advisory_lock(9223372036854775808)')).toMatchObject({
      kind: 'unsupported',
      sqlstate: '22003',
    });
    expect(classified('SELECT pg_advisory_lock(2147483648, 1)')).toMatchObject({ sqlstate: '22003' });
    // Not a call of these: SQL as before.
    expect(classified('SELECT pg_advisory_locks(1)')).toMatchObject({ kind: 'sql' });
  });

  it('gives a lock statement or a typed refusal for any arguments, never another error', () => {
    const piece = fc.constantFrom(
      '1',
      '-',
      '+',
      '$1',
      '$2',
      '::',
      'bigint',
      'text',
      ',',
      '(',
      ')',
      "'x'",
      'AS',
      'n',
      '9223372036854775808',
      ' ',
      '1.5',
      'FROM',
      ';',
    );
    fc.assert(
      fc.property(
        fc.constantFrom(
          'pg_advisory_lock',
          'pg_try_advisory_xact_lock',
          'pg_advisory_unlock',
          'pg_advisory_unlock_all',
          'pg_advisory_lock_shared',
        ),
        fc.array(piece, { maxLength: 12 }),
        (name, pieces) => {
          const result = classified(`SELECT ${name}(${pieces.join(' ')}`);
          expect(['advisory-lock', 'unsupported']).toContain(result.kind);
          if (result.kind === 'advisory-lock') {
            expect(result.keys.length).toBeLessThanOrEqual(2);
            for (const key of result.keys)
              if ('literal' in key) expect(BigInt.asIntN(64, key.literal)).toBe(key.literal);
          }
        },
      ),
      { seed: 20261128, numRuns: 2000 },
    );
  });
});

describe('advisory locks over the engine kernel, through node-postgres and psql', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;

  beforeAll(async () => {
    sessions = await startKernelSessions();
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  const connect = () => sessions.connect();

  it('makes a second session wait until the first unlocks or disconnects; try answers a boolean', async () => {
    const [a, b] = [await connect(), await connect()];
    const locked = await a.query('SELECT pg_advisory_lock(42)');
    expect(locked.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ['pg_advisory_lock', Oid.void],
    ]);
    expect(locked.rows).toEqual([{ pg_advisory_lock: '' }]);
    // A boolean, as PostgreSQL's: node-postgres gives false, which a tool tests as falsy.
    const tried = await b.query('select pg_try_advisory_lock(42) as "lockObtained"');
    expect(tried.fields[0]?.dataTypeID).toBe(Oid.bool);
    expect(tried.rows).toEqual([{ lockObtained: false }]);
    // A prepared statement with the key as a parameter (golang-migrate's form) waits for it.
    let bHasIt = false;
    const waiting = b.query({ text: 'SELECT pg_advisory_lock($1)', values: ['42'] }).then(() => {
      bHasIt = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(bHasIt).toBe(false);
    // Reentrant: a takes it again at once, and must give it back twice.
    await a.query('SELECT pg_advisory_lock(42)');
    expect((await a.query('SELECT pg_advisory_unlock(42) AS u')).rows).toEqual([{ u: true }]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(bHasIt).toBe(false);
    expect((await a.query('SELECT pg_advisory_unlock(42) AS u')).rows).toEqual([{ u: true }]);
    await waiting;
    expect(bHasIt).toBe(true);
    // Unlocking what it does not hold: false and PostgreSQL's warning.
    const notices: string[] = [];
    a.on('notice', (notice) => notices.push(`${notice.severity} ${notice.message}`));
    expect((await a.query('SELECT pg_advisory_unlock(42) AS u')).rows).toEqual([{ u: false }]);
    expect(notices).toEqual(["WARNING you don't own a lock of type ExclusiveLock"]);
    // The session's end gives its locks back.
    await b.end();
    expect((await a.query('SELECT pg_try_advisory_lock(42) AS t')).rows).toEqual([{ t: true }]);
    expect((await a.query('SELECT pg_advisory_unlock_all()')).rows).toEqual([{ pg_advisory_unlock_all: '' }]);
    expect(
      await a
        .query('SELECT pg_try_advisory_lock(42, 0) AS pair, pg_try_advisory_lock(42) AS one')
        .catch((error: Error) => error.message),
    ).toMatch(/supported only as SELECT pg_try_advisory_lock/);
  });

  it('holds a transaction-level lock until COMMIT, and only for its statement outside a block', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('BEGIN');
    await a.query('SELECT pg_advisory_xact_lock(7)');
    expect((await b.query('SELECT pg_try_advisory_xact_lock(7) AS t')).rows).toEqual([{ t: false }]);
    await a.query('SELECT 1');
    expect((await b.query('SELECT pg_try_advisory_lock(7) AS t')).rows).toEqual([{ t: false }]);
    await a.query('COMMIT');
    expect((await b.query('SELECT pg_try_advisory_xact_lock(7) AS t')).rows).toEqual([{ t: true }]);
    // Autocommit: b's transaction-level lock ended with its statement.
    expect((await a.query('SELECT pg_try_advisory_lock(7) AS t')).rows).toEqual([{ t: true }]);
    await a.query('SELECT pg_advisory_unlock(7)');
    // ROLLBACK ends one too, and a failed block holds it until then.
    await a.query('BEGIN');
    await a.query('SELECT pg_advisory_xact_lock(8)');
    await expect(a.query('SELECT * FROM no_such_table')).rejects.toThrow();
    expect((await b.query('SELECT pg_try_advisory_lock(8) AS t')).rows).toEqual([{ t: false }]);
    await a.query('ROLLBACK');
    expect((await b.query('SELECT pg_try_advisory_lock(8) AS t')).rows).toEqual([{ t: true }]);
    await b.query('SELECT pg_advisory_unlock_all()');
  });

  it('stops a wait at statement_timeout, lock_timeout, a cancel and a deadlock', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query('SELECT pg_advisory_lock(1)');
    await b.query("SET statement_timeout = '200ms'");
    await expect(b.query('SELECT pg_advisory_lock(1)')).rejects.toMatchObject({
      code: '57014',
      message: 'canceling statement due to statement timeout',
    });
    await b.query('SET statement_timeout = 0');
    await b.query("SET lock_timeout = '150ms'");
    await expect(b.query('SELECT pg_advisory_lock(1)')).rejects.toMatchObject({
      code: '55P03',
      message: 'canceling statement due to lock timeout',
    });
    await b.query('RESET lock_timeout');
    // pg_cancel_backend from a third session stops b's wait.
    const pid = (await b.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const waiting = b.query('SELECT pg_advisory_lock(1)').catch((error: { code?: string }) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const c = await connect();
    expect((await c.query(`SELECT pg_cancel_backend(${pid}) AS done`)).rows).toEqual([{ done: true }]);
    expect(await waiting).toBe('57014');
    // A deadlock: b holds 2 and waits for 1 (held by a); a then waits for 2.
    await b.query('SELECT pg_advisory_lock(2)');
    const bWaits = b.query('SELECT pg_advisory_lock(1)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(a.query('SELECT pg_advisory_lock(2)')).rejects.toMatchObject({ code: '40P01' });
    await a.query('SELECT pg_advisory_unlock(1)');
    await bWaits;
    await b.query('SELECT pg_advisory_unlock_all()');
    // Nothing left held or waiting.
    expect((await c.query('SELECT pg_try_advisory_lock(1) AS one')).rows).toEqual([{ one: true }]);
    expect((await c.query('SELECT pg_try_advisory_lock(2) AS two')).rows).toEqual([{ two: true }]);
  });

  it('answers psql as PostgreSQL does', async () => {
    const url = `postgresql://postgres@127.0.0.1:${sessions.port}/x`;
    const { stdout } = await run(
      'psql',
      [
        url,
        '-X',
        '-A',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        'SELECT pg_advisory_lock(5)',
        '-c',
        'SELECT pg_advisory_unlock(5)',
        '-c',
        'SELECT pg_advisory_unlock(5)',
      ],
      { timeout: 30_000 },
    );
    expect(stdout).toBe(
      'pg_advisory_lock\n\n(1 row)\npg_advisory_unlock\nt\n(1 row)\npg_advisory_unlock\nf\n(1 row)\n',
    );
  });
});
