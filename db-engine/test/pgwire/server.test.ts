/**
 * The socket side of the server (src/io/pg-server.ts), with raw protocol clients: the connection
 * limit answers FATAL 53300 and counts it, CancelRequest with the right (process id, secret key)
 * ends another connection's wait for the writer and a wrong key does nothing, a client that vanishes
 * mid-transaction releases the writer, and an idle transaction's client gets FATAL 25P03.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { SqliteTestBackend } from './support/sqlite-backend.js';
import { type BackendMessage, BackendReader, commandTagOf, errorFields, frontend } from './support/wire.js';

class RawClient {
  readonly reader = new BackendReader();
  readonly socket: net.Socket;
  closed = false;
  processId = 0;
  secretKey = 0;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk) => {
      this.reader.push(new Uint8Array(chunk));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Waits until `until` holds over the messages received so far (or the socket closes), then takes them. */
  async read(
    until: (messages: readonly BackendMessage[]) => boolean,
    timeoutMs = 5_000,
  ): Promise<BackendMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!until(this.reader.messages) && !this.closed) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.reader.types()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.reader.take();
  }

  async start(): Promise<BackendMessage[]> {
    this.socket.write(frontend.startup({ user: 'raw', database: 'raw' }));
    const messages = await this.read(hasReady);
    const key = messages.find((message) => message.type === 'K');
    if (key !== undefined) {
      const view = new DataView(key.body.buffer, key.body.byteOffset);
      this.processId = view.getInt32(0);
      this.secretKey = view.getInt32(4);
    }
    return messages;
  }

  async query(sql: string): Promise<BackendMessage[]> {
    this.socket.write(frontend.query(sql));
    return this.read(hasReady);
  }
}

function hasReady(messages: readonly BackendMessage[]): boolean {
  return messages.some((message) => message.type === 'Z');
}

function errorOf(messages: readonly BackendMessage[]): Record<string, string> {
  const found = messages.find((message) => message.type === 'E');
  if (found === undefined) throw new Error(`no error in ${messages.map((message) => message.type).join('')}`);
  return errorFields(found.body);
}

let backend: SqliteTestBackend;
let server: TestServer;
const clients: RawClient[] = [];

async function setup(options: Parameters<typeof startTestServer>[1]): Promise<void> {
  backend = new SqliteTestBackend({ idleTimeoutMs: 60_000 });
  server = await startTestServer(backend, options);
}

function client(): RawClient {
  const created = new RawClient(server.port);
  clients.push(created);
  return created;
}

afterEach(async () => {
  for (const entry of clients.splice(0)) entry.socket.destroy();
  await server.stop();
  backend.close();
});

describe('PgServer', () => {
  it('refuses connections beyond maxConnections with FATAL 53300, and counts them', async () => {
    await setup({ maxConnections: 2 });
    await client().start();
    await client().start();
    const third = client();
    const refused = await third.start();
    expect(errorOf(refused)).toMatchObject({ S: 'FATAL', C: '53300' });
    await third.read(() => false, 2_000).catch(() => []);
    expect(third.closed).toBe(true);
    expect(server.server.counters).toMatchObject({
      connectionsOpen: 2,
      connectionsTotal: 3,
      connectionsRefused: 1,
    });
    expect(server.server.counters.errorsBySqlstate.get('53300')).toBe(1);
    expect(server.server.counters.messagesByType.get('Startup')).toBe(3);
  });

  it('CancelRequest with the right key ends a wait for the writer; a wrong key does not', async () => {
    await setup({});
    const holder = client();
    await holder.start();
    await holder.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)');
    const waiter = client();
    await waiter.start();
    waiter.socket.write(frontend.query('INSERT INTO t VALUES (2)'));
    const wrong = client();
    wrong.socket.write(frontend.cancelRequest(waiter.processId, waiter.secretKey + 1));
    await wrong.read(() => false, 2_000).catch(() => []);
    expect(wrong.closed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(waiter.reader.messages).toEqual([]);
    const right = client();
    right.socket.write(frontend.cancelRequest(waiter.processId, waiter.secretKey));
    const cancelled = await waiter.read(hasReady);
    expect(errorOf(cancelled)).toMatchObject({ C: '57014', M: 'canceling statement due to user request' });
    const committed = await holder.query('COMMIT');
    expect(commandTagOf(committed.find((message) => message.type === 'C')?.body as Uint8Array)).toBe(
      'COMMIT',
    );
  });

  it('a client that vanishes mid-transaction releases the writer', async () => {
    await setup({});
    const vanishing = client();
    await vanishing.start();
    await vanishing.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)');
    vanishing.socket.destroy();
    const other = client();
    await other.start();
    const answer = await other.query('INSERT INTO t VALUES (2); SELECT count(*) FROM t');
    expect(answer.map((message) => message.type).join('')).toBe('CTDCZ');
  });

  it('an idle transaction is ended with FATAL 25P03 and the connection closed', async () => {
    await setup({ limits: { idleInTransactionTimeoutMs: 100 } });
    const idle = client();
    await idle.start();
    await idle.query('CREATE TABLE t (a INTEGER); BEGIN; INSERT INTO t VALUES (1)');
    const fatal = await idle.read((messages) => messages.some((message) => message.type === 'E'), 3_000);
    expect(errorOf(fatal)).toMatchObject({ S: 'FATAL', C: '25P03' });
    await idle.read(() => false, 2_000).catch(() => []);
    expect(idle.closed).toBe(true);
  });
});
