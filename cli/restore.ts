// holdfast restore: runs a Restore, as the Job the operator starts for it
// runs it (after the safety backup). It reads the Restore and the Backup it
// names, takes the copy from the first destination that stored it, and
// restores it in place over the workspace's database in one transaction, or
// with spec.newDatabase into that new, empty database beside it (made here as
// the superuser on the built-in server; on a Shared server the operator made
// it), reporting progress on the Restore every few seconds. Exit 0 when
// restored and the rows match the manifest, 1 otherwise (the Restore says
// why; a restore that failed before its COMMIT changed nothing).
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '../kube/log.js';
import { MERGE_PATCH, Rest, objectPath } from '../kube/rest.js';
import type { BackupResourceStatus } from '../operator/api/backup.js';
import type { RestoreSpec, RestoreStatus } from '../operator/api/restore.js';
import { databaseTarget, identitiesOf, openJob } from '../operator/backup/job-config.js';
import { createRestoreDatabase } from '../operator/backup/new-database.js';
import {
  describeMismatches,
  RestoredUncounted,
  restoreArtifact,
  restoreInPlace,
  type InPlaceProgress,
  type RestoreResult,
} from '../operator/backup/restore.js';

/** How often progress is written to the Restore. */
const PROGRESS_EVERY_MS = 2000;

export function progressText(p: InPlaceProgress): string {
  const percent = p.totalBytes > 0 ? Math.floor((100 * p.bytes) / p.totalBytes) : 0;
  return `${percent}% ${p.tables}/${p.totalTables} tables`;
}

export async function run(args: string[]): Promise<number> {
  const log = createLogger('restore');
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, restore: { type: 'string' } } });
  const name = values.restore ?? process.env.HOLDFAST_RESTORE_NAME;
  if (!name) {
    log.error('restore not started: name the Restore with --restore NAME (or HOLDFAST_RESTORE_NAME)');
    return 1;
  }
  const opened = await openJob(values.config, 'restore', log);
  if (!opened) return 1;
  const { config, destinations } = opened;
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const rest = new Rest(kc);
  const path = objectPath('Restore', name, config.namespace);
  const record = (status: Partial<RestoreStatus>) =>
    rest.request('PATCH', `${path}/status`, { contentType: MERGE_PATCH, body: { status } });
  const restore = await rest.get<{ metadata: { uid: string }; spec: RestoreSpec; status?: RestoreStatus }>(path);
  const started = Date.parse(restore.status?.startedAt ?? '') || Date.now();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  const backupName = restore.status?.backup;
  try {
    if (restore.spec.workspace !== config.workspace || !backupName)
      throw new Error(`Restore ${name} is not one the operator began for workspace ${config.workspace}`);
    const backup = await rest.find<{ status?: BackupResourceStatus }>(
      objectPath('Backup', backupName, config.namespace),
    );
    if (!backup)
      throw new Error(
        `backup ${backupName} is gone (deleted since the Restore chose it): kubectl holdfast backups ${config.workspace} lists those left`,
      );
    const stored = new Set((backup.status?.copies ?? []).filter((c) => c.phase === 'Stored').map((c) => c.destination));
    const source = destinations.find((d) => stored.has(d.name));
    if (!backup.status?.artifact || !source)
      throw new Error(`backup ${backupName} has no stored copy at a destination of workspace ${config.workspace}`);
    const into = restore.spec.newDatabase;
    const current = config.database.database;
    await record({
      destination: source.name,
      message: `restoring backup ${backupName} from ${source.name}${into ? ` into the new database ${into}` : ''}`,
    });
    log.info({ backup: backupName, destination: source.name, database: into ?? current }, 'restore started');
    let last = 0;
    let writing: Promise<unknown> = Promise.resolve();
    const progress = (status: Partial<RestoreStatus>) => {
      if (Date.now() - last < PROGRESS_EVERY_MS) return;
      last = Date.now();
      writing = writing
        .then(() => record(status))
        .catch((err: unknown) => log.warn({ err }, 'could not record progress'));
    };
    const job = {
      workspace: config.workspace,
      artifact: backup.status.artifact,
      source,
      identities: await identitiesOf(config),
      log,
    };
    const target = await databaseTarget(config);
    let result: RestoreResult;
    if (into) {
      const superuser = process.env.HOLDFAST_SUPERUSER_PASSWORD_FILE;
      if (superuser) await createRestoreDatabase(target, into, superuser, { name, uid: restore.metadata.uid });
      const totalBytes = backup.status.size ?? 0;
      result = await restoreArtifact({
        ...job,
        target: { ...target, database: into },
        onBytes: (bytes) =>
          progress({
            progress: `${totalBytes > 0 ? Math.floor((100 * bytes) / totalBytes) : 0}%`,
            bytesRead: bytes,
            totalBytes,
          }),
      });
    } else {
      result = await restoreInPlace({
        ...job,
        target,
        onProgress: (p) =>
          progress({
            progress: progressText(p),
            bytesRead: p.bytes,
            totalBytes: p.totalBytes,
            tablesRestored: p.tables,
            totalTables: p.totalTables,
          }),
      });
    }
    await writing;
    const rows = Object.values(result.rowCounts).reduce((a, b) => a + b, 0);
    const tables = Object.keys(result.rowCounts).length;
    const totalTables = Object.keys(result.manifest.rowCounts).length;
    const done = {
      completedAt: new Date().toISOString(),
      durationSeconds: seconds(),
      progress: `100% ${tables}/${totalTables} tables`,
      bytesRead: result.bytes,
      totalBytes: result.manifest.size,
      tablesRestored: tables,
      totalTables,
      rows,
    };
    const before = into
      ? `database ${current} is as it was`
      : `the data before is in backup ${restore.status?.safetyBackup ?? '?'}`;
    if (result.mismatches.length > 0) {
      const message = `restored${into ? ` into ${into}` : ''}, but the rows differ from the manifest: ${describeMismatches(result.mismatches)}; ${before}`;
      await record({ phase: 'Failed', message, database: into ?? current, ...done });
      log.error(message);
      return 1;
    }
    const message = `restored backup ${backupName}${into ? ` into the new database ${into} (connect as db-app's user, with dbname=${into})` : ''}: ${tables} tables, ${rows} rows${result.contentChecked ? ' and their content' : ''}, as its manifest recorded; ${before}`;
    await record({ phase: 'Succeeded', message, database: into ?? current, ...done });
    log.info({ backup: backupName, tables, rows, durationSeconds: done.durationSeconds }, message);
    return 0;
  } catch (err) {
    const message =
      err instanceof RestoredUncounted
        ? err.message
        : restore.spec.newDatabase
          ? `${(err as Error).message}; nothing was restored into ${restore.spec.newDatabase}, and database ${config.database.database} is as it was`
          : `${(err as Error).message}; nothing was changed, the database is as it was`;
    log.error({ err }, `restore ${name} failed: ${message}`);
    await record({ phase: 'Failed', completedAt: new Date().toISOString(), durationSeconds: seconds(), message }).catch(
      (e: unknown) => log.error({ err: e }, 'could not record the failure on the Restore'),
    );
    return 1;
  }
}
