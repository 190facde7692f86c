/**
 * The kernel's worker thread: it owns the wasm instance and the one SQLite connection (the build is
 * single-threaded), and runs each request synchronously from start to reply. `KernelHost` starts it;
 * nothing else imports this file.
 *
 * Why a thread: a page miss must be answered inside a synchronous VFS call, but storage I/O is
 * asynchronous. The worker blocks in `Atomics.wait` (page-channel.ts) while the host thread, whose
 * event loop stays free, fetches the page. Blocking the host thread itself would deadlock it.
 *
 * What happens per command (messages.ts has the shapes; the host sends a tick's commands together):
 *  - execute: the request runs as one transaction (sql-session.ts), stopped with 57014 if the host
 *    cancels it meanwhile (cancel-channel.ts: the worker does not read messages while it runs). If its commit sealed a group,
 *    the group goes back with the reply, transferred. Replies of the commands run in one turn of the
 *    event loop leave together (`Outbox`), in order.
 *  - set-vdl, assign-lsns: drive the buffer cache's eviction rule (page-cache.ts). They are applied
 *    between requests, since a request runs without yielding.
 *  - set-accepting: while false, commits are refused (57P03) without sealing.
 *  - stats: answered with the replies of the same turn.
 *
 * An assertion failure (a bug) is not caught: it ends the thread, and the host fails every request.
 */
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { assert } from '@northlight/protocol';
import { CancelChannelReader } from './cancel-channel.js';
import {
  decodeGroupMessage,
  encodeGroupMessage,
  type GroupMessage,
  type HostCommand,
  type HostToWorkerMessage,
  type KernelWorkerData,
  type WorkerAnswer,
  type WorkerToHostMessage,
} from './messages.js';
import { PageChannelClient } from './page-channel.js';
import { SqlSession } from './sql-session.js';
import { loadSqliteWasm } from './sqlite-wasm.js';

/**
 * Answers (replies, stats) wait here until the event loop has run every command that arrived, then
 * leave as one message. Also flushed before the worker blocks on a page read, so a reply never waits
 * for another request's storage I/O.
 */
class Outbox {
  #answers: WorkerAnswer[] = [];
  #transfer: ArrayBuffer[] = [];
  readonly #port: MessagePort;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  add(answer: WorkerAnswer, transfer: readonly ArrayBuffer[] = []): void {
    if (this.#answers.length === 0) setImmediate(() => this.flush());
    this.#answers.push(answer);
    this.#transfer.push(...transfer);
  }

  flush(): void {
    if (this.#answers.length === 0) return;
    const message: WorkerToHostMessage = { type: 'answers', answers: this.#answers };
    this.#port.postMessage(message, this.#transfer);
    this.#answers = [];
    this.#transfer = [];
  }
}

async function runWorker(port: MessagePort, data: KernelWorkerData): Promise<void> {
  const post = (message: WorkerToHostMessage): void => port.postMessage(message);
  const outbox = new Outbox(port);
  const cancels = new CancelChannelReader(data.cancelChannel);
  const pageSource = new PageChannelClient(data.pageChannel, {
    timeoutMs: data.pageReadTimeoutMs,
    postRequest: (requestId, pageNo) => {
      outbox.flush();
      post({
        type: 'read-page',
        requestId,
        pageNo,
        ...(appliedTag === undefined ? {} : { tag: appliedTag }),
      });
    },
    now: () => performance.now(),
  });
  /** The group the request now running sealed; it leaves with the request's reply. */
  let sealed: GroupMessage | undefined;
  /** Replica: the tag of the last apply (R2); page reads carry it. */
  let appliedTag: string | undefined;
  if (data.waitForOpen) {
    // A spare: its module graph and wasm are loaded; opening the volume waits for the host's word.
    await loadSqliteWasm();
    await new Promise<void>((resolve) => {
      const listener = (message: HostToWorkerMessage) => {
        if (!message.commands.some((command) => command.type === 'open')) return;
        port.off('message', listener);
        resolve();
      };
      port.on('message', listener);
    });
  }
  let session: SqlSession;
  try {
    session = await SqlSession.open({
      pageSource,
      sink: {
        seal(group) {
          assert(sealed === undefined, 'a second group sealed in one request');
          // Fresh arrays, transferred: the runs themselves may live in shared slabs (bytes-pool.ts).
          sealed = encodeGroupMessage(group);
          return 'ok';
        },
      },
      cachePages: data.cachePages,
      maxGroupPages: data.maxGroupPages,
      maxUnassignedGroups: data.maxUnassignedGroups,
      maxResultRows: data.maxResultRows,
      shipFullPages: data.shipFullPages,
      sqliteCachePages: data.sqliteCachePages,
      replica: data.replica,
    });
  } catch (error) {
    post({ type: 'start-failed', message: error instanceof Error ? error.message : String(error) });
    port.close();
    return;
  }
  port.on('message', (message: HostToWorkerMessage) => {
    for (const command of message.commands) {
      if (command.type === 'apply-records') {
        session.applyRecords(decodeGroupMessage(command.group).records);
        appliedTag = command.tag;
        outbox.add({ type: 'applied', tag: command.tag });
        continue;
      }
      if (command.type !== 'execute') {
        handleControl(session, command, outbox);
        continue;
      }
      const id = command.id;
      // The host may have given up on it while it waited here (a wait limit, a cancel): then it
      // already answered, and the request must not run.
      if (!cancels.claim(id)) {
        outbox.add({ type: 'skipped', id });
        continue;
      }
      const reply = session.execute(command.request, () => cancels.isCancelled(id));
      const group = sealed;
      sealed = undefined;
      if (group === undefined) outbox.add({ type: 'reply', id: command.id, reply });
      else
        outbox.add({ type: 'reply', id: command.id, reply, group }, [
          group.layout.buffer,
          group.bytes.buffer,
        ]);
    }
  });
  post({ type: 'ready', sizePages: session.sizePages, sqliteVersion: session.sqliteVersion });
}

function handleControl(
  session: SqlSession,
  command: Exclude<HostCommand, { type: 'execute' | 'apply-records' }>,
  outbox: Outbox,
): void {
  switch (command.type) {
    case 'set-vdl':
      session.setVdl(BigInt(command.lsn));
      return;
    case 'assign-lsns':
      session.assignLsns(command.seq, command.lsns.map(BigInt));
      return;
    case 'set-accepting':
      session.setAccepting(command.accepting, command.reason);
      return;
    case 'stats':
      outbox.add({ type: 'stats', id: command.id, stats: session.stats() });
      return;
    case 'open':
      return; // only a spare's first command means anything
  }
}

if (!isMainThread && parentPort !== null) {
  void runWorker(parentPort, workerData as KernelWorkerData);
}
