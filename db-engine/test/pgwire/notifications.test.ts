// LISTEN / NOTIFY (src/core/pgwire/notifications.ts, the classification in sql.ts and the connection's
// delivery): the hub alone, the statements, and — on a real PgServer over the engine's kernel, through
// node-postgres and psql — delivery to idle sessions and to the sender, at COMMIT and never after a
// ROLLBACK, held while a listener is inside a block, with PostgreSQL's errors. Every behaviour below
// was checked against PostgreSQL 15 with the same statements.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Notification, NotificationHub } from '../../src/core/pgwire/notifications.js';
import { classify, PgSqlError, tokenize } from '../../src/core/pgwire/sql.js';
import { Oid } from '../../src/core/pgwire/types.js';
import { startKernelSessions } from './support/kernel-backend.js';

const run = promisify(execFile);

describe('the notification hub', () => {
  it('hands each notification to the listeners of its channel, in order, until they unlisten', () => {
    const hub = new NotificationHub();
    const heard = { a: [] as string[], b: [] as string[] };
    const a = { notify: (n: Notification) => heard.a.push(`${n.channel}:${n.payload}`) };
    const b = { notify: (n: Notification) => heard.b.push(`${n.channel}:${n.payload}`) };
    hub.listen(a, 'jobs');
    hub.listen(a, 'jobs');
    hub.listen(a, 'mail');
    hub.listen(b, 'jobs');
    hub.publish([
      { channel: 'jobs', payload: '1', processId: 9 },
      { channel: 'mail', payload: '2', processId: 9 },
      { channel: 'none', payload: '3', processId: 9 },
    ]);
    expect(heard).toEqual({ a: ['jobs:1', 'mail:2'], b: ['jobs:1'] });
    expect(hub.channelsOf(a)).toEqual(['jobs', 'mail']);
    hub.unlisten(a, 'jobs');
    hub.unlisten(b, null);
    hub.publish([{ channel: 'jobs', payload: '4', processId: 9 }]);
    expect(heard.b).toEqual(['jobs:1']);
    expect(hub.channelCount).toBe(1);
    hub.unlisten(a, null);
    expect(hub.channelCount).toBe(0);
  });
});

describe('classifying LISTEN, UNLISTEN, NOTIFY and pg_notify', () => {
  const classified = (sql: string) => classify(tokenize(sql));

  it('reads the channel as PostgreSQL does: folded unless quoted', () => {
    expect(classified('LISTEN Jobs')).toEqual({ kind: 'listen', channel: 'jobs' });
    expect(classified('listen "Jobs:Insert"')).toEqual({ kind: 'listen', channel: 'Jobs:Insert' });
    expect(classified('UNLISTEN *')).toEqual({ kind: 'unlisten', channel: null });
    expect(classified('UNLISTEN jobs')).toEqual({ kind: 'unlisten', channel: 'jobs' });
    expect(classified("NOTIFY jobs, 'it''s here'")).toEqual({
      kind: 'notify',
      channel: { literal: 'jobs' },
      payload: { literal: "it's here" },
    });
    expect(classified('NOTIFY jobs')).toMatchObject({ payload: { literal: '' } });
    expect(classified("SELECT pg_notify('Jobs', $1)")).toEqual({
      kind: 'notify',
      channel: { literal: 'Jobs' },
      payload: { parameter: 1 },
      resultColumn: 'pg_notify',
    });
    expect(classified('select pg_catalog.pg_notify($1::text, NULL) AS sent')).toMatchObject({
      channel: { parameter: 1 },
      payload: { literal: null },
      resultColumn: 'sent',
    });
  });

  it('refuses other forms with a typed error', () => {
    for (const sql of [
      'LISTEN',
      "LISTEN 'jobs'",
      'LISTEN a b',
      'NOTIFY a, b',
      "NOTIFY a 'x'",
      'UNLISTEN * x',
    ]) {
      expect(() => classified(sql), sql).toThrow(PgSqlError);
    }
    for (const sql of [
      "SELECT pg_notify('a')",
      "SELECT pg_notify(NULL, 'x')",
      "SELECT pg_notify('a', upper('x'))",
      "SELECT pg_notify('a', 'x') FROM t",
    ]) {
      expect([sql, classified(sql)]).toMatchObject([sql, { kind: 'unsupported', sqlstate: '0A000' }]);
    }
  });
});

