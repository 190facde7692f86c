// Proves the TCP NetworkEndpoint on real loopback sockets: thousands of frames (small ones and 256 KiB
// ones that fill the socket buffers, so 'drain' back-pressure is exercised) cross both ways in order,
// byte for byte, attributed to the sender's NodeId; a peer that is not in the directory is answered on
// the connection it opened; a peer that restarts gets the messages queued while it was down; garbage,
// a bad hello, a wrong CRC and an oversized frame each close only their own connection (one warn line
// with the peer's address) while the endpoint keeps working; the per-peer queue keeps to its byte
// limit by dropping the oldest messages; a stale directory entry (the hello names another node) is
// refused; sends to unknown peers or after close() are dropped and counted, never thrown. With a
// transport key: endpoints holding the same key exchange frames; another key, none, or a keyless side
// facing one that asks for proof are refused before any frame, each with the reason logged; a raw
// client with a forged or replayed proof, or a version-1 hello straight into frames, delivers nothing;
// a client that sends its hello and no proof gets the handshake deadline.
import { connect, createServer, type Socket } from 'node:net';
import {
  asEpoch,
  asLsn,
  asNodeId,
  asPgId,
  asSegmentId,
  DEFAULT_MAX_FRAME_BYTES,
  decodeMessageFromBytes,
  encodeFrame,
  encodeMessage,
  type NodeId,
} from '@northlight/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { transportKey } from '../src/io/internal-auth.js';
import { StaticPeerDirectory, TcpNetworkEndpoint, type TcpNetworkOptions } from '../src/io/tcp-network.js';
import {
  encodeTransportHello,
  TRANSPORT_HELLO_BYTES,
  TRANSPORT_HELLO_V2_BYTES,
  transportProof,
} from '../src/io/transport-hello.js';
import { closedSocket, RecordingLogger, rawConnect, waitFor } from './io-helpers.js';

const A = asNodeId('storage-a');
const B = asNodeId('storage-b');
const C = asNodeId('engine-c');

const opened: TcpNetworkEndpoint[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  const endpoints = opened.splice(0);
  for (const endpoint of endpoints) endpoint.close();
  await Promise.all(endpoints.map((endpoint) => endpoint.closed));
});

interface Received {
  readonly from: NodeId;
  readonly message: Uint8Array;
}

async function start(
  address: NodeId,
  directory: StaticPeerDirectory,
  options: Partial<TcpNetworkOptions> = {},
): Promise<{ endpoint: TcpNetworkEndpoint; received: Received[]; logger: RecordingLogger }> {
  const logger = new RecordingLogger();
  const endpoint = await TcpNetworkEndpoint.listen({
    address,
    listenHost: '127.0.0.1',
    listenPort: 0,
    directory,
    logger,
    reconnectBackoffInitialMs: 10,
    reconnectBackoffMaxMs: 100,
    ...options,
  });
  opened.push(endpoint);
  const received: Received[] = [];
  endpoint.onMessage((from, message) => received.push({ from, message }));
  directory.set(address, { host: '127.0.0.1', port: endpoint.listenPort });
  return { endpoint, received, logger };
}

/** A frame whose payload starts with `sequence` and is `size` bytes in all, filled from the sequence. */
function numberedFrame(sequence: number, payloadBytes = 8): Uint8Array {
  const payload = new Uint8Array(Math.max(4, payloadBytes));
  new DataView(payload.buffer, payload.byteOffset, payload.byteLength).setUint32(0, sequence, true);
  for (let index = 4; index < payload.length; index++) payload[index] = (sequence + index) & 0xff;
  return encodeFrame(200, payload);
}

function sequenceOf(message: Uint8Array): number {
  return new DataView(message.buffer, message.byteOffset + 16, 4).getUint32(0, true);
}

function ack(requestId: number): Uint8Array {
  return encodeMessage({
    type: 'append-ack',
    requestId: BigInt(requestId),
    pgId: asPgId(3),
    segmentId: asSegmentId('pg3-seg1'),
    volumeEpoch: asEpoch(7n),
    scl: asLsn(BigInt(requestId)),
  });
}

