// Dedicated mode with provider cloudnative-pg: a CloudNativePG Cluster with
// replicas, storage on the workspace's storage class, TLS from the workspace
// certificate, and the application role bootstrapped from db-app. With
// spec.backup.pointInTime, CloudNativePG archives every WAL segment and takes
// base backups (a ScheduledBackup on the workspace's backup schedule) with
// Barman's cloud tools to that S3 destination, and a Restore to a point in
// time becomes a recovery Cluster beside the workspace's.
import type { S3DestinationSpec } from '../../api/backup.js';
import { namespaceOf, type Workspace } from '../../api/workspace.js';
import type { KubeObject, Rest } from '../../../kube/rest.js';
import { CNPG_METRICS_PORT } from '../network/desired.js';
import { destSecret } from '../../backup/schedule.js';
import type { ConditionInput } from '../conditions.js';
import { TLS_SECRET } from '../certificate/internal.js';
import { ownedMeta } from '../owner.js';
import { APP_SECRET } from './shared.js';

export const CLUSTER_NAME = 'db';

export function cnpgImage(
  version: string,
  prefix = process.env.HOLDFAST_CNPG_IMAGE ?? 'ghcr.io/cloudnative-pg/postgresql',
): string {
  return `${prefix}:${version}`;
}

/** The service CloudNativePG creates for the primary. */
export function cnpgHost(ws: Workspace): string {
  return `${CLUSTER_NAME}-rw.${namespaceOf(ws.metadata.name)}.svc`;
}

/** The S3 destination WAL and base backups go to (spec.backup.pointInTime), as the operator read it. */
export interface WalArchive {
  destination: string;
  s3: S3DestinationSpec;
  /** The destination has its own CA (key ca.crt of its Secret copy). */
  ca: boolean;
}

/**
 * Where and how Barman's cloud tools reach the archive: the workspace's
 * folder of the destination, with the copy of its credentials that backup
 * jobs mount. One folder per Cluster name below it (Barman's server name).
 */
export function barmanObjectStore(ws: Workspace, archive: WalArchive): Record<string, unknown> {
  const secret = destSecret(archive.destination);
  return {
    destinationPath: `s3://${archive.s3.bucket}/${archive.s3.prefix}${ws.metadata.name}/cloudnative-pg`,
    endpointURL: archive.s3.endpoint,
    ...(archive.ca ? { endpointCA: { name: secret, key: 'ca.crt' } } : {}),
    s3Credentials: {
      accessKeyId: { name: secret, key: 'accessKeyId' },
      secretAccessKey: { name: secret, key: 'secretAccessKey' },
      region: { name: secret, key: 'region' },
    },
    wal: { compression: 'gzip' },
    data: { compression: 'gzip' },
  };
}

/** WAL and base backups are kept as long as the daily tier keeps backups (at least a week). */
export function archiveRetention(ws: Workspace): string {
  return `${Math.max(7, ws.spec.backup.retention.daily ?? 0)}d`;
}

function clusterSpec(ws: Workspace, storageClass: string | undefined): Record<string, unknown> {
  const r = ws.spec.database.resources;
  return {
    instances: ws.spec.database.instances ?? 2,
    imageName: cnpgImage(ws.spec.database.version),
    enableSuperuserAccess: false,
    storage: { size: ws.spec.database.storage, ...(storageClass ? { storageClass } : {}) },
    resources: {
      requests: { cpu: r?.cpu ?? '250m', memory: r?.memory ?? '512Mi' },
      limits: { memory: r?.memory ?? '512Mi' },
    },
  };
}

export function desiredCluster(ws: Workspace, storageClass: string | undefined, archive?: WalArchive): KubeObject {
  return {
    apiVersion: 'postgresql.cnpg.io/v1',
    kind: 'Cluster',
    metadata: ownedMeta(ws, CLUSTER_NAME, { labels: { 'holdfast.io/component': 'database' } }),
    spec: {
      ...clusterSpec(ws, storageClass),
      certificates: { serverTLSSecret: TLS_SECRET, serverCASecret: TLS_SECRET },
      bootstrap: { initdb: { database: 'app', owner: 'app', secret: { name: APP_SECRET } } },
      ...(archive
        ? { backup: { barmanObjectStore: barmanObjectStore(ws, archive), retentionPolicy: archiveRetention(ws) } }
        : {}),
    },
  };
}

