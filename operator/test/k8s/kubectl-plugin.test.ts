/**
 * `kubectl northlight` (src/kubectl/plugin.ts) run by the real kubectl, which finds
 * `operator/bin/kubectl-northlight` on PATH (and, for most cases, the same program in process: a
 * kubectl plugin run costs seconds of dispatcher and tsx start on this machine), against the Kubernetes API server stand-in with the real
 * CRDs from crds/. The operator is not running here: the test plays its part by writing the status a
 * reconciler writes, so what is checked is the plugin's side of the contract — the requests it
 * writes, the checks it makes first, what it prints, and how --wait follows (and gives up on) the
 * status.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANNOTATIONS,
  API_VERSION,
  DATABASE_CLUSTER,
  GROUP,
  LABELS,
  VERSION,
} from '../../src/k8s/contract.js';
import { main } from '../../src/kubectl/plugin.js';
import { KubeApiServer } from '../support/kube/api-server.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const operatorRoot = resolve(here, '..', '..');
const repositoryRoot = resolve(operatorRoot, '..');
const KUBECTL = '/usr/bin/kubectl';
const plural = DATABASE_CLUSTER.plural;
type Loose = ReturnType<typeof JSON.parse>;

let server: KubeApiServer;
let directory: string;
let kubeconfig: string;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;

interface Ran {
  stdout: string;
  stderr: string;
  code: number;
}

async function kubectl(...args: string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(KUBECTL, args, {
      timeout: 60_000,
      env: {
        ...process.env,
        PATH: `${join(operatorRoot, 'bin')}:${process.env.PATH}`,
        KUBECONFIG: kubeconfig,
        KUBECACHEDIR: join(directory, 'cache'),
      },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

/** Through the real kubectl, which finds the executable on PATH: slow (a dispatcher and tsx start). */
const viaKubectl = (...args: string[]) => kubectl('northlight', ...args);

/** The same program in process, for the many cases: same parsing, API calls and output. */
async function plugin(...args: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args.includes('--kubeconfig') ? args : [...args, '--kubeconfig', kubeconfig], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { stdout: out.map((line) => `${line}\n`).join(''), stderr: err.join('\n'), code };
}

function manifest(name: string, namespace = 'default'): string {
  const path = join(directory, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `apiVersion: ${API_VERSION}`,
      `kind: ${DATABASE_CLUSTER.kind}`,
      'metadata:',
      `  name: ${name}`,
      `  namespace: ${namespace}`,
      'spec:',
      '  engine:',
      '    version: 0.1.0',
      '    instances:',
      '      - { name: engine-1, promotionTier: 0 }',
      '      - { name: engine-2, promotionTier: 2 }',
      '      - { name: engine-3, promotionTier: 1 }',
      '  storage:',
      '    version: 0.1.0',
      '    zones: [{ name: a, nodes: 2 }, { name: b, nodes: 2 }, { name: c, nodes: 3 }]',
      '',
    ].join('\n'),
  );
  return path;
}

async function getCluster(name: string, namespace = 'default'): Promise<Loose> {
  return custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name });
}