describe('TcpNetworkEndpoint', () => {
  it('exchanges thousands of frames both ways, in order, byte for byte, attributed to the sender', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    const b = await start(B, directory);
    const count = 3_000;
    const sentByA: Uint8Array[] = [];
    const sentByB: Uint8Array[] = [];
    for (let sequence = 0; sequence < count; sequence++) {
      // Every 100th frame is 256 KiB: together more than the socket buffers hold, so writes block.
      const toB = sequence % 100 === 0 ? numberedFrame(sequence, 256 * 1024) : ack(sequence);
      const toA = numberedFrame(sequence, sequence % 100 === 50 ? 256 * 1024 : 1 + (sequence % 300));
      sentByA.push(toB);
      sentByB.push(toA);
      a.endpoint.send(B, toB);
      b.endpoint.send(A, toA);
    }
    await waitFor(() => a.received.length === count && b.received.length === count, 'all frames', 15_000);
    expect(b.received.every((entry) => entry.from === A)).toBe(true);
    expect(a.received.every((entry) => entry.from === B)).toBe(true);
    for (let index = 0; index < count; index++) {
      expect(Buffer.compare(b.received[index]!.message, sentByA[index]!)).toBe(0);
      expect(Buffer.compare(a.received[index]!.message, sentByB[index]!)).toBe(0);
    }
    expect(decodeMessageFromBytes(b.received[1]!.message)).toMatchObject({
      type: 'append-ack',
      requestId: 1n,
    });
    const counters = a.endpoint.counters();
    expect(counters.sentMessages).toBe(count);
    expect(counters.receivedMessages).toBe(count);
    expect(counters.sentBytes).toBe(sentByA.reduce((sum, message) => sum + message.length, 0));
    expect(counters.outboundConnectionsEstablished).toBe(1);
    expect(counters.inboundConnectionsEstablished).toBe(1);
    expect(counters.queuedBytes).toBe(0);
    expect(Object.values(counters.droppedMessages).every((dropped) => dropped === 0)).toBe(true);
    expect(a.logger.at('warn').concat(b.logger.at('warn'))).toEqual([]);
  });

  it('answers a peer that is not in its directory on the connection that peer opened', async () => {
    const storageDirectory = new StaticPeerDirectory();
    const b = await start(B, storageDirectory);
    // The engine knows the storage node; the storage node does not know the engine.
    const engineDirectory = new StaticPeerDirectory([
      [B, { host: '127.0.0.1', port: b.endpoint.listenPort }],
    ]);
    const c = await start(C, engineDirectory);
    storageDirectory.delete(C);
    b.endpoint.onMessage((from, message) => b.endpoint.send(from, ack(sequenceOf(message))));
    for (let sequence = 0; sequence < 100; sequence++) c.endpoint.send(B, numberedFrame(sequence));
    await waitFor(() => c.received.length === 100, 'replies');
    expect(c.received.map((entry) => entry.from)).toEqual(new Array(100).fill(B));
    expect(c.received.map((entry) => decodeMessageFromBytes(entry.message))).toMatchObject(
      Array.from({ length: 100 }, (_, index) => ({ type: 'append-ack', requestId: BigInt(index) })),
    );
    expect(b.endpoint.counters().outboundConnectionsEstablished).toBe(0);
  });

  it('reconnects after the peer restarts and delivers what was queued meanwhile', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    const first = await start(B, directory);
    const port = first.endpoint.listenPort;
    a.endpoint.send(B, numberedFrame(1));
    await waitFor(() => first.received.length === 1, 'the first message');
    first.endpoint.close();
    await first.endpoint.closed;
    // While B is down, A's connection breaks, dials fail, and sends wait in the queue.
    await waitFor(() => a.endpoint.counters().openConnections === 0, 'A to notice the broken connection');
    for (let sequence = 2; sequence <= 20; sequence++) a.endpoint.send(B, numberedFrame(sequence));
    await waitFor(() => a.endpoint.counters().connectFailures >= 2, 'failed dials');
    const second = await start(B, directory, { listenPort: port });
    await waitFor(() => second.received.length === 19, 'the queued messages');
    expect(second.received.map((entry) => sequenceOf(entry.message))).toEqual(
      Array.from({ length: 19 }, (_, index) => index + 2),
    );
    expect(a.endpoint.counters().outboundConnectionsEstablished).toBe(2);
    expect(a.logger.lines.some((line) => line.message === 'transport connected to a peer again')).toBe(true);
  });

  it('closes only the offending connection on garbage, a bad hello, a wrong CRC or an oversized frame', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    const b = await start(B, directory);
    const port = b.endpoint.listenPort;
    const hello = encodeTransportHello(asNodeId('intruder'));
    const goodFrame = numberedFrame(7);
    const wrongCrc = goodFrame.slice();
    wrongCrc[wrongCrc.length - 1]! ^= 0x01;
    const oversized = numberedFrame(8);
    new DataView(oversized.buffer, oversized.byteOffset, oversized.byteLength).setUint32(
      8,
      DEFAULT_MAX_FRAME_BYTES,
      true,
    );
    const cases: Array<{ name: string; bytes: Uint8Array; counter: 'handshakeErrors' | 'decodeErrors' }> = [
      {
        name: 'garbage instead of a hello',
        bytes: new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'),
        counter: 'handshakeErrors',
      },
      { name: 'a hello with a bad CRC', bytes: flipLastByte(hello), counter: 'handshakeErrors' },
      {
        name: 'garbage after a good hello',
        bytes: concat(hello, new Uint8Array(64).fill(0x41)),
        counter: 'decodeErrors',
      },
      {
        name: 'a frame with a wrong CRC',
        bytes: concat(hello, goodFrame, wrongCrc),
        counter: 'decodeErrors',
      },
      {
        name: 'an oversized frame header',
        bytes: concat(hello, oversized.subarray(0, 16)),
        counter: 'decodeErrors',
      },
    ];
    for (const [index, testCase] of cases.entries()) {
      const before = b.endpoint.counters()[testCase.counter];
      const socket = await rawConnect(port);
      sockets.push(socket);
      socket.write(testCase.bytes);
      await closedSocket(socket);
      expect(b.endpoint.counters()[testCase.counter], testCase.name).toBe(before + 1);
      // The endpoint still works: A's connection is untouched and carries the next message.
      a.endpoint.send(B, numberedFrame(1_000 + index));
      await waitFor(
        () => b.received.some((entry) => sequenceOf(entry.message) === 1_000 + index),
        testCase.name,
      );
    }
    // The good frame before the bad one was delivered, attributed to the hello's NodeId.
    expect(
      b.received.filter((entry) => entry.from === 'intruder').map((entry) => sequenceOf(entry.message)),
    ).toEqual([7]);
    const warnings = b.logger.at('warn');
    expect(warnings).toHaveLength(cases.length);
    for (const warning of warnings) expect(warning.fields.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(a.endpoint.counters().outboundConnectionsEstablished).toBe(1);
  });

  it('keeps each peer queue within its byte limit by dropping the oldest messages', async () => {
    const directory = new StaticPeerDirectory();
    const maxFrameBytes = 1_024;
    const sendQueueLimitBytes = 4_096;
    const a = await start(A, directory, { maxFrameBytes, sendQueueLimitBytes });
    // B is in the directory but not listening yet: everything waits in A's queue.
    const placeholder = await start(B, new StaticPeerDirectory());
    const port = placeholder.endpoint.listenPort;
    placeholder.endpoint.close();
    await placeholder.endpoint.closed;
    directory.set(B, { host: '127.0.0.1', port });
    const frameBytes = numberedFrame(0, 84).length; // 100 bytes
    for (let sequence = 0; sequence < 100; sequence++) {
      a.endpoint.send(B, numberedFrame(sequence, 84));
      expect(a.endpoint.counters().queuedBytes).toBeLessThanOrEqual(sendQueueLimitBytes);
    }
    const kept = Math.floor(sendQueueLimitBytes / frameBytes);
    expect(a.endpoint.counters()).toMatchObject({ queuedMessages: kept, queuedBytes: kept * frameBytes });
    expect(a.endpoint.counters().droppedMessages.queue_full).toBe(100 - kept);
    const b = await start(B, directory, { listenPort: port });
    await waitFor(() => b.received.length === kept, 'the kept messages');
    expect(b.received.map((entry) => sequenceOf(entry.message))).toEqual(
      Array.from({ length: kept }, (_, index) => 100 - kept + index),
    );
  });

  it('refuses a peer whose hello names another node (a stale directory entry)', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    const c = await start(C, new StaticPeerDirectory());
    directory.set(B, { host: '127.0.0.1', port: c.endpoint.listenPort });
    a.endpoint.send(B, numberedFrame(1));
    await waitFor(() => a.endpoint.counters().handshakeErrors >= 2, 'refused handshakes');
    expect(c.received).toEqual([]);
    expect(a.endpoint.counters().queuedMessages).toBe(1);
    expect(a.logger.at('warn')[0]?.fields.reason).toBe('the peer says it is engine-c, not storage-b');
    // Once the directory is corrected, the queued message goes to the right node.
    const b = await start(B, directory);
    await waitFor(() => b.received.length === 1, 'delivery to the real B');
  });

  it('drops and counts sends to unknown peers and after close, without throwing', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    a.endpoint.send(asNodeId('nobody'), numberedFrame(1));
    expect(a.endpoint.counters().droppedMessages.unknown_peer).toBe(1);
    a.endpoint.close();
    a.endpoint.send(A, numberedFrame(2));
    expect(a.endpoint.counters().droppedMessages.endpoint_closed).toBe(1);
    expect(() => a.endpoint.send(A, new Uint8Array(3))).toThrow(/not a frame/);
  });

  it('reports a port already in use as NL_CONFIG_INVALID', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory);
    await expect(start(B, directory, { listenPort: a.endpoint.listenPort })).rejects.toMatchObject({
      code: 'NL_CONFIG_INVALID',
    });
  });
});

