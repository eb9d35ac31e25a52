import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../../api/workspace.js';
import { desiredNetworkPolicies } from '../network/desired.js';
import type { Rest } from '../../../kube/rest.js';
import {
  archivedAt,
  archivingCondition,
  lastArchivedTime,
  desiredCluster,
  desiredRecoveryCluster,
  desiredScheduledBackup,
  recoveryClusterName,
  walArchiveOf,
  type WalArchive,
} from './cloudnative-pg.js';

function workspace(spec: Record<string, unknown>): Workspace {
  return {
    apiVersion: 'holdfast.io/v1alpha1',
    kind: 'Workspace',
    metadata: { name: 'acme', uid: 'uid-1', generation: 1 },
    spec: WorkspaceSpec.parse(spec),
  };
}
const s3 = {
  endpoint: 'https://s3.example',
  bucket: 'vault',
  prefix: 'eu/',
  region: 'eu-central-1',
  forcePathStyle: true,
  credentialsSecretRef: { name: 'c', namespace: 'holdfast-system' },
};
const archived = workspace({
  database: { provider: 'cloudnative-pg', instances: 3 },
  backup: {
    schedule: '15 3 * * *',
    destinations: [{ name: 'offsite' }, { name: 'local' }],
    retention: { daily: 30 },
    pointInTime: { destination: 'offsite' },
  },
});
const archive: WalArchive = { destination: 'offsite', s3, ca: false };

describe('spec.backup.pointInTime', () => {
  it('is for a Dedicated database that CloudNativePG runs only', () => {
    expect(() =>
      workspace({ backup: { destinations: [{ name: 'offsite' }], pointInTime: { destination: 'offsite' } } }),
    ).toThrow(/spec.backup.pointInTime needs spec.database.provider: cloudnative-pg/);
  });

  it('names one of the workspace destinations, an S3 one', () => {
    const lookup = (spec: { s3?: typeof s3 }) => () => ({ spec });
    expect(walArchiveOf(archived, lookup({ s3 }))).toEqual({ archive: { destination: 'offsite', s3, ca: false } });
    expect(walArchiveOf(archived, lookup({})).condition).toMatchObject({
      type: 'PointInTimeRecovery',
      status: 'False',
      reason: 'DestinationNotS3',
    });
    const unlisted = workspace({
      database: { provider: 'cloudnative-pg' },
      backup: { destinations: [{ name: 'local' }], pointInTime: { destination: 'offsite' } },
    });
    expect(walArchiveOf(unlisted, lookup({ s3 })).condition?.message).toBe(
      'spec.backup.pointInTime.destination offsite is not one of spec.backup.destinations: list it there too',
    );
    expect(walArchiveOf(workspace({ database: { provider: 'cloudnative-pg' } }), lookup({ s3 }))).toEqual({});
  });
});

describe('the workspace Cluster with a WAL archive', () => {
  it("archives WAL and base backups to the workspace's folder of the destination, kept as long as the daily tier", () => {
    const spec = desiredCluster(archived, 'fast', archive).spec as Record<string, unknown>;
    expect(spec.backup).toEqual({
      retentionPolicy: '30d',
      barmanObjectStore: {
        destinationPath: 's3://vault/eu/acme/cloudnative-pg',
        endpointURL: 'https://s3.example',
        s3Credentials: {
          accessKeyId: { name: 'backup-dest-offsite', key: 'accessKeyId' },
          secretAccessKey: { name: 'backup-dest-offsite', key: 'secretAccessKey' },
          region: { name: 'backup-dest-offsite', key: 'region' },
        },
        wal: { compression: 'gzip' },
        data: { compression: 'gzip' },
      },
    });
    expect(desiredCluster(archived, 'fast').spec).not.toHaveProperty('backup');
  });

  it('takes base backups on the backup schedule, with seconds first as CloudNativePG reads cron, the first at once', () => {
    expect(desiredScheduledBackup(archived).spec).toEqual({
      schedule: '0 15 3 * * *',
      immediate: true,
      backupOwnerReference: 'self',
      cluster: { name: 'db' },
      method: 'barmanObjectStore',
    });
    const daily = workspace({
      database: { provider: 'cloudnative-pg' },
      backup: { schedule: '@daily', destinations: [{ name: 'offsite' }], pointInTime: { destination: 'offsite' } },
    });
    expect(desiredScheduledBackup(daily).spec).toMatchObject({ schedule: '@daily' });
  });

  it("reports CloudNativePG's ContinuousArchiving condition, and how far back a Restore may go", () => {
    const cluster = (conditions: unknown[], firstRecoverabilityPoint?: string) => ({
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { name: 'db' },
      status: { conditions, ...(firstRecoverabilityPoint ? { firstRecoverabilityPoint } : {}) },
    });
    expect(
      archivingCondition(cluster([{ type: 'ContinuousArchiving', status: 'True' }], '2026-11-30T04:00:12Z')),
    ).toMatchObject({
      status: 'True',
      reason: 'Archiving',
      message: expect.stringContaining('2026-11-30T04:00:12Z') as unknown,
    });
    expect(
      archivingCondition(cluster([{ type: 'ContinuousArchiving', status: 'False', message: 'AccessDenied' }])),
    ).toMatchObject({
      status: 'False',
      reason: 'ArchivingFailed',
      message: expect.stringContaining('AccessDenied') as unknown,
    });
    expect(archivingCondition(undefined)).toMatchObject({ status: 'False', reason: 'WaitingForArchive' });
  });
});

