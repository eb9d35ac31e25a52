// Restores to a point in time, as the operator moves them along: what it
// refuses before making anything, and the recovery Cluster it makes.
import { describe, expect, it } from 'vitest';
import type { Rest } from '../../kube/rest.js';
import { WorkspaceSpec, type Workspace } from '../api/workspace.js';
import type { Metrics } from '../runtime/metrics.js';
import { handleRestores, type RestoreDeps, type RestoreObject } from './restore-requests.js';

const now = new Date('2026-11-30T12:00:00Z');
const s3 = {
  endpoint: 'http://s3.example:9000',
  bucket: 'vault',
  prefix: '',
  region: 'us-east-1',
  forcePathStyle: true,
  credentialsSecretRef: { name: 'c', namespace: 'holdfast-system' },
};

function workspace(spec: Record<string, unknown>): Workspace {
  return {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name: 'acme', uid: 'uid-1', generation: 1 },
    spec: WorkspaceSpec.parse(spec),
  };
}
const archived = workspace({
  database: { provider: 'cloudnative-pg' },
  backup: { destinations: [{ name: 'offsite' }], pointInTime: { destination: 'offsite' } },
});

/** Runs one pass over a Restore asking for `pointInTime`; returns what was written. */
async function pass(ws: Workspace, pointInTime: string) {
  const writes: { method: string; path: string; body: Record<string, unknown> }[] = [];
  const rest = {
    request: (method: string, path: string, opts: { body: Record<string, unknown> }) => {
      writes.push({ method, path, body: opts.body });
      return Promise.resolve({});
    },
  } as unknown as Rest;
  const restore: RestoreObject = {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Restore',
    metadata: { name: 'acme-pitr', namespace: 'ws-acme', uid: 'ab12cd34-0000-4000-8000-000000000001' },
    spec: { workspace: 'acme', pointInTime },
  };
  const deps: RestoreDeps = {
    rest,
    events: { record: () => Promise.resolve() } as unknown as RestoreDeps['events'],
    metrics: { apiWrites: { inc: () => undefined } } as unknown as Metrics,
    restores: [restore],
    backups: [],
    job: () => undefined,
    verifyCronJob: undefined,
    notScheduled: 'waiting',
    storageClass: 'fast',
    destination: (n) => (n === 'offsite' ? { spec: { s3 } } : undefined),
    now,
  };
  await handleRestores(ws, deps);
  const status = writes.find((w) => w.path.endsWith('/status'))?.body.status as Record<string, unknown> | undefined;
  const created = writes.find((w) => w.method === 'POST');
  return { status, created };
}

describe('a Restore to a point in time', () => {
  it('makes the recovery Cluster from the archive, without waiting for the backup schedule', async () => {
    const { status, created } = await pass(archived, '2026-11-30T09:00:00Z');
    expect(created?.path).toBe('/apis/postgresql.cnpg.io/v1/namespaces/ws-acme/clusters');
    expect(created?.body).toMatchObject({ metadata: { name: 'db-pitr-ab12cd34' } });
    expect(status).toMatchObject({
      phase: 'Restoring',
      cluster: 'db-pitr-ab12cd34',
      destination: 'offsite',
      startedAt: now.toISOString(),
    });
  });

  it('refuses a time in the future, or one that is not a time, and makes nothing', async () => {
    const future = await pass(archived, '2026-11-30T13:00:00Z');
    expect(future.created).toBeUndefined();
    expect(future.status).toMatchObject({
      phase: 'Failed',
      message: 'spec.pointInTime 2026-11-30T13:00:00Z is in the future: the archive holds what was, up to now',
    });
    const garbled = await pass(archived, 'yesterday');
    expect(garbled.created).toBeUndefined();
    expect(garbled.status?.message).toMatch(/^spec.pointInTime "yesterday" is not a time/);
  });

  it('refuses a Workspace without a WAL archive, saying what it needs', async () => {
    for (const ws of [workspace({}), workspace({ database: { provider: 'cloudnative-pg' } })]) {
      const { status, created } = await pass(ws, '2026-11-30T09:00:00Z');
      expect(created).toBeUndefined();
      expect(status).toMatchObject({ phase: 'Failed' });
      expect(status?.message).toContain(
        'spec.pointInTime needs a Workspace with spec.database.provider: cloudnative-pg and spec.backup.pointInTime',
      );
    }
  });
});
