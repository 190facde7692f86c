// Proves that the CRDs generated from src/k8s/crd-schema.ts are what the repository holds, that
// they are structural as apiextensions.k8s.io/v1 requires, and that their DatabaseCluster schema
// agrees with validateClusterSpec: every document the schema refuses, validateClusterSpec refuses
// too, so the API server never stores a spec the operator could read otherwise than it was meant.
//
// How: the schema is turned into a JSON schema for ajv the way an API server reads it (strict field
// validation, as `kubectl apply` asks for by default: unknown fields are errors; null fields are
// pruned; `x-kubernetes-list-type: map` makes the keys unique; OpenAPI's boolean exclusiveMinimum).
// A table of documents (the example files, and one broken field each) is checked against both,
// with the expected verdict of each; then random edits of a valid document check the implication
// above. Rows where only validateClusterSpec can tell are marked: the operator reports those in the
// Ready condition (reason InvalidSpec) and changes nothing.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  clusterSpecToResource,
  defaultClusterSpec,
  validateClusterSpec,
} from '../../src/core/cluster-spec.js';
import { CONDITIONS, DATABASE_CLUSTER, GROUP, STORAGE_VOLUME, VERSION } from '../../src/k8s/contract.js';
import {
  customResourceDefinitions,
  databaseClusterSchema,
  type JsonSchemaProps,
  storageVolumeSchema,
} from '../../src/k8s/crd-schema.js';
import { makeValidator, schemaAccepts, schemaErrors } from './crd-validator.js';

const ROOT = join(import.meta.dirname, '../../..');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const validateCluster = makeValidator(databaseClusterSchema);
const validateVolume = makeValidator(storageVolumeSchema);

// ---------------------------------------------------------------------------------------------------
// Structural schema rules (apiextensions.k8s.io/v1), the ones an API server would refuse the CRD for

const FORBIDDEN_IN_JUNCTORS = ['type', 'description', 'default', 'additionalProperties', 'nullable'] as const;

function structuralProblems(node: JsonSchemaProps, path: string, problems: string[]): string[] {
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserves = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node.type === undefined && !intOrString && !preserves) problems.push(`${path}: no type`);
  if (node.properties !== undefined && node.type !== 'object')
    problems.push(`${path}: properties without type object`);
  if (node.type === 'array' && node.items === undefined) problems.push(`${path}: array without items`);
  if (node['x-kubernetes-list-type'] === 'map') {
    const keys = node['x-kubernetes-list-map-keys'] ?? [];
    const required = node.items?.required ?? [];
    for (const key of keys)
      if (!required.includes(key)) problems.push(`${path}: list-map key ${key} not required`);
  }
  if (intOrString) {
    const exact = JSON.stringify(node.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
    if (!exact) problems.push(`${path}: int-or-string needs exactly anyOf [integer, string]`);
  } else {
    for (const [index, branch] of (node.anyOf ?? []).entries()) {
      for (const key of FORBIDDEN_IN_JUNCTORS) {
        if ((branch as Record<string, unknown>)[key] !== undefined)
          problems.push(`${path}.anyOf[${index}]: ${key} inside a junctor`);
      }
      if (branch.properties !== undefined || branch.items !== undefined) {
        problems.push(`${path}.anyOf[${index}]: fields inside a junctor`);
      }
    }
  }
  for (const [name, child] of Object.entries(node.properties ?? {}))
    structuralProblems(child, `${path}.${name}`, problems);
  if (node.items !== undefined) structuralProblems(node.items, `${path}[]`, problems);
  if (node.additionalProperties !== undefined)
    structuralProblems(node.additionalProperties, `${path}{}`, problems);
  return problems;
}

