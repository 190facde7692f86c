// Proves the cluster spec and its file: the default spec validates, and the example file loads to it
// and writes out every field; each kind of bad input (a table: zones, instances, sizes, durations,
// unknown fields, kind, apiVersion, object store, ports, document shape) is reported at the path it
// names, with what was found and what is allowed, and several problems come back together; YAML
// syntax errors, empty files and multi-document files are problems with a line and column, and spec
// problems carry the line of their field; loadClusterFile throws NL_CONFIG_INVALID naming each one.
// Properties: specToYaml of any valid spec validates back to the same spec; random values, random
// edits of a valid document and random YAML text never make the validator throw.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  asNodeId,
  asZone,
  isNorthlightError,
  type NorthlightError,
  TRANSPORT_AUTH_MODES,
} from '@northlight/protocol';
import { resolveOptions, STORAGE_NODE_DEFAULTS } from '@northlight/storage-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  type ClusterSpec,
  clusterSpecToResource,
  DEFAULT_STAGING_DELAY_MS,
  defaultClusterSpec,
  formatDurationMs,
  formatSizeBytes,
  formatSpecPath,
  formatSpecProblems,
  type ObjectStoreSpec,
  parseDurationMs,
  parseSizeBytes,
  parseSpecPath,
  SPEC_PROBLEMS_MAX,
  type SpecProblem,
  STAGING_DELAY_MS_MAX,
  specToYaml,
  validateClusterSpec,
} from '../src/core/cluster-spec.js';
import { CLUSTER_FILE_BYTES_MAX, loadClusterFile, parseClusterYaml } from '../src/io/cluster-file.js';

const examplePath = fileURLToPath(new URL('../examples/cluster.yaml', import.meta.url));

// ---------------------------------------------------------------------------------------------------
// Helpers

type Segment = string | number;
const REMOVE = Symbol('remove');

/** The default cluster as a document, with each change applied (REMOVE deletes the field). */
function documentWith(...changes: ReadonlyArray<readonly [readonly Segment[], unknown]>): unknown {
  const document: unknown = structuredClone(clusterSpecToResource(defaultClusterSpec()));
  for (const [path, value] of changes) setIn(document, path, value);
  return document;
}

function setIn(document: unknown, path: readonly Segment[], value: unknown): void {
  let node = document as Record<Segment, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<Segment, unknown>;
  const last = path[path.length - 1]!;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
}

function problemsOf(raw: unknown): readonly SpecProblem[] {
  const result = validateClusterSpec(raw);
  if (result.ok) throw new Error(`expected problems, got a valid spec: ${JSON.stringify(result.value)}`);
  return result.error;
}

function specOf(raw: unknown): ClusterSpec {
  const result = validateClusterSpec(raw);
  if (!result.ok) throw new Error(formatSpecProblems('test', result.error));
  return result.value;
}

function yamlProblemsOf(text: string): readonly SpecProblem[] {
  const result = parseClusterYaml(text);
  if (result.ok) throw new Error('expected problems, got a valid spec');
  return result.error;
}

/** Every path of a document, sections and leaves, e.g. ['spec', 'storage', 'zones', 1, 'nodes']. */
function pathsOf(value: unknown, prefix: readonly Segment[] = []): Segment[][] {
  if (typeof value !== 'object' || value === null) return [];
  const entries: Array<[Segment, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])]);
}

// ---------------------------------------------------------------------------------------------------
// The default and the example

describe('the default cluster', () => {
  it('is 3 zones of 2 nodes, a writer at tier 0 and a replica at tier 1, with an embedded object store', () => {
    const spec = defaultClusterSpec();
    expect(spec.name).toBe('demo');
    expect(spec.storage.zones).toEqual([
      { name: 'a', nodes: 2 },
      { name: 'b', nodes: 2 },
      { name: 'c', nodes: 2 },
    ]);
    expect(spec.engine.instances).toEqual([
      { name: 'engine-1', promotionTier: 0 },
      { name: 'engine-2', promotionTier: 1 },
    ]);
    expect(spec.engine.cacheSizeBytes).toBe(64 * 1024 * 1024);
    expect(spec.storage.segmentSizeBytes).toBe(1024 ** 3);
    expect(spec.backup.objectStore).toEqual({ kind: 'embedded' });
    expect(spec.controlPlane).toEqual({
      repairGracePeriodMs: 30_000,
      maxConcurrentRepairsPerNode: 1,
      maxConcurrentRepairs: 4,
      repairBandwidthPerNodeBytes: 16 * 1024 * 1024,
      heatFactor: 2,
      heatCooldownMs: 300_000,
    });
    expect(spec.local).toEqual({ dataDir: './.northlight', basePort: 7400 });
  });

  it('validates, written out in full', () => {
    expect(validateClusterSpec(clusterSpecToResource(defaultClusterSpec()))).toEqual({
      ok: true,
      value: defaultClusterSpec(),
    });
  });

  it('is what a document of only apiVersion and kind gives: every other field has a default', () => {
    expect(specOf({ apiVersion: 'northlight.dev/v1alpha1', kind: 'DatabaseCluster' })).toEqual(
      defaultClusterSpec(),
    );
  });

  it('is what empty (null) sections give, as Kubernetes reads them', () => {
    const raw = parseYaml(
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nmetadata:\nspec:\n  backup:\n  local:\n',
    );
    expect(specOf(raw)).toEqual(defaultClusterSpec());
  });

  it('is a fresh object each time, so a caller changing one cannot change the next', () => {
    expect(defaultClusterSpec()).not.toBe(defaultClusterSpec());
    expect(defaultClusterSpec().storage.zones).not.toBe(defaultClusterSpec().storage.zones);
  });
});

describe('Kubernetes-only fields', () => {
  it('reads resources, pod template overrides and the volume claim, which the local platform ignores', () => {
    const spec = specOf(
      documentWith(
        [['spec', 'storage', 'volumeClaim'], { storageClassName: 'standard', size: '20GiB' }],
        [
          ['spec', 'resources'],
          { storage: { requests: { cpu: '500m', memory: '1Gi' } }, engine: { limits: { cpu: 2 } } },
        ],
        [
          ['spec', 'podTemplate'],
          {
            labels: { team: 'db' },
            nodeSelector: { 'kubernetes.io/arch': 'amd64' },
            tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
            priorityClassName: 'high',
          },
        ],
      ),
    );
    expect(spec.storage.volumeClaim).toEqual({ storageClassName: 'standard', sizeBytes: 20 * 1024 ** 3 });
    expect(spec.resources).toEqual({
      storage: { requests: { cpu: '500m', memory: '1Gi' }, limits: {} },
      engine: { requests: {}, limits: { cpu: '2' } },
    });
    expect(spec.podTemplate).toEqual({
      labels: { team: 'db' },
      annotations: {},
      nodeSelector: { 'kubernetes.io/arch': 'amd64' },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'high',
    });
    expect(validateClusterSpec(clusterSpecToResource(spec))).toEqual({ ok: true, value: spec });
  });

  it('reads a DatabaseCluster as an API server returns it: managed metadata and status are ignored', () => {
    const document = documentWith(
      [['metadata', 'uid'], '0b7c6a4e-7d1f-4a7e-9d43-6a1c2f0e9b11'],
      [['metadata', 'resourceVersion'], '42'],
      [['metadata', 'generation'], 3],
      [['metadata', 'creationTimestamp'], '2026-11-26T17:00:00Z'],
      [['metadata', 'finalizers'], ['northlight.dev/cleanup']],
      [['metadata', 'managedFields'], [{ manager: 'kubectl' }]],
      [['status'], { observedGeneration: 2, phase: 'Ready' }],
    );
    expect(specOf(document)).toEqual(defaultClusterSpec());
  });

  it('sizes the default claim to hold at least one segment', () => {
    const spec = specOf(documentWith([['spec', 'storage', 'segmentSize'], '16GiB']));
    expect(spec.storage.volumeClaim).toEqual({ sizeBytes: 16 * 1024 ** 3 });
  });
});

