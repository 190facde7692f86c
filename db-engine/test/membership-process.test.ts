// A repair on real processes, the control plane played by the test over HTTP: the engine writes a
// bank-transfer load over seven storage-node processes (s7 a spare in zone a; every node stages to a
// real S3 server, s3rver, so that a new segment can start from a peer's backup once peers have
// collected their early records). kill -9 of s1, then the replacement of pg0-s1 by pg0-s7:
//   begin     POST /v1/segments on s7 (pg0-s7, the union membership, epoch e+1), PUT …/membership on
//             the survivors, POST /v1/admin/membership on the writer (two configurations, pg0-s7
//             hydrating) — writes go on throughout;
//   hydrated  pg0-s7's SCL (storage GET /v1/status) reaches the writer's VDL at the begin and the
//             writer's hydration target;
//   complete  PUT …/membership at e+2 on the new members, POST /v1/admin/membership (one configuration).
// Then writes are still acknowledged with s1 dead, every acknowledged transfer is there and the total
// never changed, GET /v1/volume shows the new membership, and after kill -9 of the engine it recovers
// on the new configuration alone. The routes' refusals are checked on the way: 409 NL_MEMBERSHIP_STALE
// for an older epoch (writer and storage), 400 NL_CONFIG_INVALID for a node the engine does not know,
// 404 for an unknown segment, 400 for a bad body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../../storage-node/test/support/process-rig.js';
import {
  S3RVER_CREDENTIALS,
  type S3rverRig,
  startS3rver,
} from '../../storage-node/test/support/s3rver-rig.js';
import {
  type EngineProcess,
  engineStatus,
  INTERNAL_AUTH,
  removeEngineData,
  StorageFleet,
  type StorageName,
  setUpBank,
  sql,
  startEngine,
} from './support/engine-rig.js';

const ACCOUNTS = 50;
const OPENING_BALANCE = 1_000;
/** 4 MiB PGs: the whole test stays in PG 0. */
const SEGMENT_SIZE_BYTES = 4 * 1024 * 1024;
const ENGINE_ARGS = ['--write-quorum-timeout-ms', '5000'];

let s3: S3rverRig;
let fleet: StorageFleet;
let engine: EngineProcess;

beforeAll(async () => {
  s3 = await startS3rver({ bucket: 'northlight-repair' });
  fleet = new StorageFleet(SEGMENT_SIZE_BYTES, [], 200, {
    names: ['s1', 's2', 's3', 's4', 's5', 's6', 's7'],
    storageArgs: [
      '--s3-bucket',
      s3.bucket,
      '--s3-endpoint',
      s3.endpoint,
      '--s3-access-key-id',
      S3RVER_CREDENTIALS.accessKeyId,
      '--s3-prefix',
      'volume/',
      '--backup-interval-ms',
      '100',
    ],
    storageEnv: { NORTHLIGHT_S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey },
  });
  await fleet.start();
  engine = await startEngine(fleet, { args: ENGINE_ARGS });
  const setup = await setUpBank(engine, ACCOUNTS, OPENING_BALANCE);
  expect(setup.status, JSON.stringify(setup.body)).toBe(200);
}, 120_000);

