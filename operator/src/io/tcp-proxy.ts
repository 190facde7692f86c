/**
 * The local platform's stable endpoints, what Services `<name>-rw` and `<name>-ro` are on Kubernetes:
 * a TCP listener that forwards each new connection to a target chosen at connect time. When the
 * target changes (a failover), connections to the old target are closed, so a client sees one error
 * and its next connection reaches the new writer. While there is no target to give (the writer died
 * and a replica is being promoted), new connections are held, not refused, for up to HOLD_MS: a
 * client connecting during a failover waits for the new writer instead of failing.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Connections held open at once; more are refused (a limit on everything). */
export const MAX_PROXY_CONNECTIONS = 1_024;
/** How long a new connection waits for a target before it is closed. */
export const HOLD_MS = 15_000;
const HOLD_POLL_MS = 25;

/** A port to forward to, 'hold' to wait for one, or undefined to refuse. */
export type ProxyTarget = number | 'hold' | undefined;

export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; target: number }>();
  readonly #choose: () => ProxyTarget;
  #closed = false;

  /** `choose` names the port to forward a new connection to (see ProxyTarget). */
  constructor(choose: () => ProxyTarget) {
    this.#choose = choose;
    this.#server = createServer((client) => this.#accept(client));
    this.#server.maxConnections = MAX_PROXY_CONNECTIONS;
  }

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Closes every connection forwarded to a port other than `current` (after a target change). */
  dropConnectionsNotTo(current: number | undefined): void {
    for (const pair of this.#pairs)
      if (pair.target !== current) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, heldSinceMs = Date.now()): void {
    const target = this.#closed ? undefined : this.#choose();
    if (target === 'hold' && Date.now() - heldSinceMs < HOLD_MS && !client.destroyed) {
      client.pause();
      setTimeout(() => this.#accept(client, heldSinceMs), HOLD_POLL_MS);
      return;
    }
    if (typeof target !== 'number') {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: target });
    const pair = { client, upstream, target };
    this.#pairs.add(pair);
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', close);
    upstream.once('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }
}
