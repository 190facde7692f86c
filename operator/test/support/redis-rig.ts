/**
 * Starts a real, throwaway redis-server for a test file: loopback only, a free port, no persistence,
 * a temporary working directory; and stops it (SIGTERM, then SIGKILL if it lingers) and removes the
 * directory. Never touches a system Redis. `pause`/`resume` (SIGSTOP/SIGCONT) make a server that
 * accepts connections but never answers, for timeout tests. If the test process exits without
 * calling `stop`, an exit hook kills the server so none is left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '@northlight/protocol/io';

const REDIS_SERVER = process.env.NORTHLIGHT_REDIS_SERVER ?? 'redis-server';
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** Another process may take the free port between picking it and redis binding it: try again. */
const START_ATTEMPTS_MAX = 5;
/** Server output kept for error messages. */
const OUTPUT_LINES_MAX = 200;

export interface RedisRig {
  readonly port: number;
  readonly url: string;
  /** Server output so far, for failure messages. */
  readonly output: readonly string[];
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Resolves once the server logs that it accepts connections; rejects if it exits or stays silent. */
function waitUntilReady(child: ChildProcess, output: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`redis-server not ready after ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '' && output.length < OUTPUT_LINES_MAX) output.push(line);
        if (line.includes('Ready to accept connections')) finish(undefined);
      }
    };
    const onExit = (code: number | null): void => finish(new Error(`redis-server exited (code ${code})`));
    const onError = (error: Error): void =>
      finish(new Error(`cannot run ${REDIS_SERVER} (${error.message}); install the redis-server package`));
    function finish(error: Error | undefined): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function startOnce(directory: string): Promise<RedisRig> {
  const [port] = (await freePorts(1)) as [number];
  const output: string[] = [];
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    if (output.length < OUTPUT_LINES_MAX) output.push(chunk.toString('utf8'));
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  try {
    await waitUntilReady(child, output);
  } catch (error) {
    process.off('exit', killOnExit);
    child.kill('SIGKILL');
    await exitOf(child);
    throw new Error(`${(error as Error).message}\n${output.join('\n')}`);
  }
  // Keep draining the pipe so a chatty server never blocks on a full one.
  child.stdout?.on('data', () => {});
  let paused = false;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    output,
    pause() {
      child.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      if (paused) child.kill('SIGCONT');
      paused = false;
    },
    async stop() {
      if (paused) child.kill('SIGCONT');
      paused = false;
      const exited = exitOf(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      process.off('exit', killOnExit);
    },
  };
}

export async function startRedis(): Promise<RedisRig> {
  const directory = mkdtempSync(join(tmpdir(), 'northlight-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS_MAX; attempt++) {
    try {
      const rig = await startOnce(directory);
      return {
        ...rig,
        async stop() {
          await rig.stop();
          rmSync(directory, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
    }
  }
  rmSync(directory, { recursive: true, force: true });
  throw lastError;
}
