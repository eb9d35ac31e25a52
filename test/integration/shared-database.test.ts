// Shared mode against a real PostgreSQL: a database and role per workspace,
// usable with the Secret as written, isolated from the other workspaces.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { collectionPath, objectPath } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { Workspaces } from '../harness/workspaces.js';

interface App {
  host: string;
  port: number;
  dbname: string;
  user: string;
  password: string;
  uri: string;
  ca: string;
}

describe('Shared databases', () => {
  const w = new Workspaces();
  let pg: TestPostgres;
  let admin: postgres.Sql;
  let operator: RunningOperator;
  let encrypted: string;
  const server = uniqueName('pg-shared');

  const appSecret = async (name: string): Promise<App> => {
    const s = (await w.object('Secret', 'db-app', namespaceOf(name))) as
      { data: Record<string, string>; type: string } | undefined;
    const d = (k: string) => Buffer.from(s!.data[k] ?? '', 'base64').toString('utf8');
    return {
      host: d('host'),
      port: Number(d('port')),
      dbname: d('dbname'),
      user: d('user'),
      password: d('password'),
      uri: d('uri'),
      ca: d('ca.crt'),
    };
  };
  // Exactly what an application would do with the Secret: verify-full TLS.
  const connectAs = (app: App, dbname = app.dbname, password = app.password) =>
    postgres({
      host: app.host,
      port: app.port,
      database: dbname,
      username: app.user,
      password,
      ssl: { ca: app.ca, servername: app.host, rejectUnauthorized: true },
      max: 1,
      connect_timeout: 5,
      onnotice: () => undefined,
    });

  beforeAll(async () => {
    await installCrds();
    pg = await startPostgres();
    admin = postgres({
      host: '127.0.0.1',
      port: pg.port,
      username: pg.user,
      password: pg.password,
      database: 'postgres',
      ssl: { ca: pg.ca, rejectUnauthorized: true },
      max: 2,
      onnotice: () => undefined,
    });
    encrypted = await w.storageClass({ encrypted: true });
    const ns = 'holdfast-system';
    await w.rest
      .request('POST', `/api/v1/namespaces`, { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } })
      .catch(() => undefined);
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    await w.rest.request('POST', collectionPath('Secret', ns), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${server}-admin` },
        data: { username: b64(pg.user), password: b64(pg.password) },
      },
    });
    await w.rest.request('POST', collectionPath('Secret', ns), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${server}-ca` }, data: { 'ca.crt': b64(pg.ca) } },
    });
    await w.rest.request('POST', collectionPath('SharedDatabaseServer'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'SharedDatabaseServer',
        metadata: { name: server },
        // The harness certificate names localhost.
        spec: {
          host: 'localhost',
          port: pg.port,
          caSecretRef: { name: `${server}-ca`, namespace: ns },
          adminSecretRef: { name: `${server}-admin`, namespace: ns },
        },
      },
    });
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => {
    await operator?.stop();
    await admin?.end();
    await pg?.stop();
  });

  const shared = (extra: Record<string, unknown> = {}) => ({
    volume: { storageClassName: encrypted },
    database: { mode: 'Shared', serverRef: server, ...extra },
  });

  it('creates a role and database that the application reaches with the Secret as written', async () => {
    const name = await w.create('app', shared({ connectionLimit: 7 }));
    const ws = await w.waitForCondition(name, 'Ready', 'True');
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'Provisioned' });
    const app = await appSecret(name);
    const id = `ws_${name.replace(/-/g, '_')}`;
    expect(app).toMatchObject({ host: 'localhost', port: pg.port, dbname: id, user: id });
    expect(app.uri).toBe(`postgresql://${id}:${app.password}@localhost:${pg.port}/${id}?sslmode=verify-full`);
    expect(ws.status?.database).toMatchObject({ mode: 'Shared', server, name: id, secretName: 'db-app' });
    expect(ws.status?.database?.version).toMatch(/^\d+\.\d+/);

    const sql = connectAs(app);
    const [row] = await sql<
      { db: string; who: string; ssl: boolean }[]
    >`select current_database() as db, current_user as who, (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl`;
    expect(row).toEqual({ db: id, who: id, ssl: true });
    await sql`create table notes (id int primary key, body text)`;
    await sql.end();

    const [privs] = await admin<{ pub: boolean; owner: string; limit: number }[]>`
      select has_database_privilege('public', ${id}, 'CONNECT') as pub,
             pg_get_userbyid(datdba) as owner,
             (select rolconnlimit from pg_roles where rolname = ${id}) as limit
      from pg_database where datname = ${id}`;
    expect(privs).toEqual({ pub: false, owner: id, limit: 7 });
  });

  it("keeps one workspace's role out of another workspace's database", async () => {
    const a = await w.create('iso-a', shared());
    const b = await w.create('iso-b', shared());
    await w.waitForCondition(a, 'Ready', 'True');
    await w.waitForCondition(b, 'Ready', 'True');
    const appA = await appSecret(a);
    const appB = await appSecret(b);
    const intruder = connectAs(appA, appB.dbname);
    await expect(intruder`select 1`).rejects.toThrow(/permission denied for database/);
    await intruder.end();
  });

  it('recovers from a crash between CREATE ROLE and CREATE DATABASE', async () => {
    // Suspended until the crash is staged: its uid goes into the role's mark.
    const name = await w.create('crash', { ...shared(), suspend: true });
    const id = `ws_${name.replace(/-/g, '_')}`;
    const { uid } = (await w.get(name)).metadata;
    // What a crashed earlier attempt leaves: the role with its mark, no database, no Secret.
    await admin.unsafe(`create role "${id}" login password 'leftover-password-123'`);
    await admin.unsafe(`comment on role "${id}" is 'holdfast.io/workspace=${name} uid=${uid}'`);
    await w.patchSpec(name, { suspend: false });
    await w.waitForCondition(name, 'Ready', 'True');
    const sql = connectAs(await appSecret(name));
    expect((await sql`select current_database() as db`)[0]?.db).toBe(id);
    await sql.end();
    const roles = await admin`select count(*)::int as n from pg_roles where rolname = ${id}`;
    expect(roles[0]?.n).toBe(1);
  });

  const passwordOf = async (role: string) =>
    (await admin<{ p: string | null }[]>`select rolpassword as p from pg_authid where rolname = ${role}`)[0]?.p;

  it('leaves a role it did not create alone: not taken over, password unchanged, not dropped', async () => {
    const name = uniqueName('byhand');
    const id = `ws_${name.replace(/-/g, '_')}`;
    await admin.unsafe(`create role "${id}" login password 'someone-elses-password-1'`);
    const before = await passwordOf(id);
    await w.createNamed(name, { ...shared(), deletionPolicy: 'Delete' });
    const ws = await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ reason: 'NotOwned' });
    expect(w.condition(ws, 'DatabaseReady')?.message).toContain(
      `role ${id} already exists and was not created for this Workspace; nothing was changed`,
    );
    expect(ws.status?.phase).toBe('Degraded');
    expect(await passwordOf(id)).toBe(before);
    expect((await admin`select count(*)::int as n from pg_database where datname = ${id}`)[0]?.n).toBe(0);

    await w.delete(name);
    await w.waitGone(name, 60_000);
    expect(await passwordOf(id)).toBe(before);
    expect((await w.events(name)).find((e) => e.reason === 'DatabaseDropped')?.note).toContain(
      `role ${id} on SharedDatabaseServer ${server} was not created by this Workspace and was left alone`,
    );
  });

  it('leaves a database it did not create alone: no role made for it, its data kept after delete', async () => {
    const name = uniqueName('dbbyhand');
    const id = `ws_${name.replace(/-/g, '_')}`;
    await admin.unsafe(`create database "${id}"`);
    const theirs = superuserClient(pg, id);
    await theirs`create table ledger (n int)`;
    await theirs`insert into ledger values (1), (2), (3)`;
    await theirs.end();
    await w.createNamed(name, { ...shared(), deletionPolicy: 'Delete' });
    const ws = await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ reason: 'NotOwned' });
    expect(w.condition(ws, 'DatabaseReady')?.message).toContain(
      `database ${id} already exists and was not created for this Workspace; nothing was changed`,
    );
    expect((await admin`select count(*)::int as n from pg_roles where rolname = ${id}`)[0]?.n).toBe(0);

    await w.delete(name);
    await w.waitGone(name, 60_000);
    const still = superuserClient(pg, id);
    expect((await still<{ n: number }[]>`select count(*)::int as n from ledger`)[0]?.n).toBe(3);
    await still.end();
  });

  it('leaves a role marked for another Workspace uid alone (another installation on the same server)', async () => {
    const name = uniqueName('elsewhere');
    const id = `ws_${name.replace(/-/g, '_')}`;
    await admin.unsafe(`create role "${id}" login password 'other-installation-pw-1'`);
    await admin.unsafe(
      `comment on role "${id}" is 'holdfast.io/workspace=${name} uid=0b7c5e8e-0000-4000-8000-000000000001'`,
    );
    const before = await passwordOf(id);
    await w.createNamed(name, shared());
    const ws = await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(ws, 'DatabaseReady')?.message).toContain(
      `role ${id} belongs to Workspace ${name} (uid 0b7c5e8e-0000-4000-8000-000000000001), not to this one; nothing was changed`,
    );
    expect(await passwordOf(id)).toBe(before);
  });

  it('marks what it creates with the Workspace uid', async () => {
    const name = await w.create('mark', shared());
    const ws = await w.waitForCondition(name, 'Ready', 'True');
    const id = `ws_${name.replace(/-/g, '_')}`;
    const [marks] = await admin<{ role: string; db: string }[]>`
      select (select shobj_description(oid, 'pg_authid') from pg_roles where rolname = ${id}) as role,
             (select shobj_description(oid, 'pg_database') from pg_database where datname = ${id}) as db`;
    const mark = `holdfast.io/workspace=${name} uid=${ws.metadata.uid}`;
    expect(marks).toEqual({ role: mark, db: mark });
  });

  it('rotates the password on request; open sessions continue, the next connection uses the new one', async () => {
    const name = await w.create('rot', shared());
    await w.waitForCondition(name, 'Ready', 'True');
    const before = await appSecret(name);
    const open = connectAs(before);
    await open`select 1`;
    await w.rest.request('PATCH', objectPath('Workspace', name), {
      body: { metadata: { annotations: { 'holdfast.io/rotate-password': '2026-11-25T17:00' } } },
      contentType: 'application/merge-patch+json',
    });
    const after = await eventually('a new password in the Secret', async () => {
      const s = await appSecret(name);
      return s.password !== before.password ? s : undefined;
    });
    await open`select 1`; // the session opened before still works
    await open.end();
    const fresh = connectAs(after);
    await fresh`select 1`;
    await fresh.end();
    const stale = connectAs(before);
    await expect(stale`select 1`).rejects.toThrow(/password authentication failed/);
    await stale.end();
    expect((await w.events(name)).map((e) => e.reason)).toContain('PasswordRotated');
  });

  it('says what is wrong when the server does not exist', async () => {
    const name = await w.create('nosrv', {
      volume: { storageClassName: encrypted },
      database: { mode: 'Shared', serverRef: 'no-such-server' },
    });
    const ws = await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(ws, 'DatabaseReady')).toMatchObject({ reason: 'ServerNotFound' });
    expect(w.condition(ws, 'DatabaseReady')?.message).toContain('SharedDatabaseServer "no-such-server" does not exist');
    expect(ws.status?.phase).toBe('Degraded');
  });

  it('drops the database and role with deletionPolicy Delete', async () => {
    const name = await w.create('drop', { ...shared(), deletionPolicy: 'Delete' });
    await w.waitForCondition(name, 'Ready', 'True');
    const id = `ws_${name.replace(/-/g, '_')}`;
    await w.delete(name);
    await w.waitGone(name, 60_000);
    const [left] = await admin<{ dbs: number; roles: number }[]>`
      select (select count(*)::int from pg_database where datname = ${id}) as dbs,
             (select count(*)::int from pg_roles where rolname = ${id}) as roles`;
    expect(left).toEqual({ dbs: 0, roles: 0 });
  });

  it('Shared + Delete with its server gone stops with a Warning, and goes once the database is abandoned', async () => {
    const gone = uniqueName('pg-gone');
    const ns = 'holdfast-system';
    await w.rest.request('POST', collectionPath('SharedDatabaseServer'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'SharedDatabaseServer',
        metadata: { name: gone },
        spec: {
          host: 'localhost',
          port: pg.port,
          caSecretRef: { name: `${server}-ca`, namespace: ns },
          adminSecretRef: { name: `${server}-admin`, namespace: ns },
        },
      },
    });
    const name = await w.create('orphaned', {
      volume: { storageClassName: encrypted },
      database: { mode: 'Shared', serverRef: gone },
      deletionPolicy: 'Delete',
    });
    await w.waitForCondition(name, 'Ready', 'True');
    await w.rest.request('DELETE', objectPath('SharedDatabaseServer', gone));
    // The operator learns of the server's deletion from its watch; until then it
    // can still reach the database and would rightly drop it.
    await w.waitForCondition(name, 'DatabaseReady', 'False');
    expect(w.condition(await w.get(name), 'DatabaseReady')?.reason).toBe('ServerNotFound');
    await w.delete(name);
    const stuck = await eventually(
      'the deletion to stop and say why',
      async () => {
        const ws = await w.get(name);
        return w.condition(ws, 'Ready')?.reason === 'DatabaseNotDropped' ? ws : undefined;
      },
      30_000,
    );
    expect(w.condition(stuck, 'Ready')?.message).toContain(
      `kubectl annotate workspace ${name} holdfast.io/abandon-database=true`,
    );
    const warning = await eventually('the Warning', async () =>
      (await w.events(name)).find((e) => e.reason === 'DatabaseNotDropped'),
    );
    expect(warning.type).toBe('Warning');
    // It does not retry in a loop: no more reconciles fail while it waits.
    const failures = await operator.metric('holdfast_reconcile_errors_total');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await operator.metric('holdfast_reconcile_errors_total')).toBe(failures);

    await w.rest.request('PATCH', objectPath('Workspace', name), {
      body: { metadata: { annotations: { 'holdfast.io/abandon-database': 'true' } } },
      contentType: 'application/merge-patch+json',
    });
    await w.waitGone(name, 60_000);
    expect((await w.events(name)).find((e) => e.reason === 'DatabaseAbandoned')?.type).toBe('Warning');
    const id = `ws_${name.replace(/-/g, '_')}`;
    expect((await admin`select count(*)::int as n from pg_database where datname = ${id}`)[0]?.n).toBe(1);
  });

  it('provisions 50 workspaces on one server', async () => {
    const started = Date.now();
    const names: string[] = [];
    for (let i = 0; i < 50; i++) names.push(await w.create('many', shared()));
    for (const n of names) await w.waitForCondition(n, 'DatabaseReady', 'True', 300_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`50 Shared workspaces provisioned on one server in ${seconds.toFixed(1)} s`);
    const [count] = await admin<
      { n: number }[]
    >`select count(*)::int as n from pg_database where datname like 'ws_many_%'`;
    expect(count?.n).toBe(50);
    // A net for a machine under load, not a measure: hack/bench/workspaces.ts measures.
  }, 420_000);
});
