// deletionPolicy Snapshot on the real node: deleting the Workspace takes a
// final backup in a pod first, and deletes nothing while that backup fails;
// once it is stored, the database goes and the archive (the backup log, the
// workspace key, the copies) stays until spec.retention.afterDeletion, then is
// erased with an Event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startS3, testS3Client, type TestS3 } from '../harness/s3.js';
import { Workspaces, type WireWorkspace } from '../harness/workspaces.js';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';

const BUCKET = 'snapshots';

type BackupObject = KubeObject & { spec: { reason: string }; status?: BackupResourceStatus };

describe('deletionPolicy Snapshot on the real node', { timeout: 900_000 }, () => {
  const w = new Workspaces();
  let s3: TestS3;
  let operator: RunningOperator;
  let name: string;
  let ns: string;
  const destination = uniqueName('archive');
  const credsNamespace = uniqueName('holdfast-creds');

  beforeAll(async () => {
    await installCrds();
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket(BUCKET);
    const nodes = await w.rest.get<{ items: { status: { addresses: { type: string; address: string }[] } }[] }>(
      '/api/v1/nodes',
    );
    const nodeIp = nodes.items[0]!.status.addresses.find((a) => a.type === 'InternalIP')!.address;
    await w.rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: credsNamespace } },
    });
    await w.rest.request('POST', collectionPath('Secret', credsNamespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's3', namespace: credsNamespace },
        stringData: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    });
    await w.rest.request('POST', collectionPath('BackupDestination'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'BackupDestination',
        metadata: { name: destination },
        spec: {
          s3: {
            endpoint: `http://${nodeIp}:${s3.port}`,
            bucket: BUCKET,
            credentialsSecretRef: { name: 's3', namespace: credsNamespace },
          },
        },
      },
    });
    operator = await startOperator({
      selector: w.selector,
      leaseName: w.run,
      env: { HOLDFAST_IMAGE: process.env.HOLDFAST_TEST_IMAGE ?? 'localhost/holdfast:dev' },
    });
    const encrypted = await w.storageClass({ encrypted: true });
    name = await w.create('snap', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Snapshot',
      retention: { afterDeletion: '40s' },
      backup: { destinations: [{ name: destination }] },
    });
    ns = namespaceOf(name);
  });
  afterAll(async () => {
    await operator?.stop();
    await w.rest.request('DELETE', objectPath('Namespace', ns)).catch(() => undefined);
    await w.rest.request('DELETE', objectPath('BackupDestination', destination)).catch(() => undefined);
    await w.rest.request('DELETE', objectPath('Namespace', credsNamespace)).catch(() => undefined);
    await s3?.stop();
  });

  const objectsInBucket = async () => {
    const listed = await testS3Client(s3).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${name}/` }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  };

  it('takes a final backup before deleting, and deletes nothing while it fails', async () => {
    await w.waitForCondition(name, 'BackupScheduled', 'True', 240_000);
    await w.waitForCondition(name, 'Ready', 'True', 240_000);
    const final = `${name}-final`;

    // The object store down: the final backup cannot be stored anywhere.
    await s3.kill();
    await kubectl('delete', 'workspace', name, '--wait=false');
    const blocked = await eventually(
      'Ready=False FinalBackupFailed',
      async () => {
        const ws = await w.rest.get<WireWorkspace>(objectPath('Workspace', name));
        const ready = w.condition(ws, 'Ready');
        if (ready?.reason === 'FinalBackupFailed') return ready;
        throw new Error(`last seen Ready=${ready?.status} ${ready?.reason}: ${ready?.message}`);
      },
      300_000,
    );
    expect(blocked.message).toContain(`kubectl delete backup -n ${ns} ${final}`);
    // Its Job has given up (its retries failed too); the database is still there.
    await eventually(
      'the final backup Job to fail',
      async () => {
        const job = await w.rest.find<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
          objectPath('Job', `backup-${final}`, ns),
        );
        return job?.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') ? job : undefined;
      },
      300_000,
    );
    expect(await w.rest.find(objectPath('StatefulSet', 'db', ns))).toBeDefined();
    expect(await w.rest.find(objectPath('Workspace', name))).toBeDefined();

    // Fixed, and asked again the way the condition says.
    await s3.restart();
    await kubectl('delete', 'backup', '-n', ns, final);
    await w.waitGone(name, 300_000);

    const backup = await w.rest.get<BackupObject>(objectPath('Backup', final, ns));
    expect(backup.spec.reason).toBe('BeforeDeletion');
    expect(backup.status).toMatchObject({ phase: 'Succeeded', copiesText: '1/1' });
    expect(await objectsInBucket()).toEqual(
      [backup.status!.artifact!, backup.status!.artifact!.replace(/\.dump\.age$/, '.json')].sort(),
    );
  });

  it('keeps the archive and erases the rest, then erases the archive after retention.afterDeletion', async () => {
    const namespace = await w.rest.get<KubeObject>(objectPath('Namespace', ns));
    expect(namespace.metadata.ownerReferences ?? []).toEqual([]);
    expect(namespace.metadata.annotations?.['holdfast.io/erase-after']).toMatch(/^\d{4}-/);
    // The database and its volume are gone; the workspace key and the backup log stay.
    await eventually('the database gone', async () =>
      (await w.rest.find(objectPath('StatefulSet', 'db', ns))) ? undefined : true,
    );
    const claims = await w.list('PersistentVolumeClaim', ns);
    expect(claims.filter((c) => !c.metadata.deletionTimestamp).map((c) => c.metadata.name)).toEqual([]);
    const key = await w.rest.get<KubeObject>(objectPath('Secret', 'backup-key', ns));
    expect(key.metadata.ownerReferences ?? []).toEqual([]);
    expect(await kubectl('get', 'backups', '-n', ns)).toMatch(/-final\s+Succeeded\s+BeforeDeletion/);
    const archived = (await w.events(name)).find((e) => e.reason === 'Archived');
    expect(archived?.note).toContain(`until ${namespace.metadata.annotations!['holdfast.io/erase-after']}`);

    // Then, after 40 s, erased: every copy, then the namespace, with an Event that records it.
    await eventually(
      'the archive erased',
      async () => ((await objectsInBucket()).length === 0 ? true : undefined),
      180_000,
    );
    await eventually(
      'the namespace gone',
      async () => ((await w.rest.find(objectPath('Namespace', ns))) ? undefined : true),
      180_000,
    );
    const events = await w.rest.get<{
      items: { reason: string; note?: string; regarding?: { kind?: string; name?: string } }[];
    }>('/apis/events.k8s.io/v1/namespaces/default/events');
    const erased = events.items.find((e) => e.reason === 'ArchiveErased' && e.regarding?.name === ns);
    expect(erased?.note).toMatch(new RegExp(`archive of workspace ${name}/\\S+ was erased .*1 backups, 1 copies`));
  });
});
