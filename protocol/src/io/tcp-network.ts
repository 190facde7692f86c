/**
 * The real `NetworkEndpoint` (protocol/src/core/env.ts) over TCP: best-effort, message-oriented, one
 * frame (protocol's `encodeMessage` output) per message. docs/formats.md ("TCP transport") has the
 * bytes; this comment has the behaviour.
 *
 * Connections. Each endpoint listens on one port. To send to a NodeId it resolves the peer through a
 * `PeerDirectory` and lazily opens one outbound connection to it, which it keeps. Both sides start
 * every connection with an 80-byte hello naming themselves (transport-hello.ts); the dialer waits for
 * the acceptor's hello and closes the connection if it names another node (a stale directory entry),
 * so a message is never handed to the wrong process. After the hellos a connection carries frames
 * both ways: a peer that is not in the directory (an engine dialing a storage node) is answered on the
 * connection it opened. Inbound messages are attributed to the NodeId of the connection's hello.
 *
 * Authentication. With a `transportKey` (derived from the cluster's internal token) an endpoint sends
 * a version-2 hello carrying a fresh nonce, and after both hellos each side sends a 32-byte proof: an
 * HMAC of both hellos under the key (`transportProof`). A connection opens only once the peer's proof
 * checks, so a process without the cluster's token cannot append, read a page, gossip or truncate,
 * whatever NodeId it claims; the token itself never crosses the wire. A peer with no key, or whose
 * proof is wrong, is refused with one warn line naming why (`authFailures`). An endpoint without a key
 * sends the version-1 hello, unchanged, and refuses a peer that asks for proof. What this does not
 * give: secrecy or integrity of the frames that follow against someone on the path (that is TLS's or
 * the network's job; docs/security.md).
 *
 * Loss and order. Messages to one peer leave in `send` order on one connection. When a connection
 * breaks, what the socket had not yet delivered is lost (the contract allows it; every protocol above
 * is idempotent and LSN-ordered), and the messages still queued go out on the next connection. A
 * failed or broken connection is re-dialed with capped exponential backoff (equal jitter), only when
 * there is something to send.
 *
 * Limits (STYLE.md §11), all named options with defaults below:
 *   - per-peer send queue, in bytes (`sendQueueLimitBytes`). When a send would exceed it, the OLDEST
 *     queued messages are dropped (and counted) to make room. Why the oldest: the queue only grows
 *     while a peer is unreachable or slow, and by the time it drains, the newest messages are the
 *     useful ones — a newer append-ack or segment-state supersedes older ones (SCL and epochs only
 *     grow), and the sender of an old request has usually timed out and retried it already, so
 *     delivering the old copy would spend the peer's bandwidth on a duplicate.
 *   - bytes handed to a socket: a queue is written to its socket until `write()` returns false, then
 *     waits for 'drain' (back-pressure), so a socket buffers at most its high-water mark plus one frame.
 *   - frame size (`maxFrameBytes`): sends are asserted against it; the receiving FrameDecoder refuses a
 *     larger frame on its header.
 *   - inbound connections (`maxInboundConnections`), and a deadline for the hellos
 *     (`handshakeTimeoutMs`) so a silent client cannot hold a socket.
 *
 * Bad input never crashes the process: a wrong hello or a frame that fails to decode (garbage, wrong
 * CRC, oversized) closes that connection only, logged once at warn with the peer's address.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  assert,
  copyBytes,
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  type Logger,
  type NetworkEndpoint,
  type NodeId,
  NorthlightError,
  type Random,
  type ReceivedFrame,
  type TransportAuthMode,
} from '../index.js';
import { NodeRandom } from './node-random.js';
import {
  encodeTransportHello,
  proofsEqual,
  TRANSPORT_HELLO_V2_BYTES,
  TRANSPORT_NONCE_BYTES,
  TRANSPORT_PROOF_BYTES,
  type TransportHello,
  TransportHelloReader,
  transportProof,
} from './transport-hello.js';

/** Twice the default frame limit: a full frame can wait while another is being written. */
export const DEFAULT_SEND_QUEUE_LIMIT_BYTES = 2 * DEFAULT_MAX_FRAME_BYTES;
export const DEFAULT_RECONNECT_BACKOFF_INITIAL_MS = 50;
export const DEFAULT_RECONNECT_BACKOFF_MAX_MS = 5_000;
/** Covers the TCP connect and both hellos. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_INBOUND_CONNECTIONS = 1_024;
const KEEPALIVE_INITIAL_DELAY_MS = 10_000;
const DECODE_ERROR_REASON = 'decode error';
/** Authentication failures are logged once per this interval at most (they are counted each). */
const AUTH_LOG_INTERVAL_MS = 10_000;
/** The dequeue index is compacted away once it passes this many consumed entries. */
const QUEUE_COMPACT_THRESHOLD = 1_024;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** Where each node listens. Consulted on every send, so an updated entry takes effect at once. */
export interface PeerDirectory {
  resolve(nodeId: NodeId): PeerAddress | undefined;
}

