/**
 * Small numeric helpers for the benchmark scripts: nearest-rank percentiles, medians, rounding, and
 * the baseline every repair rate is compared with, a raw copy of the same bytes on this machine.
 */
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Nearest rank; 0 for no values (a window with no sample shows as 0, and its count as 0). */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * fraction) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Megabytes (10^6 bytes) per second. */
export function megabytesPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}

const COPY_BUFFER_BYTES = 1024 * 1024;

export interface RawCopyResult {
  readonly bytes: number;
  readonly method: string;
  readonly secondsMedian: number;
  readonly secondsEach: readonly number[];
  readonly megabytesPerSecond: number;
}

/**
 * Writes a file of `bytes` random bytes in `directory` (fsync'd), then copies it `times` times with
 * read + write (1 MiB buffers) + fsync of the destination, each copy deleted after it was timed; the
 * median time. The source stays in the page cache, as a storage node's recent log mostly is.
 */
export async function rawCopy(directory: string, bytes: number, times: number): Promise<RawCopyResult> {
  const source = join(directory, 'raw-copy-source');
  const target = join(directory, 'raw-copy-target');
  const chunk = randomBytes(COPY_BUFFER_BYTES);
  const writer = await open(source, 'w');
  for (let written = 0; written < bytes; written += COPY_BUFFER_BYTES)
    await writer.write(chunk, 0, Math.min(COPY_BUFFER_BYTES, bytes - written));
  await writer.sync();
  await writer.close();
  const secondsEach: number[] = [];
  const buffer = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
  for (let copy = 0; copy < times; copy++) {
    const started = process.hrtime.bigint();
    const input = await open(source, 'r');
    const output = await open(target, 'w');
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, COPY_BUFFER_BYTES, null);
      if (bytesRead === 0) break;
      await output.write(buffer, 0, bytesRead);
    }
    await output.sync();
    await output.close();
    await input.close();
    secondsEach.push(Number(process.hrtime.bigint() - started) / 1e9);
    await rm(target, { force: true });
  }
  await rm(source, { force: true });
  const secondsMedian = median(secondsEach);
  return {
    bytes,
    method: `read + write (1 MiB buffers) + fsync of the destination, same filesystem, median of ${times}`,
    secondsMedian: round(secondsMedian, 4),
    secondsEach: secondsEach.map((seconds) => round(seconds, 4)),
    megabytesPerSecond: round(megabytesPerSecond(bytes, secondsMedian), 1),
  };
}
