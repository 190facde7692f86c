/**
 * The real `ObjectStore` (protocol/src/core/env.ts) on an S3-compatible bucket, through
 * `@aws-sdk/client-s3`. The storage node's backup writes log chunks, page images and manifests
 * through it; `docs/storage-node-s3.md` gives the configuration and the key layout.
 *
 * Contract, as the simulator's SimObjectStore keeps it:
 *   - put is one PutObject (atomic on S3); get returns the whole body, or undefined for a missing
 *     key (NoSuchKey / 404); list returns every key under a prefix, sorted, paging internally;
 *     delete of a missing key succeeds.
 *   - Every other failure rejects with `NL_OBJECT_STORE_UNAVAILABLE`; its details keep the
 *     operation, the key, the attempts made, and the cause's name, code and HTTP status.
 *
 * Retries are ours, not the SDK's (the client we build has `maxAttempts: 1`), so that their limits
 * are named here and the error reports how many attempts were made. Only failures that may be
 * transient are retried: HTTP 5xx and failures with no HTTP status at all (refused, reset or timed
 * out connections). A 4xx (bad credentials, missing bucket) is returned at once: retrying cannot
 * fix it. PUT and DELETE are idempotent, so repeating one whose first attempt landed is harmless.
 *
 * Bodies are sent as Buffers with a ContentLength, never as streams: with the SDK's default
 * checksum mode a stream body is sent `aws-chunked`, which some S3-compatible servers (s3rver)
 * store verbatim, chunk framing included, while answering 200.
 *
 * The SDK loads on the store's first request, not with the process: it is about a sixth of a
 * storage node's start (its modules parse and compile in about 150 ms of CPU), and a node's first
 * use of the bucket is its first backup tick or a restore, after it serves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { AssertionError, assert, NorthlightError, type ObjectStore } from '@northlight/protocol';

/** S3's own limit on a key, in UTF-8 bytes, including `keyPrefix`. */
export const OBJECT_KEY_BYTES_MAX = 1024;
/** S3 returns at most 1000 keys per ListObjectsV2 page. */
export const LIST_PAGE_SIZE_MAX = 1000;

export interface S3RetryPolicy {
  /** Attempts per operation, the first included; 1 disables retries. */
  readonly attemptsMax: number;
  /** Delay before the second attempt; it doubles for each later one, up to `delayMaxMs`. */
  readonly delayBaseMs: number;
  readonly delayMaxMs: number;
}

export const S3_RETRY_DEFAULTS: S3RetryPolicy = { attemptsMax: 5, delayBaseMs: 100, delayMaxMs: 2_000 };

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** Prepended to every key, so several stores can share a bucket (for example `cluster-a/`). */
  readonly keyPrefix?: string;
  /** A ready client (its owner destroys it). Give it `maxAttempts: 1`, or SDK retries multiply ours. */
  readonly client?: S3Client;
  /** Config for the client this store builds when `client` is absent; it overrides our defaults. */
  readonly clientConfig?: S3ClientConfig;
  readonly retry?: Partial<S3RetryPolicy>;
  /** Keys per ListObjectsV2 request, 1..1000 (tests use small pages to exercise paging). */
  readonly listPageSize?: number;
  /** A list that would return more keys fails instead of growing without bound. */
  readonly listKeysMax?: number;
  /** Largest body `put` accepts; the simulator's default is the same. */
  readonly objectBytesMax?: number;
  /** Per-request limits of the client this store builds. */
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

const LIST_KEYS_MAX_DEFAULT = 1_000_000;
const OBJECT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
const CONNECTION_TIMEOUT_MS_DEFAULT = 5_000;
const REQUEST_TIMEOUT_MS_DEFAULT = 60_000;

type Details = Record<string, string | number | bigint | boolean>;

/** What we keep of an SDK or socket error. */
interface FailureCause {
  readonly name: string;
  readonly message: string;
  readonly httpStatus: number | undefined;
  readonly code: string | undefined;
}

function describeCause(error: unknown): FailureCause {
  if (!(error instanceof Error)) {
    return { name: 'unknown', message: String(error), httpStatus: undefined, code: undefined };
  }
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  const status = metadata?.httpStatusCode;
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    httpStatus: typeof status === 'number' ? status : undefined,
    code: typeof code === 'string' ? code : undefined,
  };
}

/** 5xx, or no HTTP answer at all (the connection failed): possibly transient. */
function isRetryable(cause: FailureCause): boolean {
  return cause.httpStatus === undefined || cause.httpStatus >= 500;
}

function isMissingKey(cause: FailureCause): boolean {
  return cause.name === 'NoSuchKey' || (cause.httpStatus === 404 && cause.name !== 'NoSuchBucket');
}