/** A directory held in memory; `set` and `delete` update it while endpoints use it. */
export class StaticPeerDirectory implements PeerDirectory {
  readonly #entries = new Map<NodeId, PeerAddress>();

  constructor(entries: Iterable<readonly [NodeId, PeerAddress]> = []) {
    for (const [nodeId, address] of entries) this.set(nodeId, address);
  }

  resolve(nodeId: NodeId): PeerAddress | undefined {
    return this.#entries.get(nodeId);
  }

  set(nodeId: NodeId, address: PeerAddress): void {
    assert(
      Number.isInteger(address.port) && address.port > 0 && address.port <= 0xffff,
      `bad port ${address.port}`,
    );
    assert(address.host.length > 0, 'empty host');
    this.#entries.set(nodeId, { host: address.host, port: address.port });
  }

  delete(nodeId: NodeId): void {
    this.#entries.delete(nodeId);
  }

  entries(): Array<[NodeId, PeerAddress]> {
    return [...this.#entries];
  }
}

export type DropReason = 'queue_full' | 'unknown_peer' | 'endpoint_closed' | 'no_handler';
export const DROP_REASONS: readonly DropReason[] = [
  'queue_full',
  'unknown_peer',
  'endpoint_closed',
  'no_handler',
];

/** Counters since the endpoint was created (gauges: `queuedBytes`, `queuedMessages`, `openConnections`). */
export interface TransportCounters {
  /** Frames handed to a socket, and their bytes. */
  readonly sentMessages: number;
  readonly sentBytes: number;
  /** Frames received, verified and passed to the handler (or dropped for want of one), and their bytes. */
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  readonly droppedMessages: Readonly<Record<DropReason, number>>;
  readonly droppedBytes: number;
  readonly connectAttempts: number;
  /** Dials that failed before both hellos were exchanged. */
  readonly connectFailures: number;
  /** Connections whose hellos were exchanged, by who opened them. */
  readonly outboundConnectionsEstablished: number;
  readonly inboundConnectionsEstablished: number;
  readonly inboundConnectionsRefused: number;
  readonly decodeErrors: number;
  readonly handshakeErrors: number;
  /** Connections refused because one side could not prove the transport key (or had none). */
  readonly authFailures: number;
  /** Connections opened without a proof although this endpoint has a key (`acceptUnauthenticated`). */
  readonly unauthenticatedConnections: number;
  readonly queuedBytes: number;
  readonly queuedMessages: number;
  readonly openConnections: number;
}

export interface TcpNetworkOptions {
  readonly address: NodeId;
  readonly listenHost: string;
  /** 0 picks a free port; read it back from `listenPort`. */
  readonly listenPort: number;
  readonly directory: PeerDirectory;
  readonly logger: Logger;
  readonly maxFrameBytes?: number;
  readonly sendQueueLimitBytes?: number;
  readonly reconnectBackoffInitialMs?: number;
  readonly reconnectBackoffMaxMs?: number;
  readonly handshakeTimeoutMs?: number;
  readonly maxInboundConnections?: number;
  /** For the backoff jitter; defaults to the OS CSPRNG. */
  readonly random?: Random;
  /**
   * The cluster's transport key (`transportKey(internal token)`, internal-auth.ts). With one, every
   * connection is authenticated: both sides send version-2 hellos and prove they hold the key, and a
   * peer that cannot is refused before any frame. Without one, a peer that asks for proof is refused.
   */
  readonly transportKey?: Uint8Array;
  /**
   * With a key: also take peers that cannot prove it (builds from before transport authentication),
   * unauthenticated, for a rolling upgrade from such a build. A peer that answers with a version-1
   * hello is dialed with one from then on. Off by default; turn it off again once every member runs
   * a build that authenticates.
   */
  readonly acceptUnauthenticated?: boolean;
}

/** A FIFO of frames bounded in bytes; pushing past the bound drops the oldest. */
class SendQueue {
  #items: Uint8Array[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends `message`; returns the messages dropped from the front to stay within `limitBytes`. */
  push(message: Uint8Array, limitBytes: number): Uint8Array[] {
    this.#items.push(message);
    this.bytes += message.length;
    const dropped: Uint8Array[] = [];
    while (this.bytes > limitBytes) dropped.push(this.shift()!);
    return dropped;
  }

