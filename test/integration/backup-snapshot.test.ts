// deletionPolicy Snapshot on the real node: deleting the Workspace takes a
// final backup in a pod first, and deletes nothing while that backup fails;
// once it is stored, the database goes and the archive (the backup log, the
// workspace key, the copies) stays until spec.retention.afterDeletion, then is
// erased with an Event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectPath, type KubeObject } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { TestDestinations } from '../harness/destinations.js';
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
  const destinations = new TestDestinations(w.rest);
  let destination: string;
  let onVolume: string;

  beforeAll(async () => {
    await installCrds();
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket(BUCKET);
    destination = await destinations.s3(s3, BUCKET, { name: uniqueName('archive') });
    operator = await startOperator({
      selector: w.selector,
      leaseName: w.run,
      env: { HOLDFAST_IMAGE: process.env.HOLDFAST_TEST_IMAGE ?? 'localhost/holdfast:dev' },
    });
    const encrypted = await w.storageClass({ encrypted: true });
    onVolume = await destinations.volume(encrypted);
    name = await w.create('snap', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Snapshot',
      retention: { afterDeletion: '90s' },
      backup: { destinations: [{ name: destination }, { name: onVolume }] },
    });
    ns = namespaceOf(name);
  });
  afterAll(async () => {
    await operator?.stop();
    await w.rest.request('DELETE', objectPath('Namespace', ns)).catch(() => undefined);
    await destinations.remove();
    await s3?.stop();
  });

  const objectsInBucket = async () => {
    const listed = await testS3Client(s3).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${name}/` }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  };

  it('takes a final backup before deleting, and deletes nothing while it fails', async () => {
    await w.waitForCondition(name, 'BackupScheduled', 'True', 240_000);
    const ready = await w.waitForCondition(name, 'Ready', 'True', 240_000);
    const final = `${name}-final-${ready.metadata.uid!.slice(0, 8)}`;

    // The object store down: the final backup is stored on the volume only,
    // and as the last copy of the data it must be stored everywhere.
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
    expect(blocked.message).toContain(`the final backup ${final} was stored at 1/2 destinations only`);
    expect(blocked.message).toContain(`kubectl delete backup -n ${ns} ${final}`);
    // Its Job has ended (a backup stored somewhere is not taken again); the database is still there.
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
    expect(backup.status).toMatchObject({ phase: 'Succeeded', copiesText: '2/2' });
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
    // Of the volumes, only the backup volume stays, released from the Workspace.
    const claims = await eventually('only the backup volume left', async () => {
      const left = (await w.list('PersistentVolumeClaim', ns)).filter((c) => !c.metadata.deletionTimestamp);
      return left.length === 1 ? left : undefined;
    });
    expect(claims[0]!.metadata.name).toBe(`backup-${onVolume}`);
    expect(claims[0]!.metadata.ownerReferences ?? []).toEqual([]);
    const key = await w.rest.get<KubeObject>(objectPath('Secret', 'backup-key', ns));
    expect(key.metadata.ownerReferences ?? []).toEqual([]);
    expect(await kubectl('get', 'backups', '-n', ns)).toMatch(/-final-\w+\s+Succeeded\s+BeforeDeletion\s+.*2\/2/);
    const archived = (await w.events(name)).find((e) => e.reason === 'Archived');
    expect(archived?.note).toContain(`until ${namespace.metadata.annotations!['holdfast.io/erase-after']}`);

    // A Workspace of the same name meanwhile takes nothing of the archive, and says why.
    await w.createNamed(name, { deletionPolicy: 'Retain' });
    const blocked = await w.waitForCondition(name, 'Ready', 'False');
    expect(w.condition(blocked, 'Ready')).toMatchObject({ reason: 'NotOwned' });
    expect(w.condition(blocked, 'Ready')?.message).toContain(
      `is the archive of the deleted Workspace ${namespace.metadata.annotations!['holdfast.io/archive-of']}`,
    );
    await w.delete(name);
    await w.waitGone(name);
    expect((await w.rest.get<KubeObject>(objectPath('Namespace', ns))).metadata.ownerReferences ?? []).toEqual([]);

    // Then, 90 s after the deletion, erased: every copy, then the namespace, with an Event that records it.
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
