// Proves the storage node's configuration parsing, as tables: a full set of flags and the defaults
// give the expected typed config; environment variables work alone and lose to flags; each bad value
// is reported naming its flag and its variable (and the source of the value); the secret key is
// refused on the command line and never echoed; every problem of a bad configuration is reported at
// once in one NL_CONFIG_INVALID.
import { asNodeId, isNorthlightError } from '@northlight/protocol';
import { describe, expect, it } from 'vitest';
import {
  configHelpText,
  DEFAULT_SEGMENT_SIZE_BYTES,
  describeConfig,
  parseStorageNodeConfig,
  parseStorageNodeConfigResult,
} from '../src/config.js';

const required = ['--node-id', 'storage-a', '--zone', 'zone-a', '--data-dir', '/var/lib/northlight'];

/** The required flags with `argument` added, replacing the required flag of the same name. */
function withArgument(argument: string): string[] {
  const flag = argument.split('=')[0]!;
  const argv: string[] = [];
  for (let index = 0; index < required.length; index += 2) {
    if (required[index] !== flag) argv.push(required[index]!, required[index + 1]!);
  }
  return [...argv, argument];
}

function problemsOf(argv: readonly string[], env: Record<string, string> = {}): string[] {
  const result = parseStorageNodeConfigResult(argv, env);
  if (result.ok) return [];
  return result.error.map((problem) => problem.message);
}

