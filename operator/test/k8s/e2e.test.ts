/**
 * The operator end to end, real apart from the API server: the Kubernetes API stand-in and the test
 * "kubelet" (three zone-labelled nodes; pods run as real storage-node and engine processes, Services
 * get a loopback ClusterIP with a TCP proxy to their Ready pods), the real CRDs applied with real
 * kubectl, the operator as a real process (`northlight-operator --kubeconfig …`), real psql.
 *
 *   1. `kubectl apply` a DatabaseCluster (3 zones × 3 storage nodes, a writer and a replica, the
 *      embedded object store for backups — a storage node that fell behind its peers' GC needs a
 *      base from it —, short grace periods) → Ready;
 *   2. SQL with psql through the `-rw` Service's ClusterIP (password from the Secret via kubectl);
 *      the row shows on the replica through `-ro`; a second operator process waits for the leader
 *      Lease and takes over when the first stops, recreating nothing;
 *   3. under a write load through `-rw`: `kubectl delete pod` of a storage pod → Repairing, then
 *      Ready again;
 *   4. one zone's storage pods deleted → writes keep being acknowledged; Ready again;
 *   5. the writer's pod deleted → FailingOver, the replica is promoted, `-rw` follows it, writes
 *      resume and no acknowledged row is lost;
 *   6. `kubectl annotate … northlight.dev/switchover-to=engine-1` → a switchover back to engine-1;
 *   7. new versions in the spec → Upgrading: storage zone by zone, the replica, a switchover;
 *   8. `kubectl delete databasecluster` → every owned object and every process is gone.
 * Progress is printed with timings.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { freePorts } from '../../src/io/local-cluster.js';
import {
  ANNOTATIONS,
  API_VERSION,
  DATABASE_CLUSTER,
  GROUP,
  internalSecretName,
  LABELS,
  memberObjectName,
  PG_DATABASE,
  PG_USER,
  pgSecretName,
  readOnlyServiceName,
  readWriteServiceName,
  STORAGE_VOLUME,
} from '../../src/k8s/contract.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { CORE, KubeApiServer, type TypeRef } from '../support/kube/api-server.js';
import { TestCluster } from '../support/kube/cluster.js';
import { OperatorProcess } from './operator-process.js';

const run = promisify(execFile);
const repositoryRoot = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const NAMESPACE = 'default';
const NAME = 'db';
const dbRef = { group: GROUP, plural: DATABASE_CLUSTER.plural };

let server: KubeApiServer;
let nodes: TestCluster;
let operator: OperatorProcess;
/** The leading operator's /metrics, once the standby has taken over. */
let metricsUrl = '';
/** Every operator process started, for cleanup. */
const operators: OperatorProcess[] = [];
let directory: string;
let kubeconfig: string;
const startedMs = Date.now();
/** On a failure the logs (operator, every pod) stay for a look; the path is printed. */
let keepDirectory = false;

function progress(line: string): void {
  console.log(`[e2e +${((Date.now() - startedMs) / 1000).toFixed(1)} s] ${line}`);
}

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(
    'kubectl',
    ['--kubeconfig', kubeconfig, '--cache-dir', join(directory, 'kube-cache'), ...args],
    {
      timeout: 30_000,
    },
  );
  return stdout;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; conditions: ${JSON.stringify(statusOf()?.conditions?.map((entry) => `${entry.type}=${entry.status} ${entry.message}`))}; operator log tail:\n${operator.tail(40)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const statusOf = () =>
  server.get(dbRef, NAMESPACE, NAME)?.status as
    | {
        writer?: string;
        phase?: string;
        transport?: string;
        conditions?: { type: string; status: string; reason: string; message: string }[];
      }
    | undefined;
const condition = (type: string) => statusOf()?.conditions?.find((entry) => entry.type === type);
const owned = (ref: TypeRef) =>
  server
    .list(ref, NAMESPACE)
    .filter(
      (object) => (object.metadata.labels as Record<string, string> | undefined)?.[LABELS.cluster] === NAME,
    );
/** The transport modes the storage and engine pods were started with (their environment). */
const transportModes = () =>
  new Set(
    owned(CORE.pods).flatMap((pod) => {
      const containers = (pod.spec as { containers: { env?: { name: string; value?: string }[] }[] })
        .containers;
      return (containers[0]?.env ?? [])
        .filter(
          (item) => item.name === 'NORTHLIGHT_TRANSPORT_AUTH' || item.name === 'NL_ENGINE_TRANSPORT_AUTH',
        )
        .map((item) => item.value);
    }),
  );
const clusterIp = (service: string) =>
  (server.get(CORE.services, NAMESPACE, service)?.spec as { clusterIP?: string } | undefined)?.clusterIP ??
  '';

async function psql(
  host: string,
  password: string,
  command: string,
  sslmode: 'prefer' | 'require' = 'prefer',
): Promise<string> {
  const url = `postgresql://${PG_USER}:${encodeURIComponent(password)}@${host}:5432/${PG_DATABASE}?sslmode=${sslmode}`;
  const { stdout } = await run('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', command], {
    timeout: 30_000,
  });
  return stdout;
}

