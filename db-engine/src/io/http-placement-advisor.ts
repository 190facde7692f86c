/**
 * Asks the control plane where a new PG goes (`POST <placement-url>/v1/placement`, see
 * docs/control-plane.md#placement). The engine never waits on the control plane for long: no
 * answer within PLACEMENT_TIMEOUT_MS, or an answer that is not six node ids, and the directory
 * places the PG itself (logged once per streak of failures), so the volume keeps growing. The request
 * carries the cluster's internal token, which `northlight up`'s control API requires.
 */
import { asNodeId, type Logger, type NodeId, type PgId } from '@northlight/protocol';
import { internalAuthorization } from '@northlight/protocol/io';
import type { PlacementAdvisor } from '../core/local-directory.js';
import type { PgPlacement } from '../core/volume.js';

export const PLACEMENT_TIMEOUT_MS = 2_000;

export class HttpPlacementAdvisor implements PlacementAdvisor {
  readonly #url: string;
  readonly #logger: Logger;
  readonly #headers: Record<string, string>;
  #failing = false;

  constructor(url: string, logger: Logger, internalToken?: string) {
    this.#url = `${url}/v1/placement`;
    this.#logger = logger;
    this.#headers = { 'content-type': 'application/json', ...internalAuthorization(internalToken) };
  }

  async advise(pgId: PgId, pgs: readonly PgPlacement[]): Promise<readonly NodeId[] | undefined> {
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify({
          pgId,
          pgs: pgs.map((placement) => ({
            pgId: placement.pgId,
            nodes: [...new Set(placement.nodeOf.values())],
          })),
        }),
        signal: AbortSignal.timeout(PLACEMENT_TIMEOUT_MS),
      });
      const body = (await response.json()) as { nodes?: unknown; message?: string };
      if (!response.ok || !Array.isArray(body.nodes) || !body.nodes.every((node) => typeof node === 'string'))
        throw new Error(`HTTP ${response.status} ${body.message ?? ''}`);
      if (this.#failing) this.#logger.log('info', 'the control plane places PGs again', { pgId });
      this.#failing = false;
      return (body.nodes as string[]).map((node) => asNodeId(node));
    } catch (error) {
      if (!this.#failing)
        this.#logger.log(
          'warn',
          'the control plane did not place the PG; placing it here (two per zone, round robin)',
          {
            pgId,
            url: this.#url,
            error: (error as Error).message,
          },
        );
      this.#failing = true;
      return undefined;
    }
  }
}
