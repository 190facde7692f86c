/**
 * The receiving side of a peer snapshot over HTTP: `GET <source>/v1/segments/:pgId/:segmentId/snapshot`
 * (admin-server.ts), the response body handed to the core as it arrives.
 */
import { type ErrorCode, errorCatalog, NorthlightError } from '@northlight/protocol';

/** A whole snapshot must arrive within this (it is read as fast as it is written to disk). */
export const SNAPSHOT_FETCH_TIMEOUT_MS = 10 * 60_000;

/**
 * Opens the snapshot stream of `segmentId` of PG `pgId` at the node whose admin API is `url`. Rejects
 * typed when the source refuses (its error code kept) or cannot be reached (NL_NETWORK_UNREACHABLE).
 */
export async function openSnapshot(
  url: string,
  pgId: number,
  segmentId: string,
  timeoutMs = SNAPSHOT_FETCH_TIMEOUT_MS,
): Promise<AsyncIterable<Uint8Array>> {
  const target = `${url}/v1/segments/${pgId}/${encodeURIComponent(segmentId)}/snapshot`;
  let response: Response;
  try {
    response = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new NorthlightError(
      'NL_NETWORK_UNREACHABLE',
      `cannot fetch the snapshot of ${segmentId} from ${url}: ${(error as Error).message}`,
    );
  }
  if (!response.ok || response.body === null) {
    const text = await response.text().catch(() => '');
    let code: ErrorCode = 'NL_NETWORK_UNREACHABLE';
    let message = text.slice(0, 300);
    try {
      const body = JSON.parse(text) as { code?: string; message?: string };
      if (typeof body.code === 'string' && body.code in errorCatalog) code = body.code as ErrorCode;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // not JSON: keep the text
    }
    throw new NorthlightError(
      code,
      `the snapshot of ${segmentId} at ${url} was refused (HTTP ${response.status}): ${message}`,
    );
  }
  return response.body as unknown as AsyncIterable<Uint8Array>;
}
