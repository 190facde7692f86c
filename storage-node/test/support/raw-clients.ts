/**
 * Clients that speak to a real storage-node process below its well-behaved interfaces, for the bad
 * input tests: a raw TCP connection to the binary port (any bytes, hello or not), an oracle that says
 * what the node must do with a byte stream (the transport's own hello reader and frame decoder, run
 * locally), and raw HTTP requests to the admin port (any method, path, content type and body, which
 * `fetch` would normalize or refuse to send).
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type Frame, FrameDecoder, NorthlightError } from '@northlight/protocol';
import { TRANSPORT_HELLO_BYTES, TransportHelloReader } from '@northlight/protocol/io';

/** What a storage node must do with the bytes a client writes on a fresh connection. */
export type TransportVerdict =
  /** The hello is wrong: the node closes the connection (a handshake error, logged with `code`). */
  | { readonly kind: 'handshake-error'; readonly code: string }
  /** The hello is fine, the frames are not: the node closes the connection (a decode error). */
  | { readonly kind: 'decode-error'; readonly code: string }
  /** Nothing wrong yet, nothing complete: the node waits for more bytes. */
  | { readonly kind: 'incomplete' }
  /** Whole, valid frames: the node delivers them (fuzz cases must not produce these). */
  | { readonly kind: 'delivers'; readonly frames: number };

/** Runs `bytes` through the same hello reader and frame decoder the transport uses. */
export function transportVerdict(bytes: Uint8Array, maxFrameBytes?: number): TransportVerdict {
  const hello = new TransportHelloReader();
  let rest: Uint8Array;
  try {
    rest = bytes.subarray(hello.push(bytes));
  } catch (error) {
    if (!(error instanceof NorthlightError)) throw error;
    return { kind: 'handshake-error', code: error.code };
  }
  if (!hello.complete) return { kind: 'incomplete' };
  const decoder = new FrameDecoder(maxFrameBytes === undefined ? {} : { maxFrameBytes });
  decoder.push(rest);
  let frames = 0;
  try {
    while (decoder.next() !== undefined) frames++;
  } catch (error) {
    if (!(error instanceof NorthlightError)) throw error;
    return { kind: 'decode-error', code: error.code };
  }
  return frames > 0 ? { kind: 'delivers', frames } : { kind: 'incomplete' };
}

/** One TCP connection to a node's binary port, recording what the node sent and who closed it. */
export class RawTransportConnection {
  readonly #socket: Socket;
  #received: Buffer[] = [];
  #closedByClient = false;
  #closed = false;
  #localPort = -1;
  readonly #closedPromise: Promise<void>;
  readonly #opened: Promise<void>;

  constructor(port: number) {
    this.#socket = connect({ host: '127.0.0.1', port, noDelay: true });
    // The node may reset the connection while we still write: that is what the tests provoke.
    this.#socket.on('error', () => {});
    this.#socket.on('data', (chunk: Buffer) => this.#received.push(chunk));
    this.#closedPromise = new Promise((resolve) =>
      this.#socket.once('close', () => {
        this.#closed = true;
        resolve();
      }),
    );
    this.#opened = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => {
        this.#localPort = this.#socket.localPort ?? -1;
        resolve();
      });
      this.#socket.once('error', reject);
    });
  }

  static async open(port: number): Promise<RawTransportConnection> {
    const connection = new RawTransportConnection(port);
    await connection.#opened;
    return connection;
  }

  /** The client's port: the node logs the connection's `remoteAddress` as 127.0.0.1:<this>. */
  get localPort(): number {
    return this.#localPort;
  }

  get received(): Buffer {
    return Buffer.concat(this.#received);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True when the node closed the connection before this client ended or destroyed it. */
  get closedByNode(): boolean {
    return this.#closed && !this.#closedByClient;
  }

  write(bytes: Uint8Array): void {
    if (!this.#closed) this.#socket.write(bytes);
  }

  /** Half-closes (FIN after what was written); the node then closes its side. */
  end(): void {
    this.#closedByClient = true;
    this.#socket.end();
  }

  destroy(): void {
    if (!this.#closed) this.#closedByClient = true;
    this.#socket.destroy();
  }

  /** Resolves true once closed, false if `timeoutMs` passed first. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const closed = await Promise.race([this.#closedPromise.then(() => true), timedOut]);
    clearTimeout(timer);
    return closed;
  }

  /** The frames the node sent after its hello (throws if they do not decode). */
  frames(): Frame[] {
    const decoder = new FrameDecoder();
    decoder.push(this.received.subarray(TRANSPORT_HELLO_BYTES));
    return [...decoder];
  }

  /** Waits until the node has sent at least `count` frames after its hello. */
  async waitForFrames(count: number, timeoutMs: number): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frames = this.frames();
      if (frames.length >= count || Date.now() > deadline) return frames;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

export interface RawHttpRequest {
  readonly method: string;
  /** Sent as is: no normalization, no encoding. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Send the body with chunked transfer encoding instead of a content-length. */
  readonly chunked?: boolean;
}

export type RawHttpResponse =
  | { readonly ok: true; readonly status: number; readonly text: string }
  /** The connection failed before a response (the server may close early on a refused body). */
  | { readonly ok: false; readonly error: string };

/**
 * The body's framing header, always explicit: without one, node sends the body of a GET or DELETE
 * unframed (neither a length nor chunks), which the server reads as the start of a next request.
 */
function framing(request: RawHttpRequest): Record<string, string> {
  if (request.body === undefined) return {};
  if (request.chunked === true) return { 'transfer-encoding': 'chunked' };
  return { 'content-length': String(Buffer.byteLength(request.body)) };
}

/** One HTTP/1.1 request on its own connection, with nothing added or normalized by the client. */
export function rawHttp(port: number, request: RawHttpRequest, timeoutMs = 10_000): Promise<RawHttpResponse> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (response: RawHttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(response);
    };
    const timer = setTimeout(() => {
      settle({ ok: false, error: 'timeout' });
      client.destroy();
    }, timeoutMs);
    const client = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, ...framing(request) },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          settle({
            ok: true,
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', (error) => settle({ ok: false, error: error.message }));
      },
    );
    client.on('error', (error) =>
      settle({ ok: false, error: (error as NodeJS.ErrnoException).code ?? error.message }),
    );
    if (request.body === undefined) client.end();
    else if (request.chunked === true) {
      const middle = Math.floor(request.body.length / 2);
      client.write(request.body.slice(0, middle));
      client.end(request.body.slice(middle));
    } else client.end(request.body);
  });
}

/** Writes `bytes` on a fresh connection to an HTTP port and returns whatever comes back before it closes. */
export async function rawHttpBytes(
  port: number,
  bytes: Uint8Array | string,
  timeoutMs = 2_000,
): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(bytes);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await closed;
  clearTimeout(timer);
  return Buffer.concat(chunks).toString('latin1');
}
