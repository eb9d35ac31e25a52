// The objects that make a workspace's scheduled backups, built from the
// Workspace and its BackupDestinations alone (pure, so that `kubectl diff`
// and the tests see exactly what the operator writes):
//   - CronJob `backup`: Forbid overlap, a starting deadline of an hour (the
//     RPO the seeds promise), a restricted pod running `holdfast backup`
//     from the operator's own image with a read-only root file system;
//   - ServiceAccount, Role and RoleBinding `backup`: Backups in this
//     namespace, nothing else;
//   - ConfigMap `backup-config`: the job configuration and escrow recipients;
//   - one Secret `backup-dest-<name>` per S3 destination (a copy of its
//     credentials: a pod reads Secrets of its own namespace only) and one
//     volume claim `backup-<name>` per volume destination.
// The workspace's own age key (Secret `backup-key`) is made once, elsewhere:
// it is random, and must never be replaced.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { KubeObject } from '../../kube/rest.js';
import { BACKUP_API, BACKUP_KIND, type BackupReason, type DestinationSpec } from '../api/backup.js';
import { RESTORE_API, RESTORE_KIND } from '../api/restore.js';
import { namespaceOf, type Workspace } from '../api/workspace.js';
import { COMPONENT_LABEL, WORKSPACE_LABEL, ownedMeta } from '../workspace/owner.js';
import type { JobConfig } from './job-config.js';

export const BACKUP_CRONJOB = 'backup';
export const VERIFY_CRONJOB = 'verify';
export const EXPORT_CRONJOB = 'export';
/** Where the drill's scratch PostgreSQL listens, inside the drill's pod only. */
export const SCRATCH_PORT = 5432;
/** The operator's image, which backup jobs run too (HOLDFAST_IMAGE; the chart sets it). */
export const DEFAULT_IMAGE = 'localhost/holdfast:dev';
export const BACKUP_ACCOUNT = 'backup';
export const BACKUP_CONFIG = 'backup-config';
export const BACKUP_KEY_SECRET = 'backup-key';
const APP_SECRET = 'db-app';
const CONFIG_DIR = '/etc/holdfast';
const SECRETS_DIR = '/var/run/holdfast';

export interface Destination {
  name: string;
  spec: DestinationSpec;
}

export interface ScheduleInput {
  ws: Workspace;
  /** The workspace's destinations that exist, in spec order. */
  destinations: Destination[];
  /** The operator's own image: jobs run the same program. */
  image: string;
  /** Where the database is, as status.database says. */
  database: { host: string; port: number; name: string; user: string };
  /** The PostgreSQL image of the drill's scratch server: the workspace's major. */
  scratchImage: string;
}

/** The copy, in the workspace namespace, of an S3 destination's credentials (keys accessKeyId, secretAccessKey, region, ca.crt). */
export const destSecret = (name: string) => `backup-dest-${name}`;
const destClaim = (name: string) => `backup-${name}`;

export function jobConfig(input: ScheduleInput): JobConfig {
  const { ws, destinations, database } = input;
  return {
    workspace: ws.metadata.name,
    namespace: namespaceOf(ws.metadata.name),
    database: {
      host: database.host,
      port: database.port,
      database: database.name,
      user: database.user,
      passwordFile: `${SECRETS_DIR}/db/password`,
      sslmode: 'verify-full',
      caFile: `${SECRETS_DIR}/db/ca.crt`,
    },
    recipientFiles: [`${SECRETS_DIR}/key/recipient`, `${CONFIG_DIR}/escrow-recipients`],
    identityFile: `${SECRETS_DIR}/key/identity`,
    destinations: destinations.map((d) =>
      d.spec.s3
        ? {
            name: d.name,
            s3: {
              endpoint: d.spec.s3.endpoint,
              bucket: d.spec.s3.bucket,
              prefix: d.spec.s3.prefix,
              region: d.spec.s3.region,
              forcePathStyle: d.spec.s3.forcePathStyle,
              credentialsDir: `${SECRETS_DIR}/destinations/${d.name}`,
            },
          }
        : { name: d.name, folder: { path: `/backups/${d.name}` } },
    ),
    retention: ws.spec.backup.retention,
    timeZone: 'UTC',
    reason: 'Scheduled',
    exportRetentionDays: ws.spec.backup.export.retentionDays,
  };
}

