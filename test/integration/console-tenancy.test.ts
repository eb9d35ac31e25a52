// What one tenant's admin can do to, and learn about, other tenants and the
// console itself: identity-provider settings, SSO identities, e-mail
// addresses, and the sign-in and lockout answers. Console on a real
// PostgreSQL, its UI built, real OpenID provider and SAML IdP on loopback.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../../console/access.js';
import { hashPassword } from '../../console/auth/passwords.js';
import { newTotpSecret } from '../../console/auth/totp.js';
import { bootstrapAdmin } from '../../console/bootstrap.js';
import { migrationsFolder, openDatabase } from '../../console/db/client.js';
import { auditLog, signInThrottle, users } from '../../console/db/schema.js';
import { builtApp } from '../harness/browser.js';
import {
  TEST_CLIENT,
  startConsole,
  stopConsolePostgres,
  strongPassword,
  type TestConsole,
} from '../harness/console.js';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.js';
import { firstForm, startSamlIdp } from '../harness/saml-idp.js';

const root: Viewer = { id: 'x', email: 'root@holdfast.test', name: '', role: 'platform-admin', tenantId: null };
const adminOf = (tenantId: string): Viewer => ({
  id: `admin-${tenantId}`,
  email: `admin@${tenantId}.test`,
  name: '',
  role: 'tenant-admin',
  tenantId,
});
const LOCKED = /^Too many failed sign-ins with this e-mail address: signing in with it is paused until \d\d:\d\d UTC\./;