  shift(): Uint8Array | undefined {
    if (this.#head === this.#items.length) return undefined;
    const message = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as Uint8Array;
    this.#head += 1;
    this.bytes -= message.length;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= QUEUE_COMPACT_THRESHOLD && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return message;
  }

  clear(): Uint8Array[] {
    const rest = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.bytes = 0;
    return rest;
  }
}

class Connection {
  readonly hello = new TransportHelloReader();
  /** The hello this side sent on this connection (a version-2 one carries a fresh nonce). */
  ownHello: Uint8Array = new Uint8Array(0);
  /** The peer's proof as it arrives (after two version-2 hellos); undefined: none expected. */
  proof: Uint8Array | undefined;
  proofFilled = 0;
  readonly decoder: FrameDecoder;
  /** The hello's NodeId (inbound), or the NodeId dialed (outbound) until the hello confirms it. */
  peerId: NodeId | undefined;
  /** Both hellos exchanged: frames may flow. */
  open = false;
  closed = false;
  /** `write()` returned false; waiting for 'drain'. */
  blocked = false;
  /** Corked until the end of this tick, so the frames sent meanwhile leave in one writev. */
  corked = false;
  /** Set when this side closes the connection on purpose, so the close is not logged as a failure. */
  closeReason: string | undefined;
  lastError: Error | undefined;
  /** The handshake's deadline: fixed from the connection's start, not renewed by each byte. */
  handshakeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly direction: 'outbound' | 'inbound',
    readonly socket: Socket,
    readonly remoteAddress: string,
    peerId: NodeId | undefined,
    maxFrameBytes: number,
  ) {
    this.peerId = peerId;
    this.decoder = new FrameDecoder({ maxFrameBytes });
  }
}

function uncork(connection: Connection): void {
  connection.corked = false;
  connection.socket.uncork();
}

class Peer {
  readonly queue = new SendQueue();
  dialed: Connection | undefined;
  dialedAddress: PeerAddress | undefined;
  /** Open inbound connections from this peer, oldest first; replies go on the newest. */
  readonly accepted: Connection[] = [];
  /** Consecutive dials that failed; reset when a dial completes its hellos. */
  failedDials = 0;
  /** It answered a version-2 hello with a version-1 one (an older build): dialed with version 1. */
  legacy = false;
  reconnectTimer: NodeJS.Timeout | undefined;

  constructor(readonly id: NodeId) {}
}

type MutableCounters = {
  -readonly [Key in keyof TransportCounters]: TransportCounters[Key];
};

/**
 * How an endpoint authenticates its peers, as a storage node's and an engine's `/v1/status` show it
 * (`transport`): `off` without the internal token (every peer taken), else the mode it runs in
 * (core/transport-auth.ts), with the counters an operator watches while a transition lasts.
 */
export interface TransportAuthStatus {
  readonly authentication: TransportAuthMode | 'off';
  /** Connections refused: a side could not prove the token (or had none). */
  readonly authFailures: number;
  /** Connections taken without a proof (transition: a peer of an older build, or anyone speaking version 1). */
  readonly unauthenticatedConnections: number;
}

export class TcpNetworkEndpoint implements NetworkEndpoint {
  readonly address: NodeId;
  readonly maxFrameBytes: number;
  readonly sendQueueLimitBytes: number;
  readonly #options: Required<
    Omit<TcpNetworkOptions, 'random' | 'transportKey' | 'acceptUnauthenticated'>
  > & {
    random: Random;
  };
  readonly #acceptUnauthenticated: boolean;
  readonly #server: Server;
  /** The version-1 hello (no key); with a key each connection gets its own version-2 hello. */
  readonly #hello: Uint8Array;
  readonly #key: Uint8Array | undefined;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #connections = new Set<Connection>();
  readonly #counters: MutableCounters;
  readonly #dropped: Record<DropReason, number> = {
    queue_full: 0,
    unknown_peer: 0,
    endpoint_closed: 0,
    no_handler: 0,
  };
  readonly #closedPromise: Promise<void>;
  #handler: ((from: NodeId, message: Uint8Array) => void) | undefined;
  #closed = false;
  #authUnlogged = 0;
  #authLoggedAtMs = Number.NEGATIVE_INFINITY;