function isMissingBucket(cause: FailureCause): boolean {
  return cause.name === 'NoSuchBucket' || cause.name === 'NotFound' || cause.httpStatus === 404;
}

function isBucketAlreadyOurs(cause: FailureCause): boolean {
  return cause.name === 'BucketAlreadyOwnedByYou' || cause.name === 'BucketAlreadyExists';
}

/** Exponential backoff with jitter in [half, full] of the step, so that retrying nodes spread out. */
function backoffDelayMs(policy: S3RetryPolicy, failedAttempts: number): number {
  const stepMs = Math.min(policy.delayMaxMs, policy.delayBaseMs * 2 ** (failedAttempts - 1));
  return stepMs / 2 + Math.random() * (stepMs / 2);
}

/**
 * The SDK hands back a Buffer. Callers get a plain Uint8Array that owns its memory: small Buffers
 * are carved out of Node's shared pool, so those are copied (at most a few KiB); large ones already
 * own their ArrayBuffer and are only re-viewed.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  const ownsMemory = bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
  return ownsMemory ? new Uint8Array(bytes.buffer, 0, bytes.byteLength) : new Uint8Array(bytes);
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdkLoading: Promise<Sdk> | undefined;

/** The SDK's module, loaded once per process on first use. */
function loadSdk(): Promise<Sdk> {
  sdkLoading ??= import('@aws-sdk/client-s3');
  return sdkLoading;
}

