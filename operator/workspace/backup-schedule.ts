// The workspace's backup schedule: its age key (made once), the copies of its
// destinations' credentials, and the objects of backup/schedule.ts. Says in
// BackupScheduled what is missing when a backup cannot be scheduled.
import type { KubeObject, Rest } from '../../kube/rest.js';
import { objectPath } from '../../kube/rest.js';
import type { S3DestinationSpec } from '../api/backup.js';
import { namespaceOf, type Workspace, type WorkspaceStatus } from '../api/workspace.js';
import { generateIdentity, identityToRecipient } from '../backup/age-stream.js';
import { postgresImage } from './database/dedicated.js';
import {
  BACKUP_CRONJOB,
  BACKUP_KEY_SECRET,
  VERIFY_CRONJOB,
  desiredBackupObjects,
  destinationSecret,
  type Destination,
} from '../backup/schedule.js';
import type { ConditionInput } from './conditions.js';
import type { BackupDestinationObject } from './deps.js';
import { COMPONENT_LABEL, ownedMeta } from './owner.js';

export interface ScheduleDeps {
  rest: Rest;
  image: string;
  destination: (name: string) => BackupDestinationObject | undefined;
  /** Server-side apply that refuses what the workspace does not own. */
  apply: (desired: KubeObject, current: KubeObject | undefined) => Promise<unknown>;
}

const fromBase64 = (v: string | undefined) => (v ? Buffer.from(v, 'base64').toString('utf8') : undefined);

export interface ScheduleDecision {
  condition: ConditionInput;
  /** The CronJob as applied; undefined while backups cannot be scheduled. */
  cronJob?: KubeObject;
  /** The drill's CronJob as applied, whose pod Restores run without the scratch server. */
  verifyCronJob?: KubeObject;
}

export async function applyBackupSchedule(
  ws: Workspace,
  database: WorkspaceStatus['database'],
  d: ScheduleDeps,
): Promise<ScheduleDecision> {
  const ns = namespaceOf(ws.metadata.name);
  const named = ws.spec.backup.destinations ?? [];
  const scheduled = (
    status: 'True' | 'False',
    reason: string,
    message: string,
    cronJob?: KubeObject,
    verifyCronJob?: KubeObject,
  ): ScheduleDecision => ({
    condition: { type: 'BackupScheduled', status, reason, message },
    ...(cronJob ? { cronJob } : {}),
    ...(verifyCronJob ? { verifyCronJob } : {}),
  });
  if (named.length === 0)
    return scheduled(
      'False',
      'NoDestinations',
      'spec.backup.destinations is empty: no backup is taken. Name a BackupDestination there (kubectl get backupdestinations)',
    );
  if (!database?.host || !database.port || !database.name || !database.user)
    return scheduled('False', 'WaitingForDatabase', 'backups are scheduled once the database is provisioned');

  const problems: string[] = [];
  const destinations: Destination[] = [];
  const secrets: KubeObject[] = [];
  for (const { name } of named) {
    const dest = d.destination(name);
    if (!dest?.spec) {
      problems.push(`BackupDestination "${name}" does not exist`);
      continue;
    }
    if (dest.spec.s3) {
      const credentials = await readS3Credentials(d.rest, name, dest.spec.s3);
      if (typeof credentials === 'string') {
        problems.push(credentials);
        continue;
      }
      secrets.push(destinationSecret(ws, name, { ...credentials, region: dest.spec.s3.region }));
    }
    destinations.push({ name, spec: dest.spec });
  }
  if (destinations.length === 0) return scheduled('False', 'DestinationsUnavailable', `${problems.join('; ')}`);

  // The workspace's own age key: made once and never replaced, or older backups could not be read.
  const key = await d.rest.find<KubeObject>(objectPath('Secret', BACKUP_KEY_SECRET, ns));
  if (!key) {
    const identity = await generateIdentity();
    await d.apply(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: ownedMeta(ws, BACKUP_KEY_SECRET, { labels: { [COMPONENT_LABEL]: 'backup' } }),
        type: 'Opaque',
        data: {
          identity: Buffer.from(`${identity}\n`).toString('base64'),
          recipient: Buffer.from(`${await identityToRecipient(identity)}\n`).toString('base64'),
        },
      },
      undefined,
    );
  }
  for (const s of secrets) await d.apply(s, await d.rest.find<KubeObject>(objectPath('Secret', s.metadata.name, ns)));
  const objects = desiredBackupObjects({
    ws,
    destinations,
    image: d.image,
    database: { host: database.host, port: database.port, name: database.name, user: database.user },
    scratchImage: postgresImage(ws.spec.database.version),
  });
  for (const o of objects) {
    const kind = o.kind as Parameters<typeof objectPath>[0];
    await d.apply(o, await d.rest.find<KubeObject>(objectPath(kind, o.metadata.name, ns)));
  }
  const cronJob = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === BACKUP_CRONJOB);
  const verifyCronJob = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === VERIFY_CRONJOB);
  return problems.length > 0
    ? scheduled(
        'False',
        'DestinationsUnavailable',
        `${problems.join('; ')}; the others get their copies`,
        cronJob,
        verifyCronJob,
      )
    : scheduled(
        'True',
        'Scheduled',
        `CronJob backup runs "${ws.spec.backup.schedule}" (UTC) to ${destinations.map((x) => x.name).join(', ')}`,
        cronJob,
        verifyCronJob,
      );
}

/** The credentials (and CA) of an S3 BackupDestination, or what is wrong with its Secrets. */
export async function readS3Credentials(
  rest: Rest,
  name: string,
  s3: S3DestinationSpec,
): Promise<{ accessKeyId: string; secretAccessKey: string; ca?: string } | string> {
  const ref = s3.credentialsSecretRef;
  const source = await rest.find<KubeObject & { data?: Record<string, string> }>(
    objectPath('Secret', ref.name, ref.namespace),
  );
  const accessKeyId = fromBase64(source?.data?.accessKeyId);
  const secretAccessKey = fromBase64(source?.data?.secretAccessKey);
  if (!accessKeyId || !secretAccessKey)
    return `Secret ${ref.namespace}/${ref.name} of BackupDestination "${name}" must hold keys accessKeyId and secretAccessKey`;
  if (!s3.caSecretRef) return { accessKeyId, secretAccessKey };
  const caRef = s3.caSecretRef;
  const caSecret = await rest.find<KubeObject & { data?: Record<string, string> }>(
    objectPath('Secret', caRef.name, caRef.namespace),
  );
  const ca = fromBase64(caSecret?.data?.['ca.crt']);
  if (!ca) return `Secret ${caRef.namespace}/${caRef.name} of BackupDestination "${name}" must hold key ca.crt`;
  return { accessKeyId, secretAccessKey, ca };
}
