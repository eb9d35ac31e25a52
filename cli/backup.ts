// holdfast backup [--config FILE]: takes one backup of a workspace as its
// CronJob's pod runs it, records it as a Backup resource, then prunes by the
// workspace's retention. The backup's name comes from HOLDFAST_BACKUP_NAME
// (set when someone asked for this backup by creating a Backup), from the run
// of the CronJob (HOLDFAST_JOB_NAME: a retried pod continues the same Backup),
// or else from the time. Exit 0 when a copy was stored everywhere, 1 when the
// backup failed, 3 when it stands but some copy failed (the Job shows it; the
// status says which).
import * as k8s from '@kubernetes/client-node';
import { Rest, collectionPath, objectPath } from '../kube/rest.js';
import { createLogger } from '../kube/log.js';
import { BackupReason, type BackupResourceStatus } from '../operator/api/backup.js';
import type { RestoreStatus } from '../operator/api/restore.js';
import { backupName, backupNameOfJob } from '../operator/backup/artifact.js';
import { databaseTarget, openJob, recipientsOf, type JobConfig } from '../operator/backup/job-config.js';
import type { Destination } from '../operator/backup/destinations.js';
import { pruneBackups } from '../operator/backup/prune.js';
import { KubeBackupRecorder, WORKSPACE_LABEL } from '../operator/backup/record.js';
import { runBackup } from '../operator/backup/runner.js';

function kube(): Rest | undefined {
  if (!process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) return undefined;
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return new Rest(kc);
}

export async function run(args: string[]): Promise<number> {
  const log = createLogger('backup');
  const i = args.indexOf('--config');
  const opened = await openJob(i >= 0 ? args[i + 1] : undefined, 'backup', log);
  if (!opened) return 1;
  const { config, destinations } = opened;
  const rest = kube();
  const startedAt = new Date();
  const job = process.env.HOLDFAST_JOB_NAME || undefined;
  const name =
    process.env.HOLDFAST_BACKUP_NAME ||
    backupNameOfJob(config.workspace, job) ||
    backupName(config.workspace, startedAt);
  const reason = BackupReason.safeParse(process.env.HOLDFAST_BACKUP_REASON).data ?? config.reason;
  // A retried pod of a run whose backup was stored has nothing to do: it must not take it again over the good one.
  const earlier = await rest
    ?.find<{ status?: BackupResourceStatus }>(objectPath('Backup', name, config.namespace))
    .catch(() => undefined);
  if (earlier?.status?.phase === 'Succeeded') {
    log.info(`backup ${name} was taken already (${earlier.status.copiesText ?? ''} copies); nothing to do`);
    return 0;
  }
  try {
    const result = await runBackup({
      workspace: config.workspace,
      backup: name,
      reason,
      database: await databaseTarget(config),
      recipients: await recipientsOf(config),
      destinations,
      startedAt,
      log,
      ...(process.env.HOLDFAST_PG_DUMP ? { pgDump: process.env.HOLDFAST_PG_DUMP } : {}),
      ...(rest
        ? { recorder: new KubeBackupRecorder(rest, config.namespace, name, config.workspace, reason, job) }
        : {}),
    });
    if (rest && !args.includes('--no-prune')) await prune(rest, config, destinations, log);
    return result.failed.length > 0 ? 3 : 0;
  } catch (err) {
    log.error({ err }, `backup ${name} failed: ${(err as Error).message}`);
    return 1;
  }
}

async function prune(
  rest: Rest,
  config: JobConfig,
  destinations: Destination[],
  log: ReturnType<typeof createLogger>,
): Promise<void> {
  const list = await rest.get<{ items: { metadata: { name: string }; status?: BackupResourceStatus }[] }>(
    `/apis/holdfast.io/v1alpha1/namespaces/${config.namespace}/backups`,
    { labelSelector: `${WORKSPACE_LABEL}=${config.workspace}` },
  );
  const restores = await rest.get<{ items: { status?: RestoreStatus }[] }>(collectionPath('Restore', config.namespace));
  const pinned = pinnedByRestores(restores.items);
  const result = await pruneBackups({
    backups: list.items
      .filter((b) => b.status?.completedAt)
      .map((b) => ({
        name: b.metadata.name,
        completedAt: new Date(b.status!.completedAt!),
        succeeded: b.status!.phase === 'Succeeded',
        verified: Boolean(b.status!.verifiedAt),
        pinned: pinned.has(b.metadata.name),
        ...(b.status!.artifact ? { artifact: b.status!.artifact } : {}),
      })),
    retention: config.retention,
    timeZone: config.timeZone,
    destinations,
    forget: (n) => rest.request('DELETE', objectPath('Backup', n, config.namespace)),
    log,
  });
  for (const d of destinations) await d.cleanUp(`${config.workspace}/`).catch(() => 0);
  log.info({ kept: result.kept, deleted: result.deleted, failed: result.failed }, 'pruned by retention');
}

/**
 * The backups Restores need: the one each unfinished Restore restores, and
 * every Restore's safety backup (the data it replaced), for as long as the
 * Restore exists.
 */
export function pinnedByRestores(restores: readonly { status?: RestoreStatus }[]): Set<string> {
  const pinned = new Set<string>();
  for (const { status: s } of restores) {
    if (s?.safetyBackup) pinned.add(s.safetyBackup);
    if (s?.backup && s.phase !== 'Succeeded' && s.phase !== 'Failed') pinned.add(s.backup);
  }
  return pinned;
}
