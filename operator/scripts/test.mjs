#!/usr/bin/env node
/**
 * `npm test` for the operator package: the `processes` and `unit` vitest projects (vitest.config.ts)
 * side by side, in two vitest processes. Vitest itself runs projects of one worker each one after
 * the other; side by side, the unit files (the control plane in the simulator, the stand-in API
 * server's protocol tests: CPU-bound, about 75 s) run on the core the cluster files leave idle while
 * they wait on grace periods, rate windows and leases (about 230 s), instead of after them.
 *
 * The cluster files' output streams as it comes; the unit project's is held and printed as one block
 * when it ends, so the two runs' lines do not interleave. Arguments go to both runs (a file filter
 * that matches nothing in one project is not a failure). The exit code is the first non-zero one.
 * `NORTHLIGHT_TEST_SERIAL=1` runs the projects one after the other instead.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const args = process.argv.slice(2);
const children = new Set();

/** One vitest run of one project; resolves to its exit code (1 when it was killed by a signal). */
function run(project, held) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [vitest, 'run', '--project', project, '--passWithNoTests', ...args],
      {
        stdio: held ? ['ignore', 'pipe', 'pipe'] : 'inherit',
        env: process.env,
      },
    );
    children.add(child);
    const chunks = [];
    if (held) {
      child.stdout.on('data', (chunk) => chunks.push(chunk));
      child.stderr.on('data', (chunk) => chunks.push(chunk));
    }
    child.on('error', (error) => {
      process.stderr.write(`test.mjs: could not start vitest for project ${project}: ${error.message}\n`);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      if (held) {
        process.stdout.write(`\n── vitest project "${project}" (held until it ended) ──\n`);
        process.stdout.write(Buffer.concat(chunks));
        process.stdout.write(`── end of project "${project}": exit ${code ?? signal} ──\n\n`);
      }
      resolve(code ?? 1);
    });
  });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
  });
}

const serial = process.env.NORTHLIGHT_TEST_SERIAL === '1';
const codes = serial
  ? [await run('unit', false), await run('processes', false)]
  : await Promise.all([run('processes', false), run('unit', true)]);
process.exitCode = codes.find((code) => code !== 0) ?? 0;
