/**
 * The receiving side of a peer snapshot over HTTP: `GET <source>/v1/segments/:pgId/:segmentId/snapshot`
 * (admin-server.ts), the response body handed to the core as it arrives. node:http rather than fetch:
 * its stream of Buffers moves a snapshot two to three times faster here than fetch's web stream.
 */
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { type ErrorCode, errorCatalog, NorthlightError } from '@northlight/protocol';
import { internalAuthorization } from '@northlight/protocol/io';

/** A source that sends nothing for this long is given up (the receiver then asks another member). */
export const SNAPSHOT_IDLE_TIMEOUT_MS = 60_000;

/**
 * Opens the snapshot stream of `segmentId` of PG `pgId` at the node whose admin API is `url`. Rejects
 * typed when the source refuses (its error code kept) or cannot be reached (NL_NETWORK_UNREACHABLE).
 */
export function openSnapshot(
  url: string,
  pgId: number,
  segmentId: string,
  options: {
    readonly idleTimeoutMs?: number;
    /**
     * The receiver's hydration limit (0: none), sent so that the source allows a paced stream the time
     * it needs (admin-server.ts `snapshotSendAllowedMs`).
     */
    readonly bytesPerSecond?: number;
    /** The cluster's internal token, which the source's admin API requires (none: an open source). */
    readonly internalToken?: string | undefined;
  } = {},
): Promise<AsyncIterable<Uint8Array>> {
  const idleTimeoutMs = options.idleTimeoutMs ?? SNAPSHOT_IDLE_TIMEOUT_MS;
  const paced = options.bytesPerSecond !== undefined && options.bytesPerSecond > 0;
  const target = `${url}/v1/segments/${pgId}/${encodeURIComponent(segmentId)}/snapshot${
    paced ? `?bytesPerSecond=${options.bytesPerSecond}` : ''
  }`;
  const unreachable = (why: string) =>
    new NorthlightError(
      'NL_NETWORK_UNREACHABLE',
      `cannot fetch the snapshot of ${segmentId} from ${url}: ${why}`,
    );
  return new Promise((resolve, reject) => {
    let request: ReturnType<typeof httpGet>;
    const get = target.startsWith('https:') ? httpsGet : httpGet;
    try {
      request = get(
        target,
        { headers: internalAuthorization(options.internalToken) },
        (response) => void answered(response),
      );
    } catch (error) {
      reject(unreachable((error as Error).message));
      return;
    }
    request.setTimeout(idleTimeoutMs, () => request.destroy(unreachable(`nothing for ${idleTimeoutMs} ms`)));
    request.on('error', (error) => reject(isNorthlight(error) ? error : unreachable(error.message)));
    const answered = async (response: IncomingMessage) => {
      if (response.statusCode === 200) {
        // A cut stream surfaces as an error of the iteration (or an early end the decoder detects).
        resolve(response);
        return;
      }
      let text = '';
      try {
        for await (const chunk of response) if (text.length < 4096) text += String(chunk);
      } catch {
        // keep what arrived
      }
      let code: ErrorCode = 'NL_NETWORK_UNREACHABLE';
      let message = text.slice(0, 300);
      try {
        const body = JSON.parse(text) as { code?: string; message?: string };
        if (typeof body.code === 'string' && body.code in errorCatalog) code = body.code as ErrorCode;
        if (typeof body.message === 'string') message = body.message;
      } catch {
        // not JSON: keep the text
      }
      reject(
        new NorthlightError(
          code,
          `the snapshot of ${segmentId} at ${url} was refused (HTTP ${response.statusCode}): ${message}`,
        ),
      );
    };
  });
}

function isNorthlight(error: unknown): error is NorthlightError {
  return error instanceof NorthlightError;
}
