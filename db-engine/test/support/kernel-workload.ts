/**
 * The engine's two cores together in the simulator: the real SQL kernel (`SqlSession`: SQLite in wasm
 * over the redo VFS and buffer cache) joined to the real `QuorumDriver`, over six real storage cores,
 * under network drops, duplicates and reordering, storage crashes and engine crashes. A bank-transfer
 * workload; the checker runs at every recovery on a fresh kernel that reads the recovered volume
 * back through storage:
 *  - every acknowledged transfer is there (acknowledged = the reply would have been released: the
 *    driver said its group, and every group sealed before it, is durable);
 *  - nothing is half-applied: every account's balance is exactly its opening balance plus what the
 *    transfers present moved, and the total never changes;
 *  - `PRAGMA integrity_check` is ok;
 *  - VDL never goes back while a writer serves.
 *
 * How the synchronous kernel reads pages in the simulator: its page source serves pages fetched
 * beforehand and reports any other page as a miss, which fails the request (the kernel rolls it back,
 * leaving nothing, as for any failed page read). The workload then reads the missing pages through
 * the driver (the production read path: a segment whose SCL covers the read point, fallbacks on
 * error or timeout) and runs the request again. The engine process does the same thing inside one
 * attempt, blocking the worker on the read instead of failing.
 */
import type { PageNo } from '@northlight/protocol';
import type { QuorumDriver } from '../../src/core/quorum-driver.js';
import type { ExecuteReply, ExecuteRequest } from '../../src/kernel/messages.js';
import type { PageGroup, PageReadResult } from '../../src/kernel/redo-vfs.js';
import { SqlSession } from '../../src/kernel/sql-session.js';
import { seededRandom } from './seeded.js';
import { SimVolume, StorageCrashes, type VolumeGeometry } from './sim-volume.js';

/** 4 KiB pages (the kernel's), 8 per PG: the volume grows by a PG every 32 KiB. */
export const KERNEL_GEOMETRY: VolumeGeometry = { pageSizeBytes: 4096, pagesPerPg: 8 };

export interface KernelSeedOptions {
  readonly transfers: number;
  readonly accounts: number;
  /** Buffer cache pages: small, so pages are evicted (at or below VDL) and read back from storage. */
  readonly cachePages: number;
  readonly engineCrashProbability: number;
  readonly storageCrashProbability: number;
}

export const KERNEL_SEED_DEFAULTS: KernelSeedOptions = {
  transfers: 120,
  accounts: 40,
  cachePages: 24,
  engineCrashProbability: 0.02,
  storageCrashProbability: 0.03,
};

export interface KernelSeedResult {
  readonly transfers: number;
  readonly acknowledged: number;
  readonly recoveries: number;
  readonly storageCrashes: number;
  readonly pagesReadFromStorage: number;
  readonly pgs: number;
}

export const OPENING_BALANCE = 1_000;
/** A request needing more page reads than this in a row is a livelock (a bug). */
const ATTEMPTS_MAX = 200;

/** One engine incarnation: its driver and a kernel whose groups go to it, in seal order. */
export class KernelOnDriver {
  readonly #volume: SimVolume;
  readonly #driver: QuorumDriver;
  readonly #prefetched = new Map<number, Uint8Array>();
  readonly #missing = new Set<number>();
  /** Kernel group seq → driver seq. */
  readonly #driverSeqOf = new Map<number, number>();
  #session: SqlSession | undefined;
  #sealed: PageGroup | undefined;
  pagesRead = 0;

  constructor(volume: SimVolume, driver: QuorumDriver) {
    this.#volume = volume;
    this.#driver = driver;
  }

