import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../api/workspace.js';
import { JobConfig } from './job-config.js';
import { desiredBackupObjects } from './schedule.js';

const ws: Workspace = {
  apiVersion: 'holdfast.io/v1alpha1',
  kind: 'Workspace',
  metadata: { name: 'acme', uid: '00000000-0000-0000-0000-00000000000a' },
  spec: WorkspaceSpec.parse({
    backup: {
      schedule: '15 * * * *',
      destinations: [{ name: 'offsite' }, { name: 'local' }],
      recipients: ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'],
      retention: { hourly: 24, daily: 30 },
    },
  }),
};
const objects = desiredBackupObjects({
  ws,
  destinations: [
    {
      name: 'offsite',
      spec: {
        s3: {
          endpoint: 'https://s3.example',
          bucket: 'b',
          prefix: 'p/',
          region: 'eu-central-1',
          forcePathStyle: true,
          credentialsSecretRef: { name: 'creds', namespace: 'holdfast-system' },
        },
      },
    },
    { name: 'local', spec: { volume: { size: '20Gi' } } },
  ],
  image: 'registry.example/holdfast:1.0.0',
  database: { host: 'db.ws-acme.svc', port: 5432, name: 'app', user: 'app' },
});
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
type Pod = {
  securityContext: Record<string, unknown>;
  containers: {
    image: string;
    args: string[];
    securityContext: Record<string, unknown>;
    volumeMounts: { mountPath: string }[];
  }[];
  volumes: Record<string, unknown>[];
  serviceAccountName: string;
};

describe('desiredBackupObjects', () => {
  const cron = byKind('CronJob')[0] as unknown as {
    metadata: { namespace: string };
    spec: Record<string, unknown> & { jobTemplate: { spec: { template: { spec: Pod } } } };
  };
  const pod = cron.spec.jobTemplate.spec.template.spec;

  it('schedules one backup at a time, skipping a run missed by more than an hour', () => {
    expect(cron.metadata.namespace).toBe('ws-acme');
    expect(cron.spec).toMatchObject({
      schedule: '15 * * * *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
      suspend: false,
    });
  });

  it('runs holdfast backup from the operator image in a pod that passes restricted Pod Security', () => {
    expect(pod.containers[0]).toMatchObject({ image: 'registry.example/holdfast:1.0.0', args: ['backup'] });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.serviceAccountName).toBe('backup');
    expect(pod.containers[0]!.volumeMounts.map((m) => m.mountPath)).toEqual([
      '/etc/holdfast',
      '/var/run/holdfast/db',
      '/var/run/holdfast/key',
      '/tmp',
      '/var/run/holdfast/destinations/offsite',
      '/backups/local',
    ]);
  });

  it('grants the job its own Backups only', () => {
    expect((byKind('Role')[0] as unknown as { rules: unknown[] }).rules).toEqual([
      { apiGroups: ['holdfast.io'], resources: ['backups'], verbs: ['get', 'list', 'create', 'delete'] },
      { apiGroups: ['holdfast.io'], resources: ['backups/status'], verbs: ['get', 'patch'] },
    ]);
  });

  it('writes a job configuration holdfast backup accepts, with the escrow recipients beside it', () => {
    const data = (byKind('ConfigMap')[0] as unknown as { data: Record<string, string> }).data;
    const config = JobConfig.parse(JSON.parse(data['backup.json']!));
    expect(config).toMatchObject({
      workspace: 'acme',
      namespace: 'ws-acme',
      database: { host: 'db.ws-acme.svc', user: 'app', passwordFile: '/var/run/holdfast/db/password' },
      retention: { hourly: 24, daily: 30 },
      destinations: [
        {
          name: 'offsite',
          s3: { endpoint: 'https://s3.example', credentialsDir: '/var/run/holdfast/destinations/offsite' },
        },
        { name: 'local', folder: { path: '/backups/local' } },
      ],
    });
    expect(data['escrow-recipients']).toBe(`${ws.spec.backup.recipients![0]}\n`);
    expect(byKind('PersistentVolumeClaim').map((c) => c.metadata.name)).toEqual(['backup-local']);
  });
});
