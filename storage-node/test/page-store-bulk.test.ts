/**
 * The page store's bulk paths, the two ends of a peer snapshot (page-store.ts): `readSlotsRaw` hands
 * out the wanted slots, in order, as views of its disk reads (unwanted slots between them moved out
 * of the way in place), and `writeSlots` puts received slots on disk verbatim with their identities
 * restamped for this node, so each reads back, checked, as the image it was — also after a reopen,
 * and also when the slot's first identity copy had rotted on the source. On a real file (NodeDisk in
 * a temporary directory).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@northlight/protocol';
import { NodeDisk } from '@northlight/protocol/io';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noopStorageMetrics } from '../src/core/metrics.js';
import {
  decodeSlotImage,
  encodeSlotImage,
  PAGE_SLOT_IDENTITY_BYTES,
  PageStore,
  type ScannedImage,
} from '../src/core/page-store.js';

const PAGE = 512;
const SLOT = PAGE + 2 * PAGE_SLOT_IDENTITY_BYTES;
const quiet: Logger = { log: () => undefined };

function page(seed: number): Uint8Array {
  return Uint8Array.from({ length: PAGE }, (_, index) => (index * 31 + seed * 7) & 0xff);
}

function concat(list: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of list) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'northlight-page-store-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function openStore(isWanted: (image: ScannedImage) => boolean = () => true) {
  return PageStore.open(new NodeDisk(directory), directory, PAGE, noopStorageMetrics, quiet, isWanted);
}

describe('page store bulk paths', () => {
  it('reads wanted slots raw, in order, as views of its reads, across gaps and read limits', async () => {
    const { pageStore } = await openStore();
    // 2,000 slots of 576 bytes: more than one 1 MiB read, so the wanted ones span several reads.
    const total = 2000;
    for (let pageNo = 0; pageNo < total; pageNo++)
      await pageStore.write(3, pageNo, 10n + BigInt(pageNo), page(pageNo));
    const wanted = [0, 1, 2, 5, 6, 40, 41, 80, 300, 301, 302, 1999]
      .concat(Array.from({ length: 200 }, (_, index) => 900 + index * 2))
      .sort((a, b) => a - b);
    const pieces = await pageStore.readSlotsRaw(wanted);
    expect(pieces.length).toBeGreaterThan(1);
    const bytes = concat(pieces);
    expect(bytes.length).toBe(wanted.length * SLOT);
    for (const [index, slot] of wanted.entries()) {
      const image = decodeSlotImage(bytes.subarray(index * SLOT, (index + 1) * SLOT));
      expect(image).toMatchObject({ pageNo: slot, lsn: 10n + BigInt(slot) });
      expect(image?.page).toEqual(page(slot));
    }
    await pageStore.close();
  });

  it('writes received slots verbatim, restamped with its own identity; they read back and survive a reopen', async () => {
    const { pageStore } = await openStore();
    // Two slots already taken and one freed: the writes land in a run that is not one piece.
    await pageStore.write(1, 500, 5n, page(500));
    const gap = await pageStore.write(1, 501, 5n, page(501));
    await pageStore.write(1, 502, 5n, page(502));
    pageStore.freeUnused(gap);
    // As a source sent them: its own segment number (7), the pages' own LSNs (at most the base's).
    const pageNumbers = [3, 4, 9, 12, 13, 20];
    const received = concat(
      pageNumbers.map((pageNo) => encodeSlotImage(7, pageNo, 60n + BigInt(pageNo), page(pageNo))),
    );
    // The first identity copy of one slot rotted on the source; its trailer still tells the page.
    received[2 * SLOT + 9] = received[2 * SLOT + 9]! ^ 0x10;
    const images = pageNumbers.map((_pageNo, index) => {
      const image = decodeSlotImage(received.subarray(index * SLOT, (index + 1) * SLOT));
      if (image === undefined) throw new Error('a slot of the test stream is not intact');
      return { pageNo: image.pageNo, crc: image.crc };
    });
    const slots = await pageStore.writeSlots(2, 100n, received, images);
    expect(slots[0]).toBe(gap);
    for (const [index, pageNo] of pageNumbers.entries())
      expect(await pageStore.read(slots[index]!, 2, pageNo, 100n)).toEqual(page(pageNo));
    await pageStore.sync();
    await pageStore.close();

    const reopened = await openStore();
    const found = reopened.images.filter((image) => image.segmentNumber === 2);
    expect(found.map(({ pageNo, lsn, damaged }) => ({ pageNo, lsn, damaged }))).toEqual(
      pageNumbers.map((pageNo) => ({ pageNo, lsn: 100n, damaged: false })),
    );
    // Both identity copies were restamped: the rotted one too.
    const raw = concat(await reopened.pageStore.readSlotsRaw([slots[2]!]));
    expect(raw.subarray(0, PAGE_SLOT_IDENTITY_BYTES)).toEqual(raw.subarray(SLOT - PAGE_SLOT_IDENTITY_BYTES));
    await reopened.pageStore.close();
  });

  it('keeps the CRC it was given: a page damaged after its check is caught when read', async () => {
    const { pageStore } = await openStore();
    const received = encodeSlotImage(7, 3, 50n, page(3));
    const image = decodeSlotImage(received)!;
    received[PAGE_SLOT_IDENTITY_BYTES + 17] = received[PAGE_SLOT_IDENTITY_BYTES + 17]! ^ 0x01;
    const [slot] = await pageStore.writeSlots(2, 100n, received, [{ pageNo: 3, crc: image.crc }]);
    await expect(pageStore.read(slot!, 2, 3, 100n)).rejects.toMatchObject({ code: 'NL_DECODE_CHECKSUM' });
    await pageStore.close();
  });
});
