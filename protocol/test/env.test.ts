// The environment helpers that are code, not interfaces.
import { describe, expect, it } from 'vitest';
import { unavailableObjectStore } from '../src/core/env.js';
import { NorthlightError } from '../src/core/errors.js';

describe('unavailableObjectStore', () => {
  it('rejects every call with NL_OBJECT_STORE_UNAVAILABLE and the reason it was given', async () => {
    const store = unavailableObjectStore('no backup target here');
    for (const call of [
      () => store.put('k', new Uint8Array(1)),
      () => store.get('k'),
      () => store.list(''),
      () => store.delete('k'),
    ]) {
      const error = await call().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(NorthlightError);
      expect((error as NorthlightError).code).toBe('NL_OBJECT_STORE_UNAVAILABLE');
      expect((error as NorthlightError).message).toContain('no backup target here');
    }
  });
});
