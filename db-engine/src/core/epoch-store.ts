/**
 * A durable volume-epoch counter on the engine's disk: each `claim` returns an epoch never returned
 * before (by this store), above the caller's floor. A recovery runs under its claimed epoch, so a
 * restarted writer never reuses an epoch whose old messages may still be in flight; storage fences
 * everything older.
 *
 * On disk: one 16-byte file, `epoch`: u32 magic "NLEP" | u64 epoch | u32 CRC32C of the first 12
 * bytes, little-endian. A claim writes the new value
 * to `epoch.next`, syncs it, renames it over `epoch` and syncs the directory (atomic replace), so a
 * crash leaves the old value or the new one, never a torn file. A file that fails its check is an
 * error a human must look at (claiming from zero could reuse an epoch): NL_DISK_IO.
 *
 * The control plane's metadata store (issue 6) replaces this for clusters where the writer moves
 * between machines; the interface (`EpochStore`) stays.
 */
import { asEpoch, crc32c, type Disk, type Epoch, NorthlightError } from '@northlight/protocol';
import type { EpochStore } from './volume.js';

const MAGIC = 0x5045_4c4e; // "NLEP" little-endian
const FILE_BYTES = 16;

export class DiskEpochStore implements EpochStore {
  readonly #disk: Disk;
  readonly #directory: string;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(disk: Disk, directory: string) {
    this.#disk = disk;
    this.#directory = directory;
  }

  get #path(): string {
    return `${this.#directory}/epoch`;
  }

  /** The last epoch claimed (0 if none). */
  async current(): Promise<Epoch> {
    if (!(await this.#disk.exists(this.#path))) return asEpoch(0n);
    const file = await this.#disk.open(this.#path);
    try {
      return decodeEpochFile(await file.read(0, FILE_BYTES), this.#path);
    } finally {
      await file.close();
    }
  }

  claim(atLeastAbove: Epoch): Promise<Epoch> {
    const next = this.#tail.then(async () => {
      const current = await this.current();
      const epoch = asEpoch((current > atLeastAbove ? current : atLeastAbove) + 1n);
      const staging = `${this.#path}.next`;
      const file = await this.#disk.open(staging);
      try {
        await file.truncate(0);
        await file.write(0, encodeEpochFile(epoch));
        await file.sync();
      } finally {
        await file.close();
      }
      await this.#disk.rename(staging, this.#path);
      await this.#disk.syncDirectory(this.#directory);
      return epoch;
    });
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

export function encodeEpochFile(epoch: Epoch): Uint8Array {
  const bytes = new Uint8Array(FILE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setBigUint64(4, epoch, true);
  view.setUint32(12, crc32c(bytes.subarray(0, 12)), true);
  return bytes;
}

export function decodeEpochFile(bytes: Uint8Array, path: string): Epoch {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length !== FILE_BYTES ||
    view.getUint32(0, true) !== MAGIC ||
    view.getUint32(12, true) !== crc32c(bytes.subarray(0, 12))
  ) {
    throw new NorthlightError(
      'NL_DISK_IO',
      `${path} is damaged (${bytes.length} bytes, bad magic or CRC): the engine will not guess its ` +
        'volume epoch; restore the file or set it above every epoch the storage nodes report',
      { path, bytes: bytes.length },
    );
  }
  return asEpoch(view.getBigUint64(4, true));
}
