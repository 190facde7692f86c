/**
 * The metadata directory in Redis (DESIGN.md: "metadata directory (Redis)"), for control planes that
 * share it, through ioredis. Per cluster, two keys under the prefix `northlight/<cluster>/`:
 *   - `metadata/revision`: the revision, a decimal string;
 *   - `metadata/document`: the document (`core/metadata.ts` format, compact JSON).
 *
 * A write is one Lua script, which Redis runs atomically: it compares the stored revision with the
 * one the write was planned from and only then sets both keys. Two control planes racing from the
 * same revision therefore cannot overwrite each other: the second script sees the first one's
 * revision and returns a conflict. A read is one MGET, so it never pairs one write's revision with
 * another's document.
 *
 * Calls fail fast with a typed error instead of hanging when Redis is down or stuck. ioredis arms the
 * command timeout when a command is issued, queued or not, so every call settles within
 * REDIS_COMMAND_TIMEOUT_MS; while Redis refuses connections a queued command fails sooner, after
 * REDIS_MAX_RETRIES_PER_REQUEST + 1 failed reconnection attempts. `open` fails within
 * REDIS_CONNECT_TIMEOUT_MS. The client keeps reconnecting in the background (backing off up to
 * REDIS_RECONNECT_DELAY_MS_MAX), so the first call after Redis is back succeeds.
 *
 * `wipe` resets the revision to 0. A control plane still holding a revision read before the wipe
 * could then match a new revision by chance; `--wipe-metadata` runs with the cluster down.
 */
import { assert, isValidIdentifier, type NorthlightError } from '@northlight/protocol';
import { Redis } from 'ioredis';
import {
  decodeMetadataDocument,
  EMPTY_METADATA,
  type MetadataContent,
  type MetadataSnapshot,
  type MetadataStore,
  metadataConflict,
  metadataError,
  prepareWrite,
  undecodableMetadata,
} from '../core/metadata.js';

/** How long a (re)connection may take before it counts as failed. */
export const REDIS_CONNECT_TIMEOUT_MS = 2000;
/** How long one command may wait for its reply, queued or sent, before it fails: the bound on every call. */
export const REDIS_COMMAND_TIMEOUT_MS = 3000;
/** Reconnection attempts a queued command waits through before it fails. */
export const REDIS_MAX_RETRIES_PER_REQUEST = 1;
/** Background reconnection backs off linearly up to this delay, and then keeps trying at it. */
export const REDIS_RECONNECT_DELAY_MS_MAX = 1000;
const REDIS_RECONNECT_DELAY_MS_STEP = 100;

export interface RedisMetadataOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** The cluster's name: keys live under `northlight/<cluster>/`. */
  readonly cluster: string;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

/**
 * KEYS[1] revision, KEYS[2] document; ARGV[1] expected revision, ARGV[2] new revision, ARGV[3] the
 * document. Returns {1, new revision} when written, {0, stored revision} on a conflict, and {-1, ''}
 * when a document exists without a revision (damaged: a write must not paper over it).
 */
const WRITE_SCRIPT = `
local stored = redis.call('GET', KEYS[1])
if stored == false then
  if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, ''} end
  stored = '0'
end
if stored ~= ARGV[1] then return {0, stored} end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
`;

interface MetadataCommands {
  northlightMetadataWrite(
    revisionKey: string,
    documentKey: string,
    expectedRevision: string,
    newRevision: string,
    document: string,
  ): Promise<[number, string]>;
}

/** `host:port` of a Redis URL, without credentials, for messages. */
function describeServer(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return '(unparsable URL)';
  }
}

export class RedisMetadataStore implements MetadataStore {
  readonly keyPrefix: string;
  readonly #revisionKey: string;
  readonly #documentKey: string;
  readonly #where: string;
  readonly #client: Redis & MetadataCommands;
  /** The last connection error ioredis reported, to explain a failed command. */
  #lastConnectionError: string | undefined;
  #closed = false;

