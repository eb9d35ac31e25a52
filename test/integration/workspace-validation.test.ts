// Every Workspace in the bad-input corpus is refused by the real apiserver
// with a message that names the field and says what to do.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_PLURAL } from '../../operator/api/restore.js';
import { API_VERSION, GROUP, VERSION, WORKSPACE_PLURAL } from '../../operator/api/workspace.js';
import { badWorkspaces } from '../harness/fixtures.js';
import { adminConfig } from '../harness/kube.js';
import { installCrds } from '../harness/operator.js';
import { uniqueName } from '../harness/names.js';

const corpus = badWorkspaces();

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof k8s.ApiException) {
      const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
      return (JSON.parse(body) as k8s.V1Status).message ?? body;
    }
    throw err;
  }
  return 'accepted';
}

describe('Workspace validation by the apiserver', () => {
  const custom = adminConfig().makeApiClient(k8s.CustomObjectsApi);
  const created: string[] = [];
  const params = { group: GROUP, version: VERSION, plural: WORKSPACE_PLURAL };

  beforeAll(async () => installCrds());
  afterAll(async () => {
    for (const name of created) await custom.deleteClusterCustomObject({ ...params, name }).catch(() => undefined);
  });

  it('has a corpus of at least 30 bad specs', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
  });

  it.each(corpus.filter((c) => !c.then))('rejects $case', async (c) => {
    const message = await rejection(
      custom.createClusterCustomObject({
        ...params,
        dryRun: 'All',
        fieldValidation: 'Strict',
        body: {
          apiVersion: API_VERSION,
          kind: 'Workspace',
          metadata: { name: c.name ?? uniqueName('bad') },
          spec: c.spec,
        },
      }),
    );
    expect(message).toContain(c.expect);
  });

  it.each(corpus.filter((c) => c.then))('rejects $case', async (c) => {
    const name = uniqueName('change');
    // Suspended so that a running operator leaves it alone.
    await custom.createClusterCustomObject({
      ...params,
      body: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: { ...c.spec, suspend: true } },
    });
    created.push(name);
    const message = await rejection(
      custom.patchClusterCustomObject(
        { ...params, name, dryRun: 'All', body: { spec: c.then } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(message).toContain(c.expect);
  });

  it('accepts an empty spec and fills in the documented defaults', async () => {
    const name = uniqueName('defaults');
    const ws = (await custom.createClusterCustomObject({
      ...params,
      dryRun: 'All',
      body: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec: {} },
    })) as { spec: Record<string, Record<string, unknown>> };
    expect(ws.spec.backup).toMatchObject({
      schedule: '0 4 * * *',
      retention: { daily: 30, weekly: 26, monthly: 12 },
    });
    expect(ws.spec.deletionPolicy).toBe('Snapshot');
    expect(ws.spec.volume).toMatchObject({ encryption: 'Required' });
    expect(ws.spec.database).toMatchObject({ mode: 'Dedicated', provider: 'builtin' });
  });
});

describe('Restore validation by the apiserver', () => {
  const custom = adminConfig().makeApiClient(k8s.CustomObjectsApi);
  beforeAll(async () => installCrds());

  const restore = (spec: Record<string, unknown>) =>
    rejection(
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: RESTORE_PLURAL,
        namespace: 'default',
        dryRun: 'All',
        fieldValidation: 'Strict',
        body: {
          apiVersion: API_VERSION,
          kind: 'Restore',
          metadata: { name: uniqueName('restore') },
          spec: { workspace: 'acme', ...spec },
        },
      }),
    );

  it('takes exactly one of a backup, a time before which, or a point in time', async () => {
    expect(await restore({ backup: 'acme-1' })).toBe('accepted');
    expect(await restore({ pointInTime: '2026-11-30T09:00:00Z' })).toBe('accepted');
    for (const spec of [{}, { backup: 'acme-1', pointInTime: '2026-11-30T09:00:00Z' }])
      expect(await restore(spec)).toContain(
        'a Restore needs exactly one of spec.backup (a Backup name), spec.before (a time such as 2026-11-30T09:00:00Z) or spec.pointInTime',
      );
  });

  it('takes a new database name no server or workspace already has, and none with a point in time', async () => {
    expect(await restore({ backup: 'acme-1', newDatabase: 'restored_1130' })).toBe('accepted');
    expect(await restore({ backup: 'acme-1', newDatabase: 'app' })).toContain(
      'spec.newDatabase names a database every server or workspace already has',
    );
    expect(await restore({ backup: 'acme-1', newDatabase: 'Restored-1' })).toContain('spec.newDatabase');
    expect(await restore({ pointInTime: '2026-11-30T09:00:00Z', newDatabase: 'restored_1130' })).toContain(
      'spec.pointInTime always recovers into a new CloudNativePG Cluster',
    );
  });
});