describe('the example file', () => {
  it('loads to the default cluster', async () => {
    expect(await loadClusterFile(examplePath)).toEqual(defaultClusterSpec());
  });

  it('writes out every field of the spec, with the values specToYaml prints', async () => {
    const example: unknown = parseYaml(await readFile(examplePath, 'utf8'));
    expect(example).toEqual(parseYaml(specToYaml(defaultClusterSpec())));
  });
});

// ---------------------------------------------------------------------------------------------------
// Bad input: one problem each, at its path, saying what was found and what is allowed

interface BadInput {
  readonly name: string;
  readonly raw: unknown;
  readonly path: string;
  readonly message: string;
}

const zones = ['spec', 'storage', 'zones'];
const instances = ['spec', 'engine', 'instances'];
const objectStore = ['spec', 'backup', 'objectStore'];
const seventeenInstances = Array.from({ length: 17 }, (_, index) => ({ name: `engine-${index + 1}` }));

const badInputs: readonly BadInput[] = [
  {
    name: 'a zone with 1 node',
    raw: documentWith([[...zones, 1, 'nodes'], 1]),
    path: 'spec.storage.zones[1].nodes',
    message: 'zone b has 1 storage node; a PG needs 2 nodes in each of 3 zones — set nodes: 2 or more',
  },
  {
    name: 'a zone with 65 nodes',
    raw: documentWith([[...zones, 2, 'nodes'], 65]),
    path: 'spec.storage.zones[2].nodes',
    message: 'zone c has 65 storage nodes; at most 64 per zone',
  },
  {
    name: 'a node count in quotes',
    raw: documentWith([[...zones, 0, 'nodes'], '3']),
    path: 'spec.storage.zones[0].nodes',
    message: 'is "3"; allowed: a whole number of storage nodes from 2 to 64 (write it without quotes)',
  },
  {
    name: '2 zones',
    raw: documentWith([zones, [{ name: 'a' }, { name: 'b' }]]),
    path: 'spec.storage.zones',
    message: 'has 2 zones (a, b); a PG keeps 6 segments, 2 in each of exactly 3 zones — list 3 zones',
  },
  {
    name: '4 zones',
    raw: documentWith([zones, [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]]),
    path: 'spec.storage.zones',
    message: 'has 4 zones (a, b, c, d)',
  },
  {
    name: 'zones as a mapping',
    raw: documentWith([zones, { a: 2, b: 2, c: 2 }]),
    path: 'spec.storage.zones',
    message: 'is a mapping; expected a list of 3 zones',
  },
  {
    name: 'duplicate zone names',
    raw: documentWith([[...zones, 2, 'name'], 'a']),
    path: 'spec.storage.zones[2].name',
    message: 'zone a is listed twice (also zones[0]); the 3 zones need distinct names',
  },
  {
    name: 'a zone without a name',
    raw: documentWith([[...zones, 1, 'name'], REMOVE]),
    path: 'spec.storage.zones[1].name',
    message: 'missing; every item needs a name',
  },
  {
    name: 'duplicate instance names',
    raw: documentWith([[...instances, 1, 'name'], 'engine-1']),
    path: 'spec.engine.instances[1].name',
    message: 'engine-1 is already the name of instances[0]; instance names must be unique',
  },
  {
    name: 'an instance name with capitals',
    raw: documentWith([[...instances, 0, 'name'], 'Engine_1']),
    path: 'spec.engine.instances[0].name',
    message: `is "Engine_1"; allowed: 1 to 63 of a-z, 0-9, '.', '_' and '-'`,
  },
  {
    name: '17 instances',
    raw: documentWith([instances, seventeenInstances]),
    path: 'spec.engine.instances',
    message: 'has 17 instances; at most 16: 1 writer and up to 15 read replicas',
  },
  {
    name: 'no instances',
    raw: documentWith([instances, []]),
    path: 'spec.engine.instances',
    message: 'is empty; list at least 1 instance: the writer',
  },
  {
    name: 'promotion tier 16',
    raw: documentWith([[...instances, 1, 'promotionTier'], 16]),
    path: 'spec.engine.instances[1].promotionTier',
    message: 'is 16; allowed: a whole number from 0 to 15, lower is promoted first',
  },
  {
    name: 'a negative cache size',
    raw: documentWith([['spec', 'engine', 'cacheSize'], -1]),
    path: 'spec.engine.cacheSize',
    message: 'is -1; allowed: 1MiB to 64GiB, a multiple of 4KiB',
  },
  {
    name: 'an oversized segment size',
    raw: documentWith([['spec', 'storage', 'segmentSize'], '2TiB']),
    path: 'spec.storage.segmentSize',
    message: 'is "2TiB"; allowed: 1MiB to 1TiB',
  },
  {
    name: 'a segment size below 1 MiB',
    raw: documentWith([['spec', 'storage', 'segmentSize'], '512KiB']),
    path: 'spec.storage.segmentSize',
    message: 'is "512KiB"; allowed: 1MiB to 1TiB',
  },
  {
    name: 'a size that is not whole pages',
    raw: documentWith([['spec', 'engine', 'cacheSize'], 2_000_000]),
    path: 'spec.engine.cacheSize',
    message:
      "is 2000000, not a multiple of 4KiB (the engine's page); allowed: 1MiB to 64GiB, a multiple of 4KiB — e.g. 1952KiB",
  },
  {
    name: 'a decimal size suffix',
    raw: documentWith([['spec', 'engine', 'cacheSize'], '64MB']),
    path: 'spec.engine.cacheSize',
    message:
      'is "64MB", not a size: write bytes or a whole number with KiB, MiB, GiB or TiB (e.g. 64MiB); did you mean 64MiB?',
  },
  {
    name: 'a Kubernetes quantity suffix',
    raw: documentWith([['spec', 'storage', 'segmentSize'], '1Gi']),
    path: 'spec.storage.segmentSize',
    message: 'did you mean 1GiB?',
  },
  {
    name: 'a fractional size',
    raw: documentWith([['spec', 'engine', 'cacheSize'], '1.5GiB']),
    path: 'spec.engine.cacheSize',
    message: 'is "1.5GiB", not a size',
  },
  {
    name: 'a misspelled section',
    raw: documentWith([['spec', 'stroage'], { zones: [] }]),
    path: 'spec.stroage',
    message:
      'unknown field; did you mean spec.storage? (allowed here: engine, storage, backup, controlPlane, security, local, resources, podTemplate)',
  },
  {
    name: 'a field in the wrong section',
    raw: documentWith([['spec', 'zones'], []]),
    path: 'spec.zones',
    message: 'unknown field; did you mean spec.storage.zones?',
  },
  {
    name: 'the internal name of a field',
    raw: documentWith([['spec', 'engine', 'cacheSizeBytes'], 67108864]),
    path: 'spec.engine.cacheSizeBytes',
    message: 'unknown field; did you mean spec.engine.cacheSize?',
  },
  {
    name: 'an unknown field like no other',
    raw: documentWith([['spec', 'engine', 'flavor'], 'large']),
    path: 'spec.engine.flavor',
    message:
      'unknown field; allowed here: version, instances, cacheSize, lsnAllocationLimit, transactions, tls',
  },
  {
    name: 'a misspelled field of a list item',
    raw: documentWith([[...zones, 0, 'node'], 2]),
    path: 'spec.storage.zones[0].node',
    message: 'unknown field; did you mean spec.storage.zones[0].nodes?',
  },
  {
    name: 'a wrong kind',
    raw: documentWith([['kind'], 'Cluster']),
    path: 'kind',
    message: 'is "Cluster"; a cluster file has kind: DatabaseCluster',
  },
  {
    name: 'no kind',
    raw: documentWith([['kind'], REMOVE]),
    path: 'kind',
    message: 'missing; add kind: DatabaseCluster',
  },
  {
    name: 'another apiVersion',
    raw: documentWith([['apiVersion'], 'northlight.dev/v1']),
    path: 'apiVersion',
    message: 'is "northlight.dev/v1"; this version of northlight reads apiVersion: northlight.dev/v1alpha1',
  },
  {
    name: 'no apiVersion',
    raw: documentWith([['apiVersion'], REMOVE]),
    path: 'apiVersion',
    message: 'missing; add apiVersion: northlight.dev/v1alpha1',
  },
  {
    name: 'a cluster name with capitals',
    raw: documentWith([['metadata', 'name'], 'Demo']),
    path: 'metadata.name',
    message: `is "Demo"; allowed: 1 to 40 of a-z, 0-9 and '-'`,
  },
  {
    name: 'a version YAML reads as a number',
    raw: documentWith([['spec', 'engine', 'version'], 0.1]),
    path: 'spec.engine.version',
    message: 'is 0.1; allowed: a version like 0.1.0 (YAML read it as a number; quote it)',
  },
  {
    name: 'a section that is a list',
    raw: documentWith([['spec', 'engine'], ['engine-1']]),
    path: 'spec.engine',
    message:
      'is a list of 1 item; expected a mapping with the fields version, instances, cacheSize, lsnAllocationLimit, transactions, tls',
  },
  {
    name: 'a duration without a unit',
    raw: documentWith([['spec', 'controlPlane', 'repairGracePeriod'], 30]),
    path: 'spec.controlPlane.repairGracePeriod',
    message:
      'is 30; allowed: a whole number with ms, s or m (e.g. 30s, 5m), from 0s to 1440m (a number needs a unit: 30ms or 30s?)',
  },
  {
    name: 'a bandwidth per minute',
    raw: documentWith([['spec', 'controlPlane', 'repairBandwidthPerNode'], '32MiB/m']),
    path: 'spec.controlPlane.repairBandwidthPerNode',
    message:
      'is "32MiB/m", not a bandwidth: write bytes per second as a size (e.g. 32MiB/s), or 0 for no limit',
  },
  {
    name: 'a bandwidth in megabits',
    raw: documentWith([['spec', 'controlPlane', 'repairBandwidthPerNode'], '100Mb/s']),
    path: 'spec.controlPlane.repairBandwidthPerNode',
    message:
      'is "100Mb", not a size: write bytes or a whole number with KiB, MiB, GiB or TiB (e.g. 64MiB); did you mean 100MiB?',
  },
  {
    name: 'a bandwidth too small to keep a snapshot stream alive',
    raw: documentWith([['spec', 'controlPlane', 'repairBandwidthPerNode'], '4KiB/s']),
    path: 'spec.controlPlane.repairBandwidthPerNode',
    message: 'is "4KiB"; allowed: 64KiB to 512GiB',
  },
  {
    name: 'a negative bandwidth',
    raw: documentWith([['spec', 'controlPlane', 'repairBandwidthPerNode'], -1]),
    path: 'spec.controlPlane.repairBandwidthPerNode',
    message: 'is -1; allowed: 64KiB to 512GiB',
  },
  {
    name: 'a duration in hours',
    raw: documentWith([['spec', 'controlPlane', 'heatCooldown'], '1h']),
    path: 'spec.controlPlane.heatCooldown',
    message: 'is "1h"; allowed: a whole number with ms, s or m',
  },
  {
    name: 'a duration over a day',
    raw: documentWith([['spec', 'controlPlane', 'heatCooldown'], '1441m']),
    path: 'spec.controlPlane.heatCooldown',
    message: 'is "1441m"; allowed',
  },
  {
    name: 'a heat factor of 1',
    raw: documentWith([['spec', 'controlPlane', 'heatFactor'], 1]),
    path: 'spec.controlPlane.heatFactor',
    message: 'is 1; allowed: a number above 1 and at most 100',
  },
  {
    name: 'more repairs per node than in all',
    raw: documentWith([['spec', 'controlPlane', 'maxConcurrentRepairsPerNode'], 8]),
    path: 'spec.controlPlane.maxConcurrentRepairsPerNode',
    message: 'is 8, above maxConcurrentRepairs (4); allowed: at most maxConcurrentRepairs',
  },
  {
    name: 'an LSN allocation limit of 0',
    raw: documentWith([['spec', 'engine', 'lsnAllocationLimit'], 0]),
    path: 'spec.engine.lsnAllocationLimit',
    message: 'is 0; allowed: a whole number of LSNs from 1 to 1000000000',
  },
  {
    name: 'a transaction mode that does not exist',
    raw: documentWith([['spec', 'engine', 'transactions'], 'pessimistic']),
    path: 'spec.engine.transactions',
    message:
      'is "pessimistic"; allowed: serial (a transaction holds the SQL writer from its first statement to COMMIT) or optimistic (transactions overlap; one whose reads changed fails with 40001)',
  },
  {
    name: "a pod template setting the operator's settings annotation",
    raw: documentWith([['spec', 'podTemplate'], { annotations: { 'northlight.dev/storage-settings': 'x' } }]),
    path: 'spec.podTemplate.annotations["northlight.dev/storage-settings"]',
    message: "is the operator's own key (northlight.dev/…); the operator sets these on the pods it makes",
  },
  {
    name: 'a staging delay longer than the storage nodes take',
    raw: documentWith([['spec', 'backup', 'stagingDelay'], '6m']),
    path: 'spec.backup.stagingDelay',
    message: 'is "6m"; allowed: 0s to 5m (the storage nodes stage at least that often)',
  },
  {
    name: 'a staging delay without a unit',
    raw: documentWith([['spec', 'backup', 'stagingDelay'], 10]),
    path: 'spec.backup.stagingDelay',
    message: 'a number needs a unit: 10ms or 10s?',
  },
  {
    name: 'a transport authentication that does not exist',
    raw: documentWith([['spec', 'security', 'transportAuthentication'], 'optional']),
    path: 'spec.security.transportAuthentication',
    message:
      'is "optional"; allowed: required or transition (required: every storage node and engine proves the cluster\'s internal token to its peers; transition: also take peers of a build from before transport authentication, for a rolling upgrade from one)',
  },
  {
    name: 'a misspelled security field',
    raw: documentWith([['spec', 'security', 'transportAuth'], 'transition']),
    path: 'spec.security.transportAuth',
    message: 'unknown field; allowed here: transportAuthentication',
  },
  {
    name: 'a misspelled object store',
    raw: documentWith([objectStore, 'embeded']),
    path: 'spec.backup.objectStore',
    message:
      'is "embeded"; allowed: embedded (a local S3-compatible server), none (no backups), or a mapping',
  },
  {
    name: 'a misspelled object store, suggested',
    raw: documentWith([objectStore, 'embeded']),
    path: 'spec.backup.objectStore',
    message: 'did you mean embedded?',
  },
  {
    name: 'an S3 object store without a bucket',
    raw: documentWith([objectStore, { region: 'eu-west-1' }]),
    path: 'spec.backup.objectStore.bucket',
    message: 'missing; an S3 object store needs a bucket',
  },
  {
    name: 'a bucket name with capitals',
    raw: documentWith([objectStore, { bucket: 'Backups' }]),
    path: 'spec.backup.objectStore.bucket',
    message: 'is "Backups"; allowed: an S3 bucket name',
  },
  {
    name: 'credentials in the endpoint',
    raw: documentWith([objectStore, { bucket: 'backups', endpoint: 'http://key:secret@127.0.0.1:9000' }]),
    path: 'spec.backup.objectStore.endpoint',
    message: 'holds credentials; keep them out of the cluster file',
  },
  {
    name: 'an endpoint that is not http',
    raw: documentWith([objectStore, { bucket: 'backups', endpoint: 'ftp://127.0.0.1' }]),
    path: 'spec.backup.objectStore.endpoint',
    message: 'allowed: an http:// or https:// URL',
  },
  {
    name: 'a prefix without a closing slash',
    raw: documentWith([objectStore, { bucket: 'backups', prefix: 'demo' }]),
    path: 'spec.backup.objectStore.prefix',
    message: `is "demo"; allowed: '' or a key prefix`,
  },
  {
    name: 'secrets in the object store',
    raw: documentWith([objectStore, { bucket: 'backups', secretAccessKey: 'x' }]),
    path: 'spec.backup.objectStore.secretAccessKey',
    message: 'unknown field; allowed here: endpoint, bucket, region, prefix',
  },
  {
    name: 'a TLS section without its Secret',
    raw: documentWith([['spec', 'engine', 'tls'], {}]),
    path: 'spec.engine.tls.secretName',
    message:
      "is missing; allowed: the name of a Secret in the cluster's namespace holding tls.crt and tls.key, e.g. db-tls",
  },
  {
    name: 'a TLS Secret name Kubernetes would refuse',
    raw: documentWith([['spec', 'engine', 'tls'], { secretName: 'DB_TLS' }]),
    path: 'spec.engine.tls.secretName',
    message:
      'is "DB_TLS"; allowed: the name of a Secret in the cluster\'s namespace holding tls.crt and tls.key, e.g. db-tls',
  },
  {
    name: 'TLS files given as a certificate alone',
    raw: documentWith([['spec', 'local', 'tls'], { certFile: './server.crt' }]),
    path: 'spec.local.tls.keyFile',
    message:
      'is missing; allowed: the path of a PEM file (private key), e.g. ./tls/server.key; certFile and keyFile go together',
  },
  {
    name: 'a key of a TLS section the platform does not read',
    raw: documentWith([['spec', 'engine', 'tls'], { secretName: 'db-tls', certFile: 'x' }]),
    path: 'spec.engine.tls.certFile',
    message: 'unknown field; did you mean spec.local.tls.certFile?',
  },
  {
    name: 'a privileged base port',
    raw: documentWith([['spec', 'local', 'basePort'], 80]),
    path: 'spec.local.basePort',
    message: 'is 80, a privileged port; allowed: 0 (any free ports) or a whole number from 1024 to 65000',
  },
  {
    name: 'a base port too high for the layout',
    raw: documentWith([['spec', 'local', 'basePort'], 65_001]),
    path: 'spec.local.basePort',
    message: 'is 65001; allowed: 0 (any free ports) or a whole number from 1024 to 65000',
  },
  {
    name: 'a data directory from a block scalar',
    raw: documentWith([['spec', 'local', 'dataDir'], './data\n']),
    path: 'spec.local.dataDir',
    message: 'allowed: a directory path without control characters',
  },
  {
    name: 'labels that are not text',
    raw: documentWith([['metadata', 'labels'], { 'app.kubernetes.io/part-of': 7 }]),
    path: 'metadata.labels["app.kubernetes.io/part-of"]',
    message: 'is 7; allowed: text (quote it)',
  },
  {
    name: 'a list as the document',
    raw: [1, 2],
    path: '',
    message:
      'the document is a list of 2 items; a cluster file is a mapping with apiVersion, kind, metadata and spec',
  },
  {
    name: 'text as the document',
    raw: 'apiVersion northlight.dev/v1alpha1',
    path: '',
    message: 'the document is "apiVersion northlight.dev/v1alpha1"; a cluster file is a mapping',
  },
  // Kubernetes-only fields: checked on both platforms, used only by the kubernetes one.
  {
    name: 'a volume claim smaller than a segment',
    raw: documentWith([['spec', 'storage', 'volumeClaim'], { size: '512MiB' }]),
    path: 'spec.storage.volumeClaim.size',
    message: 'is 512MiB, smaller than one segment (storage.segmentSize 1GiB)',
  },
  {
    name: 'a storage class that is not a DNS name',
    raw: documentWith([['spec', 'storage', 'volumeClaim'], { storageClassName: 'Fast SSD' }]),
    path: 'spec.storage.volumeClaim.storageClassName',
    message: 'is "Fast SSD"; allowed: a storage class name',
  },
  {
    name: 'a resource quantity in the wrong form',
    raw: documentWith([['spec', 'resources'], { engine: { limits: { memory: '1 GB' } } }]),
    path: 'spec.resources.engine.limits.memory',
    message: 'is "1 GB"; allowed: a Kubernetes quantity such as 500m, 2 or 1Gi',
  },
  {
    // Found by crd-schema.test.ts's random edits (cpu: 5e-324): the CRD types a quantity as
    // int-or-string, so the API server refuses a fractional number, and this validator must too.
    name: 'a resource quantity as a fractional number',
    raw: documentWith([['spec', 'resources'], { storage: { requests: { cpu: 0.5 } } }]),
    path: 'spec.resources.storage.requests.cpu',
    message: 'is 0.5; allowed: a Kubernetes quantity such as 500m, 2 or 1Gi',
  },
  {
    name: 'a resources section for a component that does not exist',
    raw: documentWith([['spec', 'resources'], { engines: { requests: { cpu: 1 } } }]),
    path: 'spec.resources.engines',
    message: 'unknown field; did you mean spec.resources.engine?',
  },
  {
    name: 'a toleration with an unknown effect',
    raw: documentWith([
      ['spec', 'podTemplate'],
      { tolerations: [{ key: 'dedicated', effect: 'NoSchedul' }] },
    ]),
    path: 'spec.podTemplate.tolerations[0].effect',
    message: 'is "NoSchedul"; allowed: NoSchedule, PreferNoSchedule, NoExecute',
  },
  {
    // Found by crd-schema.test.ts's random edits (tolerations: [null], CI seed 840292239): a
    // list item must be a mapping; only a whole section may be written as an empty `null`.
    name: 'a toleration written as null',
    raw: documentWith([['spec', 'podTemplate'], { tolerations: [null] }]),
    path: 'spec.podTemplate.tolerations[0]',
    message: 'is empty; expected a mapping with the fields key, operator, value, effect, tolerationSeconds',
  },
  {
    name: 'a pod label value that Kubernetes refuses',
    raw: documentWith([['spec', 'podTemplate'], { labels: { team: 'db team' } }]),
    path: 'spec.podTemplate.labels.team',
    message: 'is "db team"; allowed: a label value',
  },
  {
    name: 'an empty document',
    raw: null,
    path: '',
    message:
      'the document is empty; a cluster file needs at least apiVersion: northlight.dev/v1alpha1 and kind: DatabaseCluster',
  },
];

