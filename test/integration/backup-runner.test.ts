// `holdfast backup` against the real peers: a PostgreSQL server with a schema
// of many kinds, a versitygw S3 server and a folder, the age CLI and
// pg_restore for the customer's side, and the test apiserver for the Backup
// resources. Faults: a destination down, a destination full, the database
// unreachable, the job killed mid-upload, a changed artifact, a wrong key, a
// server newer than pg_dump.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, connect as connectTcp, type AddressInfo } from 'node:net';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rest, collectionPath, objectPath } from '../../kube/rest.js';
import type { BackupResourceStatus } from '../../operator/api/backup.js';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { manifestKey } from '../../operator/backup/artifact.js';
import { DIGEST_METHOD, connect, reachable } from '../../operator/backup/database.js';
import { FolderDestination, type Expected } from '../../operator/backup/destinations.js';
import { pruneBackups } from '../../operator/backup/prune.js';
import { KubeBackupRecorder } from '../../operator/backup/record.js';
import {
  checkCopy,
  runBackup,
  VersionRefused,
  type BackupProgress,
  type DatabaseTarget,
} from '../../operator/backup/runner.js';
import { adminConfig, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds } from '../harness/operator.js';
import {
  createDatabase,
  jobTarget,
  postgresBinDir,
  startPostgres,
  superuserClient,
  type TestPostgres,
} from '../harness/postgres.js';
import { s3Destination, startS3, testS3Client, type TestS3 } from '../harness/s3.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const log = pino({ level: 'silent' });
const BUCKET = 'holdfast-backups';

// Every kind of thing a customer's schema holds, with rows enough to span many age chunks.
const SCHEMA = `
create type mood as enum ('happy', 'sad', 'ok');
create sequence invoice_no start 1000;
create table customers (
  id bigserial primary key, name text not null, mood mood, tags text[], profile jsonb,
  photo bytea, born date, balance numeric(12,2), seen timestamptz default now(), uid uuid
);
create table events (id bigint, at date not null, payload json) partition by range (at);
create table events_2025 partition of events for values from ('2025-01-01') to ('2026-01-01');
create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');
create table audit (id serial primary key, customer bigint references customers(id), note text);
create function touch() returns trigger language plpgsql as $$
begin insert into audit(customer, note) values (new.id, 'inserted ' || new.name); return new; end $$;
create trigger customers_touch after insert on customers for each row execute function touch();
create view happy_customers as select id, name from customers where mood = 'happy';
create table documents (id serial primary key, body oid);
insert into customers (name, mood, tags, profile, photo, born, balance, uid)
  select 'customer ' || g, (array['happy','sad','ok'])[1 + g % 3]::mood, array['t' || g % 7, 'x'],
         jsonb_build_object('n', g, 'nested', jsonb_build_object('even', g % 2 = 0)),
         decode(md5(g::text) || md5((g * 7)::text), 'hex'), date '1970-01-01' + g, g * 1.25,
         md5(g::text)::uuid
  from generate_series(1, 20000) g;
insert into events select g, date '2025-06-01' + (g % 400), json_build_object('g', g) from generate_series(1, 30000) g;
insert into documents (body) values (lo_from_bytea(0, convert_to(repeat('large object ', 5000), 'UTF8')));
select nextval('invoice_no') from generate_series(1, 41);
`;

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

