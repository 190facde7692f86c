/**
 * Creates segments through the storage nodes' admin API (`POST /v1/segments`, see
 * docs/storage-node-process.md): 201 created, 200 already there with the same spec. Any other answer,
 * or no answer within the timeout, is an NL_NETWORK_UNREACHABLE with the node and what it said, so the
 * directory can count the segment as not created and retry it later.
 *
 * Reads the membership a segment holds (`GET /v1/segments/:segmentId`), for a writer whose PG list is
 * older than storage's (recovery reasoning R1 in core/quorum-driver.ts); any failure is undefined.
 */
import {
  asEpoch,
  asNodeId,
  asSegmentId,
  type NodeId,
  NorthlightError,
  type PgId,
  type SegmentId,
} from '@northlight/protocol';
import { internalAuthorization } from '@northlight/protocol/io';
import type { StorageNodeAddress } from '../config.js';
import type { SegmentProvisioner } from '../core/local-directory.js';
import type { StoredMembership } from '../core/volume.js';

export const PROVISION_TIMEOUT_MS = 5_000;

export class HttpSegmentProvisioner implements SegmentProvisioner {
  readonly #nodes: ReadonlyMap<NodeId, StorageNodeAddress>;
  /** The cluster's internal token, which the storage nodes' admin API requires. */
  readonly #headers: Readonly<Record<string, string>>;

  constructor(nodes: readonly StorageNodeAddress[], internalToken?: string) {
    this.#nodes = new Map(nodes.map((node) => [node.nodeId, node]));
    this.#headers = internalAuthorization(internalToken);
  }

  #adminUrl(node: StorageNodeAddress): string {
    const host = node.address.host.includes(':') ? `[${node.address.host}]` : node.address.host;
    return `http://${host}:${node.adminPort}`;
  }

  async readMembership(
    nodeId: NodeId,
    pgId: PgId,
    segmentId: SegmentId,
  ): Promise<StoredMembership | undefined> {
    const node = this.#nodes.get(nodeId);
    if (node === undefined) return undefined;
    try {
      const response = await fetch(`${this.#adminUrl(node)}/v1/segments/${encodeURIComponent(segmentId)}`, {
        headers: this.#headers,
        signal: AbortSignal.timeout(PROVISION_TIMEOUT_MS),
      });
      if (!response.ok) return undefined;
      const segment = (await response.json()) as {
        pgId?: number;
        membershipEpoch?: string;
        members?: unknown;
        memberNodes?: unknown;
      };
      const strings = (value: unknown): value is string[] =>
        Array.isArray(value) && value.every((item) => typeof item === 'string');
      if (
        segment.pgId !== pgId ||
        typeof segment.membershipEpoch !== 'string' ||
        !strings(segment.members) ||
        !strings(segment.memberNodes)
      )
        return undefined;
      return {
        membershipEpoch: asEpoch(BigInt(segment.membershipEpoch)),
        members: segment.members.map((member) => asSegmentId(member)),
        memberNodes: segment.memberNodes.map((member) => asNodeId(member)),
      };
    } catch {
      return undefined; // unreachable, or not JSON: the driver asks again later
    }
  }

  async createSegment(
    nodeId: NodeId,
    spec: Parameters<SegmentProvisioner['createSegment']>[1],
  ): Promise<void> {
    const node = this.#nodes.get(nodeId);
    if (node === undefined)
      throw new NorthlightError('NL_CONFIG_INVALID', `storage node ${nodeId} is not configured`);
    const url = `${this.#adminUrl(node)}/v1/segments`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { ...this.#headers, 'content-type': 'application/json' },
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