export function desiredBackupObjects(input: ScheduleInput): KubeObject[] {
  const { ws, destinations, image } = input;
  const ns = namespaceOf(ws.metadata.name);
  const meta = (name: string) => ownedMeta(ws, name, { labels: { [COMPONENT_LABEL]: 'backup' } });
  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(BACKUP_ACCOUNT), automountServiceAccountToken: false },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(BACKUP_ACCOUNT),
      rules: [
        { apiGroups: ['holdfast.io'], resources: ['backups'], verbs: ['get', 'list', 'create', 'delete'] },
        { apiGroups: ['holdfast.io'], resources: ['backups/status'], verbs: ['get', 'patch'] },
        // A restore's Job reads its Restore and reports progress on it; retention keeps what Restores need.
        { apiGroups: ['holdfast.io'], resources: ['restores'], verbs: ['get', 'list'] },
        { apiGroups: ['holdfast.io'], resources: ['restores/status'], verbs: ['get', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(BACKUP_ACCOUNT),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: BACKUP_ACCOUNT },
      subjects: [{ kind: 'ServiceAccount', name: BACKUP_ACCOUNT, namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(BACKUP_CONFIG),
      data: {
        'backup.json': `${JSON.stringify(jobConfig(input), null, 2)}\n`,
        'escrow-recipients': (ws.spec.backup.recipients ?? []).map((r) => `${r}\n`).join(''),
      },
    },
  ];
  for (const d of destinations) {
    if (d.spec.volume)
      objects.push({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: meta(destClaim(d.name)),
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(d.spec.volume.storageClassName ? { storageClassName: d.spec.volume.storageClassName } : {}),
          resources: { requests: { storage: d.spec.volume.size } },
        },
      });
  }
  const secretItems = (secretName: string, items: { key: string; path: string }[]) => ({
    secret: { secretName, items },
  });
  objects.push({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: meta(BACKUP_CRONJOB),
    spec: {
      schedule: ws.spec.backup.schedule,
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      // A run missed by more than an hour is skipped: the next one is as good, and the RPO is an hour.
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      suspend: ws.spec.suspend || destinations.length === 0,
      jobTemplate: {
        metadata: { labels: { [COMPONENT_LABEL]: 'backup', [WORKSPACE_LABEL]: ws.metadata.name } },
        spec: {
          backoffLimit: 2,
          podFailurePolicy: {
            rules: [
              // Exit 3: stored, but not everywhere. The Backup stands; a retry would take it again.
              { action: 'FailJob', onExitCodes: { containerName: 'backup', operator: 'In', values: [3] } },
              // A pod evicted or preempted is not the backup's failure.
              { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
            ],
          },
          activeDeadlineSeconds: 6 * 3600,
          ttlSecondsAfterFinished: 7 * 24 * 3600,
          template: {
            metadata: { labels: { [COMPONENT_LABEL]: 'backup' } },
            spec: {
              serviceAccountName: BACKUP_ACCOUNT,
              automountServiceAccountToken: true,
              restartPolicy: 'Never',
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 65532,
                runAsGroup: 65532,
                fsGroup: 65532,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'backup',
                  image,
                  args: ['backup'],
                  env: [
                    { name: 'HOLDFAST_BACKUP_CONFIG', value: `${CONFIG_DIR}/backup.json` },
                    // Names the Backup after the run it belongs to, so that a retried pod continues it.
                    {
                      name: 'HOLDFAST_JOB_NAME',
                      valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } },
                    },
                  ],
                  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ['ALL'] },
                  },
                  volumeMounts: [
                    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
                    { name: 'db', mountPath: `${SECRETS_DIR}/db`, readOnly: true },
                    { name: 'key', mountPath: `${SECRETS_DIR}/key`, readOnly: true },
                    // Node and the AWS SDK write nothing else; pg_dump writes nothing.
                    { name: 'tmp', mountPath: '/tmp' },
                    ...destinations.map((d) =>
                      d.spec.s3
                        ? { name: `dest-${d.name}`, mountPath: `${SECRETS_DIR}/destinations/${d.name}`, readOnly: true }
                        : { name: `dest-${d.name}`, mountPath: `/backups/${d.name}` },
                    ),
                  ],
                },
              ],
              volumes: [
                { name: 'config', configMap: { name: BACKUP_CONFIG } },
                {
                  name: 'db',
                  ...secretItems(APP_SECRET, [
                    { key: 'password', path: 'password' },
                    { key: 'ca.crt', path: 'ca.crt' },
                  ]),
                },
                { name: 'key', ...secretItems(BACKUP_KEY_SECRET, [{ key: 'recipient', path: 'recipient' }]) },
                { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
                ...destinations.map((d) =>
                  d.spec.s3
                    ? { name: `dest-${d.name}`, secret: { secretName: destSecret(d.name) } }
                    : { name: `dest-${d.name}`, persistentVolumeClaim: { claimName: destClaim(d.name) } },
                ),
              ],
            },
          },
        },
      },
    },
  });
  const backup = objects.at(-1)!;
  objects.push(verifyCronJob(ws, backup, input.scratchImage, destinations.length === 0));
  objects.push(exportCronJob(ws, backup));
  return objects;
}