describe('bad input', () => {
  it.each(badInputs)('$name: one problem at $path', ({ raw, path, message }) => {
    const problems = problemsOf(raw);
    expect(problems, formatSpecProblems('test', problems)).toHaveLength(1);
    expect(problems[0]!.path).toBe(path);
    expect(problems[0]!.message).toContain(message);
  });

  it('every problem is reported, not only the first', () => {
    const raw = documentWith(
      [[...zones, 1, 'nodes'], 1],
      [[...instances, 1, 'name'], 'engine-1'],
      [['spec', 'engine', 'cacheSize'], '64MB'],
      [['spec', 'stroage'], {}],
      [['kind'], 'Cluster'],
    );
    expect(problemsOf(raw).map((problem) => problem.path)).toEqual([
      'kind',
      'spec.stroage',
      'spec.engine.instances[1].name',
      'spec.engine.cacheSize',
      'spec.storage.zones[1].nodes',
    ]);
  });

  it('a list of zones that is both short and repeats a name gets both problems', () => {
    const problems = problemsOf(documentWith([zones, [{ name: 'a' }, { name: 'a' }]]));
    expect(problems.map((problem) => problem.path)).toEqual([
      'spec.storage.zones[1].name',
      'spec.storage.zones',
    ]);
  });

  it('a non-mapping section is reported once, not once per field it lacks', () => {
    const problems = problemsOf(
      documentWith([['spec', 'backup', 'objectStore'], 42], [['spec', 'local'], 'x']),
    );
    expect(problems.map((problem) => problem.path)).toEqual(['spec.backup.objectStore', 'spec.local']);
  });

  it(`stops listing at ${SPEC_PROBLEMS_MAX} problems and says how many more there are`, () => {
    const spec: Record<string, number> = {};
    for (let index = 0; index < 300; index++) spec[`unknown${index}`] = index;
    const problems = problemsOf(documentWith([['spec'], spec]));
    expect(problems).toHaveLength(SPEC_PROBLEMS_MAX + 1);
    expect(problems[SPEC_PROBLEMS_MAX]).toEqual({
      path: '',
      message: '200 more problems not listed; fix the ones above first',
    });
  });
});

