// provider: cloudnative-pg against CloudNativePG's real CRDs: the Cluster the
// operator writes is accepted, and its status (set here as CloudNativePG's
// controller would, since its pods cannot run) becomes DatabaseReady.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { collectionPath, objectPath } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { installCrds, installThirdPartyCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { Workspaces } from '../harness/workspaces.js';

describe('CloudNativePG provider', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  let encrypted: string;
  beforeAll(async () => {
    await installCrds();
    encrypted = await w.storageClass({ encrypted: true });
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => operator?.stop());

  const cnpg = { database: { provider: 'cloudnative-pg', instances: 3, storage: '20Gi', version: '16' } };

  it('says so when CloudNativePG is not installed', async () => {
    const name = await w.create('nocnpg', { ...cnpg, volume: { storageClassName: encrypted } });
    const ws = await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ reason: 'CloudNativePGNotInstalled' });
    expect(w.condition(ws, 'Ready')?.status).toBe('False');
    expect(ws.status?.phase).toBe('Degraded');
  });

  it('writes a Cluster the real CRD accepts and follows its readiness', async () => {
    await installThirdPartyCrds('cloudnative-pg-crds');

    const name = await w.create('cnpg', { ...cnpg, volume: { storageClassName: encrypted } });
    const ns = namespaceOf(name);
    const cluster = (await eventually('the Cluster', async () => w.object('Cluster', 'db', ns), 30_000)) as unknown as {
      spec: Record<string, unknown>;
    };
    expect(cluster.spec).toMatchObject({
      instances: 3,
      imageName: 'ghcr.io/cloudnative-pg/postgresql:16',
      storage: { size: '20Gi', storageClass: encrypted },
      certificates: { serverTLSSecret: 'db-tls', serverCASecret: 'db-tls' },
      bootstrap: { initdb: { database: 'app', owner: 'app', secret: { name: 'db-app' } } },
    });
    const app = (await w.object('Secret', 'db-app', ns)) as unknown as { type: string; data: Record<string, string> };
    expect(app.type).toBe('kubernetes.io/basic-auth');
    expect(Buffer.from(app.data.host!, 'base64').toString()).toBe(`db-rw.${ns}.svc`);
    const tls = (await w.object('Secret', 'db-tls', ns)) as unknown as { data: Record<string, string> };
    const { certInfo } = await import('../../operator/tls/x509.js');
    expect(certInfo(Buffer.from(tls.data['tls.crt']!, 'base64').toString()).dnsNames).toEqual(
      expect.arrayContaining([`db-rw.${ns}.svc`, `db-ro.${ns}.svc`]),
    );
    expect(w.condition(await w.get(name), 'DatabaseReady')).toMatchObject({
      status: 'False',
      reason: 'ClusterNotReady',
    });

    // What CloudNativePG's controller reports once the instances run.
    await w.rest.request('PATCH', `${objectPath('Cluster', 'db', ns)}/status`, {
      body: {
        status: {
          instances: 3,
          readyInstances: 3,
          phase: 'Cluster in healthy state',
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'ClusterIsReady',
              message: 'Cluster is Ready',
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
        },
      },
      contentType: 'application/merge-patch+json',
    });
    const ready = await w.waitForCondition(name, 'Ready', 'True', 40_000);
    expect(w.condition(ready, 'DatabaseReady')?.message).toContain('3/3 instances ready');
    expect(ready.status?.database).toMatchObject({
      provider: 'cloudnative-pg',
      host: `db-rw.${ns}.svc`,
      secretName: 'db-app',
    });
  });

  // Retain releases every object of every kind in the namespace, whatever its
  // API group; cert-manager's CRDs stay out of this file because tls.test.ts
  // checks, at the same time, what happens while they are absent.
  it('deletionPolicy Retain keeps the Cluster and its volumes', async () => {
    await installThirdPartyCrds('cloudnative-pg-crds');
    const name = await w.create('cnpgkeep', {
      ...cnpg,
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Retain',
    });
    const ns = namespaceOf(name);
    const cluster = await eventually('the Cluster', async () => w.object('Cluster', 'db', ns), 30_000);
    // A volume as CloudNativePG makes one for an instance: owned by the Cluster.
    await w.rest.request('POST', collectionPath('PersistentVolumeClaim', ns), {
      body: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: 'db-1',
          labels: { 'cnpg.io/cluster': 'db', 'cnpg.io/instanceName': 'db-1', 'cnpg.io/pvcRole': 'PG_DATA' },
          ownerReferences: [
            {
              apiVersion: 'postgresql.cnpg.io/v1',
              kind: 'Cluster',
              name: 'db',
              uid: cluster.metadata.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: encrypted,
          resources: { requests: { storage: '20Gi' } },
        },
      },
    });

    await w.delete(name);
    await w.waitGone(name);
    // The garbage collector acts within a second or two on what still has an owner.
    await new Promise((r) => setTimeout(r, 5000));
    for (const [kind, objName] of [
      ['Cluster', 'db'],
      ['PersistentVolumeClaim', 'db-1'],
      ['PersistentVolumeClaim', 'data'],
      ['Secret', 'db-app'],
    ] as const) {
      const obj = await w.object(kind, objName, ns);
      expect(obj, `${kind} ${objName}`).toBeDefined();
      expect(obj?.metadata.deletionTimestamp, `${kind} ${objName}`).toBeUndefined();
    }
    const kept = await w.object('Cluster', 'db', ns);
    expect(kept?.metadata.ownerReferences ?? []).toEqual([]);
    expect(kept?.metadata.annotations?.['holdfast.io/retained-from']).toBe(
      `${name}/${cluster.metadata.ownerReferences![0]!.uid}`,
    );
  });
});