/** Thrown inside an attempt when the answer arrived but cannot be used; never retried. */
class UnusableAnswer extends Error {
  override readonly name = 'UnusableAnswer';
}

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly keyPrefix: string;
  /** The client: given, or built by `#ready` on first use. */
  #client: S3Client | undefined;
  readonly #clientConfig: S3ClientConfig;
  readonly #ownsClient: boolean;
  #closed = false;
  readonly #retry: S3RetryPolicy;
  readonly #listPageSize: number;
  readonly #listKeysMax: number;
  readonly #objectBytesMax: number;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.keyPrefix = options.keyPrefix ?? '';
    this.#retry = { ...S3_RETRY_DEFAULTS, ...options.retry };
    this.#listPageSize = options.listPageSize ?? LIST_PAGE_SIZE_MAX;
    this.#listKeysMax = options.listKeysMax ?? LIST_KEYS_MAX_DEFAULT;
    this.#objectBytesMax = options.objectBytesMax ?? OBJECT_BYTES_MAX_DEFAULT;
    assert(this.bucket.length > 0, 'bucket must not be empty');
    assert(Number.isSafeInteger(this.#retry.attemptsMax) && this.#retry.attemptsMax >= 1);
    assert(this.#retry.delayBaseMs >= 0 && this.#retry.delayMaxMs >= this.#retry.delayBaseMs);
    assert(
      Number.isSafeInteger(this.#listPageSize) &&
        this.#listPageSize >= 1 &&
        this.#listPageSize <= LIST_PAGE_SIZE_MAX,
      `listPageSize must be in 1..${LIST_PAGE_SIZE_MAX}: ${this.#listPageSize}`,
    );
    assert(Number.isSafeInteger(this.#listKeysMax) && this.#listKeysMax >= 1);
    this.#ownsClient = options.client === undefined;
    this.#client = options.client;
    this.#clientConfig = {
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: options.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS_DEFAULT,
        requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
        throwOnRequestTimeout: true,
      },
      ...options.clientConfig,
    };
  }

  /** The SDK and the client, loaded and built on the first request. */
  async #ready(
    operation: string,
    objectKey: string,
  ): Promise<{ readonly sdk: Sdk; readonly client: S3Client }> {
    const sdk = await loadSdk();
    // A closed store builds no client (its sockets would outlive it); a request racing the close fails.
    if (this.#client === undefined && this.#closed)
      throw this.#error(operation, objectKey, 'the object store was closed', { attempts: 0 });
    this.#client ??= new sdk.S3Client(this.#clientConfig);
    return { sdk, client: this.#client };
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const objectKey = this.#objectKey(key);
    assert(body.length <= this.#objectBytesMax, `object of ${body.length} bytes exceeds the maximum`);
    // A Buffer view (no copy) is sent with a plain checksum header, never aws-chunked.
    const payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const { sdk, client } = await this.#ready('put', objectKey);
    await this.#attempt('put', objectKey, { bytes: body.length }, () =>
      client.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: payload,
          ContentLength: payload.length,
        }),
      ),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const objectKey = this.#objectKey(key);
    const { sdk, client } = await this.#ready('get', objectKey);
    return this.#attempt(
      'get',
      objectKey,
      {},
      async () => {
        const response = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: objectKey }));
        if (response.Body === undefined) throw new UnusableAnswer('GetObject returned no body');
        return plainBytes(await response.Body.transformToByteArray());
      },
      (cause) => (isMissingKey(cause) ? { handled: true, value: undefined } : { handled: false }),
    );
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let continuationToken: string | undefined;
    const listTarget = `${this.keyPrefix}${prefix}*`;
    let page = 0;
    const { sdk, client } = await this.#ready('list', listTarget);
    do {
      page++;
      const response = await this.#attempt('list', listTarget, { page }, () =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            MaxKeys: this.#listPageSize,
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
          }),
        ),
      );
      for (const object of response.Contents ?? []) {
        const objectKey = object.Key;
        assert(
          objectKey?.startsWith(this.keyPrefix + prefix) === true,
          `list returned a key outside its prefix: ${objectKey}`,
        );
        keys.push(objectKey.slice(this.keyPrefix.length));
      }
      if (keys.length > this.#listKeysMax) {
        throw this.#error('list', listTarget, `more than ${this.#listKeysMax} keys`, { page });
      }
      continuationToken = response.IsTruncated === true ? response.NextContinuationToken : undefined;
      if (response.IsTruncated === true && continuationToken === undefined) {
        throw this.#error('list', listTarget, 'truncated page without a continuation token', { page });
      }
    } while (continuationToken !== undefined);
    // S3 orders keys by UTF-8 bytes; the contract orders them as JavaScript strings (UTF-16).
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.#objectKey(key);
    const { sdk, client } = await this.#ready('delete', objectKey);
    await this.#attempt('delete', objectKey, {}, () =>
      client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })),
    );
  }

  /** Creates the bucket if it does not exist (first start of a node, tests). */
  async ensureBucket(): Promise<void> {
    const { sdk, client } = await this.#ready('head bucket', '');
    const exists = await this.#attempt(
      'head bucket',
      '',
      {},
      async () => {
        await client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket }));
        return true;
      },
      (cause) => (isMissingBucket(cause) ? { handled: true, value: false } : { handled: false }),
    );
    if (exists) return;
    await this.#attempt(
      'create bucket',
      '',
      {},
      async () => {
        await client.send(new sdk.CreateBucketCommand({ Bucket: this.bucket }));
      },
      // Another node created it between our HEAD and our CREATE.
      (cause) => (isBucketAlreadyOurs(cause) ? { handled: true, value: undefined } : { handled: false }),
    );
  }

  /** Closes the client's sockets if this store built the client. */
  close(): void {
    this.#closed = true;
    if (this.#ownsClient) this.#client?.destroy();
  }

  #objectKey(key: string): string {
    assert(key.length > 0, 'object key must not be empty');
    const objectKey = this.keyPrefix + key;
    assert(
      Buffer.byteLength(objectKey, 'utf8') <= OBJECT_KEY_BYTES_MAX,
      `object key longer than ${OBJECT_KEY_BYTES_MAX} bytes: ${JSON.stringify(objectKey.slice(0, 64))}…`,
    );
    return objectKey;
  }

  /**
   * Runs `action` up to `attemptsMax` times. `expected` turns a known answer (a missing key) into a
   * value; anything else that is not retryable, or the last retryable failure, becomes
   * NL_OBJECT_STORE_UNAVAILABLE.
   */
  async #attempt<T>(
    operation: string,
    objectKey: string,
    context: Details,
    action: () => Promise<T>,
    expected: (cause: FailureCause) => { handled: true; value: T } | { handled: false } = () => ({
      handled: false,
    }),
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await action();
      } catch (error) {
        if (error instanceof AssertionError) throw error; // a programmer error is never caught
        const cause = describeCause(error);
        const outcome = expected(cause);
        if (outcome.handled) return outcome.value;
        const retryable = !(error instanceof UnusableAnswer) && isRetryable(cause);
        if (!retryable || attempt >= this.#retry.attemptsMax) {
          // The SDK error itself is not attached as `cause`: it holds the raw response and socket,
          // which loggers would serialize. What an operator needs is copied into details.
          throw this.#error(operation, objectKey, cause.message, {
            ...context,
            attempts: attempt,
            retryable,
            causeName: cause.name,
            ...(cause.httpStatus === undefined ? {} : { httpStatus: cause.httpStatus }),
            ...(cause.code === undefined ? {} : { causeCode: cause.code }),
          });
        }
        await sleep(backoffDelayMs(this.#retry, attempt));
      }
    }
  }

  /** `objectKey` is the key as stored in the bucket (with `keyPrefix`); '' for bucket operations. */
  #error(operation: string, objectKey: string, reason: string, details: Details): NorthlightError {
    const where = `s3://${this.bucket}/${objectKey}`;
    return new NorthlightError('NL_OBJECT_STORE_UNAVAILABLE', `${operation} ${where}: ${reason}`, {
      operation,
      bucket: this.bucket,
      key: objectKey,
      ...details,
    });
  }
}
