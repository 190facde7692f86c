/**
 * The chart's dashboards and alert rules against a real Prometheus scraping a real cluster.
 *
 *   1. `promtool check rules` accepts the rule file and `promtool test rules` passes its unit tests
 *      (each alert fires on the series that should trigger it, and only on those).
 *   2. A local cluster (`northlight up`: seven storage nodes in three zones, a writer, a replica;
 *      the spare node in zone a lets a repair run, with a 1 s grace period) runs a small SQL load,
 *      writes through the read-write endpoint and reads through the read-only one.
 *   3. A real `prometheus` (1 s scrapes, a temp dir) scrapes every member's `/metrics` and the control
 *      API's, with the target labels the chart's PodMonitor gives them (`cluster`, `namespace`,
 *      `pod`, `component`, `zone`, `member`, `role`); the control plane's series carry their own
 *      `cluster` and `namespace` (honor_labels), as the operator's do on Kubernetes.
 *   4. Every dashboard's template variables are resolved as Grafana would (their label_values
 *      queries must find the cluster), and then every panel query of every dashboard must return a
 *      non-empty result through `/api/v1/query`; every alert expression must evaluate without error,
 *      and the rule file loads in the running Prometheus with every rule healthy.
 *   5. The numbers are the cluster's: every storage node reachable, every PG with six healthy
 *      members, a writer present, commits counted. A storage node holding a segment is killed: it
 *      shows in the storage-node-down alert's expression and the reachable count, and the repair
 *      that replaces it is counted by the executor's hooks (begun, completed, its duration, the
 *      bytes hydrated) until every PG has six healthy members again.
 * Prometheus, the cluster and their temp dirs are stopped and removed at the end.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@northlight/protocol/io';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ClusterStatus } from '../../src/core/cluster-status.js';
import { ControlMetrics, LOCAL_NAMESPACE, startControlMetricsServer } from '../../src/io/control-metrics.js';
import { internalTokenOf } from '../../src/io/local-cluster.js';
import { memberObjectName } from '../../src/k8s/contract.js';
import {
  clusterStatus,
  newDataDir,
  northlight,
  sql,
  startUp,
  state,
  type Up,
  until,
} from '../support/cli-rig.js';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dashboardsDir = join(repositoryRoot, 'charts', 'northlight', 'dashboards');
const rulesFile = join(repositoryRoot, 'charts', 'northlight', 'rules', 'northlight.rules.yaml');
const rulesTestsDir = join(repositoryRoot, 'charts', 'northlight', 'rules', 'tests');

/** What Grafana puts for its interval macros with a 1 s scrape interval (rounded up, as a range). */
const GRAFANA_MACROS: Readonly<Record<string, string>> = {
  $__rate_interval: '15s',
  $__interval: '1s',
  $__range: '1h',
};

interface Target {
  readonly expr: string;
  readonly refId: string;
}
interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly definition?: string;
  readonly includeAll?: boolean;
  readonly allValue?: string;
}
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly templating: { readonly list: readonly Variable[] };
  readonly panels: readonly Panel[];
}

/** The smallest cluster with a replica and a spare storage node, so a lost segment can be repaired. */
const CLUSTER_YAML = `apiVersion: northlight.dev/v1alpha1
kind: DatabaseCluster
metadata: { name: observed }
spec:
  storage:
    zones:
      - { name: a, nodes: 3 }
      - { name: b, nodes: 2 }
      - { name: c, nodes: 2 }
  controlPlane:
    repairGracePeriod: 1s
`;