/**
 * The daily export: the backup pod's mounts (the database, the recipients,
 * the destinations) running `holdfast export`. It needs nothing of the
 * Kubernetes API, so its pod gets no token.
 */
function exportCronJob(ws: Workspace, backup: KubeObject): KubeObject {
  const spec = structuredClone(backup.spec) as {
    schedule: string;
    jobTemplate: {
      metadata: { labels: Record<string, string> };
      spec: {
        podFailurePolicy: { rules: { onExitCodes?: { containerName: string } }[] };
        template: {
          metadata: { labels: Record<string, string> };
          spec: PodSpec & { automountServiceAccountToken?: boolean };
        };
      };
    };
  };
  spec.schedule = ws.spec.backup.export.schedule;
  spec.jobTemplate.metadata.labels[COMPONENT_LABEL] = 'export';
  const job = spec.jobTemplate.spec;
  // Exit 3: stored, but not everywhere; a retry would only write the same day's export again.
  for (const rule of job.podFailurePolicy.rules) if (rule.onExitCodes) rule.onExitCodes.containerName = 'export';
  job.template.metadata.labels[COMPONENT_LABEL] = 'export';
  const pod = job.template.spec;
  pod.automountServiceAccountToken = false;
  const main = pod.containers[0]!;
  main.name = 'export';
  main.args = ['export'];
  main.env = [{ name: 'HOLDFAST_BACKUP_CONFIG', value: `${CONFIG_DIR}/backup.json` }];
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { ...backup.metadata, name: EXPORT_CRONJOB }, spec };
}

/**
 * The restore drill: the backup pod's mounts and account, plus the
 * workspace's own age identity, running `holdfast verify` next to a scratch
 * PostgreSQL of the workspace's major in the same pod (a native sidecar on an
 * emptyDir, reachable on 127.0.0.1 only): the drill never touches the
 * workspace's server, and the scratch data is gone with the pod.
 */
