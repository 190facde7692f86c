/**
 * The v3 codec: the streaming decoder cuts every frontend message correctly whatever the chunking,
 * and refuses bad framing with a typed error; the encoders produce what the protocol documents.
 */
import { describe, expect, it } from 'vitest';
import {
  dataRow,
  errorResponse,
  FrontendDecoder,
  MessageWriter,
  PgProtocolError,
  readyForQuery,
  rowDescription,
} from '../../src/core/pgwire/messages.js';
import {
  BackendReader,
  concat,
  dataRowValues,
  errorFields,
  frontend,
  rowDescriptionColumns,
} from './support/wire.js';

function decodeAll(bytes: Uint8Array, chunkSize: number, messageBytesMax?: number) {
  const decoder = new FrontendDecoder(messageBytesMax);
  const messages = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    decoder.push(bytes.subarray(offset, offset + chunkSize));
    for (let message = decoder.next(); message !== null; message = decoder.next()) messages.push(message);
  }
  return messages;
}

function protocolError(run: () => unknown): PgProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof PgProtocolError) return error;
    throw error;
  }
  throw new Error('expected a PgProtocolError');
}

describe('FrontendDecoder', () => {
  const stream = concat(
    frontend.sslRequest(),
    frontend.startup({ user: 'u', database: 'd', application_name: 'psql' }),
    frontend.query('SELECT 1'),
    frontend.parse('s1', 'SELECT $1', [20]),
    frontend.bind('', 's1', ['42', null], [0], [1]),
    frontend.describe('P', ''),
    frontend.execute('', 10),
    frontend.close('S', 's1'),
    frontend.flush(),
    frontend.sync(),
    frontend.password(new TextEncoder().encode('secret\0')),
    frontend.terminate(),
  );

  it('decodes every message the same way for any chunking', () => {
    const whole = decodeAll(stream, stream.length);
    expect(whole.map((message) => message.type)).toEqual([
      'SSLRequest',
      'Startup',
      'Query',
      'Parse',
      'Bind',
      'Describe',
      'Execute',
      'Close',
      'Flush',
      'Sync',
      'Password',
      'Terminate',
    ]);
    expect(whole[1]).toEqual({
      type: 'Startup',
      protocolVersion: 196608,
      parameters: new Map([
        ['user', 'u'],
        ['database', 'd'],
        ['application_name', 'psql'],
      ]),
    });
    expect(whole[3]).toEqual({ type: 'Parse', name: 's1', sql: 'SELECT $1', parameterTypes: [20] });
    expect(whole[4]).toEqual({
      type: 'Bind',
      portal: '',
      statement: 's1',
      parameterFormats: [0],
      parameters: [new TextEncoder().encode('42'), null],
      resultFormats: [1],
    });
    expect(whole[6]).toEqual({ type: 'Execute', portal: '', maxRows: 10 });
    for (const size of [1, 2, 3, 7, 64]) expect(decodeAll(stream, size)).toEqual(whole);
  });

  it('never changes the bytes of a message it handed out while more arrive', () => {
    const decoder = new FrontendDecoder();
    decoder.push(
      concat(frontend.startup({ user: 'u' }), frontend.bind('', '', ['first', 'second'], [0], [0])),
    );
    expect(decoder.next()?.type).toBe('Startup');
    const bind = decoder.next();
    expect(bind?.type).toBe('Bind');
    const held = bind?.type === 'Bind' ? bind.parameters : [];
    // Small chunks land in the room after it; a long message makes the decoder move to a new buffer.
    const more = concat(frontend.query('SELECT 1'), frontend.query(`SELECT '${'y'.repeat(100_000)}'`));
    for (let offset = 0; offset < more.length; offset += 3) {
      decoder.push(more.subarray(offset, offset + 3));
      while (decoder.next() !== null);
    }
    expect(held.map((value) => new TextDecoder().decode(value!))).toEqual(['first', 'second']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('receives a long message in small chunks in time linear in its length', () => {
    // Copying all pending bytes at every chunk made this 8 MiB message in 1 KiB chunks copy 32 GiB
    // (seconds); doubling the buffer copies each byte about twice.
    const sql = `SELECT '${'z'.repeat(8 * 1024 * 1024)}'`;
    const bytes = concat(frontend.startup({ user: 'u' }), frontend.query(sql));
    const started = performance.now();
    const messages = decodeAll(bytes, 1024);
    const elapsedMs = performance.now() - started;
    expect(messages.map((message) => message.type)).toEqual(['Startup', 'Query']);
    expect(messages[1]).toEqual({ type: 'Query', sql });
    expect(elapsedMs).toBeLessThan(3_000);
  });

  it('decodes CancelRequest and GSSENCRequest in the startup phase', () => {
    expect(decodeAll(concat(frontend.gssencRequest(), frontend.cancelRequest(7, -3)), 5)).toEqual([
      { type: 'GSSENCRequest' },
      { type: 'CancelRequest', processId: 7, secretKey: -3 },
    ]);
  });

  it('refuses bad framing with typed errors', () => {
    const startup = frontend.startup({ user: 'u' });
    expect(protocolError(() => decodeAll(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0]), 8)).sqlstate).toBe(
      '08P01',
    );
    expect(protocolError(() => decodeAll(new Uint8Array([0, 1, 0, 0]), 4)).message).toContain(
      'startup packet',
    );
    expect(protocolError(() => decodeAll(concat(new Uint8Array([0, 0, 0, 8, 0, 2, 0, 0])), 8)).sqlstate).toBe(
      '0A000',
    );
    const oversized = concat(startup, new Uint8Array([0x51, 0, 1, 0, 0]));
    expect(protocolError(() => decodeAll(oversized, 100, 1000)).sqlstate).toBe('54000');
    const tooShort = concat(startup, new Uint8Array([0x51, 0, 0, 0, 3]));
    expect(protocolError(() => decodeAll(tooShort, 100)).sqlstate).toBe('08P01');
    const unknownType = concat(startup, frontend.raw('!', new Uint8Array(0)));
    expect(protocolError(() => decodeAll(unknownType, 100)).message).toContain(
      'invalid frontend message type',
    );
    const noTerminator = concat(startup, frontend.raw('Q', new TextEncoder().encode('SELECT 1')));
    expect(protocolError(() => decodeAll(noTerminator, 100)).message).toContain('invalid string');
    const trailing = concat(startup, frontend.raw('S', new Uint8Array([1])));
    expect(protocolError(() => decodeAll(trailing, 100)).message).toBe('invalid message format');
    const badFormat = concat(startup, frontend.bind('', '', [], [], [2]));
    expect(protocolError(() => decodeAll(badFormat, 100)).message).toContain('format code');
    const badUtf8 = concat(startup, frontend.raw('Q', new Uint8Array([0xff, 0xfe, 0])));
    expect(protocolError(() => decodeAll(badUtf8, 100)).sqlstate).toBe('22021');
    const shortParameter = concat(
      startup,
      frontend.raw('B', new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1])),
    );
    expect(protocolError(() => decodeAll(shortParameter, 100)).message).toContain('insufficient data');
  });
});

