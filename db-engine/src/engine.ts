/**
 * The writer engine: the SQL kernel (a worker running SQLite under the redo VFS) joined to the quorum
 * driver (the log path). The kernel commits in memory and seals one group per transaction; the engine
 * hands each group to the driver, passes LSNs, VDL and back-pressure back to the kernel, and releases
 * a reply only once everything it could have read or written is durable (VDL ≥ the CPL of the last
 * group sealed before the reply): asynchronous group commit, no thread ever waits on a commit.
 *
 * Write quorum lost. The kernel's memory then holds commits that are not durable (and may never be),
 * so no reply that could have seen them may be released. To keep serving reads, the engine replaces
 * the kernel with a fresh one, degraded: its pages come from storage at each PG's read point (≤ VDL),
 * so it sees exactly the durable volume, and it refuses writes (57P03). The groups still waiting stay
 * with the driver and commit if storage comes back; once none is left waiting and storage accepts
 * again, the engine replaces the kernel once more (a fresh view of the now-durable volume) and takes
 * writes. Requests arriving while a kernel is being replaced get 503 and may be retried.
 *
 * Order: groups reach the driver in seal order (the kernel posts them before the reply that depends
 * on them); each kernel numbers its groups from 1, so the kernel → driver sequence map is per kernel.
 */
import { assert, isNorthlightError, type Logger, type Lsn, NorthlightError } from '@northlight/protocol';
import type { QuorumDriver } from './core/quorum-driver.js';
import type { ExecuteReply, ExecuteRequest, SealedGroup } from './kernel/messages.js';

/** What the engine needs of the kernel host (`kernel/kernel-host.ts`). */
export interface Kernel {
  execute(request: ExecuteRequest, signal?: AbortSignal, startWithinMs?: number): Promise<ExecuteReply>;
  setVdl(lsn: bigint): void;
  assignLsns(seq: number, lsns: readonly bigint[]): void;
  setAccepting(accepting: boolean, reason?: string): void;
  close(): Promise<void>;
}

/** Starts a kernel whose sealed groups go to `onGroup` (a fresh buffer cache, pages from storage). */
export type KernelFactory = (onGroup: (group: SealedGroup) => void) => Promise<Kernel>;

export type EngineReply =
  | (Extract<ExecuteReply, { ok: true }> & { readonly commitLsn?: Lsn })
  | Extract<ExecuteReply, { ok: false }>;

export interface ExecuteOptions {
  /** Called once the kernel has answered, before the durability wait. */
  readonly kernelDone?: () => void;
  /** A reply that committed nothing is released without waiting for the durability of what it read. */
  readonly releaseReadsEarly?: boolean;
  /**
   * Stops the request in the kernel, even mid-statement, when it aborts (statement timeout, cancel
   * request, client gone): 57014, its transaction rolled back. Once the kernel has committed it, an
   * abort changes nothing: the commit's durability is waited for and reported as usual.
   */
  readonly signal?: AbortSignal;
  /**
   * An autocommit request the kernel has not started within this long (another statement is running)
   * is answered with 55P03 and never runs (KernelHost.execute).
   */
  readonly startWithinMs?: number;
}

export type EngineMode = 'starting' | 'normal' | 'degraded' | 'replacing' | 'closed';

/** After a kernel failed to start, the next attempt. */
const KERNEL_RETRY_MS = 1_000;

/** Why commits are refused, as the kernel puts it in its 57P03 ("storage is not accepting writes (…)"). */
const NOT_ACCEPTING = 'write quorum lost, or LSN back-pressure';

/** One kernel and its group map (kernel seq → driver seq, for groups not yet known durable). */
interface Generation {
  readonly kernel: Kernel;
  readonly driverSeqOf: Map<number, number>;
  readonly kernelSeqOf: Map<number, number>;
  lastKernelSeq: number;
}

export class Engine {
  readonly #driver: QuorumDriver;
  readonly #startKernel: KernelFactory;
  readonly #log: Logger;
  #generation: Generation | undefined;
  #mode: EngineMode = 'starting';
  #commits = 0;
  #replacements = 0;