function verifyCronJob(ws: Workspace, backup: KubeObject, scratchImage: string, nothingToVerify: boolean): KubeObject {
  const spec = structuredClone(backup.spec) as {
    schedule: string;
    suspend: boolean;
    jobTemplate: {
      metadata: { labels: Record<string, string> };
      spec: {
        podFailurePolicy?: unknown;
        activeDeadlineSeconds: number;
        template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
      };
    };
  };
  spec.schedule = ws.spec.backup.verify.schedule;
  spec.suspend = ws.spec.suspend || nothingToVerify;
  spec.jobTemplate.metadata.labels[COMPONENT_LABEL] = 'verify';
  const job = spec.jobTemplate.spec;
  // A drill that failed says so in its Backup; taking it again proves nothing more.
  delete job.podFailurePolicy;
  (job as { backoffLimit?: number }).backoffLimit = 0;
  job.activeDeadlineSeconds = 12 * 3600;
  job.template.metadata.labels[COMPONENT_LABEL] = 'verify';
  const pod = job.template.spec;
  const main = pod.containers[0]!;
  main.name = 'verify';
  main.args = ['verify'];
  main.env = [
    { name: 'HOLDFAST_BACKUP_CONFIG', value: `${CONFIG_DIR}/backup.json` },
    { name: 'HOLDFAST_SCRATCH_PORT', value: String(SCRATCH_PORT) },
    // Named on the Backup's verification, for `kubectl logs`.
    {
      name: 'HOLDFAST_JOB_NAME',
      valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } },
    },
  ];
  main.resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };
  const key = pod.volumes.find((v) => v.name === 'key')!;
  key.secret!.items = [
    { key: 'recipient', path: 'recipient' },
    { key: 'identity', path: 'identity' },
  ];
  pod.volumes.push({ name: 'scratch-data', emptyDir: {} }, { name: 'scratch-run', emptyDir: { sizeLimit: '1Mi' } });
  pod.initContainers = [
    {
      name: 'scratch',
      image: scratchImage,
      // A native sidecar: up before the drill starts, stopped when it ends.
      restartPolicy: 'Always',
      args: ['-c', 'listen_addresses=127.0.0.1', '-c', `port=${SCRATCH_PORT}`, '-c', 'fsync=off'],
      env: [
        { name: 'POSTGRES_USER', value: 'drill' },
        // Reachable from this pod only, and gone with it.
        { name: 'POSTGRES_PASSWORD', value: 'scratch' },
        { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
      ],
      securityContext: {
        runAsUser: 999,
        runAsGroup: 999,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
      startupProbe: {
        exec: { command: ['pg_isready', '-h', '127.0.0.1', '-p', String(SCRATCH_PORT), '-U', 'drill'] },
        periodSeconds: 2,
        failureThreshold: 90,
      },
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      volumeMounts: [
        { name: 'scratch-data', mountPath: '/var/lib/postgresql/data' },
        { name: 'scratch-run', mountPath: '/var/run/postgresql' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    },
  ];
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { ...backup.metadata, name: VERIFY_CRONJOB }, spec };
}

interface PodSpec {
  containers: {
    name: string;
    args: string[];
    env?: { name: string; value?: string; valueFrom?: unknown }[];
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
    resources?: unknown;
  }[];
  initContainers?: unknown[];
  volumes: {
    name: string;
    secret?: { secretName?: string; items?: { key: string; path: string }[] };
    emptyDir?: unknown;
  }[];
}

/** The copy of an S3 destination's credentials a job in the workspace namespace can mount. */
export function destinationSecret(
  ws: Workspace,
  destination: string,
  data: { accessKeyId: string; secretAccessKey: string; ca?: string; region?: string },
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(ws, destSecret(destination), { labels: { [COMPONENT_LABEL]: 'backup' } }),
    type: 'Opaque',
    data: {
      accessKeyId: Buffer.from(data.accessKeyId).toString('base64'),
      secretAccessKey: Buffer.from(data.secretAccessKey).toString('base64'),
      ...(data.ca ? { 'ca.crt': Buffer.from(data.ca).toString('base64') } : {}),
      ...(data.region ? { region: Buffer.from(data.region).toString('base64') } : {}),
    },
  };
}

/** The most a Job's name may be: the Job controller puts it in a label of its pods. */
const MAX_JOB_NAME = 63;

/** `<prefix>-<name>`, cut to a Job name's 63 characters with a hash of the name when longer. */
function jobName(prefix: string, of: string): string {
  const name = `${prefix}-${of}`;
  if (name.length <= MAX_JOB_NAME) return name;
  const hash = createHash('sha256').update(of).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_JOB_NAME - 9).replace(/-+$/, '')}-${hash}`;
}

/** The name of the Job that takes a requested Backup. */
export function requestJobName(backup: string): string {
  return jobName(BACKUP_CRONJOB, backup);
}

/**
 * The Job that takes a Backup someone asked for (a Backup created by hand,
 * or the annotation on the Workspace): the CronJob's own job, told which
 * Backup it fills in and why, owned by that Backup so that pruning it
 * removes the Job too.
 */
export function requestJob(
  cronJob: KubeObject,
  backup: { name: string; namespace: string; uid: string; reason: BackupReason },
): KubeObject {
  const template = (cronJob.spec as { jobTemplate: { metadata: { labels: Record<string, string> }; spec: JobSpec } })
    .jobTemplate;
  const spec = structuredClone(template.spec);
  const container = spec.template.spec.containers[0]!;
  container.env = [
    ...(container.env ?? []),
    { name: 'HOLDFAST_BACKUP_NAME', value: backup.name },
    { name: 'HOLDFAST_BACKUP_REASON', value: backup.reason },
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: requestJobName(backup.name),
      namespace: backup.namespace,
      labels: { ...cronJob.metadata.labels, ...template.metadata.labels },
      ownerReferences: [
        { apiVersion: BACKUP_API, kind: BACKUP_KIND, name: backup.name, uid: backup.uid, controller: true },
      ],
    },
    spec,
  };
}

interface JobSpec {
  template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } };
}

/** The name of the Job that runs a Restore. */
export function restoreJobName(restore: string): string {
  return jobName('restore', restore);
}

/** Where a restore into a new database on a built-in server reads the superuser's password. */
export const SUPERUSER_PASSWORD_FILE = '/var/run/holdfast/superuser/password';

/**
 * The Job that runs a Restore: the drill's pod (its account, the database's
 * credentials and CA, the destinations, the workspace's age identity) without
 * the scratch server, running `holdfast restore` against the workspace's
 * server, once, owned by the Restore. With `superuserSecret` (a restore into
 * a new database on the built-in server, where only the superuser may create
 * one) that Secret's password is mounted too; no other pod but the
 * database's own mounts it.
 */
export function restoreJob(
  verifyCronJob: KubeObject,
  restore: { name: string; namespace: string; uid: string },
  opts: { superuserSecret?: string } = {},
): KubeObject {
  const template = (
    verifyCronJob.spec as {
      jobTemplate: {
        metadata: { labels: Record<string, string> };
        spec: {
          backoffLimit?: number;
          activeDeadlineSeconds?: number;
          template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
        };
      };
    }
  ).jobTemplate;
  const spec = structuredClone(template.spec);
  // A restore that failed has rolled back; running it again is for a person to decide.
  spec.backoffLimit = 0;
  spec.activeDeadlineSeconds = 12 * 3600;
  spec.template.metadata.labels[COMPONENT_LABEL] = 'restore';
  const pod = spec.template.spec;
  delete pod.initContainers;
  pod.volumes = pod.volumes.filter((v) => !v.name.startsWith('scratch-'));
  const main = pod.containers[0]!;
  main.name = 'restore';
  main.args = ['restore'];
  main.env = [
    { name: 'HOLDFAST_BACKUP_CONFIG', value: `${CONFIG_DIR}/backup.json` },
    { name: 'HOLDFAST_RESTORE_NAME', value: restore.name },
  ];
  if (opts.superuserSecret) {
    pod.volumes.push({
      name: 'superuser',
      secret: { secretName: opts.superuserSecret, items: [{ key: 'password', path: 'password' }] },
    });
    main.volumeMounts = [
      ...(main.volumeMounts ?? []),
      { name: 'superuser', mountPath: path.posix.dirname(SUPERUSER_PASSWORD_FILE), readOnly: true },
    ];
    main.env.push({ name: 'HOLDFAST_SUPERUSER_PASSWORD_FILE', value: SUPERUSER_PASSWORD_FILE });
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: restoreJobName(restore.name),
      namespace: restore.namespace,
      labels: { ...verifyCronJob.metadata.labels, ...template.metadata.labels, [COMPONENT_LABEL]: 'restore' },
      ownerReferences: [
        { apiVersion: RESTORE_API, kind: RESTORE_KIND, name: restore.name, uid: restore.uid, controller: true },
      ],
    },
    spec,
  };
}
