// The engine's credentials in its configuration (src/config.ts): the internal token's form, and
// --transport-auth (required by default; transition, for a rolling upgrade from a build without
// transport authentication, only with a token). Each refusal is one NL_CONFIG_INVALID naming the flag
// and its variable.
import { describe, expect, it } from 'vitest';
import { parseEngineConfig } from '../src/config.js';

const REQUIRED = [
  '--data-dir',
  '/tmp/northlight-engine-config-test',
  '--storage',
  's1=127.0.0.1:7450/7451@a',
  '--pg-auth',
  'trust',
];
const TOKEN = 'engine-config-test-token-0123456789';

function problem(argv: readonly string[], env: Record<string, string> = {}): string {
  try {
    parseEngineConfig([...REQUIRED, ...argv], env);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
}

describe('engine configuration: the internal token and transport authentication', () => {
  it('requires proof on the transport by default, and takes transition only with a token', () => {
    expect(parseEngineConfig(REQUIRED, { NL_ENGINE_INTERNAL_TOKEN: TOKEN }).transportAuth).toBe('required');
    expect(
      parseEngineConfig([...REQUIRED, '--transport-auth', 'transition'], { NL_ENGINE_INTERNAL_TOKEN: TOKEN })
        .transportAuth,
    ).toBe('transition');
    expect(problem(['--transport-auth', 'transition'])).toContain(
      '--transport-auth / NL_ENGINE_TRANSPORT_AUTH is transition, which needs --internal-token / NL_ENGINE_INTERNAL_TOKEN',
    );
    expect(problem(['--transport-auth', 'optional'], { NL_ENGINE_INTERNAL_TOKEN: TOKEN })).toContain(
      '--transport-auth / NL_ENGINE_TRANSPORT_AUTH must be required or transition',
    );
    expect(problem([], { NL_ENGINE_INTERNAL_TOKEN: 'short' })).toContain(
      'must be 16 to 1,024 printable ASCII',
    );
    expect(problem([], { NL_ENGINE_INTERNAL_TOKEN: '' })).toContain(
      '--internal-token / NL_ENGINE_INTERNAL_TOKEN is set but empty',
    );
    expect(parseEngineConfig(REQUIRED, {}).internalToken).toBeUndefined();
  });
});
