/**
 * The test cluster's node side (test/support/kube/cluster.ts) with real processes: a storage-node
 * pod created through the API server (with client-node 1.4.0, as the operator will) is scheduled by
 * zone affinity, gets its own loopback IP and a bound PVC directory, becomes Ready through its real
 * /readyz, and answers through its Service's ClusterIP; deleting it stops the process. Also: crash
 * restarts with restartCount, unschedulable pods, environment from the downward API, Secrets and
 * ConfigMaps with $(VAR) expansion (read back with `kubectl logs`), and a node that dies.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COMMANDS,
  DATA_MOUNT_PATH,
  dataClaimName,
  LABELS,
  memberObjectName,
  POD_IP_ENV,
  PORTS,
  ZONE_LABEL,
} from '../../src/k8s/contract.js';
import { KubeApiServer } from '../support/kube/api-server.js';
import { TestCluster } from '../support/kube/cluster.js';

const run = promisify(execFile);
const namespace = 'default';

let server: KubeApiServer;
let cluster: TestCluster;
let directory: string;
let kubeconfig: string;
let core: k8s.CoreV1Api;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readPod(name: string): Promise<k8s.V1Pod | undefined> {
  return core.readNamespacedPod({ namespace, name }).catch((error: unknown) => {
    if (error instanceof k8s.ApiException && error.code === 404) return undefined;
    throw error;
  });
}

function isReady(pod: k8s.V1Pod | undefined): boolean {
  return (
    pod?.status?.conditions?.some(
      (condition) => condition.type === 'Ready' && condition.status === 'True',
    ) === true
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'kubelet-test-'));
  server = await KubeApiServer.start();
  cluster = await TestCluster.start({
    server,
    workDirectory: join(directory, 'cluster'),
    gracePeriodCapSeconds: 3,
  });
  kubeconfig = server.writeKubeconfig(directory);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

afterAll(async () => {
  await cluster?.stop();
  await server?.stop();
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

describe('test cluster', () => {
  it('registers three zone-labelled nodes', async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes.map((node) => `${node.metadata?.name}@${node.metadata?.labels?.[ZONE_LABEL]}`)).toEqual([
      'kind-worker@zone-a',
      'kind-worker2@zone-b',
      'kind-worker3@zone-c',
    ]);
    expect(nodes.every((node) => node.status?.conditions?.[0]?.status === 'True')).toBe(true);
  });

  it('runs a storage-node pod: zone affinity, pod IP, bound PVC, Ready by /readyz, reachable through its ClusterIP; delete stops it', async () => {
    const member = 'storage-a1';
    const name = memberObjectName('db', member);
    const claim = dataClaimName('db', member);
    const labels = { [LABELS.cluster]: 'db', [LABELS.member]: member, [LABELS.component]: 'storage' };
    await core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: claim },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    const service = await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name },
        spec: {
          selector: labels,
          ports: [
            { name: 'storage', port: PORTS.storage },
            { name: 'admin', port: PORTS.storageAdmin, targetPort: 'admin' },
          ],
        },
      },
    });
    const clusterIp = service.spec?.clusterIP ?? '';
    expect(clusterIp).toMatch(new RegExp(`^127\\.${server.subnet}\\.1\\.\\d+$`));
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels },
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: ['zone-b'] }] },
                ],
              },
            },
          },
          containers: [
            {
              name: 'storage',
              image: 'ghcr.io/northlight-dev/northlight:test',
              command: [COMMANDS.storageNode],
              args: [
                '--node-id',
                member,
                '--zone',
                'zone-b',
                '--data-dir',
                `${DATA_MOUNT_PATH}/segments`,
                '--listen-host',
                `$(${POD_IP_ENV})`,
                '--port',
                String(PORTS.storage),
                '--admin-port',
                String(PORTS.storageAdmin),
                '--page-size-bytes',
                '4096',
                '--segment-size-bytes',
                String(1024 * 1024),
                '--backup-interval-ms',
                '0',
              ],
              env: [{ name: POD_IP_ENV, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              ports: [
                { name: 'storage', containerPort: PORTS.storage },
                { name: 'admin', containerPort: PORTS.storageAdmin },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 1 },
              volumeMounts: [{ name: 'data', mountPath: DATA_MOUNT_PATH }],
            },
          ],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
        },
      },
    });
    const pod = await waitFor('the storage pod to be Ready', async () => {
      const current = await readPod(name);
      return isReady(current) ? current : undefined;
    });
    expect(pod.spec?.nodeName).toBe('kind-worker2');
    expect(pod.status?.phase).toBe('Running');
    const podIp = pod.status?.podIP ?? '';
    expect(podIp).toMatch(new RegExp(`^127\\.${server.subnet}\\.0\\.\\d+$`));
    expect(pod.status?.podIPs).toEqual([{ ip: podIp }]);
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({
      name: 'storage',
      ready: true,
      restartCount: 0,
    });
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace, name: claim });
    expect(pvc.status?.phase).toBe('Bound');
    expect(readdirSync(cluster.claimDirectory(namespace, claim))).toContain('segments');
    // The storage node listens on its pod IP, and the Service forwards its named target port there.
    const direct = await fetch(`http://${podIp}:${PORTS.storageAdmin}/readyz`);
    expect(direct.status).toBe(200);
    const proxied = await waitFor('the ClusterIP to answer', async () => {
      const response = await fetch(`http://${clusterIp}:${PORTS.storageAdmin}/readyz`);
      return response.status === 200 ? response : undefined;
    });
    expect(proxied.status).toBe(200);
    const endpoints = await core.readNamespacedEndpoints({ namespace, name });
    expect(endpoints.subsets?.[0]?.addresses?.map((address) => address.ip)).toEqual([podIp]);
    const pids = cluster.pids(namespace, name);
    expect(pids).toHaveLength(1);
    // A graceful delete answers the pod, marked for deletion. (A read after it may find it gone
    // already: the kubelet stops a node that exits at once well inside the grace period.)
    const terminating = (await core.deleteNamespacedPod({ namespace, name })) as k8s.V1Pod;
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBeGreaterThan(0);
    await waitFor('the pod to go away', async () => ((await readPod(name)) === undefined ? true : undefined));
    expect(alive(pids[0]!)).toBe(false);
    await expect(fetch(`http://${clusterIp}:${PORTS.storageAdmin}/readyz`)).rejects.toThrow();
  });

  it('restarts a container that exits and counts restarts', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'crasher' },
        spec: {
          containers: [
            { name: 'main', image: 'busybox', command: ['/bin/sh', '-c', 'echo started; exit 3'] },
          ],
        },
      },
    });
    const pod = await waitFor('two restarts', async () => {
      const current = await readPod('crasher');
      return (current?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 ? current : undefined;
    });
    const status = pod.status?.containerStatuses?.[0];
    expect(status?.lastState?.terminated?.exitCode).toBe(3);
    expect(readFileSync(cluster.logPath(namespace, 'crasher', 'main'), 'utf8')).toMatch(/^(started\n){3,}/);
    expect(status?.ready).toBe(false);
    expect(pod.status?.phase).toBe('Running');
    await core.deleteNamespacedPod({ namespace, name: 'crasher' });
    await waitFor('the crasher to go away', async () =>
      (await readPod('crasher')) === undefined ? true : undefined,
    );
  });

  it('kills and restarts a container whose liveness probe fails', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'unhealthy' },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'busybox',
              command: ['/bin/sleep', '60'],
              // Nothing listens on port 9 of the pod's IP.
              livenessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1, failureThreshold: 2 },
            },
          ],
        },
      },
    });
    const pod = await waitFor('a liveness restart', async () => {
      const current = await readPod('unhealthy');
      return (current?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? current : undefined;
    });
    expect(pod.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({
      exitCode: 137,
      signal: 'SIGKILL',
    });
    expect(readFileSync(cluster.logPath(namespace, 'unhealthy', 'main'), 'utf8')).toContain(
      'liveness probe failed',
    );
    await core.deleteNamespacedPod({ namespace, name: 'unhealthy' });
  });

  it('reports a command that does not exist as a failed container (exit 127)', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'missing-command' },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'x', command: ['/nonexistent/northlight'] }],
        },
      },
    });
    const pod = await waitFor('Failed', async () => {
      const current = await readPod('missing-command');
      return current?.status?.phase === 'Failed' ? current : undefined;
    });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 127,
      reason: 'Error',
    });
    expect(readFileSync(cluster.logPath(namespace, 'missing-command', 'main'), 'utf8')).toContain(
      'cannot start /nonexistent/northlight: spawn /nonexistent/northlight ENOENT',
    );
  });

  it('runs a pod to completion once with restartPolicy Never', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'once' },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'busybox', command: ['/bin/sh', '-c', 'exit 0'] }],
        },
      },
    });
    const pod = await waitFor('Succeeded', async () => {
      const current = await readPod('once');
      return current?.status?.phase === 'Succeeded' ? current : undefined;
    });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
    });
  });

  it('leaves a pod that fits no node Pending with PodScheduled=False, reason Unschedulable', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'nowhere' },
        spec: {
          nodeSelector: { [ZONE_LABEL]: 'zone-x' },
          containers: [{ name: 'main', image: 'x', command: ['/bin/true'] }],
        },
      },
    });
    const pod = await waitFor('the scheduler to give up', async () => {
      const current = await readPod('nowhere');
      return current?.status?.conditions?.some((condition) => condition.reason === 'Unschedulable')
        ? current
        : undefined;
    });
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.conditions?.[0]).toMatchObject({
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
    });
    expect(pod.status?.conditions?.[0]?.message).toContain(
      "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector",
    );
  });

  it('fills the environment from the downward API, a Secret and a ConfigMap, expands $(VAR), and serves logs to kubectl', async () => {
    const s3 = await core.createNamespacedService({
      namespace,
      body: { metadata: { name: 's3' }, spec: { selector: { app: 's3' }, ports: [{ port: 9000 }] } },
    });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'creds' }, stringData: { password: 's3cret' } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { GREETING: 'hello' } },
    });
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'env', labels: { app: 'env' } },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'busybox',
              command: ['/bin/sh', '-c'],
              args: [
                `echo "$GREETING $(POD_NAME) on $(NODE) pw=$PASSWORD label=$APP data=$(DATA) listen=$LISTEN s3=$S3" '$$(NOT_EXPANDED)'; sleep 30`,
              ],
              envFrom: [
                { configMapRef: { name: 'settings' } },
                { secretRef: { name: 'absent', optional: true } },
              ],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
                { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
                { name: 'DATA', value: '/scratch/file' },
                { name: 'LISTEN', value: '0.0.0.0' },
                { name: 'S3', value: 'http://s3.default.svc.cluster.local:9000/bucket' },
              ],
              volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
            },
          ],
          volumes: [{ name: 'scratch', emptyDir: {} }],
        },
      },
    });
    const logs = await waitFor('the log line', async () => {
      const { stdout } = await run('/usr/bin/kubectl', [
        '--kubeconfig',
        kubeconfig,
        '--cache-dir',
        join(directory, 'cache'),
        'logs',
        'env',
      ]);
      return stdout.includes('hello') ? stdout : undefined;
    });
    const pod = await readPod('env');
    const ip = (pod?.status?.podIP ?? '').replace(/\./g, '\\.');
    expect(logs).toMatch(
      new RegExp(
        `^hello env on ${pod?.spec?.nodeName} pw=s3cret label=env data=/.+/empty-dir/scratch/file listen=${ip} s3=http://${s3.spec?.clusterIP}:9000/bucket \\$\\(NOT_EXPANDED\\)\\n$`,
      ),
    );
  });

  it('follows a log with kubectl logs -f until the pod goes', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'ticker' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: 'busybox',
              command: ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'],
            },
          ],
        },
      },
    });
    await waitFor('the ticker to run', async () => (isReady(await readPod('ticker')) ? true : undefined));
    const follower = spawn('/usr/bin/kubectl', [
      '--kubeconfig',
      kubeconfig,
      '--cache-dir',
      join(directory, 'cache'),
      'logs',
      '-f',
      'ticker',
    ]);
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => follower.on('exit', (code) => resolve(code)));
    try {
      // Lines written after kubectl connected arrive: the stream stays open and grows.
      const first = await waitFor('a first line', async () => /tick (\d+)/.exec(output)?.[1]);
      await waitFor('later lines', async () =>
        output.includes(`tick ${Number(first) + 5}`) ? true : undefined,
      );
      await core.deleteNamespacedPod({ namespace, name: 'ticker' });
      expect(await exited).toBe(0);
    } finally {
      follower.kill();
    }
  });

  it('kills a node: its pods fail with NodeLost, their processes are gone, and nothing new lands there', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'on-c' },
        spec: {
          nodeSelector: { [ZONE_LABEL]: 'zone-c' },
          containers: [{ name: 'main', image: 'x', command: ['/bin/sleep', '60'] }],
        },
      },
    });
    await waitFor('the pod to run', async () => (isReady(await readPod('on-c')) ? true : undefined));
    const pids = cluster.pids(namespace, 'on-c');
    await cluster.killNode('kind-worker3');
    const pod = await readPod('on-c');
    expect(pod?.status).toMatchObject({ phase: 'Failed', reason: 'NodeLost' });
    expect(alive(pids[0]!)).toBe(false);
    const node = await core.readNode({ name: 'kind-worker3' });
    expect(node.status?.conditions?.[0]?.status).toBe('Unknown');
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'on-c-again' },
        spec: {
          nodeSelector: { [ZONE_LABEL]: 'zone-c' },
          containers: [{ name: 'main', image: 'x', command: ['/bin/sleep', '60'] }],
        },
      },
    });
    await waitFor('Unschedulable', async () =>
      (await readPod('on-c-again'))?.status?.conditions?.some(
        (condition) => condition.reason === 'Unschedulable',
      )
        ? true
        : undefined,
    );
    cluster.reviveNode('kind-worker3');
    await waitFor('the pod to run after the node came back', async () =>
      isReady(await readPod('on-c-again')) ? true : undefined,
    );
  });
});