describe('console tenancy and sign-in answers', () => {
  let c: TestConsole;

  beforeAll(async () => {
    c = await startConsole({ database: 'postgres', remix: await builtApp() });
    for (const id of ['t1', 't2', 'sso-t'])
      await c.services.tenants.create(root, { id, displayName: `Tenant ${id}` }, TEST_CLIENT);
    await c.services.tenants.update(root, 'sso-t', { roleMapping: [{ group: 'staff', role: 'auditor' }] }, TEST_CLIENT);
  });
  afterAll(async () => {
    await c?.stop();
    await stopConsolePostgres();
  });

  /** A person with a password of their own (no one-time password to change). */
  async function person(viewer: Viewer, tenantId: string | null, email: string, password: string) {
    const { user } = await c.services.tenants.createUser(viewer, tenantId, { email, role: 'auditor' }, TEST_CLIENT);
    await c.services.database.db
      .update(users)
      .set({ passwordHash: await hashPassword(password), mustChangePassword: false })
      .where(eq(users.id, user.id));
    return user;
  }

  it('forgets the stored OIDC client secret when the issuer changes, so it is never sent to another host', async () => {
    const update = (oidc: { issuer: string; clientId: string; clientSecret?: string }) =>
      c.services.tenants.update(adminOf('t1'), 't1', { oidc }, TEST_CLIENT);
    await update({ issuer: 'https://login.t1.test', clientId: 'holdfast', clientSecret: 'the-real-secret' });
    expect((await update({ issuer: 'https://login.t1.test', clientId: 'renamed' })).oidcClientSecretSet).toBe(true);
    const moved = await update({ issuer: 'https://attacker.example', clientId: 'renamed' });
    expect(moved.oidcClientSecretSet).toBe(false);
    expect((await c.services.tenants.forSignIn('t1'))!.oidcClientSecret).toBeNull();
    // Entered again with the new issuer, it is kept.
    const again = await update({ issuer: 'https://attacker.example', clientId: 'renamed', clientSecret: 'new' });
    expect(again.oidcClientSecretSet).toBe(true);
  });

  it('keys an SSO account by issuer and subject: the same subject at another issuer is someone else', async () => {
    const tenant = (await c.services.tenants.forSignIn('sso-t'))!;
    const sso = (issuer: string) =>
      c.services.signIn.sso(
        tenant,
        { issuer, subject: 'user-1', email: 'user1@sso-t.test', groups: ['staff'] },
        'oidc',
        TEST_CLIENT,
      );
    expect(await sso('https://idp.sso-t.test')).toMatchObject({ ok: true, stage: 'active' });
    const other = await sso('https://other-idp.example');
    expect(other.ok).toBe(false);
    expect(other.ok ? '' : other.message).toContain('does not sign in through this identity provider');
    expect(await sso('https://idp.sso-t.test')).toMatchObject({ ok: true });
  });

  it('ends the sessions of someone removed from the mapped groups at their next SSO sign-in', async () => {
    const tenant = (await c.services.tenants.forSignIn('sso-t'))!;
    const sso = (groups: string[]) =>
      c.services.signIn.sso(
        tenant,
        { issuer: 'https://idp.sso-t.test', subject: 'leaver', email: 'leaver@sso-t.test', groups },
        'oidc',
        TEST_CLIENT,
      );
    const first = await sso(['staff']);
    if (!first.ok) throw new Error(first.message);
    expect(await c.services.sessions.resolve(first.token)).toBeDefined();
    expect(await sso([])).toMatchObject({ ok: false });
    expect(await c.services.sessions.resolve(first.token)).toBeUndefined();
  });

  it('lets two tenants and the platform each have the same address, and signs in the account whose password it is', async () => {
    const [p1, p2, p3] = [strongPassword(), strongPassword(), strongPassword()];
    const one = await person(root, 't1', 'pat@shared.test', p1);
    // A tenant admin adding an address another tenant uses learns nothing: it just works.
    const two = await person(adminOf('t2'), 't2', 'Pat@Shared.test', p2);
    const platform = await person(root, null, 'pat@shared.test', p3);
    await expect(
      c.services.tenants.createUser(adminOf('t2'), 't2', { email: 'PAT@shared.test', role: 'auditor' }, TEST_CLIENT),
    ).rejects.toThrow('PAT@shared.test already has an account in tenant t2');
    await expect(
      c.services.tenants.createUser(root, null, { email: 'pat@shared.test', role: 'auditor' }, TEST_CLIENT),
    ).rejects.toThrow('already has an account without a tenant');
    expect((await c.services.tenants.users(adminOf('t2'), 't2')).map((u) => u.email)).toEqual(['Pat@Shared.test']);

    for (const [password, who] of [
      [p1, one],
      [p2, two],
      [p3, platform],
    ] as const) {
      const result = await c.services.signIn.password('pat@shared.test', password, TEST_CLIENT);
      if (!result.ok) throw new Error(result.message);
      expect((await c.services.sessions.resolve(result.token))!.user.id).toBe(who.id);
    }
    expect(await c.services.signIn.password('pat@shared.test', 'Wrong-password-1', TEST_CLIENT)).toEqual({
      ok: false,
      message: 'The e-mail address or password is not right.',
    });
    // One password for two of them: neither is chosen behind the person's back.
    await c.services.database.db
      .update(users)
      .set({ passwordHash: await hashPassword(p1) })
      .where(eq(users.id, two.id));
    const both = await c.services.signIn.password('pat@shared.test', p1, TEST_CLIENT);
    expect(both.ok ? '' : both.message).toContain('open accounts in more than one organization');
  });

  it('locks an address without an account like one with, and keeps no trace of what was typed', async () => {
    const known = 'known@t1.test';
    const password = strongPassword();
    await person(root, 't1', known, password);
    const ghost = 'ghost-4711@nowhere.test';
    const answers = async (email: string) => {
      const out: string[] = [];
      for (let i = 0; i < 6; i++) {
        const result = await c.services.signIn.password(email, `Wrong-password-${i}`, TEST_CLIENT);
        out.push(result.ok ? 'signed in' : result.message.replace(/\d\d:\d\d/, 'HH:MM'));
      }
      return out;
    };
    const forGhost = await answers(ghost);
    expect(forGhost).toEqual(await answers(known));
    expect(forGhost.slice(0, 4)).toEqual(Array(4).fill('The e-mail address or password is not right.'));
    for (const answer of forGhost.slice(4)) expect(answer.replace('HH:MM', '00:00')).toMatch(LOCKED);
    expect((await c.services.signIn.password(known, password, TEST_CLIENT)).ok).toBe(false);

    const db = c.services.database.db;
    const everything = JSON.stringify([
      await db.select().from(auditLog),
      await db.select().from(signInThrottle),
    ]).toLowerCase();
    expect(everything).not.toContain('ghost-4711');
    expect(everything).toContain('unknown:');
  });

  it('counts wrong current passwords on the account page toward the lockout', async () => {
    const email = 'account-page@t1.test';
    const password = strongPassword();
    await person(root, 't1', email, password);
    const signedIn = await c.services.signIn.password(email, password, TEST_CLIENT);
    if (!signedIn.ok) throw new Error(signedIn.message);
    const session = (await c.services.sessions.resolve(signedIn.token))!;
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await c.services.signIn.changePassword(
        session.user,
        `Wrong-current-${i}`,
        strongPassword(),
        TEST_CLIENT,
        signedIn.token,
      );
      answers.push(r.ok ? 'changed' : r.message);
    }
    expect(answers.slice(0, 4)).toEqual(Array(4).fill('The current password is not right.'));
    expect(answers[4]).toMatch(LOCKED);
    expect((await c.services.signIn.password(email, password, TEST_CLIENT)).ok).toBe(false);
  });

  it('asks a signed-in person for their password again before turning TOTP on', async () => {
    const email = 'totp-later@t1.test';
    const password = strongPassword();
    await person(root, 't1', email, password);
    const signedIn = await c.services.signIn.password(email, password, TEST_CLIENT);
    if (!signedIn.ok) throw new Error(signedIn.message);
    const user = (await c.services.sessions.resolve(signedIn.token))!.user;
    const secret = newTotpSecret();
    const enrol = async (current?: string) =>
      c.services.signIn.enrolTotp(user, secret, await generate({ secret }), TEST_CLIENT, signedIn.token, current);
    expect(await enrol()).toEqual({ ok: false, message: 'The current password is not right.' });
    expect(await enrol('Wrong-password-1')).toEqual({ ok: false, message: 'The current password is not right.' });
    expect(await enrol(password)).toMatchObject({ ok: true, stage: 'active' });
  });

  it('shows on the sign-in page no message signed through the anonymous CSRF cookie', async () => {
    const message = 'Your account is suspended. Call +1-555-0100.';
    // The visitor chooses the value of their own anonymous cookie, and the page signs it for them as the CSRF token.
    const form = await fetch(`${c.url}/login`, { headers: { cookie: `holdfast-csrf=error:${message}` } });
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const page = await (
      await fetch(`${c.url}/login?error=${encodeURIComponent(message)}&sig=${encodeURIComponent(token)}`)
    ).text();
    expect(page).not.toContain('+1-555-0100');
    expect(page).not.toContain('role="alert"');
  });
});

