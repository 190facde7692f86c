/**
 * The `northlight` command's arguments, without a cluster: where a relative path the user gives is
 * relative to (the user's directory, which npm keeps in INIT_CWD while it runs the script in the
 * repository), the command lines the CLI prints to start a cluster again the same way, and a bad
 * `upgrade --version` refused as bad usage before any request. The same against real processes is
 * in up.test.ts.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main, userDirectory, userPath } from '../src/cli.js';
import { commandFor } from '../src/io/local-cluster.js';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('userDirectory and userPath', () => {
  const npmRun = {
    INIT_CWD: '/home/me/projects',
    npm_package_json: join(repositoryRoot, 'package.json'),
  };

  it('take the user’s directory (INIT_CWD) while npm runs the script in the repository', () => {
    expect(userDirectory(npmRun, repositoryRoot)).toBe('/home/me/projects');
    expect(userPath('.', npmRun, repositoryRoot)).toBe('/home/me/projects');
    expect(userPath('data/d1', npmRun, repositoryRoot)).toBe('/home/me/projects/data/d1');
    expect(userPath('../cluster.yaml', npmRun, repositoryRoot)).toBe('/home/me/cluster.yaml');
  });

  it('leave an absolute path as it is', () => {
    expect(userPath('/tmp/d', npmRun, repositoryRoot)).toBe('/tmp/d');
  });

  it('take the process’s directory without npm, or where an inherited INIT_CWD does not apply', () => {
    expect(userPath('d', {}, '/tmp/x')).toBe('/tmp/x/d');
    // A process started elsewhere by something npm ran: INIT_CWD is the outer npm's.
    expect(userPath('d', npmRun, '/tmp/x')).toBe('/tmp/x/d');
    // INIT_CWD alone (no npm_package_json): taken.
    expect(userPath('d', { INIT_CWD: '/home/me' }, '/tmp/x')).toBe('/home/me/d');
  });
});

describe('commandFor', () => {
  it('names the data directory, and for up what starting it again the same way needs', () => {
    expect(commandFor('/tmp/d', 'status')).toBe('npm run northlight -- status --data-dir /tmp/d');
    expect(commandFor('/tmp/d', 'up')).toBe('npm start -- --data-dir /tmp/d');
    expect(commandFor('/tmp/d', 'up', { basePort: 0 })).toBe('npm start -- --data-dir /tmp/d --base-port 0');
    expect(commandFor('/tmp/d', 'up', { basePort: 9000, file: '/tmp/my cluster.yaml' })).toBe(
      "npm start -- -f '/tmp/my cluster.yaml' --data-dir /tmp/d --base-port 9000",
    );
    expect(commandFor(join(repositoryRoot, '.northlight'), 'up')).toBe('npm start');
    expect(commandFor(join(repositoryRoot, '.northlight'), 'up', { basePort: 7500 })).toBe(
      'npm start -- --base-port 7500',
    );
  });

  it('tells npm where the repository is when the user is not inside it', () => {
    expect(commandFor('/tmp/d', 'status', {}, '/tmp')).toBe(
      `npm --prefix ${repositoryRoot} run northlight -- status --data-dir /tmp/d`,
    );
    expect(commandFor('/tmp/d', 'up', {}, '/home')).toBe(
      `npm --prefix ${repositoryRoot} start -- --data-dir /tmp/d`,
    );
    expect(commandFor('/tmp/d', 'up', {}, join(repositoryRoot, 'operator'))).toBe(
      'npm start -- --data-dir /tmp/d',
    );
    expect(commandFor('/tmp/d', 'up', {}, `${repositoryRoot}-other`)).toMatch(/^npm --prefix /);
  });
});

describe('northlight upgrade --version', () => {
  afterEach(() => vi.restoreAllMocks());

  it('refuses a malformed version as bad usage (exit 2), naming the flag, before any request', async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const fetched = vi.spyOn(globalThis, 'fetch');
    // A data directory with no cluster: were the flag not checked first, this would exit 1.
    expect(
      await main(['upgrade', '--version', 'bad version!', '--data-dir', '/nonexistent/northlight']),
    ).toBe(2);
    expect(written.join('')).toMatch(/--version 0\.1\.1/);
    expect(written.join('')).not.toMatch(/\{"version"/);
    expect(fetched).not.toHaveBeenCalled();
  });
});