  /** Binds the listening socket; rejects with NL_CONFIG_INVALID if it cannot (port in use…). */
  static async listen(options: TcpNetworkOptions): Promise<TcpNetworkEndpoint> {
    const endpoint = new TcpNetworkEndpoint(options);
    await endpoint.#bind();
    return endpoint;
  }

  private constructor(options: TcpNetworkOptions) {
    this.address = options.address;
    this.#options = {
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      sendQueueLimitBytes: DEFAULT_SEND_QUEUE_LIMIT_BYTES,
      reconnectBackoffInitialMs: DEFAULT_RECONNECT_BACKOFF_INITIAL_MS,
      reconnectBackoffMaxMs: DEFAULT_RECONNECT_BACKOFF_MAX_MS,
      handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxInboundConnections: DEFAULT_MAX_INBOUND_CONNECTIONS,
      ...stripUndefined(options),
      random: options.random ?? new NodeRandom(),
    };
    this.#key = options.transportKey === undefined ? undefined : options.transportKey.slice();
    this.#acceptUnauthenticated = options.acceptUnauthenticated === true;
    assert(this.#key === undefined || this.#key.length >= 16, 'a transport key has at least 16 bytes');
    this.maxFrameBytes = this.#options.maxFrameBytes;
    this.sendQueueLimitBytes = this.#options.sendQueueLimitBytes;
    // Built here so a bad option fails at once, and FrameDecoder checks the frame limit's range.
    new FrameDecoder({ maxFrameBytes: this.maxFrameBytes });
    assert(
      this.sendQueueLimitBytes >= this.maxFrameBytes,
      `sendQueueLimitBytes (${this.sendQueueLimitBytes}) must hold one frame of maxFrameBytes (${this.maxFrameBytes})`,
    );
    assert(
      0 < this.#options.reconnectBackoffInitialMs &&
        this.#options.reconnectBackoffInitialMs <= this.#options.reconnectBackoffMaxMs,
      'reconnect backoff: 0 < initial ≤ max',
    );
    assert(this.#options.handshakeTimeoutMs > 0, 'handshakeTimeoutMs must be positive');
    this.#hello = encodeTransportHello(this.address);
    this.#counters = {
      sentMessages: 0,
      sentBytes: 0,
      receivedMessages: 0,
      receivedBytes: 0,
      droppedMessages: this.#dropped,
      droppedBytes: 0,
      connectAttempts: 0,
      connectFailures: 0,
      outboundConnectionsEstablished: 0,
      inboundConnectionsEstablished: 0,
      inboundConnectionsRefused: 0,
      decodeErrors: 0,
      handshakeErrors: 0,
      authFailures: 0,
      unauthenticatedConnections: 0,
      queuedBytes: 0,
      queuedMessages: 0,
      openConnections: 0,
    };
    this.#server = createServer({ noDelay: true, keepAlive: true });
    this.#server.maxConnections = this.#options.maxInboundConnections;
    this.#server.on('connection', (socket) => this.#accept(socket));
    this.#server.on('drop', () => {
      this.#counters.inboundConnectionsRefused += 1;
    });
    this.#closedPromise = new Promise((resolve) => this.#server.once('close', () => resolve()));
  }

  /** The port the endpoint listens on (the real one when 0 was asked for). */
  get listenPort(): number {
    const address = this.#server.address();
    assert(address !== null && typeof address === 'object', 'endpoint is not listening');
    return address.port;
  }

  /** Resolves once the listening socket is closed, after `close()`. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  send(to: NodeId, message: Uint8Array): void {
    assert(
      message.length >= FRAME_HEADER_BYTES && message.length <= this.maxFrameBytes,
      `message of ${message.length} bytes is not a frame within ${this.maxFrameBytes} bytes`,
    );
    if (this.#closed) {
      this.#drop('endpoint_closed', message);
      return;
    }
    let peer = this.#peers.get(to);
    if (this.#options.directory.resolve(to) === undefined && !hasOpenConnection(peer?.accepted)) {
      this.#drop('unknown_peer', message);
      return;
    }
    if (peer === undefined) {
      peer = new Peer(to);
      this.#peers.set(to, peer);
    }
    // A copy, as the simulator takes: the caller may reuse its buffer once send returns.
    for (const dropped of peer.queue.push(copyBytes(message), this.sendQueueLimitBytes)) {
      this.#drop('queue_full', dropped);
    }
    this.#pump(peer);
  }

  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void {
    this.#handler = handler;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#server.close();
    for (const peer of this.#peers.values()) {
      clearTimeout(peer.reconnectTimer);
      for (const message of peer.queue.clear()) this.#drop('endpoint_closed', message);
    }
    this.#peers.clear();
    for (const connection of this.#connections) this.#destroy(connection, 'endpoint closed');
  }

  /** What this endpoint asks of its peers, for the status APIs (`TransportAuthStatus`). */
  authStatus(): TransportAuthStatus {
    return {
      authentication:
        this.#key === undefined ? 'off' : this.#acceptUnauthenticated ? 'transition' : 'required',
      authFailures: this.#counters.authFailures,
      unauthenticatedConnections: this.#counters.unauthenticatedConnections,
    };
  }

  counters(): TransportCounters {
    let queuedBytes = 0;
    let queuedMessages = 0;
    for (const peer of this.#peers.values()) {
      queuedBytes += peer.queue.bytes;
      queuedMessages += peer.queue.length;
    }
    let openConnections = 0;
    for (const connection of this.#connections) if (connection.open) openConnections += 1;
    return {
      ...this.#counters,
      droppedMessages: { ...this.#dropped },
      queuedBytes,
      queuedMessages,
      openConnections,
    };
  }

  async #bind(): Promise<void> {
    const { listenHost, listenPort } = this.#options;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new NorthlightError(
            'NL_CONFIG_INVALID',
            `listen on ${listenHost}:${listenPort}: ${error.message}`,
            {
              host: listenHost,
              port: listenPort,
            },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(listenPort, listenHost, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#server.on('error', (error) => {
      this.#options.logger.log('error', 'transport listener failed', { error: error.message });
    });
  }

  #drop(reason: DropReason, message: Uint8Array): void {
    this.#dropped[reason] += 1;
    this.#counters.droppedBytes += message.length;
  }

  /** Writes what `peer` has queued to the connection that serves it, opening one if needed. */
  #pump(peer: Peer): void {
    const connection = this.#route(peer);
    if (connection === undefined || !connection.open) return;
    while (!connection.blocked) {
      const message = peer.queue.shift();
      if (message === undefined) break;
      if (!connection.corked) {
        // Frames sent in one tick (a group commit's acks, a writer's batches to one node) share a
        // syscall: one writev when the tick ends instead of one write each.
        connection.corked = true;
        connection.socket.cork();
        process.nextTick(uncork, connection);
      }
      this.#counters.sentMessages += 1;
      this.#counters.sentBytes += message.length;
      if (!connection.socket.write(message)) connection.blocked = true;
    }
  }

  /**
   * The connection that carries messages to `peer`: the dialed one when the directory knows the peer
   * (dialing now unless a backoff is pending), otherwise the newest connection the peer opened to us.
   * A peer with neither loses its queue.
   */
  #route(peer: Peer): Connection | undefined {
    const address = this.#options.directory.resolve(peer.id);
    if (address !== undefined) {
      if (peer.dialed !== undefined && !sameAddress(peer.dialedAddress, address)) {
        this.#destroy(peer.dialed, 'peer address changed in the directory');
      }
      if (peer.dialed === undefined && peer.reconnectTimer === undefined) this.#dial(peer, address);
      return peer.dialed;
    }
    if (peer.dialed !== undefined) this.#destroy(peer.dialed, 'peer removed from the directory');
    const accepted = newestOpen(peer.accepted);
    if (accepted === undefined) {
      for (const message of peer.queue.clear()) this.#drop('unknown_peer', message);
      this.#forgetIfIdle(peer);
    }
    return accepted;
  }

  #dial(peer: Peer, address: PeerAddress): void {
    this.#counters.connectAttempts += 1;
    const socket = connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
    });
    const connection = new Connection(
      'outbound',
      socket,
      `${address.host}:${address.port}`,
      peer.id,
      this.maxFrameBytes,
    );
    peer.dialed = connection;
    peer.dialedAddress = address;
    this.#attach(connection);
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#attach(new Connection('inbound', socket, remote, undefined, this.maxFrameBytes));
  }

  /** Wires a new socket: our hello goes out at once; the peer's must arrive within the deadline. */
  #attach(connection: Connection): void {
    const { socket } = connection;
    this.#connections.add(connection);
    socket.setNoDelay(true);
    // A fixed deadline for the hellos and proofs: a socket's idle timeout is renewed by every byte, so a
    // client trickling a byte a second would hold a connection slot for as long as it liked.
    connection.handshakeTimer = setTimeout(() => {
      connection.handshakeTimer = undefined;
      if (!connection.open && !connection.closed)
        this.#handshakeFailed(connection, 'no hello and proof before the handshake deadline');
    }, this.#options.handshakeTimeoutMs);
    connection.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => this.#onData(connection, chunk));
    socket.on('drain', () => {
      connection.blocked = false;
      const peer = connection.peerId === undefined ? undefined : this.#peers.get(connection.peerId);
      if (peer !== undefined) this.#pump(peer);
    });
    socket.on('error', (error) => {
      connection.lastError = error;
    });
    socket.on('close', () => this.#onClose(connection));
    // The dialer speaks first; the acceptor answers in the dialer's version (#helloArrived), so that a
    // build which only reads version 1 can still dial this one during an upgrade.
    if (connection.direction === 'inbound') return;
    const legacy = connection.peerId !== undefined && this.#peers.get(connection.peerId)?.legacy === true;
    connection.ownHello = this.#key === undefined || legacy ? this.#hello : this.#freshHello();
    socket.write(connection.ownHello);
  }

  /** A version-2 hello with a nonce of its own. */
  #freshHello(): Uint8Array {
    return encodeTransportHello(this.address, randomBytes(TRANSPORT_NONCE_BYTES));
  }

  #onData(connection: Connection, chunk: Uint8Array): void {
    if (connection.closed) return;
    let rest = chunk;
    if (!connection.open) {
      try {
        rest = chunk.subarray(connection.hello.push(chunk));
      } catch (error) {
        if (!(error instanceof NorthlightError)) throw error;
        this.#handshakeFailed(connection, error.message, error.code);
        return;
      }
      if (connection.proof === undefined) {
        if (!connection.hello.complete) return;
        if (!this.#helloArrived(connection, connection.hello.hello!)) return;
      }
      if (connection.proof !== undefined) {
        const take = Math.min(TRANSPORT_PROOF_BYTES - connection.proofFilled, rest.length);
        connection.proof.set(rest.subarray(0, take), connection.proofFilled);
        connection.proofFilled += take;
        rest = rest.subarray(take);
        if (connection.proofFilled < TRANSPORT_PROOF_BYTES) return;
        if (!this.#proofArrived(connection)) return;
      }
      if (rest.length === 0) return;
    }
    // Drain the decoder completely before delivering, so that an error thrown by the handler is never
    // taken for a decode error, and the decoder is empty again before the next push.
    connection.decoder.push(rest);
    const frames: ReceivedFrame[] = [];
    let failure: NorthlightError | undefined;
    try {
      for (let frame = connection.decoder.next(); frame !== undefined; frame = connection.decoder.next()) {
        frames.push(frame);
      }
    } catch (error) {
      if (!(error instanceof NorthlightError)) throw error;
      failure = error;
    }
    for (const frame of frames) {
      if (connection.closed) return;
      this.#deliver(connection, frame);
    }
    if (failure !== undefined && !connection.closed) this.#decodeFailed(connection, failure);
  }

  #decodeFailed(connection: Connection, error: NorthlightError): void {
    this.#counters.decodeErrors += 1;
    this.#options.logger.log('warn', 'closing a transport connection: its byte stream failed to decode', {
      remoteAddress: connection.remoteAddress,
      peer: connection.peerId,
      direction: connection.direction,
      code: error.code,
      error: error.message,
    });
    this.#destroy(connection, DECODE_ERROR_REASON);
  }

  /**
   * The peer's hello is in: opens the connection, or (both sides authenticating) sends this side's
   * proof and waits for the peer's. False (and the connection closed) if the hello is unacceptable.
   */
  #helloArrived(connection: Connection, hello: TransportHello): boolean {
    const { nodeId } = hello;
    const inbound = connection.direction === 'inbound';
    if (inbound) {
      // Version 2 when this side has a key, unless it takes unauthenticated peers and the dialer spoke
      // version 1 (answer in kind: an older build reads nothing else); version 1 without a key. A
      // keyed side that refuses version 1 answers with version 2, so that the dialer learns why.
      const inKind = hello.authenticates || !this.#acceptUnauthenticated;
      connection.ownHello = this.#key !== undefined && inKind ? this.#freshHello() : this.#hello;
      connection.socket.write(connection.ownHello);
    } else if (nodeId !== connection.peerId) {
      this.#handshakeFailed(connection, `the peer says it is ${nodeId}, not ${connection.peerId}`);
      return false;
    }
    if (this.#key === undefined && hello.authenticates) {
      this.#authFailed(
        connection,
        nodeId,
        "the peer requires the cluster's internal token and this process has none: give every storage node and engine of the cluster the same token",
      );
      return false;
    }
    const sentVersion2 = connection.ownHello.length === TRANSPORT_HELLO_V2_BYTES;
    if (this.#key !== undefined && !hello.authenticates) {
      if (!this.#acceptUnauthenticated) {
        this.#authFailed(
          connection,
          nodeId,
          "the peer runs without the cluster's internal token, so it cannot prove it belongs to this cluster: give it the token",
        );
        return false;
      }
      if (sentVersion2) {
        // An older build answered our version 2 with its version 1 (and will drop us): dial it with
        // version 1 from now on.
        const peer = this.#peers.get(nodeId);
        if (peer !== undefined) peer.legacy = true;
        this.#destroy(connection, 'the peer speaks hello version 1 only; dialing it again with version 1');
        return false;
      }
      this.#counters.unauthenticatedConnections += 1;
      this.#open(connection, nodeId);
      return true;
    }
    if (this.#key !== undefined) {
      // The dialer proves first; the acceptor only once the dialer's proof checks (#proofArrived), so
      // that a client without the key never gets a proof of it to guess the token against offline.
      if (!inbound)
        connection.socket.write(transportProof(this.#key, 'dialer', connection.ownHello, hello.bytes));
      connection.proof = new Uint8Array(TRANSPORT_PROOF_BYTES);
      return true;
    }
    this.#open(connection, nodeId);
    return true;
  }

  /** The peer's proof is in: opens the connection if it checks; false (and closed) if not. */
  #proofArrived(connection: Connection): boolean {
    const hello = connection.hello.hello!;
    const inbound = connection.direction === 'inbound';
    const expected = transportProof(
      this.#key!,
      inbound ? 'dialer' : 'acceptor',
      inbound ? hello.bytes : connection.ownHello,
      inbound ? connection.ownHello : hello.bytes,
    );
    if (!proofsEqual(connection.proof!, expected)) {
      this.#authFailed(
        connection,
        hello.nodeId,
        "the peer's proof of the cluster's internal token is wrong: it holds another token (another cluster's, or an old one)",
      );
      return false;
    }
    if (inbound)
      connection.socket.write(transportProof(this.#key!, 'acceptor', hello.bytes, connection.ownHello));
    this.#open(connection, hello.nodeId);
    return true;
  }

  #authFailed(connection: Connection, claimedId: NodeId, reason: string): void {
    this.#counters.authFailures += 1;
    // One line per AUTH_LOG_INTERVAL_MS at most, with how many were refused since: anyone can open
    // connections, and each must not cost a log line.
    this.#authUnlogged += 1;
    const nowMs = performance.now();
    if (nowMs - this.#authLoggedAtMs >= AUTH_LOG_INTERVAL_MS) {
      this.#authLoggedAtMs = nowMs;
      this.#options.logger.log('warn', 'closing a transport connection: authentication failed', {
        remoteAddress: connection.remoteAddress,
        direction: connection.direction,
        peer: claimedId,
        reason,
        refusedSinceLastLine: this.#authUnlogged,
      });
      this.#authUnlogged = 0;
    }
    this.#destroy(connection, 'authentication failed');
  }

  /** Both hellos (and proofs) are in: frames may flow. */
  #open(connection: Connection, nodeId: NodeId): void {
    connection.open = true;
    clearTimeout(connection.handshakeTimer);
    connection.handshakeTimer = undefined;
    let peer = this.#peers.get(nodeId);
    if (connection.direction === 'inbound') {
      connection.peerId = nodeId;
      this.#counters.inboundConnectionsEstablished += 1;
      if (peer === undefined) {
        peer = new Peer(nodeId);
        this.#peers.set(nodeId, peer);
      }
      peer.accepted.push(connection);
    } else {
      this.#counters.outboundConnectionsEstablished += 1;
      this.#options.logger.log('debug', 'transport connected to a peer', {
        peer: nodeId,
        remoteAddress: connection.remoteAddress,
      });
      if (peer !== undefined && peer.failedDials > 0) {
        this.#options.logger.log('info', 'transport connected to a peer again', {
          peer: nodeId,
          remoteAddress: connection.remoteAddress,
          failedDials: peer.failedDials,
        });
        peer.failedDials = 0;
      }
    }
    if (peer !== undefined) this.#pump(peer);
  }

  #handshakeFailed(connection: Connection, reason: string, code?: string): void {
    this.#counters.handshakeErrors += 1;
    this.#options.logger.log('warn', 'closing a transport connection: bad or missing hello', {
      remoteAddress: connection.remoteAddress,
      direction: connection.direction,
      peer: connection.peerId,
      reason,
      ...(code === undefined ? {} : { code }),
    });
    this.#destroy(connection, 'handshake failed');
  }

  #deliver(connection: Connection, frame: ReceivedFrame): void {
    // The handler receives the whole frame, as sent (the simulator delivers the sender's bytes): the
    // decoder's own verified copy, handed on without encoding it again.
    const message = frame.bytes;
    this.#counters.receivedMessages += 1;
    this.#counters.receivedBytes += message.length;
    const handler = this.#handler;
    if (handler === undefined) this.#drop('no_handler', message);
    else handler(connection.peerId!, message);
  }

  #destroy(connection: Connection, reason: string): void {
    if (connection.closed) return;
    connection.closeReason ??= reason;
    connection.socket.destroy();
    this.#onClose(connection);
  }

  /** Runs once per connection, whoever closed it. */
  #onClose(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    clearTimeout(connection.handshakeTimer);
    this.#connections.delete(connection);
    if (connection.open && connection.closeReason === undefined && connection.decoder.bufferedBytes > 0) {
      this.#options.logger.log('info', 'transport connection closed inside a frame; the frame is lost', {
        remoteAddress: connection.remoteAddress,
        peer: connection.peerId,
      });
    }
    if (this.#closed || connection.peerId === undefined) return;
    const peer = this.#peers.get(connection.peerId);
    if (peer === undefined) return;
    if (connection.direction === 'inbound') {
      const index = peer.accepted.indexOf(connection);
      if (index >= 0) peer.accepted.splice(index, 1);
      if (peer.queue.length > 0) this.#pump(peer);
      this.#forgetIfIdle(peer);
      return;
    }
    if (peer.dialed !== connection) return;
    peer.dialed = undefined;
    peer.dialedAddress = undefined;
    if (!connection.open) this.#dialFailed(peer, connection);
    // Every re-dial waits out a backoff, whatever closed the connection, so that a peer that fails
    // the handshake is not re-dialed in a tight loop. One that completed the handshake and then sent
    // garbage would reset the streak each time, so it waits the longest backoff instead.
    this.#scheduleReconnect(peer, connection.closeReason === DECODE_ERROR_REASON);
  }

  #dialFailed(peer: Peer, connection: Connection): void {
    this.#counters.connectFailures += 1;
    peer.failedDials += 1;
    // The first failure of a streak is worth a line; the retries that follow are not.
    this.#options.logger.log(peer.failedDials === 1 ? 'info' : 'debug', 'transport could not reach a peer', {
      peer: peer.id,
      remoteAddress: connection.remoteAddress,
      failedDials: peer.failedDials,
      error: connection.lastError?.message ?? connection.closeReason ?? 'closed during the handshake',
    });
  }

  /** Waits out the backoff, then re-dials if anything is queued (otherwise the next send dials). */
  #scheduleReconnect(peer: Peer, longest: boolean): void {
    const { reconnectBackoffInitialMs, reconnectBackoffMaxMs, random } = this.#options;
    const exponent = Math.min(peer.failedDials, 30);
    const ceilingMs = longest
      ? reconnectBackoffMaxMs
      : Math.min(reconnectBackoffMaxMs, reconnectBackoffInitialMs * 2 ** exponent);
    const delayMs = ceilingMs / 2 + random.nextFloat() * (ceilingMs / 2);
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = undefined;
      if (this.#closed || this.#peers.get(peer.id) !== peer) return;
      if (peer.queue.length > 0) this.#pump(peer);
      else this.#forgetIfIdle(peer);
    }, delayMs);
    peer.reconnectTimer.unref();
  }

  /** Drops the bookkeeping of a peer that has nothing queued, no connection and no pending dial. */
  #forgetIfIdle(peer: Peer): void {
    if (
      peer.queue.length === 0 &&
      peer.dialed === undefined &&
      peer.accepted.length === 0 &&
      peer.reconnectTimer === undefined
    ) {
      this.#peers.delete(peer.id);
    }
  }
}

function hasOpenConnection(connections: readonly Connection[] | undefined): boolean {
  return connections !== undefined && newestOpen(connections) !== undefined;
}

function newestOpen(connections: readonly Connection[]): Connection | undefined {
  for (let index = connections.length - 1; index >= 0; index--) {
    const connection = connections[index]!;
    if (connection.open && !connection.closed) return connection;
  }
  return undefined;
}

function sameAddress(a: PeerAddress | undefined, b: PeerAddress): boolean {
  return a !== undefined && a.host === b.host && a.port === b.port;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}