describe('good input', () => {
  it('fills in defaults around the fields given', () => {
    const spec = specOf({
      apiVersion: 'northlight.dev/v1alpha1',
      kind: 'DatabaseCluster',
      metadata: { name: 'shop' },
      spec: { storage: { zones: [{ name: 'us-1a', nodes: 3 }, { name: 'us-1b' }, { name: 'us-1c' }] } },
    });
    expect(spec.name).toBe('shop');
    expect(spec.storage.zones).toEqual([
      { name: 'us-1a', nodes: 3 },
      { name: 'us-1b', nodes: 2 },
      { name: 'us-1c', nodes: 2 },
    ]);
    expect(spec.engine).toEqual(defaultClusterSpec().engine);
  });

  it('gives an instance without a tier tier 1', () => {
    const spec = specOf(documentWith([instances, [{ name: 'w' }, { name: 'r', promotionTier: 0 }]]));
    expect(spec.engine.instances).toEqual([
      { name: 'w', promotionTier: 1 },
      { name: 'r', promotionTier: 0 },
    ]);
  });

  it('reads sizes as bytes or with a unit, and durations with a unit', () => {
    const spec = specOf(
      documentWith(
        [['spec', 'engine', 'cacheSize'], 8_388_608],
        [['spec', 'storage', 'segmentSize'], '1TiB'],
        [['spec', 'controlPlane', 'repairGracePeriod'], '1500ms'],
        [['spec', 'controlPlane', 'heatCooldown'], '0s'],
        [['spec', 'controlPlane', 'repairBandwidthPerNode'], '48MiB/s'],
      ),
    );
    expect(spec.controlPlane.repairBandwidthPerNodeBytes).toBe(48 * 1024 * 1024);
    for (const [written, bytes] of [
      ['0', 0],
      [0, 0],
      ['1GiB', 1024 ** 3],
      [65_536, 65_536],
    ] as const)
      expect(
        specOf(documentWith([['spec', 'controlPlane', 'repairBandwidthPerNode'], written])).controlPlane
          .repairBandwidthPerNodeBytes,
      ).toBe(bytes);
    expect(spec.engine.cacheSizeBytes).toBe(8 * 1024 * 1024);
    expect(spec.storage.segmentSizeBytes).toBe(1024 ** 4);
    expect(spec.controlPlane.repairGracePeriodMs).toBe(1500);
    expect(spec.controlPlane.heatCooldownMs).toBe(0);
  });

  it('reads an S3 object store, with the default region and prefix, and no endpoint when none is given', () => {
    const spec = specOf(documentWith([objectStore, { bucket: 'northlight-backups' }]));
    expect(spec.backup.objectStore).toEqual({
      kind: 's3',
      bucket: 'northlight-backups',
      region: 'us-east-1',
      prefix: '',
    });
    expect('endpoint' in spec.backup.objectStore).toBe(false);
    const withEndpoint = specOf(
      documentWith([
        objectStore,
        { endpoint: 'http://127.0.0.1:9000', bucket: 'b-1', region: 'auto', prefix: 'x/y/' },
      ]),
    );
    expect(withEndpoint.backup.objectStore).toEqual({
      kind: 's3',
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'b-1',
      region: 'auto',
      prefix: 'x/y/',
    });
  });

  it('reads objectStore: none, and basePort: 0', () => {
    const spec = specOf(documentWith([objectStore, 'none'], [['spec', 'local', 'basePort'], 0]));
    expect(spec.backup.objectStore).toEqual({ kind: 'none' });
    expect(spec.local.basePort).toBe(0);
  });

  it('accepts the Kubernetes metadata a resource may carry', () => {
    const spec = specOf(
      documentWith([
        ['metadata'],
        { name: 'demo', namespace: 'db', labels: { team: 'payments' }, annotations: { note: 'hello' } },
      ]),
    );
    expect(spec).toEqual(defaultClusterSpec());
  });
});

