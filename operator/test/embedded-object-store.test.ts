/**
 * The embedded object store of `northlight up` (src/io/embedded-object-store.ts) as the local platform
 * runs it: a real process, s3rver with durable writes, used through the storage nodes' own S3 client
 * (storage-node S3ObjectStore). What it proves:
 *   - put, get, list and delete work as the storage nodes use them, with object keys that nest;
 *   - once a put is answered, the object's file on disk holds exactly its bytes (s3rver alone answered
 *     a buffer body before writing it), no temporary file is left, and its metadata files are there;
 *   - an object overwritten is replaced whole (written beside, then renamed over);
 *   - `writeDurably` writes, replaces, and leaves nothing else in the directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../storage-node/src/io/s3-object-store.js';
import { s3rverClientConfig } from '../../storage-node/test/support/s3rver-rig.js';
import { writeDurably } from '../src/io/embedded-object-store.js';

const require = createRequire(import.meta.url);
const BUCKET = 'northlight-backups';
const entry = new URL('../src/io/embedded-object-store.ts', import.meta.url).pathname;

let child: ChildProcess;
let directory: string;
let store: S3ObjectStore;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'northlight-embedded-s3-'));
  child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      '--import',
      require.resolve('tsx'),
      entry,
      '--port',
      '0',
      '--directory',
      join(directory, 'objects'),
      '--bucket',
      BUCKET,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no port after 20 s: ${output}`)), 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on [\d.]+:(\d+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      resolve(Number(match[1]));
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  store = new S3ObjectStore({ bucket: BUCKET, clientConfig: s3rverClientConfig(`http://127.0.0.1:${port}`) });
}, 30_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  rmSync(directory, { recursive: true, force: true });
});

/** s3rver 3.7.1's layout: `<dir>/<bucket>/<key>._S3rver_<resource>`. */
function onDisk(key: string, resource: string): string {
  return join(directory, 'objects', BUCKET, `${key}._S3rver_${resource}`);
}

describe('the embedded object store', () => {
  it('stores what the storage nodes put, on disk by the time the put is answered', async () => {
    const keys = ['pg0/seg1/chunk-00000001', 'pg0/seg1/base-00000002', 'pg1/manifest'];
    const bodies = keys.map((_, index) => randomBytes(64 * 1024 * (index + 1)));
    for (const [index, key] of keys.entries()) {
      await store.put(key, bodies[index]!);
      // Answered: the whole object is in its file already, and its metadata beside it.
      expect(readFileSync(onDisk(key, 'object')).equals(bodies[index]!), key).toBe(true);
      expect(readFileSync(onDisk(key, 'object.md5'), 'utf8')).toMatch(/^[0-9a-f]{32}$/);
      expect(JSON.parse(readFileSync(onDisk(key, 'metadata.json'), 'utf8'))).toBeTypeOf('object');
    }
    for (const [index, key] of keys.entries())
      expect(Buffer.from((await store.get(key))!).equals(bodies[index]!)).toBe(true);
    expect((await store.list('pg0/')).sort()).toEqual(keys.slice(0, 2).sort());
    expect(await store.get('pg9/absent')).toBeUndefined();
    // No temporary file left anywhere.
    const files = readdirSync(join(directory, 'objects'), { recursive: true }).map(String);
    expect(files.filter((file) => file.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces an object whole when it is put again, and deletes it', async () => {
    const key = 'pg2/seg3/manifest';
    await store.put(key, Buffer.alloc(100_000, 1));
    await store.put(key, Buffer.from('short'));
    expect(readFileSync(onDisk(key, 'object'), 'utf8')).toBe('short');
    expect(Buffer.from((await store.get(key))!).toString()).toBe('short');
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();
  });

  it('writeDurably writes and replaces a file, leaving nothing else beside it', async () => {
    const dir = join(directory, 'direct', 'nested');
    const path = join(dir, 'file');
    await writeDurably(path, Buffer.from('first'));
    await writeDurably(path, Buffer.from('second, longer'));
    expect(readFileSync(path, 'utf8')).toBe('second, longer');
    expect(readdirSync(dir)).toEqual(['file']);
  });
});
