/**
 * The operator as a real process for end-to-end tests: `operator/src/k8s/main.ts --kubeconfig …`
 * (bundled: protocol's `io/node-entry.ts`), its output in a log file, stopped with SIGTERM (SIGKILL after a grace period).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgs } from '@northlight/protocol/io';

const operatorRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const STOP_GRACE_MS = 10_000;

export interface OperatorProcessOptions {
  readonly kubeconfig: string;
  readonly controlPort: number;
  /** The Prometheus endpoint (0: off). */
  readonly metricsPort?: number;
  readonly logFile: string;
  readonly extraArgs?: readonly string[];
}

export class OperatorProcess {
  readonly #child: ChildProcess;
  readonly #logFile: string;

  private constructor(child: ChildProcess, logFile: string) {
    this.#child = child;
    this.#logFile = logFile;
  }

  static async start(options: OperatorProcessOptions): Promise<OperatorProcess> {
    const log = openSync(options.logFile, 'a');
    const { NODE_OPTIONS: _ignored, ...environment } = process.env;
    const child = spawn(
      process.execPath,
      [
        ...nodeEntryArgs(resolve(operatorRoot, 'src', 'k8s', 'main.ts')),
        '--kubeconfig',
        options.kubeconfig,
        '--namespace',
        'default',
        '--control-host',
        '127.0.0.1',
        '--control-port',
        String(options.controlPort),
        '--control-advertise-url',
        `http://127.0.0.1:${options.controlPort}`,
        '--metrics-port',
        String(options.metricsPort ?? 0),
        ...(options.extraArgs ?? []),
      ],
      { cwd: operatorRoot, env: environment, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const operator = new OperatorProcess(child, options.logFile);
    const deadline = Date.now() + 30_000;
    while (!operator.log().includes('starting')) {
      if (child.exitCode !== null)
        throw new Error(`the operator exited (${child.exitCode}):\n${operator.log()}`);
      if (Date.now() > deadline) throw new Error(`the operator did not start:\n${operator.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return operator;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exitCode(): number | null {
    return this.#child.exitCode;
  }

  log(): string {
    try {
      return readFileSync(this.#logFile, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines: number): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Lines the operator logged as errors (a human must look): a test fails on any it did not expect. */
  errorLines(): string[] {
    return this.log()
      .split('\n')
      .filter((line) => / ERROR /.test(line));
  }

  /** SIGTERM, then SIGKILL if it has not exited in time; resolves with its exit code. */
  async stop(): Promise<number | null> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    return child.exitCode;
  }
}