// ---------------------------------------------------------------------------------------------------
// YAML text and files

const exampleText = [
  'apiVersion: northlight.dev/v1alpha1', // 1
  'kind: DatabaseCluster', // 2
  'spec:', // 3
  '  storage:', // 4
  '    zones:', // 5
  '      - { name: a, nodes: 2 }', // 6
  '      - { name: b, nodes: 1 }', // 7
  '      - { name: c, nodes: 2 }', // 8
  '  engine:', // 9
  '    cacheSize: 64MB', // 10
  '',
].join('\n');

describe('YAML text', () => {
  it('gives each spec problem the line and column of its field, in file order', () => {
    const problems = yamlProblemsOf(exampleText);
    expect(problems).toEqual([
      expect.objectContaining({ path: 'spec.storage.zones[1].nodes', line: 7, column: 20 }),
      expect.objectContaining({ path: 'spec.engine.cacheSize', line: 10, column: 5 }),
    ]);
  });

  it('points a missing field at its nearest enclosing item', () => {
    const text = exampleText.replace('{ name: b, nodes: 1 }', '{ nodes: 2 }');
    expect(yamlProblemsOf(text)[0]).toEqual(
      expect.objectContaining({ path: 'spec.storage.zones[1].name', line: 7, column: 9 }),
    );
  });

  it('reports a YAML syntax error with its line and column, and nothing else', () => {
    const text = [
      'apiVersion: northlight.dev/v1alpha1',
      'kind: DatabaseCluster',
      'spec:',
      '  engine:',
      '\tcacheSize: 64MiB',
      '',
    ].join('\n');
    expect(yamlProblemsOf(text)).toEqual([
      { path: '', message: 'YAML: Tabs are not allowed as indentation', line: 5, column: 1 },
    ]);
  });

  it('reports a field given twice as a YAML error at the second one', () => {
    const problems = yamlProblemsOf(
      'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\nkind: DatabaseCluster\n',
    );
    expect(problems).toEqual([
      expect.objectContaining({ line: 3, column: 1, message: 'YAML: Map keys must be unique' }),
    ]);
  });

  it('reports an empty file, and one of comments only, as empty', () => {
    for (const text of ['', '# nothing yet\n', '---\n']) {
      expect(yamlProblemsOf(text)).toEqual([
        {
          path: '',
          message: expect.stringContaining('the document is empty; a cluster file needs at least apiVersion'),
        },
      ]);
    }
  });

  it('reports more than one YAML document at the start of the second', () => {
    const text = 'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster\n---\nkind: Namespace\n';
    expect(yamlProblemsOf(text)).toEqual([
      {
        path: '',
        message:
          'the file holds 2 YAML documents (separated by ---); a cluster file holds exactly one DatabaseCluster',
        line: 3,
        column: 1,
      },
    ]);
  });

  it('reports an alias to no anchor instead of throwing', () => {
    const problems = yamlProblemsOf('apiVersion: *version\nkind: DatabaseCluster\n');
    expect(problems[0]!.message).toContain('cannot read the YAML: Unresolved alias');
  });

  it('reports an unknown tag', () => {
    const problems = yamlProblemsOf('apiVersion: !secret northlight.dev/v1alpha1\nkind: DatabaseCluster\n');
    expect(problems[0]).toEqual(expect.objectContaining({ line: 1, column: 13 }));
    expect(problems[0]!.message).toContain('YAML: Unresolved tag: !secret');
  });
});

