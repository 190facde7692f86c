/**
 * `kubectl northlight`: the kubectl plugin (kubectl runs `kubectl-northlight` from PATH).
 *
 *   kubectl northlight status [CLUSTER]                 clusters, or one cluster in detail
 *   kubectl northlight switchover CLUSTER [--to NAME]   planned switchover to a replica
 *   kubectl northlight repair CLUSTER NODE              re-replicate a storage node's segments
 *   kubectl northlight upgrade CLUSTER VERSION          rolling upgrade, one zone at a time
 *
 * The plugin never acts on the cluster itself: it writes the request into the DatabaseCluster (an
 * annotation from contract.ts ANNOTATIONS, or the spec's versions for an upgrade) and the operator
 * carries it out, so a request survives the plugin exiting and shows in the cluster's status.
 * `--wait` follows the status until the request is done.
 *
 * kubectl does not pass its own global flags to a plugin, so `--kubeconfig`, `--context` and
 * `-n/--namespace` are the plugin's own; without them the current context of $KUBECONFIG or
 * ~/.kube/config is used, as kubectl does.
 *
 * Exit codes: 0 done; 1 the request failed or timed out (the message says what to check); 2 bad
 * usage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  ANNOTATIONS,
  DATABASE_CLUSTER,
  GROUP,
  LABELS,
  STORAGE_VOLUME,
  storageVolumeName,
  VERSION,
} from '../k8s/contract.js';
import {
  type ClusterObject,
  conditionOf,
  formatClusterDetail,
  formatClusterList,
  isTrue,
  type PodObject,
  storageMembersOf,
  switchoverTarget,
  type VolumeObject,
} from './format.js';

const VERSION_PATTERN = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(-[0-9A-Za-z.-]{1,40})?$/;
const WAIT_POLL_MS = 1_000;

class UsageError extends Error {}
class RequestFailed extends Error {}

interface Connection {
  readonly objects: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly namespace: string;
}

interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

function connect(options: GlobalOptions): Connection {
  const config = new k8s.KubeConfig();
  try {
    if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
    if (options.context !== undefined) config.setCurrentContext(options.context);
  } catch (error) {
    throw new UsageError(`cannot load the kubeconfig: ${(error as Error).message}`);
  }
  if (config.getCurrentCluster() === null)
    throw new UsageError(
      'no Kubernetes cluster is configured: pass --kubeconfig, set KUBECONFIG, or choose a context with --context',
    );
  const namespace =
    options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return {
    objects: config.makeApiClient(k8s.CustomObjectsApi),
    core: config.makeApiClient(k8s.CoreV1Api),
    namespace,
  };
}

function clusterCoordinates(connection: Connection) {
  return { group: GROUP, version: VERSION, namespace: connection.namespace, plural: DATABASE_CLUSTER.plural };
}

/** What went wrong talking to the API server, in words, with what to do. */
function apiError(error: unknown, what: string): Error {
  if (error instanceof k8s.ApiException) {
    const body = parseBody(error.body);
    if (error.code === 404)
      return new RequestFailed(
        `${what}: not found${body?.message === undefined ? '' : ` (${body.message})`}; ` +
          'check the name and the namespace (-n), and that the northlight CRDs are installed',
      );
    if (error.code === 403)
      return new RequestFailed(`${what}: forbidden by RBAC (${body?.message ?? 'no detail'})`);
    return new RequestFailed(
      `${what}: the API server answered ${error.code}: ${body?.message ?? error.message}`,
    );
  }
  const message = (error as Error).message ?? String(error);
  return new RequestFailed(
    `${what}: cannot reach the API server (${message}); check your kubeconfig and context`,
  );
}

function parseBody(body: unknown): { message?: string } | undefined {
  if (typeof body === 'object' && body !== null) return body as { message?: string };
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body) as { message?: string };
  } catch {
    return { message: body };
  }
}

async function getCluster(connection: Connection, name: string): Promise<ClusterObject> {
  try {
    return (await connection.objects.getNamespacedCustomObject({
      ...clusterCoordinates(connection),
      name,
    })) as ClusterObject;
  } catch (error) {
    throw apiError(error, `DatabaseCluster ${name} in namespace ${connection.namespace}`);
  }
}

async function mergePatch(connection: Connection, name: string, patch: object): Promise<ClusterObject> {
  try {
    return (await connection.objects.patchNamespacedCustomObject(
      { ...clusterCoordinates(connection), name, body: patch },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )) as ClusterObject;
  } catch (error) {
    throw apiError(error, `updating DatabaseCluster ${name}`);
  }
}

