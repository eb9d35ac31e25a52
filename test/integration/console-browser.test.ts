// The console as a person uses it: Debian's Chromium against the built UI,
// the real server and database, a real OpenID provider and a real SAML IdP.
import { createServer, type Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { MERGE_PATCH, collectionPath, objectPath } from '../../kube/rest.js';
import { SCREENSHOTS, builtApp, launchBrowser } from '../harness/browser.js';
import { adminConfig, chartConsoleWorkspaces } from '../harness/kube.js';
import { CHART_NAMESPACE } from '../harness/chart-accounts.js';
import { ensureNamespace, installCrds } from '../harness/operator.js';
import { TEST_LABEL, Workspaces } from '../harness/workspaces.js';
import { startConsole, stopConsolePostgres, strongPassword, type TestConsole } from '../harness/console.js';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.js';
import { freePort } from '../harness/postgres.js';
import { startSamlIdp, type TestSamlIdp } from '../harness/saml-idp.js';

const CONSOLE_NAMESPACE = CHART_NAMESPACE;

describe('the console in a browser', () => {
  /** Labels the Workspaces this console creates (no operator here provisions them), for removing them after. */
  const w = new Workspaces();
  let c: TestConsole;
  let browser: Browser;
  let oidc: TestOidcProvider;
  let saml: TestSamlIdp;
  let hook: Server;
  const alerts: unknown[] = [];
  const adminPassword = strongPassword();
  let alice = { email: 'alice@acme.test', password: '' };
  let recoveryCodes: string[] = [];

  beforeAll(async () => {
    const hookPort = await freePort();
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        alerts.push(JSON.parse(body));
        res.end();
      });
    }).listen(hookPort, '127.0.0.1');
    // The console's own namespace (HOLDFAST_NAMESPACE), where its Events go.
    await ensureNamespace(CONSOLE_NAMESPACE);
    c = await startConsole({
      database: 'pglite',
      remix: await builtApp(),
      workspaces: chartConsoleWorkspaces(CONSOLE_NAMESPACE),
      settings: {
        alertWebhook: `http://127.0.0.1:${hookPort}/alerts`,
        signInsPerMinute: 1000,
        workspaceLabels: { [TEST_LABEL]: w.run },
      },
    });
    browser = await launchBrowser();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    // The Workspaces the console created for this file's tenants.
    const ours = await w.rest.get<{ items: { metadata: { name: string } }[] }>(collectionPath('Workspace'), {
      labelSelector: w.selector,
    });
    for (const ws of ours.items) await w.delete(ws.metadata.name);
    await browser?.close();
    await oidc?.stop();
    await saml?.stop();
    await c?.stop();
    await stopConsolePostgres();
    hook?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    return context.newPage();
  }
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const url = (p: string) => `${c.url}${p}`;

  async function passwordSignIn(page: Page, email: string, password: string) {
    await page.goto(url('/login'));
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** A fresh browser signed in as the first administrator, on the given page. */
  async function adminOn(path: string): Promise<Page> {
    const admin = await newPage();
    await passwordSignIn(admin, c.bootstrap.email, adminPassword);
    await admin.waitForURL(url('/'));
    await admin.goto(url(path));
    return admin;
  }

  it('the first administrator signs in with the one-time password and must choose a new one', async () => {
    const page = await newPage();
    await page.goto(url('/'));
    await page.waitForURL(url('/login'));
    await expect(page.getByRole('heading', { name: 'Sign in to the console' }).isVisible()).resolves.toBe(true);
    await shot(page, 'sign-in');

    await passwordSignIn(page, c.bootstrap.email, 'Wrong-password-1');
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('not right');

    await passwordSignIn(page, c.bootstrap.email, c.bootstrap.oneTimePassword);
    await page.waitForURL(url('/login/new-password'));
    await page.getByLabel('New password', { exact: true }).fill('password1');
    await page.getByLabel('New password again').fill('password1');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.getByRole('alert').waitFor();
    const refusal = await page.getByRole('alert').textContent();
    expect(refusal).toContain('include an upper case letter');
    expect(refusal).toContain('commonly used');

    await page.getByLabel('New password', { exact: true }).fill(adminPassword);
    await page.getByLabel('New password again').fill(adminPassword);
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL(url('/'));
    await page.getByRole('heading', { name: 'No tenants yet' }).waitFor();
    await shot(page, 'workspaces-empty');

    // The one-time password is spent.
    const other = await newPage();
    await passwordSignIn(other, c.bootstrap.email, c.bootstrap.oneTimePassword);
    await other.getByRole('alert').waitFor();
    expect(other.url()).toContain('/login');
  });

  it('shows Workspaces from the cluster: one without a tenant becomes a tenant with its status', async () => {
    await installCrds();
    const name = await w.create('console');
    // What the operator reports once everything is provisioned.
    await w.rest.request('PATCH', `${objectPath('Workspace', name)}/status`, {
      body: {
        status: {
          phase: 'Ready',
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Provisioned',
              message: 'all parts are ready',
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
        },
      },
      contentType: MERGE_PATCH,
    });
    const page = await newPage();
    await passwordSignIn(page, c.bootstrap.email, adminPassword);
    await page.waitForURL(url('/'));
    const row = page.locator('section[aria-labelledby=unassigned] tr', { hasText: name });
    await expect
      .poll(
        async () => {
          await page.reload();
          return row.count();
        },
        { timeout: 15_000 },
      )
      .toBe(1);
    expect(await row.locator('.badge').textContent()).toBe('Ready');
    await row.getByRole('button', { name: /Create tenant/ }).click();
    await page.waitForURL(url(`/tenants/${name}`));
    expect(await page.getByTestId('workspace-phase').textContent()).toBe('Ready');
    await page.goto(url('/'));
    const tenantRow = page.locator('tbody tr', { hasText: name }).first();
    expect(await tenantRow.locator('.badge').textContent()).toBe('Ready');
    expect(await page.locator('section[aria-labelledby=unassigned] tr', { hasText: name }).count()).toBe(0);
    await w.delete(name);
  });

  it('a platform administrator creates tenants and people; the tables sort and the tenant page shows its settings', async () => {
    const page = await newPage();
    await passwordSignIn(page, c.bootstrap.email, adminPassword);
    await page.waitForURL(url('/'));
    for (const [id, name] of [
      ['acme', 'Acme Corp'],
      ['globex', 'Globex'],
      ['initech', 'Initech'],
    ]) {
      await page.goto(url('/'));
      await page.getByLabel('Id', { exact: true }).fill(id!);
      await page.getByLabel('Name', { exact: true }).fill(name!);
      await page.getByRole('button', { name: 'Create tenant', exact: true }).click();
      await page.waitForURL(url(`/tenants/${id}`));
    }
    await page.goto(url('/'));
    await page.getByLabel('Id', { exact: true }).fill('Bad Id');
    await page.getByLabel('Name', { exact: true }).fill('Bad');
    await page.getByRole('button', { name: 'Create tenant', exact: true }).click();
    await page.locator('.notice.error').waitFor();
    expect(await page.locator('.notice.error').textContent()).toMatch(/^id: use lower case letters/);
    expect(await page.locator('[id="f-id-error"]').textContent()).toMatch(/^use lower case letters/);

    const names = () => page.locator('tbody tr td:first-child a').allTextContents();
    await page.goto(url('/'));
    const ours = async () => (await names()).filter((n) => ['Acme Corp', 'Globex', 'Initech'].includes(n));
    expect(await ours()).toEqual(['Acme Corp', 'Globex', 'Initech']);
    await page.getByRole('link', { name: /^Tenant/ }).click();
    await page.waitForURL(/desc=true/);
    // The address changes as the navigation starts; the rows follow once its data is in.
    await expect.poll(ours).toEqual(['Initech', 'Globex', 'Acme Corp']);
    await shot(page, 'workspaces');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'workspaces-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.goto(url('/tenants/acme'));
    await page.getByLabel('E-mail', { exact: true }).fill(alice.email);
    await page.getByLabel('Role', { exact: true }).selectOption('tenant-admin');
    await page.getByRole('button', { name: 'Add person' }).click();
    const otp = await page.getByTestId('one-time-password').textContent();
    expect(otp).toMatch(/^\S{20}$/);
    alice = { ...alice, password: otp! };
    await page.getByLabel('Require a TOTP code at every password sign-in').check();
    await page.getByLabel('Minimum length').fill('7');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await page.locator('#f-passwordPolicy\\.minLength-error').textContent()).toBe(
      'minLength must be at least 8',
    );
    await page.getByLabel('Minimum length').fill('14');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Settings saved.').waitFor();
    expect(await page.getByLabel('Minimum length').inputValue()).toBe('14');
    await shot(page, 'tenant');
  });

  it('a tenant that requires TOTP makes the person enrol, then asks for a code at every sign-in', async () => {
    const page = await newPage();
    await passwordSignIn(page, alice.email, alice.password);
    await page.waitForURL(url('/login/new-password'));
    await page.getByText('At least 14 characters with a digit').waitFor();
    alice.password = strongPassword();
    await page.getByLabel('New password', { exact: true }).fill(alice.password);
    await page.getByLabel('New password again').fill(alice.password);
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.waitForURL(url('/login/enrol'));
    await page.getByText('Cannot scan?').click();
    const secret = (await page.getByTestId('totp-secret').textContent())!;
    await shot(page, 'totp-enrolment');
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Code from the app').fill(await generate({ secret }));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Two-factor sign-in is on' }).waitFor();
    recoveryCodes = await page.locator('ul.codes code').allTextContents();
    expect(recoveryCodes).toHaveLength(10);
    await page.getByRole('link', { name: 'Continue to the console' }).click();
    await page.waitForURL(url('/'));
    // A tenant admin sees their own tenant only.
    expect(await page.locator('tbody tr td:first-child a').allTextContents()).toEqual(['Acme Corp']);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(url('/login'));
    await passwordSignIn(page, alice.email, alice.password);
    await page.waitForURL(url('/login/second-factor'));
    await page.getByLabel('Code', { exact: true }).fill('123456');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('alert').waitFor();
    // The enrolment used this 30-second step's code; the next step's code is new.
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 500));
    await page.getByLabel('Code', { exact: true }).fill(await generate({ secret }));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(url('/'));

    const again = await newPage();
    await passwordSignIn(again, alice.email, alice.password);
    await again.waitForURL(url('/login/second-factor'));
    await again.getByLabel('Code', { exact: true }).fill(recoveryCodes[0]!);
    await again.getByRole('button', { name: 'Verify' }).click();
    await again.waitForURL(url('/'));
  }, 90_000);

  it('refuses another tenant, and a form or request without the CSRF token', async () => {
    const page = await newPage();
    await passwordSignIn(page, alice.email, alice.password);
    await page.waitForURL(url('/login/second-factor'));
    await page.getByLabel('Code', { exact: true }).fill(recoveryCodes[1]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(url('/'));

    const response = await page.goto(url('/tenants/globex'));
    expect(response?.status()).toBe(404);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    expect((await page.request.get(url('/api/tenants/globex'))).status()).toBe(404);
    expect((await page.request.get(url('/api/tenants/acme'))).status()).toBe(200);

    // A page on another origin posts a form into the console with alice's cookies.
    const evilPort = await freePort();
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form method="post" action="${url('/tenants/acme')}"><input name="intent" value="settings"><input name="displayName" value="Pwned"></form><script>document.forms[0].submit()</script>`,
      );
    }).listen(evilPort, '127.0.0.1');
    try {
      const answer = page.waitForResponse(
        (r) => r.url().startsWith(url('/tenants/acme')) && r.request().method() === 'POST',
      );
      await page.goto(`http://127.0.0.1:${evilPort}/`);
      expect((await answer).status()).toBe(403);
    } finally {
      evil.close();
    }
    // Same origin, but a forged token.
    const forged = await page.request.patch(url('/api/tenants/acme'), {
      data: { displayName: 'Pwned' },
      headers: { 'x-csrf-token': 'forged' },
    });
    expect(forged.status()).toBe(403);
    await page.goto(url('/tenants/acme'));
    await page.getByRole('heading', { name: 'Acme Corp' }).waitFor();
  });

  it('locks an account after repeated failures, says until when, and alerts', async () => {
    const page = await newPage();
    for (let i = 0; i < 5; i++) {
      await passwordSignIn(page, alice.email, `Wrong-${i}-password`);
      // Each answer before the next try, so that no attempt is cut off by the next page load.
      await page.getByRole('alert').waitFor();
    }
    expect(await page.getByRole('alert').textContent()).toMatch(/signing in with it is paused until \d\d:\d\d UTC/);
    await passwordSignIn(page, alice.email, alice.password);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('paused');
    await shot(page, 'sign-in-locked');
    await expect
      .poll(() => alerts)
      .toContainEqual(
        expect.objectContaining({ alert: 'account-locked', email: alice.email, tenantId: 'acme', failures: 5 }),
      );
    // And as a Warning Event in the console's own namespace, about its Pod and the tenant's Workspace.
    const events = adminConfig().makeApiClient(k8s.EventsV1Api);
    const locked = (namespace: string) =>
      events
        .listNamespacedEvent({ namespace, fieldSelector: 'reason=AccountLocked' })
        .then((list) => list.items.filter((e) => e.related?.kind === 'Workspace' && e.related.name === 'acme'));
    await expect
      .poll(async () => (await locked(CONSOLE_NAMESPACE)).map((e) => e.note))
      .toContainEqual(expect.stringContaining(`console account ${alice.email} locked after 5 failed sign-ins`));
    const [event] = await locked(CONSOLE_NAMESPACE);
    expect(event!.regarding).toMatchObject({ kind: 'Pod', name: 'holdfast-console-0', namespace: CONSOLE_NAMESPACE });
    expect(event!.reportingController).toBe('holdfast.io/console');
    expect(await locked('default')).toEqual([]);

    const admin = await adminOn('/tenants/acme');
    await admin.getByRole('button', { name: 'Unlock' }).click();
    await admin.getByText('Account unlocked.').waitFor();
    await passwordSignIn(page, alice.email, alice.password);
    await page.waitForURL(url('/login/second-factor'));
  });

  it("signs in through the tenant's OpenID provider, creating the account from the group mapping", async () => {
    oidc = await startOidcProvider({
      clientId: 'holdfast',
      clientSecret: 'oidc-secret',
      redirectUris: [url('/auth/oidc/callback')],
      accounts: {
        bob: { email: 'bob@acme.test', name: 'Bob Builder', groups: ['acme-admins'] },
        eve: { email: 'eve@acme.test', groups: ['visitors'] },
      },
    });
    const admin = await adminOn('/tenants/acme');
    const oidcForm = admin.locator('section[aria-labelledby=oidc]');
    await oidcForm.getByLabel('Enabled').check();
    await oidcForm.getByLabel('Issuer').fill(oidc.issuer);
    await oidcForm.getByLabel('Client id').fill('holdfast');
    await oidcForm.getByLabel('Client secret').fill('oidc-secret');
    await oidcForm.getByLabel('Scopes').fill('openid email profile groups');
    await oidcForm.getByRole('button', { name: 'Save OpenID Connect' }).click();
    await admin.getByText('OpenID Connect saved.').waitFor();
    await admin.getByLabel('Mapping').fill('acme-admins = tenant-admin\nacme-audit = auditor');
    await admin.getByRole('button', { name: 'Save roles' }).click();
    await admin.getByText('Role mapping saved.').waitFor();

    let page = await newPage();
    const ssoSignIn = async (login: string) => {
      // A fresh browser each time: the provider remembers who signed in.
      page = await newPage();
      await page.goto(url('/login'));
      await page.getByLabel('Organization').fill('acme');
      await page.getByRole('button', { name: 'Continue with single sign-on' }).click();
      await page.waitForURL((u) => u.href.startsWith(oidc.issuer));
      await page.locator('input[name=login]').fill(login);
      await page.locator('input[name=password]').fill('any');
      await page.locator('button[type=submit]').first().click();
      await page.waitForLoadState();
      if (page.url().startsWith(oidc.issuer)) await page.locator('button[type=submit]').first().click();
    };
    await ssoSignIn('eve');
    await page.waitForURL((u) => u.pathname === '/login');
    expect(await page.getByRole('alert').textContent()).toContain(
      'None of your groups (visitors) gives a role in Acme Corp',
    );

    await ssoSignIn('bob');
    await page.waitForURL(url('/'));
    await page.getByText('Bob Builder').waitFor();
    expect(await page.locator('.who small').textContent()).toBe('Tenant admin · acme');
  });

  it("signs in through the tenant's SAML IdP, with signed assertions", async () => {
    saml = await startSamlIdp({
      spEntityId: url('/auth/saml/globex'),
      acsUrl: url('/auth/saml/globex/acs'),
      users: { carol: { email: 'carol@globex.test', name: 'Carol', groups: ['globex-audit'] } },
    });
    const admin = await adminOn('/tenants/globex');
    const samlForm = admin.locator('section[aria-labelledby=saml]');
    await samlForm.getByLabel('Enabled').check();
    await samlForm.getByLabel('IdP sign-on URL').fill(saml.entryPoint);
    await samlForm.getByLabel('IdP signing certificate (PEM)').fill(saml.cert);
    await samlForm.getByLabel('IdP entity id').fill(saml.issuer);
    await samlForm.getByRole('button', { name: 'Save SAML' }).click();
    await admin.getByText('SAML saved.').waitFor();
    await admin.getByLabel('Mapping').fill('globex-audit = auditor');
    await admin.getByRole('button', { name: 'Save roles' }).click();
    await admin.getByText('Role mapping saved.').waitFor();

    const page = await newPage();
    await page.goto(url('/login'));
    await page.getByLabel('Organization').fill('globex');
    await page.getByRole('button', { name: 'Continue with single sign-on' }).click();
    await page.waitForURL((u) => u.href.startsWith(saml.entryPoint));
    await page.locator('input[name=username]').fill('carol');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(url('/'));
    expect(await page.locator('.who small').textContent()).toBe('Auditor · globex');
    // An auditor reads but does not change.
    await page.goto(url('/tenants/globex'));
    await page.getByText("You can read this tenant's settings but not change them.").waitFor();
    await page.goto(url('/audit'));
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const actions = await page.locator('tbody td:nth-child(4)').allTextContents();
    expect(actions).toContain('sign-in');
    expect(actions).toContain('tenant.updated');
    expect(await page.locator('tbody td:nth-child(6)').allTextContents()).toEqual(expect.arrayContaining(['globex']));
    expect(new Set(await page.locator('tbody td:nth-child(6)').allTextContents())).toEqual(new Set(['globex']));

    await admin.goto(url('/audit'));
    await shot(admin, 'audit-log');
  });
});