describe('console single sign-on boundaries', () => {
  let oidc: TestOidcProvider;
  beforeAll(async () => {
    oidc = await startOidcProvider({
      clientId: 'holdfast',
      clientSecret: 'oidc-secret',
      redirectUris: ['http://127.0.0.1/unused'],
      accounts: {},
    });
  });
  afterAll(async () => {
    await oidc?.stop();
    await stopConsolePostgres();
  });

  async function consoleWithOidcTenant(settings: Parameters<typeof startConsole>[0]['settings']) {
    const c = await startConsole({ database: 'postgres', settings });
    await c.services.tenants.create(root, { id: 'acme', displayName: 'Acme' }, TEST_CLIENT);
    await c.services.tenants.update(
      root,
      'acme',
      { oidc: { issuer: oidc.issuer, clientId: 'holdfast', clientSecret: 'oidc-secret' } },
      TEST_CLIENT,
    );
    return c;
  }
  const start = (c: TestConsole, host?: string) =>
    fetch(`${c.url}/auth/sso/acme`, { redirect: 'manual', ...(host ? { headers: { host } } : {}) });

  it(
    'refuses an identity provider on loopback unless the platform admin allows it, and audits the failure',
    { timeout: 120_000 },
    async () => {
      const closed = await consoleWithOidcTenant({ ssoAllowedHosts: [] });
      const open = await consoleWithOidcTenant({ ssoAllowedHosts: ['127.0.0.1'] });
      try {
        const refused = await start(closed);
        expect(refused.status).toBe(302);
        expect(refused.headers.get('location')).toMatch(/^\/login\?error=/);
        const failures = await closed.services.database.db
          .select()
          .from(auditLog)
          .where(eq(auditLog.action, 'sign-in.failed'));
        expect(failures).toEqual([
          expect.objectContaining({
            tenantId: 'acme',
            after: expect.objectContaining({
              method: 'oidc',
              error: expect.stringContaining('HOLDFAST_SSO_ALLOWED_HOSTS') as string,
            }) as object,
          }),
        ]);
        const allowed = await start(open);
        expect(allowed.headers.get('location')!.startsWith(`${oidc.issuer}/`)).toBe(true);
      } finally {
        await closed.stop();
        await open.stop();
      }
    },
  );

  it('runs no single sign-on without a public URL, whatever Host the request names', async () => {
    const c = await consoleWithOidcTenant({ publicUrl: undefined });
    try {
      const res = await start(c, 'evil.example');
      const location = decodeURIComponent(res.headers.get('location') ?? '');
      expect(location).toMatch(/^\/login\?error=.*HOLDFAST_PUBLIC_URL/);
      expect(location).not.toContain('evil.example');
    } finally {
      await c.stop();
    }
  });

  it(
    'accepts a SAML response only for the AuthnRequest of the sign-in this browser started last',
    { timeout: 120_000 },
    async () => {
      const c = await startConsole({ database: 'postgres' });
      const idp = await startSamlIdp({
        spEntityId: `${c.url}/auth/saml/globex`,
        acsUrl: `${c.url}/auth/saml/globex/acs`,
        users: { carol: { email: 'carol@globex.test', groups: ['staff'] } },
      });
      try {
        await c.services.tenants.create(root, { id: 'globex', displayName: 'Globex' }, TEST_CLIENT);
        await c.services.tenants.update(
          root,
          'globex',
          {
            saml: { entryPoint: idp.entryPoint, idpCert: idp.cert, idpIssuer: idp.issuer },
            roleMapping: [{ group: 'staff', role: 'auditor' }],
          },
          TEST_CLIENT,
        );
        const begin = async () => {
          const res = await fetch(`${c.url}/auth/sso/globex`, { redirect: 'manual' });
          const cookie = res.headers
            .getSetCookie()
            .find((v) => v.startsWith('holdfast-sso='))!
            .split(';')[0]!;
          return { cookie, idpUrl: res.headers.get('location')! };
        };
        const answer = async (idpUrl: string) => {
          const login = firstForm(await (await fetch(idpUrl)).text(), idpUrl);
          const posted = await fetch(login.action, {
            method: 'POST',
            body: new URLSearchParams({ ...login.fields, username: 'carol' }),
          });
          return firstForm(await posted.text(), login.action).fields;
        };
        const post = (cookie: string, fields: Record<string, string>) =>
          fetch(`${c.url}/auth/saml/globex/acs`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
            body: new URLSearchParams(fields),
          });
        const first = await begin();
        const second = await begin();
        // The answer to the first request, carried into the second sign-in (its cookie and relay state).
        const stale = await answer(first.idpUrl);
        const relayState = second.cookie.slice('holdfast-sso='.length);
        const refused = await post(second.cookie, { ...stale, RelayState: relayState });
        expect(decodeURIComponent(refused.headers.get('location')!)).toContain('answers another sign-in');
        expect(refused.headers.getSetCookie().some((v) => /^holdfast-session=[^;]/.test(v))).toBe(false);
        const audited = await c.services.database.db.select().from(auditLog).where(eq(auditLog.tenantId, 'globex'));
        expect(audited.map((e) => e.action)).toContain('sign-in.failed');

        const third = await begin();
        const fresh = await answer(third.idpUrl);
        const accepted = await post(third.cookie, fresh);
        expect(accepted.headers.get('location')).toBe('/');
      } finally {
        await idp.stop();
        await c.stop();
      }
    },
  );
});

