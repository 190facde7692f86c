/**
 * What a PostgreSQL client sees when the engine itself fails under a statement — the write quorum is
 * lost while a read waits for the durability of what it saw, or the kernel is replaced — on every
 * path a statement can take: autocommit, a READ ONLY transaction (simple and extended protocol) and
 * the COMMIT of a read-write one. The engine's own backend (src/io/pg-backend.ts) and gate run over
 * the real kernel in this process; the engine's failure is injected where `Engine.execute` raises it
 * (a thrown NL_QUORUM_LOST while the reply waits for durability, after the kernel answered). Each must be an ERROR with 57P03 and a hint to retry,
 * with the session going on (a transaction block left failed until ROLLBACK) — never FATAL XX000.
 */
import { NorthlightError } from '@northlight/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineReply } from '../../src/engine.js';
import { createEngineBackend } from '../../src/io/pg-backend.js';
import type { KernelHost } from '../../src/kernel/kernel-host.js';
import { TransactionGate } from '../../src/transaction-gate.js';
import { MemoryVolume, startKernel } from '../kernel/support/memory-volume.js';
import { Harness } from './support/harness.js';
import { type BackendMessage, dataRowValues, errorFields, frontend, text } from './support/wire.js';

function fields(messages: readonly BackendMessage[]): Record<string, string> {
  const found = messages.find((message) => message.type === 'E');
  if (found === undefined) throw new Error(`no ErrorResponse in ${messages.map((m) => m.type).join('')}`);
  return errorFields(found.body);
}

function status(messages: readonly BackendMessage[]): string {
  const ready = messages.filter((message) => message.type === 'Z').at(-1);
  return ready === undefined ? '' : String.fromCharCode(ready.body[0] as number);
}

function rows(messages: readonly BackendMessage[]): (string | null)[][] {
  return messages
    .filter((message) => message.type === 'D')
    .map((message) => dataRowValues(message.body).map(text));
}

/** Sends, and waits (in real time: the kernel runs in a worker) for ReadyForQuery or a close. */
async function roundTrip(...parts: Uint8Array[]): Promise<BackendMessage[]> {
  for (const part of parts) harness.connection.receive(part);
  const deadline = Date.now() + 10_000;
  while (!harness.closed && !harness.reader.messages.some((message) => message.type === 'Z')) {
    if (Date.now() > deadline) throw new Error('no ReadyForQuery within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return harness.reader.take();
}

const QUORUM_LOST =
  'write quorum lost: the commit was not acknowledged by 4 of 6 segments of its PGs within 10000 ms';

let host: KernelHost;
let harness: Harness;
/** While set, every request fails as `Engine.execute` fails when storage stops acknowledging. */
let storageLost = false;

beforeEach(async () => {
  storageLost = false;
  host = await startKernel(new MemoryVolume());
  const gate = new TransactionGate(
    async (request, options) => {
      const reply = await host.execute(request);
      options?.kernelDone?.();
      // Where `Engine.execute` fails: waiting for the durability of what the request read or wrote
      // (a describe reads no rows, and a statement inside a read-write transaction does not wait).
      if (storageLost && request.describeOnly !== true && options?.releaseReadsEarly !== true)
        throw new NorthlightError('NL_QUORUM_LOST', QUORUM_LOST);
      return reply as EngineReply;
    },
    { idleTimeoutMs: 60_000, lockWaitTimeoutMs: 10_000 },
  );
  harness = new Harness(createEngineBackend({ gate, role: 'writer', serverVersion: '15.0 (test)' }));
  await harness.start();
  const created = await roundTrip(
    frontend.query('CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2)'),
  );
  expect(status(created)).toBe('I');
});

afterEach(async () => {
  await host.close();
});

function expectRetryableError(messages: readonly BackendMessage[]): void {
  expect(harness.closed).toBe(false);
  expect(fields(messages)).toMatchObject({ S: 'ERROR', C: '57P03', M: expect.stringContaining('quorum') });
  expect(fields(messages).H).toMatch(/retry/);
}

describe('an engine failure under a statement is an ERROR, never the end of the session', () => {
  it('BEGIN READ ONLY; SELECT (simple protocol): ERROR 57P03, the block fails until ROLLBACK', async () => {
    storageLost = true;
    const failed = await roundTrip(frontend.query('BEGIN READ ONLY; SELECT count(*) FROM t'));
    expectRetryableError(failed);
    expect(status(failed)).toBe('E');
    expect(status(await roundTrip(frontend.query('ROLLBACK')))).toBe('I');
    storageLost = false;
    const again = await roundTrip(frontend.query('BEGIN READ ONLY; SELECT count(*) FROM t'));
    expect(rows(again)).toEqual([['2']]);
    expect(status(await roundTrip(frontend.query('COMMIT')))).toBe('I');
  });

  it('a READ ONLY transaction over the extended protocol', async () => {
    expect(status(await roundTrip(frontend.query('START TRANSACTION READ ONLY')))).toBe('T');
    storageLost = true;
    const failed = await roundTrip(
      frontend.parse('', 'SELECT id FROM t WHERE id = $1'),
      frontend.bind('', '', ['1']),
      frontend.describe('P', ''),
      frontend.execute(''),
      frontend.sync(),
    );
    expectRetryableError(failed);
    expect(status(failed)).toBe('E');
    expect(status(await roundTrip(frontend.query('ROLLBACK')))).toBe('I');
  });

  it('autocommit, and the COMMIT of a read-write transaction, answer the same way', async () => {
    storageLost = true;
    expectRetryableError(await roundTrip(frontend.query('SELECT count(*) FROM t')));
    // Inside a read-write transaction a statement's reply does not wait for durability (the gate's
    // releaseReadsEarly); its COMMIT does, and fails, ending the transaction.
    const inBlock = await roundTrip(frontend.query('BEGIN; SELECT count(*) FROM t'));
    expect(rows(inBlock)).toEqual([['2']]);
    const commit = await roundTrip(frontend.query('COMMIT'));
    expectRetryableError(commit);
    expect(status(commit)).toBe('I');
    storageLost = false;
    expect(rows(await roundTrip(frontend.query('SELECT count(*) FROM t')))).toEqual([['2']]);
  });
});
