/**
 * The node side of a test Kubernetes cluster, beside the API server stand-in: Node objects, a
 * scheduler, a "kubelet" that runs each pod's containers as real local processes, and a kube-proxy
 * that gives Services a loopback ClusterIP with a TCP proxy to their Ready pods. With it, an
 * end-to-end test of the operator is real apart from the API server: the operator creates pods,
 * Services and PVCs, and real storage nodes and engines start, become Ready, and serve traffic.
 *
 * How a pod runs (README.md has the details and what is simplified):
 * - each pod gets its own loopback IP (127.S.0.2, 127.S.0.3, …; S is the API server's random
 *   subnet octet), in `status.podIP`, and its
 *   processes listen on `$(POD_IP)` with the fixed ports of contract.ts;
 * - `command[0]` naming one of contract.ts COMMANDS runs the matching entry point of this
 *   repository (tsx for TypeScript); any other command runs as given on this machine;
 * - a PersistentVolumeClaim is a directory per claim (kept across pod restarts), an emptyDir a
 *   directory per pod, secret and configMap volumes are files; a path under a volume's `mountPath`
 *   in args or env is rewritten to that directory (there are no mount namespaces here);
 * - every container gets KUBECONFIG pointing at the API server, so an operator pod finds it.
 *
 * The agents call the API server in process (its `get`/`list`/`update`/`remove`), as one trusted
 * control plane component would; clients under test still go through HTTP.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgs } from '@northlight/protocol/io';
import { COMMANDS, ZONE_LABEL } from '../../../src/k8s/contract.js';
import { CORE, type KubeApiServer, type KubeObject } from './api-server.js';
import { isObject, type Json, type JsonObject } from './patches.js';
import { matchesExpression } from './selectors.js';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** How often the agents look at the API server besides being woken by its watch events. */
const SYNC_INTERVAL_MS = 200;
/** A container's grace period on deletion is capped at this, to keep tests short. */
const DEFAULT_GRACE_CAP_SECONDS = 5;
/** Crash-loop backoff: first delay, doubling up to the cap (the real kubelet: 10 s up to 5 min). */
const RESTART_BACKOFF_FIRST_MS = 250;
const RESTART_BACKOFF_MAX_MS = 5_000;
/** A container that ran this long resets its backoff. */
const BACKOFF_RESET_AFTER_MS = 10_000;
/** Readiness probes run at most this often, whatever periodSeconds says (tests are impatient). */
const PROBE_PERIOD_MAX_MS = 500;
const PROBE_TIMEOUT_MS = 1_000;
/** Pod IPs 127.S.0.2 … then 127.S.2.x …; ClusterIPs live in 127.S.1.x (S: the API server's subnet). */
const MAX_PODS = 250 * 100;
/** Connections one Service port proxies at once. */
const MAX_PROXY_CONNECTIONS = 1_024;

export interface NodeSpec {
  name: string;
  zone: string;
  labels?: Record<string, string>;
}

export const DEFAULT_NODES: readonly NodeSpec[] = [
  { name: 'kind-worker', zone: 'zone-a' },
  { name: 'kind-worker2', zone: 'zone-b' },
  { name: 'kind-worker3', zone: 'zone-c' },
];

export interface ClusterOptions {
  server: KubeApiServer;
  /** Logs, volumes and the kubeconfig given to pods go under it; the caller removes it. */
  workDirectory: string;
  nodes?: readonly NodeSpec[];
  gracePeriodCapSeconds?: number;
}

interface ContainerRuntime {
  name: string;
  spec: JsonObject;
  process: ChildProcess | undefined;
  restartCount: number;
  startedAt: string | undefined;
  startedMs: number;
  lastTerminated: JsonObject | undefined;
  terminated: JsonObject | undefined;
  waiting: { reason: string; message?: string } | undefined;
  backoffMs: number;
  restartAtMs: number | undefined;
  ready: boolean;
  readiness: ProbeState;
  liveness: ProbeState;
  logPath: string;
}

interface ProbeState {
  probing: boolean;
  lastMs: number;
  successes: number;
  failures: number;
}

interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  ip: string;
  directory: string;
  containers: ContainerRuntime[];
  terminating: boolean;
  killTimer: NodeJS.Timeout | undefined;
  startTime: string;
}

/** A container that cannot start yet (missing Secret, PVC…): it waits with this reason. */
class ContainerConfigError extends Error {}

function podSpec(pod: KubeObject): JsonObject {
  return (pod.spec ?? {}) as JsonObject;
}

function podStatus(pod: KubeObject): JsonObject {
  return (pod.status ?? {}) as JsonObject;
}

function timestamp(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

function withoutNodeOptions(environment: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(environment))
    if (value !== undefined && key !== 'NODE_OPTIONS' && !key.startsWith('VITEST') && key !== 'KUBECONFIG')
      result[key] = value;
  return result;
}

/** Signals a container's process group (its main process and everything it started). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Kubernetes `$(VAR)` expansion: known variables are replaced, `$$` escapes, unknown ones stay. */
export function expandVariables(text: string, variables: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return variables.get(name!) ?? match;
  });
}

export class TestCluster {
  readonly #server: KubeApiServer;
  readonly #work: string;
  readonly #nodes: NodeSpec[];
  readonly #graceCapSeconds: number;
  readonly #pods = new Map<string, PodRuntime>();
  readonly #deadNodes = new Set<string>();
  readonly #proxies = new Map<string, ServiceProxy>();
  readonly #unwatch: (() => void)[] = [];
  readonly #kubeconfig: string;
  #nextPodIp = 0;
  #timer: NodeJS.Timeout | undefined;
  #syncing = false;
  #again = false;
  #stopped = false;

