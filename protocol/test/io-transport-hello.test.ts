// Proves the TCP transport's 80-byte hello (docs/formats.md, "TCP transport"): its layout byte by
// byte and the golden encoding the doc shows; round trips for ids of every length from 1 to 63 bytes;
// a stream cut anywhere is read the same by the incremental reader; every single-bit corruption of a
// hello is refused with a NorthlightError (never accepted as another id, never any other exception);
// garbage fails at its first wrong byte, and another version with NL_DECODE_UNKNOWN_VERSION.
import { asNodeId, crc32c, NorthlightError } from '@northlight/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transportKey } from '../src/io/internal-auth.js';
import {
  decodeTransportHello,
  encodeTransportHello,
  proofsEqual,
  readTransportHello,
  TRANSPORT_HELLO_BYTES,
  TRANSPORT_HELLO_V2_BYTES,
  TRANSPORT_NONCE_BYTES,
  TRANSPORT_PROOF_BYTES,
  TransportHelloReader,
  transportProof,
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
    const version3 = hello.slice();
    version3[7] = 0x33;
    expect(codeOf(() => new TransportHelloReader().push(version3.subarray(0, 8)))).toBe(
      'NL_DECODE_UNKNOWN_VERSION',
    );
    expect(codeOf(() => decodeTransportHello(hello.subarray(0, 79)))).toBe('NL_DECODE_TRUNCATED');
    const v2 = encodeTransportHello(asNodeId('storage-a'), new Uint8Array(TRANSPORT_NONCE_BYTES));
    expect(codeOf(() => decodeTransportHello(v2.subarray(0, TRANSPORT_HELLO_V2_BYTES - 1)))).toBe(
      'NL_DECODE_TRUNCATED',
    );
  });
});

describe('transport hello, version 2 (an endpoint that authenticates)', () => {
  const nonce = Uint8Array.from({ length: TRANSPORT_NONCE_BYTES }, (_, index) => index + 1);

  it('lays out magic, length, id, flags, reserved zeros, nonce and CRC32C', () => {
    const hello = encodeTransportHello(asNodeId('storage-a'), nonce);
    expect(hello.length).toBe(TRANSPORT_HELLO_V2_BYTES);
    expect(Buffer.from(hello.subarray(0, 8)).toString('latin1')).toBe('NLHELLO2');
    expect(hello[8]).toBe(9);
    expect(Buffer.from(hello.subarray(10, 19)).toString('latin1')).toBe('storage-a');
    expect(hello.subarray(19, 76).every((byte) => byte === 0)).toBe(true);
    expect(hello[76]).toBe(0x01);
    expect([...hello.subarray(77, 80)]).toEqual([0, 0, 0]);
    expect([...hello.subarray(80, 112)]).toEqual([...nonce]);
    expect(new DataView(hello.buffer, hello.byteOffset, hello.byteLength).getUint32(112, true)).toBe(
      crc32c(hello.subarray(0, 112)),
    );
    expect(readTransportHello(hello)).toEqual({
      nodeId: 'storage-a',
      authenticates: true,
      bytes: hello,
    });
    expect(readTransportHello(encodeTransportHello(asNodeId('storage-a'))).authenticates).toBe(false);
  });

  it('is read whole or cut at any point, with frames after it, by the same reader as version 1', () => {
    const hello = encodeTransportHello(asNodeId('engine-1'), nonce);
    const trailing = Uint8Array.of(9, 8, 7);
    const stream = Buffer.concat([hello, trailing]);
    for (let cut = 0; cut <= TRANSPORT_HELLO_V2_BYTES; cut++) {
      const reader = new TransportHelloReader();
      const first = reader.push(stream.subarray(0, cut));
      const second = reader.push(stream.subarray(cut));
      expect(first + second).toBe(TRANSPORT_HELLO_V2_BYTES);
      expect(reader.hello?.bytes).toEqual(hello);
      expect(reader.hello?.authenticates).toBe(true);
    }
    // Byte by byte too.
    const reader = new TransportHelloReader();
    let taken = 0;
    for (const byte of stream) taken += reader.push(Uint8Array.of(byte));
    expect(taken).toBe(TRANSPORT_HELLO_V2_BYTES);
    expect(reader.nodeId).toBe('engine-1');
  });

  it('refuses every single-bit corruption with a NorthlightError', () => {
    const hello = encodeTransportHello(asNodeId('storage-node-with-a-longish-name.zone-b'), nonce);
    const outcomes = new Set<string>();
    for (let bit = 0; bit < TRANSPORT_HELLO_V2_BYTES * 8; bit++) {
      const corrupted = hello.slice();
      corrupted[bit >> 3]! ^= 1 << (bit & 7);
      outcomes.add(codeOf(() => decodeTransportHello(corrupted)));
    }
    // A flipped version bit may make it a version-1 hello, which then fails its own checks.
    expect(outcomes.has('accepted')).toBe(false);
    expect([...outcomes].every((code) => code.startsWith('NL_DECODE_'))).toBe(true);
  });

  it('refuses other flags and non-zero reserved bytes even with a right CRC', () => {
    for (const [offset, value] of [
      [76, 0x00],
      [76, 0x03],
      [77, 0x01],
      [79, 0x80],
    ] as const) {
      const hello = encodeTransportHello(asNodeId('storage-a'), nonce);
      hello[offset] = value;
      new DataView(hello.buffer).setUint32(112, crc32c(hello.subarray(0, 112)), true);
      expect(
        codeOf(() => decodeTransportHello(hello)),
        `byte ${offset} = ${value}`,
      ).toBe('NL_DECODE_INVALID');
    }
  });

  it('proofs depend on the key, the role and every byte of both hellos', () => {
    const key = new Uint8Array(32).fill(7);
    const dialer = encodeTransportHello(asNodeId('engine-1'), nonce);
    const acceptor = encodeTransportHello(
      asNodeId('storage-a'),
      nonce.map((byte) => byte ^ 0xff),
    );
    const proof = transportProof(key, 'dialer', dialer, acceptor);
    expect(proof.length).toBe(TRANSPORT_PROOF_BYTES);
    expect(proofsEqual(proof, transportProof(key, 'dialer', dialer, acceptor))).toBe(true);
    expect(proofsEqual(proof, transportProof(key, 'acceptor', dialer, acceptor))).toBe(false);
    expect(proofsEqual(proof, transportProof(key, 'dialer', acceptor, dialer))).toBe(false);
    const otherKey = key.slice();
    otherKey[0] = 8;
    expect(proofsEqual(proof, transportProof(otherKey, 'dialer', dialer, acceptor))).toBe(false);
    const otherNonce = dialer.slice();
    otherNonce[100]! ^= 1;
    expect(proofsEqual(proof, transportProof(key, 'dialer', otherNonce, acceptor))).toBe(false);
    expect(proofsEqual(proof, proof.subarray(0, 31))).toBe(false);
  });

  it('derives the transport key from the token, not as the token', () => {
    const token = 'a-token-of-sixteen-or-more';
    const key = transportKey(token);
    expect(key.length).toBe(32);
    expect(Buffer.from(key).toString('latin1')).not.toContain(token);
    expect(transportKey(token)).toEqual(key);
    expect(transportKey(`${token}x`)).not.toEqual(key);
  });
});
