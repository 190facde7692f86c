/**
 * The real environment of an engine process, writer or replica: its binary-protocol endpoint to the
 * storage nodes (TCP, `--port`), the node clock and randomness, its data directory, and no object
 * store (storage backs up; the engine keeps no objects).
 */
import { mkdir } from 'node:fs/promises';
import { type Environment, type Logger, unavailableObjectStore } from '@northlight/protocol';
import {
  NodeClock,
  NodeDisk,
  NodeRandom,
  StaticPeerDirectory,
  TcpNetworkEndpoint,
  transportKey,
} from '@northlight/protocol/io';
import type { EngineConfig } from '../config.js';

const noObjectStore = unavailableObjectStore('the engine keeps no objects (storage backs up)');

/** Creates the data directory and opens the endpoint; close `network` (and await `closed`) to stop. */
export async function engineEnvironment(
  config: EngineConfig,
  logger: Logger,
): Promise<{ env: Environment; network: TcpNetworkEndpoint }> {
  await mkdir(config.dataDir, { recursive: true });
  const peers = new StaticPeerDirectory();
  for (const node of config.storage) peers.set(node.nodeId, node.address);
  const network = await TcpNetworkEndpoint.listen({
    address: config.nodeId,
    listenHost: config.listenHost,
    listenPort: config.port,
    directory: peers,
    logger,
    ...(config.internalToken === undefined ? {} : { transportKey: transportKey(config.internalToken) }),
    acceptUnauthenticated: config.transportAuth === 'transition',
  });
  const env: Environment = {
    clock: new NodeClock(),
    random: new NodeRandom(),
    network,
    disk: new NodeDisk(config.dataDir),
    objectStore: noObjectStore,
    log: logger,
  };
  return { env, network };
}