/** How every panel names its data source: Grafana's `datasource` template variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's syntax, not a template literal
const DATASOURCE_VARIABLE = '${datasource}';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function dashboards(): Dashboard[] {
  return readdirSync(dashboardsDir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as Dashboard);
}

function panelsOf(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

function alertExpressions(): { alert: string; expr: string }[] {
  const file = parseYaml(readFileSync(rulesFile, 'utf8')) as {
    groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
  };
  return file.groups.flatMap((group) =>
    group.rules.map((rule) => ({ alert: rule.alert ?? rule.record ?? '?', expr: rule.expr })),
  );
}

interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: {
    readonly resultType: string;
    readonly result: readonly { metric: Record<string, string>; value: [number, string] }[];
  };
}

async function query(prometheusUrl: string, promql: string): Promise<QueryResult> {
  const response = await fetch(`${prometheusUrl}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: promql }),
    signal: AbortSignal.timeout(10_000),
  });
  return (await response.json()) as QueryResult;
}

/** `label_values(selector, label)` → the label's values among the series the selector finds. */
async function labelValues(prometheusUrl: string, definition: string): Promise<string[]> {
  const match = /^label_values\((.+),\s*([a-zA-Z_]+)\)$/.exec(definition);
  if (match === null) throw new Error(`not a label_values query: ${definition}`);
  const url = new URL(`${prometheusUrl}/api/v1/label/${match[2]}/values`);
  url.searchParams.set('match[]', match[1]!);
  const answer = (await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).json()) as {
    status: string;
    data: string[];
  };
  expect(answer.status, definition).toBe('success');
  return answer.data;
}

function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  let text = expr;
  for (const [macro, value] of Object.entries(GRAFANA_MACROS)) text = text.split(macro).join(value);
  // Longest names first, so `$cluster` never eats a prefix of another variable.
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length))
    text = text.split(`$${name}`).join(values[name]!);
  expect(text, `a variable left unresolved in ${expr}`).not.toMatch(/\$[a-zA-Z_]/);
  return text;
}

function startPrometheus(dir: string, port: number): ChildProcess {
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', () => {}); // drained; Prometheus logs warnings there
  return child;
}

