// Sign-in limits and response headers of the console as served with its UI.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../console/db/schema.js';
import { builtApp } from '../harness/browser.js';
import { TEST_CLIENT, startConsole, strongPassword, type TestConsole } from '../harness/console.js';

/** The anonymous CSRF cookie and the token of the sign-in form, as a browser gets them. */
async function signInForm(c: TestConsole): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${c.url}/login`);
  const cookie = res.headers.getSetCookie().map((v) => v.split(';')[0]!).join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  return { cookie, csrf };
}

describe('console sign-in limits and headers', () => {
  let c: TestConsole;
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
    const post = () => fetch(`${c.url}/login?index`, {
      method: 'POST', redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, email: 'nobody@example.test', password: 'Wrong-password-1' }),
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post()).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { message: string }).message).toMatch(/^Too many sign-in attempts from your address\. Wait \d+ seconds/);
    // Reading pages is not limited.
    expect((await fetch(`${c.url}/login`)).status).toBe(200);
  });

  it('asks for a new password once the current one is older than 365 days', async () => {
    const password = strongPassword();
    const { user } = await c.services.tenants.createUser({ id: 'x', email: 'root@holdfast.test', name: '', role: 'platform-admin', tenantId: null }, null, { email: 'old@holdfast.test', role: 'auditor' }, TEST_CLIENT);
    const hash = await (await import('../../console/auth/passwords.js')).hashPassword(password);
    await c.services.database.db.update(users).set({ passwordHash: hash, mustChangePassword: false, passwordChangedAt: new Date(Date.now() - 366 * 86_400_000) }).where(eq(users.id, user.id));
    const result = await c.services.signIn.password('old@holdfast.test', password, TEST_CLIENT);
    expect(result).toMatchObject({ ok: true, stage: 'password-change' });
    const page = await fetch(`${c.url}/login/new-password`, { headers: { cookie: `holdfast-session=${(result as { token: string }).token}` } });
    expect(await page.text()).toContain('is older than 365 days');
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie: `holdfast-session=${(result as { token: string }).token}` } })).status).toBe(401);
  });

  it('ends the session on sign-out: the old cookie no longer opens anything', async () => {
    const password = strongPassword();
    const { user } = await c.services.tenants.createUser({ id: 'x', email: 'root@holdfast.test', name: '', role: 'platform-admin', tenantId: null }, null, { email: 'leaver@holdfast.test', role: 'auditor' }, TEST_CLIENT);
    const hash = await (await import('../../console/auth/passwords.js')).hashPassword(password);
    await c.services.database.db.update(users).set({ passwordHash: hash, mustChangePassword: false, passwordChangedAt: new Date() }).where(eq(users.id, user.id));
    const result = await c.services.signIn.password('leaver@holdfast.test', password, TEST_CLIENT);
    const token = (result as { token: string }).token;
    const cookie = `holdfast-session=${token}`;
    expect((await fetch(`${c.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    const out = await fetch(`${c.url}/logout`, {
      method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: c.services.csrf.issue(token) }),
    });
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe('/login');
    expect(out.headers.getSetCookie().join()).toMatch(/holdfast-session=;.*Max-Age=0/);
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
