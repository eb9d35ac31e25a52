// Restoring a backup against the real peers: a backup taken by `holdfast
// backup` from a real PostgreSQL to a versitygw S3 server and a folder, then
// streamed back through age decryption into pg_restore in an empty database.
// Faults: another workspace's backup, a target that is not empty, a key that
// is not a recipient, a changed byte, and a copy its manifest does not
// describe: each refused with what to do, and the target left empty.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, identityToRecipient } from '../../operator/backup/age-stream.js';
import { manifestKey } from '../../operator/backup/artifact.js';
import { FolderDestination, S3Destination } from '../../operator/backup/destinations.js';
import { restoreArtifact, RestoreRefused } from '../../operator/backup/restore.js';
import { runBackup, type DatabaseTarget } from '../../operator/backup/runner.js';
import { uniqueName } from '../harness/names.js';
import { startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { startS3, type TestS3 } from '../harness/s3.js';

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

  const target = (database: string): DatabaseTarget => ({
    host: '127.0.0.1',
    port: pg.port,
    database,
    user: pg.user,
    password: pg.password,
    sslmode: 'verify-full',
    caFile: path.join(pg.dir, 'ca.crt'),
  });
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
    const admin = superuserClient(pg);
    await admin.unsafe('create database shop');
    await admin.end();
    const shop = superuserClient(pg, 'shop');
    await shop.unsafe(SCHEMA);
    await shop.end();
    source = await fingerprint(pg, 'shop');

    identity = await generateIdentity();
    const escrowFile = path.join(dir, 'escrow.txt');
    await run('age-keygen', ['-o', escrowFile]);
    escrowIdentity = (await readFile(escrowFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    const escrow = (await readFile(escrowFile, 'utf8')).match(/public key: (age1\S+)/)![1]!;
    folder = new FolderDestination('local', path.join(dir, 'local'));
    offsite = new S3Destination('offsite', {
      endpoint: s3.endpoint,
      bucket: BUCKET,
      prefix: 'holdfast/',
      region: s3.region,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSize: 5 * 1024 * 1024,
    });
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
    expect(result.rowCounts).toEqual(result.manifest.rowCounts);
    expect(result.rowCounts['public.customers']).toBe(30000);
    expect(await fingerprint(pg, into)).toEqual(source);
    expect(result.bytes).toBe(result.manifest.size);
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
});
