// Shared databases on the real node: a PostgreSQL server outside the
// cluster (on the node's address, as a managed database would be), a
// workspace's database and role on it, backed up and proven by a drill by
// pods as a Dedicated one is, then restored in place by a Restore that
// `kubectl holdfast restore` creates: a safety backup first, the backup's
// rows and nothing else after, and a changed copy that fails and changes
// nothing. Its daily export runs as a pod too, and opens with the escrow key.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { TestDestinations } from '../harness/destinations.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { kubectlHoldfast } from '../harness/plugin.js';
import { startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { s3Destination, startS3, type TestS3 } from '../harness/s3.js';
import { Workspaces } from '../harness/workspaces.js';

const run = promisify(execFile);
const BUCKET = 'shared-backups';

type BackupObject = KubeObject & { spec: { reason: string }; status?: BackupResourceStatus };

describe('Shared databases: backups, drills and restores on the real node', { timeout: 600_000 }, () => {
  const w = new Workspaces();
  const destinations = new TestDestinations(w.rest);
  let s3: TestS3;
  let pg: TestPostgres;
  let operator: RunningOperator;
  let dir: string;
  let destination: string;
  let escrow: string;
  let plugin: ReturnType<typeof kubectlHoldfast>;

  beforeAll(async () => {
    await installCrds();
    s3 = await startS3({ host: '0.0.0.0' });
    await s3.bucket(BUCKET);
    destination = await destinations.s3(s3, BUCKET, { prefix: 'cluster-a/' });
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-shared-'));
    plugin = kubectlHoldfast(path.join(dir, 'bin'));
    await run('age-keygen', ['-o', path.join(dir, 'escrow.txt')]);
    escrow = (await readFile(path.join(dir, 'escrow.txt'), 'utf8')).match(/public key: (age1\S+)/)![1]!;
    pg = await startPostgres({ address: await destinations.nodeIp() });
    operator = await startOperator({
      selector: w.selector,
      leaseName: w.run,
      env: { HOLDFAST_IMAGE: process.env.HOLDFAST_TEST_IMAGE ?? 'localhost/holdfast:dev' },
    });
  });
  afterAll(async () => {
    await operator?.stop();
    await destinations.remove();
    await s3?.stop();
    await pg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is backed up, proven by a drill and exported by pods, then restored in place by kubectl holdfast restore', async () => {
    // A PostgreSQL server on the node's address, as a managed database outside the cluster would be.
    const server = uniqueName('shared');
    await destinations.credentialsSecret(`${server}-admin`, { username: pg.user, password: pg.password });
    await destinations.credentialsSecret(`${server}-ca`, { 'ca.crt': pg.ca });
    await w.rest.request('POST', collectionPath('SharedDatabaseServer'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'SharedDatabaseServer',
        metadata: { name: server },
        spec: {
          host: await destinations.nodeIp(),
          port: pg.port,
          caSecretRef: { name: `${server}-ca`, namespace: destinations.credentialsNamespace },
          adminSecretRef: { name: `${server}-admin`, namespace: destinations.credentialsNamespace },
        },
      },
    });
    const shared = await w.create('shared', {
      volume: { storageClassName: await w.storageClass({ encrypted: true }) },
      database: { mode: 'Shared', serverRef: server },
      deletionPolicy: 'Delete',
      backup: { destinations: [{ name: destination }], recipients: [escrow] },
    });
    try {
      const ready = await w.waitForCondition(shared, 'BackupScheduled', 'True', 240_000);
      const db = ready.status!.database!;
      // Rows of the workspace's own, written as its role.
      const sql = superuserClient(pg, db.name);
      try {
        await sql.unsafe(`set role "${db.user!}"`);
        await sql.unsafe('create table hours (id serial primary key, who text, minutes int)');
        await sql.unsafe("insert into hours (who, minutes) select 'p' || g, g % 480 from generate_series(1, 1234) g");
      } finally {
        await sql.end();
      }
      const sharedNs = namespaceOf(shared);
      await w.rest.request('POST', collectionPath('Backup', sharedNs), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Backup',
          metadata: { name: `${shared}-now`, namespace: sharedNs },
          spec: { workspace: shared },
        },
      });
      const done = await eventually(
        'the Shared database backed up',
        async () => {
          const b = await w.rest.get<BackupObject>(objectPath('Backup', `${shared}-now`, sharedNs));
          if (b.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
          return b.status?.phase === 'Succeeded' ? b : undefined;
        },
        300_000,
      );
      expect(done.status).toMatchObject({ copiesText: '1/1', rows: 1234, tables: 1 });
      // The host's server, not the workspace pods' PostgreSQL 17.
      const admin = superuserClient(pg);
      const [row] = await admin`select current_setting('server_version') as v`.finally(() => admin.end());
      expect(done.status!.serverVersion).toBe(row!.v);

      // Its restore drill runs the same scratch server beside it: the shared server is not touched.
      await kubectl('create', 'job', '--from=cronjob/verify', 'drill-shared', '-n', sharedNs);
      const proven = await eventually(
        'the Shared workspace drill',
        async () => {
          const b = await w.rest.get<BackupObject>(objectPath('Backup', `${shared}-now`, sharedNs));
          return b.status?.verification ? b : undefined;
        },
        300_000,
      );
      // The content too, though the backup was read from the host's PostgreSQL and restored into a 17.
      expect(proven.status!.verification).toMatchObject({
        passed: true,
        tables: 1,
        rows: 1234,
        contentChecked: true,
        job: 'drill-shared',
      });
      await w.waitForCondition(shared, 'RestoreTestPassed', 'True');

      // The daily export, run now: every table as CSV and SpreadsheetML, which the customer's escrow key opens.
      await kubectl('create', 'job', '--from=cronjob/export', 'export-shared', '-n', sharedNs);
      const exported = await w.waitForCondition(shared, 'LastExportSucceeded', 'True', 300_000);
      expect(Date.parse(exported.status!.lastExportTime!)).toBeGreaterThan(Date.parse(done.status!.completedAt!));
      const offsite = s3Destination(s3, BUCKET, { prefix: 'cluster-a/' });
      const archives = (await offsite.list(`${shared}/exports/`))
        .map((o) => o.key)
        .filter((k) => k.endsWith('.zip.age'));
      expect(archives).toEqual([`${shared}/exports/${exported.status!.lastExportTime!.slice(0, 10)}.zip.age`]);
      await writeFile(
        path.join(dir, 'export.zip.age'),
        (await (await offsite.get(archives[0]!)).toArray()) as Buffer[],
      );
      await run('age', [
        '-d',
        '-i',
        path.join(dir, 'escrow.txt'),
        '-o',
        path.join(dir, 'export.zip'),
        path.join(dir, 'export.zip.age'),
      ]);
      const { stdout: hoursCsv } = await run('unzip', ['-p', path.join(dir, 'export.zip'), 'public.hours.csv']);
      const csvLines = hoursCsv.trimEnd().split('\r\n');
      expect(csvLines[0]).toBe('id,who,minutes');
      expect(csvLines).toHaveLength(1 + 1234);
      expect(csvLines[1]).toBe('1,p1,1');

      // Restored in place: rows deleted and changed and a table added since the backup, then
      // `kubectl holdfast restore`; a session of the workspace's role is ended, not waited for.
      const asRole = async (statements: string) => {
        const c = superuserClient(pg, db.name);
        try {
          await c.unsafe(`set role "${db.user!}"`);
          return (await c.unsafe(statements)) as unknown as Record<string, unknown>[];
        } finally {
          await c.end();
        }
      };
      const state = async () =>
        (
          await asRole(`select count(*)::int as n, sum(minutes)::int as m,
            (select count(*)::int from pg_tables where schemaname = 'public') as tables from hours`)
        )[0];
      const backedUp = await state();
      expect(backedUp).toEqual({ n: 1234, m: expect.any(Number) as number, tables: 1 });
      // A second backup of the same day, neither the newest after the safety backup nor
      // verified: retention would prune it if a Restore did not pin it.
      const second = `${shared}-second`;
      await w.rest.request('POST', collectionPath('Backup', sharedNs), {
        body: {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Backup',
          metadata: { name: second, namespace: sharedNs },
          spec: { workspace: shared },
        },
      });
      await eventually(
        'the second backup',
        async () => {
          const b = await w.rest.get<BackupObject>(objectPath('Backup', second, sharedNs));
          if (b.status?.phase === 'Failed') throw new Error(`the backup failed: ${b.status.message}`);
          return b.status?.phase === 'Succeeded' ? b : undefined;
        },
        300_000,
      );
      await asRole(`delete from hours where id > 1000; update hours set minutes = 0;
        create table notes (t text); insert into notes values ('after the backup')`);
      const changed = await state();
      expect(changed).toEqual({ n: 1000, m: 0, tables: 2 });

      const restored = await plugin('restore', shared, '--backup', second);
      expect(restored.stderr).toBe('');
      expect(restored.code, restored.stdout).toBe(0);
      const restoreName = /^restore (\S+) asked for in namespace/m.exec(restored.stdout)?.[1];
      expect(restoreName).toMatch(new RegExp(`^${shared}-restore-\\d{8}-\\d{6}$`));
      expect(restored.stdout).toMatch(/^ {2}BackingUp safety backup: taking backup \S+-before of the data/m);
      expect(restored.stdout).toMatch(/^ {2}Restoring /m);
      expect(restored.stdout).toMatch(/restore \S+ succeeded in [\d.]+ s: 1234 rows$/m);
      expect(await state()).toEqual(backedUp);
      const r = await w.rest.get<KubeObject & { status: Record<string, unknown> }>(
        objectPath('Restore', restoreName!, sharedNs),
      );
      expect(r.status).toMatchObject({
        phase: 'Succeeded',
        backup: second,
        safetyBackup: `${restoreName}-before`,
        destination,
        progress: '100% 1/1 tables',
        rows: 1234,
        tablesRestored: 1,
        totalTables: 1,
      });
      // The safety backup holds what the restore replaced.
      const safety = await w.rest.get<BackupObject>(objectPath('Backup', `${restoreName}-before`, sharedNs));
      expect(safety.spec.reason).toBe('BeforeRestore');
      expect(safety.status).toMatchObject({ phase: 'Succeeded', rows: 1001, tables: 2 });
      await eventually('the RestoreSucceeded Event', async () =>
        (await w.events(shared)).find((e) => e.reason === 'RestoreSucceeded' && e.note.includes(restoreName!)),
      );
      expect(await operator.metric('holdfast_restores_total', { workspace: shared, result: 'succeeded' })).toBe(1);

      // Into a new database beside the workspace's: the operator makes it on the server (the
      // workspace's role may not), no safety backup is taken, and the workspace's rows stay.
      await asRole(`insert into hours (who, minutes) values ('since', 2)`);
      const live = await state();
      const beside = await plugin('restore', shared, '--backup', second, '--to-new-database', 'restored_copy');
      expect(beside.code, beside.stdout).toBe(0);
      expect(beside.stdout).toMatch(
        /: into the new database restored_copy, beside the workspace's, which stays as it is$/m,
      );
      expect(beside.stdout).not.toMatch(/BackingUp/);
      expect(beside.stdout).toMatch(/succeeded in [\d.]+ s: 1234 rows in database restored_copy$/m);
      expect(await state()).toEqual(live);
      const besideName = /^restore (\S+) asked for/m.exec(beside.stdout)![1]!;
      const besideStatus = (
        await w.rest.get<KubeObject & { status: Record<string, unknown> }>(objectPath('Restore', besideName, sharedNs))
      ).status;
      expect(besideStatus).toMatchObject({ phase: 'Succeeded', backup: second, database: 'restored_copy', rows: 1234 });
      expect(besideStatus.safetyBackup).toBeUndefined();
      expect(besideStatus.message).toContain(`database ${db.name} is as it was`);
      const copyDb = superuserClient(pg, 'restored_copy');
      try {
        const [marks] = await copyDb<{ owner: string; mark: string; n: number; m: number }[]>`
          select pg_get_userbyid(datdba) as owner, shobj_description(d.oid, 'pg_database') as mark,
                 (select count(*)::int from hours) as n, (select sum(minutes)::int from hours) as m
          from pg_database d where datname = 'restored_copy'`;
        expect(marks).toEqual({
          owner: db.user,
          mark: `holdfast.io/workspace=${shared} uid=${ready.metadata.uid}`,
          n: backedUp!.n,
          m: backedUp!.m,
        });
      } finally {
        await copyDb.end();
      }
      // The same name again: it holds a restore already, so it is refused and nothing changes.
      const again = await plugin('restore', shared, '--backup', second, '--to-new-database', 'restored_copy');
      expect(again.code, again.stdout).toBe(1);
      expect(again.stdout).toMatch(
        /database restored_copy already exists and holds 1 tables .*; nothing was restored$/m,
      );

      // A restore from a changed copy fails, says why, and leaves the data as it was.
      await asRole(`insert into hours (who, minutes) values ('kept', 1)`);
      const before = await state();
      const copy = path.join(s3.dataDir, BUCKET, 'cluster-a', done.status!.artifact!);
      const bytes = await readFile(copy);
      const at = Math.floor(bytes.length * 0.9);
      bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
      await writeFile(copy, bytes);
      const bad = await plugin('restore', shared, '--backup', `${shared}-now`);
      expect(bad.code, bad.stdout).toBe(1);
      expect(bad.stdout).toMatch(
        /^ {2}Failed .*chunk does not authenticate: the file was changed.*; nothing was changed, the database is as it was$/m,
      );
      expect(bad.stdout).toMatch(/; its Job's log says more: kubectl logs -n \S+ job\/restore-/);
      expect(await state()).toEqual(before);
      await eventually('the RestoreFailed Event', async () =>
        (await w.events(shared)).find((e) => e.reason === 'RestoreFailed' && e.type === 'Warning'),
      );
      // kubectl holdfast status tells of the last one, and of the export.
      const badName = /^restore (\S+) asked for/m.exec(bad.stdout)![1]!;
      const status = (await plugin('status', shared)).stdout;
      expect(status).toMatch(
        new RegExp(
          `^Last restore ${badName}: Failed, backup ${shared}-now, \\S+ \\(\\d+\\w+ ago\\) \\(the data before in ${badName}-before\\): .*chunk does not authenticate`,
          'm',
        ),
      );
      expect(status).toContain(`Last export  ${exported.status!.lastExportTime!} (`);
      expect(status).toMatch(/^Last export .* ago\) \(schedule "30 4 \* \* \*", kept 365 days\)$/m);
      // The first Restore's safety backup outlived the second's pruning: it stays while its Restore does.
      expect(
        (await w.rest.get<BackupObject>(objectPath('Backup', `${restoreName}-before`, sharedNs))).status?.phase,
      ).toBe('Succeeded');
      // Into a new database, the changed copy fails the same way, and nothing of it is committed
      // there: the server is older than pg_restore (17, the image's), so its script goes through
      // psql in one transaction.
      expect(Number(done.status!.serverVersion!.split('.')[0])).toBeLessThan(17);
      const badBeside = await plugin(
        'restore',
        shared,
        '--backup',
        `${shared}-now`,
        '--to-new-database',
        'restored_bad',
      );
      expect(badBeside.code, badBeside.stdout).toBe(1);
      expect(badBeside.stdout).toMatch(
        /^ {2}Failed .*chunk does not authenticate: the file was changed.*; nothing was restored into restored_bad, and database \S+ is as it was$/m,
      );
      const empty = superuserClient(pg, 'restored_bad');
      try {
        expect(
          await empty`select relname from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace`,
        ).toEqual([]);
      } finally {
        await empty.end();
      }
      // deletionPolicy Delete drops the databases restored beside the workspace's too.
      await w.delete(shared);
      await w.waitGone(shared, 120_000);
      const left = superuserClient(pg);
      try {
        expect(
          await left`select datname from pg_database where datname in (${db.name!}, 'restored_copy', 'restored_bad')`,
        ).toEqual([]);
      } finally {
        await left.end();
      }
    } finally {
      await w.delete(shared);
      await w.waitGone(shared, 120_000);
      await w.rest.request('DELETE', objectPath('SharedDatabaseServer', server)).catch(() => undefined);
    }
  });
});
