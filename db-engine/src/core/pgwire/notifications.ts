/**
 * PostgreSQL's LISTEN / NOTIFY between the sessions of one engine: job queues (graphile-worker,
 * pg-boss, Oban), cache invalidation and PostgREST's schema reload wait on a channel instead of
 * polling a table. The hub is the protocol layer's, in memory, as PostgreSQL's queue is:
 *
 * - `LISTEN channel` subscribes the session, `UNLISTEN channel | *` unsubscribes it; inside a
 *   transaction block each takes effect when the block commits, and not at all if it rolls back.
 * - `NOTIFY channel [, 'payload']` and `SELECT pg_notify(channel, payload)` send: outside a block at
 *   once, inside one when it commits (identical channel and payload sent once), never if it rolls
 *   back, as in PostgreSQL. Every session listening on the channel gets it, the sender too.
 * - A listening session gets a NotificationResponse (channel, payload, sender's pid) at once while it
 *   is idle, else just before its next ReadyForQuery outside a transaction block.
 * - One hub per engine process (the writer's sessions notify each other); notifications are not
 *   durable (a session that is not connected when one is sent never gets it, as in PostgreSQL).
 *
 * Pure: the connections (connection.ts) deliver; the server (io/pg-server.ts) owns the one hub.
 */

/** PostgreSQL's limit on a payload, in bytes (22023 above it). */
export const NOTIFY_PAYLOAD_BYTES_MAX = 7_999;

export interface Notification {
  readonly channel: string;
  readonly payload: string;
  /** The sending session's pid. */
  readonly processId: number;
}

/** A session that listens: the hub hands it each notification on a channel it listens on. */
export interface NotificationListener {
  notify(notification: Notification): void;
}

export class NotificationHub {
  readonly #channels = new Map<string, Set<NotificationListener>>();

  listen(listener: NotificationListener, channel: string): void {
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
    }
    listeners.add(listener);
  }

  /** Stops `listener` listening on `channel`, or on every channel when `channel` is null. */
  unlisten(listener: NotificationListener, channel: string | null): void {
    for (const [name, listeners] of channel === null
      ? [...this.#channels]
      : [[channel, this.#channels.get(channel)] as const]) {
      if (listeners === undefined) continue;
      listeners.delete(listener);
      if (listeners.size === 0) this.#channels.delete(name);
    }
  }

  /** The channels `listener` listens on, sorted. */
  channelsOf(listener: NotificationListener): string[] {
    return [...this.#channels]
      .filter(([, listeners]) => listeners.has(listener))
      .map(([name]) => name)
      .sort();
  }

  /** Hands each notification, in order, to every session listening on its channel. */
  publish(notifications: readonly Notification[]): void {
    for (const notification of notifications) {
      for (const listener of [...(this.#channels.get(notification.channel) ?? [])])
        listener.notify(notification);
    }
  }

  /** Channels with at least one listener (metrics and tests). */
  get channelCount(): number {
    return this.#channels.size;
  }
}
