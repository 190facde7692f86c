/**
 * Offline check of the chart's Grafana dashboards, for CI and for whoever edits them (no cluster, no
 * Prometheus server): every dashboard parses, has a uid, a title and the `datasource` variable;
 * every panel names `${datasource}`, filters by `$cluster` and `$namespace`, and every query is
 * valid PromQL once Grafana's variables are substituted — checked by `promtool check rules` on a
 * temporary rule file holding each query as a recording rule.
 *
 *   npx tsx scripts/check-dashboards.ts [dashboards dir]
 *
 * Exit status 0 when everything passes, 1 with one line per problem otherwise. Whether the queries
 * return data is test/k8s/observability.test.ts's job (it runs a cluster and a real Prometheus).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const defaultDir = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'charts',
  'northlight',
  'dashboards',
);
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's syntax, not a template literal
const DATASOURCE_VARIABLE = '${datasource}';
/** What the variables become for the syntax check: any value that keeps the query well-formed. */
const SUBSTITUTIONS: Readonly<Record<string, string>> = {
  $__rate_interval: '15s',
  $__interval: '1s',
  $__range: '1h',
  $namespace: 'default',
  $cluster: 'db',
  $zone: '.*',
  $replica: '.*',
};

interface Panel {
  readonly id?: number;
  readonly type: string;
  readonly title?: string;
  readonly datasource?: { readonly uid?: string };
  readonly targets?: readonly { readonly expr?: string; readonly refId?: string }[];
  readonly panels?: readonly Panel[];
}

function substitute(expr: string): string {
  let text = expr;
  for (const name of Object.keys(SUBSTITUTIONS).sort((a, b) => b.length - a.length))
    text = text.split(name).join(SUBSTITUTIONS[name]!);
  return text;
}

function checkDashboard(file: string, problems: string[], queries: { record: string; expr: string }[]): void {
  let board: {
    uid?: string;
    title?: string;
    templating?: { list?: { name: string; type: string }[] };
    panels?: Panel[];
  };
  try {
    board = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problems.push(`${file}: not JSON: ${(error as Error).message}`);
    return;
  }
  const where = board.uid ?? file;
  if (!board.uid || !board.title) problems.push(`${file}: uid and title must be set`);
  if (
    !board.templating?.list?.some(
      (variable) => variable.name === 'datasource' && variable.type === 'datasource',
    )
  )
    problems.push(`${where}: no datasource variable`);
  const panels = (board.panels ?? []).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  for (const panel of panels) {
    if (panel.type === 'row') continue;
    const name = `${where} / ${panel.title ?? `panel ${panel.id}`}`;
    if (panel.datasource?.uid !== DATASOURCE_VARIABLE)
      problems.push(`${name}: data source is not ${DATASOURCE_VARIABLE}`);
    if ((panel.targets ?? []).length === 0) problems.push(`${name}: no query`);
    for (const target of panel.targets ?? []) {
      const expr = target.expr ?? '';
      if (!expr.includes('cluster="$cluster"') || !expr.includes('namespace="$namespace"'))
        problems.push(`${name} (${target.refId}): does not filter by $cluster and $namespace`);
      const text = substitute(expr);
      if (/\$[a-zA-Z_]/.test(text)) problems.push(`${name} (${target.refId}): unknown variable in ${expr}`);
      queries.push({
        record: `check:${where.replace(/[^a-zA-Z0-9_]/g, '_')}:q${queries.length}`,
        expr: text,
      });
    }
  }
}

function main(): number {
  const dir = process.argv[2] ?? defaultDir;
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => join(dir, file));
  const problems: string[] = [];
  const queries: { record: string; expr: string }[] = [];
  if (files.length === 0) problems.push(`${dir}: no dashboards`);
  for (const file of files) checkDashboard(file, problems, queries);
  // PromQL syntax, by the real parser: each query as a recording rule (JSON is valid YAML).
  const scratch = mkdtempSync(join(tmpdir(), 'northlight-check-dashboards-'));
  try {
    const rules = join(scratch, 'queries.rules.yaml');
    writeFileSync(
      rules,
      JSON.stringify({ groups: [{ name: 'dashboard-queries', rules: queries }] }, null, 2),
    );
    const checked = spawnSync('promtool', ['check', 'rules', '--lint=none', rules], { encoding: 'utf8' });
    if (checked.error !== undefined)
      problems.push(`promtool: ${checked.error.message} (Debian package prometheus)`);
    else if (checked.status !== 0) problems.push(`promtool check rules:\n${checked.stdout}${checked.stderr}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const problem of problems) console.error(problem);
  console.log(
    problems.length === 0
      ? `${files.length} dashboards, ${queries.length} queries: all well-formed`
      : `${problems.length} problems in ${files.length} dashboards`,
  );
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
