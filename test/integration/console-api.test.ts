// The console server without its pages: health and metrics, the JSON API
// with tenant scoping and roles, CSRF, lockout with its alert, sessions and
// TOTP, checked the way an administrator or a script would see them. The same
// suite runs on the embedded PGlite and on a real PostgreSQL over TLS.
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainedEntry } from '../../console/audit/chain.js';
import { newTotpSecret } from '../../console/auth/totp.js';
import {
  ConsoleApi,
  TEST_CLIENT,
  changePassword,
  firstSignIn,
  signIn,
  startConsole,
  stopConsolePostgres,
  strongPassword,
  type ConsoleDatabase,
  type TestConsole,
} from '../harness/console.js';

interface TenantJson {
  id: string;
  displayName: string;
  workspace: string;
  userCount: number;
}
interface UserJson {
  id: string;
  email: string;
  role: string;
  tenantId: string | null;
  lockedUntil: string | null;
}
interface Page<T> {
  items: T[];
  total: number;
}
interface ErrorJson {
  error: string;
  message: string;
}
interface LockoutAlertJson {
  alert: string;
  email: string;
  tenantId: string | null;
  ip: string;
  failures: number;
  lockedUntil: string;
}

/** A node:http server standing in for the alerting system behind HOLDFAST_ALERT_WEBHOOK. */
async function startAlertReceiver(): Promise<{
  url: string;
  alerts: LockoutAlertJson[];
  first: Promise<LockoutAlertJson>;
  stop(): Promise<void>;
}> {
  const alerts: LockoutAlertJson[] = [];
  let arrived: (a: LockoutAlertJson) => void = () => undefined;
  const first = new Promise<LockoutAlertJson>((resolve) => (arrived = resolve));
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const alert = JSON.parse(body) as LockoutAlertJson;
      alerts.push(alert);
      arrived(alert);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('alert receiver has no port');
  return {
    url: `http://127.0.0.1:${address.port}/alerts`,
    alerts,
    first,
    async stop() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/** A six-digit code that is none of the codes valid around now. */
async function wrongCode(secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const valid = new Set(await Promise.all([-60, -30, 0, 30, 60].map((d) => generate({ secret, epoch: now + d }))));
  let n = 0;
  while (valid.has(String(n).padStart(6, '0'))) n++;
  return String(n).padStart(6, '0');
}

afterAll(async () => {
  await stopConsolePostgres();
});

describe.each<ConsoleDatabase>(['pglite', 'postgres'])('console API on %s', (database) => {
  let hf: TestConsole;
  let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
  let admin: ConsoleApi;
  let adminPassword: string;
  let adminA: ConsoleApi;
  let adminB: ConsoleApi;
  /** email → one-time password, of the people the tests create. */
  const created = new Map<string, { id: string; oneTimePassword: string }>();

  beforeAll(async () => {
    receiver = await startAlertReceiver();
    hf = await startConsole({ database, settings: { alertWebhook: receiver.url } });
  });
  afterAll(async () => {
    await hf?.stop();
    await receiver?.stop();
  });

  /** A person added through the API by `by`; returns their id and one-time password. */
  async function addUser(
    by: ConsoleApi,
    tenant: string,
    email: string,
    role: string,
  ): Promise<{ id: string; oneTimePassword: string }> {
    const res = await by.post<{ user: UserJson; oneTimePassword: string }>(`/api/tenants/${tenant}/users`, {
      email,
      role,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const person = { id: res.body.user.id, oneTimePassword: res.body.oneTimePassword };
    created.set(email, person);
    return person;
  }

  /** An active session of a newly added person, who chose `password` at first sign-in. */
  async function activeAs(email: string, password = strongPassword()): Promise<ConsoleApi> {
    const person = created.get(email);
    if (!person) throw new Error(`${email} was not added by this suite`);
    return new ConsoleApi(hf, await firstSignIn(hf, email, person.oneTimePassword, password));
  }

  it('answers health and readiness naming its database, and metrics only on the metrics address', async () => {
    const anonymous = new ConsoleApi(hf);
    const health = await anonymous.get<{ status: string }>('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });

    const ready = await anonymous.get<{ status: string; database: string }>('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', database });

    // Metrics are on their own address (HOLDFAST_CONSOLE_METRICS_ADDRESS), not on the public port.
    const metrics = await fetch(`${hf.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(
      /^holdfast_console_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} 1$/m,
    );
    expect(text).toContain('holdfast_console_process_cpu_seconds_total');
    const onPublicPort = await anonymous.get<string>('/metrics');
    expect(onPublicPort.status).toBe(404);
    expect(onPublicPort.body).not.toContain('holdfast_console_');
  });

  it('refuses the API without a session or with an unknown one', async () => {
    for (const caller of [new ConsoleApi(hf), new ConsoleApi(hf, 'not-a-session-token')]) {
      for (const url of ['/api/me', '/api/tenants', '/api/audit', '/api/audit/export']) {
        const res = await caller.get<ErrorJson>(url);
        expect(res.status, url).toBe(401);
        expect(res.body.message).toBe('sign in to the console first');
      }
    }
  });

  it('makes the first administrator replace the one-time password before the API opens', async () => {
    const first = await hf.services.signIn.password(hf.bootstrap.email, hf.bootstrap.oneTimePassword, TEST_CLIENT);
    expect(first).toMatchObject({ ok: true, stage: 'password-change' });
    if (!first.ok) return;
    const halfway = new ConsoleApi(hf, first.token);
    expect((await halfway.get('/api/me')).status).toBe(401);
    expect((await halfway.get('/api/tenants')).status).toBe(401);

    const user = (await hf.services.sessions.resolve(first.token))!.user;
    const weak = await hf.services.signIn.changePassword(user, undefined, 'password', TEST_CLIENT, first.token);
    expect(weak).toEqual({
      ok: false,
      message: expect.stringMatching(/^Choose another password: .*include a digit.*commonly used/) as string,
    });

    adminPassword = strongPassword();
    admin = new ConsoleApi(hf, await changePassword(hf, first.token, undefined, adminPassword));
    const me = await admin.get<{ email: string; role: string; tenantId: string | null }>('/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: hf.bootstrap.email, role: 'platform-admin', tenantId: null });
    // The one-time password is spent.
    expect(
      await hf.services.signIn.password(hf.bootstrap.email, hf.bootstrap.oneTimePassword, TEST_CLIENT),
    ).toMatchObject({ ok: false });
  });

  it('lets a platform administrator create tenants and a tenant administrator in each', async () => {
    for (const [id, displayName] of [
      ['a', 'Tenant A'],
      ['b', 'Tenant B'],
    ] as const) {
      const res = await admin.post<TenantJson>('/api/tenants', { id, displayName });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body).toMatchObject({ id, displayName, workspace: id, userCount: 0 });
    }
    const again = await admin.post<ErrorJson>('/api/tenants', { id: 'a', displayName: 'Again' });
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('a tenant "a" already exists; choose another id');

    const person = await addUser(admin, 'a', 'admin@a.test', 'tenant-admin');
    expect(person.oneTimePassword).toMatch(/^[A-Za-z2-9]{20}$/);
    await addUser(admin, 'b', 'admin@b.test', 'tenant-admin');
    adminA = await activeAs('admin@a.test');
    adminB = await activeAs('admin@b.test');
    expect((await adminA.get('/api/me')).body).toMatchObject({
      email: 'admin@a.test',
      role: 'tenant-admin',
      tenantId: 'a',
    });

    const all = await admin.get<Page<TenantJson>>('/api/tenants');
    expect(all.body.items.map((t) => [t.id, t.userCount])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('keeps a tenant administrator inside their own tenant', async () => {
    const list = await adminA.get<Page<TenantJson>>('/api/tenants');
    expect(list.status).toBe(200);
    expect(list.body.items.map((t) => t.id)).toEqual(['a']);
    expect(list.body.total).toBe(1);

    expect((await adminA.get('/api/tenants/a')).status).toBe(200);
    const other = await adminA.get<ErrorJson>('/api/tenants/b');
    expect(other.status).toBe(404);
    expect(other.body.message).toBe('no tenant "b"');
    // Not "forbidden": to an outsider, B looks like a tenant that does not exist.
    const missing = await adminA.get<ErrorJson>('/api/tenants/zz');
    expect([missing.status, missing.body]).toEqual([404, { error: 'NotFound', message: 'no tenant "zz"' }]);
    expect(other.body.error).toBe('NotFound');

    expect((await adminA.patch('/api/tenants/b', { displayName: 'Taken over' })).status).toBe(404);
    expect((await admin.get<TenantJson>('/api/tenants/b')).body.displayName).toBe('Tenant B');
    expect((await adminA.post('/api/tenants/b/users', { email: 'intruder@a.test', role: 'tenant-admin' })).status).toBe(
      404,
    );
    expect((await adminA.get('/api/tenants/b/users')).status).toBe(404);
    expect((await admin.get<UserJson[]>('/api/tenants/b/users')).body.map((u) => u.email)).toEqual(['admin@b.test']);
    // Creating tenants is for platform administrators.
    expect((await adminA.post('/api/tenants', { id: 'c', displayName: 'C' })).status).toBe(403);

    const renamed = await adminA.patch<TenantJson>('/api/tenants/a', { displayName: 'Tenant A, renamed' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.displayName).toBe('Tenant A, renamed');
    await addUser(adminA, 'a', 'auditor@a.test', 'auditor');
    const platform = await adminA.post<ErrorJson>('/api/tenants/a/users', {
      email: 'root@a.test',
      role: 'platform-admin',
    });
    expect(platform.status).toBe(403);
  });

  it("shows a tenant administrator only their tenant's audit entries and refuses the whole export", async () => {
    const own = await adminA.get<Page<ChainedEntry>>('/api/audit?pageSize=200');
    expect(own.status).toBe(200);
    expect(own.body.items.length).toBeGreaterThan(0);
    expect(new Set(own.body.items.map((e) => e.tenantId))).toEqual(new Set(['a']));
    expect(own.body.items.map((e) => e.action)).toEqual(
      expect.arrayContaining(['tenant.created', 'user.created', 'tenant.updated']),
    );

    const everything = await admin.get<Page<ChainedEntry>>('/api/audit?pageSize=200');
    expect(everything.body.items.some((e) => e.tenantId === 'b')).toBe(true);
    expect(everything.body.total).toBeGreaterThan(own.body.total);

    const exported = await adminA.get<ErrorJson>('/api/audit/export');
    expect(exported.status).toBe(403);
    expect(exported.body.message).toBe(
      'only platform administrators and cluster-wide auditors can export the whole audit log',
    );
  });

  it('lets an auditor read their tenant but not change it', async () => {
    const auditor = await activeAs('auditor@a.test');
    expect((await auditor.get<TenantJson>('/api/tenants/a')).body.displayName).toBe('Tenant A, renamed');
    const change = await auditor.patch<ErrorJson>('/api/tenants/a', { displayName: 'Audited away' });
    expect(change.status).toBe(403);
    expect(change.body.message).toBe('your role (auditor) cannot change tenant "a"');
    expect((await auditor.post('/api/tenants/a/users', { email: 'friend@a.test', role: 'auditor' })).status).toBe(403);
    expect((await admin.get<TenantJson>('/api/tenants/a')).body.displayName).toBe('Tenant A, renamed');
    const audit = await auditor.get<Page<ChainedEntry>>('/api/audit?pageSize=200');
    expect(new Set(audit.body.items.map((e) => e.tenantId))).toEqual(new Set(['a']));
    expect((await auditor.get('/api/audit/export')).status).toBe(403);
  });

  it('refuses bad input with 400 and a message naming the field', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/tenants', { id: 'Tenant-C', displayName: 'Upper case' }, /\bid\b/],
      ['POST', '/api/tenants', { id: 'c' }, /displayName/],
      ['POST', '/api/tenants/a/users', { email: 'not-an-address', role: 'auditor' }, /\bemail\b/],
      ['POST', '/api/tenants/a/users', { email: 'owner@a.test', role: 'owner' }, /\brole\b/],
      ['PATCH', '/api/tenants/a', { oidc: { issuer: 'login.example.com', clientId: 'console' } }, /issuer/],
      ['GET', '/api/tenants?pageSize=1000', undefined, /pageSize/],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await admin.request<ErrorJson>(method, url, { body });
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body.message, `${method} ${url}`).toMatch(field);
    }
    expect((await admin.get('/api/tenants/tenant-c')).status).toBe(404);
    expect((await admin.get<UserJson[]>('/api/tenants/a/users')).body.map((u) => u.email)).not.toContain(
      'owner@a.test',
    );
  });

  it('refuses a state-changing request without the CSRF token of its own session or from another origin', async () => {
    const missing = await admin.post<ErrorJson>(
      '/api/tenants',
      { id: 'csrf-1', displayName: 'No token' },
      { csrf: null },
    );
    expect(missing.status).toBe(403);
    expect(missing.body.message).toMatch(/did not come from this console/);

    const borrowed = await admin.patch<ErrorJson>(
      '/api/tenants/a',
      { displayName: 'Borrowed token' },
      { csrf: hf.services.csrf.issue(adminA.token!) },
    );
    expect(borrowed.status).toBe(403);

    const foreign = await admin.post<ErrorJson>(
      '/api/tenants',
      { id: 'csrf-2', displayName: 'Foreign origin' },
      { headers: { origin: 'https://evil.example' } },
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body.message).toBe('requests from https://evil.example are not accepted');

    const anonymous = await new ConsoleApi(hf).post('/api/tenants', { id: 'csrf-3', displayName: 'Nobody' });
    expect(anonymous.status).toBe(403);

    for (const id of ['csrf-1', 'csrf-2', 'csrf-3']) expect((await admin.get(`/api/tenants/${id}`)).status).toBe(404);
    expect((await admin.get<TenantJson>('/api/tenants/a')).body.displayName).toBe('Tenant A, renamed');

    const sameOrigin = await admin.post<TenantJson>(
      '/api/tenants',
      { id: 'csrf-ok', displayName: 'With token' },
      { headers: { origin: hf.url } },
    );
    expect(sameOrigin.status).toBe(201);
    const patched = await admin.patch<TenantJson>('/api/tenants/csrf-ok', { displayName: 'Still with token' });
    expect(patched.status).toBe(200);
    expect(patched.body.displayName).toBe('Still with token');
  });

  it('locks an account after 5 wrong passwords, alerts, and lets a platform administrator unlock it', async () => {
    const email = 'locked@a.test';
    const { id } = await addUser(admin, 'a', email, 'tenant-admin');
    const password = strongPassword();
    await activeAs(email, password);

    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const result = await hf.services.signIn.password(email, `${password}-wrong`, TEST_CLIENT);
      expect(result.ok).toBe(false);
      if (!result.ok) answers.push(result.message);
    }
    const right = await hf.services.signIn.password(email, password, TEST_CLIENT);
    expect(right.ok).toBe(false);
    if (!right.ok) answers.push(right.message);

    const lockedUntil = (await admin.get<UserJson[]>('/api/tenants/a/users')).body.find(
      (u) => u.email === email,
    )?.lockedUntil;
    expect(lockedUntil).toEqual(expect.any(String));
    const until = `until ${lockedUntil!.slice(11, 16)} UTC`;
    expect(answers.slice(0, 4)).toEqual(Array(4).fill('The e-mail address or password is not right.'));
    for (const answer of answers.slice(4)) {
      expect(answer).toMatch(
        /^Too many failed sign-ins with this e-mail address: signing in with it is paused until \d\d:\d\d UTC\./,
      );
      expect(answer).toContain(until);
    }

    const alert = await receiver.first;
    expect(alert).toEqual({
      alert: 'account-locked',
      email,
      tenantId: 'a',
      ip: TEST_CLIENT.ip,
      failures: 5,
      lockedUntil,
    });

    const audit = (await admin.get<Page<ChainedEntry>>('/api/audit?pageSize=200')).body.items.filter(
      (e) => e.target === `user/${id}`,
    );
    const failures = audit
      .filter((e) => e.action === 'sign-in.failed')
      .map((e) => (e.after as { failures: number }).failures);
    expect(failures.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(audit.filter((e) => e.action === 'user.locked')).toEqual([
      expect.objectContaining({ tenantId: 'a', after: { failures: 5, lockedUntil } }),
    ]);
    expect(audit.filter((e) => e.action === 'sign-in.refused-locked')).toHaveLength(2);

    // Another tenant's administrator does not even see the account.
    expect((await adminB.post(`/api/users/${id}/unlock`)).status).toBe(404);
    const unlock = await admin.post(`/api/users/${id}/unlock`);
    expect(unlock.status).toBe(204);
    expect(
      (await admin.get<UserJson[]>('/api/tenants/a/users')).body.find((u) => u.email === email)?.lockedUntil,
    ).toBeNull();
    expect(await hf.services.signIn.password(email, password, TEST_CLIENT)).toMatchObject({
      ok: true,
      stage: 'active',
    });
    expect((await admin.get<Page<ChainedEntry>>('/api/audit?pageSize=5')).body.items.map((e) => e.action)).toContain(
      'user.unlocked',
    );
    expect(receiver.alerts.filter((a) => a.email === email)).toHaveLength(1);
  });

  it('checks wrong passwords sent at the same time one after another: once locked, the rest are not even tried', async () => {
    const email = 'parallel@a.test';
    const { id } = await addUser(admin, 'a', email, 'auditor');
    const password = strongPassword();
    await activeAs(email, password);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => hf.services.signIn.password(email, `${password}-wrong`, TEST_CLIENT)),
    );
    expect(results.filter((r) => r.ok)).toEqual([]);
    const right = await hf.services.signIn.password(email, password, TEST_CLIENT);
    expect(right).toEqual({
      ok: false,
      message: expect.stringMatching(
        /^Too many failed sign-ins with this e-mail address: signing in with it is paused until \d\d:\d\d UTC\./,
      ) as string,
    });
    const entries = (await admin.get<Page<ChainedEntry>>('/api/audit?pageSize=200')).body.items.filter(
      (e) => e.target === `user/${id}`,
    );
    const failures = entries
      .filter((e) => e.action === 'sign-in.failed')
      .map((e) => (e.after as { failures: number }).failures);
    expect(failures.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
    // The three after the lock, and the right password after them.
    expect(entries.filter((e) => e.action === 'sign-in.refused-locked')).toHaveLength(4);
  });

  it('gives a new session at every sign-in and ends the other sessions when the password changes', async () => {
    const email = 'sessions@a.test';
    await addUser(admin, 'a', email, 'auditor');
    const password = strongPassword();
    const first = await activeAs(email, password);
    const second = await signIn(hf, email, password);
    const third = await signIn(hf, email, password);
    expect(second.stage).toBe('active');
    expect(new Set([first.token, second.token, third.token]).size).toBe(3);
    for (const token of [first.token!, second.token, third.token]) {
      expect((await new ConsoleApi(hf, token).get('/api/me')).status).toBe(200);
    }

    const next = strongPassword();
    const renewed = new ConsoleApi(hf, await changePassword(hf, third.token, password, next));
    expect((await renewed.get<{ email: string }>('/api/me')).body.email).toBe(email);
    for (const token of [first.token!, second.token, third.token]) {
      const res = await new ConsoleApi(hf, token).get('/api/me');
      expect(res.status).toBe(401);
      // The browser is told to drop the dead cookie.
      expect(res.headers.getSetCookie()).toContainEqual(expect.stringMatching(/^holdfast-session=;/));
    }
    expect(await hf.services.signIn.password(email, password, TEST_CLIENT)).toMatchObject({ ok: false });
    expect(await hf.services.signIn.password(email, next, TEST_CLIENT)).toMatchObject({ ok: true, stage: 'active' });
  });

  it('ends a session left idle, but not one in use, and any session after its lifetime', async () => {
    const short = await startConsole({ database, settings: { timeouts: { idleMs: 1500, absoluteMs: 6000 } } });
    try {
      const password = strongPassword();
      const token = await firstSignIn(short, short.bootstrap.email, short.bootstrap.oneTimePassword, password);
      const idle = new ConsoleApi(short, token);
      expect((await idle.get('/api/me')).status).toBe(200);
      await sleep(2000);
      expect((await idle.get('/api/me')).status).toBe(401);

      // Requests half a second apart (the clock passed in) keep a session alive past the idle period.
      const { token: busy } = await signIn(short, short.bootstrap.email, password);
      const start = Date.now();
      for (let t = 500; t <= 5500; t += 500) {
        expect(await short.services.sessions.resolve(busy, new Date(start + t)), `at +${t} ms`).toBeDefined();
      }
      expect(await short.services.sessions.resolve(busy, new Date(start + 6500))).toBeUndefined();
    } finally {
      await short.stop();
    }
  });

  /** A person of tenant A with TOTP on: their password, secret and recovery codes. */
  async function withTotp(
    email: string,
  ): Promise<{ password: string; secret: string; recoveryCodes: string[]; token: string }> {
    await addUser(admin, 'a', email, 'tenant-admin');
    const password = strongPassword();
    const before = await activeAs(email, password);
    const secret = newTotpSecret();
    const user = (await hf.services.sessions.resolve(before.token))!.user;
    const enrolled = await hf.services.signIn.enrolTotp(
      user,
      secret,
      await generate({ secret }),
      TEST_CLIENT,
      before.token!,
      password,
    );
    if (!enrolled.ok) throw new Error(`TOTP enrolment failed: ${enrolled.message}`);
    expect(enrolled.stage).toBe('active');
    return { password, secret, recoveryCodes: enrolled.recoveryCodes, token: enrolled.token };
  }

  /** A password sign-in that stops at the second factor: the pending session and its user. */
  async function pendingSecondFactor(email: string, password: string) {
    const step = await signIn(hf, email, password);
    expect(step.stage).toBe('second-factor');
    return { token: step.token, user: (await hf.services.sessions.resolve(step.token))!.user };
  }

  /** The code of the first time step after the last one the account used: the enrolment used the current step's. */
  async function nextTotpCode(secret: string, token: string): Promise<string> {
    const lastStep = (await hf.services.sessions.resolve(token))!.user.totpLastStep!;
    const step = Math.max(lastStep + 1, Math.floor(Date.now() / 30_000));
    return generate({ secret, epoch: step * 30 });
  }

  it('asks for a TOTP code once enrolled, each code and recovery code working once', async () => {
    const email = 'totp@a.test';
    const { password, secret, recoveryCodes, token } = await withTotp(email);
    expect(recoveryCodes).toHaveLength(10);
    expect((await new ConsoleApi(hf, token).get('/api/me')).body).toMatchObject({ email, totp: true });

    const secondFactor = async (code: string) => {
      const pending = await pendingSecondFactor(email, password);
      return {
        pending: pending.token,
        result: await hf.services.signIn.secondFactor(pending.user, code, TEST_CLIENT, pending.token),
      };
    };

    const wrong = await secondFactor(await wrongCode(secret));
    expect(wrong.result).toEqual({ ok: false, message: 'That code is not right.' });
    expect((await new ConsoleApi(hf, wrong.pending).get('/api/me')).status).toBe(401);

    const code = await nextTotpCode(secret, token);
    const right = await secondFactor(code);
    expect(right.result).toMatchObject({ ok: true, stage: 'active' });
    if (!right.result.ok) return;
    expect((await new ConsoleApi(hf, right.result.token).get('/api/me')).status).toBe(200);
    expect((await new ConsoleApi(hf, right.pending).get('/api/me')).status).toBe(401);

    const replay = await secondFactor(code);
    expect(replay.result).toEqual({ ok: false, message: 'That code is not right.' });

    const [recovery, spare] = recoveryCodes;
    const recovered = await secondFactor(recovery!);
    expect(recovered.result).toMatchObject({ ok: true, stage: 'active' });
    expect((await secondFactor(recovery!)).result).toEqual({ ok: false, message: 'That code is not right.' });
    expect((await secondFactor(spare!.toUpperCase())).result).toMatchObject({ ok: true, stage: 'active' });

    const actions = (await adminA.get<Page<ChainedEntry>>('/api/audit?pageSize=200')).body.items.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['totp.enabled', 'sign-in.second-factor', 'recovery-code.used']));
  });

  it('accepts a TOTP code or a recovery code sent twice at the same time only once', async () => {
    const email = 'totp-twice@a.test';
    const { password, secret, recoveryCodes, token } = await withTotp(email);
    for (const code of [await nextTotpCode(secret, token), recoveryCodes[0]!]) {
      const pending = [await pendingSecondFactor(email, password), await pendingSecondFactor(email, password)];
      const results = await Promise.all(
        pending.map((p) => hf.services.signIn.secondFactor(p.user, code, TEST_CLIENT, p.token)),
      );
      expect(
        results.filter((r) => r.ok),
        code,
      ).toHaveLength(1);
      expect(
        results.filter((r) => !r.ok),
        code,
      ).toEqual([{ ok: false, message: 'That code is not right.' }]);
    }
  });
});