describe('the generated CRDs', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'northlight-gen-k8s-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('are what the repository holds: running the generator changes nothing', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'operator/scripts/gen-k8s.ts'), '--out', out],
      { cwd: join(ROOT, 'operator') },
    );
    expect(stdout).toMatch(/^gen-k8s: wrote \d+ files under /);
    const written = await listFiles(out);
    expect(written).toContain('crds/northlight.dev_databaseclusters.yaml');
    expect(written).toContain('charts/northlight/crds/northlight.dev_storagevolumes.yaml');
    for (const path of written) {
      const committed = await readFile(join(ROOT, path), 'utf8').catch(() => '(missing)');
      expect(committed, `${path} differs from the generator's output: run npm run gen:k8s`).toBe(
        await readFile(join(out, path), 'utf8'),
      );
    }
  });

  it('are structural, named from the contract, with a status subresource and printer columns', async () => {
    for (const { fileName, crd } of customResourceDefinitions()) {
      const names = crd.spec.names.kind === DATABASE_CLUSTER.kind ? DATABASE_CLUSTER : STORAGE_VOLUME;
      expect(crd.metadata.name).toBe(`${names.plural}.${GROUP}`);
      expect(fileName).toBe(`${GROUP}_${names.plural}.yaml`);
      expect(crd.spec.names.shortNames).toEqual(names.shortNames);
      const [version] = crd.spec.versions;
      expect(version!.name).toBe(VERSION);
      expect(version!.subresources).toEqual({ status: {} });
      expect(structuralProblems(version!.schema.openAPIV3Schema, '', [])).toEqual([]);
      const committed: unknown = parseYaml(await readFile(join(ROOT, 'crds', fileName), 'utf8'));
      expect(committed).toEqual(JSON.parse(JSON.stringify(crd)));
    }
    const columns = customResourceDefinitions()[0]!.crd.spec.versions[0]!.additionalPrinterColumns;
    expect(columns.map((column) => column.name)).toEqual(
      expect.arrayContaining(['Ready', 'Writer', 'Storage', 'PGs', 'Age']),
    );
  });

  it('catches a schema that is not structural (the checker itself can fail)', () => {
    const broken: JsonSchemaProps = {
      type: 'object',
      properties: {
        size: {
          'x-kubernetes-int-or-string': true,
          anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string' }],
        },
        store: { 'x-kubernetes-preserve-unknown-fields': true, anyOf: [{ type: 'string' }] },
        untyped: { description: 'no type' },
      },
    };
    expect(structuralProblems(broken, '', [])).toEqual([
      '.size: int-or-string needs exactly anyOf [integer, string]',
      '.store.anyOf[0]: type inside a junctor',
      '.untyped: no type',
    ]);
  });
});

async function listFiles(directory: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(directory, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(directory, path)));
    else files.push(path);
  }
  return files.sort();
}

// ---------------------------------------------------------------------------------------------------
// Documents: the schema and validateClusterSpec side by side

/** The default cluster as a document, with `spec` paths set (a value of undefined deletes the field). */
function documentWith(...changes: Array<[string, unknown]>): Record<string, Json> {
  const document = JSON.parse(JSON.stringify(clusterSpecToResource(defaultClusterSpec()))) as Record<
    string,
    Json
  >;
  for (const [path, value] of changes) setPath(document, path.split('.'), value);
  return document;
}

function setPath(document: unknown, path: readonly string[], value: unknown): void {
  let node = document as Record<string, unknown>;
  for (const segment of path.slice(0, -1)) {
    node[segment] ??= {};
    node = node[segment] as Record<string, unknown>;
  }
  if (value === undefined) delete node[path[path.length - 1]!];
  else node[path[path.length - 1]!] = value;
}

interface Row {
  readonly name: string;
  readonly document: unknown;
  readonly schema: 'accepts' | 'rejects';
  readonly spec: 'accepts' | 'rejects';
}

const instances = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ name: `engine-${index + 1}` }));

