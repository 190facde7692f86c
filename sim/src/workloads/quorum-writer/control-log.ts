/**
 * The toy segment's control log: epochs, truncation ranges and durable hints, appended as fixed-size
 * entries with a CRC32C each. Replaying it stops at the first bad entry (a torn tail after a crash).
 */
import { asEpoch, asLsn, crc32c, type Epoch, type Lsn, type TruncationRange } from '@northlight/protocol';

export const CONTROL_ENTRY_BYTES = 1 + 8 + 8 + 8 + 4;

/**
 * - `created`: written and synced when the segment is created; a segment without it lost its disk.
 * - `epoch`: the segment adopted a volume epoch (fences older writers).
 * - `truncation` entries followed by `truncation-commit` (epoch, count): the last `count` truncation
 *   entries are the segment's authoritative list of ranges, as sent by the recovery of that epoch. A
 *   later recovery may drop a range of an earlier, interrupted one (its writer never served).
 * - `hint`: the writer's durable point; losing one is harmless (recovery starts lower).
 */
export type ControlEntry =
  | { readonly kind: 'created' }
  | { readonly kind: 'epoch'; readonly volumeEpoch: Epoch }
  | { readonly kind: 'truncation'; readonly range: TruncationRange }
  | { readonly kind: 'truncation-commit'; readonly volumeEpoch: Epoch; readonly count: number }
  | { readonly kind: 'hint'; readonly durableHint: Lsn };

const KIND_CODES = { epoch: 1, truncation: 2, hint: 3, created: 4, 'truncation-commit': 5 } as const;

export function encodeControlEntry(entry: ControlEntry): Uint8Array {
  const bytes = new Uint8Array(CONTROL_ENTRY_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, KIND_CODES[entry.kind]);
  if (entry.kind === 'epoch') view.setBigUint64(1, entry.volumeEpoch, true);
  if (entry.kind === 'hint') view.setBigUint64(1, entry.durableHint, true);
  if (entry.kind === 'truncation-commit') {
    view.setBigUint64(1, entry.volumeEpoch, true);
    view.setBigUint64(9, BigInt(entry.count), true);
  }
  if (entry.kind === 'truncation') {
    view.setBigUint64(1, entry.range.volumeEpoch, true);
    view.setBigUint64(9, entry.range.fromExclusive, true);
    view.setBigUint64(17, entry.range.toInclusive, true);
  }
  view.setUint32(25, crc32c(bytes.subarray(0, 25)), true);
  return bytes;
}

/** Decodes entries from the start of `bytes`; returns them and the length of the valid prefix. */
export function decodeControlLog(bytes: Uint8Array): { entries: ControlEntry[]; validBytes: number } {
  const entries: ControlEntry[] = [];
  let offset = 0;
  while (offset + CONTROL_ENTRY_BYTES <= bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, CONTROL_ENTRY_BYTES);
    if (view.getUint32(25, true) !== crc32c(bytes.subarray(offset, offset + 25))) break;
    const a = view.getBigUint64(1, true);
    const kind = view.getUint8(0);
    if (kind === KIND_CODES.epoch) entries.push({ kind: 'epoch', volumeEpoch: asEpoch(a) });
    else if (kind === KIND_CODES.hint) entries.push({ kind: 'hint', durableHint: asLsn(a) });
    else if (kind === KIND_CODES.created) entries.push({ kind: 'created' });
    else if (kind === KIND_CODES['truncation-commit']) {
      entries.push({
        kind: 'truncation-commit',
        volumeEpoch: asEpoch(a),
        count: Number(view.getBigUint64(9, true)),
      });
    } else if (kind === KIND_CODES.truncation) {
      const fromExclusive = asLsn(view.getBigUint64(9, true));
      const toInclusive = asLsn(view.getBigUint64(17, true));
      if (fromExclusive >= toInclusive) break;
      entries.push({ kind: 'truncation', range: { volumeEpoch: asEpoch(a), fromExclusive, toInclusive } });
    } else break;
    offset += CONTROL_ENTRY_BYTES;
  }
  return { entries, validBytes: offset };
}