afterAll(async () => {
  engine?.child.kill('SIGKILL');
  await fleet?.stopAll();
  if (engine !== undefined) removeEngineData(engine);
  await s3?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Closed-loop clients moving money until stopped; the ids of the transfers acknowledged, with when. */
class Load {
  readonly acknowledged: { id: number; atMs: number }[] = [];
  readonly failures: string[] = [];
  #stopped = false;
  #nextId: number;
  readonly #done: Promise<void>;

  constructor(target: () => EngineProcess, clients: number, firstId: number) {
    this.#nextId = firstId;
    this.#done = Promise.all(
      Array.from({ length: clients }, async () => {
        while (!this.#stopped) {
          const id = this.#nextId++;
          const from = 1 + (id % ACCOUNTS);
          const to = 1 + ((id * 7 + 3) % ACCOUNTS);
          const amount = 1 + (id % 13);
          try {
            const answer = await sql(target(), [
              { sql: 'UPDATE accounts SET balance = balance - ? WHERE id = ?', params: [amount, from] },
              { sql: 'UPDATE accounts SET balance = balance + ? WHERE id = ?', params: [amount, to] },
              {
                sql: 'INSERT INTO transfers (id, src, dst, amount) VALUES (?, ?, ?, ?)',
                params: [id, from, to, amount],
              },
            ]);
            if (answer.status === 200) this.acknowledged.push({ id, atMs: Date.now() });
            else this.failures.push(`${answer.status} ${answer.body.code}`);
          } catch (error) {
            this.failures.push(String(error)); // outcome unknown: not acknowledged
            await sleep(50);
          }
        }
      }),
    ).then(() => undefined);
  }

  acknowledgedSince(ms: number): number {
    return this.acknowledged.filter((entry) => entry.atMs >= ms).length;
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.#done;
  }
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function checkBank(target: EngineProcess, acknowledged: readonly number[]): Promise<void> {
  const sum = await sql(target, 'SELECT sum(balance), count(*) FROM accounts', { readOnly: true });
  expect(sum.status, JSON.stringify(sum.body)).toBe(200);
  expect(sum.body.results![0]!.rows[0]).toEqual([ACCOUNTS * OPENING_BALANCE, ACCOUNTS]);
  const present = await sql(target, 'SELECT id FROM transfers', { readOnly: true });
  const ids = new Set(present.body.results![0]!.rows.map((row) => row[0] as number));
  expect(
    acknowledged.filter((id) => !ids.has(id)),
    'acknowledged transfers lost',
  ).toEqual([]);
}

interface VolumePg {
  pgId: number;
  membershipEpoch: string;
  members: string[];
  nodeOf: Record<string, string>;
  configurations: string[][];
  hydrating: string[];
}

async function volumePg0(target: EngineProcess): Promise<VolumePg> {
  const response = await fetch(`http://127.0.0.1:${target.httpPort}/v1/volume`, { headers: INTERNAL_AUTH });
  const body = (await response.json()) as { pgs: VolumePg[] };
  return body.pgs[0]!;
}

function postMembership(target: EngineProcess, body: unknown) {
  return fetch(`http://127.0.0.1:${target.httpPort}/v1/admin/membership`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...INTERNAL_AUTH },
    body: JSON.stringify(body),
  }).then(async (response) => ({
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  }));
}

/** PUT …/membership on each running node of `members` (the control plane tells storage). */
async function tellStorage(
  pgId: number,
  membershipEpoch: bigint,
  members: readonly string[],
  nodeOf: Readonly<Record<string, string>>,
  skip: ReadonlySet<string>,
): Promise<void> {
  for (const segmentId of members) {
    const node = nodeOf[segmentId] as StorageName;
    if (skip.has(node)) continue;
    const answer = await admin(
      fleet.nodes.get(node)!,
      'PUT',
      `/v1/segments/${pgId}/${segmentId}/membership`,
      {
        membershipEpoch: membershipEpoch.toString(),
        members,
        memberNodes: members.map((member) => nodeOf[member]),
      },
    );
    expect(answer.status, `${node}: ${answer.text}`).toBe(200);
  }
}

async function sclOn(node: StorageName, segmentId: string): Promise<bigint> {
  const status = (await admin(fleet.nodes.get(node)!, 'GET', '/v1/status')).json() as {
    segments: { segmentId: string; scl: string }[];
  };
  const segment = status.segments.find((candidate) => candidate.segmentId === segmentId);
  return segment === undefined ? -1n : BigInt(segment.scl);
}