describe('the recovery Cluster of a Restore to a point in time', () => {
  const cluster = desiredRecoveryCluster(
    archived,
    { name: 'acme-pitr', uid: '0b7c5e8e-1234-4000-8000-000000000001' },
    new Date('2026-11-30T09:00:00.250Z'),
    'fast',
    archive,
  );

  it("is one instance beside the workspace's, owned by the Restore, recovered from the archive to the time", () => {
    expect(cluster.metadata).toMatchObject({
      name: 'db-pitr-0b7c5e8e',
      namespace: 'ws-acme',
      ownerReferences: [
        {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Restore',
          name: 'acme-pitr',
          uid: '0b7c5e8e-1234-4000-8000-000000000001',
          controller: true,
        },
      ],
    });
    const spec = cluster.spec as Record<string, unknown>;
    expect(spec).toMatchObject({
      instances: 1,
      storage: { storageClass: 'fast' },
      bootstrap: {
        recovery: {
          source: 'db',
          database: 'app',
          owner: 'app',
          secret: { name: 'db-app' },
          recoveryTarget: { targetTime: '2026-11-30 09:00:00.250000+00' },
        },
      },
      externalClusters: [
        {
          name: 'db',
          barmanObjectStore: expect.objectContaining({
            destinationPath: 's3://vault/eu/acme/cloudnative-pg',
            serverName: 'db',
          }) as unknown,
        },
      ],
    });
    // It archives nothing itself, and does not take the workspace's certificate.
    expect(spec).not.toHaveProperty('backup');
    expect(spec).not.toHaveProperty('certificates');
    expect(recoveryClusterName('0b7c5e8e-1234-4000-8000-000000000001')).toBe('db-pitr-0b7c5e8e');
  });

  it("is under the workspace's CloudNativePG policy, which lets it reach the object store", () => {
    const policies = Object.fromEntries(
      desiredNetworkPolicies(archived, {
        apiServer: [{ ip: '10.0.0.1', port: 6443 }],
        cnpgNamespace: 'cnpg-system',
        objectStorePorts: [443],
      }).map((p) => [p.metadata.name, p.spec as { podSelector: unknown; egress: { ports: unknown }[] }]),
    );
    const cnpg = policies['allow-cloudnative-pg']!;
    expect(cnpg.podSelector).toEqual({ matchExpressions: [{ key: 'cnpg.io/cluster', operator: 'Exists' }] });
    expect(cnpg.egress).toContainEqual({ ports: [{ protocol: 'TCP', port: 443 }] });
    const withoutArchive = desiredNetworkPolicies(workspace({ database: { provider: 'cloudnative-pg' } }), {
      apiServer: [],
      cnpgNamespace: 'cnpg-system',
      objectStorePorts: [443],
    }).find((p) => p.metadata.name === 'allow-cloudnative-pg')!.spec as { egress: unknown[] };
    expect(withoutArchive.egress).not.toContainEqual({ ports: [{ protocol: 'TCP', port: 443 }] });
  });
});

describe("the WAL archive's progress", () => {
  const page = [
    '# HELP cnpg_pg_stat_archiver_last_archived_time Epoch of the last time WAL archiving succeeded',
    '# TYPE cnpg_pg_stat_archiver_last_archived_time gauge',
    'cnpg_pg_stat_archiver_last_archived_time 1.7964972e+09',
    'cnpg_pg_stat_archiver_archived_count 12',
  ].join('\n');

  it("is the archiver's last success on the primary's metrics page", async () => {
    expect(archivedAt(page)).toBe('2026-12-05T19:00:00.000Z');
    expect(archivedAt('cnpg_pg_stat_archiver_last_archived_time -1')).toBeUndefined();
    expect(archivedAt('')).toBeUndefined();
    const rest = {
      get: (path: string, query: Record<string, string>) =>
        Promise.resolve(
          path === '/apis/discovery.k8s.io/v1/namespaces/ws-acme/endpointslices' &&
            query.labelSelector === 'kubernetes.io/service-name=db-rw'
            ? { items: [{ endpoints: [{ addresses: ['10.244.0.7'] }] }] }
            : { items: [] },
        ),
    } as unknown as Rest;
    const asked: string[] = [];
    expect(
      await lastArchivedTime(rest, 'ws-acme', (url) => {
        asked.push(url);
        return Promise.resolve(page);
      }),
    ).toBe('2026-12-05T19:00:00.000Z');
    expect(asked).toEqual(['http://10.244.0.7:9187/metrics']);
    expect(await lastArchivedTime(rest, 'ws-other', () => Promise.resolve(page))).toBeUndefined();
    // Unreachable: no time, and no failure of the reconcile.
    expect(await lastArchivedTime(rest, 'ws-acme', () => Promise.reject(new Error('ECONNREFUSED')))).toBeUndefined();
  });

  it("lets only Holdfast's operator read the instances' metrics, and only with an archive", () => {
    const peers = { apiServer: [], cnpgNamespace: 'cnpg-system', operatorNamespace: 'holdfast-system' };
    const ingress = (ws: Workspace) =>
      (
        desiredNetworkPolicies(ws, peers).find((p) => p.metadata.name === 'allow-cloudnative-pg')!.spec as {
          ingress: { from: unknown[]; ports: { port: number }[] }[];
        }
      ).ingress;
    expect(ingress(archived)).toContainEqual({
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'holdfast-system' } },
          podSelector: {
            matchLabels: { 'app.kubernetes.io/name': 'holdfast', 'app.kubernetes.io/component': 'operator' },
          },
        },
      ],
      ports: [{ protocol: 'TCP', port: 9187 }],
    });
    expect(JSON.stringify(ingress(workspace({ database: { provider: 'cloudnative-pg' } })))).not.toContain('9187');
  });
});