/** What the operator would write: the status, through the status subresource. */
async function setStatus(name: string, status: Loose, namespace = 'default'): Promise<void> {
  await custom.patchNamespacedCustomObjectStatus(
    { group: GROUP, version: VERSION, namespace, plural, name, body: { status } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

function condition(type: string, status: 'True' | 'False', reason: string, message = ''): Loose {
  return { type, status, reason, message, lastTransitionTime: new Date().toISOString() };
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'kubectl-plugin-test-'));
  server = await KubeApiServer.start();
  kubeconfig = server.writeKubeconfig(directory);
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfig);
  custom = config.makeApiClient(k8s.CustomObjectsApi);
  core = config.makeApiClient(k8s.CoreV1Api);
  const applied = await kubectl('apply', '-f', join(repositoryRoot, 'crds'));
  expect(applied.stderr).toBe('');
  expect(applied.stdout).toContain(`${plural}.${GROUP} created`);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

describe('kubectl northlight', () => {
  it('says when there is no cluster, and names what is missing for an unknown one', async () => {
    const empty = await viaKubectl('status');
    expect(empty.stderr).toBe('');
    expect(empty.code).toBe(0);
    expect(empty.stdout.trim()).toBe('No DatabaseClusters found.');
    const missing = await viaKubectl('status', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DatabaseCluster nope in namespace default: not found');
  }, 60_000);

  it('shows clusters and one cluster in detail from what the operator wrote', async () => {
    expect((await kubectl('apply', '-f', manifest('demo'))).code).toBe(0);
    const before = await plugin('status', 'demo');
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('DatabaseCluster demo in namespace default: not reconciled yet');
    expect(before.stdout).toContain('no pods');

    await setStatus('demo', {
      observedGeneration: 1,
      phase: 'Ready',
      writer: 'engine-1',
      readyInstances: 3,
      endpoints: { readWrite: 'demo-rw.default.svc:5432', readOnly: 'demo-ro.default.svc:5432' },
      conditions: [condition('Ready', 'True', 'Healthy', 'every PG has 6 of 6 copies')],
    });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: {
          name: 'demo-storage-c-3',
          labels: {
            [LABELS.cluster]: 'demo',
            [LABELS.member]: 'storage-c-3',
            [LABELS.component]: 'storage',
            [LABELS.zone]: 'c',
          },
        },
        spec: { containers: [{ name: 'storage', image: 'northlight' }] },
      },
    });
    const list = await plugin('status');
    expect(list.stdout.split('\n')[1]).toMatch(/^demo\s+True\s+Ready\s+engine-1\s+3\/3\s+7\s+\d+s$/);
    const detail = await plugin('status', 'demo');
    expect(detail.stdout).toContain('Writer: engine-1   ready instances: 3/3');
    expect(detail.stdout).toMatch(/Ready\s+True\s+Healthy\s+\d+s\s+every PG has 6 of 6 copies/);
    expect(detail.stdout).toMatch(/storage-c-3\s+storage\s+c\s+-\s+no\s+0/);
    const json = JSON.parse((await plugin('status', 'demo', '-o', 'json')).stdout);
    expect(json.cluster.status.writer).toBe('engine-1');
    expect(json.pods).toHaveLength(1);
  }, 60_000);

  it('requests a switchover to the lowest tier by default, and refuses impossible targets', async () => {
    const unknown = await plugin('switchover', 'demo', '--to', 'engine-9');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'engine-9 is not an instance of demo; its instances: engine-1, engine-2, engine-3',
    );
    const writer = await plugin('switchover', 'demo', '--to', 'engine-1');
    expect(writer.code).toBe(2);
    expect(writer.stderr).toContain('engine-1 is already the writer of demo');
    expect((await getCluster('demo')).metadata.annotations?.[ANNOTATIONS.switchoverTo]).toBeUndefined();

    const requested = await plugin('switchover', 'demo');
    expect(requested.code).toBe(0);
    expect(requested.stdout).toContain('switchover of demo to engine-3 requested');
    expect((await getCluster('demo')).metadata.annotations[ANNOTATIONS.switchoverTo]).toBe('engine-3');
  }, 60_000);

  it('--wait follows the status until the switchover is done', async () => {
    const waiting = plugin('switchover', 'demo', '--to', 'engine-2', '--wait', '--timeout', '30s');
    await new Promise((done) => setTimeout(done, 1_500));
    await setStatus('demo', {
      phase: 'FailingOver',
      conditions: [
        condition('Ready', 'False', 'SwitchingOver', 'promoting engine-2'),
        condition('FailingOver', 'True', 'Switchover', 'engine-1 fenced; promoting engine-2'),
      ],
    });
    await new Promise((done) => setTimeout(done, 1_500));
    await setStatus('demo', {
      phase: 'Ready',
      writer: 'engine-2',
      conditions: [
        condition('Ready', 'True', 'Healthy'),
        condition('FailingOver', 'False', 'Done', 'engine-2 is the writer'),
      ],
    });
    const done = await waiting;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('FailingOver: engine-1 fenced; promoting engine-2');
    expect(done.stdout).toContain('switchover to engine-2: done');
  }, 60_000);

  it('requests a repair of a storage node the spec names, and nothing else', async () => {
    const unknown = await plugin('repair', 'demo', 'storage-d-1');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('storage-d-1 is not a storage node of demo');
    const requested = await plugin('repair', 'demo', 'storage-c-3');
    expect(requested.code).toBe(0);
    expect((await getCluster('demo')).metadata.annotations[ANNOTATIONS.repairNode]).toBe('storage-c-3');
  }, 60_000);

  it('--wait gives up after --timeout, saying the last state and that the operator carries on', async () => {
    await setStatus('demo', {
      conditions: [
        condition('Ready', 'True', 'Healthy'),
        condition('Repairing', 'True', 'Draining', 'storage-c-3'),
      ],
    });
    const started = Date.now();
    const timedOut = await plugin('repair', 'demo', 'storage-c-3', '--wait', '--timeout', '2s');
    expect(timedOut.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(timedOut.stderr).toContain('repair of storage-c-3: not done after 2 s');
    expect(timedOut.stderr).toContain('Repairing: storage-c-3');
    expect(timedOut.stderr).toContain('kubectl northlight status demo');
  }, 60_000);

  it('upgrades by patching the versions in the spec, storage only or both', async () => {
    const bad = await plugin('upgrade', 'demo', 'v2');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"v2" is not a version like 1.2.3');
    const before = (await getCluster('demo')).metadata.generation;
    const storageOnly = await plugin('upgrade', 'demo', '0.2.0', '--storage-only');
    expect(storageOnly.code).toBe(0);
    let object = await getCluster('demo');
    expect(object.spec.storage.version).toBe('0.2.0');
    expect(object.spec.engine.version).toBe('0.1.0');
    expect(object.metadata.generation).toBe(before + 1);
    expect((await plugin('upgrade', 'demo', '0.2.0')).code).toBe(0);
    object = await getCluster('demo');
    expect(object.spec.engine.version).toBe('0.2.0');
    // The rest of the spec is untouched by the merge patch.
    expect(object.spec.storage.zones).toHaveLength(3);
    expect(object.spec.engine.instances).toHaveLength(3);
  }, 60_000);

  it('uses --namespace and --kubeconfig of its own', async () => {
    await core.createNamespace({ body: { metadata: { name: 'prod' } } });
    expect((await kubectl('apply', '-f', manifest('other', 'prod'))).code).toBe(0);
    const listed = await plugin('status', '-n', 'prod', '--kubeconfig', kubeconfig);
    expect(listed.stdout).toMatch(/^other\s/m);
    expect(listed.stdout).not.toMatch(/^demo\s/m);
    const noConfig = await viaKubectl('status', '--kubeconfig', join(directory, 'missing'));
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('cannot load the kubeconfig');
  }, 60_000);
});
