/**
 * The page diff of the redo VFS: exactly protocol's `diffPages`, computed faster.
 *
 * Why: `diffPages` compares byte by byte, about 12 µs for a 4 KiB page in the kernel's hot path,
 * where a sysbench-like transaction writes 6 pages and changes ~300 bytes of them; the diff was
 * ~60 % of a transaction's time. Here the pages are first compared as 32-bit words to find the
 * 32-byte blocks that differ, and `diffPages` runs only on each window of consecutive differing
 * blocks.
 *
 * Why the runs are the same as `diffPages` over the whole page: `diffPages` merges two changed ranges
 * only when fewer than `DEFAULT_DIFF_MAX_GAP_BYTES` (8) unchanged bytes separate them. Two windows
 * are separated by at least one whole unchanged block (32 bytes ≥ 8), so no run of the whole-page
 * diff spans two windows, and inside a window `diffPages` sees the same bytes. Offsets are shifted
 * by the window's start. (A property test compares the two on random page pairs.)
 */
import { assert, DEFAULT_DIFF_MAX_GAP_BYTES, type DiffRun, diffPages } from '@northlight/protocol';

const BLOCK_BYTES = 32;
/** Unrolled in the scan below: change both together. */
const WORDS_PER_BLOCK = 8;

assert(BLOCK_BYTES >= DEFAULT_DIFF_MAX_GAP_BYTES, 'a diff block must be at least the merge gap');
assert(WORDS_PER_BLOCK * 4 === BLOCK_BYTES, 'a diff block is eight 32-bit words');

/** The runs that turn `before` into `after`: `diffPages(before, after)`, for equal-length pages. */
export function diffPage(before: Uint8Array, after: Uint8Array): DiffRun[] {
  const length = before.length;
  if (
    length !== after.length ||
    length % BLOCK_BYTES !== 0 ||
    (before.byteOffset & 3) !== 0 ||
    (after.byteOffset & 3) !== 0
  ) {
    return diffPages(before, after);
  }
  const x = new Int32Array(before.buffer, before.byteOffset, length >> 2);
  const y = new Int32Array(after.buffer, after.byteOffset, length >> 2);
  const runs: DiffRun[] = [];
  let windowStart = -1;
  for (let word = 0; word < x.length; word += WORDS_PER_BLOCK) {
    // Unrolled: V8 runs this about 2.5 times faster than a loop over the eight words.
    const differs =
      x[word] !== y[word] ||
      x[word + 1] !== y[word + 1] ||
      x[word + 2] !== y[word + 2] ||
      x[word + 3] !== y[word + 3] ||
      x[word + 4] !== y[word + 4] ||
      x[word + 5] !== y[word + 5] ||
      x[word + 6] !== y[word + 6] ||
      x[word + 7] !== y[word + 7];
    if (differs) {
      if (windowStart < 0) windowStart = word * 4;
    } else if (windowStart >= 0) {
      appendWindow(runs, before, after, windowStart, word * 4);
      windowStart = -1;
    }
  }
  if (windowStart >= 0) appendWindow(runs, before, after, windowStart, length);
  return runs;
}

function appendWindow(
  runs: DiffRun[],
  before: Uint8Array,
  after: Uint8Array,
  start: number,
  end: number,
): void {
  for (const run of diffPages(before.subarray(start, end), after.subarray(start, end))) {
    runs.push({ offset: start + run.offset, bytes: run.bytes });
  }
}
