/**
 * `northlight-operator`: the Kubernetes operator's process entry. Flags:
 *
 *   --kubeconfig PATH            a kubeconfig file; without it the in-cluster service account
 *   --namespace NS               watch one namespace; '' (default) watches all
 *   --no-leader-election         reconcile without holding the Lease (one replica only!)
 *   --lease-namespace NS         where the Lease lives (default $POD_NAMESPACE, else NS, else default)
 *   --identity ID                this candidate's name in the Lease (default $POD_NAME or host-pid)
 *   --control-host HOST          the control API's listen address (default 0.0.0.0)
 *   --control-port N             the control API (placement for engines), default PORTS.operatorControl
 *   --control-advertise-url URL  the URL engines are given; default http://$POD_IP:<control-port>
 *   --metrics-port N             Prometheus /metrics (0 = off), default PORTS.operatorMetrics
 *
 * Logs one line per action on stdout. SIGTERM/SIGINT: stop the workers (a round in progress ends),
 * give up the Lease, close the informers and listeners, exit 0.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError } from 'commander';
import { POD_IP_ENV, PORTS } from './contract.js';
import { defaultIdentity, Operator } from './operator.js';

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535)
    throw new InvalidArgumentError('a port number 0..65535');
  return parsed;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

const program = new Command('northlight-operator')
  .description('the northlight Kubernetes operator: reconciles DatabaseClusters')
  .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster config)')
  .option('--namespace <ns>', "namespace to watch ('' = all)", '')
  .option('--no-leader-election', 'reconcile without the leader Lease')
  .option('--lease-namespace <ns>', 'namespace of the leader Lease')
  .option('--identity <id>', 'candidate identity in the Lease')
  .option('--control-host <host>', 'control API listen address', '0.0.0.0')
  .option('--control-port <port>', 'control API port', port, PORTS.operatorControl)
  .option('--control-advertise-url <url>', 'control API URL given to engines (default http://$POD_IP:<port>)')
  .option('--metrics-port <port>', 'metrics port (0 = off)', port, PORTS.operatorMetrics)
  .exitOverride();

async function main(argv: readonly string[]): Promise<number> {
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const options = program.opts<{
    kubeconfig?: string;
    namespace: string;
    leaderElection: boolean;
    leaseNamespace?: string;
    identity?: string;
    controlHost: string;
    controlPort: number;
    controlAdvertiseUrl?: string;
    metricsPort: number;
  }>();
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromCluster();
  const podIp = process.env[POD_IP_ENV];
  const advertise =
    options.controlAdvertiseUrl ??
    `http://${podIp !== undefined && podIp !== '' ? podIp : '127.0.0.1'}:${options.controlPort}`;
  if (!/^http:\/\/[^/]+\/?$/.test(advertise)) {
    process.stderr.write(
      `--control-advertise-url must look like http://host:port, not ${JSON.stringify(advertise)}\n`,
    );
    return 2;
  }
  const operator = new Operator({
    kubeConfig,
    namespace: options.namespace,
    leaderElection: options.leaderElection,
    leaseNamespace:
      options.leaseNamespace ??
      process.env.POD_NAMESPACE ??
      (options.namespace === '' ? 'default' : options.namespace),
    identity: options.identity ?? process.env.POD_NAME ?? defaultIdentity(),
    controlHost: options.controlHost,
    controlPort: options.controlPort,
    controlAdvertiseUrl: advertise,
    metricsPort: options.metricsPort,
    log,
  });
  log(
    `northlight-operator starting: namespace ${options.namespace === '' ? '(all)' : options.namespace}, control API ${advertise}, leader election ${options.leaderElection ? 'on' : 'off'}`,
  );
  await operator.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: stopping`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await operator.stop();
  log('stopped');
  return 0;
}

process.exit(await main(process.argv.slice(2)));