/** Sequential inserts through the -rw Service's SQL HTTP port; acknowledged keys are recorded. */
class WriteLoad {
  readonly acknowledged: number[] = [];
  readonly failures: string[] = [];
  #next: number;
  #running = true;
  readonly #done: Promise<void>;
  constructor(
    readonly host: string,
    readonly password: string,
    firstKey = 1,
  ) {
    this.#next = firstKey;
    this.#done = this.#loop();
  }
  async #loop(): Promise<void> {
    while (this.#running) {
      const key = this.#next++;
      try {
        const response = await fetch(`http://${this.host}:8080/v1/sql`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Basic ${Buffer.from(`${PG_USER}:${this.password}`).toString('base64')}`,
          },
          body: JSON.stringify({ sql: `INSERT INTO kv VALUES (${key}, 'v${key}')` }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = await response.text();
        if (response.status === 200) this.acknowledged.push(key);
        else this.failures.push(`HTTP ${response.status} ${body.slice(0, 120)}`);
      } catch (error) {
        this.failures.push(String((error as Error).cause ?? error));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
  /** Waits until `count` more writes are acknowledged than now. */
  more(count: number, timeoutMs = 90_000): Promise<true> {
    const target = this.acknowledged.length + count;
    return until(
      `${count} more acknowledged writes`,
      () => (this.acknowledged.length >= target ? true : undefined),
      timeoutMs,
    );
  }
}

const clusterYaml = `apiVersion: ${API_VERSION}
kind: ${DATABASE_CLUSTER.kind}
metadata: { name: ${NAME}, namespace: ${NAMESPACE} }
spec:
  engine:
    instances: [{ name: engine-1, promotionTier: 0 }, { name: engine-2, promotionTier: 1 }]
    cacheSize: 16MiB
  storage:
    zones: [{ name: a, nodes: 3 }, { name: b, nodes: 3 }, { name: c, nodes: 3 }]
    segmentSize: 64MiB
  backup: { objectStore: embedded }
  controlPlane: { repairGracePeriod: 5s }
`;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'nl-e2e-'));
  server = await KubeApiServer.start();
  kubeconfig = server.writeKubeconfig(directory);
  nodes = await TestCluster.start({
    server,
    workDirectory: join(directory, 'nodes'),
    nodes: [
      { name: 'kind-worker', zone: 'a' },
      { name: 'kind-worker2', zone: 'b' },
      { name: 'kind-worker3', zone: 'c' },
    ],
  });
  await kubectl('apply', '-f', join(repositoryRoot, 'crds'));
  const [controlPort] = await freePorts(1);
  operator = await OperatorProcess.start({
    kubeconfig,
    controlPort: controlPort!,
    logFile: join(directory, 'operator.log'),
  });
  progress(`API server ${server.url}, 3 nodes, CRDs applied, operator pid ${operator.pid}`);
}, 60_000);

afterAll(async () => {
  for (const started of operators) await started.stop();
  await nodes?.stop();
  await server?.stop();
  if (directory === undefined) return;
  if (keepDirectory) console.log(`e2e failed: logs kept in ${directory} (operator*.log, nodes/logs/)`);
  else rmSync(directory, { recursive: true, force: true });
}, 60_000);

describe('the operator end to end', () => {
  it('brings a cluster up, survives a storage pod, a zone and the writer, and deletes it cleanly', {
    timeout: 420_000,
  }, async () => {
    onTestFailed(() => {
      keepDirectory = true;
    });
    // 1. Ready.
    writeFileSync(join(directory, 'cluster.yaml'), clusterYaml);
    expect(await kubectl('apply', '-f', join(directory, 'cluster.yaml'))).toContain(
      `${DATABASE_CLUSTER.singular}.${GROUP}/${NAME} created`,
    );
    await until('Ready', () => (condition('Ready')?.status === 'True' ? true : undefined), 180_000);
    progress(`Ready: ${condition('Ready')?.message}`);
    expect(statusOf()?.writer).toBe('engine-1');
    const table = await kubectl('get', DATABASE_CLUSTER.shortNames[0], NAME);
    progress(`kubectl get ${DATABASE_CLUSTER.shortNames[0]}:\n${table}`);
    expect(table).toMatch(/True/);

    // 2. SQL through the Services' ClusterIPs, with the password from the Secret.
    const encoded = await kubectl('get', 'secret', pgSecretName(NAME), '-o', 'jsonpath={.data.password}');
    const password = Buffer.from(encoded, 'base64').toString('utf8');
    expect(password.length).toBeGreaterThanOrEqual(24);
    const readWrite = clusterIp(readWriteServiceName(NAME));
    const readOnly = clusterIp(readOnlyServiceName(NAME));
    expect(
      await psql(readWrite, password, 'CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)'),
    ).toContain('CREATE TABLE');
    expect(await psql(readWrite, password, "INSERT INTO kv VALUES (0, 'zero') RETURNING k")).toBe(
      '0\nINSERT 0 1\n',
    );
    expect(
      await until('the row on the replica through -ro', async () => {
        const answer = await psql(readOnly, password, 'SELECT v FROM kv WHERE k = 0').catch(() => '');
        return answer === 'zero\n' ? answer : undefined;
      }),
    ).toBe('zero\n');
    await expect(psql(readWrite, 'wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    progress('psql through -rw and -ro works');
    // The engines' HTTP API through the same Service: SQL wants the password, the admin routes the
    // internal token from the operator's second Secret, which an application does not hold.
    const token = Buffer.from(
      await kubectl('get', 'secret', internalSecretName(NAME), '-o', 'jsonpath={.data.token}'),
      'base64',
    ).toString('utf8');
    expect(token.length).toBeGreaterThanOrEqual(24);
    const http = (path: string, authorization?: string) =>
      fetch(`http://${readWrite}:8080${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: JSON.stringify({ sql: 'SELECT count(*) FROM kv' }),
        signal: AbortSignal.timeout(10_000),
      });
    const basic = `Basic ${Buffer.from(`${PG_USER}:${password}`).toString('base64')}`;
    expect((await http('/v1/sql')).status).toBe(401);
    expect((await http('/v1/sql', basic)).status).toBe(200);
    expect((await http('/v1/admin/fence', basic)).status).toBe(401);
    const status = (authorization?: string) =>
      fetch(`http://${readWrite}:8080/v1/status`, {
        ...(authorization === undefined ? {} : { headers: { authorization } }),
        signal: AbortSignal.timeout(10_000),
      }).then((response) => response.status);
    expect(await status()).toBe(401);
    expect(await status(`Bearer ${token}`)).toBe(200);
    progress('HTTP: /v1/sql takes the password; /v1/admin/fence refuses it (the internal token only)');
    const volume = await until('the StorageVolume status', () => {
      const status = server.get({ group: GROUP, plural: STORAGE_VOLUME.plural }, NAMESPACE, NAME)?.status as
        | { pgCount?: number; healthy?: boolean }
        | undefined;
      return status?.pgCount !== undefined && status.pgCount >= 1 ? status : undefined;
    });
    expect(volume.healthy).toBe(true);

    // 2b. A second operator waits for the Lease; the first stops (SIGTERM gives the Lease up) and the
    // second takes over from labels and the API alone: nothing is recreated, the cluster stays Ready.
    const [standbyPort, standbyMetricsPort] = await freePorts(2);
    metricsUrl = `http://127.0.0.1:${standbyMetricsPort}/metrics`;
    const standby = await OperatorProcess.start({
      kubeconfig,
      controlPort: standbyPort!,
      metricsPort: standbyMetricsPort!,
      logFile: join(directory, 'operator-2.log'),
    });
    operators.push(standby);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(standby.log()).not.toContain('is the leader');
    const podUids = owned(CORE.pods)
      .map((pod) => String(pod.metadata.uid))
      .sort();
    expect(await operator.stop()).toBe(0);
    expect(operator.log()).toContain('stopped leading');
    await until(
      'the standby to lead',
      () => (standby.log().includes('is the leader') ? true : undefined),
      30_000,
    );
    const firstLog = operator.log();
    operator = standby;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(condition('Ready')?.status).toBe('True');
    expect(
      owned(CORE.pods)
        .map((pod) => String(pod.metadata.uid))
        .sort(),
    ).toEqual(podUids);
    progress('a second operator took the Lease over; nothing recreated');

    // 3. A storage pod deleted under load: Repairing, then Ready.
    const load = new WriteLoad(readWrite, password);
    await load.more(10);
    const storagePod = memberObjectName(NAME, 'storage-a-1');
    await kubectl('delete', 'pod', storagePod, '--wait=false');
    progress(`deleted pod ${storagePod}`);
    const repairing = await until(
      'Repairing',
      () => (condition('Repairing')?.status === 'True' ? condition('Repairing') : undefined),
      30_000,
    );
    progress(`Repairing: ${repairing?.reason}: ${repairing?.message}`);
    await until('Ready after the storage pod', () =>
      condition('Ready')?.status === 'True' && condition('Repairing')?.status === 'False' ? true : undefined,
    );
    await load.more(10);
    progress(`Ready again; ${load.acknowledged.length} writes acknowledged so far`);

    // 4. A whole zone's storage pods deleted: once their processes are gone, writes are still
    // acknowledged (4 of 6 copies remain).
    const zoneC = owned(CORE.pods).filter(
      (pod) => (pod.metadata.labels as Record<string, string>)[LABELS.zone] === 'c',
    );
    const zoneCPids = zoneC.flatMap((pod) => nodes.pids(NAMESPACE, String(pod.metadata.name)));
    expect(zoneCPids).toHaveLength(3);
    await kubectl('delete', 'pod', '-l', `${LABELS.cluster}=${NAME},${LABELS.zone}=c`, '--wait=false');
    progress('deleted zone c');
    await until(
      'zone c processes gone',
      () => (zoneCPids.every((pid) => !alive(pid)) ? true : undefined),
      30_000,
    );
    await load.more(10, 60_000);
    progress(`writes acknowledged with zone c down: ${load.acknowledged.length} so far`);
    // Settled before the next fault: every pod ready and no repair in flight.
    await until('Ready and no repair after the zone', () =>
      condition('Ready')?.status === 'True' && condition('Repairing')?.status === 'False' ? true : undefined,
    );

    // 5. The writer's pod deleted: failover to engine-2; -rw follows it.
    const writerPod = memberObjectName(NAME, 'engine-1');
    const countAtKill = load.acknowledged.length;
    const killedMs = Date.now();
    await kubectl('delete', 'pod', writerPod, '--wait=false');
    progress(`deleted the writer's pod ${writerPod}`);
    const failingOver = await until(
      'FailingOver',
      () => (condition('FailingOver')?.status === 'True' ? condition('FailingOver') : undefined),
      30_000,
    );
    progress(`FailingOver: ${failingOver.message}`);
    await until('the promotion done', () =>
      statusOf()?.writer === 'engine-2' && condition('FailingOver')?.status === 'False' ? true : undefined,
    );
    await load.more(10, 60_000);
    progress(
      `failover: ${Date.now() - killedMs} ms to the promotion and 10 more acknowledged writes (${load.acknowledged.length - countAtKill} since the kill)`,
    );
    expect(statusOf()?.writer).toBe('engine-2');
    // The operator's metrics saw it, as the dashboards and alerts will (control-metrics.ts).
    const metrics = await (await fetch(metricsUrl)).text();
    const series = `{cluster="${NAME}",namespace="default"}`;
    expect(metrics).toContain(`northlight_control_failovers_total${series} 1`);
    expect(metrics).toContain(`northlight_control_writer_present${series}`);
    expect(metrics).toMatch(/northlight_control_pg_members_healthy\{[^}]*pg="0"[^}]*\} [3-6]/);
    expect(metrics).toContain('northlight_operator_leader 1');
    await load.stop();
    const rows = new Set(
      (await psql(readWrite, password, 'SELECT k FROM kv ORDER BY k')).trim().split('\n').map(Number),
    );
    const lost = load.acknowledged.filter((key) => !rows.has(key));
    expect(lost, 'acknowledged rows missing after failover').toEqual([]);
    progress(
      `${load.acknowledged.length} acknowledged writes, none lost; ${load.failures.length} failed requests during the faults`,
    );
    await until(
      'Ready with engine-1 back as a replica',
      () => (condition('Ready')?.status === 'True' ? true : undefined),
      120_000,
    );
    const engine1 = server.get(CORE.pods, NAMESPACE, writerPod);
    expect((engine1?.metadata.labels as Record<string, string> | undefined)?.[LABELS.role]).toBe('replica');
    const events = server.list(CORE.events, NAMESPACE).map((event) => String(event.reason));
    expect(events).toEqual(expect.arrayContaining(['FailingOver', 'Promoted']));

    // 6. kubectl northlight switchover: the annotation moves the writer back to engine-1.
    await kubectl('annotate', DATABASE_CLUSTER.singular, NAME, `${ANNOTATIONS.switchoverTo}=engine-1`);
    await until('engine-1 writer again', () =>
      statusOf()?.writer === 'engine-1' && condition('Ready')?.status === 'True' ? true : undefined,
    );
    const annotations = server.get(dbRef, NAMESPACE, NAME)?.metadata.annotations as Record<string, string>;
    expect(annotations[ANNOTATIONS.switchoverTo]).toBeUndefined();
    expect(annotations[ANNOTATIONS.lastRequest]).toMatch(/^northlight\.dev\/switchover-to=engine-1 at /);
    expect(String((statusOf() as { lastRequest?: string }).lastRequest)).toContain('accepted');
    expect(
      await psql(readWrite, password, "INSERT INTO kv VALUES (-1, 'after switchover') RETURNING k"),
    ).toBe('-1\nINSERT 0 1\n');
    progress('switchover to engine-1 through the annotation');

    // 7. A rolling upgrade under load: storage zone by zone, the replica, then a switchover. (The load
    // also lets a recreated storage node show it has caught up: its SCL reaches the PG's head.) With
    // security.transportAuthentication: transition, as an upgrade from a build without transport
    // authentication is done (docs/security.md): the upgraded members also take version-1 peers.
    const upgradeLoad = new WriteLoad(readWrite, password, 1_000_000);
    await upgradeLoad.more(5);
    await kubectl(
      'patch',
      DATABASE_CLUSTER.singular,
      NAME,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          storage: { version: '0.2.0' },
          engine: { version: '0.2.0' },
          security: { transportAuthentication: 'transition' },
        },
      }),
    );
    await until('Upgrading', () => (condition('Upgrading')?.status === 'True' ? true : undefined), 30_000);
    progress(`Upgrading: ${condition('Upgrading')?.message}`);
    await until(
      'the upgrade done',
      () =>
        condition('Upgrading')?.status === 'False' &&
        condition('Ready')?.status === 'True' &&
        owned(CORE.pods).every((pod) => {
          // The embedded object store is not part of the rolling upgrade (it holds no segment).
          const labels = pod.metadata.labels as Record<string, string>;
          return labels[LABELS.component] === 'object-store' || labels[LABELS.version] === '0.2.0';
        })
          ? true
          : undefined,
      180_000,
    );
    await upgradeLoad.more(5);
    await upgradeLoad.stop();
    progress(
      `upgraded; writer ${statusOf()?.writer}; ${upgradeLoad.acknowledged.length} writes acknowledged during the upgrade, ${upgradeLoad.failures.length} failed`,
    );
    expect(statusOf()?.writer).toBe('engine-2');
    expect(transportModes()).toEqual(new Set(['transition']));
    // The members say so themselves, and none took a peer without the token (they all hold it).
    await until('the members report transition', () =>
      statusOf()?.transport ===
      'authentication transition on all 11 members (0 connections taken without a proof of the token)'
        ? true
        : undefined,
    );
    // Once every pod runs the new build, a Warning says the transition is still open and how to close it.
    await until('the transition reminder', () =>
      server
        .list(CORE.events, NAMESPACE)
        .some(
          (event) =>
            event.reason === 'TransportTransition' &&
            String(event.message).includes('"transportAuthentication":"required"'),
        )
        ? true
        : undefined,
    );
    const afterUpgrade = new Set(
      (await psql(readWrite, password, 'SELECT k FROM kv ORDER BY k')).trim().split('\n').map(Number),
    );
    expect(
      [...load.acknowledged, ...upgradeLoad.acknowledged, -1].filter((key) => !afterUpgrade.has(key)),
    ).toEqual([]);

    // 7b. TLS from a kubernetes.io/tls Secret: setting spec.engine.tls recreates the engines as an
    // upgrade does (the replica, a switchover, the old writer), and psql then connects with
    // sslmode=require through both Services. The same patch ends the transport's transition, which
    // recreates the storage nodes first, zone by zone, on the same version.
    const tlsDirectory = join(directory, 'tls');
    mkdirSync(tlsDirectory);
    const { certFile, keyFile } = await selfSignedCertificate(
      tlsDirectory,
      'tls',
      readWriteServiceName(NAME),
    );
    await kubectl('create', 'secret', 'tls', `${NAME}-tls`, `--cert=${certFile}`, `--key=${keyFile}`);
    await expect(psql(readWrite, password, 'SELECT 1', 'require')).rejects.toThrow(/SSL/);
    await kubectl(
      'patch',
      DATABASE_CLUSTER.singular,
      NAME,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          engine: { tls: { secretName: `${NAME}-tls` } },
          security: { transportAuthentication: 'required' },
        },
      }),
    );
    const enginePods = () =>
      owned(CORE.pods).filter(
        (pod) => (pod.metadata.labels as Record<string, string>)[LABELS.component] === 'engine',
      );
    await until(
      'the engines recreated with TLS',
      () =>
        condition('Ready')?.status === 'True' &&
        condition('Upgrading')?.status === 'False' &&
        enginePods().length === 2 &&
        enginePods().every(
          (pod) =>
            (pod.metadata.annotations as Record<string, string> | undefined)?.[ANNOTATIONS.engineSettings] ===
            `tls=${NAME}-tls`,
        ) &&
        transportModes().size === 1 &&
        transportModes().has('required')
          ? true
          : undefined,
      180_000,
    );
    const overTls = new Set(
      (await psql(readWrite, password, 'SELECT k FROM kv ORDER BY k', 'require'))
        .trim()
        .split('\n')
        .map(Number),
    );
    expect([...afterUpgrade].filter((key) => !overTls.has(key))).toEqual([]);
    await until('the replica over TLS', async () =>
      (await psql(readOnly, password, 'SELECT v FROM kv WHERE k = 0', 'require').catch(() => '')).trim() ===
      'zero'
        ? true
        : undefined,
    );
    await until('the members report required', () =>
      statusOf()?.transport === 'authentication required on all 11 members' ? true : undefined,
    );
    progress(
      `TLS: engines recreated with ${NAME}-tls; writer ${statusOf()?.writer}; psql sslmode=require works; transport ${statusOf()?.transport}`,
    );

    // 8. Deleting the cluster removes everything it owns, and every process.
    const pids = owned(CORE.pods).flatMap((pod) => nodes.pids(NAMESPACE, pod.metadata.name as string));
    expect(pids.length).toBe(12);
    await kubectl('delete', DATABASE_CLUSTER.singular, NAME, '--wait=false');
    await until(
      'the cluster gone',
      () => (server.get(dbRef, NAMESPACE, NAME) === undefined ? true : undefined),
      60_000,
    );
    for (const ref of [CORE.pods, CORE.services, CORE.persistentVolumeClaims, CORE.secrets])
      expect(owned(ref)).toEqual([]);
    expect(server.get({ group: GROUP, plural: STORAGE_VOLUME.plural }, NAMESPACE, NAME)).toBeUndefined();
    await until('every process gone', () => (pids.every((pid) => !alive(pid)) ? true : undefined), 30_000);
    progress('deleted: no pod, Service, PVC, Secret, volume or process left');
    expect(operator.errorLines()).toEqual([]);
    expect(firstLog).not.toMatch(/ ERROR /);
    for (const log of ['operator.log', 'operator-2.log'])
      expect(readFileSync(join(directory, log), 'utf8')).not.toContain(password);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