  private constructor(options: RedisMetadataOptions) {
    assert(isValidIdentifier(options.cluster), `invalid cluster name ${JSON.stringify(options.cluster)}`);
    this.keyPrefix = `northlight/${options.cluster}/`;
    this.#revisionKey = `${this.keyPrefix}metadata/revision`;
    this.#documentKey = `${this.keyPrefix}metadata/document`;
    this.#where = `redis ${describeServer(options.url)} ${this.keyPrefix}metadata/`;
    const client = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? REDIS_CONNECT_TIMEOUT_MS,
      commandTimeout: options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: REDIS_MAX_RETRIES_PER_REQUEST,
      retryStrategy: (attempt) =>
        Math.min(attempt * REDIS_RECONNECT_DELAY_MS_STEP, REDIS_RECONNECT_DELAY_MS_MAX),
    });
    client.defineCommand('northlightMetadataWrite', { numberOfKeys: 2, lua: WRITE_SCRIPT });
    // Without a listener ioredis prints every connection error; the store reports them per call.
    client.on('error', (error: Error) => {
      this.#lastConnectionError = error.message;
    });
    this.#client = client as Redis & MetadataCommands;
  }

  /** Connects, failing with a typed error (not hanging) if Redis cannot be reached. */
  static async open(options: RedisMetadataOptions): Promise<RedisMetadataStore> {
    const store = new RedisMetadataStore(options);
    try {
      await store.#client.connect();
    } catch (error) {
      store.#client.disconnect();
      throw store.#unavailable('connect', error);
    }
    return store;
  }

  async read(): Promise<MetadataSnapshot> {
    assert(!this.#closed, 'metadata store used after close');
    const values = await this.#call('read', () => this.#client.mget(this.#revisionKey, this.#documentKey));
    const revision = values[0] ?? null;
    const document = values[1] ?? null;
    if (revision === null && document === null) return EMPTY_METADATA;
    if (revision === null || document === null) {
      throw undecodableMetadata(this.#where, {
        reason: `key ${revision === null ? this.#revisionKey : this.#documentKey} is missing`,
        newerFormat: false,
      });
    }
    const decoded = decodeMetadataDocument(document);
    if (!decoded.ok) throw undecodableMetadata(this.#where, decoded.error);
    if (String(decoded.value.revision) !== revision) {
      throw undecodableMetadata(this.#where, {
        reason: `revision key says ${JSON.stringify(revision)}, the document ${decoded.value.revision}`,
        newerFormat: false,
      });
    }
    return decoded.value;
  }

  async write(expectedRevision: number, next: MetadataContent): Promise<MetadataSnapshot> {
    assert(!this.#closed, 'metadata store used after close');
    assert(
      Number.isSafeInteger(expectedRevision) && expectedRevision >= 0,
      `bad revision ${expectedRevision}`,
    );
    const { snapshot, text } = prepareWrite(expectedRevision + 1, next);
    const [outcome, stored] = await this.#call('write', () =>
      this.#client.northlightMetadataWrite(
        this.#revisionKey,
        this.#documentKey,
        String(expectedRevision),
        String(snapshot.revision),
        text,
      ),
    );
    if (outcome === 1) return snapshot;
    if (outcome === 0) throw metadataConflict(this.#where, expectedRevision, Number(stored));
    throw undecodableMetadata(this.#where, {
      reason: `a document is stored without its revision key ${this.#revisionKey}`,
      newerFormat: false,
    });
  }

  async wipe(): Promise<void> {
    assert(!this.#closed, 'metadata store used after close');
    await this.#call('wipe', () => this.#client.del(this.#revisionKey, this.#documentKey));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // QUIT waits for replies to commands already sent; when not connected there are none to wait for.
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
        return;
      } catch {
        // Fall through: the connection is gone either way.
      }
    }
    this.#client.disconnect();
  }

  async #call<T>(operation: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw this.#unavailable(operation, error);
    }
  }

  #unavailable(operation: string, error: unknown): NorthlightError {
    const reason = error instanceof Error ? error.message : String(error);
    const cause =
      this.#lastConnectionError === undefined || reason.includes(this.#lastConnectionError)
        ? reason
        : `${reason} (last connection error: ${this.#lastConnectionError})`;
    return metadataError(
      'unavailable',
      `metadata directory (${this.#where}): ${operation} failed: ${cause}. ` +
        'Check that Redis is running and reachable from the control plane',
      { operation, where: this.#where },
    );
  }
}