  async open(cachePages: number, engineId = 'e1'): Promise<void> {
    const events = this.#volume.engine(engineId).events;
    events.allocated = (driverSeq, lsns) => {
      for (const [kernelSeq, seq] of this.#driverSeqOf)
        if (seq === driverSeq) this.#session?.assignLsns(kernelSeq, lsns);
    };
    events.vdlAdvanced = (vdl) => this.#session?.setVdl(vdl);
    events.acceptingChanged = (accepting) => this.#session?.setAccepting(accepting, 'write quorum lost');
    for (let attempt = 0; ; attempt++) {
      try {
        this.#session = await SqlSession.open({
          pageSource: { readPage: (pageNo) => this.#readPage(pageNo) },
          sink: {
            seal: (group) => {
              this.#sealed = group;
              return 'ok';
            },
          },
          cachePages,
        });
        break;
      } catch (error) {
        if (this.#missing.size === 0 || attempt >= ATTEMPTS_MAX) throw error;
        await this.#fetchMissing();
      }
    }
    const vdl = this.#driver.vdl;
    if (vdl !== undefined) this.#session.setVdl(vdl);
    this.#session.setAccepting(this.#driver.accepting, 'write quorum lost');
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  #readPage(pageNo: number): PageReadResult {
    const page = this.#prefetched.get(pageNo);
    if (page !== undefined) {
      this.#prefetched.delete(pageNo);
      return { ok: true, page };
    }
    this.#missing.add(pageNo);
    return { ok: false, message: `page ${pageNo} is not fetched yet` };
  }

  async #fetchMissing(): Promise<void> {
    const wanted = [...this.#missing];
    this.#missing.clear();
    for (const pageNo of wanted) {
      const page = await this.#volume.wait(this.#driver.readPage(pageNo as PageNo), 60_000);
      this.#prefetched.set(pageNo, page);
      this.pagesRead++;
    }
  }

  /**
   * Runs a request to completion (fetching the pages it misses) and submits the group it sealed.
   * Resolves with the reply and, for a commit, the driver seq to wait for before acknowledging.
   */
  async execute(request: ExecuteRequest): Promise<{ reply: ExecuteReply; waitFor: number | undefined }> {
    for (let attempt = 0; ; attempt++) {
      this.#missing.clear();
      const reply = this.#session!.execute(request);
      const group = this.#sealed;
      this.#sealed = undefined;
      if (group !== undefined) {
        const driverSeq = this.#driver.lastSeq + 1;
        this.#driverSeqOf.set(group.seq, driverSeq);
        const submitted = this.#driver.submit(group.records);
        if (submitted !== driverSeq) throw new Error(`driver numbered ${submitted}, not ${driverSeq}`);
      }
      if (reply.ok || this.#missing.size === 0) {
        const waitFor =
          reply.visibleThroughSeq > 0 ? this.#driverSeqOf.get(reply.visibleThroughSeq) : undefined;
        return { reply, waitFor };
      }
      if (attempt >= ATTEMPTS_MAX)
        throw new Error(`a request still missed pages after ${ATTEMPTS_MAX} attempts: ${[...this.#missing]}`);
      await this.#fetchMissing();
    }
  }

  /** Runs a request that must succeed; returns its result rows. */
  async query(sql: string, params: (number | string)[] = []): Promise<unknown[][]> {
    const { reply } = await this.execute({ statements: [{ sql, params }] });
    if (!reply.ok) throw new Error(`${sql}: ${reply.error.sqlstate} ${reply.error.message}`);
    return reply.results[0]!.rows as unknown[][];
  }
}

export interface Transfer {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly amount: number;
}

/** One seed; throws (with the seed's story) when a check fails. */
export async function runKernelSeed(
  seed: number,
  options: KernelSeedOptions = KERNEL_SEED_DEFAULTS,
): Promise<KernelSeedResult> {
  const random = seededRandom(seed);
  const volume = new SimVolume(
    seed,
    ['e1'],
    { dropProbability: 0.02, duplicateProbability: 0.02, reorderProbability: 0.05 },
    KERNEL_GEOMETRY,
  );
  volume.startEngine();
  let driver = await volume.serving();
  let kernel = new KernelOnDriver(volume, driver);
  await kernel.open(options.cachePages);
  await kernel.query('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
  await kernel.query(
    'CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER NOT NULL, dst INTEGER NOT NULL, amount INTEGER NOT NULL, note BLOB)',
  );
  const setup = await kernel.execute({
    statements: Array.from({ length: options.accounts }, (_, index) => ({
      sql: 'INSERT INTO accounts (id, balance) VALUES (?, ?)',
      params: [index + 1, OPENING_BALANCE],
    })),
  });
  if (!setup.reply.ok) throw new Error(`seed ${seed}: setup failed: ${setup.reply.error.message}`);
  await volume.settle(() => driver.isDurable(setup.waitFor!), 60_000);

  const issued = new Map<number, Transfer>();
  const acknowledged = new Set<number>();
  let recoveries = 0;
  let pagesRead = 0;
  const crashes = new StorageCrashes(volume, random, options.storageCrashProbability);
  let vdlSeen = driver.vdl ?? 0n;

  /** A fresh kernel on the recovered volume, and the checks. */
  const recoverAndCheck = async (when: string): Promise<void> => {
    pagesRead += kernel.pagesRead;
    kernel.close();
    volume.cluster.restart('e1');
    driver = await volume.serving();
    recoveries++;
    vdlSeen = driver.vdl ?? 0n;
    kernel = new KernelOnDriver(volume, driver);
    await kernel.open(options.cachePages);
    const present = new Set((await kernel.query('SELECT id FROM transfers')).map((row) => row[0] as number));
    const lost = [...acknowledged].filter((id) => !present.has(id));
    if (lost.length > 0)
      throw new Error(
        `seed ${seed} (${when}): acknowledged transfers lost after recovery: ${lost.join(',')}`,
      );
    const expected = new Map<number, number>();
    for (let account = 1; account <= options.accounts; account++) expected.set(account, OPENING_BALANCE);
    for (const id of present) {
      const transfer = issued.get(id);
      if (transfer === undefined) throw new Error(`seed ${seed} (${when}): transfer ${id} was never issued`);
      expected.set(transfer.from, expected.get(transfer.from)! - transfer.amount);
      expected.set(transfer.to, expected.get(transfer.to)! + transfer.amount);
    }
    for (const [account, balance] of await kernel.query('SELECT id, balance FROM accounts ORDER BY id')) {
      if (balance !== expected.get(account as number))
        throw new Error(
          `seed ${seed} (${when}): account ${account} holds ${balance}, the transfers present say ${expected.get(account as number)} (half-applied)`,
        );
    }
    const check = await kernel.query('PRAGMA integrity_check');
    if (check[0]?.[0] !== 'ok')
      throw new Error(`seed ${seed} (${when}): integrity_check: ${JSON.stringify(check)}`);
    // What is not present was never acknowledged and is gone for good: forget it.
    for (const id of [...issued.keys()]) if (!present.has(id)) issued.delete(id);
  };

  for (let id = 1; id <= options.transfers; id++) {
    const from = 1 + Math.floor(random() * options.accounts);
    const to = 1 + ((from + Math.floor(random() * (options.accounts - 1))) % options.accounts);
    const amount = 1 + Math.floor(random() * 50);
    const transfer = { id, from, to, amount };
    // Now and then a larger note, so that the volume grows past several PGs.
    const noteBytes = random() < 0.2 ? 3_000 : 16;
    const { reply, waitFor } = await kernel.execute({
      statements: [
        {
          sql: 'INSERT INTO transfers (id, src, dst, amount, note) VALUES (?, ?, ?, ?, randomblob(?))',
          params: [id, from, to, amount, noteBytes],
        },
        { sql: 'UPDATE accounts SET balance = balance - ? WHERE id = ?', params: [amount, from] },
        { sql: 'UPDATE accounts SET balance = balance + ? WHERE id = ?', params: [amount, to] },
      ],
    });
    if (reply.ok) {
      issued.set(id, transfer);
      if (waitFor !== undefined) {
        const current = driver;
        current.whenDurable(waitFor).then(
          () => {
            if (driver === current) acknowledged.add(id);
          },
          () => undefined, // write quorum lost or fenced: not acknowledged, outcome unknown
        );
      }
    } else if (reply.error.sqlstate !== '57P03') {
      throw new Error(`seed ${seed}: transfer ${id} failed: ${reply.error.sqlstate} ${reply.error.message}`);
    }
    await volume.cluster.runFor(random() * 3);
    const vdl = driver.vdl ?? 0n;
    if (vdl < vdlSeen) throw new Error(`seed ${seed}: VDL went back from ${vdlSeen} to ${vdl}`);
    vdlSeen = vdl;
    crashes.step();
    if (random() < options.engineCrashProbability) await recoverAndCheck(`after transfer ${id}`);
  }
  crashes.healAll();
  const settledDriver = driver;
  await volume
    .settle(() => settledDriver.status().groupsWaiting === 0, 60_000)
    .catch(() => {
      throw new Error(`seed ${seed}: groups still waiting 60 s after healing`);
    });
  await volume.cluster.runFor(10); // the last acknowledgements are delivered
  const acknowledgedCount = acknowledged.size;
  await recoverAndCheck('at the end');
  pagesRead += kernel.pagesRead;
  kernel.close();
  if (acknowledgedCount === 0) throw new Error(`seed ${seed}: nothing was acknowledged`);
  return {
    transfers: options.transfers,
    acknowledged: acknowledgedCount,
    recoveries,
    storageCrashes: crashes.count,
    pagesReadFromStorage: pagesRead,
    pgs: (await volume.engine().directory).pgs().length,
  };
}
