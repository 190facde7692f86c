/**
 * The Kubernetes API server stand-in (test/support/kube/api-server.ts) against the real clients the
 * operator and its users run: kubectl (/usr/bin/kubectl, with its own kubeconfig and discovery cache
 * in a temp dir, and without --validate=false) and @kubernetes/client-node 1.4.0. It proves that the
 * requests those clients make get the answers a real API server gives: discovery and OpenAPI, apply
 * (client- and server-side), watch, JSON and merge patches, finalizers, validation errors, informers,
 * watch resume and 410 Expired, optimistic concurrency, the status subresource, label selectors,
 * owner-reference garbage collection and namespace deletion.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, DATABASE_CLUSTER, FINALIZER, GROUP, VERSION } from '../../src/k8s/contract.js';
import { KubeApiServer } from '../support/kube/api-server.js';
import { testCustomResourceDefinition } from '../support/kube/test-crd.js';

const run = promisify(execFile);
/** Objects as the server returns them: untyped JSON, read field by field in assertions. */
type Loose = ReturnType<typeof JSON.parse>;
const KUBECTL = '/usr/bin/kubectl';
const plural = DATABASE_CLUSTER.plural;

let server: KubeApiServer;
let directory: string;
let kubeconfig: string;
let kc: k8s.KubeConfig;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(directory, 'cache'), ...args],
      {
        timeout: 30_000,
      },
    );
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

