/**
 * The commands that operate a running `up`, on real processes, for a cluster in a data directory
 * that is not the default one (so every hint must name it):
 *   1. the hints print commands that work as printed: `status` with no cluster says how to start one
 *      there, `up` says how to reach it, and its printed `status` command runs (through npm);
 *   2. `start-node` on a running member says so instead of claiming to have started it;
 *   3. the SQL shell prints one SQLSTATE per error, every statement's result of a `-c`, and runs the
 *      last statement of piped input even without its semicolon (exit 1 when one failed);
 *   4. `kill-zone` is named as such in the events;
 *   5. an upgrade survives a restart: after `upgrade --version 0.1.1`, `down` and `up` again, every
 *      member runs 0.1.1, and `up` says so as it starts them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { clusterStatus, newDataDir, northlight, startUp, until } from './support/cli-rig.js';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('northlight commands on a running up (real processes)', () => {
  it('prints working hints, answers start-node truthfully, runs the SQL shell, names kill-zone, keeps an upgrade', {
    timeout: 600_000,
  }, async () => {
    const dataDir = newDataDir('northlight-commands-');

    // 1. Hints that name the data directory.
    const none = northlight(['status', '--data-dir', dataDir]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain(`start one with \`npm start -- --data-dir ${dataDir}\``);
    let up = await startUp(dataDir);
    const printed = up.output.join('');
    expect(printed).toContain(`in another terminal:  npm run northlight -- status --data-dir ${dataDir}\n`);
    expect(printed).toContain(`npm run northlight -- sql --data-dir ${dataDir}\n`);
    expect(printed).toContain(`\`npm start -- --data-dir ${dataDir}\` again reuses its data`);
    const statusLine = /in another terminal: {2}(npm run northlight -- status .*)\n/.exec(printed)![1]!;
    const viaNpm = execFileSync('sh', ['-c', statusLine], { cwd: repositoryRoot, encoding: 'utf8' });
    expect(viaNpm).toMatch(/STORAGE NODES BY ZONE/);

    // 2. start-node on a member that runs.
    const again = northlight(['start-node', 'engine-1', '--data-dir', dataDir]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe('engine-1 is already running\n');
    expect(clusterStatus(dataDir).events.map((event) => event.message)).not.toContain(
      'engine-1 started by an operator',
    );

    // 3. The SQL shell.
    const sql = (args: readonly string[], input?: string) =>
      northlight(['sql', '--data-dir', dataDir, ...args], input === undefined ? {} : { input });
    const created = sql([
      '-c',
      "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO kv VALUES (1, 'a;b')",
    ]);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toBe('OK, 0 rows changed\n\nOK, 1 row changed\n');
    const both = sql(['-c', 'SELECT 1 AS one; SELECT v FROM kv -- the second\n']);
    expect(both.status, both.stderr).toBe(0);
    expect(both.stdout).toBe('one\n1\n(1 row)\n\nv\na;b\n(1 row)\n');
    const failed = sql(['-c', 'SELECT * FROM nope']);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toBe(
      'ERROR 42P01: no such table: nope\nHINT: fix the statement; nothing was changed\n',
    );
    const piped = sql([], "INSERT INTO kv VALUES (2, 'b');\nSELECT count(*) AS n FROM kv");
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('OK, 1 row changed\n\nn\n2\n(1 row)\n');
    const pipedFailure = sql([], 'SELECT * FROM nope;\nSELECT 3 AS three');
    expect(pipedFailure.status).toBe(1);
    expect(pipedFailure.stdout).toMatch(/^ERROR 42P01: no such table: nope\n[\s\S]*\nthree\n3\n\(1 row\)\n$/);
    expect(pipedFailure.stderr).toMatch(/1 statement failed/);

    // 4. kill-zone, named as such.
    const killed = northlight(['kill-zone', 'b', '--data-dir', dataDir]);
    expect(killed.status, killed.stderr).toBe(0);
    expect(killed.stdout).toBe(
      'killed storage-b-1; it stays down until start-zone b\nkilled storage-b-2; it stays down until start-zone b\n',
    );
    const events = clusterStatus(dataDir).events.map((event) => event.message);
    expect(events).toContain(
      'storage-b-1 killed by an operator (kill-zone b); it stays down until start-zone b',
    );
    expect(events.join('\n')).not.toMatch(/kill-node/);
    expect(northlight(['start-zone', 'b', '--data-dir', dataDir]).stdout).toBe(
      'started storage-b-1\nstarted storage-b-2\n',
    );
    await until('every storage node ready', () =>
      clusterStatus(dataDir).storage.every((node) => node.ready) ? true : undefined,
    );

    // 5. An upgrade, then a restart.
    const upgraded = northlight(['upgrade', '--version', '0.1.1', '--data-dir', dataDir]);
    expect(upgraded.status, upgraded.stderr).toBe(0);
    expect(northlight(['down', '--data-dir', dataDir]).status).toBe(0);
    expect(await up.exited).toBe(0);
    expect(existsSync(join(dataDir, 'versions.json'))).toBe(true);
    up = await startUp(dataDir);
    const restarted = up.output.join('');
    expect(restarted).toMatch(/starting 6 storage nodes in zones a, b, c \(version 0\.1\.1\)/);
    expect(restarted).toMatch(/starting the writer engine-\d \(volume recovery; version 0\.1\.1\)/);
    const after = clusterStatus(dataDir);
    expect([...after.storage, ...after.engines].map((member) => member.version)).toEqual(
      Array(8).fill('0.1.1'),
    );
    expect(northlight(['down', '--data-dir', dataDir]).status).toBe(0);
    expect(await up.exited).toBe(0);
  });
});