  private constructor(options: ClusterOptions) {
    this.#server = options.server;
    this.#work = options.workDirectory;
    this.#nodes = [...(options.nodes ?? DEFAULT_NODES)];
    this.#graceCapSeconds = options.gracePeriodCapSeconds ?? DEFAULT_GRACE_CAP_SECONDS;
    mkdirSync(this.#work, { recursive: true });
    this.#kubeconfig = this.#server.writeKubeconfig(join(this.#work, 'kubeconfig'));
  }

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const cluster = new TestCluster(options);
    for (const node of cluster.#nodes) cluster.#registerNode(node);
    cluster.#server.podLogs = (namespace, name, container) => cluster.#readLog(namespace, name, container);
    for (const type of [CORE.pods, CORE.services, CORE.persistentVolumeClaims, CORE.nodes])
      cluster.#unwatch.push(cluster.#server.watchType(type, () => cluster.#wake()));
    cluster.#timer = setInterval(() => cluster.#wake(), SYNC_INTERVAL_MS);
    await cluster.#sync();
    return cluster;
  }

  /** Where a pod's container logs go: `<work>/logs/<namespace>_<pod>/<container>.log`. */
  logPath(namespace: string, pod: string, container: string): string {
    return join(this.#work, 'logs', `${namespace}_${pod}`, `${container}.log`);
  }

  /** The local directory that backs a PersistentVolumeClaim. */
  claimDirectory(namespace: string, claim: string): string {
    return join(this.#work, 'volumes', namespace, claim);
  }

  /** The process ids of a pod's running containers (for tests that check processes really stop). */
  pids(namespace: string, pod: string): number[] {
    const runtime = [...this.#pods.values()].find(
      (entry) => entry.namespace === namespace && entry.name === pod,
    );
    return (runtime?.containers ?? []).flatMap((container) =>
      container.process?.pid !== undefined && container.process.exitCode === null
        ? [container.process.pid]
        : [],
    );
  }

  /**
   * A node dies: its pods' processes are killed (SIGKILL), the node turns NotReady and its pods
   * Failed (reason NodeLost), so a controller replaces them; nothing is scheduled there until
   * `reviveNode`.
   */
  async killNode(name: string): Promise<void> {
    this.#deadNodes.add(name);
    const lost = [...this.#pods].filter(([, runtime]) => runtime.node === name);
    for (const [uid] of lost) this.#pods.delete(uid);
    await Promise.all(
      lost.flatMap(([, runtime]) =>
        runtime.containers.map((container) => {
          container.restartAtMs = undefined;
          return this.#kill(container, 'SIGKILL');
        }),
      ),
    );
    for (const [uid, runtime] of lost) {
      const pod = this.#server.get(CORE.pods, runtime.namespace, runtime.name);
      if (pod === undefined || pod.metadata.uid !== uid) continue;
      const status = podStatus(pod);
      this.#writePodStatus(pod, {
        ...status,
        phase: 'Failed',
        reason: 'NodeLost',
        message: `Node ${name} which was running pod ${runtime.name} is unresponsive`,
        conditions: ((status.conditions ?? []) as JsonObject[]).map((condition) =>
          condition.type === 'Ready' || condition.type === 'ContainersReady'
            ? { ...condition, status: 'False' }
            : condition,
        ),
      });
    }
    this.#setNodeReady(name, false);
    this.#wake();
  }

  reviveNode(name: string): void {
    this.#deadNodes.delete(name);
    this.#setNodeReady(name, true);
    this.#wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const unwatch of this.#unwatch) unwatch();
    this.#server.podLogs = undefined;
    const exits: Promise<void>[] = [];
    for (const runtime of this.#pods.values()) {
      if (runtime.killTimer !== undefined) clearTimeout(runtime.killTimer);
      for (const container of runtime.containers) {
        container.restartAtMs = undefined;
        exits.push(this.#kill(container, 'SIGTERM', 2_000));
      }
    }
    await Promise.all(exits);
    await Promise.all([...this.#proxies.values()].map((proxy) => proxy.close()));
    this.#proxies.clear();
  }

  // -- nodes -------------------------------------------------------------------------------------------

  #registerNode(node: NodeSpec): void {
    this.#server.create(CORE.nodes, undefined, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: node.name,
        labels: {
          'kubernetes.io/hostname': node.name,
          'kubernetes.io/os': 'linux',
          [ZONE_LABEL]: node.zone,
          ...(node.labels ?? {}),
        },
      },
      spec: {},
    });
    this.#setNodeReady(node.name, true);
  }

  #setNodeReady(name: string, ready: boolean): void {
    const node = this.#server.get(CORE.nodes, undefined, name);
    if (node === undefined) return;
    node.status = {
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'Unknown',
          reason: ready ? 'KubeletReady' : 'NodeStatusUnknown',
          message: ready ? 'kubelet is posting ready status' : 'Kubelet stopped posting node status.',
          lastHeartbeatTime: timestamp(),
          lastTransitionTime: timestamp(),
        },
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.31.0-northlight-test',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
    this.#server.update(CORE.nodes, node, 'status');
  }

  // -- the loop ------------------------------------------------------------------------------------------

  #wake(): void {
    if (this.#stopped) return;
    if (this.#syncing) {
      this.#again = true;
      return;
    }
    void this.#sync();
  }

  async #sync(): Promise<void> {
    this.#syncing = true;
    try {
      do {
        this.#again = false;
        this.#schedule();
        this.#runPods();
        this.#maintainEndpoints();
        await this.#maintainProxies();
      } while (this.#again && !this.#stopped);
    } catch (error) {
      process.stderr.write(`[test-cluster] sync failed: ${(error as Error).stack ?? String(error)}\n`);
    } finally {
      this.#syncing = false;
    }
  }

  // -- scheduler -------------------------------------------------------------------------------------------

