/** buildVersion: the deployed label when valid, else the package's own version. */
import { describe, expect, it } from 'vitest';
import { buildVersion } from '../src/io/index.js';

describe('buildVersion', () => {
  it('reports NORTHLIGHT_VERSION, or the package version when it is unset or malformed', () => {
    expect(buildVersion({ NORTHLIGHT_VERSION: '0.2.0-rc.1' })).toBe('0.2.0-rc.1');
    expect(buildVersion({})).toBe('0.1.0');
    expect(buildVersion({ NORTHLIGHT_VERSION: 'bad version with spaces' })).toBe('0.1.0');
    expect(buildVersion({ NORTHLIGHT_VERSION: '' })).toBe('0.1.0');
  });
});