export const BASE_BACKUP_NAME = 'db-base';

/**
 * Base backups for point-in-time recovery, on the workspace's backup
 * schedule (CloudNativePG's cron has seconds first; macros as they are), the
 * first one at once.
 */
export function desiredScheduledBackup(ws: Workspace): KubeObject {
  return {
    apiVersion: 'postgresql.cnpg.io/v1',
    kind: 'ScheduledBackup',
    metadata: ownedMeta(ws, BASE_BACKUP_NAME, { labels: { 'holdfast.io/component': 'database' } }),
    spec: {
      // A macro such as @daily is read the same way.
      schedule: ws.spec.backup.schedule.startsWith('@') ? ws.spec.backup.schedule : `0 ${ws.spec.backup.schedule}`,
      immediate: true,
      backupOwnerReference: 'self',
      cluster: { name: CLUSTER_NAME },
      method: 'barmanObjectStore',
    },
  };
}

/**
 * A time as PostgreSQL's recovery_target_time takes it: "2026-11-30
 * 09:00:00.000000+00". CloudNativePG rewrites an RFC 3339 time for UTC as
 * "…Z", which PostgreSQL refuses there (time zone abbreviations are not
 * loaded yet when recovery starts), and passes this form on as it is.
 */
export function recoveryTargetTime(at: Date): string {
  const iso = at.toISOString(); // 2026-11-30T09:00:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000+00`;
}

/** The recovery Cluster of a Restore to a point in time: `db-pitr-<8 hex of the Restore's uid>`. */
export function recoveryClusterName(restoreUid: string): string {
  return `${CLUSTER_NAME}-pitr-${restoreUid.replace(/-/g, '').slice(0, 8)}`;
}

/**
 * A Cluster beside the workspace's, made from its WAL archive as it was at
 * `targetTime`, owned by the Restore (deleting the Restore deletes it). One
 * instance, the workspace's image, storage and resources; the application
 * role keeps db-app's password; its server certificate is CloudNativePG's
 * own (the workspace's names only the workspace's cluster). It archives
 * nothing itself.
 */
export function desiredRecoveryCluster(
  ws: Workspace,
  restore: { name: string; uid: string },
  targetTime: Date,
  storageClass: string | undefined,
  archive: WalArchive,
): KubeObject {
  return {
    apiVersion: 'postgresql.cnpg.io/v1',
    kind: 'Cluster',
    metadata: {
      name: recoveryClusterName(restore.uid),
      namespace: namespaceOf(ws.metadata.name),
      labels: { 'holdfast.io/component': 'database', 'holdfast.io/restore': restore.name },
      ownerReferences: [
        {
          apiVersion: 'holdfast.io/v1alpha1',
          kind: 'Restore',
          name: restore.name,
          uid: restore.uid,
          controller: true,
        },
      ],
    },
    spec: {
      ...clusterSpec(ws, storageClass),
      instances: 1,
      bootstrap: {
        recovery: {
          source: CLUSTER_NAME,
          database: 'app',
          owner: 'app',
          secret: { name: APP_SECRET },
          recoveryTarget: { targetTime: recoveryTargetTime(targetTime) },
        },
      },
      externalClusters: [
        { name: CLUSTER_NAME, barmanObjectStore: { ...barmanObjectStore(ws, archive), serverName: CLUSTER_NAME } },
      ],
    },
  };
}

export const CNPG_MISSING: ConditionInput = {
  type: 'DatabaseReady',
  status: 'False',
  reason: 'CloudNativePGNotInstalled',
  message:
    'spec.database.provider is cloudnative-pg but CloudNativePG is not installed (no clusters.postgresql.cnpg.io API); install it or set spec.database.provider: builtin',
};

export function cnpgCondition(cluster: KubeObject | undefined): ConditionInput {
  const status = cluster?.status as
    | {
        phase?: string;
        readyInstances?: number;
        instances?: number;
        conditions?: { type: string; status: string; message?: string }[];
      }
    | undefined;
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') {
    return {
      type: 'DatabaseReady',
      status: 'True',
      reason: 'ClusterReady',
      message: `CloudNativePG cluster ${CLUSTER_NAME}: ${status?.readyInstances ?? '?'}/${status?.instances ?? '?'} instances ready (${status?.phase ?? 'ready'})`,
    };
  }
  return {
    type: 'DatabaseReady',
    status: 'False',
    reason: 'ClusterNotReady',
    message: `CloudNativePG cluster ${CLUSTER_NAME}: ${status?.phase ?? 'waiting for the CloudNativePG operator'}${ready?.message ? ` (${ready.message})` : ''}`,
  };
}

