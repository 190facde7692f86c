/**
 * Staging to a real S3-compatible server (s3rver, on loopback) from a real storage-node process, and a
 * rebuild from it alone: a process with `--s3-bucket` stages its segment's log on its own timer; the
 * segment is dropped, then rebuilt through `POST /v1/segments/:pg/:seg/restore` (no peers: the node
 * knows none), and it holds the same records, byte for byte, and the same pages; the rebuilt segment
 * survives kill -9 and restart; the staging metrics and status tell the truth.
 */
import {
  asEpoch,
  asLsn,
  asPageNo,
  asPgId,
  asSegmentId,
  encodeRedoRecord,
  type Message,
  type RedoRecord,
} from '@northlight/protocol';
import { afterAll, expect, it } from 'vitest';
import {
  admin,
  freePorts,
  removeDataDir,
  type StorageProcess,
  startStorageProcess,
  stopStorageProcess,
} from './support/process-rig.js';
import { ProcessWriter } from './support/process-writer.js';
import { S3RVER_CREDENTIALS, type S3rverRig, startS3rver } from './support/s3rver-rig.js';

const PG = 0;
const SEGMENT = 'pg0-b1';
const RECORDS = 3000;
const BATCH = 50;
const EPOCH = asEpoch(0n);

let s3: S3rverRig | undefined;
let node: StorageProcess | undefined;
afterAll(async () => {
  if (node !== undefined) {
    if (node.child.exitCode === null) await stopStorageProcess(node, 'SIGKILL');
    removeDataDir(node);
  }
  await s3?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('rebuilds a dropped segment from S3 alone, byte-identical, on a real process and a real S3 server', async () => {
  s3 = await startS3rver({ bucket: 'northlight-backups' });
  const [port, adminPort] = await freePorts(2);
  const start = (dataDir?: string) =>
    startStorageProcess('b1', 'a', {
      ...(dataDir === undefined ? {} : { dataDir }),
      port: port!,
      adminPort: adminPort!,
      args: [
        '--s3-bucket',
        s3!.bucket,
        '--s3-endpoint',
        s3!.endpoint,
        '--s3-access-key-id',
        S3RVER_CREDENTIALS.accessKeyId,
        '--s3-prefix',
        'cluster-a/',
        '--backup-interval-ms',
        '100',
        // Staged at every tick (backup-cadence.test.ts covers the batching): the gauges below are read
        // once the backup reached the head, while the appends' heat is still fresh.
        '--backup-max-delay-ms',
        '0',
      ],
      env: { NORTHLIGHT_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey },
    });
  node = await start();
  const created = await admin(node, 'POST', '/v1/segments', {
    pgId: PG,
    segmentId: SEGMENT,
    membershipEpoch: '1',
    members: [SEGMENT],
  });
  expect(created.status, created.text).toBe(201);
  let writer = await ProcessWriter.connect(node);

  // Append, the durable hint trailing one batch (as a writer's VDL does); then the hint reaches the head.
  const records: RedoRecord[] = [];
  for (let index = 0; index < RECORDS; index++) {
    records.push({
      lsn: asLsn(BigInt(index + 1)),
      backlink: asLsn(BigInt(index)),
      kind: 'page-diff',
      cpl: true,
      volumeEpoch: EPOCH,
      pgId: asPgId(PG),
      pageNo: asPageNo(index % 40),
      runs: [{ offset: (index * 13) % 8000, bytes: new Uint8Array([index & 0xff, index >> 8, 1, 2, 3]) }],
    });
  }
  const append = (batch: RedoRecord[], hint: bigint) =>
    writer.ask((requestId) => ({
      type: 'append-batch',
      requestId,
      volumeEpoch: EPOCH,
      membershipEpoch: asEpoch(1n),
      pgId: asPgId(PG),
      segmentId: asSegmentId(SEGMENT),
      durableHint: asLsn(hint),
      records: batch,
    }));
  for (let start = 0; start < RECORDS; start += BATCH) {
    const reply = await append(records.slice(start, start + BATCH), BigInt(start));
    expect(reply.type).toBe('append-ack');
  }
  const head = BigInt(RECORDS);
  expect((await append(records.slice(-1), head)).type).toBe('append-ack');
  // The append heat is a rate over a 10 s window: read now, not after a backup that may take longer.
  const heat = (await admin(node!, 'GET', '/metrics')).text;
  expect(
    Number(/^northlight_storage_heat_ops_per_second\{kind="append"\} (\S+)$/m.exec(heat)?.[1]),
  ).toBeGreaterThan(0);

  // The staging timer backs the log up to the head.
  type Status = { segments: { segmentId: string; scl: string; backup: { backedUpThrough?: string } }[] };
  const status = async () => (await admin(node!, 'GET', '/v1/status')).json() as unknown as Status;
  const deadline = Date.now() + 30_000;
  while ((await status()).segments[0]?.backup.backedUpThrough !== String(head) && Date.now() < deadline)
    await sleep(100);
  expect((await status()).segments[0]?.backup.backedUpThrough).toBe(String(head));
  const metrics = (await admin(node, 'GET', '/metrics')).text;
  expect(
    Number(/northlight_storage_backup_uploaded_bytes_total\{kind="chunk"\} (\d+)/.exec(metrics)?.[1]),
  ).toBeGreaterThan(RECORDS * 20);
  // The gauges read off the status at each scrape: one active segment and its bytes.
  const gauge = (series: string) =>
    Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
  expect(gauge('northlight_storage_segments{state="active"}')).toBe(1);
  expect(gauge('northlight_storage_segments{state="hydrating"}')).toBe(0);
  expect(gauge('northlight_storage_disk_bytes{file="log"}')).toBeGreaterThan(RECORDS * 20);
  expect(gauge('northlight_storage_disk_bytes{file="control"}')).toBeGreaterThan(0);
  expect(gauge('northlight_storage_cache_bytes{cache="records"}')).toBeGreaterThan(0);

  const digest = async () => {
    const fetched = await writer.ask((requestId) => ({
      type: 'fetch-records',
      requestId,
      pgId: asPgId(PG),
      segmentId: asSegmentId(SEGMENT),
      volumeEpoch: EPOCH,
      lsns: records.map((record) => record.lsn),
    }));
    expect(fetched.type).toBe('records');
    const held = (fetched as Extract<Message, { type: 'records' }>).records.map((record) =>
      Buffer.from(encodeRedoRecord(record)).toString('hex'),
    );
    const pages: string[] = [];
    for (let pageNo = 0; pageNo < 40; pageNo++) {
      for (const readPoint of [head / 2n, head]) {
        const page = await writer.ask((requestId) => ({
          type: 'read-page',
          requestId,
          pgId: asPgId(PG),
          segmentId: asSegmentId(SEGMENT),
          volumeEpoch: EPOCH,
          pageNo: asPageNo(pageNo),
          readPoint: asLsn(readPoint),
        }));
        expect(page.type, `page ${pageNo} at ${readPoint}`).toBe('page');
        pages.push(Buffer.from((page as Extract<Message, { type: 'page' }>).bytes).toString('hex'));
      }
    }
    return { held, pages };
  };
  const before = await digest();
  expect(before.held).toHaveLength(RECORDS);
  expect(before.held).toEqual(records.map((record) => Buffer.from(encodeRedoRecord(record)).toString('hex')));

  // Drop it; rebuild it from S3 alone.
  expect((await admin(node, 'DELETE', `/v1/segments/${PG}/${SEGMENT}`)).status).toBe(200);
  expect((await status()).segments).toEqual([]);
  const restored = await admin(node, 'POST', `/v1/segments/${PG}/${SEGMENT}/restore`, {});
  expect(restored.status, restored.text).toBe(200);
  expect(restored.json()).toMatchObject({ scl: String(head), records: RECORDS });
  expect(await digest()).toEqual(before);

  // A rebuild of a segment nobody backed up is the caller's mistake, typed.
  const missing = await admin(node, 'POST', `/v1/segments/${PG}/pg0-nobody/restore`, {});
  expect(missing.status).toBe(400);
  expect(missing.json()).toMatchObject({ code: 'NL_REQUEST_INVALID' });

  // The rebuilt segment is durable: kill -9 and restart on the same directory.
  writer.close();
  const dataDir = node.dataDir;
  await stopStorageProcess(node, 'SIGKILL');
  node = await start(dataDir);
  writer = await ProcessWriter.connect(node);
  expect(await digest()).toEqual(before);
  writer.close();
  expect(await stopStorageProcess(node, 'SIGTERM')).toBe(0);
}, 120_000);
