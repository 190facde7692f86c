/**
 * Starts a real S3-compatible server (s3rver) for tests, in a child process, so that the test
 * runner itself needs no special flags:
 *   1. s3rver builds ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 refuses
 *      (`error:0308010C … unsupported`, HTTP 500 on every truncated list). The child runs with
 *      `--openssl-legacy-provider`, which re-enables it.
 *   2. It listens on 127.0.0.1 port 0; the port the kernel picked is read from the CLI's
 *      "S3rver listening on <address>:<port>" line, so parallel test files never collide.
 *   3. `stop()` sends SIGTERM, waits for the child to exit and then for the port to refuse
 *      connections (PID 1 on our machines reaps late, so an exited child can linger as a zombie;
 *      the port is the reliable signal), then removes the data directory.
 * s3rver accepts only the access key S3RVER with the secret S3RVER (signatures are checked).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3ClientConfig } from '@aws-sdk/client-s3';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3RVER_REGION = 'us-east-1';

/**
 * Client settings for s3rver. The checksum modes are required: with the SDK's default
 * ('WHEN_SUPPORTED') a stream body is sent aws-chunked, and s3rver stores the chunk framing as
 * object data while answering 200. `maxAttempts: 1` leaves retries to S3ObjectStore.
 */
export function s3rverClientConfig(
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string } = S3RVER_CREDENTIALS,
): S3ClientConfig {
  return {
    endpoint,
    region: S3RVER_REGION,
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** How long the child may take to print its port and accept a connection. */
const STARTUP_TIMEOUT_MS = 15_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** How long `stop()` waits for the port to close once the child has exited. */
const PORT_CLOSE_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;
/** Bytes of the child's output kept for error messages. */
const OUTPUT_KEPT_BYTES_MAX = 8_192;

export interface S3rverRig {
  /** `http://127.0.0.1:<port>`, for `S3ClientConfig.endpoint` (with `forcePathStyle: true`). */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  /** The server's process id (benchmarks read its CPU time from /proc). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface S3rverRigOptions {
  /** Created at startup. */
  readonly bucket?: string;
}

function s3rverCliPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
}

export async function startS3rver(options: S3rverRigOptions = {}): Promise<S3rverRig> {
  const bucket = options.bucket ?? 'backups';
  const directory = mkdtempSync(join(tmpdir(), 'northlight-s3rver-'));
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      s3rverCliPath(),
      '--silent',
      '-a',
      '127.0.0.1',
      '-p',
      '0',
      '-d',
      directory,
      '--configure-bucket',
      bucket,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: withoutNodeOptions(process.env) },
  );
  // Safety net: if the test process exits without calling stop(), the server must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  try {
    const port = await waitForListeningPort(child);
    await waitUntil(() => portAccepts(port), STARTUP_TIMEOUT_MS, `s3rver port ${port} to accept`);
    let stopped: Promise<void> | undefined;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      bucket,
      pid: child.pid,
      stop: () => {
        stopped ??= stopChild(child, port).finally(() => rmSync(directory, { recursive: true, force: true }));
        return stopped;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}

/** The test runner's own NODE_OPTIONS (vitest may set some) are not meant for the server. */
function withoutNodeOptions(environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _ignored, ...rest } = environment;
  return rest;
}

function waitForListeningPort(child: ChildProcess): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_BYTES_MAX);
      const match = /S3rver listening on [^\s:]+:(\d+)/.exec(output);
      if (match?.[1] !== undefined) finish(() => resolve(Number(match[1])));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(() => reject(new Error(`s3rver exited before listening (${code ?? signal}): ${output}`)));
    const timer = setTimeout(
      () =>
        finish(() => reject(new Error(`s3rver did not listen within ${STARTUP_TIMEOUT_MS} ms: ${output}`))),
      STARTUP_TIMEOUT_MS,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', keep);
      child.off('exit', onExit);
      // Keep draining the pipes so that a chatty child can never block on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      settle();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess, port: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const graceOver = sleep(STOP_GRACE_MS).then(() => 'grace-over' as const);
    if ((await Promise.race([exited, graceOver])) === 'grace-over') {
      child.kill('SIGKILL');
      await exited;
    }
  }
  await waitUntil(async () => !(await portAccepts(port)), PORT_CLOSE_TIMEOUT_MS, `port ${port} to close`);
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_INTERVAL_MS);
  }
}
