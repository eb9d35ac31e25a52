import { describe, expect, it } from 'vitest';
import { WorkspaceSpec, type Workspace } from '../api/workspace.js';
import { JobConfig } from './job-config.js';
import { backupNameOfJob } from './artifact.js';
import { desiredBackupObjects, requestJob, requestJobName, restoreJob, restoreJobName } from './schedule.js';

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
  scratchImage: 'docker.io/library/postgres:17',
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

  it('grants the jobs their own Backups and Restores only', () => {
    expect((byKind('Role')[0] as unknown as { rules: unknown[] }).rules).toEqual([
      { apiGroups: ['holdfast.io'], resources: ['backups'], verbs: ['get', 'list', 'create', 'delete'] },
      { apiGroups: ['holdfast.io'], resources: ['backups/status'], verbs: ['get', 'patch'] },
      { apiGroups: ['holdfast.io'], resources: ['restores'], verbs: ['get', 'list'] },
      { apiGroups: ['holdfast.io'], resources: ['restores/status'], verbs: ['get', 'patch'] },
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

describe('requestJob', () => {
  const cron = byKind('CronJob')[0]!;
  const backup = { name: 'before-migration', namespace: 'ws-acme', uid: 'u-1', reason: 'OnDemand' as const };
  const job = requestJob(cron, backup) as unknown as {
    metadata: { name: string; labels: Record<string, string>; ownerReferences: unknown[] };
    spec: { backoffLimit: number; template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };

  it("is the CronJob's job, owned by the Backup it fills in", () => {
    expect(job.metadata.name).toBe('backup-before-migration');
    expect(job.metadata.labels).toMatchObject({ 'holdfast.io/workspace': 'acme', 'holdfast.io/component': 'backup' });
    expect(job.metadata.ownerReferences).toEqual([
      { apiVersion: 'holdfast.io/v1alpha1', kind: 'Backup', name: 'before-migration', uid: 'u-1', controller: true },
    ]);
    expect(job.spec.backoffLimit).toBe(2);
    const env = job.spec.template.spec.containers[0]!.env;
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'HOLDFAST_BACKUP_NAME', value: 'before-migration' },
        { name: 'HOLDFAST_BACKUP_REASON', value: 'OnDemand' },
      ]),
    );
    // The CronJob's own template is left as it was.
    expect(JSON.stringify(cron)).not.toContain('HOLDFAST_BACKUP_NAME');
  });

  it('keeps a long Backup name within the 63 characters a Job name may have, and apart from another', () => {
    const long = 'x'.repeat(80);
    expect(requestJobName(long)).toHaveLength(63);
    expect(requestJobName(long)).not.toBe(requestJobName(`${long}y`));
  });
});

describe('backupNameOfJob', () => {
  it("names a scheduled run's Backup after its minute, so that a retried pod continues it", () => {
    // The CronJob controller names a run's Job after its scheduled minute since the epoch.
    const minute = Date.UTC(2026, 10, 30, 4, 0) / 60_000;
    expect(backupNameOfJob('acme', `backup-${minute}`)).toBe('acme-20261130-040000');
    expect(backupNameOfJob('acme', 'backup-now')).toBeUndefined();
    expect(backupNameOfJob('acme', undefined)).toBeUndefined();
  });
});

describe('the restore drill CronJob', () => {
  const verify = byKind('CronJob').find((c) => c.metadata.name === 'verify') as unknown as {
    spec: {
      schedule: string;
      suspend: boolean;
      jobTemplate: {
        spec: {
          backoffLimit: number;
          template: {
            metadata: { labels: Record<string, string> };
            spec: Pod & { initContainers: Record<string, unknown>[] };
          };
        };
      };
    };
  };
  const pod = verify.spec.jobTemplate.spec.template.spec;

  it('runs holdfast verify on its own schedule, once per run, labelled so the namespace policies let it out', () => {
    expect(verify.spec).toMatchObject({ schedule: '0 5 * * 0', suspend: false });
    expect(verify.spec.jobTemplate.spec.backoffLimit).toBe(0);
    expect(verify.spec.jobTemplate.spec.template.metadata.labels['holdfast.io/component']).toBe('verify');
    expect(pod.containers[0]).toMatchObject({ image: 'registry.example/holdfast:1.0.0', args: ['verify'] });
  });

  it('restores into a scratch PostgreSQL of the workspace major beside it, reachable from the pod only', () => {
    expect(pod.initContainers).toEqual([
      expect.objectContaining({
        name: 'scratch',
        image: 'docker.io/library/postgres:17',
        restartPolicy: 'Always',
        args: expect.arrayContaining(['listen_addresses=127.0.0.1']) as string[],
      }),
    ]);
    // The workspace's own identity decrypts; the backup job gets the recipient only.
    expect(pod.volumes).toContainEqual({
      name: 'key',
      secret: {
        secretName: 'backup-key',
        items: [
          { key: 'recipient', path: 'recipient' },
          { key: 'identity', path: 'identity' },
        ],
      },
    });
    const backupPod = (
      byKind('CronJob')[0] as unknown as { spec: { jobTemplate: { spec: { template: { spec: Pod } } } } }
    ).spec.jobTemplate.spec.template.spec;
    expect(backupPod.volumes).toContainEqual({
      name: 'key',
      secret: { secretName: 'backup-key', items: [{ key: 'recipient', path: 'recipient' }] },
    });
  });
});

describe('the daily export CronJob', () => {
  const exp = byKind('CronJob').find((c) => c.metadata.name === 'export') as unknown as {
    spec: {
      schedule: string;
      suspend: boolean;
      jobTemplate: {
        spec: {
          podFailurePolicy: { rules: Record<string, unknown>[] };
          template: {
            metadata: { labels: Record<string, string> };
            spec: Pod & { automountServiceAccountToken: boolean };
          };
        };
      };
    };
  };
  const pod = exp.spec.jobTemplate.spec.template.spec;

  it('runs holdfast export on spec.backup.export.schedule with the backup pod mounts, and no API token', () => {
    expect(exp.spec).toMatchObject({ schedule: '30 4 * * *', suspend: false });
    expect(exp.spec.jobTemplate.spec.template.metadata.labels['holdfast.io/component']).toBe('export');
    expect(pod.containers[0]).toMatchObject({ image: 'registry.example/holdfast:1.0.0', args: ['export'] });
    expect(pod.automountServiceAccountToken).toBe(false);
    const backupPod = (
      byKind('CronJob')[0] as unknown as { spec: { jobTemplate: { spec: { template: { spec: Pod } } } } }
    ).spec.jobTemplate.spec.template.spec;
    expect(pod.volumes).toEqual(backupPod.volumes);
    expect(pod.containers[0]!.volumeMounts).toEqual(backupPod.containers[0]!.volumeMounts);
    expect(exp.spec.jobTemplate.spec.podFailurePolicy.rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'export', operator: 'In', values: [3] },
    });
  });

  it('tells the job how many days exports are kept', () => {
    const config = JobConfig.parse(
      JSON.parse((byKind('ConfigMap')[0] as unknown as { data: Record<string, string> }).data['backup.json']!),
    );
    expect(config.exportRetentionDays).toBe(365);
  });
});

