// The Backups of a workspace that the operator acts on, besides the CronJob's:
//   - asked for: a Backup created by a person (no status yet), or the
//     annotation holdfast.io/backup-now on the Workspace, which becomes one.
//     Each gets a Job made from the CronJob's template, owned by the Backup.
//   - left behind: a Backup still Running or Pending whose Job has ended (its
//     pod killed, out of memory, past its deadline) is marked Failed, saying
//     which Job and where its log is.
//   - finished: each Succeeded or Failed Backup gets one Event on the
//     Workspace and is counted in holdfast_backups_total, once (the
//     annotation holdfast.io/reported remembers it across restarts).
import { createHash } from 'node:crypto';
import {
  ApiError,
  JSON_PATCH,
  MERGE_PATCH,
  collectionPath,
  isConflict,
  isNotFound,
  objectPath,
  type KubeObject,
  type Rest,
} from '../../kube/rest.js';
import type { EventRecorder } from '../../kube/events.js';
import { BACKUP_API, BACKUP_KIND, TAKEN_BY_ANNOTATION, type BackupReason } from '../api/backup.js';
import { API_VERSION, WORKSPACE_KIND, namespaceOf, type Workspace } from '../api/workspace.js';
import { requestJob } from '../backup/schedule.js';
import type { Metrics } from '../runtime/metrics.js';
import type { BackupObject } from './deps.js';
import {
  failedText,
  JOB_GONE_AFTER_MS,
  jobEnded,
  markReported,
  patchStatusAsRead,
  REPORT_WITHIN_MS,
  REPORTED_ANNOTATION,
} from './job-carried.js';
import { MANAGED_BY, WORKSPACE_LABEL } from './owner.js';

export const BACKUP_NOW_ANNOTATION = 'holdfast.io/backup-now';

export interface RequestDeps {
  rest: Rest;
  events: EventRecorder;
  metrics: Metrics;
  /** The workspace's Backups, from the cache. */
  backups: readonly BackupObject[];
  job: (name: string) => KubeObject | undefined;
  /** The CronJob as the operator wants it; undefined while backups cannot be scheduled. */
  cronJob: KubeObject | undefined;
  /** Why backups cannot run, when cronJob is undefined. */
  notScheduled: string;
  now: Date;
}

/**
 * The name a Backup asked for by annotation gets: one per setting of the
 * annotation (its value and the Workspace's resourceVersion when seen), so a
 * reconcile that runs again before the annotation is removed asks only once.
 */
export function requestedBackupName(workspace: string, value: string, resourceVersion: string): string {
  const hash = createHash('sha256').update(`${value}\n${resourceVersion}`).digest('hex').slice(0, 8);
  return `${workspace}-ondemand-${hash}`;
}

export async function handleBackupRequests(ws: Workspace, d: RequestDeps): Promise<void> {
  const name = ws.metadata.name;
  const ns = namespaceOf(name);
  const asked = ws.metadata.annotations?.[BACKUP_NOW_ANNOTATION];
  const backups = [...d.backups];
  if (asked !== undefined) {
    const backup = requestedBackupName(name, asked, ws.metadata.resourceVersion ?? '');
    if (!backups.some((b) => b.metadata.name === backup)) {
      const created = await askForBackup(d.rest, ws, backup, 'OnDemand');
      if (created) backups.push(created);
    }
    // Taken: the annotation can ask again. Removed only if it still holds the
    // value acted on: a new request set meanwhile stays, for the next reconcile.
    const path = `/metadata/annotations/${BACKUP_NOW_ANNOTATION.replace('~', '~0').replace('/', '~1')}`;
    await d.rest
      .request('PATCH', objectPath('Workspace', name), {
        body: [
          { op: 'test', path, value: asked },
          { op: 'remove', path },
        ],
        contentType: JSON_PATCH,
      })
      .catch((err: unknown) => {
        if (!(err instanceof ApiError && err.code === 422)) throw err;
      });
  }

  for (const b of backups) {
    const phase = b.status?.phase;
    if (b.spec?.workspace !== name) {
      if (!phase)
        await patchStatus(d.rest, b, {
          phase: 'Failed',
          completedAt: d.now.toISOString(),
          message: `spec.workspace must be "${name}", the workspace of namespace ${ns}: create the Backup in the namespace of the workspace to back up`,
        });
      continue;
    }
    // A Backup a job created for itself is taken already, even before its first status.
    const taken = b.metadata.annotations?.[TAKEN_BY_ANNOTATION] !== undefined;
    if (!taken && (!phase || (phase === 'Pending' && !b.status?.job))) await start(ws, b, d);
    else if (phase === 'Pending' || phase === 'Running') await failIfJobEnded(b, d);
    else if (b.metadata.annotations?.[REPORTED_ANNOTATION] !== phase) await report(ws, b, d);
  }
}

