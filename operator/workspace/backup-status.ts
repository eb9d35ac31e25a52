// What the backup, drill and export jobs recorded, on the Workspace: the
// times kubectl get ws shows, the next run, the conditions that explain
// them, and the gauges alerts watch.
import type { KubeObject } from '../../kube/rest.js';
import type { Workspace, WorkspaceStatus } from '../api/workspace.js';
import { nextRun } from '../api/cron.js';
import { summarizeBackups } from '../backup/status.js';
import { summarizeExports } from '../export/status.js';
import type { Metrics } from '../runtime/metrics.js';
import type { ConditionInput } from './conditions.js';
import type { BackupObject } from './deps.js';
import { COMPONENT_LABEL } from './owner.js';

/** Writes the backup fields of `status` (removing those with nothing to say) and returns the conditions. */
export function recordBackupStatus(input: {
  ws: Workspace;
  status: WorkspaceStatus;
  /** The workspace's Backups. */
  backups: readonly BackupObject[];
  /** The Jobs in its namespace. */
  jobs: readonly KubeObject[];
  /** The backup CronJob exists: its next run is worth showing. */
  scheduled: boolean;
  /** When CloudNativePG's WAL archive last took a segment (spec.backup.pointInTime). */
  walArchivedAt?: string;
  now: Date;
  metrics: Metrics;
}): ConditionInput[] {
  const { ws, status, now, metrics } = input;
  const name = ws.metadata.name;
  const backups = summarizeBackups(
    input.backups.map((b) => ({ name: b.metadata.name, ...(b.status ? { status: b.status } : {}) })),
  );
  // With a WAL archive, the data is recoverable up to its last segment when that is newer.
  const archived = input.walArchivedAt;
  if (archived && (!backups.recoveryPoint || Date.parse(archived) > Date.parse(backups.recoveryPoint)))
    backups.recoveryPoint = archived;
  for (const key of ['lastBackupTime', 'recoveryPoint', 'lastVerifiedTime'] as const) {
    if (backups[key]) status[key] = backups[key];
    else delete status[key];
  }
  // What the export CronJob's runs did; the time stays once their Jobs are gone.
  const exports = summarizeExports(
    input.jobs.filter((j) => j.metadata.labels?.[COMPONENT_LABEL] === 'export'),
    ws.status?.lastExportTime,
    ws.spec.backup.export.retentionDays,
  );
  if (exports.lastExportTime) status.lastExportTime = exports.lastExportTime;
  else delete status.lastExportTime;
  const next = input.scheduled ? nextRun(ws.spec.backup.schedule, now) : undefined;
  const backup = {
    ...(backups.lastFailureTime ? { lastFailureTime: backups.lastFailureTime, lastFailure: backups.lastFailure } : {}),
    ...(next ? { nextScheduleTime: next.toISOString() } : {}),
  };
  if (Object.keys(backup).length > 0) status.backup = backup;
  else delete status.backup;
  const seconds = (t: string | undefined) => (t ? Date.parse(t) / 1000 : undefined);
  for (const [gauge, at] of [
    [metrics.lastBackup, seconds(backups.lastBackupTime)],
    [metrics.recoveryPoint, seconds(backups.recoveryPoint)],
    [metrics.lastDrill, seconds(backups.lastVerifiedTime)],
    [metrics.lastExport, seconds(exports.lastExportTime)],
  ] as const) {
    if (at === undefined) gauge.remove({ workspace: name });
    else gauge.set({ workspace: name }, at);
  }
  return [backups.condition, backups.drill, ...(exports.condition ? [exports.condition] : [])];
}
