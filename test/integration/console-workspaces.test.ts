// Tenants' Workspaces written by the console through a real apiserver, as
// the chart's console account: created with the tenant, changed by
// server-side apply as `holdfast-console` without taking over what kubectl
// set, refused with the apiserver's own messages placed on the right
// fields, suspended and deleted.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../../console/access.js';
import { WorkspaceRefused } from '../../console/tenants/workspaces.js';
import { TEST_CLIENT, startConsole, type TestConsole } from '../harness/console.js';
import { chartConsoleWorkspaces, eventually, kubectl, operatorConfig } from '../harness/kube.js';
import { EventRecorder } from '../../kube/events.js';
import { collectionPath, objectPath } from '../../kube/rest.js';
import { installCrds } from '../harness/operator.js';
import { uniqueName } from '../harness/names.js';
import { TEST_LABEL, Workspaces } from '../harness/workspaces.js';

const root: Viewer = { id: 'root', email: 'root@holdfast.test', name: '', role: 'platform-admin', tenantId: null };
const adminOf = (tenantId: string): Viewer => ({
  id: `admin-${tenantId}`,
  email: `admin@${tenantId}.test`,
  name: '',
  role: 'tenant-admin',
  tenantId,
});

async function refusal(p: Promise<unknown>): Promise<WorkspaceRefused> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkspaceRefused)) throw new Error(`expected a WorkspaceRefused, got ${String(err)}`);
  return err;
}

