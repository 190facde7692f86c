/**
 * The embedded S3-compatible object store of `northlight up` (the local platform's backups): s3rver,
 * started here rather than from its own command line so that an object is on disk before its PUT is
 * answered.
 *
 * s3rver 3.7.1 writes an object through a write stream and answers without waiting for it: with a
 * buffer body it does not even wait for the write to finish, and it never syncs. That breaks what the
 * storage nodes rely on — a staged chunk or base acknowledged by the store may be all that is left of
 * those records once the nodes collect their log (B2) — and it hurt every commit of the cluster: the
 * unsynced objects piled up as dirty pages, and ext4 flushed them at its journal commit every 5 s,
 * with every storage node's log fdatasync on the same filesystem waiting behind. Measured with 64 MiB
 * loaded and staging on (2 cores, one client of single-row commits): a 52–64 ms commit every 5.12 s;
 * with objects written durably, none above 35 ms in 20 s (docs/control-plane.md, "Repair bandwidth").
 *
 * So `putObject` and `putMetadata` of its filesystem store are replaced: each file is written to a
 * temporary name beside its place, fdatasync'd, renamed over it, and its directory fsync'd. The body
 * is read whole first (the storage nodes' objects are at most a chunk or a base part). The rest of
 * s3rver is as it was, pinned at 3.7.1 (operator/package.json), since these replace its internals.
 *
 *   node --openssl-legacy-provider --import tsx embedded-object-store.ts \
 *     --address 127.0.0.1 --port 7401 --directory DIR --bucket northlight-backups
 *
 * (s3rver signs ListObjectsV2 continuation tokens with DES, which OpenSSL 3 refuses without the
 * legacy provider.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);

/** The parts of s3rver 3.7.1's FilesystemStore that are replaced or called here. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(object: S3Object): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}

interface S3Object {
  readonly bucket: string;
  readonly key: string;
  readonly content: Buffer | AsyncIterable<Buffer | string>;
  readonly metadata: Record<string, string>;
}

interface S3rverServer {
  readonly store: FilesystemStore;
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/** Writes `bytes` at `path` so that once this resolves they survive a crash or a power loss. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true });
  const temporary = join(directory, `.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(bytes);
    await file.datasync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  await syncPath(directory, 'sync'); // the rename itself
}

async function readWhole(content: S3Object['content']): Promise<Buffer> {
  if (Buffer.isBuffer(content)) return content;
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Makes the store's writes durable before they are answered (see the file's comment). */
export function makeDurable(store: FilesystemStore): void {
  const putMetadata = store.putMetadata.bind(store);
  store.putObject = async (object) => {
    const bytes = await readWhole(object.content);
    const md5 = createHash('md5').update(bytes).digest('hex');
    await writeDurably(store.getResourcePath(object.bucket, object.key, 'object'), bytes);
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: bytes.length, md5 };
  };
  store.putMetadata = async (bucket, key, metadata, md5) => {
    // s3rver's own writes its two small files (the filtered metadata, the md5); they are synced in place.
    await putMetadata(bucket, key, metadata, md5);
    const paths = (md5 === undefined ? ['metadata.json'] : ['object.md5', 'metadata.json']).map((resource) =>
      store.getResourcePath(bucket, key, resource),
    );
    for (const path of paths) await syncPath(path, 'datasync');
    await syncPath(dirname(paths[0]!), 'sync');
  };
}

async function syncPath(path: string, how: 'datasync' | 'sync'): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await (how === 'datasync' ? handle.datasync() : handle.sync());
  } finally {
    await handle.close();
  }
}

export async function startEmbeddedObjectStore(options: {
  readonly address: string;
  readonly port: number;
  readonly directory: string;
  readonly bucket: string;
}): Promise<{ readonly server: S3rverServer; readonly port: number }> {
  const S3rver = require('s3rver') as new (options: object) => S3rverServer;
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: options.address,
    port: options.port,
    directory: options.directory,
    silent: true,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  makeDurable(server.store);
  const { port } = await server.run();
  return { server, port };
}

const USAGE = `Usage: northlight-object-store --port N --directory DIR --bucket NAME [--address 127.0.0.1]

The embedded S3-compatible object store (s3rver 3.7.1), each object synced to disk before its PUT is
answered. Port 0 picks a free one; the line "listening on ADDRESS:PORT" says which.
`;

async function main(): Promise<void> {
  let values: { address?: string; port?: string; directory?: string; bucket?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        address: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        directory: { type: 'string' },
        bucket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535 || !values.directory || !values.bucket) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const { server, port: bound } = await startEmbeddedObjectStore({
    address: values.address!,
    port,
    directory: values.directory,
    bucket: values.bucket,
  });
  process.stdout.write(
    `embedded object store listening on ${values.address}:${bound} (objects synced before answered)\n`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void server.close().finally(() => process.exit(0)));
}

// Run as a process (local-cluster.ts starts it); imported, it only exports.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url))
  main().catch((error: Error) => {
    process.stderr.write(`embedded object store: ${error.message}\n`);
    process.exit(1);
  });
