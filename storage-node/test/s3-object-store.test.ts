/**
 * Proves the real S3 ObjectStore against a real S3-compatible server (s3rver, started in a child
 * process by `support/s3rver-rig.ts`), not against a mock:
 *   - bodies of 0 bytes, a few bytes and 5 MiB come back byte-identical; a missing key is undefined;
 *     delete then get is undefined;
 *   - list pages through ContinuationToken (pages of 2 keys, counted on the wire), which also proves
 *     the rig's `--openssl-legacy-provider` fix: without it every truncated page is an HTTP 500;
 *   - keyPrefix keeps two stores apart in one bucket; ensureBucket creates a missing bucket;
 *   - failures are NL_OBJECT_STORE_UNAVAILABLE with the cause kept in details: a stopped server
 *     after exactly `attemptsMax` attempts, wrong credentials (403) and a missing bucket (404) after
 *     one attempt, 5xx answers retried (a small HTTP server plays the failing S3);
 *   - the same ObjectStore contract suite passes for the simulator's SimObjectStore and for
 *     S3ObjectStore, so the simulator's object store is a faithful stand-in.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { isNorthlightError, type NorthlightError } from '@northlight/protocol';
import { Prng, Scheduler, SimObjectStore, Trace } from '@northlight/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../src/io/s3-object-store.js';
import { objectStoreContract } from './support/object-store-contract.js';
import { type S3rverRig, s3rverClientConfig, startS3rver } from './support/s3rver-rig.js';

/** Retries fast enough for tests, still with backoff. */
const FAST_RETRY = { attemptsMax: 3, delayBaseMs: 5, delayMaxMs: 20 };

let rig: S3rverRig;
let keyPrefixCounter = 0;
const openStores: S3ObjectStore[] = [];
const closers: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  rig = await startS3rver({ bucket: 'backups' });
});

afterAll(async () => {
  for (const store of openStores) store.close();
  for (const close of closers) await close();
  await rig?.stop();
});

/** A store on the rig's bucket under a keyPrefix of its own, so tests never see each other's keys. */
function store(options: Partial<S3ObjectStoreOptions> & { endpoint?: string } = {}): S3ObjectStore {
  const { endpoint, ...rest } = options;
  const created = new S3ObjectStore({
    bucket: rig.bucket,
    keyPrefix: `test-${++keyPrefixCounter}/`,
    clientConfig: s3rverClientConfig(endpoint ?? rig.endpoint),
    retry: FAST_RETRY,
    ...rest,
  });
  openStores.push(created);
  return created;
}

async function rejection(promise: Promise<unknown>): Promise<NorthlightError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isNorthlightError(error, 'NL_OBJECT_STORE_UNAVAILABLE'), String(error)).toBe(true);
  return error as NorthlightError;
}

function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  return actual !== undefined && Buffer.compare(actual, expected) === 0;
}

describe('S3ObjectStore on s3rver', () => {
  it('round-trips empty, small and 5 MiB bodies byte-identically', async () => {
    const objects = store();
    const bodies = {
      empty: new Uint8Array(0),
      small: new Uint8Array([0, 1, 2, 253, 254, 255]),
      large: new Uint8Array(randomBytes(5 * 1024 * 1024)),
    };
    for (const [name, body] of Object.entries(bodies)) await objects.put(`bodies/${name}`, body);
    for (const [name, body] of Object.entries(bodies)) {
      const got = await objects.get(`bodies/${name}`);
      expect(got?.length, name).toBe(body.length);
      expect(sameBytes(got, body), name).toBe(true);
      expect(Buffer.isBuffer(got), 'a plain Uint8Array, not a Buffer').toBe(false);
      expect(got?.buffer.byteLength, 'owns its memory, not a slice of a shared pool').toBe(body.length);
    }
    // A body that is a view into a larger buffer is sent as exactly its own bytes.
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    await objects.put('bodies/view', backing.subarray(2, 5));
    expect(Array.from((await objects.get('bodies/view'))!)).toEqual([1, 2, 3]);
  });

  it('returns undefined for a missing key, and after a delete', async () => {
    const objects = store();
    expect(await objects.get('never/put')).toBeUndefined();
    await objects.put('doomed', new Uint8Array([1]));
    await objects.delete('doomed');
    expect(await objects.get('doomed')).toBeUndefined();
    await objects.delete('doomed'); // deleting a missing key succeeds
  });

  it('lists a prefix across several pages, sorted, without neighbouring prefixes', async () => {
    const client = new S3Client(s3rverClientConfig(rig.endpoint));
    closers.push(() => client.destroy());
    let listRequests = 0;
    client.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'ListObjectsV2Command') listRequests++;
        return next(args);
      },
      { step: 'initialize', name: 'countListRequests' },
    );
    const objects = store({ client, listPageSize: 2 });
    const logKeys = ['v1/pg0/s0/log/0-9.chunk', 'v1/pg0/s0/log/10-19.chunk', 'v1/pg0/s0/log/20-29.chunk'];
    const more = ['v1/pg0/s0/log/30-39.chunk', 'v1/pg0/s0/log/40-49.chunk', 'v1/pg0/s0/log/100-109.chunk'];
    for (const key of [...more, ...logKeys, 'v1/pg0/s0/manifest.json', 'v1/pg0/s0/logx']) {
      await objects.put(key, new Uint8Array([1]));
    }

    listRequests = 0;
    const listed = await objects.list('v1/pg0/s0/log/');
    expect(listed).toEqual([...logKeys, ...more].sort());
    expect(listed[0]).toBe('v1/pg0/s0/log/0-9.chunk');
    expect(listRequests).toBe(3); // 6 keys in pages of 2: continuation tokens were followed

    listRequests = 0;
    expect(await objects.list('')).toHaveLength(8);
    expect(listRequests).toBe(4);
  });

  it('keeps stores with different keyPrefixes apart in one bucket', async () => {
    const first = store({ keyPrefix: 'cluster-a/' });
    const second = store({ keyPrefix: 'cluster-b/' });
    await first.put('manifest.json', new Uint8Array([1]));
    await second.put('manifest.json', new Uint8Array([2]));
    expect(Array.from((await first.get('manifest.json'))!)).toEqual([1]);
    expect(Array.from((await second.get('manifest.json'))!)).toEqual([2]);
    expect(await first.list('')).toEqual(['manifest.json']);
    await first.delete('manifest.json');
    expect(Array.from((await second.get('manifest.json'))!)).toEqual([2]);
  });

  it('ensureBucket creates a missing bucket, once; before that the bucket is an error, not "missing key"', async () => {
    const objects = store({ bucket: 'created-by-ensure' });
    const missing = await rejection(objects.get('anything'));
    expect(missing.details).toMatchObject({ httpStatus: 404, causeName: 'NoSuchBucket', attempts: 1 });
    await objects.ensureBucket();
    await objects.ensureBucket(); // idempotent
    await objects.put('k', new Uint8Array([3]));
    expect(Array.from((await objects.get('k'))!)).toEqual([3]);
  });

  it('rejects wrong credentials with the 403 in details, without retrying', async () => {
    const objects = store({
      clientConfig: s3rverClientConfig(rig.endpoint, { accessKeyId: 'WRONG', secretAccessKey: 'S3RVER' }),
    });
    const failure = await rejection(objects.put('secret', new Uint8Array([1])));
    expect(failure.details).toMatchObject({
      operation: 'put',
      bucket: rig.bucket,
      httpStatus: 403,
      causeName: 'InvalidAccessKeyId',
      attempts: 1,
      retryable: false,
    });
    expect(failure.message).toMatch(/^NL_OBJECT_STORE_UNAVAILABLE: put s3:\/\/backups\/test-\d+\/secret: /);
    expect(failure.details.key).toMatch(/^test-\d+\/secret$/);
  });
});

