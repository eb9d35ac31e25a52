// What Backups and Restores have in common: each is carried out by a Job
// whose pod writes the resource's status, and the operator only starts the
// Job, notices when it ended without a word, and reports the end once.
import { MERGE_PATCH, isConflict, objectPath, type KubeObject, type Rest } from '../../kube/rest.js';

export const REPORTED_ANNOTATION = 'holdfast.io/reported';
/** A Job gone from the cache this long after its resource started is gone for good. */
export const JOB_GONE_AFTER_MS = 10 * 60_000;
/** Ends older than this get no Event when first seen (an operator upgrade, a restart). */
export const REPORT_WITHIN_MS = 60 * 60_000;

type Kind = 'Backup' | 'Restore';
type JobCondition = { type: string; status: string; reason?: string; message?: string };

/** The Job's Complete or Failed condition, once it has ended. */
export function jobEnded(job: KubeObject | undefined): JobCondition | undefined {
  return (job?.status as { conditions?: JobCondition[] } | undefined)?.conditions?.find(
    (c) => (c.type === 'Failed' || c.type === 'Complete') && c.status === 'True',
  );
}

/** "failed (BackoffLimitExceeded: …)" */
export function failedText(c: JobCondition): string {
  return `failed (${c.reason ?? 'Failed'}${c.message ? `: ${c.message}` : ''})`;
}

/**
 * Patches the status on the version read: a pod's newer write wins (the
 * conflict is dropped), and its change brings the resource back here.
 */
export async function patchStatusAsRead(
  rest: Rest,
  kind: Kind,
  obj: KubeObject,
  status: Record<string, unknown>,
): Promise<void> {
  await rest
    .request('PATCH', `${objectPath(kind, obj.metadata.name, obj.metadata.namespace)}/status`, {
      body: { metadata: { resourceVersion: obj.metadata.resourceVersion }, status },
      contentType: MERGE_PATCH,
    })
    .catch((err: unknown) => {
      if (!isConflict(err)) throw err;
    });
}

/**
 * Marks the end as reported, on the version read: true for the one reconcile
 * that marked it (another that read the same version is refused), so the
 * Event and the counter happen once.
 */
export async function markReported(rest: Rest, kind: Kind, obj: KubeObject, phase: string): Promise<boolean> {
  return rest
    .request('PATCH', objectPath(kind, obj.metadata.name, obj.metadata.namespace), {
      body: {
        metadata: { resourceVersion: obj.metadata.resourceVersion, annotations: { [REPORTED_ANNOTATION]: phase } },
      },
      contentType: MERGE_PATCH,
    })
    .then(
      () => true,
      (err: unknown) => {
        if (isConflict(err)) return false;
        throw err;
      },
    );
}
