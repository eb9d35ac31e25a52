// `holdfast prune`: GFS retention over a workspace's Backup resources. What
// the planner does not keep is deleted at every destination (artifact, then
// manifest) and only then its Backup resource, so a failed delete is retried
// by the next run and never leaves a Backup pointing at nothing.
import type { Logger } from 'pino';
import { planRetention, type BackupRecord, type Retention } from '../api/retention.js';
import { manifestKey } from './artifact.js';
import type { Destination } from './destinations.js';

export interface PrunableBackup extends BackupRecord {
  /** The artifact's name at the destinations. */
  artifact?: string;
}

export interface PruneResult {
  kept: number;
  deleted: string[];
  failed: { backup: string; message: string }[];
}

export async function pruneBackups(opts: {
  backups: PrunableBackup[];
  retention: Retention;
  timeZone: string;
  destinations: Destination[];
  /** Deletes the Backup resource once its copies are gone. */
  forget: (name: string) => Promise<void>;
  log: Logger;
}): Promise<PruneResult> {
  const plan = planRetention(opts.backups, opts.retention, opts.timeZone);
  const byName = new Map(opts.backups.map((b) => [b.name, b]));
  const result: PruneResult = { kept: plan.keep.size, deleted: [], failed: [] };
  for (const name of plan.prune) {
    const backup = byName.get(name)!;
    try {
      if (backup.artifact) {
        for (const d of opts.destinations) {
          await d.delete(backup.artifact);
          await d.delete(manifestKey(backup.artifact));
        }
      }
      await opts.forget(name);
      result.deleted.push(name);
    } catch (err) {
      result.failed.push({ backup: name, message: (err as Error).message });
      opts.log.warn({ backup: name, err }, 'could not prune a backup; the next run tries again');
    }
  }
  return result;
}
