/**
 * SCRAM-SHA-256 server side against RFC 7677 §3's test vector (user "user", password "pencil"), the
 * verifier format PostgreSQL stores, and the failures: a wrong proof, a replayed or altered nonce,
 * channel binding asked for, malformed messages.
 */
import { describe, expect, it } from 'vitest';
import { base64Decode, formatVerifier, parseVerifier, ScramServer } from '../../src/core/pgwire/scram.js';
import { nodeScramCrypto, scramVerifierFromPassword } from '../../src/io/pg-scram.js';

const clientNonce = 'rOprNGfwEbeRWgbNEkqO';
const serverNonce = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const salt = base64Decode('W22ZaJ0SNY7soEsUEjb6gQ==') as Uint8Array;
const clientFinal = `c=biws,r=${clientNonce}${serverNonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const crypto = { ...nodeScramCrypto, nonce: () => serverNonce };

describe('SCRAM-SHA-256', () => {
  const verifier = scramVerifierFromPassword('pencil', 4096, salt);

  it('follows RFC 7677’s exchange byte for byte', () => {
    const server = new ScramServer(crypto, verifier, 'user');
    expect(server.clientFirst(`n,,n=user,r=${clientNonce}`)).toEqual({
      kind: 'continue',
      serverMessage: `r=${clientNonce}${serverNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
    });
    expect(server.clientFinal(clientFinal)).toEqual({
      kind: 'final',
      serverMessage: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    });
  });

  it('stores verifiers as PostgreSQL does, and reads them back', () => {
    const text = formatVerifier(verifier);
    expect(text).toMatch(
      /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/,
    );
    expect(parseVerifier(text)).toEqual(verifier);
    expect(parseVerifier('md5abc')).toBeNull();
    expect(parseVerifier('SCRAM-SHA-256$0:AAAA$AAAA:AAAA')).toBeNull();
  });

  it('refuses a wrong password, an unknown user, an altered nonce, channel binding and garbage', () => {
    const wrong = new ScramServer(crypto, scramVerifierFromPassword('other', 4096, salt), 'user');
    wrong.clientFirst(`n,,n=user,r=${clientNonce}`);
    expect(wrong.clientFinal(clientFinal)).toMatchObject({ kind: 'fail', sqlstate: '28P01' });

    const unknown = new ScramServer(crypto, null, 'ghost');
    expect(unknown.clientFirst(`n,,n=,r=${clientNonce}`).kind).toBe('continue');
    expect(unknown.clientFinal(clientFinal)).toEqual({
      kind: 'fail',
      sqlstate: '28P01',
      message: 'password authentication failed for user "ghost"',
    });

    const altered = new ScramServer(crypto, verifier, 'user');
    altered.clientFirst(`n,,n=user,r=${clientNonce}`);
    expect(altered.clientFinal(clientFinal.replace('r=rOpr', 'r=XOpr'))).toMatchObject({
      kind: 'fail',
      sqlstate: '08P01',
    });

    const binding = new ScramServer(crypto, verifier, 'user');
    expect(binding.clientFirst(`p=tls-server-end-point,,n=user,r=${clientNonce}`)).toMatchObject({
      kind: 'fail',
      message: 'channel binding is not supported',
    });

    for (const garbage of ['', 'n,,', 'n,,r=abc', 'x,,n=user,r=abc', 'n,,n=user,r=']) {
      expect(new ScramServer(crypto, verifier, 'user').clientFirst(garbage)).toMatchObject({
        kind: 'fail',
        sqlstate: '08P01',
      });
    }
    const noProof = new ScramServer(crypto, verifier, 'user');
    noProof.clientFirst(`n,,n=user,r=${clientNonce}`);
    expect(noProof.clientFinal('c=biws')).toMatchObject({ kind: 'fail', sqlstate: '08P01' });
  });
});
