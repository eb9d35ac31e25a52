// What a Workspace becomes, checked the way an admin would check it:
// objects, labels, owners, conditions, Events, and what deletion leaves.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { APPLIED_HASH } from '../../kube/apply.js';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { uniqueName } from '../harness/names.js';
import { Workspaces } from '../harness/workspaces.js';

describe('Workspace lifecycle', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  let encrypted: string;
  let plain: string;

  beforeAll(async () => {
    await installCrds();
    encrypted = await w.storageClass({ encrypted: true });
    plain = await w.storageClass({ encrypted: false });
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => {
    await operator?.stop();
  });

  const ownedBy = (obj: KubeObject | undefined, uid: string | undefined) =>
    obj?.metadata.ownerReferences?.some((r) => r.kind === 'Workspace' && r.uid === uid && r.controller === true);

  it('becomes an isolated namespace with policies, quota, limits and a volume, and reports Ready', async () => {
    const name = await w.create('life', { volume: { storageClassName: encrypted, size: '5Gi' }, tenant: 'acme' });
    const ws = await w.waitForCondition(name, 'Ready', 'True');
    const ns = namespaceOf(name);
    expect(ws.status?.phase).toBe('Ready');
    expect(ws.status?.namespace).toBe(ns);

    const namespace = await w.object('Namespace', ns);
    expect(namespace?.metadata.labels).toMatchObject({
      'holdfast.io/workspace': name,
      'holdfast.io/tenant': 'acme',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(ownedBy(namespace, ws.metadata.uid)).toBe(true);

    const policies = await w.list('NetworkPolicy', ns);
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      'allow-backup-jobs',
      'allow-database',
      'allow-database-clients',
      'allow-dns',
      'default-deny',
    ]);
    const deny = policies.find((p) => p.metadata.name === 'default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    for (const obj of [
      ...policies,
      await w.object('ResourceQuota', 'workspace', ns),
      await w.object('LimitRange', 'workspace-defaults', ns),
    ]) {
      expect(obj?.metadata.labels?.['holdfast.io/workspace']).toBe(name);
      expect(ownedBy(obj, ws.metadata.uid)).toBe(true);
    }
    const claim = await w.object('PersistentVolumeClaim', 'data', ns);
    expect(claim?.spec).toMatchObject({ storageClassName: encrypted, resources: { requests: { storage: '5Gi' } } });
    expect(w.condition(ws, 'VolumeEncrypted')).toMatchObject({ status: 'True', reason: 'ClassEncrypted' });
    // The database pod on the run's real node is the volume's first consumer: Ready means Bound.
    expect(w.condition(ws, 'VolumeReady')).toMatchObject({ status: 'True', reason: 'Bound' });
    expect((await w.events(name)).map((e) => e.reason)).toContain('Provisioned');

    // The built-in database: a StatefulSet on the data volume, two Services, credentials.
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'Running' });
    const sts = await w.object('StatefulSet', 'db', ns);
    expect(ownedBy(sts, ws.metadata.uid)).toBe(true);
    expect(JSON.stringify(sts?.spec)).toContain('"claimName":"data"');
    expect((await w.object('Service', 'db', ns))?.spec).toMatchObject({ type: 'ClusterIP' });
    expect((await w.object('Service', 'db-hl', ns))?.spec).toMatchObject({ clusterIP: 'None' });
    const app = (await w.object('Secret', 'db-app', ns)) as unknown as { data: Record<string, string> };
    expect(Buffer.from(app.data.host!, 'base64').toString()).toBe(`db.${ns}.svc`);
    expect(ws.status?.database).toMatchObject({
      mode: 'Dedicated',
      provider: 'builtin',
      secretName: 'db-app',
      version: '17',
    });

    // What a Prometheus scrape of the operator sees.
    expect((await fetch(`http://127.0.0.1:${operator.healthPort}/readyz`)).status).toBe(200);
    expect(await operator.metric('holdfast_workspaces', { phase: 'Ready' })).toBeGreaterThanOrEqual(1);
    expect(
      await operator.metric('holdfast_reconcile_total', { controller: 'workspace', result: 'success' }),
    ).toBeGreaterThan(0);
    expect(await operator.metric('holdfast_reconcile_duration_seconds_count')).toBeGreaterThan(0);
    expect(await operator.metric('holdfast_workqueue_depth')).toBe(0);
    expect(await operator.metric('holdfast_leader')).toBe(1);
  });

  it('enforces Pod Security restricted in the workspace namespace', async () => {
    const name = await w.create('psa', { volume: { storageClassName: encrypted } });
    await w.waitForCondition(name, 'Ready', 'True');
    const err = await w.rest
      .request('POST', `/api/v1/namespaces/${namespaceOf(name)}/pods`, {
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'unrestricted' },
          // Runs as root by default, may escalate, keeps capabilities.
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(err?.message).toMatch(/violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });

  it('applies a changed field, restores the default of a removed one, and writes nothing when quiet', async () => {
    const name = await w.create('update', { volume: { storageClassName: encrypted }, quota: { cpu: '2' } });
    await w.waitForCondition(name, 'Ready', 'True');
    const ns = namespaceOf(name);
    const hard = async () =>
      ((await w.object('ResourceQuota', 'workspace', ns))?.spec as { hard: Record<string, string> }).hard;
    expect((await hard())['requests.cpu']).toBe('2');

    await w.patchSpec(name, { quota: { cpu: '3' } });
    await eventually('quota cpu 3', async () => ((await hard())['requests.cpu'] === '3' ? true : undefined));
    await w.patchSpec(name, { quota: { cpu: null } });
    await eventually('quota cpu back to the default 4', async () =>
      (await hard())['requests.cpu'] === '4' ? true : undefined,
    );
    await w.waitForCondition(name, 'Ready', 'True');

    // Someone edits an owned object by hand: the operator puts it back.
    await w.rest.request('PATCH', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/default-deny`, {
      body: { spec: { policyTypes: ['Ingress'] } },
      contentType: 'application/merge-patch+json',
    });
    await eventually('default-deny restored', async () => {
      const p = await w.object('NetworkPolicy', 'default-deny', ns);
      return (p?.spec as { policyTypes: string[] }).policyTypes.length === 2 ? true : undefined;
    });

    // Quiet period: no resourceVersion of the Workspace or anything it owns moves.
    await new Promise((r) => setTimeout(r, 3000));
    const versions = async () => {
      const objs = [
        await w.get(name),
        await w.object('Namespace', ns),
        ...(await w.list('NetworkPolicy', ns)),
        ...(await w.list('ResourceQuota', ns)),
        ...(await w.list('LimitRange', ns)),
        ...(await w.list('PersistentVolumeClaim', ns)),
      ];
      return Object.fromEntries(objs.map((o) => [`${o!.kind}/${o!.metadata.name}`, o!.metadata.resourceVersion]));
    };
    const before = await versions();
    const writesBefore = await operator.metric('holdfast_api_writes_total');
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await versions()).toEqual(before);
    expect(await operator.metric('holdfast_api_writes_total')).toBe(writesBefore);
    expect((await w.object('Namespace', ns))?.metadata.annotations?.[APPLIED_HASH]).toMatch(/^[0-9a-f]{16}$/);
  });

  it('creates nothing on an unencrypted class when encryption is Required, and says what to change', async () => {
    const name = await w.create('noenc', { volume: { storageClassName: plain } });
    const ws = await w.waitForCondition(name, 'VolumeEncrypted', 'False');
    expect(w.condition(ws, 'VolumeEncrypted')?.message).toContain(
      `set spec.volume.storageClassName to an encrypted class`,
    );
    expect(w.condition(ws, 'Ready')).toMatchObject({ status: 'False', reason: 'EncryptionRequired' });
    expect(ws.status?.phase).toBe('Degraded');
    expect(await w.object('PersistentVolumeClaim', 'data', namespaceOf(name))).toBeUndefined();
    expect(await w.object('StatefulSet', 'db', namespaceOf(name))).toBeUndefined();
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ status: 'False', reason: 'WaitingForVolume' });
    await eventually('a VolumeNotEncrypted warning', async () =>
      (await w.events(name)).find((e) => e.type === 'Warning' && e.reason === 'VolumeNotEncrypted'),
    );

    // Relaxing the policy lets it proceed, with the warning kept in status.
    await w.patchSpec(name, { volume: { encryption: 'Preferred' } });
    const after = await w.waitForCondition(name, 'Ready', 'True');
    expect(w.condition(after, 'VolumeEncrypted')).toMatchObject({ status: 'False', reason: 'ClassNotEncrypted' });
    expect(w.condition(after, 'VolumeEncrypted')?.message).toContain('Preferred');
    expect(await w.object('PersistentVolumeClaim', 'data', namespaceOf(name))).toBeDefined();
  });

  it('reports a StorageClass that does not exist', async () => {
    const name = await w.create('nosc', { volume: { storageClassName: 'no-such-class' } });
    const ws = await w.waitForCondition(name, 'Ready', 'False');
    expect(w.condition(ws, 'VolumeReady')).toMatchObject({ reason: 'StorageClassNotFound' });
    expect(w.condition(ws, 'VolumeReady')?.message).toContain('StorageClass "no-such-class" does not exist');
  });

  it('shows the volume Bound once the controller manager binds it to a PersistentVolume', async () => {
    // No provisioner: the claim stays Pending until the PersistentVolume below exists.
    const cls = await w.storageClass({ encrypted: true, immediate: true, provisioner: 'kubernetes.io/no-provisioner' });
    const name = await w.create('bind', { volume: { storageClassName: cls, size: '1Gi' } });
    await w.waitForCondition(name, 'VolumeReady', 'False');
    await w.rest.request('POST', '/api/v1/persistentvolumes', {
      body: {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: `pv-${name}` },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: cls,
          // Under the run's own folder, which goes with the control plane.
          hostPath: { path: path.join(inject('controlPlaneDir'), name) },
          claimRef: { namespace: namespaceOf(name), name: 'data' },
        },
      },
    });
    // The volume, not the database: no PostgreSQL pod writes to a hand-made hostPath volume.
    const ws = await w.waitForCondition(name, 'VolumeReady', 'True', 60_000);
    expect(w.condition(ws, 'VolumeReady')).toMatchObject({ status: 'True', reason: 'Bound' });
    expect(ws.status?.volume).toMatchObject({ phase: 'Bound', encrypted: true });
  });

  it('suspend stops changes without deleting anything', async () => {
    const name = await w.create('susp', { volume: { storageClassName: encrypted }, quota: { pods: 5 } });
    await w.waitForCondition(name, 'Ready', 'True');
    await w.patchSpec(name, { suspend: true, quota: { pods: 7 } });
    await eventually('phase Suspended', async () =>
      (await w.get(name)).status?.phase === 'Suspended' ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const pods = async () =>
      ((await w.object('ResourceQuota', 'workspace', namespaceOf(name)))?.spec as { hard: { pods: string } }).hard.pods;
    expect(await pods()).toBe('5');
    await w.patchSpec(name, { suspend: false });
    await eventually('quota applied after resume', async () => ((await pods()) === '7' ? true : undefined));
    expect((await w.waitForCondition(name, 'Ready', 'True')).status?.phase).toBe('Ready');
  });

  it('deletionPolicy Retain keeps the namespace and its data, released from the Workspace', async () => {
    const name = await w.create('retain', { volume: { storageClassName: encrypted }, deletionPolicy: 'Retain' });
    await w.waitForCondition(name, 'Ready', 'True');
    await w.delete(name);
    await w.waitGone(name);
    const ns = namespaceOf(name);
    // Garbage collection would have removed them if owner references remained.
    await new Promise((r) => setTimeout(r, 3000));
    const namespace = await w.object('Namespace', ns);
    expect(namespace?.metadata.deletionTimestamp).toBeUndefined();
    expect(namespace?.metadata.ownerReferences ?? []).toEqual([]);
    expect(namespace?.metadata.annotations?.['holdfast.io/retained-from']).toContain(name);
    expect(await w.object('PersistentVolumeClaim', 'data', ns)).toBeDefined();
  });

  it('deletionPolicy Snapshot with no backup destination retains, and warns that no final backup could be taken', async () => {
    const name = await w.create('snap', { volume: { storageClassName: encrypted } });
    const ws = await w.waitForCondition(name, 'Ready', 'True');
    expect(ws.spec.deletionPolicy).toBe('Snapshot');
    await w.delete(name);
    await w.waitGone(name);
    expect((await w.object('Namespace', namespaceOf(name)))?.metadata.deletionTimestamp).toBeUndefined();
    const warning = (await w.events(name)).find((e) => e.reason === 'SnapshotNotAvailable');
    expect(warning?.type).toBe('Warning');
    expect(warning?.note).toContain('no backup can be taken (spec.backup.destinations is empty');
    expect(warning?.note).toContain('retained as with Retain');
  });

  it('deletionPolicy Delete removes the namespace and everything in it', async () => {
    const name = await w.create('del', { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    await w.waitForCondition(name, 'Ready', 'True');
    await w.delete(name);
    await w.waitGone(name, 60_000);
    await eventually(
      'namespace gone',
      async () => ((await w.object('Namespace', namespaceOf(name))) ? undefined : true),
      60_000,
    );
  });

  it('leaves a namespace it did not create alone, and deletionPolicy Delete does not delete it', async () => {
    const name = uniqueName('payments');
    const ns = namespaceOf(name);
    // Made by someone else before the Workspace, with their data in it.
    await w.rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    });
    await w.rest.request('POST', collectionPath('ConfigMap', ns), {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs' }, data: { keep: 'me' } },
    });
    await w.createNamed(name, { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    const ws = await w.waitForCondition(name, 'Ready', 'False');
    expect(ws.status?.phase).toBe('Degraded');
    expect(w.condition(ws, 'Ready')).toMatchObject({ reason: 'NotOwned' });
    expect(w.condition(ws, 'Ready')?.message).toContain(
      `Namespace ${ns} already exists and was not created by this Workspace; nothing was changed`,
    );
    const namespace = await w.object('Namespace', ns);
    expect(namespace?.metadata.ownerReferences ?? []).toEqual([]);
    expect(namespace?.metadata.labels?.['holdfast.io/workspace']).toBeUndefined();
    expect(await w.list('NetworkPolicy', ns)).toEqual([]);
    expect(await w.object('PersistentVolumeClaim', 'data', ns)).toBeUndefined();

    await w.delete(name);
    await w.waitGone(name);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await w.object('Namespace', ns))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await w.object('ConfigMap', 'theirs', ns))?.data).toEqual({ keep: 'me' });
    expect((await w.events(name)).map((e) => e.reason)).toContain('NamespaceLeftAlone');
  });

  it('a Workspace re-created with the name of a retained one gets its data only when it opts in', async () => {
    const name = await w.create('again', { volume: { storageClassName: encrypted }, deletionPolicy: 'Retain' });
    const first = await w.waitForCondition(name, 'Ready', 'True');
    const ns = namespaceOf(name);
    const claim = await w.object('PersistentVolumeClaim', 'data', ns);
    const password = ((await w.object('Secret', 'db-app', ns)) as unknown as { data: { password: string } }).data
      .password;
    await w.delete(name);
    await w.waitGone(name);

    await w.createNamed(name, { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    const second = await w.waitForCondition(name, 'Ready', 'False');
    const record = `${name}/${first.metadata.uid}`;
    expect(second.status?.phase).toBe('Degraded');
    expect(w.condition(second, 'Ready')).toMatchObject({ reason: 'NotOwned' });
    expect(w.condition(second, 'Ready')?.message).toContain(
      `kubectl annotate workspace ${name} holdfast.io/retained-from=${record}`,
    );
    // Nothing of the old data was handed over.
    await new Promise((r) => setTimeout(r, 1000));
    for (const [kind, objName] of [
      ['Namespace', ns],
      ['PersistentVolumeClaim', 'data'],
      ['Secret', 'db-app'],
    ] as const) {
      const obj = await w.object(kind, objName, kind === 'Namespace' ? undefined : ns);
      expect(obj?.metadata.ownerReferences ?? [], `${kind} ${objName}`).toEqual([]);
    }

    // The documented opt-in: the same record on the new Workspace.
    await w.rest.request('PATCH', objectPath('Workspace', name), {
      body: { metadata: { annotations: { 'holdfast.io/retained-from': record } } },
      contentType: 'application/merge-patch+json',
    });
    const reused = await eventually(
      'the retained data reused',
      async () => {
        const ws = await w.get(name);
        return w.condition(ws, 'Ready')?.status === 'True' ? ws : undefined;
      },
      30_000,
    );
    const adopted = await w.object('PersistentVolumeClaim', 'data', ns);
    expect(adopted?.metadata.uid).toBe(claim?.metadata.uid);
    expect(ownedBy(adopted, reused.metadata.uid)).toBe(true);
    expect(ownedBy(await w.object('Namespace', ns), reused.metadata.uid)).toBe(true);
    const secret = (await w.object('Secret', 'db-app', ns)) as unknown as { data: { password: string } };
    expect(secret.data.password).toBe(password);
  });

  it('a Workspace whose spec no longer validates still goes when deleted, and its data is kept', async () => {
    const name = await w.create('invalid', { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    await w.waitForCondition(name, 'Ready', 'True');
    // As a spec written under an older CRD would be: the apiserver's CEL (RE2,
    // where "." matches U+2028) accepts this recipient, the operator's schema does not.
    await w.patchSpec(name, { backup: { recipients: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 laptop\u2028key'] } });
    const invalid = await w.waitForCondition(name, 'Ready', 'False');
    expect(w.condition(invalid, 'Ready')).toMatchObject({ reason: 'InvalidSpec' });
    await w.delete(name);
    await w.waitGone(name);
    const ns = namespaceOf(name);
    await new Promise((r) => setTimeout(r, 2000));
    const namespace = await w.object('Namespace', ns);
    expect(namespace?.metadata.deletionTimestamp).toBeUndefined();
    expect(namespace?.metadata.ownerReferences ?? []).toEqual([]);
    expect(await w.object('PersistentVolumeClaim', 'data', ns)).toBeDefined();
    const warning = (await w.events(name)).find((e) => e.reason === 'RetainedInvalidSpec');
    expect(warning?.note).toContain('spec.backup.recipients');
  });
});