async function status(connection: Connection, name: string | undefined, output: string): Promise<string> {
  const now = Date.now();
  if (name === undefined) {
    let list: { items?: ClusterObject[] };
    try {
      list = (await connection.objects.listNamespacedCustomObject(clusterCoordinates(connection))) as {
        items?: ClusterObject[];
      };
    } catch (error) {
      throw apiError(error, `DatabaseClusters in namespace ${connection.namespace}`);
    }
    const items = list.items ?? [];
    return output === 'json' ? JSON.stringify(items, null, 2) : formatClusterList(items, now);
  }
  const cluster = await getCluster(connection, name);
  let volume: VolumeObject | undefined;
  try {
    volume = (await connection.objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: connection.namespace,
      plural: STORAGE_VOLUME.plural,
      name: storageVolumeName(name),
    })) as VolumeObject;
  } catch (error) {
    if (!(error instanceof k8s.ApiException && error.code === 404))
      throw apiError(error, 'the StorageVolume');
  }
  let pods: PodObject[];
  try {
    const list = await connection.core.listNamespacedPod({
      namespace: connection.namespace,
      labelSelector: `${LABELS.cluster}=${name}`,
    });
    pods = list.items as PodObject[];
  } catch (error) {
    throw apiError(error, `the pods of ${name}`);
  }
  if (output === 'json') return JSON.stringify({ cluster, volume, pods }, null, 2);
  return formatClusterDetail(cluster, volume, pods, now);
}

interface WaitOptions {
  readonly wait: boolean;
  readonly timeoutMs: number;
}

/**
 * Polls the cluster until `done` says so, printing each new state line; fails on timeout with the
 * last state, since the operator goes on with the request after the plugin gives up.
 */
async function waitFor(
  connection: Connection,
  name: string,
  options: WaitOptions,
  what: string,
  done: (cluster: ClusterObject) => boolean,
  print: (line: string) => void,
): Promise<void> {
  if (!options.wait) {
    print(`${what}: requested; follow it with \`kubectl northlight status ${name}\``);
    return;
  }
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const cluster = await getCluster(connection, name);
    const line = describeProgress(cluster);
    if (line !== last) print(`  ${line}`);
    last = line;
    if (done(cluster)) {
      print(`${what}: done`);
      return;
    }
    if (Date.now() >= deadline)
      throw new RequestFailed(
        `${what}: not done after ${Math.round(options.timeoutMs / 1000)} s (last state: ${line}); ` +
          `the operator carries on: follow it with \`kubectl northlight status ${name}\``,
      );
    await sleep(WAIT_POLL_MS);
  }
}

function describeProgress(cluster: ClusterObject): string {
  const busy = ['FailingOver', 'Repairing', 'Upgrading', 'Degraded']
    .map((type) => conditionOf(cluster, type))
    .filter((condition) => condition?.status === 'True')
    .map((condition) => `${condition!.type}: ${condition!.message ?? condition!.reason ?? ''}`);
  const ready = conditionOf(cluster, 'Ready');
  return [
    `phase ${cluster.status?.phase ?? '-'}`,
    `writer ${cluster.status?.writer ?? '-'}`,
    `Ready=${ready?.status ?? 'Unknown'}`,
    ...busy,
  ].join('; ');
}

/** Done: the operator has seen the latest spec and the cluster is Ready with nothing in progress. */
function settled(cluster: ClusterObject, generation: number | undefined): boolean {
  return (
    (generation === undefined || (cluster.status?.observedGeneration ?? -1) >= generation) &&
    isTrue(cluster, 'Ready') &&
    !isTrue(cluster, 'FailingOver') &&
    !isTrue(cluster, 'Repairing') &&
    !isTrue(cluster, 'Upgrading')
  );
}

function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(text);
  if (match === null) throw new InvalidArgumentError('a duration like 90s or 10m');
  const unit = match[2] === 'ms' ? 1 : match[2] === 's' ? 1_000 : 60_000;
  return Number(match[1]) * unit;
}

