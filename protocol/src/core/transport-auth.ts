/**
 * How a member takes transport peers: the storage node's and the engine's `--transport-auth`, a cluster
 * spec's `security.transportAuthentication`. The handshake itself is io/transport-hello.ts.
 *
 *  - `required` (the default): a peer must prove the cluster's internal token, or it is refused.
 *  - `transition`: a peer of a build from before transport authentication (it sends the version-1
 *    hello) is also taken, unauthenticated. For a rolling upgrade from such a build, and only while it
 *    runs: the transport is then as open as before to anyone who speaks version 1 (docs/security.md).
 */
export const TRANSPORT_AUTH_MODES = ['required', 'transition'] as const;
export type TransportAuthMode = (typeof TRANSPORT_AUTH_MODES)[number];
export const DEFAULT_TRANSPORT_AUTH_MODE: TransportAuthMode = 'required';

export function isTransportAuthMode(value: unknown): value is TransportAuthMode {
  return (TRANSPORT_AUTH_MODES as readonly unknown[]).includes(value);
}
