// Restores to a point in time, as the operator moves them along: what it
// refuses before making anything, the recovery Cluster it makes, and how it
// follows that Cluster to the end; and Restores into a new database on a
// Shared server, whose database the operator makes.
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

const UID = 'ab12cd34-0000-4000-8000-000000000001';

/**
 * Runs one pass over one Restore; returns what was written. `objects` are
 * what the API answers GETs with, by path.
 */
async function run(
  ws: Workspace,
  restore: RestoreObject,
  opts: {
    objects?: Record<string, unknown>;
    verifyCronJob?: RestoreDeps['verifyCronJob'];
    createSharedDatabase?: RestoreDeps['createSharedDatabase'];
    backups?: RestoreDeps['backups'];
  } = {},
) {
  const writes: { method: string; path: string; body: Record<string, unknown> }[] = [];
  const answer = (path: string) => opts.objects?.[path];
  const rest = {
    request: (method: string, path: string, o: { body: Record<string, unknown> }) => {
      writes.push({ method, path, body: o.body });
      return Promise.resolve({});
    },
    find: (path: string) => Promise.resolve(answer(path)),
    get: (path: string) => Promise.resolve(answer(path) ?? { items: [] }),
  } as unknown as Rest;
  const deps: RestoreDeps = {
    rest,
    events: { record: () => Promise.resolve() } as unknown as RestoreDeps['events'],
    metrics: { apiWrites: { inc: () => undefined } } as unknown as Metrics,
    restores: [restore],
    backups: opts.backups ?? [],
    job: () => undefined,
    verifyCronJob: opts.verifyCronJob,
    notScheduled: 'waiting',
    storageClass: 'fast',
    destination: (n) => (n === 'offsite' ? { spec: { s3 } } : undefined),
    ...(opts.createSharedDatabase ? { createSharedDatabase: opts.createSharedDatabase } : {}),
    now,
  };
  const requeue = await handleRestores(ws, deps);
  const status = writes.find((w) => w.path.endsWith('/status'))?.body.status as Record<string, unknown> | undefined;
  const created = writes.find((w) => w.method === 'POST');
  return { status, created, requeue };
}

const asked = (spec: Record<string, unknown>, status?: Record<string, unknown>): RestoreObject => ({
  apiVersion: 'holdfast.io/v1alpha1',
  kind: 'Restore',
  metadata: { name: 'acme-pitr', namespace: 'ws-acme', uid: UID },
  spec: { workspace: 'acme', ...spec },
  ...(status ? { status } : {}),
});
const pass = (ws: Workspace, pointInTime: string) => run(ws, asked({ pointInTime }));

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

describe('a recovery Cluster followed to its end', () => {
  const restoring = asked(
    { pointInTime: '2026-11-30T09:00:00Z' },
    { phase: 'Restoring', cluster: 'db-pitr-ab12cd34', startedAt: '2026-11-30T11:59:00Z', progress: 'recovering' },
  );
  const clusterPath = '/apis/postgresql.cnpg.io/v1/namespaces/ws-acme/clusters/db-pitr-ab12cd34';
  const cluster = (status: Record<string, unknown>, owner = UID) => ({
    metadata: { name: 'db-pitr-ab12cd34', ownerReferences: [{ uid: owner }] },
    status,
  });

  it('Succeeds once CloudNativePG says the Cluster is ready, naming where to connect', async () => {
    const { status, requeue } = await run(archived, restoring, {
      objects: { [clusterPath]: cluster({ conditions: [{ type: 'Ready', status: 'True' }] }) },
    });
    expect(status).toMatchObject({ phase: 'Succeeded', durationSeconds: 60 });
    expect(status?.message).toContain('connect at db-pitr-ab12cd34-rw.ws-acme.svc:5432');
    expect(requeue).toBeUndefined();
  });

  it('looks again while it recovers, showing its phase', async () => {
    const { status, requeue } = await run(archived, restoring, {
      objects: { [clusterPath]: cluster({ phase: 'Setting up primary' }) },
    });
    expect(status).toEqual({ progress: 'recovering: Setting up primary' });
    expect(requeue).toBe(10_000);
  });

  it("Fails when CloudNativePG's recovery Job failed, naming its log", async () => {
    const { status } = await run(archived, restoring, {
      objects: {
        [clusterPath]: cluster({ phase: 'Setting up primary' }),
        '/apis/batch/v1/namespaces/ws-acme/jobs': {
          items: [
            {
              metadata: { name: 'db-pitr-ab12cd34-1-full-recovery' },
              status: { conditions: [{ type: 'Failed', status: 'True' }] },
            },
          ],
        },
      },
    });
    expect(status).toMatchObject({ phase: 'Failed' });
    expect(status?.message).toContain('kubectl logs -n ws-acme job/db-pitr-ab12cd34-1-full-recovery');
  });

  it("Fails when the Cluster is gone or is not this Restore's", async () => {
    for (const objects of [{}, { [clusterPath]: cluster({}, 'someone-else') }]) {
      const { status } = await run(archived, restoring, { objects });
      expect(status).toMatchObject({ phase: 'Failed' });
      expect(status?.message).toContain('the recovery Cluster db-pitr-ab12cd34 is gone');
    }
  });
});

describe('a Restore into a new database on a Shared server', () => {
  const shared = workspace({
    database: { mode: 'Shared', serverRef: 'pg-main' },
    backup: { destinations: [{ name: 'offsite' }] },
  });
  const backups: RestoreDeps['backups'] = [
    {
      apiVersion: 'holdfast.io/v1alpha1',
      kind: 'Backup',
      metadata: { name: 'acme-1', namespace: 'ws-acme' },
      status: { phase: 'Succeeded', artifact: 'acme/2026/11/acme-1.dump.age', completedAt: '2026-11-30T04:00:00Z' },
    },
  ];
  const verifyCronJob = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'verify', namespace: 'ws-acme' },
    spec: {
      jobTemplate: {
        metadata: { labels: {} },
        spec: {
          template: {
            metadata: { labels: {} },
            spec: { containers: [{ name: 'verify', args: ['verify'] }], volumes: [] },
          },
        },
      },
    },
  };
  const into = (newDatabase: string, createSharedDatabase: NonNullable<RestoreDeps['createSharedDatabase']>) =>
    run(shared, asked({ backup: 'acme-1', newDatabase }), { verifyCronJob, createSharedDatabase, backups });

  it("refuses another Shared workspace's database name, and makes nothing", async () => {
    let made = false;
    const { status } = await into('ws_other_copy', () => {
      made = true;
      return Promise.resolve(undefined);
    });
    expect(made).toBe(false);
    expect(status).toMatchObject({ phase: 'Failed' });
    expect(status?.message).toContain("is a name Shared workspaces' databases have");
  });

  it('stays Pending while the server cannot be reached, and starts the Job once the database is made', async () => {
    const waiting = await into('ws_acme_copy', () => Promise.reject(new Error('ECONNREFUSED')));
    expect(waiting.status).toMatchObject({ phase: 'Pending' });
    expect(waiting.status?.message).toContain('ECONNREFUSED');
    expect(waiting.requeue).toBe(30_000);
    const made = await into('restored_1130', () => Promise.resolve(undefined));
    expect(made.status).toMatchObject({ phase: 'Restoring', database: 'restored_1130', backup: 'acme-1' });
    expect(made.created?.path).toBe('/apis/batch/v1/namespaces/ws-acme/jobs');
  });
});
