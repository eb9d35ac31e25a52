// Scheduled backups on the real node: the operator makes the CronJob, the
// CronJob a Job, the Job a Pod from the Holdfast image, and the Pod runs
// `holdfast backup` against the workspace's Dedicated PostgreSQL pod, to a
// versitygw S3 server on the node's address, and records a Backup. The
// customer's age identity decrypts the copy; pg_restore reads it.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { Workspaces } from '../harness/workspaces.js';

const run = promisify(execFile);
const BUCKET = 'workspace-backups';

type BackupObject = KubeObject & { spec: { reason: string }; status?: BackupResourceStatus };

describe('scheduled backups on the real node', { timeout: 600_000 }, () => {
  const w = new Workspaces();
  let s3: TestS3;
  let operator: RunningOperator;
  let dir: string;
  let escrowFile: string;
  let name: string;
  let ns: string;
  const destination = uniqueName('offsite');
  const credsNamespace = uniqueName('holdfast-creds');

  beforeAll(async () => {
    await installCrds();
    // Pods reach it on the node's own address, as they would an object store outside the cluster.
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket(BUCKET);
    const nodes = await w.rest.get<{ items: { status: { addresses: { type: string; address: string }[] } }[] }>(
      '/api/v1/nodes',
    );
    const nodeIp = nodes.items[0]!.status.addresses.find((a) => a.type === 'InternalIP')!.address;
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-schedule-'));
    escrowFile = path.join(dir, 'escrow.txt');
    await run('age-keygen', ['-o', escrowFile]);
    const escrow = (await readFile(escrowFile, 'utf8')).match(/public key: (age1\S+)/)![1]!;

    await w.rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: credsNamespace } },
    });
    await w.rest.request('POST', collectionPath('Secret', credsNamespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'offsite-s3', namespace: credsNamespace },
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
            prefix: 'cluster-a/',
            credentialsSecretRef: { name: 'offsite-s3', namespace: credsNamespace },
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
    name = await w.create('sched', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Delete',
      backup: { destinations: [{ name: destination }], recipients: [escrow], retention: { daily: 7 } },
    });
    ns = namespaceOf(name);
  });
  afterAll(async () => {
    if (name) await w.delete(name);
    await operator?.stop();
    await w.rest.request('DELETE', objectPath('BackupDestination', destination)).catch(() => undefined);
    await w.rest.request('DELETE', objectPath('Namespace', credsNamespace)).catch(() => undefined);
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const backups = async () =>
    (await w.rest.get<{ items: BackupObject[] }>(collectionPath('Backup', ns))).items.sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );

  it('a Job made from the CronJob backs the database up to S3, where the escrow key decrypts it', async () => {
    const scheduled = await w.waitForCondition(name, 'BackupScheduled', 'True', 240_000);
    expect(w.condition(scheduled, 'BackupScheduled')?.message).toContain(destination);
    await w.waitForCondition(name, 'Ready', 'True', 240_000);

    await kubectl('create', 'job', '--from=cronjob/backup', 'backup-now', '-n', ns);
    const done = await eventually(
      'a finished Backup',
      async () => {
        const b = (await backups())[0];
        if (b?.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
        return b?.status?.phase === 'Succeeded' ? b : undefined;
      },
      300_000,
    );
    expect(done.status).toMatchObject({ copiesText: '1/1', tables: expect.any(Number) as number });

    // The copy at the destination, decrypted by the customer's escrow key, is a pg_dump archive.
    const folder = path.join(s3.dataDir, BUCKET, 'cluster-a', path.dirname(done.status!.artifact!));
    const files = (await readdir(folder)).sort();
    expect(files).toEqual([`${done.metadata.name}.dump.age`, `${done.metadata.name}.json`]);
    const manifest = JSON.parse(await readFile(path.join(folder, files[1]!), 'utf8')) as { sha256: string };
    expect(manifest.sha256).toBe(done.status!.sha256);
    const dump = path.join(dir, 'restored.dump');
    await run('age', ['-d', '-i', escrowFile, '-o', dump, path.join(folder, files[0]!)]);
    // A pg_dump custom-format archive (PostgreSQL 17's pg_dump, whose pg_restore reads it; the
    // restore itself is tested against this machine's PostgreSQL in backup-runner.test.ts).
    const head = (await readFile(dump)).subarray(0, 5).toString('latin1');
    expect(head).toBe('PGDMP');

    const ws = await w.waitForCondition(name, 'LastBackupSucceeded', 'True');
    expect(ws.status?.lastBackupTime).toBe(done.status!.completedAt);
    expect(await kubectl('get', 'backups', '-n', ns)).toMatch(/Succeeded\s+Scheduled\s+\S+ \w+\s+\d+\s+1\/1/);
  });

  it('the CronJob runs on its schedule', async () => {
    const before = new Set((await backups()).map((b) => b.metadata.name));
    await w.patchSpec(name, { backup: { schedule: '* * * * *' } });
    const jobs = await eventually(
      'a Job the CronJob started',
      async () => {
        const list = await w.rest.get<{ items: KubeObject[] }>(collectionPath('Job', ns));
        // Named by the CronJob controller after the scheduled minute (backup-now was made by hand).
        const own = list.items.filter(
          (j) => /^backup-\d+$/.test(j.metadata.name) && j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob'),
        );
        return own.length > 0 ? own : undefined;
      },
      150_000,
    );
    expect(jobs[0]!.metadata.name).toMatch(/^backup-\d+$/);
    // Its own Backup (retention may since have pruned the earlier one of the same day).
    const scheduled = await eventually(
      'the Backup of the scheduled run',
      async () => {
        const fresh = (await backups()).find((b) => !before.has(b.metadata.name));
        if (fresh?.status?.phase === 'Failed') throw new Error(`the backup failed: ${fresh.status.message}`);
        return fresh?.status?.phase === 'Succeeded' ? fresh : undefined;
      },
      300_000,
    );
    expect(scheduled.spec.reason).toBe('Scheduled');
  });
});