/** Creates a Backup for the operator to take; undefined when it exists already. */
export async function askForBackup(
  rest: Rest,
  ws: Workspace,
  backup: string,
  reason: BackupReason,
): Promise<BackupObject | undefined> {
  const ns = namespaceOf(ws.metadata.name);
  return rest
    .request<BackupObject>('POST', collectionPath('Backup', ns), {
      body: {
        apiVersion: BACKUP_API,
        kind: BACKUP_KIND,
        metadata: { name: backup, namespace: ns, labels: { ...MANAGED_BY, [WORKSPACE_LABEL]: ws.metadata.name } },
        spec: { workspace: ws.metadata.name, reason },
      },
    })
    .catch((err: unknown) => {
      if (!isConflict(err)) throw err;
      return undefined;
    });
}

/** Starts the Job of a Backup someone asked for, or says in its status why it waits. */
async function start(ws: Workspace, b: BackupObject, d: RequestDeps): Promise<void> {
  if (!d.cronJob) {
    if (b.status?.phase !== 'Pending' || b.status.message !== d.notScheduled)
      await patchStatus(d.rest, b, { phase: 'Pending', message: d.notScheduled });
    return;
  }
  const reason: BackupReason = b.spec?.reason ?? 'OnDemand';
  const job = requestJob(d.cronJob, {
    name: b.metadata.name,
    namespace: b.metadata.namespace!,
    uid: b.metadata.uid!,
    reason,
  });
  // The label that retention and the console find a workspace's Backups by.
  if (b.metadata.labels?.[WORKSPACE_LABEL] !== ws.metadata.name)
    await d.rest.request('PATCH', objectPath('Backup', b.metadata.name, b.metadata.namespace), {
      body: { metadata: { labels: { [WORKSPACE_LABEL]: ws.metadata.name } } },
      contentType: MERGE_PATCH,
    });
  const existing = d.job(job.metadata.name);
  if (!existing) {
    await d.rest.request('POST', collectionPath('Job', b.metadata.namespace), { body: job }).catch((err: unknown) => {
      // Not yet in the cache: the next reconcile sees whose it is.
      if (!isConflict(err)) throw err;
    });
    d.metrics.apiWrites.inc({ kind: 'Job', verb: 'create' });
  } else if (!existing.metadata.ownerReferences?.some((o) => o.uid === b.metadata.uid)) {
    const owner = existing.metadata.ownerReferences?.find((o) => o.kind === BACKUP_KIND);
    if (owner?.name === b.metadata.name) {
      // The Job of an earlier Backup of this name (deleted to take it again): it goes first.
      if (!existing.metadata.deletionTimestamp)
        await d.rest
          .request('DELETE', objectPath('Job', existing.metadata.name, b.metadata.namespace), {
            query: { propagationPolicy: 'Background' },
            body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: existing.metadata.uid } },
          })
          .catch((err: unknown) => {
            if (!isNotFound(err) && !isConflict(err)) throw err;
          });
      return;
    }
    await patchStatus(d.rest, b, {
      phase: 'Failed',
      completedAt: d.now.toISOString(),
      message: `a Job named ${job.metadata.name} exists and is not this Backup's: delete it or give the Backup another name`,
    });
    return;
  }
  await patchStatus(d.rest, b, {
    phase: 'Pending',
    job: job.metadata.name,
    message: `Job ${job.metadata.name} takes this backup`,
  });
}