  constructor(driver: QuorumDriver, startKernel: KernelFactory, log: Logger) {
    this.#driver = driver;
    this.#startKernel = startKernel;
    this.#log = log;
  }

  /** Starts the first kernel (the driver serves already). */
  async open(): Promise<void> {
    await this.#replace(this.#driver.accepting ? 'normal' : 'degraded');
  }

  get mode(): EngineMode {
    return this.#mode;
  }

  get commits(): number {
    return this.#commits;
  }

  /** How many times the kernel was replaced (quorum lost, then regained). */
  get replacements(): number {
    return this.#replacements;
  }

  async close(): Promise<void> {
    this.#mode = 'closed';
    const generation = this.#generation;
    this.#generation = undefined;
    await generation?.kernel.close();
  }

  // ---- driver → kernel (wire these to the driver's events) ----

  allocated(driverSeq: number, lsns: readonly Lsn[]): void {
    const generation = this.#generation;
    const kernelSeq = generation?.kernelSeqOf.get(driverSeq);
    if (kernelSeq !== undefined) generation!.kernel.assignLsns(kernelSeq, lsns);
  }

  vdlAdvanced(vdl: Lsn): void {
    const generation = this.#generation;
    if (generation !== undefined) {
      generation.kernel.setVdl(vdl);
      // Forget the groups now durable (in seal order; a later reply that names one waits for nothing).
      for (const [kernelSeq, driverSeq] of generation.driverSeqOf) {
        if (!this.#driver.isDurable(driverSeq)) break;
        generation.driverSeqOf.delete(kernelSeq);
        generation.kernelSeqOf.delete(driverSeq);
      }
    }
    this.#maybeRecover();
  }

  acceptingChanged(accepting: boolean): void {
    this.#generation?.kernel.setAccepting(accepting, accepting ? undefined : NOT_ACCEPTING);
    if (
      !accepting &&
      (this.#mode === 'normal' || this.#mode === 'starting') &&
      this.#driver.state === 'serving'
    ) {
      this.#log.log('warn', 'write quorum lost: serving reads from the durable volume, refusing writes', {
        vdl: this.#driver.vdl,
        groupsWaiting: this.#driver.status().groupsWaiting,
      });
      void this.#replace('degraded');
      return;
    }
    this.#maybeRecover();
  }