describe('the Job of a Restore', () => {
  const verify = byKind('CronJob').find((c) => c.metadata.name === 'verify')!;
  const job = restoreJob(verify, {
    name: 'acme-restore-20261130-120000',
    namespace: 'ws-acme',
    uid: 'u-1',
  }) as unknown as {
    metadata: { name: string; labels: Record<string, string>; ownerReferences: Record<string, unknown>[] };
    spec: {
      backoffLimit: number;
      template: { metadata: { labels: Record<string, string> }; spec: Pod & { initContainers?: unknown[] } };
    };
  };
  const pod = job.spec.template.spec;

  it('runs holdfast restore once, owned by its Restore, against the workspace database and not a scratch one', () => {
    expect(job.metadata.name).toBe('restore-acme-restore-20261130-120000');
    expect(job.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Restore',
        name: 'acme-restore-20261130-120000',
        uid: 'u-1',
        controller: true,
      },
    ]);
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.metadata.labels['holdfast.io/component']).toBe('restore');
    expect(job.spec.template.metadata.labels['holdfast.io/component']).toBe('restore');
    expect(pod.initContainers).toBeUndefined();
    expect(pod.volumes.map((v) => v.name)).not.toContain('scratch-data');
    expect(pod.containers[0]).toMatchObject({
      name: 'restore',
      args: ['restore'],
      env: [
        { name: 'HOLDFAST_BACKUP_CONFIG', value: '/etc/holdfast/backup.json' },
        { name: 'HOLDFAST_RESTORE_NAME', value: 'acme-restore-20261130-120000' },
      ],
    });
    // The identity that decrypts, and the database's credentials.
    expect(pod.volumes).toContainEqual(expect.objectContaining({ name: 'key' }));
    expect(JSON.stringify(pod.volumes)).toContain('"identity"');
    expect(pod.volumes).toContainEqual(expect.objectContaining({ name: 'db' }));
    expect(JSON.stringify(pod.volumes)).not.toContain('db-superuser');
  });

  it("mounts the superuser's password only for a restore into a new database on the built-in server", () => {
    const into = restoreJob(
      verify,
      { name: 'r', namespace: 'ws-acme', uid: 'u-2' },
      { superuserSecret: 'db-superuser' },
    ).spec as { template: { spec: Pod } };
    const p = into.template.spec;
    expect(p.volumes).toContainEqual({
      name: 'superuser',
      secret: { secretName: 'db-superuser', items: [{ key: 'password', path: 'password' }] },
    });
    expect(p.containers[0]).toMatchObject({
      volumeMounts: expect.arrayContaining([
        { name: 'superuser', mountPath: '/var/run/holdfast/superuser', readOnly: true },
      ]) as unknown,
      env: expect.arrayContaining([
        { name: 'HOLDFAST_SUPERUSER_PASSWORD_FILE', value: '/var/run/holdfast/superuser/password' },
      ]) as unknown,
    });
  });

  it('is named within the 63 characters a Job name may have', () => {
    const long = `${'x'.repeat(60)}-restore-20261130-120000`;
    expect(restoreJobName(long).length).toBeLessThanOrEqual(63);
    expect(restoreJobName(long)).not.toBe(restoreJobName(`${long}1`));
  });
});
