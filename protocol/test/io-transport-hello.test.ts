// Proves the TCP transport's 80-byte hello (docs/formats.md, "TCP transport"): its layout byte by
// byte and the golden encoding the doc shows; round trips for ids of every length from 1 to 63 bytes;
// a stream cut anywhere is read the same by the incremental reader; every single-bit corruption of a
// hello is refused with a NorthlightError (never accepted as another id, never any other exception);
// garbage fails at its first wrong byte, and another version with NL_DECODE_UNKNOWN_VERSION.
import { asNodeId, crc32c, NorthlightError } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeTransportHello,
  encodeTransportHello,
  TRANSPORT_HELLO_BYTES,
  TransportHelloReader,
} from '../src/io/transport-hello.js';

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    return error instanceof NorthlightError ? error.code : `not a NorthlightError: ${String(error)}`;
  }
}

describe('transport hello', () => {
  it('lays out magic, version, length, id, zero padding and CRC32C', () => {
    const hello = encodeTransportHello(asNodeId('storage-a'));
    expect(hello.length).toBe(TRANSPORT_HELLO_BYTES);
    expect(Buffer.from(hello.subarray(0, 8)).toString('latin1')).toBe('NLHELLO1');
    expect(hello[8]).toBe(9);
    expect(hello[9]).toBe(0);
    expect(Buffer.from(hello.subarray(10, 19)).toString('latin1')).toBe('storage-a');
    expect(hello.subarray(19, 76).every((byte) => byte === 0)).toBe(true);
    expect(new DataView(hello.buffer, hello.byteOffset, hello.byteLength).getUint32(76, true)).toBe(
      crc32c(hello.subarray(0, 76)),
    );
  });

  it('encodes the golden hello of docs/formats.md exactly (version 1 is frozen)', () => {
    const golden = `4e4c48454c4c4f31 0900 73746f726167652d61 ${'00'.repeat(57)} a48bd87a`;
    expect(Buffer.from(encodeTransportHello(asNodeId('storage-a'))).toString('hex')).toBe(
      golden.replaceAll(' ', ''),
    );
  });

  it('round-trips ids of every length, whole or cut at any point', () => {
    for (let length = 1; length <= 63; length++) {
      const id = asNodeId('n'.padEnd(length, '0'));
      const hello = encodeTransportHello(id);
      expect(decodeTransportHello(hello)).toBe(id);
      const cut = (length * 7) % TRANSPORT_HELLO_BYTES;
      const reader = new TransportHelloReader();
      const trailing = Uint8Array.of(1, 2, 3);
      expect(reader.push(hello.subarray(0, cut))).toBe(cut);
      expect(reader.complete).toBe(cut === TRANSPORT_HELLO_BYTES);
      expect(reader.push(Buffer.concat([hello.subarray(cut), trailing]))).toBe(TRANSPORT_HELLO_BYTES - cut);
      expect(reader.nodeId).toBe(id);
    }
  });

  it('refuses every single-bit corruption with a NorthlightError', () => {
    const hello = encodeTransportHello(asNodeId('storage-node-with-a-longish-name.zone-b'));
    const outcomes = new Set<string>();
    for (let bit = 0; bit < TRANSPORT_HELLO_BYTES * 8; bit++) {
      const corrupted = hello.slice();
      corrupted[bit >> 3]! ^= 1 << (bit & 7);
      outcomes.add(codeOf(() => decodeTransportHello(corrupted)));
    }
    expect([...outcomes].sort()).toEqual([
      'NL_DECODE_CHECKSUM',
      'NL_DECODE_INVALID',
      'NL_DECODE_UNKNOWN_VERSION',
    ]);
  });

  it('refuses random bytes at their first wrong byte, never with another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), (bytes) => {
        const reader = new TransportHelloReader();
        const code = codeOf(() => reader.push(bytes));
        if (bytes[0] !== 0x4e) expect(code).toBe('NL_DECODE_INVALID');
        expect([
          'accepted',
          'NL_DECODE_INVALID',
          'NL_DECODE_UNKNOWN_VERSION',
          'NL_DECODE_CHECKSUM',
        ]).toContain(code);
      }),
      { numRuns: 2_000, seed: 7 },
    );
  });

  it('names another version NL_DECODE_UNKNOWN_VERSION and a short input NL_DECODE_TRUNCATED', () => {
    const hello = encodeTransportHello(asNodeId('storage-a'));
    const version2 = hello.slice();
    version2[7] = 0x32;
    expect(codeOf(() => new TransportHelloReader().push(version2.subarray(0, 8)))).toBe(
      'NL_DECODE_UNKNOWN_VERSION',
    );
    expect(codeOf(() => decodeTransportHello(hello.subarray(0, 79)))).toBe('NL_DECODE_TRUNCATED');
  });
});
