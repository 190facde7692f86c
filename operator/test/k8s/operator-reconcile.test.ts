/**
 * The reconciler against the Kubernetes API server stand-in, with real kubectl and client-node, no
 * kubelet: what the operator creates for a DatabaseCluster (finalizer, Secret, Services with
 * ClusterIPs, PVCs, budgets, policies, StorageVolume, zone-pinned storage pods — engines wait for
 * ready storage), that it holds the leader Lease, that an invalid spec and an unsafe change are
 * reported in conditions and touch nothing, and that deleting the cluster removes everything it owns
 * before the finalizer goes. The end-to-end test (e2e.test.ts) runs the pods for real.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  DATABASE_CLUSTER,
  FINALIZER,
  GROUP,
  internalSecretName,
  LABELS,
  LEADER_LEASE_NAME,
  pgSecretName,
  readWriteServiceName,
  STORAGE_VOLUME,
  ZONE_LABEL,
} from '../../src/k8s/contract.js';
import { Operator } from '../../src/k8s/operator.js';
import { CORE, KubeApiServer, type TypeRef } from '../support/kube/api-server.js';

const run = promisify(execFile);
const crdsDirectory = fileURLToPath(new URL('../../../crds/', import.meta.url));

function cluster(name: string, zones: string[], nodes = 3): string {
  return `apiVersion: ${API_VERSION}
kind: ${DATABASE_CLUSTER.kind}
metadata: { name: ${name}, namespace: default }
spec:
  engine: { instances: [{ name: engine-1, promotionTier: 0 }, { name: engine-2, promotionTier: 1 }] }
  storage:
    zones: [${zones.map((zone) => `{ name: ${zone}, nodes: ${nodes} }`).join(', ')}]
    segmentSize: 4MiB
  backup: { objectStore: none }
`;
}

let server: KubeApiServer;
let operator: Operator;
let directory: string;
let kubeconfig: string;
const lines: string[] = [];

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', [
    '--kubeconfig',
    kubeconfig,
    '--cache-dir',
    join(directory, 'cache'),
    ...args,
  ]);
  return stdout;
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; operator log:\n${lines.slice(-30).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const dbRef = { group: GROUP, plural: DATABASE_CLUSTER.plural };
const conditionOf = (name: string, type: string) =>
  (
    (
      server.get(dbRef, 'default', name)?.status as
        | { conditions?: { type: string; status: string; reason: string; message: string }[] }
        | undefined
    )?.conditions ?? []
  ).find((condition) => condition.type === type);
const owned = (ref: TypeRef, name: string) =>
  server
    .list(ref, 'default')
    .filter(
      (object) => (object.metadata.labels as Record<string, string> | undefined)?.[LABELS.cluster] === name,
    );

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'nl-reconcile-'));
  server = await KubeApiServer.start();
  kubeconfig = server.writeKubeconfig(directory);
  await kubectl('apply', '-f', crdsDirectory);
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  operator = new Operator({
    kubeConfig: config,
    namespace: 'default',
    leaderElection: true,
    leaseNamespace: 'default',
    identity: 'test-operator',
    controlHost: '127.0.0.1',
    controlPort: 0,
    controlAdvertiseUrl: 'http://127.0.0.1:7400',
    metricsPort: 0,
    log: (line) => lines.push(line),
  });
  await operator.start();
});

afterAll(async () => {
  await operator?.stop();
  await server?.stop();
  rmSync(directory, { recursive: true, force: true });
});

describe('the DatabaseCluster reconciler', () => {
  it('takes the leader Lease', async () => {
    await until('the lease', () => operator.leading || undefined);
    const lease = server.get(
      { group: 'coordination.k8s.io', plural: 'leases' },
      'default',
      LEADER_LEASE_NAME,
    );
    expect((lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity).toBe('test-operator');
  });

  it('creates what a cluster owns and waits for its storage before any engine', async () => {
    writeFileSync(join(directory, 'db1.yaml'), cluster('db1', ['a', 'b', 'c']));
    await kubectl('apply', '-f', join(directory, 'db1.yaml'));
    await until('storage pods', () => owned(CORE.pods, 'db1').length === 9 || undefined);
    const db = server.get(dbRef, 'default', 'db1')!;
    expect(db.metadata.finalizers).toEqual([FINALIZER]);
    expect(server.get(CORE.secrets, 'default', pgSecretName('db1'))).toBeDefined();
    const services = owned(CORE.services, 'db1');
    expect(services.map((service) => service.metadata.name).sort()).toEqual(
      [
        'db1-engine-1',
        'db1-engine-2',
        'db1-ro',
        'db1-rw',
        ...['a', 'b', 'c'].flatMap((zone) => [1, 2, 3].map((n) => `db1-storage-${zone}-${n}`)),
      ].sort(),
    );
    expect(
      services.every((service) => typeof (service.spec as { clusterIP?: string }).clusterIP === 'string'),
    ).toBe(true);
    expect(owned(CORE.persistentVolumeClaims, 'db1')).toHaveLength(11);
    const pods = owned(CORE.pods, 'db1');
    expect(
      pods.every((pod) => (pod.metadata.labels as Record<string, string>)[LABELS.component] === 'storage'),
    ).toBe(true);
    const pod = pods.find((candidate) => candidate.metadata.name === 'db1-storage-b-1')!;
    expect(JSON.stringify((pod.spec as { affinity?: unknown }).affinity)).toContain(ZONE_LABEL);
    const peers = (pod.spec as { containers: { args: string[] }[] }).containers[0]!.args.join(' ');
    const ipOfA1 = (server.get(CORE.services, 'default', 'db1-storage-a-1')!.spec as { clusterIP: string })
      .clusterIP;
    expect(peers).toContain(`storage-a-1=${ipOfA1}:7100`);
    await until('Creating', () => (conditionOf('db1', 'Ready')?.reason === 'Creating' ? true : undefined));
    // The status survives the CRD's structural schema (nothing pruned).
    expect(server.get(dbRef, 'default', 'db1')?.status).toMatchObject({
      phase: 'Creating',
      writer: 'engine-1',
      storage: { nodes: 9, readyNodes: 0, ready: '0/9' },
      endpoints: { readWrite: 'db1-rw.default.svc:5432' },
    });
    const volume = server.get({ group: GROUP, plural: STORAGE_VOLUME.plural }, 'default', 'db1');
    expect(volume?.metadata.finalizers).toEqual([FINALIZER]);
    const events = server.list(CORE.events, 'default').map((event) => event.reason);
    expect(events).toContain('Created');
    expect(
      await kubectl('get', 'svc', readWriteServiceName('db1'), '-o', 'jsonpath={.spec.selector}'),
    ).toContain('"northlight.dev/role":"writer"');
  });

  it('reports an invalid spec in a condition and creates nothing for it', async () => {
    // A rule across fields, which the CRD's schema cannot express: each storage node's claim must
    // hold at least one segment. validateClusterSpec sees it; the API server accepts the object.
    writeFileSync(
      join(directory, 'bad.yaml'),
      cluster('bad', ['a', 'b', 'c']).replace(
        'segmentSize: 4MiB',
        'segmentSize: 4MiB\n    volumeClaim: { size: 1MiB }',
      ),
    );
    await kubectl('apply', '-f', join(directory, 'bad.yaml'));
    const ready = await until('InvalidSpec', () =>
      conditionOf('bad', 'Ready')?.reason === 'InvalidSpec' ? conditionOf('bad', 'Ready') : undefined,
    );
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(/smaller than one segment/);
    expect(owned(CORE.pods, 'bad')).toHaveLength(0);
    expect(lines.some((line) => line.startsWith('ERROR'))).toBe(false);
    await kubectl('delete', DATABASE_CLUSTER.singular, 'bad', '--wait=false');
    await until('bad deleted', () => server.get(dbRef, 'default', 'bad') === undefined || undefined);
  });

  it('stops at an internal-token Secret without a usable token, says so once, and starts nothing', async () => {
    // A Secret someone edited by hand: the operator must not run engines whose internal routes it
    // could not call, and must not record the same Warning every round.
    await kubectl('create', 'secret', 'generic', internalSecretName('broken'), '--from-literal=token=short');
    writeFileSync(join(directory, 'broken.yaml'), cluster('broken', ['a', 'b', 'c']));
    await kubectl('apply', '-f', join(directory, 'broken.yaml'));
    const invalid = () =>
      server
        .list(CORE.events, 'default')
        .filter(
          (event) => event.reason === 'InvalidSecret' && String(event.message).includes('broken-internal'),
        );
    await until('the InvalidSecret event', () => invalid().length > 0 || undefined);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // about three more rounds
    expect(invalid()).toHaveLength(1);
    expect(owned(CORE.pods, 'broken')).toHaveLength(0);
    await kubectl('delete', DATABASE_CLUSTER.singular, 'broken', '--wait=false');
    await until('broken deleted', () => server.get(dbRef, 'default', 'broken') === undefined || undefined);
    await kubectl('delete', 'secret', internalSecretName('broken'), '--ignore-not-found');
  });

  it('says once that the TLS Secret is missing, once that it lacks a key, and carries on', async () => {
    // The Secret is the user's (cert-manager's): the operator never makes it, and a missing one must
    // not stop the cluster's other work (running engines keep the certificate they loaded).
    const yaml = cluster('tlsdb', ['a', 'b', 'c']).replace(
      'engine: { instances:',
      'engine: { tls: { secretName: tlsdb-cert }, instances:',
    );
    writeFileSync(join(directory, 'tlsdb.yaml'), yaml);
    await kubectl('apply', '-f', join(directory, 'tlsdb.yaml'));
    const warnings = () =>
      server
        .list(CORE.events, 'default')
        .filter(
          (event) => event.reason === 'TLSSecretNotReady' && String(event.message).includes('tlsdb-cert'),
        )
        .map((event) => String(event.message));
    await until('the missing Secret warning', () => warnings().length > 0 || undefined);
    expect(warnings()[0]).toContain('does not exist');
    expect(warnings()[0]).toContain('kubectl create secret tls tlsdb-cert');
    // The round went on: the storage pods exist.
    await until('storage pods', () => owned(CORE.pods, 'tlsdb').length > 0 || undefined);
    await kubectl('create', 'secret', 'generic', 'tlsdb-cert', '--from-literal=tls.crt=not-a-key');
    await until('the missing key warning', () => warnings().length > 1 || undefined);
    expect(warnings()[1]).toContain('has no tls.key');
    await kubectl('delete', 'secret', 'tlsdb-cert');
    await kubectl(
      'create',
      'secret',
      'generic',
      'tlsdb-cert',
      '--type=kubernetes.io/tls',
      '--from-literal=tls.crt=certificate',
      '--from-literal=tls.key=key',
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // about three more rounds
    expect(warnings()).toHaveLength(2);
    await kubectl('delete', DATABASE_CLUSTER.singular, 'tlsdb', '--wait=false');
    await until('tlsdb deleted', () => server.get(dbRef, 'default', 'tlsdb') === undefined || undefined);
    await kubectl('delete', 'secret', 'tlsdb-cert', '--ignore-not-found');
  });

  it('says once that a pod was refused (a PriorityClass that does not exist), carries on, and creates it once it can', async () => {
    // The stand-in refuses such a pod as the Priority admission plugin does (403). Before, the refusal
    // threw out of the reconcile: no status, no control round, for the whole cluster.
    const yaml = `${cluster('pcdb', ['a', 'b', 'c'])}  podTemplate: { priorityClassName: databases }\n`;
    writeFileSync(join(directory, 'pcdb.yaml'), yaml);
    await kubectl('apply', '-f', join(directory, 'pcdb.yaml'));
    const refusals = () =>
      server
        .list(CORE.events, 'default')
        .filter((event) => event.reason === 'PodCreateFailed' && String(event.message).includes('pcdb'))
        .map((event) => String(event.message));
    await until('a refusal per storage pod', () => refusals().length >= 9 || undefined);
    expect(refusals()[0]).toMatch(/no PriorityClass with name databases was found/);
    expect(owned(CORE.pods, 'pcdb')).toHaveLength(0);
    // The round went on: the status says what the cluster waits for.
    await until('the status written', () =>
      conditionOf('pcdb', 'Ready')?.message.includes('0/9 storage node(s)') ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a few more rounds: no new events
    expect(refusals()).toHaveLength(9);
    await kubectl('create', 'priorityclass', 'databases', '--value=1000');
    await until('the storage pods', () => owned(CORE.pods, 'pcdb').length === 9 || undefined);
    await kubectl('delete', DATABASE_CLUSTER.singular, 'pcdb', '--wait=false');
    await until('pcdb deleted', () => server.get(dbRef, 'default', 'pcdb') === undefined || undefined);
  });

  it('refuses a spec change that would drop data, and deletes nothing', async () => {
    const podsBefore = owned(CORE.pods, 'db1')
      .map((pod) => pod.metadata.name)
      .sort();
    writeFileSync(join(directory, 'db1.yaml'), cluster('db1', ['a', 'b', 'd']));
    await kubectl('apply', '-f', join(directory, 'db1.yaml'));
    const ready = await until('UnsafeSpecChange', () =>
      conditionOf('db1', 'Ready')?.reason === 'UnsafeSpecChange' ? conditionOf('db1', 'Ready') : undefined,
    );
    expect(ready.message).toContain('zone c holds data');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(
      owned(CORE.pods, 'db1')
        .map((pod) => pod.metadata.name)
        .sort(),
    ).toEqual(podsBefore);
    expect(owned(CORE.persistentVolumeClaims, 'db1')).toHaveLength(11);
    writeFileSync(join(directory, 'db1.yaml'), cluster('db1', ['a', 'b', 'c'], 2));
    await kubectl('apply', '-f', join(directory, 'db1.yaml'));
    await until('fewer nodes refused', () =>
      conditionOf('db1', 'Ready')?.message.includes('fewer nodes than hold data') ? true : undefined,
    );
    expect(owned(CORE.pods, 'db1')).toHaveLength(9);
  });

  it('deletes everything the cluster owns, then the finalizer', async () => {
    await kubectl('delete', DATABASE_CLUSTER.singular, 'db1', '--wait=false');
    await until('db1 gone', () => server.get(dbRef, 'default', 'db1') === undefined || undefined, 30_000);
    for (const ref of [CORE.pods, CORE.services, CORE.persistentVolumeClaims, CORE.secrets])
      expect(owned(ref, 'db1')).toHaveLength(0);
    expect(server.get({ group: GROUP, plural: STORAGE_VOLUME.plural }, 'default', 'db1')).toBeUndefined();
    expect(lines.some((line) => line.startsWith('ERROR'))).toBe(false);
  });
});
