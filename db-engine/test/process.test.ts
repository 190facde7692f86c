// The engine as a real process over six real storage-node processes on loopback, spoken to over its
// HTTP API: a bank-transfer load survives kill -9 of the engine (every acknowledged transfer is there,
// the total never changes, nothing half-applied, recovery time reported), a zone down does not stop
// writes, a third node down makes writes fail as "write quorum lost" and they resume when it returns,
// the volume grows past 5 PGs, a zombie writer (old epoch, still running) is fenced and exits, and bad
// requests get typed errors while the engine stays up.
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EngineProcess,
  engineStatus,
  INTERNAL_AUTH,
  INTERNAL_TOKEN,
  removeEngineData,
  StorageFleet,
  setUpBank,
  sql,
  startEngine,
} from './support/engine-rig.js';

const ACCOUNTS = 50;
const OPENING_BALANCE = 1_000;
/** 64 pages per PG: the volume grows by a PG every 256 KiB. */
const SEGMENT_SIZE_BYTES = 256 * 1024;

const fleet = new StorageFleet(SEGMENT_SIZE_BYTES);

/**
 * POSTs a body larger than the engine's limit; the status it answers with (it answers on the headers
 * and may close before the body is written, so a write error after the answer is expected).
 */
function oversizedStatus(target: EngineProcess, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ sql: `SELECT '${'y'.repeat(bytes)}'` });
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: target.httpPort,
        method: 'POST',
        path: '/v1/sql',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
      else resolve(-1); // closed before any answer: fails the expectation instead of hanging
    });
    request.end(body);
  });
}

/** `NL_FUZZ_SEED=N` replays the HTTP fuzz with another seed (the seed is printed with the statuses). */
const FUZZ_SEED = Number(process.env.NL_FUZZ_SEED ?? 20_261_127);

