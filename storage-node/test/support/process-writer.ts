/**
 * A test writer for real storage-node processes: a `TcpNetworkEndpoint` (the real transport) that
 * sends messages to one node and matches the replies to the requests by request id, as the engine
 * will. Replies to requests it did not make are kept in `unsolicited`, so a test can check that a node
 * answered nothing it should not have.
 */
import {
  asNodeId,
  decodeMessageFromBytes,
  encodeMessage,
  type Logger,
  type Message,
  type NodeId,
} from '@northlight/protocol';
import { StaticPeerDirectory, TcpNetworkEndpoint } from '@northlight/protocol/io';
import type { StorageProcess } from './process-rig.js';

const quiet: Logger = { log: () => {} };

/** Request ids the writer picks start here, far from the small ids fast-check favours. */
const FIRST_REQUEST_ID = 1n << 48n;

export class ProcessWriter {
  readonly #endpoint: TcpNetworkEndpoint;
  readonly #node: NodeId;
  readonly #waiting = new Map<bigint, (message: Message) => void>();
  /** Every request id this writer asked with (a late reply to one is not unsolicited). */
  readonly #asked = new Set<bigint>();
  #nextRequestId = FIRST_REQUEST_ID;
  /** Messages from the node that answer no request of this writer's `ask`. */
  readonly unsolicited: Message[] = [];

  private constructor(endpoint: TcpNetworkEndpoint, node: NodeId) {
    this.#endpoint = endpoint;
    this.#node = node;
    endpoint.onMessage((_from, bytes) => {
      const message = decodeMessageFromBytes(bytes);
      const requestId = 'requestId' in message ? message.requestId : undefined;
      const waiter = requestId === undefined ? undefined : this.#waiting.get(requestId);
      if (waiter !== undefined) waiter(message);
      else if (requestId === undefined || !this.#asked.has(requestId)) this.unsolicited.push(message);
    });
  }

  static async connect(node: StorageProcess, address = 'writer'): Promise<ProcessWriter> {
    const directory = new StaticPeerDirectory([
      [asNodeId(node.nodeId), { host: '127.0.0.1', port: node.port }],
    ]);
    const endpoint = await TcpNetworkEndpoint.listen({
      address: asNodeId(address),
      listenHost: '127.0.0.1',
      listenPort: 0,
      directory,
      logger: quiet,
    });
    return new ProcessWriter(endpoint, asNodeId(node.nodeId));
  }

  nextRequestId(): bigint {
    return this.#nextRequestId++;
  }

  /** Sends without waiting for a reply. */
  send(message: Message): void {
    this.#endpoint.send(this.#node, encodeMessage(message));
  }

  /** Sends raw bytes as one message (a frame, possibly holding an invalid message). */
  sendBytes(bytes: Uint8Array): void {
    this.#endpoint.send(this.#node, bytes);
  }

  /**
   * Sends the request `build` makes with a fresh request id and resolves with the reply; asks again
   * (a new id) up to `attempts` times when `timeoutMs` passes without one, then throws.
   */
  async ask(
    build: (requestId: bigint) => Message,
    options: { readonly timeoutMs?: number; readonly attempts?: number } = {},
  ): Promise<Message> {
    const { timeoutMs = 5_000, attempts = 1 } = options;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const requestId = this.nextRequestId();
      this.#asked.add(requestId);
      let timer: NodeJS.Timeout | undefined;
      const reply = new Promise<Message | undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
        this.#waiting.set(requestId, resolve);
      });
      this.send(build(requestId));
      const message = await reply;
      clearTimeout(timer);
      this.#waiting.delete(requestId);
      if (message !== undefined) return message;
    }
    throw new Error(`no reply from ${this.#node} after ${attempts} attempt(s) of ${timeoutMs} ms`);
  }

  close(): void {
    this.#endpoint.close();
  }
}
