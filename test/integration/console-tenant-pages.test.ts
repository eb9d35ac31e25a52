// A tenant's pages in Debian's Chromium: the console creates the Workspace
// through the real apiserver, the operator (under the chart's account)
// provisions it on the real node, and the page shows it becoming Ready
// without a reload; retention is changed with a preview from the operator's
// own planner; the apiserver's refusals appear next to their fields.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePreview, previewRetention } from '../../console/tenants/retention-preview.js';
import { collectionPath, objectPath } from '../../kube/rest.js';
import { SCREENSHOTS, builtApp, launchBrowser } from '../harness/browser.js';
import { TEST_CLIENT, firstSignIn, startConsole, strongPassword, type TestConsole } from '../harness/console.js';
import { chartConsoleWorkspaces, eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { TEST_LABEL, Workspaces } from '../harness/workspaces.js';

describe('tenant pages in a browser', () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  let c: TestConsole;
  let browser: Browser;
  let admin: Page;
  /** A StorageClass marked encrypted: a Workspace's volume needs one (spec.volume.encryption Required). */
  let encrypted: string;
  const password = strongPassword();
  const url = (p: string) => `${c.url}${p}`;
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    await installCrds();
    encrypted = await w.storageClass({ encrypted: true });
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
    c = await startConsole({
      database: 'pglite',
      remix: await builtApp(),
      workspaces: chartConsoleWorkspaces(),
      settings: { workspaceLabels: { [TEST_LABEL]: w.run } },
    });
    browser = await launchBrowser();
    await mkdir(SCREENSHOTS, { recursive: true });
    // The first administrator, past the one-time password.
    const first = await c.services.signIn.password(c.bootstrap.email, c.bootstrap.oneTimePassword, TEST_CLIENT);
    if (!first.ok) throw new Error(first.message);
    const pending = (await c.services.sessions.resolve(first.token))!;
    const active = await c.services.signIn.changePassword(pending.user, undefined, password, TEST_CLIENT, first.token);
    if (!active.ok) throw new Error(active.message);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    admin = await context.newPage();
    await admin.goto(url('/login'));
    await admin.getByLabel('E-mail address').fill(c.bootstrap.email);
    await admin.getByLabel('Password').fill(password);
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.waitForURL(url('/'));
  }, 180_000);

  afterAll(async () => {
    const ours = await w.rest.get<{ items: { metadata: { name: string } }[] }>(collectionPath('Workspace'), {
      labelSelector: w.selector,
    });
    for (const ws of ours.items) await w.delete(ws.metadata.name);
    for (const ws of ours.items) await w.waitGone(ws.metadata.name, 120_000).catch(() => undefined);
    await browser?.close();
    await c?.stop();
    await operator?.stop();
  });

  it('creates a tenant whose Workspace appears in the apiserver and turns Ready on the open page', async () => {
    const id = uniqueName('live');
    await admin.goto(url('/'));
    await admin.getByLabel('Id', { exact: true }).fill(id);
    await admin.getByLabel('Name', { exact: true }).fill('Live Corp');
    await admin.getByLabel('Storage class').selectOption(encrypted);
    await admin.getByLabel('Volume size').fill('1Gi');
    await admin.getByRole('button', { name: 'Create tenant', exact: true }).click();
    await admin.waitForURL(url(`/tenants/${id}`));

    const ws = await w.get(id);
    expect(ws.spec).toMatchObject({
      tenant: id,
      displayName: 'Live Corp',
      volume: { size: '1Gi', storageClassName: encrypted },
    });
    expect(ws.metadata.managedFields?.[0]?.manager).toBe('holdfast-console');

    // No reload from here: the stream brings the operator's progress.
    await admin.getByText('Live: updates as the operator works.').waitFor({ timeout: 15_000 });
    await expect
      .poll(() => admin.getByTestId('workspace-phase').textContent(), { timeout: 180_000, interval: 1000 })
      .toBe('Ready');
    const ready = admin.locator('tr[data-condition=Ready]');
    expect(await ready.locator('td').nth(1).textContent()).toBe('True');
    expect(await admin.locator('tr[data-condition=DatabaseReady] td').nth(1).textContent()).toBe('True');
    await shot(admin, 'tenant-workspace');
  });

  const root = { id: 'root', email: 'admin@holdfast.test', name: '', role: 'platform-admin' as const, tenantId: null };

  it('ends the live status stream when its session ends', { timeout: 60_000 }, async () => {
    const id = uniqueName('stream');
    await c.services.tenants.create(root, { id, displayName: id, workspace: id }, TEST_CLIENT);
    const email = `${uniqueName('watcher')}@example.test`;
    const made = await c.services.tenants.createUser(root, id, { email, role: 'auditor' }, TEST_CLIENT);
    const token = await firstSignIn(c, email, made.oneTimePassword, strongPassword());
    const res = await fetch(url(`/tenants/${id}/live`), {
      headers: { cookie: `${c.app.cookieNames.session}=${token}` },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    while (!received.includes('event: status')) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`the stream ended before its first status: ${received}`);
      received += decoder.decode(chunk.value);
    }
    // Signed out elsewhere: the open stream stops telling (within its 10 s check), and ends.
    await c.services.sessions.revoke(token);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      received += decoder.decode(chunk.value);
    expect(received).toContain('"exists":false');
  });

  it('changes retention with a preview from the retention planner, and shows refusals next to their fields', async () => {
    const id = uniqueName('keep');
    await c.services.tenantWorkspaces.create(root, { id, displayName: 'Keep Ltd' }, TEST_CLIENT);
    await admin.goto(url(`/tenants/${id}`));
    const preview = admin.getByTestId('retention-preview');
    // The page previews as of the start of the hour, the same for every view within it.
    const hourStart = () => ({ now: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000) });
    const expected = (retention: Record<string, number>) =>
      `This ${describePreview(previewRetention('0 4 * * *', retention, hourStart())!)}.`;
    expect(await preview.textContent()).toBe(expected({ daily: 30, weekly: 26, monthly: 12 }));

    await admin.getByLabel('Hourly').fill('24');
    await admin.getByLabel('Daily').fill('7');
    await admin.getByLabel('Yearly').fill('3');
    await admin.getByLabel('Backup schedule').fill('0 * * * *');
    await expect
      .poll(() => preview.textContent())
      .toBe(
        `This ${describePreview(previewRetention('0 * * * *', { hourly: 24, daily: 7, weekly: 26, monthly: 12, yearly: 3 }, hourStart())!)}.`,
      );
    await shot(admin, 'tenant-retention');
    await admin.getByRole('button', { name: 'Save backup settings' }).click();
    await admin.getByText(/^Saved to the Workspace: /).waitFor();
    expect((await w.get(id)).spec.backup).toMatchObject({
      schedule: '0 * * * *',
      retention: { hourly: 24, daily: 7, weekly: 26, monthly: 12, yearly: 3 },
    });

    // The apiserver's own message, next to the field it names.
    await admin.getByLabel('Restore drill schedule').fill('every sunday');
    await admin.getByRole('button', { name: 'Save backup settings' }).click();
    const error = admin.locator('[id="f-spec.backup.verify.schedule-error"]');
    await error.waitFor();
    expect(await error.textContent()).toContain('spec.backup.verify.schedule must be a cron expression');
    expect(await admin.getByLabel('Restore drill schedule').getAttribute('aria-invalid')).toBe('true');
    expect((await w.get(id)).spec.backup.verify.schedule).toBe('0 5 * * 0');

    // A field kubectl changed meanwhile is named, and kept, when the console would overwrite it.
    await kubectl('patch', 'workspace', id, '--type=merge', '-p', '{"spec":{"backup":{"retention":{"daily":9}}}}');
    await admin.getByLabel('Restore drill schedule').fill('0 5 * * 0');
    await admin.getByRole('button', { name: 'Save backup settings' }).click();
    const conflict = admin.locator('[id="f-spec.backup.retention.daily-error"]');
    await conflict.waitFor();
    expect(await conflict.textContent()).toMatch(/^kubectl-patch set this field to a different value/);
    expect((await w.get(id)).spec.backup.retention.daily).toBe(9);
  });

  it('shows the backup log with its timeline, asks for a backup now, and restores one after confirmation', async () => {
    const id = uniqueName('log');
    await c.services.tenantWorkspaces.create(
      root,
      { id, displayName: 'Log & Co', workspaceSpec: { storageClassName: encrypted, volumeSize: '1Gi' } },
      TEST_CLIENT,
    );
    const namespace = `ws-${id}`;
    // The operator makes the namespace; the Backups are what backup jobs would have recorded over ten days.
    await eventually('the namespace', () => w.rest.find(objectPath('Namespace', namespace)));
    const day = 86_400_000;
    for (let d = 10; d >= 1; d--) {
      const name = `${id}-d${String(d).padStart(2, '0')}`;
      const at = new Date(Date.now() - d * day);
      await w.recordBackup(id, name, {
        phase: 'Succeeded',
        startedAt: new Date(at.getTime() - (30 + d) * 1000).toISOString(),
        completedAt: at.toISOString(),
        size: (40 + d) * 1024 * 1024,
        ...(d % 4 === 0
          ? {
              verifiedAt: at.toISOString(),
              verification: { passed: true, at: at.toISOString(), durationSeconds: 40 + d, tables: 3, rows: 120 },
            }
          : {}),
        // A drill that found the copy unusable: a failure, and no verifiedAt.
        ...(d === 6
          ? { verification: { passed: false, at: at.toISOString(), durationSeconds: 12, message: 'digest mismatch' } }
          : {}),
      });
    }

    // The tenant page's timeline previews what fewer daily backups would prune.
    await admin.goto(url(`/tenants/${id}`));
    const timeline = admin.locator('section[aria-labelledby=backups] figure.timeline');
    await timeline.waitFor();
    // A backup kept for several tiers is a dot in each of their rows.
    const pruned = async () =>
      new Set(
        await timeline
          .locator('circle[data-prune]')
          .evaluateAll((dots) => dots.map((d) => d.getAttribute('data-backup'))),
      ).size;
    expect(await pruned()).toBe(0);
    await admin.getByLabel('Daily').fill('3');
    await admin.getByLabel('Weekly').fill('0');
    await admin.getByLabel('Monthly').fill('0');
    // 3 daily kept, and the newest verified (day 4); the other six go.
    await expect.poll(pruned).toBe(6);
    await shot(admin, 'tenant-timeline');

    await admin.getByRole('link', { name: 'Backups and restores' }).click();
    await admin.waitForURL(url(`/tenants/${id}/backups`));
    // The address changes as the navigation starts; the page follows once its data is in.
    await admin.getByRole('heading', { name: 'Backups of Log & Co' }).waitFor();
    const rows = admin.locator('tr[data-backup]');
    expect(await rows.count()).toBe(10);
    expect(await rows.first().locator('td').nth(5).textContent()).toBe('daily, weekly, monthly, newest');
    expect(await admin.locator('figure.chart').count()).toBe(5);
    const drills = admin.locator('figure.chart', { hasText: 'Restore drills' });
    expect(await drills.locator('rect.bar.passed').count()).toBe(2);
    expect(await drills.locator('rect.bar.failed').count()).toBe(1);
    expect(await drills.locator('rect.bar.failed title').textContent()).toMatch(
      /: 12 s; FAILED: [a-z0-9-]+-d06 \(digest mismatch\)$/,
    );
    expect(await drills.locator('figcaption').textContent()).toContain('(1 failed of 3)');

    await admin.getByRole('button', { name: 'Back up now' }).click();
    await admin.getByText(/^Backup .* asked for/).waitFor();
    // The log reloads after the action: the new Backup is in it, Pending until the operator runs it.
    await expect.poll(() => rows.count()).toBe(11);

    const target = `${id}-d02`;
    const row = admin.locator(`tr[data-backup="${target}"]`);
    await row.getByText('Restore…').click();
    await row.getByLabel(`Type ${id} to confirm`).fill('yes please');
    await row.getByRole('button', { name: 'Restore this backup' }).click();
    await admin.locator(`[id="f-confirm-${target}-error"]`).waitFor();
    expect(await admin.locator(`[id="f-confirm-${target}-error"]`).textContent()).toBe(`type "${id}" to confirm`);
    expect((await w.rest.get<{ items: unknown[] }>(collectionPath('Restore', namespace))).items).toEqual([]);

    await row.getByLabel(`Type ${id} to confirm`).fill(id);
    await row.getByRole('button', { name: 'Restore this backup' }).click();
    await admin.getByText(/^Restore restore-.* created/).waitFor();
    const restores = await w.rest.get<{ items: { metadata: { name: string }; spec: unknown }[] }>(
      collectionPath('Restore', namespace),
    );
    expect(restores.items.map((r) => r.spec)).toEqual([{ workspace: id, backup: target }]);
    await admin.locator(`tr[data-restore="${restores.items[0]!.metadata.name}"]`).waitFor();
    await shot(admin, 'backup-log');
  });
});