/** One HTTP request as sent, whatever it holds (fetch refuses bodies on GET and some headers). */
function rawHttp(
  port: number,
  method: string,
  path: string,
  contentType: string | undefined,
  body: string | Buffer | undefined,
  authorization?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const request = httpRequest(
      { host: '127.0.0.1', port, method, path, headers, timeout: 30_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer to ${method} ${path} in 30 s`)));
    request.on('error', reject);
    request.end(body);
  });
}

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
let engine: EngineProcess;

async function total(target: EngineProcess): Promise<number> {
  const answer = await sql(target, 'SELECT sum(balance), count(*) FROM accounts', { readOnly: true });
  const log = answer.status === 200 ? '' : target.output.join('').split('\n').slice(-12).join('\n');
  expect(answer.status, `${JSON.stringify(answer.body)}\n${log}`).toBe(200);
  const [sum, count] = answer.body.results![0]!.rows[0] as [number, number];
  expect(count).toBe(ACCOUNTS);
  return sum;
}

/**
 * Closed-loop clients moving money until `untilMs` or, sooner, until `enough` transfers are
 * acknowledged (a count, not a time: a slow or busy machine takes longer, never does less); returns
 * the ids of the transfers acknowledged, which also grow in `acknowledged` while they run.
 */
async function transfers(
  target: EngineProcess,
  clients: number,
  untilMs: number,
  firstId: number,
  { enough = Number.POSITIVE_INFINITY, acknowledged = [] as number[] } = {},
) {
  const failures: string[] = [];
  let nextId = firstId;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < untilMs && acknowledged.length < enough) {
        const id = nextId++;
        const from = 1 + (id % ACCOUNTS);
        const to = 1 + ((id * 7 + 3) % ACCOUNTS);
        const amount = 1 + (id % 13);
        try {
          const answer = await sql(target, [
            { sql: 'UPDATE accounts SET balance = balance - ? WHERE id = ?', params: [amount, from] },
            { sql: 'UPDATE accounts SET balance = balance + ? WHERE id = ?', params: [amount, to] },
            {
              sql: 'INSERT INTO transfers (id, src, dst, amount) VALUES (?, ?, ?, ?)',
              params: [id, from, to, amount],
            },
          ]);
          if (answer.status === 200) acknowledged.push(id);
          else failures.push(`${answer.status} ${answer.body.code}`);
        } catch (error) {
          failures.push(String(error)); // the engine died under us: outcome unknown, not acknowledged
          return;
        }
      }
    }),
  );
  return { acknowledged, failures };
}

beforeAll(async () => {
  await fleet.start();
  engine = await startEngine(fleet, {
    args: ['--write-quorum-timeout-ms', '3000', '--cache-pages', '256', '--statement-timeout-ms', '2000'],
  });
  const setup = await setUpBank(engine, ACCOUNTS, OPENING_BALANCE);
  expect(setup.status, JSON.stringify(setup.body)).toBe(200);
}, 120_000);

afterAll(async () => {
  engine?.child.kill('SIGKILL');
  await fleet.stopAll();
  if (engine !== undefined) removeEngineData(engine);
});

describe('db-engine process over six storage-node processes', () => {
  it('keeps every acknowledged transfer and the total across kill -9 of the engine', async () => {
    // Killed under load, once 25 transfers are acknowledged (however long this machine takes).
    const acknowledged: number[] = [];
    const load = transfers(engine, 8, Date.now() + 60_000, 1, { acknowledged });
    await until(async () => acknowledged.length >= 25, 60_000);
    engine.child.kill('SIGKILL');
    await load;
    expect(acknowledged.length).toBeGreaterThanOrEqual(25);
    await engine.exited;
    engine = await startEngine(fleet, {
      dataDir: engine.dataDir,
      args: ['--write-quorum-timeout-ms', '3000', '--statement-timeout-ms', '2000'],
    });
    const status = await engineStatus(engine);
    expect(status.recovery?.durationMs).toBeGreaterThanOrEqual(0);
    expect(await total(engine)).toBe(ACCOUNTS * OPENING_BALANCE);
    const present = await sql(engine, 'SELECT id FROM transfers ORDER BY id', { readOnly: true });
    const ids = new Set(present.body.results![0]!.rows.map((row) => row[0] as number));
    const missing = acknowledged.filter((id) => !ids.has(id));
    expect(missing, 'acknowledged transfers lost').toEqual([]);
    const check = await sql(engine, 'PRAGMA integrity_check', { readOnly: true });
    expect(check.body.results![0]!.rows).toEqual([['ok']]);

    // What an operator sees of it: the recovery, the commits since, what went to each storage node.
    const moved = await sql(engine, [
      { sql: 'UPDATE accounts SET balance = balance - 1 WHERE id = 1' },
      { sql: 'UPDATE accounts SET balance = balance + 1 WHERE id = 2' },
    ]);
    expect(moved.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${engine.httpPort}/metrics`)).text();
    const value = (name: string) => {
      const line = metrics.split('\n').find((text) => text.startsWith(`${name} `));
      expect(line, `${name} in /metrics`).toBeDefined();
      return Number(line!.split(' ')[1]);
    };
    expect(value('northlight_engine_commits_total')).toBeGreaterThanOrEqual(1);
    expect(value('northlight_engine_recovery_seconds')).toBeCloseTo(status.recovery!.durationMs / 1000, 3);
    expect(value('northlight_engine_vdl')).toBeGreaterThan(0);
    expect(value('northlight_engine_pgs')).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^northlight_engine_commit_latency_seconds_count [1-9]/m);
    const byNode = metrics
      .split('\n')
      .filter((text) => text.startsWith('northlight_engine_shipped_bytes_by_node{'));
    expect(byNode.map((text) => /node="(s\d)"/.exec(text)![1]).sort()).toEqual([
      's1',
      's2',
      's3',
      's4',
      's5',
      's6',
    ]);
    for (const text of byNode) expect(Number(text.split(' ')[1])).toBeGreaterThan(0);
  }, 120_000);

  it('writes through a zone down; fails them as write quorum lost with a third node down; resumes', async () => {
    await fleet.kill('s1');
    await fleet.kill('s2');
    const zoneDown = await transfers(engine, 4, Date.now() + 30_000, 100_000, { enough: 6 });
    expect(zoneDown.acknowledged.length).toBeGreaterThan(5);
    expect(zoneDown.failures).toEqual([]);

    await fleet.kill('s3');
    const marker = (id: number) => [
      { sql: 'INSERT INTO transfers (id, src, dst, amount) VALUES (?, 0, 0, 0)', params: [id] },
    ];
    const lost = await sql(engine, marker(900_001));
    expect(lost.status).toBe(503);
    expect(lost.body.code).toBe('NL_QUORUM_LOST');
    expect(lost.body.message).toMatch(/write quorum lost/);
    const refused = await sql(engine, marker(900_002));
    expect(refused.status).toBe(503); // refused at COMMIT (57P03) or lost: never a silent OK
    // Reads of the durable volume go on, from a kernel that refuses writes.
    await until(async () => (await engineStatus(engine)).mode === 'degraded');
    expect(await total(engine)).toBe(ACCOUNTS * OPENING_BALANCE);
    const refusedWhileDegraded = await sql(engine, marker(900_003));
    expect([refusedWhileDegraded.status, refusedWhileDegraded.body.sqlstate]).toEqual([503, '57P03']);

    await fleet.restart('s3');
    const deadline = Date.now() + 30_000;
    let resumed = false;
    let attempts = 0;
    while (!resumed && Date.now() < deadline) {
      const answer = await sql(engine, marker(900_100 + attempts++));
      resumed = answer.status === 200;
      if (!resumed) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(resumed).toBe(true);
    await fleet.restart('s1');
    await fleet.restart('s2');
    expect(await total(engine)).toBe(ACCOUNTS * OPENING_BALANCE);
  }, 120_000);

  it('grows the volume past 5 PGs as rows are inserted', async () => {
    const before = Number((await engineStatus(engine)).driver.pgCount);
    const filler = 'x'.repeat(900);
    for (let batch = 0; batch < 8; batch++) {
      const answer = await sql(engine, [
        { sql: 'CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, body TEXT)' },
        ...Array.from({ length: 200 }, (_, index) => ({
          sql: 'INSERT INTO blobs (id, body) VALUES (?, ?)',
          params: [batch * 200 + index, filler],
        })),
      ]);
      const log = answer.status === 200 ? '' : engine.output.join('').split('\n').slice(-8).join('\n');
      expect(answer.status, `${JSON.stringify(answer.body)}\n${log}`).toBe(200);
    }
    const after = Number((await engineStatus(engine)).driver.pgCount);
    expect(after).toBeGreaterThan(5);
    expect(after).toBeGreaterThan(before);
    const count = await sql(engine, 'SELECT count(*), sum(length(body)) FROM blobs', { readOnly: true });
    expect(count.body.results![0]!.rows).toEqual([[1600, 1600 * 900]]);
  }, 120_000);

  it('answers bad requests with typed errors and stays up, with no partial commit', async () => {
    const syntax = await sql(engine, 'SELEC nonsense');
    expect([syntax.status, syntax.body.sqlstate]).toEqual([400, '42601']);
    const unknown = await sql(engine, 'SELECT * FROM nowhere');
    expect([unknown.status, unknown.body.sqlstate]).toEqual([400, '42P01']);
    const duplicate = await sql(engine, [
      { sql: 'UPDATE accounts SET balance = balance - 500 WHERE id = 4' },
      { sql: 'INSERT INTO accounts (id, balance) VALUES (1, 0)' },
    ]);
    expect([duplicate.status, duplicate.body.sqlstate]).toEqual([400, '23505']);
    expect(await total(engine)).toBe(ACCOUNTS * OPENING_BALANCE); // the first UPDATE was rolled back
    const wrongShape = await fetch(`http://127.0.0.1:${engine.httpPort}/v1/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ statements: [{ sql: 'SELECT 1', params: [{ nested: true }] }] }),
    });
    expect(wrongShape.status).toBe(400);
    const notJson = await fetch(`http://127.0.0.1:${engine.httpPort}/v1/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sql": ',
    });
    expect(notJson.status).toBe(400);
    // Over the 1 MiB default limit, but small enough for the socket to take it all before the answer
    // (the server answers 413 on the headers; a much larger body would meet a closed socket).
    expect(await oversizedStatus(engine, 1024 * 1024 + 64 * 1024)).toBe(413);
    const stillUp = await sql(engine, 'SELECT 1', { readOnly: true });
    expect(stillUp.body.results![0]!.rows).toEqual([[1]]);
  }, 60_000);

  it('tags BLOBs and integers past 2^53 when asked (valueFormat), so they can be told from TEXT', async () => {
    const query = "SELECT x'00ff', 9007199254740993, -9007199254740993, 1, 'AP8=', NULL, 1.5";
    const ask = async (valueFormat?: string) => {
      const answer = await fetch(`http://127.0.0.1:${engine.httpPort}/v1/sql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          sql: query,
          readOnly: true,
          ...(valueFormat === undefined ? {} : { valueFormat }),
        }),
      });
      return { status: answer.status, body: (await answer.json()) as { results?: { rows: unknown[][] }[] } };
    };
    expect((await ask()).body.results![0]!.rows).toEqual([
      ['AP8=', '9007199254740993', '-9007199254740993', 1, 'AP8=', null, 1.5],
    ]);
    expect((await ask('tagged')).body.results![0]!.rows).toEqual([
      [
        { bytes: '00ff' },
        { integer: '9007199254740993' },
        { integer: '-9007199254740993' },
        1,
        'AP8=',
        null,
        1.5,
      ],
    ]);
    expect((await ask('binary')).status).toBe(400);
  });

  it('stops a runaway query at its statement timeout or when its client hangs up; nobody waits behind it', async () => {
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    const post = (body: unknown, signal?: AbortSignal) =>
      fetch(`http://127.0.0.1:${engine.httpPort}/v1/sql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(signal === undefined ? {} : { signal }),
      });
    // A write and the runaway query in one request: stopped at its timeout, all of it rolled back.
    const startedMs = Date.now();
    const runaway = post({
      statements: [{ sql: 'UPDATE accounts SET balance = balance + 1 WHERE id = 1' }, { sql: endless }],
      statementTimeoutMs: 500,
    });
    const behind = sql(engine, 'SELECT count(*) FROM accounts', { readOnly: true });
    const answer = await runaway;
    expect(answer.status).toBe(408);
    expect(await answer.json()).toMatchObject({
      sqlstate: '57014',
      message: expect.stringMatching(/statement timeout: the request ran longer than 500 ms/),
      action: expect.stringMatching(/statementTimeoutMs/),
    });
    expect(Date.now() - startedMs).toBeLessThan(15_000);
    expect((await behind).body.results![0]!.rows).toEqual([[ACCOUNTS]]);
    expect(await total(engine)).toBe(ACCOUNTS * OPENING_BALANCE);

    // No timeout, but the client hangs up: stopped too, and the next request is served at once.
    const hangUp = new AbortController();
    const abandoned = post({ sql: endless, readOnly: true, statementTimeoutMs: 0 }, hangUp.signal).catch(
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    hangUp.abort();
    expect(await abandoned).toMatchObject({ name: 'AbortError' });
    const next = await sql(engine, 'SELECT 1', { readOnly: true, timeoutMs: 10_000 });
    expect(next.body.results![0]!.rows).toEqual([[1]]);
  }, 60_000);

  it('fuzz: random and hostile HTTP requests get typed 4xx answers, never a 5xx; nothing changes, nothing logs ERROR', async () => {
    const setup = await sql(engine, 'CREATE TABLE IF NOT EXISTS fuzz_scratch (v)');
    expect(setup.status).toBe(200);
    const before = await total(engine);
    const outputBefore = engine.output.length;
    const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    const statementText = fc.oneof(
      fc.constantFrom(
        'SELECT 1',
        'SELECT ?',
        'SELECT * FROM accounts WHERE id = ?',
        'SELECT sum(balance) FROM accounts',
        'INSERT INTO fuzz_scratch VALUES (?)',
        'UPDATE accounts SET balance = balance WHERE id = ?',
        'SELEC 1',
        'SELECT * FROM nowhere',
        'SELECT nosuch FROM accounts',
        'PRAGMA writable_schema = 1',
        "ATTACH DATABASE 'elsewhere.db' AS other",
        'BEGIN',
        'COMMIT',
        'ROLLBACK',
        'SAVEPOINT s',
        'VACUUM',
        'SELECT randomblob(?)',
        'SELECT zeroblob(2000000000)',
        "SELECT printf('%.*c', 100000000, 'x')",
        'SELECT load_extension(?)',
        'CREATE TEMP TABLE t(x)',
        'DROP TABLE nowhere',
        endless,
        '',
        ';',
        '-- only a comment',
        'SELECT 1; SELECT 2',
        "SELECT '\u0000'",
      ),
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    const param = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 20 }),
      fc.boolean(),
      fc.constant(null),
      fc.constant(2 ** 53 + 2),
      fc.constant('-9223372036854775809'),
      fc.object({ maxDepth: 2 }),
      fc.array(fc.integer(), { maxLength: 3 }),
    );
    // Not 0 ("no limit"): an endless statement would then run until this client gives up, which is
    // the hang-up case tested above, not a typed answer.
    const timeout = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: -5, max: 300 }).filter((ms) => ms !== 0),
      fc.constantFrom(0.5, '100', 1e12, null),
    );
    const sqlBody = fc.oneof(
      fc.record(
        {
          sql: statementText,
          params: fc.array(param, { maxLength: 4 }),
          readOnly: fc.boolean(),
          statementTimeoutMs: timeout,
        },
        { requiredKeys: ['sql'] },
      ),
      fc.record(
        {
          statements: fc.array(
            fc.record(
              { sql: statementText, params: fc.array(param, { maxLength: 3 }) },
              { requiredKeys: [] },
            ),
            { maxLength: 4 },
          ),
          readOnly: fc.oneof(fc.boolean(), fc.constant('yes')),
          statementTimeoutMs: timeout,
          sql: fc.constant('SELECT 1'),
        },
        { requiredKeys: [] },
      ),
    );
    const body = fc.oneof(
      { weight: 5, arbitrary: sqlBody.map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '{"sql": ',
          '[]',
          'null',
          '{"sql": "SELECT 1"}'.repeat(3),
          '{"__proto__": {"x": 1}}',
        ),
      },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
    // Mostly the rig's token (so the routes behind it are reached), else missing or broken credentials.
    const authorization = fc.oneof(
      { weight: 4, arbitrary: fc.constant(INTERNAL_AUTH.authorization) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          undefined,
          'Bearer wrong-token-0000000000',
          `bearer   ${INTERNAL_TOKEN}  `,
          `Bearer ${INTERNAL_TOKEN}x`,
          `Basic ${Buffer.from('postgres:secret').toString('base64')}`,
          `Basic ${Buffer.from(INTERNAL_TOKEN).toString('base64')}`,
          'Basic !!not-base64!!',
          'Basic',
          'Bearer',
          'Digest username="x"',
          `Bearer ${'t'.repeat(10_000)}`,
        ),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }).filter((text) => /^[\x20-\x7e]*$/.test(text)) },
    );
    const sqlRequest = fc.record({
      authorization,
      method: fc.constant('POST'),
      path: fc.constantFrom('/v1/sql', '/v1/sql?readOnly=1'),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8'),
      body: sqlBody.map((value): string | Buffer | undefined => JSON.stringify(value)),
    });
    const anyRequest = fc.record({
      authorization,
      method: fc.constantFrom('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path: fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(
            '/v1/sql',
            '/v1/sql',
            '/v1/sql',
            '/v1/status',
            '/healthz',
            '/readyz',
            '/metrics',
            '/v1/volume',
            '/v1/replication/feedback',
            '/v1/admin/membership',
            '/v1/sql/',
            '//v1/sql',
            '/v1/SQL',
            '/v1/sql?readOnly=true&x=%zz',
            '/%',
            '/..%2f..%2fetc%2fpasswd',
            `/${'a'.repeat(5_000)}`,
          ),
        },
        { weight: 1, arbitrary: fc.webPath() },
      ),
      contentType: fc.constantFrom(
        'application/json',
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/octet-stream',
        'multipart/form-data; boundary=x',
        undefined,
      ),
      body,
    });
    const request = fc.oneof({ weight: 3, arbitrary: sqlRequest }, { weight: 2, arbitrary: anyRequest });
    const answered: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(request, async (case_) => {
        const bodyBytes = case_.method === 'GET' || case_.method === 'HEAD' ? undefined : case_.body;
        const answer = await rawHttp(
          engine.httpPort,
          case_.method,
          case_.path,
          case_.contentType,
          bodyBytes,
          case_.authorization,
        );
        answered[answer.status] = (answered[answer.status] ?? 0) + 1;
        expect(
          answer.status,
          `${case_.method} ${case_.path.slice(0, 80)} ${String(bodyBytes).slice(0, 200)}: ${answer.text.slice(0, 300)}`,
        ).toBeLessThan(500);
        if (answer.status >= 400 && case_.method !== 'HEAD') {
          const error = JSON.parse(answer.text) as { code?: unknown; message?: unknown };
          expect(typeof error.code, answer.text).toBe('string');
          expect(typeof error.message, answer.text).toBe('string');
        }
      }),
      { seed: FUZZ_SEED, numRuns: 300, endOnFailure: true },
    );
    console.log(`http fuzz (seed ${FUZZ_SEED}): statuses ${JSON.stringify(answered)}`);
    expect(Object.keys(answered).some((status) => status.startsWith('2'))).toBe(true);
    expect(Object.keys(answered).some((status) => status.startsWith('4'))).toBe(true);
    // Nothing it was not asked to change changed, the engine serves, and nothing was logged at ERROR.
    expect(await total(engine)).toBe(before);
    expect((await fetch(`http://127.0.0.1:${engine.httpPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${engine.httpPort}/readyz`)).status).toBe(200);
    expect(engine.child.exitCode).toBeNull();
    const errors = engine.output
      .slice(outputBefore)
      .join('')
      .split('\n')
      .filter((line) => line.includes('"level":"error"'));
    expect(errors).toEqual([]);
  }, 240_000);

  it('fences a zombie writer: a second engine recovers the volume and the first exits without acknowledging', async () => {
    engine.child.kill('SIGSTOP'); // still running, but silent: a partition or a long pause
    // The new writer has its own node id, as a new pod would: storage answers each engine on its
    // own connections (an engine with the same id would take the old one's answers).
    const replacement = await startEngine(fleet, {
      dataDir: engine.dataDir,
      args: ['--write-quorum-timeout-ms', '3000', '--node-id', 'engine-2'],
    });
    try {
      expect(await total(replacement)).toBe(ACCOUNTS * OPENING_BALANCE);
      engine.child.kill('SIGCONT');
      const zombie = await sql(engine, [
        { sql: 'UPDATE accounts SET balance = balance + 1000000 WHERE id = 5' },
      ]).catch((error: unknown) => ({ status: 0, body: { code: String(error) } }));
      expect(zombie.status).not.toBe(200);
      const exitCode = await Promise.race([
        engine.exited,
        new Promise<string>((resolve) =>
          setTimeout(
            () => resolve(`still running:\n${engine.output.join('').split('\n').slice(-15).join('\n')}`),
            30_000,
          ),
        ),
      ]);
      expect(exitCode).toBe(3);
      expect(engine.output.join('')).toMatch(/fenced/);
      expect(await total(replacement)).toBe(ACCOUNTS * OPENING_BALANCE);
    } finally {
      engine = replacement;
    }
  }, 120_000);
});
