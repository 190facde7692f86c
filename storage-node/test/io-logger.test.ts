// Proves the pino Logger: one JSON object per line with time, level as a word, component and message
// (JsonLineLogger's shape); lines below the level are dropped; bigints become decimal strings; an
// Error field keeps type, message and stack; credentials are redacted wherever they sit up to four
// levels deep, including a whole logged config (describeConfig) — the secret text never appears in
// the output; child loggers add their bindings.
import { describe, expect, it } from 'vitest';
import { describeConfig, parseStorageNodeConfig } from '../src/config.js';
import { PinoLogger, REDACTED_VALUE } from '../src/io/logger.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
  const lines: string[] = [];
  const logger = new PinoLogger({
    component: 'storage-node',
    level,
    bindings: { nodeId: 'storage-a' },
    destination: { write: (line: string) => lines.push(line) },
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, parsed };
}

describe('PinoLogger', () => {
  it('writes one JSON line per call in the shape of JsonLineLogger, and honours the level', () => {
    const { logger, lines, parsed } = capture('info');
    logger.log('debug', 'not shown');
    logger.log('info', 'segment opened', { segmentId: 'pg3-seg1', scl: 18_446_744_073_709_551_615n });
    logger.log('warn', 'slow fsync', { latencyMs: 12.5 });
    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    const [opened, slow] = parsed();
    expect(opened).toMatchObject({
      level: 'info',
      component: 'storage-node',
      nodeId: 'storage-a',
      message: 'segment opened',
      segmentId: 'pg3-seg1',
      scl: '18446744073709551615',
    });
    expect(Number.isNaN(Date.parse(String(opened!.time)))).toBe(false);
    expect(slow).toMatchObject({ level: 'warn', message: 'slow fsync', latencyMs: 12.5 });
  });

  it('keeps type, message and stack of an Error field', () => {
    const { logger, parsed } = capture();
    logger.log('error', 'scrub failed', { error: new RangeError('offset out of range') });
    expect(parsed()[0]!.error).toMatchObject({
      type: 'RangeError',
      message: 'offset out of range',
      stack: expect.stringContaining('RangeError'),
    });
  });

  it('redacts credentials at any depth, including a whole logged config', () => {
    const { logger, lines, parsed } = capture();
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
    logger.log('info', 'credentials', {
      secretAccessKey: secret,
      s3: { secretAccessKey: secret, password: secret },
      deep: { a: { b: { authorization: `Bearer ${secret}` } } },
    });
    const config = parseStorageNodeConfig(['--node-id=storage-a', '--zone=zone-a', '--data-dir=/tmp/x'], {
      NORTHLIGHT_S3_BUCKET: 'backups',
      NORTHLIGHT_S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      NORTHLIGHT_S3_SECRET_ACCESS_KEY: secret,
    });
    logger.log('info', 'starting', { config: describeConfig(config) });
    // The raw config object, logged by mistake, is caught by the redaction paths too.
    logger.log('info', 'starting (raw)', { config: { ...config, peers: undefined } });
    expect(lines.join('')).not.toContain(secret);
    const [first, described, raw] = parsed();
    expect(first).toMatchObject({
      secretAccessKey: REDACTED_VALUE,
      s3: { secretAccessKey: REDACTED_VALUE, password: REDACTED_VALUE },
      deep: { a: { b: { authorization: REDACTED_VALUE } } },
    });
    expect(described!.config).toMatchObject({
      objectStore: { bucket: 'backups', accessKeyId: 'AKIDEXAMPLE' },
    });
    expect(raw!.config).toMatchObject({ objectStore: { secretAccessKey: REDACTED_VALUE } });
  });

  it('adds the bindings of a child logger to its lines', () => {
    const { logger, parsed } = capture();
    logger.child({ component: 'transport', peer: 'storage-b' }).log('info', 'connected');
    expect(parsed()[0]).toMatchObject({ component: 'transport', peer: 'storage-b', nodeId: 'storage-a' });
  });
});
