/**
 * The header an engine's internal routes (/v1/status, /v1/volume, /v1/admin/*) and a storage node's
 * admin API (all but the probes and /metrics) take: the cluster's internal token as a bearer token
 * (protocol's internal-auth.ts).
 */
export function engineAuthorization(internalToken: string): Readonly<Record<string, string>> {
  return { authorization: `Bearer ${internalToken}` };
}

/** GET a JSON document from a member's HTTP API: undefined when it does not answer 200 in time. */
export const OBSERVE_TIMEOUT_MS = 2_000;

export async function getJson<T>(
  url: string,
  timeoutMs = OBSERVE_TIMEOUT_MS,
  headers: Readonly<Record<string, string>> = {},
): Promise<T | undefined> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.arrayBuffer();
      return undefined;
    }
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

/** How long an engine's admin command (promote, fence) may take to be accepted. */
export const ENGINE_ADMIN_TIMEOUT_MS = 5_000;

/**
 * POSTs an admin command to an engine (`/v1/admin/promote` or `/v1/admin/fence`, both answered 202
 * when accepted). Returns undefined when accepted, else why not (no address, no answer, or the HTTP
 * status and body), for the caller's event or log line.
 */
export async function postEngineAdmin(
  engineUrl: string | undefined,
  command: 'promote' | 'fence',
  headers: Readonly<Record<string, string>>,
): Promise<string | undefined> {
  if (engineUrl === undefined) return 'its pod has no IP';
  try {
    const response = await fetch(`${engineUrl}/v1/admin/${command}`, {
      method: 'POST',
      headers,
      signal: AbortSignal.timeout(ENGINE_ADMIN_TIMEOUT_MS),
    });
    if (response.status === 202) {
      await response.arrayBuffer();
      return undefined;
    }
    return `HTTP ${response.status} ${await response.text()}`;
  } catch (error) {
    return (error as Error).message;
  }
}
