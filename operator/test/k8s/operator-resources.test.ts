/**
 * The objects a DatabaseCluster owns, as pure functions of its spec: names, labels and owner
 * references from the contract; storage pods pinned to their zone with the local platform's flags;
 * engines wired to the storage Services' ClusterIPs; the role Services; budgets and policies.
 */
import { describe, expect, it } from 'vitest';
import { type ClusterSpec, validateClusterSpec } from '../../src/core/cluster-spec.js';
import { planTopology } from '../../src/core/topology.js';
import { settingsRollMessage } from '../../src/k8s/cluster-control.js';
import { specDocument } from '../../src/k8s/cluster-reconciler.js';
import {
  ANNOTATIONS,
  API_VERSION,
  COMMANDS,
  DATA_MOUNT_PATH,
  DATABASE_CLUSTER,
  dataClaimName,
  ENGINE_TLS_MOUNT_PATH,
  internalSecretName,
  LABELS,
  MANAGER,
  memberObjectName,
  PORTS,
  pgSecretName,
  readOnlyServiceName,
  readWriteServiceName,
  ZONE_LABEL,
} from '../../src/k8s/contract.js';
import {
  type ClusterContext,
  dataClaim,
  disruptionBudgets,
  enginePod,
  engineSettingsOf,
  internalSecret,
  memberService,
  networkPolicies,
  objectStorePod,
  pgSecret,
  roleService,
  SEGMENT_SIZE_ANNOTATION,
  storagePod,
  storageSettingsOf,
} from '../../src/k8s/resources.js';

function context(spec: Record<string, unknown> = {}): ClusterContext {
  const validated = validateClusterSpec(
    specDocument({
      apiVersion: API_VERSION,
      kind: DATABASE_CLUSTER.kind,
      metadata: { name: 'db1', uid: 'u-1', resourceVersion: '7', finalizers: ['x'] },
      spec: {
        engine: {
          instances: [
            { name: 'engine-1', promotionTier: 0 },
            { name: 'engine-2', promotionTier: 1 },
          ],
        },
        storage: { zones: ['a', 'b', 'c'].map((name) => ({ name, nodes: 3 })), segmentSize: '4MiB' },
        backup: { objectStore: 'none' },
        ...spec,
      },
    }),
  );
  if (!validated.ok) throw new Error(JSON.stringify(validated.error));
  const value: ClusterSpec = validated.value;
  return {
    name: 'db1',
    namespace: 'prod',
    uid: 'u-1',
    spec: value,
    topology: planTopology({ zones: value.storage.zones, engines: value.engine.instances }),
  };
}

const addresses = new Map<string, string>([
  ...['a', 'b', 'c'].flatMap((zone) =>
    [1, 2, 3].map((n, i) => [`storage-${zone}-${n}`, `10.0.${zone.charCodeAt(0)}.${i}`] as [string, string]),
  ),
  ['engine-1', '10.1.0.1'],
  ['engine-2', '10.1.0.2'],
  ['object-store', '10.2.0.1'],
]);

function argValue(args: readonly string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index < 0 ? undefined : args[index + 1];
}