function writeManifest(name: string, text: string): string {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

function cluster(name: string, spec: string): string {
  return `apiVersion: ${API_VERSION}\nkind: ${DATABASE_CLUSTER.kind}\nmetadata:\n  name: ${name}\nspec: ${spec}\n`;
}

async function getCluster(name: string, namespace = 'default'): Promise<Record<string, Loose>> {
  return (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural,
    name,
  })) as Record<string, Loose>;
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'kube-api-test-'));
  server = await KubeApiServer.start({ maxRetainedEvents: 200, bookmarkIntervalMs: 200 });
  kubeconfig = server.writeKubeconfig(directory);
  kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  core = kc.makeApiClient(k8s.CoreV1Api);
  const crd = writeManifest('crd.yaml', testCustomResourceDefinition());
  const applied = await kubectl('apply', '-f', crd);
  expect(applied.stderr).toBe('');
  expect(applied.stdout).toContain(
    `customresourcedefinition.apiextensions.k8s.io/${plural}.${GROUP} created`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

describe('kubectl', () => {
  it('discovers the custom resource by plural and short name and shows its printer columns', async () => {
    const resources = await kubectl('api-resources', '--api-group', GROUP);
    expect(resources.stdout).toMatch(
      new RegExp(
        `${plural}\\s+${DATABASE_CLUSTER.shortNames[0]}\\s+${API_VERSION}\\s+true\\s+${DATABASE_CLUSTER.kind}`,
      ),
    );
    const path = writeManifest('columns.yaml', cluster('columns', '{ replicas: 2, version: 1.0.0 }'));
    expect((await kubectl('apply', '-f', path)).code).toBe(0);
    const table = await kubectl('get', DATABASE_CLUSTER.shortNames[0], 'columns');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+REPLICAS\s+VERSION\s+READY\s+AGE$/);
    expect(table.stdout.split('\n')[1]).toMatch(/^columns\s+2\s+1\.0\.0\s+\d+s$/);
  });

  it('applies a resource twice: created, then configured through a merge patch, generation 2', async () => {
    const path = writeManifest('db-apply.yaml', cluster('db-apply', '{ replicas: 1 }'));
    expect((await kubectl('apply', '-f', path)).stdout).toContain(
      `databasecluster.${GROUP}/db-apply created`,
    );
    writeManifest('db-apply.yaml', cluster('db-apply', '{ replicas: 3 }'));
    expect((await kubectl('apply', '-f', path)).stdout).toContain(
      `databasecluster.${GROUP}/db-apply configured`,
    );
    expect((await kubectl('apply', '-f', path)).stdout).toContain(
      `databasecluster.${GROUP}/db-apply unchanged`,
    );
    const object = JSON.parse((await kubectl('get', plural, 'db-apply', '-o', 'json')).stdout);
    expect(object.spec.replicas).toBe(3);
    expect(object.metadata.generation).toBe(2);
    expect(object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"replicas":3',
    );
  });

  it('applies server-side, reports a conflict with another manager, and takes the field with --force-conflicts', async () => {
    const path = writeManifest('db-ssa.yaml', cluster('db-ssa', '{ replicas: 1, mode: fast }'));
    expect((await kubectl('apply', '--server-side', '-f', path)).stdout).toContain('serverside-applied');
    expect(
      (await kubectl('patch', plural, 'db-ssa', '--type=merge', '-p', '{"spec":{"mode":"safe"}}')).code,
    ).toBe(0);
    const conflicting = await kubectl('apply', '--server-side', '-f', path);
    expect(conflicting.code).not.toBe(0);
    expect(conflicting.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl-patch"');
    expect(conflicting.stderr).toContain('.spec.mode');
    expect((await kubectl('apply', '--server-side', '--force-conflicts', '-f', path)).code).toBe(0);
    expect((await getCluster('db-ssa')).spec.mode).toBe('fast');
    // Dropping a field from the applied configuration removes it: the applier owned it alone.
    writeManifest('db-ssa.yaml', cluster('db-ssa', '{ replicas: 1 }'));
    expect((await kubectl('apply', '--server-side', '-f', path)).code).toBe(0);
    expect((await getCluster('db-ssa')).spec.mode).toBeUndefined();
  });

  it('validates int-or-string with anyOf, multipleOf, map-list keys and defaults, as the schema says', async () => {
    const path = writeManifest(
      'db-schema.yaml',
      cluster(
        'db-schema',
        '{ replicas: 1, cacheSize: 64MiB, members: [{ name: a }], objectStore: { bucket: b } }',
      ),
    );
    expect((await kubectl('apply', '-f', path)).code).toBe(0);
    const stored = await getCluster('db-schema');
    expect(stored.spec.members).toEqual([{ name: 'a', tier: 1 }]);
    const patch = (spec: string) =>
      kubectl('patch', plural, 'db-schema', '--type=merge', '-p', `{"spec":${spec}}`);
    expect((await patch('{"cacheSize":8192}')).code).toBe(0);
    expect((await patch('{"cacheSize":8193}')).stderr).toContain(
      'spec.cacheSize: Invalid value: 8193: spec.cacheSize in body should be a multiple of 4096',
    );
    expect((await patch('{"cacheSize":"64MB"}')).stderr).toContain(
      "spec.cacheSize in body should match '^[0-9]+(KiB|MiB)?$'",
    );
    expect((await patch('{"cacheSize":true}')).stderr).toContain(
      'spec.cacheSize in body must be of type integer or string',
    );
    expect((await patch('{"members":[{"name":"a"},{"name":"a","tier":2}]}')).stderr).toContain(
      'spec.members[1]: Duplicate value: map[string]interface {}{"name":"a"}',
    );
    expect((await patch('{"objectStore":"none"}')).code).toBe(0);
    expect((await patch('{"objectStore":"s3"}')).stderr).toContain(
      'spec.objectStore in body must validate at least one schema (anyOf)',
    );
    expect((await patch('{"objectStore":{"region":"x"}}')).stderr).toContain(
      'spec.objectStore: Invalid value: {"region":"x"}: spec.objectStore in body must validate at least one schema (anyOf)',
    );
  });

  it('patches with JSON Patch (a failing test op is refused) and merge patch', async () => {
    const path = writeManifest('db-patch.yaml', cluster('db-patch', '{ replicas: 1 }'));
    await kubectl('apply', '-f', path);
    const failed = await kubectl(
      'patch',
      plural,
      'db-patch',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/spec/replicas","value":9}]',
    );
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('testing value /spec/replicas failed');
    const json = await kubectl(
      'patch',
      plural,
      'db-patch',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":4}]',
    );
    expect(json.stdout).toContain('patched');
    expect(
      (await kubectl('patch', plural, 'db-patch', '--type=merge', '-p', '{"spec":{"zones":["a","b","c"]}}'))
        .code,
    ).toBe(0);
    const object = await getCluster('db-patch');
    expect(object.spec).toMatchObject({ replicas: 4, zones: ['a', 'b', 'c'] });
  });

  it('applies built-in objects twice through strategic merge patches (lists merged by key)', async () => {
    const deployment = (image: string, env: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: op, labels: { app: op } }
spec:
  selector: { matchLabels: { app: op } }
  template:
    metadata: { labels: { app: op } }
    spec:
      containers:
        - name: main
          image: ${image}
          env: [${env}]
          ports: [{ name: metrics, containerPort: 7401 }]
        - name: sidecar
          image: busybox
`;
    const path = writeManifest(
      'deployment.yaml',
      deployment('op:1', '{ name: A, value: "1" }, { name: B, value: "2" }'),
    );
    expect((await kubectl('apply', '-f', path)).stdout).toContain('deployment.apps/op created');
    writeManifest('deployment.yaml', deployment('op:2', '{ name: B, value: "3" }'));
    expect((await kubectl('apply', '-f', path)).stdout).toContain('deployment.apps/op configured');
    expect((await kubectl('label', 'deployment', 'op', 'tier=control')).code).toBe(0);
    const object = JSON.parse((await kubectl('get', 'deployment', 'op', '-o', 'json')).stdout);
    const containers = object.spec.template.spec.containers;
    expect(containers.map((container: Loose) => container.name)).toEqual(['main', 'sidecar']);
    expect(containers[0].image).toBe('op:2');
    expect(containers[0].env).toEqual([{ name: 'B', value: '3' }]);
    expect(containers[0].ports).toEqual([{ name: 'metrics', containerPort: 7401 }]);
    expect(JSON.stringify(object)).not.toContain('$setElementOrder');
    expect(object.metadata.labels).toEqual({ app: 'op', tier: 'control' });
    // Custom resources have no strategic-merge schema: kubectl's default patch type is refused.
    const strategic = await kubectl('patch', plural, 'db-apply', '-p', '{"spec":{"replicas":2}}');
    expect(strategic.code).not.toBe(0);
  });

  it('sees a change through kubectl get --watch', async () => {
    await kubectl('apply', '-f', writeManifest('db-watch.yaml', cluster('db-watch', '{ replicas: 1 }')));
    const watcher = spawn(KUBECTL, [
      '--kubeconfig',
      kubeconfig,
      '--cache-dir',
      join(directory, 'cache'),
      'get',
      plural,
      '--watch',
      '-o',
      'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas',
      '--no-headers',
    ]);
    let output = '';
    watcher.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      await waitFor('the initial list', () => (/db-watch\s+1/.test(output) ? true : undefined));
      await kubectl('patch', plural, 'db-watch', '--type=merge', '-p', '{"spec":{"replicas":7}}');
      await waitFor('the change', () => (/db-watch\s+7/.test(output) ? true : undefined));
    } finally {
      watcher.kill();
    }
  });

  it('keeps an object with a finalizer, marked for deletion, until the finalizer is removed', async () => {
    const path = writeManifest(
      'db-final.yaml',
      `${cluster('db-final', '{ replicas: 1 }').replace('  name: db-final', `  name: db-final\n  finalizers: [${FINALIZER}]`)}`,
    );
    await kubectl('apply', '-f', path);
    const deleted = await kubectl('delete', plural, 'db-final', '--wait=false');
    expect(deleted.stdout).toContain(`databasecluster.${GROUP} "db-final" deleted`);
    const stillThere = await getCluster('db-final');
    expect(stillThere.metadata.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(stillThere.metadata.finalizers).toEqual([FINALIZER]);
    await kubectl(
      'patch',
      plural,
      'db-final',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    );
    const gone = await kubectl('get', plural, 'db-final');
    expect(gone.stderr).toContain(`databaseclusters.${GROUP} "db-final" not found`);
  });

  it('prints the 422 message of an invalid resource and the strict-decoding error of an unknown field', async () => {
    const invalid = await kubectl(
      'apply',
      '-f',
      writeManifest('bad.yaml', cluster('bad', '{ replicas: -1, mode: slow, version: x }')),
    );
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain(`The ${DATABASE_CLUSTER.kind} "bad" is invalid`);
    expect(invalid.stderr).toContain(
      'spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0',
    );
    expect(invalid.stderr).toContain(
      'spec.mode: Unsupported value: "slow": supported values: "fast", "safe"',
    );
    expect(invalid.stderr).toContain("spec.version in body should match '^[0-9]+\\.[0-9]+\\.[0-9]+$'");
    const missing = await kubectl(
      'apply',
      '-f',
      writeManifest('missing.yaml', cluster('missing', '{ mode: fast }')),
    );
    expect(missing.stderr).toContain('spec.replicas: Required value');
    const unknown = await kubectl(
      'apply',
      '-f',
      writeManifest('unknown.yaml', cluster('unknown', '{ replicas: 1, bogus: true }')),
    );
    expect(unknown.stderr).toContain('strict decoding error: unknown field "spec.bogus"');
    // Without strict validation the unknown field is pruned, as a real server does.
    expect((await kubectl('apply', '--validate=false', '-f', join(directory, 'unknown.yaml'))).code).toBe(0);
    expect((await getCluster('unknown')).spec).toEqual({ replicas: 1 });
  });
});

describe('client-node 1.4.0', () => {
  const path = `/apis/${GROUP}/${VERSION}/namespaces/default/${plural}`;
  const body = (name: string, replicas: number) => ({
    apiVersion: API_VERSION,
    kind: DATABASE_CLUSTER.kind,
    metadata: { name, labels: { team: 'a' } },
    spec: { replicas },
  });

  it('feeds an informer add, update and delete events', async () => {
    const informer = k8s.makeInformer(
      kc,
      path,
      () =>
        custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: 'default',
          plural,
          labelSelector: 'team=informer',
        }) as never,
      'team=informer',
    );
    const events: string[] = [];
    informer.on('add', (object) => events.push(`add ${object.metadata?.name}`));
    informer.on('update', (object) =>
      events.push(`update ${object.metadata?.name} ${(object as Loose).spec.replicas}`),
    );
    informer.on('delete', (object) => events.push(`delete ${object.metadata?.name}`));
    informer.on('error', () => {});
    await informer.start();
    try {
      const object = body('informed', 1);
      object.metadata.labels.team = 'informer';
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        body: object,
      });
      await custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: 'default',
          plural,
          name: 'informed',
          body: { spec: { replicas: 2 } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        name: 'informed',
      });
      await waitFor('three events', () => (events.length >= 3 ? true : undefined));
      expect(events).toEqual(['add informed', 'update informed 2', 'delete informed']);
      expect(informer.list()).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  it('resumes a watch from a resourceVersion, and answers a too-old one with a 410 Expired ERROR event', async () => {
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: body('resumed', 1),
    })) as Loose;
    const from = created.metadata.resourceVersion as string;
    for (const replicas of [2, 3])
      await custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: 'default',
          plural,
          name: 'resumed',
          body: { spec: { replicas } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      path,
      { resourceVersion: from, allowWatchBookmarks: true, fieldSelector: 'metadata.name=resumed' },
      (type, object) => {
        seen.push(type === 'BOOKMARK' ? 'BOOKMARK' : `${type} ${object.spec.replicas}`);
      },
      () => {},
    );
    await waitFor('the replayed events and a bookmark', () => (seen.includes('BOOKMARK') ? true : undefined));
    controller.abort();
    expect(seen.filter((event) => event !== 'BOOKMARK')).toEqual(['MODIFIED 2', 'MODIFIED 3']);
    // The server keeps 200 events: 250 more writes push `from` out of the window.
    for (let index = 0; index < 125; index += 1) {
      const name = `churn-${index}`;
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        body: body(name, 1),
      });
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        name,
      });
    }
    const expired = await new Promise<Loose>((resolve) => {
      void watch.watch(
        path,
        { resourceVersion: from },
        (type, object) => {
          if (type === 'ERROR') resolve(object);
        },
        () => {},
      );
    });
    expect(expired).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    expect(expired.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('refuses a replace with a stale resourceVersion: ApiException 409 Conflict', async () => {
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: body('stale', 1),
    })) as Loose;
    await custom.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      name: 'stale',
      body: { ...created, spec: { replicas: 2 } },
    });
    const error = await custom
      .replaceNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        name: 'stale',
        body: { ...created, spec: { replicas: 3 } },
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(k8s.ApiException);
    const exception = error as k8s.ApiException<string>;
    expect(exception.code).toBe(409);
    const status = JSON.parse(exception.body);
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 });
    expect(status.message).toBe(
      `Operation cannot be fulfilled on ${plural}.${GROUP} "stale": the object has been modified; please apply your changes to the latest version and try again`,
    );
    const duplicate = await custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'default',
        plural,
        body: body('stale', 1),
      })
      .catch((caught: unknown) => caught as k8s.ApiException<string>);
    expect((duplicate as k8s.ApiException<string>).code).toBe(409);
    expect(JSON.parse((duplicate as k8s.ApiException<string>).body).reason).toBe('AlreadyExists');
  });

  it('keeps status and spec apart (status subresource) and counts generation on spec changes only', async () => {
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: { ...body('status', 1), status: { phase: 'ignored on create' } },
    })) as Loose;
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);
    const target = { group: GROUP, version: VERSION, namespace: 'default', plural, name: 'status' };
    await custom.patchNamespacedCustomObjectStatus({
      ...target,
      body: [{ op: 'add', path: '/status', value: { phase: 'Creating', observedGeneration: 1 } }],
    });
    await custom.patchNamespacedCustomObjectStatus(
      { ...target, body: { status: { phase: 'Running' }, spec: { replicas: 9 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    let object = await getCluster('status');
    expect(object.status).toEqual({ phase: 'Running', observedGeneration: 1 });
    expect(object.spec.replicas).toBe(1);
    expect(object.metadata.generation).toBe(1);
    await custom.patchNamespacedCustomObjectStatus(
      {
        ...target,
        fieldManager: 'northlight-operator',
        force: true,
        body: {
          apiVersion: API_VERSION,
          kind: DATABASE_CLUSTER.kind,
          metadata: { name: 'status' },
          status: { phase: 'Ready' },
        },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    );
    object = await getCluster('status');
    expect(object.status.phase).toBe('Ready');
    await custom.replaceNamespacedCustomObject({
      ...target,
      body: { ...object, spec: { replicas: 2 }, status: { phase: 'ignored' } },
    });
    object = await getCluster('status');
    expect(object.status.phase).toBe('Ready');
    expect(object.spec.replicas).toBe(2);
    expect(object.metadata.generation).toBe(2);
    await custom.patchNamespacedCustomObject(
      { ...target, body: { metadata: { labels: { extra: 'yes' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect((await getCluster('status')).metadata.generation).toBe(2);
  });

  it('selects pods by labels (=, !=, in, notin, exists, !key) and by field', async () => {
    for (const [name, labels] of [
      ['p1', { role: 'writer', zone: 'a' }],
      ['p2', { role: 'replica', zone: 'b' }],
      ['p3', { role: 'replica' }],
    ] as const)
      await core.createNamespacedPod({
        namespace: 'default',
        body: { metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      });
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (
        await core.listNamespacedPod({
          namespace: 'default',
          ...(labelSelector === undefined ? {} : { labelSelector }),
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
        })
      ).items
        .map((pod) => pod.metadata?.name)
        .join(',');
    expect(await names('role=replica')).toBe('p2,p3');
    expect(await names('role==writer')).toBe('p1');
    expect(await names('role!=writer')).toBe('p2,p3');
    expect(await names('zone in (a, b)')).toBe('p1,p2');
    expect(await names('zone notin (a)')).toBe('p2,p3');
    expect(await names('zone')).toBe('p1,p2');
    expect(await names('!zone')).toBe('p3');
    expect(await names('role=replica,zone')).toBe('p2');
    expect(await names(undefined, 'metadata.name=p2')).toBe('p2');
    expect(await names(undefined, 'status.phase=Pending,metadata.name!=p1')).toBe('p2,p3');
    const bad = await core
      .listNamespacedPod({ namespace: 'default', fieldSelector: 'spec.bogus=1' })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((bad as k8s.ApiException<string>).code).toBe(400);
    const page = await core.listNamespacedPod({ namespace: 'default', limit: 2 });
    expect(page.items.map((pod) => pod.metadata?.name)).toEqual(['p1', 'p2']);
    const rest = await core.listNamespacedPod({
      namespace: 'default',
      limit: 2,
      _continue: page.metadata?._continue ?? '',
    });
    expect(rest.items.map((pod) => pod.metadata?.name)).toEqual(['p3']);
  });

  it('garbage-collects dependents whose owners are gone, honouring their finalizers', async () => {
    const owner = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: body('owner', 1),
    })) as Loose;
    const ownerReferences = [
      {
        apiVersion: API_VERSION,
        kind: DATABASE_CLUSTER.kind,
        name: 'owner',
        uid: owner.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'owned', ownerReferences }, data: { a: '1' } },
    });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: {
        metadata: { name: 'owned-held', ownerReferences, finalizers: ['test/hold'] },
        stringData: { a: '1' },
      },
    });
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      name: 'owner',
    });
    const missing = await core
      .readNamespacedConfigMap({ namespace: 'default', name: 'owned' })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((missing as k8s.ApiException<string>).code).toBe(404);
    const held = await core.readNamespacedSecret({ namespace: 'default', name: 'owned-held' });
    expect(held.metadata?.deletionTimestamp).toBeDefined();
    await core.patchNamespacedSecret({
      namespace: 'default',
      name: 'owned-held',
      body: [{ op: 'remove', path: '/metadata/finalizers' }],
    });
    const gone = await core
      .readNamespacedSecret({ namespace: 'default', name: 'owned-held' })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((gone as k8s.ApiException<string>).code).toBe(404);
  });

  it('deletes in the foreground (the owner waits for blocking dependents) and orphans on request', async () => {
    const owner = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: body('fg-owner', 1),
    })) as Loose;
    const ownerReferences = [
      {
        apiVersion: API_VERSION,
        kind: DATABASE_CLUSTER.kind,
        name: 'fg-owner',
        uid: owner.metadata.uid,
        blockOwnerDeletion: true,
      },
    ];
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'fg-plain', ownerReferences } },
    });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'fg-held', ownerReferences, finalizers: ['test/hold'] } },
    });
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      name: 'fg-owner',
      propagationPolicy: 'Foreground',
    });
    const waiting = await getCluster('fg-owner');
    expect(waiting.metadata.deletionTimestamp).toBeDefined();
    expect(waiting.metadata.finalizers).toEqual(['foregroundDeletion']);
    const plain = await core
      .readNamespacedConfigMap({ namespace: 'default', name: 'fg-plain' })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((plain as k8s.ApiException<string>).code).toBe(404);
    await core.patchNamespacedSecret({
      namespace: 'default',
      name: 'fg-held',
      body: [{ op: 'remove', path: '/metadata/finalizers' }],
    });
    const gone = await getCluster('fg-owner').catch((error: unknown) => error as k8s.ApiException<string>);
    expect((gone as k8s.ApiException<string>).code).toBe(404);

    const orphaning = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      body: body('orphaner', 1),
    })) as Loose;
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: {
          name: 'orphan',
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: DATABASE_CLUSTER.kind,
              name: 'orphaner',
              uid: orphaning.metadata.uid,
            },
          ],
        },
      },
    });
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'default',
      plural,
      name: 'orphaner',
      propagationPolicy: 'Orphan',
    });
    const orphan = await core.readNamespacedConfigMap({ namespace: 'default', name: 'orphan' });
    expect(orphan.metadata?.ownerReferences).toBeUndefined();
  });

  it('deletes a namespace with its content, waiting for finalizers, and refuses new content meanwhile', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'plain' } } });
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: 'doomed',
      plural,
      body: { ...body('held', 1), metadata: { name: 'held', finalizers: [FINALIZER] } },
    });
    await core.deleteNamespace({ name: 'doomed' });
    const terminating = await core.readNamespace({ name: 'doomed' });
    expect(terminating.status?.phase).toBe('Terminating');
    expect((await core.listNamespacedConfigMap({ namespace: 'doomed' })).items).toEqual([]);
    const refused = await core
      .createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((refused as k8s.ApiException<string>).code).toBe(403);
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: 'doomed',
        plural,
        name: 'held',
        body: { metadata: { finalizers: null } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const gone = await core
      .readNamespace({ name: 'doomed' })
      .catch((error: unknown) => error as k8s.ApiException<string>);
    expect((gone as k8s.ApiException<string>).code).toBe(404);
  });
});