/**
 * spec.backup.pointInTime resolved: the archive's destination as read, or
 * the condition that says why there is none (the Cluster then archives
 * nothing).
 */
export function walArchiveOf(
  ws: Workspace,
  destination: (name: string) => { spec?: { s3?: S3DestinationSpec } } | undefined,
): { archive?: WalArchive; condition?: ConditionInput } {
  const name = ws.spec.backup.pointInTime?.destination;
  if (name === undefined) return {};
  const fail = (reason: string, message: string) => ({
    condition: { type: POINT_IN_TIME, status: 'False' as const, reason, message },
  });
  if (!(ws.spec.backup.destinations ?? []).some((d) => d.name === name))
    return fail(
      'DestinationNotListed',
      `spec.backup.pointInTime.destination ${name} is not one of spec.backup.destinations: list it there too`,
    );
  const s3 = destination(name)?.spec?.s3;
  if (!s3)
    return fail(
      'DestinationNotS3',
      `spec.backup.pointInTime.destination ${name} must be an existing S3 BackupDestination (kubectl get backupdestinations)`,
    );
  return {
    archive: {
      destination: name,
      s3,
      ca: s3.caSecretRef !== undefined,
    },
  };
}

export const POINT_IN_TIME = 'PointInTimeRecovery';

/** CloudNativePG's own word on its WAL archiving, and how far back a Restore may go. */
export function archivingCondition(cluster: KubeObject | undefined): ConditionInput {
  const status = cluster?.status as
    | {
        firstRecoverabilityPoint?: string;
        conditions?: { type: string; status: string; message?: string }[];
      }
    | undefined;
  const archiving = status?.conditions?.find((c) => c.type === 'ContinuousArchiving');
  if (archiving?.status === 'True')
    return {
      type: POINT_IN_TIME,
      status: 'True',
      reason: 'Archiving',
      message: `CloudNativePG archives every WAL segment of cluster ${CLUSTER_NAME}; a Restore may go back to ${status?.firstRecoverabilityPoint ?? 'the first base backup, once it is taken'}`,
    };
  if (archiving?.status === 'False')
    return {
      type: POINT_IN_TIME,
      status: 'False',
      reason: 'ArchivingFailed',
      message: `CloudNativePG cannot archive WAL of cluster ${CLUSTER_NAME}: ${archiving.message ?? 'no reason given'}`,
    };
  return {
    type: POINT_IN_TIME,
    status: 'False',
    reason: 'WaitingForArchive',
    message: `waiting for CloudNativePG to archive the first WAL segment of cluster ${CLUSTER_NAME}`,
  };
}

/**
 * When the WAL archive last took a segment: CloudNativePG keeps no such time
 * in the Cluster's status, so it is read from the primary's metrics
 * (`cnpg_pg_stat_archiver_last_archived_time`, pg_stat_archiver), at the
 * address the `db-rw` Service's EndpointSlice names. Undefined when it cannot
 * be read; the recovery point then stays that of the backups.
 */
export async function lastArchivedTime(
  rest: Rest,
  namespace: string,
  fetchMetrics: (url: string) => Promise<string> = async (url) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.text();
  },
): Promise<string | undefined> {
  try {
    const slices = await rest.get<{ items: { endpoints?: { addresses: string[] }[] }[] }>(
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      { labelSelector: `kubernetes.io/service-name=${CLUSTER_NAME}-rw` },
    );
    const ip = slices.items.flatMap((s) => s.endpoints ?? []).flatMap((e) => e.addresses)[0];
    if (!ip) return undefined;
    return archivedAt(await fetchMetrics(`http://${ip.includes(':') ? `[${ip}]` : ip}:${CNPG_METRICS_PORT}/metrics`));
  } catch {
    return undefined;
  }
}

/** The archiver's last success in a metrics page, as an ISO time (none before the first segment). */
export function archivedAt(metrics: string): string | undefined {
  const m = /^cnpg_pg_stat_archiver_last_archived_time(?:\{[^}]*\})? (\S+)$/m.exec(metrics);
  const seconds = m ? Number(m[1]) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : undefined;
}