describe('S3ObjectStore when the server is gone or failing', () => {
  it('gives up on a stopped server after attemptsMax attempts with backoff', async () => {
    const doomed = await startS3rver();
    await doomed.stop();
    const objects = store({ endpoint: doomed.endpoint });
    const started = performance.now();
    for (const [operation, attempt] of [
      ['put', () => objects.put('k', new Uint8Array([1]))],
      ['get', () => objects.get('k')],
      ['list', () => objects.list('')],
      ['delete', () => objects.delete('k')],
    ] as const) {
      const failure = await rejection(attempt());
      expect(failure.details, operation).toMatchObject({
        operation,
        attempts: FAST_RETRY.attemptsMax,
        retryable: true,
        causeCode: 'ECONNREFUSED',
      });
      expect(failure.details.httpStatus).toBeUndefined();
    }
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('builds its client on first use: a store closed before that fails typed and opens no socket', async () => {
    const closed = store();
    closed.close();
    const failure = await rejection(closed.put('k', new Uint8Array([1])));
    expect(failure.message).toContain('the object store was closed');
    expect(failure.details).toMatchObject({ operation: 'put', attempts: 0 });
    // A store used before its close works as before, and close ends its client.
    const used = store();
    await used.put('k', new Uint8Array([7]));
    expect(sameBytes(await used.get('k'), new Uint8Array([7]))).toBe(true);
  });

  it('retries 5xx answers: a transient 503 is absorbed, a lasting 500 fails after attemptsMax', async () => {
    let failuresLeft = 1;
    const requests: string[] = [];
    const server: Server = createServer((request, response) => {
      requests.push(request.method ?? '?');
      request.resume();
      request.on('end', () => {
        if (request.method === 'GET' || failuresLeft > 0) {
          failuresLeft--;
          response.writeHead(request.method === 'GET' ? 500 : 503, { 'content-type': 'application/xml' });
          response.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code></Error>');
          return;
        }
        response.writeHead(200, { etag: '"0"' });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const objects = store({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });

    await objects.put('k', new Uint8Array([1]));
    expect(requests).toEqual(['PUT', 'PUT']);

    requests.length = 0;
    const failure = await rejection(objects.get('k'));
    expect(requests).toEqual(['GET', 'GET', 'GET']);
    expect(failure.details).toMatchObject({ httpStatus: 500, attempts: 3, retryable: true });
  });
});

describe('ObjectStore contract', () => {
  it('holds for the simulator (SimObjectStore)', async () => {
    const scheduler = new Scheduler({ trace: new Trace() });
    const objects = new SimObjectStore(scheduler, new Prng(7)).client();
    const run = async <T>(promise: Promise<T>): Promise<T> => {
      let settled = false;
      const tracked = promise.finally(() => {
        settled = true;
      });
      await scheduler.runUntil(() => settled);
      expect(settled, 'the simulated request settled').toBe(true);
      return tracked;
    };
    await objectStoreContract(objects, run);
  });

  it('holds for S3ObjectStore on s3rver (with pages of 2 keys)', async () => {
    await objectStoreContract(store({ listPageSize: 2 }), (promise) => promise);
  });
});
