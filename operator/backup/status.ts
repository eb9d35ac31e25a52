// What a workspace's status says about its backups, from its Backup
// resources: the newest good backup (LAST BACKUP in `kubectl get ws`), the
// recovery point (the newest backup stored at every destination), the last
// restore drill, and whether the newest backup worked.
import type { BackupResourceStatus } from '../api/backup.js';
import type { ConditionInput } from '../workspace/conditions.js';

export interface BackupView {
  name: string;
  status?: BackupResourceStatus;
}

export interface BackupSummary {
  lastBackupTime?: string;
  recoveryPoint?: string;
  lastVerifiedTime?: string;
  lastFailureTime?: string;
  lastFailure?: string;
  condition: ConditionInput;
  /** RestoreTestPassed: what the newest restore drill found. */
  drill: ConditionInput;
}

const time = (b: BackupView) => Date.parse(b.status?.completedAt ?? '') || 0;

export function summarizeBackups(backups: readonly BackupView[]): BackupSummary {
  const done = backups.filter((b) => b.status?.completedAt).sort((a, b) => time(b) - time(a));
  const good = done.filter((b) => b.status!.phase === 'Succeeded');
  const everywhere = good.find((b) => {
    const copies = b.status!.copies ?? [];
    return copies.length > 0 && copies.every((c) => c.phase === 'Stored');
  });
  const verified = backups
    .map((b) => b.status?.verifiedAt)
    .filter((t): t is string => Boolean(t))
    .sort()
    .at(-1);
  const newest = done[0];
  const failed = done.find((b) => b.status!.phase === 'Failed');
  let condition: ConditionInput;
  if (!newest)
    condition = {
      type: 'LastBackupSucceeded',
      status: 'Unknown',
      reason: 'NoBackupYet',
      message: 'no backup has completed yet',
    };
  else if (newest.status!.phase === 'Failed')
    condition = {
      type: 'LastBackupSucceeded',
      status: 'False',
      reason: 'BackupFailed',
      message: `backup ${newest.name} failed: ${newest.status!.message ?? 'no reason given'}${
        good[0]
          ? `; the newest good backup is ${good[0].name} of ${good[0].status!.completedAt}`
          : '; there is no good backup'
      }`,
    };
  else if (newest !== everywhere)
    condition = {
      type: 'LastBackupSucceeded',
      status: 'False',
      reason: 'CopyFailed',
      message:
        `backup ${newest.name} was stored at ${newest.status!.copiesText ?? 'some'} destinations: ${newest.status!.message ?? ''}`.trim(),
    };
  else
    condition = {
      type: 'LastBackupSucceeded',
      status: 'True',
      reason: 'Succeeded',
      message: `backup ${newest.name}: ${newest.status!.sizeText ?? '?'}, ${newest.status!.rows ?? 0} rows, ${newest.status!.copiesText ?? ''} copies`,
    };
  const drilled = backups
    .filter((b) => b.status?.verification)
    .sort((a, b) => b.status!.verification!.at.localeCompare(a.status!.verification!.at))[0];
  const v = drilled?.status?.verification;
  const drill: ConditionInput = !v
    ? {
        type: 'RestoreTestPassed',
        status: 'Unknown',
        reason: 'NoDrillYet',
        message: 'no restore drill has run yet: the verify CronJob restores the newest backup on its schedule',
      }
    : v.passed
      ? {
          type: 'RestoreTestPassed',
          status: 'True',
          reason: 'Restored',
          message:
            `backup ${drilled.name} from ${v.destination ?? '?'} restored into a scratch database at ${v.at}: ${v.message ?? ''}`.trim(),
        }
      : {
          type: 'RestoreTestPassed',
          status: 'False',
          reason: 'RestoreTestFailed',
          message: `the restore drill of backup ${drilled.name} from ${v.destination ?? '?'} failed at ${v.at}: ${v.message ?? 'no reason given'}${
            v.job ? ` (kubectl logs job/${v.job} -c verify)` : ''
          }`,
        };
  return {
    drill,
    ...(good[0] ? { lastBackupTime: good[0].status!.completedAt! } : {}),
    ...(everywhere ? { recoveryPoint: everywhere.status!.completedAt! } : {}),
    ...(verified ? { lastVerifiedTime: verified } : {}),
    ...(failed
      ? {
          lastFailureTime: failed.status!.completedAt!,
          lastFailure: `${failed.name}: ${failed.status!.message ?? 'no reason given'}`,
        }
      : {}),
    condition,
  };
}