describe('holdfast backup', { timeout: 600_000 }, () => {
  let pg: TestPostgres;
  let s3: TestS3;
  let dir: string;
  let db: DatabaseTarget;
  let identity: string;
  let escrowFile: string;
  let recipients: string[];
  let rest: Rest;
  const namespace = uniqueName('ws-backup');
  let mounted: string | undefined;

  const offsiteOf = (name = 'offsite') =>
    s3Destination(s3, BUCKET, {
      name,
      prefix: 'holdfast/',
      // Small parts, so that the test's dump spans several.
      partSize: 5 * 1024 * 1024,
    });

  const superuser = (database = 'postgres') => superuserClient(pg, database);

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    await s3.bucket(BUCKET);
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-backup-'));
    await createDatabase(pg, 'shop', SCHEMA);
    db = jobTarget(pg, 'shop');
    // The workspace's own key, and the customer's escrow key made with the age CLI.
    identity = await generateIdentity();
    escrowFile = path.join(dir, 'escrow.txt');
    await run('age-keygen', ['-o', escrowFile]);
    const escrow = (await readFile(escrowFile, 'utf8')).match(/public key: (age1\S+)/)![1]!;
    recipients = [await identityToRecipient(identity), escrow];
    await installCrds();
    rest = new Rest(adminConfig());
    await rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    });
  });
  afterAll(async () => {
    // A test that timed out never reached its own unmount: the machine must be left as it was.
    if (mounted) await run('umount', ['-l', mounted]).catch(() => undefined);
    await rest?.request('DELETE', objectPath('Namespace', namespace)).catch(() => undefined);
    await Promise.all([pg?.stop(), s3?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Every file under a folder, relative. */
  async function files(folder: string): Promise<string[]> {
    const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(folder, path.join(e.parentPath, e.name)))
      .sort();
  }

  it('waits for a database the network does not let through yet, and fails at once on a wrong password', async () => {
    // A port that refuses connections until, 2 s later, a forwarder to the database listens on it.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    let forwarded = 0;
    const forwarder = createServer((client) => {
      forwarded++;
      const upstream = connectTcp(db.port, db.host);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    const opening = setTimeout(() => forwarder.listen(port), 2_000);
    const ca = await readFile(db.caFile!, 'utf8');
    const warnings: string[] = [];
    const sql = connect({ ...db, port }, ca);
    try {
      await reachable(sql, { warn: (_obj, msg) => warnings.push(msg) });
      const [{ n }] = (await sql`select count(*)::int as n from customers`) as unknown as [{ n: number }];
      expect(n).toBeGreaterThan(0);
    } finally {
      clearTimeout(opening);
      await sql.end({ timeout: 5 });
      forwarder.close();
    }
    expect(forwarded).toBeGreaterThan(0);
    expect(warnings).toEqual(['the database does not answer yet; trying again for 90 s']);

    const wrong = connect({ ...db, password: 'not-the-password' }, ca);
    await expect(reachable(wrong)).rejects.toMatchObject({ code: '28P01' });
    await wrong.end({ timeout: 5 });
  });

  it('writes an artifact the age CLI decrypts and pg_restore restores, with the row counts of its manifest', async () => {
    const folder = new FolderDestination('local', path.join(dir, 'local'));
    const offsite = offsiteOf();
    const name = uniqueName('shop');
    const seen: BackupProgress[] = [];
    const recorder = new KubeBackupRecorder(rest, namespace, name, 'shop', 'OnDemand');
    const { manifest, failed } = await runBackup({
      workspace: 'shop',
      backup: name,
      reason: 'OnDemand',
      database: db,
      recipients,
      destinations: [folder, offsite],
      log,
      recorder: { update: async (p) => (seen.push(p), recorder.update(p)) },
    });
    expect(failed).toEqual([]);
    expect(manifest.artifact).toMatch(new RegExp(`^shop/\\d{4}/\\d{2}/${name}\\.dump\\.age$`));
    expect(manifest.rowCounts).toMatchObject({
      'public.customers': 20000,
      'public.audit': 20000,
      'public.events_2025': expect.any(Number) as number,
      'public.documents': 1,
    });
    expect(manifest.rowCounts['public.events_2025']! + manifest.rowCounts['public.events_2026']!).toBe(30000);
    // A digest of every counted table's content, taken in the same snapshot.
    expect(manifest.contentDigests?.method).toBe(DIGEST_METHOD);
    expect(Object.keys(manifest.contentDigests!.tables).sort()).toEqual(Object.keys(manifest.rowCounts).sort());
    expect(manifest.contentDigests!.tables['public.customers']).toMatch(/^-?\d+$/);
    expect(manifest.encryption.recipients).toEqual(recipients);
    expect(manifest.database.serverVersion).toMatch(/^\d+\.\d+/);

    // Both copies final, byte for byte what the manifest says; nothing partial left.
    const local = path.join(dir, 'local', manifest.artifact);
    expect(await files(path.join(dir, 'local'))).toEqual([manifest.artifact, manifestKey(manifest.artifact)].sort());
    expect(await sha256(local)).toBe(manifest.sha256);
    const inBucket = path.join(s3.dataDir, BUCKET, 'holdfast', manifest.artifact);
    expect(await sha256(inBucket)).toBe(manifest.sha256);
    expect(JSON.parse(await readFile(path.join(dir, 'local', manifestKey(manifest.artifact)), 'utf8'))).toEqual(
      manifest,
    );
    expect(await checkCopy(offsite, manifest)).toEqual({ ok: true });

    // The customer's side: age with the escrow identity, then pg_restore into an empty database.
    const dump = path.join(dir, 'shop.dump');
    await run('age', ['-d', '-i', escrowFile, '-o', dump, inBucket]);
    const admin = superuser();
    await admin.unsafe('create database restored');
    await admin.end();
    await run(path.join(postgresBinDir(), 'pg_restore'), ['--no-owner', '--exit-on-error', '-d', 'restored', dump], {
      env: {
        ...process.env,
        PGHOST: '127.0.0.1',
        PGPORT: String(pg.port),
        PGUSER: pg.user,
        PGPASSWORD: pg.password,
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: path.join(pg.dir, 'ca.crt'),
      },
    });
    const restored = superuser('restored');
    try {
      for (const [table, count] of Object.entries(manifest.rowCounts)) {
        const [schema, rel] = table.split('.') as [string, string];
        const [r] = await restored`select count(*)::int as n from ${restored(schema)}.${restored(rel)}`;
        expect([table, r!.n]).toEqual([table, count]);
      }
      const [c] =
        await restored`select mood::text, tags, profile, encode(photo, 'hex') as photo from customers where id = 9`;
      expect(c).toEqual({
        mood: 'happy',
        tags: ['t2', 'x'],
        profile: { n: 9, nested: { even: false } },
        photo: createHash('md5').update('9').digest('hex') + createHash('md5').update('63').digest('hex'),
      });
      const [lo] = await restored`select length(lo_get(body)) as n from documents`;
      expect(lo!.n).toBe('large object '.length * 5000);
      const [v] = await restored`select count(*)::int as n from happy_customers`;
      // Customers 3, 6, … 19998.
      expect(v!.n).toBe(6666);
      expect((await restored`select last_value from invoice_no`)[0]!.last_value).toBe('1040');
      // The trigger came back too: a new customer is audited.
      await restored`insert into customers (name) values ('after restore')`;
      expect((await restored`select count(*)::int as n from audit`)[0]!.n).toBe(20001);
    } finally {
      await restored.end();
    }

    // What an auditor reads: the Backup resource.
    const backup = await rest.get<{ spec: { reason: string }; status: BackupResourceStatus }>(
      objectPath('Backup', name, namespace),
    );
    expect(backup.spec.reason).toBe('OnDemand');
    expect(backup.status).toMatchObject({
      phase: 'Succeeded',
      sha256: manifest.sha256,
      size: manifest.size,
      rows: Object.values(manifest.rowCounts).reduce((a, b) => a + b, 0),
      copiesText: '2/2',
    });
    expect(seen[0]).toMatchObject({ phase: 'Running', copiesText: '0/2' });
    const table = await kubectl('get', 'backups', '-n', namespace, name);
    expect(table).toMatch(/NAME\s+PHASE\s+REASON\s+SIZE\s+ROWS\s+COPIES\s+COMPLETED\s+VERIFIED\s+AGE/);
    expect(table).toMatch(new RegExp(`${name}\\s+Succeeded\\s+OnDemand\\s+\\d+(\\.\\d+)? (KiB|MiB)\\s+\\d+\\s+2/2`));
  });

  it('a destination slower than pg_dump gets its copy made final once the last byte has reached it', async () => {
    // pg_dump is long gone when this copy's last chunk arrives: the verdict
    // must wait for the stream, not only for pg_dump's exit.
    class SlowFolder extends FolderDestination {
      override upload(key: string, body: Readable, expected: () => Promise<Expected>): Promise<void> {
        const slow = Readable.from(
          (async function* () {
            for await (const chunk of body as AsyncIterable<Buffer>) {
              // About 6 MB/s, slower than pg_dump writes.
              await new Promise((r) => setTimeout(r, Math.ceil(chunk.length / 6_500)));
              yield chunk;
            }
          })(),
        );
        return super.upload(key, slow, expected);
      }
    }
    // Several MiB of incompressible rows: more than the stream buffers hold,
    // so pg_dump exits while most of the artifact is still on its way.
    const admin = superuser();
    await admin.unsafe('create database noise');
    await admin.end();
    const noise = superuser('noise');
    await noise.unsafe(
      `create table noise as select g as id, md5(random()::text) || md5(random()::text) as v from generate_series(1, 200000) g`,
    );
    await noise.end();
    const slow = new SlowFolder('slow', path.join(dir, 'slow'));
    const { manifest, failed } = await runBackup({
      workspace: 'noise',
      backup: uniqueName('noise'),
      reason: 'OnDemand',
      database: { ...db, database: 'noise' },
      recipients,
      destinations: [slow],
      log,
    });
    expect(failed).toEqual([]);
    expect(manifest.size).toBeGreaterThan(4 * 1024 * 1024);
    expect(manifest.rowCounts).toEqual({ 'public.noise': 200000 });
    expect(await sha256(path.join(dir, 'slow', manifest.artifact))).toBe(manifest.sha256);
  });

  it('a wrong key does not open it, and a changed byte is found by its checksum', async () => {
    const folder = new FolderDestination('local', path.join(dir, 'tamper'));
    const { manifest } = await runBackup({
      workspace: 'shop',
      backup: uniqueName('shop'),
      reason: 'OnDemand',
      database: db,
      recipients,
      destinations: [folder],
      log,
    });
    const file = path.join(dir, 'tamper', manifest.artifact);
    const other = path.join(dir, 'other.txt');
    await run('age-keygen', ['-o', other]);
    await expect(run('age', ['-d', '-i', other, '-o', '/dev/null', file])).rejects.toMatchObject({
      stderr: expect.stringMatching(/no identity matched any of the recipients/) as string,
    });
    const bytes = await readFile(file);
    bytes[bytes.length >> 1]! ^= 0x01;
    await writeFile(file, bytes);
    const check = await checkCopy(folder, manifest);
    expect(check).toMatchObject({ ok: false, message: expect.stringContaining('the copy was changed') as string });
    await expect(run('age', ['-d', '-i', escrowFile, '-o', '/dev/null', file])).rejects.toBeDefined();
  });

  it('S3 down: the folder still gets its copy, and the status says which copy failed and why', async () => {
    const folder = new FolderDestination('local', path.join(dir, 'down'));
    await s3.kill();
    try {
      const progress: BackupProgress[] = [];
      const { manifest, failed } = await runBackup({
        workspace: 'shop',
        backup: uniqueName('shop'),
        reason: 'Scheduled',
        database: db,
        recipients,
        destinations: [folder, offsiteOf()],
        log,
        recorder: { update: async (p) => void progress.push(p) },
      });
      expect(failed).toEqual([
        { destination: 'offsite', message: expect.stringMatching(/ECONNREFUSED|connect/) as string },
      ]);
      expect(await sha256(path.join(dir, 'down', manifest.artifact))).toBe(manifest.sha256);
      expect(progress.at(-1)).toMatchObject({
        phase: 'Succeeded',
        copiesText: '1/2',
        message: expect.stringContaining('offsite') as string,
      });
      expect(progress.at(-1)!.copies).toEqual([
        expect.objectContaining({ destination: 'local', phase: 'Stored' }),
        expect.objectContaining({ destination: 'offsite', phase: 'Failed' }),
      ]);
    } finally {
      await s3.restart();
    }
  });

  it('a full volume fails its copy and leaves no partial file; the other copy is stored', async () => {
    const small = path.join(dir, 'small');
    await mkdir(small);
    // A real file system that runs out of space: 256 KiB of tmpfs.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    mounted = small;
    try {
      const { manifest, failed } = await runBackup({
        workspace: 'shop',
        backup: uniqueName('shop'),
        reason: 'Scheduled',
        database: db,
        recipients,
        destinations: [new FolderDestination('small', small), offsiteOf()],
        log,
      });
      expect(failed).toEqual([{ destination: 'small', message: expect.stringContaining('ENOSPC') as string }]);
      expect(await files(small)).toEqual([]);
      expect(await checkCopy(offsiteOf(), manifest)).toEqual({ ok: true });
    } finally {
      await run('umount', [small]);
      mounted = undefined;
    }
  });

  it('the database unreachable, or newer than pg_dump: Failed with the reason, nothing written', async () => {
    const folder = path.join(dir, 'unreachable');
    const progress: BackupProgress[] = [];
    await expect(
      runBackup({
        workspace: 'shop',
        backup: uniqueName('shop'),
        reason: 'Scheduled',
        database: { ...db, port: 1 },
        recipients,
        destinations: [new FolderDestination('local', folder)],
        log,
        recorder: { update: async (p) => void progress.push(p) },
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(progress.at(-1)).toMatchObject({
      phase: 'Failed',
      message: expect.stringMatching(/ECONNREFUSED/) as string,
    });
    expect(await files(folder)).toEqual([]);

    // A pg_dump that fails after writing part of its archive: the part is never made final anywhere.
    const failing = path.join(dir, 'pg_dump_failing');
    await writeFile(
      failing,
      '#!/bin/sh\nif [ "$1" = --version ]; then exec pg_dump --version; fi\npg_dump "$@" | head -c 300000\nexit 1\n',
    );
    await chmod(failing, 0o755);
    const cut: BackupProgress[] = [];
    await expect(
      runBackup({
        workspace: 'cut',
        backup: uniqueName('cut'),
        reason: 'Scheduled',
        database: db,
        recipients,
        destinations: [new FolderDestination('local', folder), offsiteOf()],
        pgDump: failing,
        log,
        recorder: { update: async (p) => void cut.push(p) },
      }),
    ).rejects.toThrow(/pg_dump failed \(exit 1\)/);
    expect(cut.at(-1)).toMatchObject({ phase: 'Failed' });
    expect(await files(folder)).toEqual([]);
    expect(await offsiteOf().list('cut/')).toEqual([]);

    // A pg_dump of an older major than the server: refused before dumping.
    const old = path.join(dir, 'pg_dump_14');
    await writeFile(old, '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n');
    await chmod(old, 0o755);
    await expect(
      runBackup({
        workspace: 'shop',
        backup: uniqueName('shop'),
        reason: 'Scheduled',
        database: db,
        recipients,
        destinations: [new FolderDestination('local', folder)],
        pgDump: old,
        log,
      }),
    ).rejects.toThrow(VersionRefused);
    expect(await files(folder)).toEqual([]);
  });

  it('a pg_dump done before its output is read has all of it stored; one that writes no archive fails', async () => {
    // A small archive, written at once by a pg_dump that is gone before the
    // header for a hundred recipients is made. Node drops the unread output of
    // a child that has exited: the backup must have piped it from the start.
    const archive = path.join(dir, 'small.dump');
    await run(path.join(postgresBinDir(), 'pg_dump'), ['--format=custom', '-f', archive, '-t', 'audit', 'shop'], {
      env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(pg.port), PGUSER: pg.user, PGPASSWORD: pg.password },
    });
    const instant = path.join(dir, 'pg_dump_instant');
    await writeFile(
      instant,
      `#!/bin/sh\nif [ "$1" = --version ]; then exec pg_dump --version; fi\nexec cat ${archive}\n`,
    );
    await chmod(instant, 0o755);
    const many = [...recipients];
    for (let i = 0; i < 100; i++) many.push(await identityToRecipient(await generateIdentity()));
    const folder = path.join(dir, 'instant');
    const { manifest } = await runBackup({
      workspace: 'instant',
      backup: uniqueName('instant'),
      reason: 'OnDemand',
      database: db,
      recipients: many,
      destinations: [new FolderDestination('local', folder)],
      pgDump: instant,
      log,
    });
    const decrypted = path.join(dir, 'instant.dump');
    await run('age', ['-d', '-i', escrowFile, '-o', decrypted, path.join(folder, manifest.artifact)]);
    expect(await sha256(decrypted)).toBe(await sha256(archive));

    // A pg_dump that exits 0 having written nothing, or something that is no
    // archive: Failed, and no copy made final.
    for (const [script, why] of [
      ['exit 0', /pg_dump exited 0 but wrote nothing/],
      ['echo "not an archive"', /pg_dump exited 0 but wrote no custom-format archive/],
    ] as const) {
      const silent = path.join(dir, 'pg_dump_silent');
      await writeFile(silent, `#!/bin/sh\nif [ "$1" = --version ]; then exec pg_dump --version; fi\n${script}\n`);
      await chmod(silent, 0o755);
      const empty = path.join(dir, 'silent');
      const progress: BackupProgress[] = [];
      await expect(
        runBackup({
          workspace: 'silent',
          backup: uniqueName('silent'),
          reason: 'Scheduled',
          database: db,
          recipients,
          destinations: [new FolderDestination('local', empty), offsiteOf()],
          pgDump: silent,
          log,
          recorder: { update: async (p) => void progress.push(p) },
        }),
      ).rejects.toThrow(why);
      expect(progress.at(-1)).toMatchObject({ phase: 'Failed', message: expect.stringMatching(why) as string });
      expect(await files(empty)).toEqual([]);
      expect(await offsiteOf().list('silent/')).toEqual([]);
    }
  });

  it('prune keeps what GFS retention keeps, deletes the rest at every destination, then its Backup', async () => {
    const folder = new FolderDestination('local', path.join(dir, 'prune'));
    const ws = 'pruned';
    // Eight daily backups, as eight days of the schedule would leave them; the oldest one verified.
    const days = Array.from({ length: 8 }, (_, i) => new Date(Date.UTC(2026, 10, 20 + i, 4)));
    const names: string[] = [];
    for (const [i, at] of days.entries()) {
      const name = `${ws}-${i}`;
      names.push(name);
      const artifact = `${ws}/2026/11/${name}.dump.age`;
      await folder.put(artifact, Buffer.from(`artifact ${i}`));
      await folder.put(manifestKey(artifact), Buffer.from('{}'));
      await new KubeBackupRecorder(rest, namespace, name, ws, 'Scheduled').update({
        phase: 'Succeeded',
        startedAt: at.toISOString(),
        completedAt: at.toISOString(),
        artifact,
      });
      if (i === 0)
        await rest.request('PATCH', `${objectPath('Backup', name, namespace)}/status`, {
          body: { status: { verifiedAt: at.toISOString() } },
          contentType: 'application/merge-patch+json',
        });
    }
    const listed = await rest.get<{ items: { metadata: { name: string }; status: BackupResourceStatus }[] }>(
      collectionPath('Backup', namespace),
      { labelSelector: `holdfast.io/workspace=${ws}` },
    );
    const result = await pruneBackups({
      backups: listed.items.map((b) => ({
        name: b.metadata.name,
        completedAt: new Date(b.status.completedAt!),
        succeeded: b.status.phase === 'Succeeded',
        verified: Boolean(b.status.verifiedAt),
        artifact: b.status.artifact!,
      })),
      retention: { daily: 3 },
      timeZone: 'Europe/Berlin',
      destinations: [folder],
      forget: (n) => rest.request('DELETE', objectPath('Backup', n, namespace)),
      log,
    });
    // The three newest days, and the only verified one.
    expect(result.deleted.sort()).toEqual(names.slice(1, 5));
    expect(result.failed).toEqual([]);
    const left = await rest.get<{ items: { metadata: { name: string } }[] }>(collectionPath('Backup', namespace), {
      labelSelector: `holdfast.io/workspace=${ws}`,
    });
    expect(left.items.map((b) => b.metadata.name).sort()).toEqual([names[0], ...names.slice(5)]);
    expect((await files(path.join(dir, 'prune'))).map((f) => path.basename(f)).sort()).toEqual(
      [names[0], ...names.slice(5)].flatMap((n) => [`${n}.dump.age`, `${n}.json`]).sort(),
    );
  });

  it('killed mid-upload: no final artifact anywhere, and the next run succeeds', async () => {
    const config = path.join(dir, 'job.json');
    await mkdir(path.join(dir, 'creds'), { recursive: true });
    await writeFile(path.join(dir, 'creds', 'accessKeyId'), s3.accessKeyId);
    await writeFile(path.join(dir, 'creds', 'secretAccessKey'), s3.secretAccessKey);
    await writeFile(path.join(dir, 'db-password'), db.password);
    await writeFile(path.join(dir, 'recipients'), recipients.join('\n'));
    await writeFile(
      config,
      JSON.stringify({
        workspace: 'killed',
        namespace,
        database: { ...db, password: undefined, passwordFile: path.join(dir, 'db-password') },
        recipientFiles: [path.join(dir, 'recipients')],
        destinations: [
          { name: 'local', folder: { path: path.join(dir, 'killed') } },
          {
            name: 'offsite',
            s3: {
              endpoint: s3.endpoint,
              bucket: BUCKET,
              prefix: 'holdfast/',
              credentialsDir: path.join(dir, 'creds'),
            },
          },
        ],
        retention: { daily: 30 },
      }),
    );
    // A slow pg_dump: the real one, throttled, so the job is mid-upload when it is killed.
    const slow = path.join(dir, 'pg_dump_slow');
    await writeFile(
      slow,
      `#!/bin/sh\nif [ "$1" = --version ]; then exec pg_dump --version; fi\n` +
        `pg_dump "$@" | node -e "process.stdin.on('data', (d) => { process.stdin.pause(); ` +
        `process.stdout.write(d, () => setTimeout(() => process.stdin.resume(), 50)); })"\n`,
    );
    await chmod(slow, 0o755);
    const job = spawn('npx', ['tsx', 'cli/main.ts', 'backup', '--config', config, '--no-prune'], {
      cwd: root,
      env: { ...process.env, HOLDFAST_PG_DUMP: slow, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
      stdio: 'ignore',
      detached: true,
    });
    // Killed once a partial file shows it is writing.
    const deadline = Date.now() + 60_000;
    while (!(await files(path.join(dir, 'killed'))).some((f) => f.includes('.partial-'))) {
      if (Date.now() > deadline) throw new Error('the job never started writing');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-job.pid!, 'SIGKILL');
    await new Promise((r) => job.once('exit', r));

    expect((await files(path.join(dir, 'killed'))).filter((f) => !f.includes('.partial-'))).toEqual([]);
    expect(await offsiteOf().list('killed/')).toEqual([]);
    const uploads = await testS3Client(s3).send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(uploads.Uploads?.length ?? 0).toBeGreaterThan(0);

    const again = await run('npx', ['tsx', 'cli/main.ts', 'backup', '--config', config, '--no-prune'], {
      cwd: root,
      env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
    });
    expect(again.stdout).toContain('backup finished');
    const stored = await offsiteOf().list('killed/');
    expect(stored.map((o) => o.key.replace(/.*\./, ''))).toEqual(['age', 'json']);
  });
});