describe('storage node configuration', () => {
  it('parses every flag into the typed config', () => {
    const config = parseStorageNodeConfig(
      [
        '--node-id=storage-a',
        '--zone=zone-a',
        '--data-dir=relative/data',
        '--listen-host=127.0.0.1',
        '--port=9000',
        '--admin-port=9001',
        '--peers=storage-b=10.0.0.2:9000, storage-c=[::1]:9002,engine-1=db.example.com:7000',
        '--s3-endpoint=http://127.0.0.1:4569',
        '--s3-bucket=northlight-backups',
        '--s3-region=eu-west-1',
        '--s3-access-key-id=AKIDEXAMPLE',
        '--log-level=debug',
        '--page-size-bytes=16KiB',
        '--segment-size-bytes=64MiB',
        '--s3-prefix=cluster-1/',
        '--backup-interval-ms=250',
        '--backup-max-delay-ms=30000',
        '--gossip-interval-ms=500',
        '--materialize-interval-ms=5000',
        '--materialize-records-per-step=16384',
        '--page-cache-bytes=128MiB',
        '--record-cache-bytes=0',
        '--hydration-bytes-per-second=32MiB',
      ],
      { NORTHLIGHT_S3_SECRET_ACCESS_KEY: 'secret' },
    );
    expect(config).toEqual({
      nodeId: 'storage-a',
      zone: 'zone-a',
      dataDir: `${process.cwd()}/relative/data`,
      listenHost: '127.0.0.1',
      port: 9000,
      adminPort: 9001,
      peers: new Map([
        [asNodeId('storage-b'), { host: '10.0.0.2', port: 9000 }],
        [asNodeId('storage-c'), { host: '::1', port: 9002 }],
        [asNodeId('engine-1'), { host: 'db.example.com', port: 7000 }],
      ]),
      objectStore: {
        endpoint: 'http://127.0.0.1:4569',
        bucket: 'northlight-backups',
        region: 'eu-west-1',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'secret',
      },
      logLevel: 'debug',
      pageSizeBytes: 16_384,
      segmentSizeBytes: 64 * 1024 * 1024,
      s3Prefix: 'cluster-1/',
      backupIntervalMs: 250,
      backupMaxDelayMs: 30_000,
      gossipIntervalMs: 500,
      materializeIntervalMs: 5000,
      materializeRecordsPerStep: 16_384,
      pageCacheBytes: 128 * 1024 * 1024,
      recordCacheBytes: 0,
      hydrationBytesPerSecond: 32 * 1024 * 1024,
      internalToken: undefined,
      transportAuth: 'required',
    });
  });

  it('fills in the defaults', () => {
    expect(parseStorageNodeConfig(required, {})).toEqual({
      nodeId: 'storage-a',
      zone: 'zone-a',
      dataDir: '/var/lib/northlight',
      listenHost: '0.0.0.0',
      port: 7450,
      adminPort: 7451,
      peers: new Map(),
      objectStore: undefined,
      logLevel: 'info',
      pageSizeBytes: 8_192,
      segmentSizeBytes: DEFAULT_SEGMENT_SIZE_BYTES,
      s3Prefix: '',
      backupIntervalMs: 0, // no bucket: no staging
      backupMaxDelayMs: 10_000,
      gossipIntervalMs: 1000,
      materializeIntervalMs: 1000,
      materializeRecordsPerStep: 2048,
      pageCacheBytes: 32 * 1024 * 1024,
      recordCacheBytes: 32 * 1024 * 1024,
      hydrationBytesPerSecond: 0,
      internalToken: undefined,
      transportAuth: 'required',
    });
  });

  it('reads the environment alone, lets flags win over it, and treats an empty variable as unset', () => {
    const env = {
      NORTHLIGHT_NODE_ID: 'storage-env',
      NORTHLIGHT_ZONE: 'zone-env',
      NORTHLIGHT_DATA_DIR: '/data',
      NORTHLIGHT_PORT: '8000',
      NORTHLIGHT_LOG_LEVEL: 'warn',
      NORTHLIGHT_PEERS: '',
      NORTHLIGHT_S3_BUCKET: 'bucket-env',
    };
    expect(parseStorageNodeConfig([], env)).toMatchObject({
      nodeId: 'storage-env',
      zone: 'zone-env',
      port: 8000,
      logLevel: 'warn',
      peers: new Map(),
      objectStore: { bucket: 'bucket-env', region: 'us-east-1', endpoint: undefined, accessKeyId: undefined },
    });
    expect(
      parseStorageNodeConfig(['--node-id', 'storage-flag', '--port=8100', '--s3-bucket=bucket-flag'], env),
    ).toMatchObject({
      nodeId: 'storage-flag',
      zone: 'zone-env',
      port: 8100,
      objectStore: { bucket: 'bucket-flag' },
    });
    // A bad environment value is irrelevant when the flag overrides it.
    expect(problemsOf([...required, '--port=1'], { NORTHLIGHT_PORT: 'not-a-port' })).toEqual([]);
  });

  it.each([
    [
      '--node-id=Storage_A',
      '--node-id / NORTHLIGHT_NODE_ID: must match [a-z0-9][a-z0-9._-]{0,62} ("Storage_A" from --node-id)',
    ],
    ['--node-id=', '--node-id / NORTHLIGHT_NODE_ID: is empty ("" from --node-id)'],
    ['--zone=zone a', '--zone / NORTHLIGHT_ZONE: must match'],
    [
      '--listen-host=not a host!',
      '--listen-host / NORTHLIGHT_LISTEN_HOST: is not an IP address or host name',
    ],
    ['--port=65536', '--port / NORTHLIGHT_PORT: is not a port (an integer 0 … 65535) ("65536" from --port)'],
    ['--port=-1', '--port / NORTHLIGHT_PORT: is not a port'],
    ['--port=0x10', '--port / NORTHLIGHT_PORT: is not a port'],
    ['--admin-port=7450', '--admin-port / NORTHLIGHT_ADMIN_PORT: must differ from --port (7450)'],
    ['--peers=storage-b', '--peers / NORTHLIGHT_PEERS: "storage-b" is not id=host:port'],
    ['--peers=B=10.0.0.2:9000', '--peers / NORTHLIGHT_PEERS: peer id "B" must match'],
    ['--peers=storage-b=h:1,storage-b=h:2', '--peers / NORTHLIGHT_PEERS: peer storage-b is listed twice'],
    ['--peers=storage-b=h:0', '--peers / NORTHLIGHT_PEERS: peer storage-b: port 0 is not 1 … 65535'],
    ['--peers=storage-b=bad_host!:1', '--peers / NORTHLIGHT_PEERS: peer storage-b: host "bad_host!" is not'],
    ['--log-level=verbose', '--log-level / NORTHLIGHT_LOG_LEVEL: must be one of debug, info, warn, error'],
    [
      '--page-size-bytes=1000',
      '--page-size-bytes / NORTHLIGHT_PAGE_SIZE_BYTES: must be a power of two from 512 to 65536',
    ],
    ['--page-size-bytes=128KiB', '--page-size-bytes / NORTHLIGHT_PAGE_SIZE_BYTES: must be a power of two'],
    ['--page-size-bytes=8kb', '--page-size-bytes / NORTHLIGHT_PAGE_SIZE_BYTES: is not a size in bytes'],
    [
      '--segment-size-bytes=1000000',
      '--segment-size-bytes / NORTHLIGHT_SEGMENT_SIZE_BYTES: must be a multiple of the page size',
    ],
    ['--segment-size-bytes=2TiB', '--segment-size-bytes / NORTHLIGHT_SEGMENT_SIZE_BYTES: must be at most'],
    [
      '--segment-size-bytes=0',
      '--segment-size-bytes / NORTHLIGHT_SEGMENT_SIZE_BYTES: is not a size in bytes',
    ],
    ['--s3-endpoint=ftp://x', '--s3-endpoint / NORTHLIGHT_S3_ENDPOINT: must be an http:// or https:// URL'],
    ['--s3-bucket=Bad_Bucket', '--s3-bucket / NORTHLIGHT_S3_BUCKET: is not a valid bucket name'],
    ['--s3-region=EU WEST', '--s3-region / NORTHLIGHT_S3_REGION: is not a region name'],
    [
      '--backup-max-delay-ms=300001',
      '--backup-max-delay-ms / NORTHLIGHT_BACKUP_MAX_DELAY_MS: is not a delay in milliseconds (an integer 0 … 300000) ("300001" from --backup-max-delay-ms)',
    ],
    ['--backup-max-delay-ms=10s', '--backup-max-delay-ms / NORTHLIGHT_BACKUP_MAX_DELAY_MS: is not a delay'],
    [
      '--materialize-interval-ms=0',
      '--materialize-interval-ms / NORTHLIGHT_MATERIALIZE_INTERVAL_MS: must be positive',
    ],
    [
      '--materialize-records-per-step=0',
      '--materialize-records-per-step / NORTHLIGHT_MATERIALIZE_RECORDS_PER_STEP: is not a number of records',
    ],
    [
      '--materialize-records-per-step=2000000',
      '--materialize-records-per-step / NORTHLIGHT_MATERIALIZE_RECORDS_PER_STEP: is not a number of records (an integer 1 … 1048576)',
    ],
    ['--page-cache-bytes=-1', '--page-cache-bytes / NORTHLIGHT_PAGE_CACHE_BYTES: is not a size in bytes'],
    ['--record-cache-bytes=1GB', '--record-cache-bytes / NORTHLIGHT_RECORD_CACHE_BYTES: is not a size'],
    [
      '--hydration-bytes-per-second=1KiB',
      '--hydration-bytes-per-second / NORTHLIGHT_HYDRATION_BYTES_PER_SECOND: must be 0 (no limit) or from 65536',
    ],
    [
      '--hydration-bytes-per-second=fast',
      '--hydration-bytes-per-second / NORTHLIGHT_HYDRATION_BYTES_PER_SECOND: is not a size',
    ],
    ['--unknown=1', 'unknown flag --unknown; see --help'],
    ['stray', 'unexpected argument "stray"'],
    ['--port', '--port / NORTHLIGHT_PORT: --port needs a value'],
  ])('reports %s', (argument, expected) => {
    const problems = problemsOf(
      withArgument(argument),
      argument.startsWith('--s3-') ? { NORTHLIGHT_S3_BUCKET: 'b-1' } : {},
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(expected);
  });

  it.each([
    [
      { NORTHLIGHT_PORT: 'abc' },
      '--port / NORTHLIGHT_PORT: is not a port (an integer 0 … 65535) ("abc" from NORTHLIGHT_PORT)',
    ],
    [{ NORTHLIGHT_ZONE: ' ' }, '--zone / NORTHLIGHT_ZONE: is empty (" " from NORTHLIGHT_ZONE)'],
  ])(
    'names the variable as the source of a bad environment value: %o',
    (env: Record<string, string>, expected) => {
      const zoneFlag = env.NORTHLIGHT_ZONE === undefined ? ['--zone=z'] : [];
      const problems = problemsOf(['--node-id=storage-a', '--data-dir=/d', ...zoneFlag], env);
      expect(problems).toEqual([expected]);
    },
  );

  it('refuses the secret key on the command line and never echoes a secret', () => {
    const secret = 'wJalrXUtnFEMI-K7MDENG';
    const problems = problemsOf([...required, `--s3-secret-access-key=${secret}`, '--s3-bucket=b-1'], {
      NORTHLIGHT_S3_ACCESS_KEY_ID: 'AKID',
    });
    expect(problems.join('\n')).not.toContain(secret);
    expect(problems).toContain(
      '--s3-secret-access-key is not accepted on the command line (any user can read it with ps); set NORTHLIGHT_S3_SECRET_ACCESS_KEY',
    );
    const config = parseStorageNodeConfig([...required, '--s3-bucket=b-1'], {
      NORTHLIGHT_S3_ACCESS_KEY_ID: 'AKID',
      NORTHLIGHT_S3_SECRET_ACCESS_KEY: secret,
    });
    expect(JSON.stringify(describeConfig(config))).not.toContain(secret);
    expect(describeConfig(config)).toMatchObject({
      objectStore: { secretAccessKey: '[redacted]', accessKeyId: 'AKID' },
    });
    expect(problemsOf([...required, '--s3-bucket=b-1', '--s3-access-key-id=AKID'])).toEqual([
      '--s3-secret-access-key / NORTHLIGHT_S3_SECRET_ACCESS_KEY: is required when the other S3 key is set (give both or neither)',
    ]);
  });

  it('takes the internal token from the environment only, checks its form, and never echoes it', () => {
    const token = 'Zm9vYmFyYmF6cXV4cXV1eDEyMw==';
    expect(parseStorageNodeConfig(required, {}).internalToken).toBeUndefined();
    const config = parseStorageNodeConfig(required, { NORTHLIGHT_INTERNAL_TOKEN: token });
    expect(config.internalToken).toBe(token);
    expect(JSON.stringify(describeConfig(config))).not.toContain(token);
    expect(describeConfig(config)).toMatchObject({ internalToken: '[redacted]' });
    const onFlag = problemsOf([...required, `--internal-token=${token}`]);
    expect(onFlag).toEqual([
      '--internal-token is not accepted on the command line (any user can read it with ps); set NORTHLIGHT_INTERNAL_TOKEN',
    ]);
    expect(problemsOf(required, { NORTHLIGHT_INTERNAL_TOKEN: '' })).toEqual([
      "--internal-token / NORTHLIGHT_INTERNAL_TOKEN: is set but empty: give the cluster's token, or unset the variable to run without one (open to anyone)",
    ]);
    for (const bad of [
      'too-short',
      'has a space in it, far too',
      'ünïcødé-token-0123456789',
      'x'.repeat(1025),
    ]) {
      const problems = problemsOf(required, { NORTHLIGHT_INTERNAL_TOKEN: bad });
      expect(problems, bad).toEqual([
        '--internal-token / NORTHLIGHT_INTERNAL_TOKEN: must be 16 to 1,024 printable ASCII characters without spaces (e.g. openssl rand -base64 24) ([redacted] from NORTHLIGHT_INTERNAL_TOKEN)',
      ]);
    }
  });

  it('requires proof on the transport by default; transition (an upgrade from an older build) needs the token', () => {
    const token = 'Zm9vYmFyYmF6cXV4cXV1eDEyMw==';
    expect(parseStorageNodeConfig(required, { NORTHLIGHT_INTERNAL_TOKEN: token }).transportAuth).toBe(
      'required',
    );
    expect(
      parseStorageNodeConfig([...required, '--transport-auth', 'transition'], {
        NORTHLIGHT_INTERNAL_TOKEN: token,
      }).transportAuth,
    ).toBe('transition');
    expect(problemsOf([...required, '--transport-auth', 'transition'])).toEqual([
      '--transport-auth / NORTHLIGHT_TRANSPORT_AUTH: is transition, which needs NORTHLIGHT_INTERNAL_TOKEN ("transition" from --transport-auth)',
    ]);
    expect(
      problemsOf(required, { NORTHLIGHT_INTERNAL_TOKEN: token, NORTHLIGHT_TRANSPORT_AUTH: 'off' }),
    ).toEqual([
      '--transport-auth / NORTHLIGHT_TRANSPORT_AUTH: is not required or transition ("off" from NORTHLIGHT_TRANSPORT_AUTH)',
    ]);
  });

  it('refuses S3 settings without a bucket', () => {
    expect(
      problemsOf([...required, '--s3-region=eu-west-1'], { NORTHLIGHT_S3_ENDPOINT: 'http://s3:9000' }),
    ).toEqual([
      '--s3-endpoint / NORTHLIGHT_S3_ENDPOINT: is set but --s3-bucket / NORTHLIGHT_S3_BUCKET is not ("http://s3:9000" from NORTHLIGHT_S3_ENDPOINT)',
      '--s3-region / NORTHLIGHT_S3_REGION: is set but --s3-bucket / NORTHLIGHT_S3_BUCKET is not ("eu-west-1" from --s3-region)',
    ]);
  });

  it('reports every problem at once in one NL_CONFIG_INVALID', () => {
    const run = () =>
      parseStorageNodeConfig(
        ['--zone=Zone A', '--port=99999', '--port=1', '--bogus', '--page-size-bytes=3'],
        {
          NORTHLIGHT_LOG_LEVEL: 'loud',
        },
      );
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(isNorthlightError(thrown, 'NL_CONFIG_INVALID')).toBe(true);
    const message = (thrown as Error).message;
    expect(message.split('\n')[0]).toBe('NL_CONFIG_INVALID: 8 configuration problems:');
    for (const fragment of [
      '--port / NORTHLIGHT_PORT: --port is given more than once',
      'unknown flag --bogus',
      '--node-id / NORTHLIGHT_NODE_ID: is required',
      '--data-dir / NORTHLIGHT_DATA_DIR: is required',
      '--zone / NORTHLIGHT_ZONE: must match',
      '--port / NORTHLIGHT_PORT: is not a port (an integer 0 … 65535) ("99999" from --port)',
      '--log-level / NORTHLIGHT_LOG_LEVEL: must be one of debug, info, warn, error ("loud" from NORTHLIGHT_LOG_LEVEL)',
      '--page-size-bytes / NORTHLIGHT_PAGE_SIZE_BYTES: must be a power of two',
    ]) {
      expect(message).toContain(fragment);
    }
  });

  it('lists every flag and variable in the help text', () => {
    const help = configHelpText();
    for (const name of [
      '--node-id / NORTHLIGHT_NODE_ID',
      '--segment-size-bytes',
      '(env only) NORTHLIGHT_S3_SECRET_ACCESS_KEY',
    ]) {
      expect(help).toContain(name);
    }
  });
});