describe('backend encoders', () => {
  it('frame messages as the protocol documents', () => {
    const writer = new MessageWriter();
    rowDescription(writer, [
      { name: 'id', typeOid: 20, typeSize: 8, format: 1 },
      { name: 'név', typeOid: 25, typeSize: -1, format: 0 },
    ]);
    dataRow(writer, [new Uint8Array([1, 2]), null]);
    errorResponse(writer, {
      severity: 'ERROR',
      sqlstate: '42P01',
      message: 'no table',
      detail: 'd',
      hint: 'h',
    });
    readyForQuery(writer, 'E');
    const reader = new BackendReader();
    reader.push(writer.finish());
    expect(reader.types()).toBe('TDEZ');
    const [description, row, error, ready] = reader.messages;
    expect(rowDescriptionColumns(description?.body as Uint8Array)).toEqual([
      ['id', 20, 1],
      ['név', 25, 0],
    ]);
    expect(dataRowValues(row?.body as Uint8Array)).toEqual([new Uint8Array([1, 2]), null]);
    expect(errorFields(error?.body as Uint8Array)).toEqual({
      S: 'ERROR',
      V: 'ERROR',
      C: '42P01',
      M: 'no table',
      D: 'd',
      H: 'h',
    });
    expect(Array.from(ready?.body as Uint8Array)).toEqual([0x45]);
  });
});
