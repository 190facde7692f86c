/** Test certificates: a self-signed EC certificate and its key, made by the real openssl. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Writes `<name>.crt` and `<name>.key` in `directory`, for the common name `commonName`. */
export async function selfSignedCertificate(
  directory: string,
  name = 'server',
  commonName = '127.0.0.1',
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(directory, `${name}.crt`);
  const keyFile = join(directory, `${name}.key`);
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    `/CN=${commonName}`,
  ]);
  return { certFile, keyFile };
}
