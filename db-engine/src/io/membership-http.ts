/**
 * The writer's membership route, for the control plane's repairs (docs/quorum.md, "Membership
 * changes"; docs/db-engine.md, "Membership changes"):
 *
 *   POST /v1/admin/membership
 *        { pgId, membershipEpoch: "<decimal>", configurations: [[segmentId × 6], …],
 *          hydrating: [segmentId, …], nodeOf: { "<segmentId>": "<nodeId>", … } }
 *        200 { pgId, membershipEpoch, members, hydrationTarget? } once the change is durable in the
 *        volume directory and the driver writes by it; 400 NL_CONFIG_INVALID naming what is wrong
 *        (a configuration that is not 6 distinct segments, a member without a node, a node that is
 *        not among the engine's --storage nodes, an unknown PG…); 409 NL_MEMBERSHIP_STALE for an
 *        epoch older than the PG's (or its own epoch with another membership).
 *
 * The request shape is checked by the schema (a 400 NL_REQUEST_INVALID, like every route); what it
 * means is checked here and by the directory, so that every such refusal names the problem.
 */
import {
  asEpoch,
  asNodeId,
  asPgId,
  asSegmentId,
  isNorthlightError,
  isValidIdentifier,
  type Logger,
  type NodeId,
  NorthlightError,
  type PgId,
  type SegmentId,
  U64_MAX,
} from '@northlight/protocol';
import type { FastifyInstance } from 'fastify';
import type { QuorumDriver } from '../core/quorum-driver.js';
import { type MembershipChange, membershipProblem } from '../core/volume.js';

export interface MembershipRouteOptions {
  readonly driver: QuorumDriver;
  /** The engine's --storage nodes: the only ones it can reach. */
  readonly storageNodes: readonly NodeId[];
  readonly logger: Logger;
}

export interface MembershipBody {
  readonly pgId: number;
  readonly membershipEpoch: string;
  readonly configurations: readonly (readonly string[])[];
  readonly hydrating: readonly string[];
  readonly nodeOf: Readonly<Record<string, string>>;
}

/** Bounds what is parsed; the meaningful limits are `CONFIGURATIONS_MAX` and `MEMBERS_MAX` (volume.ts). */
const LIST_ITEMS_MAX = 64;

const bodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pgId', 'membershipEpoch', 'configurations', 'hydrating', 'nodeOf'],
  properties: {
    pgId: { type: 'integer', minimum: 0, maximum: 0xffff_ffff },
    membershipEpoch: { type: 'string', pattern: '^(0|[1-9][0-9]{0,19})$' },
    configurations: {
      type: 'array',
      maxItems: LIST_ITEMS_MAX,
      items: { type: 'array', maxItems: LIST_ITEMS_MAX, items: { type: 'string', maxLength: 200 } },
    },
    hydrating: { type: 'array', maxItems: LIST_ITEMS_MAX, items: { type: 'string', maxLength: 200 } },
    nodeOf: {
      type: 'object',
      maxProperties: LIST_ITEMS_MAX,
      additionalProperties: { type: 'string', maxLength: 200 },
    },
  },
} as const;

function configInvalid(message: string): NorthlightError {
  return new NorthlightError('NL_CONFIG_INVALID', `invalid membership: ${message}`);
}

/**
 * The change a request body asks for, or NL_CONFIG_INVALID naming what is wrong with it. Pure: the
 * directory checks the rest (the PG exists, the epoch is not older).
 */
export function membershipChangeOf(
  body: MembershipBody,
  storageNodes: readonly NodeId[],
): { readonly pgId: PgId; readonly change: MembershipChange } {
  const epoch = BigInt(body.membershipEpoch);
  if (epoch > U64_MAX) throw configInvalid(`membershipEpoch ${body.membershipEpoch} is not a u64`);
  const ids = [...body.configurations.flat(), ...body.hydrating, ...Object.keys(body.nodeOf)];
  const badSegment = ids.find((id) => !isValidIdentifier(id));
  if (badSegment !== undefined)
    throw configInvalid(`${JSON.stringify(badSegment.slice(0, 80))} is not a segment id`);
  const badNode = Object.values(body.nodeOf).find((node) => !isValidIdentifier(node));
  if (badNode !== undefined) throw configInvalid(`${JSON.stringify(badNode.slice(0, 80))} is not a node id`);
  const nodeOf = new Map<SegmentId, NodeId>(
    Object.entries(body.nodeOf).map(([segment, node]) => [asSegmentId(segment), asNodeId(node)]),
  );
  const change: MembershipChange = {
    membershipEpoch: asEpoch(epoch),
    quorumSet: {
      configurations: body.configurations.map((configuration) => configuration.map(asSegmentId)),
      hydrating: body.hydrating.map(asSegmentId),
    },
    nodeOf,
  };
  const problem = membershipProblem(change);
  if (problem !== undefined) throw configInvalid(problem);
  const members = new Set(body.configurations.flat());
  const unknown = [...nodeOf]
    .filter(([segment, node]) => members.has(segment) && !storageNodes.includes(node))
    .map(([segment, node]) => `${node} (of ${segment})`);
  if (unknown.length > 0)
    throw configInvalid(
      `${unknown.join(', ')} not among this engine's storage nodes (${storageNodes.join(', ')}); ` +
        'restart the engine with the node in --storage first',
    );
  return { pgId: asPgId(body.pgId), change };
}

export function registerMembershipRoute(app: FastifyInstance, options: MembershipRouteOptions): void {
  app.post<{ Body: MembershipBody }>(
    '/v1/admin/membership',
    { schema: { body: bodySchema } },
    async (request, reply) => {
      const { pgId, change } = membershipChangeOf(request.body, options.storageNodes);
      try {
        const applied = await options.driver.changeMembership(pgId, change);
        options.logger.log('info', 'membership change applied', {
          pgId,
          membershipEpoch: applied.placement.membershipEpoch,
          members: applied.placement.members.join(','),
        });
        return {
          pgId,
          membershipEpoch: applied.placement.membershipEpoch.toString(),
          members: [...applied.placement.members],
          ...(applied.hydrationTarget === undefined
            ? {}
            : { hydrationTarget: applied.hydrationTarget.toString() }),
        };
      } catch (error) {
        // A stale change is the caller's to resolve (re-read and plan again): 409, not the 400 that
        // the server answers other typed refusals with.
        if (!isNorthlightError(error, 'NL_MEMBERSHIP_STALE')) throw error;
        return reply.code(409).send({
          code: error.code,
          sqlstate: '08P01',
          message: error.message,
          action: error.action,
        });
      }
    },
  );
}