describe('owned objects', () => {
  const ctx = context();

  it('validates the stored object, ignoring server-set metadata', () => {
    expect(ctx.spec.storage.segmentSizeBytes).toBe(4 * 1024 ** 2);
  });

  it('labels and owns everything through the contract', () => {
    const objects = [
      pgSecret(ctx, 'pw'),
      dataClaim(ctx, 'storage', 'storage-a-1'),
      memberService(ctx, 'storage', 'storage-a-1'),
      roleService(ctx, 'writer'),
      storagePod(ctx, 'storage-a-1', '0.1.0', addresses),
      ...disruptionBudgets(ctx),
      ...networkPolicies(ctx),
    ];
    for (const object of objects) {
      expect(object.metadata?.namespace).toBe('prod');
      expect(object.metadata?.labels?.[LABELS.cluster]).toBe('db1');
      expect(object.metadata?.labels?.[LABELS.managedBy]).toBe(MANAGER);
      expect(object.metadata?.ownerReferences).toEqual([
        {
          apiVersion: API_VERSION,
          kind: DATABASE_CLUSTER.kind,
          name: 'db1',
          uid: 'u-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });

  it('keeps the password in the Secret only', () => {
    const secret = pgSecret(ctx, 's3cret');
    expect(secret.metadata?.name).toBe(pgSecretName('db1'));
    expect(secret.stringData).toEqual({ username: 'postgres', password: 's3cret' });
    const engine = enginePod(ctx, {
      name: 'engine-1',
      role: 'writer',
      version: '0.1.0',
      writer: 'engine-1',
      addresses,
      controlUrl: 'http://10.9.9.9:7400',
    });
    expect(JSON.stringify(engine)).not.toContain('s3cret');
    expect(engine.spec?.containers[0]?.env).toContainEqual({
      name: 'NL_ENGINE_PG_PASSWORD',
      valueFrom: { secretKeyRef: { name: pgSecretName('db1'), key: 'password' } },
    });
    // The internal token (the engines' admin and replication routes) comes from a Secret of its own,
    // which an application is not given.
    const internal = internalSecret(ctx, 'internal-t0ken-0123456789');
    expect(internal.metadata?.name).toBe(internalSecretName('db1'));
    expect(internal.stringData).toEqual({ token: 'internal-t0ken-0123456789' });
    expect(JSON.stringify(engine)).not.toContain('internal-t0ken');
    expect(engine.spec?.containers[0]?.env).toContainEqual({
      name: 'NL_ENGINE_INTERNAL_TOKEN',
      valueFrom: { secretKeyRef: { name: internalSecretName('db1'), key: 'token' } },
    });
  });

  it('pins a storage pod to its zone and gives it the local flags on its pod IP and fixed ports', () => {
    const pod = storagePod(ctx, 'storage-b-2', '0.1.0', addresses);
    expect(pod.metadata?.name).toBe(memberObjectName('db1', 'storage-b-2'));
    expect(pod.metadata?.labels?.[LABELS.zone]).toBe('b');
    expect(
      pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ).toEqual([{ matchExpressions: [{ key: ZONE_LABEL, operator: 'In', values: ['b'] }] }]);
    const container = pod.spec!.containers[0]!;
    expect(container.command).toEqual([COMMANDS.storageNode]);
    const args = container.args!;
    expect(argValue(args, '--node-id')).toBe('storage-b-2');
    expect(argValue(args, '--listen-host')).toBe('$(POD_IP)');
    expect(argValue(args, '--port')).toBe(String(PORTS.storage));
    expect(argValue(args, '--admin-port')).toBe(String(PORTS.storageAdmin));
    expect(argValue(args, '--data-dir')).toBe(DATA_MOUNT_PATH);
    expect(argValue(args, '--segment-size-bytes')).toBe(String(4 * 1024 ** 2));
    expect(argValue(args, '--hydration-bytes-per-second')).toBe(
      String(ctx.spec.controlPlane.repairBandwidthPerNodeBytes),
    );
    const peers = argValue(args, '--peers')!.split(',');
    expect(peers).toHaveLength(8);
    expect(peers).toContain(`storage-a-1=${addresses.get('storage-a-1')}:${PORTS.storage}`);
    expect(peers.some((peer) => peer.startsWith('storage-b-2='))).toBe(false);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: PORTS.storageAdmin });
    // The cluster's internal token (its admin API's bearer token, its transport's key), from the Secret,
    // through the environment: never in argv, never inline.
    expect(container.env).toContainEqual({
      name: 'NORTHLIGHT_INTERNAL_TOKEN',
      valueFrom: { secretKeyRef: { name: internalSecretName('db1'), key: 'token' } },
    });
    expect(args.some((arg) => arg.includes('internal-token'))).toBe(false);
    expect(pod.spec?.volumes).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: dataClaimName('db1', 'storage-b-2') } },
    ]);
    expect(pod.spec?.restartPolicy).toBe('Always');
  });

  it('gives engines the storage ClusterIPs, and replicas the writer first', () => {
    const writer = enginePod(ctx, {
      name: 'engine-1',
      role: 'writer',
      version: '0.1.0',
      writer: 'engine-1',
      addresses,
      controlUrl: 'http://10.9.9.9:7400',
    });
    const args = writer.spec!.containers[0]!.args!;
    const storage = argValue(args, '--storage')!.split(',');
    expect(storage).toHaveLength(9);
    expect(storage[0]).toBe(
      `storage-a-1=${addresses.get('storage-a-1')}:${PORTS.storage}/${PORTS.storageAdmin}@a`,
    );
    expect(argValue(args, '--placement-url')).toBe('http://10.9.9.9:7400');
    expect(args).not.toContain('--role');
    expect(writer.metadata?.labels?.[LABELS.role]).toBe('writer');
    expect(writer.metadata?.labels?.[LABELS.promotionTier]).toBe('0');
    expect(writer.spec?.restartPolicy).toBe('Never');
    const replica = enginePod(ctx, {
      name: 'engine-1',
      role: 'replica',
      version: '0.1.0',
      writer: 'engine-2',
      addresses,
      controlUrl: 'http://10.9.9.9:7400',
    });
    const replicaArgs = replica.spec!.containers[0]!.args!;
    expect(argValue(replicaArgs, '--role')).toBe('replica');
    expect(argValue(replicaArgs, '--writer-url')).toBe(`http://10.1.0.2:${PORTS.engineHttp}`);
    expect(replica.metadata?.labels?.[LABELS.role]).toBe('replica');
  });

  /** The writer's pod input, for the tests of engine settings. */
  const input = {
    name: 'engine-1',
    role: 'writer' as const,
    version: '0.1.0',
    writer: 'engine-1',
    addresses,
    controlUrl: 'http://10.9.9.9:7400',
  };

  it('mounts the TLS Secret in engine pods and marks the pods with the setting, only when asked', () => {
    const plain = enginePod(ctx, input);
    expect(plain.spec!.containers[0]!.args).not.toContain('--pg-tls-cert');
    expect(plain.spec?.volumes?.map((volume) => volume.name)).toEqual(['data']);
    expect(plain.metadata?.annotations?.[ANNOTATIONS.engineSettings]).toBeUndefined();
    expect(engineSettingsOf(ctx.spec)).toBeUndefined();

    const withTls = context({
      engine: {
        instances: [
          { name: 'engine-1', promotionTier: 0 },
          { name: 'engine-2', promotionTier: 1 },
        ],
        tls: { secretName: 'db1-cert' },
      },
    });
    const pod = enginePod(withTls, input);
    const container = pod.spec!.containers[0]!;
    expect(argValue(container.args!, '--pg-tls-cert')).toBe(`${ENGINE_TLS_MOUNT_PATH}/tls.crt`);
    expect(argValue(container.args!, '--pg-tls-key')).toBe(`${ENGINE_TLS_MOUNT_PATH}/tls.key`);
    expect(pod.spec?.volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: 'db1-cert', defaultMode: 0o440 },
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'tls',
      mountPath: ENGINE_TLS_MOUNT_PATH,
      readOnly: true,
    });
    expect(pod.metadata?.annotations?.[ANNOTATIONS.engineSettings]).toBe('tls=db1-cert');
    expect(engineSettingsOf(withTls.spec)).toBe('tls=db1-cert');
    // Storage pods do not change with the engines' TLS.
    expect(storagePod(withTls, 'storage-a-1', '0.1.0', addresses)).toEqual(
      storagePod(ctx, 'storage-a-1', '0.1.0', addresses),
    );
  });

  it('passes the transaction mode to engines, marking the pods only when it is not the default', () => {
    expect(argValue(enginePod(ctx, input).spec!.containers[0]!.args!, '--pg-transactions')).toBe('serial');
    const instances = [
      { name: 'engine-1', promotionTier: 0 },
      { name: 'engine-2', promotionTier: 1 },
    ];
    const optimistic = context({ engine: { instances, transactions: 'optimistic' } });
    const pod = enginePod(optimistic, input);
    expect(argValue(pod.spec!.containers[0]!.args!, '--pg-transactions')).toBe('optimistic');
    // A change of mode recreates the engines in turn, as a TLS change does (cluster-control.ts).
    expect(pod.metadata?.annotations?.[ANNOTATIONS.engineSettings]).toBe('transactions=optimistic');
    const both = context({
      engine: { instances, transactions: 'optimistic', tls: { secretName: 'db1-cert' } },
    });
    expect(engineSettingsOf(both.spec)).toBe('tls=db1-cert,transactions=optimistic');
    expect(storagePod(optimistic, 'storage-a-1', '0.1.0', addresses)).toEqual(
      storagePod(ctx, 'storage-a-1', '0.1.0', addresses),
    );
  });

  it('gives every storage node and engine the transport mode, and marks the pods only when it is not the default', () => {
    const envOf = (pod: ReturnType<typeof storagePod>, name: string) =>
      pod.spec!.containers[0]!.env!.find((item) => item.name === name)?.value;
    expect(envOf(storagePod(ctx, 'storage-a-1', '0.1.0', addresses), 'NORTHLIGHT_TRANSPORT_AUTH')).toBe(
      'required',
    );
    expect(envOf(enginePod(ctx, input), 'NL_ENGINE_TRANSPORT_AUTH')).toBe('required');
    expect(storageSettingsOf(ctx.spec)).toBeUndefined();
    expect(
      storagePod(ctx, 'storage-a-1', '0.1.0', addresses).metadata?.annotations?.[ANNOTATIONS.storageSettings],
    ).toBeUndefined();

    const transition = context({ security: { transportAuthentication: 'transition' } });
    const storage = storagePod(transition, 'storage-b-2', '0.1.0', addresses);
    expect(envOf(storage, 'NORTHLIGHT_TRANSPORT_AUTH')).toBe('transition');
    // A change recreates the storage nodes zone by zone, then the engines (cluster-control.ts).
    expect(storage.metadata?.annotations?.[ANNOTATIONS.storageSettings]).toBe(
      'transportAuthentication=transition',
    );
    const engine = enginePod(transition, input);
    expect(envOf(engine, 'NL_ENGINE_TRANSPORT_AUTH')).toBe('transition');
    expect(engine.metadata?.annotations?.[ANNOTATIONS.engineSettings]).toBe(
      'transportAuthentication=transition',
    );
  });

  it('marks pods with a digest of their resources and placement, so a change of either recreates them in order', () => {
    const withResources = (memory: string) =>
      context({ resources: { storage: { requests: { cpu: '500m', memory }, limits: { memory } } } });
    const small = storageSettingsOf(withResources('1Gi').spec);
    expect(small).toMatch(/^pod=[0-9a-f]{16}$/);
    expect(storageSettingsOf(withResources('1Gi').spec)).toBe(small);
    expect(storageSettingsOf(withResources('2Gi').spec)).not.toBe(small);
    // The same requests written in another order are the same pod.
    const reordered = context({
      resources: { storage: { limits: { memory: '1Gi' }, requests: { memory: '1Gi', cpu: '500m' } } },
    });
    expect(storageSettingsOf(reordered.spec)).toBe(small);
    // The storage nodes' resources are theirs alone: the engines are not recreated for them.
    expect(engineSettingsOf(withResources('1Gi').spec)).toBeUndefined();
    expect(
      storagePod(withResources('1Gi'), 'storage-a-1', '0.1.0', addresses).metadata?.annotations?.[
        ANNOTATIONS.storageSettings
      ],
    ).toBe(small);

    // Placement reaches both components; the template's labels and annotations change nothing that runs.
    const tolerating = context({
      podTemplate: { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] },
    });
    expect(storageSettingsOf(tolerating.spec)).toMatch(/^pod=/);
    const two = [
      { key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'zone-b', operator: 'Equal', value: 'yes', effect: 'NoExecute', tolerationSeconds: 30 },
    ];
    expect(storageSettingsOf(context({ podTemplate: { tolerations: two } }).spec)).toBe(
      storageSettingsOf(context({ podTemplate: { tolerations: [two[1], two[0]] } }).spec),
    );
    expect(engineSettingsOf(tolerating.spec)).toMatch(/^pod=/);
    const labelled = context({ podTemplate: { labels: { team: 'payments' }, annotations: { a: 'b' } } });
    expect(storageSettingsOf(labelled.spec)).toBeUndefined();
    expect(engineSettingsOf(labelled.spec)).toBeUndefined();

    const all = context({
      security: { transportAuthentication: 'transition' },
      resources: { engine: { limits: { memory: '4Gi' } } },
    });
    expect(engineSettingsOf(all.spec)).toMatch(/^transportAuthentication=transition,pod=[0-9a-f]{16}$/);
    expect(storageSettingsOf(all.spec)).toBe('transportAuthentication=transition');
  });

  it('passes the staging delay to storage nodes with a bucket, and recreates them zone by zone when it changes', () => {
    const embedded = context({ backup: { objectStore: 'embedded' } });
    const args = storagePod(embedded, 'storage-a-1', '0.1.0', addresses).spec!.containers[0]!.args!;
    expect(argValue(args, '--backup-max-delay-ms')).toBe('10000');
    expect(storageSettingsOf(embedded.spec)).toBeUndefined();
    const slower = context({ backup: { objectStore: 'embedded', stagingDelay: '1m' } });
    const pod = storagePod(slower, 'storage-a-1', '0.1.0', addresses);
    expect(argValue(pod.spec!.containers[0]!.args!, '--backup-max-delay-ms')).toBe('60000');
    expect(pod.metadata?.annotations?.[ANNOTATIONS.storageSettings]).toBe('stagingDelay=1m');
    // The engines do not stage anything: they are not recreated for it.
    expect(engineSettingsOf(slower.spec)).toBeUndefined();
  });

  it('says what a roll for new settings recreates, in order', () => {
    expect(settingsRollMessage('transportAuthentication=transition', 'the defaults')).toBe(
      'recreating pods for new settings: storage nodes zone by zone (transportAuthentication=transition), then engines, replicas first, then a switchover (the defaults)',
    );
    expect(settingsRollMessage(undefined, 'tls=db1-cert')).toBe(
      'recreating pods for new settings: engines, replicas first, then a switchover (tls=db1-cert)',
    );
  });

  it('selects the writer for -rw and the replicas for -ro', () => {
    const rw = roleService(ctx, 'writer');
    const ro = roleService(ctx, 'replica');
    expect(rw.metadata?.name).toBe(readWriteServiceName('db1'));
    expect(ro.metadata?.name).toBe(readOnlyServiceName('db1'));
    expect(rw.spec?.selector).toEqual({
      [LABELS.cluster]: 'db1',
      [LABELS.component]: 'engine',
      [LABELS.role]: 'writer',
    });
    expect(ro.spec?.selector?.[LABELS.role]).toBe('replica');
    expect(rw.spec?.ports?.map((port) => port.port)).toEqual([5432, 8080]);
    expect(memberService(ctx, 'storage', 'storage-a-1').spec?.selector).toEqual({
      [LABELS.cluster]: 'db1',
      [LABELS.member]: 'storage-a-1',
    });
  });

  it('records the segment size on each storage claim and sizes it from the spec', () => {
    const sized = context({
      storage: {
        zones: ['a', 'b', 'c'].map((name) => ({ name, nodes: 2 })),
        segmentSize: '4MiB',
        volumeClaim: { size: '20GiB', storageClassName: 'fast' },
      },
    });
    const claim = dataClaim(sized, 'storage', 'storage-c-2');
    expect(claim.metadata?.annotations?.[SEGMENT_SIZE_ANNOTATION]).toBe(String(4 * 1024 ** 2));
    expect(claim.metadata?.labels?.[LABELS.zone]).toBe('c');
    expect(claim.spec?.storageClassName).toBe('fast');
    expect(claim.spec?.resources?.requests?.storage).toBe(String(20 * 1024 ** 3));
    expect(dataClaim(sized, 'engine', 'engine-1').spec?.resources?.requests?.storage).toBe('1Gi');
  });

  it('applies the pod template and resources without letting them break selectors', () => {
    const templated = context({
      podTemplate: {
        labels: { team: 'db', [LABELS.cluster]: 'evil' },
        nodeSelector: { disk: 'ssd' },
        priorityClassName: 'high',
      },
      resources: { storage: { requests: { cpu: '500m' }, limits: { memory: '1Gi' } } },
    });
    const pod = storagePod(templated, 'storage-a-1', '0.1.0', addresses);
    expect(pod.metadata?.labels?.team).toBe('db');
    expect(pod.metadata?.labels?.[LABELS.cluster]).toBe('db1');
    expect(pod.spec?.nodeSelector).toEqual({ disk: 'ssd' });
    expect(pod.spec?.priorityClassName).toBe('high');
    expect(pod.spec?.containers[0]?.resources).toEqual({
      requests: { cpu: '500m' },
      limits: { memory: '1Gi' },
    });
  });

  it('points storage at the embedded object store when the spec asks for it', () => {
    const embedded = context({ backup: { objectStore: 'embedded' } });
    const args = storagePod(embedded, 'storage-a-1', '0.1.0', addresses).spec!.containers[0]!.args!;
    expect(argValue(args, '--s3-endpoint')).toBe(`http://10.2.0.1:${PORTS.objectStore}`);
    expect(objectStorePod(embedded).spec?.containers[0]?.command).toEqual([COMMANDS.objectStore]);
  });

  it("budgets two storage pods (one zone's share of any PG) and one engine at a time", () => {
    const [storage, engine] = disruptionBudgets(ctx);
    expect(storage?.spec?.maxUnavailable).toBe(2);
    expect(engine?.spec?.maxUnavailable).toBe(1);
  });

  it('keeps the three networks apart', () => {
    const policies = Object.fromEntries(
      networkPolicies(ctx).map((policy) => [policy.metadata!.name!, policy.spec!]),
    );
    expect(policies['db1-clients-to-engines']?.ingress?.[0]?._from).toBeUndefined();
    const storage = policies['db1-engines-to-storage']!;
    expect(storage.ingress?.[0]?.ports).toEqual([{ protocol: 'TCP', port: PORTS.storage }]);
    expect(
      storage.ingress?.[0]?._from?.map((peer) => peer.podSelector?.matchLabels?.[LABELS.component]),
    ).toEqual(['engine', 'storage']);
  });
});
