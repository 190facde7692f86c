/** GET a JSON document from a member's HTTP API: undefined when it does not answer 200 in time. */
export const OBSERVE_TIMEOUT_MS = 2_000;

export async function getJson<T>(url: string, timeoutMs = OBSERVE_TIMEOUT_MS): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.arrayBuffer();
      return undefined;
    }
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}