describe('console database migration of SSO accounts', () => {
  it(
    'records the issuer of accounts linked before it was kept, and lets addresses repeat across tenants',
    { timeout: 120_000 },
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-migrate-'));
      const client = new PGlite(path.join(dir, 'db'));
      try {
        // The first release's schema alone, with an account it linked.
        const first = path.join(dir, 'migrations');
        await mkdir(path.join(first, 'meta'), { recursive: true });
        const all = migrationsFolder();
        const journal = JSON.parse(await readFile(path.join(all, 'meta/_journal.json'), 'utf8')) as {
          entries: { tag: string }[];
        };
        await writeFile(
          path.join(first, 'meta/_journal.json'),
          JSON.stringify({ ...journal, entries: journal.entries.slice(0, 1) }),
        );
        await copyFile(
          path.join(all, `${journal.entries[0]!.tag}.sql`),
          path.join(first, `${journal.entries[0]!.tag}.sql`),
        );
        const db = drizzle(client);
        await migrate(db, { migrationsFolder: first });
        await client.exec(`
        insert into tenants (id, display_name, workspace, oidc) values
          ('a', 'A', 'a', '{"issuer": "https://idp.a.test", "clientId": "x"}'),
          ('b', 'B', 'b', null);
        insert into users (id, email, role, tenant_id, sso_subject) values
          ('u1', 'one@a.test', 'auditor', 'a', 'oidc:sub-1'),
          ('u2', 'two@b.test', 'auditor', 'b', 'saml:two');
      `);
        await migrate(db, { migrationsFolder: all });
        const rows = await client.query<{ id: string; sso_issuer: string | null }>(
          'select id, sso_issuer from users order by id',
        );
        expect(rows.rows).toEqual([
          { id: 'u1', sso_issuer: 'https://idp.a.test' },
          { id: 'u2', sso_issuer: null },
        ]);
        await client.exec(`insert into users (id, email, role, tenant_id) values ('u3', 'ONE@a.test', 'auditor', 'b')`);
        await expect(
          client.exec(`insert into users (id, email, role, tenant_id) values ('u4', 'one@A.test', 'auditor', 'a')`),
        ).rejects.toThrow(/users_tenant_email/);
      } finally {
        await client.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('holdfast console unlock', () => {
  it(
    'lifts the lockout of a platform administrator from the command line, and says so in the audit log',
    { timeout: 300_000 },
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'holdfast-unlock-'));
      try {
        let database = await openDatabase({ dataDir });
        await bootstrapAdmin(database.db, 'root@holdfast.test');
        await database.db
          .update(users)
          .set({ failedSignIns: 9, lockedUntil: new Date(Date.now() + 3_600_000) })
          .where(eq(users.email, 'root@holdfast.test'));
        await database.close();

        const run = (...args: string[]) =>
          new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
            execFile(
              'npx',
              ['tsx', 'cli/main.ts', 'console', 'unlock', ...args],
              {
                cwd: path.resolve(import.meta.dirname, '../..'),
                env: { ...process.env, HOLDFAST_CONSOLE_DATA: dataDir },
              },
              (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
            );
          });
        const unknown = await run('nobody@holdfast.test');
        expect(unknown.code).toBe(1);
        expect(unknown.stderr).toContain('no account without a tenant has the address nobody@holdfast.test');
        const done = await run('ROOT@holdfast.test');
        expect(done).toMatchObject({ code: 0 });
        expect(done.stdout).toContain('unlocked root@holdfast.test');

        database = await openDatabase({ dataDir });
        const [admin] = await database.db.select().from(users).where(eq(users.email, 'root@holdfast.test'));
        expect(admin).toMatchObject({ failedSignIns: 0, lockedUntil: null });
        const entries = await database.db.select().from(auditLog).where(eq(auditLog.action, 'user.unlocked'));
        expect(entries).toEqual([
          expect.objectContaining({ actor: 'holdfast console unlock', target: `user/${admin!.id}` }),
        ]);
        await database.close();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});
