/**
 * Creates segments through the storage nodes' admin API (`POST /v1/segments`, see
 * docs/storage-node-process.md): 201 created, 200 already there with the same spec. Any other answer,
 * or no answer within the timeout, is an NL_NETWORK_UNREACHABLE with the node and what it said, so the
 * directory can count the segment as not created and retry it later.
 */
import { type NodeId, NorthlightError } from '@northlight/protocol';
import type { StorageNodeAddress } from '../config.js';
import type { SegmentProvisioner } from '../core/local-directory.js';

export const PROVISION_TIMEOUT_MS = 5_000;

export class HttpSegmentProvisioner implements SegmentProvisioner {
  readonly #nodes: ReadonlyMap<NodeId, StorageNodeAddress>;

  constructor(nodes: readonly StorageNodeAddress[]) {
    this.#nodes = new Map(nodes.map((node) => [node.nodeId, node]));
  }

  async createSegment(
    nodeId: NodeId,
    spec: Parameters<SegmentProvisioner['createSegment']>[1],
  ): Promise<void> {
    const node = this.#nodes.get(nodeId);
    if (node === undefined)
      throw new NorthlightError('NL_CONFIG_INVALID', `storage node ${nodeId} is not configured`);
    const host = node.address.host.includes(':') ? `[${node.address.host}]` : node.address.host;
    const url = `http://${host}:${node.adminPort}/v1/segments`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          pgId: spec.pgId,
          segmentId: spec.segmentId,
          membershipEpoch: spec.membershipEpoch.toString(),
          members: spec.members,
          memberNodes: spec.memberNodes,
        }),
        signal: AbortSignal.timeout(PROVISION_TIMEOUT_MS),
      });
    } catch (error) {
      throw new NorthlightError(
        'NL_NETWORK_UNREACHABLE',
        `storage node ${nodeId} (${url}) did not answer the segment creation: ${(error as Error).message}`,
        { nodeId },
      );
    }
    if (response.status === 200 || response.status === 201) return;
    const text = (await response.text().catch(() => '')).slice(0, 300);
    throw new NorthlightError(
      'NL_NETWORK_UNREACHABLE',
      `storage node ${nodeId} refused segment ${spec.segmentId}: HTTP ${response.status} ${text}`,
      { nodeId, status: response.status },
    );
  }
}
