/**
 * The PostgreSQL endpoint's certificate is read again when its files change (a renewed Kubernetes
 * Secret, cert-manager's renewals), on a real engine process over a real storage fleet:
 *   1. the engine serves the first certificate, and psql connects with sslmode=require;
 *   2. a half-written renewal (the new certificate beside the old key) does not load: the engine
 *      says so once and keeps serving the first certificate;
 *   3. once the key is written too, new connections get the second certificate, and psql still works.
 * The certificate a connection gets is read from the TLS handshake that follows SSLRequest.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../support/certificates.js';
import { type EngineProcess, removeEngineData, StorageFleet, startEngine } from '../support/engine-rig.js';

const run = promisify(execFile);
const PASSWORD = 'tls-reload-secret';

async function certificate(directory: string, name: string): Promise<{ cert: string; key: string }> {
  const { certFile, keyFile } = await selfSignedCertificate(directory, name, name);
  return { cert: certFile, key: keyFile };
}

/** SSLRequest, then a TLS handshake: the common name of the certificate the server presents. */
function servedCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer to SSLRequest')));
    socket.once('error', reject);
    socket.once('connect', () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80_877_103, 4);
      socket.write(request);
    });
    socket.once('data', (answer) => {
      if (answer.toString('latin1') !== 'S') {
        socket.destroy();
        reject(new Error(`SSLRequest answered ${JSON.stringify(answer.toString('latin1'))}`));
        return;
      }
      const secure = tls.connect({ socket, rejectUnauthorized: false, servername: 'localhost' }, () => {
        const subject = secure.getPeerCertificate().subject;
        secure.destroy();
        resolve(String(subject?.CN));
      });
      secure.once('error', reject);
    });
  });
}

async function psqlOverTls(port: number): Promise<string> {
  const { stdout } = await run(
    'psql',
    [
      '-X',
      '-At',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      'northlight',
      '-c',
      'SELECT 41 + 1',
    ],
    {
      env: { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' },
      timeout: 30_000,
    },
  );
  return stdout.trim();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Replaces a file whole, as Kubernetes updates a mounted Secret (an atomic swap): a copy in place
 * could be read empty or half-written, a bad pair of its own, and the engine rightly reports each
 * different bad pair once.
 */
function replaceFile(source: string, target: string): void {
  copyFileSync(source, `${target}.new`);
  renameSync(`${target}.new`, target);
}

describe('the PostgreSQL endpoint reloads a renewed certificate (real processes)', () => {
  let directory: string;
  let fleet: StorageFleet;
  let engine: EngineProcess;
  const served = { cert: '', key: '' };

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'northlight-tls-reload-'));
    served.cert = join(directory, 'tls.crt');
    served.key = join(directory, 'tls.key');
    const first = await certificate(directory, 'first');
    copyFileSync(first.cert, served.cert);
    copyFileSync(first.key, served.key);
    fleet = new StorageFleet(1024 * 1024);
    await fleet.start();
    engine = await startEngine(fleet, {
      args: [
        '--pg-auth',
        'scram',
        '--pg-user',
        'postgres',
        '--pg-password',
        PASSWORD,
        '--pg-tls-cert',
        served.cert,
        '--pg-tls-key',
        served.key,
        '--pg-tls-reload-check-ms',
        '200',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    engine?.child.kill('SIGKILL');
    await engine?.exited;
    await fleet?.stopAll();
    if (engine !== undefined) removeEngineData(engine);
    rmSync(directory, { recursive: true, force: true });
  });

  it('serves the first pair, keeps it through a half-written renewal, then serves the renewed one', async () => {
    expect(await servedCommonName(engine.pgPort)).toBe('first');
    expect(await psqlOverTls(engine.pgPort)).toBe('42');
    const startLine = engine.output
      .join('')
      .split('\n')
      .find((line) => line.includes('PostgreSQL listening'));
    expect(startLine).toContain('"subject":"CN=first"');
    expect(startLine).toContain('"validTo"');

    // The certificate is renewed first, the key a moment later: the pair in between does not load.
    const second = await certificate(directory, 'second');
    replaceFile(second.cert, served.cert);
    await until('the engine to report the pair that does not load', async () =>
      engine.output.join('').includes('do not load') ? true : undefined,
    );
    expect(await servedCommonName(engine.pgPort)).toBe('first');
    expect(await psqlOverTls(engine.pgPort)).toBe('42');

    replaceFile(second.key, served.key);
    await until('the renewed certificate', async () =>
      (await servedCommonName(engine.pgPort)) === 'second' ? true : undefined,
    );
    expect(await psqlOverTls(engine.pgPort)).toBe('42');
    const log = engine.output.join('');
    expect(log).toContain('TLS certificate reloaded');
    expect(log.match(/do not load/g)).toHaveLength(1);
  }, 60_000);
});