describe('dashboards and alert rules', () => {
  it('promtool accepts the rules and their unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const tests = readdirSync(rulesTestsDir).filter((file) => file.endsWith('.yaml'));
    expect(tests.length).toBeGreaterThan(0);
    const run = spawnSync('promtool', ['test', 'rules', ...tests.map((file) => join(rulesTestsDir, file))], {
      encoding: 'utf8',
    });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SUCCESS/);
    // Every alert of the rule file has a unit test that makes it fire.
    const tested = tests.map((file) => readFileSync(join(rulesTestsDir, file), 'utf8')).join('\n');
    for (const { alert } of alertExpressions()) expect(tested, alert).toContain(`alertname: ${alert}`);
  });

  it('dashboards are well-formed Grafana models on the datasource variable, and every alert is documented', () => {
    const boards = dashboards();
    expect(boards.map((board) => board.uid)).toEqual([
      'northlight-engine',
      'northlight-overview',
      'northlight-repair',
      'northlight-replicas',
      'northlight-storage',
    ]);
    for (const board of boards) {
      expect(board.title).toMatch(/^northlight \/ /);
      expect(board.schemaVersion).toBe(39);
      const datasource = board.templating.list.find((variable) => variable.name === 'datasource');
      expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
      const panels = panelsOf(board) as (Panel & { id: number; datasource?: { uid: string } })[];
      expect(new Set(panels.map((panel) => panel.id)).size, board.uid).toBe(panels.length);
      for (const panel of panels) {
        if (panel.type === 'row') continue;
        expect(panel.datasource?.uid, `${board.uid}: ${panel.title}`).toBe(DATASOURCE_VARIABLE);
        for (const target of panel.targets ?? []) {
          expect(target.expr, `${board.uid}: ${panel.title}`).toContain('cluster="$cluster"');
          expect(target.expr, `${board.uid}: ${panel.title}`).toContain('namespace="$namespace"');
        }
      }
    }
    const docs = readFileSync(join(repositoryRoot, 'docs', 'observability.md'), 'utf8');
    const file = parseYaml(readFileSync(rulesFile, 'utf8')) as {
      groups: {
        rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[];
      }[];
    };
    for (const rule of file.groups.flatMap((group) => group.rules)) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(Object.keys(rule.annotations).sort(), rule.alert).toEqual([
        'description',
        'runbook_url',
        'summary',
      ]);
      const anchor = rule.annotations.runbook_url!.split('#')[1];
      expect(anchor, rule.alert).toBe(rule.alert.toLowerCase());
      expect(docs, `a runbook section for ${rule.alert}`).toContain(`\n### ${rule.alert}\n`);
    }
  });

  it('control metrics follow the observed cluster: gone members lose their series, a deleted cluster all of them', async () => {
    const registry = new ControlMetrics();
    const metrics = registry.forCluster({ cluster: 'db', namespace: 'prod' });
    const node = (nodeId: string, zone: string, ready: boolean) => ({
      nodeId,
      zone,
      process: ready ? 'running' : 'down',
      ready,
      pid: undefined,
      starts: 1,
      version: '0.1.0',
      answered: ready,
      segments: ready ? 2 : 0,
      diskBytes: ready ? 4096 : 0,
      heat: ready ? 10 : 0,
    });
    const observation = (storage: ReturnType<typeof node>[], healthyMembers: number[]): ClusterStatus =>
      ({
        writer: 'engine-1',
        promoting: undefined,
        volume: {
          volumeEpoch: '3',
          vdl: undefined,
          vcl: undefined,
          pgCount: healthyMembers.length,
          healthyPgs: 0,
        },
        storage,
        engines: [{ name: 'engine-1', role: 'writer', ready: true }],
        pgs: healthyMembers.map((healthy, pgId) => ({
          pgId,
          healthyMembers: healthy,
          health: healthy === 6 ? 'healthy' : healthy >= 4 ? 'degraded' : 'at-risk',
        })),
        repairs: { inFlight: [{ id: 'repair-pg1-m2' }], recent: [], blocked: [] },
        upgrade: undefined,
      }) as unknown as ClusterStatus;
    metrics.observe(
      observation(
        [node('storage-a-1', 'a', true), node('storage-a-2', 'a', false), node('storage-b-1', 'b', true)],
        [6, 4],
      ),
    );
    metrics.started('repair');
    metrics.finished('repair', 'done', 12.5);
    metrics.hydrated('ok', 1_000_000);
    metrics.recordFailover();
    let text = await registry.metricsText();
    const line = (series: string) => text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    expect(
      line('northlight_control_storage_nodes{cluster="db",namespace="prod",zone="a",state="reachable"}'),
    ).toMatch(/ 1$/);
    expect(
      line('northlight_control_storage_nodes{cluster="db",namespace="prod",zone="a",state="unreachable"}'),
    ).toMatch(/ 1$/);
    expect(line('northlight_control_pg_members_healthy{cluster="db",namespace="prod",pg="1"}')).toMatch(
      / 4$/,
    );
    expect(line('northlight_control_pgs{cluster="db",namespace="prod",health="degraded"}')).toMatch(/ 1$/);
    expect(
      line('northlight_control_workflows_in_flight{cluster="db",namespace="prod",kind="repair"}'),
    ).toMatch(/ 1$/);
    expect(line('northlight_control_volume_epoch{cluster="db",namespace="prod"}')).toMatch(/ 3$/);
    expect(line('northlight_control_writer_present{cluster="db",namespace="prod"}')).toMatch(/ 1$/);
    expect(
      line('northlight_control_repairs_completed_total{cluster="db",namespace="prod",kind="repair"}'),
    ).toMatch(/ 1$/);
    expect(
      line('northlight_control_repairs_reverted_total{cluster="db",namespace="prod",kind="migration"}'),
    ).toMatch(/ 0$/);
    expect(
      line(
        'northlight_control_repair_duration_seconds_sum{cluster="db",namespace="prod",kind="repair",outcome="done"}',
      ),
    ).toMatch(/ 12\.5$/);
    expect(line('northlight_control_hydrated_bytes_total{cluster="db",namespace="prod"}')).toMatch(
      / 1000000$/,
    );
    expect(line('northlight_control_failovers_total{cluster="db",namespace="prod"}')).toMatch(/ 1$/);
    // A silent node has no disk figure (unknown, not 0).
    expect(text).not.toContain(
      'northlight_control_storage_node_disk_bytes{cluster="db",namespace="prod",member="storage-a-2"',
    );

    // storage-a-2 and PG 1 are gone: so are their series.
    metrics.observe(observation([node('storage-a-1', 'a', true), node('storage-b-1', 'b', true)], [6]));
    text = await registry.metricsText();
    expect(text).not.toContain('member="storage-a-2"');
    expect(text).not.toContain('pg="1"');
    expect(
      line('northlight_control_storage_nodes{cluster="db",namespace="prod",zone="a",state="unreachable"}'),
    ).toMatch(/ 0$/);

    // The operator's endpoint serves the same text.
    const server = await startControlMetricsServer(registry, { host: '127.0.0.1', port: 0 });
    try {
      const address = server.server.address() as { port: number };
      const scraped = await fetch(`http://127.0.0.1:${address.port}/metrics`);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await scraped.text()).toContain(
        'northlight_control_pg_members_healthy{cluster="db",namespace="prod",pg="0"} 6',
      );
    } finally {
      await server.close();
    }

    registry.removeCluster({ cluster: 'db', namespace: 'prod' });
    expect(await registry.metricsText()).not.toContain('cluster="db"');
  });

  it('every panel query returns data and every alert expression evaluates, from a real Prometheus scraping a running cluster', {
    timeout: 180_000,
  }, async () => {
    // 2. The cluster and a load that keeps going while Prometheus is queried.
    const dataDir = newDataDir('northlight-observability-');
    const clusterFile = join(dataDir, 'cluster.yaml');
    writeFileSync(clusterFile, CLUSTER_YAML);
    const up: Up = await startUp(dataDir, ['--file', clusterFile]);
    cleanups.push(async () => {
      northlight(['down', '--data-dir', dataDir]);
      await up.exited;
    });
    const layout = state(dataDir);
    const cluster = layout.cluster;
    const ports = layout.ports;
    const status = clusterStatus(dataDir);
    expect(
      (await sql(dataDir, ports.httpReadWrite, 'CREATE TABLE load (id INTEGER PRIMARY KEY, body TEXT)'))
        .status,
    ).toBe(200);
    let loading = true;
    let written = 0;
    const load = (async () => {
      while (loading) {
        // A request that fails (the killed node's moment, a slow machine) is only not counted.
        const wrote = await sql(
          dataDir,
          ports.httpReadWrite,
          `INSERT INTO load (body) VALUES ('row ${written}')`,
        ).catch(() => undefined);
        if (wrote?.status === 200) written++;
        await sql(dataDir, ports.httpReadOnly, 'SELECT count(*) FROM load', true).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    cleanups.push(async () => {
      loading = false;
      await load;
    });

    // 3. Prometheus, with the PodMonitor's target labels.
    const promDir = mkdtempSync(join(tmpdir(), 'northlight-prometheus-'));
    cleanups.push(() => rmSync(promDir, { recursive: true, force: true }));
    const podLabels = (member: string) => ({
      cluster,
      namespace: LOCAL_NAMESPACE,
      pod: memberObjectName(cluster, member),
      member,
    });
    const storageTargets = status.storage.map((node) => ({
      targets: [`127.0.0.1:${ports.storage[node.nodeId]!.adminPort}`],
      labels: { ...podLabels(node.nodeId), component: 'storage', zone: node.zone },
    }));
    const engineTargets = status.engines.map((engine) => ({
      targets: [`127.0.0.1:${ports.engines[engine.name]!}`],
      labels: { ...podLabels(engine.name), component: 'engine', role: engine.role },
    }));
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [rulesFile],
      scrape_configs: [
        { job_name: 'northlight-storage', static_configs: storageTargets },
        { job_name: 'northlight-engine', static_configs: engineTargets },
        {
          job_name: 'northlight-operator',
          honor_labels: true,
          static_configs: [
            {
              targets: [`127.0.0.1:${ports.control}`],
              labels: { namespace: LOCAL_NAMESPACE, pod: 'northlight-operator' },
            },
          ],
        },
      ],
    };
    writeFileSync(join(promDir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const checkConfig = spawnSync('promtool', ['check', 'config', join(promDir, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    expect(checkConfig.status, checkConfig.stdout + checkConfig.stderr).toBe(0);
    const [promPort] = (await freePorts(1)) as [number];
    const prometheus = startPrometheus(promDir, promPort);
    const prometheusExited = new Promise<void>((resolve) => prometheus.once('exit', () => resolve()));
    cleanups.push(async () => {
      prometheus.kill('SIGTERM');
      await prometheusExited;
    });
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    const targetCount = storageTargets.length + engineTargets.length + 1;
    // Scrapes begin some 5 s after start (the discovery throttle): poll, never sleep a fixed time.
    await until(
      'every target up in Prometheus',
      async () => {
        const result = await query(prometheusUrl, 'sum(up)').catch(() => undefined);
        return Number(result?.data?.result[0]?.value[1]) === targetCount ? true : undefined;
      },
      45_000,
    );

    // 4. Dashboards: variables as Grafana resolves them, then every panel's queries.
    const failures: string[] = [];
    let queries = 0;
    const resolved: { board: string; panel: string; expr: string }[] = [];
    for (const dashboard of dashboards()) {
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(dashboard.uid).toMatch(/^northlight-/);
      const values: Record<string, string> = {};
      for (const variable of dashboard.templating.list) {
        if (variable.type === 'datasource') continue;
        expect(variable.type, `${dashboard.uid}: ${variable.name}`).toBe('query');
        const found = await until(`values of $${variable.name} in ${dashboard.uid}`, async () => {
          const list = await labelValues(prometheusUrl, substitute(variable.definition ?? '', values));
          return list.length > 0 ? list : undefined;
        });
        if (variable.name === 'cluster') expect(found).toContain(cluster);
        if (variable.name === 'namespace') expect(found).toContain(LOCAL_NAMESPACE);
        values[variable.name] =
          variable.includeAll === true
            ? (variable.allValue ?? '.*')
            : variable.name === 'cluster'
              ? cluster
              : variable.name === 'namespace'
                ? LOCAL_NAMESPACE
                : found[0]!;
      }
      for (const panel of panelsOf(dashboard)) {
        if (panel.type === 'row') continue;
        expect(panel.targets?.length ?? 0, `${dashboard.uid}: ${panel.title} has no query`).toBeGreaterThan(
          0,
        );
        for (const target of panel.targets ?? [])
          resolved.push({ board: dashboard.uid, panel: panel.title, expr: substitute(target.expr, values) });
      }
    }
    // Some series need a few scrapes (rates need two samples; the replica's reads, the load's first
    // commits): each query gets until the deadline to return data.
    const deadline = Date.now() + 30_000;
    for (const { board, panel, expr } of resolved) {
      queries++;
      let result: QueryResult;
      for (;;) {
        result = await query(prometheusUrl, expr);
        if (result.status !== 'success' || (result.data?.result.length ?? 0) > 0 || Date.now() > deadline)
          break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      if (result.status !== 'success') failures.push(`${board} / ${panel}: ${result.error}\n    ${expr}`);
      else if ((result.data?.result.length ?? 0) === 0)
        failures.push(`${board} / ${panel}: no data\n    ${expr}`);
    }
    expect(failures, `${failures.length} of ${queries} panel queries failed`).toEqual([]);
    expect(queries).toBeGreaterThanOrEqual(80);

    const value = async (promql: string): Promise<number> =>
      Number((await query(prometheusUrl, promql)).data?.result[0]?.value[1]);
    // Every component metric the rules name is exported (an alert on a name nobody exports never
    // fires). The file-system and kubelet series are the platform's, not the components'.
    const ruleMetrics = new Set(
      alertExpressions().flatMap(({ expr }) =>
        [...expr.matchAll(/\bnorthlight_[a-z0-9_]+/g)].map((m) => m[0]),
      ),
    );
    for (const name of ruleMetrics) {
      if (name.startsWith('northlight_control_data_filesystem_')) continue;
      expect(await value(`count({__name__="${name}"})`), name).toBeGreaterThan(0);
    }

    // Alert expressions: well-formed and evaluable (empty is fine: nothing is wrong), and loaded.
    for (const { alert, expr } of alertExpressions()) {
      const result = await query(prometheusUrl, expr);
      expect(result.status, `${alert}: ${result.error}`).toBe('success');
      expect(result.data?.resultType, alert).toBe('vector');
    }
    const rules = await until('the rules evaluated once', async () => {
      const answer = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = answer.data.groups.flatMap((group) => group.rules);
      return all.length > 0 && all.every((rule) => rule.health !== 'unknown') ? all : undefined;
    });
    expect(rules).toHaveLength(alertExpressions().length);
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).toBe('ok');

    // 5. The numbers are the cluster's.
    const scoped = `cluster="${cluster}", namespace="${LOCAL_NAMESPACE}"`;
    const storageNodes = status.storage.length;
    expect(await value(`sum(northlight_control_storage_nodes{${scoped}, state="reachable"})`)).toBe(
      storageNodes,
    );
    expect(await value(`min(northlight_control_pg_members_healthy{${scoped}})`)).toBe(6);
    expect(await value(`max(northlight_control_writer_present{${scoped}})`)).toBe(1);
    expect(await value(`count(count by (zone) (northlight_storage_appended_records_total{${scoped}}))`)).toBe(
      3,
    );
    await until('the commits counted', async () =>
      written > 20 &&
      (await value(`sum(northlight_engine_commits_total{${scoped}, role="writer"})`)) >= written - 5
        ? true
        : undefined,
    );
    // A killed storage node that holds a segment of PG 0, in the zone with a spare node.
    const pg0 = status.pgs.find((pg) => pg.pgId === 0)!;
    const victim = pg0.members.find((member) => member.zone === 'a')!;
    const killed = await fetch(`http://127.0.0.1:${ports.control}/v1/members/${victim.nodeId}/kill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${internalTokenOf(dataDir)}` },
    });
    expect(killed.status).toBe(200);
    const nodeDown = alertExpressions().find((rule) => rule.alert === 'NorthlightStorageNodeDown')!.expr;
    const down = await until('the killed node in the storage-node-down expression', async () => {
      const result = await query(prometheusUrl, nodeDown);
      return result.data?.result.find((series) => series.metric.member === victim.nodeId);
    });
    expect(down.metric).toMatchObject({ cluster, namespace: LOCAL_NAMESPACE, zone: 'a' });
    expect(await value(`sum(northlight_control_storage_nodes{${scoped}, state="reachable"})`)).toBe(
      storageNodes - 1,
    );
    // The repair onto the spare node, as the executor's hooks count it.
    await until(
      'the repair completed',
      async () =>
        (await value(`sum(northlight_control_repairs_completed_total{${scoped}, kind="repair"})`)) >= 1 &&
        (await value(`min(northlight_control_pg_members_healthy{${scoped}})`)) === 6
          ? true
          : undefined,
      60_000,
    );
    expect(
      await value(`sum(northlight_control_repairs_started_total{${scoped}, kind="repair"})`),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await value(
        `sum(northlight_control_repair_duration_seconds_count{${scoped}, kind="repair", outcome="done"})`,
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await value(`sum(northlight_control_repair_duration_seconds_sum{${scoped}, kind="repair"})`),
    ).toBeGreaterThan(0);
    expect(
      await value(`sum(northlight_control_hydrations_total{${scoped}, outcome="ok"})`),
    ).toBeGreaterThanOrEqual(1);
    expect(await value(`sum(northlight_control_hydrated_bytes_total{${scoped}})`)).toBeGreaterThan(0);
    loading = false;
    await load;
  });
});
