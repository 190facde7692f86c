/**
 * The PostgreSQL endpoint's certificate and key as files, read again when they change: on Kubernetes
 * they are a Secret volume, which the kubelet rewrites in place when the Secret is renewed
 * (cert-manager renews before expiry), so an engine that read them once would serve an expired
 * certificate one day. The files are polled (a Secret volume swaps a symlink, which file watchers
 * see unreliably); a pair that does not load, such as one read between the two files' updates, is
 * reported once and tried again at the next poll, the previous pair staying in use meanwhile.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '@northlight/protocol';

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** How often the files are read again. */
export const TLS_RELOAD_CHECK_MS = 10_000;

export async function readTlsPair(certFile: string, keyFile: string): Promise<TlsPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { cert, key };
}

/** What the log says of a certificate: its subject, expiry and fingerprint (never the key). */
export function describeCertificate(cert: Buffer): Record<string, string> {
  try {
    const parsed = new X509Certificate(cert);
    return {
      subject: parsed.subject.replaceAll('\n', ', '),
      validTo: new Date(parsed.validTo).toISOString(),
      sha256: parsed.fingerprint256,
    };
  } catch (error) {
    return { certificate: `unreadable: ${(error as Error).message}` };
  }
}

export interface TlsWatcher {
  stop(): void;
}

/**
 * Polls the files every `intervalMs`; when their bytes differ from the pair in use, calls `apply`
 * (which throws when the pair does not load) and logs the outcome.
 */
export function watchTlsFiles(
  files: { readonly certFile: string; readonly keyFile: string },
  current: TlsPair,
  apply: (pair: TlsPair) => void,
  logger: Logger,
  intervalMs = TLS_RELOAD_CHECK_MS,
): TlsWatcher {
  let inUse = current;
  let reported: TlsPair | undefined;
  let busy = false;
  const same = (a: TlsPair, b: TlsPair) => a.cert.equals(b.cert) && a.key.equals(b.key);
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const read = await readTlsPair(files.certFile, files.keyFile);
      if (same(read, inUse)) return;
      try {
        apply(read);
        inUse = read;
        reported = undefined;
        logger.log('info', 'TLS certificate reloaded', describeCertificate(read.cert));
      } catch (error) {
        if (reported === undefined || !same(reported, read)) {
          reported = read;
          logger.log(
            'warn',
            'TLS certificate files changed but do not load; the previous certificate stays in use',
            {
              certFile: files.certFile,
              keyFile: files.keyFile,
              error: (error as Error).message,
            },
          );
        }
      }
    } catch (error) {
      const message = `${(error as NodeJS.ErrnoException).code ?? ''} ${(error as Error).message}`.trim();
      if (reported === undefined) {
        reported = { cert: Buffer.alloc(0), key: Buffer.alloc(0) };
        logger.log('warn', 'TLS certificate files cannot be read; the previous certificate stays in use', {
          certFile: files.certFile,
          keyFile: files.keyFile,
          error: message,
        });
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
