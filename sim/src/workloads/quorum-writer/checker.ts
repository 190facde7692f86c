/**
 * The quorum-writer workload's checkers. They observe — the writers report what they allocated,
 * acknowledged and recovered, as a client and an auditor would see it — and they read the storage
 * nodes' durable disk contents after the run with the real codec. They never reach into the system.
 *
 *  1. no-lost-commit: every commit acknowledged under epoch e is ≤ the VDL of every later recovery
 *     (epoch > e) that reached service. A violation is a lost acknowledged commit or a split brain
 *     (a fenced writer still getting commits acknowledged).
 *  2. durable-on-disk: for every epoch's highest acknowledged commit c, every record of that epoch's
 *     volume with LSN ≤ c is on some storage node's durable log, byte for byte. ("That epoch's volume":
 *     records of that or an older epoch, minus those annulled by a recovery up to that epoch.)
 *  3. liveness: once faults heal, with at least a write quorum of segments that still have their
 *     disks, new commits are acknowledged.
 *  4. unique LSNs: no LSN is allocated twice (the LSNs of a truncation range are never reused).
 */
import {
  crc32c,
  type Epoch,
  encodeRedoRecord,
  isTruncated,
  type Lsn,
  type RecoveryPlan,
  type RedoRecord,
  type TruncationRange,
  tryDecodeRedoRecord,
} from '@northlight/protocol';
import type { Violation } from '../../runner.js';

interface AllocatedRecord {
  readonly epoch: Epoch;
  readonly digest: number;
  readonly size: number;
}

interface Recovery {
  readonly epoch: Epoch;
  readonly vdl: Lsn;
  /** Every range this epoch's volume honours: its own truncation and the earlier ones it learned. */
  readonly ranges: readonly TruncationRange[];
  readonly atMs: number;
}

export class QuorumWriterChecker {
  readonly allocated = new Map<Lsn, AllocatedRecord>();
  readonly acknowledged: { epoch: Epoch; lsn: Lsn; transactionId: number; atMs: number }[] = [];
  readonly recoveries: Recovery[] = [];
  readonly fencings: { epoch: Epoch; newerEpoch: Epoch }[] = [];
  readonly violations: Violation[] = [];

  recordAllocated(record: RedoRecord): void {
    const bytes = encodeRedoRecord(record);
    if (this.allocated.has(record.lsn)) {
      this.violations.push({ checker: 'unique-lsn', message: `LSN ${record.lsn} allocated twice` });
    }
    this.allocated.set(record.lsn, { epoch: record.volumeEpoch, digest: crc32c(bytes), size: bytes.length });
  }

  commitAcknowledged(epoch: Epoch, lsn: Lsn, transactionId: number, atMs: number): void {
    this.acknowledged.push({ epoch, lsn, transactionId, atMs });
  }

  recovered(epoch: Epoch, plan: RecoveryPlan, ranges: readonly TruncationRange[], atMs: number): void {
    this.recoveries.push({ epoch, vdl: plan.vdl, ranges, atMs });
  }

  fenced(epoch: Epoch, newerEpoch: Epoch): void {
    this.fencings.push({ epoch, newerEpoch });
  }

  /** Checker 1. */
  checkNoLostCommit(): void {
    for (const recovery of this.recoveries) {
      for (const ack of this.acknowledged) {
        if (ack.epoch < recovery.epoch && ack.lsn > recovery.vdl) {
          this.violations.push({
            checker: 'no-lost-commit',
            message: `commit ${ack.lsn} (epoch ${ack.epoch}, txn ${ack.transactionId}, acknowledged at ${ack.atMs} ms) is above VDL ${recovery.vdl} of the recovery of epoch ${recovery.epoch}`,
          });
          return;
        }
      }
    }
  }

  /**
   * Checker 2. `logs` maps a node to the durable bytes of each segment log it holds.
   */
  checkDurableOnDisk(logs: ReadonlyMap<string, readonly Uint8Array[]>): number {
    const onDisk = new Map<bigint, Set<number>>();
    for (const segmentLogs of logs.values()) {
      for (const bytes of segmentLogs) {
        let offset = 0;
        while (offset < bytes.length) {
          const decoded = tryDecodeRedoRecord(bytes, offset);
          if (!decoded.ok) break;
          const digest = crc32c(bytes.subarray(offset, offset + decoded.value.bytesRead));
          const digests = onDisk.get(decoded.value.record.lsn) ?? new Set();
          digests.add(digest);
          onDisk.set(decoded.value.record.lsn, digests);
          offset += decoded.value.bytesRead;
        }
      }
    }
    const highestByEpoch = new Map<Epoch, Lsn>();
    for (const ack of this.acknowledged) {
      const highest = highestByEpoch.get(ack.epoch);
      if (highest === undefined || ack.lsn > highest) highestByEpoch.set(ack.epoch, ack.lsn);
    }
    let checked = 0;
    for (const [epoch, commitLsn] of highestByEpoch) {
      const ranges = this.recoveries.find((r) => r.epoch === epoch)?.ranges ?? [];
      for (const [lsn, record] of this.allocated) {
        if (lsn > commitLsn || record.epoch > epoch) continue;
        const annulled = isTruncated(lsn, ranges);
        if (annulled) continue;
        checked += 1;
        if (!onDisk.get(lsn)?.has(record.digest)) {
          this.violations.push({
            checker: 'durable-on-disk',
            message: `LSN ${lsn} (epoch ${record.epoch}) is below acknowledged commit ${commitLsn} of epoch ${epoch} but on no storage node's durable log`,
          });
          return checked;
        }
      }
    }
    return checked;
  }
}
