// Sign-in limits and response headers of the console as served with its UI.
import { SESSION_RECHECK_MS } from '../../console/auth/sessions.js';
import { totpContext } from '../../console/auth/sign-in.js';
import { request as httpRequest } from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, hashPassword } from '../../console/auth/passwords.js';
import { sessions, users } from '../../console/db/schema.js';
import { builtApp } from '../harness/browser.js';
import { firstForm, startSamlIdp } from '../harness/saml-idp.js';
import { TEST_CLIENT, startConsole, strongPassword, type TestConsole } from '../harness/console.js';

/** The anonymous CSRF cookie and the token of the sign-in form, as a browser gets them. */
async function signInForm(c: TestConsole): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${c.url}/login`);
  const cookie = res.headers
    .getSetCookie()
    .map((v) => v.split(';')[0]!)
    .join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  return { cookie, csrf };
}

/**
 * A sign-in form post over plain HTTP with the path exactly as written:
 * fetch() would resolve `/./login` to `/login` before sending it.
 */
function postRaw(
  base: string,
  path: string,
  form: { cookie: string; csrf: string },
  from: { localAddress?: string; forwardedFor?: string } = {},
): Promise<number> {
  const body = new URLSearchParams({ _csrf: form.csrf, email: 'nobody@example.test', password: 'Wrong-password-1' });
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        path,
        method: 'POST',
        ...(from.localAddress ? { localAddress: from.localAddress } : {}),
        headers: {
          cookie: form.cookie,
          'content-type': 'application/x-www-form-urlencoded',
          ...(from.forwardedFor ? { 'x-forwarded-for': from.forwardedFor } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body.toString());
  });
}

describe('console sign-in limits and headers', () => {
  let c: TestConsole;
  const root = { id: 'x', email: 'root@holdfast.test', name: '', role: 'platform-admin' as const, tenantId: null };

  /** A cluster-wide auditor with a password of their own (no one-time password), and the given account state. */
  async function auditorWithPassword(email: string, state: Partial<typeof users.$inferInsert>): Promise<string> {
    const password = strongPassword();
    const { user } = await c.services.tenants.createUser(root, null, { email, role: 'auditor' }, TEST_CLIENT);
    await c.services.database.db
      .update(users)
      .set({
        passwordHash: await hashPassword(password),
        mustChangePassword: false,
        ...state,
        // Stored sealed, as enrolment stores it.
        ...(state.totpSecret ? { totpSecret: c.services.secrets.seal(state.totpSecret, totpContext(user.id)) } : {}),
      })
      .where(eq(users.id, user.id));
    return password;
  }

  let secure: TestConsole;
  beforeAll(async () => {
    const remix = await builtApp();
    c = await startConsole({ database: 'pglite', remix, settings: { signInsPerMinute: 3 } });
    secure = await startConsole({ database: 'pglite', remix, settings: { secureCookies: true } });
  });
  afterAll(async () => {
    await c?.stop();
    await secure?.stop();
  });

  it('limits sign-in attempts per address and says how long to wait', async () => {
    const { cookie, csrf } = await signInForm(c);
    const post = () =>
      fetch(`${c.url}/login?index`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, email: 'nobody@example.test', password: 'Wrong-password-1' }),
      });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post()).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { message: string }).message).toMatch(
      /^Too many sign-in attempts from your address\. Wait \d+ seconds/,
    );
    // Reading pages is not limited.
    expect((await fetch(`${c.url}/login`)).status).toBe(200);
  });

  it('counts the path in any letter case toward the limit', async () => {
    const limited = await startConsole({
      database: 'pglite',
      remix: await builtApp(),
      settings: { signInsPerMinute: 2 },
    });
    try {
      const { cookie, csrf } = await signInForm(limited);
      const post = (path: string) =>
        fetch(`${limited.url}${path}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: csrf, email: 'nobody@example.test', password: 'Wrong-password-1' }),
        });
      expect([
        (await post('/login?index')).status,
        (await post('/LOGIN?index')).status,
        (await post('/Login?index')).status,
      ]).toEqual([200, 200, 429]);
    } finally {
      await limited.stop();
    }
  });

  it('shows only error messages the console signed, not text from a link', async () => {
    const forged = await (
      await fetch(`${c.url}/login?error=${encodeURIComponent('Call +1-555-0100 to unlock')}`)
    ).text();
    expect(forged).not.toContain('role="alert"');
    const bad = await fetch(`${c.url}/login/sso?tenant=Not%20Valid`, { redirect: 'manual' });
    const page = await (await fetch(new URL(bad.headers.get('location')!, c.url))).text();
    expect(page).toMatch(/role="alert">Enter your organization id/);
  });

  it('sends no-store on pages and API answers, and lets assets be cached', async () => {
    expect((await fetch(`${c.url}/login`)).headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${c.url}/api/me`)).headers.get('cache-control')).toBe('no-store');
    const css = /href="(\/assets\/[^"]+\.css)"/.exec(await (await fetch(`${c.url}/login`)).text())![1]!;
    expect((await fetch(`${c.url}${css}`)).headers.get('cache-control')).toContain('immutable');
  });

  it('keeps counting wrong TOTP codes after a right password, until the whole sign-in succeeds', async () => {
    const password = await auditorWithPassword('guessed@holdfast.test', {
      passwordChangedAt: new Date(),
      totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
    });
    const wrongCodes = async (n: number) => {
      const first = await c.services.signIn.password('guessed@holdfast.test', password, TEST_CLIENT);
      if (!first.ok) return first.message;
      expect(first.stage).toBe('second-factor');
      const session = (await c.services.sessions.resolve(first.token))!;
      let last = '';
      for (let i = 0; i < n; i++) {
        const r = await c.services.signIn.secondFactor(session.user, '000000', TEST_CLIENT, first.token);
        last = r.ok ? 'signed in' : r.message;
      }
      return last;
    };
    expect(await wrongCodes(4)).toBe('That code is not right.');
    expect(await wrongCodes(1)).toMatch(/Too many failed sign-ins/);
    expect(await wrongCodes(1)).toMatch(/Too many failed sign-ins/);
  });

  it('asks for a new password once the current one is older than 365 days', async () => {
    const password = await auditorWithPassword('old@holdfast.test', {
      passwordChangedAt: new Date(Date.now() - 366 * 86_400_000),
    });
    const result = await c.services.signIn.password('old@holdfast.test', password, TEST_CLIENT);
    expect(result).toMatchObject({ ok: true, stage: 'password-change' });
    const page = await fetch(`${c.url}/login/new-password`, {
      headers: { cookie: `holdfast-session=${(result as { token: string }).token}` },
    });
    expect(await page.text()).toContain('is older than 365 days');
    expect(
      (
        await fetch(`${c.url}/api/me`, {
          headers: { cookie: `holdfast-session=${(result as { token: string }).token}` },
        })
      ).status,
    ).toBe(401);
  });

  it("follows the tenant's own password rules: a password they made stricter is changed at its next sign-in", async () => {
    await c.services.tenants.create(root, { id: 'strict', displayName: 'Strict' }, TEST_CLIENT);
    await c.services.tenants.create(root, { id: 'lenient', displayName: 'Lenient' }, TEST_CLIENT);
    const member = async (tenantId: string, email: string, password: string) => {
      const { user } = await c.services.tenants.createUser(
        root,
        tenantId,
        { email, role: 'tenant-admin' },
        TEST_CLIENT,
      );
      await c.services.database.db
        .update(users)
        .set({ passwordHash: await hashPassword(password), mustChangePassword: false })
        .where(eq(users.id, user.id));
    };
    const fifteen = 'Tr4vel-by-Night';
    await member('strict', 'kim@strict.test', fifteen);
    await member('lenient', 'lee@lenient.test', fifteen);

    await expect(
      c.services.tenants.update(root, 'strict', { passwordPolicy: { ...DEFAULT_POLICY, minLength: 4 } }, TEST_CLIENT),
    ).rejects.toThrow('minLength must be at least 8');
    await c.services.tenants.update(
      root,
      'strict',
      { passwordPolicy: { ...DEFAULT_POLICY, minLength: 16, maxAgeDays: 90 } },
      TEST_CLIENT,
    );

    // The other tenant keeps the default rules.
    expect(await c.services.signIn.password('lee@lenient.test', fifteen, TEST_CLIENT)).toMatchObject({
      ok: true,
      stage: 'active',
    });
    const kim = await c.services.signIn.password('kim@strict.test', fifteen, TEST_CLIENT);
    expect(kim).toMatchObject({ ok: true, stage: 'password-change' });
    const token = (kim as { token: string }).token;
    const page = await (
      await fetch(`${c.url}/login/new-password`, { headers: { cookie: `holdfast-session=${token}` } })
    ).text();
    expect(page).toContain('does not meet the rules of its organization any more');
    expect(page).toContain('At least 16 characters with a digit');

    const session = (await c.services.sessions.resolve(token))!;
    const short = await c.services.signIn.changePassword(
      session.user,
      undefined,
      'Short-but-0k-pw',
      TEST_CLIENT,
      token,
    );
    expect(short).toEqual({ ok: false, message: 'Choose another password: use at least 16 characters.' });
    const longer = 'A-much-longer-Passw0rd';
    const changed = await c.services.signIn.changePassword(session.user, undefined, longer, TEST_CLIENT, token);
    expect(changed).toMatchObject({ ok: true, stage: 'active' });
    expect(await c.services.signIn.password('kim@strict.test', longer, TEST_CLIENT)).toMatchObject({
      ok: true,
      stage: 'active',
    });
    // 90 days, not 365, is the age at which it must be changed again.
    await c.services.database.db
      .update(users)
      .set({ passwordChangedAt: new Date(Date.now() - 91 * 86_400_000) })
      .where(eq(users.email, 'kim@strict.test'));
    expect(await c.services.signIn.password('kim@strict.test', longer, TEST_CLIENT)).toMatchObject({
      stage: 'password-change',
    });
  });

  it('never signs in to an account by e-mail alone, and takes the role from the groups at every SSO sign-in', async () => {
    await c.services.tenants.create(root, { id: 'sso-corp', displayName: 'SSO Corp' }, TEST_CLIENT);
    await c.services.tenants.update(
      root,
      'sso-corp',
      {
        roleMapping: [
          { group: 'admins', role: 'tenant-admin' },
          { group: 'staff', role: 'auditor' },
        ],
      },
      TEST_CLIENT,
    );
    await c.services.tenants.createUser(
      root,
      'sso-corp',
      { email: 'local@sso-corp.test', role: 'tenant-admin' },
      TEST_CLIENT,
    );
    const tenant = (await c.services.tenants.forSignIn('sso-corp'))!;
    const sso = (email: string, groups: string[], subject = email) =>
      c.services.signIn.sso(
        tenant,
        { issuer: 'https://idp.sso-corp.test', subject, email, groups },
        'oidc',
        TEST_CLIENT,
      );

    // A provider asserting the e-mail address of a local account does not get that account.
    const takeover = await sso('local@sso-corp.test', ['admins']);
    expect(takeover.ok).toBe(false);
    expect(takeover.ok ? '' : takeover.message).toContain('does not sign in through this identity provider');

    expect(await sso('dana@sso-corp.test', ['admins'])).toMatchObject({ ok: true, stage: 'active' });
    const dana = async () =>
      (await c.services.tenants.users(root, 'sso-corp')).find((u) => u.email === 'dana@sso-corp.test')!;
    expect((await dana()).role).toBe('tenant-admin');
    expect(await sso('dana@sso-corp.test', ['staff'])).toMatchObject({ ok: true });
    expect((await dana()).role).toBe('auditor');
    const removed = await sso('dana@sso-corp.test', []);
    expect(removed.ok ? '' : removed.message).toContain('None of your groups');
    // Another subject claiming the same address is someone else.
    expect(await sso('dana@sso-corp.test', ['admins'], 'someone-else')).toMatchObject({ ok: false });
  });

  it('refuses a SAML response posted into a browser that did not start the sign-in (login CSRF)', async () => {
    const idp = await startSamlIdp({
      spEntityId: `${c.url}/auth/saml/saml-corp`,
      acsUrl: `${c.url}/auth/saml/saml-corp/acs`,
      users: { mallory: { email: 'mallory@saml-corp.test', groups: ['staff'] } },
    });
    try {
      await c.services.tenants.create(root, { id: 'saml-corp', displayName: 'SAML Corp' }, TEST_CLIENT);
      await c.services.tenants.update(
        root,
        'saml-corp',
        {
          saml: { entryPoint: idp.entryPoint, idpCert: idp.cert, idpIssuer: idp.issuer },
          roleMapping: [{ group: 'staff', role: 'auditor' }],
        },
        TEST_CLIENT,
      );
      // The attacker starts a sign-in in their own browser and keeps the IdP's signed answer.
      const start = await fetch(`${c.url}/auth/sso/saml-corp`, { redirect: 'manual' });
      expect(start.headers.getSetCookie().some((v) => v.startsWith('holdfast-sso='))).toBe(true);
      const idpUrl = start.headers.get('location')!;
      const login = firstForm(await (await fetch(idpUrl)).text(), idpUrl);
      const { fields } = firstForm(
        await (
          await fetch(login.action, {
            method: 'POST',
            body: new URLSearchParams({ ...login.fields, username: 'mallory' }),
          })
        ).text(),
        login.action,
      );
      expect(fields.SAMLResponse).toBeTruthy();
      const post = (cookie: string) =>
        fetch(`${c.url}/auth/saml/saml-corp/acs`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
          body: new URLSearchParams(fields),
        });
      // Auto-posted into the victim's browser: no cookie from the start of this sign-in.
      const victim = await post('');
      expect(victim.status).toBe(302);
      expect(decodeURIComponent(victim.headers.get('location')!)).toContain('was not started in this browser');
      expect(
        victim.headers
          .getSetCookie()
          .some((v) => v.startsWith('holdfast-session=') && !v.startsWith('holdfast-session=;')),
      ).toBe(false);
    } finally {
      await idp.stop();
    }
  });

  it('ends the session on sign-out: the old cookie no longer opens anything', async () => {
    const password = await auditorWithPassword('leaver@holdfast.test', { passwordChangedAt: new Date() });
    const result = await c.services.signIn.password('leaver@holdfast.test', password, TEST_CLIENT);
    const token = (result as { token: string }).token;
    const cookie = `holdfast-session=${token}`;
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    const out = await fetch(`${c.url}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: c.services.csrf.issue(token) }),
    });
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe('/login');
    expect(out.headers.getSetCookie().join()).toMatch(/holdfast-session=;.*Max-Age=0/);
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie } })).status).toBe(401);
  });

  it('a session ended by another replica refuses every change at once, and every page within a second', async () => {
    const password = await auditorWithPassword('elsewhere@holdfast.test', { passwordChangedAt: new Date() });
    const result = await c.services.signIn.password('elsewhere@holdfast.test', password, TEST_CLIENT);
    const token = (result as { token: string }).token;
    const cookie = `holdfast-session=${token}`;
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    // Another replica signs it out: the row goes, this console's memory of it does not.
    const { user } = (await c.services.sessions.resolve(token))!;
    await c.services.database.db.delete(sessions).where(eq(sessions.userId, user.id));
    const change = await fetch(`${c.url}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: c.services.csrf.issue(token) }),
    });
    // The CSRF token was bound to a session that no longer exists.
    expect(change.status).toBe(403);
    await new Promise((r) => setTimeout(r, SESSION_RECHECK_MS));
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie } })).status).toBe(401);
  });

  it('sends a CSP whose nonce is on every script of the page, and no inline script without it', async () => {
    const res = await fetch(`${c.url}/login`);
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /script-src 'self' 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    const scripts = [...(await res.text()).matchAll(/<script([^>]*)>/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attrs of scripts) expect(attrs).toContain(`nonce="${nonce}"`);
    // A new nonce for every response.
    const again = (await fetch(`${c.url}/login`)).headers.get('content-security-policy')!;
    expect(again).not.toBe(csp);
  });

  it('marks cookies Secure and __Host- and sends HSTS when served over TLS', async () => {
    const res = await secure.app.inject({ method: 'GET', url: '/login' });
    expect(res.headers['strict-transport-security']).toContain('max-age=31536000');
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/^__Host-holdfast-/);
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).toMatch(/; HttpOnly/);
    }
    const plain = await c.app.inject({ method: 'GET', url: '/login' });
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('which sign-in posts count toward the limit, and from which address', () => {
  const spellings = ['/%6Cogin?index', '/./login?index', '/x/../login?index', '/login.data?index', '/%4cOGIN/?index'];
  // Loopback is a /8 on Linux: 127.0.0.2 plays the proxy, 127.0.0.1 a client that connects directly.
  const proxy = '127.0.0.2';
  let spelled: TestConsole;
  let proxied: TestConsole;
  beforeAll(async () => {
    const remix = await builtApp();
    [spelled, proxied] = await Promise.all([
      startConsole({ database: 'pglite', remix, settings: { signInsPerMinute: spellings.length } }),
      startConsole({ database: 'pglite', remix, settings: { signInsPerMinute: 2 }, trustedProxies: [`${proxy}/32`] }),
    ]);
    // Two embedded databases starting at once on a busy machine.
  }, 300_000);
  afterAll(async () => {
    await spelled?.stop();
    await proxied?.stop();
  });

  it('counts every spelling of a sign-in route toward the limit, as the route that handles it decides', async () => {
    const form = await signInForm(spelled);
    const statuses = [];
    for (const path of spellings) statuses.push(await postRaw(spelled.url, path, form));
    // Each spelling reached the sign-in form's action (it answered, and not with 404)...
    expect(statuses).not.toContain(404);
    expect(statuses).not.toContain(429);
    // ...and each counted: the next attempt, in any spelling, is refused.
    for (const path of spellings) expect(await postRaw(spelled.url, path, form), path).toBe(429);
  });

  it('keys the limit by the right-most address a trusted proxy vouches for, never by what the client wrote', async () => {
    const limited = proxied;
    const form = await signInForm(limited);
    const direct = (spoof: string) =>
      postRaw(limited.url, '/login?index', form, { localAddress: '127.0.0.1', forwardedFor: spoof });
    // A client that is not a proxy gets nothing for writing X-Forwarded-For itself.
    expect([await direct('198.51.100.1'), await direct('198.51.100.2'), await direct('198.51.100.3')]).toEqual([
      200, 200, 429,
    ]);

    const viaProxy = (forwardedFor: string) =>
      postRaw(limited.url, '/login?index', form, { localAddress: proxy, forwardedFor });
    // Behind the proxy, each client has its own budget; the left part of the header is the client's own writing.
    expect([
      await viaProxy('203.0.113.7'),
      await viaProxy('6.6.6.6, 203.0.113.7'),
      await viaProxy('7.7.7.7, 203.0.113.7'),
    ]).toEqual([200, 200, 429]);
    expect(await viaProxy('203.0.113.8')).toBe(200);
  });
});