describe('formatSpecProblems', () => {
  it('writes one line per problem, file:line:column first where known', () => {
    const text = formatSpecProblems('cluster.yaml', [
      { path: 'spec.storage.zones[1].nodes', message: 'zone b has 1 storage node', line: 7, column: 22 },
      { path: '', message: 'the document is empty' },
    ]);
    expect(text).toBe(
      [
        'cluster.yaml: 2 problems in the cluster spec; fix them and try again:',
        '  cluster.yaml:7:22: spec.storage.zones[1].nodes: zone b has 1 storage node',
        '  cluster.yaml: the document is empty',
      ].join('\n'),
    );
  });

  it('says "it" for one problem', () => {
    expect(formatSpecProblems('x.yaml', [{ path: 'kind', message: 'missing' }])).toBe(
      'x.yaml: 1 problem in the cluster spec; fix it and try again:\n  x.yaml: kind: missing',
    );
  });
});

describe('loadClusterFile', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'northlight-cluster-spec-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function loadError(path: string): Promise<NorthlightError> {
    const error: unknown = await loadClusterFile(path).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    if (!isNorthlightError(error, 'NL_CONFIG_INVALID'))
      throw new Error(`expected NL_CONFIG_INVALID, got ${String(error)}`);
    return error;
  }

  it('refuses a missing file, naming it', async () => {
    const path = join(directory, 'missing.yaml');
    const error = await loadError(path);
    expect(error.message).toBe(`NL_CONFIG_INVALID: cannot read ${path}: no such file or directory`);
  });

  it('refuses a directory', async () => {
    expect((await loadError(directory)).message).toContain(
      `cannot read ${directory}: it is a directory, not a file`,
    );
  });

  it('refuses a file larger than a cluster file could be, without reading all of it', async () => {
    const path = join(directory, 'large.yaml');
    await writeFile(path, `# ${'x'.repeat(CLUSTER_FILE_BYTES_MAX)}\n`);
    expect((await loadError(path)).message).toContain('it is larger than 1024 KiB');
  });

  it('refuses bytes that are not UTF-8', async () => {
    const path = join(directory, 'latin1.yaml');
    await writeFile(path, Buffer.from([0x6b, 0x69, 0x6e, 0x64, 0x3a, 0x20, 0xe9, 0x0a]));
    expect((await loadError(path)).message).toContain('it is not UTF-8 text');
  });

  it('reports a YAML syntax error as path:line:column', async () => {
    const path = join(directory, 'syntax.yaml');
    await writeFile(path, 'apiVersion: northlight.dev/v1alpha1\nkind: DatabaseCluster: x\n');
    const error = await loadError(path);
    expect(error.message).toContain(
      `\n  ${path}:2:7: YAML: Nested mappings are not allowed in compact mappings`,
    );
  });

  it('reports every spec problem, each with its line', async () => {
    const path = join(directory, 'invalid.yaml');
    await writeFile(path, exampleText);
    const error = await loadError(path);
    expect(error.message).toBe(
      [
        `NL_CONFIG_INVALID: ${path}: 2 problems in the cluster spec; fix them and try again:`,
        `  ${path}:7:20: spec.storage.zones[1].nodes: zone b has 1 storage node; a PG needs 2 nodes in each of 3 zones — set nodes: 2 or more`,
        `  ${path}:10:5: spec.engine.cacheSize: is "64MB", not a size: write bytes or a whole number with KiB, MiB, GiB or TiB (e.g. 64MiB); did you mean 64MiB?`,
      ].join('\n'),
    );
    expect(error.details).toEqual({ path, problemCount: 2 });
  });

  it('bounds backup.stagingDelay as the storage nodes do, with their default', () => {
    expect(DEFAULT_STAGING_DELAY_MS).toBe(STORAGE_NODE_DEFAULTS.backupMaxDelayMs);
    expect(resolveOptions({ backupMaxDelayMs: STAGING_DELAY_MS_MAX }).backupMaxDelayMs).toBe(
      STAGING_DELAY_MS_MAX,
    );
    expect(() => resolveOptions({ backupMaxDelayMs: STAGING_DELAY_MS_MAX + 1 })).toThrow(/backupMaxDelayMs/);
  });

  it('reads a file written by specToYaml back to the same spec', async () => {
    const path = join(directory, 'printed.yaml');
    const spec: ClusterSpec = {
      ...defaultClusterSpec(),
      name: 'printed',
      backup: {
        objectStore: { kind: 's3', bucket: 'backups', region: 'eu-west-1', prefix: 'printed/' },
        stagingDelayMs: 90_000,
      },
    };
    await writeFile(path, specToYaml(spec));
    expect(await loadClusterFile(path)).toEqual(spec);
  });
});