describe('tenant Workspaces written by the console', () => {
  const w = new Workspaces();
  let c: TestConsole;
  const made: string[] = [];

  beforeAll(async () => {
    await installCrds();
    c = await startConsole({
      database: 'pglite',
      workspaces: chartConsoleWorkspaces(),
      settings: { workspaceLabels: { [TEST_LABEL]: w.run } },
    });
  });
  afterAll(async () => {
    await c?.stop();
    for (const name of made)
      if (name.startsWith('namespace:'))
        await w.rest.request('DELETE', objectPath('Namespace', name.slice(10))).catch(() => undefined);
      else await w.delete(name);
  });

  async function newTenant(prefix: string) {
    const id = uniqueName(prefix);
    made.push(id);
    await c.services.tenantWorkspaces.create(root, { id, displayName: `Tenant ${id}` }, TEST_CLIENT);
    return id;
  }

  it('creates the Workspace with the tenant, applied as holdfast-console, and never takes over an existing one', async () => {
    const id = uniqueName('acme');
    made.push(id);
    const { tenant, workspace } = await c.services.tenantWorkspaces.create(
      root,
      { id, displayName: 'Acme Corp', workspaceSpec: { volumeSize: '20Gi' } },
      TEST_CLIENT,
    );
    expect(tenant).toMatchObject({ id, workspace: id });
    const ws = await w.get(id);
    expect(ws.metadata.uid).toBe(workspace.metadata.uid);
    expect(ws.metadata.labels).toMatchObject({ [TEST_LABEL]: w.run, 'holdfast.io/created-by': 'holdfast-console' });
    expect(ws.spec).toMatchObject({ tenant: id, displayName: 'Acme Corp', volume: { size: '20Gi' } });
    expect(ws.metadata.managedFields?.map((m) => `${m.manager}/${m.operation}`)).toEqual(['holdfast-console/Apply']);

    // A Workspace made with kubectl is never adopted by a new tenant of that name.
    const other = await w.create('kubectl-made');
    made.push(other);
    const before = await w.get(other);
    const err = await refusal(
      c.services.tenantWorkspaces.create(root, { id: other, displayName: 'Squatter' }, TEST_CLIENT),
    );
    expect(err.statusCode).toBe(409);
    expect(err.message).toContain(`a Workspace "${other}" already exists`);
    expect((await w.get(other)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(await c.services.tenants.exists(other)).toBe(false);
  });

  it('keeps the Workspace of a tenant submitted twice at once: the second submit stops at the tenant id', async () => {
    const id = uniqueName('twice');
    made.push(id);
    const submit = () =>
      c.services.tenantWorkspaces.create(root, { id, displayName: 'Twice' }, TEST_CLIENT).then(
        () => 'created',
        (err: unknown) => (err as Error).message,
      );
    const results = await Promise.all([submit(), submit()]);
    expect(results.filter((r) => r === 'created')).toHaveLength(1);
    const ws = await w.get(id);
    expect(ws.spec.tenant).toBe(id);
    expect(await c.services.tenants.exists(id)).toBe(true);
  });

  it("puts the apiserver's refusal on the field it names, and a refused Workspace leaves nothing behind", async () => {
    const id = uniqueName('bad');
    const err = await refusal(
      c.services.tenantWorkspaces.create(
        root,
        { id, displayName: 'Bad', workspaceSpec: { databaseMode: 'Shared' } },
        TEST_CLIENT,
      ),
    );
    expect(err.statusCode).toBe(422);
    expect(err.fields['spec.database']).toContain('spec.database.serverRef is required when mode is Shared');
    expect(await w.find(id)).toBeUndefined();
    expect(await c.services.tenants.exists(id)).toBe(false);

    const size = await refusal(
      c.services.tenantWorkspaces.create(
        root,
        { id, displayName: 'Bad', workspaceSpec: { volumeSize: 'ten gigs' } },
        TEST_CLIENT,
      ),
    );
    expect(size.fields['spec.volume.size']).toContain('spec.volume.size must be a quantity such as "10Gi"');

    const tenant = await newTenant('rules');
    const save = (values: Record<string, unknown>) =>
      refusal(c.services.tenantWorkspaces.save(root, tenant, values, TEST_CLIENT));
    const none = await save({
      'spec.backup.retention.daily': 0,
      'spec.backup.retention.weekly': 0,
      'spec.backup.retention.monthly': 0,
    });
    expect(none.fields['spec.backup.retention']).toContain('keeps no backups at all');
    const recipients = await save({ 'spec.backup.recipients': ['age1notakey'] });
    expect(recipients.fields['spec.backup.recipients']).toContain('must be age recipients');
    const cron = await save({ 'spec.backup.schedule': 'every night' });
    expect(cron.fields['spec.backup.schedule']).toContain('must be a cron expression');
    expect((await w.get(tenant)).spec.backup).toMatchObject({
      schedule: '0 4 * * *',
      retention: { daily: 30, weekly: 26, monthly: 12 },
    });
  });

  it('keeps what kubectl changed when the console saves another field, and asks before overwriting it', async () => {
    const id = await newTenant('shared-edit');
    await kubectl(
      'patch',
      'workspace',
      id,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { quota: { cpu: '8' }, backup: { retention: { weekly: 10 } } } }),
    );

    // The form shows weekly as kubectl left it; the person changes daily only.
    const saved = await c.services.tenantWorkspaces.save(
      adminOf(id),
      id,
      { 'spec.backup.retention.daily': 14, 'spec.backup.retention.weekly': 10, 'spec.backup.schedule': '0 * * * *' },
      TEST_CLIENT,
    );
    expect(saved.changed).toEqual(['spec.backup.schedule', 'spec.backup.retention.daily']);
    let ws = await w.get(id);
    expect(ws.spec.quota.cpu).toBe('8');
    expect(ws.spec.backup.retention).toMatchObject({ daily: 14, weekly: 10 });
    expect(ws.spec.backup.schedule).toBe('0 * * * *');

    // A later console save of something else still leaves kubectl's fields as they are.
    await c.services.tenantWorkspaces.save(root, id, { 'spec.deletionPolicy': 'Delete' }, TEST_CLIENT);
    ws = await w.get(id);
    expect(ws.spec).toMatchObject({ deletionPolicy: 'Delete', quota: { cpu: '8' } });
    expect(ws.spec.backup.retention).toMatchObject({ daily: 14, weekly: 10 });

    // Changing the field kubectl set is refused, naming it and who set it, until the person says to overwrite.
    const conflict = await refusal(
      c.services.tenantWorkspaces.save(root, id, { 'spec.backup.retention.weekly': 8 }, TEST_CLIENT),
    );
    expect(conflict.statusCode).toBe(409);
    expect(conflict.message).toContain('spec.backup.retention.weekly changed outside the console');
    expect(conflict.fields['spec.backup.retention.weekly']).toMatch(/^kubectl-patch set this field/);
    expect((await w.get(id)).spec.backup.retention.weekly).toBe(10);
    const settings = await c.services.tenantWorkspaces.settings(root, id);
    expect(settings?.setElsewhere['spec.backup.retention.weekly']).toBe('kubectl-patch');

    await c.services.tenantWorkspaces.save(root, id, { 'spec.backup.retention.weekly': 8 }, TEST_CLIENT, {
      force: true,
    });
    ws = await w.get(id);
    expect(ws.spec.backup.retention).toMatchObject({ daily: 14, weekly: 8 });
    expect(ws.spec.quota.cpu).toBe('8');
  });

  it('lets a tenant admin change only their own Workspace, and only a platform admin suspend or delete it', async () => {
    const mine = await newTenant('mine');
    const theirs = await newTenant('theirs');
    await expect(
      c.services.tenantWorkspaces.save(adminOf(mine), theirs, { 'spec.backup.retention.daily': 7 }, TEST_CLIENT),
    ).rejects.toMatchObject({ statusCode: 404 });
    await expect(c.services.tenantWorkspaces.settings(adminOf(mine), theirs)).rejects.toMatchObject({
      statusCode: 404,
    });
    await expect(
      c.services.tenantWorkspaces.save(adminOf(mine), mine, { 'spec.suspend': true }, TEST_CLIENT),
    ).rejects.toMatchObject({ statusCode: 403 });
    await expect(c.services.tenantWorkspaces.remove(adminOf(mine), mine, mine, TEST_CLIENT)).rejects.toMatchObject({
      statusCode: 403,
    });
    expect((await w.get(theirs)).spec.backup.retention.daily).toBe(30);

    await c.services.tenantWorkspaces.save(root, mine, { 'spec.suspend': true }, TEST_CLIENT);
    expect((await w.get(mine)).spec.suspend).toBe(true);
  });

  it("reads the operator's Events about the Workspace, which live in default", async () => {
    const id = await newTenant('events');
    // As the operator records them (kube/events.ts), under its own account.
    const recorder = new EventRecorder(operatorConfig(), 'holdfast-operator', undefined, pino({ level: 'silent' }));
    await recorder.record(
      { apiVersion: 'holdfast.io/v1alpha1', kind: 'Workspace', metadata: { name: id } },
      'Warning',
      'StorageClassNotEncrypted',
      'Reconcile',
      'StorageClass "plain" is not marked encrypted',
    );
    const events = await eventually('the Event', async () => {
      const found = await c.services.workspaces!.eventsOf(id);
      return found.length ? found : undefined;
    });
    expect(events).toMatchObject([
      { type: 'Warning', reason: 'StorageClassNotEncrypted', message: 'StorageClass "plain" is not marked encrypted' },
    ]);
  });

  it('reads the backup log from Backup resources, asks for a backup now, and restores one only when confirmed', async () => {
    const id = await newTenant('log');
    const namespace = `ws-${id}`;
    // What the operator and the backup jobs would have made: the namespace and three Backups.
    await w.rest.request('POST', collectionPath('Namespace'), {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    });
    made.push(`namespace:${namespace}`);
    const day = 86_400_000;
    const taken = [3, 2, 1].map((d) => new Date(Date.now() - d * day));
    for (const [i, at] of taken.entries()) {
      const name = `${id}-b${i}`;
      await w.recordBackup(id, name, {
        phase: i === 1 ? 'Failed' : 'Succeeded',
        startedAt: new Date(at.getTime() - 42_000).toISOString(),
        completedAt: at.toISOString(),
        ...(i === 1 ? { message: 'pg_dump: connection refused' } : { size: 1_000_000 * (i + 1) }),
        ...(i === 0 ? { verifiedAt: at.toISOString(), verification: { passed: true, at: at.toISOString() } } : {}),
      });
    }
    // One daily backup kept: the newest; the older good one is pruned next, and kept only as the newest verified.
    await c.services.tenantWorkspaces.save(
      root,
      id,
      { 'spec.backup.retention.daily': 1, 'spec.backup.retention.weekly': 0, 'spec.backup.retention.monthly': 0 },
      TEST_CLIENT,
    );
    const log = await c.services.backups.log(adminOf(id), id);
    expect(log.backups.map((b) => [b.name, b.phase, b.keptFor, b.verified, b.durationSeconds])).toEqual([
      [`${id}-b2`, 'Succeeded', ['daily', 'newest'], 'never', 42],
      [`${id}-b1`, 'Failed', [], 'never', 42],
      [`${id}-b0`, 'Succeeded', ['newest-verified'], 'passed', 42],
    ]);
    await expect(c.services.backups.log(adminOf('someone-else'), id)).rejects.toMatchObject({ statusCode: 404 });

    const asked = await c.services.backups.backupNow(adminOf(id), id, TEST_CLIENT);
    const backup = await w.rest.get<{ spec: unknown; metadata: { labels: Record<string, string> } }>(
      objectPath('Backup', asked, namespace),
    );
    expect(backup.spec).toEqual({ workspace: id, reason: 'OnDemand' });
    expect(backup.metadata.labels).toMatchObject({ 'holdfast.io/workspace': id });

    const auditor: Viewer = { ...adminOf(id), role: 'auditor' };
    await expect(c.services.backups.restore(auditor, id, `${id}-b2`, id, TEST_CLIENT)).rejects.toMatchObject({
      statusCode: 403,
    });
    const unconfirmed = await refusal(c.services.backups.restore(adminOf(id), id, `${id}-b2`, 'yes', TEST_CLIENT));
    expect(unconfirmed.fields['confirm']).toBe(`type "${id}" to confirm`);
    await expect(c.services.backups.restore(adminOf(id), id, `${id}-b1`, id, TEST_CLIENT)).rejects.toThrow(
      `backup ${id}-b1 is not a succeeded backup of ${id}`,
    );
    expect((await w.rest.get<{ items: unknown[] }>(collectionPath('Restore', namespace))).items).toEqual([]);

    const restore = await c.services.backups.restore(adminOf(id), id, `${id}-b2`, ` ${id} `, TEST_CLIENT);
    const created = await w.rest.get<{ spec: unknown }>(objectPath('Restore', restore, namespace));
    expect(created.spec).toEqual({ workspace: id, backup: `${id}-b2` });
    const after = await c.services.backups.log(adminOf(id), id);
    expect(after.restores).toMatchObject([{ name: restore, backup: `${id}-b2`, phase: 'Pending' }]);
    // The Backup a Restore needs is kept whatever the tiers say.
    expect(after.backups.find((b) => b.name === `${id}-b2`)?.keptFor).toContain('restore');
  });

  it('deletes the tenant and its Workspace only when the id is typed to confirm', async () => {
    const id = await newTenant('leaving');
    const wrong = await refusal(c.services.tenantWorkspaces.remove(root, id, 'yes', TEST_CLIENT));
    expect(wrong.fields['confirm']).toBe(`type "${id}" to confirm`);
    expect(await w.find(id)).toBeDefined();

    // What deleting does to the data is the platform admin's to set, and is confirmed as it was shown.
    await expect(
      c.services.tenantWorkspaces.save(adminOf(id), id, { 'spec.deletionPolicy': 'Delete' }, TEST_CLIENT),
    ).rejects.toMatchObject({ statusCode: 403 });
    await kubectl(
      'patch',
      'workspace',
      id,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { deletionPolicy: 'Delete' } }),
    );
    const changed = await refusal(
      c.services.tenantWorkspaces.remove(root, id, id, TEST_CLIENT, { seenPolicy: 'Snapshot' }),
    );
    expect(changed.statusCode).toBe(409);
    expect(changed.message).toContain('changed to Delete since this page was loaded; nothing was deleted');
    expect(await w.find(id)).toBeDefined();
    expect(await c.services.tenants.exists(id)).toBe(true);

    expect(await c.services.tenantWorkspaces.remove(root, id, id, TEST_CLIENT, { seenPolicy: 'Delete' })).toEqual({
      workspaceKept: false,
    });
    await w.waitGone(id);
    expect(await c.services.tenants.exists(id)).toBe(false);
    const entries = await c.services.audit.list(root, { pageSize: 200 });
    expect(entries.items.map((e) => e.action)).toEqual(expect.arrayContaining(['tenant.deleted', 'workspace.updated']));
  });

  it('leaves a Workspace made with kubectl when the tenant it was given is deleted', async () => {
    const name = await w.create('gitops-made');
    made.push(name);
    await c.services.tenants.create(root, { id: name, displayName: 'Given later', workspace: name }, TEST_CLIENT);
    const before = await w.get(name);
    expect(await c.services.tenantWorkspaces.remove(root, name, name, TEST_CLIENT)).toEqual({ workspaceKept: true });
    expect(await c.services.tenants.exists(name)).toBe(false);
    const after = await w.get(name);
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.deletionTimestamp).toBeUndefined();
  });
});