  #schedule(): void {
    const pods = this.#server.list(CORE.pods);
    const nodes = this.#server
      .list(CORE.nodes)
      .filter((node) => !this.#deadNodes.has(String(node.metadata.name)));
    for (const pod of pods) {
      if (podSpec(pod).nodeName !== undefined || pod.metadata.deletionTimestamp !== undefined) continue;
      const fitting = nodes.filter((node) => this.#fits(pod, node));
      if (fitting.length === 0) {
        this.#markUnschedulable(pod, nodes.length);
        continue;
      }
      const load = (node: KubeObject) =>
        pods.filter((other) => podSpec(other).nodeName === node.metadata.name).length;
      const chosen = fitting.sort((left, right) => load(left) - load(right))[0]!;
      pod.spec = { ...podSpec(pod), nodeName: chosen.metadata.name as Json };
      const bound = this.#server.update(CORE.pods, pod);
      this.#writePodStatus(bound, {
        ...podStatus(bound),
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: timestamp() }],
      });
    }
  }

  /** nodeSelector and required node affinity on node labels (and metadata.name fields). */
  #fits(pod: KubeObject, node: KubeObject): boolean {
    const labels = (node.metadata.labels ?? {}) as Record<string, string>;
    const selector = (podSpec(pod).nodeSelector ?? {}) as Record<string, string>;
    for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
    const affinity = (podSpec(pod).affinity as JsonObject | undefined)?.nodeAffinity as
      | JsonObject
      | undefined;
    const required = affinity?.requiredDuringSchedulingIgnoredDuringExecution as JsonObject | undefined;
    const terms = (required?.nodeSelectorTerms ?? []) as JsonObject[];
    if (terms.length === 0) return true;
    return terms.some((term) => {
      const expressions = (term.matchExpressions ?? []) as {
        key: string;
        operator: string;
        values?: string[];
      }[];
      const fields = (term.matchFields ?? []) as { key: string; operator: string; values?: string[] }[];
      return (
        expressions.every((expression) => matchesExpression(expression, labels[expression.key])) &&
        fields.every((expression) =>
          matchesExpression(
            expression,
            expression.key === 'metadata.name' ? String(node.metadata.name) : undefined,
          ),
        )
      );
    });
  }

  #markUnschedulable(pod: KubeObject, nodeCount: number): void {
    const message = `0/${nodeCount} nodes are available: ${nodeCount} node(s) didn't match Pod's node affinity/selector. preemption: 0/${nodeCount} nodes are available: ${nodeCount} Preemption is not helpful for scheduling.`;
    const current = ((podStatus(pod).conditions ?? []) as JsonObject[]).find(
      (condition) => condition.type === 'PodScheduled',
    );
    if (current?.status === 'False' && current.message === message) return;
    this.#writePodStatus(pod, {
      ...podStatus(pod),
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message,
          lastTransitionTime: timestamp(),
        },
      ],
    });
  }

  #writePodStatus(pod: KubeObject, status: JsonObject): void {
    try {
      const fresh = this.#server.get(CORE.pods, String(pod.metadata.namespace), String(pod.metadata.name));
      if (fresh === undefined || fresh.metadata.uid !== pod.metadata.uid) return;
      fresh.status = status;
      this.#server.update(CORE.pods, fresh, 'status');
    } catch (error) {
      // The pod may be going away under us; the next sync writes again.
      if (!(error as Error).message.includes('not found')) throw error;
    }
  }

  // -- kubelet -------------------------------------------------------------------------------------------

  #runPods(): void {
    const seen = new Set<string>();
    for (const pod of this.#server.list(CORE.pods)) {
      const node = podSpec(pod).nodeName as string | undefined;
      const uid = String(pod.metadata.uid);
      seen.add(uid);
      if (
        node === undefined ||
        this.#deadNodes.has(node) ||
        !this.#nodes.some((entry) => entry.name === node)
      )
        continue;
      let runtime = this.#pods.get(uid);
      if (pod.metadata.deletionTimestamp !== undefined) {
        if (runtime === undefined) this.#finishDeletion(pod);
        else this.#terminate(runtime, pod);
        continue;
      }
      const phase = podStatus(pod).phase;
      if (runtime === undefined) {
        if (phase === 'Succeeded' || phase === 'Failed') continue;
        runtime = this.#createRuntime(pod, node);
        this.#pods.set(uid, runtime);
      }
      this.#runContainers(runtime, pod);
      this.#reportStatus(runtime, pod);
    }
    // Pods removed from the API without passing by deletionTimestamp (force delete): kill them.
    for (const [uid, runtime] of this.#pods)
      if (!seen.has(uid) && !runtime.terminating) {
        runtime.terminating = true;
        void Promise.all(runtime.containers.map((container) => this.#kill(container, 'SIGKILL'))).then(() =>
          this.#pods.delete(uid),
        );
      }
  }

  #createRuntime(pod: KubeObject, node: string): PodRuntime {
    if (this.#nextPodIp >= MAX_PODS) throw new Error('the test cluster ran out of pod IPs');
    const index = this.#nextPodIp++;
    // 127.S.0.2 … 127.S.0.251, then 127.S.2.1 … (127.S.1.x is the ClusterIP range; S is the subnet).
    const subnet = this.#server.subnet;
    const ip =
      index < 250
        ? `127.${subnet}.0.${index + 2}`
        : `127.${subnet}.${Math.floor(index / 250) + 1}.${(index % 250) + 1}`;
    const namespace = String(pod.metadata.namespace);
    const name = String(pod.metadata.name);
    const directory = join(
      this.#work,
      'pods',
      `${namespace}_${name}_${String(pod.metadata.uid).slice(0, 8)}`,
    );
    mkdirSync(directory, { recursive: true });
    const containers = ((podSpec(pod).containers ?? []) as JsonObject[]).map((spec) => ({
      name: String(spec.name),
      spec,
      process: undefined,
      restartCount: 0,
      startedAt: undefined,
      startedMs: 0,
      lastTerminated: undefined,
      terminated: undefined,
      waiting: { reason: 'ContainerCreating' },
      backoffMs: RESTART_BACKOFF_FIRST_MS,
      restartAtMs: Date.now(),
      ready: false,
      readiness: { probing: false, lastMs: 0, successes: 0, failures: 0 },
      liveness: { probing: false, lastMs: 0, successes: 0, failures: 0 },
      logPath: this.logPath(namespace, name, String(spec.name)),
    }));
    return {
      uid: String(pod.metadata.uid),
      namespace,
      name,
      node,
      ip,
      directory,
      containers,
      terminating: false,
      killTimer: undefined,
      startTime: timestamp(),
    };
  }

  #runContainers(runtime: PodRuntime, pod: KubeObject): void {
    const now = Date.now();
    for (const container of runtime.containers) {
      if (container.process !== undefined) {
        this.#probe(runtime, container);
        continue;
      }
      if (container.restartAtMs === undefined || container.restartAtMs > now) continue;
      try {
        this.#startContainer(runtime, pod, container);
      } catch (error) {
        if (!(error instanceof ContainerConfigError)) throw error;
        container.waiting = { reason: 'CreateContainerConfigError', message: error.message };
        container.restartAtMs = now + SYNC_INTERVAL_MS;
      }
    }
  }

  #startContainer(runtime: PodRuntime, pod: KubeObject, container: ContainerRuntime): void {
    const volumes = this.#prepareVolumes(runtime, pod);
    const environment = this.#environment(runtime, pod, container.spec);
    const mounts = ((container.spec.volumeMounts ?? []) as JsonObject[])
      .map((mount) => ({ path: String(mount.mountPath), local: volumes.get(String(mount.name)) }))
      .filter((mount): mount is { path: string; local: string } => mount.local !== undefined)
      .sort((left, right) => right.path.length - left.path.length);
    const rewrite = (value: string) => {
      // Each real pod has its own network namespace, where 0.0.0.0 means the pod's addresses; here
      // every pod shares the host's, so a wildcard listen address becomes the pod IP.
      if (value === '0.0.0.0') return runtime.ip;
      value = this.#resolveServiceNames(value);
      for (const mount of mounts)
        if (value === mount.path || value.startsWith(`${mount.path}/`))
          return mount.local + value.slice(mount.path.length);
      return value.replace(/(^|[=,])(\/[^,=]*)/g, (match, prefix: string, path: string) => {
        for (const mount of mounts)
          if (path === mount.path || path.startsWith(`${mount.path}/`))
            return prefix + mount.local + path.slice(mount.path.length);
        return match;
      });
    };
    for (const [key, value] of environment) environment.set(key, rewrite(value));
    const command = ((container.spec.command ?? []) as string[]).map((part) =>
      rewrite(expandVariables(part, environment)),
    );
    const args = ((container.spec.args ?? []) as string[]).map((part) =>
      rewrite(expandVariables(part, environment)),
    );
    const { argv, cwd } = this.#entryPoint(command, args, runtime.directory);
    mkdirSync(dirname(container.logPath), { recursive: true });
    const log = openSync(container.logPath, 'a');
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: {
        ...withoutNodeOptions(process.env),
        KUBECONFIG: this.#kubeconfig,
        ...Object.fromEntries(environment),
      },
      stdio: ['ignore', log, log],
      // Its own process group, so that signals reach the whole "container" (a shell's children too).
      detached: true,
    });
    closeSync(log);
    // restartCount counts restarts done, as the kubelet's does: every start after the first.
    if (container.lastTerminated !== undefined) container.restartCount += 1;
    container.process = child;
    container.waiting = undefined;
    container.terminated = undefined;
    container.ready = false;
    container.readiness = { probing: false, lastMs: 0, successes: 0, failures: 0 };
    container.liveness = { probing: false, lastMs: 0, successes: 0, failures: 0 };
    container.startedAt = timestamp();
    container.startedMs = Date.now();
    container.restartAtMs = undefined;
    child.on('error', (error) => {
      writeFileSync(container.logPath, `[test-kubelet] cannot start ${argv[0]}: ${error.message}\n`, {
        flag: 'a',
      });
      // A command that cannot start (ENOENT…) may never emit 'exit': it exits 127, as a shell's would.
      if (child.pid === undefined) this.#exited(runtime, container, child, 127, null);
    });
    child.on('exit', (code, signal) => this.#exited(runtime, container, child, code, signal));
  }

  /** contract.ts COMMANDS → this repository's entry points; anything else runs as given. */
  #entryPoint(command: string[], args: string[], podDirectory: string): { argv: string[]; cwd: string } {
    const [first, ...rest] = command;
    const node = (script: string[], workspace: string) => ({
      argv: [process.execPath, ...script, ...rest, ...args],
      cwd: join(repositoryRoot, workspace),
    });
    switch (first) {
      case COMMANDS.storageNode:
        return node(nodeEntryArgs(join(repositoryRoot, 'storage-node', 'src', 'main.ts')), 'storage-node');
      case COMMANDS.engine:
        return node(nodeEntryArgs(join(repositoryRoot, 'db-engine', 'src', 'main.ts')), 'db-engine');
      case COMMANDS.operator:
        return node(nodeEntryArgs(join(repositoryRoot, 'operator', 'src', 'k8s', 'main.ts')), 'operator');
      case COMMANDS.objectStore:
        // s3rver with durable writes (embedded-object-store.ts); it signs ListObjectsV2 continuation
        // tokens with DES, which OpenSSL 3 refuses without the legacy provider.
        return node(
          [
            '--openssl-legacy-provider',
            ...nodeEntryArgs(join(repositoryRoot, 'operator', 'src', 'io', 'embedded-object-store.ts')),
          ],
          'operator',
        );
      case undefined:
        throw new ContainerConfigError('the container has no command (images have no entry point here)');
      default:
        return { argv: [first, ...rest, ...args], cwd: podDirectory };
    }
  }

  #exited(
    runtime: PodRuntime,
    container: ContainerRuntime,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    signalGroup(child, 'SIGKILL');
    if (container.process !== child) return;
    container.process = undefined;
    container.ready = false;
    const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
    const terminated = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      ...(signal === null ? {} : { signal: signal as Json }),
      startedAt: container.startedAt ?? timestamp(),
      finishedAt: timestamp(),
    };
    container.lastTerminated = terminated;
    container.terminated = terminated;
    const policy = String(runtime.terminating ? 'Never' : (this.#policyOf(runtime) ?? 'Always'));
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart && !this.#stopped) {
      if (Date.now() - container.startedMs > BACKOFF_RESET_AFTER_MS)
        container.backoffMs = RESTART_BACKOFF_FIRST_MS;
      container.restartAtMs = Date.now() + container.backoffMs;
      container.backoffMs = Math.min(container.backoffMs * 2, RESTART_BACKOFF_MAX_MS);
      container.waiting = {
        reason: 'CrashLoopBackOff',
        message: `back-off restarting failed container ${container.name}`,
      };
      setTimeout(() => this.#wake(), container.restartAtMs - Date.now() + 5).unref();
    }
    this.#wake();
  }

  #policyOf(runtime: PodRuntime): string | undefined {
    const pod = this.#server.get(CORE.pods, runtime.namespace, runtime.name);
    return pod === undefined ? undefined : (podSpec(pod).restartPolicy as string | undefined);
  }

  #kill(container: ContainerRuntime, signal: NodeJS.Signals, escalateAfterMs = 0): Promise<void> {
    const child = container.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolveExit) => {
      child.once('exit', () => {
        // Whatever the main process left behind in its group dies with it, as in a container.
        signalGroup(child, 'SIGKILL');
        resolveExit();
      });
      signalGroup(child, signal);
      if (escalateAfterMs > 0) setTimeout(() => signalGroup(child, 'SIGKILL'), escalateAfterMs).unref();
    });
  }

  /** Deletion: SIGTERM, up to the (capped) grace period, SIGKILL, then the pod object goes. */
  #terminate(runtime: PodRuntime, pod: KubeObject): void {
    if (runtime.terminating) return;
    runtime.terminating = true;
    const grace = Math.min(
      Number(pod.metadata.deletionGracePeriodSeconds ?? podSpec(pod).terminationGracePeriodSeconds ?? 30),
      this.#graceCapSeconds,
    );
    for (const container of runtime.containers) container.restartAtMs = undefined;
    void Promise.all(
      runtime.containers.map((container) => this.#kill(container, 'SIGTERM', grace * 1000)),
    ).then(() => {
      this.#pods.delete(runtime.uid);
      const fresh = this.#server.get(CORE.pods, runtime.namespace, runtime.name);
      if (fresh !== undefined && fresh.metadata.uid === runtime.uid) this.#finishDeletion(fresh);
      this.#wake();
    });
  }

  #finishDeletion(pod: KubeObject): void {
    try {
      this.#server.remove(CORE.pods, String(pod.metadata.namespace), String(pod.metadata.name), {
        gracePeriodSeconds: 0,
      });
    } catch (error) {
      if (!(error as Error).message.includes('not found')) throw error;
    }
  }

  // -- volumes and environment ---------------------------------------------------------------------------------

  #prepareVolumes(runtime: PodRuntime, pod: KubeObject): Map<string, string> {
    const result = new Map<string, string>();
    for (const volume of (podSpec(pod).volumes ?? []) as JsonObject[]) {
      const name = String(volume.name);
      if (isObject(volume.persistentVolumeClaim)) {
        const claim = String(volume.persistentVolumeClaim.claimName);
        result.set(name, this.#bindClaim(runtime.namespace, claim));
      } else if (isObject(volume.emptyDir)) {
        const directory = join(runtime.directory, 'empty-dir', name);
        mkdirSync(directory, { recursive: true });
        result.set(name, directory);
      } else if (isObject(volume.secret) || isObject(volume.configMap)) {
        result.set(name, this.#projectVolume(runtime, name, volume));
      }
    }
    return result;
  }

  /** A claim is a directory that outlives its pods; the first pod to use it binds it. */
  #bindClaim(namespace: string, claim: string): string {
    const object = this.#server.get(CORE.persistentVolumeClaims, namespace, claim);
    if (object === undefined) throw new ContainerConfigError(`persistentvolumeclaim "${claim}" not found`);
    const directory = this.claimDirectory(namespace, claim);
    mkdirSync(directory, { recursive: true });
    if ((object.status as JsonObject | undefined)?.phase !== 'Bound') {
      const requested = (
        (((object.spec as JsonObject | undefined)?.resources as JsonObject | undefined)?.requests ??
          {}) as JsonObject
      ).storage;
      object.spec = { ...(object.spec as JsonObject), volumeName: `pvc-${String(object.metadata.uid)}` };
      const bound = this.#server.update(CORE.persistentVolumeClaims, object);
      bound.status = {
        phase: 'Bound',
        accessModes: ((object.spec as JsonObject).accessModes ?? ['ReadWriteOnce']) as Json,
        capacity: { storage: (requested ?? '1Gi') as Json },
      };
      this.#server.update(CORE.persistentVolumeClaims, bound, 'status');
    }
    return directory;
  }

  #projectVolume(runtime: PodRuntime, name: string, volume: JsonObject): string {
    const isSecret = isObject(volume.secret);
    const source = (isSecret ? volume.secret : volume.configMap) as JsonObject;
    const objectName = String(isSecret ? source.secretName : source.name);
    const object = this.#server.get(isSecret ? CORE.secrets : CORE.configMaps, runtime.namespace, objectName);
    const directory = join(runtime.directory, 'projected', name);
    if (object === undefined) {
      if (source.optional === true) {
        mkdirSync(directory, { recursive: true });
        return directory;
      }
      throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${objectName}" not found`);
    }
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true });
    for (const [key, value] of Object.entries((object.data ?? {}) as Record<string, string>))
      writeFileSync(join(directory, key), isSecret ? Buffer.from(value, 'base64') : value);
    return directory;
  }

  #environment(runtime: PodRuntime, pod: KubeObject, container: JsonObject): Map<string, string> {
    const environment = new Map<string, string>();
    for (const source of (container.envFrom ?? []) as JsonObject[]) {
      const prefix = String(source.prefix ?? '');
      const secret = source.secretRef as JsonObject | undefined;
      const configMap = source.configMapRef as JsonObject | undefined;
      const reference = secret ?? configMap;
      if (reference === undefined) continue;
      const data = this.#readData(
        runtime.namespace,
        secret !== undefined,
        String(reference.name),
        reference.optional === true,
      );
      for (const [key, value] of data) environment.set(prefix + key, value);
    }
    for (const variable of (container.env ?? []) as JsonObject[]) {
      const name = String(variable.name);
      if (variable.value !== undefined) {
        environment.set(name, expandVariables(String(variable.value), environment));
        continue;
      }
      const from = (variable.valueFrom ?? {}) as JsonObject;
      const value = this.#valueFrom(runtime, pod, from);
      if (value !== undefined) environment.set(name, value);
    }
    return environment;
  }

  #valueFrom(runtime: PodRuntime, pod: KubeObject, from: JsonObject): string | undefined {
    if (isObject(from.fieldRef)) {
      const path = String(from.fieldRef.fieldPath);
      const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      if (label !== null) return ((pod.metadata[label[1]!] ?? {}) as Record<string, string>)[label[2]!] ?? '';
      const fields: Record<string, string> = {
        'status.podIP': runtime.ip,
        'status.podIPs': runtime.ip,
        'status.hostIP': '127.0.0.1',
        'metadata.name': runtime.name,
        'metadata.namespace': runtime.namespace,
        'metadata.uid': runtime.uid,
        'spec.nodeName': runtime.node,
        'spec.serviceAccountName': String(podSpec(pod).serviceAccountName ?? 'default'),
      };
      if (fields[path] === undefined) throw new ContainerConfigError(`unsupported fieldRef ${path}`);
      return fields[path];
    }
    for (const [field, isSecret] of [
      ['secretKeyRef', true],
      ['configMapKeyRef', false],
    ] as const) {
      const reference = from[field];
      if (!isObject(reference)) continue;
      const data = this.#readData(
        runtime.namespace,
        isSecret,
        String(reference.name),
        reference.optional === true,
      );
      const value = data.get(String(reference.key));
      if (value === undefined && reference.optional !== true)
        throw new ContainerConfigError(
          `couldn't find key ${String(reference.key)} in ${isSecret ? 'Secret' : 'ConfigMap'} ${runtime.namespace}/${String(reference.name)}`,
        );
      return value;
    }
    return undefined;
  }

  #readData(namespace: string, isSecret: boolean, name: string, optional: boolean): Map<string, string> {
    const object = this.#server.get(isSecret ? CORE.secrets : CORE.configMaps, namespace, name);
    if (object === undefined) {
      if (optional) return new Map();
      throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${name}" not found`);
    }
    return new Map(
      Object.entries((object.data ?? {}) as Record<string, string>).map(([key, value]) => [
        key,
        isSecret ? Buffer.from(value, 'base64').toString('utf8') : value,
      ]),
    );
  }

  // -- probes and status ---------------------------------------------------------------------------------------

  /**
   * Readiness and liveness probes, each on its own schedule (periodSeconds, capped). Readiness flips
   * after failureThreshold consecutive failures (default 3) or successThreshold successes
   * (default 1); a liveness probe failing failureThreshold times kills the container, which then
   * restarts according to restartPolicy.
   */
  #probe(runtime: PodRuntime, container: ContainerRuntime): void {
    const readiness = container.spec.readinessProbe as JsonObject | undefined;
    if (readiness === undefined) container.ready = true;
    else
      this.#scheduleProbe(runtime, container, readiness, container.readiness, (passed) => {
        if (container.ready !== passed) {
          container.ready = passed;
          this.#wake();
        }
      });
    const liveness = container.spec.livenessProbe as JsonObject | undefined;
    if (liveness !== undefined)
      this.#scheduleProbe(runtime, container, liveness, container.liveness, (passed) => {
        if (passed) return;
        writeFileSync(container.logPath, '[test-kubelet] liveness probe failed: killing the container\n', {
          flag: 'a',
        });
        void this.#kill(container, 'SIGKILL');
      });
  }

  #scheduleProbe(
    runtime: PodRuntime,
    container: ContainerRuntime,
    probe: JsonObject,
    state: ProbeState,
    onChange: (passed: boolean) => void,
  ): void {
    const periodMs = Math.min(Number(probe.periodSeconds ?? 10) * 1000, PROBE_PERIOD_MAX_MS);
    const initialDelayMs = Math.min(Number(probe.initialDelaySeconds ?? 0) * 1000, PROBE_PERIOD_MAX_MS * 4);
    const now = Date.now();
    if (state.probing || now - state.lastMs < periodMs || now - container.startedMs < initialDelayMs) return;
    state.probing = true;
    state.lastMs = now;
    const process = container.process;
    void this.#runProbe(runtime, container, probe).then((passed) => {
      state.probing = false;
      if (container.process !== process) return;
      state.successes = passed ? state.successes + 1 : 0;
      state.failures = passed ? 0 : state.failures + 1;
      if (passed && state.successes >= Number(probe.successThreshold ?? 1)) onChange(true);
      if (!passed && state.failures >= Number(probe.failureThreshold ?? 3)) onChange(false);
    });
  }

  #portNumber(container: ContainerRuntime, port: Json | undefined): number {
    if (typeof port === 'number') return port;
    const named = ((container.spec.ports ?? []) as JsonObject[]).find((entry) => entry.name === port);
    return Number(named?.containerPort ?? port);
  }

  #runProbe(runtime: PodRuntime, container: ContainerRuntime, probe: JsonObject): Promise<boolean> {
    if (isObject(probe.httpGet)) {
      const port = this.#portNumber(container, probe.httpGet.port);
      const path = String(probe.httpGet.path ?? '/');
      return new Promise((resolveProbe) => {
        const request = httpRequest(
          { host: runtime.ip, port, path, timeout: PROBE_TIMEOUT_MS },
          (response) => {
            response.resume();
            const code = response.statusCode ?? 0;
            resolveProbe(code >= 200 && code < 400);
          },
        );
        request.on('timeout', () => request.destroy());
        request.on('error', () => resolveProbe(false));
        request.end();
      });
    }
    if (isObject(probe.tcpSocket)) {
      const port = this.#portNumber(container, probe.tcpSocket.port);
      return new Promise((resolveProbe) => {
        const socket = connect({ host: runtime.ip, port, timeout: PROBE_TIMEOUT_MS });
        socket.on('connect', () => {
          socket.destroy();
          resolveProbe(true);
        });
        socket.on('timeout', () => socket.destroy());
        socket.on('error', () => resolveProbe(false));
        socket.on('close', () => resolveProbe(false));
      });
    }
    // exec probes are not run here (README.md): a running container counts as ready.
    return Promise.resolve(true);
  }

  #reportStatus(runtime: PodRuntime, pod: KubeObject): void {
    const statuses = runtime.containers.map((container) => this.#containerStatus(container));
    const allReady = runtime.containers.every(
      (container) => container.ready && container.process !== undefined,
    );
    const anyRunning = runtime.containers.some((container) => container.process !== undefined);
    const finished = runtime.containers.every(
      (container) =>
        container.process === undefined &&
        container.restartAtMs === undefined &&
        container.terminated !== undefined,
    );
    let phase = 'Pending';
    if (finished)
      phase = runtime.containers.every((container) => container.terminated?.exitCode === 0)
        ? 'Succeeded'
        : 'Failed';
    else if (anyRunning || runtime.containers.some((container) => container.lastTerminated !== undefined))
      phase = 'Running';
    const previous = (podStatus(pod).conditions ?? []) as JsonObject[];
    const condition = (type: string, status: boolean): JsonObject => {
      const value = status ? 'True' : 'False';
      const before = previous.find((entry) => entry.type === type);
      return {
        type,
        status: value,
        lastTransitionTime: before?.status === value ? (before.lastTransitionTime as Json) : timestamp(),
      };
    };
    const status: JsonObject = {
      phase,
      conditions: [
        condition('PodScheduled', true),
        condition('Initialized', true),
        condition('ContainersReady', allReady),
        condition('Ready', allReady),
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: runtime.ip,
      podIPs: [{ ip: runtime.ip }],
      startTime: runtime.startTime,
      qosClass: 'BestEffort',
      containerStatuses: statuses,
    };
    if (JSON.stringify(status) !== JSON.stringify(podStatus(pod))) this.#writePodStatus(pod, status);
  }

  #containerStatus(container: ContainerRuntime): JsonObject {
    let state: JsonObject;
    if (container.process !== undefined)
      state = { running: { startedAt: container.startedAt ?? timestamp() } };
    else if (container.waiting !== undefined) state = { waiting: container.waiting as unknown as Json };
    else if (container.terminated !== undefined) state = { terminated: container.terminated };
    else state = { waiting: { reason: 'ContainerCreating' } };
    return {
      name: container.name,
      image: String(container.spec.image ?? ''),
      imageID: '',
      containerID: container.process?.pid === undefined ? '' : `local://${container.process.pid}`,
      ready: container.ready && container.process !== undefined,
      started: container.process !== undefined,
      restartCount: container.restartCount,
      state,
      lastState: container.lastTerminated === undefined ? {} : { terminated: container.lastTerminated },
    };
  }

  #readLog(namespace: string, name: string, container: string | undefined): string | undefined {
    const pod = this.#server.get(CORE.pods, namespace, name);
    const first = ((pod?.spec as JsonObject | undefined)?.containers as JsonObject[] | undefined)?.[0]?.name;
    const path = this.logPath(namespace, name, container ?? String(first));
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  }

  // -- kube-proxy and endpoints -----------------------------------------------------------------------------------

  /**
   * The Ready, non-terminating pods a Service selects, with the target port resolved per port.
   * `pods`: the Service's namespace's pods, when the caller lists them once for many Services (every
   * listed object is a deep copy: listing per Service was most of this stand-in's CPU).
   */
  #backends(
    service: KubeObject,
    pods: readonly KubeObject[] = this.#server.list(CORE.pods, String(service.metadata.namespace)),
  ): { pod: KubeObject; ready: boolean }[] {
    const selector = ((service.spec as JsonObject | undefined)?.selector ?? {}) as Record<string, string>;
    if (Object.keys(selector).length === 0) return [];
    const publishNotReady = (service.spec as JsonObject).publishNotReadyAddresses === true;
    return pods
      .filter((pod) => {
        const labels = (pod.metadata.labels ?? {}) as Record<string, string>;
        return (
          Object.entries(selector).every(([key, value]) => labels[key] === value) &&
          podStatus(pod).podIP !== undefined
        );
      })
      .map((pod) => {
        const phase = podStatus(pod).phase;
        const podReady = ((podStatus(pod).conditions ?? []) as JsonObject[]).some(
          (condition) => condition.type === 'Ready' && condition.status === 'True',
        );
        return {
          pod,
          ready:
            pod.metadata.deletionTimestamp === undefined &&
            phase !== 'Failed' &&
            phase !== 'Succeeded' &&
            (podReady || publishNotReady),
        };
      });
  }

  /**
   * Cluster DNS, as far as a process's configuration goes: `<service>.<namespace>.svc` and
   * `<service>.<namespace>.svc.cluster.local` in args and env become the Service's ClusterIP when
   * the container starts (there is no resolver for them here). Unknown or headless names stay.
   */
  #resolveServiceNames(value: string): string {
    return value.replace(
      /\b([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\b/g,
      (match, service: string, namespace: string) => {
        const found = this.#server.get(CORE.services, namespace, service);
        const ip = (found?.spec as JsonObject | undefined)?.clusterIP;
        return typeof ip === 'string' && ip !== 'None' && ip !== '' ? ip : match;
      },
    );
  }

  #targetPort(pod: KubeObject, targetPort: Json | undefined, port: number): number {
    if (typeof targetPort === 'number') return targetPort;
    if (typeof targetPort === 'string' && /^\d+$/.test(targetPort)) return Number(targetPort);
    for (const container of (podSpec(pod).containers ?? []) as JsonObject[])
      for (const entry of (container.ports ?? []) as JsonObject[])
        if (entry.name === targetPort) return Number(entry.containerPort);
    return port;
  }

  #maintainEndpoints(): void {
    const podsOf = new Map<string, KubeObject[]>();
    for (const service of this.#server.list(CORE.services)) {
      const spec = (service.spec ?? {}) as JsonObject;
      if (spec.selector === undefined) continue;
      const inNamespace = String(service.metadata.namespace);
      let pods = podsOf.get(inNamespace);
      if (pods === undefined) {
        pods = this.#server.list(CORE.pods, inNamespace);
        podsOf.set(inNamespace, pods);
      }
      const backends = this.#backends(service, pods);
      const address = (entry: { pod: KubeObject }) => ({
        ip: String(podStatus(entry.pod).podIP),
        nodeName: String(podSpec(entry.pod).nodeName),
        targetRef: {
          kind: 'Pod',
          namespace: String(entry.pod.metadata.namespace),
          name: String(entry.pod.metadata.name),
          uid: String(entry.pod.metadata.uid),
        },
      });
      const ports = ((spec.ports ?? []) as JsonObject[]).map((port) => ({
        ...(port.name === undefined ? {} : { name: port.name }),
        port:
          backends[0] === undefined
            ? Number(port.port)
            : this.#targetPort(backends[0].pod, port.targetPort, Number(port.port)),
        protocol: port.protocol ?? 'TCP',
      }));
      const ready = backends.filter((entry) => entry.ready).map(address);
      const notReady = backends.filter((entry) => !entry.ready).map(address);
      const subsets =
        backends.length === 0
          ? []
          : [
              {
                ...(ready.length > 0 ? { addresses: ready } : {}),
                ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
                ports,
              },
            ];
      const namespace = String(service.metadata.namespace);
      const name = String(service.metadata.name);
      const existing = this.#server.get(CORE.endpoints, namespace, name);
      if (existing === undefined)
        this.#server.create(CORE.endpoints, namespace, {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name, labels: (service.metadata.labels ?? {}) as Json },
          subsets: subsets as unknown as Json,
        });
      else if (JSON.stringify(existing.subsets ?? []) !== JSON.stringify(subsets)) {
        existing.subsets = subsets as unknown as Json;
        this.#server.update(CORE.endpoints, existing);
      }
    }
  }

  async #maintainProxies(): Promise<void> {
    const wanted = new Set<string>();
    for (const service of this.#server.list(CORE.services)) {
      const spec = (service.spec ?? {}) as JsonObject;
      const clusterIp = spec.clusterIP;
      if (typeof clusterIp !== 'string' || clusterIp === 'None' || clusterIp === '') continue;
      for (const port of (spec.ports ?? []) as JsonObject[]) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        const key = `${String(service.metadata.uid)}/${clusterIp}:${Number(port.port)}`;
        wanted.add(key);
        let proxy = this.#proxies.get(key);
        if (proxy === undefined) {
          const namespace = String(service.metadata.namespace);
          const name = String(service.metadata.name);
          proxy = new ServiceProxy(() => {
            const current = this.#server.get(CORE.services, namespace, name);
            if (current === undefined) return [];
            const currentPort = (((current.spec as JsonObject).ports ?? []) as JsonObject[]).find(
              (entry) => Number(entry.port) === Number(port.port),
            );
            return this.#backends(current)
              .filter((entry) => entry.ready)
              .map((entry) => ({
                uid: String(entry.pod.metadata.uid),
                host: String(podStatus(entry.pod).podIP),
                port: this.#targetPort(entry.pod, currentPort?.targetPort, Number(port.port)),
              }));
          });
          this.#proxies.set(key, proxy);
          try {
            await proxy.listen(clusterIp, Number(port.port));
          } catch (error) {
            this.#proxies.delete(key);
            throw new Error(
              `kube-proxy cannot listen on ${clusterIp}:${Number(port.port)}: ${(error as Error).message}`,
            );
          }
        }
      }
    }
    for (const [key, proxy] of this.#proxies)
      if (!wanted.has(key)) {
        this.#proxies.delete(key);
        await proxy.close();
      }
    // Connections to pods that are no longer Ready backends are closed, as when a pod's IP goes away.
    const live = new Set<string>();
    for (const runtime of this.#pods.values()) if (!runtime.terminating) live.add(runtime.uid);
    for (const proxy of this.#proxies.values()) proxy.dropConnectionsNotTo(live);
  }
}

interface Backend {
  uid: string;
  host: string;
  port: number;
}

/** One Service port: accepts on clusterIP:port and forwards each connection to a Ready pod, round robin. */
class ServiceProxy {
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; uid: string }>();
  readonly #backends: () => Backend[];
  #next = 0;

  constructor(backends: () => Backend[]) {
    this.#backends = backends;
    this.#server = createServer((client) => this.#accept(client));
    this.#server.maxConnections = MAX_PROXY_CONNECTIONS;
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolveListen, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolveListen();
      });
    });
  }

  dropConnectionsNotTo(live: ReadonlySet<string>): void {
    for (const pair of this.#pairs)
      if (!live.has(pair.uid)) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
  }

  close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    return new Promise((resolveClose) => this.#server.close(() => resolveClose()));
  }

  #accept(client: Socket): void {
    const backends = this.#backends();
    if (backends.length === 0) {
      // No Ready endpoint: a real kube-proxy rejects the connection (ICMP unreachable / RST).
      client.resetAndDestroy();
      return;
    }
    const backend = backends[this.#next++ % backends.length]!;
    const upstream = connect({ host: backend.host, port: backend.port });
    const pair = { client, upstream, uid: backend.uid };
    this.#pairs.add(pair);
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