/** A Backup whose Job ended without finishing it failed; the Job's pod log says why. */
async function failIfJobEnded(b: BackupObject, d: RequestDeps): Promise<void> {
  const jobName = b.status?.job;
  if (!jobName) return;
  const found = d.job(jobName);
  // The Job of an earlier Backup of the same name says nothing about this one.
  const job = found && ownsJob(b, found) ? found : undefined;
  const ended = jobEnded(job);
  const started = Date.parse(b.status?.startedAt ?? b.metadata.creationTimestamp ?? '') || d.now.getTime();
  let why: string;
  if (ended)
    why =
      ended.type === 'Failed'
        ? `its Job ${jobName} ${failedText(ended)}`
        : `its Job ${jobName} completed without finishing it (a retried pod took another backup)`;
  else if (!job && d.now.getTime() - started > JOB_GONE_AFTER_MS) why = `its Job ${jobName} is gone`;
  else return;
  // Read again: the pod's last write may not have reached the cache yet.
  const fresh = await d.rest.find<BackupObject>(objectPath('Backup', b.metadata.name, b.metadata.namespace));
  if (!fresh || (fresh.status?.phase !== 'Running' && fresh.status?.phase !== 'Pending')) return;
  await patchStatusAsRead(d.rest, 'Backup', fresh, {
    phase: 'Failed',
    completedAt: d.now.toISOString(),
    message: `${why} before the backup was stored; nothing of it was made final. See kubectl logs -n ${b.metadata.namespace} job/${jobName}`,
  });
}

async function report(ws: Workspace, b: BackupObject, d: RequestDeps): Promise<void> {
  const s = b.status!;
  const completed = Date.parse(s.completedAt ?? '') || 0;
  const copies = s.copies ?? [];
  const result = s.phase === 'Failed' ? 'failed' : copies.some((c) => c.phase !== 'Stored') ? 'partial' : 'succeeded';
  // Marked first: reported once.
  const marked = await markReported(d.rest, 'Backup', b, s.phase!);
  if (marked && d.now.getTime() - completed <= REPORT_WITHIN_MS) {
    d.metrics.backups.inc({ workspace: ws.metadata.name, result });
    const related = { apiVersion: BACKUP_API, kind: BACKUP_KIND, metadata: b.metadata };
    const regarding = { apiVersion: API_VERSION, kind: WORKSPACE_KIND, metadata: ws.metadata };
    if (result === 'succeeded')
      await d.events.record(
        regarding,
        'Normal',
        'BackupSucceeded',
        'Backup',
        `backup ${b.metadata.name} (${b.spec?.reason ?? 'OnDemand'}): ${s.sizeText ?? '?'}, ${s.rows ?? 0} rows, ${s.copiesText ?? ''} copies`,
        related,
      );
    else
      await d.events.record(
        regarding,
        'Warning',
        result === 'failed' ? 'BackupFailed' : 'BackupCopyFailed',
        'Backup',
        `backup ${b.metadata.name}${result === 'partial' ? ` stored ${s.copiesText ?? ''} copies` : ' failed'}: ${s.message ?? 'no reason given'}`,
        related,
      );
  }
}

/** A Job this Backup asked for (owned by it), or a CronJob's run (owned by the CronJob). */
function ownsJob(b: BackupObject, job: KubeObject): boolean {
  const owner = job.metadata.ownerReferences?.find((o) => o.controller);
  return owner?.kind === BACKUP_KIND ? owner.uid === b.metadata.uid : true;
}

const patchStatus = (rest: Rest, b: BackupObject, status: Record<string, unknown>) =>
  patchStatusAsRead(rest, 'Backup', b, status);
