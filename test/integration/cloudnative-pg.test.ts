// provider: cloudnative-pg against CloudNativePG's real CRDs: the Cluster the
// operator writes is accepted, and its status (set first as CloudNativePG's
// controller would) becomes DatabaseReady. Then the real CloudNativePG
// operator on the run's node: the Cluster runs PostgreSQL 17 in a pod, a
// client connects with db-app over verify-full through the workspace's
// NetworkPolicies, and the backup CronJob's Job backs it up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { APP_SECRET } from '../../operator/workspace/database/shared.js';
import { DATABASE_ACCESS_LABEL } from '../../operator/workspace/network/desired.js';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import { installCloudNativePG, LOCAL_CNPG_POSTGRES, type InstalledCloudNativePG } from '../harness/cloudnative-pg.js';
import { TestDestinations } from '../harness/destinations.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, installThirdPartyCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { appClientPod, runPod } from '../harness/pods.js';
import { startS3, type TestS3 } from '../harness/s3.js';
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

// After the tests above in this file: they check what happens while
// CloudNativePG's CRDs are absent, and its operator installs them all.
describe('CloudNativePG provider with the real CloudNativePG operator on the node', { timeout: 600_000 }, () => {
  const w = new Workspaces();
  const destinations = new TestDestinations(w.rest);
  // Named ahead: the CloudNativePG operator watches this workspace's namespace only.
  const name = uniqueName('cnpgrun');
  const ns = namespaceOf(name);
  let operator: RunningOperator | undefined;
  let cnpg: InstalledCloudNativePG | undefined;
  let s3: TestS3 | undefined;
  let offsite: string;
  let onVolume: string;
  let storageClassName: string;

  beforeAll(async () => {
    await installCrds();
    storageClassName = await w.storageClass({ encrypted: true });
    onVolume = await destinations.volume(storageClassName);
    // Pods reach it on the node's address, as they would an object store outside the cluster.
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket('cnpg-archive');
    offsite = await destinations.s3(s3, 'cnpg-archive', { prefix: 'site-a/' });
    const started = Date.now();
    cnpg = await installCloudNativePG([ns]);
    console.log(
      `CloudNativePG ${cnpg.version}: operator available with its webhooks ${Date.now() - started} ms after apply`,
    );
    operator = await startOperator({
      selector: w.selector,
      leaseName: w.run,
      name: 'cnpg-real',
      env: {
        HOLDFAST_CNPG_IMAGE: LOCAL_CNPG_POSTGRES,
        HOLDFAST_IMAGE: process.env.HOLDFAST_TEST_IMAGE ?? 'localhost/holdfast:dev',
      },
    });
    // CloudNativePG's install and the operator's start (tsx compiles it) each take minutes on a busy machine.
  }, 300_000);
  afterAll(async () => {
    await w.delete(name);
    // The Workspace's namespace goes with its Clusters, their pods and volumes.
    await w.waitGone(name, 180_000).catch(() => undefined);
    await operator?.stop();
    await cnpg?.remove();
    await destinations.remove();
    await s3?.stop();
  }, 300_000);

  it('runs the Cluster as a PostgreSQL pod, reached with db-app over verify-full', async () => {
    const started = Date.now();
    await w.createNamed(name, {
      database: { provider: 'cloudnative-pg', instances: 1, storage: '1Gi', version: '17' },
      volume: { storageClassName },
      deletionPolicy: 'Delete',
      backup: { destinations: [{ name: offsite }, { name: onVolume }], pointInTime: { destination: offsite } },
    });
    const ready = await w.waitForCondition(name, 'Ready', 'True', 300_000);
    const readyMs = Date.now() - started;
    expect(w.condition(ready, 'DatabaseReady')?.message).toContain('1/1 instances ready');

    // CloudNativePG's own pod, from the local image, on a volume of the workspace's class.
    const pod = (await w.object('Pod', 'db-1', ns)) as
      (KubeObject & { spec: { containers: { image: string }[] }; status: { phase: string } }) | undefined;
    expect(pod?.spec.containers[0]?.image).toBe(`${LOCAL_CNPG_POSTGRES}:17`);
    expect(pod?.status.phase).toBe('Running');
    const claim = (await w.object('PersistentVolumeClaim', 'db-1', ns)) as
      (KubeObject & { spec: { storageClassName: string }; status: { phase: string } }) | undefined;
    expect(claim?.spec.storageClassName).toBe(storageClassName);
    expect(claim?.status.phase).toBe('Bound');

    const client = await appClientPod(
      ns,
      'client',
      `-v ON_ERROR_STOP=1 -tA \
          -c "select ssl from pg_stat_ssl where pid = pg_backend_pid()" \
          -c "select current_user, current_database(), current_setting('server_version_num')" \
          -c "create table hours (id int primary key, note text)" \
          -c "insert into hours select g, 'hour ' || g from generate_series(1, 1234) g"`,
    );
    expect(client.phase, client.log).toBe('Succeeded');
    expect(client.log).toMatch(/^t$/m);
    expect(client.log).toMatch(/^app\|app\|17\d{4}$/m);
    expect(client.log).toMatch(/^INSERT 0 1234$/m);

    // Without the label, the workspace's policies keep a pod of its own
    // namespace out (kube-router rejects): no password prompt, where the
    // client above, at the same address, was let in.
    const stranger = await runPod({
      namespace: ns,
      name: 'stranger',
      script: `psql "host=db-rw.${ns}.svc dbname=app user=nobody sslmode=require connect_timeout=2" -c 'select 1' 2>&1 </dev/null; exit 0`,
    });
    expect(stranger.log).toMatch(/Connection refused|timeout expired/);
    expect(stranger.log).not.toMatch(/password|authentication/);

    const created = await w.rest.get<KubeObject & { metadata: { creationTimestamp: string } }>(
      objectPath('Cluster', 'db', ns),
    );
    console.log(
      `CloudNativePG workspace Ready ${readyMs} ms after create (Cluster created ${created.metadata.creationTimestamp});` +
        ` client pod started in ${client.startMs} ms`,
    );
  });

  it('backs the Cluster up from a Job made from the backup CronJob', async () => {
    await w.waitForCondition(name, 'BackupScheduled', 'True', 120_000);
    await kubectl('create', 'job', '--from=cronjob/backup', 'backup-now', '-n', ns);
    const done = await eventually(
      'a finished Backup',
      async () => {
        const b = (
          await w.rest.get<{ items: (KubeObject & { status?: BackupResourceStatus })[] }>(collectionPath('Backup', ns))
        ).items[0];
        if (b?.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
        return b?.status?.phase === 'Succeeded' ? b : undefined;
      },
      300_000,
    );
    expect(done.status).toMatchObject({ copiesText: '2/2', rows: 1234, tables: 1 });
    expect(done.status?.serverVersion).toMatch(/^17\./);
    const ws = await w.waitForCondition(name, 'LastBackupSucceeded', 'True');
    expect(ws.status?.lastBackupTime).toBe(done.status!.completedAt);
  });

  it("archives WAL to S3 and recovers the database as it was at a point in time, beside the workspace's", async () => {
    // CloudNativePG archives to the S3 destination, and the ScheduledBackup's first base backup is there.
    const archiving = await w.waitForCondition(name, 'PointInTimeRecovery', 'True', 180_000);
    expect(w.condition(archiving, 'PointInTimeRecovery')?.reason).toBe('Archiving');
    await eventually(
      "CloudNativePG's first base backup",
      async () => {
        const list = await w.rest.get<{ items: { status?: { phase?: string; error?: string } }[] }>(
          `/apis/postgresql.cnpg.io/v1/namespaces/${ns}/backups`,
        );
        const failed = list.items.find((b) => b.status?.phase === 'failed');
        if (failed) throw new Error(`the base backup failed: ${failed.status?.error}`);
        return list.items.some((b) => b.status?.phase === 'completed') ? true : undefined;
      },
      180_000,
    );
    const client = (podName: string, script: string, host = `db-rw.${ns}.svc`, caSecret = APP_SECRET) =>
      runPod({
        namespace: ns,
        name: podName,
        labels: { [DATABASE_ACCESS_LABEL]: 'true' },
        env: [
          { name: 'PGHOST', value: host },
          { name: 'PGDATABASE', value: 'app' },
          { name: 'PGUSER', valueFrom: { secretKeyRef: { name: APP_SECRET, key: 'username' } } },
          { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: APP_SECRET, key: 'password' } } },
          { name: 'PGSSLMODE', value: 'verify-full' },
          { name: 'PGSSLROOTCERT', value: '/etc/ca/ca.crt' },
          { name: 'PGCONNECT_TIMEOUT', value: '3' },
        ],
        secretMounts: [{ secretName: caSecret, mountPath: '/etc/ca' }],
        script: `for i in $(seq 40); do psql -v ON_ERROR_STOP=1 -tA ${script} && exit 0; sleep 0.25; done; exit 1`,
      });
    const before = await client(
      'marks-before',
      `-c "create table marks (n int)" -c "insert into marks select generate_series(1, 100)"`,
    );
    expect(before.phase, before.log).toBe('Succeeded');
    await new Promise((r) => setTimeout(r, 1500));
    const pointInTime = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    const after = await client('marks-after', `-c "insert into marks select generate_series(101, 150)"`);
    expect(after.phase, after.log).toBe('Succeeded');
    // The segment holding the later rows goes to the archive now rather than at archive_timeout.
    const psqlInPod = (sql: string) =>
      kubectl('exec', '-n', ns, 'db-1', '-c', 'postgres', '--', 'psql', '-U', 'postgres', '-tAc', sql).then((o) =>
        o.trim(),
      );
    const segment = await psqlInPod('select pg_walfile_name(pg_switch_wal())');
    await eventually(
      `WAL segment ${segment} archived`,
      async () => ((await psqlInPod('select last_archived_wal from pg_stat_archiver')) >= segment ? true : undefined),
      // barman-cloud-wal-archive is a Python process per segment: slow on a node running the whole suite.
      240_000,
    );

    // The recovery point follows the archive: past the last backup, to the segment just archived.
    await eventually(
      'the recovery point from the WAL archive',
      async () => {
        const at = (await w.get(name)).status?.recoveryPoint;
        return at && Date.parse(at) > Date.parse(pointInTime) ? at : undefined;
      },
      150_000,
    );

    const restore = uniqueName(`${name}-pitr`);
    const started = Date.now();
    await w.rest.request('POST', collectionPath('Restore', ns), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Restore',
        metadata: { name: restore, namespace: ns },
        spec: { workspace: name, pointInTime },
      },
    });
    const done = await eventually(
      'the Restore to a point in time',
      async () => {
        const r = await w.rest.get<KubeObject & { status?: { phase?: string; message?: string; cluster?: string } }>(
          objectPath('Restore', restore, ns),
        );
        if (r.status?.phase === 'Failed') throw new Error(`the restore failed: ${r.status.message}`);
        return r.status?.phase === 'Succeeded' ? r : undefined;
      },
      420_000,
    );
    const recoveredMs = Date.now() - started;
    const cluster = done.status!.cluster!;
    expect(cluster).toMatch(/^db-pitr-[0-9a-f]{8}$/);
    expect(done.status!.message).toContain(`connect at ${cluster}-rw.${ns}.svc:5432`);
    // The recovery Cluster holds the rows of that moment, reached over verify-full with its own CA;
    // the workspace's cluster keeps all it had.
    const recovered = await client(
      'marks-recovered',
      `-c "select count(*) from marks" -c "select count(*) from hours"`,
      `${cluster}-rw.${ns}.svc`,
      `${cluster}-ca`,
    );
    expect(recovered.phase, recovered.log).toBe('Succeeded');
    // The last lines: a new pod may be refused for a moment before kube-router lets it through.
    expect(recovered.log.trim().split('\n').slice(-2)).toEqual(['100', '1234']);
    const live = await client('marks-live', `-c "select count(*) from marks"`);
    expect(live.phase, live.log).toBe('Succeeded');
    expect(live.log.trim().split('\n').at(-1)).toBe('150');
    console.log(`point-in-time recovery: Restore Succeeded ${recoveredMs} ms after it was created`);
  });
});
