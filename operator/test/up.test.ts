/**
 * `northlight up` end to end, on real processes: the CLI starts the default cluster (six storage
 * nodes in three zones, a writer, a replica, the embedded S3 store) on free ports, and then:
 *   1. `status --json` shows every PG with six healthy copies, two per zone on distinct nodes;
 *   2. SQL works through the read-write endpoints (the writer) and the read-only ones (the replica):
 *      over HTTP, and with the real `psql` on the PostgreSQL endpoints with the password `up` made,
 *      also with sslmode=require (the cluster file gives a certificate: `spec.local.tls`);
 *      the printed hints name the (non-default) data directory and work as printed; `start-node` on a
 *      running member says so; the SQL shell prints one SQLSTATE per error, every result of a `-c`,
 *      and runs piped input's last statement without its semicolon; `kill-zone` is named as such;
 *   3. the writer is killed under a write load (`kill-node`): the control plane promotes the replica,
 *      the read-write endpoint follows it, clients see errors for a moment and then succeed, and
 *      every acknowledged row is on the new writer; the old writer comes back as a replica only
 *      after `start-node`;
 *   4. `down` stops every process and removes the state file; a second `up` on the same data
 *      directory serves the same rows, with the writer recorded at the failover;
 *   5. that `up` killed with SIGKILL leaves its members running: `status` says `down` cleans up, and
 *      `down` stops them itself, the engines before the storage nodes, and removes the state file.
 * Bad input (an invalid cluster file, TLS files that do not load, an unknown command) fails with exit
 * code 2 and starts nothing;
 * a busy port of the layout fails before anything is written or started. A relative path is relative
 * to the user's directory (INIT_CWD, where npm keeps it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@northlight/protocol/io';
import { describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './support/certificates.js';
import {
  clusterStatus,
  newDataDir,
  northlight,
  pidsAlive,
  sql,
  startUp,
  state,
  until,
} from './support/cli-rig.js';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('northlight up (real processes)', () => {
  it('runs the default cluster, fails the writer over, stops, and starts again on the same data', {
    timeout: 420_000,
  }, async () => {
    const dataDir = newDataDir('northlight-up-');
    // No cluster yet: the hint names the data directory, so that it works as printed.
    const none = northlight(['status', '--data-dir', dataDir]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain(`start one with \`npm start -- --data-dir ${dataDir}\``);
    // The default cluster, with TLS on the PostgreSQL endpoints from a certificate of our own.
    const certificate = await selfSignedCertificate(dataDir);
    const file = join(dataDir, 'tls.yaml');
    writeFileSync(
      file,
      `apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: demo }\nspec:\n  local:\n    tls: { certFile: ${certificate.certFile}, keyFile: ${certificate.keyFile} }\n`,
    );
    let up = await startUp(dataDir, ['-f', file]);
    const ports = state(dataDir).ports;

    // A member or zone the cluster does not have is bad usage (exit 2), naming the ones it has.
    const noSuch = northlight(['kill-node', 'storage-q-9', '--data-dir', dataDir]);
    expect(noSuch.status).toBe(2);
    expect(noSuch.stderr).toMatch(/no member named "storage-q-9"; members: .*storage-a-1/);
    expect(northlight(['kill-zone', 'q', '--data-dir', dataDir]).status).toBe(2);

    // 1. Six copies per PG, two per zone, on distinct nodes.
    const first = clusterStatus(dataDir);
    expect(first.storage).toHaveLength(6);
    expect(first.engines.map((engine) => [engine.name, engine.role])).toEqual([
      ['engine-1', 'writer'],
      ['engine-2', 'replica'],
    ]);
    expect(first.pgs.length).toBeGreaterThanOrEqual(1);
    expect(first.objectStore).toMatchObject({ process: 'running', ready: true });
    for (const pg of first.pgs) {
      expect(pg.health).toBe('healthy');
      expect(pg.healthyMembers).toBe(6);
      expect(Object.keys(pg.membersByZone).sort()).toEqual(['a', 'b', 'c']);
      for (const nodes of Object.values(pg.membersByZone)) expect(new Set(nodes).size).toBe(2);
    }
    // The control plane placed the PGs (its API is up before the writer asks).
    const writerLog = readFileSync(join(dataDir, 'logs', 'engine-1.log'), 'utf8');
    expect(writerLog).not.toMatch(/did not place the PG/);
    const text = northlight(['status', '--data-dir', dataDir]);
    expect(text.stdout).toMatch(/STORAGE NODES BY ZONE/);
    expect(text.stdout).toMatch(/^OBJECT STORE \(embedded\): running \(pid \d+\), ready$/m);
    expect(text.stdout).toMatch(/6\/6/);
    expect(text.stdout).toMatch(/^transport: authentication required on all 8 members$/m);

    // 2. SQL on the writer and on the replica.
    expect(
      (await sql(dataDir, ports.httpReadWrite, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)'))
        .status,
    ).toBe(200);
    expect((await sql(dataDir, ports.httpReadWrite, "INSERT INTO kv VALUES (0, 'zero')")).status).toBe(200);
    const onReplica = await until('the row on the replica', async () => {
      const answer = await sql(dataDir, ports.httpReadOnly, 'SELECT v FROM kv WHERE k = 0', true);
      return answer.status === 200 && answer.body.results[0]!.rows.length === 1 ? answer : undefined;
    });
    expect(onReplica.body.results[0]!.rows[0]).toEqual(['zero']);
    const shell = northlight(['sql', '--data-dir', dataDir, '-c', 'SELECT count(*) AS n FROM kv']);
    expect(shell.status, shell.stderr).toBe(0);
    expect(shell.stdout).toMatch(/n\s*\n1\s*\n\(1 row\)/);
    // psql on the PostgreSQL endpoints, with the URL `up` printed (its password kept in the data dir).
    const url = (port: number) =>
      `postgresql://postgres:${readFileSync(join(dataDir, 'pg-password'), 'utf8').trim()}@127.0.0.1:${port}/northlight`;
    const psql = (port: number, command: string) =>
      execFileSync('psql', [url(port), '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', command], {
        encoding: 'utf8',
        timeout: 30_000,
      });
    expect(up.output.join('')).toContain(`${url(ports.readWrite)}?sslmode=require'`);
    // Through the endpoints' TCP proxies, TLS reaches the engines: sslmode=require works on both.
    for (const port of [ports.readWrite, ports.readOnly])
      expect(
        execFileSync('psql', [`${url(port)}?sslmode=require`, '-X', '-A', '-t', '-c', 'SELECT 1'], {
          encoding: 'utf8',
          timeout: 30_000,
        }),
      ).toBe('1\n');
    expect(psql(ports.readWrite, "INSERT INTO kv VALUES (-1, 'from psql') RETURNING k")).toBe(
      '-1\nINSERT 0 1\n',
    );
    expect(
      await until('the psql row on the replica', async () => {
        const read = psql(ports.readOnly, 'SELECT v FROM kv WHERE k = -1');
        return read === 'from psql\n' ? read : undefined;
      }),
    ).toBe('from psql\n');
    expect(() =>
      execFileSync('psql', [url(ports.readWrite).replace(/:[^:@]+@/, ':wrong@'), '-X', '-c', 'SELECT 1'], {
        encoding: 'utf8',
        stdio: 'pipe',
      }),
    ).toThrow(/password authentication failed/);

    // The HTTP endpoints want the same login (HTTP Basic); the engines' admin routes want the
    // cluster's internal token, kept beside the password and readable by its owner only.
    const anonymous = await fetch(`http://127.0.0.1:${ports.httpReadWrite}/v1/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT 1' }),
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('NL_AUTH_FAILED');
    expect(statSync(join(dataDir, 'internal-token')).mode & 0o777).toBe(0o600);
    const fence = await fetch(`http://127.0.0.1:${ports.httpReadWrite}/v1/admin/fence`, { method: 'POST' });
    expect(fence.status).toBe(401);
    // So do the storage nodes' admin routes (dropping a segment, above all); their probes and metrics
    // stay open for kubelet and Prometheus.
    const storageAdmin = Object.values(ports.storage)[0]!.adminPort;
    const drop = await fetch(`http://127.0.0.1:${storageAdmin}/v1/segments/0/any`, { method: 'DELETE' });
    expect(drop.status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${storageAdmin}/v1/status`)).status).toBe(401);
    const token = readFileSync(join(dataDir, 'internal-token'), 'utf8').trim();
    const storageStatus = await fetch(`http://127.0.0.1:${storageAdmin}/v1/status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(storageStatus.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${storageAdmin}/metrics`)).status).toBe(200);
    // And so does `up`'s own control API: a web page the user opens can send a POST without a body to
    // 127.0.0.1 (a drive-by `down` or kill), and any local user can reach the port; neither holds the
    // token. The CLI reads it from the data directory.
    const control = `http://127.0.0.1:${ports.control}`;
    for (const [method, path] of [
      ['POST', '/v1/down'],
      ['POST', `/v1/members/${Object.keys(ports.storage)[0]}/kill`],
      ['POST', '/v1/zones/a/kill'],
      ['POST', '/v1/upgrade'],
      ['POST', '/v1/placement'],
      ['GET', '/v1/status'],
    ] as const) {
      const refused = await fetch(`${control}${path}`, {
        method,
        headers: { authorization: 'Bearer not-the-token-at-all' },
      });
      expect(refused.status, `${method} ${path}`).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('NL_AUTH_FAILED');
    }
    expect((await fetch(`${control}/v1/down`, { method: 'POST' })).status).toBe(401);
    // A browser's request is refused even with the token, and so is one addressed to another name
    // (DNS rebinding), even for the open routes.
    const withToken = { authorization: `Bearer ${token}` };
    expect(
      (await fetch(`${control}/v1/status`, { headers: { ...withToken, origin: 'https://example.com' } }))
        .status,
    ).toBe(403);
    const rebound = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port: ports.control,
          path: '/metrics',
          headers: { host: `rebind.example:${ports.control}` },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(rebound).toBe(403);
    expect((await fetch(`${control}/healthz`)).status).toBe(200);
    const controlMetrics = await (await fetch(`${control}/metrics`)).text();
    expect(controlMetrics).toMatch(/^northlight_control_api_auth_failures_total\{[^}]*\} 9$/m);
    expect((await fetch(`${control}/v1/status`, { headers: withToken })).status).toBe(200);
    expect(up.output.join('')).toContain(
      `(HTTP Basic: postgres and the password in ${join(dataDir, 'pg-password')})`,
    );

    // 2a. Hints that name the data directory (not the default one).
    const printed = up.output.join('');
    expect(printed).toContain(`in another terminal:  npm run northlight -- status --data-dir ${dataDir}\n`);
    expect(printed).toContain(`npm run northlight -- sql --data-dir ${dataDir}\n`);
    // The restart hint starts it the same way: the same file, on free ports again, not the default ones.
    expect(printed).toContain(
      `\`npm start -- -f ${file} --data-dir ${dataDir} --base-port 0\` again reuses its data`,
    );
    const statusLine = /in another terminal: {2}(npm run northlight -- status .*)\n/.exec(printed)![1]!;
    const viaNpm = execFileSync('sh', ['-c', statusLine], { cwd: repositoryRoot, encoding: 'utf8' });
    expect(viaNpm).toMatch(/STORAGE NODES BY ZONE/);

    // 2b. start-node on a member that runs.
    const startAgain = northlight(['start-node', 'engine-1', '--data-dir', dataDir]);
    expect(startAgain.status, startAgain.stderr).toBe(0);
    expect(startAgain.stdout).toBe('engine-1 is already running\n');
    expect(clusterStatus(dataDir).events.map((event) => event.message)).not.toContain(
      'engine-1 started by an operator',
    );

    // 2c. The SQL shell: one SQLSTATE per error, every result of -c, piped input without its last semicolon.
    const shellSql = (args: readonly string[], input?: string) =>
      northlight(['sql', '--data-dir', dataDir, ...args], input === undefined ? {} : { input });
    const created = shellSql([
      '-c',
      "CREATE TABLE shell_kv (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO shell_kv VALUES (1, 'a;b')",
    ]);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toBe('OK, 0 rows changed\n\nOK, 1 row changed\n');
    const both = shellSql(['-c', 'SELECT 1 AS one; SELECT v FROM shell_kv -- the second\n']);
    expect(both.status, both.stderr).toBe(0);
    expect(both.stdout).toBe('one\n1\n(1 row)\n\nv\na;b\n(1 row)\n');
    const failed = shellSql(['-c', 'SELECT * FROM nope']);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toBe(
      'ERROR 42P01: no such table: nope\nHINT: fix the statement; nothing was changed\n',
    );
    const piped = shellSql([], "INSERT INTO shell_kv VALUES (2, 'b');\nSELECT count(*) AS n FROM shell_kv");
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('OK, 1 row changed\n\nn\n2\n(1 row)\n');
    const pipedFailure = shellSql([], 'SELECT * FROM nope;\nSELECT 3 AS three');
    expect(pipedFailure.status).toBe(1);
    expect(pipedFailure.stdout).toMatch(/^ERROR 42P01: no such table: nope\n[\s\S]*\nthree\n3\n\(1 row\)\n$/);
    expect(pipedFailure.stderr).toMatch(/1 statement failed/);

    // 2d. kill-zone, named as such in the events.
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

    // 3. Kill the writer under load.
    const acknowledged: number[] = [];
    const failures: string[] = [];
    let next = 1;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const key = next++;
        try {
          const answer = await sql(dataDir, ports.httpReadWrite, `INSERT INTO kv VALUES (${key}, 'v${key}')`);
          if (answer.status === 200) acknowledged.push(key);
          else failures.push(`HTTP ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
        } catch (error) {
          failures.push(String((error as Error).cause ?? error));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
    await until('some load', () => (acknowledged.length >= 20 ? true : undefined));
    const killedAt = Date.now();
    expect(northlight(['kill-node', 'engine-1', '--data-dir', dataDir]).status).toBe(0);
    const countAtKill = acknowledged.length;
    await until(
      'a write acknowledged by the new writer',
      () => (acknowledged.length > countAtKill + 5 ? true : undefined),
      90_000,
    );
    const recoveredMs = Date.now() - killedAt;
    loading = false;
    await load;
    const afterFailover = clusterStatus(dataDir);
    expect(afterFailover.writer).toBe('engine-2');
    expect(afterFailover.engines.find((engine) => engine.name === 'engine-1')?.process).toBe('down');
    expect(afterFailover.events.map((event) => event.message).join('\n')).toMatch(
      /failover: writer engine-1/,
    );
    console.log(
      `failover: ${recoveredMs} ms from kill-node to 5 more acknowledged writes; failed requests: ${failures.join('; ')}`,
    );
    // The read-write endpoint holds new connections while the replica is promoted: only what was in
    // flight on the dead writer fails (one request of this sequential client, plus slack for timing).
    expect(failures.length).toBeLessThanOrEqual(3);
    const all = await sql(dataDir, ports.httpReadWrite, 'SELECT k FROM kv ORDER BY k');
    const present = new Set(all.body.results[0]!.rows.map((row) => row[0]));
    for (const key of acknowledged) expect(present.has(key), `acknowledged key ${key}`).toBe(true);

    // The old writer comes back as a replica of the new one.
    expect(northlight(['start-node', 'engine-1', '--data-dir', dataDir]).status).toBe(0);
    await until('engine-1 following as a replica', () => {
      const engine = clusterStatus(dataDir).engines.find((candidate) => candidate.name === 'engine-1');
      return engine?.ready && engine.role === 'replica' ? true : undefined;
    });

    // 4. down, then up again on the same data.
    const pids = state(dataDir).pids;
    const stopped = northlight(['down', '--data-dir', dataDir]);
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(await up.exited).toBe(0);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    await until('every member process gone', () => (pidsAlive(pids).length === 0 ? true : undefined), 20_000);

    up = await startUp(dataDir);
    const again = clusterStatus(dataDir);
    expect(again.writer).toBe('engine-2');
    const port = state(dataDir).ports.httpReadWrite;
    const rows = await sql(dataDir, port, 'SELECT count(*) FROM kv');
    expect(rows.body.results[0]!.rows[0]![0]).toBeGreaterThanOrEqual(acknowledged.length + 1);

    // 5. `up` killed with SIGKILL: its members run on (process groups of their own); `down` stops them.
    const leftPids = state(dataDir).pids;
    up.child.kill('SIGKILL');
    await up.exited;
    const killedAtMs = Date.now();
    expect(pidsAlive(leftPids)).toHaveLength(leftPids.length);
    const orphaned = northlight(['status', '--data-dir', dataDir]);
    expect(orphaned.status).toBe(1);
    expect(orphaned.stderr).toContain(
      `\`npm run northlight -- down --data-dir ${dataDir}\` stops the members it left running; ` +
        `\`npm start -- --data-dir ${dataDir} --base-port 0\` starts it again`,
    );
    const cleaned = northlight(['down', '--data-dir', dataDir]);
    expect(cleaned.status, cleaned.stderr).toBe(0);
    expect(cleaned.stdout).toMatch(/is not running \(it was killed\); stopping the members it left running/);
    expect(cleaned.stdout).toMatch(
      /stopped 2 engine\(s\), then the storage nodes and the object store \(7 process\(es\)\)/,
    );
    expect(pidsAlive(leftPids)).toEqual([]);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    // In order: every storage node logged its shutdown after both engines logged theirs.
    const stopTimes = (member: string, message: RegExp) =>
      readFileSync(join(dataDir, 'logs', `${member}.log`), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { message?: string; time?: string })
        .filter((line) => message.test(line.message ?? '') && Date.parse(line.time!) >= killedAtMs)
        .map((line) => Date.parse(line.time!));
    const engineStops = ['engine-1', 'engine-2'].flatMap((engine) => stopTimes(engine, /^stopping$/));
    const storageStops = ['a-1', 'a-2', 'b-1', 'b-2', 'c-1', 'c-2'].flatMap((node) =>
      stopTimes(`storage-${node}`, /^shutting down/),
    );
    expect(engineStops).toHaveLength(2);
    expect(storageStops).toHaveLength(6);
    for (const time of storageStops) expect(time).toBeGreaterThan(Math.max(...engineStops));
  });

  it('says why a member failed to start, in its own words, and leaves nothing running', {
    timeout: 180_000,
  }, async () => {
    // An empty password file: the writer refuses to start (SCRAM needs a password).
    const dataDir = newDataDir('northlight-startfail-');
    writeFileSync(join(dataDir, 'pg-password'), '\n', { mode: 0o600 });
    const failure = await startUp(dataDir).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/up exited with 1/);
    expect(failure).toMatch(/engine-1 exited \(code \d+\) while starting; its log: .*engine-1\.log, ending:/);
    // The engine's own last lines are quoted: the cause survives the data directory.
    expect(failure).toMatch(/is required with --pg-auth scram/);
    expect(failure).toMatch(/stopping what was started/);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    // No process of this data directory is left (their command lines name it).
    const left = (() => {
      try {
        return execFileSync('pgrep', ['-f', dataDir], { encoding: 'utf8' }).trim();
      } catch (error) {
        if ((error as { status?: number }).status === 1) return ''; // pgrep: nothing matches
        throw error;
      }
    })();
    expect(left).toBe('');
  });

  it('refuses a bad cluster file and unknown commands without starting anything', async () => {
    const dataDir = newDataDir('northlight-bad-');
    const file = join(dataDir, 'cluster.yaml');
    writeFileSync(
      file,
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: bad }\nspec:\n  storage:\n    zones:\n      - { name: a, nodes: 1 }\n      - { name: b, nodes: 2 }\n      - { name: c, nodes: 2 }\n',
    );
    const bad = northlight(['up', '-f', file, '--data-dir', dataDir]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/spec\.storage\.zones\[0\]\.nodes/);
    expect(bad.stderr).toMatch(/nothing was started/);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    expect(existsSync(join(dataDir, 'logs'))).toBe(false);
    // TLS files that do not load are found before anything starts: a missing key, a key of another
    // certificate.
    const first = await selfSignedCertificate(dataDir, 'first');
    const second = await selfSignedCertificate(dataDir, 'second');
    for (const [key, expected] of [
      [join(dataDir, 'missing.key'), /spec\.local\.tls\.keyFile: cannot read .*missing\.key \(ENOENT\)/],
      [second.keyFile, /spec\.local\.tls: .* are not a PEM certificate and its private key/],
    ] as const) {
      writeFileSync(
        file,
        `apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: tls }\nspec:\n  local:\n    tls: { certFile: ${first.certFile}, keyFile: ${key} }\n`,
      );
      const refused = northlight(['up', '-f', file, '--data-dir', join(dataDir, 'tls-data')]);
      expect(refused.status, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(expected);
      expect(refused.stderr).toMatch(/nothing was started/);
      expect(existsSync(join(dataDir, 'tls-data'))).toBe(false);
    }
    // A port is decimal digits: '' is not 0 (any free ports), nor is 0x47e0 18400.
    for (const port of ['', '0x47e0', '1e4', '7400.0']) {
      const refused = northlight(['up', '--base-port', port, '--data-dir', dataDir, '--print-spec']);
      expect(refused.status, port).toBe(2);
      expect(refused.stderr).toMatch(/a port between 1024 and 65000/);
    }
    const unknown = northlight(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const notRunning = northlight(['status', '--data-dir', dataDir]);
    expect(notRunning.status).toBe(1);
    expect(notRunning.stderr).toMatch(/no cluster is running/);

    // A relative --data-dir and -f are the user's: npm runs the script in the repository and keeps
    // the user's directory in INIT_CWD (what `npm --prefix <repo> run northlight` from elsewhere does).
    writeFileSync(
      join(dataDir, 'good.yaml'),
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: mine }\nspec: {}\n',
    );
    const viaNpm = northlight(['up', '-f', 'good.yaml', '--data-dir', 'here', '--print-spec'], {
      cwd: repositoryRoot,
      env: { INIT_CWD: dataDir, npm_package_json: join(repositoryRoot, 'package.json') },
    });
    expect(viaNpm.status, viaNpm.stderr).toBe(0);
    expect(viaNpm.stdout).toMatch(/name: mine/);
    expect(viaNpm.stdout).toContain(`dataDir: ${join(dataDir, 'here')}\n`);
  });

  it('runs the spec a data directory last ran without -f, and refuses a spec that does not fit its data', () => {
    const dataDir = newDataDir('northlight-fit-');
    const nine = join(dataDir, 'nine.yaml');
    writeFileSync(
      nine,
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: nine }\nspec:\n  storage:\n    zones:\n      - { name: a, nodes: 3 }\n      - { name: b, nodes: 3 }\n      - { name: c, nodes: 3 }\n  local: { basePort: 18600 }\n',
    );
    // What `up -f nine.yaml` leaves: the recorded spec, and data on storage-a-3 (a joiner's copies).
    const recorded = northlight(['up', '-f', nine, '--data-dir', dataDir, '--print-spec']);
    expect(recorded.status, recorded.stderr).toBe(0);
    writeFileSync(join(dataDir, 'spec.yaml'), recorded.stdout);
    mkdirSync(join(dataDir, 'storage', 'storage-a-3', 'data'), { recursive: true });
    // Without -f: that spec again, its base port included.
    const again = northlight(['up', '--data-dir', dataDir, '--print-spec']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/name: nine/);
    expect(again.stdout).toMatch(/basePort: 18600/);
    expect(again.stdout).toMatch(/\{ name: a, nodes: 3 \}|name: a\n\s+nodes: 3/);
    // A renamed cluster, or one without storage-a-3: exit 2, nothing started, and what to run instead.
    const other = join(dataDir, 'other.yaml');
    writeFileSync(
      other,
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata: { name: demo }\nspec: {}\n',
    );
    const refused = northlight(['up', '-f', other, '--data-dir', dataDir]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/it names the cluster demo, and .* holds the cluster nine/);
    expect(refused.stderr).toMatch(/it has no storage node storage-a-3, which holds data in/);
    expect(refused.stderr).toMatch(/without -f to run the spec it last ran/);
    expect(refused.stderr).toMatch(/nothing was started/);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    // A data directory from before specs were recorded: its storage directories still count.
    rmSync(join(dataDir, 'spec.yaml'));
    const unrecorded = northlight(['up', '--data-dir', dataDir]);
    expect(unrecorded.status).toBe(2);
    expect(unrecorded.stderr).toMatch(/the built-in spec does not fit the data in .*storage-a-3/);
    expect(unrecorded.stderr).toMatch(/Give the spec this data directory was made with \(-f FILE\)/);
    expect(existsSync(join(dataDir, 'logs'))).toBe(false);
  });

  it('refuses a busy port of the layout before writing or starting anything', async () => {
    const [port] = await freePorts(1);
    const busy = createServer();
    await new Promise<void>((listening) => busy.listen(port!, '127.0.0.1', listening));
    try {
      // A data directory that did not exist is not left behind.
      const parent = newDataDir('northlight-busy-');
      const fresh = join(parent, 'new');
      const refused = northlight(['up', '--data-dir', fresh, '--base-port', String(port)]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`port\\(s\\) [\\d, ]*\\b${port}\\b[\\d, ]* are in use`));
      expect(refused.stderr).toMatch(/--base-port/);
      expect(refused.stdout).not.toMatch(/stopping|stopped|starting/);
      expect(existsSync(fresh)).toBe(false);
      // One that existed keeps its files, and gets no new ones.
      writeFileSync(join(parent, 'mine.txt'), 'keep\n');
      const again = northlight(['up', '--data-dir', parent, '--base-port', String(port)]);
      expect(again.status).toBe(1);
      expect(readdirSync(parent)).toEqual(['mine.txt']);
    } finally {
      await new Promise((closed) => busy.close(closed));
    }
  });
});