// ---------------------------------------------------------------------------------------------------
// Units and paths

describe('sizes, durations and paths', () => {
  it('prints sizes and durations in their largest exact unit', () => {
    expect(formatSizeBytes(64 * 1024 * 1024)).toBe('64MiB');
    expect(formatSizeBytes(1536 * 1024)).toBe('1536KiB');
    expect(formatSizeBytes(1000)).toBe('1000');
    expect(formatDurationMs(300_000)).toBe('5m');
    expect(formatDurationMs(90_000)).toBe('90s');
    expect(formatDurationMs(1500)).toBe('1500ms');
    expect(formatDurationMs(0)).toBe('0s');
  });

  it('parses what it prints', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        (bytes) => parseSizeBytes(formatSizeBytes(bytes)) === bytes,
      ),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 ** 9 }),
        (durationMs) => parseDurationMs(formatDurationMs(durationMs)) === durationMs,
      ),
    );
  });

  it('refuses sizes and durations in other forms', () => {
    for (const text of ['', '64 MiB', '64mib', '-1', '1e6', '64MB', '0x10', '99999999999999999']) {
      expect(parseSizeBytes(text), text).toBeUndefined();
    }
    for (const text of ['', '30', '1h', '1.5s', ' 30s', '30S'])
      expect(parseDurationMs(text), text).toBeUndefined();
  });

  it('formats paths readably and parses them back', () => {
    expect(formatSpecPath(['spec', 'storage', 'zones', 1, 'nodes'])).toBe('spec.storage.zones[1].nodes');
    expect(formatSpecPath(['metadata', 'labels', 'app.kubernetes.io/name'])).toBe(
      'metadata.labels["app.kubernetes.io/name"]',
    );
    expect(parseSpecPath('spec.storage.zones[1].nodes')).toEqual(['spec', 'storage', 'zones', 1, 'nodes']);
    expect(parseSpecPath('')).toEqual([]);
    for (const bad of ['.spec', 'spec..x', 'spec[x]', 'spec.', '[1'])
      expect(parseSpecPath(bad), bad).toBeUndefined();
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.nat())), (segments) => {
        expect(parseSpecPath(formatSpecPath(segments))).toEqual(segments);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties

const identifierArbitrary = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/);
const versionArbitrary = fc
  .tuple(
    fc.nat(999),
    fc.nat(999),
    fc.nat(999),
    fc.oneof(fc.constant(''), fc.stringMatching(/^-[0-9A-Za-z.-]{1,40}$/)),
  )
  .map(([major, minor, patch, prerelease]) => `${major}.${minor}.${patch}${prerelease}`);
const pagesToBytes = (pages: number) => pages * 4096;

const objectStoreArbitrary: fc.Arbitrary<ObjectStoreSpec> = fc.oneof(
  fc.constant({ kind: 'embedded' as const }),
  fc.constant({ kind: 'none' as const }),
  fc
    .record({
      endpoint: fc.option(fc.webUrl(), { nil: undefined }),
      bucket: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
      region: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/),
      prefix: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}\/$/)),
    })
    .map(({ endpoint, ...rest }) => ({
      kind: 's3' as const,
      ...rest,
      ...(endpoint === undefined ? {} : { endpoint }),
    })),
);

const quantityArbitrary = fc.oneof(
  fc.integer({ min: 0, max: 64 }).map(String),
  fc.stringMatching(/^[1-9][0-9]{0,3}(m|Mi|Gi|k)$/),
);
const resourceRequirementsArbitrary = fc.record({
  requests: fc.dictionary(fc.constantFrom('cpu', 'memory', 'ephemeral-storage'), quantityArbitrary),
  limits: fc.dictionary(fc.constantFrom('cpu', 'memory'), quantityArbitrary),
});
const labelValueArbitrary = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?$/);
const labelKeyArbitrary = fc.stringMatching(/^[a-z]{1,8}(\.[a-z]{1,8}\/[a-z]{1,8})?$/);
const podTemplateArbitrary = fc.record(
  {
    labels: fc.dictionary(labelKeyArbitrary, labelValueArbitrary, { maxKeys: 4 }),
    annotations: fc.dictionary(labelKeyArbitrary, fc.string({ maxLength: 30 }), { maxKeys: 4 }),
    nodeSelector: fc.dictionary(labelKeyArbitrary, labelValueArbitrary, { maxKeys: 4 }),
    tolerations: fc.array(
      fc.oneof(
        fc.record(
          {
            key: labelKeyArbitrary,
            operator: fc.constant('Exists' as const),
            effect: fc.constantFrom('NoSchedule' as const, 'PreferNoSchedule' as const, 'NoExecute' as const),
          },
          { requiredKeys: ['operator'] },
        ),
        fc.record(
          {
            key: labelKeyArbitrary,
            operator: fc.constant('Equal' as const),
            value: labelValueArbitrary,
            effect: fc.constant('NoExecute' as const),
            tolerationSeconds: fc.integer({ min: 0, max: 3600 }),
          },
          { requiredKeys: ['key', 'operator'] },
        ),
      ),
      { maxLength: 3 },
    ),
    priorityClassName: fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/),
  },
  { requiredKeys: ['labels', 'annotations', 'nodeSelector', 'tolerations'] },
);