  /** Degraded, storage accepting again, nothing left waiting: back to a writable kernel. */
  #maybeRecover(): void {
    if (this.#mode !== 'degraded' || !this.#driver.accepting) return;
    if (this.#driver.status().groupsWaiting > 0) return;
    this.#log.log('info', 'storage acknowledges again: taking writes', { vdl: this.#driver.vdl });
    void this.#replace('normal');
  }

  #replacing: Promise<void> = Promise.resolve();

  /** Replaces the kernel (one replacement at a time, in the order asked). */
  #replace(mode: 'normal' | 'degraded'): Promise<void> {
    this.#mode = 'replacing';
    const done = this.#replacing.then(() => this.#replaceNow(mode));
    this.#replacing = done.catch((error: unknown) => {
      // Storage may be unreachable just now (the kernel reads page 0 to open): try again shortly.
      this.#log.log('error', 'could not start the SQL kernel; retrying in 1 s', { error: String(error) });
      setTimeout(() => {
        if (this.#mode === 'replacing') void this.#replace(mode);
      }, KERNEL_RETRY_MS).unref();
    });
    return done;
  }

  async #replaceNow(mode: 'normal' | 'degraded'): Promise<void> {
    if (this.#mode === 'closed') return;
    const previous = this.#generation;
    this.#generation = undefined;
    this.#mode = 'replacing';
    if (previous !== undefined) this.#replacements++;
    await previous?.kernel.close();
    const generation: Generation = {
      kernel: undefined as unknown as Kernel,
      driverSeqOf: new Map(),
      kernelSeqOf: new Map(),
      lastKernelSeq: 0,
    };
    const kernel = await this.#startKernel((group) => this.#onGroup(generation, group));
    Object.assign(generation, { kernel });
    if (this.#mode !== 'replacing') {
      await kernel.close(); // closed (or replaced again) meanwhile
      return;
    }
    const vdl = this.#driver.vdl;
    if (vdl !== undefined) kernel.setVdl(vdl);
    const accepting = mode === 'normal' && this.#driver.accepting;
    kernel.setAccepting(accepting, accepting ? undefined : NOT_ACCEPTING);
    this.#generation = generation;
    this.#mode = mode;
    if (mode === 'degraded') this.#maybeRecover();
    else if (!this.#driver.accepting) this.acceptingChanged(false);
  }

  // ---- kernel → driver ----

  /** A sealed group: submitted to the driver at once, in seal order. */
  #onGroup(generation: Generation, group: SealedGroup): void {
    assert(
      group.seq > generation.lastKernelSeq,
      `group ${group.seq} after ${generation.lastKernelSeq}: out of order`,
    );
    generation.lastKernelSeq = group.seq;
    // Mapped before submitting: the driver may allocate the group's LSNs (and call `allocated`)
    // inside `submit`.
    const driverSeq = this.#driver.lastSeq + 1;
    generation.driverSeqOf.set(group.seq, driverSeq);
    generation.kernelSeqOf.set(driverSeq, group.seq);
    const submitted = this.#driver.submit(group.records);
    assert(submitted === driverSeq, `the driver numbered group ${submitted}, not ${driverSeq}`);
  }

  /**
   * Runs a request as one transaction and answers once what it saw and wrote is durable (`kernelDone`
   * is called as soon as the kernel has answered, before that wait; with `releaseReadsEarly`, a reply
   * that committed nothing — a statement inside an interactive transaction — does not wait for what
   * it read: see transaction-gate.ts for why that is safe). A failure to
   * become durable (write quorum lost, fenced) rejects with that NorthlightError: the client must not
   * take the commit for acknowledged (its outcome is unknown).
   */
  async execute(request: ExecuteRequest, options: ExecuteOptions = {}): Promise<EngineReply> {
    const generation = this.#generation;
    if (generation === undefined)
      throw new NorthlightError(
        'NL_QUORUM_LOST',
        this.#mode === 'closed' ? 'the engine is stopping' : 'the engine is switching its SQL kernel; retry',
      );
    let reply: ExecuteReply;
    try {
      reply = await generation.kernel.execute(request, options.signal, options.startWithinMs);
      options.kernelDone?.();
    } catch (error) {
      if (this.#generation === generation) throw error;
      // The kernel was replaced under the request (write quorum lost or regained): nothing of it
      // was acknowledged, and its commit, if any, is with the driver like any other.
      throw new NorthlightError('NL_QUORUM_LOST', 'the SQL kernel was replaced during the request; retry it');
    }
    const driverSeq =
      reply.visibleThroughSeq > 0 ? generation.driverSeqOf.get(reply.visibleThroughSeq) : undefined;
    const early = options.releaseReadsEarly === true && (!reply.ok || reply.groupSeq === undefined);
    const durable =
      driverSeq === undefined || early ? undefined : await this.#whenSeenDurable(driverSeq, reply);
    if (!reply.ok) return reply;
    if (reply.groupSeq !== undefined) this.#commits++;
    return reply.groupSeq === undefined || durable === undefined ? reply : { ...reply, commitLsn: durable };
  }

  /**
   * The durability wait of a reply. A read (or a failed request) that saw commits not yet durable
   * fails with a message about its read, not about a commit, when the write quorum is lost.
   */
  async #whenSeenDurable(driverSeq: number, reply: ExecuteReply): Promise<Lsn> {
    try {
      return await this.#driver.whenDurable(driverSeq);
    } catch (error) {
      if (!isNorthlightError(error, 'NL_QUORUM_LOST') || (reply.ok && reply.groupSeq !== undefined))
        throw error;
      throw new NorthlightError(
        'NL_QUORUM_LOST',
        'write quorum lost: this read saw changes that storage has not acknowledged (not durable on 4 of 6 segments), so its result is withheld: those changes may yet be lost. Retry it: the engine then serves reads from the durable volume',
        error.details,
      );
    }
  }
}
