/**
 * A storage node's answer when a segment is already being filled, on a real process: a hydrate
 * request whose source (a stand-in HTTP server of the test) never sends a byte holds the segment;
 * meanwhile a second hydrate and a restore of it are refused 409 NL_SEGMENT_BUSY, naming the segment,
 * at once — a conflict with the fill in progress, not a timeout (they were 504 NL_TIMEOUT, and the
 * control plane took them for failed catch-ups). Once the stalled source goes away the segment is
 * free again: the next hydrate is tried, and fails for its own reason (the source is unreachable).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import {
  admin,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';

let node: StorageProcess | undefined;
let source: Server | undefined;
afterAll(async () => {
  source?.closeAllConnections();
  source?.close();
  if (node !== undefined) {
    if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
    removeDataDir(node);
  }
});

it('answers 409 NL_SEGMENT_BUSY to a hydrate or restore of a segment that is already being filled', {
  timeout: 60_000,
}, async () => {
  const asked: string[] = [];
  let firstAsk: () => void;
  const asking = new Promise<void>((resolve) => {
    firstAsk = resolve;
  });
  // A source that takes the snapshot request and never answers it.
  source = createServer((request: IncomingMessage) => {
    asked.push(request.url ?? '');
    firstAsk();
  });
  await new Promise<void>((resolve) => source!.listen(0, '127.0.0.1', resolve));
  const sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;

  node = await startStorageProcess('h1', 'a');
  const created = await admin(node, 'POST', '/v1/segments', {
    pgId: 0,
    segmentId: 'pg0-h1',
    membershipEpoch: '1',
    members: ['pg0-h1', 'pg0-h2'],
  });
  expect(created.status, created.text).toBe(201);
  const hydrate = () =>
    admin(node!, 'POST', '/v1/segments/0/pg0-h1/hydrate', { sourceUrl, sourceSegmentId: 'pg0-h2' });
  const stalled = hydrate();
  await asking;
  expect(asked).toEqual(['/v1/segments/0/pg0-h2/snapshot']);

  const second = await hydrate();
  expect(second.status, second.text).toBe(409);
  expect(second.json()).toMatchObject({
    code: 'NL_SEGMENT_BUSY',
    message: expect.stringContaining('segment pg0-h1 of PG 0 is already hydrating (peer)'),
    action: expect.stringContaining('Wait for it to finish'),
  });
  const restore = await admin(node, 'POST', '/v1/segments/0/pg0-h1/restore', {});
  expect(restore.status, restore.text).toBe(409);
  expect(restore.json()).toMatchObject({ code: 'NL_SEGMENT_BUSY' });
  expect(asked).toHaveLength(1); // neither reached the source

  // The stalled source goes away: the first hydration ends, and the segment is free again.
  source.closeAllConnections();
  await new Promise<void>((resolve) => source!.close(() => resolve()));
  expect((await stalled).status).toBeGreaterThanOrEqual(400);
  const third = await hydrate();
  expect(third.status, third.text).toBe(503);
  expect(third.json()).toMatchObject({ code: 'NL_NETWORK_UNREACHABLE' });
});