const clusterSpecArbitrary: fc.Arbitrary<ClusterSpec> = fc.record({
  name: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/),
  engine: fc
    .record({
      version: versionArbitrary,
      instances: fc
        .uniqueArray(identifierArbitrary, { minLength: 1, maxLength: 16 })
        .chain((names) =>
          fc
            .array(fc.integer({ min: 0, max: 15 }), { minLength: names.length, maxLength: names.length })
            .map((tiers) =>
              names.map((name, index) => ({ name: asNodeId(name), promotionTier: tiers[index]! })),
            ),
        ),
      cacheSizeBytes: fc.integer({ min: 256, max: 16 * 1024 * 1024 }).map(pagesToBytes),
      lsnAllocationLimit: fc.integer({ min: 1, max: 1_000_000_000 }),
      transactions: fc.constantFrom('serial' as const, 'optimistic' as const),
      tls: fc.option(fc.record({ secretName: fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,40}[a-z0-9])?$/) }), {
        nil: undefined,
      }),
    })
    .map(({ tls, ...engine }) => (tls === undefined ? engine : { ...engine, tls })),
  storage: fc
    .record({
      version: versionArbitrary,
      zones: fc
        .uniqueArray(identifierArbitrary, { minLength: 3, maxLength: 3 })
        .chain((names) =>
          fc
            .array(fc.integer({ min: 2, max: 64 }), { minLength: 3, maxLength: 3 })
            .map((nodes) => names.map((name, index) => ({ name: asZone(name), nodes: nodes[index]! }))),
        ),
      segmentSizeBytes: fc.integer({ min: 256, max: 256 * 1024 * 1024 }).map(pagesToBytes),
      // Kubernetes only; a claim holds at least one segment.
      segmentsPerClaim: fc.integer({ min: 1, max: 64 }),
      storageClassName: fc.option(fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/), {
        nil: undefined,
      }),
    })
    .map(({ segmentsPerClaim, storageClassName, ...storage }) => ({
      ...storage,
      volumeClaim: {
        ...(storageClassName === undefined ? {} : { storageClassName }),
        sizeBytes: storage.segmentSizeBytes * segmentsPerClaim,
      },
    })),
  backup: fc.record({
    objectStore: objectStoreArbitrary,
    stagingDelayMs: fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((s) => s * 1000),
      fc.integer({ min: 0, max: 300_000 }),
    ),
  }),
  controlPlane: fc
    .record({
      repairGracePeriodMs: fc.integer({ min: 0, max: 86_400_000 }),
      maxConcurrentRepairsPerNode: fc.integer({ min: 1, max: 64 }),
      extraRepairs: fc.integer({ min: 0, max: 960 }),
      repairBandwidthPerNodeBytes: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 16, max: 128 * 1024 * 1024 }).map((pages) => pages * 4096),
      ),
      heatFactor: fc.double({ min: 1, max: 100, minExcluded: true, noNaN: true }),
      heatCooldownMs: fc.integer({ min: 0, max: 86_400_000 }),
    })
    .map(({ extraRepairs, ...rest }) => ({
      ...rest,
      maxConcurrentRepairs: rest.maxConcurrentRepairsPerNode + extraRepairs,
    })),
  security: fc.record({ transportAuthentication: fc.constantFrom(...TRANSPORT_AUTH_MODES) }),
  local: fc
    .record({
      dataDir: fc
        .string({ minLength: 1, maxLength: 80, unit: 'grapheme' })
        .filter((text) => !/\p{Cc}/u.test(text)),
      basePort: fc.oneof(fc.constant(0), fc.integer({ min: 1024, max: 65_000 })),
      tls: fc.option(
        fc.record({
          certFile: fc.string({ minLength: 1, maxLength: 40 }).filter((text) => !/\p{Cc}/u.test(text)),
          keyFile: fc.string({ minLength: 1, maxLength: 40 }).filter((text) => !/\p{Cc}/u.test(text)),
        }),
        { nil: undefined },
      ),
    })
    .map(({ tls, ...local }) => (tls === undefined ? local : { ...local, tls })),
  resources: fc.record({ storage: resourceRequirementsArbitrary, engine: resourceRequirementsArbitrary }),
  podTemplate: podTemplateArbitrary,
});

describe('properties', () => {
  it('specToYaml of any valid spec validates back to the same spec', () => {
    fc.assert(
      fc.property(clusterSpecArbitrary, (spec) => {
        expect(parseClusterYaml(specToYaml(spec))).toEqual({ ok: true, value: spec });
      }),
      { numRuns: 300 },
    );
  });

  it('random values never make validateClusterSpec throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        const result = validateClusterSpec(raw);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withNullPrototype: true,
          withObjectString: true,
          withSet: true,
          withSparseArray: true,
          withTypedArray: true,
        }),
        (raw) => {
          validateClusterSpec(raw);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random edits of a valid document are a valid spec or problems at paths that parse, never a throw', () => {
    const defaultPaths = pathsOf(documentWith());
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...defaultPaths), fc.jsonValue({ maxDepth: 2 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const raw = documentWith();
          for (const [path, value] of edits) {
            try {
              setIn(raw, path, value);
            } catch {
              // An earlier edit replaced a parent of this path with a scalar; skip this edit.
            }
          }
          const result = validateClusterSpec(raw);
          if (result.ok) {
            expect(validateClusterSpec(clusterSpecToResource(result.value))).toEqual(result);
          } else {
            expect(result.error.length).toBeGreaterThan(0);
            for (const problem of result.error)
              expect(parseSpecPath(problem.path), problem.path).toBeDefined();
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random YAML text, and random damage to the example, never make parseClusterYaml throw', async () => {
    const example = await readFile(examplePath, 'utf8');
    const lineCount = example.split('\n').length;
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        parseClusterYaml(text);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.nat(example.length), fc.string({ maxLength: 4 }), fc.nat(4), (at, inserted, deleted) => {
        const result = parseClusterYaml(example.slice(0, at) + inserted + example.slice(at + deleted));
        if (!result.ok) {
          for (const problem of result.error) {
            if (problem.line !== undefined) expect(problem.line).toBeLessThanOrEqual(lineCount + 1);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('pinned counterexamples', () => {
  it('reports a mapping as dataDir instead of throwing (fast-check seed 1574511739)', () => {
    const result = validateClusterSpec({
      apiVersion: 'northlight.dev/v1alpha1',
      kind: 'DatabaseCluster',
      metadata: { name: 'x' },
      spec: { local: { dataDir: { toString: false } } },
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.map((problem) => problem.path)).toContain('spec.local.dataDir');
  });
});
