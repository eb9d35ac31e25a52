// Restoring a backup against the real peers: a backup taken by `holdfast
// backup` from a real PostgreSQL to a versitygw S3 server and a folder, then
// streamed back through age decryption into pg_restore: into an empty
// database, and in place over a database whose data changed since.
// Faults: another workspace's backup, a target that is not empty, a key that
// is not a recipient, a changed byte, and a copy its manifest does not
// describe: each refused with what to do, and the target left as it was.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { manifestKey } from '../../operator/backup/artifact.js';
import { FolderDestination, type S3Destination } from '../../operator/backup/destinations.js';
import { readDatabaseContents } from '../../operator/backup/database.js';
import {
  compare,
  describeMismatches,
  restoreArtifact,
  restoreInPlace,
  RestoreRefused,
  type InPlaceProgress,
} from '../../operator/backup/restore.js';
import { runBackup, type DatabaseTarget } from '../../operator/backup/runner.js';
import { uniqueName } from '../harness/names.js';
import { createDatabase, jobTarget, startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { s3Destination, startS3, type TestS3 } from '../harness/s3.js';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const BUCKET = 'holdfast-restores';

const SCHEMA = `
create type mood as enum ('happy', 'sad', 'ok');
create table customers (id bigserial primary key, name text not null, mood mood, profile jsonb, photo bytea, balance numeric(12,2));
create table audit (id serial primary key, customer bigint references customers(id), note text);
create table events (id bigint, at date not null) partition by range (at);
create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');
insert into customers (name, mood, profile, photo, balance)
  select 'customer ' || g, (array['happy','sad','ok'])[1 + g % 3]::mood, jsonb_build_object('n', g),
         decode(md5(g::text), 'hex'), g * 1.25
  from generate_series(1, 30000) g;
insert into audit (customer, note) select g, repeat('x', g % 50) from generate_series(1, 30000) g;
insert into events select g, date '2026-01-01' + (g % 300) from generate_series(1, 5000) g;
select lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));
`;

/** What a person would compare: every table's rows, as text, in order. */
async function fingerprint(pg: TestPostgres, database: string): Promise<Record<string, string>> {
  const sql = superuserClient(pg, database);
  try {
    const out: Record<string, string> = {};
    for (const t of ['customers', 'audit', 'events']) {
      const [r] = (await sql.unsafe(
        `select count(*)::text || ':' || md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as f from ${t} x`,
      )) as unknown as [{ f: string }];
      out[t] = r.f;
    }
    const [lo] = (await sql`select count(*)::int as n from pg_largeobject_metadata`) as unknown as [{ n: number }];
    out.largeObjects = String(lo.n);
    return out;
  } finally {
    await sql.end();
  }
}

describe('restoring a backup', { timeout: 600_000 }, () => {
  let pg: TestPostgres;
  let s3: TestS3;
  let dir: string;
  let identity: string;
  let escrowIdentity: string;
  let artifact: string;
  let folder: FolderDestination;
  let offsite: S3Destination;
  let source: Record<string, string>;

  const target = (database: string): DatabaseTarget => jobTarget(pg, database);
  const emptyDatabase = async () => {
    const name = uniqueName('restored').replaceAll('-', '_');
    const admin = superuserClient(pg);
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    return name;
  };

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    await s3.bucket(BUCKET);
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-restore-'));
    await createDatabase(pg, 'shop', SCHEMA);
    source = await fingerprint(pg, 'shop');

    identity = await generateIdentity();
    const escrowFile = path.join(dir, 'escrow.txt');
    await run('age-keygen', ['-o', escrowFile]);
    escrowIdentity = (await readFile(escrowFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    const escrow = (await readFile(escrowFile, 'utf8')).match(/public key: (age1\S+)/)![1]!;
    folder = new FolderDestination('local', path.join(dir, 'local'));
    offsite = s3Destination(s3, BUCKET, { prefix: 'holdfast/', partSize: 5 * 1024 * 1024 });
    const { manifest } = await runBackup({
      workspace: 'shop',
      backup: 'shop-20261130-040000',
      reason: 'Scheduled',
      database: target('shop'),
      recipients: [await identityToRecipient(identity), escrow],
      destinations: [folder, offsite],
      log,
    });
    artifact = manifest.artifact;
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('from S3 into an empty database: every row, every large object, and the counts of the manifest', async () => {
    const into = await emptyDatabase();
    const result = await restoreArtifact({
      workspace: 'shop',
      artifact,
      source: offsite,
      identities: [escrowIdentity],
      target: target(into),
      log,
    });
    expect(result.mismatches).toEqual([]);
    expect(result.contentChecked).toBe(true);
    expect(result.rowCounts).toEqual(result.manifest.rowCounts);
    expect(result.rowCounts['public.customers']).toBe(30000);
    expect(await fingerprint(pg, into)).toEqual(source);
    expect(result.bytes).toBe(result.manifest.size);

    // One changed value keeps every count and changes its table's digest, even on a database whose
    // settings would write its rows otherwise.
    const client = superuserClient(pg, into);
    try {
      await client.unsafe(`alter database ${into} set timezone = 'Asia/Tokyo'`);
      await client.unsafe(`alter database ${into} set extra_float_digits = 0`);
      await client.unsafe(`alter database ${into} set bytea_output = 'escape'`);
    } finally {
      await client.end();
    }
    const again = superuserClient(pg, into);
    try {
      expect(compare(result.manifest, await readDatabaseContents(again))).toEqual([]);
      await again.unsafe("update customers set name = name || '!' where id = 7");
      const changed = compare(result.manifest, await readDatabaseContents(again));
      expect(changed).toEqual([{ table: 'public.customers', expected: 30000, restored: 30000, contentDiffers: true }]);
      expect(describeMismatches(changed)).toBe(
        "public.customers: other rows than the backup's (30000 rows, content differs)",
      );
    } finally {
      await again.end();
    }
  });

  it('refuses what is not this workspace’s, or a database that is not empty, before restoring anything', async () => {
    const into = await emptyDatabase();
    await expect(
      restoreArtifact({
        workspace: 'other',
        artifact,
        source: folder,
        identities: [identity],
        target: target(into),
        log,
      }),
    ).rejects.toThrow(/backup shop-20261130-040000 is of workspace shop, not other: restore a backup of other/);

    await expect(
      restoreArtifact({
        workspace: 'shop',
        artifact,
        source: folder,
        identities: [identity],
        target: target('shop'),
        log,
      }),
    ).rejects.toThrow(/database shop is not empty \(3 tables, 1 large objects\): restore into an empty database/);
    // The source is as it was.
    expect(await fingerprint(pg, 'shop')).toEqual(source);
  });

  it('a key that is no recipient, a changed byte, a copy its manifest does not describe: refused, the target left empty', async () => {
    const other = await generateIdentity();
    const into = await emptyDatabase();
    const empty = await fingerprint(pg, into).catch(() => undefined);
    expect(empty).toBeUndefined(); // no tables at all

    const attempt = (source: FolderDestination | S3Destination, identities = [identity]) =>
      restoreArtifact({ workspace: 'shop', artifact, source, identities, target: target(into), log });
    const stillEmpty = async () => {
      const sql = superuserClient(pg, into);
      const [r] = (await sql`
        select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = 'public')::int as relations,
               (select count(*) from pg_largeobject_metadata)::int as large_objects`) as unknown as [
        { relations: number; large_objects: number },
      ];
      await sql.end();
      return r;
    };

    await expect(attempt(folder, [other])).rejects.toThrow(/none of the given identities is a recipient of this file/);
    expect(await stillEmpty()).toEqual({ relations: 0, large_objects: 0 });

    // One byte changed in the middle of a copy: its chunk does not authenticate.
    const changedDir = path.join(dir, 'changed');
    const changed = new FolderDestination('changed', changedDir);
    const bytes = await readFile(path.join(dir, 'local', artifact));
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
    await changed.put(artifact, bytes);
    await changed.put(manifestKey(artifact), await readFile(path.join(dir, 'local', manifestKey(artifact))));
    await expect(attempt(changed)).rejects.toThrow(/a chunk does not authenticate: the file was changed/);
    expect(await stillEmpty()).toEqual({ relations: 0, large_objects: 0 });

    // A whole, valid age file that is not the backup its manifest describes
    // (another backup's copy put in its place): all of it decrypts, but the
    // archive's end never reaches pg_restore, whose transaction is rolled back.
    const swappedDir = path.join(dir, 'swapped');
    const swapped = new FolderDestination('swapped', swappedDir);
    const manifest = JSON.parse(await readFile(path.join(dir, 'local', manifestKey(artifact)), 'utf8')) as {
      sha256: string;
    };
    await swapped.put(artifact, await readFile(path.join(dir, 'local', artifact)));
    await swapped.put(manifestKey(artifact), Buffer.from(JSON.stringify({ ...manifest, sha256: 'f'.repeat(64) })));
    await expect(attempt(swapped)).rejects.toThrow(
      new RegExp(`has SHA-256 ${manifest.sha256}, its manifest says f{64}: the copy is not the backup that was taken`),
    );
    expect(await stillEmpty()).toEqual({ relations: 0, large_objects: 0 });

    // No manifest at all: refused, nothing read.
    const bare = new FolderDestination('bare', path.join(dir, 'bare'));
    await bare.put(artifact, await readFile(path.join(dir, 'local', artifact)));
    const refused = await attempt(bare).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RestoreRefused);
    expect((refused as Error).message).toMatch(/a backup without its manifest cannot be proven/);
  });

  it('in place: the data of the backup and nothing else, the role’s sessions ended; a bad copy changes nothing', async () => {
    // As in a workspace: a role that is no superuser owns the database and all in it.
    const role = uniqueName('owner').replaceAll('-', '_');
    const admin = superuserClient(pg);
    await admin.unsafe(`create role ${role} login password 'owner-pw'`);
    await admin.unsafe(`create database ${role} owner ${role}`);
    await admin.end();
    const owner = (): DatabaseTarget => ({ ...target(role), user: role, password: 'owner-pw' });
    const ownerClient = () =>
      postgres({
        host: '127.0.0.1',
        port: pg.port,
        database: role,
        username: role,
        password: 'owner-pw',
        ssl: { ca: readFileSync(path.join(pg.dir, 'ca.crt'), 'utf8') },
        max: 1,
        onnotice: () => undefined,
      });
    await restoreArtifact({
      workspace: 'shop',
      artifact,
      source: folder,
      identities: [identity],
      target: owner(),
      log,
    });
    expect(await fingerprint(pg, role)).toEqual(source);

    // Since the backup: rows deleted and changed, a table, a view and a function added, a large object removed.
    const app = ownerClient();
    await app.unsafe(`
      delete from audit where id % 2 = 0;
      update customers set name = 'renamed' where id <= 100;
      create table added (x int); insert into added values (1);
      create view rich as select * from customers where balance > 100;
      create function f() returns int language sql as 'select 1';
      select lo_unlink(oid) from pg_largeobject_metadata;`);
    await app.end();
    const changedData = await fingerprint(pg, role);
    expect(changedData).not.toEqual(source);

    // A bad copy: refused part-way, rolled back, the changed data kept.
    const changedDir = path.join(dir, 'changed-inplace');
    const changed = new FolderDestination('changed', changedDir);
    const bytes = await readFile(path.join(dir, 'local', artifact));
    const at = Math.floor(bytes.length * 0.9);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
    await changed.put(artifact, bytes);
    await changed.put(manifestKey(artifact), await readFile(path.join(dir, 'local', manifestKey(artifact))));
    await expect(
      restoreInPlace({ workspace: 'shop', artifact, source: changed, identities: [identity], target: owner(), log }),
    ).rejects.toThrow(/a chunk does not authenticate: the file was changed/);
    expect(await fingerprint(pg, role)).toEqual(changedData);
    expect(await objects(role)).toEqual(['added', 'f', 'rich']);

    // A session of the workspace's role, in the middle of a transaction: ended.
    const held = ownerClient();
    const reserved = await held.reserve();
    await reserved`begin`;
    const [{ pid }] = (await reserved`select pg_backend_pid() as pid, count(*) from customers`) as unknown as [
      { pid: number },
    ];
    const progress: InPlaceProgress[] = [];
    const result = await restoreInPlace({
      workspace: 'shop',
      artifact,
      source: offsite,
      identities: [escrowIdentity],
      target: owner(),
      log,
      onProgress: (p) => progress.push(p),
    });
    expect(result.mismatches).toEqual([]);
    expect(await fingerprint(pg, role)).toEqual(source);
    expect(await objects(role)).toEqual([]);
    const check = superuserClient(pg);
    expect(await check`select pid from pg_stat_activity where pid = ${pid}`).toHaveLength(0);
    await check.end();
    await held.end({ timeout: 1 });
    // Progress: tables as their rows load, and all of the copy at the end.
    expect(progress.at(-1)).toEqual({
      bytes: result.manifest.size,
      totalBytes: result.manifest.size,
      tables: 3,
      totalTables: 3,
    });
    expect(progress.map((p) => p.tables)).toEqual([...progress.map((p) => p.tables)].sort((a, b) => a - b));
  });

  /** What the role made beside the backup's tables: relations and functions not in the backup. */
  async function objects(database: string): Promise<string[]> {
    const sql = superuserClient(pg, database);
    try {
      const rows = (await sql`
        select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relname in ('added', 'rich')
        union all
        select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.proname = 'f'
        order by 1`) as unknown as { name: string }[];
      return rows.map((r) => r.name);
    } finally {
      await sql.end();
    }
  }
});
