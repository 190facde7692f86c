/**
 * An in-memory stand-in for storage in the kernel tests: pages built only by applying the kernel's
 * redo groups, in order, to zero pages (what the storage fleet does), and served back as page reads.
 * It also keeps the LSN bookkeeping a real engine does (LSNs per record, the VDL), so tests can ask
 * whether a page is pinned: its newest record unassigned or above the VDL.
 */
import { applyRuns, asLsn, type Lsn, type PageNo } from '@northlight/protocol';
import type { EngineReply } from '../../../src/engine.js';
import { KernelHost, type KernelHostOptions } from '../../../src/kernel/kernel-host.js';
import type { SealedGroup } from '../../../src/kernel/messages.js';
import { TransactionGate, type TransactionGateOptions } from '../../../src/transaction-gate.js';

export const PAGE_SIZE = 4096;

export class MemoryVolume {
  readonly pages = new Map<number, Uint8Array>();
  /** Every group applied, in order, across kernels (each kernel numbers its groups from 1). */
  readonly groups: SealedGroup[] = [];
  /** The groups of the kernel running now, by its sequence numbers. */
  readonly #currentGroups = new Map<number, SealedGroup>();
  /** Per page: the newest group that wrote it, and the record's index in that group. */
  readonly #newestWrite = new Map<number, { group: SealedGroup; index: number }>();
  readonly #lsns = new Map<SealedGroup, readonly Lsn[]>();
  #lastLsn = 0n;
  vdl: Lsn = asLsn(0n);

  /** A new kernel starts: its group sequence numbers start again at 1. */
  newKernel(): void {
    this.#currentGroups.clear();
  }

  apply(group: SealedGroup): void {
    this.groups.push(group);
    this.#currentGroups.set(group.seq, group);
    group.records.forEach((record, index) => {
      const before = this.pages.get(record.pageNo) ?? new Uint8Array(PAGE_SIZE);
      this.pages.set(record.pageNo, applyRuns(before, record.runs));
      this.#newestWrite.set(record.pageNo, { group, index });
    });
  }

  read(pageNo: number): Uint8Array {
    return (this.pages.get(pageNo) ?? new Uint8Array(PAGE_SIZE)).slice();
  }

  /** Gives the current kernel's group `seq` the next LSNs, as the engine's allocator would. */
  assign(seq: number): Lsn[] {
    const group = this.#currentGroups.get(seq)!;
    const lsns = group.records.map(() => {
      this.#lastLsn += 1n;
      return asLsn(this.#lastLsn);
    });
    this.#lsns.set(group, lsns);
    return lsns;
  }

  /** The LSNs `assign` gave the current kernel's group `seq`. */
  lsnsOf(seq: number): readonly Lsn[] {
    return this.#lsns.get(this.#currentGroups.get(seq)!) ?? [];
  }

  get lastLsn(): Lsn {
    return asLsn(this.#lastLsn);
  }

  /** Whether the kernel must not need this page from storage: its newest record is not durable. */
  isPinned(pageNo: number): boolean {
    const write = this.#newestWrite.get(pageNo);
    if (write === undefined) return false;
    const lsn = this.#lsns.get(write.group)?.[write.index];
    return lsn === undefined || lsn > this.vdl;
  }
}

/**
 * A kernel over `volume`: its groups are applied to the volume as they are sealed; with `autoDurable`
 * each group also gets its LSNs and the VDL passes them at once (a storage that is always durable).
 */
export async function startKernel(
  volume: MemoryVolume,
  options: Partial<KernelHostOptions> & { readonly autoDurable?: boolean } = {},
): Promise<KernelHost> {
  const { autoDurable = true, ...hostOptions } = options;
  let host: KernelHost | undefined;
  const pending: SealedGroup[] = [];
  volume.newKernel();
  host = await KernelHost.start({
    pageSource: async (pageNo: PageNo) => volume.read(pageNo),
    cachePages: 256,
    pageReadTimeoutMs: 5_000,
    ...hostOptions,
    onGroup: (group) => {
      volume.apply(group);
      options.onGroup?.(group);
      if (!autoDurable) return;
      // During start (before `host` is set) no group can be sealed; keep the order anyway.
      pending.push(group);
      if (host === undefined) return;
      for (const sealed of pending.splice(0)) {
        host.assignLsns(sealed.seq, volume.assign(sealed.seq));
        volume.vdl = volume.lastLsn;
        host.setVdl(volume.vdl);
      }
    },
  });
  return host;
}

/** `WITH RECURSIVE` SQL inserting rows first..last into t(id, v) with `width`-character values. */
export function fillSql(first: number, last: number, width = 100): string {
  return (
    `WITH RECURSIVE c(i) AS (SELECT ${first} UNION ALL SELECT i + 1 FROM c WHERE i < ${last}) ` +
    `INSERT INTO t(id, v) SELECT i, printf('%0${width}d', i) FROM c`
  );
}

/** The engine's `TransactionGate` straight over a kernel: what the writer puts in front of `execute`. */
export function gateOverKernel(host: KernelHost, options: TransactionGateOptions): TransactionGate {
  return new TransactionGate(async (request, executeOptions) => {
    const reply = await host.execute(request, executeOptions?.signal);
    executeOptions?.kernelDone?.();
    return reply as EngineReply;
  }, options);
}
