/**
 * Read replicas in the simulator (issue 5): the real writer (SQL kernel on the quorum driver) streams
 * its redo (`RedoFeed`) to a real replica (`ReplicaFollower`, a replica `SqlSession`, `ReplicaReader`
 * reading storage over the simulated network at its read points), over six storage cores, with
 * network faults, storage crashes, writer crashes (the replica resyncs from storage on the new
 * writer's stream), stream cuts, and a split-brain schedule: the writer is partitioned from the
 * replica (not from storage), the replica's node is promoted (a second engine recovers the volume
 * under a newer epoch) while the old writer keeps running and submitting.
 *
 * The checker:
 *  - every replica read is one committed state: the balances are exactly the opening balances plus
 *    what the transfers present moved (nothing half-applied), every transfer present was issued;
 *  - the replica never showed a transfer that is not in the volume after any later recovery (it only
 *    applies what is at or below the writer's VDL, which no recovery takes back);
 *  - every transfer either writer acknowledged is in the volume after every recovery (the zombie's
 *    acknowledgements included: it can only have had ones that were durable before the promotion);
 *  - the kernel's own checks (kernel-workload.ts) at each recovery: integrity_check, VDL monotone.
 */
import type { Epoch, Lsn, PageNo } from '@northlight/protocol';
import { asNodeId, type Environment } from '@northlight/protocol';
import { ReplicaReader } from '../../src/core/replica-reader.js';
import { RedoFeed, ReplicaFollower, type StreamChunk } from '../../src/core/replication.js';
import type { PageReadResult } from '../../src/kernel/redo-vfs.js';
import { SqlSession } from '../../src/kernel/sql-session.js';
import { KERNEL_GEOMETRY, KernelOnDriver, OPENING_BALANCE, type Transfer } from './kernel-workload.js';
import { seededRandom } from './seeded.js';
import { SimVolume, StorageCrashes } from './sim-volume.js';

export interface ReplicaSeedOptions {
  readonly transfers: number;
  readonly accounts: number;
  readonly writerCrashProbability: number;
  readonly storageCrashProbability: number;
  readonly streamCutProbability: number;
  /** Run the split-brain schedule (promotion while the old writer keeps running). */
  readonly splitBrain: boolean;
}

export const REPLICA_SEED_DEFAULTS: ReplicaSeedOptions = {
  transfers: 80,
  accounts: 30,
  writerCrashProbability: 0.02,
  storageCrashProbability: 0.03,
  streamCutProbability: 0.03,
  splitBrain: true,
};

export interface ReplicaSeedResult {
  readonly acknowledged: number;
  readonly replicaReads: number;
  readonly resyncs: number;
  readonly promoted: boolean;
  readonly zombieAcknowledged: number;
}

const ATTEMPTS_MAX = 200;
const REPLICA = 'r1';

class SharedEpochs {
  #last = 0n;
  claim(atLeastAbove: Epoch): Promise<Epoch> {
    this.#last = (this.#last > atLeastAbove ? this.#last : atLeastAbove) + 1n;
    return Promise.resolve(this.#last as Epoch);
  }
}

/** The replica: one subscription at a time; a new one (a resync) starts a fresh kernel. */
class SimReplica {
  readonly #volume: SimVolume;
  readonly #env: Environment;
  readonly #reader: ReplicaReader;
  #follower: ReplicaFollower | undefined;
  #session: SqlSession | undefined;
  #tag: Lsn | undefined;
  /** Pages fetched for the kernel, each at the tag it was read for. */
  readonly #prefetched = new Map<number, { tag: Lsn; page: Uint8Array }>();
  readonly #missing = new Set<number>();
  /** Chunks in flight from the writer, delivered in order after a delay; a cut drops them. */
  #inFlight: StreamChunk[] = [];
  #generation = 0;
  resyncs = -1;
  reads = 0;

