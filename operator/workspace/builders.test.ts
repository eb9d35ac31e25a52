import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../api/workspace.js';
import { setCondition } from './conditions.js';
import { desiredNamespace } from './namespace/desired.js';
import { desiredNetworkPolicies } from './network/desired.js';
import { desiredLimitRange, desiredResourceQuota } from './quota/desired.js';
import { decideVolume } from './volume/check.js';
import { chooseStorageClass, encryptionOf, type StorageClass } from './volume/desired.js';

function workspace(spec: Record<string, unknown> = {}, name = 'acme'): Workspace {
  return {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name, uid: 'uid-1', generation: 1 },
    spec: WorkspaceSpec.parse(spec),
  };
}
function sc(name: string, opts: Partial<StorageClass> & { annotations?: Record<string, string> } = {}): StorageClass {
  const { annotations, ...rest } = opts;
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    provisioner: 'x',
    ...rest,
  };
}

describe('desiredNamespace', () => {
  it('enforces Pod Security restricted and is owned by the workspace', () => {
    const ns = desiredNamespace(workspace({ tenant: 'blue' }));
    expect(ns.metadata.name).toBe('ws-acme');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'holdfast.io/workspace': 'acme',
      'holdfast.io/tenant': 'blue',
    });
    expect(ns.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Workspace',
        name: 'acme',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });
});

describe('desiredNetworkPolicies', () => {
  const noPeers = { apiServer: [], cnpgNamespace: 'cnpg-system' };
  it('denies all traffic by default and allows DNS and the database by name', () => {
    const byName = Object.fromEntries(
      desiredNetworkPolicies(workspace(), noPeers).map((p) => [p.metadata.name, p.spec]),
    );
    expect(byName['default-deny']).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(JSON.stringify(byName['allow-dns'])).toContain('"port":53');
    expect(byName['allow-database']).toMatchObject({
      podSelector: { matchLabels: { 'holdfast.io/component': 'database' } },
      policyTypes: ['Ingress'],
    });
  });
  it('opens HTTPS for backup jobs only when there are destinations', () => {
    const egress = (spec: Record<string, unknown>) =>
      (
        desiredNetworkPolicies(workspace(spec), noPeers).find((p) => p.metadata.name === 'allow-backup-jobs')!.spec
          .egress as unknown[]
      ).length;
    expect(egress({})).toBe(1);
    expect(egress({ backup: { destinations: [{ name: 's3' }] } })).toBe(2);
  });
});

describe('quota', () => {
  it('takes the spec values and defaults', () => {
    expect(desiredResourceQuota(workspace({ quota: { cpu: '2' } })).spec).toMatchObject({
      hard: { 'requests.cpu': '2', 'requests.memory': '8Gi', pods: '20', 'services.loadbalancers': '0' },
    });
    expect(JSON.stringify(desiredLimitRange(workspace()).spec)).toContain('"defaultRequest"');
  });
});

describe('StorageClass encryption rule', () => {
  it.each([
    [sc('a', { annotations: { 'holdfast.io/encrypted': 'true' } }), true],
    [sc('b', { parameters: { encrypted: 'true' } }), true],
    [sc('c', { parameters: { kmsKeyId: 'arn:aws:kms:x' } }), true],
    [sc('d', { parameters: { encrypted: 'true' }, annotations: { 'holdfast.io/encrypted': 'false' } }), false],
    [sc('e'), false],
  ])('%#', (cls, expected) => {
    expect(encryptionOf(cls).encrypted).toBe(expected);
  });

  it('uses the single default class when none is named', () => {
    const def = sc('def', { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } });
    expect(chooseStorageClass(workspace(), [sc('x'), def]).storageClass?.metadata.name).toBe('def');
    expect(chooseStorageClass(workspace(), [sc('x')]).problem?.reason).toBe('NoDefaultStorageClass');
  });
});

describe('decideVolume', () => {
  it('creates nothing when encryption is Required and the class is not encrypted', () => {
    const d = decideVolume({
      ws: workspace({ volume: { storageClassName: 'plain' } }),
      classes: [sc('plain')],
      claim: undefined,
    });
    expect(d.desired).toBeUndefined();
    expect(d.conditions.find((c) => c.type === 'VolumeEncrypted')).toMatchObject({
      status: 'False',
      reason: 'ClassNotEncrypted',
    });
    expect(d.warning?.message).toContain('spec.volume.encryption: Preferred');
  });
  it('proceeds with a warning when encryption is Preferred', () => {
    const d = decideVolume({
      ws: workspace({ volume: { storageClassName: 'plain', encryption: 'Preferred' } }),
      classes: [sc('plain')],
      claim: undefined,
    });
    expect(d.desired?.spec).toMatchObject({ storageClassName: 'plain', resources: { requests: { storage: '10Gi' } } });
    expect(d.warning?.reason).toBe('VolumeNotEncrypted');
  });
  it('is ready when bound, or when the class waits for the first consumer', () => {
    const ws = workspace({ volume: { storageClassName: 'enc' } });
    const enc = sc('enc', { parameters: { encrypted: 'true' }, volumeBindingMode: 'WaitForFirstConsumer' });
    expect(
      decideVolume({ ws, classes: [enc], claim: undefined }).conditions.find((c) => c.type === 'VolumeReady')?.reason,
    ).toBe('WaitingForFirstConsumer');
    const bound = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data' },
      status: { phase: 'Bound' },
    };
    expect(
      decideVolume({ ws, classes: [sc('enc', { parameters: { encrypted: 'true' } })], claim: bound }).conditions.find(
        (c) => c.type === 'VolumeReady',
      )?.reason,
    ).toBe('Bound');
  });
});

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status holds, and moves it on a change', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const t1 = new Date('2026-01-02T00:00:00Z');
    let list = setCondition([], { type: 'Ready', status: 'True', reason: 'A', message: 'a' }, 1, t0);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'B', message: 'b' }, 2, t1);
    expect(list[0]).toMatchObject({ reason: 'B', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 });
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'C', message: 'c' }, 2, t1);
    expect(list[0]?.lastTransitionTime).toBe('2026-01-02T00:00:00Z');
  });
});