describe('a repair on real processes: pg0-s1 replaced by pg0-s7 under load', () => {
  it('keeps writing through kill -9 of s1 and the whole membership change, and recovers after it', async () => {
    let load = new Load(() => engine, 4, 1);
    await sleep(1_500);
    await fleet.kill('s1');
    const dead = new Set(['s1']);
    await sleep(1_000);

    const before = await volumePg0(engine);
    expect(before.configurations).toEqual([before.members]);
    const epoch = BigInt(before.membershipEpoch);
    const leaving = 'pg0-s1';
    const joining = 'pg0-s7';
    const joined = before.members.map((member) => (member === leaving ? joining : member));
    const union = [...before.members, joining];
    const nodeOf: Record<string, string> = { ...before.nodeOf, [joining]: 's7' };

    // Begin: the joiner, empty, with the union membership; the survivors; then the writer.
    const created = await admin(fleet.nodes.get('s7')!, 'POST', '/v1/segments', {
      pgId: 0,
      segmentId: joining,
      membershipEpoch: (epoch + 1n).toString(),
      members: union,
      memberNodes: union.map((member) => nodeOf[member]),
    });
    expect(created.status, created.text).toBe(201);
    await tellStorage(0, epoch + 1n, union, nodeOf, dead);
    const vdlAtBegin = BigInt((await engineStatus(engine)).driver.vdl ?? '0');
    const beganMs = Date.now();
    const begin = {
      pgId: 0,
      membershipEpoch: (epoch + 1n).toString(),
      configurations: [before.members, joined],
      hydrating: [joining],
      nodeOf,
    };
    const began = await postMembership(engine, begin);
    expect(began.status, JSON.stringify(began.body)).toBe(200);
    expect(began.body).toMatchObject({ pgId: 0, membershipEpoch: (epoch + 1n).toString(), members: union });
    const target = BigInt(String(began.body.hydrationTarget));
    expect((await volumePg0(engine)).configurations).toEqual([before.members, joined]);

    // Refusals on the way: an older epoch, a node the engine does not know, storage's own.
    const stale = await postMembership(engine, { ...begin, membershipEpoch: epoch.toString() });
    expect([stale.status, stale.body.code]).toEqual([409, 'NL_MEMBERSHIP_STALE']);
    const stranger = await postMembership(engine, {
      ...begin,
      membershipEpoch: (epoch + 5n).toString(),
      nodeOf: { ...nodeOf, [joining]: 's9' },
    });
    expect([stranger.status, stranger.body.code]).toEqual([400, 'NL_CONFIG_INVALID']);
    expect(String(stranger.body.message)).toMatch(/s9 \(of pg0-s7\) not among this engine's storage nodes/);
    const five = await postMembership(engine, {
      ...begin,
      membershipEpoch: (epoch + 5n).toString(),
      configurations: [before.members.slice(0, 5)],
    });
    expect([five.status, five.body.code]).toEqual([400, 'NL_CONFIG_INVALID']);
    const s2 = fleet.nodes.get('s2')!;
    const staleStorage = await admin(s2, 'PUT', '/v1/segments/0/pg0-s2/membership', {
      membershipEpoch: epoch.toString(),
      members: before.members,
      memberNodes: before.members.map((member) => before.nodeOf[member]),
    });
    expect([staleStorage.status, staleStorage.json().code]).toEqual([409, 'NL_MEMBERSHIP_STALE']);
    const unknown = await admin(s2, 'PUT', '/v1/segments/0/pg0-nowhere/membership', {
      membershipEpoch: (epoch + 1n).toString(),
      members: union,
      memberNodes: union.map((member) => nodeOf[member]),
    });
    expect(unknown.status).toBe(404);
    const badBody = await admin(s2, 'PUT', '/v1/segments/0/pg0-s2/membership', { membershipEpoch: '2' });
    expect([badBody.status, badBody.json().code]).toEqual([400, 'NL_REQUEST_INVALID']);

    // Hydration: the joiner catches up (a peer's backup, then gossip) while writes go on.
    const hydratedAt = target > vdlAtBegin ? target : vdlAtBegin;
    await until('pg0-s7 to hydrate', async () => (await sclOn('s7', joining)) >= hydratedAt, 90_000);
    // Writes go on while the change is in flight (it completes below): on a fast machine the joiner
    // may hydrate before many writes, so wait for them rather than count what came meanwhile.
    await until(
      'writes to go on during the change',
      async () => load.acknowledgedSince(beganMs) > 10,
      30_000,
    );

    // Complete: storage, then the writer.
    const completedNodeOf = Object.fromEntries(joined.map((member) => [member, nodeOf[member]!]));
    await tellStorage(0, epoch + 2n, joined, completedNodeOf, dead);
    const completed = await postMembership(engine, {
      pgId: 0,
      membershipEpoch: (epoch + 2n).toString(),
      configurations: [joined],
      hydrating: [],
      nodeOf: completedNodeOf,
    });
    expect(completed.status, JSON.stringify(completed.body)).toBe(200);
    expect(completed.body.members).toEqual(joined);
    const completedMs = Date.now();
    await until('writes after the change', async () => load.acknowledgedSince(completedMs) > 20, 30_000);
    await load.stop();
    await checkBank(
      engine,
      load.acknowledged.map((entry) => entry.id),
    );
    expect(await volumePg0(engine)).toEqual({
      pgId: 0,
      membershipEpoch: (epoch + 2n).toString(),
      members: joined,
      nodeOf: completedNodeOf,
      configurations: [joined],
      hydrating: [],
    });

    const errors = engine.output
      .join('')
      .split('\n')
      .filter((line) => line.includes('"level":"error"'));
    expect(errors, 'nothing logged at ERROR by the writer').toEqual([]);

    // kill -9 of the engine: it recovers on the new configuration, s1 still dead.
    const acknowledged = load.acknowledged.map((entry) => entry.id);
    engine.child.kill('SIGKILL');
    await engine.exited;
    engine = await startEngine(fleet, { dataDir: engine.dataDir, args: ENGINE_ARGS });
    expect((await volumePg0(engine)).configurations).toEqual([joined]);
    await checkBank(engine, acknowledged);
    load = new Load(() => engine, 2, 1_000_000);
    const restartedMs = Date.now();
    await until('writes after the restart', async () => load.acknowledgedSince(restartedMs) > 10, 30_000);
    await load.stop();
    await checkBank(engine, [...acknowledged, ...load.acknowledged.map((entry) => entry.id)]);
    const check = await sql(engine, 'PRAGMA integrity_check', { readOnly: true });
    expect(check.body.results![0]!.rows).toEqual([['ok']]);
  }, 240_000);
});