const rows: Row[] = [
  { name: 'the default cluster', document: documentWith(), schema: 'accepts', spec: 'accepts' },
  {
    name: 'a minimal cluster',
    document: { apiVersion: 'northlight.dev/v1alpha1', kind: 'DatabaseCluster', metadata: { name: 'tiny' } },
    schema: 'accepts',
    spec: 'accepts',
  },
  {
    name: 'sizes as bytes, Kubernetes-only fields set',
    document: documentWith(
      ['spec.engine.cacheSize', 64 * 1024 * 1024],
      ['spec.storage.volumeClaim', { storageClassName: 'standard', size: '20GiB' }],
      [
        'spec.resources',
        { storage: { requests: { cpu: '500m', memory: '1Gi' } }, engine: { limits: { cpu: 2 } } },
      ],
      [
        'spec.podTemplate',
        {
          labels: { team: 'db' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
          priorityClassName: 'high-priority',
        },
      ],
    ),
    schema: 'accepts',
    spec: 'accepts',
  },
  {
    name: 'an S3 object store',
    document: documentWith([
      'spec.backup.objectStore',
      { endpoint: 'http://minio:9000', bucket: 'northlight', prefix: 'demo/' },
    ]),
    schema: 'accepts',
    spec: 'accepts',
  },
  {
    name: 'a null section (absent)',
    document: documentWith(['spec.backup', null]),
    schema: 'accepts',
    spec: 'accepts',
  },
  {
    name: 'a size in MB',
    document: documentWith(['spec.engine.cacheSize', '64MB']),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a negative size',
    document: documentWith(['spec.engine.cacheSize', -4096]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a size in bytes that is not page-aligned',
    document: documentWith(['spec.storage.segmentSize', 1024 * 1024 + 1]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    // Text sizes are checked for their form only; the range is the operator's to report.
    name: 'a text size out of range (only validateClusterSpec)',
    document: documentWith(['spec.engine.cacheSize', '128GiB']),
    schema: 'accepts',
    spec: 'rejects',
  },
  {
    name: 'two zones',
    document: documentWith([
      'spec.storage.zones',
      [
        { name: 'a', nodes: 2 },
        { name: 'b', nodes: 2 },
      ],
    ]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a zone listed twice',
    document: documentWith([
      'spec.storage.zones',
      [
        { name: 'a', nodes: 2 },
        { name: 'a', nodes: 2 },
        { name: 'c', nodes: 2 },
      ],
    ]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'one storage node in a zone',
    document: documentWith(['spec.storage.zones', [{ name: 'a', nodes: 1 }, { name: 'b' }, { name: 'c' }]]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: '17 instances',
    document: documentWith(['spec.engine.instances', instances(17)]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: '16 instances',
    document: documentWith(['spec.engine.instances', instances(16)]),
    schema: 'accepts',
    spec: 'accepts',
  },
  {
    name: 'no instances',
    document: documentWith(['spec.engine.instances', []]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an instance without a name',
    document: documentWith(['spec.engine.instances', [{ promotionTier: 0 }]]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'two instances with one name',
    document: documentWith(['spec.engine.instances', [{ name: 'e1' }, { name: 'e1' }]]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a promotion tier of 16',
    document: documentWith(['spec.engine.instances', [{ name: 'e1', promotionTier: 16 }]]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an unknown field',
    document: documentWith(['spec.engine.replicas', 3]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a misspelled section',
    document: documentWith(['spec.stroage', { zones: [] }]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an uppercase name',
    document: documentWith(['metadata.name', 'Demo']),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a 41-character name',
    document: documentWith(['metadata.name', 'a'.repeat(41)]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a negative duration',
    document: documentWith(['spec.controlPlane.repairGracePeriod', '-30s']),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a duration without a unit',
    document: documentWith(['spec.controlPlane.heatCooldown', 30]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a duration above a day (only validateClusterSpec)',
    document: documentWith(['spec.controlPlane.repairGracePeriod', '1441m']),
    schema: 'accepts',
    spec: 'rejects',
  },
  {
    name: 'a heat factor of 1',
    document: documentWith(['spec.controlPlane.heatFactor', 1]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    // A cross-field rule: the schema sees one field at a time.
    name: 'more repairs per node than in all (only validateClusterSpec)',
    document: documentWith(['spec.controlPlane.maxConcurrentRepairsPerNode', 8]),
    schema: 'accepts',
    spec: 'rejects',
  },
  {
    name: 'a volume claim smaller than a segment (only validateClusterSpec)',
    document: documentWith(['spec.storage.volumeClaim', { size: '512MiB' }]),
    schema: 'accepts',
    spec: 'rejects',
  },
  {
    name: 'a privileged base port',
    document: documentWith(['spec.local.basePort', 80]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a version as a number',
    document: documentWith(['spec.engine.version', 1.5]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an object store that is a misspelled word',
    document: documentWith(['spec.backup.objectStore', 'embeded']),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an object store that is a number',
    document: documentWith(['spec.backup.objectStore', 3]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'an S3 object store without a bucket',
    document: documentWith(['spec.backup.objectStore', { region: 'eu-west-1' }]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    // The object store keeps unknown fields (a structural schema cannot say "text or mapping").
    name: 'an S3 object store with a bad bucket name (only validateClusterSpec)',
    document: documentWith(['spec.backup.objectStore', { bucket: 'Bad_Bucket' }]),
    schema: 'accepts',
    spec: 'rejects',
  },
  {
    name: 'a quantity with a space',
    document: documentWith(['spec.resources', { engine: { requests: { memory: '1 Gi' } } }]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a toleration with an unknown operator',
    document: documentWith(['spec.podTemplate', { tolerations: [{ key: 'a', operator: 'In' }] }]),
    schema: 'rejects',
    spec: 'rejects',
  },
  {
    name: 'a storage class with capitals',
    document: documentWith(['spec.storage.volumeClaim', { storageClassName: 'Fast' }]),
    schema: 'rejects',
    spec: 'rejects',
  },
];

async function exampleRows(): Promise<Row[]> {
  const files = ['operator/examples/cluster.yaml'];
  const examples = join(ROOT, 'manifests/examples');
  for (const name of (await readdir(examples).catch(() => [])).sort()) {
    if (name.endsWith('.yaml')) files.push(`manifests/examples/${name}`);
  }
  return Promise.all(
    files.map(async (file) => {
      const invalid = file.endsWith('/invalid.yaml');
      const verdict = invalid ? 'rejects' : 'accepts';
      return {
        name: file,
        document: parseYaml(await readFile(join(ROOT, file), 'utf8')) as unknown,
        schema: verdict,
        spec: verdict,
      } satisfies Row;
    }),
  );
}

describe('a DatabaseCluster: the CRD schema and validateClusterSpec agree', () => {
  it.each(rows)(
    '$name: the schema $schema it, validateClusterSpec $spec it',
    ({ document, schema, spec }) => {
      expect(
        schemaAccepts(validateCluster, document) ? 'accepts' : 'rejects',
        schemaErrors(validateCluster, document),
      ).toBe(schema);
      expect(validateClusterSpec(document).ok ? 'accepts' : 'rejects').toBe(spec);
    },
  );

  it('on every example file', async () => {
    const examples = await exampleRows();
    expect(examples.map((example) => example.name)).toEqual(
      expect.arrayContaining([
        'operator/examples/cluster.yaml',
        'manifests/examples/cluster.yaml',
        'manifests/examples/minimal.yaml',
        'manifests/examples/invalid.yaml',
      ]),
    );
    for (const { name, document, schema, spec } of examples) {
      expect(
        schemaAccepts(validateCluster, document) ? 'accepts' : 'rejects',
        `${name}: ${schemaErrors(validateCluster, document)}`,
      ).toBe(schema);
      const result = validateClusterSpec(document);
      expect(result.ok ? 'accepts' : 'rejects', `${name}: ${JSON.stringify(result)}`).toBe(spec);
    }
  });

  it('random edits of a valid document: whatever the schema refuses, validateClusterSpec refuses', () => {
    const paths = leafPaths(
      documentWith(
        ['spec.resources', { storage: { requests: { cpu: '1' } } }],
        ['spec.podTemplate', { tolerations: [{ key: 'a', operator: 'Exists' }], labels: { a: 'b' } }],
        ['spec.storage.volumeClaim', { size: '10GiB', storageClassName: 'standard' }],
      ),
    );
    let schemaRejections = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (edits) => {
          const document = documentWith();
          for (const [path, value] of edits) {
            try {
              setPath(document, path, value);
            } catch {
              // An earlier edit made a parent of this path a scalar; skip this edit.
            }
          }
          if (schemaAccepts(validateCluster, document)) return;
          schemaRejections += 1;
          expect(validateClusterSpec(document).ok, schemaErrors(validateCluster, document)).toBe(false);
        },
      ),
      { numRuns: 1_000 },
    );
    // The property is only worth something if the schema refused many of the edits.
    expect(schemaRejections).toBeGreaterThan(300);
  });
});

/** Every path to a scalar, and every path to a mapping or list (so whole sections get replaced too). */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value);
  return [
    ...(prefix.length === 0 ? [] : [prefix]),
    ...entries.flatMap(([key, child]) => leafPaths(child, [...prefix, key])),
  ];
}

describe('a StorageVolume and status', () => {
  const volume = (spec: unknown, status?: unknown) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: STORAGE_VOLUME.kind,
    metadata: { name: 'demo' },
    spec,
    ...(status === undefined ? {} : { status }),
  });

  it('accepts a volume with its status, and refuses one without a cluster or with unknown status fields', () => {
    const status = {
      observedGeneration: 1,
      pgCount: 3,
      degradedPgCount: 0,
      healthy: true,
      volumeEpoch: 2,
      membershipEpochMax: 5,
      volumeSizeBytes: 3 * 1024 ** 3,
      size: '3GiB',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'AllSegmentsHealthy',
          message: 'every PG has six live segments',
          lastTransitionTime: '2026-11-26T17:00:00Z',
        },
      ],
    };
    expect(schemaErrors(validateVolume, volume({ cluster: 'demo', segmentSize: '1GiB' }, status))).toBe('');
    expect(schemaAccepts(validateVolume, volume({ segmentSize: '1GiB' }))).toBe(false);
    expect(schemaAccepts(validateVolume, volume({ cluster: 'demo' }, { ...status, pgs: 3 }))).toBe(false);
  });

  it('holds a cluster status with one condition of each type, and refuses a condition without a reason', () => {
    const condition = (type: string) => ({
      type,
      status: 'False',
      reason: 'Reconciling',
      message: '',
      lastTransitionTime: '2026-11-26T17:00:00Z',
      observedGeneration: 1,
    });
    const status = {
      observedGeneration: 1,
      phase: 'Ready',
      writer: 'engine-1',
      readyInstances: 2,
      instances: '2/2',
      storage: { nodes: 6, readyNodes: 6, ready: '6/6', zones: [{ name: 'a', nodes: 2, readyNodes: 2 }] },
      pgCount: 1,
      volumeEpoch: 1,
      membershipEpochMax: 1,
      volumeSizeBytes: 1024 ** 3,
      endpoints: { readWrite: 'demo-rw.default.svc', readOnly: 'demo-ro.default.svc' },
      lastRequest: 'northlight.dev/switchover-to=engine-2 at 2026-11-26T17:00:00Z',
      conditions: CONDITIONS.map(condition),
    };
    expect(schemaErrors(validateCluster, { ...documentWith(), status })).toBe('');
    const { reason: _reason, ...withoutReason } = condition('Ready');
    expect(
      schemaAccepts(validateCluster, { ...documentWith(), status: { conditions: [withoutReason] } }),
    ).toBe(false);
    const twice = [condition('Ready'), condition('Ready')];
    expect(schemaAccepts(validateCluster, { ...documentWith(), status: { conditions: twice } })).toBe(false);
  });
});