describe('LISTEN and NOTIFY over the engine kernel, through node-postgres and psql', () => {
  let sessions: Awaited<ReturnType<typeof startKernelSessions>>;

  beforeAll(async () => {
    sessions = await startKernelSessions();
  });

  afterAll(async () => {
    await sessions?.stop();
  });

  /** A client and what it has heard, as `channel:payload` (with `@self` when it sent it itself). */
  async function connect(): Promise<{ client: pg.Client; heard: string[]; pid: number }> {
    const client = await sessions.connect();
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const heard: string[] = [];
    client.on('notification', (message) =>
      heard.push(`${message.channel}:${message.payload}${message.processId === pid ? '@self' : ''}`),
    );
    return { client, heard, pid };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  it('delivers to idle listeners at once, to the sender too, with the sender pid', async () => {
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.client.query('LISTEN jobs');
    await b.client.query('LISTEN "Jobs"');
    await c.client.query('LISTEN jobs');
    await c.client.query("NOTIFY jobs, 'one'");
    const sent = await c.client.query({ text: 'SELECT pg_notify($1, $2) AS sent', values: ['Jobs', 'two'] });
    expect(sent.fields.map((field) => [field.name, field.dataTypeID])).toEqual([['sent', Oid.void]]);
    await c.client.query("SELECT pg_notify('jobs', NULL)");
    await settle();
    expect(a.heard).toEqual(['jobs:one', 'jobs:']);
    expect(b.heard).toEqual(['Jobs:two']);
    expect(c.heard).toEqual(['jobs:one@self', 'jobs:@self']);
    await a.client.query('UNLISTEN *');
    await c.client.query("NOTIFY jobs, 'three'");
    await settle();
    expect(a.heard).toHaveLength(2);
    // A listener that disconnects is forgotten; the others still hear.
    await c.client.end();
    await b.client.query('NOTIFY "Jobs", \'four\'');
    await settle();
    expect(b.heard).toEqual(['Jobs:two', 'Jobs:four@self']);
  });

  it("sends a block's notifications at COMMIT, each once, and none after ROLLBACK or a ROLLBACK TO", async () => {
    const [listener, sender] = [await connect(), await connect()];
    await listener.client.query('LISTEN q');
    await sender.client.query('BEGIN');
    await sender.client.query("NOTIFY q, 'a'");
    await sender.client.query("NOTIFY q, 'a'");
    await sender.client.query("SELECT pg_notify('q', 'b')");
    await sender.client.query('SAVEPOINT s');
    await sender.client.query("NOTIFY q, 'undone'");
    await sender.client.query('ROLLBACK TO SAVEPOINT s');
    await settle();
    expect(listener.heard).toEqual([]);
    await sender.client.query('COMMIT');
    await settle();
    expect(listener.heard).toEqual(['q:a', 'q:b']);
    await sender.client.query('BEGIN');
    await sender.client.query("NOTIFY q, 'never'");
    await sender.client.query('ROLLBACK');
    // A block that failed ends as a rollback too.
    await sender.client.query('BEGIN');
    await sender.client.query("NOTIFY q, 'never either'");
    await expect(sender.client.query('SELECT * FROM no_such_table')).rejects.toThrow();
    await sender.client.query('COMMIT');
    await settle();
    expect(listener.heard).toEqual(['q:a', 'q:b']);
  });

  it('takes LISTEN in a block at its COMMIT, and holds notifications while a listener is in a block', async () => {
    const [listener, sender] = [await connect(), await connect()];
    await listener.client.query('BEGIN');
    await listener.client.query('LISTEN later');
    await listener.client.query('ROLLBACK');
    await sender.client.query("NOTIFY later, 'x'");
    await settle();
    expect(listener.heard).toEqual([]);
    await listener.client.query('BEGIN');
    await listener.client.query('LISTEN later');
    await sender.client.query("NOTIFY later, 'not yet listening'");
    await listener.client.query('COMMIT');
    await listener.client.query('BEGIN');
    await sender.client.query("NOTIFY later, 'held'");
    await settle();
    expect(listener.heard).toEqual([]);
    await listener.client.query('SELECT 1');
    expect(listener.heard).toEqual([]);
    await listener.client.query('COMMIT');
    expect(listener.heard).toEqual(['later:held']);
  });

  it("gives PostgreSQL's errors for an empty channel and a payload too long", async () => {
    const { client } = await connect();
    await expect(client.query("SELECT pg_notify('', 'x')")).rejects.toMatchObject({
      code: '22023',
      message: 'channel name cannot be empty',
    });
    await expect(
      client.query({ text: 'SELECT pg_notify($1, $2)', values: ['c', 'x'.repeat(8000)] }),
    ).rejects.toMatchObject({
      code: '22023',
      message: 'payload string too long',
    });
    await client.query({ text: 'SELECT pg_notify($1, $2)', values: ['c', 'x'.repeat(7999)] });
  });

  it('prints psql its own notification, as PostgreSQL does', async () => {
    const url = `postgresql://postgres@127.0.0.1:${sessions.port}/x`;
    const { stdout } = await run(
      'psql',
      [url, '-X', '-c', 'LISTEN a', '-c', "NOTIFY a, 'x'", '-c', 'UNLISTEN *', '-c', "NOTIFY a, 'y'"],
      { timeout: 30_000 },
    );
    expect(stdout.replace(/PID \d+/, 'PID N')).toBe(
      'LISTEN\nNOTIFY\nAsynchronous notification "a" with payload "x" received from server process with PID N.\nUNLISTEN\nNOTIFY\n',
    );
  });
});
