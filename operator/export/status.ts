// What the Workspace says of its daily exports, from the Jobs of its
// `export` CronJob: when the newest one was stored (status.lastExportTime,
// kept after the Job itself is gone) and whether the newest run succeeded
// (condition LastExportSucceeded, only once a run has ended).
import type { ConditionInput } from '../workspace/conditions.js';

export interface ExportJobLike {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  status?: {
    startTime?: string;
    completionTime?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  };
}

export interface ExportSummary {
  lastExportTime?: string;
  condition?: ConditionInput;
}

const ended = (j: ExportJobLike) => {
  const c = j.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  if (!c) return undefined;
  const at = c.type === 'Complete' ? (j.status?.completionTime ?? c.lastTransitionTime) : c.lastTransitionTime;
  return at ? { job: j, ok: c.type === 'Complete', at, why: c.message ?? c.reason ?? '' } : undefined;
};

export function summarizeExports(
  jobs: readonly ExportJobLike[],
  previous: string | undefined,
  retentionDays: number,
): ExportSummary {
  const runs = jobs
    .map(ended)
    .filter((r) => r !== undefined)
    .sort((a, b) => b.at.localeCompare(a.at));
  const newestGood = runs.find((r) => r.ok)?.at;
  const lastExportTime = [previous, newestGood]
    .filter((t) => t !== undefined)
    .sort()
    .at(-1);
  const newest = runs[0];
  if (!newest) return lastExportTime ? { lastExportTime } : {};
  const condition: ConditionInput = newest.ok
    ? {
        type: 'LastExportSucceeded',
        status: 'True',
        reason: 'Exported',
        message: `the export of ${newest.at.slice(0, 10)} is stored at every destination (<workspace>/exports/); exports are kept ${retentionDays} days`,
      }
    : {
        type: 'LastExportSucceeded',
        status: 'False',
        reason: 'ExportFailed',
        message:
          `export Job ${newest.job.metadata.name} failed at ${newest.at}${newest.why ? ` (${newest.why})` : ''}: ` +
          `see kubectl logs -n ${newest.job.metadata.namespace ?? '<namespace>'} job/${newest.job.metadata.name}` +
          (lastExportTime ? `; the last export stored is from ${lastExportTime}` : '; no export was stored yet'),
      };
  return { ...(lastExportTime ? { lastExportTime } : {}), condition };
}