describe("TcpNetworkEndpoint with a transport key (the cluster's internal token)", () => {
  const key = transportKey('the-cluster-token-0123456789');
  const otherKey = transportKey('another-clusters-token-0123456789');

  it('carries frames between endpoints that hold the same key, both ways', async () => {
    const directory = new StaticPeerDirectory();
    const a = await start(A, directory, { transportKey: key });
    const b = await start(B, directory, { transportKey: key });
    b.endpoint.onMessage((from, message) => b.endpoint.send(from, ack(sequenceOf(message))));
    for (let sequence = 0; sequence < 200; sequence++) a.endpoint.send(B, numberedFrame(sequence));
    await waitFor(() => a.received.length === 200, 'acks');
    expect(a.received.every((entry) => entry.from === B)).toBe(true);
    expect(a.endpoint.counters().authFailures + b.endpoint.counters().authFailures).toBe(0);
    expect(a.endpoint.counters().outboundConnectionsEstablished).toBe(1);
  });

  it('refuses a peer with another key, one without a key, and one asking for proof when it has none', async () => {
    for (const [dialerKey, acceptorKey, reason] of [
      [otherKey, key, "the peer's proof of the cluster's internal token is wrong"],
      [undefined, key, "the peer runs without the cluster's internal token"],
      [key, undefined, "the peer requires the cluster's internal token and this process has none"],
    ] as const) {
      const directory = new StaticPeerDirectory();
      const acceptor = await start(
        B,
        directory,
        acceptorKey === undefined ? {} : { transportKey: acceptorKey },
      );
      const dialer = await start(A, directory, dialerKey === undefined ? {} : { transportKey: dialerKey });
      dialer.endpoint.send(B, numberedFrame(1));
      await waitFor(
        () => acceptor.endpoint.counters().authFailures >= 1 || dialer.endpoint.counters().authFailures >= 1,
        'a refusal',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(acceptor.received, reason).toEqual([]);
      expect(acceptor.endpoint.counters().inboundConnectionsEstablished, reason).toBe(0);
      expect(dialer.endpoint.counters().outboundConnectionsEstablished, reason).toBe(0);
      const warned = [...acceptor.logger.at('warn'), ...dialer.logger.at('warn')].map((line) =>
        String(line.fields.reason),
      );
      expect(
        warned.some((line) => line.startsWith(reason)),
        `${reason} in ${warned.join(' | ')}`,
      ).toBe(true);
      acceptor.endpoint.close();
      dialer.endpoint.close();
    }
  });

  it('accepts no frame from a raw client that replays a real hello and proof or sends a forged one', async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory, { transportKey: key });
    // A forged proof after a well-formed version-2 hello.
    const forger = await rawConnect(b.endpoint.listenPort);
    sockets.push(forger);
    forger.write(encodeTransportHello(A, new Uint8Array(32).fill(1)));
    forger.write(new Uint8Array(32).fill(2));
    forger.write(numberedFrame(1));
    await closedSocket(forger);
    // A replay: the proof a real dialer sent on another connection does not fit this one's nonces.
    const dialerHello = encodeTransportHello(A, new Uint8Array(32).fill(3));
    const replayed = transportProof(
      key,
      'dialer',
      dialerHello,
      encodeTransportHello(B, new Uint8Array(32).fill(4)),
    );
    const replayer = await rawConnect(b.endpoint.listenPort);
    sockets.push(replayer);
    replayer.write(dialerHello);
    replayer.write(replayed);
    replayer.write(numberedFrame(2));
    await closedSocket(replayer);
    // A version-1 hello (no proof at all) straight into frames.
    const plain = await rawConnect(b.endpoint.listenPort);
    sockets.push(plain);
    plain.write(concat(encodeTransportHello(A), numberedFrame(3)));
    await closedSocket(plain);
    expect(b.received).toEqual([]);
    expect(b.endpoint.counters().authFailures).toBe(3);
    expect(b.endpoint.counters().inboundConnectionsEstablished).toBe(0);
  });

  it("answers in the dialer's version, so a build that reads only version 1 can dial a keyless endpoint", async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory);
    const oldDialer = await rawConnect(b.endpoint.listenPort);
    sockets.push(oldDialer);
    const received: Buffer[] = [];
    oldDialer.on('data', (chunk: Buffer) => received.push(chunk));
    oldDialer.write(concat(encodeTransportHello(A), numberedFrame(1)));
    await waitFor(() => b.received.length === 1, 'the frame');
    expect(Buffer.concat(received).subarray(0, TRANSPORT_HELLO_BYTES)).toEqual(
      Buffer.from(encodeTransportHello(B)),
    );
  });

  it('with acceptUnauthenticated, takes a version-1 peer and dials an older build again with version 1', async () => {
    // An older build's acceptor: it writes its version-1 hello at once and drops a dialer whose hello
    // is of another version (what the code before version 2 did).
    const frames: Uint8Array[] = [];
    const hellos: number[] = [];
    const old = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(encodeTransportHello(C));
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 8) return;
        if (buffered[7] !== 0x31) {
          hellos.push(2);
          socket.destroy();
          return;
        }
        if (buffered.length >= TRANSPORT_HELLO_BYTES && hellos.at(-1) !== 1) hellos.push(1);
        if (buffered.length > TRANSPORT_HELLO_BYTES) frames.push(buffered.subarray(TRANSPORT_HELLO_BYTES));
      });
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      const directory = new StaticPeerDirectory([
        [C, { host: '127.0.0.1', port: (old.address() as { port: number }).port }],
      ]);
      const a = await start(A, directory, { transportKey: key, acceptUnauthenticated: true });
      a.endpoint.send(C, numberedFrame(5));
      await waitFor(() => frames.length > 0, 'the frame to reach the older build');
      expect(hellos).toEqual([2, 1]);
      expect(a.endpoint.counters().unauthenticatedConnections).toBe(1);
      // And an older build dialing it is taken, unauthenticated, in version 1.
      const olderDialer = await rawConnect(a.endpoint.listenPort);
      sockets.push(olderDialer);
      olderDialer.write(concat(encodeTransportHello(B), numberedFrame(6)));
      await waitFor(() => a.received.length === 1, "the older dialer's frame");
      expect(a.received[0]?.from).toBe(B);
      // Peers holding the key still prove it to each other.
      const d = await start(asNodeId('storage-d'), directory, {
        transportKey: key,
        acceptUnauthenticated: true,
      });
      d.endpoint.send(A, numberedFrame(7));
      await waitFor(() => a.received.length === 2, 'the authenticated frame');
      expect(a.endpoint.counters().unauthenticatedConnections).toBe(2);
      expect(d.endpoint.counters().unauthenticatedConnections).toBe(0);
      // What the status APIs show of it.
      expect(a.endpoint.authStatus()).toEqual({
        authentication: 'transition',
        authFailures: 0,
        unauthenticatedConnections: 2,
      });
    } finally {
      old.close();
    }
  });

  it('without acceptUnauthenticated, a keyed endpoint takes no version-1 peer either way', async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory, { transportKey: key });
    const oldDialer = await rawConnect(b.endpoint.listenPort);
    sockets.push(oldDialer);
    oldDialer.write(concat(encodeTransportHello(A), numberedFrame(1)));
    await closedSocket(oldDialer);
    expect(b.received).toEqual([]);
    expect(b.endpoint.counters().unauthenticatedConnections).toBe(0);
    expect(b.endpoint.authStatus()).toEqual({
      authentication: 'required',
      authFailures: 1,
      unauthenticatedConnections: 0,
    });
    expect((await start(C, directory)).endpoint.authStatus().authentication).toBe('off');
  });

  it('gives a client no proof of its own before the client has proved the key (no offline guessing)', async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory, { transportKey: key, handshakeTimeoutMs: 300 });
    const prober = connect({ host: '127.0.0.1', port: b.endpoint.listenPort });
    sockets.push(prober);
    prober.on('error', () => {});
    const received: Buffer[] = [];
    prober.on('data', (chunk: Buffer) => received.push(chunk));
    prober.write(encodeTransportHello(A, new Uint8Array(32).fill(6)));
    await closedSocket(prober);
    // Its hello and nothing else: no proof to test token guesses against.
    expect(Buffer.concat(received).length).toBe(TRANSPORT_HELLO_V2_BYTES);
  });

  it('cuts a client that trickles its handshake a byte at a time at the fixed deadline', async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory, { transportKey: key, handshakeTimeoutMs: 300 });
    const trickler = await rawConnect(b.endpoint.listenPort);
    sockets.push(trickler);
    const hello = encodeTransportHello(A, new Uint8Array(32).fill(7));
    const startedMs = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < hello.length && !trickler.destroyed) trickler.write(hello.subarray(sent, ++sent));
    }, 50);
    await closedSocket(trickler);
    clearInterval(timer);
    const heldMs = performance.now() - startedMs;
    expect(heldMs).toBeLessThan(1_000);
    expect(sent).toBeLessThan(hello.length);
    expect(b.endpoint.counters().handshakeErrors).toBe(1);
  });

  it('gives a silent client that sent its hello but no proof the handshake deadline, nothing more', async () => {
    const directory = new StaticPeerDirectory();
    const b = await start(B, directory, { transportKey: key, handshakeTimeoutMs: 200 });
    const silent = await rawConnect(b.endpoint.listenPort);
    sockets.push(silent);
    silent.write(encodeTransportHello(A, new Uint8Array(32).fill(5)));
    await closedSocket(silent);
    expect(b.endpoint.counters().handshakeErrors).toBe(1);
    expect(b.received).toEqual([]);
  });
});

function flipLastByte(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[copy.length - 1]! ^= 0xff;
  return copy;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
