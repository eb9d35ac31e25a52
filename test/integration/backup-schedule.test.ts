// Scheduled backups on the real node: the operator makes the CronJob, the
// CronJob a Job, the Job a Pod from the Holdfast image, and the Pod runs
// `holdfast backup` against the workspace's Dedicated PostgreSQL pod, to a
// versitygw S3 server on the node's address, and records a Backup. The
// customer's age identity decrypts the copy; pg_restore reads it. Drills
// prove backups in a scratch server. (Shared databases and Restores:
// shared-backup-restore.test.ts.)
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { restoreJobName } from '../../operator/backup/schedule.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { TestDestinations } from '../harness/destinations.js';
import { kubectlHoldfast } from '../harness/plugin.js';
import { Workspaces, type WireWorkspace } from '../harness/workspaces.js';

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
  const destinations = new TestDestinations(w.rest);
  let destination: string;
  let onVolume: string;
  let escrow: string;
  /** kubectl holdfast, installed as a user installs it and found by kubectl on PATH. */
  let plugin: ReturnType<typeof kubectlHoldfast>;

  beforeAll(async () => {
    await installCrds();
    // Pods reach it on the node's own address, as they would an object store outside the cluster.
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket(BUCKET);
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-schedule-'));
    plugin = kubectlHoldfast(path.join(dir, 'bin'));
    escrowFile = path.join(dir, 'escrow.txt');
    await run('age-keygen', ['-o', escrowFile]);
    escrow = (await readFile(escrowFile, 'utf8')).match(/public key: (age1\S+)/)![1]!;
    destination = await destinations.s3(s3, BUCKET, { prefix: 'cluster-a/' });
    operator = await startOperator({
      selector: w.selector,
      leaseName: w.run,
      env: { HOLDFAST_IMAGE: process.env.HOLDFAST_TEST_IMAGE ?? 'localhost/holdfast:dev' },
    });
    const encrypted = await w.storageClass({ encrypted: true });
    // And a volume of its own in the namespace: the second site.
    onVolume = await destinations.volume(encrypted);
    name = await w.create('sched', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Delete',
      backup: {
        destinations: [{ name: destination }, { name: onVolume }],
        recipients: [escrow],
        retention: { daily: 7 },
      },
    });
    ns = namespaceOf(name);
  });
  afterAll(async () => {
    if (name) await w.delete(name);
    await operator?.stop();
    await destinations.remove();
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
    expect(done.status).toMatchObject({ copiesText: '2/2', tables: expect.any(Number) as number });
    // The copy on the volume (a real folder behind a local PersistentVolume), byte for byte the same.
    const claim = await w.rest.get<KubeObject & { spec: { volumeName: string } }>(
      objectPath('PersistentVolumeClaim', `backup-${onVolume}`, ns),
    );
    const pv = await w.rest.get<KubeObject & { spec: { local: { path: string } } }>(
      objectPath('PersistentVolume', claim.spec.volumeName),
    );
    const onDisk = path.join(pv.spec.local.path, done.status!.artifact!);
    expect(
      createHash('sha256')
        .update(await readFile(onDisk))
        .digest('hex'),
    ).toBe(done.status!.sha256);

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
    // The default schedule, 04:00 UTC: today's if it is still ahead, else tomorrow's.
    const four = new Date();
    four.setUTCHours(4, 0, 0, 0);
    if (four.getTime() <= Date.now()) four.setUTCDate(four.getUTCDate() + 1);
    expect(ws.status?.backup?.nextScheduleTime).toBe(four.toISOString());
    expect(await kubectl('get', 'backups', '-n', ns)).toMatch(/Succeeded\s+Scheduled\s+\S+ \w+\s+\d+\s+2\/2/);
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

  it('a Backup created by a person is taken by a Job the operator starts, and reported on the Workspace', async () => {
    // Back to a daily schedule: what follows are backups asked for.
    await w.patchSpec(name, { backup: { schedule: '0 4 * * *' } });
    const asked = uniqueName('by-hand');
    // As a person asks for one: a manifest and kubectl create.
    const manifest = path.join(dir, 'backup.yaml');
    await writeFile(
      manifest,
      `apiVersion: holdfast.io/v1alpha1\nkind: Backup\nmetadata:\n  name: ${asked}\n  namespace: ${ns}\nspec:\n  workspace: ${name}\n`,
    );
    await kubectl('create', '-f', manifest);
    const done = await eventually(
      'the requested Backup',
      async () => {
        const b = await w.rest.get<BackupObject>(objectPath('Backup', asked, ns));
        if (b.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
        return b.status?.phase === 'Succeeded' ? b : undefined;
      },
      300_000,
    );
    expect(done.spec.reason).toBe('OnDemand');
    expect(done.status).toMatchObject({ job: `backup-${asked}`, copiesText: '2/2' });
    // Labelled, so that retention and the console count it among the workspace's backups.
    expect(done.metadata.labels?.['holdfast.io/workspace']).toBe(name);
    const job = await w.rest.get<KubeObject>(objectPath('Job', `backup-${asked}`, ns));
    expect(job.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Backup', name: asked, uid: done.metadata.uid }),
    ]);
    const reported = await eventually('the BackupSucceeded Event', async () =>
      (await w.events(name)).find((e) => e.reason === 'BackupSucceeded' && e.note.includes(asked)),
    );
    expect(reported.note).toMatch(new RegExp(`backup ${asked} \\(OnDemand\\): \\S+ \\w+, \\d+ rows, 2/2 copies`));
    expect(await operator.metric('holdfast_backups_total', { workspace: name, result: 'succeeded' })).toBeGreaterThan(
      0,
    );
    // The recovery point as a metric, for an alert on its age.
    await eventually('the recovery point metric', async () => {
      const ws = await w.rest.get<WireWorkspace>(objectPath('Workspace', name));
      const metric = await operator.metric('holdfast_backup_recovery_point_timestamp_seconds', { workspace: name });
      return metric === Date.parse(ws.status!.recoveryPoint!) / 1000 ? metric : undefined;
    });
  });

  it('the annotation holdfast.io/backup-now asks for a backup, once', async () => {
    await kubectl('annotate', 'workspace', name, 'holdfast.io/backup-now=before-migration');
    const asked = await eventually(
      'the Backup the annotation asked for',
      async () => {
        const b = (await backups()).find((x) => x.metadata.name.startsWith(`${name}-ondemand-`));
        if (b?.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
        return b?.status?.phase === 'Succeeded' ? b : undefined;
      },
      300_000,
    );
    expect(asked.spec.reason).toBe('OnDemand');
    // Taken: the annotation is gone, so the same command asks again next time.
    const ws = await w.rest.get<WireWorkspace>(objectPath('Workspace', name));
    expect(ws.metadata.annotations?.['holdfast.io/backup-now']).toBeUndefined();
  });

  it('kubectl holdfast: backup now follows a backup to its end; status, backups and decrypt show it', async () => {
    const now = await plugin('backup', 'now', name);
    expect(now.stderr).toBe('');
    expect(now.code).toBe(0);
    const taken = /^backup (\S+) asked for in namespace/m.exec(now.stdout)?.[1];
    expect(taken).toMatch(new RegExp(`^${name}-\\d{8}-\\d{6}$`));
    expect(now.stdout).toMatch(/Succeeded, 2\/2 copies stored/);
    const b = await w.rest.get<BackupObject>(objectPath('Backup', taken!, ns));
    expect(b.status).toMatchObject({ phase: 'Succeeded', copiesText: '2/2' });
    expect(b.spec.reason).toBe('OnDemand');
    expect(now.stdout).toContain(`stored as ${b.status!.artifact}`);

    const list = await plugin('backups', name);
    expect(list.code).toBe(0);
    const row = list.stdout.split('\n').find((l) => l.startsWith(`${taken} `));
    expect(row).toMatch(
      new RegExp(
        `^${taken}\\s+Succeeded\\s+OnDemand\\s+\\S+ ago\\s+[\\d.]+ \\w+\\s+2/2\\s+${b.status!.tables}\\s+${b.status!.rows}`,
      ),
    );

    const st = await eventually('the status with this backup', async () => {
      const r = await plugin('status', name);
      return r.stdout.includes(taken!) ? r : undefined;
    });
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^Workspace ${name}: Ready \\(Ready=True,`, 'm'));
    expect(st.stdout).toMatch(/^Certificate {2}expires \S+ \(in \d+d\d+h\)/m);
    expect(st.stdout).toMatch(new RegExp(`^Last backup {2}\\S+ \\(\\d+\\w+ ago\\): ${taken}, .*2/2 copies`, 'm'));
    // The recovery point against what the daily schedule promises.
    expect(st.stdout).toMatch(
      /^Recovery pt\. \S+, \d+\w+ behind \(the schedule "0 4 \* \* \*" keeps it within 1d0h\)$/m,
    );
    expect(st.stdout).toMatch(/^CONDITION\s+STATUS\s+REASON\s+AGE\s+MESSAGE$/m);
    expect(st.stdout).toMatch(/^LastBackupSucceeded\s+True\s/m);

    // The S3 copy, opened by the customer's escrow key without the age CLI, is checked against its manifest.
    const copy = path.join(s3.dataDir, BUCKET, 'cluster-a', b.status!.artifact!);
    const opened = path.join(dir, 'by-plugin.dump');
    const dec = await plugin('decrypt', copy, '-i', escrowFile, '-o', opened);
    expect(dec.stderr).toBe('');
    expect(dec.stdout).toContain(
      `backup ${taken} (${b.status!.tables} tables, ${b.status!.rows} rows; checked against its manifest)`,
    );
    expect((await readFile(opened)).subarray(0, 5).toString('latin1')).toBe('PGDMP');

    // What goes wrong says what to do.
    const missing = await plugin('status', 'no-such-workspace');
    expect(missing).toMatchObject({
      code: 1,
      stderr: 'error: workspace "no-such-workspace" not found (kubectl get ws lists them)\n',
    });
    const usage = await plugin('backup', 'later', name);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/did you mean "kubectl holdfast backup now WORKSPACE"/);
  });

  it('the restore drill restores the newest backup beside a scratch server and proves it; a changed copy fails it', async () => {
    const newest = async () =>
      (await backups())
        .filter((b) => b.status?.phase === 'Succeeded')
        .sort((a, b) => b.status!.completedAt!.localeCompare(a.status!.completedAt!))[0]!;
    const target = await newest();
    await kubectl('create', 'job', '--from=cronjob/verify', 'drill-good', '-n', ns);
    const proven = await eventually(
      'the drill recorded on the Backup',
      async () => {
        const b = await w.rest.get<BackupObject>(objectPath('Backup', target.metadata.name, ns));
        return b.status?.verification ? b : undefined;
      },
      300_000,
    );
    expect(proven.status!.verification).toMatchObject({
      passed: true,
      destination: expect.stringMatching(new RegExp(`^(${destination}|${onVolume})$`)) as string,
      tables: target.status!.tables,
      rows: target.status!.rows,
      job: 'drill-good',
    });
    expect(proven.status!.verifiedAt).toBe(proven.status!.verification!.at);
    const ws = await w.waitForCondition(name, 'RestoreTestPassed', 'True');
    expect(w.condition(ws, 'RestoreTestPassed')?.message).toContain(`backup ${target.metadata.name} from`);
    expect(ws.status?.lastVerifiedTime).toBe(proven.status!.verifiedAt);
    // LAST VERIFIED in kubectl get ws, from a real drill.
    expect(await kubectl('get', 'ws', name, '-o', 'custom-columns=V:.status.lastVerifiedTime', '--no-headers')).toBe(
      `${proven.status!.verifiedAt}\n`,
    );
    expect(await operator.metric('holdfast_restore_drill_last_success_timestamp_seconds', { workspace: name })).toBe(
      Date.parse(proven.status!.verifiedAt!) / 1000,
    );

    // One byte changed in both copies: the drill fails, names why, and says so on the Workspace.
    const claim = await w.rest.get<KubeObject & { spec: { volumeName: string } }>(
      objectPath('PersistentVolumeClaim', `backup-${onVolume}`, ns),
    );
    const pv = await w.rest.get<KubeObject & { spec: { local: { path: string } } }>(
      objectPath('PersistentVolume', claim.spec.volumeName),
    );
    const copies = [
      path.join(s3.dataDir, BUCKET, 'cluster-a', target.status!.artifact!),
      path.join(pv.spec.local.path, target.status!.artifact!),
    ];
    const flip = async (file: string) => {
      const bytes = await readFile(file);
      const middle = Math.floor(bytes.length / 2);
      bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
      await writeFile(file, bytes);
    };
    for (const c of copies) await flip(c);
    try {
      await kubectl('create', 'job', '--from=cronjob/verify', 'drill-changed', '-n', ns);
      const failed = await eventually(
        'the failed drill recorded on the Backup',
        async () => {
          const b = await w.rest.get<BackupObject>(objectPath('Backup', target.metadata.name, ns));
          return b.status?.verification?.job === 'drill-changed' ? b : undefined;
        },
        300_000,
      );
      expect(failed.status!.verification).toMatchObject({
        passed: false,
        message: expect.stringMatching(/chunk does not authenticate: the file was changed/) as string,
      });
      // The last proof stands: verifiedAt is when it was last proven.
      expect(failed.status!.verifiedAt).toBe(proven.status!.verifiedAt);
      const down = await w.waitForCondition(name, 'RestoreTestPassed', 'False');
      expect(w.condition(down, 'RestoreTestPassed')).toMatchObject({
        reason: 'RestoreTestFailed',
        message: expect.stringContaining('(kubectl logs job/drill-changed -c verify)') as string,
      });
      await eventually('the RestoreTestFailed Event', async () =>
        (await w.events(name)).find((e) => e.reason === 'RestoreTestFailed' && e.type === 'Warning'),
      );
      // The kubelet reports the pod failed and the Job controller counts it: seconds when idle, more
      // than 30 s on a busy 2-core node.
      const job = await eventually(
        'the drill Job failed',
        async () => {
          const j = await w.rest.get<KubeObject & { status?: { failed?: number } }>(
            objectPath('Job', 'drill-changed', ns),
          );
          return (j.status?.failed ?? 0) > 0 ? j : undefined;
        },
        120_000,
      );
      expect(job.status?.failed).toBe(1);
    } finally {
      for (const c of copies) await flip(c);
    }
  });

  it('two Restores asked for at once run one after the other, each bringing the Dedicated database back; a third restores beside it', async () => {
    // The workspace's PostgreSQL 17, reached from this machine on its Service address, as its app does.
    await w.waitForCondition(name, 'BackupScheduled', 'True', 240_000);
    const ws = await w.waitForCondition(name, 'Ready', 'True', 240_000);
    const db = ws.status!.database!;
    const secret = await w.rest.get<{ data: Record<string, string> }>(objectPath('Secret', db.secretName!, ns));
    const service = await w.rest.get<{ spec: { clusterIP: string } }>(objectPath('Service', 'db', ns));
    const app = (database = db.name!) =>
      postgres({
        host: service.spec.clusterIP,
        port: db.port!,
        database,
        username: db.user!,
        password: Buffer.from(secret.data.password!, 'base64').toString(),
        ssl: { ca: Buffer.from(secret.data['ca.crt']!, 'base64').toString(), servername: db.host! },
        max: 1,
        onnotice: () => undefined,
      });
    const rows = async (database?: string) => {
      const sql = app(database);
      try {
        const [r] = await sql`select count(*)::int as n, sum(h)::int as s from hours`;
        return r;
      } finally {
        await sql.end();
      }
    };
    const sql = app();
    await sql`create table hours (id serial primary key, h int)`;
    await sql`insert into hours (h) select g % 9 from generate_series(1, 500) g`;
    await sql.end();
    const backedUp = await rows();
    const now = await plugin('backup', 'now', name);
    expect(now.code, now.stdout).toBe(0);
    const taken = /^backup (\S+) asked for in namespace/m.exec(now.stdout)![1]!;
    const changer = app();
    await changer`delete from hours where id > 300`;
    await changer.end();
    expect((await rows())!.n).toBe(300);

    // Both at once: the second waits for the first, then restores again the same backup.
    const names = [uniqueName(`${name}-restore-a`), uniqueName(`${name}-restore-b`)];
    await Promise.all(
      names.map((restore) =>
        w.rest.request('POST', collectionPath('Restore', ns), {
          body: {
            apiVersion: 'holdfast.io/v1alpha1',
            kind: 'Restore',
            metadata: { name: restore, namespace: ns },
            spec: { workspace: name, backup: taken },
          },
        }),
      ),
    );
    type Restore = KubeObject & {
      status?: { phase?: string; startedAt?: string; completedAt?: string; message?: string };
    };
    const done = await eventually(
      'both Restores finished',
      async () => {
        const all = await Promise.all(names.map((n) => w.rest.get<Restore>(objectPath('Restore', n, ns))));
        const failed = all.find((r) => r.status?.phase === 'Failed');
        if (failed) throw new Error(`restore ${failed.metadata.name} failed: ${failed.status!.message}`);
        return all.every((r) => r.status?.phase === 'Succeeded') ? all : undefined;
      },
      300_000,
    );
    const [first, second] = done.sort((a, b) => a.status!.startedAt!.localeCompare(b.status!.startedAt!));
    expect(Date.parse(second!.status!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(first!.status!.completedAt!));
    expect(await rows()).toEqual(backedUp);

    // Into a new database beside it: on the built-in server the application role may not
    // create one, so this Restore's Job (and no other) mounts the superuser's password.
    const more = app();
    await more`insert into hours (h) values (100)`;
    await more.end();
    const live = await rows();
    const beside = await plugin('restore', name, '--backup', taken, '--to-new-database', 'restored_here');
    expect(beside.code, beside.stdout).toBe(0);
    expect(beside.stdout).toMatch(/succeeded in [\d.]+ s: 500 rows in database restored_here$/m);
    expect(await rows('restored_here')).toEqual(backedUp);
    expect(await rows()).toEqual(live);
    const besideName = /^restore (\S+) asked for/m.exec(beside.stdout)![1]!;
    type JobObject = KubeObject & { spec: { template: { spec: { volumes: { secret?: { secretName: string } }[] } } } };
    const mounts = async (restore: string) =>
      (await w.rest.get<JobObject>(objectPath('Job', restoreJobName(restore), ns))).spec.template.spec.volumes
        .map((v) => v.secret?.secretName)
        .filter((n): n is string => n !== undefined);
    expect(await mounts(besideName)).toContain('db-superuser');
    expect(await mounts(first!.metadata.name)).not.toContain('db-superuser');
    // The application role owns it, and no other role of the server may connect.
    const owner = app('restored_here');
    try {
      const [d] = await owner<{ owner: string; acl: string }[]>`
        select pg_get_userbyid(datdba) as owner, datacl::text as acl from pg_database where datname = current_database()`;
      expect(d).toEqual({ owner: db.user, acl: `{${db.user}=CTc/${db.user}}` });
    } finally {
      await owner.end();
    }
  });

  it('a Backup left Running by a Job that failed is marked Failed, naming the Job and its log', async () => {
    // What a pod killed mid-backup leaves: a Running Backup, and its Job failed.
    const stuck = uniqueName('killed');
    const job = `job-${stuck}`;
    await w.rest.request('POST', collectionPath('Backup', ns), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Backup',
        // As a backup pod records it: marked as taken by its Job, so the operator never starts another for it.
        metadata: {
          name: stuck,
          namespace: ns,
          labels: { 'holdfast.io/workspace': name },
          annotations: { 'holdfast.io/taken-by': job },
        },
        spec: { workspace: name, reason: 'Scheduled' },
      },
    });
    await w.rest.request('PATCH', `${objectPath('Backup', stuck, ns)}/status`, {
      body: { status: { phase: 'Running', startedAt: new Date().toISOString(), job } },
      contentType: 'application/merge-patch+json',
    });
    const cronJob = await w.rest.get<KubeObject & { spec: { jobTemplate: { spec: Record<string, unknown> } } }>(
      objectPath('CronJob', 'backup', ns),
    );
    const spec = structuredClone(cronJob.spec.jobTemplate.spec) as {
      backoffLimit: number;
      template: { spec: { containers: { command?: string[]; args?: string[] }[] } };
    };
    spec.backoffLimit = 0;
    // Killed: the exit status of SIGKILL.
    spec.template.spec.containers[0]!.command = ['sh', '-c', 'exit 137'];
    spec.template.spec.containers[0]!.args = [];
    await w.rest.request('POST', collectionPath('Job', ns), {
      body: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: job, namespace: ns, labels: { 'holdfast.io/workspace': name } },
        spec,
      },
    });
    const failed = await eventually(
      'the Backup marked Failed',
      async () => {
        const b = await w.rest.get<BackupObject>(objectPath('Backup', stuck, ns));
        return b.status?.phase === 'Failed' ? b : undefined;
      },
      120_000,
    );
    expect(failed.status!.message).toContain(`its Job ${job} failed (BackoffLimitExceeded`);
    expect(failed.status!.message).toContain(`kubectl logs -n ${ns} job/${job}`);
    expect(failed.status!.completedAt).toBeDefined();
    const reported = await eventually('the BackupFailed Event', async () =>
      (await w.events(name)).find((e) => e.reason === 'BackupFailed' && e.note.includes(stuck)),
    );
    expect(reported.type).toBe('Warning');
    // The newest backup failed: the workspace says so, and names the newest good one.
    const ws = await w.waitForCondition(name, 'LastBackupSucceeded', 'False');
    expect(w.condition(ws, 'LastBackupSucceeded')?.message).toMatch(
      new RegExp(`backup ${stuck} failed: .*; the newest good backup is ${name}-`),
    );
    expect(ws.status?.backup).toMatchObject({
      lastFailureTime: failed.status!.completedAt,
      lastFailure: expect.stringContaining(`${stuck}: its Job ${job} failed`) as string,
    });
  });
});