  constructor(volume: SimVolume, env: Environment, writerId: () => string) {
    this.#volume = volume;
    this.#env = env;
    const placements = () => volume.engine(writerId()).directory;
    let pgs: ReturnType<Awaited<ReturnType<typeof placements>>['pgs']> = [];
    // The PG list as the writer has it (the process fetches GET /v1/volume).
    const refresh = () => {
      void placements().then((directory) => {
        pgs = directory.pgs();
      });
    };
    this.refreshDirectory = refresh;
    this.#reader = new ReplicaReader(
      env,
      { pagesPerPg: KERNEL_GEOMETRY.pagesPerPg, pgs: () => pgs },
      { timeoutMs: 5_000, attemptMs: 250, pageSizeBytes: KERNEL_GEOMETRY.pageSizeBytes, roundBackoffMs: 5 },
    );
  }

  readonly refreshDirectory: () => void;

  get following(): boolean {
    return this.#session !== undefined;
  }

  /** Subscribes to `feed` at the writer's current state: a fresh kernel (a resync after the first). */
  async subscribe(feed: RedoFeed, start: ConstructorParameters<typeof ReplicaFollower>[0]): Promise<void> {
    this.#session?.close();
    this.#session = undefined;
    this.#prefetched.clear();
    this.#inFlight = [];
    const generation = ++this.#generation;
    this.resyncs++;
    this.refreshDirectory();
    const follower = new ReplicaFollower(start, KERNEL_GEOMETRY.pagesPerPg);
    this.#follower = follower;
    this.#tag = start.vdl;
    const deliver = () => {
      if (generation !== this.#generation) return;
      const chunk = this.#inFlight.shift();
      if (chunk === undefined) return;
      const apply = follower.receive(chunk);
      if (apply !== undefined && this.#session !== undefined) {
        this.refreshDirectory();
        this.#session.applyRecords(apply.records);
        this.#tag = apply.tag;
        follower.confirmed(apply.tag);
        feed.feedback(REPLICA, apply.tag, follower.minReadPoints(), this.#env.clock.nowMs());
      } else if (apply !== undefined) {
        // Not open yet: keep what arrived until the kernel is (it opens at the start point).
        this.#pendingApplies.push(apply);
      }
    };
    this.#pendingApplies = [];
    feed.subscribe(
      REPLICA,
      start,
      {
        send: (chunk) => {
          if (generation !== this.#generation) return;
          this.#inFlight.push(chunk);
          this.#env.clock.setTimer(this.#env.random.nextFloat() * 3, deliver);
        },
        close: () => {
          if (generation === this.#generation) this.cut();
        },
      },
      this.#env.clock.nowMs(),
    );
    for (let attempt = 0; ; attempt++) {
      try {
        this.#session = await SqlSession.open({
          pageSource: { readPage: (pageNo) => this.#readPage(pageNo) },
          sink: {
            seal: () => {
              throw new Error('a replica sealed a group');
            },
          },
          cachePages: 16,
          replica: true,
        });
        break;
      } catch (error) {
        if (this.#missing.size === 0 || attempt >= ATTEMPTS_MAX) throw error;
        await this.#fetchMissing();
        if (generation !== this.#generation) return;
      }
    }
    for (const apply of this.#pendingApplies) {
      this.#session.applyRecords(apply.records);
      this.#tag = apply.tag;
      follower.confirmed(apply.tag);
    }
    this.#pendingApplies = [];
  }

  #pendingApplies: { tag: Lsn; records: Parameters<SqlSession['applyRecords']>[0] }[] = [];

  /** The stream is lost: the kernel keeps answering at the state it reached. */
  cut(): void {
    this.#generation++;
    this.#inFlight = [];
  }

  #readPage(pageNo: number): PageReadResult {
    const fetched = this.#prefetched.get(pageNo);
    if (fetched !== undefined && fetched.tag === this.#tag) {
      this.#prefetched.delete(pageNo);
      return { ok: true, page: fetched.page };
    }
    this.#missing.add(pageNo);
    return { ok: false, message: `page ${pageNo} is not fetched at ${this.#tag} yet` };
  }

  async #fetchMissing(): Promise<void> {
    const follower = this.#follower!;
    const tag = this.#tag!;
    const wanted = [...this.#missing];
    this.#missing.clear();
    for (const pageNo of wanted) {
      const page = await this.#volume.wait(
        this.#reader.read(pageNo, follower.readPointFor(pageNo, tag), follower.start.volumeEpoch),
        60_000,
      );
      this.#prefetched.set(pageNo as PageNo, { tag, page });
    }
  }

  /** One consistent read of the bank (undefined if the replica cannot read now: not open, pages gone). */
  async read(): Promise<{ present: number[]; balances: Map<number, number> } | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
      const session = this.#session;
      if (session === undefined) return undefined;
      this.#missing.clear();
      const reply = session.execute({
        statements: [{ sql: 'SELECT id FROM transfers' }, { sql: 'SELECT id, balance FROM accounts' }],
      });
      if (reply.ok) {
        this.reads++;
        return {
          present: (reply.results[0]!.rows as number[][]).map(([id]) => id!),
          balances: new Map((reply.results[1]!.rows as number[][]).map(([id, balance]) => [id!, balance!])),
        };
      }
      if (reply.error.sqlstate === '42P01') return undefined; // the tables are not there yet at this point
      if (this.#missing.size === 0)
        throw new Error(`replica read failed: ${reply.error.sqlstate} ${reply.error.message}`);
      try {
        await this.#fetchMissing();
      } catch {
        return undefined; // storage no longer serves this read point (a newer epoch): a stale replica
      }
    }
    throw new Error(`a replica read still missed pages after ${ATTEMPTS_MAX} attempts`);
  }
}

export async function runReplicaSeed(
  seed: number,
  options: ReplicaSeedOptions = REPLICA_SEED_DEFAULTS,
): Promise<ReplicaSeedResult> {
  const random = seededRandom(seed);
  const volume = new SimVolume(
    seed,
    ['e1', 'e2'],
    { dropProbability: 0.02, duplicateProbability: 0.02, reorderProbability: 0.05 },
    KERNEL_GEOMETRY,
  );
  volume.epochStore = new SharedEpochs();
  let writerId = 'e1';
  let replicaEnv: Environment | undefined;
  volume.cluster.addNode({
    id: REPLICA,
    zone: 'b',
    factory: (env) => {
      replicaEnv = env;
      return {};
    },
  });
  const replica = new SimReplica(volume, replicaEnv!, () => writerId);
  volume.startEngine('e1');
  let driver = await volume.serving('e1');
  let kernel = new KernelOnDriver(volume, driver);
  await kernel.open(24, 'e1');

  let feed = new RedoFeed();
  const attachFeed = (engineId: string) => {
    feed = new RedoFeed();
    const current = feed;
    const events = volume.engine(engineId).events;
    const vdlBefore = events.vdlAdvanced;
    events.mtr = (records) => current.mtr(records);
    events.vdlAdvanced = (vdl) => {
      vdlBefore?.(vdl);
      current.vdlAdvanced(vdl, volume.cluster.nowMs());
      current.flush(1 + Math.floor(random() * 8));
    };
    events.recovered = () => current.reset();
    driver.replicaReadPoints = () => current.minReplicaReadPoints();
  };
  const subscribeReplica = async () => {
    const vdl = driver.vdl;
    if (vdl === undefined) return;
    await replica.subscribe(feed, { volumeEpoch: driver.volumeEpoch, vdl, readPoints: driver.readPoints() });
  };
  attachFeed('e1');

  await kernel.query('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
  await kernel.query(
    'CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER)',
  );
  const setup = await kernel.execute({
    statements: Array.from({ length: options.accounts }, (_, index) => ({
      sql: 'INSERT INTO accounts (id, balance) VALUES (?, ?)',
      params: [index + 1, OPENING_BALANCE],
    })),
  });
  if (!setup.reply.ok) throw new Error(`seed ${seed}: setup failed`);
  await volume.settle(() => driver.isDurable(setup.waitFor!), 60_000);
  await subscribeReplica();

  const issued = new Map<number, Transfer>();
  const acknowledged = new Set<number>();
  const seenOnReplica = new Set<number>();
  /** Transfers a recovery found in the volume (durable, whether or not their client heard so). */
  const recovered = new Set<number>();
  /** Each transfer's group: which writer incarnation and driver sequence number. */
  const groupOf = new Map<number, { driver: typeof driver; seq: number }>();
  const crashes = new StorageCrashes(volume, random, options.storageCrashProbability);
  let zombie: { kernel: KernelOnDriver; driver: typeof driver; acknowledged: Set<number> } | undefined;
  const promoteAt = options.splitBrain ? Math.floor(options.transfers * (0.3 + 0.4 * random())) : -1;

  const checkReplicaRead = async (when: string) => {
    const state = await replica.read();
    if (state === undefined) return;
    const expected = new Map<number, number>();
    for (let account = 1; account <= options.accounts; account++) expected.set(account, OPENING_BALANCE);
    for (const id of state.present) {
      const transfer = issued.get(id);
      if (transfer === undefined)
        throw new Error(`seed ${seed} (${when}): the replica shows transfer ${id}, never issued`);
      // Only what is durable: acknowledged (the acknowledgement runs before the stream's next delivery),
      // durable by its writer's count though its client was told "outcome unknown" (a write quorum
      // timeout), or found durable by a recovery.
      const group = groupOf.get(id);
      const durable = group?.driver.isDurable(group.seq) === true;
      if (!acknowledged.has(id) && !zombie?.acknowledged.has(id) && !recovered.has(id) && !durable)
        throw new Error(`seed ${seed} (${when}): the replica shows transfer ${id}, which is not durable`);
      expected.set(transfer.from, expected.get(transfer.from)! - transfer.amount);
      expected.set(transfer.to, expected.get(transfer.to)! + transfer.amount);
      seenOnReplica.add(id);
    }
    for (const [account, balance] of state.balances)
      if (balance !== expected.get(account))
        throw new Error(
          `seed ${seed} (${when}): the replica shows account ${account} at ${balance}, its transfers say ${expected.get(account)}`,
        );
  };

  /** A fresh kernel on the current writer after a restart; the checks over everything acknowledged or seen. */
  const recoverAndCheck = async (when: string, engineId: string) => {
    kernel.close();
    volume.cluster.restart(engineId);
    driver = await volume.serving(engineId);
    kernel = new KernelOnDriver(volume, driver);
    await kernel.open(24, engineId);
    attachFeed(engineId);
    await checkVolume(when);
    await subscribeReplica();
  };

  /**
   * The checks over a freshly recovered volume (after a restart, or a promotion): everything either
   * writer acknowledged, and everything the replica showed, is there. What is there is durable, known
   * to its client or not (a transfer whose outcome was unknown, kept by the recovery).
   */
  const checkVolume = async (when: string) => {
    const present = new Set((await kernel.query('SELECT id FROM transfers')).map((row) => row[0] as number));
    for (const id of acknowledged)
      if (!present.has(id)) throw new Error(`seed ${seed} (${when}): acknowledged transfer ${id} lost`);
    for (const id of zombie?.acknowledged ?? [])
      if (!present.has(id))
        throw new Error(`seed ${seed} (${when}): the old writer acknowledged transfer ${id}, which is lost`);
    for (const id of seenOnReplica)
      if (!present.has(id))
        throw new Error(
          `seed ${seed} (${when}): the replica showed transfer ${id}, which recovery took back`,
        );
    const check = await kernel.query('PRAGMA integrity_check');
    if (check[0]?.[0] !== 'ok')
      throw new Error(`seed ${seed} (${when}): integrity_check ${JSON.stringify(check)}`);
    for (const id of [...issued.keys()]) if (!present.has(id)) issued.delete(id);
    for (const id of present) recovered.add(id);
  };

  const transfer = async (on: KernelOnDriver, onDriver: typeof driver, id: number, into: Set<number>) => {
    const from = 1 + Math.floor(random() * options.accounts);
    const to = 1 + ((from + Math.floor(random() * (options.accounts - 1))) % options.accounts);
    const amount = 1 + Math.floor(random() * 50);
    const { reply, waitFor } = await on.execute({
      statements: [
        {
          sql: 'INSERT INTO transfers (id, src, dst, amount) VALUES (?, ?, ?, ?)',
          params: [id, from, to, amount],
        },
        { sql: 'UPDATE accounts SET balance = balance - ? WHERE id = ?', params: [amount, from] },
        { sql: 'UPDATE accounts SET balance = balance + ? WHERE id = ?', params: [amount, to] },
      ],
    });
    if (!reply.ok) return;
    issued.set(id, { id, from, to, amount });
    if (waitFor !== undefined) groupOf.set(id, { driver: onDriver, seq: waitFor });
    if (waitFor !== undefined)
      onDriver.whenDurable(waitFor).then(
        () => into.add(id),
        () => undefined,
      );
  };

  let nextId = 1;
  for (let step = 0; step < options.transfers; step++) {
    if (step === promoteAt) {
      // Split brain: the writer loses the replica (not storage); the replica's node is promoted.
      const old = writerId;
      const next = old === 'e1' ? 'e2' : 'e1';
      replica.cut();
      volume.cluster.network.partition([asNodeId(old)], [asNodeId(REPLICA)]);
      zombie = { kernel, driver, acknowledged: new Set() };
      writerId = next;
      volume.startEngine(next);
      driver = await volume.serving(next);
      kernel = new KernelOnDriver(volume, driver);
      await kernel.open(24, next);
      attachFeed(next);
      await checkVolume(`promotion before transfer ${nextId}`);
      await subscribeReplica();
    }
    await transfer(kernel, driver, nextId++, acknowledged);
    if (zombie !== undefined && random() < 0.5) {
      // The old writer keeps working on its own: whatever it gets acknowledged must survive.
      await transfer(zombie.kernel, zombie.driver, nextId++, zombie.acknowledged).catch(() => undefined);
    }
    await volume.cluster.runFor(random() * 3);
    crashes.step();
    if (random() < options.streamCutProbability) {
      replica.cut();
      await volume.cluster.runFor(random() * 20);
      await subscribeReplica();
    }
    if (random() < 0.3) await checkReplicaRead(`after transfer ${nextId - 1}`);
    if (random() < options.writerCrashProbability)
      await recoverAndCheck(`writer crash after transfer ${nextId - 1}`, writerId);
  }
  crashes.healAll();
  await volume.cluster.runFor(2_000);
  await checkReplicaRead('at the end');
  await recoverAndCheck('at the end', writerId);
  // The replica, resubscribed to the final writer, catches up with everything acknowledged.
  await volume.settle(() => replica.following, 60_000);
  await volume.cluster.runFor(2_000);
  const final = await replica.read();
  if (final !== undefined)
    for (const id of acknowledged)
      if (!final.present.includes(id))
        throw new Error(`seed ${seed}: the replica never caught up with transfer ${id}`);
  kernel.close();
  zombie?.kernel.close();
  return {
    acknowledged: acknowledged.size,
    replicaReads: replica.reads,
    resyncs: replica.resyncs,
    promoted: zombie !== undefined,
    zombieAcknowledged: zombie?.acknowledged.size ?? 0,
  };
}
