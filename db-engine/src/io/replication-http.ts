/**
 * The writer's side of replication over its HTTP API (docs/replicas-and-failover.md):
 *
 *   GET  /v1/volume                     the PG list a replica reads pages from (placements, page span):
 *        { pagesPerPg, pgs: [{ pgId, membershipEpoch, members, nodeOf, configurations, hydrating }] }
 *   GET  /v1/replication/stream?replica=<id>
 *        200, a never-ending binary body: a u32 (little-endian) length and that many bytes of JSON, the
 *        start point { volumeEpoch, vdl, readPoints: { "<pgId>": "<lsn>" } }, then protocol frames
 *        (`redo-stream`: the volume epoch, the VDL, records in LSN order) for as long as the replica
 *        keeps up. The writer never waits for a replica: one whose unread stream passes
 *        `maxBufferedBytes` is cut off and must subscribe again (and resync from storage).
 *   POST /v1/replication/feedback      { replicaId, appliedLsn, minReadPoints: { "<pgId>": "<lsn>" } }
 *        what the replica applied (lag samples for `northlight_replica_lag_seconds`) and where it may
 *        still read (folded into each PG's PGMRPL, so storage keeps serving it).
 */
import { PassThrough } from 'node:stream';
import { asLsn, asPgId, encodeMessage, type Logger, type Lsn, type PgId } from '@northlight/protocol';
import type { FastifyInstance } from 'fastify';
import type { QuorumDriver } from '../core/quorum-driver.js';
import type { RedoFeed, StreamChunk } from '../core/replication.js';
import type { VolumeDirectory } from '../core/volume.js';
import type { EngineMetrics } from './metrics.js';

export interface ReplicationRoutesOptions {
  readonly feed: RedoFeed;
  readonly driver: QuorumDriver;
  readonly directory: VolumeDirectory;
  readonly metrics: EngineMetrics;
  readonly logger: Logger;
  readonly nowMs: () => number;
  /** Unread stream bytes past which a replica is cut off. */
  readonly maxBufferedBytes: number;
}

const REPLICA_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LSN_TEXT = /^\d{1,20}$/;

/** The JSON form of the PG list (`GET /v1/volume`); `replica.ts` reads it back. */
export interface VolumeJson {
  readonly pagesPerPg: number;
  readonly pgs: readonly {
    readonly pgId: number;
    readonly membershipEpoch: string;
    readonly members: readonly string[];
    readonly nodeOf: Readonly<Record<string, string>>;
    /** The quorum set (docs/quorum.md); absent from writers before quorum sets: `[members]`. */
    readonly configurations?: readonly (readonly string[])[];
    /** Members that count for writes but not yet for reads; absent: none. */
    readonly hydrating?: readonly string[];
  }[];
}

export function volumeJson(directory: VolumeDirectory): VolumeJson {
  return {
    pagesPerPg: directory.pagesPerPg,
    pgs: directory.pgs().map((placement) => ({
      pgId: placement.pgId,
      membershipEpoch: placement.membershipEpoch.toString(),
      members: [...placement.members],
      nodeOf: Object.fromEntries(placement.nodeOf),
      configurations: placement.quorumSet.configurations.map((configuration) => [...configuration]),
      hydrating: [...placement.quorumSet.hydrating],
    })),
  };
}

export function registerReplicationRoutes(app: FastifyInstance, options: ReplicationRoutesOptions): void {
  const { feed, driver, metrics, logger } = options;

  app.get('/v1/volume', async () => volumeJson(options.directory));

  app.get<{ Querystring: { replica?: string } }>('/v1/replication/stream', async (request, reply) => {
    const replicaId = request.query.replica ?? '';
    if (!REPLICA_ID.test(replicaId))
      return reply.code(400).send({
        code: 'NL_REQUEST_INVALID',
        sqlstate: '08P01',
        message: 'give ?replica=<id>, an id matching [a-z0-9][a-z0-9._-]{0,62}',
        action: 'fix the request',
      });
    const vdl = driver.vdl;
    if (driver.state !== 'serving' || vdl === undefined)
      return reply.code(503).send({
        code: 'NL_QUORUM_LOST',
        sqlstate: '57P03',
        message: `the writer is ${driver.state}; it streams once it serves`,
        action: 'retry',
      });
    const readPoints = driver.readPoints();
    const start = {
      volumeEpoch: driver.volumeEpoch.toString(),
      vdl: vdl.toString(),
      readPoints: Object.fromEntries([...readPoints].map(([pgId, lsn]) => [String(pgId), lsn.toString()])),
    };
    const body = new PassThrough();
    const preamble = Buffer.from(JSON.stringify(start));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(preamble.length);
    body.write(length);
    body.write(preamble);
    const volumeEpoch = driver.volumeEpoch;
    let cutOff = false;
    const subscriber = {
      close: () => {
        cutOff = true;
        body.destroy();
      },
      send: (chunk: StreamChunk) => {
        if (cutOff) return;
        body.write(
          encodeMessage({ type: 'redo-stream', volumeEpoch, vdl: chunk.vdl, records: chunk.records }),
        );
        if (body.writableLength > options.maxBufferedBytes) {
          cutOff = true;
          logger.log('warn', 'cut off a replica that does not keep up with the redo stream', {
            replicaId,
            bufferedBytes: body.writableLength,
          });
          feed.unsubscribe(replicaId, subscriber);
          body.destroy();
        }
      },
    };
    feed.subscribe(replicaId, { volumeEpoch, vdl, readPoints }, subscriber, options.nowMs());
    logger.log('info', 'replica subscribed to the redo stream', { replicaId, vdl: vdl.toString() });
    request.raw.on('close', () => {
      feed.unsubscribe(replicaId, subscriber);
      body.destroy();
      logger.log('info', 'replica stream closed', { replicaId });
    });
    request.raw.socket.setNoDelay(true);
    return reply.type('application/x-northlight-redo-stream').header('cache-control', 'no-store').send(body);
  });

  app.post<{ Body: { replicaId: string; appliedLsn: string; minReadPoints: Record<string, string> } }>(
    '/v1/replication/feedback',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['replicaId', 'appliedLsn', 'minReadPoints'],
          properties: {
            replicaId: { type: 'string', pattern: REPLICA_ID.source },
            appliedLsn: { type: 'string', pattern: LSN_TEXT.source },
            minReadPoints: {
              type: 'object',
              maxProperties: 1_000_000,
              patternProperties: { '^\\d{1,10}$': { type: 'string', pattern: LSN_TEXT.source } },
              additionalProperties: false,
            },
          },
        },
      },
    },
    async (request) => {
      const { replicaId, appliedLsn, minReadPoints } = request.body;
      const points = new Map<PgId, Lsn>();
      for (const [pgId, lsn] of Object.entries(minReadPoints)) {
        const value = BigInt(lsn);
        const pg = Number(pgId);
        if (value <= 0xffff_ffff_ffff_ffffn && pg <= 0xffff_ffff) points.set(asPgId(pg), asLsn(value));
      }
      const applied = BigInt(appliedLsn);
      if (applied > 0xffff_ffff_ffff_ffffn) return { ok: false };
      for (const sample of feed.feedback(replicaId, asLsn(applied), points, options.nowMs()))
        metrics.replicaLag.observe({ replica: sample.replicaId }, sample.seconds);
      return { ok: true };
    },
  );
}