export function buildProgram(output: PluginOutput): Command {
  const print = output.out;
  const program = new Command('kubectl northlight')
    .configureOutput({
      writeOut: (text) => output.out(text.replace(/\n$/, '')),
      writeErr: (text) => output.err(text.replace(/\n$/, '')),
    })
    .description('Operate northlight DatabaseClusters: status, switchover, repair, upgrade')
    .option('--kubeconfig <file>', 'the kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('-n, --namespace <namespace>', "the namespace (default: the context's)")
    .exitOverride()
    .showHelpAfterError();
  const globals = () => program.opts<GlobalOptions>();
  const waitOptions = (command: Command) =>
    command
      .option('--wait', 'follow the status until the request is done')
      .addOption(
        new Option('--timeout <duration>', 'how long --wait waits')
          .default(600_000, '10m')
          .argParser(parseDuration),
      );

  program
    .command('status')
    .argument('[cluster]', 'a DatabaseCluster name (without one: every cluster of the namespace)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .description('show clusters, or one cluster: conditions, writer, members by zone, volume')
    .action(async (name: string | undefined, options: { output: string }) => {
      print(await status(connect(globals()), name, options.output));
    });

  waitOptions(
    program
      .command('switchover')
      .argument('<cluster>', 'the DatabaseCluster')
      .option('--to <instance>', 'the replica to promote (default: the lowest promotion tier)')
      .description('planned switchover: the writer hands over to a replica without losing a commit'),
  ).action(async (name: string, options: { to?: string; wait?: boolean; timeout: number }) => {
    const connection = connect(globals());
    const cluster = await getCluster(connection, name);
    const instances = (cluster.spec?.engine?.instances ?? []).map((instance) => instance.name);
    const target = options.to ?? switchoverTarget(cluster);
    if (target === undefined)
      throw new RequestFailed(`${name} has no replica to switch over to; add one to spec.engine.instances`);
    if (!instances.includes(target))
      throw new UsageError(`${target} is not an instance of ${name}; its instances: ${instances.join(', ')}`);
    if (target === cluster.status?.writer) throw new UsageError(`${target} is already the writer of ${name}`);
    await mergePatch(connection, name, { metadata: { annotations: { [ANNOTATIONS.switchoverTo]: target } } });
    print(`switchover of ${name} to ${target} requested`);
    await waitFor(
      connection,
      name,
      { wait: options.wait === true, timeoutMs: options.timeout },
      `switchover to ${target}`,
      (current) => current.status?.writer === target && settled(current, undefined),
      print,
    );
  });

  waitOptions(
    program
      .command('repair')
      .argument('<cluster>', 'the DatabaseCluster')
      .argument('<node>', 'the storage node whose segments move to other nodes of its zone')
      .description('re-replicate a storage node’s segments elsewhere in its zone (drain it)'),
  ).action(async (name: string, node: string, options: { wait?: boolean; timeout: number }) => {
    const connection = connect(globals());
    const cluster = await getCluster(connection, name);
    const members = storageMembersOf(cluster);
    if (!members.includes(node))
      throw new UsageError(
        `${node} is not a storage node of ${name}; its storage nodes: ${members.join(', ')}`,
      );
    await mergePatch(connection, name, { metadata: { annotations: { [ANNOTATIONS.repairNode]: node } } });
    print(`repair of ${node} in ${name} requested`);
    await waitFor(
      connection,
      name,
      { wait: options.wait === true, timeoutMs: options.timeout },
      `repair of ${node}`,
      (current) =>
        (current.metadata?.annotations?.[ANNOTATIONS.lastRequest] ?? '').includes(
          `${ANNOTATIONS.repairNode}=${node}`,
        ) &&
        current.metadata?.annotations?.[ANNOTATIONS.repairNode] === undefined &&
        settled(current, undefined),
      print,
    );
  });

  waitOptions(
    program
      .command('upgrade')
      .argument('<cluster>', 'the DatabaseCluster')
      .argument('<version>', 'the version to run, e.g. 0.2.0')
      .option('--storage-only', 'upgrade only the storage fleet')
      .option('--engines-only', 'upgrade only the engines')
      .description('rolling upgrade: storage one zone at a time, then replicas, then a switchover'),
  ).action(
    async (
      name: string,
      version: string,
      options: { storageOnly?: boolean; enginesOnly?: boolean; wait?: boolean; timeout: number },
    ) => {
      if (!VERSION_PATTERN.test(version))
        throw new UsageError(`${JSON.stringify(version)} is not a version like 1.2.3 or 1.2.3-rc.1`);
      if (options.storageOnly === true && options.enginesOnly === true)
        throw new UsageError('--storage-only and --engines-only exclude each other');
      const connection = connect(globals());
      await getCluster(connection, name);
      const spec: { storage?: { version: string }; engine?: { version: string } } = {};
      if (options.enginesOnly !== true) spec.storage = { version };
      if (options.storageOnly !== true) spec.engine = { version };
      const patched = await mergePatch(connection, name, { spec });
      print(`upgrade of ${name} to ${version} requested (generation ${patched.metadata?.generation ?? '?'})`);
      await waitFor(
        connection,
        name,
        { wait: options.wait === true, timeoutMs: options.timeout },
        `upgrade to ${version}`,
        (current) => settled(current, patched.metadata?.generation),
        print,
      );
    },
  );
  return program;
}

export interface PluginOutput {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const STANDARD_OUTPUT: PluginOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs the plugin on `argv` (the arguments after `kubectl northlight`); returns the exit code. */
export async function main(argv: readonly string[], output: PluginOutput = STANDARD_OUTPUT): Promise<number> {
  const program = buildProgram(output);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    output.err(`error: ${(error as Error).message}`);
    return error instanceof UsageError ? 2 : 1;
  }
}
